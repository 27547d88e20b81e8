"""The clouds' region (Azure: location) names and GCP's zones, as the providers publish them.

Static tables, so `aienv validate` needs no network; a name outside them is refused with a did-you-mean.
Sources (as of 2026):

- AWS: the `Region` enum of the AWS provider (pulumi-aws 7.x, `pulumi_aws/_enums.py`: "A Region represents
  any valid Amazon region that may be targeted with deployments"), which follows the AWS "Regions and
  Availability Zones" list (https://docs.aws.amazon.com/global-infrastructure/latest/regions/aws-regions.html).
  Availability Zone names are the region code plus a letter, and "AWS maps the physical Availability Zones
  randomly to the Availability Zone names for each AWS account" (same page): the letters an account has are
  not public, so zones are checked by that form only.
- Azure: the programmatic names of "List of Azure regions"
  (https://learn.microsoft.com/en-us/azure/reliability/regions-list), public cloud (the provider's default
  `environment`; sovereign clouds need a provider setting aienv does not take). Zones are `1`, `2`, `3`.
- GCP: "Regions and zones" (https://cloud.google.com/compute/docs/regions-zones#available), each region with
  its zones (most `a`-`c`; `us-central1` has `a b c f`, `us-east1` and `europe-west1` have `b c d`).
"""

from __future__ import annotations

import difflib

AWS_REGIONS: frozenset[str] = frozenset({
    "af-south-1", "ap-east-1", "ap-east-2", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3", "ap-south-1",
    "ap-south-2", "ap-southeast-1", "ap-southeast-2", "ap-southeast-3", "ap-southeast-4", "ap-southeast-5",
    "ap-southeast-6", "ap-southeast-7", "ca-central-1", "ca-west-1", "eu-central-1", "eu-central-2", "eu-north-1",
    "eu-south-1", "eu-south-2", "eu-west-1", "eu-west-2", "eu-west-3", "il-central-1", "me-central-1",
    "me-south-1", "mx-central-1", "sa-east-1", "us-east-1", "us-east-2", "us-west-1", "us-west-2",
    # China, GovCloud, the European Sovereign Cloud and the isolated partitions
    "cn-north-1", "cn-northwest-1", "us-gov-east-1", "us-gov-west-1", "eusc-de-east-1", "us-iso-east-1",
    "us-iso-west-1", "us-isob-east-1", "us-isob-west-1", "eu-isoe-west-1", "us-isof-east-1", "us-isof-south-1",
})

AZURE_LOCATIONS: frozenset[str] = frozenset({
    "australiacentral", "australiacentral2", "australiaeast", "australiasoutheast", "austriaeast",
    "belgiumcentral", "brazilsouth", "brazilsoutheast", "canadacentral", "canadaeast", "centralindia",
    "centralus", "chilecentral", "denmarkeast", "eastasia", "eastus", "eastus2", "francecentral", "francesouth",
    "germanynorth", "germanywestcentral", "indonesiacentral", "israelcentral", "italynorth", "japaneast",
    "japanwest", "jioindiacentral", "jioindiawest", "koreacentral", "koreasouth", "malaysiawest",
    "mexicocentral", "newzealandnorth", "northcentralus", "northeurope", "norwayeast", "norwaywest",
    "polandcentral", "qatarcentral", "southafricanorth", "southafricawest", "southcentralus", "southeastasia",
    "southindia", "spaincentral", "swedencentral", "swedensouth", "switzerlandnorth", "switzerlandwest",
    "uaecentral", "uaenorth", "uksouth", "ukwest", "westcentralus", "westeurope", "westindia", "westus",
    "westus2", "westus3",
})
AZURE_ZONES = ("1", "2", "3")

_ABC = ("a", "b", "c")
GCP_ZONES: dict[str, tuple[str, ...]] = {
    **{region: _ABC for region in (
        "africa-south1", "asia-east1", "asia-east2", "asia-northeast1", "asia-northeast2", "asia-northeast3",
        "asia-south1", "asia-south2", "asia-southeast1", "asia-southeast2", "australia-southeast1",
        "australia-southeast2", "europe-central2", "europe-north1", "europe-north2", "europe-southwest1",
        "europe-west2", "europe-west3", "europe-west4", "europe-west6", "europe-west8", "europe-west9",
        "europe-west10", "europe-west12", "me-central1", "me-central2", "me-west1", "northamerica-northeast1",
        "northamerica-northeast2", "northamerica-south1", "southamerica-east1", "southamerica-west1", "us-east4",
        "us-east5", "us-south1", "us-west1", "us-west2", "us-west3", "us-west4")},
    "europe-west1": ("b", "c", "d"),
    "us-central1": ("a", "b", "c", "f"),
    "us-east1": ("b", "c", "d"),
}
GCP_REGIONS: frozenset[str] = frozenset(GCP_ZONES)

# Cloud Storage and BigQuery multi-regions ("Bucket locations": https://cloud.google.com/storage/docs/locations),
# which data-residency lists may name besides regions.
GCP_MULTI_REGIONS: frozenset[str] = frozenset({"asia", "eu", "us"})

REGIONS: dict[str, frozenset[str]] = {"aws": AWS_REGIONS, "azure": AZURE_LOCATIONS, "gcp": GCP_REGIONS}
CLOUD_NAMES = {"aws": "AWS", "azure": "Azure", "gcp": "GCP"}


def closest(name: str, choices: frozenset[str] | list[str] | tuple[str, ...]) -> str | None:
    """The nearest known name to a misspelt one, if any is close."""
    normalized = name.strip().lower().replace(" ", "").replace("_", "-")
    if normalized in choices:
        return normalized
    if normalized.replace("-", "") in choices:  # Azure: `west-europe` -> `westeurope`
        return normalized.replace("-", "")
    found = difflib.get_close_matches(normalized, sorted(choices), n=1, cutoff=0.75)
    return found[0] if found else None


def region_problem(provider: str, region: str) -> str | None:
    """Why `region` is not a region (Azure: location) of `provider`, with what to write instead; None if it is."""
    known = REGIONS[provider]
    if region in known:
        return None
    noun = "location" if provider == "azure" else "region"
    message = f"`{region}` is not {'an' if provider in ('aws', 'azure') else 'a'} {CLOUD_NAMES[provider]} {noun}"
    others = [c for c, names in REGIONS.items() if c != provider and region in names]
    if others:
        message += f" but {'an' if others[0] in ('aws', 'azure') else 'a'} {CLOUD_NAMES[others[0]]} one"
    suggestion = closest(region, known)
    if suggestion:
        return f"{message}; did you mean `{suggestion}`?"
    examples = {"aws": "`us-east-1`, `eu-west-1`", "azure": "`westeurope`, `eastus2`",
                "gcp": "`us-central1`, `europe-west4`"}[provider]
    return f"{message}; use one of the {CLOUD_NAMES[provider]} {noun} names, e.g. {examples}"


def zone_problem(provider: str, region: str, zone: str) -> str | None:
    """Why `zone` is not a zone of `region` on `provider`; None if it is (or cannot be known offline)."""
    if provider == "azure":
        if zone in AZURE_ZONES:
            return None
        return f"`{zone}` is not an Azure availability zone; write `1`, `2` or `3`"
    if provider == "aws":
        if zone.startswith(region) and len(zone) == len(region) + 1 and zone[-1].isalpha() and zone[-1].islower():
            return None
        return f"`{zone}` is not a zone of {region}; AWS zones are the region and a letter, e.g. `{region}a`"
    zones = GCP_ZONES.get(region, ())
    if zone in (f"{region}-{z}" for z in zones):
        return None
    listed = ", ".join(f"`{region}-{z}`" for z in zones)
    return f"`{zone}` is not a zone of {region}; its zones are {listed}"
