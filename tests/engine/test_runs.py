"""Determinism, isolation between runs, errors, export schema, graphs."""

from __future__ import annotations

import json
import re

import pulumi
import pulumi_aws as aws
import pytest

from aienv.engine import ProgramError, plan_program
from aienv.engine.graph import to_dot, to_mermaid
from aienv.errors import ComponentInputError, spec_field
from tests.conftest import export_validator

from .programs import other_program, small_program

TIME = "2024-01-01T00:00:00Z"


def test_export_validates_against_the_stack_export_schema(small_plan):
    validator = export_validator()  # tests/schemas/stack-export-v3.schema.json; CI adds the upstream files
    export = small_plan.to_export()
    errors = list(validator.iter_errors(export))
    assert not errors, errors[0].message
    # a mangled document really fails
    export["deployment"]["resources"][1]["retainOnDelet"] = True
    assert list(validator.iter_errors(export))


def test_export_never_contains_secret_plaintext(small_plan):
    password = [r for r in small_plan.resources if r.name == "data-pw"][0].outputs["result"]["value"]
    text = json.dumps(small_plan.to_export())
    assert password not in text
    assert '"ciphertext"' in text


def test_plans_are_deterministic(small_plan):
    again = plan_program(small_program, stack="test", config={"aws:region": "eu-west-1"})
    assert again.to_export(TIME) == small_plan.to_export(TIME)
    assert json.dumps(again.to_export(TIME)) == json.dumps(small_plan.to_export(TIME))  # same order too


def test_runs_are_isolated(small_plan):
    other_alone = plan_program(other_program, stack="other")
    mixed = plan_program(other_program, stack="other")
    assert mixed.to_export(TIME) == other_alone.to_export(TIME)
    assert mixed.outputs == {"region": "us-east-1"}  # not eu-west-1 from the small plan's config
    assert all(":test::" not in r.urn for r in mixed.resources)
    assert len(mixed.resources) == 3  # stack, default provider, bucket
    assert small_plan.to_export(TIME) == plan_program(
        small_program, stack="test", config={"aws:region": "eu-west-1"}).to_export(TIME)


class Broken(pulumi.ComponentResource):
    def __init__(self, name: str, mode: str):
        super().__init__("aienv:test:Broken", name, None, None)
        if mode == "args":
            aws.s3.Bucket(f"{name}-b", aws.s3.BucketArgs(bogus=True))  # type: ignore[call-arg]
        elif mode == "apply":
            b = aws.s3.Bucket(f"{name}-b", opts=pulumi.ResourceOptions(parent=self))
            aws.s3.Bucket(f"{name}-c", bucket=b.arn.apply(lambda a: a[1000]),
                          opts=pulumi.ResourceOptions(parent=self))
        elif mode == "input":
            raise ComponentInputError("cluster.gpu.count", "must be at least 1")
        self.register_outputs({})


def test_args_type_error_names_component_and_spec_field(capfd):
    def program() -> None:
        with spec_field("storage.buckets[0]"):
            Broken("store", "args")

    with pytest.raises(ProgramError) as info:
        plan_program(program)
    err = info.value
    assert (err.component_type, err.component_name, err.spec_field) == ("aienv:test:Broken", "store",
                                                                        "storage.buckets[0]")
    assert re.search(r'aienv:test:Broken "store" \(spec field storage.buckets\[0\]\): TypeError: .*bogus', str(err))
    out, errout = capfd.readouterr()
    assert out == "" and errout == ""


def test_error_in_apply_surfaces_as_program_error(capfd):
    def program() -> None:
        with spec_field("serving"):
            Broken("svc", "apply")

    with pytest.raises(ProgramError) as info:
        plan_program(program)
    assert "IndexError" in str(info.value)
    assert info.value.component_name == "svc" and info.value.spec_field == "serving"
    out, errout = capfd.readouterr()
    assert out == "" and errout == ""


def test_component_input_errors_pass_through():
    with pytest.raises(ComponentInputError, match="cluster.gpu.count: must be at least 1"):
        plan_program(lambda: Broken("x", "input"))


def test_a_failed_run_leaves_no_state_behind():
    with pytest.raises(ProgramError):
        plan_program(lambda: Broken("x", "args"))
    plan = plan_program(other_program, stack="other")
    assert [r.name for r in plan.resources][-1] == "lonely"


def test_dot_graph_is_structurally_sound(small_plan):
    dot = to_dot(small_plan)
    assert dot.startswith("digraph ") and dot.count("{") == dot.count("}")
    declared = set(re.findall(r"^\s*(c\d+) \[label=", dot, re.M))
    edges = re.findall(r"^\s*(c\d+) -> (c\d+)", dot, re.M)
    assert len(declared) == 3  # the three components, no plain resources
    assert edges and all(a in declared and b in declared for a, b in edges)
    labels = dict(re.findall(r'^\s*(c\d+) \[label="([^"\\]+)', dot, re.M))
    pairs = {(labels[a], labels[b]) for a, b in edges}
    assert ("serve", "gpu") in pairs  # k8s objects use the cluster's provider
    assert ("gpu", "data") in pairs  # cluster encryption uses the storage key


def test_mermaid_graph(small_plan):
    text = to_mermaid(small_plan)
    assert text.startswith("flowchart")
    assert re.search(r"c\d+ -->\|\d+\| c\d+", text)
    assert text.count("subgraph") == text.count("\n  end") + text.count("\n    end")


def test_registrations_carry_the_sdk_stack_trace_frame_for_frame(monkeypatch):
    """`aienv.engine.runner._stack_trace` replaces the SDK's `_get_stack_trace` during a plan (the cost of
    `traceback.extract_stack` without its source reads): the same frames for every registration, and the
    source position the monitor records is the program's line."""
    from pulumi.runtime import resource as sdk_resource

    from aienv.engine import runner

    sdk = sdk_resource._get_stack_trace
    cheap = runner._stack_trace
    compared = []

    def both():
        ours, theirs = cheap(), sdk()
        assert ours == theirs
        compared.append(len(theirs.frames))
        return ours

    monkeypatch.setattr(runner, "_stack_trace", both)
    plan = plan_program(small_program, stack="test", config={"aws:region": "eu-west-1"})
    assert compared and max(compared) > 3
    assert sdk_resource._get_stack_trace is sdk  # put back after the plan
    positions = {r.name: r.source_position for r in plan.resources}
    uri, line = positions["data-key"]
    assert uri.endswith("/tests/engine/programs.py") and line == 17  # `key = aws.kms.Key("data-key", ...)`
