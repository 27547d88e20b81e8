"""`aienv:gcp:Registries`: the Artifact Registry Docker repository for serving images, and what the Vertex AI
Model Registry needs (its region's CMEK-encrypted metadata store; the model bucket comes from Storage)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
from pulumi_gcp import artifactregistry, vertex

from aienv.spec.model import StackSpec
from components.gcp import common


@dataclass(frozen=True)
class RegistriesArgs:
    spec: StackSpec
    keys: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    after: Sequence[pulumi.Resource] = ()


class Registries(pulumi.ComponentResource):
    repository: artifactregistry.Repository
    registry_url: pulumi.Output[str]  # <region>-docker.pkg.dev/<project>/<repository>

    def __init__(self, name: str, args: RegistriesArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aienv:gcp:Registries", name, None, opts)
        spec = args.spec
        protect = spec.security.deletion_protection
        container = spec.registries.container
        families = spec.image_families()

        # One repository; each image family (spec.image_families()) is an image path inside it.
        self.repository = artifactregistry.Repository(f"{name}-images", artifactregistry.RepositoryArgs(
            repository_id=f"{spec.name}-images", format="DOCKER", location=spec.region,
            project=spec.cloud.project, mode="STANDARD_REPOSITORY",
            description="Serving images: " + (", ".join(families) or "none yet"),
            kms_key_name=args.keys.get(common.KEY_REGISTRY),
            docker_config=artifactregistry.RepositoryDockerConfigArgs(immutable_tags=container.immutable_tags),
            vulnerability_scanning_config=artifactregistry.RepositoryVulnerabilityScanningConfigArgs(
                enablement_config="INHERITED" if container.scan_on_push else "DISABLED"),
            deletion_policy="PREVENT" if protect else "DELETE",
            labels=common.labels(spec)),
            pulumi.ResourceOptions(parent=self, protect=protect, retain_on_delete=protect,
                                   depends_on=list(args.after), delete_before_replace=True))
        self.registry_url = pulumi.Output.concat(
            spec.region, "-docker.pkg.dev/", spec.cloud.project or "", "/", self.repository.repository_id)

        # Vertex AI Model Registry has no resource of its own: models live in the region and their
        # artifacts in the model bucket. The regional metadata store (model lineage) gets the Vertex key.
        self.metadata_store: vertex.AiMetadataStore | None = None
        if spec.registries.model_registry:
            key = args.keys.get(common.KEY_VERTEX)
            self.metadata_store = vertex.AiMetadataStore(f"{name}-model-metadata", vertex.AiMetadataStoreArgs(
                name="default", region=spec.region, project=spec.cloud.project,
                description=f"aienv {spec.name} model lineage",
                encryption_spec=vertex.AiMetadataStoreEncryptionSpecArgs(kms_key_name=key)
                if key is not None else None,
                deletion_policy="PREVENT" if protect else "DELETE"),
                pulumi.ResourceOptions(parent=self, protect=protect, retain_on_delete=protect,
                                       depends_on=list(args.after)))

        self.register_outputs({"registryUrl": self.registry_url, "repository": self.repository.id,
                               "modelMetadataStore": self.metadata_store.id if self.metadata_store else None})
