"""Data stores teams run beside an AI environment: databases (RDS, Azure SQL / PostgreSQL / MySQL / Cosmos DB,
Cloud SQL), queues and topics (SQS, SNS, Service Bus, Pub/Sub), caches, tables and secret stores.

Per class: no public endpoint, encryption at rest with a customer-managed key, TLS, backups and deletion
protection, where the service has the setting. Buckets, key stores (KMS, Key Vault, Cloud KMS) and the caches
aienv itself uses are in the cloud modules (aws.py, azure.py, gcp.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pulumi_policy import PolicyResource, ResourceValidationArgs, StackValidationArgs

from policies import meta as m
from policies.meta import RuleMeta
from policies.rules._base import (
    config_value,
    get,
    guarded,
    items,
    number,
    reference_keys,
    resource_rule,
    stack_rule,
    target_keys,
)
from policies.rules.aws import _allows_anyone
from policies.rules.gcp import _grants_public
from policies.rules.nouns import subject
from policies.rules.tokens import canonical, with_previous

# --- AWS -----------------------------------------------------------------------------------------------------------
RDS_INSTANCE = "aws:rds/instance:Instance"
RDS_CLUSTER = "aws:rds/cluster:Cluster"
RDS_CLUSTER_INSTANCE = "aws:rds/clusterInstance:ClusterInstance"
SQS_QUEUE = "aws:sqs/queue:Queue"
SQS_POLICY = "aws:sqs/queuePolicy:QueuePolicy"
SNS_TOPIC = "aws:sns/topic:Topic"
SNS_POLICY = "aws:sns/topicPolicy:TopicPolicy"
DYNAMODB_TABLE = "aws:dynamodb/table:Table"
SECRET = "aws:secretsmanager/secret:Secret"
SECRET_POLICY = "aws:secretsmanager/secretPolicy:SecretPolicy"
CACHE_CLUSTER = "aws:elasticache/cluster:Cluster"
CACHE_SERVERLESS = "aws:elasticache/serverlessCache:ServerlessCache"
# AWS-managed keys (`alias/aws/<service>`) encrypt, but the customer controls neither their policy nor rotation.
AWS_MANAGED_KEY_PREFIX = "alias/aws/"


def _s(args: ResourceValidationArgs) -> str:
    return subject(args.resource_type, args.name)


def _cmk(value: Any) -> bool:
    return isinstance(value, str) and bool(value) and not value.startswith(AWS_MANAGED_KEY_PREFIX)


@resource_rule(RuleMeta(
    name="aws-rds-not-public",
    description="Do not make RDS instances or clusters publicly accessible.",
    severity="critical", area="aws", controls=m.NETWORK_EXPOSURE,
    checks=("CKV_AWS_17", "CFG RDS_INSTANCE_PUBLIC_ACCESS_CHECK"),
    remediation="Set publiclyAccessible false and reach the database from the VPC (or through a bastion / SSM).",
), [RDS_INSTANCE, RDS_CLUSTER, RDS_CLUSTER_INSTANCE])
def rds_not_public(args: ResourceValidationArgs) -> Iterator[str]:
    if get(args.props, "publiclyAccessible") is True:
        yield f"{_s(args)} must not be publicly accessible (`publiclyAccessible: true`)."


@resource_rule(RuleMeta(
    name="aws-rds-encrypted-cmk",
    description="Encrypt RDS instances and clusters at rest with a customer-managed KMS key.",
    severity="high", area="aws", controls=m.ENCRYPTION_AT_REST,
    # CKV_AWS_16 / CKV_AWS_96 test storage_encrypted; CKV_AWS_327 a CMK on clusters; this rule requires both.
    checks=("CKV_AWS_16", "CKV_AWS_96", "CKV_AWS_327", "CFG RDS_STORAGE_ENCRYPTED"),
    remediation="Set storageEncrypted true and kmsKeyId to a customer-managed KMS key ARN (encryption can only be "
                "chosen at creation: restore an encrypted snapshot copy to migrate).",
), [RDS_INSTANCE, RDS_CLUSTER])
def rds_encrypted(args: ResourceValidationArgs) -> Iterator[str]:
    if args.resource_type == RDS_INSTANCE and get(args.props, "replicateSourceDb"):
        return  # a read replica takes the source's encryption
    if get(args.props, "storageEncrypted") is not True:
        yield f"{_s(args)} must encrypt storage at rest (`storageEncrypted: true`) with a customer-managed KMS key."
    elif not _cmk(get(args.props, "kmsKeyId")):
        yield f"{_s(args)} must encrypt with a customer-managed KMS key (`kmsKeyId`), not the AWS-managed key."


@resource_rule(RuleMeta(
    name="aws-rds-backups",
    description="Keep automated RDS backups for at least the configured number of days.",
    severity="medium", area="aws", controls=m.AVAILABILITY,
    # checkov DBInstanceBackupRetentionPeriod fails a retention of 0 (backups off), which this rule also fails.
    checks=("CKV_AWS_133",),
    config={"minimumDays": {"type": "integer", "default": 7, "minimum": 1}},
    remediation="Set backupRetentionPeriod to at least the configured days (RDS allows up to 35).",
), [RDS_INSTANCE, RDS_CLUSTER])
def rds_backups(args: ResourceValidationArgs) -> Iterator[str]:
    if args.resource_type == RDS_INSTANCE and get(args.props, "replicateSourceDb"):
        return
    minimum = int(config_value(args, "minimumDays", 7))
    # CreateDBInstance / CreateDBCluster default BackupRetentionPeriod: 1 day.
    days = number(args.props, "backupRetentionPeriod", 1) or 0
    if days < minimum:
        yield f"{_s(args)} must keep automated backups for at least {minimum} days (it keeps {int(days)})."


@resource_rule(RuleMeta(
    name="aws-rds-deletion-protection",
    description="Turn on deletion protection for RDS instances and clusters.",
    severity="medium", area="aws", controls=m.AVAILABILITY,
    checks=("CKV_AWS_293", "CKV_AWS_139", "CFG RDS_INSTANCE_DELETION_PROTECTION_ENABLED"),
    remediation="Set deletionProtection true.",
), [RDS_INSTANCE, RDS_CLUSTER])
def rds_deletion(args: ResourceValidationArgs) -> Iterator[str]:
    if get(args.props, "deletionProtection") is not True:
        yield f"{_s(args)} must turn on deletion protection (`deletionProtection: true`)."


@resource_rule(RuleMeta(
    name="aws-messaging-kms",
    description="Encrypt SQS queues and SNS topics with a customer-managed KMS key.",
    severity="high", area="aws", controls=m.ENCRYPTION_AT_REST,
    # CKV_AWS_27 / CKV_AWS_26 fail queues and topics without server-side encryption, which this rule also fails
    # (it also fails SSE-SQS and the AWS-managed `alias/aws/sqs|sns` keys).
    checks=("CKV_AWS_27", "CKV_AWS_26"),
    remediation="Set kmsMasterKeyId to a customer-managed KMS key (its key policy must let the publishing "
                "services use it).",
), [SQS_QUEUE, SNS_TOPIC])
def messaging_kms(args: ResourceValidationArgs) -> Iterator[str]:
    key = get(args.props, "kmsMasterKeyId")
    if not _cmk(key):
        what = "SSE-SQS" if get(args.props, "sqsManagedSseEnabled") is True else (key or "no encryption")
        yield f"{_s(args)} must encrypt messages with a customer-managed KMS key (`kmsMasterKeyId`; it uses {what})."


@resource_rule(RuleMeta(
    name="aws-messaging-not-public",
    description="Do not allow the `*` principal without a condition in SQS queue, SNS topic or secret policies.",
    severity="critical", area="aws", controls=m.merge(m.ACCESS_CONTROL, m.NETWORK_EXPOSURE),
    remediation="Name the accounts, roles or service principals that send and receive, or add a restricting "
                "Condition (aws:SourceArn, aws:SourceAccount, aws:PrincipalOrgID).",
), [SQS_QUEUE, SQS_POLICY, SNS_TOPIC, SNS_POLICY, SECRET, SECRET_POLICY])
def messaging_not_public(args: ResourceValidationArgs) -> Iterator[str]:
    if _allows_anyone(args.props):
        yield f"{_s(args)} must not allow the `*` principal without a condition in its policy."


@resource_rule(RuleMeta(
    name="aws-dynamodb-encryption-cmk",
    description="Encrypt DynamoDB tables with a customer-managed KMS key.",
    severity="high", area="aws", controls=m.ENCRYPTION_AT_REST, checks=("CKV_AWS_119",),
    remediation="Set serverSideEncryption {enabled: true, kmsKeyArn: <customer-managed key ARN>}.",
), [DYNAMODB_TABLE])
def dynamodb_cmk(args: ResourceValidationArgs) -> Iterator[str]:
    if get(args.props, "serverSideEncryption.enabled") is not True or not _cmk(
            get(args.props, "serverSideEncryption.kmsKeyArn")):
        yield f"{_s(args)} must encrypt with a customer-managed KMS key (`serverSideEncryption.kmsKeyArn`)."


@resource_rule(RuleMeta(
    name="aws-dynamodb-recovery",
    description="Turn on point-in-time recovery and deletion protection for DynamoDB tables.",
    severity="medium", area="aws", controls=m.AVAILABILITY, checks=("CKV_AWS_28",),
    remediation="Set pointInTimeRecovery.enabled true and deletionProtectionEnabled true.",
), [DYNAMODB_TABLE])
def dynamodb_recovery(args: ResourceValidationArgs) -> Iterator[str]:
    if get(args.props, "pointInTimeRecovery.enabled") is not True:
        yield f"{_s(args)} must turn on point-in-time recovery (`pointInTimeRecovery.enabled`)."
    if get(args.props, "deletionProtectionEnabled") is not True:
        yield f"{_s(args)} must turn on deletion protection (`deletionProtectionEnabled`)."


@resource_rule(RuleMeta(
    name="aws-secretsmanager-cmk",
    description="Encrypt Secrets Manager secrets with a customer-managed KMS key.",
    severity="medium", area="aws", controls=m.KEY_MANAGEMENT, checks=("CKV_AWS_149",),
    remediation="Set kmsKeyId to a customer-managed KMS key (the default is the AWS-managed aws/secretsmanager key).",
), [SECRET])
def secret_cmk(args: ResourceValidationArgs) -> Iterator[str]:
    if not _cmk(get(args.props, "kmsKeyId")):
        yield f"{_s(args)} must encrypt with a customer-managed KMS key (`kmsKeyId`)."


@resource_rule(RuleMeta(
    name="aws-elasticache-cluster-encrypted",
    description="Run Redis/Valkey caches as encrypted replication groups or serverless caches with a "
                "customer-managed key; Memcached with TLS.",
    severity="high", area="aws", controls=m.merge(m.ENCRYPTION_AT_REST, m.ENCRYPTION_IN_TRANSIT),
    remediation="Create an aws.elasticache.ReplicationGroup (atRestEncryptionEnabled, transitEncryptionEnabled, "
                "kmsKeyId) instead of a standalone Redis cluster; set kmsKeyId on serverless caches; set "
                "transitEncryptionEnabled on Memcached clusters.",
), [CACHE_CLUSTER, CACHE_SERVERLESS])
def cache_cluster_encrypted(args: ResourceValidationArgs) -> Iterator[str]:
    if args.resource_type == CACHE_SERVERLESS:
        if not _cmk(get(args.props, "kmsKeyId")):
            yield f"{_s(args)} must encrypt with a customer-managed KMS key (`kmsKeyId`)."
        return
    if get(args.props, "replicationGroupId"):
        return  # a member of a replication group, which carries the encryption settings
    engine = str(get(args.props, "engine") or "").lower()
    if engine == "memcached":
        if get(args.props, "transitEncryptionEnabled") is not True:
            yield f"{_s(args)} must encrypt traffic in transit (`transitEncryptionEnabled: true`)."
    else:
        yield (f"{_s(args)} must not run {engine or 'Redis'} as a standalone cluster, which cannot encrypt at rest; "
               "use an encrypted replication group.")


# --- Azure ---------------------------------------------------------------------------------------------------------
SQL_SERVER = "azure-native:sql:Server"
SQL_FIREWALL = "azure-native:sql:FirewallRule"
SQL_ENCRYPTION_PROTECTOR = "azure-native:sql:EncryptionProtector"
POSTGRES = "azure-native:dbforpostgresql:Server"
POSTGRES_FIREWALL = "azure-native:dbforpostgresql:FirewallRule"
POSTGRES_CONFIG = "azure-native:dbforpostgresql:Configuration"
MYSQL = "azure-native:dbformysql:Server"
MYSQL_FIREWALL = "azure-native:dbformysql:FirewallRule"
MYSQL_CONFIG = "azure-native:dbformysql:Configuration"
COSMOS = "azure-native:cosmosdb:DatabaseAccount"
SERVICEBUS = "azure-native:servicebus:Namespace"
KV_SECRET = "azure-native:keyvault:Secret"
AZURE_FIREWALLS = frozenset({SQL_FIREWALL, POSTGRES_FIREWALL, MYSQL_FIREWALL})
TLS_ORDER = {"tls1_0": 0, "tls1_1": 1, "tls1_2": 2, "tls1_3": 3, "1.0": 0, "1.1": 1, "1.2": 2, "1.3": 3,
             "tls10": 0, "tls11": 1, "tls12": 2, "tls13": 3}


def _tls(value: Any) -> int:
    return TLS_ORDER.get(str(value or "").lower().replace(" ", ""), -1)


@resource_rule(RuleMeta(
    name="azure-data-services-not-public",
    description="Disable public network access on Azure SQL, PostgreSQL, MySQL, Cosmos DB and Service Bus, and "
                "open no database firewall rule to the whole internet.",
    severity="critical", area="azure", controls=m.NETWORK_EXPOSURE,
    # CKV_AZURE_113 (SQL public network access), CKV_AZURE_11 (firewall 0.0.0.0-255.255.255.255), CKV_AZURE_101
    # (Cosmos DB), CKV_AZURE_204 (Service Bus): each is one of this rule's tests.
    checks=("CKV_AZURE_113", "CKV_AZURE_11", "CKV_AZURE_101", "CKV_AZURE_204"),
    remediation="Set publicNetworkAccess `Disabled` (PostgreSQL/MySQL flexible: network.publicNetworkAccess) and "
                "reach the service through a private endpoint or VNet integration; delete firewall rules that "
                "span 0.0.0.0-255.255.255.255.",
), with_previous([SQL_SERVER, POSTGRES, MYSQL, COSMOS, SERVICEBUS, *AZURE_FIREWALLS]))
def azure_data_not_public(args: ResourceValidationArgs) -> Iterator[str]:
    s = _s(args)
    if args.resource_type in AZURE_FIREWALLS:
        start, end = get(args.props, "startIpAddress"), get(args.props, "endIpAddress")
        if start in ("0.0.0.0", "0.0.0.0/0") and end == "255.255.255.255":
            yield f"{s} must not allow every internet address (0.0.0.0-255.255.255.255)."
        return
    path = "network.publicNetworkAccess" if args.resource_type in (POSTGRES, MYSQL) else "publicNetworkAccess"
    if str(get(args.props, path) or "Enabled").lower() != "disabled":
        yield f"{s} must disable public network access (`{path}: Disabled`)."


@resource_rule(RuleMeta(
    name="azure-data-services-tls12",
    description="Require TLS 1.2 or newer on Azure SQL, Cosmos DB and Service Bus, and keep TLS enforced on "
                "PostgreSQL and MySQL.",
    severity="high", area="azure", controls=m.ENCRYPTION_IN_TRANSIT,
    checks=("CKV_AZURE_52", "CKV_AZURE_205"),
    remediation="Set minimalTlsVersion `1.2` (SQL) / `Tls12` (Cosmos DB), minimumTlsVersion `1.2` (Service Bus); do "
                "not set the `require_secure_transport` server parameter to `off`.",
), with_previous([SQL_SERVER, COSMOS, SERVICEBUS, POSTGRES_CONFIG, MYSQL_CONFIG]))
def azure_data_tls(args: ResourceValidationArgs) -> Iterator[str]:
    s = _s(args)
    if args.resource_type in (POSTGRES_CONFIG, MYSQL_CONFIG):
        name = str(get(args.props, "configurationName") or args.name)
        if name.lower() == "require_secure_transport" and str(get(args.props, "value") or "").lower() in ("off", "0"):
            yield f"{s} must not turn off `require_secure_transport`."
        return
    prop = "minimumTlsVersion" if args.resource_type == SERVICEBUS else "minimalTlsVersion"
    if _tls(get(args.props, prop)) < 2:
        yield f"{s} must require TLS 1.2 or newer (`{prop}`)."


@resource_rule(RuleMeta(
    name="azure-data-services-cmk",
    description="Encrypt PostgreSQL, MySQL, Cosmos DB and Service Bus data with a customer-managed Key Vault key.",
    severity="high", area="azure", controls=m.ENCRYPTION_AT_REST,
    checks=("CKV_AZURE_100", "CKV_AZURE_201"),
    remediation="PostgreSQL/MySQL flexible: dataEncryption {type: AzureKeyVault, primaryKeyURI, "
                "primaryUserAssignedIdentityId}; Cosmos DB: keyVaultKeyUri; Service Bus (Premium): encryption "
                "{keySource: Microsoft.KeyVault, keyVaultProperties}.",
), with_previous([POSTGRES, MYSQL, COSMOS, SERVICEBUS]))
def azure_data_cmk(args: ResourceValidationArgs) -> Iterator[str]:
    s = _s(args)
    if args.resource_type in (POSTGRES, MYSQL):
        if get(args.props, "dataEncryption.type") != "AzureKeyVault" or not get(args.props, "dataEncryption.primaryKeyURI"):
            yield f"{s} must encrypt with a customer-managed key (`dataEncryption.type: AzureKeyVault`)."
    elif canonical(args.resource_type) == COSMOS:
        if not get(args.props, "keyVaultKeyUri"):
            yield f"{s} must encrypt with a customer-managed key (`keyVaultKeyUri`)."
    elif get(args.props, "encryption.keySource") != "Microsoft.KeyVault" or not items(
            args.props, "encryption.keyVaultProperties"):
        yield f"{s} must encrypt with a customer-managed key (`encryption.keySource: Microsoft.KeyVault`)."


@resource_rule(RuleMeta(
    name="azure-data-services-entra-auth",
    description="Authenticate to Azure SQL, Cosmos DB and Service Bus with Entra ID only (no local keys or SQL "
                "logins).",
    severity="medium", area="azure", controls=m.AUTHENTICATION, checks=("CKV_AZURE_140",),
    remediation="Cosmos DB / Service Bus: disableLocalAuth true; SQL: administrators.azureADOnlyAuthentication true "
                "with an Entra administrator.",
), with_previous([SQL_SERVER, COSMOS, SERVICEBUS]))
def azure_entra_auth(args: ResourceValidationArgs) -> Iterator[str]:
    if args.resource_type == SQL_SERVER:
        if get(args.props, "administrators.azureADOnlyAuthentication") is not True:
            yield f"{_s(args)} must use Entra ID authentication only (`administrators.azureADOnlyAuthentication`)."
    elif get(args.props, "disableLocalAuth") is not True:
        yield f"{_s(args)} must disable local (key) authentication (`disableLocalAuth: true`)."


def _server_ref_keys(r: PolicyResource) -> set[str]:
    return reference_keys(r, "serverName")


@stack_rule(RuleMeta(
    name="azure-sql-tde-cmk",
    description="Protect Azure SQL transparent data encryption with a customer-managed Key Vault key.",
    severity="high", area="azure", controls=m.ENCRYPTION_AT_REST,
    remediation="Add an azure-native sql.EncryptionProtector (serverKeyType `AzureKeyVault`, serverKeyName of an "
                "sql.ServerKey holding the Key Vault key URI) for the server.",
), [SQL_SERVER, SQL_ENCRYPTION_PROTECTOR])
def sql_tde_cmk(args: StackValidationArgs) -> Iterator[tuple[str, str | None]]:
    protected: set[str] = set()
    for r in args.resources:
        if r.resource_type == SQL_ENCRYPTION_PROTECTOR:
            try:
                kind = get(r.props, "serverKeyType")
            except Exception:  # noqa: BLE001 - unknown: cannot count as protection
                kind = None
            if kind == "AzureKeyVault":
                protected |= _server_ref_keys(r)

    def check(server: PolicyResource) -> Iterator[str]:
        names = {"value:" + n for n in (get(server.props, "serverName"), get(server.props, "name")) if isinstance(n, str)}
        if not (target_keys(server) | names) & protected:
            yield (f"{subject(server.resource_type, server.name)} must protect TDE with a customer-managed key "
                   "(an EncryptionProtector with serverKeyType AzureKeyVault).")

    yield from guarded(args.resources, frozenset({SQL_SERVER}), check)


@resource_rule(RuleMeta(
    name="azure-keyvault-secret-expiry",
    description="Give Key Vault secrets an expiry date.",
    severity="medium", area="azure", controls=m.KEY_MANAGEMENT, checks=("CKV_AZURE_41",),
    remediation="Set properties.attributes.expires (seconds since 1970-01-01) and rotate before it.",
), [KV_SECRET])
def kv_secret_expiry(args: ResourceValidationArgs) -> Iterator[str]:
    if not get(args.props, "properties.attributes.expires"):
        yield f"{_s(args)} must expire (`properties.attributes.expires`)."


# --- GCP -------------------------------------------------------------------------------------------------------------
CLOUD_SQL = "gcp:sql/databaseInstance:DatabaseInstance"
PUBSUB_TOPIC = "gcp:pubsub/topic:Topic"
PUBSUB_IAM = frozenset({"gcp:pubsub/topicIAMMember:TopicIAMMember", "gcp:pubsub/topicIAMBinding:TopicIAMBinding",
                        "gcp:pubsub/subscriptionIAMMember:SubscriptionIAMMember",
                        "gcp:pubsub/subscriptionIAMBinding:SubscriptionIAMBinding"})
GCP_SECRET = "gcp:secretmanager/secret:Secret"
GCP_SECRET_IAM = frozenset({"gcp:secretmanager/secretIamMember:SecretIamMember",
                            "gcp:secretmanager/secretIamBinding:SecretIamBinding"})


@resource_rule(RuleMeta(
    name="gcp-cloudsql-not-public",
    description="Give Cloud SQL instances no public IP (private IP or Private Service Connect only).",
    severity="critical", area="gcp", controls=m.NETWORK_EXPOSURE,
    # CKV_GCP_60 fails ipv4_enabled true, CKV_GCP_11 an authorized network of 0.0.0.0/0 (which needs a public IP);
    # both fail here. The provider: "At least `ipv4_enabled` must be enabled or a `private_network` must be
    # configured" (DatabaseInstanceSettingsIpConfigurationArgs), so no private network means a public IP.
    checks=("CKV_GCP_60", "CKV_GCP_11"),
    remediation="Set settings.ipConfiguration {ipv4Enabled: false, privateNetwork: <VPC self link>} (or "
                "pscConfigs) and connect through the Cloud SQL Auth Proxy.",
), [CLOUD_SQL])
def cloudsql_not_public(args: ResourceValidationArgs) -> Iterator[str]:
    ip = "settings.ipConfiguration"
    ipv4 = get(args.props, f"{ip}.ipv4Enabled")
    private = get(args.props, f"{ip}.privateNetwork") or items(args.props, f"{ip}.pscConfigs")
    if ipv4 is True or (ipv4 is None and not private):
        world = [get(n, "value") for n in items(args.props, f"{ip}.authorizedNetworks")
                 if get(n, "value") in ("0.0.0.0/0", "::/0")]
        extra = f", authorized for {', '.join(world)}" if world else ""
        yield f"{_s(args)} must not have a public IP (`{ip}.ipv4Enabled`{extra})."


@resource_rule(RuleMeta(
    name="gcp-cloudsql-tls",
    description="Accept only encrypted connections on Cloud SQL instances.",
    severity="high", area="gcp", controls=m.ENCRYPTION_IN_TRANSIT,
    remediation="Set settings.ipConfiguration.sslMode `ENCRYPTED_ONLY` (or `TRUSTED_CLIENT_CERTIFICATE_REQUIRED`).",
), [CLOUD_SQL])
def cloudsql_tls(args: ResourceValidationArgs) -> Iterator[str]:
    if get(args.props, "settings.ipConfiguration.sslMode") not in ("ENCRYPTED_ONLY", "TRUSTED_CLIENT_CERTIFICATE_REQUIRED"):
        yield f"{_s(args)} must accept only encrypted connections (`settings.ipConfiguration.sslMode`)."


@resource_rule(RuleMeta(
    name="gcp-cloudsql-backups-protection",
    description="Back up Cloud SQL instances and protect them against deletion.",
    severity="medium", area="gcp", controls=m.AVAILABILITY, checks=("CKV_GCP_14",),
    remediation="Set settings.backupConfiguration.enabled true, settings.deletionProtectionEnabled true (all "
                "surfaces) and keep deletionProtection (the provider's own guard, default true).",
), [CLOUD_SQL])
def cloudsql_backups(args: ResourceValidationArgs) -> Iterator[str]:
    if get(args.props, "settings.backupConfiguration.enabled") is not True:
        yield f"{_s(args)} must take automated backups (`settings.backupConfiguration.enabled`)."
    if get(args.props, "deletionProtection") is False or get(args.props, "settings.deletionProtectionEnabled") is not True:
        yield f"{_s(args)} must be protected against deletion (`settings.deletionProtectionEnabled: true`)."


@resource_rule(RuleMeta(
    name="gcp-data-services-cmek",
    description="Encrypt Cloud SQL instances, Pub/Sub topics and Secret Manager secrets with customer-managed keys.",
    severity="high", area="gcp", controls=m.ENCRYPTION_AT_REST,
    # checkov CloudPubSubEncryptedWithCMK tests kms_key_name on topics, one of this rule's tests.
    checks=("CKV_GCP_83",),
    remediation="Cloud SQL: encryptionKeyName; Pub/Sub: kmsKeyName; Secret Manager: "
                "replication.auto.customerManagedEncryption.kmsKeyName (or customerManagedEncryption on every "
                "user-managed replica).",
), [CLOUD_SQL, PUBSUB_TOPIC, GCP_SECRET])
def gcp_data_cmek(args: ResourceValidationArgs) -> Iterator[str]:
    s = _s(args)
    if args.resource_type == CLOUD_SQL:
        if not get(args.props, "encryptionKeyName"):
            yield f"{s} must encrypt with a customer-managed key (`encryptionKeyName`)."
    elif args.resource_type == PUBSUB_TOPIC:
        if not get(args.props, "kmsKeyName"):
            yield f"{s} must encrypt messages with a customer-managed key (`kmsKeyName`)."
    else:
        auto = get(args.props, "replication.auto")
        replicas = items(args.props, "replication.userManaged.replicas")
        if auto is not None and get(auto, "customerManagedEncryption.kmsKeyName"):
            return
        if replicas and all(get(r, "customerManagedEncryption.kmsKeyName") for r in replicas):
            return
        yield f"{s} must encrypt with a customer-managed key (`replication...customerManagedEncryption`)."


@resource_rule(RuleMeta(
    name="gcp-data-services-not-public",
    description="Do not grant Pub/Sub topics, subscriptions or Secret Manager secrets to allUsers or "
                "allAuthenticatedUsers.",
    severity="critical", area="gcp", controls=m.merge(m.ACCESS_CONTROL, m.NETWORK_EXPOSURE), checks=("CKV_GCP_99",),
    remediation="Grant the role to the service accounts that publish, subscribe or read the secret.",
), PUBSUB_IAM | GCP_SECRET_IAM)
def gcp_data_not_public(args: ResourceValidationArgs) -> Iterator[str]:
    if _grants_public(args.props):
        yield f"{_s(args)} must not grant access to allUsers or allAuthenticatedUsers."


RULES = (
    rds_not_public, rds_encrypted, rds_backups, rds_deletion, messaging_kms, messaging_not_public, dynamodb_cmk,
    dynamodb_recovery, secret_cmk, cache_cluster_encrypted, azure_data_not_public, azure_data_tls, azure_data_cmk,
    azure_entra_auth, sql_tde_cmk, kv_secret_expiry, cloudsql_not_public, cloudsql_tls, cloudsql_backups,
    gcp_data_cmek, gcp_data_not_public,
)
