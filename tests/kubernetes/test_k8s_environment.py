"""The layer on the real cloud foundations: every reference spec plans end to end through build_environment."""

from __future__ import annotations

import importlib.util

import pytest

from aienv.engine import ProgramError, plan_program
from aienv.spec import load_spec
from components.environment import build_environment


@pytest.mark.parametrize("name", ["prod-aws", "prod-azure", "prod-gcp", "dev-aws"])
def test_reference_spec_plans_with_its_foundation(name: str) -> None:
    spec = load_spec(f"stacks/{name}.yaml").spec
    if importlib.util.find_spec(f"components.{spec.cloud.provider}.foundation") is None:
        pytest.skip(f"components/{spec.cloud.provider}/foundation.py does not exist yet")
    try:
        plan = plan_program(lambda: build_environment(spec), project="aienv", stack=name)
    except ProgramError as exc:
        if not (exc.component_type or "").startswith("aienv:kubernetes:"):
            pytest.skip(f"the {spec.cloud.provider} foundation does not plan yet: {exc}")
        raise
    types = {r.type for r in plan.resources}
    assert "aienv:kubernetes:KubernetesLayer" in types
    deployments = [r for r in plan.resources if r.type == "kubernetes:apps/v1:Deployment"]
    assert len(deployments) >= len(spec.model_endpoints)
