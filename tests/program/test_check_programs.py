"""`aienv check --program DIR`: the policy packs gate existing Pulumi programs as they gate specs.

These need `aienv check` to accept `--program` (wired with `aienv.cli._target.add_target_arguments` /
`plan_target`).
"""

from __future__ import annotations

import json

import pytest

from aienv.cli import main


def check(capsys, program: str, *args: str) -> tuple[int, dict]:
    code = main(["check", "--program", f"tests/programs/{program}", "--json", *args])
    out = capsys.readouterr().out
    return code, json.loads(out)


def on(result: dict, type_: str, name: str) -> list[dict]:
    return [v for v in result["violations"] if v["type"] == type_ and v["name"] == name]


def mentions(violations: list[dict], *words: str) -> bool:
    return any(w in (v["policy"] + " " + v["message"]).lower() for v in violations for w in words)


def test_insecure_s3_bucket_and_kms_key(capsys):
    code, result = check(capsys, "aws_insecure")
    assert code == 1
    bucket = on(result, "aws:s3/bucket:Bucket", "data")
    assert mentions(bucket, "encrypt") and mentions(bucket, "public")
    assert any(v["enforcement"] == "mandatory" for v in bucket)
    assert mentions(on(result, "aws:kms/key:Key", "data-key"), "rotation")
    assert sorted(result["summary"]["packs"]) == ["aienv-ai", "aienv-deploy", "aienv-security"]  # the defaults for programs


def test_azure_storage_allowing_public_blobs_and_http(capsys):
    code, result = check(capsys, "azure_storage")
    assert code == 1
    account = on(result, "azure-native:storage:StorageAccount", "data")
    assert mentions(account, "public blob") and mentions(account, "https")


def test_gcs_bucket_without_uniform_access(capsys):
    code, result = check(capsys, "gcp_bucket")
    assert code == 1
    assert mentions(on(result, "gcp:storage/bucket:Bucket", "data"), "uniform")


def test_privileged_deployment_without_limits(capsys):
    code, result = check(capsys, "k8s_privileged")
    assert code == 1
    deployment = on(result, "kubernetes:apps/v1:Deployment", "inference")
    policies = {v["policy"] for v in deployment}
    assert "k8s-no-privileged" in policies and "k8s-resource-limits" in policies


def test_program_config_reaches_the_policies(capsys):
    code, result = check(capsys, "config_secrets", "--stack", "prod")
    assert code == 1 and on(result, "aws:s3/bucket:Bucket", "data")


def test_pack_option_and_sarif_location(capsys, tmp_path):
    sarif = tmp_path / "out.sarif"
    code, result = check(capsys, "k8s_privileged", "--pack", "aienv-security", "--sarif", str(sarif))
    assert code == 1 and result["summary"]["packs"] == ["aienv-security"]
    doc = json.loads(sarif.read_text())
    uris = {loc["physicalLocation"]["artifactLocation"]["uri"]
            for run in doc["runs"] for r in run["results"] for loc in r["locations"]}
    assert uris == {"tests/programs/k8s_privileged/__main__.py"}


@pytest.mark.parametrize(("program", "expected"), [
    ("missing_config", "missing required configuration value `missing-config:bucketName`"),
    ("raises", "naming.py:3: ValueError"),
    ("non_python", "aienv plans Python programs only"),
])
def test_bad_programs_exit_2(capsys, program, expected):
    code = main(["check", "--program", f"tests/programs/{program}", "--json"])
    captured = capsys.readouterr()
    assert code == 2 and expected in captured.err and "Traceback" not in captured.err


def test_untuned_eks_program_gets_its_deployability_problems(capsys):
    """A program written without aienv's conventions is judged by the same `aienv-deploy` rules."""
    code, result = check(capsys, "eks_inference")
    assert code == 1
    found = {(v["policy"], v["name"]) for v in result["violations"] if v["pack"] == "aienv-deploy"}
    assert {("deploy-pod-fits-node", "embedder"),  # 2 CPU on a 2-vCPU t3.medium (1930m allocatable)
            ("deploy-api-server-reachable", "inference"),  # private endpoint, no path in
            ("deploy-controls-enforced", "inference"),  # a NetworkPolicy on the default VPC CNI
            ("deploy-await-covers-start", "embedder"),  # a 15-minute startup probe in a 10-minute await
            ("deploy-physical-name-limits", "node-role-for-the-inference-cluster-worker-nodes-in-us-east-1"),
            } <= found
