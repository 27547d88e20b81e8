"""Programs and specs planned one after another in one process give the same results as separate runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from aienv.engine import plan_program

from .conftest import PROGRAMS, TIME, plan_dir

ROOT = Path(__file__).resolve().parents[2]


def export(plan) -> dict:
    return plan.to_export(TIME)


def fresh_export(program: str, *args: str) -> dict:
    """The export of a run in a process of its own."""
    code = ("import json, sys\n"
            "from aienv.engine.program import load_project, plan_pulumi_program\n"
            f"plan = plan_pulumi_program(load_project({str(PROGRAMS / program)!r}))\n"
            f"print(json.dumps(plan.to_export({TIME!r})))\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_same_program_twice_is_identical(aws_plan):
    again = plan_dir("aws_insecure")
    assert export(again) == export(aws_plan)
    assert json.dumps(export(again)) == json.dumps(export(aws_plan))


def test_two_programs_with_a_module_of_the_same_name():
    # local_module has a package `lib`, package_main a module `lib`: each gets its own.
    first = plan_dir("local_module")
    second = plan_dir("package_main")
    third = plan_dir("local_module")
    assert export(first) == export(third)
    assert second.outputs["cwd"] == "src"
    assert "lib" not in sys.modules and "lib.helpers" not in sys.modules


def test_in_process_equals_a_separate_process(config_plan):
    plan_dir("local_module")
    again = plan_dir("config_secrets")
    assert export(again) == export(config_plan) == fresh_export("config_secrets")


@pytest.fixture(scope="module")
def spec_plan():
    from aienv.spec import load_spec
    from components.environment import build_environment

    spec = load_spec("dev-aws").spec
    return lambda: plan_program(lambda: build_environment(spec), project="aienv", stack=str(spec.name))


def test_program_then_spec_then_program(aws_plan, spec_plan):
    before = spec_plan()
    plan_dir("aws_insecure")
    after = spec_plan()
    assert export(before) == export(after)
    assert export(plan_dir("aws_insecure")) == export(aws_plan)


def test_aienv_project_as_a_program_equals_the_spec_plan(spec_plan):
    # aienv's own Pulumi project (Pulumi.yaml + __main__.py, stackConfigDir: stacks) is a program too.
    from aienv.engine.program import load_project, plan_pulumi_program

    program = plan_pulumi_program(load_project(ROOT), stack="dev-aws")
    assert export(program) == export(spec_plan())


def test_interpreter_state_is_restored():
    cwd, path, argv = os.getcwd(), list(sys.path), list(sys.argv)
    modules = set(sys.modules)
    plan_dir("package_main")
    with pytest.raises(Exception, match="ValueError"):
        plan_dir("raises")
    assert (os.getcwd(), sys.path, sys.argv) == (cwd, path, argv)
    leaked = {m for m in set(sys.modules) - modules
              if str(PROGRAMS) in str(getattr(sys.modules[m], "__file__", None) or "")}
    assert not leaked and "naming" not in sys.modules
    assert not list(PROGRAMS.rglob("__pycache__"))


def test_program_module_shadows_an_imported_one(tmp_path):
    import components  # aienv's own package, already imported by the specs

    (tmp_path / "Pulumi.yaml").write_text("name: shadow\nruntime: python\n")
    (tmp_path / "components.py").write_text("NAME = 'the program components'\n")
    (tmp_path / "__main__.py").write_text("import pulumi\nimport components\npulumi.export('name', components.NAME)\n")
    from aienv.engine.program import load_project, plan_pulumi_program

    plan = plan_pulumi_program(load_project(tmp_path))
    assert plan.outputs["name"] == "the program components"
    assert sys.modules["components"] is components
