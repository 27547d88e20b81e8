"""The Azure foundation network: resource group, VNet, subnets with NSGs, NAT gateway, private DNS zones."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import pulumi
from pulumi_azure_native import authorization, network, privatedns, resources

from aienv.spec.model import EndpointAccess, Exposure, StackSpec
from components.azure._shared import DNS_ZONES, stateful, tags

# Priorities: explicit allows first, the catch-all deny of Internet inbound last (before Azure's defaults).
_DENY_INTERNET_PRIORITY = 4000
_ALLOW_HTTPS_PRIORITY = 200


# API Server VNet Integration: "the API server subnet ... minimum supported size is /28", delegated to AKS
# (Microsoft, *Create an AKS cluster with API Server VNet Integration*).
APISERVER_SUBNET = "apiserver"
APISERVER_DELEGATION = "Microsoft.ContainerService/managedClusters"
_APISERVER_PREFIX = 28
_ALLOW_DEPLOYER_PRIORITY = 300
_ALLOW_NODES_PRIORITY = 310
_DENY_OTHER_API_PRIORITY = 3900
# The subnet of the gateway's internal load balancers (KubernetesSupport.load_balancer_annotations).
SERVICES_SUBNET = "services"


def subnet_layout(cidr: str) -> dict[str, str]:
    """nodes: the first half of the VNet; private endpoints and services: an eighth each after it; the API
    server's integration subnet: a /28 at the start of the next eighth."""
    net = ipaddress.IPv4Network(cidr)
    first, second = net.subnets(prefixlen_diff=1)
    endpoints, services, spare = list(second.subnets(prefixlen_diff=2))[:3]
    apiserver = next(spare.subnets(new_prefix=_APISERVER_PREFIX))
    return {"nodes": str(first), "endpoints": str(endpoints), SERVICES_SUBNET: str(services),
            APISERVER_SUBNET: str(apiserver)}


def deployer_path(spec: StackSpec) -> bool:
    """The deployer reaches a private API server from its own network (`cluster.deployer.path`)."""
    return spec.cluster.api_access is EndpointAccess.private and spec.cluster.deployer.path == "private_network"


@dataclass(frozen=True)
class NetworkArgs:
    spec: StackSpec


class Network(pulumi.ComponentResource):
    """`aienv:azure:Network`: everything else in the environment lives in this group and VNet."""

    resource_group: resources.ResourceGroup
    resource_group_name: pulumi.Output[str]
    vnet: network.VirtualNetwork
    subnets: dict[str, network.Subnet]
    nat_gateway: network.NatGateway | None
    egress_ips: list[network.PublicIPAddress]
    dns_zones: dict[str, privatedns.PrivateZone]

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aienv:azure:Network", name, None, opts)
        spec = args.spec
        common = tags(spec)
        location = spec.region

        self.resource_group = resources.ResourceGroup(
            f"{name}-rg",
            resources.ResourceGroupArgs(resource_group_name=f"rg-{spec.name}", location=location, tags=common),
            stateful(spec, self),
        )
        rg = self.resource_group.name
        self.resource_group_name = rg
        if spec.azure.resource_lock:
            # CanNotDelete: resources can change but nothing in the group can be deleted until the lock is lifted.
            authorization.ManagementLockAtResourceGroupLevel(
                f"{name}-lock",
                authorization.ManagementLockAtResourceGroupLevelArgs(
                    resource_group_name=rg, lock_name=f"{spec.name}-can-not-delete",
                    level=authorization.LockLevel.CAN_NOT_DELETE,
                    notes="aienv: stateful resources of this environment must not be deleted by accident."),
                pulumi.ResourceOptions(parent=self),
            )

        self.vnet = network.VirtualNetwork(
            f"{name}-vnet",
            network.VirtualNetworkInitArgs(
                resource_group_name=rg, location=location,
                address_space=network.AddressSpaceArgs(address_prefixes=[spec.network.cidr]),
                tags=common,
            ),
            pulumi.ResourceOptions(parent=self),
        )

        self.egress_ips = []
        self.nat_gateway = None
        if spec.network.egress == "nat":
            zones = [str(z) for z in range(1, spec.network.availability_zones + 1)]
            # Azure attaches at most one NAT gateway per subnet, so `per_zone` gives the one gateway a public IP
            # per zone (more SNAT ports), not a gateway per zone. The gateway itself stays in one zone: "NAT gateway
            # is a zonal resource"; with no zone set "Azure places the resource in a zone for you", and "if the
            # zone that NAT gateway is deployed in goes down, then outbound connectivity across all virtual
            # machine instances associated with the NAT gateway goes down" (Microsoft, *NAT gateway and
            # availability zones*). Egress is therefore not zone-redundant.
            count = 1 if spec.network.nat_gateways == "single" else spec.network.availability_zones
            for i in range(count):
                self.egress_ips.append(network.PublicIPAddress(
                    f"{name}-egress-ip-{i + 1}",
                    network.PublicIPAddressInitArgs(
                        resource_group_name=rg, location=location,
                        sku=network.PublicIPAddressSkuArgs(name=network.PublicIPAddressSkuName.STANDARD),
                        public_ip_allocation_method=network.IPAllocationMethod.STATIC,
                        zones=zones if spec.network.nat_gateways == "per_zone" else None,
                        tags=common,
                    ),
                    pulumi.ResourceOptions(parent=self),
                ))
            self.nat_gateway = network.NatGateway(
                f"{name}-nat",
                network.NatGatewayInitArgs(
                    resource_group_name=rg, location=location,
                    sku=network.NatGatewaySkuArgs(name=network.NatGatewaySkuName.STANDARD),
                    idle_timeout_in_minutes=10,
                    public_ip_addresses=[network.SubResourceArgs(id=ip.id) for ip in self.egress_ips],
                    tags=common,
                ),
                pulumi.ResourceOptions(parent=self),
            )

        public_serving = any(e.exposure is Exposure.public for e in spec.model_endpoints)
        layout = subnet_layout(spec.network.cidr)
        self.subnets = {}
        if not deployer_path(spec):
            layout.pop(APISERVER_SUBNET)
        for role, prefix in layout.items():
            rules = [network.SecurityRuleArgs(
                name="deny-internet-inbound", priority=_DENY_INTERNET_PRIORITY,
                direction=network.SecurityRuleDirection.INBOUND, access=network.SecurityRuleAccess.DENY,
                protocol=network.SecurityRuleProtocol.ASTERISK, source_address_prefix="Internet",
                source_port_range="*", destination_address_prefix="*", destination_port_range="*",
                description="Nothing on the internet reaches this subnet unless a rule above allows it.")]
            if role == "nodes" and public_serving:
                # Only HTTPS to the gateway's public load balancer, and only when an endpoint is `public`.
                rules.insert(0, network.SecurityRuleArgs(
                    name="allow-https-to-gateway", priority=_ALLOW_HTTPS_PRIORITY,
                    direction=network.SecurityRuleDirection.INBOUND, access=network.SecurityRuleAccess.ALLOW,
                    protocol=network.SecurityRuleProtocol.TCP, source_address_prefix="Internet",
                    source_port_range="*", destination_address_prefix="*", destination_port_range="443",
                    description="Public model endpoints: HTTPS to the serving gateway only."))
            if role == APISERVER_SUBNET:
                rules = self._apiserver_rules(spec, layout["nodes"]) + rules
            nsg = network.NetworkSecurityGroup(
                f"{name}-{role}-nsg",
                network.NetworkSecurityGroupInitArgs(resource_group_name=rg, location=location,
                                                     security_rules=rules, tags=common),
                pulumi.ResourceOptions(parent=self),
            )
            self.subnets[role] = network.Subnet(
                f"{name}-{role}",
                network.SubnetInitArgs(
                    resource_group_name=rg, virtual_network_name=self.vnet.name, subnet_name=role,
                    address_prefix=prefix,
                    network_security_group=network.NetworkSecurityGroupArgs(id=nsg.id),
                    nat_gateway=network.SubResourceArgs(id=self.nat_gateway.id)
                    if self.nat_gateway is not None and role == "nodes" else None,
                    # No implicit outbound: egress only through the NAT gateway (or none at all).
                    default_outbound_access=False,
                    private_endpoint_network_policies=network.VirtualNetworkPrivateEndpointNetworkPolicies.ENABLED
                    if role == "endpoints" else None,
                    delegations=[network.DelegationArgs(name="aks-apiserver", service_name=APISERVER_DELEGATION)]
                    if role == APISERVER_SUBNET else None,
                    # Without private endpoints, services are reached over service endpoints from the nodes.
                    service_endpoints=None if spec.network.private_endpoints or role != "nodes" else [
                        network.ServiceEndpointPropertiesFormatArgs(service=s)
                        for s in ("Microsoft.Storage", "Microsoft.KeyVault", "Microsoft.ContainerRegistry")],
                ),
                # Azure serialises writes to one VNet's subnets.
                pulumi.ResourceOptions(parent=self, depends_on=list(self.subnets.values())),
            )

        self.dns_zones = {}
        if spec.network.private_endpoints:
            for key, zone_name in DNS_ZONES.items():
                zone = privatedns.PrivateZone(
                    f"{name}-dns-{key.replace('_', '-')}",
                    privatedns.PrivateZoneArgs(resource_group_name=rg, private_zone_name=zone_name,
                                               location="global", tags=common),
                    pulumi.ResourceOptions(parent=self),
                )
                privatedns.VirtualNetworkLink(
                    f"{name}-dns-{key.replace('_', '-')}-link",
                    privatedns.VirtualNetworkLinkArgs(
                        resource_group_name=rg, private_zone_name=zone.name, location="global",
                        virtual_network=privatedns.SubResourceArgs(id=self.vnet.id),
                        registration_enabled=False, tags=common),
                    pulumi.ResourceOptions(parent=self),
                )
                self.dns_zones[key] = zone

        self.register_outputs({
            "resourceGroupName": rg,
            "vnetId": self.vnet.id,
            "subnetIds": {k: s.id for k, s in self.subnets.items()},
            "egressIps": [ip.id for ip in self.egress_ips],
            "privateDnsZones": {k: z.id for k, z in self.dns_zones.items()},
        })

    @staticmethod
    def _apiserver_rules(spec: StackSpec, nodes: str) -> list[network.SecurityRuleArgs]:
        """The API server's subnet admits the nodes and `cluster.deployer.cidrs`, and no other network that is
        peered or VPN-connected to the VNet (Azure's default rules admit all of `VirtualNetwork`)."""
        def rule(name: str, priority: int, access: str, sources: list[str], ports: list[str],
                 description: str) -> network.SecurityRuleArgs:
            return network.SecurityRuleArgs(
                name=name, priority=priority, direction=network.SecurityRuleDirection.INBOUND, access=access,
                protocol=network.SecurityRuleProtocol.TCP, source_port_range="*", destination_address_prefix="*",
                source_address_prefixes=sources if len(sources) > 1 else None,
                source_address_prefix=sources[0] if len(sources) == 1 else None,
                destination_port_ranges=ports, description=description)
        return [
            rule("allow-deployer-to-api", _ALLOW_DEPLOYER_PRIORITY, network.SecurityRuleAccess.ALLOW,
                 list(spec.cluster.deployer.cidrs), ["443"], "The deployer's network (cluster.deployer.cidrs)."),
            rule("allow-nodes-to-api", _ALLOW_NODES_PRIORITY, network.SecurityRuleAccess.ALLOW, [nodes],
                 ["443", "4443"], "Nodes and kubelets reach the API server's internal load balancer."),
            rule("deny-other-networks-to-api", _DENY_OTHER_API_PRIORITY, network.SecurityRuleAccess.DENY,
                 ["VirtualNetwork"], ["443", "4443"], "No other peered or connected network reaches the API."),
        ]
