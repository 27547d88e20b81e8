"""Plans of the reference stacks, made once per test session and shared by the test modules that read them."""

from __future__ import annotations

from functools import cache

from aienv.engine import Plan, plan_program
from aienv.engine.model import View
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
