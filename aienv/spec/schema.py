"""The JSON Schema of the spec (for editors' `$schema`) and the README's spec reference."""

from __future__ import annotations

import json
from typing import Any

from aienv.spec.model import StackSpec

SCHEMA_ID = "https://aienv.dev/schemas/stack-spec.json"


def json_schema() -> dict[str, Any]:
    schema = StackSpec.model_json_schema(by_alias=True)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **schema}


def schema_text() -> str:
    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"
