"""Plan any existing Pulumi Python program offline, as `pulumi preview` would run it.

    project = load_project("infra/")                       # Pulumi.yaml: name, runtime, main
    plan = plan_pulumi_program(project, stack="dev", config_overrides={"aws:region": "eu-west-1"})

What the Python language host does, and this module does in-process around `plan_program`:

- the working directory is the `main` folder (or the folder of a `main` file, or the project
  folder), `sys.path[0]` is that folder, `sys.argv` is `[main]`, and the entry point runs through
  `runpy.run_path(main, run_name="__main__")`;
- the config is what the CLI hands the program: `Pulumi.yaml` project config, then
  `Pulumi.<stack>.yaml` (in `stackConfigDir`), then overrides; un-namespaced keys get the project
  name, structured values become JSON text, `secure:` values become clearly fake secrets.

Everything is restored afterwards (cwd, `sys.path`, `sys.argv`, the program's own modules leave
`sys.modules`, modules the program shadows come back), so programs and specs can be planned one
after another in one process with the same results as separate runs.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import json
import os
import re
import runpy
import sys
import tomllib
import traceback
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

from aienv.assignments import parse_assignments
from aienv.engine.model import Plan, ProgramError, View
from aienv.engine.monitor import ProgressFn
from aienv.engine.runner import plan_program
from aienv.errors import AienvError

PROJECT_FILES = ("Pulumi.yaml", "Pulumi.yml")
DEFAULT_STACK = "dev"
FAKE_SECRET_PREFIX = "aienv-offline-secret:"
_STACK_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
# Project-config entries that declare a key (type, default...) rather than give its value.
_DECLARATION_KEYS = {"type", "description", "default", "secret", "items", "value"}
# Import names whose distribution is named differently (the common ones in infrastructure code).
_DISTRIBUTION_OF = {
    "yaml": "pyyaml", "pil": "pillow", "sklearn": "scikit-learn", "dateutil": "python-dateutil",
    "dotenv": "python-dotenv", "jwt": "pyjwt", "google": "google-cloud",
    "bs4": "beautifulsoup4", "attr": "attrs", "nacl": "pynacl", "crypto": "pycryptodome",
    "OpenSSL": "pyopenssl", "git": "gitpython", "magic": "python-magic",
}


# ---------------------------------------------------------------------------------------------
# the project


@dataclass(frozen=True)
class PulumiProject:
    """A Pulumi project folder, as its `Pulumi.yaml` describes it."""

    root: Path  # the folder holding Pulumi.yaml (absolute)
    file: Path  # Pulumi.yaml itself
    name: str
    main: Path  # the entry point: a file or a package folder (absolute)
    stack_config_dir: Path
    config: Mapping[str, Any] = field(default_factory=dict)  # the `config:` block of Pulumi.yaml

    @property
    def workdir(self) -> Path:
        """The working directory (and `sys.path[0]`) the language host gives the program."""
        return self.main if self.main.is_dir() else self.main.parent

    @property
    def entry_file(self) -> Path:
        """The file that runs first: `main` itself or its `__main__.py`."""
        return self.main / "__main__.py" if self.main.is_dir() else self.main

    def stack_file(self, stack: str) -> Path:
        return self.stack_config_dir / f"Pulumi.{short_stack_name(stack)}.yaml"


def short_stack_name(stack: str) -> str:
    """`dev` from `dev` or `org/project/dev` (the name the stack config file uses)."""
    return stack.rsplit("/", 1)[-1]


def display_path(path: Path) -> str:
    """`path` relative to the working directory when it is below it, else absolute."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return str(path)


def load_project(path: str | os.PathLike[str]) -> PulumiProject:
    """The Pulumi project in folder `path` (or of the `Pulumi.yaml` file `path`)."""
    given = Path(path)
    if given.is_file() and given.name in PROJECT_FILES:
        given = given.parent
    if not given.is_dir():
        raise AienvError(f"--program {path}: no such folder (give the folder that holds Pulumi.yaml)")
    root = given.resolve()
    file = next((root / n for n in PROJECT_FILES if (root / n).is_file()), None)
    if file is None:
        raise AienvError(f"--program {path}: not a Pulumi project (no Pulumi.yaml in {display_path(root)})")
    where = display_path(file)
    data = _compose_to_python(_read_yaml(file))
    if not isinstance(data, dict):
        raise AienvError(f"{where}: expected a mapping with `name:` and `runtime:`")
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise AienvError(f"{where}: `name:` is missing; a Pulumi project needs a name")
    runtime = data.get("runtime")
    runtime_name = runtime.get("name") if isinstance(runtime, dict) else runtime
    if runtime_name != "python":
        raise AienvError(f"{where}: runtime is `{runtime_name}`; aienv plans Python programs only "
                         "(`runtime: python`)")
    main_value = data.get("main")
    main = _main_path(root, main_value, where)
    config_dir = data.get("stackConfigDir")
    if config_dir is not None and not isinstance(config_dir, str):
        raise AienvError(f"{where}: `stackConfigDir:` must be a relative folder path")
    stack_config_dir = (root / config_dir).resolve() if config_dir else root
    config = data.get("config") or {}
    if not isinstance(config, dict):
        raise AienvError(f"{where}: `config:` must be a mapping of keys to values or declarations")
    return PulumiProject(root=root, file=file, name=name.strip(), main=main, stack_config_dir=stack_config_dir,
                         config=config)


def _main_path(root: Path, main: Any, where: str) -> Path:
    if main is None or main == "":
        path = root
    else:
        if not isinstance(main, str) or Path(main).is_absolute():
            raise AienvError(f"{where}: `main:` must be a path relative to the project folder")
        path = (root / main).resolve()
        if path != root and root not in path.parents:
            raise AienvError(f"{where}: `main: {main}` must be inside the project folder")
        if not path.exists():
            raise AienvError(f"{where}: `main: {main}` does not exist ({display_path(path)})")
    if path.is_dir() and not (path / "__main__.py").is_file():
        raise AienvError(f"{where}: unable to find the main Python program `__main__.py` in {display_path(path)} "
                         "(set `main:` in Pulumi.yaml to the program file)")
    return path


def _read_yaml(path: Path) -> yaml.Node | None:
    """The YAML node tree of a file (None for an empty file)."""
    try:
        return yaml.compose(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
    except OSError as exc:
        raise AienvError(f"{display_path(path)}: cannot read: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise AienvError(f"{display_path(path)}{line}: invalid YAML: {problem}") from None


# The Pulumi CLI reads config with Go YAML: a top-level scalar keeps its text (`3`, `yes`, `1.20`),
# structured values keep their types and reach the program as JSON text.
def _compose_to_python(node: yaml.Node | None) -> Any:
    if node is None:
        return None
    return yaml.safe_load(yaml.serialize(node))


def _yaml_mapping(path: Path) -> dict[str, yaml.Node]:
    """Top-level keys of a YAML file -> their nodes (empty for an empty file)."""
    node = _read_yaml(path)
    if node is None:
        return {}
    if not isinstance(node, yaml.MappingNode):
        raise AienvError(f"{display_path(path)}: expected a mapping")
    return {str(k.value): v for k, v in node.value}


# ---------------------------------------------------------------------------------------------
# stack config


@dataclass
class StackConfig:
    """The config the CLI would hand the program: fully-qualified keys -> raw strings."""

    values: dict[str, str]
    secret_keys: set[str]
    file: Path  # Pulumi.<stack>.yaml (it may not exist)
    warnings: list[str] = field(default_factory=list)


def qualify_key(key: str, project: str) -> str:
    """`project:key` for an un-namespaced key; `ns:config:key` (legacy) -> `ns:key`."""
    parts = key.split(":")
    if len(parts) == 1:
        return f"{project}:{key}"
    if len(parts) == 3 and parts[1] == "config":
        return f"{parts[0]}:{parts[2]}"
    return key


def fake_secret(key: str) -> str:
    return f"{FAKE_SECRET_PREFIX}{key}"


def _is_secure(value: Any) -> bool:
    return isinstance(value, dict) and list(value) == ["secure"]


def _replace_secure(value: Any, key: str) -> tuple[Any, bool]:
    """(value with every `{secure: ...}` replaced by a fake secret, whether there was one)."""
    if _is_secure(value):
        return fake_secret(key), True
    if isinstance(value, dict):
        found = False
        out: dict[str, Any] = {}
        for k, v in value.items():
            out[k], hit = _replace_secure(v, key)
            found = found or hit
        return out, found
    if isinstance(value, list):
        items = [_replace_secure(v, key) for v in value]
        return [v for v, _ in items], any(hit for _, hit in items)
    return value, False


def _raw_scalar(node: yaml.ScalarNode) -> str:
    if node.tag == "tag:yaml.org,2002:null" or (not node.value and node.style is None):
        return ""
    return str(node.value)


def _config_value(node: yaml.Node, key: str) -> tuple[str, bool]:
    """(raw string as the CLI passes it, secret?) for one config entry."""
    if isinstance(node, yaml.ScalarNode):
        return _raw_scalar(node), False
    value, secret = _replace_secure(_compose_to_python(node), key)
    if isinstance(value, str):  # a top-level `secure:` value
        return value, secret
    return json.dumps(value, separators=(",", ":")), secret


def load_stack_config(project: PulumiProject, stack: str,
                      overrides: Mapping[str, str] | None = None) -> StackConfig:
    """Project config defaults, then `Pulumi.<stack>.yaml`, then `overrides` (e.g. `--config`)."""
    values: dict[str, str] = {}
    secret_keys: set[str] = set()
    warnings: list[str] = []
    for raw_key, decl in project.config.items():
        key = qualify_key(str(raw_key), project.name)
        if isinstance(decl, dict) and decl and set(decl) <= _DECLARATION_KEYS:
            if "value" in decl:
                decl = decl["value"]
            elif "default" in decl:
                decl = decl["default"]
            else:
                continue
        if isinstance(decl, dict | list):
            values[key] = json.dumps(decl, separators=(",", ":"))
        elif isinstance(decl, bool):
            values[key] = "true" if decl else "false"
        elif decl is not None:
            values[key] = str(decl)
    file = project.stack_file(stack)
    if file.is_file():
        top = _yaml_mapping(file)
        config_node = top.get("config")
        empty = isinstance(config_node, yaml.ScalarNode) and _raw_scalar(config_node) == ""
        if config_node is not None and not isinstance(config_node, yaml.MappingNode) and not empty:
            raise AienvError(f"{display_path(file)}: `config:` must be a mapping of keys to values")
        entries = config_node.value if isinstance(config_node, yaml.MappingNode) else []
        for key_node, value_node in entries:
            key = qualify_key(str(key_node.value), project.name)
            values[key], secret = _config_value(value_node, key)
            if secret:
                secret_keys.add(key)
            else:
                secret_keys.discard(key)
        if "environment" in top:
            warnings.append(f"{display_path(file)}: `environment:` (Pulumi ESC) is not resolved offline; "
                            "values it would provide are missing")
    for raw_key, value in (overrides or {}).items():
        key = qualify_key(raw_key, project.name)
        values[key] = value
        secret_keys.discard(key)
    return StackConfig(values=values, secret_keys=secret_keys, file=file, warnings=warnings)


def parse_config_overrides(pairs: list[str]) -> dict[str, str]:
    """`--config KEY=VALUE` pairs (as `pulumi preview --config`)."""
    return parse_assignments(pairs, "--config", "aws:region=eu-west-1")


def load_stack_outputs(path: str | os.PathLike[str]) -> dict[str, dict[str, Any]]:
    """`{"org/project/stack": {"outputName": value, ...}, ...}` from a JSON file."""
    where = display_path(Path(path))
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise AienvError(f"--stack-outputs {where}: cannot read: {exc.strerror or exc}") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        line = f":{exc.lineno}" if isinstance(exc, json.JSONDecodeError) else ""
        msg = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
        raise AienvError(f"{where}{line}: invalid JSON in the stack outputs file: {msg}") from None
    expected = 'expected {"org/project/stack": {"outputName": value, ...}, ...}'
    if not isinstance(data, dict):
        raise AienvError(f"{where}: stack outputs file: {expected}")
    for ref, outputs in data.items():
        if not isinstance(outputs, dict):
            raise AienvError(f"{where}: stack outputs for `{ref}` must be an object of output names to "
                             f"values ({expected})")
    return data


# ---------------------------------------------------------------------------------------------
# running


class _ProgramExit(Exception):
    """The program called `sys.exit` with a failure code."""

    def __init__(self, code: object):
        self.code = code
        super().__init__(f"the program exited with code {code}")


def _is_under(path: str | None, root: Path) -> bool:
    if not path:
        return False
    try:
        resolved = Path(path).resolve()
    except (OSError, ValueError):
        return False
    if resolved != root and root not in resolved.parents:
        return False
    return not ({"site-packages", "dist-packages"} & set(resolved.relative_to(root).parts))


def _module_paths(module: ModuleType) -> list[str]:
    paths = [getattr(module, "__file__", None) or ""]
    with contextlib.suppress(KeyError, TypeError):  # a namespace package whose parent is gone
        paths += list(getattr(module, "__path__", None) or [])
    return [p for p in paths if isinstance(p, str) and p]


def _top_level_names(folder: Path) -> set[str]:
    """Module names the folder provides (they shadow installed modules of the same name)."""
    names: set[str] = set()
    for entry in folder.iterdir():
        if entry.suffix == ".py" and entry.stem.isidentifier() and entry.stem != "__main__":
            names.add(entry.stem)
        elif entry.is_dir() and entry.name.isidentifier() and (entry / "__init__.py").is_file():
            names.add(entry.name)
    return names


@contextlib.contextmanager
def _language_host(project: PulumiProject) -> Iterator[None]:
    """cwd, sys.path, sys.argv and sys.modules as the Python language host sets them; restored after."""
    cwd = os.getcwd()
    path = list(sys.path)
    argv = list(sys.argv)
    bytecode = sys.dont_write_bytecode
    # Loaded modules of the names the program folder provides, loaded from elsewhere, step aside for
    # the program's own; those loaded from the program folder itself (a program planning its own
    # project, like aienv's) are the same code and stay.
    shadowed = {name for name in _top_level_names(project.workdir)
                if name in sys.modules and not any(_is_under(p, project.workdir)
                                                   for p in _module_paths(sys.modules[name]))}
    hidden = {name: mod for name, mod in sys.modules.items() if name.partition(".")[0] in shadowed}
    for name in hidden:
        del sys.modules[name]
    before = set(sys.modules)
    kept_tops = {name for name in before if "." not in name}
    os.chdir(project.workdir)
    sys.path.insert(0, str(project.workdir))
    sys.argv = [str(project.main)]
    sys.dont_write_bytecode = True  # leave no __pycache__ in the user's project
    importlib.invalidate_caches()
    try:
        with contextlib.redirect_stdout(sys.stderr):  # the program's prints are diagnostics, not our output
            yield
    finally:
        os.chdir(cwd)
        sys.path[:] = path
        sys.argv = argv
        sys.dont_write_bytecode = bytecode
        # The program's modules leave; new submodules of packages that were loaded before stay.
        leaving = [name for name, module in list(sys.modules.items())
                   if name not in before and name.partition(".")[0] not in kept_tops
                   and (name.partition(".")[0] in shadowed
                        or any(_is_under(p, project.root) for p in _module_paths(module)))]
        for name in leaving:
            del sys.modules[name]
        sys.modules.update(hidden)
        for key in [k for k in sys.path_importer_cache if _is_under(k, project.root)]:
            del sys.path_importer_cache[key]


def _program_callable(project: PulumiProject) -> Callable[[], None]:
    main = str(project.main)

    def program() -> None:
        try:
            runpy.run_path(main, run_name="__main__")
        except SystemExit as exc:
            if exc.code in (None, 0):
                return
            raise _ProgramExit(exc.code).with_traceback(exc.__traceback__) from None

    return program


def plan_pulumi_program(
    project: PulumiProject,
    *,
    stack: str = DEFAULT_STACK,
    config_overrides: Mapping[str, str] | None = None,
    stack_outputs: Mapping[str, Mapping[str, Any]] | None = None,
    progress: ProgressFn | None = None,
    view: View = "known",
) -> Plan:
    """Run the project's program under the offline engine (in `view`, see `plan_program`);
    `ProgramError`/`AienvError` on failure."""
    if not _STACK_NAME.match(short_stack_name(stack)):
        raise AienvError(f"--stack {stack}: a stack name has only letters, digits, `-`, `_` and `.`")
    config = load_stack_config(project, stack, config_overrides)
    try:
        with _language_host(project):
            plan = plan_program(_program_callable(project), project=project.name, stack=short_stack_name(stack),
                                config=config.values, secret_keys=config.secret_keys, progress=progress,
                                stack_outputs_by_ref=stack_outputs, root_directory=str(project.root), view=view)
    except ProgramError as exc:
        if exc.cause is None:
            raise
        raise explain_failure(exc.cause, project, config, stack, exc) from exc.cause
    plan.diagnostics[:0] = [("warning", w) for w in config.warnings]
    return plan


# ---------------------------------------------------------------------------------------------
# errors in the user's terms


def program_location(exc: BaseException, project: PulumiProject) -> tuple[Path, int | None]:
    """The innermost traceback frame inside the project (else the entry file)."""
    found: tuple[Path, int | None] = (project.entry_file, None)
    for frame in traceback.extract_tb(exc.__traceback__):
        if _is_under(frame.filename, project.root):
            found = (Path(frame.filename), frame.lineno)
    if isinstance(exc, SyntaxError) and exc.filename and _is_under(exc.filename, project.root):
        found = (Path(exc.filename), exc.lineno)
    return found


def _where(exc: BaseException, project: PulumiProject) -> str:
    file, line = program_location(exc, project)
    return f"{display_path(file)}:{line}" if line is not None else display_path(file)


def explain_failure(exc: BaseException, project: PulumiProject, config: StackConfig, stack: str,
                    original: ProgramError | None = None) -> ProgramError:
    """A `ProgramError` whose lines say what failed, where in the program, and what to do."""
    import pulumi

    where = _where(exc, project)
    if isinstance(exc, pulumi.config.ConfigMissingError):
        return _missing_config(exc, where, config, stack, project)
    if isinstance(exc, ModuleNotFoundError) and exc.name:
        missing = _missing_package(exc, where, project)
        if missing is not None:
            return missing
    if isinstance(exc, _ProgramExit):
        message = str(exc)
    elif isinstance(exc, pulumi.RunError):
        message = str(exc).strip()
    else:
        text = str(exc).strip()
        message = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    comp_type = original.component_type if original is not None else None
    comp_name = original.component_name if original is not None else None
    if comp_type:
        message += f' (while building {comp_type} "{comp_name}")'
    error = ProgramError(f"{where}: {message}", component_type=comp_type, component_name=comp_name, cause=exc)
    return error


def _missing_config(exc: Any, where: str, config: StackConfig, stack: str,
                    project: PulumiProject) -> ProgramError:
    key: str = exc.key
    ns, _, name = key.partition(":")
    yaml_key = name if ns == project.name else key
    file = display_path(config.file)
    secret = " --secret" if exc.secret else ""
    if config.file.is_file():
        fix = f"add `{yaml_key}: <value>` under `config:` in {file}"
    else:
        fix = f"create {file} with `config: {{{yaml_key}: <value>}}`"
    lines = [
        f"{where}: missing required configuration value `{key}` for stack `{short_stack_name(stack)}`",
        f"  {fix} (or run: pulumi config set{secret} {yaml_key} <value>)",
        f"  or pass --config {key}=<value>",
    ]
    return ProgramError("\n".join(lines), cause=exc)


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


_REQ_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def _requirement_lines(project: PulumiProject) -> list[tuple[str, int, str, str]]:
    """(file, line, requirement text, normalized distribution name) from requirements.txt / pyproject.toml."""
    found: list[tuple[str, int, str, str]] = []
    for folder in dict.fromkeys((project.root, project.workdir)):
        req = folder / "requirements.txt"
        if req.is_file():
            for number, line in enumerate(req.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
                text = line.split("#", 1)[0].strip()
                match = _REQ_NAME.match(text)
                if text and not text.startswith("-") and match:
                    found.append((display_path(req), number, text, _normalize(match.group(1))))
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file():
            found += _pyproject_requirements(pyproject)
    return found


def _pyproject_requirements(path: Path) -> list[tuple[str, int, str, str]]:
    text = path.read_text(encoding="utf-8", errors="replace")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return []
    lines = text.splitlines()

    def line_of(needle: str) -> int:
        return next((i for i, line in enumerate(lines, 1) if needle in line), 1)

    found: list[tuple[str, int, str, str]] = []
    for dep in data.get("project", {}).get("dependencies", []) or []:
        match = _REQ_NAME.match(str(dep))
        if match:
            found.append((display_path(path), line_of(str(dep)), str(dep), _normalize(match.group(1))))
    poetry = data.get("tool", {}).get("poetry", {}).get("dependencies", {}) or {}
    for name, spec in poetry.items():
        if name != "python":
            version = spec if isinstance(spec, str) else json.dumps(spec)
            found.append((display_path(path), line_of(name), f"{name} = {version}", _normalize(name)))
    return found


def _missing_package(exc: ModuleNotFoundError, where: str, project: PulumiProject) -> ProgramError | None:
    assert exc.name is not None
    top = exc.name.partition(".")[0]
    if top != exc.name:
        try:
            if importlib.util.find_spec(top) is not None:
                return None  # the package is there; a module inside it is not: a plain program error
        except (ImportError, ValueError):
            pass
    candidates = {_normalize(top), _normalize(_DISTRIBUTION_OF.get(top, _DISTRIBUTION_OF.get(top.lower(), top)))}
    match = next((r for r in _requirement_lines(project) if r[3] in candidates
                  or (top == "google" and r[3].startswith("google-"))), None)
    lines = [f"{where}: the program imports `{top}`, which is not installed where aienv runs"]
    if match is not None:
        file, line, text, _ = match
        lines.append(f"  {file}:{line} provides it: `{text}`; install the program's requirements into "
                     f"aienv's environment (pip install '{text}')")
    else:
        lines.append(f"  no requirement in the project provides it: add it to requirements.txt "
                     f"({display_path(project.root / 'requirements.txt')}) and install it")
    return ProgramError("\n".join(lines), cause=exc)
