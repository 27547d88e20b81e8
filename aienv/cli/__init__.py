"""The `aienv` command line. The only place in the project that prints.

Each sub-command lives in its own module exposing `register(subparsers)`; the parser sets
`func(args) -> int` on the namespace. Every `AienvError` becomes clear lines on stderr and exit 2.
"""

from __future__ import annotations

import argparse
import contextlib
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
    colour = parser.add_mutually_exclusive_group()
    colour.add_argument("--color", dest="color", action="store_const", const=True, default=None,
                        help="colour the output even when it is not a terminal")
    colour.add_argument("--no-color", dest="color", action="store_const", const=False,
                        help="never colour the output (also: the NO_COLOR environment variable)")
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
        from aienv.kube_versions import today

        today()  # a bad AIENV_TODAY is one line before any work, not a failed policy per cluster
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
    """The `aienv` command: `main` as a Unix tool runs, then exit without tearing down the interpreter.

    Ctrl-C and SIGTERM end the process at once (130, 143) with no half-written file; a reader that leaves
    (`aienv validate stacks/ | head -1`) ends the output quietly and the command still exits with its own result.
    Every file is written and renamed before `main` returns; what remains is freeing the provider SDKs' module
    graph, which costs about 0.6 s a run (a quarter of `aienv plan`) and changes nothing a user can see.
    """
    from aienv.cli._output import guard_streams, handle_signals

    handle_signals()
    guard_streams()
    code = main()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(BrokenPipeError, ValueError, OSError):  # the reader left: nothing more to say
            stream.flush()
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    console_main()
