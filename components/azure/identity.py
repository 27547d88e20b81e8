"""Workload identities: one user-assigned identity per workload, federated to exactly its service account.

Each identity gets what its workload reads and writes, nothing else: blob roles on the exact container,
narrowed by an attribute-based condition to the workload's own path in it, and Key Vault Secrets User on
the exact secret it reads.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
from pulumi_azure_native import authorization, managedidentity
from pulumi_azure_native.authorization import PermissionArgs

from aienv import conventions as c
from aienv.naming import azure_blob_ref, azure_secret_ref
from aienv.spec.model import BucketPurpose, ModelEndpoint, StackSpec
from aienv.workloads import Workload, workloads
from components.azure._shared import (
    ROLE_KV_SECRETS_USER,
    ROLE_READER,
    ROLE_STORAGE_BLOB_DATA_CONTRIBUTOR,
    ROLE_STORAGE_BLOB_DATA_READER,
    create,
    role_definition,
    tags,
)
from components.azure.keys import Keys
from components.azure.network import Network
from components.azure.storage import Storage, container_name
from components.contracts import BoundIdentity

CLIENT_ID_ANNOTATION = "azure.workload.identity/client-id"
USE_LABEL = "azure.workload.identity/use"
TOKEN_AUDIENCE = "api://AzureADTokenExchange"
# Where Feast keeps its registry, in the feature-offline container (CloudFoundation.feature_registry_uri).
FEAST_PREFIX = "feast/"
FEAST_REGISTRY = f"{FEAST_PREFIX}registry.db"

_BLOBS = "Microsoft.Storage/storageAccounts/blobServices/containers/blobs"
_READ = f"{_BLOBS}/read"
_WRITES = (f"{_BLOBS}/write", f"{_BLOBS}/add/action", f"{_BLOBS}/delete", f"{_BLOBS}/move/action")
# Custom roles of the MLOps loop. Create blobs only (Put Blob is `blobs/write`, appends `blobs/add/action`; no read,
# list or delete data action): the capture writers, limited to their prefix by the assignment's condition.
BLOB_CREATOR_DATA_ACTIONS = (f"{_BLOBS}/write", f"{_BLOBS}/add/action")
# Submit Azure ML jobs (Jobs - Create Or Update is `Microsoft.MachineLearningServices/workspaces/jobs/write`) and
# read what a job references in the workspace: the retraining triggers, on the environment's workspace only.
PIPELINE_RUN_ACTIONS = ("Microsoft.MachineLearningServices/workspaces/read",
                        "Microsoft.MachineLearningServices/workspaces/*/read",
                        "Microsoft.MachineLearningServices/workspaces/jobs/write")
_ROLE_NAMESPACE = uuid.UUID("5b6e2f2c-9a41-4c3e-8f0e-5d1c7a9e3b21")


def custom_role_id(subscription: str, environment: str, role: str) -> str:
    """A stable GUID for one of the environment's custom role definitions."""
    return str(uuid.uuid5(_ROLE_NAMESPACE, f"{subscription}/{environment}/{role}"))


def blob_path_condition(prefix: str, *, write: bool) -> str:
    """An Azure ABAC condition (version 2.0) that limits a blob data role to blobs under `prefix`.

    After Microsoft's *Example Azure role assignment conditions for Blob Storage* ("Read or list blobs in
    named folders"): reads and writes need `blobs:path` under the prefix; a listing needs its request `prefix`
    under it (the path attribute is not evaluated for `Blob.List`).
    """
    gated = [f"!(ActionMatches{{'{_READ}'}} AND NOT SubOperationMatches{{'Blob.List'}})"]
    if write:
        gated += [f"!(ActionMatches{{'{action}'}})" for action in _WRITES]
    return (
        f"(({' AND '.join(gated)}) OR "
        f"(@Resource[{_BLOBS}:path] StringStartsWith '{prefix}'))"
        f" AND "
        f"((!(ActionMatches{{'{_READ}'}} AND SubOperationMatches{{'Blob.List'}})) OR "
        f"(@Request[{_BLOBS}:prefix] StringStartsWith '{prefix}'))"
    )


def model_prefix(endpoint: ModelEndpoint) -> str:
    """The folder holding every version of an endpoint's model: `models/<endpoint>/`, or the parent folder of
    a custom `artifact_path` (where the canary's version folder sits beside the stable one)."""
    default = f"models/{endpoint.name}/"
    path = endpoint.model.artifact_path or f"{default}{endpoint.model.version}/"
    if path.startswith(default):
        return default
    parent = path.rstrip("/").rsplit("/", 1)[0]
    return f"{parent}/" if "/" in path.rstrip("/") else path


def model_prefixes(endpoint: ModelEndpoint) -> list[str]:
    """`model_prefix`, and the canary's folder where that does not hold it (an `artifact_path` that starts with
    the version, `3/weights/`): the path the canary pods read (`conventions.canary_artifact_path`)."""
    prefix = model_prefix(endpoint)
    if endpoint.canary is None:
        return [prefix]
    artifact = endpoint.model.artifact_path or f"models/{endpoint.name}/{endpoint.model.version}/"
    canary = c.canary_artifact_path(artifact, endpoint.name, endpoint.model.version, endpoint.canary.version)
    return [prefix] if canary.startswith(prefix) else [prefix, canary]


@dataclass(frozen=True)
class BlobGrant:
    """One role on one container, optionally limited to a path prefix inside it."""

    purpose: BucketPurpose
    role_id: str
    prefix: str | None = None
    write: bool = False


def blob_grants(spec: StackSpec, workload: Workload) -> list[BlobGrant]:
    """What `workload` reads and writes in the environment's containers (see what each workload does in
    `components/kubernetes`: serving reads its model, import writes it, drift reads its samples, the feature
    server reads and writes the Feast registry)."""
    endpoint = next((e for e in spec.model_endpoints if e.name == workload.endpoint), None)
    if workload.kind == "serving" and endpoint is not None:
        return [BlobGrant(BucketPurpose.model_artifacts, ROLE_STORAGE_BLOB_DATA_READER, prefix)
                for prefix in model_prefixes(endpoint)]
    if workload.kind == "model-import" and endpoint is not None:
        return [BlobGrant(BucketPurpose.model_artifacts, ROLE_STORAGE_BLOB_DATA_CONTRIBUTOR, prefix, write=True)
                for prefix in model_prefixes(endpoint)]
    if workload.kind == "drift-monitor" and endpoint is not None:
        return [BlobGrant(BucketPurpose.training_data, ROLE_STORAGE_BLOB_DATA_READER,
                          c.drift_data_prefix(endpoint.name))]
    if workload.kind == "feature-server":
        return [BlobGrant(BucketPurpose.feature_offline, ROLE_STORAGE_BLOB_DATA_CONTRIBUTOR, FEAST_PREFIX,
                          write=True)]
    return []


class AzureWorkloadBinder:
    """The `WorkloadBinder` for AKS workload identity: client-id annotation plus the `use` pod label."""

    def __init__(self, bound: dict[str, tuple[Workload, pulumi.Output[str]]],
                 assignments: Mapping[str, Sequence[pulumi.Resource]] | None = None):
        self._bound = bound
        self._assignments = dict(assignments or {})

    def bind(self, workload: Workload) -> BoundIdentity:
        known, client_id = self._bound[workload.key]
        if (known.namespace, known.service_account) != (workload.namespace, workload.service_account):
            # The federated credential names one service account; any other would fail token exchange.
            raise KeyError(f"{workload.key} is bound to {known.namespace}/{known.service_account}, "
                           f"not {workload.namespace}/{workload.service_account}")
        # Its pods start once its roles are assigned, so their first token exchange is not refused.
        return BoundIdentity(service_account_annotations={CLIENT_ID_ANNOTATION: client_id},
                             pod_labels={USE_LABEL: "true"}, ready=list(self._assignments.get(workload.key, ())))


@dataclass(frozen=True)
class IdentityArgs:
    spec: StackSpec
    network: Network
    storage: Storage
    keys: Keys
    oidc_issuer_url: pulumi.Input[str]
    # The environment's Azure ML workspace: where the retraining triggers submit pipeline jobs.
    workspace_id: pulumi.Input[str] | None = None


class Identity(pulumi.ComponentResource):
    """`aienv:azure:Identity`: `security.workload_permissions: broad` widens read access to the environment's
    resource group; writes and secrets stay on their exact resource either way."""

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
        self.custom_roles = self._custom_roles(name, spec, args)
        # what each endpoint's capture writer and trigger wait for
        self.mlops_grants: dict[str, list[authorization.RoleAssignment]] = {}
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

            def grant(suffix: str, role_id: str, scope: pulumi.Input[str], condition: str | None = None,
                      key: str = key, principal: pulumi.Output[str] = identity.principal_id,
                      ) -> authorization.RoleAssignment:
                return authorization.RoleAssignment(
                    f"{name}-{key}-{suffix}",
                    authorization.RoleAssignmentArgs(
                        principal_id=principal, principal_type=authorization.PrincipalType.SERVICE_PRINCIPAL,
                        role_definition_id=role_definition(subscription, role_id), scope=scope,
                        condition=condition, condition_version="2.0" if condition else None),
                    pulumi.ResourceOptions(parent=self))

            grants = []
            for blob in blob_grants(spec, workload):
                container = st.containers.get(blob.purpose)
                if container is None:
                    continue
                wide = broad and not blob.write
                scope = args.network.resource_group.id if wide else container.id
                condition = None if wide or blob.prefix is None else blob_path_condition(blob.prefix,
                                                                                          write=blob.write)
                grants.append(grant(container_name(blob.purpose), blob.role_id, scope, condition))
            endpoint = next((e for e in spec.model_endpoints if e.name == workload.endpoint), None)
            if workload.kind == "model-import" and endpoint is not None and endpoint.model.source is not None:
                grants += self._source_grants(spec, args, endpoint, grant)
            if workload.kind in ("inference-capture", "retraining-trigger") and endpoint is not None:
                mlops = self._mlops_grants(name, spec, args, workload, endpoint, identity.principal_id)
                self.mlops_grants.setdefault(endpoint.name, []).extend(mlops)
                grants += mlops
            self.identities[key] = identity
            self.assignments[key] = grants
            bound[key] = (workload, identity.client_id)

        self.binder = AzureWorkloadBinder(bound, self.assignments)
        self.register_outputs({
            "identities": {k: i.id for k, i in self.identities.items()},
            "clientIds": {k: i.client_id for k, i in self.identities.items()},
        })

    @staticmethod
    def _source_grants(spec: StackSpec, args: IdentityArgs, endpoint: ModelEndpoint,
                       grant: object) -> list[authorization.RoleAssignment]:
        """The import job reads its token secret (that secret only) and, for a `uri` source, that path."""
        source = endpoint.model.source
        assert source is not None
        out = []
        scope_key = spec.cloud.subscription_id or ""
        if source.token_secret:
            ref = azure_secret_ref(source.token_secret, spec.name, scope_key)
            if ref is not None:  # the spec rules refuse any other reference
                scope = ref.resource_id or pulumi.Output.concat(args.keys.vault.id, "/secrets/", ref.name)
                out.append(grant("token-secret", ROLE_KV_SECRETS_USER, scope))  # type: ignore[operator]
        if source.uri:
            blob = azure_blob_ref(source.uri)
            match = args.storage.container_at(blob.account, blob.container) if blob else None
            if blob is not None and match is not None:
                condition = blob_path_condition(blob.path, write=False) if blob.path else None
                out.append(grant("source", ROLE_STORAGE_BLOB_DATA_READER, match.id,  # type: ignore[operator]
                                 condition))
        return out

    def _custom_roles(self, name: str, spec: StackSpec, args: IdentityArgs) -> dict[str, authorization.RoleDefinition]:
        """The environment's custom roles (assignable in its resource group), when a workload needs them."""
        subscription = spec.cloud.subscription_id or ""
        kinds = {w.kind for w in workloads(spec)}
        wanted = {"blob-creator": ("inference-capture" in kinds, "Create blobs (the capture writers)",
                                   PermissionArgs(data_actions=list(BLOB_CREATOR_DATA_ACTIONS))),
                  "pipeline-runs": ("retraining-trigger" in kinds and args.workspace_id is not None,
                                    "Submit Azure ML pipeline jobs (the retraining triggers)",
                                    PermissionArgs(actions=list(PIPELINE_RUN_ACTIONS)))}
        rg = args.network.resource_group.id
        out: dict[str, authorization.RoleDefinition] = {}
        for role, (needed, description, permission) in wanted.items():
            if not needed:
                continue
            # Role names are unique in the tenant: the environment and its subscription name it.
            out[role] = authorization.RoleDefinition(f"{name}-role-{role}", authorization.RoleDefinitionArgs(
                role_definition_id=custom_role_id(subscription, spec.name, role), scope=rg, assignable_scopes=[rg],
                role_name=f"aienv {spec.name} {role} {subscription[:8]}", description=description,
                permissions=[permission], role_type="CustomRole"), pulumi.ResourceOptions(parent=self))
        return out

    def _mlops_grants(self, name: str, spec: StackSpec, args: IdentityArgs, workload: Workload,
                      endpoint: ModelEndpoint, principal: pulumi.Output[str]) -> list[authorization.RoleAssignment]:
        """The capture writer creates blobs under its prefix; the retraining trigger submits jobs in the workspace
        (and reads the pipeline component where it lives)."""
        subscription = spec.cloud.subscription_id or ""

        def assign(suffix: str, role: str, scope: pulumi.Input[str], condition: str | None = None,
                   custom: bool = True) -> authorization.RoleAssignment:
            definition = self.custom_roles.get(role) if custom else None
            return authorization.RoleAssignment(
                f"{name}-{workload.key}-{suffix}", authorization.RoleAssignmentArgs(
                    principal_id=principal, principal_type=authorization.PrincipalType.SERVICE_PRINCIPAL,
                    role_definition_id=role_definition(subscription, custom_role_id(subscription, spec.name, role)
                                                       if custom else role),
                    scope=scope, condition=condition, condition_version="2.0" if condition else None),
                pulumi.ResourceOptions(parent=self, depends_on=[definition] if definition is not None else None))

        if workload.kind == "inference-capture":
            container = args.storage.containers.get(BucketPurpose.training_data)
            if container is None:
                return []
            return [assign("capture", "blob-creator", container.id,
                           blob_path_condition(c.capture_prefix(endpoint.name), write=True))]
        rt = endpoint.retraining
        if rt is None or args.workspace_id is None:
            return []
        out = [assign("pipeline-runs", "pipeline-runs", args.workspace_id)]
        component = rt.pipeline.split("/components/")[0]
        if "/registries/" in component.lower() and component.startswith("/subscriptions/"):
            out.append(assign("pipeline-registry", ROLE_READER, component, custom=False))
        return out
