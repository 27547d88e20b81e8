"""Fixtures: the AWS reference specs planned once per session, and spec variants planned on demand."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from aienv.spec import load_spec

from .awsplan import ROOT, AwsPlan, load_variant, plan_spec

_CACHE: dict[str, AwsPlan] = {}


def reference_plan(name: str) -> AwsPlan:
    if name not in _CACHE:
        _CACHE[name] = plan_spec(load_spec(str(ROOT / "stacks" / f"{name}.yaml")).spec)
    return _CACHE[name]


@pytest.fixture
def prod() -> AwsPlan:
    return reference_plan("prod-aws")


@pytest.fixture
def dev() -> AwsPlan:
    return reference_plan("dev-aws")


@pytest.fixture
def variant(tmp_path: Path) -> Callable[..., AwsPlan]:
    def make(base: str, overrides: dict[str, Any]) -> AwsPlan:
        return plan_spec(load_variant(tmp_path, base, overrides))
    return make
