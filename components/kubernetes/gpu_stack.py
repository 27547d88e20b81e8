"""What GPU nodes need to run pods and report metrics, by how the cloud ships NVIDIA drivers.

- PREINSTALLED (EKS AL2023 NVIDIA AMI): GPU operator with driver and toolkit off.
- CLOUD_DRIVER (AKS): GPU operator with the driver off and the container toolkit on.
- CLOUD_MANAGED (GKE): the cloud runs driver and device plugin; only the DCGM exporter is added.
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

# Where GKE installs the driver on the node, and where the DCGM exporter expects it.
GKE_DRIVER_HOST_PATH = "/home/kubernetes/bin/nvidia"
GKE_DRIVER_MOUNT = "/usr/local/nvidia"


class ServiceMonitorValues(TypedDict):
    enabled: bool
    honorLabels: bool
    interval: str


class GpuOperatorValues(TypedDict):
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


def gpu_operator_values(mode: DriverMode, extra: Sequence[Taint]) -> dict[str, Any]:
    tols = tolerations(extra)
    values: GpuOperatorValues = {
        "driver": {"enabled": False},  # both clouds ship the driver
        "toolkit": {"enabled": mode is DriverMode.CLOUD_DRIVER},
        "devicePlugin": {"enabled": True},
        "dcgmExporter": {"enabled": True, "serviceMonitor": dict(dcgm_service_monitor())},
        "daemonsets": {"tolerations": tols, "priorityClassName": "system-node-critical"},
        "node_feature_discovery": {"worker": {"tolerations": tols}},
    }
    out: dict[str, Any] = dict(values)
    out["node-feature-discovery"] = out.pop("node_feature_discovery")
    return out


def dcgm_exporter_values(extra: Sequence[Taint]) -> dict[str, Any]:
    values: DcgmExporterValues = {
        "tolerations": tolerations(extra),
        "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": c.GPU_TYPE_LABEL, "operator": "Exists"}]}]}}},
        "serviceMonitor": dcgm_service_monitor(),
        # Without the NVIDIA container runtime the exporter reaches the devices and GKE's driver directly.
        "securityContext": {"privileged": True},
        "extraHostVolumes": [{"name": "nvidia-install-dir-host", "hostPath": GKE_DRIVER_HOST_PATH}],
        "extraVolumeMounts": [{"name": "nvidia-install-dir-host", "mountPath": GKE_DRIVER_MOUNT, "readOnly": True}],
        "extraEnv": [{"name": "LD_LIBRARY_PATH", "value": f"{GKE_DRIVER_MOUNT}/lib64"}],
        "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"cpu": "500m", "memory": "1Gi"}},
    }
    return dict(values)


class GpuStack(pulumi.ComponentResource):
    """`aienv:kubernetes:GpuStack`: GPU operator or DCGM exporter, per the cloud's driver mode."""

    def __init__(self, name: str, args: GpuStackArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aienv:kubernetes:GpuStack", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on))
        self.releases: list[k8s.helm.v3.Release] = []
        installed: list[str] = []
        if not args.has_gpu_pools:
            pass
        elif args.driver_mode is DriverMode.CLOUD_MANAGED:
            self.releases.append(k8s.helm.v3.Release(
                f"{name}-dcgm-exporter",
                k8s.helm.v3.ReleaseArgs(name="dcgm-exporter", namespace=c.GPU_NAMESPACE, max_history=5,
                                        values=dcgm_exporter_values(args.extra_taints),
                                        **common.DCGM_EXPORTER.release_args()),  # type: ignore[arg-type]
                opts=child))
            installed.append(f"dcgm-exporter {common.DCGM_EXPORTER.version}")
        else:
            self.releases.append(k8s.helm.v3.Release(
                f"{name}-gpu-operator",
                k8s.helm.v3.ReleaseArgs(name="gpu-operator", namespace=c.GPU_NAMESPACE, max_history=5, timeout=900,
                                        values=gpu_operator_values(args.driver_mode, args.extra_taints),
                                        **common.GPU_OPERATOR.release_args()),  # type: ignore[arg-type]
                opts=child))
            installed.append(f"gpu-operator {common.GPU_OPERATOR.version}")
        self.driver_mode = args.driver_mode.value
        self.register_outputs({"driverMode": self.driver_mode, "installed": installed})
