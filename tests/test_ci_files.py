"""The CI examples are real files: the GitHub Actions workflow, the GitLab CI job and the pre-commit hook parse,
and every `aienv` command in them (and in the README's and docs' shell blocks) uses the CLI's real flags."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from aienv.cli import build_parser
from tests.conftest import ROOT

WORKFLOW = ROOT / ".github" / "workflows" / "aienv.yml"
GITLAB = ROOT / "ci" / "gitlab-ci.yml"
HOOKS = ROOT / ".pre-commit-hooks.yaml"
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "benchmarks" / "README.md"]


def aienv_commands(script: str) -> list[list[str]]:
    """The argument lists of every `aienv ...` (or `.venv/bin/aienv ...`) command in a shell script."""
    commands = []
    for line in script.replace("\\\n", " ").splitlines():
        for part in re.split(r"&&|\|\||;|\|", line):
            words = shlex.split(part, comments=True)
            for i, word in enumerate(words):
                if word == "aienv" or word.endswith("/aienv"):
                    commands.append(words[i + 1:])
                    break
    return commands


def parses(argv: list[str]) -> None:
    try:
        build_parser().parse_args(argv)
    except SystemExit as exc:
        pytest.fail(f"`aienv {shlex.join(argv)}` is not a valid command line (exit {exc.code})")


def _steps(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for job in workflow["jobs"].values() for step in job["steps"]]


def test_the_github_workflow_gates_every_stack_with_sarif_and_a_cached_virtualenv() -> None:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    steps = _steps(workflow)
    runs = [c for s in steps if "run" in s for c in aienv_commands(s["run"])]
    assert runs and [c[0] for c in runs] == ["validate", "check"]
    for command in runs:
        parses(command)
    check = build_parser().parse_args(runs[1])
    upload = next(s for s in steps if s.get("uses", "").startswith("github/codeql-action/upload-sarif@"))
    assert upload["with"]["sarif_file"] == check.sarif and "cancelled()" in upload["if"]
    cache = next(s for s in steps if s.get("uses", "").startswith("actions/cache@"))
    assert cache["with"]["path"] == ".venv" and "hashFiles('pyproject.toml')" in cache["with"]["key"]
    assert workflow["jobs"]["gate"]["permissions"]["security-events"] == "write"
    assert check.junit and check.report and "{stack}" in check.report


def test_the_gitlab_job_gates_every_stack_with_junit_and_a_cached_virtualenv() -> None:
    job = yaml.safe_load(GITLAB.read_text())["aienv"]
    commands = [c for line in job["script"] for c in aienv_commands(line)]
    assert [c[0] for c in commands] == ["validate", "check"]
    for command in commands:
        parses(command)
    check = build_parser().parse_args(commands[1])
    assert job["artifacts"]["reports"]["junit"] == check.junit and check.sarif in [
        f"{p}aienv.sarif" for p in job["artifacts"]["paths"]]
    assert ".venv/" in job["cache"]["paths"] and job["cache"]["key"]["files"] == ["pyproject.toml"]


def test_the_pre_commit_hook_runs_a_valid_validate() -> None:
    (hook,) = yaml.safe_load(HOOKS.read_text())
    assert hook["id"] == "aienv-validate" and hook["language"] == "python"
    argv = [*shlex.split(hook["entry"]), *hook.get("args", [])]
    assert argv[0] == "aienv"
    parses(argv[1:])
    assert re.search(hook["files"], "stacks/prod-aws.yaml") and re.search(hook["files"], "stacks/team.yaml.j2")
    assert not re.search(hook["files"], "components/aws/cluster.py")


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_aienv_command_in_the_docs_is_valid(doc: Path) -> None:
    text = doc.read_text()
    blocks = re.findall(r"```(?:sh|bash|shell|console)\n(.*?)```", text, re.S)
    commands = [c for block in blocks for c in aienv_commands(re.sub(r"^\$ ", "", block, flags=re.M))]
    for command in commands:
        parses(command)


def test_the_cli_files_name_only_existing_paths() -> None:
    """The folders the CI files check exist here, so the examples run as they are."""
    for command in aienv_commands(yaml.safe_load(GITLAB.read_text())["aienv"]["script"][0]):
        for arg in command[1:]:
            if not arg.startswith("-"):
                assert (ROOT / arg).exists(), arg


def test_the_getting_started_spec_is_valid(tmp_path: Path) -> None:
    """The spec docs/getting-started.md walks through validates as it is written there."""
    from aienv.spec import load_spec

    text = (ROOT / "docs" / "getting-started.md").read_text()
    (spec,) = [b for b in re.findall(r"```yaml\n(.*?)```", text, re.S) if b.startswith("# yaml-language-server")]
    path = tmp_path / "ml-stg-gcp.yaml"
    path.write_text(spec)
    loaded = load_spec(path)
    assert loaded.spec.feature_store.enabled and loaded.spec.cluster.gpu_pools[0].min_nodes == 0
