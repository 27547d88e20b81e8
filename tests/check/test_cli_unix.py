"""The `aienv` command behaves like a Unix tool: how it writes files (through symlinks, to devices and FIFOs,
atomically, with the umask's mode, never into a missing folder), closed pipes, Ctrl-C, and colours."""

from __future__ import annotations

import json
import os
import pty
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from aienv.cli import main
from aienv.cli._output import OutputError, Style, colour_wanted, write_output
from tests.conftest import ROOT

AIENV = [sys.executable, "-m", "aienv"]
# A plan with one resource no policy flags: `check` passes it.
PLAN = {"version": 3, "deployment": {"manifest": {}, "resources": [
    {"urn": "urn:pulumi:dev::p::pulumi:pulumi:Stack::p-dev", "type": "pulumi:pulumi:Stack", "custom": False},
    {"urn": "urn:pulumi:dev::p::random:index/randomPet:RandomPet::pet", "type": "random:index/randomPet:RandomPet",
     "custom": True, "id": "pet-1", "inputs": {"length": 2}}]}}


def run(*args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*AIENV, *args], capture_output=True, text=True, cwd=ROOT, timeout=300, **kwargs)


# --- files ------------------------------------------------------------------------------------------------------

def test_a_symlink_is_followed_and_kept(tmp_path: Path) -> None:
    real = tmp_path / "real.sarif"
    real.write_text("original")
    link = tmp_path / "link.sarif"
    link.symlink_to(real.name)
    write_output(link, "new", "--sarif")
    assert link.is_symlink() and os.readlink(link) == real.name
    assert real.read_text() == "new"


def test_a_dangling_symlink_creates_its_target(tmp_path: Path) -> None:
    link = tmp_path / "out.json"
    link.symlink_to("made.json")
    write_output(link, "x", "--export")
    assert link.is_symlink() and (tmp_path / "made.json").read_text() == "x"


def test_a_fifo_is_written_not_replaced(tmp_path: Path) -> None:
    fifo = tmp_path / "out.sarif"
    os.mkfifo(fifo)
    got: list[str] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_text()))
    reader.start()
    write_output(fifo, "through the fifo", "--sarif")
    reader.join(10)
    assert got == ["through the fifo"] and stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_a_device_is_written_not_replaced() -> None:
    write_output("/dev/null", "discarded", "--export")
    assert stat.S_ISCHR(os.lstat("/dev/null").st_mode)


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full on this system")
def test_a_full_device_is_an_error_and_stays_a_device() -> None:
    with pytest.raises(OutputError) as exc:
        write_output("/dev/full", "x" * 100_000, "--export")
    assert str(exc.value) == "--export /dev/full: cannot write: No space left on device"
    assert stat.S_ISCHR(os.lstat("/dev/full").st_mode)


def test_dev_stdout_prints() -> None:
    proc = run("schema", "-o", "/dev/stdout")
    assert proc.returncode == 0 and json.loads(proc.stdout)["$id"]


def test_new_files_take_the_umask_mode_and_existing_files_keep_theirs(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        write_output(tmp_path / "new.json", "{}", "--export")
        existing = tmp_path / "kept.json"
        existing.write_text("old")
        existing.chmod(0o640)
        write_output(existing, "new", "--export")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "new.json").stat().st_mode) == 0o644
    assert stat.S_IMODE(existing.stat().st_mode) == 0o640 and existing.read_text() == "new"


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "report.md"
    target.write_text("old")

    def fail(*_args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OutputError):
        write_output(target, "new", "--report")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["report.md"]


@pytest.mark.parametrize("argv", [
    ["schema", "-o", "{missing}/schema.json"],
    ["check", "--plan", "{plan}", "--sarif", "{missing}/out.sarif"],
    ["plan", "--program", "{program}", "--export", "{missing}/plan.json"],
    ["check", "stacks/", "--report", "{missing}/{{stack}}.md"],  # refused before planning anything
])
def test_a_missing_folder_is_refused_with_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                 argv: list[str]) -> None:
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps(PLAN))
    missing = tmp_path / "nodir" / "x"
    args = [a.format(missing=missing, plan=plan, program=tmp_path) for a in argv]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"the folder {missing} does not exist; create it first (mkdir -p {missing})" in err
    assert not (tmp_path / "nodir").exists()


def test_schema_reference_never_overwrites_a_file_without_its_block(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    notes = tmp_path / "notes.md"
    notes.write_text("# My notes\nimportant text\n")
    assert main(["schema", "--reference", "-o", str(notes)]) == 2
    assert "has no generated reference block" in capsys.readouterr().err
    assert notes.read_text() == "# My notes\nimportant text\n"


# --- pipes and signals --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("argv", [["validate", "stacks/"], ["validate", "--json", "stacks/"], ["schema"],
                                  ["check", "--plan", "{plan}", "--json"]])
def test_a_closed_pipe_ends_quietly(tmp_path: Path, argv: list[str]) -> None:
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps(PLAN))
    proc = subprocess.Popen([*AIENV, *(a.format(plan=plan) for a in argv)], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader is gone before the first write: every write fails with EPIPE
    code = proc.wait(timeout=120)
    err = proc.stderr.read().decode()
    assert code == 0, err
    assert "Traceback" not in err and "BrokenPipe" not in err


def test_a_closed_pipe_keeps_the_exit_code_of_a_failed_validation(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\n")
    proc = subprocess.Popen([*AIENV, "validate", "stacks/", str(bad)], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    assert proc.wait(timeout=120) == 2
    assert "Traceback" not in proc.stderr.read().decode()


@pytest.mark.parametrize("delay", [0.3, 0.9, 1.8])
def test_ctrl_c_ends_a_plan_at_once_with_130_and_no_file(tmp_path: Path, delay: float) -> None:
    """Early (imports), in the middle and late: newcomer D4 saw hangs and a bogus spec-field error."""
    export = tmp_path / "{stack}.json"
    proc = subprocess.Popen([*AIENV, "plan", "prod-gcp", "prod-azure", "--export", str(export)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(delay)
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    try:
        code = proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("aienv did not end within 5 s of Ctrl-C")
    took = time.monotonic() - sent
    err = proc.stderr.read().decode() if proc.stderr else ""
    assert code == 130, err
    assert took < 1.0, took
    assert err.strip().endswith("interrupted") and "spec field" not in err and "Traceback" not in err
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary left
    assert all(json.loads(p.read_text())["version"] == 3 for p in tmp_path.iterdir())  # any file is whole


# --- colours ------------------------------------------------------------------------------------------------------

class _Tty:
    def isatty(self) -> bool:
        return True


def test_colour_only_on_a_terminal_and_never_with_no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    assert colour_wanted(_Tty())  # type: ignore[arg-type]
    assert not colour_wanted(open(os.devnull, "w"))  # noqa: SIM115 - a file is not a terminal
    monkeypatch.setenv("NO_COLOR", "1")
    assert not colour_wanted(_Tty())  # type: ignore[arg-type]
    assert colour_wanted(_Tty(), choice=True)  # type: ignore[arg-type]  # --color wins
    monkeypatch.delenv("NO_COLOR")
    monkeypatch.setenv("TERM", "dumb")
    assert not colour_wanted(_Tty())  # type: ignore[arg-type]
    assert Style(False)("FAIL", "bold_red") == "FAIL" and Style(True)("FAIL", "bold_red") == "\x1b[1;31mFAIL\x1b[0m"


def _check_on_a_terminal(plan: Path, env: dict[str, str], *extra: str) -> str:
    leader, follower = pty.openpty()
    proc = subprocess.Popen([*AIENV, *extra, "check", "--plan", str(plan)], cwd=ROOT, stdout=follower,
                            stderr=subprocess.DEVNULL, env=env)
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=120)
    os.close(leader)
    return b"".join(chunks).decode()


def test_a_terminal_gets_colours_unless_no_color(tmp_path: Path) -> None:
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps(PLAN))
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"} | {"TERM": "xterm"}
    assert "\x1b[1;32mPASS\x1b[0m" in _check_on_a_terminal(plan, env)
    assert "\x1b[" not in _check_on_a_terminal(plan, env | {"NO_COLOR": "1"})
    assert "\x1b[" not in _check_on_a_terminal(plan, env, "--no-color")
    piped = subprocess.run([*AIENV, "--color", "check", "--plan", str(plan)], cwd=ROOT, capture_output=True,
                           text=True, env=env, timeout=120)
    assert "\x1b[1;32mPASS" in piped.stdout


def test_stack_names_cannot_leave_the_project(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "Pulumi.yaml").write_text("name: p\nruntime: python\n")
    (tmp_path / "__main__.py").write_text("import pulumi\n")
    assert main(["plan", "--program", str(tmp_path), "--stack", "../../etc"]) == 2
    assert "--stack ../../etc: give a stack name" in capsys.readouterr().err
