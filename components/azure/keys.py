"""Key Vault, customer-managed keys per purpose, and the identities services use to reach them."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_azure_native import authorization, keyvault, managedidentity

from aienv.naming import azure_key_vault
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

# One key per purpose, so revoking one service's access never touches another's data.
KEY_PURPOSES = ("storage", "registry", "disks", "ml")
# Services that reach their key through a user-assigned identity (disk encryption sets use their own).
IDENTITY_PURPOSES = ("storage", "registry", "ml")
_NOTIFY_BEFORE_EXPIRY_DAYS = 30


# The public client applications a person signs in with (`az login`, `Connect-AzAccount`): the client id
# `getClientConfig` reports for a user. Any other client id is an application or managed identity.
_USER_CLIENT_IDS = frozenset({"04b07795-8ddb-461a-bbee-02f9e1bf7b46",   # Azure CLI
                              "1950a258-227b-4e31-a9cf-717495945fc2"})  # Azure PowerShell


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
    identities: dict[str, managedidentity.UserAssignedIdentity]
    grants: list[pulumi.Resource]
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
        if spec.security.encryption == "customer_managed":
            rotate = spec.security.key_rotation_days
            # On a vault with Azure RBAC, ARM's key operations are authorised against the caller's data actions
            # (pulumi-azure-native#890: `ForbiddenByRbac` "Caller is not authorized" when creating a key), which
            # Contributor and Owner lack; the deployer gets Key Vault Crypto Officer on this vault only.
            self.deployer_grant = authorization.RoleAssignment(
                f"{name}-deployer-crypto-officer",
                authorization.RoleAssignmentArgs(
                    principal_id=args.deployer_object_id,
                    principal_type=pulumi.Output.from_input(args.deployer_client_id).apply(deployer_principal_type),
                    role_definition_id=role_definition(spec.cloud.subscription_id or "", ROLE_KV_CRYPTO_OFFICER),
                    scope=self.vault.id,
                    description="aienv: the deployer creates and rotates this environment's keys"),
                pulumi.ResourceOptions(parent=self),
            )
            for purpose in KEY_PURPOSES:
                self.keys[purpose] = keyvault.Key(
                    f"{name}-{purpose}",
                    keyvault.KeyArgs(
                        resource_group_name=rg, vault_name=self.vault.name, key_name=f"{purpose}-cmk",
                        properties=keyvault.KeyPropertiesArgs(
                            kty=keyvault.JsonWebKeyType.RSA, key_size=3072,
                            key_ops=[keyvault.JsonWebKeyOperation.WRAP_KEY, keyvault.JsonWebKeyOperation.UNWRAP_KEY],
                            attributes=keyvault.KeyAttributesArgs(enabled=True, exportable=False),
                            # Every version expires; Key Vault rotates before that, services follow the
                            # versionless key (or auto-rotation) and never hold an expired version.
                            rotation_policy=keyvault.RotationPolicyArgs(
                                attributes=keyvault.KeyRotationPolicyAttributesArgs(
                                    expiry_time=f"P{rotate + _NOTIFY_BEFORE_EXPIRY_DAYS}D"),
                                lifetime_actions=[
                                    keyvault.LifetimeActionArgs(
                                        action=keyvault.ActionArgs(type=keyvault.KeyRotationPolicyActionType.ROTATE),
                                        trigger=keyvault.TriggerArgs(time_after_create=f"P{rotate}D")),
                                    keyvault.LifetimeActionArgs(
                                        action=keyvault.ActionArgs(type=keyvault.KeyRotationPolicyActionType.NOTIFY),
                                        trigger=keyvault.TriggerArgs(
                                            time_before_expiry=f"P{_NOTIFY_BEFORE_EXPIRY_DAYS}D")),
                                ],
                            ),
                        ),
                        tags=tags(spec),
                    ),
                    stateful(spec, self, depends_on=[self.deployer_grant]),
                )
            for purpose in IDENTITY_PURPOSES:
                identity = managedidentity.UserAssignedIdentity(
                    f"{name}-{purpose}-cmk-id",
                    managedidentity.UserAssignedIdentityArgs(resource_group_name=rg, location=spec.region,
                                                             tags=tags(spec)),
                    pulumi.ResourceOptions(parent=self),
                )
                self.identities[purpose] = identity
                # Wrap/unwrap on this one key only, not the vault.
                self.grants.append(assign_role(
                    f"{name}-{purpose}-cmk-grant", parent=self, subscription_id=spec.cloud.subscription_id or "",
                    role_id=ROLE_KV_CRYPTO_SERVICE_ENCRYPTION_USER, principal_id=identity.principal_id,
                    scope=self.keys[purpose].id))

        self.register_outputs({
            "vaultId": self.vault.id,
            "vaultUri": self.vault_uri,
            "keyIds": {p: k.id for p, k in self.keys.items()},
            "identityIds": {p: i.id for p, i in self.identities.items()},
        })

    @property
    def customer_managed(self) -> bool:
        return bool(self.keys)

    def versionless_key_url(self, purpose: str) -> pulumi.Output[str]:
        """`https://<vault>.vault.azure.net/keys/<name>`: services that follow the latest version take this."""
        key = self.keys[purpose]
        return pulumi.Output.concat(self.vault_uri.apply(lambda u: (u or "").rstrip("/")), "/keys/", key.name)

