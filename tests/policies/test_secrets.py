"""Plaintext secrets: what counts as written into the program, and which environment variable names look like keys."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws
import pulumi_azure_native as az
import pulumi_random as random
import pytest
from conftest import failing_names, run_policy
from mockplan import plan

from policies.rules.secrets import looks_like_key, secret_like_name


def test_nested_password_inputs_are_found() -> None:
    export = plan(lambda: az.compute.VirtualMachine("vm", resource_group_name="rg", os_profile={
        "computer_name": "vm", "admin_username": "ops", "admin_password": "P@ssw0rd-2024"}))
    (v,) = run_policy(export, "secrets-no-plaintext-passwords")
    assert v.name == "vm" and "`osProfile.adminPassword`" in v.message


def test_a_secret_output_from_config_is_still_a_static_password() -> None:
    """The policy SDK hands policies decrypted values: a config secret and a literal look the same, and both are a
    human-chosen static password (docs/policies.md, Known limits)."""
    export = plan(lambda: aws.rds.Instance("db", engine="postgres", instance_class="db.t4g.micro",
                                           allocated_storage=20, username="app",
                                           password=pulumi.Output.secret("from-config-123")))
    assert failing_names(export, "secrets-no-plaintext-passwords") == {"db"}


def test_generated_values_and_provider_generated_outputs_pass() -> None:
    def program() -> None:
        pw = random.RandomPassword("pw", length=32)
        aws.elasticache.ReplicationGroup("cache", description="c", auth_token=pw.result)
        aws.iam.UserLoginProfile("console", user="alice")  # AWS generates the password output

    export = plan(program)
    for r in export["deployment"]["resources"]:
        if r["type"] == "aws:iam/userLoginProfile:UserLoginProfile":
            r["outputs"]["password"] = "generated-by-aws-1"  # as a real stack export holds it
    assert failing_names(export, "secrets-no-plaintext-passwords") == set()


def test_components_are_not_reported_for_their_childrens_inputs() -> None:
    class Db(pulumi.ComponentResource):
        def __init__(self, name: str, password: str) -> None:
            super().__init__("team:index:Db", name)
            aws.rds.Instance(f"{name}-instance", engine="postgres", instance_class="db.t4g.micro", allocated_storage=20,
                             username="app", password=password, opts=pulumi.ResourceOptions(parent=self))
            self.register_outputs({"masterPassword": password})

    assert failing_names(plan(lambda: Db("orders", "hunter2hunter2")), "secrets-no-plaintext-passwords") == {
        "orders-instance"}


@pytest.mark.parametrize(("name", "expected"), [
    ("DB_PASSWORD", True), ("HF_TOKEN", True), ("OPENAI_API_KEY", True), ("AWS_SECRET_ACCESS_KEY", True),
    ("clientSecret", True), ("STORAGE_CONNECTION_STRING", True), ("apiKey", True),
    ("DB_PASSWORD_FILE", False), ("TOKEN_URL", False), ("OPENAI_API_KEY_SECRET_ARN", False), ("LOG_LEVEL", False),
    ("SECRET_NAME", False), ("TOKEN_TTL", False), ("MODEL_ID", False),
])
def test_secret_like_names(name: str, expected: bool) -> None:
    assert secret_like_name(name) is expected


@pytest.mark.parametrize(("name", "value", "expected"), [
    ("DB_PASSWORD", "hunter2", True),
    ("DB_PASSWORD", "arn:aws:secretsmanager:eu-west-1:1:secret:db", False),
    ("CLIENT_SECRET", "@Microsoft.KeyVault(SecretUri=https://v.vault.azure.net/secrets/c)", False),
    ("TOKEN_REFRESH", "true", False),
    ("UPSTREAM", "AKIA" + "ABCDEFGHIJKLMNOP", True),  # an AWS access key id under any name
    ("CONFIG", "-----BEGIN RSA PRIVATE KEY-----\nMIIE...", True),
    ("MODEL", "meta-llama/Llama-3.1-8B", False),
])
def test_values_that_look_like_keys(name: str, value: str, expected: bool) -> None:
    assert looks_like_key(name, value) is expected
