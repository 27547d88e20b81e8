"""Scheduled drift detection for one endpoint: a CronJob that fetches the training baseline and the recent
window of inference captures from the data bucket, scores them with `aienv/drift.py` (mounted from a
ConfigMap) and pushes `aienv_drift_score` to the Pushgateway, where the endpoint's alert reads it.

Bucket layout (data bucket): `drift/<endpoint>/baseline/` and `drift/<endpoint>/recent/`, CSV or JSON lines.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache

import pulumi
import pulumi_kubernetes as k8s

from aienv import conventions as c
from aienv.spec.model import DriftSpec
from components.contracts import BoundIdentity, KubernetesSupport
from components.kubernetes import _common as common

CODE_DIR = "/opt/aienv"
DATA_DIR = "/data"


@cache
def drift_source() -> str:
    """The drift module's source text, shipped to the job in a ConfigMap."""
    from aienv import drift

    return inspect.getsource(drift)


def data_prefix(endpoint: str, part: str) -> str:
    return f"{c.drift_data_prefix(endpoint)}{part}/"


@dataclass(frozen=True)
class DriftMonitorArgs:
    endpoint: str
    environment: str
    support: KubernetesSupport
    images: common.ImageRefs
    drift: DriftSpec
    data_bucket_uri: pulumi.Input[str]
    pushgateway_url: str
    service_account: str
    identity: BoundIdentity
    labels: Mapping[str, str] = field(default_factory=dict)
    depends_on: Sequence[pulumi.Resource] = ()


class DriftMonitor(pulumi.ComponentResource):
    """`aienv:kubernetes:DriftMonitor`: the drift CronJob of one endpoint, its identity and network policy."""

    def __init__(self, name: str, args: DriftMonitorArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aienv:kubernetes:DriftMonitor", name, None, opts)
        ns, ep = c.MONITORING_NAMESPACE, args.endpoint
        labels = {**common.base_labels(args.environment), **args.labels,
                  c.COMPONENT_LABEL: c.COMPONENT_DRIFT, c.ENDPOINT_LABEL: ep}
        after = pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on))

        self.service_account = common.workload_service_account(
            name, self, args.service_account, ns, labels, args.identity, args.depends_on)
        code = k8s.core.v1.ConfigMap(
            f"{name}-code",
            metadata=common.meta(f"{ep}-drift-code", ns, labels),
            data={"drift.py": drift_source()},
            opts=after)

        store = args.support.object_store

        def fetch(part: str) -> k8s.core.v1.ContainerArgs:
            source = common.join_uri(args.data_bucket_uri, data_prefix(ep, part))
            target = f"{DATA_DIR}/{part}"
            # The objects' own times go next to the files: the recent window is decided on them, not on the
            # download time most sync tools stamp the files with.
            return common.tool_container(
                f"fetch-{part}", args.images.tool("object-store"), store,
                [store.login(), f'mkdir -p "{target}"', store.download("SOURCE", target),
                 store.list_times("SOURCE", f"{target}.times")],
                {**args.support.workload_env, "SOURCE": source},
                [k8s.core.v1.VolumeMountArgs(name="data", mount_path=DATA_DIR),
                 k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp")])

        drift = args.drift
        score = k8s.core.v1.ContainerArgs(
            name="score", image=args.images.tool("python"),
            command=["python", f"{CODE_DIR}/drift.py",
                     "--baseline", f"{DATA_DIR}/baseline", "--recent", f"{DATA_DIR}/recent", "--endpoint", ep,
                     "--metric", drift.metric, "--threshold", f"{drift.threshold:g}",
                     "--window-hours", str(drift.window_hours), "--recent-times", f"{DATA_DIR}/recent.times",
                     "--pushgateway", args.pushgateway_url],
            env=[k8s.core.v1.EnvVarArgs(name="PYTHONDONTWRITEBYTECODE", value="1")],
            resources=common.resources("500m", "1Gi"),
            security_context=common.container_security(),
            volume_mounts=[k8s.core.v1.VolumeMountArgs(name="code", mount_path=CODE_DIR, read_only=True),
                           k8s.core.v1.VolumeMountArgs(name="data", mount_path=DATA_DIR, read_only=True),
                           k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp")])
        pod = k8s.core.v1.PodSpecArgs(
            service_account_name=args.service_account,
            automount_service_account_token=False,
            restart_policy="Never",
            enable_service_links=False,
            security_context=common.pod_security(),
            init_containers=[fetch("baseline"), fetch("recent")],
            containers=[score],
            volumes=[k8s.core.v1.VolumeArgs(name="code", config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(
                         name=f"{ep}-drift-code", default_mode=0o444)),
                     common.empty_dir("data", "20Gi"), common.empty_dir("tmp", "1Gi")])
        self.cron_job = k8s.batch.v1.CronJob(
            f"{name}-cron-job",
            metadata=common.meta(f"{ep}-drift", ns, labels),
            spec=k8s.batch.v1.CronJobSpecArgs(
                schedule=drift.schedule, time_zone="Etc/UTC", concurrency_policy="Forbid",
                starting_deadline_seconds=common.DRIFT_STARTING_DEADLINE_SECONDS,
                successful_jobs_history_limit=3, failed_jobs_history_limit=3,
                job_template=k8s.batch.v1.JobTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=labels),
                    spec=k8s.batch.v1.JobSpecArgs(
                        backoff_limit=2, active_deadline_seconds=common.DRIFT_ACTIVE_DEADLINE_SECONDS,
                        ttl_seconds_after_finished=86400,
                        template=k8s.core.v1.PodTemplateSpecArgs(
                            metadata=k8s.meta.v1.ObjectMetaArgs(labels={**labels, **args.identity.pod_labels}),
                            spec=pod)))),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*args.depends_on, self.service_account, code],
                                        delete_before_replace=True))
        self.network_policy = k8s.networking.v1.NetworkPolicy(
            f"{name}-network-policy",
            metadata=common.meta(f"{ep}-drift", ns, labels),
            spec=k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels={c.COMPONENT_LABEL: c.COMPONENT_DRIFT,
                                                                          c.ENDPOINT_LABEL: ep}),
                policy_types=["Ingress", "Egress"],
                ingress=[],
                egress=[common.https_egress(), *common.identity_egress(args.support.identity_egress),
                        k8s.networking.v1.NetworkPolicyEgressRuleArgs(
                            to=[k8s.networking.v1.NetworkPolicyPeerArgs(pod_selector=k8s.meta.v1.LabelSelectorArgs(
                                match_labels={"app.kubernetes.io/name": "prometheus-pushgateway"}))],
                            ports=common.tcp_ports(common.PUSHGATEWAY_PORT))]),
            opts=after)
        self.register_outputs({"endpoint": ep, "schedule": drift.schedule, "metric": drift.metric,
                               "threshold": drift.threshold,
                               "baseline": common.join_uri(args.data_bucket_uri, data_prefix(ep, "baseline")),
                               "recent": common.join_uri(args.data_bucket_uri, data_prefix(ep, "recent"))})
