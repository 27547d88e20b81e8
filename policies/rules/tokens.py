"""Type tokens a rule must also match: the earlier names of a resource that the installed provider SDKs still
declare as aliases of the current one (pulumi-aws 7 keeps the v6 `...V2` S3 resources; azure-native 3 moved
`cache:Redis` to `redis:Redis` and `documentdb` to `cosmosdb`). A program on the previous major registers the old
token, so a rule that reads the current one must read both. `tests/policies/test_tokens.py` checks this table
against the SDKs' `pulumi.Alias(type_=...)` declarations (API-versioned tokens such as
`azure-native:redis/v20240301:Redis` are left out: programs use them only when they pin an API version).
"""

from __future__ import annotations

from collections.abc import Iterable

PREVIOUS: dict[str, tuple[str, ...]] = {
    "aws:s3/bucket:Bucket": ("aws:s3/bucketV2:BucketV2",),
    "aws:s3/bucketAcl:BucketAcl": ("aws:s3/bucketAclV2:BucketAclV2",),
    "aws:s3/bucketLogging:BucketLogging": ("aws:s3/bucketLoggingV2:BucketLoggingV2",),
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": (
        "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",),
    "aws:s3/bucketVersioning:BucketVersioning": ("aws:s3/bucketVersioningV2:BucketVersioningV2",),
    "aws:lb/listener:Listener": ("aws:elasticloadbalancingv2/listener:Listener",),
    "aws:alb/listener:Listener": ("aws:applicationloadbalancing/listener:Listener",),
    "aws:elb/loadBalancer:LoadBalancer": ("aws:elasticloadbalancing/loadBalancer:LoadBalancer",),
    "azure-native:redis:Redis": ("azure-native:cache:Redis",),
    "azure-native:redisenterprise:Database": ("azure-native:cache:Database",),
    "azure-native:redisenterprise:RedisEnterprise": ("azure-native:cache:RedisEnterprise",),
    "azure-native:cosmosdb:DatabaseAccount": ("azure-native:documentdb:DatabaseAccount",),
    "aws:lb/loadBalancer:LoadBalancer": ("aws:elasticloadbalancingv2/loadBalancer:LoadBalancer",),
    "aws:lb/targetGroup:TargetGroup": ("aws:elasticloadbalancingv2/targetGroup:TargetGroup",),
    "azure-native:network:PrivateEndpoint": ("azure-native:network:InterfaceEndpoint",),
    "azure-native:privatedns:VirtualNetworkLink": ("azure-native:network:VirtualNetworkLink",),
    "gcp:serviceaccount/account:Account": ("gcp:serviceAccount/account:Account",),
}
CANONICAL: dict[str, str] = {old: new for new, olds in PREVIOUS.items() for old in olds}


def canonical(resource_type: str) -> str:
    """The current token for `resource_type` (itself when it has no earlier name)."""
    return CANONICAL.get(resource_type, resource_type)


def with_previous(types: Iterable[str]) -> frozenset[str]:
    """`types` plus the earlier tokens of each."""
    out = set(types)
    for t in list(out):
        out.update(PREVIOUS.get(t, ()))
    return frozenset(out)
