"""`pulumi stack export` (version 3) documents from a `Plan`.

Only the fields the upstream schema (`shared/schemas/pulumi/resources.json`) allows are written;
secrets appear only as secret signature objects with an opaque ciphertext, never in plaintext.
"""

from __future__ import annotations

import datetime
import hashlib
import importlib.metadata
import re
from typing import TYPE_CHECKING, Any

from aienv.engine.wire import SECRET_SIG, SIG_KEY

if TYPE_CHECKING:
    from aienv.engine.model import Plan, RecordedResource

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def engine_version() -> str:
    try:
        return "v" + importlib.metadata.version("pulumi")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover
        return "v3.0.0"


def duration_seconds(text: str) -> float:
    """Seconds in a Go duration string ("10m", "1h30m", "45s")."""
    return sum(float(n) * _UNIT_SECONDS[u] for n, u in _DURATION.findall(text))


def _ciphertext(value: Any) -> str:
    # Opaque and deterministic; derived from the value's shape only, never revealing it.
    return "aienv-offline:" + hashlib.sha256(repr(type(value)).encode()).hexdigest()[:16]


def export_value(value: Any) -> Any:
    """A recorded wire value in state form: secrets become ciphertext signature objects."""
    if isinstance(value, dict):
        if value.get(SIG_KEY) == SECRET_SIG:
            return {SIG_KEY: SECRET_SIG, "ciphertext": _ciphertext(value.get("value"))}
        return {k: export_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [export_value(v) for v in value]
    return value


def export_resource(rec: RecordedResource) -> dict[str, Any]:
    out: dict[str, Any] = {"urn": rec.urn, "custom": rec.custom}
    if rec.custom and rec.id:
        out["id"] = rec.id
    out["type"] = rec.type
    if rec.inputs:
        out["inputs"] = export_value(rec.inputs)
    if rec.outputs:
        out["outputs"] = export_value(rec.outputs)
    if rec.parent:
        out["parent"] = rec.parent
    if rec.protect:
        out["protect"] = True
    if rec.external:
        out["external"] = True
    if rec.dependencies:
        out["dependencies"] = list(rec.dependencies)
    if rec.provider:
        out["provider"] = rec.provider
    if rec.property_dependencies:
        out["propertyDependencies"] = {k: list(v) for k, v in rec.property_dependencies.items()}
    if rec.additional_secret_outputs:
        out["additionalSecretOutputs"] = list(rec.additional_secret_outputs)
    if rec.aliases:
        out["aliases"] = list(rec.aliases)
    if rec.custom_timeouts:
        out["customTimeouts"] = {k: duration_seconds(v) for k, v in rec.custom_timeouts.items()}
    return out


def to_preview_json(plan: Plan) -> dict[str, Any]:
    """The plan as `pulumi preview --json` writes a new stack's first preview: a `create` step per resource,
    its `newState` a v3 resource with the outputs the engine cannot know yet as the unknown sentinel."""
    steps = [{"op": "create", "urn": r.urn, "newState": export_resource(r)} for r in plan.resources]
    return {"config": {}, "steps": steps, "changeSummary": {"create": len(steps)}}


def to_export(plan: Plan, time: str | None = None) -> dict[str, Any]:
    if time is None:
        time = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    version = engine_version()
    manifest = {"time": time, "magic": hashlib.sha256(version.encode()).hexdigest(), "version": version}
    return {"version": 3, "deployment": {"manifest": manifest,
                                         "resources": [export_resource(r) for r in plan.resources]}}
