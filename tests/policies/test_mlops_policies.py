"""The MLOps loop's policies on the Kubernetes layer's real plans: each has a passing and a failing case, and the
compliance packs enforce the PII redaction the AI pack only advises."""

from __future__ import annotations

from functools import cache

import pulumi_kubernetes as k8s
from conftest import failing_names, run_policy
from mockplan import plan

from aienv.check import from_export, run_packs
from aienv.engine import plan_program
from aienv.spec.model import StackSpec
from components.environment import build_environment
from tests.kubernetes.k8splan import plan_layer, reference

# The failing resource of each rule's failing case below (tests/policies/test_stack.py checks every rule has one).
FAILING = {"ai-drift-needs-capture": {"prod-aws-k8s-rerank-drift-cron-job"},
           "ai-capture-pii-redaction": {"prod-aws-k8s-chat-capture-deployment"},
           "ai-rollout-analysis": {"rollout"}}


@cache
def _export(name: str, variant: str = "") -> dict:
    spec = reference(name).model_copy(deep=True)
    _VARIANTS[variant](spec)
    return plan_layer(spec).to_export()


def _no_capture_for_rerank(spec: StackSpec) -> None:
    spec.model_endpoints[2].capture.enabled = False  # the drift job stays (past the spec's own refusal)


def _keep_text(spec: StackSpec) -> None:
    spec.model_endpoints[0].capture.pii = "keep"


def _tiny_disk(spec: StackSpec) -> None:
    spec.cluster.gpu_pools[1].disk_gb = 200  # a100: `summarize`'s cache needs 416 GiB


_VARIANTS = {"": lambda spec: None, "no-capture": _no_capture_for_rerank, "keep-text": _keep_text,
             "tiny-disk": _tiny_disk}


def test_drift_monitors_are_fed_by_capture() -> None:
    assert failing_names(_export("prod-aws"), "ai-drift-needs-capture") == set()
    violations = run_policy(_export("prod-aws", "no-capture"), "ai-drift-needs-capture")
    assert [(v.name, v.message) for v in violations] == [(
        "prod-aws-k8s-rerank-drift-cron-job",
        "The CronJob `prod-aws-k8s-rerank-drift-cron-job` must have inference capture to score: endpoint `rerank` "
        "has no capture writer (a Deployment labelled `aienv.io/component=inference-capture`, "
        "`aienv.io/endpoint=rerank`).")]


def _writer_without_mirror() -> None:
    labels = {"aienv.io/endpoint": "chat"}
    k8s.batch.v1.CronJob("drift", metadata={"name": "chat-drift", "labels": {
        **labels, "aienv.io/component": "drift-monitor"}}, spec={"schedule": "0 * * * *", "jobTemplate": {
            "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "s", "image": "x:1"}]}}}}})
    capture = {**labels, "aienv.io/component": "inference-capture"}
    k8s.apps.v1.Deployment("writer", metadata={"name": "chat-capture", "labels": capture}, spec={
        "selector": {"matchLabels": capture}, "template": {"metadata": {"labels": capture}, "spec": {
            "containers": [{"name": "w", "image": "x:1"}]}}})
    k8s.core.v1.Service("writer-svc", metadata={"name": "chat-capture", "labels": capture},
                        spec={"selector": capture, "ports": [{"port": 80}]})
    k8s.apiextensions.CustomResource("route", api_version="gateway.networking.k8s.io/v1", kind="HTTPRoute",
                                     metadata={"name": "chat", "labels": labels},
                                     spec={"rules": [{"backendRefs": [{"name": "chat-stable", "port": 80}]}]})


def test_a_writer_the_route_does_not_mirror_to_captures_nothing() -> None:
    violations = run_policy(plan(_writer_without_mirror), "ai-drift-needs-capture")
    assert len(violations) == 1 and "mirrors its requests" in violations[0].message


def test_capture_must_redact_where_the_framework_requires() -> None:
    assert failing_names(_export("prod-aws"), "ai-capture-pii-redaction") == set()
    keep = _export("prod-aws", "keep-text")
    assert failing_names(keep, "ai-capture-pii-redaction") == {"prod-aws-k8s-chat-capture-deployment"}
    plan_ = from_export(keep, None)
    hipaa = [v for v in run_packs(plan_, ["hipaa"]).mandatory if v.policy == "ai-capture-pii-redaction"]
    gdpr = [v for v in run_packs(plan_, ["gdpr"]).mandatory if v.policy == "ai-capture-pii-redaction"]
    advice = [v for v in run_packs(plan_, ["aienv-ai"]).violations if v.policy == "ai-capture-pii-redaction"]
    assert len(hipaa) == 1 and len(gdpr) == 1  # mandatory in the compliance packs
    assert advice and all(v.enforcement == "advisory" for v in advice)  # advice in the AI pack
    assert not [v for v in run_packs(plan_, ["soc2"]).violations if v.policy == "ai-capture-pii-redaction"]


def _rollout(analysis: bool) -> None:
    canary = {"stableService": "chat-stable", "canaryService": "chat-canary",
              "steps": [{"setWeight": 10}, {"pause": {"duration": "10m"}}]}
    if analysis:
        canary["analysis"] = {"templates": [{"templateName": "chat-slo"}], "startingStep": 1}
    k8s.apiextensions.CustomResource("rollout", api_version="argoproj.io/v1alpha1", kind="Rollout",
                                     metadata={"name": "chat"}, spec={"strategy": {"canary": canary}})


def test_rollout_steps_are_gated_by_an_analysis() -> None:
    assert failing_names(plan(lambda: _rollout(True)), "ai-rollout-analysis") == set()
    assert failing_names(plan(lambda: _rollout(False)), "ai-rollout-analysis") == {"rollout"}
    for stack in ("prod-aws", "prod-azure", "prod-gcp"):
        assert failing_names(_export(stack), "ai-rollout-analysis") == set()


@cache
def _environment(name: str, variant: str = "") -> dict:
    """The whole environment (the node pools are the cloud foundation's)."""
    spec = reference(name).model_copy(deep=True)
    _VARIANTS[variant](spec)
    return plan_program(lambda: build_environment(spec), project="aienv", stack=spec.name).to_export()


def test_the_disk_rule_sizes_the_node_weight_cache() -> None:
    assert failing_names(_environment("prod-aws"), "deploy-node-disk-fits-local-data") == set()
    violations = run_policy(_environment("prod-aws", "tiny-disk"), "deploy-node-disk-fits-local-data")
    assert [v.name for v in violations] == ["prod-aws-k8s-weight-cache-summarize-volume"]
    assert "416 GiB" in violations[0].message and "200 GB disk" in violations[0].message


def test_the_disk_rule_counts_the_cache_with_the_pods_local_data() -> None:
    def tight(spec: StackSpec) -> None:
        spec.cluster.gpu_pools[1].disk_gb = 500  # the cache fits alone (416 of 419 GiB), not with the pods' 22 GiB
    _VARIANTS["tight"] = tight
    messages = [v.message for v in run_policy(_environment("prod-aws", "tight"), "deploy-node-disk-fits-local-data")]
    assert messages and all("and the node's weight caches (416 GiB)" in m for m in messages)
