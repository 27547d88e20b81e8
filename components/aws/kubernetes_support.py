"""What the shared Kubernetes layer needs to know about EKS and AWS (the `KubernetesSupport` contract)."""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi

from aienv import images
from aienv.spec.model import StackSpec
from components.aws.feature_store import REDIS_PORT
from components.contracts import KubernetesSupport, StorageClassParams

EBS_CSI = "ebs.csi.aws.com"


def _split(uri_var: str) -> str:
    """`_b` bucket and `_k` key of the `s3://bucket/key` in `$uri_var`."""
    return f'_p="${{{uri_var}#s3://}}"; _b="${{_p%%/*}}"; _k="${{_p#*/}}"'


@dataclass(frozen=True)
class AwsCli:
    """AWS CLI v2 with IRSA: the SDK reads the projected web-identity token the EKS webhook mounts, so there is
    no login step."""

    env: Mapping[str, str] = field(default_factory=lambda: {"HOME": "/tmp", "AWS_PAGER": ""})

    def accepts(self, uri: str) -> bool:
        return uri.startswith("s3://")

    def login(self) -> str:
        return "true"

    def download(self, uri_var: str, directory: str) -> str:
        return f'aws s3 sync --only-show-errors --no-progress "${uri_var}" "{directory}"'

    def upload(self, directory: str, uri_var: str) -> str:
        return f'aws s3 sync --only-show-errors --no-progress "{directory}" "${uri_var}"'

    def exists(self, uri_var: str) -> str:
        return f'{{ {_split(uri_var)}; aws s3api head-object --bucket "$_b" --key "$_k" >/dev/null 2>&1; }}'

    def put_marker(self, uri_var: str) -> str:
        return f"printf 'imported\\n' | aws s3 cp --only-show-errors - \"${uri_var}\""

    def list_times(self, uri_var: str, out_file: str) -> str:
        # LastModified of every object under the prefix; the CLI pages through list-objects-v2 itself.
        return (f"{{ {_split(uri_var)}; aws s3api list-objects-v2 --bucket \"$_b\" --prefix \"$_k\" "
                f"--query 'Contents[].[Key,LastModified]' --output text | "
                f"while IFS=\"$(printf '\\t')\" read -r key ts; do "
                f"if [ -n \"$ts\" ]; then printf '%s\\t%s\\n' \"${{key#\"$_k\"}}\" \"$ts\"; fi; "
                f"done > \"{out_file}\"; }}")

    def read_secret(self, ref: str, out_file: str) -> str:
        # A Secrets Manager secret name or ARN whose SecretString is the token.
        return (f"aws secretsmanager get-secret-value --secret-id {shlex.quote(ref)} --query SecretString "
                f"--output text > \"{out_file}\"")


def kubernetes_support(spec: StackSpec, volume_parameters: Mapping[str, pulumi.Input[str]]) -> KubernetesSupport:
    """EKS facts; `volume_parameters` are the encrypted gp3 parameters of the foundation's storage class."""
    region = spec.region or ""
    return KubernetesSupport(
        tool_images=images.cloud_tool_images("aws"),
        object_store=AwsCli(),
        # IRSA tokens are projected into the pod; nothing reaches the instance metadata service.
        identity_egress=(),
        workload_env={"AWS_REGION": region, "AWS_DEFAULT_REGION": region},
        online_store_port=REDIS_PORT,
        load_balancer_annotations={
            "internal": {"service.beta.kubernetes.io/aws-load-balancer-type": "nlb",
                         "service.beta.kubernetes.io/aws-load-balancer-internal": "true",
                         "service.beta.kubernetes.io/aws-load-balancer-scheme": "internal"},
            "public": {"service.beta.kubernetes.io/aws-load-balancer-type": "nlb",
                       "service.beta.kubernetes.io/aws-load-balancer-scheme": "internet-facing"},
        },
        # EKS runs CoreDNS (pods labelled k8s-app=kube-dns in kube-system), which kube-prometheus-stack scrapes.
        cluster_dns="coredns",
        gpu_runtime_class=None,  # the AL2023 NVIDIA AMI's containerd has the operator's default `nvidia` handler
        gpu_driver_mount=None,
        feast_registry_store=None,  # s3:// -> Feast's S3RegistryStore
        # EKS user guide, "Scale pod deployments with Horizontal Pod Autoscaler": the Metrics Server "is not
        # deployed by default in Amazon EKS clusters"; this foundation installs no metrics-server add-on.
        metrics_server=False,
        cluster_autoscaler_values={"cloudProvider": "aws", "awsRegion": region},
        scratch_storage=StorageClassParams(EBS_CSI, dict(volume_parameters)),
    )
