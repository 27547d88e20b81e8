"""Network exposure: every way a program opens a port to the internet, on each cloud, and load-balancer
listeners that serve plain HTTP.

A source is "the internet" when it is `0.0.0.0/0` or `::/0` (AWS, GCP) or, on Azure, `*`, `Internet`,
`Any`, `0.0.0.0/0` or `::/0` (the service tag and wildcards Azure accepts for `sourceAddressPrefix`).
Ports in `allowedPublicPorts` (80 and 443 unless configured) may be open to it; any other TCP/UDP port, a
range that reaches beyond them, or "all protocols" is a finding. ICMP and other port-less protocols are
not (they open no port). One finding per rule entry that opens something, on the resource that holds it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from pulumi_policy import PolicyResource, ResourceValidationArgs, StackValidationArgs

from policies import meta as m
from policies.meta import RuleMeta
from policies.rules._base import config_value, get, guarded, items, resource_rule, stack_rule
from policies.rules.nouns import subject
from policies.rules.tokens import with_previous

# --- Type tokens (current major, plus the aliases the installed SDKs declare for them) -------------------
AWS_SG = "aws:ec2/securityGroup:SecurityGroup"
AWS_DEFAULT_SG = "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"
AWS_SG_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
AWS_SG_INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
AWS_LB_LISTENERS = with_previous({"aws:lb/listener:Listener", "aws:alb/listener:Listener"})
AWS_ELB = "aws:elb/loadBalancer:LoadBalancer"
AWS_ELB_TYPES = with_previous({AWS_ELB})
AZURE_NSG = "azure-native:network:NetworkSecurityGroup"
AZURE_NSG_RULE = "azure-native:network:SecurityRule"
AZURE_APP_GATEWAY = "azure-native:network:ApplicationGateway"
GCP_FIREWALL = "gcp:compute/firewall:Firewall"
GCP_HTTP_PROXIES = frozenset({"gcp:compute/targetHttpProxy:TargetHttpProxy",
                              "gcp:compute/regionTargetHttpProxy:RegionTargetHttpProxy"})
GCP_URL_MAPS = frozenset({"gcp:compute/uRLMap:URLMap", "gcp:compute/regionUrlMap:RegionUrlMap"})

INTERNET_CIDRS = frozenset({"0.0.0.0/0", "::/0"})
# Azure: "The CIDR or source IP range. Asterisk '*' can also be used to match all source IPs. Default tags such
# as 'VirtualNetwork', 'AzureLoadBalancer' and 'Internet' can also be used." (SecurityRuleArgs.source_address_prefix)
AZURE_INTERNET = frozenset({"*", "internet", "any", "0.0.0.0/0", "0.0.0.0", "::/0"})
PORTLESS = frozenset({"icmp", "icmpv6", "1", "58", "esp", "ah", "50", "51", "ipip", "4", "gre", "47"})
ALL_PROTOCOLS = frozenset({"-1", "all", "*"})

_PORTS_CONFIG = {"allowedPublicPorts": {
    "type": "array", "items": {"type": "integer", "minimum": 0, "maximum": 65535}, "default": [80, 443],
    "description": "TCP/UDP ports that may be open to the internet (a public web front end)."}}


def allowed_ports(args: ResourceValidationArgs | StackValidationArgs) -> set[int]:
    return {int(p) for p in (config_value(args, "allowedPublicPorts") or [80, 443])}


def _port_text(low: int, high: int) -> str:
    if low <= 0 and high >= 65535:
        return "every port"
    return f"port {low}" if low == high else f"ports {low}-{high}"


def exposed(protocol: Any, low: Any, high: Any, allowed: set[int]) -> str | None:
    """What a rule opening `low..high` over `protocol` to the internet exposes beyond `allowed` (None: nothing)."""
    proto = str(protocol if protocol is not None else "-1").lower()
    if proto in PORTLESS:
        return None
    if proto in ALL_PROTOCOLS:
        return "every port of every protocol"
    try:
        lo, hi = int(float(low if low is not None else 0)), int(float(high if high is not None else 65535))
    except (TypeError, ValueError):
        lo, hi = 0, 65535
    if lo < 0 or hi < 0:  # -1: every port (AWS uses -1 with ICMP and "all")
        lo, hi = 0, 65535
    if hi - lo < len(allowed) and all(p in allowed for p in range(lo, hi + 1)):
        return None
    return f"{_port_text(lo, hi)}/{proto}"


def _internet(cidrs: Iterable[Any]) -> list[str]:
    return sorted({c for c in cidrs if isinstance(c, str) and c.strip() in INTERNET_CIDRS})


_NETWORK = m.merge(m.NETWORK_EXPOSURE, m.ACCESS_CONTROL)


# --- AWS security groups ------------------------------------------------------------------------------------
@resource_rule(RuleMeta(
    name="aws-security-group-no-public-ingress",
    description="Open no port to the internet (0.0.0.0/0, ::/0) from a security group, except the configured "
                "public web ports.",
    severity="critical", area="aws", controls=_NETWORK, config=_PORTS_CONFIG,
    # CKV_AWS_24/25/277: 22, 3389 and all ports open to 0.0.0.0/0 (checkov SecurityGroupUnrestrictedIngress*.py);
    # AWS Config: "Checks if security groups allowing unrestricted incoming traffic ('0.0.0.0/0' or '::/0') only
    # allow inbound TCP or UDP connections on authorized ports" (vpc-sg-open-only-to-authorized-ports).
    checks=("CKV_AWS_24", "CKV_AWS_25", "CKV_AWS_277", "CFG VPC_SG_OPEN_ONLY_TO_AUTHORIZED_PORTS"),
    remediation="Restrict the rule's source to known CIDRs, security groups or prefix lists (or reach the hosts "
                "through SSM Session Manager / a bastion instead of SSH or RDP from the internet).",
), [AWS_SG, AWS_DEFAULT_SG, AWS_SG_RULE, AWS_SG_INGRESS_RULE])
def aws_sg_public_ingress(args: ResourceValidationArgs) -> Iterator[str]:
    allowed = allowed_ports(args)
    s = subject(args.resource_type, args.name)
    if args.resource_type in (AWS_SG, AWS_DEFAULT_SG):
        for i, rule in enumerate(items(args.props, "ingress")):
            sources = _internet([*items(rule, "cidrBlocks"), *items(rule, "ipv6CidrBlocks")])
            what = exposed(get(rule, "protocol"), get(rule, "fromPort"), get(rule, "toPort"), allowed) if sources else None
            if what:
                yield f"{s} must not open {what} to the internet ({', '.join(sources)}) in `ingress[{i}]`."
    elif args.resource_type == AWS_SG_RULE:
        if str(get(args.props, "type") or "").lower() != "ingress":
            return
        sources = _internet([*items(args.props, "cidrBlocks"), *items(args.props, "ipv6CidrBlocks")])
        what = exposed(get(args.props, "protocol"), get(args.props, "fromPort"), get(args.props, "toPort"),
                       allowed) if sources else None
        if what:
            yield f"{s} must not open {what} to the internet ({', '.join(sources)})."
    else:
        sources = _internet([get(args.props, "cidrIpv4"), get(args.props, "cidrIpv6")])
        what = exposed(get(args.props, "ipProtocol"), get(args.props, "fromPort"), get(args.props, "toPort"),
                       allowed) if sources else None
        if what:
            yield f"{s} must not open {what} to the internet ({', '.join(sources)})."


# --- Azure network security groups -------------------------------------------------------------------------------
def _azure_ports(rule: Any) -> list[tuple[int, int]]:
    out = []
    for text in [get(rule, "destinationPortRange"), *items(rule, "destinationPortRanges")]:
        if not isinstance(text, str) or not text.strip():
            continue
        text = text.strip()
        if text == "*":
            out.append((0, 65535))
            continue
        low, _, high = text.partition("-")
        try:
            out.append((int(low), int(high or low)))
        except ValueError:
            out.append((0, 65535))
    return out or [(0, 65535)]


def _azure_rule_exposes(rule: Any, allowed: set[int]) -> list[str]:
    if str(get(rule, "direction") or "").lower() != "inbound" or str(get(rule, "access") or "").lower() != "allow":
        return []
    sources = [get(rule, "sourceAddressPrefix"), *items(rule, "sourceAddressPrefixes")]
    if not any(isinstance(x, str) and x.strip().lower() in AZURE_INTERNET for x in sources):
        return []
    proto = str(get(rule, "protocol") or "*").lower()
    # Azure `*` is "any protocol" but the destination ports still apply to TCP and UDP.
    proto = "tcp/udp" if proto in ("*", "any") else proto
    found = [exposed(proto, lo, hi, allowed) for lo, hi in _azure_ports(rule)]
    return [f for f in found if f]


@resource_rule(RuleMeta(
    name="azure-nsg-no-public-ingress",
    description="Open no port to the internet (`*`, `Internet`, 0.0.0.0/0) from a network security group, except "
                "the configured public web ports.",
    severity="critical", area="azure", controls=_NETWORK, config=_PORTS_CONFIG,
    # checkov NSGRuleRDPAccessRestricted / NSGRuleSSHAccessRestricted: 3389 and 22 open from any source.
    checks=("CKV_AZURE_9", "CKV_AZURE_10"),
    remediation="Set the rule's sourceAddressPrefix(es) to known CIDRs or service tags (e.g. `VirtualNetwork`), or "
                "use Azure Bastion instead of SSH/RDP from the internet.",
), [AZURE_NSG, AZURE_NSG_RULE])
def azure_nsg_public_ingress(args: ResourceValidationArgs) -> Iterator[str]:
    allowed = allowed_ports(args)
    s = subject(args.resource_type, args.name)
    if args.resource_type == AZURE_NSG:
        for i, rule in enumerate(items(args.props, "securityRules")):
            for what in _azure_rule_exposes(rule, allowed):
                yield f"{s} must not open {what} to the internet in rule `{get(rule, 'name') or i}`."
    else:
        for what in _azure_rule_exposes(args.props, allowed):
            yield f"{s} must not open {what} to the internet."


# --- GCP firewalls -------------------------------------------------------------------------------------------------
@resource_rule(RuleMeta(
    name="gcp-firewall-no-public-ingress",
    description="Open no port to the internet (0.0.0.0/0, ::/0) from a VPC firewall rule, except the configured "
                "public web ports.",
    severity="critical", area="gcp", controls=_NETWORK, config=_PORTS_CONFIG,
    # checkov GoogleComputeFirewallUnrestrictedIngress22 / 3389: SSH and RDP allowed from 0.0.0.0/0.
    checks=("CKV_GCP_2", "CKV_GCP_3"),
    remediation="Narrow sourceRanges to known CIDRs (IAP TCP forwarding uses 35.235.240.0/20), or use source tags / "
                "service accounts; reach VMs through IAP instead of SSH/RDP from the internet.",
), [GCP_FIREWALL])
def gcp_firewall_public_ingress(args: ResourceValidationArgs) -> Iterator[str]:
    if str(get(args.props, "direction") or "INGRESS").upper() != "INGRESS" or get(args.props, "disabled") is True:
        return
    sources = _internet(items(args.props, "sourceRanges"))
    if not sources:
        return
    allowed = allowed_ports(args)
    s = subject(args.resource_type, args.name)
    for allow in items(args.props, "allows"):
        proto = get(allow, "protocol")
        ports = [str(p) for p in items(allow, "ports")] or ["0-65535"]
        for text in ports:
            low, _, high = text.partition("-")
            what = exposed(proto, low, high or low, allowed)
            if what:
                yield f"{s} must not allow {what} from the internet ({', '.join(sources)})."


# --- Load-balancer listeners ------------------------------------------------------------------------------------------
@resource_rule(RuleMeta(
    name="aws-lb-listener-tls",
    description="Serve load-balancer listeners over TLS; plain HTTP listeners may only redirect to HTTPS.",
    severity="high", area="aws", controls=m.ENCRYPTION_IN_TRANSIT,
    # Same test as checkov ALBListenerHTTPS: HTTPS/TLS/TCP/UDP/TCP_UDP pass, HTTP passes only with a default
    # redirect action to HTTPS.
    checks=("CKV_AWS_2",),
    remediation="Use protocol `HTTPS` with a certificateArn (or `TLS` on a Network Load Balancer); keep an HTTP "
                "listener only with a default `redirect` action to protocol `HTTPS`.",
), AWS_LB_LISTENERS)
def aws_listener_tls(args: ResourceValidationArgs) -> Iterator[str]:
    if str(get(args.props, "protocol") or "").upper() != "HTTP":
        return
    for action in items(args.props, "defaultActions"):
        if get(action, "type") == "redirect" and str(get(action, "redirect.protocol") or "").upper() == "HTTPS":
            return
    yield f"{subject(args.resource_type, args.name)} must serve HTTPS, or redirect HTTP to HTTPS in its default action."


@resource_rule(RuleMeta(
    name="aws-elb-listener-tls",
    description="Serve Classic Load Balancer listeners over HTTPS or SSL, not plain HTTP or TCP.",
    severity="high", area="aws", controls=m.ENCRYPTION_IN_TRANSIT,
    remediation="Set lbProtocol to `https` (or `ssl`) with an sslCertificateId on every listener.",
), AWS_ELB_TYPES)
def aws_elb_tls(args: ResourceValidationArgs) -> Iterator[str]:
    for listener in items(args.props, "listeners"):
        proto = str(get(listener, "lbProtocol") or "").lower()
        if proto in ("http", "tcp"):
            yield (f"{subject(args.resource_type, args.name)} must not listen with plain `{proto}` on port "
                   f"{get(listener, 'lbPort')}; use `https` or `ssl`.")


def _ref_name(value: Any) -> str | None:
    """The last path segment of an Azure sub-resource reference (`{id: .../httpListeners/<name>}`)."""
    rid = get(value, "id") if hasattr(value, "keys") else value
    return str(rid).rstrip("/").rsplit("/", 1)[-1] if isinstance(rid, str) and rid else None


@resource_rule(RuleMeta(
    name="azure-app-gateway-listener-tls",
    description="Serve Application Gateway listeners over HTTPS; HTTP listeners may only redirect to HTTPS.",
    severity="high", area="azure", controls=m.ENCRYPTION_IN_TRANSIT,
    remediation="Set the listener's protocol to `Https` with an sslCertificate, or route the HTTP listener to a "
                "redirectConfiguration whose targetListener is an HTTPS listener.",
), [AZURE_APP_GATEWAY])
def azure_app_gateway_tls(args: ResourceValidationArgs) -> Iterator[str]:
    listeners = {str(get(x, "name")): str(get(x, "protocol") or "").lower() for x in items(args.props, "httpListeners")}
    redirects_to_https = set()
    for conf in items(args.props, "redirectConfigurations"):
        target = _ref_name(get(conf, "targetListener"))
        url = str(get(conf, "targetUrl") or "")
        if (target and listeners.get(target) == "https") or url.lower().startswith("https://"):
            redirects_to_https.add(str(get(conf, "name")))
    redirected = {_ref_name(get(r, "httpListener")) for r in items(args.props, "requestRoutingRules")
                  if _ref_name(get(r, "redirectConfiguration")) in redirects_to_https}
    for name, proto in listeners.items():
        if proto == "http" and name not in redirected:
            yield (f"{subject(args.resource_type, args.name)} must serve listener `{name}` over HTTPS, or redirect it "
                   "to an HTTPS listener.")


def _redirects_to_https(url_map: PolicyResource) -> bool:
    return get(url_map.props, "defaultUrlRedirect.httpsRedirect") is True


@stack_rule(RuleMeta(
    name="gcp-lb-http-proxy-redirects",
    description="Serve external HTTP(S) load balancers over HTTPS; a target HTTP proxy may only front a URL map "
                "that redirects to HTTPS.",
    severity="high", area="gcp", controls=m.ENCRYPTION_IN_TRANSIT,
    remediation="Use a TargetHttpsProxy with an SSL certificate; keep a TargetHttpProxy only with a URL map whose "
                "defaultUrlRedirect has httpsRedirect true.",
), GCP_HTTP_PROXIES | GCP_URL_MAPS)
def gcp_http_proxy(args: StackValidationArgs) -> Iterator[tuple[str, str | None]]:
    maps = {r.urn: r for r in args.resources if r.resource_type in GCP_URL_MAPS}
    by_ref: dict[str, PolicyResource] = {}
    for r in maps.values():
        for key in ("id", "selfLink", "name"):
            try:
                value = get(r.props, key)
            except Exception:  # noqa: BLE001 - an unknown id leaves the dependency edge to match
                value = None
            if isinstance(value, str):
                by_ref[value] = r

    def check(proxy: PolicyResource) -> Iterator[str]:
        targets = [maps[d.urn] for d in proxy.property_dependencies.get("urlMap", []) if d.urn in maps]
        ref = get(proxy.props, "urlMap")
        if isinstance(ref, str):
            targets += [r for key, r in by_ref.items() if key == ref or ref.endswith("/" + key)]
        if targets and all(_redirects_to_https(t) for t in targets):
            return
        yield (f"{subject(proxy.resource_type, proxy.name)} must not serve plain HTTP: use a target HTTPS proxy, "
               "or point it at a URL map that redirects to HTTPS.")

    yield from guarded(args.resources, GCP_HTTP_PROXIES, check)


RULES = (
    aws_sg_public_ingress, azure_nsg_public_ingress, gcp_firewall_public_ingress, aws_listener_tls, aws_elb_tls,
    azure_app_gateway_tls, gcp_http_proxy,
)

