"""Cross-cloud stack rules: stateful protection, encryption with the stack's own keys, data residency,
data-access logging and tagging."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from pulumi_policy import PolicyResource, ResourceValidationArgs, StackValidationArgs
from pulumi_policy.proxy import UnknownValueError

from aienv.conventions import TAG_ENVIRONMENT, TAG_MANAGED_BY
from policies import meta as m
from policies.meta import RuleMeta
from policies.rules._base import Unknown, get, guarded, is_unknown, items, resource_rule, stack_rule, subject
from policies.rules.aws import S3_SSE, log_targets
from policies.rules.tokens import canonical, with_previous

# --- Stateful resources ------------------------------------------------------------------------------------
STATEFUL_TYPES = with_previous({
    "aws:kms/key:Key", "aws:s3/bucket:Bucket", "aws:ecr/repository:Repository",
    "aws:elasticache/replicationGroup:ReplicationGroup", "aws:sagemaker/featureGroup:FeatureGroup",
    "aws:dynamodb/table:Table", "aws:rds/instance:Instance", "aws:efs/fileSystem:FileSystem",
    "azure-native:keyvault:Vault", "azure-native:keyvault:Key", "azure-native:storage:StorageAccount",
    "azure-native:containerregistry:Registry", "azure-native:redis:Redis",
    "azure-native:redisenterprise:RedisEnterprise", "azure-native:redisenterprise:Database",
    "azure-native:machinelearningservices:Workspace",
    "gcp:kms/keyRing:KeyRing", "gcp:kms/cryptoKey:CryptoKey", "gcp:storage/bucket:Bucket",
    "gcp:artifactregistry/repository:Repository", "gcp:redis/instance:Instance",
    "gcp:vertex/aiFeatureStore:AiFeatureStore", "gcp:vertex/aiFeatureOnlineStore:AiFeatureOnlineStore",
    "gcp:vertex/aiDataset:AiDataset", "gcp:bigquery/dataset:Dataset",
})


@stack_rule(RuleMeta(
    name="stateful-resources-protected",
    description="Protect every stateful resource (keys, buckets, registries, caches, feature stores) against deletion.",
    severity="high", area="stack", controls=m.merge(m.AVAILABILITY, m.INTEGRITY),
    remediation="Create the resource with ResourceOptions(protect=True) (and retain_on_delete=True for data that must "
                "outlive the stack). Note: the Pulumi analyzer passes `protect` to policies but not "
                "`retainOnDelete`; `aienv check` sees both.",
), STATEFUL_TYPES)
def stateful_protected(args: StackValidationArgs) -> Iterator[tuple[str, str | None]]:
    for r in args.resources:
        if r.resource_type not in STATEFUL_TYPES:
            continue
        if r.opts.protect or getattr(r.opts, "retain_on_delete", False):
            continue
        yield f"{subject(r.resource_type, r.name)} must be protected against deletion (`protect` or `retainOnDelete`).", r.urn


# --- Encryption with keys of this stack ----------------------------------------------------------------------
KEY_OUTPUTS: dict[str, tuple[str, ...]] = {
    "aws:kms/key:Key": ("arn", "keyId", "id"),
    "aws:kms/alias:Alias": ("arn", "name", "targetKeyArn"),
    "azure-native:keyvault:Key": ("keyUri", "keyUriWithVersion", "id"),
    "gcp:kms/cryptoKey:CryptoKey": ("id",),
}

# store type -> key reference paths (`*` walks a list); empty key list means "not encrypted with a CMK".
STORE_KEY_PATHS: dict[str, tuple[str, ...]] = {
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration":
        ("rules.*.applyServerSideEncryptionByDefault.kmsMasterKeyId",),
    "aws:ecr/repository:Repository": ("encryptionConfigurations.*.kmsKey",),
    "aws:elasticache/replicationGroup:ReplicationGroup": ("kmsKeyId",),
    "aws:sagemaker/featureGroup:FeatureGroup": ("offlineStoreConfig.s3StorageConfig.kmsKeyId",
                                                "onlineStoreConfig.securityConfig.kmsKeyId"),
    "aws:sagemaker/endpointConfiguration:EndpointConfiguration": ("kmsKeyArn", "dataCaptureConfig.kmsKeyId"),
    "aws:cloudwatch/logGroup:LogGroup": ("kmsKeyId",),
    "aws:cloudtrail/trail:Trail": ("kmsKeyId",),
    "azure-native:storage:StorageAccount": ("encryption.keyVaultProperties",),
    "azure-native:containerregistry:Registry": ("encryption.keyVaultProperties.keyIdentifier",),
    "azure-native:machinelearningservices:Workspace": ("encryption.keyVaultProperties.keyIdentifier",),
    "azure-native:redisenterprise:RedisEnterprise": ("encryption.customerManagedKeyEncryption.keyEncryptionKeyUrl",),
    "gcp:storage/bucket:Bucket": ("encryption.defaultKmsKeyName",),
    "gcp:artifactregistry/repository:Repository": ("kmsKeyName",),
    "gcp:redis/instance:Instance": ("customerManagedKey",),
    "gcp:vertex/aiDataset:AiDataset": ("encryptionSpec.kmsKeyName",),
    "gcp:vertex/aiFeatureStore:AiFeatureStore": ("encryptionSpec.kmsKeyName",),
    "gcp:vertex/aiEndpoint:AiEndpoint": ("encryptionSpec.kmsKeyName",),
}


def _plain_output(r: PolicyResource, key: str) -> Any:
    try:
        return get(r.props, key)
    except UnknownValueError:
        return None


def _walk(props: Any, path: str) -> list[Any]:
    head, _, rest = path.partition(".*.")
    if not _:
        return [get(props, path)]
    return [v for item in items(props, head) for v in _walk(item, rest)]


def _key_ref(value: Any) -> Any:
    """Azure storage names a key by vault URI + key name; turn that into the key's URI."""
    if hasattr(value, "keys") and "keyName" in value:
        uri, name = get(value, "keyVaultUri"), get(value, "keyName")
        if uri and name:
            return f"{str(uri).rstrip('/')}/keys/{name}"
        return None
    return value


def _matches(ref: str, keys: set[str]) -> bool:
    ref = ref.rstrip("/")
    return ref in keys or any(ref.startswith(k.rstrip("/") + "/") for k in keys)


@stack_rule(RuleMeta(
    name="stores-encrypted-with-stack-keys",
    description="Encrypt every bucket, registry and data store with a key created by this stack.",
    severity="high", area="stack", controls=m.ENCRYPTION_AT_REST,
    remediation="Reference the environment's key resource output (ARN / key URI / crypto key id) in the store's "
                "encryption settings instead of a provider-managed or foreign key.",
), with_previous(set(STORE_KEY_PATHS) | set(KEY_OUTPUTS)))
def stores_stack_keys(args: StackValidationArgs) -> Iterator[tuple[str, str | None]]:
    key_values: set[str] = set()
    key_urns: set[str] = set()
    for r in args.resources:
        if r.resource_type in KEY_OUTPUTS:
            key_urns.add(r.urn)
            for out in KEY_OUTPUTS[r.resource_type]:
                try:
                    v = r.props.get(out)
                except UnknownValueError:
                    continue
                if isinstance(v, str) and v:
                    key_values.add(v)

    log_buckets = log_targets(args.resources)
    for r in args.resources:
        if canonical(r.resource_type) == S3_BUCKET:
            refs = {"value:" + v for k in ("bucket", "id") if isinstance(v := _plain_output(r, k), str)}
            if r.urn in log_buckets or refs & log_buckets:
                log_buckets |= {r.urn} | refs

    def check(r: PolicyResource) -> Iterator[str]:
        if canonical(r.resource_type) == S3_SSE and (
                any(d.urn in log_buckets for d in r.property_dependencies.get("bucket", []))
                or "value:" + str(_plain_output(r, "bucket")) in log_buckets):
            return  # access-log buckets can only use SSE-S3 (checked by aws-s3-encryption-kms)
        paths = STORE_KEY_PATHS[canonical(r.resource_type)]
        referenced = 0
        for path in paths:
            top = path.split(".")[0]
            try:
                refs = [_key_ref(v) for v in _walk(r.props, path)]
            except UnknownValueError:
                # Unknown at preview: accept it only when the property is wired to a key resource of this stack.
                if any(d.urn in key_urns for d in r.property_dependencies.get(top, [])):
                    continue
                raise
            refs = [x for x in refs if x]
            referenced += len(refs)
            for ref in refs:
                if is_unknown(ref):
                    raise Unknown(path)
                if not _matches(str(ref), key_values) and not any(
                        d.urn in key_urns for d in r.property_dependencies.get(top, [])):
                    yield f"{subject(r.resource_type, r.name)} must be encrypted with a key of this stack, not `{ref}`."
        if referenced == 0 and not any(d.urn in key_urns for p in paths
                                       for d in r.property_dependencies.get(p.split(".")[0], [])):
            yield (f"{subject(r.resource_type, r.name)} must be encrypted with a key of this stack "
                   f"(set {' or '.join(f'`{p}`' for p in paths)}).")

    yield from guarded(args.resources, with_previous(STORE_KEY_PATHS), check)


# --- Data residency ----------------------------------------------------------------------------------------
_ARN_REGION = re.compile(r"^arn:aws[a-z-]*:[^:]*:([a-z0-9-]+):")
_ZONE = re.compile(r"^([a-z]+-[a-z]+\d+)-[a-z]$")
GLOBAL_LOCATIONS = frozenset({"global", ""})


def normalize_region(value: str) -> str:
    value = value.strip().lower().replace(" ", "")
    zone = _ZONE.match(value)
    return zone.group(1) if zone else value


def region_of(r: PolicyResource) -> str | None:
    """The resource's region/location as the engine sees it; raises Unknown when it is not known yet."""
    t = r.resource_type
    if t.startswith("pulumi:providers:"):
        if t in ("pulumi:providers:aws", "pulumi:providers:gcp"):
            return _first(r.props, ("region",))
        if t == "pulumi:providers:azure-native":
            return _first(r.props, ("location",))
        return None
    if t.startswith("aws:"):
        region = _first(r.props, ("region",))
        if region:
            return region
        arn = r.props.get("arn") if "arn" in r.props else None
        if isinstance(arn, str) and not is_unknown(arn):
            match = _ARN_REGION.match(arn)
            if match:
                return match.group(1)
        return _first(r.provider.props, ("region",)) if r.provider else None
    if t.startswith("azure-native:"):
        loc = _first(r.props, ("location",))
        return loc if loc else None
    if t.startswith("gcp:"):
        return _first(r.props, ("location", "region", "zone")) or (
            _first(r.provider.props, ("region",)) if r.provider else None)
    return None


def _first(props: Any, keys: tuple[str, ...]) -> str | None:
    for k in keys:
        v = get(props, k)
        if isinstance(v, str) and v:
            return v
    return None


@stack_rule(RuleMeta(
    name="data-residency",
    description="Keep every regional resource in an allowed region.",
    severity="high", area="stack", controls=m.RESIDENCY,
    config={"allowedRegions": {"type": "array", "items": {"type": "string"}, "default": [],
                               "description": "Regions/locations resources may be created in (empty: any)."}},
    remediation="Move the resource (or its provider) to an allowed region, or add the region to `allowedRegions` "
                "after checking the data-transfer basis (GDPR Art. 44).",
))
def data_residency(args: StackValidationArgs) -> Iterator[tuple[str, str | None]]:
    allowed = {normalize_region(str(x)) for x in (args.get_config().get("allowedRegions") or [])}
    if not allowed:
        return

    def check(r: PolicyResource) -> Iterator[str]:
        region = region_of(r)
        if region is None:
            return
        norm = normalize_region(region)
        if norm in GLOBAL_LOCATIONS or norm in allowed:
            return
        yield f"{subject(r.resource_type, r.name)} must be in an allowed region ({', '.join(sorted(allowed))}), not `{region}`."

    custom = [r for r in args.resources
              if r.resource_type.startswith(("aws:", "azure-native:", "gcp:", "pulumi:providers:"))]
    yield from guarded(custom, None, check)


# --- Access logging on data buckets (lineage) ----------------------------------------------------------------
S3_BUCKET = "aws:s3/bucket:Bucket"
S3_LOGGING = "aws:s3/bucketLogging:BucketLogging"
GCS = "gcp:storage/bucket:Bucket"
AZ_STORAGE = "azure-native:storage:StorageAccount"
AZ_DIAGNOSTICS = frozenset({"azure-native:monitor:DiagnosticSetting", "azure-native:insights:DiagnosticSetting"})


@stack_rule(RuleMeta(
    name="data-access-logging",
    description="Log data access on every bucket and storage account that can hold training data (lineage).",
    severity="medium", area="ai", controls=m.AUDIT_LOGGING,
    remediation="S3: add an aws.s3.BucketLogging; GCS: set logging.logBucket; Azure: add a diagnostic setting on the "
                "storage account (blob service) with StorageRead/StorageWrite. Log buckets themselves are exempt.",
), with_previous({S3_BUCKET, S3_LOGGING, GCS, AZ_STORAGE} | AZ_DIAGNOSTICS))
def data_access_logging(args: StackValidationArgs) -> Iterator[tuple[str, str | None]]:
    logged: set[str] = set()
    log_targets: set[str] = set()
    for r in args.resources:
        deps = r.property_dependencies
        if canonical(r.resource_type) == S3_LOGGING:
            logged.update(d.urn for d in deps.get("bucket", []))
            log_targets.update(d.urn for d in deps.get("targetBucket", []))
            for key, bucket in (("bucket", logged), ("targetBucket", log_targets)):
                try:
                    v = get(r.props, key)
                except UnknownValueError:
                    continue
                if isinstance(v, str):
                    bucket.add("value:" + v)
        elif r.resource_type in AZ_DIAGNOSTICS:
            logged.update(d.urn for d in deps.get("resourceUri", []))
        elif r.resource_type == GCS:
            log_targets.update(d.urn for d in deps.get("logging", []))
            try:
                target = get(r.props, "logging.logBucket")
            except UnknownValueError:
                continue
            if isinstance(target, str):
                log_targets.add("value:" + target)

    def names(r: PolicyResource) -> set[str]:
        out = {r.urn}
        for k in ("bucket", "id", "name"):
            try:
                v = r.props.get(k) if k in r.props else None
            except UnknownValueError:  # a new bucket's id: matched by property dependency
                continue
            if isinstance(v, str):
                out.add("value:" + v)
        return out

    def check(r: PolicyResource) -> Iterator[str]:
        ids = names(r)
        if ids & log_targets:
            return
        if r.resource_type == GCS:
            if get(r.props, "logging.logBucket"):
                return
        elif ids & logged:
            return
        yield f"{subject(r.resource_type, r.name)} must log data access (access logs or diagnostic setting)."

    yield from guarded(args.resources, with_previous({S3_BUCKET, GCS, AZ_STORAGE}), check)


# --- Tagging ------------------------------------------------------------------------------------------------
TAGGED_TYPES: dict[str, str] = {
    "aws:s3/bucket:Bucket": "tags", "aws:kms/key:Key": "tags", "aws:eks/cluster:Cluster": "tags",
    "aws:eks/nodeGroup:NodeGroup": "tags", "aws:ecr/repository:Repository": "tags",
    "aws:elasticache/replicationGroup:ReplicationGroup": "tags", "aws:cloudwatch/logGroup:LogGroup": "tags",
    "aws:sagemaker/featureGroup:FeatureGroup": "tags", "aws:sagemaker/endpointConfiguration:EndpointConfiguration": "tags",
    "azure-native:storage:StorageAccount": "tags", "azure-native:keyvault:Vault": "tags",
    "azure-native:containerregistry:Registry": "tags", "azure-native:containerservice:ManagedCluster": "tags",
    "azure-native:machinelearningservices:Workspace": "tags", "azure-native:redis:Redis": "tags",
    "azure-native:redisenterprise:RedisEnterprise": "tags",
    "gcp:storage/bucket:Bucket": "labels", "gcp:container/cluster:Cluster": "resourceLabels",
    "gcp:kms/cryptoKey:CryptoKey": "labels", "gcp:artifactregistry/repository:Repository": "labels",
    "gcp:redis/instance:Instance": "labels", "gcp:vertex/aiEndpoint:AiEndpoint": "labels",
}


@resource_rule(RuleMeta(
    name="cloud-resources-tagged",
    description=f"Tag cloud resources with `{TAG_ENVIRONMENT}` and `{TAG_MANAGED_BY}` for ownership and cost allocation.",
    severity="low", area="stack", enforcement="advisory", controls=m.CONFIGURATION,
    remediation="Pass the environment's tags to the component (merged at every child) or set provider default tags.",
), with_previous(TAGGED_TYPES))
def cloud_tagged(args: ResourceValidationArgs) -> Iterator[str]:
    tags = dict(get(args.props, TAGGED_TYPES[canonical(args.resource_type)]) or {})
    if args.resource_type.startswith("aws:"):
        tags.update(dict(get(args.props, "tagsAll") or {}))
    missing = [k for k in (TAG_ENVIRONMENT, TAG_MANAGED_BY) if k not in tags]
    if missing:
        yield f"{subject(args.resource_type, args.name)} must be tagged {', '.join(f'`{k}`' for k in missing)}."


RULES = (stateful_protected, stores_stack_keys, data_residency, data_access_logging, cloud_tagged)
