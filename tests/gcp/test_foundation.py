"""The foundation as a whole: provider, labels, kubeconfig, storage class and the CloudFoundation contract."""

from __future__ import annotations

import json

from aienv.gpus import DriverMode
from tests.gcp.gcpplan import inputs, plan_gcp, variant


def test_explicit_provider_with_project_region_and_labels(prod):
    provider = inputs(prod.named("prod-gcp-gcp"))
    assert provider["project"] == "acme-ml-prod" and provider["region"] == "europe-west4"
    labels = provider["defaultLabels"]
    labels = json.loads(labels) if isinstance(labels, str) else labels  # providers take JSON-encoded maps
    assert labels["aienv-environment"] == "prod-gcp" and labels["aienv-tier"] == "prod"
    assert labels["managed-by"] == "aienv" and labels["cost-center"] == "ml-1234"
    assert labels["aienv-owner"] == "ml-platform_example_com"
    gcp_resources = [r for r in prod.resources if r.type.startswith("gcp:") and r.custom]
    assert all(r.provider and "pulumi:providers:gcp" in r.provider for r in gcp_resources)


def test_every_child_lives_under_the_foundation(prod):
    foundation = prod.one("aienv:gcp:Foundation").urn
    components = [r for r in prod.resources if r.type.startswith("aienv:gcp:") and r.urn != foundation]
    assert {r.parent for r in components} == {foundation}


def test_kubeconfig_uses_the_gke_auth_plugin_and_is_secret(prod):
    k8s = prod.one("pulumi:providers:kubernetes")
    assert "4dabf18193072939515e22adb298388d" in k8s.inputs["kubeconfig"]
    config = inputs(k8s)["kubeconfig"]
    assert "command: gke-gcloud-auth-plugin" in config
    assert "token:" not in config and "client-key" not in config


def test_encrypted_storage_class(prod):
    sc = prod.one("kubernetes:storage.k8s.io/v1:StorageClass")
    params = inputs(sc)["parameters"]
    assert params["type"] == "pd-balanced" and params["disk-encryption-kms-key"].endswith("/cryptoKeys/disks")
    assert prod.foundation.outputs.storage_class == inputs(sc)["metadata"]["name"]


def test_cloud_foundation_contract(prod):
    out = prod.foundation.outputs
    assert out.cloud == "gcp" and out.autoscaler == "cloud" and out.region == "europe-west4"
    assert out.driver_mode is DriverMode.CLOUD_MANAGED
    assert [p.name for p in out.gpu_pools] == ["l4", "a100"]
    assert out.offline_store is not None and out.offline_store.kind == "bigquery"
    assert len(out.cluster_ready) == 4  # three node pools and the storage class
    assert prod.outputs["modelBucket"].startswith("gs://prod-gcp-model-artifacts-")


def test_graph_grows_with_endpoints(prod):
    from aienv.spec.model import GpuRequest, ModelEndpoint, ModelInfo
    extra = ModelEndpoint(name="embed", model=ModelInfo(name="bge"), gpu=GpuRequest(type="nvidia-l4"))
    plan = plan_gcp(variant(lambda s: s.model_endpoints.append(extra)), "four-endpoints")
    accounts = "gcp:serviceaccount/account:Account"
    assert len(plan.of_type(accounts)) == len(prod.of_type(accounts)) + 3  # serving, drift and capture identities


def test_project_number_is_looked_up_when_not_in_the_spec():
    plan = plan_gcp(variant(lambda s: setattr(s.gcp, "project_number", None)), "no-project-number")
    members = [inputs(g)["member"] for g in plan.of_type("gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember")]
    assert members and all(m.startswith("serviceAccount:") and "None" not in m and "--" not in m for m in members)
    assert inputs(plan.one("gcp:billing/budget:Budget"))["budgetFilter"]["projects"][0].startswith("projects/")


def test_policy_packs_find_no_mandatory_violation_on_the_foundation(prod):
    from aienv.check.plan import from_export
    from aienv.check.runner import run_packs

    result = run_packs(from_export(prod.plan.to_export()), ["aienv-security", "aienv-ai", "gdpr", "soc2"])
    mandatory = [f"{v.policy}: {v.message}" for v in result.violations if v.enforcement == "mandatory"]
    assert mandatory == []


def test_insecure_choices_are_flagged_by_the_packs():
    from aienv.check.plan import from_export
    from aienv.check.runner import run_packs

    plan = plan_gcp(variant(lambda s: setattr(s.security, "encryption", "provider_managed")), "provider-managed")
    result = run_packs(from_export(plan.plan.to_export()), ["aienv-security"])
    flagged = {v.type for v in result.violations}
    assert {"gcp:storage/bucket:Bucket", "gcp:container/cluster:Cluster"} <= flagged


def test_redis_clients_trust_every_listed_server_ca():
    # B5: during a Memorystore server-CA rotation the instance lists several CAs; all of them go to clients.
    from types import SimpleNamespace

    from components.gcp.foundation import ca_bundle
    certs = [SimpleNamespace(cert="-----BEGIN CERTIFICATE-----\nOLD\n-----END CERTIFICATE-----\n"),
             SimpleNamespace(cert="-----BEGIN CERTIFICATE-----\nNEW\n-----END CERTIFICATE-----")]
    bundle = ca_bundle(certs)
    assert bundle is not None and "OLD" in bundle and "NEW" in bundle and bundle.count("BEGIN CERTIFICATE") == 2
    assert ca_bundle([]) is None and ca_bundle(None) is None


def test_feast_registry_lives_in_the_feature_offline_bucket(prod):
    # B1: the registry is where the feature-server identity may read and write (its `feast/` folder).
    offline = next(b for b in prod.of_type("gcp:storage/bucket:Bucket") if b.name.endswith("-feature-offline"))
    assert prod.outputs["featureRegistry"] == f"gs://{inputs(offline)['name']}/feast/registry.db"
    grant = [inputs(m) for m in prod.of_type("gcp:storage/managedFolderIamMember:ManagedFolderIamMember")
             if inputs(m)["managedFolder"] == "feast/"]
    assert [(g["bucket"], g["role"]) for g in grant] == [(inputs(offline)["name"], "roles/storage.objectUser")]


def test_feature_store_off_has_no_registry():
    plan = plan_gcp(variant(lambda s: setattr(s.feature_store, "enabled", False)), "no-features")
    assert plan.foundation.outputs.feature_registry_uri is None
