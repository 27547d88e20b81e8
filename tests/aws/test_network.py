"""Network: subnets per zone, NAT per zone in prod (one in dev), flow logs, private endpoints, closed ingress."""

from __future__ import annotations

import ipaddress

import pytest

from aienv.errors import SpecError

from .awsplan import AwsPlan, load_variant

INTERFACE = {"ecr.api", "ecr.dkr", "sts", "logs", "sagemaker.runtime"}


def _endpoints(plan: AwsPlan) -> dict[str, str]:
    return {r.inputs["serviceName"].split("us-east-1.")[1]: r.inputs["vpcEndpointType"]
            for r in plan.of("VpcEndpoint")}


def test_private_and_public_subnets_in_each_zone_without_overlap(prod: AwsPlan) -> None:
    subnets = prod.of("Subnet")
    private = [s for s in subnets if "-private-" in s.name]
    public = [s for s in subnets if "-public-" in s.name]
    assert len(private) == len(public) == 3
    assert all(s.inputs["mapPublicIpOnLaunch"] is False for s in subnets)
    nets = [ipaddress.ip_network(s.inputs["cidrBlock"]) for s in subnets]
    vpc = ipaddress.ip_network(prod.one("Vpc").inputs["cidrBlock"])
    assert all(n.subnet_of(vpc) for n in nets)
    assert not any(a.overlaps(b) for i, a in enumerate(nets) for b in nets[i + 1:])
    assert len({s.inputs["availabilityZone"] for s in private}) == 3
    assert all(s.inputs["tags"]["kubernetes.io/role/internal-elb"] == "1" for s in private)


def test_nat_per_zone_in_prod_and_single_in_dev(prod: AwsPlan, dev: AwsPlan) -> None:
    assert len(prod.of("NatGateway")) == 3
    assert len(dev.of("NatGateway")) == 1
    nat_routes = [r for r in dev.of("Route") if "natGatewayId" in r.inputs]
    assert len(nat_routes) == 3 and len({r.inputs["natGatewayId"] for r in nat_routes}) == 1
    prod_routes = [r for r in prod.of("Route") if "natGatewayId" in r.inputs]
    assert len({r.inputs["natGatewayId"] for r in prod_routes}) == 3


def test_two_zones_give_two_subnets_of_each_kind(variant) -> None:
    plan = variant("dev-aws", {"network": {"availability_zones": 2}})
    assert len(plan.of("Subnet")) == 4


def test_flow_logs_go_to_an_encrypted_retained_log_group(prod: AwsPlan) -> None:
    flow = prod.one("FlowLog")
    assert flow.inputs["trafficType"] == "ALL" and flow.inputs["logDestinationType"] == "cloud-watch-logs"
    group = prod.one("LogGroup", "flow-logs")
    assert group.inputs["kmsKeyId"].startswith("arn:aws:kms:")
    assert group.inputs["retentionInDays"] == prod.spec.monitoring.log_retention_days == 2192
    assert group.protect


def test_flow_logs_off_removes_them(variant) -> None:
    plan = variant("dev-aws", {"network": {"flow_logs": False}})
    assert plan.of("FlowLog") == []


def test_vpc_endpoints_reach_images_models_and_tokens_privately(prod: AwsPlan) -> None:
    endpoints = _endpoints(prod)
    assert endpoints["s3"] == "Gateway"
    assert INTERFACE | {"sagemaker.featurestore-runtime"} <= set(endpoints)
    assert all(endpoints[s] == "Interface" for s in INTERFACE)
    assert all(r.inputs.get("privateDnsEnabled") for r in prod.of("VpcEndpoint")
               if r.inputs["vpcEndpointType"] == "Interface")


def test_private_endpoints_off_removes_every_endpoint(variant) -> None:
    plan = variant("dev-aws", {"network": {"private_endpoints": False}})
    assert plan.of("VpcEndpoint") == []


def test_no_egress_drops_nat_and_adds_bootstrap_endpoints(variant) -> None:
    plan = variant("dev-aws", {"network": {"egress": "none"}})
    assert plan.of("NatGateway") == [] and plan.of("InternetGateway") == []
    assert {"ec2", "eks", "autoscaling", "elasticloadbalancing"} <= set(_endpoints(plan))


def test_no_egress_without_endpoints_is_refused(tmp_path) -> None:
    # Nodes could reach nothing: caught by `aienv validate`, before any plan.
    with pytest.raises(SpecError) as info:
        load_variant(tmp_path, "dev-aws", {"network": {"egress": "none", "private_endpoints": False}})
    assert [i.path for i in info.value.issues] == ["network.egress"]


def test_no_ingress_is_open_to_the_internet(prod: AwsPlan) -> None:
    for rule in prod.of("SecurityGroupIngressRule"):
        assert rule.inputs.get("cidrIpv4") != "0.0.0.0/0" and rule.inputs.get("cidrIpv6") != "::/0"
    for sg in prod.of("SecurityGroup"):
        assert not sg.inputs.get("ingress")
    default = prod.one("DefaultSecurityGroup")
    assert not default.inputs.get("ingress") and not default.inputs.get("egress")
