"""ECR: pull-through caches of the upstream registries the stack pulls from, repositories for the images the
team's CI pushes, and SageMaker model package groups.

Cached images (`aienv.images.cached_images`) reach the environment through one pull-through cache rule per
upstream registry; ECR creates a cached image's repository on its first pull, with the settings of the
repository creation template of the rule's prefix (the registry key, immutable tags, the lifecycle policy).
Images the team's CI pushes (`image_supply: ci`, plus `registries.container.image_families`) get a repository
of their own here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from aienv import images, naming
from aienv.errors import ComponentInputError
from aienv.images import UpstreamImage
from aienv.spec.model import StackSpec
from components.aws._common import AwsEnv, child, policy_json, stateful

UNTAGGED_IMAGE_DAYS = 14
# Declares a repository filled by the team's CI (the deployability pack's image-supply rule reads it).
IMAGE_SUPPLY_TAG = "aienv-image-supply"
LIFECYCLE_POLICY = json.dumps({"rules": [{
    "rulePriority": 1, "description": f"expire untagged images after {UNTAGGED_IMAGE_DAYS} days",
    "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days",
                  "countNumber": UNTAGGED_IMAGE_DAYS},
    "action": {"type": "expire"},
}]})


def ci_repository_paths(spec: StackSpec) -> list[str]:
    """`<family>/<image>` of every image the team's CI pushes, plus the extra `image_families`, without repeats."""
    paths: list[str] = []
    for endpoint in spec.model_endpoints:
        if endpoint.supply == "ci":
            for image in images.endpoint_images(endpoint):
                path = f"{endpoint.family}/{images.image_name(image)}"
                if path not in paths:
                    paths.append(path)
    for family in spec.registries.container.image_families:
        if family not in paths:
            paths.append(family)
    return paths


def cache_prefixes(spec: StackSpec) -> dict[str, str]:
    """Upstream registry host -> the ECR repository prefix of its pull-through cache, for every upstream the
    stack pulls from that ECR can cache (the spec rules refuse the others)."""
    return {host: naming.aws_cache_prefix(spec.name, host) for host in images.upstream_registries(spec)
            if host in naming.AWS_CACHE_UPSTREAMS}


@dataclass(frozen=True)
class EcrImageSource:
    """`components.contracts.ImageSource` on ECR: cached images under their rule's prefix, CI images in
    `<env>/<family>/`."""

    registry: pulumi.Output[str]  # <account>.dkr.ecr.<region>.amazonaws.com
    environment: str
    rule_prefixes: Mapping[str, pulumi.Output[str]]  # upstream host -> the rule's prefix (carries the rule)

    def cached(self, image: UpstreamImage) -> pulumi.Output[str]:
        # `<registry>/<prefix>/<upstream repository><:tag|@digest>`: a digest in the spec stays a digest.
        prefix = self.rule_prefixes.get(image.registry)
        if prefix is None:
            raise ComponentInputError("registries", f"the environment has no ECR pull-through cache of "
                                      f"{image.registry} for `{image.upstream_ref}` (ECR caches "
                                      f"{', '.join(sorted(naming.AWS_CACHE_UPSTREAMS))}); have CI push it instead")
        return pulumi.Output.concat(self.registry, "/", prefix, "/", image.repository, image.reference)

    def pushed(self, family: str, image: str) -> pulumi.Output[str]:
        return pulumi.Output.concat(self.registry, "/", self.environment, "/", family, "/", image)


@dataclass(frozen=True)
class RegistriesArgs:
    env: AwsEnv
    registry_key_arn: pulumi.Input[str] | None  # None: ECR's AES256
    model_bucket: pulumi.Input[str]  # the model-artifact bucket the registry's packages point into


class Registries(pulumi.ComponentResource):
    """`aienv:aws:Registries`: pull-through cache rules with their creation templates, CI repositories
    `<env>/<family>/<image>`, and `<env>-<endpoint>` model package groups."""

    repositories: dict[str, aws.ecr.Repository]
    cache_rules: dict[str, aws.ecr.PullThroughCacheRule]
    model_package_groups: dict[str, aws.sagemaker.ModelPackageGroup]
    registry_url: pulumi.Output[str]
    images: EcrImageSource

    def __init__(self, name: str, args: RegistriesArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aienv:aws:Registries", name, None, opts)
        env = args.env
        spec = env.spec
        container = spec.registries.container
        mutability = "IMMUTABLE" if container.immutable_tags else "MUTABLE"
        host = pulumi.Output.concat(env.account_id, ".dkr.ecr.", env.region, ".amazonaws.com",
                                    ".cn" if env.partition == "aws-cn" else "")

        self.repositories = {}
        for path in ci_repository_paths(spec):
            family = path.replace("/", "-")
            repo = aws.ecr.Repository(f"{name}-{family}", aws.ecr.RepositoryArgs(
                # Pinned: CI pushes to <registry_url>/<family>/<image>; replaced only after the old one is gone.
                name=f"{spec.name}/{path}",
                image_tag_mutability=mutability,
                image_scanning_configuration=aws.ecr.RepositoryImageScanningConfigurationArgs(
                    scan_on_push=container.scan_on_push),
                encryption_configurations=[
                    aws.ecr.RepositoryEncryptionConfigurationArgs(encryption_type="KMS", kms_key=args.registry_key_arn)
                    if args.registry_key_arn is not None else
                    aws.ecr.RepositoryEncryptionConfigurationArgs(encryption_type="AES256")],
                force_delete=False,
                tags=env.tags(f"ecr-{family}", **{"aienv-image-family": path.split("/", 1)[0], IMAGE_SUPPLY_TAG: "ci"}),
            ), stateful(self, spec, delete_before_replace=True))
            aws.ecr.LifecyclePolicy(f"{name}-{family}-lifecycle", aws.ecr.LifecyclePolicyArgs(
                repository=repo.name, policy=LIFECYCLE_POLICY), child(self))
            self.repositories[family] = repo

        self.cache_rules = {}
        prefixes = cache_prefixes(spec)
        template_role, template_policy = (self._template_role(name, env, prefixes, args.registry_key_arn)
                                          if prefixes else (None, None))
        for upstream, prefix in prefixes.items():
            url, namespace = naming.AWS_CACHE_UPSTREAMS[upstream]
            # ECR creates a cached repository on its first pull "with the settings of the repository creation
            # template" whose prefix matches; "custom_role_arn: ... Required if using repository tags or KMS
            # encryption" (pulumi_aws ecr.RepositoryCreationTemplate).
            template = aws.ecr.RepositoryCreationTemplate(f"{name}-cache-{namespace}-template",
                                                          aws.ecr.RepositoryCreationTemplateArgs(
                prefix=prefix,
                applied_fors=["PULL_THROUGH_CACHE"],
                description=f"{spec.name}: images cached from {upstream}",
                image_tag_mutability=mutability,
                encryption_configurations=[aws.ecr.RepositoryCreationTemplateEncryptionConfigurationArgs(
                    encryption_type="KMS", kms_key=args.registry_key_arn) if args.registry_key_arn is not None else
                    aws.ecr.RepositoryCreationTemplateEncryptionConfigurationArgs(encryption_type="AES256")],
                lifecycle_policy=LIFECYCLE_POLICY,
                resource_tags=env.tags(f"ecr-cache-{namespace}", **{"aienv-image-upstream": upstream}),
                custom_role_arn=template_role.arn if template_role is not None else None,
            ), child(self, delete_before_replace=True,
                     depends_on=[template_policy] if template_policy is not None else None))
            credentials = spec.registries.upstreams.get(upstream)
            self.cache_rules[upstream] = aws.ecr.PullThroughCacheRule(
                f"{name}-cache-{namespace}", aws.ecr.PullThroughCacheRuleArgs(
                    ecr_repository_prefix=prefix,
                    upstream_registry_url=url,
                    # The ARN of the secret the spec names; its value never passes through the program or state.
                    credential_arn=self._secret_arn(credentials.secret) if credentials is not None else None,
                ), child(self, delete_before_replace=True, depends_on=[template]))

        self.registry_url = pulumi.Output.concat(host, "/", spec.name)
        self.images = EcrImageSource(
            registry=host, environment=spec.name,
            rule_prefixes={u: r.ecr_repository_prefix for u, r in self.cache_rules.items()})

        self.model_package_groups = {}
        if spec.registries.model_registry:
            for endpoint in spec.model_endpoints:
                artifacts = pulumi.Output.concat("s3://", args.model_bucket, "/", f"models/{endpoint.name}/")
                group = aws.sagemaker.ModelPackageGroup(f"{name}-model-{endpoint.name}",
                                                        aws.sagemaker.ModelPackageGroupArgs(
                    model_package_group_name=naming.aws_model_package_group(spec.name, endpoint.name),
                    model_package_group_description=pulumi.Output.concat(
                        f"{endpoint.model.name} served by {endpoint.name}; artifacts under ", artifacts),
                    tags={**env.tags(f"model-{endpoint.name}", **{"aienv-endpoint": endpoint.name}),
                          "aienv-model-artifacts": artifacts},
                ), stateful(self, spec, delete_before_replace=True))
                self.model_package_groups[endpoint.name] = group

        self.register_outputs({
            "registryUrl": self.registry_url,
            "repositories": {f: r.repository_url for f, r in self.repositories.items()},
            "cacheRules": {u: r.ecr_repository_prefix for u, r in self.cache_rules.items()},
            "modelPackageGroups": {e: g.arn for e, g in self.model_package_groups.items()},
        })

    def _secret_arn(self, secret: str) -> pulumi.Input[str]:
        """The secret's full ARN: given, or looked up by name in the environment's account and region (the rule
        takes an ARN; the lookup also fails the preview early when the secret does not exist)."""
        if secret.startswith("arn:"):
            return secret
        return aws.secretsmanager.get_secret_output(name=secret, opts=pulumi.InvokeOutputOptions(parent=self)).arn

    def _template_role(self, name: str, env: AwsEnv, prefixes: Mapping[str, str],
                       key_arn: pulumi.Input[str] | None) -> tuple[aws.iam.Role, aws.iam.RolePolicy]:
        """The role ECR assumes to create cached repositories with the templates' key and tags (ECR user guide,
        "Create an IAM role for repository creation templates"), limited to this environment's cache prefixes."""
        spec = env.spec
        role = aws.iam.Role(f"{name}-cache-template", aws.iam.RoleArgs(
            name_prefix=naming.aws_prefix(naming.AWS_IAM_ROLE_PREFIX, spec.name, "ecr-cache"),
            description=f"ECR creates the {spec.name} pull-through cache repositories with their template",
            assume_role_policy=policy_json([{
                "Effect": "Allow", "Principal": {"Service": env.service("ecr")}, "Action": "sts:AssumeRole"}]),
            tags=env.tags("ecr-cache-template"),
        ), child(self))
        statements: list[dict[str, object]] = [{
            "Sid": "CreateCachedRepositories", "Effect": "Allow",
            "Action": ["ecr:CreateRepository", "ecr:TagResource"],
            "Resource": [env.arn("ecr", f"repository/{p}/*") for p in prefixes.values()],
        }]
        if key_arn is not None:
            statements.append({"Sid": "EncryptCachedRepositories", "Effect": "Allow",
                               "Action": ["kms:CreateGrant", "kms:RetireGrant", "kms:DescribeKey"],
                               "Resource": key_arn})
        policy = aws.iam.RolePolicy(f"{name}-cache-template-access", aws.iam.RolePolicyArgs(
            role=role.id, policy=policy_json(statements)), child(self))
        return role, policy
