"""Fixes of the Azure deploy-fidelity review: each test fails on the code the review read."""

from __future__ import annotations

import re

import pytest

from aienv.engine import Plan
from aienv.naming import azure_feature_store, azure_ml_registry, azure_ml_workspace, azure_name_problems
from tests.azure.conftest import plan_foundation, reference_spec, variant
from tests.plans import ancestors

T = "azure-native:"
SUB = "00000000-1111-2222-3333-444444444444"


def of(plan: Plan, type_: str) -> list:
    return [r for r in plan.resources if r.type == T + type_]


def one(plan: Plan, type_: str, suffix: str = ""):
    found = [r for r in of(plan, type_) if r.name.endswith(suffix)]
    assert len(found) == 1, [r.name for r in of(plan, type_)]
    return found[0]


def role(plan: Plan, role_id: str) -> list:
    return [g for g in of(plan, "authorization:RoleAssignment") if g.inputs["roleDefinitionId"].endswith(role_id)]


# --- A3: names azure-native would generate too long --------------------------------------------------------

# (input that carries the physical name, max length) from Microsoft's *Naming rules and restrictions for Azure
# resources*; azure-native auto-names a resource `<logical name>` + 8 random characters, without a cap
# (pulumi-azure-native provider.go, `resource.NewUniqueName(randomSeed, name, 8, 0, nil)`).
NAME_LIMITS: dict[str, tuple[str, int]] = {
    "machinelearningservices:Workspace": ("workspaceName", 33),
    "machinelearningservices:Registry": ("registryName", 33),
    "containerservice:ManagedCluster": ("resourceName", 63),
    "operationalinsights:Workspace": ("workspaceName", 63),
    "redis:Redis": ("name", 63),
    "redisenterprise:RedisEnterprise": ("clusterName", 60),
    "network:VirtualNetwork": ("virtualNetworkName", 64),
    "network:PrivateEndpoint": ("privateEndpointName", 64),
    "network:NetworkSecurityGroup": ("networkSecurityGroupName", 80),
    "network:NatGateway": ("natGatewayName", 80),
    "network:PublicIPAddress": ("publicIpAddressName", 80),
    "network:FlowLog": ("flowLogName", 80),
    "compute:DiskEncryptionSet": ("diskEncryptionSetName", 80),
    "managedidentity:UserAssignedIdentity": ("resourceName", 128),
    "monitor:DataCollectionRule": ("dataCollectionRuleName", 64),
    "containerregistry:CacheRule": ("cacheRuleName", 50),
    "containerregistry:CredentialSet": ("credentialSetName", 50),
}


def physical_name(resource, key: str) -> str:
    explicit = resource.inputs.get(key)
    return explicit if isinstance(explicit, str) else resource.name + "x" * 8


@pytest.fixture(scope="module")
def longest() -> Plan:
    """The reference spec under the longest environment name Azure specs allow (20 characters)."""
    return plan_foundation(variant(lambda s: setattr(s, "name", "abcdefghij-klmnopqrs")))


def test_every_physical_name_fits_azure_for_the_longest_environment_name(longest):
    checked = 0
    for resource in longest.resources:
        limit = NAME_LIMITS.get(resource.type[len(T):])
        if limit is None:
            continue
        name = physical_name(resource, limit[0])
        assert len(name) <= limit[1], (resource.type, name)
        checked += 1
    assert checked > 30


def test_ml_workspace_feature_store_and_registry_are_named_explicitly(prod):
    plan, _ = prod
    names = {w.inputs["kind"]: w.inputs["workspaceName"] for w in of(plan, "machinelearningservices:Workspace")}
    assert names == {"Default": azure_ml_workspace("prod-azure"), "FeatureStore": azure_feature_store("prod-azure")}
    registry = one(plan, "machinelearningservices:Registry").inputs["registryName"]
    assert registry == azure_ml_registry("prod-azure", SUB)
    pattern = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_-]{2,32}$")
    for env in ("prod-azure", "abcdefghij-klmnopqrs"):
        for name in (azure_ml_workspace(env), azure_feature_store(env), azure_ml_registry(env, SUB)):
            assert pattern.match(name), name


def test_the_spec_rules_check_the_ml_names():
    assert azure_name_problems("abcdefghij-klmnopqrs", SUB) == []
    problems = azure_name_problems("a" * 30, SUB)
    assert any("ML registry" in p for p in problems) and any("ML workspace" in p for p in problems)


# --- A4: agent pools one at a time -------------------------------------------------------------------------

def test_gpu_pools_are_created_one_after_another(prod):
    plan, _ = prod
    pools = of(plan, "containerservice:AgentPool")
    assert [p.inputs["agentPoolName"] for p in pools] == ["t4", "a100"]
    assert pools[0].urn in pools[1].dependencies
    assert pools[1].urn not in pools[0].dependencies


# --- A7: the deployer may create keys on the RBAC vault ------------------------------------------------------

def test_deployer_is_crypto_officer_on_the_vault_before_any_key(prod):
    plan, _ = prod
    grants = {g.inputs["scope"]: g for g in role(plan, "14b46e9e-c2b7-41b4-b07b-48a6ebf60603")}
    vaults = {v.name: v.id for v in of(plan, "keyvault:Vault")}
    assert set(grants) == set(vaults.values())  # each vault, nothing wider
    assert all(g.inputs["principalType"] in ("User", "ServicePrincipal") for g in grants.values())
    client = [args for token, args in plan.invokes if token == "azure-native:authorization:getClientConfig"]
    assert client
    for key in of(plan, "keyvault:Key"):
        (vault,) = [v for v in of(plan, "keyvault:Vault") if v.urn in key.dependencies]
        # Through the one propagation wait after the deployer's grants (tests/azure/test_propagation.py).
        assert grants[vault.id].urn in ancestors(plan, key.urn), key.name


def test_deployer_principal_type_follows_how_the_deployer_signed_in():
    from components.azure.keys import deployer_principal_type

    assert deployer_principal_type("04b07795-8ddb-461a-bbee-02f9e1bf7b46") == "User"  # az login
    assert deployer_principal_type("0f0e0d0c-1111-2222-3333-444455556666") == "ServicePrincipal"  # CI


# --- A9: the control plane reads the disk encryption set -------------------------------------------------

def test_control_plane_identity_reads_the_disk_encryption_set(prod):
    plan, _ = prod
    des = one(plan, "compute:DiskEncryptionSet")
    identity = one(plan, "managedidentity:UserAssignedIdentity", "cluster-identity")
    (reader,) = [g for g in role(plan, "acdd72a7-3385-48ef-bd42-f606fba81ae7") if g.inputs["scope"] == des.id]
    assert reader.inputs["principalId"] == identity.outputs["principalId"]
    cluster = one(plan, "containerservice:ManagedCluster")
    assert reader.urn in ancestors(plan, cluster.urn)


# --- B2: Container insights has a data collection rule -------------------------------------------------------

def test_container_insights_sends_through_a_data_collection_rule(prod):
    plan, _ = prod
    dcr = one(plan, "monitor:DataCollectionRule").inputs
    (extension,) = dcr["dataSources"]["extensions"]
    assert extension["extensionName"] == "ContainerInsights"
    assert extension["streams"] == ["Microsoft-ContainerInsights-Group-Default"]
    (workspace,) = dcr["destinations"]["logAnalytics"]
    assert workspace["workspaceResourceId"] == one(plan, "operationalinsights:Workspace").id
    assert dcr["dataFlows"] == [{"streams": ["Microsoft-ContainerInsights-Group-Default"],
                                 "destinations": [workspace["name"]]}]
    dcra = one(plan, "monitor:DataCollectionRuleAssociation").inputs
    assert dcra["resourceUri"] == one(plan, "containerservice:ManagedCluster").id
    assert dcra["dataCollectionRuleId"] == one(plan, "monitor:DataCollectionRule").id


# --- B6: the feature store's managed network reaches the offline store --------------------------------------

def test_feature_store_managed_network_reaches_the_offline_account(prod):
    plan, _ = prod
    fs = [w for w in of(plan, "machinelearningservices:Workspace") if w.inputs["kind"] == "FeatureStore"][0]
    rules = fs.inputs["managedNetwork"]["outboundRules"]
    lake = one(plan, "storage:StorageAccount", "-lake").id
    targets = {r["destination"]["subresourceTarget"] for r in rules.values()
               if r["type"] == "PrivateEndpoint" and r["destination"]["serviceResourceId"] == lake}
    assert targets == {"dfs", "blob"}
    assert all(r["destination"]["sparkEnabled"] for r in rules.values())


# --- C1: the ML registry's own storage and ACR are private ---------------------------------------------------

def test_ml_registry_storage_and_acr_get_private_endpoints(prod):
    plan, _ = prod
    registry = one(plan, "machinelearningservices:Registry")
    endpoints = {p.name.rsplit("registries-", 1)[1]: p for p in of(plan, "network:PrivateEndpoint")
                 if "registries-models" in p.name}
    assert set(endpoints) == {"models-pe", "models-storage-pe", "models-acr-pe"}
    groups = {k: p.inputs["privateLinkServiceConnections"][0]["groupIds"] for k, p in endpoints.items()}
    assert groups == {"models-pe": ["amlregistry"], "models-storage-pe": ["blob"], "models-acr-pe": ["registry"]}
    for key in ("models-storage-pe", "models-acr-pe"):
        assert registry.urn in endpoints[key].dependencies  # the target is the registry's system-created resource


def test_registry_system_created_ids_are_read_from_the_region_details():
    from components.azure.registries import _registry_acr_id, _registry_storage_id

    acr = "/subscriptions/s/resourceGroups/azureml-rg-x/providers/Microsoft.ContainerRegistry/registries/r"
    st = "/subscriptions/s/resourceGroups/azureml-rg-x/providers/Microsoft.Storage/storageAccounts/a"
    regions = [{"acrDetails": [{"systemCreatedAcrAccount": {"armResourceId": {"resourceId": acr}}}],
                "storageAccountDetails": [{"systemCreatedStorageAccount": {"armResourceId": {"resourceId": st}}}]}]
    assert (_registry_acr_id(regions), _registry_storage_id(regions)) == (acr, st)
    assert _registry_acr_id(None) is None and _registry_storage_id([{}]) is None


def test_reference_spec_is_the_one_under_test():
    assert reference_spec().name == "prod-azure"


# --- D2: the deployer may apply the Kubernetes layer under Azure RBAC ------------------------------------------

def test_deployer_is_aks_rbac_cluster_admin_before_the_kubernetes_layer(prod):
    plan, _ = prod
    cluster = one(plan, "containerservice:ManagedCluster")
    (admin,) = role(plan, "b1ff04bb-8a4e-4dc4-8eb5-8693973ce19b")
    assert admin.inputs["scope"] == cluster.id
    (k8s_provider,) = [r for r in plan.resources if r.type == "pulumi:providers:kubernetes"]
    assert admin.urn in k8s_provider.dependencies
