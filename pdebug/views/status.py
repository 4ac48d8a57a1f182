"""``pdebug status``: istiod's view of every proxy's xDS sync (istioctl proxy-status).

Three layouts of the same rows; by default (``auto``) the one istioctl prints for the
answer it got (:func:`default_layout`):

* ``fixed``: ``NAME CLUSTER CDS LDS EDS RDS ECDS ISTIOD VERSION``, one status per type;
  istioctl's table for the legacy HTTP answer (<= 1.21, byte for byte; the default for it),
  and istioctl 1.22-1.26's for xDS data.
* ``types``: istioctl >= 1.27's ``NAME CLUSTER ISTIOD VERSION SUBSCRIBED TYPES``; the
  default for the xDS answer (istioctl 1.27+ asks istiod over xDS).
* ``per-type``: istioctl >= 1.27's ``-v 1``, one column per type, sorted by type URL.

``-o wide`` adds what istioctl does not say: which types are out of sync, since when (the
oldest ``lastUpdated`` / ``sentTime`` among them, as an age and a timestamp) and the
last error istiod recorded. Ages are Kubernetes' HumanDuration of ``now`` minus the
timestamp; ``now`` is a parameter so that a saved file can be read as of its capture.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pdebug.model import syncz as m
from pdebug.model.syncz import ProxySync, SyncDocument, TypeSync
from pdebug.views.result import ViewResult
from pdebug.views.table import Column, Table

LAYOUTS = ("auto", "fixed", "types", "per-type")
LAYOUT_ALIASES = {"verbose": "per-type", "pertype": "per-type", "subscribed": "types"}
#: The fixed layout's type columns, in istioctl's order.
FIXED_TYPES = (m.CDS, m.LDS, m.EDS, m.RDS, m.ECDS)
#: SUBSCRIBED TYPES lists these first (those seen), then every other type URL sorted.
FIRST_TYPES = (m.CDS, m.LDS, m.EDS, m.RDS)
OUT_OF_SYNC = frozenset({m.STALE, m.STALE_NEVER_ACKED, m.ERROR})
_MAX_NS = 2**63 - 1  # Go's time.Duration saturates here (~292 years)
_NS = 10**9
_WIDE = (
    Column("OUT OF SYNC", wide=True),
    Column("STALE SINCE", wide=True),
    Column("LAST ERROR", wide=True),
)


@dataclass(frozen=True)
class StatusFilter:
    """``-n``: only proxies in this namespace; the empty filter matches every proxy.

    xDS data carries the namespace in node metadata NAMESPACE; legacy data only in the
    ``.ns`` suffix of the proxy ID (``pod.ns``).
    """

    namespace: str | None = None

    def matches(self, proxy: ProxySync) -> bool:
        """Is ``proxy`` in the namespace (or is there no namespace filter)?"""
        return self.namespace is None or proxy.namespace == self.namespace


def human_duration(delta: timedelta) -> str:
    """Kubernetes' HumanDuration (``kubectl get``'s AGE), 2-3 significant figures.

    ``<invalid>`` below -1 s (clock skew up to 2 s counts as now), ``Ns`` below 2 min,
    ``XmYs`` below 10 min, ``Xm`` below 3 h, ``XhYm`` below 8 h, ``Xh`` below 48 h,
    ``XdYh`` below 8 d, ``Xd`` below 2 y, ``XyYd`` below 8 y, else ``Xy``; a zero part is
    left out. Like Go's Duration, the difference saturates at about 292 years.
    """
    ns = (delta.days * 86_400 + delta.seconds) * _NS + delta.microseconds * 1_000
    ns = max(-_MAX_NS - 1, min(_MAX_NS, ns))
    seconds = abs(ns) // _NS * (1 if ns >= 0 else -1)  # Go truncates toward zero
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    if seconds < 120:
        return f"{seconds}s"
    minutes = ns // (60 * _NS)
    if minutes < 10:
        return _two_units(minutes, "m", seconds % 60, "s")
    if minutes < 180:
        return f"{minutes}m"
    hours = ns // (3_600 * _NS)
    if hours < 8:
        return _two_units(hours, "h", minutes % 60, "m")
    if hours < 48:
        return f"{hours}h"
    days = hours // 24
    if hours < 24 * 8:
        return _two_units(days, "d", hours % 24, "h")
    if hours < 24 * 365 * 2:
        return f"{days}d"
    years, rest = divmod(days, 365)
    if hours < 24 * 365 * 8:
        return _two_units(years, "y", rest, "d")
    return f"{years}y"


def _two_units(big: int, big_unit: str, rest: int, rest_unit: str) -> str:
    """``3h``, or ``3h20m`` when the smaller unit's part is not zero (HumanDuration's pairs)."""
    return f"{big}{big_unit}" if rest == 0 else f"{big}{big_unit}{rest}{rest_unit}"


def status_text(sync: TypeSync | None, now: datetime) -> str:
    """One type's cell, as istioctl writes it.

    ``IGNORED`` (unknown or absent), ``NOT SENT``, ``STALE (Never Acknowledged)``, else
    the status name, plus `` (<age>)`` when istiod gave a ``lastUpdated`` (xDS only;
    never for IGNORED or NOT SENT).
    """
    if sync is None:
        return m.state_text(m.UNKNOWN)
    text = m.state_text(sync.status)
    if sync.last_updated is not None and sync.status not in (m.UNKNOWN, m.NOT_SENT):
        text += f" ({human_duration(now - sync.last_updated)})"
    return text


def _stamp(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _wide_cells(proxy: ProxySync, now: datetime) -> tuple[str, str, str]:
    """OUT OF SYNC types, since when (oldest), and the errors istiod recorded."""
    bad = [t for t in proxy.types.values() if t.status in OUT_OF_SYNC]
    names = ",".join(m.short_name(t.type_url) for t in bad) or "-"
    times = [t.since for t in bad if t.since is not None]
    if not bad:
        since = "-"
    elif not times:
        since = "unknown"
    else:
        oldest = min(times)
        since = f"{human_duration(now - oldest)} ({_stamp(oldest)})"
    errors = "; ".join(
        f"{m.short_name(t.type_url)}: {t.error}" for t in proxy.types.values() if t.error
    )
    return names, since, errors or "-"


def _seen(proxies: list[ProxySync]) -> list[str]:
    seen: dict[str, None] = {}
    for proxy in proxies:
        seen.update(dict.fromkeys(proxy.types))
    return list(seen)


def subscribed_types(proxy: ProxySync, order: list[str], now: datetime) -> str:
    """``N (CDS,LDS,...)``: the types (in ``order``) whose status is not IGNORED, or ``0``."""
    names = [
        m.short_name(url)
        for url in order
        if status_text(proxy.types.get(url), now) != m.state_text(m.UNKNOWN)
    ]
    return f"{len(names)} ({','.join(names)})" if names else "0"


def default_layout(doc: SyncDocument) -> str:
    """What istioctl prints for this answer: ``fixed`` for legacy HTTP, ``types`` for xDS."""
    return "fixed" if doc.kind == "legacy" else "types"


def normalize_layout(name: str) -> str | None:
    """The layout called ``name`` (``verbose`` = ``per-type``), or None."""
    key = name.lower()
    key = LAYOUT_ALIASES.get(key, key)
    return key if key in LAYOUTS else None


def view(
    doc: SyncDocument,
    flt: StatusFilter | None = None,
    layout: str = "auto",
    now: datetime | None = None,
    shown: bool = False,
) -> ViewResult:
    """The status table of every proxy that passes ``flt``, in ``layout``.

    ``shown``: the output shows each proxy's out-of-sync types (-o wide, json, yaml), so
    no note says which are (see :func:`_out_of_sync_note`).

    ``auto`` is :func:`default_layout`: istioctl's table for the kind of answer.

    Rows sort by proxy ID (xDS) or by cluster ID then proxy ID (legacy), as istioctl.
    json/yaml give what istiod answered, less the proxies the filter dropped: a lone xDS
    answer as the DiscoveryResponse itself (istioctl's output), else the answers keyed
    as in the file (``{istiod: answer}``), a legacy bare array as an array.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}")  # the CLI checks it first
    if layout == "auto":
        layout = default_layout(doc)
    flt = flt or StatusFilter()
    now = now or datetime.now(UTC)
    every = list(doc.proxies())
    proxies = [p for p in every if flt.matches(p)]
    # istioctl uses sort.Slice here too, but feeds it from a Go map of istiod answers
    # (random order; the xDS variant even re-sorts after every proxy), so ties (one
    # node ID from two istiods) have no reproducible order. Node IDs are unique within
    # one answer, and without ties every sort agrees: Python's is kept.
    if doc.kind == "legacy":
        proxies.sort(key=lambda p: (p.cluster, p.name))
    else:
        proxies.sort(key=lambda p: p.name)
    table = _table(proxies, layout, now)

    note = None
    if not proxies:
        note = f"No proxies found in {doc.label}."
        if every:
            note = f"No proxies in namespace {flt.namespace!r} ({len(every)} in other namespaces)."
    else:
        note = None if shown else _out_of_sync_note(proxies, layout)
    return ViewResult(table, lambda: doc.raw_with(proxies), note)


def _out_of_sync_note(proxies: list[ProxySync], layout: str) -> str | None:
    """A line naming the proxies istiod says are out of sync, when the table hides it.

    istioctl's SUBSCRIBED TYPES table (the ``types`` layout, its default for the xDS
    answer) shows no STALE or ERROR at all: every row reads like a healthy one
    (istio/istio#13492, #51612). The other layouts show each type's state in its cell.
    """
    if layout != "types":
        return None
    bad = [p for p in proxies if any(t.status in OUT_OF_SYNC for t in p.types.values())]
    if not bad:
        return None
    names = ", ".join(p.name for p in bad[:3]) + (
        f" and {len(bad) - 3} more" if len(bad) > 3 else ""
    )
    return (
        f"note: {len(bad)} of {len(proxies)} prox{'y' if len(proxies) == 1 else 'ies'} "
        f"out of sync with istiod, which this table does not show: {names}; -o wide names "
        "the types (STALE: a push not acknowledged, slow or rejected), since when and "
        "istiod's error; pdebug diff POD shows what differs"
    )


def _table(proxies: list[ProxySync], layout: str, now: datetime) -> Table:
    seen = _seen(proxies)
    cols: tuple[str, ...]
    rows: list[tuple[str, ...]]
    if layout == "types":
        first = [u for u in FIRST_TYPES if u in seen]
        order = first + sorted(u for u in seen if u not in FIRST_TYPES)
        cols = ("NAME", "CLUSTER", "ISTIOD", "VERSION", "SUBSCRIBED TYPES")
        rows = [
            (p.name, p.cluster, p.istiod, p.version, subscribed_types(p, order, now))
            for p in proxies
        ]
    else:
        types = list(FIXED_TYPES)
        if layout == "per-type":
            types = sorted(set(seen) | set(FIXED_TYPES))
        cols = ("NAME", "CLUSTER", *(m.short_name(u) for u in types), "ISTIOD", "VERSION")
        rows = [
            (
                p.name,
                p.cluster,
                *(status_text(p.types.get(u), now) for u in types),
                p.istiod,
                p.version,
            )
            for p in proxies
        ]
    table = Table(
        tuple(Column(c) for c in cols) + _WIDE,
        padding=5,
        header_when_empty=True,
        empty_message="No proxies found.",
    )
    table.rows = [row + _wide_cells(p, now) for row, p in zip(rows, proxies, strict=True)]
    return table
