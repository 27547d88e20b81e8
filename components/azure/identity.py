"""Workload identities: one user-assigned identity per workload, federated to exactly its service account."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_azure_native import authorization, managedidentity, redis

from aienv.spec.model import BucketPurpose, StackSpec
from aienv.workloads import Workload, workloads
from components.azure._shared import (
    ROLE_STORAGE_BLOB_DATA_CONTRIBUTOR,
    ROLE_STORAGE_BLOB_DATA_READER,
    assign_role,
    create,
    tags,
)
from components.azure.network import Network
from components.azure.storage import Storage
from components.contracts import BoundIdentity

CLIENT_ID_ANNOTATION = "azure.workload.identity/client-id"
USE_LABEL = "azure.workload.identity/use"
TOKEN_AUDIENCE = "api://AzureADTokenExchange"
REDIS_ACCESS_POLICY = "Data Contributor"

# What each workload kind reads and writes: (purpose, role, is_read).
_BLOB_ACCESS: dict[str, list[tuple[BucketPurpose, str, bool]]] = {
    "serving": [(BucketPurpose.model_artifacts, ROLE_STORAGE_BLOB_DATA_READER, True)],
    "drift-monitor": [(BucketPurpose.training_data, ROLE_STORAGE_BLOB_DATA_READER, True),
                      (BucketPurpose.logs, ROLE_STORAGE_BLOB_DATA_CONTRIBUTOR, False)],
    "feature-server": [(BucketPurpose.feature_offline, ROLE_STORAGE_BLOB_DATA_READER, True)],
}


class AzureWorkloadBinder:
    """The `WorkloadBinder` for AKS workload identity: client-id annotation plus the `use` pod label."""

    def __init__(self, bound: dict[str, tuple[Workload, pulumi.Output[str]]]):
        self._bound = bound

    def bind(self, workload: Workload) -> BoundIdentity:
        known, client_id = self._bound[workload.key]
        if (known.namespace, known.service_account) != (workload.namespace, workload.service_account):
            # The federated credential names one service account; any other would fail token exchange.
            raise KeyError(f"{workload.key} is bound to {known.namespace}/{known.service_account}, "
                           f"not {workload.namespace}/{workload.service_account}")
        return BoundIdentity(service_account_annotations={CLIENT_ID_ANNOTATION: client_id},
                             pod_labels={USE_LABEL: "true"})


@dataclass(frozen=True)
class IdentityArgs:
    spec: StackSpec
    network: Network
    storage: Storage
    oidc_issuer_url: pulumi.Input[str]
    cache: redis.Redis | None = None


class Identity(pulumi.ComponentResource):
    """`aienv:azure:Identity`: `security.workload_permissions: broad` widens read access to the environment's
    resource group; writes and Redis access stay on their exact resource either way."""

    identities: dict[str, managedidentity.UserAssignedIdentity]
    assignments: dict[str, list[authorization.RoleAssignment]]
    binder: AzureWorkloadBinder

    def __init__(self, name: str, args: IdentityArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aienv:azure:Identity", name, None, opts)
        spec, st = args.spec, args.storage
        rg = args.network.resource_group_name
        subscription = spec.cloud.subscription_id or ""
        broad = spec.security.workload_permissions == "broad"
        self.identities = {}
        self.assignments = {}
        bound: dict[str, tuple[Workload, pulumi.Output[str]]] = {}
        for workload in workloads(spec):
            if workload.kind == "cluster-autoscaler":
                continue  # AKS runs its own autoscaler
            key = workload.key
            identity = managedidentity.UserAssignedIdentity(
                f"{name}-{key}",
                managedidentity.UserAssignedIdentityArgs(resource_group_name=rg, location=spec.region,
                                                         tags=tags(spec)),
                pulumi.ResourceOptions(parent=self),
            )
            create(
                managedidentity.FederatedIdentityCredential, f"{name}-{key}-federation",
                managedidentity.FederatedIdentityCredentialArgs(
                    resource_group_name=rg, resource_name=identity.name,
                    federated_identity_credential_resource_name=key,
                    issuer=args.oidc_issuer_url,
                    subject=f"system:serviceaccount:{workload.namespace}:{workload.service_account}",
                    audiences=[TOKEN_AUDIENCE],
                ),
                pulumi.ResourceOptions(parent=self),
            )
            grants = []
            for purpose, role, is_read in _BLOB_ACCESS.get(workload.kind, []):
                container = st.containers.get(purpose)
                if container is None:
                    continue
                scope = args.network.resource_group.id if broad and is_read else container.id
                grants.append(assign_role(f"{name}-{key}-{purpose.value.replace('_', '-')}", parent=self,
                                          subscription_id=subscription, role_id=role,
                                          principal_id=identity.principal_id, scope=scope))
            if workload.kind == "feature-server" and args.cache is not None:
                redis.AccessPolicyAssignment(
                    f"{name}-{key}-redis",
                    redis.AccessPolicyAssignmentArgs(
                        resource_group_name=rg, cache_name=args.cache.name,
                        access_policy_assignment_name=key.replace("-", ""),
                        access_policy_name=REDIS_ACCESS_POLICY,
                        object_id=identity.principal_id, object_id_alias=key),
                    pulumi.ResourceOptions(parent=self),
                )
            self.identities[key] = identity
            self.assignments[key] = grants
            bound[key] = (workload, identity.client_id)

        self.binder = AzureWorkloadBinder(bound)
        self.register_outputs({
            "identities": {k: i.id for k, i in self.identities.items()},
            "clientIds": {k: i.client_id for k, i in self.identities.items()},
        })
