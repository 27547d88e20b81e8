"""Key Vault, customer-managed keys per purpose, and the identities services use to reach them."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_azure_native import keyvault, managedidentity

from aienv.naming import azure_key_vault
from aienv.spec.model import StackSpec
from components.azure._shared import (
    ROLE_KV_CRYPTO_SERVICE_ENCRYPTION_USER,
    assign_role,
    private_endpoint,
    stateful,
    tags,
)
from components.azure.network import Network

# One key per purpose, so revoking one service's access never touches another's data.
KEY_PURPOSES = ("storage", "registry", "disks", "ml")
# Services that reach their key through a user-assigned identity (disk encryption sets use their own).
IDENTITY_PURPOSES = ("storage", "registry", "ml")
_NOTIFY_BEFORE_EXPIRY_DAYS = 30


@dataclass(frozen=True)
class KeysArgs:
    spec: StackSpec
    network: Network
    tenant_id: pulumi.Input[str]


class Keys(pulumi.ComponentResource):
    """`aienv:azure:Keys`: the vault always exists (Azure ML needs one); keys only for `customer_managed`."""

    vault: keyvault.Vault
    vault_uri: pulumi.Output[str]
    keys: dict[str, keyvault.Key]
    identities: dict[str, managedidentity.UserAssignedIdentity]
    grants: list[pulumi.Resource]

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
        if spec.security.encryption == "customer_managed":
            rotate = spec.security.key_rotation_days
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
                    stateful(spec, self),
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

