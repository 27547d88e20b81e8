"""Cluster: private, encrypted, fully logged EKS with access entries, IRSA and GPU node groups from the spec."""

from __future__ import annotations

import json

from aienv import conventions as c
from components.aws.cluster import AWS_GPU_LABEL

from .awsplan import AwsPlan, is_secret, reveal


def _gpu_groups(plan: AwsPlan) -> dict[str, dict]:
    return {g.inputs["labels"][c.POOL_LABEL]: g.inputs for g in plan.of("NodeGroup")
            if g.inputs["labels"][c.POOL_LABEL] != "system"}


def test_control_plane_is_private_encrypted_and_fully_logged(prod: AwsPlan) -> None:
    i = prod.one("Cluster", "eks").inputs
    assert i["name"] == "prod-aws" and i["version"] == "1.35"
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
                              "workload-class": "large-models", AWS_GPU_LABEL: "nvidia-a100-80gb"}
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
    assert a100.inputs["blockDeviceMappings"][0]["ebs"]["volumeSize"] == 600  # the spec's disk_gb: room for the node weight cache


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
    addon = prod.one("Addon", "ebs-csi").inputs
    assert addon["addonName"] == "aws-ebs-csi-driver" and addon["serviceAccountRoleArn"]


# --- A1: the deployer reaches the private API server ---------------------------------------------------------

def test_deployer_network_is_admitted_to_the_private_endpoint(prod: AwsPlan) -> None:
    cluster = prod.one("Cluster", "eks")
    assert cluster.inputs["vpcConfig"]["endpointPublicAccess"] is False
    (rule,) = [r for r in prod.of("SecurityGroupIngressRule") if "deployer" in r.name]
    assert rule.inputs["cidrIpv4"] == "10.200.8.0/24" == prod.spec.cluster.deployer.cidrs[0]
    assert (rule.inputs["fromPort"], rule.inputs["toPort"], rule.inputs["ipProtocol"]) == (443, 443, "tcp")
    # On the security group EKS made for the cluster (its id is the cluster's output).
    assert rule.property_dependencies["securityGroupId"] == [cluster.urn]
    # The Kubernetes layer and the StorageClass wait for it.
    assert rule.urn in prod.one("StorageClass").dependencies


def test_public_api_path_creates_no_deployer_rule(variant) -> None:
    plan = variant("dev-aws", {"cluster": {"api_access": "public", "api_allowed_cidrs": ["203.0.113.0/24"],
                                           "deployer": {"path": None, "cidrs": []}}})
    assert not [r for r in plan.of("SecurityGroupIngressRule") if "deployer" in r.name]
    assert plan.one("Cluster", "eks").inputs["vpcConfig"]["publicAccessCidrs"] == ["203.0.113.0/24"]


# --- C1 / C2: NetworkPolicies enforced; the node role out of reach of pods -----------------------------------

def test_vpc_cni_add_on_enforces_network_policy_with_its_own_role(prod: AwsPlan) -> None:
    addon = prod.one("Addon", "vpc-cni")
    assert addon.inputs["addonName"] == "vpc-cni"
    assert json.loads(addon.inputs["configurationValues"]) == {"enableNetworkPolicy": "true"}
    role = prod.one("Role", "cluster-vpc-cni")
    trust = json.loads(reveal(role.inputs["assumeRolePolicy"]))["Statement"][0]
    sub = next(v for k, v in trust["Condition"]["StringEquals"].items() if k.endswith(":sub"))
    assert sub == "system:serviceaccount:kube-system:aws-node"
    attached = [a.inputs["policyArn"] for a in prod.of("RolePolicyAttachment") if "vpc-cni" in a.name]
    assert attached == ["arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy"]
    # Every node group boots after the add-on, so aws-node never runs on the node role.
    assert all(addon.urn in g.dependencies for g in prod.of("NodeGroup"))


def test_pods_cannot_reach_imds_credentials(prod: AwsPlan) -> None:
    for lt in prod.of("LaunchTemplate"):
        assert lt.inputs["metadataOptions"]["httpPutResponseHopLimit"] == 1


# --- B2: GPU nodes keep weights and images on the instance-store NVMe ----------------------------------------

def test_gpu_launch_templates_put_kubelet_and_containerd_on_instance_store_raid0(prod: AwsPlan) -> None:
    import base64

    for lt in prod.of("LaunchTemplate"):
        data = lt.inputs.get("userData")
        if "gpu-" in lt.name:
            text = base64.b64decode(data).decode()
            assert "Content-Type: application/node.eks.aws" in text and "strategy: RAID0" in text
            assert text.startswith("MIME-Version: 1.0")
        else:
            assert data is None


# --- B4 / D4: the autoscaler knows a GPU node before its device plugin runs, and from zero --------------------

def test_gpu_node_groups_carry_the_autoscaler_gpu_label(prod: AwsPlan) -> None:
    for pool in ("l4", "a100"):
        assert _gpu_groups(prod)[pool]["labels"][AWS_GPU_LABEL] == prod.spec.gpu_pool(pool).gpu_type
    system = next(g.inputs for g in prod.of("NodeGroup") if g.inputs["labels"] == {c.POOL_LABEL: "system"})
    assert AWS_GPU_LABEL not in system["labels"]


def test_node_template_tags_go_on_each_gpu_auto_scaling_group(prod: AwsPlan) -> None:
    tags = {}
    for t in prod.of("aws:autoscaling/tag:Tag"):
        pool = "a100" if "-a100-asg-" in t.name else "l4"
        tags.setdefault(pool, {})[t.inputs["tag"]["key"]] = t.inputs["tag"]["value"]
        group = next(g for g in prod.of("NodeGroup") if g.inputs["labels"].get(c.POOL_LABEL) == pool)
        assert group.urn in t.dependencies  # its Auto Scaling group: `resources[0].autoscalingGroups[0].name`
        assert t.inputs["tag"]["propagateAtLaunch"] is False
    template = "k8s.io/cluster-autoscaler/node-template"
    assert tags["a100"][f"{template}/resources/nvidia.com/gpu"] == "8"
    assert tags["a100"][f"{template}/taint/nvidia.com/gpu"] == "present:NoSchedule"
    assert tags["a100"][f"{template}/label/workload-class"] == "large-models"
    assert tags["l4"][f"{template}/label/{AWS_GPU_LABEL}"] == "nvidia-l4"


# --- A8: nodes boot once their egress exists ------------------------------------------------------------------

def test_node_groups_wait_for_nat_routes_and_service_endpoints(prod: AwsPlan) -> None:
    needed = {r.urn for r in prod.of("VpcEndpoint")} | {r.urn for r in prod.of("Route") if "natGatewayId" in r.inputs}
    assert len(needed) == 3 + len(prod.of("VpcEndpoint"))
    for group in prod.of("NodeGroup"):
        assert needed <= set(group.dependencies)


# --- A6: GPU node groups only in zones that sell their instance type -------------------------------------------

def test_gpu_node_groups_use_only_subnets_in_zones_selling_the_instance_type(prod: AwsPlan, monkeypatch) -> None:
    from types import SimpleNamespace

    import pulumi
    import pulumi_aws as aws

    from .awsplan import plan_spec

    asked = []

    def offerings(**kwargs):
        asked.append((kwargs["location_type"], kwargs["filters"][0].values))
        zones = ["us-east-1b"] if kwargs["filters"][0].values == ["p4de.24xlarge"] else None
        return pulumi.Output.from_input(SimpleNamespace(locations=zones))

    monkeypatch.setattr(aws.ec2, "get_instance_type_offerings_output", offerings)
    plan = plan_spec(prod.spec)
    assert sorted(asked) == [("availability-zone", ["g6.xlarge"]), ("availability-zone", ["p4de.24xlarge"])]
    subnets = {s.name.rsplit("-", 1)[1]: s.id for s in plan.of("Subnet") if "-private-" in s.name}
    groups = _gpu_groups(plan)
    assert groups["a100"]["subnetIds"] == [subnets["1"]]  # the subnet in us-east-1b, the second zone
    assert sorted(groups["l4"]["subnetIds"]) == sorted(subnets.values())  # no lookup result: every subnet


def test_an_ipv6_deployer_network_is_refused(tmp_path) -> None:
    import pytest

    from aienv.errors import SpecError

    from .awsplan import load_variant

    with pytest.raises(SpecError) as info:
        load_variant(tmp_path, "dev-aws", {"cluster": {"deployer": {"cidrs": ["10.200.8.0/24", "2001:db8::/64"]}}})
    assert {i.path: i.message for i in info.value.issues}["cluster.deployer.cidrs[1]"].startswith("`2001:db8::/64` is IPv6")
