"""Azure ML managed feature store (offline store on ADLS Gen2, materialization identity, entities) and Azure Cache
for Redis, the Feast feature server's online store. Redis is not attached to the managed feature store (no
online-store connection), and nothing in the stack materializes features into it: until the team pushes or
materializes them, the feature server answers with null values."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_azure_native import machinelearningservices as ml
from pulumi_azure_native import managedidentity, redis

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
from components.azure.keys import Keys
from components.azure.logs import LogWorkspace
from components.azure.network import Network
from components.azure.registries import Registries, ml_encryption, ml_identity, ml_private_endpoint
from components.azure.storage import Storage

REDIS_PORT = 6380  # TLS; the non-TLS port 6379 stays closed
OFFLINE_CONNECTION = "OfflineStoreConnectionName"
_SPARK_RUNTIME = "3.4"
# size -> (family, capacity): highly available stores are Premium (zones, replicas), others Basic.
_REDIS_HA = {"small": 1, "medium": 2, "large": 3}
_REDIS_SINGLE = {"small": 1, "medium": 3, "large": 4}


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
    cache: redis.Redis | None
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
        self.redis_host = None
        self.redis_password = None
        online = spec.feature_store.online_store
        if online.enabled:
            ha = bool(online.high_availability)
            zones = [str(z) for z in range(1, spec.network.availability_zones + 1)]
            self.cache = redis.Redis(
                f"{name}-redis",
                redis.RedisArgs(
                    resource_group_name=rg, location=spec.region,
                    sku=redis.SkuArgs(name=redis.SkuName.PREMIUM, family=redis.SkuFamily.P,
                                      capacity=_REDIS_HA[online.size]) if ha else
                    redis.SkuArgs(name=redis.SkuName.BASIC, family=redis.SkuFamily.C,
                                  capacity=_REDIS_SINGLE[online.size]),
                    enable_non_ssl_port=False,
                    minimum_tls_version=redis.TlsVersion.TLS_VERSION_1_2,
                    public_network_access=redis.PublicNetworkAccess.DISABLED if private
                    else redis.PublicNetworkAccess.ENABLED,
                    redis_version="6",
                    # "the number of availability zones must always be less than or equal to the total number of
                    # nodes for the cache" (Microsoft, *Enable zone redundancy for Azure Cache for Redis*): one
                    # primary plus a replica in every other zone.
                    replicas_per_primary=len(zones) - 1 if ha else None,
                    zones=zones if ha else None,
                    # Access keys stay on: Feast 0.49's Redis store builds `redis.Redis(**kwargs)` from its
                    # `connection_string` (host:port,ssl=true,password=...), so it can send only a static password,
                    # while an Entra client "must periodically refresh the Microsoft Entra token before expiry"
                    # and re-AUTH (Microsoft, *Use Microsoft Entra for cache authentication*). The primary key goes
                    # to the feature server's Secret only; the packs flag this (`azure-redis-entra-only`).
                    disable_access_key_authentication=False,
                    # Entra ID on as well, so principals given an access policy can connect without the key.
                    redis_configuration=redis.RedisCommonPropertiesRedisConfigurationArgs(
                        aad_enabled="true", maxmemory_policy="allkeys-lru"),
                    identity=redis.ManagedServiceIdentityArgs(type=redis.ManagedServiceIdentityType.SYSTEM_ASSIGNED),
                    tags=tags(spec),
                ),
                stateful(spec, self),
            )
            if private:
                private_endpoint(f"{name}-redis-pe", parent=self, spec=spec, resource_group_name=rg,
                                 subnet_id=net.subnets["endpoints"].id, target_id=self.cache.id,
                                 group_id="redisCache", zone_ids=[net.dns_zones["redis"].id])
            self.redis_host = self.cache.host_name
            cache_keys = redis.list_redis_keys_output(name=self.cache.name, resource_group_name=rg,
                                                      opts=pulumi.InvokeOutputOptions(parent=self))
            self.redis_password = pulumi.Output.secret(cache_keys.primary_key)

        self.register_outputs({
            "featureStoreId": self.workspace.id,
            "materializationIdentityId": mat.id,
            "redisId": self.cache.id if self.cache else None,
            "redisHost": self.redis_host,
        })

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
