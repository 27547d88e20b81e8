"""Metrics, alerts and dashboards: kube-prometheus-stack, prometheus-adapter (custom metrics for the
HPAs) and a Pushgateway (where the drift jobs push their scores).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypedDict

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from aienv import conventions as c
from aienv.spec.model import AlertRoute, MonitoringSpec
from components.kubernetes import _common as common

KPS_RELEASE = "kube-prometheus-stack"
KPS_FULLNAME = "kps"  # fullnameOverride: services are kps-prometheus, kps-alertmanager, ...
PROMETHEUS_URL = f"http://{KPS_FULLNAME}-prometheus.{common.PROMETHEUS_NAMESPACE}.svc"
PROMETHEUS_PORT = 9090
GRAFANA_ADMIN_SECRET = "grafana-admin"
DASHBOARD_LABEL = "grafana_dashboard"
SEVERITIES = ("critical", "warning", "info")
ADAPTER_PORT = c.CONTROL_PLANE_POD_PORTS[0]


# --- typed Helm values -------------------------------------------------------------------------------

class VolumeClaimValues(TypedDict):
    spec: dict[str, Any]


class StorageValues(TypedDict):
    volumeClaimTemplate: VolumeClaimValues


class PrometheusSpecValues(TypedDict, total=False):
    podMetadata: dict[str, dict[str, str]]
    retention: str
    retentionSize: str
    replicas: int
    storageSpec: StorageValues
    serviceMonitorSelectorNilUsesHelmValues: bool
    podMonitorSelectorNilUsesHelmValues: bool
    ruleSelectorNilUsesHelmValues: bool
    probeSelectorNilUsesHelmValues: bool
    resources: dict[str, dict[str, str]]


class AlertmanagerConfigValues(TypedDict):
    global_: dict[str, Any]
    route: dict[str, Any]
    receivers: Any  # a secret Output: webhook URLs and keys
    inhibit_rules: list[dict[str, Any]]


class GrafanaValues(TypedDict, total=False):
    admin: dict[str, str]
    persistence: dict[str, Any]
    sidecar: dict[str, Any]
    defaultDashboardsTimezone: str


class AdapterRule(TypedDict):
    seriesQuery: str
    resources: dict[str, Any]
    name: dict[str, str]
    metricsQuery: str


@dataclass(frozen=True)
class ObservabilityArgs:
    environment: str
    prod: bool
    monitoring: MonitoringSpec
    storage_class: str
    cluster_dns: str = "coredns"  # KubernetesSupport.cluster_dns
    # Endpoint -> (alerts that start its retraining, where its trigger listens, cooldown hours).
    retraining: Mapping[str, tuple[Sequence[str], str, int]] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    depends_on: Sequence[pulumi.Resource] = ()


# --- alertmanager ------------------------------------------------------------------------------------

_PD_INTEGRATION = re.compile(r"/integration/([^/]+)/enqueue/?$")


def receiver(route: AlertRoute) -> dict[str, Any]:
    """One Alertmanager receiver for a spec alert route."""
    if route.kind == "email":
        return {"name": route.name, "email_configs": [{"to": route.target, "send_resolved": True}]}
    if route.kind == "slack":
        return {"name": route.name, "slack_configs": [{"api_url": route.target, "send_resolved": True,
                                                       "title": '{{ template "slack.default.title" . }}'}]}
    if route.kind == "pagerduty":
        # An Events API integration URL carries the routing key: https://events.pagerduty.com/integration/<key>/enqueue
        match = _PD_INTEGRATION.search(route.target)
        key = match.group(1) if match else route.target.rstrip("/").rsplit("/", 1)[-1]
        return {"name": route.name, "pagerduty_configs": [{"routing_key": key, "send_resolved": True}]}
    return {"name": route.name, "webhook_configs": [{"url": route.target, "send_resolved": True}]}


# The operator mounts `alertmanagerSpec.secrets` under /etc/alertmanager/secrets/<secret>/.
SMTP_SECRET = "alertmanager-smtp"


def retrain_receiver(endpoint: str) -> str:
    return f"retrain-{endpoint}"


def alertmanager_config(monitoring: MonitoringSpec,
                        retraining: Mapping[str, tuple[Sequence[str], str, int]] | None = None,
                        ) -> AlertmanagerConfigValues:
    retraining = retraining or {}
    # First the retraining triggers (each gets its endpoint's drift/quality alerts, `continue` so the people's
    # routes below still do); repeats come no faster than the trigger's cooldown, which it enforces itself too.
    routes = [{"receiver": retrain_receiver(ep), "continue": True, "group_by": ["alertname", "endpoint"],
               "group_wait": "30s", "repeat_interval": f"{cooldown}h",
               "matchers": [f'alertname=~"{"|".join(alerts)}"', f'endpoint="{ep}"']}
              for ep, (alerts, _url, cooldown) in sorted(retraining.items())]
    routes += [{"receiver": r.name, "matchers": [f'severity=~"{"|".join(r.severities)}"'], "continue": True}
               for r in monitoring.alert_routes]
    global_: dict[str, Any] = {"resolve_timeout": "5m"}
    if monitoring.smtp is not None:  # the spec rules require it whenever a route is `email`
        global_.update(smtp_smarthost=monitoring.smtp.smarthost, smtp_from=monitoring.smtp.from_address,
                       smtp_require_tls=True)
        if monitoring.smtp.username:
            global_.update(smtp_auth_username=monitoring.smtp.username,
                           smtp_auth_password_file=f"/etc/alertmanager/secrets/{SMTP_SECRET}/password")
    return {
        "global_": global_,
        "route": {"receiver": "null", "group_by": ["alertname", "endpoint", "severity"], "group_wait": "30s",
                  "group_interval": "5m", "repeat_interval": "4h", "routes": routes},
        "receivers": pulumi.Output.secret([
            {"name": "null"}, *(receiver(r) for r in monitoring.alert_routes),
            # In-cluster URLs without secrets; resolved alerts start nothing.
            *({"name": retrain_receiver(ep), "webhook_configs": [{"url": url, "send_resolved": False,
                                                                 "max_alerts": 10}]}
              for ep, (_alerts, url, _cooldown) in sorted(retraining.items()))]),
        "inhibit_rules": [{"source_matchers": ['severity="critical"'], "target_matchers": ['severity="warning"'],
                           "equal": ["alertname", "endpoint"]}],
    }


def _plain(config: AlertmanagerConfigValues) -> dict[str, Any]:
    out: dict[str, Any] = dict(config)
    out["global"] = out.pop("global_")
    return out


# --- managed control planes ----------------------------------------------------------------------------

def managed_control_plane_values(cluster_dns: str) -> dict[str, Any]:
    """kube-prometheus-stack values for a managed control plane (EKS, AKS, GKE).

    The chart scrapes the scheduler, controller manager, etcd and kube-proxy by default (78.1.0 values.yaml:
    `kubeScheduler.enabled: true`, ...), and its rules alert when they are absent
    (`KubeSchedulerDown: absent(up{job="kube-scheduler"} == 1)`, severity critical). A managed control plane
    exposes no such targets, and kube-proxy is replaced (GKE Dataplane V2, AKS Cilium) or binds its metrics to
    localhost (EKS): the alerts would page forever. Turning a component off also drops its rules (each rule
    file is guarded by `.Values.<component>.enabled`). DNS is scraped where it runs: CoreDNS (EKS, AKS) or
    kube-dns (GKE).
    """
    return {
        "kubeScheduler": {"enabled": False},
        "kubeControllerManager": {"enabled": False},
        "kubeEtcd": {"enabled": False},
        "kubeProxy": {"enabled": False},
        "coreDns": {"enabled": cluster_dns == "coredns"},
        "kubeDns": {"enabled": cluster_dns == "kube-dns"},
    }


# --- prometheus-adapter ------------------------------------------------------------------------------

def adapter_rules() -> list[AdapterRule]:
    """Custom metrics per pod for the HPAs: GPU utilisation (DCGM), requests in flight, and vLLM's queue depth and
    KV-cache use."""
    per_pod = {"overrides": {"namespace": {"resource": "namespace"}, "pod": {"resource": "pod"}}}
    vllm: list[AdapterRule] = [  # recorded by the endpoints' PrometheusRules
        {"seriesQuery": f'{metric}{{namespace!="",pod!=""}}', "resources": per_pod,
         "name": {"matches": f"^{metric}$", "as": metric},
         "metricsQuery": "max(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)"}
        for metric in (common.QUEUE_DEPTH_METRIC, common.KV_CACHE_METRIC)]
    return [
        {"seriesQuery": f'{common.GPU_UTIL_METRIC}{{namespace!="",pod!=""}}', "resources": per_pod,
         "name": {"matches": f"^{common.GPU_UTIL_METRIC}$", "as": common.GPU_UTIL_METRIC},
         "metricsQuery": "avg(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)"},
        {"seriesQuery": f'{common.IN_FLIGHT_METRIC}{{namespace!="",pod!=""}}', "resources": per_pod,
         "name": {"matches": f"^{common.IN_FLIGHT_METRIC}$", "as": common.IN_FLIGHT_METRIC},
         "metricsQuery": "sum(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)"},
        *vllm,
    ]


class Observability(pulumi.ComponentResource):
    """`aienv:kubernetes:Observability`: Prometheus, Alertmanager, Grafana, custom metrics, Pushgateway."""

    def __init__(self, name: str, args: ObservabilityArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aienv:kubernetes:Observability", name, None, opts)
        labels = {**common.base_labels(args.environment), **args.labels}
        after = pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on))
        mon = args.monitoring

        self.grafana_password = random.RandomPassword(
            f"{name}-grafana-password", random.RandomPasswordArgs(length=32, special=False),
            opts=pulumi.ResourceOptions(parent=self))
        grafana_secret = k8s.core.v1.Secret(
            f"{name}-grafana-admin",
            metadata=common.meta(GRAFANA_ADMIN_SECRET, common.PROMETHEUS_NAMESPACE, labels),
            type="Opaque",
            string_data={"admin-user": "admin", "admin-password": self.grafana_password.result},
            opts=after)

        pvc = {"storageClassName": args.storage_class, "accessModes": ["ReadWriteOnce"],
               "resources": {"requests": {"storage": f"{mon.storage_gb}Gi"}}}
        prometheus_spec: PrometheusSpecValues = {
            # On the Prometheus pods, so the workloads' network policies admit the scraper and nothing else.
            "podMetadata": {"labels": {c.COMPONENT_LABEL: c.COMPONENT_PROMETHEUS}},
            "retention": f"{mon.retention_days}d",
            # Leave headroom on the volume so compaction never fills it.
            "retentionSize": f"{max(1, int(mon.storage_gb * 0.85))}GB",
            "replicas": 2 if args.prod else 1,
            "storageSpec": {"volumeClaimTemplate": {"spec": pvc}},
            # Pick up every ServiceMonitor/PrometheusRule in the cluster, not only the chart's own.
            "serviceMonitorSelectorNilUsesHelmValues": False,
            "podMonitorSelectorNilUsesHelmValues": False,
            "ruleSelectorNilUsesHelmValues": False,
            "probeSelectorNilUsesHelmValues": False,
            "resources": {"requests": {"cpu": "500m", "memory": "2Gi"}, "limits": {"cpu": "2", "memory": "8Gi"}},
        }
        grafana: GrafanaValues = {
            "admin": {"existingSecret": GRAFANA_ADMIN_SECRET, "userKey": "admin-user", "passwordKey": "admin-password"},
            "persistence": {"enabled": True, "storageClassName": args.storage_class, "size": "10Gi"},
            "sidecar": {"dashboards": {"enabled": True, "label": DASHBOARD_LABEL, "labelValue": "1",
                                       "searchNamespace": "ALL"}},
            "defaultDashboardsTimezone": "utc",
        }
        self.alertmanager_config = alertmanager_config(mon, args.retraining)
        am_storage = {"volumeClaimTemplate": {"spec": {**pvc, "resources": {"requests": {"storage": "10Gi"}}}}}
        kps_values: dict[str, Any] = {
            "fullnameOverride": KPS_FULLNAME,
            "commonLabels": common.chart_labels(labels),
            **managed_control_plane_values(args.cluster_dns),
            "prometheus": {"prometheusSpec": dict(prometheus_spec)},
            "alertmanager": {"config": _plain(self.alertmanager_config),
                             "alertmanagerSpec": {"replicas": 2 if args.prod else 1, "storage": am_storage,
                                                  "secrets": [SMTP_SECRET] if mon.smtp and mon.smtp.username
                                                  else []}},
            "grafana": dict(grafana),
        }
        self.prometheus_stack = k8s.helm.v3.Release(
            f"{name}-kube-prometheus-stack",
            k8s.helm.v3.ReleaseArgs(name=KPS_RELEASE, namespace=common.PROMETHEUS_NAMESPACE,
                                    values=kps_values, max_history=5, timeout=900,
                                    **common.KUBE_PROMETHEUS_STACK.release_args()),  # type: ignore[arg-type]
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*args.depends_on, grafana_secret]))
        crds = pulumi.ResourceOptions(parent=self, depends_on=[*args.depends_on, self.prometheus_stack])

        self.adapter = k8s.helm.v3.Release(
            f"{name}-prometheus-adapter",
            k8s.helm.v3.ReleaseArgs(
                name="prometheus-adapter", namespace=common.PROMETHEUS_NAMESPACE, max_history=5,
                values={"prometheus": {"url": PROMETHEUS_URL, "port": PROMETHEUS_PORT},
                        # The API server calls the adapter's pod on this port (chart default 6443): one the
                        # foundations admit from the control plane (conventions.CONTROL_PLANE_POD_PORTS).
                        "listenPort": ADAPTER_PORT,
                        "rules": {"default": False, "custom": [dict(r) for r in adapter_rules()]},
                        "replicas": 2 if args.prod else 1,
                        "podSecurityContext": common.POD_SECURITY_VALUES,
                        "securityContext": common.CONTAINER_SECURITY_VALUES},
                **common.PROMETHEUS_ADAPTER.release_args()),  # type: ignore[arg-type]
            opts=crds)

        self.pushgateway = k8s.helm.v3.Release(
            f"{name}-pushgateway",
            k8s.helm.v3.ReleaseArgs(
                name="pushgateway", namespace=c.MONITORING_NAMESPACE, max_history=5,
                values={"fullnameOverride": common.PUSHGATEWAY_SERVICE,
                        "serviceMonitor": {"enabled": True, "namespace": c.MONITORING_NAMESPACE, "honorLabels": True},
                        "securityContext": common.POD_SECURITY_VALUES,
                        "containerSecurityContext": common.CONTAINER_SECURITY_VALUES,
                        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"},
                                      "limits": {"cpu": "200m", "memory": "256Mi"}},
                        "podLabels": common.chart_labels(labels)},
                **common.PUSHGATEWAY.release_args()),  # type: ignore[arg-type]
            opts=crds)
        # The monitoring namespace denies by default: let the drift jobs push and Prometheus scrape.
        self.pushgateway_policy = k8s.networking.v1.NetworkPolicy(
            f"{name}-pushgateway-ingress",
            metadata=common.meta("pushgateway-ingress", c.MONITORING_NAMESPACE, labels),
            spec=k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(
                    match_labels={"app.kubernetes.io/name": "prometheus-pushgateway"}),
                policy_types=["Ingress"],
                ingress=[k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                    from_=[common.namespace_peer(common.PROMETHEUS_NAMESPACE,
                                                 {c.COMPONENT_LABEL: c.COMPONENT_PROMETHEUS}),
                           common.namespace_peer(c.MONITORING_NAMESPACE, {c.COMPONENT_LABEL: c.COMPONENT_DRIFT}),
                           # The team's evaluation job, once labels arrive, pushes `aienv_model_quality`.
                           common.namespace_peer(c.MONITORING_NAMESPACE,
                                                 {c.COMPONENT_LABEL: c.COMPONENT_MODEL_QUALITY})],
                    ports=common.tcp_ports(common.PUSHGATEWAY_PORT))]),
            opts=after)

        self.prometheus_url = PROMETHEUS_URL
        self.pushgateway_url = f"http://{common.PUSHGATEWAY_SERVICE}.{c.MONITORING_NAMESPACE}.svc:{common.PUSHGATEWAY_PORT}"
        # What later components wait for: the CRDs (ServiceMonitor, PrometheusRule) and the adapter.
        self.ready: list[pulumi.Resource] = [self.prometheus_stack, self.adapter, self.pushgateway]
        self.register_outputs({
            "prometheusUrl": self.prometheus_url,
            "pushgatewayUrl": self.pushgateway_url,
            "grafanaAdminPassword": pulumi.Output.secret(self.grafana_password.result),
            "charts": {"kube-prometheus-stack": common.KUBE_PROMETHEUS_STACK.version,
                       "prometheus-adapter": common.PROMETHEUS_ADAPTER.version,
                       "prometheus-pushgateway": common.PUSHGATEWAY.version},
        })
