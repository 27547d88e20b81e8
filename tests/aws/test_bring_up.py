"""Bring-up on AWS: the two-phase first deploy, the image caches, the model-import identities, the Feast registry."""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pytest

from aienv.engine import plan_program
from aienv.images import UpstreamImage, cached_images, upstream_registries
from aienv.naming import AWS_CACHE_UPSTREAMS, aws_cache_prefix
from components.aws.foundation import AwsFoundation
from components.environment import build_environment

from .awsplan import AwsPlan, load_variant, plan_spec, statements

# --- two phases: the foundation alone touches no Kubernetes API ------------------------------------------------

def test_foundation_phase_creates_no_kubernetes_object(prod: AwsPlan) -> None:
    spec = prod.spec
    phase1 = plan_program(lambda: build_environment(spec, kubernetes=False), project="aienv", stack=spec.name)
    kinds = {r.type for r in phase1.resources}
    # Only the provider object: creating it contacts no cluster; every Kubernetes resource waits for phase 2.
    assert not [t for t in kinds if t.startswith("kubernetes:")]
    assert "pulumi:providers:kubernetes" in kinds
    # The deployer's way in exists after phase 1, so the network can be connected before phase 2.
    assert [r for r in phase1.resources if r.type.endswith("SecurityGroupIngressRule") and "deployer" in r.name]
    full = plan_program(lambda: build_environment(spec), project="aienv", stack=spec.name)
    assert "kubernetes:storage.k8s.io/v1:StorageClass" in {r.type for r in full.resources}
    aws_types = sorted(r.type for r in full.resources if r.type.startswith("aws:"))
    assert aws_types == sorted(r.type for r in phase1.resources if r.type.startswith("aws:"))


# --- images come from the stack ----------------------------------------------------------------------------------

def _rules(plan: AwsPlan) -> dict[str, Any]:
    return {r.inputs["upstreamRegistryUrl"]: r for r in plan.of("PullThroughCacheRule")}


def test_a_pull_through_cache_per_upstream_registry(prod: AwsPlan) -> None:
    hosts = upstream_registries(prod.spec)
    rules = _rules(prod)
    assert set(rules) == {AWS_CACHE_UPSTREAMS[h][0] for h in hosts}
    for host in hosts:
        rule = rules[AWS_CACHE_UPSTREAMS[host][0]]
        assert rule.inputs["ecrRepositoryPrefix"] == aws_cache_prefix("prod-aws", host)
    # Docker Hub is cached only with the credentials of the secret the spec names (looked up by name: its ARN).
    assert "docker.io" in hosts and "registry-1.docker.io" in rules


def test_cached_repositories_get_the_registry_key_immutability_and_lifecycle(prod: AwsPlan) -> None:
    templates = {t.inputs["prefix"]: t for t in prod.of("RepositoryCreationTemplate")}
    rules = _rules(prod)
    assert set(templates) == {r.inputs["ecrRepositoryPrefix"] for r in rules.values()}
    key = next(k.outputs["arn"] for k in prod.of("aws:kms/key:Key") if k.inputs["tags"]["aienv-key-purpose"] == "registry")
    role = prod.one("Role", "cache-template")
    for prefix, t in templates.items():
        assert t.inputs["appliedFors"] == ["PULL_THROUGH_CACHE"]
        assert t.inputs["imageTagMutability"] == "IMMUTABLE"
        assert t.inputs["encryptionConfigurations"] == [{"encryptionType": "KMS", "kmsKey": key}]
        assert json.loads(t.inputs["lifecyclePolicy"])["rules"][0]["selection"]["tagStatus"] == "untagged"
        assert t.inputs["customRoleArn"] == role.outputs["arn"]
        rule = next(r for r in rules.values() if r.inputs["ecrRepositoryPrefix"] == prefix)
        assert t.urn in rule.dependencies  # the template exists before the first pull creates a repository
    (policy,) = [p for p in prod.of("RolePolicy") if p.name.endswith("cache-template-access")]
    sts = {s["Sid"]: s for s in statements(policy)}
    assert sorted(sts["CreateCachedRepositories"]["Resource"]) == sorted(
        f"arn:aws:ecr:us-east-1:123456789012:repository/{p}/*" for p in templates)
    assert sts["EncryptCachedRepositories"]["Resource"] == key


def test_upstream_credentials_come_from_the_named_secret_arn(variant) -> None:
    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:ecr-pullthroughcache/docker-hub-AbCdEf"
    plan = variant("dev-aws", {"registries": {"upstreams": {"docker.io": {"secret": arn}}}})
    assert _rules(plan)["registry-1.docker.io"].inputs["credentialArn"] == arn
    # Anonymous upstreams get no credentials.
    assert all("credentialArn" not in r.inputs for u, r in _rules(plan).items() if u != "registry-1.docker.io")


def test_nodes_may_import_cached_images_only_under_the_cache_prefixes(prod: AwsPlan) -> None:
    (policy,) = [p for p in prod.of("RolePolicy") if p.name.endswith("node-pull-through-cache")]
    (st,) = statements(policy)
    assert sorted(st["Action"]) == ["ecr:BatchImportUpstreamImage", "ecr:CreateRepository"]
    prefixes = {r.inputs["ecrRepositoryPrefix"] for r in prod.of("PullThroughCacheRule")}
    assert sorted(st["Resource"]) == sorted(f"arn:aws:ecr:us-east-1:123456789012:repository/{p}/*" for p in prefixes)
    assert policy.inputs["role"] == prod.one("Role", "node-identity-node").id


def test_image_source_refers_to_cached_and_pushed_images(prod: AwsPlan) -> None:
    seen: dict[str, str] = {}

    def export(foundation: AwsFoundation) -> None:
        images = foundation.outputs.images
        assert images is not None
        digest = "@sha256:" + "a" * 64
        pulumi.export("cached", images.cached(UpstreamImage("docker.io", "vllm/vllm-openai", ":v0.11.0")))
        pulumi.export("pinned", images.cached(UpstreamImage("docker.io", "vllm/vllm-openai", digest)))
        pulumi.export("pushed", images.pushed("triton", "tritonserver:25.09-py3"))

    plan = plan_spec(prod.spec, export)
    seen = {k: plan.outputs[k] for k in ("cached", "pinned", "pushed")}
    host = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
    assert seen["cached"] == f"{host}/prod-aws/docker-hub/vllm/vllm-openai:v0.11.0"
    assert seen["pinned"] == f"{host}/prod-aws/docker-hub/vllm/vllm-openai@sha256:{'a' * 64}"
    assert seen["pushed"] == f"{host}/prod-aws/triton/tritonserver:25.09-py3"
    # Every cached image's registry has a rule.
    assert {i.registry for i in cached_images(prod.spec)} <= set(upstream_registries(prod.spec))


def test_ci_images_keep_a_repository_declared_pushed_by_ci(prod: AwsPlan) -> None:
    repos = {r.inputs["name"]: r for r in prod.of("Repository")}
    # Only the CI-pushed image (Triton: ECR cannot cache nvcr.io) has a repository of its own.
    assert set(repos) == {"prod-aws/triton/tritonserver"}
    assert repos["prod-aws/triton/tritonserver"].inputs["tags"]["aienv-image-supply"] == "ci"


def test_an_upstream_that_needs_credentials_without_a_secret_is_refused(dev: AwsPlan) -> None:
    from aienv.spec.rules import check

    spec = dev.spec.model_copy(deep=True)
    spec.registries.upstreams = {}
    problems = dict(check(spec))
    assert "no credentials for docker.io" in problems[("registries", "upstreams")]
    assert ("registries", "upstreams") not in dict(check(dev.spec))


@pytest.mark.parametrize(("overrides", "path", "needle"), [
    ({"model_endpoints": [{"name": "rerank", "runtime": "triton", "model": {"name": "m", "source": {"uploaded": True}},
                           "gpu": {"type": "nvidia-l4"}}]},
     "model_endpoints[0].image_supply", "cannot cache nvcr.io"),
    ({"registries": {"upstreams": {"docker.io": {"secret": "docker-hub"}}}},
     "registries.upstreams.docker.io.secret", "ecr-pullthroughcache/"),
    ({"registries": {"upstreams": {"docker.io": {"secret": "ecr-pullthroughcache/d", "username": "me"}}}},
     "registries.upstreams.docker.io.username", "does not apply on AWS"),
    ({"registries": {"upstreams": {"docker.io": {"secret": "ecr-pullthroughcache/d"},
                                   "ghcr.io": {"secret": "ecr-pullthroughcache/g"}}}},
     "registries.upstreams.ghcr.io", "no image of this stack comes from ghcr.io"),
])
def test_specs_the_caches_cannot_serve_are_refused(tmp_path, overrides: dict, path: str, needle: str) -> None:
    from aienv.errors import SpecError

    with pytest.raises(SpecError) as info:
        load_variant(tmp_path, "dev-aws", overrides)
    messages = {i.path: i.message for i in info.value.issues}
    assert path in messages, messages
    assert needle in messages[path]


# --- weights: the import identities --------------------------------------------------------------------------

def _policy(plan: AwsPlan, key: str) -> dict[str, dict]:
    policy = next(p for p in plan.of("RolePolicy") if p.name.endswith(f"-identity-{key}-access"))
    return {s["Sid"]: s for s in statements(policy)}


def _bucket(plan: AwsPlan, purpose: str) -> str:
    return next(b.outputs["arn"] for b in plan.of("Bucket") if b.inputs["tags"]["aienv-bucket-purpose"] == purpose)


def test_import_role_writes_exactly_its_model_versions_and_reads_its_token(prod: AwsPlan) -> None:
    models = _bucket(prod, "model_artifacts")
    sts = _policy(prod, "import-chat")
    # `chat` rolls a new model.version out progressively, so only the version in the spec is imported.
    assert sts["WriteModelVersions"]["Resource"] == [f"{models}/models/chat/3/*"]
    assert "s3:PutObject" in sts["WriteModelVersions"]["Action"]
    assert sts["ListModelVersions"]["Condition"]["StringLike"]["s3:prefix"] == ["models/chat/3/*"]
    assert sts["ReadTokenSecret"] == {
        "Sid": "ReadTokenSecret", "Effect": "Allow", "Action": "secretsmanager:GetSecretValue",
        "Resource": "arn:aws:secretsmanager:us-east-1:123456789012:secret:aienv/huggingface-token-??????"}
    key = sts["UseKeyThroughS3"]
    assert key["Action"] == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert key["Condition"]["StringEquals"]["kms:ViaService"] == "s3.us-east-1.amazonaws.com"
    assert set(sts) == {"WriteModelVersions", "ListModelVersions", "UseKeyThroughS3", "ReadTokenSecret"}
    # `uploaded` sources get no import role at all.
    assert not [p for p in prod.of("RolePolicy") if "import-rerank" in p.name]


def test_import_role_reads_an_s3_source_path_only(variant) -> None:
    endpoints = [{"name": "chat", "model": {"name": "m", "source": {"uri": "s3://team-models/llama/8b/"}},
                  "gpu": {"type": "nvidia-l4"}, "resources": {"cpu": "3", "memory": "12Gi"}}]
    plan = variant("dev-aws", {"model_endpoints": endpoints})
    sts = _policy(plan, "import-chat")
    assert sts["ReadSource"]["Resource"] == "arn:aws:s3:::team-models/llama/8b/*"
    assert sts["ListSource"]["Resource"] == "arn:aws:s3:::team-models"
    assert sts["ListSource"]["Condition"]["StringLike"]["s3:prefix"] == ["llama/8b/*"]
    assert "ReadTokenSecret" not in sts
    # The S3 gateway endpoint lets the import reach that bucket (another account's, possibly).
    endpoint = next(e for e in plan.of("VpcEndpoint") if e.inputs["vpcEndpointType"] == "Gateway")
    source = next(s for s in statements(endpoint) if s["Sid"] == "ModelImportSources")
    assert source["Resource"] == ["arn:aws:s3:::team-models", "arn:aws:s3:::team-models/*"]


# --- Feast registry ------------------------------------------------------------------------------------------

def test_feature_server_owns_exactly_the_feast_folder(prod: AwsPlan) -> None:
    offline = _bucket(prod, "feature_offline")
    sts = _policy(prod, "feature-server")
    assert set(sts) == {"FeastRegistry", "ListFeastRegistry", "UseKeyThroughS3"}
    assert sts["FeastRegistry"]["Resource"] == f"{offline}/feast/*"
    assert sorted(sts["FeastRegistry"]["Action"]) == ["s3:DeleteObject", "s3:GetObject", "s3:PutObject"]
    assert sts["ListFeastRegistry"]["Condition"]["StringLike"]["s3:prefix"] == ["feast/*"]
    features_key = next(k.outputs["arn"] for k in prod.of("aws:kms/key:Key")
                        if k.inputs["tags"]["aienv-key-purpose"] == "features")
    assert sts["UseKeyThroughS3"]["Resource"] == features_key


def test_foundation_names_the_feast_registry(prod: AwsPlan) -> None:
    def export(foundation: AwsFoundation) -> None:
        uri = foundation.outputs.feature_registry_uri
        assert uri is not None
        pulumi.export("registry", uri)

    plan = plan_spec(prod.spec, export)
    bucket = next(b.outputs["bucket"] for b in plan.of("Bucket")
                  if b.inputs["tags"]["aienv-bucket-purpose"] == "feature_offline")
    assert plan.outputs["registry"] == f"s3://{bucket}/feast/registry.db"


def test_feast_registry_has_a_bucket_without_an_offline_store(variant) -> None:
    plan = variant("dev-aws", {"feature_store": {"offline_store": False}})
    assert [b for b in plan.of("Bucket") if b.inputs["tags"]["aienv-bucket-purpose"] == "feature_offline"]
    assert plan.of("FeatureGroup") == [] and plan.of("CatalogDatabase") == []


def test_reference_specs_validate_with_their_upstreams() -> None:
    from aienv.spec import load_spec

    from .awsplan import ROOT

    for name in ("prod-aws", "dev-aws"):
        spec = load_spec(str(ROOT / "stacks" / f"{name}.yaml")).spec
        assert set(spec.registries.upstreams) == {"docker.io"}
        assert "docker.io" in upstream_registries(spec)


# --- the serving-image provenance policy knows the caches ------------------------------------------------------

def _provenance(plan: AwsPlan, rule: str = "ai-serving-image-provenance") -> list[str]:
    from aienv.check.plan import from_export
    from aienv.check.runner import run_policies
    from policies.rules import RULES_BY_NAME
    from policies.rules._base import build_policy

    policy = build_policy(RULES_BY_NAME[rule])
    violations, _ = run_policies(from_export(plan.plan.to_export()), "test", [policy])
    return [v.message for v in violations]


def _serving_from_cache(reference: str):
    import pulumi_kubernetes as k8s

    from aienv import conventions as c

    def export(foundation: AwsFoundation) -> None:
        images = foundation.outputs.images
        assert images is not None
        labels = {c.COMPONENT_LABEL: c.COMPONENT_SERVING, c.ENDPOINT_LABEL: "chat"}
        k8s.apps.v1.Deployment("chat", metadata={"namespace": c.SERVING_NAMESPACE, "labels": labels}, spec={
            "selector": {"match_labels": labels}, "template": {"metadata": {"labels": labels}, "spec": {
                "containers": [{"name": "server", "image": images.cached(
                    UpstreamImage("docker.io", "vllm/vllm-openai", reference))}]}}})
    return export


def test_cached_serving_images_count_as_the_environments_registry(prod: AwsPlan, variant) -> None:
    immutable = plan_spec(prod.spec, _serving_from_cache(":v0.11.0"))
    assert _provenance(immutable) == [] and _provenance(immutable, "ai-cached-image-digest") == []
    # A mutable cache serves whatever the upstream's tag points at: pin it by digest (advisory); with one, it passes.
    mutable = variant("dev-aws", {"registries": {"container": {"immutable_tags": False}}}).spec
    tagged = plan_spec(mutable, _serving_from_cache(":v0.11.0"))
    assert _provenance(tagged) == []  # from the environment's registry
    (message,) = _provenance(tagged, "ai-cached-image-digest")
    assert "pin it by digest" in message
    assert _provenance(plan_spec(mutable, _serving_from_cache("@sha256:" + "b" * 64)), "ai-cached-image-digest") == []


def test_secret_lookup_goes_through_the_environments_provider(prod: AwsPlan, monkeypatch) -> None:
    import pulumi_aws as aws

    seen = []
    original = aws.secretsmanager.get_secret_output

    def spy(**kwargs):
        seen.append(kwargs)
        return original(**kwargs)

    monkeypatch.setattr(aws.secretsmanager, "get_secret_output", spy)
    plan_spec(prod.spec)
    (call,) = seen
    assert call["name"] == "ecr-pullthroughcache/docker-hub"
    assert call["opts"].parent is not None  # the Registries component: its provider is the explicit one


def test_an_image_without_a_cache_is_a_clear_error(prod: AwsPlan) -> None:
    from aienv.errors import ComponentInputError

    def export(foundation: AwsFoundation) -> None:
        images = foundation.outputs.images
        assert images is not None
        with pytest.raises(ComponentInputError, match="no ECR pull-through cache of nvcr.io"):
            images.cached(UpstreamImage("nvcr.io", "nvidia/tritonserver", ":25.09-py3"))

    plan_spec(prod.spec, export)


def test_the_packs_flag_insecure_cache_templates(variant) -> None:
    from aienv.check.plan import from_export
    from aienv.check.runner import run_policies
    from policies.rules import RULES_BY_NAME
    from policies.rules._base import build_policy

    def failing(plan: AwsPlan, rule: str) -> set[str]:
        violations, _ = run_policies(from_export(plan.plan.to_export()), "test", [build_policy(RULES_BY_NAME[rule])])
        return {v.name for v in violations}

    template = "dev-aws-registries-cache-docker-hub-template"
    weak = variant("dev-aws", {"registries": {"container": {"immutable_tags": False}},
                               "security": {"encryption": "provider_managed"}})
    assert template in failing(weak, "aws-ecr-immutable-tags")
    assert template in failing(weak, "aws-ecr-kms-encryption")
    strong = variant("dev-aws", {})
    assert not failing(strong, "aws-ecr-immutable-tags") and not failing(strong, "aws-ecr-kms-encryption")
