"""Progressive delivery: Argo Rollouts with its Gateway API traffic-router plugin, and per endpoint a `Rollout`
on the serving Deployment with an `AnalysisTemplate` of the spec's service levels.

Why Argo Rollouts (not Flagger): the plugin changes only the weights of the backends in the endpoint's own
HTTPRoute (rollouts-plugin-trafficrouter-gatewayapi v0.15.0 `setHTTPRouteWeight`: it sets
`BackendRefs[j].Weight` of the canary and stable Services and updates the route), so the route the stack writes
keeps its path rewrite, timeout, the capture mirror and the SecurityPolicy that targets it by name, and every
object stays in the plan the packs check; Flagger generates the HTTPRoute and the Services itself. The
`Rollout` references the Deployment (`workloadRef`), so the pod template, and the packs' checks of it, stay
where they are: a change of `model.version` or `image` becomes a new revision that takes the traffic `steps` in
turn while a background analysis measures the new revision's replicas (the canary Service's series in the stack's
Prometheus); a failed analysis aborts the rollout, which sends all traffic back to the stable revision.

Chart: argo-rollouts 2.41.0 (Argo Rollouts v1.9.0, argo-helm tag `argo-rollouts-2.41.0`); its values used here:
`installCRDs`/`keepCRDs` (the chart's templates/crds), `controller.initContainers`, `controller.trafficRouterPlugins`,
`controller.volumes`/`volumeMounts`, `providerRBAC.providers.*` (the controller's role gets get/list/watch/update
on `httproutes` with `gatewayAPI`), `dashboard.enabled`. The plugin binary is copied from its release image
(ghcr.io/argoproj-labs/rollouts-plugin-trafficrouter-gatewayapi, built FROM alpine with the binary at
`/bin/rollouts-plugin-trafficrouter-gatewayapi`, `USER 999`) instead of downloaded from GitHub at start-up.
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
from aienv.spec.model import Runtime
from components.kubernetes import _common as common
from components.kubernetes.observability import PROMETHEUS_PORT, PROMETHEUS_URL

ROLLOUTS_API = "argoproj.io/v1alpha1"
PLUGIN = "argoproj-labs/gatewayAPI"
PLUGIN_VERSION = "v0.15.0"
PLUGIN_IMAGE = f"ghcr.io/argoproj-labs/rollouts-plugin-trafficrouter-gatewayapi:{PLUGIN_VERSION}"
PLUGIN_DIR = "/plugins"
PLUGIN_BINARY = "rollouts-plugin-trafficrouter-gatewayapi"
# Argo Rollouts' metric of a Rollout's available replicas (controller metrics, `rollout_info_replicas_available`).
AVAILABLE_METRIC = "rollout_info_replicas_available"
# Other traffic providers the chart would grant the controller access to; only the Gateway API is used.
OTHER_PROVIDERS = ("istio", "smi", "ambassador", "awsLoadBalancerController", "awsAppMesh", "traefik", "apisix",
                   "contour", "glooPlatform")


def canary_service(endpoint: str) -> str:
    return f"{endpoint}-{c.TRACK_CANARY}"


def stable_service(endpoint: str) -> str:
    return f"{endpoint}-{c.TRACK_STABLE}"


def controller_values(prod: bool) -> dict[str, Any]:
    copy = {
        "name": "copy-gatewayapi-plugin", "image": PLUGIN_IMAGE,
        "command": ["/bin/sh", "-c", f"cp /bin/{PLUGIN_BINARY} {PLUGIN_DIR}/"],
        "volumeMounts": [{"name": "gatewayapi-plugin", "mountPath": PLUGIN_DIR}],
        "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"cpu": "100m", "memory": "64Mi"}},
        "securityContext": {**common.CONTAINER_SECURITY_VALUES, "runAsUser": 999},
    }
    return {
        "installCRDs": True, "keepCRDs": True,
        "controller": {
            "replicas": 2 if prod else 1,
            "initContainers": [copy],
            "trafficRouterPlugins": [{"name": PLUGIN, "location": f"file://{PLUGIN_DIR}/{PLUGIN_BINARY}"}],
            "volumes": [{"name": "gatewayapi-plugin", "emptyDir": {"sizeLimit": "128Mi"}}],
            "volumeMounts": [{"name": "gatewayapi-plugin", "mountPath": PLUGIN_DIR}],
            "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}},
            # Rollout availability for the endpoints' alerts (the stable Deployment is scaled down by the Rollout).
            "metrics": {"enabled": True, "serviceMonitor": {"enabled": True}},
        },
        "dashboard": {"enabled": False},
        "providerRBAC": {"enabled": True,
                         "providers": {**{p: False for p in OTHER_PROVIDERS}, "gatewayAPI": True}},
        "podSecurityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
    }


@dataclass(frozen=True)
class RolloutsControllerArgs:
    environment: str
    prod: bool
    labels: Mapping[str, str] = field(default_factory=dict)
    depends_on: Sequence[pulumi.Resource] = ()  # its namespace and kube-prometheus-stack (ServiceMonitor CRD)


class RolloutsController(pulumi.ComponentResource):
    """`aienv:kubernetes:RolloutsController`: Argo Rollouts with the Gateway API plugin (CRDs with the chart)."""

    def __init__(self, name: str, args: RolloutsControllerArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aienv:kubernetes:RolloutsController", name, None, opts)
        self.release = k8s.helm.v3.Release(
            f"{name}-argo-rollouts",
            k8s.helm.v3.ReleaseArgs(name="argo-rollouts", namespace=c.ROLLOUTS_NAMESPACE, max_history=5,
                                    values=controller_values(args.prod),
                                    **common.ARGO_ROLLOUTS.release_args()),  # type: ignore[arg-type]
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on)))
        self.ready: list[pulumi.Resource] = [self.release]
        self.register_outputs({"chart": f"argo-rollouts {common.ARGO_ROLLOUTS.version}",
                               "plugin": PLUGIN_IMAGE})


# --- analysis ----------------------------------------------------------------------------------------------
def _canary(ep: EndpointSpec) -> str:
    # The canary Service's series: the ServiceMonitor labels them with the Service's track label.
    return f'namespace="{c.SERVING_NAMESPACE}",job="{ep.name}",aienv_io_track="{c.TRACK_CANARY}"'


def analysis_queries(ep: EndpointSpec, window: str) -> dict[str, tuple[str, float]]:
    """name -> (PromQL over the new revision's replicas, largest value that passes)."""
    sel = _canary(ep)
    ana = ep.rollout.analysis if ep.rollout else None
    assert ana is not None
    if ep.runtime is Runtime.vllm:
        errors = (f'sum(rate(http_requests_total{{{sel},status="5xx"}}[{window}])) / '
                  f"sum(rate(http_requests_total{{{sel}}}[{window}]))")
        latency = (f"histogram_quantile(0.95, sum by (le) "
                   f"(rate(vllm:e2e_request_latency_seconds_bucket{{{sel}}}[{window}])))")
    elif ep.runtime is Runtime.triton:
        failures = f"sum(rate(nv_inference_request_failure{{{sel}}}[{window}]))"
        errors = f"{failures} / ({failures} + sum(rate(nv_inference_request_success{{{sel}}}[{window}])))"
        latency = f'max(nv_inference_request_summary_us{{{sel},quantile="0.95"}}) / 1e6'
    else:
        errors = (f'sum(rate(http_requests_total{{{sel},status=~"5.."}}[{window}])) / '
                  f"sum(rate(http_requests_total{{{sel}}}[{window}]))")
        latency = (f"histogram_quantile(0.95, sum by (le) "
                   f"(rate(http_request_duration_seconds_bucket{{{sel}}}[{window}])))")
    out = {"error-rate": (errors, ana.max_error_rate_percent / 100),
           "latency-p95": (latency, ana.max_p95_latency_ms / 1000)}
    if ana.max_ttft_p95_ms is not None:  # vLLM only (refused for other runtimes)
        out["ttft-p95"] = (f"histogram_quantile(0.95, sum by (le) "
                           f"(rate(vllm:time_to_first_token_seconds_bucket{{{sel}}}[{window}])))",
                           ana.max_ttft_p95_ms / 1000)
    return out


def analysis_template(ep: EndpointSpec) -> dict[str, Any]:
    """The AnalysisTemplate spec: a Prometheus metric per service level, measured every `interval_minutes`.

    No traffic is a failure, not a pass: a ratio over no requests is NaN and an empty result fails the
    condition (Argo Rollouts evaluates `successCondition`/`failureCondition` on `result`, the query's values);
    `failureLimit` failed measurements abort the rollout."""
    ana = ep.rollout.analysis if ep.rollout else None
    assert ana is not None
    interval = f"{ana.interval_minutes}m"
    metrics = []
    for metric, (query, limit) in analysis_queries(ep, interval).items():
        metrics.append({
            "name": metric, "interval": interval, "failureLimit": ana.failure_limit,
            "successCondition": f"len(result) > 0 && !isNaN(result[0]) && result[0] <= {limit:g}",
            "failureCondition": f"len(result) == 0 || isNaN(result[0]) || result[0] > {limit:g}",
            "provider": {"prometheus": {"address": f"{PROMETHEUS_URL}:{PROMETHEUS_PORT}", "query": query}},
        })
    return {"metrics": metrics}


def canary_steps(ep: EndpointSpec) -> list[dict[str, Any]]:
    """`setWeight` and a pause per step below 100; after the last step the rollout is promoted (100%)."""
    ro = ep.rollout
    assert ro is not None
    out: list[dict[str, Any]] = []
    for weight in ro.steps[:-1]:
        out += [{"setWeight": weight}, {"pause": {"duration": f"{ro.step_minutes}m"}}]
    return out


@dataclass(frozen=True)
class EndpointRolloutArgs:
    endpoint: EndpointSpec
    environment: str
    deployment: str  # the serving Deployment the Rollout takes over (`workloadRef`)
    route: str  # the endpoint's HTTPRoute
    selector: Mapping[str, str]  # the Deployment's pod selector
    min_replicas: int
    progress_deadline_seconds: int
    labels: Mapping[str, str] = field(default_factory=dict)
    depends_on: Sequence[pulumi.Resource] = ()  # the Argo Rollouts release (CRDs), the Deployment, Services, route


class EndpointRollout(pulumi.ComponentResource):
    """`aienv:kubernetes:EndpointRollout`: the Rollout and AnalysisTemplate of one endpoint."""

    def __init__(self, name: str, args: EndpointRolloutArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aienv:kubernetes:EndpointRollout", name, None, opts)
        ep, ns = args.endpoint, c.SERVING_NAMESPACE
        labels = {**common.base_labels(args.environment), **args.labels, c.ENDPOINT_LABEL: ep.name,
                  c.COMPONENT_LABEL: c.COMPONENT_SERVING}
        after = pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on))
        template = f"{ep.name}-slo"
        self.analysis = k8s.apiextensions.CustomResource(
            f"{name}-analysis", api_version=ROLLOUTS_API, kind="AnalysisTemplate",
            metadata=common.meta(template, ns, labels), spec=analysis_template(ep), opts=after)
        self.rollout = k8s.apiextensions.CustomResource(
            f"{name}-rollout", api_version=ROLLOUTS_API, kind="Rollout",
            metadata=common.meta(ep.name, ns, labels),
            spec={
                "replicas": args.min_replicas,
                "revisionHistoryLimit": 2,
                "selector": {"matchLabels": dict(args.selector)},
                # The Deployment keeps the pod template; the Rollout scales it down as its own revision comes up.
                "workloadRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": args.deployment,
                                "scaleDown": "progressively"},
                "progressDeadlineSeconds": args.progress_deadline_seconds,
                "progressDeadlineAbort": True,
                "strategy": {"canary": {
                    "stableService": stable_service(ep.name),
                    "canaryService": canary_service(ep.name),
                    "trafficRouting": {"plugins": {PLUGIN: {
                        "httpRoute": args.route, "namespace": ns,
                        # The plugin would label the route while a step runs; Pulumi owns the route's labels.
                        "disableInProgressLabel": True}}},
                    # Which pods are the new revision: the ServiceMonitor keeps the canary Service's targets only
                    # for these, so a fully promoted endpoint (both Services on the stable pods) is scraped once.
                    "canaryMetadata": {"labels": {c.REVISION_LABEL: c.TRACK_CANARY}},
                    "stableMetadata": {"labels": {c.REVISION_LABEL: c.TRACK_STABLE}},
                    "analysis": {"templates": [{"templateName": template}], "startingStep": 1},
                    "steps": canary_steps(ep),
                }},
            },
            # The HPA scales the Rollout (spec.replicas); Pulumi sets only the first value.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*args.depends_on, self.analysis],
                                        ignore_changes=["spec.replicas"]))
        self.register_outputs({"rollout": ep.name, "analysis": template,
                               "steps": ep.rollout.steps if ep.rollout else [],
                               "stepMinutes": ep.rollout.step_minutes if ep.rollout else 0,
                               "metrics": [m["name"] for m in analysis_template(ep)["metrics"]]})


def analysis_minutes(ep: EndpointSpec) -> int:
    """How long a rollout takes when every step passes (for the docs and the alerts)."""
    ro = ep.rollout
    return 0 if ro is None else math.ceil(ro.step_minutes * (len(ro.steps) - 1))
