"""One IAM role per workload (IRSA), each trusted by exactly one Kubernetes service account, and the binder."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from aienv import conventions as c
from aienv.spec.model import ModelEndpoint
from aienv.workloads import Workload, workloads
from components.aws._common import AwsEnv, child, policy_json
from components.aws.cluster import irsa_trust
from components.contracts import BoundIdentity

ROLE_ARN_ANNOTATION = "eks.amazonaws.com/role-arn"
READ_OBJECTS = ["s3:GetObject", "s3:GetObjectVersion"]
FEATURE_RECORDS = ["sagemaker:GetRecord", "sagemaker:BatchGetRecord", "sagemaker:PutRecord",
                   "sagemaker:DeleteRecord", "sagemaker:DescribeFeatureGroup"]
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
    offline_bucket_arn: pulumi.Input[str] | None = None
    features_key_arn: pulumi.Input[str] | None = None
    feature_group_arns: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    redis_arn: pulumi.Input[str] | None = None


@dataclass(frozen=True)
class AwsWorkloadBinder:
    """`components.contracts.WorkloadBinder` for IRSA: the role-arn annotation of each bound workload."""

    role_arns: Mapping[str, pulumi.Output[str]]  # workload key -> role ARN
    subjects: Mapping[str, tuple[str, str]]  # workload key -> (namespace, service account) the role trusts

    def bind(self, workload: Workload) -> BoundIdentity:
        if self.subjects.get(workload.key) != (workload.namespace, workload.service_account):
            raise KeyError(f"no AWS role is bound to {workload.namespace}/{workload.service_account} ({workload.key})")
        return BoundIdentity(service_account_annotations={ROLE_ARN_ANNOTATION: self.role_arns[workload.key]})


class Identity(pulumi.ComponentResource):
    """`aienv:aws:Identity`: a role per `aienv.workloads.workloads(spec)` entry with a scoped inline policy."""

    roles: dict[str, aws.iam.Role]
    binder: AwsWorkloadBinder

    def __init__(self, name: str, args: IdentityArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aienv:aws:Identity", name, None, opts)
        env = args.env
        spec = env.spec
        self.roles = {}
        subjects: dict[str, tuple[str, str]] = {}
        for workload in workloads(spec):
            role = aws.iam.Role(f"{name}-{workload.key}", aws.iam.RoleArgs(
                name_prefix=f"{spec.name[:20]}-{workload.key[:17]}-",
                description=f"{workload.kind} workload {workload.key} of {spec.name} "
                            f"({workload.namespace}/{workload.service_account})",
                assume_role_policy=irsa_trust(args.oidc_provider_arn, args.oidc_issuer, workload.namespace,
                                              workload.service_account),
                max_session_duration=3600,
                tags=env.tags(workload.key, **{"aienv-workload": workload.key}),
            ), child(self))
            statements = _permissions(env, workload, args)
            if statements:
                aws.iam.RolePolicy(f"{name}-{workload.key}-access", aws.iam.RolePolicyArgs(
                    role=role.id, name=f"{workload.kind}-access", policy=policy_json(statements)), child(self))
            self.roles[workload.key] = role
            subjects[workload.key] = (workload.namespace, workload.service_account)

        self.binder = AwsWorkloadBinder(role_arns={k: r.arn for k, r in self.roles.items()}, subjects=subjects)
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
        if workload.kind == "feature-server":
            statements.append({"Sid": "BroadFeatureStore", "Effect": "Allow", "Action": FEATURE_RECORDS,
                               "Resource": "*"})
        return statements

    endpoint = spec.model_endpoints[[e.name for e in spec.model_endpoints].index(workload.endpoint)] \
        if workload.endpoint else None
    if workload.kind == "serving" and endpoint is not None:
        prefixes = model_prefixes(endpoint)
        statements = [
            {"Sid": "ReadModelArtifacts", "Effect": "Allow", "Action": READ_OBJECTS,
             "Resource": [pulumi.Output.concat(args.model_bucket_arn, "/", p, "*") for p in prefixes]},
            {"Sid": "ListModelPrefix", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": args.model_bucket_arn,
             "Condition": {"StringLike": {"s3:prefix": [f"{p}*" for p in prefixes]}}},
        ]
        statements += _decrypt(env, args.data_key_arn)
        return statements
    if workload.kind == "drift-monitor" and workload.endpoint is not None:
        # The job reads its endpoint's samples and pushes scores to the in-cluster Pushgateway: no AWS writes.
        prefix = c.drift_data_prefix(workload.endpoint)
        statements = [
            {"Sid": "ReadDriftSamples", "Effect": "Allow", "Action": READ_OBJECTS,
             "Resource": pulumi.Output.concat(args.training_bucket_arn, "/", prefix, "*")},
            {"Sid": "ListDriftSamples", "Effect": "Allow", "Action": "s3:ListBucket",
             "Resource": args.training_bucket_arn, "Condition": {"StringLike": {"s3:prefix": [f"{prefix}*"]}}},
        ]
        return statements + _decrypt(env, args.data_key_arn)
    if workload.kind == "feature-server":
        statements = []
        if args.feature_group_arns:
            statements.append({"Sid": "FeatureGroupRecords", "Effect": "Allow", "Action": FEATURE_RECORDS,
                               "Resource": list(args.feature_group_arns.values())})
        if args.redis_arn is not None:
            statements.append({"Sid": "DescribeOnlineStore", "Effect": "Allow",
                               "Action": "elasticache:DescribeReplicationGroups", "Resource": args.redis_arn})
        if args.offline_bucket_arn is not None:
            statements += [
                {"Sid": "ReadOfflineStore", "Effect": "Allow", "Action": READ_OBJECTS,
                 "Resource": pulumi.Output.concat(args.offline_bucket_arn, "/*")},
                {"Sid": "ListOfflineStore", "Effect": "Allow", "Action": "s3:ListBucket",
                 "Resource": args.offline_bucket_arn},
            ]
        if args.features_key_arn is not None:
            statements.append({"Sid": "UseFeatureKey", "Effect": "Allow",
                               "Action": ["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"],
                               "Resource": args.features_key_arn})
        return statements
    return []


def model_prefixes(endpoint: ModelEndpoint) -> list[str]:
    """Object prefixes an endpoint reads: its artifact path, plus the canary version's default path."""
    base = endpoint.model.artifact_path or f"models/{endpoint.name}/{endpoint.model.version}/"
    prefixes = [base]
    if endpoint.canary is not None:
        canary = f"models/{endpoint.name}/{endpoint.canary.version}/"
        if canary not in prefixes:
            prefixes.append(canary)
    return prefixes


def _decrypt(env: AwsEnv, key_arn: pulumi.Input[str] | None) -> list[dict[str, Any]]:
    if key_arn is None:
        return []
    return [{"Sid": "DecryptThroughS3", "Effect": "Allow", "Action": "kms:Decrypt", "Resource": key_arn,
             "Condition": {"StringEquals": {"kms:ViaService": env.service("s3.{region}")}}}]


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
