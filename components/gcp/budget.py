"""`aienv:gcp:Budget`: a monthly Cloud Billing budget on the project, notifying at the spec's thresholds."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
from pulumi_gcp import Provider, ProviderArgs, billing, monitoring

from aienv.errors import ComponentInputError
from aienv.spec.model import StackSpec


@dataclass(frozen=True)
class BudgetArgs:
    spec: StackSpec
    project_number: pulumi.Input[str]
    after: Sequence[pulumi.Resource] = ()  # the Billing Budgets and Monitoring APIs


class Budget(pulumi.ComponentResource):
    budget: billing.Budget

    def __init__(self, name: str, args: BudgetArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aienv:gcp:Budget", name, None, opts)
        spec = args.spec
        if spec.budget is None:
            raise ComponentInputError("budget", "the Budget component needs `budget` to be set")
        if not spec.gcp.billing_account:
            raise ComponentInputError("gcp.billing_account", "is required on GCP when `budget` is set")
        budget = spec.budget
        units, cents = divmod(round(budget.monthly_amount * 100), 100)

        after = pulumi.ResourceOptions(parent=self, depends_on=list(args.after))

        # Budgets notify Cloud Monitoring channels; one e-mail channel per address in `notify_emails`.
        channels = [monitoring.NotificationChannel(f"{name}-notify-{i}", monitoring.NotificationChannelArgs(
            type="email", display_name=f"aienv {spec.name} budget {email}", labels={"email_address": email}),
            after) for i, email in enumerate(budget.notify_emails)]

        # "If you are using User ADCs ... with this resource, you must specify a `billing_project` and set
        # `user_project_override` to true ... Otherwise the Billing Budgets API will return a 403 error"
        # (pulumi_gcp billing.Budget). Only the budget's calls carry the quota project.
        self.provider = Provider(f"{name}-billing", ProviderArgs(
            project=spec.cloud.project, billing_project=spec.cloud.project, user_project_override=True),
            pulumi.ResourceOptions(parent=self))

        self.budget = billing.Budget(f"{name}-monthly", billing.BudgetArgs(
            billing_account=spec.gcp.billing_account, display_name=f"aienv {spec.name} monthly",
            budget_filter=billing.BudgetBudgetFilterArgs(
                projects=[pulumi.Output.concat("projects/", args.project_number)], calendar_period="MONTH",
                credit_types_treatment="INCLUDE_ALL_CREDITS"),
            amount=billing.BudgetAmountArgs(specified_amount=billing.BudgetAmountSpecifiedAmountArgs(
                currency_code=budget.currency, units=str(units), nanos=cents * 10_000_000)),
            threshold_rules=[billing.BudgetThresholdRuleArgs(threshold_percent=p / 100, spend_basis="CURRENT_SPEND")
                             for p in budget.alert_thresholds_percent],
            all_updates_rule=billing.BudgetAllUpdatesRuleArgs(
                monitoring_notification_channels=[ch.id for ch in channels],
                disable_default_iam_recipients=False)),
            pulumi.ResourceOptions(parent=self, provider=self.provider, depends_on=list(args.after)))

        self.register_outputs({"budget": self.budget.name, "channels": [ch.id for ch in channels]})
