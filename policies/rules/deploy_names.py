"""Deployability, class 2 (names): physical names within the provider's limits, computed on the name the real
provider generates, never on the mock's invented one.

Resource policies read the inputs the engine hands the analyzer. A name set in the program (or filled in
by the provider's Check during a real preview) is judged as it is; a name left to the provider is computed
from the resource's logical name with the provider's documented auto-naming:
- pulumi-aws, pulumi-gcp (Terraform bridge): `<logical name>-<7 random hex>` (`tfbridge.AutoName(prop,
  maxlen, "-")` in each provider's `resources.go`; pulumi docs "Resource names": "a random suffix of 7
  characters"); a Terraform `*_prefix` (`name_prefix`, `bucket_prefix`, ...) gets the 26-character suffix
  of Terraform's `id.PrefixedUniqueId` (`UniqueIdSuffixLength = 26`, terraform-plugin-sdk helper/id).
- azure-native: `<logical name><8 random hex>` with no separator and no length cap
  (pulumi-azure-native `provider/pkg/provider/provider.go`: "Resource name is URN name + random suffix",
  `resource.NewUniqueName(randomSeed, name, 8, 0, nil)`).
- pulumi-kubernetes: `<logical name>-<8 random characters>` when `metadata.name` is unset (pulumi docs
  "Kubernetes resource names": "auto-named ... with a random suffix").
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from pulumi_policy import ResourceValidationArgs

from policies.meta import RuleMeta
from policies.rules._base import get, resource_rule, subject
from policies.rules.deploy_fit import DEPLOY_CONTROLS

TF_SUFFIX = 7 + 1  # "-" + 7 hex
TF_PREFIX_SUFFIX = 26
AZURE_SUFFIX = 8
K8S_SUFFIX = 8 + 1


@dataclass(frozen=True)
class NameRule:
    prop: str  # input holding the physical name (dotted for Kubernetes metadata.name)
    low: int
    high: int
    style: str  # "tf" | "azure" | "k8s" | "none" (no auto-name: only a given name is judged)
    source: str  # the document stating the limit
    prefix: str | None = None  # the Terraform `*_prefix` input, when the resource has one
    pattern: str | None = None  # full-name regex the cloud enforces
    lower: bool = False  # the auto-namer lowercases (S3, GCS)


_DNS1035 = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"
_DNS1123 = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
_GCP = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"
_AZ_ML = r"^[a-zA-Z0-9][a-zA-Z0-9_-]{2,32}$"

NAME_RULES: dict[str, NameRule] = {
    # --- AWS --------------------------------------------------------------------------------------
    "aws:iam/role:Role": NameRule("name", 1, 64, "tf", "IAM quotas: role name \"64 characters\"; Terraform "
                                  "aws_iam_role name_prefix \"1 - 38\"", "namePrefix"),
    "aws:iam/policy:Policy": NameRule("name", 1, 128, "tf", "IAM quotas: managed policy name 128 characters",
                                      "namePrefix"),
    "aws:iam/instanceProfile:InstanceProfile": NameRule("name", 1, 128, "tf", "IAM quotas: instance profile "
                                                        "name 128 characters", "namePrefix"),
    "aws:eks/nodeGroup:NodeGroup": NameRule("nodeGroupName", 1, 63, "tf", "aws.eks.NodeGroup docstring: \"The "
                                            "node group name can't be longer than 63 characters\"",
                                            "nodeGroupNamePrefix", r"^[0-9A-Za-z][A-Za-z0-9_-]*$"),
    "aws:eks/cluster:Cluster": NameRule("name", 1, 100, "tf", "EKS CreateCluster: name \"Length Constraints: "
                                        "Minimum length of 1. Maximum length of 100\"",
                                        pattern=r"^[0-9A-Za-z][A-Za-z0-9_-]*$"),
    "aws:s3/bucket:Bucket": NameRule("bucket", 3, 63, "tf", "S3 \"General purpose bucket naming rules\": "
                                     "\"Bucket names must be between 3 (min) and 63 (max) characters long\"",
                                     "bucketPrefix", r"^[a-z0-9][a-z0-9.-]*[a-z0-9]$", lower=True),
    "aws:s3/bucketV2:BucketV2": NameRule("bucket", 3, 63, "tf", "S3 \"General purpose bucket naming rules\"",
                                         "bucketPrefix", r"^[a-z0-9][a-z0-9.-]*[a-z0-9]$", lower=True),
    "aws:elasticache/replicationGroup:ReplicationGroup": NameRule(
        "replicationGroupId", 1, 40, "tf", "ElastiCache CreateReplicationGroup: ReplicationGroupId \"Must "
        "contain from 1 to 40 alphanumeric characters or hyphens\"", pattern=r"^[a-zA-Z]([a-zA-Z0-9-]*[a-zA-Z0-9])?$"),
    "aws:lb/loadBalancer:LoadBalancer": NameRule("name", 1, 32, "tf", "ELB CreateLoadBalancer: Name \"can have "
                                                 "a maximum of 32 characters\"; Terraform name_prefix \"cannot be "
                                                 "longer than 6 characters\"", "namePrefix"),
    "aws:lb/targetGroup:TargetGroup": NameRule("name", 1, 32, "tf", "ELB CreateTargetGroup: Name \"can have a "
                                               "maximum of 32 characters\"", "namePrefix"),
    "aws:rds/instance:Instance": NameRule("identifier", 1, 63, "tf", "RDS CreateDBInstance: "
                                          "DBInstanceIdentifier \"1 to 63 letters, numbers, or hyphens\"",
                                          "identifierPrefix"),
    "aws:lambda/function:Function": NameRule("name", 1, 64, "tf", "Lambda CreateFunction: FunctionName "
                                             "\"The length constraint applies only to the full ARN\"; name "
                                             "up to 64 characters"),
    "aws:sagemaker/featureGroup:FeatureGroup": NameRule("featureGroupName", 1, 64, "none", "SageMaker "
                                                        "CreateFeatureGroup: FeatureGroupName \"Maximum length "
                                                        "of 64\""),
    "aws:sqs/queue:Queue": NameRule("name", 1, 80, "tf", "SQS CreateQueue: \"A queue name can have up to 80 "
                                    "characters\"", "namePrefix"),
    # --- Azure --------------------------------------------------------------------------------------
    "azure-native:storage:StorageAccount": NameRule("accountName", 3, 24, "azure", "Azure \"Naming rules for "
                                                    "Azure resources\": storage account 3-24 lowercase letters "
                                                    "and numbers", pattern=r"^[a-z0-9]{3,24}$"),
    "azure-native:keyvault:Vault": NameRule("vaultName", 3, 24, "azure", "Azure naming rules: key vault 3-24 "
                                            "alphanumerics and hyphens, start with a letter, no consecutive "
                                            "hyphens", pattern=r"^[a-zA-Z](?!.*--)[a-zA-Z0-9-]{1,22}[a-zA-Z0-9]$"),
    "azure-native:containerregistry:Registry": NameRule("registryName", 5, 50, "azure", "Azure naming rules: "
                                                        "container registry 5-50 alphanumerics",
                                                        pattern=r"^[a-zA-Z0-9]{5,50}$"),
    "azure-native:machinelearningservices:Workspace": NameRule(
        "workspaceName", 3, 33, "azure", "Azure ML REST spec (machinelearningservices stable 2024-10-01): "
        "workspace name pattern ^[a-zA-Z0-9][a-zA-Z0-9_-]{2,32}$", pattern=_AZ_ML),
    "azure-native:machinelearningservices:Registry": NameRule(
        "registryName", 3, 33, "azure", "Azure ML REST spec registries.json: \"RegistryNameParameter\" "
        "pattern ^[a-zA-Z0-9][a-zA-Z0-9\\-_]{2,32}$", pattern=_AZ_ML),
    "azure-native:containerservice:ManagedCluster": NameRule(
        "resourceName", 1, 63, "azure", "Azure naming rules: AKS cluster 1-63 alphanumerics, underscores and "
        "hyphens, start and end with an alphanumeric", pattern=r"^[a-zA-Z0-9]([a-zA-Z0-9_-]*[a-zA-Z0-9])?$"),
    "azure-native:containerservice:AgentPool": NameRule(
        "agentPoolName", 1, 12, "azure", "AKS \"Create node pools\": \"Linux node pools ... names must be "
        "lowercase, alphanumeric, start with a letter, up to 12 characters\"", pattern=r"^[a-z][a-z0-9]{0,11}$"),
    "azure-native:redis:Redis": NameRule("name", 1, 63, "azure", "Azure naming rules: Azure Cache for Redis "
                                         "1-63 alphanumerics and hyphens, no consecutive hyphens",
                                         pattern=r"^[a-zA-Z0-9](?!.*--)([a-zA-Z0-9-]*[a-zA-Z0-9])?$"),
    "azure-native:redisenterprise:RedisEnterprise": NameRule(
        "clusterName", 1, 60, "azure", "azure-native redisenterprise.RedisEnterprise: \"Name must be 1-60 "
        "characters long. Allowed characters(A-Z, a-z, 0-9) and hyphen(-). There can be no leading nor trailing "
        "nor consecutive hyphens\"", pattern=r"^[A-Za-z0-9]+(-[A-Za-z0-9]+)*$"),
    "azure-native:operationalinsights:Workspace": NameRule("workspaceName", 4, 63, "azure", "Azure naming "
                                                           "rules: Log Analytics workspace 4-63 characters"),
    "azure-native:compute:DiskEncryptionSet": NameRule("diskEncryptionSetName", 1, 80, "azure", "Azure naming "
                                                       "rules: disk encryption set 1-80 characters"),
    # --- GCP ---------------------------------------------------------------------------------------
    "gcp:container/nodePool:NodePool": NameRule("name", 1, 40, "tf", "GKE node pool name: \"must be 1-40 "
                                                "characters\" (gcloud container node-pools create)",
                                                "namePrefix", _GCP),
    "gcp:container/cluster:Cluster": NameRule("name", 1, 40, "tf", "GKE cluster name: \"up to 40 characters\"",
                                              pattern=_GCP),
    "gcp:serviceaccount/account:Account": NameRule("accountId", 6, 30, "tf", "IAM service accounts: account "
                                                   "ID \"6-30 characters\" matching [a-z]([-a-z0-9]*[a-z0-9])",
                                                   pattern=_GCP),
    "gcp:storage/bucket:Bucket": NameRule("name", 3, 63, "tf", "Cloud Storage bucket naming: \"3-63 "
                                          "characters\"", pattern=r"^[a-z0-9][a-z0-9._-]*[a-z0-9]$", lower=True),
    "gcp:redis/instance:Instance": NameRule("name", 1, 40, "tf", "Memorystore for Redis: instance ID \"1 to 40 "
                                            "characters\", lowercase letters, digits and hyphens", pattern=_GCP),
    "gcp:kms/keyRing:KeyRing": NameRule("name", 1, 63, "tf", "Cloud KMS: key ring name 1-63 characters"),
    "gcp:kms/cryptoKey:CryptoKey": NameRule("name", 1, 63, "tf", "Cloud KMS: key name 1-63 characters"),
    "gcp:compute/network:Network": NameRule("name", 1, 63, "tf", "Compute Engine resource names: RFC 1035, "
                                            "1-63 characters", pattern=_GCP),
    "gcp:compute/subnetwork:Subnetwork": NameRule("name", 1, 63, "tf", "Compute Engine resource names: RFC "
                                                  "1035, 1-63 characters", pattern=_GCP),
    "gcp:compute/firewall:Firewall": NameRule("name", 1, 63, "tf", "Compute Engine resource names: RFC 1035, "
                                              "1-63 characters", pattern=_GCP),
    "gcp:compute/router:Router": NameRule("name", 1, 63, "tf", "Compute Engine resource names: RFC 1035",
                                          pattern=_GCP),
    "gcp:artifactregistry/repository:Repository": NameRule("repositoryId", 1, 63, "none", "Artifact Registry "
                                                           "repository names: lowercase letters, digits and "
                                                           "hyphens, up to 63 characters", pattern=_GCP),
    "gcp:bigquery/dataset:Dataset": NameRule("datasetId", 1, 1024, "none", "BigQuery dataset names: \"letters "
                                             "(uppercase or lowercase), numbers, and underscores\"",
                                             pattern=r"^[A-Za-z0-9_]+$"),
    # --- Kubernetes ----------------------------------------------------------------------------------
    "kubernetes:core/v1:Namespace": NameRule("metadata.name", 1, 63, "k8s", "Kubernetes object names: "
                                             "namespaces are RFC 1123 DNS labels (at most 63 characters)",
                                             pattern=_DNS1123),
    "kubernetes:core/v1:Service": NameRule("metadata.name", 1, 63, "k8s", "Kubernetes object names: services "
                                           "are RFC 1035 DNS labels (at most 63 characters)", pattern=_DNS1035),
    "kubernetes:batch/v1:CronJob": NameRule("metadata.name", 1, 52, "k8s", "Kubernetes CronJob: \"The name must "
                                            "be no longer than 52 characters\" (the controller appends 11 "
                                            "characters to job names)"),
    "kubernetes:batch/v1:Job": NameRule("metadata.name", 1, 63, "k8s", "Kubernetes Job: its name becomes the "
                                        "`job-name` label value, at most 63 characters"),
    "kubernetes:apps/v1:StatefulSet": NameRule("metadata.name", 1, 52, "k8s", "Kubernetes StatefulSet: the "
                                               "`controller-revision-hash` label <name>-<10-char hash> must fit a "
                                               "63-character label value (kubernetes/kubernetes#64023)"),
    "kubernetes:helm.sh/v3:Release": NameRule("name", 1, 53, "k8s", "Helm: \"release names ... must be no longer "
                                              "than 53 characters\" (helm install)"),
}
for _kind in ("apps/v1:Deployment", "apps/v1:DaemonSet", "core/v1:ConfigMap", "core/v1:Secret",
              "core/v1:ServiceAccount", "networking.k8s.io/v1:NetworkPolicy"):
    NAME_RULES[f"kubernetes:{_kind}"] = NameRule("metadata.name", 1, 253, "k8s", "Kubernetes object names: RFC "
                                                 "1123 DNS subdomain, at most 253 characters", pattern=None)


def physical_name(rule: NameRule, logical: str, props: object) -> tuple[str, bool, str] | None:
    """(name or its shape, exact?, how it was derived); None when the provider picks a name we cannot know.

    An exact name is judged on the pattern too; an auto-name only on its length (its suffix is random)."""
    if rule.prefix:
        prefix = get(props, rule.prefix)
        if isinstance(prefix, str) and prefix:
            return prefix + "x" * TF_PREFIX_SUFFIX, False, f"`{rule.prefix}` `{prefix}` + the 26-character suffix"
    given = get(props, rule.prop)
    if isinstance(given, str) and given:
        return given, True, f"`{rule.prop}`"
    if rule.style == "tf":
        base = logical.lower() if rule.lower else logical
        return base + "-" + "x" * (TF_SUFFIX - 1), False, f"the logical name `{logical}` + `-` + 7 random hex"
    if rule.style == "azure":
        return logical + "x" * AZURE_SUFFIX, False, f"the logical name `{logical}` + 8 random hex"
    if rule.style == "k8s":
        return logical + "-" + "x" * (K8S_SUFFIX - 1), False, f"the logical name `{logical}` + `-` + 8 random characters"
    return None


@resource_rule(RuleMeta(
    name="deploy-physical-name-limits",
    description="Keep every physical name within its provider's length and character rules, as the provider will "
                "generate it.",
    severity="high", area="deploy", controls=DEPLOY_CONTROLS,
    remediation="Set the name explicitly within the limit (or shorten the logical name / name prefix). Auto-names "
                "are computed as the real providers build them: pulumi-aws/pulumi-gcp `<name>-<7 hex>` and "
                "`<prefix><26 chars>` for Terraform prefixes (terraform-plugin-sdk helper/id "
                "UniqueIdSuffixLength = 26); azure-native `<name><8 hex>` with no length cap "
                "(pulumi-azure-native provider.go NewUniqueName(seed, name, 8, 0)); Kubernetes `<name>-<8>`. "
                "Limits per type are from the cloud's documentation named in each message.",
), NAME_RULES)
def physical_names(args: ResourceValidationArgs) -> Iterator[str]:
    rule = NAME_RULES[args.resource_type]
    derived = physical_name(rule, args.name, args.props)
    if derived is None:
        return
    name, exact, how = derived
    who = subject(args.resource_type, args.name)
    if not rule.low <= len(name) <= rule.high:
        shown = f"`{name}`" if exact else f"{len(name)} characters"
        yield (f"{who} must have a physical name of {rule.low}-{rule.high} characters; {how} gives {shown} "
               f"({rule.source}).")
    elif exact and rule.pattern and re.fullmatch(rule.pattern, name) is None:
        yield f"{who} must have a valid physical name: `{name}` breaks `{rule.pattern}` ({rule.source})."
    elif not exact and rule.pattern and rule.style == "azure" and re.fullmatch(rule.pattern, name) is None:
        yield (f"{who} must have a valid physical name: {how} breaks `{rule.pattern}` ({rule.source}); set "
               f"`{rule.prop}` explicitly.")


RULES = (physical_names,)
