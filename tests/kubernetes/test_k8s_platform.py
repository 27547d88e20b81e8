"""Platform add-ons and per-endpoint monitoring: GPU stack per driver mode, node autoscaling, observability,
gateway, namespaces, alerts, dashboards, drift CronJobs, the feature server, and API versions."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from aienv import conventions as c
from aienv.engine import Plan
from aienv.engine.wire import is_secret
from components.kubernetes import _common as common

from .k8splan import RELEASE, of_type, one, plain, plan_layer, reference


def _releases(plan: Plan) -> dict[str, dict]:
    return {plain(r.inputs)["name"]: plain(r.inputs) for r in of_type(plan, RELEASE)}


def _tolerates_gpu(tolerations: list[dict]) -> bool:
    return any(t["key"] == c.GPU_TAINT_KEY and t["effect"] == c.GPU_TAINT_EFFECT for t in tolerations)


def test_eks_gpu_operator_uses_the_preinstalled_driver_and_toolkit(aws: Plan) -> None:
    values = _releases(aws)["gpu-operator"]["values"]
    assert values["driver"]["enabled"] is False and values["toolkit"]["enabled"] is False
    assert values["devicePlugin"]["enabled"] is True and values["dcgmExporter"]["enabled"] is True
    assert _tolerates_gpu(values["daemonsets"]["tolerations"])
    assert _tolerates_gpu(values["node-feature-discovery"]["worker"]["tolerations"])
    assert "dcgm-exporter" not in _releases(aws)


def test_aks_gpu_operator_keeps_the_aks_driver_and_toolkit(azure: Plan) -> None:
    # NVIDIA, "GPU Operator with Azure Kubernetes Service": AKS images include driver and container toolkit;
    # "--set driver.enabled=false --set toolkit.enabled=false --set operator.runtimeClass=nvidia-container-runtime".
    values = _releases(azure)["gpu-operator"]["values"]
    assert values["driver"]["enabled"] is False and values["toolkit"]["enabled"] is False
    assert values["operator"]["runtimeClass"] == "nvidia-container-runtime"
    assert values["dcgmExporter"]["serviceMonitor"]["honorLabels"] is True


def test_gke_gets_only_the_dcgm_exporter(gcp: Plan) -> None:
    releases = _releases(gcp)
    assert "gpu-operator" not in releases
    values = releases["dcgm-exporter"]["values"]
    assert releases["dcgm-exporter"]["namespace"] == c.GPU_NAMESPACE
    assert _tolerates_gpu(values["tolerations"]) and values["serviceMonitor"]["enabled"] is True


def test_releases_are_pinned_and_wait_for_crds(any_plan: Plan) -> None:
    by_urn = any_plan.by_urn()
    for r in of_type(any_plan, RELEASE):
        inputs = plain(r.inputs)
        assert inputs["version"] in {ref.version for ref in common.CHARTS.values()}, inputs["chart"]
    kps = next(r for r in of_type(any_plan, RELEASE) if r.inputs["name"] == "kube-prometheus-stack")
    for r in any_plan.resources:
        if r.type.startswith("kubernetes:monitoring.coreos.com/"):
            assert kps.urn in r.dependencies, r.name
        if r.type.startswith(("kubernetes:gateway.networking.k8s.io/", "kubernetes:gateway.envoyproxy.io/")):
            deps = {by_urn[u].name for u in r.dependencies if u in by_urn}
            assert any(n.endswith("envoy-gateway") for n in deps), r.name


def test_cluster_autoscaler_on_eks(aws: Plan) -> None:
    values = _releases(aws)["cluster-autoscaler"]
    assert values["namespace"] == "kube-system"
    assert values["values"]["autoDiscovery"]["clusterName"] == "prod-aws-cluster"
    assert values["values"]["rbac"]["serviceAccount"] == {"create": False, "name": "cluster-autoscaler"}
    assert values["values"]["image"]["tag"] == "v1.35.0"
    sa = one(aws, "kubernetes:core/v1:ServiceAccount", "prod-aws-k8s-autoscaler-service-account")
    assert plain(sa.inputs)["metadata"]["annotations"] == {"eks.amazonaws.com/role-arn": "identity-cluster-autoscaler"}
    layer = next(r for r in aws.resources if r.type == "aienv:kubernetes:ClusterAutoscaler")
    tags = plain(layer.registered_outputs)["nodeTemplateTags"]["a100"]
    assert tags["k8s.io/cluster-autoscaler/node-template/label/aienv.io/gpu-type"] == "nvidia-a100-80gb"
    assert tags["k8s.io/cluster-autoscaler/node-template/taint/nvidia.com/gpu"] == "present:NoSchedule"


@pytest.mark.parametrize("fixture", ["azure", "gcp"])
def test_cloud_autoscaler_installs_nothing(fixture: str, request: pytest.FixtureRequest) -> None:
    plan = request.getfixturevalue(fixture)
    assert "cluster-autoscaler" not in _releases(plan)
    component = next(r for r in plan.resources if r.type == "aienv:kubernetes:ClusterAutoscaler")
    outputs = plain(component.registered_outputs)
    assert outputs["mode"] == "cloud" and outputs["installed"] is False and "itself" in outputs["reason"]


def test_prometheus_stack_follows_the_monitoring_spec(aws: Plan) -> None:
    release = next(r for r in of_type(aws, RELEASE) if r.inputs["name"] == "kube-prometheus-stack")
    values = plain(release.inputs)["values"]
    spec = values["prometheus"]["prometheusSpec"]
    assert spec["retention"] == "15d"
    claim = spec["storageSpec"]["volumeClaimTemplate"]["spec"]
    assert claim["storageClassName"] == "aienv-encrypted" and claim["resources"]["requests"]["storage"] == "100Gi"
    assert values["grafana"]["admin"]["existingSecret"] == "grafana-admin"
    config = values["alertmanager"]["config"]
    receivers = {r["name"]: r for r in config["receivers"]}
    assert receivers["oncall"]["pagerduty_configs"][0]["routing_key"] == "abc123"
    assert receivers["ml-team"]["email_configs"][0]["to"] == "ml-team@example.com"
    routes = {r["receiver"]: r["matchers"] for r in config["route"]["routes"]}
    assert routes == {"oncall": ['severity=~"critical"'], "ml-team": ['severity=~"critical|warning"'],
                      # first, and `continue`: chat's drift and quality alerts also start its retraining
                      "retrain-chat": ['alertname=~"ModelEndpointDrift|ModelEndpointQualityLow"', 'endpoint="chat"']}
    assert config["route"]["routes"][0]["receiver"] == "retrain-chat" and config["route"]["routes"][0]["continue"]
    # webhook URLs and keys stay secret in the recorded inputs
    assert "abc123" not in json.dumps(release.inputs["values"]["alertmanager"]["config"].get("route"))


def test_grafana_password_is_generated_and_secret(aws: Plan) -> None:
    assert of_type(aws, "random:index/randomPassword:RandomPassword")
    secret = one(aws, "kubernetes:core/v1:Secret", "prod-aws-k8s-observability-grafana-admin")
    assert is_secret(secret.inputs["stringData"])


def test_slack_and_webhook_receivers() -> None:
    from components.kubernetes.observability import receiver

    routes = {r.name: r for r in reference("prod-gcp").monitoring.alert_routes}
    assert receiver(routes["oncall"])["slack_configs"][0]["api_url"].startswith("https://hooks.slack.com/")
    azure = {r.name: r for r in reference("prod-azure").monitoring.alert_routes}
    assert receiver(azure["oncall"]) == {"name": "oncall", "webhook_configs": [
        {"url": "https://alerts.example.eu/hooks/aienv", "send_resolved": True}]}


def test_gateways_per_exposure_with_private_load_balancers(any_plan: Plan) -> None:
    gateways = {plain(r.inputs)["metadata"]["name"]: plain(r.inputs)
                for r in of_type(any_plan, "kubernetes:gateway.networking.k8s.io/v1:Gateway")}
    assert "aienv-internal" in gateways
    proxies = {plain(r.inputs)["metadata"]["name"]: plain(r.inputs)["spec"]["provider"]["kubernetes"]["envoyService"]
               for r in of_type(any_plan, "kubernetes:gateway.envoyproxy.io/v1alpha1:EnvoyProxy")}
    internal = proxies["aienv-internal"]
    assert internal["type"] == "LoadBalancer"
    assert any("internal" in k.lower() or v.lower() in ("internal", "true") for k, v in internal["annotations"].items())
    for name, gw in gateways.items():
        listener = gw["spec"]["listeners"][0]
        assert listener["allowedRoutes"]["namespaces"]["from"] == "Selector"
        if name == "aienv-cluster":
            assert proxies[name]["type"] == "ClusterIP"
        else:
            assert listener["protocol"] == "HTTPS"
        if name == "aienv-public":
            assert gw["metadata"]["annotations"]["aienv.io/allow-public"] == "true"


def test_no_public_gateway_without_public_endpoint(azure: Plan) -> None:
    spec = reference("prod-gcp")
    assert all(e.exposure.value != "public" for e in spec.model_endpoints)
    names = {plain(r.inputs)["metadata"]["name"]
             for r in of_type(plan_layer(spec), "kubernetes:gateway.networking.k8s.io/v1:Gateway")}
    assert names == {"aienv-internal", "aienv-cluster"}


def test_namespaces_enforce_pod_security(aws: Plan) -> None:
    labels = {plain(r.inputs)["metadata"]["name"]: plain(r.inputs)["metadata"]["labels"]
              for r in of_type(aws, "kubernetes:core/v1:Namespace")}
    for ns in (c.SERVING_NAMESPACE, c.MONITORING_NAMESPACE, c.FEATURES_NAMESPACE):
        for mode in ("enforce", "audit", "warn"):
            assert labels[ns][f"pod-security.kubernetes.io/{mode}"] == "restricted"
    assert labels[c.GPU_NAMESPACE]["pod-security.kubernetes.io/enforce"] == "privileged"
    assert labels[c.SERVING_NAMESPACE]["aienv.io/cost-center"] == "ml-1234"


def test_every_endpoint_has_alerts_dashboard_and_drift(any_plan: Plan) -> None:
    rules = {plain(r.inputs)["metadata"]["labels"][c.ENDPOINT_LABEL]: plain(r.inputs)
             for r in of_type(any_plan, "kubernetes:monitoring.coreos.com/v1:PrometheusRule")}
    monitors = {plain(r.inputs)["metadata"]["labels"][c.ENDPOINT_LABEL]
                for r in of_type(any_plan, "kubernetes:monitoring.coreos.com/v1:ServiceMonitor")}
    crons = {plain(r.inputs)["metadata"]["labels"][c.ENDPOINT_LABEL]: plain(r.inputs)
             for r in of_type(any_plan, "kubernetes:batch/v1:CronJob")}
    dashboards = [plain(r.inputs) for r in of_type(any_plan, "kubernetes:core/v1:ConfigMap")
                  if plain(r.inputs)["metadata"]["labels"].get("grafana_dashboard") == "1"]
    endpoints = set(rules)
    assert endpoints == monitors == set(crons) and len(dashboards) == len(endpoints) == 3
    for board in dashboards:
        doc = json.loads(next(iter(board["data"].values())))
        assert len(doc["panels"]) == 7
    for ep, rule in rules.items():
        alerts = {a["alert"]: a for g in rule["spec"]["groups"] for a in g["rules"] if "alert" in a}
        assert {"ModelEndpointLatencyHigh", "ModelEndpointErrorRateHigh", "ModelEndpointGpuUtilizationHigh",
                "ModelEndpointGpuMemoryHigh", "ModelEndpointReplicasAtMax", "ModelEndpointDrift"} <= set(alerts)
        assert all(a["labels"]["severity"] in ("critical", "warning") and a["labels"]["endpoint"] == ep
                   for a in alerts.values())
        assert alerts["ModelEndpointLatencyHigh"]["expr"].endswith("> 1.5")  # base.yaml: 1500 ms
        # `15 * * * *`: a fresh score is at most 1 h apart plus the 600 s starting and 3600 s active deadlines.
        assert alerts["ModelEndpointDrift"]["expr"] == (
            f'max(aienv_drift_score{{endpoint="{ep}"}}) > 0.2 and '
            f'(time() - max(aienv_drift_last_run_timestamp_seconds{{endpoint="{ep}"}}) < 7800)')
        cron = crons[ep]
        assert cron["spec"]["schedule"] == "15 * * * *"
        pod = cron["spec"]["jobTemplate"]["spec"]["template"]
        assert pod["metadata"]["labels"][c.COMPONENT_LABEL] == c.COMPONENT_DRIFT
        assert pod["spec"]["serviceAccountName"] == f"{ep}-drift"
        args = pod["spec"]["containers"][0]["command"]
        assert args[args.index("--pushgateway") + 1] == "http://pushgateway.aienv-monitoring.svc:9091"
        assert args[args.index("--metric") + 1] == "psi"


def test_drift_code_configmap_is_the_module(aws: Plan) -> None:
    from aienv import drift

    code = one(aws, "kubernetes:core/v1:ConfigMap", "prod-aws-k8s-chat-drift-code")
    assert plain(code.inputs)["data"]["drift.py"] == Path(drift.__file__).read_text()


def test_in_flight_recording_rule_feeds_the_hpa(aws: Plan) -> None:
    rule = one(aws, "kubernetes:monitoring.coreos.com/v1:PrometheusRule", "prod-aws-k8s-rerank-monitoring-rules")
    records = [r for g in plain(rule.inputs)["spec"]["groups"] for r in g["rules"] if "record" in r]
    assert records[0]["record"] == "aienv_requests_in_flight"
    assert "nv_inference_pending_request_count" in records[0]["expr"]


def test_feature_server_config_points_at_the_online_store(any_plan: Plan) -> None:
    config = next(plain(r.inputs) for r in of_type(any_plan, "kubernetes:core/v1:ConfigMap")
                  if plain(r.inputs)["metadata"]["name"] == "feature-server-config")
    text = config["data"]["feature_store.yaml"]
    assert re.search(r'connection_string: "redis\.\w+\.internal:\d+,ssl=true,password=\$\{REDIS_PASSWORD\}"', text)
    assert "redis-pass" not in text
    import yaml

    doc = yaml.safe_load(text)
    assert doc["online_store"]["type"] == "redis"
    deployment = next(plain(r.inputs) for r in of_type(any_plan, "kubernetes:apps/v1:Deployment")
                      if plain(r.inputs)["metadata"]["name"] == "feature-server")
    env = {e["name"]: e for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "feature-server-redis"
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == "feature-server"


def test_bigquery_offline_store_on_gcp(gcp: Plan) -> None:
    config = next(plain(r.inputs) for r in of_type(gcp, "kubernetes:core/v1:ConfigMap")
                  if plain(r.inputs)["metadata"]["name"] == "feature-server-config")
    import yaml

    doc = yaml.safe_load(config["data"]["feature_store.yaml"])
    assert doc["offline_store"] == {"type": "bigquery", "project_id": "acme-ml-prod", "dataset": "features",
                                    "location": "europe-west4"}
    assert doc["registry"]["path"] == "gs://test-offline/feast/registry.db"  # foundation.feature_registry_uri
    assert "registry_store_type" not in doc["registry"]  # Feast's GCSRegistryStore, by scheme


STABLE_APIS = {"v1", "apps/v1", "batch/v1", "autoscaling/v2", "policy/v1", "networking.k8s.io/v1", "storage.k8s.io/v1",
               "gateway.networking.k8s.io/v1", "monitoring.coreos.com/v1", "gateway.envoyproxy.io/v1alpha1",
               "helm.sh/v3",
               # The newest (and only) versions the installed charts serve: Argo Rollouts v1.9 (Rollout,
               # AnalysisTemplate), KEDA 2.19/2.20 (ScaledObject), its HTTP add-on 0.15 (HTTPScaledObject), and
               # Gateway API v1.4's ReferenceGrant (v1beta1 in the standard channel).
               "argoproj.io/v1alpha1", "keda.sh/v1alpha1", "http.keda.sh/v1alpha1",
               "gateway.networking.k8s.io/v1beta1"}


def test_every_object_uses_an_api_served_on_the_cluster(any_plan: Plan) -> None:
    for r in any_plan.resources:
        if not r.type.startswith("kubernetes:") or r.type.startswith("pulumi:"):
            continue
        group_version = r.type.split(":")[1].replace("core/v1", "v1")
        assert group_version in STABLE_APIS, r.type


def test_all_children_are_parented_in_the_layer(any_plan: Plan) -> None:
    layer = next(r for r in any_plan.resources if r.type == "aienv:kubernetes:KubernetesLayer")
    for r in any_plan.resources:
        if r.type.startswith(("kubernetes:", "random:", "aienv:kubernetes:")) and r is not layer:
            assert r.urn.startswith(f"urn:pulumi:{any_plan.stack}::aienv::aienv:kubernetes:KubernetesLayer$"), r.urn


def test_c3_public_gateway_source_ranges_only_on_the_public_proxy() -> None:
    # Envoy Gateway v1.7 KubernetesServiceSpec.loadBalancerSourceRanges: firewall rules on the cloud's load balancer.
    spec = reference("prod-aws").model_copy(deep=True)
    spec.network.public_gateway_cidrs = ["203.0.113.0/24", "2001:db8::/32"]
    proxies = {plain(r.inputs)["metadata"]["name"]: plain(r.inputs)["spec"]["provider"]["kubernetes"]["envoyService"]
               for r in of_type(plan_layer(spec), "kubernetes:gateway.envoyproxy.io/v1alpha1:EnvoyProxy")}
    assert {"aienv-internal", "aienv-public", "aienv-cluster"} <= set(proxies)
    assert proxies["aienv-public"]["loadBalancerSourceRanges"] == ["203.0.113.0/24", "2001:db8::/32"]
    assert proxies["aienv-public"]["type"] == "LoadBalancer"
    assert all("loadBalancerSourceRanges" not in s for n, s in proxies.items() if n != "aienv-public")


def test_c3_public_gateway_is_open_without_source_ranges(aws: Plan) -> None:
    proxies = {plain(r.inputs)["metadata"]["name"]: plain(r.inputs)["spec"]["provider"]["kubernetes"]["envoyService"]
               for r in of_type(aws, "kubernetes:gateway.envoyproxy.io/v1alpha1:EnvoyProxy")}
    assert "loadBalancerSourceRanges" not in proxies["aienv-public"]
