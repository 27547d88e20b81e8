"""`aienv:gcp:Identity`: a Google service account per workload, usable only by that workload's Kubernetes
service account (Workload Identity), with roles on exactly the buckets, repository, dataset and feature
views it uses; `security.workload_permissions: broad` swaps those for project-wide read roles."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
from pulumi_gcp import artifactregistry, bigquery, projects, serviceaccount, storage, vertex

from aienv.spec.model import BucketPurpose, StackSpec
from aienv.workloads import Workload, workloads
from components.contracts import BoundIdentity
from components.gcp import common

OBJECT_VIEWER = "roles/storage.objectViewer"
OBJECT_CREATOR = "roles/storage.objectCreator"
REPO_READER = "roles/artifactregistry.reader"
DATASET_VIEWER = "roles/bigquery.dataViewer"
FEATURE_VIEW_READER = "roles/aiplatform.featurestoreDataViewer"
# `broad`: service-wide read (never Editor/Owner) instead of the resource grants.
BROAD_ROLES = (OBJECT_VIEWER, REPO_READER, DATASET_VIEWER, "roles/aiplatform.viewer")

# What each workload kind reads (R) or writes (W), by bucket purpose.
BUCKET_ACCESS: dict[str, tuple[tuple[BucketPurpose, str], ...]] = {
    "serving": ((BucketPurpose.model_artifacts, OBJECT_VIEWER),),
    # Drift compares recent traffic with the training baseline and writes its reports to the logs bucket.
    "drift-monitor": ((BucketPurpose.training_data, OBJECT_VIEWER), (BucketPurpose.logs, OBJECT_CREATOR)),
    "feature-server": ((BucketPurpose.feature_offline, OBJECT_VIEWER),),
}


def account_id(spec: StackSpec, workload: Workload) -> str:
    """GSA ids are 6-30 characters; long ones keep a readable head and a hash tail."""
    plain = f"{spec.name}-{workload.key}"
    return plain if len(plain) <= 30 else common.physical_name(spec, workload.key, 30)


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
    repository: artifactregistry.Repository
    dataset: bigquery.Dataset | None = None
    online_store: vertex.AiFeatureOnlineStore | None = None
    feature_views: Mapping[str, vertex.AiFeatureOnlineStoreFeatureview] = field(default_factory=dict)
    cluster: pulumi.Resource | None = None  # the workload pool exists once the cluster does
    after: Sequence[pulumi.Resource] = ()  # the IAM and Resource Manager APIs


class Identity(pulumi.ComponentResource):
    accounts: dict[str, serviceaccount.Account]
    binder: GcpBinder

    def __init__(self, name: str, args: IdentityArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aienv:gcp:Identity", name, None, opts)
        spec = args.spec
        project = spec.cloud.project or ""
        scoped = spec.security.workload_permissions == "scoped"
        self.accounts = {}
        opts_child = pulumi.ResourceOptions(parent=self, depends_on=list(args.after))

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

            if scoped:
                self._scoped(name, wl, member, args)
            else:
                for role in BROAD_ROLES:
                    projects.IAMMember(f"{name}-{wl.key}-{role.split('/')[-1].replace('.', '-').lower()}",
                                       projects.IAMMemberArgs(project=project, role=role, member=member), opts_child)
            # Writes stay scoped even under `broad`.
            for purpose, role in BUCKET_ACCESS.get(wl.kind, ()):
                bucket = args.buckets.get(purpose)
                if bucket is not None and (scoped or role != OBJECT_VIEWER):
                    storage.BucketIAMMember(f"{name}-{wl.key}-{purpose.value.replace('_', '-')}",
                                            storage.BucketIAMMemberArgs(bucket=bucket.name, role=role, member=member),
                                            opts_child)

        self.binder = GcpBinder({k: a.email for k, a in self.accounts.items()})
        self.register_outputs({"serviceAccounts": {k: a.email for k, a in self.accounts.items()}})

    def _scoped(self, name: str, wl: Workload, member: pulumi.Output[str], args: IdentityArgs) -> None:
        opts = pulumi.ResourceOptions(parent=self)
        spec = args.spec
        if wl.kind == "serving":
            artifactregistry.RepositoryIamMember(f"{name}-{wl.key}-pull", artifactregistry.RepositoryIamMemberArgs(
                repository=args.repository.name, location=args.repository.location, project=spec.cloud.project,
                role=REPO_READER, member=member), opts)
        if wl.kind == "feature-server":
            if args.dataset is not None:
                bigquery.DatasetIamMember(f"{name}-{wl.key}-offline", bigquery.DatasetIamMemberArgs(
                    dataset_id=args.dataset.dataset_id, project=spec.cloud.project, role=DATASET_VIEWER,
                    member=member), opts)
            if args.online_store is not None:
                for view, fv in args.feature_views.items():
                    vertex.AiFeatureOnlineStoreFeatureviewIamMember(
                        f"{name}-{wl.key}-{view.replace('_', '-')}", vertex.AiFeatureOnlineStoreFeatureviewIamMemberArgs(
                            feature_online_store=args.online_store.name, feature_view=fv.name, region=spec.region,
                            project=spec.cloud.project, role=FEATURE_VIEW_READER, member=member), opts)
