"""Load a spec: YAML (or a jinja2 `.yaml.j2` template) -> `extends` chain -> pydantic -> semantic rules.

Every error becomes a `SpecIssue` with the file and line of the offending key, so the CLI prints
`file:line: dotted.path: message`. Locations survive `extends`: each key remembers the file that
set it last.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import yaml
from pydantic import BaseModel, ValidationError

from aienv.errors import SpecError, SpecIssue
from aienv.spec import defaults, rules
from aienv.spec.model import DNS_LABEL, FEATURE_NAME, StackSpec

Key = str | int
PathT = tuple[Key, ...]
Location = tuple[str, int]  # (file, 1-based line)

TEMPLATE_SUFFIX = ".yaml.j2"
STACK_CONFIG_PREFIX = "Pulumi."


@dataclass
class LoadedSpec:
    """A validated, resolved spec and where it came from."""

    path: Path
    spec: StackSpec
    data: dict[str, Any]
    locations: dict[PathT, Location]
    chain: list[Path] = field(default_factory=list)  # the file, then its bases
    abstract: bool = False  # an abstract base: validated for structure only, `spec` is not usable

    def location_of(self, path: PathT) -> Location:
        return _locate(self.locations, path, str(self.path))


@dataclass
class _Doc:
    data: dict[str, Any]
    locations: dict[PathT, Location]


# --- YAML with line numbers ------------------------------------------------------------------------

def _parse_yaml(text: str, file: str) -> _Doc:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise SpecError([SpecIssue(file, line, "", f"invalid YAML: {exc.problem or exc.context}")]) from None
    except yaml.YAMLError as exc:
        raise SpecError([SpecIssue(file, None, "", f"invalid YAML: {exc}")]) from None
    if node is None:
        raise SpecError([SpecIssue(file, 1, "", "the file is empty; a spec is a mapping of fields")])
    locations: dict[PathT, Location] = {(): (file, node.start_mark.line + 1)}
    issues: list[SpecIssue] = []
    try:
        value = _construct(node, (), file, locations, issues)
    except yaml.MarkedYAMLError as exc:  # e.g. a tag no safe constructor knows (`!0 x`): data, never code
        mark = exc.problem_mark or exc.context_mark
        raise SpecError([SpecIssue(file, mark.line + 1 if mark else None, "",
                                   f"invalid YAML: {exc.problem or exc.context}; remove the tag")]) from None
    if issues:
        raise SpecError(issues)
    if not isinstance(value, dict):
        raise SpecError([SpecIssue(file, node.start_mark.line + 1, "",
                                   "a spec must be a mapping of fields (name: ..., cloud: ...)")])
    return _Doc(value, locations)


def _construct(node: yaml.Node, path: PathT, file: str, locations: dict[PathT, Location],
               issues: list[SpecIssue]) -> Any:
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = _scalar(key_node)
            line = key_node.start_mark.line + 1
            if not isinstance(key, str):
                key = str(key)
            if key in out:
                issues.append(SpecIssue(file, line, format_path((*path, key)), "is set twice in the same mapping"))
                continue
            locations[(*path, key)] = (file, line)
            out[key] = _construct(value_node, (*path, key), file, locations, issues)
        return out
    if isinstance(node, yaml.SequenceNode):
        items = []
        for i, item in enumerate(node.value):
            locations[(*path, i)] = (file, item.start_mark.line + 1)
            items.append(_construct(item, (*path, i), file, locations, issues))
        return items
    return _scalar(node)


_SCALARS = yaml.SafeLoader("")


def _scalar(node: yaml.Node) -> Any:
    """A plain value, typed by YAML's own resolver (int, float, bool, null, str, timestamp)."""
    if isinstance(node, yaml.ScalarNode):
        try:
            return _SCALARS.construct_object(node, deep=True)
        finally:
            _SCALARS.constructed_objects.clear()
    return yaml.safe_load(yaml.serialize(node))


# --- templates and extends -------------------------------------------------------------------------

def _read(path: Path, variables: Mapping[str, Any], chain: list[Path]) -> _Doc:
    shown = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        via = " -> ".join(str(p) for p in chain)
        raise SpecError([SpecIssue(shown, None, "", "file not found" + (f" (extended by {via})" if via else ""))]) \
            from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError([SpecIssue(shown, None, "", f"cannot read the file: {exc}")]) from None
    if path.name.endswith(TEMPLATE_SUFFIX):
        text = _render(text, path, variables)
    return _parse_yaml(text, shown)


def _render(text: str, path: Path, variables: Mapping[str, Any]) -> str:
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False,
                             loader=jinja2.FileSystemLoader(str(path.parent)))
    try:
        return env.from_string(text).render(**variables)
    except jinja2.TemplateSyntaxError as exc:
        raise SpecError([SpecIssue(str(path), exc.lineno, "", f"template syntax error: {exc.message}")]) from None
    except jinja2.UndefinedError as exc:
        raise SpecError([SpecIssue(str(path), _template_line(exc), "", f"template variable {exc.message}; pass "
                                                                       "it with --var NAME=VALUE or a --vars file")]) \
            from None
    except jinja2.TemplateError as exc:
        raise SpecError([SpecIssue(str(path), None, "", f"template error: {exc}")]) from None


def _template_line(exc: BaseException) -> int | None:
    """The template line being rendered when `exc` was raised (jinja2 maps its frames to `<template>`)."""
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == "<template>":
            line = frame.lineno
    return line


def _load_chain(path: Path, variables: Mapping[str, Any], chain: list[Path],
                extends_line: int | None = None) -> tuple[_Doc, list[Path]]:
    resolved = path.resolve()
    if resolved in [p.resolve() for p in chain]:
        cycle = " -> ".join(str(p) for p in [*chain, path])
        raise SpecError([SpecIssue(str(chain[-1]), extends_line, "extends",
                                   f"forms a cycle ({cycle}); a base must not extend the specs built on it")])
    doc = _read(path, variables, chain)
    base_ref = doc.data.pop("extends", None)
    if base_ref is None:
        return doc, [path]
    line = doc.locations[("extends",)][1]
    if not isinstance(base_ref, str) or not base_ref:
        raise SpecError([SpecIssue(str(path), line, "extends", "must be a relative path to a base spec")])
    base_path = path.parent / base_ref
    if not base_path.is_file():
        via = " -> ".join(str(p) for p in [*chain, path])
        raise SpecError([SpecIssue(str(path), line, "extends", f"base spec {base_path} not found (chain: {via})")])
    base, base_chain = _load_chain(base_path, variables, [*chain, path], line)
    base.data.pop("abstract", None)  # being a base is not inherited
    data, locations = _merge(base.data, base.locations, doc.data, doc.locations, ())
    return _Doc(data, locations), [path, *base_chain]


def _merge(base: dict[str, Any], base_loc: dict[PathT, Location], over: dict[str, Any],
           over_loc: dict[PathT, Location], prefix: PathT) -> tuple[dict[str, Any], dict[PathT, Location]]:
    """Deep merge: maps merge, everything else (lists included) is replaced by the overlay."""
    data = dict(base)
    locations = {k: v for k, v in base_loc.items()}
    for key, value in over.items():
        here = (*prefix, key)
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            sub_base = {k[len(here):]: v for k, v in locations.items() if k[:len(here)] == here and len(k) > len(here)}
            sub_over = {k[len(here):]: v for k, v in over_loc.items() if k[:len(here)] == here and len(k) > len(here)}
            merged, merged_loc = _merge(data[key], sub_base, value, sub_over, ())
            data[key] = merged
            locations = {k: v for k, v in locations.items() if not (k[:len(here)] == here and len(k) > len(here))}
            locations.update({(*here, *k): v for k, v in merged_loc.items()})
            locations[here] = over_loc.get(here, locations.get(here, ("", 0)))
        else:
            data[key] = value
            locations = {k: v for k, v in locations.items() if k[:len(here)] != here}
            locations.update({k: v for k, v in over_loc.items() if k[:len(here)] == here})
    return data, locations


# --- validation ------------------------------------------------------------------------------------

_PLAIN_KEY = re.compile(r"^[A-Za-z0-9_$/:-][A-Za-z0-9_$./:-]*$")


def format_path(path: PathT) -> str:
    """`model_endpoints[0].gpu.count`; odd keys are quoted: `tags["a b"]`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _PLAIN_KEY.match(part):
            out += ("." if out else "") + part
        else:
            out += f"[{json.dumps(part)}]"
    return out


def _locate(locations: Mapping[PathT, Location], path: PathT, default_file: str) -> Location:
    for n in range(len(path), -1, -1):
        if path[:n] in locations:
            return locations[path[:n]]
    return (default_file, 1)


def _model_at(path: PathT) -> type[BaseModel] | None:
    """The model class that holds the field at `path` (for suggesting known keys)."""
    model: Any = StackSpec
    for part in path[:-1]:
        if isinstance(part, int):
            continue
        info = model.model_fields.get(part) if isinstance(model, type) and issubclass(model, BaseModel) else None
        if info is None:
            return None
        model = _inner_model(info.annotation)
        if model is None:
            return None
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _inner_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


def _field_names(model: type[BaseModel]) -> list[str]:
    return [info.alias or name for name, info in model.model_fields.items()]


# What each pattern of the model means, as the sentence that follows "`<value>` is not ...": a message
# never shows the regular expression (tests/spec/test_messages.py checks every pattern has one).
_PATTERN_RULES = {
    DNS_LABEL: "DNS-safe: use lowercase letters, digits and `-`, starting with a letter, at most 40 characters",
    FEATURE_NAME: "a valid name: use snake_case (lowercase letters, digits and `_`, starting with a letter)",
    r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$":
        "a subscription id: write the GUID `az account show --query id` prints "
        "(`xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`)",
    # "The project ID must be a unique string of 6 to 30 lowercase letters, digits, or hyphens. It must start
    # with a letter, and cannot have a trailing hyphen." (Google Cloud, "Creating and managing projects")
    r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$":
        "a GCP project id: write 6 to 30 lowercase letters, digits or hyphens, starting with a letter and not "
        "ending with a hyphen (the id `gcloud projects list` shows, not the display name or number)",
    r"^\d{12}$": "an AWS account id: write its 12 digits, quoted so YAML keeps leading zeros (\"012345678901\")",
    r"^[0-9a-fA-F-]{36}$": "an Entra ID tenant id: write the GUID `az account show --query tenantId` prints",
    r"^[0-9A-F]{6}-[0-9A-F]{6}-[0-9A-F]{6}$":
        "a billing account id: write three groups of six uppercase letters or digits, `XXXXXX-XXXXXX-XXXXXX`",
    r"^\d{6,20}$": "a GCP project number: write its 6 to 20 digits, quoted (\"123456789012\")",
    r"^([a-z0-9.-]+/)?[A-Za-z0-9._-]{1,63}$":
        "a taint key: write up to 63 letters, digits, `.`, `_` or `-`, optionally after a DNS prefix and `/` "
        "(e.g. `example.com/dedicated`)",
    r"^1\.(2[89]|3[0-9])$": "a Kubernetes minor version: write `1.<minor>`, quoted (\"1.32\"); "
                          "the Kubernetes layer supports 1.32 to 1.35",
    r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9._-]+$":
        "a Hugging Face repository id: write `org/name` (e.g. `meta-llama/Llama-3.1-8B-Instruct`)",
    r"^[a-z0-9._-]+(/[a-z0-9._-]+){1,2}:[A-Za-z0-9._-]+$":
        "an NGC model: write `org[/team]/name:version` in lowercase (e.g. `nvidia/nemo/llama-3_1-8b:1.0`)",
    r"^(s3|gs)://[^/]+/.+|^https://[^/]+\.blob\.core\.windows\.net/.+":
        "a bucket path: write `s3://bucket/path`, `gs://bucket/path` or "
        "`https://<account>.blob.core.windows.net/<container>/path`",
    r"^https://": "an https:// URL: write e.g. `https://login.example.com/`",
    r"^\d+(\.\d+)?m?$": "a CPU quantity: write cores (`4`, `0.5`) or millicores (`3500m`)",
    r"^\d+(Mi|Gi)$": "a memory quantity: write a whole number of Mi or Gi (e.g. `32Gi` or `28672Mi`)",
    r"^[a-z0-9.-]+\.[a-z]{2,}$": "a registry host name: write it in lowercase, e.g. `docker.io` or `nvcr.io`",
    r"^[A-Za-z0-9.-]+:\d{2,5}$": "a mail relay address: write `host:port`, e.g. `smtp.example.com:587`",
    r"^[^@\s]+@[^@\s]+$": "an email address: write it as name@example.com",
    r"^[A-Za-z][A-Za-z0-9-]{2,23}$":
        "an Azure ML compute name: write 3 to 24 letters, digits or `-`, starting with a letter",
}


def _quantity(value: object) -> str:
    return "1 item" if value == 1 else f"{value} items"


def _choices(err: Any) -> list[str]:
    """The allowed values of a literal or enum error, from pydantic's `expected` text (`'a', 'b' or 'c'`)."""
    expected = str((err.get("ctx") or {}).get("expected", ""))
    return re.findall(r"'([^']*)'", expected)


def _message(err: Any, path: PathT) -> str:
    """One pydantic error as an English sentence naming what to write instead."""
    kind, value, ctx = err["type"], err.get("input"), err.get("ctx") or {}
    shown = f"`{value}`" if isinstance(value, str | int | float) and not isinstance(value, bool) else repr(value)
    if kind == "extra_forbidden":
        model = _model_at(path)
        known = _field_names(model) if model else []
        close = difflib.get_close_matches(str(path[-1]), known, n=1)
        message = "is not a known field" + (f"; did you mean `{close[0]}`?" if close else "")
        if known and not close:
            message += f"; known fields: {', '.join(known)}"
        return message
    if kind == "missing":
        return "is required; set it"
    if kind in ("literal_error", "enum"):
        choices = _choices(err)
        close = difflib.get_close_matches(str(value), choices, n=1) if isinstance(value, str) else []
        listed = ", ".join(f"`{c}`" for c in choices)
        return (f"is {shown}, which is not one of {listed}"
                + (f"; did you mean `{close[0]}`?" if close else "; write one of them"))
    if kind == "string_type" and isinstance(value, int | float) and not isinstance(value, bool):
        return f"must be text; quote the value (YAML read {value!r} as a number)"
    if kind == "string_type":
        return f"must be text, not {_kind_of(value)}"
    if kind == "string_pattern_mismatch":
        pattern = str(ctx.get("pattern", ""))
        rule = _PATTERN_RULES.get(pattern, "in the form the field's description in `aienv schema --reference` gives")
        return f"{shown} is not {rule}"
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        bound = ctx.get({"greater_than_equal": "ge", "less_than_equal": "le", "greater_than": "gt",
                         "less_than": "lt"}[kind])
        use = {"greater_than_equal": f"{bound} or more", "less_than_equal": f"{bound} or less",
               "greater_than": f"more than {bound}", "less_than": f"less than {bound}"}[kind]
        return f"is {value}; use {use}"
    if kind == "string_too_short":
        if ctx.get("min_length") == 1:
            return "is empty; give a value"
        return f"is too short; use at least {ctx.get('min_length')} characters"
    if kind == "string_too_long":
        return f"is {len(str(value))} characters long; use at most {ctx.get('max_length')}"
    if kind == "too_short":
        return f"needs at least {_quantity(ctx.get('min_length'))}"
    if kind == "too_long":
        return f"has {_quantity(ctx.get('actual_length'))}; use at most {ctx.get('max_length')}"
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return f"is {shown}; write a whole number (e.g. `3`)"
    if kind in ("float_parsing", "float_type"):
        return f"is {shown}; write a number (e.g. `0.5`)"
    if kind in ("bool_parsing", "bool_type"):
        return f"is {shown}; write `true` or `false`"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"must be a mapping of fields (`key: value` lines), not {_kind_of(value)}"
    if kind == "list_type":
        return f"must be a list (`[a, b]` or `- a` lines), not {_kind_of(value)}"
    if kind == "value_error":
        return str(err["msg"]).removeprefix("Value error, ")
    return str(err["msg"])


def _kind_of(value: object) -> str:
    if value is None:
        return "empty (null)"
    if isinstance(value, bool):
        return f"a boolean (`{str(value).lower()}`)"
    if isinstance(value, int | float):
        return f"a number (`{value}`)"
    if isinstance(value, str):
        return f"text (`{value}`)"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _pydantic_issues(exc: ValidationError, locations: Mapping[PathT, Location], file: str,
                     abstract: bool) -> list[SpecIssue]:
    issues = []
    for err in exc.errors(include_url=False):
        path: PathT = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.endswith("[key]")))
        if abstract and err["type"] == "missing":
            continue
        line_file, line = _locate(locations, path, file)
        issues.append(SpecIssue(line_file, line, format_path(path), printable(_message(err, path))))
    return issues


def printable(text: str) -> str:
    """`text` with control characters escaped (`\x1e`), so a message stays one line of plain text."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def validate_document(data: dict[str, Any], locations: Mapping[PathT, Location], file: str) -> StackSpec | None:
    """Validate a merged document. Returns the resolved spec, or None for an abstract base."""
    abstract = data.get("abstract") is True
    try:
        spec = StackSpec.model_validate(data)
    except ValidationError as exc:
        issues = _pydantic_issues(exc, locations, file, abstract)
        if issues:
            raise SpecError(issues) from None
        return None  # an abstract base with only missing fields
    if spec.abstract:
        return None
    spec = defaults.resolve(spec)
    problems = rules.check(spec)
    if problems:
        issues = []
        for path, message in problems:
            line_file, line = _locate(locations, path, file)
            issues.append(SpecIssue(line_file, line, format_path(path), printable(message)))
        raise SpecError(issues)
    return spec


# --- entry points ----------------------------------------------------------------------------------

def project_root(start: Path | None = None) -> Path:
    """The nearest folder holding Pulumi.yaml (the working directory when there is none)."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "Pulumi.yaml").is_file():
            return folder
    return Path.cwd()


def _stack_candidates(name: str) -> list[Path]:
    """Where a stack name may live: `stacks/<name>.yaml`, `.yaml.j2`, then `stacks/Pulumi.<name>.yaml`, under the
    working directory and then the project root (the folder of Pulumi.yaml)."""
    roots = list(dict.fromkeys([Path.cwd(), project_root()]))
    names = (f"{name}.yaml", f"{name}{TEMPLATE_SUFFIX}", f"{STACK_CONFIG_PREFIX}{name}.yaml")
    return [root / "stacks" / n for root in roots for n in names]


def resolve_spec_path(ref: str | os.PathLike[str]) -> Path:
    """A spec path, or a stack name resolved to `stacks/<name>.yaml`, `.yaml.j2` or `stacks/Pulumi.<name>.yaml`
    (which names the stack's spec)."""
    path = Path(ref)
    if path.exists() or path.suffix in (".yaml", ".yml", ".j2") or "/" in str(ref):
        return path
    for candidate in _stack_candidates(str(ref)):
        if candidate.is_file():
            return candidate
    return path


def _not_found(ref: str | os.PathLike[str], path: Path) -> SpecError:
    """"file not found", saying where a stack name was looked for."""
    if path == Path(ref) and not (path.suffix in (".yaml", ".yml", ".j2") or "/" in str(ref)):
        cwd = Path.cwd()
        places = ", ".join(str(_relative(c, cwd)) for c in _stack_candidates(str(ref)))
        return SpecError([SpecIssue(str(ref), None, "", f"no spec named `{ref}`: looked for {places}; give the "
                                                        "spec's path or run from the project root")])
    return SpecError([SpecIssue(str(path), None, "", "file not found")])


def _relative(path: Path, base: Path) -> Path:
    try:
        return path.relative_to(base)
    except ValueError:
        return path


def read_vars_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Template variables from a YAML/JSON mapping file."""
    try:
        doc = _read(Path(path), {}, [])
    except SpecError as exc:
        raise SpecError([SpecIssue(i.file, i.line, i.path, i.message.replace(
            "a spec must be a mapping of fields (name: ..., cloud: ...)",
            "a vars file must be a mapping of template variables (NAME: value)").replace(
            "the file is empty; a spec is a mapping of fields",
            "the vars file is empty; write template variables as NAME: value lines")) for i in exc.issues]) from None
    return doc.data


def load_spec(ref: str | os.PathLike[str], variables: Mapping[str, Any] | None = None,
              vars_file: str | os.PathLike[str] | None = None, *, allow_abstract: bool = False) -> LoadedSpec:
    """Load, merge, render, validate and resolve a spec. Raises `SpecError` with every problem found.

    `ref` may also be a Pulumi stack config file (`stacks/Pulumi.<stack>.yaml`): its `aienv:spec`
    (and optional `aienv:vars`) config then names the spec.
    """
    path = resolve_spec_path(ref)
    if not path.exists():
        raise _not_found(ref, path)
    if path.is_dir():
        raise SpecError([SpecIssue(str(path), None, "", "is a folder with no spec in it (looked for *.yaml, "
                                                        "*.yml, *.yaml.j2 and Pulumi.<stack>.yaml; *.vars.yaml "
                                                        "files are template variables)")])
    if not path.name.endswith((".yaml", ".yml", ".j2")):
        raise SpecError([SpecIssue(str(path), None, "", "is not a spec file: a spec is YAML (*.yaml, *.yml) or a "
                                                        "jinja2 template (*.yaml.j2)")])
    if path.name.startswith(STACK_CONFIG_PREFIX) and path.name.endswith((".yaml", ".yml")):
        return _load_from_stack_config(path, variables, allow_abstract=allow_abstract)
    merged_vars: dict[str, Any] = {}
    if vars_file is not None:
        merged_vars.update(read_vars_file(vars_file))
    merged_vars.update(variables or {})
    doc, chain = _load_chain(path, merged_vars, [])
    spec = validate_document(doc.data, doc.locations, str(path))
    if spec is None:
        if not allow_abstract:
            raise SpecError([SpecIssue(str(path), 1, "abstract",
                                       "is an abstract base; plan a spec that extends it instead")])
        return LoadedSpec(path=path, spec=StackSpec.model_construct(),  # type: ignore[call-arg]
                          data=doc.data, locations=doc.locations,
                          chain=chain, abstract=True)
    return LoadedSpec(path=path, spec=spec, data=doc.data, locations=doc.locations, chain=chain)


def _load_from_stack_config(path: Path, variables: Mapping[str, Any] | None, *, allow_abstract: bool) -> LoadedSpec:
    doc = _read(path, {}, [])
    config = doc.data.get("config")
    if not isinstance(config, dict) or not isinstance(config.get("aienv:spec"), str):
        line = doc.locations.get(("config",), (str(path), 1))[1]
        raise SpecError([SpecIssue(str(path), line, "config.aienv:spec",
                                   "is required: the path of the stack's spec, relative to the project root")])
    root = project_root(path.parent)
    vars_ref = config.get("aienv:vars")
    for key, ref in (("aienv:spec", config["aienv:spec"]), ("aienv:vars", vars_ref)):
        if isinstance(ref, str) and not (root / ref).is_file():
            line = doc.locations.get(("config", key), (str(path), 1))[1]
            raise SpecError([SpecIssue(str(path), line, f"config.{key}",
                                       f"names {root / ref}, which does not exist; give a path relative to the "
                                       f"project root ({root})")])
    return load_spec(root / config["aienv:spec"], variables, root / vars_ref if isinstance(vars_ref, str) else None,
                     allow_abstract=allow_abstract)
