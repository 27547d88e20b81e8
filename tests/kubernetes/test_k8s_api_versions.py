"""Every Kubernetes object in the reference plans is valid for the spec's Kubernetes version: built-in kinds
use an API version that is GA by then and not yet removed; custom resources belong to CRDs one of the
environment's Helm releases installs, and wait for that release."""

from __future__ import annotations

import pytest

from tests.plans import STACK_FILES, loaded, planned

# group/version of built-in kinds -> (first minor where GA, first minor where removed or None),
# from the Kubernetes deprecation guide.
BUILT_IN: dict[str, tuple[int, int | None]] = {
    "core/v1": (0, None),
    "apps/v1": (9, None),
    "batch/v1": (21, None),  # CronJob GA in 1.21
    "autoscaling/v2": (23, None),
    "policy/v1": (21, None),  # PodDisruptionBudget
    "networking.k8s.io/v1": (19, None),
    "storage.k8s.io/v1": (6, None),
    "rbac.authorization.k8s.io/v1": (8, None),
    "scheduling.k8s.io/v1": (14, None),
}
# CRD groups and the chart that installs them (kube-prometheus-stack, gateway-helm).
CRD_GROUPS = {
    "monitoring.coreos.com/v1": "kube-prometheus-stack",
    "gateway.networking.k8s.io/v1": "gateway-helm",
    "gateway.envoyproxy.io/v1alpha1": "gateway-helm",
    "gateway.networking.k8s.io/v1beta1": "gateway-helm",  # ReferenceGrant
    "argoproj.io/v1alpha1": "argo-rollouts",
    "keda.sh/v1alpha1": "keda",
    "http.keda.sh/v1alpha1": "keda-add-ons-http",
}
HELM_RELEASE = "kubernetes:helm.sh/v3:Release"


def _group_version(type_token: str) -> str:
    return type_token.split(":")[1]


@pytest.mark.parametrize("stack_file", STACK_FILES)
def test_objects_are_valid_for_the_cluster_version(stack_file: str) -> None:
    minor = int(loaded(stack_file).spec.cluster.kubernetes_version.split(".")[1])
    plan = planned(stack_file)
    by_urn = {r.urn: r for r in plan.resources}
    releases = {r.urn: r for r in plan.resources if r.type == HELM_RELEASE}
    charts = {urn: str(r.inputs.get("chart", "")) for urn, r in releases.items()}

    def waits_for(urn: str, chart: str, seen: set[str]) -> bool:
        if urn in seen:
            return False
        seen.add(urn)
        res = by_urn[urn]
        for dep in [*res.dependencies, *([res.parent] if res.parent else [])]:
            if dep in charts and chart in charts[dep]:
                return True
            if dep in by_urn and waits_for(dep, chart, seen):
                return True
        return False

    kinds = 0
    for res in plan.resources:
        if not res.type.startswith("kubernetes:") or res.type.startswith(("kubernetes:helm.sh", "pulumi:")):
            continue
        kinds += 1
        gv = _group_version(res.type)
        if gv in BUILT_IN:
            ga, removed = BUILT_IN[gv]
            assert ga <= minor and (removed is None or minor < removed), (res.type, minor)
        else:
            assert gv in CRD_GROUPS, f"{res.type} is neither a GA built-in API nor a CRD of an installed chart"
            chart = CRD_GROUPS[gv]
            assert any(chart in c for c in charts.values()), f"{res.type}: no Helm release installs {chart}"
            assert waits_for(res.urn, chart, set()), f"{res.name} does not wait for the {chart} release"
    assert kinds > 25
