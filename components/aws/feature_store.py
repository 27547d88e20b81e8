"""SageMaker Feature Store feature groups per feature view (the offline store in S3 with its Glue catalog), and
ElastiCache Redis as the one online store.

Online features are served by Feast from Redis; the feature groups keep only an offline store (no SageMaker online
store that nothing reads or materializes into Redis).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from aienv import naming
from aienv.spec.model import FeatureView
from components.aws._common import AwsEnv, child, policy_json, stateful
from components.contracts import OfflineStore, OnlineStoreEndpoint

EVENT_TIME = "event_time"
COMPOSITE_KEY = "entity_key"
REDIS_PORT = 6379
REDIS_NODE = {"small": "cache.t4g.medium", "medium": "cache.r7g.large", "large": "cache.r7g.xlarge"}
_TYPES = {"int64": "Integral", "bool": "Integral", "float32": "Fractional", "float64": "Fractional",
          "unix_timestamp": "Fractional", "string": "String", "bytes": "String"}


@dataclass(frozen=True)
class FeatureStoreArgs:
    env: AwsEnv
    vpc_id: pulumi.Input[str]
    private_subnet_ids: Sequence[pulumi.Input[str]]
    node_security_group_id: pulumi.Input[str]  # the EKS cluster security group that nodes carry
    key_arn: pulumi.Input[str] | None  # None: AWS-owned keys
    offline_bucket: pulumi.Input[str] | None  # the feature-offline bucket (name); None: none
    offline_bucket_arn: pulumi.Input[str] | None


class FeatureStore(pulumi.ComponentResource):
    """`aienv:aws:FeatureStore`: offline-store feature groups (S3 with a Glue catalog) and Redis."""

    feature_groups: dict[str, aws.sagemaker.FeatureGroup]
    redis: aws.elasticache.ReplicationGroup | None
    online_store: OnlineStoreEndpoint | None
    offline_store: OfflineStore | None

    def __init__(self, name: str, args: FeatureStoreArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aienv:aws:FeatureStore", name, None, opts)
        env = args.env
        spec = env.spec
        fs = spec.feature_store
        self.feature_groups = {}
        self.redis = None
        self.online_store = None
        self.offline_store = None
        self.offline_policy: aws.iam.RolePolicy | None = None
        self._redis_members = 0
        offline_uri = None
        database = None
        if fs.offline_store and args.offline_bucket is not None and args.offline_bucket_arn is not None:
            offline_uri = pulumi.Output.concat("s3://", args.offline_bucket, "/feature-groups")
            self.offline_store = OfflineStore(kind="s3", location=offline_uri)
            database = aws.glue.CatalogDatabase(f"{name}-catalog", aws.glue.CatalogDatabaseArgs(
                name=f"{spec.name.replace('-', '_')}_features",
                description=f"Offline feature store of {spec.name}",
                location_uri=offline_uri,
                tags=env.tags("feature-catalog"),
            ), stateful(self, spec, delete_before_replace=True))
        if fs.feature_views and offline_uri is not None and database is not None:
            # A feature group without its offline store would hold nothing: none without `offline_store`.
            role = self._role(name, env, args, database)
            for view in fs.feature_views:
                self.feature_groups[view.name] = self._feature_group(name, env, view, args, offline_uri, database,
                                                                     role)

        if fs.online_store.enabled:
            self._redis(name, env, args)

        self.register_outputs({
            "featureGroups": {v: g.arn for v, g in self.feature_groups.items()},
            "redis": self.redis.arn if self.redis is not None else None,
            "offlineStore": offline_uri,
        })

    def _role(self, name: str, env: AwsEnv, args: FeatureStoreArgs, database: aws.glue.CatalogDatabase) -> aws.iam.Role:
        """The role SageMaker assumes for the feature groups: the offline store, its Glue tables, the key."""
        role = aws.iam.Role(f"{name}-sagemaker", aws.iam.RoleArgs(
            name_prefix=naming.aws_prefix(naming.AWS_IAM_ROLE_PREFIX, env.spec.name, "feature-store"),
            description=f"SageMaker Feature Store of {env.spec.name}: offline store, catalog, key",
            assume_role_policy=policy_json([{
                "Effect": "Allow", "Principal": {"Service": env.service("sagemaker")}, "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"aws:SourceAccount": env.account_id}},
            }]),
            tags=env.tags("feature-store"),
        ), child(self))
        statements: list[dict[str, Any]] = []
        if args.offline_bucket_arn is not None:
            statements += [
                # AmazonSageMakerFeatureStoreAccess grants the offline store "s3:PutObject", "s3:GetBucketAcl",
                # "s3:PutObjectAcl" (AWS managed policy reference).
                {"Effect": "Allow", "Action": ["s3:PutObject", "s3:PutObjectAcl", "s3:GetObject", "s3:DeleteObject"],
                 "Resource": pulumi.Output.concat(args.offline_bucket_arn, "/feature-groups/*")},
                {"Effect": "Allow", "Action": ["s3:GetBucketAcl", "s3:GetBucketLocation", "s3:ListBucket"],
                 "Resource": args.offline_bucket_arn},
                {"Effect": "Allow",
                 "Action": ["glue:GetDatabase", "glue:GetTable", "glue:CreateTable", "glue:UpdateTable",
                            "glue:GetPartitions", "glue:BatchCreatePartition"],
                 "Resource": [env.arn("glue", "catalog"), database.arn,
                              pulumi.Output.concat(env.arn("glue", "table/"), database.name, "/*")]},
            ]
        if args.key_arn is not None:
            statements.append({"Effect": "Allow", "Action": ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey*",
                                                             "kms:DescribeKey"], "Resource": args.key_arn})
        if statements:
            self.offline_policy = aws.iam.RolePolicy(f"{name}-sagemaker-access", aws.iam.RolePolicyArgs(
                role=role.id, policy=policy_json(statements)), child(self))
        return role

    def _feature_group(self, name: str, env: AwsEnv, view: FeatureView, args: FeatureStoreArgs,
                       offline_uri: pulumi.Output[str], database: aws.glue.CatalogDatabase,
                       role: aws.iam.Role) -> aws.sagemaker.FeatureGroup:
        spec = env.spec
        record_id = view.entities[0] if len(view.entities) == 1 else COMPOSITE_KEY
        names = [*view.entities, *(f.name for f in view.features)]
        definitions = [aws.sagemaker.FeatureGroupFeatureDefinitionArgs(feature_name=e, feature_type="String")
                       for e in view.entities]
        definitions += [aws.sagemaker.FeatureGroupFeatureDefinitionArgs(feature_name=f.name,
                                                                        feature_type=_TYPES[f.dtype])
                        for f in view.features]
        if record_id not in names:
            definitions.append(aws.sagemaker.FeatureGroupFeatureDefinitionArgs(feature_name=record_id,
                                                                               feature_type="String"))
        definitions.append(aws.sagemaker.FeatureGroupFeatureDefinitionArgs(feature_name=EVENT_TIME,
                                                                           feature_type="Fractional"))
        offline = aws.sagemaker.FeatureGroupOfflineStoreConfigArgs(
            s3_storage_config=aws.sagemaker.FeatureGroupOfflineStoreConfigS3StorageConfigArgs(
                s3_uri=offline_uri, kms_key_id=args.key_arn),
            data_catalog_config=aws.sagemaker.FeatureGroupOfflineStoreConfigDataCatalogConfigArgs(
                catalog="AwsDataCatalog", database=database.name, table_name=view.name),
            disable_glue_table_creation=False,
        )
        return aws.sagemaker.FeatureGroup(f"{name}-{view.name.replace('_', '-')}", aws.sagemaker.FeatureGroupArgs(
            feature_group_name=naming.aws_feature_group(spec.name, view.name),
            description=f"Feature view {view.name} of {spec.name}",
            record_identifier_feature_name=record_id,
            event_time_feature_name=EVENT_TIME,
            feature_definitions=definitions,
            offline_store_config=offline,
            role_arn=role.arn,
            tags=env.tags(f"fg-{view.name}", **{"aienv-feature-view": view.name}),
        ), stateful(self, spec, delete_before_replace=True,
                    depends_on=[self.offline_policy] if self.offline_policy is not None else None))

    def _redis(self, name: str, env: AwsEnv, args: FeatureStoreArgs) -> None:
        spec = env.spec
        online = spec.feature_store.online_store
        ha = bool(online.high_availability)
        subnets = aws.elasticache.SubnetGroup(f"{name}-redis-subnets", aws.elasticache.SubnetGroupArgs(
            name=f"{spec.name}-online-store", description=f"Private subnets of the {spec.name} online store",
            subnet_ids=list(args.private_subnet_ids), tags=env.tags("redis-subnets"),
        ), child(self, delete_before_replace=True))
        sg = aws.ec2.SecurityGroup(f"{name}-redis-sg", aws.ec2.SecurityGroupArgs(
            vpc_id=args.vpc_id, name_prefix=f"{spec.name}-online-store-",
            description="Redis online store: TLS from cluster nodes only", tags=env.tags("redis"),
        ), child(self))
        aws.vpc.SecurityGroupIngressRule(f"{name}-redis-from-nodes", aws.vpc.SecurityGroupIngressRuleArgs(
            security_group_id=sg.id, ip_protocol="tcp", from_port=REDIS_PORT, to_port=REDIS_PORT,
            referenced_security_group_id=args.node_security_group_id, description="Redis from EKS nodes",
        ), child(self))
        password = random.RandomPassword(f"{name}-redis-auth", random.RandomPasswordArgs(
            length=48, special=False), child(self))
        self._redis_members = 2 if ha else 1
        group_id = naming.aws_redis_group(spec.name)
        self.redis = aws.elasticache.ReplicationGroup(f"{name}-redis", aws.elasticache.ReplicationGroupArgs(
            replication_group_id=group_id,
            description=f"Online feature store of {spec.name}",
            engine="redis",
            engine_version="7.1",
            node_type=REDIS_NODE[online.size],
            port=REDIS_PORT,
            num_cache_clusters=self._redis_members,
            multi_az_enabled=ha,
            automatic_failover_enabled=ha,
            subnet_group_name=subnets.name,
            security_group_ids=[sg.id],
            at_rest_encryption_enabled=True,
            kms_key_id=args.key_arn,
            transit_encryption_enabled=True,
            auth_token=password.result,
            snapshot_retention_limit=7 if spec.is_prod else 1,
            final_snapshot_identifier=f"{group_id}-final" if spec.security.deletion_protection else None,
            auto_minor_version_upgrade=True,
            apply_immediately=not spec.is_prod,
            tags=env.tags("online-store"),
        ), stateful(self, spec, delete_before_replace=True, additional_secret_outputs=["authToken"]))
        self.online_store = OnlineStoreEndpoint(host=self.redis.primary_endpoint_address, port=REDIS_PORT,
                                                password=pulumi.Output.secret(password.result), tls=True)

    def redis_member_ids(self) -> list[pulumi.Output[str]]:
        """The cache cluster ids of the replication group's members (`<group>-001`, ...), for alarms."""
        redis = self.redis
        if redis is None:
            return []
        return [pulumi.Output.format("{0}-{1:03d}", redis.id, n) for n in range(1, self._redis_members + 1)]
