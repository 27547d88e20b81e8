"""The Azure foundation planned offline: security- and scheduling-relevant properties per component."""

from __future__ import annotations

import json

import pytest

from aienv import conventions as c
from aienv.engine import Plan
from aienv.gpus import DRIVER_MODES
from aienv.workloads import Workload
from tests.azure.conftest import plan_foundation, variant

T = "azure-native:"


def of(plan: Plan, type_: str) -> list:
    return [r for r in plan.resources if r.type == T + type_]


def one(plan: Plan, type_: str, suffix: str = ""):
    found = [r for r in of(plan, type_) if r.name.endswith(suffix)]
    assert len(found) == 1, [r.name for r in of(plan, type_)]
    return found[0]


def plain(value):
    """Unwrap the wire secret signature."""
    if isinstance(value, dict) and "value" in value and len(value) == 2:
        return value["value"]
    return value


# --- provider, tags, network --------------------------------------------------------------------------

def test_explicit_provider_pins_subscription_and_location(prod):
    plan, _ = prod
    providers = [r for r in plan.resources if r.type == "pulumi:providers:azure-native"]
    assert len(providers) == 1
    assert providers[0].inputs["subscriptionId"] == "00000000-1111-2222-3333-444444444444"
    assert providers[0].inputs["location"] == "westeurope"
    azure = [r for r in plan.resources if r.custom and r.type.startswith(T)]
    assert azure and all(r.provider and r.provider.startswith(providers[0].urn) for r in azure)


def test_every_taggable_resource_carries_the_environment_tags(prod):
    plan, _ = prod
    untaggable = {"authorization:RoleAssignment", "authorization:RoleDefinition",  # role definitions take no tags
                  "authorization:ManagementLockAtResourceGroupLevel",
                  "network:Subnet", "network:PrivateDnsZoneGroup", "storage:BlobContainer",
                  "storage:BlobServiceProperties", "storage:ManagementPolicy", "monitor:DiagnosticSetting",
                  "managedidentity:FederatedIdentityCredential", "consumption:Budget",
                  "machinelearningservices:WorkspaceConnection", "machinelearningservices:FeaturestoreEntityContainerEntity",
                  "redis:AccessPolicyAssignment", "redisenterprise:Database", "monitor:DataCollectionRuleAssociation",
                  "containerregistry:CacheRule", "containerregistry:CredentialSet"}
    for r in plan.resources:
        if not r.custom or not r.type.startswith(T) or r.type[len(T):] in untaggable:
            continue
        tags = r.inputs.get("tags")
        assert tags, r.urn
        assert tags[c.TAG_ENVIRONMENT] == "prod-azure" and tags[c.TAG_TIER] == "prod", r.urn
        assert tags[c.TAG_MANAGED_BY] == c.MANAGED_BY and tags["cost-center"] == "ml-1234", r.urn


def test_no_nsg_opens_inbound_from_the_internet_except_https_for_public_endpoints(prod):
    plan, _ = prod
    nsgs = of(plan, "network:NetworkSecurityGroup")
    assert len(nsgs) == 4  # nodes, endpoints, services, apiserver
    for nsg in nsgs:
        rules = nsg.inputs["securityRules"]
        deny = [r for r in rules if r["access"] == "Deny" and r["sourceAddressPrefix"] == "Internet"]
        assert deny, nsg.name
        for rule in rules:
            if rule["access"] == "Allow" and rule["direction"] == "Inbound":
                assert rule["sourceAddressPrefix"] != "Internet" or rule["destinationPortRange"] == "443"
    nodes = one(plan, "network:NetworkSecurityGroup", "nodes-nsg")
    assert any(r["name"] == "allow-https-to-gateway" for r in nodes.inputs["securityRules"])  # codegen is public


def test_https_inbound_only_when_an_endpoint_is_public():
    from aienv.spec.model import Exposure

    def edit(spec):
        for e in spec.model_endpoints:
            e.exposure = Exposure.internal
    plan = plan_foundation(variant(edit))
    for nsg in of(plan, "network:NetworkSecurityGroup"):
        assert all(r["access"] == "Deny" or r.get("sourceAddressPrefix") != "Internet"
                   for r in nsg.inputs["securityRules"])
        assert not any(r["name"] == "allow-https-to-gateway" for r in nsg.inputs["securityRules"])


def test_nodes_leave_through_one_nat_gateway_with_a_public_ip_per_zone(prod):
    plan, _ = prod
    nat = one(plan, "network:NatGateway")  # one gateway even with per_zone: a subnet takes one
    assert not nat.inputs.get("zones")  # no zone: Azure places the (zonal) gateway in one it picks
    assert len(nat.inputs["publicIpAddresses"]) == 3  # per_zone in prod -> one IP per zone
    nodes = one(plan, "network:Subnet", "-nodes")
    assert nodes.inputs["natGateway"]["id"] and nodes.inputs["defaultOutboundAccess"] is False
    cluster = one(plan, "containerservice:ManagedCluster")
    assert cluster.inputs["networkProfile"]["outboundType"] == "userAssignedNATGateway"


def test_the_nat_gateways_option_does_not_promise_zone_redundant_egress_on_azure():
    from aienv.spec.model import NetworkSpec

    text = NetworkSpec.model_fields["nat_gateways"].description or ""
    assert "highly available" not in text and "zone-redundant" not in text.replace("not zone-redundant", "")
    assert "Azure: one NAT gateway either way" in text


def test_private_dns_zones_are_linked_to_the_vnet(prod):
    plan, _ = prod
    zones = {z.inputs["privateZoneName"] for z in of(plan, "privatedns:PrivateZone")}
    assert {"privatelink.blob.core.windows.net", "privatelink.vaultcore.azure.net", "privatelink.azurecr.io",
            "privatelink.api.azureml.ms", "privatelink.redis.azure.net"} <= zones
    assert "privatelink.redis.cache.windows.net" not in zones  # Azure Cache for Redis' zone: nothing uses it
    links = of(plan, "privatedns:VirtualNetworkLink")
    assert len(links) == len(zones) and all(link.inputs["registrationEnabled"] is False for link in links)


def test_resource_group_is_locked_and_protected(prod):
    plan, _ = prod
    lock = one(plan, "authorization:ManagementLockAtResourceGroupLevel")
    assert lock.inputs["level"] == "CanNotDelete"
    assert one(plan, "resources:ResourceGroup").protect


# --- keys -------------------------------------------------------------------------------------------------

def test_key_vault_is_rbac_purge_protected_and_private(prod):
    plan, _ = prod
    vault = one(plan, "keyvault:Vault", "-keys-vault")
    props = vault.inputs["properties"]
    assert props["enableRbacAuthorization"] is True
    assert props["enablePurgeProtection"] is True and props["enableSoftDelete"] is True
    assert props["publicNetworkAccess"] == "Disabled"
    assert props["networkAcls"]["defaultAction"] == "Deny"
    assert vault.protect and vault.retain_on_delete
    pe = [p for p in of(plan, "network:PrivateEndpoint")
          if p.inputs["privateLinkServiceConnections"][0]["privateLinkServiceId"] == vault.id]
    assert len(pe) == 1 and pe[0].inputs["privateLinkServiceConnections"][0]["groupIds"] == ["vault"]


def test_keys_per_purpose_rotate_and_expire(prod):
    plan, _ = prod
    keys = of(plan, "keyvault:Key")
    # registry-cmk twice: in the registry's own vault (the key it is created with) and in the main vault.
    # redis-cmk: prod-azure has an online store (Azure Managed Redis).
    assert sorted(k.inputs["keyName"] for k in keys) == ["disks-cmk", "ml-cmk", "redis-cmk", "registry-cmk",
                                                         "registry-cmk", "storage-cmk"]
    for key in keys:
        policy = key.inputs["properties"]["rotationPolicy"]
        rotate = [a for a in policy["lifetimeActions"] if a["action"]["type"] == "rotate"]
        assert rotate[0]["trigger"]["timeAfterCreate"] == "P90D"
        if key.inputs["keyName"] not in ("ml-cmk", "redis-cmk"):  # both pin a version: see test_open_findings
            assert policy["attributes"]["expiryTime"] == "P120D"  # 90-day rotation + 30 days notice
        assert key.protect


def test_cmk_identities_can_only_use_their_own_key(prod):
    plan, _ = prod
    key_ids = {k.name: k.id for k in of(plan, "keyvault:Key")}
    grants = [g for g in of(plan, "authorization:RoleAssignment")
              if g.inputs["roleDefinitionId"].endswith("e147488a-f6f5-4113-8e2d-b22465e65bf6")]
    # storage, registry, ml and redis identities, the disk encryption set, the registry's system identity (the
    # rotation target) and the tenant's Azure Cosmos DB principal (Azure ML).
    assert len(grants) == 7
    assert all(g.inputs["scope"] in key_ids.values() for g in grants)


# --- storage ----------------------------------------------------------------------------------------------

def test_storage_accounts_are_private_cmk_entra_only(prod):
    plan, _ = prod
    accounts = of(plan, "storage:StorageAccount")
    assert {a.name.rsplit("-", 1)[1] for a in accounts} == {"data", "lake"}
    for account in accounts:
        i = account.inputs
        assert i["kind"] == "StorageV2"
        assert i["allowBlobPublicAccess"] is False and i["allowSharedKeyAccess"] is False
        assert i["enableHttpsTrafficOnly"] is True and i["minimumTlsVersion"] == "TLS1_2"
        assert i["publicNetworkAccess"] == "Disabled"
        assert i["encryption"]["keySource"] == "Microsoft.Keyvault"
        assert i["encryption"]["keyVaultProperties"]["keyName"] == "storage-cmk"
        assert account.protect
    assert one(plan, "storage:StorageAccount", "-lake").inputs["isHnsEnabled"] is True


def test_versioning_soft_delete_and_lifecycle_by_retention(prod):
    plan, _ = prod
    data = one(plan, "storage:BlobServiceProperties", "-data-blob").inputs
    assert data["isVersioningEnabled"] is True and data["deleteRetentionPolicy"]["enabled"] is True
    policy = one(plan, "storage:ManagementPolicy").inputs["policy"]["rules"]
    by_name = {r["name"]: r for r in policy}
    assert by_name["expire-training-data"]["definition"]["actions"]["baseBlob"]["delete"][
        "daysAfterModificationGreaterThan"] == 730
    assert by_name["expire-logs"]["definition"]["filters"]["prefixMatch"] == ["logs/"]
    assert "expire-noncurrent-versions" in by_name
    containers = {b.inputs["containerName"]: b.inputs["publicAccess"] for b in of(plan, "storage:BlobContainer")}
    assert containers == {"training-data": "None", "model-artifacts": "None", "logs": "None",
                          "access-logs": "None", "feature-offline": "None"}


# --- registries -------------------------------------------------------------------------------------------

def test_acr_is_premium_cmk_private_without_admin_or_anonymous_pull(prod):
    plan, _ = prod
    acr = one(plan, "containerregistry:Registry")
    i = acr.inputs
    assert i["sku"]["name"] == "Premium"
    assert i["adminUserEnabled"] is False and i["anonymousPullEnabled"] is False
    assert i["publicNetworkAccess"] == "Disabled"
    assert i["encryption"]["status"] == "enabled"
    assert i["encryption"]["keyVaultProperties"]["keyIdentifier"].endswith("/keys/registry-cmk")
    assert acr.protect


def test_ml_workspace_and_model_registry_are_private_and_cmk(prod):
    plan, _ = prod
    workspaces = {w.inputs["kind"]: w for w in of(plan, "machinelearningservices:Workspace")}
    assert set(workspaces) == {"Default", "FeatureStore"}
    for ws in workspaces.values():
        i = ws.inputs
        assert i["publicNetworkAccess"] == "Disabled"
        assert i["encryption"]["status"] == "Enabled"
        assert i["encryption"]["keyVaultProperties"]["keyVaultArmId"] == one(plan, "keyvault:Vault", "-keys-vault").id
        assert i["keyVault"] and i["storageAccount"] and i["applicationInsights"] and i["containerRegistry"]
        assert ws.protect
    registry = one(plan, "machinelearningservices:Registry")
    assert registry.inputs["publicNetworkAccess"] == "Disabled" and registry.protect


# --- feature store ----------------------------------------------------------------------------------------

def test_feature_store_offline_store_and_materialization_identity(prod):
    plan, _ = prod
    fs = [w for w in of(plan, "machinelearningservices:Workspace") if w.inputs["kind"] == "FeatureStore"][0]
    assert fs.inputs["featureStoreSettings"]["offlineStoreConnectionName"] == "OfflineStoreConnectionName"
    conn = one(plan, "machinelearningservices:WorkspaceConnection").inputs["properties"]
    containers = {b.inputs["containerName"]: b.id for b in of(plan, "storage:BlobContainer")}
    assert conn["category"] == "ADLSGen2" and conn["target"] == containers["feature-offline"]  # the container's ARM id
    entities = [e.inputs["name"] for e in of(plan, "machinelearningservices:FeaturestoreEntityContainerEntity")]
    assert entities == ["customer_id"]


def test_online_store_is_azure_managed_redis_tls_only_private_and_ha(prod):
    plan, holder = prod
    assert not of(plan, "redis:Redis")  # Azure Cache for Redis: creation blocked for new customers (A11)
    cluster = one(plan, "redisenterprise:RedisEnterprise")
    i = cluster.inputs
    assert i["sku"] == {"name": "Balanced_B10"}  # medium: 12 GB
    assert i["highAvailability"] == "Enabled" and "zones" not in i  # zone-redundant by default with HA
    assert i["minimumTlsVersion"] == "1.2" and i["publicNetworkAccess"] == "Disabled"
    assert cluster.protect and cluster.retain_on_delete
    db = one(plan, "redisenterprise:Database")
    d = db.inputs
    assert d["clusterName"] == cluster.outputs["name"]
    assert d["databaseName"] == "default" and d["port"] == 10000 and d["clientProtocol"] == "Encrypted"
    assert d["clusteringPolicy"] == "EnterpriseCluster"  # one endpoint for Feast's plain redis client
    assert d["evictionPolicy"] == "NoEviction"  # Feast keys carry TTLs: VolatileLRU would evict features
    assert db.protect
    pe = one(plan, "network:PrivateEndpoint", "-redis-pe")
    (conn,) = pe.inputs["privateLinkServiceConnections"]
    assert conn["groupIds"] == ["redisEnterprise"] and conn["privateLinkServiceId"] == cluster.id
    online = holder["foundation"].outputs.online_store
    assert online is not None and online.port == 10000 and online.tls


@pytest.mark.parametrize("size, sku", [("small", "Balanced_B5"), ("large", "Balanced_B20")])
def test_online_store_size_maps_to_a_balanced_sku_and_ha_off_is_single_node(size, sku):
    def edit(spec) -> None:
        spec.feature_store.online_store.size = size
        spec.feature_store.online_store.high_availability = False

    cluster = one(plan_foundation(variant(edit)), "redisenterprise:RedisEnterprise")
    assert cluster.inputs["sku"] == {"name": sku} and cluster.inputs["highAvailability"] == "Disabled"


def test_online_store_encrypts_with_its_own_key_through_a_user_assigned_identity(prod):
    plan, _ = prod
    cluster = one(plan, "redisenterprise:RedisEnterprise")
    cmk = cluster.inputs["encryption"]["customerManagedKeyEncryption"]
    key = one(plan, "keyvault:Key", "-keys-redis")
    identity = one(plan, "managedidentity:UserAssignedIdentity", "-keys-redis-cmk-id")
    assert key.inputs["keyName"] == "redis-cmk"
    assert cmk["keyEncryptionKeyUrl"] == key.outputs["keyUriWithVersion"]  # versioned only
    assert cmk["keyEncryptionKeyIdentity"] == {"identityType": "userAssignedIdentity",
                                               "userAssignedIdentityResourceId": identity.id}
    assert cluster.inputs["identity"] == {"type": "UserAssigned", "userAssignedIdentities": [identity.id]}
    # the version Redis names never expires; the identity wraps with this one key only
    assert "attributes" not in key.inputs["properties"]["rotationPolicy"]
    grant = one(plan, "authorization:RoleAssignment", "-keys-redis-cmk-grant")
    assert grant.inputs["scope"] == key.id and grant.inputs["principalId"] == identity.outputs["principalId"]
    assert any(dep.endswith("cmk-grants-wait") for dep in cluster.dependencies)


def test_online_store_without_customer_managed_keys_has_no_key_or_identity(insecure):
    cluster = one(insecure, "redisenterprise:RedisEnterprise")
    assert "encryption" not in cluster.inputs and "identity" not in cluster.inputs
    assert cluster.inputs["publicNetworkAccess"] == "Enabled"  # network.private_endpoints: false (flagged)
    assert not [k for k in of(insecure, "keyvault:Key") if k.name.endswith("-redis")]


# --- cluster ----------------------------------------------------------------------------------------------

def test_aks_is_private_entra_rbac_without_local_accounts(prod):
    plan, _ = prod
    i = one(plan, "containerservice:ManagedCluster").inputs
    assert i["kubernetesVersion"] == "1.35"
    assert i["disableLocalAccounts"] is True and i["enableRBAC"] is True
    assert i["aadProfile"]["enableAzureRBAC"] is True and i["aadProfile"]["managed"] is True
    assert i["aadProfile"]["adminGroupObjectIDs"] == ["aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"]
    assert i["apiServerAccessProfile"]["enablePrivateCluster"] is True
    assert i["oidcIssuerProfile"]["enabled"] is True
    assert i["securityProfile"]["workloadIdentity"]["enabled"] is True
    assert i["securityProfile"]["defender"]["securityMonitoring"]["enabled"] is True
    assert i["networkProfile"]["networkPolicy"] == "cilium"
    assert i["diskEncryptionSetID"] == one(plan, "compute:DiskEncryptionSet").id
    assert i["addonProfiles"]["omsagent"]["config"]["logAnalyticsWorkspaceResourceID"] == \
        one(plan, "operationalinsights:Workspace").id


def test_system_pool_is_labelled_and_sized_from_the_spec(prod):
    plan, _ = prod
    (system,) = one(plan, "containerservice:ManagedCluster").inputs["agentPoolProfiles"]
    assert system["mode"] == "System" and system["nodeLabels"] == {c.POOL_LABEL: "system"}
    assert (system["minCount"], system["maxCount"], system["enableAutoScaling"]) == (3, 6, True)
    assert system["vmSize"] == "Standard_D4s_v5" and system["enableEncryptionAtHost"] is True


def test_gpu_pools_are_tainted_labelled_and_sized_from_the_catalogue(prod):
    plan, holder = prod
    pools = {p.inputs["agentPoolName"]: p.inputs for p in of(plan, "containerservice:AgentPool")}
    assert set(pools) == {"t4", "a100"}
    t4, a100 = pools["t4"], pools["a100"]
    assert t4["vmSize"] == "Standard_NC4as_T4_v3" and a100["vmSize"] == "Standard_NC48ads_A100_v4"
    assert (t4["minCount"], t4["maxCount"]) == (2, 6) and (a100["minCount"], a100["maxCount"]) == (1, 4)
    for name, pool in pools.items():
        assert pool["nodeTaints"][0] == "nvidia.com/gpu=present:NoSchedule"
        assert pool["nodeLabels"][c.POOL_LABEL] == name and pool["enableAutoScaling"] is True
        assert pool["mode"] == "User" and pool["scaleSetPriority"] == "Regular"
    assert a100["nodeLabels"][c.GPU_TYPE_LABEL] == "nvidia-a100-80gb" and a100["nodeLabels"][c.GPU_COUNT_LABEL] == "2"
    refs = {r.name: r for r in holder["foundation"].outputs.gpu_pools}
    assert refs["a100"].node_labels == a100["nodeLabels"]


def test_spot_pool_with_extra_labels_taints_and_scale_to_zero():
    from aienv.spec.model import GpuPool, Taint

    def edit(spec):
        spec.cluster.gpu_pools.append(GpuPool(name="h100-spot", gpu_type="nvidia-h100-80gb", gpus_per_node=8,
                                              min_nodes=0, max_nodes=2, spot=True, labels={"team": "research"},
                                              taints=[Taint(key="research", value="only")]))
    holder: dict = {}
    plan = plan_foundation(variant(edit), holder)
    pool = one(plan, "containerservice:AgentPool", "gpu-h100-spot").inputs
    assert pool["agentPoolName"] == "h100spot" and pool["vmSize"] == "Standard_ND96isr_H100_v5"
    assert pool["scaleSetPriority"] == "Spot" and pool["scaleSetEvictionPolicy"] == "Delete"
    assert (pool["minCount"], pool["count"], pool["maxCount"]) == (0, 0, 2)
    assert pool["nodeTaints"] == ["nvidia.com/gpu=present:NoSchedule", "research=only:NoSchedule",
                                  "kubernetes.azure.com/scalesetpriority=spot:NoSchedule"]
    assert pool["nodeLabels"]["team"] == "research"
    ref = [r for r in holder["foundation"].outputs.gpu_pools if r.name == "h100-spot"][0]
    assert ref.node_labels["kubernetes.azure.com/scalesetpriority"] == "spot"
    assert len(of(plan, "containerservice:AgentPool")) == 3  # the graph grows with the spec


def test_encrypted_storage_class_uses_the_disk_encryption_set(prod):
    plan, holder = prod
    sc = [r for r in plan.resources if r.type == "kubernetes:storage.k8s.io/v1:StorageClass"][0]
    assert sc.inputs["metadata"]["name"] == holder["foundation"].outputs.storage_class
    assert sc.inputs["parameters"]["diskEncryptionSetID"] == one(plan, "compute:DiskEncryptionSet").id
    assert sc.inputs["reclaimPolicy"] == "Retain"


def test_kubeconfig_uses_kubelogin_against_the_private_fqdn():
    from components.azure.cluster import kubeconfig

    config = json.loads(kubeconfig("aks-x", "aks-x.privatelink.westeurope.azmk8s.io", None))
    assert config["clusters"][0]["cluster"]["server"] == "https://aks-x.privatelink.westeurope.azmk8s.io:443"
    exec_ = config["users"][0]["user"]["exec"]
    assert exec_["command"] == "kubelogin" and "azurecli" in exec_["args"]
    assert "token" not in config["users"][0]["user"]


# --- identity ---------------------------------------------------------------------------------------------

def test_one_identity_per_workload_federated_to_its_service_account(prod):
    plan, holder = prod
    creds = {f.inputs["federatedIdentityCredentialResourceName"]: f.inputs
             for f in of(plan, "managedidentity:FederatedIdentityCredential")}
    assert set(creds) == {"serving-chat", "serving-codegen", "serving-embed", "import-chat", "import-codegen",
                          "drift-chat", "drift-codegen", "drift-embed", "feature-server",
                          "capture-chat", "capture-codegen", "capture-embed", "retrain-chat"}  # the MLOps loop
    assert creds["serving-chat"]["subject"] == "system:serviceaccount:aienv-serving:chat-serving"
    assert creds["serving-chat"]["audiences"] == ["api://AzureADTokenExchange"]
    assert creds["serving-chat"]["issuer"].startswith("https://westeurope.oic.prod-aks.azure.com/")
    binder = holder["foundation"].outputs.binder
    bound = binder.bind(Workload("serving-chat", "serving", c.SERVING_NAMESPACE, "chat-serving", "chat"))
    assert "azure.workload.identity/client-id" in bound.service_account_annotations
    assert bound.pod_labels == {"azure.workload.identity/use": "true"}
    with pytest.raises(KeyError):
        binder.bind(Workload("serving-chat", "serving", "default", "chat-serving", "chat"))
    with pytest.raises(KeyError):
        binder.bind(Workload("serving-other", "serving", c.SERVING_NAMESPACE, "other-serving", "other"))


def test_workload_roles_are_scoped_to_exact_containers(prod):
    plan, _ = prod
    containers = {b.inputs["containerName"]: b.id for b in of(plan, "storage:BlobContainer")}
    grants = [g for g in of(plan, "authorization:RoleAssignment") if "-identity-" in g.name]
    assert grants
    scopes = {g.name.split("-identity-", 1)[1]: g.inputs["scope"] for g in grants}
    assert scopes["serving-chat-model-artifacts"] == containers["model-artifacts"]
    assert scopes["drift-chat-training-data"] == containers["training-data"]
    assert scopes["import-chat-model-artifacts"] == containers["model-artifacts"]
    assert scopes["feature-server-feature-offline"] == containers["feature-offline"]
    owner_or_contributor = ("8e3af657-a8ff-443c-a75c-2fe8c4bcb635", "b24988ac-6180-42a0-ab88-20f7382dd24c")
    for g in of(plan, "authorization:RoleAssignment"):
        assert not g.inputs["roleDefinitionId"].endswith(owner_or_contributor)
        assert g.inputs["scope"].count("/") > 2  # never a subscription


# --- audit, alerts, budget --------------------------------------------------------------------------------

def test_diagnostic_settings_cover_aks_audit_vault_storage_acr_ml_and_redis(prod):
    plan, _ = prod
    settings = {d.name.rsplit("-audit-", 1)[1]: d.inputs for d in of(plan, "monitor:DiagnosticSetting")}
    assert set(settings) == {"aks-diag", "vault-diag", "registry-vault-diag", "acr-diag", "mlw-diag",
                             "storage-data-diag", "storage-lake-diag", "features-diag", "redis-diag"}
    aks_categories = {log.get("category") for log in settings["aks-diag"]["logs"]}
    assert "kube-audit" in aks_categories
    workspace = one(plan, "operationalinsights:Workspace").id
    assert all(s["workspaceId"] == workspace for s in settings.values())
    # Azure Managed Redis logs connections on its database, not the cluster
    assert settings["redis-diag"]["resourceUri"] == one(plan, "redisenterprise:Database").id
    assert settings["redis-diag"]["logs"] == [{"categoryGroup": "allLogs", "enabled": True}]


def test_alerts_route_by_severity_to_the_spec_routes(prod):
    plan, _ = prod
    groups = of(plan, "monitor:ActionGroup")
    assert {g.name.rsplit("-", 1)[1] for g in groups} == {"oncall", "team"}
    alerts = {a.name.split("-audit-", 1)[1]: a.inputs for a in of(plan, "monitor:MetricAlert")}
    assert set(alerts) == {"node-cpu", "node-memory", "unschedulable-pods", "redis-memory", "redis-server-load"}
    assert len(alerts["redis-memory"]["actions"]) == 2  # both routes take critical and warning
    cluster = one(plan, "redisenterprise:RedisEnterprise").id
    for name, metric in (("redis-memory", "usedmemorypercentage"), ("redis-server-load", "serverLoad")):
        assert alerts[name]["scopes"] == [cluster]
        (criterion,) = alerts[name]["criteria"]["allOf"]
        assert criterion["metricNamespace"] == "Microsoft.Cache/redisEnterprise"
        assert criterion["metricName"] == metric


def test_budget_on_the_resource_group_with_the_spec_thresholds(prod):
    plan, _ = prod
    budget = one(plan, "consumption:Budget").inputs
    assert budget["scope"] == one(plan, "resources:ResourceGroup").id
    assert budget["amount"] == 45000 and budget["timeGrain"] == "Monthly"
    assert sorted(n["threshold"] for n in budget["notifications"].values()) == [50, 80, 100]
    assert all(n["contactEmails"] == ["ml-platform@example.eu"] for n in budget["notifications"].values())


def test_contract(prod):
    _, holder = prod
    out = holder["foundation"].outputs
    assert out.cloud == "azure" and out.autoscaler == "cloud" and out.driver_mode == DRIVER_MODES["azure"]
    assert out.region == "westeurope" and out.offline_store is not None and out.offline_store.kind == "adls"


# --- insecure choices change the graph ------------------------------------------------------------------

def test_provider_managed_encryption_drops_keys_and_cmk(insecure):
    assert not of(insecure, "keyvault:Key") and not of(insecure, "compute:DiskEncryptionSet")
    for account in of(insecure, "storage:StorageAccount"):
        assert account.inputs["encryption"]["keySource"] == "Microsoft.Storage"
    assert "encryption" not in one(insecure, "containerregistry:Registry").inputs
    assert "diskEncryptionSetID" not in one(insecure, "containerservice:ManagedCluster").inputs


def test_public_read_gets_its_own_public_account(insecure):
    public = one(insecure, "storage:StorageAccount", "-public").inputs
    assert public["allowBlobPublicAccess"] is True and public["publicNetworkAccess"] == "Enabled"
    data = one(insecure, "storage:StorageAccount", "-data").inputs
    assert data["allowBlobPublicAccess"] is False
    containers = {b.inputs["containerName"]: b.inputs["publicAccess"] for b in of(insecure, "storage:BlobContainer")}
    assert containers["model-artifacts"] == "Blob" and containers["training-data"] == "None"


def test_public_api_uses_authorized_ranges(insecure):
    profile = one(insecure, "containerservice:ManagedCluster").inputs["apiServerAccessProfile"]
    assert profile["enablePrivateCluster"] is False and profile["authorizedIPRanges"] == ["203.0.113.0/24"]


def test_without_private_endpoints_services_use_firewalls(insecure):
    assert not of(insecure, "network:PrivateEndpoint") and not of(insecure, "privatedns:PrivateZone")
    vault = one(insecure, "keyvault:Vault").inputs["properties"]
    assert vault["publicNetworkAccess"] == "Enabled" and vault["networkAcls"]["defaultAction"] == "Deny"
    assert vault["networkAcls"]["virtualNetworkRules"]
    data = one(insecure, "storage:StorageAccount", "-data").inputs
    assert data["networkRuleSet"]["defaultAction"] == "Deny" and data["networkRuleSet"]["virtualNetworkRules"]
    acr = one(insecure, "containerregistry:Registry").inputs
    assert acr["publicNetworkAccess"] == "Enabled" and acr["networkRuleSet"]["defaultAction"] == "Deny"


def test_broad_permissions_widen_reads_to_the_resource_group_only(insecure):
    rg = one(insecure, "resources:ResourceGroup").id
    grants = {g.name.split("-identity-", 1)[1]: g.inputs["scope"]
              for g in of(insecure, "authorization:RoleAssignment") if "-identity-" in g.name}
    assert grants["serving-chat-model-artifacts"] == rg
    assert grants["import-chat-model-artifacts"] != rg  # writes stay on their container


def test_audit_logs_off_drops_diagnostic_settings(insecure):
    assert not of(insecure, "monitor:DiagnosticSetting")
    assert of(insecure, "monitor:MetricAlert")


def test_deletion_protection_and_lock_off(insecure):
    assert not of(insecure, "authorization:ManagementLockAtResourceGroupLevel")
    for type_ in ("keyvault:Vault", "containerregistry:Registry", "redisenterprise:RedisEnterprise",
                  "redisenterprise:Database", "storage:StorageAccount"):
        assert not any(r.protect or r.retain_on_delete for r in of(insecure, type_)), type_


# --- inputs that cannot be built --------------------------------------------------------------------------

def test_pool_names_that_collide_in_aks_are_rejected():
    from aienv.errors import ComponentInputError
    from aienv.spec.model import GpuPool
    from components.azure.cluster import Cluster

    spec = variant(lambda s: s.cluster.gpu_pools.extend([
        GpuPool(name="inference-a", gpu_type="nvidia-t4", max_nodes=1),
        GpuPool(name="inferencea", gpu_type="nvidia-t4", max_nodes=1)]))
    with pytest.raises(ComponentInputError) as err:
        Cluster._check_pool_names(spec)
    assert err.value.field == "cluster.gpu_pools[3].name" and "`inferencea`" in err.value.message


def test_more_than_five_budget_thresholds_are_rejected():
    from aienv.errors import ComponentInputError

    spec = variant(lambda s: setattr(s.budget, "alert_thresholds_percent", [10, 20, 30, 40, 50, 60]))
    with pytest.raises(ComponentInputError, match="at most 5") as err:
        plan_foundation(spec)
    assert err.value.field == "budget.alert_thresholds_percent"


def test_subnet_layout_fits_every_allowed_vnet_size():
    import ipaddress

    from components.azure.network import subnet_layout

    for cidr in ("10.42.0.0/16", "172.16.0.0/20"):
        parts = [ipaddress.ip_network(p) for p in subnet_layout(cidr).values()]
        net = ipaddress.ip_network(cidr)
        assert all(p.subnet_of(net) for p in parts)
        assert not any(a.overlaps(b) for i, a in enumerate(parts) for b in parts[i + 1:])


def test_vnet_flow_logs_go_to_storage_and_traffic_analytics(prod: tuple[Plan, dict]) -> None:
    reference_plan = prod[0]
    (flow,) = [r for r in reference_plan.resources if r.type == "azure-native:network:FlowLog"]
    vnet = next(r for r in reference_plan.resources if r.type == "azure-native:network:VirtualNetwork")
    assert flow.inputs["targetResourceId"] == vnet.outputs["id"]
    assert flow.inputs["networkWatcherName"] == "NetworkWatcher_westeurope"
    assert flow.inputs["resourceGroupName"] == "NetworkWatcherRG"
    assert flow.inputs["enabled"] is True and flow.inputs["retentionPolicy"] == {"enabled": True, "days": 365}
    analytics = flow.inputs["flowAnalyticsConfiguration"]["networkWatcherFlowAnalyticsConfiguration"]
    workspace = next(r for r in reference_plan.resources if r.type == "azure-native:operationalinsights:Workspace")
    assert analytics["enabled"] is True and analytics["workspaceResourceId"] == workspace.outputs["id"]
    # storage refuses shared keys: the flow log writes with an identity allowed blobs on that account only
    (writer,) = flow.inputs["identity"]["userAssignedIdentities"]
    grants = [r for r in reference_plan.resources if r.name.endswith("flow-logs-writer-blobs")]
    assert len(grants) == 1 and grants[0].inputs["scope"] == flow.inputs["storageId"]


def test_flow_logs_off_removes_them() -> None:
    spec = variant(lambda s: setattr(s.network, "flow_logs", False))
    plan = plan_foundation(spec)
    assert not [r for r in plan.resources if r.type == "azure-native:network:FlowLog"]
