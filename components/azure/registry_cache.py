"""The registry's caches of upstream registries (ACR artifact cache) and where pods pull images from.

One cache rule per upstream repository the stack runs (`aienv.images.cached_images`), mapping
`<login server>/<upstream host>/<repository>` to the upstream; a credential set per upstream the spec gives
credentials for (`registries.upstreams`): ACR reads the user name and the password from the two Key Vault
secrets the spec names (`username_secret`, `secret`), so the stack writes no credential and keeps none in
its state. Images the team's CI pushes keep their own repositories (`<family>/<name>`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pulumi
from pulumi_azure_native import authorization, containerregistry

from aienv.images import UpstreamImage, cached_images
from aienv.naming import azure_secret_ref, suffix
from aienv.spec.model import StackSpec
from components.azure._shared import ROLE_KV_SECRETS_USER, role_definition
from components.azure.keys import Keys

_RULE_NAME_MAX = 50  # cache rules and credential sets: 5-50 letters, digits and hyphens


def target_repository(image: UpstreamImage) -> str:
    """The cached repository inside the registry: the upstream host, then its path (`docker.io/vllm/vllm-openai`)."""
    return f"{image.registry}/{image.repository}"


def rule_name(prefix: str, path: str) -> str:
    """A cache-rule or credential-set name (letters, digits, hyphens, 5-50) unique for `path`."""
    base = re.sub(r"[^a-zA-Z0-9]+", "-", path).strip("-")
    name = f"{prefix}-{base}"
    if len(name) > _RULE_NAME_MAX:
        name = f"{name[:_RULE_NAME_MAX - 7].rstrip('-')}-{suffix(path)}"
    return name


class AcrImageSource:
    """The `ImageSource` of an environment on Azure: cached upstream images and CI-pushed ones, by reference
    (a digest when the spec gives one)."""

    def __init__(self, login_server: pulumi.Output[str]):
        self._login_server = login_server

    def cached(self, image: UpstreamImage) -> pulumi.Input[str]:
        return pulumi.Output.concat(self._login_server, "/", target_repository(image), image.reference)

    def pushed(self, family: str, image: str) -> pulumi.Input[str]:
        return pulumi.Output.concat(self._login_server, "/", family, "/", image)


@dataclass(frozen=True)
class RegistryCacheArgs:
    spec: StackSpec
    resource_group_name: pulumi.Input[str]
    registry: containerregistry.Registry
    keys: Keys


class RegistryCache(pulumi.ComponentResource):
    """`aienv:azure:RegistryCache`: cache rules and credential sets of the environment's ACR."""

    rules: dict[str, containerregistry.CacheRule]
    credential_sets: dict[str, containerregistry.CredentialSet]
    source: AcrImageSource

    def __init__(self, name: str, args: RegistryCacheArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aienv:azure:RegistryCache", name, None, opts)
        spec, rg = args.spec, args.resource_group_name
        subscription = spec.cloud.subscription_id or ""
        self.credential_sets = {}
        ready: dict[str, list[pulumi.Resource]] = {}
        for host, upstream in spec.registries.upstreams.items():
            password = azure_secret_ref(upstream.secret, spec.name, subscription)
            username = azure_secret_ref(upstream.username_secret or "", spec.name, subscription)
            if password is None or username is None:
                continue  # the spec rules refuse both (`_azure_upstreams`)
            key = rule_name("up", host)
            credentials = containerregistry.CredentialSet(
                f"{name}-{key}",
                containerregistry.CredentialSetArgs(
                    resource_group_name=rg, registry_name=args.registry.name, credential_set_name=key,
                    login_server=host,
                    identity=containerregistry.IdentityPropertiesArgs(
                        type=containerregistry.ResourceIdentityType.SYSTEM_ASSIGNED),
                    auth_credentials=[containerregistry.AuthCredentialArgs(
                        name=containerregistry.CredentialName.CREDENTIAL1,
                        username_secret_identifier=username.url,
                        password_secret_identifier=password.url)]),
                pulumi.ResourceOptions(parent=self))
            principal: pulumi.Output[str] = credentials.identity.apply(
                lambda i: i.principal_id if i else None)  # type: ignore[arg-type,return-value]
            grants: list[pulumi.Resource] = [credentials]
            for suffix_, secret in (("username", username), ("password", password)):
                scope = secret.resource_id or pulumi.Output.concat(args.keys.vault.id, "/secrets/", secret.name)
                grants.append(authorization.RoleAssignment(
                    f"{name}-{key}-{suffix_}-reader",
                    authorization.RoleAssignmentArgs(
                        principal_id=principal, principal_type=authorization.PrincipalType.SERVICE_PRINCIPAL,
                        role_definition_id=role_definition(subscription, ROLE_KV_SECRETS_USER), scope=scope),
                    pulumi.ResourceOptions(parent=self, depends_on=[credentials])))
            self.credential_sets[host] = credentials
            ready[host] = grants

        self.rules = {}
        for image in cached_images(spec):
            path = target_repository(image)
            if path in self.rules:
                continue
            cached_with = self.credential_sets.get(image.registry)
            self.rules[path] = containerregistry.CacheRule(
                f"{name}-{rule_name('cache', path)}",
                containerregistry.CacheRuleArgs(
                    resource_group_name=rg, registry_name=args.registry.name,
                    cache_rule_name=rule_name("cache", path),
                    source_repository=image.upstream_ref.removesuffix(image.reference),
                    target_repository=path,
                    credential_set_resource_id=cached_with.id if cached_with is not None else None),
                # The cache pulls with the credential set as soon as a pod asks: its secrets must be readable.
                pulumi.ResourceOptions(parent=self, depends_on=ready.get(image.registry, [])))

        self.source = AcrImageSource(args.registry.login_server)
        self.register_outputs({
            "cacheRules": {p: r.id for p, r in self.rules.items()},
            "credentialSets": {h: s.id for h, s in self.credential_sets.items()},
        })
