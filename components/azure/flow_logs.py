"""VNet flow logs: every flow of the environment's VNet to its storage, with traffic analytics.

Azure allows one Network Watcher per region and subscription and creates it itself
(`NetworkWatcher_<location>` in `NetworkWatcherRG`) when the first VNet appears, asynchronously and only where
auto-enablement is not turned off; the flow log is a child of that watcher, so it lives in that resource group.
The deploy prerequisites (docs/deploy.md, Azure §1) create or confirm the watcher before the first `pulumi up`
(`az network watcher configure ... --enabled`, Microsoft, *Enable or disable Azure Network Watcher*), and the
flow log takes its watcher from a lookup made after the VNet exists, so a missing watcher fails that lookup by
name instead of racing Azure's creation. The storage account refuses shared keys, so the flow log writes with a
managed identity that may write blobs to that one account.
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
    # The VNet resource: the watcher lookup runs only once it exists (in a first preview it is not run at all).
    vnet: pulumi.Resource | None = None


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
        watcher = network.get_network_watcher_output(
            network_watcher_name=network_watcher_name(spec.region), resource_group_name=NETWORK_WATCHER_GROUP,
            opts=pulumi.InvokeOutputOptions(parent=self, depends_on=[args.vnet] if args.vnet is not None else None))
        # The name is the documented one; taking it through the lookup makes the flow log wait for the watcher.
        watcher_name = watcher.apply(lambda _: network_watcher_name(spec.region))
        self.flow_log = network.FlowLog(f"{name}-vnet", network.FlowLogArgs(
            network_watcher_name=watcher_name,
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
        ), pulumi.ResourceOptions(parent=self, depends_on=[grant, *([args.vnet] if args.vnet is not None else [])]))
        self.register_outputs({"flowLog": self.flow_log.id, "retentionDays": retention})
