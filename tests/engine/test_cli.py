"""`aienv plan`: output, files, exit codes, no partial files on failure."""

from __future__ import annotations

import json

import pytest

from aienv.cli import _target, main

from .programs import small_program
from .test_runs import Broken


@pytest.fixture
def program(monkeypatch):
    chosen = {"fn": small_program}
    monkeypatch.setattr(_target, "_load_spec_program",
                        lambda spec, variables, vars_file, allow_abstract=False: ("test", chosen["fn"], None))
    return chosen


def test_plan_prints_tree_and_writes_files(program, tmp_path, capsys):
    export, graph = tmp_path / "plan.json", tmp_path / "g.mmd"
    assert main(["plan", "x", "--export", str(export), "--graph", str(graph)]) == 0
    out = capsys.readouterr().out
    assert " +   pulumi:pulumi:Stack" in out and "aienv:test:Storage" in out and "By cloud:" in out
    doc = json.loads(export.read_text())
    assert doc["version"] == 3 and doc["deployment"]["resources"][0]["type"] == "pulumi:pulumi:Stack"
    assert graph.read_text().startswith("flowchart")
    assert [p.name for p in tmp_path.iterdir()] and not list(tmp_path.glob(".*tmp"))


def test_plan_json_summary(program, capsys):
    assert main(["plan", "x", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["by_cloud"]["aws"] >= 4 and summary["by_component"]["data"] == 4


def test_failure_exits_2_without_traceback_or_files(program, tmp_path, capsys):
    program["fn"] = lambda: Broken("store", "args")
    export, graph = tmp_path / "plan.json", tmp_path / "g.dot"
    assert main(["plan", "x", "--export", str(export), "--graph", str(graph)]) == 2
    err = capsys.readouterr().err
    assert 'aienv:test:Broken "store"' in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_bad_graph_suffix_and_bad_var(program, tmp_path, capsys):
    assert main(["plan", "x", "--graph", str(tmp_path / "g.png")]) == 2
    assert ".dot" in capsys.readouterr().err
    assert main(["plan", "x", "--var", "novalue"]) == 2
    assert "KEY=VALUE" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_plan_tree_fits_a_terminal_width() -> None:
    from aienv.engine import plan_program
    from aienv.engine.render import render_tree

    plan = plan_program(small_program, project="aienv", stack="test")
    assert max(map(len, render_tree(plan))) > 60  # the widest type sets the column without a terminal
    narrow = render_tree(plan, columns=60)
    # Rows fit 60 columns except the one type longer than the column, which keeps two spaces before its name.
    assert [line for line in narrow if len(line) > 60] == [
        " +   │  ├─ random:index/randomPassword:RandomPassword  data-pw".replace("│  ├", "   ├")]
