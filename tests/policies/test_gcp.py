"""GCP rules: one secure and one insecure program; every rule passes on the first and fails on the second."""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp
import pytest
from conftest import failing_names, run_policy
from mockplan import plan

from policies.rules import gcp as rules

PROTECT = pulumi.ResourceOptions(protect=True)
KEY = "projects/p/locations/europe-west4/keyRings/ring/cryptoKeys/key"


def _secure() -> None:
    vpc = gcp.compute.Network("vpc", auto_create_subnetworks=False)
    gcp.compute.GlobalForwardingRule("psc", target="all-apis", network=vpc.id, ip_address="10.0.96.2",
                                     load_balancing_scheme="")
    gcp.compute.Subnetwork("subnet", network="vpc", ip_cidr_range="10.0.0.0/20", region="europe-west4",
                           private_ip_google_access=True,
                           log_config={"aggregation_interval": "INTERVAL_5_SEC", "flow_sampling": 0.5,
                                       "metadata": "INCLUDE_ALL_METADATA"})
    key = gcp.kms.CryptoKey("key", key_ring="projects/p/locations/europe-west4/keyRings/ring",
                            rotation_period="7776000s", opts=PROTECT)
    gcp.kms.CryptoKeyIAMMember("key-user", crypto_key_id=key.id, role="roles/cloudkms.cryptoKeyEncrypterDecrypter",
                               member="serviceAccount:sa@p.iam.gserviceaccount.com")
    gcp.container.Cluster("gke", location="europe-west4", enable_shielded_nodes=True,
                          datapath_provider="ADVANCED_DATAPATH",
                          private_cluster_config={"enable_private_nodes": True, "enable_private_endpoint": True},
                          workload_identity_config={"workload_pool": "p.svc.id.goog"},
                          database_encryption={"state": "ENCRYPTED", "key_name": key.id})
    gcp.container.NodePool("gpu", cluster="gke", location="europe-west4", node_config={
        "machine_type": "g2-standard-8", "workload_metadata_config": {"mode": "GKE_METADATA"},
        "shielded_instance_config": {"enable_secure_boot": True, "enable_integrity_monitoring": True}})
    gcp.storage.Bucket("data", location="EUROPE-WEST4", public_access_prevention="enforced",
                       uniform_bucket_level_access=True, encryption={"default_kms_key_name": key.id},
                       versioning={"enabled": True}, opts=PROTECT)
    # An audit archive: a retention policy instead of versioning, which it excludes (Cloud Storage, "Object
    # Versioning").
    gcp.storage.Bucket("audit-archive", location="EUROPE-WEST4", public_access_prevention="enforced",
                       uniform_bucket_level_access=True, encryption={"default_kms_key_name": key.id},
                       retention_policy={"retention_period": str(365 * 86400), "is_locked": True}, opts=PROTECT)
    repo = gcp.artifactregistry.Repository("models", location="europe-west4", repository_id="models", format="DOCKER",
                                           kms_key_name=key.id, opts=PROTECT)
    gcp.artifactregistry.RepositoryIamMember("models-reader", repository=repo.name, location="europe-west4",
                                             role="roles/artifactregistry.reader",
                                             member="serviceAccount:node@p.iam.gserviceaccount.com")
    gcp.projects.IAMMember("node-role", project="p", role="roles/container.defaultNodeServiceAccount",
                           member="serviceAccount:node@p.iam.gserviceaccount.com")
    gcp.redis.Instance("cache", memory_size_gb=1, auth_enabled=True, transit_encryption_mode="SERVER_AUTHENTICATION",
                       customer_managed_key=key.id, opts=PROTECT)
    gcp.vertex.AiDataset("dataset", display_name="d", metadata_schema_uri="gs://x", region="europe-west4",
                         encryption_spec={"kms_key_name": key.id})
    gcp.vertex.AiEndpoint("endpoint", name="e", display_name="e", location="europe-west4", network="projects/1/global/networks/n",
                          encryption_spec={"kms_key_name": key.id})
    gcp.monitoring.NotificationChannel("hook", type="webhook_tokenauth", labels={"url": "https://hooks.example.com/alerts"})
    gcp.monitoring.NotificationChannel("basic-hook", type="webhook_basicauth",
                                       labels={"url": "https://hooks.example.com/alerts", "username": "monitoring"},
                                       sensitive_labels={"password": "kept-in-a-sensitive-label"})
    for service in ("storage.googleapis.com", "cloudkms.googleapis.com", "aiplatform.googleapis.com"):
        gcp.projects.IAMAuditConfig(f"audit-{service.split('.')[0]}", project="p", service=service, audit_log_configs=[
            {"log_type": "DATA_READ"}, {"log_type": "DATA_WRITE"}])


def _insecure() -> None:
    gcp.compute.Network("bad-vpc", auto_create_subnetworks=False)
    gcp.compute.Subnetwork("bad-subnet", network="vpc", ip_cidr_range="10.1.0.0/20", region="europe-west4")
    gcp.kms.CryptoKey("bad-key", key_ring="projects/p/locations/us/keyRings/r", rotation_period="31536000s",
                      destroy_scheduled_duration="86400s")
    gcp.kms.CryptoKeyIAMMember("bad-key-public", crypto_key_id=KEY, role="roles/cloudkms.cryptoKeyDecrypter",
                               member="allUsers")
    gcp.container.Cluster("bad-gke", location="us-central1", enable_shielded_nodes=False,
                          master_authorized_networks_config={"cidr_blocks": [{"cidr_block": "0.0.0.0/0"}]})
    gcp.container.NodePool("bad-pool", cluster="bad-gke", node_config={"machine_type": "n2-standard-4"})
    gcp.storage.Bucket("bad-bucket", location="US")
    gcp.artifactregistry.Repository("bad-repo", location="us", repository_id="r", format="DOCKER",
                                    vulnerability_scanning_config={"enablement_config": "DISABLED"})
    gcp.projects.IAMMember("bad-project-reader", project="p", role="roles/storage.objectViewer",
                           member="serviceAccount:wl@p.iam.gserviceaccount.com")
    gcp.artifactregistry.RepositoryIamMember("bad-repo-public", repository="r", location="us",
                                             role="roles/artifactregistry.reader", member="allUsers")
    gcp.redis.Instance("bad-cache", memory_size_gb=1)
    gcp.vertex.AiDataset("bad-dataset", display_name="d", metadata_schema_uri="gs://x")
    gcp.vertex.AiEndpoint("bad-endpoint", name="e", display_name="e", location="us-central1")
    gcp.vertex.AiFeatureStore("bad-featurestore", region="us-central1")
    gcp.monitoring.NotificationChannel("bad-hook", type="webhook_tokenauth",
                                       labels={"url": "https://hooks.example.com/alerts?token=Zx81kQ0pLm"})
    gcp.monitoring.NotificationChannel("bad-basic-hook", type="webhook_basicauth",
                                       labels={"url": "https://monitoring:Zx81kQ0pLm@hooks.example.com/alerts"})


@pytest.fixture(scope="module")
def secure() -> dict:
    return plan(_secure)


@pytest.fixture(scope="module")
def insecure() -> dict:
    return plan(_insecure)


NAMES = [r.meta.name for r in rules.RULES]
FAILING = {
    "gcp-subnet-flow-logs": {"bad-subnet"},
    "gcp-gke-private-cluster": {"bad-gke"},
    "gcp-gke-workload-identity": {"bad-gke", "bad-pool"},
    "gcp-gke-shielded-nodes": {"bad-gke", "bad-pool"},
    "gcp-gke-network-policy": {"bad-gke"},
    "gcp-gke-secrets-encryption": {"bad-gke"},
    "gcp-gcs-no-public-access": {"bad-bucket"},
    "gcp-gcs-cmek": {"bad-bucket"},
    "gcp-gcs-versioning": {"bad-bucket"},
    "gcp-kms-rotation": {"bad-key"},
    "gcp-kms-not-public": {"bad-key-public"},
    "gcp-kms-destroy-protection": {"bad-key"},
    "gcp-artifact-registry-not-public": {"bad-repo-public"},
    "gcp-artifact-registry-cmek": {"bad-repo"},
    "gcp-artifact-registry-scanning": {"bad-repo"},
    "gcp-iam-no-project-wide-data-roles": {"bad-project-reader"},
    "gcp-redis-auth-tls": {"bad-cache"},
    "gcp-vertex-cmek": {"bad-dataset", "bad-endpoint", "bad-featurestore"},
    "gcp-vertex-private-endpoint": {"bad-endpoint"},
    "gcp-monitoring-webhook-url-secret": {"bad-hook", "bad-basic-hook"},
    "gcp-data-access-audit-logs": {""},  # a stack-level violation (no resource)
    "gcp-vpc-private-google-apis": {"bad-vpc"},
}


@pytest.mark.parametrize("name", NAMES)
def test_passes_on_secure_program(secure: dict, name: str) -> None:
    assert run_policy(secure, name) == []


@pytest.mark.parametrize("name", NAMES)
def test_fails_on_insecure_program(insecure: dict, name: str) -> None:
    assert FAILING[name] <= failing_names(insecure, name)
