"""Names that the components, the Kubernetes layer and the policy packs must agree on.

Components write these labels, taints and tags; policies read them back from the resource graph.
Keeping them in one module (with no Pulumi import) means a rename cannot silently break the gate.
"""

from __future__ import annotations

import re

# --- Kubernetes labels ---------------------------------------------------------------------------
LABEL_PREFIX = "aienv.io"
GPU_TYPE_LABEL = "aienv.io/gpu-type"  # on GPU nodes: the neutral GPU type (e.g. nvidia-l4)
GPU_COUNT_LABEL = "aienv.io/gpu-count"  # on GPU nodes: GPUs per node
POOL_LABEL = "aienv.io/pool"  # on every node: the spec pool name
ENDPOINT_LABEL = "aienv.io/endpoint"  # on serving objects: the spec endpoint name
TRACK_LABEL = "aienv.io/track"  # stable | canary
COMPONENT_LABEL = "aienv.io/component"  # serving | drift-monitor | feature-server | gateway
ENVIRONMENT_LABEL = "aienv.io/environment"  # the spec name

TRACK_STABLE = "stable"
TRACK_CANARY = "canary"

COMPONENT_SERVING = "serving"
COMPONENT_DRIFT = "drift-monitor"
COMPONENT_FEATURE_SERVER = "feature-server"

# --- Annotations -----------------------------------------------------------------------------------
# An explicit allow for public exposure (load balancers, public gateways); the packs flag public
# exposure without it.
ALLOW_PUBLIC_ANNOTATION = "aienv.io/allow-public"
# The model a serving pod runs, so the packs can check it fits the GPU memory the pod requests.
MODEL_PARAMS_ANNOTATION = "aienv.io/model-params-billion"
MODEL_PRECISION_ANNOTATION = "aienv.io/model-precision"
MODEL_MEMORY_ANNOTATION = "aienv.io/model-memory-gib"

# --- GPU scheduling --------------------------------------------------------------------------------
# Every GPU pool carries this taint; every GPU workload tolerates it and selects GPU_TYPE_LABEL.
GPU_TAINT_KEY = "nvidia.com/gpu"
GPU_TAINT_VALUE = "present"
GPU_TAINT_EFFECT = "NoSchedule"
GPU_RESOURCE = "nvidia.com/gpu"

# --- Namespaces ------------------------------------------------------------------------------------
SERVING_NAMESPACE = "aienv-serving"
# Model import jobs (weights from Hugging Face / NGC / another bucket into the model bucket).
MODELS_NAMESPACE = "aienv-models"
FEATURES_NAMESPACE = "aienv-features"
MONITORING_NAMESPACE = "aienv-monitoring"
GPU_NAMESPACE = "gpu-operator"
# Prometheus runs node-exporter, which needs host access: its namespace is `privileged`, apart from workloads.
PROMETHEUS_NAMESPACE = "aienv-prometheus"
GATEWAY_NAMESPACE = "envoy-gateway-system"
AUTOSCALER_NAMESPACE = "kube-system"

# --- Data layout ---------------------------------------------------------------------------------
def drift_data_prefix(endpoint: str) -> str:
    """Where an endpoint's drift job reads `baseline/` and `recent/` samples, in the training-data bucket."""
    return f"drift/{endpoint}/"


def model_import_marker(artifact_path: str) -> str:
    """The object an import job writes last under a model version's path; serving pods wait for it."""
    return artifact_path.rstrip("/") + "/.aienv-import-complete"


# --- Images --------------------------------------------------------------------------------------
# Registry repository for the platform's helper images (bucket sync tools, python, Feast).
TOOLS_FAMILY = "aienv-tools"

# --- Cloud tags / labels ---------------------------------------------------------------------------
# Keys are valid on all three clouds (GCP labels allow only [a-z0-9_-]).
TAG_ENVIRONMENT = "aienv-environment"  # spec name
TAG_TIER = "aienv-tier"  # dev | staging | prod
TAG_OWNER = "aienv-owner"
TAG_MANAGED_BY = "managed-by"
MANAGED_BY = "aienv"
# The cost-allocation tag that budgets filter on.
COST_TAG = "aienv-environment"


_GCP_LABEL_BAD = re.compile(r"[^a-z0-9_-]")


def gcp_label_value(value: str) -> str:
    """GCP label values: lowercase letters, digits, `_` and `-`, at most 63 characters."""
    return _GCP_LABEL_BAD.sub("_", value.lower())[:63]


def gcp_label_key(key: str) -> str:
    """GCP label keys: as values, and must start with a lowercase letter."""
    cleaned = _GCP_LABEL_BAD.sub("_", key.lower())
    if not cleaned or not cleaned[0].isalpha():
        cleaned = "k" + cleaned
    return cleaned[:63]


def canary_artifact_path(artifact_path: str, endpoint: str, version: str, canary_version: str) -> str:
    """Where a canary version's weights live: the stable path with its `/<version>/` segment swapped for the
    canary's, else `models/<endpoint>/<canary_version>/`. The serving pods read it and the cloud identities grant
    it, so both sides must call this one function."""
    rooted = f"/{artifact_path}"
    segment = f"/{version}/"
    if segment in rooted:
        return rooted.replace(segment, f"/{canary_version}/", 1)[1:]
    return f"models/{endpoint}/{canary_version}/"
