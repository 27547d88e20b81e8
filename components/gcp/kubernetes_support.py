"""What the shared Kubernetes layer needs to know about GKE and GCP (the `KubernetesSupport` contract)."""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass

import pulumi

from aienv import images
from aienv.spec.model import StackSpec
from components.contracts import EgressTarget, KubernetesSupport, StorageClassParams

PD_CSI = "pd.csi.storage.gke.io"
# Memorystore for Redis with in-transit encryption serves TLS on port 6378 (Memorystore docs, "About in-transit
# encryption": clients connect to the instance on port 6378 when transit encryption is enabled).
MEMORYSTORE_TLS_PORT = 6378
# GKE's metadata server, which hands Workload Identity tokens to pods: on GKE Dataplane V2 pods reach it at
# 169.254.169.254:80, on the legacy datapath at 169.254.169.252:988 (GKE network-policy guidance allows both;
# allowing both keeps a policy valid on either datapath).
METADATA = (EgressTarget("169.254.169.254/32", (80,)), EgressTarget("169.254.169.252/32", (988,)))
# Where GKE installs the NVIDIA driver on GPU nodes, and where the DCGM exporter looks for it.
GKE_DRIVER = ("/home/kubernetes/bin/nvidia", "/usr/local/nvidia")


@dataclass(frozen=True)
class GcloudCli:
    """The gcloud CLI with GKE Workload Identity: credentials come from the GKE metadata server, no login."""

    project: str

    @property
    def env(self) -> Mapping[str, str]:
        return {"HOME": "/tmp", "CLOUDSDK_CONFIG": "/tmp/gcloud", "CLOUDSDK_CORE_PROJECT": self.project,
                "CLOUDSDK_CORE_DISABLE_PROMPTS": "1"}

    def accepts(self, uri: str) -> bool:
        return uri.startswith("gs://")

    def login(self) -> str:
        return "true"

    def download(self, uri_var: str, directory: str) -> str:
        return f'gcloud storage rsync --recursive "${uri_var}" "{directory}"'

    def upload(self, directory: str, uri_var: str) -> str:
        return f'gcloud storage rsync --recursive "{directory}" "${uri_var}"'

    def exists(self, uri_var: str) -> str:
        return f'gcloud storage objects describe "${uri_var}" >/dev/null 2>&1'

    def put_marker(self, uri_var: str) -> str:
        return f"printf 'imported\\n' | gcloud storage cp - \"${uri_var}\""

    def list_times(self, uri_var: str, out_file: str) -> str:
        # `ls --long` prints size, time and URL per object, then a TOTAL line (not a gs:// URL).
        return (f'gcloud storage ls --long "${{{uri_var}}}**" | while read -r size ts url; do '
                f'case "$url" in gs://*) printf \'%s\\t%s\\n\' "${{url#"${uri_var}"}}" "$ts";; esac; '
                f'done > "{out_file}"')

    def read_secret(self, ref: str, out_file: str) -> str:
        # A Secret Manager secret id, `projects/<p>/secrets/<s>`, or a version of either.
        if "/versions/" in ref:
            version = shlex.quote(ref)
        elif ref.startswith("projects/"):
            version = shlex.quote(f"{ref}/versions/latest")
        else:
            version = f"latest --secret={shlex.quote(ref)}"
        return f'gcloud secrets versions access {version} > "{out_file}"'


def kubernetes_support(spec: StackSpec, disk_key: pulumi.Input[str] | None) -> KubernetesSupport:
    """GKE facts; `disk_key` is the Cloud KMS key the foundation encrypts persistent disks with."""
    project = spec.cloud.project or ""
    return KubernetesSupport(
        tool_images=images.cloud_tool_images("gcp"),
        object_store=GcloudCli(project),
        identity_egress=METADATA,
        workload_env={"GOOGLE_CLOUD_PROJECT": project},
        online_store_port=MEMORYSTORE_TLS_PORT,
        load_balancer_annotations={
            "internal": {"networking.gke.io/load-balancer-type": "Internal"},
            "public": {},
        },
        # GKE runs kube-dns (not CoreDNS) unless Cloud DNS is chosen; this foundation keeps the default.
        cluster_dns="kube-dns",
        gpu_runtime_class=None,  # GKE installs driver and device plugin; no GPU operator runs
        gpu_driver_mount=GKE_DRIVER,
        feast_registry_store=None,  # gs:// -> Feast's GCSRegistryStore
        metrics_server=True,  # GKE runs metrics-server in kube-system
        cluster_autoscaler_values={},
        scratch_storage=StorageClassParams(PD_CSI, {"type": "pd-balanced",
                                                    **({"disk-encryption-kms-key": disk_key} if disk_key else {})}),
    )
