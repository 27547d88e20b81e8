"""Kubernetes and AI/GPU rules on one well-formed serving environment and one broken one.

The GPU pool is an EKS node group; the serving stack is a Deployment labelled with the aienv conventions,
its PodDisruptionBudget, PrometheusRule, drift CronJob and gateway SecurityPolicy.
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
import pytest
from conftest import failing_names, run_policy
from mockplan import plan

from aienv.conventions import (
    ALLOW_PUBLIC_ANNOTATION,
    COMPONENT_DRIFT,
    COMPONENT_LABEL,
    COMPONENT_SERVING,
    ENDPOINT_LABEL,
    GPU_COUNT_LABEL,
    GPU_RESOURCE,
    GPU_TAINT_EFFECT,
    GPU_TAINT_KEY,
    GPU_TAINT_VALUE,
    GPU_TYPE_LABEL,
    SERVING_NAMESPACE,
    TAG_TIER,
)
from policies.rules import ai, kubernetes
from policies.rules.ai import MODEL_MEMORY_ANNOTATION, MODEL_PARAMS_ANNOTATION, MODEL_PRECISION_ANNOTATION

DIGEST = "sha256:" + "a" * 64
HARDENED = {"run_as_non_root": True, "run_as_user": 1000, "allow_privilege_escalation": False,
            "read_only_root_filesystem": True, "capabilities": {"drop": ["ALL"]},
            "seccomp_profile": {"type": "RuntimeDefault"}}
RESOURCES = {"requests": {"cpu": "1", "memory": "4Gi", GPU_RESOURCE: "1"},
             "limits": {"memory": "8Gi", GPU_RESOURCE: "1"}}


def _pool(name: str, gpu_type: str | None, instance: str, *, taint: bool = True, min_size: int = 0,
          max_size: int = 4, gpus: int = 1) -> None:
    labels = {GPU_TYPE_LABEL: gpu_type, GPU_COUNT_LABEL: str(gpus)} if gpu_type else {}
    taints = [{"key": GPU_TAINT_KEY, "value": GPU_TAINT_VALUE, "effect": "NO_SCHEDULE"}] if taint else []
    aws.eks.NodeGroup(name, cluster_name="eks", node_role_arn="arn:aws:iam::123456789012:role/node",
                      subnet_ids=["subnet-1"], instance_types=[instance], labels=labels, taints=taints,
                      scaling_config={"min_size": min_size, "max_size": max_size, "desired_size": min_size},
                      tags={TAG_TIER: "dev"})


def _serving(name: str, endpoint: str, image: pulumi.Input[str], *, gpu_type: str = "nvidia-l4",
             annotations: dict[str, str] | None = None) -> None:
    labels = {COMPONENT_LABEL: COMPONENT_SERVING, ENDPOINT_LABEL: endpoint}
    k8s.apps.v1.Deployment(name, metadata={"namespace": SERVING_NAMESPACE, "labels": labels,
                                           "annotations": annotations or {}},
                           spec={"replicas": 2, "selector": {"match_labels": labels}, "template": {
                               "metadata": {"labels": labels}, "spec": {
                                   "service_account_name": "llm",
                                   "security_context": {"seccomp_profile": {"type": "RuntimeDefault"}},
                                   "node_selector": {GPU_TYPE_LABEL: gpu_type},
                                   "tolerations": [{"key": GPU_TAINT_KEY, "operator": "Exists",
                                                    "effect": GPU_TAINT_EFFECT}],
                                   "containers": [{"name": "server", "image": image, "security_context": HARDENED,
                                                   "resources": RESOURCES}]}}})


def _secure() -> None:
    repo = aws.ecr.Repository("models", image_tag_mutability="IMMUTABLE")
    _pool("gpu-l4", "nvidia-l4", "g6.xlarge")
    image = repo.repository_url.apply(lambda url: f"{url}@{DIGEST}")
    _serving("llm", "llm", image, annotations={MODEL_PARAMS_ANNOTATION: "7", MODEL_PRECISION_ANNOTATION: "fp16"})
    labels = {COMPONENT_LABEL: COMPONENT_SERVING, ENDPOINT_LABEL: "llm"}
    k8s.networking.v1.NetworkPolicy("default-deny", metadata={"namespace": SERVING_NAMESPACE},
                                    spec={"pod_selector": {}, "policy_types": ["Ingress"]})
    k8s.policy.v1.PodDisruptionBudget("llm-pdb", metadata={"namespace": SERVING_NAMESPACE},
                                      spec={"min_available": 1, "selector": {"match_labels": labels}})
    k8s.core.v1.Service("llm-svc", metadata={"namespace": SERVING_NAMESPACE, "labels": labels},
                        spec={"type": "ClusterIP", "selector": labels, "ports": [{"port": 80}]})
    k8s.core.v1.Service("gateway-lb", metadata={"namespace": "gateway", "annotations": {
        "service.beta.kubernetes.io/aws-load-balancer-scheme": "internal"}},
        spec={"type": "LoadBalancer", "ports": [{"port": 443}]})
    envoy_service = {"type": "LoadBalancer", "annotations": {"service.beta.kubernetes.io/aws-load-balancer-scheme": "internal"}}
    k8s.apiextensions.CustomResource(
        "internal-proxy", api_version="gateway.envoyproxy.io/v1alpha1", kind="EnvoyProxy",
        metadata={"namespace": "gateway"}, spec={"provider": {"type": "Kubernetes", "kubernetes": {"envoyService": envoy_service}}})
    k8s.apiextensions.CustomResource(
        "public-proxy", api_version="gateway.envoyproxy.io/v1alpha1", kind="EnvoyProxy",
        metadata={"namespace": "gateway", "annotations": {ALLOW_PUBLIC_ANNOTATION: "true"}},
        spec={"provider": {"type": "Kubernetes", "kubernetes": {"envoyService": {"type": "LoadBalancer"}}}})
    k8s.apiextensions.CustomResource(
        "llm-alerts", api_version="monitoring.coreos.com/v1", kind="PrometheusRule",
        metadata={"namespace": SERVING_NAMESPACE, "labels": {ENDPOINT_LABEL: "llm"}},
        spec={"groups": [{"name": "llm", "rules": [
            {"alert": "LlmHighLatency", "expr": "histogram_quantile(0.99, rate(request_duration_seconds_bucket[5m])) > 2"},
            {"alert": "LlmErrorRate", "expr": "rate(requests_total{code=~'5..'}[5m]) > 0.01"},
            {"alert": "LlmGpuMemoryHigh", "expr": "DCGM_FI_DEV_FB_USED / DCGM_FI_DEV_FB_FREE > 0.95"}]}]})
    k8s.apiextensions.CustomResource(
        "llm-auth", api_version="gateway.envoyproxy.io/v1alpha1", kind="SecurityPolicy",
        metadata={"namespace": SERVING_NAMESPACE, "labels": {ENDPOINT_LABEL: "llm"}},
        spec={"targetRefs": [{"kind": "HTTPRoute", "name": "llm"}],
              "jwt": {"providers": [{"name": "idp", "remoteJWKS": {"uri": "https://idp/jwks"}}]}})
    drift_labels = {COMPONENT_LABEL: COMPONENT_DRIFT, ENDPOINT_LABEL: "llm"}
    k8s.batch.v1.CronJob("llm-drift", metadata={"namespace": SERVING_NAMESPACE, "labels": drift_labels}, spec={
        "schedule": "0 * * * *", "job_template": {"spec": {"template": {"metadata": {"labels": drift_labels}, "spec": {
            "service_account_name": "drift", "restart_policy": "OnFailure",
            "containers": [{"name": "drift", "image": f"registry.example/drift@{DIGEST}", "security_context": HARDENED,
                            "resources": {"requests": {"cpu": "100m", "memory": "256Mi"},
                                          "limits": {"memory": "512Mi"}}}]}}}}})


def _insecure() -> None:
    k8s.apiextensions.CustomResource(
        "bad-proxy", api_version="gateway.envoyproxy.io/v1alpha1", kind="EnvoyProxy",
        metadata={"namespace": "gateway"},
        spec={"provider": {"type": "Kubernetes", "kubernetes": {"envoyService": {"type": "LoadBalancer"}}}})
    _pool("bad-gpu-pool", None, "g6.xlarge", taint=False, min_size=2)
    _pool("bad-idle-pool", "nvidia-h100-80gb", "p5.48xlarge", max_size=100, gpus=8)
    labels = {COMPONENT_LABEL: COMPONENT_SERVING, ENDPOINT_LABEL: "bad"}
    k8s.apps.v1.Deployment("bad-serving", metadata={"namespace": "bad-ns", "labels": labels}, spec={
        "replicas": 3, "selector": {"match_labels": labels}, "template": {"metadata": {"labels": labels}, "spec": {
            "host_network": True,
            "containers": [{"name": "server", "image": "nginx",
                            "security_context": {"privileged": True, "run_as_user": 0},
                            "resources": {"requests": {GPU_RESOURCE: "1"}, "limits": {GPU_RESOURCE: "2"}}}]}}})
    _serving("bad-fit", "fit", "registry.example/server:latest",
             annotations={MODEL_MEMORY_ANNOTATION: "100"})
    k8s.core.v1.Service("bad-lb", metadata={"namespace": "bad-ns", "labels": labels},
                        spec={"type": "LoadBalancer", "selector": labels, "ports": [{"port": 80}]})


@pytest.fixture(scope="module")
def secure() -> dict:
    return plan(_secure)


@pytest.fixture(scope="module")
def insecure() -> dict:
    return plan(_insecure)


# ai-cached-image-digest needs registry caches in the plan: tests/policies/test_cached_images.py.
NAMES = [r.meta.name for r in (*kubernetes.RULES, *ai.RULES) if r.meta.name != "ai-cached-image-digest"]
FAILING = {
    "k8s-gateway-proxy-not-public": {"bad-proxy"},
    "k8s-no-privileged": {"bad-serving"},
    "k8s-run-as-non-root": {"bad-serving"},
    "k8s-no-privilege-escalation": {"bad-serving"},
    "k8s-read-only-root-fs": {"bad-serving"},
    "k8s-drop-all-capabilities": {"bad-serving"},
    "k8s-seccomp-runtime-default": {"bad-serving"},
    "k8s-no-host-namespaces": {"bad-serving"},
    "k8s-resource-limits": {"bad-serving"},
    "k8s-no-default-service-account": {"bad-serving"},
    "k8s-no-public-load-balancer": {"bad-lb"},
    "k8s-default-deny-network-policy": {"bad-serving"},
    "k8s-serving-pdb": {"bad-serving", "bad-fit"},
    "k8s-image-pinned": {"bad-serving", "bad-fit"},
    "ai-gpu-pool-tainted": {"bad-gpu-pool"},
    "ai-gpu-workload-placement": {"bad-serving"},
    "ai-gpu-requests-equal-limits": {"bad-serving"},
    "ai-gpu-workload-scheduling": {"bad-serving", "bad-fit"},
    "ai-gpu-pool-label-matched": {"bad-idle-pool"},
    "ai-model-fits-gpu-memory": {"bad-fit"},
    "ai-gpu-quota": {""},
    "ai-gpu-scale-to-zero": {"bad-gpu-pool"},
    "ai-serving-alerts": {"bad-serving", "bad-fit"},
    "ai-serving-drift-monitor": {"bad-serving", "bad-fit"},
    "ai-endpoint-auth": {"bad-serving", "bad-fit"},
    "ai-endpoint-not-public": {"bad-lb"},
    "ai-serving-image-provenance": {"bad-serving", "bad-fit"},
}


@pytest.mark.parametrize("name", NAMES)
def test_passes_on_secure_program(secure: dict, name: str) -> None:
    assert run_policy(secure, name) == []


@pytest.mark.parametrize("name", NAMES)
def test_fails_on_insecure_program(insecure: dict, name: str) -> None:
    assert FAILING[name] <= failing_names(insecure, name)


def test_gpu_count_must_fit_the_node_shape(secure: dict) -> None:
    export = plan(lambda: (_pool("gpu-l4", "nvidia-l4", "g6.xlarge"),
                           _serving("big", "big", f"x@{DIGEST}"),
                           None))
    for r in export["deployment"]["resources"]:
        if r["type"] == "kubernetes:apps/v1:Deployment":
            for key in ("inputs", "outputs"):
                container = r[key]["spec"]["template"]["spec"]["containers"][0]
                container["resources"]["limits"][GPU_RESOURCE] = "4"
                container["resources"]["requests"][GPU_RESOURCE] = "4"
    messages = [v.message for v in run_policy(export, "ai-gpu-workload-scheduling")]
    assert messages == ["The Deployment `big` must not need more GPUs per pod (4) than a `nvidia-l4` node has (1)."]


def test_quota_is_configurable(secure: dict) -> None:
    assert failing_names(secure, "ai-gpu-quota", {"maxGpus": 2}) == {""}
