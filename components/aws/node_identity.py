"""The EKS control-plane role and the node role, each with only the AWS managed policies it needs.

Separate from `identity.py` (workload roles) because node groups need the node role before the cluster
exists, while workload roles need the cluster's OIDC provider after it.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from aienv import naming
from components.aws._common import AwsEnv, child, policy_json
from components.aws.registries import cache_prefixes

CLUSTER_POLICIES = ("AmazonEKSClusterPolicy",)
# Nodes join the cluster and pull images; nothing else (no SSM, no ECR write, no S3). The VPC CNI's ENI
# permissions (AmazonEKS_CNI_Policy) belong to its own IRSA role (components.aws.cluster), not to every node.
NODE_POLICIES = ("AmazonEKSWorkerNodePolicy", "AmazonEC2ContainerRegistryPullOnly")


@dataclass(frozen=True)
class NodeIdentityArgs:
    env: AwsEnv


class NodeIdentity(pulumi.ComponentResource):
    """`aienv:aws:NodeIdentity`: the cluster service role and the role every node group's instances use."""

    cluster_role: aws.iam.Role
    node_role: aws.iam.Role

    def __init__(self, name: str, args: NodeIdentityArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aienv:aws:NodeIdentity", name, None, opts)
        env = args.env
        spec = env.spec
        self.cluster_role = self._role(name, "cluster", env, "eks", CLUSTER_POLICIES,
                                       f"EKS control plane of {spec.name}", ["sts:AssumeRole", "sts:TagSession"])
        self.node_role = self._role(name, "node", env, "ec2", NODE_POLICIES, f"EKS nodes of {spec.name}",
                                    ["sts:AssumeRole"])
        prefixes = cache_prefixes(spec)
        if prefixes:
            # The kubelet's first pull of a cached image imports it from the upstream and creates its repository:
            # "ecr:BatchImportUpstreamImage – Grants permission to retrieve the external image and import it to
            # your private registry", "ecr:CreateRepository – ... required if the repository storing the cached
            # images doesn't already exist" (ECR user guide, pull-through cache IAM permissions).
            aws.iam.RolePolicy(f"{name}-node-pull-through-cache", aws.iam.RolePolicyArgs(
                role=self.node_role.id, name="pull-through-cache",
                policy=policy_json([{
                    "Sid": "ImportCachedImages", "Effect": "Allow",
                    "Action": ["ecr:BatchImportUpstreamImage", "ecr:CreateRepository"],
                    "Resource": [env.arn("ecr", f"repository/{p}/*") for p in prefixes.values()],
                }]),
            ), child(self))
        self.register_outputs({"clusterRoleArn": self.cluster_role.arn, "nodeRoleArn": self.node_role.arn})

    def _role(self, name: str, role: str, env: AwsEnv, service: str, policies: tuple[str, ...], description: str,
              actions: list[str]) -> aws.iam.Role:
        resource = aws.iam.Role(f"{name}-{role}", aws.iam.RoleArgs(
            name_prefix=naming.aws_prefix(naming.AWS_IAM_ROLE_PREFIX, env.spec.name, role),
            description=description,
            assume_role_policy=policy_json([{
                "Effect": "Allow", "Principal": {"Service": env.service(service)}, "Action": actions,
            }]),
            tags=env.tags(f"{role}-role"),
        ), child(self))
        for policy in policies:
            aws.iam.RolePolicyAttachment(f"{name}-{role}-{policy}", aws.iam.RolePolicyAttachmentArgs(
                role=resource.name, policy_arn=env.managed_policy(policy)), child(self))
        return resource
