"""`aienv plan (SPEC | --program DIR)`: offline preview of the resource graph (no CLI, no cloud)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, TextIO

from aienv.cli._target import add_target_arguments, load_program, parse_vars, plan_target
from aienv.errors import AienvError

__all__ = ["Progress", "load_program", "parse_vars", "register", "run", "write_atomic"]

GRAPH_SUFFIXES = (".dot", ".mmd")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "plan",
        help="offline preview: resource tree and counts by cloud, component and type",
        description="Build the spec's Pulumi program (or any Pulumi Python program: --program DIR) against an "
                    "in-process mock engine (no Pulumi CLI, no credentials) and show what `pulumi preview` "
                    "would create.",
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
    """Progress on stderr: one updating line on a TTY, else a line per 100 resources."""

    def __init__(self, stream: TextIO):
        self.stream = stream
        self.tty = stream.isatty()
        self.last = 0.0
        self.count = 0

    def __call__(self, count: int, type_: str) -> None:
        self.count = count
        if self.tty:
            now = time.monotonic()
            if now - self.last >= 0.1:
                self.last = now
                self.stream.write(f"\r\x1b[Kplanning: {count} resources ({type_})")
                self.stream.flush()
        elif count % 100 == 0:
            self.stream.write(f"planning: {count} resources\n")
            self.stream.flush()

    def done(self) -> None:
        if self.tty and self.count:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


def write_atomic(path: Path, text: str) -> None:
    """Write `text` to `path` through a temporary file in the same folder and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def run(args: argparse.Namespace) -> int:
    graph_path = Path(args.graph) if args.graph else None
    if graph_path is not None and graph_path.suffix not in GRAPH_SUFFIXES:
        raise AienvError(f"--graph {args.graph}: unknown graph format {graph_path.suffix or '(no suffix)'!r}; "
                         "use a .dot (Graphviz) or .mmd (Mermaid) file name")
    progress = Progress(sys.stderr)
    try:
        plan = plan_target(args, progress, view=args.view).plan
    finally:
        progress.done()

    if args.export:
        write_atomic(Path(args.export), json.dumps(plan.to_document(), indent=2) + "\n")
    if graph_path is not None:
        from aienv.engine.graph import to_dot, to_mermaid

        write_atomic(graph_path, to_dot(plan) if graph_path.suffix == ".dot" else to_mermaid(plan))
    if args.json:
        print(json.dumps(plan.summary(), indent=2))
    else:
        from aienv.engine.render import render_plan

        sys.stdout.write(render_plan(plan))
    return 0
