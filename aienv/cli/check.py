"""`aienv check (SPEC | --program DIR | --plan FILE)`: run the policy packs on the resource graph, offline.

Exit codes: 0 no mandatory violation, 1 at least one, 2 bad input (spec, plan file, pack, policy config).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from aienv.cli._target import add_target_arguments, plan_target
from aienv.engine.model import View
from aienv.errors import AienvError

VIEWS: tuple[View, View] = ("known", "preview")

DEFAULT_PLAN_PACKS = ("aienv-security", "aienv-ai", "aienv-deploy")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "check",
        help="run the policy packs on a spec's graph or a plan file (exit 1 on a mandatory violation)",
        description="Plan the spec offline (or read a plan file: `aienv plan --export`, `pulumi stack export`, "
                    "`pulumi preview --json`) and run the CrossGuard packs' policies on it.",
    )
    source = add_target_arguments(parser)  # SPEC | --program DIR, --var/--vars, --stack, --config, --stack-outputs
    source.add_argument("--plan", metavar="FILE", help="a plan/state/preview JSON file instead of a spec")
    parser.add_argument("--pack", action="append", default=[], metavar="P",
                        help="policy pack to run (repeatable; default: the spec's compliance.packs, or "
                             "aienv-security + aienv-ai + aienv-deploy with --plan)")
    parser.add_argument("--policy-config", metavar="FILE",
                        help="Pulumi --policy-pack-config JSON: {\"policy\": {\"enforcementLevel\": ..., ...}}")
    parser.add_argument("--json", action="store_true", help="print violations and summary as JSON")
    parser.add_argument("--sarif", metavar="FILE", help="write SARIF 2.1.0 results")
    parser.add_argument("--report", metavar="FILE", help="write a compliance report (.md or .html)")
    parser.add_argument("--waivers", metavar="FILE", help="waivers (policy exceptions) to apply; default: "
                        "$AIENV_WAIVERS, else aienv-waivers.yaml next to the project's Pulumi.yaml")
    parser.add_argument("--baseline", metavar="FILE", help="accept the findings recorded in FILE; fail on new ones")
    parser.add_argument("--write-baseline", metavar="FILE", help="record today's findings in FILE and accept them")
    parser.add_argument("--pack-dir", action="append", default=[], metavar="DIR",
                        help="also run a folder of team rule modules as a pack (repeatable; docs/policies.md)")
    parser.set_defaults(func=run)


def _spec_inputs(args: argparse.Namespace, view: View) -> tuple[Any, list[str], dict[str, dict[str, Any]], str]:
    """(plan document, default packs, source-derived policy config, artifact path) for a spec or program."""
    from aienv.check import from_export

    target = plan_target(args, view=view)
    doc = from_export(target.plan.to_export(), None, allow_empty=True)
    doc.view = view
    return doc, target.default_packs, target.policy_config, str(target.source)


def run(args: argparse.Namespace) -> int:
    from aienv.check import load_policy_config, read_plan_file, run_packs, waivers
    from aienv.check.render import render_json, render_report, render_sarif, render_table
    from aienv.check.runner import merge_views
    from policies.user_packs import use_pack_dirs

    if args.report and Path(args.report).suffix.lower() not in (".md", ".markdown", ".html", ".htm"):
        raise AienvError(f"--report {args.report}: use a .md or .html file name")
    user_config = load_policy_config(args.policy_config) if args.policy_config else None
    if args.plan:
        doc = read_plan_file(args.plan)
        packs = [*(args.pack or DEFAULT_PLAN_PACKS), *use_pack_dirs(args.pack_dir)]
        result = run_packs(doc, packs, user_config=user_config, config_source=args.policy_config or "--policy-config")
        artifact = args.plan
    else:
        # Both views of the program, one after the other (one plan in memory at a time): the gate passes only
        # when the known view (an update) and the first-preview view (a new stack) both pass.
        results = []
        for view in VIEWS:
            doc, default_packs, extra, artifact = _spec_inputs(args, view)
            packs = [*(args.pack or default_packs), *use_pack_dirs(args.pack_dir)]
            results.append(run_packs(doc, packs, user_config=user_config, extra_config=extra,
                                     config_source=args.policy_config or "--policy-config"))
            del doc
        result = merge_views(*results)
    result = waivers.gate(result, waivers=args.waivers, baseline=args.baseline, write_baseline=args.write_baseline,
                          near=artifact, write=_write)

    if args.sarif:
        _write(Path(args.sarif), json.dumps(render_sarif(result, _artifact_uri(artifact)), indent=2) + "\n")
    if args.report:
        _write(Path(args.report), render_report(result, args.report))
    if args.json:
        print(render_json(result))
    else:
        print(render_table(result))
    return 1 if result.mandatory else 0


def _artifact_uri(path: str) -> str:
    p = Path(path)
    try:
        return p.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return p.as_posix()


def _write(path: Path, text: str) -> None:
    try:
        from aienv.cli.plan import write_atomic

        write_atomic(path, text)
    except OSError as exc:
        raise AienvError(f"{path}: cannot write: {exc.strerror or exc}") from None


if __name__ == "__main__":  # pragma: no cover
    from aienv.cli import main

    sys.exit(main(["check", *sys.argv[1:]]))
