"""Shared building blocks of the Kubernetes layer: pinned charts, labels, restricted pod settings.

Components import these helpers so every pod the layer writes has the same restricted security context and
every object the same labels. The one resource made here is a workload's ServiceAccount
(`workload_service_account`), so that every workload waits for its own grants the same way.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from aienv import conventions as c
from aienv import images
from aienv.errors import ComponentInputError
from components.contracts import BoundIdentity, EgressTarget, ImageSource, ObjectStoreCli

# --- pinned Helm charts ------------------------------------------------------------------------------

@dataclass(frozen=True)
class ChartRef:
    """A Helm chart pinned to one version (`repo` empty for OCI charts, where `chart` is the URL)."""

    chart: str
    version: str
    repo: str = ""

    def release_args(self) -> dict[str, object]:
        """The `chart`, `version` and `repository_opts` keywords of `helm.v3.ReleaseArgs`."""
        args: dict[str, object] = {"chart": self.chart, "version": self.version}
        if self.repo:
            args["repository_opts"] = k8s.helm.v3.RepositoryOptsArgs(repo=self.repo)
        return args


# Versions checked against the projects' release indexes/PRs (see docs/kubernetes.md).
GPU_OPERATOR = ChartRef("gpu-operator", "v25.10.1", "https://helm.ngc.nvidia.com/nvidia")
DCGM_EXPORTER = ChartRef("dcgm-exporter", "4.8.2", "https://nvidia.github.io/dcgm-exporter/helm-charts")
CLUSTER_AUTOSCALER = ChartRef("cluster-autoscaler", "9.52.1", "https://kubernetes.github.io/autoscaler")
KUBE_PROMETHEUS_STACK = ChartRef("kube-prometheus-stack", "78.1.0",
                                 "https://prometheus-community.github.io/helm-charts")
PROMETHEUS_ADAPTER = ChartRef("prometheus-adapter", "5.2.0", "https://prometheus-community.github.io/helm-charts")
PUSHGATEWAY = ChartRef("prometheus-pushgateway", "3.6.1", "https://prometheus-community.github.io/helm-charts")
ENVOY_GATEWAY = ChartRef("oci://docker.io/envoyproxy/gateway-helm", "v1.7.0")
# The MLOps loop (rollouts.py, scaling.py): Argo Rollouts 2.41.0 is argo-helm tag `argo-rollouts-2.41.0` (app
# v1.9.0); keda-add-ons-http 0.15.0 is kedacore/charts commit "feat(http-add-on): release v0.15.0 (#878)"; keda's
# chart follows the cluster's minor version (scaling.keda_chart).
KEDA_REPO = "https://kedacore.github.io/charts"
ARGO_ROLLOUTS = ChartRef("argo-rollouts", "2.41.0", "https://argoproj.github.io/argo-helm")
KEDA_HTTP_ADDON = ChartRef("keda-add-ons-http", "0.15.0", KEDA_REPO)

CHARTS: dict[str, ChartRef] = {
    "gpu-operator": GPU_OPERATOR,
    "dcgm-exporter": DCGM_EXPORTER,
    "cluster-autoscaler": CLUSTER_AUTOSCALER,
    "kube-prometheus-stack": KUBE_PROMETHEUS_STACK,
    "prometheus-adapter": PROMETHEUS_ADAPTER,
    "prometheus-pushgateway": PUSHGATEWAY,
    "gateway-helm": ENVOY_GATEWAY,
    "argo-rollouts": ARGO_ROLLOUTS,
    "keda-add-ons-http": KEDA_HTTP_ADDON,
}

# --- namespaces the layer adds besides the shared ones in aienv.conventions -------------------------
# kube-prometheus-stack runs node-exporter (hostNetwork/hostPID), so it cannot share the restricted
# MONITORING_NAMESPACE where the drift jobs and the Pushgateway run.
PROMETHEUS_NAMESPACE = c.PROMETHEUS_NAMESPACE

# Repository (in the environment's registry) for the layer's helper images: the object-store client, the
# drift job's and the model download's Python, the Feast feature server.
TOOLS_FAMILY = c.TOOLS_FAMILY

# pulumi-kubernetes waits for Deployments, Services and Jobs to be ready, for 10 minutes by default
# (apps/v1/Deployment.py: "If the Deployment has not reached a Ready state after 10 minutes, it will time out
# and mark the resource update as Failed"); this annotation skips that await (the SDK's own yaml module sets
# it: pulumi_kubernetes/yaml/yaml.py `_skip_await`).
SKIP_AWAIT = {"pulumi.com/skipAwait": "true"}

# Metrics the HPA and the alerts read (see observability.py for the adapter rules).
GPU_UTIL_METRIC = "DCGM_FI_DEV_GPU_UTIL"
IN_FLIGHT_METRIC = "aienv_requests_in_flight"
# vLLM's own load signals per pod, recorded from `vllm:num_requests_waiting` and `vllm:kv_cache_usage_perc`
# (x 100, so the autoscaling target is a percent) by each vLLM endpoint's PrometheusRule (monitoring.py).
QUEUE_DEPTH_METRIC = "aienv_queue_depth"
KV_CACHE_METRIC = "aienv_kv_cache_percent"
DRIFT_METRIC = "aienv_drift_score"
DRIFT_LAST_RUN_METRIC = "aienv_drift_last_run_timestamp_seconds"  # pushed by aienv/drift.py with the score
# A drift run starts at most this late after its schedule, and is stopped after this long.
DRIFT_STARTING_DEADLINE_SECONDS = 600
DRIFT_ACTIVE_DEADLINE_SECONDS = 3600
PUSHGATEWAY_SERVICE = "pushgateway"
PUSHGATEWAY_PORT = 9091

APP_PART_OF = "app.kubernetes.io/part-of"
APP_MANAGED_BY = "app.kubernetes.io/managed-by"


def base_labels(environment: str) -> dict[str, str]:
    """Labels on every object the layer writes."""
    return {c.ENVIRONMENT_LABEL: environment, APP_PART_OF: "aienv", APP_MANAGED_BY: c.MANAGED_BY}


def chart_labels(labels: Mapping[str, str]) -> dict[str, str]:
    """`labels` for a chart's own objects: the charts write `app.kubernetes.io/managed-by: Helm` and their own
    `part-of` (kube-prometheus-stack `_helpers.tpl`, pushgateway `defaultLabels`), so those two keys stay theirs."""
    return {k: v for k, v in labels.items() if k not in (APP_MANAGED_BY, APP_PART_OF)}


def meta(name: str, namespace: str | None, labels: Mapping[str, str],
         annotations: Mapping[str, pulumi.Input[str]] | None = None) -> k8s.meta.v1.ObjectMetaArgs:
    return k8s.meta.v1.ObjectMetaArgs(name=name, namespace=namespace, labels=dict(labels),
                                      annotations=dict(annotations) if annotations else None)


def workload_service_account(name: str, parent: pulumi.Resource, account: str, namespace: str,
                             labels: Mapping[str, str], identity: BoundIdentity,
                             depends_on: Sequence[pulumi.Resource], *, api_access: bool = False
                             ) -> k8s.core.v1.ServiceAccount:
    """The ServiceAccount a workload's pods run as, carrying its cloud identity. It waits for the workload's own
    grants (`identity.ready`), and so do the pods that name it: they start once their first call is allowed.
    No token is mounted unless the workload calls the Kubernetes API (`api_access`): cloud credentials come from
    projected tokens (IRSA, Azure workload identity) or the metadata server (GKE)."""
    return k8s.core.v1.ServiceAccount(
        f"{name}-service-account",
        metadata=meta(account, namespace, labels, identity.service_account_annotations),
        automount_service_account_token=api_access,
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[*depends_on, *identity.ready]))


# --- restricted pods ---------------------------------------------------------------------------------

NON_ROOT_UID = 65532


def pod_security(uid: int = NON_ROOT_UID, fs_group_change_policy: str | None = None) -> k8s.core.v1.PodSecurityContextArgs:
    """Pod Security Admission `restricted`: non-root, RuntimeDefault seccomp."""
    return k8s.core.v1.PodSecurityContextArgs(
        run_as_non_root=True, run_as_user=uid, run_as_group=uid, fs_group=uid,
        fs_group_change_policy=fs_group_change_policy,
        seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"))


def container_security() -> k8s.core.v1.SecurityContextArgs:
    """No privilege escalation, read-only root filesystem, every capability dropped."""
    return k8s.core.v1.SecurityContextArgs(
        run_as_non_root=True, allow_privilege_escalation=False, read_only_root_filesystem=True, privileged=False,
        capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"]),
        seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"))


# Plain-data forms of the same settings, for Helm values.
POD_SECURITY_VALUES: dict[str, object] = {
    "runAsNonRoot": True, "runAsUser": NON_ROOT_UID, "runAsGroup": NON_ROOT_UID, "fsGroup": NON_ROOT_UID,
    "seccompProfile": {"type": "RuntimeDefault"}}
CONTAINER_SECURITY_VALUES: dict[str, object] = {
    "runAsNonRoot": True, "allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}}


def empty_dir(name: str, size: str | None = None, memory: bool = False) -> k8s.core.v1.VolumeArgs:
    return k8s.core.v1.VolumeArgs(name=name, empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(
        medium="Memory" if memory else None, size_limit=size))


def resources(cpu: str, memory: str, gpus: int = 0, ephemeral: str | None = None) -> k8s.core.v1.ResourceRequirementsArgs:
    """Requests equal limits (Guaranteed QoS); GPUs are requested and limited alike. `ephemeral` requests node
    disk for the container's emptyDirs, so the scheduler counts it (their `sizeLimit` bounds it)."""
    amounts: dict[str, str] = {"cpu": cpu, "memory": memory}
    if gpus:
        amounts[c.GPU_RESOURCE] = str(gpus)
    requests = {**amounts, **({"ephemeral-storage": ephemeral} if ephemeral else {})}
    return k8s.core.v1.ResourceRequirementsArgs(requests=requests, limits=dict(amounts))


def scratch_volume(name: str, size: str) -> k8s.core.v1.VolumeArgs:
    """A generic ephemeral volume on the scratch storage class: an encrypted disk created with the pod and
    deleted with it, sized for the data instead of the node's root disk."""
    return k8s.core.v1.VolumeArgs(name=name, ephemeral=k8s.core.v1.EphemeralVolumeSourceArgs(
        volume_claim_template=k8s.core.v1.PersistentVolumeClaimTemplateArgs(
            spec=k8s.core.v1.PersistentVolumeClaimSpecArgs(
                access_modes=["ReadWriteOnce"], storage_class_name=c.SCRATCH_STORAGE_CLASS,
                resources=k8s.core.v1.VolumeResourceRequirementsArgs(requests={"storage": size})))))


GPU_TOLERATION_VALUES: dict[str, str] = {"key": c.GPU_TAINT_KEY, "operator": "Exists", "effect": c.GPU_TAINT_EFFECT}


def gpu_toleration() -> k8s.core.v1.TolerationArgs:
    return k8s.core.v1.TolerationArgs(key=c.GPU_TAINT_KEY, operator="Equal", value=c.GPU_TAINT_VALUE,
                                      effect=c.GPU_TAINT_EFFECT)


# --- images ------------------------------------------------------------------------------------------

_PINNED = re.compile(r"^[a-z0-9][a-z0-9._/-]*(:[A-Za-z0-9_][A-Za-z0-9._-]{0,127})?(@sha256:[a-f0-9]{64})?$")


def check_pinned(image: str, field: str) -> None:
    """An image reference must carry a tag other than `latest`, or a digest."""
    if not _PINNED.match(image):
        raise ComponentInputError(field, f"`{image}` is not a valid image reference (path:tag or path@sha256:...)")
    has_digest = "@sha256:" in image
    tag = image.split("@")[0].rsplit("/", 1)[-1].partition(":")[2]
    if not has_digest and (not tag or tag == "latest"):
        raise ComponentInputError(field, f"`{image}` must be pinned to a tag other than `latest` or to a digest")


@dataclass(frozen=True)
class ImageRefs:
    """The references pods pull: through `foundation.images` (the registry's upstream caches, or the team's CI
    pushes) when the foundation has one, else `<registry_url>/<family>/<name>`."""

    registry_url: pulumi.Input[str]
    source: ImageSource | None
    tools: Mapping[str, tuple[str, str]]  # KubernetesSupport.tool_images

    def image(self, supply: str, family: str, image: str, field: str) -> pulumi.Output[str]:
        if self.source is None:
            return pulumi.Output.concat(self.registry_url, "/", family, "/", image)
        if supply == "ci":
            return pulumi.Output.from_input(self.source.pushed(family, image))
        upstream = images.upstream_image(image)
        if upstream is None:
            raise ComponentInputError(field, (
                f"`{image}` has no known upstream to pull through a cache (known: {', '.join(sorted(images.UPSTREAMS))}); "
                "set `image_supply: ci` if your CI pushes it"))
        return pulumi.Output.from_input(self.source.cached(upstream))

    def tool(self, tool: str) -> pulumi.Output[str]:
        supply, image = self.tools[tool]
        return self.image(supply, TOOLS_FAMILY, image, f"<tool image {tool}>")

    def pushed_tool(self, tool: str) -> bool:
        """Whether the team's CI pushes this tool image (no upstream publishes it)."""
        return self.tools[tool][0] == "ci"


def supply_annotations(*, ci_images: bool = False, uploaded_weights: bool = False) -> dict[str, str]:
    """Pod-template annotations declaring what the team supplies, so the deployability pack does not expect the
    stack to fill it: images the team's CI pushes, weights its pipeline uploads."""
    out: dict[str, str] = {}
    if ci_images:
        out[c.IMAGE_SUPPLY_ANNOTATION] = "ci"
    if uploaded_weights:
        out[c.MODEL_SUPPLY_ANNOTATION] = "uploaded"
    return out


# --- shell in containers ------------------------------------------------------------------------------

def script(*lines: str) -> list[str]:
    """`sh -c` with the lines of a script that stops at the first failure or unset variable."""
    return ["sh", "-c", "\n".join(("set -eu", *(line for line in lines if line)))]


def env(values: Mapping[str, pulumi.Input[str]]) -> list[k8s.core.v1.EnvVarArgs]:
    return [k8s.core.v1.EnvVarArgs(name=name, value=value) for name, value in values.items()]


def tool_container(name: str, image: pulumi.Input[str], store: ObjectStoreCli, lines: Sequence[str],
                   extra_env: Mapping[str, pulumi.Input[str]], mounts: Sequence[k8s.core.v1.VolumeMountArgs],
                   cpu: str = "500m", memory: str = "1Gi") -> k8s.core.v1.ContainerArgs:
    """A restricted container running `lines` with the object-store client."""
    return k8s.core.v1.ContainerArgs(
        name=name, image=image, command=script(*lines), env=env({**store.env, **extra_env}),
        resources=resources(cpu, memory), security_context=container_security(), volume_mounts=list(mounts))


def join_uri(base: pulumi.Input[str], path: str) -> pulumi.Output[str]:
    """`base` + `/` + `path` with exactly one slash between them."""
    return pulumi.Output.from_input(base).apply(lambda b: b.rstrip("/") + "/" + path.lstrip("/"))


# --- network policy peers ----------------------------------------------------------------------------

def namespace_peer(namespace: str, pod_labels: Mapping[str, str] | None = None) -> k8s.networking.v1.NetworkPolicyPeerArgs:
    return k8s.networking.v1.NetworkPolicyPeerArgs(
        namespace_selector=k8s.meta.v1.LabelSelectorArgs(match_labels={"kubernetes.io/metadata.name": namespace}),
        pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=dict(pod_labels)) if pod_labels else None)


PRIVATE_RANGES = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")


def tcp_ports(*ports: pulumi.Input[int]) -> list[k8s.networking.v1.NetworkPolicyPortArgs]:
    return [k8s.networking.v1.NetworkPolicyPortArgs(port=p, protocol="TCP") for p in ports]


def https_egress() -> k8s.networking.v1.NetworkPolicyEgressRuleArgs:
    """HTTPS to cloud APIs (object storage, token exchange) whose addresses are not fixed."""
    return k8s.networking.v1.NetworkPolicyEgressRuleArgs(
        to=[k8s.networking.v1.NetworkPolicyPeerArgs(ip_block=k8s.networking.v1.IPBlockArgs(cidr="0.0.0.0/0"))],
        ports=tcp_ports(443))


def identity_egress(targets: Sequence[EgressTarget]) -> list[k8s.networking.v1.NetworkPolicyEgressRuleArgs]:
    """Egress to the addresses pods get their cloud identity from (KubernetesSupport.identity_egress)."""
    return [k8s.networking.v1.NetworkPolicyEgressRuleArgs(
        to=[k8s.networking.v1.NetworkPolicyPeerArgs(ip_block=k8s.networking.v1.IPBlockArgs(cidr=t.cidr))],
        ports=tcp_ports(*t.ports)) for t in targets]


_LABEL_KEY = re.compile(r"^[a-z0-9]([a-z0-9._-]{0,52}[a-z0-9])?$")
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?)?$")


def label_value_ok(key: str, value: str) -> bool:
    """Whether `aienv.io/<key>: <value>` is a valid Kubernetes label."""
    return bool(_LABEL_KEY.match(key) and _LABEL_VALUE.match(value))
