"""Feature store: offline-store feature groups per view (S3 + Glue, KMS) and an encrypted, authenticated Redis,
the one online store."""

from __future__ import annotations

from .awsplan import AwsPlan, is_secret


def test_a_feature_group_per_view_with_an_encrypted_offline_store_only(prod: AwsPlan) -> None:
    groups = {g.inputs["featureGroupName"]: g for g in prod.of("FeatureGroup")}
    assert set(groups) == {"prod-aws-user-profile", "prod-aws-item-stats"}
    offline_bucket = next(b for b in prod.of("Bucket")
                          if b.inputs["tags"]["aienv-bucket-purpose"] == "feature_offline").outputs["bucket"]
    database = prod.one("CatalogDatabase").inputs["name"]
    features_key = next(k.outputs["arn"] for k in prod.of("aws:kms/key:Key")
                        if k.inputs["tags"]["aienv-key-purpose"] == "features")
    for group in groups.values():
        # B3: no SageMaker online store beside Redis (nothing reads it, nothing materializes it into Redis).
        assert "onlineStoreConfig" not in group.inputs
        offline = group.inputs["offlineStoreConfig"]
        assert offline["s3StorageConfig"]["s3Uri"] == f"s3://{offline_bucket}/feature-groups"
        assert offline["s3StorageConfig"]["kmsKeyId"] == features_key
        assert offline["dataCatalogConfig"]["database"] == database
        assert group.inputs["roleArn"].startswith("arn:aws:iam::123456789012:role/")
        assert group.protect and group.delete_before_replace
    profile = groups["prod-aws-user-profile"].inputs
    assert profile["recordIdentifierFeatureName"] == "user_id"
    types = {d["featureName"]: d["featureType"] for d in profile["featureDefinitions"]}
    assert types == {"user_id": "String", "tenure_days": "Integral", "avg_session_minutes": "Fractional",
                     "plan_tier": "String", "event_time": "Fractional"}


def test_views_with_several_entities_get_a_composite_record_key(variant) -> None:
    plan = variant("dev-aws", {"feature_store": {"feature_views": [
        {"name": "pair", "entities": ["user_id", "item_id"], "features": [{"name": "score"}]}]}})
    group = plan.one("FeatureGroup")
    assert group.inputs["recordIdentifierFeatureName"] == "entity_key"
    assert "entity_key" in {d["featureName"] for d in group.inputs["featureDefinitions"]}


def test_prod_redis_is_encrypted_authenticated_highly_available_and_protected(prod: AwsPlan) -> None:
    redis = prod.one("ReplicationGroup")
    i = redis.inputs
    assert i["atRestEncryptionEnabled"] is True and i["kmsKeyId"].startswith("arn:aws:kms:")
    assert i["transitEncryptionEnabled"] is True
    assert is_secret(i["authToken"])
    assert i["multiAzEnabled"] is True and i["automaticFailoverEnabled"] is True and i["numCacheClusters"] == 2
    assert i["snapshotRetentionLimit"] >= 1 and i["finalSnapshotIdentifier"]
    assert i["nodeType"] == "cache.r7g.large"
    assert redis.protect and redis.retain_on_delete
    assert is_secret(prod.outputs["redisPassword"])


def test_dev_redis_is_single_node(dev: AwsPlan) -> None:
    i = dev.one("ReplicationGroup").inputs
    assert i["numCacheClusters"] == 1 and i["multiAzEnabled"] is False and i["automaticFailoverEnabled"] is False


def test_redis_accepts_only_cluster_nodes(prod: AwsPlan) -> None:
    rule = prod.one("SecurityGroupIngressRule", "redis")
    assert rule.inputs["fromPort"] == rule.inputs["toPort"] == 6379
    assert "referencedSecurityGroupId" in rule.inputs and "cidrIpv4" not in rule.inputs


def test_online_store_off_removes_redis(variant) -> None:
    plan = variant("dev-aws", {"feature_store": {"online_store": {"enabled": False}}})
    assert plan.of("ReplicationGroup") == [] and "redisPassword" not in plan.outputs
    assert len(plan.of("FeatureGroup")) == 1


def test_offline_store_off_removes_catalog_and_feature_groups(variant) -> None:
    plan = variant("dev-aws", {"feature_store": {"offline_store": False}})
    assert plan.of("CatalogDatabase") == [] and plan.of("FeatureGroup") == []
    # The bucket stays: it holds the Feast registry (`feast/registry.db`).
    assert "feature_offline" in {b.inputs["tags"]["aienv-bucket-purpose"] for b in plan.of("Bucket")}


def test_offline_store_role_may_set_object_acls(prod: AwsPlan) -> None:
    from .awsplan import statements

    bucket = next(b.outputs["arn"] for b in prod.of("Bucket")
                  if b.inputs["tags"]["aienv-bucket-purpose"] == "feature_offline")
    (policy,) = [p for p in prod.of("RolePolicy") if p.name.endswith("features-sagemaker-access")]
    writes = next(s for s in statements(policy) if s["Resource"] == f"{bucket}/feature-groups/*")
    assert {"s3:PutObject", "s3:PutObjectAcl"} <= set(writes["Action"])


def test_long_names_fit_the_feature_group_and_redis_limits(variant) -> None:
    import re

    name = "a" * 29 + "-bbbbbbbb-c"  # 40 characters
    view = "v" * 40 + "_w"
    plan = variant("dev-aws", {"name": name, "feature_store": {"feature_views": [
        {"name": view, "entities": ["user_id"], "features": [{"name": "f"}]}]}})
    group = plan.one("FeatureGroup").inputs["featureGroupName"]
    assert len(group) <= 64 and re.fullmatch(r"[a-zA-Z0-9](-*[a-zA-Z0-9])*", group)
    redis = plan.one("ReplicationGroup").inputs["replicationGroupId"]
    assert len(redis) <= 40 and "--" not in redis and not redis.endswith("-") and redis[0].isalpha()


def test_feature_store_off_removes_everything(variant) -> None:
    plan = variant("dev-aws", {"feature_store": {"enabled": False}})
    for kind in ("FeatureGroup", "ReplicationGroup", "CatalogDatabase", "aienv:aws:FeatureStore"):
        assert plan.of(kind) == [], kind
