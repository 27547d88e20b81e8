"""`aienv validate` and `aienv schema` as users run them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from aienv.cli import main
from aienv.spec import load_spec
from aienv.spec.reference import END, START, reference_markdown
from aienv.spec.schema import json_schema, schema_text
from tests.conftest import ROOT, STACKS


def test_validate_all_reference_specs(capsys: pytest.CaptureFixture[str]) -> None:
    specs = [str(p) for p in sorted(STACKS.glob("*.yaml"))]
    assert main(["validate", *specs]) == 0
    out = capsys.readouterr().out
    assert "stacks/prod-azure.yaml: ok (azure prod, 2 GPU pools, 3 endpoints)" in out
    assert "stacks/base.yaml: ok (abstract base, structure valid)" in out


def test_validate_reports_every_bad_file_and_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nenvironment: qa\n")
    assert main(["validate", str(STACKS / "prod-aws.yaml"), str(bad)]) == 2
    captured = capsys.readouterr()
    assert "prod-aws.yaml: ok" in captured.out
    assert f"{bad}:2: environment: is `qa`, which is not one of `dev`, `staging`, `prod`; write one of them" in captured.err


def test_validate_as_a_process_has_no_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    proc = subprocess.run([sys.executable, "-m", "aienv", "validate", str(bad)], capture_output=True, text=True,
                          cwd=ROOT)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"{bad}:2: <document>: invalid YAML: expected ',' or ']', but got '<stream end>'"


def test_bad_var_assignment(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "stacks/team.yaml.j2", "--var", "novalue"]) == 2
    assert "--var 'novalue': expected KEY=VALUE (e.g. team=nlp)" in capsys.readouterr().err


def test_schema_file_is_current() -> None:
    """stacks/schema.json is generated; regenerate with `aienv schema -o stacks/schema.json`."""
    assert (STACKS / "schema.json").read_text() == schema_text()


def test_schema_validates_reference_specs_and_rejects_unknown_keys() -> None:
    schema = json_schema()
    for path in STACKS.glob("*-*.yaml"):
        if not path.name.startswith("Pulumi."):
            jsonschema.validate(yaml.safe_load(path.read_text()), schema)  # as an editor sees the file
            jsonschema.validate(load_spec(path).data, schema)  # after extends
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"name": "x", "environment": "dev", "owner": "o", "cloud": {"provider": "aws"},
                             "surprise": 1}, schema)


def test_schema_command_writes_file(tmp_path: Path) -> None:
    out = tmp_path / "schema.json"
    assert main(["schema", "-o", str(out)]) == 0
    assert json.loads(out.read_text())["title"] == "StackSpec"


def test_readme_spec_reference_is_current() -> None:
    """README.md's spec reference is generated; regenerate with `aienv schema --reference -o README.md`."""
    readme = (ROOT / "README.md").read_text()
    block = readme[readme.index(START):readme.index(END) + len(END) + 1]
    assert block == reference_markdown()


def test_reference_block_is_updated_in_place(tmp_path: Path) -> None:
    doc = tmp_path / "DOC.md"
    doc.write_text(f"# Title\n\n{START}\nstale\n{END}\n\nAfter.\n")
    assert main(["schema", "--reference", "-o", str(doc)]) == 0
    text = doc.read_text()
    assert text.startswith("# Title\n\n") and text.endswith("\nAfter.\n") and "stale" not in text
    assert reference_markdown() in text


def test_validate_a_folder_and_a_shell_glob(capsys: pytest.CaptureFixture[str]) -> None:
    """`validate stacks/` is every stack once; `validate stacks/*` says clearly what is not a spec (newcomer D23)."""
    assert main(["validate", "stacks/"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in out] == [
        "stacks/Pulumi.dev-aws.yaml", "stacks/Pulumi.prod-aws.yaml", "stacks/Pulumi.prod-azure.yaml",
        "stacks/Pulumi.prod-gcp.yaml", "stacks/Pulumi.team-vision.yaml", "stacks/base.yaml"]
    everything = sorted(str(p.relative_to(ROOT)) for p in STACKS.iterdir())
    assert main(["validate", *everything]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "stacks/schema.json: <document>: is not a spec file: a spec is YAML (*.yaml, *.yml) or a jinja2 template "
        "(*.yaml.j2)",
        "stacks/team.yaml.j2:4: <document>: template variable 'team' is undefined; pass it with --var NAME=VALUE "
        "or a --vars file",
        "stacks/teams: <document>: is a folder with no spec in it (looked for *.yaml, *.yml, *.yaml.j2 and "
        "Pulumi.<stack>.yaml; *.vars.yaml files are template variables)"]


def test_c3_validate_refuses_a_bad_public_gateway_cidr(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = load_spec(STACKS / "prod-aws.yaml").data
    data["network"]["public_gateway_cidrs"] = ["203.0.113.0/33"]
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data, sort_keys=False))
    assert main(["validate", str(bad)]) == 2
    assert "network.public_gateway_cidrs[0]: is not a valid CIDR" in capsys.readouterr().err
