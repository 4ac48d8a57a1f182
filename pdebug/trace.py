"""Follow one request through a proxy's config, the way Envoy matches it.

:func:`parse_request` turns ``URL`` plus options into a :class:`Request`; :func:`trace`
walks it through a :class:`~pdebug.model.ProxyData` and returns a :class:`Trace`: every
step (listener, filter chain, network filter, route config, virtual host, routes tried,
action, cluster, endpoints) with whether it matched and why, then a :class:`Verdict`.
Nothing here prints; :mod:`pdebug.views.trace` renders a trace.

The rules are Envoy's (checked against a real Envoy 1.40 by ``tests/test_trace_envoy.py``):

* **Listener.** A client reaches the listener bound to the URL's port (80/443 by
  default): the one on the destination IP, else ``0.0.0.0``/``::``. When no listener binds
  the port but one has ``use_original_dst`` (Istio's ``virtualOutbound``), the connection is
  taken as captured by it (outbound); Envoy hands it to the listener owning the original
  destination ``IP:port``, else ``0.0.0.0:port``, else keeps it. A listener with the
  ``original_dst`` listener filter but no ``use_original_dst`` (OSM, Consul) captures too
  and keeps every connection: its chains match the original destination (checked against
  Envoy 1.40 by ``tests/test_other_meshes.py``). ``--direction inbound`` starts at
  ``virtualInbound``, whose filter chains pick by destination port.
* **Filter chain.** Criteria in Envoy's order: destination port, destination IP, server
  name, transport protocol, application protocols, direct source IP, source type, source
  IP, source port. At each one the most specific value that matches wins and the others
  drop out; there is no going back to a less specific chain when a later criterion fails.
  No chain left: ``default_filter_chain``, else Envoy closes the connection.
* **Virtual host.** The Host header (lower-cased; the port stays unless the HTTP
  connection manager strips it or the route config ignores it): exact domain, else the
  longest ``*suffix`` wildcard, else the longest ``prefix*`` wildcard, else ``*``. A
  wildcard never matches an empty string.
* **Route.** First match wins. The path matchers see the path without its query;
  ``case_sensitive`` (default true) applies to ``prefix``, ``path`` and
  ``path_separated_prefix``, not to ``safe_regex`` (a full match). Headers: a matcher on
  an absent header fails (``invert_match`` does not change that) unless it is a presence
  match; with several values, one matching value is enough. Query parameters: the first
  value of a name, not URL-decoded.
* **Action and cluster.** A missing cluster or one with no endpoints answers 503; below
  50% healthy endpoints Envoy is in panic mode and sends to all of them.
* **Unknown.** What the dump does not hold (a section, EDS) is never taken as a failure:
  the verdict is UNKNOWN (kinds ``incomplete``, ``inconclusive``) and says what to capture.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec
import orjson

from pdebug.errors import PdebugError, UsageError
from pdebug.model import ProxyData
from pdebug.model import schema as s
from pdebug.model.dump import ConfigDump, decode_raw
from pdebug.model.eds import Attribution, attribute
from pdebug.model.health import host_is_healthy
from pdebug.views.listeners import HCM, TCP_PROXY, decode_filter, filter_config, network_kind

IP = ipaddress.IPv4Address | ipaddress.IPv6Address

DEFAULT_PORTS = {"http": 80, "https": 443}
SCHEMES = ("http", "https", "tcp")
DIRECTIONS = ("outbound", "inbound")
#: Envoy's default healthy panic threshold (percent of usable endpoints).
PANIC_THRESHOLD = 50.0
#: What an HTTPS client offers in ALPN (curl's default), when a tls_inspector reads it.
HTTPS_ALPN = ("h2", "http/1.1")
REDIRECT_CODES = {
    "MOVED_PERMANENTLY": 301,
    "FOUND": 302,
    "SEE_OTHER": 303,
    "TEMPORARY_REDIRECT": 307,
    "PERMANENT_REDIRECT": 308,
}
_NOT_FOUND_CODES = {"SERVICE_UNAVAILABLE": 503, "NOT_FOUND": 404, "INTERNAL_SERVER_ERROR": 500}
_TOKEN = re.compile(r"^:?[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_HOST = re.compile(r"^[A-Za-z0-9_.*-]+$")
_SHOWN_ENDPOINTS = 4
#: Names of Istio's outbound capture listener (``virtual`` in Istio <= 1.2).
OUTBOUND_CAPTURE_NAMES = ("virtualOutbound", "virtual")
#: What to capture when a section is missing.
FULL_DUMP = "capture the full dump: curl -s 'localhost:15000/config_dump?include_eds'"
WITH_EDS = (
    "capture with EDS (curl -s 'localhost:15000/config_dump?include_eds') or add "
    "--clusters-json FILE (GET /clusters?format=json)"
)
#: Verdict kinds that say pdebug cannot tell (UNKNOWN), rather than OK or FAIL.
UNKNOWN_KINDS = ("incomplete", "inconclusive")


# --- the request ----------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    """One request to trace, as a client would send it.

    Attributes:
        url: The URL as given.
        scheme: ``http``, ``https`` or ``tcp`` (a plain TCP connection).
        host: The URL's host, lower-cased, without brackets.
        port: The destination port (the URL's, else 80/443).
        path: ``:path`` as sent: the path and its query.
        method: ``:method``.
        authority: The Host header: ``-H Host:...`` or the URL's host[:port] as written.
        headers: Other request headers, names lower-cased, in the order given.
        direction: ``outbound``, ``inbound`` or None (decided from the listeners).
        source_ip: The client's address when known.
    """

    url: str
    scheme: str
    host: str
    port: int
    path: str
    method: str = "GET"
    authority: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    direction: str | None = None
    source_ip: IP | None = None

    @property
    def dest_ip(self) -> IP | None:
        """The destination IP when the URL's host is an IP literal."""
        return _ip(self.host)

    @property
    def destination(self) -> str:
        """``host:port`` (IPv6 in brackets)."""
        return _hostport(self.host, self.port)


def parse_request(
    url: str,
    method: str = "GET",
    headers: list[str] | tuple[str, ...] = (),
    direction: str | None = None,
    source_ip: str | None = None,
) -> Request:
    """Build a :class:`Request` from the command line.

    Args:
        url: ``http://host[:port]/path?query``, ``https://...`` or ``tcp://host:port``;
            a URL without a scheme is taken as ``http://``.
        method: The HTTP method.
        headers: ``NAME:VALUE`` strings; ``Host:...`` replaces the URL's authority.
        direction: ``outbound``, ``inbound`` or None.
        source_ip: The client's IP address.

    Raises:
        UsageError: the URL, a header, the direction or the source IP cannot be used.
    """
    text = url.strip()
    if "://" not in text:
        text = "http://" + text
    try:
        parts = urllib.parse.urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise UsageError(
            f"cannot parse URL {url!r}: {exc}", hint="e.g. http://reviews:9080/api?x=1"
        ) from None
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise UsageError(
            f"URL {url!r}: unsupported scheme {parts.scheme!r}",
            hint="use http://, https:// or tcp://HOST:PORT",
        )
    host = (parts.hostname or "").lower()
    if not host or (_ip(host) is None and not _HOST.match(host)):
        raise UsageError(f"URL {url!r} has no usable host", hint="e.g. http://reviews:9080/")
    if port is None:
        if scheme == "tcp":
            raise UsageError(f"URL {url!r}: tcp:// needs a port", hint="e.g. tcp://mysql:3306")
        port = DEFAULT_PORTS[scheme]
    if port == 0:
        raise UsageError(f"URL {url!r}: port 0 cannot be reached")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    if any(ch.isspace() or not ch.isprintable() for ch in path):
        raise UsageError(
            f"URL {url!r}: the path has spaces or control characters",
            hint="percent-encode them (a space is %20)",
        )
    host_text = f"[{host}]" if ":" in host else host
    authority = f"{host_text}:{port}" if parts.port is not None else host_text
    pairs: list[tuple[str, str]] = []
    for item in headers:
        name, value = _split_header(item)
        if name in ("host", ":authority"):
            authority = value
        else:
            pairs.append((name, value))
    if direction is not None:
        direction = direction.lower()
        if direction not in DIRECTIONS:
            raise UsageError(f"--direction {direction!r}", hint="use outbound or inbound")
    src: IP | None = None
    if source_ip is not None:
        src = _ip(source_ip.strip())
        if src is None:
            raise UsageError(f"--source-ip {source_ip!r} is not an IP address")
    verb = method.strip().upper()
    if not _TOKEN.match(verb) or verb.startswith(":"):
        raise UsageError(f"--method {method!r} is not an HTTP method")
    return Request(url, scheme, host, port, path, verb, authority, tuple(pairs), direction, src)


def _split_header(item: str) -> tuple[str, str]:
    """``NAME:VALUE`` (``:pseudo:VALUE`` too) -> (lower-cased name, stripped value)."""
    start = 1 if item.startswith(":") else 0
    cut = item.find(":", start)
    name = item[:cut].strip().lower() if cut > 0 else ""
    if not name or not _TOKEN.match(name):
        raise UsageError(
            f"--header {item!r}: expected NAME:VALUE", hint="e.g. --header end-user:jason"
        )
    return name, item[cut + 1 :].strip()


def _ip(text: str) -> IP | None:
    try:
        return ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return None


def _hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


# --- the result -------------------------------------------------------------------------


@dataclass
class Step:
    """One decision Envoy makes, and why.

    ``candidate`` marks an alternative that lost (a filter chain that did not match):
    ``-o wide`` and json show those, the table hides them.
    """

    kind: str
    name: str
    matched: bool
    reason: str
    detail: dict[str, Any] = field(default_factory=dict)
    candidate: bool = False


@dataclass
class Endpoint:
    """One endpoint of a cluster and whether Envoy would use it."""

    address: str
    health: str
    usable: str  # healthy | degraded | unhealthy


@dataclass
class ClusterOutcome:
    """Where a (share of the) request ends up.

    ``state`` is ``ok``, ``missing``, ``warming``, ``empty`` (no endpoints), ``panic``
    (none healthy: Envoy still sends to all), ``unknown`` (the dump lacks the cluster's
    section or endpoints: ``why`` says what to capture) or ``unsupported`` (a custom
    cluster type).
    """

    name: str
    state: str
    weight: int | None = None
    share: float | None = None
    type: str = ""
    endpoints: list[Endpoint] = field(default_factory=list)
    why: str = ""

    @property
    def ok(self) -> bool:
        """Whether the request reaches an upstream that can serve it."""
        return self.state == "ok"

    @property
    def healthy(self) -> int:
        """How many endpoints are healthy."""
        return sum(1 for e in self.endpoints if e.usable == "healthy")


@dataclass
class Verdict:
    """How the trace ends.

    ``kind`` is one of ``upstream``, ``direct_response``, ``redirect`` (all ``ok``),
    ``no_listener``, ``no_filter_chain``, ``connection_closed``, ``no_route``,
    ``unknown_cluster``, ``cluster_warming``, ``no_endpoints``, ``no_healthy_endpoints``
    (all FAIL), ``incomplete`` (the dump lacks what the answer needs: the summary says
    what to capture) or ``inconclusive`` (pdebug cannot follow the config further); those
    two are UNKNOWN, neither OK nor FAIL.
    ``status`` is the HTTP status Envoy answers itself, when it does.
    """

    ok: bool
    kind: str
    summary: str
    status: int | None = None
    location: str | None = None
    clusters: list[ClusterOutcome] = field(default_factory=list)

    @property
    def outcome(self) -> str:
        """``OK``, ``FAIL`` or ``UNKNOWN`` (the dump or pdebug cannot tell)."""
        if self.ok:
            return "OK"
        return "UNKNOWN" if self.kind in UNKNOWN_KINDS else "FAIL"


@dataclass
class Trace:
    """The steps of one request and the verdict; ``notes`` are caveats."""

    request: Request
    steps: list[Step]
    verdict: Verdict
    notes: list[str] = field(default_factory=list)


class _Done(Exception):
    def __init__(self, verdict: Verdict) -> None:
        super().__init__(verdict.summary)
        self.verdict = verdict


# --- listeners --------------------------------------------------------------------------


@dataclass
class _Listener:
    listener: s.Listener
    state: str
    camel: bool
    addresses: list[tuple[IP | None, str, int]]

    @property
    def name(self) -> str:
        return self.listener.name or "(unnamed)"

    @property
    def bound(self) -> bool:
        return self.listener.bind_to_port is not False

    def address_for(self, port: int) -> tuple[IP | None, str, int] | None:
        for addr in self.addresses:
            if addr[2] == port:
                return addr
        return None


def _listener_addresses(lst: s.Listener) -> list[tuple[IP | None, str, int]]:
    out: list[tuple[IP | None, str, int]] = []
    addrs = [lst.address] + [a.address for a in lst.additional_addresses]
    for a in addrs:
        if a is not None and a.socket_address is not None:
            sa = a.socket_address
            out.append((_ip(sa.address), sa.address, sa.port_value))
    return out


def _collect_listeners(dump: ConfigDump) -> tuple[list[_Listener], list[_Listener]]:
    """(serving, not serving): active dynamic and static listeners; warming/draining ones."""
    camel = dump.require("listeners").camel
    serving: list[_Listener] = []
    idle: list[_Listener] = []
    for dyn in dump.dynamic_listeners().items:
        for state, st in (
            ("ACTIVE", dyn.active_state),
            ("WARMING", dyn.warming_state),
            ("DRAINING", dyn.draining_state),
        ):
            if st is not None and st.listener is not None:
                lst = _Listener(st.listener, state, camel, _listener_addresses(st.listener))
                (serving if state == "ACTIVE" else idle).append(lst)
                break
    for stat in dump.static_listeners().items:
        if stat.listener is not None:
            serving.append(
                _Listener(stat.listener, "STATIC", camel, _listener_addresses(stat.listener))
            )
    return serving, idle


def _listener_filter_kinds(lst: s.Listener) -> set[str]:
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


# --- filter chains ----------------------------------------------------------------------


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
    if best is None:
        return None, f"{what} {_cidrs(ranges)} does not contain {ip}"
    return best, f"{what} {_cidrs(ranges)} contains {ip}"


def _rank_dest_port(m: s.FilterChainMatch, c: Connection) -> _Rank:
    if not m.destination_port:
        return 0, ""
    if m.destination_port == c.dest_port:
        return 1, f"destination_port {c.dest_port}"
    return None, f"destination_port {m.destination_port}, not {c.dest_port}"


def _rank_dest_ip(m: s.FilterChainMatch, c: Connection) -> _Rank:
    unknown = "destination IP unknown (put the IP in the URL, the name in -H Host:NAME)"
    return _rank_cidr(m.prefix_ranges, c.dest_ip, "prefix_ranges", unknown)


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
    if best is None:
        return None, f"server_names {names} do not match SNI {c.server_name}"
    return best, f"server_names {names} match SNI {c.server_name}"


def _rank_transport(m: s.FilterChainMatch, c: Connection) -> _Rank:
    if not m.transport_protocol:
        return 0, ""
    if m.transport_protocol == c.transport:
        return 1, f"transport_protocol {c.transport}"
    return None, f"transport_protocol {m.transport_protocol}, not {c.transport}"


def _rank_alpn(m: s.FilterChainMatch, c: Connection) -> _Rank:
    if not m.application_protocols:
        return 0, ""
    wanted = ",".join(m.application_protocols)
    for i, proto in enumerate(c.alpn):
        if proto in m.application_protocols:
            return len(c.alpn) - i, f"application_protocols {wanted} has {proto}"
    have = ",".join(c.alpn) or "none detected"
    return None, f"application_protocols {wanted}, connection: {have}"


def _rank_direct_source(m: s.FilterChainMatch, c: Connection) -> _Rank:
    unknown = "client IP unknown (give --source-ip)"
    return _rank_cidr(m.direct_source_prefix_ranges, c.source_ip, "direct_source_prefix", unknown)


def _rank_source_type(m: s.FilterChainMatch, c: Connection) -> _Rank:
    kind = m.source_type or "ANY"
    if kind == "ANY":
        return 0, ""
    if c.source_ip is None:
        return None, f"source_type {kind}: client IP unknown (give --source-ip)"
    local = c.source_ip.is_loopback or c.source_ip == c.dest_ip
    if (kind == "SAME_IP_OR_LOOPBACK") == local:
        return 1, f"source_type {kind} ({c.source_ip})"
    return None, f"source_type {kind}, but {c.source_ip} is {'local' if local else 'external'}"


def _rank_source_ip(m: s.FilterChainMatch, c: Connection) -> _Rank:
    unknown = "client IP unknown (give --source-ip)"
    return _rank_cidr(m.source_prefix_ranges, c.source_ip, "source_prefix_ranges", unknown)


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
    ("destination port", _rank_dest_port),
    ("destination IP", _rank_dest_ip),
    ("server name", _rank_server_name),
    ("transport protocol", _rank_transport),
    ("application protocols", _rank_alpn),
    ("direct source IP", _rank_direct_source),
    ("source type", _rank_source_type),
    ("source IP", _rank_source_ip),
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
            lost[i] = f"same match as chain {_chain_label(chains[chosen], chosen)}"
        reason += f" (ambiguous: {len(alive)} chains match equally; Envoy rejects such a listener)"
    return ChainChoice(chosen, reason, lost)


def _chain_label(chain: s.FilterChain, index: int | None) -> str:
    if index is None:
        return chain.name or "default_filter_chain"
    return f"{chain.name} (#{index})" if chain.name else f"#{index}"


# --- virtual hosts and routes -----------------------------------------------------------


def select_virtual_host(vhosts: list[s.VirtualHost], host: str) -> tuple[int, str, str] | None:
    """Envoy's virtual host for a Host: (index, domain, how) or None.

    Exact domain, then the longest suffix wildcard (``*.foo.com``), then the longest
    prefix wildcard (``foo.*``), then ``*``. Wildcards never match an empty string.
    """
    host = host.lower()
    suffix: tuple[int, int, str] | None = None
    prefix: tuple[int, int, str] | None = None
    star: tuple[int, str] | None = None
    for i, vh in enumerate(vhosts):
        for domain in vh.domains:
            d = domain.lower()
            if d == host:
                return i, domain, f"exact domain {domain}"
            if d == "*":
                star = star or (i, domain)
            elif d.startswith("*"):
                tail = d[1:]
                if len(host) > len(tail) and host.endswith(tail):
                    if suffix is None or len(tail) > suffix[0]:
                        suffix = (len(tail), i, domain)
            elif d.endswith("*"):
                head = d[:-1]
                if len(host) > len(head) and host.startswith(head):
                    if prefix is None or len(head) > prefix[0]:
                        prefix = (len(head), i, domain)
    if suffix is not None:
        return suffix[1], suffix[2], f"suffix wildcard {suffix[2]} (longest matching wildcard)"
    if prefix is not None:
        return prefix[1], prefix[2], f"prefix wildcard {prefix[2]} (no exact or suffix match)"
    if star is not None:
        return star[0], star[1], "* (no exact or wildcard domain matches)"
    return None


def split_host_port(authority: str) -> tuple[str, int | None]:
    """``host:port`` / ``[v6]:port`` -> (host, port); (authority, None) without a port."""
    if authority.startswith("["):
        end = authority.find("]")
        if end > 0 and authority[end + 1 : end + 2] == ":" and authority[end + 2 :].isdigit():
            return authority[: end + 1], int(authority[end + 2 :])
        return authority, None
    host, sep, port = authority.rpartition(":")
    if sep and port.isdigit() and ":" not in host:
        return host, int(port)
    return authority, None


@dataclass
class HttpRequest:
    """The request as the router sees it (after the connection manager's rewrites)."""

    authority: str
    path: str  # :path with query
    method: str
    scheme: str
    headers: dict[str, list[str]]  # lower-cased name -> values; pseudo-headers included

    @property
    def path_only(self) -> str:
        """The path without query (what path matchers compare)."""
        return self.path.split("?", 1)[0].split("#", 1)[0]

    @property
    def query(self) -> str:
        """The raw query string."""
        return self.path.split("?", 1)[1] if "?" in self.path else ""

    def query_params(self) -> dict[str, str]:
        """Query parameters, first value of each name, not URL-decoded (as Envoy matches)."""
        out: dict[str, str] = {}
        for part in self.query.split("&"):
            if not part:
                continue
            name, _, value = part.partition("=")
            out.setdefault(name, value)
        return out

    def values(self, name: str) -> list[str] | None:
        """The values of header ``name`` (``host`` is ``:authority``), None when absent."""
        name = name.lower()
        if name == "host":
            name = ":authority"
        return self.headers.get(name)


_REGEX_CACHE: dict[str, re.Pattern[str] | None] = {}


def _regex(pattern: str) -> re.Pattern[str] | None:
    """Compile an RE2 pattern with Python's ``re`` (close enough for routing regexes)."""
    if pattern not in _REGEX_CACHE:
        try:
            _REGEX_CACHE[pattern] = re.compile(pattern)
        except re.error:
            _REGEX_CACHE[pattern] = None
    return _REGEX_CACHE[pattern]


def _string_match(m: s.StringMatcher, value: str) -> tuple[bool, str]:
    fold = m.ignore_case
    v = value.lower() if fold else value
    ic = " (ignore_case)" if fold else ""
    if m.exact is not None:
        return v == (m.exact.lower() if fold else m.exact), f"exact {m.exact!r}{ic}"
    if m.prefix is not None:
        return v.startswith(m.prefix.lower() if fold else m.prefix), f"prefix {m.prefix!r}{ic}"
    if m.suffix is not None:
        return v.endswith(m.suffix.lower() if fold else m.suffix), f"suffix {m.suffix!r}{ic}"
    if m.contains is not None:
        return (m.contains.lower() if fold else m.contains) in v, f"contains {m.contains!r}{ic}"
    if m.safe_regex is not None:
        rx = _regex(m.safe_regex.regex)
        return rx is not None and rx.fullmatch(value) is not None, f"regex {m.safe_regex.regex!r}"
    return False, "an empty string matcher"


def _header_value_match(hm: s.HeaderMatcher, value: str) -> tuple[bool, str]:
    if hm.exact_match is not None:
        return value == hm.exact_match, f"exact {hm.exact_match!r}"
    if hm.prefix_match is not None:
        return value.startswith(hm.prefix_match), f"prefix {hm.prefix_match!r}"
    if hm.suffix_match is not None:
        return value.endswith(hm.suffix_match), f"suffix {hm.suffix_match!r}"
    if hm.contains_match is not None:
        return hm.contains_match in value, f"contains {hm.contains_match!r}"
    if hm.safe_regex_match is not None:
        rx = _regex(hm.safe_regex_match.regex)
        ok = rx is not None and rx.fullmatch(value) is not None
        return ok, f"regex {hm.safe_regex_match.regex!r}"
    if hm.regex_match is not None:  # v2
        rx = _regex(hm.regex_match)
        ok = rx is not None and rx.fullmatch(value) is not None
        return ok, f"regex {hm.regex_match!r}"
    if hm.string_match is not None:
        return _string_match(hm.string_match, value)
    if hm.range_match is not None:
        r = hm.range_match
        try:
            number = int(value)
        except ValueError:
            return False, f"range [{r.start},{r.end})"
        return r.start <= number < r.end, f"range [{r.start},{r.end})"
    return True, "present"


def _has_value_matcher(hm: s.HeaderMatcher) -> bool:
    return any(
        x is not None
        for x in (
            hm.exact_match,
            hm.prefix_match,
            hm.suffix_match,
            hm.contains_match,
            hm.safe_regex_match,
            hm.regex_match,
            hm.string_match,
            hm.range_match,
        )
    )


def match_header(hm: s.HeaderMatcher, req: HttpRequest) -> tuple[bool, str]:
    """One header matcher: (matched, why)."""
    name = hm.name.lower()
    values = req.values(name)
    present = values is not None
    if values is None and hm.treat_missing_header_as_empty:
        values = [""]
    inv = " inverted" if hm.invert_match else ""
    if hm.present_match is not None or not _has_value_matcher(hm):
        want = hm.present_match if hm.present_match is not None else True
        result = present == want
        desc = f"present_match {str(want).lower()}{inv}"
        state = "present" if present else "absent"
    else:
        _, desc = _header_value_match(hm, "")
        desc += inv
        if values is None:
            return False, f"header {name} absent (wants {desc}; an absent header never matches)"
        result = any(_header_value_match(hm, v)[0] for v in values)
        state = ",".join(repr(v) for v in values)
    if hm.invert_match:
        result = not result
    verb = "matches" if result else "does not match"
    return result, f"header {name} {state} {verb} {desc}"


def match_query(qm: s.QueryParameterMatcher, params: dict[str, str]) -> tuple[bool, str]:
    """One query parameter matcher: (matched, why)."""
    value = params.get(qm.name)
    if qm.string_match is not None and qm.present_match is None:
        ok, desc = _string_match(qm.string_match, value or "")
        if value is None:
            return False, f"query {qm.name} absent (wants {desc})"
        verb = "matches" if ok else "does not match"
        return ok, f"query {qm.name}={value!r} {verb} {desc}"
    want = qm.present_match is not False
    ok = (value is not None) == want
    state = "present" if value is not None else "absent"
    return ok, f"query {qm.name} {state} ({'must be present' if want else 'must be absent'})"


def _path_match(m: s.RouteMatch, req: HttpRequest) -> tuple[bool | None, str]:
    """The path specifier: (matched, why); None when pdebug cannot evaluate it."""
    path = req.path_only
    sensitive = m.case_sensitive is not False
    folded = path if sensitive else path.lower()
    ci = "" if sensitive else " (case-insensitive)"

    def fold(text: str) -> str:
        return text if sensitive else text.lower()

    if m.prefix is not None:
        ok = folded.startswith(fold(m.prefix))
        verb = "starts with" if ok else "does not start with"
        return ok, f"path {path} {verb} prefix {m.prefix}{ci}"
    if m.path is not None:
        ok = folded == fold(m.path)
        return ok, f"path {path} {'is' if ok else 'is not'} {m.path}{ci}"
    if m.safe_regex is not None:
        rx = _regex(m.safe_regex.regex)
        if rx is None:
            return None, f"regex {m.safe_regex.regex!r}: pdebug cannot compile it (RE2 only?)"
        ok = rx.fullmatch(path) is not None
        return ok, f"path {path} {'matches' if ok else 'does not match'} regex {m.safe_regex.regex}"
    if m.regex is not None:  # v2
        rx = _regex(m.regex)
        if rx is None:
            return None, f"regex {m.regex!r}: pdebug cannot compile it"
        ok = rx.fullmatch(path) is not None
        return ok, f"path {path} {'matches' if ok else 'does not match'} regex {m.regex}"
    if m.path_separated_prefix is not None:
        p = fold(m.path_separated_prefix)
        ok = folded == p or folded.startswith(p + "/")
        verb = "is under" if ok else "is not under"
        return ok, f"path {path} {verb} path_separated_prefix {m.path_separated_prefix}{ci}"
    if _set(m.connect_matcher):
        ok = req.method == "CONNECT"
        return ok, f"connect_matcher: method {req.method}"
    if _set(m.path_match_policy):
        return None, "path_match_policy (URI template): pdebug does not evaluate it"
    return None, "no path specifier"


def _set(raw: msgspec.Raw) -> bool:
    return len(raw) > 0 and bytes(raw) != b"null"


def match_route(route: s.Route, req: HttpRequest) -> tuple[bool, str, list[str]]:
    """Whether ``route`` matches: (matched, why, caveats)."""
    m = route.match
    if m is None:
        return False, "no match block", []
    ok, why = _path_match(m, req)
    if ok is None:
        return False, why + " (taken as not matching)", [f"route {route.name or '?'}: {why}"]
    if not ok:
        return False, why, []
    texts = [why]
    for hm in m.headers:
        hok, hwhy = match_header(hm, req)
        if not hok:
            return False, hwhy, []
        texts.append(hwhy)
    params = req.query_params() if m.query_parameters else {}
    for qm in m.query_parameters:
        qok, qwhy = match_query(qm, params)
        if not qok:
            return False, qwhy, []
        texts.append(qwhy)
    if _set(m.grpc):
        ctype = (req.values("content-type") or [""])[0]
        if not ctype.startswith("application/grpc"):
            return False, f"grpc: content-type {ctype or 'absent'} is not application/grpc", []
        texts.append("grpc content-type")
    caveats = []
    for label, raw in (
        ("runtime_fraction", m.runtime_fraction),
        ("tls_context", m.tls_context),
    ):
        if _set(raw):
            caveats.append(f"route {route.name or '?'}: {label} not evaluated (taken as matching)")
    if m.dynamic_metadata:
        caveats.append(
            f"route {route.name or '?'}: dynamic_metadata not evaluated (taken as matching)"
        )
    return True, "; ".join(texts), caveats


def remove_dot_segments(path: str) -> str:
    """RFC 3986 section 5.2.4 (what ``normalize_path`` does to the path)."""
    out: list[str] = []
    for seg in path.split("/")[1:]:
        if seg == "..":
            if out:
                out.pop()
        elif seg != ".":
            out.append(seg)
    result = "/" + "/".join(out)
    if path.endswith(("/.", "/..")) and not result.endswith("/"):
        result += "/"
    return result


def _redirect_location(
    req: Request, http: HttpRequest, rd: s.RedirectAction, matched_prefix: str | None
) -> tuple[str, list[str]]:
    """The Location of a redirect: (URL, caveats)."""
    caveats: list[str] = []
    scheme = "https" if req.scheme == "https" else "http"
    new_scheme = "https" if rd.https_redirect else (rd.scheme_redirect or scheme).lower()
    host, port = split_host_port(http.authority)
    if rd.host_redirect:
        host, port = split_host_port(rd.host_redirect)
    elif new_scheme != scheme and port == DEFAULT_PORTS.get(scheme):
        port = None
    if rd.port_redirect:
        port = rd.port_redirect
    path_only, query = http.path_only, http.query
    if rd.path_redirect:
        path_only = rd.path_redirect
        if "?" in path_only:
            path_only, query = path_only.split("?", 1)
    elif rd.prefix_rewrite is not None and matched_prefix is not None:
        path_only = rd.prefix_rewrite + path_only[len(matched_prefix) :]
    elif _set(rd.regex_rewrite):
        caveats.append("redirect regex_rewrite not applied to the Location shown")
    if rd.strip_query:
        query = ""
    hostport = f"{host}:{port}" if port is not None else host
    return f"{new_scheme}://{hostport}{path_only}" + (f"?{query}" if query else ""), caveats


def _redirect_status(rd: s.RedirectAction) -> int:
    code = rd.response_code
    if isinstance(code, int):
        return {0: 301, 1: 302, 2: 303, 3: 307, 4: 308}.get(code, 301)
    return REDIRECT_CODES.get(code or "MOVED_PERMANENTLY", 301)


# --- clusters and endpoints -------------------------------------------------------------


def _cluster_type(cluster: s.Cluster) -> str:
    if cluster.cluster_type is not None and cluster.cluster_type.name:
        return cluster.cluster_type.name
    return cluster.type or "STATIC"


def _live_usable(host: s.HostStatus) -> str:
    hs = host.health_status
    if not host_is_healthy(host):
        if hs is not None and hs.eds_health_status == "DEGRADED":
            return "degraded"
        return "unhealthy"
    if hs is not None and hs.failed_active_degraded_check:
        return "degraded"
    return "healthy"


def _eds_usable(status: str) -> str:
    if status in ("", "UNKNOWN", "HEALTHY"):
        return "healthy"
    if status == "DEGRADED":
        return "degraded"
    return "unhealthy"


def _address(address: s.Address | None) -> str:
    if address is None:
        return "unknown"
    if address.socket_address is not None:
        sa = address.socket_address
        return _hostport(sa.address, sa.port_value)
    if address.pipe is not None:
        return "unix://" + address.pipe.path
    if address.envoy_internal_address is not None:
        ia = address.envoy_internal_address
        return f"envoy://{ia.server_listener_name}/{ia.endpoint_id}"
    return "unknown"


# --- the tracer -------------------------------------------------------------------------


class _Tracer:
    def __init__(self, proxy: ProxyData, request: Request) -> None:
        self.proxy = proxy
        self.dump = proxy.need_dump("trace")
        self.req = request
        self.steps: list[Step] = []
        self.notes: list[str] = []
        self._clusters: dict[str, tuple[s.Cluster, str]] | None = None
        self._cla: dict[str, s.ClusterLoadAssignment] | None = None
        self._attribution: Attribution | None = None
        self.rc_camel = False
        self.conn: Connection | None = None

    def step(
        self,
        kind: str,
        name: str,
        matched: bool,
        reason: str,
        candidate: bool = False,
        **detail: Any,
    ) -> None:
        self.steps.append(Step(kind, name, matched, reason, detail, candidate))

    def run(self) -> Trace:
        try:
            lst, conn = self.listener()
            chain = self.filter_chain(lst, conn)
            self.network(lst, chain, conn)
            raise AssertionError("the trace ended without a verdict")  # pragma: no cover
        except _Done as done:
            verdict = done.verdict
        return Trace(self.req, self.steps, verdict, self.notes)

    # -- listener

    def listener_step(self, lst: _Listener, why: str, port: int | None = None) -> None:
        self.step("listener", lst.name, True, why, address=_addr_text(lst, port), state=lst.state)

    def listener(self) -> tuple[_Listener, Connection]:
        req = self.req
        if not self.dump.has("listeners"):
            why = "the dump has no listeners section"
            self.step("listener", f"port {req.port}", False, why)
            raise _Done(Verdict(False, "incomplete", f"{why}: {FULL_DUMP}"))
        serving, idle = _collect_listeners(self.dump)
        port, ip = req.port, req.dest_ip
        if req.direction == "inbound":
            cap = _inbound_capture(serving)
            if cap is None:
                self.step("listener", "virtualInbound", False, "no inbound capture listener")
                raise _Done(
                    Verdict(
                        False,
                        "no_listener",
                        "--direction inbound, but no listener named virtualInbound (or "
                        "INBOUND with an original_dst listener filter) is active",
                    )
                )
            self.listener_step(
                cap,
                "inbound: iptables send inbound connections here; the filter chain "
                f"matches the original destination port {port}",
            )
            return cap, self.connection(cap, via_capture=True)
        direct = None if req.direction == "outbound" else _owner(serving, port, ip, bound=True)
        capture = _outbound_capture(serving) if direct is None else None
        if req.direction == "outbound" and capture is None:
            self.notes.append(
                "--direction outbound: no listener has use_original_dst; "
                "taking the connection to reach the port directly"
            )
            direct = _owner(serving, port, ip, bound=True)
        if direct is not None:
            lst, why = direct
            self.listener_step(lst, why, port)
            return lst, self.connection(lst, via_capture=False)
        if capture is not None and not capture.listener.use_original_dst:
            self.listener_step(
                capture,
                "original_dst listener filter: takes outbound connections (redirected to it "
                "by iptables) and matches its filter chains on their original destination "
                f"{req.destination}; no hand-off (use_original_dst is not set)",
            )
            return capture, self.connection(capture, via_capture=True, keeps=True)
        if capture is not None:
            self.listener_step(
                capture,
                "use_original_dst: takes outbound connections (Istio's iptables) and hands each "
                "to the listener of its original destination",
            )
            others = [x for x in serving if x is not capture]
            own = ip is not None and any(a[0] == ip and a[2] == port for a in capture.addresses)
            owner = None if own else _owner(others, port, ip, bound=False, host=req.host)
            if owner is not None:
                lst, why = owner
                self.listener_step(lst, f"hand-off: {why}", port)
                return lst, self.connection(lst, via_capture=True)
            why = f"no listener owns {req.destination} or 0.0.0.0:{port}"
            if own:
                why = f"{req.destination} is {capture.name}'s own address: no hand-off"
            specific = [x.name for x in others if x.address_for(port)]
            if specific and ip is None:
                why += f" (if {req.host} resolves to the IP of {', '.join(specific)}, that one)"
            self.listener_step(capture, f"{why}: the connection stays on {capture.name}")
            return capture, self.connection(capture, via_capture=True)
        inner = _waypoint_listener(serving)
        if inner is not None:
            return self.waypoint(serving, inner)
        why = f"no active listener binds port {port}"
        unbound = [x.name for x in serving if not x.bound and x.address_for(port)]
        if unbound:
            why += f" ({', '.join(unbound)} has bind_to_port false and no listener captures)"
        waiting = [f"{x.name} ({x.state})" for x in idle if x.address_for(port)]
        if waiting:
            why += f"; not serving yet: {', '.join(waiting)}"
        self.step("listener", f"port {port}", False, why)
        raise _Done(Verdict(False, "no_listener", f"connection refused: {why}"))

    def waypoint(self, serving: list[_Listener], inner: _Listener) -> tuple[_Listener, Connection]:
        """An ambient waypoint: HBONE in on connect_terminate, then its internal listener."""
        req = self.req
        terminate = next((x for x in serving if x.name == "connect_terminate"), None)
        tunnel = (
            f"HBONE: ztunnel opens an HTTP/2 CONNECT to {req.destination} over mTLS on port "
            f"15008; the waypoint ends the tunnel and passes the stream to {inner.name}"
        )
        if terminate is not None:
            self.listener_step(terminate, tunnel, 15008)
        else:
            self.notes.append(
                f"waypoint: the dump has no connect_terminate listener; {tunnel} (assumed)"
            )
        self.listener_step(
            inner,
            "internal listener of a waypoint: the tunnel's original destination "
            f"{req.destination} picks the filter chain (filter_chain_matcher)",
        )
        conn = self.connection(inner, via_capture=True)
        if conn.dest_ip is None:
            guess = _waypoint_destination(inner, req.host, req.port)
            if guess is not None:
                ip, chain = guess
                conn = dataclasses.replace(conn, dest_ip=ip)
                self.notes.append(
                    f"{req.host} taken as {ip}: the matcher's chain for it on port {req.port} "
                    f"is {chain}"
                )
        return inner, conn

    def connection(self, lst: _Listener, via_capture: bool, keeps: bool = False) -> Connection:
        req = self.req
        dest_ip = req.dest_ip
        notes = []
        if dest_ip is None and keeps:
            dest_ip, note = _guess_destination(lst.listener, req.host)
            notes.append(note)
        if dest_ip is None and not via_capture:
            addr = lst.address_for(req.port)
            if addr is not None and addr[0] is not None and not addr[0].is_unspecified:
                dest_ip = addr[0]
                notes.append(f"destination IP {dest_ip} (the listener's own address)")
        kinds = _listener_filter_kinds(lst.listener)
        transport, sni = "raw_buffer", ""
        alpn: tuple[str, ...] = ()
        if req.scheme == "https":
            if "tls_inspector" in kinds:
                transport = "tls"
                sni = "" if req.dest_ip is not None else req.host
                alpn = HTTPS_ALPN
                notes.append(
                    f"TLS (tls_inspector): SNI {sni or 'none'}, ALPN {','.join(alpn)} assumed"
                )
            else:
                notes.append("no tls_inspector: Envoy sees transport raw_buffer, no SNI")
        elif req.scheme == "http" and "http_inspector" in kinds:
            alpn = ("http/1.1",)
            notes.append("http_inspector detects http/1.1")
        conn = Connection(dest_ip, req.port, req.source_ip, None, sni, transport, alpn)
        dest = _hostport(str(dest_ip), req.port) if dest_ip else req.destination
        src = str(req.source_ip) if req.source_ip else "unknown client"
        base = f"transport {transport}" + (f", ALPN {','.join(alpn)}" if alpn else "")
        self.step(
            "connection",
            f"{src} -> {dest}",
            True,
            "; ".join([base, *notes]),
            destination_ip=str(dest_ip) if dest_ip else None,
            destination_port=req.port,
            source_ip=str(req.source_ip) if req.source_ip else None,
            server_name=sni or None,
            transport_protocol=transport,
            application_protocols=list(alpn),
        )
        return conn

    # -- filter chain

    def filter_chain(self, lst: _Listener, conn: Connection) -> s.FilterChain:
        listener = lst.listener
        if _set(listener.filter_chain_matcher):
            return self.matched_chain(lst, conn)
        chains = listener.filter_chains
        choice = select_filter_chain(chains, conn)
        for i, chain in enumerate(chains):
            label = _chain_label(chain, i)
            if i == choice.index:
                self.step("filter_chain", label, True, choice.reason, index=i)
            else:
                why = choice.lost.get(i, "not reached")
                self.step("filter_chain", label, False, why, candidate=True, index=i)
        if choice.index is not None:
            return chains[choice.index]
        failed = f" ({choice.failed})" if choice.failed else ""
        if listener.default_filter_chain is not None:
            chain = listener.default_filter_chain
            self.step(
                "filter_chain",
                _chain_label(chain, None),
                True,
                f"default_filter_chain: none of the {len(chains)} filter chains matches{failed}",
                index=None,
            )
            return chain
        why = f"none of the {len(chains)} filter chains matches{failed} and there is no default"
        self.step("filter_chain", lst.name, False, why)
        raise _Done(Verdict(False, "no_filter_chain", f"Envoy closes the connection: {why}"))

    def matched_chain(self, lst: _Listener, conn: Connection) -> s.FilterChain:
        """The chain a ``filter_chain_matcher`` (matcher tree) names, as Envoy walks it."""
        from pdebug import matcher as mt

        listener = lst.listener
        tree = _matcher_tree(lst)
        inputs = mt.Inputs(
            str(conn.dest_ip) if conn.dest_ip is not None else None,
            conn.dest_port,
            str(conn.source_ip) if conn.source_ip is not None else None,
            conn.source_port,
            None,
            conn.server_name,
            conn.transport,
            conn.alpn,
        )
        try:
            found = mt.evaluate(tree, inputs)
        except mt.Unsupported as exc:
            self.step("filter_chain", lst.name, False, f"filter_chain_matcher: {exc}")
            raise _Done(
                Verdict(
                    False,
                    "inconclusive",
                    f"{lst.name} picks chains with filter_chain_matcher: {exc}",
                )
            ) from None
        walk = "; ".join(found.steps)
        by_name = {c.name: c for c in listener.filter_chains}
        if found.action is not None and found.action in by_name:
            self.step(
                "filter_chain",
                found.action,
                True,
                f"filter_chain_matcher: {walk}",
                index=listener.filter_chains.index(by_name[found.action]),
            )
            return by_name[found.action]
        if found.action is not None:
            why = f"the matcher names chain {found.action!r}, which the listener lacks"
        else:
            why = f"the matcher leads to no chain ({walk})"
        if listener.default_filter_chain is not None:
            chain = listener.default_filter_chain
            label = _chain_label(chain, None)
            self.step("filter_chain", label, True, f"default: {why}", index=None)
            return chain
        self.step("filter_chain", lst.name, False, why)
        raise _Done(Verdict(False, "no_filter_chain", f"Envoy closes the connection: {why}"))

    # -- network filters

    def network(self, lst: _Listener, chain: s.FilterChain, conn: Connection) -> None:
        self.conn = conn
        names = [f.name or "(unnamed)" for f in chain.filters]
        for i, f in enumerate(chain.filters):
            note = f" (before it, not evaluated: {_some(names[:i])})" if i else ""
            kind = network_kind(f)
            if not kind:
                continue
            if not _set(filter_config(f)):
                self.step("network_filter", f.name, False, "no typed_config or config to read")
                raise _Done(Verdict(False, "inconclusive", f"{f.name} has no config to read"))
            if kind == HCM:
                hcm = decode_filter(f, s.HttpConnectionManager, lst.camel, f.name)
                self.rc_camel = lst.camel
                self.http(hcm, f.name, note, conn)
            tcp = decode_filter(f, s.TcpProxy, lst.camel, f.name)
            self.tcp(tcp, f.name, note)
        if not names:
            self.step("network_filter", "-", False, "the filter chain has no network filters")
            raise _Done(Verdict(False, "connection_closed", "Envoy closes the connection"))
        self.step("network_filter", names[-1], False, "not traced by pdebug")
        raise _Done(
            Verdict(
                False,
                "inconclusive",
                f"the chain ends in {names[-1]}; pdebug traces http_connection_manager "
                "and tcp_proxy",
            )
        )

    def tcp(self, tcp: s.TcpProxy, name: str, note: str) -> None:
        if tcp.weighted_clusters is not None and tcp.weighted_clusters.clusters:
            targets: list[tuple[str, int | None]] = [
                (c.name, c.weight or 0) for c in tcp.weighted_clusters.clusters
            ]
            what = "weighted clusters " + ", ".join(f"{n}:{w}" for n, w in targets)
            self.step("network_filter", name, True, f"TCP proxy to {what}{note}")
            self.clusters(targets, tcp=True)
        if tcp.cluster:
            self.step("network_filter", name, True, f"TCP proxy to cluster {tcp.cluster}{note}")
            self.clusters([(tcp.cluster, None)], tcp=True)
        v1 = tcp.value.route_config if tcp.value is not None else None
        if v1 is not None:
            self.tcp_v1(v1.routes, name, note)
        self.step("network_filter", name, False, "tcp_proxy without a cluster")
        raise _Done(Verdict(False, "inconclusive", "tcp_proxy names no cluster (on-demand?)"))

    def tcp_v1(self, routes: list[s.TcpProxyV1Route], name: str, note: str) -> None:
        """The v1 TCP proxy (Istio 1.0): the first route whose IPs and ports match."""
        conn = self.conn
        assert conn is not None
        for i, route in enumerate(routes):
            why = _v1_route_mismatch(route, conn)
            if why is None and route.cluster:
                self.step(
                    "network_filter",
                    name,
                    True,
                    f"TCP proxy (deprecated_v1) route #{i} to cluster {route.cluster}{note}",
                )
                self.clusters([(route.cluster, None)], tcp=True)
            if why is not None:
                self.step("route", f"#{i} {route.cluster}", False, why, candidate=True)
        self.step("network_filter", name, False, "no deprecated_v1 TCP route matches")
        raise _Done(
            Verdict(False, "connection_closed", "Envoy closes the connection: no TCP route matches")
        )

    # -- HTTP

    def http(
        self,
        hcm: s.HttpConnectionManager,
        name: str,
        note: str,
        conn: Connection,
    ) -> None:
        req = self.req
        filters = [f.name for f in hcm.http_filters if not f.name.endswith("router")]
        http_note = f"; HTTP filters not evaluated: {_some(filters)}" if filters else ""
        if req.scheme == "tcp":
            http_note += "; a tcp:// client is traced as an HTTP GET /"
        self.step("network_filter", name, True, f"HTTP connection manager{note}{http_note}")
        rc = self.route_config(hcm)
        authority = req.authority
        host, port = split_host_port(authority)
        if hcm.strip_any_host_port and port is not None:
            authority = host
        elif hcm.strip_matching_host_port and port == conn.dest_port:
            authority = host
        path = req.path if req.scheme != "tcp" else "/"
        if hcm.normalize_path or hcm.merge_slashes:
            only, sep, query = path.partition("?")
            if hcm.normalize_path:
                only = remove_dot_segments(only)
            if hcm.merge_slashes:
                only = re.sub("/{2,}", "/", only)
            path = only + sep + query
        headers: dict[str, list[str]] = {
            ":authority": [authority],
            ":path": [path],
            ":method": [req.method],
            ":scheme": ["https" if req.scheme == "https" else "http"],
        }
        for key, value in req.headers:
            headers.setdefault(key, []).append(value)
        http = HttpRequest(authority, path, req.method, headers[":scheme"][0], headers)
        vhost_host = authority
        shown = authority
        if authority != req.authority:
            shown = f"{req.authority} (port stripped by the connection manager)"
        if rc.ignore_port_in_host_matching and split_host_port(authority)[1] is not None:
            vhost_host = split_host_port(authority)[0]
            shown = f"{authority} (port ignored: ignore_port_in_host_matching)"
        vhost = self.virtual_host(rc, vhost_host, shown)
        if vhost.require_tls == "ALL" and http.scheme != "https":
            location = f"https://{http.authority}{http.path}"
            self.step("action", "require_tls", True, f"require_tls ALL: redirect to {location}")
            raise _Done(
                Verdict(True, "redirect", f"301 to {location} (require_tls)", 301, location)
            )
        route = self.route(vhost, http)
        self.action(route, http)

    def route_config(self, hcm: s.HttpConnectionManager) -> s.RouteConfiguration:
        if hcm.route_config is not None:
            rc = hcm.route_config
            self.step("route_config", rc.name or "(inline)", True, "inline route_config")
            return rc
        if hcm.rds is not None and hcm.rds.route_config_name:
            rds = hcm.rds.route_config_name
            for key in ("dynamic_route_configs", "static_route_configs"):
                entries = self.dump.route_entries(key)
                for entry in entries.items:
                    if entry.route_config.name == rds:
                        self.rc_camel = entries.section.camel if entries.section else False
                        version = f", version {entry.version_info}" if entry.version_info else ""
                        self.step("route_config", rds, True, f"RDS{version}")
                        return entry.route_config
            if not self.dump.has("routes"):
                why = f"RDS {rds}: the dump has no routes section"
                self.step("route_config", rds, False, why)
                raise _Done(Verdict(False, "incomplete", f"{why}: {FULL_DUMP}"))
            why = f"RDS {rds} is not in the dump: Envoy has not received it"
            self.step("route_config", rds, False, why)
            raise _Done(Verdict(False, "no_route", f"404: {why}", 404))
        if _set(hcm.scoped_routes):
            self.step("route_config", "scoped_routes", False, "scoped RDS")
            raise _Done(
                Verdict(False, "inconclusive", "scoped routes (SRDS): pdebug does not follow them")
            )
        self.step("route_config", "-", False, "the connection manager names no route config")
        raise _Done(Verdict(False, "inconclusive", "no route config"))

    def virtual_host(self, rc: s.RouteConfiguration, host: str, shown: str) -> s.VirtualHost:
        found = select_virtual_host(rc.virtual_hosts, host)
        hint = ""
        bare, port = split_host_port(host)
        if port is not None and (found is None or not found[2].startswith("exact")):
            exact = select_virtual_host(rc.virtual_hosts, bare)
            if exact is not None and exact[2].startswith("exact"):
                vh_name = rc.virtual_hosts[exact[0]].name
                hint = (
                    f"; {bare} (without the port) would match {vh_name}: Envoy compares the "
                    "Host header with its port"
                )
        if found is None:
            n = len(rc.virtual_hosts)
            why = f"no virtual host of {n} matches Host {shown}{hint}"
            self.step("virtual_host", host, False, why)
            raise _Done(Verdict(False, "no_route", f"404: {why}", 404))
        index, domain, how = found
        vh = rc.virtual_hosts[index]
        self.step(
            "virtual_host", vh.name, True, f"Host {shown}: {how}{hint}", domain=domain, index=index
        )
        if _set(vh.matcher):
            raise _Done(Verdict(False, "inconclusive", f"{vh.name} routes with a matcher tree"))
        return vh

    def route(self, vhost: s.VirtualHost, http: HttpRequest) -> tuple[s.Route, str | None]:
        for i, route in enumerate(vhost.routes):
            ok, why, caveats = match_route(route, http)
            self.notes.extend(caveats)
            label = route.name or f"#{i}"
            self.step("route", label, ok, why, index=i)
            if ok:
                m = route.match
                prefix = None
                if m is not None:
                    prefix = m.prefix if m.prefix is not None else m.path_separated_prefix
                return route, prefix
        why = f"none of the {len(vhost.routes)} routes of {vhost.name} matches"
        raise _Done(Verdict(False, "no_route", f"404: {why}", 404))

    def action(self, matched: tuple[s.Route, str | None], http: HttpRequest) -> None:
        route, prefix = matched
        if route.direct_response is not None:
            dr = route.direct_response
            body = dr.body.inline_string if dr.body is not None else ""
            self.step("action", "direct_response", True, f"Envoy answers {dr.status} itself")
            raise _Done(
                Verdict(
                    True,
                    "direct_response",
                    f"{dr.status} from Envoy (direct_response)"
                    + (f": {body[:60]!r}" if body else ""),
                    dr.status,
                )
            )
        if _set(route.redirect):
            rd = decode_raw(route.redirect, s.RedirectAction, self.rc_camel, "redirect")
            location, caveats = _redirect_location(self.req, http, rd, prefix)
            self.notes.extend(caveats)
            status = _redirect_status(rd)
            self.step("action", "redirect", True, f"{status} to {location}", location=location)
            raise _Done(
                Verdict(True, "redirect", f"{status} redirect to {location}", status, location)
            )
        act = route.route
        if act is None:
            self.step("action", "-", False, "the route has no route/redirect/direct_response")
            raise _Done(Verdict(False, "inconclusive", "a route action pdebug does not know"))
        missing_code = _NOT_FOUND_CODES.get(act.cluster_not_found_response_code, 503)
        if act.weighted_clusters is not None and act.weighted_clusters.clusters:
            targets: list[tuple[str, int | None]] = [
                (c.name, c.weight or 0) for c in act.weighted_clusters.clusters
            ]
            total = sum(w or 0 for _, w in targets)
            text = ", ".join(f"{n} {_pct(w or 0, total)}" for n, w in targets)
            self.step("action", "weighted_clusters", True, text, total_weight=total)
            self.clusters(targets, tcp=False, missing_code=missing_code)
        if act.cluster:
            self.step("action", "cluster", True, f"route to cluster {act.cluster}")
            self.clusters([(act.cluster, None)], tcp=False, missing_code=missing_code)
        if act.cluster_header:
            values = http.values(act.cluster_header)
            if not values or not values[0]:
                why = f"cluster_header {act.cluster_header} is absent"
                self.step("action", "cluster_header", False, why)
                raise _Done(
                    Verdict(False, "unknown_cluster", f"{missing_code}: {why}", missing_code)
                )
            self.step(
                "action",
                "cluster_header",
                True,
                f"cluster from header {act.cluster_header}: {values[0]}",
            )
            self.clusters([(values[0], None)], tcp=False, missing_code=missing_code)
        self.step("action", "-", False, "cluster_specifier_plugin or an unknown action")
        raise _Done(Verdict(False, "inconclusive", "a cluster specifier pdebug does not know"))

    # -- clusters

    def cluster_index(self) -> dict[str, tuple[s.Cluster, str]]:
        if self._clusters is None:
            found: dict[str, tuple[s.Cluster, str]] = {}
            if self.dump.has("clusters"):
                for key, state in (
                    ("dynamic_warming_clusters", "WARMING"),
                    ("static_clusters", "STATIC"),
                    ("dynamic_active_clusters", "ACTIVE"),
                ):
                    for entry in self.dump.cluster_entries(key).items:
                        found[entry.cluster.name] = (entry.cluster, state)
            self._clusters = found
        return self._clusters

    def attribution(self) -> Attribution:
        if self._attribution is None:
            self._attribution = attribute(self.dump, self.proxy.health)
        return self._attribution

    def cla_index(self) -> dict[str, s.ClusterLoadAssignment]:
        if self._cla is None:
            found: dict[str, s.ClusterLoadAssignment] = {}
            names = self.attribution()
            for key in ("static_endpoint_configs", "dynamic_endpoint_configs"):
                for entry in self.dump.endpoint_entries(key).items:
                    name = names.cluster_of(entry.endpoint_config)
                    if name:
                        found[name] = entry.endpoint_config
            self._cla = found
        return self._cla

    def clusters(
        self, targets: list[tuple[str, int | None]], tcp: bool, missing_code: int = 503
    ) -> None:
        total = sum(w or 0 for _, w in targets)
        outcomes = []
        for name, weight in targets:
            share = None if weight is None else (100.0 * weight / total if total else 0.0)
            outcomes.append(self.cluster(name, weight, share))
        raise _Done(_final(outcomes, tcp, missing_code, self.req))

    def cluster(self, name: str, weight: int | None, share: float | None) -> ClusterOutcome:
        part = "" if share is None else f"; {share:.4g}% of requests"
        if not self.dump.has("clusters"):
            self.step("cluster", name, False, "the dump has no clusters section")
            return ClusterOutcome(name, "unknown", weight, share, why=FULL_DUMP)
        found = self.cluster_index().get(name)
        if found is None:
            self.step("cluster", name, False, f"no such cluster in the dump{part}")
            return ClusterOutcome(name, "missing", weight, share)
        cluster, state = found
        ctype = _cluster_type(cluster)
        if state == "WARMING":
            self.step("cluster", name, False, f"{ctype}, still warming: not serving yet{part}")
            return ClusterOutcome(name, "warming", weight, share, ctype)
        if ctype == "ORIGINAL_DST":
            why = f"ORIGINAL_DST: Envoy connects to the original destination {self.req.destination}"
            self.step("cluster", name, True, why + part, type=ctype, weight=weight, share=share)
            return ClusterOutcome(name, "ok", weight, share, ctype)
        if cluster.cluster_type is not None and cluster.cluster_type.name:
            self.step("cluster", name, True, f"custom cluster type {ctype}{part}", type=ctype)
            self.notes.append(f"{name}: pdebug does not follow {ctype} clusters")
            return ClusterOutcome(name, "unsupported", weight, share, ctype)
        lb = cluster.lb_policy or "ROUND_ROBIN"
        self.step(
            "cluster", name, True, f"{ctype}, {lb}{part}", type=ctype, weight=weight, share=share
        )
        endpoints, source = self.endpoints(cluster)
        if endpoints is None:
            why = source or f"the dump has no EDS: {WITH_EDS}"
            self.step("endpoints", name, False, f"unknown: {why}")
            return ClusterOutcome(name, "unknown", weight, share, ctype, why=why)
        healthy = sum(1 for e in endpoints if e.usable == "healthy")
        degraded = sum(1 for e in endpoints if e.usable == "degraded")
        shown = ", ".join(f"{e.address} {e.health}" for e in endpoints[:_SHOWN_ENDPOINTS])
        if len(endpoints) > _SHOWN_ENDPOINTS:
            shown += f", +{len(endpoints) - _SHOWN_ENDPOINTS} more"
        usable_pct = 100.0 * (healthy + degraded) / len(endpoints) if endpoints else 0.0
        if not endpoints:
            state, why = "empty", "no endpoints"
        elif healthy + degraded == 0:
            state = "panic"
            why = f"0 of {len(endpoints)} healthy: panic mode, Envoy still sends to all ({shown})"
        else:
            state = "ok"
            why = f"{healthy} of {len(endpoints)} healthy"
            if degraded:
                why += f", {degraded} degraded"
            if usable_pct < PANIC_THRESHOLD:
                why += " (below 50%: panic mode, Envoy sends to all)"
            why += f": {shown}"
        self.step(
            "endpoints",
            name,
            state == "ok",
            f"{why}; health from {source}",
            health_source=source,
            endpoints=[dataclasses.asdict(e) for e in endpoints],
            healthy=healthy,
        )
        return ClusterOutcome(name, state, weight, share, ctype, endpoints)

    def endpoints(self, cluster: s.Cluster) -> tuple[list[Endpoint] | None, str]:
        if self.proxy.health is not None:
            for live_status in self.proxy.health.statuses:
                if live_status.name == cluster.name:
                    hosts = live_status.host_statuses
                    return [
                        Endpoint(
                            _address(h.address),
                            (h.health_status.eds_health_status if h.health_status else "")
                            or "HEALTHY",
                            _live_usable(h),
                        )
                        for h in hosts
                    ], "/clusters"
        live = ""
        if self.proxy.health is None:
            live = " (no live /clusters data)"
            note = (
                "endpoint health is EDS's as captured: add --clusters-json FILE "
                "(GET /clusters?format=json) or trace a live proxy for Envoy's own view"
            )
            if note not in self.notes:
                self.notes.append(note)
        cla = self.cla_index().get(cluster.name)
        if cla is None and cluster.eds_cluster_config is not None:
            cla = self.cla_index().get(cluster.eds_cluster_config.service_name)
        source = "EDS"
        if cla is None and cluster.load_assignment is not None:
            cla, source = cluster.load_assignment, "the cluster's load_assignment"
        if cla is None and _cluster_type(cluster) == "STATIC":
            # a static cluster's own config is what Envoy uses (v2: ``hosts``)
            own = [Endpoint(_address(a), "UNKNOWN", "healthy") for a in cluster.hosts]
            return own, ("the cluster's hosts" if own else "the cluster's config") + live
        if cla is None:
            if not self.dump.has("endpoints"):
                return None, ""
            if cluster.type == "EDS":
                pending = self.attribution().unattributed
                if pending:
                    return None, (
                        "Envoy wrote its endpoints without cluster_name; "
                        + next(iter(pending.values()))
                    )
                return None, f"the dump's EDS has no assignment for it: {WITH_EDS}"
            return [], source + live
        out = []
        for group in cla.endpoints:
            for lb in group.lb_endpoints:
                ep = lb.endpoint
                status = lb.health_status or "UNKNOWN"
                out.append(
                    Endpoint(_address(ep.address if ep else None), status, _eds_usable(status))
                )
        return out, source + live


def _some(names: list[str], most: int = 4) -> str:
    """``a, b, c, d +2 more``."""
    text = ", ".join(names[:most])
    return text + (f" +{len(names) - most} more" if len(names) > most else "")


def _pct(weight: int, total: int) -> str:
    return f"{100.0 * weight / total:.4g}%" if total else "0%"


def _addr_text(lst: _Listener, port: int | None = None) -> str:
    addr = lst.address_for(port) if port is not None else None
    addr = addr or (lst.addresses[0] if lst.addresses else None)
    return _hostport(addr[1], addr[2]) if addr else ""


def _outbound_capture(listeners: list[_Listener]) -> _Listener | None:
    """Where iptables sends outbound connections, if a listener takes them.

    A ``use_original_dst`` listener (Istio's ``virtualOutbound``), else one with the
    ``original_dst`` listener filter that is not inbound (OSM's ``outbound-listener``,
    Consul's ``outbound_listener``).
    """
    found = [x for x in listeners if x.listener.use_original_dst]
    named = [x for x in found if x.name in OUTBOUND_CAPTURE_NAMES]
    if found:
        return (named or found)[0]
    found = [
        x
        for x in listeners
        if x.listener.traffic_direction != "INBOUND"
        and "original_dst" in _listener_filter_kinds(x.listener)
    ]
    named = [x for x in found if x.listener.traffic_direction == "OUTBOUND"]
    return (named or found)[0] if found else None


_TOKEN_SPLIT = re.compile(r"[^a-z0-9_-]+")


def _tokens(text: str) -> set[str]:
    return set(_TOKEN_SPLIT.split(text.lower())) - {""}


def _guess_destination(lst: s.Listener, host: str) -> tuple[IP | None, str]:
    """The original destination IP for a URL that names a host, when the chains tell.

    A transparent-proxy listener that keeps its connections (OSM, Consul) picks a chain
    by destination IP. When exactly one chain matching on IPs names the host (its name,
    or a tcp_proxy cluster, has the host's first label as a word), its address is taken.
    """
    label = host.split(".", 1)[0].lower()
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
        if label in words:
            named.append((index, chain))
    give = f"give the IP in the URL and the name in -H Host:{host}"
    if len(named) == 1:
        index, chain = named[0]
        m = chain.filter_chain_match
        assert m is not None
        r = m.prefix_ranges[0]
        ip = _ip(r.address_prefix)
        if ip is not None:
            label_text = _chain_label(chain, index)
            return ip, (
                f"destination IP taken as {ip}: {host} is a name and {label_text} is the only "
                f"chain matching by IP that names it ({give} to be sure)"
            )
    return None, (
        f"destination IP unknown: {len(by_ip)} filter chains match by IP, "
        f"{len(named) or 'none'} of them name {host}; {give}"
    )


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


def _v1_route_mismatch(route: s.TcpProxyV1Route, conn: Connection) -> str | None:
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


def _matcher_tree(lst: _Listener) -> Any:
    """The listener's ``filter_chain_matcher`` as plain data, in snake_case."""
    from pdebug.matcher import snake_tree

    return snake_tree(orjson.loads(bytes(lst.listener.filter_chain_matcher)))


def _waypoint_listener(listeners: list[_Listener]) -> _Listener | None:
    """A waypoint's ``main_internal``: an internal listener choosing chains by a matcher."""
    for lst in listeners:
        listener = lst.listener
        if _set(listener.internal_listener) and _set(listener.filter_chain_matcher):
            if lst.name == "main_internal" or len(listener.filter_chains) > 1:
                return lst
    return None


def _waypoint_destination(lst: _Listener, host: str, port: int) -> tuple[IP, str] | None:
    """The service VIP a host name stands for, from the waypoint's own matcher.

    The matcher maps each VIP (a /32 or /128 range) to chains per port named after the
    service (``inbound-vip|PORT|http|HOST``): the one VIP whose chain on ``port`` names
    ``host`` (its first label) is taken.
    """
    tree = _matcher_tree(lst)
    label = host.split(".")[0]
    found: list[tuple[IP, str]] = []
    custom = (tree.get("matcher_tree") or {}).get("custom_match") or {}
    for rm in (custom.get("typed_config") or {}).get("range_matchers") or []:
        sub = ((rm.get("on_match") or {}).get("matcher") or {}).get("matcher_tree") or {}
        chains = ((sub.get("exact_match_map") or {}).get("map") or {}).get(str(port)) or {}
        name = str(((chains.get("action") or {}).get("name")) or "")
        parts = name.split("|")
        if len(parts) < 4 or not parts[3].startswith(label + "."):
            continue
        for r in rm.get("ranges") or []:
            ip = _ip(str(r.get("address_prefix", "")))
            if ip is not None:
                found.append((ip, name))
    return found[0] if len({ip for ip, _ in found}) == 1 else None


def _inbound_capture(listeners: list[_Listener]) -> _Listener | None:
    named = [x for x in listeners if x.name == "virtualInbound"]
    if named:
        return named[0]
    for x in listeners:
        if x.listener.traffic_direction == "INBOUND" and "original_dst" in _listener_filter_kinds(
            x.listener
        ):
            return x
    return None


def _owner(
    listeners: list[_Listener], port: int, ip: IP | None, bound: bool, host: str = ""
) -> tuple[_Listener, str] | None:
    """The listener a connection to ``ip:port`` reaches, and why (None: none)."""
    on_port = [
        (x, addr)
        for x in listeners
        if (x.bound or not bound)
        for addr in x.addresses
        if addr[2] == port
    ]
    if not on_port:
        return None
    if ip is not None:
        for x, addr in on_port:
            if addr[0] == ip:
                return x, f"binds {_hostport(addr[1], port)}, the destination"
    wild = [(x, a) for x, a in on_port if a[0] is not None and a[0].is_unspecified]
    specific = [(x, a) for x, a in on_port if not (a[0] is not None and a[0].is_unspecified)]
    if ip is None and specific and not bound:
        # A host name: Istio gives TCP services per-VIP listeners; pick the one whose
        # cluster names the host (reviews -> outbound|9080||reviews.default.svc...).
        named = [(x, a) for x, a in specific if host and _routes_to_host(x.listener, host)]
        if len(named) == 1:
            x, a = named[0]
            return x, (
                f"{x.name} ({_hostport(a[1], port)}) sends to a cluster of {host}; "
                "the URL host is a name, so pdebug takes it as that listener's IP"
            )
    if wild:
        x, a = wild[0]
        why = f"binds {_hostport(a[1], port)} (any address on port {port})"
        if ip is None and specific:
            others = ", ".join(f"{s_.name}" for s_, _ in specific)
            why += f"; if {host or 'the host'} resolves to another listener's IP: {others}"
        return x, why
    if ip is None and specific:
        x, a = specific[0]
        why = f"binds {_hostport(a[1], port)}"
        if len(specific) > 1:
            why += f", first of {len(specific)} listeners on port {port} (give the IP in the URL)"
        else:
            why += f", the only listener on port {port}"
        if bound:
            return x, why
        return None
    if ip is not None and specific and bound:
        x, a = specific[0]
        return x, (f"binds {_hostport(a[1], port)}, not {ip}; taken as where the request arrives")
    return None


def _routes_to_host(lst: s.Listener, host: str) -> bool:
    """Whether a listener's chains name a cluster of ``host`` (``|host.`` in the name)."""
    needle = f"|{host}".encode()
    for chain in lst.filter_chains:
        for f in chain.filters:
            raw = bytes(filter_config(f))
            if needle + b"." in raw or needle + b'"' in raw:
                return True
    return False


def _final(outcomes: list[ClusterOutcome], tcp: bool, missing_code: int, req: Request) -> Verdict:
    """The verdict once the request's clusters are known."""
    live = [o for o in outcomes if o.share is None or o.share > 0]
    # A definite failure says more than a share pdebug cannot tell about.
    bad = sorted((o for o in live if not o.ok), key=lambda o: o.state in ("unknown", "unsupported"))

    def part(o: ClusterOutcome) -> str:
        share = f" ({o.share:.4g}%)" if o.share is not None else ""
        return o.name + share

    if not bad:
        if any(o.type == "ORIGINAL_DST" for o in live):
            names = ", ".join(part(o) for o in live)
            return Verdict(
                True,
                "upstream",
                f"passed through to {req.destination} via {names}",
                None,
                clusters=outcomes,
            )
        text = ", ".join(f"{part(o)}: {o.healthy} of {len(o.endpoints)} healthy" for o in live)
        return Verdict(True, "upstream", f"routed to {text}", clusters=outcomes)
    worst = bad[0]
    scope = f" ({worst.share:.4g}% of requests)" if worst.share is not None else ""
    closed = "Envoy closes the connection"
    if worst.state == "missing":
        what = f"cluster {worst.name} is not in the dump{scope}"
        if tcp:
            return Verdict(False, "unknown_cluster", f"{closed}: {what}", clusters=outcomes)
        return Verdict(
            False,
            "unknown_cluster",
            f"{missing_code}: {what}",
            missing_code,
            clusters=outcomes,
        )
    if worst.state == "warming":
        what = f"cluster {worst.name} is still warming{scope}"
        status = None if tcp else 503
        text = f"{closed}: {what}" if tcp else f"503: {what}"
        return Verdict(False, "cluster_warming", text, status, clusters=outcomes)
    if worst.state == "empty":
        what = f"cluster {worst.name} has no endpoints{scope}"
        status = None if tcp else 503
        text = f"{closed}: {what}" if tcp else f"503 no healthy upstream: {what}"
        return Verdict(False, "no_endpoints", text, status, clusters=outcomes)
    if worst.state == "panic":
        what = (
            f"cluster {worst.name} has no healthy endpoint{scope}; in panic mode Envoy "
            f"still sends to all {len(worst.endpoints)}"
        )
        return Verdict(False, "no_healthy_endpoints", what, clusters=outcomes)
    what = f"pdebug cannot tell whether cluster {worst.name} can serve{scope}"
    if worst.state == "unknown":
        return Verdict(False, "incomplete", f"{what}: {worst.why}", clusters=outcomes)
    return Verdict(False, "inconclusive", what, clusters=outcomes)


def trace(proxy: ProxyData, request: Request) -> Trace:
    """Walk ``request`` through the proxy's listeners, routes and clusters.

    Raises:
        InvalidInput: the source has no config dump, or its listeners section is missing.
    """
    return _Tracer(proxy, request).run()
