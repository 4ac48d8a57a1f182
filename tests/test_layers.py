"""The house's layering (#14): checks, report, trace, diff and the model read facts from
the model and never import the views; the views import neither the report nor the CLI."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PDEBUG = Path(__file__).resolve().parent.parent / "pdebug"


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports, at its top or inside a function."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
    return out


def _files(*places: str) -> list[Path]:
    out: list[Path] = []
    for place in places:
        p = PDEBUG / place
        out.extend(sorted(p.rglob("*.py")) if p.is_dir() else [p])
    return out


@pytest.mark.parametrize(
    ("places", "forbidden"),
    [
        (("checks", "report", "trace", "model", "diff.py"), ("pdebug.views", "pdebug.cli")),
        (("model",), ("pdebug.checks", "pdebug.report", "pdebug.trace")),
        (("views",), ("pdebug.report", "pdebug.cli")),
    ],
)
def test_no_import_runs_up_a_layer(places: tuple[str, ...], forbidden: tuple[str, ...]) -> None:
    found = [
        f"{path.relative_to(PDEBUG.parent)} imports {name}"
        for path in _files(*places)
        for name in sorted(_imports(path))
        if name.startswith(forbidden)
    ]
    assert found == []
