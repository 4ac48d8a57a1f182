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
        (
            ("checks", "report", "trace", "model", "diff.py", "diff_lists.py"),
            ("pdebug.views", "pdebug.cli"),
        ),
        (("model",), ("pdebug.checks", "pdebug.report", "pdebug.trace")),
        (("views",), ("pdebug.report", "pdebug.cli")),
        # the readers below the commands' libraries: check, report and assert call down
        (
            ("proxy.py", "inputs.py", "examine.py", "sources", "snapshot"),
            ("pdebug.report", "pdebug.runbook", "pdebug.views", "pdebug.cli"),
        ),
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


def _module_file(name: str) -> Path | None:
    """The file of module ``pdebug.a.b`` (a module or a package's ``__init__``), if any."""
    if not name.startswith("pdebug"):
        return None
    base = PDEBUG.parent.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _edges(path: Path) -> set[Path]:
    """The pdebug files ``path`` imports (type-only and in-function imports count too)."""
    out: set[Path] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from pkg import mod` names the module when there is one, else pkg itself
            names = [
                f"{node.module}.{a.name}"
                if _module_file(f"{node.module}.{a.name}")
                else node.module
                for a in node.names
            ]
        for name in names:
            target = _module_file(name)
            if target is not None and target != path:
                out.add(target)
    return out


def test_no_two_modules_import_each_other() -> None:
    """No import circle between pdebug's files: each path through the code goes one way.

    Tarjan's strongly connected components over the import graph; a package's
    ``__init__`` importing its own modules is an edge like any other.
    """
    files = sorted(PDEBUG.rglob("*.py"))
    graph = {f: _edges(f) for f in files}
    index: dict[Path, int] = {}
    low: dict[Path, int] = {}
    stack: list[Path] = []
    circles: list[list[str]] = []

    def visit(node: Path) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            part = []
            while True:
                top = stack.pop()
                part.append(str(top.relative_to(PDEBUG.parent)))
                if top == node:
                    break
            if len(part) > 1:
                circles.append(sorted(part))

    for f in files:
        if f not in index:
            visit(f)
    assert circles == []


def test_a_module_over_500_lines_says_why_it_is_one() -> None:
    """#14.4: a module that long says at its top (its docstring) why it is not cut."""
    unsaid = []
    for path in sorted(PDEBUG.rglob("*.py")):
        text = path.read_text()
        if text.count("\n") <= 500:
            continue
        doc = ast.get_docstring(ast.parse(text, str(path))) or ""
        if "one module over 500 lines because" not in " ".join(doc.lower().split()):
            unsaid.append(str(path.relative_to(PDEBUG)))
    assert not unsaid, f"say at the top why each is one module: {unsaid}"
