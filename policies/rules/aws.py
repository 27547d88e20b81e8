"""AWS rules (pulumi-aws 7 type tokens and wire names)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from fnmatch import fnmatchcase
from typing import Any

from pulumi_policy import PolicyResource, ResourceValidationArgs, StackValidationArgs
from pulumi_policy.proxy import UnknownValueError

from policies import meta as m
from policies.meta import RuleMeta
from policies.rules._base import (
    Unknown,
    as_list,
    config_value,
    get,
    guarded,
    is_referenced,
    items,
    number,
    policy_document,
    principal_is_public,
    ref,
    reference_keys,
    references,
    resource_rule,
    stack_rule,
    statements,
    subject,
    target_keys,
    truthy,
)
from policies.rules.tokens import canonical, with_previous

# What a customer-managed key reference may point at (a first preview sees the ARN as unknown).
KMS_KEYS = frozenset({"aws:kms/key:Key", "aws:kms/replicaKey:ReplicaKey", "aws:kms/alias:Alias",
                      "aws:kms/externalKey:ExternalKey"})
S3_BUCKET = "aws:s3/bucket:Bucket"
S3_PAB = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
S3_SSE = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
S3_VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"
S3_LOGGING = "aws:s3/bucketLogging:BucketLogging"
S3_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
S3_ACL = "aws:s3/bucketAcl:BucketAcl"
KMS_KEY = "aws:kms/key:Key"
EKS_CLUSTER = "aws:eks/cluster:Cluster"
EKS_NODEGROUP = "aws:eks/nodeGroup:NodeGroup"
ECR_REPO = "aws:ecr/repository:Repository"
ECR_POLICY = "aws:ecr/repositoryPolicy:RepositoryPolicy"
# The settings of the repositories ECR creates on a pull-through cache's first pull.
ECR_TEMPLATE = "aws:ecr/repositoryCreationTemplate:RepositoryCreationTemplate"
CACHE = "aws:elasticache/replicationGroup:ReplicationGroup"
IAM_ROLE = "aws:iam/role:Role"
IAM_POLICY = "aws:iam/policy:Policy"
IAM_ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
IAM_USER_POLICY = "aws:iam/userPolicy:UserPolicy"
IAM_GROUP_POLICY = "aws:iam/groupPolicy:GroupPolicy"
TRAIL = "aws:cloudtrail/trail:Trail"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
SM_NOTEBOOK = "aws:sagemaker/notebookInstance:NotebookInstance"
SM_MODEL = "aws:sagemaker/model:Model"
SM_ENDPOINT_CONFIG = "aws:sagemaker/endpointConfiguration:EndpointConfiguration"
SM_DOMAIN = "aws:sagemaker/domain:Domain"
SM_FEATURE_GROUP = "aws:sagemaker/featureGroup:FeatureGroup"
SM_DATA_QUALITY = "aws:sagemaker/dataQualityJobDefinition:DataQualityJobDefinition"
SM_MODEL_QUALITY = "aws:sagemaker/modelQualityJobDefinition:ModelQualityJobDefinition"
VPC = "aws:ec2/vpc:Vpc"
VPC_ENDPOINT = "aws:ec2/vpcEndpoint:VpcEndpoint"

PUBLIC_ACLS = frozenset({"public-read", "public-read-write", "authenticated-read"})


def _s(args: ResourceValidationArgs) -> str:
    return subject(args.resource_type, args.name)


# --- S3 ------------------------------------------------------------------------------------------------
@resource_rule(RuleMeta(
    name="aws-s3-block-public-access",
    description="Block all public access to S3 buckets (ACLs and policies).",
    severity="critical", area="aws", controls=m.merge(m.NETWORK_EXPOSURE, m.ACCESS_CONTROL),
    checks=("CKV_AWS_53", "CKV_AWS_54", "CKV_AWS_55", "CKV_AWS_56"),
    remediation="Set blockPublicAcls, blockPublicPolicy, ignorePublicAcls and restrictPublicBuckets to true "
                "on the bucket's aws.s3.BucketPublicAccessBlock.",
), [S3_PAB])
def s3_block_public_access(args: ResourceValidationArgs) -> Iterator[str]:
    wording = {"blockPublicAcls": "block public ACLs", "blockPublicPolicy": "block public bucket policies",
               "ignorePublicAcls": "ignore public ACLs", "restrictPublicBuckets": "restrict public buckets"}
    for prop, text in wording.items():
        if get(args.props, prop) is not True:
            yield f"{_s(args)} must {text} (set `{prop}: true`)."


@resource_rule(RuleMeta(
    name="aws-s3-no-public-acl",
    description="Do not grant public canned ACLs on S3 buckets.",
    severity="critical", area="aws", controls=m.merge(m.NETWORK_EXPOSURE, m.ACCESS_CONTROL),
    checks=("CKV_AWS_20", "CKV_AWS_57"),
    remediation="Remove the public canned ACL (`public-read`, `public-read-write`, `authenticated-read`); use "
                "`private` and grant access through IAM.",
), with_previous([S3_BUCKET, S3_ACL]))
def s3_no_public_acl(args: ResourceValidationArgs) -> Iterator[str]:
    acl = get(args.props, "acl")
    if acl in PUBLIC_ACLS:
        yield f"{_s(args)} must not use the public canned ACL `{acl}`."


def log_targets(resources: Any) -> set[str]:
    """URNs and `value:<name>` refs of buckets that receive S3 server access logs."""
    out: set[str] = set()
    for r in resources:
        if canonical(r.resource_type) != S3_LOGGING:
            continue
        out.update(d.urn for d in r.property_dependencies.get("targetBucket", []))
        try:
            tb = get(r.props, "targetBucket")
        except Exception:  # unknown: the dependency edge above still counts
            tb = None
        if isinstance(tb, str):
            out.add("value:" + tb)
    return out


@stack_rule(RuleMeta(
    name="aws-s3-encryption-kms",
    description="Encrypt S3 buckets by default with a customer-managed KMS key (access-log buckets: SSE-S3 at least).",
    severity="high", area="aws", controls=m.ENCRYPTION_AT_REST,
    checks=("CKV_AWS_145", "CKV_AWS_186", "CFG S3_DEFAULT_ENCRYPTION_KMS"),
    remediation="Add a rule with applyServerSideEncryptionByDefault.sseAlgorithm `aws:kms` and kmsMasterKeyId set "
                "to the environment's KMS key ARN. S3 server access logs can only be delivered to SSE-S3 "
                "(`AES256`) buckets, so log-target buckets may use that.",
), with_previous([S3_SSE, S3_LOGGING]))
def s3_encryption_kms(args: StackValidationArgs) -> Iterator[tuple[str, str | None]]:
    targets = log_targets(args.resources)
    bucket_names: dict[str, set[str]] = {}
    for r in args.resources:
        if canonical(r.resource_type) == S3_BUCKET:
            bucket_names[r.urn] = {"value:" + x for x in _safe_refs(r.props)}
    for urn, refs in bucket_names.items():
        if urn in targets or refs & targets:
            targets |= {urn} | refs

    def check(r: Any) -> Iterator[str]:
        is_log = any(d.urn in targets for d in r.property_dependencies.get("bucket", []))
        try:
            bucket = get(r.props, "bucket")
        except UnknownValueError:  # a new bucket's name: matched by property dependency above
            bucket = None
        is_log = is_log or (isinstance(bucket, str) and "value:" + bucket in targets)
        ok = False
        for i, rule in enumerate(items(r.props, "rules")):
            algo = get(rule, "applyServerSideEncryptionByDefault.sseAlgorithm")
            key = ref(r, f"rules.{i}.applyServerSideEncryptionByDefault.kmsMasterKeyId", KMS_KEYS)
            if (algo in ("aws:kms", "aws:kms:dsse") and key) or (is_log and algo == "AES256"):
                ok = True
        if not ok:
            yield (f"{subject(r.resource_type, r.name)} must encrypt by default with `aws:kms` and a customer-managed "
                   f"`kmsMasterKeyId`.")

    yield from guarded(args.resources, with_previous([S3_SSE]), check)


@resource_rule(RuleMeta(
    name="aws-s3-tls-only",
    description="Deny non-TLS requests to S3 buckets in the bucket policy.",
    severity="high", area="aws", controls=m.ENCRYPTION_IN_TRANSIT,
    checks=("CKV_AWS_379", "CFG S3_BUCKET_SSL_REQUESTS_ONLY"),
    remediation="Add a Deny statement for all principals and `s3:*` with condition "
                "`Bool: {aws:SecureTransport: false}`.",
), [S3_POLICY])
def s3_tls_only(args: ResourceValidationArgs) -> Iterator[str]:
    doc = policy_document(get(args.props, "policy"))
    for st in statements(doc):
        cond = st.get("Condition", {}) or {}
        bool_cond = cond.get("Bool", {}) if isinstance(cond, dict) else {}
        if st.get("Effect") == "Deny" and str(bool_cond.get("aws:SecureTransport", "")).lower() == "false":
            return
    yield f"{_s(args)} must deny requests that do not use TLS (`aws:SecureTransport` false)."


@resource_rule(RuleMeta(
    name="aws-s3-versioning",
    description="Enable versioning on S3 buckets.",
    severity="medium", area="aws", controls=m.merge(m.INTEGRITY, m.AVAILABILITY), checks=("CKV_AWS_21",),
    remediation="Set versioningConfiguration.status to `Enabled` on the bucket's aws.s3.BucketVersioning.",
), with_previous([S3_VERSIONING]))
def s3_versioning(args: ResourceValidationArgs) -> Iterator[str]:
    if get(args.props, "versioningConfiguration.status") != "Enabled":
        yield f"{_s(args)} must enable versioning (`versioningConfiguration.status: Enabled`)."


def _bucket_refs(props: Any) -> set[str]:
    """Values a companion resource may use to point at a bucket (bucket name, id)."""
    out = set()
    for key in ("bucket", "id"):
        v = get(props, key)
        if isinstance(v, str):
            out.add(v)
    return out


def _companions(args: StackValidationArgs, companion_type: str) -> dict[str, list[Any]]:
    """Bucket URN -> companion resources of `companion_type` that point at it (by value or dependency)."""
    buckets = [r for r in args.resources if canonical(r.resource_type) == S3_BUCKET]
    by_ref: dict[str, str] = {}
    for b in buckets:
        for known_ref in _safe_refs(b.props):
            by_ref[known_ref] = b.urn
    out: dict[str, list[Any]] = {b.urn: [] for b in buckets}
    for r in args.resources:
        if canonical(r.resource_type) != companion_type:
            continue
        targets = {d.urn for d in r.property_dependencies.get("bucket", []) if d.urn in out}
        try:
            value = get(r.props, "bucket")
        except Exception:  # unknown: rely on the dependency edge
            value = None
        if isinstance(value, str) and value in by_ref:
            targets.add(by_ref[value])
        for t in targets:
            out[t].append(r)
    return out


def _safe_refs(props: Any) -> set[str]:
    try:
        return _bucket_refs(props)
    except Exception:
        return set()


@stack_rule(RuleMeta(
    name="aws-s3-bucket-controls-attached",
    description="Attach a public access block, default encryption, versioning and a TLS-only policy to every S3 bucket.",
    severity="high", area="aws", controls=m.merge(m.ENCRYPTION_AT_REST, m.NETWORK_EXPOSURE),
    checks=("CKV2_AWS_6", "CKV_AWS_145"),
    remediation="Create aws.s3.BucketPublicAccessBlock, BucketServerSideEncryptionConfiguration, BucketVersioning "
                "and BucketPolicy resources for the bucket (pulumi-aws 7 splits these out of the Bucket).",
), with_previous([S3_BUCKET, S3_PAB, S3_SSE, S3_VERSIONING, S3_POLICY]))
def s3_controls_attached(args: StackValidationArgs) -> Iterator[tuple[str, str | None]]:
    needed = {S3_PAB: "a public access block", S3_SSE: "a default encryption configuration",
              S3_VERSIONING: "a versioning configuration", S3_POLICY: "a TLS-only bucket policy"}
    attached = {t: _companions(args, t) for t in needed}
    for r in args.resources:
        if canonical(r.resource_type) != S3_BUCKET:
            continue
        for t, text in needed.items():
            if not attached[t].get(r.urn):
                yield f"{subject(S3_BUCKET, r.name)} must have {text} attached.", r.urn


@stack_rule(RuleMeta(
    name="aws-s3-access-logging",
    description="Enable server access logging on every S3 bucket.",
    severity="medium", area="aws", controls=m.AUDIT_LOGGING,
    checks=("CKV_AWS_18", "CFG S3_BUCKET_LOGGING_ENABLED"),
    remediation="Create an aws.s3.BucketLogging for the bucket with a targetBucket for access logs "
                "(the log bucket itself may be exempt by tagging it as the log archive).",
), with_previous([S3_BUCKET, S3_LOGGING]))
def s3_access_logging(args: StackValidationArgs) -> Iterator[tuple[str, str | None]]:
    logging = _companions(args, S3_LOGGING)
    targets: set[str] = set()
    for r in args.resources:
        if canonical(r.resource_type) == S3_LOGGING:
            try:
                tb = get(r.props, "targetBucket")
            except Exception:
                tb = None
            if isinstance(tb, str):
                targets.add(tb)
            targets.update(d.urn for d in r.property_dependencies.get("targetBucket", []))
    for r in args.resources:
        if canonical(r.resource_type) != S3_BUCKET or logging.get(r.urn):
            continue
        if r.urn in targets or _safe_refs(r.props) & targets:
            continue  # the access-log bucket itself
        yield f"{subject(S3_BUCKET, r.name)} must have server access logging (an aws.s3.BucketLogging).", r.urn


# --- KMS -------------------------------------------------------------------------------------------------
@resource_rule(RuleMeta(
    name="aws-kms-key-rotation",
    description="Enable automatic rotation on KMS keys.",
    severity="medium", area="aws", controls=m.KEY_MANAGEMENT, checks=("CKV_AWS_7",),
    remediation="Set enableKeyRotation to true (symmetric keys).",
), [KMS_KEY])
def kms_rotation(args: ResourceValidationArgs) -> Iterator[str]:
    spec = get(args.props, "customerMasterKeySpec") or get(args.props, "keySpec") or "SYMMETRIC_DEFAULT"
    if spec == "SYMMETRIC_DEFAULT" and get(args.props, "enableKeyRotation") is not True:
        yield f"{_s(args)} must enable automatic key rotation (`enableKeyRotation: true`)."


def _allows_anyone(props: Any) -> bool:
    """The resource policy in `props.policy` allows the `*` principal without a restricting condition."""
    return any(st.get("Effect") == "Allow" and principal_is_public(st.get("Principal")) and not st.get("Condition")
               for st in statements(policy_document(get(props, "policy"))))


@resource_rule(RuleMeta(
    name="aws-kms-no-public-principal",
    description="Do not allow the `*` principal in KMS key policies without a condition.",
    severity="critical", area="aws", controls=m.merge(m.KEY_MANAGEMENT, m.ACCESS_CONTROL), checks=("CKV_AWS_33",),
    remediation="Name the account root or specific roles as principals, or add a restricting Condition.",
), [KMS_KEY])
def kms_no_public(args: ResourceValidationArgs) -> Iterator[str]:
    if _allows_anyone(args.props):
        yield f"{_s(args)} must not allow the `*` principal in its key policy without a condition."


@resource_rule(RuleMeta(
    name="aws-kms-no-lockout-bypass",
    description="Do not bypass the KMS key policy lockout safety check.",
    severity="high", area="aws", controls=m.KEY_MANAGEMENT,
    remediation="Remove bypassPolicyLockoutSafetyCheck (or set it to false).",
), [KMS_KEY])
def kms_no_lockout_bypass(args: ResourceValidationArgs) -> Iterator[str]:
    if get(args.props, "bypassPolicyLockoutSafetyCheck") is True:
        yield f"{_s(args)} must not bypass the policy lockout safety check."


# --- EKS -------------------------------------------------------------------------------------------------
@resource_rule(RuleMeta(
    name="aws-eks-secrets-encryption",
    description="Encrypt Kubernetes secrets in EKS with a KMS key.",
    severity="high", area="aws", controls=m.ENCRYPTION_AT_REST, checks=("CKV_AWS_58",),
    remediation="Set encryptionConfig with resources [\"secrets\"] and provider.keyArn of the environment's KMS key.",
), [EKS_CLUSTER])
def eks_secrets(args: ResourceValidationArgs) -> Iterator[str]:
    resources = items(args.props, "encryptionConfig.resources")
    if "secrets" not in resources or not ref(args, "encryptionConfig.provider.keyArn", KMS_KEYS):
        yield f"{_s(args)} must encrypt secrets with a KMS key (`encryptionConfig`)."


@resource_rule(RuleMeta(
    name="aws-eks-endpoint-restricted",
    description="Keep the EKS API endpoint private or restricted to known CIDRs.",
    severity="high", area="aws", controls=m.NETWORK_EXPOSURE, checks=("CKV_AWS_38", "CKV_AWS_39"),
    remediation="Set vpcConfig.endpointPublicAccess false (with endpointPrivateAccess true), or list "
                "vpcConfig.publicAccessCidrs without 0.0.0.0/0.",
), [EKS_CLUSTER])
def eks_endpoint(args: ResourceValidationArgs) -> Iterator[str]:
    public = get(args.props, "vpcConfig.endpointPublicAccess")
    if public is False:
        return
    cidrs = items(args.props, "vpcConfig.publicAccessCidrs")
    if not cidrs or "0.0.0.0/0" in cidrs:
        yield f"{_s(args)} must not expose its API endpoint to 0.0.0.0/0: disable public access or list allowed CIDRs."


@resource_rule(RuleMeta(
    name="aws-eks-control-plane-logging",
    description="Send EKS control-plane logs, including audit, to CloudWatch.",
    severity="medium", area="aws", controls=m.AUDIT_LOGGING, checks=("CKV_AWS_37",),
    remediation="Set enabledClusterLogTypes to include api, audit and authenticator.",
), [EKS_CLUSTER])
def eks_logging(args: ResourceValidationArgs) -> Iterator[str]:
    enabled = set(items(args.props, "enabledClusterLogTypes"))
    missing = [t for t in ("api", "audit", "authenticator") if t not in enabled]
    if missing:
        yield f"{_s(args)} must enable control-plane logging for {', '.join(missing)}."


def _version_tuple(v: str) -> tuple[int, ...]:
    try:
        return tuple(int(p) for p in str(v).split(".")[:2])
    except ValueError:
        return ()


@resource_rule(RuleMeta(
    name="aws-eks-supported-version",
    description="Run a supported Kubernetes version on EKS.",
    severity="medium", area="aws", controls=m.VULNERABILITY, checks=("CKV_AWS_339",),
    config={"minimumVersion": {"type": "string", "default": "1.31",
                               "description": "Oldest Kubernetes minor version still in standard support."}},
    remediation="Set version to a Kubernetes minor in EKS standard support (or raise minimumVersion deliberately).",
), [EKS_CLUSTER])
def eks_version(args: ResourceValidationArgs) -> Iterator[str]:
    minimum = str(config_value(args, "minimumVersion", "1.31"))
    version = get(args.props, "version")
    if version is None:
        return  # EKS picks its current default, which is supported
    if _version_tuple(version) < _version_tuple(minimum):
        yield f"{_s(args)} must run Kubernetes {minimum} or newer (it pins {version})."


@resource_rule(RuleMeta(
    name="aws-eks-nodegroup-no-open-ssh",
    description="Do not open SSH to EKS nodes from anywhere.",
    severity="high", area="aws", controls=m.NETWORK_EXPOSURE, checks=("CKV_AWS_100",),
    remediation="Remove remoteAccess, or restrict it with remoteAccess.sourceSecurityGroupIds.",
), [EKS_NODEGROUP])
def eks_ssh(args: ResourceValidationArgs) -> Iterator[str]:
    if get(args.props, "remoteAccess.ec2SshKey") and not items(args.props, "remoteAccess.sourceSecurityGroupIds"):
        yield f"{_s(args)} must restrict SSH access with `remoteAccess.sourceSecurityGroupIds`."


# --- ECR -------------------------------------------------------------------------------------------------
@resource_rule(RuleMeta(
    name="aws-ecr-scan-on-push",
    description="Scan ECR images on push.",
    severity="medium", area="aws", controls=m.VULNERABILITY, checks=("CKV_AWS_163",),
    remediation="Set imageScanningConfiguration.scanOnPush to true.",
), [ECR_REPO])
def ecr_scan(args: ResourceValidationArgs) -> Iterator[str]:
    if get(args.props, "imageScanningConfiguration.scanOnPush") is not True:
        yield f"{_s(args)} must scan images on push."


@resource_rule(RuleMeta(
    name="aws-ecr-immutable-tags",
    description="Make ECR image tags immutable.",
    severity="medium", area="aws", controls=m.SUPPLY_CHAIN, checks=("CKV_AWS_51",),
    remediation="Set imageTagMutability to `IMMUTABLE`.",
), [ECR_REPO, ECR_TEMPLATE])
def ecr_immutable(args: ResourceValidationArgs) -> Iterator[str]:
    if not str(get(args.props, "imageTagMutability") or "MUTABLE").startswith("IMMUTABLE"):
        yield f"{_s(args)} must make image tags immutable."


@resource_rule(RuleMeta(
    name="aws-ecr-kms-encryption",
    description="Encrypt ECR repositories with a KMS key.",
    severity="medium", area="aws", controls=m.ENCRYPTION_AT_REST, checks=("CKV_AWS_136",),
    remediation="Set encryptionConfigurations [{encryptionType: KMS, kmsKey: <key ARN>}].",
), [ECR_REPO, ECR_TEMPLATE])
def ecr_kms(args: ResourceValidationArgs) -> Iterator[str]:
    confs = items(args.props, "encryptionConfigurations")
    if not any(get(c, "encryptionType") in ("KMS", "KMS_DSSE")
               and ref(args, f"encryptionConfigurations.{i}.kmsKey", KMS_KEYS) for i, c in enumerate(confs)):
        yield f"{_s(args)} must encrypt images with a customer-managed KMS key."


@resource_rule(RuleMeta(
    name="aws-ecr-not-public",
    description="Do not make ECR repositories public through their repository policy.",
    severity="critical", area="aws", controls=m.merge(m.ACCESS_CONTROL, m.SUPPLY_CHAIN), checks=("CKV_AWS_32",),
    remediation="Replace the `*` principal with the accounts or roles that pull images.",
), [ECR_POLICY])
def ecr_public(args: ResourceValidationArgs) -> Iterator[str]:
    if _allows_anyone(args.props):
        yield f"{_s(args)} must not grant access to the `*` principal."


# --- SageMaker -----------------------------------------------------------------------------------------
@resource_rule(RuleMeta(
    name="aws-sagemaker-notebook-no-internet",
    description="Disable direct internet access on SageMaker notebook instances.",
    severity="high", area="aws", controls=m.NETWORK_EXPOSURE, checks=("CKV_AWS_122",),
    remediation="Set directInternetAccess to `Disabled` and place the notebook in a private subnet.",
), [SM_NOTEBOOK])
def sm_notebook_internet(args: ResourceValidationArgs) -> Iterator[str]:
    if get(args.props, "directInternetAccess") != "Disabled":
        yield f"{_s(args)} must disable direct internet access."


@resource_rule(RuleMeta(
    name="aws-sagemaker-notebook-no-root",
    description="Disable root access on SageMaker notebook instances.",
    severity="medium", area="aws", controls=m.merge(m.ACCESS_CONTROL, m.WORKLOAD_HARDENING), checks=("CKV_AWS_307",),
    remediation="Set rootAccess to `Disabled`.",
), [SM_NOTEBOOK])
def sm_notebook_root(args: ResourceValidationArgs) -> Iterator[str]:
    if get(args.props, "rootAccess") != "Disabled":
        yield f"{_s(args)} must disable root access."


_SM_KMS_PATHS: dict[str, tuple[str, ...]] = {
    SM_NOTEBOOK: ("kmsKeyId",),
    SM_ENDPOINT_CONFIG: ("kmsKeyArn",),
    SM_DOMAIN: ("kmsKeyId",),
    SM_FEATURE_GROUP: ("offlineStoreConfig.s3StorageConfig.kmsKeyId", "onlineStoreConfig.securityConfig.kmsKeyId"),
    SM_DATA_QUALITY: ("dataQualityJobOutputConfig.kmsKeyId", "jobResources.clusterConfig.volumeKmsKeyId"),
    SM_MODEL_QUALITY: ("modelQualityJobOutputConfig.kmsKeyId", "jobResources.clusterConfig.volumeKmsKeyId"),
}


@resource_rule(RuleMeta(
    name="aws-sagemaker-kms-encryption",
    description="Encrypt SageMaker notebooks, endpoints, domains, feature groups and monitoring jobs with KMS keys.",
    severity="high", area="aws", controls=m.ENCRYPTION_AT_REST,
    # CKV_AWS_369 (inter-container traffic encryption) is not a KMS setting: aws-sagemaker-monitoring-traffic-encryption.
    checks=("CKV_AWS_22", "CKV_AWS_98", "CKV_AWS_187", "CKV_AWS_367", "CKV_AWS_368"),
    remediation="Set the KMS key properties (kmsKeyId / kmsKeyArn / volumeKmsKeyId) to the environment's key.",
), list(_SM_KMS_PATHS))
def sm_kms(args: ResourceValidationArgs) -> Iterator[str]:
    for path in _SM_KMS_PATHS[args.resource_type]:
        parent = path.rsplit(".", 1)[0] if "." in path else None
        if parent and args.resource_type == SM_FEATURE_GROUP and get(args.props, parent.split(".")[0]) is None:
            continue  # that store is not configured
        if not ref(args, path, KMS_KEYS):
            yield f"{_s(args)} must set `{path}` to a KMS key."
    if (args.resource_type == SM_ENDPOINT_CONFIG and get(args.props, "dataCaptureConfig") is not None
            and not ref(args, "dataCaptureConfig.kmsKeyId", KMS_KEYS)):
        yield f"{_s(args)} must encrypt inference captures (`dataCaptureConfig.kmsKeyId`)."


@resource_rule(RuleMeta(
    name="aws-sagemaker-model-isolation",
    description="Run SageMaker models with network isolation inside a VPC.",
    severity="high", area="aws", controls=m.NETWORK_EXPOSURE, checks=("CKV_AWS_370", "CFG SAGEMAKER_MODEL_IN_VPC"),
    remediation="Set enableNetworkIsolation true and vpcConfig (subnets, security groups) on the model.",
), [SM_MODEL])
def sm_model_isolation(args: ResourceValidationArgs) -> Iterator[str]:
    if get(args.props, "enableNetworkIsolation") is not True:
        yield f"{_s(args)} must enable network isolation."
    if not items(args.props, "vpcConfig.subnets"):
        yield f"{_s(args)} must run inside a VPC (`vpcConfig`)."


@resource_rule(RuleMeta(
    name="aws-sagemaker-domain-vpc-only",
    description="Route SageMaker domain traffic through the VPC only.",
    severity="high", area="aws", controls=m.NETWORK_EXPOSURE, checks=("CFG SAGEMAKER_DOMAIN_IN_VPC",),
    remediation="Set appNetworkAccessType to `VpcOnly`.",
), [SM_DOMAIN])
def sm_domain_vpc(args: ResourceValidationArgs) -> Iterator[str]:
    if get(args.props, "appNetworkAccessType") != "VpcOnly":
        yield f"{_s(args)} must use `appNetworkAccessType: VpcOnly`."


@resource_rule(RuleMeta(
    name="aws-sagemaker-endpoint-redundancy",
    description="Serve production SageMaker endpoints from more than one instance.",
    severity="medium", area="aws", enforcement="advisory", controls=m.AVAILABILITY,
    checks=("CFG SAGEMAKER_ENDPOINT_CONFIGURATION_PROD_INSTANCE_COUNT",),
    config={"minimumInstances": {"type": "integer", "default": 2, "minimum": 1}},
    remediation="Set initialInstanceCount ≥ 2 on each production variant (serverless variants are exempt).",
), [SM_ENDPOINT_CONFIG])
def sm_endpoint_count(args: ResourceValidationArgs) -> Iterator[str]:
    minimum = int(config_value(args, "minimumInstances", 2))
    for i, variant in enumerate(items(args.props, "productionVariants")):
        if get(variant, "serverlessConfig") is not None:
            continue
        count = number(variant, "initialInstanceCount", 1) or 1
        if count < minimum:
            yield f"{_s(args)} must run at least {minimum} instances for variant {get(variant, 'variantName') or i}."


# --- ElastiCache ---------------------------------------------------------------------------------------------
@resource_rule(RuleMeta(
    name="aws-elasticache-encryption-at-rest",
    description="Encrypt ElastiCache replication groups at rest with a KMS key.",
    severity="high", area="aws", controls=m.ENCRYPTION_AT_REST, checks=("CKV_AWS_29", "CKV_AWS_191"),
    remediation="Set atRestEncryptionEnabled true and kmsKeyId to the environment's key.",
), [CACHE])
def cache_at_rest(args: ResourceValidationArgs) -> Iterator[str]:
    if not truthy(args.props, "atRestEncryptionEnabled"):
        yield f"{_s(args)} must enable encryption at rest."
    elif not ref(args, "kmsKeyId", KMS_KEYS):
        yield f"{_s(args)} must encrypt at rest with a customer-managed KMS key (`kmsKeyId`)."


@resource_rule(RuleMeta(
    name="aws-elasticache-encryption-in-transit",
    description="Require TLS and AUTH on ElastiCache replication groups.",
    severity="high", area="aws", controls=m.merge(m.ENCRYPTION_IN_TRANSIT, m.AUTHENTICATION),
    checks=("CKV_AWS_30", "CKV_AWS_31"),
    remediation="Set transitEncryptionEnabled true and an authToken (secret) or userGroupIds.",
), [CACHE])
def cache_in_transit(args: ResourceValidationArgs) -> Iterator[str]:
    if get(args.props, "transitEncryptionEnabled") is not True:
        yield f"{_s(args)} must enable encryption in transit."
    if not get(args.props, "authToken") and not items(args.props, "userGroupIds"):
        yield f"{_s(args)} must require AUTH (`authToken` or `userGroupIds`)."


@resource_rule(RuleMeta(
    name="aws-elasticache-backups",
    description="Keep automatic snapshots of ElastiCache replication groups.",
    severity="medium", area="aws", controls=m.AVAILABILITY,
    config={"minimumRetentionDays": {"type": "integer", "default": 1, "minimum": 1}},
    remediation="Set snapshotRetentionLimit to at least the configured days.",
), [CACHE])
def cache_backups(args: ResourceValidationArgs) -> Iterator[str]:
    minimum = int(config_value(args, "minimumRetentionDays", 1))
    if (number(args.props, "snapshotRetentionLimit", 0) or 0) < minimum:
        yield f"{_s(args)} must keep automatic snapshots for at least {minimum} day(s)."


# --- IAM -----------------------------------------------------------------------------------------------------
SENSITIVE_SERVICES = ("iam", "kms", "s3", "sts", "sagemaker", "ecr", "secretsmanager", "organizations")


def _policy_docs(args: ResourceValidationArgs) -> list[tuple[str, Any]]:
    if args.resource_type == IAM_ROLE:
        return [(f"inline policy `{get(p, 'name') or i}`", policy_document(get(p, "policy")))
                for i, p in enumerate(items(args.props, "inlinePolicies"))]
    return [("policy document", policy_document(get(args.props, "policy")))]


@resource_rule(RuleMeta(
    name="aws-iam-no-admin",
    description="Do not grant `*:*` administrator access in IAM policies.",
    severity="critical", area="aws", controls=m.ACCESS_CONTROL, checks=("CKV_AWS_62", "CKV_AWS_63"),
    remediation="List the actions and resources the workload needs instead of `*`.",
), [IAM_POLICY, IAM_ROLE_POLICY, IAM_ROLE, IAM_USER_POLICY, IAM_GROUP_POLICY])
def iam_no_admin(args: ResourceValidationArgs) -> Iterator[str]:
    for where, doc in _policy_docs(args):
        for st in statements(doc):
            if st.get("Effect") == "Allow" and "*" in as_list(st.get("Action")) and "*" in as_list(st.get("Resource")):
                yield f"{_s(args)} must not allow `*` actions on `*` resources in its {where}."
                break


@resource_rule(RuleMeta(
    name="aws-iam-no-wildcard-sensitive-actions",
    description="Do not grant wildcard actions on sensitive services (IAM, KMS, S3, STS, SageMaker, ECR).",
    severity="high", area="aws", controls=m.ACCESS_CONTROL, checks=("CKV_AWS_289", "CKV_AWS_290"),
    remediation="Replace `service:*` with the specific actions the workload uses.",
), [IAM_POLICY, IAM_ROLE_POLICY, IAM_ROLE])
def iam_wildcards(args: ResourceValidationArgs) -> Iterator[str]:
    for where, doc in _policy_docs(args):
        for st in statements(doc):
            if st.get("Effect") != "Allow":
                continue
            bad = [a for a in as_list(st.get("Action")) if isinstance(a, str)
                   and a.endswith(":*") and a.split(":")[0] in SENSITIVE_SERVICES]
            if bad:
                yield f"{_s(args)} must not allow {', '.join(sorted(bad))} in its {where}."


@resource_rule(RuleMeta(
    name="aws-iam-trust-policy-scoped",
    description="Scope IAM role trust policies: no `*` principal, and web-identity trust bound to a subject.",
    severity="critical", area="aws", controls=m.merge(m.ACCESS_CONTROL, m.AUTHENTICATION), checks=("CKV_AWS_60", "CKV_AWS_61"),
    remediation="Name the trusted account, service or OIDC provider, and add a `StringEquals` condition on "
                "`<provider>:sub` (and `:aud`) for web-identity trust.",
), [IAM_ROLE])
def iam_trust(args: ResourceValidationArgs) -> Iterator[str]:
    for st in statements(policy_document(get(args.props, "assumeRolePolicy"))):
        if st.get("Effect") != "Allow":
            continue
        principal = st.get("Principal")
        if principal_is_public(principal) and not st.get("Condition"):
            yield f"{_s(args)} must not trust the `*` principal."
        actions = as_list(st.get("Action"))
        if "sts:AssumeRoleWithWebIdentity" in actions:
            cond = st.get("Condition") or {}
            keys = [k for op in cond.values() if isinstance(op, dict) for k in op]
            if not any(k.endswith(":sub") for k in keys):
                yield f"{_s(args)} must bind its web-identity trust to a subject (`...:sub` condition)."


# Actions that read or change data (objects, keys, feature records, secrets). Granted on `*`, they reach every
# bucket, key or feature group of the account instead of the workload's own: `workload_permissions: broad`.
DATA_ACTIONS = (
    "s3:getobject", "s3:getobjectversion", "s3:putobject", "s3:deleteobject", "s3:listbucket",
    "kms:decrypt", "kms:encrypt", "kms:generatedatakey", "kms:reencryptfrom", "kms:reencryptto",
    "sagemaker:getrecord", "sagemaker:batchgetrecord", "sagemaker:putrecord", "sagemaker:deleterecord",
    "secretsmanager:getsecretvalue",
)


def _data_action(action: str) -> bool:
    """The action (which may hold IAM wildcards, `s3:Get*`, `kms:*`) allows one of the data actions."""
    pattern = action.lower()
    return any(fnmatchcase(a, pattern) for a in DATA_ACTIONS)


def _account_wide(resource: Any) -> bool:
    """`*`, `arn:aws:s3:::*`, `arn:aws:kms:<region>:<account>:key/*`, ...: every resource of a kind."""
    if not isinstance(resource, str):
        return False
    if resource == "*":
        return True
    parts = resource.split(":", 5)
    if len(parts) < 6 or parts[0] != "arn":
        return False
    rid = parts[5]
    return rid in ("*", "*/*") or bool(re.fullmatch(r"[a-z-]+/\*", rid) and parts[2] != "s3")


@resource_rule(RuleMeta(
    name="aws-iam-data-access-scoped",
    description="Scope IAM grants that read or change data (S3 objects, KMS keys, feature records, secrets) to "
                "named resources, not every resource of the account.",
    severity="high", area="aws", controls=m.ACCESS_CONTROL, checks=("CKV_AWS_355",),
    remediation="List the bucket/prefix, key, feature group or secret ARNs the workload uses in `Resource` "
                "(`security.workload_permissions: scoped`).",
), [IAM_POLICY, IAM_ROLE_POLICY, IAM_ROLE])
def iam_data_scoped(args: ResourceValidationArgs) -> Iterator[str]:
    for where, doc in _policy_docs(args):
        for st in statements(doc):
            if st.get("Effect") != "Allow" or not any(_account_wide(r) for r in as_list(st.get("Resource"))):
                continue
            bad = sorted({a for a in as_list(st.get("Action")) if isinstance(a, str) and _data_action(a)})
            if bad:
                yield f"{_s(args)} must scope {', '.join(bad)} to named resources, not `*`, in its {where}."


# --- CloudTrail and CloudWatch ------------------------------------------------------------------------------
@resource_rule(RuleMeta(
    name="aws-cloudtrail-secure",
    description="Log to CloudTrail in every region with log-file validation and KMS encryption.",
    severity="high", area="aws", controls=m.AUDIT_LOGGING, checks=("CKV_AWS_67", "CKV_AWS_36", "CKV_AWS_35"),
    remediation="Set isMultiRegionTrail, enableLogFileValidation and kmsKeyId; keep enableLogging true.",
), [TRAIL])
def trail_secure(args: ResourceValidationArgs) -> Iterator[str]:
    if get(args.props, "enableLogging") is False:
        yield f"{_s(args)} must keep logging enabled."
    if get(args.props, "isMultiRegionTrail") is not True:
        yield f"{_s(args)} must log all regions (`isMultiRegionTrail: true`)."
    if get(args.props, "enableLogFileValidation") is not True:
        yield f"{_s(args)} must enable log-file validation."
    if not ref(args, "kmsKeyId", KMS_KEYS):
        yield f"{_s(args)} must encrypt its logs with a KMS key (`kmsKeyId`)."


@stack_rule(RuleMeta(
    name="aws-cloudtrail-present",
    description="Record AWS API activity with a CloudTrail trail in every stack that creates AWS resources.",
    severity="high", area="aws", controls=m.AUDIT_LOGGING, checks=("CFG CLOUDTRAIL_ENABLED",),
    remediation="Add an aws.cloudtrail.Trail (multi-region, validated, KMS-encrypted) to the environment, or "
                "disable this policy where an organization trail already covers the account.",
), [TRAIL])
def trail_present(args: StackValidationArgs) -> Iterator[tuple[str, str | None]]:
    aws_resources = [r for r in args.resources if r.resource_type.startswith("aws:")]
    if aws_resources and not any(r.resource_type == TRAIL for r in args.resources):
        yield "The stack must create a CloudTrail trail for its AWS resources.", None


@resource_rule(RuleMeta(
    name="aws-log-group-kms",
    description="Encrypt CloudWatch log groups with a KMS key.",
    severity="medium", area="aws", controls=m.merge(m.ENCRYPTION_AT_REST, m.AUDIT_LOGGING), checks=("CKV_AWS_158",),
    remediation="Set kmsKeyId to the environment's key (its key policy must allow logs.<region>.amazonaws.com).",
), [LOG_GROUP])
def log_group_kms(args: ResourceValidationArgs) -> Iterator[str]:
    if not ref(args, "kmsKeyId", KMS_KEYS):
        yield f"{_s(args)} must encrypt log data with a KMS key (`kmsKeyId`)."


@resource_rule(RuleMeta(
    name="aws-log-group-retention",
    description="Retain CloudWatch logs for at least the configured number of days.",
    severity="medium", area="aws", controls=m.AUDIT_LOGGING, checks=("CKV_AWS_338",),
    config={"minimumDays": {"type": "integer", "default": 365, "minimum": 1}},
    remediation="Set retentionInDays to at least the configured minimum (0 keeps logs forever).",
), [LOG_GROUP])
def log_group_retention(args: ResourceValidationArgs) -> Iterator[str]:
    minimum = int(config_value(args, "minimumDays", 365))
    days = number(args.props, "retentionInDays", 0) or 0
    if 0 < days < minimum:
        yield f"{_s(args)} must retain logs for at least {minimum} days (it keeps {int(days)})."


# --- Network ------------------------------------------------------------------------------------------------
def _service_suffix(service_name: str) -> str:
    """`com.amazonaws.us-east-1.ecr.dkr` -> `ecr.dkr`."""
    parts = service_name.split(".")
    return ".".join(parts[3:]) if len(parts) > 3 and parts[0] == "com" else service_name


@stack_rule(RuleMeta(
    name="aws-vpc-private-service-endpoints",
    description="Reach S3, ECR and STS from each VPC through VPC endpoints, not over the internet.",
    severity="medium", area="aws", controls=m.NETWORK_EXPOSURE,
    config={"requiredServices": {"type": "array", "items": {"type": "string"},
                                 "default": ["s3", "ecr.api", "ecr.dkr", "sts"],
                                 "description": "Service suffixes (after `com.amazonaws.<region>.`) every VPC needs "
                                                "an endpoint for."}},
    remediation="Add an S3 gateway endpoint and interface endpoints for ecr.api, ecr.dkr and sts to the VPC "
                "(`network.private_endpoints: true`).",
), [VPC, VPC_ENDPOINT])
def vpc_endpoints(args: StackValidationArgs) -> Iterator[tuple[str, str | None]]:
    required = [str(x) for x in (config_value(args, "requiredServices") or ["s3", "ecr.api", "ecr.dkr", "sts"])]
    by_vpc: dict[str, set[str]] = {}
    unknown_service: set[str] = set()  # VPC keys with an endpoint whose service is unknown at preview
    for r in args.resources:
        if r.resource_type != VPC_ENDPOINT:
            continue
        keys = reference_keys(r, "vpcId")  # by property dependency when the VPC id is not known yet
        try:
            service = get(r.props, "serviceName")
        except UnknownValueError:
            unknown_service |= keys
            continue
        if not isinstance(service, str):
            continue
        for key in keys:
            by_vpc.setdefault(key, set()).add(_service_suffix(service))

    def check(r: PolicyResource) -> Iterator[str]:
        services: set[str] = set()
        for key in target_keys(r):
            services |= by_vpc.get(key, set())
        missing = [s for s in required if s not in services]
        if missing and target_keys(r) & unknown_service:
            raise Unknown("serviceName")  # an endpoint of this VPC may be the missing one
        if missing:
            yield (f"{subject(r.resource_type, r.name)} must reach {', '.join(missing)} through VPC endpoints "
                   "(no endpoint for them).")

    yield from guarded(args.resources, frozenset({VPC}), check)

FLOW_LOG = "aws:ec2/flowLog:FlowLog"


@stack_rule(RuleMeta(
    name="aws-vpc-flow-logs",
    description="Record every VPC's traffic with a flow log.",
    severity="medium", area="aws", controls=m.merge(m.AUDIT_LOGGING, m.MONITORING),
    checks=("CKV2_AWS_11", "VPC_FLOW_LOGS_ENABLED"),
    remediation="Add an `aws.ec2.FlowLog` for the VPC to an encrypted log group (`network.flow_logs: true`).",
), [VPC, FLOW_LOG])
def vpc_flow_logs(args: StackValidationArgs) -> Iterator[tuple[str, str | None]]:
    logged = references(args.resources, FLOW_LOG, "vpcId")

    def check(r: PolicyResource) -> Iterator[str]:
        if not is_referenced(r, logged):
            yield f"{subject(r.resource_type, r.name)} must have a flow log (no `aws.ec2.FlowLog` for it)."

    yield from guarded(args.resources, frozenset({VPC}), check)


RULES = (
    s3_block_public_access, s3_no_public_acl, s3_encryption_kms, s3_tls_only, s3_versioning, s3_controls_attached,
    s3_access_logging, kms_rotation, kms_no_public, kms_no_lockout_bypass, eks_secrets, eks_endpoint, eks_logging,
    eks_version, eks_ssh, ecr_scan, ecr_immutable, ecr_kms, ecr_public, sm_notebook_internet, sm_notebook_root,
    sm_kms, sm_model_isolation, sm_domain_vpc, sm_endpoint_count, cache_at_rest, cache_in_transit, cache_backups,
    iam_no_admin, iam_wildcards, iam_data_scoped, iam_trust, vpc_endpoints, trail_secure, trail_present, log_group_kms, log_group_retention, vpc_flow_logs,
)
