"""Strings computed from outputs in `apply`, invokes whose results are indexed, a remote component, archives,
assets and a stack reference: each of these broke an offline plan once."""

import base64
import json

import pulumi
import pulumi_aws as aws
from pulumi_azure_native import resources, storage

# A multi-language component (as awsx, eks): its provider plugin builds it for real; offline its outputs are
# unknown, and a callback on them must not run on None.
class Widget(pulumi.ComponentResource):
    url: pulumi.Output[str]

    def __init__(self, name, opts=None):
        props = {"size": 3, "url": None}
        super().__init__("acme:index:Widget", name, props, opts, remote=True)


widget = Widget("widget")
pulumi.export("widgetDocs", widget.url.apply(lambda u: u + "/docs"))

# Strings built from outputs in apply.
bucket = aws.s3.Bucket("site", website=aws.s3.BucketWebsiteArgs(index_document="index.html"))
aws.s3.BucketObject("link", bucket=bucket.id,
                    content=bucket.website_endpoint.apply(lambda e: "http://" + e + "/index.html"))
aws.s3.BucketPolicy("site-policy", bucket=bucket.id, policy=bucket.arn.apply(lambda arn: json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": f"{arn}/*",
                   "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]})))

# An invoke whose result the program decodes and indexes.
token = aws.ecr.get_authorization_token_output()
login = token.authorization_token.apply(lambda t: base64.b64decode(t).decode().split(":")[0])
pulumi.export("registryUser", login)

group = resources.ResourceGroup("rg")
account = storage.StorageAccount("data", resource_group_name=group.name, kind="StorageV2",
                                 sku=storage.SkuArgs(name="Standard_LRS"))
keys = pulumi.Output.all(group.name, account.name).apply(
    lambda a: storage.list_storage_account_keys(resource_group_name=a[0], account_name=a[1]))
pulumi.export("primaryKey", pulumi.Output.secret(keys.apply(lambda k: k.keys[0].value)))

# Archives and assets in resource inputs (a Lambda's code, an object's source).
role = aws.iam.Role("fn-role", assume_role_policy=json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}))
aws.lambda_.Function("fn", role=role.arn, runtime="python3.12", handler="handler.handler",
                     code=pulumi.AssetArchive({"handler.py": pulumi.FileAsset("lambda_src/handler.py")}))
aws.lambda_.Function("fn-dir", role=role.arn, runtime="python3.12", handler="handler.handler",
                     code=pulumi.FileArchive("lambda_src"))
aws.s3.BucketObject("readme", bucket=bucket.id, source=pulumi.StringAsset("hello"))

# Another stack's outputs.
network = pulumi.StackReference("acme/network/dev")
aws.ec2.SecurityGroup("app", vpc_id=network.get_output("vpcId"))
