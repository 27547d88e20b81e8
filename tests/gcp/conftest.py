"""Fixtures for the GCP foundation tests."""

from __future__ import annotations

import pytest

from tests.gcp.gcpplan import GcpPlan, plan_gcp, prod_spec


@pytest.fixture(scope="session")
def prod() -> GcpPlan:
    return plan_gcp(prod_spec(), "prod")
