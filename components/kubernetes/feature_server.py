"""The Feast feature server: online features from the environment's Redis (TLS, password from a Secret),
offline store and registry in the environment's storage, its own workload identity and network policy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from aienv import conventions as c
from aienv.errors import ComponentInputError
from aienv.spec.model import FeatureStoreSpec
from components.contracts import BoundIdentity, OfflineStore, OnlineStoreEndpoint
from components.kubernetes import _common as common
from components.kubernetes.monitoring import templates

PORT = 6566
NAME = "feature-server"
CONFIG_DIR = "/etc/feast"
CA_DIR = "/etc/aienv/redis-ca"
CA_FILE = "ca.crt"


def registry_path(data_bucket_uri: str) -> str:
    """Feast's file registry next to the data: s3:// and gs:// natively, Azure Blob through `az://`."""
    uri = data_bucket_uri.rstrip("/")
    if uri.startswith("https://") and ".blob.core.windows.net/" in uri:
        container = uri.split(".blob.core.windows.net/", 1)[1]
        uri = f"az://{container}"
    return f"{uri}/feast/registry.db"


def render_feature_store(*, project: str, region: str, redis_host: str, redis_port: int, redis_tls: bool,
                         ttl_hours: int, offline: tuple[str, str] | None, data_bucket_uri: str,
                         redis_ca_path: str | None = None) -> str:
    """feature_store.yaml for the feature server (no secret in it: the password is `${REDIS_PASSWORD}`)."""
    kind, location = offline if offline else ("", "")
    offline_project, _, offline_dataset = location.partition(".") if kind == "bigquery" else ("", "", "")
    return templates().get_template("feature_store.yaml.j2").render(
        project=project, provider="local", registry_path=registry_path(data_bucket_uri), region=region,
        redis_host=redis_host, redis_port=redis_port, redis_tls=redis_tls, redis_ca_path=redis_ca_path,
        key_ttl_seconds=ttl_hours * 3600,
        offline_kind=kind, offline_project=offline_project, offline_dataset=offline_dataset)


@dataclass(frozen=True)
class FeatureServerArgs:
    environment: str
    prod: bool
    cloud: str
    region: str
    feature_store: FeatureStoreSpec
    online_store: OnlineStoreEndpoint | None
    offline_store: OfflineStore | None
    data_bucket_uri: pulumi.Input[str]
    registry_url: pulumi.Input[str]
    service_account: str
    identity: BoundIdentity
    labels: Mapping[str, str] = field(default_factory=dict)
    depends_on: Sequence[pulumi.Resource] = ()


class FeatureServer(pulumi.ComponentResource):
    """`aienv:kubernetes:FeatureServer`: Feast feature server Deployment, config, Service, PDB, policy."""

    def __init__(self, name: str, args: FeatureServerArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aienv:kubernetes:FeatureServer", name, None, opts)
        online = args.online_store
        if online is None:
            raise ComponentInputError("feature_store.online_store.enabled",
                                      "the feature server needs the online store; enable it")
        ns = c.FEATURES_NAMESPACE
        labels = {**common.base_labels(args.environment), **args.labels, c.COMPONENT_LABEL: c.COMPONENT_FEATURE_SERVER}
        selector = {c.COMPONENT_LABEL: c.COMPONENT_FEATURE_SERVER, "app.kubernetes.io/name": NAME}
        after = pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on))
        project = args.environment.replace("-", "_")
        ttl = max((v.ttl_hours for v in args.feature_store.feature_views), default=24)
        offline = args.offline_store
        offline_location: pulumi.Input[str] = offline.location if offline else ""

        self.service_account = k8s.core.v1.ServiceAccount(
            f"{name}-service-account",
            metadata=common.meta(args.service_account, ns, labels, args.identity.service_account_annotations),
            automount_service_account_token=False,
            opts=after)
        password = k8s.core.v1.Secret(
            f"{name}-redis",
            metadata=common.meta(f"{NAME}-redis", ns, labels),
            type="Opaque", string_data={"password": online.password},  # a secret Output (contracts)
            opts=after)
        redis_port = common.redis_port(args.cloud, online.port)
        config_text = pulumi.Output.all(online.host, redis_port, args.data_bucket_uri, offline_location).apply(
            lambda v: render_feature_store(
                project=project, region=args.region, redis_host=v[0], redis_port=int(v[1]), redis_tls=online.tls,
                ttl_hours=ttl, offline=(offline.kind, v[3]) if offline else None, data_bucket_uri=v[2],
                redis_ca_path=f"{CA_DIR}/{CA_FILE}" if online.ca_certificate is not None else None))
        ca_volumes: list[k8s.core.v1.VolumeArgs] = []
        ca_mounts: list[k8s.core.v1.VolumeMountArgs] = []
        ca_resources: list[pulumi.Resource] = []
        if online.ca_certificate is not None:
            ca = k8s.core.v1.ConfigMap(
                f"{name}-redis-ca",
                metadata=common.meta(f"{NAME}-redis-ca", ns, labels),
                data={CA_FILE: online.ca_certificate},
                opts=after)
            ca_resources.append(ca)
            ca_volumes.append(k8s.core.v1.VolumeArgs(name="redis-ca", config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(
                name=f"{NAME}-redis-ca")))
            ca_mounts.append(k8s.core.v1.VolumeMountArgs(name="redis-ca", mount_path=CA_DIR, read_only=True))
        config = k8s.core.v1.ConfigMap(
            f"{name}-config",
            metadata=common.meta(f"{NAME}-config", ns, labels),
            data={"feature_store.yaml": config_text},
            opts=after)
        pod_labels = {**labels, **selector, **args.identity.pod_labels}
        server = k8s.core.v1.ContainerArgs(
            name="feast",
            image=common.tool_image(args.registry_url, "feast"),
            command=["feast", "--chdir", CONFIG_DIR, "serve", "--host", "0.0.0.0", "--port", str(PORT),
                     "--no-access-log"],
            env=[k8s.core.v1.EnvVarArgs(name="REDIS_PASSWORD", value_from=k8s.core.v1.EnvVarSourceArgs(
                     secret_key_ref=k8s.core.v1.SecretKeySelectorArgs(name=f"{NAME}-redis", key="password"))),
                 k8s.core.v1.EnvVarArgs(name="HOME", value="/tmp"),
                 *([k8s.core.v1.EnvVarArgs(name="AWS_DEFAULT_REGION", value=args.region)] if args.cloud == "aws" else [])],
            ports=[k8s.core.v1.ContainerPortArgs(name="http", container_port=PORT, protocol="TCP")],
            resources=common.resources("1", "2Gi"),
            security_context=common.container_security(),
            volume_mounts=[k8s.core.v1.VolumeMountArgs(name="config", mount_path=CONFIG_DIR, read_only=True),
                           k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp"), *ca_mounts],
            startup_probe=k8s.core.v1.ProbeArgs(http_get=k8s.core.v1.HTTPGetActionArgs(path="/health", port="http"),
                                                period_seconds=5, failure_threshold=60),
            readiness_probe=k8s.core.v1.ProbeArgs(http_get=k8s.core.v1.HTTPGetActionArgs(path="/health", port="http"),
                                                  period_seconds=10, failure_threshold=3),
            liveness_probe=k8s.core.v1.ProbeArgs(http_get=k8s.core.v1.HTTPGetActionArgs(path="/health", port="http"),
                                                 period_seconds=20, failure_threshold=3))
        replicas = 2 if args.prod else 1
        self.deployment = k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata=common.meta(NAME, ns, labels),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=replicas,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=pod_labels),
                    spec=k8s.core.v1.PodSpecArgs(
                        service_account_name=args.service_account,
                        automount_service_account_token=False,
                        enable_service_links=False,
                        security_context=common.pod_security(),
                        containers=[server],
                        volumes=[k8s.core.v1.VolumeArgs(name="config", config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(
                                     name=f"{NAME}-config")),
                                 common.empty_dir("tmp", "1Gi"), *ca_volumes]))),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*args.depends_on, self.service_account, password,
                                                                 config, *ca_resources], delete_before_replace=True))
        k8s.core.v1.Service(
            f"{name}-service",
            metadata=common.meta(NAME, ns, labels),
            spec=k8s.core.v1.ServiceSpecArgs(type="ClusterIP", selector=selector, ports=[
                k8s.core.v1.ServicePortArgs(name="http", port=PORT, target_port="http", protocol="TCP")]),
            opts=after)
        k8s.policy.v1.PodDisruptionBudget(
            f"{name}-pdb",
            metadata=common.meta(NAME, ns, labels),
            spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
                max_unavailable=1, selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector)),
            opts=after)
        k8s.networking.v1.NetworkPolicy(
            f"{name}-network-policy",
            metadata=common.meta(NAME, ns, labels),
            spec=k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                policy_types=["Ingress", "Egress"],
                ingress=[k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                    from_=[common.namespace_peer(c.SERVING_NAMESPACE)], ports=common.tcp_ports(PORT))],
                egress=[k8s.networking.v1.NetworkPolicyEgressRuleArgs(
                            to=[k8s.networking.v1.NetworkPolicyPeerArgs(ip_block=k8s.networking.v1.IPBlockArgs(cidr=r))
                                for r in common.PRIVATE_RANGES],
                            ports=common.tcp_ports(redis_port)),
                        common.https_egress(), *common.metadata_egress(args.cloud)]),
            opts=after)
        self.url = f"http://{NAME}.{ns}.svc:{PORT}"
        self.register_outputs({"url": self.url, "project": project,
                               "offlineStore": offline.kind if offline else None})
