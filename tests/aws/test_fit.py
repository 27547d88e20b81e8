"""A3: the reference specs' endpoints fit their GPU nodes' allocatable capacity on EKS.

EKS AL2023 kubelet reservation (amazon-eks-ami nodeadm): CPU "6% of the first core, 1% of the second, 0.5% of the
third and fourth, 0.25% of the rest"; memory `11 * maxPods + 255` MiB; hard eviction `memory.available<100Mi`.
maxPods from amazon-eks-ami `eni-max-pods.txt` ("# of ENI * (# of IPv4 per ENI - 1) + 2"): g6.xlarge 58,
p4de.24xlarge 737. The node DaemonSets (aws-node, kube-proxy, ebs-csi-node, the GPU operator's device plugin,
feature discovery and DCGM exporter, node-exporter) get a budget of 500m CPU and 1 GiB on top.
"""

from __future__ import annotations

import pytest

from aienv.gpus import lookup
from aienv.spec import load_spec

from .awsplan import ROOT

MAX_PODS = {"g6.xlarge": 58, "p4de.24xlarge": 737}
DAEMONSETS = (500, 1024)  # millicores, MiB


def kubelet_cpu_reserved(vcpus: int) -> float:
    steps = [(1, 0.06), (1, 0.01), (2, 0.005)]
    reserved, left = 0.0, vcpus
    for cores, share in steps:
        used = min(left, cores)
        reserved += used * share * 1000
        left -= used
    return reserved + left * 0.0025 * 1000


def allocatable(machine: str, vcpus: int, memory_gib: int) -> tuple[float, float]:
    cpu = vcpus * 1000 - kubelet_cpu_reserved(vcpus) - DAEMONSETS[0]
    memory = memory_gib * 1024 - (11 * MAX_PODS[machine] + 255) - 100 - DAEMONSETS[1]
    return cpu, memory


def _cpu(value: str) -> float:
    return float(value[:-1]) if value.endswith("m") else float(value) * 1000


def _mib(value: str) -> float:
    return float(value[:-2]) * (1024 if value.endswith("Gi") else 1)


def test_g6_xlarge_reserves_80_millicores() -> None:
    assert kubelet_cpu_reserved(4) == pytest.approx(80)


@pytest.mark.parametrize("name", ["prod-aws", "dev-aws"])
def test_every_endpoint_fits_one_node_of_its_pool(name: str) -> None:
    spec = load_spec(str(ROOT / "stacks" / f"{name}.yaml")).spec
    for ep in spec.model_endpoints:
        pool = spec.pool_for(ep)
        assert pool is not None
        shape = lookup(pool.gpu_type, "aws", pool.gpus_per_node)
        cpu, memory = allocatable(shape.machine_type, shape.vcpus, shape.memory_gib)
        per_node = pool.gpus_per_node // ep.gpu.count  # replicas that may share a node
        assert per_node * _cpu(ep.resources.cpu) <= cpu, (ep.name, ep.resources.cpu, cpu)
        assert per_node * _mib(ep.resources.memory) <= memory, (ep.name, ep.resources.memory, memory)


def test_team_template_endpoint_fits_a_g6_xlarge() -> None:
    spec = load_spec(str(ROOT / "stacks" / "team.yaml.j2"), vars_file=str(ROOT / "stacks/teams/vision.vars.yaml")).spec
    (ep,) = spec.model_endpoints
    cpu, memory = allocatable("g6.xlarge", 4, 16)
    assert _cpu(ep.resources.cpu) <= cpu and _mib(ep.resources.memory) <= memory
