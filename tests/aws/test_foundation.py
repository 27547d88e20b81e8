"""The foundation: one explicit provider, typed components, a complete CloudFoundation, no deprecations."""

from __future__ import annotations

import pytest

from aienv import conventions as c

from .awsplan import AwsPlan

COMPONENTS = {"Keys", "Network", "Storage", "Registries", "NodeIdentity", "Cluster", "FeatureStore", "Identity",
              "Audit", "Budget", "Mlops"}


@pytest.mark.parametrize("name", ["prod-aws", "dev-aws"])
def test_reference_specs_plan_every_component_without_deprecation_warnings(name: str, prod: AwsPlan,
                                                                          dev: AwsPlan) -> None:
    plan = prod if name == "prod-aws" else dev
    kinds = {r.type.split(":")[-1] for r in plan.resources if r.type.startswith("aienv:aws:")}
    assert kinds == COMPONENTS | {"Foundation"}
    assert not [w for w in plan.warnings if "deprecat" in w.lower()], plan.warnings


def test_one_explicit_aws_provider_with_region_and_default_tags(prod: AwsPlan) -> None:
    providers = [r for r in prod.resources if r.type == "pulumi:providers:aws"]
    assert len(providers) == 1
    provider = providers[0]
    assert provider.inputs["region"] == "us-east-1"
    assert "defaultTags" in provider.inputs
    tags = provider.inputs["defaultTags"]
    text = tags if isinstance(tags, str) else str(tags)
    for key in (c.TAG_ENVIRONMENT, c.TAG_TIER, c.TAG_OWNER, c.TAG_MANAGED_BY, "cost-center"):
        assert key in text
    aws_resources = [r for r in prod.resources if r.type.startswith("aws:")]
    assert aws_resources and all(r.provider and r.provider.startswith(provider.urn) for r in aws_resources)


def test_every_child_hangs_under_an_aws_component(prod: AwsPlan) -> None:
    components = {r.urn for r in prod.resources if r.type.startswith("aienv:aws:")}
    for r in prod.resources:
        if r.type.startswith(("aws:", "kubernetes:", "random:")):
            assert r.parent in components, r.name

