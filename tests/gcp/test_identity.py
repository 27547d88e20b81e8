"""Identity: one GSA per workload, impersonable only by its KSA, with roles on exact resources; `broad`
swaps them for project-wide read roles (never Editor/Owner)."""

from __future__ import annotations

import pytest

from aienv.workloads import workloads
from components.gcp.identity import BROAD_ROLES, account_id
from tests.gcp.gcpplan import inputs, plan_gcp, prod_spec, variant

ACCOUNT = "gcp:serviceaccount/account:Account"
SA_MEMBER = "gcp:serviceaccount/iAMMember:IAMMember"
PROJECT_MEMBER = "gcp:projects/iAMMember:IAMMember"
BUCKET_MEMBER = "gcp:storage/bucketIAMMember:BucketIAMMember"


def identity_children(plan, type_):
    return [r for r in plan.children_of("aienv:gcp:Identity") if r.type == type_]


def test_one_service_account_per_workload_bound_to_exactly_its_ksa(prod):
    spec = prod_spec()
    wls = workloads(spec)
    accounts = {inputs(a)["accountId"] for a in identity_children(prod, ACCOUNT)}
    assert accounts == {account_id(spec, w) for w in wls}
    members = sorted(inputs(m)["member"] for m in identity_children(prod, SA_MEMBER))
    assert members == sorted(f"serviceAccount:acme-ml-prod.svc.id.goog[{w.namespace}/{w.service_account}]"
                             for w in wls)
    assert {inputs(m)["role"] for m in identity_children(prod, SA_MEMBER)} == {"roles/iam.workloadIdentityUser"}


def test_account_ids_fit_gcp_limits():
    spec = variant(lambda s: setattr(s, "name", "a-very-long-environment-name-for-tests"))
    for w in workloads(spec):
        ident = account_id(spec, w)
        assert 6 <= len(ident) <= 30 and ident[0].isalpha() and not ident.endswith("-")


def test_scoped_grants_are_on_exact_resources(prod):
    assert not identity_children(prod, PROJECT_MEMBER)
    buckets = {inputs(b)["name"]: b.name.split("-storage-")[1] for b in prod.of_type("gcp:storage/bucket:Bucket")}
    grants = {(m.name.split("-identity-")[1], buckets[inputs(m)["bucket"]], inputs(m)["role"])
              for m in identity_children(prod, BUCKET_MEMBER)}
    assert ("serving-chat-model-artifacts", "model-artifacts", "roles/storage.objectViewer") in grants
    assert ("drift-chat-logs", "logs", "roles/storage.objectCreator") in grants
    # serving never reads training data, drift never writes models
    assert not [g for g in grants if g[0].startswith("serving-") and g[1] != "model-artifacts"]
    assert not [g for g in grants if g[2] not in ("roles/storage.objectViewer", "roles/storage.objectCreator")]
    pulls = [inputs(m) for m in prod.of_type("gcp:artifactregistry/repositoryIamMember:RepositoryIamMember")]
    assert all(p["role"] == "roles/artifactregistry.reader" for p in pulls)
    fv = inputs(prod.one("gcp:vertex/aiFeatureOnlineStoreFeatureviewIamMember:AiFeatureOnlineStoreFeatureviewIamMember"))
    assert fv["featureView"] == "transaction_stats"


def test_broad_permissions_grant_project_wide_read_only():
    plan = plan_gcp(variant(lambda s: setattr(s.security, "workload_permissions", "broad")), "broad")
    roles = [inputs(m)["role"] for m in identity_children(plan, PROJECT_MEMBER)]
    assert set(roles) == set(BROAD_ROLES)
    assert len(roles) == len(BROAD_ROLES) * len(workloads(prod_spec()))
    assert not {"roles/editor", "roles/owner"} & set(roles)
    viewer = [m for m in identity_children(plan, BUCKET_MEMBER) if inputs(m)["role"] == "roles/storage.objectViewer"]
    assert not viewer  # replaced by the project-wide read


def test_binder_annotates_with_the_gsa_and_rejects_unknown_workloads(prod):
    binder = prod.foundation.outputs.binder
    wl = workloads(prod_spec())[0]
    bound = binder.bind(wl)
    assert set(bound.service_account_annotations) == {"iam.gke.io/gcp-service-account"}
    with pytest.raises(KeyError):
        binder.bind(type(wl)("nope", "serving", "x", "y"))
