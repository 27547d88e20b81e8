"""The project's own `pulumi stack export` v3 schema accepts the format's documents and refuses what it does not
allow: the tests that validate exports need nothing outside the repository."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.conftest import export_validator

SIG = "4dabf18193072939515e22adb298388d"
STACK = "urn:pulumi:dev::aienv::pulumi:pulumi:Stack::aienv-dev"
BUCKET = "urn:pulumi:dev::aienv::aws:s3/bucket:Bucket::data"
PROVIDER = "urn:pulumi:dev::aienv::pulumi:providers:aws::default_7_0_0"


def document(**bucket: Any) -> dict[str, Any]:
    return {"version": 3, "deployment": {
        "manifest": {"time": "2026-01-01T00:00:00Z", "magic": "abc", "version": "v3.200.0"},
        "secrets_providers": {"type": "passphrase", "state": {"salt": "v1:x"}},
        "resources": [
            {"urn": STACK, "custom": False, "type": "pulumi:pulumi:Stack"},
            {"urn": PROVIDER, "custom": True, "id": "0b5e2d4a", "type": "pulumi:providers:aws",
             "inputs": {"region": "us-east-1"}},
            {"urn": BUCKET, "custom": True, "id": "data-1234", "type": "aws:s3/bucket:Bucket", "parent": STACK,
             "provider": f"{PROVIDER}::0b5e2d4a", "protect": True, "dependencies": [STACK],
             "propertyDependencies": {"bucket": []}, "retainOnDelete": True,
             "customTimeouts": {"create": 600.0}, **bucket},
        ]}}


VALUES = {
    "secret (encrypted)": {SIG: "1b47061264138c4ac30d75fd1eb44270", "ciphertext": "v1:AAAA"},
    "secret (decrypted export)": {SIG: "1b47061264138c4ac30d75fd1eb44270", "plaintext": "\"hunter2\""},
    "text asset": {SIG: "c44067f5952c0a294b673a41bacd8c17", "hash": "ab", "text": "hello"},
    "file archive": {SIG: "0def7320c3a5731c473e5ecbe6d01bc7", "hash": "cd", "path": "./lambda"},
    "asset archive": {SIG: "0def7320c3a5731c473e5ecbe6d01bc7", "assets": {
        "index.py": {SIG: "c44067f5952c0a294b673a41bacd8c17", "text": "print()"}}},
    "resource reference": {SIG: "5cf8f73096256a8f31e491e813e4eb8e", "urn": BUCKET, "id": "data-1234"},
    "unknown": "04da6b54-80e4-46f7-96ec-b56ff0331ba9",
    "nested plain values": {"tags": {"a": "b"}, "rules": [{"days": 30, "enabled": True, "prefix": None}]},
}
REFUSED = {
    "secret with both forms": {SIG: "1b47061264138c4ac30d75fd1eb44270", "ciphertext": "x", "plaintext": "y"},
    "secret with its wire `value`": {SIG: "1b47061264138c4ac30d75fd1eb44270", "value": "hunter2"},
    "unknown signature": {SIG: "0000", "value": 1},
    "asset with two sources": {SIG: "c44067f5952c0a294b673a41bacd8c17", "text": "a", "path": "b"},
    "reference without urn": {SIG: "5cf8f73096256a8f31e491e813e4eb8e", "id": "x"},
}


@pytest.mark.parametrize("name", VALUES)
def test_property_values_of_the_format_are_valid(name: str) -> None:
    doc = document(inputs={"value": VALUES[name]}, outputs={"value": [VALUES[name]]})
    assert not list(export_validator().iter_errors(doc))


@pytest.mark.parametrize("name", REFUSED)
def test_malformed_property_values_are_refused(name: str) -> None:
    assert list(export_validator().iter_errors(document(inputs={"value": REFUSED[name]})))


@pytest.mark.parametrize("mangle", [
    lambda d: d.__setitem__("version", 2),
    lambda d: d["deployment"].pop("manifest"),
    lambda d: d["deployment"]["manifest"].__setitem__("time", "yesterday"),
    lambda d: d["deployment"]["resources"][2].pop("custom"),
    lambda d: d["deployment"]["resources"][2].__setitem__("retainOnDelet", True),
    lambda d: d["deployment"]["resources"][2].__setitem__("parent", "data"),
    lambda d: d["deployment"]["resources"][2].__setitem__("customTimeouts", {"create": "10m"}),
    lambda d: d["deployment"].__setitem__("pending_operations", [{"resource": {}, "type": "creating"}]),
])
def test_documents_that_break_the_format_are_refused(mangle: Any) -> None:
    doc = copy.deepcopy(document())
    assert not list(export_validator().iter_errors(doc))
    mangle(doc)
    assert list(export_validator().iter_errors(doc))
