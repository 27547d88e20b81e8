"""Kubernetes minors against the clouds' standard-support calendars (aienv/kube_versions.py)."""

from __future__ import annotations

import subprocess
import sys
from datetime import date, timedelta

import pytest

from aienv import conventions as c
from aienv import kube_versions as kv
from aienv.spec.loader import load_spec
from aienv.spec.rules import check
from tests.conftest import ROOT, STACKS


def test_the_calendar_covers_every_minor_the_layer_can_run_on_every_cloud() -> None:
    low, high = c.KUBERNETES_MINORS
    for provider, ends in kv.END_OF_STANDARD_SUPPORT.items():
        assert {f"1.{m}" for m in range(low, high + 1)} <= set(ends), provider


@pytest.mark.parametrize("provider", ["aws", "azure", "gcp"])
def test_a_minor_is_refused_the_day_after_its_standard_support_ends(provider: str) -> None:
    for minor, end in kv.END_OF_STANDARD_SUPPORT[provider].items():
        assert kv.support_problem(provider, minor, "r", end) is None
        problem = kv.support_problem(provider, f"{minor}.4", "r", end + timedelta(days=1))
        assert problem is not None and f"for {minor} ended on {end}" in problem
        assert kv.LIST_VERSIONS[provider].format(region="r") in problem


def test_the_suggestion_is_the_oldest_supported_minor_the_layer_runs() -> None:
    problem = kv.support_problem("azure", "1.33", "westeurope", date(2026, 12, 2), (32, 35))
    assert problem is not None and 'write `"1.35"` (supported until 2027-03-31)' in problem
    assert "az aks get-versions --location westeurope" in problem
    # nothing the layer runs left: say so instead of suggesting 1.36
    assert "upgrade aienv" in (kv.support_problem("azure", "1.35", "westeurope", date(2027, 4, 1), (32, 35)) or "")


def test_versions_the_calendar_does_not_know_are_not_refused() -> None:
    assert kv.support_problem("gcp", "1.36", "r", date(2030, 1, 1)) is None
    assert kv.support_problem("aws", "latest", "r", date(2030, 1, 1)) is None
    assert kv.minor_of("1.35.2-gke.1962000") == "1.35" and kv.minor_of("v1") is None


def test_a_minor_older_than_the_calendar_is_refused() -> None:
    problem = kv.support_problem("aws", "1.31", "us-east-1", date(2026, 1, 1))
    assert problem is not None and "for 1.31 ended before 2026-03-23" in problem


def test_every_reference_stack_is_on_a_supported_minor_on_the_calendar_day() -> None:
    for path in sorted(STACKS.glob("*.yaml")):
        if path.name.startswith("Pulumi.") or path.name == "base.yaml":
            continue
        spec = load_spec(path).spec
        assert not [m for p, m in check(spec) if p == ("cluster", "kubernetes_version")], path.name


def test_validate_refuses_a_spec_whose_minor_has_left_support_on_the_deploy_day(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIENV_TODAY", "2027-03-28")  # EKS ends 1.35 on 2027-03-27
    proc = subprocess.run([sys.executable, "-m", "aienv", "validate", "stacks/prod-aws.yaml"], cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "cluster.kubernetes_version: is 1.35: EKS standard support for 1.35 ended on 2027-03-27" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_bad_aienv_today_is_one_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIENV_TODAY", "next tuesday")
    proc = subprocess.run([sys.executable, "-m", "aienv", "validate", "stacks/dev-aws.yaml"], cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert "AIENV_TODAY is `next tuesday`; write the day as YYYY-MM-DD" in proc.stderr
    assert "Traceback" not in proc.stderr
    program = subprocess.run([sys.executable, "-m", "aienv", "check", "--program", "tests/programs/eks_inference"],
                             cwd=ROOT, capture_output=True, text=True)
    assert program.returncode == 2 and program.stderr.startswith("AIENV_TODAY is `next tuesday`"), program.stderr


def test_the_gate_refuses_an_old_cluster_version_in_a_program_nobody_tuned() -> None:
    proc = subprocess.run([sys.executable, "-m", "aienv", "check", "--program", "tests/programs/eks_inference",
                           "--json"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 1, proc.stderr
    import json

    found = [v for v in json.loads(proc.stdout)["violations"] if v["policy"] == "deploy-kubernetes-version-supported"]
    assert [v["urn"].rsplit("::", 1)[1] for v in found] == ["inference"]  # version="1.31"
