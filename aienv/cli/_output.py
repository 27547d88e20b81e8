"""How the `aienv` command writes: output files, standard streams, signals and colours, like a Unix tool.

- `write_output(path, text, option)`: a regular file (or a new one) is written to a temporary file in its
  folder and renamed over it, so a reader never sees half a file, with the file's own mode (a new file: the
  umask's, as `>` would); a symlink is followed and its target written, the link stays; devices, FIFOs,
  sockets and `/dev/stdout`-like paths are opened and written as given (`--sarif /dev/stdout` prints,
  `--export /dev/full` fails with "No space left on device"); a missing folder is an error, never created.
- `guard_streams()`: a reader that leaves (`aienv validate stacks/ | head -1`) ends the output quietly;
  the command still finishes and exits with its own result.
- `handle_signals()`: Ctrl-C (and SIGTERM) end the process at once with 130 (143), after removing the
  temporary file being written; nothing half-written is left and no exception travels through the
  program being planned (an interrupt raised inside a provider import or the event loop could hang it, or
  surface later as a bogus program error).
- `Style`: ANSI colours on a terminal, never when `NO_COLOR` is set (https://no-color.org: "when present
  and not an empty string, prevents the addition of ANSI color"), `TERM=dumb`, or output is not a TTY;
  `--color`/`--no-color` decide explicitly.
"""

from __future__ import annotations

import contextlib
import os
import signal
import stat
import sys
import tempfile
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from aienv.errors import AienvError

# Temporary files being written right now (removed by the signal handler before exiting).
_PENDING: set[str] = set()
# Folders whose contents the kernel makes up: a path there is never replaced, always written through.
_VIRTUAL = ("/dev/", "/proc/", "/sys/")


class OutputError(AienvError):
    """An output file that cannot be written; the message names the option, the path and the reason."""


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _virtual(path: Path) -> bool:
    text = str(path.absolute())
    return text.startswith(_VIRTUAL) or text in ("/dev", "/proc", "/sys")


def write_output(path: str | os.PathLike[str], text: str, option: str = "output") -> None:
    """Write `text` to `path` as a Unix tool would (see the module docstring). Raises `OutputError`."""
    given = Path(path)
    shown = f"{option} {given}" if option else str(given)
    try:
        lst = os.lstat(given)
    except FileNotFoundError:
        lst = None
    except OSError as exc:
        raise OutputError(f"{shown}: cannot write: {exc.strerror or exc}") from None
    if lst is not None and stat.S_ISLNK(lst.st_mode):
        try:
            st: os.stat_result | None = os.stat(given)
        except FileNotFoundError:
            st = None  # a dangling link: create its target
        except OSError as exc:
            raise OutputError(f"{shown}: cannot write: {exc.strerror or exc}") from None
        target = Path(os.path.realpath(given))
        if _virtual(given) or _virtual(target) or (st is not None and not stat.S_ISREG(st.st_mode)):
            _write_through(given, text, shown, st)
            return
        _replace(target, text, shown, st)
        return
    if lst is not None and (not stat.S_ISREG(lst.st_mode) or _virtual(given)):
        _write_through(given, text, shown, lst)
        return
    _replace(given, text, shown, lst)


def _write_through(path: Path, text: str, shown: str, st: os.stat_result | None) -> None:
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise OutputError(f"{shown}: is a folder; give a file name")
    try:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as exc:
        raise OutputError(f"{shown}: cannot write: {exc.strerror or exc}") from None


def _replace(path: Path, text: str, shown: str, st: os.stat_result | None) -> None:
    folder = path.parent
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        raise OutputError(f"{shown}: the folder {folder} {what}; create it first (mkdir -p {folder})")
    mode = stat.S_IMODE(st.st_mode) if st is not None else 0o666 & ~_umask()
    tmp = ""
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
        _PENDING.add(tmp)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            os.fchmod(fh.fileno(), mode)
        os.replace(tmp, path)
    except OSError as exc:
        raise OutputError(f"{shown}: cannot write: {exc.strerror or exc}") from None
    finally:
        if tmp:
            _PENDING.discard(tmp)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)


def check_output_folder(path: str | os.PathLike[str] | None, option: str, placeholder: str | None = None) -> None:
    """Refuse an output path whose folder is missing before any work is done (exit 2, nothing written).

    With `placeholder` (`{stack}`), the folder of the path it stands in is checked.
    """
    if not path:
        return
    shown = Path(path)
    given = Path(str(path).replace(placeholder, "stack")) if placeholder else shown
    if os.path.lexists(given):
        if given.is_dir():
            raise OutputError(f"{option} {shown}: is a folder; give a file name")
        return
    target = Path(os.path.realpath(given))
    if not target.parent.is_dir():
        raise OutputError(f"{option} {shown}: the folder {target.parent} does not exist; "
                          f"create it first (mkdir -p {target.parent})")


# --- standard streams ----------------------------------------------------------------------------------

class QuietPipe:
    """A text stream that stops writing, silently, once its reader has gone (EPIPE)."""

    def __init__(self, stream: TextIO):
        self._stream = stream
        self.reader_gone = False

    def write(self, text: str) -> int:
        if not self.reader_gone:
            try:
                self._stream.write(text)
            except (BrokenPipeError, ValueError):
                self._gone()
        return len(text)

    def flush(self) -> None:
        if not self.reader_gone:
            try:
                self._stream.flush()
            except (BrokenPipeError, ValueError):
                self._gone()

    def _gone(self) -> None:
        self.reader_gone = True
        # Point the descriptor at /dev/null so the interpreter's own final flush has nowhere to fail.
        with contextlib.suppress(OSError, ValueError, AttributeError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._stream.fileno())
            os.close(devnull)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def guard_streams() -> None:
    if not isinstance(sys.stdout, QuietPipe):
        sys.stdout = QuietPipe(sys.stdout)
    if not isinstance(sys.stderr, QuietPipe):
        sys.stderr = QuietPipe(sys.stderr)


# --- signals -----------------------------------------------------------------------------------------

WORKERS: set[int] = set()  # worker processes (aienv/cli/_fork.py) to stop when a signal ends the command


def _stop_workers() -> None:
    for pid in list(WORKERS):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def _remove_pending() -> None:
    for tmp in list(_PENDING):
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def _on_signal(signum: int, _frame: FrameType | None) -> None:
    _stop_workers()
    _remove_pending()
    prefix = b"\r\x1b[K" if _isatty(2) else b""
    with contextlib.suppress(OSError):
        os.write(2, prefix + b"interrupted\n")
    os._exit(128 + signum)


def _isatty(fd: int) -> bool:
    try:
        return os.isatty(fd)
    except OSError:
        return False


def handle_signals() -> None:
    """End the process on SIGINT/SIGTERM right away (exit 130/143), removing half-written files."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _on_signal)


# --- colours -----------------------------------------------------------------------------------------

_CODES = {"bold": "1", "dim": "2", "red": "31", "green": "32", "yellow": "33", "blue": "34", "magenta": "35",
          "cyan": "36", "bold_red": "1;31", "bold_green": "1;32"}


def colour_wanted(stream: TextIO, choice: bool | None = None) -> bool:
    """`--color`/`--no-color` when given; else a TTY, without NO_COLOR set, on a terminal that is not dumb."""
    if choice is not None:
        return choice
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("TERM") == "dumb":
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class Style:
    """Wraps text in ANSI colour codes, or leaves it alone."""

    def __init__(self, enabled: bool):
        self.enabled = enabled

    def __call__(self, text: str, style: str) -> str:
        if not self.enabled or not text:
            return text
        return f"\x1b[{_CODES[style]}m{text}\x1b[0m"

    @classmethod
    def for_stream(cls, stream: TextIO, choice: bool | None = None) -> Style:
        return cls(colour_wanted(stream, choice))


PLAIN = Style(False)
