"""The MLOps loop: a drift monitor needs the capture that feeds it, captured text is redacted where the
framework requires it, and a progressive rollout is gated by an analysis.

The components write the labels and annotations these rules read (`aienv.conventions`): drift CronJobs and
capture writers carry `aienv.io/component` and `aienv.io/endpoint`, a capture writer `aienv.io/capture-pii`, and
the endpoint's HTTPRoute mirrors a sample of its requests to the writer's Service (Gateway API `RequestMirror`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pulumi_policy import ResourceValidationArgs, StackValidationArgs
from pulumi_policy.proxy import UnknownValueError

from aienv.conventions import (
    CAPTURE_PII_ANNOTATION,
    COMPONENT_CAPTURE,
    COMPONENT_DRIFT,
    COMPONENT_LABEL,
    ENDPOINT_LABEL,
)
from policies import meta as m
from policies.meta import RuleMeta
from policies.rules._base import Deferred, get, items, resource_rule, stack_rule, subject
from policies.rules.kubernetes import CRONJOB, DEPLOYMENT, SERVICE

HTTPROUTE = "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute"
ROLLOUT = "kubernetes:argoproj.io/v1alpha1:Rollout"


def _labels(r: Any) -> dict[str, Any]:
    return dict(get(r.props, "metadata.labels") or {})


def _mirrored_services(route: Any) -> set[str]:
    """The Services a route mirrors requests to (rule-level RequestMirror filters)."""
    out: set[str] = set()
    for rule in items(route.props, "spec.rules"):
        for f in items(rule, "filters"):
            if get(f, "type") == "RequestMirror":
                ref = get(f, "requestMirror.backendRef") or {}
                if str(get(ref, "kind") or "Service") == "Service":
                    out.add(str(get(ref, "name")))
    return out


@stack_rule(RuleMeta(
    name="ai-drift-needs-capture",
    description="Feed every endpoint's drift monitor with inference capture: a capture writer and a route that "
                "mirrors the endpoint's requests to it.",
    severity="high", area="ai", controls=m.MONITORING,
    remediation="Turn `capture.enabled` on for the endpoint (its writer receives a sample of the requests the "
                "route mirrors and writes them to `drift/<endpoint>/recent/`), or turn its drift monitor off. "
                "Without capture nothing writes the recent samples, and the drift job scores nothing.",
), [CRONJOB, DEPLOYMENT, SERVICE, HTTPROUTE])
def drift_needs_capture(args: StackValidationArgs) -> Iterator[tuple[str, str | None]]:
    drift: dict[str, Any] = {}
    writers: set[str] = set()
    services: dict[str, str] = {}  # capture Service name -> endpoint
    routes: dict[str, list[Any]] = {}
    deferred: list[tuple[str, str]] = []
    for r in args.resources:
        if r.resource_type not in (CRONJOB, DEPLOYMENT, SERVICE, HTTPROUTE):
            continue
        try:
            labels = _labels(r)
            ep, component = labels.get(ENDPOINT_LABEL), labels.get(COMPONENT_LABEL)
            if r.resource_type == CRONJOB and component == COMPONENT_DRIFT and ep:
                drift[str(ep)] = r
            elif r.resource_type == DEPLOYMENT and component == COMPONENT_CAPTURE and ep:
                writers.add(str(ep))
            elif r.resource_type == SERVICE and component == COMPONENT_CAPTURE and ep:
                services[str(get(r.props, "metadata.name"))] = str(ep)
            elif r.resource_type == HTTPROUTE and ep:
                routes.setdefault(str(ep), []).append(r)
        except UnknownValueError as err:
            deferred.append((r.urn, ".".join(err.props) or "metadata"))
    for ep, job in sorted(drift.items()):
        who = subject(job.resource_type, job.name)
        if ep not in writers:
            yield (f"{who} must have inference capture to score: endpoint `{ep}` has no capture writer (a "
                   f"Deployment labelled `{COMPONENT_LABEL}={COMPONENT_CAPTURE}`, `{ENDPOINT_LABEL}={ep}`)."), job.urn
            continue
        try:
            mirrored = {s for route in routes.get(ep, []) for s in _mirrored_services(route)}
        except UnknownValueError as err:
            deferred.append((job.urn, ".".join(err.props) or "spec.rules"))
            continue
        if not any(services.get(s) == ep for s in mirrored):
            yield (f"{who} must have inference capture to score: no route of endpoint `{ep}` mirrors its requests "
                   "to its capture writer's Service (a RequestMirror filter)."), job.urn
    if deferred:
        raise Deferred(deferred)


_PII_CONTROLS = m.merge(m.controls(hipaa="164.502(b)", gdpr=("Art. 5(1)(c)", "Art. 25"), iso27001="A.5.34"))


@resource_rule(RuleMeta(
    name="ai-capture-pii-redaction",
    description="Redact personal data from captured inference requests.",
    severity="high", area="ai", enforcement="advisory", controls=_PII_CONTROLS,
    remediation=f"Set `capture.pii: redact` (the default): the writer stores text only as its length and word "
                f"count and drops values that look like e-mail addresses, phone, card or national id numbers, "
                f"IBANs or IP addresses (annotation `{CAPTURE_PII_ANNOTATION}: redact`). HIPAA's minimum necessary "
                f"standard and GDPR's data minimisation ask that a drift sample keep no more than the model's "
                f"features; the hipaa and gdpr packs enforce this.",
), [DEPLOYMENT])
def capture_pii_redaction(args: ResourceValidationArgs) -> Iterator[str]:
    labels = dict(get(args.props, "metadata.labels") or {})
    if labels.get(COMPONENT_LABEL) != COMPONENT_CAPTURE:
        return
    annotations = dict(get(args.props, "metadata.annotations") or {})
    mode = annotations.get(CAPTURE_PII_ANNOTATION)
    if mode != "redact":
        yield (f"{subject(args.resource_type, args.name)} must redact personal data from what it captures "
               f"(`{CAPTURE_PII_ANNOTATION}` is `{mode}`, not `redact`).")


@resource_rule(RuleMeta(
    name="ai-rollout-analysis",
    description="Gate every progressive rollout's traffic steps with an analysis that can roll it back.",
    severity="medium", area="ai", controls=m.merge(m.INTEGRITY, m.AVAILABILITY),
    remediation="Give the Rollout's canary strategy an `analysis` (background, from the first step) or an "
                "`analysis` step with an AnalysisTemplate of its service levels (error rate, latency, time to first "
                "token): a failed analysis aborts the rollout and returns the traffic to the stable revision; "
                "without one, the steps only wait.",
), [ROLLOUT])
def rollout_analysis(args: ResourceValidationArgs) -> Iterator[str]:
    canary = get(args.props, "spec.strategy.canary")
    if canary is None:
        return
    steps = items(canary, "steps")
    if not any(get(s, "setWeight") is not None for s in steps):
        return  # no traffic steps: nothing to gate
    background = items(canary, "analysis.templates")
    inline = [s for s in steps if get(s, "analysis") is not None]
    if not background and not inline:
        yield (f"{subject(args.resource_type, args.name)} must gate its traffic steps with an analysis (none in "
               "`spec.strategy.canary.analysis` or its steps).")


RULES = (drift_needs_capture, capture_pii_redaction, rollout_analysis)
