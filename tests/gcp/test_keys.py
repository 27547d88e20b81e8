"""Keys: rotation, destroy protection, grants to exactly the service agents; provider-managed drops CMEK."""

from __future__ import annotations

from components.gcp.common import AGENTS, KEY_USERS, LAZY_AGENTS
from tests.gcp.gcpplan import LAZY_AGENT_INVOKES, inputs, plan_gcp, variant

KEY = "gcp:kms/cryptoKey:CryptoKey"
GRANT = "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember"


def test_keys_rotate_within_spec_and_are_protected(prod):
    keys = prod.of_type(KEY)
    assert {inputs(k)["name"] for k in keys} == {"storage", "registry", "gke-secrets", "disks", "vertex", "redis",
                                                 "bigquery"}
    for key in keys:
        assert inputs(key)["rotationPeriod"] == f"{90 * 86400}s"
        assert inputs(key)["deletionPolicy"] == "PREVENT"
        assert key.protect and key.retain_on_delete
    ring = prod.one("gcp:kms/keyRing:KeyRing")
    assert ring.protect and inputs(ring)["location"] == "europe-west4"


def test_rotation_follows_spec():
    fast = plan_gcp(variant(lambda s: setattr(s.security, "key_rotation_days", 30)), "rotation-30")
    assert {inputs(k)["rotationPeriod"] for k in fast.of_type(KEY)} == {f"{30 * 86400}s"}


def test_each_key_is_granted_to_exactly_its_service_agents(prod):
    keys = {k.outputs.get("id") or k.id: inputs(k)["name"] for k in prod.of_type(KEY)}
    granted: dict[str, set[str]] = {}
    for grant in prod.of_type(GRANT):
        g = inputs(grant)
        assert g["role"] == "roles/cloudkms.cryptoKeyEncrypterDecrypter"
        granted.setdefault(keys[g["cryptoKeyId"]], set()).add(g["member"])
    lazy = {"storage": "service-123456789012@gs-project-accounts.iam.gserviceaccount.com",
            "bigquery": "bq-123456789012@bigquery-encryption.iam.gserviceaccount.com"}
    expected = {purpose: {f"serviceAccount:{lazy[s] if s in lazy else AGENTS[s].format(n='123456789012')}"
                          for s in services} for purpose, services in KEY_USERS.items()}
    assert granted == expected


def test_lazily_created_agents_are_asked_for_once_their_api_is_on(prod):
    # A3/A4: the Cloud Storage and BigQuery agents exist only once requested; the grant names the agent
    # the provider's call returns (which creates it), and that call waits for the APIs.
    assert set(LAZY_AGENTS) == {"storage", "bigquery"} and not set(LAZY_AGENTS) & set(AGENTS)
    called = [(token, args) for token, args in prod.plan.invokes if token in LAZY_AGENT_INVOKES]
    assert {t for t, _ in called} == set(LAZY_AGENT_INVOKES)
    assert all(args.get("project") == "acme-ml-prod" for _, args in called)


def test_provider_managed_encryption_removes_every_cmek_setting():
    plain = plan_gcp(variant(lambda s: setattr(s.security, "encryption", "provider_managed")), "provider-managed")
    assert not plain.of_type(KEY) and not plain.of_type("gcp:kms/keyRing:KeyRing")
    assert all("encryption" not in inputs(b) for b in plain.of_type("gcp:storage/bucket:Bucket"))
    assert all("kmsKeyName" not in inputs(r) for r in plain.of_type("gcp:artifactregistry/repository:Repository"))
    assert inputs(plain.one("gcp:container/cluster:Cluster"))["databaseEncryption"] == {"state": "DECRYPTED"}
    assert "customerManagedKey" not in inputs(plain.one("gcp:redis/instance:Instance"))
    assert "defaultEncryptionConfiguration" not in inputs(plain.one("gcp:bigquery/dataset:Dataset"))
    assert "encryptionSpec" not in inputs(plain.one("gcp:vertex/aiMetadataStore:AiMetadataStore"))
    sc = inputs(plain.one("kubernetes:storage.k8s.io/v1:StorageClass"))
    assert "disk-encryption-kms-key" not in sc["parameters"]
