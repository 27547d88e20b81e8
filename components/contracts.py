"""What every cloud foundation hands the shared Kubernetes layer.

The Kubernetes layer talks to the cloud only through a `CloudFoundation`: a Kubernetes provider on the
cluster's kubeconfig, a workload-identity binder, bucket/registry references and the online store.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

import pulumi
import pulumi_kubernetes as k8s

from aienv.gpus import DriverMode
from aienv.images import UpstreamImage
from aienv.workloads import Workload

CloudName = Literal["aws", "azure", "gcp"]


@dataclass(frozen=True)
class BoundIdentity:
    """How a Kubernetes service account gets its cloud identity."""

    service_account_annotations: Mapping[str, pulumi.Input[str]]  # e.g. eks.amazonaws.com/role-arn
    pod_labels: Mapping[str, str] = field(default_factory=dict)  # e.g. azure.workload.identity/use: "true"


class WorkloadBinder(Protocol):
    """Maps a workload (namespace + service account) to the cloud identity the foundation made for it."""

    def bind(self, workload: Workload) -> BoundIdentity:
        """The annotations/labels for `workload`; raises KeyError for a workload the foundation did not bind."""
        ...


class ImageSource(Protocol):
    """Where pods pull images from: the environment's registry, filled by the stack's own caches of the
    upstream registries (ECR pull-through cache rules, ACR cache rules, Artifact Registry remote
    repositories) or by the team's CI."""

    def cached(self, image: UpstreamImage) -> pulumi.Input[str]:
        """The reference pods pull for `image` through the cache of its upstream registry."""
        ...

    def pushed(self, family: str, image: str) -> pulumi.Input[str]:
        """The reference of `image` (`name:tag` or `name@sha256:...`) that the team's CI pushes to `family`."""
        ...


@dataclass(frozen=True)
class OnlineStoreEndpoint:
    """The Redis online store, reached over TLS with a password."""

    host: pulumi.Output[str]
    port: pulumi.Input[int]
    password: pulumi.Output[str]  # a secret
    tls: bool = True
    # PEM of the private CA that signs the server's certificate (Memorystore); None: a publicly trusted CA.
    ca_certificate: pulumi.Output[str] | None = None


@dataclass(frozen=True)
class OfflineStore:
    kind: Literal["s3", "adls", "bigquery"]
    location: pulumi.Output[str]  # s3://bucket/prefix | abfss://container@account.dfs.core.windows.net/ | project.dataset


@dataclass(frozen=True)
class GpuPoolRef:
    """A GPU node pool as the scheduler sees it (labels/taints as written on the nodes)."""

    name: str
    gpu_type: str
    gpus_per_node: int
    node_labels: Mapping[str, str]


@dataclass(frozen=True)
class CloudFoundation:
    cloud: CloudName
    cluster_name: pulumi.Output[str]
    kubeconfig: pulumi.Output[str]  # a secret
    kube_provider: k8s.Provider
    binder: WorkloadBinder
    model_bucket_uri: pulumi.Output[str]  # s3://bucket | gs://bucket | https://<acct>.blob.core.windows.net/<container>
    data_bucket_uri: pulumi.Output[str]
    registry_url: pulumi.Output[str]  # registry host/path images are pulled from
    gpu_pools: Sequence[GpuPoolRef]
    driver_mode: DriverMode
    # "cluster-autoscaler": the Kubernetes layer installs it (EKS); "cloud": the cloud's own autoscaler (AKS, GKE).
    autoscaler: Literal["cluster-autoscaler", "cloud"]
    storage_class: str  # an encrypted storage class for Prometheus/Grafana volumes
    region: str
    online_store: OnlineStoreEndpoint | None = None
    offline_store: OfflineStore | None = None
    # Resources the Kubernetes layer must wait for (node groups/pools, access entries).
    cluster_ready: Sequence[pulumi.Resource] = ()
    # The registry's caches and CI repositories; None: images are referenced as `<registry_url>/<family>/<name>`.
    images: ImageSource | None = None
    # Where the Feast registry file lives (`s3://<feature-offline>/feast/registry.db`, `gs://...`, or on Azure
    # `https://<account>.blob.core.windows.net/<container>/feast/registry.db`); the feature-server identity can
    # read and write exactly this object's folder. None: no registry location (feature store off).
    feature_registry_uri: pulumi.Output[str] | None = None
