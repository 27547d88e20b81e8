"""Helpers the Azure components share: tags, built-in role ids, stateful-resource options, private endpoints.

Not a component: plain functions that create children under the component that calls them.
"""

from __future__ import annotations

from typing import Any, TypeVar, cast

import pulumi
from pulumi_azure_native import authorization, network

from aienv import conventions as c
from aienv.spec.model import StackSpec

# Built-in role definition ids (the same GUID in every subscription), each checked against Microsoft's
# built-in role list. Never Owner/Contributor: every assignment below names the exact resource it covers.
ROLE_STORAGE_BLOB_DATA_READER = "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"
ROLE_STORAGE_BLOB_DATA_CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
ROLE_ACR_PULL = "7f951dda-4ed3-4680-a7ca-43fe172d538d"
ROLE_KV_CRYPTO_SERVICE_ENCRYPTION_USER = "e147488a-f6f5-4113-8e2d-b22465e65bf6"
ROLE_KV_CRYPTO_USER = "12338af0-0e69-4776-bea7-57ae8d297424"
ROLE_NETWORK_CONTRIBUTOR = "4d97b98b-1d4f-4787-a291-c67834d212e7"
ROLE_MANAGED_IDENTITY_OPERATOR = "f1a07417-d97a-45cb-824c-7a7467783830"
ROLE_AZUREML_DATA_SCIENTIST = "f6c7c914-8db3-469d-8ca1-694a8f32e121"
ROLE_READER = "acdd72a7-3385-48ef-bd42-f606fba81ae7"
ROLE_KV_CRYPTO_OFFICER = "14b46e9e-c2b7-41b4-b07b-48a6ebf60603"
ROLE_KV_SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6"
ROLE_AKS_RBAC_CLUSTER_ADMIN = "b1ff04bb-8a4e-4dc4-8eb5-8693973ce19b"

# Private DNS zones per private-link group (public Azure cloud).
DNS_ZONES: dict[str, str] = {
    "blob": "privatelink.blob.core.windows.net",
    "dfs": "privatelink.dfs.core.windows.net",
    "vault": "privatelink.vaultcore.azure.net",
    "registry": "privatelink.azurecr.io",
    "aml_api": "privatelink.api.azureml.ms",
    "aml_notebooks": "privatelink.notebooks.azure.net",
    # Azure Managed Redis: "A private DNS zone, named `*.privatelink.redis.azure.net`" (Microsoft, *Azure Managed
    # Redis with Azure Private Link*); `privatelink.redis.cache.windows.net` is the retired Azure Cache for Redis'.
    "redis": "privatelink.redis.azure.net",
}


def tags(spec: StackSpec) -> dict[str, str]:
    """The tags every taggable Azure resource carries (azure-native has no provider default tags)."""
    return {
        c.TAG_ENVIRONMENT: spec.name,
        c.TAG_TIER: spec.environment.value,
        c.TAG_OWNER: spec.owner,
        c.TAG_MANAGED_BY: c.MANAGED_BY,
        **spec.tags,
    }


def stateful(spec: StackSpec, parent: pulumi.Resource, **extra: object) -> pulumi.ResourceOptions:
    """Options for data-holding resources: protected and kept in Azure when deletion protection is on."""
    protected = spec.security.deletion_protection
    return pulumi.ResourceOptions(parent=parent, protect=protected, retain_on_delete=protected, **extra)  # type: ignore[arg-type]


def role_definition(subscription_id: str, role_id: str) -> str:
    return f"/subscriptions/{subscription_id}/providers/Microsoft.Authorization/roleDefinitions/{role_id}"


def assign_role(name: str, *, parent: pulumi.Resource, subscription_id: str, role_id: str,
                principal_id: pulumi.Input[str], scope: pulumi.Input[str],
                depends_on: list[pulumi.Resource] | None = None) -> authorization.RoleAssignment:
    """A role assignment to a managed identity (service principal), scoped to exactly `scope`."""
    return authorization.RoleAssignment(
        name,
        authorization.RoleAssignmentArgs(
            principal_id=principal_id,
            principal_type=authorization.PrincipalType.SERVICE_PRINCIPAL,
            role_definition_id=role_definition(subscription_id, role_id),
            scope=scope,
        ),
        pulumi.ResourceOptions(parent=parent, depends_on=depends_on or []),
    )


def private_endpoint(name: str, *, parent: pulumi.Resource, spec: StackSpec, resource_group_name: pulumi.Input[str],
                     subnet_id: pulumi.Input[str], target_id: pulumi.Input[str], group_id: str,
                     zone_ids: list[pulumi.Input[str]]) -> network.PrivateEndpoint:
    """A private endpoint to `target_id` (sub-resource `group_id`) with its DNS records in the linked zones."""
    endpoint = network.PrivateEndpoint(
        name,
        network.PrivateEndpointArgs(
            resource_group_name=resource_group_name,
            location=spec.region,
            subnet=network.SubnetArgs(id=subnet_id),
            private_link_service_connections=[network.PrivateLinkServiceConnectionArgs(
                name=f"{name}-{group_id}",
                private_link_service_id=target_id,
                group_ids=[group_id],
            )],
            tags=tags(spec),
        ),
        pulumi.ResourceOptions(parent=parent),
    )
    network.PrivateDnsZoneGroup(
        f"{name}-dns",
        network.PrivateDnsZoneGroupArgs(
            resource_group_name=resource_group_name,
            private_endpoint_name=endpoint.name,
            private_dns_zone_group_name="default",
            private_dns_zone_configs=[network.PrivateDnsZoneConfigArgs(name=f"zone-{i}", private_dns_zone_id=z)
                                      for i, z in enumerate(zone_ids)],
        ),
        pulumi.ResourceOptions(parent=parent),
    )
    return endpoint


_R = TypeVar("_R", bound=pulumi.CustomResource)


def principal_of(identity: pulumi.Output[Any]) -> pulumi.Output[str]:
    """The principal id of a system-assigned identity output (set once the resource exists)."""
    return cast(pulumi.Output[str], identity.apply(lambda i: i.principal_id if i else None))


def create(cls: type[_R], name: str, args: object, opts: pulumi.ResourceOptions) -> _R:
    """Create `cls` from its typed `...Args` when the resource has a `resource_name` property.

    azure-native's generated constructors clash on it (`_internal_init() got multiple values for argument
    'resource_name'`): the args object is built as usual (so a misspelt property still fails), then passed
    as keywords with the SDK's `resource_name_` spelling.
    """
    kwargs = dict(vars(args))
    if "resource_name" in kwargs:
        kwargs["resource_name_"] = kwargs.pop("resource_name")
    return cls(name, opts=opts, **kwargs)
