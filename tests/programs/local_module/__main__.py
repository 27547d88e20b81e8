"""A program that imports a module of its own."""

import pulumi
import pulumi_aws as aws

from lib import helpers

logs = aws.s3.Bucket("logs", tags=helpers.bucket_tags(pulumi.get_stack()))

pulumi.export("prefix", helpers.PREFIX)
