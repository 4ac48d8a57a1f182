"""``pdebug stats``: Envoy's ``/stats`` (istioctl ``experimental envoy-stats``), filtered.

Reading the three formats is :mod:`pdebug.model.stats` (re-exported here); this module
is the table.
"""

from __future__ import annotations

from typing import Any

from pdebug.model.stats import Stat, known, parse, rejected, select
from pdebug.views.result import ViewResult
from pdebug.views.table import Column, Table

_COLUMNS = (Column("NAME"), Column("VALUE"), Column("TYPE", wide=True))


#: The note of stats saved ``usedonly`` (the manifest's ``stats``, #17).
USED_ONLY = (
    "stats never written since the proxy started are not in this bundle; they are zero "
    "(pdebug dump/snapshot --all-stats saves every stat)"
)
#: ... when ``--filter`` matched none of them.
NEVER_WRITTEN = (
    "No stat matching the filter was written since the proxy started, so each is zero "
    "(this bundle holds only the stats written; --all-stats saves every stat)"
)


def view(stats: list[Stat], pattern: str | None, usedonly: bool = False) -> ViewResult:
    """NAME VALUE (wide: TYPE when the format says it); a stat without a value is left out.

    :func:`unknown_note` says how many were left out. ``usedonly``: ``stats`` are only
    those written since the proxy started (a bundle's manifest says ``"stats":
    "usedonly"``): the note says an absent stat is zero, and a ``pattern`` that matches
    none names no missing stat but zeros.
    """
    stats, _ = known(stats)
    rows = select(stats, pattern)
    table = Table(_COLUMNS, empty_message="No stats found.")
    table.rows.extend((s.name, s.value, s.kind) for s in rows)
    if usedonly:
        note: str | None = NEVER_WRITTEN if pattern and not rows else USED_ONLY
    else:
        note = "No stats match the filter." if pattern and not rows and stats else None

    def objects() -> Any:
        plain = [
            {"name": s.name, "value": s.value, **({"type": s.kind} if s.kind else {})} for s in rows
        ]
        return _redacted(rows, plain)

    return ViewResult(table, objects, note, redacted=True)


def unknown_note(stats: list[Stat], pattern: str | None, label: str) -> str | None:
    """The stderr line saying how many stats (of those ``pattern`` selects) have no value."""
    from pdebug.render.escape import escape_text

    count = len([s for s in select(stats, pattern) if s.unknown])
    if not count:
        return None
    what = "stat has" if count == 1 else "stats have"
    return (
        f"note: {count} {what} no value in {escape_text(label)} (an older pdebug's "
        "redaction replaced it with [redacted]), not shown; capture again to see them"
    )


def _redacted(rows: list[Stat], plain: list[dict[str, str]]) -> Any:
    """``plain`` redacted as json/yaml would, but a number keeps its value.

    A counter named like a secret (credential_injector's ``...token_fetch_failed_on_
    client_secret``) is ``{"name": ..., "value": "3"}``, which the header rule reads as
    a secret header's value. Names and text readouts are redacted as before.
    """
    from pdebug.redact import redact_keys, redact_text

    hidden = redact_keys(plain)
    if hidden is plain:
        return plain
    same_shape = isinstance(hidden, list) and len(hidden) == len(rows)
    if not same_shape or not all(
        isinstance(o, dict) and isinstance(o.get("name"), str) and "value" in o for o in hidden
    ):
        return hidden  # a redaction across entries: keep all it hid
    out = []
    for s, o in zip(rows, hidden, strict=True):
        if o["value"] != s.value:
            # the header rule keeps the name it matched as it is: a token in it goes here
            o = {**o, "name": redact_text(o["name"])}
            if not s.readout:
                o["value"] = s.value
        out.append(o)
    return out


__all__ = [
    "NEVER_WRITTEN",
    "USED_ONLY",
    "Stat",
    "parse",
    "rejected",
    "select",
    "unknown_note",
    "view",
]
