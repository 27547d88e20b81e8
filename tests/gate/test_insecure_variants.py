"""Every insecure choice the spec language allows is caught by the gate, through the real path:
spec YAML -> `load_spec` (spec rules) -> offline plan -> the packs `aienv check` runs.

For each (choice, cloud) the variant is the cloud's reference spec with that one choice changed. The test asserts
that the expected policy reports a *mandatory* violation on the expected resource, and that the reference spec
has no violation of that policy. Choices the spec rules reject (residency, GPU quota, model fit) are asserted as
`SpecError`s, and the matching policy is shown to catch the same mistake in a graph that bypasses the spec.
Choices that do not apply on a cloud are excluded below, with the reason.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pytest

from aienv.conventions import (
    ALLOW_PUBLIC_ANNOTATION,
    COMPONENT_LABEL,
    COMPONENT_SERVING,
    ENDPOINT_LABEL,
    MODEL_PARAMS_ANNOTATION,
    MODEL_PRECISION_ANNOTATION,
)
from aienv.engine import plan_program
from aienv.errors import SpecError
from aienv.spec import StackSpec

from .gateplan import Checked, check_export, load_variant, reference, variant

CLOUDS = ("aws", "azure", "gcp")
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
SERVICE = "kubernetes:core/v1:Service"
STACK = "pulumi:pulumi:Stack"  # the type a stack-level violation (no resource) is reported on


@pytest.fixture(scope="module")
def gate_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("gate")


# --- edits of the spec document ---------------------------------------------------------------------------------

def setting(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node = data
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = copy.deepcopy(value)
    return edit


def settings(*edits: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
    def edit(data: dict[str, Any]) -> None:
        for e in edits:
            e(data)
    return edit


def _unauthenticated_last_endpoint(data: dict[str, Any]) -> None:
    """The last endpoint of every reference is in-cluster: take its authentication away."""
    ep = data["model_endpoints"][-1]
    ep["exposure"] = "cluster"
    ep["auth"] = {"mode": "none"}


def _unauthenticated_and_public(data: dict[str, Any]) -> None:
    """As above; on GCP (whose reference has no public endpoint) also make the first endpoint public, with its
    auth, so the same plan shows that an authenticated public endpoint passes."""
    _unauthenticated_last_endpoint(data)
    first = data["model_endpoints"][0]
    if data["cloud"]["provider"] == "gcp":
        first["exposure"] = "public"


@dataclass(frozen=True)
class Expect:
    policy: str
    type: str
    name: str = ""  # a part of the resource name, when it matters which one


@dataclass(frozen=True)
class Choice:
    id: str
    edit: Callable[[dict[str, Any]], None]
    expect: dict[str, tuple[Expect, ...]]  # cloud -> violations that must appear


# The matrix: insecure choice x cloud -> the policies that must fail, and on what.
CHOICES = (
    Choice("provider-managed-encryption", setting("security.encryption", "provider_managed"), {
        "aws": (Expect("aws-s3-encryption-kms", "aws:s3/bucketServerSideEncryptionConfiguration:"
                       "BucketServerSideEncryptionConfiguration", "training"),
                Expect("aws-eks-secrets-encryption", "aws:eks/cluster:Cluster"),
                Expect("stores-encrypted-with-stack-keys", "aws:ecr/repository:Repository")),
        "azure": (Expect("azure-storage-cmk", "azure-native:storage:StorageAccount"),
                  Expect("azure-ml-workspace-cmk", "azure-native:machinelearningservices:Workspace"),
                  Expect("azure-redis-cmk", "azure-native:redisenterprise:RedisEnterprise"),
                  Expect("stores-encrypted-with-stack-keys", "azure-native:storage:StorageAccount")),
        "gcp": (Expect("gcp-gcs-cmek", "gcp:storage/bucket:Bucket", "training"),
                Expect("gcp-gke-secrets-encryption", "gcp:container/cluster:Cluster"),
                Expect("stores-encrypted-with-stack-keys", "gcp:storage/bucket:Bucket")),
    }),
    Choice("public-training-bucket", setting("storage.public_read", ["training_data"]), {
        "aws": (Expect("aws-s3-block-public-access", "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
                       "training"),),
        # Azure: the public containers move to a separate `public` storage account.
        "azure": (Expect("azure-storage-secure", "azure-native:storage:StorageAccount", "public"),),
        "gcp": (Expect("gcp-gcs-no-public-access", "gcp:storage/bucket:Bucket", "training"),),
    }),
    Choice("public-api-open-to-the-world", settings(setting("cluster.api_access", "public"),
                                                    setting("cluster.api_allowed_cidrs", ["0.0.0.0/0"])), {
        "aws": (Expect("aws-eks-endpoint-restricted", "aws:eks/cluster:Cluster"),),
        "azure": (Expect("azure-aks-api-restricted", "azure-native:containerservice:ManagedCluster"),),
        "gcp": (Expect("gcp-gke-private-cluster", "gcp:container/cluster:Cluster"),),
    }),
    Choice("broad-workload-permissions", setting("security.workload_permissions", "broad"), {
        "aws": (Expect("aws-iam-data-access-scoped", "aws:iam/rolePolicy:RolePolicy", "serving"),),
        "azure": (Expect("azure-data-roles-resource-scoped", "azure-native:authorization:RoleAssignment", "serving"),),
        "gcp": (Expect("gcp-iam-no-project-wide-data-roles", "gcp:projects/iAMMember:IAMMember", "serving"),),
    }),
    Choice("mutable-image-tags", setting("registries.container.immutable_tags", False), {
        # vLLM comes through the Docker Hub pull-through cache: its creation template sets the tags; Triton is
        # pushed by CI (ECR cannot cache nvcr.io) to a repository that is now mutable.
        "aws": (Expect("aws-ecr-immutable-tags", "aws:ecr/repositoryCreationTemplate:RepositoryCreationTemplate",
                       "docker-hub"),
                Expect("ai-serving-image-provenance", DEPLOYMENT, "rerank")),
        # GCP has no registry-level policy for tags; the provenance policy is the one that reads
        # `dockerConfig.immutableTags`: the CI-pushed image pinned by tag (`fraud`) is then no longer trusted.
        "gcp": (Expect("ai-serving-image-provenance", DEPLOYMENT, "fraud"),),
        # Excluded on Azure: ACR has no registry-wide tag immutability in ARM (docs/azure.md, "Limits and
        # notes"); the option does not change the Azure graph, and serving images are pinned by digest instead.
    }),
    Choice("no-scan-on-push", setting("registries.container.scan_on_push", False), {
        "aws": (Expect("aws-ecr-scan-on-push", "aws:ecr/repository:Repository"),),
        "gcp": (Expect("gcp-artifact-registry-scanning", "gcp:artifactregistry/repository:Repository"),),
        # Excluded on Azure: ACR image scanning is Defender for Containers, a subscription plan aienv does not
        # manage (docs/azure.md, "Features"); the option does not change the Azure graph.
    }),
    Choice("no-private-endpoints", setting("network.private_endpoints", False), {
        "aws": (Expect("aws-vpc-private-service-endpoints", "aws:ec2/vpc:Vpc"),),
        "azure": (Expect("azure-ml-workspace-private", "azure-native:machinelearningservices:Workspace"),
                  Expect("azure-acr-locked-down", "azure-native:containerregistry:Registry"),
                  Expect("azure-redis-secure", "azure-native:redisenterprise:RedisEnterprise")),
        "gcp": (Expect("gcp-vpc-private-google-apis", "gcp:compute/network:Network"),),
    }),
    Choice("no-audit-logs", setting("security.audit_logs", False), {
        "aws": (Expect("aws-cloudtrail-present", STACK),),
        "azure": (Expect("azure-audited-resources-have-diagnostics", "azure-native:containerservice:ManagedCluster"),
                  Expect("azure-audited-resources-have-diagnostics", "azure-native:keyvault:Vault")),
        "gcp": (Expect("gcp-data-access-audit-logs", STACK),),
    }),
    Choice("no-flow-logs", setting("network.flow_logs", False), {
        "aws": (Expect("aws-vpc-flow-logs", "aws:ec2/vpc:Vpc"),),
        "azure": (Expect("azure-vnet-flow-logs", "azure-native:network:VirtualNetwork"),),
        "gcp": (Expect("gcp-subnet-flow-logs", "gcp:compute/subnetwork:Subnetwork"),),
    }),
    Choice("no-deletion-protection", setting("security.deletion_protection", False), {
        "aws": (Expect("stateful-resources-protected", "aws:kms/key:Key"),
                Expect("stateful-resources-protected", "aws:s3/bucket:Bucket", "training")),
        "azure": (Expect("stateful-resources-protected", "azure-native:keyvault:Vault"),
                  Expect("stateful-resources-protected", "azure-native:storage:StorageAccount")),
        "gcp": (Expect("stateful-resources-protected", "gcp:storage/bucket:Bucket", "training"),
                Expect("gcp-kms-destroy-protection", "gcp:kms/cryptoKey:CryptoKey")),
    }),
    Choice("unauthenticated-endpoint", _unauthenticated_and_public, {
        "aws": (Expect("ai-endpoint-auth", DEPLOYMENT, "rerank"),),
        "azure": (Expect("ai-endpoint-auth", DEPLOYMENT, "embed"),),
        "gcp": (Expect("ai-endpoint-auth", DEPLOYMENT, "fraud"),),
    }),
)

CASES = [pytest.param(choice, cloud, id=f"{choice.id}-{cloud}")
         for choice in CHOICES for cloud in CLOUDS if cloud in choice.expect]


def _matches(v: Any, e: Expect) -> bool:
    return v.policy == e.policy and v.type == e.type and e.name in v.name


def _summary(checked: Checked) -> list[str]:
    return sorted({f"{v.policy} on {v.type} {v.name}" for v in checked.mandatory})


@pytest.mark.parametrize("cloud", CLOUDS)
def test_reference_spec_passes_the_gate(cloud: str) -> None:
    assert _summary(reference(cloud)) == []


@pytest.mark.parametrize(("choice", "cloud"), CASES)
def test_insecure_choice_fails_the_expected_policy(choice: Choice, cloud: str, gate_tmp: Path) -> None:
    checked = variant(cloud, choice.id, choice.edit, gate_tmp)
    ref = reference(cloud)
    for e in choice.expect[cloud]:
        hits = [v for v in checked.mandatory if _matches(v, e)]
        assert hits, (f"{choice.id} on {cloud}: expected a mandatory {e.policy} violation on a {e.type} "
                      f"named *{e.name}*; got: {_summary(checked)}")
        assert all(v.enforcement == "mandatory" and v.message for v in hits)
        assert not ref.violations_of(e.policy), f"the {cloud} reference already fails {e.policy}"
        # The first preview of a new stack sees the insecure setting too (or defers that check to the update,
        # where the resource policy runs on the resolved inputs before the resource is created).
        seen = [v for v in checked.preview.mandatory if _matches(v, e)]
        deferred = [d for d in checked.preview.deferred if d.policy == e.policy and e.name in d.name]
        assert seen or deferred, f"{choice.id} on {cloud}: the first-preview view lost {e.policy}"
        assert not ref.preview.mandatory, f"the {cloud} reference fails its first preview: {ref.preview.mandatory}"


# --- endpoints: authentication and public exposure ---------------------------------------------------------------

EXPOSURE_POLICIES = ("ai-endpoint-not-public", "k8s-no-public-load-balancer", "ai-endpoint-auth")
PUBLIC_ENDPOINTS = {"aws": "summarize", "azure": "codegen", "gcp": "chat"}


def _public_endpoint_graph(cloud: str, gate_tmp: Path) -> Checked:
    """AWS and Azure references already serve a public endpoint; on GCP the unauthenticated-endpoint variant
    makes its first endpoint public (with auth)."""
    if cloud == "gcp":
        return variant(cloud, "unauthenticated-endpoint", _unauthenticated_and_public, gate_tmp)
    return reference(cloud)


def _labelled(checked: Checked, rtype: str, **labels: str) -> list[dict[str, Any]]:
    out = []
    for r in checked.export["deployment"]["resources"]:
        meta = (r.get("inputs") or {}).get("metadata") or {}
        if r["type"] == rtype and all((meta.get("labels") or {}).get(k) == v for k, v in labels.items()):
            out.append(r)
    return out


@pytest.mark.parametrize("cloud", CLOUDS)
def test_public_endpoint_with_auth_and_the_allow_flag_passes(cloud: str, gate_tmp: Path) -> None:
    """`exposure: public` is the explicit flag the catalogue asks for: the components mark the public gateway
    with the allow annotation and put an auth SecurityPolicy on the route, so no exposure policy fails."""
    checked = _public_endpoint_graph(cloud, gate_tmp)
    endpoint = PUBLIC_ENDPOINTS[cloud]
    assert any(ep.name == endpoint and ep.exposure.value == "public" and ep.auth.mode != "none"
               for ep in checked.spec.model_endpoints)
    public = [r for r in checked.export["deployment"]["resources"]
              if ((r.get("inputs") or {}).get("metadata") or {}).get("labels", {}).get("aienv.io/exposure") == "public"]
    assert public, "the public gateway is built"
    assert all(r["inputs"]["metadata"].get("annotations", {}).get(ALLOW_PUBLIC_ANNOTATION) == "true"
               for r in public if r["type"].endswith((":Gateway", ":EnvoyProxy")))
    assert _labelled(checked, "kubernetes:gateway.envoyproxy.io/v1alpha1:SecurityPolicy", **{ENDPOINT_LABEL: endpoint})
    # The only exposure-related failure allowed is the GCP variant's deliberately unauthenticated endpoint.
    unauthenticated = [ep.name for ep in checked.spec.model_endpoints if ep.auth.mode == "none"]
    failing = [f"{v.policy} on {v.name}" for v in checked.mandatory if v.policy in EXPOSURE_POLICIES
               and not any(f"-{name}-" in v.name for name in unauthenticated)]
    assert failing == []


def _service_program(annotated: bool) -> Callable[[], None]:
    def program() -> None:
        annotations = {ALLOW_PUBLIC_ANNOTATION: "true"} if annotated else {}
        k8s.core.v1.Service(
            "chat-lb",
            metadata={"name": "chat-lb", "namespace": "aienv-serving", "annotations": annotations,
                      "labels": {ENDPOINT_LABEL: "chat", COMPONENT_LABEL: COMPONENT_SERVING}},
            spec={"type": "LoadBalancer", "selector": {ENDPOINT_LABEL: "chat"},
                  "ports": [{"port": 443, "targetPort": 8000}]},
            opts=pulumi.ResourceOptions())
    return program


@pytest.mark.parametrize("annotated", [False, True], ids=["no-allow-annotation", "allow-annotation"])
def test_public_load_balancer_service_needs_the_allow_annotation(annotated: bool) -> None:
    """A serving Service of type LoadBalancer with no internal-LB annotation is public; built directly (the spec
    cannot express it), it fails both exposure policies unless it carries the allow annotation."""
    spec = reference("aws").spec  # any spec: its packs are the ones a user runs
    plan = plan_program(_service_program(annotated), project="aienv", stack="gate-lb")
    result = check_export(spec, plan.to_export())
    failing = {v.policy for v in result.mandatory if v.type == SERVICE and v.name == "chat-lb"}
    if annotated:
        assert failing == set()
    else:
        assert {"ai-endpoint-not-public", "k8s-no-public-load-balancer"} <= failing


# --- choices the spec rules reject (and the policies that back them up) ------------------------------------------

def _spec_error(cloud: str, edit: Callable[[dict[str, Any]], None], tmp: Path) -> SpecError:
    with pytest.raises(SpecError) as info:
        load_variant(cloud, edit, tmp)
    return info.value


def _pool_gpus(spec: StackSpec) -> dict[str, int]:
    out: dict[str, int] = {}
    for pool in spec.cluster.gpu_pools:
        out[pool.gpu_type] = out.get(pool.gpu_type, 0) + pool.max_nodes * pool.gpus_per_node
    return out


@pytest.mark.parametrize("cloud", CLOUDS)
def test_region_outside_allowed_regions_is_a_spec_error(cloud: str, tmp_path: Path) -> None:
    # a real region (allowed_regions must name regions), none of the reference stacks'
    err = _spec_error(cloud, setting("compliance.allowed_regions", ["sa-east-1"]), tmp_path)
    key = "cloud.location" if cloud == "azure" else "cloud.region"
    assert [i.path for i in err.issues] == [key]
    assert "outside compliance.allowed_regions" in err.issues[0].message


@pytest.mark.parametrize("cloud", CLOUDS)
def test_data_residency_policy_catches_a_region_outside_the_allowed_list(cloud: str) -> None:
    """Behind the spec rule: the residency policy flags the reference graph against a list without its region."""
    ref = reference(cloud)
    result = check_export(ref.spec, ref.export, extra_config={"data-residency": {"allowedRegions": ["antarctica-south1"]}})
    hits = [v for v in result.mandatory if v.policy == "data-residency"]
    assert hits and any(ref.spec.region in v.message for v in hits)
    assert not ref.violations_of("data-residency")


@pytest.mark.parametrize("cloud", CLOUDS)
def test_gpu_quota_below_the_pools_is_a_spec_error(cloud: str, tmp_path: Path) -> None:
    ref = reference(cloud).spec
    gpu_type, reach = next(iter(_pool_gpus(ref).items()))
    err = _spec_error(cloud, setting(f"budget.gpu_quota.{gpu_type}", reach - 1), tmp_path)
    assert [i.path for i in err.issues] == [f"budget.gpu_quota.{gpu_type}"]
    assert f"the pools can reach {reach}" in err.issues[0].message


@pytest.mark.parametrize("cloud", CLOUDS)
def test_gpu_quota_policy_catches_pools_above_the_quota(cloud: str) -> None:
    ref = reference(cloud)
    total = sum(_pool_gpus(ref.spec).values())
    result = check_export(ref.spec, ref.export, user_config={"ai-gpu-quota": {"maxGpus": total - 1}})
    assert {v.type for v in result.mandatory if v.policy == "ai-gpu-quota"} == {STACK}
    assert not ref.violations_of("ai-gpu-quota")


@pytest.mark.parametrize("cloud", CLOUDS)
def test_model_too_large_for_its_gpus_is_a_spec_error(cloud: str, tmp_path: Path) -> None:
    def edit(data: dict[str, Any]) -> None:
        data["model_endpoints"][0]["model"].update(size_billion_params=400, precision="bf16")

    err = _spec_error(cloud, edit, tmp_path)
    assert [i.path for i in err.issues] == ["model_endpoints[0].model.size_billion_params"]
    assert "GiB of GPU memory" in err.issues[0].message


@pytest.mark.parametrize("cloud", CLOUDS)
def test_model_fit_policy_catches_a_deployment_annotated_with_a_too_large_model(cloud: str) -> None:
    """The serving layer writes the model size and precision on the pod template; a Deployment whose model
    outgrows its GPUs (edited in the planned graph, past the spec rule) fails `ai-model-fits-gpu-memory`."""
    ref = reference(cloud)
    endpoint = ref.spec.model_endpoints[0].name
    export = copy.deepcopy(ref.export)
    target = None
    for r in export["deployment"]["resources"]:
        if r["type"] == DEPLOYMENT and r["urn"].endswith(f"-{endpoint}-stable-deployment"):
            annotations = r["inputs"]["spec"]["template"]["metadata"]["annotations"]
            assert MODEL_PARAMS_ANNOTATION in annotations and MODEL_PRECISION_ANNOTATION in annotations
            annotations[MODEL_PARAMS_ANNOTATION] = "400"
            annotations[MODEL_PRECISION_ANNOTATION] = "bf16"
            target = r["urn"]
    assert target is not None, f"no stable Deployment for {endpoint}"
    result = check_export(ref.spec, export)
    assert {v.urn for v in result.mandatory if v.policy == "ai-model-fits-gpu-memory"} == {target}
    assert not ref.violations_of("ai-model-fits-gpu-memory")
