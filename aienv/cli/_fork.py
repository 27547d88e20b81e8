"""Work in forked children while this process goes on: the first-preview view of a check, and one group of
specs per cloud when a check names specs of several clouds.

The first-preview view is a second, independent engine run (a real preview runs the program again with
`is_dry_run()` true, skipping the `apply` callbacks on unknowns, so it cannot be read off the known view's
run). On a machine with more than one CPU, `aienv check` forks a child for it once the known view is planned:
the child starts from this process's memory, with the provider SDK modules the known plan imported, and sends
back only its pickled result, while this process runs the packs on the known view and plans the next spec's
known view. One child at a time: the process and its child share two CPUs.

`run_all` runs several pieces of work in forked children at once (at most `limit` at a time), each with the
command's stderr (its progress lines) and its result pickled back; `aienv check` gives it one group of specs per
cloud, all at once, forked before this process imports any cloud's provider SDK, so each cloud's SDK is imported
once, in its group, while the other groups import theirs and plan.

Every child is killed with its parent (`PR_SET_PDEATHSIG`): a group's own first-preview child does not outlive
a group killed by Ctrl-C.

One view after the other instead (same results) where fork is not the platform's safe default (only Linux
forks here), from a process with threads, with one CPU, or with `AIENV_JOBS=1`.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import pickle
import selectors
import signal
import sys
import threading
from collections.abc import Callable, Sequence
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
    return usable_cpus() > 1


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity mask, e.g. a container's cpuset)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


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


PREVIEW_CRASH = ("the first-preview view's worker process ended with exit code {code}; run again with "
                 "AIENV_JOBS=1 to plan both views in this process")


def _outcome(status: int, data: bytes, crash: str) -> tuple[str, Any]:
    """A child's outcome from its wait status and what it wrote: its pickled payload, or `crash` (a message with
    a `{code}` field) when it ended without one."""
    code = os.waitstatus_to_exitcode(status)
    if code != 0 or not data:
        return ("error", [crash.format(code=code)])
    outcome: tuple[str, Any] = pickle.loads(data)
    return outcome


def _raise_or_return(outcome: tuple[str, Any]) -> Any:
    kind, value = outcome
    if kind == "spec-error":
        raise SpecError(value)
    if kind == "error":
        raise ChildError(value)
    return value


class _Done(Pending[T]):
    """The outcome of work that ran in a child and has ended."""

    def __init__(self, outcome: tuple[str, Any]):
        self._outcome = outcome

    def result(self) -> T:
        value: T = _raise_or_return(self._outcome)
        return value


class _Forked(Pending[T]):
    """Work running in a forked child; its pickled outcome comes back through a pipe."""

    def __init__(self, pid: int, read_fd: int, crash: str = PREVIEW_CRASH):
        self._pid = pid
        self._fd = read_fd
        self._crash = crash
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
        self._outcome = _outcome(status, data, self._crash)

    def result(self) -> T:
        self.wait()
        assert self._outcome is not None
        value: T = _raise_or_return(self._outcome)
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
        self._running = _Forked(*_spawn(work, keep_stderr=False))
        return self._running

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._running is not None:
            self._running.cancel()
            self._running = None


def run_all(works: Sequence[Callable[[], T]], limit: int, crash: Callable[[int], str],
            shared: Callable[[], object] | None = None) -> list[Pending[T]]:
    """Run each piece of work in a forked child, at most `limit` at a time and started in order; the children
    write to the command's stderr (not its stdout). Returns their outcomes in the order of `works` once all
    ended; `crash(i)` is the error (with a `{code}` field) for work `i` whose child ended without a result.
    `shared()` runs here once the first child is forked (while it works on another CPU): what it imports, the
    later children find imported.

    The pipes are read as data arrives, so a child never waits on a full pipe while another one is read; leaving
    early (an error, Ctrl-C) kills the children still running."""
    outcomes: dict[int, tuple[str, Any]] = {}
    running: dict[int, tuple[int, int, bytearray]] = {}  # pipe -> (index of the work, pid, what came so far)
    queue = list(range(len(works)))
    selector = selectors.DefaultSelector()
    try:
        while queue or running:
            while queue and len(running) < max(1, limit):
                index = queue.pop(0)
                pid, fd = _spawn(works[index], keep_stderr=True)
                running[fd] = (index, pid, bytearray())
                selector.register(fd, selectors.EVENT_READ)
                if shared is not None:
                    warm: Callable[[], object] = shared
                    shared = None
                    warm()
            for key, _ in selector.select():
                chunk = os.read(key.fd, 1 << 20)
                index, pid, data = running[key.fd]
                if chunk:
                    data.extend(chunk)
                    continue
                selector.unregister(key.fd)
                os.close(key.fd)
                del running[key.fd]
                _, status = os.waitpid(pid, 0)
                WORKERS.discard(pid)
                outcomes[index] = _outcome(status, bytes(data), crash(index))
    finally:
        for fd, (_, pid, _) in running.items():
            with contextlib.suppress(OSError):
                os.close(fd)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
            WORKERS.discard(pid)
        selector.close()
    return [_Done(outcomes[i]) for i in range(len(works))]


def _spawn(work: Callable[[], Any], *, keep_stderr: bool) -> tuple[int, int]:
    """Fork a child that runs `work` and writes its pickled outcome to a pipe: (pid, the pipe's read end)."""
    sys.stdout.flush()
    sys.stderr.flush()
    read_fd, write_fd = os.pipe()
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:  # the child: never returns into the caller's code
        _child(work, read_fd, write_fd, parent, keep_stderr)
    os.close(write_fd)
    WORKERS.add(pid)
    return pid, read_fd


_PR_SET_PDEATHSIG = 1  # prctl(2): "Set the parent-death signal of the calling process"


def _die_with(parent: int) -> None:
    """Have the kernel kill this child when its parent ends, however it ends (a group's first-preview child
    when Ctrl-C kills the group): prctl(2) PR_SET_PDEATHSIG, "the signal that the calling process will get when
    its parent dies". A parent that already ended before the call: exit now."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(1)


def _child(work: Callable[[], Any], read_fd: int, write_fd: int, parent: int, keep_stderr: bool) -> None:
    code = 0
    try:
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # Ctrl-C reaches the whole group: the parent reports it
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        _die_with(parent)
        WORKERS.clear()
        os.close(read_fd)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)  # the parent prints; the child's progress and warnings would garble its output
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - the child's stream until it exits
        if not keep_stderr:
            os.dup2(devnull, 2)
            sys.stderr = sys.stdout
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
        with contextlib.suppress(BaseException):
            sys.stderr.flush()  # the last progress line of a child that keeps the command's stderr
        os._exit(code)
