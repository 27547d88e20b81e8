"""One model endpoint on the cluster: a Deployment, Service, HPA and PDB per version (stable, and canary
when the spec has a fixed one), an HTTPRoute splitting traffic by the canary weight and mirroring a sample to the
endpoint's capture writer, authentication at the gateway, a ServiceAccount bound to the endpoint's cloud
identity, and its network policy. With `rollout`, the stable Deployment is handed to an Argo Rollouts `Rollout`
(rollouts.py): a second Service `<ep>-canary` takes the new revision, the HPA scales the Rollout, and the route's
weights belong to the Rollout. With scale to zero, the route sends requests to KEDA's interceptor (scaling.py),
which owns the HPA.

Each serving pod first waits for its version's import marker (`conventions.model_import_marker`), then loads the
weights from the node's weight cache (`weight_cache: node`, weight_cache.py), copying them there from the model
bucket when the node does not have them yet, or (`weight_cache: none`) copies them onto its own scratch volume. Pulumi does not await the Deployments and
Services (`pulumi.com/skipAwait`): a replica needs a GPU node, a multi-GB image and the weights, often more than
the 10-minute default await, and nothing else in the stack waits for a model to be loaded. The rollout stays
visible in the cluster (`kubectl rollout status`, whose progress deadline is sized from the model).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from aienv import conventions as c
from aienv import images
from aienv.errors import ComponentInputError
from aienv.gpus import BYTES_PER_PARAM
from aienv.spec.model import Exposure, GpuPool, Runtime
from aienv.spec.model import ModelEndpoint as EndpointSpec
from components.contracts import BoundIdentity, GpuPoolRef, KubernetesSupport
from components.kubernetes import _common as common
from components.kubernetes.capture import mirror_filter
from components.kubernetes.gateway import ENVOY_API, GATEWAY_API, gateway_name, listener_name
from components.kubernetes.scaling import INTERCEPTOR_POD_LABELS, interceptor_backend
from components.kubernetes.scaling import host as scale_host

# Default server images (pulled through the environment's registry caches).
DEFAULT_IMAGES = images.DEFAULT_SERVER_IMAGES
SERVING_UID = 1000
SERVICE_PORT = 80
METRICS_SERVICE_PORT = 9090
API_KEY_HEADER = "x-api-key"
MODELS_MOUNT = "/models"
MODEL_DIR = f"{MODELS_MOUNT}/model"
CACHED_MARKER = ".aienv-cached"  # written last into a version's directory in the node weight cache
VERSIONS_KEPT = 2
FEATURE_SERVER_PORT = 6566
_LABEL_VALUE_BAD = re.compile(r"[^A-Za-z0-9._-]")

# Bytes per parameter of the checkpoint that is downloaded and copied (not of the served precision): vLLM's
# `--quantization fp8` quantizes a 16-bit checkpoint while loading it (vLLM docs, FP8 W8A8: "Dynamic
# quantization of an original precision BF16/FP16 model to FP8 can be achieved with vLLM without any calibration
# data required ... specifying --quantization="fp8""), so an fp8 endpoint stores bf16 weights.
CHECKPOINT_BYTES_PER_PARAM = {**BYTES_PER_PARAM, "fp8": 2.0}

# What the rollout estimates assume. They size deadlines and probes (`kubectl rollout status`, the import Job's
# activeDeadlineSeconds, the startup probe), not Pulumi awaits; they are deliberately slow, not measured.
NODE_AND_IMAGE_SECONDS = 1800  # a GPU node joins, the device plugin registers, a multi-GB image is pulled
COPY_BYTES_PER_SECOND = 50e6  # hub -> pod, bucket -> pod, pod -> bucket
LOAD_BYTES_PER_SECOND = 100e6  # local disk -> GPU memory
UNKNOWN_SIZE_SECONDS = 3 * 3600  # a model without `size_billion_params`
MARKER_POLL_SECONDS = 60


@dataclass(frozen=True)
class RuntimeShape:
    """How a runtime listens, reports metrics and says it is healthy."""

    http_port: int
    metrics_port: int
    ready_path: str | None  # None: TCP probes
    live_path: str | None


RUNTIMES = {
    Runtime.vllm: RuntimeShape(8000, 8000, "/health", "/health"),
    Runtime.triton: RuntimeShape(8000, 8002, "/v2/health/ready", "/v2/health/live"),
    Runtime.custom: RuntimeShape(8080, 8080, None, None),
}

VLLM_DTYPE = {"bf16": ["--dtype", "bfloat16"], "fp16": ["--dtype", "float16"], "fp32": ["--dtype", "float32"],
              "fp8": ["--quantization", "fp8"]}


@dataclass(frozen=True)
class Track:
    name: str  # stable | canary
    version: str
    image: str  # path:tag or path@digest inside the image family
    artifact_path: str
    min_replicas: int
    max_replicas: int
    weight: int


@dataclass(frozen=True)
class ModelEndpointArgs:
    endpoint: EndpointSpec
    index: int  # position in spec.model_endpoints, for error messages
    environment: str
    support: KubernetesSupport
    images: common.ImageRefs
    model_bucket_uri: pulumi.Input[str]
    gpu_pools: Sequence[GpuPoolRef]
    spec_pools: Sequence[GpuPool]
    service_account: str
    identity: BoundIdentity
    feature_server: bool = False  # the environment runs the Feast feature server (serving pods may call it)
    weight_cache_claim: str | None = None  # the PVC of the node weight cache (`weight_cache: node`)
    labels: Mapping[str, str] = field(default_factory=dict)
    depends_on: Sequence[pulumi.Resource] = ()  # namespaces and the gateway (HTTPRoute/SecurityPolicy CRDs)


def label_value(value: str) -> str:
    return _LABEL_VALUE_BAD.sub("-", value)[:63].strip("-._") or "none"


def model_annotations(ep: EndpointSpec, version: str) -> dict[str, str]:
    """What the pod serves; with the size known, the packs check the model fits the GPUs requested."""
    out = {"aienv.io/model-version": version, c.MODEL_PRECISION_ANNOTATION: ep.model.precision}
    if ep.model.source is not None and ep.model.source.uploaded:
        # The team's pipeline writes the weights (the pods wait for its marker): nothing of the stack imports them.
        out[c.MODEL_SUPPLY_ANNOTATION] = "uploaded"
    if ep.model.size_billion_params is not None:
        out[c.MODEL_PARAMS_ANNOTATION] = f"{ep.model.size_billion_params:g}"
    return out


def tracks(ep: EndpointSpec, field_prefix: str) -> list[Track]:
    """Stable, and the canary when the spec sets one, with their replica bounds and traffic weights."""
    image = ep.image or DEFAULT_IMAGES.get(ep.runtime)
    if image is None:
        raise ComponentInputError(f"{field_prefix}.image", "is required when runtime is `custom`")
    common.check_pinned(image, f"{field_prefix}.image")
    artifact = ep.model.artifact_path or f"models/{ep.name}/{ep.model.version}/"
    # An HPA needs at least one replica; an endpoint that scales to zero is scaled by KEDA from zero.
    stable_min = 0 if ep.scales_to_zero else max(1, ep.replicas.min or 0)
    weight = ep.canary.weight if ep.canary else 0
    out = [Track(c.TRACK_STABLE, ep.model.version, image, artifact, stable_min, max(stable_min, ep.replicas.max),
                 100 - weight)]
    if ep.canary is not None:
        canary_image = ep.canary.image or image
        common.check_pinned(canary_image, f"{field_prefix}.canary.image")
        # The one function the cloud identities grant from too: the pods must read what the roles may read.
        canary_artifact = c.canary_artifact_path(artifact, ep.name, ep.model.version, ep.canary.version)
        canary_max = max(1, math.ceil(ep.replicas.max * weight / 100))
        out.append(Track(c.TRACK_CANARY, ep.canary.version, canary_image, canary_artifact, 1, canary_max, weight))
    return out


def candidate_pools(ep: EndpointSpec, pools: Sequence[GpuPoolRef], field_prefix: str) -> list[GpuPoolRef]:
    """The foundation's GPU pools that can hold one replica: the right GPU type, enough GPUs per node."""
    fits = [p for p in pools if p.gpu_type == ep.gpu.type and p.gpus_per_node >= ep.gpu.count]
    if not fits:
        raise ComponentInputError(f"{field_prefix}.gpu.type", (
            f"no GPU pool of the cluster has {ep.gpu.count} x {ep.gpu.type} per node "
            f"(pools: {', '.join(f'{p.name}={p.gpus_per_node}x{p.gpu_type}' for p in pools) or 'none'})"))
    return fits


def node_affinity(pools: Sequence[GpuPoolRef]) -> k8s.core.v1.AffinityArgs:
    """Required: a node labelled with one of these pools' GPU type and GPU count."""
    types = sorted({p.node_labels.get(c.GPU_TYPE_LABEL, p.gpu_type) for p in pools})
    counts = sorted({p.node_labels.get(c.GPU_COUNT_LABEL, str(p.gpus_per_node)) for p in pools})
    return k8s.core.v1.AffinityArgs(node_affinity=k8s.core.v1.NodeAffinityArgs(
        required_during_scheduling_ignored_during_execution=k8s.core.v1.NodeSelectorArgs(node_selector_terms=[
            k8s.core.v1.NodeSelectorTermArgs(match_expressions=[
                k8s.core.v1.NodeSelectorRequirementArgs(key=c.GPU_TYPE_LABEL, operator="In", values=types),
                k8s.core.v1.NodeSelectorRequirementArgs(key=c.GPU_COUNT_LABEL, operator="In", values=counts),
            ])])))


def tolerations(pools: Sequence[GpuPoolRef], spec_pools: Sequence[GpuPool]) -> list[k8s.core.v1.TolerationArgs]:
    out = [common.gpu_toleration()]
    seen: set[tuple[str, str, str]] = set()
    names = {p.name for p in pools}
    for pool in spec_pools:
        if pool.name not in names:
            continue
        for taint in pool.taints:
            key = (taint.key, taint.value, taint.effect)
            if key not in seen:
                seen.add(key)
                out.append(k8s.core.v1.TolerationArgs(key=taint.key, operator="Equal", value=taint.value,
                                                      effect=taint.effect))
    return out


def checkpoint_bytes(ep: EndpointSpec) -> float | None:
    """Size of the weights as stored and copied, None when the spec does not give the model size."""
    if ep.model.size_billion_params is None:
        return None
    return ep.model.size_billion_params * 1e9 * CHECKPOINT_BYTES_PER_PARAM[ep.model.precision]


def version_dir(version: str) -> str:
    """A model version's directory in the node weight cache."""
    return f"v-{label_value(version)}"


def model_dir(ep: EndpointSpec, track: Track) -> str:
    """Where the server reads its weights: the version's directory in the weight cache, or the pod's copy."""
    return f"{MODELS_MOUNT}/{version_dir(track.version)}" if ep.weight_cache == "node" else MODEL_DIR


def model_volume_size(ep: EndpointSpec) -> str:
    """Room for the checkpoint (x 1.2 + 10 GiB for tokenizer and config files, a staging copy on Azure's
    download), 100 GiB when the size is unknown."""
    size = checkpoint_bytes(ep)
    if size is None:
        return "100Gi"
    return f"{math.ceil(size / 2**30 * 1.2) + 10}Gi"


def copy_seconds(ep: EndpointSpec) -> int:
    """One copy of the checkpoint at COPY_BYTES_PER_SECOND (UNKNOWN_SIZE_SECONDS without a size)."""
    size = checkpoint_bytes(ep)
    return UNKNOWN_SIZE_SECONDS if size is None else math.ceil(size / COPY_BYTES_PER_SECOND)


def load_seconds(ep: EndpointSpec) -> int:
    size = checkpoint_bytes(ep)
    return UNKNOWN_SIZE_SECONDS if size is None else math.ceil(size / LOAD_BYTES_PER_SECOND)


def import_seconds(ep: EndpointSpec) -> int:
    """An import: download from the source, upload to the bucket."""
    return 2 * copy_seconds(ep)


def rollout_seconds(ep: EndpointSpec) -> int:
    """A new replica on a new node, on a first deploy behind its model import: node and image, the import,
    the copy onto the pod's volume, loading onto the GPUs."""
    return NODE_AND_IMAGE_SECONDS + import_seconds(ep) + copy_seconds(ep) + load_seconds(ep)


def jwks_uri(ep: EndpointSpec, field_prefix: str) -> str:
    """`auth.jwks_uri`, else the published key set of a well-known issuer (conventions.known_jwks_uri)."""
    uri = ep.auth.jwks_uri or c.known_jwks_uri(ep.auth.issuer or "")
    if uri is None:
        raise ComponentInputError(f"{field_prefix}.auth.jwks_uri", (
            f"is required for the issuer `{ep.auth.issuer}`: its key set URL is the `jwks_uri` of "
            "<issuer>/.well-known/openid-configuration"))
    return uri


def startup_failures(ep: EndpointSpec) -> int:
    """Startup-probe failures (every 10 s) allowed: an hour, or twice the estimated load time."""
    return max(360, math.ceil(2 * load_seconds(ep) / 10))


def _probe(shape: RuntimeShape, path: str | None, period: int, failures: int,
           initial: int = 0) -> k8s.core.v1.ProbeArgs:
    if path is None:
        action: dict[str, Any] = {"tcp_socket": k8s.core.v1.TCPSocketActionArgs(port="http")}
    else:
        action = {"http_get": k8s.core.v1.HTTPGetActionArgs(path=path, port="http")}
    return k8s.core.v1.ProbeArgs(period_seconds=period, failure_threshold=failures, timeout_seconds=5,
                                 initial_delay_seconds=initial or None, **action)


class ModelEndpoint(pulumi.ComponentResource):
    """`aienv:kubernetes:ModelEndpoint`: everything one spec endpoint runs on the cluster."""

    def __init__(self, name: str, args: ModelEndpointArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aienv:kubernetes:ModelEndpoint", name, None, opts)
        ep, ns = args.endpoint, c.SERVING_NAMESPACE
        at = f"model_endpoints[{args.index}]"
        if ep.exposure is not Exposure.cluster and ep.auth.mode == "none":
            raise ComponentInputError(f"{at}.auth.mode", (
                f"is `none` but exposure is `{ep.exposure.value}`; endpoints outside the cluster need "
                "`api_key` or `jwt`"))
        if ep.auth.mode == "jwt" and (not ep.auth.issuer or not ep.auth.audiences):
            raise ComponentInputError(f"{at}.auth", "`jwt` needs an issuer and at least one audience")
        shape = RUNTIMES[ep.runtime]
        self.tracks = tracks(ep, at)
        pools = candidate_pools(ep, args.gpu_pools, at)
        labels = {**common.base_labels(args.environment), **args.labels,
                  c.ENDPOINT_LABEL: ep.name, c.COMPONENT_LABEL: c.COMPONENT_SERVING}
        after = pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on))

        self.service_account = common.workload_service_account(
            name, self, args.service_account, ns, labels, args.identity, args.depends_on)

        self.deployments: dict[str, k8s.apps.v1.Deployment] = {}
        self.services: dict[str, k8s.core.v1.Service] = {}
        for track in self.tracks:
            track_labels = {**labels, c.TRACK_LABEL: track.name}
            selector = {c.ENDPOINT_LABEL: ep.name, c.TRACK_LABEL: track.name}
            pod_labels = {**track_labels, **args.identity.pod_labels, "app.kubernetes.io/name": ep.name,
                          "app.kubernetes.io/version": label_value(track.version)}
            resource_name = f"{ep.name}-{track.name}"
            deployment = k8s.apps.v1.Deployment(
                f"{name}-{track.name}-deployment",
                metadata=common.meta(resource_name, ns, track_labels,
                                     {**common.SKIP_AWAIT, "aienv.io/model": ep.model.name,
                                      "aienv.io/model-version": track.version}),
                spec=k8s.apps.v1.DeploymentSpecArgs(
                    replicas=track.min_replicas,
                    # `kubectl rollout status` reports a stalled rollout after this, not after the default 600 s.
                    progress_deadline_seconds=rollout_seconds(ep),
                    selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                    strategy=k8s.apps.v1.DeploymentStrategyArgs(
                        type="RollingUpdate",
                        rolling_update=k8s.apps.v1.RollingUpdateDeploymentArgs(max_surge=1, max_unavailable=0)),
                    template=k8s.core.v1.PodTemplateSpecArgs(
                        metadata=k8s.meta.v1.ObjectMetaArgs(labels=pod_labels, annotations={
                            **model_annotations(ep, track.version),
                            **common.supply_annotations(
                                ci_images=ep.supply == "ci",
                                uploaded_weights=ep.model.source is not None and ep.model.source.uploaded)}),
                        spec=self._pod_spec(args, track, shape, pools))),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[*args.depends_on, self.service_account],
                                            ignore_changes=["spec.replicas"],  # the HPA owns it
                                            delete_before_replace=True))
            self.deployments[track.name] = deployment
            ports = [k8s.core.v1.ServicePortArgs(name="http", port=SERVICE_PORT, target_port="http",
                                                 protocol="TCP"),
                     k8s.core.v1.ServicePortArgs(name="metrics", port=METRICS_SERVICE_PORT,
                                                 target_port=shape.metrics_port, protocol="TCP")]
            self.services[track.name] = k8s.core.v1.Service(
                f"{name}-{track.name}-service",
                # Ready only once a replica has loaded its model: not awaited (see the module docstring).
                metadata=common.meta(resource_name, ns, track_labels, common.SKIP_AWAIT),
                spec=k8s.core.v1.ServiceSpecArgs(type="ClusterIP", selector=selector, ports=ports),
                opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on),
                                            delete_before_replace=True))
            if ep.rollout is not None:
                # The new revision's Service: Argo Rollouts adds each revision's pod-template hash to the two
                # Services' selectors, so the ServiceMonitor labels the new revision's series `canary`.
                canary_labels = {**labels, c.TRACK_LABEL: c.TRACK_CANARY}
                self.services[c.TRACK_CANARY] = k8s.core.v1.Service(
                    f"{name}-{c.TRACK_CANARY}-service",
                    metadata=common.meta(f"{ep.name}-{c.TRACK_CANARY}", ns, canary_labels, common.SKIP_AWAIT),
                    spec=k8s.core.v1.ServiceSpecArgs(type="ClusterIP", selector=selector, ports=ports),
                    opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on),
                                                delete_before_replace=True,
                                                ignore_changes=["spec.selector"]))  # Argo Rollouts adds the hash
            # `maxUnavailable: 1`, never `minAvailable`: with one replica left (or none, scaled to zero) a
            # `minAvailable: 1` budget would forbid every eviction, and the node autoscaler could never drain the
            # GPU node to remove it (it honours PodDisruptionBudgets when it scales down).
            k8s.policy.v1.PodDisruptionBudget(
                f"{name}-{track.name}-pdb",
                metadata=common.meta(resource_name, ns, track_labels),
                spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
                    max_unavailable=1, selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector)),
                opts=after)
            if ep.scales_to_zero:
                continue  # KEDA owns this Deployment's HPA (scaling.py)
            target = (k8s.autoscaling.v2.CrossVersionObjectReferenceArgs(
                api_version="argoproj.io/v1alpha1", kind="Rollout", name=ep.name) if ep.rollout is not None else
                k8s.autoscaling.v2.CrossVersionObjectReferenceArgs(api_version="apps/v1", kind="Deployment",
                                                                   name=resource_name))
            k8s.autoscaling.v2.HorizontalPodAutoscaler(
                f"{name}-{track.name}-hpa",
                metadata=common.meta(resource_name, ns, track_labels),
                spec=k8s.autoscaling.v2.HorizontalPodAutoscalerSpecArgs(
                    scale_target_ref=target,
                    min_replicas=track.min_replicas, max_replicas=track.max_replicas,
                    metrics=[self._metric(ep)],
                    behavior=k8s.autoscaling.v2.HorizontalPodAutoscalerBehaviorArgs(
                        # GPU replicas start slowly (node + weights): scale up promptly, down cautiously.
                        scale_up=k8s.autoscaling.v2.HPAScalingRulesArgs(
                            stabilization_window_seconds=60,
                            policies=[k8s.autoscaling.v2.HPAScalingPolicyArgs(type="Pods", value=2,
                                                                              period_seconds=120)]),
                        scale_down=k8s.autoscaling.v2.HPAScalingRulesArgs(
                            stabilization_window_seconds=900,
                            policies=[k8s.autoscaling.v2.HPAScalingPolicyArgs(type="Pods", value=1,
                                                                              period_seconds=300)]))),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[*args.depends_on, deployment]))

        self.network_policy = k8s.networking.v1.NetworkPolicy(
            f"{name}-network-policy",
            metadata=common.meta(f"{ep.name}-serving", ns, labels),
            spec=self._network_policy(args, shape),
            opts=after)

        self.route_path = f"/{ep.name}"
        self.api_key: pulumi.Output[str] | None = None
        self._route(name, args, labels)
        self.register_outputs({
            "endpoint": ep.name,
            "exposure": ep.exposure.value,
            "auth": ep.auth.mode,
            "path": self.route_path,
            "gateway": gateway_name(ep.exposure),
            "services": {t: f"{ep.name}-{t}.{ns}.svc" for t in self.services},
            "weights": {t.name: t.weight for t in self.tracks},
            "apiKey": self.api_key,
        })

    # --- pods ----------------------------------------------------------------------------------------

    def _pod_spec(self, args: ModelEndpointArgs, track: Track, shape: RuntimeShape,
                  pools: Sequence[GpuPoolRef]) -> k8s.core.v1.PodSpecArgs:
        ep, store = args.endpoint, args.support.object_store
        at = f"model_endpoints[{args.index}]"
        image = args.images.image(ep.supply, ep.family, track.image,
                                  f"{at}.canary.image" if track.name == c.TRACK_CANARY else f"{at}.image")
        source = common.join_uri(args.model_bucket_uri, track.artifact_path)
        marker = common.join_uri(args.model_bucket_uri, c.model_import_marker(track.artifact_path))
        claim = args.weight_cache_claim
        cached = claim is not None
        weights = (k8s.core.v1.VolumeArgs(name="model", persistent_volume_claim=k8s.core.v1.PersistentVolumeClaimVolumeSourceArgs(
                       claim_name=claim)) if claim is not None
                   else common.scratch_volume("model", model_volume_size(ep)))
        volumes = [common.empty_dir("tmp", "2Gi"), common.empty_dir("cache", "20Gi"),
                   common.empty_dir("shm", "8Gi" if ep.gpu.count > 1 else "2Gi", memory=True), weights]
        directory = model_dir(ep, track)
        mounts = [k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp"),
                  k8s.core.v1.VolumeMountArgs(name="cache", mount_path="/cache"),
                  k8s.core.v1.VolumeMountArgs(name="shm", mount_path="/dev/shm"),
                  k8s.core.v1.VolumeMountArgs(name="model", mount_path=MODELS_MOUNT, read_only=True)]
        # Wait for the version's import marker (written last by the import Job, or by the team's pipeline for
        # `uploaded` weights) instead of crash-looping on a half-written prefix, then copy the weights. The
        # login runs in the loop: a workload-identity session can outlive its token during a long import.
        wait = [f'until {{ {store.login()} && {store.exists("MARKER")}; }}; do '
                f'echo "waiting for $MARKER (written when the model import is complete)"; '
                f"sleep {MARKER_POLL_SECONDS}; done",
                store.login()]
        if cached:
            # The node has the version: nothing to copy. Else copy it into a partial directory of this pod and
            # rename it into place (a pod that loses the race drops its copy), then keep the VERSIONS_KEPT most
            # recently used versions of the endpoint on the node.
            partial = f"{MODELS_MOUNT}/.partial-$POD_NAME"
            lines = [
                f'if [ -e "{directory}/{CACHED_MARKER}" ]; then touch "{directory}"; '
                f'echo "version $MODEL_VERSION is cached on this node"; exit 0; fi',
                *wait,
                f'rm -rf "{partial}"; mkdir -p "{partial}"',
                store.download("MODEL_URI", partial),
                f'rm -f "{partial}/{c.MODEL_IMPORT_MARKER}"; : > "{partial}/{CACHED_MARKER}"',
                f'if mv -T "{partial}" "{directory}" 2>/dev/null; then echo "cached version $MODEL_VERSION"; '
                f'else rm -rf "{partial}"; echo "another pod cached version $MODEL_VERSION first"; fi',
                f'touch "{directory}"',
                f'ls -1dt "{MODELS_MOUNT}"/v-*/ | tail -n +{VERSIONS_KEPT + 1} | while IFS= read -r old; do '
                f'rm -rf "$old"; done',
            ]
        else:
            lines = [*wait, f'mkdir -p "{MODEL_DIR}"', store.download("MODEL_URI", MODEL_DIR),
                     f'rm -f "{MODEL_DIR}/{c.MODEL_IMPORT_MARKER}"']
        fetch = common.tool_container(
            "fetch-model", args.images.tool("object-store"), store, lines,
            {**args.support.workload_env, "MODEL_URI": source, "MARKER": marker, "MODEL_VERSION": track.version},
            [k8s.core.v1.VolumeMountArgs(name="model", mount_path=MODELS_MOUNT),
             k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp")],
            cpu="1", memory="2Gi")
        if cached:
            # The partial copy is named after the pod, so pods starting together on a node never share one.
            fetch.env = [*fetch.env, k8s.core.v1.EnvVarArgs(  # type: ignore[misc]
                name="POD_NAME", value_from=k8s.core.v1.EnvVarSourceArgs(
                    field_ref=k8s.core.v1.ObjectFieldSelectorArgs(field_path="metadata.name")))]
        command, server_args = self._server(args, track)
        env = [k8s.core.v1.EnvVarArgs(name="HOME", value="/tmp"),
               # The uid has no passwd entry: getpass.getuser() (torch's cache paths) reads these first.
               k8s.core.v1.EnvVarArgs(name="USER", value="serving"),
               k8s.core.v1.EnvVarArgs(name="LOGNAME", value="serving"),
               k8s.core.v1.EnvVarArgs(name="XDG_CACHE_HOME", value="/cache"),
               k8s.core.v1.EnvVarArgs(name="HF_HOME", value="/cache/huggingface"),
               k8s.core.v1.EnvVarArgs(name="HF_HUB_OFFLINE", value="1"),
               k8s.core.v1.EnvVarArgs(name="MODEL_DIR", value=directory),
               k8s.core.v1.EnvVarArgs(name="MODEL_VERSION", value=track.version)]
        if ep.runtime is Runtime.vllm:
            env.append(k8s.core.v1.EnvVarArgs(name="VLLM_NO_USAGE_STATS", value="1"))
        ports = [k8s.core.v1.ContainerPortArgs(name="http", container_port=shape.http_port, protocol="TCP")]
        if shape.metrics_port != shape.http_port:
            ports.append(k8s.core.v1.ContainerPortArgs(name="metrics", container_port=shape.metrics_port,
                                                       protocol="TCP"))
        server = k8s.core.v1.ContainerArgs(
            name="server", image=image, command=command, args=server_args, env=env, ports=ports,
            # The /tmp and /cache emptyDirs are node disk: request it so the scheduler counts it.
            resources=common.resources(ep.resources.cpu, ep.resources.memory, ep.gpu.count, ephemeral="22Gi"),
            security_context=common.container_security(),
            volume_mounts=mounts,
            # Loading weights onto the GPUs takes minutes: at least an hour, more for large checkpoints.
            startup_probe=_probe(shape, shape.ready_path, period=10, failures=startup_failures(ep)),
            readiness_probe=_probe(shape, shape.ready_path, period=10, failures=3),
            liveness_probe=_probe(shape, shape.live_path, period=20, failures=3))
        return k8s.core.v1.PodSpecArgs(
            service_account_name=args.service_account,
            automount_service_account_token=False,
            enable_service_links=False,
            host_network=False, host_pid=False, host_ipc=False,
            # A cache volume is chowned to the pod's group on mount; only when its root does not match yet, not
            # every file of every cached checkpoint on every start.
            security_context=common.pod_security(SERVING_UID, fs_group_change_policy="OnRootMismatch"),
            init_containers=[fetch],
            containers=[server],
            volumes=volumes,
            tolerations=tolerations(pools, args.spec_pools),
            affinity=node_affinity(pools),
            topology_spread_constraints=[k8s.core.v1.TopologySpreadConstraintArgs(
                max_skew=1, topology_key="topology.kubernetes.io/zone", when_unsatisfiable="ScheduleAnyway",
                label_selector=k8s.meta.v1.LabelSelectorArgs(match_labels={
                    c.ENDPOINT_LABEL: ep.name, c.TRACK_LABEL: track.name}))],
            termination_grace_period_seconds=60)

    @staticmethod
    def _server(args: ModelEndpointArgs, track: Track) -> tuple[list[str] | None, list[Any]]:
        ep = args.endpoint
        directory = model_dir(ep, track)
        if ep.runtime is Runtime.vllm:
            return (["python3", "-m", "vllm.entrypoints.openai.api_server"],
                    ["--model", directory, "--served-model-name", ep.model.name, "--host", "0.0.0.0",
                     "--port", str(RUNTIMES[Runtime.vllm].http_port),
                     "--tensor-parallel-size", str(ep.gpu.count), *VLLM_DTYPE.get(ep.model.precision, []),
                     *ep.args])
        if ep.runtime is Runtime.triton:
            return (["tritonserver"],
                    [f"--model-repository={directory}",
                     "--http-port=8000", "--grpc-port=8001", "--metrics-port=8002", "--allow-metrics=true",
                     "--allow-gpu-metrics=true", "--metrics-config=summary_latencies=true", *ep.args])
        return None, list(ep.args)

    @staticmethod
    def _metric(ep: EndpointSpec) -> k8s.autoscaling.v2.MetricSpecArgs:
        target = ep.autoscaling.target
        if ep.autoscaling.metric == "cpu":
            return k8s.autoscaling.v2.MetricSpecArgs(type="Resource", resource=k8s.autoscaling.v2.ResourceMetricSourceArgs(
                name="cpu", target=k8s.autoscaling.v2.MetricTargetArgs(type="Utilization", average_utilization=target)))
        name = {"gpu_utilization": common.GPU_UTIL_METRIC, "requests_in_flight": common.IN_FLIGHT_METRIC,
                "queue_depth": common.QUEUE_DEPTH_METRIC, "kv_cache_usage": common.KV_CACHE_METRIC}[
            ep.autoscaling.metric]
        return k8s.autoscaling.v2.MetricSpecArgs(type="Pods", pods=k8s.autoscaling.v2.PodsMetricSourceArgs(
            metric=k8s.autoscaling.v2.MetricIdentifierArgs(name=name),
            target=k8s.autoscaling.v2.MetricTargetArgs(type="AverageValue", average_value=str(target))))

    @staticmethod
    def _network_policy(args: ModelEndpointArgs, shape: RuntimeShape) -> k8s.networking.v1.NetworkPolicySpecArgs:
        ep = args.endpoint
        ingress = [
            # Clients come through the gateway's Envoy proxies, for every exposure.
            k8s.networking.v1.NetworkPolicyIngressRuleArgs(from_=[common.namespace_peer(c.GATEWAY_NAMESPACE)],
                                                           ports=common.tcp_ports(shape.http_port)),
            # Only the Prometheus servers scrape (vLLM serves /metrics on its API port): not the rest of their
            # namespace (Grafana, the adapter, kube-state-metrics).
            k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                from_=[common.namespace_peer(common.PROMETHEUS_NAMESPACE, {c.COMPONENT_LABEL: c.COMPONENT_PROMETHEUS})],
                ports=common.tcp_ports(shape.metrics_port)),
        ]
        if ep.scales_to_zero:
            # Requests of an endpoint that scales to zero come through KEDA's interceptor (scaling.py).
            ingress.append(k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                from_=[common.namespace_peer(c.KEDA_NAMESPACE, dict(INTERCEPTOR_POD_LABELS))],
                ports=common.tcp_ports(shape.http_port)))
        # The weights (object store over HTTPS) and the pod's cloud identity.
        egress = [common.https_egress(), *common.identity_egress(args.support.identity_egress)]
        if args.feature_server:
            # Online features come from the Feast server (which alone talks to the online store).
            egress.append(k8s.networking.v1.NetworkPolicyEgressRuleArgs(
                to=[common.namespace_peer(c.FEATURES_NAMESPACE, {c.COMPONENT_LABEL: c.COMPONENT_FEATURE_SERVER})],
                ports=common.tcp_ports(FEATURE_SERVER_PORT)))
        return k8s.networking.v1.NetworkPolicySpecArgs(
            pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels={c.ENDPOINT_LABEL: ep.name,
                                                                      c.COMPONENT_LABEL: c.COMPONENT_SERVING}),
            policy_types=["Ingress", "Egress"], ingress=ingress, egress=egress)

    # --- edge ----------------------------------------------------------------------------------------

    def _route(self, name: str, args: ModelEndpointArgs, labels: Mapping[str, str]) -> None:
        ep, ns = args.endpoint, c.SERVING_NAMESPACE
        at = f"model_endpoints[{args.index}]"
        # Routes name the Services; they do not wait for them (a Service is ready only with a loaded model).
        rewrite: dict[str, Any] = {"path": {"type": "ReplacePrefixMatch", "replacePrefixMatch": "/"}}
        ignore: list[str] = []
        if ep.scales_to_zero:
            # KEDA's interceptor routes by host to the endpoint's Service and holds requests while it scales up.
            backends = [interceptor_backend()]
            rewrite["hostname"] = scale_host(ep.name)
        elif ep.rollout is not None:
            # All traffic on the stable revision until a rollout moves it; the weights are the Rollout's then.
            backends = [{"group": "", "kind": "Service", "name": f"{ep.name}-{track}", "port": SERVICE_PORT,
                         "weight": weight} for track, weight in ((c.TRACK_STABLE, 100), (c.TRACK_CANARY, 0))]
            ignore = [f"spec.rules[0].backendRefs[{i}].weight" for i in range(len(backends))]
        else:
            backends = [{"group": "", "kind": "Service", "name": f"{ep.name}-{t.name}", "port": SERVICE_PORT,
                         "weight": t.weight} for t in self.tracks]
        filters: list[dict[str, Any]] = [{"type": "URLRewrite", "urlRewrite": rewrite}]
        if ep.capture.enabled:
            filters.append(mirror_filter(ep))
        route = k8s.apiextensions.CustomResource(
            f"{name}-route", api_version=GATEWAY_API, kind="HTTPRoute",
            metadata=common.meta(ep.name, ns, labels),
            spec={
                "parentRefs": [{"group": "gateway.networking.k8s.io", "kind": "Gateway",
                                "name": gateway_name(ep.exposure), "namespace": c.GATEWAY_NAMESPACE,
                                "sectionName": listener_name(ep.exposure)}],
                "rules": [{
                    "matches": [{"path": {"type": "PathPrefix", "value": self.route_path}}],
                    "filters": filters,
                    "backendRefs": backends,
                    "timeouts": {"request": "300s"},
                }],
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on), ignore_changes=ignore))
        self.route = route
        if ep.auth.mode == "none":
            return
        policy: dict[str, Any] = {"targetRefs": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute",
                                                  "name": ep.name}]}
        depends: list[pulumi.Resource] = [route]
        if ep.auth.mode == "api_key":
            key = random.RandomPassword(f"{name}-api-key", random.RandomPasswordArgs(length=48, special=False),
                                        opts=pulumi.ResourceOptions(parent=self))
            secret = k8s.core.v1.Secret(
                f"{name}-api-keys",
                metadata=common.meta(f"{ep.name}-api-keys", ns, labels),
                type="Opaque", string_data={"default": key.result},
                opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on)))
            depends.append(secret)
            self.api_key = pulumi.Output.secret(key.result)
            policy["apiKeyAuth"] = {
                "credentialRefs": [{"group": "", "kind": "Secret", "name": f"{ep.name}-api-keys"}],
                "extractFrom": [{"headers": [API_KEY_HEADER]}],
            }
        else:
            # The issuer goes through verbatim: Envoy compares it with the token's `iss` exactly. Envoy Gateway
            # accepts a token "if any of the providers successfully validate" it (api/v1alpha1/jwt_types.go), so
            # an issuer that writes `iss` two ways gets a provider per spelling.
            uri = jwks_uri(ep, at)
            policy["jwt"] = {"providers": [
                {"name": ep.name if i == 0 else f"{ep.name}-{i}", "issuer": issuer,
                 "audiences": list(ep.auth.audiences), "remoteJWKS": {"uri": uri}}
                for i, issuer in enumerate(c.issuer_spellings(ep.auth.issuer or ""))]}
        k8s.apiextensions.CustomResource(
            f"{name}-auth", api_version=ENVOY_API, kind="SecurityPolicy",
            metadata=common.meta(f"{ep.name}-auth", ns, labels),
            spec=policy,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*args.depends_on, *depends]))
