"""Which policies each CrossGuard pack selects, how it configures them, and the Pulumi objects for it.

`pack_kwargs(name)` is everything a pack's `__main__.py` passes to `pulumi_policy.PolicyPack`; the offline
runner (`aienv.check`) uses `pack_policies` + `pack_config` and never constructs a `PolicyPack`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pulumi_policy import EnforcementLevel, Policy

from policies.rules import ALL_RULES, RULES_BY_NAME, Rule
from policies.rules._base import build_policy

# EU regions on the three clouds: the GDPR pack's default residency list.
EU_REGIONS = (
    "eu-west-1", "eu-west-2", "eu-west-3", "eu-central-1", "eu-central-2", "eu-north-1", "eu-south-1", "eu-south-2",
    "westeurope", "northeurope", "francecentral", "germanywestcentral", "swedencentral", "italynorth",
    "polandcentral", "spaincentral", "switzerlandnorth",
    "europe-west1", "europe-west2", "europe-west3", "europe-west4", "europe-west6", "europe-west8", "europe-west9",
    "europe-west10", "europe-west12", "europe-north1", "europe-central2", "europe-southwest1", "eu", "europe",
)


@dataclass(frozen=True)
class Pack:
    name: str
    description: str
    rules: tuple[str, ...]
    framework: str | None = None  # which control mapping the Policy objects carry
    # policy name -> {"enforcementLevel": ..., <config props>}
    config: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


def _select(*, areas: tuple[str, ...] = (), framework: str | None = None) -> tuple[str, ...]:
    out = []
    for rule in ALL_RULES:
        if (areas and rule.meta.area in areas) or (framework and framework in rule.meta.controls):
            out.append(rule.meta.name)
    return tuple(out)


def _all_mandatory(names: tuple[str, ...], *, keep_advisory: tuple[str, ...] = ()) -> dict[str, dict[str, Any]]:
    return {n: {"enforcementLevel": "mandatory"} for n in names
            if RULES_BY_NAME[n].meta.enforcement != "mandatory" and n not in keep_advisory}


_HIPAA = _select(framework="hipaa")
_GDPR = _select(framework="gdpr")
_SOC2 = _select(framework="soc2")

PACKS: dict[str, Pack] = {p.name: p for p in (
    Pack("aienv-security",
         "aienv baseline security for AWS, Azure, GCP and Kubernetes resources (encryption, exposure, identity, "
         "logging, workload hardening, stateful protection, data residency).",
         _select(areas=("aws", "azure", "gcp", "kubernetes", "stack")), framework="iso27001"),
    Pack("aienv-deploy",
         "aienv deployability: what a real first `pulumi up` would reject or never converge on (pod fit on the "
         "node pools, physical names, API ranges, GPU capacity by zone, creation order, awaits, image and model "
         "supply, API-server reachability, enforcement of the stack's controls).",
         _select(areas=("deploy",)), framework="iso27001"),
    Pack("aienv-ai",
         "aienv AI/GPU governance: GPU scheduling and quota, serving endpoint auth/exposure/alerts/drift, model "
         "fit and image provenance, data-access lineage.",
         _select(areas=("ai",)), framework="soc2"),
    Pack("hipaa",
         "HIPAA Security Rule technical safeguards (45 CFR §164.312): access control, audit controls, integrity, "
         "authentication and transmission security.",
         _HIPAA, framework="hipaa",
         config={**_all_mandatory(_HIPAA),
                 "aws-log-group-retention": {"minimumDays": 2192}}),
    Pack("gdpr",
         "GDPR Art. 25 (data protection by design), Art. 32 (security of processing) and Art. 44 (transfers): "
         "encryption, exposure, resilience and EU data residency.",
         _GDPR, framework="gdpr",
         config={**_all_mandatory(_GDPR),
                 "data-residency": {"enforcementLevel": "mandatory", "allowedRegions": list(EU_REGIONS)}}),
    Pack("soc2",
         "SOC 2 Common Criteria CC6 (logical access, boundaries, transmission, malware), CC7 (detection, "
         "monitoring), CC8 (change) and A1 (availability) for the environment.",
         _SOC2, framework="soc2",
         config={"aws-log-group-retention": {"minimumDays": 365}}),
)}


for _p in PACKS.values():  # a pack may configure only policies it selects
    if not set(_p.config) <= set(_p.rules):
        raise ValueError(f"pack {_p.name} configures policies it does not select: {set(_p.config) - set(_p.rules)}")


def pack(name: str) -> Pack:
    if name not in PACKS:
        raise KeyError(f"unknown policy pack `{name}` (known: {', '.join(PACKS)})")
    return PACKS[name]


def pack_rules(name: str) -> list[Rule]:
    return [RULES_BY_NAME[n] for n in pack(name).rules]


def pack_policies(name: str) -> list[Policy]:
    """Fresh Policy objects for the pack, carrying the pack framework's control ids."""
    p = pack(name)
    return [build_policy(rule, framework=p.framework) for rule in pack_rules(name)]


def pack_config(name: str) -> dict[str, dict[str, Any]]:
    """The pack's configuration (string enforcement levels), as `--policy-pack-config` would carry it."""
    return {k: dict(v) for k, v in pack(name).config.items()}


def pack_kwargs(name: str) -> dict[str, Any]:
    """Arguments for `pulumi_policy.PolicyPack(**pack_kwargs(name))`."""
    p = pack(name)
    initial: dict[str, Any] = {}
    for policy, conf in p.config.items():
        entry = {k: v for k, v in conf.items() if k != "enforcementLevel"}
        if "enforcementLevel" in conf:
            entry["enforcementLevel"] = EnforcementLevel(conf["enforcementLevel"])
        initial[policy] = entry
    return {
        "name": p.name,
        "policies": pack_policies(name),
        "enforcement_level": EnforcementLevel.ADVISORY,
        "initial_config": initial or None,
        "description": p.description,
        "provider": "aienv",
        "tags": ["aienv", *(["compliance", p.framework] if p.framework in ("hipaa", "gdpr", "soc2") else [])],
    }
