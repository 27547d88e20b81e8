"""Waivers inside the CrossGuard packs (`pulumi preview --policy-pack policies/<pack>`).

The pack reads the same file as `aienv check` (`$AIENV_WAIVERS`, else `aienv-waivers.yaml` next to the Pulumi
project the pack belongs to) and wraps each policy's `validate`: a violation an active waiver matches is not
reported as a violation. Two stack policies, run last, make waivers visible the way Pulumi shows exempted
violations ("still reported and marked as exempted"):

- `aienv-waivers-applied` (advisory): one line per waived finding, with the reason, owner and expiry;
- `aienv-waivers-valid` (mandatory): one line per waiver of this pack that has expired, or that waived nothing.

The Pulumi policy servicer runs every resource policy (Analyze, per resource) before the stack policies
(AnalyzeStack, in pack order), in one process per operation, so the ledger the wrappers fill is complete when the
last two policies run.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)

from aienv.check.waivers import Waiver, expired_message, justification, stacks_of, unmatched_message

APPLIED = "aienv-waivers-applied"
VALID = "aienv-waivers-valid"


@dataclass
class Ledger:
    """What the wrapped policies waived in this process (one Pulumi operation)."""

    pack: str
    waivers: Sequence[Waiver]
    now: datetime
    applied: list[tuple[Waiver, str, str, str]] = field(default_factory=list)  # waiver, policy, urn, message
    lock: threading.Lock = field(default_factory=threading.Lock)

    def waiver_for(self, policy: str, urn: str, name: str) -> Waiver | None:
        return next((w for w in self.waivers if not w.expired(self.now) and w.matches(self.pack, policy, urn, name)),
                    None)

    def record(self, waiver: Waiver, policy: str, urn: str, message: str) -> None:
        with self.lock:
            self.applied.append((waiver, policy, urn, message))


def _name(urn: str) -> str:
    return urn.rsplit("::", 1)[-1] if urn else ""


def _wrap_resource(policy: ResourceValidationPolicy, ledger: Ledger) -> None:
    inner = policy.validate

    def validate(args: ResourceValidationArgs, report: ReportViolation) -> Any:
        def waivable(message: str, urn: str | None = None) -> None:
            target = urn or args.urn
            waiver = ledger.waiver_for(policy.name, target, _name(target) or args.name)
            if waiver is None:
                report(message, urn)
            else:
                ledger.record(waiver, policy.name, target, message)

        return inner(args, waivable)

    policy.validate = validate  # type: ignore[method-assign,assignment]  # instance attribute: the servicer calls it


def _wrap_stack(policy: StackValidationPolicy, ledger: Ledger) -> None:
    inner = policy.validate

    def validate(args: StackValidationArgs, report: ReportViolation) -> Any:
        def waivable(message: str, urn: str | None = None) -> None:
            waiver = ledger.waiver_for(policy.name, urn or "", _name(urn or ""))
            if waiver is None:
                report(message, urn)
            else:
                ledger.record(waiver, policy.name, urn or "", message)

        return inner(args, waivable)

    policy.validate = validate  # type: ignore[method-assign,assignment]  # instance attribute: the servicer calls it


def _applied_policy(ledger: Ledger) -> StackValidationPolicy:
    def validate(args: StackValidationArgs, report: ReportViolation) -> None:
        for waiver, policy, urn, message in list(ledger.applied):
            report(f"Waived {policy}: {message} Accepted: {justification(waiver)}.", urn or None)

    return StackValidationPolicy(APPLIED, "Report findings that waivers accept, with their reason, owner and expiry.",
                                 validate, EnforcementLevel.ADVISORY, severity=Severity.LOW)


def _valid_policy(ledger: Ledger, policy_names: set[str]) -> StackValidationPolicy:
    def validate(args: StackValidationArgs, report: ReportViolation) -> None:
        used = {id(w) for w, *_ in ledger.applied}
        stacks = stacks_of(r.urn for r in args.resources)
        for w in ledger.waivers:
            if not w.applies_to([ledger.pack], policy_names, stacks):
                continue
            if w.expired(ledger.now):
                report(expired_message(w), None)
            elif id(w) not in used:
                report(unmatched_message(w), None)

    return StackValidationPolicy(VALID, "Fail on waivers that have expired or no longer waive a finding.",
                                 validate, EnforcementLevel.MANDATORY, severity=Severity.HIGH)


def waive(pack: str, policies: list[Policy], waivers: Sequence[Waiver],
          now: Callable[[], datetime] | None = None) -> list[Policy]:
    """`policies` with waivers applied, plus the two waiver policies (last)."""
    ledger = Ledger(pack, list(waivers), (now or (lambda: datetime.now(UTC)))())
    for p in policies:
        if isinstance(p, StackValidationPolicy):
            _wrap_stack(p, ledger)
        elif isinstance(p, ResourceValidationPolicy):
            _wrap_resource(p, ledger)
    return [*policies, _applied_policy(ledger), _valid_policy(ledger, {p.name for p in policies})]
