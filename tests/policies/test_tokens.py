"""Rules match a resource under its current token and under the earlier tokens the installed SDKs alias to it, so
a program still on the previous provider major (pulumi-aws 6 `BucketV2`, azure-native 2 `cache:Redis`) is gated
the same way."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pulumi
import pulumi_aws as aws
import pytest
from conftest import failing_names, run_policy
from mockplan import plan

from policies.rules import ALL_RULES
from policies.rules.tokens import PREVIOUS, canonical, with_previous

TOKEN = re.compile(r"super\(\w+, __self__\)\.__init__\(\s*'([^']+)'")
ALIAS = re.compile(r'pulumi\.Alias\(type_="([^"]+)"\)')
VERSIONED = re.compile(r"/v\d{8}")


@pytest.fixture(scope="module")
def sdk_aliases() -> dict[str, set[str]]:
    """Current token -> unversioned alias tokens, read from the installed SDKs' resource classes."""
    out: dict[str, set[str]] = {}
    for package in ("pulumi_aws", "pulumi_azure_native", "pulumi_gcp"):
        spec = importlib.util.find_spec(package)
        assert spec and spec.origin
        for path in Path(spec.origin).parent.rglob("*.py"):
            text = path.read_text(encoding="utf-8", errors="ignore")
            if "alias_opts" not in text:
                continue
            token = TOKEN.search(text)
            if token is None:
                continue
            aliases = {a for a in ALIAS.findall(text) if not VERSIONED.search(a) and a != token.group(1)}
            if aliases:
                out[token.group(1)] = aliases
    return out


def test_every_rule_reads_the_earlier_tokens_of_its_types(sdk_aliases: dict[str, set[str]]) -> None:
    missing = {r.meta.name: sorted({a for t in r.types for a in sdk_aliases.get(t, ())} - set(r.types))
               for r in ALL_RULES}
    assert {k: v for k, v in missing.items() if v} == {}


def test_previous_table_is_what_the_sdks_declare(sdk_aliases: dict[str, set[str]]) -> None:
    for current, earlier in PREVIOUS.items():
        assert set(earlier) <= sdk_aliases.get(current, set()), current
    assert canonical("aws:s3/bucketAclV2:BucketAclV2") == "aws:s3/bucketAcl:BucketAcl"
    assert with_previous(["azure-native:redis:Redis"]) == {"azure-native:redis:Redis", "azure-native:cache:Redis"}


def test_a_v6_bucket_with_a_public_acl_is_caught() -> None:
    def program() -> None:
        bucket = aws.s3.BucketV2("legacy")
        aws.s3.BucketAclV2("legacy-acl", bucket=bucket.id, acl="public-read")

    export = plan(program)
    types = {r["type"] for r in export["deployment"]["resources"]}
    assert {"aws:s3/bucketV2:BucketV2", "aws:s3/bucketAclV2:BucketAclV2"} <= types
    assert failing_names(export, "aws-s3-no-public-acl") == {"legacy-acl"}
    assert failing_names(export, "aws-s3-bucket-controls-attached") == {"legacy"}
    assert failing_names(export, "stateful-resources-protected") == {"legacy"}


def test_v6_bucket_companions_count_as_attached() -> None:
    def program() -> None:
        key = aws.kms.Key("key", enable_key_rotation=True)
        bucket = aws.s3.BucketV2("legacy")
        aws.s3.BucketServerSideEncryptionConfigurationV2("legacy-sse", bucket=bucket.id, rules=[{
            "apply_server_side_encryption_by_default": {"sse_algorithm": "aws:kms", "kms_master_key_id": key.arn}}])
        aws.s3.BucketVersioningV2("legacy-versioning", bucket=bucket.id,
                                  versioning_configuration={"status": "Suspended"})

    export = plan(program)
    assert failing_names(export, "aws-s3-encryption-kms") == set()
    assert failing_names(export, "aws-s3-versioning") == {"legacy-versioning"}
    missing = {v.message for v in run_policy(export, "aws-s3-bucket-controls-attached")}
    assert missing == {"The S3 bucket `legacy` must have a public access block attached.",
                       "The S3 bucket `legacy` must have a TLS-only bucket policy attached."}


def test_an_azure_native_2_redis_token_is_caught() -> None:
    def program() -> None:
        pulumi.CustomResource("azure-native:cache:Redis", "old-cache", {
            "resourceGroupName": "rg", "enableNonSslPort": True, "minimumTlsVersion": "1.0"})

    assert failing_names(plan(program), "azure-redis-secure") == {"old-cache"}
