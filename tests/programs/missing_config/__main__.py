import pulumi
import pulumi_aws as aws

config = pulumi.Config()
name = config.require("bucketName")

aws.s3.Bucket("data", bucket=name)
