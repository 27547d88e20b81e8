"""Deployability, classes 6 and 7: awaits that cover a workload's start, and the images and model weights a
workload needs being put where it reads them.

Await (pulumi-kubernetes 4 docstrings, `apps/v1/Deployment.py`: "If the Deployment has not reached a Ready
state after 10 minutes, it will time out and mark the resource update as Failed"; the same for
StatefulSet, Job and Service). A workload's expected start is read from the workload itself: its startup
probe's window (`initialDelaySeconds + failureThreshold x periodSeconds`, the time the program says the
container may take to start) and, for a model server, the weights it loads (the serving layer's
`aienv.io/model-params-billion` / `-precision` / `-memory-gib` annotations) at the configured transfer
rate. The window is the resource's `customTimeouts.create` or its `pulumi.com/timeoutSeconds`
annotation, else 600 s; `pulumi.com/skipAwait: "true"` opts out.

Supply: an image under a registry the stack creates must be filled by the stack (an ECR pull-through cache
rule whose prefix matches, an ACR cache rule whose target repository matches, an Artifact Registry remote
repository) or declared pushed by the team's CI: the pod-template annotation `aienv.io/image-supply: ci`
or the tag/label `aienv-image-supply: ci` on the registry repository. Model weights read from a bucket the
stack creates (`s3://`, `gs://` or an Azure blob URL in a container's command, args or env) must be written
by a Job of the stack that names the same path, or declared uploaded with the pod-template annotation
`aienv.io/model-supply: uploaded`.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from pulumi_policy import PolicyResource, StackValidationArgs
from pulumi_policy.proxy import UnknownValueError

from aienv import gpus
from aienv.conventions import (
    IMAGE_SUPPLY_ANNOTATION,
    MODEL_MEMORY_ANNOTATION,
    MODEL_PARAMS_ANNOTATION,
    MODEL_PRECISION_ANNOTATION,
    MODEL_SUPPLY_ANNOTATION,
)
from policies.meta import RuleMeta
from policies.rules._base import Unknown, get, guarded, number, stack_rule, subject
from policies.rules.deploy_fit import DEPLOY_CONTROLS
from policies.rules.kubernetes import CRONJOB, DEPLOYMENT, JOB, SERVICE, STATEFULSET, containers, pod_spec

SKIP_AWAIT = "pulumi.com/skipAwait"
TIMEOUT_ANNOTATION = "pulumi.com/timeoutSeconds"
DEFAULT_AWAIT_SECONDS = 600
AWAITED = frozenset({DEPLOYMENT, STATEFULSET, JOB})
IMAGE_SUPPLY_TAG = "aienv-image-supply"

_POD_TEMPLATE_META = {DEPLOYMENT: "spec.template.metadata", STATEFULSET: "spec.template.metadata",
                      JOB: "spec.template.metadata", CRONJOB: "spec.jobTemplate.spec.template.metadata",
                      "kubernetes:apps/v1:DaemonSet": "spec.template.metadata",
                      "kubernetes:apps/v1:ReplicaSet": "spec.template.metadata", "kubernetes:core/v1:Pod": "metadata"}


def pod_annotations(r: PolicyResource) -> dict[str, str]:
    out = {str(k): str(v) for k, v in (get(r.props, "metadata.annotations") or {}).items()}
    path = _POD_TEMPLATE_META.get(r.resource_type)
    if path and path != "metadata":
        out.update({str(k): str(v) for k, v in (get(r.props, f"{path}.annotations") or {}).items()})
    return out


def own_annotations(r: PolicyResource) -> dict[str, str]:
    return {str(k): str(v) for k, v in (get(r.props, "metadata.annotations") or {}).items()}


def await_window(r: PolicyResource) -> float | None:
    """Seconds Pulumi waits for the resource; None when it does not wait."""
    own = own_annotations(r)
    if own.get(SKIP_AWAIT, "").lower() == "true":
        return None
    if own.get(TIMEOUT_ANNOTATION):
        try:
            return float(own[TIMEOUT_ANNOTATION])
        except ValueError:
            pass
    timeouts = getattr(r.opts, "custom_timeouts", None)
    create = getattr(timeouts, "create_seconds", 0) if timeouts else 0
    return float(create) if create else float(DEFAULT_AWAIT_SECONDS)


def model_gib(notes: dict[str, str]) -> float | None:
    try:
        if MODEL_MEMORY_ANNOTATION in notes:
            return float(notes[MODEL_MEMORY_ANNOTATION]) / gpus.SERVING_OVERHEAD
        if MODEL_PARAMS_ANNOTATION in notes:
            precision = notes.get(MODEL_PRECISION_ANNOTATION, "bf16")
            return float(notes[MODEL_PARAMS_ANNOTATION]) * 1e9 * gpus.BYTES_PER_PARAM.get(precision, 2.0) / 2**30
    except ValueError:
        return None
    return None


def expected_start(spec: Any, notes: dict[str, str], mib_per_second: float) -> tuple[float, str]:
    """(seconds, why) the workload expects to take before it is ready."""
    probe = 0.0
    for c in containers(spec, init=False):
        sp = get(c, "startupProbe")
        if sp:
            window = (number(sp, "initialDelaySeconds", 0) or 0) + \
                (number(sp, "failureThreshold", 3) or 3) * (number(sp, "periodSeconds", 10) or 10)
            probe = max(probe, window)
    weights = model_gib(notes)
    load = weights * 1024 / mib_per_second * 2 if weights else 0.0  # download, then read into GPU memory
    if probe >= load:
        return probe, f"its startup probe allows {probe / 60:.0f} min"
    return load, (f"its {weights:.0f} GiB of weights take about {load / 60:.0f} min to download and load at "
                  f"{mib_per_second:g} MiB/s")


@stack_rule(RuleMeta(
    name="deploy-await-covers-start",
    description="Give every awaited Kubernetes workload an await window that covers its expected start, or opt it "
                "out of the await.",
    severity="high", area="deploy", controls=DEPLOY_CONTROLS,
    config={"transferMiBps": {"type": "number", "default": 100, "exclusiveMinimum": 0,
                              "description": "Rate at which a pod downloads and loads model weights (MiB/s)."}},
    remediation="Annotate the object `pulumi.com/skipAwait: \"true\"` and surface readiness another way (alerts, "
                "a post-deploy check), or set `customTimeouts` / `pulumi.com/timeoutSeconds` above the expected "
                "start. pulumi-kubernetes (apps/v1 Deployment docstring): \"If the Deployment has not reached a "
                "Ready state after 10 minutes, it will time out and mark the resource update as Failed\"; a Service "
                "waits for ready endpoints the same way, so a Service in front of a slow workload needs the same.",
), AWAITED | {SERVICE, CRONJOB})
def await_covers_start(args: StackValidationArgs) -> Iterator[tuple[str, str | None]]:
    rate = float(args.get_config().get("transferMiBps") or 100)
    slow: list[tuple[str, dict[str, str], float, str]] = []  # namespace, pod labels, seconds, why

    def check(r: PolicyResource) -> Iterator[str]:
        spec = pod_spec(r.resource_type, r.props)
        if spec is None:
            return
        seconds, why = expected_start(spec, pod_annotations(r), rate)
        if r.resource_type != JOB or seconds > 0:
            labels = {str(k): str(v) for k, v in (get(r.props, "spec.template.metadata.labels") or {}).items()}
            slow.append((str(get(r.props, "metadata.namespace") or "default"), labels, seconds, why))
        window = await_window(r)
        if window is not None and seconds > window:
            yield (f"{subject(r.resource_type, r.name)} must opt out of the await or wait longer: Pulumi waits "
                   f"{window / 60:.0f} min, but {why}.")

    yield from guarded(args.resources, AWAITED, check)

    def check_service(r: PolicyResource) -> Iterator[str]:
        selector = {str(k): str(v) for k, v in (get(r.props, "spec.selector") or {}).items()}
        if not selector or get(r.props, "spec.type") == "ExternalName":
            return
        ns = str(get(r.props, "metadata.namespace") or "default")
        behind = [(s, w) for n, labels, s, w in slow if n == ns and all(labels.get(k) == v for k, v in selector.items())]
        if not behind:
            return
        seconds, why = max(behind)
        window = await_window(r)
        if window is not None and seconds > window:
            yield (f"{subject(r.resource_type, r.name)} must opt out of the await or wait longer: Pulumi waits "
                   f"{window / 60:.0f} min for its endpoints, but the pods behind it are slow ({why}).")

    yield from guarded(args.resources, frozenset({SERVICE}), check_service)


# --- Supply: images ----------------------------------------------------------------------------------------
ECR_REPO = "aws:ecr/repository:Repository"
ECR_CACHE_RULE = "aws:ecr/pullThroughCacheRule:PullThroughCacheRule"
ACR = "azure-native:containerregistry:Registry"
ACR_CACHE_RULE = "azure-native:containerregistry:CacheRule"
AR_REPO = "gcp:artifactregistry/repository:Repository"
_ECR_HOST = re.compile(r"^\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$")


def _repo_of(image: str) -> str:
    image = image.split("@", 1)[0]
    last = image.rsplit("/", 1)[-1]
    return image.rsplit(":", 1)[0] if ":" in last else image


def _ci_declared(tags: Any) -> bool:
    return isinstance(tags, Mapping) and str(tags.get(IMAGE_SUPPLY_TAG, "")).lower() == "ci"


class Registries:
    """The registries the stack creates and what fills them."""

    def __init__(self, resources: list[PolicyResource]) -> None:
        self.ecr_hosts: set[str] = set()
        self.ecr_ci: set[str] = set()  # repository names declared pushed by CI
        self.ecr_cached: list[str] = []  # pull-through cache prefixes
        self.acr: dict[str, str] = {}  # login server -> registry URN
        self.acr_ci: set[str] = set()
        self.acr_cached: list[tuple[str, str]] = []  # (registry URN, target repository pattern)
        self.ar: dict[str, tuple[bool, bool]] = {}  # path -> (remote?, declared CI)
        # A registry whose address is unknown (a new ACR's login server at the first preview): images pulled
        # from it are unknown too, so their check defers instead of passing.
        self.unknown = False
        for r in resources:
            try:
                self._add(r)
            except UnknownValueError:
                self.unknown = True

    @property
    def any(self) -> bool:
        return bool(self.ecr_hosts or self.acr or self.ar or self.unknown)

    def _add(self, r: PolicyResource) -> None:
        p = r.props
        if r.resource_type == ECR_REPO:
            # The URL is `<account>.dkr.ecr.<region>.amazonaws.com/<name>`: any ECR host in the stack's images
            # belongs to a stack that creates ECR repositories (the account is only known once created).
            self.ecr_hosts.add("ecr")
            name = get(p, "name")
            if isinstance(name, str) and _ci_declared(get(p, "tags")):
                self.ecr_ci.add(name)
        elif r.resource_type == ECR_CACHE_RULE:
            self.ecr_hosts.add("ecr")
            prefix = get(p, "ecrRepositoryPrefix")
            if isinstance(prefix, str):
                self.ecr_cached.append(prefix)
        elif r.resource_type == ACR:
            server = get(p, "loginServer")
            if isinstance(server, str):
                self.acr[server] = r.urn
                if _ci_declared(get(p, "tags")):
                    self.acr_ci.add(r.urn)
        elif r.resource_type == ACR_CACHE_RULE:
            target = get(p, "targetRepository")
            regs = [d.urn for d in r.property_dependencies.get("registryName", [])]
            if isinstance(target, str):
                self.acr_cached.extend((u, target) for u in regs or list(self.acr.values()))
        elif r.resource_type == AR_REPO:
            loc, proj, repo = get(p, "location"), get(p, "project"), get(p, "repositoryId")
            if loc and proj and repo:
                self.ar[f"{loc}-docker.pkg.dev/{proj}/{repo}"] = (
                    str(get(p, "mode") or "") == "REMOTE_REPOSITORY", _ci_declared(get(p, "labels")))

    def verdict(self, image: str) -> str | None:
        """None: not a registry of this stack; "ok": filled or declared; else what is missing."""
        repo = _repo_of(image)
        host, _, path = repo.partition("/")
        if _ECR_HOST.match(host) and self.ecr_hosts:
            # "Use `ROOT` as the prefix to apply a template to all repositories" (PullThroughCacheRule docstring).
            if path in self.ecr_ci or any(c == "ROOT" or path == c or path.startswith(c.rstrip("/") + "/")
                                          for c in self.ecr_cached):
                return "ok"
            return (f"no ECR pull-through cache rule covers `{path}` and its repository is not tagged "
                    f"`{IMAGE_SUPPLY_TAG}: ci`")
        if host in self.acr:
            urn = self.acr[host]
            if urn in self.acr_ci or any(u == urn and fnmatch.fnmatchcase(path, pat) for u, pat in self.acr_cached):
                return "ok"
            return f"no ACR cache rule targets `{path}` and the registry is not tagged `{IMAGE_SUPPLY_TAG}: ci`"
        for prefix, (remote, ci) in self.ar.items():
            if repo.startswith(prefix + "/"):
                if remote or ci:
                    return "ok"
                return (f"the Artifact Registry repository `{prefix}` is not a remote repository and is not "
                        f"labelled `{IMAGE_SUPPLY_TAG}: ci`")
        return None


@stack_rule(RuleMeta(
    name="deploy-image-supplied",
    description="Fill every image a pod pulls from a registry the stack creates, or declare it pushed by CI.",
    severity="critical", area="deploy", controls=DEPLOY_CONTROLS,
    remediation="Create a pull-through cache for the upstream (ECR `aws.ecr.PullThroughCacheRule` whose "
                "`ecr_repository_prefix` starts the image path; ACR `CacheRule` whose `targetRepository` matches; an "
                "Artifact Registry repository with `mode: REMOTE_REPOSITORY`), or declare that the team's CI pushes "
                f"the image: annotate the pod template `{IMAGE_SUPPLY_ANNOTATION}: ci`, or tag/label the repository "
                f"`{IMAGE_SUPPLY_TAG}: ci`. A registry the stack creates starts empty, so pods go to "
                "ImagePullBackOff and the Deployment await fails.",
), ())
def image_supplied(args: StackValidationArgs) -> Iterator[tuple[str, str | None]]:
    regs = Registries(list(args.resources))
    if not regs.any:
        return

    def check(r: PolicyResource) -> Iterator[str]:
        spec = pod_spec(r.resource_type, r.props)
        if spec is None or pod_annotations(r).get(IMAGE_SUPPLY_ANNOTATION, "").lower() == "ci":
            return
        seen: set[str] = set()
        for c in containers(spec):
            image = get(c, "image")
            if not isinstance(image, str) or image in seen:
                continue
            seen.add(image)
            verdict = regs.verdict(image)
            if verdict not in (None, "ok"):
                yield f"{subject(r.resource_type, r.name)} must pull `{image}` from a filled repository: {verdict}."

    yield from guarded(args.resources, frozenset(_POD_TEMPLATE_META), check)


# --- Supply: model weights -----------------------------------------------------------------------------------
S3_BUCKET = "aws:s3/bucket:Bucket"
S3_BUCKET_V2 = "aws:s3/bucketV2:BucketV2"
GCS_BUCKET = "gcp:storage/bucket:Bucket"
AZ_CONTAINER = "azure-native:storage:BlobContainer"
AZ_ACCOUNT = "azure-native:storage:StorageAccount"
_URL = re.compile(r"(s3://[a-z0-9.-]+/[^\s'\"]*|gs://[a-z0-9._-]+/[^\s'\"]*|https://[a-z0-9]+\.blob\.core\.windows\.net/"
                  r"[a-z0-9-]+/[^\s'\"?]*)")


def stack_buckets(resources: list[PolicyResource]) -> set[str]:
    """`s3://name/`, `gs://name/`, `https://account.blob.core.windows.net/container/` of the stack's buckets; a
    bucket whose name is unknown (a random suffix, at the first preview) is recorded as `?` so the check defers
    on the paths built from it rather than passing."""
    out: set[str] = set()
    accounts: dict[str, str] = {}
    for r in resources:
        try:
            if r.resource_type == AZ_ACCOUNT:
                name = get(r.props, "name") or get(r.props, "accountName")
                if isinstance(name, str):
                    accounts[r.urn] = name
        except UnknownValueError:
            out.add("?")
    for r in resources:
        try:
            if r.resource_type in (S3_BUCKET, S3_BUCKET_V2):
                name = get(r.props, "bucket")
                if isinstance(name, str):
                    out.add(f"s3://{name}/")
            elif r.resource_type == GCS_BUCKET:
                name = get(r.props, "name")
                if isinstance(name, str):
                    out.add(f"gs://{name}/")
            elif r.resource_type == AZ_CONTAINER:
                name = get(r.props, "name") or get(r.props, "containerName")
                for dep in r.property_dependencies.get("accountName", []):
                    if dep.urn in accounts and isinstance(name, str):
                        out.add(f"https://{accounts[dep.urn]}.blob.core.windows.net/{name}/")
        except UnknownValueError:
            out.add("?")
    return out


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for k in value:
            yield from _strings(value[k])
    elif isinstance(value, Sequence):
        for v in value:
            yield from _strings(v)


def paths_in(spec: Any, buckets: set[str]) -> set[str]:
    found: set[str] = set()
    for c in containers(spec):
        for text in _strings([get(c, "command"), get(c, "args"), get(c, "env")]):
            for url in _URL.findall(text):
                url = url.split("*", 1)[0]  # a copy tool's wildcard: the path is its directory
                if any(url.startswith(b) for b in buckets):
                    found.add(url.rstrip("/") + "/")
    return found


@stack_rule(RuleMeta(
    name="deploy-model-weights-supplied",
    description="Put the model weights a pod reads from a bucket the stack creates there within the stack, or "
                "declare them uploaded.",
    severity="critical", area="deploy", controls=DEPLOY_CONTROLS,
    remediation="Add an import Job that writes the model's path (aienv: the `model-import` workload, "
                "`model_endpoints[].model.source`), or declare that the team's pipeline uploads the weights: "
                f"annotate the pod template `{MODEL_SUPPLY_ANNOTATION}: uploaded` (aienv: `source: {{uploaded: "
                "true}`). A bucket the stack creates starts empty: the server starts on an empty model directory "
                "and crash-loops, and the await fails.",
), ())
def weights_supplied(args: StackValidationArgs) -> Iterator[tuple[str, str | None]]:
    resources = list(args.resources)
    buckets = stack_buckets(resources)
    if not buckets:
        return
    written: set[str] = set()
    writers_unknown = False  # a Job whose command is unknown may be the writer
    for r in resources:
        if r.resource_type in (JOB, CRONJOB):
            try:
                spec = pod_spec(r.resource_type, r.props)
                written |= paths_in(spec, buckets) if spec is not None else set()
            except UnknownValueError:
                writers_unknown = True

    def check(r: PolicyResource) -> Iterator[str]:
        if r.resource_type in (JOB, CRONJOB):
            return
        spec = pod_spec(r.resource_type, r.props)
        if spec is None or pod_annotations(r).get(MODEL_SUPPLY_ANNOTATION, "").lower() == "uploaded":
            return
        for path in sorted(paths_in(spec, buckets)):
            if not any(path.startswith(w) or w.startswith(path) for w in written):
                if writers_unknown:
                    raise Unknown("spec.template.spec.containers.command")
                yield (f"{subject(r.resource_type, r.name)} must read `{path}` only once the stack puts it there "
                       f"(an import Job writing that path) or declares it uploaded (`{MODEL_SUPPLY_ANNOTATION}: "
                       "uploaded`).")

    yield from guarded(resources, frozenset(_POD_TEMPLATE_META), check)


# --- Supply: the TLS Secret a Gateway listener terminates with ------------------------------------------------
GATEWAYS = frozenset({"kubernetes:gateway.networking.k8s.io/v1:Gateway",
                      "kubernetes:gateway.networking.k8s.io/v1beta1:Gateway"})
SECRET = "kubernetes:core/v1:Secret"
CERTIFICATE = "kubernetes:cert-manager.io/v1:Certificate"
# cert-manager's gateway-shim issues a Certificate for every certificateRef of an annotated Gateway
# (cert-manager docs, "Annotated Gateway resource").
CERT_MANAGER_GATEWAY_ANNOTATIONS = ("cert-manager.io/issuer", "cert-manager.io/cluster-issuer")


def _namespace(props: Any) -> str:
    return str(get(props, "metadata.namespace") or "default")


@stack_rule(RuleMeta(
    name="deploy-gateway-certificate",
    description="Create the TLS Secret a Gateway API listener terminates with, or know that it must exist before "
                "the first request.",
    severity="medium", area="deploy", enforcement="advisory", controls=DEPLOY_CONTROLS,
    remediation="Create the Secret the listener's `tls.certificateRefs` names (type `kubernetes.io/tls`, in the "
                "Gateway's namespace unless the ref names another one with a ReferenceGrant) before the first "
                "request: with cert-manager (a `Certificate` whose `secretName` is that name, or the Gateway "
                "annotation `cert-manager.io/issuer` / `cluster-issuer`) or `kubectl create secret tls`. Until it "
                "exists the Gateway API marks the listener `ResolvedRefs: False` (reason `InvalidCertificateRef`, "
                "\"at least one TLS CertificateRef that is invalid or does not exist\", gateway-api "
                "apis/v1/gateway_types.go) and does not program it: the endpoint refuses connections. aienv: the "
                "`aienv-internal-tls` / `aienv-public-tls` Secrets in `envoy-gateway-system` (docs/deploy.md).",
), ())
def gateway_certificate(args: StackValidationArgs) -> Iterator[tuple[str, str | None]]:
    resources = list(args.resources)
    if not any(r.resource_type in GATEWAYS for r in resources):
        return
    created: set[tuple[str, str]] = set()
    creators_unknown = False  # a Secret or Certificate whose name is unknown at preview may be the one
    for r in resources:
        try:
            if r.resource_type == SECRET:
                name = get(r.props, "metadata.name")
            elif r.resource_type == CERTIFICATE:
                name = get(r.props, "spec.secretName")
            else:
                continue
            if isinstance(name, str) and name:
                created.add((_namespace(r.props), name))
        except UnknownValueError:
            creators_unknown = True

    def check(r: PolicyResource) -> Iterator[str]:
        annotations = get(r.props, "metadata.annotations") or {}
        if any(a in annotations for a in CERT_MANAGER_GATEWAY_ANNOTATIONS):
            return
        namespace = _namespace(r.props)
        for listener in get(r.props, "spec.listeners") or []:
            if str(get(listener, "protocol")) not in ("HTTPS", "TLS") or \
                    str(get(listener, "tls.mode") or "Terminate") != "Terminate":
                continue
            for cert in get(listener, "tls.certificateRefs") or []:
                if str(get(cert, "kind") or "Secret") != "Secret" or str(get(cert, "group") or "") != "":
                    continue
                key = (str(get(cert, "namespace") or namespace), str(get(cert, "name")))
                if key in created:
                    continue
                if creators_unknown:
                    raise Unknown("metadata.name")
                secret = "/".join(key)
                yield (f"{subject(r.resource_type, r.name)} listener `{get(listener, 'name')}` needs a TLS Secret "
                       f"the stack does not create: create the Secret {secret} before the first request; the "
                       "listener is not programmed (ResolvedRefs False) until it exists.")

    yield from guarded(resources, GATEWAYS, check)


RULES = (await_covers_start, image_supplied, weights_supplied, gateway_certificate)
