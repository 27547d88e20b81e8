"""Deployability, classes 8 and 9: the deployer reaches the API server it configures, private endpoints have
their DNS, and the controls the stack relies on are enforced by the platform.

The clusters whose API servers the stack's Kubernetes resources talk to are found through the Kubernetes
provider: its `kubeconfig` depends on the EKS/AKS/GKE cluster of the same stack.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterator
from typing import Any

from pulumi_policy import PolicyResource, StackValidationArgs

from policies.meta import RuleMeta
from policies.rules._base import get, guarded, items, stack_rule, subject
from policies.rules.deploy_fit import AKS, DEPLOY_CONTROLS, HELM_RELEASE

EKS = "aws:eks/cluster:Cluster"
GKE = "gcp:container/cluster:Cluster"
CLUSTERS = frozenset({EKS, AKS, GKE})
K8S_PROVIDER = "pulumi:providers:kubernetes"
VPC = "aws:ec2/vpc:Vpc"
SG_INGRESS = ("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", "aws:ec2/securityGroupRule:SecurityGroupRule")
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
NAMESPACE = "kubernetes:core/v1:Namespace"
EKS_ADDON = "aws:eks/addon:Addon"
# Network-policy engines a stack may install itself (Helm charts), enforcing NetworkPolicies on any CNI.
POLICY_ENGINE_CHARTS = frozenset({"cilium", "tigera-operator", "calico", "antrea"})


def _provider_urn(ref: str | None) -> str | None:
    if not ref:
        return None
    return ref.rsplit("::", 1)[0] if ref.count("::") > 3 else ref


def cluster_targets(args: StackValidationArgs) -> dict[str, list[PolicyResource]]:
    """Cluster URN -> the Kubernetes resources of the stack deployed onto it."""
    clusters_of: dict[str, str] = {}
    for r in args.resources:
        if r.resource_type == K8S_PROVIDER:
            for dep in r.property_dependencies.get("kubeconfig", []):
                if dep.resource_type in CLUSTERS:
                    clusters_of[r.urn] = dep.urn
    out: dict[str, list[PolicyResource]] = {}
    for r in args.resources:
        if r.resource_type.startswith("kubernetes:") and r.provider is not None:
            cluster = clusters_of.get(r.provider.urn) or clusters_of.get(_provider_urn(r.provider.urn) or "")
            if cluster:
                out.setdefault(cluster, []).append(r)
    return out


def _outside(cidr: str, inside: list[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    try:
        net = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return False
    return not any(net.version == n.version and net.subnet_of(n) for n in inside)  # type: ignore[arg-type]


def _vpc_cidrs(resources: list[PolicyResource]) -> list[Any]:
    out = []
    for r in resources:
        if r.resource_type in (VPC, "gcp:compute/subnetwork:Subnetwork"):
            try:
                cidr = get(r.props, "cidrBlock") or get(r.props, "ipCidrRange")
                if isinstance(cidr, str):
                    out.append(ipaddress.ip_network(cidr, strict=False))
                for rng in items(r.props, "secondaryIpRanges"):
                    out.append(ipaddress.ip_network(str(get(rng, "ipCidrRange")), strict=False))
            except Exception:  # noqa: BLE001
                continue
    return out


def _eks_path(cluster: PolicyResource, resources: list[PolicyResource]) -> str | None:
    """None when the deployer has a path to the EKS API, else why not."""
    vpc = get(cluster.props, "vpcConfig") or {}
    if get(vpc, "endpointPublicAccess") is not False:
        return None  # public (default true), possibly CIDR-restricted
    inside = _vpc_cidrs(resources)
    extra_sgs = {str(s) for s in items(vpc, "securityGroupIds")}
    for r in resources:
        if r.resource_type not in SG_INGRESS:
            continue
        if r.resource_type == SG_INGRESS[1] and get(r.props, "type") != "ingress":
            continue
        on_cluster = any(d.urn == cluster.urn for d in r.property_dependencies.get("securityGroupId", [])) or \
            str(get(r.props, "securityGroupId")) in extra_sgs
        low, high = get(r.props, "fromPort"), get(r.props, "toPort")
        covers = low is None or (float(low) <= 443 <= float(high if high is not None else low))
        if not on_cluster or not covers:
            continue
        cidrs = [get(r.props, "cidrIpv4")] + list(items(r.props, "cidrBlocks"))
        if any(isinstance(c, str) and _outside(c, inside) for c in cidrs) or get(r.props, "prefixListId") or \
                get(r.props, "referencedSecurityGroupId") or get(r.props, "sourceSecurityGroupId"):
            return None
    return ("its endpoint is private and no ingress rule on the cluster security group admits 443 from outside "
            "the VPC")


def _aks_path(cluster: PolicyResource, resources: list[PolicyResource]) -> str | None:
    access = get(cluster.props, "apiServerAccessProfile") or {}
    if not get(access, "enablePrivateCluster"):
        return None
    if get(access, "enablePrivateClusterPublicFQDN") is True:
        return None
    zone = str(get(access, "privateDNSZone") or "system").lower()
    if zone not in ("system", "none"):
        links = [r for r in resources if r.resource_type == "azure-native:privatedns:VirtualNetworkLink"
                 and zone.endswith(str(get(r.props, "privateZoneName") or "\0").lower())]
        if len(links) >= 2:
            return None  # a custom private zone linked to the deployer's VNet as well
    return ("it is a private cluster whose FQDN resolves only inside the cluster VNet (no public FQDN, no custom "
            "private DNS zone linked to another VNet)")


def _gke_path(cluster: PolicyResource, resources: list[PolicyResource]) -> str | None:
    if get(cluster.props, "controlPlaneEndpointsConfig.dnsEndpointConfig.allowExternalTraffic") is True:
        return None
    if not get(cluster.props, "privateClusterConfig.enablePrivateEndpoint"):
        return None
    inside = _vpc_cidrs(resources)
    blocks = [str(get(b, "cidrBlock")) for b in items(cluster.props, "masterAuthorizedNetworksConfig.cidrBlocks")]
    if any(_outside(b, inside) for b in blocks):
        return None
    return ("its endpoint is private, the DNS-based endpoint is off and the authorized networks hold only the "
            "cluster's own ranges")


@stack_rule(RuleMeta(
    name="deploy-api-server-reachable",
    description="Give the deployer a path to a private API server the same stack deploys Kubernetes resources to.",
    severity="critical", area="deploy", controls=DEPLOY_CONTROLS,
    remediation="EKS: \"If you disable public access, your cluster's Kubernetes API server can only receive requests "
                "from within the cluster VPC\" (EKS VpcConfigRequest): add a 443 ingress rule on the cluster security "
                "group from the deployer's peered network, or enable public access restricted to its CIDRs. AKS: a "
                "private cluster's API resolves only through its private DNS zone: enable the public FQDN "
                "(`enablePrivateClusterPublicFQDN`) for a peered deployer or use a custom private zone linked to the "
                "deployer's VNet. GKE: enable the DNS-based endpoint (`control_plane_endpoints_config."
                "dns_endpoint_config.allow_external_traffic`) or authorize the deployer's network. aienv: "
                "`cluster.deployer` (docs/deploy.md).",
), CLUSTERS | {K8S_PROVIDER})
def api_reachable(args: StackValidationArgs) -> Iterator[tuple[str, str | None]]:
    targets = cluster_targets(args)
    resources = list(args.resources)
    by_urn = {r.urn: r for r in resources}
    paths = {EKS: _eks_path, AKS: _aks_path, GKE: _gke_path}

    def check(r: PolicyResource) -> Iterator[str]:
        if r.urn not in targets:
            return
        why = paths[r.resource_type](r, resources)
        if why:
            yield (f"{subject(r.resource_type, r.name)} must be reachable by the deployer, which creates "
                   f"{len(targets[r.urn])} Kubernetes resources on it: {why}.")

    yield from guarded([by_urn[u] for u in targets if u in by_urn], None, check)


# --- Private endpoints need their DNS ------------------------------------------------------------------------
AZ_PE = "azure-native:network:PrivateEndpoint"
AZ_ZONE_GROUP = "azure-native:network:PrivateDnsZoneGroup"
AZ_LINK = "azure-native:privatedns:VirtualNetworkLink"
AZ_ZONE = "azure-native:privatedns:PrivateZone"
AWS_VPCE = "aws:ec2/vpcEndpoint:VpcEndpoint"
GCP_PSC = "gcp:compute/globalForwardingRule:GlobalForwardingRule"
GCP_DNS_ZONE = "gcp:dns/managedZone:ManagedZone"


@stack_rule(RuleMeta(
    name="deploy-private-endpoint-dns",
    description="Give every private service endpoint the private DNS that resolves the service to it.",
    severity="high", area="deploy", controls=DEPLOY_CONTROLS,
    remediation="Azure: a private DNS zone group on the private endpoint, its zone linked to the VNet (\"Azure "
                "Private Endpoint DNS configuration\"). AWS: `private_dns_enabled = true` on interface endpoints, "
                "otherwise the service's public name still resolves to public addresses (aws.ec2.VpcEndpoint "
                "docstring, \"Defaults to `false`\"). GCP: a private Cloud DNS zone for `googleapis.com.` on the VPC "
                "for a Private Service Connect endpoint (cloud.google.com/vpc/docs/configure-private-service-"
                "connect-apis, \"Create DNS records\").",
), [AZ_PE, AZ_ZONE_GROUP, AZ_LINK, AWS_VPCE, GCP_PSC, GCP_DNS_ZONE])
def endpoint_dns(args: StackValidationArgs) -> Iterator[tuple[str, str | None]]:
    resources = list(args.resources)
    linked = {d.urn for r in resources if r.resource_type == AZ_LINK
              for d in r.property_dependencies.get("privateZoneName", [])}
    groups: dict[str, list[PolicyResource]] = {}
    for r in resources:
        if r.resource_type == AZ_ZONE_GROUP:
            for d in r.property_dependencies.get("privateEndpointName", []):
                groups.setdefault(d.urn, []).append(r)
    google_zones = []
    for r in resources:
        if r.resource_type == GCP_DNS_ZONE:
            try:
                if str(get(r.props, "visibility")) == "private" and \
                        str(get(r.props, "dnsName") or "").endswith("googleapis.com."):
                    google_zones.append(r)
            except Exception:  # noqa: BLE001
                continue

    def check(r: PolicyResource) -> Iterator[str]:
        who = subject(r.resource_type, r.name)
        if r.resource_type == AZ_PE:
            zone_groups = groups.get(r.urn, [])
            if not zone_groups:
                yield f"{who} must have a private DNS zone group (no zone resolves the service to it)."
            for g in zone_groups:
                for d in g.property_dependencies.get("privateDnsZoneConfigs", []):
                    if d.resource_type == AZ_ZONE and d.urn not in linked:
                        yield f"{who} must have its DNS zone `{d.name}` linked to the virtual network."
        elif r.resource_type == AWS_VPCE:
            if str(get(r.props, "vpcEndpointType") or "Gateway") == "Interface" and \
                    get(r.props, "privateDnsEnabled") is not True:
                yield f"{who} must enable private DNS, or clients keep resolving the service's public addresses."
        elif r.resource_type == GCP_PSC and str(get(r.props, "target") or "") in ("all-apis", "vpc-sc") and \
                not google_zones:
            yield f"{who} must have a private Cloud DNS zone for googleapis.com. pointing at it."

    yield from guarded(resources, frozenset({AZ_PE, AWS_VPCE, GCP_PSC}), check)


# --- Enforcement -----------------------------------------------------------------------------------------------
def _vpc_cni_enforces(cluster: PolicyResource, resources: list[PolicyResource]) -> bool:
    for r in resources:
        if r.resource_type != EKS_ADDON or str(get(r.props, "addonName")) != "vpc-cni":
            continue
        if not any(d.urn == cluster.urn for d in r.property_dependencies.get("clusterName", [])) and \
                str(get(r.props, "clusterName")) != str(get(cluster.props, "name")):
            continue
        raw = get(r.props, "configurationValues")
        try:
            conf = json.loads(raw) if isinstance(raw, str) else {}
        except ValueError:
            conf = {}
        if str(conf.get("enableNetworkPolicy", "")).lower() == "true":
            return True
    return False


def _enforcer(cluster: PolicyResource, resources: list[PolicyResource], targets: list[PolicyResource]) -> str | None:
    """None when the cluster enforces NetworkPolicies, else why not."""
    for r in targets:
        if r.resource_type == HELM_RELEASE and \
                str(get(r.props, "chart") or "").rstrip("/").rsplit("/", 1)[-1] in POLICY_ENGINE_CHARTS:
            return None
    if cluster.resource_type == EKS:
        if _vpc_cni_enforces(cluster, resources):
            return None
        return ("the VPC CNI enforces NetworkPolicies only when its `vpc-cni` add-on is managed with "
                "`{\"enableNetworkPolicy\": \"true\"}`, and the stack does not")
    if cluster.resource_type == AKS:
        profile = get(cluster.props, "networkProfile") or {}
        if str(get(profile, "networkPolicy") or "none").lower() in ("azure", "calico", "cilium"):
            return None
        return "its `networkProfile.networkPolicy` is not set (azure, calico or cilium)"
    if str(get(cluster.props, "datapathProvider") or "") == "ADVANCED_DATAPATH":
        return None
    if get(cluster.props, "networkPolicy.enabled") is True and \
            get(cluster.props, "addonsConfig.networkPolicyConfig.disabled") is not True:
        return None
    return "neither GKE Dataplane V2 (`datapath_provider: ADVANCED_DATAPATH`) nor network policy enforcement is on"


def _minor(version: Any) -> int | None:
    try:
        return int(str(version).split(".")[1])
    except (IndexError, ValueError):
        return None


@stack_rule(RuleMeta(
    name="deploy-controls-enforced",
    description="Deploy NetworkPolicies only to clusters whose network plugin enforces them, and Pod Security labels "
                "only to clusters that admit them.",
    severity="critical", area="deploy", controls=DEPLOY_CONTROLS,
    remediation="EKS: \"network policies are not enabled by default. You must opt-in\" (amazon-vpc-cni-k8s Network "
                "Policy FAQ): manage `aws.eks.Addon(addon_name=\"vpc-cni\", configuration_values="
                "'{\"enableNetworkPolicy\":\"true\"}')`. AKS: set `networkProfile.networkPolicy` (azure, calico, "
                "cilium) (\"Secure traffic between pods by using network policies in AKS\"). GKE: Dataplane V2 or "
                "`network_policy.enabled` (\"Control communication between Pods and Services using network "
                "policies\"). Pod Security admission labels take effect from Kubernetes 1.25 (PodSecurity GA).",
), CLUSTERS | {NETWORK_POLICY, NAMESPACE, EKS_ADDON, HELM_RELEASE, K8S_PROVIDER})
def controls_enforced(args: StackValidationArgs) -> Iterator[tuple[str, str | None]]:
    targets = cluster_targets(args)
    resources = list(args.resources)
    by_urn = {r.urn: r for r in resources}

    def check(cluster: PolicyResource) -> Iterator[str]:
        on = targets.get(cluster.urn, [])
        policies = [r for r in on if r.resource_type == NETWORK_POLICY]
        who = subject(cluster.resource_type, cluster.name)
        if policies:
            why = _enforcer(cluster, resources, on)
            if why:
                yield (f"{who} must enforce the {len(policies)} NetworkPolicies the stack deploys to it: {why}; "
                       "otherwise they are no-ops.")
        labelled = [r for r in on if r.resource_type == NAMESPACE and any(
            str(k).startswith("pod-security.kubernetes.io/") for k in (get(r.props, "metadata.labels") or {}))]
        version = get(cluster.props, "version") or get(cluster.props, "kubernetesVersion") or \
            get(cluster.props, "minMasterVersion")
        minor = _minor(version)
        if labelled and minor is not None and minor < 25:
            yield (f"{who} must run Kubernetes 1.25 or later to admit the Pod Security labels of "
                   f"{len(labelled)} namespaces (it runs {version}).")

    yield from guarded([by_urn[u] for u in targets if u in by_urn], None, check)


RULES = (api_reachable, endpoint_dns, controls_enforced)
