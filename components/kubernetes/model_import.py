"""The model import of one endpoint: a Job per model version (stable, and the canary when its weights live
elsewhere) in `aienv-models` that copies the weights from the spec's source into the model bucket, once.

Each Job runs, with the endpoint's `<endpoint>-import` identity (which may write only `models/<endpoint>/`,
read its token secret and, for `source.uri`, that path):
1. `check` (object-store client): the version's marker (`conventions.model_import_marker`) exists -> nothing
   else runs, so a re-run, a retried pod or a replaced Job costs one request.
2. `token` (object-store client, when the source names `token_secret`): the cloud secret into a memory volume.
3. `download`: Hugging Face (`revision`) or NGC with `scripts/fetch_weights.py` on a plain Python image, or a
   copy of `source.uri`, onto a scratch volume sized from the model (not the node's disk).
4. `upload` (the main container): the files to the version's path, then the marker, last.
Serving pods wait for that marker. Pulumi does not await the Jobs (`pulumi.com/skipAwait`): an import of a large
model takes longer than any default await, and nothing in the stack depends on it having finished; follow it
with `kubectl -n aienv-models logs -f job/import-<endpoint>-<track> --all-containers`.
"""

from __future__ import annotations

import math
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import pulumi
import pulumi_kubernetes as k8s

from aienv import conventions as c
from aienv.errors import ComponentInputError
from aienv.spec.model import ModelEndpoint as EndpointSpec
from components.contracts import BoundIdentity, KubernetesSupport
from components.kubernetes import _common as common
from components.kubernetes.serving import Track, import_seconds, model_volume_size, tracks

CODE_DIR = "/opt/aienv"
STATE_DIR = "/state"
SECRETS_DIR = "/secrets"
DATA_MOUNT = "/data"
DATA_DIR = f"{DATA_MOUNT}/model"
TOKEN_FILE = f"{SECRETS_DIR}/token"
MIN_DEADLINE_SECONDS = 2 * 3600


@cache
def fetch_script() -> str:
    """scripts/fetch_weights.py, shipped to the download step in a ConfigMap."""
    return (Path(__file__).parent / "scripts" / "fetch_weights.py").read_text()


def job_name(endpoint: str, track: str) -> str:
    return f"import-{endpoint}-{track}"


def deadline_seconds(ep: EndpointSpec) -> int:
    """The Job's activeDeadlineSeconds: three times the estimated import, at least two hours."""
    return max(MIN_DEADLINE_SECONDS, math.ceil(3 * import_seconds(ep)))


@dataclass(frozen=True)
class ModelImportArgs:
    endpoint: EndpointSpec
    index: int  # position in spec.model_endpoints, for error messages
    environment: str
    support: KubernetesSupport
    images: common.ImageRefs
    model_bucket_uri: pulumi.Input[str]
    service_account: str
    identity: BoundIdentity
    labels: Mapping[str, str] = field(default_factory=dict)
    depends_on: Sequence[pulumi.Resource] = ()  # the models namespace and the scratch storage class


class ModelImport(pulumi.ComponentResource):
    """`aienv:kubernetes:ModelImport`: the import Jobs of one endpoint, their identity and network policy."""

    def __init__(self, name: str, args: ModelImportArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aienv:kubernetes:ModelImport", name, None, opts)
        ep, ns, store = args.endpoint, c.MODELS_NAMESPACE, args.support.object_store
        at = f"model_endpoints[{args.index}]"
        source = ep.model.source
        if source is None or source.uploaded:
            raise ComponentInputError(f"{at}.model.source", "has nothing to import (the weights are `uploaded`)")
        if source.uri and not store.accepts(source.uri):
            raise ComponentInputError(f"{at}.model.source.uri", (
                f"`{source.uri}` is not in this cloud's object store; copy the weights there first, or name "
                "the Hugging Face or NGC model"))
        labels = {**common.base_labels(args.environment), **args.labels, c.ENDPOINT_LABEL: ep.name,
                  c.COMPONENT_LABEL: c.COMPONENT_MODEL_IMPORT}
        after = pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on))

        self.service_account = common.workload_service_account(
            name, self, args.service_account, ns, labels, args.identity, args.depends_on)
        needs: list[pulumi.Resource] = [self.service_account]
        if not source.uri:
            needs.append(k8s.core.v1.ConfigMap(
                f"{name}-code",
                metadata=common.meta(f"{ep.name}-import-code", ns, labels),
                data={"fetch_weights.py": fetch_script()},
                opts=after))
        self.network_policy = k8s.networking.v1.NetworkPolicy(
            f"{name}-network-policy",
            metadata=common.meta(f"{ep.name}-import", ns, labels),
            spec=k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels={
                    c.COMPONENT_LABEL: c.COMPONENT_MODEL_IMPORT, c.ENDPOINT_LABEL: ep.name}),
                policy_types=["Ingress", "Egress"],
                ingress=[],
                # The model hub (Hugging Face, NGC and their CDNs) and the object store are HTTPS endpoints
                # without fixed addresses: a NetworkPolicy cannot name them by host, so 443 is open, and
                # nothing else besides DNS (the namespace's allow-dns) and the identity endpoint.
                egress=[common.https_egress(), *common.identity_egress(args.support.identity_egress)]),
            opts=after)
        needs.append(self.network_policy)

        self.jobs: dict[str, k8s.batch.v1.Job] = {}
        seen: set[str] = set()
        for track in tracks(ep, at):
            if track.artifact_path in seen:  # a canary on the stable weights imports nothing more
                continue
            seen.add(track.artifact_path)
            track_labels = {**labels, c.TRACK_LABEL: track.name}
            self.jobs[track.name] = k8s.batch.v1.Job(
                f"{name}-{track.name}-job",
                metadata=common.meta(job_name(ep.name, track.name), ns, track_labels,
                                     {**common.SKIP_AWAIT, "aienv.io/model-version": track.version,
                                      "aienv.io/model-source": source_description(ep)}),
                spec=k8s.batch.v1.JobSpecArgs(
                    backoff_limit=3,
                    active_deadline_seconds=deadline_seconds(ep),
                    template=k8s.core.v1.PodTemplateSpecArgs(
                        metadata=k8s.meta.v1.ObjectMetaArgs(labels={**track_labels, **args.identity.pod_labels}),
                        spec=self._pod_spec(args, track))),
                # A Job's pod template is immutable: a changed import is a new Job.
                opts=pulumi.ResourceOptions(parent=self, depends_on=[*args.depends_on, *needs],
                                            replace_on_changes=["spec"], delete_before_replace=True))
        self.register_outputs({
            "endpoint": ep.name,
            "source": source_description(ep),
            "jobs": {t: job_name(ep.name, t) for t in self.jobs},
            "namespace": ns,
        })

    @staticmethod
    def _pod_spec(args: ModelImportArgs, track: Track) -> k8s.core.v1.PodSpecArgs:
        ep, store = args.endpoint, args.support.object_store
        source = ep.model.source
        assert source is not None
        tool = args.images.tool("object-store")
        target = common.join_uri(args.model_bucket_uri, track.artifact_path)
        marker = common.join_uri(args.model_bucket_uri, c.model_import_marker(track.artifact_path))
        cloud_env: dict[str, pulumi.Input[str]] = {**args.support.workload_env, "TARGET": target, "MARKER": marker}
        skip = f'if [ -e "{STATE_DIR}/done" ]; then echo "already imported"; exit 0; fi'
        state = k8s.core.v1.VolumeMountArgs(name="state", mount_path=STATE_DIR)
        tmp = k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp")
        data = k8s.core.v1.VolumeMountArgs(name="data", mount_path=DATA_MOUNT)
        secrets = k8s.core.v1.VolumeMountArgs(name="secrets", mount_path=SECRETS_DIR)
        init = [common.tool_container("check", tool, store, [
            store.login(),
            f'if {store.exists("MARKER")}; then echo "$MARKER exists"; : > "{STATE_DIR}/done"; fi',
        ], cloud_env, [state, tmp])]
        if source.token_secret:
            init.append(common.tool_container("token", tool, store, [
                skip, store.login(), "umask 077", store.read_secret(source.token_secret, TOKEN_FILE),
            ], cloud_env, [state, tmp, secrets]))
        if source.uri:
            init.append(common.tool_container("download", tool, store, [
                skip, store.login(), f'mkdir -p "{DATA_DIR}"', store.download("SOURCE", DATA_DIR),
            ], {**cloud_env, "SOURCE": source.uri}, [state, tmp, data], cpu="1", memory="2Gi"))
        else:
            if source.huggingface:
                fetch = ["huggingface", source.huggingface, "--revision", source.revision or "main"]
            else:
                fetch = ["ngc", source.ngc or ""]
            command = " ".join(shlex.quote(a) for a in [
                "python", f"{CODE_DIR}/fetch_weights.py", *fetch, "--token-file", TOKEN_FILE, "--dest", DATA_DIR])
            init.append(k8s.core.v1.ContainerArgs(
                name="download", image=args.images.tool("python"), command=common.script(skip, f"exec {command}"),
                env=common.env({"HOME": "/tmp", "PYTHONDONTWRITEBYTECODE": "1"}),
                resources=common.resources("1", "2Gi"), security_context=common.container_security(),
                volume_mounts=[state, tmp, data, secrets,
                               k8s.core.v1.VolumeMountArgs(name="code", mount_path=CODE_DIR, read_only=True)]))
        upload = common.tool_container("upload", tool, store, [
            skip, store.login(),
            f'rm -f "{DATA_DIR}/{c.MODEL_IMPORT_MARKER}"',
            store.upload(DATA_DIR, "TARGET"),
            store.put_marker("MARKER"),  # last: serving pods start copying once it exists
            'echo "imported into $TARGET"',
        ], cloud_env, [state, tmp, data], cpu="1", memory="2Gi")
        volumes = [common.empty_dir("state", "1Mi"), common.empty_dir("tmp", "1Gi"),
                   common.empty_dir("secrets", "1Mi", memory=True),
                   common.scratch_volume("data", model_volume_size(ep))]
        if not source.uri:
            volumes.append(k8s.core.v1.VolumeArgs(name="code", config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(
                name=f"{ep.name}-import-code", default_mode=0o444)))
        return k8s.core.v1.PodSpecArgs(
            service_account_name=args.service_account,
            automount_service_account_token=False,
            restart_policy="Never",
            enable_service_links=False,
            security_context=common.pod_security(),
            init_containers=init,
            containers=[upload],
            volumes=volumes)


def source_description(ep: EndpointSpec) -> str:
    """`huggingface:<repo>@<revision>`, `ngc:<model>` or `uri:<uri>` (an annotation, for people)."""
    source = ep.model.source
    if source is None:
        return "none"
    if source.huggingface:
        return f"huggingface:{source.huggingface}@{source.revision or 'main'}"
    if source.ngc:
        return f"ngc:{source.ngc}"
    return f"uri:{source.uri}" if source.uri else "uploaded"
