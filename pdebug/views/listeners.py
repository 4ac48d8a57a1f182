"""``pdebug listeners``: istioctl's verbose listener table (one row per filter chain).

The listeners, their states and filters are facts of :mod:`pdebug.model.listeners`
(whose filter helpers are re-exported here for older callers); this module holds
istioctl's presentation rules: TYPE, MATCH, DESTINATION and the row order.
"""

from __future__ import annotations

from collections import Counter

import msgspec

from pdebug.errors import InvalidInput
from pdebug.gosort import go_sort_by_key
from pdebug.model import ProxyData
from pdebug.model import schema as s
from pdebug.model.address import bind_host, port_of
from pdebug.model.dump import Ref
from pdebug.model.listeners import (
    HCM,
    LEGACY_NAMES,
    TCP_PROXY,
    ListenerFacts,
    api_listener_filter,
    chains,
    decode_filter,
    filter_config,
    is_sni_cluster,
    matcher_chain_conditions,
    network_kind,
)
from pdebug.views.common import bare, cluster_label, inline_route_description
from pdebug.views.listener_notes import chainless_note, is_udp, other_ports_note, udp_note
from pdebug.views.result import ViewResult
from pdebug.views.table import Column, Table

COLUMNS = (
    Column("NAME", wide=True),
    Column("ADDRESSES"),
    Column("PORT"),
    Column("MATCH"),
    Column("DESTINATION"),
    Column("STATE", wide=True),
    Column("VERSION", wide=True),
    Column("LAST UPDATED", wide=True),
)
SHORT_COLUMNS = (Column("ADDRESSES"), Column("PORT"), Column("TYPE"))

__all__ = [
    "HCM",
    "LEGACY_NAMES",
    "TCP_PROXY",
    "ListenerFilter",
    "ListenerRow",
    "chain_destination",
    "chain_match",
    "chain_rows",
    "chains",
    "decode_filter",
    "filter_config",
    "listener_type",
    "network_kind",
    "select",
    "view",
]

# application_protocols lists istioctl recognises as a whole, and their labels.
_APP_LABELS = {
    ("http/1.0", "http/1.1", "h2c", "istio-http/1.0", "istio-http/1.1", "istio-h2"): "HTTP TLS",
    ("istio", "istio-http/1.0", "istio-http/1.1", "istio-h2"): "Istio HTTP Plain",
    ("istio-peer-exchange", "istio"): "TCP TLS",
    ("http/1.0", "http/1.1", "h2c"): "HTTP",
}


class ListenerFilter(msgspec.Struct, frozen=True):
    """``--address`` (any address, case-insensitive), ``--port``, ``--type`` (HTTP, TCP...)."""

    address: str | None = None
    port: int | None = None
    type: str | None = None

    @property
    def empty(self) -> bool:
        """Whether no filter is set."""
        return self.address is None and self.port is None and self.type is None


class ListenerRow(msgspec.Struct):
    """One selected listener."""

    ref: Ref
    listener: s.Listener
    camel: bool
    state: str
    version: str
    last_updated: str
    addresses: list[str]
    port: int
    type: str


def _tree_matches(vh: s.VirtualHost) -> list[str]:
    """MATCH of each route a virtual host's matcher tree can pick (as `routes` lists)."""
    from pdebug.views.routes import matcher_routes

    return [match for match, _ in matcher_routes(vh)]


def _decode_filter(f: s.TypedExtension, tp: type[msgspec.Struct], camel: bool) -> msgspec.Struct:
    return decode_filter(f, tp, camel, f"filter {f.name}")


def listener_type(listener: s.Listener) -> str:
    """HTTP, TCP, HTTP+TCP or UNKNOWN, counting HCM and tcp_proxy filters by name.

    A tcp_proxy that mentions BlackHoleCluster anywhere does not count (istioctl).
    The legacy names (``envoy.http_connection_manager``) count for nothing, as in
    istioctl: such a listener's TYPE is UNKNOWN (its DESTINATION is read all the same).
    """
    http = tcp = 0
    for chain in chains(listener):
        for f in chain.filters:
            if f.name == HCM:
                http += 1
            elif f.name == TCP_PROXY and b"BlackHoleCluster" not in bytes(f.typed_config):
                tcp += 1
    if http and tcp:
        return "HTTP+TCP"
    if http:
        return "HTTP"
    if tcp:
        return "TCP"
    return "UNKNOWN"


def chain_match(chain: s.FilterChain) -> str:
    """Istioctl's MATCH cell for a filter chain."""
    m = chain.filter_chain_match
    if m is None:
        return "ALL"
    parts = []
    if m.server_names:
        parts.append("SNI: " + ",".join(m.server_names))
    if m.transport_protocol:
        parts.append("Trans: " + m.transport_protocol)
    if m.application_protocols:
        label = _APP_LABELS.get(tuple(m.application_protocols))
        parts.append("App: " + (label or ",".join(m.application_protocols)))
    if m.prefix_ranges:
        text = "Addr: " + ",".join(f"{r.address_prefix}/{r.prefix_len}" for r in m.prefix_ranges)
        if m.destination_port:
            text += f":{m.destination_port}"
        parts.append(text)
    elif m.destination_port:
        parts.append(f"Addr: *:{m.destination_port}")
    return "; ".join(parts) if parts else "ALL"


def chain_destination(chain: s.FilterChain, camel: bool) -> str:
    """Istioctl's DESTINATION cell: the first HCM or non-BlackHole tcp_proxy decides.

    Filters are recognised by name, as istioctl does, by their Envoy <= 1.14 names, and
    by their ``typed_config`` type whatever their name (Envoy picks a filter by its type:
    Envoy's own ``internal_listener_proxy.yaml`` names its tcp_proxy filters ``tcp``);
    istioctl prints ``Non-HTTP/Non-TCP`` for those, which is not true. A tcp_proxy after
    an SNI cluster filter goes to the cluster the SNI names (istioctl prints the
    tcp_proxy's own, often empty: ``Cluster: ``).
    """
    sni = False
    for f in chain.filters:
        if is_sni_cluster(f):
            sni = True
            continue
        kind = network_kind(f)
        if kind == HCM:
            try:
                hcm = _decode_filter(f, s.HttpConnectionManager, camel)
            except InvalidInput as exc:  # istioctl prints the decode error in the cell
                return exc.message
            assert isinstance(hcm, s.HttpConnectionManager)
            if hcm.route_config is not None:
                return inline_route_description(hcm.route_config, _tree_matches)
            if hcm.rds is not None and hcm.rds.route_config_name:
                return f"Route: {hcm.rds.route_config_name}"
            return "HTTP"
        if kind == TCP_PROXY:
            if b"BlackHoleCluster" in bytes(filter_config(f)):
                continue
            tcp = _decode_filter(f, s.TcpProxy, camel)
            assert isinstance(tcp, s.TcpProxy)
            own = tcp.cluster or _v1_cluster(tcp)
            if sni:
                return f"Cluster: the SNI's (sni_cluster){f', else {own}' if own else ''}"
            weighted = tcp.weighted_clusters.clusters if tcp.weighted_clusters else []
            if not own and weighted:
                # istioctl reads only `cluster` and prints "Cluster: " (as if nowhere)
                return "Cluster: " + ",".join(f"{c.name}:{c.weight or 0}" for c in weighted)
            return cluster_label(own)
    return "Non-HTTP/Non-TCP"


def _v1_cluster(tcp: s.TcpProxy) -> str:
    """The one cluster of a ``deprecated_v1`` tcp_proxy (Envoy <= 1.8), else ``""``.

    istioctl reads only ``cluster`` and prints ``Cluster: `` for it; its routes name the
    cluster (Istio 1.0 wrote one route per listener). Several clusters stay ``""``.
    """
    v1 = tcp.value.route_config if tcp.value is not None else None
    names = {r.cluster for r in v1.routes if r.cluster} if v1 is not None else set()
    return names.pop() if len(names) == 1 else ""


def _addresses(listener: s.Listener) -> list[str]:
    out = [bind_host(listener.address)]
    for extra in listener.additional_addresses:
        if extra.address is not None and extra.address.socket_address is not None:
            out.append(extra.address.socket_address.address)
    return out


def _extra_ports(row: ListenerRow) -> list[int]:
    """The ports of the listener's ``additional_addresses`` (Envoy listens on each).

    istioctl's --port reads the first address only; a listener Envoy runs on the port is
    still the port's listener.
    """
    return [
        extra.address.socket_address.port_value
        for extra in row.listener.additional_addresses
        if extra.address is not None and extra.address.socket_address is not None
    ]


def select(data: ProxyData, flt: ListenerFilter, include_inactive: bool) -> list[ListenerRow]:
    """Dynamic listeners with an active state, then static ones; filtered and sorted.

    With ``include_inactive`` (``-o wide``) warming and draining listeners are added, and
    rejected ones (STATE ``ERROR``; see :mod:`pdebug.model.listeners` for the twin).
    Sort: port, main address, type (istioctl's order; stable for ties).
    """
    dump = data.need_dump("the listeners view")
    dump.require("listeners")
    facts = ListenerFacts(dump)
    rows: list[ListenerRow] = []
    for e in facts.dynamic:
        dyn = e.entry
        st = e.shown
        if dyn.active_state is not None:
            st = dyn.active_state
        elif not include_inactive:
            continue
        if (st is None or st.listener is None) and dyn.error_state is not None:
            lst = e.failed()
            if lst is not None and not facts.is_twin(e):
                rows.append(
                    _row(
                        e.ref("error_state", "failed_configuration"),
                        lst,
                        facts.camel,
                        "ERROR",
                        dyn.error_state.version_info,
                        dyn.error_state.last_update_attempt,
                    )
                )
            continue
        if st is None or st.listener is None:
            continue
        rows.append(
            _row(
                e.state_ref(st),
                st.listener,
                facts.camel,
                e.state_text,
                st.version_info,
                st.last_updated,
            )
        )
    static = facts.static
    for i, stat in enumerate(static.items):
        if stat.listener is not None:
            rows.append(
                _row(
                    static.ref(i, "listener"),
                    stat.listener,
                    facts.camel,
                    "STATIC",
                    "",
                    stat.last_updated,
                )
            )
    rows = [r for r in rows if _matches(r, flt)]
    # istioctl: sort.Slice after filtering, less = port, then address, then type.
    go_sort_by_key(rows, _listener_key)
    return rows


def _listener_key(row: ListenerRow) -> tuple[int, str, str]:
    return (row.port, row.addresses[0], row.type)


def _row(
    ref: Ref, lst: s.Listener, camel: bool, state: str, version: str, updated: str
) -> ListenerRow:
    return ListenerRow(
        ref,
        lst,
        camel,
        state,
        version,
        updated,
        _addresses(lst),
        port_of(lst.address),
        listener_type(lst),
    )


def _matches(row: ListenerRow, flt: ListenerFilter) -> bool:
    if flt.address is not None and flt.address.lower() not in (a.lower() for a in row.addresses):
        return False
    if flt.port is not None and row.port != flt.port and flt.port not in _extra_ports(row):
        return False
    return not (flt.type is not None and row.type.lower() != flt.type.lower())


def chain_rows(row: ListenerRow, wide: bool = False) -> list[tuple[str, str]]:
    """(MATCH, DESTINATION) per chain, sorted by DESTINATION descending.

    istioctl: ``sort.Slice`` with less = ``a.destination > b.destination``; ties keep
    chain order up to 12 chains and follow Go's pdqsort beyond (e.g. virtualInbound).
    ``wide``: a listener choosing its chain by ``filter_chain_matcher`` (whose chains'
    own ``filter_chain_match`` Envoy ignores; istioctl says ALL) shows the matcher's
    conditions for each chain.
    """
    by_matcher = matcher_chain_conditions(row.listener) if wide else None
    out = [
        (
            chain_match(c)
            if by_matcher is None
            else "matcher: " + by_matcher.get(c.name, "never picked"),
            chain_destination(c, row.camel),
        )
        for c in chains(row.listener)
    ]
    go_sort_by_key(out, _destination, descending=True)
    return out


def port_cell(row: ListenerRow, wide: bool) -> str:
    """PORT: istioctl's number; with ``wide``, ``443/UDP`` for a UDP (QUIC) listener."""
    return f"{row.port}/UDP" if wide and is_udp(row.listener) else str(row.port)


def _destination(md: tuple[str, str]) -> str:
    return md[1]


def view(
    data: ProxyData,
    flt: ListenerFilter,
    wide: bool = False,
    verbose: bool = True,
    table_only: bool = False,
) -> ViewResult:
    """Build the listener table: one row per filter chain (``verbose``), or per listener.

    ``table_only``: the table is what is printed (not -o json/yaml, which list every
    listener), so say which listeners it cannot show.
    """
    rows = select(data, flt, include_inactive=wide)
    chainless = [r for r in rows if not chains(r.listener)] if verbose and table_only else []
    if verbose:
        table = Table(COLUMNS, padding=1, empty_message="No listeners found.")
        for row in rows:
            addresses = ",".join(row.addresses)
            cells = chain_rows(row, wide)
            if not cells and wide:  # istioctl has no row for it; wide says it is there
                cells = [("-", chainless_destination(row.listener, row.camel))]
            for match, dest in cells:
                table.rows.append(
                    (
                        row.listener.name,
                        addresses,
                        port_cell(row, wide),
                        match,
                        dest,
                        row.state,
                        row.version or "-",
                        row.last_updated or "-",
                    )
                )
    else:
        table = Table(SHORT_COLUMNS, padding=1, empty_message="No listeners found.")
        for row in rows:
            table.rows.append((",".join(row.addresses), port_cell(row, wide), row.type))
    note = None if rows or flt.empty else "No listeners match the filter."
    if not rows and not wide:
        note = _inactive_note(data, flt) or note
    if chainless and not wide:
        note = chainless_note(chainless, every=len(chainless) == len(rows))
    if table_only:
        other = other_ports_note(rows)
        udp = None if wide else udp_note(rows)
        note = "\n".join(n for n in (note, other, udp) if n) or None
    return ViewResult(table, lambda: [bare(r.ref.resolve()) for r in rows], note)


def chainless_destination(listener: s.Listener, camel: bool = False) -> str:
    """Where a listener without filter chains sends traffic: its UDP proxy's cluster.

    An API listener (a proxyless gRPC client's, as istiod sends it) is its connection
    manager's route: ``API listener: Route: NAME``.

    Such a listener (UDP, Envoy Gateway's UDPRoute) proxies from a listener filter,
    ``envoy.filters.udp_listener.udp_proxy``: its ``cluster`` (deprecated), or the route
    its matcher takes when nothing else matches, when that is all the matcher holds. A
    DNS filter (``envoy.filters.udp.dns_filter``, Consul's ``virtual_dns`` listener)
    answers the queries itself: no cluster, the names it serves.
    """
    api = api_listener_filter(listener)
    if api is not None:
        return "API listener: " + chain_destination(s.FilterChain(filters=[api]), camel)
    for f in listener.listener_filters:
        raw = bytes(filter_config(f))
        if f.name.endswith("dns_filter") or b"DnsFilterConfig" in raw[:200]:
            return _dns_destination(raw)
        if not f.name.endswith("udp_proxy") and b"UdpProxyConfig" not in raw[:200]:
            continue
        try:
            cfg = msgspec.json.decode(raw)
        except (msgspec.DecodeError, UnicodeDecodeError):
            return "UDP proxy"
        cluster = _udp_cluster(cfg)
        return f"UDP proxy: {cluster_label(cluster)}" if cluster else "UDP proxy"
    return "no filter chain"


def _dns_destination(raw: bytes) -> str:
    """A DNS filter's cell: the virtual domains of its inline table, answered by Envoy."""
    try:
        cfg = msgspec.json.decode(raw)
    except (msgspec.DecodeError, UnicodeDecodeError):
        return "DNS filter"
    table = _get(_get(cfg, "server_config"), "inline_dns_table")
    domains = _get(table, "virtual_domains")
    names = (
        [str(_get(d, "name")) for d in domains if isinstance(_get(d, "name"), str)]
        if isinstance(domains, list)
        else []
    )
    if not names:
        return "DNS filter: answers itself"
    more = f" and {len(names) - 2} more" if len(names) > 2 else ""
    return f"DNS filter: answers {', '.join(names[:2])}{more}"


def _get(obj: object, key: str) -> object:
    """Field ``key`` (snake_case) of a decoded JSON object in either spelling."""
    if not isinstance(obj, dict):
        return None
    camel = key.split("_")[0] + "".join(w.title() for w in key.split("_")[1:])
    return obj.get(key, obj.get(camel))


def _udp_cluster(cfg: object) -> str:
    cluster = _get(cfg, "cluster")
    if isinstance(cluster, str) and cluster:
        return cluster
    matcher = _get(cfg, "matcher")
    if _get(matcher, "matcher_list") is not None or _get(matcher, "matcher_tree") is not None:
        return ""  # which cluster depends on the datagram's source: not one name
    action = _get(_get(_get(matcher, "on_no_match"), "action"), "typed_config")
    cluster = _get(action, "cluster")
    return cluster if isinstance(cluster, str) else ""


def _inactive_note(data: ProxyData, flt: ListenerFilter) -> str | None:
    """Said when the table is empty only because every listener is warming/draining/rejected."""
    states = Counter(r.state for r in select(data, flt, include_inactive=True))
    if not states:
        return None
    said = ", ".join(f"{n} {state.lower()}" for state, n in sorted(states.items()))
    head = "No listeners found" if flt.empty else "No serving listener matches the filter"
    return (
        f"{head}: {said} (not serving), left out as istioctl does;"
        " -o wide lists them, pdebug check says why."
    )
