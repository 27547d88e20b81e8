"""Log Analytics workspace and Application Insights: where audit logs, agents and ML telemetry land."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_azure_native import applicationinsights, operationalinsights

from aienv.spec.model import StackSpec
from components.azure._shared import stateful, tags

# Log Analytics accepts 30-730 days of interactive retention (PerGB2018).
_MIN_RETENTION, _MAX_RETENTION = 30, 730


@dataclass(frozen=True)
class LogWorkspaceArgs:
    spec: StackSpec
    resource_group_name: pulumi.Input[str]


class LogWorkspace(pulumi.ComponentResource):
    """`aienv:azure:LogWorkspace`: created before the cluster, which ships its agents' data here."""

    workspace: operationalinsights.Workspace
    app_insights: applicationinsights.Component

    def __init__(self, name: str, args: LogWorkspaceArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aienv:azure:LogWorkspace", name, None, opts)
        spec = args.spec
        retention = min(max(spec.monitoring.log_retention_days, _MIN_RETENTION), _MAX_RETENTION)
        self.workspace = operationalinsights.Workspace(
            f"{name}-workspace",
            operationalinsights.WorkspaceArgs(
                resource_group_name=args.resource_group_name, location=spec.region,
                sku=operationalinsights.WorkspaceSkuArgs(name=operationalinsights.WorkspaceSkuNameEnum.PER_GB2018),
                retention_in_days=retention,
                # Entra ID only: no shared workspace keys for ingestion or queries.
                features=operationalinsights.WorkspaceFeaturesArgs(
                    disable_local_auth=True, enable_log_access_using_only_resource_permissions=True),
                tags=tags(spec),
            ),
            stateful(spec, self),
        )
        self.app_insights = applicationinsights.Component(
            f"{name}-appinsights",
            applicationinsights.ComponentArgs(
                resource_group_name=args.resource_group_name, location=spec.region,
                kind="web", application_type=applicationinsights.ApplicationType.WEB,
                workspace_resource_id=self.workspace.id, disable_local_auth=True,
                ingestion_mode=applicationinsights.IngestionMode.LOG_ANALYTICS,
                tags=tags(spec),
            ),
            pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"workspaceId": self.workspace.id, "appInsightsId": self.app_insights.id})
