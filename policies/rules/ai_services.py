"""Managed AI services teams run next to their clusters: SageMaker notebooks and monitoring jobs, Bedrock, Azure
OpenAI / Cognitive Services accounts, Vertex AI Workbench instances and index endpoints.

The SageMaker and Vertex rules that aienv's own resources already need live in aws.py and gcp.py (KMS, network
isolation, domains, endpoint CMEK and private serving); these add what a team's own notebooks and model APIs need.
"""

from __future__ import annotations

from collections.abc import Iterator

from pulumi_policy import ResourceValidationArgs, StackValidationArgs

from policies import meta as m
from policies.meta import RuleMeta
from policies.rules._base import get, items, resource_rule, stack_rule
from policies.rules.compute_metadata import CLOUD_PLATFORM, _is_default_sa
from policies.rules.nouns import subject

SM_NOTEBOOK = "aws:sagemaker/notebookInstance:NotebookInstance"
SM_DATA_QUALITY = "aws:sagemaker/dataQualityJobDefinition:DataQualityJobDefinition"
SM_MODEL_QUALITY = "aws:sagemaker/modelQualityJobDefinition:ModelQualityJobDefinition"
BEDROCK_CUSTOM_MODEL = "aws:bedrock/customModel:CustomModel"
BEDROCK_AGENT = "aws:bedrock/agentAgent:AgentAgent"
BEDROCK_GUARDRAIL = "aws:bedrock/guardrail:Guardrail"
BEDROCK_FLOW = "aws:bedrock/agentFlow:AgentFlow"
BEDROCK_LOGGING = "aws:bedrockmodel/invocationLoggingConfiguration:InvocationLoggingConfiguration"
COGNITIVE_ACCOUNT = "azure-native:cognitiveservices:Account"
WORKBENCH = "gcp:workbench/instance:Instance"
VERTEX_INDEX_ENDPOINT = "gcp:vertex/aiIndexEndpoint:AiIndexEndpoint"


def _s(args: ResourceValidationArgs) -> str:
    return subject(args.resource_type, args.name)


# --- SageMaker -------------------------------------------------------------------------------------------------------
@resource_rule(RuleMeta(
    name="aws-sagemaker-notebook-in-vpc",
    description="Launch SageMaker notebook instances into a subnet of your VPC.",
    severity="high", area="aws", controls=m.NETWORK_EXPOSURE,
    checks=("CKV_AWS_306", "CFG SAGEMAKER_NOTEBOOK_INSTANCE_INSIDE_VPC"),
    remediation="Set subnetId (and securityGroups) to a private subnet; with directInternetAccess `Disabled` the "
                "notebook reaches AWS APIs through VPC endpoints.",
), [SM_NOTEBOOK])
def sm_notebook_vpc(args: ResourceValidationArgs) -> Iterator[str]:
    if not get(args.props, "subnetId"):
        yield f"{_s(args)} must run in a subnet of your VPC (`subnetId`)."


@resource_rule(RuleMeta(
    name="aws-sagemaker-notebook-imdsv2",
    description="Allow only IMDSv2 on SageMaker notebook instances.",
    severity="medium", area="aws", controls=m.WORKLOAD_HARDENING, checks=("CKV_AWS_371",),
    remediation="Set instanceMetadataServiceConfiguration.minimumInstanceMetadataServiceVersion `2`.",
), [SM_NOTEBOOK])
def sm_notebook_imdsv2(args: ResourceValidationArgs) -> Iterator[str]:
    version = get(args.props, "instanceMetadataServiceConfiguration.minimumInstanceMetadataServiceVersion")
    if str(version) != "2":
        yield f"{_s(args)} must allow only IMDSv2 (`minimumInstanceMetadataServiceVersion: 2`)."


@resource_rule(RuleMeta(
    name="aws-sagemaker-monitoring-traffic-encryption",
    description="Encrypt traffic between the instances of SageMaker data- and model-quality monitoring jobs.",
    severity="medium", area="aws", controls=m.ENCRYPTION_IN_TRANSIT,
    # checkov SagemakerDataQualityJobDefinitionTrafficEncryption: network_config.enable_inter_container_traffic_encryption.
    checks=("CKV_AWS_369",),
    remediation="Set networkConfig.enableInterContainerTrafficEncryption true.",
), [SM_DATA_QUALITY, SM_MODEL_QUALITY])
def sm_monitoring_traffic(args: ResourceValidationArgs) -> Iterator[str]:
    if get(args.props, "networkConfig.enableInterContainerTrafficEncryption") is not True:
        yield f"{_s(args)} must encrypt inter-container traffic (`networkConfig.enableInterContainerTrafficEncryption`)."


# --- Bedrock ------------------------------------------------------------------------------------------------------------
_BEDROCK_KEYS = {BEDROCK_CUSTOM_MODEL: "customModelKmsKeyId", BEDROCK_AGENT: "customerEncryptionKeyArn",
                 BEDROCK_GUARDRAIL: "kmsKeyArn", BEDROCK_FLOW: "customerEncryptionKeyArn"}


@resource_rule(RuleMeta(
    name="aws-bedrock-cmk",
    description="Encrypt Bedrock custom models, agents, flows and guardrails with a customer-managed KMS key.",
    severity="high", area="aws", controls=m.ENCRYPTION_AT_REST,
    # checkov BedrockAgentEncrypted tests an agent's customer_encryption_key_arn, one of this rule's tests.
    checks=("CKV_AWS_373",),
    remediation="Set customModelKmsKeyId (custom models), customerEncryptionKeyArn (agents, flows) or kmsKeyArn "
                "(guardrails) to a customer-managed KMS key.",
), list(_BEDROCK_KEYS))
def bedrock_cmk(args: ResourceValidationArgs) -> Iterator[str]:
    prop = _BEDROCK_KEYS[args.resource_type]
    if not get(args.props, prop):
        yield f"{_s(args)} must encrypt with a customer-managed KMS key (`{prop}`)."


@resource_rule(RuleMeta(
    name="aws-bedrock-agent-guardrail",
    description="Attach a Bedrock guardrail to every Bedrock agent.",
    severity="medium", area="aws", controls=m.merge(m.WORKLOAD_HARDENING, m.MONITORING), checks=("CKV_AWS_383",),
    remediation="Set guardrailConfigurations [{guardrailIdentifier, guardrailVersion}] on the agent.",
), [BEDROCK_AGENT])
def bedrock_guardrail(args: ResourceValidationArgs) -> Iterator[str]:
    if not [g for g in items(args.props, "guardrailConfigurations") if get(g, "guardrailIdentifier")]:
        yield f"{_s(args)} must apply a guardrail (`guardrailConfigurations`)."


BEDROCK_PREFIXES = ("aws:bedrock/", "aws:bedrockmodel/")


@stack_rule(RuleMeta(
    name="aws-bedrock-invocation-logging",
    description="Log Bedrock model invocations (to S3 or CloudWatch Logs) in every stack that uses Bedrock.",
    severity="medium", area="aws", controls=m.AUDIT_LOGGING,
    remediation="Add an aws.bedrockmodel.InvocationLoggingConfiguration with loggingConfig.s3Config or "
                "loggingConfig.cloudwatchConfig (it is per account and region: disable this policy where another "
                "stack owns it).",
), [BEDROCK_LOGGING])
def bedrock_logging(args: StackValidationArgs) -> Iterator[tuple[str, str | None]]:
    users = [r for r in args.resources if r.resource_type.startswith(BEDROCK_PREFIXES) and r.resource_type != BEDROCK_LOGGING]
    if not users:
        return
    for r in args.resources:
        if r.resource_type == BEDROCK_LOGGING and (get(r.props, "loggingConfig.s3Config")
                                                   or get(r.props, "loggingConfig.cloudwatchConfig")):
            return
    yield "The stack must log Bedrock model invocations (an InvocationLoggingConfiguration with a destination).", None


# --- Azure OpenAI / Cognitive Services ------------------------------------------------------------------------------------
@resource_rule(RuleMeta(
    name="azure-cognitive-services-private",
    description="Disable public network access on Azure OpenAI and Cognitive Services accounts.",
    severity="high", area="azure", controls=m.NETWORK_EXPOSURE, checks=("CKV_AZURE_134",),
    remediation="Set properties.publicNetworkAccess `Disabled` and reach the account through a private endpoint "
                "(properties.networkAcls.defaultAction `Deny` at least).",
), [COGNITIVE_ACCOUNT])
def cognitive_private(args: ResourceValidationArgs) -> Iterator[str]:
    if get(args.props, "properties.publicNetworkAccess") != "Disabled":
        yield f"{_s(args)} must disable public network access (`properties.publicNetworkAccess: Disabled`)."


@resource_rule(RuleMeta(
    name="azure-cognitive-services-no-local-auth",
    description="Disable key (local) authentication on Azure OpenAI and Cognitive Services accounts.",
    severity="high", area="azure", controls=m.AUTHENTICATION, checks=("CKV_AZURE_236",),
    remediation="Set properties.disableLocalAuth true and grant callers `Cognitive Services OpenAI User` (or the "
                "service's user role) through Entra ID.",
), [COGNITIVE_ACCOUNT])
def cognitive_local_auth(args: ResourceValidationArgs) -> Iterator[str]:
    if get(args.props, "properties.disableLocalAuth") is not True:
        yield f"{_s(args)} must disable key authentication (`properties.disableLocalAuth: true`)."


@resource_rule(RuleMeta(
    name="azure-cognitive-services-cmk",
    description="Encrypt Azure OpenAI and Cognitive Services accounts with a customer-managed Key Vault key.",
    severity="medium", area="azure", controls=m.ENCRYPTION_AT_REST, checks=("CKV2_AZURE_22",),
    remediation="Set properties.encryption {keySource: Microsoft.KeyVault, keyVaultProperties: {keyName, keyVaultUri, "
                "identityClientId}} with a managed identity that can use the key.",
), [COGNITIVE_ACCOUNT])
def cognitive_cmk(args: ResourceValidationArgs) -> Iterator[str]:
    if get(args.props, "properties.encryption.keySource") != "Microsoft.KeyVault" or not get(
            args.props, "properties.encryption.keyVaultProperties.keyName"):
        yield f"{_s(args)} must encrypt with a customer-managed key (`properties.encryption.keySource`)."


@resource_rule(RuleMeta(
    name="azure-openai-restrict-outbound",
    description="Restrict outbound network access of Azure OpenAI accounts to an allow-list (data loss prevention).",
    severity="medium", area="azure", controls=m.NETWORK_EXPOSURE, checks=("CKV_AZURE_247",),
    remediation="Set properties.restrictOutboundNetworkAccess true and list the allowed hosts in "
                "properties.allowedFqdnList.",
), [COGNITIVE_ACCOUNT])
def openai_outbound(args: ResourceValidationArgs) -> Iterator[str]:
    if str(get(args.props, "kind") or "").lower() != "openai":
        return
    if get(args.props, "properties.restrictOutboundNetworkAccess") is not True:
        yield f"{_s(args)} must restrict outbound network access (`properties.restrictOutboundNetworkAccess`)."


# --- Vertex AI ---------------------------------------------------------------------------------------------------------
@resource_rule(RuleMeta(
    name="gcp-vertex-workbench-secure",
    description="Run Vertex AI Workbench instances without a public IP, as a dedicated service account, on "
                "customer-managed-key disks and shielded VMs.",
    severity="high", area="gcp", controls=m.merge(m.NETWORK_EXPOSURE, m.ENCRYPTION_AT_REST, m.WORKLOAD_HARDENING),
    checks=("CKV2_GCP_28", "CKV2_GCP_27"),
    remediation="Set gceSetup.disablePublicIp true, gceSetup.serviceAccounts [{email: <dedicated account>}], "
                "bootDisk and dataDisks {diskEncryption: CMEK, kmsKey}, shieldedInstanceConfig.enableSecureBoot true.",
), [WORKBENCH])
def workbench(args: ResourceValidationArgs) -> Iterator[str]:
    s, g = _s(args), "gceSetup"
    if get(args.props, f"{g}.disablePublicIp") is not True:
        yield f"{s} must not have a public IP (`{g}.disablePublicIp: true`)."
    accounts = items(args.props, f"{g}.serviceAccounts")
    if not accounts or any(_is_default_sa(get(a, "email")) or get(a, "email") is None for a in accounts):
        full = any(CLOUD_PLATFORM & {str(x) for x in items(a, "scopes")} for a in accounts)
        yield (f"{s} must run as a dedicated service account, not the Compute Engine default one"
               f"{' with full API access' if full else ''} (`{g}.serviceAccounts`).")
    disks = [("bootDisk", get(args.props, f"{g}.bootDisk"))] + [
        (f"dataDisks.{i}", d) for i, d in enumerate(items(args.props, f"{g}.dataDisks"))]
    for where, disk in disks:
        if disk is None and where != "bootDisk":
            continue
        if disk is None or get(disk, "diskEncryption") != "CMEK" or not get(disk, "kmsKey"):
            yield f"{s} must encrypt `{g}.{where}` with a customer-managed key (`diskEncryption: CMEK`, `kmsKey`)."
    if get(args.props, f"{g}.shieldedInstanceConfig.enableSecureBoot") is not True:
        yield f"{s} must boot securely (`{g}.shieldedInstanceConfig.enableSecureBoot: true`)."


@resource_rule(RuleMeta(
    name="gcp-vertex-index-endpoint-private",
    description="Serve Vertex AI vector-search index endpoints privately (VPC peering or Private Service Connect).",
    severity="high", area="gcp", controls=m.NETWORK_EXPOSURE, checks=("CKV2_GCP_34",),
    remediation="Set network (VPC peering) or privateServiceConnectConfig.enablePrivateServiceConnect true, and "
                "leave publicEndpointEnabled unset or false.",
), [VERTEX_INDEX_ENDPOINT])
def index_endpoint_private(args: ResourceValidationArgs) -> Iterator[str]:
    private = get(args.props, "network") or get(args.props, "privateServiceConnectConfig.enablePrivateServiceConnect") is True
    if get(args.props, "publicEndpointEnabled") is True or not private:
        yield f"{_s(args)} must be reachable only privately (no public endpoint; VPC peering or Private Service Connect)."


RULES = (
    sm_notebook_vpc, sm_notebook_imdsv2, sm_monitoring_traffic, bedrock_cmk, bedrock_guardrail, bedrock_logging,
    cognitive_private, cognitive_local_auth, cognitive_cmk, openai_outbound, workbench, index_endpoint_private,
)
