"""Deployability, class 4 (capacity where it is sold): a GPU pool spans only zones that sell its GPU.

GKE creates a node pool in every zone of its node locations and refuses the pool when one of them lacks the
accelerator (HTTP 400 `Accelerator type "nvidia-l4" does not exist in zone us-west4-b`). The zones come
from the pool's `nodeLocations`, else its cluster's `nodeLocations`, else the cluster's location (a zonal
cluster's one zone; a regional cluster's default zones, which GKE picks, so every zone of the region must
sell the GPU). Zone data: `aienv.gpus.ZONES` (GCP only: AWS and Azure publish per-zone offerings only through
their per-account APIs, see there), so EKS and AKS pools are not judged here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from pulumi_policy import PolicyResource, StackValidationArgs

from aienv import gpus
from policies.meta import RuleMeta
from policies.rules._base import get, guarded, items, stack_rule, subject
from policies.rules.deploy_fit import DEPLOY_CONTROLS, GKE_POOL

GKE_CLUSTER = "gcp:container/cluster:Cluster"
_ZONE = re.compile(r"^[a-z]+-[a-z]+\d+-[a-z]$")

# GKE accelerator names and GPU machine types -> the catalogue's GPU type.
_GKE_GPU: dict[str, str] = {}
for _g in gpus.CATALOGUE.values():
    _offer = _g.offer("gcp")
    for _shape in _offer.shapes if _offer else ():
        _GKE_GPU[_shape.machine_type] = _g.name
        if _shape.accelerator:
            _GKE_GPU[_shape.accelerator] = _g.name


def pool_gpu_type(props: Any) -> str | None:
    for acc in items(props, "nodeConfig.guestAccelerators"):
        name = str(get(acc, "type") or "")
        if name in _GKE_GPU:
            return _GKE_GPU[name]
    return _GKE_GPU.get(str(get(props, "nodeConfig.machineType") or ""))


def _cluster_of(pool: PolicyResource) -> PolicyResource | None:
    return next((d for d in pool.property_dependencies.get("cluster", []) if d.resource_type == GKE_CLUSTER), None)


@stack_rule(RuleMeta(
    name="deploy-gpu-sold-in-pool-zones",
    description="Run a GPU node pool only in zones that sell its GPU.",
    severity="critical", area="deploy", controls=DEPLOY_CONTROLS,
    remediation="Set the pool's node locations to zones that sell the GPU (the message lists them). GKE refuses a "
                "node pool whose zones lack the accelerator (\"Accelerator type ... does not exist in zone ...\"); "
                "GPU zones per machine series: cloud.google.com/compute/docs/gpus/gpu-regions-zones.",
), [GKE_POOL, GKE_CLUSTER])
def gpu_zones(args: StackValidationArgs) -> Iterator[tuple[str, str | None]]:
    def check(r: PolicyResource) -> Iterator[str]:
        gpu = pool_gpu_type(r.props)
        if gpu is None:
            return
        cluster = _cluster_of(r)
        zones = [str(z) for z in items(r.props, "nodeLocations")]
        location = str(get(r.props, "location") or "")
        if not zones and cluster is not None:
            zones = [str(z) for z in items(cluster.props, "nodeLocations")]
            location = location or str(get(cluster.props, "location") or "")
        region = location if not _ZONE.match(location) else location.rsplit("-", 1)[0]
        if not zones and _ZONE.match(location):
            zones = [location]
        if not region and zones:
            region = zones[0].rsplit("-", 1)[0]
        selling = gpus.zones_selling("gcp", gpu, region) if region else None
        if selling is None:
            return  # the catalogue does not record this GPU's zones
        who = subject(r.resource_type, r.name)
        offer = ", ".join(sorted(selling)) or "none"
        if not zones:
            # "By default, GKE replicates each node pool across three zones of the control plane's region"
            # (GKE "Regional clusters"): with fewer selling zones, one of the defaults lacks the GPU.
            if len(selling) < 3:
                yield (f"{who} must list node locations: it inherits three default zones of {region}, but {gpu} "
                       f"is sold only in {offer}.")
            return
        missing = [z for z in zones if z not in selling]
        if missing:
            yield f"{who} must not run in {', '.join(missing)}: {gpu} is sold in {region} only in {offer}."

    yield from guarded(args.resources, frozenset({GKE_POOL}), check)


RULES = (gpu_zones,)
