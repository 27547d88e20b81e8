"""Which policies each CrossGuard pack selects, how it configures them, and the Pulumi objects for it.

`pack_kwargs(name)` is everything a pack's `__main__.py` passes to `pulumi_policy.PolicyPack`; the offline
runner (`aienv.check`) uses `pack_policies` + `pack_config` and never constructs a `PolicyPack`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
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
    own_rules: tuple[Rule, ...] = ()  # rules a user pack brings (policies.user_packs); built-in packs have none
    origin: str | None = None  # the folder a user pack was loaded from


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
         "authentication and transmission security; and the Privacy Rule's minimum necessary standard "
         "(§164.502(b)) for the inference requests an endpoint captures.",
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
    p = pack(name)
    own = {r.meta.name: r for r in p.own_rules}
    return [own[n] if n in own else RULES_BY_NAME[n] for n in p.rules]


def register_pack(p: Pack) -> None:
    """Make a user pack (policies.user_packs) known to `aienv check` and `aienv policies` in this process."""
    if p.name in PACKS and PACKS[p.name].origin != p.origin:
        raise KeyError(f"policy pack `{p.name}` already exists ({PACKS[p.name].origin or 'built in'}); rename the "
                       f"folder {p.origin}")
    PACKS[p.name] = p


# The Pulumi project the built-in packs belong to: the checkout holding policies/ (its Pulumi.yaml is at the root).
PROJECT_ROOT = Path(__file__).resolve().parents[1]


def pack_policies(name: str) -> list[Policy]:
    """Fresh Policy objects for the pack, carrying the pack framework's control ids."""
    p = pack(name)
    return [build_policy(rule, framework=p.framework) for rule in pack_rules(name)]


def pack_config(name: str) -> dict[str, dict[str, Any]]:
    """The pack's configuration (string enforcement levels), as `--policy-pack-config` would carry it."""
    return {k: dict(v) for k, v in pack(name).config.items()}


def pack_kwargs(name: str, *, waivers_near: str | Path | None = None) -> dict[str, Any]:
    """Arguments for `pulumi_policy.PolicyPack(**pack_kwargs(name))`.

    Waivers: `$AIENV_WAIVERS`, else `aienv-waivers.yaml` next to the project's Pulumi.yaml (found from
    `waivers_near`, by default this checkout's root), applied by `policies.pack_waivers`.
    """
    from aienv.check.waivers import load_waivers, waivers_path
    from policies.pack_waivers import waive

    p = pack(name)
    initial: dict[str, Any] = {}
    for policy, conf in p.config.items():
        entry = {k: v for k, v in conf.items() if k != "enforcementLevel"}
        if "enforcementLevel" in conf:
            entry["enforcementLevel"] = EnforcementLevel(conf["enforcementLevel"])
        initial[policy] = entry
    policies = pack_policies(name)
    path = waivers_path(None, waivers_near or PROJECT_ROOT)
    names = {pol.name for pol in policies}
    # Waivers for other packs' policies are not this pack's business (`aienv check` reports unknown names).
    waivers = [w for w in load_waivers(path) if w.pack in (None, name) and set(w.policies) & names] if path else []
    if waivers:
        policies = waive(name, policies, waivers)
    return {
        "name": p.name,
        "policies": policies,
        "enforcement_level": EnforcementLevel.ADVISORY,
        "initial_config": initial or None,
        "description": p.description,
        "provider": "aienv",
        "tags": ["aienv", *(["compliance", p.framework] if p.framework in ("hipaa", "gdpr", "soc2") else [])],
    }
