"""What GPU nodes need to run pods and report metrics, by how the cloud ships NVIDIA drivers.

- PREINSTALLED (EKS AL2023 NVIDIA AMI) and CLOUD_DRIVER (AKS): the node image or the cloud installs the driver
  and the container toolkit; the GPU operator adds the device plugin and the DCGM exporter, with driver and
  toolkit off and the runtime class of the node's NVIDIA runtime (`KubernetesSupport.gpu_runtime_class`).
- CLOUD_MANAGED (GKE): the cloud runs driver and device plugin; only the DCGM exporter is added, with the
  cloud's driver mounted (`KubernetesSupport.gpu_driver_mount`).
DCGM metrics (DCGM_FI_DEV_GPU_UTIL, ...) reach Prometheus in every mode, labelled with the pod using
the GPU (honorLabels) so the HPA and the alerts can select an endpoint's pods.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypedDict

import pulumi
import pulumi_kubernetes as k8s

from aienv import conventions as c
from aienv.gpus import DriverMode
from aienv.spec.model import Taint
from components.kubernetes import _common as common

# The node-critical priority class of the GPU daemonsets (gpu-operator `daemonsets.priorityClassName`,
# dcgm-exporter `priorityClassName` defaults). GKE admits pods of the critical classes only in namespaces with a
# ResourceQuota scoped to them (kube-system has `gcp-critical-pods`); without one pods fail with "insufficient
# quota to match these scopes: [{PriorityClass In [system-node-critical system-cluster-critical]}]"
# (NVIDIA/gpu-operator#660: "For GKE, we need to manually apply the quota"). The quota is harmless elsewhere.
CRITICAL_PRIORITY_CLASSES = ["system-node-critical", "system-cluster-critical"]
CRITICAL_PODS_QUOTA = "1000"
# The exporter chart's own metrics file mount (values.yaml `extraVolumeMounts` default), kept when adding ours.
DCGM_METRICS_MOUNT = {"name": "exporter-metrics-volume", "mountPath": "/etc/dcgm-exporter/default-counters.csv",
                      "subPath": "default-counters.csv"}


class ServiceMonitorValues(TypedDict):
    enabled: bool
    honorLabels: bool
    interval: str


class GpuOperatorValues(TypedDict):
    operator: dict[str, Any]
    driver: dict[str, bool]
    toolkit: dict[str, bool]
    devicePlugin: dict[str, bool]
    dcgmExporter: dict[str, Any]
    daemonsets: dict[str, Any]
    node_feature_discovery: dict[str, Any]  # "node-feature-discovery" in the chart


class DcgmExporterValues(TypedDict):
    tolerations: list[dict[str, str]]
    affinity: dict[str, Any]
    serviceMonitor: ServiceMonitorValues
    securityContext: dict[str, Any]
    extraHostVolumes: list[dict[str, str]]
    extraVolumeMounts: list[dict[str, Any]]
    extraEnv: list[dict[str, str]]
    resources: dict[str, dict[str, str]]


@dataclass(frozen=True)
class GpuStackArgs:
    environment: str
    driver_mode: DriverMode
    has_gpu_pools: bool
    runtime_class: str | None = None  # KubernetesSupport.gpu_runtime_class
    driver_mount: tuple[str, str] | None = None  # KubernetesSupport.gpu_driver_mount
    extra_taints: Sequence[Taint] = ()  # the pools' taints besides the GPU taint
    labels: Mapping[str, str] = field(default_factory=dict)
    depends_on: Sequence[pulumi.Resource] = ()  # the ServiceMonitor CRD (kube-prometheus-stack)


def tolerations(extra: Sequence[Taint]) -> list[dict[str, str]]:
    out = [dict(common.GPU_TOLERATION_VALUES)]
    for taint in extra:
        tol = {"key": taint.key, "operator": "Equal", "value": taint.value, "effect": taint.effect}
        if tol not in out:
            out.append(tol)
    return out


def dcgm_service_monitor() -> ServiceMonitorValues:
    return {"enabled": True, "honorLabels": True, "interval": "15s"}


def gpu_operator_values(extra: Sequence[Taint], runtime_class: str | None = None) -> dict[str, Any]:
    tols = tolerations(extra)
    values: GpuOperatorValues = {
        # The operator's RuntimeClass must name the handler the node's containerd already has.
        "operator": {"runtimeClass": runtime_class} if runtime_class else {},
        # PREINSTALLED and CLOUD_DRIVER nodes come with driver and toolkit; the operator must not replace them.
        "driver": {"enabled": False},
        "toolkit": {"enabled": False},
        "devicePlugin": {"enabled": True},
        "dcgmExporter": {"enabled": True, "serviceMonitor": dict(dcgm_service_monitor())},
        "daemonsets": {"tolerations": tols, "priorityClassName": "system-node-critical"},
        "node_feature_discovery": {"worker": {"tolerations": tols}},
    }
    out: dict[str, Any] = dict(values)
    out["node-feature-discovery"] = out.pop("node_feature_discovery")
    return out


def dcgm_exporter_values(extra: Sequence[Taint], driver_mount: tuple[str, str] | None = None) -> dict[str, Any]:
    host_volumes: list[dict[str, str]] = []
    mounts: list[dict[str, Any]] = [dict(DCGM_METRICS_MOUNT)]
    env: list[dict[str, str]] = []
    if driver_mount is not None:
        host, mount = driver_mount
        host_volumes.append({"name": "nvidia-install-dir-host", "hostPath": host})
        mounts.append({"name": "nvidia-install-dir-host", "mountPath": mount, "readOnly": True})
        env.append({"name": "LD_LIBRARY_PATH", "value": f"{mount}/lib64"})
    values: DcgmExporterValues = {
        "tolerations": tolerations(extra),
        "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": c.GPU_TYPE_LABEL, "operator": "Exists"}]}]}}},
        "serviceMonitor": dcgm_service_monitor(),
        # Without the NVIDIA container runtime the exporter reaches the devices and the driver directly. Helm
        # merges this map into the chart's default (4.5.3-4.8.2 values.yaml: `allowPrivilegeEscalation: false`,
        # `runAsUser: 0`, `capabilities.add: [SYS_ADMIN]`), and the API server rejects privileged containers
        # that forbid escalation (ValidateSecurityContext: "cannot set `allowPrivilegeEscalation` to false and
        # `privileged` to true"), so both are set.
        "securityContext": {"privileged": True, "allowPrivilegeEscalation": True, "runAsNonRoot": False,
                            "runAsUser": 0},
        "extraHostVolumes": host_volumes,
        "extraVolumeMounts": mounts,
        "extraEnv": env,
        "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"cpu": "500m", "memory": "1Gi"}},
    }
    return dict(values)


class GpuStack(pulumi.ComponentResource):
    """`aienv:kubernetes:GpuStack`: GPU operator or DCGM exporter, per the cloud's driver mode."""

    def __init__(self, name: str, args: GpuStackArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aienv:kubernetes:GpuStack", name, None, opts)
        self.releases: list[k8s.helm.v3.Release] = []
        installed: list[str] = []
        quota: list[pulumi.Resource] = []
        if args.has_gpu_pools:
            quota.append(k8s.core.v1.ResourceQuota(
                f"{name}-critical-pods",
                metadata=common.meta("critical-pods", c.GPU_NAMESPACE, {**common.base_labels(args.environment),
                                                                         **args.labels}),
                spec=k8s.core.v1.ResourceQuotaSpecArgs(
                    hard={"pods": CRITICAL_PODS_QUOTA},
                    scope_selector=k8s.core.v1.ScopeSelectorArgs(match_expressions=[
                        k8s.core.v1.ScopedResourceSelectorRequirementArgs(
                            scope_name="PriorityClass", operator="In", values=CRITICAL_PRIORITY_CLASSES)])),
                opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on))))
        child = pulumi.ResourceOptions(parent=self, depends_on=[*args.depends_on, *quota])
        if not args.has_gpu_pools:
            pass
        elif args.driver_mode is DriverMode.CLOUD_MANAGED:
            self.releases.append(k8s.helm.v3.Release(
                f"{name}-dcgm-exporter",
                k8s.helm.v3.ReleaseArgs(name="dcgm-exporter", namespace=c.GPU_NAMESPACE, max_history=5,
                                        values=dcgm_exporter_values(args.extra_taints, args.driver_mount),
                                        **common.DCGM_EXPORTER.release_args()),  # type: ignore[arg-type]
                opts=child))
            installed.append(f"dcgm-exporter {common.DCGM_EXPORTER.version}")
        else:
            self.releases.append(k8s.helm.v3.Release(
                f"{name}-gpu-operator",
                k8s.helm.v3.ReleaseArgs(name="gpu-operator", namespace=c.GPU_NAMESPACE, max_history=5, timeout=900,
                                        values=gpu_operator_values(args.extra_taints, args.runtime_class),
                                        **common.GPU_OPERATOR.release_args()),  # type: ignore[arg-type]
                opts=child))
            installed.append(f"gpu-operator {common.GPU_OPERATOR.version}")
        self.driver_mode = args.driver_mode.value
        self.register_outputs({"driverMode": self.driver_mode, "installed": installed})
