"""The AWS foundation: every AWS component of one spec, wired together into a `CloudFoundation`."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from aienv.gpus import DRIVER_MODES
from aienv.spec.model import BucketPurpose, StackSpec
from components.aws._common import AwsEnv
from components.aws.audit import Audit, AuditArgs
from components.aws.budget import Budget, BudgetArgs
from components.aws.cluster import Cluster, ClusterArgs
from components.aws.feature_store import FeatureStore, FeatureStoreArgs
from components.aws.identity import FEAST_REGISTRY, Identity, IdentityArgs
from components.aws.keys import Keys, KeysArgs
from components.aws.kubernetes_support import kubernetes_support
from components.aws.mlops import aws_mlops
from components.aws.network import Network, NetworkArgs
from components.aws.node_identity import NodeIdentity, NodeIdentityArgs
from components.aws.registries import Registries, RegistriesArgs
from components.aws.storage import Storage, StorageArgs
from components.contracts import CloudFoundation

STORAGE_CLASS = "gp3-encrypted"


@dataclass(frozen=True)
class AwsFoundationArgs:
    spec: StackSpec  # resolved (environment defaults filled in)
    # False for the first phase of a two-phase first deploy (`aienv:layers: foundation`): no Kubernetes object
    # (the StorageClass), since the deployer cannot reach the private API server yet.
    kubernetes: bool = True


class AwsFoundation(pulumi.ComponentResource):
    """`aienv:aws:Foundation`: network, keys, storage, registries, cluster, feature store, identity, audit, budget.

    Every AWS resource goes through one explicit provider in the spec's region with the environment's
    default tags; the Kubernetes provider built from the cluster's kubeconfig is a child of this component.
    """

    outputs: CloudFoundation

    def __init__(self, name: str, args: AwsFoundationArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aienv:aws:Foundation", name, None, opts)
        spec = args.spec
        provisional = AwsEnv(spec=spec, account_id="")
        self.provider = aws.Provider(f"{name}-aws", aws.ProviderArgs(
            region=spec.region,
            default_tags=aws.ProviderDefaultTagsArgs(tags=provisional.base_tags()),
            allowed_account_ids=[spec.aws.account_id] if spec.aws.account_id else None,
        ), pulumi.ResourceOptions(parent=self))
        account_id: pulumi.Input[str] = spec.aws.account_id or aws.get_caller_identity_output(
            opts=pulumi.InvokeOutputOptions(parent=self, provider=self.provider)).account_id
        env = AwsEnv(spec=spec, account_id=account_id)

        def opts_() -> pulumi.ResourceOptions:
            return pulumi.ResourceOptions(parent=self, providers={"aws": self.provider})

        keys = Keys(f"{name}-keys", KeysArgs(env=env), opts_())
        network = Network(f"{name}-network", NetworkArgs(env=env, logs_key_arn=keys.arn("logs")), opts_())
        storage = Storage(f"{name}-storage", StorageArgs(env=env, key_arns={
            BucketPurpose.training_data: keys.arn("data"),
            BucketPurpose.model_artifacts: keys.arn("data"),
            BucketPurpose.feature_offline: keys.arn("features"),
            BucketPurpose.logs: keys.arn("logs"),
            BucketPurpose.access_logs: None,
        }), opts_())
        buckets = storage.buckets
        registries = Registries(f"{name}-registries", RegistriesArgs(
            env=env, registry_key_arn=keys.arn("registry"),
            model_bucket=buckets[BucketPurpose.model_artifacts].bucket), opts_())
        node_identity = NodeIdentity(f"{name}-node-identity", NodeIdentityArgs(env=env), opts_())
        cluster = Cluster(f"{name}-cluster", ClusterArgs(
            env=env, private_subnet_ids=network.private_subnet_ids,
            private_subnet_ids_by_zone=network.private_subnet_ids_by_zone,
            private_subnet_zones=network.private_subnet_zones,
            cluster_role_arn=node_identity.cluster_role.arn, node_role_arn=node_identity.node_role.arn,
            cluster_key_arn=keys.arn("cluster"), volume_key_arn=keys.arn("data"), logs_key_arn=keys.arn("logs"),
            roles_ready=[node_identity], egress_ready=network.egress_ready), opts_())

        features = None
        if spec.feature_store.enabled:
            offline = buckets.get(BucketPurpose.feature_offline)
            features = FeatureStore(f"{name}-features", FeatureStoreArgs(
                env=env, vpc_id=network.vpc_id, private_subnet_ids=network.private_subnet_ids,
                node_security_group_id=cluster.cluster_security_group_id, key_arn=keys.arn("features"),
                offline_bucket=offline.bucket if offline is not None else None,
                offline_bucket_arn=offline.arn if offline is not None else None), opts_())

        offline_bucket = buckets.get(BucketPurpose.feature_offline)
        identity = Identity(f"{name}-identity", IdentityArgs(
            env=env, oidc_provider_arn=cluster.oidc_provider.arn, oidc_issuer=cluster.oidc_issuer,
            model_bucket_arn=buckets[BucketPurpose.model_artifacts].arn,
            training_bucket_arn=buckets[BucketPurpose.training_data].arn,
            data_key_arn=keys.arn("data"),
            offline_bucket_arn=offline_bucket.arn if offline_bucket is not None else None,
            features_key_arn=keys.arn("features"),
        ), opts_())
        data_buckets = [BucketPurpose.training_data, BucketPurpose.model_artifacts, BucketPurpose.feature_offline]
        audit = Audit(f"{name}-audit", AuditArgs(
            env=env, logs_bucket=buckets[BucketPurpose.logs].bucket, logs_key_arn=keys.arn("logs"),
            data_event_bucket_arns=[buckets[p].arn for p in data_buckets if p in buckets],
            cluster_name=cluster.cluster_name,
            redis_member_ids=features.redis_member_ids() if features is not None else [],
            trail_ready=[storage]), opts_())
        Budget(f"{name}-budget", BudgetArgs(env=env, alert_topic_arn=audit.topic.arn,
                                            topic_ready=[audit.topic_policy]), opts_())

        # The kubeconfig's server is the cluster endpoint: private-only, it resolves to VPC addresses, which the
        # deployer reaches through its connected network (cluster.deployer) or the public endpoint's CIDRs.
        self.kube_provider = k8s.Provider(f"{name}-k8s", k8s.ProviderArgs(kubeconfig=cluster.kubeconfig),
                                          pulumi.ResourceOptions(parent=self))
        # Each workload's service account waits for its own role policy (BoundIdentity.ready), not for all.
        ready: list[pulumi.Resource] = list(cluster.ready)
        parameters: dict[str, pulumi.Input[str]] = {"type": "gp3", "encrypted": "true"}
        data_key = keys.arn("data")
        if data_key is not None:
            parameters["kmsKeyId"] = data_key
        if args.kubernetes:
            ready.append(k8s.storage.v1.StorageClass(f"{name}-{STORAGE_CLASS}", k8s.storage.v1.StorageClassInitArgs(
                metadata=k8s.meta.v1.ObjectMetaArgs(name=STORAGE_CLASS),
                provisioner="ebs.csi.aws.com",
                parameters=parameters,
                reclaim_policy="Delete",
                volume_binding_mode="WaitForFirstConsumer",
                allow_volume_expansion=True,
            ), pulumi.ResourceOptions(parent=self, provider=self.kube_provider, delete_before_replace=True,
                                      depends_on=[cluster.ebs_csi_addon, *cluster.deployer_rules])))

        self.outputs = CloudFoundation(
            cloud="aws",
            cluster_name=cluster.cluster_name,
            kubeconfig=cluster.kubeconfig,
            kube_provider=self.kube_provider,
            binder=identity.binder,
            model_bucket_uri=storage.uri(BucketPurpose.model_artifacts),
            data_bucket_uri=storage.uri(BucketPurpose.training_data),
            registry_url=registries.registry_url,
            gpu_pools=cluster.gpu_pools,
            driver_mode=DRIVER_MODES["aws"],
            autoscaler="cluster-autoscaler",
            storage_class=STORAGE_CLASS,
            region=spec.region,
            kubernetes=kubernetes_support(spec, parameters),
            online_store=features.online_store if features is not None else None,
            offline_store=features.offline_store if features is not None else None,
            cluster_ready=ready,
            images=registries.images,
            feature_registry_uri=(pulumi.Output.concat("s3://", offline_bucket.bucket, "/", FEAST_REGISTRY)
                                  if offline_bucket is not None else None),
            mlops=aws_mlops(f"{name}-mlops", env, identity, storage, keys, registries, opts_()),
        )
        self.register_outputs({
            "clusterName": cluster.cluster_name,
            "registryUrl": registries.registry_url,
            "modelBucket": self.outputs.model_bucket_uri,
            "dataBucket": self.outputs.data_bucket_uri,
            "kubeconfig": cluster.kubeconfig,
        })
