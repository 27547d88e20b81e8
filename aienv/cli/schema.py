"""`aienv schema [-o FILE] [--reference]`: the JSON Schema of the stack spec, or its Markdown reference."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from aienv.cli._output import check_output_folder, write_output
from aienv.errors import AienvError
from aienv.spec.reference import END, START, reference_markdown, replace_in
from aienv.spec.schema import schema_text


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("schema", help="print the JSON Schema of the stack spec",
                       description="The JSON Schema of the stack spec, for editors (`$schema`) and CI.")
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of standard output")
    p.add_argument("--reference", action="store_true",
                   help="the Markdown spec reference instead of the JSON Schema; with -o FILE holding the "
                        "generated block (README.md), that block is updated in place")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    text = reference_markdown() if args.reference else schema_text()
    if args.output:
        out = Path(args.output)
        check_output_folder(out, "-o")
        if args.reference and out.is_file():
            try:
                current = out.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise AienvError(f"-o {out}: cannot read it to update its reference block: {exc}") from None
            if START not in current or END not in current:
                raise AienvError(f"-o {out}: the file exists and has no generated reference block ({START}); "
                                 "aienv updates that block in place and never overwrites other text: give a new "
                                 "file name, or add the block's start and end lines where the reference goes")
            text = replace_in(current)  # update the generated block of a document (README.md) in place
        write_output(out, text, "-o")
    else:
        sys.stdout.write(text)
    return 0
