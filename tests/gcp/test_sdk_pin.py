"""A12: the GCP components pass `deletion_policy` to buckets, repositories, datasets, tables, Redis, keys and
Vertex resources. The field is the provider's "universal deletion_policy", added to almost all resources in
2026 (GoogleCloudPlatform/magic-modules#17380); pulumi-gcp 9.x does not have it, so the pin starts at the
release the components are checked against."""

from __future__ import annotations

import inspect
import re
import tomllib
from pathlib import Path

from pulumi_gcp import artifactregistry, bigquery, kms, redis, storage, vertex

ROOT = Path(__file__).resolve().parents[2]


def test_pin_requires_a_provider_with_deletion_policy():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pin = next(d for d in deps if d.startswith("pulumi-gcp"))
    low = re.search(r">=\s*([0-9.]+)", pin)
    assert low is not None and tuple(int(x) for x in low.group(1).split(".")) >= (10, 2), pin
    for args in (storage.BucketArgs, artifactregistry.RepositoryArgs, bigquery.DatasetArgs, bigquery.TableArgs,
                 redis.InstanceArgs, kms.CryptoKeyArgs, vertex.AiMetadataStoreArgs, vertex.AiFeatureGroupArgs):
        assert "deletion_policy" in inspect.signature(args.__init__).parameters, args.__name__
