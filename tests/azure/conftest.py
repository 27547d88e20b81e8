"""Plans of the Azure foundation for the reference spec and variants, shared across the tests."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import pytest

from aienv.engine import Plan, plan_program
from aienv.spec import load_spec
from aienv.spec.model import StackSpec


@cache
def reference_spec() -> StackSpec:
    return load_spec("stacks/prod-azure.yaml").spec


def plan_foundation(spec: StackSpec, holder: dict | None = None) -> Plan:
    from components.azure.foundation import AzureFoundation, AzureFoundationArgs

    def program() -> None:
        foundation = AzureFoundation(spec.name, AzureFoundationArgs(spec=spec))
        if holder is not None:
            holder["foundation"] = foundation

    return plan_program(program, project="aienv", stack=spec.name)


def variant(edit: Callable[[StackSpec], None]) -> StackSpec:
    spec = reference_spec().model_copy(deep=True)
    edit(spec)
    return spec


@pytest.fixture(scope="session")
def prod() -> tuple[Plan, dict]:
    holder: dict = {}
    return plan_foundation(reference_spec(), holder), holder


@pytest.fixture(scope="session")
def insecure() -> Plan:
    from aienv.spec.model import BucketPurpose, EndpointAccess

    def edit(spec: StackSpec) -> None:
        spec.security.encryption = "provider_managed"
        spec.security.workload_permissions = "broad"
        spec.security.audit_logs = False
        spec.security.deletion_protection = False
        spec.storage.public_read = [BucketPurpose.model_artifacts]
        spec.cluster.api_access = EndpointAccess.public
        spec.cluster.api_allowed_cidrs = ["203.0.113.0/24"]
        spec.network.private_endpoints = False
        spec.azure.resource_lock = False

    return plan_foundation(variant(edit))
