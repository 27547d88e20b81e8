"""The cold and warm start estimates (aienv/startup.py) and their table in docs/kubernetes.md."""

from __future__ import annotations

import re

import pytest

from aienv import startup
from aienv.spec import load_spec
from tests.conftest import ROOT, STACKS

REFERENCE = ["dev-aws", "prod-aws", "prod-azure", "prod-gcp"]


def _spec(name: str):
    return load_spec(STACKS / f"{name}.yaml").spec


def test_docs_table_is_the_estimates_of_the_reference_endpoints() -> None:
    doc = (ROOT / "docs" / "kubernetes.md").read_text()
    match = re.search(r"<!-- startup:begin -->\n(.*?)<!-- startup:end -->", doc, re.S)
    assert match, "docs/kubernetes.md lost its start-up table"
    assert match.group(1) == startup.table([_spec(n) for n in REFERENCE])


def test_a_step_is_a_size_over_a_documented_throughput() -> None:
    spec = _spec("prod-aws")
    summarize = next(e for e in spec.model_endpoints if e.name == "summarize")
    e = startup.estimate(spec, summarize)
    assert e.checkpoint_gb == 140  # 70B at bf16
    assert e.disk_mb_s == pytest.approx(125 * 2**20 / 1e6)  # gp3 baseline
    assert e.copy_s == e.load_s == 1069  # 140e9 / 131.07e6 (the disk is slower than the network)
    assert e.cold_s == 240 + 100 + 1069 + 1069 + 90
    assert e.warm_s == 1069 + 90  # the node has the image and the version: no pull, no copy


def test_without_the_node_cache_a_warm_start_copies_again() -> None:
    spec = _spec("prod-gcp")
    chat = spec.model_endpoints[0].model_copy(update={"weight_cache": "none"})
    e = startup.estimate(spec, chat)
    assert e.warm_s == e.copy_s + e.load_s + e.engine_s


@pytest.mark.parametrize(("cloud", "disk_gb", "mb_s"), [
    ("gcp", 600, (140 + 0.28 * 600e9 / 2**30) * 2**20 / 1e6),  # pd-balanced: baseline + per GiB
    ("azure", 200, 125), ("azure", 512, 150), ("azure", 1000, 200),  # P15, P20, P30
])
def test_disk_throughput_follows_the_clouds_published_limits(cloud: str, disk_gb: int, mb_s: float) -> None:
    assert startup.disk_bytes_per_second(cloud, disk_gb) / 1e6 == pytest.approx(mb_s)
