"""AWS rules: one secure and one insecure program; every rule passes on the first and fails on the second."""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws
import pytest
from conftest import failing_names, run_policy
from mockplan import plan

from policies.rules import aws as rules

TAGS = {"aienv-environment": "dev", "managed-by": "aienv"}
PROTECT = pulumi.ResourceOptions(protect=True)


def _tls_policy(bucket: pulumi.Output) -> pulumi.Output:
    return bucket.apply(lambda b: json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": [f"arn:aws:s3:::{b}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}))


def _secure() -> None:
    key = aws.kms.Key("key", enable_key_rotation=True, tags=TAGS, opts=PROTECT)
    logs = aws.s3.Bucket("logs", tags=TAGS, opts=PROTECT)
    bucket = aws.s3.Bucket("data", tags=TAGS, opts=PROTECT)
    for name, b in (("data", bucket), ("logs", logs)):
        aws.s3.BucketPublicAccessBlock(f"{name}-pab", bucket=b.id, block_public_acls=True, block_public_policy=True,
                                       ignore_public_acls=True, restrict_public_buckets=True)
        aws.s3.BucketServerSideEncryptionConfiguration(f"{name}-sse", bucket=b.id, rules=[{
            "apply_server_side_encryption_by_default": {"sse_algorithm": "aws:kms", "kms_master_key_id": key.arn}}])
        aws.s3.BucketVersioning(f"{name}-versioning", bucket=b.id, versioning_configuration={"status": "Enabled"})
        aws.s3.BucketPolicy(f"{name}-policy", bucket=b.id, policy=_tls_policy(b.bucket))
    aws.s3.BucketLogging("data-logging", bucket=bucket.id, target_bucket=logs.id, target_prefix="data/")
    aws.eks.Cluster("eks", role_arn="arn:aws:iam::123456789012:role/eks", version="1.32",
                    enabled_cluster_log_types=["api", "audit", "authenticator"],
                    vpc_config={"subnet_ids": ["subnet-1"], "endpoint_public_access": False,
                                "endpoint_private_access": True},
                    encryption_config={"resources": ["secrets"], "provider": {"key_arn": key.arn}}, tags=TAGS)
    aws.eks.NodeGroup("gpu", cluster_name="eks", node_role_arn="arn:aws:iam::123456789012:role/node",
                      subnet_ids=["subnet-1"], scaling_config={"min_size": 0, "max_size": 2, "desired_size": 0},
                      remote_access={"ec2_ssh_key": "ops", "source_security_group_ids": ["sg-1"]}, tags=TAGS)
    aws.ecr.Repository("models", image_tag_mutability="IMMUTABLE", image_scanning_configuration={"scan_on_push": True},
                       encryption_configurations=[{"encryption_type": "KMS", "kms_key": key.arn}], tags=TAGS,
                       opts=PROTECT)
    aws.ecr.RepositoryPolicy("models-policy", repository="models", policy=json.dumps({"Statement": [{
        "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "ecr:BatchGetImage"}]}))
    aws.sagemaker.NotebookInstance("notebook", role_arn="arn:aws:iam::1:role/sm", instance_type="ml.t3.medium",
                                   direct_internet_access="Disabled", root_access="Disabled", kms_key_id=key.arn,
                                   subnet_id="subnet-1", security_groups=["sg-1"])
    aws.sagemaker.Model("model", execution_role_arn="arn:aws:iam::1:role/sm", enable_network_isolation=True,
                        primary_container={"image": "img"},
                        vpc_config={"subnets": ["subnet-1"], "security_group_ids": ["sg-1"]})
    aws.sagemaker.EndpointConfiguration("endpoint-config", kms_key_arn=key.arn, production_variants=[{
        "model_name": "model", "variant_name": "main", "initial_instance_count": 2, "instance_type": "ml.g5.xlarge"}],
        data_capture_config={"initial_sampling_percentage": 10, "destination_s3_uri": "s3://x/capture",
                             "kms_key_id": key.arn, "capture_options": [{"capture_mode": "Input"}]}, tags=TAGS)
    aws.sagemaker.Domain("domain", domain_name="d", auth_mode="IAM", vpc_id="vpc-1", subnet_ids=["subnet-1"],
                         app_network_access_type="VpcOnly", kms_key_id=key.arn,
                         default_user_settings={"execution_role": "arn:aws:iam::1:role/sm"})
    aws.sagemaker.FeatureGroup("features", feature_group_name="f", record_identifier_feature_name="id",
                               event_time_feature_name="ts", role_arn="arn:aws:iam::1:role/sm",
                               feature_definitions=[{"feature_name": "id", "feature_type": "String"},
                                                    {"feature_name": "ts", "feature_type": "String"}],
                               online_store_config={"enable_online_store": True, "security_config": {"kms_key_id": key.arn}},
                               tags=TAGS, opts=PROTECT)
    aws.sagemaker.DataQualityJobDefinition(
        "drift-job", role_arn="arn:aws:iam::1:role/sm",
        data_quality_app_specification={"image_uri": "img"},
        data_quality_job_input={"endpoint_input": {"endpoint_name": "e"}},
        data_quality_job_output_config={"kms_key_id": key.arn, "monitoring_outputs": {"s3_output": {"s3_uri": "s3://x/o"}}},
        job_resources={"cluster_config": {"instance_count": 1, "instance_type": "ml.m5.large", "volume_size_in_gb": 20,
                                          "volume_kms_key_id": key.arn}})
    aws.elasticache.ReplicationGroup("online-store", description="features", node_type="cache.r7g.large",
                                     num_cache_clusters=2, at_rest_encryption_enabled="true", kms_key_id=key.arn,
                                     transit_encryption_enabled=True, auth_token=pulumi.Output.secret("t" * 32),
                                     snapshot_retention_limit=7, tags=TAGS, opts=PROTECT)
    scoped = json.dumps({"Statement": [{"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "arn:aws:s3:::data/*"}]})
    aws.iam.Policy("reader", policy=scoped)
    aws.iam.Role("irsa", assume_role_policy=json.dumps({"Statement": [{
        "Effect": "Allow", "Principal": {"Federated": "arn:aws:iam::1:oidc-provider/oidc.eks"},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {"oidc.eks:sub": "system:serviceaccount:ns:sa"}}}]}))
    aws.iam.RolePolicy("irsa-inline", role="irsa", policy=scoped)
    aws.cloudtrail.Trail("trail", s3_bucket_name="logs", is_multi_region_trail=True, enable_log_file_validation=True,
                         kms_key_id=key.arn)
    aws.cloudwatch.LogGroup("app-logs", retention_in_days=365, kms_key_id=key.arn, tags=TAGS)
    vpc = aws.ec2.Vpc("vpc", cidr_block="10.40.0.0/16")
    aws.ec2.VpcEndpoint("vpc-s3", vpc_id=vpc.id, service_name="com.amazonaws.us-east-1.s3", vpc_endpoint_type="Gateway")
    for service in ("ecr.api", "ecr.dkr", "sts"):
        aws.ec2.VpcEndpoint(f"vpc-{service.replace('.', '-')}", vpc_id=vpc.id, vpc_endpoint_type="Interface",
                            service_name=f"com.amazonaws.us-east-1.{service}", private_dns_enabled=True)
    aws.ec2.FlowLog("vpc-flow", vpc_id=vpc.id, traffic_type="ALL", log_destination_type="cloud-watch-logs",
                    log_destination="arn:aws:logs:us-east-1:123456789012:log-group:flow",
                    iam_role_arn="arn:aws:iam::123456789012:role/flow")


def _insecure() -> None:
    bucket = aws.s3.Bucket("bad-bucket", acl="public-read")
    aws.s3.BucketPublicAccessBlock("bad-pab", bucket=bucket.id, block_public_acls=True)
    aws.s3.BucketServerSideEncryptionConfiguration("bad-sse", bucket=bucket.id, rules=[{
        "apply_server_side_encryption_by_default": {"sse_algorithm": "AES256"}}])
    aws.s3.BucketVersioning("bad-versioning", bucket=bucket.id, versioning_configuration={"status": "Suspended"})
    aws.s3.BucketPolicy("bad-policy", bucket=bucket.id, policy=json.dumps({"Statement": [{
        "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*"}]}))
    aws.kms.Key("bad-key", bypass_policy_lockout_safety_check=True, policy=json.dumps({"Statement": [{
        "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "kms:*", "Resource": "*"}]}))
    aws.eks.Cluster("bad-eks", role_arn="arn:aws:iam::1:role/eks", version="1.27",
                    vpc_config={"subnet_ids": ["subnet-1"], "public_access_cidrs": ["0.0.0.0/0"]},
                    enabled_cluster_log_types=["api"])
    aws.eks.NodeGroup("bad-nodes", cluster_name="bad-eks", node_role_arn="arn:aws:iam::1:role/node",
                      subnet_ids=["subnet-1"], scaling_config={"min_size": 1, "max_size": 2, "desired_size": 1},
                      remote_access={"ec2_ssh_key": "ops"})
    aws.ecr.Repository("bad-repo", image_tag_mutability="MUTABLE")
    aws.ecr.RepositoryPolicy("bad-repo-policy", repository="bad-repo", policy=json.dumps({"Statement": [{
        "Effect": "Allow", "Principal": "*", "Action": "ecr:*"}]}))
    aws.sagemaker.NotebookInstance("bad-notebook", role_arn="arn:aws:iam::1:role/sm", instance_type="ml.t3.medium")
    aws.sagemaker.Model("bad-model", execution_role_arn="arn:aws:iam::1:role/sm", primary_container={"image": "img"})
    aws.sagemaker.EndpointConfiguration("bad-endpoint-config", production_variants=[{
        "model_name": "bad-model", "variant_name": "main", "initial_instance_count": 1, "instance_type": "ml.g5.xlarge"}])
    aws.sagemaker.Domain("bad-domain", domain_name="d", auth_mode="IAM", vpc_id="vpc-1", subnet_ids=["subnet-1"],
                         default_user_settings={"execution_role": "arn:aws:iam::1:role/sm"})
    aws.elasticache.ReplicationGroup("bad-cache", description="x", node_type="cache.t3.micro", num_cache_clusters=1)
    admin = json.dumps({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"},
                                      {"Effect": "Allow", "Action": ["s3:*", "kms:*"], "Resource": "*"}]})
    aws.iam.Policy("bad-admin", policy=admin)
    aws.iam.RolePolicy("bad-inline", role="r", policy=admin)
    aws.iam.Role("bad-role", assume_role_policy=json.dumps({"Statement": [
        {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"},
        {"Effect": "Allow", "Principal": {"Federated": "arn:aws:iam::1:oidc-provider/x"},
         "Action": "sts:AssumeRoleWithWebIdentity"}]}),
        inline_policies=[{"name": "admin", "policy": admin}])
    aws.cloudtrail.Trail("bad-trail", s3_bucket_name="logs", enable_logging=False)
    aws.cloudwatch.LogGroup("bad-logs", retention_in_days=30)
    aws.iam.RolePolicy("bad-broad-read", role="r", policy=json.dumps({"Statement": [
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"], "Resource": "*"},
        {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "arn:aws:kms:us-east-1:1:key/*"}]}))
    vpc = aws.ec2.Vpc("bad-vpc", cidr_block="10.50.0.0/16")
    aws.ec2.VpcEndpoint("bad-vpc-s3", vpc_id=vpc.id, service_name="com.amazonaws.us-east-1.s3")


@pytest.fixture(scope="module")
def secure() -> dict:
    return plan(_secure)


@pytest.fixture(scope="module")
def insecure() -> dict:
    return plan(_insecure)


RESOURCE_RULES = [r.meta.name for r in rules.RULES if r.kind == "resource"]
STACK_RULES = [r.meta.name for r in rules.RULES if r.kind == "stack"]


@pytest.mark.parametrize("name", RESOURCE_RULES + STACK_RULES)
def test_passes_on_secure_program(secure: dict, name: str) -> None:
    assert run_policy(secure, name) == []


FAILING = {
    "aws-vpc-flow-logs": {"bad-vpc"},
    "aws-s3-block-public-access": {"bad-pab"},
    "aws-s3-no-public-acl": {"bad-bucket"},
    "aws-s3-encryption-kms": {"bad-sse"},
    "aws-s3-tls-only": {"bad-policy"},
    "aws-s3-versioning": {"bad-versioning"},
    "aws-s3-access-logging": {"bad-bucket"},
    "aws-kms-key-rotation": {"bad-key"},
    "aws-kms-no-public-principal": {"bad-key"},
    "aws-kms-no-lockout-bypass": {"bad-key"},
    "aws-eks-secrets-encryption": {"bad-eks"},
    "aws-eks-endpoint-restricted": {"bad-eks"},
    "aws-eks-control-plane-logging": {"bad-eks"},
    "aws-eks-supported-version": {"bad-eks"},
    "aws-eks-nodegroup-no-open-ssh": {"bad-nodes"},
    "aws-ecr-scan-on-push": {"bad-repo"},
    "aws-ecr-immutable-tags": {"bad-repo"},
    "aws-ecr-kms-encryption": {"bad-repo"},
    "aws-ecr-not-public": {"bad-repo-policy"},
    "aws-sagemaker-notebook-no-internet": {"bad-notebook"},
    "aws-sagemaker-notebook-no-root": {"bad-notebook"},
    "aws-sagemaker-kms-encryption": {"bad-notebook", "bad-endpoint-config", "bad-domain"},
    "aws-sagemaker-model-isolation": {"bad-model"},
    "aws-sagemaker-domain-vpc-only": {"bad-domain"},
    "aws-sagemaker-endpoint-redundancy": {"bad-endpoint-config"},
    "aws-elasticache-encryption-at-rest": {"bad-cache"},
    "aws-elasticache-encryption-in-transit": {"bad-cache"},
    "aws-elasticache-backups": {"bad-cache"},
    "aws-iam-no-admin": {"bad-admin", "bad-inline", "bad-role"},
    "aws-iam-no-wildcard-sensitive-actions": {"bad-admin", "bad-inline", "bad-role"},
    "aws-iam-trust-policy-scoped": {"bad-role"},
    "aws-iam-data-access-scoped": {"bad-broad-read", "bad-admin", "bad-inline", "bad-role"},
    "aws-vpc-private-service-endpoints": {"bad-vpc"},
    "aws-cloudtrail-secure": {"bad-trail"},
    "aws-log-group-kms": {"bad-logs"},
    "aws-log-group-retention": {"bad-logs"},
    "aws-s3-bucket-controls-attached": set(),  # tested below: the bucket lacks a TLS-only policy of its own
    "aws-cloudtrail-present": set(),  # tested below
}


@pytest.mark.parametrize("name", RESOURCE_RULES + STACK_RULES)
def test_fails_on_insecure_program(insecure: dict, name: str) -> None:
    expected = FAILING[name]
    if expected:
        assert expected <= failing_names(insecure, name)


def test_message_is_an_imperative_sentence_naming_the_resource(insecure: dict) -> None:
    messages = {v.message for v in run_policy(insecure, "aws-s3-block-public-access")}
    assert "The S3 public access block `bad-pab` must block public bucket policies (set `blockPublicPolicy: true`)." in messages


def test_bucket_without_companions_fails() -> None:
    export = plan(lambda: aws.s3.Bucket("lonely"))
    messages = [v.message for v in run_policy(export, "aws-s3-bucket-controls-attached")]
    assert len(messages) == 4 and all(m.startswith("The S3 bucket `lonely` must have") for m in messages)


def test_cloudtrail_required_when_aws_resources_exist() -> None:
    export = plan(lambda: aws.s3.Bucket("lonely"))
    assert [v.message for v in run_policy(export, "aws-cloudtrail-present")] == [
        "The stack must create a CloudTrail trail for its AWS resources."]


def test_config_raises_the_bar(secure: dict) -> None:
    assert failing_names(secure, "aws-log-group-retention", {"minimumDays": 2192}) == {"app-logs"}


def test_access_log_bucket_may_use_sse_s3() -> None:
    def program() -> None:
        key = aws.kms.Key("key")
        data, logs = aws.s3.Bucket("data"), aws.s3.Bucket("logs")
        aws.s3.BucketServerSideEncryptionConfiguration("data-sse", bucket=data.id, rules=[{
            "apply_server_side_encryption_by_default": {"sse_algorithm": "aws:kms", "kms_master_key_id": key.arn}}])
        aws.s3.BucketServerSideEncryptionConfiguration("logs-sse", bucket=logs.id, rules=[{
            "apply_server_side_encryption_by_default": {"sse_algorithm": "AES256"}}])
        aws.s3.BucketLogging("data-logging", bucket=data.id, target_bucket=logs.id, target_prefix="data/")

    export = plan(program)
    assert run_policy(export, "aws-s3-encryption-kms") == []
    assert run_policy(export, "stores-encrypted-with-stack-keys") == []
