"""Node autoscaling for the GPU pools, so they can scale from (and to) zero.

AKS and GKE scale node pools themselves (`foundation.autoscaler == "cloud"`): nothing is installed and
the outputs say so. On EKS the Kubernetes cluster-autoscaler runs in kube-system under the
`cluster-autoscaler` workload identity, discovering node groups by the cluster's auto-discovery tags.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypedDict

import pulumi
import pulumi_kubernetes as k8s

from aienv import conventions as c
from aienv.errors import ComponentInputError
from aienv.spec.model import GpuPool
from aienv.workloads import Workload
from components.contracts import BoundIdentity, GpuPoolRef
from components.kubernetes import _common as common

SERVICE_ACCOUNT = "cluster-autoscaler"
NODE_TEMPLATE = "k8s.io/cluster-autoscaler/node-template"


def node_template_tags(pool: GpuPoolRef, spec_pool: GpuPool | None = None) -> dict[str, str]:
    """The Auto Scaling group tags that tell cluster-autoscaler what a node of `pool` looks like while the
    group is at zero: its labels, its taints and its GPUs. The AWS foundation puts them on each GPU node group's
    Auto Scaling group (`components/aws/cluster.py`: a managed node group's own tags do not reach it).
    """
    tags = {f"{NODE_TEMPLATE}/label/{k}": v for k, v in sorted(pool.node_labels.items())}
    tags[f"{NODE_TEMPLATE}/taint/{c.GPU_TAINT_KEY}"] = f"{c.GPU_TAINT_VALUE}:{c.GPU_TAINT_EFFECT}"
    for taint in spec_pool.taints if spec_pool else ():
        tags[f"{NODE_TEMPLATE}/taint/{taint.key}"] = f"{taint.value}:{taint.effect}"
    tags[f"{NODE_TEMPLATE}/resources/{c.GPU_RESOURCE}"] = str(pool.gpus_per_node)
    return tags


class AutoscalerValues(TypedDict):
    autoDiscovery: dict[str, Any]
    rbac: dict[str, Any]
    image: dict[str, str]
    extraArgs: dict[str, Any]
    podLabels: dict[str, str]
    securityContext: dict[str, Any]
    containerSecurityContext: dict[str, Any]
    resources: dict[str, dict[str, str]]


@dataclass(frozen=True)
class ClusterAutoscalerArgs:
    environment: str
    mode: str  # foundation.autoscaler: "cluster-autoscaler" | "cloud"
    cloud_values: Mapping[str, Any]  # KubernetesSupport.cluster_autoscaler_values (cloudProvider, region)
    cluster_name: pulumi.Input[str]
    kubernetes_version: str
    gpu_pools: Sequence[GpuPoolRef]
    spec_pools: Sequence[GpuPool]
    workload: Workload | None  # the cluster-autoscaler workload, when the cloud side made one
    identity: BoundIdentity | None
    labels: Mapping[str, str] = field(default_factory=dict)
    depends_on: Sequence[pulumi.Resource] = ()


class ClusterAutoscaler(pulumi.ComponentResource):
    """`aienv:kubernetes:ClusterAutoscaler`: cluster-autoscaler on EKS, nothing where the cloud scales pools."""

    def __init__(self, name: str, args: ClusterAutoscalerArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aienv:kubernetes:ClusterAutoscaler", name, None, opts)
        labels = {**common.base_labels(args.environment), **args.labels}
        by_name = {p.name: p for p in args.spec_pools}
        self.node_template_tags = {p.name: node_template_tags(p, by_name.get(p.name)) for p in args.gpu_pools}
        self.installed = args.mode == "cluster-autoscaler" and bool(args.gpu_pools)
        if args.mode == "cloud":
            reason = "the cloud scales node pools itself (the pools' min/max are set on the cloud side)"
        elif not args.gpu_pools:
            reason = "no GPU pools to scale"
        else:
            reason = "cluster-autoscaler with auto-discovery of the cluster's node groups"
            if args.workload is None or args.identity is None:
                raise ComponentInputError("cluster.gpu_pools", "the foundation bound no `cluster-autoscaler` "
                                          "workload identity; EKS GPU pools cannot scale without it")
            sa = common.workload_service_account(name, self, SERVICE_ACCOUNT, c.AUTOSCALER_NAMESPACE, labels,
                                                 args.identity, args.depends_on,
                                                 api_access=True)  # it calls the Kubernetes API
            values: AutoscalerValues = {
                "autoDiscovery": {"clusterName": args.cluster_name},
                "rbac": {"create": True, "serviceAccount": {"create": False, "name": SERVICE_ACCOUNT}},
                # cluster-autoscaler's minor version follows the cluster's.
                "image": {"tag": f"v{args.kubernetes_version}.0"},
                "extraArgs": {"balance-similar-node-groups": True, "expander": "least-waste",
                              "skip-nodes-with-system-pods": False, "scale-down-unneeded-time": "10m",
                              "scale-down-delay-after-add": "10m"},
                "podLabels": {**labels, **args.identity.pod_labels},
                "securityContext": common.POD_SECURITY_VALUES,
                "containerSecurityContext": common.CONTAINER_SECURITY_VALUES,
                "resources": {"requests": {"cpu": "100m", "memory": "300Mi"},
                              "limits": {"cpu": "500m", "memory": "600Mi"}},
            }
            k8s.helm.v3.Release(
                f"{name}-cluster-autoscaler",
                k8s.helm.v3.ReleaseArgs(name="cluster-autoscaler", namespace=c.AUTOSCALER_NAMESPACE, max_history=5,
                                        values={**args.cloud_values, **values},
                                        **common.CLUSTER_AUTOSCALER.release_args()),  # type: ignore[arg-type]
                opts=pulumi.ResourceOptions(parent=self, depends_on=[*args.depends_on, sa]))
        self.mode = args.mode
        self.reason = reason
        self.register_outputs({"mode": self.mode, "installed": self.installed, "reason": self.reason,
                               "nodeTemplateTags": self.node_template_tags})
