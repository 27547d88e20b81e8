"""Storage: a bucket per purpose, CMEK, uniform access, public access prevention, versioning, lifecycle,
usage logs to the access-log bucket; `public_read` and `deletion_protection` change exactly that."""

from __future__ import annotations

from aienv.spec.model import BucketPurpose, Environment
from tests.gcp.gcpplan import inputs, plan_gcp, variant

BUCKET = "gcp:storage/bucket:Bucket"
MEMBER = "gcp:storage/bucketIAMMember:BucketIAMMember"


def buckets(plan):
    return {r.name.split("-storage-")[1]: r for r in plan.of_type(BUCKET)}


def test_one_bucket_per_purpose(prod):
    assert set(buckets(prod)) == {p.value.replace("_", "-") for p in BucketPurpose}


def test_buckets_are_encrypted_private_versioned_and_protected(prod):
    for name, bucket in buckets(prod).items():
        b = inputs(bucket)
        assert b["encryption"]["defaultKmsKeyName"].endswith("/cryptoKeys/storage")
        assert b["uniformBucketLevelAccess"] is True
        assert b["publicAccessPrevention"] == "enforced"
        # The audit archive keeps its objects under a retention policy, which excludes versioning.
        assert b["versioning"] == {"enabled": name != "logs"}
        assert ("retentionPolicy" in b) == (name == "logs")
        assert b["forceDestroy"] is False and b["deletionPolicy"] == "PREVENT"
        assert bucket.protect and bucket.retain_on_delete
    assert not [m for m in prod.of_type(MEMBER) if inputs(m).get("member") in ("allUsers", "allAuthenticatedUsers")]


def test_usage_logs_go_to_the_access_log_bucket(prod):
    by = buckets(prod)
    log_bucket = inputs(by["access-logs"])["name"]
    for purpose, bucket in by.items():
        if purpose != "access-logs":
            assert inputs(bucket)["logging"]["logBucket"] == log_bucket
    writers = [inputs(m) for m in prod.of_type(MEMBER) if inputs(m)["bucket"] == log_bucket]
    assert {"member": "group:cloud-storage-analytics@google.com", "role": "roles/storage.objectCreator",
            "bucket": log_bucket} in writers


def test_lifecycle_follows_retention(prod):
    rules = inputs(buckets(prod)["training-data"])["lifecycleRules"]
    assert {"action": {"type": "Delete"}, "condition": {"age": 730, "withState": "ANY"}} in rules
    model_rules = inputs(buckets(prod)["model-artifacts"])["lifecycleRules"]
    assert all("age" not in r["condition"] for r in model_rules)  # not in retention_days: kept
    assert any(r["condition"].get("daysSinceNoncurrentTime") == 30 for r in model_rules)


def _archive(plan):
    b = inputs(buckets(plan)["logs"])
    return b.get("retentionPolicy"), b["versioning"], [r["condition"]["age"] for r in b["lifecycleRules"]
                                                      if "age" in r["condition"]]


def test_audit_archive_keeps_every_log_for_the_log_retention_locked_in_prod(prod):
    # C1: no audit log in the archive can be deleted or replaced before `monitoring.log_retention_days`; the lock
    # (irreversible, Cloud Storage "Bucket Lock") only in a protected prod environment.
    assert _archive(prod) == ({"retentionPeriod": str(365 * 86400), "isLocked": True}, {"enabled": False}, [365])


def test_audit_archive_retention_follows_the_log_retention():
    def longer(s):
        s.monitoring.log_retention_days = 2190  # six years (HIPAA)
    assert _archive(plan_gcp(variant(longer), "log-retention-2190")) == (
        {"retentionPeriod": str(2190 * 86400), "isLocked": True}, {"enabled": False}, [2190])


def test_audit_archive_is_locked_only_in_a_protected_prod_environment():
    staging = plan_gcp(variant(lambda s: setattr(s, "environment", Environment.staging)), "staging-archive")
    assert _archive(staging)[0] == {"retentionPeriod": str(365 * 86400), "isLocked": False}
    unprotected = plan_gcp(variant(lambda s: setattr(s.security, "deletion_protection", False)), "no-protection")
    assert _archive(unprotected)[0] == {"retentionPeriod": str(365 * 86400), "isLocked": False}


def test_no_audit_logs_no_retention_policy():
    plan = plan_gcp(variant(lambda s: setattr(s.security, "audit_logs", False)), "no-audit-archive")
    assert _archive(plan) == (None, {"enabled": True}, [365])


def test_public_read_opens_exactly_that_bucket():
    spec = variant(lambda s: setattr(s.storage, "public_read", [BucketPurpose.model_artifacts]))
    plan = plan_gcp(spec, "public-read")
    by = buckets(plan)
    assert inputs(by["model-artifacts"])["publicAccessPrevention"] == "inherited"
    assert inputs(by["training-data"])["publicAccessPrevention"] == "enforced"
    public = [inputs(m) for m in plan.of_type(MEMBER) if inputs(m).get("member") == "allUsers"]
    assert public == [{"bucket": inputs(by["model-artifacts"])["name"], "member": "allUsers",
                       "role": "roles/storage.objectViewer"}]


def test_no_deletion_protection_unprotects_stateful_resources():
    plan = plan_gcp(variant(lambda s: setattr(s.security, "deletion_protection", False)), "no-protection")
    for type_ in (BUCKET, "gcp:artifactregistry/repository:Repository", "gcp:bigquery/dataset:Dataset",
                  "gcp:redis/instance:Instance", "gcp:vertex/aiFeatureOnlineStore:AiFeatureOnlineStore",
                  "gcp:kms/cryptoKey:CryptoKey"):
        for r in plan.of_type(type_):
            assert not r.protect, r.name
            assert inputs(r).get("deletionPolicy") in ("DELETE", "ABANDON"), r.name
    assert inputs(plan.one("gcp:container/cluster:Cluster"))["deletionProtection"] is False
    assert inputs(plan.one("gcp:redis/instance:Instance"))["deletionProtection"] is False


def test_offline_bucket_only_with_an_offline_store():
    plan = plan_gcp(variant(lambda s: setattr(s.feature_store, "enabled", False)), "no-features")
    assert "feature-offline" not in buckets(plan)
