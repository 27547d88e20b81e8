"""Hypothesis-driven mutations of the reference specs: every outcome is a valid spec or clear lines, exit 2.

Whatever is deleted, retyped or added, `aienv validate` never shows a traceback: it exits 0, or 2 with
`file:line: path: message` lines that point into the mutated file.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aienv.cli import main
from aienv.errors import SpecError
from aienv.spec import load_spec
from tests.conftest import STACKS

BASES = {name: load_spec(STACKS / name).data for name in ("dev-aws.yaml", "prod-aws.yaml", "prod-azure.yaml",
                                                          "prod-gcp.yaml")}
LINE = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+): (?P<path>.+?): (?P<message>.+)$")

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10, 10**6), st.floats(allow_nan=False, width=32),
                    st.text(max_size=12), st.sampled_from(["nvidia-h100-80gb", "public", "0.0.0.0/0", "-1",
                                                           "prod", "azure", "1.30", "", "x" * 60]))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(st.text(max_size=6), inner, max_size=3)),
                      max_leaves=6)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            out.extend(_paths(value, (*prefix, key)))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out.extend(_paths(value, (*prefix, i)))
    return out


@st.composite
def mutated(draw: st.DrawFn) -> dict[str, Any]:
    data = copy.deepcopy(BASES[draw(st.sampled_from(sorted(BASES)))])
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(data)
        path = draw(st.sampled_from(paths))
        parent: Any = data
        for key in path[:-1]:
            parent = parent[key]
        op = draw(st.sampled_from(["delete", "replace", "add_unknown"]))
        if op == "delete":
            del parent[path[-1]]
        elif op == "replace":
            parent[path[-1]] = draw(values)
        elif isinstance(parent, dict):
            parent[draw(st.text(min_size=1, max_size=8)).strip() or "unknown"] = draw(values)
    return data


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=mutated())
def test_mutations_never_crash(tmp_path: Path, data: dict[str, Any]) -> None:
    path = tmp_path / "mutant.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    try:
        load_spec(path)
    except SpecError as exc:
        assert exc.issues
        for issue in exc.issues:
            assert issue.file == str(path)
            assert issue.line is not None and issue.line >= 1
            assert issue.message
            assert LINE.match(issue.format()), issue.format()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=mutated())
def test_validate_cli_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str], data: dict[str, Any]) -> None:
    path = tmp_path / "mutant.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    code = main(["validate", "-q", str(path)])
    err = capsys.readouterr().err
    assert code in (0, 2)
    assert "Traceback" not in err
    if code == 2:
        lines = err.strip().splitlines()
        assert lines and all(LINE.match(line) for line in lines), err
    else:
        assert err == ""


@settings(max_examples=60, deadline=None)
@given(text=st.text(max_size=200))
def test_arbitrary_text_never_crashes(text: str) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "junk.yaml"
        path.write_text(text)
        try:
            load_spec(path)
        except SpecError as exc:
            assert all(i.file == str(path) for i in exc.issues)
