"""Inference capture of one endpoint: the writer the gateway mirrors a sample of the endpoint's requests to, which
spools the features the model saw and uploads them to `drift/<endpoint>/recent/` in the training-data bucket.

Why request mirroring at the gateway (Gateway API `RequestMirror` on the endpoint's HTTPRoute, with `fraction`):
the gateway copies a sample of the requests it routes and ignores the copies' answers (Gateway API v1.4,
HTTPRequestMirrorFilter: "Requests are sent to the specified destination, but responses from that destination
are ignored"; Envoy Gateway v1.7 maps `fraction` to Envoy's mirror `runtime_fraction`), so capture adds no latency
and cannot fail a request; the sample rate is the route's
own setting; it works for every runtime (vLLM, Triton, custom) and across the progressive rollout and scale to
zero, which only change the route's backends; and the writer runs with its own identity, which may only create
objects under the endpoint's `recent/` prefix (a serving sidecar would share the model server's identity). What
it does not see is the model's answer: drift is scored on the inputs (see docs/kubernetes.md).

One Deployment `<endpoint>-capture` in `aienv-serving`: a `writer` (aienv/capture.py on the Python image, from
the ConfigMap `<endpoint>-capture-code`) answers the mirrored requests at once and closes batches of records
into a spool volume; an `uploader` (the cloud's tool from `CloudFoundation.mlops`) puts each closed batch under
`<prefix><yyyy>/<mm>/<dd>/` and deletes it locally. The bucket's lifecycle rule on the prefix keeps
`capture.retention_days`; the bucket's default key encrypts the objects.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache

import pulumi
import pulumi_kubernetes as k8s

from aienv import capture as capture_program
from aienv import conventions as c
from aienv.spec.model import ModelEndpoint as EndpointSpec
from components.contracts import MLOPS_TOOL_DIR, BoundIdentity, KubernetesSupport, MlopsSupport
from components.kubernetes import _common as common

CODE_DIR = "/opt/aienv"
SPOOL_DIR = "/spool"
WRITER_PORT = 8080
SERVICE_PORT = 80
UPLOAD_SECONDS = 20
# Gateway API HTTPRequestMirrorFilter `fraction`: "Fraction represents the fraction of requests that should be
# mirrored to BackendRef" (numerator / denominator); `sample_percent` has two decimals, so a denominator of 10000.
FRACTION_DENOMINATOR = 10000


@cache
def capture_source() -> str:
    return inspect.getsource(capture_program)


def service_name(endpoint: str) -> str:
    return f"{endpoint}-capture"


def mirror_filter(ep: EndpointSpec) -> dict[str, object]:
    """The HTTPRoute filter that mirrors `capture.sample_percent` of the endpoint's requests to its writer."""
    return {"type": "RequestMirror", "requestMirror": {
        "backendRef": {"group": "", "kind": "Service", "name": service_name(ep.name), "port": SERVICE_PORT},
        "fraction": {"numerator": round(ep.capture.sample_percent * FRACTION_DENOMINATOR / 100),
                     "denominator": FRACTION_DENOMINATOR}}}


def uploader_lines(mlops: MlopsSupport) -> list[str]:
    """Upload every closed batch, delete it once stored, every UPLOAD_SECONDS; one last pass after SIGTERM (the
    writer closes its open batch on the same signal)."""
    put = mlops.put_file("FILE", "OBJECT")
    return [
        "stop=0",
        "trap 'stop=1' TERM INT",
        "while :; do",
        "  signed=0",
        '  for f in "$SPOOL"/ready/*/*/*/*.jsonl; do',
        '    [ -e "$f" ] || continue',
        f'    if [ "$signed" = 0 ]; then {mlops.login}; signed=1; fi',
        '    FILE="$f"; OBJECT="${CAPTURE_URI%/}/${f#"$SPOOL"/ready/}"; export FILE OBJECT',
        f'    if {put}; then rm -f "$f"; else echo "upload failed, retried: ${{f#"$SPOOL"/ready/}}" >&2; fi',
        "  done",
        '  if [ "$stop" = 1 ]; then exit 0; fi',
        f"  sleep {UPLOAD_SECONDS}",
        "done",
    ]


@dataclass(frozen=True)
class InferenceCaptureArgs:
    endpoint: EndpointSpec
    environment: str
    prod: bool
    support: KubernetesSupport
    mlops: MlopsSupport
    images: common.ImageRefs
    data_bucket_uri: pulumi.Input[str]
    service_account: str
    identity: BoundIdentity
    labels: Mapping[str, str] = field(default_factory=dict)
    depends_on: Sequence[pulumi.Resource] = ()  # the serving namespace


class InferenceCapture(pulumi.ComponentResource):
    """`aienv:kubernetes:InferenceCapture`: the capture writer of one endpoint, its identity and network policy."""

    def __init__(self, name: str, args: InferenceCaptureArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aienv:kubernetes:InferenceCapture", name, None, opts)
        ep, ns, mlops = args.endpoint, c.SERVING_NAMESPACE, args.mlops
        svc = service_name(ep.name)
        labels = {**common.base_labels(args.environment), **args.labels, c.ENDPOINT_LABEL: ep.name,
                  c.COMPONENT_LABEL: c.COMPONENT_CAPTURE}
        selector = {c.ENDPOINT_LABEL: ep.name, c.COMPONENT_LABEL: c.COMPONENT_CAPTURE}
        after = pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on))
        self.prefix = common.join_uri(args.data_bucket_uri, c.capture_prefix(ep.name))

        self.service_account = common.workload_service_account(
            name, self, args.service_account, ns, labels, args.identity, args.depends_on)
        code = k8s.core.v1.ConfigMap(
            f"{name}-code",
            metadata=common.meta(f"{svc}-code", ns, labels),
            data={"capture.py": capture_source(), **mlops.files},
            opts=after)

        code_mount = k8s.core.v1.VolumeMountArgs(name="code", mount_path=CODE_DIR, read_only=True)
        spool = k8s.core.v1.VolumeMountArgs(name="spool", mount_path=SPOOL_DIR)
        tmp = k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp")
        writer = k8s.core.v1.ContainerArgs(
            name="writer", image=args.images.tool("python"),
            command=["python", f"{CODE_DIR}/capture.py", "--endpoint", ep.name, "--runtime", ep.runtime.value,
                     "--pii", ep.capture.pii, "--spool", SPOOL_DIR, "--port", str(WRITER_PORT)],
            env=[k8s.core.v1.EnvVarArgs(name="PYTHONDONTWRITEBYTECODE", value="1")],
            ports=[k8s.core.v1.ContainerPortArgs(name="http", container_port=WRITER_PORT, protocol="TCP")],
            resources=common.resources("250m", "256Mi"),
            security_context=common.container_security(),
            readiness_probe=k8s.core.v1.ProbeArgs(http_get=k8s.core.v1.HTTPGetActionArgs(
                path=capture_program.HEALTH_PATH, port="http"), period_seconds=10),
            liveness_probe=k8s.core.v1.ProbeArgs(http_get=k8s.core.v1.HTTPGetActionArgs(
                path=capture_program.HEALTH_PATH, port="http"), period_seconds=20),
            volume_mounts=[code_mount, spool, tmp])
        tool_env: dict[str, pulumi.Input[str]] = {
            **(args.support.object_store.env if mlops.tool == "object-store" else {"HOME": "/tmp"}),
            **args.support.workload_env, "SPOOL": SPOOL_DIR, "CAPTURE_URI": self.prefix}
        uploader = k8s.core.v1.ContainerArgs(
            name="uploader", image=args.images.tool(mlops.tool), command=common.script(*uploader_lines(mlops)),
            env=common.env(tool_env), resources=common.resources("250m", "512Mi"),
            security_context=common.container_security(),
            volume_mounts=[spool, tmp, k8s.core.v1.VolumeMountArgs(name="code", mount_path=MLOPS_TOOL_DIR,
                                                                   read_only=True)])
        pod = k8s.core.v1.PodSpecArgs(
            service_account_name=args.service_account, automount_service_account_token=False,
            enable_service_links=False, security_context=common.pod_security(),
            containers=[writer, uploader],
            volumes=[k8s.core.v1.VolumeArgs(name="code", config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(
                         name=f"{svc}-code", default_mode=0o444)),
                     common.empty_dir("spool", "2Gi"), common.empty_dir("tmp", "1Gi")],
            # The uploader's last pass runs after its current sleep (the shell runs a trap once sleep returns).
            termination_grace_period_seconds=UPLOAD_SECONDS + 25)
        replicas = 2 if args.prod else 1
        self.deployment = k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata=common.meta(svc, ns, labels, {c.CAPTURE_PII_ANNOTATION: ep.capture.pii}),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=replicas,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels={**labels, **args.identity.pod_labels},
                                                        annotations={c.CAPTURE_PII_ANNOTATION: ep.capture.pii}),
                    spec=pod)),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*args.depends_on, self.service_account, code]))
        self.service = k8s.core.v1.Service(
            f"{name}-service",
            metadata=common.meta(svc, ns, labels),
            spec=k8s.core.v1.ServiceSpecArgs(
                type="ClusterIP", selector=selector,
                ports=[k8s.core.v1.ServicePortArgs(name="http", port=SERVICE_PORT, target_port="http",
                                                   protocol="TCP")]),
            opts=after)
        if args.prod:
            k8s.policy.v1.PodDisruptionBudget(
                f"{name}-pdb", metadata=common.meta(svc, ns, labels),
                spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
                    max_unavailable=1, selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector)),
                opts=after)
        self.network_policy = k8s.networking.v1.NetworkPolicy(
            f"{name}-network-policy",
            metadata=common.meta(svc, ns, labels),
            spec=k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                policy_types=["Ingress", "Egress"],
                # Only the gateway's Envoy proxies send it requests (the mirrored copies).
                ingress=[k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                    from_=[common.namespace_peer(c.GATEWAY_NAMESPACE)], ports=common.tcp_ports(WRITER_PORT))],
                # The object store and the token exchange, nothing else.
                egress=[common.https_egress(), *common.identity_egress(args.support.identity_egress)]),
            opts=after)
        self.register_outputs({"endpoint": ep.name, "service": f"{svc}.{ns}.svc", "prefix": self.prefix,
                               "samplePercent": ep.capture.sample_percent, "pii": ep.capture.pii,
                               "retentionDays": ep.capture.retention_days})
