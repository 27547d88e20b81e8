"""Deployability, class 3 (ranges and combinations the APIs enforce): values a `pulumi up` would send and the
cloud reject. Each limit is quoted from the installed SDK's docstring or the cloud's documentation."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping

from pulumi_policy import ResourceValidationArgs

from policies.meta import RuleMeta
from policies.rules._base import get, items, number, resource_rule, subject
from policies.rules.deploy_fit import DEPLOY_CONTROLS

AWS_KMS_KEY = "aws:kms/key:Key"
AZURE_KEY = "azure-native:keyvault:Key"
GCP_CRYPTO_KEY = "gcp:kms/cryptoKey:CryptoKey"
AWS_BUDGET = "aws:budgets/budget:Budget"
AZURE_BUDGET = "azure-native:consumption:Budget"
GCP_BUDGET = "gcp:billing/budget:Budget"
AZURE_REDIS = "azure-native:redis:Redis"
AWS_LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
GCP_LOG_BUCKET = "gcp:logging/projectBucketConfig:ProjectBucketConfig"
AZURE_LOG_WORKSPACE = "azure-native:operationalinsights:Workspace"
# The control plane's version property per cluster type (pulumi_aws eks.Cluster `version`, azure-native
# ManagedCluster `kubernetes_version`, pulumi_gcp container.Cluster `min_master_version`).
CLUSTER_VERSION = {"aws:eks/cluster:Cluster": ("aws", "version"),
                   "azure-native:containerservice:ManagedCluster": ("azure", "kubernetesVersion"),
                   "gcp:container/cluster:Cluster": ("gcp", "minMasterVersion")}

# aws.cloudwatch.LogGroup docstring: "Possible values are: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365,
# 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653, and 0."
AWS_LOG_RETENTION = frozenset({0, 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827,
                               2192, 2557, 2922, 3288, 3653})
_DURATION = re.compile(r"^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T.*)?$")


def iso_days(value: object) -> float | None:
    """Days in an ISO 8601 duration (`P90D`, `P1Y`, `P3M`; a year 365 days, a month 30)."""
    if not isinstance(value, str):
        return None
    match = _DURATION.match(value.strip().upper())
    if match is None:
        return None
    y, mo, w, d = (int(g) if g else 0 for g in match.groups())
    return y * 365 + mo * 30 + w * 7 + d


def _s(args: ResourceValidationArgs) -> str:
    return subject(args.resource_type, args.name)


@resource_rule(RuleMeta(
    name="deploy-key-rotation-range",
    description="Keep key rotation periods within the range each cloud's KMS accepts.",
    severity="high", area="deploy", controls=DEPLOY_CONTROLS,
    remediation="AWS KMS: `rotation_period_in_days` \"Must be a number between 90 and 2560 (inclusive)\" "
                "(aws.kms.Key docstring). Azure Key Vault rotation policy: \"Rotation time: key rotation interval, "
                "the minimum value is seven days from creation and seven days from expiration time\" and the expiry "
                "\"should be at least 28 days\" (learn.microsoft.com/azure/key-vault/keys/how-to-configure-key-"
                "rotation; KeyRotationPolicy.ExpiresIn). Cloud KMS: `rotation_period` \"must be greater than a day "
                "(ie, 86400)\" (gcp.kms.CryptoKey docstring).",
), [AWS_KMS_KEY, AZURE_KEY, GCP_CRYPTO_KEY])
def key_rotation(args: ResourceValidationArgs) -> Iterator[str]:
    props = args.props
    if args.resource_type == AWS_KMS_KEY:
        days = number(props, "rotationPeriodInDays")
        if days is not None and not 90 <= days <= 2560:
            yield f"{_s(args)} must rotate every 90 to 2560 days (`rotation_period_in_days` is {days:g})."
    elif args.resource_type == GCP_CRYPTO_KEY:
        period = get(props, "rotationPeriod")
        if isinstance(period, str) and period.endswith("s"):
            try:
                seconds = float(period[:-1])
            except ValueError:
                return
            if seconds <= 86400:
                yield f"{_s(args)} must rotate less often than once a day (`rotation_period` is {period})."
    else:
        policy = get(props, "properties.rotationPolicy") or get(props, "rotationPolicy")
        if not policy:
            return
        expiry = iso_days(get(policy, "attributes.expiryTime"))
        if expiry is not None and expiry < 28:
            yield f"{_s(args)} must give rotated versions an expiry of at least 28 days (it is {expiry:g} days)."
        for action in items(policy, "lifetimeActions"):
            if str(get(action, "action.type") or "").lower() != "rotate":
                continue
            after = iso_days(get(action, "trigger.timeAfterCreate"))
            before = iso_days(get(action, "trigger.timeBeforeExpiry"))
            if after is not None and after < 7:
                yield f"{_s(args)} must rotate at least 7 days after creation (timeAfterCreate is {after:g} days)."
            if after is not None and expiry is not None and after > expiry - 7:
                yield (f"{_s(args)} must rotate at least 7 days before its versions expire (rotate after "
                       f"{after:g} days, expire after {expiry:g}).")
            if before is not None and before < 7:
                yield f"{_s(args)} must rotate at least 7 days before expiry (timeBeforeExpiry is {before:g} days)."


@resource_rule(RuleMeta(
    name="deploy-budget-notification-limits",
    description="Keep budget notifications and channels within the counts each budget API accepts.",
    severity="medium", area="deploy", controls=DEPLOY_CONTROLS,
    remediation="GCP: `monitoring_notification_channels` \"A maximum of 5 channels are allowed\" (gcp.billing "
                "BudgetAllUpdatesRule docstring). Azure: \"Budget can have up to five notifications\" "
                "(azure-native consumption.Budget docstring). AWS Budgets: at most five notifications per budget "
                "(AWS Budgets quotas, \"Notifications per budget\"). Merge recipients into fewer channels (a "
                "group address or an SNS topic / action group).",
), [AWS_BUDGET, AZURE_BUDGET, GCP_BUDGET])
def budget_notifications(args: ResourceValidationArgs) -> Iterator[str]:
    props = args.props
    if args.resource_type == GCP_BUDGET:
        channels = items(props, "allUpdatesRule.monitoringNotificationChannels")
        if len(channels) > 5:
            yield f"{_s(args)} must notify at most 5 monitoring channels (it lists {len(channels)})."
    else:
        notes = get(props, "notifications")
        count = len(notes) if isinstance(notes, Mapping) else len(items(props, "notifications"))
        if count > 5:
            yield f"{_s(args)} must have at most 5 notifications (it has {count})."


@resource_rule(RuleMeta(
    name="deploy-redis-zones-within-nodes",
    description="Spread an Azure Cache for Redis over no more zones than it has nodes.",
    severity="high", area="deploy", controls=DEPLOY_CONTROLS,
    remediation="\"When choosing zones manually, the number of availability zones must always be less than or equal "
                "to the total number of nodes for the cache\"; \"A Premium cache has one primary and one replica "
                "node by default\" (learn.microsoft.com/azure/azure-cache-for-redis/cache-how-to-zone-redundancy). "
                "Set `replicas_per_primary` to zones - 1, or list fewer zones.",
), [AZURE_REDIS])
def redis_zones(args: ResourceValidationArgs) -> Iterator[str]:
    zones = items(args.props, "zones")
    if not zones:
        return
    replicas = number(args.props, "replicasPerPrimary", 1) or 1
    if len(zones) > replicas + 1:
        yield (f"{_s(args)} must not span more zones ({len(zones)}) than it has nodes per shard "
               f"({int(replicas) + 1}: one primary and {int(replicas)} replica(s)).")


@resource_rule(RuleMeta(
    name="deploy-log-retention-range",
    description="Use a log retention the log service accepts.",
    severity="medium", area="deploy", controls=DEPLOY_CONTROLS,
    remediation="CloudWatch Logs: `retention_in_days` \"Possible values are: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, "
                "180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653, and 0\" (aws.cloudwatch.LogGroup "
                "docstring). Cloud Logging buckets: \"The minimum retention period is 1 day\" (gcp.logging."
                "ProjectBucketConfig docstring), at most 3650 days (Cloud Logging \"Configure custom retention\"). "
                "Log Analytics: interactive retention from 30 days to 2 years (730 days) (\"Manage data retention "
                "in a Log Analytics workspace\").",
), [AWS_LOG_GROUP, GCP_LOG_BUCKET, AZURE_LOG_WORKSPACE])
def log_retention(args: ResourceValidationArgs) -> Iterator[str]:
    props = args.props
    if args.resource_type == AWS_LOG_GROUP:
        days = number(props, "retentionInDays")
        if days is not None and int(days) not in AWS_LOG_RETENTION:
            allowed = ", ".join(str(d) for d in sorted(AWS_LOG_RETENTION) if d)
            yield f"{_s(args)} must keep logs for one of {allowed} days, or 0 (it asks {days:g})."
    elif args.resource_type == GCP_LOG_BUCKET:
        days = number(props, "retentionDays")
        if days is not None and days != 0 and not 1 <= days <= 3650:
            yield f"{_s(args)} must keep logs 1 to 3650 days (it asks {days:g})."
    else:
        days = number(props, "retentionInDays")
        if days is not None and not 30 <= days <= 730:
            yield f"{_s(args)} must keep logs 30 to 730 days (it asks {days:g})."


@resource_rule(RuleMeta(
    name="deploy-kubernetes-version-supported",
    description="Create clusters only on a Kubernetes minor the cloud still has in standard support.",
    severity="high", area="deploy", controls=DEPLOY_CONTROLS,
    remediation="AKS platform support (a minor past its end of life): \"Cluster creation: Not Supported\" "
                "(learn.microsoft.com/azure/aks/supported-kubernetes-versions); GKE release channels offer a "
                "minor only until its end of standard support (cloud.google.com/kubernetes-engine/docs/"
                "release-schedule); EKS: \"Once a version is past the end of standard support date, it enters "
                "extended support\" \"at an additional cost per cluster hour\" (EKS user guide, Kubernetes "
                "versions). Pick a supported minor; the dates are in aienv/kube_versions.py, and "
                "`AIENV_TODAY=YYYY-MM-DD` checks the planned deploy day.",
), list(CLUSTER_VERSION))
def kubernetes_version(args: ResourceValidationArgs) -> Iterator[str]:
    from aienv import kube_versions

    provider, prop = CLUSTER_VERSION[args.resource_type]
    version = get(args.props, prop)
    if not isinstance(version, str):
        return  # unset: the cloud picks its default, which is supported
    problem = kube_versions.support_problem(provider, version, "<region>", kube_versions.today())
    if problem:
        yield f"{_s(args)} asks Kubernetes {version}: {problem}."


RULES = (key_rotation, budget_notifications, redis_zones, log_retention, kubernetes_version)
