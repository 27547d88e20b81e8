"""`aienv.engine.preload`: the provider SDK modules a spec's plan uses are imported before it (so a forked
first-preview worker does not import them a second time)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT

PROBE = """
import json, sys
from aienv.cli._target import load_spec_program
from aienv.engine.runner import plan_program

def loaded():
    return {n for n, m in list(sys.modules.items())
            if n.startswith("pulumi_") and m is not None and type(m).__name__ != "_LazyModule"}

spec = load_spec_program(sys.argv[1], {}, None)
start = loaded()
if sys.argv[2] == "preload":
    spec.preload()
before = loaded()
plan_program(spec.program, stack=spec.stack)
print(json.dumps({"preloaded": sorted(before - start), "during_plan": sorted(loaded() - before)}))
"""


def probe(spec: str, mode: str) -> dict[str, list[str]]:
    proc = subprocess.run([sys.executable, "-c", PROBE, spec, mode], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, check=True)
    return json.loads(proc.stdout.splitlines()[-1])


@pytest.mark.parametrize("spec", ["prod-aws", "prod-azure", "prod-gcp"])
def test_after_preload_the_plan_imports_no_provider_module(spec: str) -> None:
    seen = probe(spec, "preload")
    assert seen["during_plan"] == []
    assert any(m.startswith("pulumi_kubernetes.core.v1") for m in seen["preloaded"])  # nested lazy packages too


def test_without_preload_the_plan_imports_them_itself() -> None:
    """The probe can fail: a plan does import lazy provider modules when nothing loaded them first."""
    seen = probe("dev-aws", "none")
    assert seen["preloaded"] == [] and "pulumi_aws.ec2" in seen["during_plan"]
