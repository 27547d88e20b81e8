"""Per-endpoint monitoring: a ServiceMonitor, alert rules routed by severity, and a Grafana dashboard.

Every expression selects the endpoint's series by `job` (the ServiceMonitor sets it from the Services'
ENDPOINT_LABEL) or by pod name prefix for DCGM series (labelled with the pod using the GPU).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import jinja2
import pulumi
import pulumi_kubernetes as k8s

from aienv import conventions as c
from aienv.spec.model import DriftSpec, Runtime, Thresholds
from aienv.spec.model import ModelEndpoint as EndpointSpec
from components.kubernetes import _common as common
from components.kubernetes.observability import DASHBOARD_LABEL
from components.kubernetes.serving import rollout_seconds

MONITORING_API = "monitoring.coreos.com/v1"


@cache
def templates() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.PackageLoader("components.kubernetes", "templates"),
                              undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True)


@dataclass(frozen=True)
class EndpointQueries:
    """PromQL for one endpoint, by runtime."""

    latency_p95_seconds: str
    error_ratio: str
    in_flight_by_pod: str | None  # None: the server exports aienv_requests_in_flight itself
    gpu_util: str
    gpu_memory_percent: str
    replicas: str
    replicas_at_max: str
    drift_score: str


def queries(ep: EndpointSpec) -> EndpointQueries:
    sel = f'namespace="{c.SERVING_NAMESPACE}",job="{ep.name}"'
    pods = f'namespace="{c.SERVING_NAMESPACE}",pod=~"{ep.name}-({c.TRACK_STABLE}|{c.TRACK_CANARY})-.*"'
    hpas = f'namespace="{c.SERVING_NAMESPACE}",horizontalpodautoscaler=~"{ep.name}-({c.TRACK_STABLE}|{c.TRACK_CANARY})"'
    if ep.runtime is Runtime.vllm:
        latency = f"histogram_quantile(0.95, sum by (le) (rate(vllm:e2e_request_latency_seconds_bucket{{{sel}}}[5m])))"
        errors = (f'sum(rate(http_requests_total{{{sel},status="5xx"}}[5m])) / '
                  f"sum(rate(http_requests_total{{{sel}}}[5m]))")
        in_flight: str | None = (f"sum by (namespace, pod) (vllm:num_requests_running{{{sel}}}) + "
                                 f"sum by (namespace, pod) (vllm:num_requests_waiting{{{sel}}})")
    elif ep.runtime is Runtime.triton:
        latency = f'max(nv_inference_request_summary_us{{{sel},quantile="0.95"}}) / 1e6'
        failures = f"sum(rate(nv_inference_request_failure{{{sel}}}[5m]))"
        errors = f"{failures} / ({failures} + sum(rate(nv_inference_request_success{{{sel}}}[5m])))"
        in_flight = f"sum by (namespace, pod) (nv_inference_pending_request_count{{{sel}}})"
    else:
        # Custom servers follow the common HTTP instrumentation names and export the in-flight gauge.
        latency = f"histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket{{{sel}}}[5m])))"
        errors = (f'sum(rate(http_requests_total{{{sel},status=~"5.."}}[5m])) / '
                  f"sum(rate(http_requests_total{{{sel}}}[5m]))")
        in_flight = None
    fb_used, fb_free = f"DCGM_FI_DEV_FB_USED{{{pods}}}", f"DCGM_FI_DEV_FB_FREE{{{pods}}}"
    return EndpointQueries(
        latency_p95_seconds=latency,
        error_ratio=errors,
        in_flight_by_pod=in_flight,
        gpu_util=f"avg({common.GPU_UTIL_METRIC}{{{pods}}})",
        gpu_memory_percent=f"100 * max({fb_used} / ({fb_used} + {fb_free}))",
        replicas=f"sum by (horizontalpodautoscaler) (kube_horizontalpodautoscaler_status_current_replicas{{{hpas}}})",
        replicas_at_max=(f"max by (horizontalpodautoscaler) (kube_horizontalpodautoscaler_status_current_replicas"
                         f"{{{hpas}}}) >= max by (horizontalpodautoscaler) "
                         f"(kube_horizontalpodautoscaler_spec_max_replicas{{{hpas}}})"),
        drift_score=f'max({common.DRIFT_METRIC}{{endpoint="{ep.name}"}})',
    )


def alert_rules(ep: EndpointSpec, thresholds: Thresholds, drift: DriftSpec, environment: str) -> list[dict[str, Any]]:
    q = queries(ep)
    labels = {"endpoint": ep.name, "environment": environment}

    def alert(name: str, expr: str, duration: str, severity: str, summary: str) -> dict[str, Any]:
        return {"alert": name, "expr": expr, "for": duration, "labels": {**labels, "severity": severity},
                "annotations": {"summary": summary, "endpoint": ep.name}}

    latency_s = thresholds.p95_latency_ms / 1000
    error_ratio = thresholds.error_rate_percent / 100
    return [
        alert("ModelEndpointLatencyHigh", f"{q.latency_p95_seconds} > {latency_s:g}", "10m", "warning",
              f"{ep.name}: p95 latency above {thresholds.p95_latency_ms} ms"),
        alert("ModelEndpointErrorRateHigh", f"{q.error_ratio} > {error_ratio:g}", "5m", "critical",
              f"{ep.name}: more than {thresholds.error_rate_percent:g}% of requests fail"),
        alert("ModelEndpointGpuUtilizationHigh", f"{q.gpu_util} > {thresholds.gpu_utilization_percent}", "15m",
              "warning", f"{ep.name}: GPU utilisation above {thresholds.gpu_utilization_percent}%"),
        alert("ModelEndpointGpuMemoryHigh", f"{q.gpu_memory_percent} > {thresholds.gpu_memory_percent}", "10m",
              "warning", f"{ep.name}: GPU memory use above {thresholds.gpu_memory_percent}%"),
        alert("ModelEndpointReplicasAtMax", q.replicas_at_max, "15m", "warning",
              f"{ep.name}: the autoscaler is at its maximum replicas"),
        alert("ModelEndpointDrift", f"{q.drift_score} > {drift.threshold:g}", "0m", "warning",
              f"{ep.name}: {drift.metric} drift score above {drift.threshold:g}"),
        alert("ModelEndpointDriftJobFailed",
              f'max(kube_job_status_failed{{namespace="{c.MONITORING_NAMESPACE}",job_name=~"{ep.name}-drift-.*"}}) > 0',
              "0m", "warning", f"{ep.name}: the drift job failed"),
        # Pulumi does not await serving rollouts or imports: a stuck one pages here instead.
        alert("ModelEndpointUnavailable",
              f'sum(kube_deployment_status_replicas_available{{namespace="{c.SERVING_NAMESPACE}",'
              f'deployment="{ep.name}-{c.TRACK_STABLE}"}}) < 1 or absent(kube_deployment_status_replicas_available'
              f'{{namespace="{c.SERVING_NAMESPACE}",deployment="{ep.name}-{c.TRACK_STABLE}"}})',
              f"{math.ceil(rollout_seconds(ep) / 60)}m", "critical",
              f"{ep.name}: no replica has served for longer than a rollout should take"),
        *([alert("ModelEndpointImportFailed",
                 f'max(kube_job_status_failed{{namespace="{c.MODELS_NAMESPACE}",job_name=~"import-{ep.name}-.*"}}) > 0',
                 "0m", "critical", f"{ep.name}: the model import failed (kubectl -n {c.MODELS_NAMESPACE} logs "
                                   f"job/import-{ep.name}-<track> --all-containers)")]
          if ep.model.source is not None and not ep.model.source.uploaded else []),
    ]


def dashboard(ep: EndpointSpec, thresholds: Thresholds, drift: DriftSpec, environment: str) -> str:
    q = queries(ep)
    in_flight = f'sum by (pod) ({common.IN_FLIGHT_METRIC}{{namespace="{c.SERVING_NAMESPACE}",pod=~"{ep.name}-.*"}})'
    panels = [
        {"title": "p95 latency", "expr": q.latency_p95_seconds, "unit": "s", "legend": "p95",
         "threshold": thresholds.p95_latency_ms / 1000},
        {"title": "Error ratio", "expr": q.error_ratio, "unit": "percentunit", "legend": "5xx",
         "threshold": thresholds.error_rate_percent / 100},
        {"title": "Requests in flight", "expr": in_flight, "unit": "short", "legend": "{{pod}}", "threshold": None},
        {"title": "GPU utilisation", "expr": q.gpu_util, "unit": "percent", "legend": "avg",
         "threshold": thresholds.gpu_utilization_percent},
        {"title": "GPU memory", "expr": q.gpu_memory_percent, "unit": "percent", "legend": "max",
         "threshold": thresholds.gpu_memory_percent},
        {"title": "Replicas", "expr": q.replicas, "unit": "short", "legend": "{{horizontalpodautoscaler}}",
         "threshold": None},
        {"title": f"Drift ({drift.metric})", "expr": q.drift_score, "unit": "short", "legend": drift.metric,
         "threshold": drift.threshold},
    ]
    text = templates().get_template("dashboard.json.j2").render(
        uid=f"aienv-{environment}-{ep.name}"[:40], title=f"aienv {environment} / {ep.name}", endpoint=ep.name,
        panels=panels)
    json.loads(text)  # a template slip must fail the plan, not the Grafana sidecar
    return text


@dataclass(frozen=True)
class EndpointMonitoringArgs:
    endpoint: EndpointSpec
    environment: str
    thresholds: Thresholds
    drift: DriftSpec
    labels: Mapping[str, str] = field(default_factory=dict)
    depends_on: Sequence[pulumi.Resource] = ()  # kube-prometheus-stack (CRDs); not the Services (never ready
    # before a model is loaded)


class EndpointMonitoring(pulumi.ComponentResource):
    """`aienv:kubernetes:EndpointMonitoring`: ServiceMonitor, PrometheusRule and dashboard of one endpoint."""

    def __init__(self, name: str, args: EndpointMonitoringArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aienv:kubernetes:EndpointMonitoring", name, None, opts)
        ep = args.endpoint
        labels = {**common.base_labels(args.environment), **args.labels, c.ENDPOINT_LABEL: ep.name,
                  c.COMPONENT_LABEL: c.COMPONENT_SERVING}
        after = pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on))
        self.service_monitor = k8s.apiextensions.CustomResource(
            f"{name}-service-monitor", api_version=MONITORING_API, kind="ServiceMonitor",
            metadata=common.meta(ep.name, c.SERVING_NAMESPACE, labels),
            spec={
                "jobLabel": c.ENDPOINT_LABEL,
                "targetLabels": [c.TRACK_LABEL],
                "selector": {"matchLabels": {c.ENDPOINT_LABEL: ep.name, c.COMPONENT_LABEL: c.COMPONENT_SERVING}},
                "namespaceSelector": {"matchNames": [c.SERVING_NAMESPACE]},
                "endpoints": [{"port": "metrics", "path": "/metrics", "interval": "15s", "scrapeTimeout": "10s"}],
            },
            opts=after)
        groups: list[dict[str, Any]] = []
        in_flight = queries(ep).in_flight_by_pod
        if in_flight is not None:
            groups.append({"name": f"aienv-{ep.name}-recording", "interval": "15s",
                           "rules": [{"record": common.IN_FLIGHT_METRIC, "expr": in_flight}]})
        self.rules = alert_rules(ep, args.thresholds, args.drift, args.environment)
        groups.append({"name": f"aienv-{ep.name}-alerts", "rules": self.rules})
        self.prometheus_rule = k8s.apiextensions.CustomResource(
            f"{name}-rules", api_version=MONITORING_API, kind="PrometheusRule",
            metadata=common.meta(f"{ep.name}-endpoint", c.MONITORING_NAMESPACE, labels),
            spec={"groups": groups},
            opts=after)
        self.dashboard = k8s.core.v1.ConfigMap(
            f"{name}-dashboard",
            metadata=common.meta(f"{ep.name}-dashboard", c.MONITORING_NAMESPACE, {**labels, DASHBOARD_LABEL: "1"}),
            data={f"aienv-{ep.name}.json": dashboard(ep, args.thresholds, args.drift, args.environment)},
            opts=after)
        self.register_outputs({"endpoint": ep.name, "alerts": [r["alert"] for r in self.rules]})
