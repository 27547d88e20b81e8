"""`aienv:gcp:Storage`: one Cloud Storage bucket per purpose, encrypted with the storage key, private,
versioned, expiring by retention and logging usage to the access-log bucket. The audit-log archive (`logs`, with
`security.audit_logs`) holds its objects under a retention policy instead of versions, locked in prod."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
from pulumi_gcp import storage

from aienv import conventions as c
from aienv.spec.model import BucketPurpose, Environment, StackSpec
from components.gcp import common

NONCURRENT_DAYS = 30
# GCS usage/storage logs are written by this Google group; with uniform access it needs objectCreator.
USAGE_LOG_WRITER = "group:cloud-storage-analytics@google.com"
SECONDS_PER_DAY = 86400


def audit_retention(spec: StackSpec) -> storage.BucketRetentionPolicyArgs | None:
    """The audit-log archive's retention policy: no object is deleted or replaced before it is
    `monitoring.log_retention_days` old, what Cloud Logging keeps (Cloud Storage, "Bucket Lock": "When a bucket
    retention policy is set, objects in the bucket can only be deleted or replaced once their age is greater than
    the retention period"). Locked in a protected prod environment only: "Once you lock a policy, you cannot
    remove it or reduce the retention period it has", and the bucket cannot be deleted before every object is
    that old. None without audit logs (nothing is archived)."""
    if not spec.security.audit_logs:
        return None
    return storage.BucketRetentionPolicyArgs(
        retention_period=str(spec.monitoring.log_retention_days * SECONDS_PER_DAY),
        is_locked=spec.environment is Environment.prod and spec.security.deletion_protection)


def bucket_purposes(spec: StackSpec) -> list[BucketPurpose]:
    """The buckets this spec needs: the feature-offline bucket (Feast's registry, offline exports) only with a
    feature store."""
    return [p for p in BucketPurpose
            if p is not BucketPurpose.feature_offline or common.feature_store_on(spec)]


@dataclass(frozen=True)
class StorageArgs:
    spec: StackSpec
    keys: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)  # empty: Google-managed encryption
    after: Sequence[pulumi.Resource] = ()  # API enablement and key grants


class Storage(pulumi.ComponentResource):
    buckets: dict[BucketPurpose, storage.Bucket]

    def __init__(self, name: str, args: StorageArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aienv:gcp:Storage", name, None, opts)
        spec = args.spec
        protect = spec.security.deletion_protection
        key = args.keys.get(common.KEY_STORAGE)
        self.buckets = {}

        # The access-log bucket first: every other bucket logs to it.
        ordered = sorted(bucket_purposes(spec), key=lambda p: p is not BucketPurpose.access_logs)
        for purpose in ordered:
            role = purpose.value.replace("_", "-")
            public = purpose in spec.storage.public_read
            rules = [storage.BucketLifecycleRuleArgs(
                action=storage.BucketLifecycleRuleActionArgs(type="Delete"),
                condition=storage.BucketLifecycleRuleConditionArgs(
                    days_since_noncurrent_time=NONCURRENT_DAYS, with_state="ARCHIVED"))]
            days = spec.storage.retention_days.get(purpose)
            retention = audit_retention(spec) if purpose is BucketPurpose.logs else None
            if retention is not None:
                # Expire the archive once its retention has passed, never before.
                days = max(days or 0, spec.monitoring.log_retention_days)
            if days is not None:
                rules.append(storage.BucketLifecycleRuleArgs(
                    action=storage.BucketLifecycleRuleActionArgs(type="Delete"),
                    condition=storage.BucketLifecycleRuleConditionArgs(age=days, with_state="ANY")))
            if purpose is BucketPurpose.training_data:
                # Each endpoint's captured samples expire after `capture.retention_days` ("matchesPrefix: ...
                # the condition is satisfied if the object's name starts with one of the prefixes", Cloud
                # Storage, Object Lifecycle Management).
                rules += [storage.BucketLifecycleRuleArgs(
                    action=storage.BucketLifecycleRuleActionArgs(type="Delete"),
                    condition=storage.BucketLifecycleRuleConditionArgs(
                        age=ep.capture.retention_days, with_state="ANY", matches_prefixes=[c.capture_prefix(ep.name)]))
                    for ep in spec.model_endpoints if ep.capture.enabled]
            log_bucket = self.buckets.get(BucketPurpose.access_logs)
            self.buckets[purpose] = storage.Bucket(f"{name}-{role}", storage.BucketArgs(
                name=common.physical_name(spec, role, 63), location=spec.region.upper(),
                project=spec.cloud.project, storage_class="STANDARD",
                uniform_bucket_level_access=True,
                # `inherited` lets the explicit allUsers grant below work; everything else is enforced.
                public_access_prevention="inherited" if public else "enforced",
                encryption=storage.BucketEncryptionArgs(default_kms_key_name=key) if key is not None else None,
                # "Object Versioning cannot be enabled on a bucket that currently has a retention policy"
                # (Cloud Storage, "Object Versioning"): the archive's objects cannot be replaced or deleted anyway.
                versioning=storage.BucketVersioningArgs(enabled=spec.storage.versioning and retention is None),
                retention_policy=retention,
                lifecycle_rules=rules,
                logging=storage.BucketLoggingArgs(log_bucket=log_bucket.name, log_object_prefix=role)
                if log_bucket is not None else None,
                force_destroy=False,
                deletion_policy="PREVENT" if protect else "DELETE",
                labels=common.labels(spec, {"purpose": role})),
                pulumi.ResourceOptions(parent=self, protect=protect, retain_on_delete=protect,
                                       depends_on=list(args.after), delete_before_replace=True))
            if purpose is BucketPurpose.access_logs:
                storage.BucketIAMMember(f"{name}-{role}-usage-writer", storage.BucketIAMMemberArgs(
                    bucket=self.buckets[purpose].name, role="roles/storage.objectCreator",
                    member=USAGE_LOG_WRITER), pulumi.ResourceOptions(parent=self))
            if public:
                storage.BucketIAMMember(f"{name}-{role}-public-read", storage.BucketIAMMemberArgs(
                    bucket=self.buckets[purpose].name, role="roles/storage.objectViewer", member="allUsers"),
                    pulumi.ResourceOptions(parent=self))

        self.model_bucket = self.buckets[BucketPurpose.model_artifacts]
        self.data_bucket = self.buckets[BucketPurpose.training_data]
        self.register_outputs({p.value: b.url for p, b in self.buckets.items()})
