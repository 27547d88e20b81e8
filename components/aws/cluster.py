"""EKS: private control plane with KMS secrets and full logging, access entries, IRSA, managed node groups."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import cast

import pulumi
import pulumi_aws as aws

from aienv import conventions as c
from aienv import naming
from aienv.errors import spec_field
from aienv.gpus import lookup
from aienv.spec.model import EndpointAccess, GpuPool
from components.aws._common import AwsEnv, child, log_retention, policy_json, stateful
from components.contracts import GpuPoolRef
from components.kubernetes.autoscaler import node_template_tags

LOG_TYPES = ("api", "audit", "authenticator", "controllerManager", "scheduler")
GPU_AMI = "AL2023_x86_64_NVIDIA"  # NVIDIA driver and container toolkit preinstalled (DriverMode.PREINSTALLED)
SYSTEM_AMI = "AL2023_x86_64_STANDARD"
ROOT_DEVICE = "/dev/xvda"
ADMIN_POLICY = "arn:{partition}:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
EBS_CSI_SA = ("kube-system", "ebs-csi-controller-sa")
VPC_CNI_SA = ("kube-system", "aws-node")
# The label cluster-autoscaler's AWS provider reads to know a node group has GPUs, so it waits for the device
# plugin instead of adding another node (kubernetes/autoscaler#1949: "You need to create GPU label to your node
# groups. I added GPU Label for aws in #1584").
AWS_GPU_LABEL = "k8s.amazonaws.com/accelerator"
# GPU pools put kubelet, containerd and pod logs on a RAID0 of the instance-store NVMe disks (every GPU shape in
# aienv.gpus has them): model weights in emptyDir volumes then live on local NVMe, not the root EBS volume
# (nodeadm API: LocalStorageOptions "control how EC2 instance stores are used when available", strategy RAID0).
# Managed node groups merge MIME multi-part user data with their own (EKS user guide, launch templates).
GPU_USER_DATA = """MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="AIENV"

--AIENV
Content-Type: application/node.eks.aws

---
apiVersion: node.eks.aws/v1alpha1
kind: NodeConfig
spec:
  instance:
    localStorage:
      strategy: RAID0

--AIENV--
"""
_EFFECTS = {"NoSchedule": "NO_SCHEDULE", "PreferNoSchedule": "PREFER_NO_SCHEDULE", "NoExecute": "NO_EXECUTE"}


@dataclass(frozen=True)
class ClusterArgs:
    env: AwsEnv
    private_subnet_ids: Sequence[pulumi.Input[str]]
    cluster_role_arn: pulumi.Input[str]
    node_role_arn: pulumi.Input[str]
    cluster_key_arn: pulumi.Input[str] | None  # secrets envelope encryption; None: EKS's AWS-owned key
    volume_key_arn: pulumi.Input[str] | None  # node and persistent volumes; None: the account's EBS default key
    logs_key_arn: pulumi.Input[str] | None
    roles_ready: Sequence[pulumi.Resource] = ()  # role policy attachments the cluster and nodes need first
    # Subnets by zone name, when the spec names its zones (GPU pools that pin zones use only theirs).
    private_subnet_ids_by_zone: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    # The zone of each private subnet (same order as `private_subnet_ids`).
    private_subnet_zones: Sequence[pulumi.Input[str]] = ()
    # Routes and service endpoints nodes need when they boot (NAT, ECR, S3, STS, EC2).
    egress_ready: Sequence[pulumi.Resource] = ()


class Cluster(pulumi.ComponentResource):
    """`aienv:aws:Cluster`: the EKS cluster, its OIDC provider, system and GPU node groups, the EBS CSI add-on."""

    cluster: aws.eks.Cluster
    cluster_name: pulumi.Output[str]
    kubeconfig: pulumi.Output[str]
    oidc_provider: aws.iam.OpenIdConnectProvider
    oidc_issuer: pulumi.Output[str]  # issuer host and path, without https://
    cluster_security_group_id: pulumi.Output[str]
    node_groups: dict[str, aws.eks.NodeGroup]
    gpu_pools: list[GpuPoolRef]
    deployer_rules: list[aws.vpc.SecurityGroupIngressRule]
    ready: list[pulumi.Resource]

    def __init__(self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aienv:aws:Cluster", name, None, opts)
        env = args.env
        spec = env.spec
        cspec = spec.cluster
        cluster_name = env.cluster_name
        public = cspec.api_access is EndpointAccess.public

        # EKS would create this group itself, unencrypted and kept forever; create it first instead.
        log_group = aws.cloudwatch.LogGroup(f"{name}-control-plane-logs", aws.cloudwatch.LogGroupArgs(
            name=f"/aws/eks/{cluster_name}/cluster",
            retention_in_days=log_retention(spec.monitoring.log_retention_days),
            kms_key_id=args.logs_key_arn,
            deletion_protection_enabled=spec.security.deletion_protection,
            tags=env.tags("control-plane-logs"),
        ), stateful(self, spec, delete_before_replace=True))

        self.cluster = aws.eks.Cluster(f"{name}-eks", aws.eks.ClusterArgs(
            name=cluster_name,
            version=cspec.kubernetes_version,
            role_arn=args.cluster_role_arn,
            vpc_config=aws.eks.ClusterVpcConfigArgs(
                subnet_ids=list(args.private_subnet_ids),
                endpoint_private_access=True,
                endpoint_public_access=public,
                public_access_cidrs=list(cspec.api_allowed_cidrs) if public else None,
            ),
            access_config=aws.eks.ClusterAccessConfigArgs(
                authentication_mode="API", bootstrap_cluster_creator_admin_permissions=True),
            encryption_config=aws.eks.ClusterEncryptionConfigArgs(
                resources=["secrets"],
                provider=aws.eks.ClusterEncryptionConfigProviderArgs(key_arn=args.cluster_key_arn),
            ) if args.cluster_key_arn is not None else None,
            enabled_cluster_log_types=list(LOG_TYPES),
            deletion_protection=spec.security.deletion_protection,
            tags=env.tags("eks"),
        ), child(self, depends_on=[log_group, *args.roles_ready], delete_before_replace=True))
        self.cluster_name = self.cluster.name
        self.cluster_security_group_id = self.cluster.vpc_config.cluster_security_group_id

        issuer_url = self.cluster.identities.apply(_issuer)
        self.oidc_provider = aws.iam.OpenIdConnectProvider(f"{name}-oidc", aws.iam.OpenIdConnectProviderArgs(
            url=issuer_url, client_id_lists=["sts.amazonaws.com"], tags=env.tags("oidc")), child(self))
        self.oidc_issuer = issuer_url.apply(lambda u: u.removeprefix("https://"))

        self.ready = []
        self.deployer_rules = self._deployer_rules(name, env)
        self.ready += self.deployer_rules
        for i, role_arn in enumerate(spec.aws.cluster_admin_role_arns):
            entry = aws.eks.AccessEntry(f"{name}-admin-{i}", aws.eks.AccessEntryArgs(
                cluster_name=self.cluster.name, principal_arn=role_arn, type="STANDARD", tags=env.tags(f"admin-{i}"),
            ), child(self))
            self.ready.append(aws.eks.AccessPolicyAssociation(
                f"{name}-admin-{i}-policy", aws.eks.AccessPolicyAssociationArgs(
                    cluster_name=self.cluster.name, principal_arn=entry.principal_arn,
                    policy_arn=ADMIN_POLICY.format(partition=env.partition),
                    access_scope=aws.eks.AccessPolicyAssociationAccessScopeArgs(type="cluster"),
                ), child(self)))

        self.vpc_cni_addon = self._vpc_cni(name, env)
        self.node_groups = {}
        self.gpu_pools = []
        system = cspec.system_pool
        self.node_groups["system"] = self._node_group(
            name, "system", args, machine_type=system.machine_type or "m6i.xlarge", ami=SYSTEM_AMI,
            disk_gb=system.disk_gb, min_nodes=system.min_nodes or 1, max_nodes=system.max_nodes or 1,
            spot=False, labels={c.POOL_LABEL: "system"}, taints=[])
        for index, pool in enumerate(cspec.gpu_pools):
            with spec_field(f"cluster.gpu_pools[{index}]"):
                labels = gpu_labels(pool)
                machine_type = lookup(pool.gpu_type, "aws", pool.gpus_per_node).machine_type
                subnets: Sequence[pulumi.Input[str]] | pulumi.Output[list[str]] = (
                    [args.private_subnet_ids_by_zone[z] for z in pool.zones] if pool.zones
                    else self._subnets_selling(name, pool.name, machine_type, args))
                self.node_groups[pool.name] = self._node_group(
                    name, f"gpu-{pool.name}", args, machine_type=machine_type,
                    ami=GPU_AMI, disk_gb=pool.disk_gb, min_nodes=pool.min_nodes or 0, max_nodes=pool.max_nodes,
                    spot=pool.spot, labels=labels, taints=gpu_taints(pool), user_data=GPU_USER_DATA,
                    subnet_ids=subnets)
                ref = GpuPoolRef(name=pool.name, gpu_type=pool.gpu_type, gpus_per_node=pool.gpus_per_node,
                                 node_labels=labels)
                self.gpu_pools.append(ref)
                self._node_template_tags(name, pool, ref, self.node_groups[pool.name])
        self.ready += list(self.node_groups.values())

        self.ebs_csi_role = self._ebs_csi(name, env, args.volume_key_arn)

        self.kubeconfig = pulumi.Output.secret(pulumi.Output.all(
            self.cluster.name, self.cluster.endpoint, self.cluster.certificate_authority.data,
        ).apply(lambda parts: kubeconfig(parts[0], parts[1], parts[2], env.region)))

        self.register_outputs({
            "clusterName": self.cluster.name,
            "endpoint": self.cluster.endpoint,
            "oidcProviderArn": self.oidc_provider.arn,
            "nodeGroups": {k: g.node_group_name for k, g in self.node_groups.items()},
            "kubeconfig": self.kubeconfig,
        })

    def _node_group(self, name: str, role: str, args: ClusterArgs, *, machine_type: str, ami: str, disk_gb: int,
                    min_nodes: int, max_nodes: int, spot: bool, labels: dict[str, str],
                    taints: list[aws.eks.NodeGroupTaintArgs], user_data: str | None = None,
                    subnet_ids: Sequence[pulumi.Input[str]] | pulumi.Output[list[str]] | None = None
                    ) -> aws.eks.NodeGroup:
        env = args.env
        spec = env.spec
        instance_tags = {**env.tags(f"node-{role}"), c.POOL_LABEL: labels[c.POOL_LABEL]}
        template = aws.ec2.LaunchTemplate(f"{name}-{role}-lt", aws.ec2.LaunchTemplateArgs(
            name_prefix=naming.aws_prefix(naming.AWS_LAUNCH_TEMPLATE_PREFIX, spec.name, role),
            description=f"{spec.name} {role} nodes: IMDSv2 only, encrypted volumes",
            metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
                http_endpoint="enabled", http_tokens="required",
                # One hop: only the node and host-network pods (aws-node, kube-proxy) reach IMDS, so no pod can
                # take the node role's credentials ("Require IMDSv2 with hop limit 1 to block pods from accessing
                # node credentials", EKS best practices). Pods use IRSA; the EBS CSI driver falls back to
                # Kubernetes metadata ("attempting IMDS, then falling back to Kubernetes", its install docs).
                http_put_response_hop_limit=1),
            user_data=base64.b64encode(user_data.encode()).decode() if user_data else None,
            block_device_mappings=[aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
                device_name=ROOT_DEVICE,
                ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                    volume_size=disk_gb, volume_type="gp3", encrypted="true", kms_key_id=args.volume_key_arn,
                    delete_on_termination="true"),
            )],
            tag_specifications=[aws.ec2.LaunchTemplateTagSpecificationArgs(resource_type=kind, tags=instance_tags)
                                for kind in ("instance", "volume", "network-interface")],
            update_default_version=True,
            tags=env.tags(f"{role}-lt"),
        ), child(self))
        return aws.eks.NodeGroup(f"{name}-{role}", aws.eks.NodeGroupArgs(
            cluster_name=self.cluster.name,
            node_group_name_prefix=naming.aws_prefix(naming.AWS_NODE_GROUP_PREFIX, spec.name, role),
            node_role_arn=args.node_role_arn,
            subnet_ids=subnet_ids if subnet_ids is not None else list(args.private_subnet_ids),
            ami_type=ami,
            instance_types=[machine_type],
            capacity_type="SPOT" if spot else "ON_DEMAND",
            scaling_config=aws.eks.NodeGroupScalingConfigArgs(
                min_size=min_nodes, max_size=max_nodes, desired_size=min_nodes),
            update_config=aws.eks.NodeGroupUpdateConfigArgs(max_unavailable=1),
            launch_template=aws.eks.NodeGroupLaunchTemplateArgs(id=template.id, version=template.latest_version.apply(lambda v: str(v) if v is not None else None)),
            labels=labels,
            taints=taints,
            tags={**env.tags(f"ng-{role}"),
                  "k8s.io/cluster-autoscaler/enabled": "true",
                  f"k8s.io/cluster-autoscaler/{env.cluster_name}": "owned"},
        ), child(self, depends_on=[*args.roles_ready, *args.egress_ready, self.vpc_cni_addon],
                 ignore_changes=["scalingConfig.desiredSize"]))

    def _subnets_selling(self, name: str, pool: str, machine_type: str,
                         args: ClusterArgs) -> pulumi.Output[list[str]]:
        """The private subnets in zones that sell `machine_type`: GPU instance types are offered in some zones of a
        region only (EC2 DescribeInstanceTypeOfferings with location type `availability-zone`), and a node group
        spanning a zone without it cannot launch there."""
        offers = aws.ec2.get_instance_type_offerings_output(
            location_type="availability-zone",
            filters=[aws.ec2.GetInstanceTypeOfferingsFilterArgs(name="instance-type", values=[machine_type])],
            opts=pulumi.InvokeOutputOptions(parent=self))
        return pulumi.Output.all(offers.locations, list(args.private_subnet_ids), list(args.private_subnet_zones)).apply(
            lambda v: _in_zones(v[0], v[1], v[2]))

    def _deployer_rules(self, name: str, env: AwsEnv) -> list[aws.vpc.SecurityGroupIngressRule]:
        """`cluster.deployer.path: private_network`: the cluster security group admits HTTPS from the deployer's
        network. "You must ensure that your Amazon EKS control plane security group contains rules to allow
        ingress traffic on port 443 from your connected network" (EKS user guide, "Accessing a private only API
        server"); the private endpoint's name resolves to VPC addresses from anywhere ("resolved by public DNS
        servers to a private IP address from the VPC"), so the kubeconfig keeps the cluster endpoint."""
        deployer = env.spec.cluster.deployer
        if deployer.path != "private_network":
            return []
        return [aws.vpc.SecurityGroupIngressRule(f"{name}-deployer-{i}", aws.vpc.SecurityGroupIngressRuleArgs(
            security_group_id=self.cluster_security_group_id, ip_protocol="tcp", from_port=443, to_port=443,
            cidr_ipv4=cidr, description=f"Kubernetes API from the deployer network {cidr}",
            tags=env.tags(f"deployer-{i}"),
        ), child(self)) for i, cidr in enumerate(deployer.cidrs)]

    def _vpc_cni(self, name: str, env: AwsEnv) -> aws.eks.Addon:
        """The VPC CNI as a managed add-on: its own IRSA role (the node role keeps no ENI permissions) and the
        network policy agent on, so the layer's NetworkPolicies are enforced ("network policies are not enabled
        by default. You must opt-in", amazon-vpc-cni-k8s network policy FAQ). Created before any node group so
        nodes boot with it."""
        namespace, sa = VPC_CNI_SA
        role = aws.iam.Role(f"{name}-vpc-cni", aws.iam.RoleArgs(
            name_prefix=naming.aws_prefix(naming.AWS_IAM_ROLE_PREFIX, env.spec.name, "vpc-cni"),
            description=f"VPC CNI of {env.spec.name} ({namespace}/{sa})",
            assume_role_policy=irsa_trust(self.oidc_provider.arn, self.oidc_issuer, namespace, sa),
            tags=env.tags("vpc-cni"),
        ), child(self))
        attachment = aws.iam.RolePolicyAttachment(f"{name}-vpc-cni-managed", aws.iam.RolePolicyAttachmentArgs(
            role=role.name, policy_arn=env.managed_policy("AmazonEKS_CNI_Policy")), child(self))
        addon = aws.eks.Addon(f"{name}-vpc-cni-addon", aws.eks.AddonArgs(
            cluster_name=self.cluster.name, addon_name="vpc-cni", service_account_role_arn=role.arn,
            configuration_values=json.dumps({"enableNetworkPolicy": "true"}),
            resolve_conflicts_on_create="OVERWRITE", resolve_conflicts_on_update="OVERWRITE",
            tags=env.tags("vpc-cni"),
        ), child(self, depends_on=[attachment]))
        self.ready.append(addon)
        return addon

    def _node_template_tags(self, name: str, pool: GpuPool, ref: GpuPoolRef, group: aws.eks.NodeGroup) -> None:
        """cluster-autoscaler's node-template tags on the node group's Auto Scaling group, so it can scale the
        pool from zero knowing its labels, taints and GPUs. Managed node groups do not copy their own tags to the
        Auto Scaling group, so each tag is set on the group EKS created."""
        asg = group.resources.apply(_asg_name)
        for key, value in sorted(node_template_tags(ref, pool).items()):
            role = key.rsplit("node-template/", 1)[-1].replace("/", "-")  # e.g. label-aienv.io-gpu-type
            aws.autoscaling.Tag(f"{name}-{pool.name}-asg-{role}", aws.autoscaling.TagArgs(
                autoscaling_group_name=asg,
                tag=aws.autoscaling.TagTagArgs(key=key, value=value, propagate_at_launch=False),
            ), child(self, depends_on=[group]))  # the group exists once the node group is ACTIVE

    def _ebs_csi(self, name: str, env: AwsEnv, key_arn: pulumi.Input[str] | None) -> aws.iam.Role:
        """The EBS CSI driver add-on (the encrypted StorageClass needs it) with its own IRSA role."""
        namespace, sa = EBS_CSI_SA
        role = aws.iam.Role(f"{name}-ebs-csi", aws.iam.RoleArgs(
            name_prefix=naming.aws_prefix(naming.AWS_IAM_ROLE_PREFIX, env.spec.name, "ebs-csi"),
            description=f"EBS CSI controller of {env.spec.name} ({namespace}/{sa})",
            assume_role_policy=irsa_trust(self.oidc_provider.arn, self.oidc_issuer, namespace, sa),
            tags=env.tags("ebs-csi"),
        ), child(self))
        attachment = aws.iam.RolePolicyAttachment(f"{name}-ebs-csi-managed", aws.iam.RolePolicyAttachmentArgs(
            role=role.name, policy_arn=env.managed_policy("service-role/AmazonEBSCSIDriverPolicy")), child(self))
        deps: list[pulumi.Resource] = [attachment]
        if key_arn is not None:
            deps.append(aws.iam.RolePolicy(f"{name}-ebs-csi-kms", aws.iam.RolePolicyArgs(
                role=role.id,
                policy=policy_json([
                    {"Effect": "Allow", "Action": ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"],
                     "Resource": key_arn, "Condition": {"Bool": {"kms:GrantIsForAWSResource": True}}},
                    {"Effect": "Allow", "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*",
                                                   "kms:GenerateDataKey*", "kms:DescribeKey"],
                     "Resource": key_arn},
                ]),
            ), child(self)))
        self.ebs_csi_addon = aws.eks.Addon(f"{name}-ebs-csi-addon", aws.eks.AddonArgs(
            cluster_name=self.cluster.name, addon_name="aws-ebs-csi-driver", service_account_role_arn=role.arn,
            resolve_conflicts_on_create="OVERWRITE", resolve_conflicts_on_update="PRESERVE",
            tags=env.tags("ebs-csi"),
        ), child(self, depends_on=[self.node_groups["system"], *deps]))
        self.ready.append(self.ebs_csi_addon)
        return role


def _in_zones(zones: Sequence[str] | None, subnet_ids: Sequence[str], subnet_zones: Sequence[str]) -> list[str]:
    if zones is None:  # no lookup result (offline plans): every subnet
        return list(subnet_ids)
    return [s for s, z in zip(subnet_ids, subnet_zones, strict=True) if z in zones]


def _asg_name(resources: Sequence[aws.eks.outputs.NodeGroupResource] | None) -> str:
    """The Auto Scaling group EKS made for a node group (one once the group is ACTIVE; None only in offline plans,
    whose mocks do not invent it)."""
    groups = (resources[0].autoscaling_groups or []) if resources else []
    return cast(str, groups[0].name if groups else None)


def _issuer(identities: Sequence[aws.eks.outputs.ClusterIdentity]) -> str:
    oidcs = identities[0].oidcs or []
    return oidcs[0].issuer or "" if oidcs else ""


def gpu_labels(pool: GpuPool) -> dict[str, str]:
    """Labels written on a GPU pool's nodes (what workloads select on)."""
    return {**pool.labels, c.GPU_TYPE_LABEL: pool.gpu_type, c.GPU_COUNT_LABEL: str(pool.gpus_per_node),
            c.POOL_LABEL: pool.name, AWS_GPU_LABEL: pool.gpu_type}


def gpu_taints(pool: GpuPool) -> list[aws.eks.NodeGroupTaintArgs]:
    taints = [aws.eks.NodeGroupTaintArgs(key=c.GPU_TAINT_KEY, value=c.GPU_TAINT_VALUE,
                                         effect=_EFFECTS[c.GPU_TAINT_EFFECT])]
    taints += [aws.eks.NodeGroupTaintArgs(key=t.key, value=t.value or None, effect=_EFFECTS[t.effect])
               for t in pool.taints]
    return taints


def irsa_trust(provider_arn: pulumi.Input[str], issuer: pulumi.Input[str], namespace: str,
               service_account: str) -> pulumi.Output[str]:
    """A trust policy for exactly one Kubernetes service account on the cluster's OIDC provider."""
    return pulumi.Output.all(provider_arn, issuer).apply(lambda parts: json.dumps({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Federated": parts[0]},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {
                f"{parts[1]}:sub": f"system:serviceaccount:{namespace}:{service_account}",
                f"{parts[1]}:aud": "sts.amazonaws.com",
            }},
        }],
    }))


def kubeconfig(cluster_name: str, endpoint: str, ca_data: str, region: str) -> str:
    """A kubeconfig that authenticates with `aws eks get-token` (no long-lived credentials)."""
    return json.dumps({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster_name, "cluster": {"server": endpoint, "certificate-authority-data": ca_data}}],
        "contexts": [{"name": cluster_name, "context": {"cluster": cluster_name, "user": cluster_name}}],
        "current-context": cluster_name,
        "users": [{"name": cluster_name, "user": {"exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "command": "aws",
            "args": ["--region", region, "eks", "get-token", "--cluster-name", cluster_name, "--output", "json"],
            "interactiveMode": "Never",
        }}}],
    }, indent=2)
