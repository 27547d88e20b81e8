"""Existing Pulumi programs planned offline: resources, names, config, secrets, stack references."""

from __future__ import annotations

import json

from aienv.engine.wire import is_secret

from .conftest import PROGRAMS, by_name, plan_dir


def test_aws_program(aws_plan):
    assert aws_plan.project == "aws-insecure" and aws_plan.stack == "dev"
    assert aws_plan.root.urn == "urn:pulumi:dev::aws-insecure::pulumi:pulumi:Stack::aws-insecure-dev"
    bucket = by_name(aws_plan, "aws:s3/bucket:Bucket", "data")
    assert bucket.urn == "urn:pulumi:dev::aws-insecure::aws:s3/bucket:Bucket::data"
    assert bucket.inputs["tags"] == {"team": "ml"}
    assert "serverSideEncryptionConfiguration" not in bucket.inputs
    key = by_name(aws_plan, "aws:kms/key:Key", "data-key")
    assert key.inputs["deletionWindowInDays"] == 7 and "enableKeyRotation" not in key.inputs
    provider = next(r for r in aws_plan.resources if r.type == "pulumi:providers:aws")
    assert provider.inputs["region"] == "eu-west-1"  # aws:region from Pulumi.dev.yaml
    assert sorted(aws_plan.outputs) == ["bucket_name", "key_arn"]
    assert ":eu-west-1:" in aws_plan.outputs["key_arn"]
    assert not [r for r in aws_plan.resources if r.type == "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"]


def test_azure_program():
    plan = plan_dir("azure_storage")
    account = by_name(plan, "azure-native:storage:StorageAccount", "data")
    assert account.inputs["allowBlobPublicAccess"] is True
    assert account.inputs["enableHttpsTrafficOnly"] is False
    assert account.inputs["minimumTlsVersion"] == "TLS1_0"
    group = by_name(plan, "azure-native:resources:ResourceGroup", "rg")
    assert account.inputs["resourceGroupName"] == group.outputs["resourceGroupName"]
    provider = next(r for r in plan.resources if r.type == "pulumi:providers:azure-native")
    assert provider.inputs["location"] == "westeurope"


def test_gcp_program():
    plan = plan_dir("gcp_bucket")
    bucket = by_name(plan, "gcp:storage/bucket:Bucket", "data")
    assert bucket.inputs["location"] == "EU" and "uniformBucketLevelAccess" not in bucket.inputs
    assert plan.outputs["bucket_url"].startswith("gs://")


def test_kubernetes_program():
    plan = plan_dir("k8s_privileged")
    deployment = by_name(plan, "kubernetes:apps/v1:Deployment", "inference")
    container = deployment.inputs["spec"]["template"]["spec"]["containers"][0]
    assert container["securityContext"] == {"privileged": True}
    assert "resources" not in container
    assert plan.summary()["by_cloud"] == {"kubernetes": 1}


def test_local_module_import():
    plan = plan_dir("local_module")
    bucket = by_name(plan, "aws:s3/bucket:Bucket", "logs")
    assert bucket.inputs["tags"] == {"env": "dev", "managed-by": "local-module"}
    assert plan.outputs["prefix"] == "local-module"


def test_package_main_runs_in_its_folder():
    plan = plan_dir("package_main")
    assert plan.outputs["cwd"] == "src"  # the language host's working directory: the main folder
    assert plan.outputs["root"] == "package_main"  # pulumi.get_root_directory(): the Pulumi.yaml folder
    pet = by_name(plan, "random:index/randomPet:RandomPet", "name")
    assert pet.inputs["prefix"] == "package-main"  # its own `lib`, from src/
    password = by_name(plan, "random:index/randomPassword:RandomPassword", "db")
    assert is_secret(password.outputs["result"])


def test_stack_config_namespaced_structured_and_defaults(config_plan):
    bucket = by_name(config_plan, "aws:s3/bucket:Bucket", "data")
    assert bucket.inputs["bucket"] == "acme-dev-data"  # config-secrets:bucketPrefix (namespaced)
    assert bucket.inputs["tags"] == {
        "team": "vision", "tier": "gold",  # structured object -> JSON text -> require_object
        "owner": "platform",  # Pulumi.yaml project config
        "replicas": "3",  # stack value over the Pulumi.yaml default
        "enabled": "yes",  # a scalar keeps its text, as the CLI passes it
        "region": "eu-central-1",  # aws:region
    }
    group = by_name(config_plan, "aws:ec2/securityGroup:SecurityGroup", "db")
    assert group.inputs["ingress"][0]["cidrBlocks"] == ["10.0.0.0/16", "10.1.0.0/16"]  # a list
    provider = next(r for r in config_plan.resources if r.type == "pulumi:providers:aws")
    assert json.loads(provider.inputs["defaultTags"]) == {"tags": {"cost-center": "ml-platform"}}
    assert config_plan.outputs["database_host"] == "db.internal"


def test_secure_values_are_fake_secrets_never_plaintext(config_plan):
    version = by_name(config_plan, "aws:secretsmanager/secretVersion:SecretVersion", "db")
    assert version.inputs["secretString"]["value"] == "aienv-offline-secret:config-secrets:dbPassword"
    assert is_secret(version.inputs["secretString"])
    parameter = by_name(config_plan, "aws:ssm/parameter:Parameter", "database")
    assert is_secret(parameter.inputs["value"])
    assert json.loads(parameter.inputs["value"]["value"]) == {
        "host": "db.internal", "password": "aienv-offline-secret:config-secrets:database"}
    export = json.dumps(config_plan.to_export())
    assert "aienv-offline-secret" not in export and "v1:" not in export
    assert '"ciphertext"' in export


def test_stack_option_and_config_overrides():
    plan = plan_dir("config_secrets", stack="prod",
                    config_overrides={"replicas": "5", "aws:region": "ap-south-1"})
    assert plan.stack == "prod" and plan.root.name == "config-secrets-prod"
    bucket = by_name(plan, "aws:s3/bucket:Bucket", "data")
    assert bucket.inputs["bucket"] == "acme-prod-data"  # from stacks/Pulumi.prod.yaml
    assert bucket.inputs["tags"]["replicas"] == "5" and bucket.inputs["tags"]["region"] == "ap-south-1"
    parameter = by_name(plan, "aws:ssm/parameter:Parameter", "database")
    assert json.loads(parameter.inputs["value"]["value"])["password"] == "not-secret-in-prod"


def test_secret_provider_config_is_secret_in_the_default_provider(tmp_path):
    (tmp_path / "Pulumi.yaml").write_text("name: sec\nruntime: python\n")
    (tmp_path / "Pulumi.dev.yaml").write_text("config:\n  aws:secretKey:\n    secure: v1:abc\n")
    (tmp_path / "__main__.py").write_text("import pulumi_aws as aws\naws.s3.Bucket('b')\n")
    from aienv.engine.program import load_project, plan_pulumi_program

    plan = plan_pulumi_program(load_project(tmp_path))
    provider = next(r for r in plan.resources if r.type == "pulumi:providers:aws")
    assert is_secret(provider.inputs["secretKey"])
    assert "aienv-offline-secret" not in json.dumps(plan.to_export())


def test_stack_reference_without_outputs_warns():
    plan = plan_dir("stack_reference")
    ref = by_name(plan, "pulumi:pulumi:StackReference", "acme/network/prod")
    assert ref.id == "acme/network/prod" and ref.outputs["outputs"] == {}
    assert plan.outputs.get("vpc_id") is None  # a None output is not recorded
    assert any(level == "warning" and "acme/network/prod" in message for level, message in plan.diagnostics)


def test_stack_reference_resolves_given_outputs():
    outputs = {"acme/network/prod": {"vpcId": "vpc-0abc", "privateSubnetIds": ["subnet-1", "subnet-2"]}}
    plan = plan_dir("stack_reference", stack_outputs=outputs)
    group = by_name(plan, "aws:ec2/securityGroup:SecurityGroup", "app")
    assert group.inputs["vpcId"] == "vpc-0abc"
    assert plan.outputs["subnets"] == ["subnet-1", "subnet-2"]
    assert not [m for level, m in plan.diagnostics if level == "warning"]


def test_programs_are_listed():
    # every sample program has a Pulumi.yaml (the test data stays consistent)
    assert all((p / "Pulumi.yaml").is_file() for p in PROGRAMS.iterdir() if p.is_dir())
