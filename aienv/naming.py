"""Physical names derived from the spec, and the cloud naming rules they must satisfy.

Azure storage accounts, key vaults and container registries have short, global, character-limited
names. aienv derives them from the environment name plus a short deterministic suffix (so a name
cannot collide with another environment's, and never changes between runs), and the spec rules check
them before anything is planned.
"""

from __future__ import annotations

import hashlib
import re


def suffix(*parts: str, length: int = 6) -> str:
    """A short, deterministic, lowercase alphanumeric suffix from `parts`."""
    digest = hashlib.sha256("/".join(parts).encode()).hexdigest()
    return digest[:length]


def compact(name: str) -> str:
    """Letters and digits only (Azure storage accounts and registries allow nothing else)."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


def azure_storage_account(env: str, scope: str) -> str:
    """3-24 lowercase letters and digits, globally unique."""
    return f"{compact(env)[:14]}st{suffix(scope, env)}"[:24]


def azure_key_vault(env: str, scope: str) -> str:
    """3-24 letters, digits and hyphens, starting with a letter, globally unique."""
    return f"{env[:13].rstrip('-')}-kv-{suffix(scope, env)}"[:24]


def azure_container_registry(env: str, scope: str) -> str:
    """5-50 letters and digits, globally unique."""
    return f"{compact(env)[:30]}acr{suffix(scope, env)}"


AZURE_RULES: dict[str, tuple[re.Pattern[str], str]] = {
    "storage account": (re.compile(r"^[a-z0-9]{3,24}$"), "3-24 lowercase letters and digits"),
    "key vault": (re.compile(r"^[a-zA-Z](?!.*--)[a-zA-Z0-9-]{1,22}[a-zA-Z0-9]$"),
                  "3-24 letters, digits and single hyphens, starting with a letter"),
    "container registry": (re.compile(r"^[a-zA-Z0-9]{5,50}$"), "5-50 letters and digits"),
}


def azure_names(env: str, scope: str) -> dict[str, str]:
    return {
        "storage account": azure_storage_account(env, scope),
        "key vault": azure_key_vault(env, scope),
        "container registry": azure_container_registry(env, scope),
    }


def azure_name_problems(env: str, scope: str) -> list[str]:
    """Messages for derived Azure names that break Azure's rules (empty when all are valid)."""
    problems = []
    for kind, name in azure_names(env, scope).items():
        pattern, rule = AZURE_RULES[kind]
        if not pattern.match(name):
            problems.append(f"the derived {kind} name `{name}` breaks Azure's rule ({rule})")
    return problems


# --- AWS -------------------------------------------------------------------------------------------
# Physical-name budgets of the AWS resources aienv names or prefixes. A `*_PREFIX` budget is the name limit
# minus the 26 characters the provider appends to a `name_prefix` (terraform-plugin-sdk `id.PrefixedUniqueId`;
# terraform-provider-aws rejects longer ones: "expected length of name_prefix to be in the range (1 - 38)").
AWS_IAM_ROLE_PREFIX = 38  # role names: at most 64 characters
AWS_NODE_GROUP_PREFIX = 37  # pulumi_aws NodeGroup: "The node group name can't be longer than 63 characters."
AWS_LAUNCH_TEMPLATE_PREFIX = 102  # launch template names: at most 128 characters
AWS_BUCKET_PREFIX = 37  # pulumi_aws s3.Bucket: bucket_prefix "less than or equal to 37 characters in length"
# CloudFormation AWS::SageMaker::ModelPackageGroup: ModelPackageGroupName maxLength 63,
# pattern ^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$; FeatureGroupName the same with 64.
AWS_MODEL_PACKAGE_GROUP = 63
AWS_FEATURE_GROUP = 64
# CreateReplicationGroup: "A name must contain from 1 to 40 alphanumeric characters or hyphens. The first
# character must be a letter. A name cannot end with a hyphen or contain two consecutive hyphens."
AWS_REDIS_GROUP = 40
# CreatePullThroughCacheRule ecrRepositoryPrefix: 2-30 characters,
# ^([a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*\/?|ROOT)$
AWS_CACHE_PREFIX = 30

# ECR pull-through cache upstreams (ECR user guide, "Sync an upstream registry with an Amazon ECR private
# registry"): registry host in an image reference -> (the rule's upstream registry URL, short namespace).
AWS_CACHE_UPSTREAMS: dict[str, tuple[str, str]] = {
    "public.ecr.aws": ("public.ecr.aws", "ecr-public"),
    "registry.k8s.io": ("registry.k8s.io", "k8s"),
    "quay.io": ("quay.io", "quay"),
    "docker.io": ("registry-1.docker.io", "docker-hub"),
    "ghcr.io": ("ghcr.io", "github"),
    "registry.gitlab.com": ("registry.gitlab.com", "gitlab"),
    "cgr.dev": ("cgr.dev", "chainguard"),
}
# "Amazon ECR Public, Kubernetes container image registry, and Quay (doesn't require authentication)";
# every other upstream (Docker Hub, GitHub, GitLab, Chainguard, Azure) needs a Secrets Manager secret.
AWS_CACHE_ANONYMOUS = frozenset({"public.ecr.aws", "registry.k8s.io", "quay.io"})


def bounded(name: str, limit: int) -> str:
    """`name` when it fits `limit` characters, else its start and a hash of the whole (so two long names that
    share a start stay distinct, and the result never changes between runs)."""
    if len(name) <= limit:
        return name
    tail = suffix(name)
    return f"{name[:limit - len(tail) - 1].rstrip('-_./')}-{tail}"


def _single_hyphens(name: str) -> str:
    return re.sub(r"-{2,}", "-", name)


def aws_prefix(limit: int, *parts: str) -> str:
    """A `name_prefix` from `parts` joined by `-` that, with its trailing `-`, fits `limit`."""
    return bounded("-".join(parts), limit - 1) + "-"


def aws_model_package_group(env: str, endpoint: str) -> str:
    return bounded(_single_hyphens(f"{env}-{endpoint}"), AWS_MODEL_PACKAGE_GROUP)


def aws_feature_group(env: str, view: str) -> str:
    return bounded(_single_hyphens(f"{env}-{view.replace('_', '-')}").strip("-"), AWS_FEATURE_GROUP)


def aws_redis_group(env: str) -> str:
    return bounded(_single_hyphens(f"{env}-online"), AWS_REDIS_GROUP)


def aws_cache_prefix(env: str, registry: str) -> str:
    """The ECR repository prefix of the environment's pull-through cache of `registry` (`<env>/<namespace>`)."""
    namespace = AWS_CACHE_UPSTREAMS[registry][1]
    room = AWS_CACHE_PREFIX - len(namespace) - 1
    return f"{bounded(_single_hyphens(env), room)}/{namespace}"


AWS_NAME_RULES: dict[str, tuple[re.Pattern[str], int]] = {
    "model package group": (re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9])*$"), AWS_MODEL_PACKAGE_GROUP),
    "feature group": (re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9])*$"), AWS_FEATURE_GROUP),
    "redis replication group": (re.compile(r"^[a-z](?!.*--)[a-z0-9-]*[a-z0-9]$"), AWS_REDIS_GROUP),
    "pull-through cache prefix": (
        re.compile(r"^([a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*)$"), AWS_CACHE_PREFIX),
}
