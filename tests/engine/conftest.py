"""Fixtures for the offline-engine tests."""

from __future__ import annotations

import pytest

from aienv.engine import Plan, plan_program

from .programs import small_program


@pytest.fixture(scope="session")
def small_plan() -> Plan:
    return plan_program(small_program, stack="test", config={"aws:region": "eu-west-1"})

