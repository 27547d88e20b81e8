"""Every container image an environment pulls, as `<family>/<name>` paths in its own registry.

The Kubernetes layer references `<registry_url>/<family>/<name>:<tag>`; the registries create what those
paths need (ECR has one repository per image path, Artifact Registry and ACR take nested paths in one
registry). Keeping the list here, with no Pulumi import, keeps both sides in step.
"""

from __future__ import annotations

from dataclasses import dataclass

from aienv import conventions as c
from aienv.spec.model import ModelEndpoint, Runtime, StackSpec

# Server images per runtime (mirrored from vllm/vllm-openai and nvcr.io/nvidia/tritonserver).
DEFAULT_SERVER_IMAGES: dict[Runtime, str] = {
    Runtime.vllm: "vllm-openai:v0.11.0",
    Runtime.triton: "tritonserver:25.09-py3",
}

# Helper images in the tools family: bucket sync per cloud, the drift job's Python, the Feast server.
TOOL_IMAGES: dict[str, str] = {
    "aws": "aws-cli:2.31.13",
    "gcp": "cloud-sdk:541.0.0-slim",
    "azure": "azcopy:10.30.1",
    "python": "python:3.12.11-slim",
    "feast": "feature-server:0.49.0",
}


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
    "cloud-sdk": ("docker.io", "google/cloud-sdk"),
    "python": ("docker.io", "library/python"),
    "feature-server": ("docker.io", "feastdev/feature-server"),
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
    cloud = spec.cloud.provider
    add(c.TOOLS_FAMILY, TOOL_IMAGES[cloud])
    if spec.model_endpoints:
        add(c.TOOLS_FAMILY, TOOL_IMAGES["python"])
    if spec.feature_store.enabled:
        add(c.TOOLS_FAMILY, TOOL_IMAGES["feast"])
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
    images.append(TOOL_IMAGES[spec.cloud.provider])
    if spec.model_endpoints:
        images.append(TOOL_IMAGES["python"])
    if spec.feature_store.enabled:
        images.append(TOOL_IMAGES["feast"])
    out: list[UpstreamImage] = []
    for image in images:
        up = upstream_image(image)
        if up is not None and up not in out:
            out.append(up)
    return out


def upstream_registries(spec: StackSpec) -> list[str]:
    """The upstream registry hosts the environment's caches must cover, in a stable order."""
    return list(dict.fromkeys(i.registry for i in cached_images(spec)))
