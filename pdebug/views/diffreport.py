"""Render a :class:`~pdebug.diff.DiffReport`: verdicts, then what differs and why."""

from __future__ import annotations

import difflib
from typing import Any

import orjson

from pdebug.diff import DiffReport, FieldChange, KindReport, Resource, title
from pdebug.diff_lists import ORDER_ONLY
from pdebug.render.escape import escape_cell as _one_line
from pdebug.views.result import ViewResult
from pdebug.views.table import Lines

_MAX_VALUE = 100


def _value(value: Any) -> str:
    if value is None:
        return "(absent)"
    text = orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    return text if len(text) <= _MAX_VALUE else text[: _MAX_VALUE - 3] + "..."


#: More moves than this in one list whose order Envoy ignores: one line says how many.
_MOVES_SHOWN = 3


def _field_lines(fields: list[FieldChange]) -> list[str]:
    """One line per field; the moves of a list whose order does not matter, summed up."""
    lines: list[str] = []
    i = 0
    while i < len(fields):
        f = fields[i]
        path = _one_line(f.path)
        if f.kind != "moved":
            lines.append(f"      {path}: {_value(f.left)} -> {_value(f.right)}")
            i += 1
            continue
        end = i + 1
        while end < len(fields) and fields[end].kind == "moved" and fields[end].path == f.path:
            end += 1
        if f.why == ORDER_ONLY and end - i > _MOVES_SHOWN:
            # a reordered domain list: which ones moved is noise (-o json has each)
            items = f.item[:-1] + "ies" if f.item.endswith("y") else f.item + "s"
            lines.append(
                f"      {path}: {end - i} {items} moved ({f.why}; -o json lists each move)"
            )
        else:
            lines.extend(f"      {path}: {_moved(m)}" for m in fields[i:end])
        i = end
    return lines


def _moved(f: FieldChange) -> str:
    """``route "r1" moved from [0] to [3] (order matters: ...)``."""
    if f.by in ("name", ""):
        which = _value(f.what)  # a name or a domain: quoted as JSON
    else:
        which = f"with {f.by} {f.what}"  # compact JSON already
        if len(which) > _MAX_VALUE:
            which = which[: _MAX_VALUE - 3] + "..."
    if f.left == f.right:  # the items around it moved (none of the longest runs keeps it)
        return _one_line(f"{f.item} {which} moved among others, still at [{f.left}] ({f.why})")
    return _one_line(f"{f.item} {which} moved from [{f.left}] to [{f.right}] ({f.why})")


def report_text(report: DiffReport) -> str:
    """The istioctl verdict lines first, then per kind what differs, field by field."""
    lines = [_one_line(k.verdict) for k in report.kinds]
    # a name, a path (map keys are data) or a note may hold a newline: one line each
    left, right = _one_line(report.left), _one_line(report.right)
    for kind in report.kinds:
        if (kind.match and not kind.notes) or kind.not_compared:
            continue  # a kind not compared says why in its verdict line
        lines.append("")
        differ = len(kind.changes)
        lines.append(f"{title(kind.kind)}: {differ} of {kind.compared} differ")
        for note in kind.notes:
            lines.append(f"  ! {_one_line(note)}")
        for change in kind.changes:
            if change.status == "only-left":
                extra = f" ({_one_line(change.note)})" if change.note else ""
                lines.append(f"  - {_one_line(change.name)}: only in {left}{extra}")
            elif change.status == "only-right":
                extra = f" ({_one_line(change.note)})" if change.note else ""
                lines.append(f"  + {_one_line(change.name)}: only in {right}{extra}")
            else:
                lines.append(f"  ~ {_one_line(change.name)}")
                lines.extend(_field_lines(change.fields))
    return "\n".join(lines)


def report_plain(report: DiffReport) -> dict[str, Any]:
    """The report as plain data for ``-o json|yaml`` (a stable contract for runbooks)."""
    return {
        "left": report.left,
        "right": report.right,
        "match": report.same,
        "kinds": [_kind_plain(k) for k in report.kinds],
    }


def _kind_plain(kind: KindReport) -> dict[str, Any]:
    return {
        "kind": kind.kind,
        "verdict": kind.verdict,
        "match": kind.match,
        "compared": kind.compared,
        **({"not_compared": kind.not_compared} if kind.not_compared else {}),
        "notes": kind.notes,
        "changes": [
            {
                "name": c.name,
                "status": c.status,
                **({"note": c.note} if c.note else {}),
                "fields": [_field_plain(f) for f in c.fields],
            }
            for c in kind.changes
        ],
    }


def _field_plain(f: FieldChange) -> dict[str, Any]:
    out = {"path": f.path, "left": f.left, "right": f.right}
    if f.kind:
        # additive: a moved item is its list's path, its indices, and which item it is
        out.update(kind=f.kind, item=f.item, what=f.what, by=f.by, why=f.why)
    return out


def unified(
    report: DiffReport,
    sides: dict[str, tuple[dict[str, Resource], dict[str, Resource]]],
) -> str:
    """istioctl-style unified diffs (context 7) of the normalised resources, per kind."""
    out: list[str] = []
    for kind in report.kinds:
        out.append(kind.verdict)
        if kind.match or kind.not_compared:
            continue
        left, right = sides[kind.kind]
        a = _pretty([left[n].plain() for n in sorted(left)])
        b = _pretty(
            [
                right[n].plain()
                for n in sorted(right)
                if right[n].state != "error" or bytes(right[n].raw) != b"null"
            ]
        )
        name = title(kind.kind)
        diff = difflib.unified_diff(a, b, f"{report.left} {name}", f"{report.right} {name}", n=7)
        out.append("".join(diff).rstrip("\n"))
        out.append("")
    return "\n".join(out)


def _pretty(items: list[Any]) -> list[str]:
    text = orjson.dumps(items, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode()
    return [line + "\n" for line in text.split("\n")]


def view(report: DiffReport, text: str | None = None) -> ViewResult:
    """A ViewResult whose text is the report (or ``text``) and whose objects are the data."""
    return ViewResult(
        Lines(text if text is not None else report_text(report)), lambda: report_plain(report)
    )
