"""`aienv policies`: every policy of every pack (built in, and loaded with --pack-dir), with its pack, severity,
enforcement (as the pack configures it) and the controls it maps to."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "policies",
        help="list the policies of the packs (pack, severity, enforcement, controls)",
        description="List every policy the packs run, with its pack, severity, enforcement level and the framework "
                    "controls and anchor checks (Checkov, AWS Config) it maps to.",
    )
    parser.add_argument("--pack", action="append", default=[], metavar="P", help="only this pack (repeatable)")
    parser.add_argument("--pack-dir", action="append", default=[], metavar="DIR",
                        help="also list a folder of team rule modules (as `aienv check --pack-dir`)")
    parser.add_argument("--json", action="store_true", help="print the list as JSON")
    parser.set_defaults(func=run)


def rows(packs: list[str] | None = None) -> list[dict[str, Any]]:
    from policies.packs import PACKS, pack, pack_rules

    out = []
    for name in packs or list(PACKS):
        p = pack(name)
        for rule in pack_rules(name):
            meta = rule.meta
            level = str(p.config.get(meta.name, {}).get("enforcementLevel") or meta.enforcement)
            out.append({
                "pack": name, "policy": meta.name, "severity": meta.severity, "enforcement": level,
                "kind": rule.kind, "area": meta.area, "description": meta.description,
                "controls": {fw: list(ids) for fw, ids in meta.controls.items()}, "checks": list(meta.checks),
                "remediation": meta.remediation, "origin": p.origin or "built in",
            })
    return out


def _table(entries: list[dict[str, Any]]) -> str:
    if not entries:
        return "no policies"
    width = max(len(e["policy"]) for e in entries)
    lines: list[str] = []
    for pack in dict.fromkeys(e["pack"] for e in entries):
        group = [e for e in entries if e["pack"] == pack]
        if lines:
            lines.append("")
        lines.append(f"{pack} ({len(group)} policies)")
        for e in group:
            controls = "; ".join(f"{fw} {', '.join(ids)}" for fw, ids in e["controls"].items()) or "-"
            lines.append(f"  {e['policy']:<{width}}  {e['severity']:<8}  {e['enforcement']:<9}  {controls}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from aienv.errors import AienvError
    from policies.packs import PACKS
    from policies.user_packs import use_pack_dirs

    extra = use_pack_dirs(args.pack_dir)
    selected = list(dict.fromkeys([*args.pack, *extra])) if args.pack else None
    for name in selected or []:
        if name not in PACKS:
            raise AienvError(f"unknown policy pack `{name}` (known: {', '.join(PACKS)})")
    entries = rows(selected)
    text = (json.dumps({"policies": entries, "packs": sorted({e["pack"] for e in entries})}, indent=2) if args.json
            else _table(entries))
    with contextlib.suppress(BrokenPipeError):  # `aienv policies | head`: the reader has what it wanted
        print(text)
    return 0


if __name__ == "__main__":  # pragma: no cover
    from aienv.cli import main

    sys.exit(main(["policies", *sys.argv[1:]]))
