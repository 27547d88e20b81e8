"""Waivers (policy exceptions) and baselines: findings a team accepts, with a reason, an owner and an expiry.

The file (YAML or JSON, `aienv-waivers.yaml` next to the project's `Pulumi.yaml` unless `--waivers FILE` or
`$AIENV_WAIVERS` names another) follows the shape of a Pulumi Cloud policy exception (`policyPack`, `reason`,
`match: [{policies, targets}]`, `expiresAt`; docs/policies.md) and adds the two things a file-based exception needs:
an `owner` and a fixed `expiresAt` date, both required.

    exceptions:
      - id: SEC-101                                    # optional, shown in reports
        policyPack: aienv-security                     # optional: every pack that runs the policy
        reason: Bastion SSH stays open to the VPN range until the SSM migration (JIRA-123)
        owner: platform-team@example.com
        expiresAt: 2026-03-31                          # valid through that day (UTC), or an RFC 3339 time
        match:
          - policies: [aws-security-group-no-public-ingress]
            targets:                                   # a URN (glob), `name:<glob>` / a bare name glob, or `stack`
              - urn:pulumi:prod::legacy-data::aws:ec2/securityGroup:SecurityGroup::bastion

A waived finding does not fail the check; it is still reported, as suppressed, with its waiver (table, JSON, SARIF
`suppressions`, compliance report). A waiver that has expired, or that waives nothing in a run it applies to,
is itself a mandatory finding. A baseline (`--baseline FILE`) accepts the findings recorded in it the same way,
so a team can adopt the gate on an existing program and fail only on new findings.

Only the standard library and PyYAML (which comes with pulumi): the CrossGuard packs load this module too.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import yaml

from aienv.check.runner import CheckResult, PolicyOutcome, Violation
from aienv.errors import AienvError

ENV_VAR = "AIENV_WAIVERS"
DEFAULT_NAME = "aienv-waivers.yaml"
WAIVER_PACK = "aienv-waivers"
EXPIRED = "waiver-expired"
UNMATCHED = "waiver-unmatched"
BASELINE_VERSION = 1
_EXCEPTION_KEYS = {"id", "policyPack", "reason", "owner", "expiresAt", "match"}
_MATCH_KEYS = {"policies", "targets"}
_URN = re.compile(r"^urn:pulumi:(?P<stack>[^:]*)::(?P<project>[^:]*)::")


class WaiverError(AienvError):
    """A waiver or baseline file that cannot be used; the message names the file, line and field."""


@dataclass(frozen=True)
class Waiver:
    """One match entry of an exception: these policies on these targets, for this reason, until this time."""

    policies: tuple[str, ...]
    targets: tuple[str, ...]
    reason: str
    owner: str
    expires: datetime  # the first moment the waiver no longer applies (UTC)
    expires_text: str
    where: str  # file:line of the exception
    id: str | None = None
    pack: str | None = None

    @property
    def label(self) -> str:
        return f"`{self.id}` ({self.where})" if self.id else f"at {self.where}"

    def expired(self, now: datetime) -> bool:
        return now >= self.expires

    def matches_target(self, urn: str, name: str) -> bool:
        for target in self.targets:
            if target == "stack":
                if not urn:
                    return True
            elif target.startswith("urn:"):
                if urn and fnmatchcase(urn, target):
                    return True
            elif name and fnmatchcase(name, target.removeprefix("name:")):
                return True
        return False

    def matches(self, pack: str, policy: str, urn: str, name: str) -> bool:
        return (self.pack in (None, pack)) and policy in self.policies and self.matches_target(urn, name)

    def applies_to(self, packs: Iterable[str], policies: Iterable[str], stacks: set[tuple[str, str]]) -> bool:
        """Whether this run could use the waiver: its pack and a policy ran, and a target can name a resource of
        this stack (URN targets for another stack or project do not apply; name and `stack` targets always do)."""
        if self.pack is not None and self.pack not in set(packs):
            return False
        if not set(self.policies) & set(policies):
            return False
        for target in self.targets:
            m = _URN.match(target)
            if m is None:
                return True
            if any(fnmatchcase(stack, m["stack"]) and fnmatchcase(project, m["project"]) for stack, project in stacks):
                return True
        return False

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "policyPack": self.pack, "policies": list(self.policies), "targets": list(self.targets),
                "reason": self.reason, "owner": self.owner, "expiresAt": self.expires_text, "source": self.where}


@dataclass(frozen=True)
class Suppression:
    violation: Violation
    kind: str  # "waiver" | "baseline"
    justification: str
    waiver: Waiver | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {**self.violation.as_dict(), "suppression": self.kind, "justification": self.justification}
        if self.waiver is not None:
            out["waiver"] = self.waiver.as_dict()
        return out


# --- Reading the file ------------------------------------------------------------------------------------------------
def _expiry(value: Any, where: str) -> tuple[datetime, str]:
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return moment.astimezone(UTC), value.isoformat()
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC) + _ONE_DAY, value.isoformat()
    if isinstance(value, str) and value.strip():
        text = value.strip()
        try:
            if len(text) == 10:
                d = date.fromisoformat(text)
                return datetime(d.year, d.month, d.day, tzinfo=UTC) + _ONE_DAY, text
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
            return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC), text
        except ValueError:
            pass
    raise WaiverError(f"{where}: expiresAt: {value!r} is not a date (YYYY-MM-DD) or an RFC 3339 time")


_ONE_DAY = datetime(2000, 1, 2, tzinfo=UTC) - datetime(2000, 1, 1, tzinfo=UTC)


def _strings(value: Any, where: str, key: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v.strip() for v in value):
        raise WaiverError(f"{where}: {key}: list at least one name")
    return tuple(v.strip() for v in value)


def _text(value: Any, where: str, key: str) -> str:
    if not isinstance(value, str | int) or not str(value).strip():
        raise WaiverError(f"{where}: {key}: is required; say {'why' if key == 'reason' else 'who'} in one line")
    return str(value).strip()


def parse_waivers(text: str, source: str) -> list[Waiver]:
    """The waivers in `text` (YAML or JSON); `source` names the file in messages."""
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise WaiverError(f"{source}{line}: invalid YAML/JSON: {getattr(exc, 'problem', None) or exc}") from None
    finally:
        loader.dispose()
    if data is None:
        return []
    if not isinstance(data, dict) or set(data) - {"exceptions"}:
        raise WaiverError(f"{source}:1: expected a mapping with one key, `exceptions` (a list of waivers)")
    items = data.get("exceptions") or []
    if not isinstance(items, list):
        raise WaiverError(f"{source}:1: exceptions: must be a list")
    lines = _item_lines(root, "exceptions")
    out: list[Waiver] = []
    for i, item in enumerate(items):
        where = f"{source}:{lines[i] if i < len(lines) else 1}"
        if not isinstance(item, dict):
            raise WaiverError(f"{where}: exceptions[{i}]: must be a mapping (reason, owner, expiresAt, match)")
        unknown = sorted(set(item) - _EXCEPTION_KEYS)
        if unknown:
            raise WaiverError(f"{where}: exceptions[{i}].{unknown[0]}: is not a known field "
                              f"(known: {', '.join(sorted(_EXCEPTION_KEYS))})")
        reason = _text(item.get("reason"), where, f"exceptions[{i}].reason")
        owner = _text(item.get("owner"), where, f"exceptions[{i}].owner")
        if "expiresAt" not in item:
            raise WaiverError(f"{where}: exceptions[{i}].expiresAt: is required; a waiver ends on a date")
        expires, expires_text = _expiry(item["expiresAt"], where)
        matches = item.get("match")
        if not isinstance(matches, list) or not matches:
            raise WaiverError(f"{where}: exceptions[{i}].match: list at least one {{policies, targets}} entry")
        for j, entry in enumerate(matches):
            path = f"exceptions[{i}].match[{j}]"
            if not isinstance(entry, dict) or set(entry) - _MATCH_KEYS:
                raise WaiverError(f"{where}: {path}: must be a mapping with `policies` and `targets`")
            out.append(Waiver(
                policies=_strings(entry.get("policies"), where, f"{path}.policies"),
                targets=_strings(entry.get("targets"), where, f"{path}.targets"),
                reason=reason, owner=owner, expires=expires, expires_text=expires_text, where=where,
                id=str(item["id"]) if item.get("id") is not None else None,
                pack=str(item["policyPack"]) if item.get("policyPack") else None))
    return out


def _item_lines(root: Any, key: str) -> list[int]:
    if not isinstance(root, yaml.MappingNode):
        return []
    for k, v in root.value:
        if getattr(k, "value", None) == key and isinstance(v, yaml.SequenceNode):
            return [n.start_mark.line + 1 for n in v.value]
    return []


def load_waivers(path: str | Path) -> list[Waiver]:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise WaiverError(f"{p}: cannot read waivers: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise WaiverError(f"{p}: not a UTF-8 text file") from None
    return parse_waivers(text, str(p))


def project_dir(start: str | Path) -> Path:
    """The directory holding the project's Pulumi.yaml at or above `start` (else `start`'s directory)."""
    here = Path(start).resolve()
    here = here if here.is_dir() else here.parent
    for d in (here, *here.parents):
        if (d / "Pulumi.yaml").is_file() or (d / "Pulumi.yml").is_file():
            return d
    return here


def waivers_path(explicit: str | None, near: str | Path | None) -> Path | None:
    """Which waiver file a run uses: `--waivers FILE`, else `$AIENV_WAIVERS`, else `aienv-waivers.yaml` next to the
    project's Pulumi.yaml (found from `near`), when it exists."""
    if explicit:
        return Path(explicit)
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env)
    candidate = project_dir(near or Path.cwd()) / DEFAULT_NAME
    return candidate if candidate.is_file() else None


def check_known_policies(waivers: Sequence[Waiver], known: Mapping[str, Iterable[str]]) -> None:
    """Every waiver names policies and packs that exist (`known`: pack -> its policy names)."""
    import difflib

    every = {p for names in known.values() for p in names}
    for w in waivers:
        if w.pack is not None and w.pack not in known:
            raise WaiverError(f"{w.where}: policyPack: unknown pack `{w.pack}` (known: {', '.join(sorted(known))})")
        pool = set(known[w.pack]) if w.pack is not None else every
        for policy in w.policies:
            if policy not in pool:
                near = difflib.get_close_matches(policy, sorted(pool), n=1)
                hint = f"; did you mean `{near[0]}`?" if near else ""
                where = f"pack `{w.pack}`" if w.pack else "any pack"
                raise WaiverError(f"{w.where}: policies: `{policy}` is not a policy of {where}{hint}")


# --- Baselines -----------------------------------------------------------------------------------------------------
def fingerprint(v: Violation) -> str:
    """The same identity SARIF's `partialFingerprints` carries (pack-independent: one finding, one entry)."""
    return f"{v.policy}|{v.urn}|{v.message}"


@dataclass(frozen=True)
class Baseline:
    path: str
    created: str
    fingerprints: frozenset[str]


def load_baseline(path: str | Path) -> Baseline:
    p = Path(path)
    try:
        raw = json.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise WaiverError(f"{p}: cannot read baseline: {exc.strerror or exc}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise WaiverError(f"{p}: malformed baseline JSON: {exc}") from None
    if not isinstance(raw, dict) or raw.get("version") != BASELINE_VERSION or not isinstance(raw.get("findings"), list):
        raise WaiverError(f"{p}: not an aienv baseline (write one with `aienv check ... --write-baseline {p}`)")
    prints = set()
    for f in raw["findings"]:
        if not isinstance(f, dict) or not {"policy", "urn", "message"} <= set(f):
            raise WaiverError(f"{p}: each finding needs policy, urn and message")
        prints.add(f"{f['policy']}|{f['urn']}|{f['message']}")
    return Baseline(str(p), str(raw.get("created") or ""), frozenset(prints))


def baseline_document(violations: Iterable[Violation], now: datetime | None = None) -> dict[str, Any]:
    seen: dict[str, dict[str, str]] = {}
    for v in violations:
        if v.pack == WAIVER_PACK:
            continue  # a broken waiver is never accepted into a baseline
        seen.setdefault(fingerprint(v), {"policy": v.policy, "urn": v.urn, "type": v.type, "name": v.name,
                                         "severity": v.severity, "message": v.message})
    return {"version": BASELINE_VERSION, "created": (now or datetime.now(UTC)).isoformat(timespec="seconds"),
            "findings": sorted(seen.values(), key=lambda f: (f["policy"], f["urn"], f["message"]))}


# --- Applying them to a check result ----------------------------------------------------------------------------------
@dataclass
class WaivedResult(CheckResult):
    """A CheckResult whose accepted findings moved from `violations` to `suppressed`."""

    suppressed: list[Suppression] = field(default_factory=list)
    waivers_file: str | None = None
    baseline_file: str | None = None
    baseline_fixed: int = 0  # baseline entries no longer found (the team fixed them)

    def summary(self) -> dict[str, Any]:
        out = super().summary()
        out["suppressed"] = len(self.suppressed)
        out["waived"] = sum(1 for s in self.suppressed if s.kind == "waiver")
        out["baselined"] = sum(1 for s in self.suppressed if s.kind == "baseline")
        if self.waivers_file:
            out["waivers_file"] = self.waivers_file
        if self.baseline_file:
            out["baseline_file"] = self.baseline_file
            out["baseline_fixed"] = self.baseline_fixed
        return out


def stacks_of(urns: Iterable[str]) -> set[tuple[str, str]]:
    return {(m["stack"], m["project"]) for u in urns if (m := _URN.match(u))}


def problem_outcomes() -> list[PolicyOutcome]:
    return [
        PolicyOutcome(WAIVER_PACK, EXPIRED, "Renew or remove expired waivers.", "stack", "mandatory", "high", {},
                      "Fix the finding and delete the waiver, or extend expiresAt after a new review.", {}),
        PolicyOutcome(WAIVER_PACK, UNMATCHED, "Remove waivers that no longer waive a finding.", "stack", "mandatory",
                      "medium", {}, "Delete the waiver (its finding is gone) or correct its policies and targets.",
                      {}),
    ]


def expired_message(w: Waiver) -> str:
    return (f"The waiver {w.label} for {', '.join(w.policies)} on {', '.join(w.targets)} (owner {w.owner}) expired "
            f"on {w.expires_text}; fix the finding or renew the waiver.")


def unmatched_message(w: Waiver) -> str:
    return (f"The waiver {w.label} for {', '.join(w.policies)} on {', '.join(w.targets)} (owner {w.owner}) waives "
            "no finding in this run; remove it or correct its policies and targets.")


def justification(w: Waiver) -> str:
    ident = f" [{w.id}]" if w.id else ""
    return f"{w.reason} (owner {w.owner}, expires {w.expires_text}){ident}"


def apply(result: CheckResult, waivers: Sequence[Waiver] = (), *, baseline: Baseline | None = None,
          waivers_file: str | None = None, now: datetime | None = None) -> WaivedResult:
    """Move waived and baselined findings to `suppressed`; add a mandatory finding per expired or unmatched waiver."""
    now = now or datetime.now(UTC)
    active = [w for w in waivers if not w.expired(now)]
    used: set[int] = set()
    kept: list[Violation] = []
    suppressed: list[Suppression] = []
    seen_prints: set[str] = set()
    for v in result.violations:
        waiver = next((w for w in active if w.matches(v.pack, v.policy, v.urn, v.name)), None)
        if waiver is not None:
            used.add(id(waiver))
            suppressed.append(Suppression(v, "waiver", justification(waiver), waiver))
        elif baseline is not None and fingerprint(v) in baseline.fingerprints:
            seen_prints.add(fingerprint(v))
            suppressed.append(Suppression(v, "baseline", f"in the baseline {baseline.path}"
                                          + (f" of {baseline.created}" if baseline.created else "")))
        else:
            kept.append(v)

    ran_packs = {o.pack for o in result.outcomes}
    ran_policies = {o.policy for o in result.outcomes if o.enforcement != "disabled"}
    stacks = stacks_of(result.names) | stacks_of(v.urn for v in result.violations)
    problems: list[Violation] = []
    for w in waivers:
        if not w.applies_to(ran_packs, ran_policies, stacks):
            continue
        if w.expired(now):
            problems.append(Violation(WAIVER_PACK, EXPIRED, "mandatory", "high", "", "pulumi:pulumi:Stack", "",
                                      expired_message(w)))
        elif id(w) not in used:
            problems.append(Violation(WAIVER_PACK, UNMATCHED, "mandatory", "medium", "", "pulumi:pulumi:Stack", "",
                                      unmatched_message(w)))

    outcomes = _settle_outcomes(result.outcomes, kept)
    extra = problem_outcomes()
    for o in extra:
        o.stack_failed = any(p.policy == o.policy for p in problems)
    fixed = len(baseline.fingerprints - seen_prints) if baseline is not None else 0
    return WaivedResult(
        violations=kept + problems, outcomes=outcomes + extra, packs=list(result.packs),
        resource_count=result.resource_count, source=result.source, elapsed=result.elapsed, names=dict(result.names),
        deferred=list(result.deferred), view=result.view, suppressed=suppressed, waivers_file=waivers_file, baseline_file=baseline.path if baseline else None,
        baseline_fixed=fixed)


def _settle_outcomes(outcomes: Sequence[PolicyOutcome], kept: Sequence[Violation]) -> list[PolicyOutcome]:
    """Outcomes whose failures are the findings still reported (a fully waived resource no longer fails)."""
    failing: dict[tuple[str, str], set[str]] = {}
    for v in kept:
        failing.setdefault((v.pack, v.policy), set()).add(v.urn)
    out = []
    for o in outcomes:
        still = failing.get((o.pack, o.policy), set())
        out.append(replace(o, failed={u for u in o.failed if u in still}, stack_failed=o.stack_failed and "" in still,
                           evaluated=list(o.evaluated)))
    return out


# --- Rendering helpers (used by aienv.check.render) ----------------------------------------------------------------------
def suppressed_of(result: CheckResult) -> list[Suppression]:
    return list(getattr(result, "suppressed", []) or [])


def table_lines(result: CheckResult) -> list[str]:
    rows = suppressed_of(result)
    if not rows:
        return []
    lines = [f"SUPPRESSED ({len(rows)})"]
    for s in sorted(rows, key=lambda s: (s.kind, s.violation.policy, s.violation.urn)):
        v = s.violation
        where = f"{v.name} ({v.type})" if v.name else "stack"
        lines.append(f"  [{s.kind}] {v.pack}/{v.policy}  {where}")
        lines.append(f"      {v.message}")
        lines.append(f"      accepted: {s.justification}")
    lines.append("")
    return lines


def sarif_suppressions(s: Suppression) -> list[dict[str, Any]]:
    """SARIF 2.1.0 §3.35: `kind` external (kept outside the source), `status` accepted, `justification`."""
    entry: dict[str, Any] = {"kind": "external", "status": "accepted", "justification": s.justification}
    if s.waiver is not None:
        entry["properties"] = {"owner": s.waiver.owner, "expiresAt": s.waiver.expires_text, "id": s.waiver.id,
                               "source": s.waiver.where}
    return [entry]


def sarif_results(result: CheckResult, make: Callable[[Violation], dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for s in suppressed_of(result):
        entry = make(s.violation)
        entry["suppressions"] = sarif_suppressions(s)
        out.append(entry)
    return out


def report_waivers(result: CheckResult) -> dict[tuple[str, str], dict[str, Any]]:
    """(policy, urn) -> what the compliance report shows for a waived or baselined finding."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for s in suppressed_of(result):
        w = s.waiver
        out.setdefault((s.violation.policy, s.violation.urn), {
            "kind": s.kind, "justification": s.justification, "reason": w.reason if w else s.justification,
            "owner": w.owner if w else "", "expires": w.expires_text if w else "", "id": w.id if w else None,
            "message": s.violation.message, "name": s.violation.name or "stack", "type": s.violation.type,
            "policy": s.violation.policy})
    return out


# --- The CLI's entry point -------------------------------------------------------------------------------------------------
def known_policies() -> dict[str, list[str]]:
    """Every pack `aienv check` knows (built-in and loaded from --pack-dir) -> its policy names."""
    from policies.packs import PACKS

    return {name: list(p.rules) for name, p in PACKS.items()}


def gate(result: CheckResult, *, waivers: str | None = None, baseline: str | None = None,
         write_baseline: str | None = None, near: str | Path | None = None,
         write: Callable[[Path, str], None] | None = None, now: datetime | None = None) -> CheckResult:
    """`aienv check`'s waiver and baseline step: read the waiver file (`--waivers`, `$AIENV_WAIVERS` or the
    project's `aienv-waivers.yaml`), then `--write-baseline FILE` (record today's findings) or `--baseline FILE`,
    and apply them. Without any of these the result is returned unchanged."""
    path = waivers_path(waivers, near)
    items = load_waivers(path) if path else []
    if items:
        check_known_policies(items, known_policies())
    accepted: Baseline | None = None
    if write_baseline:
        waived_only = apply(result, items, now=now)
        doc = baseline_document((v for v in waived_only.violations), now)
        text = json.dumps(doc, indent=2) + "\n"
        target = Path(write_baseline)
        if write is not None:
            write(target, text)
        else:
            target.write_text(text, encoding="utf-8")
        accepted = Baseline(str(target), doc["created"], frozenset(f"{f['policy']}|{f['urn']}|{f['message']}"
                                                                   for f in doc["findings"]))
    elif baseline:
        accepted = load_baseline(baseline)
    if path is None and accepted is None:
        return result
    return apply(result, items, baseline=accepted, waivers_file=str(path) if path else None, now=now)
