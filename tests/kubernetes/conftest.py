"""Fixtures: the reference specs' Kubernetes layer planned once per session on a test foundation."""

from __future__ import annotations

import pytest

from aienv.engine import Plan

from .k8splan import plan_layer, reference

_CACHE: dict[str, Plan] = {}


def reference_plan(name: str) -> Plan:
    if name not in _CACHE:
        _CACHE[name] = plan_layer(reference(name))
    return _CACHE[name]


@pytest.fixture(params=["prod-aws", "prod-azure", "prod-gcp"])
def any_plan(request: pytest.FixtureRequest) -> Plan:
    return reference_plan(request.param)


@pytest.fixture
def aws() -> Plan:
    return reference_plan("prod-aws")


@pytest.fixture
def azure() -> Plan:
    return reference_plan("prod-azure")


@pytest.fixture
def gcp() -> Plan:
    return reference_plan("prod-gcp")
