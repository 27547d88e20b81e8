"""`aienv:gcp:Identity`: a Google service account per workload, usable only by that workload's Kubernetes
service account (Workload Identity), with roles on exactly the objects it reads or writes: Cloud Storage
managed folders for the model, drift and Feast prefixes, the offline dataset, the model sources' token
secrets. `security.workload_permissions: broad` swaps the read grants for project-wide read roles."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
from pulumi_gcp import artifactregistry, bigquery, projects, secretmanager, serviceaccount, storage

from aienv import conventions as c
from aienv.spec.model import BucketPurpose, ModelEndpoint, StackSpec
from aienv.workloads import Workload, workloads
from components.contracts import BoundIdentity
from components.gcp import common

OBJECT_VIEWER = "roles/storage.objectViewer"
# Create objects only ("Allows users to create objects. Does not give permission to view, delete, or replace
# objects", Cloud Storage IAM roles): the capture writers.
OBJECT_CREATOR = "roles/storage.objectCreator"
# A Vertex AI pipeline's own service account needs what "Vertex AI User" grants a pipeline ("You must grant the
# following roles to the service account for Vertex AI Pipelines in the pipeline project: Vertex AI User ...
# aiplatform.metadataStores.get allows the service account to create a pipeline job. aiplatform.models.upload ...",
# Vertex AI, Tabular Workflows service accounts); a custom role keeps it to what a run does ("we recommend using
# custom roles ... to limit access to only the permissions needed", Vertex AI access control with IAM): run its
# steps as custom jobs, record lineage in Vertex ML Metadata, upload the new version to the Model Registry.
PIPELINE_RUNTIME_PERMISSIONS = (
    "aiplatform.customJobs.create", "aiplatform.customJobs.get", "aiplatform.customJobs.cancel",
    "aiplatform.pipelineJobs.get", "aiplatform.metadataStores.get",
    "aiplatform.artifacts.create", "aiplatform.artifacts.get", "aiplatform.artifacts.list",
    "aiplatform.artifacts.update", "aiplatform.executions.create", "aiplatform.executions.get",
    "aiplatform.executions.list", "aiplatform.executions.update", "aiplatform.contexts.create",
    "aiplatform.contexts.get", "aiplatform.contexts.list", "aiplatform.contexts.update",
    "aiplatform.contexts.addContextArtifactsAndExecutions", "aiplatform.contexts.addContextChildren",
    "aiplatform.models.upload", "aiplatform.models.get", "aiplatform.models.list")
SA_USER = "roles/iam.serviceAccountUser"
# What a retraining trigger does with Vertex AI: create a PipelineJob (and read it back); the run's permissions are
# its pipeline account's, which only the endpoint's trigger may act as.
PIPELINE_RUN_PERMISSIONS = ("aiplatform.pipelineJobs.create", "aiplatform.pipelineJobs.get")
PIPELINES_FOLDER = "pipelines/"
# Read, create, overwrite and delete objects (no IAM, no bucket settings): an import rewrites a partial copy.
OBJECT_USER = "roles/storage.objectUser"
DATASET_VIEWER = "roles/bigquery.dataViewer"
SECRET_ACCESSOR = "roles/secretmanager.secretAccessor"
# `broad`: service-wide read (never Editor/Owner) instead of the resource grants.
BROAD_ROLES = (OBJECT_VIEWER, "roles/artifactregistry.reader", DATASET_VIEWER, "roles/aiplatform.viewer")
FEAST_FOLDER = "feast/"


def account_id(spec: StackSpec, workload: Workload) -> str:
    """GSA ids are 6-30 characters; long ones keep a readable head and a hash tail."""
    plain = f"{spec.name}-{workload.key}"
    return plain if len(plain) <= 30 else common.physical_name(spec, workload.key, 30)


def model_folders(endpoint: ModelEndpoint) -> list[str]:
    """The folders an endpoint's model versions live in: the artifact path's parent when the path names the
    version (`models/<endpoint>/<version>/` -> `models/<endpoint>/`, which holds the canary's version too),
    else the artifact path and the path the canary reads."""
    artifact = (endpoint.model.artifact_path or f"models/{endpoint.name}/{endpoint.model.version}/").strip("/")
    segment = f"/{endpoint.model.version}"
    full = f"/{artifact}"
    if full.endswith(segment) or f"{segment}/" in full:
        head = full[: full.rindex(segment)].strip("/")
        if head:
            return [f"{head}/"]
    folders = [f"{artifact}/"]
    if endpoint.canary is not None:
        # The path the canary pods read (serving.py calls the same function).
        canary = c.canary_artifact_path(f"{artifact}/", endpoint.name, endpoint.model.version,
                                        endpoint.canary.version)
        if canary not in folders:
            folders.append(canary)
    return folders


def secret_name(secret: str, project: str) -> str:
    """`projects/<p>/secrets/<id>` of a Secret Manager secret given by id or resource name (any version
    suffix dropped: access is granted on the secret)."""
    if secret.startswith("projects/"):
        return "/".join(secret.split("/")[:4])
    return f"projects/{project}/secrets/{secret}"


def gs_prefix(uri: str) -> tuple[str, str]:
    """(bucket, object prefix) of `gs://bucket/prefix`."""
    bucket, _, prefix = uri.removeprefix("gs://").partition("/")
    return bucket, prefix


@dataclass(frozen=True)
class GcpBinder:
    """The `WorkloadBinder` the Kubernetes layer uses: the GSA e-mail as the KSA annotation."""

    emails: Mapping[str, pulumi.Output[str]]

    def bind(self, workload: Workload) -> BoundIdentity:
        return BoundIdentity(service_account_annotations={
            common.WORKLOAD_IDENTITY_ANNOTATION: self.emails[workload.key]})


@dataclass(frozen=True)
class IdentityArgs:
    spec: StackSpec
    buckets: Mapping[BucketPurpose, storage.Bucket]
    dataset: bigquery.Dataset | None = None
    cluster: pulumi.Resource | None = None  # the workload pool exists once the cluster does
    after: Sequence[pulumi.Resource] = ()  # the IAM, Resource Manager and Secret Manager APIs


class Identity(pulumi.ComponentResource):
    accounts: dict[str, serviceaccount.Account]
    folders: dict[tuple[BucketPurpose, str], storage.ManagedFolder]
    binder: GcpBinder

    def __init__(self, name: str, args: IdentityArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aienv:gcp:Identity", name, None, opts)
        spec = args.spec
        project = spec.cloud.project or ""
        scoped = spec.security.workload_permissions == "scoped"
        self.accounts = {}
        self.folders = {}
        self._opts = opts_child = pulumi.ResourceOptions(parent=self, depends_on=list(args.after))
        self._prefix, self._args = name, args
        # The service account each endpoint's retraining pipeline runs as (not a Kubernetes workload).
        self.pipeline_accounts: dict[str, serviceaccount.Account] = {}
        self._run_role: projects.IAMCustomRole | None = None
        self._runtime_role: projects.IAMCustomRole | None = None
        self.mlops_grants: dict[str, list[pulumi.Resource]] = {}  # what each endpoint's capture and trigger wait for
        for ep in spec.model_endpoints:
            if ep.retraining is not None:
                self.pipeline_accounts[ep.name] = self._pipeline_account(ep)

        for wl in workloads(spec):
            sa = serviceaccount.Account(f"{name}-{wl.key}", serviceaccount.AccountArgs(
                account_id=account_id(spec, wl), project=project, display_name=f"aienv {spec.name} {wl.key}",
                description=f"Workload Identity for {wl.namespace}/{wl.service_account}"), opts_child)
            self.accounts[wl.key] = sa
            member = sa.email.apply(lambda e: f"serviceAccount:{e}")
            # Only this namespace/service account may impersonate the GSA.
            serviceaccount.IAMMember(f"{name}-{wl.key}-wi", serviceaccount.IAMMemberArgs(
                service_account_id=sa.name, role="roles/iam.workloadIdentityUser",
                member=f"serviceAccount:{project}.svc.id.goog[{wl.namespace}/{wl.service_account}]"),
                pulumi.ResourceOptions(parent=self, depends_on=[args.cluster] if args.cluster else None))

            if not scoped:
                for role in BROAD_ROLES:
                    projects.IAMMember(f"{name}-{wl.key}-{role.split('/')[-1].replace('.', '-').lower()}",
                                       projects.IAMMemberArgs(project=project, role=role, member=member), opts_child)
            self._grants(wl, member, scoped)

        self.binder = GcpBinder({k: a.email for k, a in self.accounts.items()})
        self.register_outputs({"serviceAccounts": {k: a.email for k, a in self.accounts.items()},
                               "pipelineAccounts": {k: a.email for k, a in self.pipeline_accounts.items()},
                               "managedFolders": {f"{p.value}/{n}": f.id for (p, n), f in self.folders.items()}})

    def _folder(self, purpose: BucketPurpose, path: str) -> storage.ManagedFolder | None:
        """The managed folder `path` of the `purpose` bucket (created once): IAM on it reaches exactly the objects
        under that prefix ("the access granted in the policy applies to any object within the bucket that uses
        the managed folder path as a prefix", cloud.google.com/storage/docs/managed-folders)."""
        bucket = self._args.buckets.get(purpose)
        if bucket is None:
            return None
        key = (purpose, path)
        if key not in self.folders:
            slug = path.strip("/").replace("/", "-").replace("_", "-").replace(".", "-")
            # Deleting a managed folder leaves its objects in place; it holds no data of its own.
            self.folders[key] = storage.ManagedFolder(
                f"{self._prefix}-folder-{purpose.value.replace('_', '-')}-{slug}", storage.ManagedFolderArgs(
                    bucket=bucket.name, name=path, force_destroy=True), self._opts)
        return self.folders[key]

    def _on_folder(self, wl: Workload, purpose: BucketPurpose, path: str, role: str,
                   member: pulumi.Output[str]) -> storage.ManagedFolderIamMember | None:
        folder = self._folder(purpose, path)
        if folder is None:
            return None
        slug = path.strip("/").replace("/", "-").replace("_", "-").replace(".", "-")
        return storage.ManagedFolderIamMember(f"{self._prefix}-{wl.key}-{slug}", storage.ManagedFolderIamMemberArgs(
            bucket=folder.bucket, managed_folder=folder.name, role=role, member=member), self._opts)

    def _grants(self, wl: Workload, member: pulumi.Output[str], scoped: bool) -> None:
        """What each workload does, and nothing else (reads under `broad` come from the project-wide roles)."""
        spec, name, opts = self._args.spec, self._prefix, self._opts
        endpoint = next((e for e in spec.model_endpoints if e.name == wl.endpoint), None)
        if wl.kind == "serving" and endpoint is not None and scoped:
            # The model server syncs its version's weights (images are pulled by the node identity).
            for path in model_folders(endpoint):
                self._on_folder(wl, BucketPurpose.model_artifacts, path, OBJECT_VIEWER, member)
        elif wl.kind == "model-import" and endpoint is not None:
            # Writes exactly the endpoint's model folders (the bucket's CMEK is applied by the storage agent).
            for path in model_folders(endpoint):
                self._on_folder(wl, BucketPurpose.model_artifacts, path, OBJECT_USER, member)
            source = endpoint.model.source
            if source is not None and source.token_secret:
                secretmanager.SecretIamMember(f"{name}-{wl.key}-token", secretmanager.SecretIamMemberArgs(
                    secret_id=secret_name(source.token_secret, spec.cloud.project or ""), role=SECRET_ACCESSOR,
                    member=member), opts)
            if source is not None and source.uri and source.uri.startswith("gs://"):
                self._source_read(wl, source.uri, member)
        elif wl.kind == "drift-monitor" and endpoint is not None and scoped:
            # Reads its endpoint's baseline and recent samples; it writes nothing to buckets (scores go to the
            # Pushgateway).
            self._on_folder(wl, BucketPurpose.training_data, c.drift_data_prefix(endpoint.name), OBJECT_VIEWER,
                            member)
        elif wl.kind == "inference-capture" and endpoint is not None:
            # Creates its batches under `recent/` (never reads, lists, replaces or deletes), in every mode.
            grant = self._on_folder(wl, BucketPurpose.training_data, c.capture_prefix(endpoint.name),
                                    OBJECT_CREATOR, member)
            self.mlops_grants.setdefault(endpoint.name, []).extend([grant] if grant is not None else [])
        elif wl.kind == "retraining-trigger" and endpoint is not None and endpoint.retraining is not None:
            self._trigger(wl, endpoint, member)
        elif wl.kind == "feature-server":
            # Feast reads and writes its registry (`feast/registry.db`), and `feast apply` reads the offline
            # tables' schemas.
            self._on_folder(wl, BucketPurpose.feature_offline, FEAST_FOLDER, OBJECT_USER, member)
            if scoped and self._args.dataset is not None:
                bigquery.DatasetIamMember(f"{name}-{wl.key}-offline", bigquery.DatasetIamMemberArgs(
                    dataset_id=self._args.dataset.dataset_id, project=spec.cloud.project, role=DATASET_VIEWER,
                    member=member), opts)

    def _source_read(self, wl: Workload, uri: str, member: pulumi.Output[str]) -> storage.BucketIAMMember:
        """Read `gs://bucket/prefix` of a model source the team owns. Object reads are limited to the prefix by
        an IAM condition; listing is checked on the bucket itself (`projects/_/buckets/<bucket>`), so the listing
        condition names the bucket (Cloud Storage "IAM Conditions": resource.name of a bucket and of objects)."""
        bucket, prefix = gs_prefix(uri)
        objects = f"projects/_/buckets/{bucket}/objects/{prefix}"
        return storage.BucketIAMMember(f"{self._prefix}-{wl.key}-source", storage.BucketIAMMemberArgs(
            bucket=bucket, role=OBJECT_VIEWER, member=member,
            condition=storage.BucketIAMMemberConditionArgs(
                title=f"aienv-{wl.key}-source"[:100],
                description=f"Model source of {wl.endpoint}: objects under {prefix or '/'} and the listing",
                expression=(f'resource.name == "projects/_/buckets/{bucket}" || '
                            f'resource.name.startsWith("{objects}")'))), self._opts)

    def _pipeline_account(self, endpoint: ModelEndpoint) -> serviceaccount.Account:
        """The endpoint's pipeline account: reads its `drift/` and `training/` data, writes new versions in its model
        folders and its pipeline root `pipelines/<endpoint>/`, and uses Vertex AI (uploads models to the registry)."""
        spec, name, project = self._args.spec, self._prefix, self._args.spec.cloud.project or ""
        key = f"pipeline-{endpoint.name}"
        sa = serviceaccount.Account(f"{name}-{key}", serviceaccount.AccountArgs(
            account_id=common.physical_name(spec, f"{endpoint.name}-pipe", 30), project=project,
            display_name=f"aienv {spec.name} {endpoint.name} retraining",
            description=f"The Vertex AI pipeline that retrains {endpoint.name}"), self._opts)
        member = sa.email.apply(lambda e: f"serviceAccount:{e}")
        wl = Workload(key, "retraining-trigger", "", "", endpoint.name)  # names the grants only
        for path in (c.drift_data_prefix(endpoint.name), f"training/{endpoint.name}/"):
            self._on_folder(wl, BucketPurpose.training_data, path, OBJECT_VIEWER, member)
        self._on_folder(wl, BucketPurpose.training_data, f"{PIPELINES_FOLDER}{endpoint.name}/", OBJECT_USER, member)
        for path in model_folders(endpoint):
            self._on_folder(wl, BucketPurpose.model_artifacts, path, OBJECT_USER, member)
        if self._runtime_role is None:
            self._runtime_role = projects.IAMCustomRole(f"{name}-pipeline-runtime", projects.IAMCustomRoleArgs(
                role_id=f"aienv_{spec.name.replace('-', '_')}_pipeline_runtime"[:64], project=project,
                title=f"aienv {spec.name} pipeline runtime", permissions=list(PIPELINE_RUNTIME_PERMISSIONS),
                description="What a Vertex AI pipeline run does (the retraining pipelines' accounts)"), self._opts)
        projects.IAMMember(f"{name}-{key}-runtime", projects.IAMMemberArgs(
            project=project, role=self._runtime_role.name, member=member), self._opts)
        return sa

    def _trigger(self, wl: Workload, endpoint: ModelEndpoint, member: pulumi.Output[str]) -> None:
        """Create PipelineJobs that run as exactly the endpoint's pipeline account, from its template."""
        spec, name, project = self._args.spec, self._prefix, self._args.spec.cloud.project or ""
        rt = endpoint.retraining
        assert rt is not None
        if self._run_role is None:
            self._run_role = projects.IAMCustomRole(f"{name}-pipeline-runs", projects.IAMCustomRoleArgs(
                role_id=f"aienv_{spec.name.replace('-', '_')}_pipeline_runs"[:64], project=project,
                title=f"aienv {spec.name} pipeline runs", permissions=list(PIPELINE_RUN_PERMISSIONS),
                description="Start Vertex AI pipeline runs (the retraining triggers)"), self._opts)
        grants = self.mlops_grants.setdefault(endpoint.name, [])
        grants.append(projects.IAMMember(f"{name}-{wl.key}-runs", projects.IAMMemberArgs(
            project=project, role=self._run_role.name, member=member), self._opts))
        grants.append(serviceaccount.IAMMember(f"{name}-{wl.key}-act-as", serviceaccount.IAMMemberArgs(
            service_account_id=self.pipeline_accounts[endpoint.name].name, role=SA_USER, member=member),
            self._opts))
        template = rt.pipeline
        if template.startswith("gs://"):
            grants.append(self._source_read(wl, template, member))
        else:  # https://<region>-kfp.pkg.dev/<project>/<repository>/...
            host, _, path = template.removeprefix("https://").partition("/")
            repo_project, _, rest = path.partition("/")
            grants.append(artifactregistry.RepositoryIamMember(f"{name}-{wl.key}-template", artifactregistry.RepositoryIamMemberArgs(
                project=repo_project, location=host.removesuffix("-kfp.pkg.dev"), repository=rest.partition("/")[0],
                role="roles/artifactregistry.reader", member=member), self._opts))
