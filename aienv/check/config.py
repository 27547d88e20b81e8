"""`--policy-config FILE`: Pulumi's `--policy-pack-config` JSON format.

`{"policy-name": {"enforcementLevel": "mandatory", "param": ...}, "other": "disabled", "all": "advisory"}`.
Each value is an enforcement level string or an object with an optional `enforcementLevel` plus the
policy's config properties, checked against the policy's config schema (unknown properties and wrong
types are errors, as the Pulumi CLI reports them).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aienv.errors import AienvError

LEVELS = ("advisory", "mandatory", "remediate", "disabled")
_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,), "integer": (int,), "number": (int, float), "boolean": (bool,), "array": (list,),
    "object": (dict,),
}


class PolicyConfigError(AienvError):
    """A policy configuration that cannot be used; the message names the file and the problem."""


def normalize(raw: Any, where: str) -> dict[str, dict[str, Any]]:
    """Validate the shape and turn string values into `{"enforcementLevel": ...}` objects."""
    if not isinstance(raw, dict):
        raise PolicyConfigError(f"{where}: expected a JSON object mapping policy names to settings")
    out: dict[str, dict[str, Any]] = {}
    for name, value in raw.items():
        if isinstance(value, str):
            value = {"enforcementLevel": value}
        if not isinstance(value, dict):
            raise PolicyConfigError(f"{where}: `{name}` must be an enforcement level or an object")
        level = value.get("enforcementLevel")
        if level is not None and level not in LEVELS:
            raise PolicyConfigError(f"{where}: `{name}.enforcementLevel` must be one of {', '.join(LEVELS)}, "
                                    f"not {level!r}")
        out[name] = dict(value)
    return out


def load_policy_config(path: str | Path) -> dict[str, dict[str, Any]]:
    p = Path(path)
    try:
        raw = json.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PolicyConfigError(f"{p}: cannot read policy config: {exc.strerror or exc}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise PolicyConfigError(f"{p}: malformed JSON: {exc}") from None
    return normalize(raw, str(p))


def check_properties(policy: str, props: Mapping[str, Any], schema: Mapping[str, Mapping[str, Any]] | None,
                     where: str) -> None:
    """Check config properties against a policy's config schema (types and known names)."""
    for key, value in props.items():
        if key == "enforcementLevel":
            continue
        if not schema or key not in schema:
            known = ", ".join(schema or {}) or "none"
            raise PolicyConfigError(f"{where}: `{policy}` has no config property `{key}` (known: {known})")
        expected = schema[key].get("type")
        types = _JSON_TYPES.get(str(expected))
        bad_bool = isinstance(value, bool) and expected in ("integer", "number")
        if types and (not isinstance(value, types) or bad_bool):
            raise PolicyConfigError(f"{where}: `{policy}.{key}` must be of type {expected}, not {type(value).__name__}")
        if expected == "array" and "items" in schema[key]:
            item_types = _JSON_TYPES.get(str(schema[key]["items"].get("type")))
            if item_types and not all(isinstance(v, item_types) for v in value):
                raise PolicyConfigError(f"{where}: `{policy}.{key}` items must be of type "
                                        f"{schema[key]['items'].get('type')}")
        minimum = schema[key].get("minimum")
        if minimum is not None and isinstance(value, int | float) and value < minimum:
            raise PolicyConfigError(f"{where}: `{policy}.{key}` must be at least {minimum}")
