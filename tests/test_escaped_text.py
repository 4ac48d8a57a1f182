"""Text the table renderer checked is written to stdout without a second check (#17)."""

from __future__ import annotations

import io

import pytest

from pdebug.render.escape import SafeStream, is_escaped, text_is_safe
from pdebug.render.text import render_text
from pdebug.views.table import Column, Lines, Stack, Table

CELLS = ["plain", "tab\there", "new\nline", "esc\x1b[2J", "bidi\u202eevil", "ünïcode", "\x85"]


@pytest.mark.parametrize("cell", CELLS)
def test_rendered_text_is_marked_only_when_safe(cell: str) -> None:
    table = Table((Column("NAME"), Column("VALUE")), [(cell, "x"), ("y", cell)])
    for part in (table, Stack([(f"T {cell}", table), ("L", Lines(cell))], with_titles=True)):
        text = render_text(part, wide=False)
        assert is_escaped(text)
        assert text_is_safe(text)  # what SafeStream would have checked
        out = io.StringIO()
        SafeStream(out).write(text)
        assert out.getvalue() == text


def test_other_text_is_still_checked() -> None:
    out = io.StringIO()
    SafeStream(out).write("a\x1b[2Jb\n")
    assert out.getvalue() == "a\\x1b[2Jb\n"
