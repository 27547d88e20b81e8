"""`aienv:gcp:Cluster`: a private, regional GKE cluster with Workload Identity, shielded nodes, KMS secrets
encryption, Dataplane V2 and managed Prometheus, a least-privilege node service account, the system pool
and one autoscaled pool per spec GPU pool."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pulumi
from pulumi_gcp import artifactregistry, compute, container, projects, serviceaccount

from aienv import conventions as c
from aienv.errors import spec_field
from aienv.gpus import lookup
from aienv.spec.model import GpuPool, StackSpec
from components.contracts import GpuPoolRef
from components.gcp import common
from components.gcp.network import PODS_RANGE, SERVICES_RANGE

# Google's recommended minimum for node service accounts (logs, metrics, metadata); nothing else project-wide.
NODE_ROLES = ("roles/container.defaultNodeServiceAccount",)
CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
GKE_EFFECTS = {"NoSchedule": "NO_SCHEDULE", "PreferNoSchedule": "PREFER_NO_SCHEDULE", "NoExecute": "NO_EXECUTE"}
SYSTEM_POOL = "system"
# GKE labels GPU nodes with their accelerator itself.
GKE_ACCELERATOR_LABEL = "cloud.google.com/gke-accelerator"

NodeConfig = TypeVar("NodeConfig", container.ClusterNodeConfigArgs, container.NodePoolNodeConfigArgs)


def gpu_node_labels(pool: GpuPool) -> dict[str, str]:
    """The Kubernetes labels aienv writes on a GPU pool's nodes (spec extras cannot override them)."""
    return {**pool.labels, c.GPU_TYPE_LABEL: pool.gpu_type, c.GPU_COUNT_LABEL: str(pool.gpus_per_node),
            c.POOL_LABEL: pool.name}


@dataclass(frozen=True)
class ClusterArgs:
    spec: StackSpec
    network: pulumi.Input[str]
    network_name: pulumi.Input[str]
    subnet: pulumi.Input[str]
    master_cidr: str
    node_cidr: str
    # The repositories nodes pull from, by role ("" for the CI repository, the upstream host's slug for a cache).
    repositories: Mapping[str, artifactregistry.Repository]
    keys: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    after: Sequence[pulumi.Resource] = ()


class Cluster(pulumi.ComponentResource):
    cluster: container.Cluster
    node_pools: dict[str, container.NodePool]
    gpu_pools: list[GpuPoolRef]

    def __init__(self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aienv:gcp:Cluster", name, None, opts)
        spec = args.spec
        project = spec.cloud.project
        after = list(args.after)

        # A dedicated node identity instead of the Compute Engine default (which holds Editor).
        self.node_sa = serviceaccount.Account(f"{name}-nodes", serviceaccount.AccountArgs(
            account_id=common.physical_name(spec, "nodes", 30), project=project,
            display_name=f"aienv {spec.name} GKE nodes"), pulumi.ResourceOptions(parent=self, depends_on=after))
        node_member = self.node_sa.email.apply(lambda e: f"serviceAccount:{e}")
        node_grants: list[pulumi.Resource] = [
            projects.IAMMember(f"{name}-nodes-{role.split('.')[-1].lower()}", projects.IAMMemberArgs(
                project=project or "", role=role, member=node_member), pulumi.ResourceOptions(parent=self))
            for role in NODE_ROLES
        ]
        # Nodes (the kubelet) pull images from exactly the environment's repositories: the CI repository and the
        # pull-through caches.
        for repo_name, repo in args.repositories.items():
            node_grants.append(artifactregistry.RepositoryIamMember(
                f"{name}-nodes-pull" + (f"-{repo_name}" if repo_name else ""),
                artifactregistry.RepositoryIamMemberArgs(
                    repository=repo.name, location=repo.location, project=project,
                    role="roles/artifactregistry.reader", member=node_member), pulumi.ResourceOptions(parent=self)))

        private = spec.cluster.api_access.value == "private"
        deployer = spec.cluster.deployer.path if private else None
        secrets_key = args.keys.get(common.KEY_GKE_SECRETS)
        disk_key = args.keys.get(common.KEY_DISKS)
        cidr = container.ClusterMasterAuthorizedNetworksConfigCidrBlockArgs
        if not private:
            authorized = [cidr(cidr_block=c_, display_name=f"allowed-{i}")
                          for i, c_ in enumerate(spec.cluster.api_allowed_cidrs)]
        else:
            # The private endpoint admits the nodes and, on the `private_network` path, the deployer's network.
            authorized = [cidr(cidr_block=args.node_cidr, display_name="nodes")]
            if deployer == "private_network":
                authorized += [cidr(cidr_block=c_, display_name=f"deployer-{i}")
                               for i, c_ in enumerate(spec.cluster.deployer.cidrs)]
        self.cluster = container.Cluster(f"{name}-gke", container.ClusterArgs(
            name=spec.name, location=spec.region, project=project,
            node_locations=spec.network.zones or None,  # the spec's zones when it names them
            network=args.network, subnetwork=args.subnet, networking_mode="VPC_NATIVE",
            ip_allocation_policy=container.ClusterIpAllocationPolicyArgs(
                cluster_secondary_range_name=PODS_RANGE, services_secondary_range_name=SERVICES_RANGE),
            min_master_version=spec.cluster.kubernetes_version,
            release_channel=container.ClusterReleaseChannelArgs(channel=spec.gcp.release_channel),
            # Node pools are managed separately; the default pool is created minimal and removed.
            remove_default_node_pool=True, initial_node_count=1,
            node_config=self._node_config(spec, container.ClusterNodeConfigArgs, disk_key,
                                          machine_type=spec.cluster.system_pool.machine_type),
            private_cluster_config=container.ClusterPrivateClusterConfigArgs(
                enable_private_nodes=True, enable_private_endpoint=private, master_ipv4_cidr_block=args.master_cidr,
                # "By default, these clients must be located in the same region as the load balancer. When you
                # enable control plane global access ... on-premises systems can connect to the control plane's
                # private endpoint, subject to the authorized networks configuration, from any region."
                # (kubernetes-engine/docs/how-to/advanced-private-cluster-config)
                master_global_access_config=container.ClusterPrivateClusterConfigMasterGlobalAccessConfigArgs(
                    enabled=True) if deployer == "private_network" else None),
            master_authorized_networks_config=container.ClusterMasterAuthorizedNetworksConfigArgs(
                cidr_blocks=authorized, gcp_public_cidrs_access_enabled=False),
            # The DNS-based endpoint is authorised by IAM (`container.clusters.connect`) and reachable wherever
            # the deployer's Google credentials are; it takes user traffic only on the `dns_endpoint` path. The
            # IP endpoints stay as configured above (private: nodes and authorized networks only).
            control_plane_endpoints_config=container.ClusterControlPlaneEndpointsConfigArgs(
                dns_endpoint_config=container.ClusterControlPlaneEndpointsConfigDnsEndpointConfigArgs(
                    allow_external_traffic=deployer == "dns_endpoint"),
                ip_endpoints_config=container.ClusterControlPlaneEndpointsConfigIpEndpointsConfigArgs(enabled=True)),
            master_auth=container.ClusterMasterAuthArgs(
                client_certificate_config=container.ClusterMasterAuthClientCertificateConfigArgs(
                    issue_client_certificate=False)),
            workload_identity_config=container.ClusterWorkloadIdentityConfigArgs(
                workload_pool=f"{project}.svc.id.goog"),
            enable_shielded_nodes=True, enable_legacy_abac=False,
            database_encryption=container.ClusterDatabaseEncryptionArgs(
                state="ENCRYPTED", key_name=secrets_key) if secrets_key is not None else
            container.ClusterDatabaseEncryptionArgs(state="DECRYPTED"),
            # Dataplane V2 enforces NetworkPolicy natively.
            datapath_provider="ADVANCED_DATAPATH",
            logging_config=container.ClusterLoggingConfigArgs(
                enable_components=["SYSTEM_COMPONENTS", "WORKLOADS", "APISERVER"]),
            # No GKE-managed DCGM: "When you enable DCGM metrics, GKE installs the DCGM-Exporter tool"
            # (kubernetes-engine/docs/how-to/dcgm-metrics), and the Kubernetes layer runs its own dcgm-exporter
            # (the HPA's GPU metric); two exporters would watch the same GPUs.
            monitoring_config=container.ClusterMonitoringConfigArgs(
                enable_components=["SYSTEM_COMPONENTS", "APISERVER"],
                managed_prometheus=container.ClusterMonitoringConfigManagedPrometheusArgs(enabled=True)),
            security_posture_config=container.ClusterSecurityPostureConfigArgs(
                mode="BASIC", vulnerability_mode="VULNERABILITY_BASIC"),
            addons_config=container.ClusterAddonsConfigArgs(
                gce_persistent_disk_csi_driver_config=container.ClusterAddonsConfigGcePersistentDiskCsiDriverConfigArgs(
                    enabled=True)),
            deletion_protection=spec.security.deletion_protection,
            resource_labels=common.labels(spec)),
            # The node config only shapes the short-lived default pool; later drift there is irrelevant.
            pulumi.ResourceOptions(parent=self, depends_on=[*after, *node_grants], ignore_changes=["nodeConfig"]))

        self.peering_routes: compute.NetworkPeeringRoutesConfig | None = None
        if deployer == "private_network":
            # A deployer behind Cloud VPN or Interconnect reaches the private endpoint through the VPC peering to
            # the control plane, and the control plane answers only over routes exported to it: custom routes
            # cross a peering only when exported (cloud.google.com/vpc/docs/vpc-peering, "Route exchange").
            self.peering_routes = compute.NetworkPeeringRoutesConfig(
                f"{name}-peering-routes", compute.NetworkPeeringRoutesConfigArgs(
                    network=args.network_name, peering=self.cluster.private_cluster_config.apply(
                        lambda p: p.peering_name if p and p.peering_name else ""),
                    export_custom_routes=True, import_custom_routes=False, project=project),
                pulumi.ResourceOptions(parent=self))

        self.node_pools = {}
        system = spec.cluster.system_pool
        self.node_pools[SYSTEM_POOL] = self._pool(
            name, spec, SYSTEM_POOL, system.machine_type or "e2-standard-4", system.min_nodes or 1,
            system.max_nodes or 3, system.disk_gb, {c.POOL_LABEL: SYSTEM_POOL}, [], [], False, disk_key,
            # The autoscaler never scales up just to reach the minimum: start the system pool populated.
            initial_per_zone=max(1, -(-(system.min_nodes or 1) // spec.network.availability_zones)))
        self.gpu_pools = []
        for index, pool in enumerate(spec.cluster.gpu_pools):
            with spec_field(f"cluster.gpu_pools[{index}]"):
                shape = lookup(pool.gpu_type, "gcp", pool.gpus_per_node)
                node_labels = gpu_node_labels(pool)
                taints = [container.NodePoolNodeConfigTaintArgs(
                    key=c.GPU_TAINT_KEY, value=c.GPU_TAINT_VALUE, effect=GKE_EFFECTS[c.GPU_TAINT_EFFECT])]
                taints += [container.NodePoolNodeConfigTaintArgs(key=t.key, value=t.value, effect=GKE_EFFECTS[t.effect])
                           for t in pool.taints]
                accelerators = [container.NodePoolNodeConfigGuestAcceleratorArgs(
                    type=shape.accelerator or pool.gpu_type, count=shape.gpus,
                    # GKE installs the NVIDIA driver (and runs the device plugin) itself.
                    gpu_driver_installation_config=container.NodePoolNodeConfigGuestAcceleratorGpuDriverInstallationConfigArgs(
                        gpu_driver_version="DEFAULT"))]
                # The pool's minimum exists from the start (the autoscaler never scales up just to reach it).
                zones = len(pool.zones or spec.network.zones) or spec.network.availability_zones
                self.node_pools[pool.name] = self._pool(
                    name, spec, pool.name, shape.machine_type, pool.min_nodes or 0, pool.max_nodes, pool.disk_gb,
                    node_labels, taints, accelerators, pool.spot, disk_key, zones=pool.zones,
                    initial_per_zone=-(-(pool.min_nodes or 0) // zones) or None)
                self.gpu_pools.append(GpuPoolRef(
                    name=pool.name, gpu_type=pool.gpu_type, gpus_per_node=pool.gpus_per_node,
                    node_labels={**node_labels, GKE_ACCELERATOR_LABEL: shape.accelerator or pool.gpu_type}))

        self.register_outputs({"cluster": self.cluster.name, "endpoint": self.cluster.endpoint,
                               "nodeServiceAccount": self.node_sa.email,
                               "nodePools": {k: p.name for k, p in self.node_pools.items()}})

    def _node_config(self, spec: StackSpec, cls: type[NodeConfig], disk_key: pulumi.Input[str] | None,
                     **extra: Any) -> NodeConfig:
        """Node settings shared by the (removed) default pool and every pool: shielded, GKE metadata server."""
        prefix = "Cluster" if cls is container.ClusterNodeConfigArgs else "NodePool"
        shielded = getattr(container, f"{prefix}NodeConfigShieldedInstanceConfigArgs")
        metadata = getattr(container, f"{prefix}NodeConfigWorkloadMetadataConfigArgs")
        return cls(
            service_account=self.node_sa.email, oauth_scopes=[CLOUD_PLATFORM],
            image_type="COS_CONTAINERD", disk_type="pd-balanced", boot_disk_kms_key=disk_key,
            shielded_instance_config=shielded(enable_secure_boot=True, enable_integrity_monitoring=True),
            workload_metadata_config=metadata(mode="GKE_METADATA"),
            metadata={"disable-legacy-endpoints": "true"},
            resource_labels=common.labels(spec), **extra)

    def _pool(self, name: str, spec: StackSpec, pool: str, machine: str, min_nodes: int, max_nodes: int,
              disk_gb: int, node_labels: dict[str, str], taints: list, accelerators: list, spot: bool,
              disk_key: pulumi.Input[str] | None, initial_per_zone: int | None = None,
              zones: list[str] | None = None) -> container.NodePool:
        """A pool sized in totals, started at its minimum (a GPU pool with `min_nodes: 0` starts empty)."""
        return container.NodePool(f"{name}-pool-{pool}", container.NodePoolArgs(
            # The spec's pool name (a DNS label of at most 40 characters, unique in the cluster), not an
            # auto-name `<env>-cluster-pool-<pool>-<hex>` that can pass GKE's 40-character limit.
            name=pool,
            cluster=self.cluster.id, location=spec.region, project=spec.cloud.project,
            # Only the zones the spec pins (a GPU sold in some zones), else the cluster's.
            node_locations=zones or None,
            # Totals across the region's zones, as the spec counts nodes (0 lets a GPU pool scale to zero).
            autoscaling=container.NodePoolAutoscalingArgs(
                total_min_node_count=min_nodes, total_max_node_count=max_nodes,
                location_policy="ANY" if spot else "BALANCED"),
            initial_node_count=initial_per_zone,
            management=container.NodePoolManagementArgs(auto_repair=True, auto_upgrade=True),
            upgrade_settings=container.NodePoolUpgradeSettingsArgs(max_surge=1, max_unavailable=0),
            node_config=self._node_config(
                spec, container.NodePoolNodeConfigArgs, disk_key, machine_type=machine, disk_size_gb=disk_gb,
                labels=node_labels, taints=taints or None, guest_accelerators=accelerators or None, spot=spot)),
            pulumi.ResourceOptions(parent=self, ignore_changes=["initialNodeCount"], delete_before_replace=True))
