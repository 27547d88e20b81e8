"""The Feast feature server: online features from the environment's Redis (TLS, password from a Secret), the
registry in the foundation's `feature_registry_uri`, written by `feast apply` for the spec's feature views.

- ConfigMap `feature-server-config`: `feature_store.yaml` (registry store per the URI: s3:// and gs:// by
  scheme, Azure Blob with `registry_store_type: AzureRegistryStore` and the https blob URL) and `features.py`
  (one Entity per join key, one FeatureView per spec view, on a batch source in the offline store).
- Job `feast-apply` (the feature-server identity): `feast apply` registers the views and prepares the online
  store; it runs again whenever the rendered repository changes. Pulumi awaits it, so the server starts only
  once the registry exists (Feast's /health answers 503 without one).
- Deployment `feature-server`: `feast serve` on 6566 (`POST /get-online-features` for the spec's views).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from aienv import conventions as c
from aienv.errors import ComponentInputError
from aienv.spec.model import FeatureStoreSpec, FeatureView
from components.contracts import BoundIdentity, KubernetesSupport, OfflineStore, OnlineStoreEndpoint
from components.kubernetes import _common as common
from components.kubernetes.monitoring import templates

PORT = 6566
NAME = "feature-server"
APPLY_JOB = "feast-apply"
CONFIG_DIR = "/etc/feast"
REPO_DIR = "/tmp/feature-repo"
CA_DIR = "/etc/aienv/redis-ca"
CA_FILE = "ca.crt"
# Where the batch sources of the views live when the environment keeps no offline store (registry's folder).
SOURCES_DIR = "sources"

# Spec dtypes -> feast.types names (feast/types.py: Int64, Float32, Float64, String, Bool, Bytes, UnixTimestamp).
FEAST_TYPES = {"int64": "Int64", "float32": "Float32", "float64": "Float64", "string": "String", "bool": "Bool",
               "bytes": "Bytes", "unix_timestamp": "UnixTimestamp"}


def render_feature_store(*, project: str, region: str, registry_path: str, registry_store: str | None,
                         redis_host: str, redis_port: int, redis_tls: bool, ttl_hours: int,
                         offline: tuple[str, str] | None, redis_ca_path: str | None = None) -> str:
    """feature_store.yaml for the server and `feast apply` (no secret in it: the password is `${REDIS_PASSWORD}`)."""
    kind, location = offline if offline else ("", "")
    offline_project, _, offline_dataset = location.partition(".") if kind == "bigquery" else ("", "", "")
    return templates().get_template("feature_store.yaml.j2").render(
        project=project, provider="local", registry_path=registry_path, registry_store=registry_store,
        region=region, redis_host=redis_host, redis_port=redis_port, redis_tls=redis_tls,
        redis_ca_path=redis_ca_path, key_ttl_seconds=ttl_hours * 3600,
        offline_kind=kind, offline_project=offline_project, offline_dataset=offline_dataset)


def batch_location(view: str, offline: tuple[str, str] | None, registry_path: str) -> str:
    """Where a view's batch data is read from (materialization, training sets): a BigQuery table
    `project.dataset.<view>`, or a Parquet prefix `<offline location>/<view>/`."""
    if offline is not None:
        kind, location = offline
        return f"{location}.{view}" if kind == "bigquery" else f"{location.rstrip('/')}/{view}/"
    return f"{registry_path.rsplit('/', 1)[0]}/{SOURCES_DIR}/{view}/"


def render_features(views: Sequence[FeatureView], offline: tuple[str, str] | None, registry_path: str) -> str:
    """features.py: the spec's feature views as Feast objects. Join keys are strings (the spec gives no type)."""
    entities = list(dict.fromkeys(e for v in views for e in v.entities))
    used = sorted({FEAST_TYPES[f.dtype] for v in views for f in v.features})
    rendered = [{"name": v.name, "entities": v.entities, "ttl_hours": v.ttl_hours,
                 "location": batch_location(v.name, offline, registry_path),
                 "features": [{"name": f.name, "type": FEAST_TYPES[f.dtype]} for f in v.features]} for v in views]
    source_class = "BigQuerySource" if offline is not None and offline[0] == "bigquery" else "FileSource"
    text = templates().get_template("features.py.j2").render(
        source_class=source_class, feast_types=used, entities=entities, views=rendered)
    compile(text, "features.py", "exec")  # a template slip must fail the plan, not `feast apply`
    return text


@dataclass(frozen=True)
class FeatureServerArgs:
    environment: str
    prod: bool
    support: KubernetesSupport
    images: common.ImageRefs
    region: str
    feature_store: FeatureStoreSpec
    online_store: OnlineStoreEndpoint | None
    offline_store: OfflineStore | None
    registry_uri: pulumi.Input[str]  # foundation.feature_registry_uri
    service_account: str
    identity: BoundIdentity
    labels: Mapping[str, str] = field(default_factory=dict)
    depends_on: Sequence[pulumi.Resource] = ()


class FeatureServer(pulumi.ComponentResource):
    """`aienv:kubernetes:FeatureServer`: Feast registry (feast apply), feature server, Service, PDB, policy."""

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
        views = args.feature_store.feature_views
        ttl = max((v.ttl_hours for v in views), default=24)
        offline = args.offline_store
        offline_location: pulumi.Input[str] = offline.location if offline else ""
        support = args.support

        self.service_account = common.workload_service_account(
            name, self, args.service_account, ns, labels, args.identity, args.depends_on)
        password = k8s.core.v1.Secret(
            f"{name}-redis",
            metadata=common.meta(f"{NAME}-redis", ns, labels),
            type="Opaque", string_data={"password": online.password},  # a secret Output (contracts)
            opts=after)
        # The store's port when known, else the cloud's managed-Redis TLS port (a first preview).
        redis_port = pulumi.Output.from_input(online.port).apply(
            lambda p: int(p) if p else support.online_store_port)
        ca_path = f"{CA_DIR}/{CA_FILE}" if online.ca_certificate is not None else None
        rendered = pulumi.Output.all(online.host, redis_port, args.registry_uri, offline_location).apply(
            lambda v: {
                "feature_store.yaml": render_feature_store(
                    project=project, region=args.region, registry_path=v[2],
                    registry_store=support.feast_registry_store, redis_host=v[0], redis_port=int(v[1]),
                    redis_tls=online.tls, ttl_hours=ttl, offline=(offline.kind, v[3]) if offline else None,
                    redis_ca_path=ca_path),
                "features.py": render_features(views, (offline.kind, v[3]) if offline else None, v[2])})
        digest = rendered.apply(lambda files: hashlib.sha256(
            "\0".join(f"{k}\0{files[k]}" for k in sorted(files)).encode()).hexdigest()[:16])
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
            data=rendered,
            opts=after)
        env = [k8s.core.v1.EnvVarArgs(name="REDIS_PASSWORD", value_from=k8s.core.v1.EnvVarSourceArgs(
                   secret_key_ref=k8s.core.v1.SecretKeySelectorArgs(name=f"{NAME}-redis", key="password"))),
               *common.env({"HOME": "/tmp", "PYTHONDONTWRITEBYTECODE": "1", **support.workload_env})]
        mounts = [k8s.core.v1.VolumeMountArgs(name="config", mount_path=CONFIG_DIR, read_only=True),
                  k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp"), *ca_mounts]
        volumes = [k8s.core.v1.VolumeArgs(name="config", config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(
                       name=f"{NAME}-config")),
                   common.empty_dir("tmp", "1Gi"), *ca_volumes]
        image = args.images.tool("feast")
        supply = common.supply_annotations(ci_images=args.images.pushed_tool("feast"))
        pod_labels = {**labels, **args.identity.pod_labels}
        needs = [*args.depends_on, self.service_account, password, config, *ca_resources]

        # `feast apply` scans every .py file under the repository, and a ConfigMap mount holds each file twice
        # (the `..data` symlinks): it runs on a copy of the two files.
        self.apply_job = k8s.batch.v1.Job(
            f"{name}-apply",
            metadata=common.meta(APPLY_JOB, ns, labels),
            spec=k8s.batch.v1.JobSpecArgs(
                backoff_limit=4,
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(
                        labels={**pod_labels, "app.kubernetes.io/name": APPLY_JOB},
                        annotations={"aienv.io/feature-repo": digest, **supply}),
                    spec=k8s.core.v1.PodSpecArgs(
                        service_account_name=args.service_account, automount_service_account_token=False,
                        restart_policy="Never", enable_service_links=False, security_context=common.pod_security(),
                        containers=[k8s.core.v1.ContainerArgs(
                            name="apply", image=image,
                            command=common.script(
                                f'mkdir -p "{REPO_DIR}"',
                                f'cp "{CONFIG_DIR}/feature_store.yaml" "{CONFIG_DIR}/features.py" "{REPO_DIR}/"',
                                f'exec feast --chdir "{REPO_DIR}" apply --skip-source-validation'),
                            env=env, resources=common.resources("1", "2Gi"),
                            security_context=common.container_security(), volume_mounts=mounts)],
                        volumes=volumes))),
            # Awaited (a small job); the pod template changes with the repository, which replaces the Job.
            opts=pulumi.ResourceOptions(parent=self, depends_on=needs, replace_on_changes=["spec"],
                                        delete_before_replace=True,
                                        custom_timeouts=pulumi.CustomTimeouts(create="20m", update="20m")))

        server = k8s.core.v1.ContainerArgs(
            name="feast",
            image=image,
            command=["feast", "--chdir", CONFIG_DIR, "serve", "--host", "0.0.0.0", "--port", str(PORT),
                     "--no-access-log"],
            env=env,
            ports=[k8s.core.v1.ContainerPortArgs(name="http", container_port=PORT, protocol="TCP")],
            resources=common.resources("1", "2Gi"),
            security_context=common.container_security(),
            volume_mounts=mounts,
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
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels={**pod_labels, **selector},
                                                        annotations={"aienv.io/feature-repo": digest, **supply}),
                    spec=k8s.core.v1.PodSpecArgs(
                        service_account_name=args.service_account,
                        automount_service_account_token=False,
                        enable_service_links=False,
                        security_context=common.pod_security(),
                        containers=[server],
                        volumes=volumes))),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*needs, self.apply_job],
                                        delete_before_replace=True,
                                        custom_timeouts=pulumi.CustomTimeouts(create="20m", update="20m")))
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
        # The server and the apply job: Redis on the private network, the registry and token exchange over
        # HTTPS, the cloud identity endpoint; clients are the serving pods only.
        k8s.networking.v1.NetworkPolicy(
            f"{name}-network-policy",
            metadata=common.meta(NAME, ns, labels),
            spec=k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels={
                    c.COMPONENT_LABEL: c.COMPONENT_FEATURE_SERVER}),
                policy_types=["Ingress", "Egress"],
                ingress=[k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                    from_=[common.namespace_peer(c.SERVING_NAMESPACE, {c.COMPONENT_LABEL: c.COMPONENT_SERVING})],
                    ports=common.tcp_ports(PORT))],
                egress=[k8s.networking.v1.NetworkPolicyEgressRuleArgs(
                            to=[k8s.networking.v1.NetworkPolicyPeerArgs(ip_block=k8s.networking.v1.IPBlockArgs(cidr=r))
                                for r in common.PRIVATE_RANGES],
                            ports=common.tcp_ports(redis_port)),
                        common.https_egress(), *common.identity_egress(support.identity_egress)]),
            opts=after)
        self.url = f"http://{NAME}.{ns}.svc:{PORT}"
        self.register_outputs({"url": self.url, "project": project, "registry": args.registry_uri,
                               "featureViews": [v.name for v in views],
                               "offlineStore": offline.kind if offline else None})
