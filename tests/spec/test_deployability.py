"""Spec rules that refuse what the `aienv-deploy` pack would refuse on the plan, decided by the spec alone:
resources that fit no node of their pool, GPU pools over zones that do not sell the GPU, rotation periods a
cloud rejects, budgets with more notification channels than GCP allows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.spec.test_rules import only, problems, reference


def _endpoint(data: dict[str, Any], name: str) -> dict[str, Any]:
    return next(e for e in data["model_endpoints"] if e["name"] == name)


def test_reference_specs_pass(tmp_path: Path) -> None:
    for name in ("prod-aws.yaml", "prod-azure.yaml", "prod-gcp.yaml", "dev-aws.yaml"):
        assert problems(tmp_path, reference(name)) == [], name


def test_cpu_that_fits_no_node_is_refused(tmp_path: Path) -> None:
    path, message = only(tmp_path, "prod-aws.yaml", lambda d: _endpoint(d, "chat")["resources"].update(cpu="4"))
    assert path == "model_endpoints[0].resources.cpu"
    assert "g6.xlarge" in message and "3920m" in message and "80m CPU" in message


def test_memory_that_fits_no_node_is_refused(tmp_path: Path) -> None:
    # g2-standard-8: 32 GiB less GKE's 25/20/10/6% tiers and the 100 MiB eviction threshold = 29023 MiB.
    path, message = only(tmp_path, "prod-gcp.yaml", lambda d: _endpoint(d, "chat")["resources"].update(memory="29Gi"))
    assert path == "model_endpoints[0].resources.memory" and "29023 MiB" in message
    assert problems(tmp_path, _with(reference("prod-gcp.yaml"), "chat", memory="28Gi")) == []


def _with(data: dict[str, Any], endpoint: str, **resources: str) -> dict[str, Any]:
    _endpoint(data, endpoint)["resources"].update(resources)
    return data


def test_gpu_pool_over_zones_without_its_gpu_is_refused(tmp_path: Path) -> None:
    def spread(d: dict[str, Any]) -> None:
        d["cluster"]["gpu_pools"][1]["zones"] = ["europe-west4-a", "europe-west4-b"]

    path, message = only(tmp_path, "prod-gcp.yaml", spread)
    assert path == "cluster.gpu_pools[1].zones" and "europe-west4-b" in message and "only in europe-west4-a" in message


def test_gpu_pool_inheriting_the_environment_zones_is_refused(tmp_path: Path) -> None:
    path, message = only(tmp_path, "prod-gcp.yaml", lambda d: d["cluster"]["gpu_pools"][1].pop("zones"))
    assert path == "cluster.gpu_pools[1].zones" and "europe-west4-b, europe-west4-c" in message


def test_gpu_pool_inheriting_gke_default_zones_is_refused(tmp_path: Path) -> None:
    def unpinned(d: dict[str, Any]) -> None:
        d["cluster"]["gpu_pools"][1].pop("zones")
        d["network"].pop("zones")

    path, message = only(tmp_path, "prod-gcp.yaml", unpinned)
    assert path == "cluster.gpu_pools[1].zones" and "three default zones" in message


def test_rotation_period_kms_rejects_is_refused(tmp_path: Path) -> None:
    path, message = only(tmp_path, "prod-aws.yaml", lambda d: d.setdefault("security", {}).update(key_rotation_days=60))
    assert path == "security.key_rotation_days" and "90 to 2560" in message
    assert problems(tmp_path, _rotation(reference("prod-gcp.yaml"), 60)) == []


def _rotation(data: dict[str, Any], days: int) -> dict[str, Any]:
    data.setdefault("security", {})["key_rotation_days"] = days
    return data


def test_gcp_budget_with_too_many_channels_is_refused(tmp_path: Path) -> None:
    emails = [f"person{i}@example.com" for i in range(6)]
    path, message = only(tmp_path, "prod-gcp.yaml", lambda d: d["budget"].update(notify_emails=emails))
    assert path == "budget.notify_emails" and "at most 5" in message
