"""CloudTrail with S3 data events, the KMS-encrypted alert topic and its routes, CloudWatch alarms."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.aws._common import AwsEnv, child, policy_json

_PROTOCOLS = {"email": "email", "webhook": "https", "slack": "https", "pagerduty": "https"}


@dataclass(frozen=True)
class AuditArgs:
    env: AwsEnv
    logs_bucket: pulumi.Input[str]
    logs_key_arn: pulumi.Input[str] | None
    data_event_bucket_arns: Sequence[pulumi.Input[str]]  # training data and model artifacts
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
        if spec.security.audit_logs:
            self.trail = aws.cloudtrail.Trail(f"{name}-trail", aws.cloudtrail.TrailArgs(
                name=f"{spec.name}-trail",
                s3_bucket_name=args.logs_bucket,
                s3_key_prefix="cloudtrail",
                kms_key_id=args.logs_key_arn,
                is_multi_region_trail=True,
                include_global_service_events=True,
                enable_log_file_validation=True,
                enable_logging=True,
                advanced_event_selectors=[
                    aws.cloudtrail.TrailAdvancedEventSelectorArgs(name="Management events", field_selectors=[
                        aws.cloudtrail.TrailAdvancedEventSelectorFieldSelectorArgs(
                            field="eventCategory", equals=["Management"])]),
                    aws.cloudtrail.TrailAdvancedEventSelectorArgs(
                        name="S3 data events on training data and model artifacts", field_selectors=[
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
            ), child(self, delete_before_replace=True, depends_on=list(args.trail_ready)))

        self.topic = aws.sns.Topic(f"{name}-alerts", aws.sns.TopicArgs(
            name_prefix=f"{spec.name}-alerts-",
            display_name=f"aienv {spec.name} alerts",
            kms_master_key_id=args.logs_key_arn if args.logs_key_arn is not None else "alias/aws/sns",
            tags=env.tags("alerts"),
        ), child(self))
        aws.sns.TopicPolicy(f"{name}-alerts-policy", aws.sns.TopicPolicyArgs(
            arn=self.topic.arn,
            policy=policy_json([{
                "Sid": "AlarmsAndBudgetsOfThisAccountPublish", "Effect": "Allow",
                "Principal": {"Service": [env.service("cloudwatch"), env.service("budgets")]},
                "Action": "sns:Publish", "Resource": self.topic.arn,
                "Condition": {"StringEquals": {"aws:SourceAccount": env.account_id}},
            }]),
        ), child(self))
        for route in spec.monitoring.alert_routes:
            aws.sns.TopicSubscription(f"{name}-route-{route.name}", aws.sns.TopicSubscriptionArgs(
                topic=self.topic.arn, protocol=_PROTOCOLS[route.kind], endpoint=route.target,
                endpoint_auto_confirms=route.kind != "email",
            ), child(self))

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
