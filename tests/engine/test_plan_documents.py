"""`aienv check --plan` reads documents as Pulumi writes them: unknowns, secrets (plaintext and ciphertext),
resource references, output values, assets and archives, in inputs and outputs; a verdict, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aienv.check import read_plan_file, run_packs
from aienv.cli import main

SIG = "4dabf18193072939515e22adb298388d"
SECRET = "1b47061264138c4ac30d75fd1eb44270"
RESOURCE = "5cf8f73096256a8f31e491e813e4eb8e"
OUTPUT = "d0e6a833031e9bbcd3f4e8bde6ca49a4"
ASSET = "c44067f5952c0a294b673a41bacd8c17"
ARCHIVE = "0def7320c3a5731c473e5ecbe6d01bc7"
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
P = "urn:pulumi:dev::shop::"

STACK = {"urn": P + "pulumi:pulumi:Stack::shop-dev", "type": "pulumi:pulumi:Stack", "custom": False}
ROLE = {"urn": P + "aws:iam/role:Role::fn-role", "type": "aws:iam/role:Role", "custom": True, "id": "fn-role-1",
        "inputs": {"assumeRolePolicy": UNKNOWN}}
FUNCTION = {
    "urn": P + "aws:lambda/function:Function::fn", "type": "aws:lambda/function:Function", "custom": True,
    "inputs": {
        "role": {SIG: RESOURCE, "urn": ROLE["urn"], "id": "fn-role-1", "packageVersion": "7.51.1"},
        "layers": [{SIG: RESOURCE, "urn": P + "acme:index:Layers::shared"}],  # a component: no id
        "code": {SIG: ARCHIVE, "hash": "0f3c"},  # state keeps only the hash of a fetched archive
        "sourceAsset": {SIG: ASSET, "hash": "9a1b", "path": "./handler.py"},
        "packages": {SIG: ARCHIVE, "assets": {"a.py": {SIG: ASSET, "text": "print(1)"}}},
        "environment": {"variables": {
            "API_TOKEN": {SIG: SECRET, "ciphertext": "v1:AbCd=="},  # `pulumi stack export`
            "DB_PASSWORD": {SIG: SECRET, "plaintext": "\"hunter2\""},  # `pulumi stack export --show-secrets`
            "HANDLER": {SIG: OUTPUT, "value": "main.handler", "dependencies": []},
            "REGION": {SIG: OUTPUT, "dependencies": [ROLE["urn"]]},  # an output value that is not known
        }},
        "runtime": "python3.12",
    },
    "outputs": {"arn": UNKNOWN, "role": {SIG: RESOURCE, "urn": ROLE["urn"], "id": UNKNOWN}},
    "propertyDependencies": {"role": [ROLE["urn"]]},
}


def _write(tmp_path: Path, doc: dict, name: str = "plan.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return path


def test_state_values_read_as_the_analyzer_receives_them(tmp_path: Path) -> None:
    doc = read_plan_file(_write(tmp_path, {"version": 3, "deployment": {"manifest": {},
                                                                          "resources": [STACK, ROLE, FUNCTION]}}))
    fn = next(r for r in doc.resources if r["type"] == "aws:lambda/function:Function")
    inputs = fn["inputs"]
    assert inputs["role"] == "fn-role-1"  # a custom resource's reference: its id
    assert inputs["layers"] == [P + "acme:index:Layers::shared"]  # a component's: its URN
    assert inputs["code"] == {SIG: ARCHIVE, "assets": {}}
    assert inputs["sourceAsset"]["path"] == "./handler.py"
    env = inputs["environment"]["variables"]
    assert env["API_TOKEN"] == {SIG: SECRET, "value": "[secret]"}
    assert env["DB_PASSWORD"] == {SIG: SECRET, "value": "hunter2"}
    assert env["HANDLER"] == "main.handler" and env["REGION"] == UNKNOWN
    assert fn["outputs"]["role"] == UNKNOWN


@pytest.mark.parametrize("shape", ["export", "preview"])
def test_check_gives_a_verdict_on_every_kind_of_value(tmp_path: Path, shape: str,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    resources = [STACK, ROLE, FUNCTION]
    doc = ({"version": 3, "deployment": {"manifest": {}, "resources": resources}} if shape == "export" else
           {"steps": [{"op": "create", "urn": r["urn"], "newState": r} for r in resources]})
    path = _write(tmp_path, doc)
    code = main(["check", "--plan", str(path), "--json"])
    assert code in (0, 1)
    out = json.loads(capsys.readouterr().out)
    assert out["summary"]["resources"] == 2
    deferred = {(d["policy"], d["name"]) for d in out["deferred"]}
    assert ("aws-iam-trust-policy-scoped", "fn-role") in deferred  # its policy is unknown: deferred, not passed
    assert not any(v["name"] == "fn-role" and v["policy"] == "aws-iam-trust-policy-scoped"
                   for v in out["violations"])


def test_an_unknown_signature_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = dict(ROLE, inputs={"x": {SIG: "ffffffffffffffffffffffffffffffff"}})
    path = _write(tmp_path, {"version": 3, "deployment": {"resources": [STACK, bad]}})
    assert main(["check", "--plan", str(path)]) == 2
    err = capsys.readouterr().err
    assert "unknown value signature `ffffffffffffffffffffffffffffffff`" in err and "Traceback" not in err


def test_a_real_violation_in_a_plan_file_still_blocks(tmp_path: Path) -> None:
    bucket = {"urn": P + "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock::open",
              "type": "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "custom": True,
              "inputs": {"bucket": {SIG: RESOURCE, "urn": P + "aws:s3/bucket:Bucket::b", "id": UNKNOWN},
                         "blockPublicAcls": False, "blockPublicPolicy": True, "ignorePublicAcls": True,
                         "restrictPublicBuckets": True}}
    doc = read_plan_file(_write(tmp_path, {"steps": [{"op": "create", "urn": bucket["urn"], "newState": bucket}]}))
    result = run_packs(doc, ["aienv-security"])
    assert [v.name for v in result.mandatory if v.policy == "aws-s3-block-public-access"] == ["open"]
