"""The CrossGuard pack folders: each __main__.py builds its PolicyPack from the rule modules (captured here
without starting the gRPC server)."""

from __future__ import annotations

import runpy
from pathlib import Path
from typing import Any

import pulumi_policy
import pytest
import yaml

from policies.pack_waivers import APPLIED, VALID
from policies.packs import PACKS

WAIVER_POLICIES = (APPLIED, VALID)

ROOT = Path(__file__).resolve().parents[2]


def _build(monkeypatch: pytest.MonkeyPatch, pack: str) -> dict[str, Any]:
    captured: dict[str, Any] = {}

    def fake_pack(*args: Any, **kwargs: Any) -> None:
        captured.update(kwargs)

    monkeypatch.setattr(pulumi_policy, "PolicyPack", fake_pack)
    runpy.run_path(str(ROOT / "policies" / pack / "__main__.py"), run_name="__main__")
    return captured


@pytest.mark.parametrize("pack", list(PACKS))
def test_pack_main_builds_its_policies(monkeypatch: pytest.MonkeyPatch, pack: str) -> None:
    kwargs = _build(monkeypatch, pack)
    assert kwargs["name"] == pack
    names = [p.name for p in kwargs["policies"]]
    assert names and len(names) == len(set(names))
    assert all(isinstance(p, pulumi_policy.Policy) for p in kwargs["policies"])
    for name, conf in (kwargs["initial_config"] or {}).items():
        assert name in names
        level = conf.get("enforcementLevel")
        assert level is None or isinstance(level, pulumi_policy.EnforcementLevel)
    manifest = yaml.safe_load((ROOT / "policies" / pack / "PulumiPolicy.yaml").read_text())
    assert manifest["runtime"] == "python" and manifest["description"]
    assert "pulumi-policy" in (ROOT / "policies" / pack / "requirements.txt").read_text()


def test_packs_cover_at_least_sixty_distinct_policies(monkeypatch: pytest.MonkeyPatch) -> None:
    distinct = set()
    for pack in PACKS:
        distinct |= {p.name for p in _build(monkeypatch, pack)["policies"]}
    assert len(distinct) >= 60


def test_compliance_packs_carry_their_control_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    for pack, framework, control in (("hipaa", "HIPAA", "164.312"), ("gdpr", "GDPR", "Art."), ("soc2", "SOC 2", "")):
        policies = _build(monkeypatch, pack)["policies"]
        for p in policies:
            if p.name in WAIVER_POLICIES:
                continue  # added by this checkout's aienv-waivers.yaml (policies.pack_waivers), not rules
            assert p.framework is not None and framework in (p.framework.name or "")
            spec = p.framework.specification or ""
            # (HIPAA: the Security Rule's §164.312, and minimum necessary for captured requests)
            assert control in spec or (pack == "hipaa" and spec == "164.502(b)"), p.name


def test_gdpr_pack_enforces_eu_residency(monkeypatch: pytest.MonkeyPatch) -> None:
    config = _build(monkeypatch, "gdpr")["initial_config"]["data-residency"]
    assert config["enforcementLevel"] == pulumi_policy.EnforcementLevel.MANDATORY
    assert "eu-west-1" in config["allowedRegions"] and "us-east-1" not in config["allowedRegions"]


def test_ai_pack_selects_the_gpu_and_serving_rows() -> None:
    names = set(PACKS["aienv-ai"].rules)
    assert {"ai-gpu-workload-scheduling", "ai-gpu-pool-tainted", "ai-serving-alerts", "ai-serving-drift-monitor",
            "ai-endpoint-auth", "ai-gpu-quota", "ai-model-fits-gpu-memory"} <= names
