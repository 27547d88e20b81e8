"""Expected cold and warm starts of a model endpoint's replica, from the spec alone (no Pulumi).

These are estimates, not measurements: each step's time is a size divided by a throughput, and each
throughput is either the cloud's documented limit for the disk the weights go through, or a stated assumption.
docs/kubernetes.md ("Cold and warm starts") has the table for the reference endpoints, which a test keeps equal to
this module's output. The rollout *deadlines* in components/kubernetes/serving.py are deliberately slower.

- cold: a replica on a new GPU node (scale-up, scale from zero): the node joins, the image is pulled, the weights
  are copied from the model bucket to the node (the weight cache, or the pod's scratch volume), loaded onto the
  GPUs, and the server starts (CUDA graphs, KV-cache profiling).
- warm: a replica restarting or rolled out on a node that has the image, and (with `weight_cache: node`) the
  version's weights: only the load and the server start; without the cache a warm start still copies.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from aienv.gpus import BYTES_PER_PARAM
from aienv.spec.model import GpuPool, ModelEndpoint, Runtime, StackSpec

MiB = 2**20

# Documented disk throughput (what a sequential copy or load can reach):
# - AWS: the GPU nodes' root volume and the scratch volumes are gp3 without provisioned throughput: "gp3 volumes
#   deliver a consistent baseline throughput performance of 125 MiB/s" (Amazon EBS User Guide, gp3 volumes).
# - GCP: pd-balanced boot disks: 0.28 MiB/s per GiB above a 140 MiB/s baseline per VM (Compute Engine, "Persistent
#   Disk performance", pd-balanced limits).
# - Azure: Premium SSD managed OS disks by tier: P10 (128 GiB) 100, P15 (256 GiB) 125, P20 (512 GiB) 150,
#   P30 (1 TiB) 200 MB/s (Azure managed disks, "Premium SSD sizes").
AZURE_PREMIUM_TIERS = ((128, 100e6), (256, 125e6), (512, 150e6), (1024, 200e6), (2048, 250e6), (4096, 250e6))


def disk_bytes_per_second(cloud: str, disk_gb: int) -> float:
    if cloud == "aws":
        return 125 * MiB
    if cloud == "gcp":
        return (140 + 0.28 * disk_gb * 1e9 / 2**30) * MiB
    for size, rate in AZURE_PREMIUM_TIERS:
        if disk_gb * 1e9 / 2**30 <= size:
            return rate
    return AZURE_PREMIUM_TIERS[-1][1]


# Assumptions (not measured here; see docs/kubernetes.md):
NETWORK_BYTES_PER_SECOND = 400e6  # object store -> one pod with the cloud's CLI (parallel transfers)
NODE_SECONDS = {"aws": 240, "azure": 360, "gcp": 240}  # a GPU node boots, joins and registers its GPUs
IMAGE_BYTES = {Runtime.vllm: 10e9, Runtime.triton: 8e9, Runtime.custom: 2e9}  # compressed, pulled on a new node
IMAGE_BYTES_PER_SECOND = 100e6  # pull and unpack from the environment's registry
ENGINE_SECONDS = {Runtime.vllm: 90, Runtime.triton: 30, Runtime.custom: 20}  # server start after the weights load
# The checkpoint as stored: vLLM's fp8 quantizes a 16-bit checkpoint while loading it (serving.py).
CHECKPOINT_BYTES_PER_PARAM = {**BYTES_PER_PARAM, "fp8": 2.0}


@dataclass(frozen=True)
class StartupEstimate:
    endpoint: str
    checkpoint_gb: float | None
    disk_mb_s: float
    node_s: int
    image_s: int
    copy_s: int
    load_s: int
    engine_s: int
    cache: str

    @property
    def cold_s(self) -> int:
        return self.node_s + self.image_s + self.copy_s + self.load_s + self.engine_s

    @property
    def warm_s(self) -> int:
        return self.load_s + self.engine_s + (0 if self.cache == "node" else self.copy_s)


def checkpoint_bytes(ep: ModelEndpoint) -> float | None:
    if ep.model.size_billion_params is None:
        return None
    return ep.model.size_billion_params * 1e9 * CHECKPOINT_BYTES_PER_PARAM[ep.model.precision]


def estimate(spec: StackSpec, ep: ModelEndpoint, pool: GpuPool | None = None) -> StartupEstimate:
    """The endpoint's starts on `pool` (default: the first pool that can hold a replica)."""
    cloud = spec.cloud.provider
    pool = pool or spec.pool_for(ep)
    disk = disk_bytes_per_second(cloud, pool.disk_gb if pool else 200)
    size = checkpoint_bytes(ep)
    copy = load = 0
    if size is not None:
        copy = math.ceil(size / min(NETWORK_BYTES_PER_SECOND, disk))  # the disk takes the writes
        load = math.ceil(size / disk)
    return StartupEstimate(
        endpoint=ep.name, checkpoint_gb=None if size is None else size / 1e9, disk_mb_s=disk / 1e6,
        node_s=NODE_SECONDS[cloud], image_s=math.ceil(IMAGE_BYTES[ep.runtime] / IMAGE_BYTES_PER_SECOND),
        copy_s=copy, load_s=load, engine_s=ENGINE_SECONDS[ep.runtime], cache=ep.weight_cache)


def minutes(seconds: int) -> str:
    return f"{seconds / 60:.1f} min"


def table(specs: list[StackSpec]) -> str:
    """The markdown table of docs/kubernetes.md ("Cold and warm starts") for these specs' endpoints."""
    head = ("| stack | endpoint | checkpoint | node disk | node joins | image | weights copied | weights loaded "
            "| server start | **cold** | **warm** |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
    rows = []
    for spec in specs:
        for ep in spec.model_endpoints:
            e = estimate(spec, ep)
            pool = spec.pool_for(ep)
            size = "not in the spec" if e.checkpoint_gb is None else f"{e.checkpoint_gb:g} GB ({ep.model.precision})"
            copied, loaded = ("not counted", "not counted") if e.checkpoint_gb is None else (f"{e.copy_s} s",
                                                                                             f"{e.load_s} s")
            disk = f"{pool.disk_gb if pool else 200} GB, {e.disk_mb_s:.0f} MB/s"
            warm = minutes(e.warm_s) + ("" if e.cache == "node" else " (no cache: copies again)")
            rows.append(f"| {spec.name} | `{ep.name}` ({ep.runtime.value}) | {size} | {disk} | {e.node_s} s "
                        f"| {e.image_s} s | {copied} | {loaded} | {e.engine_s} s | **{minutes(e.cold_s)}** "
                        f"| **{warm}** |")
    return head + "\n".join(rows) + "\n"
