"""SPEC arguments: spec files, stack names and folders (`aienv check stacks/` checks every stack in it).

A folder stands for the stacks it defines, each once:

- every `Pulumi.<stack>.yaml` (the stack's spec and template variables, as `pulumi up` reads them);
- every other `*.yaml`, `*.yml` or `*.yaml.j2` spec no stack config of the folder already names (an abstract
  base is validated for structure by `validate`, and skipped by `plan` and `check`);
- not template variables (`*.vars.yaml`, or a file a stack config names as `aienv:vars`), not `*.json`
  (`schema.json`), not sub-folders.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

SPEC_SUFFIXES = (".yaml", ".yml", ".yaml.j2")


@dataclass(frozen=True)
class SpecRef:
    ref: str  # as the user gave it, or a file of a folder they gave
    from_folder: bool = False  # found in a folder: an abstract base is skipped, not refused


VARS_SUFFIXES = (".vars.yaml", ".vars.yml")


def _is_spec_file(path: Path) -> bool:
    return (path.is_file() and path.name.endswith(SPEC_SUFFIXES) and not path.name.endswith(VARS_SUFFIXES)
            and not path.name.startswith("."))


def _stack_config_files(path: Path) -> set[Path]:
    """The spec and vars files a `Pulumi.<stack>.yaml` names (`aienv:spec`, `aienv:vars`, relative to the
    project root), if it is readable."""
    from aienv.spec.loader import project_root

    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8"))["config"]
    except (OSError, UnicodeDecodeError, yaml.YAMLError, KeyError, TypeError):
        return set()
    root = project_root(path.parent)
    return {(root / ref).resolve() for key in ("aienv:spec", "aienv:vars")
            if isinstance(config, dict) and isinstance(ref := config.get(key), str)}


def folder_specs(folder: Path) -> list[Path]:
    files = sorted(p for p in folder.iterdir() if _is_spec_file(p))
    configs = [p for p in files if p.name.startswith("Pulumi.")]
    named = {f for p in configs for f in _stack_config_files(p)}
    return [p for p in files if p in configs or p.resolve() not in named]


def expand(refs: list[str]) -> list[SpecRef]:
    """The specs the arguments name, folders expanded, each file once (in the order given)."""
    out: list[SpecRef] = []
    seen: set[Path] = set()
    for ref in refs:
        path = Path(ref)
        if path.is_dir():
            found = folder_specs(path)
            if not found:  # the loader says so for this one, and the others still run
                out.append(SpecRef(ref))
                continue
            for p in found:
                if p.resolve() not in seen:
                    seen.add(p.resolve())
                    out.append(SpecRef(str(p), from_folder=True))
            continue
        key = path.resolve() if path.exists() else None
        if key is not None:
            if key in seen:
                continue
            seen.add(key)
        out.append(SpecRef(ref))
    return out
