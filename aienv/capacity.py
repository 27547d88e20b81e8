"""What a node gives its pods: machine shapes and each managed Kubernetes service's published reservation.

Pure Python (no pydantic, no Pulumi) so the `aienv-deploy` policy pack can import it inside the Pulumi
CLI's policy-pack virtualenv. Allocatable = capacity - kube/system reserved - the kubelet's hard eviction
threshold; the scheduler places a pod only where its requests fit what is allocatable
(https://kubernetes.io/docs/tasks/administer-cluster/reserve-compute-resources/: "Allocatable on a
Kubernetes node is defined as the amount of compute resources that are available for pods").

Sources of the formulas, per cloud:
- EKS (AL2023 `nodeadm`, awslabs/amazon-eks-ami `nodeadm/internal/kubelet/config.go`): kube-reserved CPU
  6% of the first core, 1% of the second, 0.5% of the third and fourth, 0.25% of the rest
  (`cpuPercentageReservedForRanges := []int{600, 100, 50, 25}` over `[0, 1000, 2000, 4000, total]`
  millicores); kube-reserved memory `11*maxPods + 255` MiB (`getMemoryMebibytesToReserve`); kube-reserved
  ephemeral storage `1Gi`; maxPods from `templates/shared/runtime/eni-max-pods.txt`
  (`# of ENI * (# of IPv4 per ENI - 1) + 2`).
- AKS ("Node resource reservations in Azure Kubernetes Service", learn.microsoft.com/azure/aks/
  node-resource-reservations): CPU by core count "1 core 60, 2 cores 100, 4 cores 140, 8 cores 180,
  16 cores 260, 32 cores 420, 64 cores 740" millicores; memory, AKS 1.29 and later, "the lesser value
  of: 20 MB * Max Pods supported on the Node + 50 MB or 25% of the total system memory resources",
  plus "the memory.available < 100 Mi eviction rule".
- GKE ("Plan GKE Standard node sizes", cloud.google.com/kubernetes-engine/docs/concepts/plan-node-sizes):
  memory "25% of the first 4 GiB, 20% of the next 4 GiB (up to 8 GiB), 10% of the next 8 GiB (up to
  16 GiB), 6% of the next 112 GiB (up to 128 GiB), 2% of any memory above 128 GiB" and "an additional
  100 MiB of memory on every node for kubelet eviction"; CPU "6% of the first core, 1% of the next core
  (up to 2 cores), 0.5% of the next 2 cores (up to 4 cores), 0.25% of any cores above 4 cores".
- Every cloud: the kubelet's default hard eviction `nodefs.available<10%` (kubelet configuration
  reference, `evictionHard` default), so pods may fill at most 90% of the node's root disk.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from aienv import gpus

MIB_PER_GIB = 1024
EVICTION_MEMORY_MIB = 100  # the kubelet's default `memory.available<100Mi` (EKS, AKS 1.29+, GKE)
NODEFS_EVICTION_FRACTION = 0.10  # the kubelet's default `nodefs.available<10%`


@dataclass(frozen=True)
class Shape:
    """A machine type: vCPUs, memory, GPUs."""

    machine_type: str
    vcpus: int
    memory_gib: float
    gpus: int = 0


# System-pool machine types aienv uses by default, and the CPU shapes a program gated with
# `--program` is likely to use (vCPUs and memory from each cloud's machine-type pages).
_CPU_SHAPES: tuple[Shape, ...] = (
    # AWS "Amazon EC2 general purpose instances" (M5, M6i, M7i), "compute optimized" (C6i), "memory" (R6i).
    Shape("m5.large", 2, 8), Shape("m5.xlarge", 4, 16), Shape("m5.2xlarge", 8, 32), Shape("m5.4xlarge", 16, 64),
    Shape("m6i.large", 2, 8), Shape("m6i.xlarge", 4, 16), Shape("m6i.2xlarge", 8, 32),
    Shape("m6i.4xlarge", 16, 64), Shape("m7i.large", 2, 8), Shape("m7i.xlarge", 4, 16),
    Shape("m7i.2xlarge", 8, 32), Shape("c6i.xlarge", 4, 8), Shape("c6i.2xlarge", 8, 16),
    Shape("r6i.xlarge", 4, 32), Shape("r6i.2xlarge", 8, 64), Shape("t3.medium", 2, 4), Shape("t3.large", 2, 8),
    # Azure "Dsv5 series", "Dsv4", "Esv5".
    Shape("Standard_D2s_v5", 2, 8), Shape("Standard_D4s_v5", 4, 16), Shape("Standard_D8s_v5", 8, 32),
    Shape("Standard_D16s_v5", 16, 64), Shape("Standard_D2s_v4", 2, 8), Shape("Standard_D4s_v4", 4, 16),
    Shape("Standard_E4s_v5", 4, 32), Shape("Standard_E8s_v5", 8, 64),
    # GCP "General-purpose machine family" (E2, N2).
    Shape("e2-standard-2", 2, 8), Shape("e2-standard-4", 4, 16), Shape("e2-standard-8", 8, 32),
    Shape("e2-standard-16", 16, 64), Shape("n2-standard-4", 4, 16), Shape("n2-standard-8", 8, 32),
    Shape("e2-medium", 2, 4),
)

SHAPES: dict[str, Shape] = {s.machine_type: s for s in _CPU_SHAPES}
for _gpu in gpus.CATALOGUE.values():
    for _offer in _gpu.offers.values():
        for _m in _offer.shapes:
            SHAPES[_m.machine_type] = Shape(_m.machine_type, _m.vcpus, float(_m.memory_gib), _m.gpus)

# EKS: max pods per instance type with the VPC CNI (awslabs/amazon-eks-ami
# templates/shared/runtime/eni-max-pods.txt), for the shapes above.
EKS_MAX_PODS: dict[str, int] = {
    "m5.large": 29, "m5.xlarge": 58, "m5.2xlarge": 58, "m5.4xlarge": 234,
    "m6i.large": 29, "m6i.xlarge": 58, "m6i.2xlarge": 58, "m6i.4xlarge": 234,
    "m7i.large": 29, "m7i.xlarge": 58, "m7i.2xlarge": 58, "c6i.xlarge": 58, "c6i.2xlarge": 58,
    "r6i.xlarge": 58, "r6i.2xlarge": 58, "t3.medium": 17, "t3.large": 35,
    "g4dn.xlarge": 29, "g4dn.12xlarge": 234, "g4dn.metal": 737,
    "g5.xlarge": 58, "g5.12xlarge": 737, "g5.48xlarge": 345,
    "g6.xlarge": 58, "g6.12xlarge": 234, "g6.48xlarge": 737,
    "p4d.24xlarge": 737, "p4de.24xlarge": 737, "p5.4xlarge": 118, "p5.48xlarge": 100,
}
# AKS: "maxPods" default per network plugin (AKS "Configure Azure CNI Overlay networking": 250 pods per
# node by default with overlay; kubenet 110). An agent pool without `maxPods` is read as 250, the
# default of the overlay networking AKS now uses, which is also the largest reservation.
AKS_DEFAULT_MAX_PODS = 250
# GKE Standard: "the default maximum of 110 Pods per node" (GKE "Configure maximum Pods per node").
GKE_DEFAULT_MAX_PODS = 110


@dataclass(frozen=True)
class Allocatable:
    """What the scheduler may place on one node."""

    cpu_millis: int
    memory_mib: int
    gpus: int
    reserved_cpu_millis: int
    reserved_memory_mib: int


def _tiered(total: float, tiers: tuple[tuple[float, float], ...]) -> float:
    """Sum of `rate * amount` over consecutive tiers (each `(tier size, rate)`; size 0 = the rest)."""
    left, out = total, 0.0
    for size, rate in tiers:
        take = left if size == 0 else min(left, size)
        out += take * rate
        left -= take
        if left <= 0:
            break
    return out


# 6% / 1% / 0.5% / 0.25% (EKS nodeadm and GKE publish the same CPU tiers), in millicores per core.
_CPU_TIERS = ((1000.0, 0.06), (1000.0, 0.01), (2000.0, 0.005), (0.0, 0.0025))
_GKE_MEMORY_TIERS = ((4.0, 0.25), (4.0, 0.20), (8.0, 0.10), (112.0, 0.06), (0.0, 0.02))
_AKS_CPU_TABLE = ((1, 60), (2, 100), (4, 140), (8, 180), (16, 260), (32, 420), (64, 740))


def _aks_cpu_millis(cores: int) -> int:
    """AKS' published CPU table, linear between its points and at 10m per core above 64 (the slope of
    every interval from 4 cores up)."""
    table = _AKS_CPU_TABLE
    if cores <= table[0][0]:
        return table[0][1]
    for (c0, m0), (c1, m1) in zip(table, table[1:], strict=False):
        if cores <= c1:
            return round(m0 + (m1 - m0) * (cores - c0) / (c1 - c0))
    return table[-1][1] + 10 * (cores - table[-1][0])


def reserved(cloud: str, shape: Shape, max_pods: int | None = None) -> tuple[int, int]:
    """(CPU millicores, memory MiB) a node of `shape` keeps from pods on `cloud` (reservation + eviction)."""
    millis = shape.vcpus * 1000
    mem_mib = shape.memory_gib * MIB_PER_GIB
    if cloud == "aws":
        pods = max_pods or EKS_MAX_PODS.get(shape.machine_type, 110)
        return round(_tiered(millis, _CPU_TIERS)), 11 * pods + 255 + EVICTION_MEMORY_MIB
    if cloud == "azure":
        pods = max_pods or AKS_DEFAULT_MAX_PODS
        # "20 MB * Max Pods ... + 50 MB": MB as Microsoft writes it (decimal), converted to MiB.
        kube = min((20 * pods + 50) * 1e6 / 2**20, 0.25 * mem_mib)
        return _aks_cpu_millis(shape.vcpus), round(kube) + EVICTION_MEMORY_MIB
    if cloud == "gcp":
        gib = _tiered(shape.memory_gib, _GKE_MEMORY_TIERS)
        return round(_tiered(millis, _CPU_TIERS)), round(gib * MIB_PER_GIB) + EVICTION_MEMORY_MIB
    raise KeyError(f"no reservation formula for cloud {cloud!r}")


def allocatable(cloud: str, machine_type: str, max_pods: int | None = None) -> Allocatable | None:
    """What one node of `machine_type` gives pods on `cloud`; None for a machine type aienv does not know."""
    shape = SHAPES.get(machine_type)
    if shape is None:
        return None
    cpu, mem = reserved(cloud, shape, max_pods)
    return Allocatable(shape.vcpus * 1000 - cpu, round(shape.memory_gib * MIB_PER_GIB) - mem, shape.gpus, cpu, mem)


def pod_disk_gib(disk_gb: float) -> float:
    """Node-local storage pods may fill on a root disk of `disk_gb` GB before the kubelet evicts them."""
    gib = disk_gb * 1e9 / 2**30
    return gib * (1 - NODEFS_EVICTION_FRACTION)


# --- Kubernetes quantities ---------------------------------------------------------------------------
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"n": 1e-9, "u": 1e-6, "m": 1e-3, "": 1.0, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
            "P": 1e15, "E": 1e18}
_QUANTITY = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)([a-zA-Z]*)$")


def quantity(value: object) -> float | None:
    """A Kubernetes resource quantity (`"500m"`, `"4"`, `"14Gi"`, `2`) as a plain number; None if unreadable."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if not isinstance(value, str):
        return None
    match = _QUANTITY.match(value.strip())
    if match is None:
        return None
    number, suffix = float(match.group(1)), match.group(2)
    if suffix in _BINARY:
        return number * _BINARY[suffix]
    if suffix in _DECIMAL:
        return number * _DECIMAL[suffix]
    return None


def cpu_millis(value: object) -> int | None:
    amount = quantity(value)
    return None if amount is None else round(amount * 1000)


def memory_mib(value: object) -> float | None:
    amount = quantity(value)
    return None if amount is None else amount / 2**20
