"""docs/aws.md states the foundation's resource counts; they must be the plan's."""

from __future__ import annotations

import re
from collections import Counter

from .awsplan import ROOT, AwsPlan

DOC = (ROOT / "docs" / "aws.md").read_text()


def _counts(plan: AwsPlan) -> Counter[str]:
    components = {r.urn: r.type.rsplit(":", 1)[-1] for r in plan.resources if r.type.startswith("aienv:aws:")}
    return Counter(components[r.parent] for r in plan.resources
                   if r.custom and not r.type.startswith("pulumi:providers:") and r.parent in components)


def test_documented_totals_are_the_plans(prod: AwsPlan, dev: AwsPlan) -> None:
    match = re.search(r"`stacks/prod-aws.yaml` plans to (\d+) resources.*?`stacks/dev-aws.yaml` to (\d+)", DOC, re.S)
    assert match, "docs/aws.md lost its totals"
    assert (int(match.group(1)), int(match.group(2))) == (sum(_counts(prod).values()), sum(_counts(dev).values()))


def test_documented_component_counts_are_the_plans(prod: AwsPlan) -> None:
    counts = _counts(prod)
    rows = re.findall(r"^\| `(\w+)` \| `\w+\.py` \| .*\((\d+)\) \|$", DOC, re.M)
    assert {name for name, _ in rows} == set(counts)
    assert {name: int(n) for name, n in rows} == dict(counts)


def test_the_access_log_encryption_choice_is_stated_with_both_sources() -> None:
    # Field report D7: the docs asserted S3 "cannot" log into an SSE-KMS bucket; the sources disagree, so the docs
    # say which encryption the bucket has and why, citing both (the plan's side:
    # test_storage.py::test_data_buckets_use_kms_with_bucket_keys_and_access_logs_use_sse_s3).
    bullet = DOC[DOC.index("- The access-log bucket uses SSE-S3"):DOC.index("- The cluster name is the environment")]
    assert "aws-cdk#23513" in bullet and "6c5b67e" in bullet and "unverified" in bullet
    assert "cannot deliver" not in DOC and "must use Amazon S3 managed keys" not in DOC
