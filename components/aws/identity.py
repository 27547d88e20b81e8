"""One IAM role per workload (IRSA), each trusted by exactly one Kubernetes service account, and the binder."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from aienv import conventions as c
from aienv import naming
from aienv.spec.model import ModelEndpoint
from aienv.workloads import Workload, workloads
from components.aws._common import AwsEnv, child, policy_json
from components.aws.cluster import irsa_trust
from components.contracts import BoundIdentity

ROLE_ARN_ANNOTATION = "eks.amazonaws.com/role-arn"
READ_OBJECTS = ["s3:GetObject", "s3:GetObjectVersion"]
# `aws s3 sync` into a prefix: uploads (multipart for weights), reads to compare, and cleanup of failed parts.
WRITE_OBJECTS = ["s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"]
# The Feast registry file: read, rewritten by `feast apply`, removed by `feast teardown`.
REGISTRY_OBJECTS = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
# The Feast registry in the feature-offline bucket (components.contracts.CloudFoundation.feature_registry_uri).
FEAST_PREFIX = "feast/"
FEAST_REGISTRY = f"{FEAST_PREFIX}registry.db"
AUTOSCALER_DESCRIBE = ["autoscaling:DescribeAutoScalingGroups", "autoscaling:DescribeAutoScalingInstances",
                       "autoscaling:DescribeLaunchConfigurations", "autoscaling:DescribeScalingActivities",
                       "autoscaling:DescribeTags", "ec2:DescribeImages", "ec2:DescribeInstanceTypes",
                       "ec2:DescribeLaunchTemplateVersions", "ec2:GetInstanceTypesFromInstanceRequirements"]


@dataclass(frozen=True)
class IdentityArgs:
    env: AwsEnv
    oidc_provider_arn: pulumi.Input[str]
    oidc_issuer: pulumi.Input[str]  # without https://
    model_bucket_arn: pulumi.Input[str]
    training_bucket_arn: pulumi.Input[str]
    data_key_arn: pulumi.Input[str] | None
    offline_bucket_arn: pulumi.Input[str] | None = None  # holds the Feast registry under `feast/`
    features_key_arn: pulumi.Input[str] | None = None


@dataclass(frozen=True)
class AwsWorkloadBinder:
    """`components.contracts.WorkloadBinder` for IRSA: the role-arn annotation of each bound workload."""

    role_arns: Mapping[str, pulumi.Output[str]]  # workload key -> role ARN
    subjects: Mapping[str, tuple[str, str]]  # workload key -> (namespace, service account) the role trusts
    policies: Mapping[str, pulumi.Resource] = field(default_factory=dict)  # workload key -> its inline policy

    def bind(self, workload: Workload) -> BoundIdentity:
        if self.subjects.get(workload.key) != (workload.namespace, workload.service_account):
            raise KeyError(f"no AWS role is bound to {workload.namespace}/{workload.service_account} ({workload.key})")
        policy = self.policies.get(workload.key)
        return BoundIdentity(service_account_annotations={ROLE_ARN_ANNOTATION: self.role_arns[workload.key]},
                             ready=[policy] if policy is not None else [])


class Identity(pulumi.ComponentResource):
    """`aienv:aws:Identity`: a role per `aienv.workloads.workloads(spec)` entry with a scoped inline policy."""

    roles: dict[str, aws.iam.Role]
    binder: AwsWorkloadBinder
    ready: list[pulumi.Resource]  # the roles' policies: pods that start before them get AccessDenied

    def __init__(self, name: str, args: IdentityArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aienv:aws:Identity", name, None, opts)
        env = args.env
        spec = env.spec
        self.roles = {}
        self.ready = []
        subjects: dict[str, tuple[str, str]] = {}
        policies: dict[str, pulumi.Resource] = {}
        for workload in workloads(spec):
            role = aws.iam.Role(f"{name}-{workload.key}", aws.iam.RoleArgs(
                name_prefix=naming.aws_prefix(naming.AWS_IAM_ROLE_PREFIX, spec.name, workload.key),
                description=f"{workload.kind} workload {workload.key} of {spec.name} "
                            f"({workload.namespace}/{workload.service_account})",
                assume_role_policy=irsa_trust(args.oidc_provider_arn, args.oidc_issuer, workload.namespace,
                                              workload.service_account),
                max_session_duration=3600,
                tags=env.tags(workload.key, **{"aienv-workload": workload.key}),
            ), child(self))
            statements = _permissions(env, workload, args)
            if statements:
                policies[workload.key] = aws.iam.RolePolicy(f"{name}-{workload.key}-access", aws.iam.RolePolicyArgs(
                    role=role.id, name=f"{workload.kind}-access", policy=policy_json(statements)), child(self))
                self.ready.append(policies[workload.key])
            self.roles[workload.key] = role
            subjects[workload.key] = (workload.namespace, workload.service_account)

        self.binder = AwsWorkloadBinder(role_arns={k: r.arn for k, r in self.roles.items()}, subjects=subjects,
                                        policies=policies)
        self.register_outputs({"roles": {k: r.arn for k, r in self.roles.items()}})


def _permissions(env: AwsEnv, workload: Workload, args: IdentityArgs) -> list[dict[str, Any]]:
    spec = env.spec
    broad = spec.security.workload_permissions == "broad"
    if workload.kind == "cluster-autoscaler":
        return _autoscaler(env)
    if broad:
        # `security.workload_permissions: broad`: service-wide read, flagged by the packs.
        statements: list[dict[str, Any]] = [
            {"Sid": "BroadS3Read", "Effect": "Allow", "Action": [*READ_OBJECTS, "s3:ListBucket"], "Resource": "*"},
            {"Sid": "BroadKmsDecrypt", "Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": "*"},
        ]
        return statements

    endpoint = spec.model_endpoints[[e.name for e in spec.model_endpoints].index(workload.endpoint)] \
        if workload.endpoint else None
    if workload.kind == "serving" and endpoint is not None:
        prefixes = model_prefixes(endpoint)
        statements = [
            {"Sid": "ReadModelArtifacts", "Effect": "Allow", "Action": READ_OBJECTS,
             "Resource": [pulumi.Output.concat(args.model_bucket_arn, "/", p, "*") for p in prefixes]},
            _list(args.model_bucket_arn, prefixes, "ListModelPrefix"),
        ]
        return statements + _decrypt(env, args.data_key_arn)
    if workload.kind == "model-import" and endpoint is not None:
        return _model_import(env, endpoint, args)
    if workload.kind == "drift-monitor" and workload.endpoint is not None:
        # The job reads its endpoint's samples and pushes scores to the in-cluster Pushgateway: no AWS writes.
        prefix = c.drift_data_prefix(workload.endpoint)
        statements = [
            {"Sid": "ReadDriftSamples", "Effect": "Allow", "Action": READ_OBJECTS,
             "Resource": pulumi.Output.concat(args.training_bucket_arn, "/", prefix, "*")},
            _list(args.training_bucket_arn, [prefix], "ListDriftSamples"),
        ]
        return statements + _decrypt(env, args.data_key_arn)
    if workload.kind == "feature-server":
        # Feast serves from Redis (a password, no IAM) and keeps its registry in the feature-offline bucket:
        # read and write exactly `feast/` there, nothing else.
        if args.offline_bucket_arn is None:
            return []
        return [
            {"Sid": "FeastRegistry", "Effect": "Allow", "Action": REGISTRY_OBJECTS,
             "Resource": pulumi.Output.concat(args.offline_bucket_arn, "/", FEAST_PREFIX, "*")},
            _list(args.offline_bucket_arn, [FEAST_PREFIX], "ListFeastRegistry"),
            *_decrypt(env, args.features_key_arn, write=True),
        ]
    return []


def _model_import(env: AwsEnv, endpoint: ModelEndpoint, args: IdentityArgs) -> list[dict[str, Any]]:
    """Writes exactly its endpoint's model version folders, reads only its token secret and its source path."""
    prefixes = model_prefixes(endpoint)
    statements: list[dict[str, Any]] = [
        {"Sid": "WriteModelVersions", "Effect": "Allow", "Action": WRITE_OBJECTS,
         "Resource": [pulumi.Output.concat(args.model_bucket_arn, "/", p, "*") for p in prefixes]},
        _list(args.model_bucket_arn, prefixes, "ListModelVersions"),
        *_decrypt(env, args.data_key_arn, write=True),
    ]
    source = endpoint.model.source
    if source is not None and source.token_secret:
        statements.append({"Sid": "ReadTokenSecret", "Effect": "Allow", "Action": "secretsmanager:GetSecretValue",
                           "Resource": secret_arn(env, source.token_secret)})
    if source is not None and source.uri and source.uri.startswith("s3://"):
        bucket, _, key = source.uri.removeprefix("s3://").partition("/")
        bucket_arn = f"arn:{env.partition}:s3:::{bucket}"
        statements += [
            {"Sid": "ReadSource", "Effect": "Allow", "Action": READ_OBJECTS, "Resource": f"{bucket_arn}/{key}*"},
            _list(bucket_arn, [key], "ListSource"),
        ]
    return statements


def secret_arn(env: AwsEnv, secret: str) -> pulumi.Input[str]:
    """The ARN of a Secrets Manager secret given by ARN or by name. A name matches its ARN through the six random
    characters Secrets Manager appends ("-??????", Secrets Manager user guide, "Resource: secret ARN" in
    identity-based policies), so the grant names exactly that secret, not every secret with that prefix."""
    if secret.startswith("arn:"):
        return secret
    return env.arn("secretsmanager", f"secret:{secret}-??????")


def _list(bucket_arn: pulumi.Input[str], prefixes: list[str], sid: str) -> dict[str, Any]:
    return {"Sid": sid, "Effect": "Allow", "Action": "s3:ListBucket", "Resource": bucket_arn,
            "Condition": {"StringLike": {"s3:prefix": [f"{p}*" for p in prefixes]}}}


def model_prefixes(endpoint: ModelEndpoint) -> list[str]:
    """The model version folders of an endpoint: its artifact path and, with a canary, the canary's (the same
    `aienv.conventions.canary_artifact_path` the serving pods read)."""
    base = endpoint.model.artifact_path or f"models/{endpoint.name}/{endpoint.model.version}/"
    prefixes = [base]
    if endpoint.canary is not None:
        canary = c.canary_artifact_path(base, endpoint.name, endpoint.model.version, endpoint.canary.version)
        if canary not in prefixes:
            prefixes.append(canary)
    return prefixes


def _decrypt(env: AwsEnv, key_arn: pulumi.Input[str] | None, *, write: bool = False) -> list[dict[str, Any]]:
    """The bucket key through S3 only: decrypt to read; also generate data keys to write (S3 uploads, and
    multipart uploads decrypt their parts)."""
    if key_arn is None:
        return []
    actions: str | list[str] = ["kms:Decrypt", "kms:GenerateDataKey"] if write else "kms:Decrypt"
    return [{"Sid": "UseKeyThroughS3" if write else "DecryptThroughS3", "Effect": "Allow", "Action": actions,
             "Resource": key_arn, "Condition": {"StringEquals": {"kms:ViaService": env.service("s3.{region}")}}}]


def _autoscaler(env: AwsEnv) -> list[dict[str, Any]]:
    cluster = env.cluster_name
    return [
        {"Sid": "ScaleOwnNodeGroups", "Effect": "Allow",
         "Action": ["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"],
         "Resource": env.arn("autoscaling", "autoScalingGroup:*:autoScalingGroupName/*"),
         "Condition": {"StringEquals": {f"aws:ResourceTag/k8s.io/cluster-autoscaler/{cluster}": "owned",
                                        "aws:ResourceTag/k8s.io/cluster-autoscaler/enabled": "true"}}},
        {"Sid": "DescribeScalingState", "Effect": "Allow", "Action": AUTOSCALER_DESCRIBE, "Resource": "*"},
        {"Sid": "DescribeOwnNodeGroups", "Effect": "Allow", "Action": "eks:DescribeNodegroup",
         "Resource": env.arn("eks", f"nodegroup/{cluster}/*/*")},
    ]
