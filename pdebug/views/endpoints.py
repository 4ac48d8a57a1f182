"""Endpoints: ``pdebug eds`` (from the dump's EDS) and ``pdebug endpoints`` (live health).

``eds`` is istioctl's hidden ``proxy-config eds`` table. ``endpoints`` is istioctl's
``/clusters``-based table; given a dump with EDS too, pdebug merges both: EDS says which
endpoints exist (and their locality), ``/clusters`` says how Envoy sees their health.

One module over 500 lines because both tables are one selection: the same filters, the
same attribution of nameless assignments and the same order, each with its one-pass
path beside the general one it must equal (tests/test_fast_paths_views.py).
"""

from __future__ import annotations

import copy
import itertools
import operator
from collections.abc import Callable
from typing import Any

import msgspec

from pdebug.gosort import go_sort_by_key
from pdebug.model import ProxyData
from pdebug.model import schema as s
from pdebug.model.address import address_text as eds_address
from pdebug.model.address import host_port
from pdebug.model.clusters import SORT_KEYS, ClusterName, locality_weighted, split_name
from pdebug.model.dump import Ref
from pdebug.model.eds import Attribution, attribute
from pdebug.model.health import set_flags
from pdebug.model.sections import holds_no_clusters
from pdebug.views.common import bare
from pdebug.views.result import ViewResult
from pdebug.views.table import Column, Table

EDS_COLUMNS = (Column("NAME"), Column("STATUS"), Column("LOCALITY"), Column("CLUSTER"))
EP_COLUMNS = (
    Column("ENDPOINT"),
    Column("STATUS"),
    Column("OUTLIER CHECK"),
    Column("CLUSTER"),
    Column("HEALTH FLAGS", wide=True),
    Column("LOCALITY", wide=True),
    Column("WEIGHT", wide=True),
)


class EndpointFilter(msgspec.Struct, frozen=True):
    """``--address``, ``--port``, ``--cluster``, ``--status`` (case-insensitive equality)."""

    address: str | None = None
    port: int | None = None
    cluster: str | None = None
    status: str | None = None

    @property
    def empty(self) -> bool:
        """Whether no filter is set."""
        return self.address is None and self.port is None and not self.cluster and not self.status


def _eq(want: str | None, have: str) -> bool:
    return want is None or want.lower() == have.lower()


def cluster_selected(want: str | None, name: str) -> bool:
    """Whether ``--cluster want`` selects an assignment of cluster ``name``.

    Case-insensitive. An assignment whose cluster is not known (``name`` empty, shown as
    ``(no cluster_name)``) is selected both by ``--cluster ""`` and by the text the table
    shows for it, on every path of both tables.
    """
    if want is None:
        return True
    want = want.lower()
    return want == name.lower() or (not name and want == UNATTRIBUTED.lower())


def _locality(loc: s.Locality | None) -> str:
    if loc is None or not loc.region:
        return ""
    text = loc.region
    if loc.zone:
        text += "/" + loc.zone
        if loc.sub_zone:
            text += "/" + loc.sub_zone
    return text


def _addresses(ep: s.Endpoint | None) -> list[str]:
    if ep is None:
        return ["unknown"]
    out = [eds_address(ep.address)]
    if ep.additional_addresses:
        out.extend(eds_address(a.address) for a in ep.additional_addresses)
    return out


class EdsRow(msgspec.Struct):
    """One endpoint of a ClusterLoadAssignment (address, port, locality computed once)."""

    cla_ref: Ref
    cla: s.ClusterLoadAssignment
    group: int
    index: int
    lb: s.LbEndpoint
    addresses: list[str]
    ip: str  # the main address without port (a pipe or internal address as printed)
    port: int
    locality: str
    cluster: str  # cluster_name, or the cluster a nameless assignment is attributed to


#: CLUSTER cell of an assignment Envoy wrote without cluster_name that pdebug could not
#: attribute (the note on stderr says why).
UNATTRIBUTED = "(no cluster_name)"


def _attribution(data: ProxyData) -> Attribution:
    dump = data.need_dump("the eds view")
    return attribute(dump, data.health)


def attribution_note(data: ProxyData) -> str | None:
    """What stderr says about nameless EDS assignments, or None when there are none."""
    if data.dump is None or not data.dump.has("endpoints"):
        return None
    notes = _attribution(data).notes()
    return "; ".join(notes) if notes else None


def _join(*notes: str | None) -> str | None:
    text = "\n".join(n for n in notes if n)
    return text or None


def eds_select(data: ProxyData, flt: EndpointFilter) -> list[EdsRow]:
    """Endpoints from the EDS section, CLAs in cluster order, endpoints in dump order.

    As istioctl: CLAs left with no matching endpoint are dropped first, then the rest
    are sorted with Go's ``sort.Slice`` on the cluster key (unstable, so the order of
    the two steps matters when two CLAs share a key).
    """
    dump = data.need_dump("the eds view")
    names = _attribution(data)
    groups: list[tuple[tuple[str, str, int, str], list[EdsRow]]] = []
    for key in ("dynamic_endpoint_configs", "static_endpoint_configs"):
        entries = dump.endpoint_entries(key)
        for i, entry in enumerate(entries.items):
            cla = entry.endpoint_config
            cluster = names.cluster_of(cla)
            if not cluster_selected(flt.cluster, cluster):
                continue
            rows = _cla_rows(entries.ref(i, "endpoint_config"), cla, cluster, flt)
            if rows:
                groups.append((ClusterName.parse(cluster).sort_key(), rows))
    go_sort_by_key(groups, _group_key)
    return [row for _, rows in groups for row in rows]


def _group_key(group: tuple[tuple[str, str, int, str], list[EdsRow]]) -> tuple[str, str, int, str]:
    return group[0]


def _cla_rows(
    ref: Ref, cla: s.ClusterLoadAssignment, cluster: str, flt: EndpointFilter
) -> list[EdsRow]:
    """The endpoints of one CLA that pass the address, port and status filters."""
    rows: list[EdsRow] = []
    want_address = flt.address.lower() if flt.address is not None else None
    for gi, group in enumerate(cla.endpoints):
        locality = _locality(group.locality)
        for li, lb in enumerate(group.lb_endpoints):
            ep = lb.endpoint
            sa = ep.address.socket_address if ep is not None and ep.address else None
            if sa is not None and ep is not None and not ep.additional_addresses:
                ip, port = sa.address, sa.port_value
                addrs = [f"{ip}:{port}"]
            else:
                addrs = _addresses(ep)
                ip, port = (sa.address, sa.port_value) if sa is not None else (addrs[0], 0)
            if want_address is not None and want_address not in (a.lower() for a in addrs):
                continue
            if flt.port is not None and port != flt.port:
                continue
            if flt.status is not None and not _eq(flt.status, lb.health_status or "UNKNOWN"):
                continue
            rows.append(EdsRow(ref, cla, gi, li, lb, addrs, ip, port, locality, cluster))
    return rows


def _eds_objects(rows: list[EdsRow], flt: EndpointFilter) -> list[Any]:
    """Selected CLAs; with a filter, non-matching endpoints are removed (istioctl)."""
    out: list[Any] = []
    seen: dict[int, tuple[Any, set[tuple[int, int]]]] = {}
    order: list[int] = []
    for row in rows:
        key = id(row.cla)
        if key not in seen:
            seen[key] = (bare(row.cla_ref.resolve()), set())  # the CLA, as istioctl
            order.append(key)
        seen[key][1].add((row.group, row.index))
    for key in order:
        cla, keep = seen[key]
        if flt.empty:
            out.append(cla)
            continue
        cla = copy.deepcopy(cla)
        for gi, group in enumerate(cla.get("endpoints", [])):
            lbs_key = "lb_endpoints" if "lb_endpoints" in group else "lbEndpoints"
            if lbs_key in group:
                kept = [e for li, e in enumerate(group[lbs_key]) if (gi, li) in keep]
                if kept:
                    group[lbs_key] = kept
                else:
                    del group[lbs_key]
        out.append(cla)
    return out


def eds_view(data: ProxyData, flt: EndpointFilter, prefix: str = "") -> ViewResult:
    """Istioctl's eds table: NAME STATUS LOCALITY CLUSTER (header only when empty)."""
    table = Table(EDS_COLUMNS, header_when_empty=True, empty_message="No endpoints found.")
    table.rows = eds_cells(data, flt, prefix)
    note = None if table.rows or flt.empty else _eds_no_match(flt)
    return ViewResult(
        table,
        lambda: _eds_objects(eds_select(data, flt), flt),
        _join(note, attribution_note(data)),
    )


def eds_cells(data: ProxyData, flt: EndpointFilter, prefix: str = "") -> list[tuple[str, ...]]:
    """The eds table's rows straight from the CLAs, without a row object per endpoint.

    The same rows in the same order as :func:`eds_select` then the cells of
    :func:`eds_view`: the same filters, the same groups (one per CLA with a row left),
    sorted with the same keys (:func:`~pdebug.model.clusters.split_name` is the rule of
    :meth:`ClusterName.parse`) by the same sort.
    """
    dump = data.need_dump("the eds view")
    names = _attribution(data)
    want_address = flt.address.lower() if flt.address is not None else None
    want_status = flt.status.lower() if flt.status is not None else None
    want_port = flt.port
    # Not flt.empty: an empty --status "" is a filter here (no endpoint has that status).
    unfiltered = want_address is None and want_port is None and want_status is None
    # The clusters table of the same run (``pdebug all``) has split these names already.
    known: dict[str, tuple[str, str, int, str]] = dump.facts.get(SORT_KEYS) or {}
    groups: list[tuple[tuple[str, str, int, str], list[tuple[str, ...]]]] = []
    rows: list[tuple[str, ...]]
    for key in ("dynamic_endpoint_configs", "static_endpoint_configs"):
        for entry in dump.endpoint_entries(key).items:
            cla = entry.endpoint_config
            cluster = cla.cluster_name or names.cluster_of(cla)
            if not cluster_selected(flt.cluster, cluster):
                continue
            shown = cluster or UNATTRIBUTED
            if unfiltered:
                rows = _plain_cells(cla, prefix, shown)
                if rows:
                    groups.append((known.get(cluster) or _group_order(cluster), rows))
                continue
            rows = []
            add = rows.append
            for group in cla.endpoints:
                locality = _locality(group.locality)
                for lb in group.lb_endpoints:
                    ep = lb.endpoint
                    sa = ep.address.socket_address if ep is not None and ep.address else None
                    if sa is not None and ep is not None and not ep.additional_addresses:
                        port = sa.port_value
                        text = f"{sa.address}:{port}"
                        if want_address is not None and text.lower() != want_address:
                            continue
                    else:
                        addrs = _addresses(ep)
                        port = sa.port_value if sa is not None else 0
                        if want_address is not None and want_address not in (
                            a.lower() for a in addrs
                        ):
                            continue
                        text = ",".join(addrs)
                    if want_port is not None and port != want_port:
                        continue
                    status = lb.health_status or "UNKNOWN"
                    if want_status is not None and status.lower() != want_status:
                        continue
                    add((prefix + text, status, locality, shown))
            if rows:
                groups.append((known.get(cluster) or _group_order(cluster), rows))
    go_sort_by_key(groups, _GROUP_ORDER)
    return list(itertools.chain.from_iterable(rows for _, rows in groups))


def _plain_cells(cla: s.ClusterLoadAssignment, prefix: str, shown: str) -> list[tuple[str, ...]]:
    """The cells of every endpoint of ``cla`` (:func:`eds_cells` without a filter)."""
    rows: list[tuple[str, ...]] = []
    add = rows.append
    for group in cla.endpoints:
        locality = _locality(group.locality)
        for lb in group.lb_endpoints:
            ep = lb.endpoint
            sa = ep.address.socket_address if ep is not None and ep.address else None
            if sa is not None and ep is not None and not ep.additional_addresses:
                text = f"{prefix}{sa.address}:{sa.port_value}"
            else:
                text = prefix + ",".join(_addresses(ep))
            add((text, lb.health_status or "UNKNOWN", locality, shown))
    return rows


def _group_order(cluster: str) -> tuple[str, str, int, str]:
    """``ClusterName.parse(cluster).sort_key()``, from :func:`split_name` alone."""
    parts = split_name(cluster)
    if parts is None:
        return (cluster, "", 0, "")
    return (parts[3], parts[2], parts[1], parts[0])


_GROUP_ORDER: Callable[
    [tuple[tuple[str, str, int, str], list[tuple[str, ...]]]], tuple[str, str, int, str]
] = operator.itemgetter(0)


# --- /clusters?format=json ------------------------------------------------------------


def _host_address(host: s.HostStatus) -> tuple[str, int]:
    return host_port(host.address, pipe_scheme=True)


def health_flags(host: s.HostStatus) -> str:
    """Envoy's failure flags on a host, comma-separated, or ``-``."""
    return ",".join(code for code, _ in set_flags(host.health_status)) or "-"


def _endpoint_key(f: tuple[str, int, str, int, s.HostStatus]) -> tuple[str, int, str]:
    return (f[0], f[1], f[2])


def endpoints_view(data: ProxyData, flt: EndpointFilter, wide: bool = False) -> ViewResult:
    """ENDPOINT STATUS OUTLIER CHECK CLUSTER from ``/clusters``; EDS-only rows otherwise.

    Sort: address (as a string), port, cluster (istioctl's order).
    """
    if data.health is None:
        return _endpoints_from_eds(data, flt, wide)
    health = data.health
    locality: dict[tuple[str, str, int], tuple[str, str] | None] = {}
    if wide and data.dump is not None and data.dump.has("endpoints"):
        weighted = locality_weighted(data.dump)
        memo: dict[int, bool] = {}
        for row in eds_select(data, EndpointFilter()):
            ep = row.lb.endpoint
            sa = ep.address.socket_address if ep and ep.address else None
            if sa is not None:
                weight = _row_weight(row, weighted, memo)
                key, seen = (row.cluster, sa.address, sa.port_value), (row.locality, weight)
                # one address in two localities (or weights) of a cluster: EDS cannot say
                # which host is which; each /clusters host says its own (None: ask it)
                locality[key] = seen if locality.get(key, seen) == seen else None
    found: list[tuple[str, int, str, int, s.HostStatus]] = []
    for ci, status in enumerate(health.statuses):
        if not _eq(flt.cluster, status.name):
            continue
        for host in status.host_statuses:
            addr, port = _host_address(host)
            eds = (host.health_status.eds_health_status if host.health_status else "") or "UNKNOWN"
            if not _eq(flt.address, addr) or (flt.port is not None and port != flt.port):
                continue
            if not _eq(flt.status, eds):
                continue
            found.append((addr, port, status.name, ci, host))
    # istioctl: sort.Slice by address, then port, then cluster name.
    go_sort_by_key(found, _endpoint_key)
    table = Table(EP_COLUMNS, header_when_empty=True, empty_message="No endpoints found.")
    for addr, port, cluster, _, host in found:
        hs = host.health_status
        eds = (hs.eds_health_status if hs else "") or "UNKNOWN"
        outlier = "FAILED" if hs is not None and hs.failed_outlier_check else "OK"
        # without EDS in the dump, /clusters says each host's locality itself
        loc, weight = locality.get((cluster, addr, port)) or (
            (_locality(host.locality) if wide else "") or "-",
            str(host.weight or "-"),
        )
        table.rows.append(
            (
                # a socket address always has its port (istioctl writes ``IP:0`` too);
                # a pipe or internal address has none
                f"{addr}:{port}" if host.address and host.address.socket_address else addr,
                eds,
                outlier,
                cluster,
                health_flags(host),
                loc or "-",
                weight,
            )
        )
    indexes = sorted({f[3] for f in found})  # document order, as istioctl prints
    note = None if found or flt.empty else _no_match(flt)
    return ViewResult(table, lambda: [health.raw_status(i) for i in indexes], note)


def _eds_no_match(flt: EndpointFilter) -> str:
    """Said when the eds filters leave no endpoint; a bare ``--address IP`` is named.

    istioctl's eds ``--address`` is ``IP:PORT`` (its endpoint ``--address`` the IP alone),
    so ``--address 10.0.0.1`` matches nothing there and here. (An IPv6 address is written
    ``::1:9080`` there, so one without a port cannot be told from one with it.)
    """
    address = flt.address or ""
    if address and ":" not in address and "/" not in address:  # an IPv4 or a name alone
        return (
            "No endpoints match the filter: --address is IP:PORT here, as istioctl's eds "
            f"(e.g. --address {address}:9080; pdebug endpoints takes the IP alone)."
        )
    return _unknown_status(flt) or "No endpoints match the filter."


def _no_match(flt: EndpointFilter) -> str:
    """Said when the filters leave no endpoint; an ``--address IP:PORT`` is named.

    istioctl's endpoint ``--address`` is the host's IP alone (its eds ``--address``
    includes the port), so ``--address 10.0.0.1:9080``, pasted from the ENDPOINT column,
    matches nothing there and here.
    """
    ip, colon, port = (flt.address or "").rpartition(":")
    if colon and ip and port.isdigit() and (":" not in ip or ip.endswith("]")):
        return (
            f"No endpoints match the filter: --address is the IP alone, as istioctl's "
            f"(--address {ip.strip('[]')} --port {port})."
        )
    return _unknown_status(flt) or "No endpoints match the filter."


#: Envoy's HealthStatus names: what EDS and /clusters say, and all --status can match.
HEALTH_STATUSES = ("HEALTHY", "UNHEALTHY", "DRAINING", "TIMEOUT", "DEGRADED", "UNKNOWN")


def _unknown_status(flt: EndpointFilter) -> str | None:
    """The note for a ``--status`` no endpoint can have (a typo reads as "none is").

    ``--status unhealty`` matched nothing and said only that: read mid-outage as "no
    endpoint is unhealthy".
    """
    if flt.status is None or flt.status.upper() in HEALTH_STATUSES:
        return None
    return (
        f"No endpoints match the filter: --status {flt.status!r} is no health status "
        f"Envoy has ({', '.join(HEALTH_STATUSES)})."
    )


def _eds_endpoint_rows(data: ProxyData, flt: EndpointFilter) -> list[EdsRow]:
    """The EDS endpoints of the endpoints table, in its order (see _endpoints_from_eds)."""
    bare = EndpointFilter(None, flt.port, flt.cluster, flt.status)
    rows = [
        r
        for r in eds_select(data, bare)
        if flt.address is None or r.ip.lower() == flt.address.lower()
    ]
    # Same order as the /clusters table. istioctl never builds this table from EDS, so
    # there is no Go order to follow for ties: a stable sort keeps them in EDS order.
    rows.sort(key=lambda r: (r.ip, r.port, r.cluster or UNATTRIBUTED))
    return rows


def _endpoints_from_eds(data: ProxyData, flt: EndpointFilter, wide: bool) -> ViewResult:
    dump = data.need_dump("the endpoints view")
    if not dump.has("endpoints") and holds_no_clusters(dump):
        table = Table(EP_COLUMNS if wide else EP_COLUMNS[:4], empty_message="No endpoints found.")
        return ViewResult(table, lambda: [], None)  # cli/_run.explain_empty says why
    dump.require("endpoints")
    cells = _eds_endpoint_cells(data, flt, wide)
    if cells is None:
        weighted = locality_weighted(dump) if wide else frozenset()
        memo: dict[int, bool] = {}
        cells = [
            (
                r.addresses[0],
                r.lb.health_status or "UNKNOWN",
                "-",
                r.cluster or UNATTRIBUTED,
                "-",
                r.locality or "-",
                _row_weight(r, weighted, memo),
            )[: len(EP_COLUMNS) if wide else 4]
            for r in _eds_endpoint_rows(data, flt)
        ]
    # Without -o wide only the first four columns are shown: the table holds just those.
    table = Table(
        EP_COLUMNS if wide else EP_COLUMNS[:4],
        header_when_empty=True,
        empty_message="No endpoints found.",
    )
    table.rows = cells
    note = "Outlier status needs live data: add --clusters-json FILE (GET /clusters?format=json)."
    if not cells and not flt.empty:
        note = _no_match(flt)
    said = _join(note, attribution_note(data))
    return ViewResult(table, lambda: _eds_objects(_eds_endpoint_rows(data, flt), flt), said)


def _eds_endpoint_cells(
    data: ProxyData, flt: EndpointFilter, wide: bool
) -> list[tuple[str, ...]] | None:
    """The table's rows straight from the CLAs, without a row object per endpoint.

    The same rows in the same order as from :func:`_eds_endpoint_rows`, when no two CLAs
    name the same cluster: rows that tie on (address, port, cluster) then come from one
    CLA, in its order, whatever order the CLAs were sorted in. Otherwise ``None``.
    """
    dump = data.need_dump("the endpoints view")
    clas = [
        entry.endpoint_config
        for key in ("dynamic_endpoint_configs", "static_endpoint_configs")
        for entry in dump.endpoint_entries(key).items
    ]
    names = _attribution(data)
    known = [names.cluster_of(cla) for cla in clas]
    effective = [name or UNATTRIBUTED for name in known]
    if len(set(effective)) != len(clas):
        return None
    # Not flt.empty: an empty --cluster "" or --status "" is a filter here.
    want_address = flt.address.lower() if flt.address is not None else None
    want_status = flt.status.lower() if flt.status is not None else None
    wants = (want_address, flt.port, want_status)
    # The order is (address, port, cluster, dump order). Sorted as three stable sorts
    # from the last key: the assignments by cluster (names are unique here, so this
    # orders whole assignments, each in dump order), then the rows by port, then by
    # address; a tie on all three keeps dump order, as the sort of the tuples did. Sorts
    # on one plain key each are faster than one sort on tuples (53k rows: 0.04 s less).
    order = sorted(range(len(clas)), key=effective.__getitem__)
    weighted = locality_weighted(dump) if wide else frozenset()
    found: list[tuple[str, int, tuple[str, ...]]] = []
    add = found.append
    for at in order:
        cla, name, raw = clas[at], effective[at], known[at]
        if not cluster_selected(flt.cluster, raw):
            continue
        # Whether the locality weights change the split (_splits_by_locality) is found
        # in the row loop, which makes its sums (#17). Where they do (rare: Envoy
        # Gateway's weighted backends), the assignment's rows are made again with them.
        check = wide and name in weighted
        start = len(found)
        if _assignment_cells(cla, name, wide, check, False, wants, add):
            del found[start:]
            _assignment_cells(cla, name, wide, False, True, wants, add)
    found.sort(key=_PORT)
    found.sort(key=_ADDRESS)
    return [f[2] for f in found]


def _assignment_cells(
    cla: s.ClusterLoadAssignment,
    name: str,
    wide: bool,
    check: bool,
    by_locality: bool,
    wants: tuple[str | None, int | None, str | None],
    add: Callable[[tuple[str, int, tuple[str, ...]]], None],
) -> bool:
    """Add the rows of ``cla`` for :func:`_eds_endpoint_cells` with ``add``.

    ``wants``: the lowered address, the port and the lowered status asked for.
    ``by_locality``: the weights say their locality's (:func:`_of_locality`).
    ``check``: answer whether the locality weights change the split
    (:func:`_splits_by_locality`, its sums made here); False otherwise.
    """
    want_address, want_port, want_status = wants
    split = False
    for group in cla.endpoints:
        locality = (_locality(group.locality) or "-") if wide else ""
        of_locality = _of_locality(group, by_locality)
        own = 0
        for lb in group.lb_endpoints:
            w = lb.load_balancing_weight or 1
            own += w
            ep = lb.endpoint
            sa = ep.address.socket_address if ep is not None and ep.address else None
            if sa is not None and ep is not None and not ep.additional_addresses:
                ip, port = sa.address, sa.port_value
                first = f"{ip}:{port}"
            else:
                first = _addresses(ep)[0]
                ip, port = (sa.address, sa.port_value) if sa is not None else (first, 0)
            if want_address is not None and ip.lower() != want_address:
                continue
            if want_port is not None and port != want_port:
                continue
            status = lb.health_status or "UNKNOWN"
            if want_status is not None and status.lower() != want_status:
                continue
            if wide:
                weight = str(w) + of_locality
                add((ip, port, (first, status, "-", name, "-", locality, weight)))
            else:
                add((ip, port, (first, status, "-", name)))
        locality_weight = group.load_balancing_weight
        if check and locality_weight is not None and locality_weight != own:
            split = True
    return split


def _of_locality(group: s.LocalityLbEndpoints, weighted: bool) -> str:
    """`` (locality N)`` when the locality weights change the cluster's split, else ""."""
    if not weighted or group.load_balancing_weight is None:
        return ""
    return f" (locality {group.load_balancing_weight})"


def _splits_by_locality(
    cla: s.ClusterLoadAssignment, cluster: str, weighted: frozenset[str]
) -> bool:
    """Whether the locality weights change how Envoy splits ``cla``'s traffic.

    Envoy splits a cluster with ``locality_weighted_lb_config`` between its localities by
    their ``load_balancing_weight`` first, then between a locality's endpoints by theirs.
    istiod sets each locality's weight to its endpoints' sum, which splits as the endpoint
    weights alone do (nothing to add); Envoy Gateway's weighted backendRefs put the split
    in the locality weights (one locality per backend, 20/40/20/20).
    """
    if cluster not in weighted:
        return False
    for group in cla.endpoints:
        own = sum(lb.load_balancing_weight or 1 for lb in group.lb_endpoints)
        if group.load_balancing_weight is not None and group.load_balancing_weight != own:
            return True
    return False


def _row_weight(row: EdsRow, weighted: frozenset[str], memo: dict[int, bool]) -> str:
    """WEIGHT: the endpoint's own, and its locality's where those change the split."""
    own = str(row.lb.load_balancing_weight or 1)
    groups = row.cla.endpoints
    if row.cluster not in weighted or not 0 <= row.group < len(groups):
        return own
    split = memo.get(id(row.cla))
    if split is None:
        split = memo[id(row.cla)] = _splits_by_locality(row.cla, row.cluster, weighted)
    if not split:
        return own
    return own + _of_locality(groups[row.group], True)


_ADDRESS = operator.itemgetter(0)
_PORT = operator.itemgetter(1)
