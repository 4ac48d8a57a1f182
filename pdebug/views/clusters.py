"""``pdebug clusters``: istioctl's cluster summary, plus state and endpoint health in wide.

Cluster records (name parts, state, type) come from :mod:`pdebug.model.clusters`, the
HEALTHY count from :func:`pdebug.model.health.endpoint_health`; this module holds
istioctl's filters, columns and row order.
"""

from __future__ import annotations

import operator
from collections import Counter
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import msgspec

from pdebug.gosort import go_sort_by_key
from pdebug.model import ProxyData
from pdebug.model import schema as s
from pdebug.model.clusters import (
    SORT_KEYS,
    STATE_KEYS,
    ClusterName,
    ClusterRecord,
    extension_type,
    lb_policy,
    own_assignment,
    split_name,
    table_type,
)
from pdebug.model.clusters import records as cluster_records
from pdebug.model.health import HEALTHY, endpoint_health, host_health
from pdebug.model.light import clusters_of, destination_rule, rows_of
from pdebug.views.common import bare, istio_config_ref, or_dash
from pdebug.views.result import ViewResult
from pdebug.views.table import Column, Table

if TYPE_CHECKING:
    from pdebug.model.dump import ConfigDump
    from pdebug.model.hosts import Facts

COLUMNS = (
    Column("SERVICE FQDN"),
    Column("PORT"),
    Column("SUBSET"),
    Column("DIRECTION"),
    Column("TYPE"),
    Column("DESTINATION RULE"),
    Column("STATE", wide=True),
    Column("LB POLICY", wide=True),
    Column("ENDPOINTS", wide=True),
    Column("HEALTHY", wide=True),
    Column("VERSION", wide=True),
    Column("LAST UPDATED", wide=True),
)


class ClusterFilter(msgspec.Struct, frozen=True):
    """istioctl's cluster filters: each is a substring test on the full cluster name."""

    fqdn: str | None = None
    port: int | None = None
    subset: str | None = None
    direction: str | None = None

    def matches(self, name: str) -> bool:
        """True when ``name`` passes every filter that is set."""
        if self.fqdn and self.fqdn not in name:
            return False
        if self.port is not None and f"|{self.port}|" not in name:
            return False
        if self.subset and self.subset not in name:
            return False
        return not (self.direction and self.direction not in name)

    @property
    def empty(self) -> bool:
        """Whether no filter is set."""
        return not (self.fqdn or self.port is not None or self.subset or self.direction)


#: One selected cluster (the model's record: entry, state, parsed name, ref).
ClusterRow = ClusterRecord


def select(data: ProxyData, flt: ClusterFilter, include_warming: bool) -> list[ClusterRow]:
    """Dynamic active then static clusters (warming too when asked), sorted and filtered.

    Sort: fqdn, subset, port, direction, with Go's ``sort.Slice`` over all clusters and
    the filter applied afterwards, as istioctl does (the order matters for ties).
    """
    dump = data.need_dump("the clusters view")
    dump.require("clusters")
    states = ("ACTIVE", "STATIC", "WARMING") if include_warming else ("ACTIVE", "STATIC")
    found = list(cluster_records(dump, states))
    if not flt.empty:
        # istioctl sorts every cluster and filters afterwards. When the picked rows have
        # distinct keys, any correct sort leaves them in key order, so sorting only them
        # is the same answer and skips parsing the other names (--fqdn on 20k clusters).
        rows = [r for r in found if flt.matches(r.name)]
        if len({r.key.sort_key() for r in rows}) == len(rows):
            rows.sort(key=_sort_key)
            return rows
    rows = found
    # Two clusters tie only when their names parse alike (a non-numeric port reads as 0,
    # a host holding a separator reads as ""), which Istio does not generate; with no tie
    # go_sort_by_key is Python's own sort, so the 5k-20k cluster benchmark stays fast.
    go_sort_by_key(rows, _sort_key)
    if not flt.empty:
        rows = [r for r in rows if flt.matches(r.entry.cluster.name)]
    return rows


def _sort_key(row: ClusterRow) -> tuple[str, str, int, str]:
    return row.key.sort_key()


def endpoint_counts(data: ProxyData) -> dict[str, tuple[int, int]]:
    """Cluster name -> (endpoints, healthy), from /clusters health when given, else EDS."""
    counts: dict[str, tuple[int, int]] = {}
    if data.health is not None:
        for status in data.health.statuses:
            total = len(status.host_statuses)
            healthy = sum(1 for h in status.host_statuses if host_health(h) == HEALTHY)
            counts[status.name] = (total, healthy)
        return counts
    dump = data.dump
    if dump is None or not dump.has("endpoints"):
        return counts
    known = _run_counts(dump)  # pdebug report's worker: its EDS facts counted them (#17)
    if known is not None:
        return known
    total_c: Counter[str] = Counter()
    healthy_c: Counter[str] = Counter()
    is_healthy: dict[str, bool] = {}  # endpoint_health once per distinct EDS status
    for key in ("dynamic_endpoint_configs", "static_endpoint_configs"):
        for entry in dump.endpoint_entries(key).items:
            cla = entry.endpoint_config
            statuses = [lb.health_status for group in cla.endpoints for lb in group.lb_endpoints]
            if not statuses:
                continue
            distinct = set(statuses)
            for st in distinct.difference(is_healthy):
                is_healthy[st] = endpoint_health(st) == HEALTHY
            name = cla.cluster_name
            total_c[name] += len(statuses)
            # counted per distinct status (a cluster's hosts share one or a few)
            n = sum(statuses.count(st) for st in distinct if is_healthy[st])
            if n:
                healthy_c[name] += n
    return {name: (total_c[name], healthy_c[name]) for name in total_c}


def _run_counts(dump: ConfigDump) -> dict[str, tuple[int, int]] | None:
    """:func:`endpoint_counts` from :func:`~pdebug.model.hosts.eds_facts`'s runs.

    Cluster name -> (endpoints, healthy) of each cluster with hosts, in section order, as
    :func:`endpoint_counts` counts the assignments, when ``eds_facts`` ran
    in this process and found one assignment per cluster (``pdebug report``'s worker,
    before its tables: #17); None otherwise. A run's ``UNKNOWN`` stands for ``""`` too:
    both are healthy (:func:`~pdebug.model.health.endpoint_health`).
    """
    from pdebug.model.hosts import EDS_RUNS

    items: list[Facts] | None = dump.facts.get(EDS_RUNS)
    if items is None:
        return None
    healthy_of: dict[str, bool] = {}
    out: dict[str, tuple[int, int]] = {}
    for name, run, _kept in items:
        if not run:
            continue
        total = healthy = 0
        for i in range(0, len(run), 2):
            status, n = run[i], run[i + 1]
            total += n
            ok = healthy_of.get(status)
            if ok is None:
                ok = healthy_of[status] = endpoint_health(status) == HEALTHY
            if ok:
                healthy += n
        out[name] = (total, healthy)
    return out


def cells(row: ClusterRow, prefix_names: bool = False) -> tuple[str, ...]:
    """The six istioctl cells of a cluster row."""
    return _cells(row.entry.cluster, row.key, prefix_names)


def _cells(c: s.Cluster, k: ClusterName, prefix_names: bool = False) -> tuple[str, ...]:
    if k.istio:
        head: tuple[str, ...] = (k.fqdn, str(k.port), or_dash(k.subset), k.direction)
    else:
        fqdn = f"cluster/{c.name}" if prefix_names else c.name
        head = (fqdn, "-", "-", "-")
    return (*head, table_type(c), istio_config_ref(c.metadata))


def _plain_rows(data: ProxyData) -> list[tuple[str, ...]]:
    """The rows of the table without filters or ``-o wide``, in one pass over the clusters.

    The same rows in the same order as :func:`select` then :func:`cells`, without a
    :class:`ClusterRow` or a :class:`ClusterName` per cluster: the name is split by
    :func:`~pdebug.model.clusters.split_name` (the rule of :meth:`ClusterName.parse`), and
    the sort sees the same keys in the same order.
    """
    return [row for _, row, _ in _plain_keyed(data, share=False)]


def plain_named_rows(data: ProxyData) -> list[tuple[str, tuple[str, ...]]]:
    """``(cluster name, row)`` of each row of :func:`_plain_rows`, in its order."""
    return [(name, row) for _, row, name in _plain_keyed(data)]


_Keyed = tuple[tuple[str, str, int, str], tuple[str, ...], str]


def _plain_keyed(data: ProxyData, share: bool = True) -> list[_Keyed]:
    """The keyed rows in table order; ``share``: also each name's sort key, for ``all``."""
    dump = data.need_dump("the clusters view")
    dump.require("clusters")
    made = rows_of(dump)  # made by the load, from two halves of the section at once
    if made is not None:
        keyed: list[_Keyed] = list(made)
    else:
        light = clusters_of(dump)  # the same clusters, read for this table only (#17)
        if light is not None:
            keyed = light_keyed(light.dynamic_active_clusters)
            keyed += light_keyed(light.static_clusters)
        else:
            keyed = []
            for key in ("dynamic_active_clusters", "static_clusters"):
                keyed += _keyed(dump.cluster_entries(key).items, _config_ref)
    if share:
        # Each name's sort key, for the endpoints table of the same run (``pdebug all``),
        # which orders its assignments by their clusters' names with the same rule.
        dump.facts[SORT_KEYS] = {name: order for order, _, name in keyed}
    go_sort_by_key(keyed, _FIRST)  # a C key: no Python call per cluster
    return keyed


def _keyed(items: Iterable[Any], ref_of: Callable[[Any], str]) -> list[_Keyed]:
    """The keyed rows of ``items`` (cluster entries), in their order."""
    keyed: list[_Keyed] = []
    add = keyed.append
    for entry in items:
        c = entry.cluster
        name = c.name
        if not name:  # ClusterEntry.absent
            continue
        kind = c.type or "STATIC"  # table_type
        ref = ref_of(c)
        parts = split_name(name)
        if parts is not None:
            direction, port, subset, host = parts
            add(
                (
                    (host, subset, port, direction),
                    (host, str(port), subset or "-", direction, kind, ref),
                    name,
                )
            )
            continue
        add(((name, "", 0, ""), (name, "-", "-", "-", kind, ref), name))
    return keyed


def light_keyed(entries: list[Any]) -> list[_Keyed]:
    """The keyed rows of light cluster entries (:mod:`pdebug.model.light`), in order.

    What the load may make of each half of a big clusters section in its own process
    (``light_tables(rows=...)``): tuples of str and int, which ``marshal`` carries.
    """
    return _keyed(entries, destination_rule)


def _config_ref(c: s.Cluster) -> str:
    return istio_config_ref(c.metadata)


_FIRST: Callable[[_Keyed], tuple[str, str, int, str]] = operator.itemgetter(0)


def view(
    data: ProxyData,
    flt: ClusterFilter,
    wide: bool = False,
    structured: bool = False,
    light: bool = False,
) -> ViewResult:
    """Build the clusters table (and the raw clusters for json/yaml).

    ``structured`` (json/yaml print only the raw clusters): the unfiltered table's rows
    are not built; the note (all warming) is said only when no active cluster is printed.
    ``light``: the unfiltered wide rows may read the light decode (:func:`_wide_lists`),
    for a caller that reads no other part of the clusters (``pdebug report``'s tables).
    """
    if flt.empty and not wide:
        table = Table(COLUMNS, empty_message="No clusters found.")
        if structured:
            # The table is not built: whether it would be empty is whether a cluster is
            # active (the warming ones are left out of both).
            active = select(data, flt, include_warming=False)
            note = None if active else _warming_note(data)
            return ViewResult(table, lambda: [bare(r.ref.resolve()) for r in active], note)
        table.rows = _plain_rows(data)
        objects = lambda: [bare(r.ref.resolve()) for r in select(data, flt, include_warming=False)]  # noqa: E731
        return ViewResult(table, objects, None if table.rows else _warming_note(data))
    if flt.empty and wide and not structured:
        table = Table(COLUMNS, empty_message="No clusters found.")
        table.rows = _wide_rows(data, light)
        every = lambda: [bare(r.ref.resolve()) for r in select(data, flt, include_warming=True)]  # noqa: E731
        return ViewResult(table, every, None)
    rows = select(data, flt, include_warming=wide)
    counts = endpoint_counts(data) if wide else {}
    table = Table(COLUMNS, empty_message="No clusters found.")
    for row in rows:
        base = cells(row)
        if wide:
            c = row.entry.cluster
            total, healthy = _wide_counts(c, counts)
            if c.cluster_type is not None:  # STATIC in the table, as istioctl; say what it is
                base = (*base[:4], extension_type(c), *base[5:])
            base = (
                *base,
                row.state,
                lb_policy(c),
                total,
                healthy,
                or_dash(row.entry.version_info),
                or_dash(row.entry.last_updated),
            )
        table.rows.append(base)
    note = None if rows or flt.empty else "No clusters match the filter."
    if not rows and not wide and not flt.empty:
        note = _warming_note(data, flt) or note
    return ViewResult(table, lambda: [bare(r.ref.resolve()) for r in rows], note)


def _wide_rows(data: ProxyData, light: bool = False) -> list[tuple[str, ...]]:
    """The unfiltered ``-o wide`` rows, in one pass over the clusters (``pdebug report``).

    The rows of :func:`select` (warming clusters too) then :func:`cells` and the wide
    cells, in the same order (the same keys in the same order for the Go sort), without
    a :class:`ClusterRow` or a :class:`ClusterName` per cluster (see :func:`_plain_keyed`).
    """
    dump = data.need_dump("the clusters view")
    dump.require("clusters")
    counts = endpoint_counts(data)
    keyed: list[tuple[tuple[str, str, int, str], tuple[str, ...]]] = []
    add = keyed.append
    for state, entries, ref_of in _wide_lists(dump, light):
        for entry in entries:
            c = entry.cluster
            name = c.name
            if not name:  # ClusterEntry.absent
                continue
            total, healthy = _wide_counts(c, counts)
            tail = (
                # table_type, or the cluster_type extension's name (as the filtered path)
                extension_type(c) if c.cluster_type is not None else c.type or "STATIC",
                ref_of(c),
                state,
                lb_policy(c),
                total,
                healthy,
                entry.version_info or "-",  # or_dash
                entry.last_updated or "-",
            )
            parts = split_name(name)
            if parts is not None:
                direction, port, subset, host = parts
                add(
                    (
                        (host, subset, port, direction),
                        (host, str(port), subset or "-", direction, *tail),
                    )
                )
            else:
                add(((name, "", 0, ""), (name, "-", "-", "-", *tail)))
    go_sort_by_key(keyed, _first_of)
    return [row for _, row in keyed]


def _wide_lists(dump: ConfigDump, light: bool) -> list[tuple[str, list[Any], Callable[[Any], str]]]:
    """Each state's cluster entries for :func:`_wide_rows`, and how to read DESTINATION RULE.

    With ``light``, the active and static clusters of the light decode
    (:func:`~pdebug.model.light.clusters_of`, what the plain table reads) when the
    section has not been decoded fully yet (``pdebug report``'s worker: ~0.02 s less than
    copying and decoding each cluster's ``filter_metadata.istio`` again, and 24 MB less
    memory, #17), else the full decode's. Not for a caller that then reads the clusters
    fully (``pdebug all``: both decodes). The light decode takes a section only where
    the full one would take it as it is, and reads the same ``istio.config``: the same
    cells. The warming clusters are always read through
    :meth:`~pdebug.model.dump.ConfigDump.cluster_entries` (the light decode decoded them
    with the full type; it says a placeholder skipped, as before).
    """
    found = clusters_of(dump) if light else None
    if found is None:
        return [
            (state, dump.cluster_entries(STATE_KEYS[state]).items, _config_ref)
            for state in ("ACTIVE", "STATIC", "WARMING")
        ]
    return [
        ("ACTIVE", found.dynamic_active_clusters, destination_rule),
        ("STATIC", found.static_clusters, destination_rule),
        ("WARMING", dump.cluster_entries(STATE_KEYS["WARMING"]).items, _config_ref),
    ]


def _first_of(item: tuple[tuple[str, str, int, str], tuple[str, ...]]) -> tuple[str, str, int, str]:
    return item[0]


def _warming_note(data: ProxyData, flt: ClusterFilter | None = None) -> str | None:
    """Said when the table is empty only because every cluster (matching) is still warming."""
    n = len(select(data, flt or ClusterFilter(), include_warming=True))
    if not n:
        return None
    head = (
        "No clusters found" if flt is None or flt.empty else "No active cluster matches the filter"
    )
    return (
        f"{head}: {n} warming (received, not serving yet), left out as istioctl"
        " does; -o wide lists them, pdebug check says what they wait for."
    )


def _wide_counts(c: s.Cluster, counts: dict[str, tuple[int, int]]) -> tuple[str, str]:
    if c.name in counts:
        total, healthy = counts[c.name]
        return str(total), str(healthy)
    own = own_assignment(c)  # load_assignment, or v2 ``hosts``
    if own is not None:
        n = sum(len(g.lb_endpoints) for g in own.endpoints)
        return str(n), "-"
    return "-", "-"
