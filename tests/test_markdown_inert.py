"""``-o markdown`` is pasted into tickets and PRs: a name from the input shows as written.

A cluster named ``[text](http://x)``, ``*emph*``, ``_x_``, with backticks, ``~strike~``,
``&amp;`` or a ``|`` rendered live (a link, emphasis, a code span, an entity) where the
table was pasted. Cells are now backslash-escaped where CommonMark/GFM would read
markup, and only there (the goldens' ``/*``, ``ROUND_ROBIN`` stay as they were).

The check renders the markdown with markdown-it-py (CommonMark, with GFM tables and
strikethrough) and requires each cell's text to be the cell as pdebug holds it, with no
markup token. ``PDEBUG_FUZZMD_CASES`` (default 40), ``PDEBUG_FUZZMD_SEED`` (default 7).
"""

from __future__ import annotations

import json
import os
import random
from typing import Any

import pytest

from pdebug.render.escape import escape_cell
from pdebug.render.text import markdown_inline, render_markdown
from pdebug.views.table import Column, Stack, Table
from tests.harness import FIXTURES

markdown_it = pytest.importorskip("markdown_it")

CASES = int(os.environ.get("PDEBUG_FUZZMD_CASES", "40"))
SEED = int(os.environ.get("PDEBUG_FUZZMD_SEED", "7"))
DUMP = FIXTURES / "real" / "sidecar" / "config_dump.json"

FRAGMENTS = [
    "[text](http://x)", "![i](http://x/i.png)", "*emph*", "**strong**", "_x_", "__u__",
    "`code`", "``", "~strike~", "~~gone~~", "&amp;", "&#60;", "&#x3c;", "&copy;", "\\*",
    "\\", "\\|", "|", "[", "]", "[^1]", "[a][b]", "a*b*c", "x_y_z", "*", "_", "~", "<b>",
    "<http://x>", "#", "+", "-", "!", "(", ")", ">", "&", "*.", "._", "*a", "b*", "\\`",
    "«*a*»", "é_x_é", "日_x_本", "“*q*”",
]  # fmt: skip
#: Cells the goldens hold that must stay byte for byte.
INERT = ["/*", "*", "/stats/prometheus*", "ROUND_ROBIN", "service_google", "LOGICAL_DNS",
         "outbound_.9080_._.reviews.default.svc.cluster.local", "2026-11-25T21:49:12.531Z",
         "-", "#1", "+1", "!x", "(a)", "x>y", "a-b", "*.example.com", "a_b_c", "2 * 3"]  # fmt: skip


def _md() -> Any:
    return markdown_it.MarkdownIt("commonmark").enable(["table", "strikethrough"])


def _text(inline: Any) -> tuple[str, set[str]]:
    """An inline token's text as shown, and the token types it holds besides text."""
    parts, kinds = [], set()
    for child in inline.children or []:
        if child.type in ("text", "text_special"):
            parts.append(child.content)
        else:
            kinds.add(child.type)
    return "".join(parts), kinds


def _cells(md: str) -> list[list[tuple[str, set[str]]]]:
    """The body rows of every table in ``md``, each cell as :func:`_text` reads it."""
    rows: list[list[tuple[str, set[str]]]] = []
    in_body = False
    for tok in _md().parse(md):
        if tok.type == "tbody_open":
            in_body = True
        elif tok.type == "tbody_close":
            in_body = False
        elif in_body and tok.type == "tr_open":
            rows.append([])
        elif in_body and tok.type == "inline":
            rows[-1].append(_text(tok))
    return rows


def _hostile(rng: random.Random, name: str) -> str:
    for _ in range(rng.randint(1, 3)):
        at = rng.randint(0, len(name))
        name = name[:at] + rng.choice(FRAGMENTS) + name[at:]
    return name.strip() or "x"


def _names() -> list[str]:
    doc = json.loads(DUMP.read_text())
    out = []
    for config in doc["configs"]:
        for entry in config.get("dynamic_active_clusters", []) + config.get("static_clusters", []):
            out.append(entry["cluster"]["name"])
    return out


@pytest.mark.parametrize("cell", INERT)
def test_a_cell_without_markup_is_written_as_it_is(cell):
    assert markdown_inline(cell) == cell


@pytest.mark.parametrize(
    ("cell", "written"),
    [("[text](http://x)", r"\[text\](http://x)"), ("*emph*", r"\*emph\*"), ("_x_", r"\_x\_"),
     ("`c`", r"\`c\`"), ("~s~", r"\~s\~"), ("a&amp;b", r"a\&amp;b"), ("re\\.x", r"re\\.x"),
     ("re\\d", "re\\d"), ("a*b*c", r"a\*b\*c"), ("x_y_z", "x_y_z")],
)  # fmt: skip
def test_markup_in_a_cell_is_escaped(cell, written):
    assert markdown_inline(cell) == written


def test_the_cases_pdebug_renders_read_back_as_written():
    """Each fragment alone, in a table: the rendered cell is the fragment."""
    rows = [(f"n{f}e", f) for f in FRAGMENTS] + [(c, c) for c in INERT]
    md = render_markdown(Table((Column("NAME"), Column("RAW")), rows))
    got = _cells(md)
    for row, cells in zip(rows, got, strict=True):
        for want, (text, kinds) in zip(row, cells, strict=True):
            assert (text, kinds) == (want, set()), (want, md)


@pytest.mark.parametrize("case", range(CASES))
def test_seeded_hostile_names_render_as_written(case):
    """Real cluster names with markup fragments inserted, in a table and in a header-less
    list (``bootstrap``'s ``- **label** value``): each shows as written, no markup."""
    rng = random.Random(SEED * 1_000_003 + case)
    names = _names()
    rows = [tuple(_hostile(rng, rng.choice(names)) for _ in range(3)) for _ in range(4)]
    cols = (Column("NAME"), Column("FQDN"), Column("SUBSET"))
    md = render_markdown(Stack([("Clusters", Table(cols, rows))]))
    said = f"seed {SEED} case {case}:\n{md}"
    got = _cells(md)
    assert [[c for c in row] for row in got] == [
        [(escape_cell(c).strip(), set()) for c in row] for row in rows
    ], said
    listed = render_markdown(Table(cols, rows, header=False))
    items = [t for t in _md().parse(listed) if t.type == "inline"]
    assert len(items) == len(rows), listed
    for tok, row in zip(items, rows, strict=True):
        kinds = [c.type for c in tok.children or [] if c.type not in ("text", "text_special")]
        assert kinds == ["strong_open", "strong_close"], f"seed {SEED} case {case}: {listed}"
        label = "".join(_text(_sub(tok, "strong_open", "strong_close"))[0])
        assert label == escape_cell(row[0]), listed
        assert _text(tok)[0].strip() == f"{row[0]} {' '.join(row[1:])}".strip(), listed


def _sub(tok: Any, start: str, end: str) -> Any:
    """An inline token holding only the children between ``start`` and ``end``."""
    kids = tok.children or []
    i = next(k for k, c in enumerate(kids) if c.type == start)
    j = next(k for k, c in enumerate(kids) if c.type == end)
    return type("Inline", (), {"children": kids[i + 1 : j]})


def test_clusters_markdown_of_a_dump_with_hostile_names(pdebug, tmp_path):
    """End to end: istioctl-style names carrying markup, ``clusters -o markdown``."""
    doc = json.loads(DUMP.read_text())
    section = next(c for c in doc["configs"] if c["@type"].endswith("ClustersConfigDump"))
    marks = ["[text](http://x)", "*emph*", "_x_", "`tick`", "~s~", "&amp;"]
    for i, entry in enumerate(section["dynamic_active_clusters"]):
        entry["cluster"]["name"] = marks[i % len(marks)] + entry["cluster"]["name"]
    path = tmp_path / "d.json"
    path.write_text(json.dumps(doc))
    r = pdebug("clusters", path, "-o", "markdown")
    assert r.code == 0, r.err
    got = _cells(r.out)
    assert got and all(kinds == set() for row in got for _t, kinds in row), r.out
    shown = {text for row in got for text, _k in row}
    for mark in marks:
        assert any(text.startswith(mark) for text in shown), (mark, r.out)
