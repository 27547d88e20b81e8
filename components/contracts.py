"""What every cloud foundation hands the shared Kubernetes layer.

The Kubernetes layer talks to the cloud only through a `CloudFoundation`: a Kubernetes provider on the
cluster's kubeconfig, a workload-identity binder, bucket/registry references and the online store.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

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
    # The workload's own grants (policies, role assignments): its service account waits for them, so its pods
    # do not start before their first call would be allowed. Only its own: a wait on every workload's grants
    # makes each workload depend on all others, which the engine's cycle check pays for quadratically.
    ready: Sequence[pulumi.Resource] = ()


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
class EgressTarget:
    """A fixed address some pods must reach besides DNS and HTTPS (e.g. the node's metadata server)."""

    cidr: str
    ports: tuple[int, ...]


class ObjectStoreCli(Protocol):
    """The cloud's command-line client, as shell fragments pods run with their workload identity.

    Every fragment reads object URIs from environment variables (`uri_var` names one), because bucket URIs
    are provider outputs; it exits non-zero on failure unless said otherwise. The image must have a POSIX
    `sh`; the containers run non-root with a read-only root filesystem and a writable `/tmp`.
    """

    @property
    def env(self) -> Mapping[str, str]:
        """Fixed environment of its containers (config directories under /tmp, telemetry off)."""
        ...

    def accepts(self, uri: str) -> bool:
        """Whether `uri` is an object of this cloud's store (a `model.source.uri` must be)."""
        ...

    def login(self) -> str:
        """Establishes the workload identity for the fragments below (may be `true`)."""
        ...

    def download(self, uri_var: str, directory: str) -> str:
        """Copies every object under the prefix `$uri_var` into `directory` (relative paths kept)."""
        ...

    def upload(self, directory: str, uri_var: str) -> str:
        """Copies the files under `directory` to the prefix `$uri_var`."""
        ...

    def exists(self, uri_var: str) -> str:
        """Exits 0 when the object `$uri_var` exists, non-zero otherwise (never fails loudly)."""
        ...

    def put_marker(self, uri_var: str) -> str:
        """Writes a small object at `$uri_var`."""
        ...

    def list_times(self, uri_var: str, out_file: str) -> str:
        """Writes `<key relative to the prefix $uri_var>\t<last-modified, ISO 8601>` lines to `out_file`."""
        ...

    def read_secret(self, ref: str, out_file: str) -> str:
        """Writes the value of the cloud secret `ref` (as the spec names it) to `out_file`."""
        ...


@dataclass(frozen=True)
class StorageClassParams:
    """How the cloud provisions an encrypted block volume (CSI provisioner and its parameters)."""

    provisioner: str
    parameters: Mapping[str, pulumi.Input[str]]


@dataclass(frozen=True)
class KubernetesSupport:
    """What differs per cloud inside the shared Kubernetes layer, so the layer never branches on the cloud."""

    # Bucket sync, existence checks and secret reads in init containers and jobs.
    object_store: ObjectStoreCli
    # (supply, `name:tag`) of the helper images: `object-store` (the image of `object_store`), `python`, `feast`;
    # supply `cache` pulls through the registry's upstream caches, `ci` is pushed by the team's CI.
    tool_images: Mapping[str, tuple[str, str]]
    # Addresses pods reach for their cloud identity (GKE metadata server); empty where tokens are projected.
    identity_egress: Sequence[EgressTarget]
    # Environment every pod that calls the cloud gets (e.g. AWS_REGION).
    workload_env: Mapping[str, str]
    # The managed Redis TLS port, known before the store exists (the online store's port may be unknown in a
    # first preview; network policies need a number).
    online_store_port: int
    # Service annotations of the gateway's load balancers, by exposure (`internal`, `public`).
    load_balancer_annotations: Mapping[str, Mapping[str, str]]
    # The cluster DNS kube-prometheus-stack can scrape: `coredns` (EKS, AKS) or `kube-dns` (GKE).
    cluster_dns: Literal["coredns", "kube-dns"]
    # RuntimeClass handler of the NVIDIA runtime on GPU nodes the GPU operator uses; None: operator default.
    gpu_runtime_class: str | None
    # (host path, container path) of a cloud-managed NVIDIA driver the DCGM exporter mounts; None: not needed.
    gpu_driver_mount: tuple[str, str] | None
    # Feast `registry_store_type` for `feature_registry_uri`; None: Feast picks the store from the URI scheme.
    feast_registry_store: str | None
    # Whether the cluster serves `metrics.k8s.io` (metrics-server), which `cpu` autoscaling needs.
    metrics_server: bool
    # Values of the cluster-autoscaler chart that name the cloud (used when `autoscaler` is cluster-autoscaler).
    cluster_autoscaler_values: Mapping[str, Any]
    # An encrypted volume type for per-pod scratch (generic ephemeral volumes: model weights, import staging).
    scratch_storage: StorageClassParams


@dataclass(frozen=True)
class PipelineRun:
    """How an endpoint's retraining trigger starts a run of the cloud's pipeline service."""

    # How the trigger writes the run's parameters into the request (aienv/retrain.py `render`).
    shape: Literal["sagemaker", "vertex", "azureml"]
    # JSON of the request body, `$RUN_ID` where the run id goes (the parameters are added by the trigger).
    template: pulumi.Input[str]
    # Shell lines that send the request in the file `$REQUEST` for the run `$RUN_ID`, exit 0 when the run exists
    # afterwards (also when it existed before: a trigger may send the same run twice).
    start: str
    env: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class MlopsSupport:
    """The cloud side of the MLOps loop as the Kubernetes layer uses it (components/<cloud>/mlops_support.py)."""

    # The helper image (a key of KubernetesSupport.tool_images: `object-store` or `python`) the capture uploader
    # and the retraining runner use, and files their shell lines need (mounted under MLOPS_TOOL_DIR).
    tool: str
    put_file: Callable[[str, str], str]  # (path_var, uri_var) -> shell: upload `$path_var` as the object `$uri_var`;
    # it only creates objects (the capture writer may not read, list, overwrite or delete)
    pipelines: Mapping[str, PipelineRun] = field(default_factory=dict)  # endpoint -> its retraining run
    files: Mapping[str, str] = field(default_factory=dict)
    login: str = "true"  # establishes the pod's cloud identity for the lines above (run before them)
    # The capture writers', rollouts' and triggers' grants (policies, role assignments), by endpoint: that
    # endpoint's pods wait for them, since IAM changes take time to apply. Per endpoint, because waiting for every
    # endpoint's grants would make each endpoint depend on all others: the engine's cycle check on each new
    # dependency walks the transitive dependencies, so the plan grew with the square of the endpoints.
    grants: Mapping[str, Sequence[pulumi.Resource]] = field(default_factory=dict)

    def grants_of(self, endpoint: str) -> list[pulumi.Resource]:
        return list(self.grants.get(endpoint, ()))


MLOPS_TOOL_DIR = "/opt/aienv-cloud"


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
    # Per-cloud facts of the Kubernetes layer (components/<cloud>/kubernetes_support.py).
    kubernetes: KubernetesSupport
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
    # Capture uploads and retraining runs (components/<cloud>/mlops_support.py); None: the layer refuses capture
    # and retraining.
    mlops: MlopsSupport | None = None
