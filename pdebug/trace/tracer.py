"""The walk of one request, recording a :class:`Step` at each decision.

Listener -> filter chain -> network filter -> route config -> virtual host -> route ->
action -> clusters -> endpoints.
Every stage returns what the next one needs, or the :class:`Verdict` that ends the trace;
nothing is raised to stop a walk (errors that leave the program stay ``PdebugError``).
This is one module over 500 lines because it is one walk: each stage reads the state
the previous ones left (the listener's spelling, the route config's, the connection), and
cutting it would spread that state across modules; the rules each stage applies live in
:mod:`~pdebug.trace.listeners`, :mod:`~pdebug.trace.chains`, :mod:`~pdebug.trace.matchers`,
:mod:`~pdebug.trace.routes` and :mod:`~pdebug.trace.clusters`.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from typing import Any

import msgspec

from pdebug.model import ProxyData, sections
from pdebug.model import routes as route_facts
from pdebug.model import schema as s
from pdebug.model.address import join_host_port
from pdebug.model.clusters import (
    AGGREGATE,
    aggregate_clusters,
    dns_kind,
    extension_type,
    lb_policy,
    own_assignment,
)
from pdebug.model.dump import decode_raw, plain_json, sanitize
from pdebug.model.listeners import (
    HCM,
    api_listener_filter,
    decode_filter,
    filter_config,
    http_on_demand,
    is_sni_cluster,
    network_kind,
    route_on_demand,
    tcp_on_demand,
    unwrapped_config,
)
from pdebug.trace import filters as fl
from pdebug.trace import listeners as ls
from pdebug.trace import rbac as rb
from pdebug.trace import scoped
from pdebug.trace.chains import (
    Connection,
    chain_label,
    chains_by_ip,
    requires_client_certificate,
    select_filter_chain,
    terminates_tls,
    v1_route_mismatch,
)
from pdebug.trace.clusters import (
    PANIC_THRESHOLD,
    Upstreams,
    final,
    priority_loads,
    upstream_transport,
)
from pdebug.trace.listeners import ListenerEntry
from pdebug.trace.matchers import Inputs, as_obj, evaluate, is_set, listener_tree
from pdebug.trace.perroute import PerRoute, per_route
from pdebug.trace.request import HttpRequest, Request, split_host_port
from pdebug.trace.result import (
    FULL_DUMP,
    UNKNOWN_KINDS,
    WITH_EDS,
    WITHOUT_EDS,
    Branch,
    ClusterOutcome,
    ClusterState,
    Endpoint,
    Step,
    StepKind,
    Trace,
    Verdict,
)
from pdebug.trace.routes import (
    match_header,
    match_route,
    redirect_location,
    redirect_status,
    remove_dot_segments,
    select_virtual_host,
)
from pdebug.trace.unsure import (
    MAYBE_GONE,
    Known,
    client_internal,
    contradicts,
    internal_only,
    matcher_text,
    unsure_header,
)

#: The filter state key Istio's waypoints store the HBONE CONNECT's :authority under.
CONNECT_AUTHORITY = "io.istio.connect_authority"
_NOT_FOUND_CODES = {"SERVICE_UNAVAILABLE": 503, "NOT_FOUND": 404, "INTERNAL_SERVER_ERROR": 500}
_SHOWN_ENDPOINTS = 4
_Targets = list[tuple[str, int | None]]
#: How many routes whose match pdebug cannot tell a trace follows both ways.
UNSURE_ROUTES = 3


@dataclasses.dataclass
class _Unsure:
    """A route whose match depends on a header only Envoy knows the value of."""

    index: int
    #: the route and its matched prefix, as :meth:`Tracer.route` gives a match
    matched: tuple[s.Route, str | None]
    label: str
    #: what must hold for it to match (its unsure header matchers)
    condition: str
    #: what that depends on (why pdebug cannot tell)
    depends: str
    #: the trace's answer when it stops here
    verdict_summary: str
    #: its header matchers pdebug cannot evaluate (the condition)
    matchers: list[s.HeaderMatcher] = dataclasses.field(default_factory=list)

    @property
    def verdict(self) -> Verdict:
        """UNKNOWN: whether the route matches depends on :attr:`depends`."""
        return Verdict(False, "inconclusive", self.verdict_summary)


_Walk = Callable[[tuple[s.Route, str | None] | Verdict], Verdict]
_Again = Callable[[int], tuple[s.Route, str | None] | Verdict | _Unsure]


class Tracer:
    """One trace: the request, the steps so far and the dump's indexes."""

    def __init__(self, proxy: ProxyData, request: Request) -> None:
        self.proxy = proxy
        self.dump = proxy.need_dump("trace")
        self.req = request
        self.steps: list[Step] = []
        self.notes: list[str] = []
        self.upstreams = Upstreams(proxy, self.dump, self.notes)
        self.rc_camel = False
        #: the route config being followed (its cluster specifier plugins)
        self.current_rc: s.RouteConfiguration | None = None
        #: the virtual host being routed in (its header edits)
        self.current_vhost: s.VirtualHost | None = None
        #: The route configuration's named cluster specifier plugins (the one routed by).
        self.rc_plugins: list[s.ClusterSpecifierPlugin] = []
        #: What discovers a cluster the dump lacks on demand (ODCDS), if anything does.
        self.on_demand = ""
        #: Whether the connection manager has the on_demand filter (a route may turn it on).
        self.on_demand_filter = False
        self.conn: Connection | None = None
        #: Whether the connection being followed is the mesh client's (see ``mesh``).
        self.conn_mesh = False
        #: The cluster a waypoint's CONNECT went through to its internal listener.
        self.tunneled = ""
        #: Filter state a waypoint's connect_terminate sets from the CONNECT (Istio's
        #: ``connect_authority`` filter: ``io.istio.connect_authority`` = its :authority),
        #: which a multi-network waypoint's ``main_internal`` matcher reads first.
        self.filter_state: dict[str, str] = {}
        #: The aggregate clusters being followed (a cluster that includes itself stops).
        self._aggregates: set[str] = set()
        #: The internal listeners followed from an internal upstream (a loop stops).
        self._internal: set[str] = set()
        #: Whether the filter chain being followed terminates TLS (a client certificate).
        self.chain_tls = False
        #: Whether the listener reads a PROXY protocol header (the peer is not the client).
        self.proxied = False
        #: The request as the client sent it (headers before the connection manager's
        #: x-forwarded-for/x-request-id edits) and the headers only Envoy knows the value
        #: of: set by :meth:`http` with the view routes and filters see.
        self.client_http: HttpRequest | None = None
        self.unsure_headers: tuple[tuple[str, str], ...] = ()
        #: The router's ``suppress_envoy_headers`` (no ``x-envoy-original-path``...);
        #: None when its config cannot be read.
        self.suppress_envoy: bool | None = False
        #: Whether the client presents a certificate (None: unknown), as the connection
        #: manager sees it: what x-forwarded-client-cert gets.
        self.client_cert: bool | None = False
        #: Said of the chain taken when a host name gives no IP (:meth:`named_destination`).
        self._unnamed = ""
        #: The connection manager routing the request (what it adds to every request).
        self.current_hcm: s.HttpConnectionManager | None = None
        #: Whether the client is a mesh peer's sidecar: an inbound ``http://``/``tcp://``
        #: request with ``--source-principal`` arrives over mTLS with Istio's ALPN.
        self.mesh = (
            request.direction == "inbound"
            and request.source_principal is not None
            and request.scheme != "https"
        )

    def step(
        self,
        kind: StepKind,
        name: str,
        matched: bool,
        reason: str,
        candidate: bool = False,
        **detail: Any,
    ) -> None:
        """Record one decision."""
        self.steps.append(Step(kind, name, matched, reason, detail, candidate))

    def run(self) -> Trace:
        """Walk the request and return its steps and verdict."""
        return Trace(self.req, self.steps, self.walk(), self.notes)

    def walk(self) -> Verdict:
        """Listener, filter chain, then the network filter that decides the rest."""
        entry = self.listener()
        if isinstance(entry, Verdict):
            return entry
        lst, conn = entry
        if lst.state == "STATIC":
            self.lds_note()
        api = api_listener_filter(lst.listener)
        if api is not None and not lst.listener.filter_chains:
            return self.api_listener(lst, api, conn)
        conn = self.named_destination(lst, conn)
        chain = self.filter_chain(lst, conn)
        if isinstance(chain, Verdict):
            if self.tunneled and chain.kind == "no_filter_chain":
                # the internal connection fails: connect_terminate answers the CONNECT
                summary = f"503 to the CONNECT (upstream connect error): {chain.summary}"
                return dataclasses.replace(chain, summary=summary, status=503)
            return chain
        if self.mesh and self.conn_mesh:
            mesh = self.mesh_chain(chain)
            if mesh is not None:
                return mesh
        elif self.req.scheme != "https" and terminates_tls(chain):
            why = (
                f"the chain terminates TLS and the {self.req.scheme}:// client sends "
                "plaintext: the TLS handshake fails (trace an https:// URL for a TLS client)"
            )
            self.step("filter_chain", "transport_socket", False, why)
            return Verdict(False, "connection_closed", f"Envoy closes the connection: {why}")
        if self.req.scheme == "https" and requires_client_certificate(chain):
            self.notes.append(
                "the chain's TLS requires a client certificate (require_client_certificate): "
                "a client without one (curl without --cert) fails the handshake and Envoy "
                "closes the connection; pdebug does not check certificates"
            )
        return self.network(lst, chain, conn)

    def lds_note(self) -> None:
        """Say so when the static listener walked may not be serving: LDS sent nothing."""
        from pdebug.model.listeners import lds_wait

        wait = lds_wait(self.dump)
        if wait is not None and wait.version is None:
            self.notes.append(
                f"LDS has delivered nothing (the bootstrap asks it): {wait.waiting()}; the "
                "walk here is what the static listener does once it serves (pdebug check: "
                "PD601)"
            )

    def api_listener(self, lst: ListenerEntry, api: s.TypedExtension, conn: Connection) -> Verdict:
        """A proxyless gRPC client's listener: its connection manager routes in-process."""
        self.conn = conn
        self.rc_camel = lst.camel
        hcm = decode_filter(api, s.HttpConnectionManager, lst.camel, lst.name)
        self.notes.append(
            "an API listener is a proxyless gRPC application's (as istiod sends it): the "
            "gRPC client routes a call to xds:///NAME with it in-process, no connection "
            "reaches a socket, and gRPC applies only the HTTP filters it supports"
        )
        return self.http(hcm, "api_listener", " (the API listener's; no filter chain)", conn)

    # -- listener

    def listener_step(self, lst: ListenerEntry, why: str, port: int | None = None) -> None:
        """The listener a connection reaches."""
        self.step("listener", lst.name, True, why, address=ls.addr_text(lst, port), state=lst.state)

    def listener(self) -> tuple[ListenerEntry, Connection] | Verdict:
        """The listener that takes the connection, and the connection as it sees it."""
        req = self.req
        if not self.dump.has("listeners"):
            self.dump.check_intact()  # a damaged dump: said so, not UNKNOWN
            why = sections.no_section(self.dump, "listeners")
            self.step("listener", f"port {req.port}", False, why)
            return Verdict(False, "incomplete", f"{why}: {FULL_DUMP}")
        serving, idle = ls.collect_listeners(self.dump)
        port, ip = req.port, req.dest_ip
        if req.direction == "inbound":
            cap = ls.inbound_capture(serving, ip)
            if cap is None:
                self.step("listener", "virtualInbound", False, "no inbound capture listener")
                return Verdict(
                    False,
                    "no_listener",
                    "--direction inbound, but no listener named virtualInbound (or "
                    "INBOUND with an original_dst listener filter or use_original_dst) is "
                    "active",
                )
            if cap.listener.hands_off:  # Kuma's inbound passthrough hands off
                return self.captured(cap, serving, "inbound")
            self.listener_step(
                cap,
                "inbound: iptables send inbound connections here; the filter chain "
                f"matches the original destination port {port}",
            )
            return cap, self.connection(cap, via_capture=True, mesh=self.mesh)
        named = ls.api_listener_named(serving, req.host, port) if req.direction is None else None
        if named is not None:
            self.listener_step(
                named,
                f"API listener named {named.listener.name}: a proxyless gRPC client looks "
                "its target (xds:///HOST:PORT) up by name, not by address",
                port,
            )
            return named, self.connection(named, via_capture=False)
        direct = None if req.direction == "outbound" else ls.owner(serving, port, ip, bound=True)
        capture = ls.outbound_capture(serving, ip) if direct is None else None
        if req.direction == "outbound" and capture is None:
            self.notes.append(
                "--direction outbound: no listener has use_original_dst; "
                "taking the connection to reach the port directly"
            )
            direct = ls.owner(serving, port, ip, bound=True)
        if direct is not None:
            lst, why = direct
            beside = [x.name for x in serving if x is not lst and ls.udp_port(x.listener, port)]
            if beside:  # QUIC beside TCP on one port (Envoy Gateway's http3)
                why += (
                    f"; {', '.join(beside)} on UDP port {port} too (QUIC, HTTP/3), which a TCP "
                    "connection never reaches"
                )
            if _api_only(lst):
                why = why.replace("binds ", "has the address ", 1) + (
                    f"; an API listener, no socket is bound: a proxyless gRPC client reaches it "
                    f"in-process by its name (xds:///{lst.name})"
                )
            self.listener_step(lst, why, port)
            return lst, self.connection(lst, via_capture=False)
        if capture is not None:
            return self.captured(capture, serving)
        inner = ls.waypoint_listener(serving)
        if inner is not None:
            return self.waypoint(serving, inner)
        why = f"no active listener binds port {port}"
        v6 = [
            f"{x.name} ({join_host_port(a[1], port)})"
            for x in serving
            for a in x.addresses
            if a[2] == port and ip is not None and ip.version == 4 and ls.ipv6_only(x.listener, a)
        ]
        if v6:
            why = (
                f"no active listener takes an IPv4 connection on port {port}: "
                f"{', '.join(v6)} binds IPv6 only (no ipv4_compat, so Envoy sets IPV6_V6ONLY)"
            )
        unbound = [x.name for x in serving if not x.bound and x.address_for(port)]
        if unbound:
            why += f" ({', '.join(unbound)} has bind_to_port false and no listener captures)"
        waiting = [f"{x.name} ({x.state})" for x in idle if x.address_for(port)]
        if waiting:
            why += f"; not serving yet: {', '.join(waiting)}"
        refused = ls.rejected_for(self.dump, port, ip)
        if refused:
            why += f"; rejected by Envoy: {', '.join(refused)}"
        udp = [x for x in serving if ls.udp_port(x.listener, port)]
        # a UDP listener with filter chains is QUIC's (HTTP/3); one without proxies
        # datagrams from a listener filter (udp_proxy, dns_filter: Envoy Gateway's UDPRoute)
        quic = [x.name for x in udp if x.listener.filter_chains or x.listener.default_filter_chain]
        datagrams = [x.name for x in udp if x.name not in quic]
        if quic:
            why += "; UDP only (QUIC, HTTP/3), which a TCP connection never reaches: "
            why += ", ".join(quic)
        if datagrams:
            why += (
                "; UDP only (a UDP listener filter, no filter chains), which a TCP connection "
                f"never reaches: {', '.join(datagrams)}"
            )
        self.step("listener", f"port {port}", False, why)
        lacks = [k for k in sections.FULL_DUMP if not self.dump.has(k)]
        sent = [x for x in serving if not x.bound and x.address_for(port) and x.state != "STATIC"]
        if sent and lacks:
            # A pasted piece of a dump: a control plane that sends a listener binding
            # nothing sends the one that captures for it (Istio's virtualOutbound) too;
            # that one may be what was left out of the paste, not what the proxy lacks.
            return Verdict(
                False,
                "incomplete",
                f"{why}; the dump is not whole (no {' or '.join(lacks)} section), so a "
                f"listener that captures may have been left out of it: {FULL_DUMP}",
            )
        return Verdict(False, "no_listener", f"connection refused: {why}")

    def captured(
        self, capture: ListenerEntry, serving: list[ListenerEntry], direction: str = "outbound"
    ) -> tuple[ListenerEntry, Connection]:
        """A connection iptables redirected to a capture listener.

        Outbound, or inbound to a ``use_original_dst`` one (Kuma's inbound passthrough).
        """
        req = self.req
        port, ip = req.port, req.dest_ip
        if not capture.listener.hands_off:
            self.listener_step(
                capture,
                "original_dst listener filter: takes outbound connections (redirected to it "
                "by iptables) and matches its filter chains on their original destination "
                f"{req.destination}; no hand-off (use_original_dst is not set)",
            )
            if req.source_principal is not None and req.scheme != "https":
                self.notes.append(_OWN_PRINCIPAL)
            return capture, self.connection(capture, via_capture=True, keeps=True)
        self.listener_step(
            capture,
            "use_original_dst: takes outbound connections (Istio's iptables) and hands each "
            "to the listener of its original destination"
            if direction == "outbound"
            else "inbound: iptables send inbound connections here; use_original_dst: hands "
            f"each to the listener of its original destination {req.destination}",
        )
        mesh = direction == "inbound" and self.mesh
        if direction == "outbound" and req.source_principal is not None and req.scheme != "https":
            self.notes.append(_OWN_PRINCIPAL)
        others = [x for x in serving if x is not capture]
        own = ip is not None and any(a[0] == ip and a[2] == port for a in capture.addresses)
        owner = None if own else ls.owner(others, port, ip, bound=False, host=req.host)
        if owner is not None:
            lst, why = owner
            self.listener_step(lst, f"hand-off: {why}", port)
            return lst, self.connection(lst, via_capture=True, mesh=mesh)
        why = f"no listener owns {req.destination} or 0.0.0.0:{port}"
        if own:
            why = f"{req.destination} is {capture.name}'s own address: no hand-off"
        else:
            for text in ls.rejected_for(self.dump, port, ip):
                self.notes.append(
                    f"Envoy rejected the listener for port {port} and never ran it: {text}; "
                    "without it the connection stays on the capture listener "
                    "(pdebug check: PD101)"
                )
        specific = [x.name for x in others if x.address_for(port)]
        if specific and ip is None:
            why += f" (if {req.host} resolves to the IP of {', '.join(specific)}, that one)"
        self.listener_step(capture, f"{why}: the connection stays on {capture.name}")
        return capture, self.connection(capture, via_capture=True, mesh=mesh)

    def waypoint(
        self, serving: list[ListenerEntry], inner: ListenerEntry
    ) -> tuple[ListenerEntry, Connection] | Verdict:
        """An ambient waypoint: HBONE in on connect_terminate, then its internal listener.

        With ``connect_terminate`` in the dump, the CONNECT is routed as Envoy routes it
        (its ``connect_matcher`` route, the cluster, the internal listener the cluster's
        endpoint names); without it, the tunnel into ``inner`` is assumed.
        """
        req = self.req
        terminate = next((x for x in serving if x.name == "connect_terminate"), None)
        if terminate is None:
            self.notes.append(
                "waypoint: the dump has no connect_terminate listener; HBONE: ztunnel opens an "
                f"HTTP/2 CONNECT to {req.destination} over mTLS on port 15008; the waypoint "
                f"ends the tunnel and passes the stream to {inner.name} (assumed)"
            )
        else:
            found = self.tunnel(terminate, serving)
            if isinstance(found, Verdict):
                return found
            inner = found
        self.listener_step(
            inner,
            "internal listener of a waypoint: the tunnel's original destination "
            f"{req.destination} picks the filter chain (filter_chain_matcher)",
        )
        conn = self.connection(inner, via_capture=True)
        if conn.dest_ip is None:
            guess = ls.waypoint_destination(inner, req.host, req.port)
            if guess is not None:
                ip, chain = guess
                conn = dataclasses.replace(conn, dest_ip=ip)
                self.notes.append(
                    f"{req.host} taken as {ip}: the matcher's chain for it on port {req.port} "
                    f"is {chain}"
                )
        if conn.dest_ip is not None:
            # ztunnel's CONNECT authority for a service or pod address is IP:port (a host
            # name only across networks, which pdebug cannot tell from a name here)
            self.filter_state[CONNECT_AUTHORITY] = join_host_port(str(conn.dest_ip), req.port)
        return inner, conn

    def tunnel(
        self, terminate: ListenerEntry, serving: list[ListenerEntry]
    ) -> ListenerEntry | Verdict:
        """The HBONE CONNECT on ``connect_terminate``, routed to the internal listener."""
        req = self.req
        port = terminate.addresses[0][2] if terminate.addresses else 15008
        self.listener_step(
            terminate,
            f"HBONE: ztunnel opens an HTTP/2 CONNECT to {req.destination} over mTLS on port "
            f"{port}; the waypoint routes the CONNECT request",
        )
        # what ztunnel's connection looks like: mTLS, ALPN h2
        hbone = Connection(None, port, req.source_ip, None, "", "tls", ("h2",))
        chain = self.filter_chain(terminate, hbone)
        if isinstance(chain, Verdict):
            return chain
        hcm_filter = next((f for f in chain.filters if network_kind(f) == HCM), None)
        if hcm_filter is None or not is_set(filter_config(hcm_filter)):
            self.step("network_filter", terminate.name, False, "no HTTP connection manager")
            return Verdict(False, "inconclusive", f"{terminate.name} does not end the CONNECT")
        hcm = decode_filter(hcm_filter, s.HttpConnectionManager, terminate.camel, hcm_filter.name)
        self.rc_camel = terminate.camel
        self.step("network_filter", hcm_filter.name, True, "HTTP connection manager (CONNECT)")
        rc = self.route_config(hcm)
        if isinstance(rc, Verdict):
            return rc
        self.current_rc = rc
        target = req.destination
        headers = {":authority": [target], ":method": ["CONNECT"]}
        connect = HttpRequest(target, "", "CONNECT", "http", headers)
        vhost = self.virtual_host(rc, target, target)
        if isinstance(vhost, Verdict):
            return vhost
        matched = self.route(vhost, connect)
        if isinstance(matched, _Unsure):
            return matched.verdict
        if isinstance(matched, Verdict):
            return matched
        act = matched[0].route
        if act is None or not act.cluster:
            self.step("action", "-", False, "the CONNECT route names no cluster")
            return Verdict(False, "inconclusive", "the CONNECT route names no cluster pdebug knows")
        self.step("action", "cluster", True, f"CONNECT to cluster {act.cluster}")
        return self.internal_listener(act.cluster, serving)

    def internal_listener(self, name: str, serving: list[ListenerEntry]) -> ListenerEntry | Verdict:
        """The internal listener cluster ``name``'s endpoint addresses (``envoy://LISTENER``)."""
        if not self.dump.has("clusters"):
            self.dump.check_intact()  # a damaged dump: said so, not UNKNOWN
            why = sections.no_section(self.dump, "clusters")
            self.step("cluster", name, False, why)
            return Verdict(False, "incomplete", f"{why}: {FULL_DUMP}")
        found = self.upstreams.index().get(name)
        cla = found[0].load_assignment if found is not None else None
        targets = [
            lb.endpoint.address.envoy_internal_address.server_listener_name
            for group in (cla.endpoints if cla is not None else [])
            for lb in group.lb_endpoints
            if lb.endpoint is not None
            and lb.endpoint.address is not None
            and lb.endpoint.address.envoy_internal_address is not None
        ]
        if found is None or not targets:
            why = "not in the dump" if found is None else "has no internal listener endpoint"
            self.step("cluster", name, False, f"cluster {name} {why}")
            return Verdict(False, "unknown_cluster", f"503 to the CONNECT: {name} {why}", 503)
        inner = next((x for x in serving if x.name == targets[0]), None)
        if inner is None:
            why = f"endpoint envoy://{targets[0]}: no active internal listener {targets[0]}"
            self.step("cluster", name, False, why)
            return Verdict(False, "no_listener", f"503 to the CONNECT: {why}", 503)
        why = f"endpoint envoy://{targets[0]}: the tunnel's payload goes to that listener"
        self.step("cluster", name, True, why, type=extension_type(found[0]))
        self.tunneled = name
        return inner

    def connection(
        self, lst: ListenerEntry, via_capture: bool, keeps: bool = False, mesh: bool = False
    ) -> Connection:
        """What Envoy knows of the connection on ``lst`` (a ``connection`` step).

        ``mesh``: a mesh peer's sidecar is the client (mTLS with Istio's ALPN).
        """
        req = self.req
        conn, notes = ls.connect(lst, req, via_capture, keeps, mesh)
        self.conn_mesh = mesh
        dest_ip, alpn = conn.dest_ip, conn.alpn
        dest = join_host_port(str(dest_ip), req.port) if dest_ip else req.destination
        src = str(req.source_ip) if req.source_ip else "unknown client"
        base = f"transport {conn.transport}" + (f", ALPN {','.join(alpn)}" if alpn else "")
        if _api_only(lst):
            base = "in-process (an API listener: the gRPC client opens no connection to it)"
        self.step(
            "connection",
            f"{src} -> {dest}",
            True,
            "; ".join([base, *notes]),
            destination_ip=str(dest_ip) if dest_ip else None,
            destination_port=req.port,
            source_ip=str(req.source_ip) if req.source_ip else None,
            server_name=conn.server_name or None,
            transport_protocol=conn.transport,
            application_protocols=list(alpn),
        )
        return conn

    def mesh_chain(self, chain: s.FilterChain) -> Verdict | None:
        """A mesh client's mTLS on ``chain``: a verdict when the chain cannot read it."""
        if terminates_tls(chain):
            return None
        http = any(network_kind(f) == HCM for f in chain.filters)
        if not http:
            self.notes.append(
                "the mesh client's mTLS reaches a chain that does not terminate TLS: its "
                "bytes pass through as they are (the destination must speak mTLS itself)"
            )
            return None
        why = (
            "the mesh client (--source-principal) sends mTLS and the chain reads plaintext "
            "HTTP: the TLS handshake is not HTTP, so the request fails (Istio's sidecar sends "
            "plaintext only where the destination's mTLS is off: trace without "
            "--source-principal)"
        )
        self.step("filter_chain", "transport_socket", False, why)
        return Verdict(False, "connection_closed", f"the request fails: {why}")

    # -- filter chain

    def named_destination(self, lst: ListenerEntry, conn: Connection) -> Connection:
        """A host name where chains match destination IPs: the IP one chain names, if any.

        Envoy picks the chain by the IP the name resolved to, which the URL does not
        give. When exactly one chain matching by IP names the host (its name or its
        tcp_proxy cluster), its IP is taken (checked against Envoy 1.40 by
        tests/test_trace12.py); else a chain that needs no IP (a catch-all, or the
        default chain) is taken, and its step says which chains would take other IPs
        (:attr:`_unnamed`).
        """
        self._unnamed = ""
        listener = lst.listener
        if conn.dest_ip is not None or is_set(listener.filter_chain_matcher):
            return conn
        by_ip = chains_by_ip(listener.filter_chains, conn)
        if not by_ip:
            return conn
        ip, note = ls.guess_destination(listener, self.req.host)
        if ip is not None:
            self.notes.append(note)
            return dataclasses.replace(conn, dest_ip=ip)
        chains = listener.filter_chains
        if select_filter_chain(chains, conn).index is None and not listener.default_filter_chain:
            return conn  # no chain takes it without its IP: filter_chain says UNKNOWN
        ranges = ", ".join(f"{chain_label(chains[i], i)} at {r}" for i, r in by_ip[:3])
        more = f" and {len(by_ip) - 3} more" if len(by_ip) > 3 else ""
        self._unnamed = (
            f"{self.req.host} is a name: taken as none of the IPs other chains match, as no "
            f"chain names it ({ranges}{more}; give the IP in the URL and the name in "
            f"-H Host:{self.req.host} to be sure)"
        )
        self.notes.append(
            f"the filter chain depends on the destination IP, which the name {self.req.host} "
            "does not give: the chain that needs none is taken, as no chain matching by IP "
            "names the host"
        )
        return conn

    def filter_chain(self, lst: ListenerEntry, conn: Connection) -> s.FilterChain | Verdict:
        """The chain ``filter_chain_match`` (or a matcher tree) picks."""
        listener = lst.listener
        if is_set(listener.filter_chain_matcher):
            return self.matched_chain(lst, conn)
        chains = listener.filter_chains
        choice = select_filter_chain(chains, conn)
        unnamed, self._unnamed = self._unnamed, ""
        for i, chain in enumerate(chains):
            label = chain_label(chain, i)
            if i == choice.index:
                reason = f"{choice.reason}; {unnamed}" if unnamed else choice.reason
                self.step("filter_chain", label, True, reason, index=i)
            else:
                why = choice.lost.get(i, "not reached")
                self.step("filter_chain", label, False, why, candidate=True, index=i)
        if choice.index is not None:
            return chains[choice.index]
        failed = f" ({choice.failed})" if choice.failed else ""
        why = f"none of the {len(chains)} filter chains matches{failed}"
        by_ip = [] if listener.default_filter_chain else chains_by_ip(chains, conn)
        if by_ip:  # a host name: whether a chain takes it is up to the IP it resolves to
            ranges = ", ".join(f"{chain_label(chains[i], i)} ({r})" for i, r in by_ip[:3])
            more = f" and {len(by_ip) - 3} more" if len(by_ip) > 3 else ""
            takes = "takes it at those IPs" if len(by_ip) == 1 else "take it at their IPs"
            why = (
                "depends on the destination IP, which the URL's host name does not give: "
                f"{ranges}{more} {takes}, no chain at any other"
            )
            self.step("filter_chain", lst.name, False, why)
            return Verdict(
                False,
                "incomplete",
                f"whether Envoy takes the connection {why}; put the IP in the URL and the name "
                f"in -H Host:{self.req.host}",
            )
        taken = f"default_filter_chain: {why}" + (f"; {unnamed}" if unnamed else "")
        return self.default_chain(lst, taken, f"{why} and there is no default")

    def default_chain(self, lst: ListenerEntry, taken: str, closed: str) -> s.FilterChain | Verdict:
        """No chain matched: the listener's default chain (``taken``), else Envoy closes."""
        chain = lst.listener.default_filter_chain
        if chain is not None:
            self.step("filter_chain", chain_label(chain, None), True, taken, index=None)
            return chain
        self.step("filter_chain", lst.name, False, closed)
        return Verdict(False, "no_filter_chain", f"Envoy closes the connection: {closed}")

    def matched_chain(self, lst: ListenerEntry, conn: Connection) -> s.FilterChain | Verdict:
        """The chain a ``filter_chain_matcher`` (matcher tree) names, as Envoy walks it."""
        listener = lst.listener
        inputs = Inputs(
            str(conn.dest_ip) if conn.dest_ip is not None else None,
            conn.dest_port,
            str(conn.source_ip) if conn.source_ip is not None else None,
            conn.source_port,
            None,
            conn.server_name,
            conn.transport,
            conn.alpn,
            self.filter_state,
        )
        found = evaluate(listener_tree(listener), inputs)
        if found.unsupported:
            self.step("filter_chain", lst.name, False, f"filter_chain_matcher: {found.unsupported}")
            return Verdict(
                False,
                "inconclusive",
                f"{lst.name} picks chains with filter_chain_matcher: {found.unsupported}",
            )
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
        return self.default_chain(lst, f"default: {why}", why)

    # -- network filters

    def network(self, lst: ListenerEntry, chain: s.FilterChain, conn: Connection) -> Verdict:
        """The network filters: RBAC, then the one pdebug follows (HCM, TCP proxy)."""
        self.conn = conn
        self.chain_tls = terminates_tls(chain)
        self.proxied = "proxy_protocol" in ls.listener_filter_kinds(lst.listener)
        pending: list[str] = []
        verdict = self._network(lst, chain, conn, pending)
        if pending and verdict.kind == "denied":
            return dataclasses.replace(
                verdict, summary=f"{verdict.summary} (or before it: depends on {pending[0]})"
            )
        return self.settle(verdict, pending)

    def _network(
        self, lst: ListenerEntry, chain: s.FilterChain, conn: Connection, pending: list[str]
    ) -> Verdict:
        names = [f.name or "(unnamed)" for f in chain.filters]
        sni_cluster = False
        for i, f in enumerate(chain.filters):
            skipped = [
                n
                for n, g in zip(names[:i], chain.filters[:i], strict=True)
                if not is_sni_cluster(g) and fl.filter_kind(g) != fl.RBAC
            ]
            note = f" (before it, not evaluated: {_some(skipped)})" if skipped else ""
            if is_sni_cluster(f):
                sni_cluster = True
                continue
            if fl.filter_kind(f) == fl.RBAC:
                denied = self.network_rbac(f, conn, pending)
                if denied is not None:
                    return denied
                continue
            kind = network_kind(f)
            if not kind:
                continue
            if not is_set(filter_config(f)):
                self.step("network_filter", f.name, False, "no typed_config or config to read")
                return Verdict(False, "inconclusive", f"{f.name} has no config to read")
            if kind == HCM:
                hcm = decode_filter(f, s.HttpConnectionManager, lst.camel, f.name)
                self.rc_camel = lst.camel
                return self.http(hcm, f.name, note, conn)
            tcp = decode_filter(f, s.TcpProxy, lst.camel, f.name)
            if sni_cluster:
                return self.sni_tcp(tcp, f.name, note, conn)
            return self.tcp(tcp, f.name, note)
        if not names:
            self.step("network_filter", "-", False, "the filter chain has no network filters")
            return Verdict(False, "connection_closed", "Envoy closes the connection")
        self.step("network_filter", names[-1], False, "not traced by pdebug")
        return Verdict(
            False,
            "inconclusive",
            f"the chain ends in {names[-1]}; pdebug traces http_connection_manager and tcp_proxy",
        )

    def network_rbac(
        self, f: s.TypedExtension, conn: Connection, pending: list[str]
    ) -> Verdict | None:
        """A network RBAC filter: a verdict when it closes the connection, else None."""
        name = f.name or "envoy.filters.network.rbac"
        config = fl.config_of(unwrapped_config(f), name)
        res = rb.rbac(config, self.facts(None, None), network=True)
        self.filter_step("network_filter", name, fl.RBAC, res, "")
        if res.effect == "unknown":
            pending.append(f"{name}: {res.depends}")
        if res.effect != "deny":
            return None
        return Verdict(False, "denied", f"Envoy closes the connection: {name}: {res.why}")

    def facts(self, http: HttpRequest | None, hcm: s.HttpConnectionManager | None) -> fl.Facts:
        """What a filter sees of the request and its connection."""
        conn = self.conn
        assert conn is not None
        req = self.req
        remote, why = conn.source_ip, "the client's IP: give --source-ip"
        unsure: tuple[tuple[str, str], ...] = ()
        if http is not None and hcm is not None:
            # the client's x-forwarded-for (before Envoy appends to it) names the address
            client = self.client_http if self.client_http is not None else http
            remote, why = fl.remote_address(
                client, conn.source_ip, bool(hcm.use_remote_address), hcm.xff_num_trusted_hops or 0
            )
            unsure = self.unsure_headers
        direct, direct_why = conn.source_ip, "the client's IP: give --source-ip"
        if self.proxied:
            direct = None
            direct_why = (
                "the physical peer (direct_remote_ip): the listener reads a PROXY protocol "
                "header, so the peer is whoever sent it (a load balancer), not the client"
            )
        return fl.Facts(
            http,
            conn.dest_ip,
            conn.dest_port,
            conn.source_ip,
            remote,
            why,
            conn.server_name,
            self.chain_tls,
            req.source_principal,
            bool(self.tunneled),
            direct,
            direct_why,
            unsure,
        )

    def filter_step(
        self, kind: StepKind, name: str, filter_kind: str, res: fl.FilterResult, where: str
    ) -> None:
        """One evaluated filter (RBAC, fault, ext_authz) and what it did."""
        detail: dict[str, Any] = {"filter": filter_kind, "effect": res.effect}
        if res.action:
            detail["action"] = res.action
        if res.policy:
            detail["policy"] = res.policy
        if res.shadow:
            detail["shadow"] = res.shadow
            detail["shadow_policy"] = res.shadow_policy
        if res.status is not None:
            detail["status"] = res.status
        if res.depends:
            detail["depends_on"] = res.depends
        if where:
            detail["per_route"] = where
        reason = res.reason
        if res.effect == "unknown" and "depends on" not in reason:
            reason = f"{reason}; depends on {res.depends}"
        self.step(kind, name, res.effect in ("pass", "skip"), reason, **detail)
        self.notes.extend(res.notes)

    def settle(self, verdict: Verdict, pending: list[str]) -> Verdict:
        """``verdict``, unless a filter before it may have answered (``pending``)."""
        if not pending:
            return verdict
        depends = "; ".join(dict.fromkeys(pending))
        if verdict.ok or verdict.kind in UNKNOWN_KINDS:
            return Verdict(
                False,
                "inconclusive",
                f"depends on {depends}; if the filter lets it through: {verdict.summary}",
                None,
                verdict.location,
                verdict.clusters,
            )
        summary = f"{verdict.summary} (unless a filter before answers first: depends on {depends})"
        return dataclasses.replace(verdict, summary=summary, status=None)

    def sni_tcp(self, tcp: s.TcpProxy, name: str, note: str, conn: Connection) -> Verdict:
        """A TCP proxy after the SNI cluster filter: the cluster the SNI names.

        The filter sets the connection's cluster to the SNI, which overrides tcp_proxy's
        own (Consul's mesh and terminating gateways); without an SNI tcp_proxy's own
        cluster stays, and with none Envoy closes the connection.
        """
        if conn.server_name:
            self.step(
                "network_filter",
                name,
                True,
                f"TCP proxy to cluster {conn.server_name}: the sni_cluster filter before it "
                f"names the cluster by the SNI{note}",
            )
            return self.clusters([(conn.server_name, None)], tcp=True)
        if tcp.cluster or tcp.weighted_clusters is not None or tcp.value is not None:
            self.notes.append("sni_cluster: the client sends no SNI; tcp_proxy's own cluster")
            return self.tcp(tcp, name, note)
        why = "the client sends no SNI for sni_cluster to name a cluster, and tcp_proxy has none"
        self.step("network_filter", name, False, why)
        return Verdict(False, "connection_closed", f"Envoy closes the connection: {why}")

    def tcp(self, tcp: s.TcpProxy, name: str, note: str) -> Verdict:
        """A TCP proxy: its (weighted) cluster, or a v1 route."""
        if tcp_on_demand(tcp):
            self.on_demand = "tcp_proxy's on_demand"
        tunnel = tcp.tunneling_config
        if tunnel is not None:  # Envoy's configs/encapsulate_in_http2_connect.yaml
            how = "POST" if tunnel.use_post else "CONNECT"
            note += f"; tunnelled in an HTTP {how} to {sanitize(tunnel.hostname) or '?'}"
        if tcp.weighted_clusters is not None and tcp.weighted_clusters.clusters:
            targets: _Targets = [(c.name, c.weight or 0) for c in tcp.weighted_clusters.clusters]
            what = "weighted clusters " + ", ".join(f"{n}:{w}" for n, w in targets)
            self.step("network_filter", name, True, f"TCP proxy to {what}{note}")
            return self.clusters(targets, tcp=True)
        if tcp.cluster:
            self.step("network_filter", name, True, f"TCP proxy to cluster {tcp.cluster}{note}")
            return self.clusters([(tcp.cluster, None)], tcp=True)
        v1 = tcp.value.route_config if tcp.value is not None else None
        if v1 is not None:
            return self.tcp_v1(v1.routes, name, note)
        self.step("network_filter", name, False, "tcp_proxy without a cluster")
        return Verdict(False, "inconclusive", "tcp_proxy names no cluster (on-demand?)")

    def tcp_v1(self, routes: list[s.TcpProxyV1Route], name: str, note: str) -> Verdict:
        """The v1 TCP proxy (Istio 1.0): the first route whose IPs and ports match."""
        conn = self.conn
        assert conn is not None
        for i, route in enumerate(routes):
            why = v1_route_mismatch(route, conn)
            if why is None and route.cluster:
                self.step(
                    "network_filter",
                    name,
                    True,
                    f"TCP proxy (deprecated_v1) route #{i} to cluster {route.cluster}{note}",
                )
                return self.clusters([(route.cluster, None)], tcp=True)
            if why is not None:
                self.step("route", f"#{i} {route.cluster}", False, why, candidate=True)
        self.step("network_filter", name, False, "no deprecated_v1 TCP route matches")
        return Verdict(
            False, "connection_closed", "Envoy closes the connection: no TCP route matches"
        )

    # -- HTTP

    def http(
        self,
        hcm: s.HttpConnectionManager,
        name: str,
        note: str,
        conn: Connection,
    ) -> Verdict:
        """The HTTP connection manager: the request as the router sees it, then routing."""
        req = self.req
        filters = [
            f.name
            for f in hcm.http_filters
            if not f.name.endswith("router") and not _evaluated(f) and not f.disabled
        ]
        if http_on_demand(hcm):
            self.on_demand = "the on_demand HTTP filter's odcds"
        self.on_demand_filter = http_on_demand(hcm, any_config=True)
        http_note = f"; HTTP filters not evaluated: {_some(filters)}" if filters else ""
        if req.scheme == "tcp":
            http_note += "; a tcp:// client is traced as an HTTP GET /"
        self.step("network_filter", name, True, f"HTTP connection manager{note}{http_note}")
        escaped = self.escaped_slashes(hcm)
        if escaped is not None:
            return escaped
        self.suppress_envoy = _suppresses_envoy_headers(hcm)
        self.current_hcm = hcm
        # the connection manager's view, built once: routes and filters both see it
        self.client_http = _router_view(req, hcm, conn)
        # whether the client presents a certificate: a mesh peer's sidecar does
        cert = (True if self.mesh and self.conn_mesh else None) if self.chain_tls else False
        self.client_cert = cert
        http, self.unsure_headers = fl.seen_by_filters(self.client_http, hcm, conn.source_ip, cert)
        replaced = _forwarded_proto_note(req, http)
        if replaced:
            self.notes.append(replaced)
        rc = self.route_config(hcm, http)
        if isinstance(rc, Verdict):
            return rc
        self.current_rc = rc
        self.rc_plugins = rc.cluster_specifier_plugins
        if rc.internal_only_headers:
            internal = client_internal(self.client_http, hcm, conn.source_ip)[0]
            before = (http, self.unsure_headers)
            http, self.unsure_headers = internal_only(
                http, self.unsure_headers, rc.internal_only_headers, internal
            )
            if self._scope_key_touched(hcm, before[0], http):
                # Envoy 1.40 looks the scope up again once they are gone: a key built
                # from one of them finds another scope, or none (checked by leftovers8)
                self.notes.append(
                    f"route configuration {rc.name or '(inline)'} has a scope key header "
                    "in its internal_only_headers: Envoy removes it (unless the client is "
                    "internal), then looks the scope up again without it"
                )
                rc = self._scoped(hcm, http)
                if isinstance(rc, Verdict):
                    return rc
                self.current_rc = rc
                self.rc_plugins = rc.cluster_specifier_plugins
        authority = http.authority
        vhost_host = authority
        shown = authority
        if authority != req.authority:
            shown = f"{req.authority} (port stripped by the connection manager)"
        if rc.ignore_port_in_host_matching and split_host_port(authority)[1] is not None:
            vhost_host = split_host_port(authority)[0]
            shown = f"{authority} (port ignored: ignore_port_in_host_matching)"
        found = self.virtual_host(rc, vhost_host, shown)
        if isinstance(found, Verdict):
            answer = found
            return self.filtered(hcm, http, rc, None, None, lambda: answer)
        vhost = found
        # EXTERNAL_ONLY: Envoy spares a request it marked x-envoy-internal: true (it sets
        # that for an internal client and strips it from any other)
        internal_why = dict(self.unsure_headers).get(MAYBE_GONE + "x-envoy-internal")
        internal = internal_why is None and http.values("x-envoy-internal") == ["true"]
        if vhost.require_tls == "EXTERNAL_ONLY" and http.scheme != "https":
            if internal_why is not None:
                why = f"require_tls EXTERNAL_ONLY: redirects unless {internal_why}"
                self.step("action", "require_tls", False, why)
                return Verdict(
                    False,
                    "inconclusive",
                    "require_tls EXTERNAL_ONLY redirects an external client only: whether "
                    "this one is internal depends on its address",
                )
            if internal:
                self.notes.append(
                    "require_tls EXTERNAL_ONLY: no redirect, Envoy counts the client as "
                    "internal (internal_address_config)"
                )
        if (
            vhost.require_tls == "ALL" or (vhost.require_tls == "EXTERNAL_ONLY" and not internal)
        ) and http.scheme != "https":
            location = f"https://{http.authority}{http.path}"
            why = f"require_tls {vhost.require_tls}: redirect to {location}"
            if vhost.require_tls == "EXTERNAL_ONLY":
                why += " (an external client: Envoy did not mark it x-envoy-internal)"
            redirect = Verdict(True, "redirect", f"301 to {location} (require_tls)", 301, location)

            def tls_redirect() -> Verdict:
                self.step("action", "require_tls", True, why)
                return redirect

            return self.filtered(hcm, http, rc, vhost, None, tls_redirect)

        def walk(route: tuple[s.Route, str | None] | Verdict) -> Verdict:
            if isinstance(route, Verdict):
                missed = route
                return self.filtered(hcm, http, rc, vhost, None, lambda: missed)
            if (
                self.on_demand_filter
                and not self.on_demand
                and route_on_demand(route[0].typed_per_filter_config, vhost.typed_per_filter_config)
            ):
                self.on_demand = "the route's on_demand odcds"
            matched = route
            return self.filtered(
                hcm, http, rc, vhost, matched[0], lambda: self.action(matched, http)
            )

        route = self.route(vhost, http)
        if isinstance(route, _Unsure):
            # which route (and so which per-route filter config) Envoy picks is unknown:
            # follow each
            return self.branches(route, walk, lambda start: self.route(vhost, http, start))
        return walk(route)

    def filtered(
        self,
        hcm: s.HttpConnectionManager,
        http: HttpRequest,
        rc: s.RouteConfiguration,
        vhost: s.VirtualHost | None,
        route: s.Route | None,
        then: Callable[[], Verdict],
    ) -> Verdict:
        """The HTTP filters (RBAC, fault, Istio's CUSTOM ext_authz), then ``then()``.

        Envoy picks the route first and runs the filters in order, the router last: a
        filter that answers (an RBAC denial, a fault's abort) ends the request whatever
        the route says, even when no route matches.
        """
        levels: list[tuple[str, dict[str, msgspec.Raw]]] = []
        if route is not None and vhost is not None:
            # without a route no per-route config applies, not even the virtual host's
            # (checked against Envoy 1.40 for a request no route matches)
            levels = [
                ("route", route.typed_per_filter_config),
                ("virtual host", vhost.typed_per_filter_config),
                ("route configuration", rc.typed_per_filter_config),
            ]
        act = route.route if route is not None else None
        cluster = act.cluster or None if act is not None else None
        facts = self.facts(http, hcm)
        metadata: dict[tuple[str, str], str | None] = {}
        pending: list[str] = []
        enabled: list[str] = []
        for f in hcm.http_filters:
            kind = fl.filter_kind(f)
            if not kind or (kind == fl.EXT_AUTHZ and not _evaluated(f)):
                on = per_route(f.name, levels) if f.name else PerRoute()
                by = f" (by the {on.where}'s typed_per_filter_config)" if on.where else ""
                runs = not f.disabled if on.disabled is None else not on.disabled
                if runs:
                    self.notes.extend(_external_service_note(f))
                if runs and fl.terminal_module(f):
                    self.enabled_note(enabled)
                    return self.module_answers(f.name or "dynamic_modules", by, pending)
                # off on the listener, on for this route (Envoy Gateway's way with every
                # policy filter): it runs, and the listener-level note left it out
                if f.disabled and f.name and not f.name.endswith("router"):
                    if on.where and not on.disabled:
                        enabled.append(f"{f.name}{by}")
                continue
            name = f.name or kind
            over = per_route(f.name, levels) if f.name else PerRoute()
            disabled = f.disabled if over.disabled is None else over.disabled
            if disabled:
                where = f" by the {over.where}'s typed_per_filter_config" if over.where else ""
                self.step("http_filter", name, True, f"disabled{where}", filter=kind)
                continue
            config = over.config
            if config is None:
                config = fl.config_of(unwrapped_config(f), name)
            where = over.where if over.config is not None else ""
            if kind == fl.JWT:
                from pdebug.trace.jwt import jwt_authn

                base = fl.config_of(unwrapped_config(f), name)
                res = jwt_authn(base, over.config if over.where else None, http)
            elif kind == fl.RBAC:
                res = rb.rbac(config, facts)
            elif kind == fl.FAULT:
                res = fl.fault(config, facts, cluster)
            else:
                res = fl.ext_authz(config, metadata)
            if where:
                res.reason = f"{res.reason} (the {where}'s typed_per_filter_config)"
            metadata.update(res.metadata)
            self.filter_step("http_filter", name, kind, res, where)
            stop: Verdict | None = None
            if res.effect == "deny" and kind == fl.JWT:
                stop = Verdict(False, "denied", f"401 Jwt is missing ({name}: {res.why})", 401)
            elif res.effect == "deny":
                stop = Verdict(False, "denied", f"403 RBAC: access denied ({name}: {res.why})", 403)
            elif res.effect == "abort":
                stop = Verdict(
                    False,
                    "fault_abort",
                    f"{res.status} from Envoy: fault injection {res.reason}",
                    res.status,
                )
            elif res.effect == "unknown":
                pending.append(f"{name}: {res.depends}")
            if stop is not None:
                if pending:
                    more = f" (or before it: depends on {pending[0]})"
                    stop = dataclasses.replace(stop, summary=stop.summary + more)
                    if stop.status != 403:
                        stop.status = None
                return stop
        self.enabled_note(enabled)
        return self.settle(then(), pending)

    def enabled_note(self, enabled: list[str]) -> None:
        """Name the filters off on the listener that this request's route turns on."""
        if enabled:
            self.notes.append(
                "HTTP filters disabled on the listener but enabled for this request, "
                f"not evaluated: {_some(enabled)}"
            )

    def module_answers(self, name: str, by: str, pending: list[str]) -> Verdict:
        """A running dynamic module with ``terminal_filter``: it answers, the router never runs.

        Envoy's API: such a module is "a terminal filter to use without an upstream",
        responsible for the response; what it answers is the module's code, not config.
        """
        why = f"terminal_filter{by}: the module answers the request itself, no upstream"
        self.step("http_filter", name, True, why, filter="dynamic_modules", effect="unknown")
        before = f" (if {'; '.join(dict.fromkeys(pending))} lets it through)" if pending else ""
        summary = (
            f"answered by the dynamic module {name} (terminal_filter){before}: "
            "its response is the module's code, not routed to a cluster"
        )
        return Verdict(False, "inconclusive", summary)

    def escaped_slashes(self, hcm: s.HttpConnectionManager) -> Verdict | None:
        """Envoy's answer to a path holding ``%2F`` or ``%5C``, if it answers itself.

        ``path_with_escaped_slashes_action`` REJECT_REQUEST is a 400, UNESCAPE_AND_REDIRECT
        a 307 to the rewritten path; None: routing goes on.
        """
        action = hcm.path_with_escaped_slashes_action
        if action not in ("REJECT_REQUEST", "UNESCAPE_AND_REDIRECT") or self.req.scheme == "tcp":
            return None
        only = self.req.path.partition("?")[0]
        if unescape_slashes(only) == only:
            return None
        why = f"path_with_escaped_slashes_action {action}: the path has %2F or %5C"
        if action == "REJECT_REQUEST":
            self.step("action", "escaped_slashes", False, f"{why}: Envoy answers 400")
            return Verdict(False, "no_route", f"400 from Envoy: {why}", 400)
        location = _normalized(self.req.path, hcm, unescape=True)
        self.step("action", "escaped_slashes", True, f"{why}: 307 to {location}", location=location)
        return Verdict(True, "redirect", f"307 redirect to {location} ({why})", 307, location)

    def route_config(
        self, hcm: s.HttpConnectionManager, http: HttpRequest | None = None
    ) -> s.RouteConfiguration | Verdict:
        """The route config: inline, the RDS one in the dump, or the scope's (SRDS)."""
        if hcm.route_config is not None:
            rc = hcm.route_config
            self.step("route_config", rc.name or "(inline)", True, "inline route_config")
            return rc
        if hcm.rds is not None and hcm.rds.route_config_name:
            return self._rds(hcm.rds.route_config_name, "RDS")
        if is_set(hcm.scoped_routes):
            if http is None:
                self.step("route_config", "scoped_routes", False, "scoped RDS")
                return Verdict(
                    False, "inconclusive", "scoped routes (SRDS): pdebug does not follow them"
                )
            return self._scoped(hcm, http)
        self.step("route_config", "-", False, "the connection manager names no route config")
        return Verdict(False, "inconclusive", "no route config")

    def _with_eds(self) -> str:
        """How to get endpoints into the dump (an Envoy before 1.15 cannot)."""
        from pdebug.model.bootstrap import predates_include_eds

        return WITHOUT_EDS if predates_include_eds(self.dump) else WITH_EDS

    def _rds(self, rds: str, how: str) -> s.RouteConfiguration | Verdict:
        """The route config named ``rds`` in the dump's routes section."""
        rec = route_facts.find(self.dump, rds)
        if rec is not None:
            section = rec.entries.section
            self.rc_camel = section.camel if section is not None else False
            version = rec.entry.version_info
            self.step("route_config", rds, True, f"{how}, version {version}" if version else how)
            return rec.config
        if not self.dump.has("routes"):
            self.dump.check_intact()  # a damaged dump: said so, not UNKNOWN
            why = f"{how} {rds}: the dump has no routes section"
            self.step("route_config", rds, False, why)
            return Verdict(False, "incomplete", f"{why}: {FULL_DUMP}")
        why = f"{how} {rds} is not in the dump: Envoy has not received it"
        self.step("route_config", rds, False, why)
        return Verdict(False, "no_route", f"404: {why}", 404)

    def _scoped(
        self, hcm: s.HttpConnectionManager, http: HttpRequest
    ) -> s.RouteConfiguration | Verdict:
        """The route config of the scope whose key the request builds (scoped RDS)."""
        sr = plain_json(hcm.scoped_routes, "scoped_routes")
        name = str(scoped.get(sr, "name", "") or "")
        label = f"scoped routes {name}".rstrip()
        try:
            key, why = scoped.build_key(
                scoped.get(scoped.get(sr, "scope_key_builder"), "fragments"), http
            )
        except ValueError as exc:
            self.step("route_config", label, False, f"{exc}: not an upstream Envoy one")
            return Verdict(False, "inconclusive", f"{label}: pdebug does not evaluate {exc}")
        unsure = self._unsure_scope_key(sr)
        if unsure is not None:
            why = f"{label}: the scope key depends on {unsure}"
            self.step("route_config", label, False, why, effect="unknown")
            return Verdict(False, "inconclusive", why)
        inline = scoped.get(
            scoped.get(sr, "scoped_route_configurations_list"), "scoped_route_configurations"
        )
        if inline is not None:
            scopes = scoped.scopes_of(inline)
        else:
            found = None
            for sec in self.dump.sections_of("scoped_routes"):
                for field in ("dynamic_scoped_route_configs", "inline_scoped_route_configs"):
                    groups = sec.generic(field)
                    for group in groups if isinstance(groups, list) else []:
                        if scoped.get(group, "name") == name:
                            found = scoped.scopes_of(scoped.get(group, "scoped_route_configs"))
            if found is None:
                why = f"{label}: the dump has no scopes for it"
                if not self.dump.has("scoped_routes"):
                    why = f"{label}: the dump has no scoped routes section"
                self.step("route_config", label, False, why)
                return Verdict(False, "incomplete", f"{why}: {FULL_DUMP}")
            scopes = found
        if key is None:
            why = f"{label}: no scope key ({why}), so no scope matches"
            self.step("route_config", label, False, why)
            return Verdict(False, "no_route", f"404: {why}", 404)
        shown = ",".join(repr(k) for k in key)
        scope = next((sc for sc in scopes if sc.key == key), None)
        if scope is None:
            why = f"{label}: none of the {len(scopes)} scopes has the key {shown}"
            self.step("route_config", label, False, why)
            return Verdict(False, "no_route", f"404: {why}", 404)
        how = f"scope {scope.name} (key {shown}) of {label}"
        if isinstance(scope.route_configuration, dict):
            raw = msgspec.Raw(msgspec.json.encode(scope.route_configuration))
            rc = decode_raw(raw, s.RouteConfiguration, what=f"scope {scope.name}")
            self.step(
                "route_config", rc.name or "(inline)", True, f"{how}: inline route configuration"
            )
            return rc
        return self._rds(scope.route_configuration_name, how)

    def _scope_key_touched(
        self, hcm: s.HttpConnectionManager, before: HttpRequest, after: HttpRequest
    ) -> bool:
        """Whether a scope key header ``before`` had is gone or unsure in ``after``.

        Only for a route config found by its scope (SRDS): ``internal_only_headers`` took
        the header, so Envoy's second look-up of the scope may find another one.
        """
        if hcm.route_config is not None or (hcm.rds is not None and hcm.rds.route_config_name):
            return False
        if not is_set(hcm.scoped_routes):
            return False
        sr = plain_json(hcm.scoped_routes, "scoped_routes")
        unsure = dict(self.unsure_headers)
        for builder in scoped.get(scoped.get(sr, "scope_key_builder"), "fragments") or []:
            key = str(scoped.get(scoped.get(builder, "header_value_extractor"), "name", ""))
            key = key.lower()
            if key in before.headers and (key not in after.headers or MAYBE_GONE + key in unsure):
                return True
        return False

    def _unsure_scope_key(self, sr: Any) -> str | None:
        """Why a scope key fragment reads a header only Envoy knows the value of, if one does."""
        for builder in scoped.get(scoped.get(sr, "scope_key_builder"), "fragments") or []:
            name = str(scoped.get(scoped.get(builder, "header_value_extractor"), "name", ""))
            if name:
                matcher = s.HeaderMatcher(name=name, exact_match="")
                why = unsure_header(matcher, self.unsure_headers)
                if why is not None:
                    return why
        return None

    def virtual_host(
        self, rc: s.RouteConfiguration, host: str, shown: str
    ) -> s.VirtualHost | Verdict:
        """The virtual host for the Host header."""
        found = select_virtual_host(rc.virtual_hosts, host)
        hint = ""
        bare, port = split_host_port(host)
        if port is not None and (found is None or not found[2].startswith("exact")):
            exact = select_virtual_host(rc.virtual_hosts, bare)
            # said only when another virtual host would take it (Contour lists each host
            # twice, "h" and "h:*": the wildcard takes h:port to the same virtual host)
            other = found is None or exact is None or exact[0] != found[0]
            if exact is not None and exact[2].startswith("exact") and other:
                vh_name = rc.virtual_hosts[exact[0]].name
                hint = (
                    f"; {bare} (without the port) would match {vh_name}: Envoy compares the "
                    "Host header with its port"
                )
        if found is None:
            n = len(rc.virtual_hosts)
            why = f"no virtual host of {n} matches Host {shown}{hint}"
            self.step("virtual_host", host, False, why)
            return Verdict(False, "no_route", f"404: {why}", 404)
        index, domain, how = found
        vh = rc.virtual_hosts[index]
        self.step(
            "virtual_host", vh.name, True, f"Host {shown}: {how}{hint}", domain=domain, index=index
        )
        if is_set(vh.matcher):
            return Verdict(False, "inconclusive", f"{vh.name} routes with a matcher tree")
        return vh

    def route(
        self, vhost: s.VirtualHost, http: HttpRequest, start: int = 0
    ) -> tuple[s.Route, str | None] | Verdict | _Unsure:
        """The first route from ``start`` on that matches, and its prefix (for a redirect).

        :class:`_Unsure` at a route whose match depends on a header only Envoy knows.
        """
        self.current_vhost = vhost
        for i, route in enumerate(vhost.routes[start:], start):
            ok, why, caveats = match_route(route, http, self.unsure_headers)
            self.notes.extend(caveats)
            label = route.name or f"#{i}"
            if ok is None:
                self.step("route", label, False, why, index=i, effect="unknown")
                m = route.match
                whys = [unsure_header(hm, self.unsure_headers) for hm in m.headers] if m else []
                depends = "; ".join(dict.fromkeys(w for w in whys if w))
                unsure = (
                    [hm for hm in m.headers if unsure_header(hm, self.unsure_headers)] if m else []
                )
                condition = " and ".join(f"header {matcher_text(hm)}" for hm in unsure)
                return _Unsure(
                    i,
                    (route, _matched_prefix(route)),
                    label,
                    condition or depends,
                    depends,
                    f"whether route {label} of {vhost.name} matches depends on {depends}",
                    unsure,
                )
            self.step("route", label, ok, why, index=i)
            if ok:
                return route, _matched_prefix(route)
        why = f"none of the {len(vhost.routes)} routes of {vhost.name} matches"
        return Verdict(False, "no_route", f"404: {why}", 404)

    def branches(self, fork: _Unsure, walk: _Walk, again: _Again) -> Verdict:
        """Both ways an unsure route match can go, up to :data:`UNSURE_ROUTES` such routes.

        ``walk`` follows a matched route (or the no-route verdict) through the filters to
        its verdict, ``again`` tries the routes from an index on. Each branch keeps the
        steps it took; the verdict is UNKNOWN (the branches in its summary) unless every
        branch ends the same way, and then it is that verdict, with a note.
        """
        found = self._fork(fork, [], walk, again, 1)
        first = found[0].verdict
        same = {(b.verdict.ok, b.verdict.kind, b.verdict.status, b.verdict.summary) for b in found}
        if len(same) == 1:
            self.notes.append(
                f"{fork.verdict.summary}; every way it goes ({len(found)} branches) ends the "
                f"same: {first.summary}"
            )
            return dataclasses.replace(first, branches=found)
        ways = "; ".join(
            f"if {' and '.join(b.conditions)}: {b.verdict.outcome}, {b.verdict.summary}"
            for b in found
        )
        return Verdict(False, "inconclusive", f"{fork.verdict.summary}: {ways}", branches=found)

    def _fork(
        self,
        at: _Unsure,
        conditions: list[str],
        walk: _Walk,
        again: _Again,
        depth: int,
        known: Known | None = None,
    ) -> list[Branch]:
        """The branches from unsure route ``at`` on (its steps taken off the trace's).

        ``known``: what the branch so far holds of the unsure headers (the routes before
        it that matched or not). A way no request can go (route B on the header value
        route A, not matched, wanted) is left out, with a note.
        """
        known = known or []
        yes_known = [*known, *((hm, True) for hm in at.matchers)]
        # a route's unsure matchers are and-ed: "not matched" pins one only when alone
        no_known = [*known, (at.matchers[0], False)] if len(at.matchers) == 1 else known
        present = frozenset(n for n, _ in self.unsure_headers if not n.startswith(MAYBE_GONE))
        can_yes = not contradicts(yes_known, match_header, present)
        can_no = not contradicts(no_known, match_header, present)
        if not can_yes and not can_no:
            can_yes = can_no = True  # not expected: the branch so far is possible
        after = f" when {' and '.join(conditions)}" if conditions else ""
        mark = len(self.steps)
        out: list[Branch] = []
        if can_yes:
            self.step("route", at.label, True, f"taken as matching: {at.condition}", index=at.index)
            verdict = walk(at.matched)
            yes = [*conditions, f"route {at.label} matches ({at.condition})"]
            out.append(Branch(yes, self.steps[mark:], verdict))
            del self.steps[mark:]
        if not can_no:
            self.notes.append(
                f"route {at.label} ({at.condition}) matches whenever the routes before it "
                f"do not{after}: no branch where it does not"
            )
            return out
        no = [*conditions, f"route {at.label} does not match"] if can_yes else conditions
        if can_yes:
            why = f"taken as not matching: {at.condition}"
        else:
            why = f"cannot match{after}: {at.condition}"
            self.notes.append(
                f"route {at.label} ({at.condition}) cannot match{after}: no branch for it"
            )
        self.step("route", at.label, False, why, index=at.index)
        nxt = again(at.index + 1)
        if isinstance(nxt, _Unsure):
            if depth < UNSURE_ROUTES:
                # the routes tried up to the next unsure one are in both of its branches
                # (its own step is each branch's first)
                lead = self.steps[mark:-1]
                del self.steps[mark:]
                subs = self._fork(nxt, no, walk, again, depth + 1, no_known)
                for sub in subs:
                    sub.steps[:0] = lead
                return out + subs
            verdict = Verdict(
                False,
                "inconclusive",
                f"not followed further ({UNSURE_ROUTES} routes whose match pdebug cannot "
                f"tell): {nxt.verdict.summary}",
            )
        else:
            verdict = walk(nxt)
        out.append(Branch(no, self.steps[mark:], verdict))
        del self.steps[mark:]
        return out

    def action(self, matched: tuple[s.Route, str | None], http: HttpRequest) -> Verdict:
        """What the route does: answer, redirect, or send to clusters."""
        route, prefix = matched
        if route.direct_response is not None:
            dr = route.direct_response
            body = dr.body.inline_string if dr.body is not None else ""
            self.step("action", "direct_response", True, f"Envoy answers {dr.status} itself")
            return Verdict(
                True,
                "direct_response",
                f"{dr.status} from Envoy (direct_response)" + (f": {body[:60]!r}" if body else ""),
                dr.status,
            )
        if is_set(route.redirect):
            rd = decode_raw(route.redirect, s.RedirectAction, self.rc_camel, "redirect")
            location, caveats = redirect_location(self.req, http, rd, prefix)
            self.notes.extend(caveats)
            status = redirect_status(rd)
            self.step("action", "redirect", True, f"{status} to {location}", location=location)
            return Verdict(True, "redirect", f"{status} redirect to {location}", status, location)
        act = route.route
        if act is None and is_set(route.non_forwarding_action):
            self.step(
                "action",
                "non_forwarding_action",
                True,
                "a gRPC server's route (proxyless): the application's own handlers answer the "
                "call; Envoy does not implement this action",
            )
            return Verdict(
                True, "direct_response", "served by the gRPC server itself (non_forwarding_action)"
            )
        if act is None:
            self.step("action", "-", False, "the route has no route/redirect/direct_response")
            return Verdict(False, "inconclusive", "a route action pdebug does not know")
        missing_code = _NOT_FOUND_CODES.get(act.cluster_not_found_response_code, 503)
        if act.weighted_clusters is not None and act.weighted_clusters.clusters:
            targets: _Targets = [
                (_weighted_name(c, http), c.weight or 0) for c in act.weighted_clusters.clusters
            ]
            total = sum(w or 0 for _, w in targets)
            text = ", ".join(f"{n} {_pct(w or 0, total)}" for n, w in targets)
            self.step("action", "weighted_clusters", True, text, total_weight=total)
            self.upstream_steps(route, act, http, prefix)
            return self.clusters(targets, tcp=False, missing_code=missing_code)
        if act.cluster:
            self.step("action", "cluster", True, f"route to cluster {act.cluster}")
            self.upstream_steps(route, act, http, prefix)
            return self.clusters([(act.cluster, None)], tcp=False, missing_code=missing_code)
        if act.cluster_header:
            unsure = unsure_header(
                s.HeaderMatcher(name=act.cluster_header, exact_match=""), self.unsure_headers
            )
            if unsure is not None:
                why = f"the cluster is the value of cluster_header {act.cluster_header}"
                self.step("action", "cluster_header", False, f"{why}: depends on {unsure}")
                return Verdict(False, "inconclusive", f"{why}, which depends on {unsure}")
            values = http.values(act.cluster_header)
            if not values or not values[0]:
                why = f"cluster_header {act.cluster_header} is absent"
                self.step("action", "cluster_header", False, why)
                return Verdict(False, "unknown_cluster", f"{missing_code}: {why}", missing_code)
            self.step(
                "action",
                "cluster_header",
                True,
                f"cluster from header {act.cluster_header}: {values[0]}",
            )
            self.upstream_steps(route, act, http, prefix)
            return self.clusters([(values[0], None)], tcp=False, missing_code=missing_code)
        plugin_ext = act.inline_cluster_specifier_plugin
        if plugin_ext is None and act.cluster_specifier_plugin:
            plugin_ext = next(
                (
                    p
                    for p in self.rc_plugins
                    if p.extension is not None and p.extension.name == act.cluster_specifier_plugin
                ),
                None,
            )
        if plugin_ext is not None and plugin_ext.extension is not None:
            # a matcher cluster specifier is evaluated; any other plugin is named below
            picked = self.specifier_plugin(plugin_ext.extension, http)
            if picked is not None:
                return picked
        plugin = route_facts.plugin_of(act, self.current_rc)
        if plugin is not None:
            what = f"{plugin.kind} plugin {plugin.name}" if plugin.kind else f"plugin {plugin.name}"
            why = f"the cluster is picked at run time by cluster specifier {what}"
            if not plugin.found:
                why += " (not among the route config's cluster_specifier_plugins)"
            if plugin.default_cluster:
                why += f"; its default_cluster: {plugin.default_cluster}"
            self.step("action", f"cluster_specifier_plugin {plugin.name}", False, why)
            return Verdict(
                False,
                "inconclusive",
                f"cluster specifier {what} picks the cluster at run time; pdebug does not run it"
                + (
                    f" (its default_cluster: {plugin.default_cluster})"
                    if plugin.default_cluster
                    else ""
                ),
            )
        self.step("action", "-", False, "a route action pdebug does not know")
        return Verdict(False, "inconclusive", "a cluster specifier pdebug does not know")

    def upstream_steps(
        self, route: s.Route, act: s.RouteAction, http: HttpRequest, prefix: str | None
    ) -> None:
        """What the upstream (and each mirror) sees: the route's rewrites, header edits, mirrors.

        A weighted cluster with rewrites or header edits of its own gets its own steps
        (``cluster`` in their detail) when the route has several clusters.
        """
        from pdebug.trace.rewrites import (
            edits_text,
            envoy_added,
            header_edits,
            header_levels,
            host_rewritten,
            mirrors,
            upstream_request,
        )

        wcs = act.weighted_clusters.clusters if act.weighted_clusters is not None else []
        own = any(
            c.host_rewrite_literal or c.request_headers_to_add or c.request_headers_to_remove
            for c in wcs
        )
        ways: list[s.WeightedCluster | None] = list(wcs) if own else [None]
        first_host = None
        edited: set[str] = set()
        for wc in ways:
            through = f"through weighted cluster {wc.name}: " if wc and len(ways) > 1 else ""
            detail: dict[str, Any] = {"cluster": wc.name} if wc and len(ways) > 1 else {}
            # the router edits the headers first; the Host and path rewrites read them
            levels = header_levels(self.current_rc, self.current_vhost, route, wc)
            edits = header_edits(levels, http) if levels else None
            up = upstream_request(route, act, http, prefix, edits.after if edits else None)
            route_host = "x-envoy-original-host" in up.added  # the route set a Host
            forwarded = (edits.after if edits else http.headers).get("x-forwarded-host", [])
            # a weighted cluster's Host comes first and is no rewrite (Envoy sets it
            # alone); the route's own rewrite then replaces it, saying so
            before = http.authority
            if wc is not None and wc.host_rewrite_literal:
                before = wc.host_rewrite_literal
                if route_host:
                    host_rewritten(up, act, before, forwarded)
                else:
                    up.host = before
                    up.how.append(f"weighted cluster {wc.name}'s host_rewrite_literal")
            self.notes.extend(up.caveats)
            cluster = act.cluster or (wc.name if wc is not None else "")
            auto = [i for i, h in enumerate(up.how) if h.startswith("auto_host_rewrite")]
            if auto and cluster:
                # the router's, when it picks the endpoint: after every other Host
                names = self._dns_names(cluster)
                if names is not None:
                    up.host = names[0] if len(names) == 1 else up.host
                    up.how[auto[0]] = (
                        f"auto_host_rewrite: the endpoint's DNS name ({', '.join(names)})"
                        if names
                        else f"auto_host_rewrite: Host kept, {cluster} is not a DNS cluster"
                    )
                    if names:
                        host_rewritten(up, act, before, forwarded)
            first_host = up.host if first_host is None else first_host
            if up.how:
                added = envoy_added(up, self.suppress_envoy)
                said = "; ".join(f"{k}: {', '.join(map(repr, v))}" for k, v in added.items())
                if self.suppress_envoy is None and up.added:
                    self.notes.append(
                        "the router's config is not readable: whether it adds "
                        "x-envoy-original-path/-host (suppress_envoy_headers) is not known"
                    )
                shown: dict[str, Any] = {"path": up.path, "host": up.host}
                if added:
                    shown["headers"] = added
                self.step(
                    "action",
                    "rewrite",
                    True,
                    f"{through}the upstream sees path {up.path}, Host {up.host} "
                    f"({'; '.join(up.how)})" + (f"; Envoy adds {said}" if said else ""),
                    **shown,
                    **detail,
                )
            if edits is not None:
                edited.update(edits.headers)
                self.notes.extend(edits.caveats)
                self.step(
                    "action",
                    "headers",
                    True,
                    through + edits_text(edits),
                    headers=edits.headers,
                    **detail,
                )
        self.forwarded_step(act, http, edited)
        for text in mirrors(act, first_host or http.authority):
            self.step("action", "mirror", True, text)

    def forwarded_step(self, act: s.RouteAction, http: HttpRequest, edited: set[str]) -> None:
        """The headers Envoy adds to every request it forwards: an ``envoy headers`` step.

        ``edited``: headers the route's edits set, after Envoy's (the headers step has them).
        """
        from pdebug.trace.forwarded import RouteTimeouts, forwarded
        from pdebug.trace.tracecontext import bootstrap_of, tracer_kind

        hcm, conn, vhost = self.current_hcm, self.conn, self.current_vhost
        if hcm is None or conn is None or self.client_http is None:
            return
        rt = RouteTimeouts(
            act.timeout,
            act.retry_policy,
            vhost.retry_policy if vhost is not None else s.NULL,
            _hedges(act.hedge_policy) or (vhost is not None and _hedges(vhost.hedge_policy)),
            is_set(act.max_stream_duration),
            is_set(act.max_grpc_timeout),
            vhost is not None and vhost.include_request_attempt_count,
            act.max_grpc_timeout,
            act.grpc_timeout_offset,
        )
        internal, _final, internal_why = client_internal(self.client_http, hcm, conn.source_ip)
        found = forwarded(
            list(self.req.headers),
            http,
            self.unsure_headers,
            hcm,
            conn.dest_port,
            internal,
            rt,
            _router_config(hcm),
            internal_why,
            self.client_cert,
            self.req.source_principal,
            tracer_kind(hcm, bootstrap_of(self.proxy)),
        )
        for name in edited:
            found.headers.pop(name, None)
            found.unknown.pop(name, None)
        if not found.headers and not found.unknown:
            return
        detail: dict[str, Any] = {}
        if found.headers:
            detail["headers"] = {k: [v] for k, v in found.headers.items()}
        if found.unknown:
            detail["unknown"] = dict(found.unknown)
        self.step("action", "envoy headers", True, "Envoy adds " + found.text(), **detail)

    def _dns_names(self, name: str) -> list[str] | None:
        """A cluster's endpoint DNS names: [] when DNS does not resolve it, None if absent."""
        found = self.upstreams.index().get(name)
        if found is None:
            return None
        cluster = found[0]
        if (cluster.type or "EDS") not in ("STRICT_DNS", "LOGICAL_DNS") and not dns_kind(cluster):
            return []
        cla = own_assignment(cluster)  # a v2 cluster's ``hosts`` too (Envoy <= 1.14)
        return list(
            dict.fromkeys(
                lb.endpoint.address.socket_address.address
                for group in (cla.endpoints if cla is not None else [])
                for lb in group.lb_endpoints
                if lb.endpoint is not None
                and lb.endpoint.address is not None
                and lb.endpoint.address.socket_address is not None
            )
        )

    def specifier_plugin(self, ext: s.TypedExtension, http: HttpRequest) -> Verdict | None:
        """The cluster a route's matcher cluster specifier plugin picks for ``http``.

        None for any other plugin (Lua, a custom one): pdebug does not run them.
        """
        from pdebug.trace import matchers as mt

        what = f"cluster specifier plugin {ext.name or '?'}"
        config = mt.snake_tree(plain_json(ext.typed_config, what))
        if not str(mt.as_obj(config).get("@type", "")).endswith(".MatcherClusterSpecifier"):
            return None
        result = mt.evaluate(
            mt.as_obj(config.get("cluster_matcher")), mt.Inputs(http_headers=http.headers)
        )
        how = "; ".join(result.steps)
        if result.unsupported:
            self.step(
                "action", "matcher plugin", False, f"{how}; {result.unsupported}".lstrip("; ")
            )
            return Verdict(False, "inconclusive", f"the plugin's matcher: {result.unsupported}")
        if not result.action:
            why = "the matcher cluster specifier picks no cluster"
            self.step("action", "matcher plugin", False, f"{how}; {why}")
            return Verdict(False, "unknown_cluster", f"503: {why}", 503)
        self.step("action", "matcher plugin", True, f"{how}; cluster {result.action}")
        return self.clusters([(result.action, None)], tcp=False)

    # -- clusters

    def clusters(self, targets: _Targets, tcp: bool, missing_code: int = 503) -> Verdict:
        """The verdict for the request's clusters (their shares by weight)."""
        total = sum(w or 0 for _, w in targets)
        outcomes = []
        for name, weight in targets:
            share = None if weight is None else (100.0 * weight / total if total else 0.0)
            outcomes.append(self.cluster(name, weight, share))
        if len(outcomes) == 1 and outcomes[0].ok and outcomes[0].inner is not None:
            return outcomes[0].inner  # an internal upstream: where its listener sends
        return final(outcomes, tcp, missing_code, self.req)

    def aggregate(
        self, name: str, children: list[str], weight: int | None, share: float | None, part: str
    ) -> ClusterOutcome:
        """An aggregate cluster: its clusters in priority order, the first that can serve.

        Envoy joins the clusters' priorities into one list (the first cluster's first):
        all traffic goes to the first cluster with healthy hosts while it is healthy
        enough (at least 1/1.4 of its hosts, the default overprovisioning factor), some
        spills to the next when it is less healthy. Consul's failover is such a cluster.
        """
        order = ", ".join(children) or "no clusters"
        self.step(
            "cluster",
            name,
            bool(children),
            f"aggregate cluster: {order} in priority order (failover){part}",
            type=AGGREGATE,
            weight=weight,
            share=share,
        )
        seen = self._aggregates
        if name in seen or not children:
            why = "an aggregate cluster that includes itself" if children else "no clusters"
            return ClusterOutcome(name, "unsupported", weight, share, AGGREGATE, why=why)
        seen.add(name)
        try:
            outcomes: list[ClusterOutcome] = []
            for i, child in enumerate(children):
                out = self.cluster(child, None, None)
                outcomes.append(out)
                if out.ok:
                    usable = sum(1 for e in out.endpoints if e.usable in ("healthy", "degraded"))
                    if (
                        out.endpoints
                        and usable * 1.4 < len(out.endpoints)
                        and i + 1 < len(children)
                    ):
                        self.notes.append(
                            f"{child} has {usable} of {len(out.endpoints)} hosts healthy "
                            "(less than 1/1.4): Envoy sends part of the traffic on to "
                            f"{children[i + 1]}"
                        )
                    return dataclasses.replace(out, weight=weight, share=share)
                if out.state in ("unknown", "unsupported"):
                    break  # pdebug cannot tell whether it serves: neither what comes after
            first = next((o for o in outcomes if o.state == "panic"), outcomes[-1])
            return dataclasses.replace(first, weight=weight, share=share)
        finally:
            seen.discard(name)

    def cluster(self, name: str, weight: int | None, share: float | None) -> ClusterOutcome:
        """One cluster and its endpoints (``cluster`` and ``endpoints`` steps)."""
        part = "" if share is None else f"; {share:.4g}% of requests"
        if not self.dump.has("clusters"):
            self.dump.check_intact()  # a damaged dump: said so, not UNKNOWN
            self.step("cluster", name, False, sections.no_section(self.dump, "clusters"))
            return ClusterOutcome(name, "unknown", weight, share, why=FULL_DUMP)
        found = self.upstreams.index().get(name)
        if found is None and self.on_demand:
            why = (
                f"not in the dump: discovered on demand ({self.on_demand}, ODCDS); whether "
                "it exists is the xDS server's answer"
            )
            self.step("cluster", name, False, why + part)
            return ClusterOutcome(name, "unknown", weight, share, why=why)
        if found is None:
            self.step("cluster", name, False, f"no such cluster in the dump{part}")
            return ClusterOutcome(name, "missing", weight, share)
        cluster, state = found
        ctype = extension_type(cluster)
        if state == "WARMING":
            self.step("cluster", name, False, f"{ctype}, still warming: not serving yet{part}")
            return ClusterOutcome(name, "warming", weight, share, ctype)
        if ctype == "ORIGINAL_DST":
            why = f"ORIGINAL_DST: Envoy connects to the original destination {self.req.destination}"
            self.step("cluster", name, True, why + part, type=ctype, weight=weight, share=share)
            return ClusterOutcome(name, "ok", weight, share, ctype)
        children = aggregate_clusters(cluster)
        if children is not None:
            return self.aggregate(name, children, weight, share, part)
        dns = dns_kind(cluster)
        if dns is not None:  # a typed DNS cluster resolves as the legacy kind
            ctype = f"{ctype} ({dns})"
        elif ctype == DFP_CLUSTER:
            # no endpoints in any dump: Envoy resolves the request's host when it comes
            host = self.client_http.authority if self.client_http else self.req.authority
            why = (
                f"dynamic forward proxy: Envoy resolves the request's host ({host}, unless the "
                "route rewrites it) by DNS when the request comes; whether it answers is the "
                "DNS's and that host's"
            )
            self.step("cluster", name, True, f"{ctype}{part}", type=ctype)
            self.step("endpoints", name, False, f"unknown: {why}")
            return ClusterOutcome(name, "unknown", weight, share, ctype, why=why)
        elif cluster.cluster_type is not None and cluster.cluster_type.name:
            self.step("cluster", name, True, f"custom cluster type {ctype}{part}", type=ctype)
            self.notes.append(f"{name}: pdebug does not follow {ctype} clusters")
            return ClusterOutcome(name, "unsupported", weight, share, ctype)
        lb = lb_policy(cluster)
        self.step(
            "cluster", name, True, f"{ctype}, {lb}{part}", type=ctype, weight=weight, share=share
        )
        endpoints, source = self.upstreams.endpoints(cluster)
        if endpoints is None:
            why = source or f"the dump has no EDS: {self._with_eds()}"
            self.step("endpoints", name, False, f"unknown: {why}")
            return ClusterOutcome(name, "unknown", weight, share, ctype, why=why)
        healthy = sum(1 for e in endpoints if e.usable == "healthy")
        degraded = sum(1 for e in endpoints if e.usable == "degraded")
        shown = ", ".join(f"{e.address} {e.health}" for e in endpoints[:_SHOWN_ENDPOINTS])
        if len(endpoints) > _SHOWN_ENDPOINTS:
            shown += f", +{len(endpoints) - _SHOWN_ENDPOINTS} more"
        usable_pct = 100.0 * (healthy + degraded) / len(endpoints) if endpoints else 0.0
        verdict: ClusterState = "ok"
        levels = {e.priority for e in endpoints}
        threshold = self.upstreams.panic_threshold(cluster)
        factor = self.upstreams.overprovisioning(cluster)
        limit = f"{threshold:g}%" + ("" if threshold == PANIC_THRESHOLD else " (the cluster's)")
        if not endpoints:
            verdict, why = "empty", "no endpoints"
        elif healthy + degraded == 0 and threshold == 0:
            # Envoy: no usable host and panic off (healthy_panic_threshold 0): no host at all
            verdict = "unhealthy"
            why = (
                f"0 of {len(endpoints)} healthy, and healthy_panic_threshold 0 turns panic "
                f"mode off: Envoy sends to none ({shown})"
            )
        elif len(levels) > 1 and healthy + degraded:
            why = f"{healthy} of {len(endpoints)} healthy"
            if degraded:
                why += f", {degraded} degraded"
            why += ": " + _by_priority(endpoints, factor, threshold)
        elif healthy + degraded == 0:
            verdict = "panic"
            why = f"0 of {len(endpoints)} healthy: panic mode, Envoy still sends to all ({shown})"
            if len(levels) > 1:
                # every priority in panic: Envoy spreads over them all by host count
                why = f"0 of {len(endpoints)} healthy, every priority in panic: " + _by_priority(
                    endpoints, factor, threshold
                )
        else:
            why = f"{healthy} of {len(endpoints)} healthy"
            if degraded:
                why += f", {degraded} degraded"
            if usable_pct < threshold and usable_pct * factor < 100.0 * 100.0:
                why += f" (below {limit}: panic mode, Envoy sends to all)"
            why += f": {shown}"
        self.step(
            "endpoints",
            name,
            verdict == "ok",
            f"{why}; health from {source}{upstream_transport(endpoints)}",
            health_source=source,
            endpoints=[dataclasses.asdict(e) for e in endpoints],
            healthy=healthy,
        )
        outcome = ClusterOutcome(name, verdict, weight, share, ctype, endpoints)
        if verdict == "ok" and endpoints:
            return self.internal_upstream(outcome) or outcome
        return outcome

    def internal_upstream(self, outcome: ClusterOutcome) -> ClusterOutcome | None:
        """A cluster whose endpoints are internal listeners (``envoy://NAME``): follow on.

        The connection goes to that internal listener, whose filter chain and network
        filter decide the rest (traced as for a listener); none active by that name
        fails the upstream connection (503). None: not an internal upstream, or one whose
        endpoints carry an endpoint id (followed no further than the listener's existence).
        """
        targets = {e.address.removeprefix("envoy://").split("/", 1)[0] for e in outcome.endpoints}
        if not all(e.address.startswith("envoy://") for e in outcome.endpoints):
            return None
        serving, _ = ls.collect_listeners(self.dump)
        internal = {x.name: x for x in serving if is_set(x.listener.internal_listener)}
        gone = sorted(t for t in targets if t not in internal)
        if gone:
            why = (
                f"endpoint envoy://{gone[0]}: no active internal listener {gone[0]} "
                "(Envoy's upstream connection fails)"
            )
            self.step("listener", gone[0], False, why)
            return dataclasses.replace(outcome, state="unreachable", why=why)
        target = sorted(targets)[0]
        tagged = any(
            e.address.removeprefix("envoy://").split("/", 1)[1:] != [""] for e in outcome.endpoints
        )
        if len(targets) > 1 or target in self._internal or tagged:
            # an endpoint id (Istio's envoy://connect_originate/IP:PORT) is the tunnel's
            # destination, which that listener's original_dst reads: not followed
            return None
        self._internal.add(target)
        entry = internal[target]
        self.listener_step(entry, f"internal listener: cluster {outcome.name}'s endpoint")
        conn = self.connection(entry, via_capture=False)
        chain = self.filter_chain(entry, conn)
        inner = chain if isinstance(chain, Verdict) else self.network(entry, chain, conn)
        if inner.ok:
            return dataclasses.replace(outcome, inner=inner)
        if inner.kind in UNKNOWN_KINDS:
            return dataclasses.replace(outcome, state="unknown", why=inner.summary, inner=inner)
        why = f"through internal listener {target}: {inner.summary}"
        return dataclasses.replace(outcome, state="unreachable", why=why, inner=inner)


def _by_priority(endpoints: list[Endpoint], factor: int, threshold: float) -> str:
    """Each priority's endpoints, health and share of the traffic, as Envoy splits it."""
    parts = []
    for priority, load, panic in priority_loads(endpoints, factor, threshold):
        mine = [e for e in endpoints if e.priority == priority]
        usable = sum(1 for e in mine if e.usable in ("healthy", "degraded"))
        shown = ", ".join(f"{e.address} {e.health}" for e in mine[:_SHOWN_ENDPOINTS])
        if len(mine) > _SHOWN_ENDPOINTS:
            shown += f", +{len(mine) - _SHOWN_ENDPOINTS} more"
        takes = f"takes {load:.4g}% of traffic" if load else "takes no traffic (failover)"
        if panic and load:
            takes += " in panic mode (sends to all its hosts)"
        parts.append(f"priority {priority}: {usable} of {len(mine)} usable, {takes} ({shown})")
    return "; ".join(parts)


def _router_view(req: Request, hcm: s.HttpConnectionManager, conn: Connection) -> HttpRequest:
    """The request after the connection manager's rewrites (host port, path normalization)."""
    authority = req.authority
    host, port = split_host_port(authority)
    if hcm.strip_trailing_host_dot and host.endswith("."):
        host = host[:-1]  # before the port is stripped, as Envoy does
        authority = f"{host}:{port}" if port is not None else host
    if hcm.strip_any_host_port and port is not None:
        authority = host
    elif hcm.strip_matching_host_port and port == conn.dest_port:
        authority = host
    path = req.path if req.scheme != "tcp" else "/"
    unescape = hcm.path_with_escaped_slashes_action == "UNESCAPE_AND_FORWARD"
    path = _normalized(path, hcm, unescape)
    headers: dict[str, list[str]] = {
        ":authority": [authority],
        ":path": [path],
        ":method": [req.method],
        ":scheme": ["https" if req.scheme == "https" else "http"],
    }
    for key, value in req.headers:
        headers.setdefault(key, []).append(value)
    # x-forwarded-proto, as Envoy's connection manager sets it before routing (checked in
    # Envoy 1.40): the connection's scheme when the request has none, or when it comes
    # from a hop not trusted (use_remote_address without xff_num_trusted_hops).
    given = headers.get("x-forwarded-proto")
    if given is None or (hcm.use_remote_address and not hcm.xff_num_trusted_hops):
        headers["x-forwarded-proto"] = [headers[":scheme"][0]]
    return HttpRequest(authority, path, req.method, headers[":scheme"][0], headers)


def _forwarded_proto_note(req: Request, http: HttpRequest) -> str | None:
    """Say so when the connection manager replaced the client's x-forwarded-proto."""
    given = [v for k, v in req.headers if k == "x-forwarded-proto"]
    now = http.headers.get("x-forwarded-proto", [])
    if not given or given == now:
        return None
    return (
        f"x-forwarded-proto: {given[0]} was replaced by {now[0]}, as Envoy does for a client "
        "it does not trust (use_remote_address, no xff_num_trusted_hops): routes see "
        f"{now[0]}"
    )


def _matched_prefix(route: s.Route) -> str | None:
    """What a redirect's ``prefix_rewrite`` replaces (an exact path: all of it)."""
    m = route.match
    if m is None:
        return None
    return next((p for p in (m.prefix, m.path_separated_prefix, m.path) if p is not None), None)


#: The dynamic forward proxy's cluster type: hosts come from each request, not from xDS.
DFP_CLUSTER = "envoy.clusters.dynamic_forward_proxy"


def _api_only(lst: ListenerEntry) -> bool:
    """Whether ``lst`` is an API listener only (no filter chain): nothing binds a socket."""
    return api_listener_filter(lst.listener) is not None and not lst.listener.filter_chains


def _router_config(hcm: s.HttpConnectionManager) -> dict[str, Any] | None:
    """The router filter's config (the last router of the chain), snake_case.

    A router written in a ``TypedStruct`` is read as the router its ``type_url`` names, as
    Envoy 1.40 runs it (tests/test_leftovers11.py). ``{}`` without one; None when it cannot
    be read (or its switches are not booleans).
    """
    routers = [f for f in hcm.http_filters if f.name.endswith("router") or _is_router(f)]
    if not routers:
        return {}
    from pdebug.errors import InvalidInput

    try:
        config = fl.config_of(unwrapped_config(routers[-1]), "the router filter")
    except InvalidInput:
        return None
    if not all(
        isinstance(config.get(k, False), bool)
        for k in ("suppress_envoy_headers", "respect_expected_rq_timeout")
    ):
        return None
    return config


def _suppresses_envoy_headers(hcm: s.HttpConnectionManager) -> bool | None:
    """The router's ``suppress_envoy_headers`` (the last HTTP filter); None: unreadable."""
    config = _router_config(hcm)
    return None if config is None else config.get("suppress_envoy_headers", False) is True


def _hedges(raw: msgspec.Raw) -> bool:
    """A hedge policy's ``hedge_on_per_try_timeout`` (either spelling)."""
    if not is_set(raw):
        return False
    try:
        policy = msgspec.json.decode(bytes(raw))
    except msgspec.DecodeError:
        return False
    return isinstance(policy, dict) and True in (
        policy.get("hedge_on_per_try_timeout"),
        policy.get("hedgeOnPerTryTimeout"),
    )


def _is_router(f: s.TypedExtension) -> bool:
    """Whether ``f`` is Envoy's router, by its ``@type`` or its ``TypedStruct``'s ``type_url``.

    The wrapper's ``type_url`` may come after a long ``value``: the model's one unwrap
    puts the wrapped message's ``@type`` first.
    """
    head = memoryview(unwrapped_config(f))[:200].tobytes()
    return b".router.v3.Router" in head or b".router.v2.Router" in head


def _external_service_note(f: s.TypedExtension) -> list[str]:
    """A note on a filter that asks a service of its own whether the request goes on.

    ext_proc, or ext_authz outside Istio's CUSTOM action: trace does not evaluate them,
    yet their answer decides the verdict, and Envoy 1.40 answers by itself when the
    service cannot be reached (checked: ext_proc 500, ext_authz 403; Envoy's
    ``configs/ext-proc-session-affinity-cookie.yaml``, its processor down).
    """
    raw = unwrapped_config(f)
    proc = b".ext_proc.v3.ExternalProcessor" in bytes(raw)[:200]
    if not proc and fl.filter_kind(f) != fl.EXT_AUTHZ:
        return []
    config = fl.config_of(raw, f"the HTTP filter {f.name}")
    grpc = as_obj(config.get("grpc_service"))
    cluster = as_obj(grpc.get("envoy_grpc")).get("cluster_name")
    if not cluster:
        http = as_obj(config.get("http_service"))
        uri = as_obj(http.get("server_uri"))  # ext_authz's
        if not uri:  # ext_proc's ExtProcHttpService wraps a core HttpService
            uri = as_obj(as_obj(http.get("http_service")).get("http_uri"))
        cluster = uri.get("cluster")
    service = f"cluster {cluster}" if isinstance(cluster, str) and cluster else "its service"
    what = "external processor" if proc else "authorization service"
    if config.get("failure_mode_allow") is True:
        down = "failure_mode_allow is true: the request goes on when it cannot be reached"
    else:
        status = _status_code(as_obj(config.get("status_on_error")).get("code"))
        down = f"Envoy answers {status or (500 if proc else 403)} when it cannot reach it"
    return [
        f"{f.name or 'an HTTP filter'} was not evaluated: its {what} ({service}) can answer "
        f"the request itself or change it; {down}"
    ]


def _status_code(code: Any) -> str:
    """An ``envoy.type.v3.StatusCode`` as a status (``ServiceUnavailable`` -> 503)."""
    import http

    if isinstance(code, int) and not isinstance(code, bool):
        return str(code)
    if not isinstance(code, str) or not code:
        return ""
    if code.isdigit():
        return code
    name = re.sub(r"(?<=[a-z])(?=[A-Z])", "_", code).upper()
    known = getattr(http.HTTPStatus, name, None)
    return str(int(known)) if known is not None else sanitize(code)


def _evaluated(f: s.TypedExtension) -> bool:
    """Whether trace evaluates HTTP filter ``f`` (RBAC, fault, Istio's gated ext_authz)."""
    kind = fl.filter_kind(f)
    if kind == fl.EXT_AUTHZ:
        raw = bytes(unwrapped_config(f))
        return b"filter_enabled_metadata" in raw or b"filterEnabledMetadata" in raw
    return bool(kind)


_OWN_PRINCIPAL = (
    "--source-principal: the request leaves this proxy outbound, so the identity it "
    "presents is this proxy's own (its sidecar originates the mTLS); a rule on principals "
    "applies at the destination's inbound: trace the destination's dump with --direction "
    "inbound"
)


def _some(names: list[str], most: int = 4) -> str:
    """``a, b, c, d +2 more``."""
    text = ", ".join(names[:most])
    return text + (f" +{len(names) - most} more" if len(names) > most else "")


def _pct(weight: int, total: int) -> str:
    return f"{100.0 * weight / total:.4g}%" if total else "0%"


def trace(proxy: ProxyData, request: Request) -> Trace:
    """Walk ``request`` through the proxy's listeners, routes and clusters.

    Raises:
        InvalidInput: the source has no config dump, or its listeners section is missing.
    """
    return Tracer(proxy, request).run()


def _weighted_name(wc: s.WeightedCluster, http: HttpRequest) -> str:
    """A weighted cluster's name, or the value of its ``cluster_header`` in the request."""
    if wc.name or not wc.cluster_header:
        return wc.name
    values = http.values(wc.cluster_header)
    if values and values[0]:
        return values[0]
    return f"(header {wc.cluster_header} absent)"


def _normalized(path: str, hcm: s.HttpConnectionManager, unescape: bool) -> str:
    """The path as the connection manager rewrites it; the query is kept.

    Escaped slashes (when ``unescape``), then ``normalize_path``, then ``merge_slashes``
    (Envoy's order).
    """
    if not (unescape or hcm.normalize_path or hcm.merge_slashes):
        return path
    only, sep, query = path.partition("?")
    if unescape:
        only = unescape_slashes(only)
    if hcm.normalize_path:
        only = remove_dot_segments(decode_unreserved(only))
    if hcm.merge_slashes:
        only = re.sub("/{2,}", "/", only)
    return only + sep + query


def decode_unreserved(path: str) -> str:
    r"""Backslashes as slashes, escapes of unreserved characters decoded (``%61`` is ``a``).

    Envoy's ``normalize_path`` (its URL canonicalizer) does both before it removes dot
    segments, so ``/%2e%2e/a`` is ``/a`` and ``/a\b`` is ``/a/b``; other escapes stay as
    written (``%5C`` too).
    """
    path = path.replace("\\", "/")
    if "%" not in path:
        return path
    return re.sub("%([0-9A-Fa-f]{2})", _unreserved_or_kept, path)


def _unreserved_or_kept(m: re.Match[str]) -> str:
    char = chr(int(m.group(1), 16))
    return char if char.isascii() and (char.isalnum() or char in "-._~") else m.group(0)


def unescape_slashes(path: str) -> str:
    """``%2F`` and ``%5C`` (either case) decoded, as Envoy's escaped-slashes actions do."""
    if "%" not in path:
        return path
    return re.sub("%2[fF]", "/", re.sub("%5[cC]", "\\\\", path))
