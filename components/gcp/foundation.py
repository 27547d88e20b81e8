"""`aienv:gcp:Foundation`: the whole GCP side of an environment, composed from one component per concern,
and the `CloudFoundation` the shared Kubernetes layer runs on."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
from pulumi_gcp import Provider, ProviderArgs, container, organizations

from aienv.gpus import DRIVER_MODES
from aienv.spec.model import BucketPurpose, StackSpec
from components.contracts import CloudFoundation, OfflineStore, OnlineStoreEndpoint
from components.gcp import common
from components.gcp.audit import Audit, AuditArgs
from components.gcp.budget import Budget, BudgetArgs
from components.gcp.cluster import Cluster, ClusterArgs
from components.gcp.feature_store import FeatureStore, FeatureStoreArgs
from components.gcp.identity import FEAST_FOLDER, Identity, IdentityArgs
from components.gcp.keys import Keys, KeysArgs
from components.gcp.kubernetes_support import kubernetes_support
from components.gcp.mlops_support import mlops_support
from components.gcp.network import Network, NetworkArgs
from components.gcp.registries import Registries, RegistriesArgs
from components.gcp.storage import Storage, StorageArgs

STORAGE_CLASS = "aienv-encrypted"
PD_CSI = "pd.csi.storage.gke.io"


def kubeconfig(cluster_name: str, endpoint: str, ca: str | None) -> str:
    """A kubeconfig that authenticates with `gke-gcloud-auth-plugin` (no static credentials). `ca` None: the
    server's certificate is publicly trusted (the DNS-based endpoint)."""
    trust = f"\n    certificate-authority-data: {ca}" if ca else ""
    return f"""apiVersion: v1
kind: Config
clusters:
- name: {cluster_name}
  cluster:
    server: https://{endpoint}{trust}
contexts:
- name: {cluster_name}
  context:
    cluster: {cluster_name}
    user: {cluster_name}
current-context: {cluster_name}
users:
- name: {cluster_name}
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      command: gke-gcloud-auth-plugin
      installHint: Install gke-gcloud-auth-plugin (gcloud components install gke-gcloud-auth-plugin).
      provideClusterInfo: true
"""


def ca_bundle(certs: Sequence[Any] | None) -> str | None:
    """Every CA Memorystore lists, as one PEM bundle: during a server-CA rotation the instance serves
    certificates from the old or the new CA, and clients trusting only the first would fail TLS."""
    pems = [c.cert.strip() for c in certs or [] if c.cert]
    return "\n".join(pems) + "\n" if pems else None


def private_api(spec: StackSpec) -> bool:
    return spec.cluster.api_access.value == "private"


def api_endpoint(spec: StackSpec, gke: container.Cluster) -> pulumi.Output[str | None]:
    """The API server address the deployer uses: the IAM-authorised DNS endpoint (`dns_endpoint`), the private
    IP (`private_network`, from inside the VPC or over VPN/Interconnect), or the public IP (`api_access:
    public`, limited to `api_allowed_cidrs`)."""
    if not private_api(spec):
        return gke.endpoint
    if spec.cluster.deployer.path == "dns_endpoint":
        return gke.control_plane_endpoints_config.apply(
            lambda c: c.dns_endpoint_config.endpoint if c and c.dns_endpoint_config else None)
    return gke.private_cluster_config.apply(
        lambda p: p.private_endpoint if p else None)


@dataclass(frozen=True)
class GcpFoundationArgs:
    spec: StackSpec
    # False: the first phase of a two-phase first deploy (`aienv:layers: foundation`), no Kubernetes object.
    kubernetes: bool = True


class GcpFoundation(pulumi.ComponentResource):
    outputs: CloudFoundation

    def __init__(self, name: str, args: GcpFoundationArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aienv:gcp:Foundation", name, None, opts)
        spec = args.spec
        self.provider = Provider(f"{name}-gcp", ProviderArgs(
            project=spec.cloud.project, region=spec.region, default_labels=common.labels(spec)),
            pulumi.ResourceOptions(parent=self))
        child = pulumi.ResourceOptions(parent=self, providers={"gcp": self.provider})

        project_number: pulumi.Input[str] = spec.gcp.project_number or organizations.get_project_output(
            project_id=spec.cloud.project, opts=pulumi.InvokeOutputOptions(provider=self.provider)
        ).number.apply(lambda n: n or "")

        self.network = Network(f"{name}-network", NetworkArgs(spec=spec), child)
        services = self.network.services

        self.keys: Keys | None = None
        keys: dict[str, pulumi.Input[str]] = {}
        after: list[pulumi.Resource] = list(services)
        if common.cmek(spec):
            self.keys = Keys(f"{name}-keys", KeysArgs(spec=spec, project_number=project_number, services=services),
                             child)
            keys = dict(self.keys.keys)
            after += self.keys.ready  # the key grants, once propagated

        self.storage = Storage(f"{name}-storage", StorageArgs(spec=spec, keys=keys, after=after), child)
        self.registries = Registries(f"{name}-registries", RegistriesArgs(
            spec=spec, keys=keys, after=after, project_number=project_number), child)

        self.feature_store: FeatureStore | None = None
        if spec.feature_store.enabled:
            self.feature_store = FeatureStore(f"{name}-features", FeatureStoreArgs(
                spec=spec, network=self.network.vpc.id, project_number=project_number, keys=keys, after=after),
                child)

        self.cluster = Cluster(f"{name}-cluster", ClusterArgs(
            spec=spec, network=self.network.vpc.id, network_name=self.network.vpc.name, subnet=self.network.subnet.id,
            master_cidr=self.network.plan.master, node_cidr=self.network.plan.nodes,
            repositories={"": self.registries.repository, **{
                host.replace(".", "-"): repo for host, repo in self.registries.remotes.items()}},
            keys=keys, after=after), child)
        gke = self.cluster.cluster

        fs = self.feature_store
        self.identity = Identity(f"{name}-identity", IdentityArgs(
            spec=spec, buckets=self.storage.buckets, dataset=fs.dataset if fs else None, cluster=gke,
            after=services), child)

        self.audit = Audit(f"{name}-audit", AuditArgs(
            spec=spec, log_bucket=self.storage.buckets[BucketPurpose.logs], cluster_name=gke.name,
            redis=fs.redis if fs else None, after=services), child)

        self.budget: Budget | None = None
        if spec.budget is not None:
            self.budget = Budget(f"{name}-budget", BudgetArgs(spec=spec, project_number=project_number,
                                                                        after=services), child)

        # Kubeconfig on the endpoint the deployer reaches (docs/deploy.md); a string Output, no resources in apply.
        self.api_endpoint = api_endpoint(spec, gke)
        ca = None if spec.cluster.deployer.path == "dns_endpoint" and private_api(spec) else \
            gke.master_auth.cluster_ca_certificate
        self.kubeconfig: pulumi.Output[str] = pulumi.Output.secret(pulumi.Output.all(
            gke.name, self.api_endpoint, ca,
        ).apply(lambda v: kubeconfig(f"gke_{spec.cloud.project}_{spec.region}_{v[0]}", v[1], v[2])))
        node_pools = list(self.cluster.node_pools.values())
        self.kube_provider = k8s.Provider(f"{name}-k8s", k8s.ProviderArgs(
            kubeconfig=self.kubeconfig, enable_server_side_apply=True),
            pulumi.ResourceOptions(parent=self, depends_on=node_pools))

        disk_key = keys.get(common.KEY_DISKS)
        # Nothing talks to the API server in the first phase of a two-phase first deploy (docs/deploy.md).
        self.storage_class: k8s.storage.v1.StorageClass | None = None
        if args.kubernetes:
            self.storage_class = k8s.storage.v1.StorageClass(
                f"{name}-storage-class", k8s.storage.v1.StorageClassInitArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(name=STORAGE_CLASS),
                    provisioner=PD_CSI,
                    parameters={"type": "pd-balanced", **({"disk-encryption-kms-key": disk_key} if disk_key else {})},
                    volume_binding_mode="WaitForFirstConsumer", allow_volume_expansion=True, reclaim_policy="Retain"),
                pulumi.ResourceOptions(parent=self, provider=self.kube_provider, depends_on=node_pools))

        online = fs.redis if fs else None
        self.outputs = CloudFoundation(
            cloud="gcp",
            cluster_name=gke.name,
            kubeconfig=self.kubeconfig,
            kube_provider=self.kube_provider,
            binder=self.identity.binder,
            model_bucket_uri=self.storage.model_bucket.url,
            data_bucket_uri=self.storage.data_bucket.url,
            registry_url=self.registries.registry_url,
            images=self.registries.images,
            gpu_pools=self.cluster.gpu_pools,
            driver_mode=DRIVER_MODES["gcp"],
            autoscaler="cloud",
            storage_class=STORAGE_CLASS,
            region=spec.region,
            kubernetes=kubernetes_support(spec, disk_key),
            online_store=OnlineStoreEndpoint(
                host=online.host, port=online.port, password=pulumi.Output.secret(online.auth_string), tls=True,
                # Memorystore signs its TLS certificate with a per-instance CA that clients must trust.
                ca_certificate=online.server_ca_certs.apply(ca_bundle))  # type: ignore[arg-type]
            if online is not None else None,
            offline_store=OfflineStore(kind="bigquery", location=fs.offline_location)
            if fs is not None and fs.offline_location is not None else None,
            cluster_ready=[*node_pools, *([self.storage_class] if self.storage_class else [])],
            # Feast's registry in the feature-offline bucket; the feature-server identity owns its `feast/` folder.
            feature_registry_uri=pulumi.Output.concat(
                self.storage.buckets[BucketPurpose.feature_offline].url, "/", FEAST_FOLDER, "registry.db")
            if BucketPurpose.feature_offline in self.storage.buckets else None,
            mlops=mlops_support(spec, {e: a.email for e, a in self.identity.pipeline_accounts.items()},
                                self.storage.data_bucket.url, keys.get(common.KEY_VERTEX), self.identity.mlops_grants),
        )
        self.register_outputs({
            "clusterName": gke.name, "registryUrl": self.registries.registry_url,
            "modelBucket": self.storage.model_bucket.url, "dataBucket": self.storage.data_bucket.url,
            "kubeconfig": self.kubeconfig, "storageClass": STORAGE_CLASS,
            "featureRegistry": self.outputs.feature_registry_uri, "apiEndpoint": self.api_endpoint,
        })
