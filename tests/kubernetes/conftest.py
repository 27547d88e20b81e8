"""Fixtures: the reference specs' Kubernetes layer planned once per session on a test foundation."""

from __future__ import annotations

import pytest

from aienv.engine import Plan
from aienv.spec.model import Canary, StackSpec

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


def canary_spec() -> StackSpec:
    """prod-aws with a fixed-weight canary on `chat` (version 4 at 10 %) instead of its progressive rollout."""
    spec = reference("prod-aws")
    chat = next(e for e in spec.model_endpoints if e.name == "chat")
    chat.rollout = None
    chat.canary = Canary(version="4", weight=10)
    return spec


@pytest.fixture
def aws_canary() -> Plan:
    if "prod-aws-canary" not in _CACHE:
        _CACHE["prod-aws-canary"] = plan_layer(canary_spec())
    return _CACHE["prod-aws-canary"]
