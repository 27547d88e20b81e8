"""Waivers (reason, owner, expiry) and baselines in `aienv check`: waived findings are suppressed in the table,
JSON, SARIF and compliance report; expired and unmatched waivers fail; a baseline adopts an existing program."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from aienv.check.waivers import WaiverError, apply, gate, parse_waivers
from aienv.cli import main

PROGRAM = Path(__file__).resolve().parents[1] / "programs" / "aws_newcomer"
SG = "urn:pulumi:dev::legacy-data::aws:ec2/securityGroup:SecurityGroup::bastion"
DB = "urn:pulumi:dev::legacy-data::aws:rds/instance:Instance::orders"


def _waiver(policy: str, target: str, *, expires: str = "2099-12-31", reason: str = "accepted by the CAB (CHG-7)",
            owner: str = "platform@example.com", extra: str = "") -> str:
    return (f"  - reason: {reason}\n    owner: {owner}\n    expiresAt: {expires}\n{extra}"
            f"    match:\n      - policies: [{policy}]\n        targets: ['{target}']\n")


def _file(tmp_path: Path, *waivers: str, name: str = "waivers.yaml") -> Path:
    path = tmp_path / name
    path.write_text("exceptions:\n" + "".join(waivers), encoding="utf-8")
    return path


def _check(capsys: pytest.CaptureFixture[str], *args: str, program: Path = PROGRAM) -> tuple[int, dict]:
    code = main(["check", "--program", str(program), "--json", *args])
    return code, json.loads(capsys.readouterr().out)


# --- The file -----------------------------------------------------------------------------------------------------
def test_a_waiver_names_policies_targets_reason_owner_and_expiry() -> None:
    (w,) = parse_waivers("exceptions:\n" + _waiver("aws-rds-not-public", DB, extra="    id: SEC-9\n"
                                                  "    policyPack: aienv-security\n"), "w.yaml")
    assert (w.policies, w.targets, w.owner, w.id, w.pack) == (("aws-rds-not-public",), (DB,), "platform@example.com",
                                                              "SEC-9", "aienv-security")
    assert w.where == "w.yaml:2" and w.expires_text == "2099-12-31"
    assert not w.expired(datetime(2099, 12, 31, 23, 59, tzinfo=UTC)) and w.expired(datetime(2100, 1, 1, tzinfo=UTC))


def test_json_files_are_read_too() -> None:
    text = json.dumps({"exceptions": [{"reason": "r", "owner": "o", "expiresAt": "2099-01-01T00:00:00Z",
                                       "match": [{"policies": ["p"], "targets": ["stack"]}]}]})
    (w,) = parse_waivers(text, "w.json")
    assert w.matches("any", "p", "", "") and not w.matches("any", "p", DB, "orders")


@pytest.mark.parametrize(("body", "needle"), [
    (_waiver("p", "x", owner="''"), "w.yaml:2: exceptions[0].owner: is required"),
    (_waiver("p", "x", reason="''"), "w.yaml:2: exceptions[0].reason: is required"),
    (_waiver("p", "x", expires="next-year"), "w.yaml:2: expiresAt: 'next-year' is not a date"),
    ("  - reason: r\n    owner: o\n    match: [{policies: [p], targets: [x]}]\n", "expiresAt: is required"),
    ("  - reason: r\n    owner: o\n    expiresAt: 2099-01-01\n    match: []\n", "match: list at least one"),
    (_waiver("p", "x", extra="    ticket: JIRA-1\n"), "exceptions[0].ticket: is not a known field"),
])
def test_bad_waivers_are_one_clear_line(body: str, needle: str) -> None:
    with pytest.raises(WaiverError) as err:
        parse_waivers("exceptions:\n" + body, "w.yaml")
    assert needle in str(err.value)


def test_an_unknown_policy_exits_2_with_a_suggestion(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _file(tmp_path, _waiver("aws-rds-not-publik", DB))
    assert main(["check", "--program", str(PROGRAM), "--waivers", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}:2: policies: `aws-rds-not-publik` is not a policy of any pack; did you mean `aws-rds-not-public`?" in err


# --- Applying them in `aienv check` ------------------------------------------------------------------------------------
def test_a_waived_finding_is_suppressed_not_dropped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _file(tmp_path, _waiver("aws-security-group-no-public-ingress", SG, extra="    id: SEC-1\n"))
    code, result = _check(capsys, "--waivers", str(path))
    assert code == 1  # the other problems still fail
    assert not [v for v in result["violations"] if v["urn"] == SG]
    (waived,) = result["suppressed"]
    assert (waived["policy"], waived["urn"], waived["suppression"]) == ("aws-security-group-no-public-ingress", SG,
                                                                        "waiver")
    assert waived["waiver"]["owner"] == "platform@example.com" and waived["waiver"]["expiresAt"] == "2099-12-31"
    assert "accepted by the CAB (CHG-7)" in waived["justification"] and "[SEC-1]" in waived["justification"]
    assert result["summary"]["waived"] == 1 and result["summary"]["suppressed"] == 1


def test_waiving_every_mandatory_finding_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, before = _check(capsys)
    assert code == 1
    entries = "".join(_waiver(v["policy"], v["urn"] or "stack") for v in before["violations"]
                      if v["enforcement"] == "mandatory")
    code, after = _check(capsys, "--waivers", str(_file(tmp_path, entries)))
    assert code == 0, after["violations"]
    assert len(after["suppressed"]) == len([v for v in before["violations"] if v["enforcement"] == "mandatory"])


def test_name_globs_and_stack_targets(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _file(tmp_path, _waiver("aws-security-group-no-public-ingress", "name:*"),
                 _waiver("aws-cloudtrail-present", "stack"))
    _, result = _check(capsys, "--waivers", str(path))
    waived = {(s["policy"], s["name"]) for s in result["suppressed"]}
    assert waived == {("aws-security-group-no-public-ingress", "bastion"),
                      ("aws-security-group-no-public-ingress", "windows-rdp"), ("aws-cloudtrail-present", "")}


def test_an_expired_waiver_fails_and_waives_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _file(tmp_path, _waiver("aws-rds-not-public", DB, expires="2020-01-01"))
    code, result = _check(capsys, "--waivers", str(path))
    assert code == 1
    assert [v for v in result["violations"] if v["policy"] == "aws-rds-not-public" and v["urn"] == DB]
    (expired,) = [v for v in result["violations"] if v["policy"] == "waiver-expired"]
    assert expired["enforcement"] == "mandatory"
    assert f"{path}:2" in expired["message"] and "expired on 2020-01-01" in expired["message"]
    assert "suppressed" not in result


def test_an_unmatched_waiver_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _file(tmp_path, _waiver("aws-rds-backups", "urn:pulumi:dev::legacy-data::aws:rds/instance:Instance::gone"))
    _, result = _check(capsys, "--waivers", str(path))
    (unmatched,) = [v for v in result["violations"] if v["policy"] == "waiver-unmatched"]
    assert "waives no finding" in unmatched["message"] and "owner platform@example.com" in unmatched["message"]


def test_a_waiver_for_another_stack_does_not_apply(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    other = "urn:pulumi:prod::billing::aws:rds/instance:Instance::ledger"
    _, result = _check(capsys, "--waivers", str(_file(tmp_path, _waiver("aws-rds-backups", other))))
    assert not [v for v in result["violations"] if v["pack"] == "aienv-waivers"]


def test_a_waiver_of_another_pack_does_not_waive(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _file(tmp_path, _waiver("aws-rds-not-public", DB, extra="    policyPack: hipaa\n"))
    _, result = _check(capsys, "--waivers", str(path))
    assert [v for v in result["violations"] if v["policy"] == "aws-rds-not-public"]
    assert not [v for v in result["violations"] if v["pack"] == "aienv-waivers"]  # hipaa did not run


def test_the_project_file_and_the_environment_variable(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    program = tmp_path / "prog"
    shutil.copytree(PROGRAM, program)
    _file(program, _waiver("aws-rds-not-public", DB), name="aienv-waivers.yaml")
    _, result = _check(capsys, program=program)
    assert {s["policy"] for s in result["suppressed"]} == {"aws-rds-not-public"}
    assert result["summary"]["waivers_file"].endswith("aienv-waivers.yaml")
    monkeypatch.setenv("AIENV_WAIVERS", str(_file(tmp_path, _waiver("aws-rds-backups", DB))))
    _, result = _check(capsys, program=program)
    assert {s["policy"] for s in result["suppressed"]} == {"aws-rds-backups"}


def test_sarif_carries_suppressions_with_justification(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _file(tmp_path, _waiver("aws-security-group-no-public-ingress", SG),
                 _waiver("aws-rds-backups", DB, expires="2021-06-30"))
    sarif = tmp_path / "out.sarif"
    _check(capsys, "--waivers", str(path), "--sarif", str(sarif))
    run = json.loads(sarif.read_text())["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    suppressed = [r for r in run["results"] if r.get("suppressions")]
    assert len(suppressed) == 1
    (s,) = suppressed[0]["suppressions"]
    assert s["kind"] == "external" and s["status"] == "accepted" and "CHG-7" in s["justification"]
    assert suppressed[0]["locations"][0]["logicalLocations"][0]["fullyQualifiedName"] == SG
    for r in run["results"]:
        assert rules[r["ruleIndex"]]["id"] == r["ruleId"]
    assert any(r["ruleId"] == "waiver-expired" and r["level"] == "error" for r in run["results"])


def test_table_and_report_show_reason_owner_and_expiry(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _file(tmp_path, _waiver("aws-rds-not-public", DB, extra="    id: SEC-2\n"))
    report = tmp_path / "report.md"
    main(["check", "--program", str(PROGRAM), "--waivers", str(path), "--report", str(report)])
    table = capsys.readouterr().out
    assert "SUPPRESSED (1)" in table and "[waiver] aws-rds-not-public: orders (aws:rds/instance:Instance)" in table
    assert "accepted: accepted by the CAB (CHG-7) (owner platform@example.com, expires 2099-12-31) [SEC-2]" in table
    text = report.read_text()
    assert "## Accepted findings (waivers and baseline)" in text
    assert ("| `aws-rds-not-public` | `orders` (aws:rds/instance:Instance) | The RDS instance `orders` must not be "
            "publicly accessible (`publiclyAccessible: true`). | accepted by the CAB (CHG-7) [SEC-2] | "
            "platform@example.com | 2099-12-31 |") in text
    html = tmp_path / "report.html"
    main(["check", "--program", str(PROGRAM), "--waivers", str(path), "--report", str(html)])
    capsys.readouterr()
    assert "waived: accepted by the CAB (CHG-7)" in html.read_text()


# --- Baselines -------------------------------------------------------------------------------------------------------
def test_a_baseline_adopts_an_existing_program_and_fails_only_on_new_findings(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    export = tmp_path / "plan.json"
    assert main(["plan", "--program", str(PROGRAM), "--export", str(export)]) == 0
    capsys.readouterr()
    baseline = tmp_path / "baseline.json"
    code = main(["check", "--plan", str(export), "--write-baseline", str(baseline), "--json"])
    adopted = json.loads(capsys.readouterr().out)
    assert code == 0 and adopted["violations"] == [] and adopted["summary"]["baselined"] >= 10
    recorded = json.loads(baseline.read_text())
    assert recorded["version"] == 1 and {f["policy"] for f in recorded["findings"]} >= {
        "aws-rds-not-public", "secrets-no-plaintext-passwords"}

    code = main(["check", "--plan", str(export), "--baseline", str(baseline), "--json"])
    assert code == 0 and json.loads(capsys.readouterr().out)["violations"] == []

    doc = json.loads(export.read_text())
    rule = next(r for r in doc["deployment"]["resources"] if r["urn"].endswith("::windows-rdp"))
    new = json.loads(json.dumps(rule).replace("windows-rdp", "telnet").replace("3389", "23"))
    doc["deployment"]["resources"].append(new)
    export.write_text(json.dumps(doc))
    code = main(["check", "--plan", str(export), "--baseline", str(baseline), "--json"])
    result = json.loads(capsys.readouterr().out)
    assert code == 1
    assert [(v["policy"], v["name"]) for v in result["violations"]] == [
        ("aws-security-group-no-public-ingress", "telnet")]
    assert result["summary"]["baseline_fixed"] == 0


def test_fixed_baseline_findings_are_counted(tmp_path: Path) -> None:
    from aienv.check.runner import CheckResult, Violation
    from aienv.check.waivers import Baseline

    v = Violation("aienv-security", "p", "mandatory", "high", DB, "t", "orders", "m")
    base = Baseline("b.json", "2025-01-01", frozenset({f"p|{DB}|m", "q|x|gone"}))
    result = apply(CheckResult([v], [], ["aienv-security"], 1, None, 0.0), baseline=base)
    assert result.violations == [] and result.baseline_fixed == 1 and result.suppressed[0].kind == "baseline"


def test_without_waivers_or_baseline_the_result_is_untouched() -> None:
    from aienv.check.runner import CheckResult

    result = CheckResult([], [], [], 0, None, 0.0)
    assert gate(result, near=Path("/nonexistent/dir")) is result
