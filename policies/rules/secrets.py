"""Secrets in plaintext: passwords and tokens written into the program, and keys in environment variables.

A secret input is "written into the program" when its value is known at preview and no other resource produced
it: no property dependency on a generator (random.RandomPassword), a secret-store resource or anything else.
Pulumi's policy SDK hands policies secret values already decrypted (`pulumi_policy.deserialize_properties`
unwraps the secret signature), so no policy can tell a `pulumi config set --secret` value from a literal in
`__main__.py`; both are static, human-chosen secrets and both are findings. Generate the value, let the service
manage it, or waive the finding for that resource with a reason (docs/policies.md).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from pulumi_policy import PolicyResource, StackValidationArgs

from policies import meta as m
from policies.meta import RuleMeta
from policies.rules._base import Unknown, get, guarded, is_unknown, items, stack_rule
from policies.rules.kubernetes import WORKLOADS, containers, pod_spec
from policies.rules.nouns import subject

# Leaf property names that hold a password or token (camelCase wire names). `...Wo` are write-only inputs: not
# kept in state, but still a value written into the program.
# Stack policies read outputs, so names that only providers fill (access keys, private keys of generated key pairs,
# `primaryAccessKey`) are left out: they would be the provider's values, not the program's.
SECRET_KEY = re.compile(r"(password|passwd|authtoken|secretstring|secretdata)(wo)?$", re.IGNORECASE)
# Password outputs a provider generates (never an input): AWS creates the console password of a login profile.
GENERATED: dict[str, frozenset[str]] = {
    "aws:iam/userLoginProfile:UserLoginProfile": frozenset({"password", "encryptedPassword"}),
}
# Secret stores whose value input is the secret itself.
SECRET_VALUE_PATHS: dict[str, tuple[str, ...]] = {
    "aws:secretsmanager/secretVersion:SecretVersion": ("secretString", "secretBinary"),
    "gcp:secretmanager/secretVersion:SecretVersion": ("secretData",),
    "azure-native:keyvault:Secret": ("properties.value",),
}
# Types whose job is to hold or generate secrets from other inputs, or that take no secret inputs of their own.
SKIPPED_PREFIXES = ("random:", "pulumi:", "tls:")

REMEDIATION_HINTS: dict[str, str] = {
    "aws:rds/instance:Instance": "set manageMasterUserPassword true (Secrets Manager keeps and rotates it)",
    "aws:rds/cluster:Cluster": "set manageMasterUserPassword true (Secrets Manager keeps and rotates it)",
    "azure-native:sql:Server": "use Entra ID authentication only (administrators.azureADOnlyAuthentication)",
}


def _walk(value: Any, path: str) -> Iterator[tuple[str, Any]]:
    """(dotted path, leaf value) for every leaf under `value`; unknown leaves are skipped (not literals)."""
    try:
        if hasattr(value, "keys"):
            for key in list(value.keys()):
                yield from _walk(value[key], f"{path}.{key}" if path else str(key))
        elif isinstance(value, list | tuple):
            for i, item in enumerate(value):
                yield from _walk(item, f"{path}.{i}")
        else:
            yield path, value
    except Unknown:
        return
    except Exception as exc:  # noqa: BLE001 - the SDK's UnknownValueError: an unknown is not a literal
        if type(exc).__name__ == "UnknownValueError":
            return
        raise


def _literal(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip()) and not is_unknown(value)


def _produced_elsewhere(r: PolicyResource, top: str) -> bool:
    return bool(r.property_dependencies.get(top))


def _plaintext_inputs(r: PolicyResource) -> Iterator[str]:
    paths = SECRET_VALUE_PATHS.get(r.resource_type)
    if paths:
        for path in paths:
            try:
                value = get(r.props, path)
            except Exception:  # noqa: BLE001 - unknown at preview: produced at apply time, not a literal
                continue
            if _literal(value) and not _produced_elsewhere(r, path.split(".")[0]):
                yield path
        return
    generated = GENERATED.get(r.resource_type, frozenset())
    for top in list(r.props.keys()) if hasattr(r.props, "keys") else []:
        if top in generated or _produced_elsewhere(r, top):
            continue
        try:
            top_value = r.props[top]
        except Exception:  # noqa: BLE001
            continue
        for path, value in _walk(top_value, top):
            leaf = path.rsplit(".", 1)[-1]
            if not leaf.isdigit() and SECRET_KEY.search(leaf) and _literal(value):
                yield path


@stack_rule(RuleMeta(
    name="secrets-no-plaintext-passwords",
    description="Do not write passwords, tokens or secret values into the program or its stack configuration: "
                "generate them, or let the service manage them.",
    severity="critical", area="stack", controls=m.merge(m.AUTHENTICATION, m.KEY_MANAGEMENT, m.ACCESS_CONTROL),
    remediation="Pass a generated value (random.RandomPassword(...).result, which Pulumi keeps secret), or let the "
                "service own the credential (RDS manageMasterUserPassword, Entra-only auth, IAM database auth). "
                "A value that must come from stack configuration can be waived for that resource with a reason.",
))
def plaintext_passwords(args: StackValidationArgs) -> Iterator[tuple[str, str | None]]:
    # Component resources (parents of others) only pass values through to their children, whose own inputs are
    # checked; their registered outputs would report the same value twice.
    parents = {r.parent.urn for r in args.resources if r.parent is not None}

    def check(r: PolicyResource) -> Iterator[str]:
        if r.resource_type.startswith(SKIPPED_PREFIXES) or r.urn in parents:
            return
        for path in _plaintext_inputs(r):
            hint = REMEDIATION_HINTS.get(r.resource_type, "generate it with random.RandomPassword")
            yield (f"{subject(r.resource_type, r.name)} must not take `{path}` as a value written in the program or "
                   f"its configuration; {hint}.")

    yield from guarded(args.resources, None, check)


# --- Environment variables -----------------------------------------------------------------------------------------------
# Words that make a variable name a secret, and last words that make it a reference to one instead.
_SECRET_WORDS = frozenset({"PASSWORD", "PASSWD", "PWD", "SECRET", "TOKEN", "APIKEY", "PRIVATEKEY", "CREDENTIAL",
                           "CREDENTIALS", "PASSPHRASE", "CONNECTIONSTRING"})
_SECRET_PAIRS = frozenset({("API", "KEY"), ("ACCESS", "KEY"), ("PRIVATE", "KEY"), ("SECRET", "KEY"),
                           ("CLIENT", "SECRET"), ("ACCOUNT", "KEY"), ("AUTH", "KEY"), ("SIGNING", "KEY"),
                           ("CONNECTION", "STRING"), ("SAS", "TOKEN")})
_REFERENCE_WORDS = frozenset({"ARN", "ID", "NAME", "PATH", "FILE", "URL", "URI", "REF", "ENDPOINT", "HEADER", "TYPE",
                              "VERSION", "LENGTH", "TTL", "DIR", "REGION", "ENABLED", "MODE", "KIND", "SECONDS",
                              "EXPIRY", "ROTATION", "LOCATION", "KEYVAULT", "VAULT", "SECRETNAME", "PROVIDER"})
# Value shapes that are references to a secret, not the secret: ARNs, resource paths, URLs, Azure Key Vault
# references (`@Microsoft.KeyVault(SecretUri=...)`), template placeholders.
_REFERENCE_VALUE = re.compile(r"^(arn:|projects/|https?://|s3://|gs://|/|@Microsoft\.KeyVault\(|\$\{|\{\{)", re.I)
# Known credential formats: AWS access key ids (AKIA long-term, ASIA temporary), PEM private keys (RFC 7468 labels),
# GitHub tokens (ghp_/gho_/ghu_/ghs_/ghr_ and github_pat_), Hugging Face user access tokens (hf_), Slack tokens.
_CREDENTIAL_VALUE = re.compile(
    r"(?:^|[^A-Z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?:$|[^A-Z0-9])|-----BEGIN [A-Z ]*PRIVATE KEY-----|"
    r"\bgh[pousr]_[A-Za-z0-9]{36,}\b|\bgithub_pat_[A-Za-z0-9_]{22,}\b|\bhf_[A-Za-z0-9]{30,}\b|\bxox[abprs]-[A-Za-z0-9-]{10,}")


def _words(name: str) -> list[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    return [w for w in re.split(r"[^A-Za-z0-9]+", spaced.upper()) if w]


def secret_like_name(name: str) -> bool:
    words = _words(name)
    if not words or words[-1] in _REFERENCE_WORDS:
        return False
    joined = {"".join(words[i:i + 2]) for i in range(len(words))}
    return bool(_SECRET_WORDS & (set(words) | joined)) or any(p in _SECRET_PAIRS for p in zip(words, words[1:], strict=False))


def looks_like_key(name: str, value: Any) -> bool:
    """A variable whose value is a literal secret: a credential format, or a secret-like name with a plain value."""
    if not _literal(value):
        return False
    text = str(value).strip()
    if _CREDENTIAL_VALUE.search(text):
        return True
    if not secret_like_name(name) or _REFERENCE_VALUE.match(text):
        return False
    return text.lower() not in ("true", "false", "yes", "no", "none", "null") and not text.isdigit()


LAMBDA = "aws:lambda/function:Function"
ECS_TASK = "aws:ecs/taskDefinition:TaskDefinition"
SAGEMAKER_MODEL = "aws:sagemaker/model:Model"
CLOUD_RUN_V2 = "gcp:cloudrunv2/service:Service"
CLOUD_RUN_V2_JOB = "gcp:cloudrunv2/job:Job"
CLOUD_RUN_V1 = "gcp:cloudrun/service:Service"
CLOUD_FUNCTION_V2 = "gcp:cloudfunctionsv2/function:Function"
CLOUD_FUNCTION_V1 = "gcp:cloudfunctions/function:Function"
CONTAINER_APP = "azure-native:app:ContainerApp"
WEB_APP = "azure-native:web:WebApp"
WEB_APP_SETTINGS = "azure-native:web:WebAppApplicationSettings"
ENV_TYPES = frozenset({LAMBDA, ECS_TASK, SAGEMAKER_MODEL, CLOUD_RUN_V2, CLOUD_RUN_V2_JOB, CLOUD_RUN_V1,
                       CLOUD_FUNCTION_V2, CLOUD_FUNCTION_V1, CONTAINER_APP, WEB_APP, WEB_APP_SETTINGS}) | WORKLOADS


def _pairs(mapping: Any) -> list[tuple[str, Any]]:
    return [(str(k), mapping[k]) for k in mapping] if hasattr(mapping, "keys") else []


def _named(entries: list[Any], value_key: str = "value") -> list[tuple[str, Any]]:
    return [(str(get(e, "name")), get(e, value_key)) for e in entries if get(e, "name") is not None]


def environment(r: PolicyResource) -> list[tuple[str, str, Any]]:
    """(where, variable, value) for the plain-valued environment variables a resource sets."""
    t, p = r.resource_type, r.props
    out: list[tuple[str, str, Any]] = []
    if t == LAMBDA:
        out += [("environment.variables", k, v) for k, v in _pairs(get(p, "environment.variables"))]
    elif t == ECS_TASK:
        raw = get(p, "containerDefinitions")
        try:
            defs = json.loads(raw) if isinstance(raw, str) else []
        except ValueError:
            defs = []
        for c in defs if isinstance(defs, list) else []:
            for e in c.get("environment") or [] if isinstance(c, dict) else []:
                if isinstance(e, dict):
                    out.append((f"container `{c.get('name')}`", str(e.get("name")), e.get("value")))
    elif t == SAGEMAKER_MODEL:
        for path in ("primaryContainer.environment", *(f"containers.{i}.environment" for i in range(len(items(p, "containers"))))):
            out += [(path, k, v) for k, v in _pairs(get(p, path))]
    elif t in (CLOUD_RUN_V2, CLOUD_RUN_V2_JOB):
        base = "template.template.containers" if t == CLOUD_RUN_V2_JOB else "template.containers"
        for c in items(p, base):
            out += [(f"container `{get(c, 'name') or 0}`", k, v) for k, v in _named(items(c, "envs"))]
    elif t == CLOUD_RUN_V1:
        for c in items(p, "template.spec.containers"):
            out += [(f"container `{get(c, 'name') or 0}`", k, v) for k, v in _named(items(c, "envs"))]
    elif t == CLOUD_FUNCTION_V2:
        out += [("serviceConfig.environmentVariables", k, v) for k, v in _pairs(get(p, "serviceConfig.environmentVariables"))]
    elif t == CLOUD_FUNCTION_V1:
        out += [("environmentVariables", k, v) for k, v in _pairs(get(p, "environmentVariables"))]
    elif t == CONTAINER_APP:
        for c in items(p, "template.containers"):
            out += [(f"container `{get(c, 'name')}`", k, v) for k, v in _named(items(c, "env"))]
    elif t == WEB_APP:
        out += [("siteConfig.appSettings", k, v) for k, v in _named(items(p, "siteConfig.appSettings"))]
    elif t == WEB_APP_SETTINGS:
        out += [("properties", k, v) for k, v in _pairs(get(p, "properties"))]
    elif t in WORKLOADS:
        spec = pod_spec(t, p)
        for c in containers(spec) if spec is not None else []:
            out += [(f"container `{get(c, 'name')}`", k, v) for k, v in _named(items(c, "env"))]
    return out


@stack_rule(RuleMeta(
    name="secrets-not-in-environment",
    description="Do not put keys, tokens or passwords into environment variables as plain values (Lambda, ECS, "
                "SageMaker, Cloud Run, Cloud Functions, Container Apps, App Service, Kubernetes workloads).",
    severity="high", area="stack", controls=m.merge(m.AUTHENTICATION, m.KEY_MANAGEMENT),
    remediation="Reference the secret instead: Kubernetes valueFrom.secretKeyRef, ECS `secrets` (Secrets Manager / "
                "SSM ARNs), Cloud Run valueSource.secretKeyRef, Container Apps secretRef, App Service Key Vault "
                "references (@Microsoft.KeyVault(...)); Lambda and SageMaker: read it from Secrets Manager at start.",
), ENV_TYPES)
def keys_in_environment(args: StackValidationArgs) -> Iterator[tuple[str, str | None]]:
    def check(r: PolicyResource) -> Iterator[str]:
        # Where the value comes from does not matter here: a plain environment variable is readable by anyone who
        # can read the function's, service's or pod's configuration.
        for where, name, value in environment(r):
            if looks_like_key(name, value):
                yield (f"{subject(r.resource_type, r.name)} must not set `{name}` ({where}) to a plain value that "
                       "looks like a secret; reference it from a secret store.")

    yield from guarded(args.resources, ENV_TYPES, check)


RULES = (plaintext_passwords, keys_in_environment)
