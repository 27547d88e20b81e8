"""Storage: a bucket per purpose, CMEK, uniform access, public access prevention, versioning, lifecycle,
usage logs to the access-log bucket; `public_read` and `deletion_protection` change exactly that."""

from __future__ import annotations

from aienv.spec.model import BucketPurpose
from tests.gcp.gcpplan import inputs, plan_gcp, variant

BUCKET = "gcp:storage/bucket:Bucket"
MEMBER = "gcp:storage/bucketIAMMember:BucketIAMMember"


def buckets(plan):
    return {r.name.split("-storage-")[1]: r for r in plan.of_type(BUCKET)}


def test_one_bucket_per_purpose(prod):
    assert set(buckets(prod)) == {p.value.replace("_", "-") for p in BucketPurpose}


def test_buckets_are_encrypted_private_versioned_and_protected(prod):
    for bucket in prod.of_type(BUCKET):
        b = inputs(bucket)
        assert b["encryption"]["defaultKmsKeyName"].endswith("/cryptoKeys/storage")
        assert b["uniformBucketLevelAccess"] is True
        assert b["publicAccessPrevention"] == "enforced"
        assert b["versioning"] == {"enabled": True}
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
