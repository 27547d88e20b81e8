"""Cluster: private, encrypted, fully logged EKS with access entries, IRSA and GPU node groups from the spec."""

from __future__ import annotations

import json

from aienv import conventions as c

from .awsplan import AwsPlan, is_secret, reveal


def _gpu_groups(plan: AwsPlan) -> dict[str, dict]:
    return {g.inputs["labels"][c.POOL_LABEL]: g.inputs for g in plan.of("NodeGroup")
            if g.inputs["labels"][c.POOL_LABEL] != "system"}


def test_control_plane_is_private_encrypted_and_fully_logged(prod: AwsPlan) -> None:
    i = prod.one("Cluster", "eks").inputs
    assert i["name"] == "prod-aws" and i["version"] == "1.32"
    assert i["vpcConfig"]["endpointPrivateAccess"] is True and i["vpcConfig"]["endpointPublicAccess"] is False
    assert "publicAccessCidrs" not in i["vpcConfig"]
    assert i["encryptionConfig"]["resources"] == ["secrets"]
    assert i["encryptionConfig"]["provider"]["keyArn"].startswith("arn:aws:kms:")
    assert set(i["enabledClusterLogTypes"]) == {"api", "audit", "authenticator", "controllerManager", "scheduler"}
    assert i["accessConfig"]["authenticationMode"] == "API"
    assert i["deletionProtection"] is True
    logs = prod.one("LogGroup", "control-plane")
    assert logs.inputs["name"] == "/aws/eks/prod-aws/cluster" and logs.inputs["kmsKeyId"]


def test_public_api_only_when_asked_and_only_for_its_cidrs(variant) -> None:
    plan = variant("dev-aws", {"cluster": {"api_access": "public", "api_allowed_cidrs": ["203.0.113.0/24"]}})
    vpc = plan.one("Cluster", "eks").inputs["vpcConfig"]
    assert vpc["endpointPublicAccess"] is True and vpc["publicAccessCidrs"] == ["203.0.113.0/24"]


def test_admin_roles_get_access_entries_not_aws_auth(variant) -> None:
    arn = "arn:aws:iam::123456789012:role/platform-admin"
    plan = variant("dev-aws", {"aws": {"cluster_admin_role_arns": [arn]}})
    assert plan.one("AccessEntry").inputs["principalArn"] == arn
    assoc = plan.one("AccessPolicyAssociation").inputs
    assert assoc["policyArn"].endswith(":cluster-access-policy/AmazonEKSClusterAdminPolicy")
    assert not [r for r in plan.resources if r.type.endswith("ConfigMap")]


def test_oidc_provider_trusts_sts_audience(prod: AwsPlan) -> None:
    oidc = prod.one("OpenIdConnectProvider").inputs
    assert oidc["clientIdLists"] == ["sts.amazonaws.com"]
    assert oidc["url"].startswith("https://oidc.eks.us-east-1.amazonaws.com/id/")


def test_gpu_pools_become_tainted_labelled_nvidia_node_groups(prod: AwsPlan) -> None:
    groups = _gpu_groups(prod)
    assert set(groups) == {"l4", "a100"}
    l4, a100 = groups["l4"], groups["a100"]
    assert l4["instanceTypes"] == ["g6.xlarge"] and a100["instanceTypes"] == ["p4de.24xlarge"]
    for g in (l4, a100):
        assert g["amiType"] == "AL2023_x86_64_NVIDIA"
        assert {"key": c.GPU_TAINT_KEY, "value": c.GPU_TAINT_VALUE, "effect": "NO_SCHEDULE"} in g["taints"]
        assert g["capacityType"] == "ON_DEMAND"
        assert g["tags"]["k8s.io/cluster-autoscaler/enabled"] == "true"
        assert g["tags"]["k8s.io/cluster-autoscaler/prod-aws"] == "owned"
    assert a100["labels"] == {c.GPU_TYPE_LABEL: "nvidia-a100-80gb", c.GPU_COUNT_LABEL: "8", c.POOL_LABEL: "a100",
                              "workload-class": "large-models"}
    assert l4["scalingConfig"] == {"minSize": 2, "maxSize": 8, "desiredSize": 2}
    assert a100["scalingConfig"] == {"minSize": 1, "maxSize": 2, "desiredSize": 1}


def test_system_pool_is_untainted_standard_al2023(prod: AwsPlan) -> None:
    system = next(g.inputs for g in prod.of("NodeGroup") if g.inputs["labels"] == {c.POOL_LABEL: "system"})
    assert system["amiType"] == "AL2023_x86_64_STANDARD" and not system.get("taints")
    assert system["instanceTypes"] == ["m6i.xlarge"]
    assert system["scalingConfig"]["minSize"] == 3 and system["scalingConfig"]["maxSize"] == 6


def test_dev_gpu_pool_is_spot_and_scales_to_zero(dev: AwsPlan) -> None:
    l4 = _gpu_groups(dev)["l4"]
    assert l4["capacityType"] == "SPOT"
    assert l4["scalingConfig"] == {"minSize": 0, "maxSize": 2, "desiredSize": 0}


def test_desired_size_is_left_to_the_autoscaler(prod: AwsPlan) -> None:
    assert all("scalingConfig.desiredSize" in g.ignore_changes for g in prod.of("NodeGroup"))


def test_extra_taints_are_added_to_the_gpu_taint(variant) -> None:
    plan = variant("dev-aws", {"cluster": {"gpu_pools": [{
        "name": "l4", "gpu_type": "nvidia-l4", "max_nodes": 2,
        "taints": [{"key": "team", "value": "vision", "effect": "NoExecute"}]}]}})
    taints = _gpu_groups(plan)["l4"]["taints"]
    assert taints == [{"key": "nvidia.com/gpu", "value": "present", "effect": "NO_SCHEDULE"},
                      {"key": "team", "value": "vision", "effect": "NO_EXECUTE"}]


def test_graph_grows_with_gpu_pools(variant) -> None:
    pools = [{"name": "l4", "gpu_type": "nvidia-l4", "max_nodes": 2},
             {"name": "a10g", "gpu_type": "nvidia-a10g", "gpus_per_node": 4, "max_nodes": 3},
             {"name": "h100", "gpu_type": "nvidia-h100-80gb", "gpus_per_node": 8, "max_nodes": 1}]
    two = _gpu_groups(variant("dev-aws", {"cluster": {"gpu_pools": pools[:2]}}))
    three = variant("dev-aws", {"cluster": {"gpu_pools": pools}})
    assert set(two) == {"l4", "a10g"} and two["a10g"]["instanceTypes"] == ["g5.12xlarge"]
    assert set(_gpu_groups(three)) == {"l4", "a10g", "h100"}
    assert len(three.of("LaunchTemplate")) == 4  # system + one per GPU pool


def test_launch_templates_require_imdsv2_and_encrypt_volumes(prod: AwsPlan) -> None:
    for lt in prod.of("LaunchTemplate"):
        assert lt.inputs["metadataOptions"]["httpTokens"] == "required"
        ebs = lt.inputs["blockDeviceMappings"][0]["ebs"]
        assert ebs["encrypted"] == "true" and ebs["kmsKeyId"].startswith("arn:aws:kms:")
        assert ebs["volumeType"] == "gp3"
    a100 = next(lt for lt in prod.of("LaunchTemplate") if "gpu-a100" in lt.name)
    assert a100.inputs["blockDeviceMappings"][0]["ebs"]["volumeSize"] == 200


def test_kubeconfig_is_a_secret_exec_based_string(prod: AwsPlan) -> None:
    assert is_secret(prod.outputs["kubeconfig"])
    config = json.loads(reveal(prod.outputs["kubeconfig"]))
    user = config["users"][0]["user"]
    assert "token" not in user
    assert user["exec"]["command"] == "aws"
    assert user["exec"]["args"][2:] == ["eks", "get-token", "--cluster-name", "prod-aws", "--output", "json"]
    assert config["clusters"][0]["cluster"]["server"].startswith("https://")
    provider = prod.one("pulumi:providers:kubernetes")
    assert is_secret(provider.inputs["kubeconfig"])
    assert provider.parent == prod.one("aienv:aws:Foundation").urn


def test_encrypted_gp3_storage_class_on_the_cluster(prod: AwsPlan) -> None:
    sc = prod.one("StorageClass")
    assert sc.inputs["metadata"]["name"] == "gp3-encrypted"
    assert sc.inputs["provisioner"] == "ebs.csi.aws.com"
    assert sc.inputs["parameters"]["encrypted"] == "true"
    assert sc.inputs["parameters"]["kmsKeyId"].startswith("arn:aws:kms:")
    assert sc.provider.startswith(prod.one("pulumi:providers:kubernetes").urn)
    addon = prod.one("Addon").inputs
    assert addon["addonName"] == "aws-ebs-csi-driver" and addon["serviceAccountRoleArn"]
