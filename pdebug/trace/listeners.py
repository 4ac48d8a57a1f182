"""Which listener a connection reaches, and what Envoy knows of the connection there.

The dump's listeners as they serve (active/static, or warming/draining), the one bound
to the destination, Istio's and other meshes' capture listeners (``use_original_dst``,
the ``original_dst`` listener filter), and a waypoint's internal listener.

This is one module over 500 lines because choosing the listener and describing the
connection there are one rule set: which chain Envoy picks (addresses, ports, transport
protocol, ALPN, SNI, a mesh peer's mTLS) is what the connection step reports.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from pdebug.errors import PdebugError
from pdebug.model import schema as s
from pdebug.model.address import is_udp, join_host_port
from pdebug.model.dump import ConfigDump
from pdebug.model.listeners import (
    TCP_PROXY,
    ListenerFacts,
    api_listener_filter,
    decode_filter,
    filter_config,
    network_kind,
)
from pdebug.trace.chains import Connection, chain_label
from pdebug.trace.matchers import as_obj, as_seq, is_set, listener_tree
from pdebug.trace.request import HTTPS_ALPN, IP, MESH_HTTP_ALPN, MESH_TCP_ALPN, Request, ip_of

EntryState = Literal["ACTIVE", "WARMING", "DRAINING", "STATIC"]
_STATES: dict[str, EntryState] = {
    "ACTIVE": "ACTIVE",
    "WARMING": "WARMING",
    "DRAINING": "DRAINING",
    "STATIC": "STATIC",
}
#: Names of Istio's outbound capture listener (``virtual`` in Istio <= 1.2).
OUTBOUND_CAPTURE_NAMES = ("virtualOutbound", "virtual")


@dataclass
class ListenerEntry:
    """A listener of the dump, its state and its addresses (IP or None, text, port)."""

    listener: s.Listener
    state: EntryState
    camel: bool
    addresses: list[tuple[IP | None, str, int]]

    @property
    def name(self) -> str:
        """The listener's name."""
        return self.listener.name or "(unnamed)"

    @property
    def bound(self) -> bool:
        """Whether it binds its address (``bind_to_port`` is not false)."""
        return self.listener.binds

    def address_for(self, port: int) -> tuple[IP | None, str, int] | None:
        """Its address on ``port``, if it has one."""
        for addr in self.addresses:
            if addr[2] == port:
                return addr
        return None


def _listener_addresses(lst: s.Listener) -> list[tuple[IP | None, str, int]]:
    """Its TCP addresses: a UDP one (QUIC, HTTP/3) never takes a traced connection."""
    out: list[tuple[IP | None, str, int]] = []
    addrs = [lst.address] + [a.address for a in lst.additional_addresses]
    for a in addrs:
        if a is not None and a.socket_address is not None and not is_udp(a):
            sa = a.socket_address
            out.append((ip_of(sa.address), sa.address, sa.port_value))
    return out


def udp_port(lst: s.Listener, port: int) -> bool:
    """Whether the listener binds UDP ``port`` (a QUIC listener)."""
    addrs = [lst.address] + [a.address for a in lst.additional_addresses]
    return any(
        a is not None
        and a.socket_address is not None
        and is_udp(a)
        and a.socket_address.port_value == port
        for a in addrs
    )


def collect_listeners(dump: ConfigDump) -> tuple[list[ListenerEntry], list[ListenerEntry]]:
    """(serving, not serving): active dynamic and static listeners; warming/draining ones.

    One listener each: the first state its entry holds a config for (see
    :class:`~pdebug.model.listeners.ListenerFacts`).
    """
    dump.require("listeners")
    serving: list[ListenerEntry] = []
    idle: list[ListenerEntry] = []
    for r in ListenerFacts(dump).configs:
        if not r.first:
            continue
        state = _STATES[r.state]
        lst = ListenerEntry(r.listener, state, r.camel, _listener_addresses(r.listener))
        (serving if state in ("ACTIVE", "STATIC") else idle).append(lst)
    return serving, idle


def rejected_for(dump: ConfigDump, port: int, ip: IP | None) -> list[str]:
    """Listeners for ``ip:port`` Envoy rejected and never ran: ``NAME (DETAILS)`` each.

    Their address is not bound: a connection to it goes where Envoy sends it without
    them (a capture listener's passthrough, or refused). A rejected config that does
    not decode is left out.
    """
    out: list[str] = []
    try:
        rejections = ListenerFacts(dump).rejections
    except PdebugError:
        return out
    for r in rejections:
        if r.ever_ran:
            continue
        try:
            failed = r.entry.failed()
        except PdebugError:
            continue
        if failed is None:
            continue
        for a in _listener_addresses(failed):
            if a[2] == port and (ip is None or a[0] is None or a[0] == ip or a[0].is_unspecified):
                details = r.error.details.splitlines()[0] if r.error.details else ""
                out.append(f"{r.name} ({details[:160]})" if details else r.name)
                break
    return out


def listener_filter_kinds(lst: s.Listener) -> set[str]:
    """Short names of the listener filters: tls_inspector, http_inspector, original_dst..."""
    kinds = set()
    for f in lst.listener_filters:
        raw = memoryview(filter_config(f))[:300].tobytes()
        for kind, type_name in (
            ("tls_inspector", b".TlsInspector"),
            ("http_inspector", b".HttpInspector"),
            ("original_dst", b".OriginalDst"),
            ("proxy_protocol", b".ProxyProtocol"),
        ):
            if f.name.endswith(kind) or type_name in raw:
                kinds.add(kind)
    return kinds


def addr_text(lst: ListenerEntry, port: int | None = None) -> str:
    """The listener's address on ``port`` (else its first) as text."""
    addr = lst.address_for(port) if port is not None else None
    addr = addr or (lst.addresses[0] if lst.addresses else None)
    return join_host_port(addr[1], addr[2]) if addr else ""


def api_listener_named(
    listeners: list[ListenerEntry], host: str, port: int
) -> ListenerEntry | None:
    """The API listener a proxyless gRPC client dials as ``xds:///HOST:PORT``.

    istiod names each by the service's host and port (``net.JoinHostPort``), the name the
    client asks for.
    """
    name = join_host_port(host, port)
    for x in listeners:
        if x.listener.name == name and api_listener_filter(x.listener) is not None:
            return x
    return None


def outbound_capture(listeners: list[ListenerEntry], ip: IP | None = None) -> ListenerEntry | None:
    """Where iptables sends outbound connections, if a listener takes them.

    A ``use_original_dst`` listener (Istio's ``virtualOutbound``), else one with the
    ``original_dst`` listener filter (OSM's ``outbound-listener``, Consul's
    ``outbound_listener``). An INBOUND listener never takes outbound connections: Kuma's
    transparent proxy has ``use_original_dst`` on its inbound passthrough listeners
    (15006) as on its outbound ones (15001). Of several, an OUTBOUND one, and one of the
    destination's address family (Kuma has an IPv4 and an IPv6 listener each; a host
    name is taken as IPv4). An internal listener (a waypoint's ``connect_originate``) has
    no socket for iptables to redirect to: it never captures.
    """
    listeners = [
        x
        for x in listeners
        if not is_set(x.listener.internal_listener) and x.listener.traffic_direction != "INBOUND"
    ]
    version = ip.version if ip is not None else 4

    def rank(x: ListenerEntry) -> tuple[bool, bool, bool]:
        families = {a[0].version for a in x.addresses if a[0] is not None}
        return (
            x.name not in OUTBOUND_CAPTURE_NAMES,
            x.listener.traffic_direction != "OUTBOUND",
            bool(families) and version not in families,
        )

    found = [x for x in listeners if x.listener.hands_off]
    if not found:
        found = [x for x in listeners if "original_dst" in listener_filter_kinds(x.listener)]
    return min(found, key=rank) if found else None


_TOKEN_SPLIT = re.compile(r"[^a-z0-9_-]+")


def _tokens(text: str) -> set[str]:
    return set(_TOKEN_SPLIT.split(text.lower())) - {""}


#: The labels of Consul's DNS names that say what kind of name it is (the service's before).
_CONSUL_KINDS = ("service", "virtual", "connect", "ingress")


def _naming_labels(host: str) -> set[str]:
    """The labels of ``host`` a chain must have as words to name it.

    Every label, but a DNS domain's: of Kubernetes' ``NAME.NAMESPACE.svc.CLUSTER-DOMAIN``
    the name and namespace (Consul's clusters, ``frontend.default.dc1.internal.ID.consul``,
    have no ``svc.cluster.local``, Istio's do); of Consul's ``[TAG.]NAME.service[.DC].consul``
    and ``NAME.virtual[.NAMESPACE.ns]...consul`` the name (and namespace).
    """
    labels = host.lower().rstrip(".").split(".")
    if "svc" in labels[1:]:
        return set(labels[: labels.index("svc", 1)])
    kinds = [i for i, label in enumerate(labels) if i and label in _CONSUL_KINDS]
    if labels[-1] == "consul" and kinds:
        i = kinds[0]
        named = {labels[i - 1]}
        if "ns" in labels[i + 2 :]:
            named.add(labels[labels.index("ns", i + 2) - 1])
        return named
    return set(labels)


def guess_destination(lst: s.Listener, host: str) -> tuple[IP | None, str]:
    """The original destination IP for a URL that names a host, when the chains tell.

    A transparent-proxy listener that keeps its connections (OSM, Consul) picks a chain
    by destination IP. When exactly one chain matching on IPs names the host (its name,
    or a tcp_proxy cluster, has every label of the host as a word, but a DNS domain's:
    :func:`_naming_labels`; ``mongo.default`` is not ``mongo.other``'s chain), its
    address is taken.
    """
    labels = _naming_labels(host)
    by_ip = [
        c for c in lst.filter_chains if c.filter_chain_match and c.filter_chain_match.prefix_ranges
    ]
    if not by_ip:
        return None, "destination IP unknown"
    named: list[tuple[int, s.FilterChain]] = []
    for index, chain in enumerate(lst.filter_chains):
        if chain not in by_ip:
            continue
        words = _tokens(chain.name)
        for f in chain.filters:
            if network_kind(f) == TCP_PROXY:
                try:
                    tcp = decode_filter(f, s.TcpProxy, False, f.name)
                except PdebugError:
                    continue
                words |= _tokens(tcp.cluster)
                if tcp.weighted_clusters is not None:
                    for wc in tcp.weighted_clusters.clusters:
                        words |= _tokens(wc.name)
        if labels <= words:
            named.append((index, chain))
    give = f"give the IP in the URL and the name in -H Host:{host}"
    if len(named) == 1:
        index, chain = named[0]
        m = chain.filter_chain_match
        assert m is not None
        r = m.prefix_ranges[0]
        ip = ip_of(r.address_prefix)
        if ip is not None:
            label_text = chain_label(chain, index)
            return ip, (
                f"destination IP taken as {ip}: {host} is a name and {label_text} is the only "
                f"chain matching by IP that names it ({give} to be sure)"
            )
    return None, (
        f"destination IP unknown: {len(by_ip)} filter chains match by IP, "
        f"{len(named) or 'none'} of them name {host}; {give}"
    )


def waypoint_listener(listeners: list[ListenerEntry]) -> ListenerEntry | None:
    """A waypoint's ``main_internal``: an internal listener choosing chains by a matcher."""
    for lst in listeners:
        listener = lst.listener
        if is_set(listener.internal_listener) and is_set(listener.filter_chain_matcher):
            if lst.name == "main_internal" or len(listener.filter_chains) > 1:
                return lst
    return None


def waypoint_destination(lst: ListenerEntry, host: str, port: int) -> tuple[IP, str] | None:
    """The service VIP a host name stands for, from the waypoint's own matcher.

    The matcher maps each VIP (a /32 or /128 range) to chains per port named after the
    service (``inbound-vip|PORT|http|HOST``): the one VIP whose chain on ``port`` names
    ``host`` (the whole name, or its leading labels: ``httpbin.default``) is taken.
    """
    tree = as_obj(listener_tree(lst.listener))
    for _ in range(4):  # a multi-network waypoint asks the CONNECT authority first
        if "custom_match" in as_obj(tree.get("matcher_tree")):
            break
        tree = as_obj(as_obj(tree.get("on_no_match")).get("matcher"))
    short = host.lower().rstrip(".")
    found: list[tuple[IP, str]] = []
    custom = as_obj(as_obj(tree.get("matcher_tree")).get("custom_match"))
    for rm in as_seq(as_obj(custom.get("typed_config")).get("range_matchers")):
        sub = as_obj(as_obj(as_obj(as_obj(rm).get("on_match")).get("matcher")).get("matcher_tree"))
        chains = as_obj(as_obj(as_obj(sub.get("exact_match_map")).get("map")).get(str(port)))
        name = _first_action(chains)
        parts = name.split("|")
        if len(parts) < 4 or not (parts[3] == short or parts[3].startswith(short + ".")):
            continue
        for r in as_seq(as_obj(rm).get("ranges")):
            ip = ip_of(str(as_obj(r).get("address_prefix", "")))
            if ip is not None:
                found.append((ip, name))
    return found[0] if len({ip for ip, _ in found}) == 1 else None


def _first_action(on_match: dict[str, Any], depth: int = 0) -> str:
    """The first chain an ``on_match`` names: its action, or inside its matcher.

    A port whose protocol istiod does not know is a matcher on the application protocol
    (``'h2c'``/``'http/1.1'`` to the http chain, else the tcp chain), not an action.
    """
    name = as_obj(on_match.get("action")).get("name")
    if isinstance(name, str) and name:
        return name
    sub = as_obj(on_match.get("matcher"))
    if not sub or depth > 4:
        return ""
    tree = as_obj(sub.get("matcher_tree"))
    for value in as_obj(as_obj(tree.get("exact_match_map")).get("map")).values():
        found = _first_action(as_obj(value), depth + 1)
        if found:
            return found
    return _first_action(as_obj(sub.get("on_no_match")), depth + 1)


def inbound_capture(listeners: list[ListenerEntry], ip: IP | None = None) -> ListenerEntry | None:
    """Where iptables sends inbound connections, if a listener takes them.

    Istio's ``virtualInbound``, else an INBOUND listener with the ``original_dst``
    listener filter (its chains match the original destination), else an INBOUND one
    with ``use_original_dst`` (Kuma's inbound passthrough on 15006, which hands each
    connection to the listener of its original destination); of Kuma's IPv4/IPv6 pair,
    the one of the destination's family (a host name is taken as IPv4).
    """
    named = [x for x in listeners if x.name == "virtualInbound"]
    if named:
        return named[0]
    inbound = [
        x
        for x in listeners
        if x.listener.traffic_direction == "INBOUND" and not is_set(x.listener.internal_listener)
    ]
    for x in inbound:
        if "original_dst" in listener_filter_kinds(x.listener):
            return x
    version = ip.version if ip is not None else 4

    def other_family(x: ListenerEntry) -> bool:
        families = {a[0].version for a in x.addresses if a[0] is not None}
        return bool(families) and version not in families

    handing = [x for x in inbound if x.listener.hands_off]
    return min(handing, key=other_family) if handing else None


def ipv6_only(lst: s.Listener, addr: tuple[IP | None, str, int]) -> bool:
    """Whether ``addr`` of ``lst`` is ``[::]`` without ``ipv4_compat``.

    Envoy then sets IPV6_V6ONLY on the socket, and an IPv4 client's connection is refused.
    """
    ip = addr[0]
    if ip is None or ip.version != 6 or not ip.is_unspecified:
        return False
    for a in [lst.address] + [x.address for x in lst.additional_addresses]:
        sa = a.socket_address if a is not None else None
        if sa is not None and sa.port_value == addr[2] and ip_of(sa.address) == ip:
            return not sa.ipv4_compat
    return False


def owner(
    listeners: list[ListenerEntry], port: int, ip: IP | None, bound: bool, host: str = ""
) -> tuple[ListenerEntry, str] | None:
    """The listener a connection to ``ip:port`` reaches, and why (None: none)."""
    on_port = [
        (x, addr)
        for x in listeners
        if (x.bound or not bound)
        for addr in x.addresses
        if addr[2] == port
        if not (ip is not None and ip.version == 4 and ipv6_only(x.listener, addr))
    ]
    if not on_port:
        return None
    if ip is not None:
        for x, addr in on_port:
            if addr[0] == ip:
                return x, f"{_holds(x)} {join_host_port(addr[1], port)}, the destination"
    wild = [(x, a) for x, a in on_port if a[0] is not None and a[0].is_unspecified]
    specific = [(x, a) for x, a in on_port if not (a[0] is not None and a[0].is_unspecified)]
    if ip is None and specific and not bound:
        # A host name: Istio gives TCP services per-VIP listeners; pick the one whose
        # cluster names the host (reviews -> outbound|9080||reviews.default.svc...).
        named = [(x, a) for x, a in specific if host and _routes_to_host(x.listener, host)]
        if len(named) == 1:
            x, a = named[0]
            return x, (
                f"{x.name} ({join_host_port(a[1], port)}) sends to a cluster of {host}; "
                "the URL host is a name, so pdebug takes it as that listener's IP"
            )
    if wild:
        x, a = wild[0]
        why = f"{_holds(x)} {join_host_port(a[1], port)} (any address on port {port})"
        if ip is None and ipv6_only(x.listener, a):
            why += " for IPv6 clients only (no ipv4_compat): an IPv4 client is refused"
        if ip is None and specific:
            others = ", ".join(f"{s_.name}" for s_, _ in specific)
            why += f"; if {host or 'the host'} resolves to another listener's IP: {others}"
        return x, why
    if ip is None and specific:
        x, a = specific[0]
        why = f"binds {join_host_port(a[1], port)}"
        if len(specific) > 1:
            why += f", first of {len(specific)} listeners on port {port} (give the IP in the URL)"
        else:
            why += f", the only listener on port {port}"
        if bound:
            return x, why
        return None
    if ip is not None and specific and bound:
        x, a = specific[0]
        return x, (
            f"binds {join_host_port(a[1], port)}, not {ip}; taken as where the request arrives"
        )
    return None


def _holds(x: ListenerEntry) -> str:
    """How a listener holds its address, as trace words it.

    ``binds``, or ``has the address (bind_to_port false)``: reached by a hand-off only.
    """
    return "binds" if x.bound else "has the address (bind_to_port false)"


def _routes_to_host(lst: s.Listener, host: str) -> bool:
    """Whether a listener's chains name a cluster of ``host`` (``|host.`` in the name).

    Not an Istio inbound cluster (``inbound|8080|http|a.ns.svc...``, Istio <= 1.5): the
    listener of the pod's own service port, which a request to that service from the pod
    does not reach (Istio 1.0's inbound listeners are ``POD_IP_PORT``, not bound).
    """
    if lst.traffic_direction == "INBOUND":
        return False
    needle = re.compile(re.escape(f"|{host}".encode()) + rb'[."]')
    for chain in lst.filter_chains:
        for f in chain.filters:
            raw = bytes(filter_config(f))
            for found in needle.finditer(raw):
                start = raw.rfind(b'"', 0, found.start()) + 1
                if not raw.startswith(b"inbound|", start):
                    return True
    return False


def connect(
    lst: ListenerEntry, req: Request, via_capture: bool, keeps: bool = False, mesh: bool = False
) -> tuple[Connection, list[str]]:
    """What Envoy knows of ``req``'s connection on ``lst``, and notes on how pdebug knows it.

    ``via_capture``: the connection was redirected (its destination is not the listener's
    own address); ``keeps``: a capture listener that matches chains on the original
    destination itself (the IP of a host name is then guessed from its chains); ``mesh``:
    the client is a mesh peer's sidecar (an inbound ``--source-principal``), which wraps
    an ``http://`` or ``tcp://`` request in mTLS with Istio's ALPN and its certificate.
    """
    dest_ip = req.dest_ip
    notes = []
    if dest_ip is None and keeps:
        dest_ip, note = guess_destination(lst.listener, req.host)
        notes.append(note)
    if dest_ip is None and not via_capture:
        addr = lst.address_for(req.port)
        if addr is not None and addr[0] is not None and not addr[0].is_unspecified:
            dest_ip = addr[0]
            notes.append(f"destination IP {dest_ip} (the listener's own address)")
    kinds = listener_filter_kinds(lst.listener)
    foreign = [
        f.name or "(unnamed)"
        for f in lst.listener.listener_filters
        if not (f.name or "").startswith("envoy.")
    ]
    if foreign:
        # Cilium's cilium.bpf_metadata: the node's policy and identities, from BPF maps
        notes.append(
            f"listener filters not evaluated: {', '.join(foreign)} (not Envoy's own: it may "
            "close the connection or change what the chains see)"
        )
    if "proxy_protocol" in kinds:
        notes.append(
            "proxy_protocol: unless allow_requests_without_proxy_protocol, Envoy closes a "
            "connection that does not start with a PROXY header (a load balancer's); the "
            "request's addresses are taken as the header's"
        )
    transport, sni = "raw_buffer", ""
    alpn: tuple[str, ...] = ()
    if mesh:
        offered = MESH_HTTP_ALPN if req.scheme == "http" else MESH_TCP_ALPN
        what = (
            f"mesh client (--source-principal): its sidecar wraps the {req.scheme}:// request "
            "in mTLS with Istio's ALPN and a client certificate whose URI SAN is "
            f"{req.source_principal}"
        )
        if "tls_inspector" in kinds:
            transport, alpn = "tls", offered
            notes.append(what)
        else:
            notes.append(f"{what}; no tls_inspector: Envoy sees transport raw_buffer, no ALPN")
    elif req.scheme == "https":
        if "tls_inspector" in kinds:
            transport = "tls"
            sni = "" if req.dest_ip is not None else req.host
            alpn = HTTPS_ALPN
            notes.append(f"TLS (tls_inspector): SNI {sni or 'none'}, ALPN {','.join(alpn)} assumed")
        else:
            notes.append("no tls_inspector: Envoy sees transport raw_buffer, no SNI")
    elif req.scheme == "http" and "http_inspector" in kinds:
        alpn = ("http/1.1",)
        notes.append("http_inspector detects http/1.1")
    return Connection(dest_ip, req.port, req.source_ip, None, sni, transport, alpn), notes
