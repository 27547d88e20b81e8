"""The weight cache on the GPU nodes (`weight_cache: node`): a directory per endpoint on the node's root disk
(encrypted with the environment's key: the EBS volume with the data key, the AKS disk encryption set, the GKE
boot disk's CMEK), which every serving pod of the endpoint on that node shares.

Why node-local: a pod that starts on a node that already holds its version loads the weights from the local disk
instead of copying them from the bucket onto a fresh scratch volume; this needs no file system per cloud and
holds across rollouts, restarts and rescheduling onto a warm node. What it does not do is warm a brand-new
node (scale from zero, a new autoscaled node): that pod copies once and the node is warm afterwards.

How, inside Pod Security Admission `restricted` (which forbids hostPath volumes in pods):
- a `local` PersistentVolume per endpoint at `<MODEL_CACHE_DIR>/<endpoint>`, with node affinity to the GPU pools
  that can run it, bound to the PVC `<endpoint>-model-cache` that the serving pods mount. Each pod sees its own
  node's directory (a local volume is a bind mount of the node's path, kubernetes pkg/volume/local), and the
  kubelet gives it the pod's `fsGroup` (the local volume plugin manages ownership: `Managed: !readOnly`, then
  `SetVolumeOwnership`), so the non-root server can write it. Its capacity is the cache's size, which the
  deployability pack's disk rule adds to the node's local data.
- a DaemonSet `model-cache-dirs` in `aienv-node-cache` (PSA `privileged`, the one namespace with a hostPath) that
  makes the directories on every GPU node: the kubelet creates a `DirectoryOrCreate` hostPath when it mounts it
  ("an empty directory will be created there as needed with permission set to 0755", Kubernetes docs, Volumes,
  hostPath), so its container does nothing and runs non-root, read-only, without capabilities.

The serving pod's `fetch-model` step keeps at most two versions per endpoint (the running one and the previous,
the one a rollback returns to), fills a version into `.partial-<pod>` and renames it into place, so a pod that
loses a race to another pod on the node throws its copy away.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from aienv import conventions as c
from aienv.spec.model import GpuPool
from aienv.spec.model import ModelEndpoint as EndpointSpec
from components.contracts import GpuPoolRef
from components.kubernetes import _common as common

VERSIONS_KEPT = 2
DAEMONSET = "model-cache-dirs"
UNKNOWN_SIZE_GIB = 100


def cache_gib(checkpoint_bytes: float | None) -> int:
    """The cache of one endpoint: VERSIONS_KEPT checkpoints (tokenizer and config files with them, + 5%) and room
    for one `.partial-` copy in flight."""
    if checkpoint_bytes is None:
        return UNKNOWN_SIZE_GIB * (VERSIONS_KEPT + 1)
    return math.ceil(checkpoint_bytes * 1.05 * (VERSIONS_KEPT + 1) / 2**30) + 5


def cache_path(endpoint: str) -> str:
    return f"{c.MODEL_CACHE_DIR}/{endpoint}"


def claim_name(endpoint: str) -> str:
    return f"{endpoint}-model-cache"


def volume_name(environment: str, endpoint: str) -> str:
    return f"{environment}-{endpoint}-model-cache"[:253]


@dataclass(frozen=True)
class NodeModelCacheArgs:
    environment: str
    endpoints: Sequence[tuple[EndpointSpec, Sequence[GpuPoolRef], int]]  # endpoint, its pools, cache GiB
    spec_pools: Sequence[GpuPool]
    tool_image: pulumi.Input[str]  # any small image with `sleep` (the Python tool image)
    labels: Mapping[str, str] = field(default_factory=dict)
    depends_on: Sequence[pulumi.Resource] = ()  # the node-cache and serving namespaces


class NodeModelCache(pulumi.ComponentResource):
    """`aienv:kubernetes:NodeModelCache`: the cache directories on GPU nodes and a PV/PVC per endpoint."""

    def __init__(self, name: str, args: NodeModelCacheArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aienv:kubernetes:NodeModelCache", name, None, opts)
        from components.kubernetes.serving import node_affinity, tolerations

        labels = {**common.base_labels(args.environment), **args.labels, c.COMPONENT_LABEL: c.COMPONENT_MODEL_CACHE}
        after = pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on))
        all_pools = list({p.name: p for _, pools, _ in args.endpoints for p in pools}.values())
        dirs = [(ep.name, cache_path(ep.name)) for ep, _, _ in args.endpoints]
        account = k8s.core.v1.ServiceAccount(
            f"{name}-service-account", metadata=common.meta(DAEMONSET, c.NODE_CACHE_NAMESPACE, labels),
            automount_service_account_token=False, opts=after)
        self.daemon_set = k8s.apps.v1.DaemonSet(
            f"{name}-dirs",
            # Its pods start with the GPU nodes, which may come later than this deploy (pools at zero nodes).
            metadata=common.meta(DAEMONSET, c.NODE_CACHE_NAMESPACE, labels, common.SKIP_AWAIT),
            spec=k8s.apps.v1.DaemonSetSpecArgs(
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels={c.COMPONENT_LABEL: c.COMPONENT_MODEL_CACHE}),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=labels),
                    spec=k8s.core.v1.PodSpecArgs(
                        service_account_name=DAEMONSET,
                        automount_service_account_token=False, enable_service_links=False,
                        security_context=common.pod_security(),
                        containers=[k8s.core.v1.ContainerArgs(
                            name="hold", image=args.tool_image, command=["sleep", "infinity"],
                            resources=common.resources("10m", "32Mi"),
                            security_context=common.container_security(),
                            volume_mounts=[k8s.core.v1.VolumeMountArgs(name=f"cache-{i}", mount_path=f"/cache/{ep}",
                                                                       read_only=True)
                                           for i, (ep, _) in enumerate(dirs)])],
                        volumes=[k8s.core.v1.VolumeArgs(name=f"cache-{i}", host_path=k8s.core.v1.HostPathVolumeSourceArgs(
                            path=path, type="DirectoryOrCreate")) for i, (_, path) in enumerate(dirs)],
                        tolerations=tolerations(all_pools, args.spec_pools),
                        affinity=node_affinity(all_pools),
                        termination_grace_period_seconds=5))),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*args.depends_on, account]))
        self.claims: dict[str, k8s.core.v1.PersistentVolumeClaim] = {}
        for ep, pools, size in args.endpoints:
            ep_labels = {**labels, c.ENDPOINT_LABEL: ep.name}
            volume = k8s.core.v1.PersistentVolume(
                f"{name}-{ep.name}-volume",
                metadata=common.meta(volume_name(args.environment, ep.name), None, ep_labels,
                                     {c.MODEL_CACHE_ANNOTATION: ep.name}),
                spec=k8s.core.v1.PersistentVolumeSpecArgs(
                    capacity={"storage": f"{size}Gi"}, access_modes=["ReadWriteOnce"], volume_mode="Filesystem",
                    persistent_volume_reclaim_policy="Retain", storage_class_name="",
                    local=k8s.core.v1.LocalVolumeSourceArgs(path=cache_path(ep.name)),
                    node_affinity=k8s.core.v1.VolumeNodeAffinityArgs(
                        required=node_affinity(pools).node_affinity.required_during_scheduling_ignored_during_execution),  # type: ignore[union-attr]
                    claim_ref=k8s.core.v1.ObjectReferenceArgs(namespace=c.SERVING_NAMESPACE, name=claim_name(ep.name))),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[*args.depends_on, self.daemon_set]))
            self.claims[ep.name] = k8s.core.v1.PersistentVolumeClaim(
                f"{name}-{ep.name}-claim",
                metadata=common.meta(claim_name(ep.name), c.SERVING_NAMESPACE, ep_labels,
                                     # Bound to its volume at once, not by a consumer.
                                     common.SKIP_AWAIT),
                spec=k8s.core.v1.PersistentVolumeClaimSpecArgs(
                    access_modes=["ReadWriteOnce"], storage_class_name="", volume_name=volume_name(args.environment,
                                                                                                    ep.name),
                    resources=k8s.core.v1.VolumeResourceRequirementsArgs(requests={"storage": f"{size}Gi"})),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[*args.depends_on, volume]))
        self.register_outputs({"directory": c.MODEL_CACHE_DIR,
                               "endpoints": {ep.name: {"claim": claim_name(ep.name), "gib": size}
                                             for ep, _, size in args.endpoints}})
