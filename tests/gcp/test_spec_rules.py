"""GCP refusals in `aienv validate` (`_gcp_images`, `_gcp_models`): what the remote repositories and the import
jobs cannot work with."""

from __future__ import annotations

from aienv.spec.model import ModelSource, Runtime, UpstreamRegistry
from aienv.spec.rules import check
from tests.gcp.gcpplan import prod_spec, variant


def problems(spec) -> dict[str, str]:
    return {".".join(str(p) for p in path): msg for path, msg in check(spec)}


def test_prod_gcp_has_no_problem():
    assert problems(prod_spec()) == {}


def test_ngc_images_need_credentials():
    spec = variant(lambda s: setattr(s.model_endpoints[0], "runtime", Runtime.triton))
    found = problems(spec)
    assert "nvcr.io" in found["registries.upstreams"] and "$oauthtoken" in found["registries.upstreams"]
    spec.registries.upstreams = {"nvcr.io": UpstreamRegistry(secret="projects/acme-ml-prod/secrets/ngc/versions/1")}
    assert "registries.upstreams" not in problems(spec)


def test_upstream_credentials_must_be_a_secret_version_of_a_used_upstream():
    spec = variant(lambda s: setattr(s.registries, "upstreams", {
        "docker.io": UpstreamRegistry(username="acme", secret="dockerhub-token"),
        "ghcr.io": UpstreamRegistry(secret="projects/acme-ml-prod/secrets/ghcr/versions/latest")}))
    found = problems(spec)
    assert "secret version" in found["registries.upstreams.docker.io.secret"]
    assert "no image of this stack comes from ghcr.io" in found["registries.upstreams.ghcr.io"]


def test_model_sources_are_cloud_storage_paths_and_secret_manager_secrets():
    def edit(s):
        s.model_endpoints[0].model.source = ModelSource(uri="s3://acme/gemma/")
        s.model_endpoints[1].model.source = ModelSource(huggingface="meta-llama/Llama-3.3-70B-Instruct",
                                                        token_secret="https://kv.vault.azure.net/secrets/hf")
    found = problems(variant(edit))
    assert "gs://" in found["model_endpoints.0.model.source.uri"]
    assert "Secret Manager" in found["model_endpoints.1.model.source.token_secret"]
    ok = variant(lambda s: setattr(s.model_endpoints[1].model.source, "token_secret",
                                   "projects/acme-ml-prod/secrets/huggingface-token"))
    assert "model_endpoints.1.model.source.token_secret" not in problems(ok)


def test_a_gpu_pool_cannot_take_the_system_pools_name():
    found = problems(variant(lambda s: setattr(s.cluster.gpu_pools[0], "name", "system")))
    assert "system pool" in found["cluster.gpu_pools.0.name"]


def test_cloud_monitoring_alerts_need_a_route_other_than_slack():
    found = problems(variant(lambda s: setattr(s.monitoring.alert_routes[1], "severities", ["critical"])))
    assert "warning" in found["monitoring.alert_routes"] and "Slack" in found["monitoring.alert_routes"]
