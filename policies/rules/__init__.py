"""Rule modules, one per area. Each exposes `RULES: tuple[Rule, ...]`; importing has no side effects."""

from __future__ import annotations

from policies.rules import (
    ai,
    ai_services,
    aws,
    azure,
    compute_metadata,
    data_stores,
    deploy_access,
    deploy_fit,
    deploy_names,
    deploy_order,
    deploy_ranges,
    deploy_runtime,
    deploy_zones,
    gcp,
    identity_common,
    kubernetes,
    mlops,
    network_exposure,
    secrets,
    stack,
)
from policies.rules._base import Rule

ALL_RULES: tuple[Rule, ...] = (*aws.RULES, *azure.RULES, *gcp.RULES, *kubernetes.RULES, *ai.RULES, *stack.RULES,
                              *deploy_fit.RULES, *deploy_names.RULES, *deploy_ranges.RULES, *deploy_zones.RULES,
                              *deploy_order.RULES, *deploy_runtime.RULES, *deploy_access.RULES,
                              *network_exposure.RULES, *identity_common.RULES, *data_stores.RULES,
                              *compute_metadata.RULES, *secrets.RULES, *ai_services.RULES, *mlops.RULES)
RULES_BY_NAME: dict[str, Rule] = {r.meta.name: r for r in ALL_RULES}

__all__ = ["ALL_RULES", "RULES_BY_NAME", "Rule"]
