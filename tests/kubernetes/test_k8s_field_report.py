"""The Kubernetes field report (shared/field-reports/kubernetes.md), finding by finding: each test fails on the
layer as the report found it."""

from __future__ import annotations

import json
import os
import re
import sys
import time
import types
from pathlib import Path
from typing import Any

import pytest
import yaml

from aienv import conventions as c
from aienv import images
from aienv.drift import load_columns, read_times
from aienv.engine import Plan
from aienv.errors import AienvError
from aienv.spec.rules import check
from components.kubernetes import serving
from components.kubernetes.feature_server import render_features

from .fakecli import Sandbox, env_of, store_path
from .k8splan import (
    DEPLOYMENT,
    HTTPROUTE,
    REGISTRY,
    RELEASE,
    SECURITY_POLICY,
    FakeImages,
    of_type,
    one,
    plain,
    plan_layer,
    pod_specs,
    reference,
)

JOB = "kubernetes:batch/v1:Job"
SERVICE = "kubernetes:core/v1:Service"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"


def _release(plan: Plan, name: str) -> dict[str, Any]:
    return next(plain(r.inputs) for r in of_type(plan, RELEASE) if r.inputs["name"] == name)


def _policy(plan: Plan, namespace: str, name: str) -> dict[str, Any]:
    return next(plain(r.inputs)["spec"] for r in of_type(plan, NETWORK_POLICY)
                if plain(r.inputs)["metadata"]["namespace"] == namespace and plain(r.inputs)["metadata"]["name"] == name)


def _all_pods(plan: Plan) -> list[tuple[str, dict[str, Any]]]:
    pods = [(r.name, pod) for r, pod in pod_specs(plan)]
    pods += [(r.name, plain(r.inputs)["spec"]["template"]["spec"]) for r in of_type(plan, JOB)]
    return pods


def _helm_merge(default: Any, override: Any) -> Any:
    """Helm's values merge: maps merge key by key, anything else is replaced."""
    if isinstance(default, dict) and isinstance(override, dict):
        return {k: _helm_merge(default.get(k), override[k]) if k in override else default[k]
                for k in {*default, *override}}
    return override


# --- A1: the GKE DCGM exporter the API server rejects --------------------------------------------------------

# dcgm-exporter 4.8.2 (tag 4.5.3-4.8.2) deployment/values.yaml, `securityContext`.
DCGM_CHART_SECURITY = {"runAsNonRoot": False, "runAsUser": 0,
                       "capabilities": {"add": ["SYS_ADMIN"], "drop": ["ALL"]}, "allowPrivilegeEscalation": False}


def test_a1_dcgm_exporter_security_context_is_valid_after_helm_merges_it(gcp: Plan) -> None:
    merged = _helm_merge(DCGM_CHART_SECURITY, _release(gcp, "dcgm-exporter")["values"]["securityContext"])
    # ValidateSecurityContext: "cannot set `allowPrivilegeEscalation` to false and `privileged` to true".
    assert not (merged.get("privileged") is True and merged.get("allowPrivilegeEscalation") is False)
    assert merged["privileged"] is True


def test_a1_gpu_namespace_admits_node_critical_pods(any_plan: Plan) -> None:
    quotas = [plain(r.inputs) for r in of_type(any_plan, "kubernetes:core/v1:ResourceQuota")]
    (quota,) = [q for q in quotas if q["metadata"]["namespace"] == c.GPU_NAMESPACE]
    (scope,) = quota["spec"]["scopeSelector"]["matchExpressions"]
    assert scope["scopeName"] == "PriorityClass" and scope["operator"] == "In"
    assert "system-node-critical" in scope["values"]
    releases = [r for r in of_type(any_plan, RELEASE) if r.inputs["namespace"] == c.GPU_NAMESPACE]
    quota_urn = next(r.urn for r in of_type(any_plan, "kubernetes:core/v1:ResourceQuota"))
    assert releases and all(quota_urn in r.dependencies for r in releases)


def test_a1_dcgm_exporter_keeps_its_metrics_file_mount(gcp: Plan) -> None:
    mounts = _release(gcp, "dcgm-exporter")["values"]["extraVolumeMounts"]
    assert {"name": "exporter-metrics-volume", "mountPath": "/etc/dcgm-exporter/default-counters.csv",
            "subPath": "default-counters.csv"} in mounts
    assert {"name": "nvidia-install-dir-host", "mountPath": "/usr/local/nvidia", "readOnly": True} in mounts


# --- A2 / issue 15.4: awaits that fit -------------------------------------------------------------------------

def test_a2_serving_and_import_objects_skip_the_pulumi_await(any_plan: Plan) -> None:
    serving_objects = [r for r in [*of_type(any_plan, DEPLOYMENT), *of_type(any_plan, SERVICE)]
                       if plain(r.inputs)["metadata"]["namespace"] == c.SERVING_NAMESPACE
                       and plain(r.inputs)["metadata"]["labels"][c.COMPONENT_LABEL] == c.COMPONENT_SERVING]
    imports = [r for r in of_type(any_plan, JOB) if plain(r.inputs)["metadata"]["namespace"] == c.MODELS_NAMESPACE]
    assert serving_objects and imports
    for r in [*serving_objects, *imports]:
        assert plain(r.inputs)["metadata"]["annotations"]["pulumi.com/skipAwait"] == "true", r.name


def test_a2_routes_auth_and_monitoring_do_not_wait_for_the_services(any_plan: Plan) -> None:
    services = {r.urn for r in of_type(any_plan, SERVICE)}
    edge = [r for r in any_plan.resources if r.type in (HTTPROUTE, SECURITY_POLICY)
            or r.type.startswith("kubernetes:monitoring.coreos.com/")]
    assert edge
    for r in edge:
        assert not services & set(r.dependencies), r.name


def test_a2_rollout_deadline_is_sized_from_the_model(aws: Plan) -> None:
    eps = {e.name: e for e in reference("prod-aws").model_endpoints}
    dep = plain(one(aws, DEPLOYMENT, "prod-aws-k8s-summarize-stable-deployment").inputs)
    deadline = dep["spec"]["progressDeadlineSeconds"]
    assert deadline == serving.rollout_seconds(eps["summarize"]) > 600
    # 70B bf16 = 140 GB: node + image 1800 s, import 2 x 2800 s, copy 2800 s, load 1400 s.
    assert deadline == 1800 + 5600 + 2800 + 1400
    small = plain(one(aws, DEPLOYMENT, "prod-aws-k8s-chat-stable-deployment").inputs)["spec"]["progressDeadlineSeconds"]
    assert small < deadline


# --- A3 / issue 15.2: images from the stack ----------------------------------------------------------------

@pytest.mark.parametrize("name", ["prod-aws", "prod-azure", "prod-gcp"])
def test_a3_every_pod_image_comes_through_the_foundations_image_source(name: str) -> None:
    spec = reference(name)
    registry = REGISTRY[spec.cloud.provider]
    source = FakeImages(registry)
    plan = plan_layer(spec, images=source)
    pushed = {f"{registry}/{family}/{image}" for family, image in images.pushed_images(spec)}
    cached = set(images.cached_images(spec))
    for resource, pod in _all_pods(plan):
        for container in [*pod.get("initContainers", []), *pod["containers"]]:
            ref = container["image"]
            assert ref in pushed or ref.startswith(f"{registry}/cache/"), (resource, ref)
    # What the layer pulls through the caches is exactly what the registries are told to cache.
    assert set(source.cached_calls) == cached


def test_a3_tool_images_have_documented_upstreams() -> None:
    for cloud in ("aws", "azure", "gcp"):
        for supply, image in images.cloud_tool_images(cloud).values():
            if supply == "cache":
                assert images.upstream_image(image) is not None, image
    assert images.UPSTREAMS["feature-server"] == ("quay.io", "feastdev/feature-server")  # since Feast v0.47
    assert images.UPSTREAMS["azure-cli"] == ("mcr.microsoft.com", "azure-cli")
    assert images.UPSTREAMS["aws-cli"] == ("public.ecr.aws", "aws-cli/aws-cli")
    assert images.UPSTREAMS["google-cloud-cli"] == ("gcr.io", "google.com/cloudsdktool/google-cloud-cli")
    assert "azcopy" not in images.UPSTREAMS  # no documented AzCopy image exists


def test_a3_custom_runtime_and_azure_feast_are_declared_pushed() -> None:
    assert ("fraud", "fraud-scorer:2.4.1") in images.pushed_images(reference("prod-gcp"))
    assert ("aienv-tools", "feature-server-azure:0.49.0") in images.pushed_images(reference("prod-azure"))
    assert all(i.repository != "feastdev/feature-server" for i in images.cached_images(reference("prod-azure")))


# --- A5: Feast registry and `feast apply` -------------------------------------------------------------------

def _feature_config(plan: Plan) -> dict[str, str]:
    return next(plain(r.inputs) for r in of_type(plan, "kubernetes:core/v1:ConfigMap")
                if plain(r.inputs)["metadata"]["name"] == "feature-server-config")["data"]


def test_a5_azure_registry_uses_the_azure_registry_store_and_the_blob_url(azure: Plan) -> None:
    registry = yaml.safe_load(_feature_config(azure)["feature_store.yaml"])["registry"]
    assert registry["registry_store_type"] == "AzureRegistryStore"
    # AzBlobRegistryStore: account URL = scheme + netloc, then container, then blob path.
    assert registry["path"] == "https://testsa.blob.core.windows.net/feature-offline/feast/registry.db"


def test_a5_registry_is_the_foundations_and_s3_is_read_by_scheme(aws: Plan) -> None:
    registry = yaml.safe_load(_feature_config(aws)["feature_store.yaml"])["registry"]
    assert registry["path"] == "s3://test-offline/feast/registry.db" and "registry_store_type" not in registry


def test_a5_feast_apply_runs_with_the_feature_server_identity_before_the_server(any_plan: Plan) -> None:
    job = next(r for r in of_type(any_plan, JOB) if plain(r.inputs)["metadata"]["name"] == "feast-apply")
    pod = plain(job.inputs)["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "feature-server"
    script = pod["containers"][0]["command"][2]
    assert "feast --chdir" in script and "apply --skip-source-validation" in script
    server = one(any_plan, DEPLOYMENT, f"{any_plan.stack}-k8s-feature-server-deployment")
    assert job.urn in server.dependencies
    # A changed repository changes the pod template, which replaces the Job (feast apply runs again).
    assert "aienv.io/feature-repo" in plain(job.inputs)["spec"]["template"]["metadata"]["annotations"]


class _Recorder:
    """Stand-ins of the Feast objects features.py builds."""

    made: list[tuple[str, dict[str, Any]]] = []

    @classmethod
    def kind(cls, name: str) -> type:
        def init(self: Any, *args: Any, **kwargs: Any) -> None:
            self.kwargs = kwargs
            cls.made.append((name, kwargs))
        return type(name, (), {"__init__": init})


def _exec_features(text: str) -> list[tuple[str, dict[str, Any]]]:
    _Recorder.made = []
    feast = types.ModuleType("feast")
    for name in ("Entity", "FeatureView", "Field", "FileSource", "BigQuerySource"):
        setattr(feast, name, _Recorder.kind(name))
    feast.ValueType = types.SimpleNamespace(STRING="STRING")  # type: ignore[attr-defined]
    data_format = types.ModuleType("feast.data_format")
    data_format.ParquetFormat = _Recorder.kind("ParquetFormat")  # type: ignore[attr-defined]
    feast_types = types.ModuleType("feast.types")
    for name in ("Int64", "Float32", "Float64", "String", "Bool", "Bytes", "UnixTimestamp"):
        setattr(feast_types, name, name)
    saved = {k: sys.modules.get(k) for k in ("feast", "feast.data_format", "feast.types")}
    sys.modules.update({"feast": feast, "feast.data_format": data_format, "feast.types": feast_types})
    try:
        exec(compile(text, "features.py", "exec"), {})
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v
    return list(_Recorder.made)


@pytest.mark.parametrize("name", ["prod-aws", "prod-azure", "prod-gcp"])
def test_a5_feature_repository_registers_the_spec_views(name: str, request: pytest.FixtureRequest) -> None:
    plan = request.getfixturevalue(name.split("-")[1])
    made = _exec_features(_feature_config(plan)["features.py"])
    views = {kw["name"]: kw for kind, kw in made if kind == "FeatureView"}
    spec_views = reference(name).feature_store.feature_views
    assert set(views) == {v.name for v in spec_views}
    for view in spec_views:
        schema = {f.kwargs["name"]: f.kwargs["dtype"] for f in views[view.name]["schema"]}
        assert schema == {f.name: {"int64": "Int64", "float32": "Float32", "float64": "Float64",
                                   "string": "String"}[f.dtype] for f in view.features}
        assert [e.kwargs["join_keys"] for e in views[view.name]["entities"]] == [[e] for e in view.entities]
        assert views[view.name]["ttl"].total_seconds() == view.ttl_hours * 3600
        source = views[view.name]["source"]
        assert source.kwargs["timestamp_field"] == "event_timestamp"
    source_kind = {kind for kind, _ in made if kind in ("FileSource", "BigQuerySource")}
    assert source_kind == ({"BigQuerySource"} if name == "prod-gcp" else {"FileSource"})


def test_a5_bigquery_views_read_their_table() -> None:
    view = reference("prod-gcp").feature_store.feature_views[0]
    made = _exec_features(render_features([view], ("bigquery", "acme-ml-prod.features"), "gs://x/feast/registry.db"))
    (source,) = [kw for kind, kw in made if kind == "BigQuerySource"]
    assert source["table"] == "acme-ml-prod.features.transaction_stats"


# --- B1: serving pods reach the feature server ---------------------------------------------------------------

def test_b1_serving_reaches_the_feature_server_and_nothing_else_does(aws: Plan) -> None:
    serving_egress = _policy(aws, c.SERVING_NAMESPACE, "chat-serving")["egress"]
    to_features = [r for r in serving_egress
                   if any(p.get("namespaceSelector", {}).get("matchLabels", {}).get("kubernetes.io/metadata.name")
                          == c.FEATURES_NAMESPACE for p in r["to"])]
    assert to_features and to_features[0]["ports"] == [{"port": 6566, "protocol": "TCP"}]
    assert to_features[0]["to"][0]["podSelector"]["matchLabels"] == {c.COMPONENT_LABEL: c.COMPONENT_FEATURE_SERVER}
    ingress = _policy(aws, c.FEATURES_NAMESPACE, "feature-server")["ingress"]
    assert ingress[0]["from"][0]["podSelector"]["matchLabels"] == {c.COMPONENT_LABEL: c.COMPONENT_SERVING}


# --- C2: only the Prometheus servers reach the inference port -------------------------------------------------

def test_c2_serving_admits_the_label_prometheus_pods_really_carry(aws: Plan) -> None:
    prometheus = _release(aws, "kube-prometheus-stack")["values"]["prometheus"]["prometheusSpec"]
    scrapers = [rule for rule in _policy(aws, c.SERVING_NAMESPACE, "chat-serving")["ingress"]
                if rule["from"][0]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
                != c.GATEWAY_NAMESPACE]
    # The operator copies podMetadata.labels onto the Prometheus pods; the rule admits exactly those pods.
    assert scrapers and all(rule["from"][0]["podSelector"]["matchLabels"].items()
                            <= prometheus["podMetadata"]["labels"].items() for rule in scrapers)


# --- B2: JWT key sets and issuers ------------------------------------------------------------------------------

def _jwt(plan: Plan, endpoint: str) -> list[dict[str, Any]]:
    return next(plain(r.inputs)["spec"]["jwt"]["providers"] for r in of_type(plan, SECURITY_POLICY)
                if plain(r.inputs)["spec"]["targetRefs"][0]["name"] == endpoint)


def test_b2_google_and_entra_key_sets(gcp: Plan, azure: Plan) -> None:
    google = _jwt(gcp, "chat")
    assert {p["remoteJWKS"]["uri"] for p in google} == {"https://www.googleapis.com/oauth2/v3/certs"}
    # Google writes `iss` with and without the scheme; either provider may validate a token.
    assert [p["issuer"] for p in google] == ["https://accounts.google.com", "accounts.google.com"]
    assert len({p["name"] for p in google}) == 2
    (entra,) = _jwt(azure, "chat")
    tenant = "55555555-6666-7777-8888-999999999999"
    assert entra["remoteJWKS"]["uri"] == f"https://login.microsoftonline.com/{tenant}/discovery/v2.0/keys"
    assert entra["issuer"] == f"https://login.microsoftonline.com/{tenant}/v2.0"


def test_b2_issuer_goes_through_verbatim() -> None:
    spec = reference("prod-aws").model_copy(deep=True)
    spec.model_endpoints[0].auth.issuer = "https://acme.auth0.com/"
    spec.model_endpoints[0].auth.jwks_uri = "https://acme.auth0.com/.well-known/jwks.json"
    (provider,) = _jwt(plan_layer(spec), "chat")
    assert provider["issuer"] == "https://acme.auth0.com/"  # Envoy matches `iss` exactly


def test_b2_unknown_issuer_without_jwks_uri_is_refused() -> None:
    spec = reference("prod-aws").model_copy(deep=True)
    spec.model_endpoints[0].auth.jwks_uri = None
    with pytest.raises(AienvError, match=r"model_endpoints\[0\]\.auth\.jwks_uri"):
        plan_layer(spec)
    assert any(path == ("model_endpoints", 0, "auth", "jwks_uri") for path, _ in check(spec))


# --- B3: the API server reaches the prometheus-adapter --------------------------------------------------------

def test_b3_adapter_listens_on_a_port_the_control_plane_may_reach(any_plan: Plan) -> None:
    port = _release(any_plan, "prometheus-adapter")["values"]["listenPort"]
    assert port in c.CONTROL_PLANE_POD_PORTS and port != 6443  # 6443: the chart default, closed on private GKE


def test_b3_gke_firewall_admits_the_control_plane_on_those_ports() -> None:
    from components.gcp.network import WEBHOOK_PORTS

    # Private GKE: the control plane reaches nodes only on 443/10250 unless a firewall rule admits more.
    assert {str(p) for p in c.CONTROL_PLANE_POD_PORTS} <= set(WEBHOOK_PORTS)


# --- B4: control-plane targets a managed cluster does not expose -----------------------------------------------

def test_b4_managed_control_plane_targets_are_not_scraped(any_plan: Plan) -> None:
    values = _release(any_plan, "kube-prometheus-stack")["values"]
    for component in ("kubeScheduler", "kubeControllerManager", "kubeEtcd", "kubeProxy"):
        assert values[component] == {"enabled": False}, component


def test_b4_cluster_dns_is_scraped_where_it_runs(aws: Plan, gcp: Plan) -> None:
    eks, gke = _release(aws, "kube-prometheus-stack")["values"], _release(gcp, "kube-prometheus-stack")["values"]
    assert eks["coreDns"]["enabled"] and not eks["kubeDns"]["enabled"]
    assert gke["kubeDns"]["enabled"] and not gke["coreDns"]["enabled"]


# --- B5: weights on the pod's own scratch volume -------------------------------------------------------------

def test_b5_weights_live_on_a_scratch_volume_and_node_disk_is_requested() -> None:
    spec = reference("prod-aws").model_copy(deep=True)
    for ep in spec.model_endpoints:
        ep.weight_cache = "none"  # the node weight cache replaces the scratch volume (test_k8s_mlops.py)
    aws = plan_layer(spec)
    pod = plain(one(aws, DEPLOYMENT, "prod-aws-k8s-summarize-stable-deployment").inputs)["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    claim = volumes["model"]["ephemeral"]["volumeClaimTemplate"]["spec"]
    assert claim["storageClassName"] == c.SCRATCH_STORAGE_CLASS
    assert claim["resources"]["requests"]["storage"] == "167Gi"
    disk = sum(int(v["emptyDir"]["sizeLimit"].removesuffix("Gi")) for v in volumes.values()
               if "emptyDir" in v and v["emptyDir"].get("medium") != "Memory")
    assert pod["containers"][0]["resources"]["requests"]["ephemeral-storage"] == f"{disk}Gi"


# --- B8: the drift window uses the objects' times ---------------------------------------------------------------

@pytest.mark.parametrize("name", ["prod-aws", "prod-azure", "prod-gcp"])
def test_b8_drift_window_uses_object_times_not_download_times(name: str, tmp_path: Path,
                                                              request: pytest.FixtureRequest) -> None:
    plan = request.getfixturevalue(name.split("-")[1])
    cron = next(plain(r.inputs) for r in of_type(plan, "kubernetes:batch/v1:CronJob")
                if plain(r.inputs)["metadata"]["name"] == "chat-drift")
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    fetch = next(x for x in pod["initContainers"] if x["name"] == "fetch-recent")
    box = Sandbox(tmp_path)
    prefix = store_path(env_of(fetch)["SOURCE"])
    old = box.put(prefix + "2020/old.csv", "x\n100\n")
    new = box.put(prefix + "new.csv", "x\n1\n")
    os.utime(old, (time.time() - 30 * 24 * 3600,) * 2)
    result = box.run(fetch)
    assert result.returncode == 0, result.stderr
    data = tmp_path / "volumes" / "data"
    times = read_times(str(data / "recent.times"))
    assert set(times) == {"2020/old.csv", "new.csv"}
    assert times["2020/old.csv"] < times["new.csv"]
    # Both files were just downloaded (fresh mtimes); only the listed times keep the old one out.
    assert sorted(load_columns(str(data / "recent"), window_hours=24)["x"]) == [1.0, 100.0]
    assert load_columns(str(data / "recent"), window_hours=24, times=times)["x"] == [1.0]
    score = pod["containers"][0]["command"]
    assert score[score.index("--recent-times") + 1] == "/data/recent.times"
    assert new.exists()


# --- B9: cpu autoscaling needs resource metrics ---------------------------------------------------------------

def test_b9_cpu_autoscaling_is_refused_where_no_metrics_server_runs() -> None:
    spec = reference("prod-aws").model_copy(deep=True)
    spec.model_endpoints[0].autoscaling.metric = "cpu"
    with pytest.raises(AienvError, match=r"model_endpoints\[0\]\.autoscaling\.metric"):
        plan_layer(spec)
    assert any(path == ("model_endpoints", 0, "autoscaling", "metric") for path, _ in check(spec))
    gke = reference("prod-gcp").model_copy(deep=True)
    gke.model_endpoints[0].autoscaling.metric = "cpu"
    hpa = one(plan_layer(gke), "kubernetes:autoscaling/v2:HorizontalPodAutoscaler", "prod-gcp-k8s-chat-stable-hpa")
    assert plain(hpa.inputs)["spec"]["metrics"][0]["resource"]["name"] == "cpu"


# --- B11: servers under a uid without a passwd entry -----------------------------------------------------------

def test_b11_servers_get_a_user_name(any_plan: Plan) -> None:
    for r in of_type(any_plan, DEPLOYMENT):
        inputs = plain(r.inputs)
        if inputs["metadata"]["labels"].get(c.COMPONENT_LABEL) != c.COMPONENT_SERVING:
            continue
        env = {e["name"]: e.get("value") for e in inputs["spec"]["template"]["spec"]["containers"][0]["env"]}
        assert env["USER"] and env["LOGNAME"], r.name


# --- B12: the GKE metadata server, on either datapath ---------------------------------------------------------

def test_b12_metadata_egress_pairs_address_and_port(gcp: Plan, aws: Plan) -> None:
    def pairs(plan: Plan) -> set[tuple[str, int]]:
        egress = _policy(plan, c.SERVING_NAMESPACE, "chat-serving")["egress"]
        return {(p["ipBlock"]["cidr"], port["port"]) for r in egress for p in r["to"] if "ipBlock" in p
                for port in r["ports"] if p["ipBlock"]["cidr"] != "0.0.0.0/0"}
    assert pairs(gcp) == {("169.254.169.254/32", 80), ("169.254.169.252/32", 988)}
    assert pairs(aws) == set()  # IRSA tokens are projected: no metadata endpoint


# --- D3 / D: versions and what the layer cannot run -----------------------------------------------------------

def test_d3_kubernetes_versions_outside_the_charts_range_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIENV_TODAY", "2026-01-15")  # a day 1.32 was still supported on every cloud
    for version, ok in (("1.31", False), ("1.32", True), ("1.35", True), ("1.36", False)):
        spec = reference("prod-aws").model_copy(deep=True)
        spec.cluster.kubernetes_version = version
        refused = any(path == ("cluster", "kubernetes_version") for path, _ in check(spec))
        assert refused is not ok, version
        if not ok:
            with pytest.raises(AienvError, match=r"cluster\.kubernetes_version"):
                plan_layer(spec)


def test_no_egress_is_refused_by_the_layer() -> None:
    spec = reference("prod-aws").model_copy(deep=True)
    spec.network.egress = "none"
    with pytest.raises(AienvError, match=r"network\.egress"):
        plan_layer(spec)


# --- E: chart labels ----------------------------------------------------------------------------------------

def test_e_charts_keep_their_own_managed_by_and_part_of(aws: Plan) -> None:
    kps = _release(aws, "kube-prometheus-stack")["values"]["commonLabels"]
    push = _release(aws, "pushgateway")["values"]["podLabels"]
    for labels in (kps, push):
        assert "app.kubernetes.io/managed-by" not in labels and "app.kubernetes.io/part-of" not in labels
        assert labels[c.ENVIRONMENT_LABEL] == "prod-aws"


# --- the shared layer does not branch on the cloud -------------------------------------------------------------

def test_the_shared_layer_names_no_cloud() -> None:
    root = Path(__file__).resolve().parents[2] / "components" / "kubernetes"
    pattern = re.compile(r"""["'](aws|azure|gcp)["']|\bcloud\s*(==|!=|in)\b|\.cloud\b""")
    hits = [f"{p.name}:{n}: {line.strip()}" for p in sorted(root.rglob("*.py"))
            for n, line in enumerate(p.read_text().splitlines(), 1) if pattern.search(line)]
    assert hits == []


def test_pod_specs_serialise(any_plan: Plan) -> None:
    assert json.dumps([pod for _, pod in _all_pods(any_plan)])


# --- E3/E4: alerts that would page on a healthy endpoint ------------------------------------------------------

def _alerts(plan: Plan, endpoint: str) -> dict[str, dict[str, Any]]:
    rules = next(plain(r.inputs) for r in of_type(plan, "kubernetes:monitoring.coreos.com/v1:PrometheusRule")
                 if plain(r.inputs)["metadata"]["name"].startswith(f"{endpoint}"))
    return {a["alert"]: a for g in rules["spec"]["groups"] for a in g["rules"] if "alert" in a}


def test_e3_vllm_memory_alert_reads_the_kv_cache_not_the_preallocated_device(aws: Plan) -> None:
    vllm, triton = _alerts(aws, "chat"), _alerts(aws, "rerank")
    assert "vllm:kv_cache_usage_perc" in vllm["ModelEndpointGpuMemoryHigh"]["expr"]
    assert "DCGM_FI_DEV_FB_USED" not in vllm["ModelEndpointGpuMemoryHigh"]["expr"]
    assert "DCGM_FI_DEV_FB_USED" in triton["ModelEndpointGpuMemoryHigh"]["expr"]


def test_e4_a_stale_drift_score_stops_alerting_and_raises_its_own_alert(aws: Plan) -> None:
    alerts = _alerts(aws, "chat")
    assert "time() - max(aienv_drift_last_run_timestamp_seconds{endpoint=\"chat\"})" in \
        alerts["ModelEndpointDrift"]["expr"]
    stale = alerts["ModelEndpointDriftStale"]["expr"]
    assert "kube_cronjob_created" in stale and 'cronjob="chat-drift"' in stale


@pytest.mark.parametrize("schedule, hours", [
    ("0 * * * *", 1), ("*/15 * * * *", 0.25), ("0 9 * * 1-5", 72), ("@weekly", 168), ("0 0 */2 * *", 48),
    ("0 0 1,15 * 1", 168),  # day of month and day of week both restricted: either day runs (robfig/cron)
    ("0 0 29 2 *", 4 * 8766), ("@every 1h30m", 1.5),
])
def test_e4_longest_gap_of_a_schedule(schedule: str, hours: float) -> None:
    from aienv.spec.cron import longest_gap_seconds

    assert longest_gap_seconds(schedule) == pytest.approx(hours * 3600, abs=24 * 3600 if hours > 1000 else 0)


def test_e4_a_schedule_that_never_fires_has_no_gap() -> None:
    from aienv.spec.cron import longest_gap_seconds

    assert longest_gap_seconds("0 0 31 2 *") is None
