"""`aienv check (SPEC... | --program DIR | --plan FILE...)`: run the policy packs on the resource graph, offline.

The flow is two functions: `collect(args)` plans and checks every target into a list of `Checked` (a spec that
does not load becomes a `Checked` with its errors, and the others still run), and `report(checked, args)` writes
every output from that list and returns the exit code. A second view of the same targets plugs in between.

Exit codes: 0 nothing fails the gate, 1 a finding fails it (mandatory, or `--fail-on` severity and up; never
with `--soft-fail`), 2 bad input (a spec, program or plan file that does not load; a bad pack or policy config).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aienv.check.findings import Checked, Gate, InputError
from aienv.cli._output import Style, check_output_folder, write_output
from aienv.cli._specs import SpecRef, expand
from aienv.cli._target import (
    PROGRAM_DEFAULT_PACKS,
    SpecProgram,
    Target,
    add_target_arguments,
    check_spec_options,
    diagnostic_lines,
    load_spec_program,
    parse_vars,
    plan_spec_program,
    plan_target,
    print_lines,
    stack_outputs_of,
)
from aienv.cli.plan import STACK_PLACEHOLDER, Progress, per_target_path
from aienv.engine.model import View
from aienv.errors import AienvError, SpecError

if TYPE_CHECKING:
    from aienv.check.runner import CheckResult
    from aienv.cli._fork import Pending, Worker

DEFAULT_PLAN_PACKS = PROGRAM_DEFAULT_PACKS
VIEWS: tuple[View, View] = ("known", "preview")
SEVERITIES = ("critical", "high", "medium", "low")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "check",
        help="run the policy packs on specs' graphs or plan files (exit 1 when a finding fails the gate)",
        description="Plan the specs offline (or read plan files: `aienv plan --export`, `pulumi stack export`, "
                    "`pulumi preview --json`) and run the CrossGuard packs' policies on them. Several specs or a "
                    "folder are checked in one process; the table, JSON, SARIF and JUnit outputs combine them "
                    "and name the spec of each finding (--report takes a `{stack}` placeholder).",
    )
    source = add_target_arguments(parser)  # SPEC... | --program DIR, --var/--vars, --stack, --config, --stack-outputs
    source.add_argument("--plan", metavar="FILE", action="append",
                        help="a plan/state/preview JSON file instead of a spec (repeatable)")
    parser.add_argument("--pack", action="append", default=[], metavar="P",
                        help="policy pack to run (repeatable; default: the spec's compliance.packs, or "
                             "aienv-security + aienv-ai with --plan and --program)")
    parser.add_argument("--policy-config", metavar="FILE",
                        help="Pulumi --policy-pack-config JSON: {\"policy\": {\"enforcementLevel\": ..., ...}}")
    parser.add_argument("--json", action="store_true", help="print findings, errors and summary as JSON")
    parser.add_argument("--sarif", metavar="FILE", help="write SARIF 2.1.0 results (code scanning)")
    parser.add_argument("--junit", metavar="FILE", help="write JUnit XML (a test case per policy, for CI dashboards)")
    parser.add_argument("--report", metavar="FILE", help="write a compliance report (.md or .html)")
    parser.add_argument("--fail-on", choices=SEVERITIES, metavar="SEVERITY",
                        help="fail on findings of this severity or higher, mandatory or advisory "
                             "(critical, high, medium, low); default: fail on mandatory findings")
    parser.add_argument("--soft-fail", action="store_true",
                        help="report findings but exit 0 (input errors still exit 2)")
    parser.add_argument("--waivers", metavar="FILE", help="waivers (policy exceptions) to apply; default: "
                        "$AIENV_WAIVERS, else aienv-waivers.yaml next to the project's Pulumi.yaml")
    parser.add_argument("--baseline", metavar="FILE", help="accept the findings recorded in FILE; fail on new ones")
    parser.add_argument("--write-baseline", metavar="FILE",
                        help="record today's findings (of every spec checked) in FILE and accept them")
    parser.add_argument("--pack-dir", action="append", default=[], metavar="DIR",
                        help="also run a folder of team rule modules as a pack (repeatable; docs/policies.md)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from aienv.check import load_policy_config
    from policies.user_packs import use_pack_dirs

    _check_options(args)
    user_config = load_policy_config(args.policy_config) if args.policy_config else None
    args.extra_packs = use_pack_dirs(args.pack_dir)  # team rule folders, run after the selected packs
    checked = collect(args, user_config)
    accept(checked, args)
    return report(checked, args)


def _check_options(args: argparse.Namespace) -> None:
    from policies.packs import PACKS

    if args.report and Path(args.report).suffix.lower() not in (".md", ".markdown", ".html", ".htm"):
        raise AienvError(f"--report {args.report}: use a .md or .html file name")
    for name in args.pack:
        if name not in PACKS:
            raise AienvError(f"unknown policy pack `{name}` (known: {', '.join(PACKS)})")
    if args.baseline and args.write_baseline:
        raise AienvError("--baseline FILE accepts recorded findings and --write-baseline FILE records them; give one")
    for option, value in (("--sarif", args.sarif), ("--junit", args.junit), ("--report", args.report),
                          ("--write-baseline", args.write_baseline)):
        if value:  # before any plan: `out/{stack}.md` needs `out/`
            check_output_folder(value, option, STACK_PLACEHOLDER)


# --- collecting ------------------------------------------------------------------------------------------------

def collect(args: argparse.Namespace, user_config: Mapping[str, Mapping[str, Any]] | None) -> list[Checked]:
    """Plan and check every target the arguments name, each on its own."""
    from aienv.cli._fork import Worker, parallel_allowed

    config = _ConfigSplit(user_config, args.policy_config or "--policy-config")
    if args.plan:
        checked = [_check_plan_file(path, args, config) for path in args.plan]
        config.raise_unused()
        return checked
    with Worker(parallel_allowed()) as worker:
        if args.program:
            def program(view: View) -> Target:
                progress = Progress(sys.stderr, "" if view == "known" else "(first preview)")
                try:
                    return plan_target(args, progress, view=view)
                finally:
                    progress.done()

            try:
                started = _start_views(program, args, config, worker)
                assert started is not None  # only a spec can be an abstract base
                checked = [_finish_views(*started)]
            except AienvError as exc:  # a program that does not run: its error, in every output
                return [Checked(args.program, "program", errors=[InputError(line) for line in exc.lines()])]
        else:
            checked = _collect_specs(args, config, worker)
    config.raise_unused()
    return checked


def _collect_specs(args: argparse.Namespace, config: _ConfigSplit, worker: Worker) -> list[Checked]:
    """Every spec in order. With a worker, specs of several clouds are checked in one forked group per cloud
    (`_check_groups`); else here, a spec's first-preview view running in the worker while the next one plans."""
    check_spec_options(args)
    refs = expand(args.spec)
    variables = parse_vars(args.var)
    slots: list[Checked | SpecProgram] = []
    for ref in refs:
        try:
            loaded = load_spec_program(ref.ref, variables, args.vars, allow_abstract=ref.from_folder)
        except AienvError as exc:
            slots.append(_spec_errors(ref, exc))
            continue
        if loaded.abstract:
            slots.append(Checked(ref.ref, "spec", skipped="an abstract base (only extended, never planned)"))
            continue
        slots.append(loaded)
    run = _SpecRun(args, config, stack_outputs_of(args), several=len(refs) > 1)
    todo = [(ref, slot) for ref, slot in zip(refs, slots, strict=True) if isinstance(slot, SpecProgram)]
    if worker.parallel and len({loaded.cloud for _, loaded in todo}) > 1:
        done = _check_groups(todo, run)
    else:
        done = run.check_all(todo, worker)
    checked = iter(done)
    return [next(checked) if isinstance(slot, SpecProgram) else slot for slot in slots]


class _SpecRun:
    """Checks loaded specs in order: each spec's known view here, its first-preview view in the worker."""

    def __init__(self, args: argparse.Namespace, config: _ConfigSplit,
                 stack_outputs: dict[str, dict[str, Any]] | None, *, several: bool):
        self.args = args
        self.config = config
        self.stack_outputs = stack_outputs
        self.several = several
        # The known view's warnings of the spec at each position, when kept instead of printed.
        self.warnings: dict[int, list[str]] | None = None
        # Fork the first-preview child before the known plan (its SDK modules preloaded), so both plans run at
        # once; a group worker forks it after, from a process the known plan warmed (other groups use the CPUs).
        self.fork_first = True

    def check_all(self, specs: list[tuple[SpecRef, SpecProgram]], worker: Worker) -> list[Checked]:
        slots: list[Checked | tuple[SpecRef, Checked, Pending[CheckResult | None]]] = []
        preloaded: set[str] = set()
        fork_first = worker.parallel and self.fork_first
        for index, (ref, loaded) in enumerate(specs):
            if fork_first and loaded.cloud not in preloaded:
                loaded.preload()  # both plans at once: the SDK modules both need are imported before the fork
                preloaded.add(loaded.cloud)
            try:
                started = _start_views(partial(self._plan, index, ref, loaded), self.args, self.config, worker,
                                       fork_first=fork_first)
            except AienvError as exc:
                slots.append(_spec_errors(ref, exc))
                continue
            assert started is not None
            if worker.parallel:
                slots.append((ref, *started))
            else:  # one plan in memory at a time: the first-preview view now
                slots.append(_finish_spec(ref, *started))
        return [slot if isinstance(slot, Checked) else _finish_spec(*slot) for slot in slots]

    def _plan(self, index: int, ref: SpecRef, loaded: SpecProgram, view: View) -> Target:
        label = " ".join(p for p in (ref.ref if self.several else "",
                                     "(first preview)" if view == "preview" else "") if p)
        progress = Progress(sys.stderr, label)
        try:
            planned = plan_spec_program(loaded, progress, self.stack_outputs, view=view)
        finally:
            progress.done()
        if view == "known":
            lines = diagnostic_lines(planned.plan)
            if self.warnings is not None:
                self.warnings[index] = lines
            else:
                print_lines(lines)
        return planned


@dataclass
class _GroupResult:
    """What a group worker sends back: its specs' entries (in its order), their known views' warnings (by
    position) and the policy names the packs it ran selected and used (for `_ConfigSplit.raise_unused`)."""

    checked: list[Checked]
    warnings: dict[int, list[str]]
    used: set[str]
    selected: set[str]


def _check_groups(specs: list[tuple[SpecRef, SpecProgram]], run: _SpecRun) -> list[Checked]:
    """Specs of several clouds: one forked worker per cloud, all at once (at most three, one per cloud), checks
    that cloud's specs as `check_all` does, with a first-preview child of its own, so each cloud's provider SDK
    is imported once, in its group. All at once, even on fewer CPUs than groups: a group's import of its SDK is
    its longest serial step, and a group started only when another ends runs that step at the end, alone on the
    machine (`benchmarks/many_specs.py`: 0.45 against 0.50 of the separate runs' time with one group per CPU
    at a time). The Pulumi SDK and the packs are imported before the first fork; the Kubernetes layer's modules,
    which every group uses, here while the first group runs, so the later groups find them imported.

    A group sends back a `_GroupResult`; the warnings are printed here in the order of the specs. A group that
    crashes is an input error of each of its specs. Returns the `Checked` in the order of `specs`."""
    from aienv.cli._fork import Worker, run_all
    from aienv.engine.preload import preload

    groups: dict[str, list[int]] = {}
    for position, (_, loaded) in enumerate(specs):
        groups.setdefault(loaded.cloud, []).append(position)
    members = sorted(groups.values(), key=len, reverse=True)  # the most specs first: the longest group

    def group_work(positions: list[int]) -> Callable[[], _GroupResult]:
        def work() -> _GroupResult:
            run.warnings = {}
            run.fork_first = False
            with Worker(parallel=True) as worker:
                checked = run.check_all([specs[p] for p in positions], worker)
            return _GroupResult(checked, run.warnings, run.config.used, run.config.selected)
        return work

    def crash(index: int) -> str:
        names = ", ".join(specs[p][0].ref for p in members[index])
        return (f"the worker process checking {names} ended with exit code {{code}}; run again with AIENV_JOBS=1 "
                "to check every spec in this process")

    def shared() -> None:  # imported by the first group itself, and here for the others meanwhile
        preload(["components.environment", "components.kubernetes"])

    outcomes = run_all([group_work(g) for g in members], len(members), crash, shared)
    done: dict[int, tuple[Checked, list[str]]] = {}
    for positions, outcome in zip(members, outcomes, strict=True):
        try:
            result = outcome.result()
        except AienvError as exc:
            done.update((p, (_spec_errors(specs[p][0], exc), [])) for p in positions)
            for p in positions:  # what its packs select still counts for the --policy-config check
                run.config.for_packs(_packs(run.args, specs[p][1].default_packs))
            continue
        run.config.used |= result.used
        run.config.selected |= result.selected
        for i, (p, checked) in enumerate(zip(positions, result.checked, strict=True)):
            done[p] = (checked, result.warnings.get(i, []))
    for p in range(len(specs)):
        print_lines(done[p][1])
    return [done[p][0] for p in range(len(specs))]


def _finish_spec(ref: SpecRef, checked: Checked, preview: Pending[CheckResult | None]) -> Checked:
    try:
        return _finish_views(checked, preview)
    except AienvError as exc:
        return _spec_errors(ref, exc)


def _spec_errors(ref: SpecRef, exc: AienvError) -> Checked:
    if isinstance(exc, SpecError):
        return Checked(ref.ref, "spec", errors=[InputError(i.message, i.file, i.line, i.path or None)
                                                for i in exc.issues])
    # a program error (a component raised): named, with its spec field
    return Checked(ref.ref, "spec", errors=[InputError(line, ref.ref) for line in exc.lines()])


class _ConfigSplit:
    """The user's --policy-config, given to each target for the policies its packs select; a policy no target
    selects is an error (as for one target), reported once all ran."""

    def __init__(self, user_config: Mapping[str, Mapping[str, Any]] | None, source: str):
        self.user_config = dict(user_config or {})
        self.source = source
        self.used: set[str] = {"all"}
        self.selected: set[str] = set()

    def for_packs(self, packs: list[str]) -> dict[str, dict[str, Any]] | None:
        from policies.packs import PACKS

        if not self.user_config:
            return None
        names = {n for p in packs if p in PACKS for n in PACKS[p].rules} | {"all"}
        self.selected |= names
        self.used |= names & set(self.user_config)
        return {k: dict(v) for k, v in self.user_config.items() if k in names}

    def raise_unused(self) -> None:
        import difflib

        from aienv.check import PolicyConfigError

        for name in self.user_config:
            if name not in self.used:
                close = difflib.get_close_matches(name, sorted(self.selected), n=1)
                raise PolicyConfigError(f"{self.source}: no selected pack has a policy named `{name}`"
                                        + (f"; did you mean `{close[0]}`?" if close else ""))


def _start_views(plan: Callable[[View], Target | None], args: argparse.Namespace, config: _ConfigSplit,
                 worker: Worker, *, fork_first: bool = False) -> tuple[Checked, Pending[CheckResult | None]] | None:
    """The known view of one spec or program, planned and checked, and its first-preview view handed to the
    worker: forked before the known plan with `fork_first` (the caller imported the SDK modules both plans
    need), else once the known plan has imported them. None for an abstract base."""
    def preview_result() -> CheckResult | None:
        target = plan("preview")
        return _gate(target, "preview", args, config) if target is not None else None

    preview = worker.submit(preview_result) if fork_first else None
    try:
        known = plan("known")
        if known is None:
            return None
        if preview is None:
            preview = worker.submit(preview_result)
        return _checked(_gate(known, "known", args, config), known), preview
    except BaseException:
        if preview is not None:
            preview.cancel()
        raise


def _gate(target: Target, view: View, args: argparse.Namespace, config: _ConfigSplit) -> CheckResult:
    """The packs' verdict on one view of a target."""
    from aienv.check import from_export, run_packs

    packs = _packs(args, target.default_packs)
    doc = from_export(target.plan.to_export(), None, allow_empty=True)  # a program may create no resource
    doc.view = view
    return run_packs(doc, packs, user_config=config.for_packs(packs), extra_config=target.policy_config,
                     config_source=config.source)


def _finish_views(checked: Checked, preview: Pending[CheckResult | None]) -> Checked:
    """The gate passes only when the known view (an update) and the first-preview view (a new stack) both pass."""
    from aienv.check.runner import merge_views

    result = preview.result()
    assert result is not None and checked.result is not None  # an abstract base is one in both views
    checked.result = merge_views(checked.result, result)
    checked.result.source = checked.source
    return checked


def _checked(result: CheckResult, target: Target) -> Checked:
    """The target's entry, from its known view: where findings are and what the stack holds."""
    summary = target.plan.summary()
    locate: Callable[[str], Any]
    if target.kind == "spec" and target.loaded is not None:
        locate = _SpecLocate(target.plan.resources, target.loaded)
    else:
        from aienv.check.findings import program_locator

        locate = program_locator(target.source, target.plan.resources)
    return Checked(source=_shown_path(target.source), kind=target.kind, stack=target.stack,
                   frameworks=target.frameworks if target.kind == "spec" else None,
                   clouds=set(summary["by_cloud"]), resource_count=summary["resources"], locate=locate,
                   result=result)


class _SpecLocate:
    """`spec_locator` of a planned spec, kept as the little it reads (each resource's URN, type, parent and spec
    field; the spec's path and key locations), so a `Checked` made in a group worker pickles back."""

    def __init__(self, records: Any, loaded: Any):
        self._records = [_Located(r.urn, r.type, r.parent, r.spec_field, r.custom) for r in records]
        self._spec = _SpecPlaces(loaded.path, loaded.locations)
        self._locate: Callable[[str], Any] | None = None

    def __call__(self, urn: str) -> Any:
        if self._locate is None:
            from aienv.check.findings import spec_locator

            self._locate = spec_locator(self._records, self._spec)
        return self._locate(urn)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_locate": None}  # a closure: built again where it is used


@dataclass(frozen=True)
class _Located:
    """What `spec_locator` reads of a `RecordedResource`."""

    urn: str
    type: str
    parent: str | None
    spec_field: str | None
    custom: bool


@dataclass(frozen=True)
class _SpecPlaces:
    """What `spec_locator` reads of a `LoadedSpec`."""

    path: Any
    locations: dict[tuple[str | int, ...], tuple[str, int]]


def _check_plan_file(path: str, args: argparse.Namespace, config: _ConfigSplit) -> Checked:
    from aienv.check import PlanFileError, read_plan_file, run_packs
    from aienv.check.findings import plan_file_locator
    from aienv.engine.model import cloud_of

    try:
        doc = read_plan_file(path)
    except PlanFileError as exc:
        return Checked(path, "plan", errors=[InputError(str(exc))])
    packs = _packs(args, list(DEFAULT_PLAN_PACKS))
    result = run_packs(doc, packs, user_config=config.for_packs(packs), config_source=config.source)
    resources = [r for r in doc.resources if r.get("custom", True) and not _default_provider(r)]
    return Checked(source=path, kind="plan", stack=doc.stack, result=result,
                   clouds={cloud_of(r["type"]) for r in doc.resources}, resource_count=len(resources),
                   locate=plan_file_locator(path))


def _packs(args: argparse.Namespace, default: list[str]) -> list[str]:
    return list(dict.fromkeys([*(args.pack or default), *getattr(args, "extra_packs", [])]))


# --- waivers and baselines -------------------------------------------------------------------------------------

def accept(checked: list[Checked], args: argparse.Namespace) -> None:
    """Apply waivers (each target's project file, or --waivers) and a baseline to every checked target: accepted
    findings move to the result's `suppressed`; `--write-baseline` records the findings of every target in one
    file (their URNs name their stacks) and accepts them."""
    from aienv.check import waivers

    files: dict[int, tuple[Path | None, list[Any]]] = {}
    for c in checked:
        if c.result is None:
            continue
        path = waivers.waivers_path(args.waivers, c.source)
        items = waivers.load_waivers(path) if path else []
        if items:
            waivers.check_known_policies(items, waivers.known_policies())
        files[id(c)] = (path, items)
    accepted: Any = None
    if args.write_baseline:
        found = [v for c in checked if c.result is not None
                 for v in waivers.apply(c.result, files[id(c)][1]).violations]
        doc = waivers.baseline_document(found)
        write_output(args.write_baseline, json.dumps(doc, indent=2) + "\n", "--write-baseline")
        accepted = waivers.Baseline(str(args.write_baseline), doc["created"],
                                    frozenset(f"{f['policy']}|{f['urn']}|{f['message']}" for f in doc["findings"]))
    elif args.baseline:
        accepted = waivers.load_baseline(args.baseline)
    for c in checked:
        if c.result is None:
            continue
        path, items = files[id(c)]
        if path is None and accepted is None:
            continue
        c.result = waivers.apply(c.result, items, baseline=accepted, waivers_file=str(path) if path else None)
        c.result.source = c.source
        c.reset()


def _default_provider(resource: Mapping[str, Any]) -> bool:
    """The providers the engine creates itself (`default`, `default_7_0_0`): `aienv plan` does not count them."""
    name = str(resource.get("urn", "")).rsplit("::", 1)[-1]
    return str(resource.get("type", "")).startswith("pulumi:providers:") and (
        name == "default" or name.startswith("default_"))


def _shown_path(path: Path) -> str:
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except (ValueError, OSError):
        return str(path)


# --- reporting -------------------------------------------------------------------------------------------------

def report(checked: list[Checked], args: argparse.Namespace) -> int:
    """Write every output the arguments ask for from the checked targets; the exit code."""
    from aienv.check.render import render_json, render_junit, render_report, render_sarif, render_table

    gate = Gate(args.fail_on, args.soft_fail)
    if args.sarif:
        write_output(args.sarif, json.dumps(render_sarif(checked, gate=gate), indent=2) + "\n", "--sarif")
    if args.junit:
        write_output(args.junit, render_junit(checked, gate), "--junit")
    if args.report:
        reportable = [c for c in checked if c.result is not None]
        several = len(reportable) > 1
        for target in reportable:
            path = per_target_path(args.report, target.stack or Path(target.source).stem, several, "--report")
            assert path is not None
            write_output(path, render_report(target, path), "--report")
    for c in checked:  # one line each on stderr, as `aienv validate` prints them; --json and SARIF carry them too
        for e in c.errors:
            print(e.format(), file=sys.stderr)
    if args.json:
        print(render_json(checked, gate))
    else:
        print(render_table(checked, gate, Style.for_stream(sys.stdout, getattr(args, "color", None))))
    return gate.exit_code(checked)
