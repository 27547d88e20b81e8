"""Every container image an environment pulls, and where it comes from.

Known upstream images (the default servers, the helper tools) reach the environment's registry through the
cloud's pull-through caches of their upstream registries (`cached_images`, `upstream_registries`); the team's
own images (custom runtimes, tool images no upstream publishes) are pushed by its CI (`pushed_images`). The
Kubernetes layer references them through `CloudFoundation.images`, or as `<registry_url>/<family>/<name>:<tag>`
without one; `repository_paths` lists those paths. Keeping the lists here, with no Pulumi import, keeps the
registries and the layer in step.
"""

from __future__ import annotations

from dataclasses import dataclass

from aienv import conventions as c
from aienv.spec.model import ModelEndpoint, Runtime, StackSpec

# Server images per runtime (upstreams in UPSTREAMS).
DEFAULT_SERVER_IMAGES: dict[Runtime, str] = {
    Runtime.vllm: "vllm-openai:v0.11.0",
    Runtime.triton: "tritonserver:25.09-py3",
}

# Feast release of the feature server and of `feast apply`.
FEAST_VERSION = "0.49.0"

# Helper images in the tools family: the object-store client per cloud, the drift job's and the model
# download's Python, the Feast server. Every tag is one the upstream documents or publishes:
# - aws-cli: AWS CLI user guide, "Running the official Amazon ECR Public or Docker images for the AWS CLI":
#   "We recommend using Amazon ECR Public over Docker Hub for AWS CLI images"; tags are CLI versions
#   (aws/aws-cli tag 2.31.13).
# - google-cloud-cli: GoogleCloudPlatform/cloud-sdk-docker README: `gcr.io/google.com/cloudsdktool/
#   google-cloud-cli`, "To install specific gcloud versions, use the `:VERSION-stable` tag" (the minimal
#   Debian image, since 2024-05).
# - azure-cli: Microsoft Learn, "How to run Azure CLI in a Docker container" (2025-06-20): "docker run -it
#   mcr.microsoft.com/azure-cli:2.74.0-azurelinux3.0". Azure has no documented AzCopy image, so blob copies
#   use `az storage blob ... --auth-mode login` after `az login --federated-token` (workload identity).
# - feature-server: Feast publishes it to quay.io since v0.47 (feast-dev/feast #5047 "Move release images
#   to quay.io"), built from `feast[minimal]` (AWS, GCP and Redis extras).
TOOL_IMAGES: dict[str, str] = {
    "aws": "aws-cli:2.31.13",
    "gcp": "google-cloud-cli:541.0.0-stable",
    "azure": "azure-cli:2.74.0-azurelinux3.0",
    "python": "python:3.12.11-slim",
    "feast": f"feature-server:{FEAST_VERSION}",
}

# Tool images no upstream publishes, which the team's CI builds and pushes to the tools family, per cloud.
# Feast's image lacks `feast[azure]` (azure-storage-blob, azure-identity), which its AzureRegistryStore needs
# (feast/infra/registry/contrib/azure/azure_registry_store.py raises FeastExtrasDependencyImportError("az")):
# on Azure CI builds `FROM quay.io/feastdev/feature-server:<version>` + `pip install "feast[azure]==<version>"`.
PUSHED_TOOL_IMAGES: dict[str, dict[str, str]] = {
    "azure": {"feast": f"feature-server-azure:{FEAST_VERSION}"},
}


def cloud_tool_images(cloud: str) -> dict[str, tuple[str, str]]:
    """(supply, image) of every helper image on `cloud`, by tool (`object-store`, `python`, `feast`)."""
    return {tool: tool_image(cloud, tool) for tool in ("object-store", "python", "feast")}


def tool_image(cloud: str, tool: str) -> tuple[str, str]:
    """(`cache` | `ci`, image) of a helper image on `cloud`; `tool` is a key of TOOL_IMAGES or `object-store`."""
    key = cloud if tool == "object-store" else tool
    pushed = PUSHED_TOOL_IMAGES.get(cloud, {}).get(key)
    return ("ci", pushed) if pushed else ("cache", TOOL_IMAGES[key])


@dataclass(frozen=True)
class UpstreamImage:
    """An image the environment pulls through a cache of its upstream registry.

    `registry` is the upstream host (`docker.io`, `nvcr.io`, ...), `repository` the path there
    (`vllm/vllm-openai`, `library/python`), `reference` `:tag` or `@sha256:...`.
    """

    registry: str
    repository: str
    reference: str

    @property
    def upstream_ref(self) -> str:
        return f"{self.registry}/{self.repository}{self.reference}"


# Where the images aienv knows come from: image name (as in the spec and the tables above) -> (registry, path).
UPSTREAMS: dict[str, tuple[str, str]] = {
    "vllm-openai": ("docker.io", "vllm/vllm-openai"),
    "tritonserver": ("nvcr.io", "nvidia/tritonserver"),
    "aws-cli": ("public.ecr.aws", "aws-cli/aws-cli"),
    "google-cloud-cli": ("gcr.io", "google.com/cloudsdktool/google-cloud-cli"),
    "azure-cli": ("mcr.microsoft.com", "azure-cli"),
    "python": ("docker.io", "library/python"),
    "feature-server": ("quay.io", "feastdev/feature-server"),
}


def image_reference(image: str) -> str:
    """`:tag` or `@sha256:...` of `name:tag` / `name@sha256:...`."""
    if "@" in image:
        return "@" + image.split("@", 1)[1]
    last = image.split("/")[-1]
    return ":" + last.rsplit(":", 1)[1] if ":" in last else ""


def upstream_image(image: str) -> UpstreamImage | None:
    """The upstream of a known image (`vllm-openai:v0.11.0`), None for an image aienv does not know."""
    known = UPSTREAMS.get(image_name(image))
    return UpstreamImage(known[0], known[1], image_reference(image)) if known else None


def image_name(image: str) -> str:
    """`name` of `name:tag` / `name@sha256:...` / `path/name:tag` (the path inside the family)."""
    return image.split("@", 1)[0].rsplit(":", 1)[0] if ":" in image.split("/")[-1] else image.split("@", 1)[0]


def endpoint_images(endpoint: ModelEndpoint) -> list[str]:
    """The stable image and, when it differs, the canary's (None for a custom runtime without image)."""
    stable = endpoint.image or DEFAULT_SERVER_IMAGES.get(endpoint.runtime)
    images = [stable] if stable else []
    if endpoint.canary is not None and endpoint.canary.image and endpoint.canary.image not in images:
        images.append(endpoint.canary.image)
    return images


def repository_paths(spec: StackSpec) -> list[str]:
    """`<family>/<name>` of every image the environment pulls, in a stable order without repeats."""
    paths: list[str] = []

    def add(family: str, image: str) -> None:
        path = f"{family}/{image_name(image)}"
        if path not in paths:
            paths.append(path)

    for endpoint in spec.model_endpoints:
        for image in endpoint_images(endpoint):
            add(endpoint.family, image)
    for _supply, image in tool_images(spec):
        add(c.TOOLS_FAMILY, image)
    for family in spec.registries.container.image_families:  # extra repositories the spec asks for
        if family not in paths:
            paths.append(family)
    return paths


def cached_images(spec: StackSpec) -> list[UpstreamImage]:
    """Every upstream image the environment pulls through its registry's caches, without repeats."""
    images: list[str] = []
    for endpoint in spec.model_endpoints:
        if endpoint.supply == "cache":
            images.extend(endpoint_images(endpoint))
    images.extend(image for supply, image in tool_images(spec) if supply == "cache")
    out: list[UpstreamImage] = []
    for image in images:
        up = upstream_image(image)
        if up is not None and up not in out:
            out.append(up)
    return out


def upstream_registries(spec: StackSpec) -> list[str]:
    """The upstream registry hosts the environment's caches must cover, in a stable order."""
    return list(dict.fromkeys(i.registry for i in cached_images(spec)))


# Upstreams an Azure Container Registry cache rule can pull from, and whether it takes credentials for them
# (Microsoft, *Artifact cache in Azure Container Registry*, "Upstream support": Docker Hub, GitHub Container
# Registry, Nvidia, Quay, registry.k8s.io and Google Container Registry "support both authenticated pulls and
# unauthenticated pulls"; Microsoft Artifact Registry and ECR Public "support unauthenticated pulls only").
ACR_CACHE_UPSTREAMS: dict[str, bool] = {
    "docker.io": True, "ghcr.io": True, "nvcr.io": True, "quay.io": True, "registry.k8s.io": True,
    "gcr.io": True, "mcr.microsoft.com": False, "public.ecr.aws": False,
}
# Upstreams ACR should never pull anonymously: Docker Hub limits anonymous pulls per source address, and the
# cache pulls from shared Azure addresses ("We recommend authenticating your cache rules with your upstream
# source credentials", same page).
ACR_CACHE_NEEDS_CREDENTIALS: frozenset[str] = frozenset({"docker.io"})


def tool_images(spec: StackSpec) -> list[tuple[str, str]]:
    """(supply, image) of every helper image the environment runs: the object-store client always, Python for
    the drift jobs and model downloads, Feast with the feature store."""
    cloud = spec.cloud.provider
    tools = ["object-store", *(["python"] if spec.model_endpoints else []),
             *(["feast"] if spec.feature_store.enabled else [])]
    return [tool_image(cloud, tool) for tool in tools]


def pushed_images(spec: StackSpec) -> list[tuple[str, str]]:
    """(family, image) of every image the team's CI pushes (custom runtimes, unpublished tool images)."""
    out: list[tuple[str, str]] = []
    for endpoint in spec.model_endpoints:
        if endpoint.supply == "ci":
            out.extend((endpoint.family, image) for image in endpoint_images(endpoint))
    out.extend((c.TOOLS_FAMILY, image) for supply, image in tool_images(spec) if supply == "ci")
    return list(dict.fromkeys(out))
