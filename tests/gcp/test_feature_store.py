"""Feature store: CMEK BigQuery offline store with a table and feature group per spec view, no Vertex online
store, and a private Redis with AUTH, TLS, CMEK and HA in prod."""

from __future__ import annotations

import json

from aienv.spec.model import Feature, FeatureView
from tests.gcp.gcpplan import inputs, plan_gcp, variant

DATASET = "gcp:bigquery/dataset:Dataset"
TABLE = "gcp:bigquery/table:Table"
VIEW = "gcp:vertex/aiFeatureOnlineStoreFeatureview:AiFeatureOnlineStoreFeatureview"
GROUP = "gcp:vertex/aiFeatureGroup:AiFeatureGroup"
FEATURE = "gcp:vertex/aiFeatureGroupFeature:AiFeatureGroupFeature"
STORE = "gcp:vertex/aiFeatureOnlineStore:AiFeatureOnlineStore"
REDIS = "gcp:redis/instance:Instance"


def test_offline_store_is_a_cmek_dataset_with_a_table_per_view(prod):
    ds = prod.one(DATASET)
    assert inputs(ds)["defaultEncryptionConfiguration"]["kmsKeyName"].endswith("/cryptoKeys/bigquery")
    assert inputs(ds)["deleteContentsOnDestroy"] is False and ds.protect
    table = inputs(prod.one(TABLE))
    assert table["deletionProtection"] is True
    assert table["encryptionConfiguration"]["kmsKeyName"].endswith("/cryptoKeys/bigquery")
    columns = {c["name"]: c["type"] for c in json.loads(table["schema"])}
    assert columns == {"account_id": "STRING", "txn_count_1h": "INT64", "txn_amount_avg_1h": "FLOAT64",
                       "feature_timestamp": "TIMESTAMP"}


def test_no_vertex_online_store_or_feature_views(prod):
    # A8/B2/C3: Optimized online serving cannot take a CMEK ("Only Bigtable online serving supports encryption
    # using a CMEK", vertex-ai/docs/featurestore/latest/create-onlinestore) and nothing reads one: Feast serves
    # from Redis. The feature groups register the offline tables, one feature per spec feature.
    assert not prod.of_type(STORE) and not prod.of_type(VIEW)
    assert not prod.of_type("gcp:vertex/aiFeatureOnlineStoreFeatureviewIamMember:AiFeatureOnlineStoreFeatureviewIamMember")
    group = inputs(prod.one(GROUP))
    assert group["bigQuery"]["entityIdColumns"] == ["account_id"]
    assert {inputs(f)["name"] for f in prod.of_type(FEATURE)} == {"txn_count_1h", "txn_amount_avg_1h"}


def test_graph_grows_with_feature_views(prod):
    extra = FeatureView(name="user_profile", entities=["user_id"],
                        features=[Feature(name="age_days", dtype="int64"), Feature(name="country", dtype="string"),
                                  Feature(name="score", dtype="float32")])
    plan = plan_gcp(variant(lambda s: s.feature_store.feature_views.append(extra)), "two-views")
    for type_, added in ((TABLE, 1), (GROUP, 1), (FEATURE, 3)):
        assert len(plan.of_type(type_)) == len(prod.of_type(type_)) + added


def test_redis_is_private_authenticated_encrypted_and_ha_in_prod(prod):
    redis = prod.one(REDIS)
    r = inputs(redis)
    assert r["authEnabled"] is True and r["transitEncryptionMode"] == "SERVER_AUTHENTICATION"
    assert r["customerManagedKey"].endswith("/cryptoKeys/redis")
    assert r["tier"] == "STANDARD_HA" and r["connectMode"] == "DIRECT_PEERING"
    assert r["authorizedNetwork"].endswith("-network-vpc-" + r["authorizedNetwork"].rsplit("-", 1)[1])
    assert r["deletionProtection"] is True and redis.protect
    online = prod.foundation.outputs.online_store
    assert online is not None and online.tls


def test_redis_without_ha_is_basic_and_can_be_turned_off():
    basic = plan_gcp(variant(lambda s: setattr(s.feature_store.online_store, "high_availability", False)), "redis-basic")
    assert inputs(basic.one(REDIS))["tier"] == "BASIC"
    off = plan_gcp(variant(lambda s: setattr(s.feature_store.online_store, "enabled", False)), "redis-off")
    assert not off.of_type(REDIS) and off.foundation.outputs.online_store is None
    assert off.of_type(TABLE)  # the offline store stays


def test_feature_store_disabled_builds_none_of_it():
    plan = plan_gcp(variant(lambda s: setattr(s.feature_store, "enabled", False)), "no-features")
    for type_ in (DATASET, STORE, VIEW, REDIS):
        assert not plan.of_type(type_)
    assert plan.foundation.outputs.offline_store is None


def test_vertex_agent_reads_exactly_the_offline_dataset(prod):
    readers = [inputs(m) for m in prod.of_type("gcp:bigquery/datasetIamMember:DatasetIamMember")]
    agent = "serviceAccount:service-123456789012@gcp-sa-aiplatform.iam.gserviceaccount.com"
    assert {"role": "roles/bigquery.dataViewer", "member": agent} in [
        {"role": r["role"], "member": r["member"]} for r in readers]
    assert all(r["datasetId"] == "prod_gcp_features" for r in readers)
