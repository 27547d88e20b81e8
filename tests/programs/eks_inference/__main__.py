"""An EKS cluster with a private API endpoint, a managed node group of t3.medium nodes, and a model server:
written as a team would write it from the EKS and Kubernetes docs, nothing tuned for aienv."""

import json

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

cluster_role = aws.iam.Role("cluster-role", assume_role_policy=json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"Service": "eks.amazonaws.com"}}]}))
vpc = aws.ec2.Vpc("vpc", cidr_block="10.10.0.0/16")
subnet = aws.ec2.Subnet("private-a", vpc_id=vpc.id, cidr_block="10.10.1.0/24", availability_zone="us-east-1a")
cluster = aws.eks.Cluster("inference", role_arn=cluster_role.arn, version="1.31",
                          vpc_config={"subnet_ids": [subnet.id], "endpoint_private_access": True,
                                      "endpoint_public_access": False})
node_role = aws.iam.Role("node-role-for-the-inference-cluster-worker-nodes-in-us-east-1",
                         assume_role_policy=json.dumps({"Version": "2012-10-17", "Statement": [{
                             "Effect": "Allow", "Action": "sts:AssumeRole",
                             "Principal": {"Service": "ec2.amazonaws.com"}}]}))
aws.eks.NodeGroup("workers", cluster_name=cluster.name, node_role_arn=node_role.arn, subnet_ids=[subnet.id],
                  instance_types=["t3.medium"], scaling_config={"min_size": 1, "max_size": 3, "desired_size": 2})

provider = k8s.Provider("eks", kubeconfig=cluster.name.apply(lambda n: json.dumps({"cluster": n})))
opts = pulumi.ResourceOptions(provider=provider)
k8s.core.v1.Namespace("apps", metadata={"name": "apps"}, opts=opts)
k8s.networking.v1.NetworkPolicy("default-deny", metadata={"namespace": "apps"},
                                spec={"pod_selector": {}, "policy_types": ["Ingress", "Egress"]}, opts=opts)
labels = {"app": "embedder"}
k8s.apps.v1.Deployment("embedder", metadata={"namespace": "apps"}, spec={
    "replicas": 2, "selector": {"match_labels": labels},
    "template": {"metadata": {"labels": labels}, "spec": {"containers": [{
        "name": "server", "image": "ghcr.io/huggingface/text-embeddings-inference:cpu-1.5",
        "resources": {"requests": {"cpu": "2", "memory": "2Gi"}},
        "startup_probe": {"http_get": {"path": "/health", "port": 80}, "period_seconds": 10,
                          "failure_threshold": 90}}]}}}, opts=opts)
k8s.core.v1.Service("embedder", metadata={"namespace": "apps"},
                    spec={"selector": labels, "ports": [{"port": 80}]}, opts=opts)
