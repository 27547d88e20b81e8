"""The AWS side of the MLOps loop: what the capture writers and retraining triggers may do, the role the
retraining pipelines run as, and the `MlopsSupport` the Kubernetes layer uses.

The workloads' IRSA roles are made by `Identity` (one per `aienv.workloads` entry, trusted by exactly its service
account); this component adds their permissions:
- `capture-<endpoint>`: `s3:PutObject` on `drift/<endpoint>/recent/*` of the training-data bucket and
  `kms:GenerateDataKey` on the data key through S3 ("To upload an object encrypted with an AWS KMS key, you need
  kms:GenerateDataKey permissions on the key", Amazon S3 User Guide, "Using server-side encryption with AWS KMS
  keys"): no read, list or delete.
- `retrain-<endpoint>`: `sagemaker:StartPipelineExecution` on exactly the endpoint's pipeline.
And per endpoint with `retraining`, the role `<env>-<endpoint>-pipeline` for the team's SageMaker pipeline to
run as (trusted by SageMaker in this account): read the endpoint's `drift/` and `training/` data, write new
versions under `models/<endpoint>/`, register them in the endpoint's model package group, write its job logs.
Its ARN is the output `pipelineRoles`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from aienv import conventions as c
from aienv import naming
from aienv.spec.model import StackSpec
from components.aws._common import AwsEnv, child, policy_json
from components.aws.mlops_support import mlops_support
from components.contracts import MlopsSupport

READ = ["s3:GetObject", "s3:GetObjectVersion"]


def training_prefix(endpoint: str) -> str:
    """Where a retraining pipeline reads the endpoint's curated training data (beside its drift samples)."""
    return f"training/{endpoint}/"


def capture_lifecycle_rules(spec: StackSpec) -> list[aws.s3.BucketLifecycleConfigurationRuleArgs]:
    """Lifecycle rules of the training-data bucket that expire each endpoint's captured samples after
    `capture.retention_days` (and their non-current versions a day later)."""
    return [aws.s3.BucketLifecycleConfigurationRuleArgs(
        id=f"capture-{ep.name}"[:255], status="Enabled",
        filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=c.capture_prefix(ep.name)),
        expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(days=ep.capture.retention_days),
        noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
            noncurrent_days=1))
        for ep in spec.model_endpoints if ep.capture.enabled]


def pipeline_arns(env: AwsEnv, pipeline: str) -> list[pulumi.Input[str]]:
    """The pipeline's ARN as given, or built from its name (and its lower-case form: SageMaker writes resource
    names in ARNs in lower case)."""
    if pipeline.startswith("arn:"):
        return [pipeline]
    names = sorted({pipeline, pipeline.lower()})
    return [env.arn("sagemaker", f"pipeline/{n}") for n in names]


@dataclass(frozen=True)
class AwsMlopsArgs:
    env: AwsEnv
    roles: Mapping[str, aws.iam.Role]  # workload key -> its IRSA role (components/aws/identity.py)
    training_bucket_arn: pulumi.Input[str]
    model_bucket_arn: pulumi.Input[str]
    data_key_arn: pulumi.Input[str] | None  # None: SSE-S3
    model_package_groups: Mapping[str, aws.sagemaker.ModelPackageGroup]  # endpoint -> its group


class AwsMlops(pulumi.ComponentResource):
    """`aienv:aws:Mlops`: capture and trigger permissions, retraining pipeline roles, the Kubernetes side's support."""

    support: MlopsSupport

    def __init__(self, name: str, args: AwsMlopsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aienv:aws:Mlops", name, None, opts)
        env, spec = args.env, args.env.spec
        via_s3 = {"StringEquals": {"kms:ViaService": env.service("s3.{region}")}}
        broad = spec.security.workload_permissions == "broad"  # service-wide read already
        self.pipeline_roles: dict[str, aws.iam.Role] = {}
        grants: dict[str, list[pulumi.Resource]] = {}
        for ep in spec.model_endpoints:
            capture = args.roles.get(f"capture-{ep.name}")
            if capture is not None:
                statements: list[dict[str, Any]] = [
                    {"Sid": "PutCapturedSamples", "Effect": "Allow", "Action": "s3:PutObject",
                     "Resource": pulumi.Output.concat(args.training_bucket_arn, "/", c.capture_prefix(ep.name), "*")}]
                if args.data_key_arn is not None:
                    statements.append({"Sid": "EncryptThroughS3", "Effect": "Allow", "Action": "kms:GenerateDataKey",
                                       "Resource": args.data_key_arn, "Condition": via_s3})
                grants.setdefault(ep.name, []).append(aws.iam.RolePolicy(f"{name}-capture-{ep.name}", aws.iam.RolePolicyArgs(
                    role=capture.id, name="inference-capture-write", policy=policy_json(statements)), child(self)))
            serving = args.roles.get(f"serving-{ep.name}")
            if serving is not None and ep.rollout is not None and not broad:
                # A rollout's stable pods read the previous version until the new one is promoted (a restart, a
                # scale-up): read every version folder of this endpoint, nothing else.
                prefixes = c.model_versions_prefixes(
                    ep.model.artifact_path or f"models/{ep.name}/{ep.model.version}/", ep.name, ep.model.version)
                statements = [
                    {"Sid": "ReadModelVersions", "Effect": "Allow", "Action": READ,
                     "Resource": [pulumi.Output.concat(args.model_bucket_arn, "/", p, "*") for p in prefixes]},
                    {"Sid": "ListModelVersions", "Effect": "Allow", "Action": "s3:ListBucket",
                     "Resource": args.model_bucket_arn,
                     "Condition": {"StringLike": {"s3:prefix": [f"{p}*" for p in prefixes]}}}]
                if args.data_key_arn is not None:
                    statements.append({"Sid": "DecryptThroughS3", "Effect": "Allow", "Action": "kms:Decrypt",
                                       "Resource": args.data_key_arn, "Condition": via_s3})
                grants.setdefault(ep.name, []).append(aws.iam.RolePolicy(f"{name}-rollout-{ep.name}", aws.iam.RolePolicyArgs(
                    role=serving.id, name="rollout-model-versions", policy=policy_json(statements)), child(self)))
            trigger = args.roles.get(f"retrain-{ep.name}")
            if trigger is None or ep.retraining is None:
                continue
            grants.setdefault(ep.name, []).append(aws.iam.RolePolicy(f"{name}-retrain-{ep.name}", aws.iam.RolePolicyArgs(
                role=trigger.id, name="retraining-start", policy=policy_json([
                    {"Sid": "StartThisPipeline", "Effect": "Allow", "Action": "sagemaker:StartPipelineExecution",
                     "Resource": pipeline_arns(env, ep.retraining.pipeline)}])), child(self)))
            self.pipeline_roles[ep.name] = self._pipeline_role(name, ep.name, args, via_s3)
        self.support = mlops_support(spec, grants)
        self.register_outputs({"pipelineRoles": {e: r.arn for e, r in self.pipeline_roles.items()}})

    def _pipeline_role(self, name: str, endpoint: str, args: AwsMlopsArgs,
                       via_s3: Mapping[str, Any]) -> aws.iam.Role:
        env = args.env
        trust = json.dumps({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": env.service("sagemaker")}, "Action": "sts:AssumeRole"}]})
        role = aws.iam.Role(f"{name}-{endpoint}-pipeline", aws.iam.RoleArgs(
            name_prefix=naming.aws_prefix(naming.AWS_IAM_ROLE_PREFIX, env.spec.name, endpoint, "pipe"), description=(
                f"The SageMaker pipeline that retrains {endpoint} of {env.spec.name}"),
            assume_role_policy=pulumi.Output.all(env.account_id).apply(lambda a: _with_account(trust, a[0])),
            max_session_duration=3600, tags=env.tags(f"{endpoint}-pipeline")), child(self))
        models = f"models/{endpoint}/"
        prefixes = [c.drift_data_prefix(endpoint), training_prefix(endpoint)]
        statements: list[dict[str, Any]] = [
            {"Sid": "ReadTrainingData", "Effect": "Allow", "Action": READ,
             "Resource": [pulumi.Output.concat(args.training_bucket_arn, "/", p, "*") for p in prefixes]},
            {"Sid": "ListTrainingData", "Effect": "Allow", "Action": "s3:ListBucket",
             "Resource": args.training_bucket_arn, "Condition": {"StringLike": {"s3:prefix": [f"{p}*" for p in prefixes]}}},
            {"Sid": "WriteModelVersions", "Effect": "Allow", "Action": [*READ, "s3:PutObject"],
             "Resource": pulumi.Output.concat(args.model_bucket_arn, "/", models, "*")},
            {"Sid": "ListModelVersions", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": args.model_bucket_arn,
             "Condition": {"StringLike": {"s3:prefix": [f"{models}*"]}}},
            {"Sid": "JobLogs", "Effect": "Allow",
             "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
             "Resource": env.arn("logs", "log-group:/aws/sagemaker/*")},
        ]
        group = args.model_package_groups.get(endpoint)
        if group is not None:
            statements.append({"Sid": "RegisterVersions", "Effect": "Allow",
                               "Action": ["sagemaker:CreateModelPackage", "sagemaker:DescribeModelPackageGroup"],
                               "Resource": [group.arn, pulumi.Output.concat(
                                   env.arn("sagemaker", "model-package/"), group.model_package_group_name, "/*")]})
        if args.data_key_arn is not None:
            statements.append({"Sid": "DataKeyThroughS3", "Effect": "Allow",
                               "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": args.data_key_arn,
                               "Condition": via_s3})
        aws.iam.RolePolicy(f"{name}-{endpoint}-pipeline-access", aws.iam.RolePolicyArgs(
            role=role.id, name="retraining-pipeline", policy=policy_json(statements)), child(self))
        return role


def _with_account(trust: str, account: str) -> str:
    """The SageMaker trust limited to this account's jobs (confused deputy: `aws:SourceAccount`)."""
    doc = json.loads(trust)
    doc["Statement"][0]["Condition"] = {"StringEquals": {"aws:SourceAccount": account}}
    return json.dumps(doc)


def aws_mlops(name: str, env: AwsEnv, identity: Any, storage: Any, keys: Any, registries: Any,
              opts: pulumi.ResourceOptions) -> MlopsSupport:
    """The foundation's wiring: `AwsMlops` from its Identity, Storage, Keys and Registries components."""
    from aienv.spec.model import BucketPurpose

    buckets = storage.buckets
    return AwsMlops(name, AwsMlopsArgs(
        env=env, roles=identity.roles, training_bucket_arn=buckets[BucketPurpose.training_data].arn,
        model_bucket_arn=buckets[BucketPurpose.model_artifacts].arn, data_key_arn=keys.arn("data"),
        model_package_groups=registries.model_package_groups), opts).support
