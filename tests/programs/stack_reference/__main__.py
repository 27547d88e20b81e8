"""Builds on the network stack's outputs."""

import pulumi
import pulumi_aws as aws

network = pulumi.StackReference("acme/network/prod")
vpc_id = network.get_output("vpcId")
subnets = network.get_output("privateSubnetIds")

group = aws.ec2.SecurityGroup("app", vpc_id=vpc_id, description="app")

pulumi.export("vpc_id", vpc_id)
pulumi.export("subnets", subnets)
