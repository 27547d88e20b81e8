"""Feature store: feature groups per view (KMS online, S3 + Glue offline) and an encrypted, authenticated Redis."""

from __future__ import annotations

from .awsplan import AwsPlan, is_secret


def test_a_feature_group_per_view_encrypted_online_and_offline(prod: AwsPlan) -> None:
    groups = {g.inputs["featureGroupName"]: g for g in prod.of("FeatureGroup")}
    assert set(groups) == {"prod-aws-user-profile", "prod-aws-item-stats"}
    offline_bucket = next(b for b in prod.of("Bucket")
                          if b.inputs["tags"]["aienv-bucket-purpose"] == "feature_offline").outputs["bucket"]
    database = prod.one("CatalogDatabase").inputs["name"]
    for group in groups.values():
        online = group.inputs["onlineStoreConfig"]
        assert online["enableOnlineStore"] is True
        assert online["securityConfig"]["kmsKeyId"].startswith("arn:aws:kms:")
        offline = group.inputs["offlineStoreConfig"]
        assert offline["s3StorageConfig"]["s3Uri"] == f"s3://{offline_bucket}/feature-groups"
        assert offline["s3StorageConfig"]["kmsKeyId"] == online["securityConfig"]["kmsKeyId"]
        assert offline["dataCatalogConfig"]["database"] == database
        assert group.inputs["roleArn"].startswith("arn:aws:iam::123456789012:role/")
        assert group.protect and group.delete_before_replace
    profile = groups["prod-aws-user-profile"].inputs
    assert profile["recordIdentifierFeatureName"] == "user_id"
    assert profile["onlineStoreConfig"]["ttlDuration"] == {"unit": "Hours", "value": 48}
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


def test_offline_store_off_removes_bucket_catalog_and_offline_config(variant) -> None:
    plan = variant("dev-aws", {"feature_store": {"offline_store": False}})
    assert plan.of("CatalogDatabase") == []
    assert "feature_offline" not in {b.inputs["tags"]["aienv-bucket-purpose"] for b in plan.of("Bucket")}
    assert "offlineStoreConfig" not in plan.one("FeatureGroup").inputs


def test_feature_store_off_removes_everything(variant) -> None:
    plan = variant("dev-aws", {"feature_store": {"enabled": False}})
    for kind in ("FeatureGroup", "ReplicationGroup", "CatalogDatabase", "aienv:aws:FeatureStore"):
        assert plan.of(kind) == [], kind
