"""`aienv:gcp:FeatureStore`: a CMEK BigQuery offline store (a partitioned table per spec feature view,
registered in Vertex AI Feature Registry as a feature group with its features) and Memorystore for Redis,
the online store Feast serves from.

No Vertex AI online store: nothing in the environment reads one (Feast serves from Redis), Optimized online
serving cannot use a CMEK ("Only Bigtable online serving supports encryption using a CMEK",
cloud.google.com/vertex-ai/docs/featurestore/latest/create-onlinestore) and a private one needs a consumer
Private Service Connect endpoint of its own."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
from pulumi_gcp import bigquery, vertex
from pulumi_gcp import redis as memorystore

from aienv.spec.model import FeatureView, StackSpec
from components.gcp import common

BQ_TYPES = {"int64": "INT64", "float32": "FLOAT64", "float64": "FLOAT64", "string": "STRING", "bool": "BOOL",
            "bytes": "BYTES", "unix_timestamp": "TIMESTAMP"}
TIMESTAMP_COLUMN = "feature_timestamp"  # Vertex AI feature groups read point-in-time values from it
REDIS_GB = {"small": 4, "medium": 16, "large": 64}
REDIS_VERSION = "REDIS_7_2"


def table_schema(view: FeatureView) -> str:
    columns = [{"name": e, "type": "STRING", "mode": "REQUIRED"} for e in view.entities]
    columns += [{"name": f.name, "type": BQ_TYPES[f.dtype], "mode": "NULLABLE"} for f in view.features]
    columns.append({"name": TIMESTAMP_COLUMN, "type": "TIMESTAMP", "mode": "REQUIRED"})
    return json.dumps(columns)


@dataclass(frozen=True)
class FeatureStoreArgs:
    spec: StackSpec
    network: pulumi.Input[str]  # the VPC id Redis peers with
    project_number: pulumi.Input[str]
    keys: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    after: Sequence[pulumi.Resource] = ()


class FeatureStore(pulumi.ComponentResource):
    dataset: bigquery.Dataset | None
    redis: memorystore.Instance | None

    def __init__(self, name: str, args: FeatureStoreArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aienv:gcp:FeatureStore", name, None, opts)
        spec = args.spec
        fs = spec.feature_store
        project = spec.cloud.project
        protect = spec.security.deletion_protection
        policy = "PREVENT" if protect else "DELETE"
        stateful = pulumi.ResourceOptions(parent=self, protect=protect, retain_on_delete=protect,
                                          depends_on=list(args.after))
        self.dataset = None
        self.redis = None
        self.tables: dict[str, bigquery.Table] = {}
        self.feature_groups: dict[str, vertex.AiFeatureGroup] = {}
        snake = spec.name.replace("-", "_")

        if common.bigquery_on(spec):
            bq_key = args.keys.get(common.KEY_BIGQUERY)
            self.dataset = bigquery.Dataset(f"{name}-offline", bigquery.DatasetArgs(
                dataset_id=f"{snake}_features", location=spec.region, project=project,
                description=f"aienv {spec.name} offline feature store",
                default_encryption_configuration=bigquery.DatasetDefaultEncryptionConfigurationArgs(
                    kms_key_name=bq_key) if bq_key is not None else None,
                delete_contents_on_destroy=False, max_time_travel_hours="168", deletion_policy=policy,
                labels=common.labels(spec)), pulumi.ResourceOptions.merge(
                stateful, pulumi.ResourceOptions(delete_before_replace=True)))
            # The Vertex AI service agent reads the feature groups' BigQuery sources: that dataset only.
            reader = bigquery.DatasetIamMember(f"{name}-offline-vertex-reader", bigquery.DatasetIamMemberArgs(
                dataset_id=self.dataset.dataset_id, project=project, role="roles/bigquery.dataViewer",
                member=common.agent_email("aiplatform", args.project_number).apply(lambda e: f"serviceAccount:{e}")),
                pulumi.ResourceOptions(parent=self))
            for view in fs.feature_views:
                self._feature_view(name, spec, view, bq_key, policy, stateful, reader)

        if common.redis_on(spec):
            self.redis = self._redis(name, spec, args, stateful)

        self.offline_location: pulumi.Output[str] | None = (
            pulumi.Output.concat(project or "", ".", self.dataset.dataset_id) if self.dataset else None)
        self.register_outputs({
            "offlineStore": self.offline_location,
            "featureGroups": {k: g.id for k, g in self.feature_groups.items()},
            "redisHost": self.redis.host if self.redis else None,
        })

    def _feature_view(self, name: str, spec: StackSpec, view: FeatureView, bq_key: pulumi.Input[str] | None,
                      policy: str, stateful: pulumi.ResourceOptions, reader: pulumi.Resource) -> None:
        assert self.dataset is not None
        project = spec.cloud.project
        protect = spec.security.deletion_protection
        role = view.name.replace("_", "-")
        view_labels = common.labels(spec, {"feature-view": view.name})
        table = bigquery.Table(f"{name}-{role}-table", bigquery.TableArgs(
            dataset_id=self.dataset.dataset_id, table_id=view.name, project=project,
            schema=table_schema(view), deletion_protection=protect, deletion_policy=policy,
            time_partitioning=bigquery.TableTimePartitioningArgs(type="DAY", field=TIMESTAMP_COLUMN),
            clusterings=list(view.entities[:4]),
            encryption_configuration=bigquery.TableEncryptionConfigurationArgs(kms_key_name=bq_key)
            if bq_key is not None else None,
            labels=view_labels), stateful)
        group = vertex.AiFeatureGroup(f"{name}-{role}-group", vertex.AiFeatureGroupArgs(
            name=view.name, region=spec.region, project=project, deletion_policy=policy,
            description=f"Feature view {view.name}",
            big_query=vertex.AiFeatureGroupBigQueryArgs(
                big_query_source=vertex.AiFeatureGroupBigQueryBigQuerySourceArgs(
                    input_uri=pulumi.Output.concat("bq://", project or "", ".", self.dataset.dataset_id,
                                                   ".", table.table_id)),
                entity_id_columns=list(view.entities)),
            labels=view_labels),
            # Vertex reads the source table as its service agent, through the dataset grant: after it.
            pulumi.ResourceOptions.merge(stateful, pulumi.ResourceOptions(depends_on=[reader])))
        for f in view.features:
            vertex.AiFeatureGroupFeature(
                f"{name}-{role}-{f.name.replace('_', '-')}", vertex.AiFeatureGroupFeatureArgs(
                    name=f.name, feature_group=group.name, region=spec.region, project=project,
                    deletion_policy=policy),
                pulumi.ResourceOptions(parent=self, protect=protect))
        self.tables[view.name] = table
        self.feature_groups[view.name] = group

    def _redis(self, name: str, spec: StackSpec, args: FeatureStoreArgs,
               stateful: pulumi.ResourceOptions) -> memorystore.Instance:
        online = spec.feature_store.online_store
        protect = spec.security.deletion_protection
        # Instance ids are 1-40 characters: pinned, as an auto-name of a long environment would pass it.
        return memorystore.Instance(f"{name}-redis", memorystore.InstanceArgs(
            name=common.physical_name(spec, "redis", 40), region=spec.region, project=spec.cloud.project, display_name=f"aienv {spec.name} online store",
            tier="STANDARD_HA" if online.high_availability else "BASIC",
            memory_size_gb=REDIS_GB[online.size], redis_version=REDIS_VERSION,
            # Private IP only, on the environment's VPC.
            connect_mode="DIRECT_PEERING", authorized_network=args.network,
            auth_enabled=True, transit_encryption_mode="SERVER_AUTHENTICATION",
            customer_managed_key=args.keys.get(common.KEY_REDIS),
            persistence_config=memorystore.InstancePersistenceConfigArgs(
                persistence_mode="RDB", rdb_snapshot_period="ONE_HOUR" if spec.is_prod else "TWELVE_HOURS"),
            deletion_protection=protect, deletion_policy="PREVENT" if protect else "DELETE",
            labels=common.labels(spec)), pulumi.ResourceOptions.merge(
                stateful, pulumi.ResourceOptions(delete_before_replace=True)))
