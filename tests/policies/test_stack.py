"""Cross-cloud stack rules, deferral of values unknown at preview, and rule metadata."""

from __future__ import annotations

import copy
import json
import re

import pulumi_aws as aws
import pytest
from conftest import deferrals, edited, failing_names, run_policy
from mockplan import plan
from test_aws import _secure as aws_secure

from policies.meta import FRAMEWORKS
from policies.rules import ALL_RULES, stack

UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"


@pytest.fixture(scope="module")
def secure() -> dict:
    return plan(aws_secure)


def _insecure() -> None:
    bucket = aws.s3.Bucket("bad-bucket")
    aws.s3.BucketServerSideEncryptionConfiguration("bad-sse", bucket=bucket.id, rules=[{
        "apply_server_side_encryption_by_default": {"sse_algorithm": "aws:kms",
                                                    "kms_master_key_id": "arn:aws:kms:us-east-1:999999999999:key/foreign"}}])
    aws.elasticache.ReplicationGroup("bad-cache", description="x", node_type="cache.t3.micro")
    aws.kms.Key("bad-key")


@pytest.fixture(scope="module")
def insecure() -> dict:
    return plan(_insecure)


NAMES = [r.meta.name for r in stack.RULES]
FAILING = {
    "stateful-resources-protected": {"bad-bucket", "bad-cache", "bad-key"},
    "stores-encrypted-with-stack-keys": {"bad-sse", "bad-cache"},
    "data-residency": set(),  # below: needs allowedRegions
    "data-access-logging": {"bad-bucket"},
    "cloud-resources-tagged": {"bad-bucket", "bad-cache", "bad-key"},
}


@pytest.mark.parametrize("name", NAMES)
def test_passes_on_secure_program(secure: dict, name: str) -> None:
    assert run_policy(secure, name, {"allowedRegions": ["us-east-1"]} if name == "data-residency" else None) == []


@pytest.mark.parametrize("name", NAMES)
def test_fails_on_insecure_program(insecure: dict, name: str) -> None:
    assert FAILING[name] <= failing_names(insecure, name)


def test_data_residency_flags_resources_outside_the_allowed_regions(secure: dict) -> None:
    failing = failing_names(secure, "data-residency", {"allowedRegions": ["eu-west-1"]})
    assert {"data", "key", "models"} <= failing
    assert failing_names(secure, "data-residency") == set()  # no list configured: any region


def _managed_redis(secure: bool) -> None:
    import pulumi
    import pulumi_azure_native as az

    from aienv.conventions import MANAGED_BY, TAG_ENVIRONMENT, TAG_MANAGED_BY

    tags = {TAG_ENVIRONMENT: "env", TAG_MANAGED_BY: MANAGED_BY}
    key = az.keyvault.Key("key", resource_group_name="rg", vault_name="kv", properties={"kty": "RSA"},
                          opts=pulumi.ResourceOptions(protect=True), tags=tags)
    identity = az.managedidentity.UserAssignedIdentity("cmk-id", resource_group_name="rg")
    cmk = {"customer_managed_key_encryption": {
        "key_encryption_key_url": key.key_uri_with_version,
        "key_encryption_key_identity": {"identity_type": "userAssignedIdentity",
                                        "user_assigned_identity_resource_id": identity.id}}}
    opts = pulumi.ResourceOptions(protect=secure)
    cluster = az.redisenterprise.RedisEnterprise(
        "amr", resource_group_name="rg", sku={"name": "Balanced_B5"}, public_network_access="Disabled",
        encryption=cmk if secure else None, tags=tags if secure else None, opts=opts)
    az.redisenterprise.Database("amr-db", resource_group_name="rg", cluster_name=cluster.name, opts=opts)


def test_azure_managed_redis_is_stateful_tagged_and_encrypted_with_a_stack_key() -> None:
    good, bad = plan(lambda: _managed_redis(True)), plan(lambda: _managed_redis(False))
    for name in ("stateful-resources-protected", "stores-encrypted-with-stack-keys", "cloud-resources-tagged"):
        assert failing_names(good, name) == set(), name
    assert failing_names(bad, "stateful-resources-protected") == {"amr", "amr-db"}
    assert failing_names(bad, "stores-encrypted-with-stack-keys") == {"amr"}
    assert failing_names(bad, "cloud-resources-tagged") == {"amr"}


def test_retain_on_delete_counts_as_protection() -> None:
    import pulumi

    export = plan(lambda: aws.kms.Key("kept", opts=pulumi.ResourceOptions(retain_on_delete=True)))
    for r in export["deployment"]["resources"]:  # as `pulumi stack export` writes it
        if r["urn"].endswith("::kept"):
            r["retainOnDelete"] = True
    assert failing_names(export, "stateful-resources-protected") == set()


# --- Unknown values at preview defer to the update, never pass silently ----------------------------------
def test_unknown_security_setting_defers_a_mandatory_resource_policy(secure: dict) -> None:
    export = edited(secure, "data-pab", lambda p: p.__setitem__("blockPublicAcls", UNKNOWN))
    assert run_policy(export, "aws-s3-block-public-access") == []  # not a violation...
    (deferral,) = deferrals(export, "aws-s3-block-public-access")  # ...and not a pass: deferred, with the why
    assert (deferral.name, deferral.path, deferral.enforcement) == ("data-pab", "blockPublicAcls", "mandatory")
    assert "`blockPublicAcls` is unknown until it is created" in deferral.reason


def test_crossguard_sees_the_unknown_as_the_analyzer_expects(secure: dict) -> None:
    """In `pulumi preview --policy-pack` the policy lets `UnknownValueError` escape: the analyzer reports
    "can't run policy during preview" and runs it again at the update on the resolved inputs."""
    from pulumi_policy import ResourceValidationArgs
    from pulumi_policy.proxy import UnknownValueError, unknown_checking_proxy

    from policies.rules import RULES_BY_NAME
    from policies.rules._base import build_policy

    policy = build_policy(RULES_BY_NAME["aws-eks-secrets-encryption"])
    props = unknown_checking_proxy({"encryptionConfig": {"resources": ["secrets"], "provider": {"keyArn": UNKNOWN}}})
    args = ResourceValidationArgs("aws:eks/cluster:Cluster", props, "urn:x", "eks", None, None, None, {})
    reported: list[str] = []
    with pytest.raises(UnknownValueError):
        policy.validate(args, lambda msg, urn=None: reported.append(msg))
    assert reported == []
    # The same inputs with the key known at the update: decided, and a missing key is still a violation.
    known = unknown_checking_proxy({"encryptionConfig": {"resources": ["secrets"], "provider": {}}})
    policy.validate(ResourceValidationArgs("aws:eks/cluster:Cluster", known, "urn:x", "eks", None, None, None, {}),
                    lambda msg, urn=None: reported.append(msg))
    assert len(reported) == 1 and "KMS" in reported[0]


def test_unknown_nested_value_names_its_path(secure: dict) -> None:
    export = edited(secure, "eks", lambda p: p["encryptionConfig"]["provider"].__setitem__("keyArn", UNKNOWN))
    for r in export["deployment"]["resources"]:
        if r["urn"].endswith("::eks"):
            r.get("propertyDependencies", {}).pop("encryptionConfig", None)  # not wired to a key of the stack
    assert run_policy(export, "aws-eks-secrets-encryption") == []
    (deferral,) = deferrals(export, "aws-eks-secrets-encryption")
    assert deferral.path == "encryptionConfig.provider.keyArn"


def test_unknown_key_reference_to_a_stack_key_is_resolved_not_deferred(secure: dict) -> None:
    export = edited(secure, "eks", lambda p: p["encryptionConfig"]["provider"].__setitem__("keyArn", UNKNOWN))
    eks = next(r for r in export["deployment"]["resources"] if r["urn"].endswith("::eks"))
    assert any("aws:kms/key:Key" in u for u in eks["propertyDependencies"]["encryptionConfig"])
    assert run_policy(export, "aws-eks-secrets-encryption") == []
    assert deferrals(export, "aws-eks-secrets-encryption") == []  # a reference to the stack's key: decided


def test_unknown_key_reference_passes_only_when_wired_to_a_stack_key(secure: dict) -> None:
    def unknown_key(p: dict) -> None:
        p["rules"][0]["applyServerSideEncryptionByDefault"]["kmsMasterKeyId"] = UNKNOWN

    wired = edited(secure, "data-sse", unknown_key)
    assert failing_names(wired, "stores-encrypted-with-stack-keys") == set()
    assert deferrals(wired, "stores-encrypted-with-stack-keys") == []
    unwired = copy.deepcopy(wired)
    for r in unwired["deployment"]["resources"]:
        if r["urn"].endswith("::data-sse"):
            r["propertyDependencies"]["rules"] = []
    assert run_policy(unwired, "stores-encrypted-with-stack-keys") == []
    assert [d.name for d in deferrals(unwired, "stores-encrypted-with-stack-keys")] == ["data-sse"]


def test_unknown_in_one_resource_does_not_hide_others(insecure: dict) -> None:
    export = edited(insecure, "bad-cache", lambda p: p.__setitem__("kmsKeyId", UNKNOWN))
    assert "bad-sse" in failing_names(export, "stores-encrypted-with-stack-keys")
    assert "bad-cache" in {d.name for d in deferrals(export, "stores-encrypted-with-stack-keys")}


# --- Metadata -------------------------------------------------------------------------------------------------
def test_every_rule_is_well_described() -> None:
    names = [r.meta.name for r in ALL_RULES]
    assert len(names) == len(set(names)) >= 60
    for rule in ALL_RULES:
        meta = rule.meta
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)+", meta.name), meta.name
        assert meta.description[0].isupper() and meta.description.endswith("."), meta.name
        assert meta.severity in ("low", "medium", "high", "critical")
        assert meta.remediation and meta.controls, meta.name
        assert set(meta.controls) <= set(FRAMEWORKS), meta.name
        json.dumps(dict(meta.config or {}))


def test_every_rule_has_pass_and_fail_cases() -> None:
    import test_aws
    import test_azure
    import test_cached_images
    import test_coverage_classes
    import test_deploy
    import test_gcp
    import test_kubernetes_ai
    import test_mlops_policies

    covered = (set(test_aws.FAILING) | set(test_azure.FAILING) | set(test_gcp.FAILING)
               | set(test_kubernetes_ai.FAILING) | set(test_deploy.FAILING) | set(FAILING)
               | set(test_coverage_classes.FAILING) | set(test_cached_images.FAILING)
               | set(test_mlops_policies.FAILING))
    assert covered == {r.meta.name for r in ALL_RULES}
