"""The first-preview view in a forked worker (`aienv/cli/_fork.py`): same verdict as one view after the other,
errors come back as errors, and no worker outlives the command (an error, Ctrl-C)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aienv.cli import _fork
from aienv.cli._fork import ChildError, Worker, parallel_allowed
from aienv.cli._output import WORKERS
from aienv.errors import AienvError, SpecError, SpecIssue
from tests.conftest import ROOT

AIENV = [sys.executable, "-m", "aienv"]
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the worker forks on Linux only")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@linux_only
def test_the_worker_returns_its_result() -> None:
    with Worker(parallel=True) as worker:
        pending = worker.submit(lambda: {"pid": os.getpid(), "value": [1, "two"]})
        result = pending.result()
    assert result["value"] == [1, "two"]
    assert result["pid"] != os.getpid()
    assert not WORKERS


@linux_only
def test_one_child_at_a_time_and_results_kept_in_order() -> None:
    with Worker(parallel=True) as worker:
        first = worker.submit(lambda: os.getpid())
        second = worker.submit(lambda: os.getpid())  # waits for the first child before it forks
        assert len(WORKERS) == 1
        pids = [first.result(), second.result()]
    assert len(set(pids)) == 2 and os.getpid() not in pids


def test_without_parallel_the_work_runs_here_when_asked_for() -> None:
    ran: list[int] = []
    with Worker(parallel=False) as worker:
        pending = worker.submit(lambda: ran.append(os.getpid()) or len(ran))
        assert ran == []
        assert pending.result() == 1 and pending.result() == 1
    assert ran == [os.getpid()]


@linux_only
def test_an_error_in_the_worker_is_raised_with_its_lines() -> None:
    def fails() -> None:
        raise ChildError(["first line", "second line"])

    with pytest.raises(AienvError) as raised, Worker(parallel=True) as worker:
        worker.submit(fails).result()
    assert raised.value.lines() == ["first line", "second line"]


@linux_only
def test_a_spec_error_keeps_its_issues() -> None:
    issue = SpecIssue("stacks/x.yaml", 3, "model_endpoints[0].gpu.count", "must be at least 1")

    def fails() -> None:
        raise SpecError([issue])

    with pytest.raises(SpecError) as raised, Worker(parallel=True) as worker:
        worker.submit(fails).result()
    assert raised.value.issues == [issue]


@linux_only
def test_a_crash_in_the_worker_is_an_error_not_a_hang() -> None:
    def crashes() -> None:
        raise RuntimeError("boom")

    with pytest.raises(AienvError, match="exit code 70.*AIENV_JOBS=1"), Worker(parallel=True) as worker:
        worker.submit(crashes).result()


@linux_only
def test_leaving_the_block_stops_the_worker() -> None:
    with pytest.raises(KeyboardInterrupt), Worker(parallel=True) as worker:
        pid = worker.submit(lambda: time.sleep(60))._pid  # type: ignore[attr-defined]
        assert _alive(pid) and pid in WORKERS
        raise KeyboardInterrupt
    assert not _alive(pid) and pid not in WORKERS


def test_one_job_and_threads_keep_the_views_in_this_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_fork.os, "sched_getaffinity", lambda _pid: {0, 1}, raising=False)
    monkeypatch.setattr(_fork.sys, "platform", "linux")
    monkeypatch.setattr(_fork.threading, "active_count", lambda: 1)
    assert parallel_allowed()
    monkeypatch.setenv("AIENV_JOBS", "1")
    assert not parallel_allowed()
    monkeypatch.delenv("AIENV_JOBS")
    monkeypatch.setattr(_fork.os, "sched_getaffinity", lambda _pid: {0}, raising=False)
    assert not parallel_allowed()
    monkeypatch.setattr(_fork.os, "sched_getaffinity", lambda _pid: {0, 1}, raising=False)
    monkeypatch.setattr(_fork.threading, "active_count", lambda: 2)
    assert not parallel_allowed()
    monkeypatch.setattr(_fork.threading, "active_count", lambda: 1)
    monkeypatch.setattr(_fork.sys, "platform", "darwin")
    assert not parallel_allowed()


def _verdict(stdout: str) -> dict[str, object]:
    """Everything a check says except its timings."""
    doc = json.loads(stdout)
    summary = {k: v for k, v in doc["summary"].items() if k != "elapsed_seconds"}
    return {"violations": sorted(json.dumps(v, sort_keys=True) for v in doc["violations"]),
            "deferred": sorted(json.dumps(d, sort_keys=True) for d in doc["deferred"]), "summary": summary,
            "gate": doc["gate"]}


@linux_only
def test_parallel_and_sequential_checks_agree() -> None:
    """dev-aws: its first-preview view defers what is unknown at preview, so the worker's half is visible."""
    env = {k: v for k, v in os.environ.items() if k != "AIENV_JOBS"}
    verdicts = []
    for jobs in ("1", "2"):
        proc = subprocess.run([*AIENV, "check", "dev-aws", "--json"], cwd=ROOT, capture_output=True, text=True,
                              timeout=600, env={**env, "AIENV_JOBS": jobs})
        assert proc.returncode == 0, proc.stderr
        verdicts.append(_verdict(proc.stdout))
    assert verdicts[0] == verdicts[1]
    assert verdicts[0]["deferred"]  # the preview view's deferrals came back from the worker
    assert verdicts[0]["summary"]["views"] == "known+preview"  # type: ignore[index]


@linux_only
def test_ctrl_c_during_a_parallel_check_leaves_no_worker(tmp_path: Path) -> None:
    spec = tmp_path / "ctrl-c-probe.yaml"
    spec.write_text((ROOT / "stacks" / "dev-aws.yaml").read_text().replace("extends: base.yaml",
                                                                          f"extends: {ROOT / 'stacks' / 'base.yaml'}"))
    proc = subprocess.Popen([*AIENV, "check", str(spec)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={k: v for k, v in os.environ.items() if k != "AIENV_JOBS"})
    deadline = time.monotonic() + 120
    workers: list[int] = []
    while time.monotonic() < deadline and not workers:  # wait until the worker runs
        workers = [int(p) for p in os.listdir("/proc") if p.isdigit() and _ppid(int(p)) == proc.pid]
        time.sleep(0.05)
    assert workers, "no worker process was started"
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=5) == 130
    time.sleep(0.2)
    assert not [pid for pid in workers if _alive(pid) and _cmdline(pid).count(str(spec))]


def _ppid(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return -1


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_program_that_fails_only_at_preview_is_an_input_error(tmp_path: Path, jobs: str) -> None:
    (tmp_path / "Pulumi.yaml").write_text("name: probe\nruntime: python\n")
    (tmp_path / "__main__.py").write_text(
        "import pulumi\n"
        "if pulumi.runtime.is_dry_run():\n"
        "    raise ValueError('only a preview reaches this line')\n"
        "pulumi.export('ok', 1)\n")
    env = {k: v for k, v in os.environ.items() if k != "AIENV_JOBS"}
    proc = subprocess.run([*AIENV, "check", "--program", str(tmp_path)], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env={**env, "AIENV_JOBS": jobs})
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "only a preview reaches this line" in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
