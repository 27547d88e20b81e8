"""The whole environment: one cloud foundation, then the shared Kubernetes layer on its cluster.

`build_environment(spec)` is the single entry point used by `__main__.py` (a real `pulumi up`) and by
`aienv plan`/`aienv check` (the offline engine), so both see exactly the same program.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

import pulumi

from aienv.errors import spec_field
from aienv.spec.model import StackSpec
from components.contracts import CloudFoundation

# cloud -> (module, foundation class, args class); imported lazily so a plan loads one cloud SDK only.
_FOUNDATIONS = {
    "aws": ("components.aws.foundation", "AwsFoundation", "AwsFoundationArgs"),
    "azure": ("components.azure.foundation", "AzureFoundation", "AzureFoundationArgs"),
    "gcp": ("components.gcp.foundation", "GcpFoundation", "GcpFoundationArgs"),
}


@dataclass(frozen=True)
class EnvironmentArgs:
    spec: StackSpec
    # False for the first phase of a two-phase first deploy (`aienv:layers: foundation`): the cloud foundation
    # only, so the deployer's network path to a private API server can be connected before the Kubernetes layer.
    kubernetes: bool = True


class Environment(pulumi.ComponentResource):
    """`aienv:index:Environment`: the cloud foundation and the Kubernetes layer of one spec."""

    foundation: CloudFoundation

    def __init__(self, name: str, args: EnvironmentArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aienv:index:Environment", name, None, opts)
        spec = args.spec
        module_name, class_name, args_name = _FOUNDATIONS[spec.cloud.provider]
        module = importlib.import_module(module_name)
        foundation_args = getattr(module, args_name)
        options: dict[str, object] = {"spec": spec}
        if "kubernetes" in getattr(foundation_args, "__dataclass_fields__", {}):
            # A foundation that creates Kubernetes objects of its own (a StorageClass) skips them in phase one.
            options["kubernetes"] = args.kubernetes
        with spec_field("cloud"):
            cloud = getattr(module, class_name)(name, foundation_args(**options),
                                                pulumi.ResourceOptions(parent=self))
        self.foundation = cloud.outputs

        self.kubernetes = None
        if not args.kubernetes:
            self.cluster_name = self.foundation.cluster_name
            self.register_outputs({"cloud": spec.cloud.provider, "region": spec.region,
                                   "clusterName": self.foundation.cluster_name})
            return

        from components.kubernetes.layer import KubernetesLayer, KubernetesLayerArgs

        with spec_field("cluster"):  # the layer names finer fields (model_endpoints[i], feature_store)
            self.kubernetes = KubernetesLayer(
                f"{name}-k8s", KubernetesLayerArgs(spec=spec, foundation=self.foundation),
                pulumi.ResourceOptions(parent=self, providers={"kubernetes": self.foundation.kube_provider}))

        self.cluster_name = self.foundation.cluster_name
        self.register_outputs({
            "cloud": spec.cloud.provider,
            "region": spec.region,
            "clusterName": self.foundation.cluster_name,
            "registryUrl": self.foundation.registry_url,
            "modelBucket": self.foundation.model_bucket_uri,
        })


def build_environment(spec: StackSpec, *, kubernetes: bool = True) -> Environment:
    """Build the environment of `spec` in the current Pulumi program and export its key outputs.

    `kubernetes=False` builds the cloud foundation only (`aienv:layers: foundation`).
    """
    env = Environment(spec.name, EnvironmentArgs(spec=spec, kubernetes=kubernetes))
    pulumi.export("cloud", spec.cloud.provider)
    pulumi.export("region", spec.region)
    pulumi.export("clusterName", env.foundation.cluster_name)
    pulumi.export("registryUrl", env.foundation.registry_url)
    pulumi.export("modelBucket", env.foundation.model_bucket_uri)
    pulumi.export("kubeconfig", pulumi.Output.secret(env.foundation.kubeconfig))
    pulumi.export("endpoints", [e.name for e in spec.model_endpoints])
    return env
