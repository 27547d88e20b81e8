"""Helpers the AWS components share: the deployment context, ARNs, IAM JSON and resource options.

No resources here: every component file holds exactly one ComponentResource.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi

from aienv import conventions as c
from aienv.spec.model import StackSpec

# CloudWatch Logs accepts only these retention periods; a spec value is rounded up to the next one.
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557,
                      2922, 3288, 3653)

# Actions that have no resource-level permissions in IAM, so `Resource: "*"` is their only scope.
UNSCOPED_ACTIONS = frozenset({
    "autoscaling:DescribeAutoScalingGroups", "autoscaling:DescribeAutoScalingInstances",
    "autoscaling:DescribeLaunchConfigurations", "autoscaling:DescribeScalingActivities",
    "autoscaling:DescribeTags", "ec2:DescribeImages", "ec2:DescribeInstanceTypes",
    "ec2:DescribeLaunchTemplateVersions", "ec2:GetInstanceTypesFromInstanceRequirements",
    "cloudwatch:PutMetricData",
})


@dataclass(frozen=True)
class AwsEnv:
    """What every AWS component needs besides its own inputs: the spec and where it is deployed."""

    spec: StackSpec
    account_id: pulumi.Input[str]

    @property
    def region(self) -> str:
        return self.spec.region

    @property
    def partition(self) -> str:
        """The ARN partition of the region (China and GovCloud have their own)."""
        if self.region.startswith("cn-"):
            return "aws-cn"
        if self.region.startswith("us-gov-"):
            return "aws-us-gov"
        return "aws"

    @property
    def cmk(self) -> bool:
        """Encrypt with the environment's own KMS keys (`security.encryption: customer_managed`)."""
        return self.spec.security.encryption == "customer_managed"

    @property
    def cluster_name(self) -> str:
        """The EKS cluster name: the environment name (pinned, so tags and kubeconfigs can name it)."""
        return self.spec.name

    def arn(self, service: str, resource: str, *, regional: bool = True, account: bool = True) -> pulumi.Output[str]:
        """`arn:<partition>:<service>:<region>:<account>:<resource>`."""
        region = self.region if regional else ""
        acct: pulumi.Input[str] = self.account_id if account else ""
        return pulumi.Output.concat("arn:", self.partition, ":", service, ":", region, ":", acct, ":", resource)

    def root_arn(self) -> pulumi.Output[str]:
        return self.arn("iam", "root", regional=False)

    def managed_policy(self, name: str) -> str:
        return f"arn:{self.partition}:iam::aws:policy/{name}"

    def service(self, name: str) -> str:
        """A service principal, e.g. `logs.us-east-1.amazonaws.com` for `logs.{region}`."""
        suffix = "amazonaws.com.cn" if self.partition == "aws-cn" else "amazonaws.com"
        return f"{name.format(region=self.region)}.{suffix}"

    def tags(self, role: str, **extra: str) -> dict[str, str]:
        """Per-resource tags: the environment tags (also the provider's default tags, so resources the
        provider tags by itself carry them too), a `Name` and the resource's own."""
        return {**self.base_tags(), "Name": f"{self.spec.name}-{role}", **extra}

    def base_tags(self) -> dict[str, str]:
        """The environment tags the provider applies to every resource (and node groups copy to instances)."""
        return {
            **self.spec.tags,
            c.TAG_ENVIRONMENT: self.spec.name,
            c.TAG_TIER: self.spec.environment.value,
            c.TAG_OWNER: self.spec.owner,
            c.TAG_MANAGED_BY: c.MANAGED_BY,
        }


def policy_json(statements: Sequence[Mapping[str, Any]]) -> pulumi.Output[str]:
    """An IAM policy document from statements that may hold Outputs (rendered without invokes)."""
    return pulumi.Output.json_dumps({"Version": "2012-10-17", "Statement": list(statements)})


def log_retention(days: int) -> int:
    """The smallest retention CloudWatch Logs accepts that keeps logs at least `days`."""
    i = bisect.bisect_left(LOG_RETENTION_DAYS, days)
    return LOG_RETENTION_DAYS[min(i, len(LOG_RETENTION_DAYS) - 1)]


def child(parent: pulumi.Resource, **kwargs: Any) -> pulumi.ResourceOptions:
    return pulumi.ResourceOptions(parent=parent, **kwargs)


def stateful(parent: pulumi.Resource, spec: StackSpec, **kwargs: Any) -> pulumi.ResourceOptions:
    """Options for data-holding resources: protected, and kept in the cloud if removed from the program."""
    keep = spec.security.deletion_protection
    return pulumi.ResourceOptions(parent=parent, protect=keep, retain_on_delete=keep, **kwargs)
