"""The JSON Schema of the spec (for editors' `$schema`) and the README's spec reference."""

from __future__ import annotations

import json
from typing import Any

from aienv.spec.model import StackSpec

SCHEMA_ID = "https://aienv.dev/schemas/stack-spec.json"


def json_schema() -> dict[str, Any]:
    schema = StackSpec.model_json_schema(by_alias=True)
    # A file that `extends` a base gets its required fields from the base, which an editor cannot see:
    # the top level requires nothing here; `aienv validate` checks the merged document.
    required = schema.pop("required", [])
    schema["description"] = (schema.get("description", "") + " Required after `extends` is merged: "
                             + ", ".join(f"`{r}`" for r in required) + ".")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **schema}


def schema_text() -> str:
    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"
