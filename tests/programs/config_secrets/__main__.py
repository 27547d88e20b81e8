"""Reads namespaced, structured and secret config the way most Pulumi programs do."""

import json

import pulumi
import pulumi_aws as aws

config = pulumi.Config()
aws_config = pulumi.Config("aws")

prefix = config.require("bucketPrefix")
replicas = config.require_int("replicas")
enabled = config.get("enabled")
tags = config.require_object("tags")
cidrs = config.get_object("allowedCidrs") or []
owner = config.get("owner")
db_password = config.require_secret("dbPassword")
database = config.require_object("database")

bucket = aws.s3.Bucket(
    "data",
    bucket=f"{prefix}-data",
    tags={**tags, "owner": owner, "replicas": str(replicas), "enabled": str(enabled),
          "region": aws_config.require("region")},
)

secret = aws.secretsmanager.Secret("db", name=f"{prefix}-db")
aws.secretsmanager.SecretVersion(
    "db",
    secret_id=secret.id,
    secret_string=db_password,
)
aws.ssm.Parameter(
    "database",
    type="SecureString",
    value=pulumi.Output.secret(json.dumps(database)),
)
aws.ec2.SecurityGroup(
    "db",
    ingress=[aws.ec2.SecurityGroupIngressArgs(protocol="tcp", from_port=5432, to_port=5432, cidr_blocks=cidrs)],
)

pulumi.export("prefix", prefix)
pulumi.export("database_host", database["host"])
