"""A pack runs in the Pulumi CLI's pack virtualenv, which holds only its requirements.txt: its entry point must
not need what the rest of aienv uses (pydantic, jinja2; PyYAML comes with pulumi)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKS = sorted(p.parent.name for p in (ROOT / "policies").glob("*/PulumiPolicy.yaml"))

PROBE = """
import runpy, sys
for blocked in ("pydantic", "jinja2"):
    sys.modules[blocked] = None  # importing them now raises ImportError
import pulumi_policy
captured = {}
class FakePack:  # the real PolicyPack starts a gRPC server and blocks
    def __init__(self, name, enforcement_level=None, policies=(), **kwargs):
        captured.update(name=name, policies=[p.name for p in policies])
pulumi_policy.PolicyPack = FakePack
runpy.run_path(sys.argv[1], run_name="__main__")
print(captured["name"], len(captured["policies"]))
"""


def test_every_pack_has_a_folder() -> None:
    assert PACKS == ["aienv-ai", "aienv-deploy", "aienv-security", "gdpr", "hipaa", "soc2"]
    for pack in PACKS:
        requirements = (ROOT / "policies" / pack / "requirements.txt").read_text()
        assert "pulumi-policy" in requirements and "pydantic" not in requirements


@pytest.mark.parametrize("pack", PACKS)
def test_pack_entry_point_needs_only_its_requirements(pack: str, tmp_path: Path) -> None:
    entry = ROOT / "policies" / pack / "__main__.py"
    proc = subprocess.run([sys.executable, "-c", PROBE, str(entry)], capture_output=True, text=True,
                          cwd=entry.parent)  # the CLI runs a pack from its own folder
    assert proc.returncode == 0, proc.stderr[-2000:]
    name, count = proc.stdout.split()
    assert name == pack and int(count) >= 14
