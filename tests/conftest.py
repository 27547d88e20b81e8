"""Shared fixtures: the project root, the reference specs and the stack-export schema."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import jsonschema
import pytest

ROOT = Path(__file__).resolve().parents[1]
STACKS = ROOT / "stacks"
REFERENCE_SPECS = sorted(p.name for p in STACKS.glob("*.yaml")
                         if not p.name.startswith("Pulumi.") and p.name != "base.yaml")


@pytest.fixture(autouse=True)
def _project_cwd(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests run from the project root, as users do, whatever pytest's invocation directory."""
    monkeypatch.chdir(ROOT)


@pytest.fixture(autouse=True)
def _calendar_day(monkeypatch: pytest.MonkeyPatch) -> None:
    """Kubernetes versions are checked against the day the clouds' calendars were read, not the machine's clock
    (aienv/kube_versions.py): the suite gives the same verdicts on any day. Tests of the date move it."""
    from aienv.kube_versions import CALENDAR_READ

    monkeypatch.setenv("AIENV_TODAY", CALENDAR_READ.isoformat())


EXPORT_SCHEMA = ROOT / "tests" / "schemas" / "stack-export-v3.schema.json"


@cache
def export_validator() -> jsonschema.Draft202012Validator:
    """A validator of `pulumi stack export` v3 documents, from the project's own schema (tests/schemas/)."""
    schema = json.loads(EXPORT_SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
