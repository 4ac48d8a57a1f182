"""``pdebug listeners``: istioctl's verbose listener table (one row per filter chain)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

import msgspec
import msgspec.inspect

from pdebug.errors import InvalidInput
from pdebug.gosort import go_sort_by_key
from pdebug.model import ProxyData
from pdebug.model import schema as s
from pdebug.model.dump import Ref, decode_raw
from pdebug.views.common import (
    bare,
    cluster_label,
    inline_route_description,
    port_of,
    socket_or_pipe,
)
from pdebug.views.result import ViewResult
from pdebug.views.table import Column, Table

HCM = "envoy.filters.network.http_connection_manager"
TCP_PROXY = "envoy.filters.network.tcp_proxy"
#: Envoy <= 1.14 names of the same filters (v2, usually with a ``config`` Struct).
LEGACY_NAMES = {
    "envoy.http_connection_manager": HCM,
    "envoy.tcp_proxy": TCP_PROXY,
}
_HCM_TYPE = b".HttpConnectionManager"
_TCP_TYPE = b".TcpProxy"

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

# application_protocols lists istioctl recognises as a whole, and their labels.
_APP_LABELS = {
    ("http/1.0", "http/1.1", "h2c", "istio-http/1.0", "istio-http/1.1", "istio-h2"): "HTTP TLS",
    ("istio", "istio-http/1.0", "istio-http/1.1", "istio-h2"): "Istio HTTP Plain",
    ("istio-peer-exchange", "istio"): "TCP TLS",
    ("http/1.0", "http/1.1", "h2c"): "HTTP",
}


@dataclass(frozen=True, slots=True)
class ListenerFilter:
    """``--address`` (any address, case-insensitive), ``--port``, ``--type`` (HTTP, TCP...)."""

    address: str | None = None
    port: int | None = None
    type: str | None = None

    @property
    def empty(self) -> bool:
        """Whether no filter is set."""
        return self.address is None and self.port is None and self.type is None


@dataclass(slots=True)
class ListenerRow:
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


def filter_config(f: s.TypedExtension) -> msgspec.Raw:
    """A filter's config: ``typed_config``, else the v2 ``config`` Struct (Envoy <= 1.14)."""
    raw = f.typed_config
    if len(raw) and bytes(raw) != b"null":
        return raw
    return f.config


def network_kind(f: s.TypedExtension, by_type: bool = True) -> str:
    """:data:`HCM`, :data:`TCP_PROXY` or ``""``: by current or legacy name, else ``@type``."""
    if f.name in (HCM, TCP_PROXY):
        return f.name
    legacy = LEGACY_NAMES.get(f.name)
    if legacy is not None:
        return legacy
    if by_type:
        head = memoryview(f.typed_config)[:200].tobytes()
        if b"@type" in head:
            if _HCM_TYPE + b'"' in head:
                return HCM
            if _TCP_TYPE + b'"' in head:
                return TCP_PROXY
    return ""


T = TypeVar("T")


def decode_filter(f: s.TypedExtension, tp: type[T], camel: bool, what: str) -> T:
    """Decode a filter's config as ``tp``: ``typed_config``, else its v2 ``config``.

    A v2 ``config`` is a Struct holding the config as it was written (a bootstrap's
    YAML): Envoy took a single object where the proto has a list
    (``http_filters: {name: envoy.router}``), so such a value is read as a one-item list.
    """
    raw = filter_config(f)
    if bytes(raw).strip() in (b"", b"null"):
        return tp()  # a filter named without any config (istioctl's 2020 test dump has one)
    if raw is f.typed_config:
        return decode_raw(raw, tp, camel, what)
    try:
        return decode_raw(raw, tp, camel, what)
    except InvalidInput:
        fixed = _as_lists(msgspec.inspect.type_info(tp), msgspec.json.decode(raw), camel)
        return decode_raw(msgspec.Raw(msgspec.json.encode(fixed)), tp, camel, what)


def _as_lists(info: Any, value: Any, camel: bool) -> Any:
    """``value`` with each single object the schema wants as a list wrapped in one."""
    mi = msgspec.inspect
    if isinstance(info, mi.UnionType):
        for sub in info.types:
            if isinstance(sub, mi.StructType | mi.ListType):
                return _as_lists(sub, value, camel)
        return value
    if isinstance(info, mi.ListType):
        items = value if isinstance(value, list) else [value]
        return [_as_lists(info.item_type, v, camel) for v in items]
    if isinstance(info, mi.StructType) and isinstance(value, dict):
        out = dict(value)
        for fld in info.fields:
            for key in (fld.encode_name, fld.name):
                if key in out:
                    out[key] = _as_lists(fld.type, out[key], camel)
        return out
    return value


def _decode_filter(f: s.TypedExtension, tp: type[msgspec.Struct], camel: bool) -> msgspec.Struct:
    return decode_filter(f, tp, camel, f"filter {f.name}")


def chains(listener: s.Listener) -> list[s.FilterChain]:
    """Filter chains in order, then the default chain."""
    out = list(listener.filter_chains)
    if listener.default_filter_chain is not None:
        out.append(listener.default_filter_chain)
    return out


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

    Filters are recognised by name, as istioctl does, and also by their Envoy <= 1.14
    names (istioctl prints ``Non-HTTP/Non-TCP`` for those, which is not true).
    """
    for f in chain.filters:
        kind = network_kind(f, by_type=False)
        if kind == HCM:
            try:
                hcm = _decode_filter(f, s.HttpConnectionManager, camel)
            except InvalidInput as exc:  # istioctl prints the decode error in the cell
                return exc.message
            assert isinstance(hcm, s.HttpConnectionManager)
            if hcm.route_config is not None:
                return inline_route_description(hcm.route_config)
            if hcm.rds is not None and hcm.rds.route_config_name:
                return f"Route: {hcm.rds.route_config_name}"
            return "HTTP"
        if kind == TCP_PROXY:
            if b"BlackHoleCluster" in bytes(filter_config(f)):
                continue
            tcp = _decode_filter(f, s.TcpProxy, camel)
            assert isinstance(tcp, s.TcpProxy)
            return cluster_label(tcp.cluster)
    return "Non-HTTP/Non-TCP"


def _addresses(listener: s.Listener) -> list[str]:
    out = [socket_or_pipe(listener.address)]
    for extra in listener.additional_addresses:
        if extra.address is not None and extra.address.socket_address is not None:
            out.append(extra.address.socket_address.address)
    return out


def _state(entry: s.DynamicListener) -> tuple[str, s.ListenerState | None]:
    states = []
    shown = None
    for label, st in (
        ("ACTIVE", entry.active_state),
        ("WARMING", entry.warming_state),
        ("DRAINING", entry.draining_state),
    ):
        if st is not None:
            states.append(label)
            shown = shown or st
    if entry.error_state is not None:
        states.append("ERROR")
    return ",".join(states), shown


def select(data: ProxyData, flt: ListenerFilter, include_inactive: bool) -> list[ListenerRow]:
    """Dynamic listeners with an active state, then static ones; filtered and sorted.

    With ``include_inactive`` (``-o wide``) warming and draining listeners are added.
    Sort: port, main address, type (istioctl's order; stable for ties).
    """
    dump = data.need_dump("the listeners view")
    sec = dump.require("listeners")
    rows: list[ListenerRow] = []
    dynamic = dump.dynamic_listeners()
    # Envoy writes a rejected update twice: in the listener's named entry and in a
    # name-less error-only entry. One resource, one row: the twin is skipped.
    rejected = {d.name for d in dynamic.items if d.name and d.error_state is not None}
    for i, dyn in enumerate(dynamic.items):
        state, st = _state(dyn)
        if dyn.active_state is not None:
            st = dyn.active_state
        elif not include_inactive:
            continue
        if (st is None or st.listener is None) and dyn.error_state is not None:
            failed = dyn.error_state.failed_configuration
            if len(failed) and bytes(failed) != b"null":
                lst = decode_raw(failed, s.Listener, sec.camel, "rejected listener")
                if not dyn.name and lst.name in rejected:
                    continue
                rows.append(
                    _row(
                        dynamic.ref(i, "error_state", "failed_configuration"),
                        lst,
                        sec.camel,
                        "ERROR",
                        dyn.error_state.version_info,
                        dyn.error_state.last_update_attempt,
                    )
                )
            continue
        if st is None or st.listener is None:
            continue
        path = (
            "active_state"
            if st is dyn.active_state
            else "warming_state"
            if st is dyn.warming_state
            else "draining_state",
            "listener",
        )
        rows.append(
            _row(
                dynamic.ref(i, *path),
                st.listener,
                sec.camel,
                state,
                st.version_info,
                st.last_updated,
            )
        )
    static = dump.static_listeners()
    for i, stat in enumerate(static.items):
        if stat.listener is not None:
            rows.append(
                _row(
                    static.ref(i, "listener"),
                    stat.listener,
                    sec.camel,
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
    if flt.port is not None and row.port != flt.port:
        return False
    return not (flt.type is not None and row.type.lower() != flt.type.lower())


def chain_rows(row: ListenerRow) -> list[tuple[str, str]]:
    """(MATCH, DESTINATION) per chain, sorted by DESTINATION descending.

    istioctl: ``sort.Slice`` with less = ``a.destination > b.destination``; ties keep
    chain order up to 12 chains and follow Go's pdqsort beyond (e.g. virtualInbound).
    """
    out = [(chain_match(c), chain_destination(c, row.camel)) for c in chains(row.listener)]
    go_sort_by_key(out, _destination, descending=True)
    return out


def _destination(md: tuple[str, str]) -> str:
    return md[1]


def view(
    data: ProxyData, flt: ListenerFilter, wide: bool = False, verbose: bool = True
) -> ViewResult:
    """Build the listener table: one row per filter chain (``verbose``), or per listener."""
    rows = select(data, flt, include_inactive=wide)
    if verbose:
        table = Table(COLUMNS, padding=1, empty_message="No listeners found.")
        for row in rows:
            addresses = ",".join(row.addresses)
            for match, dest in chain_rows(row):
                table.rows.append(
                    (
                        row.listener.name,
                        addresses,
                        str(row.port),
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
            table.rows.append((",".join(row.addresses), str(row.port), row.type))
    note = None if rows or flt.empty else "No listeners match the filter."
    return ViewResult(table, lambda: [bare(r.ref.resolve()) for r in rows], note)
