"""ECR repositories, one per `<family>/<image>` the environment pulls, and SageMaker model package groups."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from aienv import images
from components.aws._common import AwsEnv, child, stateful

UNTAGGED_IMAGE_DAYS = 14


@dataclass(frozen=True)
class RegistriesArgs:
    env: AwsEnv
    registry_key_arn: pulumi.Input[str] | None  # None: ECR's AES256
    model_bucket: pulumi.Input[str]  # the model-artifact bucket the registry's packages point into


class Registries(pulumi.ComponentResource):
    """`aienv:aws:Registries`: `<env>/<family>/<image>` ECR repositories and `<env>-<endpoint>` model package groups."""

    repositories: dict[str, aws.ecr.Repository]
    model_package_groups: dict[str, aws.sagemaker.ModelPackageGroup]
    registry_url: pulumi.Output[str]

    def __init__(self, name: str, args: RegistriesArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aienv:aws:Registries", name, None, opts)
        env = args.env
        spec = env.spec
        container = spec.registries.container
        self.repositories = {}
        # ECR holds one image per repository: one repository per `<family>/<image>` the environment pulls.
        for path in images.repository_paths(spec):
            family = path.replace("/", "-")
            repo = aws.ecr.Repository(f"{name}-{family}", aws.ecr.RepositoryArgs(
                # Pinned: images are addressed as <registry_url>/<family>/<image>; replaced only after the old one
                # is gone.
                name=f"{spec.name}/{path}",
                image_tag_mutability="IMMUTABLE" if container.immutable_tags else "MUTABLE",
                image_scanning_configuration=aws.ecr.RepositoryImageScanningConfigurationArgs(
                    scan_on_push=container.scan_on_push),
                encryption_configurations=[
                    aws.ecr.RepositoryEncryptionConfigurationArgs(encryption_type="KMS", kms_key=args.registry_key_arn)
                    if args.registry_key_arn is not None else
                    aws.ecr.RepositoryEncryptionConfigurationArgs(encryption_type="AES256")],
                force_delete=False,
                tags=env.tags(f"ecr-{family}", **{"aienv-image-family": path.split("/", 1)[0]}),
            ), stateful(self, spec, delete_before_replace=True))
            aws.ecr.LifecyclePolicy(f"{name}-{family}-lifecycle", aws.ecr.LifecyclePolicyArgs(
                repository=repo.name,
                policy=json.dumps({"rules": [{
                    "rulePriority": 1, "description": f"expire untagged images after {UNTAGGED_IMAGE_DAYS} days",
                    "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days",
                                  "countNumber": UNTAGGED_IMAGE_DAYS},
                    "action": {"type": "expire"},
                }]}),
            ), child(self))
            self.repositories[family] = repo

        self.registry_url = pulumi.Output.concat(
            env.account_id, ".dkr.ecr.", env.region, ".amazonaws.com", ".cn" if env.partition == "aws-cn" else "",
            "/", spec.name)

        self.model_package_groups = {}
        if spec.registries.model_registry:
            for endpoint in spec.model_endpoints:
                artifacts = pulumi.Output.concat("s3://", args.model_bucket, "/", f"models/{endpoint.name}/")
                group = aws.sagemaker.ModelPackageGroup(f"{name}-model-{endpoint.name}",
                                                        aws.sagemaker.ModelPackageGroupArgs(
                    model_package_group_name=f"{spec.name}-{endpoint.name}",
                    model_package_group_description=pulumi.Output.concat(
                        f"{endpoint.model.name} served by {endpoint.name}; artifacts under ", artifacts),
                    tags={**env.tags(f"model-{endpoint.name}", **{"aienv-endpoint": endpoint.name}),
                          "aienv-model-artifacts": artifacts},
                ), stateful(self, spec, delete_before_replace=True))
                self.model_package_groups[endpoint.name] = group

        self.register_outputs({
            "registryUrl": self.registry_url,
            "repositories": {f: r.repository_url for f, r in self.repositories.items()},
            "modelPackageGroups": {e: g.arn for e, g in self.model_package_groups.items()},
        })
