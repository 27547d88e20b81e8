"""What `aienv check` writes, for one target or many: the terminal table, JSON, SARIF 2.1.0, JUnit XML and the
compliance report (.md/.html). Every renderer takes the list of `Checked` targets and works on the deduplicated
findings (`aienv.check.findings`), so one bad setting is one finding whatever the number of packs.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2

from aienv import __version__
from aienv.check import waivers
from aienv.check.findings import Checked, Finding, Gate, InputError, summary
from aienv.check.runner import SEVERITIES, CheckResult, Deferral

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
INPUT_ERROR_RULE = "aienv-input-error"
_TEMPLATES = Path(__file__).parent / "templates"
# GitHub code scanning ranks alerts by a rule's `security-severity`: "over 9.0 is critical, 7.0 to 8.9 is high,
# 4.0 to 6.9 is medium and 3.9 or less is low" (GitHub Docs, "SARIF support for code scanning").
SECURITY_SEVERITY = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "2.0"}
_SEVERITY_STYLE = {"critical": "bold_red", "high": "red", "medium": "yellow", "low": "cyan"}


def _plain(text: str, _style: str) -> str:
    return text


def _shown(checked: Checked) -> str:
    return f"{checked.stack} ({checked.source})" if checked.stack else checked.source


# --- terminal -------------------------------------------------------------------------------------------------

def render_table(checked: list[Checked], gate: Gate | None = None, style: Any = _plain) -> str:
    """Findings grouped by target and severity, three lines each, then one summary line."""
    gate = gate or Gate()
    lines: list[str] = []
    several = len(checked) > 1
    for target in checked:
        if several:
            lines.append(style(f"== {_shown(target)}", "bold"))
        if target.skipped:
            lines.append(f"  skipped: {target.skipped}")
        if target.errors:  # printed on stderr, one line each, as `aienv validate` prints them
            lines.append(style(f"  not checked: {len(target.errors)} input error"
                               f"{'s' if len(target.errors) != 1 else ''}", "bold_red"))
        by_sev: dict[str, list[Finding]] = defaultdict(list)
        for f in target.findings:
            by_sev[f.severity].append(f)
        for sev in SEVERITIES:
            group = by_sev.get(sev, [])
            if not group:
                continue
            lines.append(style(f"{sev.upper()} ({len(group)})", _SEVERITY_STYLE[sev]))
            for f in group:
                level = style(f"[{f.enforcement}]", "red" if gate.fails(f) else "yellow")
                where = f"{f.name} ({f.type})" if f.name else "the stack"
                lines.append(f"  {level} {style(f.policy, 'bold')}: {where}")
                lines.append(f"      {f.message}")
                detail = []
                if f.location is not None:
                    detail.append(f"{f.location.file}:{f.location.line}"
                                  + (f" {f.location.field}" if f.location.field else ""))
                detail.append("packs: " + ", ".join(f.packs))
                if f.remediation:
                    detail.append(f"fix: {f.remediation}")
                lines.append(style("      " + " · ".join(detail), "dim"))
        suppressed = target.suppressed
        if suppressed:
            lines.append(style(f"SUPPRESSED ({len(suppressed)})", "dim"))
            for f, sup in suppressed:
                where = f"{f.name} ({f.type})" if f.name else "the stack"
                lines.append(f"  [{sup.kind}] {f.policy}: {where}")
                lines.append(f"      {f.message}")
                lines.append(style(f"      accepted: {sup.justification}", "dim"))
            lines.append("")
        if target.result is not None:
            lines.extend(render_deferred(target.result))
        if several and not target.findings and not target.errors and not target.skipped:
            lines.append("  no findings")
        lines.append("")
    lines.append(summary_line(checked, gate, style))
    return "\n".join(lines)


def render_deferred(result: CheckResult) -> list[str]:
    """What the checks could not see: at a new stack's first preview, decided at the update (and here in the
    known view), or not decided offline at all."""
    if not result.deferred:
        return []
    decided: list[Deferral] = []
    undecided: list[Deferral] = []
    for d in _unique_deferrals(result):
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


def _unique_deferrals(result: CheckResult) -> list[Deferral]:
    seen: set[tuple[str, str, str]] = set()
    out = []
    for d in result.deferred:
        key = (d.policy, d.urn, d.path)
        if key not in seen:  # the same check in several packs
            seen.add(key)
            out.append(d)
    return out


def summary_line(checked: list[Checked], gate: Gate, style: Any = _plain) -> str:
    s = summary(checked)
    status = gate.status(checked)
    colour = "bold_green" if status == "PASS" else "bold_red"
    found = f"{s['violations']} finding{'s' if s['violations'] != 1 else ''}"
    text = f"{found} ({s['mandatory']} mandatory, {s['advisory']} advisory); "
    if s["specs"] > 1:
        text += (f"{s['policies_failed']} of {s['policies']} policy runs failed over {s['resources']} resources "
                 f"of {s['checked']} checked targets (of {s['specs']})")
    else:
        text += f"{s['policies_failed']} of {s['policies']} policies failed over {s['resources']} resources"
    if s["errors"]:
        text += f"; {s['errors']} input error{'s' if s['errors'] != 1 else ''} (not checked)"
    text += f"; packs: {', '.join(s['packs']) or 'none'}; checked in {s['elapsed_seconds']:.2f}s"
    return f"{style(status, colour)}: {text}"


# --- JSON -------------------------------------------------------------------------------------------------------

def render_json(checked: list[Checked], gate: Gate | None = None) -> str:
    gate = gate or Gate()
    out = {
        "violations": [f.as_dict(c.source) | {"gate": gate.fails(f)}
                       for c in checked for f in c.findings],
        "errors": [_error_dict(c, e) for c in checked for e in c.errors],
        "deferred": [d.as_dict() | {"spec": c.source} for c in checked if c.result is not None
                     for d in _unique_deferrals(c.result)],
        "suppressed": [f.as_dict(c.source) | {"suppression": sup.kind, "justification": sup.justification,
                                              **({"waiver": sup.waiver.as_dict()} if sup.waiver else {})}
                       for c in checked for f, sup in c.suppressed] or None,  # left out when none
        "summary": summary(checked) | {"status": gate.status(checked)},
        "gate": {"fail_on": gate.fail_on or "mandatory", "soft_fail": gate.soft_fail},
        "specs": [{"spec": c.source, "kind": c.kind, "stack": c.stack, "checked": c.result is not None,
                   "skipped": c.skipped, "summary": summary([c]) | {"status": gate.status([c])}} for c in checked],
    }
    return json.dumps({k: v for k, v in out.items() if v is not None}, indent=2)


def _error_dict(checked: Checked, error: InputError) -> dict[str, Any]:
    return {"spec": checked.source, "file": error.file, "line": error.line, "field": error.field,
            "message": error.message}


# --- SARIF ------------------------------------------------------------------------------------------------------

def _uri(path: str) -> str:
    p = Path(path)
    try:
        return p.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except (ValueError, OSError):
        return p.as_posix()


def render_sarif(checked: list[Checked] | CheckResult, artifact: str | None = None,
                 gate: Gate | None = None) -> dict[str, Any]:
    """SARIF 2.1.0, one run: one rule per policy (across packs and targets), one result per finding, located at
    the spec (or program, or plan file) line that produced the resource; input errors are results too."""
    if isinstance(checked, CheckResult):  # one result, located at `artifact`
        checked = [Checked(source=artifact or "plan.json", kind="plan", result=checked)]
    gate = gate or Gate()
    rules: dict[str, dict[str, Any]] = {}
    for target in checked:
        for o in target.result.outcomes if target.result is not None else ():
            rule = rules.setdefault(o.policy, {
                "id": o.policy,
                "name": "".join(w.capitalize() for w in o.policy.split("-")),
                "shortDescription": {"text": o.description},
                "fullDescription": {"text": o.description},
                "help": {"text": o.remediation or o.description, "markdown": o.remediation or o.description},
                "defaultConfiguration": {"level": "error" if o.enforcement == "mandatory" else "warning"},
                "properties": {"severity": o.severity, "security-severity": SECURITY_SEVERITY.get(o.severity, "5.5"),
                               "packs": [], "controls": {k: list(v) for k, v in o.controls.items()},
                               "tags": ["security", o.severity,
                                        *sorted(f"{k}:{c}" for k, v in o.controls.items() for c in v)]},
            })
            if o.pack not in rule["properties"]["packs"]:
                rule["properties"]["packs"].append(o.pack)
    if any(t.errors for t in checked):
        rules[INPUT_ERROR_RULE] = {
            "id": INPUT_ERROR_RULE, "name": "InputError",
            "shortDescription": {"text": "The spec, program or plan file could not be loaded, so it was not checked."},
            "fullDescription": {"text": "aienv reports a spec error at the file, line and field it comes from; "
                                        "nothing of that target was planned or checked."},
            "help": {"text": "Fix the field the message names; `aienv validate` shows the same error."},
            "defaultConfiguration": {"level": "error"},
            "properties": {"severity": "high", "security-severity": SECURITY_SEVERITY["high"], "tags": ["input"]},
        }
    ids = list(rules)
    results: list[dict[str, Any]] = []
    for target in checked:
        accepted = [(f, sup) for f, sup in target.suppressed]
        for f, sup in [*((f, None) for f in target.findings), *accepted]:
            location = f.location
            region = {"startLine": location.line if location is not None else 1}
            uri = _uri(location.file if location is not None else target.source)
            results.append({
                "ruleId": f.policy,
                "ruleIndex": ids.index(f.policy),
                "level": "error" if gate.fails(f) and sup is None else "warning",
                "message": {"text": f.message + (f" Fix: {f.remediation}" if f.remediation else "")},
                "locations": [{
                    "physicalLocation": {"artifactLocation": {"uri": uri}, "region": region},
                    "logicalLocations": [{"fullyQualifiedName": f.urn or "stack", "name": f.name or "stack",
                                          "kind": "resource"}],
                }],
                "partialFingerprints": {"aienvFinding/v2": f"{target.stack or target.source}|{f.policy}|{f.urn}|"
                                                            f"{f.message}"},
                "properties": {"packs": f.packs, "controls": f.controls, "enforcement": f.enforcement,
                               "severity": f.severity, "urn": f.urn, "type": f.type, "spec": target.source,
                               **({"field": location.field} if location is not None and location.field else {})},
                # SARIF 2.1.0 section 3.35: a waived or baselined finding is an accepted, external suppression
                **({"suppressions": waivers.sarif_suppressions(sup)} if sup is not None else {}),
            })
        for e in target.errors:
            results.append({
                "ruleId": INPUT_ERROR_RULE, "ruleIndex": ids.index(INPUT_ERROR_RULE), "level": "error",
                "message": {"text": (f"{e.field}: " if e.field else "") + e.message},
                "locations": [{"physicalLocation": {"artifactLocation": {"uri": _uri(e.file or target.source)},
                                                    "region": {"startLine": e.line or 1}}}],
                "partialFingerprints": {"aienvFinding/v2": f"{e.file}|{e.field}|{e.message}"},
                "properties": {"spec": target.source},
            })
    return {
        "version": "2.1.0",
        "$schema": SARIF_SCHEMA,
        "runs": [{
            "tool": {"driver": {"name": "aienv", "fullName": "aienv check (offline CrossGuard policy gate)",
                                "version": __version__, "semanticVersion": __version__,
                                "rules": list(rules.values())}},
            "results": results,
            "properties": {"summary": summary(checked), "gate": gate.describe()},
        }],
    }


# --- JUnit XML ----------------------------------------------------------------------------------------------------

def render_junit(checked: list[Checked], gate: Gate | None = None) -> str:
    """JUnit XML for CI dashboards: a test suite per target, a test case per policy run; a policy fails when the
    gate fails one of its findings; advisory findings below the gate are listed in the case's output; a target
    that does not load is one errored case."""
    gate = gate or Gate()
    suites = ET.Element("testsuites", name="aienv check")
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for target in checked:
        suite = ET.SubElement(suites, "testsuite", name=_shown(target))
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        classname = target.stack or Path(target.source).stem
        if target.errors:
            case = ET.SubElement(suite, "testcase", classname=classname, name="load", file=target.source)
            error = ET.SubElement(case, "error", type="input", message=target.errors[0].message)
            error.text = "\n".join(e.format() for e in target.errors)
            counts["tests"] += 1
            counts["errors"] += 1
        if target.skipped:
            case = ET.SubElement(suite, "testcase", classname=classname, name="check", file=target.source)
            ET.SubElement(case, "skipped", message=target.skipped)
            counts["tests"] += 1
            counts["skipped"] += 1
        by_policy: dict[str, list[Finding]] = defaultdict(list)
        for f in target.findings:
            by_policy[f.policy].append(f)
        policies = dict.fromkeys(o.policy for o in (target.result.outcomes if target.result else ())
                                 if o.enforcement != "disabled" and _applies(_area(o.policy), target.clouds))
        elapsed = target.result.elapsed if target.result is not None else 0.0
        suite.set("time", f"{elapsed:.3f}")
        for policy in policies:
            findings = by_policy.get(policy, [])
            case = ET.SubElement(suite, "testcase", classname=classname, name=policy, file=target.source)
            counts["tests"] += 1
            failing = [f for f in findings if gate.fails(f)]
            if failing:
                first = failing[0]
                failure = ET.SubElement(case, "failure", type=f"{first.enforcement}/{first.severity}",
                                        message=first.message if len(failing) == 1
                                        else f"{len(failing)} findings; first: {first.message}")
                failure.text = "\n".join(_finding_text(f) for f in failing)
                counts["failures"] += 1
            rest = [f for f in findings if not gate.fails(f)]
            if rest:
                ET.SubElement(case, "system-out").text = "\n".join(_finding_text(f) for f in rest)
        for key, value in counts.items():
            suite.set(key, str(value))
            totals[key] += value
    for key, value in totals.items():
        suites.set(key, str(value))
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


def _finding_text(f: Finding) -> str:
    where = f"{f.location.file}:{f.location.line} " if f.location is not None else ""
    return (f"{where}[{f.enforcement}, {f.severity}] {f.name or 'stack'} ({f.type}): {f.message}"
            + (f" Fix: {f.remediation}" if f.remediation else ""))


# --- the compliance report ------------------------------------------------------------------------------------------

@dataclass
class ControlRow:
    control: str
    title: str
    policies: list[dict[str, Any]] = field(default_factory=list)
    reason: str = ""  # why a control has no evidence

    @property
    def status(self) -> str:
        if not self.policies:
            return "not covered"
        if any(p["status"] == "fail" for p in self.policies):
            return "fail"
        if any(p["status"] == "pass" for p in self.policies):
            return "pass"
        if all(p["status"] == "disabled" for p in self.policies):
            return "disabled"
        return "no evidence"

    @property
    def why(self) -> str:
        """For a control without evidence: what the report could not see, and why."""
        if self.status == "not covered":
            return self.reason
        if self.status == "disabled":
            return "every policy mapped to it is disabled by the policy configuration"
        if self.status == "no evidence":
            return "; ".join(p["why"] for p in self.policies if p["why"])
        return ""


_CLOUD_AREAS = ("aws", "azure", "gcp", "kubernetes")


def _applies(area: str | None, clouds: set[str]) -> bool:
    """A policy for one platform applies only to stacks with resources on it (ai and stack policies always do);
    with no cloud known, every policy applies."""
    return not clouds or area not in _CLOUD_AREAS or area in clouds


def _area(policy: str) -> str | None:
    from policies.rules import RULES_BY_NAME

    rule = RULES_BY_NAME.get(policy)
    return rule.meta.area if rule is not None else None


def report_model(checked: Checked | CheckResult) -> dict[str, Any]:
    """Per framework the target covers and per control: the policies backing it, pass/fail, the resources as
    evidence, and for a control without evidence the reason."""
    from policies.meta import CONTROL_TITLES, FRAMEWORKS
    from policies.packs import PACKS
    from policies.rules import RULES_BY_NAME

    if isinstance(checked, CheckResult):
        checked = Checked(source=checked.source or "plan", kind="plan", result=checked)
    result = checked.result
    if result is None:
        raise ValueError("a report needs a checked target")
    if checked.frameworks is not None:  # a spec: exactly its compliance.frameworks
        frameworks = list(dict.fromkeys(checked.frameworks))
        selected_by = "the spec's compliance.frameworks"
    else:
        frameworks = list(dict.fromkeys(fw for p in result.packs if (fw := PACKS[p].framework) in CONTROL_TITLES))
        selected_by = "the packs run"
    clouds = checked.clouds
    waived = waivers.report_waivers(result)
    merged: dict[str, dict[str, Any]] = {}
    omitted: set[str] = set()
    for o in result.outcomes:
        rule = RULES_BY_NAME.get(o.policy)
        if not _applies(rule.meta.area if rule is not None else None, clouds):
            omitted.add(o.policy)
            continue
        entry = merged.setdefault(o.policy, {
            "policy": o.policy, "description": o.description, "controls": o.controls, "severity": o.severity,
            "enforcement": set(), "evaluated": set(), "failed": set(), "stack_failed": False, "disabled": True,
            "types": sorted(rule.types) if rule is not None else [], "kind": o.kind, "packs": []})
        entry["enforcement"].add(o.enforcement)
        entry["evaluated"].update(o.evaluated)
        entry["failed"].update(o.failed)
        entry["stack_failed"] |= o.stack_failed
        entry["disabled"] &= o.enforcement == "disabled"
        entry["packs"].append(o.pack)
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
                why = ""
                if status == "no evidence":
                    kinds = ", ".join(f"`{t}`" for t in e["types"][:4]) + (", ..." if len(e["types"]) > 4 else "")
                    why = (f"`{e['policy']}` found no {kinds or 'resource it checks'} in this stack" if kinds
                           else f"`{e['policy']}` found nothing to check in this stack")
                row.policies.append({"policy": e["policy"], "description": e["description"], "status": status,
                                     "severity": e["severity"], "enforcement": "/".join(sorted(e["enforcement"])),
                                     "evidence": evidence, "why": why, "packs": e["packs"]})
        for row in rows.values():
            if not row.policies:
                row.reason = (f"no policy of the packs run ({', '.join(result.packs)}) maps to it on "
                              f"{', '.join(sorted(c for c in clouds if c in _CLOUD_AREAS)) or 'this stack'}")
        controls = [rows[c] for c in sorted(rows, key=_control_key)]
        counts = {s: sum(1 for r in controls if r.status == s)
                  for s in ("pass", "fail", "no evidence", "not covered", "disabled")}
        out.append({"key": fw, "name": FRAMEWORKS[fw]["name"], "version": FRAMEWORKS[fw]["version"],
                    "anchor": f"framework-{fw}", "controls": controls, "counts": counts})
    note = ""
    if not frameworks:
        note = ("The spec lists no compliance.frameworks, so this report covers no framework; add e.g. "
                "`frameworks: [soc2]` under `compliance` to report on its controls.")
    return {"frameworks": out, "summary": summary([checked]), "source": checked.source, "stack": checked.stack,
            "version": __version__, "selected_by": selected_by, "note": note,
            "clouds": sorted(c for c in clouds if c in _CLOUD_AREAS), "omitted": sorted(omitted),
            "findings": checked.findings,
            "waived": sorted(waived.values(), key=lambda w: (w["policy"], w["name"]))}


def _control_key(control: str) -> tuple[Any, ...]:
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", control))


def render_report(checked: Checked | CheckResult, path: str | Path) -> str:
    suffix = Path(path).suffix.lower()
    template = "report.html.j2" if suffix in (".html", ".htm") else "report.md.j2"
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(_TEMPLATES)),
                             autoescape=jinja2.select_autoescape(["html.j2"]), trim_blocks=True, lstrip_blocks=True)
    return env.get_template(template).render(**report_model(checked))
