"""Realistic, deterministic mock outputs per resource type, and answers to provider invokes.

Everything is derived from the type token and logical name (plus the inputs, the provider's
inputs and the stack config), never from time or randomness, so two plans of one program agree.
The generic rules work per cloud (type-token package); a small table adds what dependents read
from a few types (cluster endpoints and CA data, service-account emails, repository URLs...).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aienv.engine.wire import UNKNOWN, is_secret, plain_str, reveal, secret

AWS_ACCOUNT = "123456789012"
AZURE_SUBSCRIPTION = "00000000-0000-4000-8000-0000000a1e70"
AZURE_TENANT = "00000000-0000-4000-8000-00000000cafe"
DEFAULT_AWS_REGION = "us-east-1"
DEFAULT_AZURE_LOCATION = "eastus"
DEFAULT_GCP_PROJECT = "aienv-project"
DEFAULT_GCP_REGION = "us-central1"

Props = dict[str, Any]


@dataclass
class MockContext:
    """What the mocks know besides a resource's own inputs."""

    project: str
    stack: str
    config: Mapping[str, str] = field(default_factory=dict)
    stack_outputs_by_ref: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    # Fully-qualified config keys whose values are secrets (default providers mark them secret).
    secret_keys: frozenset[str] = frozenset()

    def cfg(self, key: str) -> str | None:
        value = self.config.get(key)
        return value if isinstance(value, str) and value else None


# ---------------------------------------------------------------------------------------------
# deterministic building blocks


def digest(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def fake_uuid(*parts: str) -> str:
    h = digest(*parts)
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-8{h[17:20]}-{h[20:32]}"


def autoname(type_: str, name: str, sep: str = "-", length: int = 7) -> str:
    return f"{name}{sep}{digest(type_, name)[:length]}"


def fake_pem_b64(*parts: str) -> str:
    """base64 of a PEM-shaped certificate (what clusters expose as CA data)."""
    body = base64.b64encode(bytes.fromhex(digest(*parts) * 8)).decode()
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    pem = "-----BEGIN CERTIFICATE-----\n" + "\n".join(lines) + "\n-----END CERTIFICATE-----\n"
    return base64.b64encode(pem.encode()).decode()


def fake_ip(prefix: str, *parts: str) -> str:
    h = digest(*parts)
    return f"{prefix}.{int(h[:2], 16)}.{int(h[2:4], 16) % 254 + 1}"


def _split(type_: str) -> tuple[str, str, str]:
    """("aws", "s3/bucket", "Bucket") from "aws:s3/bucket:Bucket"."""
    parts = type_.split(":")
    if len(parts) != 3:
        return parts[0], "", parts[-1]
    return parts[0], parts[1], parts[2]


def _service(module: str) -> str:
    return module.split("/")[0]


def _kebab(kind: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", kind).lower()


def _lower_first(s: str) -> str:
    return s[:1].lower() + s[1:]


def _plural(word: str) -> str:
    if word.endswith("y") and not word.endswith(("ay", "ey", "oy")):
        return word[:-1] + "ies"
    if word.endswith(("s", "x", "sh")):
        return word + "es"
    return word + "s"


def _json_obj(value: Any) -> Any:
    """Provider inputs carry nested config as JSON text; accept both forms."""
    value = reveal(value)
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value


def _str_map(value: Any) -> dict[str, Any]:
    value = _json_obj(value)
    return dict(value) if isinstance(value, dict) and not is_secret(value) else {}


def kubeconfig_yaml(cluster: str, server: str, ca_data: str, user: Props) -> str:
    """A kubeconfig document (YAML) with one cluster, one user and one context."""
    user_lines = []
    for key, val in user.items():
        if isinstance(val, dict):
            user_lines.append(f"    {key}:")
            for k2, v2 in val.items():
                if isinstance(v2, list):
                    user_lines.append(f"      {k2}:")
                    user_lines.extend(f"      - {json.dumps(x)}" for x in v2)
                else:
                    user_lines.append(f"      {k2}: {json.dumps(v2)}")
        else:
            user_lines.append(f"    {key}: {json.dumps(val)}")
    return "\n".join(
        [
            "apiVersion: v1",
            "kind: Config",
            "clusters:",
            f"- name: {cluster}",
            "  cluster:",
            f"    server: {server}",
            f"    certificate-authority-data: {ca_data}",
            "users:",
            f"- name: {cluster}-user",
            "  user:",
            *user_lines,
            "contexts:",
            f"- name: {cluster}",
            "  context:",
            f"    cluster: {cluster}",
            f"    user: {cluster}-user",
            f"current-context: {cluster}",
            "",
        ]
    )


# ---------------------------------------------------------------------------------------------
# AWS

_AWS_ID_PREFIX = {
    "ec2/vpc:Vpc": "vpc-",
    "ec2/subnet:Subnet": "subnet-",
    "ec2/securityGroup:SecurityGroup": "sg-",
    "ec2/internetGateway:InternetGateway": "igw-",
    "ec2/natGateway:NatGateway": "nat-",
    "ec2/eip:Eip": "eipalloc-",
    "ec2/routeTable:RouteTable": "rtb-",
    "ec2/routeTableAssociation:RouteTableAssociation": "rtbassoc-",
    "ec2/launchTemplate:LaunchTemplate": "lt-",
    "ec2/vpcEndpoint:VpcEndpoint": "vpce-",
    "ec2/instance:Instance": "i-",
    "ec2/networkAcl:NetworkAcl": "acl-",
    "ec2/flowLog:FlowLog": "fl-",
    "ec2/securityGroupRule:SecurityGroupRule": "sgrule-",
    "vpc/securityGroupIngressRule:SecurityGroupIngressRule": "sgr-",
    "vpc/securityGroupEgressRule:SecurityGroupEgressRule": "sgr-",
    "ec2/keyPair:KeyPair": "key-",
}
# The input that holds the physical name, when it is not "name".
_AWS_NAME_KEY = {
    "s3/bucket:Bucket": "bucket",
    "s3/bucketV2:BucketV2": "bucket",
    "eks/nodeGroup:NodeGroup": "nodeGroupName",
    "eks/addon:Addon": "addonName",
    "eks/fargateProfile:FargateProfile": "fargateProfileName",
    "sagemaker/featureGroup:FeatureGroup": "featureGroupName",
    "sagemaker/model:Model": "name",
    "budgets/budget:Budget": "name",
    "rds/cluster:Cluster": "clusterIdentifier",
    "rds/instance:Instance": "identifier",
    "elasticache/replicationGroup:ReplicationGroup": "replicationGroupId",
    "elasticache/cluster:Cluster": "clusterId",
}
_AWS_ARN_SERVICE = {"cloudwatch/logGroup": "logs", "efs": "elasticfilesystem", "lb": "elasticloadbalancing",
                    "alb": "elasticloadbalancing", "vpc": "ec2", "cloudwatch": "cloudwatch"}
_AWS_GLOBAL = {"iam", "s3", "cloudfront", "route53", "budgets", "organizations", "waf"}


def _aws_arn(module: str, kind: str, region: str, physical: str, id_: str) -> str:
    service = _service(module)
    svc = _AWS_ARN_SERVICE.get(module, _AWS_ARN_SERVICE.get(service, service))
    if service == "s3":
        return f"arn:aws:s3:::{physical}"
    if service == "iam":
        if kind == "OpenIdConnectProvider":
            return f"arn:aws:iam::{AWS_ACCOUNT}:oidc-provider/{physical}"
        return f"arn:aws:iam::{AWS_ACCOUNT}:{_kebab(kind)}/{physical}"
    if service in _AWS_GLOBAL:
        return f"arn:aws:{svc}::{AWS_ACCOUNT}:{_kebab(kind)}/{physical}"
    if svc == "logs":
        return f"arn:aws:logs:{region}:{AWS_ACCOUNT}:log-group:{physical}"
    if service in ("sqs", "sns"):
        return f"arn:aws:{service}:{region}:{AWS_ACCOUNT}:{physical}"
    if service == "lambda":
        return f"arn:aws:lambda:{region}:{AWS_ACCOUNT}:function:{physical}"
    if service == "secretsmanager":
        return f"arn:aws:secretsmanager:{region}:{AWS_ACCOUNT}:secret:{physical}-{digest(physical)[:6]}"
    if service == "kms" and kind == "Key":
        return f"arn:aws:kms:{region}:{AWS_ACCOUNT}:key/{id_}"
    if service == "kms" and kind == "Alias":
        return f"arn:aws:kms:{region}:{AWS_ACCOUNT}:{physical}"
    if service in ("ec2", "vpc"):
        return f"arn:aws:ec2:{region}:{AWS_ACCOUNT}:{_kebab(kind)}/{id_}"
    return f"arn:aws:{svc}:{region}:{AWS_ACCOUNT}:{_kebab(kind)}/{physical}"


def _aws(type_: str, name: str, inputs: Props, provider: Props, ctx: MockContext) -> tuple[str, Props]:
    _, module, kind = _split(type_)
    key = f"{module}:{kind}"
    region = plain_str(inputs.get("region")) or plain_str(provider.get("region")) or ctx.cfg("aws:region") \
        or DEFAULT_AWS_REGION
    name_key = _AWS_NAME_KEY.get(key, "name")
    physical = plain_str(inputs.get(name_key))
    out: Props = {}
    if physical is None:
        prefix = plain_str(inputs.get(f"{name_key}Prefix"))
        physical = f"{prefix}{digest(type_, name)[:20]}" if prefix else autoname(type_, name)
        out[name_key] = physical
    h = digest(type_, name)
    prefix = _AWS_ID_PREFIX.get(key)
    if prefix:
        id_ = prefix + h[:17]
    elif key == "kms/key:Key":
        id_ = fake_uuid(type_, name)
        out["keyId"] = id_
    else:
        id_ = physical
    arn = _aws_arn(module, kind, region, physical, id_)
    out["arn"] = arn
    if "region" in inputs or module.startswith(("s3/", "eks/", "ecr/")):
        out["region"] = region
    default_tags = _str_map(_str_map(provider.get("defaultTags")).get("tags"))
    tags = inputs.get("tags")
    if default_tags or isinstance(tags, dict):
        out["tagsAll"] = {**default_tags, **(tags if isinstance(tags, dict) else {})}
    special = _AWS_SPECIAL.get(key)
    if special:
        special(out, inputs, type_, name, physical, region, id_)
    return id_, out


def _aws_bucket(out: Props, inputs: Props, type_: str, name: str, physical: str, region: str, id_: str) -> None:
    out["bucketDomainName"] = f"{physical}.s3.amazonaws.com"
    out["bucketRegionalDomainName"] = f"{physical}.s3.{region}.amazonaws.com"
    out["hostedZoneId"] = "Z3AQBSTGFYJSTF"


def _aws_eks(out: Props, inputs: Props, type_: str, name: str, physical: str, region: str, id_: str) -> None:
    h = digest(type_, name).upper()
    out["endpoint"] = f"https://{h[:32]}.gr7.{region}.eks.amazonaws.com"
    out["certificateAuthority"] = {"data": fake_pem_b64(type_, name)}
    out["identities"] = [{"oidcs": [{"issuer": f"https://oidc.eks.{region}.amazonaws.com/id/{h[32:64]}"}]}]
    out["version"] = plain_str(inputs.get("version")) or "1.31"
    out["platformVersion"] = "eks.1"
    out["status"] = "ACTIVE"
    out["clusterId"] = fake_uuid(type_, name, "cluster-id")
    vpc = inputs.get("vpcConfig")
    out["vpcConfig"] = {**(vpc if isinstance(vpc, dict) else {}), "clusterSecurityGroupId": "sg-" + h[:17].lower(),
                        "vpcId": "vpc-" + h[17:34].lower()}
    out["createdAt"] = "2024-01-01T00:00:00Z"


def _aws_nodegroup(out: Props, inputs: Props, type_: str, name: str, physical: str, region: str, id_: str) -> None:
    cluster = plain_str(inputs.get("clusterName")) or "cluster"
    uid = digest(type_, name)
    out["arn"] = f"arn:aws:eks:{region}:{AWS_ACCOUNT}:nodegroup/{cluster}/{physical}/{uid[:8]}"
    out["status"] = "ACTIVE"
    # EKS names the managed node group's Auto Scaling group `eks-<node group>-<uuid>`.
    out["resources"] = [{"autoscalingGroups": [{"name": f"eks-{physical}-{fake_uuid(type_, name, 'asg')}"}],
                         "remoteAccessSecurityGroupId": ""}]


def _aws_ecr(out: Props, inputs: Props, type_: str, name: str, physical: str, region: str, id_: str) -> None:
    out["repositoryUrl"] = f"{AWS_ACCOUNT}.dkr.ecr.{region}.amazonaws.com/{physical}"
    out["registryId"] = AWS_ACCOUNT


def _aws_sqs(out: Props, inputs: Props, type_: str, name: str, physical: str, region: str, id_: str) -> None:
    out["url"] = f"https://sqs.{region}.amazonaws.com/{AWS_ACCOUNT}/{physical}"


def _aws_role(out: Props, inputs: Props, type_: str, name: str, physical: str, region: str, id_: str) -> None:
    out["uniqueId"] = "AROA" + digest(type_, name)[:17].upper()


def _aws_policy(out: Props, inputs: Props, type_: str, name: str, physical: str, region: str, id_: str) -> None:
    out["policyId"] = "ANPA" + digest(type_, name)[:17].upper()


def _aws_oidc(out: Props, inputs: Props, type_: str, name: str, physical: str, region: str, id_: str) -> None:
    url = (plain_str(inputs.get("url")) or f"oidc.example/{name}").removeprefix("https://")
    out["arn"] = f"arn:aws:iam::{AWS_ACCOUNT}:oidc-provider/{url}"


def _aws_endpoint(out: Props, inputs: Props, type_: str, name: str, physical: str, region: str, id_: str) -> None:
    out["endpoint"] = f"{physical}.{digest(type_, name)[:12]}.{region}.rds.amazonaws.com"
    out["port"] = inputs.get("port") or 5432


def _aws_lb(out: Props, inputs: Props, type_: str, name: str, physical: str, region: str, id_: str) -> None:
    out["dnsName"] = f"{physical}-{int(digest(type_, name)[:8], 16)}.{region}.elb.amazonaws.com"


def _aws_redis(out: Props, inputs: Props, type_: str, name: str, physical: str, region: str, id_: str) -> None:
    out["primaryEndpointAddress"] = f"master.{physical}.{digest(type_, name)[:6]}.{region}.cache.amazonaws.com"
    out["port"] = inputs.get("port") or 6379


def _aws_launch_template(out: Props, inputs: Props, type_: str, name: str, physical: str, region: str,
                         id_: str) -> None:
    out["latestVersion"] = 1
    out["defaultVersion"] = 1


_AWS_SPECIAL: dict[str, Callable[[Props, Props, str, str, str, str, str], None]] = {
    "ec2/launchTemplate:LaunchTemplate": _aws_launch_template,
    "s3/bucket:Bucket": _aws_bucket,
    "s3/bucketV2:BucketV2": _aws_bucket,
    "eks/cluster:Cluster": _aws_eks,
    "eks/nodeGroup:NodeGroup": _aws_nodegroup,
    "ecr/repository:Repository": _aws_ecr,
    "sqs/queue:Queue": _aws_sqs,
    "iam/role:Role": _aws_role,
    "iam/policy:Policy": _aws_policy,
    "iam/openIdConnectProvider:OpenIdConnectProvider": _aws_oidc,
    "rds/cluster:Cluster": _aws_endpoint,
    "rds/instance:Instance": _aws_endpoint,
    "lb/loadBalancer:LoadBalancer": _aws_lb,
    "elasticache/replicationGroup:ReplicationGroup": _aws_redis,
}


# ---------------------------------------------------------------------------------------------
# Azure (azure-native)

_AZURE_NS = {
    "containerservice": "Microsoft.ContainerService",
    "containerregistry": "Microsoft.ContainerRegistry",
    "keyvault": "Microsoft.KeyVault",
    "operationalinsights": "Microsoft.OperationalInsights",
    "managedidentity": "Microsoft.ManagedIdentity",
    "machinelearningservices": "Microsoft.MachineLearningServices",
    "documentdb": "Microsoft.DocumentDB",
    "dbforpostgresql": "Microsoft.DBforPostgreSQL",
    "insights": "Microsoft.Insights",
    "costmanagement": "Microsoft.CostManagement",
    "consumption": "Microsoft.Consumption",
    "resources": "Microsoft.Resources",
    "network": "Microsoft.Network",
    "storage": "Microsoft.Storage",
    "authorization": "Microsoft.Authorization",
    "monitor": "Microsoft.Monitor",
    "cache": "Microsoft.Cache",
    "redis": "Microsoft.Cache",
    "redisenterprise": "Microsoft.Cache",
    "security": "Microsoft.Security",
}


def _azure_self_name_key(kind: str, inputs: Props) -> str | None:
    candidates = [k for k in inputs if k.endswith("Name") and k != "resourceGroupName"]
    lowered = kind.lower()
    for key in candidates:
        if lowered.endswith(key[:-4].lower()):
            return key
    for key in ("resourceName", "name"):
        if key in inputs:
            return key
    return None


def _azure(type_: str, name: str, inputs: Props, provider: Props, ctx: MockContext) -> tuple[str, Props]:
    _, module, kind = _split(type_)
    sub = plain_str(provider.get("subscriptionId")) or ctx.cfg("azure-native:subscriptionId") or AZURE_SUBSCRIPTION
    location = plain_str(inputs.get("location")) or plain_str(provider.get("location")) \
        or ctx.cfg("azure-native:location") or DEFAULT_AZURE_LOCATION
    out: Props = {}
    if module == "resources" and kind == "ResourceGroup":
        rg = plain_str(inputs.get("resourceGroupName")) or autoname(type_, name, "", 8)
        id_ = f"/subscriptions/{sub}/resourceGroups/{rg}"
        out.update(name=rg, resourceGroupName=rg, location=location, id=id_,
                   type="Microsoft.Resources/resourceGroups", properties={"provisioningState": "Succeeded"})
        return id_, out
    name_key = _azure_self_name_key(kind, inputs)
    physical = plain_str(inputs.get(name_key)) if name_key else None
    if physical is None:
        if kind in ("StorageAccount", "Registry"):
            physical = re.sub(r"[^a-z0-9]", "", autoname(type_, name, "", 8).lower())[:24]
        elif kind in ("RoleAssignment", "RoleDefinition"):
            physical = fake_uuid(type_, name)
        else:
            physical = autoname(type_, name, "", 8)
        if name_key:
            out[name_key] = physical
    ns = _AZURE_NS.get(module, "Microsoft." + module.capitalize())
    rtype = _plural(_lower_first(kind))
    parents = "".join(
        f"/{_plural(k[:-4])}/{v}" for k, v in inputs.items()
        if k.endswith("Name") and k not in ("resourceGroupName", name_key) and isinstance(v, str)
    )
    group = plain_str(inputs.get("resourceGroupName"))
    scope = plain_str(inputs.get("scope"))
    if group:
        id_ = f"/subscriptions/{sub}/resourceGroups/{group}/providers/{ns}{parents}/{rtype}/{physical}"
    elif scope:
        id_ = f"{scope}/providers/{ns}/{rtype}/{physical}"
    else:
        id_ = f"/subscriptions/{sub}/providers/{ns}{parents}/{rtype}/{physical}"
    out.update(id=id_, name=physical, type=f"{ns}/{rtype}", azureApiVersion="2024-01-01")
    if "location" in inputs or group:
        out["location"] = location
    identity = inputs.get("identity")
    if isinstance(identity, dict):
        returned = dict(identity)
        if isinstance(identity.get("userAssignedIdentities"), list):
            # azure-native takes user-assigned identities as a list of ids but returns a map id -> ids.
            returned["userAssignedIdentities"] = {
                i: {"principalId": fake_uuid(i, "principal"), "clientId": fake_uuid(i, "client")}
                for i in identity["userAssignedIdentities"] if isinstance(i, str)}
        if "SystemAssigned" in str(identity.get("type", "")):
            # the system-assigned identity's service principal, created with the resource
            returned.update(principalId=fake_uuid(type_, name, "system-principal"), tenantId=AZURE_TENANT)
        out["identity"] = returned
    special = _AZURE_SPECIAL.get(f"{module}:{kind}")
    if special:
        special(out, inputs, type_, name, physical, location, id_, sub)
    return id_, out


def _az_storage(out: Props, inputs: Props, type_: str, name: str, physical: str, loc: str, id_: str, sub: str) -> None:
    out["primaryEndpoints"] = {s: f"https://{physical}.{s}.core.windows.net/" for s in ("blob", "dfs", "file", "queue", "table", "web")}
    out["primaryLocation"] = loc
    out["provisioningState"] = "Succeeded"


def _az_vault(out: Props, inputs: Props, type_: str, name: str, physical: str, loc: str, id_: str, sub: str) -> None:
    props = inputs.get("properties")
    out["properties"] = {**(props if isinstance(props, dict) else {}), "vaultUri": f"https://{physical}.vault.azure.net/"}


def _az_key(out: Props, inputs: Props, type_: str, name: str, physical: str, loc: str, id_: str, sub: str) -> None:
    vault = plain_str(inputs.get("vaultName")) or "vault"
    version = digest(type_, name)[:32]
    out["keyUri"] = f"https://{vault}.vault.azure.net/keys/{physical}"
    out["keyUriWithVersion"] = f"https://{vault}.vault.azure.net/keys/{physical}/{version}"


def _az_registry(out: Props, inputs: Props, type_: str, name: str, physical: str, loc: str, id_: str, sub: str) -> None:
    out["loginServer"] = f"{physical}.azurecr.io"


def _az_aks(out: Props, inputs: Props, type_: str, name: str, physical: str, loc: str, id_: str, sub: str) -> None:
    prefix = plain_str(inputs.get("dnsPrefix")) or physical
    h = digest(type_, name)
    out["fqdn"] = f"{prefix}-{h[:8]}.hcp.{loc}.azmk8s.io"
    out["azurePortalFQDN"] = f"{prefix}-{h[:8]}.portal.hcp.{loc}.azmk8s.io"
    out["kubernetesVersion"] = plain_str(inputs.get("kubernetesVersion")) or "1.31"
    out["currentKubernetesVersion"] = out["kubernetesVersion"]
    out["nodeResourceGroup"] = plain_str(inputs.get("nodeResourceGroup")) or f"MC_{physical}_{loc}"
    out["oidcIssuerProfile"] = {"enabled": True,
                                "issuerURL": f"https://{loc}.oic.prod-aks.azure.com/{AZURE_TENANT}/{h[8:44]}/"}
    kubelet_rg = out["nodeResourceGroup"]
    out["identityProfile"] = {"kubeletidentity": {
        "clientId": fake_uuid(type_, name, "kubelet-client"),
        "objectId": fake_uuid(type_, name, "kubelet-object"),
        "resourceId": f"/subscriptions/{sub}/resourceGroups/{kubelet_rg}/providers/Microsoft.ManagedIdentity/"
                      f"userAssignedIdentities/{physical}-agentpool"}}
    out["powerState"] = {"code": "Running"}
    out["provisioningState"] = "Succeeded"
    access = inputs.get("apiServerAccessProfile")
    if isinstance(access, dict) and access.get("enablePrivateCluster") is True:
        out["privateFQDN"] = f"{prefix}-{h[:8]}.{h[8:44]}.privatelink.{loc}.azmk8s.io"


def _az_redis(out: Props, inputs: Props, type_: str, name: str, physical: str, loc: str, id_: str, sub: str) -> None:
    out["hostName"] = f"{physical}.redis.cache.windows.net"
    out["sslPort"] = 6380
    out["port"] = 6379


def _az_redis_enterprise(out: Props, inputs: Props, type_: str, name: str, physical: str, loc: str, id_: str,
                         sub: str) -> None:
    # "connect to `<cachename>.<region>.redis.azure.net`" (Microsoft, *Azure Managed Redis with Azure Private Link*)
    out["hostName"] = f"{physical}.{loc}.redis.azure.net"


def _az_identity(out: Props, inputs: Props, type_: str, name: str, physical: str, loc: str, id_: str, sub: str) -> None:
    out["principalId"] = fake_uuid(type_, name, "principal")
    out["clientId"] = fake_uuid(type_, name, "client")
    out["tenantId"] = AZURE_TENANT


def _az_workspace(out: Props, inputs: Props, type_: str, name: str, physical: str, loc: str, id_: str, sub: str) -> None:
    out["customerId"] = fake_uuid(type_, name, "customer")


_AZURE_SPECIAL: dict[str, Callable[[Props, Props, str, str, str, str, str, str], None]] = {
    "storage:StorageAccount": _az_storage,
    "keyvault:Vault": _az_vault,
    "keyvault:Key": _az_key,
    "containerregistry:Registry": _az_registry,
    "containerservice:ManagedCluster": _az_aks,
    "managedidentity:UserAssignedIdentity": _az_identity,
    "operationalinsights:Workspace": _az_workspace,
    "redis:Redis": _az_redis,
    "cache:Redis": _az_redis,
    "redisenterprise:RedisEnterprise": _az_redis_enterprise,
    "cache:RedisEnterprise": _az_redis_enterprise,
}


# ---------------------------------------------------------------------------------------------
# GCP


def _gcp(type_: str, name: str, inputs: Props, provider: Props, ctx: MockContext) -> tuple[str, Props]:
    _, module, kind = _split(type_)
    service = _service(module)
    project = plain_str(inputs.get("project")) or plain_str(provider.get("project")) or ctx.cfg("gcp:project") \
        or DEFAULT_GCP_PROJECT
    region = plain_str(inputs.get("region")) or plain_str(provider.get("region")) or ctx.cfg("gcp:region") \
        or DEFAULT_GCP_REGION
    location = plain_str(inputs.get("location")) or region
    out: Props = {}
    physical = plain_str(inputs.get("name"))
    if physical is None:
        physical = autoname(type_, name)
        out["name"] = physical
    plural = _plural(_lower_first(kind))
    if service == "compute":
        where = f"regions/{region}" if "region" in inputs else ("zones/" + str(inputs["zone"]) if "zone" in inputs
                                                              else "global")
        id_ = f"projects/{project}/{where}/{plural}/{physical}"
        out["selfLink"] = f"https://www.googleapis.com/compute/v1/{id_}"
    elif "location" in inputs:
        id_ = f"projects/{project}/locations/{location}/{plural}/{physical}"
    else:
        id_ = f"projects/{project}/{plural}/{physical}"
    if "project" not in inputs:
        out["project"] = project
    labels = inputs.get("labels")
    default_labels = _str_map(provider.get("defaultLabels"))
    if isinstance(labels, dict) or default_labels:
        merged = {**default_labels, **(labels if isinstance(labels, dict) else {})}
        out["effectiveLabels"] = merged
        out["pulumiLabels"] = merged
    special = _GCP_SPECIAL.get(f"{module}:{kind}")
    if special:
        id_ = special(out, inputs, type_, name, physical, project, location) or id_
    return id_, out


def _gcp_sa(out: Props, inputs: Props, type_: str, name: str, physical: str, project: str, loc: str) -> str:
    account = plain_str(inputs.get("accountId")) or autoname(type_, name)
    email = f"{account}@{project}.iam.gserviceaccount.com"
    out.update(email=email, member=f"serviceAccount:{email}", name=f"projects/{project}/serviceAccounts/{email}",
               uniqueId=str(int(digest(type_, name)[:16], 16))[:21])
    return str(out["name"])


def _gcp_bucket(out: Props, inputs: Props, type_: str, name: str, physical: str, project: str, loc: str) -> str:
    out["url"] = f"gs://{physical}"
    out["selfLink"] = f"https://www.googleapis.com/storage/v1/b/{physical}"
    return physical


def _gcp_gke(out: Props, inputs: Props, type_: str, name: str, physical: str, project: str, loc: str) -> str:
    id_ = f"projects/{project}/locations/{loc}/clusters/{physical}"
    out["endpoint"] = fake_ip("34", type_, name) + "." + str(int(digest(type_, name)[4:6], 16))
    auth = inputs.get("masterAuth")
    out["masterAuth"] = {**(auth if isinstance(auth, dict) else {}), "clusterCaCertificate": fake_pem_b64(type_, name),
                         "clientCertificate": "", "clientKey": ""}
    out["selfLink"] = f"https://container.googleapis.com/v1/{id_}"
    out["location"] = loc
    out["masterVersion"] = plain_str(inputs.get("minMasterVersion")) or "1.31.1-gke.100"
    out["labelFingerprint"] = digest(type_, name)[:8]
    private = inputs.get("privateClusterConfig")
    if isinstance(private, dict):
        h = digest(type_, name)
        out["privateClusterConfig"] = {**private, "privateEndpoint": f"172.16.{int(h[:2], 16) % 250}.2",
                                       "publicEndpoint": out["endpoint"],
                                       "peeringName": f"gke-n{h[2:18]}-{h[18:22]}-{h[22:26]}-peer"}
    endpoints = inputs.get("controlPlaneEndpointsConfig")
    if isinstance(endpoints, dict):
        dns = endpoints.get("dnsEndpointConfig")
        dns_out = {**(dns if isinstance(dns, dict) else {}),
                   "endpoint": f"gke-{digest(type_, name)[:32]}-{digest(project)[:12]}.{loc}.gke.goog"}
        out["controlPlaneEndpointsConfig"] = {**endpoints, "dnsEndpointConfig": dns_out}
    return id_


def _gcp_nodepool(out: Props, inputs: Props, type_: str, name: str, physical: str, project: str, loc: str) -> str:
    cluster = plain_str(inputs.get("cluster")) or "cluster"
    base = cluster if cluster.startswith("projects/") else f"projects/{project}/locations/{loc}/clusters/{cluster}"
    return f"{base}/nodePools/{physical}"


def _gcp_keyring(out: Props, inputs: Props, type_: str, name: str, physical: str, project: str, loc: str) -> str:
    return f"projects/{project}/locations/{loc}/keyRings/{physical}"


def _gcp_cryptokey(out: Props, inputs: Props, type_: str, name: str, physical: str, project: str, loc: str) -> str:
    ring = plain_str(inputs.get("keyRing")) or f"projects/{project}/locations/{loc}/keyRings/ring"
    return f"{ring}/cryptoKeys/{physical}"


def _gcp_repo(out: Props, inputs: Props, type_: str, name: str, physical: str, project: str, loc: str) -> str:
    repo = plain_str(inputs.get("repositoryId")) or physical
    out["name"] = repo
    return f"projects/{project}/locations/{loc}/repositories/{repo}"


def _gcp_secret(out: Props, inputs: Props, type_: str, name: str, physical: str, project: str, loc: str) -> str:
    sid = plain_str(inputs.get("secretId")) or physical
    out["name"] = f"projects/{int(digest(project)[:10], 16)}/secrets/{sid}"
    return f"projects/{project}/secrets/{sid}"


def _gcp_iam(out: Props, inputs: Props, type_: str, name: str, physical: str, project: str, loc: str) -> str:
    out.pop("name", None)
    out["etag"] = "BwY" + digest(type_, name)[:8]
    return ""


def _gcp_redis(out: Props, inputs: Props, type_: str, name: str, physical: str, project: str, loc: str) -> str:
    h = digest(type_, name)
    out.update(host=f"10.{int(h[:2], 16)}.{int(h[2:4], 16)}.4", currentLocationId=f"{loc}-a",
               authString=f"offline-auth-{h[:24]}")
    tls = plain_str(inputs.get("transitEncryptionMode")) == "SERVER_AUTHENTICATION"
    # Memorystore listens on 6378 with in-transit encryption, on 6379 without.
    out["port"] = 6378 if tls else 6379
    if tls:  # a per-instance CA signs the server certificate; clients must trust it
        body = base64.b64encode(bytes.fromhex(h * 4)).decode()
        out["serverCaCerts"] = [{"cert": f"-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n",
                                 "serialNumber": str(int(h[:12], 16)), "sha1Fingerprint": h[:40]}]
    return f"projects/{project}/locations/{loc}/instances/{physical}"


def _gcp_sink(out: Props, inputs: Props, type_: str, name: str, physical: str, project: str, loc: str) -> str:
    # `unique_writer_identity`: Cloud Logging creates a service account for the sink.
    number = int(digest(project)[:10], 16)
    out["writerIdentity"] = f"serviceAccount:service-{number}@gcp-sa-logging.iam.gserviceaccount.com"
    return f"projects/{project}/sinks/{physical}"


_GCP_SPECIAL: dict[str, Callable[[Props, Props, str, str, str, str, str], str | None]] = {
    "logging/projectSink:ProjectSink": _gcp_sink,
    "redis/instance:Instance": _gcp_redis,
    "serviceaccount/account:Account": _gcp_sa,
    "storage/bucket:Bucket": _gcp_bucket,
    "container/cluster:Cluster": _gcp_gke,
    "container/nodePool:NodePool": _gcp_nodepool,
    "kms/keyRing:KeyRing": _gcp_keyring,
    "kms/cryptoKey:CryptoKey": _gcp_cryptokey,
    "artifactregistry/repository:Repository": _gcp_repo,
    "secretmanager/secret:Secret": _gcp_secret,
}


# ---------------------------------------------------------------------------------------------
# Kubernetes

_K8S_CLUSTER_SCOPED = {
    "Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "StorageClass",
    "PriorityClass", "PersistentVolume", "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration",
    "APIService", "RuntimeClass", "IngressClass", "Node", "ValidatingAdmissionPolicy",
}


def _k8s(type_: str, name: str, inputs: Props, provider: Props, ctx: MockContext) -> tuple[str, Props]:
    _, module, kind = _split(type_)
    out: Props = {}
    if module.startswith("helm.sh/") and kind == "Release":
        rel = plain_str(inputs.get("name")) or autoname(type_, name)
        ns = plain_str(inputs.get("namespace")) or "default"
        chart = plain_str(inputs.get("chart")) or ""
        version = plain_str(inputs.get("version")) or "0.1.0"
        out.update(name=rel, namespace=ns, status={
            "name": rel, "namespace": ns, "status": "deployed", "revision": 1, "chart": chart.split("/")[-1],
            "version": version, "appVersion": version})
        return f"{ns}/{rel}", out
    meta_in = inputs.get("metadata")
    meta: Props = dict(meta_in) if isinstance(meta_in, dict) else {}
    obj_name = plain_str(meta.get("name"))
    if obj_name is None:
        obj_name = autoname(type_, name, "-", 8)
        meta["name"] = obj_name
    namespaced = kind not in _K8S_CLUSTER_SCOPED and not kind.endswith("List")
    if namespaced and plain_str(meta.get("namespace")) is None:
        meta["namespace"] = plain_str(provider.get("namespace")) or "default"
    meta.setdefault("uid", fake_uuid(type_, name))
    meta.setdefault("resourceVersion", "1")
    meta.setdefault("generation", 1)
    meta.setdefault("creationTimestamp", "2024-01-01T00:00:00Z")
    out["metadata"] = meta
    if kind == "Service":
        spec = inputs.get("spec")
        spec_out = dict(spec) if isinstance(spec, dict) else {}
        spec_out.setdefault("clusterIP", fake_ip("10.100", type_, name))
        out["spec"] = spec_out
        if spec_out.get("type") == "LoadBalancer":
            out["status"] = {"loadBalancer": {"ingress": [{"hostname": f"{obj_name}.lb.example.internal"}]}}
    elif kind in ("Deployment", "StatefulSet", "DaemonSet"):
        spec = inputs.get("spec")
        replicas = spec.get("replicas", 1) if isinstance(spec, dict) else 1
        out["status"] = {"replicas": replicas, "readyReplicas": replicas, "observedGeneration": 1}
    ident = f"{meta['namespace']}/{obj_name}" if namespaced else obj_name
    return ident, out


# ---------------------------------------------------------------------------------------------
# random

_WORDS = ("amber", "brisk", "cedar", "delta", "ember", "fjord", "gale", "harbor", "iris", "jade", "kelp",
          "lumen", "maple", "nova", "onyx", "pine", "quartz", "raven", "sage", "tide", "umber", "vale",
          "willow", "xenon", "yarrow", "zephyr")


def _chars(seed: str, length: int, alphabet: str) -> str:
    out: list[str] = []
    counter = 0
    while len(out) < length:
        for byte in hashlib.sha256(f"{seed}:{counter}".encode()).digest():
            out.append(alphabet[byte % len(alphabet)])
        counter += 1
    return "".join(out[:length])


def _int_input(inputs: Props, key: str, default: int) -> int:
    value = inputs.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _random(type_: str, name: str, inputs: Props, provider: Props, ctx: MockContext) -> tuple[str, Props]:
    _, _, kind = _split(type_)
    seed = digest(type_, name)
    if kind in ("RandomPassword", "RandomString"):
        length = _int_input(inputs, "length", 16)
        alphabet = ""
        if inputs.get("lower", True) is not False:
            alphabet += "abcdefghijkmnopqrstuvwxyz"
        if inputs.get("upper", True) is not False:
            alphabet += "ABCDEFGHJKLMNPQRSTUVWXYZ"
        if inputs.get("numeric", True) is not False and inputs.get("number", True) is not False:
            alphabet += "23456789"
        if inputs.get("special", True) is not False:
            alphabet += plain_str(inputs.get("overrideSpecial")) or "!#$%&*()-_=+[]{}<>:?"
        value = _chars(seed, length, alphabet or "abcdefghijkmnopqrstuvwxyz")
        if kind == "RandomPassword":
            return "none", {"result": secret(value), "bcryptHash": secret("$2a$10$" + _chars(seed + "b", 53,
                                                                                              "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"))}
        return value, {"result": value}
    if kind == "RandomId":
        raw = bytes.fromhex(seed)[: _int_input(inputs, "byteLength", 8)]
        prefix = plain_str(inputs.get("prefix")) or ""
        b64url = base64.urlsafe_b64encode(raw).decode().rstrip("=")
        return b64url, {"hex": prefix + raw.hex(), "b64Url": prefix + b64url, "b64Std": prefix + base64.b64encode(raw).decode(),
                        "dec": prefix + str(int.from_bytes(raw, "big"))}
    if kind == "RandomPet":
        words = [_WORDS[int(seed[i * 2 : i * 2 + 2], 16) % len(_WORDS)] for i in range(_int_input(inputs, "length", 2))]
        sep = plain_str(inputs.get("separator")) or "-"
        pet_prefix = plain_str(inputs.get("prefix"))
        pet = sep.join(([pet_prefix] if pet_prefix else []) + words)
        return pet, {}
    if kind == "RandomUuid":
        value = fake_uuid(type_, name)
        return value, {"result": value}
    if kind == "RandomInteger":
        lo, hi = _int_input(inputs, "min", 0), _int_input(inputs, "max", 100)
        number = lo + int(seed[:8], 16) % max(hi - lo + 1, 1)
        return str(number), {"result": number}
    if kind == "RandomShuffle":
        items = inputs.get("inputs")
        items = list(items) if isinstance(items, list) else []
        ordered = sorted(items, key=lambda x: digest(seed, json.dumps(x, sort_keys=True, default=str)))
        count = _int_input(inputs, "resultCount", len(ordered))
        return "-", {"results": ordered[:count]}
    if kind == "RandomBytes":
        raw = bytes.fromhex(seed * 4)[: _int_input(inputs, "length", 32)]
        return "none", {"base64": secret(base64.b64encode(raw).decode()), "hex": secret(raw.hex())}
    return seed[:16], {}


# ---------------------------------------------------------------------------------------------
# entry points


def mock_resource(type_: str, name: str, inputs: Props, provider_inputs: Props, ctx: MockContext) -> tuple[str, Props]:
    """(id, computed outputs) for a custom resource; the engine merges computed over the inputs."""
    pkg = type_.split(":", 1)[0]
    if type_.startswith("pulumi:providers:"):
        return fake_uuid(type_, name), {}
    if type_ == "pulumi:pulumi:StackReference":
        ref = plain_str(inputs.get("name")) or name
        outputs = dict(ctx.stack_outputs_by_ref.get(ref, {}))
        secret_names = sorted(k for k, v in outputs.items() if is_secret(v))
        return ref, {"name": ref, "outputs": outputs, "secretOutputNames": secret_names}
    handler = _BY_PACKAGE.get(pkg)
    if handler is None:
        return f"{name}-{digest(type_, name)[:8]}", {}
    return handler(type_, name, inputs, provider_inputs, ctx)


_BY_PACKAGE: dict[str, Callable[[str, str, Props, Props, MockContext], tuple[str, Props]]] = {
    "aws": _aws,
    "azure-native": _azure,
    "gcp": _gcp,
    "kubernetes": _k8s,
    "random": _random,
}


# ---------------------------------------------------------------------------------------------
# invokes


def _one_or_list(values: Any) -> Any:
    values = list(values) if isinstance(values, list) else [values]
    return values[0] if len(values) == 1 else values


def render_policy_document(args: Props) -> dict[str, Any]:
    """The IAM JSON policy `aws.iam.get_policy_document` renders from its statements."""
    doc: dict[str, Any] = {"Version": args.get("version") or "2012-10-17"}
    if args.get("policyId"):
        doc["Id"] = args["policyId"]
    statements = []
    for st in args.get("statements") or []:
        out: dict[str, Any] = {}
        if st.get("sid"):
            out["Sid"] = st["sid"]
        out["Effect"] = st.get("effect") or "Allow"
        for key, wire in (("actions", "Action"), ("notActions", "NotAction"), ("resources", "Resource"),
                          ("notResources", "NotResource")):
            if st.get(key):
                out[wire] = _one_or_list(st[key])
        for key, wire in (("principals", "Principal"), ("notPrincipals", "NotPrincipal")):
            principals = st.get(key) or []
            if principals:
                if len(principals) == 1 and principals[0].get("type") == "*":
                    out[wire] = "*"
                else:
                    block: dict[str, Any] = {}
                    for p in principals:
                        ids = block.setdefault(p.get("type") or "AWS", [])
                        ids.extend(p.get("identifiers") or [])
                    out[wire] = {k: _one_or_list(v) for k, v in block.items()}
        conditions = st.get("conditions") or []
        if conditions:
            cond: dict[str, Any] = {}
            for c in conditions:
                cond.setdefault(c.get("test"), {})[c.get("variable")] = _one_or_list(c.get("values") or [])
            out["Condition"] = cond
        statements.append(out)
    doc["Statement"] = statements
    return doc


def _azure_credentials(token: str, args: Props) -> Props | None:
    """The shapes of azure-native's key and credential listings (`list*Keys`, `getSharedKeys`, ...), with
    deterministic secret values, so programs that index into them see what an existing resource returns."""
    if not token.startswith("azure-native:"):
        return None
    kind = token.rsplit(":", 1)[-1]
    seed = json.dumps(args, sort_keys=True, default=str)

    def key(n: int) -> Any:
        return secret(base64.b64encode(bytes.fromhex(digest(kind, seed, str(n)))).decode())

    if kind == "listStorageAccountKeys":
        return {"keys": [{"keyName": f"key{n}", "value": key(n), "permissions": "FULL",
                          "creationTime": "2024-01-01T00:00:00Z"} for n in (1, 2)]}
    if kind == "listRegistryCredentials":
        return {"username": plain_str(args.get("registryName")) or "registry",
                "passwords": [{"name": name, "value": key(n)} for n, name in ((1, "password"), (2, "password2"))]}
    if kind == "getSharedKeys":
        return {"primarySharedKey": key(1), "secondarySharedKey": key(2)}
    if kind == "listDatabaseAccountKeys":
        return {"primaryMasterKey": key(1), "secondaryMasterKey": key(2), "primaryReadonlyMasterKey": key(3),
                "secondaryReadonlyMasterKey": key(4)}
    if kind in ("listRedisKeys", "listKeys", "listDatabaseKeys") and "redis" in token:
        return {"primaryKey": key(1), "secondaryKey": key(2)}
    if kind == "listWebAppPublishingCredentials":
        name = plain_str(args.get("name")) or "app"
        return {"publishingUserName": f"${name}", "publishingPassword": key(1),
                "scmUri": f"https://${name}:{digest(seed)[:12]}@{name}.scm.azurewebsites.net"}
    return None


def mock_invoke(token: str, args: Props, provider_inputs: Props, ctx: MockContext) -> Props:
    region = plain_str(args.get("region")) or plain_str(provider_inputs.get("region"))
    if token == "aws:index/getCallerIdentity:getCallerIdentity":
        return {"accountId": AWS_ACCOUNT, "arn": f"arn:aws:iam::{AWS_ACCOUNT}:user/aienv-plan",
                "userId": "AIDA" + digest("user")[:17].upper(), "id": AWS_ACCOUNT}
    if token.startswith("aws:"):
        region = region or ctx.cfg("aws:region") or DEFAULT_AWS_REGION
    if token == "aws:index/getRegion:getRegion":
        return {"name": region, "region": region, "id": region, "description": region,
                "endpoint": f"ec2.{region}.amazonaws.com"}
    if token == "aws:index/getPartition:getPartition":
        return {"partition": "aws", "dnsSuffix": "amazonaws.com", "id": "aws", "reverseDnsPrefix": "com.amazonaws"}
    if token == "aws:index/getAvailabilityZones:getAvailabilityZones":
        return {"names": [f"{region}{z}" for z in "abc"], "zoneIds": [f"use1-az{i}" for i in (1, 2, 3)],
                "groupNames": [str(region)], "id": str(region), "state": args.get("state") or "available"}
    if token == "aws:iam/getPolicyDocument:getPolicyDocument":
        doc = render_policy_document(args)
        return {"json": json.dumps(doc, indent=2), "minifiedJson": json.dumps(doc, separators=(",", ":")),
                "id": digest(json.dumps(doc, sort_keys=True))[:10], "statements": args.get("statements") or []}
    if token == "aws:eks/getClusterAuth:getClusterAuth":
        return {"name": args.get("name"), "id": args.get("name"),
                "token": secret("k8s-aws-v1." + digest("eks-token", str(args.get("name")))[:48])}
    if token == "azure-native:authorization:getClientConfig":
        return {"clientId": fake_uuid("azure", "client"), "objectId": fake_uuid("azure", "object"),
                "subscriptionId": plain_str(provider_inputs.get("subscriptionId"))
                or ctx.cfg("azure-native:subscriptionId") or AZURE_SUBSCRIPTION, "tenantId": AZURE_TENANT}
    if token == "aws:secretsmanager/getSecret:getSecret":
        name = plain_str(args.get("name")) or plain_str(args.get("arn")) or "secret"
        if name.startswith("arn:"):
            return {"arn": name, "name": name.rsplit(":", 1)[-1].rsplit("-", 1)[0], "id": name}
        arn = f"arn:aws:secretsmanager:{region}:{AWS_ACCOUNT}:secret:{name}-{digest(name)[:6]}"
        return {"arn": arn, "name": name, "id": arn, "description": "", "tags": {}}
    if token == "aws:route53/getZone:getZone":  # an existing hosted zone, looked up by name
        zone = (plain_str(args.get("name")) or "example.com").rstrip(".")
        zone_id = "Z" + digest("zone", zone)[:20].upper()
        return {"id": zone_id, "zoneId": zone_id, "name": zone, "privateZone": bool(args.get("privateZone")),
                "nameServers": [f"ns-{n}.awsdns-{n:02d}.com" for n in (1, 2, 3, 4)],
                "arn": f"arn:aws:route53:::hostedzone/{zone_id}", "resourceRecordSetCount": 2}
    if token == "aws:ecr/getCredentials:getCredentials":
        registry = plain_str(args.get("registryId")) or AWS_ACCOUNT
        password = "eyJ" + digest("ecr-credentials", registry)[:60]
        return {"authorizationToken": secret(base64.b64encode(f"AWS:{password}".encode()).decode()),
                "expiresAt": "2024-01-01T12:00:00Z", "registryId": registry, "id": registry,
                "proxyEndpoint": f"https://{registry}.dkr.ecr.{region}.amazonaws.com"}
    if token == "aws:ecr/getAuthorizationToken:getAuthorizationToken":
        password = "eyJ" + digest("ecr-token", region or DEFAULT_AWS_REGION)[:60]
        registry = plain_str(args.get("registryId")) or AWS_ACCOUNT
        return {"authorizationToken": secret(base64.b64encode(f"AWS:{password}".encode()).decode()),
                "userName": "AWS", "password": secret(password), "expiresAt": "2024-01-01T12:00:00Z",
                "proxyEndpoint": f"https://{registry}.dkr.ecr.{region}.amazonaws.com", "id": region}
    azure_keys = _azure_credentials(token, args)
    if azure_keys is not None:
        return azure_keys
    if token.startswith("azure-native:containerservice:listManagedCluster") and token.endswith("Credentials"):
        cluster = plain_str(args.get("resourceName")) or "cluster"
        loc = ctx.cfg("azure-native:location") or DEFAULT_AZURE_LOCATION
        server = f"https://{cluster}-{digest(cluster)[:8]}.hcp.{loc}.azmk8s.io:443"
        user = {"token": digest("aks-token", cluster)[:64]}
        text = kubeconfig_yaml(cluster, server, fake_pem_b64("aks", cluster), user)
        return {"kubeconfigs": [{"name": "clusterUser", "value": base64.b64encode(text.encode()).decode()}]}
    if token.startswith("gcp:"):
        project = plain_str(args.get("project")) or plain_str(provider_inputs.get("project")) or ctx.cfg("gcp:project") \
            or DEFAULT_GCP_PROJECT
        gregion = region or ctx.cfg("gcp:region") or DEFAULT_GCP_REGION
        if token == "gcp:organizations/getProject:getProject":
            project = plain_str(args.get("projectId")) or project
            return {"projectId": project, "name": project, "number": str(int(digest(project)[:10], 16)),
                    "id": f"projects/{project}", "orgId": "123456789", "labels": {}, "effectiveLabels": {}}
        if token == "gcp:organizations/getClientConfig:getClientConfig":
            return {"project": project, "region": gregion, "zone": f"{gregion}-a", "id": project,
                    "accessToken": secret("ya29." + digest("gcp-token", project)[:60]), "defaultLabels": {}}
        number = str(int(digest(project)[:10], 16))
        if token == "gcp:storage/getProjectServiceAccount:getProjectServiceAccount":
            email = f"service-{number}@gs-project-accounts.iam.gserviceaccount.com"
            return {"emailAddress": email, "member": f"serviceAccount:{email}", "project": project, "id": email}
        if token == "gcp:bigquery/getDefaultServiceAccount:getDefaultServiceAccount":
            email = f"bq-{number}@bigquery-encryption.iam.gserviceaccount.com"
            return {"email": email, "member": f"serviceAccount:{email}", "project": project, "id": email}
        if token == "gcp:compute/getZones:getZones":
            return {"names": [f"{gregion}-{z}" for z in "abc"], "project": project, "region": gregion,
                    "id": f"projects/{project}/regions/{gregion}"}
    return {}


# ---------------------------------------------------------------------------------------------
# the first-preview view

# What a provider knows of a new resource's outputs when `pulumi preview` plans its creation: the inputs it
# was given, the names Pulumi's auto-naming generated in `Check` (which runs at preview; a Terraform
# `name_prefix` is expanded only at create time), tags/labels merged with the provider's defaults at plan time,
# and the region/location/project the provider is configured with. Everything else it computes (ids, ARNs,
# endpoints, generated passwords, statuses) is unknown until the create runs.
def _aws_preview_known(type_: str, inputs: Props) -> set[str]:
    _, module, kind = _split(type_)
    name_key = _AWS_NAME_KEY.get(f"{module}:{kind}", "name")
    known = {"tagsAll", "region"}
    if f"{name_key}Prefix" not in inputs:
        known.add(name_key)
    return known


def _azure_preview_known(type_: str, inputs: Props) -> set[str]:
    _, _, kind = _split(type_)
    known = {"location", "name", "resourceGroupName"}
    name_key = _azure_self_name_key(kind, inputs)
    if name_key:
        known.add(name_key)
    return known


def _gcp_preview_known(type_: str, inputs: Props) -> set[str]:
    _, module, kind = _split(type_)
    # A service account's `name` is its computed resource path; elsewhere `name` is the auto-name.
    return {"project", "effectiveLabels", "pulumiLabels", "terraformLabels"} | (
        set() if f"{module}:{kind}" == "serviceaccount/account:Account" else {"name"})


def _k8s_preview_known(type_: str, inputs: Props) -> set[str]:
    # Auto-named objects get their metadata.name in Check; the namespace defaults from the provider.
    return {"metadata.name", "metadata.namespace", "name", "namespace"}


_PREVIEW_KNOWN: dict[str, Callable[[str, Props], set[str]]] = {
    "aws": _aws_preview_known,
    "azure-native": _azure_preview_known,
    "gcp": _gcp_preview_known,
    "kubernetes": _k8s_preview_known,
}


def _unknown_beyond(inputs: Any, computed: Any, known: set[str], path: str) -> Any:
    """`computed` as a first preview shows it: what echoes `inputs` or is in `known` (dotted paths) stays,
    everything invented becomes unknown (maps are compared key by key)."""
    if path in known:
        return computed
    if isinstance(computed, dict) and not is_secret(computed) and (
            isinstance(inputs, dict) or any(k.startswith(path + ".") for k in known)):
        given = inputs if isinstance(inputs, dict) else {}
        return {k: _unknown_beyond(given.get(k, _ABSENT), v, known, f"{path}.{k}" if path else k)
                for k, v in computed.items()}
    if inputs is not _ABSENT and inputs == computed:
        return computed
    return secret(UNKNOWN) if is_secret(computed) else UNKNOWN


_ABSENT = object()


def preview_outputs(type_: str, inputs: Props, computed: Props) -> Props:
    """The computed outputs of a new custom resource as the real engine knows them at its first preview."""
    if type_.startswith("pulumi:providers:") or type_ == "pulumi:pulumi:StackReference":
        return computed  # provider config and another stack's outputs are known at preview
    known_of = _PREVIEW_KNOWN.get(type_.split(":", 1)[0])
    known = known_of(type_, inputs) if known_of else set()
    return {k: _unknown_beyond(inputs.get(k, _ABSENT), v, known, k) for k, v in computed.items()}


__all__ = ["MockContext", "UNKNOWN", "kubeconfig_yaml", "mock_invoke", "mock_resource", "preview_outputs",
           "render_policy_document"]
