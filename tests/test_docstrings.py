"""Every public module-level function and class of tuning, models and data says what it is for."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MODULES = sorted(
    p for pkg in ("tuning", "models", "data") for p in (ROOT / pkg).rglob("*.py") if "templates" not in p.parts
)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_public_definitions_have_docstrings(path):
    tree = ast.parse(path.read_text())
    missing = [
        node.name
        for node in tree.body
        if isinstance(node, (ast.FunctionDef, ast.ClassDef))
        and not node.name.startswith("_")
        and not ast.get_docstring(node)
    ]
    assert not missing, f"{path.relative_to(ROOT)}: no docstring on {', '.join(missing)}"
    assert ast.get_docstring(tree), f"{path.relative_to(ROOT)}: no module docstring"
