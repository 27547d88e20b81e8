"""The newcomer report's program (D6): SSH and RDP open to the world, a public unencrypted RDS instance with a
hard-coded password. `aienv check --program` with the default packs fails it with one finding per problem, on the
resource that has it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aienv.cli import main

PROGRAM = Path(__file__).resolve().parents[1] / "programs" / "aws_newcomer"

PROBLEMS = {  # (policy, resource type, resource name) -> words the one finding must contain
    ("aws-security-group-no-public-ingress", "aws:ec2/securityGroup:SecurityGroup", "bastion"): ("22/tcp", "0.0.0.0/0"),
    ("aws-security-group-no-public-ingress", "aws:ec2/securityGroupRule:SecurityGroupRule", "windows-rdp"):
        ("3389/tcp", "0.0.0.0/0"),
    ("aws-rds-not-public", "aws:rds/instance:Instance", "orders"): ("publicly accessible",),
    ("aws-rds-encrypted-cmk", "aws:rds/instance:Instance", "orders"): ("storageEncrypted",),
    ("secrets-no-plaintext-passwords", "aws:rds/instance:Instance", "orders"): ("`password`",),
}


@pytest.fixture(scope="module")
def result() -> tuple[int, dict]:
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["check", "--program", str(PROGRAM), "--json"])
    return code, json.loads(out.getvalue())


def test_the_program_fails_the_gate(result: tuple[int, dict]) -> None:
    code, report = result
    assert code == 1
    assert sorted(report["summary"]["packs"]) == ["aienv-ai", "aienv-deploy", "aienv-security"]


@pytest.mark.parametrize("problem", sorted(PROBLEMS), ids=lambda p: f"{p[0]}:{p[2]}")
def test_one_finding_per_problem(result: tuple[int, dict], problem: tuple[str, str, str]) -> None:
    policy, rtype, name = problem
    found = [v for v in result[1]["violations"]
             if (v["policy"], v["type"], v["name"]) == problem and v["enforcement"] == "mandatory"]
    assert len(found) == 1, found
    assert all(word in found[0]["message"] for word in PROBLEMS[problem]), found[0]["message"]


def test_no_problem_is_reported_twice(result: tuple[int, dict]) -> None:
    keys = [(v["policy"], v["urn"], v["message"]) for v in result[1]["violations"]]
    assert len(keys) == len(set(keys))
