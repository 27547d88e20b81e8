"""Registries: ECR per image path (immutable, scanned, KMS) and a model package group per endpoint."""

from __future__ import annotations

from aienv.images import repository_paths

from .awsplan import AwsPlan


def test_one_locked_down_repository_per_image_path(prod: AwsPlan) -> None:
    repos = {r.inputs["name"]: r for r in prod.of("Repository")}
    # ECR holds one image per repository: every `<family>/<image>` the cluster pulls has its own.
    assert set(repos) == {f"prod-aws/{p}" for p in repository_paths(prod.spec)} == {
        "prod-aws/vllm/vllm-openai", "prod-aws/triton/tritonserver", "prod-aws/aienv-tools/aws-cli",
        "prod-aws/aienv-tools/python", "prod-aws/aienv-tools/feature-server"}
    for repo in repos.values():
        assert repo.inputs["imageTagMutability"] == "IMMUTABLE"
        assert repo.inputs["imageScanningConfiguration"]["scanOnPush"] is True
        enc = repo.inputs["encryptionConfigurations"][0]
        assert enc["encryptionType"] == "KMS" and enc["kmsKey"].startswith("arn:aws:kms:")
        assert repo.protect and repo.retain_on_delete and repo.delete_before_replace
    assert prod.outputs["registryUrl"] == "123456789012.dkr.ecr.us-east-1.amazonaws.com/prod-aws"


def test_extra_image_families_add_repositories(variant) -> None:
    plan = variant("dev-aws", {"registries": {"container": {"image_families": ["embedder", "vllm"]}}})
    names = sorted(r.inputs["name"] for r in plan.of("Repository"))
    assert "dev-aws/embedder" in names and "dev-aws/vllm" in names  # extra repositories beside the images
    assert "dev-aws/vllm/vllm-openai" in names


def test_mutable_tags_and_no_scan_when_asked(variant) -> None:
    plan = variant("dev-aws", {"registries": {"container": {"immutable_tags": False, "scan_on_push": False}}})
    for repo in plan.of("Repository"):
        assert repo.inputs["imageTagMutability"] == "MUTABLE"
        assert repo.inputs["imageScanningConfiguration"]["scanOnPush"] is False


def test_model_package_group_per_endpoint_points_at_the_artifact_bucket(prod: AwsPlan) -> None:
    groups = {g.inputs["modelPackageGroupName"]: g for g in prod.of("ModelPackageGroup")}
    assert set(groups) == {f"prod-aws-{e.name}" for e in prod.spec.model_endpoints}
    models = prod.outputs["modelBucketUri"]
    for endpoint in prod.spec.model_endpoints:
        group = groups[f"prod-aws-{endpoint.name}"]
        assert group.inputs["tags"]["aienv-model-artifacts"] == f"{models}/models/{endpoint.name}/"
        assert group.protect


def test_model_registry_off_removes_package_groups(variant) -> None:
    assert variant("dev-aws", {"registries": {"model_registry": False}}).of("ModelPackageGroup") == []
