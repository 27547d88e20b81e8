"""Container registry (ACR Premium), the Azure ML model registry and the Azure ML workspace."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import pulumi
from pulumi_azure_native import containerregistry
from pulumi_azure_native import machinelearningservices as ml

from aienv.naming import azure_container_registry, azure_ml_registry, azure_ml_workspace
from aienv.spec.model import BucketPurpose, StackSpec
from components.azure._shared import (
    ROLE_KV_CRYPTO_SERVICE_ENCRYPTION_USER,
    assign_role,
    principal_of,
    private_endpoint,
    stateful,
    tags,
)
from components.azure.keys import Keys
from components.azure.logs import LogWorkspace
from components.azure.network import Network
from components.azure.storage import Storage

_UNTAGGED_RETENTION_DAYS = 7


def ml_encryption(keys: Keys) -> ml.EncryptionPropertyArgs | None:
    """Azure ML customer-managed key settings, or None for Microsoft-managed keys."""
    if not keys.customer_managed:
        return None
    return ml.EncryptionPropertyArgs(
        status=ml.EncryptionStatus.ENABLED,
        key_vault_properties=ml.KeyVaultPropertiesArgs(key_identifier=keys.keys["ml"].key_uri_with_version,
                                                       key_vault_arm_id=keys.vault.id),
        identity=ml.IdentityForCmkArgs(user_assigned_identity=keys.identities["ml"].id),
    )


def ml_private_endpoint(name: str, *, parent: pulumi.Resource, spec: StackSpec,
                        resource_group_name: pulumi.Input[str], network: Network,
                        workspace_id: pulumi.Input[str]) -> None:
    """An Azure ML workspace's private endpoint, resolvable through the workspace API and notebook zones."""
    private_endpoint(name, parent=parent, spec=spec, resource_group_name=resource_group_name,
                     subnet_id=network.subnets["endpoints"].id, target_id=workspace_id, group_id="amlworkspace",
                     zone_ids=[network.dns_zones["aml_api"].id, network.dns_zones["aml_notebooks"].id])


def ml_identity(keys: Keys, *extra: pulumi.Input[str]) -> ml.ManagedServiceIdentityArgs:
    """The workspace's own identity, plus the CMK identity (and any `extra`) as user-assigned."""
    assigned = ([keys.identities["ml"].id] if keys.customer_managed else []) + list(extra)
    if not assigned:
        return ml.ManagedServiceIdentityArgs(type=ml.ManagedServiceIdentityType.SYSTEM_ASSIGNED)
    return ml.ManagedServiceIdentityArgs(type=ml.ManagedServiceIdentityType.SYSTEM_ASSIGNED_USER_ASSIGNED,
                                         user_assigned_identities=assigned)


def _field(value: object, key: str, attr: str) -> object:
    """`value[key]` of a plain dict or `value.attr` of a typed result (None when absent)."""
    if value is None:
        return None
    # The SDK's typed results subclass dict but warn on key access: read them through their attributes.
    return value.get(key) if type(value) is dict else getattr(value, attr, None)


def _system_created_id(regions: object, details: tuple[str, str], account: tuple[str, str]) -> str | None:
    """The ARM id of the ML registry's system-created storage account or ACR in its first region."""
    first = regions[0] if regions else None  # type: ignore[index]
    listed = _field(first, *details)
    item = listed[0] if listed else None  # type: ignore[index]
    arm = _field(_field(item, *account), "armResourceId", "arm_resource_id")
    found = _field(arm, "resourceId", "resource_id")
    return found if isinstance(found, str) else None


def _registry_storage_id(regions: object) -> str | None:
    return _system_created_id(regions, ("storageAccountDetails", "storage_account_details"),
                              ("systemCreatedStorageAccount", "system_created_storage_account"))


def _registry_acr_id(regions: object) -> str | None:
    return _system_created_id(regions, ("acrDetails", "acr_details"),
                              ("systemCreatedAcrAccount", "system_created_acr_account"))


@dataclass(frozen=True)
class RegistriesArgs:
    spec: StackSpec
    network: Network
    keys: Keys
    storage: Storage
    logs: LogWorkspace


class Registries(pulumi.ComponentResource):
    """`aienv:azure:Registries`: ACR for serving images, Azure ML registry for models, the ML workspace."""

    acr: containerregistry.Registry
    model_registry: ml.Registry | None
    workspace: ml.Workspace
    login_server: pulumi.Output[str]

    def __init__(self, name: str, args: RegistriesArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aienv:azure:Registries", name, None, opts)
        spec, net, keys = args.spec, args.network, args.keys
        rg = net.resource_group_name
        private = spec.network.private_endpoints
        dev = spec.environment.value == "dev"

        encryption = None
        identity = containerregistry.IdentityPropertiesArgs(type=containerregistry.ResourceIdentityType.SYSTEM_ASSIGNED)
        if keys.customer_managed:
            cmk_identity = keys.identities["registry"]
            identity = containerregistry.IdentityPropertiesArgs(
                type=containerregistry.ResourceIdentityType.SYSTEM_ASSIGNED_USER_ASSIGNED,
                user_assigned_identities=cmk_identity.id.apply(
                    lambda i: {i: containerregistry.UserIdentityPropertiesArgs()}),
            )
            # Created with the key in the registry's own vault through the user-assigned identity (the only way a
            # registry gets a customer-managed key, keys.py `_registry_key_vault`); versionless, so ACR "regularly
            # checks the key vault for a new key version and updates the customer-managed key within 1 hour".
            encryption = containerregistry.EncryptionPropertyArgs(
                status=containerregistry.EncryptionStatus.ENABLED,
                key_vault_properties=containerregistry.KeyVaultPropertiesArgs(
                    identity=cmk_identity.client_id, key_identifier=keys.registry_key_url()),
            )
        self.acr = containerregistry.Registry(
            f"{name}-acr",
            containerregistry.RegistryArgs(
                resource_group_name=rg, location=spec.region,
                registry_name=azure_container_registry(spec.name, spec.cloud.subscription_id or ""),
                sku=containerregistry.SkuArgs(name=containerregistry.SkuName.PREMIUM),
                admin_user_enabled=False,
                anonymous_pull_enabled=False,
                data_endpoint_enabled=private,
                public_network_access=containerregistry.PublicNetworkAccess.DISABLED if private
                else containerregistry.PublicNetworkAccess.ENABLED,
                network_rule_set=containerregistry.NetworkRuleSetArgs(
                    default_action=containerregistry.DefaultAction.DENY,
                    # Without private endpoints the nodes pull over the NAT gateway's addresses only.
                    ip_rules=None if private else [
                        containerregistry.IPRuleArgs(i_p_address_or_range=cast(pulumi.Output[str], ip.ip_address))
                        for ip in net.egress_ips],
                ),
                network_rule_bypass_options=containerregistry.NetworkRuleBypassOptions.AZURE_SERVICES,
                zone_redundancy=containerregistry.ZoneRedundancy.DISABLED if dev
                else containerregistry.ZoneRedundancy.ENABLED,
                policies=containerregistry.PoliciesArgs(
                    retention_policy=containerregistry.RetentionPolicyArgs(
                        days=_UNTAGGED_RETENTION_DAYS, status=containerregistry.PolicyStatus.ENABLED),
                    # No `az acr import/export` of images to outside the private network.
                    export_policy=containerregistry.ExportPolicyArgs(
                        status=containerregistry.ExportPolicyStatus.DISABLED if private
                        else containerregistry.ExportPolicyStatus.ENABLED),
                ),
                identity=identity,
                encryption=encryption,
                tags=tags(spec),
            ),
            # The key is set at creation; `az acr encryption rotate-key --identity [system]` (docs/azure.md) moves
            # it to the main vault afterwards, and a refreshed `pulumi up` must not move it back.
            stateful(spec, self, depends_on=keys.ready, ignore_changes=["encryption"] if keys.customer_managed
                     else None),
        )
        self.login_server = self.acr.login_server
        if keys.customer_managed:
            # The rotation target: "Grant the system-assigned identity permissions to access keys in the key vault
            # that's restricted with the Key Vault firewall" (Microsoft, *Encrypt registry using a customer-managed
            # key*, "Advanced scenario: Key Vault firewall") - the main vault's `registry-cmk` only.
            assign_role(f"{name}-acr-system-cmk-grant", parent=self, subscription_id=spec.cloud.subscription_id or "",
                        role_id=ROLE_KV_CRYPTO_SERVICE_ENCRYPTION_USER, principal_id=principal_of(self.acr.identity),
                        scope=keys.keys["registry"].id, depends_on=[self.acr])
        if private:
            private_endpoint(f"{name}-acr-pe", parent=self, spec=spec, resource_group_name=rg,
                             subnet_id=net.subnets["endpoints"].id, target_id=self.acr.id, group_id="registry",
                             zone_ids=[net.dns_zones["registry"].id])

        network_access = ml.PublicNetworkAccessType.DISABLED if private else ml.PublicNetworkAccessType.ENABLED
        self.workspace = ml.Workspace(
            f"{name}-mlw",
            ml.WorkspaceArgs(
                resource_group_name=rg, location=spec.region, kind="Default",
                workspace_name=azure_ml_workspace(spec.name),
                friendly_name=f"{spec.name} ML workspace",
                sku=ml.SkuArgs(name="Basic", tier=ml.SkuTier.BASIC),
                identity=ml_identity(keys),
                encryption=ml_encryption(keys),
                hbi_workspace=spec.is_prod,
                public_network_access=network_access,
                managed_network=ml.ManagedNetworkSettingsArgs(
                    isolation_mode=ml.IsolationMode.ALLOW_ONLY_APPROVED_OUTBOUND),
                key_vault=keys.vault.id,
                storage_account=args.storage.accounts["data"].id,
                container_registry=self.acr.id,
                application_insights=args.logs.app_insights.id,
                # Storage accounts refuse shared keys, so the workspace reaches them as itself.
                system_datastores_auth_mode=ml.SystemDatastoresAuthMode.IDENTITY,
                tags=tags(spec),
            ),
            stateful(spec, self, depends_on=keys.ready),
        )
        if private:
            ml_private_endpoint(f"{name}-mlw-pe", parent=self, spec=spec, resource_group_name=rg, network=net,
                                workspace_id=self.workspace.id)

        self.model_registry = None
        if spec.registries.model_registry:
            self.model_registry = ml.Registry(
                f"{name}-models",
                ml.RegistryArgs(
                    resource_group_name=rg, location=spec.region,
                    registry_name=azure_ml_registry(spec.name, spec.cloud.subscription_id or ""),
                    sku=ml.SkuArgs(name="P3", tier=ml.SkuTier.STANDARD),
                    identity=ml.ManagedServiceIdentityArgs(type=ml.ManagedServiceIdentityType.SYSTEM_ASSIGNED),
                    public_network_access="Disabled" if private else "Enabled",
                    region_details=[ml.RegistryRegionArmDetailsArgs(
                        location=spec.region,
                        acr_details=[ml.AcrDetailsArgs(system_created_acr_account=ml.SystemCreatedAcrAccountArgs(
                            acr_account_sku="Premium"))],
                        storage_account_details=[ml.StorageAccountDetailsArgs(
                            system_created_storage_account=ml.SystemCreatedStorageAccountArgs(
                                allow_blob_public_access=False, storage_account_hns_enabled=False,
                                storage_account_type="Standard_LRS" if dev else "Standard_ZRS"))],
                    )],
                    tags=tags(spec),
                ),
                stateful(spec, self),
            )
            if private:
                private_endpoint(f"{name}-models-pe", parent=self, spec=spec, resource_group_name=rg,
                                 subnet_id=net.subnets["endpoints"].id, target_id=self.model_registry.id,
                                 group_id="amlregistry", zone_ids=[net.dns_zones["aml_api"].id])
                # "For a user created Azure Machine Learning registry, we recommend using a private endpoint for
                # the registry, managed storage account, and managed ACR" (Microsoft, *Network isolation with
                # Azure Machine Learning registries*): the registry's system-created storage and ACR get theirs.
                regions = self.model_registry.region_details
                private_endpoint(f"{name}-models-storage-pe", parent=self, spec=spec, resource_group_name=rg,
                                 subnet_id=net.subnets["endpoints"].id, target_id=regions.apply(_registry_storage_id),  # type: ignore[arg-type]
                                 group_id="blob", zone_ids=[net.dns_zones["blob"].id])
                private_endpoint(f"{name}-models-acr-pe", parent=self, spec=spec, resource_group_name=rg,
                                 subnet_id=net.subnets["endpoints"].id, target_id=regions.apply(_registry_acr_id),  # type: ignore[arg-type]
                                 group_id="registry", zone_ids=[net.dns_zones["registry"].id])

        self.model_artifacts_url = args.storage.blob_url(BucketPurpose.model_artifacts)
        self.register_outputs({
            "acrId": self.acr.id,
            "loginServer": self.login_server,
            "workspaceId": self.workspace.id,
            "modelRegistryId": self.model_registry.id if self.model_registry else None,
        })
