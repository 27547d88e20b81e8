"""Kubernetes minor versions per cloud, and until when each stays in the cloud's standard support.

A minor that has left standard support cannot be the version of a new cluster on AKS ("Cluster creation: Not
Supported" under platform support; learn.microsoft.com/azure/aks/supported-kubernetes-versions) or in GKE's
Regular and Stable release channels (versions leave a channel before their end of support;
cloud.google.com/kubernetes-engine/docs/release-schedule), and on EKS it moves the cluster to extended support
at an additional cost per cluster hour (docs.aws.amazon.com/eks/latest/userguide/kubernetes-versions.html). A
spec pinned to such a minor plans fine offline and fails, or costs more, on the day it is deployed, so `aienv
validate` and the `deploy-kubernetes-version-supported` rule compare the version with these dates.

The dates are the clouds' published calendars as read on `CALENDAR_READ`; a minor the calendar does not list
for a cloud and newer than its newest entry is not refused (`aienv validate` cannot know a release newer than
the calendar); one older than its oldest entry is. `AIENV_TODAY=YYYY-MM-DD` checks against another day, e.g.
the planned deploy day.
"""

from __future__ import annotations

import os
from datetime import date

from aienv.errors import AienvError

CALENDAR_READ = date(2026, 12, 2)

# The last day of standard support, per cloud and minor.
END_OF_STANDARD_SUPPORT: dict[str, dict[str, date]] = {
    # EKS user guide, "Kubernetes release calendar", column "End of standard support".
    "aws": {"1.32": date(2026, 3, 23), "1.33": date(2026, 7, 29), "1.34": date(2026, 12, 2),
            "1.35": date(2027, 3, 27)},
    # AKS "Kubernetes release calendar", column "End of life" ("Unless an explicit date is provided, the End of
    # Life (EOL) date is the last day of the specified month"; page dated 2026-08-05).
    "azure": {"1.32": date(2026, 3, 31), "1.33": date(2026, 7, 31), "1.34": date(2026, 11, 30),
              "1.35": date(2027, 3, 31), "1.36": date(2027, 6, 30), "1.37": date(2027, 10, 31)},
    # GKE release schedule, column "End of standard support".
    "gcp": {"1.32": date(2026, 4, 11), "1.33": date(2026, 8, 3), "1.34": date(2026, 10, 1),
            "1.35": date(2027, 4, 11)},
}

SERVICE = {"aws": "EKS", "azure": "AKS", "gcp": "GKE"}
CALENDAR = {"aws": "the EKS Kubernetes release calendar", "azure": "the AKS Kubernetes release calendar",
            "gcp": "the GKE release schedule"}
# How a user lists what the cloud offers today in their region.
LIST_VERSIONS = {"aws": "aws eks describe-cluster-versions --region {region}",
                 "azure": "az aks get-versions --location {region} --output table",
                 "gcp": "gcloud container get-server-config --region {region}"}


class BadDate(AienvError):
    """`AIENV_TODAY` is not an ISO date."""


def today() -> date:
    """The day to check against: `AIENV_TODAY` (YYYY-MM-DD) when set, else the local date."""
    raw = os.environ.get("AIENV_TODAY", "").strip()
    if not raw:
        return date.today()
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise BadDate(f"AIENV_TODAY is `{raw}`; write the day as YYYY-MM-DD, e.g. 2027-01-15") from None


def minor_of(version: str) -> str | None:
    """`1.35` from `1.35`, `1.35.2` or `1.35.2-gke.1962000`; None for anything else (`latest`, unknowns)."""
    parts = version.split("-", 1)[0].split(".")
    if len(parts) >= 2 and parts[0] == "1" and parts[1].isdigit():
        return f"1.{int(parts[1])}"
    return None


def _number(minor: str) -> int:
    return int(minor.split(".")[1])


def supported(provider: str, on: date) -> list[str]:
    """The calendar's minors for `provider` still in standard support on `on`, oldest first."""
    ends = END_OF_STANDARD_SUPPORT[provider]
    return sorted((m for m, end in ends.items() if end >= on), key=_number)


def support_problem(provider: str, version: str, region: str, on: date,
                    usable: tuple[int, int] | None = None) -> str | None:
    """Why `version` cannot be a new cluster's version on `provider` on `on`, or None.

    `usable`: the (low, high) minors the caller can run at all (the Kubernetes layer's charts); the suggestion
    stays inside it."""
    minor = minor_of(version)
    if minor is None:
        return None
    ends = END_OF_STANDARD_SUPPORT[provider]
    oldest = min(ends, key=_number)
    if _number(minor) < _number(oldest):  # older than the calendar: its support ended before the oldest's
        ended = f"before {ends[oldest]}"
    elif (end := ends.get(minor)) is not None and end < on:
        ended = f"on {end}"
    else:
        return None
    options = [m for m in supported(provider, on)
               if usable is None or usable[0] <= _number(m) <= usable[1]]
    service = SERVICE[provider]
    effect = ("EKS would put the new cluster on extended support, which costs extra per cluster hour"
              if provider == "aws" else f"{service} does not create new clusters on it")
    instead = (f"write `\"{options[0]}\"` (supported until {END_OF_STANDARD_SUPPORT[provider][options[0]]})"
               if options else "no minor the environment can run is still supported; upgrade aienv")
    return (f"{service} standard support for {minor} ended {ended} ({CALENDAR[provider]}) and {effect}; "
            f"{instead}, and check the region with `{LIST_VERSIONS[provider].format(region=region)}`")
