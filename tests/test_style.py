"""The component skeleton from STYLE.md, checked on every component: typed token, register_outputs last,
no resources created inside `apply()` callbacks."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import ROOT

COMPONENT_FILES = sorted(p for p in (ROOT / "components").rglob("*.py") if p.name != "__init__.py")


def _components(tree: ast.Module) -> list[ast.ClassDef]:
    out = []
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and any(
                isinstance(b, ast.Attribute) and b.attr == "ComponentResource" for b in node.bases):
            out.append(node)
    return out


def _init(cls: ast.ClassDef) -> ast.FunctionDef:
    return next(n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "__init__")


def _is_call(stmt: ast.stmt, attr: str) -> bool:
    return (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call)
            and isinstance(stmt.value.func, ast.Attribute) and stmt.value.func.attr == attr)


def test_there_are_components() -> None:
    found = [cls.name for path in COMPONENT_FILES for cls in _components(ast.parse(path.read_text()))]
    assert len(found) >= 30, found


@pytest.mark.parametrize("path", COMPONENT_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_component_skeleton(path: Path) -> None:
    tree = ast.parse(path.read_text())
    for cls in _components(tree):
        init = _init(cls)
        first = next(s for s in init.body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant)))
        assert _is_call(first, "__init__"), f"{cls.name}: super().__init__ must come first"
        token = first.value.args[0]  # type: ignore[attr-defined]
        assert isinstance(token, ast.Constant) and token.value.startswith("aienv:"), \
            f"{cls.name}: the type token must be a literal `aienv:<module>:<Name>`"
        assert _is_call(init.body[-1], "register_outputs"), f"{cls.name}: register_outputs must be the last line"


RESOURCE_MODULES = ("aws", "azure", "gcp", "k8s", "random", "kubernetes", "storage", "keyvault", "network",
                    "containerservice", "container", "kms", "iam", "compute")


@pytest.mark.parametrize("path", COMPONENT_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_resources_inside_apply(path: Path) -> None:
    """A resource created in an `apply` callback shows in `pulumi up` but not in the preview."""
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "apply"):
            continue
        for arg in node.args:
            for inner in ast.walk(arg):
                if isinstance(inner, ast.Call) and isinstance(inner.func, ast.Attribute):
                    root = inner.func
                    while isinstance(root, ast.Attribute):
                        root = root.value  # type: ignore[assignment]
                    name = getattr(root, "id", "")
                    assert not (name in RESOURCE_MODULES and inner.func.attr[:1].isupper()
                                and not inner.func.attr.endswith("Args")), \
                        f"{path.name}:{inner.lineno}: a resource is created inside apply()"


def test_checks_catch_a_bad_component(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import pulumi\nimport pulumi_aws as aws\n\n"
        "class Bad(pulumi.ComponentResource):\n"
        "    def __init__(self, name, opts=None):\n"
        "        super().__init__('aienv:aws:Bad', name, None, opts)\n"
        "        self.register_outputs({})\n"
        "        key = aws.kms.Key(f'{name}-key')\n"
        "        key.arn.apply(lambda arn: aws.kms.Alias(f'{name}-alias', target_key_id=arn))\n")
    with pytest.raises(AssertionError, match="register_outputs must be the last line"):
        test_component_skeleton(bad)
    with pytest.raises(AssertionError, match="a resource is created inside apply"):
        test_no_resources_inside_apply(bad)
