"""CI only (.ci/run): validate the reference stacks' exports against Pulumi's published schemas as well.

    python tests/schemas/check_upstream.py ../shared/schemas/pulumi

The folder holds Pulumi's `deployments.json`, `resources.json` and `property-values.json` (registered by their
`$id`). The test suite never needs them: it validates against tests/schemas/stack-export-v3.schema.json.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def main(folder: str) -> int:
    import jsonschema
    import referencing

    from tests.plans import STACK_FILES, planned

    docs = {p.name: json.loads(p.read_text(encoding="utf-8")) for p in Path(folder).glob("*.json")}
    if "deployments.json" not in docs:
        print(f"{folder}: no deployments.json", file=sys.stderr)
        return 2
    registry = referencing.Registry().with_resources(
        (d["$id"], referencing.Resource.from_contents(d)) for d in docs.values())
    validator = jsonschema.Draft202012Validator(docs["deployments.json"], registry=registry)
    failed = 0
    for stack_file in STACK_FILES:
        errors = list(validator.iter_errors(planned(stack_file).to_export(time="2026-01-01T00:00:00Z")))
        print(f"{stack_file}: {'ok' if not errors else errors[0].message}")
        failed += bool(errors)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else str(ROOT.parent / "shared" / "schemas" / "pulumi")))
