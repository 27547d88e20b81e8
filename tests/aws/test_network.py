"""Network: subnets per zone, NAT per zone in prod (one in dev), flow logs, private endpoints, closed ingress."""

from __future__ import annotations

import ipaddress

import pytest

from .awsplan import AwsPlan, load_variant

INTERFACE = {"ecr.api", "ecr.dkr", "sts", "ec2"}


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


def test_vpc_endpoints_reach_every_api_the_cluster_calls_privately(prod: AwsPlan, dev: AwsPlan) -> None:
    # D2: images (ECR + S3), IRSA (STS), the VPC CNI and EBS CSI (EC2), the autoscaler (Auto Scaling, EKS), the
    # import jobs' token secrets (Secrets Manager), prod's retraining trigger (SageMaker API: dev retrains
    # nothing); no endpoint nothing in the VPC calls, and no KMS one (S3, EBS, ECR and Secrets Manager use the
    # keys server-side: no pod calls KMS itself).
    endpoints = _endpoints(prod)
    assert endpoints["s3"] == "Gateway"
    assert set(endpoints) == INTERFACE | {"s3", "autoscaling", "eks", "secretsmanager", "sagemaker.api"}
    assert [e.name for e in prod.spec.model_endpoints if e.retraining] and not any(
        e.retraining for e in dev.spec.model_endpoints)
    assert set(_endpoints(dev)) == INTERFACE | {"s3", "autoscaling", "eks", "secretsmanager"}
    assert all(endpoints[s] == "Interface" for s in INTERFACE)
    assert all(r.inputs.get("privateDnsEnabled") for r in prod.of("VpcEndpoint")
               if r.inputs["vpcEndpointType"] == "Interface")


def test_private_endpoints_off_removes_every_endpoint(variant) -> None:
    plan = variant("dev-aws", {"network": {"private_endpoints": False}})
    assert plan.of("VpcEndpoint") == []


def test_no_egress_is_refused_on_aws(tmp_path) -> None:
    # B8: a first pull through the ECR pull-through cache needs a NAT gateway (ECR user guide, pull-through cache
    # considerations), and the add-on charts pull from public registries: the network refuses it, naming the field.
    from aienv.errors import ComponentInputError

    from .awsplan import plan_spec

    spec = load_variant(tmp_path, "dev-aws", {}).model_copy(deep=True)
    spec.network.egress = "none"
    with pytest.raises(Exception) as info:
        plan_spec(spec)
    error = info.value if isinstance(info.value, ComponentInputError) else info.value.__cause__
    assert isinstance(error, ComponentInputError) and error.field == "network.egress"


def test_s3_endpoint_reaches_only_this_accounts_buckets_and_ecr_layers(prod: AwsPlan) -> None:
    # C4: the gateway endpoint is no path to another account's bucket.
    from .awsplan import statements

    endpoint = next(e for e in prod.of("VpcEndpoint") if e.inputs["vpcEndpointType"] == "Gateway")
    sts = {s["Sid"]: s for s in statements(endpoint)}
    assert sts["ThisAccountsBuckets"]["Condition"] == {"StringEquals": {"aws:ResourceAccount": "123456789012"}}
    assert not any(a.endswith("*") for a in sts["ThisAccountsBuckets"]["Action"])
    assert sts["EcrImageLayers"]["Resource"] == "arn:aws:s3:::prod-us-east-1-starport-layer-bucket/*"
    assert set(sts) == {"ThisAccountsBuckets", "EcrImageLayers"}  # prod-aws imports from no S3 path


def test_zones_exclude_local_zones_and_those_eks_rejects() -> None:
    # A6: the zone lookup asks for opt-in-free Availability Zones without use1-az3, usw1-az2, cac1-az3.
    import pulumi_aws as aws

    from components.aws import network

    calls = []
    original = aws.get_availability_zones_output

    def spy(**kwargs):
        calls.append(kwargs)
        return original(**kwargs)

    aws.get_availability_zones_output = spy
    try:
        from aienv.spec import load_spec

        from .awsplan import ROOT, plan_spec

        plan_spec(load_spec(str(ROOT / "stacks" / "dev-aws.yaml")).spec)
    finally:
        aws.get_availability_zones_output = original
    (call,) = calls
    assert call["state"] == "available"
    assert call["exclude_zone_ids"] == list(network.EKS_UNSUPPORTED_ZONE_IDS) == ["use1-az3", "usw1-az2", "cac1-az3"]
    (f,) = call["filters"]
    assert (f.name, f.values) == ("opt-in-status", ["opt-in-not-required"])


def test_flow_log_starts_after_its_role_may_write(prod: AwsPlan) -> None:
    # A8: "DeliverLogsPermissionIssue" until the role policy exists.
    assert prod.one("RolePolicy", "flow-logs-write").urn in prod.one("FlowLog").dependencies


def test_no_ingress_is_open_to_the_internet(prod: AwsPlan) -> None:
    for rule in prod.of("SecurityGroupIngressRule"):
        assert rule.inputs.get("cidrIpv4") != "0.0.0.0/0" and rule.inputs.get("cidrIpv6") != "::/0"
    for sg in prod.of("SecurityGroup"):
        assert not sg.inputs.get("ingress")
    default = prod.one("DefaultSecurityGroup")
    assert not default.inputs.get("ingress") and not default.inputs.get("egress")
