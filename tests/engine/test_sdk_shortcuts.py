"""The engine's cheaper equivalents of SDK internals (aienv/engine/runner.py) give the SDK's answers, and a plan
leaves the SDK as it found it."""

from __future__ import annotations

import random

import pulumi
import pulumi_aws as aws
import pytest
from pulumi.runtime import resource as sdk_resource
from pulumi.runtime import resource_cycle_breaker, rpc
from pulumi.runtime.proto import resource_pb2

from aienv.engine import ProgramError, monitor, plan_program, runner

from .programs import small_program

SDK_CONTAINS_UNKNOWNS = rpc.contains_unknowns


class _OutputTypeLike(dict):  # output types are dicts whose properties may be named like dict methods
    @property
    def values(self):  # type: ignore[override]
        return self["values"]


def _values() -> list[object]:
    unknown = pulumi.output.UNKNOWN
    shared = {"a": [1, "x"]}
    cycle: dict[str, object] = {"k": "v"}
    cycle["self"] = cycle
    return [
        None, 0, 1.5, True, "", "text", b"raw", unknown, [unknown], {"a": unknown}, {"a": {"b": [1, {"c": unknown}]}},
        {"a": shared, "b": shared}, [shared, shared, unknown], cycle, (unknown,), {unknown}, [[], {}, [[]]],
        _OutputTypeLike({"values": unknown}), _OutputTypeLike({"values": [1, 2]}), {"x": 1, "y": "two", "z": None},
    ]


@pytest.mark.parametrize("value", _values(), ids=lambda v: type(v).__name__)
def test_unknown_check_answers_as_the_sdk(value):
    assert runner._contains_unknowns(value) is SDK_CONTAINS_UNKNOWNS(value)


def test_unknown_checks_in_a_plan_answer_as_the_sdk(monkeypatch):
    answers: list[bool] = []
    cheap = runner._contains_unknowns

    def both(value):
        ours = cheap(value)
        assert ours is SDK_CONTAINS_UNKNOWNS(value), value
        answers.append(ours)
        return ours

    monkeypatch.setattr(runner, "_contains_unknowns", both)
    for view in ("known", "preview"):
        plan_program(small_program, stack="test", config={"aws:region": "eu-west-1"}, view=view)
    assert False in answers and True in answers  # the first preview has unknowns: both answers were compared
    assert rpc.contains_unknowns is SDK_CONTAINS_UNKNOWNS  # put back after the plan


class _Node:
    pass


def test_dependency_declarations_answer_as_the_sdk():
    """The same sequence of declarations (a third of them would close a cycle) through both implementations:
    the same answers and the same recorded dependencies."""
    rng = random.Random(7)
    ours, theirs = [_Node() for _ in range(40)], [_Node() for _ in range(40)]
    answers = []
    for _ in range(400):
        a, b = rng.randrange(40), rng.randrange(40)
        mine = runner._declare_dependency(ours[a], ours[b])
        assert mine is resource_cycle_breaker.declare_dependency(theirs[a], theirs[b])
        answers.append(mine)
    assert True in answers and False in answers
    index = {id(n): i for i, n in enumerate(ours)} | {id(n): i for i, n in enumerate(theirs)}
    for mine, sdk in zip(ours, theirs, strict=True):
        assert ({index[id(d)] for d in getattr(mine, "_direct_computed_dependencies", ())}
                == {index[id(d)] for d in getattr(sdk, "_direct_computed_dependencies", ())})


def _late_program() -> None:
    """Resources registered from apply callbacks two and three outputs deep, after the program returned."""
    key = aws.kms.Key("key")
    key.arn.apply(lambda arn: pulumi.Output.from_input(arn).apply(lambda a: aws.s3.Bucket("late", tags={"k": a})))
    key.id.apply(lambda i: aws.sns.Topic("later", kms_master_key_id=i))


def test_outputs_created_late_are_still_waited_for():
    plan = plan_program(_late_program, stack="test", config={"aws:region": "eu-west-1"})
    assert {"key", "late", "later"} <= {r.name for r in plan.resources}


def test_a_plan_puts_every_sdk_function_back():
    before = (pulumi.Output.apply, pulumi.Output._track, pulumi.Output._untrack, rpc.contains_unknowns,
              rpc.declare_dependency, pulumi.resource.collapse_alias_to_urn, sdk_resource.all_aliases,
              sdk_resource._get_stack_trace)
    plan_program(small_program, stack="test", config={"aws:region": "eu-west-1"})
    with pytest.raises(ProgramError):
        plan_program(_failing_program, stack="test", config={"aws:region": "eu-west-1"})
    after = (pulumi.Output.apply, pulumi.Output._track, pulumi.Output._untrack, rpc.contains_unknowns,
             rpc.declare_dependency, pulumi.resource.collapse_alias_to_urn, sdk_resource.all_aliases,
             sdk_resource._get_stack_trace)
    assert after == before


def _failing_program() -> None:
    aws.kms.Key("key").arn.apply(lambda _arn: 1 / 0)


def _aliased_program() -> None:
    aws.kms.Key("key", opts=pulumi.ResourceOptions(aliases=[pulumi.Alias(name="old")]))


def test_alias_urns_are_left_to_the_monitor_and_the_sdk_path_would_fail_loudly(monkeypatch):
    plan = plan_program(_aliased_program, stack="dev", project="proj")
    assert {r.name: r.aliases for r in plan.resources}["key"] == ["urn:pulumi:dev::proj::aws:kms/key:Key::old"]

    # A monitor without alias specs would make the SDK read the URNs the plan skipped: an error, not wrong URNs.
    monkeypatch.setattr(monitor, "_UNSUPPORTED_FEATURES", {resource_pb2.RESOURCE_MONITOR_FEATURE_ALIAS_SPECS})
    with pytest.raises(ProgramError, match="alias specs"):
        plan_program(_aliased_program, stack="dev", project="proj")


def test_a_swap_the_sdk_has_no_attribute_for_leaves_everything_as_it_is():
    """An older or newer SDK without one of the internals: none of that group is swapped (its own code runs)."""
    class Sdk:
        present = "original"

    with runner._swapped(Sdk, present="ours", absent="ours"):
        assert Sdk.present == "original" and not hasattr(Sdk, "absent")
    with runner._swapped(Sdk, present="ours"):
        assert Sdk.present == "ours"
    assert Sdk.present == "original"
