"""Audit and monitoring: CloudTrail with data events, retained encrypted logs, alert routes and alarms."""

from __future__ import annotations

from .awsplan import AwsPlan


def test_trail_is_multi_region_validated_encrypted_with_data_events(prod: AwsPlan) -> None:
    i = prod.one("Trail").inputs
    assert i["isMultiRegionTrail"] is True and i["enableLogFileValidation"] is True
    assert i["kmsKeyId"].startswith("arn:aws:kms:")
    logs = next(b for b in prod.of("Bucket") if b.inputs["tags"]["aienv-bucket-purpose"] == "logs")
    assert i["s3BucketName"] == logs.outputs["bucket"]
    data = next(s for s in i["advancedEventSelectors"] if any(f.get("equals") == ["Data"] for f in s["fieldSelectors"]))
    arns = next(f["startsWiths"] for f in data["fieldSelectors"] if f["field"] == "resources.ARN")
    buckets = {b.inputs["tags"]["aienv-bucket-purpose"]: b.outputs["arn"] for b in prod.of("Bucket")}
    # C6: the offline feature store too; not the logs bucket the trail writes to (recursive delivery events:
    # CloudTrail user guide, "Suppressing recursive events"), whose reads S3 server access logging records.
    assert sorted(arns) == sorted([buckets["training_data"] + "/", buckets["model_artifacts"] + "/",
                                   buckets["feature_offline"] + "/"])


def test_audit_logs_off_removes_the_trail(variant) -> None:
    plan = variant("dev-aws", {"security": {"audit_logs": False}})
    assert plan.of("Trail") == []


def test_log_groups_are_encrypted_and_retained_as_the_spec_says(prod: AwsPlan, variant) -> None:
    for group in prod.of("LogGroup"):
        assert group.inputs["kmsKeyId"].startswith("arn:aws:kms:") and group.inputs["retentionInDays"] == 2192  # prod-aws: HIPAA six years
        assert group.inputs["deletionProtectionEnabled"] is True
    plan = variant("dev-aws", {"monitoring": {"log_retention_days": 100}})
    assert {g.inputs["retentionInDays"] for g in plan.of("LogGroup")} == {120}  # next value CloudWatch accepts


def test_slack_and_webhook_routes_get_no_sns_subscription(variant) -> None:
    # A7: SNS confirms only endpoints that visit its SubscribeURL (PagerDuty); Slack and webhooks get the
    # cluster's alerts from Alertmanager instead.
    routes = [{"name": "slack", "kind": "slack", "target": "https://hooks.slack.com/services/T/B/x"},
              {"name": "hook", "kind": "webhook", "target": "https://hooks.example.com/alerts"},
              {"name": "pd", "kind": "pagerduty", "target": "https://events.pagerduty.com/integration/k/enqueue"}]
    plan = variant("dev-aws", {"monitoring": {"alert_routes": routes}})
    subs = {s.inputs["endpoint"]: s.inputs for s in plan.of("TopicSubscription")}
    assert set(subs) == {"https://events.pagerduty.com/integration/k/enqueue"}
    assert subs["https://events.pagerduty.com/integration/k/enqueue"]["endpointAutoConfirms"] is True


def test_budget_and_subscriptions_wait_for_the_topic_policy(prod: AwsPlan) -> None:
    # A8: AWS Budgets checks it may publish when the budget is created.
    policy = prod.one("TopicPolicy").urn
    assert policy in prod.one("aws:budgets/budget:Budget").dependencies
    assert all(policy in s.dependencies for s in prod.of("TopicSubscription"))


def test_trail_feeds_cloudwatch_logs_with_security_alarms(prod: AwsPlan) -> None:
    # C6: the trail is delivered to an encrypted log group with metric filters and alarms on security events.
    from .awsplan import statements

    trail = prod.one("Trail")
    group = prod.one("LogGroup", "trail-logs")
    assert trail.inputs["cloudWatchLogsGroupArn"] == group.outputs["arn"] + ":*"
    role = prod.one("Role", "trail-logs-role")
    assert trail.inputs["cloudWatchLogsRoleArn"] == role.outputs["arn"]
    write = prod.one("RolePolicy", "trail-logs-write")
    assert write.urn in trail.dependencies
    (st,) = statements(write)
    assert st["Resource"] == group.outputs["arn"] + ":log-stream:*"
    assert group.inputs["kmsKeyId"].startswith("arn:aws:kms:") and group.protect
    filters = {f.name.rsplit("-audit-", 1)[1]: f for f in prod.of("LogMetricFilter")}
    assert set(filters) == {"root-usage", "iam-policy-changes", "trail-changes", "kms-key-disabled"}
    assert '$.userIdentity.type = "Root"' in filters["root-usage"].inputs["pattern"]
    alarms = {a.inputs["metricName"]: a for a in prod.of("MetricAlarm") if a.inputs["namespace"] == "aienv/Security"}
    assert set(alarms) == {f.inputs["metricTransformation"]["name"] for f in filters.values()}
    assert all(a.inputs["alarmActions"] == [prod.one("Topic").outputs["arn"]] for a in alarms.values())


def test_alert_routes_become_subscriptions_on_an_encrypted_topic(prod: AwsPlan) -> None:
    assert prod.one("Topic").inputs["kmsMasterKeyId"].startswith("arn:aws:kms:")
    subs = {s.inputs["endpoint"]: s.inputs["protocol"] for s in prod.of("TopicSubscription")}
    assert subs == {"https://events.pagerduty.com/integration/abc123/enqueue": "https",
                    "ml-team@example.com": "email"}


def test_alarms_watch_the_cluster_and_every_redis_node(prod: AwsPlan, dev: AwsPlan) -> None:
    def metrics(plan: AwsPlan) -> list[tuple[str, str]]:
        return sorted((a.inputs["namespace"], a.inputs["metricName"]) for a in plan.of("MetricAlarm"))

    topic = prod.one("Topic").outputs["arn"]
    assert all(a.inputs["alarmActions"] == [topic] for a in prod.of("MetricAlarm"))
    eks = [m for m in metrics(prod) if m[0] == "AWS/EKS"]
    assert ("AWS/EKS", "scheduler_pending_pods") in eks and ("AWS/EKS", "apiserver_request_total_5XX") in eks
    assert len([m for m in metrics(prod) if m[0] == "AWS/ElastiCache"]) == 4  # 2 metrics x 2 nodes
    assert len([m for m in metrics(dev) if m[0] == "AWS/ElastiCache"]) == 2
    redis = next(a for a in prod.of("MetricAlarm") if a.inputs["namespace"] == "AWS/ElastiCache")
    assert redis.inputs["dimensions"]["CacheClusterId"].startswith("prod-aws-online-00")
