"""Per-environment defaults: dev is small and scales to zero, staging and prod are highly available.

Fields left `None` in a document are filled here, after parsing and before the semantic rules, so
components always see concrete values.
"""

from __future__ import annotations

from aienv.spec.model import Environment, StackSpec

SYSTEM_MACHINE = {"aws": "m6i.xlarge", "azure": "Standard_D4s_v5", "gcp": "e2-standard-4"}


def resolve(spec: StackSpec) -> StackSpec:
    """A copy of `spec` with every environment-dependent default filled in."""
    out = spec.model_copy(deep=True)
    dev = out.environment is Environment.dev

    if out.network.nat_gateways is None:
        out.network.nat_gateways = "single" if dev else "per_zone"

    pool = out.cluster.system_pool
    if pool.machine_type is None:
        pool.machine_type = SYSTEM_MACHINE[out.cloud.provider]
    if pool.min_nodes is None:
        pool.min_nodes = 1 if dev else 3
    if pool.max_nodes is None:
        pool.max_nodes = max(pool.min_nodes, 3 if dev else 6)

    deployer = out.cluster.deployer
    if deployer.path is None and out.cloud.provider == "gcp" and out.cluster.api_access == "private":
        # GKE's DNS-based endpoint is IAM-authorised and reachable without a network path: a first
        # `pulumi up` converges in one pass while the IP endpoint stays private.
        deployer.path = "dns_endpoint"

    for gpu_pool in out.cluster.gpu_pools:
        if gpu_pool.min_nodes is None:
            gpu_pool.min_nodes = 0 if dev else 1

    for endpoint in out.model_endpoints:
        if endpoint.scale_to_zero.enabled is None:
            # Dev endpoints scale to zero when idle, so their GPU pools (min_nodes 0) really reach zero nodes;
            # not those that ask for a standing replica or split traffic between versions.
            endpoint.scale_to_zero.enabled = (dev and not endpoint.replicas.min and endpoint.canary is None
                                              and endpoint.rollout is None)
        if endpoint.replicas.min is None:
            endpoint.replicas.min = 0 if endpoint.scale_to_zero.enabled else (1 if dev else 2)
        if endpoint.model.artifact_path is None:
            endpoint.model.artifact_path = f"models/{endpoint.name}/{endpoint.model.version}/"

    online = out.feature_store.online_store
    if online.high_availability is None:
        online.high_availability = not dev
    return out
