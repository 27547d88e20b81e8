"""AI / GPU rules: GPU scheduling, GPU capacity, serving endpoints, model governance.

The labels, taints and names come from `aienv.conventions` (the components write them); GPU facts
(memory, GPUs per machine type) from `aienv.gpus`. Node pools are read on all three clouds:
EKS NodeGroup (`labels`, `taints`), AKS AgentPool / ManagedCluster.agentPoolProfiles (`nodeLabels`,
`nodeTaints` "key=value:Effect"), GKE NodePool (`nodeConfig.labels`, `nodeConfig.taints`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pulumi_policy import ResourceValidationArgs, StackValidationArgs
from pulumi_policy.proxy import UnknownValueError

from aienv import gpus
from aienv.conventions import (
    COMPONENT_DRIFT,
    COMPONENT_LABEL,
    COMPONENT_SERVING,
    ENDPOINT_LABEL,
    GPU_COUNT_LABEL,
    GPU_RESOURCE,
    GPU_TAINT_EFFECT,
    GPU_TAINT_KEY,
    GPU_TYPE_LABEL,
    MODEL_MEMORY_ANNOTATION,
    MODEL_PARAMS_ANNOTATION,
    MODEL_PRECISION_ANNOTATION,
    TAG_TIER,
)
from policies import meta as m
from policies.meta import RuleMeta
from policies.rules._base import (
    Deferred,
    Unknown,
    get,
    guarded,
    items,
    number,
    resource_rule,
    stack_rule,
    subject,
)
from policies.rules.kubernetes import (
    CRONJOB,
    DEPLOYMENT,
    PUBLIC_ANNOTATION,
    SERVICE,
    WORKLOADS,
    containers,
    is_public_service,
    pod_spec,
    public_allowed,
)

EKS_NODEGROUP = "aws:eks/nodeGroup:NodeGroup"
AKS_POOL = "azure-native:containerservice:AgentPool"
AKS = "azure-native:containerservice:ManagedCluster"
GKE_POOL = "gcp:container/nodePool:NodePool"
POOL_TYPES = frozenset({EKS_NODEGROUP, AKS_POOL, GKE_POOL})
PROMETHEUS_RULE = "kubernetes:monitoring.coreos.com/v1:PrometheusRule"
INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"
AUTH_POLICY_TYPES = frozenset({
    "kubernetes:gateway.envoyproxy.io/v1alpha1:SecurityPolicy",
    "kubernetes:security.istio.io/v1:RequestAuthentication",
    "kubernetes:security.istio.io/v1beta1:RequestAuthentication",
})
AUTH_KEYS = ("jwt", "apiKeyAuth", "basicAuth", "oidc", "extAuth", "jwtRules")

_MACHINE_GPUS: dict[str, tuple[str, int]] = {
    shape.machine_type: (gpu.name, shape.gpus)
    for gpu in gpus.CATALOGUE.values() for offer in gpu.offers.values() for shape in offer.shapes
}


def _effect(value: Any) -> str:
    return str(value or "").replace("_", "").lower()


# --- Node pools ------------------------------------------------------------------------------------------
@dataclass
class Pool:
    urn: str | None
    name: str
    resource_type: str
    labels: dict[str, str]
    taints: list[tuple[str, str, str]]  # key, value, effect (normalized lower, no underscores)
    machine_types: list[str]
    accelerators: int  # GKE guest accelerators per node
    min_nodes: float | None
    max_nodes: float | None
    tier: str | None

    @property
    def gpu_type(self) -> str | None:
        if self.labels.get(GPU_TYPE_LABEL):
            return self.labels[GPU_TYPE_LABEL]
        for mt in self.machine_types:
            if mt in _MACHINE_GPUS:
                return _MACHINE_GPUS[mt][0]
        return None

    @property
    def gpus_per_node(self) -> int:
        if self.labels.get(GPU_COUNT_LABEL):
            try:
                return int(float(self.labels[GPU_COUNT_LABEL]))
            except ValueError:
                pass
        if self.accelerators:
            return self.accelerators
        counts = [_MACHINE_GPUS[mt][1] for mt in self.machine_types if mt in _MACHINE_GPUS]
        return min(counts) if counts else 0

    @property
    def is_gpu(self) -> bool:
        return self.gpus_per_node > 0 or bool(self.labels.get(GPU_TYPE_LABEL))

    @property
    def gpu_tainted(self) -> bool:
        return any(k == GPU_TAINT_KEY and e == _effect(GPU_TAINT_EFFECT) for k, _, e in self.taints)


def _aks_taints(values: list[Any]) -> list[tuple[str, str, str]]:
    out = []
    for t in values:
        if not isinstance(t, str):
            continue
        kv, _, effect = t.partition(":")
        key, _, value = kv.partition("=")
        out.append((key, value, _effect(effect)))
    return out


def _aks_pool(urn: str | None, name: str, rtype: str, props: Any) -> Pool:
    return Pool(urn, name, rtype, dict(get(props, "nodeLabels") or {}), _aks_taints(items(props, "nodeTaints")),
                [str(get(props, "vmSize") or "")], 0,
                number(props, "minCount") if get(props, "enableAutoScaling") else number(props, "count"),
                number(props, "maxCount") if get(props, "enableAutoScaling") else number(props, "count"),
                (get(props, "tags") or {}).get(TAG_TIER))


def _first(*values: float | None) -> float | None:
    """The first value that is set: GKE takes per-zone (`minNodeCount`) or total (`totalMinNodeCount`) limits."""
    return next((v for v in values if v is not None), None)


def pools_of(resource_type: str, name: str, urn: str | None, props: Any) -> list[Pool]:
    """The node pools a resource defines (AKS clusters may define several inline)."""
    if resource_type == EKS_NODEGROUP:
        taints = [(str(get(t, "key")), str(get(t, "value") or ""), _effect(get(t, "effect"))) for t in items(props, "taints")]
        return [Pool(urn, name, resource_type, dict(get(props, "labels") or {}), taints,
                     [str(x) for x in items(props, "instanceTypes")], 0,
                     number(props, "scalingConfig.minSize"), number(props, "scalingConfig.maxSize"),
                     (get(props, "tags") or {}).get(TAG_TIER))]
    if resource_type == AKS_POOL:
        return [_aks_pool(urn, name, resource_type, props)]
    if resource_type == AKS:
        return [_aks_pool(urn, f"{name}/{get(p, 'name')}", resource_type, p) for p in items(props, "agentPoolProfiles")]
    if resource_type == GKE_POOL:
        taints = [(str(get(t, "key")), str(get(t, "value") or ""), _effect(get(t, "effect")))
                  for t in items(props, "nodeConfig.taints")]
        accel = sum(int(number(a, "count", 0) or 0) for a in items(props, "nodeConfig.guestAccelerators"))
        count = number(props, "nodeCount") or number(props, "initialNodeCount")
        labels = dict(get(props, "nodeConfig.labels") or {})
        tier_labels = dict(get(props, "nodeConfig.resourceLabels") or {})
        return [Pool(urn, name, resource_type, labels, taints, [str(get(props, "nodeConfig.machineType") or "")], accel,
                     _first(number(props, "autoscaling.minNodeCount"), number(props, "autoscaling.totalMinNodeCount"))
                     if get(props, "autoscaling") else count,
                     (number(props, "autoscaling.maxNodeCount") or number(props, "autoscaling.totalMaxNodeCount"))
                     if get(props, "autoscaling") else count,
                     tier_labels.get(TAG_TIER) or labels.get(TAG_TIER))]
    return []


# --- GPU workloads ----------------------------------------------------------------------------------------
def gpu_limit(spec: Any) -> int:
    """GPUs one pod of this spec needs on a node (sum over containers of the `nvidia.com/gpu` limit or request)."""
    total = 0
    for c in containers(spec, init=False):
        value = get(c, "resources.limits") or {}
        req = get(c, "resources.requests") or {}
        raw = value.get(GPU_RESOURCE) if GPU_RESOURCE in value else req.get(GPU_RESOURCE) if GPU_RESOURCE in req else None
        if raw is not None:
            total += int(float(raw))
    return total


def selected_gpu_types(spec: Any) -> set[str] | None:
    """GPU types the pod requires via nodeSelector or required node affinity (None: no selection)."""
    selector = get(spec, "nodeSelector") or {}
    if GPU_TYPE_LABEL in selector:
        return {str(selector[GPU_TYPE_LABEL])}
    terms = items(spec, "affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms")
    found: set[str] = set()
    for term in terms:
        for expr in items(term, "matchExpressions"):
            if get(expr, "key") == GPU_TYPE_LABEL and get(expr, "operator") == "In":
                found.update(str(v) for v in items(expr, "values"))
    return found or None


def tolerates_gpu_taint(spec: Any) -> bool:
    for tol in items(spec, "tolerations"):
        key, op, effect = get(tol, "key"), get(tol, "operator") or "Equal", get(tol, "effect")
        if effect not in (None, "", GPU_TAINT_EFFECT):
            continue
        if op == "Exists" and key in (None, "", GPU_TAINT_KEY):
            return True
        if key == GPU_TAINT_KEY:
            return True
    return False


def _s(args: ResourceValidationArgs) -> str:
    return subject(args.resource_type, args.name)


_GPU_SCHEDULING = m.merge(m.CAPACITY, m.CONFIGURATION)


@resource_rule(RuleMeta(
    name="ai-gpu-pool-tainted",
    description=f"Taint every GPU node pool with `{GPU_TAINT_KEY}` ({GPU_TAINT_EFFECT}) and label it with its GPU type.",
    severity="high", area="ai", controls=_GPU_SCHEDULING,
    remediation=f"Add the taint {GPU_TAINT_KEY}=present:{GPU_TAINT_EFFECT} and the labels `{GPU_TYPE_LABEL}` and "
                f"`{GPU_COUNT_LABEL}` to the pool so only GPU workloads land there.",
), POOL_TYPES | {AKS})
def gpu_pool_tainted(args: ResourceValidationArgs) -> Iterator[str]:
    for pool in pools_of(args.resource_type, args.name, args.urn, args.props):
        if not pool.is_gpu:
            continue
        where = f"{_s(args)}" if pool.name == args.name else f"{_s(args)} (pool `{pool.name}`)"
        if not pool.gpu_tainted:
            yield f"{where} must be tainted `{GPU_TAINT_KEY}:{GPU_TAINT_EFFECT}`."
        if not pool.labels.get(GPU_TYPE_LABEL):
            yield f"{where} must be labelled `{GPU_TYPE_LABEL}`."


@resource_rule(RuleMeta(
    name="ai-gpu-workload-placement",
    description=f"Make every GPU workload tolerate `{GPU_TAINT_KEY}` and select its GPU type with `{GPU_TYPE_LABEL}`.",
    severity="high", area="ai", controls=_GPU_SCHEDULING,
    remediation=f"Add a toleration for `{GPU_TAINT_KEY}` ({GPU_TAINT_EFFECT}) and a nodeSelector (or required node "
                f"affinity) on `{GPU_TYPE_LABEL}`.",
), WORKLOADS)
def gpu_workload_placement(args: ResourceValidationArgs) -> Iterator[str]:
    spec = pod_spec(args.resource_type, args.props)
    if spec is None or gpu_limit(spec) == 0:
        return
    if not tolerates_gpu_taint(spec):
        yield f"{_s(args)} must tolerate the `{GPU_TAINT_KEY}` taint."
    if selected_gpu_types(spec) is None:
        yield f"{_s(args)} must select GPU nodes with `{GPU_TYPE_LABEL}` (nodeSelector or required node affinity)."


@resource_rule(RuleMeta(
    name="ai-gpu-requests-equal-limits",
    description=f"Request whole `{GPU_RESOURCE}` with requests equal to limits.",
    severity="medium", area="ai", controls=m.CAPACITY,
    remediation=f"Set resources.limits[{GPU_RESOURCE}] to a whole number and requests equal to it (or omit requests).",
), WORKLOADS)
def gpu_requests_limits(args: ResourceValidationArgs) -> Iterator[str]:
    spec = pod_spec(args.resource_type, args.props)
    if spec is None:
        return
    for c in containers(spec):
        limits = get(c, "resources.limits") or {}
        requests = get(c, "resources.requests") or {}
        lim = limits.get(GPU_RESOURCE) if GPU_RESOURCE in limits else None
        req = requests.get(GPU_RESOURCE) if GPU_RESOURCE in requests else None
        if lim is None and req is None:
            continue
        if lim is None:
            yield f"{_s(args)} must set a `{GPU_RESOURCE}` limit in container `{get(c, 'name')}`."
        elif req is not None and float(req) != float(lim):
            yield f"{_s(args)} must request as many `{GPU_RESOURCE}` as it limits in container `{get(c, 'name')}`."
        elif float(lim) != int(float(lim)) or float(lim) <= 0:
            yield f"{_s(args)} must request a whole positive number of GPUs in container `{get(c, 'name')}`."


def _stack_pools(args: StackValidationArgs) -> list[Pool]:
    out: list[Pool] = []
    for r in args.resources:
        if r.resource_type in POOL_TYPES or r.resource_type == AKS:
            try:
                out.extend(pools_of(r.resource_type, r.name, r.urn, r.props))
            except UnknownValueError:
                continue  # an unknown pool cannot prove anything; workloads relying on it fail below
    return out


@stack_rule(RuleMeta(
    name="ai-gpu-workload-scheduling",
    description="Schedule every GPU workload onto an existing, tainted pool of its GPU type with enough GPUs per node.",
    severity="critical", area="ai", controls=_GPU_SCHEDULING,
    remediation="Select a GPU type that a tainted pool in this stack provides, and keep the pod's GPU limit at or "
                "below that pool's GPUs per node.",
), WORKLOADS | POOL_TYPES | {AKS})
def gpu_scheduling(args: StackValidationArgs) -> Iterator[tuple[str, str | None]]:
    pools = _stack_pools(args)

    def check(r: Any) -> Iterator[str]:
        spec = pod_spec(r.resource_type, r.props)
        need = gpu_limit(spec) if spec is not None else 0
        if need == 0:
            return
        who = subject(r.resource_type, r.name)
        types = selected_gpu_types(spec)
        if types is None:
            yield f"{who} must select a GPU pool with `{GPU_TYPE_LABEL}`."
            return
        if not tolerates_gpu_taint(spec):
            yield f"{who} must tolerate the `{GPU_TAINT_KEY}` taint of its GPU pool."
        for gpu_type in sorted(types):
            matching = [p for p in pools if p.labels.get(GPU_TYPE_LABEL) == gpu_type]
            if not matching:
                yield f"{who} must select a GPU type that a pool in this stack provides (no pool is labelled `{GPU_TYPE_LABEL}={gpu_type}`)."
                continue
            if not any(p.is_gpu and p.gpus_per_node > 0 for p in matching):
                yield f"{who} must not land on pool(s) {', '.join(p.name for p in matching)}: they have no GPUs."
                continue
            if not any(p.gpu_tainted for p in matching):
                yield f"{who} must run on a tainted GPU pool; pool(s) {', '.join(p.name for p in matching)} lack the `{GPU_TAINT_KEY}` taint."
            best = max(p.gpus_per_node for p in matching)
            if need > best:
                yield f"{who} must not need more GPUs per pod ({need}) than a `{gpu_type}` node has ({best})."

    yield from guarded(args.resources, WORKLOADS, check)


@stack_rule(RuleMeta(
    name="ai-gpu-pool-label-matched",
    description="Give every GPU pool's GPU-type label at least one workload that selects it.",
    severity="low", area="ai", enforcement="advisory", controls=m.CAPACITY,
    remediation="Remove the idle GPU pool, or point a workload at it with the pool's GPU-type label.",
), WORKLOADS | POOL_TYPES | {AKS})
def gpu_pool_matched(args: StackValidationArgs) -> Iterator[tuple[str, str | None]]:
    wanted: set[str] = set()
    for r in args.resources:
        if r.resource_type in WORKLOADS:
            try:
                spec = pod_spec(r.resource_type, r.props)
                wanted.update(selected_gpu_types(spec) or set() if spec is not None else set())
            except UnknownValueError:
                return  # cannot tell which labels are wanted; this advisory check stays quiet
    for pool in _stack_pools(args):
        label = pool.labels.get(GPU_TYPE_LABEL)
        if label and label not in wanted:
            yield (f"The node pool `{pool.name}` must be selected by a workload: no workload selects "
                   f"`{GPU_TYPE_LABEL}={label}`.", pool.urn)


POD_TEMPLATE_ANNOTATIONS = {DEPLOYMENT: "spec.template.metadata.annotations",
                            "kubernetes:apps/v1:StatefulSet": "spec.template.metadata.annotations"}


def _model_memory(annotations: dict[str, Any]) -> float | None:
    if MODEL_MEMORY_ANNOTATION in annotations:
        return float(annotations[MODEL_MEMORY_ANNOTATION])
    if MODEL_PARAMS_ANNOTATION in annotations:
        precision = str(annotations.get(MODEL_PRECISION_ANNOTATION, "fp16"))
        if precision in gpus.BYTES_PER_PARAM:
            return gpus.model_memory_gib(float(annotations[MODEL_PARAMS_ANNOTATION]), precision)
    return None


@resource_rule(RuleMeta(
    name="ai-model-fits-gpu-memory",
    description="Size serving pods so the model fits in the GPU memory they request.",
    severity="high", area="ai", controls=m.CAPACITY,
    remediation=f"Request more GPUs or a larger GPU type, or quantize the model; the model size comes from the "
                f"`{MODEL_MEMORY_ANNOTATION}` or `{MODEL_PARAMS_ANNOTATION}`/`{MODEL_PRECISION_ANNOTATION}` annotations.",
), WORKLOADS)
def model_fits(args: ResourceValidationArgs) -> Iterator[str]:
    spec = pod_spec(args.resource_type, args.props)
    if spec is None:
        return
    annotations = dict(get(args.props, "metadata.annotations") or {})
    if args.resource_type in POD_TEMPLATE_ANNOTATIONS:
        annotations.update(dict(get(args.props, POD_TEMPLATE_ANNOTATIONS[args.resource_type]) or {}))
    need = _model_memory(annotations)
    if need is None:
        return
    count = gpu_limit(spec)
    types = selected_gpu_types(spec) or set()
    if count == 0:
        yield f"{_s(args)} must request GPUs for its {need:.0f} GiB model."
        return
    for gpu_type in types:
        info = gpus.CATALOGUE.get(gpu_type)
        if info and info.memory_gib * count < need:
            yield (f"{_s(args)} must fit its model ({need:.0f} GiB) in GPU memory: {count} x {gpu_type} "
                   f"give {info.memory_gib * count} GiB.")


@stack_rule(RuleMeta(
    name="ai-gpu-quota",
    description="Keep the GPU pools' maximum GPUs within the configured quota.",
    severity="high", area="ai", controls=m.CAPACITY,
    config={"maxGpus": {"type": "integer", "default": 64, "minimum": 0,
                        "description": "Largest number of GPUs all pools of the stack may scale to."}},
    remediation="Lower the pools' maximum node counts, or raise `maxGpus` after approving the budget.",
), POOL_TYPES | {AKS})
def gpu_quota(args: StackValidationArgs) -> Iterator[tuple[str, str | None]]:
    quota = int(args.get_config().get("maxGpus") or 64)
    total = 0.0
    deferred: list[tuple[str, str]] = []
    for r in args.resources:
        if r.resource_type not in POOL_TYPES and r.resource_type != AKS:
            continue
        try:
            pools = pools_of(r.resource_type, r.name, r.urn, r.props)
        except UnknownValueError as err:  # its size is decided at the update; the known pools still count
            deferred.append((r.urn, ".".join(err.props) or "?"))
            continue
        for p in pools:
            if p.is_gpu:
                total += (p.max_nodes or 0) * p.gpus_per_node
    if total > quota:
        yield f"The stack must keep its GPU pools within the quota of {quota} GPUs (they can scale to {int(total)}).", None
    elif deferred:
        raise Deferred(deferred)


@resource_rule(RuleMeta(
    name="ai-gpu-scale-to-zero",
    description="Let GPU pools outside production scale to zero nodes.",
    severity="low", area="ai", enforcement="advisory", controls=m.CAPACITY,
    config={"productionTiers": {"type": "array", "items": {"type": "string"}, "default": ["prod", "production"]}},
    remediation=f"Set the pool minimum to 0 (autoscaling) when its `{TAG_TIER}` tag is not a production tier.",
), POOL_TYPES)
def gpu_scale_to_zero(args: ResourceValidationArgs) -> Iterator[str]:
    prod = set(args.get_config().get("productionTiers") or ["prod", "production"])
    for pool in pools_of(args.resource_type, args.name, args.urn, args.props):
        tier = pool.tier or args.stack_tags.get(TAG_TIER)
        if pool.is_gpu and tier and tier not in prod and (pool.min_nodes or 0) > 0:
            yield f"{_s(args)} must scale to zero nodes outside production (tier `{tier}`, minimum {int(pool.min_nodes or 0)})."


# --- Serving endpoints --------------------------------------------------------------------------------------
def _labels(props: Any) -> dict[str, str]:
    return dict(get(props, "metadata.labels") or {})


def serving_endpoints(args: StackValidationArgs) -> dict[str, list[Any]]:
    """Endpoint name -> serving Deployments (stable, canary) labelled with it."""
    out: dict[str, list[Any]] = {}
    for r in args.resources:
        if r.resource_type != DEPLOYMENT:
            continue
        try:
            labels = _labels(r.props)
        except UnknownValueError:
            continue
        if labels.get(COMPONENT_LABEL) == COMPONENT_SERVING and labels.get(ENDPOINT_LABEL):
            out.setdefault(labels[ENDPOINT_LABEL], []).append(r)
    return out


def _label_index(args: StackValidationArgs) -> dict[str, list[tuple[Any, dict[str, Any]]]]:
    """Resources by type with their labels, read once per stack validation: the per-endpoint policies look
    up their endpoint's objects here instead of scanning every resource again (linear, not quadratic)."""
    cached = _LABEL_INDEX[0]
    if cached is not None and cached[0] is args:
        return cached[1]
    index: dict[str, list[tuple[Any, dict[str, Any]]]] = {}
    for r in args.resources:
        try:
            labels = _labels(r.props)
        except UnknownValueError:
            continue
        index.setdefault(r.resource_type, []).append((r, labels))
    _LABEL_INDEX[0] = (args, index)
    return index


# The last stack's index; the identity check keeps one validation's index from serving another.
_LABEL_INDEX: list[tuple[StackValidationArgs, dict[str, list[tuple[Any, dict[str, Any]]]]] | None] = [None]


def _labelled(args: StackValidationArgs, types: frozenset[str], **want: str) -> list[Any]:
    index = _label_index(args)
    return [r for t in sorted(types) for r, labels in index.get(t, ())
            if all(labels.get(k) == v for k, v in want.items())]


def _rule_text(rule_resource: Any) -> str:
    parts = []
    for group in items(rule_resource.props, "spec.groups"):
        for rule in items(group, "rules"):
            parts.append(f"{get(rule, 'alert') or ''} {get(rule, 'expr') or ''}".lower())
    return " ".join(parts)


@stack_rule(RuleMeta(
    name="ai-serving-alerts",
    description="Alert on latency, errors and GPU health for every serving endpoint.",
    severity="high", area="ai", controls=m.MONITORING,
    remediation=f"Create a PrometheusRule labelled `{ENDPOINT_LABEL}: <endpoint>` with latency, error-rate and "
                f"GPU (DCGM) alerts.",
), [DEPLOYMENT, PROMETHEUS_RULE])
def serving_alerts(args: StackValidationArgs) -> Iterator[tuple[str, str | None]]:
    deferred: list[tuple[str, str]] = []
    for endpoint, deployments in sorted(serving_endpoints(args).items()):
        anchor = deployments[0]
        rules = _labelled(args, frozenset({PROMETHEUS_RULE}), **{ENDPOINT_LABEL: endpoint})
        if not rules:
            yield f"The serving endpoint `{endpoint}` must have alerts (a PrometheusRule labelled `{ENDPOINT_LABEL}={endpoint}`).", anchor.urn
            continue
        try:
            text = " ".join(_rule_text(r) for r in rules)
        except UnknownValueError as err:
            deferred.append((anchor.urn, ".".join(err.props) or "spec.groups"))
            continue
        uses_gpu = any(gpu_limit(pod_spec(d.resource_type, d.props)) > 0 for d in deployments)
        wanted = {"latency": ("latency", "duration", "p99", "p95"), "error": ("error", "5xx", "fail")}
        if uses_gpu:
            wanted["GPU"] = ("gpu", "dcgm")
        missing = [k for k, words in wanted.items() if not any(w in text for w in words)]
        if missing:
            yield f"The serving endpoint `{endpoint}` must have {', '.join(missing)} alerts.", anchor.urn
    if deferred:
        raise Deferred(deferred)


@stack_rule(RuleMeta(
    name="ai-serving-drift-monitor",
    description="Run a drift monitor for every serving endpoint.",
    severity="medium", area="ai", controls=m.MONITORING,
    remediation=f"Create a CronJob labelled `{COMPONENT_LABEL}: {COMPONENT_DRIFT}` and `{ENDPOINT_LABEL}: <endpoint>`.",
), [DEPLOYMENT, CRONJOB])
def serving_drift(args: StackValidationArgs) -> Iterator[tuple[str, str | None]]:
    for endpoint, deployments in sorted(serving_endpoints(args).items()):
        monitors = _labelled(args, frozenset({CRONJOB}), **{COMPONENT_LABEL: COMPONENT_DRIFT, ENDPOINT_LABEL: endpoint})
        if not monitors:
            yield (f"The serving endpoint `{endpoint}` must have a drift monitor (a CronJob labelled "
                   f"`{COMPONENT_LABEL}={COMPONENT_DRIFT}`, `{ENDPOINT_LABEL}={endpoint}`)."), deployments[0].urn


@stack_rule(RuleMeta(
    name="ai-endpoint-auth",
    description="Require authentication on every serving endpoint.",
    severity="critical", area="ai", controls=m.AUTHENTICATION,
    remediation=f"Attach a gateway SecurityPolicy (JWT, API key, OIDC or ext-auth) labelled `{ENDPOINT_LABEL}: <endpoint>`.",
), {DEPLOYMENT} | AUTH_POLICY_TYPES)
def endpoint_auth(args: StackValidationArgs) -> Iterator[tuple[str, str | None]]:
    for endpoint, deployments in sorted(serving_endpoints(args).items()):
        policies = _labelled(args, AUTH_POLICY_TYPES, **{ENDPOINT_LABEL: endpoint})
        ok = False
        for p in policies:
            try:
                spec = get(p.props, "spec") or {}
                ok = ok or any(k in spec for k in AUTH_KEYS)
            except UnknownValueError:
                continue
        if not ok:
            yield (f"The serving endpoint `{endpoint}` must require authentication (a SecurityPolicy with JWT, API key, "
                   f"OIDC or ext-auth labelled `{ENDPOINT_LABEL}={endpoint}`)."), deployments[0].urn


@resource_rule(RuleMeta(
    name="ai-endpoint-not-public",
    description="Do not expose serving endpoints publicly without an explicit flag.",
    severity="critical", area="ai", controls=m.NETWORK_EXPOSURE,
    remediation=f"Serve through the internal gateway, or annotate the object `{PUBLIC_ANNOTATION}: \"true\"` when the "
                f"endpoint is meant to be public (it still needs authentication).",
), [SERVICE, INGRESS])
def endpoint_not_public(args: ResourceValidationArgs) -> Iterator[str]:
    labels = _labels(args.props)
    if not labels.get(ENDPOINT_LABEL) and labels.get(COMPONENT_LABEL) != COMPONENT_SERVING:
        return
    if public_allowed(args.props):
        return
    if args.resource_type == SERVICE:
        if is_public_service(args.props) or get(args.props, "spec.type") == "NodePort":
            yield f"{_s(args)} must not expose the endpoint publicly without `{PUBLIC_ANNOTATION}: \"true\"`."
    elif "internal" not in str(get(args.props, "spec.ingressClassName") or ""):
        yield f"{_s(args)} must not expose the endpoint publicly without `{PUBLIC_ANNOTATION}: \"true\"`."


def image_ref(image: str) -> tuple[str, str | None, str | None]:
    """`registry/path`, tag, digest of an image reference."""
    digest = None
    if "@" in image:
        image, digest = image.split("@", 1)
    tag = None
    last = image.rsplit("/", 1)[-1]
    if ":" in last:
        image, tag = image.rsplit(":", 1)
    return image, tag, digest


ECR_HOST = re.compile(r"^\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/")


@dataclass
class Registries:
    """The stack's registries: every prefix images may come from, those whose tags are immutable, the prefixes
    filled by a cache of an upstream registry (ECR pull-through cache rules, ACR cache rules, Artifact Registry
    remote repositories), and whether some registry's address is unknown at preview. ECR repositories and cache
    prefixes are keyed `ecr:<repository path>` (the account and region of their URL are the stack's own and only
    known once created); the others by their registry host/path."""

    prefixes: set[str]
    immutable: set[str]
    cached: set[str]
    unknown: bool


def environment_registries(args: StackValidationArgs) -> Registries:
    prefixes: set[str] = set()
    immutable: set[str] = set()
    cached: set[str] = set()
    login_servers: dict[str, str] = {}  # registry URN -> login server
    acr_targets: list[tuple[list[str], str]] = []  # (registry URNs, target repository)
    templates: list[tuple[str, bool]] = []  # ECR creation templates for pull-through caches: (prefix, immutable)
    unknown = False
    for r in args.resources:
        try:
            if r.resource_type == "aws:ecr/repository:Repository":
                name = get(r.props, "name")
                if isinstance(name, str):
                    prefixes.add(f"ecr:{name}")
                    if str(get(r.props, "imageTagMutability") or "").startswith("IMMUTABLE"):
                        immutable.add(f"ecr:{name}")
            elif r.resource_type == "aws:ecr/pullThroughCacheRule:PullThroughCacheRule":
                prefix = get(r.props, "ecrRepositoryPrefix")
                if isinstance(prefix, str):
                    prefixes.add(f"ecr:{prefix}")  # repositories the cache creates are `<prefix>/<upstream path>`
                    cached.add(f"ecr:{prefix}")
            elif r.resource_type == "aws:ecr/repositoryCreationTemplate:RepositoryCreationTemplate":
                if "PULL_THROUGH_CACHE" in (get(r.props, "appliedFors") or []):
                    prefix = get(r.props, "prefix")
                    mutability = str(get(r.props, "imageTagMutability") or "MUTABLE")
                    if isinstance(prefix, str):
                        templates.append((prefix, mutability == "IMMUTABLE"))
            elif r.resource_type == "azure-native:containerregistry:CacheRule":
                target = get(r.props, "targetRepository")
                if isinstance(target, str):
                    acr_targets.append(([d.urn for d in r.property_dependencies.get("registryName", [])], target))
            elif r.resource_type == "azure-native:containerregistry:Registry":
                server = get(r.props, "loginServer")
                if isinstance(server, str):
                    prefixes.add(server)
                    login_servers[r.urn] = server
            elif r.resource_type == "gcp:artifactregistry/repository:Repository":
                loc, proj, repo = get(r.props, "location"), get(r.props, "project"), get(r.props, "repositoryId")
                if loc and proj and repo:
                    prefix = f"{str(loc).lower()}-docker.pkg.dev/{proj}/{repo}"
                    prefixes.add(prefix)
                    if get(r.props, "dockerConfig.immutableTags") is True:
                        immutable.add(prefix)
                    if get(r.props, "mode") == "REMOTE_REPOSITORY":
                        cached.add(prefix)
        except UnknownValueError:
            unknown = True
    for urns, target in acr_targets:
        for urn in urns or list(login_servers):
            if urn in login_servers:
                cached.add(f"{login_servers[urn]}/{target.rstrip('*').rstrip('/')}")
    for prefix, is_immutable in templates:  # "ROOT" applies a template to every repository
        if is_immutable:
            immutable |= {c for c in cached if c.startswith("ecr:") and (prefix == "ROOT" or
                                                                         _under(c, {f"ecr:{prefix}"}))}
    return Registries(prefixes, immutable, cached, unknown)


def _registry_key(image: str) -> str:
    """`ecr:<path>` for an ECR image (any account/region: see `environment_registries`), else the image."""
    return "ecr:" + ECR_HOST.sub("", image) if ECR_HOST.match(image) else image


def _under(image: str, prefixes: set[str]) -> str | None:
    for p in prefixes:
        if image == p or image.startswith(p.rstrip("/") + "/"):
            return p
    return None


@stack_rule(RuleMeta(
    name="ai-serving-image-provenance",
    description="Pull serving images from the environment's registry, pinned by digest or an immutable tag.",
    severity="high", area="ai", controls=m.SUPPLY_CHAIN,
    config={"approvedRegistries": {"type": "array", "items": {"type": "string"}, "default": [],
                                   "description": "Extra registry prefixes serving images may come from."}},
    remediation="Push the model-server image to the environment's registry (ECR/ACR/Artifact Registry) and reference "
                "it by digest, or by tag from a registry with immutable tags.",
), {DEPLOYMENT, "aws:ecr/repository:Repository", "azure-native:containerregistry:Registry",
    "gcp:artifactregistry/repository:Repository", "aws:ecr/pullThroughCacheRule:PullThroughCacheRule",
    "aws:ecr/repositoryCreationTemplate:RepositoryCreationTemplate"})
def serving_images(args: StackValidationArgs) -> Iterator[tuple[str, str | None]]:
    regs = environment_registries(args)
    approved = {str(p) for p in (args.get_config().get("approvedRegistries") or [])}
    serving = [d for ds in serving_endpoints(args).values() for d in ds]

    def check(r: Any) -> Iterator[str]:
        for c in containers(pod_spec(r.resource_type, r.props), init=False):
            image = get(c, "image")
            if not isinstance(image, str):
                continue
            repo, tag, digest = image_ref(image)
            key = _registry_key(repo)
            home = _under(key, regs.prefixes) or _under(repo, approved)
            who = subject(r.resource_type, r.name)
            if home is None and regs.unknown:  # it may be the registry whose address is not known yet
                raise Unknown("spec.template.spec.containers.image")
            if home is None:
                yield f"{who} must pull `{image}` from the environment's registry."
            elif digest or _under(key, regs.immutable):
                continue
            elif tag in (None, "latest"):
                yield f"{who} must pin `{image}` to a version tag or a digest, not `{tag or 'no tag'}`."
            elif not _under(key, regs.cached):  # a cached upstream release tag: `ai-cached-image-digest`
                yield f"{who} must pin `{image}` by digest (or use a registry with immutable tags)."

    keep = {r.urn for r in serving}
    yield from guarded([r for r in args.resources if r.urn in keep], None, check)


@stack_rule(RuleMeta(
    name="ai-cached-image-digest",
    description="Pin serving images pulled through a cache of their upstream registry by digest.",
    severity="medium", area="ai", controls=m.SUPPLY_CHAIN, enforcement="advisory",
    remediation="Give the image by digest (`model_endpoints[].image: vllm-openai@sha256:...`): a cache serves the "
                "upstream's tag, and the upstream publisher can move a tag to another build (ECR pull-through "
                "caches whose creation template sets IMMUTABLE keep the first build they cached).",
), {DEPLOYMENT, "aws:ecr/pullThroughCacheRule:PullThroughCacheRule",
    "aws:ecr/repositoryCreationTemplate:RepositoryCreationTemplate", "azure-native:containerregistry:CacheRule",
    "azure-native:containerregistry:Registry", "gcp:artifactregistry/repository:Repository"})
def cached_image_digest(args: StackValidationArgs) -> Iterator[tuple[str, str | None]]:
    regs = environment_registries(args)
    serving = [d for ds in serving_endpoints(args).values() for d in ds]

    def check(r: Any) -> Iterator[str]:
        for c in containers(pod_spec(r.resource_type, r.props), init=False):
            image = get(c, "image")
            if not isinstance(image, str):
                continue
            repo, tag, digest = image_ref(image)
            key = _registry_key(repo)
            if tag and tag != "latest" and not digest and _under(key, regs.cached) and not _under(key, regs.immutable):
                yield (f"{subject(r.resource_type, r.name)} pulls `{image}` through a cache of its upstream by tag; "
                       "pin it by digest so the upstream cannot change what runs.")

    keep = {r.urn for r in serving}
    yield from guarded([r for r in args.resources if r.urn in keep], None, check)


RULES = (
    gpu_pool_tainted, gpu_workload_placement, gpu_requests_limits, gpu_scheduling, gpu_pool_matched, model_fits,
    gpu_quota, gpu_scale_to_zero, serving_alerts, serving_drift, endpoint_auth, endpoint_not_public, serving_images,
    cached_image_digest,
)
