"""What ordinary Pulumi programs do that an offline engine must get right (tests/programs/real_world): strings
computed from outputs in `apply`, invokes whose results are indexed, a multi-language component, archives and
assets, a stack reference; in both views, with a verdict from the gate."""

from __future__ import annotations

import json

import pytest

from aienv.cli import main
from aienv.engine.wire import UNKNOWN, is_secret

from .conftest import by_name, plan_dir

ARCHIVE_SIG = "0def7320c3a5731c473e5ecbe6d01bc7"
ASSET_SIG = "c44067f5952c0a294b673a41bacd8c17"


@pytest.fixture(scope="module", params=["known", "preview"])
def plan(request):  # noqa: ANN001, ANN201
    return plan_dir("real_world", view=request.param)


def test_a_remote_component_is_one_node_whose_outputs_are_unknown(plan) -> None:  # noqa: ANN001
    widget = by_name(plan, "acme:index:Widget", "widget")
    assert widget.remote and widget.outputs == {}
    assert plan.outputs["widgetDocs"] == UNKNOWN  # the callback on its output did not run on None


def test_callbacks_on_outputs_the_engine_cannot_know_do_not_run(plan) -> None:  # noqa: ANN001
    assert by_name(plan, "aws:s3/bucketObject:BucketObject", "link").inputs["content"] == UNKNOWN


def test_invoke_results_have_the_provider_shape(plan) -> None:  # noqa: ANN001
    user = plan.outputs["registryUser"]  # from a secret token: still a secret
    assert is_secret(user) and user["value"] == "AWS"  # base64 "AWS:<password>", as ECR returns it
    if plan.view == "known":
        assert is_secret(plan.outputs["primaryKey"])


def test_archives_and_assets_are_planned_as_pulumi_sends_them(plan) -> None:  # noqa: ANN001
    code = by_name(plan, "aws:lambda/function:Function", "fn").inputs["code"]
    assert code["4dabf18193072939515e22adb298388d"] == ARCHIVE_SIG and "handler.py" in code["assets"]
    assert by_name(plan, "aws:lambda/function:Function", "fn-dir").inputs["code"]["path"] == "lambda_src"
    source = by_name(plan, "aws:s3/bucketObject:BucketObject", "readme").inputs["source"]
    assert source["4dabf18193072939515e22adb298388d"] == ASSET_SIG and source["text"] == "hello"


def test_a_stack_reference_without_outputs_is_reported(plan) -> None:  # noqa: ANN001
    assert any("acme/network/dev" in message for _, message in plan.diagnostics)
    assert by_name(plan, "aws:ec2/securityGroup:SecurityGroup", "app").inputs.get("vpcId") in (None, UNKNOWN)


def test_the_gate_gives_a_verdict_in_both_views(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["check", "--program", "tests/programs/real_world", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 1 and out["summary"]["views"] == "known+preview"
    failing = {(v["policy"], v["name"]) for v in out["violations"] if v["enforcement"] == "mandatory"}
    assert {("aws-s3-bucket-controls-attached", "site"), ("azure-storage-cmk", "data")} <= failing
