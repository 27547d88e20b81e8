"""`aienv.engine.preload`: the provider SDK modules a spec's plan uses are imported before it (so a forked
first-preview worker does not import them a second time)."""

from __future__ import annotations

import dis
import importlib
import json
import pkgutil
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


@pytest.mark.parametrize("spec", ["prod-aws", "prod-azure"])
def test_the_preload_loads_only_what_the_plan_imports(spec: str) -> None:
    """Chains of attribute loads on provider modules, not attribute names: `self.security` does not load
    `pulumi_azure_native.security`. Every branch of these specs' components is taken, so the sets are equal."""
    preloaded = set(probe(spec, "preload")["preloaded"])
    assert preloaded == set(probe(spec, "none")["during_plan"])


def _chains_by_dis(code):
    chain: list[str] = []
    for ins in dis.get_instructions(code):
        if ins.opname in ("LOAD_GLOBAL", "LOAD_NAME"):
            if len(chain) > 1:
                yield chain
            chain = [ins.argval]
        elif ins.opname in ("LOAD_ATTR", "LOAD_METHOD") and chain:
            chain.append(ins.argval)
        else:
            if len(chain) > 1:
                yield chain
            chain = []
    if len(chain) > 1:
        yield chain


def test_the_raw_bytecode_reading_agrees_with_dis() -> None:
    """`_attribute_chains` decodes `co_code` itself; `dis.get_instructions` is the reference."""
    from aienv.engine import preload

    codes = []
    for name in ("components.environment", "components.aws", "components.azure", "components.gcp",
                 "components.kubernetes"):
        package = importlib.import_module(name)
        modules = [package, *(importlib.import_module(i.name)
                              for i in pkgutil.walk_packages(getattr(package, "__path__", []), f"{name}."))]
        for module in modules:
            for value in list(vars(module).values()):
                if getattr(value, "__module__", None) == module.__name__:
                    codes.extend(preload._code_objects(value))
    ours = [chain for code in codes for chain in preload._attribute_chains(code)]
    assert ours == [chain for code in codes for chain in _chains_by_dis(code)]
    assert ["aws", "ec2", "Vpc"] in ours and ["k8s", "core", "v1", "Namespace"] in ours
