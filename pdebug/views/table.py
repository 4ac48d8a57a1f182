"""A table is data: columns (some only for ``-o wide``) and string rows."""

from __future__ import annotations

import operator
from collections.abc import Sequence

import msgspec


class Column(msgspec.Struct, frozen=True):
    """One column; ``wide`` columns appear only with ``-o wide``."""

    name: str
    wide: bool = False


class Table(msgspec.Struct):
    """Columns plus rows of strings, and how istioctl spaces them.

    ``padding`` is Go tabwriter's: cells are padded to the widest cell + padding.
    ``empty_message`` is said (on stderr) instead of printing a header-only table,
    unless ``header_when_empty`` asks for istioctl's header-only output.
    """

    columns: tuple[Column, ...]
    rows: list[tuple[str, ...]] = msgspec.field(default_factory=list)
    padding: int = 5
    empty_message: str = "No resources found."
    header_when_empty: bool = False
    header: bool = True

    def visible(self, wide: bool) -> tuple[list[str], list[tuple[str, ...]]]:
        """Headers and rows with the wide-only columns dropped unless ``wide``."""
        if wide or not any(c.wide for c in self.columns):
            return [c.name for c in self.columns], self.rows
        keep = [i for i, c in enumerate(self.columns) if not c.wide]
        width = len(self.columns)
        if keep == list(range(len(keep))) and all(len(r) == len(keep) for r in self.rows):
            # The wide columns come last and the rows stop before them (the clusters
            # table): the rows are the visible ones already.
            return [self.columns[i].name for i in keep], self.rows
        if any(len(r) != width for r in self.rows):
            # istioctl's ragged rows (a cluster without a name has no NAME cell in `all`)
            rows = [tuple(r[i] for i in keep if i < len(r)) for r in self.rows]
            return [self.columns[i].name for i in keep], rows
        pick = operator.itemgetter(*keep)
        rows = list(map(pick, self.rows)) if len(keep) > 1 else [(r[keep[0]],) for r in self.rows]
        return [self.columns[i].name for i in keep], rows


class Lines(msgspec.Struct):
    """Free text (e.g. the bootstrap summary) that a table renderer prints as is."""

    text: str


class Rendered(msgspec.Struct):
    """A part already rendered as text by the table renderer (``-o table|wide``).

    ``pdebug all`` renders its sections' tables in parallel (:mod:`pdebug.parallel`): the
    text is what :func:`pdebug.render.text.render_text` made of the part, checked there.
    """

    text: str


class Stack(msgspec.Struct):
    """Several tables/texts printed one after another (``pdebug all``)."""

    parts: Sequence[tuple[str, Table | Lines | Rendered]]  # (title, part)
    with_titles: bool = False
