"""Kubernetes rules (pulumi-kubernetes 4 type tokens; props are the object as applied: apiVersion, kind,
metadata, spec)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pulumi_policy import ResourceValidationArgs, StackValidationArgs

from aienv.conventions import ALLOW_PUBLIC_ANNOTATION, COMPONENT_LABEL, COMPONENT_SERVING
from policies import meta as m
from policies.meta import RuleMeta
from policies.rules._base import get, guarded, items, number, resource_rule, stack_rule, subject

POD = "kubernetes:core/v1:Pod"
SERVICE = "kubernetes:core/v1:Service"
NAMESPACE = "kubernetes:core/v1:Namespace"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
STATEFULSET = "kubernetes:apps/v1:StatefulSet"
DAEMONSET = "kubernetes:apps/v1:DaemonSet"
REPLICASET = "kubernetes:apps/v1:ReplicaSet"
JOB = "kubernetes:batch/v1:Job"
CRONJOB = "kubernetes:batch/v1:CronJob"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
PDB = "kubernetes:policy/v1:PodDisruptionBudget"

# Where each workload kind keeps its pod spec.
POD_SPEC_PATHS: dict[str, str] = {
    POD: "spec",
    DEPLOYMENT: "spec.template.spec",
    STATEFULSET: "spec.template.spec",
    DAEMONSET: "spec.template.spec",
    REPLICASET: "spec.template.spec",
    JOB: "spec.template.spec",
    CRONJOB: "spec.jobTemplate.spec.template.spec",
}
WORKLOADS = frozenset(POD_SPEC_PATHS)

# Annotation that explicitly allows a public load balancer (built from the shared label prefix).
PUBLIC_ANNOTATION = ALLOW_PUBLIC_ANNOTATION
INTERNAL_LB_ANNOTATIONS: dict[str, tuple[str, ...]] = {
    "service.beta.kubernetes.io/aws-load-balancer-scheme": ("internal",),
    "service.beta.kubernetes.io/aws-load-balancer-internal": ("true", "0.0.0.0/0"),
    "service.beta.kubernetes.io/azure-load-balancer-internal": ("true",),
    "networking.gke.io/load-balancer-type": ("Internal",),
    "cloud.google.com/load-balancer-type": ("Internal",),
}


def pod_spec(resource_type: str, props: Any) -> Any:
    path = POD_SPEC_PATHS.get(resource_type)
    return get(props, path) if path else None


def pod_labels(resource_type: str, props: Any) -> dict[str, str]:
    if resource_type == POD:
        return dict(get(props, "metadata.labels") or {})
    path = POD_SPEC_PATHS[resource_type].rsplit(".spec", 1)[0] + ".metadata.labels"
    return dict(get(props, path) or {})


def containers(spec: Any, *, init: bool = True) -> list[Any]:
    out = items(spec, "containers")
    if init:
        out += items(spec, "initContainers")
    return out


def namespace_of(props: Any) -> str:
    return str(get(props, "metadata.namespace") or "default")


def is_public_service(props: Any) -> bool:
    if get(props, "spec.type") != "LoadBalancer":
        return False
    annotations = get(props, "metadata.annotations") or {}
    return all(str(annotations.get(key, "")) not in values for key, values in INTERNAL_LB_ANNOTATIONS.items())


def public_allowed(props: Any) -> bool:
    annotations = get(props, "metadata.annotations") or {}
    return str(annotations.get(PUBLIC_ANNOTATION, "")).lower() == "true"


def _s(args: ResourceValidationArgs) -> str:
    return subject(args.resource_type, args.name)


def _per_container(args: ResourceValidationArgs, test: Any, text: str) -> Iterator[str]:
    spec = pod_spec(args.resource_type, args.props)
    if spec is None:
        return
    for c in containers(spec):
        if not test(spec, c):
            yield f"{_s(args)} must {text} in container `{get(c, 'name')}`."


def _pod_or_container(spec: Any, c: Any, path: str) -> Any:
    value = get(c, f"securityContext.{path}")
    return get(spec, f"securityContext.{path}") if value is None else value


_HARDENING = dict(severity="high", area="kubernetes", controls=m.WORKLOAD_HARDENING)


@resource_rule(RuleMeta(
    name="k8s-no-privileged",
    description="Do not run privileged containers.",
    checks=("CKV_K8S_16",), remediation="Remove securityContext.privileged (or set it false).",
    **_HARDENING,  # type: ignore[arg-type]
), WORKLOADS)
def no_privileged(args: ResourceValidationArgs) -> Iterator[str]:
    yield from _per_container(args, lambda s, c: get(c, "securityContext.privileged") is not True,
                              "not run privileged")


@resource_rule(RuleMeta(
    name="k8s-run-as-non-root",
    description="Run containers as a non-root user.",
    checks=("CKV_K8S_23", "CKV_K8S_40"), remediation="Set securityContext.runAsNonRoot true (pod or container) "
                                                     "and a non-zero runAsUser.",
    **_HARDENING,  # type: ignore[arg-type]
), WORKLOADS)
def non_root(args: ResourceValidationArgs) -> Iterator[str]:
    def ok(spec: Any, c: Any) -> bool:
        user = _pod_or_container(spec, c, "runAsUser")
        if user is not None and float(user) == 0:
            return False
        return _pod_or_container(spec, c, "runAsNonRoot") is True or (user is not None and float(user) > 0)

    yield from _per_container(args, ok, "run as a non-root user (`runAsNonRoot: true`)")


@resource_rule(RuleMeta(
    name="k8s-no-privilege-escalation",
    description="Forbid privilege escalation in containers.",
    checks=("CKV_K8S_20",), remediation="Set securityContext.allowPrivilegeEscalation false on every container.",
    **_HARDENING,  # type: ignore[arg-type]
), WORKLOADS)
def no_escalation(args: ResourceValidationArgs) -> Iterator[str]:
    yield from _per_container(args, lambda s, c: get(c, "securityContext.allowPrivilegeEscalation") is False,
                              "forbid privilege escalation (`allowPrivilegeEscalation: false`)")


@resource_rule(RuleMeta(
    name="k8s-read-only-root-fs",
    description="Mount container root filesystems read-only.",
    severity="medium", area="kubernetes", controls=m.WORKLOAD_HARDENING, checks=("CKV_K8S_22",),
    remediation="Set securityContext.readOnlyRootFilesystem true; mount an emptyDir for scratch paths.",
), WORKLOADS)
def read_only_fs(args: ResourceValidationArgs) -> Iterator[str]:
    yield from _per_container(args, lambda s, c: get(c, "securityContext.readOnlyRootFilesystem") is True,
                              "mount its root filesystem read-only")


@resource_rule(RuleMeta(
    name="k8s-drop-all-capabilities",
    description="Drop all Linux capabilities from containers.",
    severity="medium", area="kubernetes", controls=m.WORKLOAD_HARDENING, checks=("CKV_K8S_28", "CKV_K8S_37"),
    remediation="Set securityContext.capabilities.drop [\"ALL\"] and add back only what is needed.",
), WORKLOADS)
def drop_all(args: ResourceValidationArgs) -> Iterator[str]:
    yield from _per_container(args, lambda s, c: "ALL" in items(c, "securityContext.capabilities.drop"),
                              "drop ALL capabilities")


@resource_rule(RuleMeta(
    name="k8s-seccomp-runtime-default",
    description="Run pods with the RuntimeDefault (or a Localhost) seccomp profile.",
    severity="medium", area="kubernetes", controls=m.WORKLOAD_HARDENING, checks=("CKV_K8S_31",),
    remediation="Set securityContext.seccompProfile.type `RuntimeDefault` on the pod.",
), WORKLOADS)
def seccomp(args: ResourceValidationArgs) -> Iterator[str]:
    yield from _per_container(
        args, lambda s, c: _pod_or_container(s, c, "seccompProfile.type") in ("RuntimeDefault", "Localhost"),
        "use the RuntimeDefault seccomp profile")


@resource_rule(RuleMeta(
    name="k8s-no-host-namespaces",
    description="Do not share the host's PID, IPC or network namespace.",
    severity="high", area="kubernetes", controls=m.WORKLOAD_HARDENING, checks=("CKV_K8S_17", "CKV_K8S_18", "CKV_K8S_19"),
    remediation="Remove hostPID, hostIPC and hostNetwork from the pod spec.",
), WORKLOADS)
def host_namespaces(args: ResourceValidationArgs) -> Iterator[str]:
    spec = pod_spec(args.resource_type, args.props)
    for key in ("hostPID", "hostIPC", "hostNetwork"):
        if spec is not None and get(spec, key) is True:
            yield f"{_s(args)} must not use `{key}`."


@resource_rule(RuleMeta(
    name="k8s-resource-limits",
    description="Set CPU and memory requests and a memory limit on every container.",
    severity="medium", area="kubernetes", controls=m.CAPACITY, checks=("CKV_K8S_10", "CKV_K8S_11", "CKV_K8S_12", "CKV_K8S_13"),
    remediation="Set resources.requests.cpu, resources.requests.memory and resources.limits.memory.",
), WORKLOADS)
def resource_limits(args: ResourceValidationArgs) -> Iterator[str]:
    spec = pod_spec(args.resource_type, args.props)
    if spec is None:
        return
    for c in containers(spec, init=False):
        missing = [p for p in ("requests.cpu", "requests.memory", "limits.memory") if get(c, f"resources.{p}") is None]
        if missing:
            yield f"{_s(args)} must set {', '.join(missing)} in container `{get(c, 'name')}`."


@resource_rule(RuleMeta(
    name="k8s-no-default-service-account",
    description="Run workloads under a dedicated service account, not `default`.",
    severity="medium", area="kubernetes", controls=m.ACCESS_CONTROL, checks=("CKV_K8S_41",),
    remediation="Set serviceAccountName to a dedicated account (or automountServiceAccountToken false).",
), WORKLOADS)
def no_default_sa(args: ResourceValidationArgs) -> Iterator[str]:
    spec = pod_spec(args.resource_type, args.props)
    if spec is None or get(spec, "automountServiceAccountToken") is False:
        return
    if get(spec, "serviceAccountName") in (None, "", "default"):
        yield f"{_s(args)} must run under a dedicated service account (`serviceAccountName`)."


@resource_rule(RuleMeta(
    name="k8s-no-public-load-balancer",
    description="Do not expose Services through a public load balancer without an explicit allow annotation.",
    severity="high", area="kubernetes", controls=m.NETWORK_EXPOSURE, checks=("PCR kubernetes-no-public-lb",),
    remediation=f"Make the load balancer internal (cloud annotation), expose it through the gateway, or annotate "
                f"the Service `{PUBLIC_ANNOTATION}: \"true\"` when public exposure is intended.",
), [SERVICE])
def no_public_lb(args: ResourceValidationArgs) -> Iterator[str]:
    if is_public_service(args.props) and not public_allowed(args.props):
        yield f"{_s(args)} must not be a public load balancer without `{PUBLIC_ANNOTATION}: \"true\"`."


def _is_default_deny(props: Any) -> bool:
    selector = get(props, "spec.podSelector") or {}
    if get(selector, "matchLabels") or get(selector, "matchExpressions"):
        return False
    types = items(props, "spec.policyTypes")
    return "Ingress" in types and not items(props, "spec.ingress")


@stack_rule(RuleMeta(
    name="k8s-default-deny-network-policy",
    description="Give every namespace that runs workloads a default-deny ingress NetworkPolicy.",
    severity="medium", area="kubernetes", controls=m.NETWORK_EXPOSURE, checks=("CKV_K8S_6",),
    remediation="Add a NetworkPolicy with an empty podSelector, policyTypes [Ingress] and no ingress rules to "
                "the namespace, then allow the flows each workload needs.",
), WORKLOADS | {NETWORK_POLICY})
def default_deny(args: StackValidationArgs) -> Iterator[tuple[str, str | None]]:
    denied: set[str] = set()
    for r in args.resources:
        if r.resource_type == NETWORK_POLICY:
            try:
                if _is_default_deny(r.props):
                    denied.add(namespace_of(r.props))
            except Exception:  # an unknown namespace cannot prove coverage
                continue
    reported: set[str] = set()

    def check(r: Any) -> Iterator[str]:
        ns = namespace_of(r.props)
        if ns not in denied and ns not in reported:
            reported.add(ns)
            yield f"The namespace `{ns}` (used by {subject(r.resource_type, r.name)[4:]}) must have a default-deny ingress NetworkPolicy."

    yield from guarded(args.resources, WORKLOADS, check)


def _selects(selector: Any, labels: dict[str, str]) -> bool:
    match = dict(get(selector, "matchLabels") or {})
    if not match and not items(selector, "matchExpressions"):
        return False
    return all(labels.get(k) == v for k, v in match.items())


@stack_rule(RuleMeta(
    name="k8s-serving-pdb",
    description="Protect replicated serving Deployments with a PodDisruptionBudget.",
    severity="medium", area="kubernetes", controls=m.AVAILABILITY,
    remediation="Add a policy/v1 PodDisruptionBudget in the same namespace whose selector matches the "
                "Deployment's pod labels (minAvailable or maxUnavailable).",
), [DEPLOYMENT, PDB])
def serving_pdb(args: StackValidationArgs) -> Iterator[tuple[str, str | None]]:
    pdbs = [r for r in args.resources if r.resource_type == PDB]

    def check(r: Any) -> Iterator[str]:
        labels = dict(get(r.props, "metadata.labels") or {})
        if labels.get(COMPONENT_LABEL) != COMPONENT_SERVING:
            return
        replicas = number(r.props, "spec.replicas")
        if replicas is not None and replicas < 2:
            return  # a single replica cannot keep a disruption budget; HPA-managed (unset) counts as replicated
        ns = namespace_of(r.props)
        plabels = pod_labels(r.resource_type, r.props)
        for p in pdbs:
            if namespace_of(p.props) == ns and _selects(get(p.props, "spec.selector") or {}, plabels):
                return
        yield f"{subject(r.resource_type, r.name)} must have a PodDisruptionBudget selecting its pods."

    yield from guarded(args.resources, frozenset({DEPLOYMENT}), check)


@resource_rule(RuleMeta(
    name="k8s-image-pinned",
    description="Pin container images by digest or an explicit version tag, never `latest`.",
    severity="medium", area="kubernetes", controls=m.SUPPLY_CHAIN, checks=("CKV_K8S_14", "CKV_K8S_43"),
    remediation="Reference images as `registry/name@sha256:...` or `registry/name:<version>`.",
), WORKLOADS)
def image_pinned(args: ResourceValidationArgs) -> Iterator[str]:
    spec = pod_spec(args.resource_type, args.props)
    if spec is None:
        return
    for c in containers(spec):
        image = str(get(c, "image") or "")
        if "@sha256:" in image:
            continue
        last = image.rsplit("/", 1)[-1]
        tag = last.split(":", 1)[1] if ":" in last else None
        if tag in (None, "", "latest"):
            yield f"{_s(args)} must pin the image of container `{get(c, 'name')}` (`{image}`) by digest or version tag."

ENVOY_PROXY = "kubernetes:gateway.envoyproxy.io/v1alpha1:EnvoyProxy"


@resource_rule(RuleMeta(
    name="k8s-gateway-proxy-not-public",
    description="Do not put a gateway's proxy on a public load balancer without an explicit allow.",
    severity="high", area="kubernetes", controls=m.NETWORK_EXPOSURE,
    remediation=f"Give the proxy's `envoyService` an internal load-balancer annotation, or annotate the EnvoyProxy "
                f"`{PUBLIC_ANNOTATION}: \"true\"` when the gateway is meant to be public (endpoints behind it still "
                "need authentication).",
), [ENVOY_PROXY])
def envoy_proxy_not_public(args: ResourceValidationArgs) -> Iterator[str]:
    service = get(args.props, "spec.provider.kubernetes.envoyService") or {}
    as_service = {"spec": {"type": get(service, "type", "LoadBalancer")},
                  "metadata": {"annotations": get(service, "annotations") or {}}}
    if is_public_service(as_service) and not public_allowed(args.props):
        yield f"{_s(args)} must not expose the gateway on a public load balancer without `{PUBLIC_ANNOTATION}: \"true\"`."


RULES = (
    no_privileged, non_root, no_escalation, read_only_fs, drop_all, seccomp, host_namespaces, resource_limits,
    no_default_sa, no_public_lb, default_deny, serving_pdb, image_pinned, envoy_proxy_not_public,
)
