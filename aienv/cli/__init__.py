"""The `aienv` command line. The only place in the project that prints.

Each sub-command lives in its own module exposing `register(subparsers)`; the parser sets
`func(args) -> int` on the namespace. Every `AienvError` becomes clear lines on stderr and exit 2.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from aienv import __version__
from aienv.errors import AienvError

# Sub-command modules, in the order `aienv --help` lists them.
COMMANDS = ("validate", "schema", "plan", "check", "policies")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aienv",
        description="Plan, validate and policy-check AI environments built from one typed stack spec.",
    )
    parser.add_argument("--version", action="version", version=f"aienv {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"aienv.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"aienv.cli.{name}":
                continue  # command not built yet
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
    except AienvError as exc:
        for line in exc.lines():
            print(line, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return code


def console_main() -> None:
    """The `aienv` command: `main`, then exit without tearing down the interpreter.

    Every file is written and renamed by then; what remains is freeing the provider SDKs' module graph, which
    costs about 0.6 s a run (a quarter of `aienv plan`) and changes nothing a user can see.
    """
    code = main()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:  # e.g. `aienv plan ... | head`: the reader left, nothing more to say
        pass
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    console_main()
