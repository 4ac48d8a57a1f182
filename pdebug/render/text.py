"""Text tables laid out like Go's text/tabwriter (istioctl); markdown: render/markdown.py."""

from __future__ import annotations

import itertools
import operator
from collections.abc import Sequence

from pdebug.render.escape import ascii_clean, escape_cell, escape_lines, escaped
from pdebug.views.table import Lines, Rendered, Stack, Table


def tabwrite(lines: Sequence[Sequence[str]], padding: int) -> str:
    """Lay out ``lines`` as Go's tabwriter does (pad char ' ', flags 0).

    Every cell but a line's last is padded to its column block's widest cell plus
    ``padding``; a block is a run of consecutive lines that have a cell in that column.
    The last cell of each line is written as is. Widths count code points.
    """
    if not lines:
        return ""
    lengths = set(map(len, lines))
    if len(lengths) == 1:  # the common case: one block per column, one format for all
        n = lengths.pop() - 1
        # One %-format per line (cells are str): the fastest layout CPython has.
        template = "".join(f"%-{w}s" for w in _widths(lines, n, padding)) + "%s\n"
        return "".join(map(template.__mod__, map(tuple, lines)))
    ncells = [len(line) - 1 for line in lines]
    width_at: list[list[int]] = [[0] * max(c, 0) for c in ncells]
    for k in range(max(ncells)):
        i = 0
        while i < len(lines):
            if ncells[i] <= k:
                i += 1
                continue
            j = i
            while j < len(lines) and ncells[j] > k:
                j += 1
            w = max(len(lines[r][k]) for r in range(i, j)) + padding
            for r in range(i, j):
                width_at[r][k] = w
            i = j
    out = []
    for line, widths in zip(lines, width_at, strict=True):
        n = len(line) - 1
        out.append("".join(line[k].ljust(widths[k]) for k in range(n)) + line[n])
    return "\n".join(out) + "\n"


def _widths(lines: Sequence[Sequence[str]], n: int, padding: int) -> list[int]:
    """The padded widths of the first ``n`` cells of equally long ``lines``.

    Not ``zip(*lines)``: an iterator per line (0.14 s for 180k lines). Up to three
    columns, a pass over the lines for each (the endpoints table); from four on, every
    cell's length in one pass, read back per column (the clusters table: 12.8k lines,
    16 ms against 24 ms a column at a time, the cells being spread over the heap).
    """
    if n < 4:
        return [max(map(len, map(operator.itemgetter(k), lines))) + padding for k in range(n)]
    step = len(lines[0])
    lengths = list(map(len, itertools.chain.from_iterable(lines)))
    return [max(lengths[k::step]) + padding for k in range(n)]


def _shown_prefix(table: Table, wide: bool) -> int:
    """How many leading cells of each row are shown, when the rest are hidden in place.

    That is when the columns left out (wide ones, without ``-o wide``) all come last and
    every row is a tuple with a cell for each column (the endpoints table): the layout
    then skips the hidden cells instead of copying every row without them. 0 otherwise.
    """
    if wide:
        return 0
    columns = table.columns
    shown = sum(not c.wide for c in columns)
    if not 0 < shown < len(columns) or any(c.wide for c in columns[:shown]):
        return 0
    rows = table.rows
    if set(map(len, rows)) - {len(columns)} or set(map(type, rows)) - {tuple}:
        return 0
    return shown


def _tabwrite_prefix(lines: list[tuple[str, ...]], shown: int, padding: int) -> str:
    """``tabwrite`` of each line's first ``shown`` cells (every line as long, tuples)."""
    widths = _widths(lines, shown - 1, padding)
    hidden = len(lines[0]) - shown
    template = "".join(f"%-{w}s" for w in widths) + "%s" + "%.0s" * hidden + "\n"
    return "".join(map(template.__mod__, lines))


def render_table(table: Table, wide: bool) -> str:
    """One table; empty tables print nothing unless ``header_when_empty``."""
    shown = _shown_prefix(table, wide) if table.header and table.rows else 0
    if shown:
        lines: list[tuple[str, ...]] = [tuple(c.name for c in table.columns), *table.rows]
        text = _tabwrite_prefix(lines, shown, table.padding)
        if _plain_lines(text, len(lines)):
            return escaped(text)
    headers, rows = table.visible(wide)
    if not rows and not table.header_when_empty:
        return ""
    lines = [tuple(headers), *rows] if table.header else rows
    text = tabwrite(lines, table.padding)
    # One test over the whole text first: a row at a time only when something needs
    # escaping (a control character, a newline or a bidi override from the input:
    # escape.py). Printable ASCII with one newline a line means every cell is printable.
    # Either way the text is what escape_text leaves as it is (printable cells, spaces
    # and newlines): marked escaped, so stdout does not check it again.
    if _plain_lines(text, len(lines)) or "".join(itertools.chain.from_iterable(rows)).isprintable():
        return escaped(text)
    rows = [row if "".join(row).isprintable() else tuple(map(escape_cell, row)) for row in rows]
    lines = [tuple(headers), *rows] if table.header else rows
    return escaped(tabwrite(lines, table.padding))


_PRINTABLE_LINES = bytes(range(0x20, 0x7F)) + b"\n"


def _plain_lines(text: str, count: int) -> bool:
    """Whether ``text`` is ``count`` lines of printable ASCII (no cell holds a newline).

    A cheaper test than joining every cell (C speed over the text, 1 MB at a time); when
    it fails (non-ASCII text, say), the cells themselves are tested.
    """
    return text.isascii() and text.count("\n") == count and ascii_clean(text, _PRINTABLE_LINES)


def render_text(part: Table | Lines | Rendered | Stack, wide: bool) -> str:
    """Render a table, free text or a stack of them."""
    if isinstance(part, Rendered):  # render_text's own text, checked when it was made
        return escaped(part.text)
    if isinstance(part, Lines):
        return escaped(escape_lines(part.text) + "\n")
    if isinstance(part, Table):
        return render_table(part, wide)
    chunks = []
    for title, sub in part.parts:
        text = render_text(sub, wide)
        if part.with_titles:
            text = f"------ {escape_cell(title)} ------\n\n" + text
        chunks.append(text)
    return escaped("\n".join(chunks))


# --- markdown: pdebug.render.markdown, imported when asked for ---------------------------
# (its patterns, compiled as it is imported, cost every command ~0.4 ms at start: #17)


def render_markdown(part: Table | Lines | Rendered | Stack) -> str:
    """GitHub-flavoured markdown tables (:func:`pdebug.render.markdown.render_markdown`)."""
    from pdebug.render import markdown

    return markdown.render_markdown(part)


def markdown_inline(
    text: str, context: str | None = None, always: str = "", follows: str = ""
) -> str:
    """``text`` made inert as markdown (:func:`pdebug.render.markdown.markdown_inline`)."""
    from pdebug.render import markdown

    return markdown.markdown_inline(text, context, always, follows)
