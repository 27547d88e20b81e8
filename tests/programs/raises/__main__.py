import pulumi
import pulumi_aws as aws

import naming

aws.s3.Bucket("ok")
aws.s3.Bucket("data", bucket=naming.bucket_name(pulumi.get_stack()))
