"""What `aienv check` reports: one finding per policy and resource across packs, located in the spec or program.

The runner reports a violation per pack that selects a policy (the same bad setting under `aienv-security`,
`hipaa` and `soc2`). A `Finding` merges them: one per (policy, resource, message), naming every pack that
flagged it and the controls of each pack's framework that require it; it fails closed (mandatory when any pack
made it mandatory, the highest severity).

A `Checked` is one target of the command (a spec, a program or a plan file) with its result, or the input errors
that kept it from being checked, and how to locate a resource in the files the user edits.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from aienv.check.runner import SEVERITIES, CheckResult

SEVERITY_RANK = {s: i for i, s in enumerate(SEVERITIES)}  # critical = 0


@dataclass(frozen=True)
class Location:
    """Where a finding (or an input error) comes from: a file, a 1-based line and, for specs, the field."""

    file: str
    line: int
    field: str | None = None


@dataclass(frozen=True)
class InputError:
    """A target that could not be checked: a spec error (file, line, field) or a program/plan-file error."""

    message: str
    file: str | None = None
    line: int | None = None
    field: str | None = None

    def format(self) -> str:
        where = f"{self.file}:{self.line}" if self.file and self.line else (self.file or "")
        parts = [p for p in (where, self.field or ("<document>" if self.file and self.line else "")) if p]
        return ": ".join([*parts, self.message])


@dataclass
class Finding:
    policy: str
    urn: str
    type: str
    name: str
    message: str
    enforcement: str  # mandatory | advisory
    severity: str
    packs: list[str]
    controls: dict[str, list[str]]  # framework -> control ids of the packs that flagged it
    remediation: str
    location: Location | None = None

    def as_dict(self, spec: str | None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "pack": self.packs[0], "packs": self.packs, "policy": self.policy, "enforcement": self.enforcement,
            "severity": self.severity, "urn": self.urn, "type": self.type, "name": self.name,
            "message": self.message, "controls": self.controls, "remediation": self.remediation,
        }
        if spec is not None:
            out["spec"] = spec
        if self.location is not None:
            out["location"] = {"file": self.location.file, "line": self.location.line,
                               **({"field": self.location.field} if self.location.field else {})}
        return out


Locator = Callable[[str], Location | None]


def nowhere(_urn: str) -> Location | None:
    """The locator of a target that was not planned (a function of the module, so a `Checked` pickles)."""
    return None


@dataclass
class Checked:
    """One target of `aienv check` and what came of it."""

    source: str  # the spec, program entry file or plan file, as shown to the user
    kind: Literal["spec", "program", "plan"]
    stack: str | None = None
    result: CheckResult | None = None
    errors: list[InputError] = field(default_factory=list)
    skipped: str | None = None  # why a target was not checked although it loaded (an abstract base)
    frameworks: list[str] | None = None  # a spec's compliance.frameworks (None: not a spec)
    clouds: set[str] = field(default_factory=set)  # the clouds the plan's resources belong to
    resource_count: int | None = None  # resources as `aienv plan` counts them (default providers excluded)
    locate: Locator = field(default=nowhere, repr=False)
    _findings: list[Finding] | None = field(default=None, repr=False)

    @property
    def findings(self) -> list[Finding]:
        if self._findings is None:
            self._findings = merge(self.result, self.locate) if self.result is not None else []
        return self._findings

    @property
    def suppressed(self) -> list[tuple[Finding, Any]]:
        """Findings a waiver or the baseline accepted, each with its `aienv.check.waivers.Suppression`."""
        from aienv.check.waivers import suppressed_of

        if self.result is None:
            return []
        rows = suppressed_of(self.result)
        if not rows:
            return []
        by_key = {(s.violation.policy, s.violation.urn, s.violation.message): s for s in rows}
        shadow = CheckResult([s.violation for s in rows], self.result.outcomes, self.result.packs, 0, None, 0.0)
        return [(f, by_key[(f.policy, f.urn, f.message)]) for f in merge(shadow, self.locate)]

    def reset(self) -> None:
        """Forget the merged findings (after the result changed, e.g. waivers applied)."""
        self._findings = None

    @property
    def resources(self) -> int:
        if self.resource_count is not None:
            return self.resource_count
        return self.result.resource_count if self.result is not None else 0


def merge(result: CheckResult, locate: Locator | None = None) -> list[Finding]:
    """The result's violations, one per (policy, resource, message) across packs."""
    from policies.packs import PACKS

    outcomes = {(o.pack, o.policy): o for o in result.outcomes}
    merged: dict[tuple[str, str, str], Finding] = {}
    for v in result.violations:
        key = (v.policy, v.urn, v.message)
        outcome = outcomes.get((v.pack, v.policy))
        framework = PACKS[v.pack].framework if v.pack in PACKS else None
        controls = list(outcome.controls.get(framework, ())) if outcome is not None and framework else []
        finding = merged.get(key)
        if finding is None:
            finding = merged[key] = Finding(
                v.policy, v.urn, v.type, v.name, v.message, v.enforcement, v.severity, [], {},
                outcome.remediation if outcome is not None else "",
                locate(v.urn) if locate is not None else None)
        if v.pack not in finding.packs:
            finding.packs.append(v.pack)
        if v.enforcement == "mandatory":
            finding.enforcement = "mandatory"
        if SEVERITY_RANK.get(v.severity, 9) < SEVERITY_RANK.get(finding.severity, 9):
            finding.severity = v.severity
        if framework and controls:
            known = finding.controls.setdefault(framework, [])
            known.extend(c for c in controls if c not in known)
    return sorted(merged.values(), key=lambda f: (f.enforcement != "mandatory", SEVERITY_RANK.get(f.severity, 9),
                                                   f.policy, f.urn, f.message))


def summary(checked: Iterable[Checked]) -> dict[str, Any]:
    """Counts over every target: deduplicated findings, distinct policies, resources, errors."""
    targets = list(checked)
    findings = [f for c in targets for f in c.findings]
    policies_run: set[tuple[str, str]] = set()
    policies_failed: set[tuple[str, str]] = set()
    packs: list[str] = []
    for c in targets:
        if c.result is None:
            continue
        for o in c.result.outcomes:
            if o.enforcement != "disabled":
                policies_run.add((c.source, o.policy))
            if not o.passed:
                policies_failed.add((c.source, o.policy))
        packs.extend(p for p in c.result.packs if p not in packs)
    by_sev = {s: sum(1 for f in findings if f.severity == s) for s in SEVERITIES}
    mandatory = sum(1 for f in findings if f.enforcement == "mandatory")
    errors = sum(len(c.errors) for c in targets)
    views = sorted({c.result.view for c in targets if c.result is not None and c.result.view})
    return {
        "specs": len(targets),
        "views": ", ".join(views) if views else None,  # "known+preview": both views of a spec or program
        "checked": sum(1 for c in targets if c.result is not None),
        "errors": errors,
        "packs": packs,
        "resources": sum(c.resources for c in targets if c.result is not None),
        "policies": len(policies_run),
        "policies_failed": len(policies_failed),
        "violations": len(findings),
        "mandatory": mandatory,
        "advisory": len(findings) - mandatory,
        "by_severity": by_sev,
        "deferred": sum(len({(d.policy, d.urn, d.path) for d in c.result.deferred}) for c in targets
                        if c.result is not None),
        "suppressed": sum(len(c.suppressed) for c in targets),
        **_acceptance(targets),
        "passed": mandatory == 0 and errors == 0,
        "elapsed_seconds": round(sum(c.result.elapsed for c in targets if c.result is not None), 3),
    }


def _acceptance(targets: list[Checked]) -> dict[str, Any]:
    """What waivers and a baseline accepted (the keys `aienv.check.waivers.WaivedResult.summary` gives)."""
    results = [c.result for c in targets if c.result is not None and hasattr(c.result, "suppressed")]
    if not results:
        return {}
    rows = [s for r in results for s in getattr(r, "suppressed", [])]
    out: dict[str, Any] = {"waived": sum(1 for s in rows if s.kind == "waiver"),
                           "baselined": sum(1 for s in rows if s.kind == "baseline")}
    files = sorted({f for r in results if (f := getattr(r, "waivers_file", None))})
    if files:
        out["waivers_file"] = ", ".join(files)
    baselines = sorted({f for r in results if (f := getattr(r, "baseline_file", None))})
    if baselines:
        out["baseline_file"] = ", ".join(baselines)
        # a finding of the baseline no target reported any more (each target counts the others' as fixed)
        out["baseline_fixed"] = min(getattr(r, "baseline_fixed", 0) for r in results)
    return out


# --- locating resources ------------------------------------------------------------------------------------

# The spec section each component of the environment builds (its type's last segment), used when a resource's
# recorded spec field is the coarse one of the whole cloud foundation (`cloud`) or cluster (`cluster`).
SECTION_OF_COMPONENT = {
    "Network": ("network",), "FlowLogs": ("network", "flow_logs"), "Storage": ("storage",),
    "Keys": ("security", "encryption"), "Identity": ("security", "workload_permissions"),
    "NodeIdentity": ("security", "workload_permissions"), "Audit": ("security", "audit_logs"),
    "Registries": ("registries",), "Cluster": ("cluster",), "FeatureStore": ("feature_store",),
    "FeatureServer": ("feature_store",), "Budget": ("budget",), "LogWorkspace": ("monitoring",),
    "Observability": ("monitoring",), "EndpointMonitoring": ("monitoring",), "DriftMonitor": ("monitoring", "drift"),
    "GpuStack": ("cluster", "gpu_pools"), "ClusterAutoscaler": ("cluster", "gpu_pools"),
    "Namespaces": ("cluster",), "Gateway": ("model_endpoints",),
}
_COARSE_FIELDS = ("cloud", "cluster")
_PATH_PART = re.compile(r'\.?([A-Za-z0-9_$/:-]+)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]')


@dataclass(frozen=True)
class _Rec:
    """What locating needs of a recorded resource."""

    type: str
    parent: str | None
    spec_field: str | None
    custom: bool


def parse_field(dotted: str) -> tuple[str | int, ...]:
    """`model_endpoints[0].gpu.count` -> ("model_endpoints", 0, "gpu", "count") (the inverse of format_path)."""
    import json

    out: list[str | int] = []
    for name, index, quoted in _PATH_PART.findall(dotted):
        out.append(int(index) if index else json.loads(quoted) if quoted else name)
    return tuple(out)


def spec_locator(records: Iterable[Any], loaded: Any) -> Locator:
    """Locate a resource of a planned spec at the spec line of the field that produced it.

    `records` are the plan's `RecordedResource`s (urn, type, parent, spec_field); `loaded` the `LoadedSpec`,
    whose locations remember, through `extends`, the file and line that set each key.
    """
    from aienv.spec.loader import format_path

    by_urn = {r.urn: _Rec(r.type, r.parent, r.spec_field, r.custom) for r in records}  # not the whole plan
    locations: dict[tuple[str | int, ...], tuple[str, int]] = loaded.locations
    fallback = locations.get(("name",), (str(loaded.path), 1))
    cache: dict[str, Location] = {}

    def candidates(urn: str) -> list[tuple[str | int, ...]]:
        fine: list[tuple[str | int, ...]] = []
        coarse: list[tuple[str | int, ...]] = []
        rec = by_urn.get(urn)
        seen = 0
        while rec is not None and seen < 64:
            if rec.spec_field:
                (coarse if rec.spec_field in _COARSE_FIELDS else fine).append(parse_field(rec.spec_field))
            section = SECTION_OF_COMPONENT.get(rec.type.rsplit(":", 1)[-1]) if not rec.custom else None
            if section:
                fine.append(section)
            rec = by_urn.get(rec.parent) if rec.parent else None
            seen += 1
        return fine + coarse

    def locate(urn: str) -> Location | None:
        if urn in cache:
            return cache[urn]
        found: Location | None = None
        for path in candidates(urn):
            for n in range(len(path), 0, -1):  # the deepest key the spec (or a base) sets
                hit = locations.get(path[:n])
                if hit is not None:
                    found = Location(_relative(hit[0]), hit[1], format_path(path[:n]))
                    break
            if found is not None:
                break
        if found is None:
            found = Location(_relative(fallback[0]), fallback[1], "name" if ("name",) in locations else None)
        cache[urn] = found
        return found

    return locate


def text_locator(path: str | Path, needles: Callable[[str], Iterable[str]], default_line: int = 1) -> Locator:
    """Locate a resource at the first line of `path` holding one of `needles(urn)` (its URN in a plan file, its
    logical name as a string literal in a program)."""
    shown = str(path)
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        lines = []

    def locate(urn: str) -> Location | None:
        for needle in needles(urn):
            for i, line in enumerate(lines, start=1):
                if needle in line:
                    return Location(shown, i)
        return Location(shown, default_line)

    return locate


def plan_file_locator(path: str | Path) -> Locator:
    return text_locator(path, lambda urn: [f'"urn": "{urn}"', f'"urn":"{urn}"'] if urn else [])


def program_locator(entry_file: str | Path, records: Iterable[Any]) -> Locator:
    """Locate a resource of a Pulumi program: the source position the engine recorded at registration when it
    has one (`source_position`: (file, line) or an object with `uri` and `line`), else the first line of the
    program's files that names it as a string literal, else the entry file's first line."""
    folder = Path(entry_file).parent
    positions = {r.urn: p for r in records if (p := getattr(r, "source_position", None))}
    files = sorted(folder.rglob("*.py")) if folder.is_dir() else []
    files = [Path(entry_file), *(f for f in files if f != Path(entry_file) and ".venv" not in f.parts
                                 and "venv" not in f.parts)][:200]
    texts: dict[Path, list[str]] = {}

    def lines_of(file: Path) -> list[str]:
        if file not in texts:
            try:
                texts[file] = file.read_text(encoding="utf-8").splitlines()
            except (OSError, UnicodeDecodeError):
                texts[file] = []
        return texts[file]

    def locate(urn: str) -> Location | None:
        position = positions.get(urn)
        if position:
            uri, line = (position if isinstance(position, tuple) else (getattr(position, "uri", ""),
                                                                         getattr(position, "line", 0)))
            recorded = str(uri).removeprefix("file://")
            if recorded and line:
                return Location(_relative(recorded), int(line))
        name = urn.rsplit("::", 1)[-1] if urn else ""
        if name:
            for file in files:
                for i, line in enumerate(lines_of(file), start=1):
                    if f'"{name}"' in line or f"'{name}'" in line:
                        return Location(_relative(str(file)), i)
        return Location(_relative(str(entry_file)), 1)

    return locate


def _relative(path: str) -> str:
    try:
        return Path(path).resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return path


# --- the gate ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Gate:
    """Which findings fail the build.

    By default a mandatory finding fails it (the CrossGuard contract: `pulumi preview` stops on those).
    `fail_on` is a severity threshold instead: any finding of that severity or higher fails, mandatory or
    advisory, and lower ones never do. `soft_fail` reports everything and exits 0 on findings (input errors
    still exit 2: a spec that does not load was not checked).
    """

    fail_on: str | None = None
    soft_fail: bool = False

    def fails(self, finding: Finding) -> bool:
        if self.fail_on is None:
            return finding.enforcement == "mandatory"
        return SEVERITY_RANK.get(finding.severity, 9) <= SEVERITY_RANK[self.fail_on]

    def failing(self, checked: Iterable[Checked]) -> list[Finding]:
        return [f for c in checked for f in c.findings if self.fails(f)]

    def exit_code(self, checked: list[Checked]) -> int:
        if any(c.errors for c in checked):
            return 2
        if self.failing(checked) and not self.soft_fail:
            return 1
        return 0

    def status(self, checked: list[Checked]) -> str:
        if any(c.errors for c in checked):
            return "ERROR"
        if self.failing(checked):
            return "FAIL (soft)" if self.soft_fail else "FAIL"
        return "PASS"

    def describe(self) -> str:
        rule = (f"findings of severity {self.fail_on} or higher" if self.fail_on
                else "mandatory findings")
        return f"{rule} fail the build" + (" (--soft-fail: reported, exit 0)" if self.soft_fail else "")
