"""`aienv:gcp:Network`: project services, a custom-mode VPC, the cluster subnet, Cloud NAT, firewall and
the Private Service Connect endpoint for Google APIs."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_gcp import compute, dns, projects

from aienv.naming import compact
from aienv.spec.model import StackSpec
from components.gcp import common

PODS_RANGE = "pods"
SERVICES_RANGE = "services"
# No rule for Google's load-balancer health checkers: GKE writes its own, per Service and port ("While GKE
# automatically creates ingress allow VPC firewall rules for LoadBalancer Services by default ...",
# cloud.google.com/kubernetes-engine/docs/concepts/firewall-rules), so nothing wider is opened here.
# Ports the GKE control plane calls on nodes: kubelet plus admission webhooks (GKE opens only 443/10250).
WEBHOOK_PORTS = ["443", "8443", "9443", "10250", "15017"]


def required_services(spec: StackSpec) -> list[str]:
    """The APIs this spec needs, in a stable order."""
    services = [
        "serviceusage.googleapis.com", "cloudresourcemanager.googleapis.com", "iam.googleapis.com",
        "iamcredentials.googleapis.com", "compute.googleapis.com", "container.googleapis.com",
        "cloudkms.googleapis.com", "storage.googleapis.com", "artifactregistry.googleapis.com",
        "dns.googleapis.com", "monitoring.googleapis.com", "logging.googleapis.com",
    ]
    if spec.registries.container.scan_on_push:
        services.append("containerscanning.googleapis.com")
    if common.vertex_on(spec):
        services.append("aiplatform.googleapis.com")
    if common.bigquery_on(spec):
        services.append("bigquery.googleapis.com")
    if common.redis_on(spec):
        services.append("redis.googleapis.com")
    if spec.budget is not None:
        services.append("billingbudgets.googleapis.com")
    if spec.network.private_endpoints:
        # "You must enable the Service Directory API in your project" to create a Private Service Connect
        # endpoint for Google APIs (cloud.google.com/vpc/docs/configure-private-service-connect-apis).
        services.append("servicedirectory.googleapis.com")
    if secrets_used(spec):
        services.append("secretmanager.googleapis.com")
    return services


def secrets_used(spec: StackSpec) -> bool:
    """Secret Manager holds the model tokens and upstream-registry passwords the spec names."""
    return bool(spec.registries.upstreams) or any(
        e.model.source is not None and e.model.source.token_secret for e in spec.model_endpoints)


@dataclass(frozen=True)
class NetworkArgs:
    spec: StackSpec


class Network(pulumi.ComponentResource):
    """Everything the environment's network needs. Children wait on `services` before using an API."""

    services: list[projects.Service]
    vpc: compute.Network
    subnet: compute.Subnetwork
    plan: common.AddressPlan

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aienv:gcp:Network", name, None, opts)
        spec = args.spec
        project = spec.cloud.project
        self.plan = plan = common.address_plan(spec.network.cidr)

        # Never disable an API on destroy: other workloads in the project may rely on it.
        self.services = [
            projects.Service(f"{name}-api-{api.split('.')[0]}", projects.ServiceArgs(
                service=api, project=project, disable_on_destroy=False, disable_dependent_services=False),
                pulumi.ResourceOptions(parent=self))
            for api in required_services(spec)
        ]
        after = pulumi.ResourceOptions(parent=self, depends_on=self.services)

        self.vpc = compute.Network(f"{name}-vpc", compute.NetworkArgs(
            auto_create_subnetworks=False, routing_mode="REGIONAL",
            delete_default_routes_on_create=False, description=f"aienv {spec.name}"), after)

        self.subnet = compute.Subnetwork(f"{name}-subnet", compute.SubnetworkArgs(
            network=self.vpc.id, region=spec.region, ip_cidr_range=plan.nodes,
            # Private nodes reach Google APIs without external IPs.
            private_ip_google_access=True,
            secondary_ip_ranges=[
                compute.SubnetworkSecondaryIpRangeArgs(range_name=PODS_RANGE, ip_cidr_range=plan.pods),
                compute.SubnetworkSecondaryIpRangeArgs(range_name=SERVICES_RANGE, ip_cidr_range=plan.services),
            ],
            log_config=compute.SubnetworkLogConfigArgs(
                aggregation_interval="INTERVAL_5_SEC", flow_sampling=0.5,
                metadata="INCLUDE_ALL_METADATA") if spec.network.flow_logs else None,
        ), pulumi.ResourceOptions(parent=self))

        self.router: compute.Router | None = None
        self.nat: compute.RouterNat | None = None
        if spec.network.egress == "nat":
            # Cloud NAT is a regional, zone-redundant managed service: `single` and `per_zone` both map
            # to one regional NAT with automatically allocated addresses.
            self.router = compute.Router(f"{name}-router", compute.RouterArgs(
                network=self.vpc.id, region=spec.region), pulumi.ResourceOptions(parent=self))
            self.nat = compute.RouterNat(f"{name}-nat", compute.RouterNatArgs(
                router=self.router.name, region=spec.region, nat_ip_allocate_option="AUTO_ONLY",
                source_subnetwork_ip_ranges_to_nat="ALL_SUBNETWORKS_ALL_IP_RANGES",
                enable_endpoint_independent_mapping=False,
                log_config=compute.RouterNatLogConfigArgs(enable=True, filter="ERRORS_ONLY"),
            ), pulumi.ResourceOptions(parent=self))

        self.firewalls = self._firewalls(name, spec, plan)

        # Private Service Connect endpoint for all Google APIs, with private DNS so the default API
        # names (storage, KMS, Vertex AI, Artifact Registry) resolve to it instead of public IPs.
        self.psc_address: compute.GlobalAddress | None = None
        self.dns_zones: list[dns.ManagedZone] = []
        if spec.network.private_endpoints:
            self._private_service_connect(name, spec, plan)

        self.register_outputs({"vpc": self.vpc.id, "subnet": self.subnet.id,
                               "services": [s.service for s in self.services]})

    def _firewalls(self, name: str, spec: StackSpec, plan: common.AddressPlan) -> list[compute.Firewall]:
        # Firewall names are at most 63 characters: pinned (an auto-name `<env>-network-fw-<role>-<hex>` of a
        # 40-character environment passes the limit).
        opts = pulumi.ResourceOptions(parent=self, delete_before_replace=True)
        log = compute.FirewallLogConfigArgs(metadata="INCLUDE_ALL_METADATA")
        rules = [
            compute.Firewall(f"{name}-fw-internal", compute.FirewallArgs(
                name=common.physical_name(spec, "fw-internal", 63),
                network=self.vpc.id, direction="INGRESS", priority=1000,
                description="Nodes and pods talk to each other.",
                source_ranges=[plan.nodes, plan.pods],
                allows=[compute.FirewallAllowArgs(protocol="tcp"), compute.FirewallAllowArgs(protocol="udp"),
                        compute.FirewallAllowArgs(protocol="icmp")],
                log_config=log), opts),
            compute.Firewall(f"{name}-fw-control-plane", compute.FirewallArgs(
                name=common.physical_name(spec, "fw-control-plane", 63),
                network=self.vpc.id, direction="INGRESS", priority=1000,
                description="The GKE control plane reaches kubelets and admission webhooks.",
                source_ranges=[plan.master],
                allows=[compute.FirewallAllowArgs(protocol="tcp", ports=WEBHOOK_PORTS)],
                log_config=log), opts),
            # GCP denies ingress implicitly; the explicit rule makes the denial visible and logged.
            compute.Firewall(f"{name}-fw-deny-ingress", compute.FirewallArgs(
                name=common.physical_name(spec, "fw-deny-ingress", 63),
                network=self.vpc.id, direction="INGRESS", priority=65000,
                description="Deny (and log) all other ingress.",
                source_ranges=["0.0.0.0/0"], denies=[compute.FirewallDenyArgs(protocol="all")],
                log_config=log), opts),
        ]
        if spec.network.egress == "none":
            google_apis = [f"{plan.psc_address}/32"] if spec.network.private_endpoints else []
            rules += [
                compute.Firewall(f"{name}-fw-egress-private", compute.FirewallArgs(
                name=common.physical_name(spec, "fw-egress-private", 63),
                    network=self.vpc.id, direction="EGRESS", priority=1000,
                    description="Only private destinations and Google APIs are reachable.",
                    destination_ranges=[spec.network.cidr, plan.master, "199.36.153.8/30", *google_apis],
                    allows=[compute.FirewallAllowArgs(protocol="all")], log_config=log), opts),
                compute.Firewall(f"{name}-fw-deny-egress", compute.FirewallArgs(
                name=common.physical_name(spec, "fw-deny-egress", 63),
                    network=self.vpc.id, direction="EGRESS", priority=65000,
                    description="No internet egress (network.egress: none).",
                    destination_ranges=["0.0.0.0/0"], denies=[compute.FirewallDenyArgs(protocol="all")],
                    log_config=log), opts),
            ]
        return rules

    def _private_service_connect(self, name: str, spec: StackSpec, plan: common.AddressPlan) -> None:
        opts = pulumi.ResourceOptions(parent=self)
        self.psc_address = compute.GlobalAddress(f"{name}-psc-ip", compute.GlobalAddressArgs(
            address_type="INTERNAL", purpose="PRIVATE_SERVICE_CONNECT", address=plan.psc_address,
            network=self.vpc.id), opts)
        # PSC forwarding-rule names are 1-20 lowercase letters and digits, so the name is pinned.
        # The endpoint registers itself in Service Directory and DNS: it waits for those APIs.
        self.psc_endpoint = compute.GlobalForwardingRule(f"{name}-psc-apis", compute.GlobalForwardingRuleArgs(
            name=f"psc{compact(spec.name)}"[:20], target="all-apis", network=self.vpc.id,
            ip_address=self.psc_address.id, load_balancing_scheme=""),
            pulumi.ResourceOptions(parent=self, delete_before_replace=True, depends_on=self.services))
        for role, domain in (("googleapis", "googleapis.com."), ("pkg-dev", "pkg.dev.")):
            zone = dns.ManagedZone(f"{name}-dns-{role}", dns.ManagedZoneArgs(
                name=common.physical_name(spec, f"dns-{role}", 63), dns_name=domain, visibility="private", description=f"{domain} through Private Service Connect",
                private_visibility_config=dns.ManagedZonePrivateVisibilityConfigArgs(
                    networks=[dns.ManagedZonePrivateVisibilityConfigNetworkArgs(network_url=self.vpc.id)])),
                pulumi.ResourceOptions(parent=self, depends_on=self.services, delete_before_replace=True))
            dns.RecordSet(f"{name}-dns-{role}-a", dns.RecordSetArgs(
                managed_zone=zone.name, name=domain, type="A", ttl=300, rrdatas=[plan.psc_address]), opts)
            dns.RecordSet(f"{name}-dns-{role}-wildcard", dns.RecordSetArgs(
                managed_zone=zone.name, name=f"*.{domain}", type="CNAME", ttl=300, rrdatas=[domain]), opts)
            self.dns_zones.append(zone)
