"""Bring-up on Azure: images from the stack's ACR caches, import identities, the Feast registry, refusals."""

from __future__ import annotations

import pytest

from aienv.engine import Plan
from aienv.images import cached_images
from aienv.spec.rules import check
from components.azure.identity import blob_path_condition
from components.azure.registry_cache import rule_name, target_repository
from tests.azure.conftest import reference_spec, variant

T = "azure-native:"
PLATFORM_KV = ("/subscriptions/00000000-1111-2222-3333-444444444444/resourceGroups/rg-platform-secrets/providers/"
               "Microsoft.KeyVault/vaults/acme-platform-kv/secrets/")
SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6"
BLOB_READER = "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"
BLOB_CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"


def of(plan: Plan, type_: str) -> list:
    return [r for r in plan.resources if r.type == T + type_]


def grants_of(plan: Plan, workload: str) -> dict[str, dict]:
    marker = f"-identity-{workload}-"
    return {g.name.split(marker, 1)[1]: g.inputs for g in of(plan, "authorization:RoleAssignment") if marker in g.name}


def containers(plan: Plan) -> dict[str, str]:
    return {b.inputs["containerName"]: b.id for b in of(plan, "storage:BlobContainer")}


# --- images come from the stack ---------------------------------------------------------------------------

def test_every_cached_image_has_a_cache_rule_of_its_upstream(prod):
    plan, _ = prod
    rules = {r.inputs["sourceRepository"]: r.inputs for r in of(plan, "containerregistry:CacheRule")}
    wanted = {f"{i.registry}/{i.repository}" for i in cached_images(reference_spec())}
    assert set(rules) == wanted and "docker.io/vllm/vllm-openai" in wanted and "nvcr.io/nvidia/tritonserver" in wanted
    (acr,) = of(plan, "containerregistry:Registry")
    (dockerhub,) = of(plan, "containerregistry:CredentialSet")
    for source, rule in rules.items():
        assert rule["targetRepository"] == source and rule["registryName"] == acr.outputs["name"]
        if source.startswith("docker.io/"):
            assert rule["credentialSetResourceId"] == dockerhub.id
        else:
            assert "credentialSetResourceId" not in rule  # NGC's public images need none


def test_docker_hub_credentials_come_from_the_named_secret_only(prod):
    plan, _ = prod
    (creds,) = of(plan, "containerregistry:CredentialSet")
    assert creds.inputs["loginServer"] == "docker.io" and creds.inputs["identity"]["type"] == "SystemAssigned"
    (auth,) = creds.inputs["authCredentials"]
    assert auth["passwordSecretIdentifier"] == "https://acme-platform-kv.vault.azure.net/secrets/dockerhub-token"
    assert auth["usernameSecretIdentifier"] == "https://acme-platform-kv.vault.azure.net/secrets/dockerhub-user"
    assert of(plan, "keyvault:Secret") == []  # the stack writes no credential, so none is in its state
    readers = [g for g in of(plan, "authorization:RoleAssignment")
               if g.inputs["roleDefinitionId"].endswith(SECRETS_USER) and "registry-cache" in g.name]
    assert sorted(g.inputs["scope"] for g in readers) == sorted([PLATFORM_KV + "dockerhub-token",
                                                                 PLATFORM_KV + "dockerhub-user"])
    # granted to the credential set's own identity
    assert all(creds.urn in g.dependencies for g in readers)


def test_images_are_referenced_through_the_cache_and_keep_the_digest():
    from aienv.images import UpstreamImage

    image = UpstreamImage("docker.io", "vllm/vllm-openai", "@sha256:" + "a" * 64)
    assert target_repository(image) == "docker.io/vllm/vllm-openai"
    assert rule_name("cache", target_repository(image)) == "cache-docker-io-vllm-vllm-openai"
    long = rule_name("cache", "registry.k8s.io/" + "x" * 80)
    assert len(long) <= 50 and long != rule_name("cache", "registry.k8s.io/" + "y" * 80)


def test_foundation_hands_its_image_source_to_the_kubernetes_layer(prod):
    from components.azure.registry_cache import AcrImageSource

    _, holder = prod
    assert isinstance(holder["foundation"].outputs.images, AcrImageSource)


# --- weights come from the stack: import identities ----------------------------------------------------------

def test_import_identity_writes_only_its_models_folder_and_reads_only_its_token(prod):
    plan, _ = prod
    chat = grants_of(plan, "import-chat")
    assert set(chat) == {"model-artifacts", "token-secret"}
    write = chat["model-artifacts"]
    assert write["roleDefinitionId"].endswith(BLOB_CONTRIBUTOR)
    assert write["scope"] == containers(plan)["model-artifacts"]
    assert write["condition"] == blob_path_condition("models/chat/", write=True) and write["conditionVersion"] == "2.0"
    assert chat["token-secret"]["roleDefinitionId"].endswith(SECRETS_USER)
    assert chat["token-secret"]["scope"] == PLATFORM_KV + "huggingface-token"
    assert set(grants_of(plan, "import-codegen")) == {"model-artifacts"}  # a public model: no secret
    assert not grants_of(plan, "import-embed")  # `uploaded`: no import job, no identity


def test_serving_and_drift_read_only_their_own_folders(prod):
    plan, _ = prod
    serving = grants_of(plan, "serving-chat")
    assert set(serving) == {"model-artifacts"}
    assert serving["model-artifacts"]["roleDefinitionId"].endswith(BLOB_READER)
    assert serving["model-artifacts"]["condition"] == blob_path_condition("models/chat/", write=False)
    drift = grants_of(plan, "drift-chat")
    assert set(drift) == {"training-data"}  # the drift job writes nothing to blob storage
    assert drift["training-data"]["condition"] == blob_path_condition("drift/chat/", write=False)


def test_path_condition_gates_reads_writes_and_listing():
    condition = blob_path_condition("models/chat/", write=True)
    assert "@Resource[Microsoft.Storage/storageAccounts/blobServices/containers/blobs:path] StringStartsWith " \
           "'models/chat/'" in condition
    assert "@Request[Microsoft.Storage/storageAccounts/blobServices/containers/blobs:prefix] StringStartsWith " \
           "'models/chat/'" in condition
    assert "blobs/write" in condition and "blobs/delete" in condition
    assert "blobs/write" not in blob_path_condition("models/chat/", write=False)


def test_import_reads_a_source_in_the_environments_own_container():
    from aienv.naming import azure_storage_account
    from tests.azure.conftest import plan_foundation

    account = azure_storage_account("prod-azure", "00000000-1111-2222-3333-444444444444")

    def edit(spec):
        source = spec.model_endpoints[1].model.source
        source.huggingface = None
        source.uri = f"https://{account}.blob.core.windows.net/training-data/exports/qwen/"
    plan = plan_foundation(variant(edit))
    source = grants_of(plan, "import-codegen")["source"]
    assert source["scope"] == containers(plan)["training-data"]
    assert source["roleDefinitionId"].endswith(BLOB_READER)
    assert source["condition"] == blob_path_condition("exports/qwen/", write=False)


# --- the Feast registry --------------------------------------------------------------------------------------

def test_feature_server_reads_and_writes_only_the_feast_folder(prod):
    plan, holder = prod
    grants = grants_of(plan, "feature-server")
    assert set(grants) == {"feature-offline"}  # no reader on the offline data, no Redis policy it never used
    assert grants["feature-offline"]["roleDefinitionId"].endswith(BLOB_CONTRIBUTOR)
    assert grants["feature-offline"]["condition"] == blob_path_condition("feast/", write=True)
    assert not of(plan, "redis:AccessPolicyAssignment")
    out = holder["foundation"].outputs
    assert out.feature_registry_uri is not None


def test_registry_uri_is_an_azure_registry_store_url():
    from aienv.spec.model import BucketPurpose
    from components.azure.storage import container_name

    # The URL shape Feast's AzBlobRegistryStore parses: scheme://netloc is the account URL, then the container.
    assert container_name(BucketPurpose.feature_offline) == "feature-offline"


# --- refusals ------------------------------------------------------------------------------------------------

def messages(spec) -> list[str]:
    return [".".join(str(p) for p in path) + ": " + msg for path, msg in check(spec)]


def test_reference_spec_passes_the_azure_rules():
    assert messages(reference_spec()) == []


def test_docker_hub_without_credentials_is_refused():
    spec = variant(lambda s: s.registries.upstreams.clear())
    assert any(m.startswith("registries.upstreams: needs credentials for `docker.io`") for m in messages(spec))


def test_an_upstream_acr_cannot_cache_is_refused():
    from aienv import images

    spec = variant(lambda s: None)
    original = dict(images.UPSTREAMS)
    images.UPSTREAMS["tritonserver"] = ("registry.example.com", "nvidia/tritonserver")
    try:
        found = messages(spec)
    finally:
        images.UPSTREAMS.clear()
        images.UPSTREAMS.update(original)
    assert any("`registry.example.com` cannot be cached" in m and "image_supply: ci" in m for m in found)


@pytest.mark.parametrize("secret", ["https://acme-platform-kv.vault.azure.net/secrets/dockerhub-token", "dockerhub"])
def test_registry_secret_the_stack_cannot_scope_is_refused(secret):
    spec = variant(lambda s: setattr(s.registries.upstreams["docker.io"], "secret", secret))
    assert any(m.startswith("registries.upstreams.docker.io.secret: must be a Key Vault secret") for m in messages(spec))


def test_upstream_credentials_name_both_secrets_on_azure():
    missing = variant(lambda s: setattr(s.registries.upstreams["docker.io"], "username_secret", None))
    assert "registries.upstreams.docker.io.username_secret: is required on Azure: an ACR credential set reads the " \
           "user name and the password from Key Vault secrets" in messages(missing)
    plain = variant(lambda s: setattr(s.registries.upstreams["docker.io"], "username", "acmeml"))
    assert any(m.startswith("registries.upstreams.docker.io.username: is not used on Azure") for m in messages(plain))


def test_token_secret_outside_the_environment_by_url_is_refused_but_in_its_vault_is_accepted():
    from aienv.naming import azure_key_vault

    def with_secret(value):
        return variant(lambda s: setattr(s.model_endpoints[0].model.source, "token_secret", value))
    bad = messages(with_secret("https://acme-platform-kv.vault.azure.net/secrets/huggingface-token"))
    assert any(m.startswith("model_endpoints.0.model.source.token_secret: must be a Key Vault secret") for m in bad)
    vault = azure_key_vault("prod-azure", "00000000-1111-2222-3333-444444444444")
    assert messages(with_secret(f"https://{vault}.vault.azure.net/secrets/hf")) == []


def test_foreign_or_cross_cloud_model_uris_are_refused():
    def with_uri(uri):
        def edit(s):
            source = s.model_endpoints[1].model.source
            source.huggingface, source.uri = None, uri
        return messages(variant(edit))
    assert any("outside this environment" in m for m in with_uri("https://other.blob.core.windows.net/models/qwen/"))
    assert any("must be an Azure blob URL on Azure" in m for m in with_uri("s3://bucket/qwen/"))


def test_slack_routes_are_refused_on_azure():
    def edit(s):
        s.monitoring.alert_routes[0].kind = "slack"
        s.monitoring.alert_routes[0].target = "https://hooks.slack.com/services/x"
    assert any(m.startswith("monitoring.alert_routes.0.kind: `slack` cannot be an Azure action group target")
               for m in messages(variant(edit)))


# --- the deployer path ----------------------------------------------------------------------------------------

def test_private_network_path_integrates_the_api_server_into_an_nsg_guarded_subnet(prod):
    plan, holder = prod
    profile = [r for r in of(plan, "containerservice:ManagedCluster")][0].inputs["apiServerAccessProfile"]
    subnets = {s.inputs["subnetName"]: s for s in of(plan, "network:Subnet")}
    api = subnets["apiserver"]
    assert profile["enablePrivateCluster"] is True and profile["enableVnetIntegration"] is True
    assert profile["subnetId"] == api.id and profile["enablePrivateClusterPublicFQDN"] is True
    assert api.inputs["delegations"][0]["serviceName"] == "Microsoft.ContainerService/managedClusters"
    assert api.inputs["addressPrefix"].endswith("/28")
    nsg = next(n for n in of(plan, "network:NetworkSecurityGroup") if n.id == api.inputs["networkSecurityGroup"]["id"])
    rules = {r["name"]: r for r in nsg.inputs["securityRules"]}
    assert rules["allow-deployer-to-api"]["sourceAddressPrefix"] == "10.200.8.0/24"
    assert rules["allow-nodes-to-api"]["sourceAddressPrefix"] == subnets["nodes"].inputs["addressPrefix"]
    deny = rules["deny-other-networks-to-api"]
    assert deny["access"] == "Deny" and deny["sourceAddressPrefix"] == "VirtualNetwork"
    assert deny["priority"] > rules["allow-deployer-to-api"]["priority"]
    identity = [i for i in of(plan, "managedidentity:UserAssignedIdentity") if i.name.endswith("cluster-identity")][0]
    grants = [g for g in of(plan, "authorization:RoleAssignment") if g.inputs["scope"] == api.id]
    assert len(grants) == 1 and grants[0].inputs["principalId"] == identity.outputs["principalId"]


def test_kubeconfig_names_the_endpoint_the_deployer_resolves():
    import json

    from components.azure.cluster import kubeconfig
    from tests.azure.conftest import plan_foundation

    holder: dict = {}
    plan_foundation(reference_spec(), holder)
    cluster = holder["foundation"].cluster
    # public FQDN (a public record of the private address) with the deployer path, private FQDN without it
    assert cluster._server_uses_public_name is True
    holder2: dict = {}
    plan_foundation(variant(lambda s: setattr(s.cluster.deployer, "path", None)), holder2)
    assert holder2["foundation"].cluster._server_uses_public_name is False
    config = json.loads(kubeconfig("aks-x", "aks-x-abc.hcp.westeurope.azmk8s.io", None))
    assert config["clusters"][0]["cluster"]["server"] == "https://aks-x-abc.hcp.westeurope.azmk8s.io:443"


def test_without_a_deployer_path_the_cluster_stays_private_only():
    from tests.azure.conftest import plan_foundation

    plan = plan_foundation(variant(lambda s: setattr(s.cluster.deployer, "path", None)))
    profile = of(plan, "containerservice:ManagedCluster")[0].inputs["apiServerAccessProfile"]
    assert profile["enablePrivateClusterPublicFQDN"] is False and "enableVnetIntegration" not in profile
    assert "apiserver" not in {s.inputs["subnetName"] for s in of(plan, "network:Subnet")}


def test_foundation_only_first_phase_builds_no_kubernetes_object():
    from aienv.engine import plan_program
    from components.environment import build_environment

    spec = reference_spec()
    plan = plan_program(lambda: build_environment(spec, kubernetes=False), project="aienv", stack=spec.name)
    kinds = {r.type for r in plan.resources if r.custom}
    assert "azure-native:containerservice:ManagedCluster" in kinds
    assert "azure-native:containerregistry:CacheRule" in kinds
    assert not {t for t in kinds if t.startswith("kubernetes:")}  # not even the foundation's StorageClass


def test_workloads_wait_for_their_role_assignments(prod):
    # Entra refuses a workload's first token exchange for a role not yet assigned: each workload's service
    # account waits for its own role assignments (BoundIdentity.ready), and only those (a wait on every grant made
    # each workload depend on all others), which the deployability pack's ordering rule checks on the plan.
    from aienv.workloads import workloads

    spec = reference_spec()
    _, holder = prod
    foundation = holder["foundation"]
    assignments = foundation.identity.assignments
    assert not set(foundation.outputs.cluster_ready) & {g for gs in assignments.values() for g in gs}
    bound = [wl for wl in workloads(spec) if assignments.get(wl.key)]
    assert len(bound) >= 8
    for wl in bound:
        assert list(foundation.outputs.binder.bind(wl).ready) == list(assignments[wl.key]), wl.key
