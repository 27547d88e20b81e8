"""Coverage by class, per cloud: one insecure resource added to a program at a time is caught on that resource by
the default packs (aienv-security + aienv-ai); its clean variant draws no finding from the class's rules.

Each case is a real Pulumi program (provider SDK resources under mocks), run through the same `run_packs` that
`aienv check --program` uses.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_azure_native as az
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s
import pulumi_random as random
import pytest
from mockplan import plan

from aienv.check import from_export, run_packs
from policies.rules import (
    ai_services,
    compute_metadata,
    data_stores,
    identity_common,
    network_exposure,
    secrets,
)

DEFAULT_PACKS = ["aienv-security", "aienv-ai"]
RG = "rg"
AWS_KEY = "arn:aws:kms:us-east-1:123456789012:key/0f1e2d3c-aaaa-bbbb-cccc-111122223333"
GCP_KEY = "projects/p/locations/europe-west4/keyRings/ring/cryptoKeys/key"
SUB = "/subscriptions/00000000-0000-0000-0000-000000000000"
NOBODY = pulumi.ResourceOptions()


@dataclass(frozen=True)
class Case:
    id: str
    policy: str
    resource: str  # logical name of the resource the finding must be on ("" for a stack finding)
    insecure: Callable[[], None]
    clean: Callable[[], None]


CLASS_RULES = {r.meta.name for mod in (network_exposure, identity_common, data_stores, compute_metadata, secrets,
                                       ai_services) for r in mod.RULES}


def _sg(name: str, port: int, cidr: str) -> Callable[[], None]:
    return lambda: aws.ec2.SecurityGroup(name, vpc_id="vpc-1", ingress=[aws.ec2.SecurityGroupIngressArgs(
        protocol="tcp", from_port=port, to_port=port, cidr_blocks=[cidr])])


def _sg_rule(name: str, port: int, cidr: str) -> Callable[[], None]:
    return lambda: aws.ec2.SecurityGroupRule(name, type="ingress", security_group_id="sg-1", protocol="tcp",
                                             from_port=port, to_port=port, cidr_blocks=[cidr])


def _vpc_rule(name: str, protocol: str, cidr: str) -> Callable[[], None]:
    return lambda: aws.vpc.SecurityGroupIngressRule(name, security_group_id="sg-1", ip_protocol=protocol,
                                                    from_port=None if protocol == "-1" else 443,
                                                    to_port=None if protocol == "-1" else 443, cidr_ipv4=cidr)


def _nsg(name: str, port: str, source: str) -> Callable[[], None]:
    return lambda: az.network.NetworkSecurityGroup(name, resource_group_name=RG, security_rules=[
        az.network.SecurityRuleArgs(name="in", priority=100, direction="Inbound", access="Allow", protocol="Tcp",
                                    source_address_prefix=source, source_port_range="*",
                                    destination_address_prefix="*", destination_port_range=port)])


def _nsg_rule(name: str, ports: list[str], source: str) -> Callable[[], None]:
    return lambda: az.network.SecurityRule(name, resource_group_name=RG, network_security_group_name="nsg",
                                           priority=110, direction="Inbound", access="Allow", protocol="*",
                                           source_address_prefix=source, source_port_range="*",
                                           destination_address_prefix="*", destination_port_ranges=ports)


def _firewall(name: str, ports: list[str], ranges: list[str]) -> Callable[[], None]:
    return lambda: gcp.compute.Firewall(name, network="vpc", source_ranges=ranges,
                                        allows=[gcp.compute.FirewallAllowArgs(protocol="tcp", ports=ports)])


def _listener(name: str, protocol: str, redirect: bool) -> Callable[[], None]:
    action = ({"type": "redirect", "redirect": {"protocol": "HTTPS", "port": "443", "status_code": "HTTP_301"}}
              if redirect else {"type": "forward", "target_group_arn": "arn:aws:elasticloadbalancing:tg"})
    return lambda: aws.lb.Listener(name, load_balancer_arn="arn:aws:elasticloadbalancing:lb", port=80,
                                   protocol=protocol, default_actions=[action])


def _elb(name: str, protocol: str) -> Callable[[], None]:
    return lambda: aws.elb.LoadBalancer(name, availability_zones=["us-east-1a"], listeners=[
        {"instance_port": 8080, "instance_protocol": "http", "lb_port": 443, "lb_protocol": protocol,
         "ssl_certificate_id": "arn:aws:acm:cert" if protocol == "https" else None}])


def _app_gateway(name: str, https_redirect: bool) -> Callable[[], None]:
    gw = f"{SUB}/resourceGroups/{RG}/providers/Microsoft.Network/applicationGateways/{name}"

    def program() -> None:
        rules = [{"name": "http-rule", "priority": 100, "rule_type": "Basic",
                  "http_listener": {"id": f"{gw}/httpListeners/http"}}]
        redirects = []
        if https_redirect:
            rules[0]["redirect_configuration"] = {"id": f"{gw}/redirectConfigurations/to-https"}
            redirects = [{"name": "to-https", "redirect_type": "Permanent",
                          "target_listener": {"id": f"{gw}/httpListeners/https"}}]
        az.network.ApplicationGateway(name, resource_group_name=RG, http_listeners=[
            {"name": "http", "protocol": "Http"}, {"name": "https", "protocol": "Https"}],
            request_routing_rules=rules, redirect_configurations=redirects)
    return program


def _http_proxy(name: str, redirect: bool) -> Callable[[], None]:
    def program() -> None:
        if redirect:
            url_map = gcp.compute.URLMap(f"{name}-map", default_url_redirect={
                "https_redirect": True, "strip_query": False})
        else:
            url_map = gcp.compute.URLMap(f"{name}-map", default_service="projects/p/global/backendServices/b")
        gcp.compute.TargetHttpProxy(name, url_map=url_map.id)
    return program


NETWORK = [
    Case("aws-sg-inline-ssh", "aws-security-group-no-public-ingress", "ssh", _sg("ssh", 22, "0.0.0.0/0"),
         _sg("ssh", 22, "10.0.0.0/8")),
    Case("aws-default-sg-all", "aws-security-group-no-public-ingress", "default",
         lambda: aws.ec2.DefaultSecurityGroup("default", vpc_id="vpc-1", ingress=[{
             "protocol": "-1", "from_port": 0, "to_port": 0, "ipv6_cidr_blocks": ["::/0"]}]),
         lambda: aws.ec2.DefaultSecurityGroup("default", vpc_id="vpc-1", ingress=[{
             "protocol": "-1", "from_port": 0, "to_port": 0, "self": True}])),
    Case("aws-sg-rule-rdp", "aws-security-group-no-public-ingress", "rdp", _sg_rule("rdp", 3389, "0.0.0.0/0"),
         _sg_rule("rdp", 443, "0.0.0.0/0")),
    Case("aws-vpc-ingress-all", "aws-security-group-no-public-ingress", "all", _vpc_rule("all", "-1", "0.0.0.0/0"),
         _vpc_rule("all", "tcp", "0.0.0.0/0")),
    Case("azure-nsg-inline-ssh", "azure-nsg-no-public-ingress", "nsg", _nsg("nsg", "22", "Internet"),
         _nsg("nsg", "22", "VirtualNetwork")),
    Case("azure-nsg-rule-range", "azure-nsg-no-public-ingress", "rule", _nsg_rule("rule", ["443", "8000-9000"], "*"),
         _nsg_rule("rule", ["80", "443"], "*")),
    Case("gcp-firewall-rdp", "gcp-firewall-no-public-ingress", "fw", _firewall("fw", ["3389"], ["0.0.0.0/0"]),
         _firewall("fw", ["3389"], ["35.235.240.0/20"])),
    Case("aws-alb-http", "aws-lb-listener-tls", "web", _listener("web", "HTTP", False), _listener("web", "HTTP", True)),
    Case("aws-elb-http", "aws-elb-listener-tls", "classic", _elb("classic", "http"), _elb("classic", "https")),
    Case("azure-appgw-http", "azure-app-gateway-listener-tls", "agw", _app_gateway("agw", False),
         _app_gateway("agw", True)),
    Case("gcp-http-proxy", "gcp-lb-http-proxy-redirects", "proxy", _http_proxy("proxy", False),
         _http_proxy("proxy", True)),
]

ADMIN_ARN = "arn:aws:iam::aws:policy/AdministratorAccess"
READ_ONLY_ARN = "arn:aws:iam::aws:policy/ReadOnlyAccess"


def _role_assignment(name: str, role: str, scope: str) -> Callable[[], None]:
    return lambda: az.authorization.RoleAssignment(
        name, principal_id="00000000-0000-0000-0000-0000000000aa", principal_type="ServicePrincipal", scope=scope,
        role_definition_id=f"{SUB}/providers/Microsoft.Authorization/roleDefinitions/{role}")


IDENTITY = [
    Case("aws-role-admin-attachment", "aws-iam-no-admin-policy-attached", "admin",
         lambda: aws.iam.RolePolicyAttachment("admin", role="ci", policy_arn=ADMIN_ARN),
         lambda: aws.iam.RolePolicyAttachment("admin", role="ci", policy_arn=READ_ONLY_ARN)),
    Case("aws-group-admin-attachment", "aws-iam-no-admin-policy-attached", "ops",
         lambda: aws.iam.GroupPolicyAttachment("ops", group="ops", policy_arn=ADMIN_ARN),
         lambda: aws.iam.GroupPolicyAttachment("ops", group="ops", policy_arn=READ_ONLY_ARN)),
    Case("aws-role-managed-admin", "aws-iam-no-admin-policy-attached", "deployer",
         lambda: aws.iam.Role("deployer", assume_role_policy=json.dumps({"Statement": [{
             "Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}),
             managed_policy_arns=[ADMIN_ARN]),
         lambda: aws.iam.Role("deployer", assume_role_policy=json.dumps({"Statement": [{
             "Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}),
             managed_policy_arns=[READ_ONLY_ARN])),
    Case("aws-user-attachment", "aws-iam-no-user-policies", "alice",
         lambda: aws.iam.UserPolicyAttachment("alice", user="alice", policy_arn=READ_ONLY_ARN),
         lambda: aws.iam.GroupPolicyAttachment("alice", group="readers", policy_arn=READ_ONLY_ARN)),
    Case("aws-policy-attachment-users", "aws-iam-no-user-policies", "shared",
         lambda: aws.iam.PolicyAttachment("shared", policy_arn=READ_ONLY_ARN, users=["bob"]),
         lambda: aws.iam.PolicyAttachment("shared", policy_arn=READ_ONLY_ARN, groups=["readers"])),
    Case("aws-user-inline-admin", "aws-iam-no-admin", "inline",
         lambda: aws.iam.UserPolicy("inline", user="bob", policy=json.dumps({"Statement": [{
             "Effect": "Allow", "Action": "*", "Resource": "*"}]})),
         lambda: aws.iam.GroupPolicy("inline", group="readers", policy=json.dumps({"Statement": [{
             "Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::data/*"}]}))),
    Case("azure-owner-on-subscription", "azure-no-privileged-role-assignments", "owner",
         _role_assignment("owner", "8e3af657-a8ff-443c-a75c-2fe8c4bcb635", SUB),
         _role_assignment("owner", "acdd72a7-3385-48ef-bd42-f606fba81ae7", SUB)),
    Case("azure-contributor-on-rg", "azure-no-privileged-role-assignments", "contrib",
         _role_assignment("contrib", "b24988ac-6180-42a0-ab88-20f7382dd24c", f"{SUB}/resourceGroups/{RG}"),
         _role_assignment("contrib", "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
                          f"{SUB}/resourceGroups/{RG}/providers/Microsoft.Storage/storageAccounts/a/blobServices/"
                          "default/containers/c")),
    Case("azure-uaa-on-resource", "azure-no-privileged-role-assignments", "uaa",
         _role_assignment("uaa", "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9",
                          f"{SUB}/resourceGroups/{RG}/providers/Microsoft.KeyVault/vaults/v"),
         _role_assignment("uaa", "4633458b-17de-408a-b874-0445c86b69e6",
                          f"{SUB}/resourceGroups/{RG}/providers/Microsoft.KeyVault/vaults/v")),
    Case("azure-custom-owner-role", "azure-no-custom-owner-roles", "godmode",
         lambda: az.authorization.RoleDefinition("godmode", scope=SUB, role_name="god", assignable_scopes=[SUB],
                                                 permissions=[{"actions": ["*"]}]),
         lambda: az.authorization.RoleDefinition("godmode", scope=SUB, role_name="reader", assignable_scopes=[SUB],
                                                 permissions=[{"actions": ["Microsoft.Storage/*/read"]}])),
    Case("gcp-project-owner-member", "gcp-iam-no-basic-roles", "owner",
         lambda: gcp.projects.IAMMember("owner", project="p", role="roles/owner", member="user:a@example.com"),
         lambda: gcp.projects.IAMMember("owner", project="p", role="roles/logging.viewer",
                                        member="user:a@example.com")),
    Case("gcp-folder-editor-binding", "gcp-iam-no-basic-roles", "editors",
         lambda: gcp.folder.IAMBinding("editors", folder="folders/1", role="roles/editor", members=["group:g@x.com"]),
         lambda: gcp.folder.IAMBinding("editors", folder="folders/1", role="roles/browser", members=["group:g@x.com"])),
    Case("gcp-org-viewer-policy", "gcp-iam-no-basic-roles", "org",
         lambda: gcp.organizations.IAMPolicy("org", org_id="1", policy_data=json.dumps({"bindings": [
             {"role": "roles/viewer", "members": ["domain:example.com"]}]})),
         lambda: gcp.organizations.IAMPolicy("org", org_id="1", policy_data=json.dumps({"bindings": [
             {"role": "roles/resourcemanager.organizationViewer", "members": ["domain:example.com"]}]}))),
]


def _rds(name: str, **kw: object) -> Callable[[], None]:
    base: dict[str, object] = dict(engine="postgres", instance_class="db.t4g.micro", allocated_storage=20,
                                   username="app", manage_master_user_password=True, storage_encrypted=True,
                                   kms_key_id=AWS_KEY, backup_retention_period=7, deletion_protection=True,
                                   publicly_accessible=False)
    base.update(kw)
    return lambda: aws.rds.Instance(name, **base)  # type: ignore[arg-type]


def _cloudsql(name: str, **settings: object) -> Callable[[], None]:
    ip = {"ipv4_enabled": False, "private_network": "projects/p/global/networks/vpc", "ssl_mode": "ENCRYPTED_ONLY"}
    s: dict[str, object] = {"tier": "db-custom-2-7680", "ip_configuration": ip, "deletion_protection_enabled": True,
                            "backup_configuration": {"enabled": True}}
    ip.update({k: v for k, v in settings.items() if k in ip or k == "authorized_networks"})
    s.update({k: v for k, v in settings.items() if k not in ip and k != "authorized_networks"})
    return lambda: gcp.sql.DatabaseInstance(name, database_version="POSTGRES_16", region="europe-west4",
                                            encryption_key_name=GCP_KEY, settings=s)


def _sql_server(name: str, protector: bool = True, **kw: object) -> Callable[[], None]:
    args: dict[str, object] = dict(resource_group_name=RG, server_name=name, public_network_access="Disabled",
                                   minimal_tls_version="1.2", administrators={
                                       "azure_ad_only_authentication": True, "login": "dba", "sid": "s"})
    args.update(kw)

    def program() -> None:
        server = az.sql.Server(name, **args)  # type: ignore[arg-type]
        az.sql.EncryptionProtector(f"{name}-tde", resource_group_name=RG, server_name=server.name,
                                   encryption_protector_name="current",
                                   server_key_type="AzureKeyVault" if protector else "ServiceManaged",
                                   server_key_name="vault_key_v1" if protector else None)
    return program


def _postgres(name: str, public: str = "Disabled") -> Callable[[], None]:
    return lambda: az.dbforpostgresql.Server(name, resource_group_name=RG, network={"public_network_access": public},
                                             data_encryption={"type": "AzureKeyVault",
                                                              "primary_key_uri": "https://v.vault.azure.net/keys/k/1",
                                                              "primary_user_assigned_identity_id": "/id"})


def _servicebus(name: str, **kw: object) -> Callable[[], None]:
    args: dict[str, object] = dict(resource_group_name=RG, sku={"name": "Premium"}, disable_local_auth=True,
                                   public_network_access="Disabled", minimum_tls_version="1.2",
                                   encryption={"key_source": "Microsoft.KeyVault", "key_vault_properties": [
                                       {"key_name": "k", "key_vault_uri": "https://v.vault.azure.net"}]})
    args.update(kw)
    return lambda: az.servicebus.Namespace(name, **args)  # type: ignore[arg-type]


def _table(name: str, **kw: object) -> Callable[[], None]:
    args: dict[str, object] = dict(hash_key="id", attributes=[{"name": "id", "type": "S"}],
                                   billing_mode="PAY_PER_REQUEST", point_in_time_recovery={"enabled": True},
                                   deletion_protection_enabled=True,
                                   server_side_encryption={"enabled": True, "kms_key_arn": AWS_KEY})
    args.update(kw)
    return lambda: aws.dynamodb.Table(name, **args)  # type: ignore[arg-type]


def _cosmos(name: str, **kw: object) -> Callable[[], None]:
    base: dict[str, object] = dict(resource_group_name=RG, database_account_offer_type="Standard",
                                   locations=[{"location_name": "westeurope"}], public_network_access="Disabled",
                                   key_vault_key_uri="https://v.vault.azure.net/keys/k", disable_local_auth=True,
                                   minimal_tls_version="Tls12")
    base.update(kw)
    return lambda: az.cosmosdb.DatabaseAccount(name, **base)  # type: ignore[arg-type]


DATA = [
    Case("aws-rds-public", "aws-rds-not-public", "db", _rds("db", publicly_accessible=True), _rds("db")),
    Case("aws-rds-unencrypted", "aws-rds-encrypted-cmk", "db", _rds("db", storage_encrypted=False, kms_key_id=None),
         _rds("db")),
    Case("aws-rds-aws-managed-key", "aws-rds-encrypted-cmk", "db", _rds("db", kms_key_id="alias/aws/rds"), _rds("db")),
    Case("aws-rds-no-backups", "aws-rds-backups", "db", _rds("db", backup_retention_period=0), _rds("db")),
    Case("aws-rds-deletable", "aws-rds-deletion-protection", "db", _rds("db", deletion_protection=False), _rds("db")),
    Case("aws-aurora-unencrypted", "aws-rds-encrypted-cmk", "aurora",
         lambda: aws.rds.Cluster("aurora", engine="aurora-postgresql", master_username="app",
                                 manage_master_user_password=True, backup_retention_period=7, deletion_protection=True),
         lambda: aws.rds.Cluster("aurora", engine="aurora-postgresql", master_username="app",
                                 manage_master_user_password=True, backup_retention_period=7, deletion_protection=True,
                                 storage_encrypted=True, kms_key_id=AWS_KEY)),
    Case("aws-sqs-sse-sqs", "aws-messaging-kms", "jobs",
         lambda: aws.sqs.Queue("jobs", sqs_managed_sse_enabled=True),
         lambda: aws.sqs.Queue("jobs", kms_master_key_id=AWS_KEY)),
    Case("aws-sns-unencrypted", "aws-messaging-kms", "alerts", lambda: aws.sns.Topic("alerts"),
         lambda: aws.sns.Topic("alerts", kms_master_key_id=AWS_KEY)),
    Case("aws-sqs-public-policy", "aws-messaging-not-public", "jobs-policy",
         lambda: aws.sqs.QueuePolicy("jobs-policy", queue_url="https://sqs/jobs", policy=json.dumps({"Statement": [{
             "Effect": "Allow", "Principal": "*", "Action": "sqs:SendMessage", "Resource": "*"}]})),
         lambda: aws.sqs.QueuePolicy("jobs-policy", queue_url="https://sqs/jobs", policy=json.dumps({"Statement": [{
             "Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"}, "Action": "sqs:SendMessage",
             "Resource": "*", "Condition": {"ArnEquals": {"aws:SourceArn": "arn:aws:sns:us-east-1:1:t"}}}]}))),
    Case("aws-dynamodb-default-key", "aws-dynamodb-encryption-cmk", "table", _table("table", server_side_encryption=None),
         _table("table")),
    Case("aws-dynamodb-no-pitr", "aws-dynamodb-recovery", "table",
         _table("table", point_in_time_recovery=None, deletion_protection_enabled=None), _table("table")),
    Case("aws-secret-default-key", "aws-secretsmanager-cmk", "token", lambda: aws.secretsmanager.Secret("token"),
         lambda: aws.secretsmanager.Secret("token", kms_key_id=AWS_KEY)),
    Case("aws-redis-standalone", "aws-elasticache-cluster-encrypted", "cache",
         lambda: aws.elasticache.Cluster("cache", engine="redis", node_type="cache.t4g.micro", num_cache_nodes=1),
         lambda: aws.elasticache.ServerlessCache("cache", engine="valkey", kms_key_id=AWS_KEY)),
    Case("azure-sql-public", "azure-data-services-not-public", "sqlsrv",
         _sql_server("sqlsrv", public_network_access="Enabled"), _sql_server("sqlsrv")),
    Case("azure-sql-firewall-any", "azure-data-services-not-public", "any",
         lambda: az.sql.FirewallRule("any", resource_group_name=RG, server_name="s", start_ip_address="0.0.0.0",
                                     end_ip_address="255.255.255.255"),
         lambda: az.sql.FirewallRule("any", resource_group_name=RG, server_name="s", start_ip_address="10.0.0.1",
                                     end_ip_address="10.0.0.10")),
    Case("azure-postgres-public", "azure-data-services-not-public", "pg", _postgres("pg", "Enabled"), _postgres("pg")),
    Case("azure-cosmos-public", "azure-data-services-not-public", "cosmos", _cosmos("cosmos", public_network_access="Enabled"),
         _cosmos("cosmos")),
    Case("azure-sql-tls10", "azure-data-services-tls12", "sqlsrv", _sql_server("sqlsrv", minimal_tls_version="1.0"),
         _sql_server("sqlsrv")),
    Case("azure-postgres-tls-off", "azure-data-services-tls12", "require_secure_transport",
         lambda: az.dbforpostgresql.Configuration("require_secure_transport", resource_group_name=RG, server_name="pg",
                                                  configuration_name="require_secure_transport", value="off",
                                                  source="user-override"),
         lambda: az.dbforpostgresql.Configuration("require_secure_transport", resource_group_name=RG, server_name="pg",
                                                  configuration_name="require_secure_transport", value="on",
                                                  source="user-override")),
    Case("azure-cosmos-no-cmk", "azure-data-services-cmk", "cosmos", _cosmos("cosmos", key_vault_key_uri=None),
         _cosmos("cosmos")),
    Case("azure-servicebus-local-auth", "azure-data-services-entra-auth", "bus", _servicebus("bus", disable_local_auth=None),
         _servicebus("bus")),
    Case("azure-servicebus-tls10", "azure-data-services-tls12", "bus", _servicebus("bus", minimum_tls_version="1.0"),
         _servicebus("bus")),
    Case("azure-sql-service-managed-tde", "azure-sql-tde-cmk", "sqlsrv", _sql_server("sqlsrv", False),
         _sql_server("sqlsrv", True)),
    Case("azure-secret-no-expiry", "azure-keyvault-secret-expiry", "api-key",
         lambda: az.keyvault.Secret("api-key", resource_group_name=RG, vault_name="v",
                                    properties={"content_type": "text/plain"}),
         lambda: az.keyvault.Secret("api-key", resource_group_name=RG, vault_name="v",
                                    properties={"content_type": "text/plain", "attributes": {"expires": 1900000000}})),
    Case("gcp-cloudsql-public-ip", "gcp-cloudsql-not-public", "pg",
         _cloudsql("pg", ipv4_enabled=True, authorized_networks=[{"value": "0.0.0.0/0"}]), _cloudsql("pg")),
    Case("gcp-cloudsql-unencrypted-connections", "gcp-cloudsql-tls", "pg",
         _cloudsql("pg", ssl_mode="ALLOW_UNENCRYPTED_AND_ENCRYPTED"), _cloudsql("pg")),
    Case("gcp-cloudsql-no-backups", "gcp-cloudsql-backups-protection", "pg",
         _cloudsql("pg", backup_configuration={"enabled": False}), _cloudsql("pg")),
    Case("gcp-pubsub-google-key", "gcp-data-services-cmek", "events", lambda: gcp.pubsub.Topic("events"),
         lambda: gcp.pubsub.Topic("events", kms_key_name=GCP_KEY)),
    Case("gcp-secret-google-key", "gcp-data-services-cmek", "hf-token",
         lambda: gcp.secretmanager.Secret("hf-token", secret_id="hf", replication={"auto": {}}),
         lambda: gcp.secretmanager.Secret("hf-token", secret_id="hf", replication={
             "auto": {"customer_managed_encryption": {"kms_key_name": GCP_KEY}}})),
    Case("gcp-topic-public", "gcp-data-services-not-public", "events-pub",
         lambda: gcp.pubsub.TopicIAMMember("events-pub", topic="events", role="roles/pubsub.publisher",
                                           member="allUsers"),
         lambda: gcp.pubsub.TopicIAMMember("events-pub", topic="events", role="roles/pubsub.publisher",
                                           member="serviceAccount:app@p.iam.gserviceaccount.com")),
]


def _instance(name: str, **kw: object) -> Callable[[], None]:
    base: dict[str, object] = dict(ami="ami-1", instance_type="t3.micro", subnet_id="subnet-1",
                                   metadata_options={"http_tokens": "required", "http_put_response_hop_limit": 1})
    base.update(kw)
    return lambda: aws.ec2.Instance(name, **base)  # type: ignore[arg-type]


def _launch_template(name: str, tokens: str, hops: int, public: str = "false") -> Callable[[], None]:
    return lambda: aws.ec2.LaunchTemplate(name, image_id="ami-1", metadata_options={
        "http_endpoint": "enabled", "http_tokens": tokens, "http_put_response_hop_limit": hops},
        network_interfaces=[{"associate_public_ip_address": public, "subnet_id": "subnet-1"}])


def _gce(name: str, **kw: object) -> Callable[[], None]:
    base: dict[str, object] = dict(machine_type="e2-small", zone="europe-west4-a",
                                   boot_disk={"initialize_params": {"image": "debian-12"}},
                                   network_interfaces=[{"network": "vpc"}],
                                   service_account={"email": "app@p.iam.gserviceaccount.com", "scopes": ["cloud-platform"]})
    base.update(kw)
    return lambda: gcp.compute.Instance(name, **base)  # type: ignore[arg-type]


def _nic(name: str, public: bool) -> Callable[[], None]:
    conf: dict[str, object] = {"name": "ipconfig", "subnet": {"id": f"{SUB}/subnets/s"}}
    if public:
        conf["public_ip_address"] = {"id": f"{SUB}/publicIPAddresses/pip"}
    return lambda: az.network.NetworkInterface(name, resource_group_name=RG, ip_configurations=[conf])


def _vm(name: str, passwords: bool) -> Callable[[], None]:
    linux = ({"disable_password_authentication": False} if passwords else
             {"disable_password_authentication": True, "ssh": {"public_keys": [
                 {"path": "/home/ops/.ssh/authorized_keys", "key_data": "ssh-ed25519 AAAA ops"}]}})
    return lambda: az.compute.VirtualMachine(name, resource_group_name=RG, os_profile={
        "computer_name": name, "admin_username": "ops", "linux_configuration": linux},
        network_profile={"network_interfaces": [{"id": f"{SUB}/networkInterfaces/nic"}]})


COMPUTE = [
    Case("aws-instance-imdsv1", "aws-ec2-imdsv2-required", "vm",
         _instance("vm", metadata_options={"http_tokens": "optional"}), _instance("vm")),
    Case("aws-launch-template-imdsv1", "aws-ec2-imdsv2-required", "lt", _launch_template("lt", "optional", 1),
         _launch_template("lt", "required", 1)),
    Case("aws-launch-template-hops", "aws-ec2-imds-hop-limit", "lt", _launch_template("lt", "required", 3),
         _launch_template("lt", "required", 1)),
    Case("aws-instance-public-ip", "aws-ec2-no-public-ip", "vm", _instance("vm", associate_public_ip_address=True),
         _instance("vm", associate_public_ip_address=False)),
    Case("aws-launch-template-public-ip", "aws-ec2-no-public-ip", "lt", _launch_template("lt", "required", 1, "true"),
         _launch_template("lt", "required", 1)),
    Case("aws-subnet-public-default", "aws-ec2-no-public-ip", "subnet",
         lambda: aws.ec2.Subnet("subnet", vpc_id="vpc-1", cidr_block="10.0.0.0/24", map_public_ip_on_launch=True),
         lambda: aws.ec2.Subnet("subnet", vpc_id="vpc-1", cidr_block="10.0.0.0/24")),
    Case("azure-nic-public-ip", "azure-no-public-ip-on-nics", "nic", _nic("nic", True), _nic("nic", False)),
    Case("azure-vm-passwords", "azure-linux-vm-ssh-keys", "vm", _vm("vm", True), _vm("vm", False)),
    Case("gcp-instance-external-ip", "gcp-compute-no-public-ip", "vm",
         _gce("vm", network_interfaces=[{"network": "vpc", "access_configs": [{}]}]), _gce("vm")),
    Case("gcp-instance-default-sa", "gcp-no-default-compute-service-account", "vm",
         _gce("vm", service_account={"email": "123456789012-compute@developer.gserviceaccount.com",
                                     "scopes": ["cloud-platform"]}), _gce("vm")),
    Case("gcp-node-pool-default-sa", "gcp-no-default-compute-service-account", "pool",
         lambda: gcp.container.NodePool("pool", cluster="gke", node_config={"machine_type": "e2-standard-4"}),
         lambda: gcp.container.NodePool("pool", cluster="gke", node_config={
             "machine_type": "e2-standard-4", "service_account": "nodes@p.iam.gserviceaccount.com"})),
]


def _password_db(name: str, generated: bool) -> Callable[[], None]:
    def program() -> None:
        password: pulumi.Input[str] = (random.RandomPassword(f"{name}-password", length=24).result if generated
                                       else "hunter2hunter2")
        aws.rds.Instance(name, engine="postgres", instance_class="db.t4g.micro", allocated_storage=20,
                         username="app", password=password, storage_encrypted=True, kms_key_id=AWS_KEY,
                         backup_retention_period=7, deletion_protection=True)
    return program


def _lambda(name: str, env: dict[str, str]) -> Callable[[], None]:
    return lambda: aws.lambda_.Function(name, role="arn:aws:iam::1:role/fn", runtime="python3.12", handler="app.h",
                                        code=pulumi.AssetArchive({}), environment={"variables": env})


def _deployment(name: str, env: list[dict[str, object]]) -> Callable[[], None]:
    return lambda: k8s.apps.v1.Deployment(name, spec={
        "selector": {"match_labels": {"app": name}},
        "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [
            {"name": "app", "image": "registry.example.com/app@sha256:" + "0" * 64, "env": env}]}}})


def _cloud_run(name: str, env: list[dict[str, object]]) -> Callable[[], None]:
    return lambda: gcp.cloudrunv2.Service(name, location="europe-west4", template={"containers": [
        {"image": "europe-docker.pkg.dev/p/r/app:1.0", "envs": env}]})


def _container_app(name: str, env: list[dict[str, object]]) -> Callable[[], None]:
    return lambda: az.app.ContainerApp(name, resource_group_name=RG, template={"containers": [
        {"name": "app", "image": "acr.azurecr.io/app:1.0", "env": env}]})


HF_TOKEN = "hf_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7"

SECRETS = [
    Case("aws-rds-literal-password", "secrets-no-plaintext-passwords", "db", _password_db("db", False),
         _password_db("db", True)),
    Case("azure-sql-literal-password", "secrets-no-plaintext-passwords", "sqlsrv",
         _sql_server("sqlsrv", administrator_login="dba", administrator_login_password="Sup3r-Secret!"),
         lambda: _sql_server("sqlsrv", administrator_login="dba",
                             administrator_login_password=random.RandomPassword("sqlsrv-pw", length=24).result)()),
    Case("gcp-sql-user-literal-password", "secrets-no-plaintext-passwords", "app-user",
         lambda: gcp.sql.User("app-user", instance="pg", name="app", password="changeme123"),
         lambda: gcp.sql.User("app-user", instance="pg", name="app",
                              password=random.RandomPassword("app-user-pw", length=24).result)),
    Case("aws-secret-version-literal", "secrets-no-plaintext-passwords", "token-v1",
         lambda: aws.secretsmanager.SecretVersion("token-v1", secret_id="token", secret_string="s3cr3t-value"),
         lambda: aws.secretsmanager.SecretVersion("token-v1", secret_id="token",
                                                  secret_string=random.RandomPassword("tok", length=32).result)),
    Case("aws-lambda-env-key", "secrets-not-in-environment", "fn", _lambda("fn", {"OPENAI_API_KEY": "sk-live-abc123def456"}),
         _lambda("fn", {"OPENAI_API_KEY_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:1:secret:openai"})),
    Case("aws-lambda-env-access-key", "secrets-not-in-environment", "fn",
         _lambda("fn", {"UPSTREAM": "AKIA" + "ABCDEFGHIJKLMNOP"}), _lambda("fn", {"UPSTREAM": "https://api.example.com"})),
    Case("k8s-env-literal-token", "secrets-not-in-environment", "server",
         _deployment("server", [{"name": "HF_TOKEN", "value": HF_TOKEN}]),
         _deployment("server", [{"name": "HF_TOKEN", "value_from": {"secret_key_ref": {"name": "hf", "key": "token"}}}])),
    Case("gcp-cloud-run-env-password", "secrets-not-in-environment", "api",
         _cloud_run("api", [{"name": "DB_PASSWORD", "value": "hunter2hunter2"}]),
         _cloud_run("api", [{"name": "DB_PASSWORD", "value_source": {"secret_key_ref": {"secret": "db", "version": "1"}}}])),
    Case("azure-container-app-env-secret", "secrets-not-in-environment", "app",
         _container_app("app", [{"name": "CLIENT_SECRET", "value": "x9Q~verysecret"}]),
         _container_app("app", [{"name": "CLIENT_SECRET", "secret_ref": "client-secret"}])),
]


def _notebook(name: str, **kw: object) -> Callable[[], None]:
    base: dict[str, object] = dict(role_arn="arn:aws:iam::1:role/sm", instance_type="ml.t3.medium",
                                   direct_internet_access="Disabled", root_access="Disabled", kms_key_id=AWS_KEY,
                                   subnet_id="subnet-1", security_groups=["sg-1"],
                                   instance_metadata_service_configuration={
                                       "minimum_instance_metadata_service_version": "2"})
    base.update(kw)
    return lambda: aws.sagemaker.NotebookInstance(name, **base)  # type: ignore[arg-type]


def _agent(name: str, secure: bool) -> Callable[[], None]:
    extra: dict[str, object] = ({"customer_encryption_key_arn": AWS_KEY, "guardrail_configurations": [
        {"guardrail_identifier": "gr-1", "guardrail_version": "1"}]} if secure else {})

    def program() -> None:
        aws.bedrock.AgentAgent(name, agent_name=name, agent_resource_role_arn="arn:aws:iam::1:role/agent",
                               foundation_model="anthropic.claude-3-5-sonnet", **extra)  # type: ignore[arg-type]
        aws.bedrockmodel.InvocationLoggingConfiguration("invocations", logging_config={
            "cloudwatch_config": {"log_group_name": "bedrock", "role_arn": "arn:aws:iam::1:role/logs"}})
    return program


def _bedrock_logging(logged: bool) -> Callable[[], None]:
    def program() -> None:
        aws.bedrock.Guardrail("guard", name="guard", blocked_input_messaging="no", blocked_outputs_messaging="no",
                              kms_key_arn=AWS_KEY)
        if logged:
            aws.bedrockmodel.InvocationLoggingConfiguration("invocations", logging_config={
                "s3_config": {"bucket_name": "bedrock-logs"}, "text_data_delivery_enabled": True})
    return program


def _openai(name: str, **props: object) -> Callable[[], None]:
    base: dict[str, object] = {"public_network_access": "Disabled", "disable_local_auth": True,
                               "restrict_outbound_network_access": True, "allowed_fqdn_list": ["api.example.com"],
                               "encryption": {"key_source": "Microsoft.KeyVault", "key_vault_properties": {
                                   "key_name": "k", "key_vault_uri": "https://v.vault.azure.net",
                                   "identity_client_id": "c"}}}
    base.update(props)
    return lambda: az.cognitiveservices.Account(name, resource_group_name=RG, kind="OpenAI", sku={"name": "S0"},
                                                properties=base)


def _online_store(name: str, bigtable: bool, key: bool) -> Callable[[], None]:
    serving: dict[str, object] = (
        {"bigtable": {"auto_scaling": {"min_node_count": 1, "max_node_count": 2}}} if bigtable else {"optimized": {}})
    return lambda: gcp.vertex.AiFeatureOnlineStore(
        name, name=name, region="europe-west4", **serving,  # type: ignore[arg-type]
        encryption_spec={"kms_key_name": GCP_KEY} if key else None)


# The other Vertex AI (and Colab Enterprise) resources with `encryptionSpec.kmsKeyName`, with their required inputs.
_VERTEX_CMEK: dict[str, Callable[..., object]] = {
    "index": lambda n, **k: gcp.vertex.AiIndex(n, display_name=n, region="europe-west4",
                                                metadata={"config": {"dimensions": 8}}, **k),
    "index-endpoint": lambda n, **k: gcp.vertex.AiIndexEndpoint(
        n, display_name=n, region="europe-west4", network="projects/1/global/networks/n", **k),
    "dataset": lambda n, **k: gcp.vertex.AiDataset(n, display_name=n, metadata_schema_uri="gs://x",
                                                    region="europe-west4", **k),
    "endpoint": lambda n, **k: gcp.vertex.AiEndpoint(n, name="1", display_name=n, location="europe-west4",
                                                      network="projects/1/global/networks/n", **k),
    "featurestore": lambda n, **k: gcp.vertex.AiFeatureStore(n, region="europe-west4", **k),
    "tensorboard": lambda n, **k: gcp.vertex.AiTensorboard(n, display_name=n, region="europe-west4", **k),
    "persistent-resource": lambda n, **k: gcp.vertex.AiPersistentResource(
        n, location="europe-west4", resource_pools=[{"machine_spec": {"machine_type": "n1-standard-4"},
                                                    "replica_count": "1"}], **k),
    "rag-corpus": lambda n, **k: gcp.vertex.AiRagCorpus(n, display_name=n, region="europe-west4", **k),
    "reasoning-engine": lambda n, **k: gcp.vertex.AiReasoningEngine(n, display_name=n, region="europe-west4", **k),
    "colab-template": lambda n, **k: gcp.colab.RuntimeTemplate(n, display_name=n, location="europe-west4", **k),
}


def _vertex(build: Callable[..., object], name: str, key: bool) -> Callable[[], None]:
    return lambda: build(name, **({"encryption_spec": {"kms_key_name": GCP_KEY}} if key else {})) and None


def _workbench(name: str, **setup: object) -> Callable[[], None]:
    base: dict[str, object] = {"machine_type": "n1-standard-4", "disable_public_ip": True,
                               "service_accounts": [{"email": "nb@p.iam.gserviceaccount.com"}],
                               "boot_disk": {"disk_encryption": "CMEK", "kms_key": GCP_KEY},
                               "shielded_instance_config": {"enable_secure_boot": True}}
    base.update(setup)
    return lambda: gcp.workbench.Instance(name, location="europe-west4-a", gce_setup=base)


AI_SERVICES = [
    Case("aws-notebook-outside-vpc", "aws-sagemaker-notebook-in-vpc", "nb", _notebook("nb", subnet_id=None,
                                                                                      security_groups=None),
         _notebook("nb")),
    Case("aws-notebook-imdsv1", "aws-sagemaker-notebook-imdsv2", "nb",
         _notebook("nb", instance_metadata_service_configuration=None), _notebook("nb")),
    Case("aws-notebook-internet", "aws-sagemaker-notebook-no-internet", "nb", _notebook("nb", direct_internet_access="Enabled"),
         _notebook("nb")),
    Case("aws-monitoring-job-plain-traffic", "aws-sagemaker-monitoring-traffic-encryption", "quality",
         lambda: aws.sagemaker.DataQualityJobDefinition(
             "quality", role_arn="arn:aws:iam::1:role/sm", data_quality_app_specification={"image_uri": "img"},
             data_quality_job_input={"endpoint_input": {"endpoint_name": "e"}},
             data_quality_job_output_config={"kms_key_id": AWS_KEY, "monitoring_outputs": {"s3_output": {"s3_uri": "s3://x/o"}}},
             job_resources={"cluster_config": {"instance_count": 1, "instance_type": "ml.m5.large",
                                               "volume_size_in_gb": 20, "volume_kms_key_id": AWS_KEY}}),
         lambda: aws.sagemaker.DataQualityJobDefinition(
             "quality", role_arn="arn:aws:iam::1:role/sm", data_quality_app_specification={"image_uri": "img"},
             data_quality_job_input={"endpoint_input": {"endpoint_name": "e"}},
             data_quality_job_output_config={"kms_key_id": AWS_KEY, "monitoring_outputs": {"s3_output": {"s3_uri": "s3://x/o"}}},
             job_resources={"cluster_config": {"instance_count": 1, "instance_type": "ml.m5.large",
                                               "volume_size_in_gb": 20, "volume_kms_key_id": AWS_KEY}},
             network_config={"enable_inter_container_traffic_encryption": True})),
    Case("aws-bedrock-agent-aws-key", "aws-bedrock-cmk", "agent", _agent("agent", False), _agent("agent", True)),
    Case("aws-bedrock-agent-no-guardrail", "aws-bedrock-agent-guardrail", "agent", _agent("agent", False),
         _agent("agent", True)),
    Case("aws-bedrock-unlogged", "aws-bedrock-invocation-logging", "", _bedrock_logging(False), _bedrock_logging(True)),
    Case("azure-openai-public", "azure-cognitive-services-private", "openai",
         _openai("openai", public_network_access="Enabled"), _openai("openai")),
    Case("azure-openai-keys", "azure-cognitive-services-no-local-auth", "openai",
         _openai("openai", disable_local_auth=False), _openai("openai")),
    Case("azure-openai-microsoft-key", "azure-cognitive-services-cmk", "openai",
         _openai("openai", encryption={"key_source": "Microsoft.CognitiveServices"}), _openai("openai")),
    Case("azure-openai-open-egress", "azure-openai-restrict-outbound", "openai",
         _openai("openai", restrict_outbound_network_access=False), _openai("openai")),
    Case("gcp-workbench-public", "gcp-vertex-workbench-secure", "wb", _workbench("wb", disable_public_ip=False),
         _workbench("wb")),
    Case("gcp-workbench-default-sa", "gcp-vertex-workbench-secure", "wb",
         _workbench("wb", service_accounts=[{"email": "123-compute@developer.gserviceaccount.com"}]), _workbench("wb")),
    Case("gcp-index-endpoint-public", "gcp-vertex-index-endpoint-private", "vectors",
         lambda: gcp.vertex.AiIndexEndpoint("vectors", display_name="v", region="europe-west4",
                                            public_endpoint_enabled=True),
         lambda: gcp.vertex.AiIndexEndpoint("vectors", display_name="v", region="europe-west4",
                                            private_service_connect_config={"enable_private_service_connect": True,
                                                                            "project_allowlists": ["p"]})),
    Case("gcp-metadata-store-google-key", "gcp-vertex-cmek", "metadata",
         lambda: gcp.vertex.AiMetadataStore("metadata", region="europe-west4"),
         lambda: gcp.vertex.AiMetadataStore("metadata", region="europe-west4",
                                            encryption_spec={"kms_key_name": GCP_KEY})),
    # C3: every Vertex AI resource type with an `encryptionSpec` (pulumi-gcp 10), one without it and one with it.
    Case("gcp-online-store-google-key", "gcp-vertex-cmek", "online", _online_store("online", bigtable=True, key=False),
         _online_store("online", bigtable=True, key=True)),
    Case("gcp-online-store-optimized", "gcp-vertex-cmek", "online", _online_store("online", bigtable=False, key=True),
         _online_store("online", bigtable=True, key=True)),
    *[Case(f"gcp-{case}-google-key", "gcp-vertex-cmek", case, _vertex(build, case, False), _vertex(build, case, True))
      for case, build in _VERTEX_CMEK.items()],
]

CASES = NETWORK + IDENTITY + DATA + COMPUTE + SECRETS + AI_SERVICES
# For tests/policies/test_stack.py: every rule has a failing case (the resources it must flag).
FAILING: dict[str, set[str]] = {}
for _case in CASES:
    FAILING.setdefault(_case.policy, set()).add(_case.resource)
FAILING = {k: v for k, v in FAILING.items() if k in CLASS_RULES}

_RESULTS: dict[tuple[str, str], list] = {}


def _findings(case: Case, variant: str) -> list:
    key = (case.id, variant)
    if key not in _RESULTS:
        export = plan(case.insecure if variant == "insecure" else case.clean)
        _RESULTS[key] = run_packs(from_export(export), DEFAULT_PACKS).violations
    return _RESULTS[key]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_insecure_resource_is_caught_on_that_resource(case: Case) -> None:
    hits = [v for v in _findings(case, "insecure") if v.policy == case.policy]
    assert hits, f"{case.policy} did not flag {case.id}"
    assert {v.name for v in hits} == {case.resource}, [v.message for v in hits]
    assert all(v.enforcement == "mandatory" or case.policy == "aws-ec2-imds-hop-limit" for v in hits)
    assert all(v.message.startswith("The ") and v.message.endswith(".") for v in hits)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_clean_variant_passes_the_class(case: Case) -> None:
    class_hits = [v for v in _findings(case, "clean") if v.policy in CLASS_RULES or v.policy == case.policy]
    assert class_hits == [], [f"{v.policy}: {v.message}" for v in class_hits]


def test_every_class_rule_has_a_case() -> None:
    assert set(FAILING) == CLASS_RULES


def test_each_class_rule_is_in_a_default_pack() -> None:
    from policies.packs import PACKS

    selected = set(PACKS["aienv-security"].rules) | set(PACKS["aienv-ai"].rules)
    assert selected >= CLASS_RULES
