"""Plans of the reference stacks, made once per test session and shared by the test modules that read them."""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from typing import Protocol

from aienv.engine import Plan, plan_program
from aienv.engine.model import RecordedResource, View
from aienv.spec import LoadedSpec, load_spec
from components.environment import build_environment
from tests.conftest import STACKS

# Every deployable stack: each stacks/Pulumi.<stack>.yaml names one spec.
STACK_FILES = sorted(p.name for p in STACKS.glob("Pulumi.*.yaml"))


@cache
def loaded(stack_file: str) -> LoadedSpec:
    return load_spec(STACKS / stack_file)


@cache
def planned(stack_file: str, view: View = "known") -> Plan:
    """The stack's plan in `view`: "known" (as an update sees it) or "preview" (a new stack's first preview)."""
    spec = loaded(stack_file).spec
    return plan_program(lambda: build_environment(spec), project="aienv", stack=spec.name, view=view)


class _HasResources(Protocol):
    @property
    def resources(self) -> Iterable[RecordedResource]: ...


def ancestors(plan: _HasResources, urn: str) -> set[str]:
    """Every resource `urn` waits for, directly or through others (`dependencies`, which hold the property
    dependencies too, as the SDK registers them)."""
    by_urn = {r.urn: r for r in plan.resources}
    seen: set[str] = set()
    todo = list(by_urn[urn].dependencies)
    while todo:
        u = todo.pop()
        if u not in seen and u in by_urn:
            seen.add(u)
            todo.extend(by_urn[u].dependencies)
    return seen
