"""Failures end with a clear message naming the file (and line) and what to do, exit 2, no traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from aienv.cli import main

from .conftest import PROGRAMS

ROOT = Path(__file__).resolve().parents[2]


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_missing_config_names_key_and_stack_file(capsys):
    code, out, err = run_cli(capsys, "plan", "--program", "tests/programs/missing_config")
    assert code == 2 and out == ""
    assert "tests/programs/missing_config/__main__.py:5: missing required configuration value " \
           "`missing-config:bucketName` for stack `dev`" in err
    assert "tests/programs/missing_config/Pulumi.dev.yaml" in err
    assert "--config missing-config:bucketName=<value>" in err
    assert "Traceback" not in err


def test_missing_config_with_another_stack_names_its_file(capsys):
    code, _, err = run_cli(capsys, "plan", "--program", "tests/programs/missing_config", "--stack", "qa")
    assert code == 2 and "tests/programs/missing_config/Pulumi.qa.yaml" in err and "`qa`" in err


def test_config_override_supplies_the_missing_key(capsys):
    code, out, _ = run_cli(capsys, "plan", "--program", "tests/programs/missing_config",
                           "--config", "bucketName=from-cli", "--json")
    assert code == 0 and json.loads(out)["by_type"] == {"aws:s3/bucket:Bucket": 1}


def test_missing_dependency_names_package_and_requirement(capsys):
    code, out, err = run_cli(capsys, "plan", "--program", "tests/programs/missing_dependency")
    assert code == 2 and out == ""
    assert "tests/programs/missing_dependency/__main__.py:2: the program imports `pulumi_docker_build`" in err
    assert "requirements.txt:3" in err and "pulumi-docker-build>=0.0.8,<1.0.0" in err
    assert "Traceback" not in err


def test_missing_dependency_without_requirement_says_add_it(tmp_path, capsys):
    (tmp_path / "Pulumi.yaml").write_text("name: p\nruntime: python\n")
    (tmp_path / "__main__.py").write_text("import pulumi\nimport aienv_no_such_package.sub\n")
    code, _, err = run_cli(capsys, "plan", "--program", str(tmp_path))
    assert code == 2 and "`aienv_no_such_package`" in err and "add it to requirements.txt" in err


def test_pyproject_dependency_is_found(tmp_path, capsys):
    (tmp_path / "Pulumi.yaml").write_text("name: p\nruntime: python\n")
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "p"\ndependencies = [\n  "pulumi>=3",\n  "pulumi-tls>=5.0",\n]\n')
    (tmp_path / "__main__.py").write_text("import pulumi_tls\n")
    code, _, err = run_cli(capsys, "plan", "--program", str(tmp_path))
    assert code == 2 and "pyproject.toml:5 provides it: `pulumi-tls>=5.0`" in err


def test_program_error_names_its_file_and_line(capsys):
    code, out, err = run_cli(capsys, "plan", "--program", "tests/programs/raises")
    assert code == 2 and out == ""
    assert err.strip() == ("tests/programs/raises/naming.py:3: ValueError: unsupported environment 'dev': "
                           "use staging or production")


def test_error_in_apply_callback_is_located(tmp_path, capsys):
    (tmp_path / "Pulumi.yaml").write_text("name: p\nruntime: python\n")
    (tmp_path / "__main__.py").write_text(
        "import pulumi_random as random\n"
        "pet = random.RandomPet('pet')\n"
        "def check(value):\n"
        "    raise RuntimeError(f'bad pet {value}')\n"
        "pet.id.apply(check)\n")
    code, _, err = run_cli(capsys, "plan", "--program", str(tmp_path))
    assert code == 2 and "__main__.py:4: RuntimeError: bad pet " in err and "Traceback" not in err


def test_sys_exit_in_the_program(tmp_path, capsys):
    (tmp_path / "Pulumi.yaml").write_text("name: p\nruntime: python\n")
    (tmp_path / "__main__.py").write_text("import sys\nsys.exit(3)\n")
    code, _, err = run_cli(capsys, "plan", "--program", str(tmp_path))
    assert code == 2 and "__main__.py:2: the program exited with code 3" in err


def test_syntax_error_in_the_program(tmp_path, capsys):
    (tmp_path / "Pulumi.yaml").write_text("name: p\nruntime: python\n")
    (tmp_path / "__main__.py").write_text("import pulumi\n\nx = (\n")
    code, _, err = run_cli(capsys, "plan", "--program", str(tmp_path))
    assert code == 2 and "__main__.py:3: SyntaxError" in err


@pytest.mark.parametrize(("files", "expected"), [
    ({}, "not a Pulumi project (no Pulumi.yaml"),
    ({"Pulumi.yaml": "name: p\nruntime: go\n"}, "runtime is `go`; aienv plans Python programs only"),
    ({"Pulumi.yaml": "runtime: python\n"}, "`name:` is missing"),
    ({"Pulumi.yaml": "name: p\nruntime: python\n"}, "unable to find the main Python program `__main__.py`"),
    ({"Pulumi.yaml": "name: p\nruntime: python\nmain: app.py\n"}, "`main: app.py` does not exist"),
    ({"Pulumi.yaml": "name: p\nruntime: python\nmain: ../x.py\n"}, "must be inside the project folder"),
    ({"Pulumi.yaml": "name: [p\n"}, "Pulumi.yaml:2: invalid YAML"),
    ({"Pulumi.yaml": "name: p\nruntime: python\n", "__main__.py": "", "Pulumi.dev.yaml": "config: [a\n"},
     "Pulumi.dev.yaml:2: invalid YAML"),
])
def test_bad_projects(tmp_path, capsys, files, expected):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    code, out, err = run_cli(capsys, "plan", "--program", str(tmp_path))
    assert code == 2 and out == "" and expected in err, err


def test_non_python_runtime(capsys):
    code, _, err = run_cli(capsys, "plan", "--program", "tests/programs/non_python")
    assert code == 2
    assert err.strip() == ("tests/programs/non_python/Pulumi.yaml: runtime is `nodejs`; "
                           "aienv plans Python programs only (`runtime: python`)")


def test_main_file_option(tmp_path, capsys):
    (tmp_path / "Pulumi.yaml").write_text("name: p\nruntime: python\nmain: infra/app.py\n")
    (tmp_path / "infra").mkdir()
    (tmp_path / "infra" / "names.py").write_text("NAME = 'from-sibling'\n")
    (tmp_path / "infra" / "app.py").write_text(
        "import os, pulumi, pulumi_random as random\nfrom names import NAME\n"
        "random.RandomPet(NAME)\npulumi.export('cwd', os.path.basename(os.getcwd()))\n")
    code, out, _ = run_cli(capsys, "plan", "--program", str(tmp_path / "Pulumi.yaml"), "--json")
    assert code == 0 and json.loads(out)["by_type"] == {"random:index/randomPet:RandomPet": 1}


@pytest.mark.parametrize(("text", "expected"), [
    ("{not json", "outputs.json:1: invalid JSON in the stack outputs file"),
    ('["acme/network/prod"]', 'outputs.json: stack outputs file: expected {"org/project/stack"'),
    ('{"acme/network/prod": 3}', "stack outputs for `acme/network/prod` must be an object"),
])
def test_malformed_stack_outputs_file(tmp_path, capsys, text, expected):
    path = tmp_path / "outputs.json"
    path.write_text(text)
    code, out, err = run_cli(capsys, "plan", "--program", "tests/programs/stack_reference",
                             "--stack-outputs", str(path))
    assert code == 2 and out == "" and expected in err, err


def test_missing_stack_outputs_file(capsys, tmp_path):
    code, _, err = run_cli(capsys, "plan", "--program", "tests/programs/stack_reference",
                           "--stack-outputs", str(tmp_path / "nope.json"))
    assert code == 2 and "--stack-outputs" in err and "nope.json: cannot read" in err


def test_bad_option_combinations(capsys):
    code, _, err = run_cli(capsys, "plan", "--program", "tests/programs/aws_insecure", "--var", "a=b")
    assert code == 2 and "with --program use --config" in err
    code, _, err = run_cli(capsys, "plan", "dev-aws", "--stack", "prod")
    assert code == 2 and "--stack and --config apply to --program" in err
    code, _, err = run_cli(capsys, "plan", "--program", "tests/programs/aws_insecure", "--config", "novalue")
    assert code == 2 and "KEY=VALUE" in err
    code, _, err = run_cli(capsys, "plan", "--program", "tests/programs/aws_insecure", "--stack", "a b")
    assert code == 2 and "--stack a b" in err
    with pytest.raises(SystemExit):
        main(["plan", "dev-aws", "--program", "tests/programs/aws_insecure"])
    assert "not allowed with" in capsys.readouterr().err


def test_stack_reference_warning_on_stderr(capsys):
    code, out, err = run_cli(capsys, "plan", "--program", "tests/programs/stack_reference", "--json")
    assert code == 0 and json.loads(out)["project"] == "stack-reference"
    assert "warning: stack reference `acme/network/prod`" in err and "--stack-outputs" in err


def test_program_prints_do_not_corrupt_json(tmp_path, capsys):
    (tmp_path / "Pulumi.yaml").write_text("name: p\nruntime: python\n")
    (tmp_path / "__main__.py").write_text("print('hello from the program')\n")
    code, out, err = run_cli(capsys, "plan", "--program", str(tmp_path), "--json")
    assert code == 0 and json.loads(out)["resources"] == 0 and "hello from the program" in err


def test_subprocess_errors_have_no_traceback():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for program, expected in (("raises", "naming.py:3: ValueError"),
                              ("missing_config", "missing required configuration value"),
                              ("missing_dependency", "pulumi-docker-build")):
        result = subprocess.run([sys.executable, "-m", "aienv", "plan", "--program", str(PROGRAMS / program)],
                                cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert result.returncode == 2, result.stderr
        assert expected in result.stderr and "Traceback" not in result.stderr, result.stderr
        assert result.stdout == ""
