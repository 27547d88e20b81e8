"""IAM grants a Google service checks when it creates a resource are waited for until they have propagated, not
only ordered (field report A14): users -> one Sleep -> the grants."""

from __future__ import annotations

from aienv.spec.model import UpstreamRegistry
from components.gcp.common import IAM_PROPAGATION_SECONDS
from tests.gcp.gcpplan import GcpPlan, inputs, plan_gcp, variant
from tests.plans import ancestors

SLEEP = "time:index/sleep:Sleep"
KEY = "gcp:kms/cryptoKey:CryptoKey"
KEY_GRANT = "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember"
SECRET_GRANT = "gcp:secretmanager/secretIamMember:SecretIamMember"
REPO = "gcp:artifactregistry/repository:Repository"
# The resources of prod-gcp a service creates with a customer-managed key, checking the grant as it does.
CMEK_USERS = {
    "gcp:storage/bucket:Bucket", REPO, "gcp:vertex/aiMetadataStore:AiMetadataStore", "gcp:bigquery/dataset:Dataset",
    "gcp:bigquery/table:Table", "gcp:redis/instance:Instance", "gcp:container/cluster:Cluster",
    "gcp:container/nodePool:NodePool",
}


def sleeps_in(plan: GcpPlan, component: str) -> list:
    return [s for s in plan.children_of(component) if s.type == SLEEP]


def test_every_cmek_user_waits_for_the_key_grants_to_propagate(prod):
    (sleep,) = sleeps_in(prod, "aienv:gcp:Keys")
    assert inputs(sleep)["createDuration"] == f"{IAM_PROPAGATION_SECONDS}s" == "120s"
    grants = {g.urn for g in prod.of_type(KEY_GRANT)}
    assert len(grants) == 7 and set(sleep.dependencies) == grants
    keys = {k.urn for k in prod.of_type(KEY)}
    users = [r for r in prod.resources if r.custom and r.type not in (KEY_GRANT, SLEEP)
             and keys & {d for ds in r.property_dependencies.values() for d in ds}]
    assert {r.type for r in users} >= CMEK_USERS
    for user in users:
        assert sleep.urn in ancestors(prod, user.urn), f"{user.name} ({user.type}) does not wait for the grants"
    # The encrypted resources wait on the Sleep itself (ordering on the grants alone is not enough).
    for user in users:
        if user.type in CMEK_USERS - {"gcp:container/nodePool:NodePool", "gcp:bigquery/table:Table"}:
            assert sleep.urn in user.dependencies, user.name


def test_provider_managed_encryption_has_no_key_wait():
    plain = plan_gcp(variant(lambda s: setattr(s.security, "encryption", "provider_managed")), "provider-managed")
    assert not sleeps_in(plain, "aienv:gcp:Keys") and not plain.of_type(SLEEP)


def ngc_cache() -> GcpPlan:
    def edit(s):
        s.model_endpoints[0].runtime = type(s.model_endpoints[0].runtime)("triton")
        s.registries.upstreams = {"nvcr.io": UpstreamRegistry(
            secret="projects/acme-ml-prod/secrets/ngc-api-key/versions/3")}
    return plan_gcp(variant(edit), "ngc-cache")


def test_a_remote_repository_waits_for_its_credential_grant_to_propagate():
    plan = ngc_cache()
    (sleep,) = sleeps_in(plan, "aienv:gcp:Registries")
    assert inputs(sleep)["createDuration"] == "120s"
    (grant,) = [g for g in plan.of_type(SECRET_GRANT) if g.name.endswith("-credential")]
    assert sleep.dependencies == [grant.urn]
    remotes = {inputs(r)["remoteRepositoryConfig"]["description"]: r for r in plan.of_type(REPO)
               if inputs(r).get("mode") == "REMOTE_REPOSITORY"}
    assert sleep.urn in remotes["nvcr.io"].dependencies
    # Docker Hub is pulled anonymously here: no credential, nothing to wait for.
    assert sleep.urn not in remotes["docker.io"].dependencies


def test_no_upstream_credentials_no_credential_wait(prod):
    assert not sleeps_in(prod, "aienv:gcp:Registries")


def test_feature_groups_wait_for_the_vertex_agents_read_grant(prod):
    (reader,) = [r for r in prod.resources if r.name.endswith("-offline-vertex-reader")]
    groups = prod.of_type("gcp:vertex/aiFeatureGroup:AiFeatureGroup")
    assert groups and all(reader.urn in g.dependencies for g in groups)
