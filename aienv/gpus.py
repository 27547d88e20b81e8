"""GPU catalogue: a neutral GPU type x GPUs per node -> each cloud's machine type, and how drivers get there.

Facts come from the clouds' public documentation (instance-type pages as of 2025/2026):
- AWS: "Amazon EC2 accelerated computing instances" (G4dn, G5, G6, P4d, P4de, P5) and the EKS
  AL2023 accelerated AMI docs (NVIDIA driver and container toolkit preinstalled on `AL2023_x86_64_NVIDIA`).
- Azure: "NCasT4_v3", "NC A100 v4", "ND A100 v4", "NDm A100 v4", "ND H100 v5" size pages, and the AKS
  "Use GPUs" page (AKS installs the NVIDIA driver on GPU pools; the device plugin is deployed separately).
- GCP: "GPU machine types" (N1 + T4, G2, A2 standard/ultra, A3 High) and the GKE "Run GPUs" page
  (GKE installs the driver with `gpu_driver_installation_config` and runs the device plugin itself).
Regions are the ones the docs list at the time of writing; a region outside this list is an error only
when the catalogue knows the GPU's regions for that cloud (`regions` non-empty).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

Cloud = Literal["aws", "azure", "gcp"]


class DriverMode(StrEnum):
    """How NVIDIA drivers reach a cloud's GPU nodes; it decides the Kubernetes GPU stack."""

    # The node image ships the driver and container toolkit (EKS AL2023 NVIDIA AMI):
    # GPU operator with driver and toolkit off, device plugin + DCGM exporter on.
    PREINSTALLED = "preinstalled"
    # The cloud installs the driver on GPU pools but not the device plugin (AKS, `gpuProfile.driver: Install`):
    # AKS GPU images ship the driver and the NVIDIA container toolkit, so the GPU operator runs with driver
    # and toolkit off and `operator.runtimeClass: nvidia-container-runtime`, device plugin + DCGM exporter on
    # (NVIDIA, *GPU Operator with Azure Kubernetes Service*: "AKS images include a preinstalled NVIDIA GPU
    # Driver and preinstalled NVIDIA Container Toolkit").
    CLOUD_DRIVER = "cloud-driver"
    # The cloud installs the driver and runs the device plugin (GKE): only DCGM metrics are added.
    CLOUD_MANAGED = "cloud-managed"


DRIVER_MODES: dict[str, DriverMode] = {
    "aws": DriverMode.PREINSTALLED,
    "azure": DriverMode.CLOUD_DRIVER,
    "gcp": DriverMode.CLOUD_MANAGED,
}


@dataclass(frozen=True)
class MachineShape:
    machine_type: str
    gpus: int
    vcpus: int
    memory_gib: int
    # GCP attaches GPUs to N1 machines as guest accelerators; A2/A3/G2 have them built in
    # but GKE still wants the accelerator declared on the node pool.
    accelerator: str | None = None


@dataclass(frozen=True)
class CloudOffer:
    shapes: tuple[MachineShape, ...]
    regions: frozenset[str] = field(default_factory=frozenset)

    def shape_for(self, gpus: int) -> MachineShape | None:
        """The smallest machine with exactly `gpus` GPUs."""
        for shape in self.shapes:
            if shape.gpus == gpus:
                return shape
        return None

    @property
    def gpu_counts(self) -> list[int]:
        return sorted({s.gpus for s in self.shapes})


@dataclass(frozen=True)
class GpuType:
    name: str
    memory_gib: int
    offers: dict[str, CloudOffer]

    def offer(self, cloud: str) -> CloudOffer | None:
        return self.offers.get(cloud)


def _s(machine: str, gpus: int, vcpus: int, mem: int, acc: str | None = None) -> MachineShape:
    return MachineShape(machine, gpus, vcpus, mem, acc)


_AWS_COMMON = frozenset({
    "us-east-1", "us-east-2", "us-west-2", "eu-west-1", "eu-central-1", "ap-northeast-1", "ap-southeast-2",
})

CATALOGUE: dict[str, GpuType] = {
    "nvidia-t4": GpuType("nvidia-t4", 16, {
        "aws": CloudOffer((
            _s("g4dn.xlarge", 1, 4, 16), _s("g4dn.12xlarge", 4, 48, 192), _s("g4dn.metal", 8, 96, 384),
        ), _AWS_COMMON | {"us-west-1", "eu-west-2", "eu-north-1", "ap-south-1", "ca-central-1"}),
        "azure": CloudOffer((
            _s("Standard_NC4as_T4_v3", 1, 4, 28), _s("Standard_NC64as_T4_v3", 4, 64, 440),
        ), frozenset({"eastus", "eastus2", "westus2", "southcentralus", "westeurope", "northeurope",
                      "uksouth", "japaneast", "australiaeast"})),
        "gcp": CloudOffer((
            _s("n1-standard-8", 1, 8, 30, "nvidia-tesla-t4"), _s("n1-standard-16", 2, 16, 60, "nvidia-tesla-t4"),
            _s("n1-standard-32", 4, 32, 120, "nvidia-tesla-t4"),
        ), frozenset({"us-central1", "us-east1", "us-east4", "us-west1", "europe-west1", "europe-west2",
                      "europe-west4", "asia-northeast1", "asia-southeast1"})),
    }),
    "nvidia-l4": GpuType("nvidia-l4", 24, {
        "aws": CloudOffer((
            _s("g6.xlarge", 1, 4, 16), _s("g6.12xlarge", 4, 48, 192), _s("g6.48xlarge", 8, 192, 768),
        ), _AWS_COMMON | {"eu-west-2", "eu-north-1", "ap-south-1", "ca-central-1"}),
        "gcp": CloudOffer((
            _s("g2-standard-8", 1, 8, 32, "nvidia-l4"), _s("g2-standard-24", 2, 24, 96, "nvidia-l4"),
            _s("g2-standard-48", 4, 48, 192, "nvidia-l4"), _s("g2-standard-96", 8, 96, 384, "nvidia-l4"),
        ), frozenset({"us-central1", "us-east1", "us-east4", "us-west1", "us-west4", "europe-west1",
                      "europe-west2", "europe-west4", "asia-northeast1", "asia-southeast1"})),
    }),
    # A10G is an AWS-only part (G5); Azure sells the A10 (NVads A10 v5, fractional), GCP neither.
    "nvidia-a10g": GpuType("nvidia-a10g", 24, {
        "aws": CloudOffer((
            _s("g5.xlarge", 1, 4, 16), _s("g5.12xlarge", 4, 48, 192), _s("g5.48xlarge", 8, 192, 768),
        ), _AWS_COMMON | {"eu-west-2", "eu-north-1", "ap-south-1", "ca-central-1"}),
    }),
    "nvidia-a100-40gb": GpuType("nvidia-a100-40gb", 40, {
        "aws": CloudOffer((_s("p4d.24xlarge", 8, 96, 1152),),
                          frozenset({"us-east-1", "us-east-2", "us-west-2", "eu-west-1", "eu-central-1",
                                     "ap-northeast-1"})),
        "azure": CloudOffer((_s("Standard_ND96asr_v4", 8, 96, 900),),
                            frozenset({"eastus", "southcentralus", "westus2", "westeurope"})),
        "gcp": CloudOffer((
            _s("a2-highgpu-1g", 1, 12, 85, "nvidia-tesla-a100"), _s("a2-highgpu-2g", 2, 24, 170, "nvidia-tesla-a100"),
            _s("a2-highgpu-4g", 4, 48, 340, "nvidia-tesla-a100"), _s("a2-highgpu-8g", 8, 96, 680, "nvidia-tesla-a100"),
        ), frozenset({"us-central1", "us-east1", "us-west1", "us-west4", "europe-west4", "asia-northeast1",
                      "asia-southeast1"})),
    }),
    "nvidia-a100-80gb": GpuType("nvidia-a100-80gb", 80, {
        "aws": CloudOffer((_s("p4de.24xlarge", 8, 96, 1152),), frozenset({"us-east-1", "us-west-2"})),
        "azure": CloudOffer((
            _s("Standard_NC24ads_A100_v4", 1, 24, 220), _s("Standard_NC48ads_A100_v4", 2, 48, 440),
            _s("Standard_NC96ads_A100_v4", 4, 96, 880), _s("Standard_ND96amsr_A100_v4", 8, 96, 1900),
        ), frozenset({"eastus", "eastus2", "southcentralus", "westus2", "westus3", "westeurope",
                      "northeurope", "swedencentral"})),
        "gcp": CloudOffer((
            _s("a2-ultragpu-1g", 1, 12, 170, "nvidia-a100-80gb"), _s("a2-ultragpu-2g", 2, 24, 340, "nvidia-a100-80gb"),
            _s("a2-ultragpu-4g", 4, 48, 680, "nvidia-a100-80gb"), _s("a2-ultragpu-8g", 8, 96, 1360, "nvidia-a100-80gb"),
        ), frozenset({"us-central1", "us-east4", "us-east5", "europe-west4", "asia-southeast1"})),
    }),
    "nvidia-h100-80gb": GpuType("nvidia-h100-80gb", 80, {
        "aws": CloudOffer((_s("p5.4xlarge", 1, 16, 256), _s("p5.48xlarge", 8, 192, 2048)),
                          frozenset({"us-east-1", "us-east-2", "us-west-2", "eu-west-2", "eu-north-1",
                                     "ap-northeast-1"})),
        "azure": CloudOffer((_s("Standard_ND96isr_H100_v5", 8, 96, 1900),),
                            frozenset({"eastus", "eastus2", "southcentralus", "westus3", "westeurope",
                                       "swedencentral", "uksouth"})),
        "gcp": CloudOffer((
            _s("a3-highgpu-1g", 1, 26, 234, "nvidia-h100-80gb"), _s("a3-highgpu-2g", 2, 52, 468, "nvidia-h100-80gb"),
            _s("a3-highgpu-4g", 4, 104, 936, "nvidia-h100-80gb"), _s("a3-highgpu-8g", 8, 208, 1872, "nvidia-h100-80gb"),
        ), frozenset({"us-central1", "us-east4", "us-east5", "us-west1", "us-west4", "europe-west1",
                      "europe-west4", "asia-northeast1", "asia-southeast1"})),
    }),
}

GPU_TYPES: tuple[str, ...] = tuple(CATALOGUE)

# Bytes per parameter by precision, for the "does the model fit" check.
BYTES_PER_PARAM: dict[str, float] = {"fp32": 4.0, "fp16": 2.0, "bf16": 2.0, "fp8": 1.0, "int8": 1.0, "int4": 0.5}
# Weights are not all a server needs: KV cache, activations and CUDA context take roughly a fifth more.
SERVING_OVERHEAD = 1.2


def model_memory_gib(params_billion: float, precision: str) -> float:
    """GPU memory a model needs to serve: weights at `precision` plus runtime overhead."""
    return params_billion * 1e9 * BYTES_PER_PARAM[precision] * SERVING_OVERHEAD / 2**30


def lookup(gpu_type: str, cloud: str, gpus: int) -> MachineShape:
    """The machine shape for `gpus` x `gpu_type` on `cloud`; the spec has already checked it exists."""
    offer = CATALOGUE[gpu_type].offer(cloud)
    shape = offer.shape_for(gpus) if offer else None
    if shape is None:
        raise KeyError(f"{gpu_type} x{gpus} is not sold on {cloud}")
    return shape


# --- Capacity by zone ------------------------------------------------------------------------------------
# Zones that sell each GPU, where the cloud publishes it. GCP lists GPU zones per machine series on its
# "GPU regions and zones availability" page (cloud.google.com/compute/docs/gpus/gpu-regions-zones); the
# rows below were read from SkyPilot's catalogue of that data (skypilot-org/skypilot-catalog
# `catalogs/v8/gcp/vms.csv`: one row per machine type and zone; G2 = L4, A2 Standard = A100 40GB,
# A2 Ultra = A100 80GB, A3 High = H100 80GB). GKE refuses a node pool that spans a zone without the
# accelerator ("Accelerator type ... does not exist in zone ...", the 400 the field reports quote).
# AWS publishes per-zone offerings only through the EC2 API (`DescribeInstanceTypeOfferings` with
# `LocationType=availability-zone`), and zone names map to different physical zones per account, so no
# static table can hold them; Azure likewise only through `az vm list-skus --zone` (per subscription).
# Those clouds are not recorded here: zone checks apply where the table knows the GPU.
_GCP_L4_ZONES = (
    "asia-east1-a asia-east1-b asia-east1-c asia-northeast1-a asia-northeast1-b asia-northeast1-c "
    "asia-northeast3-a asia-northeast3-b asia-south1-a asia-south1-b asia-south1-c asia-southeast1-a "
    "asia-southeast1-b asia-southeast1-c europe-west1-b europe-west1-c europe-west2-a europe-west2-b "
    "europe-west3-a europe-west3-b europe-west4-a europe-west4-b europe-west4-c europe-west6-b europe-west6-c "
    "me-central2-a me-central2-c northamerica-northeast1-b northamerica-northeast1-c northamerica-northeast2-a "
    "northamerica-northeast2-b us-central1-a us-central1-b us-central1-c us-east1-b us-east1-c us-east1-d "
    "us-east4-a us-east4-c us-west1-a us-west1-b us-west1-c us-west4-a us-west4-c")
_GCP_A100_40_ZONES = (
    "asia-northeast1-a asia-northeast1-c asia-northeast3-a asia-northeast3-b asia-southeast1-a "
    "asia-southeast1-b asia-southeast1-c europe-west4-a europe-west4-b me-west1-a me-west1-c us-central1-a "
    "us-central1-b us-central1-c us-central1-f us-east1-b us-west1-b us-west3-b us-west4-b")
_GCP_A100_80_ZONES = "asia-southeast1-c europe-west4-a us-central1-a us-central1-c us-east4-c us-east5-a us-east5-b"
_GCP_H100_ZONES = (
    "asia-east1-c asia-northeast1-b asia-south1-c asia-south2-b asia-southeast1-b asia-southeast1-c "
    "australia-southeast1-c europe-north1-c europe-west1-b europe-west1-c europe-west3-c europe-west4-b "
    "europe-west4-c europe-west8-c europe-west9-c us-central1-a us-central1-b us-central1-c us-east4-a "
    "us-east4-b us-east4-c us-east5-a us-west1-a us-west1-b us-west4-a")

ZONES: dict[str, dict[str, frozenset[str]]] = {
    "gcp": {
        "nvidia-l4": frozenset(_GCP_L4_ZONES.split()),
        "nvidia-a100-40gb": frozenset(_GCP_A100_40_ZONES.split()),
        "nvidia-a100-80gb": frozenset(_GCP_A100_80_ZONES.split()),
        "nvidia-h100-80gb": frozenset(_GCP_H100_ZONES.split()),
    },
}


def zones_selling(cloud: str, gpu_type: str, region: str) -> frozenset[str] | None:
    """The zones of `region` that sell `gpu_type` on `cloud`; None when the catalogue does not record it."""
    known = ZONES.get(cloud, {}).get(gpu_type)
    if known is None:
        return None
    prefix = region + "-" if cloud == "gcp" else region
    return frozenset(z for z in known if z.startswith(prefix))
