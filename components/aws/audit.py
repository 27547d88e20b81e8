"""CloudTrail with S3 data events (also delivered to CloudWatch Logs, with alarms on security events), the alert
topic and its routes, CloudWatch alarms."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from aienv import naming
from components.aws._common import AwsEnv, child, log_retention, policy_json, stateful

# Alert routes SNS delivers cloud alarms and budget alerts to. SNS confirms an https subscription only when the
# endpoint visits the SubscribeURL ("endpoint_auto_confirms: Whether the endpoint is capable of auto confirming
# subscription (e.g., PagerDuty)", pulumi_aws sns.TopicSubscription), and posts its own JSON envelope: Slack
# incoming webhooks and generic webhooks do neither, so they get the cluster's alerts from Alertmanager only.
SNS_PROTOCOLS = {"email": "email", "pagerduty": "https"}
# Security events in the trail that raise an alarm (CIS AWS Foundations Benchmark monitoring controls, as AWS
# Security Hub CloudWatch.1, .4, .5 and .7 state their metric filters).
SECURITY_FILTERS = {
    "root-usage": ('{ $.userIdentity.type = "Root" && $.userIdentity.invokedBy NOT EXISTS && '
                   '$.eventType != "AwsServiceEvent" }', "The root user was used"),
    "iam-policy-changes": ("{ ($.eventName = DeleteGroupPolicy) || ($.eventName = DeleteRolePolicy) || "
                           "($.eventName = DeleteUserPolicy) || ($.eventName = PutGroupPolicy) || "
                           "($.eventName = PutRolePolicy) || ($.eventName = PutUserPolicy) || "
                           "($.eventName = CreatePolicy) || ($.eventName = DeletePolicy) || "
                           "($.eventName = CreatePolicyVersion) || ($.eventName = DeletePolicyVersion) || "
                           "($.eventName = AttachRolePolicy) || ($.eventName = DetachRolePolicy) || "
                           "($.eventName = AttachUserPolicy) || ($.eventName = DetachUserPolicy) || "
                           "($.eventName = AttachGroupPolicy) || ($.eventName = DetachGroupPolicy) }",
                           "An IAM policy changed"),
    "trail-changes": ("{ ($.eventName = CreateTrail) || ($.eventName = UpdateTrail) || ($.eventName = DeleteTrail) || "
                      "($.eventName = StartLogging) || ($.eventName = StopLogging) }", "A CloudTrail trail changed"),
    "kms-key-disabled": ("{ ($.eventSource = kms.amazonaws.com) && (($.eventName = DisableKey) || "
                         "($.eventName = ScheduleKeyDeletion)) }", "A KMS key was disabled or scheduled for deletion"),
}
SECURITY_NAMESPACE = "aienv/Security"


@dataclass(frozen=True)
class AuditArgs:
    env: AwsEnv
    logs_bucket: pulumi.Input[str]
    logs_key_arn: pulumi.Input[str] | None
    data_event_bucket_arns: Sequence[pulumi.Input[str]]  # training data, model artifacts, feature offline store
    cluster_name: pulumi.Input[str]
    redis_member_ids: Sequence[pulumi.Input[str]] = ()
    trail_ready: Sequence[pulumi.Resource] = ()  # the logs bucket policy CloudTrail checks on creation


class Audit(pulumi.ComponentResource):
    """`aienv:aws:Audit`: trail (when `security.audit_logs`), alert topic + subscriptions, alarms."""

    trail: aws.cloudtrail.Trail | None
    topic: aws.sns.Topic
    alarms: list[aws.cloudwatch.MetricAlarm]

    def __init__(self, name: str, args: AuditArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aienv:aws:Audit", name, None, opts)
        env = args.env
        spec = env.spec
        self.trail = None
        self.trail_log_group: aws.cloudwatch.LogGroup | None = None
        if spec.security.audit_logs:
            trail_logs, trail_logs_role, trail_logs_write = self._trail_logs(name, env, args.logs_key_arn)
            self.trail_log_group = trail_logs
            self.trail = aws.cloudtrail.Trail(f"{name}-trail", aws.cloudtrail.TrailArgs(
                name=f"{spec.name}-trail",
                s3_bucket_name=args.logs_bucket,
                s3_key_prefix="cloudtrail",
                kms_key_id=args.logs_key_arn,
                # "CloudTrail requires the Log Stream wildcard" (pulumi_aws cloudtrail.Trail).
                cloud_watch_logs_group_arn=pulumi.Output.concat(trail_logs.arn, ":*"),
                cloud_watch_logs_role_arn=trail_logs_role.arn,
                is_multi_region_trail=True,
                include_global_service_events=True,
                enable_log_file_validation=True,
                enable_logging=True,
                advanced_event_selectors=[
                    aws.cloudtrail.TrailAdvancedEventSelectorArgs(name="Management events", field_selectors=[
                        aws.cloudtrail.TrailAdvancedEventSelectorFieldSelectorArgs(
                            field="eventCategory", equals=["Management"])]),
                    aws.cloudtrail.TrailAdvancedEventSelectorArgs(
                        name="S3 data events on training data, models and offline features", field_selectors=[
                            aws.cloudtrail.TrailAdvancedEventSelectorFieldSelectorArgs(
                                field="eventCategory", equals=["Data"]),
                            aws.cloudtrail.TrailAdvancedEventSelectorFieldSelectorArgs(
                                field="resources.type", equals=["AWS::S3::Object"]),
                            aws.cloudtrail.TrailAdvancedEventSelectorFieldSelectorArgs(
                                field="resources.ARN",
                                starts_withs=[pulumi.Output.concat(a, "/") for a in args.data_event_bucket_arns]),
                        ]),
                ],
                tags=env.tags("trail"),
            ), child(self, delete_before_replace=True, depends_on=[*args.trail_ready, trail_logs_write]))

        # With provider-managed encryption the topic stays without SSE: CloudWatch and Budgets can publish to an
        # encrypted topic only with kms:GenerateDataKey*/kms:Decrypt in the key's policy, and "you can't modify the
        # AWS managed key for Amazon SNS" (AWS docs, SNS access policy for encrypted topics).
        self.topic = aws.sns.Topic(f"{name}-alerts", aws.sns.TopicArgs(
            name_prefix=f"{spec.name}-alerts-",
            display_name=f"aienv {spec.name} alerts",
            kms_master_key_id=args.logs_key_arn,
            tags=env.tags("alerts"),
        ), child(self))
        self.topic_policy = aws.sns.TopicPolicy(f"{name}-alerts-policy", aws.sns.TopicPolicyArgs(
            arn=self.topic.arn,
            policy=policy_json([{
                "Sid": "AlarmsAndBudgetsOfThisAccountPublish", "Effect": "Allow",
                "Principal": {"Service": [env.service("cloudwatch"), env.service("budgets")]},
                "Action": "sns:Publish", "Resource": self.topic.arn,
                "Condition": {"StringEquals": {"aws:SourceAccount": env.account_id}},
            }]),
        ), child(self))
        for route in spec.monitoring.alert_routes:
            if route.kind not in SNS_PROTOCOLS:
                continue
            aws.sns.TopicSubscription(f"{name}-route-{route.name}", aws.sns.TopicSubscriptionArgs(
                topic=self.topic.arn, protocol=SNS_PROTOCOLS[route.kind], endpoint=route.target,
                endpoint_auto_confirms=route.kind == "pagerduty",
            ), child(self, depends_on=[self.topic_policy]))

        actions = [self.topic.arn]
        self.alarms = [
            self._alarm(name, env, "api-5xx", "EKS API server 5xx responses", namespace="AWS/EKS",
                        metric="apiserver_request_total_5XX", statistic="Sum", threshold=50, periods=3,
                        dimensions={"ClusterName": args.cluster_name}, actions=actions),
            # Pending pods for 15 minutes usually mean a GPU pool is at its maximum or out of capacity.
            self._alarm(name, env, "pending-pods", "Pods unschedulable for 15 minutes", namespace="AWS/EKS",
                        metric="scheduler_pending_pods", statistic="Maximum", threshold=0, periods=3,
                        dimensions={"ClusterName": args.cluster_name}, actions=actions),
        ]
        if self.trail_log_group is not None:
            for role, (pattern, description) in SECURITY_FILTERS.items():
                aws.cloudwatch.LogMetricFilter(f"{name}-{role}", aws.cloudwatch.LogMetricFilterArgs(
                    log_group_name=self.trail_log_group.name, pattern=pattern,
                    metric_transformation=aws.cloudwatch.LogMetricFilterMetricTransformationArgs(
                        name=f"{spec.name}-{role}", namespace=SECURITY_NAMESPACE, value="1"),
                ), child(self))
                self.alarms.append(self._alarm(name, env, role, description, namespace=SECURITY_NAMESPACE,
                                               metric=f"{spec.name}-{role}", statistic="Sum", threshold=0, periods=1,
                                               dimensions={}, actions=actions))
        for i, member in enumerate(args.redis_member_ids):
            self.alarms += [
                self._alarm(name, env, f"redis-{i}-cpu", "Online store engine CPU above 80%",
                            namespace="AWS/ElastiCache", metric="EngineCPUUtilization", statistic="Average",
                            threshold=80, periods=3, dimensions={"CacheClusterId": member}, actions=actions),
                self._alarm(name, env, f"redis-{i}-memory", "Online store memory above 80%",
                            namespace="AWS/ElastiCache", metric="DatabaseMemoryUsagePercentage",
                            statistic="Average", threshold=80, periods=3, dimensions={"CacheClusterId": member},
                            actions=actions),
            ]

        self.register_outputs({
            "trail": self.trail.arn if self.trail is not None else None,
            "alertTopic": self.topic.arn,
            "alarms": len(self.alarms),
        })

    def _trail_logs(self, name: str, env: AwsEnv, key_arn: pulumi.Input[str] | None
                    ) -> tuple[aws.cloudwatch.LogGroup, aws.iam.Role, aws.iam.RolePolicy]:
        """The trail's CloudWatch Logs copy (for the security alarms) and the role CloudTrail writes it with."""
        spec = env.spec
        group = aws.cloudwatch.LogGroup(f"{name}-trail-logs", aws.cloudwatch.LogGroupArgs(
            name_prefix=f"/aienv/{spec.name}/cloudtrail-",
            retention_in_days=log_retention(spec.monitoring.log_retention_days),
            kms_key_id=key_arn,
            deletion_protection_enabled=spec.security.deletion_protection,
            tags=env.tags("trail-logs"),
        ), stateful(self, spec))
        role = aws.iam.Role(f"{name}-trail-logs-role", aws.iam.RoleArgs(
            name_prefix=naming.aws_prefix(naming.AWS_IAM_ROLE_PREFIX, spec.name, "cloudtrail"),
            description=f"CloudTrail of {spec.name} writes to its log group",
            assume_role_policy=policy_json([{
                "Effect": "Allow", "Principal": {"Service": env.service("cloudtrail")}, "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"aws:SourceAccount": env.account_id}},
            }]),
            tags=env.tags("trail-logs"),
        ), child(self))
        write = aws.iam.RolePolicy(f"{name}-trail-logs-write", aws.iam.RolePolicyArgs(
            role=role.id,
            policy=policy_json([{
                "Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": pulumi.Output.concat(group.arn, ":log-stream:*"),
            }]),
        ), child(self))
        return group, role, write

    def _alarm(self, name: str, env: AwsEnv, role: str, description: str, *, namespace: str, metric: str,
               statistic: str, threshold: float, periods: int, dimensions: dict[str, pulumi.Input[str]],
               actions: list[pulumi.Output[str]]) -> aws.cloudwatch.MetricAlarm:
        return aws.cloudwatch.MetricAlarm(f"{name}-{role}", aws.cloudwatch.MetricAlarmArgs(
            name=f"{env.spec.name}-{role}",
            alarm_description=f"{description} ({env.spec.name})",
            namespace=namespace, metric_name=metric, statistic=statistic, dimensions=dimensions,
            period=300, evaluation_periods=periods, threshold=threshold,
            comparison_operator="GreaterThanThreshold", treat_missing_data="notBreaching",
            alarm_actions=actions, ok_actions=actions,
            tags=env.tags(f"alarm-{role}"),
        ), child(self, delete_before_replace=True))
