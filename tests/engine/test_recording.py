"""What the recording monitor captures for each registration."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from aienv.engine import plan_program
from aienv.engine.wire import SECRET_SIG, SIG_KEY, UNKNOWN

from .programs import find


def test_root_stack_first_and_stack_outputs(small_plan):
    root = small_plan.resources[0]
    assert (root.type, root.name) == ("pulumi:pulumi:Stack", "aienv-test")
    assert set(small_plan.outputs) == {"bucket", "password", "kubeconfig", "account"}
    assert root.outputs == small_plan.outputs
    assert small_plan.outputs["account"] == "123456789012"


def test_parent_and_engine_urns(small_plan):
    storage = find(small_plan, "data")
    key = find(small_plan, "data-key")
    assert storage.parent == small_plan.root.urn
    assert key.parent == storage.urn
    # the root stack's type is not part of the children's qualified types, like the real engine
    assert key.urn == "urn:pulumi:test::aienv::aienv:test:Storage$aws:kms/key:Key::data-key"


def test_options_are_recorded(small_plan):
    key = find(small_plan, "data-key")
    bucket = find(small_plan, "data-bucket")
    param = find(small_plan, "data-param")
    assert key.protect and not bucket.protect
    assert bucket.retain_on_delete and not key.retain_on_delete
    assert bucket.ignore_changes == ["tags"]
    assert "urn:pulumi:test::aienv::aienv:test:Storage$aws:s3/bucket:Bucket::data-old-bucket" in bucket.aliases
    assert bucket.custom_timeouts == {"create": "10m", "delete": "1h"}
    assert "insecureValue" in param.additional_secret_outputs
    assert bucket.urn in param.dependencies
    assert key.urn in param.property_dependencies["keyId"]
    pw = find(small_plan, "data-pw")
    assert pw.urn in param.property_dependencies["value"]


def test_inputs_are_wire_encoded_and_secrets_stay_secret(small_plan):
    param = find(small_plan, "data-param")
    assert param.inputs["type"] == "SecureString"
    assert "keyId" in param.inputs  # camelCase engine names
    value = param.inputs["value"]
    assert value[SIG_KEY] == SECRET_SIG and isinstance(value["value"], str)
    assert param.outputs["value"][SIG_KEY] == SECRET_SIG
    pw = find(small_plan, "data-pw")
    assert pw.outputs["result"][SIG_KEY] == SECRET_SIG
    assert len(pw.outputs["result"]["value"]) == 24
    assert small_plan.outputs["password"][SIG_KEY] == SECRET_SIG
    assert small_plan.outputs["kubeconfig"][SIG_KEY] == SECRET_SIG
    storage = find(small_plan, "data")
    assert storage.registered_outputs is not None
    assert storage.registered_outputs["password"][SIG_KEY] == SECRET_SIG


def test_explicit_and_default_providers(small_plan):
    ns = find(small_plan, "serve-ns")
    k8s_provider = find(small_plan, "gpu-k8s")
    assert ns.provider == f"{k8s_provider.urn}::{k8s_provider.id}"
    bucket = find(small_plan, "data-bucket")
    default = [r for r in small_plan.resources if r.default_provider and r.type == "pulumi:providers:aws"]
    assert len(default) == 1 and bucket.provider == f"{default[0].urn}::{default[0].id}"
    assert default[0].inputs["region"] == "eu-west-1"
    assert small_plan.resources.index(default[0]) < small_plan.resources.index(bucket)


def test_unknown_inputs_keep_the_sentinel():
    def program() -> None:
        aws.s3.Bucket("b", bucket=pulumi.Output(set(), pulumi.Output.from_input("x").future(),  # type: ignore[arg-type]
                                                _unknown_future()))

    def _unknown_future():
        import asyncio
        f = asyncio.get_event_loop().create_future()
        f.set_result(False)
        return f

    plan = plan_program(program)
    assert plan.resources[-1].inputs["bucket"] == UNKNOWN


def test_progress_callback_counts_registrations():
    seen: list[tuple[int, str]] = []
    plan = plan_program(lambda: aws.s3.Bucket("b"), progress=lambda n, t: seen.append((n, t)))
    assert [n for n, _ in seen] == list(range(1, len(plan.resources) + 1))
    assert seen[-1][1] == "aws:s3/bucket:Bucket"
