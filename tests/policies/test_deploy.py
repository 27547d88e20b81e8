"""The `aienv-deploy` rules on two small programs of real provider resources, one deployable and one that a
real `pulumi up` would reject or never converge on; every rule passes on the first and fails on the second,
on the resource that breaks it."""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws
import pulumi_azure_native as azure
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s
import pytest
from conftest import deferrals, edited, failing_names
from mockplan import plan

from aienv.conventions import GPU_TAINT_EFFECT, GPU_TAINT_KEY, GPU_TYPE_LABEL
from policies.packs import PACKS

GPU_TAINT = {"key": GPU_TAINT_KEY, "value": "present", "effect": "NO_SCHEDULE"}
TOLERATE = [{"key": GPU_TAINT_KEY, "operator": "Exists", "effect": GPU_TAINT_EFFECT}]


def _eks(name: str, *, version: str = "1.35", public: bool = False) -> aws.eks.Cluster:
    return aws.eks.Cluster(name, role_arn="arn:aws:iam::123456789012:role/eks", version=version,
                           vpc_config={"subnet_ids": ["subnet-1"], "endpoint_private_access": True,
                                       "endpoint_public_access": public})


def _provider(name: str, cluster: aws.eks.Cluster) -> k8s.Provider:
    return k8s.Provider(name, kubeconfig=cluster.name.apply(lambda n: json.dumps({"cluster": n})))


def _server(name: str, provider: k8s.Provider, *, cpu: str, image: pulumi.Input[str], weights: pulumi.Input[str],
            model_dir: str = "50Gi", probe_failures: int = 30, replicas: int = 1,
            opts: pulumi.ResourceOptions | None = None) -> k8s.apps.v1.Deployment:
    labels = {"app": name}
    return k8s.apps.v1.Deployment(name, metadata={"name": name, "namespace": "serving"}, spec={
        "replicas": replicas, "selector": {"match_labels": labels}, "template": {
            "metadata": {"labels": labels, "annotations": {"aienv.io/model-params-billion": "1"}},
            "spec": {"node_selector": {GPU_TYPE_LABEL: "nvidia-l4"}, "tolerations": TOLERATE,
                     "service_account_name": name,
                     "init_containers": [{"name": "fetch", "image": image, "command": [
                         "aws", "s3", "sync", weights, "/models"]}],
                     "containers": [{"name": "server", "image": image,
                                     "resources": {"requests": {"cpu": cpu, "memory": "12Gi", "nvidia.com/gpu": "1"},
                                                   "limits": {"nvidia.com/gpu": "1"}},
                                     "startup_probe": {"http_get": {"path": "/health", "port": 8000},
                                                       "period_seconds": 10, "failure_threshold": probe_failures}}],
                     "volumes": [{"name": "model", "empty_dir": {"size_limit": model_dir}}]}}},
        opts=pulumi.ResourceOptions.merge(pulumi.ResourceOptions(provider=provider), opts))


def _common_aws(good: bool) -> None:
    """EKS with a GPU node group, serving, its supply, the deployer's path and NetworkPolicy enforcement."""
    aws.ec2.Vpc("vpc", cidr_block="10.0.0.0/16")
    eks = _eks("eks")
    aws.vpc.SecurityGroupIngressRule("deployer", security_group_id=eks.vpc_config.cluster_security_group_id,
                                     ip_protocol="tcp", from_port=443, to_port=443,
                                     cidr_ipv4="10.200.0.0/24" if good else "10.0.1.0/24")
    aws.eks.Addon("vpc-cni", cluster_name=eks.name, addon_name="vpc-cni",
                  configuration_values=json.dumps({"enableNetworkPolicy": "true" if good else "false"}))
    aws.eks.NodeGroup("l4", cluster_name=eks.name, node_role_arn="arn:aws:iam::123456789012:role/node",
                      subnet_ids=["subnet-1"], instance_types=["g6.xlarge"], disk_size=200,
                      labels={GPU_TYPE_LABEL: "nvidia-l4"}, taints=[GPU_TAINT],
                      scaling_config={"min_size": 0, "max_size": 2, "desired_size": 0})
    provider = _provider("eks-k8s", eks)
    k8s.core.v1.Namespace("serving", metadata={"name": "serving",
                                                "labels": {"pod-security.kubernetes.io/enforce": "restricted"}},
                          opts=pulumi.ResourceOptions(provider=provider))
    k8s.networking.v1.NetworkPolicy("deny", metadata={"namespace": "serving"},
                                    spec={"pod_selector": {}, "policy_types": ["Ingress"]},
                                    opts=pulumi.ResourceOptions(provider=provider))
    repo = aws.ecr.Repository("vllm", name="env/vllm/vllm-openai")
    if good:
        aws.ecr.PullThroughCacheRule("docker-hub", ecr_repository_prefix="env/vllm",
                                     upstream_registry_url="registry-1.docker.io")
    models = aws.s3.Bucket("models", bucket="env-models")
    weights = models.bucket.apply(lambda b: f"s3://{b}/models/llm/1/")
    image = repo.repository_url.apply(lambda u: f"{u}:v0.11.0")
    role = aws.iam.Role("llm", assume_role_policy="{}")
    grant = aws.iam.RolePolicy("llm-read", role=role.name, policy="{}")
    k8s.core.v1.ServiceAccount("llm-sa", metadata={"name": "llm", "namespace": "serving",
                                                    "annotations": {"eks.amazonaws.com/role-arn": role.arn}},
                               opts=pulumi.ResourceOptions(provider=provider))
    _server("llm", provider, cpu="3" if good else "4", image=image, weights=weights,
            probe_failures=30 if good else 360, replicas=2,
            opts=pulumi.ResourceOptions(depends_on=[grant]) if good else None)
    if not good:  # fits the node, but its 180 GiB of node-local data do not fit the 200 GB disk (10% reserved)
        _server("scratch", provider, cpu="1", image="docker.io/library/python:3.12-slim", weights="/data",
                model_dir="180Gi", replicas=2)
    k8s.core.v1.Service("llm-svc", metadata={"name": "llm", "namespace": "serving"},
                        spec={"selector": {"app": "llm"}, "ports": [{"port": 80}]},
                        opts=pulumi.ResourceOptions(provider=provider))
    if good:
        k8s.batch.v1.Job("import-llm", metadata={"namespace": "models"}, spec={"template": {"spec": {
            "restart_policy": "Never", "containers": [{"name": "copy", "image": "python:3.12-slim",
                                                       "args": ["--to", weights]}]}}},
            opts=pulumi.ResourceOptions(provider=provider))
    kps = k8s.helm.v3.Release("kps", chart="kube-prometheus-stack", version="78.1.0", namespace="monitoring",
                              opts=pulumi.ResourceOptions(provider=provider))
    k8s.apiextensions.CustomResource("llm-monitor", api_version="monitoring.coreos.com/v1", kind="ServiceMonitor",
                                     metadata={"namespace": "serving"}, spec={"endpoints": []},
                                     opts=pulumi.ResourceOptions(provider=provider,
                                                                 depends_on=[kps] if good else []))
    gateway_api = k8s.helm.v3.Release("envoy-gateway", chart="gateway-helm", version="v1.7.0",
                                      namespace="envoy-gateway-system",
                                      opts=pulumi.ResourceOptions(provider=provider))
    k8s.core.v1.Secret("edge-tls", metadata={"name": "edge-tls", "namespace": "envoy-gateway-system"},
                       type="kubernetes.io/tls", string_data={"tls.crt": "-", "tls.key": "-"},
                       opts=pulumi.ResourceOptions(provider=provider))
    if good:  # cert-manager writes the second certificate's Secret
        k8s.apiextensions.CustomResource(
            "api-cert", api_version="cert-manager.io/v1", kind="Certificate",
            metadata={"name": "api", "namespace": "envoy-gateway-system"},
            spec={"secretName": "api-tls", "dnsNames": ["api.example.com"],
                  "issuerRef": {"name": "letsencrypt", "kind": "ClusterIssuer"}},
            opts=pulumi.ResourceOptions(provider=provider))
    for gw, secret in (("edge", "edge-tls"), ("api", "api-tls")):
        k8s.apiextensions.CustomResource(
            gw, api_version="gateway.networking.k8s.io/v1", kind="Gateway",
            metadata={"name": gw, "namespace": "envoy-gateway-system"},
            spec={"gatewayClassName": "eg", "listeners": [
                {"name": "http", "protocol": "HTTP", "port": 80},
                {"name": "https", "protocol": "HTTPS", "port": 443, "tls": {
                    "mode": "Terminate", "certificateRefs": [{"kind": "Secret", "group": "", "name": secret}]}}]},
            opts=pulumi.ResourceOptions(provider=provider, depends_on=[gateway_api]))
    aws.kms.Key("data", enable_key_rotation=True, rotation_period_in_days=90 if good else 30)
    aws.cloudwatch.LogGroup("audit", retention_in_days=365 if good else 500)
    aws.ec2.VpcEndpoint("sts", vpc_id="vpc-1", service_name="com.amazonaws.us-east-1.sts",
                        vpc_endpoint_type="Interface", private_dns_enabled=good)
    aws.iam.Role("worker", assume_role_policy="{}",
                 name_prefix="env-" if good else "an-environment-name-and-a-workload-key-")
    if not good:  # an old private cluster nobody can reach, with Pod Security labels it cannot admit
        old = _eks("old", version="1.24")
        old_k8s = _provider("old-k8s", old)
        k8s.core.v1.Namespace("legacy", metadata={"name": "legacy",
                                                   "labels": {"pod-security.kubernetes.io/enforce": "baseline"}},
                              opts=pulumi.ResourceOptions(provider=old_k8s))


def _common_azure(good: bool) -> None:
    rg = azure.resources.ResourceGroup("rg", resource_group_name="rg-env")
    aks = azure.containerservice.ManagedCluster(
        "aks", resource_group_name=rg.name, resource_name_="aks-env", dns_prefix="env",
        kubernetes_version="1.35" if good else "1.34",
        network_profile={"network_plugin": "azure", "network_policy": "cilium"},
        api_server_access_profile={"enable_private_cluster": True, "enable_private_cluster_public_fqdn": True},
        agent_pool_profiles=[{"name": "system", "mode": "System", "vm_size": "Standard_D4s_v5", "count": 1}])
    first = azure.containerservice.AgentPool("t4", resource_group_name=rg.name, resource_name_=aks.name,
                                             agent_pool_name="t4", vm_size="Standard_NC4as_T4_v3", count=1)
    azure.containerservice.AgentPool("a100", resource_group_name=rg.name, resource_name_=aks.name,
                                     agent_pool_name="a100", vm_size="Standard_NC24ads_A100_v4", count=1,
                                     opts=pulumi.ResourceOptions(depends_on=[first]) if good else None)
    azure.redis.Redis("cache", resource_group_name=rg.name, name="cache-env",
                      sku={"name": "Premium", "family": "P", "capacity": 1},
                      zones=["1", "2"] if good else ["1", "2", "3"], replicas_per_primary=1)
    # Azure Managed Redis: "Name must be 1-60 characters long" (azure-native redisenterprise.RedisEnterprise)
    azure.redisenterprise.RedisEnterprise("online", resource_group_name=rg.name, sku={"name": "Balanced_B5"},
                                          public_network_access="Disabled",
                                          cluster_name="env-online" if good else "env-" + "o" * 57)
    azure.machinelearningservices.Workspace("features-workspace-of-this-env", resource_group_name=rg.name,
                                            workspace_name="env-features" if good else None)
    azure.keyvault.Key("ml", resource_group_name=rg.name, vault_name="env-kv", key_name="ml", properties={
        "kty": "RSA", "rotation_policy": {"attributes": {"expiry_time": "P120D"}, "lifetime_actions": [
            {"action": {"type": "rotate"}, "trigger": {"time_after_create": "P90D" if good else "P3D"}}]}})


def _common_gcp(good: bool) -> None:
    api = gcp.projects.Service("container-api", project="p", service="container.googleapis.com")
    cluster = gcp.container.Cluster("gke", name="gke", location="europe-west4", project="p",
                                    initial_node_count=1, remove_default_node_pool=True,
                                    datapath_provider="ADVANCED_DATAPATH",
                                    min_master_version="1.35" if good else "1.33",
                                    opts=pulumi.ResourceOptions(depends_on=[api]) if good else None)
    gcp.container.NodePool("a100", cluster=cluster.id, location="europe-west4", project="p",
                           node_locations=["europe-west4-a"] if good else ["europe-west4-a", "europe-west4-b"],
                           node_config={"machine_type": "a2-ultragpu-1g",
                                        "guest_accelerators": [{"type": "nvidia-a100-80gb", "count": 1}]})
    key = gcp.kms.CryptoKey("storage", key_ring="projects/p/locations/europe-west4/keyRings/r",
                            rotation_period="7776000s" if good else "3600s")
    grant = gcp.kms.CryptoKeyIAMMember("storage-agent", crypto_key_id=key.id,
                                       role="roles/cloudkms.cryptoKeyEncrypterDecrypter",
                                       member="serviceAccount:service-1@gs-project-accounts.iam.gserviceaccount.com")
    gcp.storage.Bucket("data", name="env-data", location="EUROPE-WEST4",
                       encryption={"default_kms_key_name": key.id},
                       opts=pulumi.ResourceOptions(depends_on=[grant]) if good else None)
    channels = [f"projects/p/notificationChannels/{i}" for i in range(2 if good else 6)]
    gcp.billing.Budget("monthly", billing_account="000000-000000-000000",
                       amount={"specified_amount": {"units": "100"}},
                       all_updates_rule={"monitoring_notification_channels": channels})


def _program(good: bool) -> None:
    _common_aws(good)
    _common_azure(good)
    _common_gcp(good)


@pytest.fixture(scope="module")
def good() -> dict:
    return plan(lambda: _program(True))


@pytest.fixture(scope="module")
def bad() -> dict:
    return plan(lambda: _program(False))


FAILING = {
    "deploy-pod-fits-node": {"llm"},
    "deploy-node-disk-fits-local-data": {"scratch"},
    "deploy-physical-name-limits": {"worker", "features-workspace-of-this-env", "online"},
    "deploy-key-rotation-range": {"data", "ml", "storage"},
    "deploy-budget-notification-limits": {"monthly"},
    "deploy-redis-zones-within-nodes": {"cache"},
    "deploy-log-retention-range": {"audit"},
    "deploy-kubernetes-version-supported": {"aks", "gke", "old"},
    "deploy-gpu-sold-in-pool-zones": {"a100"},
    "deploy-gcp-api-enabled-first": {"gke", "a100"},
    "deploy-key-grant-before-use": {"data"},
    "deploy-crd-before-custom-resource": {"llm-monitor"},
    "deploy-aks-agent-pools-serial": {"a100"},
    "deploy-identity-grants-before-workload": {"llm"},
    "deploy-await-covers-start": {"llm", "llm-svc"},
    "deploy-image-supplied": {"llm"},
    "deploy-model-weights-supplied": {"llm"},
    "deploy-gateway-certificate": {"api"},
    "deploy-api-server-reachable": {"eks", "old"},
    "deploy-private-endpoint-dns": {"sts"},
    "deploy-controls-enforced": {"eks", "old"},
}


def test_every_deploy_rule_is_tested() -> None:
    assert set(FAILING) == set(PACKS["aienv-deploy"].rules)


@pytest.mark.parametrize("name", sorted(FAILING))
def test_passes_on_a_deployable_program(good: dict, name: str) -> None:
    assert failing_names(good, name) == set()


@pytest.mark.parametrize("name", sorted(FAILING))
def test_fails_on_the_resource_that_breaks_it(bad: dict, name: str) -> None:
    assert failing_names(bad, name) == FAILING[name]


# --- deploy-gateway-certificate: unknowns defer, cert-manager's gateway-shim supplies ---------------------------
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"


def test_gateway_certificate_defers_on_a_secret_name_unknown_at_preview(bad: dict) -> None:
    export = edited(bad, "edge-tls", lambda p: p["metadata"].__setitem__("name", UNKNOWN))
    assert failing_names(export, "deploy-gateway-certificate") == set()  # not a finding...
    assert {d.name for d in deferrals(export, "deploy-gateway-certificate")} == {"edge", "api"}  # ...deferred


def test_gateway_certificate_accepts_a_cert_manager_annotated_gateway(bad: dict) -> None:
    export = edited(bad, "api", lambda p: p["metadata"].__setitem__(
        "annotations", {"cert-manager.io/cluster-issuer": "letsencrypt"}))
    assert failing_names(export, "deploy-gateway-certificate") == set()
