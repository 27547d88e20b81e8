"""Readers for the documents `aienv check --plan` accepts, normalized to export-v3 resource dicts.

- export v3 (`aienv plan --export`, `pulumi stack export`): `{"version": 3, "deployment": {"resources": [...]}}`
- `pulumi preview --json`: `{"steps": [{"op", "urn", "newState": {...v3 resource...}}], ...}`; deleted
  resources (no `newState`) are skipped, replacements keep the last new state per URN.

Secrets encrypted in a real stack export (`ciphertext`, no plaintext) are read as the string `[secret]`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aienv.errors import AienvError

SECRET_SIG_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
RESOURCE_SIG = "5cf8f73096256a8f31e491e813e4eb8e"
OUTPUT_VALUE_SIG = "d0e6a833031e9bbcd3f4e8bde6ca49a4"
ASSET_SIG = "c44067f5952c0a294b673a41bacd8c17"
ARCHIVE_SIG = "0def7320c3a5731c473e5ecbe6d01bc7"
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
SKIPPED_OPS = frozenset({"delete", "delete-replaced", "discard", "discard-replaced", "remove-pending-replace"})


class PlanFileError(AienvError):
    """A plan file that cannot be read; the message names the file and what is wrong."""


@dataclass
class PlanDocument:
    resources: list[dict[str, Any]]
    kind: str  # "export" | "preview"
    path: str | None = None
    stack: str | None = None
    project: str | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    view: str | None = None  # the engine view of an `aienv` plan ("known" | "preview"); None for a file


def type_from_urn(urn: str) -> str:
    parts = urn.split("::")
    if len(parts) < 4:
        return ""
    return parts[2].rsplit("$", 1)[-1]


def _value(value: Any, where: str) -> Any:
    """A property value of a state/preview document as the policy analyzer receives it.

    - secrets keep their signature; an encrypted one (`ciphertext`, no plaintext) reads `[secret]`, a
      `--show-secrets` one (`plaintext`, JSON text) its value;
    - a resource reference becomes the resource's id, or its URN when it has none (a component), as the engine
      marshals properties for analyzers (`MarshalOptions.KeepResources` is false);
    - an output value becomes its value, unknown when it has none;
    - assets and archives keep their signature; one whose content the document does not carry (only a
      `hash`) becomes an empty one, so policies see that it exists.
    """
    if isinstance(value, list):
        return [_value(v, where) for v in value]
    if not isinstance(value, dict):
        return value
    sig = value.get(SECRET_SIG_KEY)
    if sig is None:
        return {k: _value(v, where) for k, v in value.items()}
    if sig == SECRET_SIG:
        if "value" in value:
            inner = _value(value["value"], where)
        elif isinstance(value.get("plaintext"), str):
            try:
                inner = _value(json.loads(value["plaintext"]), where)
            except ValueError:
                inner = value["plaintext"]
        else:
            inner = "[secret]"
        return {SECRET_SIG_KEY: SECRET_SIG, "value": inner}
    if sig == RESOURCE_SIG:
        ref_id = value.get("id")
        if isinstance(ref_id, str) and ref_id:
            return ref_id
        urn = value.get("urn")
        return urn if isinstance(urn, str) else UNKNOWN
    if sig == OUTPUT_VALUE_SIG:
        inner = _value(value["value"], where) if "value" in value else UNKNOWN
        return {SECRET_SIG_KEY: SECRET_SIG, "value": inner} if value.get("secret") else inner
    if sig == ASSET_SIG:
        if not any(k in value for k in ("path", "text", "uri")):
            return {SECRET_SIG_KEY: ASSET_SIG, "text": ""}
        return dict(value)
    if sig == ARCHIVE_SIG:
        if "assets" in value:
            return {**value, "assets": {k: _value(v, where) for k, v in (value.get("assets") or {}).items()}}
        if not any(k in value for k in ("path", "uri")):
            return {SECRET_SIG_KEY: ARCHIVE_SIG, "assets": {}}
        return dict(value)
    raise PlanFileError(f"{where}: unknown value signature `{sig}`")


def _normalize(res: Any, where: str) -> dict[str, Any]:
    if not isinstance(res, dict):
        raise PlanFileError(f"{where}: expected a resource object, got {type(res).__name__}")
    urn = res.get("urn")
    if not isinstance(urn, str) or not urn.startswith("urn:pulumi:"):
        raise PlanFileError(f"{where}: resource has no valid `urn`")
    out = dict(res)
    out.setdefault("type", type_from_urn(urn))
    for key in ("inputs", "outputs"):
        value = out.get(key) or {}
        if not isinstance(value, dict):
            raise PlanFileError(f"{where}: `{key}` of {urn} must be an object")
        out[key] = _value(value, f"{where}.{key}")
    deps = out.get("propertyDependencies") or {}
    if not isinstance(deps, dict) or not isinstance(out.get("dependencies") or [], list):
        raise PlanFileError(f"{where}: dependencies of {urn} are malformed")
    return out


def _stack_project(resources: list[dict[str, Any]]) -> tuple[str | None, str | None]:
    for r in resources:
        parts = r["urn"].split("::")
        if len(parts) >= 2:
            return parts[0].removeprefix("urn:pulumi:"), parts[1]
    return None, None


def _refuse_empty(resources: list[dict[str, Any]], where: str, why: str) -> None:
    """A document with no resource to check would pass every policy: that is a broken input, not a pass."""
    if not any(r.get("custom", True) and not str(r.get("type", "")).startswith("pulumi:") for r in resources):
        raise PlanFileError(f"{where}: nothing to check: {why}")


def from_export(doc: Any, path: str | None = None) -> PlanDocument:
    """A PlanDocument from an export v3 dict or a `pulumi preview --json` dict (already parsed)."""
    where = path or "<plan>"
    if not isinstance(doc, dict):
        raise PlanFileError(f"{where}: expected a JSON object (a stack export or `pulumi preview --json` output)")
    if "steps" in doc and "deployment" not in doc:
        steps = doc["steps"]
        if not isinstance(steps, list):
            raise PlanFileError(f"{where}: `steps` must be a list")
        by_urn: dict[str, dict[str, Any]] = {}
        for i, step in enumerate(steps):
            if not isinstance(step, dict):
                raise PlanFileError(f"{where}: steps[{i}] must be an object")
            if step.get("op") in SKIPPED_OPS or not step.get("newState"):
                continue
            res = _normalize(step["newState"], f"{where}: steps[{i}].newState")
            by_urn[res["urn"]] = res
        resources = list(by_urn.values())
        _refuse_empty(resources, where, "its `steps` carry no `newState` of a resource (run `pulumi preview --json` "
                                        "in the stack's project)")
        stack, project = _stack_project(resources)
        return PlanDocument(resources, "preview", path, stack, project)
    if "deployment" not in doc:
        raise PlanFileError(f"{where}: not a stack export (no `deployment`) nor preview output (no `steps`)")
    version = doc.get("version")
    if version != 3:
        raise PlanFileError(f"{where}: unsupported stack export version {version!r} (expected 3)")
    deployment = doc["deployment"]
    if not isinstance(deployment, dict):
        raise PlanFileError(f"{where}: `deployment` must be an object")
    raw = deployment.get("resources") or []
    if not isinstance(raw, list):
        raise PlanFileError(f"{where}: `deployment.resources` must be a list")
    resources = [_normalize(r, f"{where}: deployment.resources[{i}]") for i, r in enumerate(raw)
                 if not (isinstance(r, dict) and r.get("delete"))]
    _refuse_empty(resources, where, "`deployment.resources` holds no resource (export a stack that has been "
                                    "deployed, or check its `pulumi preview --json`)")
    stack, project = _stack_project(resources)
    return PlanDocument(resources, "export", path, stack, project)


def read_plan_file(path: str | Path) -> PlanDocument:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise PlanFileError(f"{p}: cannot read plan file: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise PlanFileError(f"{p}: plan file is not UTF-8 text") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PlanFileError(f"{p}:{exc.lineno}: malformed JSON: {exc.msg}") from None
    return from_export(doc, str(p))
