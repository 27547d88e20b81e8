"""Alias specs sent by the SDK become the alias URNs the state records."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from aienv.engine import plan_program


class _Comp(pulumi.ComponentResource):
    def __init__(self, name: str, opts: pulumi.ResourceOptions | None = None):
        super().__init__("test:index:Comp", name, None, opts)
        aws.kms.Key(f"{name}-key", opts=pulumi.ResourceOptions(parent=self, aliases=[pulumi.Alias(name="old-key")]))
        self.register_outputs({})


def _program() -> None:
    _Comp("newapp", pulumi.ResourceOptions(aliases=[pulumi.Alias(name="app")]))
    aws.s3.Bucket("data")  # pulumi-aws aliases Bucket to its former BucketV2 type


def test_alias_specs_become_urns() -> None:
    plan = plan_program(_program, project="proj", stack="dev")
    by_name = {r.name: r for r in plan.resources}
    assert by_name["newapp"].aliases == ["urn:pulumi:dev::proj::test:index:Comp::app"]
    assert by_name["data"].aliases == ["urn:pulumi:dev::proj::aws:s3/bucketV2:BucketV2::data"]
    # The child's own alias, and its name under the parent's old name (`newapp-key` was `app-key`), with the
    # combination of both.
    assert by_name["newapp-key"].aliases == [
        "urn:pulumi:dev::proj::test:index:Comp$aws:kms/key:Key::app-key",
        "urn:pulumi:dev::proj::test:index:Comp$aws:kms/key:Key::old-key",
    ]
