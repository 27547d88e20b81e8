"""Network: APIs stay enabled on destroy, private subnet, NAT per egress, no open ingress, PSC per spec."""

from __future__ import annotations

import ipaddress

from components.gcp.common import address_plan
from components.gcp.network import required_services
from tests.gcp.gcpplan import inputs, plan_gcp, variant

SERVICE = "gcp:projects/service:Service"
FIREWALL = "gcp:compute/firewall:Firewall"


def test_services_needed_by_prod_are_enabled_and_never_disabled(prod):
    services = {inputs(r)["service"]: inputs(r) for r in prod.of_type(SERVICE)}
    for api in ("container", "compute", "cloudkms", "artifactregistry", "aiplatform", "redis", "monitoring",
                "logging", "billingbudgets"):
        assert f"{api}.googleapis.com" in services
    assert all(s["disableOnDestroy"] is False for s in services.values())


def test_services_follow_the_spec():
    spec = variant(lambda s: (setattr(s.feature_store, "enabled", False), setattr(s, "budget", None),
                              setattr(s.registries, "model_registry", False),
                              [setattr(e, "retraining", None) for e in s.model_endpoints]))
    apis = required_services(spec)
    assert "redis.googleapis.com" not in apis and "billingbudgets.googleapis.com" not in apis
    assert "aiplatform.googleapis.com" not in apis and "bigquery.googleapis.com" not in apis


def test_subnet_is_private_with_secondary_ranges_and_flow_logs(prod):
    subnet = inputs(prod.one("gcp:compute/subnetwork:Subnetwork"))
    assert subnet["privateIpGoogleAccess"] is True
    ranges = {r["rangeName"]: r["ipCidrRange"] for r in subnet["secondaryIpRanges"]}
    assert set(ranges) == {"pods", "services"}
    vpc = ipaddress.ip_network("10.43.0.0/16")
    nets = [ipaddress.ip_network(subnet["ipCidrRange"]), *map(ipaddress.ip_network, ranges.values())]
    assert all(n.subnet_of(vpc) for n in nets)
    assert not any(a.overlaps(b) for i, a in enumerate(nets) for b in nets[i + 1:])
    assert subnet["logConfig"]["metadata"] == "INCLUDE_ALL_METADATA"
    assert inputs(prod.one("gcp:compute/network:Network"))["autoCreateSubnetworks"] is False


def test_address_plan_keeps_psc_and_master_outside_every_range():
    for cidr in ("10.40.0.0/16", "10.43.0.0/20", "172.16.0.0/16"):
        plan = address_plan(cidr)
        psc = ipaddress.ip_address(plan.psc_address)
        for r in (plan.nodes, plan.pods, plan.services):
            assert psc not in ipaddress.ip_network(r)
        assert not ipaddress.ip_network(plan.master).overlaps(ipaddress.ip_network(cidr))


def test_no_firewall_allows_ingress_from_anywhere(prod):
    rules = [inputs(r) for r in prod.of_type(FIREWALL)]
    assert rules
    for rule in rules:
        if rule.get("direction") == "INGRESS" and "0.0.0.0/0" in rule.get("sourceRanges", []):
            assert "allows" not in rule and rule["denies"] == [{"protocol": "all"}]


def test_nat_with_egress_nat_and_deny_egress_without():
    nat = plan_gcp(variant(), "prod")
    assert nat.of_type("gcp:compute/routerNat:RouterNat") and nat.of_type("gcp:compute/router:Router")
    closed = plan_gcp(variant(lambda s: setattr(s.network, "egress", "none")), "egress-none")
    assert not closed.of_type("gcp:compute/routerNat:RouterNat")
    deny = [inputs(r) for r in closed.of_type(FIREWALL) if inputs(r).get("direction") == "EGRESS"
            and "denies" in inputs(r)]
    assert deny and deny[0]["destinationRanges"] == ["0.0.0.0/0"]


def test_private_service_connect_for_google_apis(prod):
    rule = inputs(prod.one("gcp:compute/globalForwardingRule:GlobalForwardingRule"))
    assert rule["target"] == "all-apis" and len(rule["name"]) <= 20 and rule["name"].isalnum()
    zones = {inputs(z)["dnsName"]: inputs(z) for z in prod.of_type("gcp:dns/managedZone:ManagedZone")}
    assert set(zones) == {"googleapis.com.", "pkg.dev."}
    assert all(z["visibility"] == "private" for z in zones.values())


def test_private_endpoints_off_drops_psc_and_private_dns():
    open_plan = plan_gcp(variant(lambda s: setattr(s.network, "private_endpoints", False)), "no-private-endpoints")
    assert not open_plan.of_type("gcp:compute/globalForwardingRule:GlobalForwardingRule")
    assert not open_plan.of_type("gcp:dns/managedZone:ManagedZone")


def test_ingress_from_outside_the_environment_opens_no_port_range(prod):
    # C4: GKE writes the load-balancer health-check rules itself, per Service and port
    # (kubernetes-engine/docs/concepts/firewall-rules); the environment opens nothing to Google's
    # health-check ranges, and every allow names its sources inside the VPC or the control plane.
    import ipaddress
    vpc = ipaddress.ip_network("10.43.0.0/16")
    master = ipaddress.ip_network(prod.foundation.network.plan.master)
    for rule in (inputs(r) for r in prod.of_type(FIREWALL)):
        if rule.get("direction") != "INGRESS" or "allows" not in rule:
            continue
        for source in rule["sourceRanges"]:
            net = ipaddress.ip_network(source)
            assert net.subnet_of(vpc) or net == master, f"{rule['description']} admits {source}"
        if rule["sourceRanges"] == [str(master)]:
            assert all(a.get("ports") for a in rule["allows"])
