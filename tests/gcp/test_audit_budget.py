"""Audit and monitoring (Data Access logs, archive, channels, alerts) and the billing budget."""

from __future__ import annotations

import json

from aienv.engine.wire import SECRET_SIG, SIG_KEY, is_secret
from tests.gcp.gcpplan import inputs, plan_gcp, reveal, variant

AUDIT = "gcp:projects/iAMAuditConfig:IAMAuditConfig"
CHANNEL = "gcp:monitoring/notificationChannel:NotificationChannel"
POLICY = "gcp:monitoring/alertPolicy:AlertPolicy"
BUDGET = "gcp:billing/budget:Budget"


def test_data_access_logs_for_the_data_services(prod):
    configs = {inputs(a)["service"]: inputs(a) for a in prod.of_type(AUDIT)}
    assert {"storage.googleapis.com", "cloudkms.googleapis.com", "aiplatform.googleapis.com",
            "artifactregistry.googleapis.com"} <= set(configs)
    for config in configs.values():
        assert {c["logType"] for c in config["auditLogConfigs"]} == {"ADMIN_READ", "DATA_READ", "DATA_WRITE"}
    sink = inputs(prod.one("gcp:logging/projectSink:ProjectSink"))
    logs = next(inputs(b)["name"] for b in prod.of_type("gcp:storage/bucket:Bucket") if b.name.endswith("-storage-logs"))
    assert sink["destination"] == f"storage.googleapis.com/{logs}" and sink["uniqueWriterIdentity"] is True


def test_audit_logs_off_removes_them():
    plan = plan_gcp(variant(lambda s: setattr(s.security, "audit_logs", False)), "no-audit")
    assert not plan.of_type(AUDIT) and not plan.of_type("gcp:logging/projectSink:ProjectSink")


def test_channels_from_routes_and_alerts_routed_by_severity(prod):
    audit_channels = [c for c in prod.children_of("aienv:gcp:Audit") if c.type == CHANNEL]
    by_name = {c.name.split("-channel-")[1]: c for c in audit_channels}
    # B3/C2: the Slack route (oncall) gets no Monitoring channel: Monitoring cannot post to a Slack incoming
    # webhook, and its URL never lands in a plain channel label. Alertmanager serves Slack in the cluster.
    assert set(by_name) == {"ml-team"}
    assert inputs(by_name["ml-team"])["labels"] == {"email_address": "ml-team@example.com"}
    assert not [c for c in prod.of_type(CHANNEL) if "hooks.slack.com" in str(inputs(c))]
    policies = {inputs(p)["displayName"]: inputs(p) for p in prod.of_type(POLICY)}
    assert any("Online store" in name for name in policies)
    assert any("GKE" in name for name in policies)
    for policy in policies.values():
        assert len(policy["notificationChannels"]) == 1  # the e-mail route takes critical and warning


def test_webhook_and_pagerduty_routes_keep_their_secrets():
    from aienv.spec.model import AlertRoute
    def edit(s):
        s.monitoring.alert_routes = [AlertRoute(name="pd", kind="pagerduty", target="https://events.pagerduty.com/x"),
                                     AlertRoute(name="hook", kind="webhook", target="https://hooks.example.com/t0k")]
    plan = plan_gcp(variant(edit), "pd-webhook")
    by = {c.name.split("-channel-")[1]: c for c in plan.children_of("aienv:gcp:Audit") if c.type == CHANNEL}
    assert inputs(by["pd"])["type"] == "pagerduty" and "labels" not in inputs(by["pd"])
    assert inputs(by["hook"])["type"] == "webhook_tokenauth"
    assert "4dabf18193072939515e22adb298388d" in by["hook"].inputs["labels"]["url"]  # a secret in state


def test_a_webhook_route_with_a_token_in_its_url_is_flagged_as_advisory():
    # C2: Cloud Monitoring has no sensitive label for a webhook URL (pulumi-gcp `sensitive_labels`: auth_token,
    # password, service_key), so a token in the route's URL is readable by whoever may read the channel.
    from aienv.check.plan import from_export
    from aienv.check.runner import run_packs
    from aienv.spec.model import AlertRoute

    def routes(url):
        def edit(s):
            s.monitoring.alert_routes = [AlertRoute(name="hook", kind="webhook", target=url)]
        return edit

    def show_secrets(value):
        # What `pulumi stack export --show-secrets` writes, and what CrossGuard hands a policy: the secret's
        # plaintext (the offline export keeps only ciphertext, which reads `[secret]`).
        if isinstance(value, dict) and is_secret(value):
            return {SIG_KEY: SECRET_SIG, "plaintext": json.dumps(reveal(value))}
        if isinstance(value, dict):
            return {k: show_secrets(v) for k, v in value.items()}
        return [show_secrets(v) for v in value] if isinstance(value, list) else value

    def findings(plan):
        export = plan.plan.to_export()
        recorded = {r.urn: r for r in plan.resources}
        for r in export["deployment"]["resources"]:
            if recorded[r["urn"]].inputs:
                r["inputs"] = show_secrets(recorded[r["urn"]].inputs)
        result = run_packs(from_export(export), ["aienv-security"])
        return [v for v in result.violations if v.policy == "gcp-monitoring-webhook-url-secret"]

    tokened = findings(plan_gcp(variant(routes("https://hooks.example.com/alerts?token=Zx81kQ0pLm")), "hook-token"))
    assert [(v.enforcement, "`token`" in v.message) for v in tokened] == [("advisory", True)]
    assert findings(plan_gcp(variant(routes("https://hooks.example.com/alerts")), "hook-plain")) == []


def test_info_only_route_gets_no_alerts():
    def edit(s):
        s.monitoring.alert_routes[1].severities = ["critical"]
    plan = plan_gcp(variant(edit), "critical-only")
    counts = {inputs(p)["severity"]: len(inputs(p).get("notificationChannels") or []) for p in plan.of_type(POLICY)}
    assert counts == {"CRITICAL": 1, "WARNING": 0}


def test_budget_on_the_project_with_thresholds(prod):
    b = inputs(prod.one(BUDGET))
    assert b["billingAccount"] == "0A1B2C-3D4E5F-6A7B8C"
    assert b["budgetFilter"]["projects"] == ["projects/123456789012"]
    assert b["amount"]["specifiedAmount"]["units"] == "50000"
    assert b["amount"]["specifiedAmount"]["currencyCode"] == "USD"
    assert [t["thresholdPercent"] for t in b["thresholdRules"]] == [0.5, 0.8, 1.0]
    assert len(b["allUpdatesRule"]["monitoringNotificationChannels"]) == 1


def test_no_budget_no_budget_resource():
    plan = plan_gcp(variant(lambda s: setattr(s, "budget", None)), "no-budget")
    assert not plan.of_type(BUDGET)


def test_budget_calls_carry_the_project_as_quota_project(prod):
    # A6: "If you are using User ADCs ... you must specify a `billing_project` and set `user_project_override`
    # to true in the provider configuration" (pulumi_gcp billing.Budget).
    budget = prod.one(BUDGET)
    provider = inputs(prod.named("prod-gcp-budget-billing"))
    assert budget.provider is not None and budget.provider.startswith(prod.named("prod-gcp-budget-billing").urn)
    assert provider["billingProject"] == "acme-ml-prod" and provider["userProjectOverride"] in (True, "true")
    # Only the budget uses the overriding provider; everything else keeps the environment's provider.
    others = [r for r in prod.resources if r.custom and r.type.startswith("gcp:") and r.provider
              and r.provider.startswith(prod.named("prod-gcp-budget-billing").urn)]
    assert [r.type for r in others] == [BUDGET]
