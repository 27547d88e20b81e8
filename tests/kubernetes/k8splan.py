"""Test bed for the Kubernetes layer: a CloudFoundation built without any cloud, and plan helpers."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from aienv import conventions as c
from aienv.engine import Plan, RecordedResource, plan_program
from aienv.engine.wire import reveal
from aienv.gpus import DRIVER_MODES
from aienv.images import UpstreamImage
from aienv.spec import load_spec
from aienv.spec.model import StackSpec
from aienv.workloads import Workload, workloads
from components.contracts import (
    BoundIdentity,
    CloudFoundation,
    GpuPoolRef,
    KubernetesSupport,
    MlopsSupport,
    OfflineStore,
    OnlineStoreEndpoint,
)
from components.kubernetes.layer import KubernetesLayer, KubernetesLayerArgs

KUBECONFIG = """apiVersion: v1
kind: Config
clusters:
- name: test
  cluster: {server: "https://127.0.0.1:6443", insecure-skip-tls-verify: true}
users:
- name: test
  user: {token: test}
contexts:
- name: test
  context: {cluster: test, user: test}
current-context: test
"""

REGISTRY = {"aws": "123456789012.dkr.ecr.us-east-1.amazonaws.com/test",
            "azure": "testacr.azurecr.io", "gcp": "europe-west4-docker.pkg.dev/acme-ml-prod/test"}
MODEL_BUCKET = {"aws": "s3://test-models", "azure": "https://testsa.blob.core.windows.net/models",
                "gcp": "gs://test-models"}
DATA_BUCKET = {"aws": "s3://test-data", "azure": "https://testsa.blob.core.windows.net/data",
               "gcp": "gs://test-data"}
REDIS_PORT = {"aws": 6379, "azure": 10000, "gcp": 6378}
OFFLINE = {"aws": ("s3", "s3://test-data/offline/"), "azure": ("adls", "abfss://offline@testsa.dfs.core.windows.net/"),
           "gcp": ("bigquery", "acme-ml-prod.features")}
REGISTRY_FILE = {"aws": "s3://test-offline/feast/registry.db",
                 "azure": "https://testsa.blob.core.windows.net/feature-offline/feast/registry.db",
                 "gcp": "gs://test-offline/feast/registry.db"}
ANNOTATION = {"aws": "eks.amazonaws.com/role-arn", "azure": "azure.workload.identity/client-id",
              "gcp": "iam.gke.io/gcp-service-account"}


class FakeBinder:
    """Binds exactly the workloads of the spec, as the cloud identity components do."""

    def __init__(self, cloud: str, known: list[Workload]):
        self.cloud = cloud
        self.known = {w.key: w for w in known}
        self.calls: list[str] = []

    def bind(self, workload: Workload) -> BoundIdentity:
        if self.known.get(workload.key) != workload:
            raise KeyError(workload.key)
        self.calls.append(workload.key)
        labels = {"azure.workload.identity/use": "true"} if self.cloud == "azure" else {}
        return BoundIdentity({ANNOTATION[self.cloud]: pulumi.Output.from_input(f"identity-{workload.key}")}, labels)


class FakeImages:
    """An ImageSource as the foundations build one: caches under `<registry>/cache/<upstream host>/...`,
    CI pushes under `<registry>/<family>/...`."""

    def __init__(self, registry: str):
        self.registry = registry
        self.cached_calls: list[UpstreamImage] = []

    def cached(self, image: UpstreamImage) -> pulumi.Output[str]:
        self.cached_calls.append(image)
        return pulumi.Output.from_input(f"{self.registry}/cache/{image.registry}/{image.repository}{image.reference}")

    def pushed(self, family: str, image: str) -> pulumi.Output[str]:
        return pulumi.Output.from_input(f"{self.registry}/{family}/{image}")


def support(spec: StackSpec) -> KubernetesSupport:
    """The cloud's real KubernetesSupport (components/<cloud>/kubernetes_support.py)."""
    cloud = spec.cloud.provider
    module = importlib.import_module(f"components.{cloud}.kubernetes_support")
    volume: Any = {"aws": {"type": "gp3", "encrypted": "true", "kmsKeyId": "arn:aws:kms:us-east-1:1:key/data"},
                   "azure": {"skuName": "Premium_ZRS", "diskEncryptionSetID": "/subscriptions/x/des"},
                   "gcp": "projects/p/locations/l/keyRings/r/cryptoKeys/disks"}[cloud]
    return module.kubernetes_support(spec, volume)


def mlops(spec: StackSpec) -> MlopsSupport:
    """The cloud's real MlopsSupport (components/<cloud>/mlops_support.py) on stand-in identifiers."""
    cloud = spec.cloud.provider
    module = importlib.import_module(f"components.{cloud}.mlops_support")
    if cloud == "aws":
        return module.mlops_support(spec)
    if cloud == "azure":
        return module.mlops_support(spec, pulumi.Output.from_input(
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/ws"))
    return module.mlops_support(
        spec, {e.name: pulumi.Output.from_input(f"{e.name}-pipeline@{spec.cloud.project}.iam.gserviceaccount.com")
               for e in spec.model_endpoints}, pulumi.Output.from_input(DATA_BUCKET[cloud]),
        "projects/p/locations/l/keyRings/r/cryptoKeys/data")


def pool_refs(spec: StackSpec) -> list[GpuPoolRef]:
    return [GpuPoolRef(p.name, p.gpu_type, p.gpus_per_node,
                       {c.GPU_TYPE_LABEL: p.gpu_type, c.GPU_COUNT_LABEL: str(p.gpus_per_node), c.POOL_LABEL: p.name,
                        **p.labels})
            for p in spec.cluster.gpu_pools]


def foundation(spec: StackSpec, **overrides: Any) -> CloudFoundation:
    """A CloudFoundation for `spec` without a cloud (call inside a Pulumi program)."""
    cloud = spec.cloud.provider
    provider = k8s.Provider("test-k8s", kubeconfig=KUBECONFIG)
    fs = spec.feature_store
    values: dict[str, Any] = dict(
        cloud=cloud, cluster_name=pulumi.Output.from_input(f"{spec.name}-cluster"),
        kubeconfig=pulumi.Output.secret(KUBECONFIG), kube_provider=provider,
        binder=FakeBinder(cloud, workloads(spec)),
        model_bucket_uri=pulumi.Output.from_input(MODEL_BUCKET[cloud]),
        data_bucket_uri=pulumi.Output.from_input(DATA_BUCKET[cloud]),
        registry_url=pulumi.Output.from_input(REGISTRY[cloud]),
        gpu_pools=pool_refs(spec), driver_mode=DRIVER_MODES[cloud],
        autoscaler="cluster-autoscaler" if cloud == "aws" else "cloud",
        storage_class="aienv-encrypted", region=spec.region, kubernetes=support(spec),
        feature_registry_uri=pulumi.Output.from_input(REGISTRY_FILE[cloud]) if fs.enabled else None,
        online_store=OnlineStoreEndpoint(host=pulumi.Output.from_input(f"redis.{cloud}.internal"),
                                         port=REDIS_PORT[cloud], password=pulumi.Output.secret("redis-pass"))
        if fs.enabled and fs.online_store.enabled else None,
        offline_store=OfflineStore(OFFLINE[cloud][0], pulumi.Output.from_input(OFFLINE[cloud][1]))
        if fs.enabled and fs.offline_store else None,
        mlops=mlops(spec),
    )
    values.update(overrides)
    return CloudFoundation(**values)


def layer_program(spec: StackSpec, **overrides: Any) -> Callable[[], None]:
    def program() -> None:
        fdn = foundation(spec, **overrides)
        KubernetesLayer(f"{spec.name}-k8s", KubernetesLayerArgs(spec=spec, foundation=fdn),
                        pulumi.ResourceOptions(providers={"kubernetes": fdn.kube_provider}))
    return program


def plan_layer(spec: StackSpec, **overrides: Any) -> Plan:
    return plan_program(layer_program(spec, **overrides), project="aienv", stack=spec.name)


def reference(name: str) -> StackSpec:
    return load_spec(f"stacks/{name}.yaml").spec


# --- plan queries ------------------------------------------------------------------------------------

def of_type(plan: Plan, type_: str) -> list[RecordedResource]:
    return [r for r in plan.resources if r.type == type_]


def one(plan: Plan, type_: str, name: str) -> RecordedResource:
    found = [r for r in of_type(plan, type_) if r.name == name]
    assert len(found) == 1, f"{type_} {name}: {[r.name for r in of_type(plan, type_)]}"
    return found[0]


def plain(value: Any) -> Any:
    """Inputs with secrets revealed (recursively)."""
    value = reveal(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def pod_specs(plan: Plan) -> Iterator[tuple[RecordedResource, dict[str, Any]]]:
    """Every pod template the layer writes (Deployments and CronJobs)."""
    for r in of_type(plan, "kubernetes:apps/v1:Deployment"):
        yield r, plain(r.inputs)["spec"]["template"]["spec"]
    for r in of_type(plan, "kubernetes:batch/v1:CronJob"):
        yield r, plain(r.inputs)["spec"]["jobTemplate"]["spec"]["template"]["spec"]


DEPLOYMENT = "kubernetes:apps/v1:Deployment"
HTTPROUTE = "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute"
SECURITY_POLICY = "kubernetes:gateway.envoyproxy.io/v1alpha1:SecurityPolicy"
RELEASE = "kubernetes:helm.sh/v3:Release"
