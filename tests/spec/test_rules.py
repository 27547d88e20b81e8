"""Semantic rules: each catches a real mistake before any cloud call, with a message that says what to do."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from aienv.errors import SpecError
from aienv.spec import load_spec
from tests.conftest import STACKS

Mutation = Callable[[dict[str, Any]], None]


def reference(name: str) -> dict[str, Any]:
    return copy.deepcopy(load_spec(STACKS / name).data)


def problems(tmp_path: Path, data: dict[str, Any]) -> list[tuple[str, str]]:
    """(dotted path, message) of every problem of `data`; [] when it is valid."""
    path = tmp_path / "variant.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    try:
        load_spec(path)
    except SpecError as exc:
        return [(i.path, i.message) for i in exc.issues]
    return []


def only(tmp_path: Path, base: str, mutate: Mutation) -> tuple[str, str]:
    data = reference(base)
    mutate(data)
    found = problems(tmp_path, data)
    assert len(found) == 1, found
    return found[0]


def test_reference_specs_have_no_problems(tmp_path: Path) -> None:
    for name in ("dev-aws.yaml", "prod-aws.yaml", "prod-azure.yaml", "prod-gcp.yaml"):
        assert problems(tmp_path, reference(name)) == [], name


def test_gpu_not_offered_on_cloud(tmp_path: Path) -> None:
    def mutate(d: dict[str, Any]) -> None:
        d["cluster"]["gpu_pools"][0]["gpu_type"] = "nvidia-l4"
        d["model_endpoints"][0]["gpu"]["type"] = "nvidia-l4"
        d["model_endpoints"][2]["gpu"]["type"] = "nvidia-l4"
        d["budget"]["gpu_quota"] = {}
    path, message = only(tmp_path, "prod-azure.yaml", mutate)
    assert path == "cluster.gpu_pools[0].gpu_type"
    assert message == "nvidia-l4 is not offered on azure (only on aws, gcp); pick another GPU type"


def test_gpu_not_offered_in_region(tmp_path: Path) -> None:
    def mutate(d: dict[str, Any]) -> None:
        d["cloud"]["region"] = "eu-west-1"
        d["compliance"]["allowed_regions"] = ["eu-west-1"]
    path, message = only(tmp_path, "prod-aws.yaml", mutate)
    assert path == "cluster.gpu_pools[1].gpu_type"
    assert message == "nvidia-a100-80gb is not offered in eu-west-1; regions with it: us-east-1, us-west-2"


def test_gpus_per_node_must_be_a_shape_the_cloud_sells(tmp_path: Path) -> None:
    def mutate(d: dict[str, Any]) -> None:
        d["cluster"]["gpu_pools"][1]["gpus_per_node"] = 3
    path, message = only(tmp_path, "prod-gcp.yaml", mutate)
    assert (path, message) == ("cluster.gpu_pools[1].gpus_per_node",
                               "gcp sells nvidia-a100-80gb machines with 1 or 2 or 4 or 8 GPUs, not 3; use one of those counts")


def test_endpoint_without_matching_pool_would_stay_pending(tmp_path: Path) -> None:
    def mutate(d: dict[str, Any]) -> None:
        d["model_endpoints"][2]["gpu"]["type"] = "nvidia-t4"
    path, message = only(tmp_path, "prod-aws.yaml", mutate)
    assert path == "model_endpoints[2].gpu.type"
    assert "no GPU pool of type nvidia-t4: its pods would stay Pending" in message


def test_endpoint_asking_more_gpus_than_any_node_has(tmp_path: Path) -> None:
    def mutate(d: dict[str, Any]) -> None:
        d["model_endpoints"][0]["gpu"]["count"] = 2
    path, message = only(tmp_path, "prod-aws.yaml", mutate)
    assert path == "model_endpoints[0].gpu.count"
    assert "largest nvidia-l4 pool has 1 GPU per node" in message


def test_model_larger_than_gpu_memory(tmp_path: Path) -> None:
    def mutate(d: dict[str, Any]) -> None:
        d["model_endpoints"][1]["gpu"]["count"] = 1
    path, message = only(tmp_path, "prod-aws.yaml", mutate)
    assert path == "model_endpoints[1].model.size_billion_params"
    assert message.startswith("a 70B model at bf16 needs about 156 GiB of GPU memory but 1 x nvidia-a100-80gb has "
                              "80 GiB")


def test_lower_precision_makes_the_model_fit(tmp_path: Path) -> None:
    data = reference("prod-aws.yaml")
    data["model_endpoints"][1]["gpu"]["count"] = 2
    data["model_endpoints"][1]["model"]["precision"] = "int8"  # 70B int8 ≈ 78 GiB fits 2 x 80
    assert problems(tmp_path, data) == []


@pytest.mark.parametrize("where", [("cluster", "gpu_pools", 0), ("cluster", "system_pool")])
def test_min_greater_than_max(tmp_path: Path, where: tuple[Any, ...]) -> None:
    def mutate(d: dict[str, Any]) -> None:
        node = d
        for key in where:
            node = node.setdefault(key, {}) if isinstance(key, str) else node[key]
        node["min_nodes"], node["max_nodes"] = 7, 5
    path, message = only(tmp_path, "prod-aws.yaml", mutate)
    assert path.endswith("min_nodes") and message == "is 7, more than max_nodes (5); make min_nodes <= max_nodes"


def test_replicas_min_greater_than_max(tmp_path: Path) -> None:
    def mutate(d: dict[str, Any]) -> None:
        d["model_endpoints"][0]["replicas"] = {"min": 5, "max": 3}
    assert only(tmp_path, "prod-aws.yaml", mutate) == (
        "model_endpoints[0].replicas.min", "is 5, more than replicas.max (3); make min <= max")


def test_prod_endpoints_need_two_replicas(tmp_path: Path) -> None:
    def mutate(d: dict[str, Any]) -> None:
        d["model_endpoints"][0]["replicas"]["min"] = 1
    assert only(tmp_path, "prod-aws.yaml", mutate) == (
        "model_endpoints[0].replicas.min", "must be at least 2 in prod so one replica can fail or roll")


def test_canary_weight_bounds(tmp_path: Path) -> None:
    data = reference("prod-aws.yaml")
    data["model_endpoints"][0].pop("rollout")  # a fixed-weight canary instead of the progressive rollout
    data["model_endpoints"][0]["canary"] = {"version": "4", "weight": 120}
    ((path, message),) = problems(tmp_path, data)
    assert (path, message) == ("model_endpoints[0].canary.weight", "is 120; use 100 or less")


def test_names_must_be_dns_safe(tmp_path: Path) -> None:
    data = reference("prod-aws.yaml")
    data["cluster"]["gpu_pools"][1]["name"] = "L4_pool"
    assert problems(tmp_path, data) == [("cluster.gpu_pools[1].name", "`L4_pool` is not DNS-safe: use lowercase "
                                         "letters, digits and `-`, starting with a letter, at most 40 characters")]


def test_names_must_be_unique(tmp_path: Path) -> None:
    def mutate(d: dict[str, Any]) -> None:
        d["model_endpoints"][1]["name"] = "chat"
    assert only(tmp_path, "prod-aws.yaml", mutate) == (
        "model_endpoints[1].name", "`chat` is used by more than one endpoint; endpoint names must be unique")


def test_region_outside_data_residency(tmp_path: Path) -> None:
    def mutate(d: dict[str, Any]) -> None:
        d["compliance"]["allowed_regions"] = ["northeurope"]
    path, message = only(tmp_path, "prod-azure.yaml", mutate)
    assert path == "cloud.location"
    assert message == ("westeurope is outside compliance.allowed_regions (northeurope); data must stay in an "
                       "allowed region")


def test_gpu_quota_below_pool_maximum(tmp_path: Path) -> None:
    def mutate(d: dict[str, Any]) -> None:
        d["budget"]["gpu_quota"]["nvidia-a100-80gb"] = 10
    assert only(tmp_path, "prod-aws.yaml", mutate) == (
        "budget.gpu_quota.nvidia-a100-80gb",
        "caps nvidia-a100-80gb at 10 GPUs but the pools can reach 16; lower the pools' max_nodes or raise the cap")


def test_public_endpoint_without_auth_is_impossible(tmp_path: Path) -> None:
    def mutate(d: dict[str, Any]) -> None:
        d["model_endpoints"][1]["auth"] = {"mode": "none"}
    assert only(tmp_path, "prod-aws.yaml", mutate) == (
        "model_endpoints[1].auth.mode",
        "is `none` but exposure is `public`; endpoints outside the cluster need `api_key` or `jwt`")


def test_public_api_needs_cidrs(tmp_path: Path) -> None:
    def mutate(d: dict[str, Any]) -> None:
        d["cluster"]["api_access"] = "public"
    path, message = only(tmp_path, "dev-aws.yaml", mutate)
    assert path == "cluster.api_allowed_cidrs" and "list the CIDRs" in message


def test_azure_name_too_long(tmp_path: Path) -> None:
    def mutate(d: dict[str, Any]) -> None:
        d["name"] = "a-very-long-environment-name"
    path, message = only(tmp_path, "prod-azure.yaml", mutate)
    assert path == "name" and message.startswith("is 28 characters; Azure environments allow at most 20")


def test_cloud_fields_required_per_provider(tmp_path: Path) -> None:
    def mutate(d: dict[str, Any]) -> None:
        del d["cloud"]["project"]
    assert only(tmp_path, "prod-gcp.yaml", mutate) == (
        "cloud.project", "is required when cloud.provider is `gcp`; set it")


def test_gcp_budget_needs_billing_account(tmp_path: Path) -> None:
    def mutate(d: dict[str, Any]) -> None:
        del d["gcp"]["billing_account"]
    path, _ = only(tmp_path, "prod-gcp.yaml", mutate)
    assert path == "gcp.billing_account"


def test_custom_runtime_needs_image(tmp_path: Path) -> None:
    def mutate(d: dict[str, Any]) -> None:
        del d["model_endpoints"][2]["image"]
    assert only(tmp_path, "prod-gcp.yaml", mutate) == (
        "model_endpoints[2].image", "is required when runtime is `custom`; give the container image")


def test_all_problems_reported_at_once(tmp_path: Path) -> None:
    data = reference("prod-aws.yaml")
    data["model_endpoints"][0]["replicas"] = {"min": 9, "max": 3}
    data["budget"]["gpu_quota"]["nvidia-l4"] = 1
    data["network"]["cidr"] = "8.8.0.0/16"
    assert len(problems(tmp_path, data)) == 3


def test_endpoints_authenticate_by_default() -> None:
    spec = load_spec(STACKS / "prod-aws.yaml").spec
    rerank = next(e for e in spec.model_endpoints if e.name == "rerank")
    assert rerank.auth.mode == "api_key"  # not set in the spec: the secure default


@pytest.mark.parametrize("image, expected", [
    ("vllm-openai:latest", "must be pinned to a version tag or a digest"),
    ("vllm-openai", "must be pinned to a version tag or a digest"),
    ("Bad Image!", "is not an image reference"),
])
def test_images_must_be_pinned(tmp_path: Path, image: str, expected: str) -> None:
    def mutate(d: dict[str, Any]) -> None:
        d["model_endpoints"][0]["image"] = image
    path, message = only(tmp_path, "prod-aws.yaml", mutate)
    assert path == "model_endpoints[0].image" and expected in message


def test_canary_image_must_be_pinned(tmp_path: Path) -> None:
    def mutate(d: dict[str, Any]) -> None:
        d["model_endpoints"][0].pop("rollout")  # a fixed-weight canary instead of the progressive rollout
        d["model_endpoints"][0]["canary"] = {"version": "4", "weight": 10, "image": "vllm-openai:latest"}
    path, _ = only(tmp_path, "prod-aws.yaml", mutate)
    assert path == "model_endpoints[0].canary.image"


def test_digest_pinned_image_is_accepted(tmp_path: Path) -> None:
    data = reference("prod-aws.yaml")
    data["model_endpoints"][0]["image"] = "vllm-openai@sha256:" + "ab" * 32
    assert problems(tmp_path, data) == []


def test_email_routes_need_a_mail_relay(tmp_path: Path) -> None:
    def mutate(d: dict[str, Any]) -> None:
        del d["monitoring"]["smtp"]
    assert only(tmp_path, "prod-aws.yaml", mutate) == (
        "monitoring.alert_routes[1].kind",
        "is `email` but monitoring.smtp is not set; give the mail relay alerts are sent through")


def test_budget_notification_limit_per_cloud(tmp_path: Path) -> None:
    def mutate(d: dict[str, Any]) -> None:
        d["budget"]["alert_thresholds_percent"] = [10, 20, 40, 60, 80, 100]
    assert only(tmp_path, "prod-aws.yaml", mutate) == (
        "budget.alert_thresholds_percent", "has 6 thresholds; aws budgets allow at most 5 notifications")
    data = reference("prod-gcp.yaml")
    mutate(data)
    assert problems(tmp_path, data) == []  # GCP budgets take more threshold rules


def test_no_egress_and_no_private_endpoints_is_rejected(tmp_path: Path) -> None:
    def mutate(d: dict[str, Any]) -> None:
        d["network"]["egress"] = "none"
        d["network"]["private_endpoints"] = False
    path, message = only(tmp_path, "prod-gcp.yaml", mutate)
    assert path == "network.egress" and "could reach neither" in message


def test_gpu_pool_zones_must_be_environment_zones(tmp_path: Path) -> None:
    data = reference("prod-gcp.yaml")
    del data["network"]["zones"]
    data["cluster"]["gpu_pools"][1]["zones"] = ["europe-west4-a"]
    assert problems(tmp_path, data) == [(
        "cluster.gpu_pools[1].zones",
        "needs network.zones: list the environment's zones so the pool's can be checked against them")]
    data["network"]["zones"] = ["europe-west4-a", "europe-west4-b", "europe-west4-c"]
    data["cluster"]["gpu_pools"][0]["zones"] = ["europe-west4-d"]
    assert problems(tmp_path, data) == [(
        "cluster.gpu_pools[0].zones[0]", "`europe-west4-d` is not one of network.zones "
                                         "(europe-west4-a, europe-west4-b, europe-west4-c)")]
    data["cluster"]["gpu_pools"][0]["zones"] = []
    data["network"]["zones"] = ["europe-west4-a", "europe-west4-b", "europe-west4-c"]
    assert problems(tmp_path, data) == []


@pytest.mark.parametrize("base, zone, example, message", [
    ("prod-aws.yaml", "us-west-2a", "us-east-1a",
     "`us-west-2a` is not a zone of us-east-1; AWS zones are the region and a letter, e.g. `us-east-1a`"),
    ("prod-gcp.yaml", "europe-west4a", "europe-west4-a",
     "`europe-west4a` is not a zone of europe-west4; its zones are `europe-west4-a`, `europe-west4-b`, "
     "`europe-west4-c`"),
    # Google's "Regions and zones" table: europe-west4 has zones a, b and c only
    ("prod-gcp.yaml", "europe-west4-d", "europe-west4-a",
     "`europe-west4-d` is not a zone of europe-west4; its zones are `europe-west4-a`, `europe-west4-b`, "
     "`europe-west4-c`"),
    ("prod-azure.yaml", "4", "1", "`4` is not an Azure availability zone; write `1`, `2` or `3`")])
def test_zone_names_follow_each_cloud(tmp_path: Path, base: str, zone: str, example: str, message: str) -> None:
    data = reference(base)
    data.setdefault("network", {})["availability_zones"] = 2
    data["network"]["zones"] = [zone, example]
    assert problems(tmp_path, data) == [("network.zones[0]", message)]


# --- bring-up: a deployer path, a model source, an image supply ---------------------------------------------
@pytest.mark.parametrize("base", ["prod-aws.yaml", "prod-azure.yaml"])
def test_private_api_without_a_deployer_path_is_refused(tmp_path: Path, base: str) -> None:
    def mutate(d: dict[str, Any]) -> None:
        del d["cluster"]["deployer"]
    path, message = only(tmp_path, base, mutate)
    assert path == "cluster.deployer.path"
    assert message.startswith("is required: the API server is private") and "docs/deploy.md" in message


def test_gke_private_api_defaults_to_the_dns_endpoint(tmp_path: Path) -> None:
    data = reference("prod-gcp.yaml")
    del data["cluster"]["deployer"]
    assert problems(tmp_path, data) == []
    path = tmp_path / "variant.yaml"
    assert load_spec(path).spec.cluster.deployer.path == "dns_endpoint"


def test_dns_endpoint_only_on_gcp_and_private_network_needs_cidrs(tmp_path: Path) -> None:
    def dns(d: dict[str, Any]) -> None:
        d["cluster"]["deployer"] = {"path": "dns_endpoint"}
    path, message = only(tmp_path, "prod-aws.yaml", dns)
    assert path == "cluster.deployer.path" and message.startswith("`dns_endpoint` exists only on GKE, not on aws")

    def no_cidrs(d: dict[str, Any]) -> None:
        d["cluster"]["deployer"] = {"path": "private_network"}
    path, message = only(tmp_path, "prod-azure.yaml", no_cidrs)
    assert path == "cluster.deployer.cidrs" and "CI runner subnet" in message

    def world(d: dict[str, Any]) -> None:
        d["cluster"]["deployer"]["cidrs"] = ["0.0.0.0/0"]
    path, message = only(tmp_path, "prod-aws.yaml", world)
    assert path == "cluster.deployer.cidrs[0]" and message == "admits every address; list the deployer's own network"


def test_model_without_a_source_is_refused(tmp_path: Path) -> None:
    def mutate(d: dict[str, Any]) -> None:
        del d["model_endpoints"][1]["model"]["source"]
    path, message = only(tmp_path, "prod-aws.yaml", mutate)
    assert path == "model_endpoints[1].model.source"
    assert message.startswith("is required: say where the weights come from")


def test_model_source_names_exactly_one_origin(tmp_path: Path) -> None:
    def two(d: dict[str, Any]) -> None:
        d["model_endpoints"][0]["model"]["source"]["uploaded"] = True
        del d["model_endpoints"][0]["model"]["source"]["token_secret"]
    path, message = only(tmp_path, "prod-aws.yaml", two)
    assert path == "model_endpoints[0].model.source"
    assert message == "sets `huggingface` and `uploaded`; set exactly one of `huggingface`, `ngc`, `uri` or `uploaded`"

    def ngc(d: dict[str, Any]) -> None:
        d["model_endpoints"][0]["model"]["source"] = {"ngc": "nvidia/nemo/llama-3_1-8b:1.0"}
    path, message = only(tmp_path, "prod-aws.yaml", ngc)
    assert path == "model_endpoints[0].model.source.token_secret" and "NGC downloads need an API key" in message


def test_cached_image_must_be_one_aienv_knows(tmp_path: Path) -> None:
    def mutate(d: dict[str, Any]) -> None:
        d["model_endpoints"][0]["image"] = "my-vllm-fork:1.2.3"
    path, message = only(tmp_path, "prod-aws.yaml", mutate)
    assert path == "model_endpoints[0].image" and "set `image_supply: ci`" in message

    def declared(d: dict[str, Any]) -> None:
        d["model_endpoints"][0]["image"] = "my-vllm-fork:1.2.3"
        d["model_endpoints"][0]["image_supply"] = "ci"
    data = reference("prod-aws.yaml")
    declared(data)
    assert problems(tmp_path, data) == []


def test_c3_public_gateway_cidrs_must_be_cidrs(tmp_path: Path) -> None:
    def mutate(d: dict[str, Any]) -> None:
        d.setdefault("network", {})["public_gateway_cidrs"] = ["203.0.113.0/24", "203.0.113.7/24"]
    path, message = only(tmp_path, "prod-aws.yaml", mutate)
    assert path == "network.public_gateway_cidrs[1]" and message.startswith("is not a valid CIDR")


def test_c3_public_gateway_cidrs_need_a_public_endpoint(tmp_path: Path) -> None:
    def mutate(d: dict[str, Any]) -> None:
        d.setdefault("network", {})["public_gateway_cidrs"] = ["203.0.113.0/24"]
    assert only(tmp_path, "prod-gcp.yaml", mutate) == (
        "network.public_gateway_cidrs", "only applies when an endpoint's exposure is `public`; remove it")
    data = reference("prod-aws.yaml")
    mutate(data)
    assert problems(tmp_path, data) == []
