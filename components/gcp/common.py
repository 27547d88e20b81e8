"""Small pure helpers shared by the GCP components (no resources here).

Labels, service-agent e-mails, key purposes and the address plan are derived from the spec in one
place, so every component and every test agrees on them.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass

import pulumi

from aienv import conventions as c
from aienv.naming import suffix
from aienv.spec.model import StackSpec

# Cloud KMS key purposes, each used by exactly the service agents listed in `KEY_USERS`.
KEY_STORAGE = "storage"
KEY_REGISTRY = "registry"
KEY_GKE_SECRETS = "gke-secrets"
KEY_DISKS = "disks"
KEY_VERTEX = "vertex"
KEY_REDIS = "redis"
KEY_BIGQUERY = "bigquery"

# Service agent e-mail templates (`{n}` = project number), from Google's "Service agents" reference. The Cloud
# Storage and BigQuery agents are not here: they exist only once asked for (`LAZY_AGENTS`).
AGENTS: dict[str, str] = {
    "artifactregistry": "service-{n}@gcp-sa-artifactregistry.iam.gserviceaccount.com",
    "container": "service-{n}@container-engine-robot.iam.gserviceaccount.com",
    "compute": "service-{n}@compute-system.iam.gserviceaccount.com",
    "aiplatform": "service-{n}@gcp-sa-aiplatform.iam.gserviceaccount.com",
    "redis": "service-{n}@cloud-redis.iam.gserviceaccount.com",
}
# Agents created on first request, whose e-mail comes from the API call that creates them: "The Cloud Storage
# service agent ... is not initially available when you make a project ... it is automatically activated the
# first time it's accessed ... or when you request the service agent's name" (cloud.google.com/storage/docs/
# projects#service-agents); BigQuery's encryption account likewise comes from `projects.getServiceAccount`.
LAZY_AGENTS = ("storage", "bigquery")

KEY_USERS: dict[str, tuple[str, ...]] = {
    KEY_STORAGE: ("storage",),
    KEY_REGISTRY: ("artifactregistry",),
    KEY_GKE_SECRETS: ("container",),
    # Node boot disks and PD CSI volumes are encrypted by the Compute Engine service agent.
    KEY_DISKS: ("compute",),
    KEY_VERTEX: ("aiplatform",),
    KEY_REDIS: ("redis",),
    KEY_BIGQUERY: ("bigquery",),
}

# Services whose agent exists only after it is generated (Google's CMEK guides say to create it first).
GENERATED_AGENTS: dict[str, str] = {
    "artifactregistry": "artifactregistry.googleapis.com",
    "aiplatform": "aiplatform.googleapis.com",
}

WORKLOAD_IDENTITY_ANNOTATION = "iam.gke.io/gcp-service-account"

# How long a new IAM grant takes to be enforced everywhere: "Changes to allow or deny policies typically propagate
# in 2 minutes, but could potentially take 7 minutes or longer" (cloud.google.com/iam/docs/access-change-propagation).
# The typical figure: a create that still beats it fails and the next `pulumi up` retries it (the Sleep does not
# run again; the grant has long propagated by then).
IAM_PROPAGATION_SECONDS = 120


def cmek(spec: StackSpec) -> bool:
    return spec.security.encryption == "customer_managed"


def feature_store_on(spec: StackSpec) -> bool:
    return spec.feature_store.enabled


def redis_on(spec: StackSpec) -> bool:
    return spec.feature_store.enabled and spec.feature_store.online_store.enabled


def bigquery_on(spec: StackSpec) -> bool:
    return spec.feature_store.enabled and spec.feature_store.offline_store


def vertex_on(spec: StackSpec) -> bool:
    return (spec.registries.model_registry or spec.feature_store.enabled
            or any(ep.retraining is not None for ep in spec.model_endpoints))


def key_purposes(spec: StackSpec) -> list[str]:
    """The keys this spec needs (none when encryption is provider-managed)."""
    if not cmek(spec):
        return []
    purposes = [KEY_STORAGE, KEY_REGISTRY, KEY_GKE_SECRETS, KEY_DISKS]
    if vertex_on(spec):
        purposes.append(KEY_VERTEX)
    if redis_on(spec):
        purposes.append(KEY_REDIS)
    if bigquery_on(spec):
        purposes.append(KEY_BIGQUERY)
    return purposes


def agent_email(service: str, project_number: pulumi.Input[str]) -> pulumi.Output[str]:
    return pulumi.Output.from_input(project_number).apply(lambda n: AGENTS[service].format(n=n))


def labels(spec: StackSpec, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment's GCP labels (provider default labels), sanitized to GCP's label rules."""
    raw = {
        c.TAG_ENVIRONMENT: spec.name,
        c.TAG_TIER: spec.environment.value,
        c.TAG_OWNER: spec.owner,
        c.TAG_MANAGED_BY: c.MANAGED_BY,
        **spec.tags,
        **(extra or {}),
    }
    return {c.gcp_label_key(k): c.gcp_label_value(v) for k, v in raw.items()}


def physical_name(spec: StackSpec, role: str, limit: int) -> str:
    """A deterministic, globally distinct physical name `<env>-<role>-<hash>` within `limit` chars."""
    tail = suffix(spec.cloud.project or "", spec.name, role)
    head = f"{spec.name}-{role}"[: limit - len(tail) - 1].rstrip("-")
    return f"{head}-{tail}"


@dataclass(frozen=True)
class AddressPlan:
    """The subnet's ranges, carved from `network.cidr` so nothing overlaps."""

    nodes: str
    services: str
    pods: str
    psc_address: str  # the Private Service Connect endpoint for Google APIs (outside every subnet range)
    master: str  # the GKE control plane's /28 (outside the VPC range)


def address_plan(cidr: str) -> AddressPlan:
    net = ipaddress.IPv4Network(cidr)
    quarters = list(net.subnets(prefixlen_diff=2))
    halves = list(net.subnets(prefixlen_diff=1))
    services, spare = list(quarters[1].subnets(prefixlen_diff=1))
    master = next(m for m in (ipaddress.IPv4Network("172.16.0.32/28"), ipaddress.IPv4Network("192.168.255.240/28"))
                  if not m.overlaps(net))
    return AddressPlan(nodes=str(quarters[0]), services=str(services), pods=str(halves[1]),
                       psc_address=str(spare.network_address + 2), master=str(master))
