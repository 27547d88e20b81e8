from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "policies"))


def _insecure_program() -> None:
    """A few AWS resources with findings of several severities under every pack."""
    import pulumi
    import pulumi_aws as aws

    key = aws.kms.Key("key", enable_key_rotation=True, opts=pulumi.ResourceOptions(protect=True))
    bucket = aws.s3.Bucket("data")
    aws.s3.BucketPublicAccessBlock("data-pab", bucket=bucket.id, block_public_acls=True)
    aws.s3.BucketServerSideEncryptionConfiguration("data-sse", bucket=bucket.id, rules=[{
        "apply_server_side_encryption_by_default": {"sse_algorithm": "aws:kms", "kms_master_key_id": key.arn}}])


@pytest.fixture(scope="session")
def plan_doc() -> dict:
    from mockplan import plan

    return plan(_insecure_program)


@pytest.fixture()
def plan_file(tmp_path: Path, plan_doc: dict) -> Path:
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan_doc, indent=2))
    return path
