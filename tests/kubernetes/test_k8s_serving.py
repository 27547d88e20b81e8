"""Model serving: scheduling onto the right GPU pool, restricted pods, the canary split, authentication."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from aienv import conventions as c
from aienv.engine import Plan
from aienv.engine.wire import is_secret
from aienv.errors import AienvError, SpecError
from aienv.spec import load_spec
from aienv.spec.model import ModelSource
from aienv.spec.rules import check

from .conftest import canary_spec
from .k8splan import (
    DEPLOYMENT,
    HTTPROUTE,
    REGISTRY,
    SECURITY_POLICY,
    of_type,
    one,
    plain,
    plan_layer,
    pod_specs,
    pool_refs,
    reference,
)

GPU_TOLERATION = {"key": c.GPU_TAINT_KEY, "operator": "Equal", "value": c.GPU_TAINT_VALUE,
                  "effect": c.GPU_TAINT_EFFECT}


def _serving(plan: Plan) -> list[tuple[str, dict]]:
    return [(r.name, plain(r.inputs)) for r in of_type(plan, DEPLOYMENT)
            if plain(r.inputs)["metadata"]["labels"].get(c.COMPONENT_LABEL) == c.COMPONENT_SERVING]


def _matches(expressions: list[dict], labels: dict[str, str]) -> bool:
    return all(e["operator"] == "In" and labels.get(e["key"]) in e["values"] for e in expressions)


@pytest.mark.parametrize("name", ["prod-aws", "prod-azure", "prod-gcp"])
def test_every_serving_pod_lands_on_a_tainted_pool_of_its_gpu_type(name: str, request: pytest.FixtureRequest) -> None:
    spec = reference(name)
    plan = request.getfixturevalue(name.split("-")[1])
    endpoints = {e.name: e for e in spec.model_endpoints}
    pools = pool_refs(spec)
    deployments = _serving(plan)
    assert len(deployments) == sum(2 if e.canary else 1 for e in spec.model_endpoints)
    for _, dep in deployments:
        ep = endpoints[dep["metadata"]["labels"][c.ENDPOINT_LABEL]]
        pod = dep["spec"]["template"]["spec"]
        assert GPU_TOLERATION in pod["tolerations"]
        terms = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
        reachable = [p for p in pools if any(_matches(t["matchExpressions"], dict(p.node_labels)) for t in terms)]
        assert reachable, f"{ep.name} matches no GPU pool"
        assert all(p.gpu_type == ep.gpu.type and p.gpus_per_node >= ep.gpu.count for p in reachable)
        server = pod["containers"][0]
        gpus = str(ep.gpu.count)
        assert server["resources"]["requests"][c.GPU_RESOURCE] == gpus
        assert server["resources"]["limits"][c.GPU_RESOURCE] == gpus


def test_large_model_only_reaches_the_a100_pool(aws: Plan) -> None:
    dep = plain(one(aws, DEPLOYMENT, "prod-aws-k8s-summarize-stable-deployment").inputs)
    exprs = dep["spec"]["template"]["spec"]["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0]["matchExpressions"]
    assert {"key": c.GPU_TYPE_LABEL, "operator": "In", "values": ["nvidia-a100-80gb"]} in exprs
    assert {"key": c.GPU_COUNT_LABEL, "operator": "In", "values": ["8"]} in exprs


def test_pool_extra_taints_are_tolerated() -> None:
    spec = reference("prod-aws").model_copy(deep=True)
    spec.cluster.gpu_pools[1].taints = [type(spec.cluster.gpu_pools[0]).model_fields["taints"].annotation.__args__[0](
        key="aienv.example/dedicated", value="large", effect="NoSchedule")]
    plan = plan_layer(spec)
    pod = plain(one(plan, DEPLOYMENT, "prod-aws-k8s-summarize-stable-deployment").inputs)["spec"]["template"]["spec"]
    assert {"key": "aienv.example/dedicated", "operator": "Equal", "value": "large",
            "effect": "NoSchedule"} in pod["tolerations"]
    chat = plain(one(plan, DEPLOYMENT, "prod-aws-k8s-chat-stable-deployment").inputs)["spec"]["template"]["spec"]
    assert len(chat["tolerations"]) == 1  # the l4 pool has no extra taint


def test_missing_gpu_pool_in_the_foundation_is_a_component_error() -> None:
    spec = reference("prod-aws")
    with pytest.raises(AienvError, match=r"model_endpoints\[1\]\.gpu\.type"):
        plan_layer(spec, gpu_pools=[p for p in pool_refs(spec) if p.gpu_type != "nvidia-a100-80gb"])


def test_pods_are_restricted_and_sized(any_plan: Plan) -> None:
    for resource, pod in pod_specs(any_plan):
        ctx = pod["securityContext"]
        assert ctx["runAsNonRoot"] is True and ctx["seccompProfile"] == {"type": "RuntimeDefault"}, resource.name
        assert pod["automountServiceAccountToken"] is False
        assert pod["serviceAccountName"] not in ("", "default")
        assert not pod.get("hostNetwork") and not pod.get("hostPID")
        for container in [*pod.get("initContainers", []), *pod["containers"]]:
            sc = container["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False, (resource.name, container["name"])
            assert sc["readOnlyRootFilesystem"] is True
            assert sc["capabilities"] == {"drop": ["ALL"]}
            for kind in ("cpu", "memory"):
                assert container["resources"]["requests"][kind] == container["resources"]["limits"][kind]


def test_images_come_from_the_environment_registry_pinned(any_plan: Plan) -> None:
    for resource, pod in pod_specs(any_plan):
        for container in [*pod.get("initContainers", []), *pod["containers"]]:
            image = container["image"]
            assert any(image.startswith(url + "/") for url in REGISTRY.values()), (resource.name, image)
            tag = image.rsplit("/", 1)[1]
            assert ("@sha256:" in tag) or (":" in tag and not tag.endswith(":latest"))


def test_writable_scratch_for_the_model_server(aws: Plan) -> None:
    pod = plain(one(aws, DEPLOYMENT, "prod-aws-k8s-chat-stable-deployment").inputs)["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["shm"]["emptyDir"]["medium"] == "Memory"
    mounts = {m["mountPath"] for m in pod["containers"][0]["volumeMounts"]}
    assert {"/tmp", "/cache", "/dev/shm", "/models"} <= mounts
    startup = pod["containers"][0]["startupProbe"]
    assert startup["failureThreshold"] * startup["periodSeconds"] >= 1800  # model loading takes a while
    fetch = pod["initContainers"][0]
    env = {e["name"]: e.get("value") for e in fetch["env"]}
    assert env["MODEL_URI"] == "s3://test-models/models/chat/3/"
    # The node weight cache: the version's directory, filled through a partial copy of this pod.
    assert 'aws s3 sync --only-show-errors --no-progress "$MODEL_URI" "/models/.partial-$POD_NAME"' in fetch["command"][2]
    assert volumes["model"]["persistentVolumeClaim"]["claimName"] == "chat-model-cache"


def test_triton_reads_the_model_repository_copied_to_its_volume(aws: Plan) -> None:
    # Triton downloads cloud repositories to a local temporary directory anyway: every runtime reads the copy
    # the fetch-model init container makes on the pod's scratch volume (no per-cloud path).
    pod = plain(one(aws, DEPLOYMENT, "prod-aws-k8s-rerank-stable-deployment").inputs)["spec"]["template"]["spec"]
    assert "--model-repository=/models/v-2" in pod["containers"][0]["args"]  # version 2 in the node cache
    env = {e["name"]: e.get("value") for e in pod["initContainers"][0]["env"]}
    assert env["MODEL_URI"] == "s3://test-models/models/rerank/2/"


def test_canary_split_follows_the_spec_weight(aws_canary: Plan, aws: Plan) -> None:
    aws, rollout = aws_canary, aws  # a fixed-weight canary (prod-aws's chat rolls out progressively instead)
    route = plain(one(aws, HTTPROUTE, "prod-aws-k8s-chat-route").inputs)
    backends = {b["name"]: b["weight"] for b in route["spec"]["rules"][0]["backendRefs"]}
    assert backends == {"chat-stable": 90, "chat-canary": 10}
    canary = plain(one(aws, DEPLOYMENT, "prod-aws-k8s-chat-canary-deployment").inputs)
    assert canary["spec"]["template"]["metadata"]["labels"][c.TRACK_LABEL] == c.TRACK_CANARY
    fetch_env = {e["name"]: e.get("value") for e in canary["spec"]["template"]["spec"]["initContainers"][0]["env"]}
    assert fetch_env["MODEL_URI"] == "s3://test-models/models/chat/4/"
    single = plain(one(rollout, HTTPROUTE, "prod-aws-k8s-rerank-route").inputs)
    assert [(b["name"], b["weight"]) for b in single["spec"]["rules"][0]["backendRefs"]] == [("rerank-stable", 100)]


def test_canary_reads_the_path_its_identity_is_granted() -> None:
    # A path that starts with the version segment (allowed for weights the team uploads): the canary's is
    # `4/weights/`, what `canary_artifact_path` gives the IAM grants. A copy of that logic in serving missed the
    # leading segment and sent the canary pods to the stable weights.
    spec = canary_spec()
    chat = next(e for e in spec.model_endpoints if e.name == "chat")
    chat.model.source = ModelSource(uploaded=True)
    chat.model.artifact_path = "3/weights/"
    assert check(spec) == []  # validate accepts it
    expected = c.canary_artifact_path("3/weights/", "chat", "3", "4")
    assert expected == "4/weights/"
    plan = plan_layer(spec)
    for track, path in ((c.TRACK_STABLE, "3/weights/"), (c.TRACK_CANARY, expected)):
        pod = plain(one(plan, DEPLOYMENT, f"prod-aws-k8s-chat-{track}-deployment").inputs)["spec"]["template"]
        fetch_env = {e["name"]: e.get("value") for e in pod["spec"]["initContainers"][0]["env"]}
        assert fetch_env["MODEL_URI"] == f"s3://test-models/{path}", track
        assert fetch_env["MARKER"] == f"s3://test-models/{c.model_import_marker(path)}", track


def test_canary_weight_change_moves_traffic() -> None:
    spec = canary_spec()
    spec.model_endpoints[0].canary.weight = 35  # type: ignore[union-attr]
    route = plain(one(plan_layer(spec), HTTPROUTE, "prod-aws-k8s-chat-route").inputs)
    assert [b["weight"] for b in route["spec"]["rules"][0]["backendRefs"]] == [65, 35]


def test_exposure_picks_the_gateway(aws: Plan) -> None:
    parents = {r.name: plain(r.inputs)["spec"]["parentRefs"][0]["name"] for r in of_type(aws, HTTPROUTE)}
    assert parents == {"prod-aws-k8s-chat-route": "aienv-internal", "prod-aws-k8s-summarize-route": "aienv-public",
                       "prod-aws-k8s-rerank-route": "aienv-cluster"}


def test_authentication_at_the_gateway(aws: Plan) -> None:
    policies = {plain(r.inputs)["spec"]["targetRefs"][0]["name"]: plain(r.inputs)["spec"]
                for r in of_type(aws, SECURITY_POLICY)}
    # rerank is cluster-only and sets no auth: it gets the default, an API key.
    assert set(policies) == {"chat", "summarize", "rerank"}
    assert "apiKeyAuth" in policies["rerank"]
    jwt = policies["chat"]["jwt"]["providers"][0]
    assert jwt["issuer"] == "https://login.example.com" and jwt["audiences"] == ["chat-api"]
    assert jwt["remoteJWKS"]["uri"] == "https://login.example.com/.well-known/jwks.json"
    api_key = policies["summarize"]["apiKeyAuth"]
    secret = one(aws, "kubernetes:core/v1:Secret", "prod-aws-k8s-summarize-api-keys")
    assert api_key["credentialRefs"][0]["name"] == plain(secret.inputs)["metadata"]["name"]
    assert is_secret(secret.inputs["stringData"])  # the key never shows in plain text
    assert len(plain(secret.inputs)["stringData"]["default"]) == 48


def _public_without_auth(tmp_path: Path) -> Path:
    stacks = Path("stacks")
    (tmp_path / "base.yaml").write_text((stacks / "base.yaml").read_text())
    doc = yaml.safe_load((stacks / "prod-aws.yaml").read_text())
    doc["model_endpoints"][1]["auth"] = {"mode": "none"}
    assert doc["model_endpoints"][1]["exposure"] == "public"
    path = tmp_path / "prod-aws.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def test_public_without_authentication_is_rejected_by_the_spec(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as err:
        load_spec(str(_public_without_auth(tmp_path)))
    assert any(i.path == "model_endpoints[1].auth.mode" for i in err.value.issues)


def test_public_without_authentication_is_rejected_by_the_component() -> None:
    spec = reference("prod-aws").model_copy(deep=True)
    spec.model_endpoints[1].auth.mode = "none"  # bypasses the spec rules on purpose
    with pytest.raises(AienvError, match=r"model_endpoints\[1\]\.auth\.mode"):
        plan_layer(spec)


def test_hpa_targets_the_spec_metric(aws: Plan) -> None:
    hpas = {r.name: plain(r.inputs)["spec"] for r in of_type(aws, "kubernetes:autoscaling/v2:HorizontalPodAutoscaler")}
    chat = hpas["prod-aws-k8s-chat-stable-hpa"]
    assert (chat["minReplicas"], chat["maxReplicas"]) == (2, 8)
    assert chat["metrics"] == [{"type": "Pods", "pods": {"metric": {"name": "DCGM_FI_DEV_GPU_UTIL"},
                                                         "target": {"type": "AverageValue", "averageValue": "70"}}}]
    assert chat["scaleTargetRef"]["kind"] == "Rollout"  # chat rolls out progressively: the HPA scales the Rollout
    rerank = hpas["prod-aws-k8s-rerank-stable-hpa"]["metrics"][0]
    assert rerank["pods"]["metric"]["name"] == "aienv_requests_in_flight"
    assert rerank["pods"]["target"]["averageValue"] == "32"


def test_canary_track_has_its_own_hpa_and_pdb(aws_canary: Plan) -> None:
    hpas = {r.name: plain(r.inputs)["spec"] for r in of_type(aws_canary, "kubernetes:autoscaling/v2:HorizontalPodAutoscaler")}
    assert hpas["prod-aws-k8s-chat-canary-hpa"]["maxReplicas"] == 1
    pdbs = {plain(r.inputs)["metadata"]["name"] for r in of_type(aws_canary, "kubernetes:policy/v1:PodDisruptionBudget")}
    assert {"chat-stable", "chat-canary"} <= pdbs


def test_pdb_and_service_account_per_endpoint(aws: Plan) -> None:
    pdbs = {plain(r.inputs)["metadata"]["name"] for r in of_type(aws, "kubernetes:policy/v1:PodDisruptionBudget")}
    assert {"chat-stable", "summarize-stable", "rerank-stable"} <= pdbs
    sas = {plain(r.inputs)["metadata"]["name"]: plain(r.inputs) for r in of_type(aws, "kubernetes:core/v1:ServiceAccount")}
    chat = sas["chat-serving"]
    assert chat["metadata"]["namespace"] == c.SERVING_NAMESPACE
    assert chat["metadata"]["annotations"]["eks.amazonaws.com/role-arn"] == "identity-serving-chat"
    assert chat["automountServiceAccountToken"] is False


def test_azure_pods_carry_the_workload_identity_label(azure: Plan) -> None:
    pod = plain(one(azure, DEPLOYMENT, "prod-azure-k8s-chat-stable-deployment").inputs)["spec"]["template"]
    assert pod["metadata"]["labels"]["azure.workload.identity/use"] == "true"
    fetch = pod["spec"]["initContainers"][0]
    env = {e["name"]: e.get("value") for e in fetch["env"]}
    assert env["MODEL_URI"] == "https://testsa.blob.core.windows.net/models/models/chat/2/"
    assert 'az login --service-principal' in fetch["command"][2] and "az storage blob download-batch" in fetch["command"][2]


def test_network_policy_allows_only_what_serving_needs(aws: Plan) -> None:
    policy = plain(one(aws, "kubernetes:networking.k8s.io/v1:NetworkPolicy", "prod-aws-k8s-chat-network-policy").inputs)
    ingress_ns = [p["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
                  for rule in policy["spec"]["ingress"] for p in rule["from"]]
    assert ingress_ns == [c.GATEWAY_NAMESPACE, "aienv-prometheus"]
    # Only the Prometheus servers of their namespace may scrape (vLLM serves metrics on its API port).
    assert policy["spec"]["ingress"][1]["from"][0]["podSelector"]["matchLabels"] == {
        c.COMPONENT_LABEL: c.COMPONENT_PROMETHEUS}
    egress_ports = {p["port"] for rule in policy["spec"]["egress"] for p in rule["ports"]}
    assert egress_ports == {443, 6566}  # the object store / identity, the feature server (not Redis directly)
    denies = [plain(r.inputs) for r in of_type(aws, "kubernetes:networking.k8s.io/v1:NetworkPolicy")
              if plain(r.inputs)["metadata"]["name"] == "default-deny"]
    assert {d["metadata"]["namespace"] for d in denies} == {c.SERVING_NAMESPACE, c.MONITORING_NAMESPACE,
                                                            c.FEATURES_NAMESPACE, c.MODELS_NAMESPACE,
                                                            c.NODE_CACHE_NAMESPACE}
    assert all(d["spec"]["podSelector"] == {} and d["spec"]["policyTypes"] == ["Ingress", "Egress"] for d in denies)
