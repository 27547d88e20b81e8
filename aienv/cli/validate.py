"""`aienv validate SPEC...`: load and validate specs; one line per error, exit 2 when any is invalid."""

from __future__ import annotations

import argparse
import sys

from aienv.assignments import parse_assignments
from aienv.errors import SpecError
from aienv.spec import load_spec


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("validate", help="validate stack specs (no cloud, no Pulumi)",
                       description="Load and validate specs: one line per problem as `file:line: field: message`.")
    p.add_argument("specs", nargs="+", metavar="SPEC", help="spec file, stack name, or stacks/Pulumi.<stack>.yaml")
    add_var_options(p)
    p.add_argument("-q", "--quiet", action="store_true", help="print only errors")
    p.set_defaults(func=run)


def add_var_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--var", action="append", default=[], metavar="NAME=VALUE",
                   help="template variable for .yaml.j2 specs (repeatable)")
    p.add_argument("--vars", metavar="FILE", help="YAML file of template variables")


def run(args: argparse.Namespace) -> int:
    variables = parse_assignments(args.var, "--var", "team=nlp")
    failed = False
    for ref in args.specs:
        try:
            loaded = load_spec(ref, variables, args.vars, allow_abstract=True)
        except SpecError as exc:
            failed = True
            for line in exc.lines():
                print(line, file=sys.stderr)
            continue
        if not args.quiet:
            kind = "abstract base, structure valid" if loaded.abstract else (
                f"{loaded.spec.cloud.provider} {loaded.spec.environment.value}, "
                f"{len(loaded.spec.cluster.gpu_pools)} GPU pools, {len(loaded.spec.model_endpoints)} endpoints")
            print(f"{ref}: ok ({kind})")
    return 2 if failed else 0
