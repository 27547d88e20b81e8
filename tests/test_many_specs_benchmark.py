"""benchmarks/many_specs.py: its measurements and report, on cheap commands (no timing assertions)."""

from __future__ import annotations

import json
import subprocess
import sys

from benchmarks import many_specs
from tests.conftest import ROOT


def test_timed_reports_wall_cpu_exit_code_and_output() -> None:
    run = many_specs.timed([sys.executable, "-c", "import sys; print('hi'); sys.exit(3)"])
    assert run["code"] == 3 and run["stdout"] == "hi\n" and run["wall"] > 0 and run["cpu"] >= 0


def test_findings_are_read_per_spec_from_check_json() -> None:
    doc = {"specs": [{"spec": "a.yaml"}, {"spec": "b.yaml"}],
           "violations": [{"spec": "b.yaml", "policy": "p", "urn": "u2", "message": "m"},
                          {"spec": "b.yaml", "policy": "p", "urn": "u1", "message": "m"}]}
    assert many_specs.findings_by_spec(json.dumps(doc)) == {"a.yaml": [], "b.yaml": [("p", "u1", "m"), ("p", "u2", "m")]}


def test_the_report_states_the_ratio_against_the_target() -> None:
    figures = {"specs": ["a", "b"], "repeat": 1, "separate": {"wall": 10.0, "cpu": 8.0},
               "one_process": {"wall": 4.0, "cpu": 3.6}, "ratio_wall": 0.4, "ratio_cpu": 0.45,
               "same_findings": True, "passes": [{"spec": "a", "first": 2.0, "second": 0.5},
                                                 {"spec": "b", "first": 1.0, "second": 0.6}]}
    text = many_specs.report(figures)
    assert "ratio:           0.40 wall, 0.45 CPU (target 0.5 of the wall time a user waits: met)" in text
    slower = {**figures, "ratio_wall": 0.56, "ratio_cpu": 0.45}  # judged on wall time, not CPU
    assert "(target 0.5 of the wall time a user waits: not met)" in many_specs.report(slower)
    assert "same findings per spec in both: yes" in text and "(imports and first-use cost: 1.90)" in text


def test_another_interpreter_gets_one_clear_line() -> None:
    """README's `python benchmarks/run.py` with an interpreter that lacks the SDK (newcomer D20)."""
    proc = subprocess.run([sys.executable, "-S", "-c",
                           "import sys; sys.path.insert(0, '.');"
                           "from benchmarks._env import require_project_interpreter as r; r('benchmarks/run.py')"],
                          cwd=ROOT, capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "is not installed for" in proc.stderr and "benchmarks/run.py" in proc.stderr


def test_a_benchmark_under_another_interpreter_says_which_one_to_use(tmp_path) -> None:
    # An interpreter without the project: `python -I -S` sees neither site-packages nor the checkout.
    code = (f"import sys; sys.path.insert(0, {str(ROOT / 'benchmarks')!r}); "
            "from _env import require_project_interpreter; require_project_interpreter('benchmarks/run.py')")
    done = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith("benchmarks/run.py: pulumi, aienv is not installed for ")
    assert "virtualenv" in done.stderr and done.stderr.count("\n") == 1
