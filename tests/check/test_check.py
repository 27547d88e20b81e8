"""`aienv check`: plan readers, the runner, renderers and the CLI contract (exit codes, JSON, SARIF, report)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pulumi
import pulumi_aws as aws
import pytest
from mockplan import plan

from aienv.check import from_export, read_plan_file, run_packs
from aienv.check.render import render_sarif
from aienv.cli import main

SECRET = {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270"}


def _program() -> None:
    key = aws.kms.Key("key", enable_key_rotation=True, opts=pulumi.ResourceOptions(protect=True))
    bucket = aws.s3.Bucket("data")
    aws.s3.BucketPublicAccessBlock("data-pab", bucket=bucket.id, block_public_acls=True)
    aws.s3.BucketServerSideEncryptionConfiguration("data-sse", bucket=bucket.id, rules=[{
        "apply_server_side_encryption_by_default": {"sse_algorithm": "aws:kms", "kms_master_key_id": key.arn}}])
    aws.elasticache.ReplicationGroup("cache", description="x", auth_token=pulumi.Output.secret("t" * 32))


@pytest.fixture(scope="module")
def export() -> dict:
    return plan(_program)


@pytest.fixture()
def plan_file(tmp_path: Path, export: dict) -> Path:
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(export))
    return path


def _key(result) -> list[tuple]:  # noqa: ANN001
    return sorted((v.pack, v.policy, v.urn, v.message, v.enforcement) for v in result.violations)


def test_export_file_checks_the_same_as_in_memory_plan(export: dict, plan_file: Path) -> None:
    packs = ["aienv-security", "aienv-ai", "hipaa"]
    assert _key(run_packs(from_export(export), packs)) == _key(run_packs(read_plan_file(plan_file), packs))


def test_preview_json_is_read_from_steps(export: dict, tmp_path: Path) -> None:
    resources = export["deployment"]["resources"]
    steps = [{"op": "create", "urn": r["urn"], "newState": r} for r in resources]
    steps.append({"op": "delete", "urn": "urn:pulumi:test::aienv::aws:s3/bucket:Bucket::gone",
                  "oldState": {"urn": "urn:pulumi:test::aienv::aws:s3/bucket:Bucket::gone"}})
    path = tmp_path / "preview.json"
    path.write_text(json.dumps({"config": {}, "steps": steps, "changeSummary": {"create": len(steps)}}))
    doc = read_plan_file(path)
    assert doc.kind == "preview" and len(doc.resources) == len(resources)
    assert _key(run_packs(doc, ["aienv-security"])) == _key(run_packs(from_export(export), ["aienv-security"]))


def test_encrypted_secrets_of_a_real_stack_export_are_readable(export: dict) -> None:
    real = copy.deepcopy(export)
    for r in real["deployment"]["resources"]:
        if r["urn"].endswith("::cache"):
            r["inputs"]["authToken"] = {**SECRET, "ciphertext": "v1:abc"}
    result = run_packs(from_export(real), ["aienv-security"])
    assert not [v for v in result.violations if v.policy == "aws-elasticache-encryption-in-transit"
                and "AUTH" in v.message]


@pytest.mark.parametrize(("content", "needle"), [
    ("{not json", "malformed JSON"),
    ("[]", "expected a JSON object"),
    ('{"version": 2, "deployment": {"resources": []}}', "unsupported stack export version"),
    ('{"version": 3, "deployment": {"resources": [{"type": "x"}]}}', "no valid `urn`"),
    ('{"hello": 1}', "not a stack export"),
])
def test_bad_plan_files_exit_2_with_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                  content: str, needle: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    assert main(["check", "--plan", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(path) in err[0] and needle in err[0]


def test_missing_plan_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--plan", str(tmp_path / "nope.json")]) == 2
    assert "cannot read plan file" in capsys.readouterr().err


def test_unknown_pack_exits_2(plan_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--plan", str(plan_file), "--pack", "pci"]) == 2
    assert "unknown policy pack `pci`" in capsys.readouterr().err


@pytest.mark.parametrize(("config", "needle"), [
    ('{"aws-kms-key-rotation": "sometimes"}', "must be one of"),
    ('{"no-such-policy": "disabled"}', "no selected pack has a policy named `no-such-policy`"),
    ('{"aws-log-group-retention": {"minimumDays": "ten"}}', "must be of type integer"),
    ('{"aws-log-group-retention": {"maxDays": 3}}', "has no config property `maxDays`"),
    ("[1]", "expected a JSON object"),
])
def test_bad_policy_config_exits_2(plan_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                   config: str, needle: str) -> None:
    path = tmp_path / "config.json"
    path.write_text(config)
    assert main(["check", "--plan", str(plan_file), "--policy-config", str(path)]) == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err


def test_json_output_and_exit_1_on_mandatory(plan_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--plan", str(plan_file), "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["summary"]["mandatory"] > 0 and out["summary"]["packs"] == ["aienv-security", "aienv-ai", "aienv-deploy"]
    v = out["violations"][0]
    assert {"pack", "policy", "enforcement", "severity", "urn", "type", "name", "message"} <= set(v)
    assert {"packs", "controls", "remediation", "spec", "location", "gate"} <= set(v)
    assert any(x["policy"] == "aws-s3-block-public-access" and x["name"] == "data-pab" for x in out["violations"])


def test_policy_config_can_downgrade_everything(plan_file: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"all": "advisory", "aws-kms-key-rotation": "disabled"}))
    assert main(["check", "--plan", str(plan_file), "--policy-config", str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["summary"]["mandatory"] == 0 and out["summary"]["advisory"] > 0


@pytest.mark.parametrize("doc", [
    {"version": 3, "deployment": {"manifest": {}, "resources": []}},
    {"version": 3, "deployment": {}},
    {"steps": []},
    {"steps": [{"op": "create", "urn": "x"}]},  # steps without a new state
    {"version": 3, "deployment": {"resources": [{"urn": "urn:pulumi:s::p::pulumi:pulumi:Stack::p-s",
                                                 "type": "pulumi:pulumi:Stack", "custom": False}]}},
])
def test_empty_plan_is_refused_not_passed(tmp_path: Path, capsys: pytest.CaptureFixture[str], doc: dict) -> None:
    path = tmp_path / "empty.json"
    path.write_text(json.dumps(doc))
    assert main(["check", "--plan", str(path)]) == 2
    captured = capsys.readouterr()
    assert "PASS" not in captured.out and f"{path}: nothing to check" in captured.err


def test_table_groups_by_severity(plan_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["check", "--plan", str(plan_file)])
    out = capsys.readouterr().out
    assert out.index("CRITICAL (") < out.index("HIGH (") < out.index("MEDIUM (")
    assert "FAIL:" in out and "\x1b[" not in out  # not a terminal: plain text
    # three lines a finding, no URN (they are in --json and SARIF); where it is in the plan file, and the fix
    assert "urn:pulumi:test::aienv::" not in out
    assert f"{plan_file}:" in out and " · packs: aienv-security" in out and " · fix: " in out


def test_sarif_is_structurally_valid(plan_file: Path, tmp_path: Path) -> None:
    sarif_path = tmp_path / "out.sarif"
    assert main(["check", "--plan", str(plan_file), "--sarif", str(sarif_path), "--pack", "hipaa"]) == 1
    sarif = json.loads(sarif_path.read_text())
    assert sarif["version"] == "2.1.0" and sarif["$schema"].endswith("sarif-2.1.0.json")
    run = sarif["runs"][0]
    rule_ids = [r["id"] for r in run["tool"]["driver"]["rules"]]
    assert len(rule_ids) == len(set(rule_ids)) and run["results"]
    for result in run["results"]:
        assert result["ruleId"] in rule_ids and rule_ids[result["ruleIndex"]] == result["ruleId"]
        assert result["level"] in ("error", "warning") and result["message"]["text"]
        assert result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].endswith("plan.json")


def test_sarif_has_one_rule_per_policy_across_packs(export: dict) -> None:
    result = run_packs(from_export(export), ["aienv-security", "hipaa"])
    sarif = render_sarif(result, "stacks/dev.yaml")
    ids = [r["id"] for r in sarif["runs"][0]["tool"]["driver"]["rules"]]
    assert len(ids) == len(set(ids)) == len({o.policy for o in result.outcomes})


@pytest.mark.parametrize("suffix", [".md", ".html"])
def test_compliance_report(plan_file: Path, tmp_path: Path, suffix: str) -> None:
    report = tmp_path / f"report{suffix}"
    assert main(["check", "--plan", str(plan_file), "--pack", "hipaa", "--report", str(report)]) == 1
    text = report.read_text()
    assert "HIPAA Security Rule" in text and "164.312(a)(2)(iv)" in text
    assert "aws-s3-encryption-kms" in text and "data-sse" in text


def test_check_of_a_spec_uses_the_engine(tmp_path: Path) -> None:
    pytest.importorskip("components.environment")
    stacks = Path(__file__).resolve().parents[2] / "stacks"
    if not (stacks / "dev-aws.yaml").exists():
        pytest.skip("no example spec")
    code = main(["check", str(stacks / "dev-aws.yaml"), "--json"])
    assert code in (0, 1, 2)


def test_fast_wire_matches_the_protobuf_round_trip(export: dict) -> None:
    from aienv.check.runner import wire, wire_slow

    for r in from_export(export).resources:
        for key in ("inputs", "outputs"):
            assert wire(r.get(key) or {}) == wire_slow(r.get(key) or {})
    assert wire({"n": 2, "b": True, "l": [1, {"x": None}]}) == wire_slow({"n": 2, "b": True, "l": [1, {"x": None}]})
