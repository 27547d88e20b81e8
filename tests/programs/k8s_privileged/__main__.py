"""A privileged Deployment with no resource limits."""

import pulumi
import pulumi_kubernetes as k8s

labels = {"app": "inference"}

deployment = k8s.apps.v1.Deployment(
    "inference",
    spec=k8s.apps.v1.DeploymentSpecArgs(
        replicas=1,
        selector=k8s.meta.v1.LabelSelectorArgs(match_labels=labels),
        template=k8s.core.v1.PodTemplateSpecArgs(
            metadata=k8s.meta.v1.ObjectMetaArgs(labels=labels),
            spec=k8s.core.v1.PodSpecArgs(
                containers=[
                    k8s.core.v1.ContainerArgs(
                        name="server",
                        image="nginx:latest",
                        security_context=k8s.core.v1.SecurityContextArgs(privileged=True),
                    )
                ],
            ),
        ),
    ),
)

pulumi.export("deployment", deployment.metadata.name)
