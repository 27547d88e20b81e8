"""GCP rules (pulumi-gcp 10 type tokens and wire names)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from pulumi_policy import PolicyResource, ResourceValidationArgs, StackValidationArgs
from pulumi_policy.proxy import UnknownValueError

from policies import meta as m
from policies.meta import RuleMeta
from policies.rules import nouns, secrets
from policies.rules._base import (
    get,
    guarded,
    items,
    ref,
    reference_keys,
    resource_rule,
    stack_rule,
    subject,
    target_keys,
)

GKE = "gcp:container/cluster:Cluster"
# What a customer-managed key reference may point at (unknown at a first preview).
CRYPTO_KEYS = frozenset({"gcp:kms/cryptoKey:CryptoKey", "gcp:kms/cryptoKeyVersion:CryptoKeyVersion"})
GKE_POOL = "gcp:container/nodePool:NodePool"
GCS = "gcp:storage/bucket:Bucket"
KMS_KEY = "gcp:kms/cryptoKey:CryptoKey"
KMS_IAM = frozenset({"gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember", "gcp:kms/cryptoKeyIAMBinding:CryptoKeyIAMBinding"})
AR_REPO = "gcp:artifactregistry/repository:Repository"
AR_IAM = frozenset({"gcp:artifactregistry/repositoryIamMember:RepositoryIamMember",
                    "gcp:artifactregistry/repositoryIamBinding:RepositoryIamBinding"})
REDIS = "gcp:redis/instance:Instance"
VERTEX_DATASET = "gcp:vertex/aiDataset:AiDataset"
VERTEX_FEATURESTORE = "gcp:vertex/aiFeatureStore:AiFeatureStore"
VERTEX_ENDPOINT = "gcp:vertex/aiEndpoint:AiEndpoint"
VERTEX_ONLINE_STORE = "gcp:vertex/aiFeatureOnlineStore:AiFeatureOnlineStore"
VERTEX_METADATA_STORE = "gcp:vertex/aiMetadataStore:AiMetadataStore"
VERTEX_TENSORBOARD = "gcp:vertex/aiTensorboard:AiTensorboard"
VERTEX_INDEX = "gcp:vertex/aiIndex:AiIndex"
VERTEX_INDEX_ENDPOINT = "gcp:vertex/aiIndexEndpoint:AiIndexEndpoint"
VERTEX_PERSISTENT_RESOURCE = "gcp:vertex/aiPersistentResource:AiPersistentResource"
VERTEX_RAG_CORPUS = "gcp:vertex/aiRagCorpus:AiRagCorpus"
VERTEX_REASONING_ENGINE = "gcp:vertex/aiReasoningEngine:AiReasoningEngine"
COLAB_RUNTIME_TEMPLATE = "gcp:colab/runtimeTemplate:RuntimeTemplate"
# Every Vertex AI resource of pulumi-gcp 10 with a top-level `encryptionSpec.kmsKeyName` that holds customer data
# (Workbench instances encrypt per disk: `gcp-vertex-workbench-secure`, ai_services.py).
VERTEX_CMEK_TYPES = (VERTEX_DATASET, VERTEX_FEATURESTORE, VERTEX_ONLINE_STORE, VERTEX_ENDPOINT, VERTEX_METADATA_STORE,
                     VERTEX_TENSORBOARD, VERTEX_INDEX, VERTEX_INDEX_ENDPOINT, VERTEX_PERSISTENT_RESOURCE,
                     VERTEX_RAG_CORPUS, VERTEX_REASONING_ENGINE, COLAB_RUNTIME_TEMPLATE)
AUDIT_CONFIG = "gcp:projects/iAMAuditConfig:IAMAuditConfig"
NOTIFICATION_CHANNEL = "gcp:monitoring/notificationChannel:NotificationChannel"
WEBHOOK_CHANNEL_TYPES = frozenset({"webhook_tokenauth", "webhook_basicauth"})
PROJECT_IAM = frozenset({"gcp:projects/iAMMember:IAMMember", "gcp:projects/iAMBinding:IAMBinding"})
# Roles that read or change data (objects, images, tables, models, keys, secrets). Granted on the project they
# reach every bucket, repository, dataset, key or secret in it: `security.workload_permissions: broad`.
# The basic roles (owner, editor, viewer) are `gcp-iam-no-basic-roles` (identity_common.py), at every scope.
PROJECT_DATA_ROLES = frozenset({
    "roles/storage.admin", "roles/storage.objectAdmin", "roles/storage.objectUser", "roles/storage.objectViewer",
    "roles/storage.objectCreator",
    "roles/artifactregistry.admin", "roles/artifactregistry.repoAdmin", "roles/artifactregistry.writer",
    "roles/artifactregistry.reader",
    "roles/bigquery.admin", "roles/bigquery.dataOwner", "roles/bigquery.dataEditor", "roles/bigquery.dataViewer",
    "roles/aiplatform.admin", "roles/aiplatform.user", "roles/aiplatform.viewer",
    "roles/cloudkms.cryptoKeyDecrypter", "roles/cloudkms.cryptoKeyEncrypterDecrypter", "roles/cloudkms.cryptoKeyEncrypter",
    "roles/secretmanager.secretAccessor", "roles/secretmanager.admin",
})
PUBLIC_MEMBERS = frozenset({"allUsers", "allAuthenticatedUsers"})


def _grants_public(props: Any) -> bool:
    """An IAM member/binding resource (`member` or `members`) that grants to anyone; a member that is unknown
    at preview is computed (a service account's e-mail), never the literal `allUsers`/`allAuthenticatedUsers`."""
    try:
        members = [get(props, "member")] + items(props, "members")
    except UnknownValueError:
        members = [m for m in _known_members(props)]
    return bool(PUBLIC_MEMBERS & {m for m in members if isinstance(m, str)})


def _known_members(props: Any) -> list[Any]:
    out = []
    for key in ("member", "members"):
        try:
            value = get(props, key)
        except UnknownValueError:
            continue
        out.extend(value if isinstance(value, list) else [value])
    return out


def _s(args: ResourceValidationArgs) -> str:
    return nouns.subject(args.resource_type, args.name)


# --- GKE --------------------------------------------------------------------------------------------------
@resource_rule(RuleMeta(
    name="gcp-gke-private-cluster",
    description="Use private nodes on GKE and restrict the control plane to authorized networks.",
    severity="high", area="gcp", controls=m.NETWORK_EXPOSURE,
    checks=("CKV_GCP_64", "CKV_GCP_25", "CKV_GCP_18", "CKV_GCP_20"),
    remediation="Set privateClusterConfig.enablePrivateNodes true and either enablePrivateEndpoint true or "
                "masterAuthorizedNetworksConfig.cidrBlocks without 0.0.0.0/0.",
), [GKE])
def gke_private(args: ResourceValidationArgs) -> Iterator[str]:
    if get(args.props, "privateClusterConfig.enablePrivateNodes") is not True:
        yield f"{_s(args)} must use private nodes (`privateClusterConfig.enablePrivateNodes`)."
    if get(args.props, "privateClusterConfig.enablePrivateEndpoint") is True:
        return
    blocks = [get(b, "cidrBlock") for b in items(args.props, "masterAuthorizedNetworksConfig.cidrBlocks")]
    if not blocks or "0.0.0.0/0" in blocks:
        yield f"{_s(args)} must restrict its control plane to authorized networks."


@resource_rule(RuleMeta(
    name="gcp-gke-workload-identity",
    description="Use Workload Identity and the GKE metadata server instead of node credentials.",
    severity="high", area="gcp", controls=m.merge(m.ACCESS_CONTROL, m.AUTHENTICATION), checks=("CKV_GCP_69",),
    remediation="Set workloadIdentityConfig.workloadPool on the cluster and nodeConfig.workloadMetadataConfig.mode "
                "`GKE_METADATA` on node pools.",
), [GKE, GKE_POOL])
def gke_wi(args: ResourceValidationArgs) -> Iterator[str]:
    if args.resource_type == GKE:
        if not get(args.props, "workloadIdentityConfig.workloadPool"):
            yield f"{_s(args)} must enable Workload Identity (`workloadIdentityConfig.workloadPool`)."
    elif get(args.props, "nodeConfig.workloadMetadataConfig.mode") != "GKE_METADATA":
        yield f"{_s(args)} must use the GKE metadata server (`workloadMetadataConfig.mode: GKE_METADATA`)."


@resource_rule(RuleMeta(
    name="gcp-gke-shielded-nodes",
    description="Run GKE nodes as shielded VMs with secure boot and integrity monitoring.",
    severity="medium", area="gcp", controls=m.WORKLOAD_HARDENING, checks=("CKV_GCP_71", "CKV_GCP_68"),
    remediation="Keep enableShieldedNodes true on the cluster; set nodeConfig.shieldedInstanceConfig.enableSecureBoot "
                "and enableIntegrityMonitoring true on node pools.",
), [GKE, GKE_POOL])
def gke_shielded(args: ResourceValidationArgs) -> Iterator[str]:
    if args.resource_type == GKE:
        if get(args.props, "enableShieldedNodes") is False:
            yield f"{_s(args)} must keep shielded nodes enabled."
        return
    if get(args.props, "nodeConfig.shieldedInstanceConfig.enableSecureBoot") is not True:
        yield f"{_s(args)} must enable secure boot."
    if get(args.props, "nodeConfig.shieldedInstanceConfig.enableIntegrityMonitoring") is False:
        yield f"{_s(args)} must keep integrity monitoring enabled."


@resource_rule(RuleMeta(
    name="gcp-gke-network-policy",
    description="Enforce Kubernetes network policies on GKE.",
    severity="medium", area="gcp", controls=m.NETWORK_EXPOSURE, checks=("CKV_GCP_12",),
    remediation="Use datapathProvider `ADVANCED_DATAPATH` (Dataplane V2) or networkPolicy.enabled true.",
), [GKE])
def gke_netpol(args: ResourceValidationArgs) -> Iterator[str]:
    if get(args.props, "datapathProvider") == "ADVANCED_DATAPATH" or get(args.props, "networkPolicy.enabled") is True:
        return
    yield f"{_s(args)} must enforce network policies (Dataplane V2 or `networkPolicy.enabled`)."


@resource_rule(RuleMeta(
    name="gcp-gke-secrets-encryption",
    description="Encrypt GKE secrets at the application layer with Cloud KMS.",
    severity="high", area="gcp", controls=m.ENCRYPTION_AT_REST, checks=("CKV_GCP_39",),
    remediation="Set databaseEncryption {state: ENCRYPTED, keyName: <crypto key id>}.",
), [GKE])
def gke_secrets(args: ResourceValidationArgs) -> Iterator[str]:
    if (get(args.props, "databaseEncryption.state") != "ENCRYPTED"
            or not ref(args, "databaseEncryption.keyName", CRYPTO_KEYS)):
        yield f"{_s(args)} must encrypt secrets with Cloud KMS (`databaseEncryption`)."


# --- GCS -------------------------------------------------------------------------------------------------
@resource_rule(RuleMeta(
    name="gcp-gcs-no-public-access",
    description="Enforce public access prevention and uniform bucket-level access on GCS buckets.",
    severity="critical", area="gcp", controls=m.merge(m.NETWORK_EXPOSURE, m.ACCESS_CONTROL),
    checks=("CKV_GCP_114", "CKV_GCP_29"),
    remediation="Set publicAccessPrevention `enforced` and uniformBucketLevelAccess true.",
), [GCS])
def gcs_public(args: ResourceValidationArgs) -> Iterator[str]:
    if get(args.props, "publicAccessPrevention") != "enforced":
        yield f"{_s(args)} must enforce public access prevention."
    if get(args.props, "uniformBucketLevelAccess") is not True:
        yield f"{_s(args)} must use uniform bucket-level access."


@resource_rule(RuleMeta(
    name="gcp-gcs-cmek",
    description="Encrypt GCS buckets with a customer-managed Cloud KMS key.",
    severity="high", area="gcp", controls=m.ENCRYPTION_AT_REST,
    remediation="Set encryption.defaultKmsKeyName to the environment's crypto key.",
), [GCS])
def gcs_cmek(args: ResourceValidationArgs) -> Iterator[str]:
    if not ref(args, "encryption.defaultKmsKeyName", CRYPTO_KEYS):
        yield f"{_s(args)} must encrypt with a customer-managed key (`encryption.defaultKmsKeyName`)."


@resource_rule(RuleMeta(
    name="gcp-gcs-versioning",
    description="Enable object versioning on GCS buckets, or keep their objects under a retention policy.",
    severity="medium", area="gcp", controls=m.merge(m.INTEGRITY, m.AVAILABILITY), checks=("CKV_GCP_78",),
    remediation="Set versioning.enabled true, or retentionPolicy.retentionPeriod on a bucket whose objects must "
                "outlive it (an audit archive).",
), [GCS])
def gcs_versioning(args: ResourceValidationArgs) -> Iterator[str]:
    # A retention policy protects every object from deletion and replacement for its period, and excludes
    # versioning ("Object Versioning cannot be enabled on a bucket that currently has a retention policy", Cloud
    # Storage, "Object Versioning").
    if get(args.props, "versioning.enabled") is not True and not get(args.props, "retentionPolicy.retentionPeriod"):
        yield f"{_s(args)} must enable object versioning or keep its objects under a retention policy."


# --- Cloud KMS -------------------------------------------------------------------------------------------
def _seconds(value: object) -> float | None:
    if isinstance(value, str) and value.endswith("s"):
        try:
            return float(value[:-1])
        except ValueError:
            return None
    return None


@resource_rule(RuleMeta(
    name="gcp-kms-rotation",
    description="Rotate Cloud KMS keys at least every 90 days.",
    severity="medium", area="gcp", controls=m.KEY_MANAGEMENT, checks=("CKV_GCP_43",),
    config={"maximumDays": {"type": "integer", "default": 90, "minimum": 1}},
    remediation="Set rotationPeriod to `7776000s` (90 days) or shorter.",
), [KMS_KEY])
def kms_rotation(args: ResourceValidationArgs) -> Iterator[str]:
    days = float(args.get_config().get("maximumDays") or 90)
    period = _seconds(get(args.props, "rotationPeriod"))
    if get(args.props, "purpose") not in (None, "ENCRYPT_DECRYPT"):
        return  # asymmetric keys cannot rotate automatically
    if period is None or period > days * 86400:
        yield f"{_s(args)} must rotate at least every {int(days)} days (`rotationPeriod`)."


@resource_rule(RuleMeta(
    name="gcp-kms-not-public",
    description="Do not grant Cloud KMS key roles to allUsers or allAuthenticatedUsers.",
    severity="critical", area="gcp", controls=m.merge(m.KEY_MANAGEMENT, m.ACCESS_CONTROL), checks=("CKV_GCP_112",),
    remediation="Grant the role to specific service accounts.",
), KMS_IAM)
def kms_public(args: ResourceValidationArgs) -> Iterator[str]:
    if _grants_public(args.props):
        yield f"{_s(args)} must not grant the key to allUsers or allAuthenticatedUsers."


@resource_rule(RuleMeta(
    name="gcp-kms-destroy-protection",
    description="Protect Cloud KMS keys from deletion (Pulumi protect and a scheduled-destroy delay).",
    severity="high", area="gcp", controls=m.merge(m.KEY_MANAGEMENT, m.AVAILABILITY), checks=("CKV_GCP_82",),
    remediation="Create the key with `protect=True` (ResourceOptions) and keep destroyScheduledDuration ≥ 30 days.",
), [KMS_KEY])
def kms_protected(args: ResourceValidationArgs) -> Iterator[str]:
    if not args.opts.protect:
        yield f"{_s(args)} must be protected against deletion (`protect=True`)."
    period = _seconds(get(args.props, "destroyScheduledDuration"))
    if period is not None and period < 30 * 86400:
        yield f"{_s(args)} must wait at least 30 days before destroying key versions."


# --- Artifact Registry -------------------------------------------------------------------------------------
@resource_rule(RuleMeta(
    name="gcp-artifact-registry-not-public",
    description="Do not grant Artifact Registry repositories to allUsers or allAuthenticatedUsers.",
    severity="critical", area="gcp", controls=m.merge(m.ACCESS_CONTROL, m.SUPPLY_CHAIN), checks=("CKV_GCP_101",),
    remediation="Grant reader roles to the cluster's node or workload service accounts only.",
), AR_IAM)
def ar_public(args: ResourceValidationArgs) -> Iterator[str]:
    if _grants_public(args.props):
        yield f"{_s(args)} must not make the repository public."


@resource_rule(RuleMeta(
    name="gcp-artifact-registry-cmek",
    description="Encrypt Artifact Registry repositories with a customer-managed key.",
    severity="medium", area="gcp", controls=m.ENCRYPTION_AT_REST,
    remediation="Set kmsKeyName to the environment's crypto key.",
), [AR_REPO])
def ar_cmek(args: ResourceValidationArgs) -> Iterator[str]:
    if not ref(args, "kmsKeyName", CRYPTO_KEYS):
        yield f"{_s(args)} must encrypt with a customer-managed key (`kmsKeyName`)."


@resource_rule(RuleMeta(
    name="gcp-artifact-registry-scanning",
    description="Keep vulnerability scanning on for Artifact Registry Docker repositories.",
    severity="medium", area="gcp", controls=m.merge(m.VULNERABILITY, m.SUPPLY_CHAIN),
    remediation="Leave vulnerabilityScanningConfig.enablementConfig `INHERITED` (with the Container Scanning API "
                "enabled) or `ENABLED`, not `DISABLED` (`registries.container.scan_on_push: true`).",
), [AR_REPO])
def ar_scanning(args: ResourceValidationArgs) -> Iterator[str]:
    if str(get(args.props, "format") or "DOCKER").upper() != "DOCKER":
        return
    if get(args.props, "vulnerabilityScanningConfig.enablementConfig") == "DISABLED":
        yield f"{_s(args)} must scan pushed images for vulnerabilities (scanning is `DISABLED`)."


# --- Project IAM --------------------------------------------------------------------------------------------
@resource_rule(RuleMeta(
    name="gcp-iam-no-project-wide-data-roles",
    description="Grant data roles (storage, images, BigQuery, Vertex AI, KMS, secrets) on the resource, not the "
                "whole project.",
    severity="high", area="gcp", controls=m.ACCESS_CONTROL,
    remediation="Grant the role on the bucket, repository, dataset, key or secret the member uses "
                "(`security.workload_permissions: scoped`).",
), PROJECT_IAM)
def project_data_roles(args: ResourceValidationArgs) -> Iterator[str]:
    role = get(args.props, "role")
    if isinstance(role, str) and role in PROJECT_DATA_ROLES:
        yield f"{_s(args)} must not grant `{role}` on the whole project; grant it on the resources used."


# --- Memorystore ----------------------------------------------------------------------------------------
@resource_rule(RuleMeta(
    name="gcp-redis-auth-tls",
    description="Require AUTH and TLS on Memorystore Redis instances.",
    severity="high", area="gcp", controls=m.merge(m.AUTHENTICATION, m.ENCRYPTION_IN_TRANSIT),
    checks=("CKV_GCP_95", "CKV_GCP_97"),
    remediation="Set authEnabled true and transitEncryptionMode `SERVER_AUTHENTICATION`.",
), [REDIS])
def redis_auth_tls(args: ResourceValidationArgs) -> Iterator[str]:
    if get(args.props, "authEnabled") is not True:
        yield f"{_s(args)} must require AUTH (`authEnabled: true`)."
    if get(args.props, "transitEncryptionMode") != "SERVER_AUTHENTICATION":
        yield f"{_s(args)} must encrypt traffic in transit (`transitEncryptionMode: SERVER_AUTHENTICATION`)."


# --- Cloud Monitoring ----------------------------------------------------------------------------------
def _url_credentials(url: str) -> list[str]:
    """What in `url` looks like a credential: a password in the authority, query parameters with a secret-like
    name (`token`, `api_key`, ...: secrets.py's words) or a known credential format anywhere."""
    try:
        parts = urlsplit(url)
        found = ["the password in its authority"] if parts.password else []
        found += [f"`{k}`" for k, v in parse_qsl(parts.query, keep_blank_values=False) if secrets.looks_like_key(k, v)]
    except ValueError:
        return []
    if not found and secrets.looks_like_key("url", url):  # `url` is no secret-like name: a credential format
        found.append("a credential")
    return found


@resource_rule(RuleMeta(
    name="gcp-monitoring-webhook-url-secret",
    description="Keep credentials out of the URL of Cloud Monitoring webhook notification channels.",
    severity="medium", area="gcp", enforcement="advisory", controls=m.merge(m.AUTHENTICATION, m.ACCESS_CONTROL),
    remediation="Webhook channels take their URL as a plain label, readable with monitoring.notificationChannels.get: "
                "pulumi-gcp's sensitiveLabels hold only authToken (slack), password (webhook_basicauth) and "
                "serviceKey (pagerduty). Use a PagerDuty channel (serviceKey), a `webhook_basicauth` channel with "
                "the secret in sensitiveLabels.password, or a receiver that authenticates Monitoring without a "
                "token in the URL.",
), [NOTIFICATION_CHANNEL])
def webhook_url_secret(args: ResourceValidationArgs) -> Iterator[str]:
    if get(args.props, "type") not in WEBHOOK_CHANNEL_TYPES:
        return
    url = get(args.props, "labels.url")
    found = _url_credentials(url) if isinstance(url, str) else []
    if found:
        yield (f"{_s(args)} keeps {', '.join(found)} in its URL (`labels.url`), a plain label that anyone who may "
               "read the channel sees: Cloud Monitoring has no sensitive label for a webhook URL.")


# --- Vertex AI ------------------------------------------------------------------------------------------
@resource_rule(RuleMeta(
    name="gcp-vertex-cmek",
    description="Encrypt Vertex AI datasets, feature stores and online stores, endpoints, metadata stores, "
                "TensorBoards, vector-search indexes and index endpoints, persistent training clusters, RAG "
                "corpora, Agent Engine (reasoning engine) instances and Colab Enterprise runtime templates with "
                "customer-managed keys.",
    severity="high", area="gcp", controls=m.ENCRYPTION_AT_REST,
    # checkov: datasets (CKV_GCP_92), metadata stores (CKV_GCP_96), endpoints (CKV2_GCP_24), feature stores
    # (CKV2_GCP_25), TensorBoards (CKV2_GCP_26): each tests encryption_spec.kms_key_name.
    checks=("CKV_GCP_92", "CKV_GCP_96", "CKV2_GCP_24", "CKV2_GCP_25", "CKV2_GCP_26"),
    remediation="Set encryptionSpec.kmsKeyName to the environment's crypto key; serve a feature online store "
                "from Bigtable (`bigtable`), not `optimized`, which cannot take one.",
), VERTEX_CMEK_TYPES)
def vertex_cmek(args: ResourceValidationArgs) -> Iterator[str]:
    if not ref(args, "encryptionSpec.kmsKeyName", CRYPTO_KEYS):
        yield f"{_s(args)} must encrypt with a customer-managed key (`encryptionSpec.kmsKeyName`)."
    # "Only Bigtable online serving supports encryption using a CMEK" (Vertex AI Feature Store, "Create an online
    # store instance", cloud.google.com/vertex-ai/docs/featurestore/latest/create-onlinestore).
    if args.resource_type == VERTEX_ONLINE_STORE and get(args.props, "optimized") is not None:
        yield (f"{_s(args)} must serve from Bigtable (`bigtable`): Optimized online serving cannot be encrypted "
               "with a customer-managed key.")


@resource_rule(RuleMeta(
    name="gcp-vertex-private-endpoint",
    description="Serve Vertex AI endpoints and online stores privately (VPC peering or Private Service Connect).",
    severity="high", area="gcp", controls=m.NETWORK_EXPOSURE,
    remediation="Set network (VPC peering) or privateServiceConnectConfig.enablePrivateServiceConnect true on "
                "endpoints; dedicatedServingEndpoint.privateServiceConnectConfig on online stores.",
), [VERTEX_ENDPOINT, VERTEX_ONLINE_STORE])
def vertex_private(args: ResourceValidationArgs) -> Iterator[str]:
    if args.resource_type == VERTEX_ENDPOINT:
        if get(args.props, "network") or get(args.props, "privateServiceConnectConfig.enablePrivateServiceConnect") is True:
            return
    elif get(args.props, "dedicatedServingEndpoint.privateServiceConnectConfig.enablePrivateServiceConnect") is True:
        return
    yield f"{_s(args)} must be reachable only privately (VPC peering or Private Service Connect)."


# --- Audit logs ------------------------------------------------------------------------------------------
AUDITED_SERVICES = ("storage.googleapis.com", "cloudkms.googleapis.com", "aiplatform.googleapis.com")


@stack_rule(RuleMeta(
    name="gcp-data-access-audit-logs",
    description="Turn on Data Access audit logs (read and write) for Cloud Storage, Cloud KMS and Vertex AI.",
    severity="medium", area="gcp", controls=m.AUDIT_LOGGING, checks=("CKV_GCP_32",),
    remediation="Add gcp.projects.IAMAuditConfig per service (or `allServices`) with DATA_READ and DATA_WRITE log types.",
), [AUDIT_CONFIG])
def data_access_logs(args: StackValidationArgs) -> Iterator[tuple[str, str | None]]:
    if not any(r.resource_type.startswith("gcp:") and r.resource_type != AUDIT_CONFIG for r in args.resources):
        return
    covered: dict[str, set[str]] = {}
    for r in args.resources:
        if r.resource_type != AUDIT_CONFIG:
            continue
        service = get(r.props, "service")
        kinds = {get(c, "logType") for c in items(r.props, "auditLogConfigs")}
        covered.setdefault(str(service), set()).update(k for k in kinds if isinstance(k, str))
    for service in AUDITED_SERVICES:
        kinds = covered.get(service, set()) | covered.get("allServices", set())
        missing = [k for k in ("DATA_READ", "DATA_WRITE") if k not in kinds]
        if missing:
            yield f"The stack must enable {' and '.join(missing)} audit logs for `{service}`.", None

SUBNETWORK = "gcp:compute/subnetwork:Subnetwork"


@resource_rule(RuleMeta(
    name="gcp-subnet-flow-logs",
    description="Record every subnet's traffic with VPC flow logs.",
    severity="medium", area="gcp", controls=m.merge(m.AUDIT_LOGGING, m.MONITORING), checks=("CKV_GCP_26",),
    remediation="Set `logConfig` on the subnetwork (`network.flow_logs: true`).",
), [SUBNETWORK])
def subnet_flow_logs(args: ResourceValidationArgs) -> Iterator[str]:
    if not get(args.props, "logConfig"):
        yield f"{_s(args)} must record flow logs (set `logConfig`)."


NETWORK = "gcp:compute/network:Network"
GLOBAL_FORWARDING_RULE = "gcp:compute/globalForwardingRule:GlobalForwardingRule"
# The Google-API bundles a Private Service Connect endpoint can target (vpc/docs/configure-private-service-
# connect-apis: "all-apis" or "vpc-sc").
GOOGLE_API_BUNDLES = frozenset({"all-apis", "vpc-sc"})


@stack_rule(RuleMeta(
    name="gcp-vpc-private-google-apis",
    description="Reach Google APIs from each VPC through a Private Service Connect endpoint, not their public "
                "addresses.",
    severity="medium", area="gcp", controls=m.NETWORK_EXPOSURE,
    remediation="Add a global forwarding rule with target `all-apis` (or `vpc-sc`) on the network, with private "
                "DNS for googleapis.com (`network.private_endpoints: true`).",
), [NETWORK, GLOBAL_FORWARDING_RULE])
def vpc_private_google_apis(args: StackValidationArgs) -> Iterator[tuple[str, str | None]]:
    served: set[str] = set()
    for r in args.resources:
        if r.resource_type == GLOBAL_FORWARDING_RULE and get(r.props, "target") in GOOGLE_API_BUNDLES:
            served |= reference_keys(r, "network")

    def check(r: PolicyResource) -> Iterator[str]:
        if not target_keys(r) & served:
            yield (f"{subject(r.resource_type, r.name)} must reach Google APIs through a Private Service Connect "
                   "endpoint (no forwarding rule to `all-apis` on it).")

    yield from guarded(args.resources, frozenset({NETWORK}), check)


RULES = (
    gke_private, gke_wi, gke_shielded, gke_netpol, gke_secrets, gcs_public, gcs_cmek, gcs_versioning,
    kms_rotation, kms_public, kms_protected, ar_public, ar_cmek, ar_scanning, project_data_roles, redis_auth_tls, vertex_cmek, vertex_private, webhook_url_secret,
    data_access_logs, subnet_flow_logs, vpc_private_google_apis,
)
