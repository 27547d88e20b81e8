"""`NAME=VALUE` command-line pairs (`--var`, `--config`), parsed one way everywhere."""

from __future__ import annotations

from aienv.errors import AienvError


def parse_assignments(pairs: list[str] | None, option: str, example: str = "NAME=VALUE") -> dict[str, str]:
    """`{"name": "value"}` from `["name=value", ...]`; a pair without `=` or a name is a clear error."""
    result: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise AienvError(f"{option} {pair!r}: expected KEY=VALUE (e.g. {example})")
        result[key.strip()] = value
    return result
