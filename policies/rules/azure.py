"""Azure rules (azure-native v3 type tokens and wire names)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pulumi_policy import PolicyResource, ResourceValidationArgs, StackValidationArgs
from pulumi_policy.proxy import UnknownValueError

from policies import meta as m
from policies.meta import RuleMeta
from policies.rules._base import (
    get,
    guarded,
    is_referenced,
    items,
    number,
    property_dependencies,
    ref,
    references,
    resource_rule,
    stack_rule,
    subject,
)
from policies.rules.tokens import with_previous

STORAGE = "azure-native:storage:StorageAccount"
VAULT = "azure-native:keyvault:Vault"
VAULT_KEY = "azure-native:keyvault:Key"
KEYS = frozenset({VAULT_KEY})  # what a customer-managed key reference may point at
IDENTITIES = frozenset({"azure-native:managedidentity:UserAssignedIdentity"})
ACR = "azure-native:containerregistry:Registry"
AKS = "azure-native:containerservice:ManagedCluster"
AKS_POOL = "azure-native:containerservice:AgentPool"
ML_WORKSPACE = "azure-native:machinelearningservices:Workspace"
ML_COMPUTE = "azure-native:machinelearningservices:Compute"
REDIS = "azure-native:redis:Redis"  # Azure Cache for Redis: creation blocked for new customers since 2026-04-01
REDIS_ENTERPRISE = "azure-native:redisenterprise:RedisEnterprise"  # Azure Managed Redis: the cluster
REDIS_ENTERPRISE_DB = "azure-native:redisenterprise:Database"  # ... and its database (port, protocol, keys)
DIAGNOSTIC_TYPES = frozenset({"azure-native:monitor:DiagnosticSetting", "azure-native:insights:DiagnosticSetting"})
ROLE_ASSIGNMENT = "azure-native:authorization:RoleAssignment"
# Built-in roles that read or change data (blobs, keys, secrets, images, ML assets), by role definition id.
# Assigned on a resource group or subscription they reach every account, vault or registry in it:
# `security.workload_permissions: broad`.
DATA_ROLES: dict[str, str] = {
    "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1": "Storage Blob Data Reader",
    "ba92f5b4-2d11-453d-a403-e96b0029c9fe": "Storage Blob Data Contributor",
    "b7e6dc6d-f1e8-4753-8033-0f276bb0955b": "Storage Blob Data Owner",
    "4633458b-17de-408a-b874-0445c86b69e6": "Key Vault Secrets User",
    "12338af0-0e69-4776-bea7-57ae8d297424": "Key Vault Crypto User",
    "e147488a-f6f5-4113-8e2d-b22465e65bf6": "Key Vault Crypto Service Encryption User",
    "7f951dda-4ed3-4680-a7ca-43fe172d538d": "AcrPull",
    "f6c7c914-8db3-469d-8ca1-694a8f32e121": "AzureML Data Scientist",
}

TLS_ORDER = {"TLS1_0": 0, "TLS1_1": 1, "TLS1_2": 2, "TLS1_3": 3, "1.0": 0, "1.1": 1, "1.2": 2, "1.3": 3}


def _s(args: ResourceValidationArgs) -> str:
    return subject(args.resource_type, args.name)


# --- Azure ML ---------------------------------------------------------------------------------------------
@resource_rule(RuleMeta(
    name="azure-ml-workspace-private",
    description="Disable public network access to Azure ML workspaces.",
    severity="high", area="azure", controls=m.NETWORK_EXPOSURE, checks=("CKV_AZURE_144",),
    remediation="Set publicNetworkAccess to `Disabled` and reach the workspace through private endpoints.",
), [ML_WORKSPACE])
def ml_private(args: ResourceValidationArgs) -> Iterator[str]:
    if get(args.props, "publicNetworkAccess") != "Disabled":
        yield f"{_s(args)} must disable public network access."


@resource_rule(RuleMeta(
    name="azure-ml-workspace-cmk",
    description="Encrypt Azure ML workspaces with a customer-managed key.",
    severity="high", area="azure", controls=m.ENCRYPTION_AT_REST, checks=("AZP ML workspaces CMK",),
    remediation="Set encryption.status `Enabled` with keyVaultProperties.keyIdentifier and keyVaultArmId.",
), [ML_WORKSPACE])
def ml_cmk(args: ResourceValidationArgs) -> Iterator[str]:
    if (get(args.props, "encryption.status") != "Enabled"
            or not ref(args, "encryption.keyVaultProperties.keyIdentifier", KEYS)):
        yield f"{_s(args)} must encrypt with a customer-managed key (`encryption.keyVaultProperties`)."


@resource_rule(RuleMeta(
    name="azure-ml-compute-no-local-auth",
    description="Disable local authentication on Azure ML compute.",
    severity="high", area="azure", controls=m.AUTHENTICATION, checks=("CKV_AZURE_142",),
    remediation="Set properties.disableLocalAuth to true (use Entra ID identities).",
), [ML_COMPUTE])
def ml_compute_local_auth(args: ResourceValidationArgs) -> Iterator[str]:
    if get(args.props, "properties.disableLocalAuth") is not True:
        yield f"{_s(args)} must disable local authentication."


@resource_rule(RuleMeta(
    name="azure-ml-compute-scale-down",
    description="Let Azure ML compute scale to zero or shut down when idle.",
    severity="medium", area="azure", enforcement="advisory", controls=m.CAPACITY, checks=("CKV_AZURE_150",),
    remediation="AmlCompute: set properties.properties.scaleSettings.minNodeCount 0; ComputeInstance: set "
                "properties.properties.idleTimeBeforeShutdown (e.g. PT30M).",
), [ML_COMPUTE])
def ml_compute_idle(args: ResourceValidationArgs) -> Iterator[str]:
    ctype = get(args.props, "properties.computeType")
    if ctype == "AmlCompute":
        if (number(args.props, "properties.properties.scaleSettings.minNodeCount", 0) or 0) > 0:
            yield f"{_s(args)} must scale to zero nodes when idle (`scaleSettings.minNodeCount: 0`)."
    elif ctype == "ComputeInstance" and not get(args.props, "properties.properties.idleTimeBeforeShutdown"):
        yield f"{_s(args)} must shut down when idle (`idleTimeBeforeShutdown`)."


# --- AKS ---------------------------------------------------------------------------------------------------
@resource_rule(RuleMeta(
    name="azure-aks-api-restricted",
    description="Make AKS clusters private or restrict their API server to authorized IP ranges.",
    severity="high", area="azure", controls=m.NETWORK_EXPOSURE, checks=("CKV_AZURE_115", "CKV_AZURE_6"),
    remediation="Set apiServerAccessProfile.enablePrivateCluster true, or authorizedIPRanges without 0.0.0.0/0.",
), [AKS])
def aks_api(args: ResourceValidationArgs) -> Iterator[str]:
    if get(args.props, "apiServerAccessProfile.enablePrivateCluster") is True:
        return
    ranges = items(args.props, "apiServerAccessProfile.authorizedIPRanges")
    if not ranges or "0.0.0.0/0" in ranges:
        yield f"{_s(args)} must be private or restrict its API server to authorized IP ranges."


@resource_rule(RuleMeta(
    name="azure-aks-rbac",
    description="Enable Kubernetes RBAC with Entra ID and disable local accounts on AKS.",
    severity="high", area="azure", controls=m.merge(m.ACCESS_CONTROL, m.AUTHENTICATION),
    checks=("CKV_AZURE_5", "CKV_AZURE_141"),
    remediation="Set enableRBAC true, disableLocalAccounts true and aadProfile.managed true.",
), [AKS])
def aks_rbac(args: ResourceValidationArgs) -> Iterator[str]:
    if get(args.props, "enableRBAC") is False:
        yield f"{_s(args)} must enable Kubernetes RBAC."
    if get(args.props, "disableLocalAccounts") is not True:
        yield f"{_s(args)} must disable local accounts."


@resource_rule(RuleMeta(
    name="azure-aks-network-policy",
    description="Enforce Kubernetes network policies on AKS.",
    severity="medium", area="azure", controls=m.NETWORK_EXPOSURE, checks=("CKV_AZURE_7",),
    remediation="Set networkProfile.networkPolicy to `azure`, `calico` or `cilium`.",
), [AKS])
def aks_netpol(args: ResourceValidationArgs) -> Iterator[str]:
    if get(args.props, "networkProfile.networkPolicy") in (None, "", "none"):
        yield f"{_s(args)} must enforce network policies (`networkProfile.networkPolicy`)."


@resource_rule(RuleMeta(
    name="azure-aks-disk-encryption",
    description="Encrypt AKS node disks with a disk encryption set or encryption at host.",
    severity="medium", area="azure", controls=m.ENCRYPTION_AT_REST, checks=("CKV_AZURE_117", "CKV_AZURE_227"),
    remediation="Set diskEncryptionSetID on the cluster, or enableEncryptionAtHost on every agent pool.",
), [AKS, AKS_POOL])
def aks_disks(args: ResourceValidationArgs) -> Iterator[str]:
    if args.resource_type == AKS:
        if ref(args, "diskEncryptionSetID", {"azure-native:compute:DiskEncryptionSet"}):
            return
        for pool in items(args.props, "agentPoolProfiles"):
            if get(pool, "enableEncryptionAtHost") is not True:
                yield f"{_s(args)} must encrypt node disks: pool `{get(pool, 'name')}` needs encryption at host."
    elif get(args.props, "enableEncryptionAtHost") is not True:
        yield f"{_s(args)} must enable encryption at host."


# --- ACR -------------------------------------------------------------------------------------------------
@resource_rule(RuleMeta(
    name="azure-acr-locked-down",
    description="Disable the admin user, anonymous pull and public network access on container registries.",
    severity="high", area="azure", controls=m.merge(m.ACCESS_CONTROL, m.NETWORK_EXPOSURE, m.SUPPLY_CHAIN),
    checks=("CKV_AZURE_137", "CKV_AZURE_138", "CKV_AZURE_139"),
    remediation="Set adminUserEnabled false, anonymousPullEnabled false, publicNetworkAccess `Disabled`.",
), [ACR])
def acr(args: ResourceValidationArgs) -> Iterator[str]:
    if get(args.props, "adminUserEnabled") is True:
        yield f"{_s(args)} must disable the admin user."
    if get(args.props, "anonymousPullEnabled") is True:
        yield f"{_s(args)} must disable anonymous pull."
    if get(args.props, "publicNetworkAccess") != "Disabled":
        yield f"{_s(args)} must disable public network access."


# --- Key Vault ----------------------------------------------------------------------------------------------
@resource_rule(RuleMeta(
    name="azure-keyvault-recoverable",
    description="Enable purge protection and soft delete on key vaults.",
    severity="high", area="azure", controls=m.merge(m.KEY_MANAGEMENT, m.AVAILABILITY),
    checks=("CKV_AZURE_110", "CKV_AZURE_42"),
    remediation="Set properties.enablePurgeProtection true and keep properties.enableSoftDelete true "
                "(softDeleteRetentionInDays ≥ 7).",
), [VAULT])
def kv_recoverable(args: ResourceValidationArgs) -> Iterator[str]:
    if get(args.props, "properties.enablePurgeProtection") is not True:
        yield f"{_s(args)} must enable purge protection."
    if get(args.props, "properties.enableSoftDelete") is False:
        yield f"{_s(args)} must keep soft delete enabled."


@resource_rule(RuleMeta(
    name="azure-keyvault-private",
    description="Block public network access to key vaults.",
    severity="high", area="azure", controls=m.NETWORK_EXPOSURE, checks=("CKV_AZURE_189", "CKV_AZURE_109"),
    remediation="Set properties.publicNetworkAccess `Disabled`, or networkAcls.defaultAction `Deny`.",
), [VAULT])
def kv_private(args: ResourceValidationArgs) -> Iterator[str]:
    if get(args.props, "properties.publicNetworkAccess") == "Disabled":
        return
    if get(args.props, "properties.networkAcls.defaultAction") != "Deny":
        yield f"{_s(args)} must deny public network access."


@resource_rule(RuleMeta(
    name="azure-keyvault-key-expiry",
    description="Give Key Vault keys an expiry or a rotation policy.",
    severity="medium", area="azure", controls=m.KEY_MANAGEMENT, checks=("CKV_AZURE_40",),
    remediation="Set properties.attributes.expires, or properties.rotationPolicy with attributes.expiryTime.",
), [VAULT_KEY])
def kv_key_expiry(args: ResourceValidationArgs) -> Iterator[str]:
    if get(args.props, "properties.attributes.expires") or get(args.props, "properties.rotationPolicy.attributes.expiryTime"):
        return
    yield f"{_s(args)} must expire or rotate (`attributes.expires`, or `rotationPolicy.attributes.expiryTime`)."


# --- Storage ----------------------------------------------------------------------------------------------
@resource_rule(RuleMeta(
    name="azure-storage-secure",
    description="Disallow public blob access, require HTTPS and TLS 1.2+ on storage accounts.",
    severity="high", area="azure", controls=m.merge(m.NETWORK_EXPOSURE, m.ENCRYPTION_IN_TRANSIT),
    checks=("CKV_AZURE_59", "CKV_AZURE_190", "CKV_AZURE_3", "CKV_AZURE_44"),
    remediation="Set allowBlobPublicAccess false, enableHttpsTrafficOnly true and minimumTlsVersion `TLS1_2`.",
), [STORAGE])
def storage_secure(args: ResourceValidationArgs) -> Iterator[str]:
    if get(args.props, "allowBlobPublicAccess") is not False:
        yield f"{_s(args)} must disallow public blob access (`allowBlobPublicAccess: false`)."
    if get(args.props, "enableHttpsTrafficOnly") is False:
        yield f"{_s(args)} must accept HTTPS traffic only."
    if TLS_ORDER.get(str(get(args.props, "minimumTlsVersion")), -1) < 2:
        yield f"{_s(args)} must require TLS 1.2 or newer (`minimumTlsVersion: TLS1_2`)."


@resource_rule(RuleMeta(
    name="azure-storage-cmk",
    description="Encrypt storage accounts with a customer-managed Key Vault key.",
    severity="medium", area="azure", controls=m.ENCRYPTION_AT_REST, checks=("CKV2_AZURE_1",),
    remediation="Set encryption.keySource `Microsoft.Keyvault` with encryption.keyVaultProperties (keyName, keyVaultUri).",
), [STORAGE])
def storage_cmk(args: ResourceValidationArgs) -> Iterator[str]:
    if get(args.props, "encryption.keySource") != "Microsoft.Keyvault" or not get(args.props, "encryption.keyVaultProperties.keyName"):
        yield f"{_s(args)} must encrypt with a customer-managed key (`encryption.keySource: Microsoft.Keyvault`)."


# --- Redis ----------------------------------------------------------------------------------------------------
@resource_rule(RuleMeta(
    name="azure-redis-secure",
    description="Require TLS 1.2 and block public access on Azure Redis: no non-TLS port on Azure Cache for Redis, "
                "TLS-only databases on Azure Managed Redis.",
    severity="high", area="azure", controls=m.merge(m.ENCRYPTION_IN_TRANSIT, m.NETWORK_EXPOSURE),
    checks=("CKV_AZURE_91", "CKV_AZURE_148", "CKV_AZURE_89"),
    remediation="Azure Cache for Redis: set enableNonSslPort false, minimumTlsVersion `1.2` and publicNetworkAccess "
                "`Disabled`. Azure Managed Redis: minimumTlsVersion `1.2` and publicNetworkAccess `Disabled` on the "
                "cluster, clientProtocol `Encrypted` on the database (\"Specifies whether redis clients can connect "
                "using TLS-encrypted or plaintext redis protocols. Default is TLS-encrypted.\", azure-native "
                "redisenterprise.Database).",
), with_previous([REDIS, REDIS_ENTERPRISE, REDIS_ENTERPRISE_DB]))
def redis_secure(args: ResourceValidationArgs) -> Iterator[str]:
    if args.resource_type == REDIS_ENTERPRISE_DB:
        if get(args.props, "clientProtocol") == "Plaintext":
            yield f"{_s(args)} must accept TLS connections only (`clientProtocol: Encrypted`)."
        return
    if args.resource_type != REDIS_ENTERPRISE and get(args.props, "enableNonSslPort") is True:
        yield f"{_s(args)} must disable the non-TLS port."
    if TLS_ORDER.get(str(get(args.props, "minimumTlsVersion")), -1) < 2:
        yield f"{_s(args)} must require TLS 1.2 or newer."
    if get(args.props, "publicNetworkAccess") != "Disabled":
        yield f"{_s(args)} must disable public network access."


@resource_rule(RuleMeta(
    name="azure-redis-cmk",
    description="Encrypt Azure Managed Redis disks (persistence, export, OS) with a customer-managed key.",
    severity="medium", area="azure", controls=m.ENCRYPTION_AT_REST,
    remediation="Set encryption.customerManagedKeyEncryption with keyEncryptionKeyUrl (a versioned Key Vault key "
                "URL) and keyEncryptionKeyIdentity (identityType `userAssignedIdentity`, "
                "userAssignedIdentityResourceId): \"Only user assigned managed identity is supported to connect to "
                "Azure Key Vault\" (Microsoft, *Configure disk encryption for Azure Managed Redis instances using "
                "customer managed keys*).",
), with_previous([REDIS_ENTERPRISE]))
def redis_cmk(args: ResourceValidationArgs) -> Iterator[str]:
    cmk = "encryption.customerManagedKeyEncryption"
    if (not ref(args, f"{cmk}.keyEncryptionKeyUrl", KEYS)
            or not ref(args, f"{cmk}.keyEncryptionKeyIdentity.userAssignedIdentityResourceId", IDENTITIES)):
        yield (f"{_s(args)} must encrypt with a customer-managed key (`{cmk}.keyEncryptionKeyUrl` and a "
               "user-assigned `keyEncryptionKeyIdentity`).")


# Hardening rather than a control failure: a key delivered only to its workload, over TLS through a private
# endpoint, still authenticates the client. Not mapped to GDPR or HIPAA, whose packs make every mapped policy
# mandatory; Feast's Redis store, for one, takes only a static password (docs/azure.md).
ENTRA_ONLY = m.controls(soc2="CC6.1", iso27001="A.8.5")


@resource_rule(RuleMeta(
    name="azure-redis-entra-only",
    description="Disable access-key authentication on Azure Redis so clients authenticate with Microsoft Entra ID.",
    severity="medium", area="azure", enforcement="advisory", controls=ENTRA_ONLY,
    remediation="Azure Cache for Redis: set disableAccessKeyAuthentication true (\"Authentication to Redis through "
                "access keys is disabled when set as true. Default value is false.\", azure-native redis.Redis); Azure "
                "Managed Redis: accessKeysAuthentication `Disabled`. The client must then send Entra tokens and "
                "\"periodically refresh the Microsoft Entra token before expiry\" (Microsoft, *Use Microsoft Entra for "
                "cache authentication*).",
), with_previous([REDIS, REDIS_ENTERPRISE_DB]))
def redis_entra_only(args: ResourceValidationArgs) -> Iterator[str]:
    if args.resource_type == REDIS_ENTERPRISE_DB:
        if get(args.props, "accessKeysAuthentication") == "Enabled":
            yield f"{_s(args)} must disable access-key authentication (`accessKeysAuthentication: Disabled`)."
    elif get(args.props, "disableAccessKeyAuthentication") is not True:
        yield (f"{_s(args)} must disable access-key authentication (`disableAccessKeyAuthentication: true`); a "
               "shared key works from anywhere the cache is reachable.")


# --- Role assignments ----------------------------------------------------------------------------------------
def _container_scope(scope: str) -> bool:
    """A subscription, resource group or management group scope (no resource provider in the path)."""
    path = scope.strip().rstrip("/").lower()
    if path.startswith("/providers/microsoft.management/managementgroups/"):
        return True
    return "/providers/" not in path


@resource_rule(RuleMeta(
    name="azure-data-roles-resource-scoped",
    description="Assign data-plane roles (blob data, Key Vault crypto/secrets, AcrPull, AzureML data) on the "
                "resource, not a resource group or subscription.",
    severity="high", area="azure", controls=m.ACCESS_CONTROL,
    remediation="Set the role assignment's scope to the storage container, key, registry or workspace the identity "
                "uses (`security.workload_permissions: scoped`).",
), [ROLE_ASSIGNMENT])
def data_roles_scoped(args: ResourceValidationArgs) -> Iterator[str]:
    role = str(get(args.props, "roleDefinitionId") or "").rstrip("/").rsplit("/", 1)[-1].lower()
    if role not in DATA_ROLES:
        return
    try:
        scope = get(args.props, "scope")
    except UnknownValueError:  # the id of a resource of the stack: a resource scope unless it is a group
        deps = property_dependencies(args).get("scope", ())
        if deps and all(t != "azure-native:resources:ResourceGroup" for _, t in deps):
            return
        raise
    if isinstance(scope, str) and _container_scope(scope):
        yield f"{_s(args)} must assign {DATA_ROLES[role]} on a resource, not on `{scope}`."


# --- Diagnostic settings ----------------------------------------------------------------------------------------
def _audit_enabled(props: Any) -> bool:
    for log in items(props, "logs"):
        if get(log, "enabled") is True and (get(log, "categoryGroup") in ("audit", "allLogs")
                                             or "audit" in str(get(log, "category") or "").lower()):
            return True
    return False


@resource_rule(RuleMeta(
    name="azure-diagnostics-to-log-analytics",
    description="Send audit log categories of diagnostic settings to a Log Analytics workspace.",
    severity="medium", area="azure", controls=m.AUDIT_LOGGING,
    remediation="Set workspaceId and a logs entry with categoryGroup `audit` (or `allLogs`) enabled.",
), DIAGNOSTIC_TYPES)
def diagnostics(args: ResourceValidationArgs) -> Iterator[str]:
    if not ref(args, "workspaceId", {"azure-native:operationalinsights:Workspace"}):
        yield f"{_s(args)} must send logs to a Log Analytics workspace (`workspaceId`)."
    if not _audit_enabled(args.props):
        yield f"{_s(args)} must enable the `audit` (or `allLogs`) category group."


AUDITED_TYPES = frozenset({VAULT, AKS, ACR, STORAGE, ML_WORKSPACE})


@stack_rule(RuleMeta(
    name="azure-audited-resources-have-diagnostics",
    description="Attach an audit diagnostic setting to every key vault, AKS cluster, registry, storage account and ML workspace.",
    severity="medium", area="azure", controls=m.AUDIT_LOGGING,
    remediation="Create an azure-native monitor DiagnosticSetting with resourceUri set to the resource's id.",
), AUDITED_TYPES | DIAGNOSTIC_TYPES)
def audited_have_diagnostics(args: StackValidationArgs) -> Iterator[tuple[str, str | None]]:
    covered_urns: set[str] = set()
    covered_ids: set[str] = set()
    for r in args.resources:
        if r.resource_type in DIAGNOSTIC_TYPES:
            covered_urns.update(d.urn for d in r.property_dependencies.get("resourceUri", []))
            try:
                uri = get(r.props, "resourceUri")
            except Exception:
                uri = None
            if isinstance(uri, str):
                covered_ids.add(uri.lower())

    def check(r: Any) -> Iterator[str]:
        if r.urn in covered_urns:
            return
        rid = r.props.get("id") if "id" in r.props else None
        if isinstance(rid, str) and rid.lower() in covered_ids:
            return
        yield f"{subject(r.resource_type, r.name)} must have an audit diagnostic setting."

    yield from guarded(args.resources, AUDITED_TYPES, check)

VNET = "azure-native:network:VirtualNetwork"
VNET_FLOW_LOG = "azure-native:network:FlowLog"


@stack_rule(RuleMeta(
    name="azure-vnet-flow-logs",
    description="Record every virtual network's traffic with a Network Watcher flow log.",
    severity="medium", area="azure", controls=m.merge(m.AUDIT_LOGGING, m.MONITORING),
    checks=("CKV_AZURE_12",),
    remediation="Add a `network.FlowLog` targeting the VNet, to storage with retention and traffic analytics "
                "(`network.flow_logs: true`).",
), [VNET, VNET_FLOW_LOG])
def vnet_flow_logs(args: StackValidationArgs) -> Iterator[tuple[str, str | None]]:
    logged = references(args.resources, VNET_FLOW_LOG, "targetResourceId")

    def check(r: PolicyResource) -> Iterator[str]:
        if not is_referenced(r, logged):
            yield f"{subject(r.resource_type, r.name)} must have a flow log (no Network Watcher flow log targets it)."

    yield from guarded(args.resources, frozenset({VNET}), check)


RULES = (
    ml_private, ml_cmk, ml_compute_local_auth, ml_compute_idle, aks_api, aks_rbac, aks_netpol, aks_disks, acr,
    kv_recoverable, kv_private, kv_key_expiry, storage_secure, storage_cmk, redis_secure, redis_cmk, redis_entra_only,
    data_roles_scoped,
    diagnostics,
    audited_have_diagnostics, vnet_flow_logs,
)
