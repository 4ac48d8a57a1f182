"""Text tables laid out like Go's text/tabwriter (istioctl), and markdown via tabulate."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from pdebug.views.table import Lines, Stack, Table


def tabwrite(lines: Sequence[Sequence[str]], padding: int) -> str:
    """Lay out ``lines`` as Go's tabwriter does (pad char ' ', flags 0).

    Every cell but a line's last is padded to its column block's widest cell plus
    ``padding``; a block is a run of consecutive lines that have a cell in that column.
    The last cell of each line is written as is. Widths count code points.
    """
    if not lines:
        return ""
    lengths = {len(line) for line in lines}
    if len(lengths) == 1:  # the common case: one block per column, one format for all
        n = lengths.pop() - 1
        columns = zip(*lines, strict=True)
        widths = [max(map(len, next(columns))) + padding for _ in range(n)]
        # One %-format per line (cells are str): the fastest layout CPython has.
        template = "".join(f"%-{w}s" for w in widths) + "%s\n"
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


def _clean(cell: str) -> str:
    """Cut a cell at its first newline and drop control characters (kubectl)."""
    if "\n" in cell:
        cell = cell.split("\n", 1)[0]
    if not cell.isprintable():
        cell = "".join(ch if ch.isprintable() else "?" for ch in cell)
    return cell


def render_table(table: Table, wide: bool) -> str:
    """One table; empty tables print nothing unless ``header_when_empty``."""
    headers, rows = table.visible(wide)
    if not rows and not table.header_when_empty:
        return ""
    # One test over every cell first: a row at a time only when something needs cleaning.
    if not "".join(itertools.chain.from_iterable(rows)).isprintable():
        rows = [
            row if "".join(row).isprintable() else tuple(_clean(c) for c in row) for row in rows
        ]
    lines = [tuple(headers), *rows] if table.header else rows
    return tabwrite(lines, table.padding)


def render_text(part: Table | Lines | Stack, wide: bool) -> str:
    """Render a table, free text or a stack of them."""
    if isinstance(part, Lines):
        return part.text + "\n"
    if isinstance(part, Table):
        return render_table(part, wide)
    chunks = []
    for title, sub in part.parts:
        text = render_text(sub, wide)
        if part.with_titles:
            text = f"------ {title} ------\n\n" + text
        chunks.append(text)
    return "\n".join(chunks)


def render_markdown(part: Table | Lines | Stack) -> str:
    """GitHub-flavoured markdown tables (for pasting into a ticket)."""
    from tabulate import tabulate

    if isinstance(part, Lines):
        return part.text + "\n"
    if isinstance(part, Stack):
        return "\n".join(f"### {title}\n\n" + render_markdown(sub) for title, sub in part.parts)
    headers, rows = part.visible(True)
    if not part.header:
        return "\n".join(f"- **{r[0]}** {' '.join(r[1:])}" for r in rows) + "\n"
    if not rows:
        return "_" + part.empty_message + "_\n"
    esc = [[c.replace("|", "\\|") or " " for c in row] for row in rows]
    return tabulate(esc, headers=headers, tablefmt="github", disable_numparse=True) + "\n"
