"""Compute: the instance metadata service, default service accounts with broad scopes, and public IPs.

AWS: IMDSv2 (session tokens) on instances, launch templates and launch configurations, and a PUT response hop
limit that keeps containers from the node's credentials; no public IP on instances, launch templates or by
subnet default. Azure: no public IP on network interfaces or VM/scale-set NIC configurations; SSH keys, not
passwords, on Linux VMs. GCP: no external IP on instances and templates; no Compute Engine default service
account on instances, templates or GKE nodes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from pulumi_policy import ResourceValidationArgs

from policies import meta as m
from policies.meta import RuleMeta
from policies.rules._base import config_value, get, items, number, resource_rule, truthy
from policies.rules.nouns import subject

EC2_INSTANCE = "aws:ec2/instance:Instance"
EC2_LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
EC2_LAUNCH_CONFIGURATION = "aws:ec2/launchConfiguration:LaunchConfiguration"
EC2_SPOT_REQUEST = "aws:ec2/spotInstanceRequest:SpotInstanceRequest"
EC2_SUBNET = "aws:ec2/subnet:Subnet"
AWS_METADATA_TYPES = (EC2_INSTANCE, EC2_LAUNCH_TEMPLATE, EC2_LAUNCH_CONFIGURATION, EC2_SPOT_REQUEST)

AZURE_NIC = "azure-native:network:NetworkInterface"
AZURE_VM = "azure-native:compute:VirtualMachine"
AZURE_VMSS = "azure-native:compute:VirtualMachineScaleSet"

GCE_INSTANCE = "gcp:compute/instance:Instance"
GCE_TEMPLATES = ("gcp:compute/instanceTemplate:InstanceTemplate",
                 "gcp:compute/regionInstanceTemplate:RegionInstanceTemplate")
GKE_CLUSTER = "gcp:container/cluster:Cluster"
GKE_POOL = "gcp:container/nodePool:NodePool"
# `<project number>-compute@developer.gserviceaccount.com` (the pattern checkov's GCP checks use).
DEFAULT_COMPUTE_SA = re.compile(r"^\d+-compute@developer\.gserviceaccount\.com$")
CLOUD_PLATFORM = frozenset({"cloud-platform", "https://www.googleapis.com/auth/cloud-platform"})


def _s(args: ResourceValidationArgs) -> str:
    return subject(args.resource_type, args.name)


# --- AWS instance metadata -------------------------------------------------------------------------------------------
@resource_rule(RuleMeta(
    name="aws-ec2-imdsv2-required",
    description="Require IMDSv2 (session tokens) on EC2 instances, launch templates and launch configurations.",
    severity="high", area="aws", controls=m.merge(m.WORKLOAD_HARDENING, m.ACCESS_CONTROL),
    checks=("CKV_AWS_79", "CFG EC2_IMDSV2_CHECK"),
    remediation="Set metadataOptions.httpTokens `required` (or metadataOptions.httpEndpoint `disabled` when nothing "
                "on the host reads instance metadata).",
), AWS_METADATA_TYPES)
def imdsv2(args: ResourceValidationArgs) -> Iterator[str]:
    if str(get(args.props, "metadataOptions.httpEndpoint") or "enabled") == "disabled":
        return
    if get(args.props, "metadataOptions.httpTokens") != "required":
        yield f"{_s(args)} must require IMDSv2 (`metadataOptions.httpTokens: required`)."


@resource_rule(RuleMeta(
    name="aws-ec2-imds-hop-limit",
    description="Keep the instance-metadata PUT response hop limit at the configured maximum (1: containers on the "
                "host cannot fetch the instance's credentials).",
    # Advisory and outside the HIPAA/GDPR packs (which make every mapped rule mandatory) until aienv's own EKS launch
    # templates, which keep the EKS default of 2, move to 1.
    severity="medium", area="aws", enforcement="advisory", controls=m.controls(soc2="CC6.8", iso27001="A.8.9"),
    # checkov LaunchTemplateMetadataHop: "should not have a metadata response hop limit greater than 1".
    checks=("CKV_AWS_341",),
    config={"maximumHopLimit": {"type": "integer", "default": 1, "minimum": 1, "maximum": 64}},
    remediation="Set metadataOptions.httpPutResponseHopLimit 1 and give pods their own identity (EKS Pod Identity or "
                "IRSA). The EKS security best practices for managed nodes with a custom launch template: metadata "
                "version V2 only, response hop limit 1.",
), [EC2_INSTANCE, EC2_LAUNCH_TEMPLATE, EC2_LAUNCH_CONFIGURATION])
def imds_hop_limit(args: ResourceValidationArgs) -> Iterator[str]:
    if str(get(args.props, "metadataOptions.httpEndpoint") or "enabled") == "disabled":
        return
    maximum = int(config_value(args, "maximumHopLimit", 1))
    hops = number(args.props, "metadataOptions.httpPutResponseHopLimit")
    if hops is not None and hops > maximum:
        yield (f"{_s(args)} must keep the metadata hop limit at {maximum} or less (it is {int(hops)}); containers "
               "on the host could otherwise fetch its credentials.")


@resource_rule(RuleMeta(
    name="aws-ec2-no-public-ip",
    description="Give EC2 instances no public IP, and do not let subnets assign one by default.",
    severity="high", area="aws", controls=m.NETWORK_EXPOSURE,
    checks=("CKV_AWS_88", "CKV_AWS_130"),
    remediation="Set associatePublicIpAddress false (launch templates: networkInterfaces[].associatePublicIpAddress "
                "`false`) and mapPublicIpOnLaunch false; publish services through a load balancer instead.",
), [EC2_INSTANCE, EC2_LAUNCH_TEMPLATE, EC2_LAUNCH_CONFIGURATION, EC2_SPOT_REQUEST, EC2_SUBNET])
def ec2_public_ip(args: ResourceValidationArgs) -> Iterator[str]:
    if args.resource_type == EC2_SUBNET:
        if get(args.props, "mapPublicIpOnLaunch") is True:
            yield f"{_s(args)} must not assign public IPs by default (`mapPublicIpOnLaunch: true`)."
        return
    if args.resource_type == EC2_LAUNCH_TEMPLATE:
        # LaunchTemplateNetworkInterfaceArgs.associate_public_ip_address is a string ("true" / "false").
        for i, nic in enumerate(items(args.props, "networkInterfaces")):
            if truthy(nic, "associatePublicIpAddress"):
                yield f"{_s(args)} must not associate a public IP (`networkInterfaces[{i}].associatePublicIpAddress`)."
        return
    if truthy(args.props, "associatePublicIpAddress"):
        yield f"{_s(args)} must not have a public IP (`associatePublicIpAddress: true`)."


# --- Azure -----------------------------------------------------------------------------------------------------------
def _vm_nic_configs(args: ResourceValidationArgs) -> list[Any]:
    if args.resource_type == AZURE_VM:
        return items(args.props, "networkProfile.networkInterfaceConfigurations")
    return items(args.props, "virtualMachineProfile.networkProfile.networkInterfaceConfigurations")


@resource_rule(RuleMeta(
    name="azure-no-public-ip-on-nics",
    description="Attach no public IP to network interfaces or VM / scale-set NIC configurations.",
    severity="high", area="azure", controls=m.NETWORK_EXPOSURE,
    # checkov AzureNetworkInterfacePublicIPAddressId tests the NIC's ip_configuration public IP, one of these tests.
    checks=("CKV_AZURE_119",),
    remediation="Remove publicIPAddress / publicIPAddressConfiguration; reach VMs through Azure Bastion and publish "
                "services through a load balancer or Application Gateway.",
), [AZURE_NIC, AZURE_VM, AZURE_VMSS])
def azure_public_ip(args: ResourceValidationArgs) -> Iterator[str]:
    s = _s(args)
    if args.resource_type == AZURE_NIC:
        for conf in items(args.props, "ipConfigurations"):
            if get(conf, "publicIPAddress") is not None:
                yield f"{s} must not attach a public IP (ip configuration `{get(conf, 'name')}`)."
        return
    for nic in _vm_nic_configs(args):
        for conf in items(nic, "ipConfigurations"):
            if get(conf, "publicIPAddressConfiguration") is not None:
                yield f"{s} must not give NIC `{get(nic, 'name')}` a public IP (`publicIPAddressConfiguration`)."


@resource_rule(RuleMeta(
    name="azure-linux-vm-ssh-keys",
    description="Sign in to Linux VMs and scale sets with SSH keys, not passwords.",
    severity="high", area="azure", controls=m.AUTHENTICATION, checks=("CKV_AZURE_149",),
    remediation="Set osProfile.linuxConfiguration.disablePasswordAuthentication true with ssh.publicKeys (or use "
                "Entra ID login for Linux VMs).",
), [AZURE_VM, AZURE_VMSS])
def azure_ssh_keys(args: ResourceValidationArgs) -> Iterator[str]:
    profile = "osProfile" if args.resource_type == AZURE_VM else "virtualMachineProfile.osProfile"
    if get(args.props, f"{profile}.linuxConfiguration") is None:
        return
    if get(args.props, f"{profile}.linuxConfiguration.disablePasswordAuthentication") is not True:
        yield f"{_s(args)} must disable password sign-in (`linuxConfiguration.disablePasswordAuthentication`)."


# --- GCP -------------------------------------------------------------------------------------------------------------
@resource_rule(RuleMeta(
    name="gcp-compute-no-public-ip",
    description="Give Compute Engine instances and instance templates no external IP.",
    severity="high", area="gcp", controls=m.NETWORK_EXPOSURE, checks=("CKV_GCP_40",),
    remediation="Remove networkInterfaces[].accessConfigs and ipv6AccessConfigs; use Cloud NAT for egress and IAP "
                "or a load balancer for ingress.",
), [GCE_INSTANCE, *GCE_TEMPLATES])
def gce_public_ip(args: ResourceValidationArgs) -> Iterator[str]:
    for i, nic in enumerate(items(args.props, "networkInterfaces")):
        if items(nic, "accessConfigs") or items(nic, "ipv6AccessConfigs"):
            yield f"{_s(args)} must not have an external IP (`networkInterfaces[{i}].accessConfigs`)."


def _is_default_sa(email: Any) -> bool:
    return isinstance(email, str) and (email == "default" or bool(DEFAULT_COMPUTE_SA.match(email)))


@resource_rule(RuleMeta(
    name="gcp-no-default-compute-service-account",
    description="Run Compute Engine instances, templates and GKE nodes as a dedicated service account, not the "
                "Compute Engine default one.",
    severity="high", area="gcp", controls=m.ACCESS_CONTROL,
    # CKV_GCP_30: instances on the default service account; CKV_GCP_31: the default account with full access
    # (cloud-platform). Both fail here, on node pools too.
    checks=("CKV_GCP_30", "CKV_GCP_31"),
    remediation="Create a service account with only the roles the workload needs and set serviceAccount.email "
                "(GKE: nodeConfig.serviceAccount, with roles/container.defaultNodeServiceAccount).",
), [GCE_INSTANCE, *GCE_TEMPLATES, GKE_POOL, GKE_CLUSTER])
def gcp_default_sa(args: ResourceValidationArgs) -> Iterator[str]:
    s = _s(args)
    if args.resource_type in (GKE_POOL, GKE_CLUSTER):
        if args.resource_type == GKE_CLUSTER and (get(args.props, "removeDefaultNodePool") is True
                                                  or get(args.props, "enableAutopilot") is True):
            return  # no default pool (Autopilot nodes take clusterAutoscaling.autoProvisioningDefaults)
        # "If not specified, the "default" service account is used." (ClusterNodeConfigArgs.service_account)
        email = get(args.props, "nodeConfig.serviceAccount")
        if email is None or _is_default_sa(email):
            yield f"{s} must run its nodes as a dedicated service account (`nodeConfig.serviceAccount`)."
        return
    account = get(args.props, "serviceAccount")
    if account is None:
        return  # no service account at all: the VM has no Google credentials
    email = get(account, "email")
    if email is None or _is_default_sa(email):
        full = " with full access to all Cloud APIs" if CLOUD_PLATFORM & {str(x) for x in items(account, "scopes")} else ""
        yield f"{s} must not run as the Compute Engine default service account{full} (`serviceAccount.email`)."


RULES = (imdsv2, imds_hop_limit, ec2_public_ip, azure_public_ip, azure_ssh_keys, gce_public_ip, gcp_default_sa)
