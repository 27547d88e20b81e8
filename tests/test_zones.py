"""Pinned zones reach every cloud's node pools: a GPU sold in some zones only lands where it is sold."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from aienv.engine import plan_program
from aienv.spec import load_spec
from components.environment import build_environment
from tests.conftest import STACKS

CASES = {
    # cloud: (reference, network zones, the a100 pool's zones)
    "aws": ("prod-aws.yaml", ["us-east-1a", "us-east-1b", "us-east-1c"], ["us-east-1b"]),
    "gcp": ("prod-gcp.yaml", ["europe-west4-a", "europe-west4-b", "europe-west4-c"], ["europe-west4-a"]),  # sells A100 80GB
    "azure": ("prod-azure.yaml", ["1", "2", "3"], ["2", "3"]),
}


@pytest.mark.parametrize("cloud", sorted(CASES))
def test_pool_zones_reach_the_node_pools(tmp_path: Path, cloud: str) -> None:
    reference, zones, pool_zones = CASES[cloud]
    data = load_spec(STACKS / reference).data
    data.setdefault("network", {})["zones"] = zones
    data["cluster"]["gpu_pools"][1]["zones"] = pool_zones
    path = tmp_path / reference
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    spec = load_spec(path).spec
    plan = plan_program(lambda: build_environment(spec), project="aienv", stack=spec.name)
    by_name = {r.name: r for r in plan.resources}
    if cloud == "aws":
        subnets = {r.id: r.inputs["availabilityZone"] for r in plan.resources
                   if r.type == "aws:ec2/subnet:Subnet" and "private" in r.name}
        assert sorted(subnets.values()) == zones
        a100 = by_name["prod-aws-cluster-gpu-a100"].inputs["subnetIds"]
        l4 = by_name["prod-aws-cluster-gpu-l4"].inputs["subnetIds"]
        assert [subnets[s] for s in a100] == pool_zones and sorted(subnets[s] for s in l4) == zones
    elif cloud == "gcp":
        cluster = next(r for r in plan.resources if r.type == "gcp:container/cluster:Cluster")
        assert cluster.inputs["nodeLocations"] == zones
        pools = {r.name: r.inputs for r in plan.resources if r.type == "gcp:container/nodePool:NodePool"}
        assert next(p for n, p in pools.items() if n.endswith("-a100"))["nodeLocations"] == pool_zones
        assert "nodeLocations" not in next(p for n, p in pools.items() if n.endswith("-l4"))
    else:
        pools = {r.inputs["agentPoolName"]: r.inputs for r in plan.resources
                 if r.type == "azure-native:containerservice:AgentPool"}
        a100 = next(p for n, p in pools.items() if "a100" in n)
        t4 = next(p for n, p in pools.items() if "t4" in n)
        assert a100["availabilityZones"] == pool_zones and "availabilityZones" not in t4
