"""Packs users add without forking: a folder of rule modules, run by `aienv check --pack-dir DIR` and packaged as a
CrossGuard pack folder the way aienv's own packs are.

    team-guardrails/             # the folder name is the pack name
      PulumiPolicy.yaml          # runtime: python, version, description (the CrossGuard pack metadata)
      __main__.py                # PolicyPack(**pack_kwargs_for_dir(Path(__file__).parent))
      requirements.txt           # pulumi-policy, and aienv itself (the rule framework)
      gpu_budget.py              # rule modules: each defines RULES = (rule, ...)
      tagging.py

A rule module uses the same framework as aienv's rules (`policies.rules._base.resource_rule` / `stack_rule` with
a `policies.meta.RuleMeta`), so a team's rule is checked, configured, waived and reported like ours. Modules are
imported as one package named after the folder, so they may import each other relatively (`from . import util`);
files starting with `_` are helpers, not rule modules.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import sys
from pathlib import Path
from typing import Any

import yaml

from aienv.errors import AienvError
from policies.packs import PACKS, Pack, pack_kwargs, register_pack
from policies.rules import RULES_BY_NAME
from policies.rules._base import Rule

_PACK_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


class UserPackError(AienvError):
    """A pack folder that cannot be loaded; the message names the folder or file and what to change."""


def _metadata(folder: Path) -> dict[str, Any]:
    meta = folder / "PulumiPolicy.yaml"
    if not meta.is_file():
        return {}
    try:
        data = yaml.safe_load(meta.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, OSError, UnicodeDecodeError) as exc:
        raise UserPackError(f"{meta}: cannot read: {exc}") from None
    if not isinstance(data, dict):
        raise UserPackError(f"{meta}: expected a mapping (runtime, version, description)")
    return data


def _import_package(folder: Path, package: str) -> None:
    spec = importlib.util.spec_from_loader(package, loader=None, is_package=True)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    module.__path__ = [str(folder)]
    sys.modules[package] = module


def load_pack_dir(path: str | Path) -> Pack:
    """Load the rule modules of `path` into a Pack named after the folder (not registered; see `use_pack_dirs`)."""
    folder = Path(path).resolve()
    if not folder.is_dir():
        raise UserPackError(f"{path}: --pack-dir must be a folder of rule modules")
    name = folder.name
    if not _PACK_NAME.match(name):
        raise UserPackError(f"{path}: the folder name is the pack name; use lowercase letters, digits and dashes "
                            f"(not `{name}`)")
    modules = sorted(p for p in folder.glob("*.py") if not p.name.startswith("_"))
    if not modules:
        raise UserPackError(f"{path}: no rule modules (*.py files defining RULES = (...)) in the folder")
    package = "aienv_user_packs." + name.replace("-", "_")
    if "aienv_user_packs" not in sys.modules:
        _import_package(folder.parent, "aienv_user_packs")
    _import_package(folder, package)
    rules: list[Rule] = []
    for file in modules:
        qualified = f"{package}.{file.stem}"
        try:
            spec = importlib.util.spec_from_file_location(qualified, file)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            sys.modules[qualified] = module
            spec.loader.exec_module(module)
        except Exception as exc:  # noqa: BLE001 - a user's module: report it, never a traceback
            line = ""
            tb = exc.__traceback__
            while tb is not None:
                if tb.tb_frame.f_code.co_filename == str(file):
                    line = f":{tb.tb_lineno}"
                tb = tb.tb_next
            raise UserPackError(f"{file}{line}: cannot import the rule module: {type(exc).__name__}: {exc}") from None
        found = getattr(module, "RULES", None)
        if found is None:
            raise UserPackError(f"{file}: define RULES = (rule, ...) with the module's rules")
        if not isinstance(found, list | tuple) or not all(isinstance(r, Rule) for r in found):
            raise UserPackError(f"{file}: RULES must be a tuple of rules made with policies.rules._base.resource_rule "
                                "or stack_rule")
        rules.extend(found)
    seen: set[str] = set()
    for rule in rules:
        if rule.meta.name in RULES_BY_NAME:
            raise UserPackError(f"{path}: the rule `{rule.meta.name}` has the name of an aienv policy; rename it")
        if rule.meta.name in seen:
            raise UserPackError(f"{path}: two rules are named `{rule.meta.name}`")
        if rule.meta.severity not in ("low", "medium", "high", "critical") or rule.meta.enforcement not in (
                "advisory", "mandatory", "remediate", "disabled"):
            raise UserPackError(f"{path}: `{rule.meta.name}` has an unknown severity or enforcement level")
        seen.add(rule.meta.name)
    description = str(_metadata(folder).get("description") or f"Team policies from {folder.name}.")
    return Pack(name, description, tuple(r.meta.name for r in rules), own_rules=tuple(rules), origin=str(folder))


def use_pack_dirs(paths: list[str] | None) -> list[str]:
    """Load and register each `--pack-dir`; the pack names, to run after the selected packs."""
    names = []
    for path in paths or []:
        p = load_pack_dir(path)
        try:
            register_pack(p)
        except KeyError as exc:
            raise UserPackError(f"{path}: {exc.args[0]}") from None
        names.append(p.name)
    return names


def pack_kwargs_for_dir(folder: str | Path) -> dict[str, Any]:
    """Arguments for `pulumi_policy.PolicyPack(...)` in a user pack's `__main__.py`; waivers are read from
    `$AIENV_WAIVERS`, else `aienv-waivers.yaml` next to the Pulumi project that holds the pack folder."""
    pack = load_pack_dir(folder)
    if pack.name not in PACKS or PACKS[pack.name].origin != pack.origin:
        register_pack(pack)
    kwargs = pack_kwargs(pack.name, waivers_near=Path(folder))
    kwargs["tags"] = ["aienv", "team"]
    return kwargs
