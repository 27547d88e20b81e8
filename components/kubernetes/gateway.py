"""The edge: Envoy Gateway (Gateway API) with one Gateway per exposure.

- `internal`: HTTPS behind a private load balancer (per-cloud annotations), always present.
- `public`: HTTPS behind a public load balancer, only when an endpoint is `public`; its source addresses are
  limited to `network.public_gateway_cidrs` when the spec lists any.
- `cluster`: plain HTTP on a ClusterIP service, only when an endpoint is `cluster`: in-cluster
  clients still get the canary split and authentication, nothing leaves the cluster.
Each Gateway has its own EnvoyProxy (service type and annotations). Routes may attach only from the
serving namespace. TLS certificates are Secrets `<gateway>-tls` in the gateway namespace (bring them
with cert-manager or the cloud's certificate tooling).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from aienv import conventions as c
from aienv.spec.model import Exposure
from components.kubernetes import _common as common

GATEWAY_API = "gateway.networking.k8s.io/v1"
ENVOY_API = "gateway.envoyproxy.io/v1alpha1"
CONTROLLER_NAME = "gateway.envoyproxy.io/gatewayclass-controller"
GATEWAY_CLASS = "aienv"
EXPOSURE_LABEL = "aienv.io/exposure"
ALLOW_PUBLIC_ANNOTATION = c.ALLOW_PUBLIC_ANNOTATION

def gateway_name(exposure: Exposure) -> str:
    return f"aienv-{exposure.value}"


def listener_name(exposure: Exposure) -> str:
    return "http" if exposure is Exposure.cluster else "https"


@dataclass(frozen=True)
class GatewayArgs:
    environment: str
    # Service annotations that make a proxy's load balancer private or public, by exposure
    # (KubernetesSupport.load_balancer_annotations).
    load_balancer_annotations: Mapping[str, Mapping[str, str]]
    prod: bool
    exposures: Sequence[Exposure]  # the endpoints' exposures
    # Source CIDRs allowed to reach the public gateway's load balancer (spec network.public_gateway_cidrs);
    # empty: any source.
    public_source_ranges: Sequence[str] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    depends_on: Sequence[pulumi.Resource] = ()


class Gateway(pulumi.ComponentResource):
    """`aienv:kubernetes:Gateway`: Envoy Gateway, a GatewayClass and the Gateways the endpoints need."""

    gateways: dict[Exposure, pulumi.Resource]

    def __init__(self, name: str, args: GatewayArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aienv:kubernetes:Gateway", name, None, opts)
        labels = {**common.base_labels(args.environment), **args.labels, c.COMPONENT_LABEL: "gateway"}
        replicas = 2 if args.prod else 1
        self.release = k8s.helm.v3.Release(
            f"{name}-envoy-gateway",
            k8s.helm.v3.ReleaseArgs(name="envoy-gateway", namespace=c.GATEWAY_NAMESPACE, max_history=5,
                                    values={"deployment": {"replicas": replicas}},
                                    **common.ENVOY_GATEWAY.release_args()),  # type: ignore[arg-type]
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on)))
        crds = pulumi.ResourceOptions(parent=self, depends_on=[*args.depends_on, self.release])
        self.gateway_class = k8s.apiextensions.CustomResource(
            f"{name}-class", api_version=GATEWAY_API, kind="GatewayClass",
            metadata=common.meta(GATEWAY_CLASS, None, labels),
            spec={"controllerName": CONTROLLER_NAME, "description": "aienv model endpoints"},
            opts=crds)

        wanted = [Exposure.internal, *(e for e in (Exposure.public, Exposure.cluster) if e in args.exposures)]
        self.gateways = {}
        self.hosts: dict[str, str] = {}
        for exposure in wanted:
            gw = gateway_name(exposure)
            gw_labels = {**labels, EXPOSURE_LABEL: exposure.value}
            annotations = {ALLOW_PUBLIC_ANNOTATION: "true"} if exposure is Exposure.public else None
            proxy = k8s.apiextensions.CustomResource(
                f"{name}-{exposure.value}-proxy", api_version=ENVOY_API, kind="EnvoyProxy",
                metadata=common.meta(gw, c.GATEWAY_NAMESPACE, gw_labels, annotations),
                spec=self._proxy_spec(args.load_balancer_annotations, exposure, replicas, gw_labels,
                                      args.public_source_ranges),
                opts=crds)
            listener: dict[str, Any] = {
                "name": listener_name(exposure),
                "allowedRoutes": {"namespaces": {"from": "Selector", "selector": {
                    "matchLabels": {"kubernetes.io/metadata.name": c.SERVING_NAMESPACE}}}},
            }
            if exposure is Exposure.cluster:
                listener.update(protocol="HTTP", port=80)
            else:
                listener.update(protocol="HTTPS", port=443, tls={
                    "mode": "Terminate", "certificateRefs": [{"kind": "Secret", "group": "", "name": f"{gw}-tls"}]})
            self.gateways[exposure] = k8s.apiextensions.CustomResource(
                f"{name}-{exposure.value}", api_version=GATEWAY_API, kind="Gateway",
                metadata=common.meta(gw, c.GATEWAY_NAMESPACE, gw_labels, annotations),
                spec={"gatewayClassName": GATEWAY_CLASS,
                      "infrastructure": {"parametersRef": {"group": "gateway.envoyproxy.io", "kind": "EnvoyProxy",
                                                           "name": gw}},
                      "listeners": [listener]},
                opts=pulumi.ResourceOptions(parent=self, depends_on=[*args.depends_on, self.release,
                                                                     self.gateway_class, proxy]))
            self.hosts[exposure.value] = f"{gw}.{c.GATEWAY_NAMESPACE}.svc"
        self.namespace = c.GATEWAY_NAMESPACE
        self.ready: list[pulumi.Resource] = [self.release, self.gateway_class, *self.gateways.values()]
        self.register_outputs({
            "gatewayClass": GATEWAY_CLASS,
            "gateways": {e.value: gateway_name(e) for e in self.gateways},
            "clusterAddresses": self.hosts,
            "chart": f"gateway-helm {common.ENVOY_GATEWAY.version}",
        })

    @staticmethod
    def _proxy_spec(annotations: Mapping[str, Mapping[str, str]], exposure: Exposure, replicas: int,
                    labels: Mapping[str, str], public_source_ranges: Sequence[str] = ()) -> dict[str, Any]:
        service: dict[str, Any] = {"name": gateway_name(exposure)}
        if exposure is Exposure.cluster:
            service["type"] = "ClusterIP"
        else:
            service.update(type="LoadBalancer", annotations=dict(annotations.get(exposure.value, {})))
        if exposure is Exposure.public and public_source_ranges:
            # Envoy Gateway v1.7 KubernetesServiceSpec.loadBalancerSourceRanges (api/v1alpha1/shared_types.go):
            # "a list of allowed IP addresses which will be configured as firewall rules on the platform
            # providers load balancer"; its CEL rule allows it only with type LoadBalancer.
            service["loadBalancerSourceRanges"] = list(public_source_ranges)
        return {"provider": {"type": "Kubernetes", "kubernetes": {
            "envoyService": service,
            "envoyDeployment": {
                "replicas": replicas,
                "pod": {"labels": dict(labels)},
                "container": {"resources": {"requests": {"cpu": "250m", "memory": "256Mi"},
                                            "limits": {"cpu": "2", "memory": "1Gi"}}},
            },
        }}}
