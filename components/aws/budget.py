"""An AWS Budgets monthly cost budget for the environment, filtered by its cost-allocation tag."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from aienv import conventions as c
from aienv.errors import ComponentInputError
from components.aws._common import AwsEnv, child

MAX_NOTIFICATIONS = 5  # AWS Budgets' limit per budget


@dataclass(frozen=True)
class BudgetArgs:
    env: AwsEnv
    alert_topic_arn: pulumi.Input[str]  # notified too, and the only subscriber when no emails are listed
    # The topic policy that lets budgets.amazonaws.com publish: AWS Budgets checks it when the budget is created.
    topic_ready: Sequence[pulumi.Resource] = ()


class Budget(pulumi.ComponentResource):
    """`aienv:aws:Budget`: a COST budget with an actual-spend notification per threshold (plus a forecast one)."""

    budget: aws.budgets.Budget | None

    def __init__(self, name: str, args: BudgetArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aienv:aws:Budget", name, None, opts)
        env = args.env
        spec = env.spec
        self.budget = None
        if spec.budget is not None:
            b = spec.budget
            emails = list(b.notify_emails)

            def notification(kind: str, percent: int) -> aws.budgets.BudgetNotificationArgs:
                return aws.budgets.BudgetNotificationArgs(
                    comparison_operator="GREATER_THAN", notification_type=kind, threshold=percent,
                    threshold_type="PERCENTAGE", subscriber_email_addresses=emails or None,
                    subscriber_sns_topic_arns=[args.alert_topic_arn])

            thresholds = sorted(set(b.alert_thresholds_percent))
            if len(thresholds) > MAX_NOTIFICATIONS:
                raise ComponentInputError("budget.alert_thresholds_percent",
                                          f"AWS Budgets allows at most {MAX_NOTIFICATIONS} notifications per budget; "
                                          f"list at most {MAX_NOTIFICATIONS} thresholds")
            notifications = [notification("ACTUAL", p) for p in thresholds]
            if len(notifications) < MAX_NOTIFICATIONS:
                notifications.append(notification("FORECASTED", 100))
            self.budget = aws.budgets.Budget(f"{name}-monthly", aws.budgets.BudgetArgs(
                name_prefix=f"{spec.name}-monthly-",
                budget_type="COST",
                time_unit="MONTHLY",
                limit_amount=f"{b.monthly_amount:.2f}",
                limit_unit=b.currency,
                # The tag must be activated as a cost-allocation tag in Billing (docs/aws.md).
                cost_filters=[aws.budgets.BudgetCostFilterArgs(
                    name="TagKeyValue", values=[f"user:{c.COST_TAG}${spec.name}"])],
                notifications=notifications,
                tags=env.tags("budget"),
            ), child(self, depends_on=list(args.topic_ready)))

        self.register_outputs({"budget": self.budget.name if self.budget is not None else None})
