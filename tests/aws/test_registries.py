"""Registries: ECR per image family (immutable, scanned, KMS) and a model package group per endpoint."""

from __future__ import annotations

from .awsplan import AwsPlan


def test_one_locked_down_repository_per_image_family(prod: AwsPlan) -> None:
    repos = {r.inputs["name"]: r for r in prod.of("Repository")}
    assert set(repos) == {f"prod-aws/{f}" for f in prod.spec.image_families()} == {"prod-aws/vllm", "prod-aws/triton"}
    for repo in repos.values():
        assert repo.inputs["imageTagMutability"] == "IMMUTABLE"
        assert repo.inputs["imageScanningConfiguration"]["scanOnPush"] is True
        enc = repo.inputs["encryptionConfigurations"][0]
        assert enc["encryptionType"] == "KMS" and enc["kmsKey"].startswith("arn:aws:kms:")
        assert repo.protect and repo.retain_on_delete and repo.delete_before_replace
    assert prod.outputs["registryUrl"] == "123456789012.dkr.ecr.us-east-1.amazonaws.com/prod-aws"


def test_extra_image_families_add_repositories(variant) -> None:
    plan = variant("dev-aws", {"registries": {"container": {"image_families": ["embedder", "vllm"]}}})
    assert sorted(r.inputs["name"] for r in plan.of("Repository")) == ["dev-aws/embedder", "dev-aws/vllm"]


def test_mutable_tags_and_no_scan_when_asked(variant) -> None:
    plan = variant("dev-aws", {"registries": {"container": {"immutable_tags": False, "scan_on_push": False}}})
    repo = plan.one("Repository")
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
