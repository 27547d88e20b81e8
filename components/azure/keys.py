"""Key Vault, customer-managed keys per purpose, and the identities services use to reach them."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_azure_native import authorization, keyvault, managedidentity

from aienv.naming import azure_key_vault, azure_registry_key_vault
from aienv.spec.model import StackSpec
from components.azure._shared import (
    ROLE_KV_CRYPTO_OFFICER,
    ROLE_KV_CRYPTO_SERVICE_ENCRYPTION_USER,
    assign_role,
    private_endpoint,
    role_definition,
    stateful,
    tags,
)
from components.azure.network import Network
from components.propagation import propagation_wait

# One key per purpose, so revoking one service's access never touches another's data.
KEY_PURPOSES = ("storage", "registry", "disks", "ml")
# Services that reach their key through a user-assigned identity (disk encryption sets use their own).
IDENTITY_PURPOSES = ("storage", "registry", "ml")
# The online store's key, made only when the spec has an online store (`online_store_key`). Azure Managed Redis
# reaches it through a user-assigned identity: "Only user assigned managed identity is supported to connect to
# Azure Key Vault. System assigned managed identity is not supported." (Microsoft, *Configure disk encryption for
# Azure Managed Redis instances using customer managed keys*).
REDIS_PURPOSE = "redis"
_NOTIFY_BEFORE_EXPIRY_DAYS = 30
# Microsoft, *Troubleshoot Azure RBAC* ("Symptom - Role assignment changes are not being detected"): "When you
# assign roles or remove role assignments, it can take up to 10 minutes for changes to take effect." Services
# check key access when they create a resource (a storage account, registry or workspace with a customer-managed
# key; ARM's key creation on an RBAC vault), so what uses a grant first waits the documented maximum after it.
RBAC_PROPAGATION_SECONDS = 600
# Keys whose users hold the version they were created with. Azure ML "when the key is rotated, you must update the
# [...] resource to use the new key URI" (Microsoft, *Customer-managed keys for Azure AI Foundry*, "Encryption Key
# Rotation"; the workspace REST API updates only `encryption.keyVaultProperties.keyIdentifier`): a version that
# expires while a workspace still names it would cut the workspace off, so these versions never expire.
# Azure Managed Redis takes a versioned key URL too ("Key encryption key Url, versioned only", azure-native
# redisenterprise `ClusterPropertiesCustomerManagedKeyEncryptionArgs.key_encryption_key_url`).
PINNED_VERSION_KEYS = frozenset({"ml-cmk", "redis-cmk"})


def rotation_policy(rotate_days: int, *, expire: bool) -> keyvault.RotationPolicyArgs:
    """Rotate every `rotate_days`; with `expire`, rotated versions expire 30 days later, with a notice event.

    Key Vault: the policy's expiry time "is used to set expiration date on newly rotated key. It doesn't affect a
    current key", and the near-expiry notification "requires 'Expiry Time' set on rotation policy" (Microsoft,
    *Configure cryptographic key auto-rotation in Azure Key Vault*); a policy without expiry has no notice.
    """
    rotate = keyvault.LifetimeActionArgs(action=keyvault.ActionArgs(type=keyvault.KeyRotationPolicyActionType.ROTATE),
                                         trigger=keyvault.TriggerArgs(time_after_create=f"P{rotate_days}D"))
    if not expire:
        return keyvault.RotationPolicyArgs(lifetime_actions=[rotate])
    return keyvault.RotationPolicyArgs(
        attributes=keyvault.KeyRotationPolicyAttributesArgs(
            expiry_time=f"P{rotate_days + _NOTIFY_BEFORE_EXPIRY_DAYS}D"),
        lifetime_actions=[
            rotate,
            keyvault.LifetimeActionArgs(
                action=keyvault.ActionArgs(type=keyvault.KeyRotationPolicyActionType.NOTIFY),
                trigger=keyvault.TriggerArgs(time_before_expiry=f"P{_NOTIFY_BEFORE_EXPIRY_DAYS}D")),
        ],
    )


# The public client applications a person signs in with (`az login`, `Connect-AzAccount`): the client id
# `getClientConfig` reports for a user. Any other client id is an application or managed identity.
_USER_CLIENT_IDS = frozenset({"04b07795-8ddb-461a-bbee-02f9e1bf7b46",   # Azure CLI
                              "1950a258-227b-4e31-a9cf-717495945fc2"})  # Azure PowerShell


def online_store_key(spec: StackSpec) -> bool:
    """Whether the spec's online store (Azure Managed Redis) gets its own customer-managed key."""
    fs = spec.feature_store
    return spec.security.encryption == "customer_managed" and fs.enabled and fs.online_store.enabled


def deployer_principal_type(client_id: str | None) -> str:
    """`User` when the deployer signed in through the Azure CLI or PowerShell, else `ServicePrincipal`.

    azure-native defaults a role assignment's principalType to `User`, and ARM refuses a type that does not
    match the principal (`UnmatchedPrincipalType`), so CI service principals need it said.
    """
    return "User" if client_id in _USER_CLIENT_IDS else "ServicePrincipal"


@dataclass(frozen=True)
class KeysArgs:
    spec: StackSpec
    network: Network
    tenant_id: pulumi.Input[str]
    # The object id of the principal running `pulumi up` (`authorization.get_client_config().object_id`).
    deployer_object_id: pulumi.Input[str]
    deployer_client_id: pulumi.Input[str]


class Keys(pulumi.ComponentResource):
    """`aienv:azure:Keys`: the vault always exists (Azure ML needs one); keys only for `customer_managed`."""

    vault: keyvault.Vault
    vault_uri: pulumi.Output[str]
    keys: dict[str, keyvault.Key]
    registry_vault: keyvault.Vault | None  # holds only the registry's key (`_registry_key_vault`)
    registry_vault_uri: pulumi.Output[str] | None
    registry_key: keyvault.Key | None
    identities: dict[str, managedidentity.UserAssignedIdentity]
    grants: list[pulumi.Resource]
    ready: list[pulumi.Resource]  # the wait after `grants`: what a customer-managed key's users depend on
    deployer_grant: authorization.RoleAssignment | None

    def __init__(self, name: str, args: KeysArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aienv:azure:Keys", name, None, opts)
        spec = args.spec
        net = args.network
        rg = net.resource_group_name
        private = spec.network.private_endpoints
        self.vault = keyvault.Vault(
            f"{name}-vault",
            keyvault.VaultArgs(
                resource_group_name=rg, location=spec.region,
                vault_name=azure_key_vault(spec.name, spec.cloud.subscription_id or ""),
                properties=keyvault.VaultPropertiesArgs(
                    tenant_id=args.tenant_id,
                    sku=keyvault.SkuArgs(family=keyvault.SkuFamily.A, name=keyvault.SkuName.STANDARD),
                    enable_rbac_authorization=True,
                    enable_soft_delete=True,
                    soft_delete_retention_in_days=90,
                    enable_purge_protection=True,
                    public_network_access="Disabled" if private else "Enabled",
                    network_acls=keyvault.NetworkRuleSetArgs(
                        default_action=keyvault.NetworkRuleAction.DENY,
                        bypass=keyvault.NetworkRuleBypassOptions.AZURE_SERVICES,
                        virtual_network_rules=None if private else [
                            keyvault.VirtualNetworkRuleArgs(id=net.subnets["nodes"].id)],
                    ),
                ),
                tags=tags(spec),
            ),
            stateful(spec, self),
        )
        self.vault_uri = self.vault.properties.apply(lambda p: p.vault_uri)
        if private:
            private_endpoint(f"{name}-vault-pe", parent=self, spec=spec, resource_group_name=rg,
                             subnet_id=net.subnets["endpoints"].id, target_id=self.vault.id, group_id="vault",
                             zone_ids=[net.dns_zones["vault"].id])

        self.keys = {}
        self.identities = {}
        self.grants = []
        self.deployer_grant = None
        self.registry_vault = None
        self.registry_vault_uri = None
        self.registry_key = None
        self.ready: list[pulumi.Resource] = []
        if spec.security.encryption == "customer_managed":
            subscription = spec.cloud.subscription_id or ""
            self._registry_key_vault(name, args)
            assert self.registry_vault is not None
            # On a vault with Azure RBAC, ARM's key operations are authorised against the caller's data actions
            # (pulumi-azure-native#890: `ForbiddenByRbac` "Caller is not authorized" when creating a key), which
            # Contributor and Owner lack; the deployer gets Key Vault Crypto Officer on each vault only, and every
            # key waits one propagation delay after both grants.
            self.deployer_grant = self._deployer_grant(f"{name}-deployer-crypto-officer", args, self.vault)
            registry_deployer = self._deployer_grant(f"{name}-deployer-registry-crypto-officer", args,
                                                     self.registry_vault)
            deployer_ready = propagation_wait(f"{name}-deployer-grants-wait", [self.deployer_grant, registry_deployer],
                                              seconds=RBAC_PROPAGATION_SECONDS, parent=self)
            online = [REDIS_PURPOSE] if online_store_key(spec) else []
            for purpose in (*KEY_PURPOSES, *online):
                self.keys[purpose] = self._key(f"{name}-{purpose}", spec, rg, self.vault, f"{purpose}-cmk",
                                               deployer_ready)
            self.registry_key = self._key(f"{name}-registry-vault-key", spec, rg, self.registry_vault,
                                          "registry-cmk", deployer_ready)
            for purpose in (*IDENTITY_PURPOSES, *online):
                self.identities[purpose] = managedidentity.UserAssignedIdentity(
                    f"{name}-{purpose}-cmk-id",
                    managedidentity.UserAssignedIdentityArgs(resource_group_name=rg, location=spec.region,
                                                             tags=tags(spec)),
                    pulumi.ResourceOptions(parent=self),
                )
            for purpose in ("storage", "ml", *online):
                # Wrap/unwrap on this one key only, not the vault ("Get, Unwrap Key, and Wrap Key [...] A
                # recommended built-in role definition with the least privileges needed for this scenario is
                # called KeyVault Crypto Service Encryption User", ibid. for Azure Managed Redis).
                self.grants.append(assign_role(
                    f"{name}-{purpose}-cmk-grant", parent=self, subscription_id=subscription,
                    role_id=ROLE_KV_CRYPTO_SERVICE_ENCRYPTION_USER, principal_id=self.identities[purpose].principal_id,
                    scope=self.keys[purpose].id))
            self.grants.append(assign_role(
                f"{name}-registry-cmk-grant", parent=self, subscription_id=subscription,
                role_id=ROLE_KV_CRYPTO_SERVICE_ENCRYPTION_USER, principal_id=self.identities["registry"].principal_id,
                scope=self.registry_key.id))
            cosmos = spec.azure.cosmos_db_principal_id
            if cosmos:
                # "Allow Azure Cosmos DB to access the key" (Microsoft, *Use customer-managed keys with Azure
                # Machine Learning*): Azure ML's metadata store is created with the workspace and wraps with
                # `ml-cmk` through the tenant's Azure Cosmos DB principal, so it is granted that key only, first.
                self.grants.append(assign_role(
                    f"{name}-ml-cmk-cosmos-db", parent=self, subscription_id=subscription,
                    role_id=ROLE_KV_CRYPTO_SERVICE_ENCRYPTION_USER, principal_id=cosmos,
                    scope=self.keys["ml"].id))
            # The storage accounts, the registry, both ML workspaces and the online store check their key when they
            # are created: they wait for this one Sleep after all the key grants.
            self.ready = propagation_wait(f"{name}-cmk-grants-wait", self.grants, seconds=RBAC_PROPAGATION_SECONDS,
                                          parent=self)
        self.register_outputs({
            "vaultId": self.vault.id,
            "vaultUri": self.vault_uri,
            "keyIds": {p: k.id for p, k in self.keys.items()},
            "registryVaultId": self.registry_vault.id if self.registry_vault else None,
            "identityIds": {p: i.id for p, i in self.identities.items()},
        })

    @property
    def customer_managed(self) -> bool:
        return bool(self.keys)

    def registry_key_url(self) -> pulumi.Output[str]:
        """The versionless URL of the registry's key in its own vault (ACR follows new versions within an hour)."""
        assert self.registry_key is not None and self.registry_vault_uri is not None
        return pulumi.Output.concat(self.registry_vault_uri.apply(lambda u: (u or "").rstrip("/")), "/keys/",
                                    self.registry_key.name)

    def _deployer_grant(self, name: str, args: KeysArgs, vault: keyvault.Vault) -> authorization.RoleAssignment:
        return authorization.RoleAssignment(
            name,
            authorization.RoleAssignmentArgs(
                principal_id=args.deployer_object_id,
                principal_type=pulumi.Output.from_input(args.deployer_client_id).apply(deployer_principal_type),
                role_definition_id=role_definition(args.spec.cloud.subscription_id or "", ROLE_KV_CRYPTO_OFFICER),
                scope=vault.id,
                description="aienv: the deployer creates and rotates this environment's keys"),
            pulumi.ResourceOptions(parent=self),
        )

    def _key(self, name: str, spec: StackSpec, rg: pulumi.Input[str], vault: keyvault.Vault, key_name: str,
             after: list[pulumi.Resource]) -> keyvault.Key:
        return keyvault.Key(
            name,
            keyvault.KeyArgs(
                resource_group_name=rg, vault_name=vault.name, key_name=key_name,
                properties=keyvault.KeyPropertiesArgs(
                    kty=keyvault.JsonWebKeyType.RSA, key_size=3072,
                    key_ops=[keyvault.JsonWebKeyOperation.WRAP_KEY, keyvault.JsonWebKeyOperation.UNWRAP_KEY],
                    attributes=keyvault.KeyAttributesArgs(enabled=True, exportable=False),
                    rotation_policy=rotation_policy(spec.security.key_rotation_days,
                                                    expire=key_name not in PINNED_VERSION_KEYS),
                ),
                tags=tags(spec),
            ),
            stateful(spec, self, depends_on=after),
        )

    def _registry_key_vault(self, name: str, args: KeysArgs) -> None:
        """A vault that holds only the container registry's key, reachable by the registry's user-assigned identity.

        Microsoft, *Encrypt registry using a customer-managed key*: a customer-managed key "can currently [be
        enabled] only when you create a registry", configured with "a *user-assigned* managed identity", and
        "Currently, an Azure container registry can only bypass the firewall when using its system-managed
        identity". The main vault denies public access, so the registry is created with a key in this vault,
        which its documented path puts outside the firewall ("The new key vault is deployed outside the
        firewall"); `docs/azure.md` has the follow-up rotation onto the main vault's `registry-cmk` with the
        system identity. Everything else this vault protects stays as in the main vault: Azure RBAC (only the
        registry identity on this one key, and the deployer), soft delete, purge protection, audit logs
        (foundation), a private endpoint for clients in the network.
        """
        spec, net = args.spec, args.network
        rg = net.resource_group_name
        subscription = spec.cloud.subscription_id or ""
        self.registry_vault = keyvault.Vault(
            f"{name}-registry-vault",
            keyvault.VaultArgs(
                resource_group_name=rg, location=spec.region,
                vault_name=azure_registry_key_vault(spec.name, subscription),
                properties=keyvault.VaultPropertiesArgs(
                    tenant_id=args.tenant_id,
                    sku=keyvault.SkuArgs(family=keyvault.SkuFamily.A, name=keyvault.SkuName.STANDARD),
                    enable_rbac_authorization=True,
                    enable_soft_delete=True,
                    soft_delete_retention_in_days=90,
                    enable_purge_protection=True,
                    # The registry's user-assigned identity is not a trusted service, and the registry's outbound
                    # addresses are not published for Key Vault IP rules: the public endpoint stays open, guarded
                    # by Entra ID and Azure RBAC (the waiver in aienv-waivers.yaml records this).
                    public_network_access="Enabled",
                    network_acls=keyvault.NetworkRuleSetArgs(
                        default_action=keyvault.NetworkRuleAction.ALLOW,
                        bypass=keyvault.NetworkRuleBypassOptions.AZURE_SERVICES),
                ),
                tags=tags(spec),
            ),
            stateful(spec, self),
        )
        self.registry_vault_uri = self.registry_vault.properties.apply(lambda p: p.vault_uri)
        if spec.network.private_endpoints:
            private_endpoint(f"{name}-registry-vault-pe", parent=self, spec=spec, resource_group_name=rg,
                             subnet_id=net.subnets["endpoints"].id, target_id=self.registry_vault.id,
                             group_id="vault", zone_ids=[net.dns_zones["vault"].id])
