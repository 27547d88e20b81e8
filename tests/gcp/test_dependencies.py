"""Order on a fresh project: every GCP resource waits (directly or through its dependencies) for the
`projects.Service` of the API it calls, and every lazily created service agent is asked for before a grant
names it (field report A2-A5)."""

from __future__ import annotations

from functools import cache

from components.gcp.network import required_services
from tests.gcp.gcpplan import GcpPlan, plan_gcp, prod_spec, variant

SERVICE = "gcp:projects/service:Service"
# The API behind each pulumi-gcp module (type token `gcp:<module>/...`).
API_OF_MODULE = {
    "compute": "compute.googleapis.com", "dns": "dns.googleapis.com", "container": "container.googleapis.com",
    "kms": "cloudkms.googleapis.com", "storage": "storage.googleapis.com",
    "artifactregistry": "artifactregistry.googleapis.com", "serviceaccount": "iam.googleapis.com",
    "vertex": "aiplatform.googleapis.com", "bigquery": "bigquery.googleapis.com", "redis": "redis.googleapis.com",
    "monitoring": "monitoring.googleapis.com", "logging": "logging.googleapis.com",
    "billing": "billingbudgets.googleapis.com", "secretmanager": "secretmanager.googleapis.com",
    "projects": "cloudresourcemanager.googleapis.com",
}


def closure(plan: GcpPlan) -> dict[str, set[str]]:
    by_urn = {r.urn: r for r in plan.resources}

    @cache
    def deps(urn: str) -> frozenset[str]:
        r = by_urn[urn]
        direct = set(r.dependencies) | {d for ds in r.property_dependencies.values() for d in ds}
        out = set(direct)
        for d in direct:
            if d in by_urn:
                out |= deps(d)
        return frozenset(out)

    return {r.urn: set(deps(r.urn)) for r in plan.resources}



def _check(plan: GcpPlan) -> list[str]:
    by_urn = {r.urn: r for r in plan.resources}
    service_api = {r.urn: r.inputs.get("service") for r in plan.of_type(SERVICE)}
    missing = []
    for urn, ds in closure(plan).items():
        r = by_urn[urn]
        if not r.custom or not r.type.startswith("gcp:") or r.type == SERVICE:
            continue
        module = r.type.split(":")[1].split("/")[0]
        api = API_OF_MODULE.get(module)
        assert api is not None, f"no API known for {r.type}"
        if module == "projects" and r.type == "gcp:projects/serviceIdentity:ServiceIdentity":
            api = "serviceusage.googleapis.com"
        waited = {service_api[d] for d in ds if d in service_api}
        if api not in waited:
            missing.append(f"{r.name} ({r.type}) does not wait for {api}")
    return missing


def test_every_gcp_resource_waits_for_its_api(prod):
    assert _check(prod) == []


def test_every_gcp_resource_waits_for_its_api_without_cmek_or_private_endpoints():
    def edit(s):
        s.security.encryption = "provider_managed"
        s.network.private_endpoints = False
        s.network.egress = "nat"
    assert _check(plan_gcp(variant(edit), "plain-deps")) == []


def test_private_service_connect_enables_service_directory():
    # "You must enable the Service Directory API in your project." (configure-private-service-connect-apis)
    assert "servicedirectory.googleapis.com" in required_services(prod_spec())
    assert "servicedirectory.googleapis.com" not in required_services(
        variant(lambda s: setattr(s.network, "private_endpoints", False)))
