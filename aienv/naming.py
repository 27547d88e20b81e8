"""Physical names derived from the spec, and the cloud naming rules they must satisfy.

Azure storage accounts, key vaults and container registries have short, global, character-limited
names. aienv derives them from the environment name plus a short deterministic suffix (so a name
cannot collide with another environment's, and never changes between runs), and the spec rules check
them before anything is planned.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass


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


def azure_registry_key_vault(env: str, scope: str) -> str:
    """The vault that holds only the container registry's key (`keys.py`): 3-24 characters like the main vault."""
    return f"{env[:13].rstrip('-')}-rkv-{suffix(scope, env)}"[:24]


def azure_container_registry(env: str, scope: str) -> str:
    """5-50 letters and digits, globally unique."""
    return f"{compact(env)[:30]}acr{suffix(scope, env)}"


def azure_ml_workspace(env: str) -> str:
    """The environment's Azure ML workspace: 3-33 characters, unique in its resource group."""
    return f"{env}-mlw"


def azure_feature_store(env: str) -> str:
    """The Azure ML managed feature store (a workspace of kind `FeatureStore`)."""
    return f"{env}-features"


def azure_ml_registry(env: str, scope: str) -> str:
    """The Azure ML registry: 3-33 characters, with the environment's suffix so two environments never collide."""
    return f"{env}-mlr-{suffix(scope, env)}"


# Azure ML workspaces and registries: `^[a-zA-Z0-9][a-zA-Z0-9_-]{2,32}$` (Azure REST spec
# machinelearningservices/stable/2024-10-01, `WorkspaceNameParameter` and `RegistryNameParameter`). azure-native's
# own auto-naming appends 8 random characters to the logical name with no length cap, so these are named here.
_AZURE_ML_NAME = (re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_-]{2,32}$"), "3-33 letters, digits, `-` and `_`, starting with a "
                                                                   "letter or digit")

AZURE_RULES: dict[str, tuple[re.Pattern[str], str]] = {
    "storage account": (re.compile(r"^[a-z0-9]{3,24}$"), "3-24 lowercase letters and digits"),
    "key vault": (re.compile(r"^[a-zA-Z](?!.*--)[a-zA-Z0-9-]{1,22}[a-zA-Z0-9]$"),
                  "3-24 letters, digits and single hyphens, starting with a letter"),
    "registry key vault": (re.compile(r"^[a-zA-Z](?!.*--)[a-zA-Z0-9-]{1,22}[a-zA-Z0-9]$"),
                           "3-24 letters, digits and single hyphens, starting with a letter"),
    "container registry": (re.compile(r"^[a-zA-Z0-9]{5,50}$"), "5-50 letters and digits"),
    "ML workspace": _AZURE_ML_NAME,
    "feature store": _AZURE_ML_NAME,
    "ML registry": _AZURE_ML_NAME,
}


def azure_names(env: str, scope: str) -> dict[str, str]:
    return {
        "storage account": azure_storage_account(env, scope),
        "key vault": azure_key_vault(env, scope),
        "registry key vault": azure_registry_key_vault(env, scope),
        "container registry": azure_container_registry(env, scope),
        "ML workspace": azure_ml_workspace(env),
        "feature store": azure_feature_store(env),
        "ML registry": azure_ml_registry(env, scope),
    }


def azure_name_problems(env: str, scope: str) -> list[str]:
    """Messages for derived Azure names that break Azure's rules (empty when all are valid)."""
    problems = []
    for kind, name in azure_names(env, scope).items():
        pattern, rule = AZURE_RULES[kind]
        if not pattern.match(name):
            problems.append(f"the derived {kind} name `{name}` breaks Azure's rule ({rule})")
    return problems


# --- Azure references the spec gives as strings ------------------------------------------------------------

_AZURE_SECRET_URL = re.compile(r"^https://(?P<vault>[a-zA-Z0-9-]{3,24})\.vault\.azure\.net/secrets/"
                               r"(?P<name>[a-zA-Z0-9-]{1,127})(/[0-9a-fA-F]{32})?/?$")
_AZURE_SECRET_ID = re.compile(r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.KeyVault/vaults/"
                              r"(?P<vault>[a-zA-Z0-9-]{3,24})/secrets/(?P<name>[a-zA-Z0-9-]{1,127})$", re.IGNORECASE)
_AZURE_BLOB_URL = re.compile(r"^https://(?P<account>[a-z0-9]{3,24})\.blob\.core\.windows\.net/"
                             r"(?P<container>[a-z0-9-]{3,63})(/(?P<path>.*))?$")


@dataclass(frozen=True)
class AzureSecretRef:
    """A Key Vault secret the spec names: by resource id, or by URL in the environment's own vault."""

    vault: str
    name: str
    resource_id: str | None  # None: the environment's own vault, whose id the stack knows

    @property
    def url(self) -> str:
        """The data-plane URL a workload reads the secret's current version from (public Azure cloud)."""
        return f"https://{self.vault}.vault.azure.net/secrets/{self.name}"


def azure_secret_url(ref: str) -> str:
    """The data-plane URL of a Key Vault secret given by URL or by resource id (what `az keyvault secret show
    --id` takes)."""
    by_id = _AZURE_SECRET_ID.match(ref)
    return f"https://{by_id['vault']}.vault.azure.net/secrets/{by_id['name']}" if by_id else ref


def azure_secret_ref(ref: str, env: str, scope: str) -> AzureSecretRef | None:
    """Parse a Key Vault secret reference; None when it is neither a secret resource id nor a secret URL in the
    environment's vault (a role assignment on exactly that secret needs its resource id)."""
    by_id = _AZURE_SECRET_ID.match(ref)
    if by_id:
        return AzureSecretRef(by_id["vault"], by_id["name"], ref)
    by_url = _AZURE_SECRET_URL.match(ref)
    if by_url and by_url["vault"].lower() == azure_key_vault(env, scope).lower():
        return AzureSecretRef(by_url["vault"], by_url["name"], None)
    return None


@dataclass(frozen=True)
class AzureBlobRef:
    account: str
    container: str
    path: str  # the prefix inside the container ("" for the whole container)


def azure_blob_ref(uri: str) -> AzureBlobRef | None:
    """`https://<account>.blob.core.windows.net/<container>/<path>`, or None."""
    match = _AZURE_BLOB_URL.match(uri)
    if match is None:
        return None
    return AzureBlobRef(match["account"], match["container"], match["path"] or "")


# --- GCP ---------------------------------------------------------------------------------------------
# Artifact Registry remote repositories cache Docker Hub (a preset upstream, anonymous pulls within Docker Hub's
# rate limit) and any other registry speaking the Docker Registry API as a user-defined upstream with basic
# authentication (cloud.google.com/artifact-registry/docs/repositories/remote-overview). NGC (nvcr.io) hands
# out images only to an API key (`docker login nvcr.io`, user `$oauthtoken`), so it needs credentials.
GCP_CACHE_CREDENTIALS_REQUIRED: dict[str, str] = {"nvcr.io": "$oauthtoken"}
# Secret Manager: secret ids are "up to 255 characters ... letters, numerals, and the hyphen (-) and
# underscore (_) characters" (cloud.google.com/secret-manager/docs/reference/rest/v1/projects.secrets/create).
GCP_SECRET_ID = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
GCP_SECRET_NAME = re.compile(r"^projects/[a-z0-9-]{4,30}/secrets/[A-Za-z0-9_-]{1,255}$")
# Artifact Registry: "Must be in the format of `projects/{project}/secrets/{secret}/versions/{version}`"
# (pulumi_gcp artifactregistry RepositoryRemoteRepositoryConfigUpstreamCredentialsUsernamePasswordCredentials).
GCP_SECRET_VERSION = re.compile(r"^projects/[a-z0-9-]{4,30}/secrets/[A-Za-z0-9_-]{1,255}/versions/([0-9]+|latest)$")


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
