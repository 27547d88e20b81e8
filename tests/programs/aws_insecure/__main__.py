"""An insecure AWS program: the policy packs must flag it."""

import pulumi
import pulumi_aws as aws

data = aws.s3.Bucket("data", tags={"team": "ml"})

key = aws.kms.Key("data-key", description="data key", deletion_window_in_days=7)

pulumi.export("bucket_name", data.bucket)
pulumi.export("key_arn", key.arn)
