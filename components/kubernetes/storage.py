"""The scratch storage class: encrypted block volumes that live as long as the pod that asked for them.

Model weights of serving pods and the staging area of model imports are generic ephemeral volumes of this
class, not node root disks: a 70B checkpoint (about 140 GB) per replica does not fit the nodes' 200 GB disks
when two replicas share a node, and the scheduler does not see emptyDir use. Kubernetes docs, "Ephemeral
Volumes": "When the Pod is deleted, the Kubernetes garbage collector deletes the PVC, which then usually
triggers deletion of the volume because the default reclaim policy of storage classes is to delete volumes" --
so this class deletes (the foundations' classes for Prometheus retain); `WaitForFirstConsumer` creates the disk
in the zone the pod is scheduled to.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from aienv import conventions as c
from components.contracts import StorageClassParams
from components.kubernetes import _common as common


@dataclass(frozen=True)
class ScratchStorageArgs:
    environment: str
    volume: StorageClassParams  # KubernetesSupport.scratch_storage: the cloud's encrypted volume type
    labels: Mapping[str, str] = field(default_factory=dict)
    depends_on: Sequence[pulumi.Resource] = ()


class ScratchStorage(pulumi.ComponentResource):
    """`aienv:kubernetes:ScratchStorage`: the StorageClass of per-pod scratch volumes."""

    def __init__(self, name: str, args: ScratchStorageArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aienv:kubernetes:ScratchStorage", name, None, opts)
        self.storage_class = k8s.storage.v1.StorageClass(
            f"{name}-class",
            metadata=common.meta(c.SCRATCH_STORAGE_CLASS, None, {**common.base_labels(args.environment),
                                                                 **args.labels}),
            provisioner=args.volume.provisioner,
            parameters=dict(args.volume.parameters),
            reclaim_policy="Delete",
            volume_binding_mode="WaitForFirstConsumer",
            allow_volume_expansion=False,
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on), delete_before_replace=True))
        self.name = c.SCRATCH_STORAGE_CLASS
        self.register_outputs({"storageClass": self.name, "provisioner": args.volume.provisioner})
