"""Identity: one GSA per workload, impersonable only by its KSA, with roles on exact resources; `broad`
swaps them for project-wide read roles (never Editor/Owner)."""

from __future__ import annotations

import pytest

from aienv.workloads import workloads
from components.gcp.identity import BROAD_ROLES, account_id, model_folders
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
    # + the account chat's retraining pipeline runs as (no Kubernetes workload, no workload identity)
    (pipeline,) = accounts - {account_id(spec, w) for w in wls}
    assert pipeline.startswith("prod-gcp-chat-pipe-")
    federated = [inputs(m) for m in identity_children(prod, SA_MEMBER)
                 if inputs(m)["role"] == "roles/iam.workloadIdentityUser"]
    assert sorted(m["member"] for m in federated) == sorted(
        f"serviceAccount:acme-ml-prod.svc.id.goog[{w.namespace}/{w.service_account}]" for w in wls)
    # The one other service-account grant: chat's trigger may act as its pipeline account, nothing else.
    (act_as,) = [inputs(m) for m in identity_children(prod, SA_MEMBER)
                 if inputs(m)["role"] != "roles/iam.workloadIdentityUser"]
    assert act_as["role"] == "roles/iam.serviceAccountUser"
    assert act_as["serviceAccountId"].endswith(f"/{pipeline}@acme-ml-prod.iam.gserviceaccount.com")
    assert act_as["member"] == f"serviceAccount:{account_id(spec, next(w for w in wls if w.key == 'retrain-chat'))}" \
        "@acme-ml-prod.iam.gserviceaccount.com"


def test_account_ids_fit_gcp_limits():
    spec = variant(lambda s: setattr(s, "name", "a-very-long-environment-name-for-tests"))
    for w in workloads(spec):
        ident = account_id(spec, w)
        assert 6 <= len(ident) <= 30 and ident[0].isalpha() and not ident.endswith("-")


FOLDER = "gcp:storage/managedFolder:ManagedFolder"
FOLDER_MEMBER = "gcp:storage/managedFolderIamMember:ManagedFolderIamMember"
SECRET_MEMBER = "gcp:secretmanager/secretIamMember:SecretIamMember"


def grants_by_workload(plan, spec):
    """{workload key: {(bucket purpose, folder, role)}} from the managed-folder grants."""
    purpose = {inputs(b)["name"]: b.name.split("-storage-")[1] for b in plan.of_type("gcp:storage/bucket:Bucket")}
    key_of = {f"serviceAccount:{account_id(spec, w)}@acme-ml-prod.iam.gserviceaccount.com": w.key
              for w in workloads(spec)}
    key_of |= {f"serviceAccount:{inputs(a)['accountId']}@acme-ml-prod.iam.gserviceaccount.com": "pipeline-chat"
               for a in identity_children(plan, ACCOUNT) if "-chat-pipe-" in inputs(a)["accountId"]}
    out: dict[str, set[tuple[str, str, str]]] = {}
    for m in identity_children(plan, FOLDER_MEMBER):
        g = inputs(m)
        out.setdefault(key_of[g["member"]], set()).add((purpose[g["bucket"]], g["managedFolder"], g["role"]))
    return out


def test_each_workload_reaches_exactly_the_objects_it_uses(prod):
    # C1 and the class behind it: every grant matches a read or write the workload's code makes.
    spec = prod_spec()
    viewer, user, creator = "roles/storage.objectViewer", "roles/storage.objectUser", "roles/storage.objectCreator"
    assert grants_by_workload(prod, spec) == {
        "serving-chat": {("model-artifacts", "models/chat/", viewer)},
        "serving-reason": {("model-artifacts", "models/reason/", viewer)},
        "serving-fraud": {("model-artifacts", "models/fraud/", viewer)},
        "import-chat": {("model-artifacts", "models/chat/", user)},
        "import-reason": {("model-artifacts", "models/reason/", user)},
        "drift-chat": {("training-data", "drift/chat/", viewer)},
        "drift-reason": {("training-data", "drift/reason/", viewer)},
        "drift-fraud": {("training-data", "drift/fraud/", viewer)},
        "feature-server": {("feature-offline", "feast/", user)},
        # The MLOps loop: capture writers create objects under `recent/` only (no read, list, replace, delete) ...
        "capture-chat": {("training-data", "drift/chat/recent/", creator)},
        "capture-reason": {("training-data", "drift/reason/recent/", creator)},
        "capture-fraud": {("training-data", "drift/fraud/recent/", creator)},
        # ... and chat's retraining pipeline reads its samples and training data, writes versions and its root.
        "pipeline-chat": {("training-data", "drift/chat/", viewer), ("training-data", "training/chat/", viewer),
                          ("training-data", "pipelines/chat/", user), ("model-artifacts", "models/chat/", user)},
    }
    # No whole-bucket grant but the pipeline template the trigger reads (an IAM condition on its object), no
    # registry grant (the node identity pulls images), nothing on the audit archive.
    (template,) = [inputs(m) for m in identity_children(prod, BUCKET_MEMBER)]
    assert template["bucket"] == "acme-ml-prod-pipelines" and template["role"] == "roles/storage.objectViewer"
    assert "objects/chat/retrain-pipeline.json" in template["condition"]["expression"]
    # Project-wide only what Vertex AI grants nowhere narrower: the two custom roles (start runs; what a run does).
    project = sorted((m.name.rsplit("-", 1)[1], inputs(m)["role"]) for m in identity_children(prod, PROJECT_MEMBER))
    assert [p for p, _ in project] == ["runs", "runtime"]
    roles = {r.name: inputs(r) for r in identity_children(prod, "gcp:projects/iAMCustomRole:IAMCustomRole")}
    assert sorted(r["roleId"] for r in roles.values()) == ["aienv_prod_gcp_pipeline_runs", "aienv_prod_gcp_pipeline_runtime"]
    runs = next(r for r in roles.values() if r["roleId"].endswith("_runs"))
    assert runs["permissions"] == ["aiplatform.pipelineJobs.create", "aiplatform.pipelineJobs.get"]
    assert not identity_children(prod, "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember")
    folders = {(inputs(f)["name"]) for f in identity_children(prod, FOLDER)}
    assert folders == {"models/chat/", "models/reason/", "models/fraud/", "drift/chat/", "drift/reason/",
                       "drift/fraud/", "feast/", "drift/chat/recent/", "drift/reason/recent/", "drift/fraud/recent/",
                       "training/chat/", "pipelines/chat/"}
    offline = [inputs(m) for m in identity_children(prod, "gcp:bigquery/datasetIamMember:DatasetIamMember")]
    assert [(m["role"], m["datasetId"]) for m in offline] == [("roles/bigquery.dataViewer", "prod_gcp_features")]


def test_import_jobs_read_only_their_token_secret(prod):
    spec = prod_spec()
    members = {inputs(m)["member"]: inputs(m) for m in identity_children(prod, SECRET_MEMBER)}
    imports = [w for w in workloads(spec) if w.kind == "model-import"]
    assert [w.key for w in imports] == ["import-chat", "import-reason"]  # fraud's weights are uploaded
    assert set(members) == {f"serviceAccount:{account_id(spec, w)}@acme-ml-prod.iam.gserviceaccount.com"
                            for w in imports}
    for m in members.values():
        assert m["secretId"] == "projects/acme-ml-prod/secrets/huggingface-token"
        assert m["role"] == "roles/secretmanager.secretAccessor"


def test_an_import_from_a_bucket_reads_only_that_prefix():
    def edit(s):
        s.model_endpoints[0].model.source = type(s.model_endpoints[0].model.source)(
            uri="gs://acme-research/exports/gemma/")
    plan = plan_gcp(variant(edit), "import-from-gcs")
    source = [inputs(m) for m in identity_children(plan, BUCKET_MEMBER) if "-import-" in m.name]
    assert len(source) == 1 and source[0]["bucket"] == "acme-research"
    assert source[0]["role"] == "roles/storage.objectViewer"
    expr = source[0]["condition"]["expression"]
    assert 'resource.name.startsWith("projects/_/buckets/acme-research/objects/exports/gemma/")' in expr
    assert 'resource.name == "projects/_/buckets/acme-research"' in expr
    # no token for a bucket source: one secret grant (reason's) remains
    assert len(identity_children(plan, SECRET_MEMBER)) == 1


def test_model_folders_cover_stable_and_canary_versions():
    from aienv.spec.model import Canary
    spec = prod_spec()
    chat = spec.model_endpoints[0]
    assert model_folders(chat) == ["models/chat/"]
    custom = chat.model_copy(deep=True)
    custom.model.artifact_path = "weights/gemma/"
    custom.canary = Canary(version="6", weight=5)
    assert model_folders(custom) == ["weights/gemma/", "models/chat/6/"]
    # A path that starts with the version: the canary reads `6/weights/` (conventions.canary_artifact_path).
    custom.model.artifact_path = f"{chat.model.version}/weights/"
    assert model_folders(custom) == [f"{chat.model.version}/weights/", "6/weights/"]


def test_broad_permissions_grant_project_wide_read_only():
    plan = plan_gcp(variant(lambda s: setattr(s.security, "workload_permissions", "broad")), "broad")
    # (the retraining pipeline's custom roles apart: see test_each_workload_reaches_exactly_the_objects_it_uses)
    roles = [inputs(m)["role"] for m in identity_children(plan, PROJECT_MEMBER) if not m.name.endswith(("-runs", "-runtime"))]
    assert set(roles) == set(BROAD_ROLES)
    assert len(roles) == len(BROAD_ROLES) * len(workloads(prod_spec()))
    assert not {"roles/editor", "roles/owner"} & set(roles)
    workload_grants = [m for m in identity_children(plan, FOLDER_MEMBER) if "-pipeline-" not in m.name]
    reads = [m for m in workload_grants if inputs(m)["role"] == "roles/storage.objectViewer"]
    assert not reads  # replaced by the project-wide read; writes (imports, Feast registry, captures) stay
    assert {inputs(m)["role"] for m in workload_grants} == {"roles/storage.objectUser", "roles/storage.objectCreator"}


def test_binder_annotates_with_the_gsa_and_rejects_unknown_workloads(prod):
    binder = prod.foundation.outputs.binder
    wl = workloads(prod_spec())[0]
    bound = binder.bind(wl)
    assert set(bound.service_account_annotations) == {"iam.gke.io/gcp-service-account"}
    with pytest.raises(KeyError):
        binder.bind(type(wl)("nope", "serving", "x", "y"))
