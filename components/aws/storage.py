"""S3 buckets by purpose: KMS, versioning, no public access, TLS only, access logging, lifecycle."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from aienv import naming
from aienv.spec.model import BucketPurpose, StackSpec
from components.aws._common import AwsEnv, child, policy_json, stateful
from components.aws.mlops import capture_lifecycle_rules

# Short forms keep `bucket_prefix` within S3's 37-character limit.
_SHORT = {
    BucketPurpose.training_data: "training",
    BucketPurpose.model_artifacts: "models",
    BucketPurpose.feature_offline: "features",
    BucketPurpose.logs: "logs",
    BucketPurpose.access_logs: "access-logs",
}

NONCURRENT_VERSION_DAYS = 30


@dataclass(frozen=True)
class StorageArgs:
    env: AwsEnv
    # Purpose -> KMS key ARN (None: SSE-S3). The access-log bucket always uses SSE-S3: "Server access log records
    # ... the destination bucket ... default encryption ... only SSE-S3" (see docs/aws.md, D7).
    key_arns: Mapping[BucketPurpose, pulumi.Input[str] | None]


class Storage(pulumi.ComponentResource):
    """`aienv:aws:Storage`: one bucket per purpose the spec needs, each with its companion resources."""

    buckets: dict[BucketPurpose, aws.s3.Bucket]

    def __init__(self, name: str, args: StorageArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aienv:aws:Storage", name, None, opts)
        env = args.env
        spec = env.spec
        purposes = [BucketPurpose.access_logs, BucketPurpose.logs, BucketPurpose.training_data,
                    BucketPurpose.model_artifacts]
        if spec.feature_store.enabled:
            # The offline store's data (with `offline_store`) and always the Feast registry under `feast/`.
            purposes.append(BucketPurpose.feature_offline)

        self.buckets = {}
        access_logs: aws.s3.Bucket | None = None
        for purpose in purposes:
            short = _SHORT[purpose]
            rn = f"{name}-{short}"
            bucket = aws.s3.Bucket(rn, aws.s3.BucketArgs(
                bucket_prefix=naming.aws_prefix(naming.AWS_BUCKET_PREFIX, spec.name[:20], short),
                force_destroy=False,
                tags=env.tags(short, **{"aienv-bucket-purpose": purpose.value}),
            ), stateful(self, spec))
            self.buckets[purpose] = bucket
            public = purpose in spec.storage.public_read

            aws.s3.BucketOwnershipControls(f"{rn}-ownership", aws.s3.BucketOwnershipControlsArgs(
                bucket=bucket.id,
                rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
            ), child(self))
            pab = aws.s3.BucketPublicAccessBlock(f"{rn}-public-access", aws.s3.BucketPublicAccessBlockArgs(
                bucket=bucket.id,
                block_public_acls=True,
                ignore_public_acls=True,
                # `storage.public_read` lifts only the policy blocks: reads are granted by the bucket policy.
                block_public_policy=not public,
                restrict_public_buckets=not public,
            ), child(self))

            key_arn = None if purpose is BucketPurpose.access_logs else args.key_arns.get(purpose)
            default = (aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                sse_algorithm="aws:kms", kms_master_key_id=key_arn) if key_arn is not None else
                aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                    sse_algorithm="AES256"))
            aws.s3.BucketServerSideEncryptionConfiguration(
                f"{rn}-encryption", aws.s3.BucketServerSideEncryptionConfigurationInitArgs(
                    bucket=bucket.id,
                    rules=[aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                        apply_server_side_encryption_by_default=default,
                        bucket_key_enabled=key_arn is not None,
                    )],
                ), child(self))
            aws.s3.BucketVersioning(f"{rn}-versioning", aws.s3.BucketVersioningInitArgs(
                bucket=bucket.id,
                versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(
                    status="Enabled" if spec.storage.versioning else "Suspended"),
            ), child(self))
            aws.s3.BucketLifecycleConfiguration(f"{rn}-lifecycle", aws.s3.BucketLifecycleConfigurationArgs(
                bucket=bucket.id, rules=[*_lifecycle_rules(*retention(spec, purpose), spec.storage.versioning),
                                         *(capture_lifecycle_rules(spec)
                                           if purpose is BucketPurpose.training_data else [])],
            ), child(self))
            aws.s3.BucketPolicy(f"{rn}-policy", aws.s3.BucketPolicyArgs(
                bucket=bucket.id,
                policy=policy_json(_bucket_statements(env, purpose, bucket, public)),
            ), child(self, depends_on=[pab]))

            if purpose is BucketPurpose.access_logs:
                access_logs = bucket
            elif access_logs is not None:
                aws.s3.BucketLogging(f"{rn}-access-logging", aws.s3.BucketLoggingInitArgs(
                    bucket=bucket.id, target_bucket=access_logs.id, target_prefix=f"{short}/",
                ), child(self))

        self.register_outputs({p.value: b.bucket for p, b in self.buckets.items()})

    def uri(self, purpose: BucketPurpose) -> pulumi.Output[str]:
        return pulumi.Output.concat("s3://", self.buckets[purpose].bucket)


def retention(spec: StackSpec, purpose: BucketPurpose) -> tuple[int | None, int]:
    """(days before objects expire, days before non-current versions expire) for a bucket.

    The logs bucket holds the CloudTrail audit trail: it keeps objects at least `monitoring.log_retention_days`
    (what the log groups keep, e.g. six years for HIPAA), and a deleted or overwritten log as long as a current one,
    so a deletion does not shorten the audit trail.
    """
    days = spec.storage.retention_days.get(purpose)
    if purpose is BucketPurpose.logs and spec.security.audit_logs:
        days = max(days or 0, spec.monitoring.log_retention_days)
        return days, max(days, NONCURRENT_VERSION_DAYS)
    return days, NONCURRENT_VERSION_DAYS


def _lifecycle_rules(retention: int | None, noncurrent_days: int,
                     versioning: bool) -> list[aws.s3.BucketLifecycleConfigurationRuleArgs]:
    rule = aws.s3.BucketLifecycleConfigurationRuleArgs(
        id="retention",
        status="Enabled",
        filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
        abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
            days_after_initiation=7),
        expiration=(aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(days=retention)
                    if retention is not None else None),
        noncurrent_version_expiration=(
            aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                noncurrent_days=noncurrent_days) if versioning else None),
    )
    return [rule]


def _bucket_statements(env: AwsEnv, purpose: BucketPurpose, bucket: aws.s3.Bucket,
                       public: bool) -> list[dict[str, Any]]:
    objects = pulumi.Output.concat(bucket.arn, "/*")
    statements: list[dict[str, Any]] = [{
        "Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
        "Resource": [bucket.arn, objects], "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }]
    if purpose is BucketPurpose.access_logs:
        statements.append({
            "Sid": "S3ServerAccessLogsFromThisAccount", "Effect": "Allow",
            "Principal": {"Service": env.service("logging.s3")}, "Action": "s3:PutObject", "Resource": objects,
            "Condition": {"StringEquals": {"aws:SourceAccount": env.account_id}},
        })
    if purpose is BucketPurpose.logs and env.spec.security.audit_logs:
        trails = pulumi.Output.concat("arn:", env.partition, ":cloudtrail:", env.region, ":", env.account_id,
                                      ":trail/*")
        statements += [
            {"Sid": "CloudTrailChecksAcl", "Effect": "Allow", "Principal": {"Service": env.service("cloudtrail")},
             "Action": "s3:GetBucketAcl", "Resource": bucket.arn,
             "Condition": {"StringEquals": {"aws:SourceAccount": env.account_id},
                           "ArnLike": {"aws:SourceArn": trails}}},
            {"Sid": "CloudTrailWrites", "Effect": "Allow", "Principal": {"Service": env.service("cloudtrail")},
             "Action": "s3:PutObject",
             "Resource": pulumi.Output.concat(bucket.arn, "/cloudtrail/AWSLogs/", env.account_id, "/*"),
             "Condition": {"StringEquals": {"aws:SourceAccount": env.account_id,
                                            "s3:x-amz-acl": "bucket-owner-full-control"},
                           "ArnLike": {"aws:SourceArn": trails}}},
        ]
    if public:
        statements.append({"Sid": "PublicRead", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                           "Resource": objects})
    return statements
