"""Cluster: private GKE with Workload Identity, shielded nodes, KMS secrets, Dataplane V2, managed Prometheus,
a least-privilege node identity, and GPU pools with accelerators, driver, taints, labels and autoscaling."""

from __future__ import annotations

from aienv import conventions as c
from aienv.spec.model import EndpointAccess, GpuPool, Taint
from tests.gcp.gcpplan import inputs, plan_gcp, variant

CLUSTER = "gcp:container/cluster:Cluster"
POOL = "gcp:container/nodePool:NodePool"


def pools(plan):
    return {r.name.rsplit("-pool-", 1)[1]: inputs(r) for r in plan.of_type(POOL)}


def test_cluster_is_private_and_hardened(prod):
    cl = inputs(prod.one(CLUSTER))
    assert cl["minMasterVersion"] == "1.35" and cl["releaseChannel"] == {"channel": "REGULAR"}
    assert cl["privateClusterConfig"]["enablePrivateNodes"] is True
    assert cl["privateClusterConfig"]["enablePrivateEndpoint"] is True
    assert cl["masterAuthorizedNetworksConfig"]["gcpPublicCidrsAccessEnabled"] is False
    assert cl["workloadIdentityConfig"] == {"workloadPool": "acme-ml-prod.svc.id.goog"}
    assert cl["enableShieldedNodes"] is True and cl["enableLegacyAbac"] is False
    assert cl["databaseEncryption"]["state"] == "ENCRYPTED"
    assert cl["databaseEncryption"]["keyName"].endswith("/cryptoKeys/gke-secrets")
    assert cl["datapathProvider"] == "ADVANCED_DATAPATH"
    assert {"SYSTEM_COMPONENTS", "WORKLOADS"} <= set(cl["loggingConfig"]["enableComponents"])
    assert cl["monitoringConfig"]["managedPrometheus"] == {"enabled": True}
    assert cl["removeDefaultNodePool"] is True and cl["deletionProtection"] is True
    assert cl["masterAuth"]["clientCertificateConfig"]["issueClientCertificate"] is False


def test_public_api_uses_exactly_the_allowed_cidrs():
    def edit(s):
        s.cluster.api_access = EndpointAccess.public
        s.cluster.api_allowed_cidrs = ["203.0.113.0/24"]
    cl = inputs(plan_gcp(variant(edit), "public-api").one(CLUSTER))
    assert cl["privateClusterConfig"]["enablePrivateEndpoint"] is False
    assert cl["privateClusterConfig"]["enablePrivateNodes"] is True
    assert [b["cidrBlock"] for b in cl["masterAuthorizedNetworksConfig"]["cidrBlocks"]] == ["203.0.113.0/24"]


def test_nodes_use_a_dedicated_least_privilege_identity(prod):
    node_sa = inputs(prod.one("gcp:serviceaccount/account:Account", "-cluster-nodes"))
    email = f"{node_sa['accountId']}@acme-ml-prod.iam.gserviceaccount.com"
    for pool in pools(prod).values():
        assert pool["nodeConfig"]["serviceAccount"] == email
    project_roles = [inputs(m) for m in prod.of_type("gcp:projects/iAMMember:IAMMember")]
    assert [m["role"] for m in project_roles if m["member"] == f"serviceAccount:{email}"] == [
        "roles/container.defaultNodeServiceAccount"]
    # the only other project roles: the retraining pipeline's custom ones (tests/gcp/test_identity.py)
    others = [m["role"] for m in project_roles if m["member"] != f"serviceAccount:{email}"]
    assert len(others) == 2 and all("-identity-pipeline-run" in r for r in others), others
    for role in project_roles:
        assert role["role"] not in ("roles/editor", "roles/owner")


def test_every_pool_is_shielded_with_gke_metadata_and_cmek_disks(prod):
    for pool in pools(prod).values():
        node = pool["nodeConfig"]
        assert node["shieldedInstanceConfig"] == {"enableSecureBoot": True, "enableIntegrityMonitoring": True}
        assert node["workloadMetadataConfig"] == {"mode": "GKE_METADATA"}
        assert node["bootDiskKmsKey"].endswith("/cryptoKeys/disks")
        assert pool["management"] == {"autoRepair": True, "autoUpgrade": True}


def test_system_pool_is_labelled_and_untainted(prod):
    system = pools(prod)["system"]
    assert system["nodeConfig"]["labels"] == {c.POOL_LABEL: "system"}
    assert "taints" not in system["nodeConfig"] and "guestAccelerators" not in system["nodeConfig"]
    assert system["autoscaling"]["totalMinNodeCount"] == 3 and system["autoscaling"]["totalMaxNodeCount"] == 6
    assert system["initialNodeCount"] == 1  # per zone: three zones reach the minimum of three


def test_gpu_pools_have_accelerators_driver_taint_labels_and_sizes(prod):
    by = pools(prod)
    l4, a100 = by["l4"], by["a100"]
    assert l4["nodeConfig"]["machineType"] == "g2-standard-8"
    assert a100["nodeConfig"]["machineType"] == "a2-ultragpu-4g"
    assert a100["nodeConfig"]["guestAccelerators"] == [
        {"type": "nvidia-a100-80gb", "count": 4, "gpuDriverInstallationConfig": {"gpuDriverVersion": "DEFAULT"}}]
    for name, pool, gpus, gpu in (("l4", l4, 1, "nvidia-l4"), ("a100", a100, 4, "nvidia-a100-80gb")):
        node = pool["nodeConfig"]
        assert node["taints"] == [{"key": "nvidia.com/gpu", "value": "present", "effect": "NO_SCHEDULE"}]
        assert node["labels"] == {c.GPU_TYPE_LABEL: gpu, c.GPU_COUNT_LABEL: str(gpus), c.POOL_LABEL: name}
    assert l4["autoscaling"]["totalMinNodeCount"] == 2 and l4["autoscaling"]["totalMaxNodeCount"] == 8
    assert a100["autoscaling"]["totalMinNodeCount"] == 1 and a100["autoscaling"]["totalMaxNodeCount"] == 2
    refs = {p.name: p for p in prod.foundation.outputs.gpu_pools}
    assert refs["a100"].node_labels[c.GPU_TYPE_LABEL] == "nvidia-a100-80gb"
    assert refs["a100"].node_labels["cloud.google.com/gke-accelerator"] == "nvidia-a100-80gb"
    assert refs["l4"].gpus_per_node == 1


def test_added_pool_scales_to_zero_on_spot_with_extra_labels_and_taints(prod):
    extra = GpuPool(name="batch", gpu_type="nvidia-t4", gpus_per_node=2, min_nodes=0, max_nodes=4, spot=True,
                    labels={"team": "vision"}, taints=[Taint(key="batch", value="yes", effect="NoExecute")])
    plan = plan_gcp(variant(lambda s: s.cluster.gpu_pools.append(extra)), "batch-pool")
    assert len(plan.of_type(POOL)) == len(prod.of_type(POOL)) + 1
    batch = pools(plan)["batch"]
    node = batch["nodeConfig"]
    assert batch["autoscaling"]["totalMinNodeCount"] == 0 and batch["autoscaling"]["totalMaxNodeCount"] == 4
    assert node["spot"] is True and node["machineType"] == "n1-standard-16"
    assert node["guestAccelerators"][0]["type"] == "nvidia-tesla-t4" and node["guestAccelerators"][0]["count"] == 2
    assert node["labels"]["team"] == "vision" and node["labels"][c.POOL_LABEL] == "batch"
    assert {"key": "batch", "value": "yes", "effect": "NO_EXECUTE"} in node["taints"]
    assert node["taints"][0]["key"] == c.GPU_TAINT_KEY



def test_gpu_pools_start_at_their_minimum(prod):
    # B7: the autoscaler never scales up just to reach `total_min_node_count`, so the minimum is the initial size
    # (per zone: l4 spans the three zones, a100 only europe-west4-a).
    by = pools(prod)
    assert by["l4"]["initialNodeCount"] == 1 and "nodeLocations" not in by["l4"]
    assert by["a100"]["initialNodeCount"] == 1 and by["a100"]["nodeLocations"] == ["europe-west4-a"]
    plan = plan_gcp(variant(lambda s: setattr(s.cluster.gpu_pools[0], "min_nodes", 0)), "l4-from-zero")
    assert "initialNodeCount" not in pools(plan)["l4"]


def test_pool_names_are_the_spec_names_and_fit_gke(prod):
    # A15: GKE pool names are at most 40 characters; auto-names `<env>-cluster-pool-<pool>-<hex>` overflow.
    spec = variant(lambda s: (setattr(s, "name", "a-forty-character-environment-name-xxxxx"),
                              setattr(s.cluster.gpu_pools[0], "name", "l4-inference-pool-for-the-chat-endpoints")))
    plan = plan_gcp(spec, "long-names")
    names = {inputs(p)["name"] for p in plan.of_type(POOL)}
    assert names == {"system", "l4-inference-pool-for-the-chat-endpoints", "a100"}
    assert all(len(n) <= 40 for n in names)
    assert all(p.delete_before_replace for p in plan.of_type(POOL))


def test_gke_managed_dcgm_is_off(prod):
    # B6: the Kubernetes layer's dcgm-exporter is the one exporter on GPU nodes.
    assert "DCGM" not in inputs(prod.one(CLUSTER))["monitoringConfig"]["enableComponents"]
