"""Waivers in the CrossGuard packs: the pack reads the same file as `aienv check` ($AIENV_WAIVERS or the project's
aienv-waivers.yaml), does not report waived findings as violations, reports them as advisory notes with their
reason, and fails on expired or unmatched waivers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from mockplan import plan

from aienv.check.plan import from_export
from aienv.check.runner import run_policies
from policies.pack_waivers import APPLIED, VALID
from policies.packs import pack_config, pack_kwargs

ROOT = Path(__file__).resolve().parents[2]
SG = "urn:pulumi:test::aienv::aws:ec2/securityGroup:SecurityGroup::bastion"


def _program() -> None:
    import pulumi_aws as aws

    aws.ec2.SecurityGroup("bastion", ingress=[{"protocol": "tcp", "from_port": 22, "to_port": 22,
                                               "cidr_blocks": ["0.0.0.0/0"]}])
    aws.rds.Instance("orders", engine="postgres", instance_class="db.t4g.micro", allocated_storage=20,
                     publicly_accessible=True)


@pytest.fixture(scope="module")
def export() -> dict:
    return plan(_program)


def _write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "aienv-waivers.yaml"
    path.write_text("exceptions:\n" + body, encoding="utf-8")
    return path


SSH_WAIVER = ("  - id: SEC-1\n    reason: VPN-only bastion until the SSM migration\n    owner: platform@example.com\n"
              "    expiresAt: 2099-12-31\n    match:\n      - policies: [aws-security-group-no-public-ingress]\n"
              f"        targets: ['{SG}']\n")


def _run(export: dict, pack: str) -> list:
    violations, _ = run_policies(from_export(export), pack, pack_kwargs(pack)["policies"], pack_config=pack_config(pack))
    return violations


def test_without_a_waiver_file_the_pack_is_unchanged(export: dict, monkeypatch: pytest.MonkeyPatch,
                                                     tmp_path: Path) -> None:
    monkeypatch.setenv("AIENV_WAIVERS", str(tmp_path / "none.yaml"))
    with pytest.raises(Exception, match="cannot read waivers"):
        pack_kwargs("aienv-security")
    monkeypatch.delenv("AIENV_WAIVERS")
    # A project without aienv-waivers.yaml (this checkout has one, for its reference stacks).
    names = [p.name for p in pack_kwargs("aienv-security", waivers_near=tmp_path)["policies"]]
    assert APPLIED not in names and VALID not in names
    assert any(v.urn == SG for v in _run(export, "aienv-security"))


def test_a_waived_finding_becomes_an_advisory_note(export: dict, monkeypatch: pytest.MonkeyPatch,
                                                   tmp_path: Path) -> None:
    monkeypatch.setenv("AIENV_WAIVERS", str(_write(tmp_path, SSH_WAIVER)))
    names = [p.name for p in pack_kwargs("aienv-security")["policies"]]
    assert names[-2:] == [APPLIED, VALID]
    violations = _run(export, "aienv-security")
    assert not [v for v in violations if v.urn == SG and v.policy == "aws-security-group-no-public-ingress"]
    (note,) = [v for v in violations if v.policy == APPLIED]
    assert note.enforcement == "advisory" and note.urn == SG
    assert "VPN-only bastion until the SSM migration (owner platform@example.com, expires 2099-12-31) [SEC-1]" in note.message
    assert not [v for v in violations if v.policy == VALID]
    assert [v for v in violations if v.policy == "aws-rds-not-public"]  # everything else still applies


def test_expired_and_unmatched_waivers_fail_the_pack(export: dict, monkeypatch: pytest.MonkeyPatch,
                                                     tmp_path: Path) -> None:
    expired = SSH_WAIVER.replace("2099-12-31", "2020-01-01")
    stale = ("  - reason: was public once\n    owner: dba@example.com\n    expiresAt: 2099-01-01\n    match:\n"
             "      - policies: [aws-rds-backups]\n        targets: [no-such-db]\n")
    monkeypatch.setenv("AIENV_WAIVERS", str(_write(tmp_path, expired + stale)))
    violations = _run(export, "aienv-security")
    assert [v for v in violations if v.urn == SG and v.policy == "aws-security-group-no-public-ingress"]
    problems = sorted(v.message for v in violations if v.policy == VALID)
    assert len(problems) == 2 and all(v.enforcement == "mandatory" for v in violations if v.policy == VALID)
    assert any("`SEC-1`" in p and "expired on 2020-01-01" in p for p in problems)
    assert any("no-such-db" in p and "waives no finding" in p for p in problems)


def test_a_waiver_of_another_packs_policy_is_ignored_by_this_pack(monkeypatch: pytest.MonkeyPatch,
                                                                  tmp_path: Path) -> None:
    monkeypatch.setenv("AIENV_WAIVERS", str(_write(tmp_path, SSH_WAIVER)))
    names = [p.name for p in pack_kwargs("aienv-ai")["policies"]]
    assert VALID not in names  # no aienv-ai policy is waived, so the AI pack has nothing to check


PROBE = """
import runpy, sys
import pulumi_policy
captured = {}
class FakePack:
    def __init__(self, name, enforcement_level=None, policies=(), **kwargs):
        captured.update(name=name, policies=[p.name for p in policies])
pulumi_policy.PolicyPack = FakePack
runpy.run_path(sys.argv[1], run_name="__main__")
print(captured["name"], " ".join(captured["policies"][-2:]))
"""


def test_the_pack_entry_point_reads_the_environment_variable(tmp_path: Path) -> None:
    entry = ROOT / "policies" / "aienv-security" / "__main__.py"
    env = {"AIENV_WAIVERS": str(_write(tmp_path, SSH_WAIVER)), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, "-c", PROBE, str(entry)], capture_output=True, text=True,
                          cwd=entry.parent, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == ["aienv-security", APPLIED, VALID]


def test_the_pack_entry_point_reads_the_project_file(tmp_path: Path) -> None:
    """A pack of this checkout finds aienv-waivers.yaml next to the checkout's Pulumi.yaml (its project)."""
    import shutil

    checkout = tmp_path / "checkout"
    shutil.copytree(ROOT / "policies", checkout / "policies", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "aienv", checkout / "aienv", ignore=shutil.ignore_patterns("__pycache__"))
    (checkout / "Pulumi.yaml").write_text("name: aienv\nruntime: python\n")
    _write(checkout, SSH_WAIVER)
    entry = checkout / "policies" / "aienv-security" / "__main__.py"
    proc = subprocess.run([sys.executable, "-c", PROBE, str(entry)], capture_output=True, text=True,
                          cwd=entry.parent, env={"PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == ["aienv-security", APPLIED, VALID]
