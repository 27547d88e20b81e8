"""Scale to zero: KEDA and its HTTP add-on, and per idle-capable endpoint an `HTTPScaledObject` and a
`ScaledObject` on its serving Deployment.

Why KEDA's HTTP add-on: an endpoint at zero replicas has no pod to answer or to report metrics, so something in
front of it must count the requests that arrive and hold them while a replica starts. The add-on's interceptor
does both: the endpoint's HTTPRoute sends its traffic to the interceptor (with the host rewritten to the
endpoint's), the interceptor routes by host to the endpoint's Service, waits for a ready replica ("Readiness is how
long to wait for the backing workload to have 1 or more replicas before connecting and sending the HTTP request",
http-add-on v0.15.0 interceptor/config/timeouts.go; per object `timeouts.conditionWait`), and its external scaler
reports the pending requests to KEDA, which scales the Deployment from zero. KEDA then owns the HPA
(`keda-hpa-<name>`), so no HPA of the stack targets these Deployments. The ScaledObject is the stack's own
(`httpscaledobject.keda.sh/skip-scaledobject-creation: "true"` on the HTTPScaledObject, http-add-on
operator/controllers/http/app.go), so its triggers can add the spec's metric (GPU utilisation, or vLLM's queue
depth / KV-cache use) from Prometheus to the add-on's `external-push` trigger: replicas follow the larger of the
two once the endpoint is awake, and it sleeps again after `idle_minutes` without requests.

Charts (kedacore/charts): keda by the cluster's minor version, because KEDA tests each release on three minors
(keda.sh/docs/2.20/operate/cluster, "Kubernetes Compatibility": "v2.20 | v1.33 - v1.35", "v2.19 | v1.32 - v1.34"):
2.19.0 on 1.32, 2.20.2 on 1.33 to 1.35; keda-add-ons-http 0.15.0. KEDA's metrics API server and webhooks listen on
10250 (`service.portHttpsTarget`, `webhooks.port`; defaults 6443 and 9443): the port a private control plane
reaches on every cloud (conventions.CONTROL_PLANE_POD_PORTS).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from aienv import conventions as c
from aienv.spec.model import ModelEndpoint as EndpointSpec
from components.kubernetes import _common as common
from components.kubernetes.observability import PROMETHEUS_PORT, PROMETHEUS_URL

KEDA_API = "keda.sh/v1alpha1"
HTTP_API = "http.keda.sh/v1alpha1"
GATEWAY_BETA_API = "gateway.networking.k8s.io/v1beta1"
# Service names the keda-add-ons-http chart gives its components ("{{ .Chart.Name }}-{{ .Values.<c>.service }}").
INTERCEPTOR_SERVICE = "keda-add-ons-http-interceptor-proxy"
INTERCEPTOR_PORT = 8080
EXTERNAL_SCALER = f"keda-add-ons-http-external-scaler.{c.KEDA_NAMESPACE}:9090"
INTERCEPTOR_POD_LABELS = {"app.kubernetes.io/component": "interceptor", "app.kubernetes.io/name": "http-add-on"}
SKIP_SCALED_OBJECT = "httpscaledobject.keda.sh/skip-scaledobject-creation"
CONTROL_PLANE_PORT = c.CONTROL_PLANE_POD_PORTS[0]
# Chart version per cluster minor (see the module docstring).
KEDA_FOR_MINOR = {32: "2.19.0", 33: "2.20.2", 34: "2.20.2", 35: "2.20.2"}


def keda_chart(kubernetes_version: str) -> common.ChartRef:
    minor = int(kubernetes_version.split(".")[1])
    return common.ChartRef("keda", KEDA_FOR_MINOR[minor], common.KEDA_REPO)


def host(endpoint: str) -> str:
    """The host the endpoint's HTTPRoute rewrites its requests to, which the interceptor routes by."""
    return f"{endpoint}.{c.SERVING_NAMESPACE}.svc"


_ADDON_POD_SECURITY = {"runAsNonRoot": True, "runAsUser": 65532, "runAsGroup": 65532, "fsGroup": 65532,
                       "seccompProfile": {"type": "RuntimeDefault"}}


def keda_values() -> dict[str, Any]:
    return {"service": {"portHttpsTarget": CONTROL_PLANE_PORT}, "webhooks": {"port": CONTROL_PLANE_PORT},
            "resources": {"operator": {"requests": {"cpu": "100m", "memory": "128Mi"},
                                       "limits": {"cpu": "1", "memory": "1000Mi"}}}}


def http_addon_values(replicas: int) -> dict[str, Any]:
    return {
        "interceptor": {"replicas": {"min": replicas, "max": max(3, replicas)}},
        "scaler": {"replicas": replicas},
        "securityContext": {**common.CONTAINER_SECURITY_VALUES, "privileged": False},
        "podSecurityContext": _ADDON_POD_SECURITY,
    }


@dataclass(frozen=True)
class KedaStackArgs:
    environment: str
    prod: bool
    kubernetes_version: str
    labels: Mapping[str, str] = field(default_factory=dict)
    depends_on: Sequence[pulumi.Resource] = ()  # the keda namespace and the Gateway API CRDs (ReferenceGrant)


class KedaStack(pulumi.ComponentResource):
    """`aienv:kubernetes:KedaStack`: KEDA, its HTTP add-on, and the grant that lets serving routes use the
    interceptor."""

    def __init__(self, name: str, args: KedaStackArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aienv:kubernetes:KedaStack", name, None, opts)
        labels = {**common.base_labels(args.environment), **args.labels}
        chart = keda_chart(args.kubernetes_version)
        self.keda = k8s.helm.v3.Release(
            f"{name}-keda",
            k8s.helm.v3.ReleaseArgs(name="keda", namespace=c.KEDA_NAMESPACE, max_history=5, values=keda_values(),
                                    **chart.release_args()),  # type: ignore[arg-type]
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on)))
        self.http_addon = k8s.helm.v3.Release(
            f"{name}-http-add-on",
            k8s.helm.v3.ReleaseArgs(name="http-add-on", namespace=c.KEDA_NAMESPACE, max_history=5,
                                    values=http_addon_values(2 if args.prod else 1),
                                    **common.KEDA_HTTP_ADDON.release_args()),  # type: ignore[arg-type]
            # The add-on's operator creates ScaledObjects: KEDA's CRDs first.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*args.depends_on, self.keda]))
        # A route may name a Service in another namespace only with a ReferenceGrant there (Gateway API,
        # ReferenceGrant: "allow references from Routes in one namespace to Services in another").
        self.grant = k8s.apiextensions.CustomResource(
            f"{name}-interceptor-grant", api_version=GATEWAY_BETA_API, kind="ReferenceGrant",
            metadata=common.meta("serving-routes-to-interceptor", c.KEDA_NAMESPACE, labels),
            spec={"from": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute",
                            "namespace": c.SERVING_NAMESPACE}],
                  "to": [{"group": "", "kind": "Service", "name": INTERCEPTOR_SERVICE}]},
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on)))
        self.ready: list[pulumi.Resource] = [self.keda, self.http_addon, self.grant]
        self.charts = {"keda": chart.version, "keda-add-ons-http": common.KEDA_HTTP_ADDON.version}
        self.register_outputs({"charts": self.charts, "interceptor": f"{INTERCEPTOR_SERVICE}.{c.KEDA_NAMESPACE}"})


def interceptor_backend() -> dict[str, Any]:
    return {"group": "", "kind": "Service", "name": INTERCEPTOR_SERVICE, "namespace": c.KEDA_NAMESPACE,
            "port": INTERCEPTOR_PORT}


def metric_trigger(ep: EndpointSpec, deployment: str) -> dict[str, Any] | None:
    """The Prometheus trigger of the spec's metric (None: the add-on's request concurrency is the metric)."""
    pods = f'namespace="{c.SERVING_NAMESPACE}",pod=~"{deployment}-.*"'
    metric, target = ep.autoscaling.metric, ep.autoscaling.target
    queries = {"gpu_utilization": f"avg({common.GPU_UTIL_METRIC}{{{pods}}})",
               "queue_depth": f"avg({common.QUEUE_DEPTH_METRIC}{{{pods}}})",
               "kv_cache_usage": f"avg({common.KV_CACHE_METRIC}{{{pods}}})"}
    if metric not in queries:
        return None
    return {"type": "prometheus", "metadata": {
        "serverAddress": f"{PROMETHEUS_URL}:{PROMETHEUS_PORT}", "query": queries[metric], "threshold": str(target),
        # An idle endpoint has no series: the trigger is inactive, the add-on's trigger wakes it.
        "activationThreshold": "0", "ignoreNullValues": "true"}}


@dataclass(frozen=True)
class ScaleToZeroArgs:
    endpoint: EndpointSpec
    environment: str
    deployment: str  # the serving Deployment (and its Service)
    service_port: int
    max_replicas: int
    cold_start_seconds: int  # how long the interceptor holds a request while a replica starts
    labels: Mapping[str, str] = field(default_factory=dict)
    depends_on: Sequence[pulumi.Resource] = ()  # KEDA and the add-on (CRDs), the Deployment and its Service


class ScaleToZero(pulumi.ComponentResource):
    """`aienv:kubernetes:ScaleToZero`: the HTTPScaledObject and ScaledObject of one endpoint."""

    def __init__(self, name: str, args: ScaleToZeroArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aienv:kubernetes:ScaleToZero", name, None, opts)
        ep, ns = args.endpoint, c.SERVING_NAMESPACE
        labels = {**common.base_labels(args.environment), **args.labels, c.ENDPOINT_LABEL: ep.name,
                  c.COMPONENT_LABEL: c.COMPONENT_SERVING}
        after = pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on))
        idle = ep.scale_to_zero.idle_minutes * 60
        target = {"apiVersion": "apps/v1", "kind": "Deployment", "name": args.deployment}
        concurrency = ep.autoscaling.target if ep.autoscaling.metric == "requests_in_flight" else 100
        self.http_scaled_object = k8s.apiextensions.CustomResource(
            f"{name}-http-scaled-object", api_version=HTTP_API, kind="HTTPScaledObject",
            metadata=common.meta(args.deployment, ns, labels, {SKIP_SCALED_OBJECT: "true"}),
            spec={
                "hosts": [host(ep.name)],
                "scaleTargetRef": {**target, "service": args.deployment, "port": args.service_port},
                "replicas": {"min": 0, "max": args.max_replicas},
                "scaledownPeriod": idle,
                "scalingMetric": {"concurrency": {"targetValue": concurrency}},
                "timeouts": {"conditionWait": f"{args.cold_start_seconds}s", "responseHeader": "300s"},
            },
            opts=after)
        triggers: list[dict[str, Any]] = [{"type": "external-push", "metadata": {
            "scalerAddress": EXTERNAL_SCALER, "httpScaledObject": args.deployment}}]
        extra = metric_trigger(ep, args.deployment)
        if extra is not None:
            triggers.append(extra)
        self.scaled_object = k8s.apiextensions.CustomResource(
            f"{name}-scaled-object", api_version=KEDA_API, kind="ScaledObject",
            metadata=common.meta(args.deployment, ns, labels),
            spec={
                "scaleTargetRef": target,
                "minReplicaCount": 0, "maxReplicaCount": args.max_replicas,
                "pollingInterval": 15, "cooldownPeriod": idle,
                "advanced": {"horizontalPodAutoscalerConfig": {"behavior": {
                    # As the stack's HPAs: GPU replicas start slowly, scale up promptly and down cautiously.
                    "scaleUp": {"stabilizationWindowSeconds": 60,
                                "policies": [{"type": "Pods", "value": 2, "periodSeconds": 120}]},
                    "scaleDown": {"stabilizationWindowSeconds": 900,
                                  "policies": [{"type": "Pods", "value": 1, "periodSeconds": 300}]}}}},
                "triggers": triggers,
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*args.depends_on, self.http_scaled_object]))
        self.register_outputs({"endpoint": ep.name, "host": host(ep.name), "idleMinutes": ep.scale_to_zero.idle_minutes,
                               "maxReplicas": args.max_replicas, "triggers": [t["type"] for t in triggers],
                               "holdSeconds": args.cold_start_seconds})


def hold_seconds(cold_start_seconds: float) -> int:
    """The interceptor's wait for a replica: the estimated cold start, at least five minutes."""
    return max(300, math.ceil(cold_start_seconds))
