"""The retraining trigger of one endpoint: Alertmanager sends the endpoint's drift (and quality) alerts to it, and
it starts a run of the endpoint's pipeline in the cloud's pipeline service (SageMaker Pipelines, Azure ML pipeline
jobs, Vertex AI Pipelines), which trains the new version and registers it in the environment's model registry.

Why an Alertmanager webhook receiver in the cluster: the alerts are evaluated by the stack's Prometheus, and
Alertmanager already routes them (grouping, repeats, silences); a receiver per endpoint lets each trigger hold
exactly one permission, starting that endpoint's pipeline, with its own cloud identity. One Deployment
`<endpoint>-retrain` in `aienv-monitoring`: a `receiver` (aienv/retrain.py on the Python image) answers
Alertmanager and queues at most one run per `retraining.cooldown_hours` on a volume; a `runner` (the cloud's
tool from `CloudFoundation.mlops`) sends each queued run with the pod's identity and keeps the ones that failed
for the next pass. The run id is derived from the alert instance, so a repeat after a restart starts nothing new.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache

import pulumi
import pulumi_kubernetes as k8s

from aienv import conventions as c
from aienv import retrain as retrain_program
from aienv.spec.model import ModelEndpoint as EndpointSpec
from components.contracts import MLOPS_TOOL_DIR, BoundIdentity, KubernetesSupport, MlopsSupport, PipelineRun
from components.kubernetes import _common as common

CODE_DIR = "/opt/aienv"
QUEUE_DIR = "/queue"
PORT = 8080
RUN_SECONDS = 15
MAX_ATTEMPTS = 5
ALERTS = {"drift": "ModelEndpointDrift", "quality": "ModelEndpointQualityLow"}


@cache
def retrain_source() -> str:
    return inspect.getsource(retrain_program)


def receiver_url(endpoint: str) -> str:
    """Where Alertmanager posts the endpoint's alerts."""
    return f"http://{endpoint}-retrain.{c.MONITORING_NAMESPACE}.svc:{PORT}/alerts"


def alert_names(ep: EndpointSpec) -> list[str]:
    rt = ep.retraining
    return [ALERTS[t] for t in rt.triggers] if rt is not None else []


def runner_lines(mlops: MlopsSupport, run: PipelineRun) -> list[str]:
    """Send every queued run; a sent run moves to `done/`, one that failed MAX_ATTEMPTS times to `failed/`."""
    return [
        f'mkdir -p "{QUEUE_DIR}/done" "{QUEUE_DIR}/failed"',
        "while :; do",
        f'  for REQUEST in "{QUEUE_DIR}"/aienv-*.json; do',
        '    [ -e "$REQUEST" ] || continue',
        '    RUN_ID="$(basename "$REQUEST" .json)"; export REQUEST RUN_ID',
        f"    {mlops.login}",
        f"    if {{ {run.start}; }}; then",
        f'      echo "started $RUN_ID"; mv "$REQUEST" "{QUEUE_DIR}/done/"',
        "    else",
        f'      n=$(( $(cat "{QUEUE_DIR}/.$RUN_ID.attempts" 2>/dev/null || echo 0) + 1 ))',
        f'      echo "$n" > "{QUEUE_DIR}/.$RUN_ID.attempts"',
        f'      if [ "$n" -ge {MAX_ATTEMPTS} ]; then echo "giving up on $RUN_ID" >&2; '
        f'mv "$REQUEST" "{QUEUE_DIR}/failed/"; fi',
        "    fi",
        "  done",
        f"  sleep {RUN_SECONDS}",
        "done",
    ]


@dataclass(frozen=True)
class RetrainingTriggerArgs:
    endpoint: EndpointSpec
    environment: str
    support: KubernetesSupport
    mlops: MlopsSupport
    images: common.ImageRefs
    data_bucket_uri: pulumi.Input[str]
    service_account: str
    identity: BoundIdentity
    labels: Mapping[str, str] = field(default_factory=dict)
    depends_on: Sequence[pulumi.Resource] = ()  # the monitoring namespace


class RetrainingTrigger(pulumi.ComponentResource):
    """`aienv:kubernetes:RetrainingTrigger`: the Alertmanager receiver that starts one endpoint's pipeline."""

    def __init__(self, name: str, args: RetrainingTriggerArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aienv:kubernetes:RetrainingTrigger", name, None, opts)
        ep, ns, mlops = args.endpoint, c.MONITORING_NAMESPACE, args.mlops
        rt = ep.retraining
        assert rt is not None
        run = mlops.pipelines[ep.name]
        svc = f"{ep.name}-retrain"
        labels = {**common.base_labels(args.environment), **args.labels, c.ENDPOINT_LABEL: ep.name,
                  c.COMPONENT_LABEL: c.COMPONENT_RETRAIN}
        selector = {c.ENDPOINT_LABEL: ep.name, c.COMPONENT_LABEL: c.COMPONENT_RETRAIN}
        after = pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on))

        self.service_account = common.workload_service_account(
            name, self, args.service_account, ns, labels, args.identity, args.depends_on)
        code = k8s.core.v1.ConfigMap(
            f"{name}-code",
            metadata=common.meta(f"{svc}-code", ns, labels),
            data={"retrain.py": retrain_source(), "request.json": run.template, **mlops.files},
            opts=after)
        # The spec's parameters, then what every run gets: the version serving now and the captured samples.
        base = pulumi.Output.json_dumps({**rt.parameters, "model_version": ep.model.version,
                                         "captured_data": common.join_uri(args.data_bucket_uri,
                                                                          c.capture_prefix(ep.name))})
        queue = k8s.core.v1.VolumeMountArgs(name="queue", mount_path=QUEUE_DIR)
        tmp = k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp")
        receiver = k8s.core.v1.ContainerArgs(
            name="receiver", image=args.images.tool("python"),
            command=["python", f"{CODE_DIR}/retrain.py", "--endpoint", ep.name,
                     "--alerts", ",".join(alert_names(ep)), "--shape", run.shape,
                     "--request", f"{CODE_DIR}/request.json", "--parameters", base, "--queue", QUEUE_DIR,
                     "--cooldown-hours", str(rt.cooldown_hours), "--port", str(PORT)],
            env=[k8s.core.v1.EnvVarArgs(name="PYTHONDONTWRITEBYTECODE", value="1")],
            ports=[k8s.core.v1.ContainerPortArgs(name="http", container_port=PORT, protocol="TCP")],
            resources=common.resources("100m", "128Mi"),
            security_context=common.container_security(),
            readiness_probe=k8s.core.v1.ProbeArgs(http_get=k8s.core.v1.HTTPGetActionArgs(
                path=retrain_program.HEALTH_PATH, port="http"), period_seconds=10),
            volume_mounts=[k8s.core.v1.VolumeMountArgs(name="code", mount_path=CODE_DIR, read_only=True),
                           queue, tmp])
        tool_env: dict[str, pulumi.Input[str]] = {
            **(args.support.object_store.env if mlops.tool == "object-store" else {"HOME": "/tmp"}),
            **args.support.workload_env, **run.env}
        runner = k8s.core.v1.ContainerArgs(
            name="runner", image=args.images.tool(mlops.tool), command=common.script(*runner_lines(mlops, run)),
            env=common.env(tool_env), resources=common.resources("250m", "512Mi"),
            security_context=common.container_security(),
            volume_mounts=[queue, tmp, k8s.core.v1.VolumeMountArgs(name="code", mount_path=MLOPS_TOOL_DIR,
                                                                   read_only=True)])
        self.deployment = k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata=common.meta(svc, ns, labels, {"aienv.io/retraining-pipeline": rt.pipeline[:250]}),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=1,
                # One receiver at a time: two would each queue a run for the same alert.
                strategy=k8s.apps.v1.DeploymentStrategyArgs(type="Recreate"),
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels={**labels, **args.identity.pod_labels}),
                    spec=k8s.core.v1.PodSpecArgs(
                        service_account_name=args.service_account, automount_service_account_token=False,
                        enable_service_links=False, security_context=common.pod_security(),
                        containers=[receiver, runner],
                        volumes=[k8s.core.v1.VolumeArgs(name="code", config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(
                                     name=f"{svc}-code", default_mode=0o444)),
                                 common.empty_dir("queue", "64Mi"), common.empty_dir("tmp", "1Gi")]))),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*args.depends_on, self.service_account, code]))
        self.service = k8s.core.v1.Service(
            f"{name}-service",
            metadata=common.meta(svc, ns, labels),
            spec=k8s.core.v1.ServiceSpecArgs(
                type="ClusterIP", selector=selector,
                ports=[k8s.core.v1.ServicePortArgs(name="http", port=PORT, target_port="http", protocol="TCP")]),
            opts=after)
        self.network_policy = k8s.networking.v1.NetworkPolicy(
            f"{name}-network-policy",
            metadata=common.meta(svc, ns, labels),
            spec=k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                policy_types=["Ingress", "Egress"],
                # Only Alertmanager posts alerts to it.
                ingress=[k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                    from_=[common.namespace_peer(common.PROMETHEUS_NAMESPACE,
                                                 {"app.kubernetes.io/name": "alertmanager"})],
                    ports=common.tcp_ports(PORT))],
                # The pipeline service and the token exchange.
                egress=[common.https_egress(), *common.identity_egress(args.support.identity_egress)]),
            opts=after)
        self.url = receiver_url(ep.name)
        self.register_outputs({"endpoint": ep.name, "receiver": self.url, "pipeline": rt.pipeline,
                               "alerts": alert_names(ep), "cooldownHours": rt.cooldown_hours,
                               "parameters": json.dumps(rt.parameters, sort_keys=True)})
