"""Every GCP physical name fits its API's limit, for the longest environment name the spec allows (40
characters): pinned names are checked as given, Pulumi auto-names as `<logical name>-<7 hex>` (A15 and its
class: firewalls, DNS zones, Redis, node pools)."""

from __future__ import annotations

import re

from tests.gcp.gcpplan import inputs, plan_gcp, variant

LONG = "a-forty-character-environment-name-xxxxx"
# Type -> (name input, limit, pattern) from the APIs' resource-name rules.
RFC1035 = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"
LIMITS = {
    "gcp:compute/network:Network": ("name", 63, RFC1035),
    "gcp:compute/subnetwork:Subnetwork": ("name", 63, RFC1035),
    "gcp:compute/firewall:Firewall": ("name", 63, RFC1035),
    "gcp:compute/router:Router": ("name", 63, RFC1035),
    "gcp:compute/routerNat:RouterNat": ("name", 63, RFC1035),
    "gcp:compute/globalAddress:GlobalAddress": ("name", 63, RFC1035),
    "gcp:compute/globalForwardingRule:GlobalForwardingRule": ("name", 20, r"^[a-z][a-z0-9]{0,19}$"),
    "gcp:dns/managedZone:ManagedZone": ("name", 63, RFC1035),
    "gcp:redis/instance:Instance": ("name", 40, RFC1035),
    "gcp:container/cluster:Cluster": ("name", 40, RFC1035),
    "gcp:container/nodePool:NodePool": ("name", 40, RFC1035),
    "gcp:storage/bucket:Bucket": ("name", 63, r"^[a-z0-9][-a-z0-9_.]*[a-z0-9]$"),
    "gcp:kms/keyRing:KeyRing": ("name", 63, r"^[a-zA-Z0-9_-]+$"),
    "gcp:serviceaccount/account:Account": ("accountId", 30, r"^[a-z]([-a-z0-9]*[a-z0-9])$"),
    "gcp:artifactregistry/repository:Repository": ("repositoryId", 63, RFC1035),
    "gcp:bigquery/dataset:Dataset": ("datasetId", 1024, r"^[A-Za-z0-9_]+$"),
}


def test_every_physical_name_fits_for_the_longest_environment_name():
    plan = plan_gcp(variant(lambda s: setattr(s, "name", LONG)), "longest-name")
    checked = set()
    for r in plan.resources:
        if r.type not in LIMITS:
            continue
        key, limit, pattern = LIMITS[r.type]
        name = inputs(r).get(key) or f"{r.name}-abcdef0"  # Pulumi's auto-name: logical name + 7 hex
        assert len(name) <= limit and re.match(pattern, name), f"{r.type} {r.name}: `{name}` ({len(name)})"
        checked.add(r.type)
    assert checked == set(LIMITS)
