"""Shared test helpers: run pdebug in-process, fixture paths, golden files."""

from __future__ import annotations

import difflib
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
ISTIOCTL = FIXTURES / "istioctl"
GOLDEN = Path(__file__).resolve().parent / "golden"

sys.path.insert(0, str(Path(__file__).resolve().parent))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true", help="rewrite tests/golden/ files")


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture
def pdebug(capsys: pytest.CaptureFixture[str]):
    """Run ``pdebug ARGS...`` in-process through the real entry point (error funnel included)."""
    from pdebug.cli import main

    def run(*args: str) -> Result:
        capsys.readouterr()
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


@pytest.fixture
def golden(request: pytest.FixtureRequest):
    """Compare text with tests/golden/NAME, or rewrite it with --update-golden."""
    update = request.config.getoption("--update-golden")

    def check(name: str, text: str) -> None:
        path = GOLDEN / name
        if update:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            return
        assert path.exists(), f"missing golden {path}; run make golden and review it"
        want = path.read_text()
        if text != want:
            diff = "".join(
                difflib.unified_diff(
                    want.splitlines(True), text.splitlines(True), f"golden/{name}", "actual"
                )
            )
            pytest.fail(f"output differs from golden/{name}:\n{diff}")

    return check
