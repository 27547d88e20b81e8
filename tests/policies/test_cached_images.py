"""Serving images pulled through a cache of their upstream registry: from the environment's registry (the cache),
and pinned by digest unless the cache keeps tags immutable (`ai-cached-image-digest`, advisory)."""

from __future__ import annotations

import pulumi_aws as aws
import pulumi_gcp as gcp
import pytest
from conftest import failing_names, run_policy
from mockplan import plan
from test_kubernetes_ai import DIGEST, _serving

AR = "europe-west4-docker.pkg.dev/acme/env-docker-io"
ECR = "123456789012.dkr.ecr.us-east-1.amazonaws.com/env-docker-io"


def _gcp(image: str) -> None:
    gcp.artifactregistry.Repository("docker-io", repository_id="env-docker-io", location="europe-west4",
                                    project="acme", format="DOCKER", mode="REMOTE_REPOSITORY",
                                    remote_repository_config={"docker_repository": {"public_repository": "DOCKER_HUB"}})
    _serving("llm", "chat", image)


def _aws(image: str, mutability: str) -> None:
    aws.ecr.PullThroughCacheRule("docker-io", ecr_repository_prefix="env-docker-io",
                                 upstream_registry_url="registry-1.docker.io",
                                 credential_arn="arn:aws:secretsmanager:us-east-1:123456789012:secret:"
                                                "ecr-pullthroughcache/docker")
    aws.ecr.RepositoryCreationTemplate("docker-io-template", prefix="env-docker-io",
                                       applied_fors=["PULL_THROUGH_CACHE"], image_tag_mutability=mutability)
    _serving("llm", "chat", image)


FAILING = {"ai-cached-image-digest": {"llm"}}


@pytest.mark.parametrize("image", [f"{AR}/vllm/vllm-openai:v0.11.0"])
def test_a_cached_release_tag_is_from_the_registry_but_not_pinned(image: str) -> None:
    export = plan(lambda: _gcp(image))
    assert failing_names(export, "ai-serving-image-provenance") == set()
    (violation,) = run_policy(export, "ai-cached-image-digest")
    assert violation.name == "llm" and "pin it by digest" in violation.message


def test_a_cached_image_by_digest_or_latest() -> None:
    assert run_policy(plan(lambda: _gcp(f"{AR}/vllm/vllm-openai@{DIGEST}")), "ai-cached-image-digest") == []
    latest = plan(lambda: _gcp(f"{AR}/vllm/vllm-openai:latest"))
    assert failing_names(latest, "ai-serving-image-provenance") == {"llm"}  # `latest` is never pinned


def test_an_immutable_ecr_cache_keeps_the_first_build_it_cached() -> None:
    image = f"{ECR}/vllm/vllm-openai:v0.11.0"
    assert run_policy(plan(lambda: _aws(image, "IMMUTABLE")), "ai-cached-image-digest") == []
    assert failing_names(plan(lambda: _aws(image, "MUTABLE")), "ai-cached-image-digest") == {"llm"}
    assert failing_names(plan(lambda: _aws(image, "MUTABLE")), "ai-serving-image-provenance") == set()
