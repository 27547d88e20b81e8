"""Run a Pulumi program in-process against the recording mock monitor.

Each run gets a fresh `contextvars.Context` (all SDK settings, the root stack, the config live in
context variables) and a fresh event loop, so several programs can be planned in one process
without sharing state. The loop's default executor runs monitor calls inline: the monitor is pure
CPU work, and inline calls keep the registration order deterministic (no thread hops).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import gc
import heapq
import logging
import os
import pathlib
import sys
import threading
from collections.abc import Callable, Collection, Iterator, Mapping
from types import FrameType, TracebackType
from typing import Any

import pulumi
from pulumi import resource as pulumi_resource_module
from pulumi.runtime import config as pulumi_config
from pulumi.runtime import resource as pulumi_resource
from pulumi.runtime import rpc as pulumi_rpc
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime import stack as pulumi_stack
from pulumi.runtime.mocks import set_mocks
from pulumi.runtime.proto import source_pb2
from pulumi.runtime.stack import run_in_stack

from aienv.engine.model import STACK_REFERENCE_TYPE, STACK_TYPE, Plan, ProgramError, RecordedResource, View
from aienv.engine.monitor import EngineMocks, ProgressFn, RecordingMonitor
from aienv.engine.outputs import MockContext
from aienv.errors import AienvError, current_spec_field


class _InlineExecutor(concurrent.futures.ThreadPoolExecutor):
    """Runs submitted calls immediately on the calling thread (the event loop's)."""

    def __init__(self) -> None:
        super().__init__(max_workers=1)

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[Any]:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting coroutine
            future.set_exception(exc)
        return future


class _Diagnostics(logging.Handler):
    """Collects what the SDK logs through the mock engine (instead of printing it)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.messages: list[tuple[str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append((record.levelname.lower(), record.getMessage()))


def _quiet_logger(handler: logging.Handler) -> logging.Logger:
    logger = logging.Logger("aienv.engine.pulumi", logging.INFO)  # not registered: no global state
    logger.propagate = False
    logger.addHandler(handler)
    return logger


def _component_on_stack(frame: FrameType | None, limit: int = 40) -> pulumi.ComponentResource | None:
    while frame is not None and limit:
        owner = frame.f_locals.get("self")
        if isinstance(owner, pulumi.ComponentResource) and getattr(owner, "_type", None) != STACK_TYPE:
            return owner
        frame = frame.f_back
        limit -= 1
    return None


_SDK_DIR = os.path.dirname(pulumi.__file__) + os.sep


@contextlib.contextmanager
def _attributed_applies() -> Iterator[None]:
    """Tag exceptions raised in `apply` callbacks with the component and spec field that created them.

    The callbacks run later, in tasks, where neither the constructor's frame nor the spec-field
    context is on the stack any more; the tags let `ProgramError` name them.
    """
    original = pulumi.Output.apply

    def apply(self: pulumi.Output[Any], func: Callable[[Any], Any], run_with_unknowns: bool = False) -> Any:
        caller = sys._getframe(1)
        if caller.f_code.co_filename.startswith(_SDK_DIR):  # the SDK's own plumbing
            return original(self, func, run_with_unknowns)
        component = _component_on_stack(caller)
        if component is None:
            return original(self, func, run_with_unknowns)
        field = current_spec_field()

        def tagged(value: Any) -> Any:
            try:
                return func(value)
            except Exception as exc:
                if not hasattr(exc, "aienv_component"):
                    exc.aienv_component = component  # type: ignore[attr-defined]
                if field is not None and not hasattr(exc, "aienv_spec_field"):
                    exc.aienv_spec_field = field  # type: ignore[attr-defined]
                raise

        return original(self, tagged, run_with_unknowns)

    with _swapped(pulumi.Output, apply=apply):
        yield


@contextlib.contextmanager
def _frozen_heap() -> Iterator[None]:
    """Keep the cyclic GC from re-traversing the (large) imported provider SDKs during a plan.

    Everything alive before the plan moves to the permanent generation for its duration; a plan
    allocates many short-lived tasks and futures, and full collections over the SDK modules were
    a third of the plan time.

    What the plan itself builds up (records, resources, their outputs) lives until the plan ends,
    so full collections during the plan only re-traverse a growing heap to find next to nothing:
    with the default thresholds they cost 40% of a 6,500-resource plan and grew faster than it.
    For its duration young collections are rarer (gen0 10,000 allocations) and a full one needs
    100 middle-generation collections (about 20 million allocations); short-lived cycles are still
    collected young, the rest when the plan ends.
    """
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(10_000, 20, 100)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


async def _wait_for_rpcs(await_all_outstanding_tasks: bool = True) -> None:
    """The SDK's `pulumi.runtime.stack.wait_for_rpcs`, without its quadratic wait for outputs.

    The SDK waits for its set of outstanding outputs with `asyncio.wait(..., FIRST_COMPLETED)` in a
    loop: every round adds and removes a done-callback on each pending task (and re-adds the
    unfinished ones to the set) to collect as little as one finished task, so the cost is pending
    outputs x rounds. A program whose resources declare many output properties (Azure Native's)
    keeps thousands pending over as many rounds: two thirds of `prod-azure`'s plan time. Waiting
    with FIRST_EXCEPTION instead collects a whole generation per round (each task is visited once)
    and still raises the first failure as soon as it happens.
    """
    rpc_manager = pulumi_settings._get_rpc_manager()
    settings = pulumi_settings.SETTINGS
    while True:
        while rpc_manager.rpcs:
            await asyncio.sleep(0)
            try:
                await rpc_manager.rpcs.pop()
            except Exception as exc:  # as the SDK: chain the original traceback of a failed RPC
                if rpc_manager.unhandled_exception is not None:
                    raise exc from rpc_manager.unhandled_exception.with_traceback(rpc_manager.exception_traceback)
                raise
        if rpc_manager.unhandled_exception is not None:
            raise rpc_manager.unhandled_exception.with_traceback(rpc_manager.exception_traceback)
        if await_all_outstanding_tasks:
            while True:
                with settings.lock:
                    outputs = settings.outputs
                    if not outputs:
                        break
                    pending = list(outputs)
                    outputs.clear()
                done, not_done = await asyncio.wait(pending, return_when=asyncio.FIRST_EXCEPTION)
                for task in done:
                    await task
                if not_done:
                    with settings.lock:
                        settings.outputs.update(not_done)
        if not rpc_manager.rpcs:
            break


@contextlib.contextmanager
def _swapped(owner: Any, **replacements: Any) -> Iterator[None]:
    """Set attributes of `owner` (an SDK module or class) for the duration of a plan, and put the originals back
    after it, however it ends. An SDK release without one of them (these are internals; `pyproject.toml` allows
    any pulumi 3) keeps all of them: its own code runs, only slower."""
    if not all(hasattr(owner, name) for name in replacements):
        yield
        return
    originals = {name: getattr(owner, name) for name in replacements}
    for name, value in replacements.items():
        setattr(owner, name, value)
    try:
        yield
    finally:
        for name, value in originals.items():
            setattr(owner, name, value)


def _linear_wait() -> contextlib.AbstractContextManager[None]:
    """Run the SDK's end-of-program wait as `_wait_for_rpcs` for the duration of a plan."""
    return _swapped(pulumi_stack, wait_for_rpcs=_wait_for_rpcs)


def _stack_trace() -> source_pb2.StackTrace:
    """`pulumi.runtime.resource._get_stack_trace`, frame for frame, at a fraction of its cost.

    The SDK builds the stack trace (and from it the source position) of every resource it registers with
    `traceback.extract_stack()`, which stats each frame's file and reads its source lines into `linecache`, and
    converts each frame's file name to a URI through `pathlib`: together a tenth of a plan's time. This walks the
    same frames (`f_code.co_filename`, `f_lineno`, `co_name`, what `extract_stack` records) without reading any
    source, and converts each file name once; the request the monitor receives is the same.
    """
    stack: list[FrameType] = []
    frame: FrameType | None = sys._getframe(0)  # as extract_stack() called in _get_stack_trace: its frame first
    while frame is not None:
        stack.append(frame)
        frame = frame.f_back
    stack.reverse()
    n = 0  # the SDK's search: the third `__init__` frame from the top is the concrete resource's constructor
    for i in range(len(stack) - 1, -1, -1):
        if stack[i].f_code.co_name == "__init__":
            n += 1
            if n == 3:
                break
    if i < 1:
        return source_pb2.StackTrace()
    frames = []
    for f in reversed(stack[:i]):
        filename, line = f.f_code.co_filename, f.f_lineno
        uri = _URIS.get(filename, "")
        if uri == "":
            uri = _URIS[filename] = _file_uri(filename)
        pos = source_pb2.SourcePosition(uri=uri, line=line) if uri is not None and line is not None else None
        frames.append(source_pb2.StackFrame(pc=pos))
    return source_pb2.StackTrace(frames=frames)


_URIS: dict[str, str | None] = {}


def _file_uri(filename: str) -> str | None:
    """The SDK's `_get_source_position_for_frame` conversion: None where it gives no position."""
    if filename == "":
        return None
    try:
        return pathlib.Path(filename).as_uri()
    except BaseException:  # noqa: BLE001 - as the SDK: a name that is no absolute path has no position
        return None


@contextlib.contextmanager
def _cheap_stack_traces() -> Iterator[None]:
    """Build registrations' stack traces with `_stack_trace` for the duration of a plan (not when
    `sys.tracebacklimit` is set: `extract_stack` would cut the stack)."""
    if hasattr(sys, "tracebacklimit"):
        yield
        return
    with _swapped(pulumi_resource, _get_stack_trace=_stack_trace):
        yield


_SCALARS = frozenset({str, int, float, bool, type(None), bytes})


def _contains_unknowns(val: Any) -> bool:
    """`pulumi.runtime.rpc.contains_unknowns`, answer for answer, without its per-call closure and set for the
    scalars most output values are (a scalar is never `Unknown`; the SDK visits containers once each by id)."""
    if type(val) in _SCALARS:
        return False
    return _unknown_inside(val, set())


def _unknown_inside(val: Any, seen: set[int]) -> bool:
    if isinstance(val, pulumi.output.Unknown):
        return True
    if id(val) in seen:
        return False
    seen.add(id(val))
    if isinstance(val, dict):  # by key, as the SDK: output types are dicts with properties named `values`
        for key in val:
            item = val[key]
            if type(item) not in _SCALARS and _unknown_inside(item, seen):
                return True
    elif isinstance(val, list):
        for item in val:
            if type(item) not in _SCALARS and _unknown_inside(item, seen):
                return True
    return False


@contextlib.contextmanager
def _cheap_output_tracking(outputs: set[Any]) -> Iterator[None]:
    """The SDK's `Output._track`/`_untrack` on the plan's own set of outstanding outputs.

    Every `Output` adds its future to `SETTINGS.outputs` (so the end-of-program wait sees it) and removes it when
    it succeeds, each time reading the context-variable-backed `SETTINGS.outputs` and `SETTINGS.lock` again: about
    a tenth of a plan. A plan runs on one thread in one context, whose set is `outputs`; the set's contents over
    the plan are the same."""
    def track(self: pulumi.Output[Any]) -> None:
        data = self._data
        outputs.add(data)
        data.add_done_callback(forget)

    def forget(fut: asyncio.Future[Any]) -> None:
        if not fut.cancelled() and fut.exception() is None:  # a failed one stays for the wait to raise
            outputs.discard(fut)

    def untrack(self: pulumi.Output[Any]) -> None:
        outputs.discard(self._data)

    with _swapped(pulumi.Output, _track=track, _untrack=untrack):
        yield


class _UnreadAlias:
    """What a resource keeps in `_aliases` during a plan, in place of an alias URN nothing reads."""


_UNREAD_ALIAS = _UnreadAlias()


def _alias_urns_unused(*_args: Any) -> Any:
    raise AssertionError("the SDK computes alias URNs itself only for a monitor without alias specs; the engine's "
                         "monitor has them (aienv/engine/monitor.py derives the alias URNs)")


@contextlib.contextmanager
def _no_unread_alias_urns() -> Iterator[None]:
    """Skip the alias URNs `Resource.__init__` builds that nothing reads.

    The constructor collapses each alias to a URN through Output chains (`collapse_alias_to_urn`: five outputs
    and an `Output.all` each) into `resource._aliases`, which only `all_aliases` reads: the SDK's path for a
    monitor that does not support alias specs. The engine's monitor supports them (the SDK sends the specs and
    the monitor derives the URNs as strings), so those chains are dead work: azure-native types carry a dozen
    API-version aliases each, half of an Azure plan. `all_aliases` raises during the plan, should the SDK
    ever take that path. Both or neither: the placeholder only where the guard is in place."""
    if not hasattr(pulumi_resource, "all_aliases"):
        yield
        return
    with _swapped(pulumi_resource_module, collapse_alias_to_urn=lambda *_args: _UNREAD_ALIAS), \
            _swapped(pulumi_resource, all_aliases=_alias_urns_unused):
        yield


_DEPENDENCIES = "_direct_computed_dependencies"  # pulumi.runtime.resource_cycle_breaker's attribute


def _declare_dependency(from_resource: pulumi.Resource, to_resource: pulumi.Resource) -> bool:
    """`pulumi.runtime.resource_cycle_breaker.declare_dependency`, answer for answer: record that `from_resource`
    depends on `to_resource` unless `to_resource` already reaches it. The SDK searches with recursive generators
    (a frame per resource per search, every dependency of every registration); this walks the same graph with
    a list."""
    seen = {to_resource}
    todo = [to_resource]
    while todo:
        resource = todo.pop()
        if resource == from_resource:
            return False
        for dependency in getattr(resource, _DEPENDENCIES, ()):
            if dependency not in seen:
                seen.add(dependency)
                todo.append(dependency)
    setattr(from_resource, _DEPENDENCIES, getattr(from_resource, _DEPENDENCIES, set()) | {to_resource})
    return True


def _fast_unknown_checks() -> contextlib.AbstractContextManager[None]:
    """`_contains_unknowns` and `_declare_dependency` in the SDK's place (both are looked up on `rpc` at each call)
    for the duration of a plan."""
    return _swapped(pulumi_rpc, contains_unknowns=_contains_unknowns, declare_dependency=_declare_dependency)


def plan_program(
    program: Callable[[], None],
    *,
    project: str = "aienv",
    stack: str = "dev",
    config: Mapping[str, str] | None = None,
    progress: ProgressFn | None = None,
    stack_outputs_by_ref: Mapping[str, Mapping[str, Any]] | None = None,
    secret_keys: Collection[str] | None = None,
    root_directory: str | None = None,
    view: View = "known",
) -> Plan:
    """Run `program` under the recording mock monitor and return the captured graph.

    `view="known"` invents every output it can (what an update of an existing stack sees); `view="preview"`
    plans as the first `pulumi preview` of a new stack does (`pulumi.runtime.is_dry_run()` is true, computed
    outputs are unknown, `apply` callbacks on them do not run).
    `root_directory` is what `pulumi.get_root_directory()` answers (the folder of `Pulumi.yaml`);
    default: the working directory.
    """
    context = MockContext(project=project, stack=stack, config=dict(config or {}),
                          stack_outputs_by_ref=dict(stack_outputs_by_ref or {}),
                          secret_keys=frozenset(secret_keys or ()))
    monitor = RecordingMonitor(EngineMocks(context), progress, preview=view == "preview")
    diagnostics = _Diagnostics()
    ctx = contextvars.Context()
    with _attributed_applies(), _frozen_heap(), _linear_wait(), _cheap_stack_traces(), _fast_unknown_checks(), \
            _no_unread_alias_urns():
        error = ctx.run(_run, program, monitor, context, secret_keys or (), diagnostics,
                        root_directory or os.getcwd(), view == "preview")
    if error is not None:
        raise _to_program_error(error, monitor)
    diagnostics.messages.extend(_unresolved_stack_references(monitor, context))
    return Plan(project=project, stack=stack, resources=stable_order(monitor.records), outputs=monitor.stack_outputs,
                invokes=monitor.invokes, diagnostics=diagnostics.messages, view=view)


def stable_order(records: list[RecordedResource]) -> list[RecordedResource]:
    """The records in a deterministic topological order: the stack first, then by URN among the ready.

    Registration order follows asyncio task completion, which varies from run to run (the SDK
    gathers dependencies from sets); state documents only need every resource after its parent,
    provider and dependencies.
    """
    present = {r.urn for r in records}
    needs: dict[str, set[str]] = {}
    users: dict[str, list[str]] = {}
    for r in records:
        edges = {r.parent, r.provider.rsplit("::", 1)[0] if r.provider else None, *r.dependencies,
                 *(u for urns in r.property_dependencies.values() for u in urns)}
        needs[r.urn] = {u for u in edges if u in present and u != r.urn}
        for u in needs[r.urn]:
            users.setdefault(u, []).append(r.urn)
    by_urn = {r.urn: r for r in records}
    ready = [(r.type != STACK_TYPE, r.urn) for r in records if not needs[r.urn]]
    heapq.heapify(ready)
    ordered: list[RecordedResource] = []
    while ready:
        _, urn = heapq.heappop(ready)
        ordered.append(by_urn[urn])
        for user in users.get(urn, ()):
            needs[user].discard(urn)
            if not needs[user]:
                heapq.heappush(ready, (by_urn[user].type != STACK_TYPE, user))
    if len(ordered) != len(records):  # a cycle (cannot happen in a real graph): keep registration order
        return list(records)
    return ordered


def _unresolved_stack_references(monitor: RecordingMonitor, context: MockContext) -> list[tuple[str, str]]:
    """A warning per `StackReference` whose stack has no outputs given (they read as empty)."""
    warnings = []
    for rec in monitor.records:
        if rec.type == STACK_REFERENCE_TYPE and rec.id not in context.stack_outputs_by_ref:
            warnings.append(("warning", f"stack reference `{rec.id}` (resource `{rec.name}`): no outputs were "
                                        "given for this stack, so its outputs are empty offline"))
    return warnings


def _run(program: Callable[[], None], monitor: RecordingMonitor, context: MockContext,
         secret_keys: Collection[str], diagnostics: _Diagnostics, root_directory: str,
         preview: bool) -> BaseException | None:
    previous_loop = _current_loop()
    loop = asyncio.new_event_loop()
    loop.set_default_executor(_InlineExecutor())
    loop.set_exception_handler(lambda _loop, _context: None)  # no "exception never retrieved" noise
    asyncio.set_event_loop(loop)
    try:
        # A placeholder root keeps set_mocks from creating (and finishing) a Stack of its own:
        # run_in_stack creates the real one, registers the program's exports and finishes it.
        pulumi_settings.ROOT.set(object())  # type: ignore[arg-type]
        set_mocks(EngineMocks(context), project=context.project, stack=context.stack, preview=preview,
                  logger=_quiet_logger(diagnostics), monitor=monitor)
        settings = pulumi_settings.SETTINGS
        settings.outputs = set()
        settings.lock = threading.Lock()
        settings.package_refs = {}
        settings.base_providers_by_ref = {}
        settings.legacy_apply_enabled = False
        settings.root_directory = root_directory
        settings.organization = "organization"
        pulumi_settings.ROOT.set(None)
        pulumi_config.set_all_config(dict(context.config), list(secret_keys))
        try:
            with _cheap_output_tracking(settings.outputs):
                loop.run_until_complete(run_in_stack(program))
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # noqa: BLE001 - converted to ProgramError by the caller
            return exc
        return None
    finally:
        _close_loop(loop)
        asyncio.set_event_loop(previous_loop)


def _current_loop() -> asyncio.AbstractEventLoop | None:
    local = getattr(asyncio.get_event_loop_policy(), "_local", None)
    loop = getattr(local, "_loop", None)
    return loop if isinstance(loop, asyncio.AbstractEventLoop) and not loop.is_closed() else None


def _close_loop(loop: asyncio.AbstractEventLoop) -> None:
    try:
        pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    finally:
        loop.close()


# ---------------------------------------------------------------------------------------------
# errors


def _innermost_component(tb: TracebackType | None) -> tuple[str | None, str | None]:
    """(type, name) of the innermost ComponentResource whose method is on the traceback."""
    found: tuple[str | None, str | None] = (None, None)
    while tb is not None:
        frame = tb.tb_frame
        owner = frame.f_locals.get("self")
        if isinstance(owner, pulumi.ComponentResource) and getattr(owner, "_type", None) != STACK_TYPE:
            type_ = getattr(owner, "_type", None) or f"{type(owner).__module__}.{type(owner).__qualname__}"
            name = getattr(owner, "_name", None)
            if name is None:
                local_name = frame.f_locals.get("name") or frame.f_locals.get("resource_name")
                name = local_name if isinstance(local_name, str) else None
            found = (type_, name)
        tb = tb.tb_next
    return found


def _to_program_error(exc: BaseException, monitor: RecordingMonitor) -> BaseException:
    if isinstance(exc, AienvError):
        return exc
    comp_type, comp_name = _innermost_component(exc.__traceback__)
    tagged = getattr(exc, "aienv_component", None)
    if comp_type is None and tagged is not None:
        comp_type, comp_name = getattr(tagged, "_type", None), getattr(tagged, "_name", None)
    field = getattr(exc, "aienv_spec_field", None)
    if comp_type is None:
        # Raised outside a constructor (an apply callback, a registration): the most recent
        # component that has not registered its outputs yet is the one being built.
        open_components = [r for r in monitor.records if r.is_component and r.registered_outputs is None]
        if open_components:
            comp_type, comp_name = open_components[-1].type, open_components[-1].name
            field = field or open_components[-1].spec_field
    elif field is None:
        match = [r for r in monitor.records if r.type == comp_type and r.name == comp_name]
        field = match[-1].spec_field if match else None
    message = str(exc).strip()
    text = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    where = f'{comp_type} "{comp_name}"' if comp_type else "the program"
    if field:
        where += f" (spec field {field})"
    error = ProgramError(f"error while building {where}: {text}", component_type=comp_type,
                         component_name=comp_name, spec_field=field, cause=exc)
    error.__cause__ = exc
    return error
