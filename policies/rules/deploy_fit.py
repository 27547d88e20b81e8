"""Deployability, class 1 (fit): every pod fits a node of a pool it can schedule on.

The node pools of the stack (EKS node groups, AKS agent pools, GKE node pools) give machine types, labels,
taints and disks; `aienv.capacity` turns a machine type into what one node gives pods on that cloud (the
cloud's published kubelet/system reservation and the kubelet's eviction threshold); the DaemonSets the
stack itself installs (Kubernetes DaemonSets, and the DaemonSet requests set in the values of the Helm
charts listed in `CHART_DAEMONSETS`) take their share of every node they land on. A pod's request is the
Kubernetes "effective request": the larger of the sum of its app containers (with sidecar init
containers) and its largest init container (kubernetes.io/docs/concepts/workloads/pods/init-containers/
"Resource sharing within containers": "The Pod's effective request/limit for a resource is the higher
of: the sum of all app containers request/limit for a resource; the effective init request/limit").
A requests value that is missing defaults to its limit ("If you specify a limit for a resource, but do
not specify any request, ... Kubernetes copies the limit you specified and uses it as the requested
value").

A machine type `aienv.capacity` does not know is not judged (its capacity is not known); a node-selector
key the cloud sets itself (`kubernetes.io/...`, `eks.amazonaws.com/...`, `cloud.google.com/...`) is taken
as satisfiable, since its value on the node is not in the plan.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from pulumi_policy import PolicyResource, StackValidationArgs

from aienv import capacity
from aienv.conventions import GPU_COUNT_LABEL, GPU_RESOURCE, MODEL_CACHE_DIR
from policies import meta as m
from policies.meta import RuleMeta
from policies.rules._base import get, guarded, items, number, stack_rule, subject
from policies.rules.kubernetes import DAEMONSET, POD_SPEC_PATHS, containers, pod_spec

EKS_NODEGROUP = "aws:eks/nodeGroup:NodeGroup"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
AKS_POOL = "azure-native:containerservice:AgentPool"
AKS = "azure-native:containerservice:ManagedCluster"
GKE_POOL = "gcp:container/nodePool:NodePool"
POOL_TYPES = frozenset({EKS_NODEGROUP, AKS_POOL, AKS, GKE_POOL})
HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
# Scalers besides HPAs: an Argo Rollouts Rollout takes over a Deployment (`spec.workloadRef`) and an HPA scales the
# Rollout; a KEDA ScaledObject owns its target's HPA (`spec.maxReplicaCount`).
ROLLOUT = "kubernetes:argoproj.io/v1alpha1:Rollout"
SCALED_OBJECT = "kubernetes:keda.sh/v1alpha1:ScaledObject"
PERSISTENT_VOLUME = "kubernetes:core/v1:PersistentVolume"
SCALERS = frozenset({HPA, ROLLOUT, SCALED_OBJECT})
HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
# Workloads that are scheduled like any pod (DaemonSets are the nodes' overhead, not candidates).
SCHEDULED = frozenset(POD_SPEC_PATHS) - {DAEMONSET}

DEPLOY_CONTROLS = m.controls(iso27001=("A.8.6", "A.8.9"))

# DaemonSets inside Helm charts: chart -> (values path of their resources, where they run). Only the
# requests a stack sets in the values count (the charts' own defaults request nothing: gpu-operator,
# dcgm-exporter and prometheus-node-exporter ship `resources: {}`). "gpu": GPU nodes only (the GPU
# operator's operands select `nvidia.com/gpu.present`; dcgm-exporter is installed with the GPU taint
# tolerated for GPU nodes); "all": every node (node-exporter tolerates every taint by default).
CHART_DAEMONSETS: dict[str, tuple[tuple[str, str], ...]] = {
    "gpu-operator": (("devicePlugin.resources", "gpu"), ("dcgmExporter.resources", "gpu"),
                     ("gfd.resources", "gpu"), ("node-feature-discovery.worker.resources", "all")),
    "dcgm-exporter": (("resources", "gpu"),),
    "kube-prometheus-stack": (("prometheus-node-exporter.resources", "all"),),
    "prometheus-node-exporter": (("resources", "all"),),
}

# Node label prefixes the cloud or the kubelet sets: their values are not in the plan.
PLATFORM_LABEL_PREFIXES = ("kubernetes.io/", "k8s.io/", "eks.amazonaws.com/", "cloud.google.com/",
                           "kubernetes.azure.com/", "node.kubernetes.io/", "topology.kubernetes.io/",
                           "beta.kubernetes.io/", "failure-domain.beta.kubernetes.io/", "karpenter.sh/",
                           "agentpool", "nvidia.com/", "feature.node.kubernetes.io/")
_EFFECTS = {"no_schedule": "NoSchedule", "noschedule": "NoSchedule", "no_execute": "NoExecute",
            "noexecute": "NoExecute", "prefer_no_schedule": "PreferNoSchedule",
            "prefernoschedule": "PreferNoSchedule"}
CLOUD_NAMES = {"aws": "EKS", "azure": "AKS", "gcp": "GKE"}


def effect(value: Any) -> str:
    return _EFFECTS.get(str(value or "").lower(), str(value or ""))


@dataclass
class NodePool:
    urn: str
    name: str
    cloud: str
    machine_type: str
    labels: dict[str, str]
    taints: list[tuple[str, str, str]]  # key, value, effect (Kubernetes spelling)
    disk_gb: float | None
    max_pods: int | None
    gpus: int
    overhead: dict[str, float] = field(default_factory=dict)

    @property
    def allocatable(self) -> capacity.Allocatable | None:
        return capacity.allocatable(self.cloud, self.machine_type, self.max_pods)

    @property
    def is_gpu(self) -> bool:
        return self.gpus > 0

    def describe(self) -> str:
        return f"`{self.name}` ({self.machine_type})"


def _gpus(machine_type: str, labels: dict[str, str], accelerators: int = 0) -> int:
    shape = capacity.SHAPES.get(machine_type)
    if shape is not None and shape.gpus:
        return shape.gpus
    if accelerators:
        return accelerators
    try:
        return int(float(labels.get(GPU_COUNT_LABEL, 0)))
    except ValueError:
        return 0


def _aks_taints(values: Iterable[Any]) -> list[tuple[str, str, str]]:
    out = []
    for t in values:
        kv, _, eff = str(t).partition(":")
        key, _, value = kv.partition("=")
        out.append((key, value, effect(eff)))
    return out


def _launch_template(r: PolicyResource, by_urn: dict[str, PolicyResource]) -> PolicyResource | None:
    for dep in r.property_dependencies.get("launchTemplate", []):
        if dep.resource_type == LAUNCH_TEMPLATE:
            return by_urn.get(dep.urn, dep)
    return None


def _aks_pool(r: PolicyResource, name: str, props: Any) -> NodePool:
    labels = {str(k): str(v) for k, v in (get(props, "nodeLabels") or {}).items()}
    vm = str(get(props, "vmSize") or "")
    pods = number(props, "maxPods")
    return NodePool(r.urn, name, "azure", vm, labels, _aks_taints(items(props, "nodeTaints")),
                    number(props, "osDiskSizeGB", 128), int(pods) if pods else None, _gpus(vm, labels))


def pools_of(r: PolicyResource, by_urn: dict[str, PolicyResource]) -> list[NodePool]:
    """The node pools a resource defines (an AKS cluster holds its system pool inline)."""
    props = r.props
    if r.resource_type == EKS_NODEGROUP:
        lt = _launch_template(r, by_urn)
        types = [str(x) for x in items(props, "instanceTypes")]
        if not types and lt is not None and get(lt.props, "instanceType"):
            types = [str(get(lt.props, "instanceType"))]
        disk = number(props, "diskSize")
        if disk is None and lt is not None:
            sizes = [number(b, "ebs.volumeSize") for b in items(lt.props, "blockDeviceMappings")]
            disk = next((s for s in sizes if s), None)
        elif disk is None:
            disk = 20.0  # "disk_size: ... Defaults to `20`" (aws.eks.NodeGroup docstring, Linux)
        labels = {str(k): str(v) for k, v in (get(props, "labels") or {}).items()}
        taints = [(str(get(t, "key")), str(get(t, "value") or ""), effect(get(t, "effect")))
                  for t in items(props, "taints")]
        # One pool per instance type: the scheduler and the autoscaler see each type's nodes separately.
        return [NodePool(r.urn, r.name, "aws", t, labels, taints, disk, None, _gpus(t, labels)) for t in types]
    if r.resource_type == AKS_POOL:
        return [_aks_pool(r, r.name, props)]
    if r.resource_type == AKS:
        return [_aks_pool(r, f"{r.name}/{get(p, 'name')}", p) for p in items(props, "agentPoolProfiles")]
    if r.resource_type == GKE_POOL:
        labels = {str(k): str(v) for k, v in (get(props, "nodeConfig.labels") or {}).items()}
        mt = str(get(props, "nodeConfig.machineType") or "e2-medium")  # GKE's default machine type
        taints = [(str(get(t, "key")), str(get(t, "value") or ""), effect(get(t, "effect")))
                  for t in items(props, "nodeConfig.taints")]
        acc = sum(int(number(a, "count", 0) or 0) for a in items(props, "nodeConfig.guestAccelerators"))
        pods = number(props, "maxPodsPerNode")
        return [NodePool(r.urn, r.name, "gcp", mt, labels, taints, number(props, "nodeConfig.diskSizeGb", 100),
                         int(pods) if pods else None, _gpus(mt, labels, acc))]
    return []


# --- Scheduling predicates ------------------------------------------------------------------------------
def tolerates(spec: Any, key: str, value: str, eff: str) -> bool:
    for tol in items(spec, "tolerations"):
        t_key, t_eff = get(tol, "key"), get(tol, "effect")
        op = get(tol, "operator") or "Equal"
        if t_eff not in (None, "") and t_eff != eff:
            continue
        if op == "Exists" and t_key in (None, "", key):
            return True
        if op == "Equal" and t_key == key and str(get(tol, "value") or "") == value:
            return True
    return False


def _platform_key(key: str) -> bool:
    return any(key.startswith(p) or p in key for p in PLATFORM_LABEL_PREFIXES)


def _expression_ok(expr: Any, labels: dict[str, str]) -> bool:
    key, op = str(get(expr, "key")), str(get(expr, "operator"))
    values = [str(v) for v in items(expr, "values")]
    if key not in labels and _platform_key(key):
        return True
    present, value = key in labels, labels.get(key)
    if op == "In":
        return present and value in values
    if op == "NotIn":
        return not present or value not in values
    if op == "Exists":
        return present
    if op == "DoesNotExist":
        return not present
    if op in ("Gt", "Lt") and present and values:
        try:
            return float(value or 0) > float(values[0]) if op == "Gt" else float(value or 0) < float(values[0])
        except ValueError:
            return False
    return False


def selects(spec: Any, pool: NodePool) -> bool:
    """The pod's nodeSelector and required node affinity admit the pool's nodes."""
    labels = dict(pool.labels)
    labels.setdefault("node.kubernetes.io/instance-type", pool.machine_type)
    for key, value in (get(spec, "nodeSelector") or {}).items():
        key = str(key)
        if key in labels:
            if labels[key] != str(value):
                return False
        elif not _platform_key(key):
            return False
    terms = items(spec, "affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms")
    if not terms:
        return True
    return any(all(_expression_ok(e, labels) for e in items(t, "matchExpressions")) for t in terms)


def schedulable_on(spec: Any, pool: NodePool) -> bool:
    if not selects(spec, pool):
        return False
    return all(tolerates(spec, k, v, e) for k, v, e in pool.taints if e in ("NoSchedule", "NoExecute"))


# --- Requests -----------------------------------------------------------------------------------------
RESOURCES = ("cpu", "memory", GPU_RESOURCE, "ephemeral-storage")


def _container_requests(c: Any) -> dict[str, float]:
    requests = get(c, "resources.requests") or {}
    limits = get(c, "resources.limits") or {}
    out: dict[str, float] = {}
    for res in RESOURCES:
        raw = requests[res] if res in requests else limits.get(res)
        if raw is None:
            continue
        if res == "cpu":
            out[res] = float(capacity.cpu_millis(raw) or 0)
        elif res == GPU_RESOURCE:
            out[res] = float(capacity.quantity(raw) or 0)
        else:
            out[res] = capacity.memory_mib(raw) or 0.0
    return out


def pod_requests(spec: Any) -> dict[str, float]:
    """The effective request per resource (cpu in millicores, memory and ephemeral storage in MiB)."""
    app: dict[str, float] = {}
    init_max: dict[str, float] = {}
    for c in containers(spec, init=False):
        for k, v in _container_requests(c).items():
            app[k] = app.get(k, 0.0) + v
    for c in items(spec, "initContainers"):
        req = _container_requests(c)
        if get(c, "restartPolicy") == "Always":  # a sidecar runs beside the app containers
            for k, v in req.items():
                app[k] = app.get(k, 0.0) + v
        else:
            for k, v in req.items():
                init_max[k] = max(init_max.get(k, 0.0), v)
    return {k: max(app.get(k, 0.0), init_max.get(k, 0.0)) for k in set(app) | set(init_max)}


def local_storage_mib(spec: Any) -> float:
    """Node-local disk one pod may fill: its emptyDir size limits (not `Memory` medium) or its
    ephemeral-storage request, whichever is larger."""
    dirs = 0.0
    for vol in items(spec, "volumes"):
        empty = get(vol, "emptyDir")
        if empty is None or str(get(empty, "medium") or "") == "Memory":
            continue
        dirs += capacity.memory_mib(get(empty, "sizeLimit")) or 0.0
    return max(dirs, pod_requests(spec).get("ephemeral-storage", 0.0))


def replicas_of(r: PolicyResource, hpas: dict[str, float]) -> int:
    props = r.props
    if r.resource_type in ("kubernetes:apps/v1:Deployment", "kubernetes:apps/v1:StatefulSet",
                           "kubernetes:apps/v1:ReplicaSet"):
        base = number(props, "spec.replicas", 1) or 1
        return int(max(base, hpas.get(r.urn, 0)))
    if r.resource_type == "kubernetes:batch/v1:Job":
        return int(number(props, "spec.parallelism", 1) or 1)
    if r.resource_type == "kubernetes:batch/v1:CronJob":
        return int(number(props, "spec.jobTemplate.spec.parallelism", 1) or 1)
    return 1


def _hpa_max(resources: list[PolicyResource]) -> dict[str, float]:
    """Workload URN -> the largest maxReplicas of an HPA (or KEDA ScaledObject) that scales it, matched by
    dependency or name; an HPA on an Argo Rollouts Rollout scales the Deployment the Rollout takes over."""
    by_name: dict[tuple[str, str, str], str] = {}
    for r in resources:
        if r.resource_type in SCHEDULED:
            try:
                meta = get(r.props, "metadata") or {}
                by_name[(str(get(meta, "namespace") or "default"), r.resource_type.rsplit(":", 1)[-1],
                         str(get(meta, "name")))] = r.urn
            except Exception:  # noqa: BLE001 - an unknown name cannot be matched by name
                continue
    for r in resources:
        if r.resource_type == ROLLOUT:
            try:
                ns = str(get(r.props, "metadata.namespace") or "default")
                ref = (ns, str(get(r.props, "spec.workloadRef.kind")), str(get(r.props, "spec.workloadRef.name")))
                if ref in by_name:
                    by_name[(ns, "Rollout", str(get(r.props, "metadata.name")))] = by_name[ref]
            except Exception:  # noqa: BLE001 - a Rollout with unknown values names no Deployment we can match
                continue
    out: dict[str, float] = {}
    for r in resources:
        if r.resource_type not in (HPA, SCALED_OBJECT):
            continue
        try:
            most = number(r.props, "spec.maxReplicas" if r.resource_type == HPA else "spec.maxReplicaCount", 0) or 0
            targets = {d.urn for d in r.property_dependencies.get("spec", []) if d.resource_type in SCHEDULED}
            ns = str(get(r.props, "metadata.namespace") or "default")
            ref = (ns, str(get(r.props, "spec.scaleTargetRef.kind")), str(get(r.props, "spec.scaleTargetRef.name")))
        except Exception:  # noqa: BLE001 - an HPA with unknown values scales nothing we can name
            continue
        if ref in by_name:
            targets.add(by_name[ref])
        for urn in targets:
            out[urn] = max(out.get(urn, 0), most)
    return out


def _release_overhead(r: PolicyResource) -> list[tuple[dict[str, float], str]]:
    chart = str(get(r.props, "chart") or "").rstrip("/").rsplit("/", 1)[-1]
    out = []
    for path, where in CHART_DAEMONSETS.get(chart, ()):
        res = get(r.props, f"values.{path}")
        if res:
            out.append((_container_requests({"resources": res}), where))
    return out


def stack_pools(args: StackValidationArgs, problems: list[tuple[str, str | None]]) -> list[NodePool]:
    """The stack's node pools, each with the requests of the stack's DaemonSets that land on its nodes.
    Pools whose props are unknown are reported in `problems` (fail closed) and left out."""
    by_urn = {r.urn: r for r in args.resources}
    pools: list[NodePool] = []

    def collect(r: PolicyResource) -> Iterator[str]:
        pools.extend(pools_of(r, by_urn))
        return iter(())

    problems.extend(guarded(args.resources, POOL_TYPES, collect))
    daemons: list[tuple[Any, dict[str, float]]] = []
    charts: list[tuple[dict[str, float], str]] = []

    def overhead(r: PolicyResource) -> Iterator[str]:
        if r.resource_type == DAEMONSET:
            spec = pod_spec(DAEMONSET, r.props)
            if spec is not None:
                daemons.append((spec, pod_requests(spec)))
        else:
            charts.extend(_release_overhead(r))
        return iter(())

    problems.extend(guarded(args.resources, frozenset({DAEMONSET, HELM_RELEASE}), overhead))
    for pool in pools:
        total: dict[str, float] = {}
        for spec, req in daemons:
            if schedulable_on(spec, pool):
                for k, v in req.items():
                    total[k] = total.get(k, 0.0) + v
        for req, where in charts:
            if where == "all" or pool.is_gpu:
                for k, v in req.items():
                    total[k] = total.get(k, 0.0) + v
        pool.overhead = total
    return pools


@dataclass
class Fit:
    pool: NodePool
    cpu: float  # what is left for this pod, after reservation and DaemonSets
    memory: float
    gpus: int

    def shortfalls(self, need: dict[str, float]) -> list[str]:
        out = []
        if need.get("cpu", 0) > self.cpu:
            out.append(f"{need['cpu']:.0f}m CPU > {self.cpu:.0f}m")
        if need.get("memory", 0) > self.memory:
            out.append(f"{need['memory']:.0f} MiB memory > {self.memory:.0f} MiB")
        if need.get(GPU_RESOURCE, 0) > self.gpus:
            out.append(f"{need[GPU_RESOURCE]:.0f} GPUs > {self.gpus}")
        return out

    def per_node(self, need: dict[str, float]) -> int:
        """How many such pods one node can hold."""
        counts = []
        if need.get(GPU_RESOURCE, 0) > 0:
            counts.append(int(self.gpus // need[GPU_RESOURCE]))
        if need.get("cpu", 0) > 0:
            counts.append(int(self.cpu // need["cpu"]))
        if need.get("memory", 0) > 0:
            counts.append(int(self.memory // need["memory"]))
        return min(counts) if counts else 1


def fit_on(pool: NodePool) -> Fit | None:
    alloc = pool.allocatable
    if alloc is None:
        return None
    return Fit(pool, alloc.cpu_millis - pool.overhead.get("cpu", 0.0),
               alloc.memory_mib - pool.overhead.get("memory", 0.0), pool.gpus)


def _reservation_text(fit: Fit) -> str:
    alloc = fit.pool.allocatable
    assert alloc is not None
    ds = fit.pool.overhead
    return (f"{CLOUD_NAMES[fit.pool.cloud]} reserves {alloc.reserved_cpu_millis}m CPU and "
            f"{alloc.reserved_memory_mib} MiB; the stack's DaemonSets take {ds.get('cpu', 0):.0f}m and "
            f"{ds.get('memory', 0):.0f} MiB")


_FIT_REMEDIATION = (
    "Lower the pod's requests (all containers, or its largest init container) or give it a pool whose machine "
    "fits them. Allocatable = machine - the cloud's reservation - the stack's DaemonSets. Sources: EKS AL2023 "
    "nodeadm (github.com/awslabs/amazon-eks-ami nodeadm/internal/kubelet/config.go: CPU 6%/1%/0.5%/0.25% of "
    "the 1st/2nd/3rd-4th/other cores, memory 11 MiB x maxPods + 255 MiB, eviction 100Mi); AKS "
    "(learn.microsoft.com/azure/aks/node-resource-reservations: CPU 60/100/140/180/260/420/740m for 1-64 "
    "cores, memory min(20 MB x maxPods + 50 MB, 25%) + 100Mi eviction); GKE "
    "(cloud.google.com/kubernetes-engine/docs/concepts/plan-node-sizes: memory 25%/20%/10%/6%/2% tiers + "
    "100 MiB eviction, CPU 6%/1%/0.5%/0.25%). A pod that fits no node stays Pending and the autoscaler "
    "refuses to add one (\"pod didn't trigger scale-up: it wouldn't fit if a new node is added\").")


@stack_rule(RuleMeta(
    name="deploy-pod-fits-node",
    description="Make every pod's requests fit the allocatable capacity of a node pool it can schedule on.",
    severity="critical", area="deploy", controls=DEPLOY_CONTROLS, remediation=_FIT_REMEDIATION,
), SCHEDULED | POOL_TYPES | {DAEMONSET, HELM_RELEASE, HPA, LAUNCH_TEMPLATE})
def pod_fits_node(args: StackValidationArgs) -> Iterator[tuple[str, str | None]]:
    problems: list[tuple[str, str | None]] = []
    pools = stack_pools(args, problems)
    yield from problems
    if not pools:
        return  # no pool in this stack (a program deploying onto an existing cluster): nothing to judge

    def check(r: PolicyResource) -> Iterator[str]:
        spec = pod_spec(r.resource_type, r.props)
        if spec is None:
            return
        who = subject(r.resource_type, r.name)
        candidates = [p for p in pools if schedulable_on(spec, p)]
        if not candidates:
            yield (f"{who} must be able to schedule on a node pool of the stack: no pool's labels and taints "
                   f"admit it ({', '.join(p.describe() for p in pools)}).")
            return
        need = pod_requests(spec)
        fits = [fit_on(p) for p in candidates]
        if any(f is None for f in fits):
            return  # a pool of unknown capacity might hold it
        known = [f for f in fits if f is not None]
        if any(not f.shortfalls(need) for f in known):
            return
        detail = "; ".join(f"{f.pool.describe()}: {', '.join(f.shortfalls(need))} ({_reservation_text(f)})"
                           for f in known)
        yield f"{who} must fit a node of a pool it can schedule on; it fits none: {detail}."

    yield from guarded(args.resources, SCHEDULED, check)


@dataclass
class ModelCache:
    """A node weight cache: a `local` PersistentVolume under MODEL_CACHE_DIR on every node its affinity admits."""

    urn: str
    name: str
    mib: float
    terms: list[Any]

    def on(self, pool: NodePool) -> bool:
        labels = dict(pool.labels)
        return not self.terms or any(all(_expression_ok(e, labels) for e in items(t, "matchExpressions"))
                                     for t in self.terms)


def model_caches(args: StackValidationArgs, problems: list[tuple[str, str | None]]) -> list[ModelCache]:
    out: list[ModelCache] = []

    def collect(r: PolicyResource) -> Iterator[str]:
        path = str(get(r.props, "spec.local.path") or "")
        if path == MODEL_CACHE_DIR or path.startswith(MODEL_CACHE_DIR + "/"):
            out.append(ModelCache(r.urn, r.name, capacity.memory_mib(get(r.props, "spec.capacity.storage")) or 0.0,
                                  items(r.props, "spec.nodeAffinity.required.nodeSelectorTerms")))
        return iter(())

    problems.extend(guarded(args.resources, frozenset({PERSISTENT_VOLUME}), collect))
    return out


_DISK_REMEDIATION = (
    "Give the pool a larger root disk (`cluster.gpu_pools[].disk_gb`), request `ephemeral-storage` equal to the "
    "pod's node-local data so the "
    "scheduler spreads replicas, or keep the weights off node-local storage (a PVC or local NVMe). The kubelet "
    "evicts pods once the node filesystem has less than 10% free (kubelet configuration reference, "
    "`evictionHard` default `nodefs.available<10%`, kubernetes.io/docs/reference/config-api/"
    "kubelet-config.v1beta1/); emptyDir volumes and container writable layers live on that filesystem "
    "(kubernetes.io/docs/concepts/storage/volumes/#emptydir). Replicas that may share a node: as many as "
    "its GPUs, CPU and memory admit, up to the workload's maximum replicas (HPA maxReplicas). A node weight cache "
    "(`weight_cache: node`: a local PersistentVolume under /var/lib/aienv/model-cache, sized for the versions it "
    "keeps) lives on the same root disk as every pod's node-local data: either set `weight_cache: none` or size "
    "the disk for the caches of every endpoint the pool can run.")


@stack_rule(RuleMeta(
    name="deploy-node-disk-fits-local-data",
    description="Keep the node-local data (model weights in emptyDir, the node weight cache) of the replicas "
                "that may share a node within the node's disk.",
    severity="high", area="deploy", controls=DEPLOY_CONTROLS, remediation=_DISK_REMEDIATION,
), SCHEDULED | POOL_TYPES | SCALERS | {DAEMONSET, HELM_RELEASE, LAUNCH_TEMPLATE, PERSISTENT_VOLUME})
def node_disk_fits(args: StackValidationArgs) -> Iterator[tuple[str, str | None]]:
    problems: list[tuple[str, str | None]] = []
    pools = stack_pools(args, problems)
    if not pools:
        return
    hpas = _hpa_max(list(args.resources))
    unknown: list[tuple[str, str | None]] = []
    caches = model_caches(args, unknown)
    yield from unknown  # a cache of unknown size is not judged as fitting

    def disk_mib(pool: NodePool) -> float:
        return capacity.pod_disk_gib(pool.disk_gb or 0) * 1024 - (1024 if pool.cloud == "aws" else 0)

    cached: dict[str, float] = {}  # pool name -> MiB of the caches its nodes hold
    for pool in pools:
        if pool.disk_gb is None:
            continue
        here = [m for m in caches if m.on(pool)]
        cached[pool.name] = sum(m.mib for m in here)
        if here and cached[pool.name] > disk_mib(pool):
            names = ", ".join(f"`{m.name}` ({m.mib / 1024:.0f} GiB)" for m in here)
            yield (f"The weight caches on pool {pool.describe()} must fit its disk: {names} take "
                   f"{cached[pool.name] / 1024:.0f} GiB, but a {pool.disk_gb:.0f} GB disk leaves pods "
                   f"{disk_mib(pool) / 1024:.0f} GiB before eviction."), here[0].urn

    def check(r: PolicyResource) -> Iterator[str]:
        spec = pod_spec(r.resource_type, r.props)
        if spec is None:
            return
        local = local_storage_mib(spec)
        if local <= 0:
            return
        need = pod_requests(spec)
        replicas = replicas_of(r, hpas)
        who = subject(r.resource_type, r.name)
        for pool in pools:
            fit = fit_on(pool)
            if pool.disk_gb is None or fit is None or not schedulable_on(spec, pool) or fit.shortfalls(need):
                continue
            cache = cached.get(pool.name, 0.0)
            have = disk_mib(pool)
            if cache > have:
                continue  # reported on the cache above
            per_node = min(replicas, max(fit.per_node(need), 1))
            eph = need.get("ephemeral-storage", 0.0)
            if eph > 0:
                per_node = min(per_node, max(int((have - cache) // eph), 1))
            total = per_node * local + cache
            if total > have:
                also = f" and the node's weight caches ({cache / 1024:.0f} GiB)" if cache else ""
                yield (f"{who} must keep its node-local data within the disk of pool {pool.describe()}: "
                       f"{per_node} replica(s) x {local / 1024:.0f} GiB{also} = {total / 1024:.0f} GiB on one "
                       f"node, but a {pool.disk_gb:.0f} GB disk leaves pods {have / 1024:.0f} GiB before eviction.")

    yield from guarded(args.resources, SCHEDULED, check)


RULES = (pod_fits_node, node_disk_fits)

