"""`aienv plan (SPEC... | --program DIR)`: offline preview of the resource graph (no CLI, no cloud).

Several specs (or a folder) are planned in one process, one after the other, each in a fresh engine run; a spec
that does not load is reported and the others are still planned (exit 2 at the end).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from aienv.cli._output import check_output_folder, write_output
from aienv.cli._specs import expand
from aienv.cli._target import (
    Target,
    add_target_arguments,
    check_spec_options,
    load_program,
    parse_vars,
    plan_spec,
    plan_target,
    print_diagnostics,
    stack_outputs_of,
)
from aienv.errors import AienvError

__all__ = ["Progress", "load_program", "parse_vars", "per_target_path", "register", "run", "write_atomic"]

GRAPH_SUFFIXES = (".dot", ".mmd")
STACK_PLACEHOLDER = "{stack}"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "plan",
        help="offline preview: resource tree and counts by cloud, component and type",
        description="Build the spec's Pulumi program (or any Pulumi Python program: --program DIR) against an "
                    "in-process mock engine (no Pulumi CLI, no credentials) and show what `pulumi preview` "
                    "would create. With several specs, --export and --graph take a `{stack}` placeholder "
                    "(out/{stack}.json).",
    )
    add_target_arguments(parser)
    parser.add_argument("--export", metavar="FILE",
                        help="write the plan as Pulumi writes it: a `pulumi stack export` (v3) document of the known "
                             "view, or with --view preview the `pulumi preview --json` output of a new stack")
    parser.add_argument("--view", choices=("known", "preview"), default="known",
                        help="`known` (default): every output the engine can invent is known, as an update sees "
                             "it; `preview`: the first `pulumi preview` of a new stack (computed outputs unknown, "
                             "`apply` callbacks on them not run)")
    parser.add_argument("--graph", metavar="FILE", help="write the component graph (.dot or .mmd)")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON instead of the tree")
    parser.set_defaults(func=run)


class Progress:
    """Progress on stderr: one updating line on a TTY, else a line per 100 registrations.

    It counts registrations (components, providers and the stack included), which is what the engine reports as
    it goes; the summary's "to create" counts resources only, so the line says "registered", not "resources".
    """

    def __init__(self, stream: TextIO, label: str = ""):
        self.stream = stream
        try:
            self.tty = stream.isatty()
        except (AttributeError, ValueError):
            self.tty = False
        self.last = 0.0
        self.count = 0
        self.label = label

    def __call__(self, count: int, type_: str) -> None:
        self.count = count
        prefix = f"planning {self.label}" if self.label else "planning"
        if self.tty:
            now = time.monotonic()
            if now - self.last >= 0.1:
                self.last = now
                self.stream.write(f"\r\x1b[K{prefix}: {count} registered ({type_})")
                self.stream.flush()
        elif count % 100 == 0:
            self.stream.write(f"{prefix}: {count} registered\n")
            self.stream.flush()

    def done(self) -> None:
        if self.tty and self.count:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


def write_atomic(path: Path, text: str, option: str = "") -> None:
    """Write an output file as a Unix tool would (see `aienv.cli._output.write_output`)."""
    write_output(path, text, option)


def per_target_path(template: str | None, stack: str, several: bool, option: str) -> str | None:
    """The output path for one target: with several targets, `{stack}` in the option's value is required."""
    if template is None:
        return None
    if STACK_PLACEHOLDER in template:
        return template.replace(STACK_PLACEHOLDER, stack)
    if several:
        raise AienvError(f"{option} {template}: several specs would write the same file; put `{{stack}}` in the "
                         f"name, e.g. {option} out/{{stack}}{Path(template).suffix or '.json'}")
    return template


def run(args: argparse.Namespace) -> int:
    graph_path = Path(args.graph) if args.graph else None
    if graph_path is not None and graph_path.suffix not in GRAPH_SUFFIXES:
        raise AienvError(f"--graph {args.graph}: unknown graph format {graph_path.suffix or '(no suffix)'!r}; "
                         "use a .dot (Graphviz) or .mmd (Mermaid) file name")
    for option, value in (("--export", args.export), ("--graph", args.graph)):
        if value:  # before any plan: `out/{stack}.json` needs `out/`
            check_output_folder(value, option, STACK_PLACEHOLDER)
    if args.program:
        progress = Progress(sys.stderr)
        try:
            target = plan_target(args, progress, view=args.view)
        finally:
            progress.done()
        _write_files(target, args, several=False)
        _print(target, args)
        return 0

    check_spec_options(args)
    refs = expand(args.spec)
    several = len(refs) > 1
    for option, value in (("--export", args.export), ("--graph", args.graph)):
        if several and value and STACK_PLACEHOLDER not in value:
            per_target_path(value, "", several, option)  # refuses before any work
    variables = parse_vars(args.var)
    stack_outputs = stack_outputs_of(args)
    targets: list[Target] = []
    failed = False
    skipped: list[str] = []
    for ref in refs:
        progress = Progress(sys.stderr, ref.ref if several else "")
        try:
            planned = plan_spec(ref.ref, variables, args.vars, progress, stack_outputs, skip_abstract=ref.from_folder,
                                view=args.view)
        except AienvError as exc:
            if not several:
                raise
            failed = True
            for line in exc.lines():
                print(line, file=sys.stderr)
            continue
        finally:
            progress.done()
        if planned is None:
            skipped.append(ref.ref)
            continue
        target = planned
        print_diagnostics(target.plan)
        _write_files(target, args, several)
        targets.append(target)
    if args.json and several:
        print(json.dumps({"plans": [{"spec": str(t.source), **t.plan.summary()} for t in targets],
                          "skipped": [{"spec": s, "reason": "abstract base"} for s in skipped]}, indent=2))
    else:
        for target in targets:
            if several:
                print(f"== {target.stack} ({target.source})")
            _print(target, args)
            if several:
                print()
        for s in skipped:
            print(f"{s}: skipped (an abstract base: it is only extended)", file=sys.stderr)
    return 2 if failed else 0


def _write_files(target: Target, args: argparse.Namespace, several: bool) -> None:
    plan = target.plan
    export = per_target_path(args.export, plan.stack, several, "--export")
    if export:
        write_output(export, json.dumps(plan.to_document(), indent=2) + "\n", "--export")
    graph = per_target_path(args.graph, plan.stack, several, "--graph")
    if graph:
        from aienv.engine.graph import to_dot, to_mermaid

        write_output(graph, to_dot(plan) if graph.endswith(".dot") else to_mermaid(plan), "--graph")


def _print(target: Target, args: argparse.Namespace) -> None:
    if args.json:
        print(json.dumps(target.plan.summary(), indent=2))
    else:
        from aienv.engine.render import render_plan

        columns = shutil.get_terminal_size().columns if sys.stdout.isatty() else None
        sys.stdout.write(render_plan(target.plan, columns))
