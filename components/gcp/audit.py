"""`aienv:gcp:Audit`: Data Access audit logs for the data services, an audit-log archive in the logs bucket,
log retention, notification channels from the spec's alert routes and alert policies for GKE and Redis."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
from pulumi_gcp import logging, monitoring, projects, redis, storage

from aienv.spec.model import AlertRoute, StackSpec
from components.gcp import common

LOG_TYPES = ("ADMIN_READ", "DATA_READ", "DATA_WRITE")
# Route kinds a Cloud Monitoring notification channel can serve.
MONITORING_ROUTE_KINDS = ("email", "pagerduty", "webhook")
# Severities of the Cloud Monitoring alert policies below.
MONITORING_SEVERITIES = ("critical", "warning")


def audited_services(spec: StackSpec) -> list[str]:
    services = ["storage.googleapis.com", "cloudkms.googleapis.com", "artifactregistry.googleapis.com"]
    if common.vertex_on(spec):
        services.append("aiplatform.googleapis.com")
    if common.bigquery_on(spec):
        services.append("bigquery.googleapis.com")
    return services


@dataclass(frozen=True)
class AuditArgs:
    spec: StackSpec
    log_bucket: storage.Bucket
    cluster_name: pulumi.Input[str]
    redis: redis.Instance | None = None
    after: Sequence[pulumi.Resource] = ()  # the Logging, Monitoring and Resource Manager APIs


@dataclass(frozen=True)
class _Policy:
    role: str
    title: str
    severity: str  # critical | warning
    filter: pulumi.Input[str]
    threshold: float
    aligner: str
    duration: str
    doc: str


class Audit(pulumi.ComponentResource):
    channels: dict[str, monitoring.NotificationChannel]
    policies: list[monitoring.AlertPolicy]

    def __init__(self, name: str, args: AuditArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aienv:gcp:Audit", name, None, opts)
        spec = args.spec
        project = spec.cloud.project or ""
        child = self._opts = pulumi.ResourceOptions(parent=self, depends_on=list(args.after))

        self.audit_configs: list[projects.IAMAuditConfig] = []
        if spec.security.audit_logs:
            self.audit_configs = [
                projects.IAMAuditConfig(f"{name}-{svc.split('.')[0]}", projects.IAMAuditConfigArgs(
                    project=project, service=svc,
                    audit_log_configs=[projects.IAMAuditConfigAuditLogConfigArgs(log_type=t) for t in LOG_TYPES]),
                    child)
                for svc in audited_services(spec)
            ]
            # Archive every audit log in the (CMEK, versioned, retention-managed) logs bucket.
            sink = logging.ProjectSink(f"{name}-audit-archive", logging.ProjectSinkArgs(
                project=project, destination=pulumi.Output.concat("storage.googleapis.com/", args.log_bucket.name),
                filter='logName:"cloudaudit.googleapis.com"', unique_writer_identity=True,
                description="aienv audit-log archive"), child)
            storage.BucketIAMMember(f"{name}-audit-archive-writer", storage.BucketIAMMemberArgs(
                bucket=args.log_bucket.name, role="roles/storage.objectCreator", member=sink.writer_identity), child)

        logging.ProjectBucketConfig(f"{name}-log-retention", logging.ProjectBucketConfigArgs(
            project=project, location="global", bucket_id="_Default",
            retention_days=spec.monitoring.log_retention_days), child)

        # Slack routes get no Cloud Monitoring channel: Monitoring's webhooks post its own incident JSON, which a
        # Slack incoming webhook rejects, and its native `slack` type needs the Monitoring Slack app's OAuth token,
        # not a webhook URL. Slack receives the in-cluster alerts (Alertmanager's `slack_configs`); Cloud
        # Monitoring's alerts go to the other routes of their severity (`aienv validate` requires one).
        self.channels = {route.name: self._channel(name, route) for route in spec.monitoring.alert_routes
                         if route.kind in MONITORING_ROUTE_KINDS}
        self.policies = [self._policy(name, spec, p) for p in self._policies(spec, args)]
        self.register_outputs({"channels": {k: ch.name for k, ch in self.channels.items()},
                               "auditedServices": [a.service for a in self.audit_configs]})

    def _channel(self, name: str, route: AlertRoute) -> monitoring.NotificationChannel:
        display = f"aienv {route.name}"
        if route.kind == "email":
            args = monitoring.NotificationChannelArgs(type="email", display_name=display,
                                                      labels={"email_address": route.target})
        elif route.kind == "pagerduty":
            args = monitoring.NotificationChannelArgs(
                type="pagerduty", display_name=display,
                sensitive_labels=monitoring.NotificationChannelSensitiveLabelsArgs(
                    service_key=pulumi.Output.secret(route.target)))
        else:
            # A generic webhook receives Monitoring's incident JSON; the URL stays a secret in Pulumi state.
            args = monitoring.NotificationChannelArgs(type="webhook_tokenauth", display_name=display,
                                                      labels={"url": pulumi.Output.secret(route.target)})
        return monitoring.NotificationChannel(f"{name}-channel-{route.name}", args, self._opts)

    def _policies(self, spec: StackSpec, args: AuditArgs) -> list[_Policy]:
        cluster = pulumi.Output.from_input(args.cluster_name)
        out = [
            _Policy("gke-restarts", "GKE containers restarting", "warning",
                    cluster.apply(lambda n: 'metric.type="kubernetes.io/container/restart_count" AND '
                                            f'resource.type="k8s_container" AND resource.label.cluster_name="{n}"'),
                    5, "ALIGN_DELTA", "300s", "Containers restart repeatedly: check crash loops and OOM kills."),
            _Policy("gke-node-cpu", "GKE node CPU saturated", "warning",
                    cluster.apply(lambda n: 'metric.type="kubernetes.io/node/cpu/allocatable_utilization" AND '
                                            f'resource.type="k8s_node" AND resource.label.cluster_name="{n}"'),
                    0.9, "ALIGN_MEAN", "900s", "Nodes run above 90% of allocatable CPU: check pool maximums."),
            _Policy("gke-node-memory", "GKE node memory saturated", "critical",
                    cluster.apply(lambda n: 'metric.type="kubernetes.io/node/memory/allocatable_utilization" AND '
                                            f'resource.type="k8s_node" AND resource.label.cluster_name="{n}"'),
                    0.95, "ALIGN_MEAN", "600s", "Nodes are close to memory exhaustion: pods will be evicted."),
        ]
        if args.redis is not None:
            out += [
                _Policy("redis-memory", "Online store memory almost full", "critical",
                        args.redis.id.apply(lambda i: 'metric.type="redis.googleapis.com/stats/memory/usage_ratio" '
                                                      f'AND resource.type="redis_instance" AND resource.label.instance_id="{i}"'),
                        0.85, "ALIGN_MEAN", "300s", "Redis memory above 85%: features will be evicted; resize."),
                _Policy("redis-cpu", "Online store CPU saturated", "warning",
                        args.redis.id.apply(lambda i: 'metric.type="redis.googleapis.com/stats/cpu_utilization_main_thread" '
                                                      f'AND resource.type="redis_instance" AND resource.label.instance_id="{i}"'),
                        0.8, "ALIGN_RATE", "600s", "Redis main thread above 80%: lookups will slow down."),
            ]
        return out

    def _policy(self, name: str, spec: StackSpec, p: _Policy) -> monitoring.AlertPolicy:
        routes = [r.name for r in spec.monitoring.alert_routes if p.severity in r.severities and r.name in self.channels]
        return monitoring.AlertPolicy(f"{name}-alert-{p.role}", monitoring.AlertPolicyArgs(
            display_name=f"aienv {spec.name}: {p.title}", combiner="OR", severity=p.severity.upper(),
            conditions=[monitoring.AlertPolicyConditionArgs(
                display_name=p.title,
                condition_threshold=monitoring.AlertPolicyConditionConditionThresholdArgs(
                    filter=p.filter, comparison="COMPARISON_GT", threshold_value=p.threshold, duration=p.duration,
                    aggregations=[monitoring.AlertPolicyConditionConditionThresholdAggregationArgs(
                        alignment_period="60s", per_series_aligner=p.aligner)]))],
            documentation=monitoring.AlertPolicyDocumentationArgs(content=p.doc, mime_type="text/markdown"),
            notification_channels=[self.channels[r].id for r in routes],
            user_labels=common.labels(spec, {"severity": p.severity})), self._opts)
