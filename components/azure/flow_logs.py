"""VNet flow logs: every flow of the environment's VNet to its storage, with traffic analytics.

Azure allows one Network Watcher per region and subscription and creates it itself
(`NetworkWatcher_<location>` in `NetworkWatcherRG`) when the first VNet appears; the flow log is a child
of that watcher, so it lives in that resource group. The storage account refuses shared keys, so the
flow log writes with a managed identity that may write blobs to that one account.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_azure_native import managedidentity, network

from aienv.spec.model import StackSpec
from components.azure._shared import ROLE_STORAGE_BLOB_DATA_CONTRIBUTOR, assign_role, tags

NETWORK_WATCHER_GROUP = "NetworkWatcherRG"
MAX_RETENTION_DAYS = 365  # the flow-log retention policy's upper bound
ANALYTICS_INTERVAL_MINUTES = 10


def network_watcher_name(location: str) -> str:
    return f"NetworkWatcher_{location}"


@dataclass(frozen=True)
class FlowLogsArgs:
    spec: StackSpec
    resource_group_name: pulumi.Input[str]  # where the writer identity lives
    vnet_id: pulumi.Input[str]
    storage_account_id: pulumi.Input[str]
    workspace_customer_id: pulumi.Input[str]  # the Log Analytics workspace GUID traffic analytics needs
    workspace_resource_id: pulumi.Input[str]


class FlowLogs(pulumi.ComponentResource):
    """`aienv:azure:FlowLogs`: a VNet flow log (JSON v2) with retention and traffic analytics."""

    flow_log: network.FlowLog

    def __init__(self, name: str, args: FlowLogsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aienv:azure:FlowLogs", name, None, opts)
        spec = args.spec
        subscription = spec.cloud.subscription_id or ""
        self.identity = managedidentity.UserAssignedIdentity(
            f"{name}-writer", managedidentity.UserAssignedIdentityArgs(
                resource_group_name=args.resource_group_name, location=spec.region, tags=tags(spec)),
            pulumi.ResourceOptions(parent=self))
        grant = assign_role(f"{name}-writer-blobs", parent=self, subscription_id=subscription,
                            role_id=ROLE_STORAGE_BLOB_DATA_CONTRIBUTOR, principal_id=self.identity.principal_id,
                            scope=args.storage_account_id)
        retention = min(spec.monitoring.log_retention_days, MAX_RETENTION_DAYS)
        self.flow_log = network.FlowLog(f"{name}-vnet", network.FlowLogArgs(
            network_watcher_name=network_watcher_name(spec.region),
            resource_group_name=NETWORK_WATCHER_GROUP,
            location=spec.region,
            target_resource_id=args.vnet_id,
            storage_id=args.storage_account_id,
            enabled=True,
            format=network.FlowLogFormatParametersArgs(type=network.FlowLogFormatType.JSON, version=2),
            retention_policy=network.RetentionPolicyParametersArgs(enabled=True, days=retention),
            flow_analytics_configuration=network.TrafficAnalyticsPropertiesArgs(
                network_watcher_flow_analytics_configuration=network.TrafficAnalyticsConfigurationPropertiesArgs(
                    enabled=True, traffic_analytics_interval=ANALYTICS_INTERVAL_MINUTES,
                    workspace_id=args.workspace_customer_id, workspace_region=spec.region,
                    workspace_resource_id=args.workspace_resource_id)),
            identity=network.ManagedServiceIdentityArgs(
                type=network.ResourceIdentityType.USER_ASSIGNED,
                user_assigned_identities=[self.identity.id]),
            tags=tags(spec),
        ), pulumi.ResourceOptions(parent=self, depends_on=[grant]))
        self.register_outputs({"flowLog": self.flow_log.id, "retentionDays": retention})
