"""The cloud side of the MLOps loop on each reference plan: the capture writer may only create objects under its
endpoint's `recent/` prefix, captured samples expire, the retraining trigger may only start its endpoint's
pipeline, and the pipeline runs as an identity scoped to the endpoint's data."""

from __future__ import annotations

import json
from typing import Any

from aienv import conventions as c
from aienv.engine import Plan
from aienv.engine.wire import reveal
from tests.plans import planned


def _inputs(r: Any) -> Any:
    return reveal(r.inputs)


def _of(plan: Plan, type_: str) -> list[Any]:
    return [r for r in plan.resources if r.type == type_]


def _named(plan: Plan, type_: str, name: str) -> Any:
    found = [r for r in _of(plan, type_) if r.name == name]
    assert len(found) == 1, (name, [r.name for r in _of(plan, type_)])
    return _inputs(found[0])


def _policy(plan: Plan, name: str) -> dict[str, Any]:
    return json.loads(_named(plan, "aws:iam/rolePolicy:RolePolicy", name)["policy"])


# --- AWS ------------------------------------------------------------------------------------------------------

def test_aws_capture_role_only_puts_objects_under_its_prefix() -> None:
    plan = planned("Pulumi.prod-aws.yaml")
    statements = _policy(plan, "prod-aws-mlops-capture-chat")["Statement"]
    assert [s["Action"] for s in statements] == ["s3:PutObject", "kms:GenerateDataKey"]
    assert statements[0]["Resource"].endswith("/drift/chat/recent/*")
    assert statements[1]["Condition"] == {"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}}


def test_aws_each_capture_waits_for_its_own_grant_only() -> None:
    # Per endpoint (MlopsSupport.grants): a wait on every endpoint's grants made each endpoint depend on all
    # others, and the plan quadratic in the endpoints.
    from aienv.engine import plan_program
    from aienv.spec.model import Capture
    from components.environment import build_environment
    from tests.plans import loaded

    spec = loaded("Pulumi.prod-aws.yaml").spec.model_copy(deep=True)
    second = next(e for e in spec.model_endpoints if e.name != "chat" and e.drift)
    second.capture = Capture(sample_percent=1, pii="redact", retention_days=7)
    plan = plan_program(lambda: build_environment(spec), project="aienv", stack=spec.name)
    grant = {ep: next(r.urn for r in _of(plan, "aws:iam/rolePolicy:RolePolicy") if r.name == f"prod-aws-mlops-capture-{ep}")
             for ep in ("chat", second.name)}
    for ep, other in (("chat", second.name), (second.name, "chat")):
        deployment = next(r for r in _of(plan, "kubernetes:apps/v1:Deployment") if r.name.endswith(f"-{ep}-capture-deployment"))
        assert grant[ep] in deployment.dependencies and grant[other] not in deployment.dependencies, ep


def test_aws_trigger_role_starts_exactly_its_pipeline() -> None:
    plan = planned("Pulumi.prod-aws.yaml")
    statement, = _policy(plan, "prod-aws-mlops-retrain-chat")["Statement"]
    assert statement["Action"] == "sagemaker:StartPipelineExecution"
    assert statement["Resource"] == ["arn:aws:sagemaker:us-east-1:123456789012:pipeline/prod-aws-chat-retrain"]


def test_aws_pipeline_role_reads_its_data_and_registers_its_versions() -> None:
    plan = planned("Pulumi.prod-aws.yaml")
    role = _named(plan, "aws:iam/role:Role", "prod-aws-mlops-chat-pipeline")
    trust = json.loads(role["assumeRolePolicy"])["Statement"][0]
    assert trust["Principal"] == {"Service": "sagemaker.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": "123456789012"}}
    sids = {s["Sid"]: s for s in _policy(plan, "prod-aws-mlops-chat-pipeline-access")["Statement"]}
    assert [r.rsplit("/", 3)[-3:] for r in sids["ReadTrainingData"]["Resource"]] == [
        ["drift", "chat", "*"], ["training", "chat", "*"]]
    assert sids["WriteModelVersions"]["Resource"].endswith("/models/chat/*")
    assert sids["RegisterVersions"]["Action"] == ["sagemaker:CreateModelPackage", "sagemaker:DescribeModelPackageGroup"]


def test_aws_rollout_pods_wait_for_their_read_of_every_version() -> None:
    # The stable pods of a rollout read the previous version until promotion: the grant exists before they start.
    from aienv.check import from_export, run_packs

    plan = planned("Pulumi.prod-aws.yaml")
    deployment = next(r for r in plan.resources if r.name == "prod-aws-k8s-chat-stable-deployment")
    grant = next(r for r in plan.resources if r.name == "prod-aws-mlops-rollout-chat")
    assert grant.urn in deployment.dependencies
    found = run_packs(from_export(plan.to_export(), None), ["aienv-deploy"]).violations
    assert not [v for v in found if v.policy == "deploy-identity-grants-before-workload"]


def test_aws_captured_samples_expire() -> None:
    plan = planned("Pulumi.prod-aws.yaml")
    rules = _named(plan, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
                   "prod-aws-storage-training-lifecycle")["rules"]
    capture = {r["id"]: r for r in rules if r["id"].startswith("capture-")}
    assert set(capture) == {"capture-chat", "capture-summarize", "capture-rerank"}
    assert capture["capture-chat"]["filter"] == {"prefix": c.capture_prefix("chat")}
    assert capture["capture-chat"]["expiration"] == {"days": 30}


# --- GCP ------------------------------------------------------------------------------------------------------

def test_gcp_capture_account_creates_objects_in_its_recent_folder_only() -> None:
    plan = planned("Pulumi.prod-gcp.yaml")
    grant = _named(plan, "gcp:storage/managedFolderIamMember:ManagedFolderIamMember",
                   "prod-gcp-identity-capture-chat-drift-chat-recent")
    assert grant["role"] == "roles/storage.objectCreator"
    folders = {_inputs(r)["name"] for r in _of(plan, "gcp:storage/managedFolder:ManagedFolder")}
    assert "drift/chat/recent/" in folders


def test_gcp_trigger_creates_pipeline_jobs_as_the_endpoints_pipeline_account_only() -> None:
    plan = planned("Pulumi.prod-gcp.yaml")
    role = _named(plan, "gcp:projects/iAMCustomRole:IAMCustomRole", "prod-gcp-identity-pipeline-runs")
    assert role["permissions"] == ["aiplatform.pipelineJobs.create", "aiplatform.pipelineJobs.get"]
    act_as = _named(plan, "gcp:serviceaccount/iAMMember:IAMMember", "prod-gcp-identity-retrain-chat-act-as")
    assert act_as["role"] == "roles/iam.serviceAccountUser"
    template = _named(plan, "gcp:storage/bucketIAMMember:BucketIAMMember", "prod-gcp-identity-retrain-chat-source")
    assert template["bucket"] == "acme-ml-prod-pipelines" and template["role"] == "roles/storage.objectViewer"
    runtime = _named(plan, "gcp:projects/iAMCustomRole:IAMCustomRole", "prod-gcp-identity-pipeline-runtime")
    assert "aiplatform.models.upload" in runtime["permissions"]
    assert not [r for r in _of(plan, "gcp:projects/iAMMember:IAMMember")
                if _inputs(r)["role"] in ("roles/aiplatform.user", "roles/aiplatform.admin")]


def test_gcp_captured_samples_expire() -> None:
    plan = planned("Pulumi.prod-gcp.yaml")
    bucket = _named(plan, "gcp:storage/bucket:Bucket", "prod-gcp-storage-training-data")
    rules = [r for r in bucket["lifecycleRules"] if r["condition"].get("matchesPrefixes")]
    assert {tuple(r["condition"]["matchesPrefixes"]): r["condition"]["age"] for r in rules} == {
        (c.capture_prefix(e),): 30 for e in ("chat", "reason", "fraud")}


# --- Azure ----------------------------------------------------------------------------------------------------

def test_azure_capture_identity_creates_blobs_under_its_prefix_only() -> None:
    plan = planned("Pulumi.prod-azure.yaml")
    role = _named(plan, "azure-native:authorization:RoleDefinition", "prod-azure-identity-role-blob-creator")
    assert role["permissions"] == [{"dataActions": [
        "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/write",
        "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/add/action"]}]
    grant = _named(plan, "azure-native:authorization:RoleAssignment", "prod-azure-identity-capture-chat-capture")
    assert grant["roleDefinitionId"].endswith(role["roleDefinitionId"])
    assert "StringStartsWith 'drift/chat/recent/'" in grant["condition"]


def test_azure_trigger_submits_jobs_in_the_workspace_and_reads_the_component() -> None:
    plan = planned("Pulumi.prod-azure.yaml")
    role = _named(plan, "azure-native:authorization:RoleDefinition", "prod-azure-identity-role-pipeline-runs")
    assert role["permissions"][0]["actions"][-1] == "Microsoft.MachineLearningServices/workspaces/jobs/write"
    reader = _named(plan, "azure-native:authorization:RoleAssignment", "prod-azure-identity-retrain-chat-pipeline-registry")
    assert reader["scope"].endswith("/registries/acme-ml-registry")


def test_azure_captured_samples_expire() -> None:
    plan = planned("Pulumi.prod-azure.yaml")
    policies = [_inputs(r) for r in _of(plan, "azure-native:storage:ManagementPolicy")]
    rules = {r["name"]: r for p in policies for r in p["policy"]["rules"]}
    chat = rules["expire-capture-chat"]["definition"]
    assert chat["filters"]["prefixMatch"] == ["training-data/drift/chat/recent/"]
    assert chat["actions"]["baseBlob"]["delete"] == {"daysAfterModificationGreaterThan": 30}
