"""Fixtures for planning existing Pulumi programs (`--program DIR`); the programs are in tests/programs/."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from aienv.engine import Plan
from aienv.engine.program import load_project, plan_pulumi_program

PROGRAMS = Path(__file__).resolve().parents[1] / "programs"
TIME = "2024-01-01T00:00:00Z"


def plan_dir(name: str | Path, **kwargs: Any) -> Plan:
    return plan_pulumi_program(load_project(PROGRAMS / name), **kwargs)


def by_name(plan: Plan, type_: str, name: str) -> Any:
    matches = [r for r in plan.resources if r.type == type_ and r.name == name]
    assert len(matches) == 1, [(r.type, r.name) for r in plan.resources]
    return matches[0]


@pytest.fixture(scope="session")
def aws_plan() -> Plan:
    return plan_dir("aws_insecure")


@pytest.fixture(scope="session")
def config_plan() -> Plan:
    return plan_dir("config_secrets")
