"""``pdebug stats``: Envoy's ``/stats`` (istioctl ``experimental envoy-stats``), filtered.

Reading the three formats is :mod:`pdebug.model.stats` (re-exported here); this module
is the table.
"""

from __future__ import annotations

from pdebug.model.stats import Stat, parse, rejected, select
from pdebug.views.result import ViewResult
from pdebug.views.table import Column, Table

_COLUMNS = (Column("NAME"), Column("VALUE"), Column("TYPE", wide=True))


def view(stats: list[Stat], pattern: str | None) -> ViewResult:
    """NAME VALUE (wide: TYPE when the format says it)."""
    rows = select(stats, pattern)
    table = Table(_COLUMNS, empty_message="No stats found.")
    table.rows.extend((s.name, s.value, s.kind) for s in rows)
    note = "No stats match the filter." if pattern and not rows and stats else None

    def objects() -> list[dict[str, str]]:
        return [
            {"name": s.name, "value": s.value, **({"type": s.kind} if s.kind else {})} for s in rows
        ]

    return ViewResult(table, objects, note)


__all__ = ["Stat", "parse", "rejected", "select", "view"]
