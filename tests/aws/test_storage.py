"""Storage: a bucket per purpose, each encrypted, versioned, private, TLS-only, logged and on a lifecycle."""

from __future__ import annotations

from aienv.spec.model import BucketPurpose

from .awsplan import AwsPlan, statements

PURPOSES = {"training_data", "model_artifacts", "feature_offline", "logs", "access_logs"}


def _bucket(plan: AwsPlan, purpose: str):
    return next(b for b in plan.of("Bucket") if b.inputs["tags"]["aienv-bucket-purpose"] == purpose)


def _companion(plan: AwsPlan, kind: str, bucket) -> dict:
    found = [r for r in plan.of(kind) if r.inputs["bucket"] == bucket.outputs["bucket"]]
    assert len(found) == 1, f"{kind} of {bucket.name}"
    return found[0].inputs


def test_one_protected_bucket_per_purpose(prod: AwsPlan) -> None:
    buckets = prod.of("Bucket")
    assert {b.inputs["tags"]["aienv-bucket-purpose"] for b in buckets} == PURPOSES
    for b in buckets:
        assert b.protect and b.retain_on_delete
        assert "bucket" not in b.inputs and b.inputs["bucketPrefix"].startswith("prod-aws-")
        assert not b.inputs.get("forceDestroy")


def test_every_bucket_is_private_owned_versioned_and_tls_only(prod: AwsPlan) -> None:
    for b in prod.of("Bucket"):
        pab = _companion(prod, "BucketPublicAccessBlock", b)
        assert all(pab[k] is True for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls",
                                           "restrictPublicBuckets"))
        assert _companion(prod, "BucketOwnershipControls", b)["rule"]["objectOwnership"] == "BucketOwnerEnforced"
        assert _companion(prod, "BucketVersioning", b)["versioningConfiguration"]["status"] == "Enabled"
        policy = next(r for r in prod.of("BucketPolicy") if r.inputs["bucket"] == b.outputs["bucket"])
        deny = next(s for s in statements(policy) if s["Sid"] == "DenyInsecureTransport")
        assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        assert not any(s["Effect"] == "Allow" and s["Principal"] == "*" for s in statements(policy))


def test_data_buckets_use_kms_with_bucket_keys_and_access_logs_use_sse_s3(prod: AwsPlan) -> None:
    for b in prod.of("Bucket"):
        rule = _companion(prod, "BucketServerSideEncryptionConfiguration", b)["rules"][0]
        purpose = b.inputs["tags"]["aienv-bucket-purpose"]
        if purpose == "access_logs":
            # S3 server access logging cannot deliver into an SSE-KMS bucket.
            assert rule["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "AES256"}
        else:
            assert rule["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "aws:kms"
            assert rule["applyServerSideEncryptionByDefault"]["kmsMasterKeyId"].startswith("arn:aws:kms:")
            assert rule["bucketKeyEnabled"] is True


def test_every_bucket_but_the_log_target_logs_access_to_it(prod: AwsPlan) -> None:
    target = _bucket(prod, "access_logs").outputs["bucket"]
    logged = {r.inputs["bucket"] for r in prod.of("BucketLogging")}
    assert all(r.inputs["targetBucket"] == target for r in prod.of("BucketLogging"))
    assert logged == {b.outputs["bucket"] for b in prod.of("Bucket")} - {target}


def test_lifecycle_follows_the_spec_retention(prod: AwsPlan) -> None:
    rules = {p: _companion(prod, "BucketLifecycleConfiguration", _bucket(prod, p))["rules"][0] for p in PURPOSES}
    assert rules["training_data"]["expiration"]["days"] == 730
    assert "expiration" not in rules["model_artifacts"]
    assert all(r["noncurrentVersionExpiration"]["noncurrentDays"] == 30 for p, r in rules.items() if p != "logs")
    # C3: the trail's bucket keeps audit logs as long as the log groups (prod-aws: six years for HIPAA), even when
    # `storage.retention_days.logs` says 365, and a deleted log version as long.
    assert prod.spec.storage.retention_days[BucketPurpose.logs] == 365
    assert rules["logs"]["expiration"]["days"] == prod.spec.monitoring.log_retention_days == 2192
    assert rules["logs"]["noncurrentVersionExpiration"]["noncurrentDays"] == 2192


def test_public_read_opens_only_that_bucket_by_policy(variant) -> None:
    plan = variant("dev-aws", {"storage": {"public_read": ["model_artifacts"]}})
    models = _bucket(plan, "model_artifacts")
    pab = _companion(plan, "BucketPublicAccessBlock", models)
    assert pab["blockPublicPolicy"] is False and pab["restrictPublicBuckets"] is False
    assert pab["blockPublicAcls"] is True
    policy = next(r for r in plan.of("BucketPolicy") if r.inputs["bucket"] == models.outputs["bucket"])
    assert any(s["Sid"] == "PublicRead" and s["Principal"] == "*" for s in statements(policy))
    training = _companion(plan, "BucketPublicAccessBlock", _bucket(plan, "training_data"))
    assert training["restrictPublicBuckets"] is True


def test_versioning_off_suspends_it(variant) -> None:
    plan = variant("dev-aws", {"storage": {"versioning": False}})
    assert {r.inputs["versioningConfiguration"]["status"] for r in plan.of("BucketVersioning")} == {"Suspended"}


def test_deletion_protection_off_unprotects_stateful_resources(variant) -> None:
    plan = variant("dev-aws", {"security": {"deletion_protection": False}})
    plan_repos = variant("dev-aws", {"security": {"deletion_protection": False},
                                     "registries": {"container": {"image_families": ["embedder"]}}})
    assert plan_repos.of("Repository") and not any(r.protect for r in plan_repos.of("Repository"))
    for kind in ("Bucket", "Key", "FeatureGroup", "ReplicationGroup", "LogGroup"):
        assert plan.of(kind), kind
        assert not any(r.protect or r.retain_on_delete for r in plan.of(kind)), kind
    assert plan.one("Cluster", "eks").inputs["deletionProtection"] is False
    assert "finalSnapshotIdentifier" not in plan.one("ReplicationGroup").inputs


def test_logs_bucket_lets_only_this_accounts_trails_write(prod: AwsPlan) -> None:
    policy = next(r for r in prod.of("BucketPolicy")
                  if r.inputs["bucket"] == _bucket(prod, "logs").outputs["bucket"])
    write = next(s for s in statements(policy) if s["Sid"] == "CloudTrailWrites")
    assert write["Condition"]["StringEquals"]["aws:SourceAccount"] == "123456789012"
    assert write["Resource"].endswith("/cloudtrail/AWSLogs/123456789012/*")
