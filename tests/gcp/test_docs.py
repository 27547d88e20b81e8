"""docs/gcp.md states figures of the reference plan; they must be the plan's."""

from __future__ import annotations

import re
from collections import Counter

from aienv import capacity, startup
from components.kubernetes.weight_cache import cache_gib
from tests.gcp.gcpplan import ROOT, inputs, prod_spec

DOC = (ROOT / "docs" / "gcp.md").read_text()
POOL = "gcp:container/nodePool:NodePool"


def test_documented_component_counts_are_the_plans(prod):
    # Each component's resources (providers and the Foundation's own StorageClass aside), as the doc counts them.
    components = {r.urn: r.type.rsplit(":", 1)[-1] for r in prod.resources
                  if r.type.startswith("aienv:gcp:") and r.type != "aienv:gcp:Foundation"}
    counts = Counter(components[r.parent] for r in prod.resources
                     if r.custom and not r.type.startswith("pulumi:providers:") and r.parent in components)
    match = re.search(r"plans to (\d+) resources \((\d+) GCP resources and one `time` Sleep.*?provider: (.*?)\. ",
                      DOC, re.S)
    assert match, "docs/gcp.md lost its resource counts"
    documented = {name: int(n) for name, n in re.findall(r"(\w+) (\d+)", match.group(3))}
    assert documented == dict(counts)
    sleeps = sum(1 for r in prod.resources if r.type == "time:index/sleep:Sleep")
    assert (int(match.group(1)), int(match.group(2)), sleeps) == (sum(counts.values()),
                                                                 sum(counts.values()) - 1, 1)


def _section(title: str) -> str:
    match = re.search(rf"^### {title}\n(.*?)(?=^#)", DOC, re.S | re.M)
    assert match, f"docs/gcp.md lost its {title!r} section"
    return " ".join(match.group(1).split())


def test_node_fit_states_the_plans_shapes_requests_and_disks(prod):
    text = _section("Node fit")
    spec = prod_spec()
    pools = {inputs(r)["name"]: inputs(r) for r in prod.of_type(POOL)}
    chat, reason = (next(e for e in spec.model_endpoints if e.name == n) for n in ("chat", "reason"))

    l4 = pools[spec.pool_for(chat).name]["nodeConfig"]
    fit = capacity.allocatable("gcp", l4["machineType"])
    assert fit is not None
    shape = capacity.SHAPES[l4["machineType"]]
    assert (f"`chat` requests {chat.resources.memory} on `{l4['machineType']}` ({shape.memory_gib:g} GiB, about "
            f"{fit.memory_mib / 1024:.1f} GiB allocatable)") in text

    a100 = pools[spec.pool_for(reason).name]["nodeConfig"]
    assert f"A100 pool's {a100['diskSizeGb']} GB disk leaves pods about " \
           f"{capacity.pod_disk_gib(a100['diskSizeGb']):.0f} GiB" in text
    checkpoint = startup.checkpoint_bytes(reason)
    assert f"cache takes {cache_gib(checkpoint)} GiB" in text
    assert f"its {checkpoint / 1e9:.0f} GB checkpoint" in text
    node = capacity.allocatable("gcp", a100["machineType"])
    assert node is not None and reason.gpu is not None
    memory = capacity.memory_mib(reason.resources.memory)
    assert memory
    per_node = min(node.gpus // reason.gpu.count, int(node.memory_mib // memory))
    assert f"the {['one', 'two', 'three', 'four'][per_node - 1]} replicas an `{a100['machineType']}` node" in text
