"""What the shared Kubernetes layer needs to know about AKS and Azure (the `KubernetesSupport` contract)."""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi

from aienv import images
from aienv.naming import azure_secret_url
from aienv.spec.model import StackSpec
from components.azure.feature_store import REDIS_PORT
from components.azure.network import SERVICES_SUBNET
from components.contracts import KubernetesSupport, StorageClassParams

DISK_CSI = "disk.csi.azure.com"
_BLOB_URL = re.compile(r"^https://[a-z0-9]{3,24}\.blob\.core\.windows\.net/[^/]+")
_AUTH = "--auth-mode login --output none"


def _split(uri_var: str) -> str:
    """`_a` account, `_c` container and `_k` blob prefix of the `https://<a>.blob.core.windows.net/<c>/<k>` in
    `$uri_var`."""
    return (f'_h="${{{uri_var}#https://}}"; _a="${{_h%%.*}}"; _r="${{_h#*/}}"; _c="${{_r%%/*}}"; '
            f'_k="${{_r#"$_c"}}"; _k="${{_k#/}}"')


@dataclass(frozen=True)
class AzureCli:
    """Azure CLI signed in with the pod's workload identity: the AKS webhook injects AZURE_CLIENT_ID,
    AZURE_TENANT_ID and AZURE_FEDERATED_TOKEN_FILE, and `az login --federated-token` exchanges that token
    ("Federated token that can be used for OIDC token exchange", az login reference). Blob commands then use
    `--auth-mode login` (the identity's data-plane roles, no account key)."""

    env: Mapping[str, str] = field(default_factory=lambda: {
        "HOME": "/tmp", "AZURE_CONFIG_DIR": "/tmp/.azure",
        # Azure CLI configuration: every `[core]` setting can be set as AZURE_CORE_<NAME>.
        "AZURE_CORE_COLLECT_TELEMETRY": "false", "AZURE_CORE_ONLY_SHOW_ERRORS": "true"})

    def accepts(self, uri: str) -> bool:
        return bool(_BLOB_URL.match(uri))

    def login(self) -> str:
        return ('az login --service-principal --username "$AZURE_CLIENT_ID" --tenant "$AZURE_TENANT_ID" '
                '--federated-token "$(cat "$AZURE_FEDERATED_TOKEN_FILE")" --allow-no-subscriptions --output none')

    def download(self, uri_var: str, directory: str) -> str:
        # download-batch keeps each blob's full name under the destination: stage on the same volume, then move
        # the prefix's entries (dotfiles too) with shell builtins and mv only (the image is a minimal Azure Linux).
        staging = f"{directory}.part"
        return (f'{{ {_split(uri_var)}; mkdir -p "{staging}" "{directory}" && '
                f'az storage blob download-batch --account-name "$_a" --source "$_c" --pattern "${{_k}}*" '
                f'--destination "{staging}" --max-connections 8 {_AUTH} && '
                f'for f in "{staging}/$_k"* "{staging}/$_k".[!.]*; do if [ -e "$f" ]; then mv "$f" "{directory}/"; fi; '
                f'done && rm -rf "{staging}"; }}')

    def upload(self, directory: str, uri_var: str) -> str:
        return (f'{{ {_split(uri_var)}; az storage blob upload-batch --account-name "$_a" --destination "$_c" '
                f'--destination-path "${{_k%/}}" --source "{directory}" --overwrite --max-connections 8 {_AUTH}; }}')

    def exists(self, uri_var: str) -> str:
        return (f'{{ {_split(uri_var)}; [ "$(az storage blob exists --account-name "$_a" --container-name "$_c" '
                f'--name "$_k" --auth-mode login --query exists --output tsv 2>/dev/null)" = true ]; }}')

    def put_marker(self, uri_var: str) -> str:
        return (f"{{ {_split(uri_var)}; printf 'imported\\n' > /tmp/.aienv-marker && "
                f'az storage blob upload --account-name "$_a" --container-name "$_c" --name "$_k" '
                f'--file /tmp/.aienv-marker --overwrite {_AUTH}; }}')

    def list_times(self, uri_var: str, out_file: str) -> str:
        # `--num-results "*"` returns every blob, not the first 5000.
        return (f'{{ {_split(uri_var)}; az storage blob list --account-name "$_a" --container-name "$_c" '
                f"--prefix \"$_k\" --num-results '*' --auth-mode login "
                f"--query '[].[name, properties.lastModified]' --output tsv | "
                f"while IFS=\"$(printf '\\t')\" read -r key ts; do "
                f"if [ -n \"$ts\" ]; then printf '%s\\t%s\\n' \"${{key#\"$_k\"}}\" \"$ts\"; fi; "
                f"done > \"{out_file}\"; }}")

    def read_secret(self, ref: str, out_file: str) -> str:
        # `--id` takes the secret's URL (https://<vault>.vault.azure.net/secrets/<name>[/<version>]); the spec may
        # name the secret by its resource id (what the import identity's role assignment is scoped to).
        url = azure_secret_url(ref)
        return f'az keyvault secret show --id {shlex.quote(url)} --query value --output tsv > "{out_file}"'


def kubernetes_support(spec: StackSpec, volume_parameters: Mapping[str, pulumi.Input[str]]) -> KubernetesSupport:
    """AKS facts; `volume_parameters` are the CMK-encrypted managed-disk parameters of the foundation's class."""
    return KubernetesSupport(
        tool_images=images.cloud_tool_images("azure"),
        object_store=AzureCli(),
        # Workload identity tokens are projected into the pod and exchanged with Entra ID over HTTPS.
        identity_egress=(),
        workload_env={},
        online_store_port=REDIS_PORT,
        load_balancer_annotations={
            # Microsoft, *Use an internal load balancer with AKS*, "Specify a different subnet": "Add the
            # azure-load-balancer-internal-subnet annotation to your service to specify a subnet for your load
            # balancer. The subnet specified must be in the same virtual network as your AKS cluster." Without
            # it the address comes "from the same subnet as the AKS cluster" (`nodes`).
            "internal": {"service.beta.kubernetes.io/azure-load-balancer-internal": "true",
                         "service.beta.kubernetes.io/azure-load-balancer-internal-subnet": SERVICES_SUBNET},
            "public": {},
        },
        cluster_dns="coredns",  # AKS runs CoreDNS in kube-system (k8s-app=kube-dns)
        # NVIDIA, "GPU Operator with Azure Kubernetes Service": AKS images include the driver and the container
        # toolkit; install the operator with "--set driver.enabled=false --set toolkit.enabled=false --set
        # operator.runtimeClass=nvidia-container-runtime".
        gpu_runtime_class="nvidia-container-runtime",
        gpu_driver_mount=None,
        # Feast's file registry has no scheme for Azure Blob; its AzBlobRegistryStore takes the https blob URL
        # (account URL = scheme + netloc, then container and blob path).
        feast_registry_store="AzureRegistryStore",
        metrics_server=True,  # AKS deploys metrics-server in kube-system
        cluster_autoscaler_values={},
        scratch_storage=StorageClassParams(DISK_CSI, dict(volume_parameters)),
    )
