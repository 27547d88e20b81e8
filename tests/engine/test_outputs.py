"""Mock outputs look like the real clouds' values, so dependents see plausible data."""

from __future__ import annotations

import base64
import json
import re

import pulumi
import pulumi_aws as aws
import pulumi_azure_native as azure
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s
import yaml

from aienv.engine import plan_program

from .programs import find


def test_aws_arns_and_ids(small_plan):
    key = find(small_plan, "data-key")
    assert re.fullmatch(r"arn:aws:kms:eu-west-1:123456789012:key/[0-9a-f-]{36}", key.outputs["arn"])
    assert key.outputs["arn"].endswith(key.id)
    bucket = find(small_plan, "data-bucket")
    assert bucket.outputs["arn"] == f"arn:aws:s3:::{bucket.outputs['bucket']}"
    assert bucket.outputs["bucket"].startswith("data-bucket-")
    eks = find(small_plan, "gpu-eks")
    assert re.fullmatch(r"arn:aws:eks:eu-west-1:123456789012:cluster/gpu-eks-[0-9a-f]{7}", eks.outputs["arn"])
    assert eks.outputs["endpoint"].startswith("https://") and "eks.amazonaws.com" in eks.outputs["endpoint"]


def test_kubeconfig_from_cluster_outputs_parses(small_plan):
    provider = find(small_plan, "gpu-k8s")
    doc = yaml.safe_load(provider.inputs["kubeconfig"])
    assert doc["clusters"][0]["cluster"]["server"].startswith("https://")
    ca = base64.b64decode(doc["clusters"][0]["cluster"]["certificate-authority-data"]).decode()
    assert ca.startswith("-----BEGIN CERTIFICATE-----")
    assert doc["users"][0]["name"]


def test_kubernetes_objects_are_named_and_namespaced(small_plan):
    ns = find(small_plan, "serve-ns")
    name = ns.outputs["metadata"]["name"]
    assert name.startswith("serve-ns-") and ns.id == name
    cfg = find(small_plan, "serve-cfg")
    assert cfg.inputs["metadata"]["namespace"] == name
    assert cfg.id.startswith(f"{name}/serve-cfg-")


def test_azure_ids_and_aks_kubeconfig():
    def program() -> None:
        rg = azure.resources.ResourceGroup("rg")
        azure.storage.StorageAccount("data", resource_group_name=rg.name, kind="StorageV2",
                                     sku=azure.storage.SkuArgs(name="Standard_LRS"))
        aks = azure.containerservice.ManagedCluster("aks", resource_group_name=rg.name, dns_prefix="ml")
        creds = azure.containerservice.list_managed_cluster_user_credentials_output(
            resource_group_name=rg.name, resource_name=aks.name)
        pulumi.export("kubeconfig", creds.kubeconfigs[0].value)
        pulumi.export("fqdn", aks.fqdn)

    plan = plan_program(program, config={"azure-native:location": "westeurope"})
    rg = find(plan, "rg")
    assert re.fullmatch(r"/subscriptions/[0-9a-f-]{36}/resourceGroups/rg[0-9a-f]{8}", rg.id)
    account = find(plan, "data")
    assert account.id.startswith(f"{rg.id}/providers/Microsoft.Storage/storageAccounts/")
    assert re.fullmatch(r"[a-z0-9]{3,24}", account.outputs["name"])
    assert account.outputs["location"] == "westeurope"
    assert plan.outputs["fqdn"].endswith(".hcp.westeurope.azmk8s.io")
    doc = yaml.safe_load(base64.b64decode(plan.outputs["kubeconfig"]))
    assert doc["clusters"] and doc["users"]


def test_gcp_ids_and_service_account_email():
    def program() -> None:
        sa = gcp.serviceaccount.Account("sa", account_id="serving")
        gke = gcp.container.Cluster("gke", location="europe-west4", initial_node_count=1)
        pulumi.export("email", sa.email)
        pulumi.export("ca", gke.master_auth.cluster_ca_certificate)
        pulumi.export("project", gcp.organizations.get_project().project_id)

    plan = plan_program(program, config={"gcp:project": "ml-prod"})
    assert plan.outputs["email"] == "serving@ml-prod.iam.gserviceaccount.com"
    assert base64.b64decode(plan.outputs["ca"]).startswith(b"-----BEGIN CERTIFICATE-----")
    gke = find(plan, "gke")
    assert gke.id == f"projects/ml-prod/locations/europe-west4/clusters/{gke.outputs['name']}"
    assert plan.outputs["project"] == "ml-prod"


def test_invokes_answer_plausibly():
    def program() -> None:
        doc = aws.iam.get_policy_document(statements=[
            aws.iam.GetPolicyDocumentStatementArgs(
                effect="Allow", actions=["s3:GetObject"], resources=["arn:aws:s3:::b/*"],
                principals=[aws.iam.GetPolicyDocumentStatementPrincipalArgs(type="Service",
                                                                          identifiers=["eks.amazonaws.com"])],
                conditions=[aws.iam.GetPolicyDocumentStatementConditionArgs(
                    test="StringEquals", variable="aws:SourceAccount", values=["123456789012"])])])
        pulumi.export("policy", doc.json)
        pulumi.export("azs", aws.get_availability_zones().names)
        pulumi.export("partition", aws.get_partition().partition)
        pulumi.export("tenant", azure.authorization.get_client_config().tenant_id)
        pulumi.export("zones", gcp.compute.get_zones(region="europe-west4").names)
        pulumi.export("unknown", pulumi.runtime.invoke("aws:foo/getBar:getBar", {}).value)

    plan = plan_program(program, config={"aws:region": "us-west-2"})
    policy = json.loads(plan.outputs["policy"])
    statement = policy["Statement"][0]
    assert policy["Version"] == "2012-10-17"
    assert statement["Action"] == "s3:GetObject"
    assert statement["Principal"] == {"Service": "eks.amazonaws.com"}
    assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": "123456789012"}}
    assert plan.outputs["azs"] == ["us-west-2a", "us-west-2b", "us-west-2c"]
    assert plan.outputs["partition"] == "aws"
    assert re.fullmatch(r"[0-9a-f-]{36}", plan.outputs["tenant"])
    assert plan.outputs["zones"][0] == "europe-west4-a"
    assert plan.outputs["unknown"] == {}


def test_stack_references_answer_from_the_given_outputs():
    def program() -> None:
        ref = pulumi.StackReference("org/net/prod")
        pulumi.export("vpc", ref.get_output("vpcId"))

    plan = plan_program(program, stack_outputs_by_ref={"org/net/prod": {"vpcId": "vpc-123"}})
    assert plan.outputs["vpc"] == "vpc-123"


def test_helm_release_and_namespace_on_a_provider():
    def program() -> None:
        p = k8s.Provider("k", kubeconfig="{}")
        k8s.helm.v3.Release("gpu-operator", chart="gpu-operator", namespace="gpu",
                            opts=pulumi.ResourceOptions(provider=p))

    plan = plan_program(program)
    rel = find(plan, "gpu-operator")
    assert rel.outputs["status"]["status"] == "deployed" and rel.id.startswith("gpu/gpu-operator-")
