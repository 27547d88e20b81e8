"""AKS: Entra ID + Azure RBAC, workload identity, private API, CMK disks, a system pool and one pool per GPU pool."""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from typing import cast

import pulumi
from pulumi_azure_native import authorization, compute, managedidentity, monitor
from pulumi_azure_native import containerservice as aks

from aienv import conventions as c
from aienv.errors import ComponentInputError, spec_field
from aienv.gpus import lookup
from aienv.spec.model import EndpointAccess, GpuPool, StackSpec
from components.azure._shared import (
    ROLE_ACR_PULL,
    ROLE_AKS_RBAC_CLUSTER_ADMIN,
    ROLE_KV_CRYPTO_SERVICE_ENCRYPTION_USER,
    ROLE_MANAGED_IDENTITY_OPERATOR,
    ROLE_NETWORK_CONTRIBUTOR,
    ROLE_READER,
    assign_role,
    create,
    principal_of,
    role_definition,
    tags,
)
from components.azure.keys import RBAC_PROPAGATION_SECONDS, Keys
from components.azure.logs import LogWorkspace
from components.azure.network import APISERVER_SUBNET, SERVICES_SUBNET, Network, deployer_path
from components.azure.registries import Registries
from components.propagation import propagation_wait

SYSTEM_POOL = "system"
# AKS puts this label and taint on every spot node itself; the taint is declared so plans match the nodes.
SPOT_LABEL_KEY = "kubernetes.azure.com/scalesetpriority"
SPOT_TAINT = f"{SPOT_LABEL_KEY}=spot:NoSchedule"
# The Entra ID application every AKS cluster's API server accepts tokens for (same in every tenant).
AKS_AAD_SERVER_APP_ID = "6dae42f8-4368-4678-94ff-3960e28e3630"
# Pods and services live on overlay ranges that never overlap the VNet (which the spec restricts to RFC 1918
# /16-/20 ranges inside 10/8, 172.16/12 or 192.168/16, so pick ranges from the rarely used 100.64/10 space).
POD_CIDR = "100.64.0.0/16"
SERVICE_CIDR = "100.65.0.0/16"
DNS_SERVICE_IP = "100.65.0.10"


CONTAINER_INSIGHTS_STREAM = "Microsoft-ContainerInsights-Group-Default"


def container_insights_dcr_name(env: str, location: str) -> str:
    """The Container insights rule's name as the CLI derives it, `MSCI-<region>-<cluster>`, within 64 characters."""
    return f"MSCI-{location}-aks-{env}"[:64]


def agent_pool_name(pool_name: str) -> str:
    """AKS pool names: lowercase letters and digits, at most 12 characters, starting with a letter."""
    return re.sub(r"[^a-z0-9]", "", pool_name.lower())[:12]


def taint_string(key: str, value: str, effect: str) -> str:
    return f"{key}={value}:{effect}" if value else f"{key}:{effect}"


def gpu_node_labels(pool: GpuPool) -> dict[str, str]:
    """The labels aienv writes on a GPU pool's nodes (AKS adds its own spot label on spot pools)."""
    return {
        c.GPU_TYPE_LABEL: pool.gpu_type,
        c.GPU_COUNT_LABEL: str(pool.gpus_per_node),
        c.POOL_LABEL: pool.name,
        **pool.labels,
    }


def gpu_node_taints(pool: GpuPool) -> list[str]:
    taints = [taint_string(c.GPU_TAINT_KEY, c.GPU_TAINT_VALUE, c.GPU_TAINT_EFFECT)]
    taints += [taint_string(t.key, t.value, t.effect) for t in pool.taints]
    if pool.spot:
        taints.append(SPOT_TAINT)
    return taints


def kubeconfig(cluster_name: str, server_host: str, credentials_b64: str | None) -> str:
    """A kubeconfig that authenticates with Entra ID through `kubelogin` (local accounts are disabled).

    The CA comes from the cluster's user credentials; only the token source is replaced, so no static
    credential ends up in the state.
    """
    ca = None
    if credentials_b64:
        text = base64.b64decode(credentials_b64).decode()
        match = re.search(r"certificate-authority-data:\s*(\S+)", text)
        ca = match.group(1) if match else None
    cluster: dict[str, object] = {"server": f"https://{server_host}:443"}
    if ca:
        cluster["certificate-authority-data"] = ca
    user = f"{cluster_name}-entra"
    return json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": cluster_name,
        "clusters": [{"name": cluster_name, "cluster": cluster}],
        "contexts": [{"name": cluster_name, "context": {"cluster": cluster_name, "user": user}}],
        "users": [{"name": user, "user": {"exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1", "command": "kubelogin",
            "args": ["get-token", "--login", "azurecli", "--server-id", AKS_AAD_SERVER_APP_ID],
            "interactiveMode": "IfAvailable", "provideClusterInfo": False}}}],
    }, indent=2)


def _credential_value(kubeconfigs: object) -> str | None:
    """The first kubeconfig of `listManagedClusterUserCredentials` (a typed result or its plain dict)."""
    if not kubeconfigs:
        return None
    first = kubeconfigs[0]  # type: ignore[index]
    return first.get("value") if isinstance(first, dict) else getattr(first, "value", None)


@dataclass(frozen=True)
class ClusterArgs:
    spec: StackSpec
    network: Network
    keys: Keys
    logs: LogWorkspace
    registries: Registries
    tenant_id: pulumi.Input[str]
    # The principal running `pulumi up` and its role-assignment principalType (keys.deployer_principal_type).
    deployer_object_id: pulumi.Input[str] | None = None
    deployer_principal_type: pulumi.Input[str] | None = None


class Cluster(pulumi.ComponentResource):
    """`aienv:azure:Cluster`."""

    cluster: aks.ManagedCluster
    gpu_pools: dict[str, aks.AgentPool]
    disk_encryption_set: compute.DiskEncryptionSet | None
    kubeconfig: pulumi.Output[str]
    oidc_issuer_url: pulumi.Output[str]

    def __init__(self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aienv:azure:Cluster", name, None, opts)
        spec, net, keys = args.spec, args.network, args.keys
        rg = net.resource_group_name
        subscription = spec.cloud.subscription_id or ""
        self._check_pool_names(spec)

        control_plane = managedidentity.UserAssignedIdentity(
            f"{name}-identity",
            managedidentity.UserAssignedIdentityArgs(resource_group_name=rg, location=spec.region, tags=tags(spec)),
            pulumi.ResourceOptions(parent=self))
        kubelet = managedidentity.UserAssignedIdentity(
            f"{name}-kubelet",
            managedidentity.UserAssignedIdentityArgs(resource_group_name=rg, location=spec.region, tags=tags(spec)),
            pulumi.ResourceOptions(parent=self))
        grants = [
            # The control plane joins nodes, the gateway's internal load balancers (`services`, named by the
            # Service annotation in kubernetes_support.py) and (with a deployer path) the API server's load
            # balancer to exactly these subnets. Microsoft, *Use an internal load balancer with AKS*: "the AKS
            # cluster identity needs permission to manage network resources", at least ".../subnets/read and
            # .../subnets/join/action"; Network Contributor (Microsoft.Network/*) holds both.
            *(assign_role(f"{name}-{role}-subnet-grant", parent=self, subscription_id=subscription,
                          role_id=ROLE_NETWORK_CONTRIBUTOR, principal_id=control_plane.principal_id,
                          scope=net.subnets[role].id) for role in ("nodes", SERVICES_SUBNET, APISERVER_SUBNET)
              if role in net.subnets),
            assign_role(f"{name}-kubelet-operator", parent=self, subscription_id=subscription,
                        role_id=ROLE_MANAGED_IDENTITY_OPERATOR, principal_id=control_plane.principal_id,
                        scope=kubelet.id),
            # Nodes pull serving images from this registry only.
            assign_role(f"{name}-acr-pull", parent=self, subscription_id=subscription, role_id=ROLE_ACR_PULL,
                        principal_id=kubelet.principal_id, scope=args.registries.acr.id),
        ]

        self.disk_encryption_set = None
        if keys.customer_managed:
            self.disk_encryption_set = compute.DiskEncryptionSet(
                f"{name}-des",
                compute.DiskEncryptionSetArgs(
                    resource_group_name=rg, location=spec.region,
                    identity=compute.EncryptionSetIdentityArgs(type=compute.DiskEncryptionSetIdentityType.SYSTEM_ASSIGNED),
                    encryption_type=compute.DiskEncryptionSetType.ENCRYPTION_AT_REST_WITH_CUSTOMER_KEY,
                    active_key=compute.KeyForDiskEncryptionSetArgs(
                        key_url=keys.keys["disks"].key_uri_with_version,
                        source_vault=compute.SourceVaultArgs(id=keys.vault.id)),
                    rotation_to_latest_key_version_enabled=True,
                    tags=tags(spec),
                ),
                pulumi.ResourceOptions(parent=self),
            )
            grants.append(assign_role(
                f"{name}-des-grant", parent=self, subscription_id=subscription,
                role_id=ROLE_KV_CRYPTO_SERVICE_ENCRYPTION_USER,
                principal_id=principal_of(self.disk_encryption_set.identity),
                scope=keys.keys["disks"].id))
            # "Make sure ... that the AKS cluster identity has read access to the DiskEncryptionSet" (Microsoft,
            # *Bring your own keys (BYOK) with Azure managed disks in AKS*): the cluster's OS disks and the CSI
            # driver's disks of the `aienv-encrypted` StorageClass are created with this set by that identity.
            grants.append(assign_role(
                f"{name}-des-reader", parent=self, subscription_id=subscription, role_id=ROLE_READER,
                principal_id=control_plane.principal_id, scope=self.disk_encryption_set.id))
        des_id = self.disk_encryption_set.id if self.disk_encryption_set else None
        # AKS checks its identity's rights on the subnets, the kubelet identity and the disk encryption set when it
        # creates the cluster, and the DES reads its key with its own grant then; role assignments "can take up
        # to 10 minutes" to take effect (Microsoft, *Troubleshoot Azure RBAC*), so the cluster waits that long once.
        grants_ready = propagation_wait(f"{name}-grants-wait", grants, seconds=RBAC_PROPAGATION_SECONDS, parent=self)

        zones = spec.network.zones or [str(z) for z in range(1, spec.network.availability_zones + 1)]
        system = spec.cluster.system_pool
        private_api = spec.cluster.api_access is EndpointAccess.private
        workspace_id = args.logs.workspace.id
        self.cluster = create(
            aks.ManagedCluster, f"{name}-aks",
            aks.ManagedClusterArgs(
                resource_group_name=rg, location=spec.region, resource_name=f"aks-{spec.name}",
                dns_prefix=spec.name,
                kubernetes_version=spec.cluster.kubernetes_version,
                sku=aks.ManagedClusterSKUArgs(
                    name=aks.ManagedClusterSKUName.BASE,
                    tier=aks.ManagedClusterSKUTier.FREE if spec.environment.value == "dev"
                    else aks.ManagedClusterSKUTier.STANDARD),
                node_resource_group=f"rg-{spec.name}-aks-nodes",
                identity=aks.ManagedClusterIdentityArgs(type=aks.ResourceIdentityType.USER_ASSIGNED,
                                                        user_assigned_identities=[control_plane.id]),
                identity_profile={"kubeletidentity": aks.UserAssignedIdentityArgs(
                    resource_id=kubelet.id, client_id=kubelet.client_id, object_id=kubelet.principal_id)},
                enable_rbac=True,
                disable_local_accounts=True,
                aad_profile=aks.ManagedClusterAADProfileArgs(
                    managed=True, enable_azure_rbac=True, tenant_id=args.tenant_id,
                    admin_group_object_ids=list(spec.azure.admin_group_object_ids) or None),
                api_server_access_profile=self._private_api(spec, net) if private_api
                else aks.ManagedClusterAPIServerAccessProfileArgs(
                    enable_private_cluster=False, authorized_ip_ranges=list(spec.cluster.api_allowed_cidrs),
                    disable_run_command=True),
                oidc_issuer_profile=aks.ManagedClusterOIDCIssuerProfileArgs(enabled=True),
                security_profile=aks.ManagedClusterSecurityProfileArgs(
                    workload_identity=aks.ManagedClusterSecurityProfileWorkloadIdentityArgs(enabled=True),
                    defender=aks.ManagedClusterSecurityProfileDefenderArgs(
                        log_analytics_workspace_resource_id=workspace_id,
                        security_monitoring=aks.ManagedClusterSecurityProfileDefenderSecurityMonitoringArgs(
                            enabled=True)),
                ),
                network_profile=aks.ContainerServiceNetworkProfileArgs(
                    network_plugin=aks.NetworkPlugin.AZURE, network_plugin_mode=aks.NetworkPluginMode.OVERLAY,
                    network_dataplane=aks.NetworkDataplane.CILIUM, network_policy=aks.NetworkPolicy.CILIUM,
                    pod_cidr=POD_CIDR, service_cidr=SERVICE_CIDR, dns_service_ip=DNS_SERVICE_IP,
                    load_balancer_sku="standard",
                    outbound_type=aks.OutboundType.USER_ASSIGNED_NAT_GATEWAY if spec.network.egress == "nat"
                    else aks.OutboundType.NONE,
                ),
                addon_profiles={
                    # Azure Monitor agent (Container insights) to Log Analytics, with Entra ID auth.
                    "omsagent": aks.ManagedClusterAddonProfileArgs(enabled=True, config={
                        "logAnalyticsWorkspaceResourceID": workspace_id, "useAADAuth": "true"}),
                    "azurepolicy": aks.ManagedClusterAddonProfileArgs(enabled=True),
                },
                auto_upgrade_profile=aks.ManagedClusterAutoUpgradeProfileArgs(
                    upgrade_channel=aks.UpgradeChannel.PATCH,
                    node_os_upgrade_channel=aks.NodeOSUpgradeChannel.NODE_IMAGE),
                storage_profile=aks.ManagedClusterStorageProfileArgs(
                    disk_csi_driver=aks.ManagedClusterStorageProfileDiskCSIDriverArgs(enabled=True)),
                disk_encryption_set_id=des_id,
                agent_pool_profiles=[aks.ManagedClusterAgentPoolProfileArgs(
                    name=SYSTEM_POOL, mode=aks.AgentPoolMode.SYSTEM,
                    vm_size=system.machine_type,
                    enable_auto_scaling=True, count=system.min_nodes,
                    min_count=system.min_nodes, max_count=system.max_nodes,
                    availability_zones=zones,
                    vnet_subnet_id=net.subnets["nodes"].id,
                    os_type=aks.OSType.LINUX, os_sku=aks.OSSKU.AZURE_LINUX,
                    os_disk_size_gb=system.disk_gb, os_disk_type=aks.OSDiskType.MANAGED,
                    enable_encryption_at_host=True,
                    node_labels={c.POOL_LABEL: SYSTEM_POOL},
                    upgrade_settings=aks.AgentPoolUpgradeSettingsArgs(max_surge="33%"),
                    tags=tags(spec),
                )],
                tags=tags(spec),
            ),
            pulumi.ResourceOptions(parent=self, depends_on=grants_ready,
                                   # The autoscaler owns the node counts after creation.
                                   ignore_changes=["agentPoolProfiles[0].count"]),
        )

        self.gpu_pools = {}
        # AKS runs one agent-pool operation at a time per cluster (409 `OperationNotAllowed`: "Another agentpool
        # operation ... is in progress, please wait for it to finish"), so each pool waits for the one before it.
        previous: list[pulumi.Resource] = []
        for index, pool in enumerate(spec.cluster.gpu_pools):
            with spec_field(f"cluster.gpu_pools[{index}]"):
                shape = lookup(pool.gpu_type, "azure", pool.gpus_per_node)
                self.gpu_pools[pool.name] = create(
                    aks.AgentPool, f"{name}-gpu-{pool.name}",
                    aks.AgentPoolArgs(
                        resource_group_name=rg, resource_name=self.cluster.name,
                        agent_pool_name=agent_pool_name(pool.name),
                        mode=aks.AgentPoolMode.USER,
                        vm_size=shape.machine_type,
                        enable_auto_scaling=True, count=pool.min_nodes,
                        min_count=pool.min_nodes, max_count=pool.max_nodes,
                        # The zones the spec pins (a GPU sold in some zones); else the region decides.
                        availability_zones=pool.zones or None,
                        vnet_subnet_id=net.subnets["nodes"].id,
                        os_type=aks.OSType.LINUX, os_sku=aks.OSSKU.UBUNTU,
                        os_disk_size_gb=pool.disk_gb, os_disk_type=aks.OSDiskType.MANAGED,
                        enable_encryption_at_host=True,
                        # AKS installs the NVIDIA driver; the Kubernetes layer adds the device plugin.
                        gpu_profile=aks.GPUProfileArgs(driver=aks.GPUDriver.INSTALL),
                        node_labels=gpu_node_labels(pool),
                        node_taints=gpu_node_taints(pool),
                        scale_set_priority=aks.ScaleSetPriority.SPOT if pool.spot else aks.ScaleSetPriority.REGULAR,
                        scale_set_eviction_policy=aks.ScaleSetEvictionPolicy.DELETE if pool.spot else None,
                        spot_max_price=-1 if pool.spot else None,  # pay up to the on-demand price, never more
                        upgrade_settings=None if pool.spot else aks.AgentPoolUpgradeSettingsArgs(max_surge="1"),
                        tags=tags(spec),
                    ),
                    pulumi.ResourceOptions(parent=self, ignore_changes=["count"], depends_on=previous),
                )
                previous = [self.gpu_pools[pool.name]]

        # Container insights with `useAADAuth` reads what to collect from a data collection rule associated with
        # the cluster; the CLI creates both implicitly, ARM and IaC do not ("Copy the DCR and DCRA resources",
        # Microsoft, *Enable monitoring for AKS clusters*). Without them the agent sends nothing.
        self.data_collection_rule = monitor.DataCollectionRule(
            f"{name}-insights-dcr",
            monitor.DataCollectionRuleArgs(
                resource_group_name=rg, location=spec.region, kind="Linux",
                data_collection_rule_name=container_insights_dcr_name(spec.name, spec.region),
                description="aienv: Container insights of the environment's AKS cluster.",
                data_sources=monitor.DataCollectionRuleDataSourcesArgs(extensions=[monitor.ExtensionDataSourceArgs(
                    name="ContainerInsightsExtension", extension_name="ContainerInsights",
                    streams=[CONTAINER_INSIGHTS_STREAM],
                    extension_settings={"dataCollectionSettings": {
                        "interval": "1m", "namespaceFilteringMode": "Off", "enableContainerLogV2": True}})]),
                destinations=monitor.DataCollectionRuleDestinationsArgs(log_analytics=[
                    monitor.LogAnalyticsDestinationArgs(name="workspace", workspace_resource_id=workspace_id)]),
                data_flows=[monitor.DataFlowArgs(streams=[CONTAINER_INSIGHTS_STREAM], destinations=["workspace"])],
                tags=tags(spec),
            ),
            pulumi.ResourceOptions(parent=self),
        )
        monitor.DataCollectionRuleAssociation(
            f"{name}-insights-dcra",
            monitor.DataCollectionRuleAssociationArgs(
                resource_uri=self.cluster.id, association_name="ContainerInsightsExtension",
                data_collection_rule_id=self.data_collection_rule.id,
                description="Container insights of this cluster; deleting it stops the collection."),
            pulumi.ResourceOptions(parent=self),
        )

        # Azure RBAC for Kubernetes: Owner and Contributor carry no Kubernetes data actions, so the deployer that
        # applies the Kubernetes layer gets "Azure Kubernetes Service RBAC Cluster Admin" on this cluster only
        # (Microsoft, *Use Azure RBAC for Kubernetes Authorization*).
        self.deployer_access: list[pulumi.Resource] = []
        if args.deployer_object_id is not None:
            admin = authorization.RoleAssignment(
                f"{name}-deployer-cluster-admin",
                authorization.RoleAssignmentArgs(
                    principal_id=args.deployer_object_id, principal_type=args.deployer_principal_type,
                    role_definition_id=role_definition(subscription, ROLE_AKS_RBAC_CLUSTER_ADMIN),
                    scope=self.cluster.id,
                    description="aienv: the deployer applies the Kubernetes layer"),
                pulumi.ResourceOptions(parent=self))
            # The Kubernetes layer's first request is authorised with this role: it waits out the propagation
            # delay ("up to 10 minutes", Microsoft, *Troubleshoot Azure RBAC*) like the key users do.
            self.deployer_access = [admin, *propagation_wait(f"{name}-deployer-access-wait", [admin],
                                                             seconds=RBAC_PROPAGATION_SECONDS, parent=self)]

        self.oidc_issuer_url = cast(pulumi.Output[str], self.cluster.oidc_issuer_profile.apply(
            lambda p: p.issuer_url if p else None))
        # With a deployer path the kubeconfig names the public FQDN, which resolves to the API server's private
        # address from any network (the deployer's resolves no AKS private zone); else the private FQDN.
        via_public_name = not private_api or deployer_path(spec)
        self._server_uses_public_name = via_public_name
        server_host = pulumi.Output.all(self.cluster.private_fqdn, self.cluster.fqdn).apply(
            lambda hosts: hosts[1] if via_public_name or not hosts[0] else hosts[0])
        credentials = aks.list_managed_cluster_user_credentials_output(
            resource_group_name=rg, resource_name=self.cluster.name,
            opts=pulumi.InvokeOutputOptions(parent=self))
        cluster_name = f"aks-{spec.name}"
        self.kubeconfig = pulumi.Output.secret(pulumi.Output.all(server_host, credentials.kubeconfigs).apply(
            lambda v: kubeconfig(cluster_name, v[0], _credential_value(v[1]))))

        self.register_outputs({
            "clusterId": self.cluster.id,
            "clusterName": self.cluster.name,
            "oidcIssuerUrl": self.oidc_issuer_url,
            "gpuPools": {n: p.id for n, p in self.gpu_pools.items()},
            "diskEncryptionSetId": des_id,
        })

    @staticmethod
    def _private_api(spec: StackSpec, net: Network) -> aks.ManagedClusterAPIServerAccessProfileArgs:
        """A private API server, and with `cluster.deployer.path: private_network` the way in for the deployer.

        API Server VNet Integration puts the API server behind an internal load balancer in the `apiserver`
        subnet, whose NSG admits exactly the nodes and `deployer.cidrs` (a private endpoint's traffic would not
        pass an NSG). The public FQDN is a public DNS record of that private address ("The public DNS option
        can be leveraged to simplify routing options for your private cluster", Microsoft, *Create a private
        AKS cluster*): a runner in a peered or VPN-connected network resolves it without linking the AKS
        private DNS zone, and reaches it only through that network path.
        """
        if not deployer_path(spec):
            return aks.ManagedClusterAPIServerAccessProfileArgs(
                enable_private_cluster=True, private_dns_zone="system",
                enable_private_cluster_public_fqdn=False, disable_run_command=True)
        return aks.ManagedClusterAPIServerAccessProfileArgs(
            enable_private_cluster=True, private_dns_zone="system", enable_private_cluster_public_fqdn=True,
            enable_vnet_integration=True, subnet_id=net.subnets[APISERVER_SUBNET].id, disable_run_command=True)

    @staticmethod
    def _check_pool_names(spec: StackSpec) -> None:
        seen: dict[str, str] = {SYSTEM_POOL: SYSTEM_POOL}
        for i, pool in enumerate(spec.cluster.gpu_pools):
            short = agent_pool_name(pool.name)
            if short in seen:
                raise ComponentInputError(
                    f"cluster.gpu_pools[{i}].name",
                    f"becomes the AKS pool name `{short}` (letters and digits, at most 12), which `{seen[short]}` "
                    "already uses; choose names that differ in their first 12 letters and digits")
            seen[short] = pool.name
