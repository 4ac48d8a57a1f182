"""``pdebug diff B1 B2`` for two bundles: which proxies changed between two captures.

Per proxy (by member name, ``POD.NS``): ``unchanged``, ``changed`` with the kinds that
changed and how many resources (changed, added = only in B2, removed = only in B1),
``only-left`` / ``only-right`` (the pod is in one capture only) or ``not-compared`` (a
side has no config dump: the capture failed, or the dump cannot be read). A proxy whose
capture failed the same way in both bundles is not compared and is no difference (``pdebug
diff B B`` exits 0); one that failed on one side only, or differently, is one. Byte-identical
dumps are unchanged without being parsed; the rest goes through :func:`pdebug.diff.compare`
(names, not order; ``version_info``/``last_updated`` and proto3 defaults ignored).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pdebug import bundle
from pdebug.errors import PdebugError
from pdebug.views.result import ViewResult
from pdebug.views.table import Column, Lines, Stack, Table

COLUMNS = (Column("PROXY"), Column("STATUS"), Column("CHANGES"))


@dataclass
class KindChange:
    """How one kind of resource moved between the captures."""

    kind: str
    changed: int = 0
    added: int = 0
    removed: int = 0

    def text(self) -> str:
        """``clusters 1 changed, 2 added``."""
        parts = [
            f"{n} {word}"
            for n, word in (
                (self.changed, "changed"),
                (self.added, "added"),
                (self.removed, "removed"),
            )
            if n
        ]
        return f"{self.kind} " + ", ".join(parts)


@dataclass
class ProxyDiff:
    """One proxy's verdict; ``note`` says why it was not compared.

    ``differs`` is False for ``unchanged``, and for ``not-compared`` when both sides
    failed the same way (nothing was captured to compare, and nothing changed in that).
    """

    name: str
    status: str  # unchanged | changed | only-left | only-right | not-compared
    kinds: list[KindChange] = field(default_factory=list)
    note: str = ""
    differs: bool = True

    def __post_init__(self) -> None:
        if self.status == "unchanged":
            self.differs = False


@dataclass
class BundleDiff:
    """Every proxy of both bundles."""

    left: str
    right: str
    proxies: list[ProxyDiff]

    @property
    def same(self) -> bool:
        """Whether no proxy differs: each is in both and unchanged, or failed alike in both."""
        return not any(p.differs for p in self.proxies)


def _failure(b: bundle.Bundle, name: str) -> str:
    """Why ``name`` has no config dump in ``b`` (its manifest's first error)."""
    entry = next((p for p in bundle.proxy_entries(b.manifest) if p["name"] == name), {})
    errors = entry.get("errors") or ["no config dump"]
    return str(errors[0])


def _dump(b: bundle.Bundle, name: str, body: bytes) -> Any:
    from pdebug.model.load import load

    return load(body, f"{b.label}:{name}").dump


def compare_proxy(
    name: str,
    left: bundle.Bundle,
    right: bundle.Bundle,
    kinds: Iterable[str],
    include_static: bool = False,
    ignore: str | None = None,
) -> ProxyDiff:
    """Compare proxy ``name`` of both bundles (it is in both)."""
    from pdebug import diff

    a, b = left.proxy(name).get(bundle.DUMP), right.proxy(name).get(bundle.DUMP)
    if a is None and b is None:
        why_left, why_right = _failure(left, name), _failure(right, name)
        if why_left == why_right:
            return ProxyDiff(
                name, "not-compared", note=f"not captured in either: {why_left}", differs=False
            )
        note = f"not captured in {left.label}: {why_left}; in {right.label}: {why_right}"
        return ProxyDiff(name, "not-compared", note=note)
    if a is None or b is None:
        side = left if a is None else right
        note = f"not captured in {side.label}: {_failure(side, name)}"
        return ProxyDiff(name, "not-compared", note=note)
    if a == b:  # the digest fast path: same bytes, nothing to parse
        return ProxyDiff(name, "unchanged")
    try:
        before, after = _dump(left, name, a), _dump(right, name, b)
    except PdebugError as exc:
        return ProxyDiff(name, "not-compared", note=exc.message)
    if before is None or after is None:
        return ProxyDiff(name, "not-compared", note="a side is not a config dump")
    report = diff.compare(
        before, after, kinds, include_static, ignore, left.label, right.label, unread=True
    )
    missing = "; ".join(rep.not_compared for rep in report.kinds if rep.not_compared)
    changes = []
    for rep in report.kinds:
        count = KindChange(rep.kind)
        for change in rep.changes:
            if change.status == "changed":
                count.changed += 1
            elif change.status == "only-right":
                count.added += 1
            else:
                count.removed += 1
        if rep.changes:
            changes.append(count)
    if missing and not changes:
        return ProxyDiff(name, "not-compared", note=missing)
    return ProxyDiff(name, "changed" if changes else "unchanged", changes, note=missing)


def compare_bundles(
    left: bundle.Bundle,
    right: bundle.Bundle,
    kinds: Iterable[str] = ("clusters", "listeners", "routes"),
    include_static: bool = False,
    ignore: str | None = None,
) -> BundleDiff:
    """Compare every proxy: those of ``left`` in its order, then those only in ``right``."""
    kinds = tuple(kinds)
    names = list(dict.fromkeys([*left.proxies, *right.proxies]))
    in_left, in_right = set(left.proxies), set(right.proxies)
    out = []
    for name in names:
        if name not in in_right:
            out.append(ProxyDiff(name, "only-left"))
        elif name not in in_left:
            out.append(ProxyDiff(name, "only-right"))
        else:
            try:  # a member failing its sha256 (or not a file) is this proxy's note
                out.append(compare_proxy(name, left, right, kinds, include_static, ignore))
            except PdebugError as exc:
                out.append(ProxyDiff(name, "not-compared", note=exc.message))
    return BundleDiff(left.label, right.label, out)


def _status(p: ProxyDiff, result: BundleDiff) -> str:
    if p.status == "only-left":
        return f"only in {result.left}"
    if p.status == "only-right":
        return f"only in {result.right}"
    return p.status


def summary_text(result: BundleDiff) -> str:
    """``1 of 4 proxies changed, 1 only in B1, 1 only in B2, 1 unchanged.``, and a hint."""
    count = {s: sum(1 for p in result.proxies if p.status == s) for s in _ORDER}
    total = len(result.proxies)
    parts = [f"{count['changed']} of {total} prox{'y' if total == 1 else 'ies'} changed"]
    if count["only-left"]:
        parts.append(f"{count['only-left']} only in {result.left}")
    if count["only-right"]:
        parts.append(f"{count['only-right']} only in {result.right}")
    if count["not-compared"]:
        parts.append(f"{count['not-compared']} not compared")
    parts.append(f"{count['unchanged']} unchanged")
    text = ", ".join(parts) + "."
    changed = next((p.name for p in result.proxies if p.status == "changed"), None)
    if changed is not None:
        text += (
            f"\nOne proxy's changes: pdebug diff {result.left}:{changed} {result.right}:{changed}"
        )
    return text


_ORDER = ("changed", "only-left", "only-right", "not-compared", "unchanged")


def plain(result: BundleDiff) -> dict[str, Any]:
    """The result for ``-o json|yaml`` (stable keys)."""
    return {
        "left": result.left,
        "right": result.right,
        "same": result.same,
        "proxies": [
            {
                "name": p.name,
                "status": p.status,
                "kinds": {
                    k.kind: {"changed": k.changed, "added": k.added, "removed": k.removed}
                    for k in p.kinds
                },
                "note": p.note or None,
                "differs": p.differs,
            }
            for p in result.proxies
        ],
    }


def view(result: BundleDiff) -> ViewResult:
    """One row per proxy (changed first, unchanged last) and a line of totals."""
    table = Table(COLUMNS, padding=2, empty_message="Neither bundle holds a proxy.")
    for p in sorted(result.proxies, key=lambda p: (_ORDER.index(p.status), p.name)):
        if p.kinds:
            what = "; ".join(k.text() for k in p.kinds)
        else:
            what = p.note or "-"
        table.rows.append((p.name, _status(p, result), what))
    return ViewResult(
        Stack([("Proxies", table), ("Summary", Lines(summary_text(result)))]),
        lambda: plain(result),
    )
