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
# A progressive rollout's revision (Argo Rollouts' ephemeral metadata: `canary` while a revision is being rolled
# out, `stable` once promoted; the pods are relabelled in place).
REVISION_LABEL = "aienv.io/revision"
COMPONENT_LABEL = "aienv.io/component"  # serving | drift-monitor | feature-server | gateway
ENVIRONMENT_LABEL = "aienv.io/environment"  # the spec name

TRACK_STABLE = "stable"
TRACK_CANARY = "canary"

COMPONENT_SERVING = "serving"
COMPONENT_DRIFT = "drift-monitor"
COMPONENT_FEATURE_SERVER = "feature-server"
COMPONENT_MODEL_IMPORT = "model-import"
COMPONENT_CAPTURE = "inference-capture"
COMPONENT_RETRAIN = "retraining-trigger"
COMPONENT_MODEL_CACHE = "model-cache"
# The team's evaluation job (in MONITORING_NAMESPACE) that pushes `aienv_model_quality{endpoint}` once labels arrive.
COMPONENT_MODEL_QUALITY = "model-quality"
# On the Prometheus server pods (through the Prometheus resource's podMetadata), so network policies can admit
# the scraper without admitting the rest of its namespace (Grafana, the adapter, kube-state-metrics).
COMPONENT_PROMETHEUS = "prometheus"

# --- Annotations -----------------------------------------------------------------------------------
# An explicit allow for public exposure (load balancers, public gateways); the packs flag public
# exposure without it.
ALLOW_PUBLIC_ANNOTATION = "aienv.io/allow-public"
# Declarations the deployability pack accepts for what the stack cannot fill itself: images the team's CI pushes
# (`ci`), model weights the team's pipeline uploads (`uploaded`).
IMAGE_SUPPLY_ANNOTATION = "aienv.io/image-supply"
MODEL_SUPPLY_ANNOTATION = "aienv.io/model-supply"
# The model a serving pod runs, so the packs can check it fits the GPU memory the pod requests.
MODEL_PARAMS_ANNOTATION = "aienv.io/model-params-billion"
MODEL_PRECISION_ANNOTATION = "aienv.io/model-precision"
MODEL_MEMORY_ANNOTATION = "aienv.io/model-memory-gib"
# On a serving pod whose weights the team's pipeline uploads (`source: {uploaded: true}`): the packs then do not
# look for an import Job writing its model path.
MODEL_SUPPLY_ANNOTATION = "aienv.io/model-supply"
# On a capture writer: what it keeps of the text it receives (`redact` | `keep`), so the packs can check it.
CAPTURE_PII_ANNOTATION = "aienv.io/capture-pii"
# On a model-cache PersistentVolume: the endpoint whose weights it caches on the GPU nodes.
MODEL_CACHE_ANNOTATION = "aienv.io/model-cache"

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
# Argo Rollouts (progressive delivery), KEDA and its HTTP add-on (scale to zero), and the DaemonSet that makes the
# weight-cache directories on GPU nodes (a hostPath, so its namespace is PSA `privileged`).
ROLLOUTS_NAMESPACE = "argo-rollouts"
KEDA_NAMESPACE = "keda"
NODE_CACHE_NAMESPACE = "aienv-node-cache"

# --- Kubernetes versions and control-plane ports ----------------------------------------------------
# Minor versions of Kubernetes the layer's pinned charts support together. The narrowest is Envoy Gateway
# v1.7 (site/content/en/news/releases/matrix.md at tag v1.7.0: "| latest | ... | v1.4.1 | v1.32, v1.33, v1.34,
# v1.35 |").
KUBERNETES_MINORS = (32, 35)

# Ports on which the layer's pods serve the API server (aggregated APIs, admission webhooks): the
# prometheus-adapter (`listenPort`) and the prometheus-operator webhook (kube-prometheus-stack
# `prometheusOperator.tls.internalPort: 10250`). 10250 is the port GKE's default firewall already opens from a
# private control plane to the nodes (GoogleCloudPlatform/prometheus-engine PR #212, "Use port 10250 for
# admission webhooks ... with the default firewall rules"); a foundation that filters control-plane traffic
# admits these.
CONTROL_PLANE_POD_PORTS = (10250,)

# The storage class of per-pod scratch volumes (model weights, import staging): encrypted, deleted with the pod.
SCRATCH_STORAGE_CLASS = "aienv-scratch"


# --- Data layout ---------------------------------------------------------------------------------
def drift_data_prefix(endpoint: str) -> str:
    """Where an endpoint's drift job reads `baseline/` and `recent/` samples, in the training-data bucket."""
    return f"drift/{endpoint}/"


def capture_prefix(endpoint: str) -> str:
    """Where an endpoint's capture writer puts its samples: the `recent/` samples its drift job reads."""
    return f"{drift_data_prefix(endpoint)}recent/"


# The weight cache on GPU nodes (`weight_cache: node`): one directory per endpoint, on the node's root disk.
MODEL_CACHE_DIR = "/var/lib/aienv/model-cache"


# The object an import job (or, for `uploaded` sources, the team's pipeline) writes last under a model version's
# path, once every weight file is there; serving pods wait for it before they copy the weights.
MODEL_IMPORT_MARKER = ".aienv-import-complete"


def model_import_marker(artifact_path: str) -> str:
    """The object an import job writes last under a model version's path; serving pods wait for it."""
    return artifact_path.rstrip("/") + "/" + MODEL_IMPORT_MARKER


# --- Identity providers ---------------------------------------------------------------------------
# Where identity providers publish their JSON Web Key Sets, from their OpenID discovery documents: a JWKS URL
# is not derivable from the issuer in general, so issuers not listed here need `auth.jwks_uri`.
# - Google (https://accounts.google.com/.well-known/openid-configuration):
#   "jwks_uri": "https://www.googleapis.com/oauth2/v3/certs"; Google, "OpenID Connect": "The value of iss in
#   the ID token is equal to accounts.google.com or https://accounts.google.com."
# - Microsoft Entra ID v2.0 (https://login.microsoftonline.com/<tenant>/v2.0/.well-known/openid-configuration):
#   "jwks_uri": "https://login.microsoftonline.com/<tenant>/discovery/v2.0/keys".
_ENTRA_V2 = re.compile(r"^https://login\.microsoftonline\.com/([^/]+)/v2\.0$")


def known_jwks_uri(issuer: str) -> str | None:
    """The JWKS URL of a well-known issuer, None for others."""
    if issuer in ("https://accounts.google.com", "accounts.google.com"):
        return "https://www.googleapis.com/oauth2/v3/certs"
    entra = _ENTRA_V2.match(issuer)
    if entra:
        return f"https://login.microsoftonline.com/{entra.group(1)}/discovery/v2.0/keys"
    return None


def issuer_spellings(issuer: str) -> list[str]:
    """Every `iss` value tokens of `issuer` carry (Google writes it with and without the scheme)."""
    if issuer in ("https://accounts.google.com", "accounts.google.com"):
        return ["https://accounts.google.com", "accounts.google.com"]
    return [issuer]


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


def model_versions_prefixes(artifact_path: str, endpoint: str, version: str) -> list[str]:
    """The folders every version of an endpoint's model lives under, for a progressive rollout: its stable pods
    keep reading the previous version (a restart, a scale-up) until the new one is promoted. The artifact path up
    to its `/<version>/` segment, else `models/<endpoint>/` and the artifact path itself."""
    rooted = f"/{artifact_path}"
    segment = f"/{version}/"
    if segment in rooted:
        return [rooted[:rooted.index(segment) + 1][1:]]
    return [f"models/{endpoint}/", artifact_path] if not artifact_path.startswith(f"models/{endpoint}/") \
        else [f"models/{endpoint}/"]
