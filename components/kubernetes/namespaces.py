"""The layer's namespaces, with Pod Security Admission levels and default-deny network policies."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from aienv import conventions as c
from components.kubernetes import _common as common

PSA = "pod-security.kubernetes.io"


@dataclass(frozen=True)
class NamespaceSpec:
    name: str
    # Pod Security Admission level enforced; audit and warn are always `restricted`.
    enforce: str = "restricted"
    # Workload namespaces get a default-deny policy plus DNS egress; add-on namespaces (operators that
    # talk to the API server and the nodes) are left to the charts' own policies.
    default_deny: bool = True
    why: str = ""


@dataclass(frozen=True)
class NamespacesArgs:
    environment: str  # spec name
    feature_store: bool
    model_imports: bool = False  # an endpoint's weights are imported (source other than `uploaded`)
    rollouts: bool = False  # an endpoint has a progressive rollout (Argo Rollouts)
    keda: bool = False  # an endpoint scales to zero (KEDA and its HTTP add-on)
    node_cache: bool = False  # an endpoint caches its weights on the GPU nodes
    labels: Mapping[str, str] = field(default_factory=dict)


def namespace_specs(feature_store: bool, model_imports: bool = False, rollouts: bool = False, keda: bool = False,
                    node_cache: bool = False) -> list[NamespaceSpec]:
    specs = [
        NamespaceSpec(c.SERVING_NAMESPACE),
        NamespaceSpec(c.MONITORING_NAMESPACE),
        NamespaceSpec(common.PROMETHEUS_NAMESPACE, enforce="privileged", default_deny=False,
                      why="node-exporter needs hostNetwork, hostPID and hostPath"),
        NamespaceSpec(c.GPU_NAMESPACE, enforce="privileged", default_deny=False,
                      why="the GPU operator and DCGM exporter run privileged daemonsets on GPU nodes"),
        NamespaceSpec(c.GATEWAY_NAMESPACE, enforce="baseline", default_deny=False,
                      why="Envoy Gateway's controller and proxies (restricted is audited and warned)"),
    ]
    if feature_store:
        specs.append(NamespaceSpec(c.FEATURES_NAMESPACE))
    if model_imports:
        specs.append(NamespaceSpec(c.MODELS_NAMESPACE))
    if rollouts:
        specs.append(NamespaceSpec(c.ROLLOUTS_NAMESPACE, default_deny=False,
                                   why="the Argo Rollouts controller talks to the API server and Prometheus"))
    if keda:
        specs.append(NamespaceSpec(c.KEDA_NAMESPACE, enforce="baseline", default_deny=False,
                                   why="KEDA's metrics server and webhooks are called by the API server, its "
                                       "interceptor forwards requests to serving pods (restricted is audited "
                                       "and warned; the charts' pods are set restricted)"))
    if node_cache:
        specs.append(NamespaceSpec(c.NODE_CACHE_NAMESPACE, enforce="privileged",
                                   why="the DaemonSet that makes the weight-cache directories on GPU nodes mounts "
                                       "them as hostPath volumes (its container runs non-root, read-only)"))
    return specs


class Namespaces(pulumi.ComponentResource):
    """`aienv:kubernetes:Namespaces`: namespaces labelled for PSA, default-deny + DNS where workloads run."""

    namespaces: dict[str, k8s.core.v1.Namespace]

    def __init__(self, name: str, args: NamespacesArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aienv:kubernetes:Namespaces", name, None, opts)
        labels = {**common.base_labels(args.environment), **args.labels}
        self.namespaces = {}
        policies: list[k8s.networking.v1.NetworkPolicy] = []
        for ns in namespace_specs(args.feature_store, args.model_imports, args.rollouts, args.keda,
                                  args.node_cache):
            psa = {f"{PSA}/enforce": ns.enforce, f"{PSA}/enforce-version": "latest",
                   f"{PSA}/audit": "restricted", f"{PSA}/warn": "restricted"}
            annotations = {"aienv.io/pod-security-reason": ns.why} if ns.why else None
            namespace = k8s.core.v1.Namespace(
                f"{name}-{ns.name}",
                metadata=common.meta(ns.name, None, {**labels, **psa}, annotations),
                opts=pulumi.ResourceOptions(parent=self))
            self.namespaces[ns.name] = namespace
            if not ns.default_deny:
                continue
            child = pulumi.ResourceOptions(parent=self, depends_on=[namespace])
            policies.append(k8s.networking.v1.NetworkPolicy(
                f"{name}-{ns.name}-default-deny",
                metadata=common.meta("default-deny", ns.name, labels),
                spec=k8s.networking.v1.NetworkPolicySpecArgs(
                    pod_selector=k8s.meta.v1.LabelSelectorArgs(), policy_types=["Ingress", "Egress"]),
                opts=child))
            policies.append(k8s.networking.v1.NetworkPolicy(
                f"{name}-{ns.name}-allow-dns",
                metadata=common.meta("allow-dns", ns.name, labels),
                spec=k8s.networking.v1.NetworkPolicySpecArgs(
                    pod_selector=k8s.meta.v1.LabelSelectorArgs(),
                    policy_types=["Egress"],
                    egress=[k8s.networking.v1.NetworkPolicyEgressRuleArgs(
                        to=[common.namespace_peer("kube-system")],
                        ports=[k8s.networking.v1.NetworkPolicyPortArgs(port=53, protocol="UDP"),
                               k8s.networking.v1.NetworkPolicyPortArgs(port=53, protocol="TCP")])]),
                opts=child))
        self.ready: list[pulumi.Resource] = [*self.namespaces.values(), *policies]
        self.register_outputs({"namespaces": sorted(self.namespaces)})
