"""Which filter chain takes a connection.

Envoy's ``filter_chain_match`` (criterion by criterion, the most specific value wins)
and the TCP proxy's deprecated v1 routes. The :class:`Connection` is what Envoy knows
when it chooses; ``filter_chain_matcher`` trees are :mod:`pdebug.trace.matchers`'.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass

from pdebug.model import schema as s
from pdebug.trace.request import IP


@dataclass
class Connection:
    """What Envoy knows about a connection when it picks a filter chain.

    ``None`` means unknown (a host name instead of an IP, no ``--source-ip``).
    """

    dest_ip: IP | None
    dest_port: int
    source_ip: IP | None = None
    source_port: int | None = None
    server_name: str = ""
    transport: str = "raw_buffer"
    alpn: tuple[str, ...] = ()


#: (criterion, rank): rank None = does not match, 0 = no requirement, higher = more specific.
_Rank = tuple[int | None, str]


_DEST_UNKNOWN = "destination IP unknown (put the IP in the URL, the name in -H Host:NAME)"
_CLIENT_UNKNOWN = "client IP unknown (give --source-ip)"


def _cidrs(ranges: list[s.CidrRange]) -> str:
    return ",".join(f"{r.address_prefix}/{r.prefix_len}" for r in ranges)


def _rank_cidr(ranges: list[s.CidrRange], ip: IP | None, what: str, unknown: str) -> _Rank:
    if not ranges:
        return 0, ""
    if ip is None:
        return None, f"{what} {_cidrs(ranges)}: {unknown}"
    best: int | None = None
    for r in ranges:
        try:
            net = ipaddress.ip_network(f"{r.address_prefix}/{r.prefix_len}", strict=False)
        except ValueError:
            continue
        if net.version == ip.version and ip in net:
            best = r.prefix_len if best is None else max(best, r.prefix_len)
    shown = _cidrs(ranges)
    return _best(best, f"{what} {shown} contains {ip}", f"{what} {shown} does not contain {ip}")


def _best(rank: int | None, matches: str, fails: str) -> _Rank:
    """The most specific value that matched (None: none did), with the matching reason."""
    return (rank, matches) if rank is not None else (None, fails)


def _rank_equal(what: str, wanted: object, have: object) -> _Rank:
    """A criterion that either equals the connection's value or is absent."""
    if not wanted:
        return 0, ""
    if wanted == have:
        return 1, f"{what} {have}"
    return None, f"{what} {wanted}, not {have}"


def _rank_server_name(m: s.FilterChainMatch, c: Connection) -> _Rank:
    if not m.server_names:
        return 0, ""
    names = ",".join(m.server_names)
    if not c.server_name:
        return None, f"server_names {names}: the connection has no SNI"
    best: int | None = None
    for name in m.server_names:
        name = name.lower()
        if name == c.server_name:
            best = 100_000 + len(name)
        elif name.startswith("*.") and c.server_name.endswith(name[1:]):
            best = max(best or 0, len(name))
    sni = c.server_name
    return _best(
        best,
        f"server_names {names} match SNI {sni}",
        f"server_names {names} do not match SNI {sni}",
    )


def _rank_alpn(m: s.FilterChainMatch, c: Connection) -> _Rank:
    if not m.application_protocols:
        return 0, ""
    wanted = ",".join(m.application_protocols)
    for i, proto in enumerate(c.alpn):
        if proto in m.application_protocols:
            return len(c.alpn) - i, f"application_protocols {wanted} has {proto}"
    have = ",".join(c.alpn) or "none detected"
    return None, f"application_protocols {wanted}, connection: {have}"


def _rank_source_type(m: s.FilterChainMatch, c: Connection) -> _Rank:
    kind = m.source_type or "ANY"
    if kind == "ANY":
        return 0, ""
    if c.source_ip is None:
        return None, f"source_type {kind}: {_CLIENT_UNKNOWN}"
    local = c.source_ip.is_loopback or c.source_ip == c.dest_ip
    if (kind == "SAME_IP_OR_LOOPBACK") == local:
        return 1, f"source_type {kind} ({c.source_ip})"
    return None, f"source_type {kind}, but {c.source_ip} is {'local' if local else 'external'}"


def _rank_source_port(m: s.FilterChainMatch, c: Connection) -> _Rank:
    if not m.source_ports:
        return 0, ""
    ports = ",".join(map(str, m.source_ports))
    if c.source_port is None:
        return None, f"source_ports {ports}: the client's port is ephemeral, taken as not listed"
    if c.source_port in m.source_ports:
        return 1, f"source_ports {ports}"
    return None, f"source_ports {ports}, not {c.source_port}"


CHAIN_CRITERIA: tuple[tuple[str, Callable[[s.FilterChainMatch, Connection], _Rank]], ...] = (
    (
        "destination port",
        lambda m, c: _rank_equal("destination_port", m.destination_port, c.dest_port),
    ),
    (
        "destination IP",
        lambda m, c: _rank_cidr(m.prefix_ranges, c.dest_ip, "prefix_ranges", _DEST_UNKNOWN),
    ),
    ("server name", _rank_server_name),
    (
        "transport protocol",
        lambda m, c: _rank_equal("transport_protocol", m.transport_protocol, c.transport),
    ),
    ("application protocols", _rank_alpn),
    (
        "direct source IP",
        lambda m, c: _rank_cidr(
            m.direct_source_prefix_ranges, c.source_ip, "direct_source_prefix", _CLIENT_UNKNOWN
        ),
    ),
    ("source type", _rank_source_type),
    (
        "source IP",
        lambda m, c: _rank_cidr(
            m.source_prefix_ranges, c.source_ip, "source_prefix_ranges", _CLIENT_UNKNOWN
        ),
    ),
    ("source port", _rank_source_port),
)
_EMPTY_MATCH = s.FilterChainMatch()


@dataclass
class ChainChoice:
    """The filter chain Envoy picks (``index`` None: none matched) and why."""

    index: int | None
    reason: str
    lost: dict[int, str]  # chain index -> why it dropped out
    failed: str = ""  # the last criterion that left no chain


def select_filter_chain(chains: list[s.FilterChain], conn: Connection) -> ChainChoice:
    """Envoy's filter chain match: per criterion, keep the most specific matching chains."""
    alive = list(range(len(chains)))
    texts: dict[int, list[str]] = {i: [] for i in alive}
    lost: dict[int, str] = {}
    for label, rank_of in CHAIN_CRITERIA:
        ranks = {i: rank_of(chains[i].filter_chain_match or _EMPTY_MATCH, conn) for i in alive}
        matching = [i for i in alive if ranks[i][0] is not None]
        for i in alive:
            if ranks[i][0] is None:
                lost[i] = f"{label}: {ranks[i][1]}"
        if not matching:
            failed = "; ".join(sorted({ranks[i][1] for i in alive}))
            return ChainChoice(None, "", lost, f"{label}: {failed}" if alive else "")
        best = max(ranks[i][0] or 0 for i in matching)
        winner_text = next(ranks[i][1] for i in matching if ranks[i][0] == best)
        for i in matching:
            if (ranks[i][0] or 0) < best:
                what = ranks[i][1] or f"no {label} requirement"
                lost[i] = f"{label}: {what} (less specific than {winner_text})"
            elif ranks[i][1]:
                texts[i].append(ranks[i][1])
        alive = [i for i in matching if ranks[i][0] == best]
    if not alive:
        return ChainChoice(None, "", lost)
    chosen = alive[0]
    reason = "; ".join(texts[chosen]) or "no filter_chain_match criteria: matches any connection"
    if len(alive) > 1:
        for i in alive[1:]:
            lost[i] = f"same match as chain {chain_label(chains[chosen], chosen)}"
        reason += f" (ambiguous: {len(alive)} chains match equally; Envoy rejects such a listener)"
    return ChainChoice(chosen, reason, lost)


def chains_by_ip(chains: list[s.FilterChain], conn: Connection) -> list[tuple[int, str]]:
    """The chains that would take ``conn`` if its destination IP (unknown) were theirs.

    A request to a host name: pdebug cannot know the IP it resolves to. For each chain
    matching by ``prefix_ranges``, the match is tried again with an address of each of
    its ranges that no narrower range holds (:func:`_own_address`: Envoy picks the most
    specific range first, so an address inside a narrower one is that one's); those that
    then win (every other criterion holds too) are returned with their ranges. None when
    the IP is known.
    """
    if conn.dest_ip is not None:
        return []
    nets = [
        net
        for chain in chains
        for r in (chain.filter_chain_match or _EMPTY_MATCH).prefix_ranges
        if (net := _network(r)) is not None
    ]
    found: list[tuple[int, str]] = []
    for i, chain in enumerate(chains):
        m = chain.filter_chain_match or _EMPTY_MATCH
        for r in m.prefix_ranges:
            net = _network(r)
            address = _own_address(net, nets) if net is not None else None
            if address is None:
                continue  # no such range, or narrower ones cover it: never this chain's
            tried = Connection(**{**conn.__dict__, "dest_ip": address})
            if select_filter_chain(chains, tried).index == i:
                found.append((i, f"prefix_ranges {_cidrs(m.prefix_ranges)}"))
                break
    return found


def _network(r: s.CidrRange) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(f"{r.address_prefix}/{r.prefix_len}", strict=False)
    except ValueError:
        return None


def _own_address(
    net: ipaddress.IPv4Network | ipaddress.IPv6Network,
    nets: list[ipaddress.IPv4Network | ipaddress.IPv6Network],
) -> IP | None:
    """The first address of ``net`` that no narrower range of ``nets`` holds, or None.

    At any such address the most specific ranges holding it are those equal to ``net``
    (CIDR ranges nest or are apart), so one address answers for all of them.
    """
    narrower = sorted(
        (int(n.network_address), int(n.broadcast_address))
        for n in nets
        if n.version == net.version and n.prefixlen > net.prefixlen and n.subnet_of(net)  # type: ignore[arg-type]
    )
    at, end = int(net.network_address), int(net.broadcast_address)
    for low, high in narrower:
        if low > at:
            break
        at = max(at, high + 1)
    return type(net.network_address)(at) if at <= end else None


_TLS_SOCKETS = ("envoy.transport_sockets.tls", "tls")


def terminates_tls(chain: s.FilterChain) -> bool:
    """Whether the chain's transport socket is a downstream TLS one (v3 or v2 form)."""
    if len(chain.tls_context) and bytes(chain.tls_context) != b"null":
        return True
    socket = chain.transport_socket
    if socket is None:
        return False
    if socket.name in _TLS_SOCKETS:
        return True
    return b"DownstreamTlsContext" in bytes(socket.typed_config)


def requires_client_certificate(chain: s.FilterChain) -> bool:
    """Whether the chain's downstream TLS context sets ``require_client_certificate``."""
    import msgspec

    raw = chain.tls_context
    if not len(raw) or bytes(raw) == b"null":
        if chain.transport_socket is None:
            return False
        raw = chain.transport_socket.typed_config
    try:
        ctx = msgspec.json.decode(bytes(raw))
    except msgspec.DecodeError:
        return False
    if not isinstance(ctx, dict):
        return False
    value = ctx.get("require_client_certificate", ctx.get("requireClientCertificate"))
    if isinstance(value, dict):  # a BoolValue written as an object
        value = value.get("value")
    return value is True


def chain_label(chain: s.FilterChain, index: int | None) -> str:
    """``name (#2)``, ``#2`` or ``default_filter_chain`` (index None)."""
    if index is None:
        return chain.name or "default_filter_chain"
    return f"{chain.name} (#{index})" if chain.name else f"#{index}"


def _v1_ports(spec: str, port: int | None) -> bool | None:
    """Whether ``port`` is in a v1 port list ``"443,8000-8090"`` (None: unknown)."""
    if not spec:
        return True
    if port is None:
        return None
    for part in spec.split(","):
        low, _, high = part.strip().partition("-")
        try:
            if int(low) <= port <= int(high or low):
                return True
        except ValueError:
            return None
    return False


def v1_route_mismatch(route: s.TcpProxyV1Route, conn: Connection) -> str | None:
    """Why a v1 TCP route does not take the connection, or None when it does."""
    checks = (
        (
            "destination",
            route.destination_ip_list,
            conn.dest_ip,
            route.destination_ports,
            conn.dest_port,
        ),
        ("source", route.source_ip_list, conn.source_ip, route.source_ports, conn.source_port),
    )
    for what, ranges, ip, ports, port in checks:
        if ranges:
            shown = ",".join(ranges)
            if ip is None:
                return f"{what} IP unknown (the route needs {shown})"
            nets = []
            for r in ranges:
                try:
                    nets.append(ipaddress.ip_network(r, strict=False))
                except ValueError:
                    continue
            if not any(ip.version == n.version and ip in n for n in nets):
                return f"{what} {ip} not in {shown}"
        if _v1_ports(ports, port) is not True:
            return f"{what} port {port} not in {ports}"
    return None
