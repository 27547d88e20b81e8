"""`aienv:gcp:Registries`: the Artifact Registry Docker repository the team's CI pushes to, one remote
repository (a pull-through cache) per upstream registry the environment's images come from, the `ImageSource`
pods pull through, and what the Vertex AI Model Registry needs (its region's CMEK-encrypted metadata store;
the model bucket comes from Storage)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
from pulumi_gcp import artifactregistry, secretmanager, vertex

from aienv.images import UpstreamImage, upstream_registries
from aienv.naming import GCP_CACHE_CREDENTIALS_REQUIRED
from aienv.spec.model import StackSpec
from components.gcp import common
from components.propagation import propagation_wait

DOCKER_HUB = "docker.io"
# Docker Hub is a preset upstream (anonymous pulls work within its rate limit: "We recommend authenticating to
# Docker Hub even if you are only using public images", artifact-registry/docs/docker/configure-remote-auth-
# docker-hub); every other registry is a user-defined upstream (`aienv.naming.GCP_CACHE_CREDENTIALS_REQUIRED`).


def remote_repository_id(spec: StackSpec, host: str) -> str:
    """`<env>-<host>` (Artifact Registry ids: lowercase letters, digits and hyphens, at most 63 characters)."""
    return f"{spec.name}-{host.replace('.', '-')}"[:63].rstrip("-")


IMAGE_SUPPLY_LABEL = "aienv-image-supply"


def ci_families(spec: StackSpec) -> list[str]:
    """The image families the team's CI pushes (endpoints with `image_supply: ci`)."""
    return list(dict.fromkeys(e.family for e in spec.model_endpoints if e.supply == "ci"))


def ci_repository_id(spec: StackSpec) -> str:
    return f"{spec.name}-images"


def secret_of_version(version: str) -> str:
    """`projects/<p>/secrets/<s>` of `projects/<p>/secrets/<s>/versions/<v>`."""
    return "/".join(version.split("/")[:4])


@dataclass(frozen=True)
class GcpImages:
    """The `ImageSource` of an environment: upstream images through their remote repository, the team's own
    images from the standard repository its CI pushes to. References keep the spec's tag or digest."""

    registry_host: str  # <region>-docker.pkg.dev
    project: str
    remotes: Mapping[str, str]  # upstream host -> remote repository id
    ci_repository: str  # the standard repository's id

    def cached(self, image: UpstreamImage) -> pulumi.Input[str]:
        return f"{self.registry_host}/{self.project}/{self.remotes[image.registry]}/{image.repository}{image.reference}"

    def pushed(self, family: str, image: str) -> pulumi.Input[str]:
        return f"{self.registry_host}/{self.project}/{self.ci_repository}/{family}/{image}"


@dataclass(frozen=True)
class RegistriesArgs:
    spec: StackSpec
    keys: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    after: Sequence[pulumi.Resource] = ()
    project_number: pulumi.Input[str] = ""  # names the Artifact Registry agent that reads upstream credentials


class Registries(pulumi.ComponentResource):
    repository: artifactregistry.Repository
    remotes: dict[str, artifactregistry.Repository]  # upstream host -> remote repository
    registry_url: pulumi.Output[str]  # <region>-docker.pkg.dev/<project>/<repository>
    images: GcpImages

    def __init__(self, name: str, args: RegistriesArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aienv:gcp:Registries", name, None, opts)
        spec = args.spec
        protect = spec.security.deletion_protection
        container = spec.registries.container
        families = spec.image_families()

        # One repository; each image family (spec.image_families()) is an image path inside it.
        self.repository = artifactregistry.Repository(f"{name}-images", artifactregistry.RepositoryArgs(
            repository_id=ci_repository_id(spec), format="DOCKER", location=spec.region,
            project=spec.cloud.project, mode="STANDARD_REPOSITORY",
            description="Serving images: " + (", ".join(families) or "none yet"),
            kms_key_name=args.keys.get(common.KEY_REGISTRY),
            docker_config=artifactregistry.RepositoryDockerConfigArgs(immutable_tags=container.immutable_tags),
            vulnerability_scanning_config=artifactregistry.RepositoryVulnerabilityScanningConfigArgs(
                enablement_config="INHERITED" if container.scan_on_push else "DISABLED"),
            deletion_policy="PREVENT" if protect else "DELETE",
            # Filled by the team's CI (the `ci` endpoints' images); the deployability pack reads the label.
            labels=common.labels(spec, {IMAGE_SUPPLY_LABEL: "ci"} if ci_families(spec) else None)),
            pulumi.ResourceOptions(parent=self, protect=protect, retain_on_delete=protect,
                                   depends_on=list(args.after), delete_before_replace=True))
        self.registry_url = pulumi.Output.concat(
            spec.region, "-docker.pkg.dev/", spec.cloud.project or "", "/", self.repository.repository_id)

        hosts = upstream_registries(spec)
        grants = {host: self._credential_grant(name, spec, host, args) for host in hosts
                  if host in spec.registries.upstreams}
        # Artifact Registry validates a remote repository's upstream credentials when it creates it ("If true, the
        # remote repository upstream and upstream credentials will not be validated", pulumi-gcp
        # `RepositoryRemoteRepositoryConfigArgs.disable_upstream_validation`; "We recently added auth validation
        # when creating Docker remote repos", hashicorp/terraform-provider-google#17589), reading the secret version
        # as its service agent, so that agent's grant must be enforced by then: "Changes to allow or deny policies
        # typically propagate in 2 minutes" (cloud.google.com/iam/docs/access-change-propagation). One wait for all.
        readable = propagation_wait(f"{name}-credentials-propagated", list(grants.values()),
                                    seconds=common.IAM_PROPAGATION_SECONDS, parent=self)
        self.remotes = {host: self._cache(name, spec, host, args, readable if host in grants else [])
                        for host in hosts}
        self.images = GcpImages(registry_host=f"{spec.region}-docker.pkg.dev", project=spec.cloud.project or "",
                                remotes={h: remote_repository_id(spec, h) for h in self.remotes},
                                ci_repository=ci_repository_id(spec))

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
                               "remoteRepositories": {h: r.id for h, r in self.remotes.items()},
                               "modelMetadataStore": self.metadata_store.id if self.metadata_store else None})

    def _credential_grant(self, name: str, spec: StackSpec, host: str,
                          args: RegistriesArgs) -> secretmanager.SecretIamMember:
        """Read of `host`'s upstream credential secret for the Artifact Registry service agent: "To allow the
        service agent to use secrets stored in Secret Manager, you must grant the service agent permission to view
        your secret version." (artifact-registry/docs/repositories/configure-remote-authentication)"""
        creds = spec.registries.upstreams[host]
        agent = common.agent_email("artifactregistry", args.project_number).apply(lambda e: f"serviceAccount:{e}")
        return secretmanager.SecretIamMember(f"{name}-{host.replace('.', '-')}-credential",
            secretmanager.SecretIamMemberArgs(secret_id=secret_of_version(creds.secret),
                                              role="roles/secretmanager.secretAccessor", member=agent),
            pulumi.ResourceOptions(parent=self, depends_on=list(args.after)))

    def _cache(self, name: str, spec: StackSpec, host: str, args: RegistriesArgs,
               readable: list[pulumi.Resource]) -> artifactregistry.Repository:
        """A remote repository caching `host`, CMEK-encrypted and scanned like the standard one; credentials
        only as a Secret Manager version the spec names, read by the Artifact Registry service agent once its
        grant has propagated (`readable`)."""
        protect = spec.security.deletion_protection
        creds = spec.registries.upstreams.get(host)
        upstream = None
        if creds is not None:
            upstream = artifactregistry.RepositoryRemoteRepositoryConfigUpstreamCredentialsArgs(
                username_password_credentials=artifactregistry.
                RepositoryRemoteRepositoryConfigUpstreamCredentialsUsernamePasswordCredentialsArgs(
                    username=creds.username or GCP_CACHE_CREDENTIALS_REQUIRED.get(host),
                    password_secret_version=creds.secret))
        if host == DOCKER_HUB:
            docker = artifactregistry.RepositoryRemoteRepositoryConfigDockerRepositoryArgs(public_repository="DOCKER_HUB")
            common_repo = None
        else:
            docker = None
            common_repo = artifactregistry.RepositoryRemoteRepositoryConfigCommonRepositoryArgs(uri=f"https://{host}")
        return artifactregistry.Repository(f"{name}-cache-{host.replace('.', '-')}", artifactregistry.RepositoryArgs(
            repository_id=remote_repository_id(spec, host), format="DOCKER", location=spec.region,
            project=spec.cloud.project, mode="REMOTE_REPOSITORY", description=f"Pull-through cache of {host}",
            remote_repository_config=artifactregistry.RepositoryRemoteRepositoryConfigArgs(
                description=host, docker_repository=docker, common_repository=common_repo,
                upstream_credentials=upstream),
            kms_key_name=args.keys.get(common.KEY_REGISTRY),
            vulnerability_scanning_config=artifactregistry.RepositoryVulnerabilityScanningConfigArgs(
                enablement_config="INHERITED" if spec.registries.container.scan_on_push else "DISABLED"),
            deletion_policy="PREVENT" if protect else "DELETE", labels=common.labels(spec, {"upstream": host})),
            pulumi.ResourceOptions(parent=self, protect=protect, retain_on_delete=protect,
                                   depends_on=[*args.after, *readable], delete_before_replace=True))
