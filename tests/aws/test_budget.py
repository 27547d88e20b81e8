"""Budget: a monthly cost budget filtered by the environment's cost tag, notified at the spec's thresholds."""

from __future__ import annotations

import pytest

from aienv import conventions as c
from aienv.errors import SpecError

from .awsplan import AwsPlan, load_variant


def test_budget_filters_on_the_cost_tag_and_notifies_at_each_threshold(prod: AwsPlan) -> None:
    i = prod.one("aws:budgets/budget:Budget").inputs
    assert i["budgetType"] == "COST" and i["timeUnit"] == "MONTHLY"
    assert i["limitAmount"] == "60000.00" and i["limitUnit"] == "USD"
    assert i["costFilters"] == [{"name": "TagKeyValue", "values": [f"user:{c.COST_TAG}$prod-aws"]}]
    actual = sorted(n["threshold"] for n in i["notifications"] if n["notificationType"] == "ACTUAL")
    assert actual == [50, 80, 100]
    emails = {tuple(n["subscriberEmailAddresses"]) for n in i["notifications"]}
    assert emails == {("ml-platform@example.com", "finance@example.com")}


def test_no_budget_no_budget_resource(variant) -> None:
    plan = variant("dev-aws", {"budget": None})
    assert plan.of("aws:budgets/budget:Budget") == []


def test_more_thresholds_than_aws_allows_is_refused(tmp_path) -> None:
    # AWS Budgets takes at most five notifications: caught by `aienv validate`, before any plan.
    with pytest.raises(SpecError) as info:
        load_variant(tmp_path, "dev-aws", {"budget": {"monthly_amount": 10,
                                                      "alert_thresholds_percent": [10, 20, 30, 40, 50, 60]}})
    assert [i.path for i in info.value.issues] == ["budget.alert_thresholds_percent"]
