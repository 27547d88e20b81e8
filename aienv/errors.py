"""Errors that end a command with a clear message and exit code 2, and the spec-field context.

No Pulumi import here: the spec, the components and the CLI all use it.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from dataclasses import dataclass


class AienvError(Exception):
    """An error the CLI reports as one or more clear lines, exit code 2, never a traceback."""

    def lines(self) -> list[str]:
        return [str(self)]


@dataclass(frozen=True)
class SpecIssue:
    """One problem in a spec: where it is and what to do about it."""

    file: str
    line: int | None
    path: str  # dotted path, e.g. "model_endpoints[0].gpu.count" ("" for the whole document)
    message: str

    def format(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: {self.path or '<document>'}: {self.message}"


class SpecError(AienvError):
    """A spec that cannot be loaded or does not validate."""

    def __init__(self, issues: list[SpecIssue]):
        self.issues = issues
        super().__init__("\n".join(i.format() for i in issues))

    def lines(self) -> list[str]:
        return [i.format() for i in self.issues]


class ComponentInputError(AienvError):
    """Raised by a component when its (already validated) inputs cannot be built.

    `field` is the dotted spec path that led there, so the user knows what to change.
    """

    def __init__(self, field: str, message: str):
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


# The spec field whose component is being constructed right now. `components.environment` wraps
# every component construction in `spec_field(...)`; the offline engine reads it when a provider
# `...Args` class or a component raises, to say which spec field led there.
_SPEC_FIELDS: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar("aienv_spec_fields", default=())


@contextlib.contextmanager
def spec_field(path: str) -> Iterator[None]:
    token = _SPEC_FIELDS.set((*_SPEC_FIELDS.get(), path))
    try:
        yield
    except Exception as exc:  # remember the innermost field on the exception itself
        if not hasattr(exc, "aienv_spec_field"):
            exc.aienv_spec_field = path  # type: ignore[attr-defined]
        raise
    finally:
        _SPEC_FIELDS.reset(token)


def current_spec_field() -> str | None:
    fields = _SPEC_FIELDS.get()
    return fields[-1] if fields else None
