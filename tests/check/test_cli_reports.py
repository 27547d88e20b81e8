"""What `aienv check` reports: one finding per policy and resource across packs, located at the spec (or program)
line that produced it; spec errors in JSON and SARIF; the compliance report of exactly the spec's frameworks and
clouds; several specs in one run; the gate (--fail-on, --soft-fail) and JUnit XML."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import yaml

from aienv.check import from_export, run_packs
from aienv.check.findings import Checked, Finding, Gate, InputError, merge
from aienv.check.render import render_report, report_model
from aienv.cli import main
from tests.conftest import STACKS


def variant(tmp_path: Path, name: str, base: str = "dev-aws.yaml", **changes: Any) -> Path:
    """A copy of a reference spec (next to a copy of base.yaml) with top-level keys replaced."""
    shutil.copy(STACKS / "base.yaml", tmp_path / "base.yaml")
    data = yaml.safe_load((STACKS / base).read_text())
    data["name"] = name
    data.update(changes)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def line_of(path: Path, key: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), start=1) if line.startswith(f"{key}:"))


def check_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    code = main(["check", *argv, "--json"])
    return code, json.loads(capsys.readouterr().out)


@pytest.fixture(scope="module")
def public_bucket(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int, dict[str, Any]]:
    """dev-aws with a public model bucket under four packs, checked once: (spec, exit code, --json output)."""
    tmp = tmp_path_factory.mktemp("public")
    spec = variant(tmp, "pub-aws", storage={"public_read": ["model_artifacts"]},
                   compliance={"packs": ["aienv-security", "aienv-ai", "hipaa", "soc2"],
                               "frameworks": ["hipaa", "iso27001"]})
    sarif, junit, report = tmp / "out.sarif", tmp / "out.xml", tmp / "report.md"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["check", str(spec), "--json", "--sarif", str(sarif), "--junit", str(junit),
                     "--report", str(report)])
    return spec, code, json.loads(out.getvalue())


def test_one_finding_per_policy_and_resource_naming_every_pack(public_bucket: tuple[Path, int, dict]) -> None:
    _, code, out = public_bucket
    assert code == 1
    keys = [(v["policy"], v["urn"], v["message"]) for v in out["violations"]]
    assert len(keys) == len(set(keys)) == out["summary"]["violations"]
    public = [v for v in out["violations"] if v["policy"] == "aws-s3-block-public-access"]
    assert public and all(v["packs"] == ["aienv-security", "hipaa", "soc2"] for v in public)
    assert set(public[0]["controls"]) == {"iso27001", "hipaa", "soc2"}


def test_findings_point_at_the_spec_line_that_produced_them(public_bucket: tuple[Path, int, dict],
                                                             tmp_path: Path) -> None:
    spec, _, out = public_bucket
    public = next(v for v in out["violations"] if v["policy"] == "aws-s3-block-public-access")
    assert public["location"] == {"file": str(spec), "line": line_of(spec, "storage"), "field": "storage"}
    sarif = json.loads((spec.parent / "out.sarif").read_text())
    lines = {r["ruleId"]: r["locations"][0]["physicalLocation"]["region"]["startLine"]
             for r in sarif["runs"][0]["results"]}
    assert lines["aws-s3-block-public-access"] == line_of(spec, "storage") != 1


def test_a_finding_from_a_base_points_into_the_base(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = variant(tmp_path, "base-aws")  # dev-aws sets no `storage:`, base.yaml does
    base = tmp_path / "base.yaml"
    base.write_text(base.read_text().replace("  versioning: true", "  versioning: false"))
    code, out = check_json(capsys, str(spec))
    versioning = next(v for v in out["violations"] if v["policy"] == "aws-s3-versioning")
    assert code == 1
    assert versioning["location"] == {"file": str(base), "line": line_of(base, "storage"), "field": "storage"}


def test_spec_errors_reach_json_and_sarif(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = variant(tmp_path, "big", model_endpoints=[{
        "name": "chat", "model": {"name": "llama-70b", "size_billion_params": 70, "source": {"uploaded": True}},
        "gpu": {"type": "nvidia-l4", "count": 1}}])
    sarif = tmp_path / "err.sarif"
    code, out = check_json(capsys, str(spec), "--sarif", str(sarif))
    assert code == 2 and out["summary"]["status"] == "ERROR" and out["violations"] == []
    (error,) = out["errors"]
    assert error["field"] == "model_endpoints[0].model.size_billion_params" and error["file"] == str(spec)
    assert error["line"] > 1 and "needs about 156 GiB of GPU memory" in error["message"]
    (result,) = json.loads(sarif.read_text())["runs"][0]["results"]
    assert result["ruleId"] == "aienv-input-error" and result["level"] == "error"
    assert result["locations"][0]["physicalLocation"]["region"]["startLine"] == error["line"]


def test_validate_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nenvironment: qa\n")
    assert main(["validate", "--json", "stacks/", str(bad)]) == 2
    out = json.loads(capsys.readouterr().out)
    assert out["valid"] is False and out["errors"] == 3  # environment, owner, cloud
    by_spec = {s["spec"]: s for s in out["specs"]}
    assert by_spec["stacks/base.yaml"]["abstract"] is True
    assert by_spec["stacks/Pulumi.prod-gcp.yaml"]["cloud"] == "gcp"
    assert {"file": str(bad), "line": 2, "field": "environment",
            "message": "is `qa`, which is not one of `dev`, `staging`, `prod`; write one of them"} in \
        by_spec[str(bad)]["errors"]


# --- the compliance report ----------------------------------------------------------------------------------------

def test_the_report_covers_exactly_the_specs_frameworks(public_bucket: tuple[Path, int, dict]) -> None:
    spec, _, _ = public_bucket
    text = (spec.parent / "report.md").read_text()
    assert "## HIPAA Security Rule" in text and "## ISO/IEC 27001" in text
    assert "## SOC 2" not in text  # soc2 runs as a pack but is not in compliance.frameworks
    assert "Frameworks reported: HIPAA Security Rule, ISO/IEC 27001 (the spec's compliance.frameworks)" in text
    assert f"Source: `{spec}`" in text and "in-memory plan" not in text


def test_a_gcp_report_holds_no_aws_or_azure_policy(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = variant(tmp_path, "gcp-eu", base="prod-gcp.yaml",
                   compliance={"packs": ["aienv-security", "aienv-ai", "gdpr"], "frameworks": ["gdpr"],
                               "allowed_regions": ["europe-west4", "europe-west1"]})
    report = tmp_path / "r.html"
    assert main(["check", str(spec), "--report", str(report)]) == 0
    text = report.read_text()
    assert "<h2 id=\"framework-gdpr\">GDPR" in text and "SOC 2" not in text
    assert "gcp-gke-private-cluster" in text
    assert "aws-" not in text and "azure-" not in text


def test_controls_without_evidence_say_why(plan_doc: dict) -> None:
    result = run_packs(from_export(plan_doc), ["aienv-security", "hipaa"])
    model = report_model(Checked("plan.json", "plan", result=result, clouds={"aws"}))
    assert [fw["key"] for fw in model["frameworks"]] == ["iso27001", "hipaa"]  # the packs' frameworks
    rows = [row for fw in model["frameworks"] for row in fw["controls"]]
    unseen = [row for row in rows if row.status in ("no evidence", "not covered")]
    assert unseen and all(row.why for row in unseen)
    assert any("found no `aws:" in row.why for row in unseen if row.status == "no evidence")
    assert not [p for row in rows for p in row.policies if p["policy"].startswith(("gcp-", "azure-", "k8s-"))]
    assert "## HIPAA Security Rule" in render_report(Checked("plan.json", "plan", result=result, clouds={"aws"}),
                                                     "r.md")


# --- several specs in one process -----------------------------------------------------------------------------------

def test_several_specs_in_one_run_each_on_its_own(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = variant(tmp_path, "bad-aws", storage={"public_read": ["training_data"]})
    good = variant(tmp_path, "good-aws")
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: broken\n")
    alone_code, alone = check_json(capsys, str(bad))
    code, out = check_json(capsys, str(good), str(bad), str(broken), str(good))
    assert code == 2 and alone_code == 1
    assert [s["spec"] for s in out["specs"]] == [str(good), str(bad), str(broken)]  # each once, in order
    mine = sorted((v["policy"], v["name"], v["message"]) for v in out["violations"] if v["spec"] == str(bad))
    assert mine == sorted((v["policy"], v["name"], v["message"]) for v in alone["violations"])
    # only the advisory that every HTTPS gateway carries until the team brings its TLS Secret (kubernetes B10)
    assert {(v["policy"], v["enforcement"]) for v in out["violations"] if v["spec"] == str(good)} == {
        ("deploy-gateway-certificate", "advisory")}
    assert {e["spec"] for e in out["errors"]} == {str(broken)}
    assert out["summary"]["specs"] == 3 and out["summary"]["checked"] == 2


def test_a_folder_is_every_stack_in_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    variant(tmp_path, "one-aws")
    variant(tmp_path, "two-aws")
    export = tmp_path / "out" / "{stack}.json"
    (tmp_path / "out").mkdir()
    assert main(["plan", str(tmp_path), "--export", str(export), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [p["stack"] for p in out["plans"]] == ["one-aws", "two-aws"]
    assert out["skipped"] == [{"spec": str(tmp_path / "base.yaml"), "reason": "abstract base"}]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["one-aws.json", "two-aws.json"]


def test_several_specs_need_a_stack_placeholder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "dev-aws", "prod-aws", "--export", str(tmp_path / "plan.json")]) == 2
    assert "put `{stack}` in the name" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


# --- the gate and JUnit ----------------------------------------------------------------------------------------------

def _finding(severity: str, enforcement: str) -> Finding:
    return Finding("p", "urn", "t", "n", "m", enforcement, severity, ["aienv-security"], {}, "")


def test_the_gate() -> None:
    default, high, soft = Gate(), Gate("high"), Gate(soft_fail=True)
    assert default.fails(_finding("low", "mandatory")) and not default.fails(_finding("critical", "advisory"))
    assert high.fails(_finding("critical", "advisory")) and high.fails(_finding("high", "mandatory"))
    assert not high.fails(_finding("medium", "mandatory"))
    target = Checked("x", "plan", result=None)
    target._findings = [_finding("medium", "mandatory")]
    assert default.exit_code([target]) == 1 and soft.exit_code([target]) == 0 and high.exit_code([target]) == 0
    assert Gate("low").exit_code([target]) == 1
    errored = Checked("y", "spec", errors=[InputError("bad")])
    assert soft.exit_code([target, errored]) == 2


def test_fail_on_and_soft_fail_on_the_command_line(plan_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = check_json(capsys, "--plan", str(plan_file))
    severities = {v["severity"] for v in out["violations"] if v["enforcement"] == "mandatory"}
    assert code == 1 and "critical" in severities
    assert check_json(capsys, "--plan", str(plan_file), "--soft-fail")[0] == 0
    code, out = check_json(capsys, "--plan", str(plan_file), "--fail-on", "critical")
    assert code == 1 and all(v["gate"] == (v["severity"] == "critical") for v in out["violations"])
    with pytest.raises(SystemExit) as exc:  # argparse: "invalid choice", exit 2
        main(["check", "--plan", str(plan_file), "--fail-on", "urgent"])
    assert exc.value.code == 2


def test_junit_has_a_case_per_policy_and_fails_the_gated_ones(public_bucket: tuple[Path, int, dict]) -> None:
    spec, _, out = public_bucket
    root = ET.parse(spec.parent / "out.xml").getroot()
    (suite,) = root.findall("testsuite")
    cases = suite.findall("testcase")
    failed = {c.get("name") for c in cases if c.find("failure") is not None}
    gated = {v["policy"] for v in out["violations"] if v["gate"]}
    assert failed == gated and int(suite.get("failures", "0")) == len(gated) == int(root.get("failures", "0"))
    assert len({c.get("name") for c in cases}) == len(cases) and not [c for c in cases if "gcp-" in c.get("name", "")]
    assert suite.get("name") == f"pub-aws ({spec})"


def test_merge_keeps_distinct_messages_apart(plan_doc: dict) -> None:
    result = run_packs(from_export(plan_doc), ["aienv-security", "hipaa", "soc2"])
    findings = merge(result)
    assert len(findings) < len(result.violations)
    assert len(findings) == len({(v.policy, v.urn, v.message) for v in result.violations})


def test_program_findings_point_at_the_line_that_names_the_resource(tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "Pulumi.yaml").write_text("name: legacy\nruntime: python\n")
    (tmp_path / "__main__.py").write_text('import pulumi_aws as aws\n\n\nbucket = aws.s3.Bucket("legacy-data")\n')
    code, out = check_json(capsys, "--program", str(tmp_path))
    bucket = [v for v in out["violations"] if v["name"] == "legacy-data"]
    assert code == 1 and bucket
    assert {(v["location"]["file"], v["location"]["line"]) for v in bucket} == {(str(tmp_path / "__main__.py"), 4)}


def test_check_counts_resources_as_plan_does(public_bucket: tuple[Path, int, dict],
                                             capsys: pytest.CaptureFixture[str]) -> None:
    """Newcomer D21: `plan` said 253, `check` 254 (default providers), the progress line 200."""
    spec, _, out = public_bucket
    assert main(["plan", str(spec), "--json"]) == 0
    planned = json.loads(capsys.readouterr().out)["resources"]
    assert out["summary"]["resources"] == planned
    driver = json.loads((spec.parent / "out.sarif").read_text())["runs"][0]["tool"]["driver"]
    assert driver["name"] == "aienv" and "pulumi.com" not in json.dumps(driver.get("informationUri", ""))


def test_a_misspelt_policy_in_the_config_gets_a_did_you_mean(plan_file: Path, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"aws-kms-key-rotatoin": "disabled"}))
    assert main(["check", "--plan", str(plan_file), "--policy-config", str(config)]) == 2
    assert capsys.readouterr().err.strip() == (f"{config}: no selected pack has a policy named "
                                               "`aws-kms-key-rotatoin`; did you mean `aws-kms-key-rotation`?")


def test_program_findings_point_at_the_line_that_constructs_the_resource(tmp_path: Path,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """The engine records the SDK's source position: a resource named by a variable is still located."""
    (tmp_path / "Pulumi.yaml").write_text("name: legacy\nruntime: python\n")
    (tmp_path / "__main__.py").write_text('import pulumi_aws as aws\n\nNAME = "legacy-" + "data"\n'
                                          "bucket = aws.s3.Bucket(\n    NAME)\n")
    code, out = check_json(capsys, "--program", str(tmp_path))
    bucket = [v for v in out["violations"] if v["name"] == "legacy-data"]
    assert code == 1 and bucket
    assert {(v["location"]["file"], v["location"]["line"]) for v in bucket} == {(str(tmp_path / "__main__.py"), 4)}
