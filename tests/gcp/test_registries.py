"""Registries: CMEK Docker repository with immutable tags and scanning; Vertex AI model metadata with CMEK."""

from __future__ import annotations

from tests.gcp.gcpplan import inputs, plan_gcp, variant

REPO = "gcp:artifactregistry/repository:Repository"
METADATA = "gcp:vertex/aiMetadataStore:AiMetadataStore"


def test_repository_is_encrypted_immutable_scanned_and_protected(prod):
    repo = prod.one(REPO)
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
    r = inputs(plan_gcp(variant(edit), "mutable-registry").one(REPO))
    assert r["dockerConfig"] == {"immutableTags": False}
    assert r["vulnerabilityScanningConfig"] == {"enablementConfig": "DISABLED"}


def test_model_registry_metadata_store_uses_the_vertex_key(prod):
    store = prod.one(METADATA)
    assert inputs(store)["encryptionSpec"]["kmsKeyName"].endswith("/cryptoKeys/vertex")
    assert inputs(store)["region"] == "europe-west4" and store.protect


def test_model_registry_off_drops_the_metadata_store():
    plan = plan_gcp(variant(lambda s: setattr(s.registries, "model_registry", False)), "no-model-registry")
    assert not plan.of_type(METADATA)
