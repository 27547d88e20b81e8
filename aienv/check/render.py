"""Renderers for a CheckResult: terminal table, JSON, SARIF 2.1.0, and the compliance report (.md/.html)."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2

from aienv import __version__
from aienv.check import waivers
from aienv.check.runner import SEVERITIES, CheckResult, Deferral, Violation

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_TEMPLATES = Path(__file__).parent / "templates"


def render_table(result: CheckResult) -> str:
    lines: list[str] = []
    by_sev: dict[str, list[Violation]] = defaultdict(list)
    for v in result.violations:
        by_sev[v.severity].append(v)
    for sev in SEVERITIES:
        group = sorted(by_sev.get(sev, []), key=lambda v: (v.enforcement != "mandatory", v.policy, v.urn, v.pack))
        if not group:
            continue
        lines.append(f"{sev.upper()} ({len(group)})")
        for v in group:
            where = f"{v.name} ({v.type})" if v.name else "stack"
            lines.append(f"  [{v.enforcement}] {v.pack}/{v.policy}  {where}")
            if v.urn:
                lines.append(f"      {v.urn}")
            lines.append(f"      {v.message}")
        lines.append("")
    lines.extend(render_deferred(result))
    lines.extend(waivers.table_lines(result))
    s = result.summary()
    status = "PASS" if s["passed"] else "FAIL"
    lines.append(f"{status}: {s['violations']} violation(s) ({s['mandatory']} mandatory, {s['advisory']} advisory) "
                 f"from {s['policies_failed']}/{s['policies']} policies over {s['resources']} resources; "
                 f"packs: {', '.join(s['packs'])} ({s['elapsed_seconds']:.2f}s)")
    return "\n".join(lines)


def render_deferred(result: CheckResult) -> list[str]:
    """What the checks could not see: at a new stack's first preview, decided at the update (and here in the
    known view), or not decided offline at all."""
    if not result.deferred:
        return []
    seen: set[tuple[str, str, str]] = set()
    decided: list[Deferral] = []
    undecided: list[Deferral] = []
    for d in result.deferred:
        key = (d.policy, d.urn, d.path)
        if key in seen:  # the same check in several packs
            continue
        seen.add(key)
        (decided if d.decided_offline else undecided).append(d)
    lines: list[str] = []
    if decided:
        lines.append(f"DEFERRED AT THE FIRST PREVIEW ({len(decided)}), decided here in the known view; "
                     "`pulumi up --policy-pack` runs them on the resolved inputs before each resource is created:")
        lines.extend(f"  {d.reason}" for d in decided[:20])
        if len(decided) > 20:
            lines.append(f"  ... and {len(decided) - 20} more (--json lists them all)")
        lines.append("")
    if undecided:
        where = "in either view" if result.view == "known+preview" else "in this document"
        lines.append(f"NOT DECIDED OFFLINE ({len(undecided)}): the value is unknown {where}; the policy runs at the "
                     "update on the resolved inputs:")
        lines.extend(f"  [{d.enforcement}] {d.reason}" for d in undecided)
        lines.append("")
    return lines


def render_json(result: CheckResult) -> str:
    out: dict[str, Any] = {"violations": [v.as_dict() for v in result.violations], "summary": result.summary(),
                           "deferred": [d.as_dict() for d in result.deferred]}
    if waivers.suppressed_of(result):
        out["suppressed"] = [s.as_dict() for s in waivers.suppressed_of(result)]
    return json.dumps(out, indent=2)


def render_sarif(result: CheckResult, artifact: str) -> dict[str, Any]:
    """SARIF 2.1.0: one rule per policy (across packs), one result per violation located at `artifact`."""
    rules: dict[str, dict[str, Any]] = {}
    for o in result.outcomes:
        rule = rules.setdefault(o.policy, {
            "id": o.policy,
            "name": "".join(w.capitalize() for w in o.policy.split("-")),
            "shortDescription": {"text": o.description},
            "fullDescription": {"text": o.description},
            "help": {"text": o.remediation or o.description},
            "defaultConfiguration": {"level": "error" if o.enforcement == "mandatory" else "warning"},
            "properties": {"severity": o.severity, "packs": [], "controls": {k: list(v) for k, v in o.controls.items()},
                           "tags": [o.severity, *sorted(f"{k}:{c}" for k, v in o.controls.items() for c in v)]},
        })
        if o.pack not in rule["properties"]["packs"]:
            rule["properties"]["packs"].append(o.pack)
    ids = list(rules)

    def sarif_result(v: Violation) -> dict[str, Any]:
        return {
            "ruleId": v.policy,
            "ruleIndex": ids.index(v.policy),
            "level": "error" if v.enforcement == "mandatory" else "warning",
            "message": {"text": v.message},
            "locations": [{
                "physicalLocation": {"artifactLocation": {"uri": artifact}, "region": {"startLine": 1}},
                "logicalLocations": [{"fullyQualifiedName": v.urn or "stack", "name": v.name or "stack",
                                      "kind": "resource"}],
            }],
            "partialFingerprints": {"aienvViolation/v1": f"{v.policy}|{v.urn}|{v.message}"},
            "properties": {"pack": v.pack, "enforcement": v.enforcement, "severity": v.severity, "urn": v.urn,
                           "type": v.type},
        }

    results = [sarif_result(v) for v in result.violations] + waivers.sarif_results(result, sarif_result)
    return {
        "version": "2.1.0",
        "$schema": SARIF_SCHEMA,
        "runs": [{
            "tool": {"driver": {"name": "aienv check", "version": __version__,
                                "informationUri": "https://www.pulumi.com/docs/iac/crossguard/",
                                "rules": list(rules.values())}},
            "results": results,
            "properties": {"summary": result.summary()},
        }],
    }


@dataclass
class ControlRow:
    control: str
    title: str
    policies: list[dict[str, Any]] = field(default_factory=list)

    @property
    def status(self) -> str:
        if not self.policies:
            return "not covered"
        if any(p["status"] == "fail" for p in self.policies):
            return "fail"
        if all(p["status"] == "no evidence" for p in self.policies):
            return "no evidence"
        return "pass"


def report_model(result: CheckResult) -> dict[str, Any]:
    """Per framework and control: the policies backing it, pass/fail, and the resources as evidence."""
    from policies.meta import CONTROL_TITLES, FRAMEWORKS
    from policies.packs import PACKS

    chosen = [fw for p in result.packs if (fw := PACKS[p].framework) is not None and fw in ("hipaa", "gdpr", "soc2")]
    frameworks = list(dict.fromkeys(chosen)) or sorted({fw for o in result.outcomes for fw in o.controls
                                                        if fw in CONTROL_TITLES})
    waived = waivers.report_waivers(result)
    merged: dict[str, dict[str, Any]] = {}
    for o in result.outcomes:
        entry = merged.setdefault(o.policy, {"policy": o.policy, "description": o.description, "controls": o.controls,
                                             "severity": o.severity, "enforcement": set(), "evaluated": set(),
                                             "failed": set(), "stack_failed": False, "disabled": True})
        entry["enforcement"].add(o.enforcement)
        entry["evaluated"].update(o.evaluated)
        entry["failed"].update(o.failed)
        entry["stack_failed"] |= o.stack_failed
        entry["disabled"] &= o.enforcement == "disabled"
    out = []
    for fw in frameworks:
        rows: dict[str, ControlRow] = {c: ControlRow(c, t) for c, t in CONTROL_TITLES.get(fw, {}).items()}
        for e in merged.values():
            for control in e["controls"].get(fw, ()):
                row = rows.setdefault(control, ControlRow(control, ""))
                failed = e["stack_failed"] or bool(e["failed"])
                status = ("disabled" if e["disabled"] else "fail" if failed
                          else "pass" if e["evaluated"] else "no evidence")
                evidence = [{"urn": u, "name": result.names.get(u, ("", u))[1], "type": result.names.get(u, ("", ""))[0],
                             "status": "fail" if u in e["failed"] else "waived" if (e["policy"], u) in waived
                             else "pass", "waiver": waived.get((e["policy"], u))} for u in sorted(e["evaluated"])]
                row.policies.append({"policy": e["policy"], "description": e["description"], "status": status,
                                     "severity": e["severity"], "enforcement": "/".join(sorted(e["enforcement"])),
                                     "evidence": evidence})
        out.append({"key": fw, "name": FRAMEWORKS[fw]["name"], "version": FRAMEWORKS[fw]["version"],
                    "controls": [rows[c] for c in sorted(rows, key=_control_key)]})
    return {"frameworks": out, "summary": result.summary(), "source": result.source, "version": __version__,
            "waived": sorted(waived.values(), key=lambda w: (w["policy"], w["name"]))}


def _control_key(control: str) -> tuple[Any, ...]:
    import re

    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", control))


def render_report(result: CheckResult, path: str | Path) -> str:
    suffix = Path(path).suffix.lower()
    template = "report.html.j2" if suffix in (".html", ".htm") else "report.md.j2"
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(_TEMPLATES)),
                             autoescape=jinja2.select_autoescape(["html.j2"]), trim_blocks=True, lstrip_blocks=True)
    return env.get_template(template).render(**report_model(result))
