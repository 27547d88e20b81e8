"""`aienv:gcp:Keys`: a Cloud KMS key ring, one rotating key per purpose, and encrypter/decrypter grants to
exactly the service agents that use each key."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
from pulumi_gcp import bigquery, kms, projects, storage

from aienv.spec.model import StackSpec
from components.gcp import common
from components.propagation import propagation_wait

ENCRYPTER_DECRYPTER = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
# Versions scheduled for destruction stay recoverable this long (the KMS maximum is 120 days).
DESTROY_SCHEDULED = f"{30 * 86400}s"


@dataclass(frozen=True)
class KeysArgs:
    spec: StackSpec
    project_number: pulumi.Input[str]
    services: Sequence[pulumi.Resource] = ()


class Keys(pulumi.ComponentResource):
    """`keys[purpose]` is the key's id (`projects/.../cryptoKeys/...`), the form every CMEK field takes;
    `ready` is what every resource encrypted with one of them depends on (the grants, then their propagation)."""

    keys: dict[str, pulumi.Output[str]]
    ready: list[pulumi.Resource]

    def __init__(self, name: str, args: KeysArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aienv:gcp:Keys", name, None, opts)
        spec = args.spec
        protect = spec.security.deletion_protection
        # Key rings and keys cannot be deleted in GCP at all; PREVENT/protect keeps Pulumi from trying.
        policy = "PREVENT" if protect else "ABANDON"

        # Some agents exist only once generated; grants to a missing agent fail.
        generated = [
            projects.ServiceIdentity(f"{name}-agent-{service}", projects.ServiceIdentityArgs(
                service=api, project=spec.cloud.project),
                pulumi.ResourceOptions(parent=self, depends_on=list(args.services)))
            for service, api in common.GENERATED_AGENTS.items()
            if service != "aiplatform" or common.vertex_on(spec)
        ]

        self.key_ring = kms.KeyRing(f"{name}-ring", kms.KeyRingArgs(
            name=common.physical_name(spec, "keys", 63), location=spec.region, project=spec.cloud.project),
            pulumi.ResourceOptions(parent=self, protect=protect, retain_on_delete=True,
                                   depends_on=list(args.services)))

        members = {service: self._member(spec, service, args) for purpose in common.key_purposes(spec)
                   for service in common.KEY_USERS[purpose]}
        self.crypto_keys: dict[str, kms.CryptoKey] = {}
        self.keys = {}
        # Resources that use a key must wait for its grants, or the service is refused the key.
        self.grants: dict[str, list[kms.CryptoKeyIAMMember]] = {}
        for purpose in common.key_purposes(spec):
            key = kms.CryptoKey(f"{name}-{purpose}", kms.CryptoKeyArgs(
                name=purpose, key_ring=self.key_ring.id, purpose="ENCRYPT_DECRYPT",
                rotation_period=f"{spec.security.key_rotation_days * 86400}s",
                destroy_scheduled_duration=DESTROY_SCHEDULED, deletion_policy=policy,
                version_template=kms.CryptoKeyVersionTemplateArgs(
                    algorithm="GOOGLE_SYMMETRIC_ENCRYPTION", protection_level="SOFTWARE"),
                labels=common.labels(spec, {"purpose": purpose})),
                pulumi.ResourceOptions(parent=self, protect=protect, retain_on_delete=True))
            self.crypto_keys[purpose] = key
            self.keys[purpose] = key.id
            self.grants[purpose] = []
            for service in common.KEY_USERS[purpose]:
                self.grants[purpose].append(kms.CryptoKeyIAMMember(f"{name}-{purpose}-{service}", kms.CryptoKeyIAMMemberArgs(
                    crypto_key_id=key.id, role=ENCRYPTER_DECRYPTER, member=members[service]),
                    pulumi.ResourceOptions(parent=self, depends_on=generated)))

        # The services check the key grant when they create an encrypted resource (Memorystore: "Unable to
        # delegate the access of CMEK. Please try again later.", hashicorp/terraform-provider-google#17333), and a
        # grant is enforced only once it has propagated: "Changes to allow or deny policies typically propagate in
        # 2 minutes" (cloud.google.com/iam/docs/access-change-propagation). One wait for every key's grants.
        self.ready = propagation_wait(
            f"{name}-grants-propagated", [g for grants in self.grants.values() for g in grants],
            seconds=common.IAM_PROPAGATION_SECONDS, parent=self)

        self.register_outputs({"keyRing": self.key_ring.id, "keys": self.keys})

    def _member(self, spec: StackSpec, service: str, args: KeysArgs) -> pulumi.Output[str]:
        """`serviceAccount:<agent>`; the lazily created agents come from the call that creates them, made once
        their API is on (in a first preview the call waits on the API and its result is unknown)."""
        if service not in common.LAZY_AGENTS:
            return common.agent_email(service, args.project_number).apply(lambda e: f"serviceAccount:{e}")
        opts = pulumi.InvokeOutputOptions(parent=self, depends_on=list(args.services))
        if service == "storage":
            return storage.get_project_service_account_output(project=spec.cloud.project, opts=opts).member
        return bigquery.get_default_service_account_output(project=spec.cloud.project, opts=opts).member
