"""Per-endpoint monitoring: a ServiceMonitor, alert rules routed by severity, and a Grafana dashboard.

Every expression selects the endpoint's series by `job` (the ServiceMonitor sets it from the Services'
ENDPOINT_LABEL) or by pod name prefix for DCGM series (labelled with the pod using the GPU).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import jinja2
import pulumi
import pulumi_kubernetes as k8s

from aienv import conventions as c
from aienv.spec.cron import longest_gap_seconds
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
    queue_depth_by_pod: str | None = None  # vLLM only
    kv_cache_by_pod: str | None = None  # vLLM only


# Pod names of a Rollout's revisions: `<rollout>-<pod-template-hash>-<suffix>`, both in Kubernetes' safe encoding
# (k8s.io/apimachinery rand.SafeEncodeString: "bcdfghjklmnpqrstvwxz2456789", no vowels), so `<ep>-capture-...`
# (the capture writer) never matches.
_SAFE = "[bcdfghjklmnpqrstvwxz2456789]"


def pod_pattern(ep: EndpointSpec) -> str:
    """A regex of the endpoint's serving pods: its Deployments', and with `rollout` its Rollout's revisions."""
    tracks = f"{ep.name}-({c.TRACK_STABLE}|{c.TRACK_CANARY})-.*"
    return f"{tracks}|{ep.name}-{_SAFE}{{6,10}}-{_SAFE}{{5}}" if ep.rollout is not None else tracks


def queries(ep: EndpointSpec) -> EndpointQueries:
    sel = f'namespace="{c.SERVING_NAMESPACE}",job="{ep.name}"'
    pods = f'namespace="{c.SERVING_NAMESPACE}",pod=~"{pod_pattern(ep)}"'
    hpas = f'namespace="{c.SERVING_NAMESPACE}",horizontalpodautoscaler=~"{ep.name}-({c.TRACK_STABLE}|{c.TRACK_CANARY})"'
    if ep.runtime is Runtime.vllm:
        latency = f"histogram_quantile(0.95, sum by (le) (rate(vllm:e2e_request_latency_seconds_bucket{{{sel}}}[5m])))"
        errors = (f'sum(rate(http_requests_total{{{sel},status="5xx"}}[5m])) / '
                  f"sum(rate(http_requests_total{{{sel}}}[5m]))")
        # A pod behind two Services (a Rollout's stable and canary between rollouts) is scraped twice: `max` per
        # engine drops the copy, `sum` adds the engines.
        running = f"sum by (namespace, pod) (max by (namespace, pod, engine) (vllm:num_requests_running{{{sel}}}))"
        waiting = f"sum by (namespace, pod) (max by (namespace, pod, engine) (vllm:num_requests_waiting{{{sel}}}))"
        in_flight: str | None = f"{running} + {waiting}"
        # vLLM v0.11 exports the KV-cache use as `vllm:kv_cache_usage_perc` ("KV-cache usage. 1 means 100
        # percent usage.", vllm/v1/metrics/loggers.py; `vllm:gpu_cache_usage_perc` is its deprecated name).
        queue_depth: str | None = waiting
        kv_cache: str | None = f"100 * max by (namespace, pod) (vllm:kv_cache_usage_perc{{{sel}}})"
    elif ep.runtime is Runtime.triton:
        latency = f'max(nv_inference_request_summary_us{{{sel},quantile="0.95"}}) / 1e6'
        queue_depth = kv_cache = None
        failures = f"sum(rate(nv_inference_request_failure{{{sel}}}[5m]))"
        errors = f"{failures} / ({failures} + sum(rate(nv_inference_request_success{{{sel}}}[5m])))"
        in_flight = (f"sum by (namespace, pod) (max by (namespace, pod, model, version) "
                     f"(nv_inference_pending_request_count{{{sel}}}))")
    else:
        # Custom servers follow the common HTTP instrumentation names and export the in-flight gauge.
        latency = f"histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket{{{sel}}}[5m])))"
        errors = (f'sum(rate(http_requests_total{{{sel},status=~"5.."}}[5m])) / '
                  f"sum(rate(http_requests_total{{{sel}}}[5m]))")
        in_flight = queue_depth = kv_cache = None
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
        queue_depth_by_pod=queue_depth,
        kv_cache_by_pod=kv_cache,
    )


QUALITY_METRIC = "aienv_model_quality"


def unavailable_expr(ep: EndpointSpec) -> str:
    """No replica serves: the stable Deployment's, or with `rollout` the Rollout's available replicas (the Rollout
    scales the Deployment down); an endpoint that scales to zero only while KEDA wants a replica."""
    ns = c.SERVING_NAMESPACE
    if ep.rollout is not None:
        metric = f'rollout_info_replicas_available{{namespace="{ns}",name="{ep.name}"}}'
        return f"sum({metric}) < 1 or absent({metric})"
    deployment = f'namespace="{ns}",deployment="{ep.name}-{c.TRACK_STABLE}"'
    available = f"sum(kube_deployment_status_replicas_available{{{deployment}}})"
    if ep.scales_to_zero:
        return f"(sum(kube_deployment_spec_replicas{{{deployment}}}) > 0) and ({available} < 1)"
    return (f"{available} < 1 or absent(kube_deployment_status_replicas_available{{{deployment}}})")


def drift_stale_seconds(drift: DriftSpec) -> int | None:
    """How old the last pushed drift score may be before it is stale: the schedule's longest gap plus the
    CronJob's starting deadline and the Job's active deadline (a run may push that late), or None for a schedule
    that never fires."""
    gap = longest_gap_seconds(drift.schedule)
    if gap is None:
        return None
    return math.ceil((gap + common.DRIFT_STARTING_DEADLINE_SECONDS + common.DRIFT_ACTIVE_DEADLINE_SECONDS) / 60) * 60


def drift_alerts(ep: EndpointSpec, q: EndpointQueries, drift: DriftSpec, alert: Any) -> list[dict[str, Any]]:
    ns = c.MONITORING_NAMESPACE
    failed = alert("ModelEndpointDriftJobFailed",
                   f'max(kube_job_status_failed{{namespace="{ns}",job_name=~"{ep.name}-drift-.*"}}) > 0',
                   "0m", "warning", f"{ep.name}: the drift job failed")
    stale = drift_stale_seconds(drift)
    if stale is None:
        return [alert("ModelEndpointDrift", f"{q.drift_score} > {drift.threshold:g}", "0m", "warning",
                      f"{ep.name}: {drift.metric} drift score above {drift.threshold:g}", score=True), failed]
    # The Pushgateway keeps a pushed score until it is replaced, so a score is only evidence while it is fresh:
    # a stale one neither alerts nor starts retraining again; it raises ModelEndpointDriftStale instead. Before
    # the first run the score is absent; that is stale only once the CronJob is older than a run may take.
    last_run = f'max({common.DRIFT_LAST_RUN_METRIC}{{endpoint="{ep.name}"}})'
    created = f'max(kube_cronjob_created{{namespace="{ns}",cronjob="{ep.name}-drift"}})'
    return [
        alert("ModelEndpointDrift", f"{q.drift_score} > {drift.threshold:g} and (time() - {last_run} < {stale})",
              "0m", "warning", f"{ep.name}: {drift.metric} drift score above {drift.threshold:g}", score=True),
        failed,
        alert("ModelEndpointDriftStale",
              f"time() - {last_run} > {stale} or (absent({last_run}) and (time() - {created} > {stale}))",
              "0m", "warning", f"{ep.name}: no drift score pushed for more than {stale // 60} minutes "
                               f"(kubectl -n {ns} get cronjob {ep.name}-drift)"),
    ]


def gpu_memory_alert(ep: EndpointSpec, q: EndpointQueries, thresholds: Thresholds, alert: Any) -> dict[str, Any]:
    """GPU memory pressure. vLLM allocates `--gpu-memory-utilization` (default 0.9) of the device at start and
    fills it with its KV cache, so DCGM's framebuffer use sits near 90% whatever the load; what runs out there
    is the KV cache (`vllm:kv_cache_usage_perc`), and then requests queue or are preempted."""
    limit = thresholds.gpu_memory_percent
    if q.kv_cache_by_pod is not None:
        return alert("ModelEndpointGpuMemoryHigh", f"max({q.kv_cache_by_pod}) > {limit}", "10m", "warning",
                     f"{ep.name}: KV cache use above {limit}% of what vLLM reserved")
    return alert("ModelEndpointGpuMemoryHigh", f"{q.gpu_memory_percent} > {limit}", "10m", "warning",
                 f"{ep.name}: GPU memory use above {limit}%")


def alert_rules(ep: EndpointSpec, thresholds: Thresholds, drift: DriftSpec, environment: str) -> list[dict[str, Any]]:
    q = queries(ep)
    labels = {"endpoint": ep.name, "environment": environment}

    def alert(name: str, expr: str, duration: str, severity: str, summary: str, score: bool = False,
              quality: bool = False) -> dict[str, Any]:
        annotations = {"summary": summary, "endpoint": ep.name}
        # The value at firing time, which the retraining trigger passes to the pipeline (aienv/retrain.py).
        if score:
            annotations["score"] = "{{ $value }}"
        if quality:
            annotations["quality"] = "{{ $value }}"
        return {"alert": name, "expr": expr, "for": duration, "labels": {**labels, "severity": severity},
                "annotations": annotations}

    latency_s = thresholds.p95_latency_ms / 1000
    error_ratio = thresholds.error_rate_percent / 100
    return [
        alert("ModelEndpointLatencyHigh", f"{q.latency_p95_seconds} > {latency_s:g}", "10m", "warning",
              f"{ep.name}: p95 latency above {thresholds.p95_latency_ms} ms"),
        alert("ModelEndpointErrorRateHigh", f"{q.error_ratio} > {error_ratio:g}", "5m", "critical",
              f"{ep.name}: more than {thresholds.error_rate_percent:g}% of requests fail"),
        alert("ModelEndpointGpuUtilizationHigh", f"{q.gpu_util} > {thresholds.gpu_utilization_percent}", "15m",
              "warning", f"{ep.name}: GPU utilisation above {thresholds.gpu_utilization_percent}%"),
        gpu_memory_alert(ep, q, thresholds, alert),
        alert("ModelEndpointReplicasAtMax", q.replicas_at_max, "15m", "warning",
              f"{ep.name}: the autoscaler is at its maximum replicas"),
        *(drift_alerts(ep, q, drift, alert) if ep.drift else []),
        # Where labels arrive, the team's evaluation job pushes the model's quality; below the threshold it alerts
        # (and, with `retraining.triggers: [quality]`, starts a run).
        *([alert("ModelEndpointQualityLow",
                 f'min({QUALITY_METRIC}{{endpoint="{ep.name}"}}) < {ep.retraining.quality_threshold:g}', "15m",
                 "warning", f"{ep.name}: model quality below {ep.retraining.quality_threshold:g}", quality=True)]
          if ep.retraining is not None and ep.retraining.quality_threshold is not None else []),
        # Pulumi does not await serving rollouts or imports: a stuck one pages here instead.
        alert("ModelEndpointUnavailable", unavailable_expr(ep),
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
    ]
    if ep.drift:
        panels.append({"title": f"Drift ({drift.metric})", "expr": q.drift_score, "unit": "short",
                       "legend": drift.metric, "threshold": drift.threshold})
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


def _meta_label(prefix: str, label: str) -> str:
    return prefix + re.sub(r"[^a-zA-Z0-9_]", "_", label)


# A Rollout's canary Service selects the stable pods too whenever no rollout runs (Argo Rollouts points both
# Services at the stable revision): drop its targets unless the pod is the new revision (`canaryMetadata`), so
# every pod is scraped once and the canary series are exactly the new revision's.
ROLLOUT_DEDUP = {
    "sourceLabels": [_meta_label("__meta_kubernetes_service_label_", c.TRACK_LABEL),
                     _meta_label("__meta_kubernetes_pod_label_", c.REVISION_LABEL)],
    "regex": f"{c.TRACK_CANARY};({c.TRACK_STABLE})?", "action": "drop"}


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
                "endpoints": [{"port": "metrics", "path": "/metrics", "interval": "15s", "scrapeTimeout": "10s",
                               **({"relabelings": [ROLLOUT_DEDUP]} if ep.rollout is not None else {})}],
            },
            opts=after)
        groups: list[dict[str, Any]] = []
        q = queries(ep)
        recorded = [(common.IN_FLIGHT_METRIC, q.in_flight_by_pod), (common.QUEUE_DEPTH_METRIC, q.queue_depth_by_pod),
                    (common.KV_CACHE_METRIC, q.kv_cache_by_pod)]
        records = [{"record": name, "expr": expr} for name, expr in recorded if expr is not None]
        if records:
            groups.append({"name": f"aienv-{ep.name}-recording", "interval": "15s", "rules": records})
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
