"""Engine wire encoding: protobuf `Struct` <-> plain Python, secret/unknown sentinels.

The recorded inputs and outputs keep the encoding the SDK puts on the wire: camelCase names,
secrets as ``{SIG_KEY: SECRET_SIG, "value": ...}``, unknowns as the ``UNKNOWN`` sentinel string,
resource references/assets as their signature objects. Integral numbers come back as ``int``.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import struct_pb2

SIG_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
RESOURCE_SIG = "5cf8f73096256a8f31e491e813e4eb8e"
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"

_INT_LIMIT = 2**53


def value_to_py(value: struct_pb2.Value) -> Any:
    kind = value.WhichOneof("kind")
    if kind == "string_value":
        return value.string_value
    if kind == "struct_value":
        return {k: value_to_py(v) for k, v in value.struct_value.fields.items()}
    if kind == "number_value":
        n = value.number_value
        return int(n) if n.is_integer() and -_INT_LIMIT < n < _INT_LIMIT else n
    if kind == "bool_value":
        return value.bool_value
    if kind == "list_value":
        return [value_to_py(v) for v in value.list_value.values]
    return None


def struct_to_py(struct: struct_pb2.Struct) -> dict[str, Any]:
    return {k: value_to_py(v) for k, v in struct.fields.items()}


def py_to_struct(values: dict[str, Any]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    if values:
        struct.update(values)
    return struct


def secret(value: Any) -> Any:
    """Wrap a plain value as a wire secret (idempotent)."""
    if is_secret(value):
        return value
    return {SIG_KEY: SECRET_SIG, "value": value}


def is_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get(SIG_KEY) == SECRET_SIG


def reveal(value: Any) -> Any:
    """The plain value behind one level of secret wrapping (for mock computations only)."""
    return value["value"] if is_secret(value) else value


def plain_str(value: Any) -> str | None:
    """A known, non-secret string, else None."""
    if isinstance(value, str) and value != UNKNOWN:
        return value
    return None
