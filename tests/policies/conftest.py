"""Helpers for the policy tests: run one policy, through the same runner `aienv check` uses, on an export
produced from real provider resources (`mockplan.plan`)."""

from __future__ import annotations

import copy
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from aienv.check.plan import from_export  # noqa: E402
from aienv.check.runner import Deferral, Violation, run_policies  # noqa: E402
from policies.rules import RULES_BY_NAME  # noqa: E402
from policies.rules._base import build_policy  # noqa: E402


def run_policy(export: dict, name: str, config: dict[str, Any] | None = None) -> list[Violation]:
    policy = build_policy(RULES_BY_NAME[name])
    violations, _ = run_policies(from_export(export), "test", [policy],
                                 user_config={name: config} if config else None)
    return violations


def failing_names(export: dict, name: str, config: dict[str, Any] | None = None) -> set[str]:
    return {v.name for v in run_policy(export, name, config)}


def deferrals(export: dict, name: str, config: dict[str, Any] | None = None) -> list[Deferral]:
    """The checks `name` deferred (values unknown at preview) on `export`."""
    found: list[Deferral] = []
    run_policies(from_export(export), "test", [build_policy(RULES_BY_NAME[name])],
                 user_config={name: config} if config else None, deferrals=found)
    return found


def edited(export: dict, name: str, edit: Callable[[dict], object]) -> dict:
    """A copy of `export` with `edit` applied to the inputs and outputs of the resource named `name`."""
    export = copy.deepcopy(export)
    for r in export["deployment"]["resources"]:
        if r["urn"].endswith(f"::{name}"):
            for key in ("inputs", "outputs"):
                edit(r[key])
            return export
    raise AssertionError(name)
