"""The package stays in small pieces: no module over 400 lines, no function over 60, and what
one module uses of another is public (no ``_name`` imported across modules)."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src" / "pytest_canary"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


def _sources() -> list[Path]:
    return sorted(SRC.rglob("*.py"))


def test_no_module_is_over_400_lines() -> None:
    long = {
        str(p.relative_to(SRC)): n
        for p in _sources()
        if (n := p.read_text().count("\n")) > MAX_MODULE_LINES
    }
    assert long == {}


def test_no_function_is_over_60_lines() -> None:
    long = {}
    for path in _sources():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    long[f"{path.relative_to(SRC)}:{node.name}"] = length
    assert long == {}


def test_no_module_imports_a_private_name_of_another() -> None:
    """A helper two modules need is public in the module it belongs to, not borrowed as ``_x``."""
    borrowed = []
    for path in _sources():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("pytest_canary"):
                private = [a.name for a in node.names if a.name.startswith("_")]
                borrowed += [f"{path.relative_to(SRC)}: {node.module}.{name}" for name in private]
    assert borrowed == []
