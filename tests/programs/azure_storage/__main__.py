"""A storage account that allows public blob access and plain HTTP."""

import pulumi
import pulumi_azure_native as azure_native

group = azure_native.resources.ResourceGroup("rg")

account = azure_native.storage.StorageAccount(
    "data",
    resource_group_name=group.name,
    kind=azure_native.storage.Kind.STORAGE_V2,
    sku=azure_native.storage.SkuArgs(name=azure_native.storage.SkuName.STANDARD_LRS),
    allow_blob_public_access=True,
    enable_https_traffic_only=False,
    minimum_tls_version=azure_native.storage.MinimumTlsVersion.TLS1_0,
)

pulumi.export("account_name", account.name)
