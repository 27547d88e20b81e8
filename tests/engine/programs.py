"""Small programs with real provider resources, shared by the engine tests."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
import pulumi_random as random

from aienv.engine import Plan


class Storage(pulumi.ComponentResource):
    def __init__(self, name: str, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aienv:test:Storage", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.key = aws.kms.Key(f"{name}-key", description="data key", enable_key_rotation=True,
                               opts=pulumi.ResourceOptions(parent=self, protect=True))
        self.bucket = aws.s3.Bucket(
            f"{name}-bucket", tags={"team": "ml"},
            opts=pulumi.ResourceOptions(parent=self, retain_on_delete=True, ignore_changes=["tags"],
                                        aliases=[pulumi.Alias(name=f"{name}-old-bucket")],
                                        custom_timeouts=pulumi.CustomTimeouts(create="10m", delete="1h")))
        self.password = random.RandomPassword(f"{name}-pw", length=24, opts=child)
        aws.ssm.Parameter(f"{name}-param", type="SecureString", value=self.password.result,
                          key_id=self.key.arn,
                          opts=pulumi.ResourceOptions(parent=self, depends_on=[self.bucket],
                                                      additional_secret_outputs=["insecureValue"]))
        self.register_outputs({"bucket": self.bucket.bucket, "password": self.password.result})


class Cluster(pulumi.ComponentResource):
    def __init__(self, name: str, storage: Storage, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aienv:test:Cluster", name, None, opts)
        self.cluster = aws.eks.Cluster(
            f"{name}-eks", role_arn="arn:aws:iam::123456789012:role/eks",
            vpc_config=aws.eks.ClusterVpcConfigArgs(subnet_ids=["subnet-1", "subnet-2"]),
            encryption_config=aws.eks.ClusterEncryptionConfigArgs(
                resources=["secrets"], provider=aws.eks.ClusterEncryptionConfigProviderArgs(key_arn=storage.key.arn)),
            opts=pulumi.ResourceOptions(parent=self))
        self.kubeconfig = pulumi.Output.all(self.cluster.name, self.cluster.endpoint,
                                            self.cluster.certificate_authority.data).apply(
            lambda a: "\n".join([
                "apiVersion: v1", "kind: Config",
                "clusters:", f"- name: {a[0]}", "  cluster:", f"    server: {a[1]}",
                f"    certificate-authority-data: {a[2]}",
                "users:", f"- name: {a[0]}", "  user:", "    token: t",
                "contexts:", f"- name: {a[0]}", "  context:", f"    cluster: {a[0]}", f"    user: {a[0]}",
                f"current-context: {a[0]}", ""]))
        self.provider = k8s.Provider(f"{name}-k8s", kubeconfig=self.kubeconfig, opts=pulumi.ResourceOptions(parent=self))
        self.register_outputs({"endpoint": self.cluster.endpoint})


class Serving(pulumi.ComponentResource):
    def __init__(self, name: str, cluster: Cluster, opts: pulumi.ResourceOptions | None = None):
        super().__init__("aienv:test:Serving", name, None, opts)
        ns = k8s.core.v1.Namespace(f"{name}-ns", metadata={"labels": {"team": "ml"}},
                                   opts=pulumi.ResourceOptions(parent=self, provider=cluster.provider))
        k8s.core.v1.ConfigMap(f"{name}-cfg", metadata={"namespace": ns.metadata.name}, data={"a": "b"},
                              opts=pulumi.ResourceOptions(parent=self, provider=cluster.provider))
        self.register_outputs({})


def small_program() -> None:
    storage = Storage("data")
    cluster = Cluster("gpu", storage)
    Serving("serve", cluster)
    pulumi.export("bucket", storage.bucket.arn)
    pulumi.export("password", storage.password.result)
    pulumi.export("kubeconfig", pulumi.Output.secret(cluster.kubeconfig))
    pulumi.export("account", aws.get_caller_identity().account_id)


def other_program() -> None:
    aws.s3.Bucket("lonely")
    pulumi.export("region", aws.get_region().region)


def find(plan: Plan, name: str):
    matches = [r for r in plan.resources if r.name == name]
    assert matches, f"no resource named {name}"
    return matches[0]
