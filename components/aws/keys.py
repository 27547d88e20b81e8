"""Customer-managed KMS keys, one per purpose, with rotation, a deletion window and scoped key policies."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import pulumi
import pulumi_aws as aws

from aienv.errors import ComponentInputError
from components.aws._common import AwsEnv, child, policy_json, stateful

KeyPurpose = Literal["data", "logs", "cluster", "registry", "features"]
# pulumi_aws kms.Key rotation_period_in_days: "Must be a number between 90 and 2560 (inclusive)."
ROTATION_DAYS = (90, 2560)

_DESCRIPTIONS: dict[str, str] = {
    "data": "training data, model artifacts and node volumes",
    "logs": "CloudWatch logs, CloudTrail, the alert topic and the log archive",
    "cluster": "Kubernetes secrets envelope encryption",
    "registry": "container images",
    "features": "the feature store (online, offline and Redis)",
}


@dataclass(frozen=True)
class KeysArgs:
    env: AwsEnv


class Keys(pulumi.ComponentResource):
    """`aienv:aws:Keys`: one KMS key and alias per purpose (none with `security.encryption: provider_managed`).

    The feature-store key exists only when the feature store is enabled.
    """

    keys: dict[str, aws.kms.Key]

    def __init__(self, name: str, args: KeysArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aienv:aws:Keys", name, None, opts)
        env = args.env
        spec = env.spec
        self.keys = {}
        purposes: list[str] = []
        low, high = ROTATION_DAYS
        if env.cmk and not low <= spec.security.key_rotation_days <= high:
            raise ComponentInputError("security.key_rotation_days",
                                      f"is {spec.security.key_rotation_days}; KMS rotates keys every {low} to "
                                      f"{high} days: use at least {low}")
        if env.cmk:
            purposes = ["data", "logs", "cluster", "registry"] + (["features"] if spec.feature_store.enabled else [])
        for purpose in purposes:
            key = aws.kms.Key(
                f"{name}-{purpose}",
                aws.kms.KeyArgs(
                    description=f"aienv {spec.name}: {_DESCRIPTIONS[purpose]}",
                    key_usage="ENCRYPT_DECRYPT",
                    customer_master_key_spec="SYMMETRIC_DEFAULT",
                    enable_key_rotation=True,
                    rotation_period_in_days=spec.security.key_rotation_days,
                    deletion_window_in_days=30,
                    policy=policy_json(_key_policy(env, purpose)),
                    tags=env.tags(f"{purpose}-key", **{"aienv-key-purpose": purpose}),
                ),
                stateful(self, spec))
            aws.kms.Alias(
                f"{name}-{purpose}-alias",
                aws.kms.AliasArgs(name=f"alias/aienv/{spec.name}/{purpose}", target_key_id=key.key_id),
                child(self, delete_before_replace=True))
            self.keys[purpose] = key

        self.register_outputs({p: k.arn for p, k in self.keys.items()})

    def arn(self, purpose: KeyPurpose) -> pulumi.Output[str] | None:
        """The key ARN for `purpose`, or None when the cloud's own keys are used."""
        key = self.keys.get(purpose)
        return key.arn if key is not None else None


def _key_policy(env: AwsEnv, purpose: str) -> list[dict[str, Any]]:
    """The account administers the key through IAM; named services use it only from this account."""
    account = env.account_id
    statements: list[dict[str, Any]] = [{
        "Sid": "AccountAdministersKeyThroughIam",
        "Effect": "Allow",
        "Principal": {"AWS": env.root_arn()},
        "Action": "kms:*",
        "Resource": "*",
    }]
    use = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"]
    if purpose == "data":
        # Managed node groups launch KMS-encrypted volumes through the Auto Scaling service-linked role.
        asg_role = env.arn("iam", "role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling",
                           regional=False)
        statements += [
            {"Sid": "AutoScalingUsesKeyForNodeVolumes", "Effect": "Allow", "Principal": {"AWS": asg_role},
             "Action": use, "Resource": "*"},
            {"Sid": "AutoScalingGrantsForNodeVolumes", "Effect": "Allow", "Principal": {"AWS": asg_role},
             "Action": "kms:CreateGrant", "Resource": "*",
             "Condition": {"Bool": {"kms:GrantIsForAWSResource": True}}},
        ]
    if purpose == "logs":
        statements += [
            {"Sid": "CloudWatchLogsEncryptsThisAccountsLogGroups", "Effect": "Allow",
             "Principal": {"Service": env.service("logs.{region}")}, "Action": use, "Resource": "*",
             "Condition": {"ArnLike": {"kms:EncryptionContext:aws:logs:arn": env.arn("logs", "log-group:*")}}},
            {"Sid": "CloudTrailEncryptsThisAccountsTrails", "Effect": "Allow",
             "Principal": {"Service": env.service("cloudtrail")}, "Action": "kms:GenerateDataKey*", "Resource": "*",
             "Condition": {
                 "StringEquals": {"aws:SourceAccount": account},
                 "StringLike": {"kms:EncryptionContext:aws:cloudtrail:arn":
                                pulumi.Output.concat("arn:", env.partition, ":cloudtrail:*:", account, ":trail/*")},
             }},
            {"Sid": "CloudTrailDescribesKey", "Effect": "Allow", "Principal": {"Service": env.service("cloudtrail")},
             "Action": "kms:DescribeKey", "Resource": "*",
             "Condition": {"StringEquals": {"aws:SourceAccount": account}}},
            # Alarms and budgets publish to the KMS-encrypted alert topic.
            {"Sid": "AlarmsAndBudgetsPublishToAlertTopic", "Effect": "Allow",
             "Principal": {"Service": [env.service("cloudwatch"), env.service("budgets")]},
             "Action": ["kms:Decrypt", "kms:GenerateDataKey*"], "Resource": "*",
             "Condition": {"StringEquals": {"aws:SourceAccount": account}}},
        ]
    return statements
