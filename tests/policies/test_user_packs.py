"""A team's own rule folder is gated like aienv's packs: `aienv check --pack-dir DIR` runs it (exit codes, config,
waivers), `aienv policies` lists it, and the same folder is a CrossGuard pack (`pulumi preview --policy-pack DIR`)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from aienv.cli import main

ROOT = Path(__file__).resolve().parents[2]
PACK = Path(__file__).resolve().parent / "packs" / "team-guardrails"
PROGRAM = ROOT / "tests" / "programs" / "aws_newcomer"
DB = "urn:pulumi:dev::legacy-data::aws:rds/instance:Instance::orders"


@pytest.fixture(autouse=True)
def _forget_user_packs() -> object:
    """`--pack-dir` registers the folder's pack for the process; keep other tests' pack list as it was."""
    from policies.packs import PACKS

    before = dict(PACKS)
    yield
    PACKS.clear()
    PACKS.update(before)


@pytest.fixture(scope="module")
def big_db_plan(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The newcomer's plan with its database moved to a large instance class."""
    import contextlib
    import io

    path = tmp_path_factory.mktemp("plan") / "plan.json"
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["plan", "--program", str(PROGRAM), "--export", str(path)]) == 0
    doc = json.loads(path.read_text())
    for r in doc["deployment"]["resources"]:
        if r["urn"] == DB:
            r["inputs"]["instanceClass"] = r["outputs"]["instanceClass"] = "db.r6g.4xlarge"
    path.write_text(json.dumps(doc))
    return path


def _check(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict]:
    code = main(["check", *args, "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_a_team_rule_gates_like_ours(capsys: pytest.CaptureFixture[str], big_db_plan: Path) -> None:
    code, result = _check(capsys, "--plan", str(big_db_plan), "--pack", "aienv-ai", "--pack-dir", str(PACK))
    assert code == 1
    assert result["summary"]["packs"] == ["aienv-ai", "team-guardrails"]
    mine = [v for v in result["violations"] if v["pack"] == "team-guardrails"]
    assert {(v["policy"], v["enforcement"], v["name"]) for v in mine} == {
        ("team-rds-small-outside-prod", "mandatory", "orders"), ("team-stack-has-oncall-topic", "advisory", "")}
    assert "must use a small instance class outside production, not `db.r6g.4xlarge`" in next(
        v["message"] for v in mine if v["policy"] == "team-rds-small-outside-prod")


def test_a_team_rule_takes_policy_config(capsys: pytest.CaptureFixture[str], big_db_plan: Path,
                                         tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"team-rds-small-outside-prod": {"allowedClasses": ["db.r6g.4xlarge"]}}))
    code, result = _check(capsys, "--plan", str(big_db_plan), "--pack", "aienv-ai", "--pack-dir", str(PACK),
                          "--policy-config", str(config))
    assert code == 0 and not [v for v in result["violations"] if v["policy"] == "team-rds-small-outside-prod"]


def test_a_team_rule_can_be_waived(capsys: pytest.CaptureFixture[str], big_db_plan: Path, tmp_path: Path) -> None:
    waivers = tmp_path / "w.yaml"
    waivers.write_text("exceptions:\n  - reason: load test until Friday\n    owner: dba@example.com\n"
                       "    expiresAt: 2099-01-01\n    policyPack: team-guardrails\n    match:\n"
                       f"      - policies: [team-rds-small-outside-prod]\n        targets: ['{DB}']\n")
    code, result = _check(capsys, "--plan", str(big_db_plan), "--pack", "aienv-ai", "--pack-dir", str(PACK),
                          "--waivers", str(waivers))
    assert code == 0
    assert [s["policy"] for s in result["suppressed"]] == ["team-rds-small-outside-prod"]


def test_aienv_policies_lists_every_pack_and_the_team_pack(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policies", "--pack-dir", str(PACK), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert {"aienv-security", "aienv-ai", "hipaa", "gdpr", "soc2", "team-guardrails"} <= set(listed["packs"])
    mine = {e["policy"]: e for e in listed["policies"] if e["pack"] == "team-guardrails"}
    assert set(mine) == {"team-rds-small-outside-prod", "team-stack-has-oncall-topic"}
    rds = mine["team-rds-small-outside-prod"]
    assert (rds["severity"], rds["enforcement"], rds["origin"]) == ("medium", "mandatory", str(PACK))
    assert rds["controls"] == {"soc2": ["A1.1"], "iso27001": ["A.8.6"]}
    hipaa = {e["policy"]: e for e in listed["policies"] if e["pack"] == "hipaa"}
    assert all(e["enforcement"] == "mandatory" for e in hipaa.values())  # the pack's own configuration


def test_aienv_policies_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policies", "--pack", "aienv-security"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("aienv-security (") and out[0].endswith(" policies)")
    row = next(line for line in out if "aws-security-group-no-public-ingress" in line)
    assert "critical" in row and "mandatory" in row and "hipaa 164.312(e)(1)" in row


def _pack_copy(tmp_path: Path, name: str = "bad-pack") -> Path:
    folder = tmp_path / name
    shutil.copytree(PACK, folder, ignore=shutil.ignore_patterns("__pycache__"))
    return folder


@pytest.mark.parametrize(("edit", "needle"), [
    (lambda d: (d / "databases.py").write_text("x = 1\n"), "databases.py: define RULES = (rule, ...)"),
    (lambda d: (d / "databases.py").write_text("RULES = (1,)\n"), "RULES must be a tuple of rules"),
    (lambda d: (d / "databases.py").write_text("import nope_not_installed\nRULES = ()\n"),
     "databases.py:1: cannot import the rule module: ModuleNotFoundError"),
    (lambda d: (d / "ownership.py").write_text((d / "ownership.py").read_text().replace(
        '"team-stack-has-oncall-topic"', '"aws-s3-versioning"')), "has the name of an aienv policy"),
])
def test_bad_rule_folders_exit_2_with_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                     edit, needle: str) -> None:  # noqa: ANN001
    folder = _pack_copy(tmp_path)
    edit(folder)
    assert main(["policies", "--pack-dir", str(folder)]) == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err


def test_a_folder_name_must_be_a_pack_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = _pack_copy(tmp_path, "Team_Rules")
    assert main(["policies", "--pack-dir", str(folder)]) == 2
    assert "the folder name is the pack name" in capsys.readouterr().err


PROBE = """
import runpy, sys
for blocked in ("jinja2",):
    sys.modules[blocked] = None
import pulumi_policy
captured = {}
class FakePack:
    def __init__(self, name, enforcement_level=None, policies=(), **kwargs):
        captured.update(name=name, policies=[p.name for p in policies], tags=kwargs.get("tags"))
pulumi_policy.PolicyPack = FakePack
runpy.run_path(sys.argv[1], run_name="__main__")
print(captured["name"], " ".join(captured["policies"]))
"""


def test_the_folder_is_a_crossguard_pack(tmp_path: Path) -> None:
    folder = _pack_copy(tmp_path, "team-guardrails")
    proc = subprocess.run([sys.executable, "-c", PROBE, str(folder / "__main__.py")], capture_output=True, text=True,
                          cwd=folder, env={"PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == ["team-guardrails", "team-rds-small-outside-prod", "team-stack-has-oncall-topic"]
    assert (folder / "PulumiPolicy.yaml").read_text().startswith("runtime: python")
