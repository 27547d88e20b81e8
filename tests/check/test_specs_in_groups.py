"""Specs of several clouds in one `aienv check`: one forked group worker per cloud (`aienv/cli/check.py`
`_check_groups`, `aienv/cli/_fork.py` `run_all`). The same JSON as everything in one process (`AIENV_JOBS=1`),
a group that crashes is an error of its specs (not a hang), and Ctrl-C leaves no worker, not even a group's own
first-preview child."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from aienv.cli import check, main
from aienv.cli._fork import ChildError, run_all
from aienv.cli._output import WORKERS
from tests.conftest import ROOT

AIENV = [sys.executable, "-m", "aienv"]
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the workers fork on Linux only")
TWO_CLOUDS = ["dev-aws", "prod-gcp"]


def _without_timings(doc: Any) -> Any:
    if isinstance(doc, dict):
        return {k: _without_timings(v) for k, v in doc.items() if k != "elapsed_seconds"}
    if isinstance(doc, list):
        return [_without_timings(v) for v in doc]
    return doc


def _check_json(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    capsys.readouterr()
    code = main(["check", *argv, "--json"])
    return code, json.loads(capsys.readouterr().out)


@linux_only
def test_groups_give_the_same_json_as_one_process(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """Also with a --policy-config: the policies the groups' packs selected count as selected here."""
    config = tmp_path / "policy-config.json"
    config.write_text(json.dumps({"aws-s3-versioning": {"enforcementLevel": "advisory"}}))
    argv = [*TWO_CLOUDS, "--policy-config", str(config)]
    groups: list[int] = []
    original = check._check_groups

    def spy(specs: Any, run: Any) -> Any:
        groups.append(len({loaded.cloud for _, loaded in specs}))
        return original(specs, run)

    started: list[tuple[int, int]] = []

    def spy_run_all(works: Any, limit: int, crash: Any, shared: Any = None) -> Any:
        started.append((len(works), limit))
        return run_all(works, limit, crash, shared)

    monkeypatch.setattr(check, "_check_groups", spy)
    monkeypatch.setattr("aienv.cli._fork.run_all", spy_run_all)
    monkeypatch.setattr("aienv.cli._fork.usable_cpus", lambda: 1)
    monkeypatch.delenv("AIENV_JOBS", raising=False)
    monkeypatch.setattr("aienv.cli._fork.parallel_allowed", lambda: True)
    grouped = _check_json(argv, capsys)
    assert groups == [2], "the specs were not checked in one group per cloud"
    assert started == [(2, 2)], "the groups start together, however many CPUs (their SDK imports overlap)"
    monkeypatch.setenv("AIENV_JOBS", "1")
    monkeypatch.setattr("aienv.cli._fork.parallel_allowed", lambda: False)
    alone = _check_json(argv, capsys)
    assert groups == [2]
    assert grouped[0] == alone[0]
    assert _without_timings(grouped[1]) == _without_timings(alone[1])
    assert [s["spec"] for s in grouped[1]["specs"]] == ["stacks/dev-aws.yaml", "stacks/prod-gcp.yaml"]
    assert grouped[1]["violations"] and all(v.get("location") for v in grouped[1]["violations"])
    assert grouped[1]["summary"]["views"] == "known+preview"


@linux_only
def test_a_group_that_crashes_is_reported_and_the_others_still_checked(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """The gcp group dies while its first-preview child still runs (a slow preview): the command neither waits
    for that child nor loses the aws group's result."""
    monkeypatch.setattr("aienv.cli._fork.parallel_allowed", lambda: True)
    monkeypatch.delenv("AIENV_JOBS", raising=False)
    plan = check.plan_spec_program
    finish = check._finish_spec

    def slow_preview(spec: Any, progress: Any = None, stack_outputs: Any = None, *, view: str = "known") -> Any:
        if view == "preview" and spec.cloud == "gcp":
            time.sleep(120)
        return plan(spec, progress, stack_outputs, view=view)

    def dies(ref: Any, *rest: Any) -> Any:
        if "gcp" in ref.ref:
            os._exit(3)
        return finish(ref, *rest)

    monkeypatch.setattr(check, "plan_spec_program", slow_preview)
    monkeypatch.setattr(check, "_finish_spec", dies)
    start = time.monotonic()
    code, doc = _check_json(TWO_CLOUDS, capsys)
    assert time.monotonic() - start < 90  # the dead group's preview child was not waited for
    assert code == 2
    by_spec = {s["spec"]: s for s in doc["specs"]}
    assert by_spec["stacks/dev-aws.yaml"]["checked"] and not by_spec["prod-gcp"]["checked"]
    assert [e["message"] for e in doc["errors"]] == [
        "the worker process checking prod-gcp ended with exit code 3; run again with AIENV_JOBS=1 to check every "
        "spec in this process"]
    assert not WORKERS


@linux_only
def test_run_all_keeps_the_order_the_limit_and_reports_a_crash() -> None:
    seen: list[str] = []

    def work(value: int) -> Any:
        def run() -> dict[str, int]:
            if value == 2:
                os._exit(9)
            if value == 3:
                raise ChildError(["an error of the work", "its second line"])
            return {"value": value, "pid": os.getpid(), "workers": len(WORKERS)}
        return run

    outcomes = run_all([work(i) for i in range(5)], 2, lambda i: f"work {i} ended with {{code}}",
                       shared=lambda: seen.append("shared"))
    assert seen == ["shared"]
    results = [outcomes[i].result() for i in (0, 1, 4)]
    assert [r["value"] for r in results] == [0, 1, 4]
    assert len({r["pid"] for r in results}) == 3 and os.getpid() not in {r["pid"] for r in results}
    with pytest.raises(ChildError, match="work 2 ended with 9"):
        outcomes[2].result()
    with pytest.raises(ChildError) as raised:
        outcomes[3].result()
    assert raised.value.lines() == ["an error of the work", "its second line"]
    assert not WORKERS


@linux_only
def test_run_all_runs_at_most_limit_children_at_once(tmp_path: Path) -> None:
    def work(i: int) -> Any:
        def run() -> None:
            (tmp_path / f"{i}.start").write_text(str(time.monotonic()))
            time.sleep(0.3)
            (tmp_path / f"{i}.end").write_text(str(time.monotonic()))
        return run

    run_all([work(i) for i in range(4)], 2, lambda i: "{code}")
    spans = [(float((tmp_path / f"{i}.start").read_text()), float((tmp_path / f"{i}.end").read_text()))
             for i in range(4)]
    for start, _ in spans:
        assert sum(1 for s, e in spans if s <= start < e) <= 2


@linux_only
def test_ctrl_c_during_grouped_checks_leaves_no_worker_nor_their_children(tmp_path: Path) -> None:
    specs = []
    for name in TWO_CLOUDS:
        spec = tmp_path / f"ctrl-c-{name}.yaml"
        spec.write_text((ROOT / "stacks" / f"{name}.yaml").read_text().replace(
            "extends: base.yaml", f"extends: {ROOT / 'stacks' / 'base.yaml'}"))
        specs.append(str(spec))
    proc = subprocess.Popen([*AIENV, "check", *specs], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={k: v for k, v in os.environ.items() if k != "AIENV_JOBS"})
    deadline = time.monotonic() + 180
    tree: dict[int, int] = {}
    while time.monotonic() < deadline:  # until a group worker has a first-preview child of its own
        tree = _descendants(proc.pid)
        if any(parent != proc.pid for parent in tree.values()):
            break
        time.sleep(0.05)
    assert any(parent != proc.pid for parent in tree.values()), "no group worker forked a first-preview child"
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=5) == 130
    time.sleep(0.5)
    assert not [pid for pid in tree if _alive(pid) and any(s in _cmdline(pid) for s in specs)]


def _descendants(root: int) -> dict[int, int]:
    """pid -> parent pid of every process under `root`."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                parents[int(entry)] = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    found: dict[int, int] = {}
    frontier = {root}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier and pid not in found}
        found.update({pid: parents[pid] for pid in frontier})
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""
