"""Blob storage by purpose: private, Entra-only, customer-key encrypted StorageV2 accounts with lifecycle rules."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_azure_native import storage

from aienv.conventions import capture_prefix
from aienv.naming import azure_storage_account
from aienv.spec.model import BucketPurpose, StackSpec
from components.azure._shared import private_endpoint, stateful, tags
from components.azure.keys import Keys
from components.azure.network import Network

_NONCURRENT_VERSION_DAYS = 30
_SOFT_DELETE_DAYS = 30


def container_name(purpose: BucketPurpose) -> str:
    return purpose.value.replace("_", "-")


def purposes(spec: StackSpec) -> list[BucketPurpose]:
    """The containers this spec needs: the offline feature store only when it is on."""
    wanted = [BucketPurpose.training_data, BucketPurpose.model_artifacts, BucketPurpose.logs, BucketPurpose.access_logs]
    if spec.feature_store.enabled and spec.feature_store.offline_store:
        wanted.append(BucketPurpose.feature_offline)
    return wanted


def account_of(spec: StackSpec, purpose: BucketPurpose) -> str:
    """`public` for anonymous-read purposes, `lake` (ADLS Gen2) for the offline store, else `data`."""
    if purpose in spec.storage.public_read:
        return "public"
    if purpose is BucketPurpose.feature_offline:
        return "lake"
    return "data"


@dataclass(frozen=True)
class StorageArgs:
    spec: StackSpec
    network: Network
    keys: Keys


class Storage(pulumi.ComponentResource):
    """`aienv:azure:Storage`: `data` (versioned blobs), `lake` (hierarchical namespace for the offline feature
    store) and, only when `storage.public_read` lists purposes, a separate `public` account for them."""

    accounts: dict[str, storage.StorageAccount]
    containers: dict[BucketPurpose, storage.BlobContainer]
    roles: dict[BucketPurpose, str]  # purpose -> account role

    def __init__(self, name: str, args: StorageArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aienv:azure:Storage", name, None, opts)
        spec, net, keys = args.spec, args.network, args.keys
        rg = net.resource_group_name
        subscription = spec.cloud.subscription_id or ""
        by_account: dict[str, list[BucketPurpose]] = {}
        for purpose in purposes(spec):
            by_account.setdefault(account_of(spec, purpose), []).append(purpose)

        self.accounts = {}
        self.account_names: dict[str, str] = {}  # physical name -> role
        self.containers = {}
        self.roles = {p: role for role, members in by_account.items() for p in members}
        for role, members in by_account.items():
            public = role == "public"
            lake = role == "lake"
            private = spec.network.private_endpoints and not public
            scope = subscription if role == "data" else f"{subscription}/{role}"
            encryption = storage.EncryptionArgs(
                key_source=storage.KeySource.MICROSOFT_STORAGE,
                require_infrastructure_encryption=True,
                services=storage.EncryptionServicesArgs(
                    blob=storage.EncryptionServiceArgs(enabled=True, key_type=storage.KeyType.ACCOUNT),
                    file=storage.EncryptionServiceArgs(enabled=True, key_type=storage.KeyType.ACCOUNT)),
            )
            identity = None
            if keys.customer_managed:
                cmk_identity = keys.identities["storage"]
                identity = storage.IdentityArgs(type=storage.IdentityType.USER_ASSIGNED,
                                                user_assigned_identities=[cmk_identity.id])
                encryption = storage.EncryptionArgs(
                    key_source=storage.KeySource.MICROSOFT_KEYVAULT,
                    require_infrastructure_encryption=True,
                    # No key version: the account follows the key's automatic rotation.
                    key_vault_properties=storage.KeyVaultPropertiesArgs(
                        key_name=keys.keys["storage"].name, key_vault_uri=keys.vault_uri),
                    encryption_identity=storage.EncryptionIdentityArgs(
                        encryption_user_assigned_identity=cmk_identity.id),
                    services=encryption.services,
                )
            self.account_names[azure_storage_account(spec.name, scope)] = role
            account = storage.StorageAccount(
                f"{name}-{role}",
                storage.StorageAccountArgs(
                    resource_group_name=rg, location=spec.region,
                    account_name=azure_storage_account(spec.name, scope),
                    kind=storage.Kind.STORAGE_V2,
                    sku=storage.SkuArgs(name=storage.SkuName.STANDARD_LRS if spec.environment.value == "dev"
                                        else storage.SkuName.STANDARD_ZRS),
                    access_tier=storage.AccessTier.HOT,
                    is_hns_enabled=lake,
                    allow_blob_public_access=public,
                    allow_shared_key_access=False,
                    default_to_o_auth_authentication=True,
                    enable_https_traffic_only=True,
                    minimum_tls_version=storage.MinimumTlsVersion.TLS1_2,
                    allow_cross_tenant_replication=False,
                    allowed_copy_scope=storage.AllowedCopyScope.AAD,
                    public_network_access=storage.PublicNetworkAccess.DISABLED if private
                    else storage.PublicNetworkAccess.ENABLED,
                    network_rule_set=storage.NetworkRuleSetArgs(
                        default_action=storage.DefaultAction.ALLOW if public else storage.DefaultAction.DENY,
                        bypass=storage.Bypass.AZURE_SERVICES,
                        virtual_network_rules=None if private or public else [
                            storage.VirtualNetworkRuleArgs(virtual_network_resource_id=net.subnets["nodes"].id)],
                    ),
                    identity=identity,
                    encryption=encryption,
                    tags=tags(spec),
                ),
                stateful(spec, self, depends_on=keys.ready),
            )
            self.accounts[role] = account
            # Blob versioning is not available with a hierarchical namespace; soft delete is.
            storage.BlobServiceProperties(
                f"{name}-{role}-blob",
                storage.BlobServicePropertiesArgs(
                    resource_group_name=rg, account_name=account.name, blob_services_name="default",
                    is_versioning_enabled=spec.storage.versioning and not lake,
                    delete_retention_policy=storage.DeleteRetentionPolicyArgs(enabled=True, days=_SOFT_DELETE_DAYS),
                    container_delete_retention_policy=storage.DeleteRetentionPolicyArgs(
                        enabled=True, days=_SOFT_DELETE_DAYS),
                ),
                pulumi.ResourceOptions(parent=self),
            )
            for purpose in members:
                self.containers[purpose] = storage.BlobContainer(
                    f"{name}-{container_name(purpose)}",
                    storage.BlobContainerArgs(
                        resource_group_name=rg, account_name=account.name, container_name=container_name(purpose),
                        public_access=storage.PublicAccess.BLOB if public else storage.PublicAccess.NONE,
                        metadata={"purpose": purpose.value},
                    ),
                    stateful(spec, self),
                )
            self._lifecycle(name, role, account, members, spec, rg, versioned=spec.storage.versioning and not lake)
            if private:
                groups = ["blob", "dfs"] if lake else ["blob"]
                for group in groups:
                    private_endpoint(f"{name}-{role}-{group}-pe", parent=self, spec=spec, resource_group_name=rg,
                                     subnet_id=net.subnets["endpoints"].id, target_id=account.id, group_id=group,
                                     zone_ids=[net.dns_zones[group].id])

        self.register_outputs({
            "accounts": {role: a.name for role, a in self.accounts.items()},
            "containers": {p.value: c.id for p, c in self.containers.items()},
        })

    def _lifecycle(self, name: str, role: str, account: storage.StorageAccount, members: list[BucketPurpose],
                   spec: StackSpec, rg: pulumi.Input[str], *, versioned: bool) -> None:
        rules = []
        for purpose in members:
            days = spec.storage.retention_days.get(purpose)
            if days is None:
                continue
            rules.append(storage.ManagementPolicyRuleArgs(
                name=f"expire-{container_name(purpose)}", type=storage.RuleType.LIFECYCLE, enabled=True,
                definition=storage.ManagementPolicyDefinitionArgs(
                    filters=storage.ManagementPolicyFilterArgs(blob_types=["blockBlob"],
                                                               prefix_match=[f"{container_name(purpose)}/"]),
                    actions=storage.ManagementPolicyActionArgs(base_blob=storage.ManagementPolicyBaseBlobArgs(
                        delete=storage.DateAfterModificationArgs(days_after_modification_greater_than=days))),
                ),
            ))
        if BucketPurpose.training_data in members:
            # Each endpoint's captured samples expire after `capture.retention_days` ("prefixMatch: An array of
            # strings for prefixes to be matched", the container name first; Azure Storage lifecycle management).
            for ep in spec.model_endpoints:
                if not ep.capture.enabled:
                    continue
                rules.append(storage.ManagementPolicyRuleArgs(
                    name=f"expire-capture-{ep.name}", type=storage.RuleType.LIFECYCLE, enabled=True,
                    definition=storage.ManagementPolicyDefinitionArgs(
                        filters=storage.ManagementPolicyFilterArgs(blob_types=["blockBlob"], prefix_match=[
                            f"{container_name(BucketPurpose.training_data)}/{capture_prefix(ep.name)}"]),
                        actions=storage.ManagementPolicyActionArgs(base_blob=storage.ManagementPolicyBaseBlobArgs(
                            delete=storage.DateAfterModificationArgs(
                                days_after_modification_greater_than=ep.capture.retention_days))))))
        if versioned:
            rules.append(storage.ManagementPolicyRuleArgs(
                name="expire-noncurrent-versions", type=storage.RuleType.LIFECYCLE, enabled=True,
                definition=storage.ManagementPolicyDefinitionArgs(
                    filters=storage.ManagementPolicyFilterArgs(blob_types=["blockBlob"]),
                    actions=storage.ManagementPolicyActionArgs(version=storage.ManagementPolicyVersionArgs(
                        delete=storage.DateAfterCreationArgs(days_after_creation_greater_than=_NONCURRENT_VERSION_DAYS))),
                ),
            ))
        if rules:
            storage.ManagementPolicy(
                f"{name}-{role}-lifecycle",
                storage.ManagementPolicyArgs(resource_group_name=rg, account_name=account.name,
                                             management_policy_name="default",
                                             policy=storage.ManagementPolicySchemaArgs(rules=rules)),
                pulumi.ResourceOptions(parent=self),
            )

    def blob_url(self, purpose: BucketPurpose) -> pulumi.Output[str]:
        """`https://<account>.blob.core.windows.net/<container>` for `purpose`."""
        account = self.accounts[self._account_role(purpose)]
        return pulumi.Output.concat("https://", account.name, ".blob.core.windows.net/", container_name(purpose))

    def abfss_url(self, purpose: BucketPurpose) -> pulumi.Output[str]:
        account = self.accounts[self._account_role(purpose)]
        return pulumi.Output.concat("abfss://", container_name(purpose), "@", account.name, ".dfs.core.windows.net/")

    def container_at(self, account: str, container: str) -> storage.BlobContainer | None:
        """The environment's container `container` in the account named `account`, or None."""
        role = self.account_names.get(account)
        for purpose, resource in self.containers.items():
            if role is not None and self.roles[purpose] == role and container_name(purpose) == container:
                return resource
        return None

    def account_for(self, purpose: BucketPurpose) -> storage.StorageAccount:
        return self.accounts[self._account_role(purpose)]

    def _account_role(self, purpose: BucketPurpose) -> str:
        return self.roles[purpose]
