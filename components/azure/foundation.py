"""The Azure foundation: every Azure component wired together into the `CloudFoundation` contract."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_azure_native as azure_native
import pulumi_kubernetes as k8s
from pulumi_azure_native import authorization

from aienv.gpus import DRIVER_MODES
from aienv.spec.model import BucketPurpose, StackSpec
from components.azure.audit import AKS_LOG_CATEGORIES, Audit, AuditArgs, DiagnosticTarget, MetricAlertRule
from components.azure.budget import Budget, BudgetArgs
from components.azure.cluster import SPOT_LABEL_KEY, Cluster, ClusterArgs, gpu_node_labels
from components.azure.feature_store import REDIS_PORT, FeatureStore, FeatureStoreArgs
from components.azure.flow_logs import FlowLogs, FlowLogsArgs
from components.azure.identity import FEAST_REGISTRY, Identity, IdentityArgs
from components.azure.keys import Keys, KeysArgs, deployer_principal_type
from components.azure.kubernetes_support import kubernetes_support
from components.azure.logs import LogWorkspace, LogWorkspaceArgs
from components.azure.mlops_support import mlops_support
from components.azure.network import Network, NetworkArgs
from components.azure.registries import Registries, RegistriesArgs
from components.azure.registry_cache import RegistryCache, RegistryCacheArgs
from components.azure.storage import Storage, StorageArgs
from components.contracts import CloudFoundation, GpuPoolRef, OfflineStore, OnlineStoreEndpoint

STORAGE_CLASS = "aienv-encrypted"


@dataclass(frozen=True)
class AzureFoundationArgs:
    spec: StackSpec
    # False in the first phase of a two-phase first deploy: the API server is not reachable yet, so the
    # foundation's own Kubernetes object (the StorageClass) waits for the second phase.
    kubernetes: bool = True


class AzureFoundation(pulumi.ComponentResource):
    """`aienv:azure:Foundation`: network, keys, storage, registries, feature store, AKS, identities, audit
    and budget of one spec, on an explicit provider pinned to the spec's subscription and location."""

    outputs: CloudFoundation

    def __init__(self, name: str, args: AzureFoundationArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aienv:azure:Foundation", name, None, opts)
        spec = args.spec
        self.provider = azure_native.Provider(
            f"{name}-azure",
            azure_native.ProviderArgs(location=spec.region, subscription_id=spec.cloud.subscription_id,
                                      tenant_id=spec.azure.tenant_id),
            pulumi.ResourceOptions(parent=self),
        )
        child = pulumi.ResourceOptions(parent=self, providers={"azure-native": self.provider})
        client = authorization.get_client_config_output(
            opts=pulumi.InvokeOutputOptions(parent=self, provider=self.provider))
        tenant_id: pulumi.Input[str] = spec.azure.tenant_id or client.tenant_id

        self.network = Network(f"{name}-network", NetworkArgs(spec=spec), child)
        rg = self.network.resource_group_name
        self.logs = LogWorkspace(f"{name}-logs", LogWorkspaceArgs(spec=spec, resource_group_name=rg), child)
        self.keys = Keys(f"{name}-keys", KeysArgs(spec=spec, network=self.network, tenant_id=tenant_id,
                                                             deployer_object_id=client.object_id,
                                                             deployer_client_id=client.client_id), child)
        self.storage = Storage(f"{name}-storage", StorageArgs(spec=spec, network=self.network, keys=self.keys), child)
        self.registries = Registries(f"{name}-registries", RegistriesArgs(
            spec=spec, network=self.network, keys=self.keys, storage=self.storage, logs=self.logs), child)
        self.registry_cache = RegistryCache(f"{name}-registry-cache", RegistryCacheArgs(
            spec=spec, resource_group_name=rg, registry=self.registries.acr, keys=self.keys), child)
        self.feature_store = None
        if spec.feature_store.enabled:
            self.feature_store = FeatureStore(f"{name}-features", FeatureStoreArgs(
                spec=spec, network=self.network, keys=self.keys, storage=self.storage,
                registries=self.registries, logs=self.logs), child)
        self.cluster = Cluster(f"{name}-cluster", ClusterArgs(
            spec=spec, network=self.network, keys=self.keys, logs=self.logs, registries=self.registries,
            tenant_id=tenant_id, deployer_object_id=client.object_id,
            deployer_principal_type=client.client_id.apply(deployer_principal_type)), child)
        self.identity = Identity(f"{name}-identity", IdentityArgs(
            spec=spec, network=self.network, storage=self.storage, keys=self.keys,
            oidc_issuer_url=self.cluster.oidc_issuer_url, workspace_id=self.registries.workspace.id), child)
        self.audit = Audit(f"{name}-audit", AuditArgs(
            spec=spec, resource_group_name=rg, workspace_id=self.logs.workspace.id,
            targets=self._diagnostic_targets(), alerts=self._alerts()), child)
        self.flow_logs = None
        if spec.network.flow_logs:
            self.flow_logs = FlowLogs(f"{name}-flow-logs", FlowLogsArgs(
                spec=spec, resource_group_name=rg, vnet_id=self.network.vnet.id,
                storage_account_id=self.storage.account_for(BucketPurpose.logs).id,
                workspace_customer_id=self.logs.workspace.customer_id,
                workspace_resource_id=self.logs.workspace.id, vnet=self.network.vnet), child)
        self.budget = None
        if spec.budget is not None:
            self.budget = Budget(f"{name}-budget", BudgetArgs(
                spec=spec, resource_group_id=self.network.resource_group.id,
                action_group_ids=[g.id for g in self.audit.action_groups.values()]), child)

        # Kubernetes: Entra ID (kubelogin) kubeconfig, no static credentials.
        self.kube_provider = k8s.Provider(
            f"{name}-k8s", k8s.ProviderArgs(kubeconfig=self.cluster.kubeconfig),
            pulumi.ResourceOptions(parent=self, depends_on=[self.cluster.cluster, *self.cluster.gpu_pools.values(),
                                                            *self.cluster.deployer_access]))
        if args.kubernetes:
            self._storage_class(name, spec)

        online = None
        if self.feature_store is not None and self.feature_store.cache is not None:
            assert self.feature_store.redis_host is not None and self.feature_store.redis_password is not None
            online = OnlineStoreEndpoint(host=self.feature_store.redis_host, port=REDIS_PORT,
                                         password=self.feature_store.redis_password, tls=True)
        offline = None
        if BucketPurpose.feature_offline in self.storage.containers:
            offline = OfflineStore(kind="adls", location=self.storage.abfss_url(BucketPurpose.feature_offline))
        registry_uri = None
        if self.feature_store is not None and BucketPurpose.feature_offline in self.storage.containers:
            # Feast's AzureRegistryStore takes `https://<account>.blob.core.windows.net/<container>/<path>`; the
            # feature-server identity reads and writes exactly `feast/` there (identity.py).
            registry_uri = pulumi.Output.concat(self.storage.blob_url(BucketPurpose.feature_offline), "/",
                                                FEAST_REGISTRY)
        gpu_pools = []
        for pool in spec.cluster.gpu_pools:
            labels = gpu_node_labels(pool)
            if pool.spot:
                labels[SPOT_LABEL_KEY] = "spot"  # written by AKS on spot nodes
            gpu_pools.append(GpuPoolRef(name=pool.name, gpu_type=pool.gpu_type, gpus_per_node=pool.gpus_per_node,
                                        node_labels=labels))

        self.outputs = CloudFoundation(
            cloud="azure",
            cluster_name=self.cluster.cluster.name,
            kubeconfig=self.cluster.kubeconfig,
            kube_provider=self.kube_provider,
            binder=self.identity.binder,
            model_bucket_uri=self.storage.blob_url(BucketPurpose.model_artifacts),
            data_bucket_uri=self.storage.blob_url(BucketPurpose.training_data),
            registry_url=self.registries.login_server,
            gpu_pools=gpu_pools,
            driver_mode=DRIVER_MODES["azure"],
            autoscaler="cloud",
            storage_class=STORAGE_CLASS,
            region=spec.region,
            kubernetes=kubernetes_support(spec, self._disk_parameters(spec)),
            online_store=online,
            offline_store=offline,
            # Each workload's service account waits for its own role assignments (BoundIdentity.ready).
            cluster_ready=[self.cluster.cluster, *self.cluster.gpu_pools.values(), *self.cluster.deployer_access],
            feature_registry_uri=registry_uri,
            images=self.registry_cache.source,
            mlops=mlops_support(spec, self.registries.workspace.id, self.identity.mlops_grants),
        )
        self.register_outputs({
            "clusterName": self.outputs.cluster_name,
            "registryUrl": self.outputs.registry_url,
            "modelBucket": self.outputs.model_bucket_uri,
            "dataBucket": self.outputs.data_bucket_uri,
            "storageClass": STORAGE_CLASS,
        })

    def _storage_class(self, name: str, spec: StackSpec) -> None:
        """The encrypted StorageClass for Prometheus and Grafana volumes (Azure Disk CSI, the DES, `Retain`)."""
        k8s.storage.v1.StorageClass(
            f"{name}-storage-class",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=STORAGE_CLASS),
            provisioner="disk.csi.azure.com",
            parameters=self._disk_parameters(spec),
            reclaim_policy="Retain",
            allow_volume_expansion=True,
            volume_binding_mode="WaitForFirstConsumer",
            opts=pulumi.ResourceOptions(parent=self, provider=self.kube_provider),
        )

    def _disk_parameters(self, spec: StackSpec) -> dict[str, pulumi.Input[str]]:
        """Managed-disk parameters of the encrypted StorageClasses (zone-redundant outside dev, the DES)."""
        des = self.cluster.disk_encryption_set
        parameters: dict[str, pulumi.Input[str]] = {
            "skuName": "Premium_LRS" if spec.environment.value == "dev" else "Premium_ZRS"}
        if des is not None:
            parameters |= {"diskEncryptionSetID": des.id, "diskEncryptionType": "EncryptionAtRestWithCustomerKey"}
        return parameters

    def _diagnostic_targets(self) -> list[DiagnosticTarget]:
        targets = [
            DiagnosticTarget("aks", self.cluster.cluster.id, categories=AKS_LOG_CATEGORIES),
            DiagnosticTarget("vault", self.keys.vault.id, categories=("AuditEvent",)),
            *([DiagnosticTarget("registry-vault", self.keys.registry_vault.id, categories=("AuditEvent",))]
              if self.keys.registry_vault is not None else []),
            # `allLogs` rather than today's category list, so categories Azure adds later are kept too.
            DiagnosticTarget("acr", self.registries.acr.id, category_groups=("allLogs",)),
            DiagnosticTarget("mlw", self.registries.workspace.id, category_groups=("allLogs",)),
        ]
        for role, account in self.storage.accounts.items():
            targets.append(DiagnosticTarget(
                f"storage-{role}", pulumi.Output.concat(account.id, "/blobServices/default"),
                category_groups=("allLogs",), all_metrics=False))
        if self.feature_store is not None:
            targets.append(DiagnosticTarget("features", self.feature_store.workspace.id, category_groups=("allLogs",)))
            if self.feature_store.database is not None:
                # Azure Managed Redis logs its connection audit events (`ConnectionEvents`) on the database
                # (`.../redisEnterprise/<cache>/databases/default`), not the cluster, and a setting may choose
                # "either the specific _Category_ or _Category groups_" (Microsoft, *Monitor Azure Managed Redis data
                # using diagnostic settings*): `allLogs`, as for the other targets. The cluster's metrics stay in
                # Azure Monitor for the alerts below.
                targets.append(DiagnosticTarget("redis", self.feature_store.database.id,
                                                category_groups=("allLogs",), all_metrics=False))
        return targets

    def _alerts(self) -> list[MetricAlertRule]:
        aks_ns = "Microsoft.ContainerService/managedClusters"
        cluster_id = self.cluster.cluster.id
        alerts = [
            MetricAlertRule("node-cpu", cluster_id, aks_ns, "node_cpu_usage_percentage", 80, "warning",
                            description="Node CPU above 80% for 15 minutes."),
            MetricAlertRule("node-memory", cluster_id, aks_ns, "node_memory_working_set_percentage", 90, "critical",
                            description="Node memory working set above 90% for 15 minutes."),
            MetricAlertRule("unschedulable-pods", cluster_id, aks_ns, "cluster_autoscaler_unschedulable_pods_count",
                            0, "warning", description="Pods the autoscaler cannot place (GPU quota or pool max?)."),
        ]
        if self.feature_store is not None and self.feature_store.cache is not None:
            # `usedmemorypercentage` and `serverLoad` are metrics of `Microsoft.Cache/redisEnterprise` (Microsoft,
            # *Supported metrics for Microsoft.Cache/redisEnterprise*); "keep server load under 80%" (Microsoft,
            # *Manage Server Load for Azure Managed Redis*). With `NoEviction` a full store refuses writes.
            redis_id = self.feature_store.cache.id
            redis_ns = "Microsoft.Cache/redisEnterprise"
            alerts += [
                MetricAlertRule("redis-memory", redis_id, redis_ns, "usedmemorypercentage", 90,
                                "critical", aggregation="Maximum", description="Online store memory above 90%."),
                MetricAlertRule("redis-server-load", redis_id, redis_ns, "serverLoad", 80, "warning",
                                description="Online store server load above 80%."),
            ]
        return alerts
