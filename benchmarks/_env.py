"""The benchmarks run with the project's interpreter: say so, instead of a traceback, when another one runs them."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def require_project_interpreter(script: str) -> None:
    """Exit with one clear line when `aienv` or the Pulumi SDK is not importable by this interpreter."""
    missing = [name for name in ("pulumi", "aienv") if importlib.util.find_spec(name) is None]
    if missing:
        venv = Path(__file__).resolve().parents[1] / ".venv" / "bin" / "python"
        sys.exit(f"{script}: {', '.join(missing)} is not installed for {sys.executable}; run it with the project's "
                 f"virtualenv: {venv if venv.exists() else '.venv/bin/python'} {script} "
                 "(create it as the README's quick start does)")


def timed_child(argv: list[str], cwd: Path, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Run `argv` in `cwd` as a child process: its wall time, its CPU time (user + system of the child and the
    children it waited for, from `os.wait4`, so other load on the machine does not count), exit code and stdout."""
    with tempfile.TemporaryFile() as out:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=cwd, stdout=out, stderr=subprocess.DEVNULL,
                                env=dict(env) if env is not None else None)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here: keep Popen from waiting again
        out.seek(0)
        text = out.read().decode()
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "code": proc.returncode, "stdout": text}
