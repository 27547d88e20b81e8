"""`aienv validate SPEC...`: load and validate specs (files, stack names or folders); one line per error, exit 2
when any is invalid. `--json` prints every spec's result and errors as one JSON document instead."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from aienv.assignments import parse_assignments
from aienv.cli._specs import expand
from aienv.errors import SpecError
from aienv.spec import load_spec


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("validate", help="validate stack specs (no cloud, no Pulumi)",
                       description="Load and validate specs: one line per problem as `file:line: field: message`. "
                                   "A folder (stacks/) stands for every spec and stack config in it.")
    p.add_argument("specs", nargs="+", metavar="SPEC",
                   help="spec file, stack name, stacks/Pulumi.<stack>.yaml, or a folder of them")
    add_var_options(p)
    p.add_argument("-q", "--quiet", action="store_true", help="print only errors")
    p.add_argument("--json", action="store_true",
                   help='print {"valid": ..., "specs": [{"spec", "valid", "errors": [...]}, ...]} on stdout')
    p.set_defaults(func=run)


def add_var_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--var", action="append", default=[], metavar="NAME=VALUE",
                   help="template variable for .yaml.j2 specs (repeatable)")
    p.add_argument("--vars", metavar="FILE", help="YAML file of template variables")


def run(args: argparse.Namespace) -> int:
    variables = parse_assignments(args.var, "--var", "team=nlp")
    results: list[dict[str, Any]] = []
    for ref in expand(args.specs):
        try:
            loaded = load_spec(ref.ref, variables, args.vars, allow_abstract=True)
        except SpecError as exc:
            results.append({"spec": ref.ref, "valid": False, "errors": [
                {"file": i.file, "line": i.line, "field": i.path or None, "message": i.message} for i in exc.issues]})
            if not args.json:
                for line in exc.lines():
                    print(line, file=sys.stderr)
            continue
        if loaded.abstract:
            entry: dict[str, Any] = {"spec": ref.ref, "valid": True, "abstract": True,
                                     "summary": "abstract base, structure valid"}
        else:
            spec = loaded.spec
            entry = {"spec": ref.ref, "valid": True, "abstract": False, "path": str(loaded.path),
                     "stack": spec.name, "cloud": spec.cloud.provider, "environment": spec.environment.value,
                     "summary": (f"{spec.cloud.provider} {spec.environment.value}, "
                                 f"{_count(len(spec.cluster.gpu_pools), 'GPU pool')}, "
                                 f"{_count(len(spec.model_endpoints), 'endpoint')}")}
        results.append(entry | {"errors": []})
        if not args.quiet and not args.json:
            print(f"{ref.ref}: ok ({entry['summary']})")
    valid = all(r["valid"] for r in results)
    if args.json:
        print(json.dumps({"valid": valid, "errors": sum(len(r["errors"]) for r in results), "specs": results},
                         indent=2))
    return 0 if valid else 2


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"
