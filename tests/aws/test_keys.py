"""Keys: one rotated, protected CMK per purpose with a key policy scoped to the account and named services."""

from __future__ import annotations

import pytest

from .awsplan import AwsPlan, as_list, statements

ACCOUNT_ROOT = "arn:aws:iam::123456789012:root"


def test_one_rotated_key_per_purpose_with_alias(prod: AwsPlan) -> None:
    keys = prod.of("Key")
    purposes = sorted(k.inputs["tags"]["aienv-key-purpose"] for k in keys)
    assert purposes == ["cluster", "data", "features", "logs", "registry"]
    for key in keys:
        assert key.inputs["enableKeyRotation"] is True
        assert key.inputs["rotationPeriodInDays"] == prod.spec.security.key_rotation_days
        assert key.inputs["deletionWindowInDays"] == 30
        assert key.protect and key.retain_on_delete
    aliases = sorted(a.inputs["name"] for a in prod.of("Alias"))
    assert aliases == [f"alias/aienv/prod-aws/{p}" for p in purposes]


def test_key_policies_name_the_account_and_services_never_everyone(prod: AwsPlan) -> None:
    for key in prod.of("Key"):
        sts = statements(key)
        admin = sts[0]
        assert admin["Principal"] == {"AWS": ACCOUNT_ROOT}
        for st in sts:
            principal = st["Principal"]
            assert principal != "*" and "*" not in as_list(principal.get("AWS", []))
            if "Service" in principal:
                assert st.get("Condition"), f"service statement {st['Sid']} must be scoped by a condition"


def test_logs_key_lets_cloudwatch_logs_use_it_only_for_this_accounts_log_groups(prod: AwsPlan) -> None:
    logs = next(k for k in prod.of("Key") if k.inputs["tags"]["aienv-key-purpose"] == "logs")
    st = next(s for s in statements(logs) if s["Principal"].get("Service") == "logs.us-east-1.amazonaws.com")
    assert st["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"] == \
        "arn:aws:logs:us-east-1:123456789012:log-group:*"


def test_data_key_lets_auto_scaling_encrypt_node_volumes(prod: AwsPlan) -> None:
    data = next(k for k in prod.of("Key") if k.inputs["tags"]["aienv-key-purpose"] == "data")
    grant = next(s for s in statements(data) if s["Sid"] == "AutoScalingGrantsForNodeVolumes")
    assert grant["Principal"]["AWS"].endswith("role/aws-service-role/autoscaling.amazonaws.com/"
                                              "AWSServiceRoleForAutoScaling")
    assert grant["Condition"] == {"Bool": {"kms:GrantIsForAWSResource": True}}


def test_no_feature_store_no_feature_key(variant) -> None:
    plan = variant("dev-aws", {"feature_store": {"enabled": False}})
    assert sorted(k.inputs["tags"]["aienv-key-purpose"] for k in plan.of("Key")) == \
        ["cluster", "data", "logs", "registry"]


def test_provider_managed_encryption_creates_no_keys_and_uses_cloud_keys(variant) -> None:
    plan = variant("dev-aws", {"security": {"encryption": "provider_managed"}})
    assert plan.of("Key") == [] and plan.of("Alias") == []
    for sse in plan.of("BucketServerSideEncryptionConfiguration"):
        assert sse.inputs["rules"][0]["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "AES256"}
    assert "encryptionConfig" not in plan.one("Cluster", "eks").inputs
    assert all(r.inputs["encryptionConfigurations"] == [{"encryptionType": "AES256"}] for r in plan.of("Repository"))
    assert all("kmsKeyId" not in g.inputs for g in plan.of("LogGroup"))
    assert "kmsKeyId" not in plan.one("ReplicationGroup").inputs
    assert plan.one("ReplicationGroup").inputs["atRestEncryptionEnabled"] is True
    # B5: no `alias/aws/sns`, whose policy cannot let CloudWatch and Budgets publish: the topic has no SSE.
    assert "kmsMasterKeyId" not in plan.one("Topic").inputs


def test_a_rotation_period_kms_rejects_is_refused(tmp_path) -> None:
    # A5: "rotation_period_in_days: ... Must be a number between 90 and 2560 (inclusive)" (pulumi_aws kms.Key).
    from aienv.errors import ComponentInputError

    from .awsplan import load_variant, plan_spec

    # The component refuses it even for a spec that skipped `aienv validate` (which refuses it too).
    spec = load_variant(tmp_path, "dev-aws", {}).model_copy(deep=True)
    spec.security.key_rotation_days = 60
    with pytest.raises(Exception) as info:
        plan_spec(spec)
    error = info.value if isinstance(info.value, ComponentInputError) else info.value.__cause__
    assert "security.key_rotation_days" in str(error) and "90" in str(error)
    ninety = plan_spec(load_variant(tmp_path, "dev-aws", {"security": {"key_rotation_days": 90}}))
    assert {k.inputs["rotationPeriodInDays"] for k in ninety.of("aws:kms/key:Key")} == {90}
