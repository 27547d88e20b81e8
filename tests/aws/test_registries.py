"""Registries: ECR per CI-pushed image path (immutable, scanned, KMS) and a model package group per endpoint.
The pull-through caches are in test_bring_up."""

from __future__ import annotations

from components.aws.registries import ci_repository_paths

from .awsplan import AwsPlan


def test_one_locked_down_repository_per_ci_image_path(prod: AwsPlan) -> None:
    repos = {r.inputs["name"]: r for r in prod.of("Repository")}
    # ECR holds one image per repository: every `<family>/<image>` CI pushes has its own; cached images get
    # theirs from the pull-through cache on first pull.
    assert set(repos) == {f"prod-aws/{p}" for p in ci_repository_paths(prod.spec)} == {"prod-aws/triton/tritonserver"}
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
    assert names == ["dev-aws/embedder", "dev-aws/vllm"]  # extra repositories; vLLM itself comes from the cache


def test_mutable_tags_and_no_scan_when_asked(variant) -> None:
    plan = variant("dev-aws", {"registries": {"container": {"immutable_tags": False, "scan_on_push": False,
                                                            "image_families": ["embedder"]}}})
    assert plan.of("Repository") and plan.of("RepositoryCreationTemplate")
    assert all(t.inputs["imageTagMutability"] == "MUTABLE" for t in plan.of("RepositoryCreationTemplate"))
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
