"""Azure rules: one secure and one insecure program; every rule passes on the first and fails on the second."""

from __future__ import annotations

import pulumi
import pulumi_azure_native as az
import pytest
from conftest import failing_names, run_policy
from mockplan import plan

from policies.rules import azure as rules

RG = "rg"
BLOB_READER = "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"
PROTECT = pulumi.ResourceOptions(protect=True)


def _secure() -> None:
    vnet = az.network.VirtualNetwork("vnet", resource_group_name=RG, address_space={"address_prefixes": ["10.0.0.0/16"]})
    az.network.FlowLog("vnet-flow", resource_group_name="NetworkWatcherRG", network_watcher_name="NetworkWatcher_westeurope",
                       target_resource_id=vnet.id, storage_id="/subscriptions/s/resourceGroups/rg/providers/"
                       "Microsoft.Storage/storageAccounts/logs", enabled=True)
    vault = az.keyvault.Vault("vault", resource_group_name=RG, properties={
        "tenant_id": "t", "sku": {"family": "A", "name": "standard"}, "enable_purge_protection": True,
        "enable_soft_delete": True, "public_network_access": "Disabled"}, opts=PROTECT)
    key = az.keyvault.Key("key", resource_group_name=RG, vault_name=vault.name, properties={
        "kty": "RSA", "attributes": {"expires": 1900000000}}, opts=PROTECT)
    storage = az.storage.StorageAccount("data", resource_group_name=RG, kind="StorageV2", sku={"name": "Standard_LRS"},
                                        allow_blob_public_access=False, enable_https_traffic_only=True,
                                        minimum_tls_version="TLS1_2",
                                        encryption={"key_source": "Microsoft.Keyvault",
                                                    "key_vault_properties": {"key_name": "key",
                                                                             "key_vault_uri": "https://vault.vault.azure.net"}},
                                        opts=PROTECT)
    acr = az.containerregistry.Registry("acr", resource_group_name=RG, sku={"name": "Premium"}, admin_user_enabled=False,
                                        anonymous_pull_enabled=False, public_network_access="Disabled", opts=PROTECT)
    aks = az.containerservice.ManagedCluster(
        "aks", resource_group_name=RG, dns_prefix="aks", enable_rbac=True, disable_local_accounts=True,
        aad_profile={"managed": True}, disk_encryption_set_id="/subscriptions/0/des",
        api_server_access_profile={"enable_private_cluster": True}, network_profile={"network_policy": "cilium"},
        agent_pool_profiles=[{"name": "system", "vm_size": "Standard_D4s_v5", "count": 2, "mode": "System",
                              "enable_encryption_at_host": True}])
    az.containerservice.AgentPool("gpu", resource_group_name=RG, resource_name_=aks.name, vm_size="Standard_NC24ads_A100_v4",
                                  enable_encryption_at_host=True, count=0)
    ws = az.machinelearningservices.Workspace("ml", resource_group_name=RG, public_network_access="Disabled",
                                              encryption={"status": "Enabled", "key_vault_properties": {
                                                  "key_identifier": "https://vault.vault.azure.net/keys/key/v1", "key_vault_arm_id": vault.id}},
                                              opts=PROTECT)
    az.machinelearningservices.Compute("train", resource_group_name=RG, workspace_name=ws.name, properties={
        "compute_type": "AmlCompute", "disable_local_auth": True,
        "properties": {"scale_settings": {"min_node_count": 0, "max_node_count": 4}}})
    az.redis.Redis("cache", resource_group_name=RG, sku={"name": "Premium", "family": "P", "capacity": 1},
                   enable_non_ssl_port=False, minimum_tls_version="1.2", public_network_access="Disabled",
                   disable_access_key_authentication=True, opts=PROTECT)
    amr_id = az.managedidentity.UserAssignedIdentity("amr-cmk-id", resource_group_name=RG)
    amr = az.redisenterprise.RedisEnterprise(
        "amr", resource_group_name=RG, sku={"name": "Balanced_B5"}, minimum_tls_version="1.2",
        public_network_access="Disabled", identity={"type": "UserAssigned", "user_assigned_identities": [amr_id.id]},
        encryption={"customer_managed_key_encryption": {
            "key_encryption_key_url": key.key_uri_with_version,
            "key_encryption_key_identity": {"identity_type": "userAssignedIdentity",
                                            "user_assigned_identity_resource_id": amr_id.id}}}, opts=PROTECT)
    az.redisenterprise.Database("amr-db", resource_group_name=RG, cluster_name=amr.name, client_protocol="Encrypted",
                                access_keys_authentication="Disabled", opts=PROTECT)
    for name, target in (("vault", vault), ("data", storage), ("acr", acr), ("aks", aks), ("ml", ws)):
        az.monitor.DiagnosticSetting(f"{name}-diag", resource_uri=target.id, workspace_id="/subscriptions/0/law",
                                     logs=[{"category_group": "audit", "enabled": True}])
    az.authorization.RoleAssignment("reader", principal_id="p", principal_type="ServicePrincipal",
                                    role_definition_id=f"/subscriptions/0/providers/Microsoft.Authorization/"
                                                       f"roleDefinitions/{BLOB_READER}",
                                    scope=storage.id.apply(lambda i: f"{i}/blobServices/default/containers/models"))


def _insecure() -> None:
    az.network.VirtualNetwork("bad-vnet", resource_group_name=RG, address_space={"address_prefixes": ["10.1.0.0/16"]})
    az.keyvault.Vault("bad-vault", resource_group_name=RG, properties={
        "tenant_id": "t", "sku": {"family": "A", "name": "standard"}, "enable_soft_delete": False})
    az.keyvault.Key("bad-key", resource_group_name=RG, vault_name="bad-vault", properties={"kty": "RSA"})
    az.storage.StorageAccount("bad-storage", resource_group_name=RG, kind="StorageV2", sku={"name": "Standard_LRS"},
                              allow_blob_public_access=True, minimum_tls_version="TLS1_0")
    az.containerregistry.Registry("bad-acr", resource_group_name=RG, sku={"name": "Basic"}, admin_user_enabled=True,
                                  anonymous_pull_enabled=True)
    az.containerservice.ManagedCluster(
        "bad-aks", resource_group_name=RG, dns_prefix="aks", enable_rbac=False,
        api_server_access_profile={"authorized_ip_ranges": ["0.0.0.0/0"]},
        agent_pool_profiles=[{"name": "system", "vm_size": "Standard_D4s_v5", "count": 2, "mode": "System"}])
    az.containerservice.AgentPool("bad-pool", resource_group_name=RG, resource_name_="bad-aks", vm_size="Standard_D4s_v5")
    az.machinelearningservices.Workspace("bad-ml", resource_group_name=RG)
    az.machinelearningservices.Compute("bad-compute", resource_group_name=RG, workspace_name="bad-ml", properties={
        "compute_type": "AmlCompute", "properties": {"scale_settings": {"min_node_count": 2, "max_node_count": 4}}})
    az.redis.Redis("bad-redis", resource_group_name=RG, sku={"name": "Basic", "family": "C", "capacity": 0},
                   enable_non_ssl_port=True)
    az.redisenterprise.RedisEnterprise("bad-amr", resource_group_name=RG, sku={"name": "Balanced_B0"},
                                       minimum_tls_version="1.0", public_network_access="Enabled")
    az.redisenterprise.Database("bad-amr-db", resource_group_name=RG, cluster_name="bad-amr",
                                client_protocol="Plaintext", access_keys_authentication="Enabled")
    az.authorization.RoleAssignment("bad-rg-reader", principal_id="p", principal_type="ServicePrincipal",
                                    role_definition_id=f"/subscriptions/0/providers/Microsoft.Authorization/"
                                                       f"roleDefinitions/{BLOB_READER}",
                                    scope="/subscriptions/0/resourceGroups/rg")
    az.monitor.DiagnosticSetting("bad-diag", resource_uri="/subscriptions/0/x", logs=[{"category": "Metrics", "enabled": True}])


@pytest.fixture(scope="module")
def secure() -> dict:
    return plan(_secure)


@pytest.fixture(scope="module")
def insecure() -> dict:
    return plan(_insecure)


NAMES = [r.meta.name for r in rules.RULES]
FAILING = {
    "azure-vnet-flow-logs": {"bad-vnet"},
    "azure-ml-workspace-private": {"bad-ml"},
    "azure-ml-workspace-cmk": {"bad-ml"},
    "azure-ml-compute-no-local-auth": {"bad-compute"},
    "azure-ml-compute-scale-down": {"bad-compute"},
    "azure-aks-api-restricted": {"bad-aks"},
    "azure-aks-rbac": {"bad-aks"},
    "azure-aks-network-policy": {"bad-aks"},
    "azure-aks-disk-encryption": {"bad-aks", "bad-pool"},
    "azure-acr-locked-down": {"bad-acr"},
    "azure-keyvault-recoverable": {"bad-vault"},
    "azure-keyvault-private": {"bad-vault"},
    "azure-keyvault-key-expiry": {"bad-key"},
    "azure-storage-secure": {"bad-storage"},
    "azure-storage-cmk": {"bad-storage"},
    "azure-redis-secure": {"bad-redis", "bad-amr", "bad-amr-db"},
    "azure-redis-cmk": {"bad-amr"},
    "azure-redis-entra-only": {"bad-redis", "bad-amr-db"},
    "azure-data-roles-resource-scoped": {"bad-rg-reader"},
    "azure-diagnostics-to-log-analytics": {"bad-diag"},
    "azure-audited-resources-have-diagnostics": {"bad-vault", "bad-storage", "bad-acr", "bad-aks", "bad-ml"},
}


@pytest.mark.parametrize("name", NAMES)
def test_passes_on_secure_program(secure: dict, name: str) -> None:
    assert run_policy(secure, name) == []


@pytest.mark.parametrize("name", NAMES)
def test_fails_on_insecure_program(insecure: dict, name: str) -> None:
    assert FAILING[name] <= failing_names(insecure, name)
