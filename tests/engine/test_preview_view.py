"""The first-preview view: what the real engine shows on the first `pulumi preview` of a new stack.

Provider-computed outputs are unknown (and every input built from one), `apply` callbacks on unknowns do not
run, resources created inside such callbacks do not exist yet, secrets stay secrets; inputs, Pulumi's
auto-names, invokes and other stacks' outputs are known. The known view invents every output it can and leaves
the rest unknown rather than `None`.
"""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
import pulumi_random as random

from aienv.engine import plan_program
from aienv.engine.wire import SECRET_SIG, SIG_KEY, UNKNOWN

from .programs import find


def _bucket_program() -> None:
    bucket = aws.s3.Bucket("data")
    aws.s3.BucketPolicy("data-policy", bucket=bucket.id, policy=bucket.arn.apply(lambda arn: json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": f"{arn}/*",
                       "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]})))
    caller = aws.get_caller_identity_output()
    aws.s3.BucketObject("readme", bucket=bucket.id, content=caller.account_id.apply(lambda a: f"account {a}"))

    def inside_apply(arn: str) -> str:  # a resource created in apply: a preview of a new stack cannot see it
        aws.s3.BucketObject("late", bucket=bucket.id, content=arn)
        return arn

    bucket.arn.apply(inside_apply)
    pulumi.export("dryRun", pulumi.runtime.is_dry_run())


def test_first_preview_leaves_computed_outputs_and_what_they_feed_unknown() -> None:
    known = plan_program(_bucket_program, project="p", stack="dev")
    first = plan_program(_bucket_program, project="p", stack="dev", view="preview")
    assert (known.view, first.view) == ("known", "preview")

    bucket = find(first, "data")
    assert bucket.outputs["arn"] == UNKNOWN and bucket.id is None
    assert bucket.outputs["bucket"] == find(known, "data").outputs["bucket"]  # Pulumi's auto-name: known at preview
    assert find(first, "data-policy").inputs["policy"] == UNKNOWN  # built in apply from the ARN: unknown as a whole
    policy = json.loads(find(known, "data-policy").inputs["policy"])
    assert policy["Statement"][0]["Resource"] == find(known, "data").outputs["arn"] + "/*"
    # Invokes run at preview: what is built from their results is known.
    assert find(first, "readme").inputs["content"] == "account 123456789012"


def test_apply_on_an_unknown_does_not_run_at_the_first_preview() -> None:
    known = plan_program(_bucket_program, project="p", stack="dev")
    first = plan_program(_bucket_program, project="p", stack="dev", view="preview")
    assert any(r.name == "late" for r in known.resources)
    assert not any(r.name == "late" for r in first.resources)
    assert known.outputs["dryRun"] is False and first.outputs["dryRun"] is True


def _program_reading_outputs_nobody_invents() -> None:
    bucket = aws.s3.Bucket("site", website=aws.s3.BucketWebsiteArgs(index_document="index.html"))
    # A real update knows the endpoint; the mocks do not invent it. `e + "/x"` on None would raise.
    aws.s3.BucketObject("link", bucket=bucket.id, content=bucket.website_endpoint.apply(lambda e: e + "/index.html"))


def test_outputs_the_mocks_cannot_invent_are_unknown_in_both_views_not_none() -> None:
    for view in ("known", "preview"):
        plan = plan_program(_program_reading_outputs_nobody_invents, project="p", stack="dev", view=view)
        assert find(plan, "link").inputs["content"] == UNKNOWN, view


def _of(plan, name: str, type_: str):  # noqa: ANN001, ANN202
    return next(r for r in plan.resources if r.name == name and r.type == type_)


def _secret_program() -> None:
    password = random.RandomPassword("db", length=24)
    k8s.core.v1.Secret("db", string_data={"password": password.result})


def test_generated_secrets_are_unknown_secrets_at_the_first_preview() -> None:
    first = plan_program(_secret_program, project="p", stack="dev", view="preview")
    data = _of(first, "db", "kubernetes:core/v1:Secret").inputs["stringData"]
    assert data == {"password": {SIG_KEY: SECRET_SIG, "value": UNKNOWN}} or data == {SIG_KEY: SECRET_SIG,
                                                                                        "value": UNKNOWN}
    known = plan_program(_secret_program, project="p", stack="dev")
    secret = _of(known, "db", "kubernetes:core/v1:Secret").inputs["stringData"]
    assert SECRET_SIG in json.dumps(secret) and UNKNOWN not in json.dumps(secret)


def test_kubernetes_auto_names_are_known_and_status_is_not() -> None:
    def program() -> None:
        k8s.apps.v1.Deployment("web", spec={"selector": {"matchLabels": {"a": "b"}}, "template": {
            "metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "nginx:1.27"}]}}})

    first = plan_program(program, project="p", stack="dev", view="preview")
    deployment = find(first, "web")
    assert deployment.outputs["metadata"]["name"].startswith("web-")
    assert deployment.outputs["metadata"]["uid"] == UNKNOWN and deployment.outputs["status"] == UNKNOWN
    assert deployment.inputs["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27"


def test_the_first_preview_writes_what_pulumi_preview_json_writes(tmp_path) -> None:
    from aienv.check import read_plan_file

    first = plan_program(_bucket_program, project="p", stack="dev", view="preview")
    doc = first.to_document()
    assert set(doc) == {"config", "steps", "changeSummary"}
    assert {s["op"] for s in doc["steps"]} == {"create"}
    assert doc["changeSummary"] == {"create": len(first.resources)}
    path = tmp_path / "preview.json"
    path.write_text(json.dumps(doc))
    read = read_plan_file(path)
    assert read.kind == "preview" and len(read.resources) == len(first.resources)
    assert plan_program(_bucket_program, project="p", stack="dev").to_document()["version"] == 3


def test_check_gates_both_views_and_lists_what_the_first_preview_defers(capsys) -> None:  # noqa: ANN001
    from aienv.cli import main

    assert main(["check", "prod-aws", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["summary"]["views"] == "known+preview" and out["summary"]["passed"] is True
    assert out["deferred"], "a new stack's first preview cannot see every value"
    assert all(d["decided_offline"] for d in out["deferred"])  # the known view decided each of them
    assert all(d["property"] and d["reason"] for d in out["deferred"])


def test_the_summary_groups_an_environment_by_its_components() -> None:
    from aienv.cli._target import load_program

    stack, program = load_program("dev-aws", {}, None)
    summary = plan_program(program, stack=stack).summary()
    assert summary["component_types"] == {"dev-aws": "aienv:aws:Foundation", "dev-aws-k8s": "aienv:kubernetes:KubernetesLayer"}
    assert sum(summary["by_component"].values()) == summary["resources"]
