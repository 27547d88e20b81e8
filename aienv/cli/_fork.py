"""Work in a forked child while this process goes on: the first-preview view of a check.

The first-preview view is a second, independent engine run (a real preview runs the program again with
`is_dry_run()` true, skipping the `apply` callbacks on unknowns, so it cannot be read off the known view's
run). On a machine with more than one CPU, `aienv check` forks a child for it once the known view is planned:
the child starts from this process's memory, with the provider SDK modules the known plan imported, and sends
back only its pickled result, while this process runs the packs on the known view and plans the next spec's
known view. One child at a time: the process and its child share two CPUs.

One view after the other instead (same results) where fork is not the platform's safe default (only Linux
forks here), from a process with threads, with one CPU, or with `AIENV_JOBS=1`.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from aienv.cli._output import WORKERS
from aienv.errors import AienvError, SpecError

T = TypeVar("T")


class ChildError(AienvError):
    """An `AienvError` the child raised, as its lines."""

    def __init__(self, lines: list[str]):
        self._lines = list(lines)
        super().__init__("\n".join(self._lines))

    def lines(self) -> list[str]:
        return list(self._lines)


def parallel_allowed() -> bool:
    """Fork only on Linux, from a single-threaded process (a lock another thread holds would stay locked in the
    child), with two or more usable CPUs, unless `AIENV_JOBS=1`."""
    if os.environ.get("AIENV_JOBS", "").strip() == "1" or not sys.platform.startswith("linux"):
        return False
    if threading.active_count() > 1:
        return False
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return cpus > 1


class Pending(Generic[T]):
    """A result to come: `result()` returns it, or raises the `AienvError` its work raised."""

    def result(self) -> T:
        raise NotImplementedError

    def cancel(self) -> None:
        """Stop the work if it still runs."""


class _Inline(Pending[T]):
    """Work run in this process, when its result is first asked for."""

    def __init__(self, work: Callable[[], T]):
        self._work: Callable[[], T] | None = work
        self._value: T | None = None

    def result(self) -> T:
        if self._work is not None:
            work, self._work = self._work, None
            self._value = work()
        return self._value  # type: ignore[return-value]


class _Forked(Pending[T]):
    """Work running in a forked child; its pickled outcome comes back through a pipe."""

    def __init__(self, pid: int, read_fd: int):
        self._pid = pid
        self._fd = read_fd
        self._outcome: tuple[str, Any] | None = None

    def wait(self) -> None:
        """Read the child's outcome and reap it."""
        if self._outcome is not None:
            return
        with os.fdopen(self._fd, "rb") as pipe:
            self._fd = -1
            data = pipe.read()
        _, status = os.waitpid(self._pid, 0)
        WORKERS.discard(self._pid)
        self._pid = 0
        code = os.waitstatus_to_exitcode(status)
        if code != 0 or not data:
            self._outcome = ("error", [f"the first-preview view's worker process ended with exit code {code}; "
                                       "run again with AIENV_JOBS=1 to plan both views in this process"])
        else:
            self._outcome = pickle.loads(data)

    def result(self) -> T:
        self.wait()
        assert self._outcome is not None
        kind, value = self._outcome
        if kind == "spec-error":
            raise SpecError(value)
        if kind == "error":
            raise ChildError(value)
        return value

    def cancel(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        if self._pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self._pid, 0)
            WORKERS.discard(self._pid)
            self._pid = 0


class Worker:
    """Runs submitted work in one forked child at a time (`parallel`), or in this process when asked for.

    `submit` first waits for the previous child, so this process and one child share two CPUs; use it as a
    context manager: leaving the block (an error, Ctrl-C) stops a child still running, so none outlives the
    command."""

    def __init__(self, parallel: bool):
        self.parallel = parallel
        self._running: _Forked[Any] | None = None

    def submit(self, work: Callable[[], T]) -> Pending[T]:
        if not self.parallel:
            return _Inline(work)
        if self._running is not None:
            self._running.wait()
        sys.stdout.flush()
        sys.stderr.flush()
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: never returns into the caller's code
            _child(work, read_fd, write_fd)
        os.close(write_fd)
        WORKERS.add(pid)
        self._running = _Forked(pid, read_fd)
        return self._running

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._running is not None:
            self._running.cancel()
            self._running = None


def _child(work: Callable[[], Any], read_fd: int, write_fd: int) -> None:
    code = 0
    try:
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # Ctrl-C reaches the whole group: the parent reports it
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        WORKERS.clear()
        os.close(read_fd)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)  # the parent prints; the child's progress and warnings would garble its output
        os.dup2(devnull, 2)
        sys.stdout = sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - the child's streams until it exits
        # Errors travel as their lines (an exception's own pickling loses its constructor's arguments).
        try:
            payload: tuple[str, Any] = ("ok", work())
        except SpecError as exc:
            payload = ("spec-error", exc.issues)
        except AienvError as exc:
            payload = ("error", exc.lines())
        data = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
        with os.fdopen(write_fd, "wb") as pipe:
            pipe.write(data)
    except BaseException:  # noqa: BLE001 - an unexpected failure: the parent sees the exit code
        code = 70
    finally:
        os._exit(code)
