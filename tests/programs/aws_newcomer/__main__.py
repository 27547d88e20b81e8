"""A new user's first AWS program, as the newcomer review wrote it: each marked line is one problem the packs must
report exactly once."""

import pulumi
import pulumi_aws as aws

vpc = aws.ec2.Vpc("main", cidr_block="10.20.0.0/16")

bastion = aws.ec2.SecurityGroup(
    "bastion",
    vpc_id=vpc.id,
    description="admin access",
    ingress=[aws.ec2.SecurityGroupIngressArgs(
        protocol="tcp", from_port=22, to_port=22, cidr_blocks=["0.0.0.0/0"],  # problem 1: SSH from anywhere
    )],
)

aws.ec2.SecurityGroupRule(
    "windows-rdp",
    type="ingress",
    security_group_id=bastion.id,
    protocol="tcp",
    from_port=3389,
    to_port=3389,
    cidr_blocks=["0.0.0.0/0"],  # problem 2: RDP from anywhere
)

db = aws.rds.Instance(
    "orders",
    engine="postgres",
    instance_class="db.t4g.micro",
    allocated_storage=20,
    username="app",
    password="hunter2hunter2",  # problem 3: a password written into the program
    publicly_accessible=True,  # problem 4: reachable from the internet
    storage_encrypted=False,  # problem 5: not encrypted at rest
    vpc_security_group_ids=[bastion.id],
    skip_final_snapshot=True,
)

pulumi.export("endpoint", db.endpoint)
