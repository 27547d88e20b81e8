"""End to end: `build_environment(prod-gcp)` plans with the Kubernetes layer on this foundation."""

from __future__ import annotations

from aienv.engine import plan_program
from components.environment import build_environment
from tests.gcp.gcpplan import prod_spec


def test_prod_gcp_plans_end_to_end_and_gcp_resources_pass_the_packs():
    from aienv.check.plan import from_export
    from aienv.check.runner import run_packs

    spec = prod_spec()
    plan = plan_program(lambda: build_environment(spec), project="aienv", stack=spec.name)
    types = {r.type for r in plan.resources}
    assert "aienv:gcp:Foundation" in types and any(t.startswith("kubernetes:") for t in types)
    # Kubernetes objects use the foundation's kube provider.
    k8s = [r for r in plan.resources if r.type.startswith("kubernetes:") and r.custom]
    assert k8s and all("prod-gcp-k8s" in (r.provider or "") for r in k8s)
    result = run_packs(from_export(plan.to_export()), ["aienv-security", "aienv-ai", "gdpr", "soc2"])
    mandatory_gcp = [f"{v.policy}: {v.message}" for v in result.violations
                     if v.enforcement == "mandatory" and v.type.startswith("gcp:")]
    assert mandatory_gcp == []
