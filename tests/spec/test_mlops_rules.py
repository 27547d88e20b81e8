"""The MLOps loop's spec rules: combinations that cannot work are refused before anything is planned."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from aienv.spec import load_spec
from tests.conftest import STACKS
from tests.spec.test_rules import only, problems, reference


def _chat(d: dict[str, Any]) -> dict[str, Any]:
    return d["model_endpoints"][0]


# --- capture feeds drift ---------------------------------------------------------------------------------------

def test_capture_off_with_a_drift_monitor_is_refused(tmp_path: Path) -> None:
    path, message = only(tmp_path, "prod-aws.yaml", lambda d: _chat(d).update(capture={"enabled": False}))
    assert path == "model_endpoints[0].drift"
    assert "capture is off" in message and "drift: false" in message


def test_capture_off_without_drift_is_a_choice(tmp_path: Path) -> None:
    def mutate(d: dict[str, Any]) -> None:
        ep = d["model_endpoints"][2]  # rerank: no retraining
        ep.update(capture={"enabled": False}, drift=False)
    assert problems(tmp_path, _mutated("prod-aws.yaml", mutate)) == []


def test_capture_retention_shorter_than_the_drift_window(tmp_path: Path) -> None:
    def mutate(d: dict[str, Any]) -> None:
        d["monitoring"]["drift"]["window_hours"] = 72
        _chat(d)["capture"]["retention_days"] = 2
    path, message = only(tmp_path, "prod-aws.yaml", mutate)
    assert path == "model_endpoints[0].capture.retention_days" and "drift window" in message


@pytest.mark.parametrize("percent", [0, 100.5, 0.001])
def test_sample_rate_out_of_range(tmp_path: Path, percent: float) -> None:
    path, _ = only(tmp_path, "prod-aws.yaml", lambda d: _chat(d)["capture"].update(sample_percent=percent))
    assert path == "model_endpoints[0].capture.sample_percent"


def test_retraining_on_drift_needs_the_drift_job(tmp_path: Path) -> None:
    found = problems(tmp_path, _mutated("prod-aws.yaml", lambda d: _chat(d).update(drift=False)))
    assert ("model_endpoints[0].retraining.triggers",
            "lists `drift` but the endpoint runs no drift job; turn `drift` on or remove the trigger") in found


def test_quality_trigger_needs_a_threshold(tmp_path: Path) -> None:
    path, _ = only(tmp_path, "prod-aws.yaml", lambda d: _chat(d)["retraining"].pop("quality_threshold"))
    assert path == "model_endpoints[0].retraining.quality_threshold"


@pytest.mark.parametrize(("stack", "pipeline"), [
    ("prod-aws.yaml", "arn:aws:sagemaker:eu-west-1:123456789012:pipeline/retrain"),  # another region
    ("prod-aws.yaml", "retrain pipeline"),
    ("prod-gcp.yaml", "https://example.com/pipeline.json"),
    ("prod-azure.yaml", "azureml://registries/acme/components/retrain/versions/1"),  # not an ARM id
])
def test_pipeline_must_be_the_clouds(tmp_path: Path, stack: str, pipeline: str) -> None:
    path, _ = only(tmp_path, stack, lambda d: _chat(d)["retraining"].update(pipeline=pipeline))
    assert path == "model_endpoints[0].retraining.pipeline"


def test_azure_pipelines_run_on_a_named_compute(tmp_path: Path) -> None:
    path, _ = only(tmp_path, "prod-azure.yaml", lambda d: _chat(d)["retraining"].pop("compute"))
    assert path == "model_endpoints[0].retraining.compute"


# --- progressive rollout: a failing analysis config is refused -------------------------------------------------

@pytest.mark.parametrize(("steps", "why"), [
    ([10, 25, 50], "must end at 100"),
    ([10, 50, 25, 100], "must increase"),
    ([100], "at least one step below 100"),
])
def test_rollout_steps_that_cannot_promote(tmp_path: Path, steps: list[int], why: str) -> None:
    path, message = only(tmp_path, "prod-aws.yaml", lambda d: _chat(d)["rollout"].update(steps=steps))
    assert path == "model_endpoints[0].rollout.steps" and why in message


@pytest.mark.parametrize(("field", "value"), [
    ("max_error_rate_percent", 0), ("max_error_rate_percent", 101), ("max_p95_latency_ms", 0),
    ("max_ttft_p95_ms", -5), ("interval_minutes", 0), ("failure_limit", 11),
])
def test_analysis_thresholds_out_of_range(tmp_path: Path, field: str, value: float) -> None:
    path, _ = only(tmp_path, "prod-aws.yaml", lambda d: _chat(d)["rollout"]["analysis"].update({field: value}))
    assert path == f"model_endpoints[0].rollout.analysis.{field}"


def test_ttft_on_a_runtime_without_it(tmp_path: Path) -> None:
    def mutate(d: dict[str, Any]) -> None:
        d["model_endpoints"][2]["rollout"] = {"analysis": {"max_ttft_p95_ms": 300}}  # rerank is Triton
    path, message = only(tmp_path, "prod-aws.yaml", mutate)
    assert path == "model_endpoints[2].rollout.analysis.max_ttft_p95_ms" and "`triton`" in message


def test_analysis_slower_than_a_step(tmp_path: Path) -> None:
    path, _ = only(tmp_path, "prod-aws.yaml",
                   lambda d: _chat(d)["rollout"].update(step_minutes=2, analysis={"interval_minutes": 5}))
    assert path == "model_endpoints[0].rollout.analysis.interval_minutes"


def test_rollout_replaces_the_fixed_canary(tmp_path: Path) -> None:
    path, _ = only(tmp_path, "prod-aws.yaml", lambda d: _chat(d).update(canary={"version": "4", "weight": 10}))
    assert path == "model_endpoints[0].rollout"


# --- scale to zero ---------------------------------------------------------------------------------------------

def test_dev_scales_to_zero_by_default() -> None:
    ep = load_spec(STACKS / "dev-aws.yaml").spec.model_endpoints[0]
    assert ep.scales_to_zero and ep.replicas.min == 0


@pytest.mark.parametrize("change", [{"replicas": {"min": 1, "max": 2}}, {"canary": {"version": "4", "weight": 10}},
                                    {"rollout": {}}])
def test_dev_default_stays_off_for_a_standing_replica_or_two_versions(tmp_path: Path, change: dict) -> None:
    # Specs written before scale to zero keep validating: the default follows what they ask for.
    data = _mutated("dev-aws.yaml", lambda d: _chat(d).update(change))
    written = tmp_path / "dev.yaml"
    written.write_text(yaml.safe_dump(data, sort_keys=False))
    ep = load_spec(written).spec.model_endpoints[0]
    assert not ep.scales_to_zero and ep.replicas.min == 1


def test_scale_to_zero_with_min_replicas_is_refused(tmp_path: Path) -> None:
    path, message = only(tmp_path, "dev-aws.yaml", lambda d: (_chat(d)["replicas"].update(min=1),
                                                              _chat(d)["scale_to_zero"].update(enabled=True)))
    assert path == "model_endpoints[0].replicas.min"
    assert message == "is 1 but the endpoint scales to zero when idle; set it to 0 or turn `scale_to_zero.enabled` off"


def test_scale_to_zero_is_refused_in_prod(tmp_path: Path) -> None:
    def mutate(d: dict[str, Any]) -> None:
        ep = d["model_endpoints"][2]  # rerank: no rollout
        ep["scale_to_zero"] = {"enabled": True}
        ep["replicas"] = {"min": 0, "max": 6}
    found = problems(tmp_path, _mutated("prod-aws.yaml", mutate))
    assert ("model_endpoints[2].scale_to_zero.enabled",
            "is on in prod, where endpoints keep at least two replicas; turn it off") in found


def test_scale_to_zero_cannot_combine_with_a_rollout(tmp_path: Path) -> None:
    path, _ = only(tmp_path, "dev-aws.yaml", lambda d: _chat(d).update(rollout={}, scale_to_zero={"enabled": True}))
    assert path == "model_endpoints[0].scale_to_zero.enabled"


def test_vllm_load_signals_only_on_vllm(tmp_path: Path) -> None:
    path, _ = only(tmp_path, "prod-aws.yaml",
                   lambda d: d["model_endpoints"][2].update(autoscaling={"metric": "queue_depth", "target": 4}))
    assert path == "model_endpoints[2].autoscaling.metric"


def test_validate_names_file_line_and_field(tmp_path: Path) -> None:
    data = reference("dev-aws.yaml")
    _chat(data)["replicas"]["min"] = 1
    _chat(data)["scale_to_zero"]["enabled"] = True
    spec = tmp_path / "dev.yaml"
    spec.write_text(yaml.safe_dump(data, sort_keys=False))
    done = subprocess.run([sys.executable, "-m", "aienv", "validate", str(spec)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr + done.stdout
    line = next(x for x in (done.stdout + done.stderr).splitlines() if "replicas.min" in x)
    assert line.startswith(f"{spec}:") and ": model_endpoints[0].replicas.min: is 1 but" in line


def _mutated(name: str, mutate: Any) -> dict[str, Any]:
    data = reference(name)
    mutate(data)
    return data
