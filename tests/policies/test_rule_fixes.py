"""Fixes to existing rules: newcomer D7 (GKE `totalMinNodeCount`), and cross-references that named Checkov checks
a rule did not implement (a rule citing a check must flag what that check flags)."""

from __future__ import annotations

from collections.abc import Callable

import pulumi_aws as aws
import pulumi_gcp as gcp
import pytest
from conftest import failing_names
from mockplan import plan

from aienv.conventions import TAG_TIER
from policies.rules import ALL_RULES

KEY = "arn:aws:kms:us-east-1:123456789012:key/0f1e2d3c-aaaa-bbbb-cccc-111122223333"


def _gke_gpu_pool(name: str, autoscaling: dict) -> None:
    gcp.container.NodePool(name, cluster="gke", location="europe-west4", autoscaling=autoscaling, node_config={
        "machine_type": "g2-standard-8", "resource_labels": {TAG_TIER: "staging"},
        "guest_accelerators": [{"type": "nvidia-l4", "count": 1}],
        "service_account": "nodes@p.iam.gserviceaccount.com"})


@pytest.mark.parametrize(("autoscaling", "flagged"), [
    ({"min_node_count": 1, "max_node_count": 2}, True),  # per zone
    ({"total_min_node_count": 1, "total_max_node_count": 4, "location_policy": "ANY"}, True),  # D7: was missed
    ({"total_min_node_count": 0, "total_max_node_count": 4, "location_policy": "ANY"}, False),
    ({"min_node_count": 0, "max_node_count": 2}, False),
])
def test_gke_scale_to_zero_reads_per_zone_and_total_minimums(autoscaling: dict, flagged: bool) -> None:
    export = plan(lambda: _gke_gpu_pool("gpu", autoscaling))
    assert failing_names(export, "ai-gpu-scale-to-zero") == ({"gpu"} if flagged else set())


# A minimal program that violates exactly the named check, and the resource it must be flagged on.
PROBES: dict[str, tuple[Callable[[], None], str]] = {
    # CKV_AWS_369: network_config.enable_inter_container_traffic_encryption on data-quality job definitions.
    "CKV_AWS_369": (lambda: aws.sagemaker.DataQualityJobDefinition(
        "probe", role_arn="arn:aws:iam::1:role/sm", data_quality_app_specification={"image_uri": "img"},
        data_quality_job_input={"endpoint_input": {"endpoint_name": "e"}},
        data_quality_job_output_config={"kms_key_id": KEY, "monitoring_outputs": {"s3_output": {"s3_uri": "s3://x"}}},
        job_resources={"cluster_config": {"instance_count": 1, "instance_type": "ml.m5.large", "volume_size_in_gb": 20,
                                          "volume_kms_key_id": KEY}}), "probe"),
    # CKV_GCP_96: encryption_spec.kms_key_name on Vertex AI metadata stores.
    "CKV_GCP_96": (lambda: gcp.vertex.AiMetadataStore("probe", region="europe-west4"), "probe"),
    # CKV_GCP_92: the same on datasets.
    "CKV_GCP_92": (lambda: gcp.vertex.AiDataset("probe", display_name="d", metadata_schema_uri="gs://x",
                                                region="europe-west4"), "probe"),
    # CKV_AWS_24 / CKV_AWS_25: SSH / RDP from 0.0.0.0/0 on a security group.
    "CKV_AWS_24": (lambda: aws.ec2.SecurityGroup("probe", ingress=[{"protocol": "tcp", "from_port": 22, "to_port": 22,
                                                                    "cidr_blocks": ["0.0.0.0/0"]}]), "probe"),
    "CKV_AWS_25": (lambda: aws.ec2.SecurityGroupRule("probe", type="ingress", security_group_id="sg-1", protocol="tcp",
                                                     from_port=3389, to_port=3389, cidr_blocks=["0.0.0.0/0"]), "probe"),
    # CKV_AWS_16 / CKV_AWS_17: RDS storage encryption and public accessibility.
    "CKV_AWS_16": (lambda: aws.rds.Instance("probe", engine="postgres", instance_class="db.t4g.micro",
                                            allocated_storage=20, storage_encrypted=False), "probe"),
    "CKV_AWS_17": (lambda: aws.rds.Instance("probe", engine="postgres", instance_class="db.t4g.micro",
                                            allocated_storage=20, publicly_accessible=True), "probe"),
    # CKV_AWS_79: IMDSv1 allowed on an instance.
    "CKV_AWS_79": (lambda: aws.ec2.Instance("probe", ami="ami-1", instance_type="t3.micro",
                                            metadata_options={"http_tokens": "optional"}), "probe"),
}


@pytest.mark.parametrize("check", sorted(PROBES))
def test_every_rule_citing_a_check_flags_what_the_check_flags(check: str) -> None:
    citing = [r.meta.name for r in ALL_RULES if check in r.meta.checks]
    assert citing, f"no rule cites {check}"
    program, resource = PROBES[check]
    export = plan(program)
    for name in citing:
        assert resource in failing_names(export, name), f"{name} cites {check} but does not flag the probe"


def test_sagemaker_kms_rule_no_longer_claims_the_traffic_check() -> None:
    by_name = {r.meta.name: r for r in ALL_RULES}
    assert "CKV_AWS_369" not in by_name["aws-sagemaker-kms-encryption"].meta.checks
    assert "CKV_AWS_369" in by_name["aws-sagemaker-monitoring-traffic-encryption"].meta.checks
