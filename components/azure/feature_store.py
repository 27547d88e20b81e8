"""Azure ML managed feature store (offline store on ADLS Gen2, materialization identity, entities) and Azure Managed
Redis, the Feast feature server's online store. Redis is not attached to the managed feature store (no
online-store connection), and nothing in the stack materializes features into it: until the team pushes or
materializes them, the feature server answers with null values. Not Azure Cache for Redis: its creation is blocked for
new customers since April 1, 2026 (Azure/PSRule.Rules.Azure `Azure.Redis.MigrateAMR`; docs/azure.md)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_azure_native import machinelearningservices as ml
from pulumi_azure_native import managedidentity, redisenterprise

from aienv.naming import azure_feature_store
from aienv.spec.model import BucketPurpose, StackSpec
from components.azure._shared import (
    ROLE_AZUREML_DATA_SCIENTIST,
    ROLE_STORAGE_BLOB_DATA_CONTRIBUTOR,
    assign_role,
    private_endpoint,
    stateful,
    tags,
)
from components.azure.keys import REDIS_PURPOSE, Keys, online_store_key
from components.azure.logs import LogWorkspace
from components.azure.network import Network
from components.azure.registries import Registries, ml_encryption, ml_identity, ml_private_endpoint
from components.azure.storage import Storage

# Azure Managed Redis: "TLS port [...] 10000" (Microsoft, *Understand the differences - Basic, Standard, and Premium
# tiers versus Azure Managed Redis*, "Key differences for client applications"); the database listens on it alone.
REDIS_PORT = 10000
OFFLINE_CONNECTION = "OfflineStoreConnectionName"
_SPARK_RUNTIME = "3.4"
# `online_store.size` -> Balanced (4:1 memory to vCPU) SKU: 6, 12 and 24 GB, the memory of the Premium P1/P2/P3
# caches this store used before. Sizes: "the B10/M10/X10 SKUs offer 12 GB of total memory" (ibid., "Choose the
# right memory size"), "Compute Optimized X20 (24 GB)" (Microsoft, *Scale an Azure Managed Redis instance*), and the
# 6/12/24 GB rows of the Balanced tier (Microsoft, *Azure Managed Redis architecture*, "Sharding configuration");
# about 20% of it is reserved ("Reserved memory", ibid.).
REDIS_SKU = {"small": redisenterprise.SkuName.BALANCED_B5, "medium": redisenterprise.SkuName.BALANCED_B10,
             "large": redisenterprise.SkuName.BALANCED_B20}


@dataclass(frozen=True)
class FeatureStoreArgs:
    spec: StackSpec
    network: Network
    keys: Keys
    storage: Storage
    registries: Registries
    logs: LogWorkspace


class FeatureStore(pulumi.ComponentResource):
    """`aienv:azure:FeatureStore`: built only when `feature_store.enabled`."""

    workspace: ml.Workspace
    materialization_identity: managedidentity.UserAssignedIdentity
    cache: redisenterprise.RedisEnterprise | None
    database: redisenterprise.Database | None
    redis_host: pulumi.Output[str] | None
    redis_password: pulumi.Output[str] | None

    def __init__(self, name: str, args: FeatureStoreArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aienv:azure:FeatureStore", name, None, opts)
        spec, net, keys, st = args.spec, args.network, args.keys, args.storage
        rg = net.resource_group_name
        subscription = spec.cloud.subscription_id or ""
        private = spec.network.private_endpoints
        offline = spec.feature_store.offline_store

        # Materialization jobs run as this identity: write to the offline store, read/write the feature store.
        self.materialization_identity = managedidentity.UserAssignedIdentity(
            f"{name}-materialization",
            managedidentity.UserAssignedIdentityArgs(resource_group_name=rg, location=spec.region, tags=tags(spec)),
            pulumi.ResourceOptions(parent=self),
        )
        mat = self.materialization_identity
        self.workspace = ml.Workspace(
            f"{name}-workspace",
            ml.WorkspaceArgs(
                resource_group_name=rg, location=spec.region, kind="FeatureStore",
                workspace_name=azure_feature_store(spec.name),
                friendly_name=f"{spec.name} feature store",
                sku=ml.SkuArgs(name="Basic", tier=ml.SkuTier.BASIC),
                identity=ml_identity(keys, mat.id),
                encryption=ml_encryption(keys),
                hbi_workspace=spec.is_prod,
                public_network_access=ml.PublicNetworkAccessType.DISABLED if private
                else ml.PublicNetworkAccessType.ENABLED,
                managed_network=ml.ManagedNetworkSettingsArgs(
                    isolation_mode=ml.IsolationMode.ALLOW_ONLY_APPROVED_OUTBOUND,
                    outbound_rules=self._offline_outbound_rules(st) if offline else None),
                feature_store_settings=ml.FeatureStoreSettingsArgs(
                    compute_runtime=ml.ComputeRuntimeDtoArgs(spark_runtime_version=_SPARK_RUNTIME),
                    offline_store_connection_name=OFFLINE_CONNECTION if offline else None,
                ),
                key_vault=keys.vault.id,
                storage_account=st.accounts["data"].id,
                container_registry=args.registries.acr.id,
                application_insights=args.logs.app_insights.id,
                system_datastores_auth_mode=ml.SystemDatastoresAuthMode.IDENTITY,
                tags=tags(spec),
            ),
            stateful(spec, self, depends_on=keys.ready),
        )
        if private:
            ml_private_endpoint(f"{name}-workspace-pe", parent=self, spec=spec, resource_group_name=rg, network=net,
                                workspace_id=self.workspace.id)
        assign_role(f"{name}-materialization-fs", parent=self, subscription_id=subscription,
                    role_id=ROLE_AZUREML_DATA_SCIENTIST, principal_id=mat.principal_id, scope=self.workspace.id)

        if offline:
            assign_role(f"{name}-materialization-offline", parent=self, subscription_id=subscription,
                        role_id=ROLE_STORAGE_BLOB_DATA_CONTRIBUTOR, principal_id=mat.principal_id,
                        scope=st.containers[BucketPurpose.feature_offline].id)
            ml.WorkspaceConnection(
                f"{name}-offline-connection",
                ml.WorkspaceConnectionArgs(
                    resource_group_name=rg, workspace_name=self.workspace.name, connection_name=OFFLINE_CONNECTION,
                    properties=ml.ManagedIdentityAuthTypeWorkspaceConnectionPropertiesArgs(
                        auth_type="ManagedIdentity", category=ml.ConnectionCategory.ADLS_GEN2,
                        # The container's ARM id, as the azure-ai-ml SDK writes it for `MaterializationStore(
                        # type="azure_data_lake_gen2", target=<container ARM id>)` (azure-ai-ml featurestore samples).
                        target=st.containers[BucketPurpose.feature_offline].id,
                        credentials=ml.WorkspaceConnectionManagedIdentityArgs(client_id=mat.client_id,
                                                                              resource_id=mat.id),
                    ),
                ),
                pulumi.ResourceOptions(parent=self),
            )

        # One entity container per join key the spec's feature views use.
        entities = sorted({e for view in spec.feature_store.feature_views for e in view.entities})
        for entity in entities:
            ml.FeaturestoreEntityContainerEntity(
                f"{name}-entity-{entity.replace('_', '-')}",
                ml.FeaturestoreEntityContainerEntityArgs(
                    resource_group_name=rg, workspace_name=self.workspace.name, name=entity,
                    properties=ml.FeaturestoreEntityContainerPropertiesArgs(
                        description=f"Join key `{entity}`.", tags=tags(spec)),
                ),
                pulumi.ResourceOptions(parent=self),
            )

        self.cache = None
        self.database = None
        self.redis_host = None
        self.redis_password = None
        online = spec.feature_store.online_store
        if online.enabled:
            self.cache, self.database = self._online_store(name, spec, rg, keys)
            if private:
                # "--group-ids "redisEnterprise"" and "A private DNS zone, named `*.privatelink.redis.azure.net`"
                # (Microsoft, *Azure Managed Redis with Azure Private Link*).
                private_endpoint(f"{name}-redis-pe", parent=self, spec=spec, resource_group_name=rg,
                                 subnet_id=net.subnets["endpoints"].id, target_id=self.cache.id,
                                 group_id="redisEnterprise", zone_ids=[net.dns_zones["redis"].id])
            # "Your application should connect to `<cachename>.<region>.redis.azure.net` on port `10000`" (ibid.):
            # the cluster's `hostName`, resolved to the private endpoint through the zone above.
            self.redis_host = self.cache.host_name
            db_keys = redisenterprise.list_database_keys_output(
                cluster_name=self.cache.name, database_name=self.database.name, resource_group_name=rg,
                opts=pulumi.InvokeOutputOptions(parent=self))
            self.redis_password = pulumi.Output.secret(db_keys.primary_key)

        self.register_outputs({
            "featureStoreId": self.workspace.id,
            "materializationIdentityId": mat.id,
            "redisId": self.cache.id if self.cache else None,
            "redisDatabaseId": self.database.id if self.database else None,
            "redisHost": self.redis_host,
        })

    def _online_store(self, name: str, spec: StackSpec, rg: pulumi.Input[str],
                      keys: Keys) -> tuple[redisenterprise.RedisEnterprise, redisenterprise.Database]:
        """Azure Managed Redis: one cluster and its one database, TLS only, private, no silent eviction."""
        online = spec.feature_store.online_store
        private = spec.network.private_endpoints
        ha = bool(online.high_availability)
        encryption = None
        identity = None
        if online_store_key(spec):
            cmk_identity = keys.identities[REDIS_PURPOSE]
            identity = redisenterprise.ManagedServiceIdentityArgs(
                type=redisenterprise.ManagedServiceIdentityType.USER_ASSIGNED,
                user_assigned_identities=[cmk_identity.id])
            encryption = redisenterprise.ClusterPropertiesEncryptionArgs(
                customer_managed_key_encryption=redisenterprise.ClusterPropertiesCustomerManagedKeyEncryptionArgs(
                    key_encryption_key_identity=redisenterprise.ClusterPropertiesKeyEncryptionKeyIdentityArgs(
                        identity_type=redisenterprise.CmkIdentityType.USER_ASSIGNED_IDENTITY,
                        user_assigned_identity_resource_id=cmk_identity.id),
                    # "Key encryption key Url, versioned only" (azure-native): the version never expires
                    # (keys.py PINNED_VERSION_KEYS).
                    key_encryption_key_url=keys.keys[REDIS_PURPOSE].key_uri_with_version))
        cluster = redisenterprise.RedisEnterprise(
            f"{name}-redis",
            redisenterprise.RedisEnterpriseArgs(
                resource_group_name=rg, location=spec.region,
                sku=redisenterprise.SkuArgs(name=REDIS_SKU[online.size]),
                # "To make a cache zone-redundant, you must deploy it into a supported region and enable high
                # availability configuration [...] it automatically includes zone redundancy by default. There's
                # no need for you to perform any more configuration." (Microsoft, *Reliability in Azure Managed
                # Redis*): no `zones`; a region without zones still gets two nodes.
                high_availability=redisenterprise.HighAvailability.ENABLED if ha
                else redisenterprise.HighAvailability.DISABLED,
                minimum_tls_version=redisenterprise.TlsVersion.TLS_VERSION_1_2,
                public_network_access=redisenterprise.PublicNetworkAccess.DISABLED if private
                else redisenterprise.PublicNetworkAccess.ENABLED,
                identity=identity,
                encryption=encryption,
                tags=tags(spec),
            ),
            stateful(spec, self, depends_on=keys.ready),
        )
        database = redisenterprise.Database(
            f"{name}-redis-db",
            redisenterprise.DatabaseArgs(
                resource_group_name=rg, cluster_name=cluster.name,
                # Azure Managed Redis "supports only a single database" (Microsoft, *Understand the differences -
                # Basic, Standard, and Premium tiers versus Azure Managed Redis*); Microsoft's Bicep quickstart
                # names it `default`.
                database_name="default",
                client_protocol=redisenterprise.Protocol.ENCRYPTED,
                port=REDIS_PORT,
                # "The Enterprise clustering policy is a simpler configuration that utilizes a single endpoint for
                # all client connections [...] Redis client libraries don't need to support Redis Clustering"
                # (Microsoft, *Azure Managed Redis architecture*): Feast's `redis_type: redis` builds a plain
                # `redis.Redis`, whose single-key HMGET/HSET pipelines (`transaction=False`) need no cross-slot
                # command. OSSCluster "requires all clients to support redis clustering" (azure-native enum).
                clustering_policy=redisenterprise.ClusteringPolicy.ENTERPRISE_CLUSTER,
                # Every Feast key carries a TTL (`key_ttl_seconds`), so the default VolatileLRU would silently evict
                # features under memory pressure; with NoEviction a full store refuses writes instead, and the
                # `redis-memory` alert fires at 90% (foundation.py).
                eviction_policy=redisenterprise.EvictionPolicy.NO_EVICTION,
                # Feast 0.49's Redis store can send only a static password (docs/azure.md, "Redis keeps
                # access-key authentication"); the packs flag this (`azure-redis-entra-only`).
                access_keys_authentication=redisenterprise.AccessKeysAuthentication.ENABLED,
            ),
            stateful(spec, self),
        )
        return cluster, database

    @staticmethod
    def _offline_outbound_rules(st: Storage) -> dict[str, pulumi.Input[ml.PrivateEndpointOutboundRuleArgs]]:
        """Managed private endpoints from the feature store's managed network to the offline store's account.

        Under `AllowOnlyApprovedOutbound` the managed network reaches only the workspace's own storage, vault
        and registry by default; materialisation (Spark) reads and writes the `lake` account through these
        `dfs` and `blob` endpoints, Spark-enabled.
        """
        lake = st.account_for(BucketPurpose.feature_offline)
        return {
            f"offline-{group}": ml.PrivateEndpointOutboundRuleArgs(
                type="PrivateEndpoint", category=ml.RuleCategory.USER_DEFINED,
                destination=ml.PrivateEndpointDestinationArgs(
                    service_resource_id=lake.id, subresource_target=group, spark_enabled=True))
            for group in ("dfs", "blob")
        }
