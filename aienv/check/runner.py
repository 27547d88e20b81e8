"""Run policy packs on a plan document, constructing the `pulumi_policy` argument objects the way its
analyzer server does (`_PolicyAnalyzerServicer.Analyze` / `AnalyzeStack`):

- resource policies get `ResourceValidationArgs(type, props, urn, name, opts, provider, config, stack_tags)`
  with `props` = the resource's *inputs*, marshalled through a protobuf `Struct` and back (numbers become
  floats, as on the wire), `deserialize_properties` (secrets unwrapped) and `unknown_checking_proxy`;
- stack policies get `StackValidationArgs(resources, config, stack_tags)` with one `PolicyResource` per
  resource whose `props` are its *outputs*, linked to parent, dependencies and property dependencies;
- `PolicyResourceOptions(protect, ignoreChanges, deleteBeforeReplace, aliases, customTimeouts,
  additionalSecretOutputs, parent)`, provider as `PolicyProviderResource(type, inputs, urn, name)`.

Divergences, on purpose: the analyzer re-marshals props for every policy, the runner once per resource
(policies must not mutate props); `opts.retain_on_delete` is added (the analyzer protocol does not carry
it), and so are the resource's property dependencies (`args.aienv_property_dependencies`: top-level
property -> [(urn, type)]), which let `policies.rules._base.ref` resolve a reference to a resource of the
stack that is unknown at preview. An `UnknownValueError` that escapes a policy is a *deferral*, as in the
analyzer (which reports "can't run policy during preview" and runs resource policies again at the update,
on resolved inputs): it is recorded per resource with the unknown property and the resources it waits for,
never as a pass and never as a violation; any other exception becomes a mandatory violation naming the
policy (fail closed). `PolicyPack` is never constructed here (it starts a gRPC server and blocks).

`merge_views` joins the results of the two views of one program (the known view, as an update sees it, and
the first-preview view of a new stack) into one verdict: it passes only when both pass.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from inspect import isawaitable
from typing import Any

from google.protobuf import json_format, struct_pb2
from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyCustomTimeouts,
    PolicyProviderResource,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.deserialize import deserialize_properties
from pulumi_policy.policy import _NotApplicableError
from pulumi_policy.proxy import UnknownValueError, unknown_checking_proxy

from aienv.check.config import PolicyConfigError, check_properties
from aienv.check.plan import PlanDocument
from policies.rules._base import Deferred

SEVERITIES = ("critical", "high", "medium", "low")


@dataclass(frozen=True)
class Violation:
    pack: str
    policy: str
    enforcement: str
    severity: str
    urn: str
    type: str
    name: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"pack": self.pack, "policy": self.policy, "enforcement": self.enforcement,
                "severity": self.severity, "urn": self.urn, "type": self.type, "name": self.name,
                "message": self.message}


@dataclass(frozen=True)
class Deferral:
    """A check that could not see a value it needs: decided at the update (real engine) or in the known view."""

    pack: str
    policy: str
    enforcement: str
    urn: str
    type: str
    name: str
    path: str  # the unknown property
    waits_for: tuple[str, ...] = ()  # names of the stack resources the property is computed from
    # In a merged verdict: the known view decided this check (it is deferred only at the real first preview).
    decided_offline: bool = False

    @property
    def reason(self) -> str:
        target = f"`{self.name}`" if self.name else "the stack"
        waits = (f", computed from {', '.join(f'`{w}`' for w in self.waits_for)}" if self.waits_for
                 else "")
        return f"`{self.policy}` on {target}: `{self.path}` is unknown until it is created{waits}"

    def as_dict(self) -> dict[str, Any]:
        return {"pack": self.pack, "policy": self.policy, "enforcement": self.enforcement, "urn": self.urn,
                "type": self.type, "name": self.name, "property": self.path, "waits_for": list(self.waits_for),
                "decided_offline": self.decided_offline, "reason": self.reason}


@dataclass
class PolicyOutcome:
    pack: str
    policy: str
    description: str
    kind: str  # resource | stack
    enforcement: str
    severity: str
    controls: dict[str, tuple[str, ...]]
    remediation: str
    config: dict[str, Any]
    evaluated: list[str] = field(default_factory=list)  # URNs the policy looked at (evidence)
    failed: set[str] = field(default_factory=set)
    stack_failed: bool = False
    not_applicable: str | None = None
    deferred: set[str] = field(default_factory=set)  # URNs ("" for the stack) it could not decide

    @property
    def passed(self) -> bool:
        return not self.failed and not self.stack_failed


@dataclass
class CheckResult:
    violations: list[Violation]
    outcomes: list[PolicyOutcome]
    packs: list[str]
    resource_count: int
    source: str | None
    elapsed: float
    names: dict[str, tuple[str, str]] = field(default_factory=dict)  # urn -> (type, name)
    deferred: list[Deferral] = field(default_factory=list)
    # "known", "preview", or "known+preview" for a merged verdict (`merge_views`); None for a plan file.
    view: str | None = None

    @property
    def mandatory(self) -> list[Violation]:
        return [v for v in self.violations if v.enforcement == "mandatory"]

    def summary(self) -> dict[str, Any]:
        by_sev = {s: sum(1 for v in self.violations if v.severity == s) for s in SEVERITIES}
        by_enf = {e: sum(1 for v in self.violations if v.enforcement == e) for e in ("mandatory", "advisory")}
        return {
            "packs": self.packs,
            "resources": self.resource_count,
            "policies": len(self.outcomes),
            "policies_failed": sum(1 for o in self.outcomes if not o.passed),
            "violations": len(self.violations),
            "mandatory": by_enf["mandatory"],
            "advisory": by_enf["advisory"],
            "by_severity": by_sev,
            "passed": by_enf["mandatory"] == 0,
            "deferred": len(self.deferred),
            "views": self.view,
            "elapsed_seconds": round(self.elapsed, 3),
        }


# --- Building the analyzer's argument objects ---------------------------------------------------------------
def wire_slow(props: Mapping[str, Any]) -> dict[str, Any]:
    """Props as the analyzer reads them from the gRPC request: Struct -> MessageToDict -> deserialize."""
    struct = struct_pb2.Struct()
    struct.update(props)
    return deserialize_properties(json_format.MessageToDict(struct))


def _as_struct_value(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _as_struct_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_as_struct_value(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)  # a protobuf Struct holds every number as a double
    return value


def wire(props: Mapping[str, Any]) -> dict[str, Any]:
    """Same result as `wire_slow` (tested), without the protobuf round trip that dominates check time."""
    return deserialize_properties(_as_struct_value(dict(props)))


def _opts(res: Mapping[str, Any]) -> PolicyResourceOptions:
    timeouts = res.get("customTimeouts") or {}

    def secs(key: str) -> float:
        value = timeouts.get(key, 0) if isinstance(timeouts, dict) else 0
        return float(value) if isinstance(value, int | float) else 0.0

    dbr = res.get("deleteBeforeReplace")
    opts = PolicyResourceOptions(
        bool(res.get("protect", False)),
        list(res.get("ignoreChanges") or []),
        dbr if isinstance(dbr, bool) else None,
        list(res.get("aliases") or []),
        PolicyCustomTimeouts(secs("create"), secs("update"), secs("delete")),
        list(res.get("additionalSecretOutputs") or []),
        res.get("parent") or None,
    )
    opts.retain_on_delete = bool(res.get("retainOnDelete", False))  # type: ignore[attr-defined]
    return opts


def _name(urn: str) -> str:
    return urn.rsplit("::", 1)[-1]


@dataclass
class _Prepared:
    res: Mapping[str, Any]
    urn: str
    type: str
    name: str
    opts: PolicyResourceOptions
    provider: PolicyProviderResource | None
    inputs: Any = None  # proxied, built lazily
    # top-level property -> [(urn, type)] of the stack resources it is computed from
    property_dependencies: dict[str, list[tuple[str, str]]] = field(default_factory=dict)

    def input_props(self) -> Any:
        if self.inputs is None:
            self.inputs = unknown_checking_proxy(wire(self.res.get("inputs") or {}))
        return self.inputs


def _prepare(doc: PlanDocument) -> list[_Prepared]:
    by_urn = {r["urn"]: r for r in doc.resources}
    providers: dict[str, PolicyProviderResource] = {}

    def provider_of(ref: str | None) -> PolicyProviderResource | None:
        if not ref:
            return None
        urn = ref.rsplit("::", 1)[0] if ref.count("::") > 3 else ref
        if urn not in providers:
            prov = by_urn.get(urn)
            if prov is None:
                return None
            providers[urn] = PolicyProviderResource(
                prov["type"], unknown_checking_proxy(wire(prov.get("inputs") or {})), urn, _name(urn))
        return providers[urn]

    def deps_of(res: Mapping[str, Any]) -> dict[str, list[tuple[str, str]]]:
        return {k: [(u, by_urn[u]["type"]) for u in urns if u in by_urn]
                for k, urns in (res.get("propertyDependencies") or {}).items()}

    return [_Prepared(r, r["urn"], r["type"], _name(r["urn"]), _opts(r), provider_of(r.get("provider")),
                      property_dependencies=deps_of(r))
            for r in doc.resources]


def _stack_resources(prepared: list[_Prepared]) -> list[PolicyResource]:
    out: list[PolicyResource] = []
    by_urn: dict[str, PolicyResource] = {}
    for p in prepared:
        pr = PolicyResource(p.type, unknown_checking_proxy(wire(p.res.get("outputs") or {})), p.urn, p.name,
                            p.opts, p.provider, None, [], {})
        out.append(pr)
        by_urn[p.urn] = pr
    for p, pr in zip(prepared, out, strict=True):
        parent = p.res.get("parent")
        if parent and parent in by_urn:
            pr.parent = by_urn[parent]
        pr.dependencies.extend(by_urn[d] for d in p.res.get("dependencies") or [] if d in by_urn)
        for key, urns in (p.res.get("propertyDependencies") or {}).items():
            pr.property_dependencies[key] = [by_urn[d] for d in urns if d in by_urn]
    return out


def _run(result: Any) -> None:
    if isawaitable(result):
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(result)
        finally:
            loop.close()


# --- Configuration ------------------------------------------------------------------------------------------
def effective_settings(policy: Policy, pack_config: Mapping[str, Mapping[str, Any]],
                       extra_config: Mapping[str, Mapping[str, Any]], user_config: Mapping[str, Mapping[str, Any]],
                       where: str) -> tuple[str, dict[str, Any]]:
    """(enforcement level, config props) with Pulumi's precedence: user > pack; specific > `all`."""
    level: str | None = None
    for source in (user_config, pack_config):
        specific = source.get(policy.name, {}).get("enforcementLevel")
        everyone = source.get("all", {}).get("enforcementLevel")
        level = level or specific or everyone
    if level is None:
        level = (policy.enforcement_level or EnforcementLevel.ADVISORY).value
    schema = policy.config_schema.properties if policy.config_schema else None
    props: dict[str, Any] = {k: v["default"] for k, v in (schema or {}).items() if "default" in v}
    for source, label in ((pack_config, "pack"), (extra_config, "spec"), (user_config, where)):
        entry = {k: v for k, v in source.get(policy.name, {}).items() if k != "enforcementLevel"}
        if entry and source is not pack_config:
            entry = {k: v for k, v in entry.items() if not (source is extra_config and schema and k not in schema)}
            check_properties(policy.name, entry, schema, label)
        props.update(entry)
    return level, props


# --- Running -------------------------------------------------------------------------------------------------
def run_policies(doc: PlanDocument, pack_name: str, policies: Iterable[Policy], *,
                 pack_config: Mapping[str, Mapping[str, Any]] | None = None,
                 extra_config: Mapping[str, Mapping[str, Any]] | None = None,
                 user_config: Mapping[str, Mapping[str, Any]] | None = None,
                 config_source: str = "--policy-config",
                 stack_tags: Mapping[str, str] | None = None,
                 prepared: list[_Prepared] | None = None,
                 stack_resources: list[PolicyResource] | None = None,
                 deferrals: list[Deferral] | None = None) -> tuple[list[Violation], list[PolicyOutcome]]:
    prepared = prepared if prepared is not None else _prepare(doc)
    deferrals = deferrals if deferrals is not None else []
    by_urn_prepared = {p.urn: p for p in prepared}
    tags = dict(stack_tags or {})
    by_type: dict[str, list[_Prepared]] = {}
    for p in prepared:
        by_type.setdefault(p.type, []).append(p)
    names = {p.urn: (p.type, p.name) for p in prepared}
    violations: list[Violation] = []
    outcomes: list[PolicyOutcome] = []

    for policy in policies:
        level, config = effective_settings(policy, pack_config or {}, extra_config or {}, user_config or {},
                                           config_source)
        rule = getattr(policy, "rule", None)
        severity = policy.severity.value if policy.severity else "medium"
        outcome = PolicyOutcome(
            pack_name, policy.name, policy.description,
            "stack" if isinstance(policy, StackValidationPolicy) else "resource", level, severity,
            dict(rule.meta.controls) if rule else {}, policy.remediation_steps or "", config)
        outcomes.append(outcome)
        if level == "disabled":
            outcome.not_applicable = "disabled"
            continue
        reported = "mandatory" if level == "remediate" else level

        def report(message: str, urn: str | None, default_urn: str = "", level: str | None = None,
                   _o: PolicyOutcome = outcome, _lvl: str = reported, _sev: str = severity) -> None:
            target = urn or default_urn
            rtype, rname = names.get(target, ("pulumi:pulumi:Stack", "")) if target else ("pulumi:pulumi:Stack", "")
            violations.append(Violation(pack_name, _o.policy, level or _lvl, _sev, target, rtype, rname, message))
            if target:
                _o.failed.add(target)
            else:
                _o.stack_failed = True

        def defer(urn: str, path: str, _o: PolicyOutcome = outcome, _lvl: str = reported) -> None:
            rtype, rname = names.get(urn, ("pulumi:pulumi:Stack", "")) if urn else ("pulumi:pulumi:Stack", "")
            prep = by_urn_prepared.get(urn)
            waits = tuple(sorted({_name(u) for u, _ in prep.property_dependencies.get(path.split(".", 1)[0], ())}))\
                if prep is not None else ()
            deferrals.append(Deferral(pack_name, _o.policy, _lvl, urn, rtype, rname, path, waits))
            _o.deferred.add(urn)

        if isinstance(policy, ResourceValidationPolicy):
            targets = ([p for t in sorted(rule.types) for p in by_type.get(t, [])] if rule is not None else prepared)
            outcome.evaluated = [p.urn for p in targets]
            for p in targets:
                args = ResourceValidationArgs(p.type, p.input_props(), p.urn, p.name, p.opts, p.provider,
                                              dict(config) if config else None, tags)
                args.aienv_property_dependencies = p.property_dependencies  # type: ignore[attr-defined]
                _invoke(policy, args, lambda msg, urn=None, _u=p.urn: report(msg, None, _u), report, defer, p.urn)
        elif isinstance(policy, StackValidationPolicy):
            if stack_resources is None:
                stack_resources = _stack_resources(prepared)
            outcome.evaluated = [r.urn for r in stack_resources
                                 if rule is None or not rule.types or r.resource_type in rule.types]
            args_s = StackValidationArgs(stack_resources, dict(config) if config else None, tags)
            _invoke(policy, args_s, lambda msg, urn=None: report(msg, urn), report, defer, "")
    return violations, outcomes


def _invoke(policy: Policy, args: Any, report_violation: Any, report: Any, defer: Any, urn: str) -> None:
    try:
        _run(policy.validate(args, report_violation))  # type: ignore[attr-defined]
    except Deferred as err:  # a stack check that could not decide some resources
        for target, path in err.deferred:
            defer(target, path)
    except UnknownValueError as err:
        # The analyzer's "can't run policy during preview": decided at the update (or in the known view).
        defer(urn, ".".join(err.props) if err.props else "?")
    except _NotApplicableError:
        return
    except Exception as exc:  # noqa: BLE001 - a crashing policy must not pass silently
        report(f"The policy `{policy.name}` failed to run ({type(exc).__name__}: {exc}); fix the policy or the input.",
               urn or None)


def run_packs(doc: PlanDocument, packs: Iterable[str], *,
              user_config: Mapping[str, Mapping[str, Any]] | None = None,
              extra_config: Mapping[str, Mapping[str, Any]] | None = None,
              config_source: str = "--policy-config",
              stack_tags: Mapping[str, str] | None = None) -> CheckResult:
    """Run the named packs (see `policies.packs.PACKS`) on `doc`."""
    with _young_gc_only():
        return _run_packs(doc, packs, user_config, extra_config, config_source, stack_tags)


@contextlib.contextmanager
def _young_gc_only() -> Iterator[None]:
    """Keep full collections off the (large, long-lived) plan document while the policies run.

    The heap before the run (the plan, its document) moves to the permanent generation, and a full
    collection needs 100 middle-generation ones: the run allocates many short-lived proxies, and
    with the default thresholds the full collections re-traversed the whole document (a third of
    the check time on a 6,500-resource plan, growing faster than the plan).
    """
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(10_000, 20, 100)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


def _run_packs(doc: PlanDocument, packs: Iterable[str], user_config: Mapping[str, Mapping[str, Any]] | None,
               extra_config: Mapping[str, Mapping[str, Any]] | None, config_source: str,
               stack_tags: Mapping[str, str] | None) -> CheckResult:
    from policies.packs import PACKS, pack_config, pack_policies

    start = time.perf_counter()
    pack_names = list(dict.fromkeys(packs))
    for name in pack_names:
        if name not in PACKS:
            raise PolicyConfigError(f"unknown policy pack `{name}` (known: {', '.join(PACKS)})")
    packs_policies = {name: pack_policies(name) for name in pack_names}
    known = {p.name for ps in packs_policies.values() for p in ps} | {"all"}
    for name in user_config or {}:
        if name not in known:
            raise PolicyConfigError(f"{config_source}: no selected pack has a policy named `{name}`")
    prepared = _prepare(doc)
    stack_resources = _stack_resources(prepared)
    violations: list[Violation] = []
    outcomes: list[PolicyOutcome] = []
    deferrals: list[Deferral] = []
    for name in pack_names:
        v, o = run_policies(doc, name, packs_policies[name], pack_config=pack_config(name),
                            extra_config=extra_config, user_config=user_config, config_source=config_source,
                            stack_tags=stack_tags, prepared=prepared, stack_resources=stack_resources,
                            deferrals=deferrals)
        violations.extend(v)
        outcomes.extend(o)
    names = {p.urn: (p.type, p.name) for p in prepared}
    return CheckResult(violations, outcomes, pack_names, sum(1 for r in doc.resources if _counted(r)),
                       doc.path, time.perf_counter() - start, names, deferrals, doc.view)


def _counted(res: Mapping[str, Any]) -> bool:
    """A resource `aienv plan` counts too: custom, and not a default provider the engine made itself."""
    if not res.get("custom", True):
        return False
    return not (str(res.get("type", "")).startswith("pulumi:providers:")
                and _name(str(res.get("urn", ""))).startswith("default"))


def merge_views(known: CheckResult, preview: CheckResult) -> CheckResult:
    """One verdict over the two views of a program: every violation of the known view, and those of the
    first-preview view on a (policy, resource) the known view did not flag; the outcomes failed in either, and the deferrals: each check the first
    preview defers to the update, marked `decided_offline` when the known view decided it, then the checks
    the known view could not decide either."""
    in_known = {(v.pack, v.policy, v.urn) for v in known.violations}
    violations = [*known.violations, *(v for v in preview.violations if (v.pack, v.policy, v.urn) not in in_known)]
    by_policy = {(o.pack, o.policy): o for o in preview.outcomes}
    outcomes = []
    for o in known.outcomes:
        other = by_policy.get((o.pack, o.policy))
        if other is not None:
            o.failed |= other.failed
            o.stack_failed = o.stack_failed or other.stack_failed
            o.deferred |= other.deferred
        outcomes.append(o)
    undecided = {(d.pack, d.policy, d.urn) for d in known.deferred}
    deferred = [dataclasses.replace(d, decided_offline=(d.pack, d.policy, d.urn) not in undecided)
                for d in preview.deferred]
    listed = {(d.pack, d.policy, d.urn) for d in deferred}
    deferred += [d for d in known.deferred if (d.pack, d.policy, d.urn) not in listed]
    return CheckResult(violations, outcomes, known.packs, known.resource_count, known.source,
                       known.elapsed + preview.elapsed, {**preview.names, **known.names}, deferred,
                       "known+preview")
