"""A monthly consumption budget on the environment's resource group."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pulumi
from pulumi_azure_native import consumption

from aienv.errors import ComponentInputError
from aienv.spec.model import StackSpec

# Azure allows at most five notifications per budget.
MAX_NOTIFICATIONS = 5


def month_start(today: dt.date | None = None) -> str:
    """Azure wants the first day of the current month (a past month is rejected)."""
    day = today or dt.datetime.now(dt.UTC).date()
    return f"{day.year:04d}-{day.month:02d}-01T00:00:00Z"


@dataclass(frozen=True)
class BudgetArgs:
    spec: StackSpec
    resource_group_id: pulumi.Input[str]
    action_group_ids: list[pulumi.Input[str]] = field(default_factory=list)


class Budget(pulumi.ComponentResource):
    """`aienv:azure:Budget`: built only when the spec has a `budget`. Amounts are in the billing account's
    currency (Azure budgets have no currency of their own)."""

    budget: consumption.Budget

    def __init__(self, name: str, args: BudgetArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aienv:azure:Budget", name, None, opts)
        spec = args.spec
        assert spec.budget is not None
        thresholds = spec.budget.alert_thresholds_percent
        if len(thresholds) > MAX_NOTIFICATIONS:
            raise ComponentInputError("budget.alert_thresholds_percent",
                                      f"lists {len(thresholds)} thresholds; Azure budgets notify at most "
                                      f"{MAX_NOTIFICATIONS} times, so list at most {MAX_NOTIFICATIONS}")
        self.budget = consumption.Budget(
            f"{name}-monthly",
            consumption.BudgetArgs(
                scope=args.resource_group_id,
                budget_name=f"{spec.name}-monthly",
                amount=spec.budget.monthly_amount,
                category=consumption.CategoryType.COST,
                time_grain=consumption.TimeGrainType.MONTHLY,
                time_period=consumption.BudgetTimePeriodArgs(start_date=month_start()),
                notifications={
                    f"actual-{pct}": consumption.NotificationArgs(
                        enabled=True, operator=consumption.OperatorType.GREATER_THAN_OR_EQUAL_TO,
                        threshold=pct, threshold_type=consumption.ThresholdType.ACTUAL,
                        contact_emails=list(spec.budget.notify_emails),
                        contact_groups=list(args.action_group_ids) or None,
                        # Without any address the subscription owners still hear about it.
                        contact_roles=None if spec.budget.notify_emails or args.action_group_ids else ["Owner"],
                    )
                    for pct in thresholds
                },
            ),
            # The start date is set once; moving it every month would be a needless diff.
            pulumi.ResourceOptions(parent=self, ignore_changes=["timePeriod"]),
        )
        self.register_outputs({"budgetId": self.budget.id, "amount": spec.budget.monthly_amount})
