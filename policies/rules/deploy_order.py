"""Deployability, class 5 (order): resources wait for what they need.

Pulumi creates resources in parallel unless one depends on another (through an input that is another's
output, or `depends_on`); a resource that needs something the same stack creates must therefore depend on
it, directly or through a chain. The dependency graph is read from the plan (`dependencies`,
`propertyDependencies`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from pulumi_policy import PolicyResource, StackValidationArgs

from policies.meta import RuleMeta
from policies.rules._base import get, guarded, stack_rule, subject
from policies.rules.deploy_fit import AKS, AKS_POOL, DEPLOY_CONTROLS, HELM_RELEASE

GCP_SERVICE = "gcp:projects/service:Service"
CRD = "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition"


def _short(urn: str) -> str:
    return urn.rsplit("::", 1)[-1]


class Graph:
    """Transitive dependencies of the stack's resources."""

    def __init__(self, resources: Iterable[PolicyResource]) -> None:
        self.direct: dict[str, set[str]] = {}
        for r in resources:
            deps = {d.urn for d in r.dependencies}
            for urns in r.property_dependencies.values():
                deps |= {d.urn for d in urns}
            self.direct[r.urn] = deps
        self._closure: dict[str, frozenset[str]] = {}

    def ancestors(self, urn: str) -> frozenset[str]:
        if urn in self._closure:
            return self._closure[urn]
        seen: set[str] = set()
        stack = list(self.direct.get(urn, ()))
        while stack:
            u = stack.pop()
            if u in seen:
                continue
            seen.add(u)
            if u in self._closure:
                seen |= self._closure[u]
                continue
            stack.extend(self.direct.get(u, ()))
        self._closure[urn] = frozenset(seen)
        return self._closure[urn]

    def waits_for(self, urn: str, other: str) -> bool:
        return other in self.ancestors(urn)


# --- GCP: a service API enabled in the same stack ------------------------------------------------------
# Resource-type module -> the API it calls ("Enable an API": a call to a disabled API fails with
# SERVICE_DISABLED / "API has not been used in project ... or it is disabled").
GCP_APIS: dict[str, str] = {
    "container": "container.googleapis.com", "compute": "compute.googleapis.com",
    "storage": "storage.googleapis.com", "kms": "cloudkms.googleapis.com",
    "artifactregistry": "artifactregistry.googleapis.com", "redis": "redis.googleapis.com",
    "vertex": "aiplatform.googleapis.com", "bigquery": "bigquery.googleapis.com",
    "billing": "billingbudgets.googleapis.com", "monitoring": "monitoring.googleapis.com",
    "logging": "logging.googleapis.com", "serviceaccount": "iam.googleapis.com",
    "secretmanager": "secretmanager.googleapis.com", "dns": "dns.googleapis.com",
    "sql": "sqladmin.googleapis.com", "pubsub": "pubsub.googleapis.com",
    "servicedirectory": "servicedirectory.googleapis.com", "cloudrun": "run.googleapis.com",
    "cloudfunctions": "cloudfunctions.googleapis.com",
}
# Private Service Connect endpoints for Google APIs: "You must enable the Service Directory API in your
# project. You must enable the Cloud DNS API in your project." (cloud.google.com/vpc/docs/
# configure-private-service-connect-apis, Before you begin).
PSC_APIS = ("servicedirectory.googleapis.com", "dns.googleapis.com")


def gcp_api(resource_type: str) -> str | None:
    if not resource_type.startswith("gcp:"):
        return None
    module = resource_type.split(":")[1].split("/")[0]
    return GCP_APIS.get(module)


@stack_rule(RuleMeta(
    name="deploy-gcp-api-enabled-first",
    description="Make every GCP resource wait for the service API the same stack enables for it.",
    severity="high", area="deploy", controls=DEPLOY_CONTROLS,
    remediation="Add `depends_on` on the `gcp.projects.Service` that enables the resource's API (or pass it through "
                "a component's `after`). Without it Pulumi calls the API in parallel with enabling it, and the "
                "call fails with SERVICE_DISABLED (\"API has not been used in project ... before or it is "
                "disabled\"). A Private Service Connect endpoint for Google APIs also needs the Service Directory "
                "and Cloud DNS APIs (cloud.google.com/vpc/docs/configure-private-service-connect-apis).",
), ())
def gcp_api_first(args: StackValidationArgs) -> Iterator[tuple[str, str | None]]:
    services: dict[str, str] = {}
    for r in args.resources:
        if r.resource_type == GCP_SERVICE:
            name = get(r.props, "service")
            if isinstance(name, str):
                services[name] = r.urn
    if not services:
        return  # the stack does not manage its project's APIs
    graph = Graph(args.resources)

    def check(r: PolicyResource) -> Iterator[str]:
        who = subject(r.resource_type, r.name)
        api = gcp_api(r.resource_type)
        if api in services and not graph.waits_for(r.urn, services[api]):
            yield f"{who} must depend on the `{api}` enablement this stack creates."
        if r.resource_type == "gcp:compute/globalForwardingRule:GlobalForwardingRule" and \
                str(get(r.props, "target") or "") in ("all-apis", "vpc-sc"):
            for needed in PSC_APIS:
                if needed not in services:
                    yield f"{who} must have `{needed}` enabled by the stack (Private Service Connect needs it)."
                elif not graph.waits_for(r.urn, services[needed]):
                    yield f"{who} must depend on the `{needed}` enablement this stack creates."

    yield from guarded([r for r in args.resources if r.resource_type != GCP_SERVICE and gcp_api(r.resource_type)],
                       None, check)


# --- Keys: the grant before the resource it encrypts ---------------------------------------------------------
KEY_TYPES = frozenset({"gcp:kms/cryptoKey:CryptoKey", "azure-native:keyvault:Key", "aws:kms/key:Key"})
GRANT_TYPES = frozenset({"gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember",
                         "gcp:kms/cryptoKeyIAMBinding:CryptoKeyIAMBinding",
                         "azure-native:authorization:RoleAssignment", "aws:kms/grant:Grant"})
GRANT_TARGET_PROPS = ("cryptoKeyId", "scope", "keyId")


@stack_rule(RuleMeta(
    name="deploy-key-grant-before-use",
    description="Make a resource encrypted with a key of the stack wait for the stack's grants on that key.",
    severity="high", area="deploy", controls=DEPLOY_CONTROLS,
    remediation="Add `depends_on` on the key's IAM member / role assignment. The service validates key access "
                "when it creates the resource: Cloud KMS CMEK \"the service agent must have the Cloud KMS "
                "CryptoKey Encrypter/Decrypter role\" before creation (cloud.google.com/kms/docs/cmek), Azure "
                "\"the managed identity must have permissions to access the key\" before the CMK is configured "
                "(learn.microsoft.com/azure/storage/common/customer-managed-keys-configure-new-account).",
), ())
def key_grant_first(args: StackValidationArgs) -> Iterator[tuple[str, str | None]]:
    keys = {r.urn for r in args.resources if r.resource_type in KEY_TYPES}
    if not keys:
        return
    grants: dict[str, list[str]] = {}
    for r in args.resources:
        # A grant without its grantee in the plan (an Azure principalId the mock could not invent) cannot be
        # placed in the order; it is left out rather than guessed.
        if r.resource_type in GRANT_TYPES and (r.resource_type != "azure-native:authorization:RoleAssignment"
                                               or "principalId" in r.props):
            for prop in GRANT_TARGET_PROPS:
                for dep in r.property_dependencies.get(prop, []):
                    if dep.urn in keys:
                        grants.setdefault(dep.urn, []).append(r.urn)
    if not grants:
        return
    graph = Graph(args.resources)

    def check(r: PolicyResource) -> Iterator[str]:
        used = {d.urn for urns in r.property_dependencies.values() for d in urns if d.urn in grants}
        for key in sorted(used):
            if any(graph.waits_for(g, r.urn) for g in grants[key]):
                continue  # the grant is to this resource's own identity, so it comes after it
            if not any(graph.waits_for(r.urn, g) for g in grants[key]):
                yield (f"{subject(r.resource_type, r.name)} must depend on a grant on the key "
                       f"`{_short(key)}` it is encrypted with.")

    skip = KEY_TYPES | GRANT_TYPES | {"aws:kms/alias:Alias", "gcp:kms/keyRing:KeyRing"}
    yield from guarded([r for r in args.resources if r.resource_type not in skip and r.urn not in keys],
                       None, check)


# --- Kubernetes: a CRD before its custom resources -------------------------------------------------------------
BUILTIN_GROUPS = frozenset({
    "core", "apps", "batch", "autoscaling", "policy", "networking.k8s.io", "rbac.authorization.k8s.io",
    "storage.k8s.io", "admissionregistration.k8s.io", "apiextensions.k8s.io", "scheduling.k8s.io",
    "coordination.k8s.io", "discovery.k8s.io", "node.k8s.io", "certificates.k8s.io",
    "flowcontrol.apiserver.k8s.io", "events.k8s.io", "resource.k8s.io", "apiregistration.k8s.io",
    "authentication.k8s.io", "authorization.k8s.io", "helm.sh", "yaml", "kustomize",
})
# API groups whose CRDs a chart installs (each chart's `crds/` or templates at the versions aienv pins).
CHART_CRDS: dict[str, tuple[str, ...]] = {
    "kube-prometheus-stack": ("monitoring.coreos.com",),
    "gateway-helm": ("gateway.networking.k8s.io", "gateway.envoyproxy.io"),
    "cert-manager": ("cert-manager.io", "acme.cert-manager.io"),
    "gpu-operator": ("nvidia.com",),
    "karpenter": ("karpenter.sh", "karpenter.k8s.aws"),
    "istio-base": ("networking.istio.io", "security.istio.io"),
    "keda": ("keda.sh",),
    "kuberay-operator": ("ray.io",),
    "kserve": ("serving.kserve.io",),
}


def k8s_group(resource_type: str) -> str | None:
    if not resource_type.startswith("kubernetes:"):
        return None
    group = resource_type.split(":")[1].rsplit("/", 1)[0]
    return None if group in BUILTIN_GROUPS or "/" in group else group


@stack_rule(RuleMeta(
    name="deploy-crd-before-custom-resource",
    description="Make every custom resource wait for what installs its CRD in the same stack.",
    severity="high", area="deploy", controls=DEPLOY_CONTROLS,
    remediation="Add `depends_on` on the Helm release (or CustomResourceDefinition) that installs the CRD. Until it "
                "exists the API server answers \"no matches for kind ... in version ...\" and the create fails "
                "(pulumi-kubernetes: \"resource type ... not found\").",
), ())
def crd_first(args: StackValidationArgs) -> Iterator[tuple[str, str | None]]:
    installers: dict[str, list[str]] = {}
    for r in args.resources:
        try:
            if r.resource_type == HELM_RELEASE:
                chart = str(get(r.props, "chart") or "").rstrip("/").rsplit("/", 1)[-1]
                for group in CHART_CRDS.get(chart, ()):
                    installers.setdefault(group, []).append(r.urn)
            elif r.resource_type == CRD:
                group = get(r.props, "spec.group")
                if isinstance(group, str):
                    installers.setdefault(group, []).append(r.urn)
        except Exception:  # noqa: BLE001 - an unknown installer cannot be matched; its CRs are judged by others
            continue
    if not installers:
        return
    graph = Graph(args.resources)

    def check(r: PolicyResource) -> Iterator[str]:
        group = k8s_group(r.resource_type)
        if group and group in installers and not any(graph.waits_for(r.urn, i) for i in installers[group]):
            names = ", ".join(f"`{_short(u)}`" for u in installers[group])
            yield f"{subject(r.resource_type, r.name)} must depend on {names}, which installs the `{group}` CRDs."

    yield from guarded([r for r in args.resources if k8s_group(r.resource_type)], None, check)


# --- AKS: agent pools of one cluster one after another ------------------------------------------------------
@stack_rule(RuleMeta(
    name="deploy-aks-agent-pools-serial",
    description="Create the agent pools of one AKS cluster one after another.",
    severity="high", area="deploy", controls=DEPLOY_CONTROLS,
    remediation="Chain the pools with `depends_on` (each on the previous one). AKS refuses concurrent agent-pool "
                "operations: \"(OperationNotAllowed) Operation is not allowed: Another agentpool operation ... is "
                "in progress, please wait for it to finish before starting a new operation\" (409; "
                "Azure/AKS#1913, Azure/terraform-azurerm-avm-ptn-aks-production#25).",
), [AKS_POOL, AKS])
def aks_pools_serial(args: StackValidationArgs) -> Iterator[tuple[str, str | None]]:
    by_cluster: dict[str, list[PolicyResource]] = {}
    for r in args.resources:
        if r.resource_type != AKS_POOL:
            continue
        clusters = [d.urn for d in r.property_dependencies.get("resourceName", []) if d.resource_type == AKS]
        try:
            key = clusters[0] if clusters else f"{get(r.props, 'resourceGroupName')}/{get(r.props, 'resourceName')}"
        except Exception:  # noqa: BLE001
            continue
        by_cluster.setdefault(key, []).append(r)
    graph = Graph(args.resources)
    for pools in by_cluster.values():
        for i, a in enumerate(pools):
            for b in pools[i + 1:]:
                if not graph.waits_for(a.urn, b.urn) and not graph.waits_for(b.urn, a.urn):
                    yield (f"{subject(a.resource_type, a.name)} must be created after or before `{b.name}` of the "
                           f"same cluster, not at the same time."), a.urn


# --- Identity: a workload waits for its cloud role's permissions ------------------------------------------------
SA = "kubernetes:core/v1:ServiceAccount"
IDENTITY_ANNOTATIONS = ("eks.amazonaws.com/role-arn", "iam.gke.io/gcp-service-account",
                        "azure.workload.identity/client-id")
# Grants on an identity: the property that names it.
IDENTITY_GRANTS: dict[str, tuple[str, ...]] = {
    "aws:iam/rolePolicy:RolePolicy": ("role",),
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": ("role",),
    "azure-native:authorization:RoleAssignment": ("principalId",),
    "gcp:storage/bucketIAMMember:BucketIAMMember": ("member",),
    "gcp:projects/iAMMember:IAMMember": ("member",),
    "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember": ("member",),
    "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember": ("member",),
    "gcp:serviceaccount/iAMMember:IAMMember": ("member",),
}


@stack_rule(RuleMeta(
    name="deploy-identity-grants-before-workload",
    description="Make a workload wait for the permissions of the cloud identity its service account uses.",
    severity="medium", area="deploy", enforcement="advisory", controls=DEPLOY_CONTROLS,
    remediation="Add `depends_on` on the identity's policies / role assignments (not only on the identity). IAM is "
                "eventually consistent: \"changes that you make ... can take time to become visible\" (AWS IAM "
                "\"Troubleshoot IAM\"; Azure \"role assignments can take up to 10 minutes to take effect\"; GCP "
                "\"IAM policy changes typically take 2 minutes\"), and a pod started before them gets AccessDenied.",
), ())
def identity_first(args: StackValidationArgs) -> Iterator[tuple[str, str | None]]:
    grants: dict[str, list[str]] = {}
    for r in args.resources:
        for prop in IDENTITY_GRANTS.get(r.resource_type, ()):
            for dep in r.property_dependencies.get(prop, []):
                grants.setdefault(dep.urn, []).append(r.urn)
    if not grants:
        return
    accounts: dict[tuple[str, str], set[str]] = {}
    for r in args.resources:
        if r.resource_type != SA:
            continue
        ids = {d.urn for d in r.property_dependencies.get("metadata", []) if d.urn in grants}
        try:
            name, ns = get(r.props, "metadata.name"), get(r.props, "metadata.namespace") or "default"
        except Exception:  # noqa: BLE001
            continue
        if ids and isinstance(name, str):
            accounts[(str(ns), name)] = ids
    if not accounts:
        return
    graph = Graph(args.resources)
    from policies.rules.deploy_fit import SCHEDULED
    from policies.rules.kubernetes import pod_spec

    def check(r: PolicyResource) -> Iterator[str]:
        spec = pod_spec(r.resource_type, r.props)
        if spec is None:
            return
        key = (str(get(r.props, "metadata.namespace") or "default"), str(get(spec, "serviceAccountName") or ""))
        for identity in sorted(accounts.get(key, ())):
            missing = [_short(g) for g in grants[identity] if not graph.waits_for(r.urn, g)]
            if missing:
                yield (f"{subject(r.resource_type, r.name)} must depend on the permissions of "
                       f"`{_short(identity)}` ({', '.join(missing)}).")

    yield from guarded(args.resources, SCHEDULED, check)


RULES = (gcp_api_first, key_grant_first, crd_first, aks_pools_serial, identity_first)
