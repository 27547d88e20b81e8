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
