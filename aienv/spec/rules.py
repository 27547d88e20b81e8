"""Semantic rules: the mistakes that otherwise surface only after a cloud call, or as pods stuck Pending.

Each rule yields `(path, message)` where `path` is a tuple of keys and list indices into the
document; the loader turns it into `file:line: dotted.path: message`. All rules run, so a user
sees every problem at once.
"""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from collections.abc import Iterator
from urllib.parse import urlsplit

from aienv import kube_versions
from aienv.gpus import CATALOGUE, model_memory_gib
from aienv.naming import azure_name_problems
from aienv.spec.cron import schedule_problem
from aienv.spec.model import EndpointAccess, Exposure, StackSpec
from aienv.spec.regions import GCP_MULTI_REGIONS, REGIONS, closest, region_problem, zone_problem

Path = tuple[str | int, ...]
Problem = tuple[Path, str]

AZURE_MAX_NAME = 20
# AWS Budgets and Azure consumption budgets take at most five notifications each.
BUDGET_NOTIFICATION_LIMITS = {"aws": 5, "azure": 5}


def check(spec: StackSpec) -> list[Problem]:
    """Every semantic problem of a resolved spec."""
    problems: list[Problem] = []
    for rule in (_cloud, _network, _cluster, _deployer, _gpu_pools, _endpoints, _bring_up, _feature_store, _budget,
                 _compliance, _monitoring, _deployability, _azure_upstreams, _azure_model_sources,
                 _azure_alert_routes, _kubernetes_layer, _gcp_images, _gcp_models, _gcp_cluster, _gcp_monitoring,
                 _aws_images, _aws_deployer, _mlops):
        problems.extend(rule(spec))
    return problems


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _place_known(spec: StackSpec) -> bool:
    """The region (Azure: location) is one the cloud has; rules that need it are skipped otherwise."""
    return spec.region in REGIONS[spec.cloud.provider]


# An address as mail relays and the clouds' budget services take it: a dot-atom local part (RFC 5322
# section 3.2.3) and a domain of LDH labels (RFC 1035 section 2.3.1) with a top-level label of letters.
_EMAIL = re.compile(r"^(?=.{3,254}$)[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
                    r"@([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$")


def email_problem(address: str) -> str | None:
    if _EMAIL.match(address) and len(address.split("@")[0]) <= 64:
        return None
    return f"`{address}` is not an email address; write it as name@example.com"


def https_url_problem(url: str, example: str = "https://hooks.example.com/alerts") -> str | None:
    """Why `url` is not an absolute https URL with a host name, or None."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        host, parts = None, None
    if parts is None or parts.scheme != "https" or not host or any(c.isspace() for c in url):
        return f"`{url}` is not an https:// URL with a host name; write e.g. `{example}`"
    return None


def _repeats(names: list[str]) -> set[int]:
    """Indices of names already used earlier in the list (the first use is not an error)."""
    seen: set[str] = set()
    out: set[int] = set()
    for i, name in enumerate(names):
        if name in seen:
            out.add(i)
        seen.add(name)
    return out


def _cloud(spec: StackSpec) -> Iterator[Problem]:
    cloud = spec.cloud
    needs = {"aws": ("region",), "azure": ("location", "subscription_id"), "gcp": ("project", "region")}
    for key in needs[cloud.provider]:
        if getattr(cloud, key) is None:
            yield ("cloud", key), f"is required when cloud.provider is `{cloud.provider}`; set it"
    unused = {"aws": ("location", "subscription_id", "project"), "azure": ("region", "project"),
              "gcp": ("location", "subscription_id")}
    for key in unused[cloud.provider]:
        if getattr(cloud, key) is not None:
            yield ("cloud", key), f"does not apply to `{cloud.provider}`; remove it"
    for block in ("aws", "azure", "gcp"):
        if block != cloud.provider and block in spec.model_fields_set:
            yield (block,), f"holds {block}-only options but cloud.provider is `{cloud.provider}`; remove it"
    place_key = "location" if cloud.provider == "azure" else "region"
    if getattr(cloud, place_key) is not None:
        problem = region_problem(cloud.provider, cloud.place)
        if problem:
            yield ("cloud", place_key), problem
    if cloud.provider == "azure":
        if len(spec.name) > AZURE_MAX_NAME:
            yield ("name",), (f"is {len(spec.name)} characters; Azure environments allow at most {AZURE_MAX_NAME} "
                              "so storage account and key vault names fit Azure's limits")
        else:
            for problem in azure_name_problems(spec.name, cloud.subscription_id or ""):
                yield ("name",), f"{problem}; choose another environment name"
        if spec.security.encryption == "customer_managed" and spec.azure.cosmos_db_principal_id is None:
            # Microsoft, *Use customer-managed keys with Azure Machine Learning*: "Allow Azure Cosmos DB to access
            # the key" before the workspace is created; the principal's object id differs per tenant and
            # azure-native cannot look it up (no Microsoft Graph), so the spec names it.
            yield ("azure", "cosmos_db_principal_id"), (
                "is required with `security.encryption: customer_managed` (Azure ML's Cosmos DB needs the ML key); "
                "set it to `az ad sp show --id a232010e-820c-4083-83bb-3ace5fc29d0b --query id -o tsv`")


def _network(spec: StackSpec) -> Iterator[Problem]:
    try:
        net = ipaddress.ip_network(spec.network.cidr, strict=True)
    except ValueError as exc:
        yield ("network", "cidr"), f"is not a valid network ({exc}); use e.g. 10.40.0.0/16"
        return
    if not (16 <= net.prefixlen <= 20):
        yield ("network", "cidr"), f"is a /{net.prefixlen}; use a /16 to /20 so pods, nodes and endpoints fit"
    if not net.is_private:
        yield ("network", "cidr"), "is not a private range; use 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16"
    yield from _zones(spec)
    yield from _public_gateway_cidrs(spec)
    if spec.network.egress == "none" and spec.model_endpoints and spec.cloud.provider == "azure":
        yield ("network", "egress"), "`none` needs an egress firewall on AKS for node bootstrap; use `nat`"
    elif spec.network.egress == "none" and not spec.network.private_endpoints:
        yield (("network", "egress"), "is `none` while private_endpoints is false: nodes could reach neither the "
                                      "internet nor the cloud's services; use `nat` or turn private_endpoints on")


def _public_gateway_cidrs(spec: StackSpec) -> Iterator[Problem]:
    cidrs = spec.network.public_gateway_cidrs
    if cidrs and not any(ep.exposure is Exposure.public for ep in spec.model_endpoints):
        yield ("network", "public_gateway_cidrs"), "only applies when an endpoint's exposure is `public`; remove it"
    for i, cidr in enumerate(cidrs):
        try:
            ipaddress.ip_network(cidr, strict=True)
        except ValueError as exc:
            yield (("network", "public_gateway_cidrs", i),
                   f"is not a valid CIDR ({exc}); use e.g. 203.0.113.0/24 or 2001:db8::/32")


def _zone_ok(provider: str, region: str, zone: str) -> bool:
    """A zone of the region, as the cloud's published list has it (`aienv.spec.regions`)."""
    return zone_problem(provider, region, zone) is None


def _zones(spec: StackSpec) -> Iterator[Problem]:
    net, provider, region = spec.network, spec.cloud.provider, spec.region
    for i, zone in enumerate(net.zones):
        problem = zone_problem(provider, region, zone) if _place_known(spec) else None
        if problem:
            yield ("network", "zones", i), problem
    if net.zones and len(set(net.zones)) != net.availability_zones:
        yield (("network", "zones"), f"lists {len(set(net.zones))} distinct zones but availability_zones is "
                                     f"{net.availability_zones}; make them agree")
    for i, pool in enumerate(spec.cluster.gpu_pools):
        for j, zone in enumerate(pool.zones):
            if not net.zones:
                yield (("cluster", "gpu_pools", i, "zones"),
                       "needs network.zones: list the environment's zones so the pool's can be checked against them")
                break
            if zone not in net.zones:
                yield (("cluster", "gpu_pools", i, "zones", j),
                       f"`{zone}` is not one of network.zones ({', '.join(net.zones)})")


def _cluster(spec: StackSpec) -> Iterator[Problem]:
    cluster = spec.cluster
    if cluster.api_access is EndpointAccess.public and not cluster.api_allowed_cidrs:
        yield (("cluster", "api_allowed_cidrs"),
               "is empty while api_access is `public`; list the CIDRs allowed to reach the API server")
    if cluster.api_access is EndpointAccess.private and cluster.api_allowed_cidrs:
        yield ("cluster", "api_allowed_cidrs"), "only applies when api_access is `public`; remove it"
    for i, cidr in enumerate(cluster.api_allowed_cidrs):
        try:
            ipaddress.ip_network(cidr, strict=True)
        except ValueError as exc:
            yield ("cluster", "api_allowed_cidrs", i), f"is not a valid CIDR ({exc})"
    pool = cluster.system_pool
    if pool.min_nodes is not None and pool.max_nodes is not None and pool.min_nodes > pool.max_nodes:
        yield (("cluster", "system_pool", "min_nodes"),
               f"is {pool.min_nodes}, more than max_nodes ({pool.max_nodes}); make min_nodes <= max_nodes")
    if spec.is_prod and pool.min_nodes is not None and pool.min_nodes < 2:
        yield ("cluster", "system_pool", "min_nodes"), "must be at least 2 in prod so add-ons survive a node loss"


def _deployer(spec: StackSpec) -> Iterator[Problem]:
    """The deployer must reach the API server it configures (docs/deploy.md)."""
    cluster, provider = spec.cluster, spec.cloud.provider
    deployer = cluster.deployer
    at: Path = ("cluster", "deployer")
    if deployer.path is None and cluster.api_access is EndpointAccess.private:
        options = "`private_network` with the deployer's `cidrs`"
        yield (*at, "path"), (f"is required: the API server is private and this stack deploys Kubernetes objects "
                              f"on it, so `pulumi up` needs a way in; set {options}, or make api_access `public` "
                              "with `api_allowed_cidrs` (see docs/deploy.md)")
    elif deployer.path == "dns_endpoint" and provider != "gcp":
        yield (*at, "path"), (f"`dns_endpoint` exists only on GKE, not on {provider}; use `private_network` with "
                              "the deployer's `cidrs`")
    if deployer.path == "private_network" and not deployer.cidrs:
        yield (*at, "cidrs"), ("is empty while path is `private_network`; list the deployer's network (the CI "
                               "runner subnet or VPN range)")
    if deployer.path != "private_network" and deployer.cidrs:
        yield (*at, "cidrs"), "only applies when path is `private_network`; remove it"
    for i, cidr in enumerate(deployer.cidrs):
        try:
            net = ipaddress.ip_network(cidr, strict=True)
        except ValueError as exc:
            yield (*at, "cidrs", i), f"is not a valid CIDR ({exc})"
            continue
        if net.prefixlen == 0:
            yield (*at, "cidrs", i), "admits every address; list the deployer's own network"


def _bring_up(spec: StackSpec) -> Iterator[Problem]:
    """What the first deploy needs from the spec: a source for every model, a supply for every image."""
    from aienv.images import UPSTREAMS, image_name

    for i, ep in enumerate(spec.model_endpoints):
        at: Path = ("model_endpoints", i)
        source = ep.model.source
        if source is None:
            yield (*at, "model", "source"), (
                "is required: say where the weights come from, e.g. `{huggingface: org/name}`, "
                "`{ngc: org/name:version}`, `{uri: s3://bucket/path/}` or `{uploaded: true}`; the stack "
                "imports them into the model bucket before the serving pods start")
        else:
            given = [k for k in ("huggingface", "ngc", "uri") if getattr(source, k)] + (
                ["uploaded"] if source.uploaded else [])
            if len(given) != 1:
                yield (*at, "model", "source"), (
                    f"sets {' and '.join(f'`{k}`' for k in given) if given else 'nothing'}; set exactly one of "
                    "`huggingface`, `ngc`, `uri` or `uploaded`")
            if source.ngc and not source.token_secret:
                yield (*at, "model", "source", "token_secret"), (
                    "is required for an NGC model: NGC downloads need an API key; name the cloud secret that "
                    "holds it")
            if source.revision and not source.huggingface:
                yield (*at, "model", "source", "revision"), "only applies to a `huggingface` source; remove it"
            if source.token_secret and (source.uploaded or source.uri):
                yield (*at, "model", "source", "token_secret"), (
                    "only applies to `huggingface` and `ngc` sources; remove it")
        if ep.supply == "cache":
            for key, image in (("image", ep.image), ("canary.image", ep.canary.image if ep.canary else None)):
                if image is not None and _image_problem(image) is None and image_name(image) not in UPSTREAMS:
                    yield (*at, *key.split(".")), (
                        f"`{image}` is not an upstream image aienv caches (known: "
                        f"{', '.join(sorted(UPSTREAMS))}); set `image_supply: ci` if your CI pushes it to the "
                        "environment's registry")


def _gpu_pools(spec: StackSpec) -> Iterator[Problem]:
    provider, place = spec.cloud.provider, spec.region
    repeats = _repeats([p.name for p in spec.cluster.gpu_pools])
    for i, pool in enumerate(spec.cluster.gpu_pools):
        at: Path = ("cluster", "gpu_pools", i)
        if i in repeats:
            yield (*at, "name"), f"`{pool.name}` is used by more than one GPU pool; pool names must be unique"
        offer = CATALOGUE[pool.gpu_type].offer(provider)
        if offer is None:
            clouds = ", ".join(sorted(CATALOGUE[pool.gpu_type].offers))
            yield (*at, "gpu_type"), f"{pool.gpu_type} is not offered on {provider} (only on {clouds}); pick another GPU type"
        else:
            if offer.regions and place and _place_known(spec) and place not in offer.regions:
                yield (*at, "gpu_type"), (f"{pool.gpu_type} is not offered in {place}; regions with it: "
                                          f"{', '.join(sorted(offer.regions))}")
            if offer.shape_for(pool.gpus_per_node) is None:
                yield (*at, "gpus_per_node"), (f"{provider} sells {pool.gpu_type} machines with "
                                               f"{_counts(offer.gpu_counts)} GPUs, not {pool.gpus_per_node}; "
                                               "use one of those counts")
        if pool.min_nodes is not None and pool.min_nodes > pool.max_nodes:
            yield (*at, "min_nodes"), (f"is {pool.min_nodes}, more than max_nodes ({pool.max_nodes}); "
                                       "make min_nodes <= max_nodes")
        for key in pool.labels:
            if key.startswith("aienv.io/"):
                yield (*at, "labels", key), "uses the reserved `aienv.io/` prefix; aienv sets these labels itself"


def _counts(counts: list[int]) -> str:
    return " or ".join(str(n) for n in counts)


def _endpoints(spec: StackSpec) -> Iterator[Problem]:
    repeats = _repeats([e.name for e in spec.model_endpoints])
    for i, ep in enumerate(spec.model_endpoints):
        at: Path = ("model_endpoints", i)
        if i in repeats:
            yield (*at, "name"), f"`{ep.name}` is used by more than one endpoint; endpoint names must be unique"
        if ep.runtime.value == "custom" and not ep.image:
            yield (*at, "image"), "is required when runtime is `custom`; give the container image"
        if spec.pool_for(ep) is None:
            same_type = [p for p in spec.cluster.gpu_pools if p.gpu_type == ep.gpu.type]
            if not same_type:
                yield (*at, "gpu", "type"), (f"no GPU pool of type {ep.gpu.type}: its pods would stay Pending; add a "
                                             f"pool with gpu_type {ep.gpu.type} to cluster.gpu_pools")
            else:
                biggest = max(p.gpus_per_node for p in same_type)
                yield (*at, "gpu", "count"), (f"asks {ep.gpu.count} x {ep.gpu.type} per replica but the largest "
                                              f"{ep.gpu.type} pool has {_plural(biggest, 'GPU')} per node; its pods "
                                              "would stay Pending: lower gpu.count or raise that pool's "
                                              "gpus_per_node")
        if ep.model.size_billion_params is not None:
            need = model_memory_gib(ep.model.size_billion_params, ep.model.precision)
            have = CATALOGUE[ep.gpu.type].memory_gib * ep.gpu.count
            if need > have:
                yield (*at, "model", "size_billion_params"), (
                    f"a {ep.model.size_billion_params:g}B model at {ep.model.precision} needs about {need:.0f} GiB of "
                    f"GPU memory but {ep.gpu.count} x {ep.gpu.type} has {have} GiB; raise gpu.count, use a larger GPU "
                    f"or a lower precision")
        reps = ep.replicas
        if reps.min is not None and reps.min > reps.max:
            yield (*at, "replicas", "min"), f"is {reps.min}, more than replicas.max ({reps.max}); make min <= max"
        if spec.is_prod and reps.min is not None and reps.min < 2:
            yield (*at, "replicas", "min"), "must be at least 2 in prod so one replica can fail or roll"
        if ep.exposure is not Exposure.cluster and ep.auth.mode == "none":
            yield (*at, "auth", "mode"), (f"is `none` but exposure is `{ep.exposure.value}`; endpoints outside the "
                                          "cluster need `api_key` or `jwt`")
        for key in ("issuer", "jwks_uri"):
            url = getattr(ep.auth, key)
            if url and (problem := https_url_problem(url, "https://login.example.com/")):
                yield (*at, "auth", key), problem
        if ep.auth.mode == "jwt":
            if not ep.auth.issuer:
                yield (*at, "auth", "issuer"), "is required when auth.mode is `jwt`"
            if not ep.auth.audiences:
                yield (*at, "auth", "audiences"), "needs at least one audience when auth.mode is `jwt`"
        for key, image in (("image", ep.image), ("canary.image", ep.canary.image if ep.canary else None)):
            if image is None:
                continue
            problem = _image_problem(image)
            if problem:
                yield (*at, *key.split(".")), problem
        if ep.canary is not None and ep.canary.version == ep.model.version and not ep.canary.image:
            yield (*at, "canary", "version"), "is the stable version; a canary must serve another version or image"


_IMAGE = re.compile(r"^[a-z0-9][a-z0-9._/-]*(:(?P<tag>[A-Za-z0-9_][A-Za-z0-9._-]{0,127}))?"
                    r"(@sha256:[a-f0-9]{64})?$")


def _image_problem(image: str) -> str | None:
    match = _IMAGE.match(image)
    if match is None:
        return f"`{image}` is not an image reference (`name:tag` or `name@sha256:<64 hex>`)"
    if "@sha256:" not in image and match.group("tag") in (None, "latest"):
        return f"`{image}` must be pinned to a version tag or a digest, not `latest` or no tag"
    return None


def _feature_store(spec: StackSpec) -> Iterator[Problem]:
    fs = spec.feature_store
    repeats = _repeats([v.name for v in fs.feature_views])
    for i, view in enumerate(fs.feature_views):
        if i in repeats:
            yield ("feature_store", "feature_views", i, "name"), f"`{view.name}` is used twice; names must be unique"
        feature_repeats = _repeats([f.name for f in view.features])
        for j, feature in enumerate(view.features):
            if j in feature_repeats:
                yield (("feature_store", "feature_views", i, "features", j, "name"),
                       f"`{feature.name}` is used twice in `{view.name}`")
    if fs.enabled and not fs.feature_views:
        yield ("feature_store", "feature_views"), "is empty while the feature store is enabled; add a feature view"


def _budget(spec: StackSpec) -> Iterator[Problem]:
    if spec.budget is None:
        return
    pool_gpus: Counter[str] = Counter()
    for pool in spec.cluster.gpu_pools:
        pool_gpus[pool.gpu_type] += pool.max_nodes * pool.gpus_per_node
    for gpu_type, cap in spec.budget.gpu_quota.items():
        if pool_gpus[gpu_type] > cap:
            yield (("budget", "gpu_quota", gpu_type),
                   f"caps {gpu_type} at {_plural(cap, 'GPU')} but the pools can reach {pool_gpus[gpu_type]}; lower "
                   "the pools' max_nodes or raise the cap")
    for i, address in enumerate(spec.budget.notify_emails):
        if problem := email_problem(address):
            yield ("budget", "notify_emails", i), problem
    thresholds = spec.budget.alert_thresholds_percent
    if thresholds != sorted(set(thresholds)):
        yield ("budget", "alert_thresholds_percent"), "must be increasing without repeats, e.g. [50, 80, 100]"
    limit = BUDGET_NOTIFICATION_LIMITS.get(spec.cloud.provider)
    if limit is not None and len(thresholds) > limit:
        yield (("budget", "alert_thresholds_percent"),
               f"has {len(thresholds)} thresholds; {spec.cloud.provider} budgets allow at most {limit} notifications")
    if spec.cloud.provider == "gcp" and not spec.gcp.billing_account:
        yield ("gcp", "billing_account"), "is required on GCP when `budget` is set (budgets belong to a billing account)"


def _compliance(spec: StackSpec) -> Iterator[Problem]:
    allowed = spec.compliance.allowed_regions
    if allowed and spec.region and spec.region not in allowed:
        key = "location" if spec.cloud.provider == "azure" else "region"
        yield ("cloud", key), (f"{spec.region} is outside compliance.allowed_regions ({', '.join(allowed)}); "
                               "data must stay in an allowed region")
    every_region = frozenset().union(*REGIONS.values())
    for i, region in enumerate(allowed):
        if region not in every_region and region.lower() not in GCP_MULTI_REGIONS:
            suggestion = closest(region, every_region)
            yield (("compliance", "allowed_regions", i),
                   f"`{region}` is not a region or location of AWS, Azure or GCP"
                   + (f"; did you mean `{suggestion}`?" if suggestion else "; write the cloud's region name"))
    packs = [p.value for p in spec.compliance.packs]
    for framework in spec.compliance.frameworks:
        if framework in ("hipaa", "gdpr", "soc2") and framework not in packs:
            yield (("compliance", "frameworks"),
                   f"lists {framework} but compliance.packs does not; add `{framework}` to compliance.packs")


def _monitoring(spec: StackSpec) -> Iterator[Problem]:
    repeats = _repeats([r.name for r in spec.monitoring.alert_routes])
    for i, route in enumerate(spec.monitoring.alert_routes):
        at: Path = ("monitoring", "alert_routes", i)
        if i in repeats:
            yield (*at, "name"), f"`{route.name}` is used twice; route names must be unique"
        if route.kind == "email":
            problem = email_problem(route.target)
        else:
            problem = https_url_problem(route.target)
            if problem:
                problem = f"{problem} (a {route.kind} route posts to an https URL)"
        if problem:
            yield (*at, "target"), problem
    emails = [i for i, r in enumerate(spec.monitoring.alert_routes) if r.kind == "email"]
    if emails and spec.monitoring.smtp is None:
        yield (("monitoring", "alert_routes", emails[0], "kind"),
               "is `email` but monitoring.smtp is not set; give the mail relay alerts are sent through")
    smtp = spec.monitoring.smtp
    if smtp is not None and (problem := email_problem(smtp.from_address)):
        yield ("monitoring", "smtp", "from_address"), problem
    problem = schedule_problem(spec.monitoring.drift.schedule)
    if problem:
        yield ("monitoring", "drift", "schedule"), problem
    if spec.is_prod and spec.model_endpoints and not spec.monitoring.alert_routes:
        yield ("monitoring", "alert_routes"), "is empty in prod; alerts would reach nobody — add a route"


# --- Deployability (the `aienv-deploy` pack's checks that the spec alone decides, same messages) ---------------
# AWS KMS: "rotation_period_in_days ... Must be a number between 90 and 2560 (inclusive)" (aws.kms.Key
# docstring); Cloud KMS: "must be greater than a day" (gcp.kms.CryptoKey); Azure Key Vault rotation policy: "the
# minimum value is seven days from creation" (how-to-configure-key-rotation).
KEY_ROTATION_RANGE = {"aws": (90, 2560), "gcp": (2, 36500), "azure": (7, 36500)}
# GCP budgets: "A maximum of 5 channels are allowed" (gcp.billing BudgetAllUpdatesRule docstring).
GCP_BUDGET_CHANNELS = 5
# The serving layer's model-fetch init container (components/kubernetes/serving.py) requests 1 CPU and 2Gi;
# a pod's effective request is the larger of its containers' sum and its largest init container.
FETCH_CPU_MILLIS, FETCH_MEMORY_MIB = 1000, 2048


def _deployability(spec: StackSpec) -> Iterator[Problem]:
    """What `aienv-deploy` would refuse on the plan and the spec already decides (docs/deploy.md)."""
    from aienv import capacity, gpus

    provider = spec.cloud.provider
    low, high = KEY_ROTATION_RANGE[provider]
    if spec.security.encryption == "customer_managed" and not low <= spec.security.key_rotation_days <= high:
        yield (("security", "key_rotation_days"),
               f"is {spec.security.key_rotation_days}; {provider} key rotation must be {low} to {high} days")
    if provider == "gcp" and spec.budget is not None and len(spec.budget.notify_emails) > GCP_BUDGET_CHANNELS:
        yield (("budget", "notify_emails"),
               f"lists {len(spec.budget.notify_emails)} addresses; a GCP budget notifies at most "
               f"{GCP_BUDGET_CHANNELS} monitoring channels (one per address)")
    for i, pool in enumerate(spec.cluster.gpu_pools):
        selling = gpus.zones_selling(provider, pool.gpu_type, spec.region)
        if selling is None or not _place_known(spec):  # a misspelt region is the region's error alone
            continue
        if pool.zones and not spec.network.zones:
            continue  # `_zones` asks for network.zones first
        zones = [z for z in (pool.zones or spec.network.zones) if _zone_ok(provider, spec.region, z)
                 and (not pool.zones or z in spec.network.zones)]  # malformed or foreign zones: `_zones`
        at: Path = ("cluster", "gpu_pools", i, "zones")
        missing = [z for z in zones if z not in selling]
        offer = ", ".join(sorted(selling)) or "none"
        if missing:
            yield at, f"{', '.join(missing)}: {pool.gpu_type} is sold in {spec.region} only in {offer}"
        elif not zones and len(selling) < 3:
            yield at, (f"is empty, so the pool inherits three default zones of {spec.region}, but {pool.gpu_type} "
                       f"is sold only in {offer}; list those zones")
    for i, ep in enumerate(spec.model_endpoints):
        serving_pool = spec.pool_for(ep)
        if serving_pool is None:
            continue
        shape = gpus.CATALOGUE[serving_pool.gpu_type].offer(provider)
        machine = shape.shape_for(serving_pool.gpus_per_node) if shape else None
        alloc = capacity.allocatable(provider, machine.machine_type) if machine else None
        if alloc is None or machine is None:
            continue
        cpu = max(capacity.cpu_millis(ep.resources.cpu) or 0, FETCH_CPU_MILLIS)
        mem = max(capacity.memory_mib(ep.resources.memory) or 0, FETCH_MEMORY_MIB)
        at = ("model_endpoints", i, "resources")
        reserve = f"{alloc.reserved_cpu_millis}m CPU and {alloc.reserved_memory_mib} MiB"
        if cpu > alloc.cpu_millis:
            yield (*at, "cpu"), (f"{ep.resources.cpu} does not fit a {machine.machine_type} node of pool "
                                 f"`{serving_pool.name}`: it gives pods {alloc.cpu_millis}m after the cloud reserves "
                                 f"{reserve}; its pods would stay Pending")
        if mem > alloc.memory_mib:
            yield (*at, "memory"), (f"{ep.resources.memory} does not fit a {machine.machine_type} node of pool "
                                    f"`{serving_pool.name}`: it gives pods {alloc.memory_mib} MiB after the cloud reserves "
                                    f"{reserve}; its pods would stay Pending")
def _azure_upstreams(spec: StackSpec) -> Iterator[Problem]:
    """ACR cache rules: only upstreams ACR's artifact cache supports, credentials where they are needed, in the
    shape a credential set takes (a user name, and the password in a Key Vault secret the stack can scope)."""
    if spec.cloud.provider != "azure":
        return
    from aienv.images import ACR_CACHE_NEEDS_CREDENTIALS, ACR_CACHE_UPSTREAMS, upstream_registries
    from aienv.naming import azure_key_vault, azure_secret_ref

    scope = spec.cloud.subscription_id or ""
    for host in upstream_registries(spec):
        if host not in ACR_CACHE_UPSTREAMS:
            yield ("registries", "upstreams"), (
                f"the images from `{host}` cannot be cached: Azure Container Registry's artifact cache supports "
                f"{', '.join(sorted(ACR_CACHE_UPSTREAMS))}; set `image_supply: ci` on the endpoints that use it "
                "and let your CI push the image")
        elif host in ACR_CACHE_NEEDS_CREDENTIALS and host not in spec.registries.upstreams:
            yield ("registries", "upstreams"), (
                f"needs credentials for `{host}`: ACR's cache pulls from shared Azure addresses, which Docker Hub "
                f"rate-limits anonymously; add `{host}: {{username: <user>, secret: <Key Vault secret of an access "
                "token>}`")
    for host, upstream in spec.registries.upstreams.items():
        at: Path = ("registries", "upstreams", host)
        if ACR_CACHE_UPSTREAMS.get(host) is False:
            yield at, f"`{host}` is cached anonymously only on Azure; remove its credentials"
            continue
        if upstream.username is not None:
            yield (*at, "username"), ("is not used on Azure: an ACR credential set reads the user name from Key "
                                      "Vault too; store it in a secret and give `username_secret` instead")
        if upstream.username_secret is None:
            yield (*at, "username_secret"), ("is required on Azure: an ACR credential set reads the user name and "
                                             "the password from Key Vault secrets")
        elif azure_secret_ref(upstream.username_secret, spec.name, scope) is None:
            yield (*at, "username_secret"), _azure_secret_hint(azure_key_vault(spec.name, scope))
        if azure_secret_ref(upstream.secret, spec.name, scope) is None:
            yield (*at, "secret"), _azure_secret_hint(azure_key_vault(spec.name, scope))


def _azure_secret_hint(vault: str) -> str:
    return ("must be a Key Vault secret the stack can grant read access on exactly: its resource id "
            "(`/subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.KeyVault/vaults/<vault>/secrets/<name>`)"
            f" or a secret URL in the environment's own vault (`https://{vault}.vault.azure.net/secrets/<name>`)")


def _azure_model_sources(spec: StackSpec) -> Iterator[Problem]:
    """The import job's identity reads exactly its token secret and its source path, so both must be resources
    the stack can name on Azure."""
    if spec.cloud.provider != "azure":
        return
    from aienv.naming import azure_blob_ref, azure_key_vault, azure_secret_ref, azure_storage_account

    scope = spec.cloud.subscription_id or ""
    own_accounts = {azure_storage_account(spec.name, s) for s in (scope, f"{scope}/lake", f"{scope}/public")}
    for i, ep in enumerate(spec.model_endpoints):
        source = ep.model.source
        if source is None:
            continue
        at: Path = ("model_endpoints", i, "model", "source")
        if source.token_secret and azure_secret_ref(source.token_secret, spec.name, scope) is None:
            yield (*at, "token_secret"), _azure_secret_hint(azure_key_vault(spec.name, scope))
        if source.uri:
            blob = azure_blob_ref(source.uri)
            if blob is None:
                yield (*at, "uri"), ("must be an Azure blob URL on Azure (`https://<account>.blob.core.windows.net/"
                                     "<container>/<path>`); copy weights from another cloud with `uploaded: true`")
            elif blob.account not in own_accounts:
                yield (*at, "uri"), (f"is in the storage account `{blob.account}`, outside this environment: the "
                                     "import job can only be granted read on the environment's own containers; "
                                     "copy the weights there or use `uploaded: true`")


def _azure_alert_routes(spec: StackSpec) -> Iterator[Problem]:
    """Azure action groups post the common alert schema, which Slack incoming webhooks refuse (a Slack message
    needs `text` or `blocks`)."""
    if spec.cloud.provider != "azure":
        return
    for i, route in enumerate(spec.monitoring.alert_routes):
        if route.kind == "slack":
            yield (("monitoring", "alert_routes", i, "kind"),
                   "`slack` cannot be an Azure action group target: action groups post Azure's common alert "
                   "schema, which Slack incoming webhooks refuse; route to a Logic App or relay (`webhook`) that "
                   "formats the message")


# The object store a `model.source.uri` must be in: the import copies it with the environment's own identity.
_SOURCE_URI_PREFIX = {"aws": ("s3://", "an `s3://` path"), "gcp": ("gs://", "a `gs://` path"),
                      "azure": ("https://", "an Azure blob URL (`https://<account>.blob.core.windows.net/...`)")}


def _kubernetes_layer(spec: StackSpec) -> Iterator[Problem]:
    """What the shared Kubernetes layer cannot run (components/kubernetes/layer.py refuses the same)."""
    from aienv import conventions as c

    low, high = c.KUBERNETES_MINORS
    minor = int(spec.cluster.kubernetes_version.split(".")[1])
    if not low <= minor <= high:
        yield ("cluster", "kubernetes_version"), (
            f"is {spec.cluster.kubernetes_version}, but the Kubernetes layer's charts support 1.{low} to 1.{high} "
            f"(Envoy Gateway v1.7's compatibility matrix); pick a version in that range")
    elif problem := kube_versions.support_problem(spec.cloud.provider, spec.cluster.kubernetes_version, spec.region,
                                                  kube_versions.today(), (low, high)):
        yield ("cluster", "kubernetes_version"), f"is {spec.cluster.kubernetes_version}: {problem}"
    provider = spec.cloud.provider
    for i, ep in enumerate(spec.model_endpoints):
        at: Path = ("model_endpoints", i)
        if (ep.auth.mode == "jwt" and ep.auth.issuer and not ep.auth.jwks_uri
                and c.known_jwks_uri(ep.auth.issuer) is None):
            yield (*at, "auth", "jwks_uri"), (
                f"is required for the issuer `{ep.auth.issuer}`: a key set URL is not derivable from an issuer; "
                "use the `jwks_uri` of <issuer>/.well-known/openid-configuration")
        if ep.autoscaling.metric == "cpu" and provider == "aws":
            yield (*at, "autoscaling", "metric"), (
                "`cpu` needs metrics-server, which EKS does not deploy (EKS user guide, Horizontal Pod "
                "Autoscaler); use `gpu_utilization` or `requests_in_flight`")
        source = ep.model.source
        if source is None or source.uploaded:
            continue
        prefix, what = _SOURCE_URI_PREFIX[provider]
        if source.uri and not source.uri.startswith(prefix):
            yield (*at, "model", "source", "uri"), (
                f"must be {what} on {provider}: the import copies it with the environment's own identity; copy "
                "the weights there first")
        own = f"models/{ep.name}/"
        if ep.model.artifact_path and not ep.model.artifact_path.lstrip("/").startswith(own):
            yield (*at, "model", "artifact_path"), (
                f"must be under `{own}` when the stack imports the weights (the import identity writes only "
                f"there); move it, or set `source: {{uploaded: true}}`")


def _gcp_images(spec: StackSpec) -> Iterator[Problem]:
    """Artifact Registry remote repositories: credentials for the upstreams that need them, as Secret Manager
    versions the registry's service agent can read."""
    if spec.cloud.provider != "gcp":
        return
    from aienv.images import upstream_registries
    from aienv.naming import GCP_CACHE_CREDENTIALS_REQUIRED, GCP_SECRET_VERSION

    used = upstream_registries(spec)
    upstreams = spec.registries.upstreams
    for host in used:
        if host in GCP_CACHE_CREDENTIALS_REQUIRED and host not in upstreams:
            user = GCP_CACHE_CREDENTIALS_REQUIRED[host]
            yield ("registries", "upstreams"), (
                f"has no credentials for {host}: its images need an API key (user `{user}`); store the key in "
                f"Secret Manager and add `{host}: {{secret: projects/<project>/secrets/<name>/versions/<n>}}`, or "
                "set `image_supply: ci` on the endpoints that use it and have your CI push the image")
    for host, upstream in upstreams.items():
        at: Path = ("registries", "upstreams", host)
        if host not in used:
            yield at, f"no image of this stack comes from {host}; remove it"
        if not GCP_SECRET_VERSION.match(upstream.secret):
            yield (*at, "secret"), ("must be a Secret Manager secret version, "
                                    "`projects/<project>/secrets/<name>/versions/<n or latest>` (Artifact Registry "
                                    "reads the password from exactly that version)")


def _gcp_models(spec: StackSpec) -> Iterator[Problem]:
    """The GCP import job reads a `source.uri` and a token secret with its own service account."""
    if spec.cloud.provider != "gcp":
        return
    from aienv.naming import GCP_SECRET_ID, GCP_SECRET_NAME

    for i, ep in enumerate(spec.model_endpoints):
        source = ep.model.source
        if source is None:
            continue
        at: Path = ("model_endpoints", i, "model", "source")
        if source.uri and not source.uri.startswith("gs://"):
            yield (*at, "uri"), (f"`{source.uri}` is not a Cloud Storage path; on GCP the import job reads only "
                                 "`gs://bucket/path/` (copy the weights to a bucket first)")
        secret = source.token_secret
        if secret and not (GCP_SECRET_ID.match(secret) or GCP_SECRET_NAME.match(secret)):
            yield (*at, "token_secret"), (f"`{secret}` is not a Secret Manager secret: give its id "
                                          "(`huggingface-token`) or `projects/<project>/secrets/<id>`")


def _gcp_cluster(spec: StackSpec) -> Iterator[Problem]:
    """GKE node pools are named after the spec's pools; the system pool is `system`."""
    if spec.cloud.provider != "gcp":
        return
    for i, pool in enumerate(spec.cluster.gpu_pools):
        if pool.name == "system":
            yield ("cluster", "gpu_pools", i, "name"), ("`system` is the system pool's name on GKE (node pool names "
                                                        "are unique in a cluster); choose another name")


def _gcp_monitoring(spec: StackSpec) -> Iterator[Problem]:
    """Cloud Monitoring alerts (GKE nodes, restarts, Redis) need a route Monitoring can post to: it cannot
    use a Slack incoming webhook (components/gcp/audit.py)."""
    if spec.cloud.provider != "gcp" or not spec.monitoring.alert_routes:
        return
    routes = spec.monitoring.alert_routes
    for severity in ("critical", "warning"):
        takers = [r for r in routes if severity in r.severities]
        if takers and all(r.kind == "slack" for r in takers):
            yield (("monitoring", "alert_routes"),
                   f"sends {severity} alerts only to Slack; Cloud Monitoring's alerts (GKE nodes, restarts, Redis) "
                   "cannot post to a Slack incoming webhook, so add an email, pagerduty or webhook route for "
                   f"{severity}")


def _aws_images(spec: StackSpec) -> Iterator[Problem]:
    """ECR pull-through caches: the upstreams ECR can cache, and the credentials the others need."""
    if spec.cloud.provider != "aws":
        return
    from aienv.images import endpoint_images, image_name, upstream_image, upstream_registries
    from aienv.naming import AWS_CACHE_ANONYMOUS, AWS_CACHE_UPSTREAMS

    supported = ", ".join(sorted(AWS_CACHE_UPSTREAMS))
    for i, ep in enumerate(spec.model_endpoints):
        if ep.supply != "cache":
            continue
        for image in endpoint_images(ep):
            upstream = upstream_image(image)
            if upstream is not None and upstream.registry not in AWS_CACHE_UPSTREAMS:
                yield ("model_endpoints", i, "image_supply"), (
                    f"is `cache`, but ECR pull-through cache cannot cache {upstream.registry} "
                    f"(`{upstream.upstream_ref}`; ECR caches {supported}); set `image_supply: ci` and have your "
                    f"CI push the image to the environment's repository `{spec.name}/{ep.family}/{image_name(image)}`")
    used = upstream_registries(spec)
    upstreams = spec.registries.upstreams
    for host in used:
        if host in AWS_CACHE_UPSTREAMS and host not in AWS_CACHE_ANONYMOUS and host not in upstreams:
            yield ("registries", "upstreams"), (
                f"has no credentials for {host}: ECR caches {host} only with a Secrets Manager secret (JSON "
                f"`username` and `accessToken`); create it and add `{host}: {{secret: ecr-pullthroughcache/<name>}}`")
    for host, credentials in upstreams.items():
        at: Path = ("registries", "upstreams", host)
        if host not in used:
            yield at, f"no image of this stack comes from {host}; remove it"
        if credentials.username is not None:
            yield (*at, "username"), ("does not apply on AWS: the Secrets Manager secret holds both `username` and "
                                      "`accessToken`; remove it")
        secret_name = credentials.secret.split(":secret:", 1)[-1]
        if not secret_name.startswith("ecr-pullthroughcache/"):
            yield (*at, "secret"), ("must name a Secrets Manager secret whose name starts with `ecr-pullthroughcache/` "
                                    "(ECR's pull-through cache reads only those)")


def _aws_deployer(spec: StackSpec) -> Iterator[Problem]:
    """The EKS private endpoint of an IPv4 cluster answers IPv4 only ("`IPv4` Kubernetes cluster private
    endpoint: IPv4 Yes, IPv6 No", EKS user guide, VPC and subnet requirements)."""
    if spec.cloud.provider != "aws" or spec.cluster.deployer.path != "private_network":
        return
    for i, cidr in enumerate(spec.cluster.deployer.cidrs):
        if ":" in cidr:
            yield ("cluster", "deployer", "cidrs", i), (
                f"`{cidr}` is IPv6, but the EKS private endpoint answers IPv4 only; list the deployer's IPv4 network")


# --- The MLOps loop: capture, drift, retraining, progressive delivery, scale to zero ---------------------------
# SageMaker pipeline names: "^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,255}" (SageMaker API reference, StartPipelineExecution,
# PipelineName); an ARN names the pipeline in its own region, and the trigger calls SageMaker in the stack's.
_SAGEMAKER_PIPELINE = re.compile(r"^[A-Za-z0-9](-*[A-Za-z0-9]){0,255}$")
_SAGEMAKER_PIPELINE_ARN = re.compile(r"^arn:aws[a-z-]*:sagemaker:(?P<region>[a-z0-9-]+):\d{12}:pipeline/"
                                     r"[A-Za-z0-9](-*[A-Za-z0-9]){0,255}$")
_VERTEX_TEMPLATE = re.compile(r"^(gs://[a-z0-9][a-z0-9._-]{1,221}/.+|https://[a-z0-9-]+-kfp\.pkg\.dev/.+)$")
# An ARM id, so the trigger's read on it can be granted (a registry's; the workspace's comes with its jobs role).
_AZURE_COMPONENT = re.compile(
    r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.MachineLearningServices/"
    r"(workspaces|registries)/[^/]+/components/[^/]+/versions/[^/]+$", re.IGNORECASE)
# LLM load signals only vLLM exports (vllm/v1/metrics/loggers.py: `vllm:num_requests_waiting`,
# `vllm:kv_cache_usage_perc`, `vllm:time_to_first_token_seconds`).
VLLM_ONLY_METRICS = ("queue_depth", "kv_cache_usage")


def _pipeline_problem(provider: str, region: str, pipeline: str) -> str | None:
    if provider == "aws":
        arn = _SAGEMAKER_PIPELINE_ARN.match(pipeline)
        if arn is None and not _SAGEMAKER_PIPELINE.match(pipeline):
            return (f"`{pipeline}` is not a SageMaker pipeline name or ARN "
                    "(`arn:aws:sagemaker:<region>:<account>:pipeline/<name>`)")
        if arn is not None and arn.group("region") != region:
            return f"names a pipeline in {arn.group('region')}; the trigger starts pipelines in {region}"
        return None
    if provider == "gcp":
        if not _VERTEX_TEMPLATE.match(pipeline):
            return (f"`{pipeline}` is not a Vertex AI pipeline template: give a compiled pipeline in Cloud Storage "
                    "(`gs://<bucket>/<path>.json`) or Artifact Registry (`https://<region>-kfp.pkg.dev/...`)")
        return None
    if not _AZURE_COMPONENT.match(pipeline):
        return (f"`{pipeline}` is not the ARM id of an Azure ML pipeline component version "
                "(`/subscriptions/.../workspaces/<ws>/components/<name>/versions/<v>`, or `.../registries/<r>/...`), "
                "the form the trigger's read on it is granted for")
    return None


def _mlops(spec: StackSpec) -> Iterator[Problem]:
    """Capture feeds drift, drift (or quality) starts retraining, rollouts are analysed, idle endpoints scale to
    zero: the combinations that cannot work are refused here (the Kubernetes layer builds only what passes)."""
    provider = spec.cloud.provider
    window_hours = spec.monitoring.drift.window_hours
    for i, ep in enumerate(spec.model_endpoints):
        at: Path = ("model_endpoints", i)
        vllm = ep.runtime.value == "vllm"
        if ep.drift and not ep.capture.enabled:
            yield (*at, "drift"), ("is on but capture is off: the drift job would find no recent samples; turn "
                                   "`capture.enabled` on, or set `drift: false`")
        if ep.drift and ep.capture.enabled and ep.capture.retention_days * 24 < window_hours:
            yield (*at, "capture", "retention_days"), (
                f"keeps {ep.capture.retention_days} day(s) of samples, less than the drift window "
                f"(monitoring.drift.window_hours: {window_hours}); keep at least the window")
        if ep.autoscaling.metric in VLLM_ONLY_METRICS and not vllm:
            yield (*at, "autoscaling", "metric"), (f"`{ep.autoscaling.metric}` is a vLLM metric; the "
                                                   f"`{ep.runtime.value}` runtime does not export it")
        if ep.autoscaling.metric == "kv_cache_usage" and ep.autoscaling.target > 100:
            yield (*at, "autoscaling", "target"), "is a percent of the KV cache for `kv_cache_usage`; use 1 to 100"

        rt = ep.retraining
        if rt is not None:
            if "drift" in rt.triggers and not ep.drift:
                yield (*at, "retraining", "triggers"), ("lists `drift` but the endpoint runs no drift job; turn "
                                                        "`drift` on or remove the trigger")
            if "quality" in rt.triggers and rt.quality_threshold is None:
                yield (*at, "retraining", "quality_threshold"), "is required when `triggers` lists `quality`"
            problem = _pipeline_problem(provider, spec.region, rt.pipeline)
            if problem:
                yield (*at, "retraining", "pipeline"), problem
            if provider == "azure" and rt.compute is None:
                yield (*at, "retraining", "compute"), ("is required on Azure: the Azure ML compute cluster the "
                                                       "pipeline runs on")
            if provider != "azure" and rt.compute is not None:
                yield (*at, "retraining", "compute"), f"applies only on Azure, not on {provider}; remove it"

        ro = ep.rollout
        if ro is not None:
            if ep.canary is not None:
                yield (*at, "rollout"), ("and `canary` both split traffic; a progressive rollout replaces the fixed "
                                         "canary: remove `canary`")
            steps = ro.steps
            if any(b <= a for a, b in zip(steps, steps[1:], strict=False)):
                yield (*at, "rollout", "steps"), f"must increase step by step; got {steps}"
            if len(steps) < 2:
                yield (*at, "rollout", "steps"), ("needs at least one step below 100 before the full promotion; "
                                                  "with only 100 the new version takes all traffic unmeasured")
            if steps[-1] != 100:
                yield (*at, "rollout", "steps"), (f"must end at 100 (full promotion); the last step is {steps[-1]}%, "
                                                  "so the new version would never take all the traffic")
            if ro.analysis.max_ttft_p95_ms is not None and not vllm:
                yield (*at, "rollout", "analysis", "max_ttft_p95_ms"), (
                    f"measures vLLM's time to first token; the `{ep.runtime.value}` runtime does not export it")
            if ro.analysis.interval_minutes > ro.step_minutes:
                yield (*at, "rollout", "analysis", "interval_minutes"), (
                    f"is {ro.analysis.interval_minutes}, longer than a step ({ro.step_minutes} min): a step would "
                    "pass unmeasured; measure at most every step_minutes")

        if ep.scales_to_zero:
            if ep.replicas.min:
                yield (*at, "replicas", "min"), (f"is {ep.replicas.min} but the endpoint scales to zero when idle; "
                                                 "set it to 0 or turn `scale_to_zero.enabled` off")
            if spec.is_prod:
                yield (*at, "scale_to_zero", "enabled"), ("is on in prod, where endpoints keep at least two replicas; "
                                                          "turn it off")
            if ep.canary is not None or ep.rollout is not None:
                yield (*at, "scale_to_zero", "enabled"), (
                    "cannot combine with a canary or rollout: an idle endpoint's requests wait in KEDA's interceptor "
                    "for one Service, and a rollout's analysis needs traffic; remove one of them")
