"""The VPC: private and public subnets over the spec's zones, NAT, flow logs and private service endpoints."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from aienv import naming
from aienv.errors import ComponentInputError
from aienv.spec.model import Exposure
from components.aws._common import AwsEnv, child, log_retention, policy_json, stateful

# Interface endpoints for the AWS APIs the nodes and pods call, so those calls stay in the VPC: image pulls
# (ECR; layers come from S3 through the gateway endpoint), IRSA token exchange (STS), the VPC CNI and the EBS CSI
# driver (EC2). Nothing in the cluster calls KMS directly: S3, EBS and ECR use the keys server-side.
INTERFACE_ENDPOINTS = ("ecr.api", "ecr.dkr", "sts", "ec2")
# cluster-autoscaler (GPU pools): Auto Scaling and `eks:DescribeNodegroup`.
AUTOSCALER_ENDPOINTS = ("autoscaling", "eks")
# Model import jobs read their Hugging Face / NGC token from Secrets Manager.
SECRETS_ENDPOINT = "secretsmanager"
# Retraining triggers call `sagemaker:StartPipelineExecution` (components/aws/mlops_support.py): "the service name
# of Amazon SageMaker API service is `com.amazonaws.region.sagemaker.api`" (SageMaker developer guide, "Configure
# a SageMaker Clarify Job for Amazon VPC"); with private DNS the CLI's api.sagemaker.<region> host resolves to it.
SAGEMAKER_API_ENDPOINT = "sagemaker.api"
# Availability Zone IDs where EKS cannot place a cluster's subnets (EKS user guide, "View Amazon EKS networking
# requirements for VPC and subnets": "The subnets can't reside in the following Availability Zones").
EKS_UNSUPPORTED_ZONE_IDS = ("use1-az3", "usw1-az2", "cac1-az3")
# ECR stores image layers in this AWS-owned bucket (ECR user guide, "Amazon ECR interface VPC endpoints").
ECR_LAYER_BUCKET = "prod-{region}-starport-layer-bucket"
# What workloads do with S3 through the gateway endpoint (reads, writes, multipart uploads of model weights).
S3_ACTIONS = ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject", "s3:DeleteObject", "s3:ListBucket",
              "s3:GetBucketLocation", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts",
              "s3:ListBucketMultipartUploads"]


@dataclass(frozen=True)
class NetworkArgs:
    env: AwsEnv
    logs_key_arn: pulumi.Input[str] | None  # flow-log encryption; None with provider-managed encryption


class Network(pulumi.ComponentResource):
    """`aienv:aws:Network`: VPC, subnets per zone, NAT per zone (or one), flow logs, VPC endpoints."""

    vpc: aws.ec2.Vpc
    vpc_id: pulumi.Output[str]
    private_subnet_ids: list[pulumi.Output[str]]
    private_subnet_ids_by_zone: dict[str, pulumi.Output[str]]  # only when the spec names its zones
    private_subnet_zones: list[pulumi.Input[str]]  # the zone name of each private subnet, in the same order
    public_subnet_ids: list[pulumi.Output[str]]
    # What nodes need before they boot: the default routes through NAT and the service endpoints (image pulls).
    egress_ready: list[pulumi.Resource]

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aienv:aws:Network", name, None, opts)
        env = args.env
        spec = env.spec
        net = spec.network
        if net.egress == "none":
            # `aienv validate` refuses it on AWS (aienv.spec.rules._aws_network): first pulls through the ECR
            # pull-through cache and the add-on charts' images need a NAT gateway.
            raise ComponentInputError("network.egress", "`none` is not supported on AWS; use `nat`")
        zones = net.availability_zones
        cluster_tag = f"kubernetes.io/cluster/{env.cluster_name}"

        self.vpc = aws.ec2.Vpc(f"{name}-vpc", aws.ec2.VpcArgs(
            cidr_block=net.cidr, enable_dns_support=True, enable_dns_hostnames=True, tags=env.tags("vpc"),
        ), child(self))
        self.vpc_id = self.vpc.id
        # The default security group allows all traffic between its members: strip it of every rule.
        aws.ec2.DefaultSecurityGroup(f"{name}-default-sg", aws.ec2.DefaultSecurityGroupArgs(
            vpc_id=self.vpc.id, tags=env.tags("default-sg-unused"),
        ), child(self))

        # Availability Zones only (no Local or Wavelength Zones an account opted into: "When Local Zones are
        # enabled in a region, by default the API and this data source include both Local Zones and Availability
        # Zones", pulumi_aws get_availability_zones), and none where EKS cannot place the cluster's subnets.
        azs = aws.get_availability_zones_output(
            state="available", exclude_zone_ids=list(EKS_UNSUPPORTED_ZONE_IDS),
            filters=[aws.GetAvailabilityZonesFilterArgs(name="opt-in-status", values=["opt-in-not-required"])],
            opts=pulumi.InvokeOutputOptions(parent=self))
        private_cidrs, public_cidrs = _subnet_cidrs(net.cidr, zones)

        igw = None
        if net.egress == "nat" or any(e.exposure is Exposure.public for e in spec.model_endpoints):
            igw = aws.ec2.InternetGateway(f"{name}-igw", aws.ec2.InternetGatewayArgs(
                vpc_id=self.vpc.id, tags=env.tags("igw")), child(self))

        self.private_subnet_ids = []
        self.private_subnet_ids_by_zone = {}
        self.private_subnet_zones = []
        self.public_subnet_ids = []
        private_route_tables: list[aws.ec2.RouteTable] = []
        public_rt = None
        if igw is not None:
            public_rt = aws.ec2.RouteTable(f"{name}-public-rt", aws.ec2.RouteTableArgs(
                vpc_id=self.vpc.id, tags=env.tags("public")), child(self))
            aws.ec2.Route(f"{name}-public-default", aws.ec2.RouteArgs(
                route_table_id=public_rt.id, destination_cidr_block="0.0.0.0/0", gateway_id=igw.id), child(self))

        nats: list[aws.ec2.NatGateway] = []
        self.egress_ready = []
        for i in range(zones):
            # The spec's zones when it names them (GPU pools may pin some); else the region's first ones.
            az: pulumi.Input[str] = net.zones[i] if net.zones else azs.names[i]
            private = aws.ec2.Subnet(f"{name}-private-{i}", aws.ec2.SubnetArgs(
                vpc_id=self.vpc.id, cidr_block=private_cidrs[i], availability_zone=az,
                map_public_ip_on_launch=False,
                tags=env.tags(f"private-{i}", **{"kubernetes.io/role/internal-elb": "1", cluster_tag: "shared"}),
            ), child(self))
            self.private_subnet_ids.append(private.id)
            self.private_subnet_zones.append(az)
            if net.zones:
                self.private_subnet_ids_by_zone[net.zones[i]] = private.id
            rt = aws.ec2.RouteTable(f"{name}-private-rt-{i}", aws.ec2.RouteTableArgs(
                vpc_id=self.vpc.id, tags=env.tags(f"private-{i}")), child(self))
            aws.ec2.RouteTableAssociation(f"{name}-private-rta-{i}", aws.ec2.RouteTableAssociationArgs(
                subnet_id=private.id, route_table_id=rt.id), child(self))
            private_route_tables.append(rt)

            if public_rt is None:
                continue
            public = aws.ec2.Subnet(f"{name}-public-{i}", aws.ec2.SubnetArgs(
                vpc_id=self.vpc.id, cidr_block=public_cidrs[i], availability_zone=az,
                map_public_ip_on_launch=False,  # only NAT gateways and load balancers live here
                tags=env.tags(f"public-{i}", **{"kubernetes.io/role/elb": "1", cluster_tag: "shared"}),
            ), child(self))
            self.public_subnet_ids.append(public.id)
            aws.ec2.RouteTableAssociation(f"{name}-public-rta-{i}", aws.ec2.RouteTableAssociationArgs(
                subnet_id=public.id, route_table_id=public_rt.id), child(self))
            if net.egress == "nat" and (net.nat_gateways == "per_zone" or i == 0):
                eip = aws.ec2.Eip(f"{name}-nat-eip-{i}", aws.ec2.EipArgs(domain="vpc", tags=env.tags(f"nat-{i}")),
                                  child(self, depends_on=[igw] if igw else None))
                nats.append(aws.ec2.NatGateway(f"{name}-nat-{i}", aws.ec2.NatGatewayArgs(
                    allocation_id=eip.id, subnet_id=public.id, connectivity_type="public", tags=env.tags(f"nat-{i}"),
                ), child(self)))

        for i, rt in enumerate(private_route_tables):
            if nats:
                nat = nats[i] if len(nats) > 1 else nats[0]
                self.egress_ready.append(aws.ec2.Route(f"{name}-private-default-{i}", aws.ec2.RouteArgs(
                    route_table_id=rt.id, destination_cidr_block="0.0.0.0/0", nat_gateway_id=nat.id), child(self)))

        if net.flow_logs:
            self._flow_logs(name, env, args.logs_key_arn)
        if net.private_endpoints:
            self._endpoints(name, env, [rt.id for rt in private_route_tables])

        self.register_outputs({
            "vpcId": self.vpc.id,
            "privateSubnetIds": self.private_subnet_ids,
            "publicSubnetIds": self.public_subnet_ids,
            "natGateways": len(nats),
        })

    def _flow_logs(self, name: str, env: AwsEnv, key_arn: pulumi.Input[str] | None) -> None:
        spec = env.spec
        group = aws.cloudwatch.LogGroup(f"{name}-flow-logs", aws.cloudwatch.LogGroupArgs(
            name_prefix=f"/aienv/{spec.name}/vpc-flow-logs-",
            retention_in_days=log_retention(spec.monitoring.log_retention_days),
            kms_key_id=key_arn,
            deletion_protection_enabled=spec.security.deletion_protection,
            tags=env.tags("flow-logs"),
        ), stateful(self, spec))
        role = aws.iam.Role(f"{name}-flow-logs-role", aws.iam.RoleArgs(
            name_prefix=naming.aws_prefix(naming.AWS_IAM_ROLE_PREFIX, spec.name, "flow-logs"),
            description=f"VPC flow logs of {spec.name} write to their log group",
            assume_role_policy=policy_json([{
                "Effect": "Allow", "Principal": {"Service": env.service("vpc-flow-logs")},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"aws:SourceAccount": env.account_id}},
            }]),
            tags=env.tags("flow-logs"),
        ), child(self))
        write = aws.iam.RolePolicy(f"{name}-flow-logs-write", aws.iam.RolePolicyArgs(
            role=role.id,
            policy=policy_json([{
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                "Resource": [group.arn, pulumi.Output.concat(group.arn, ":log-stream:*")],
            }]),
        ), child(self))
        aws.ec2.FlowLog(f"{name}-flow-log", aws.ec2.FlowLogArgs(
            vpc_id=self.vpc.id, traffic_type="ALL", log_destination_type="cloud-watch-logs",
            log_destination=group.arn, iam_role_arn=role.arn, max_aggregation_interval=60,
            tags=env.tags("flow-log"),
        ), child(self, depends_on=[write]))  # delivery checks the role's permissions when the flow log starts

    def _endpoints(self, name: str, env: AwsEnv, route_table_ids: list[pulumi.Output[str]]) -> None:
        spec = env.spec
        net = spec.network
        prefix = "cn.com.amazonaws" if env.partition == "aws-cn" else "com.amazonaws"
        self.egress_ready.append(aws.ec2.VpcEndpoint(f"{name}-s3", aws.ec2.VpcEndpointArgs(
            vpc_id=self.vpc.id, service_name=f"{prefix}.{env.region}.s3", vpc_endpoint_type="Gateway",
            route_table_ids=route_table_ids, policy=policy_json(_s3_endpoint_statements(env)),
            tags=env.tags("s3-endpoint"),
        ), child(self)))
        sg = aws.ec2.SecurityGroup(f"{name}-endpoints-sg", aws.ec2.SecurityGroupArgs(
            vpc_id=self.vpc.id, name_prefix=f"{spec.name}-endpoints-",
            description="HTTPS from inside the VPC to AWS service endpoints", tags=env.tags("endpoints"),
        ), child(self))
        aws.vpc.SecurityGroupIngressRule(f"{name}-endpoints-https", aws.vpc.SecurityGroupIngressRuleArgs(
            security_group_id=sg.id, ip_protocol="tcp", from_port=443, to_port=443, cidr_ipv4=net.cidr,
            description="HTTPS from the VPC",
        ), child(self))
        services = list(INTERFACE_ENDPOINTS)
        if spec.cluster.gpu_pools:
            services += AUTOSCALER_ENDPOINTS
        if any(e.model.source is not None and e.model.source.token_secret for e in spec.model_endpoints):
            services.append(SECRETS_ENDPOINT)
        if any(e.retraining is not None for e in spec.model_endpoints):
            services.append(SAGEMAKER_API_ENDPOINT)
        for service in services:
            self.egress_ready.append(aws.ec2.VpcEndpoint(f"{name}-{service.replace('.', '-')}", aws.ec2.VpcEndpointArgs(
                vpc_id=self.vpc.id, service_name=f"{prefix}.{env.region}.{service}", vpc_endpoint_type="Interface",
                private_dns_enabled=True, subnet_ids=self.private_subnet_ids, security_group_ids=[sg.id],
                tags=env.tags(f"{service}-endpoint"),
            ), child(self)))


def _s3_endpoint_statements(env: AwsEnv) -> list[dict[str, object]]:
    """The S3 gateway endpoint reaches only this account's buckets, ECR's layer bucket and the buckets model
    imports copy from; any other bucket in the region (another account's, an exfiltration target) is refused."""
    statements: list[dict[str, object]] = [
        {"Sid": "ThisAccountsBuckets", "Effect": "Allow", "Principal": "*", "Action": S3_ACTIONS, "Resource": "*",
         "Condition": {"StringEquals": {"aws:ResourceAccount": env.account_id}}},
        {"Sid": "EcrImageLayers", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
         "Resource": f"arn:{env.partition}:s3:::{ECR_LAYER_BUCKET.format(region=env.region)}/*"},
    ]
    sources = sorted({e.model.source.uri.removeprefix("s3://").split("/", 1)[0] for e in env.spec.model_endpoints
                      if e.model.source is not None and e.model.source.uri and e.model.source.uri.startswith("s3://")})
    if sources:
        statements.append({"Sid": "ModelImportSources", "Effect": "Allow", "Principal": "*",
                           "Action": ["s3:GetObject", "s3:GetObjectVersion", "s3:ListBucket"],
                           "Resource": [r for b in sources for r in (f"arn:{env.partition}:s3:::{b}",
                                                                     f"arn:{env.partition}:s3:::{b}/*")]})
    return statements


def _subnet_cidrs(cidr: str, zones: int) -> tuple[list[str], list[str]]:
    """Private subnets take a quarter of the VPC each (pods get VPC addresses); public ones share the last quarter."""
    quarters = list(ipaddress.IPv4Network(cidr).subnets(prefixlen_diff=2))
    private = [str(q) for q in quarters[:zones]]
    public = [str(s) for s in list(quarters[3].subnets(prefixlen_diff=2))[:zones]]
    return private, public
