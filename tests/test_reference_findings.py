"""The reference team template passes its own packs without a finding it could fix, advisories included: an example
that trips its own advisory teaches users to ignore the gate (newcomer D22: ai-gpu-scale-to-zero on staging).

The one exception is a prerequisite no stack can fill: the TLS Secret of each HTTPS gateway listener
(`deploy-gateway-certificate`, field report kubernetes B10). Certificates are the team's PKI; the advisory is how
`aienv check` tells them to bring the Secret before the first request, so it stays, and this test pins it.
"""

from __future__ import annotations

import pytest

from aienv import conventions as c
from aienv.check import from_export, run_packs
from tests.plans import STACK_FILES, loaded, planned


@pytest.mark.parametrize("stack_file", [f for f in STACK_FILES if "team-" in f])
def test_no_finding_on_the_reference_template(stack_file: str) -> None:
    spec = loaded(stack_file).spec
    residency = {"data-residency": {"allowedRegions": list(spec.compliance.allowed_regions)}} \
        if spec.compliance.allowed_regions else {}
    result = run_packs(from_export(planned(stack_file).to_export()), [p.value for p in spec.compliance.packs],
                       extra_config=residency)
    https = {"internal"} | {e.exposure.value for e in spec.model_endpoints if e.exposure.value == "public"}
    assert sorted((v.policy, v.name, v.enforcement) for v in result.violations) == sorted(
        ("deploy-gateway-certificate", f"{spec.name}-k8s-gateway-{x}", "advisory") for x in https)
    for v in result.violations:
        gw = v.name.rsplit("-", 1)[-1]
        assert f"create the Secret {c.GATEWAY_NAMESPACE}/aienv-{gw}-tls before the first request" in v.message
