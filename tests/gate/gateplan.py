"""The policy gate's real path, for the insecure-variant tests: spec YAML -> `load_spec` (spec rules) -> offline
plan (`plan_program` + `build_environment`) -> the packs `aienv check` runs on a spec (`run_packs` on
`from_export(plan.to_export())`, with the spec's packs and residency config, as `aienv.cli.check` does).

Plans are slow (seconds each on a shared machine), so every (spec, variant) is planned and checked once per
session and cached here.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from aienv.check import CheckResult, Violation, from_export, run_packs, waivers
from aienv.engine import plan_program
from aienv.spec import StackSpec, load_spec
from components.environment import build_environment

STACKS = Path(__file__).resolve().parents[2] / "stacks"
# One reference per cloud: the production specs (every component, feature store, several endpoints).
REFERENCES = {"aws": "prod-aws", "azure": "prod-azure", "gcp": "prod-gcp"}

Edit = Callable[[dict[str, Any]], None]


@dataclass
class Checked:
    spec: StackSpec
    export: dict[str, Any]
    result: CheckResult  # the known view
    preview: CheckResult  # the first-preview view of a new stack

    @property
    def mandatory(self) -> list[Violation]:
        return self.result.mandatory

    def violations_of(self, policy: str) -> list[Violation]:
        return [v for v in self.mandatory if v.policy == policy]


_CACHE: dict[tuple[str, str], Checked] = {}


def spec_config(spec: StackSpec) -> tuple[list[str], dict[str, dict[str, Any]]]:
    """The packs and spec-derived policy config `aienv check SPEC` uses (see `aienv.cli.check._spec_inputs`)."""
    compliance = spec.compliance
    packs = [str(getattr(p, "value", p)) for p in compliance.packs]
    extra: dict[str, dict[str, Any]] = {}
    if compliance.allowed_regions:
        extra["data-residency"] = {"allowedRegions": list(compliance.allowed_regions)}
    return packs, extra


def check_export(spec: StackSpec, export: dict[str, Any], *,
                 user_config: dict[str, dict[str, Any]] | None = None,
                 extra_config: dict[str, dict[str, Any]] | None = None,
                 near: Path | None = None) -> CheckResult:
    """With `near` (the spec file), the waivers `aienv check` reads for it apply too (the project's
    aienv-waivers.yaml for a spec in stacks/)."""
    packs, extra = spec_config(spec)
    if extra_config:
        extra = {**extra, **extra_config}
    result = run_packs(from_export(export, None), packs, user_config=user_config, extra_config=extra)
    return waivers.gate(result, near=near) if near is not None else result


def reference_data(cloud: str) -> dict[str, Any]:
    """The reference spec of `cloud`, merged over its base (no `extends`), as plain data to edit."""
    return copy.deepcopy(load_spec(STACKS / f"{REFERENCES[cloud]}.yaml").data)


def load_variant(cloud: str, edit: Edit, tmp_dir: Path) -> StackSpec:
    """Apply `edit` to the reference data, write it as YAML and load it: the spec rules run as for a user."""
    data = reference_data(cloud)
    edit(data)
    tmp_dir.mkdir(parents=True, exist_ok=True)
    path = tmp_dir / f"{REFERENCES[cloud]}-variant.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return load_spec(path).spec


def plan_and_check(spec: StackSpec, near: Path | None = None) -> Checked:
    plan = plan_program(lambda: build_environment(spec), project="aienv", stack=spec.name)
    export = plan.to_export()
    first = plan_program(lambda: build_environment(spec), project="aienv", stack=spec.name, view="preview")
    return Checked(spec, export, check_export(spec, export, near=near),
                   check_export(spec, first.to_export(), near=near))


def reference(cloud: str) -> Checked:
    key = (cloud, "reference")
    if key not in _CACHE:
        path = STACKS / f"{REFERENCES[cloud]}.yaml"
        _CACHE[key] = plan_and_check(load_spec(path).spec, near=path)
    return _CACHE[key]


def variant(cloud: str, option: str, edit: Edit, tmp_dir: Path) -> Checked:
    key = (cloud, option)
    if key not in _CACHE:
        _CACHE[key] = plan_and_check(load_variant(cloud, edit, tmp_dir / option))
    return _CACHE[key]
