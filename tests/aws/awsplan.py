"""Plan the AWS foundation under the offline engine and read the recorded graph back."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pulumi
import yaml

from aienv.engine import Plan, RecordedResource, plan_program
from aienv.spec import load_spec
from aienv.spec.model import StackSpec
from components.aws.foundation import AwsFoundation, AwsFoundationArgs

ROOT = Path(__file__).resolve().parents[2]
SECRET_SIG = "4dabf18193072939515e22adb298388d"


class AwsPlan:
    """A recorded plan of one spec's AWS foundation, plus what the program exported."""

    def __init__(self, spec: StackSpec, plan: Plan, warnings: list[str]):
        self.spec = spec
        self.plan = plan
        self.warnings = warnings
        self.resources = plan.resources

    @property
    def outputs(self) -> dict[str, Any]:
        return self.plan.outputs

    def of(self, kind: str) -> list[RecordedResource]:
        """Resources whose type token ends with `:<kind>` (e.g. `Bucket`) or equals `kind`."""
        return [r for r in self.resources if r.type == kind or r.type.endswith(f":{kind}")]

    def one(self, kind: str, name_part: str = "") -> RecordedResource:
        found = [r for r in self.of(kind) if name_part in r.name]
        assert len(found) == 1, f"expected one {kind} named *{name_part}*, found {[r.name for r in found]}"
        return found[0]

    def named(self, kind: str, suffix: str) -> RecordedResource:
        found = [r for r in self.of(kind) if r.name.endswith(suffix)]
        assert len(found) == 1, f"expected one {kind} named *{suffix}, found {[r.name for r in found]}"
        return found[0]

    def children_of(self, kind: str, parent_token: str) -> list[RecordedResource]:
        parents = {r.urn for r in self.resources if r.type == parent_token}
        return [r for r in self.of(kind) if r.parent in parents]


def reveal(value: Any) -> Any:
    if isinstance(value, dict) and SECRET_SIG in value:
        return value.get("value")
    return value


def is_secret(value: Any) -> bool:
    return isinstance(value, dict) and SECRET_SIG in value


def doc(resource: RecordedResource, key: str = "policy") -> dict[str, Any]:
    """A JSON policy input parsed."""
    value = reveal(resource.inputs[key])
    return json.loads(value) if isinstance(value, str) else value


def statements(resource: RecordedResource, key: str = "policy") -> list[dict[str, Any]]:
    sts = doc(resource, key)["Statement"]
    return sts if isinstance(sts, list) else [sts]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def plan_spec(spec: StackSpec, export: Callable[[AwsFoundation], None] | None = None) -> AwsPlan:
    messages: list[str] = []
    original = pulumi.log.warn

    def program() -> None:
        foundation = AwsFoundation(spec.name, AwsFoundationArgs(spec=spec))
        f = foundation.outputs
        pulumi.export("kubeconfig", f.kubeconfig)
        pulumi.export("registryUrl", f.registry_url)
        pulumi.export("modelBucketUri", f.model_bucket_uri)
        if f.online_store is not None:
            pulumi.export("redisPassword", f.online_store.password)
        if export is not None:
            export(foundation)

    def capture(message: str, *args: Any, **kwargs: Any) -> None:
        messages.append(message)

    pulumi.log.warn = capture  # deprecation warnings go through pulumi.log.warn
    try:
        plan = plan_program(program, project="aienv", stack=spec.name)
    finally:
        pulumi.log.warn = original
    return AwsPlan(spec, plan, messages)


def load_variant(tmp_path: Path, base: str, overrides: dict[str, Any]) -> StackSpec:
    """A spec that extends `stacks/<base>.yaml` with `overrides` (maps merge, lists replace)."""
    path = tmp_path / f"{base}-variant.yaml"
    path.write_text(yaml.safe_dump({"extends": str(ROOT / "stacks" / f"{base}.yaml"), **overrides}))
    return load_spec(str(path)).spec
