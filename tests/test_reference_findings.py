"""The reference team template passes its own packs without a single finding, advisories included: an example that
trips its own advisory teaches users to ignore the gate (newcomer D22: ai-gpu-scale-to-zero on staging)."""

from __future__ import annotations

import pytest

from aienv.check import from_export, run_packs
from tests.plans import STACK_FILES, loaded, planned


@pytest.mark.parametrize("stack_file", [f for f in STACK_FILES if "team-" in f])
def test_no_finding_on_the_reference_template(stack_file: str) -> None:
    spec = loaded(stack_file).spec
    residency = {"data-residency": {"allowedRegions": list(spec.compliance.allowed_regions)}} \
        if spec.compliance.allowed_regions else {}
    result = run_packs(from_export(planned(stack_file).to_export()), [p.value for p in spec.compliance.packs],
                       extra_config=residency)
    assert [(v.policy, v.name, v.message) for v in result.violations] == []
