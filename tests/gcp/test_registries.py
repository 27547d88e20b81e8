"""Registries: CMEK Docker repository (CI) with immutable tags and scanning, a CMEK remote repository per
upstream registry, the ImageSource pods pull through; Vertex AI model metadata with CMEK."""

from __future__ import annotations

from aienv.images import UpstreamImage, cached_images, upstream_registries
from aienv.spec.model import UpstreamRegistry
from tests.gcp.gcpplan import inputs, plan_gcp, prod_spec, variant

REPO = "gcp:artifactregistry/repository:Repository"
CI = "-images"
METADATA = "gcp:vertex/aiMetadataStore:AiMetadataStore"


def test_repository_is_encrypted_immutable_scanned_and_protected(prod):
    repo = prod.one(REPO, CI)
    r = inputs(repo)
    assert r["format"] == "DOCKER" and r["location"] == "europe-west4"
    assert r["kmsKeyName"].endswith("/cryptoKeys/registry")
    assert r["dockerConfig"] == {"immutableTags": True}
    assert r["vulnerabilityScanningConfig"] == {"enablementConfig": "INHERITED"}
    assert repo.protect and r["deletionPolicy"] == "PREVENT"
    members = [inputs(m)["member"] for m in prod.of_type("gcp:artifactregistry/repositoryIamMember:RepositoryIamMember")]
    assert members and not {"allUsers", "allAuthenticatedUsers"} & set(members)


def test_registry_url_is_the_regional_docker_host(prod):
    assert prod.outputs["registryUrl"] == "europe-west4-docker.pkg.dev/acme-ml-prod/prod-gcp-images"


def test_mutable_tags_and_no_scanning_follow_the_spec():
    def edit(s):
        s.registries.container.immutable_tags = False
        s.registries.container.scan_on_push = False
    r = inputs(plan_gcp(variant(edit), "mutable-registry").one(REPO, CI))
    assert r["dockerConfig"] == {"immutableTags": False}
    assert r["vulnerabilityScanningConfig"] == {"enablementConfig": "DISABLED"}


def test_model_registry_metadata_store_uses_the_vertex_key(prod):
    store = prod.one(METADATA)
    assert inputs(store)["encryptionSpec"]["kmsKeyName"].endswith("/cryptoKeys/vertex")
    assert inputs(store)["region"] == "europe-west4" and store.protect


def test_model_registry_off_drops_the_metadata_store():
    plan = plan_gcp(variant(lambda s: setattr(s.registries, "model_registry", False)), "no-model-registry")
    assert not plan.of_type(METADATA)


def remotes(plan):
    return {inputs(r)["remoteRepositoryConfig"]["description"]: r for r in plan.of_type(REPO)
            if inputs(r)["mode"] == "REMOTE_REPOSITORY"}


def test_one_cmek_remote_repository_per_upstream_registry(prod):
    # Bring-up 2: every upstream image the stack runs reaches the registry through a cache the stack creates.
    spec = prod_spec()
    caches = remotes(prod)
    assert set(caches) == set(upstream_registries(spec)) == {"docker.io", "gcr.io", "quay.io"}
    docker = inputs(caches["docker.io"])
    assert docker["repositoryId"] == "prod-gcp-docker-io" and docker["format"] == "DOCKER"
    assert docker["remoteRepositoryConfig"]["dockerRepository"] == {"publicRepository": "DOCKER_HUB"}
    assert docker["kmsKeyName"].endswith("/cryptoKeys/registry")
    assert docker["vulnerabilityScanningConfig"] == {"enablementConfig": "INHERITED"}
    assert caches["docker.io"].protect
    # The node identity (kubelet) pulls from the cache too.
    pulls = {inputs(m)["repository"] for m in prod.of_type(
        "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember")}
    assert pulls == {"prod-gcp-images", *(inputs(c)["repositoryId"] for c in caches.values())}


def test_image_references_go_through_the_cache_and_keep_digests(prod):
    images = prod.foundation.outputs.images
    assert images is not None
    vllm = next(i for i in cached_images(prod_spec()) if i.repository == "vllm/vllm-openai")
    assert images.cached(vllm) == "europe-west4-docker.pkg.dev/acme-ml-prod/prod-gcp-docker-io/vllm/vllm-openai" + \
        vllm.reference
    pinned = UpstreamImage("docker.io", "library/python", "@sha256:" + "a" * 64)
    assert images.cached(pinned).endswith("/prod-gcp-docker-io/library/python@sha256:" + "a" * 64)


def test_ngc_upstream_with_credentials_reads_only_its_secret_version():
    def edit(s):
        s.model_endpoints[0].runtime = type(s.model_endpoints[0].runtime)("triton")
        s.registries.upstreams = {"nvcr.io": UpstreamRegistry(
            secret="projects/acme-ml-prod/secrets/ngc-api-key/versions/3")}
    plan = plan_gcp(variant(edit), "ngc-cache")
    ngc = inputs(remotes(plan)["nvcr.io"])
    assert ngc["remoteRepositoryConfig"]["commonRepository"] == {"uri": "https://nvcr.io"}
    creds = ngc["remoteRepositoryConfig"]["upstreamCredentials"]["usernamePasswordCredentials"]
    assert creds == {"username": "$oauthtoken",
                     "passwordSecretVersion": "projects/acme-ml-prod/secrets/ngc-api-key/versions/3"}
    grant = [inputs(m) for m in plan.of_type("gcp:secretmanager/secretIamMember:SecretIamMember")
             if m.name.endswith("-credential")]
    assert grant == [{"secretId": "projects/acme-ml-prod/secrets/ngc-api-key",
                      "role": "roles/secretmanager.secretAccessor",
                      "member": "serviceAccount:service-123456789012@gcp-sa-artifactregistry.iam.gserviceaccount.com"}]


def test_ci_images_come_from_the_standard_repository(prod):
    ref = prod.foundation.outputs.images.pushed("fraud", "fraud-scorer:2.4.1")
    assert ref == f"{prod.outputs['registryUrl']}/fraud/fraud-scorer:2.4.1"


def test_ci_repository_is_labelled_as_filled_by_ci(prod):
    assert inputs(prod.one(REPO, CI))["labels"]["aienv-image-supply"] == "ci"  # fraud's image comes from CI
    plan = plan_gcp(variant(lambda s: s.model_endpoints.pop(2)), "no-ci-endpoint")
    assert "aienv-image-supply" not in inputs(plan.one(REPO, CI))["labels"]
