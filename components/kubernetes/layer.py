"""The shared Kubernetes layer: the same add-ons, serving, monitoring and drift on EKS, AKS and GKE.

Order on the cluster: namespaces, scratch storage class -> kube-prometheus-stack (CRDs for
ServiceMonitor/PrometheusRule) -> GPU stack, node autoscaler, Envoy Gateway (Gateway API CRDs), Argo Rollouts and
KEDA (their CRDs, when an endpoint needs them), the node weight cache -> per endpoint: model import, capture,
serving, rollout or scale to zero, monitoring, drift, retraining trigger -> feature server. Everything waits for `foundation.cluster_ready`
(node pools, access entries). What differs per cloud comes from `foundation.kubernetes` (KubernetesSupport).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from aienv import conventions as c
from aienv.errors import ComponentInputError, spec_field
from aienv.spec.model import Exposure, StackSpec
from aienv.startup import estimate
from aienv.workloads import Workload, workloads
from components.contracts import CloudFoundation
from components.kubernetes import _common as common
from components.kubernetes.autoscaler import ClusterAutoscaler, ClusterAutoscalerArgs
from components.kubernetes.capture import InferenceCapture, InferenceCaptureArgs
from components.kubernetes.drift import DriftMonitor, DriftMonitorArgs
from components.kubernetes.feature_server import FeatureServer, FeatureServerArgs
from components.kubernetes.gateway import Gateway, GatewayArgs
from components.kubernetes.gpu_stack import GpuStack, GpuStackArgs
from components.kubernetes.model_import import ModelImport, ModelImportArgs
from components.kubernetes.monitoring import EndpointMonitoring, EndpointMonitoringArgs
from components.kubernetes.namespaces import Namespaces, NamespacesArgs
from components.kubernetes.observability import Observability, ObservabilityArgs
from components.kubernetes.retraining import (
    RetrainingTrigger,
    RetrainingTriggerArgs,
    alert_names,
    receiver_url,
)
from components.kubernetes.rollouts import (
    EndpointRollout,
    EndpointRolloutArgs,
    RolloutsController,
    RolloutsControllerArgs,
)
from components.kubernetes.scaling import KedaStack, KedaStackArgs, ScaleToZero, ScaleToZeroArgs, hold_seconds
from components.kubernetes.serving import (
    SERVICE_PORT,
    ModelEndpoint,
    ModelEndpointArgs,
    candidate_pools,
    checkpoint_bytes,
    rollout_seconds,
)
from components.kubernetes.storage import ScratchStorage, ScratchStorageArgs
from components.kubernetes.weight_cache import NodeModelCache, NodeModelCacheArgs, cache_gib


@dataclass(frozen=True)
class KubernetesLayerArgs:
    spec: StackSpec  # resolved: environment-dependent fields are set
    foundation: CloudFoundation


class KubernetesLayer(pulumi.ComponentResource):
    """`aienv:kubernetes:KubernetesLayer`: everything aienv runs on the cluster."""

    def __init__(self, name: str, args: KubernetesLayerArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aienv:kubernetes:KubernetesLayer", name, None, opts)
        spec, fdn = args.spec, args.foundation
        support = fdn.kubernetes
        check_layer(spec, support.metrics_server)
        check_mlops(spec, fdn)
        env = spec.name
        ready = list(fdn.cluster_ready)
        child = pulumi.ResourceOptions(parent=self)
        by_key: dict[str, Workload] = {w.key: w for w in workloads(spec)}
        images = common.ImageRefs(fdn.registry_url, fdn.images, support.tool_images)

        def workload(key: str) -> Workload:
            return by_key[key]

        imports = [i for i, ep in enumerate(spec.model_endpoints)
                   if ep.model.source is not None and not ep.model.source.uploaded]
        eps = spec.model_endpoints
        rollouts = any(ep.rollout is not None for ep in eps)
        keda = any(ep.scales_to_zero for ep in eps)
        cached = [i for i, ep in enumerate(eps) if ep.weight_cache == "node"]
        self.namespaces = Namespaces(
            f"{name}-namespaces", NamespacesArgs(environment=env, feature_store=spec.feature_store.enabled,
                                                 model_imports=bool(imports), rollouts=rollouts, keda=keda,
                                                 node_cache=bool(cached), labels=spec_labels(spec)),
            pulumi.ResourceOptions(parent=self, depends_on=ready))
        self.scratch = ScratchStorage(
            f"{name}-scratch", ScratchStorageArgs(environment=env, volume=support.scratch_storage, depends_on=ready),
            child)
        base = [*ready, *self.namespaces.ready]

        self.observability = Observability(
            f"{name}-observability",
            ObservabilityArgs(environment=env, prod=spec.is_prod, monitoring=spec.monitoring,
                              storage_class=fdn.storage_class, cluster_dns=support.cluster_dns,
                              retraining={ep.name: (alert_names(ep), receiver_url(ep.name),
                                                    ep.retraining.cooldown_hours)
                                          for ep in eps if ep.retraining is not None},
                              depends_on=base),
            child)
        with_crds = [*base, *self.observability.ready]

        spec_pools = spec.cluster.gpu_pools
        self.gpu_stack = GpuStack(
            f"{name}-gpu", GpuStackArgs(environment=env, driver_mode=fdn.driver_mode,
                                        has_gpu_pools=bool(fdn.gpu_pools), runtime_class=support.gpu_runtime_class,
                                        driver_mount=support.gpu_driver_mount,
                                        extra_taints=[t for p in spec_pools for t in p.taints],
                                        depends_on=with_crds), child)

        autoscaler_workload = by_key.get("cluster-autoscaler")
        self.autoscaler = ClusterAutoscaler(
            f"{name}-autoscaler",
            ClusterAutoscalerArgs(
                environment=env, mode=fdn.autoscaler, cloud_values=support.cluster_autoscaler_values,
                cluster_name=fdn.cluster_name, kubernetes_version=spec.cluster.kubernetes_version,
                gpu_pools=fdn.gpu_pools, spec_pools=spec_pools, workload=autoscaler_workload,
                identity=(fdn.binder.bind(autoscaler_workload)
                          if autoscaler_workload and fdn.autoscaler == "cluster-autoscaler" else None),
                depends_on=base), child)

        self.gateway = Gateway(
            f"{name}-gateway",
            GatewayArgs(environment=env, load_balancer_annotations=support.load_balancer_annotations,
                        prod=spec.is_prod, exposures=[e.exposure for e in spec.model_endpoints],
                        public_source_ranges=spec.network.public_gateway_cidrs, depends_on=base),
            child)
        edge = [*base, *self.gateway.ready, self.scratch.storage_class]

        # Progressive delivery and scale to zero bring their controllers and CRDs only when an endpoint uses them.
        self.rollouts: RolloutsController | None = None
        if rollouts:
            self.rollouts = RolloutsController(
                f"{name}-rollouts", RolloutsControllerArgs(environment=env, prod=spec.is_prod, depends_on=with_crds),
                child)
        self.keda: KedaStack | None = None
        if keda:
            self.keda = KedaStack(
                f"{name}-keda", KedaStackArgs(environment=env, prod=spec.is_prod,
                                              kubernetes_version=spec.cluster.kubernetes_version,
                                              depends_on=[*base, *self.gateway.ready]), child)
        self.weight_cache: NodeModelCache | None = None
        if cached:
            self.weight_cache = NodeModelCache(
                f"{name}-weight-cache",
                NodeModelCacheArgs(environment=env, spec_pools=spec_pools, tool_image=images.tool("python"),
                                   endpoints=[(eps[i], candidate_pools(eps[i], fdn.gpu_pools, f"model_endpoints[{i}]"),
                                               cache_gib(checkpoint_bytes(eps[i]))) for i in cached],
                                   depends_on=base), child)

        self.endpoints: dict[str, ModelEndpoint] = {}
        self.imports: dict[str, ModelImport] = {}
        for index, ep in enumerate(spec.model_endpoints):
            with spec_field(f"model_endpoints[{index}]"):  # named in any error from this endpoint
                if index in imports:
                    importer = workload(f"import-{ep.name}")
                    self.imports[ep.name] = ModelImport(
                        f"{name}-{ep.name}-import",
                        ModelImportArgs(endpoint=ep, index=index, environment=env, support=support, images=images,
                                        model_bucket_uri=fdn.model_bucket_uri,
                                        service_account=importer.service_account,
                                        identity=fdn.binder.bind(importer),
                                        depends_on=[*base, self.scratch.storage_class]),
                        child)
                if ep.capture.enabled:
                    assert fdn.mlops is not None  # check_mlops
                    writer = workload(f"capture-{ep.name}")
                    InferenceCapture(
                        f"{name}-{ep.name}-capture",
                        InferenceCaptureArgs(endpoint=ep, environment=env, prod=spec.is_prod, support=support,
                                             mlops=fdn.mlops, images=images, data_bucket_uri=fdn.data_bucket_uri,
                                             service_account=writer.service_account,
                                             identity=fdn.binder.bind(writer),
                                             depends_on=[*base, *fdn.mlops.grants_of(ep.name)]),
                        child)
                serving = workload(f"serving-{ep.name}")
                cache = self.weight_cache.claims[ep.name] if self.weight_cache and ep.name in self.weight_cache.claims \
                    else None
                endpoint = ModelEndpoint(
                    f"{name}-{ep.name}",
                    ModelEndpointArgs(
                        endpoint=ep, index=index, environment=env, support=support, images=images,
                        model_bucket_uri=fdn.model_bucket_uri, gpu_pools=fdn.gpu_pools, spec_pools=spec_pools,
                        service_account=serving.service_account, identity=fdn.binder.bind(serving),
                        feature_server=spec.feature_store.enabled,
                        weight_cache_claim=f"{ep.name}-model-cache" if cache is not None else None,
                        depends_on=[*edge, *([cache] if cache is not None else []),
                                    *(self.keda.ready if self.keda and ep.scales_to_zero else []),
                                    # a rollout's read of every version folder (AWS: `rollout-model-versions`)
                                    *(fdn.mlops.grants_of(ep.name) if fdn.mlops and ep.rollout is not None else [])]),
                    child)
                self.endpoints[ep.name] = endpoint
                stable = endpoint.deployments[c.TRACK_STABLE]
                if ep.rollout is not None:
                    assert self.rollouts is not None
                    EndpointRollout(
                        f"{name}-{ep.name}-rollout",
                        EndpointRolloutArgs(endpoint=ep, environment=env, deployment=f"{ep.name}-{c.TRACK_STABLE}",
                                            route=ep.name, selector={c.ENDPOINT_LABEL: ep.name,
                                                                     c.TRACK_LABEL: c.TRACK_STABLE},
                                            min_replicas=max(1, ep.replicas.min or 0),
                                            progress_deadline_seconds=rollout_seconds(ep),
                                            depends_on=[*with_crds, *self.rollouts.ready, stable,
                                                        *endpoint.services.values(), endpoint.route]),
                        child)
                if ep.scales_to_zero:
                    assert self.keda is not None
                    ScaleToZero(
                        f"{name}-{ep.name}-scale-to-zero",
                        ScaleToZeroArgs(endpoint=ep, environment=env, deployment=f"{ep.name}-{c.TRACK_STABLE}",
                                        service_port=SERVICE_PORT, max_replicas=ep.replicas.max,
                                        cold_start_seconds=hold_seconds(estimate(spec, ep).cold_s),
                                        depends_on=[*edge, *self.keda.ready, stable,
                                                    endpoint.services[c.TRACK_STABLE]]),
                        child)
                EndpointMonitoring(
                    f"{name}-{ep.name}-monitoring",
                    EndpointMonitoringArgs(endpoint=ep, environment=env, thresholds=spec.monitoring.thresholds,
                                           drift=spec.monitoring.drift, depends_on=with_crds),
                    child)
                if ep.drift:
                    drift = workload(f"drift-{ep.name}")
                    DriftMonitor(
                        f"{name}-{ep.name}-drift",
                        DriftMonitorArgs(endpoint=ep.name, environment=env, support=support, images=images,
                                         drift=spec.monitoring.drift, data_bucket_uri=fdn.data_bucket_uri,
                                         pushgateway_url=self.observability.pushgateway_url,
                                         service_account=drift.service_account, identity=fdn.binder.bind(drift),
                                         depends_on=with_crds),
                        child)
                if ep.retraining is not None:
                    assert fdn.mlops is not None  # check_mlops
                    trigger = workload(f"retrain-{ep.name}")
                    RetrainingTrigger(
                        f"{name}-{ep.name}-retrain",
                        RetrainingTriggerArgs(endpoint=ep, environment=env, support=support, mlops=fdn.mlops,
                                              images=images, data_bucket_uri=fdn.data_bucket_uri,
                                              service_account=trigger.service_account,
                                              identity=fdn.binder.bind(trigger),
                                              depends_on=[*base, *fdn.mlops.grants_of(ep.name)]),
                        child)

        self.feature_server: FeatureServer | None = None
        if spec.feature_store.enabled:
            feature = workload("feature-server")
            # Transition: every foundation sets `feature_registry_uri` (the feature-offline bucket's `feast/`,
            # granted to the feature-server identity); until it does, the registry stays in the data bucket.
            registry = fdn.feature_registry_uri if fdn.feature_registry_uri is not None else common.join_uri(
                fdn.data_bucket_uri, "feast/registry.db")
            with spec_field("feature_store"):
                self.feature_server = FeatureServer(
                    f"{name}-feature-server",
                    FeatureServerArgs(environment=env, prod=spec.is_prod, support=support, images=images,
                                      region=fdn.region, feature_store=spec.feature_store,
                                      online_store=fdn.online_store, offline_store=fdn.offline_store,
                                      registry_uri=registry, service_account=feature.service_account,
                                      identity=fdn.binder.bind(feature), depends_on=base),
                    child)

        self.charts = {key: ref.version for key, ref in common.CHARTS.items()}
        if self.keda is not None:
            self.charts.update(self.keda.charts)
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
            "modelImports": {n: {"namespace": c.MODELS_NAMESPACE, "jobs": sorted(i.jobs)} for n, i in self.imports.items()},
            "publicEndpoints": [e.name for e in spec.model_endpoints if e.exposure is Exposure.public],
        })


def spec_labels(spec: StackSpec) -> dict[str, str]:
    """The spec's extra tags, where they are valid Kubernetes label values."""
    out: dict[str, str] = {}
    for key, value in spec.tags.items():
        if common.label_value_ok(key, value):
            out[f"aienv.io/{key}"] = value
    return out


def check_mlops(spec: StackSpec, fdn: CloudFoundation) -> None:
    """Capture and retraining need the cloud side of the MLOps loop (`CloudFoundation.mlops`)."""
    for i, ep in enumerate(spec.model_endpoints):
        if ep.capture.enabled and fdn.mlops is None:
            raise ComponentInputError(f"model_endpoints[{i}].capture.enabled", (
                "is on, but the foundation provides no capture upload (CloudFoundation.mlops)"))
        if ep.retraining is not None and (fdn.mlops is None or ep.name not in fdn.mlops.pipelines):
            raise ComponentInputError(f"model_endpoints[{i}].retraining", (
                f"is set, but the foundation provides no pipeline run for `{ep.name}` (CloudFoundation.mlops)"))


def check_layer(spec: StackSpec, metrics_server: bool) -> None:
    """What the layer cannot build for this spec (`aienv validate` refuses the same in aienv/spec/rules.py)."""
    low, high = c.KUBERNETES_MINORS
    minor = int(spec.cluster.kubernetes_version.split(".")[1])
    if not low <= minor <= high:
        raise ComponentInputError("cluster.kubernetes_version", (
            f"is {spec.cluster.kubernetes_version}; the Kubernetes layer's charts support 1.{low} to 1.{high} "
            "(Envoy Gateway v1.7's compatibility matrix)"))
    if spec.network.egress == "none":
        raise ComponentInputError("network.egress", (
            "is `none`, but the Kubernetes layer's Helm charts pull their images from nvcr.io, quay.io, "
            "registry.k8s.io and docker.io, and model imports download from the model hubs; use `nat`"))
    for i, ep in enumerate(spec.model_endpoints):
        if ep.autoscaling.metric == "cpu" and not metrics_server:
            raise ComponentInputError(f"model_endpoints[{i}].autoscaling.metric", (
                "is `cpu`, but this cluster serves no resource metrics (no metrics-server); use "
                "`gpu_utilization` or `requests_in_flight`"))
