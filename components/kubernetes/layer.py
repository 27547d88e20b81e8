"""The shared Kubernetes layer: the same add-ons, serving, monitoring and drift on EKS, AKS and GKE.

Order on the cluster: namespaces -> kube-prometheus-stack (CRDs for ServiceMonitor/PrometheusRule) ->
GPU stack, node autoscaler, Envoy Gateway (Gateway API CRDs) -> per endpoint: serving, monitoring,
drift -> feature server. Everything waits for `foundation.cluster_ready` (node pools, access entries).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from aienv.errors import spec_field
from aienv.spec.model import Exposure, StackSpec
from aienv.workloads import Workload, workloads
from components.contracts import CloudFoundation
from components.kubernetes import _common as common
from components.kubernetes.autoscaler import ClusterAutoscaler, ClusterAutoscalerArgs
from components.kubernetes.drift import DriftMonitor, DriftMonitorArgs
from components.kubernetes.feature_server import FeatureServer, FeatureServerArgs
from components.kubernetes.gateway import Gateway, GatewayArgs
from components.kubernetes.gpu_stack import GpuStack, GpuStackArgs
from components.kubernetes.monitoring import EndpointMonitoring, EndpointMonitoringArgs
from components.kubernetes.namespaces import Namespaces, NamespacesArgs
from components.kubernetes.observability import Observability, ObservabilityArgs
from components.kubernetes.serving import ModelEndpoint, ModelEndpointArgs


@dataclass(frozen=True)
class KubernetesLayerArgs:
    spec: StackSpec  # resolved: environment-dependent fields are set
    foundation: CloudFoundation


class KubernetesLayer(pulumi.ComponentResource):
    """`aienv:kubernetes:KubernetesLayer`: everything aienv runs on the cluster."""

    def __init__(self, name: str, args: KubernetesLayerArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aienv:kubernetes:KubernetesLayer", name, None, opts)
        spec, fdn = args.spec, args.foundation
        env = spec.name
        ready = list(fdn.cluster_ready)
        child = pulumi.ResourceOptions(parent=self)
        by_key: dict[str, Workload] = {w.key: w for w in workloads(spec)}

        def workload(key: str) -> Workload:
            return by_key[key]

        self.namespaces = Namespaces(
            f"{name}-namespaces", NamespacesArgs(environment=env, feature_store=spec.feature_store.enabled,
                                                 labels=spec_labels(spec)),
            pulumi.ResourceOptions(parent=self, depends_on=ready))
        base = [*ready, *self.namespaces.ready]

        self.observability = Observability(
            f"{name}-observability",
            ObservabilityArgs(environment=env, prod=spec.is_prod, monitoring=spec.monitoring,
                              storage_class=fdn.storage_class, depends_on=base), child)
        with_crds = [*base, *self.observability.ready]

        spec_pools = spec.cluster.gpu_pools
        self.gpu_stack = GpuStack(
            f"{name}-gpu", GpuStackArgs(environment=env, driver_mode=fdn.driver_mode,
                                        has_gpu_pools=bool(fdn.gpu_pools),
                                        extra_taints=[t for p in spec_pools for t in p.taints],
                                        depends_on=with_crds), child)

        autoscaler_workload = by_key.get("cluster-autoscaler")
        self.autoscaler = ClusterAutoscaler(
            f"{name}-autoscaler",
            ClusterAutoscalerArgs(
                environment=env, mode=fdn.autoscaler, cloud=fdn.cloud, region=fdn.region,
                cluster_name=fdn.cluster_name, kubernetes_version=spec.cluster.kubernetes_version,
                gpu_pools=fdn.gpu_pools, spec_pools=spec_pools, workload=autoscaler_workload,
                identity=(fdn.binder.bind(autoscaler_workload)
                          if autoscaler_workload and fdn.autoscaler == "cluster-autoscaler" else None),
                depends_on=base), child)

        self.gateway = Gateway(
            f"{name}-gateway",
            GatewayArgs(environment=env, cloud=fdn.cloud, prod=spec.is_prod,
                        exposures=[e.exposure for e in spec.model_endpoints], depends_on=base), child)
        edge = [*base, *self.gateway.ready]

        self.endpoints: dict[str, ModelEndpoint] = {}
        online_port = common.redis_port(fdn.cloud, fdn.online_store.port) if fdn.online_store else None
        for index, ep in enumerate(spec.model_endpoints):
            with spec_field(f"model_endpoints[{index}]"):  # named in any error from this endpoint
                serving = workload(f"serving-{ep.name}")
                endpoint = ModelEndpoint(
                    f"{name}-{ep.name}",
                    ModelEndpointArgs(
                        endpoint=ep, index=index, environment=env, cloud=fdn.cloud, region=fdn.region,
                        registry_url=fdn.registry_url, model_bucket_uri=fdn.model_bucket_uri,
                        gpu_pools=fdn.gpu_pools, spec_pools=spec_pools, service_account=serving.service_account,
                        identity=fdn.binder.bind(serving), online_store_port=online_port, depends_on=edge),
                    child)
                self.endpoints[ep.name] = endpoint
                EndpointMonitoring(
                    f"{name}-{ep.name}-monitoring",
                    EndpointMonitoringArgs(endpoint=ep, environment=env, thresholds=spec.monitoring.thresholds,
                                           drift=spec.monitoring.drift,
                                           depends_on=[*with_crds, *endpoint.services.values()]),
                    child)
                drift = workload(f"drift-{ep.name}")
                DriftMonitor(
                    f"{name}-{ep.name}-drift",
                    DriftMonitorArgs(endpoint=ep.name, environment=env, cloud=fdn.cloud, drift=spec.monitoring.drift,
                                     registry_url=fdn.registry_url, data_bucket_uri=fdn.data_bucket_uri,
                                     pushgateway_url=self.observability.pushgateway_url,
                                     service_account=drift.service_account, identity=fdn.binder.bind(drift),
                                     depends_on=with_crds),
                    child)

        self.feature_server: FeatureServer | None = None
        if spec.feature_store.enabled:
            feature = workload("feature-server")
            with spec_field("feature_store"):
                self.feature_server = FeatureServer(
                    f"{name}-feature-server",
                    FeatureServerArgs(environment=env, prod=spec.is_prod, cloud=fdn.cloud, region=fdn.region,
                                      feature_store=spec.feature_store, online_store=fdn.online_store,
                                      offline_store=fdn.offline_store, data_bucket_uri=fdn.data_bucket_uri,
                                      registry_url=fdn.registry_url, service_account=feature.service_account,
                                      identity=fdn.binder.bind(feature), depends_on=base),
                    child)

        self.charts = {key: ref.version for key, ref in common.CHARTS.items()}
        self.register_outputs({
            "namespaces": sorted(self.namespaces.namespaces),
            "charts": self.charts,
            "gpuStack": self.gpu_stack.driver_mode,
            "autoscaler": {"mode": self.autoscaler.mode, "installed": self.autoscaler.installed,
                           "reason": self.autoscaler.reason},
            "gateways": {e.value: f"aienv-{e.value}" for e in self.gateway.gateways},
            "endpoints": {n: {"exposure": spec_ep.exposure.value, "path": f"/{n}",
                              "gateway": f"aienv-{spec_ep.exposure.value}"}
                          for n, spec_ep in ((e.name, e) for e in spec.model_endpoints)},
            "featureServer": self.feature_server.url if self.feature_server else None,
            "publicEndpoints": [e.name for e in spec.model_endpoints if e.exposure is Exposure.public],
        })


def spec_labels(spec: StackSpec) -> dict[str, str]:
    """The spec's extra tags, where they are valid Kubernetes label values."""
    out: dict[str, str] = {}
    for key, value in spec.tags.items():
        if common.label_value_ok(key, value):
            out[f"aienv.io/{key}"] = value
    return out
