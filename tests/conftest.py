"""Shared fixtures: the project root and the reference specs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STACKS = ROOT / "stacks"
SHARED = ROOT.parent / "shared"
REFERENCE_SPECS = sorted(p.name for p in STACKS.glob("*.yaml")
                         if not p.name.startswith("Pulumi.") and p.name != "base.yaml")


@pytest.fixture(autouse=True)
def _project_cwd(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests run from the project root, as users do, whatever pytest's invocation directory."""
    monkeypatch.chdir(ROOT)


def shared_dir() -> Path:
    """`../shared` beside the project (CI lays a copy there); AIENV_SHARED overrides."""
    return Path(os.environ.get("AIENV_SHARED", SHARED))
