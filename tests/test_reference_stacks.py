"""Every stack in stacks/ plans offline to a valid `pulumi stack export`, renders its graphs, and passes
every mandatory policy of the packs it lists — the examples are the test bed (STYLE.md, practice 10)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from aienv.check import from_export, run_packs, waivers
from aienv.engine import plan_program
from aienv.engine.graph import to_dot, to_mermaid
from components.environment import build_environment
from tests.conftest import export_validator
from tests.plans import STACK_FILES, loaded, planned

SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"


def test_every_spec_has_a_stack() -> None:
    specs = {loaded(f).path.name for f in STACK_FILES}
    assert specs == {"dev-aws.yaml", "prod-aws.yaml", "prod-azure.yaml", "prod-gcp.yaml", "team.yaml.j2"}


@pytest.mark.parametrize("stack_file", STACK_FILES)
def test_export_is_a_valid_stack_export(stack_file: str) -> None:
    export = planned(stack_file).to_export(time="2026-01-01T00:00:00Z")
    errors = list(export_validator().iter_errors(export))
    assert not errors, errors[0].message
    resources = export["deployment"]["resources"]
    assert resources[0]["type"] == "pulumi:pulumi:Stack"
    assert len(resources) > 150
    # Generated passwords and the kubeconfig appear only as secret signatures.
    secrets = 0

    def walk(value: Any) -> None:
        nonlocal secrets
        if isinstance(value, dict):
            if value.get("4dabf18193072939515e22adb298388d") == SECRET_SIG:
                secrets += 1
                assert "plaintext" not in value, "a secret is exported in plaintext"
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    walk(resources)
    assert secrets >= 2


@pytest.mark.parametrize("stack_file", STACK_FILES)
def test_graphs_render(stack_file: str) -> None:
    plan = planned(stack_file)
    dot = to_dot(plan)
    assert dot.startswith("digraph") and dot.count("{") == dot.count("}")
    declared = set(re.findall(r"^\s*(c\d+) \[", dot, re.M))
    edges = re.findall(r"(c\d+) -> (c\d+)", dot)
    assert declared and edges and all(a in declared and b in declared for a, b in edges)
    assert to_mermaid(plan).startswith("flowchart")


@pytest.mark.parametrize("view", ["known", "preview"])
@pytest.mark.parametrize("stack_file", STACK_FILES)
def test_passes_every_mandatory_policy_of_its_packs(stack_file: str, view: str) -> None:
    """In both views: the first real `pulumi preview --policy-pack` of a new stack and an update of it."""
    spec = loaded(stack_file).spec
    packs = [p.value for p in spec.compliance.packs]
    assert "aienv-deploy" in packs  # the deployability pack gates every reference stack
    extra = {"data-residency": {"allowedRegions": spec.compliance.allowed_regions}} \
        if spec.compliance.allowed_regions else {}
    result = run_packs(from_export(planned(stack_file, view).to_document(), None), packs, extra_config=extra)
    # As `aienv check` does: the project's aienv-waivers.yaml applies, and a stale waiver fails.
    result = waivers.gate(result, near=loaded(stack_file).path)
    assert [v.as_dict() for v in result.mandatory] == []
    assert result.summary()["policies"] >= 100


def test_plans_are_deterministic() -> None:
    spec = loaded("Pulumi.prod-gcp.yaml").spec
    again = plan_program(lambda: build_environment(spec), project="aienv", stack=spec.name)
    first = planned("Pulumi.prod-gcp.yaml").to_export(time="t")
    assert json.dumps(first, sort_keys=True) == json.dumps(again.to_export(time="t"), sort_keys=True)
