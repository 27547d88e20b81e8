"""The small framework the rule modules share: a `Rule` (metadata + check), prop helpers that fail
closed on unknown values, and the Pulumi `Policy` objects built from rules.

A resource check is `check(args) -> Iterable[str]` (one imperative message per violation); a stack
check is `check(args) -> Iterable[tuple[str, str | None]]` (message, URN). Both read props exactly as
the analyzer hands them (camelCase wire names, unknown values behind `pulumi_policy`'s proxy).

Unknown values (a new stack's first `pulumi preview`: every provider-computed output, and every input
built from one, is unknown): a check that needs a value it cannot see *defers* — it lets the
`UnknownValueError` escape. The CrossGuard analyzer reports that as an advisory "can't run policy during
preview" and runs the same resource policy again during `pulumi up`, on the resolved inputs, right before
the resource is created, where a mandatory violation stops the update; `aienv check` lists the deferral
(policy, resource, the unknown property and what it waits for) and gates the known view as well, so no
check passes silently. A value that is merely a reference to a resource of the right kind in the same stack
(a KMS key, a Log Analytics workspace...) is not unknown to the gate: `ref()` resolves it through the
property dependencies the offline runner hands the policies. Stack checks guard each resource separately:
one unknown defers that resource's check, not the others' (`guarded`).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyComplianceFramework,
    PolicyConfigSchema,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError

from policies.meta import FRAMEWORKS, RuleMeta
from policies.rules.tokens import canonical, with_previous

ResourceCheck = Callable[[ResourceValidationArgs], Iterable[str]]
StackCheck = Callable[[StackValidationArgs], Iterable[tuple[str, str | None]]]

UNKNOWN_SENTINELS = frozenset({
    "1c4a061d-8072-4f0a-a4cb-0ff528b18fe7", "3eeb2bf0-c639-47a8-9e75-3b44932eb421",
    "04da6b54-80e4-46f7-96ec-b56ff0331ba9", "6a19a0b0-7e62-4c92-b797-7f8e31da9cc2",
    "030794c1-ac77-496b-92df-f27374a8bd58", "e48ece36-62e2-4504-bad9-02848725956a",
    "dd056dcd-154b-4c76-9bd3-c8f88648b5ff",
})


class Unknown(UnknownValueError):
    """Raised by helpers for a value that is unknown at preview (same handling as the SDK's)."""

    def __init__(self, path: str) -> None:
        super().__init__("04da6b54-80e4-46f7-96ec-b56ff0331ba9", [path])


class Deferred(UnknownValueError):
    """A stack check that could not decide some resources at preview: `(urn, property path)` for each.

    Raised by `guarded` after every decidable resource was checked (their violations are reported first);
    the analyzer shows it as one "can't run policy during preview" note, `aienv check` as one deferral per
    resource.
    """

    def __init__(self, deferred: list[tuple[str, str]]) -> None:
        super().__init__("04da6b54-80e4-46f7-96ec-b56ff0331ba9", [deferred[0][1]] if deferred else [])
        self.deferred = deferred
        names = ", ".join(f"{name_of(urn)} (.{path})" for urn, path in deferred[:5])
        more = f" and {len(deferred) - 5} more" if len(deferred) > 5 else ""
        self.message = f"values of {len(deferred)} resource(s) can't be known during preview: {names}{more}"


@dataclass(frozen=True)
class Ref:
    """An unknown value that is a reference to a resource of the stack (resolved through its property
    dependencies): the resource's URN and type."""

    urn: str
    type: str

    def __bool__(self) -> bool:  # a reference is set
        return True


# --- Friendly nouns for messages ---------------------------------------------------------------------
NOUNS: dict[str, str] = {
    "aws:s3/bucket:Bucket": "S3 bucket",
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": "S3 public access block",
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": "S3 encryption configuration",
    "aws:s3/bucketVersioning:BucketVersioning": "S3 versioning configuration",
    "aws:s3/bucketPolicy:BucketPolicy": "S3 bucket policy",
    "aws:s3/bucketLogging:BucketLogging": "S3 logging configuration",
    "aws:kms/key:Key": "KMS key",
    "aws:eks/cluster:Cluster": "EKS cluster",
    "aws:eks/nodeGroup:NodeGroup": "EKS node group",
    "aws:ecr/repository:Repository": "ECR repository",
    "aws:ecr/repositoryPolicy:RepositoryPolicy": "ECR repository policy",
    "aws:elasticache/replicationGroup:ReplicationGroup": "ElastiCache replication group",
    "aws:iam/role:Role": "IAM role",
    "aws:iam/policy:Policy": "IAM policy",
    "aws:iam/rolePolicy:RolePolicy": "IAM role policy",
    "aws:ec2/vpc:Vpc": "VPC",
    "aws:cloudtrail/trail:Trail": "CloudTrail trail",
    "aws:cloudwatch/logGroup:LogGroup": "CloudWatch log group",
    "aws:sagemaker/notebookInstance:NotebookInstance": "SageMaker notebook instance",
    "aws:sagemaker/model:Model": "SageMaker model",
    "aws:sagemaker/endpointConfiguration:EndpointConfiguration": "SageMaker endpoint configuration",
    "aws:sagemaker/domain:Domain": "SageMaker domain",
    "aws:sagemaker/featureGroup:FeatureGroup": "SageMaker feature group",
    "aws:sagemaker/dataQualityJobDefinition:DataQualityJobDefinition": "SageMaker data-quality job definition",
    "aws:sagemaker/modelQualityJobDefinition:ModelQualityJobDefinition": "SageMaker model-quality job definition",
    "azure-native:storage:StorageAccount": "storage account",
    "azure-native:keyvault:Vault": "key vault",
    "azure-native:keyvault:Key": "Key Vault key",
    "azure-native:containerregistry:Registry": "container registry",
    "azure-native:containerservice:ManagedCluster": "AKS cluster",
    "azure-native:containerservice:AgentPool": "AKS agent pool",
    "azure-native:machinelearningservices:Workspace": "Azure ML workspace",
    "azure-native:machinelearningservices:Compute": "Azure ML compute",
    "azure-native:redis:Redis": "Azure Cache for Redis",
    "azure-native:redisenterprise:RedisEnterprise": "Azure Managed Redis cluster",
    "azure-native:redisenterprise:Database": "Azure Managed Redis database",
    "azure-native:monitor:DiagnosticSetting": "diagnostic setting",
    "azure-native:insights:DiagnosticSetting": "diagnostic setting",
    "azure-native:authorization:RoleAssignment": "role assignment",
    "gcp:container/cluster:Cluster": "GKE cluster",
    "gcp:container/nodePool:NodePool": "GKE node pool",
    "gcp:storage/bucket:Bucket": "GCS bucket",
    "gcp:kms/cryptoKey:CryptoKey": "Cloud KMS key",
    "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember": "Cloud KMS key IAM member",
    "gcp:kms/cryptoKeyIAMBinding:CryptoKeyIAMBinding": "Cloud KMS key IAM binding",
    "gcp:artifactregistry/repository:Repository": "Artifact Registry repository",
    "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember": "Artifact Registry IAM member",
    "gcp:artifactregistry/repositoryIamBinding:RepositoryIamBinding": "Artifact Registry IAM binding",
    "gcp:redis/instance:Instance": "Memorystore Redis instance",
    "gcp:vertex/aiDataset:AiDataset": "Vertex AI dataset",
    "gcp:vertex/aiFeatureStore:AiFeatureStore": "Vertex AI feature store",
    "gcp:vertex/aiEndpoint:AiEndpoint": "Vertex AI endpoint",
    "gcp:vertex/aiFeatureOnlineStore:AiFeatureOnlineStore": "Vertex AI online store",
    "gcp:projects/iAMAuditConfig:IAMAuditConfig": "IAM audit config",
    "gcp:projects/iAMMember:IAMMember": "project IAM member",
    "gcp:projects/iAMBinding:IAMBinding": "project IAM binding",
    "kubernetes:core/v1:Service": "Kubernetes service",
    "kubernetes:core/v1:Pod": "pod",
    "kubernetes:networking.k8s.io/v1:NetworkPolicy": "network policy",
    "kubernetes:networking.k8s.io/v1:Ingress": "ingress",
    "kubernetes:policy/v1:PodDisruptionBudget": "pod disruption budget",
}


def noun(resource_type: str) -> str:
    if resource_type in NOUNS:
        return NOUNS[resource_type]
    if resource_type.startswith("kubernetes:"):
        return resource_type.rsplit(":", 1)[-1]  # Deployment, CronJob, ...
    return resource_type.rsplit(":", 1)[-1]


def subject(resource_type: str, name: str) -> str:
    """`The S3 bucket `data``: the start of every violation message."""
    return f"The {noun(resource_type)} `{name}`"


def name_of(urn: str) -> str:
    return urn.rsplit("::", 1)[-1]


# --- Reading props -------------------------------------------------------------------------------------
_MISSING = object()


def is_unknown(value: Any) -> bool:
    return isinstance(value, str) and value in UNKNOWN_SENTINELS


def get(props: Any, path: str, default: Any = None) -> Any:
    """Read `a.b.0.c` from proxied props. Raises (fail closed) when a value on the path is unknown."""
    cur = props
    walked: list[str] = []
    for part in path.split("."):
        walked.append(part)
        if cur is None:
            return default
        try:
            if isinstance(cur, Mapping):
                cur = cur.get(part, _MISSING)
            elif isinstance(cur, Sequence) and not isinstance(cur, str) and part.isdigit():
                idx = int(part)
                cur = cur[idx] if idx < len(cur) else _MISSING
            else:
                return default
        except UnknownValueError:
            raise
        if cur is _MISSING:
            return default
        if is_unknown(cur):
            raise Unknown(".".join(walked))
    return cur


def property_dependencies(args: Any) -> Mapping[str, Sequence[tuple[str, str]]]:
    """Top-level property -> [(urn, type)] it depends on: `aienv check` hands them to resource policies
    (`args.aienv_property_dependencies`); stack resources carry them; the CrossGuard analyzer gives resource
    policies none, so there a reference stays unknown and the check defers to the update."""
    deps = getattr(args, "aienv_property_dependencies", None)
    if deps is not None:
        return deps
    prop_deps = getattr(args, "property_dependencies", None)
    if isinstance(prop_deps, Mapping):
        return {k: [(d.urn, d.resource_type) for d in v] for k, v in prop_deps.items()}
    return {}


def ref(args: Any, path: str, kinds: Iterable[str], default: Any = None) -> Any:
    """`get(args.props, path)`, except that an unknown value whose top-level property depends on a resource
    of `kinds` (type tokens) in the stack is returned as a `Ref` to it: the value will be that resource's
    id/ARN/URL, which is what the check asks for. Any other unknown raises (the check defers).

    The engine tracks dependencies per top-level property, so a nested value is taken as the reference when
    its property depends on such a resource at all; the known view checks the value itself."""
    try:
        return get(args.props, path, default)
    except UnknownValueError:
        wanted = set(kinds)
        for urn, type_ in property_dependencies(args).get(path.split(".", 1)[0], ()):
            if type_ in wanted:
                return Ref(urn, type_)
        raise


def items(props: Any, path: str) -> list[Any]:
    """A list at `path` (empty when absent); single objects become a one-item list."""
    value = get(props, path)
    if value is None:
        return []
    if isinstance(value, Mapping):
        return [value]
    if isinstance(value, Sequence) and not isinstance(value, str):
        return list(value)
    return [value]


def truthy(props: Any, path: str) -> bool:
    value = get(props, path)
    if isinstance(value, str):
        return value.lower() in ("true", "enabled", "yes", "1")
    return bool(value)


def number(props: Any, path: str, default: float | None = None) -> float | None:
    value = get(props, path)
    if value is None:
        return default
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def plain(value: Any) -> Any:
    """Unwrap proxies into plain dicts/lists (raises on unknowns anywhere inside)."""
    if isinstance(value, Mapping):
        return {k: plain(value[k]) for k in value}
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [plain(v) for v in value]
    if is_unknown(value):
        raise Unknown("<value>")
    return value


def policy_document(value: Any) -> dict[str, Any] | None:
    """An IAM-style policy given as JSON text or an object; None when absent or unparsable."""
    if value is None:
        return None
    if isinstance(value, str):
        if is_unknown(value):
            raise Unknown("policy")
        try:
            parsed = json.loads(value)
        except ValueError:
            return None
        return parsed if isinstance(parsed, dict) else None
    doc = plain(value)
    return doc if isinstance(doc, dict) else None


def statements(doc: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    if not doc:
        return []
    stmts = doc.get("Statement", [])
    if isinstance(stmts, dict):
        stmts = [stmts]
    return [s for s in stmts if isinstance(s, dict)]


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return list(value)
    return [value]


def principal_is_public(principal: Any) -> bool:
    if principal == "*":
        return True
    if isinstance(principal, dict):
        return any(v == "*" or (isinstance(v, list) and "*" in v) for v in principal.values())
    return False


def config_value(args: ResourceValidationArgs | StackValidationArgs, key: str, default: Any = None) -> Any:
    value = args.get_config().get(key)
    return default if value is None else value


# --- Rules -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Rule:
    meta: RuleMeta
    kind: str  # "resource" | "stack"
    types: frozenset[str]  # resource types the rule reads (resource rules: the ones it validates)
    check: Callable[..., Iterable[Any]]

    @property
    def name(self) -> str:
        return self.meta.name


def resource_rule(meta: RuleMeta, types: Iterable[str]) -> Callable[[ResourceCheck], Rule]:
    """A rule on each resource of `types`, and of their earlier tokens (`policies.rules.tokens`): the check sees
    the current token (`canonical_args`)."""
    def wrap(fn: ResourceCheck) -> Rule:
        return Rule(meta, "resource", with_previous(types), fn)

    return wrap


def stack_rule(meta: RuleMeta, types: Iterable[str] = ()) -> Callable[[StackCheck], Rule]:
    def wrap(fn: StackCheck) -> Rule:
        return Rule(meta, "stack", with_previous(types), fn)

    return wrap


def canonical_args(args: ResourceValidationArgs) -> ResourceValidationArgs:
    """`args` with the current token of a resource registered under an earlier one (a previous provider major),
    so a check compares one token per resource type."""
    current = canonical(args.resource_type)
    if current != args.resource_type:
        args = copy.copy(args)
        args.resource_type = current
    return args


def canonical_resources(resources: Iterable[PolicyResource]) -> None:
    """Give stack resources registered under an earlier token their current one (in place; idempotent)."""
    for r in resources:
        r.resource_type = canonical(r.resource_type)


def guarded(resources: Iterable[PolicyResource], types: frozenset[str] | None,
            fn: Callable[[PolicyResource], Iterable[str]]) -> Iterator[tuple[str, str | None]]:
    """Run `fn` per resource of `types`; an unknown value defers that resource's check, not the whole stack's:
    the others are checked and reported first, then `Deferred` names the resources that could not be."""
    deferred: list[tuple[str, str]] = []
    for r in resources:
        if types is not None and r.resource_type not in types:
            continue
        try:
            for msg in fn(r):
                yield msg, r.urn
        except Deferred as err:
            deferred.extend(err.deferred)
        except UnknownValueError as err:
            deferred.append((r.urn, ".".join(err.props) if err.props else "?"))
    if deferred:
        raise Deferred(deferred)


# --- Pulumi Policy objects -----------------------------------------------------------------------------------
_SEVERITIES = {s.value: s for s in Severity}
_ENFORCEMENT = {e.value: e for e in EnforcementLevel}


class AienvResourcePolicy(ResourceValidationPolicy):
    """A ResourceValidationPolicy that remembers the rule it came from (types, metadata)."""

    rule: Rule


class AienvStackPolicy(StackValidationPolicy):
    rule: Rule


def _framework(meta: RuleMeta, framework: str | None) -> PolicyComplianceFramework | None:
    fw = framework or next(iter(meta.controls), None)
    if fw is None or fw not in FRAMEWORKS:
        return None
    info = FRAMEWORKS[fw]
    return PolicyComplianceFramework(name=info["name"], version=info["version"] or None,
                                     reference=info["reference"],
                                     specification=", ".join(meta.controls.get(fw, ())) or None)


def build_policy(rule: Rule, *, framework: str | None = None,
                 enforcement: str | None = None) -> AienvResourcePolicy | AienvStackPolicy:
    """The `pulumi_policy` object for `rule`; `framework` picks which control mapping it carries."""
    meta = rule.meta
    schema = PolicyConfigSchema(properties={k: dict(v) for k, v in meta.config.items()},
                                required=list(meta.required_config) or None) if meta.config else None
    common: dict[str, Any] = dict(
        enforcement_level=_ENFORCEMENT[enforcement or meta.enforcement],
        config_schema=schema,
        severity=_SEVERITIES[meta.severity],
        framework=_framework(meta, framework),
        tags=meta.tags(),
        remediation_steps=meta.remediation,
    )
    policy: AienvResourcePolicy | AienvStackPolicy
    if rule.kind == "resource":
        types = rule.types
        check = rule.check

        def validate_resource(args: ResourceValidationArgs, report: ReportViolation) -> None:
            if args.resource_type not in types:
                return
            for msg in check(canonical_args(args)):  # an unknown value escapes: the check defers (module docstring)
                report(msg, None)

        policy = AienvResourcePolicy(meta.name, meta.description, validate=validate_resource, **common)
    else:
        stack_check = rule.check

        def validate_stack(args: StackValidationArgs, report: ReportViolation) -> None:
            canonical_resources(args.resources)
            for msg, urn in stack_check(args):  # violations found before an unknown are kept
                report(msg, urn)

        policy = AienvStackPolicy(meta.name, meta.description, validate=validate_stack, **common)
    policy.rule = rule
    return policy


def reference_keys(resource: PolicyResource, prop: str) -> set[str]:
    """What `prop` of `resource` points at: the URNs it depends on through that property, and its literal
    value (`value:<id>`), so a target matches by dependency or by id (see `target_keys`)."""
    keys = {d.urn for d in resource.property_dependencies.get(prop, [])}
    try:
        value = get(resource.props, prop)
    except UnknownValueError:
        return keys
    if isinstance(value, str):
        keys.add("value:" + value)
    return keys


def target_keys(target: PolicyResource) -> set[str]:
    """The keys `reference_keys` uses for `target`: its URN and, when known, its id."""
    try:
        value = get(target.props, "id")
    except UnknownValueError:  # a new resource's id: matched through the property dependencies only
        return {target.urn}
    return {target.urn, "value:" + value} if isinstance(value, str) else {target.urn}


def references(resources: Iterable[PolicyResource], child_type: str, prop: str) -> set[str]:
    """Everything the `prop` of every `child_type` resource points at."""
    out: set[str] = set()
    for r in resources:
        if r.resource_type == child_type:
            out |= reference_keys(r, prop)
    return out


def is_referenced(target: PolicyResource, refs: set[str]) -> bool:
    return bool(target_keys(target) & refs)
