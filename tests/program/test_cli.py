"""`aienv plan --program DIR`: the tree, --export, --graph and --json work as for specs."""

from __future__ import annotations

import json

from aienv.cli import main


def test_plan_program_tree_export_graph(tmp_path, capsys):
    export, graph = tmp_path / "plan.json", tmp_path / "g.dot"
    code = main(["plan", "--program", "tests/programs/aws_insecure", "--export", str(export), "--graph", str(graph)])
    out = capsys.readouterr().out
    assert code == 0
    assert " +   pulumi:pulumi:Stack" in out and "aws-insecure-dev" in out and "aws:s3/bucket:Bucket" in out
    doc = json.loads(export.read_text())
    assert doc["version"] == 3
    urns = [r["urn"] for r in doc["deployment"]["resources"]]
    assert "urn:pulumi:dev::aws-insecure::aws:s3/bucket:Bucket::data" in urns
    assert graph.read_text().startswith("digraph")


def test_plan_program_json_with_stack_and_config(capsys):
    code = main(["plan", "--program", "tests/programs/config_secrets", "--stack", "prod",
                 "--config", "config-secrets:bucketPrefix=cli", "--json"])
    summary = json.loads(capsys.readouterr().out)
    assert code == 0 and summary["project"] == "config-secrets" and summary["stack"] == "prod"
    assert summary["by_cloud"] == {"aws": 5}


def test_plan_program_with_stack_outputs(tmp_path, capsys):
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({"acme/network/prod": {"vpcId": "vpc-123", "privateSubnetIds": []}}))
    export = tmp_path / "plan.json"
    code = main(["plan", "--program", "tests/programs/stack_reference", "--stack-outputs", str(outputs),
                 "--export", str(export)])
    captured = capsys.readouterr()
    assert code == 0 and "warning" not in captured.err
    group = next(r for r in json.loads(export.read_text())["deployment"]["resources"]
                 if r["type"] == "aws:ec2/securityGroup:SecurityGroup")
    assert group["inputs"]["vpcId"] == "vpc-123"
