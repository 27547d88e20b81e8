"""The workloads that get their own cloud identity, shared by the cloud identity components and the
Kubernetes layer: the cloud side creates one role per workload bound to exactly this namespace and
service account; the Kubernetes side creates the service account and asks the binder for its
annotations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from aienv import conventions as c
from aienv.spec.model import StackSpec

WorkloadKind = Literal["serving", "feature-server", "drift-monitor", "cluster-autoscaler", "model-import",
                       "inference-capture", "retraining-trigger"]


@dataclass(frozen=True)
class Workload:
    key: str  # unique, DNS-safe: "serving-chat", "import-chat", "feature-server", "drift-chat", "cluster-autoscaler"
    kind: WorkloadKind
    namespace: str
    service_account: str
    endpoint: str | None = None  # the spec endpoint for serving and drift workloads


def workloads(spec: StackSpec) -> list[Workload]:
    out: list[Workload] = []
    for endpoint in spec.model_endpoints:
        out.append(Workload(f"serving-{endpoint.name}", "serving", c.SERVING_NAMESPACE,
                            f"{endpoint.name}-serving", endpoint.name))
    for endpoint in spec.model_endpoints:
        # Imports the endpoint's model versions into the model bucket: writes `models/<endpoint>/` and
        # reads the source's token secret (sources other than `uploaded` only).
        source = endpoint.model.source
        if source is not None and not source.uploaded:
            out.append(Workload(f"import-{endpoint.name}", "model-import", c.MODELS_NAMESPACE,
                                f"{endpoint.name}-import", endpoint.name))
    for endpoint in spec.model_endpoints:
        if endpoint.drift:
            out.append(Workload(f"drift-{endpoint.name}", "drift-monitor", c.MONITORING_NAMESPACE,
                                f"{endpoint.name}-drift", endpoint.name))
    for endpoint in spec.model_endpoints:
        # Writes the sampled requests the gateway mirrors to it: only creates objects under
        # `drift/<endpoint>/recent/` in the training-data bucket (no read, list, overwrite or delete).
        if endpoint.capture.enabled:
            out.append(Workload(f"capture-{endpoint.name}", "inference-capture", c.SERVING_NAMESPACE,
                                f"{endpoint.name}-capture", endpoint.name))
    for endpoint in spec.model_endpoints:
        # Starts a run of exactly the endpoint's retraining pipeline when its drift or quality alert fires.
        if endpoint.retraining is not None:
            out.append(Workload(f"retrain-{endpoint.name}", "retraining-trigger", c.MONITORING_NAMESPACE,
                                f"{endpoint.name}-retrain", endpoint.name))
    if spec.feature_store.enabled:
        out.append(Workload("feature-server", "feature-server", c.FEATURES_NAMESPACE, "feature-server"))
    if spec.cloud.provider == "aws" and spec.cluster.gpu_pools:
        # EKS has no built-in node autoscaler: cluster-autoscaler runs in the cluster with its own role.
        out.append(Workload("cluster-autoscaler", "cluster-autoscaler", c.AUTOSCALER_NAMESPACE, "cluster-autoscaler"))
    return out
