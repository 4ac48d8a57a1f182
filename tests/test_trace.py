"""pdebug trace: Envoy's matching rules on crafted dumps and the real sidecar fixture.

The rules themselves are checked against a real Envoy in test_trace_envoy.py; these
tests pin each rule down on small inputs, plus bad input and exit codes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pdebug import trace as t
from pdebug.errors import ExitCode, UsageError
from pdebug.model import schema as s
from tests.harness import FIXTURES, ISTIOCTL

SIDECAR = FIXTURES / "real" / "sidecar" / "config_dump.json"
SIDECAR_CLUSTERS = FIXTURES / "real" / "sidecar" / "clusters.json"
REVIEWS_V1 = "outbound|9080|v1|reviews.default.svc.cluster.local"
REVIEWS_V2 = "outbound|9080|v2|reviews.default.svc.cluster.local"
ADMIN = "type.googleapis.com/envoy.admin.v3."
HCM_TYPE = (
    "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3"
    ".HttpConnectionManager"
)
TCP_TYPE = "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy"


# --- crafted dumps ----------------------------------------------------------------------


def _sock(ip: str, port: int) -> dict[str, Any]:
    return {"socket_address": {"address": ip, "port_value": port}}


def _hcm(route_config: dict[str, Any] | None = None, rds: str | None = None, **extra: Any) -> Any:
    typed: dict[str, Any] = {"@type": HCM_TYPE, "stat_prefix": "x", **extra}
    if route_config is not None:
        typed["route_config"] = route_config
    if rds is not None:
        typed["rds"] = {"route_config_name": rds}
    return {"name": "envoy.filters.network.http_connection_manager", "typed_config": typed}


def _tcp(cluster: str) -> dict[str, Any]:
    return {
        "name": "envoy.filters.network.tcp_proxy",
        "typed_config": {"@type": TCP_TYPE, "stat_prefix": "t", "cluster": cluster},
    }


def _listener(name: str, ip: str, port: int, chains: list[Any], **extra: Any) -> Any:
    return {"name": name, "address": _sock(ip, port), "filter_chains": chains, **extra}


def _vh(name: str, domains: list[str], routes: list[Any]) -> dict[str, Any]:
    return {"name": name, "domains": domains, "routes": routes}


def _cluster(name: str, *endpoints: tuple[str, str | None], kind: str = "STATIC") -> Any:
    lbs = []
    for addr, health in endpoints:
        ip, port = addr.rsplit(":", 1)
        lb: dict[str, Any] = {"endpoint": {"address": _sock(ip, int(port))}}
        if health:
            lb["health_status"] = health
        lbs.append(lb)
    cluster: dict[str, Any] = {"name": name, "type": kind}
    if kind != "EDS":
        cluster["load_assignment"] = {"cluster_name": name, "endpoints": [{"lb_endpoints": lbs}]}
    return cluster


def _dump(
    tmp_path: Path,
    listeners: list[Any],
    routes: list[Any] = (),  # type: ignore[assignment]
    clusters: list[Any] = (),  # type: ignore[assignment]
    eds: list[Any] | None = None,
    warming: list[Any] = (),  # type: ignore[assignment]
    dynamic: list[Any] = (),  # type: ignore[assignment]
) -> Path:
    configs: list[dict[str, Any]] = [
        {
            "@type": ADMIN + "ListenersConfigDump",
            "static_listeners": [{"listener": lst} for lst in listeners],
            "dynamic_listeners": list(dynamic),
        },
        {
            "@type": ADMIN + "RoutesConfigDump",
            "dynamic_route_configs": [{"version_info": "7", "route_config": r} for r in routes],
        },
        {
            "@type": ADMIN + "ClustersConfigDump",
            "static_clusters": [{"cluster": c} for c in clusters],
            "dynamic_warming_clusters": [{"cluster": c} for c in warming],
        },
    ]
    if eds is not None:
        configs.append(
            {
                "@type": ADMIN + "EndpointsConfigDump",
                "dynamic_endpoint_configs": [{"endpoint_config": e} for e in eds],
            }
        )
    path = tmp_path / "dump.json"
    path.write_text(json.dumps({"configs": configs}))
    return path


def _http_dump(tmp_path: Path, routes: list[Any], domains: list[str] | None = None) -> Path:
    """One HTTP listener on 127.0.0.1:8080 with one virtual host and cluster ``c``."""
    rc = {"name": "rc", "virtual_hosts": [_vh("vh", domains or ["*"], routes)]}
    lst = _listener("http", "127.0.0.1", 8080, [{"filters": [_hcm(rc)]}])
    return _dump(
        tmp_path,
        [lst],
        clusters=[_cluster(n, ("10.0.0.1:80", None)) for n in "abcdefgh"],
    )


def _run(pdebug, *args: Any) -> tuple[int, dict[str, Any]]:
    result = pdebug("trace", *args, "-o", "json")
    assert result.code in (0, 1, 6), result.err
    return result.code, json.loads(result.out)


def _matched(doc: dict[str, Any], kind: str) -> list[str]:
    return [st["name"] for st in doc["steps"] if st["kind"] == kind and st["matched"]]


def _clusters(doc: dict[str, Any]) -> list[str]:
    return [c["name"] for c in doc["verdict"]["clusters"]]


# --- parsing the request ----------------------------------------------------------------


def test_url_defaults_and_authority():
    req = t.parse_request("reviews/x?y=1")
    assert (req.scheme, req.host, req.port, req.path, req.authority) == (
        "http",
        "reviews",
        80,
        "/x?y=1",
        "reviews",
    )
    req = t.parse_request("https://Reviews.Example:8443")
    assert (req.port, req.path, req.authority) == (8443, "/", "reviews.example:8443")
    assert t.parse_request("https://a").port == 443
    req = t.parse_request("http://[fd00::1]:81/", headers=["Host: other:1", ":x-y:z"])
    assert (req.host, req.dest_ip is not None, req.authority) == ("fd00::1", True, "other:1")
    assert req.headers == ((":x-y", "z"),)
    req = t.parse_request("tcp://db:3306", method="post", source_ip="10.0.0.1")
    assert (req.method, str(req.source_ip)) == ("POST", "10.0.0.1")


@pytest.mark.parametrize(
    "url",
    ["http://", "ftp://x/", "http://h:99999/", "http://a b/", "tcp://db", "http://h/a b", "h:x"],
)
def test_unparsable_url_is_a_usage_error(pdebug, url):
    with pytest.raises(UsageError):
        t.parse_request(url)
    result = pdebug("trace", SIDECAR, url)
    assert result.code == ExitCode.USAGE
    assert "pdebug: error:" in result.err and "URL" in result.err


@pytest.mark.parametrize(
    "args",
    [
        ("-H", "no-colon"),
        ("-H", ":x"),
        ("--source-ip", "10.0.0"),
        ("--direction", "sideways"),
        ("--method", "GE T"),
        ("-o", "xml"),
    ],
)
def test_bad_options_are_usage_errors(pdebug, args):
    result = pdebug("trace", SIDECAR, "http://reviews:9080/", *args)
    assert result.code == ExitCode.USAGE, result.err
    assert result.err.startswith("pdebug: error:")


def test_inputs_that_are_not_dumps(pdebug, tmp_path):
    assert pdebug("trace", SIDECAR_CLUSTERS, "http://x/").code == ExitCode.INVALID_INPUT
    assert pdebug("trace", tmp_path / "nope.json", "http://x/").code == ExitCode.SOURCE_UNAVAILABLE
    secrets = ISTIOCTL / "proxy-config-secret/istio/config_dump.json"
    result = pdebug("trace", secrets, "http://x/")
    # a dump without listeners cannot tell: UNKNOWN, saying what to capture (issue 11)
    assert result.code == ExitCode.UNKNOWN and "no listeners section" in result.out
    assert "VERDICT: UNKNOWN" in result.out and "config_dump" in result.out


# --- listeners --------------------------------------------------------------------------


def test_unknown_listener_port_is_a_finding(pdebug, tmp_path):
    dump = _http_dump(tmp_path, [{"match": {"prefix": "/"}, "route": {"cluster": "a"}}])
    result = pdebug("trace", dump, "http://127.0.0.1:9999/")
    assert result.code == ExitCode.FINDINGS
    assert "VERDICT: FAIL, connection refused: no active listener binds port 9999" in result.out
    code, doc = _run(pdebug, dump, "http://127.0.0.1:9999/")
    assert doc["verdict"]["kind"] == "no_listener" and code == 1


def test_listener_by_destination_ip_then_wildcard(pdebug, tmp_path):
    chains = {n: [{"filters": [_tcp(n)]}] for n in ("a", "b")}
    dump = _dump(
        tmp_path,
        [
            _listener("specific", "10.0.0.5", 80, chains["a"]),
            _listener("any", "0.0.0.0", 80, chains["b"]),
        ],
        clusters=[_cluster("a", ("1.1.1.1:1", None)), _cluster("b", ("1.1.1.1:1", None))],
    )
    assert _matched(_run(pdebug, dump, "tcp://10.0.0.5:80")[1], "listener") == ["specific"]
    assert _matched(_run(pdebug, dump, "tcp://10.0.0.6:80")[1], "listener") == ["any"]
    _, doc = _run(pdebug, dump, "tcp://db:80")
    assert _matched(doc, "listener") == ["any"]
    assert "specific" in doc["steps"][0]["reason"]  # says which IP would go elsewhere


def test_unbound_and_warming_listeners_are_not_reached(pdebug, tmp_path):
    dump = _dump(
        tmp_path,
        [_listener("unbound", "0.0.0.0", 80, [{"filters": [_tcp("a")]}], bind_to_port=False)],
        dynamic=[
            {"name": "new", "warming_state": {"listener": _listener("new", "0.0.0.0", 81, [])}}
        ],
    )
    result = pdebug("trace", dump, "http://x/")
    assert result.code == 1 and "bind_to_port false" in result.out
    result = pdebug("trace", dump, "http://x:81/")
    assert result.code == 1 and "new (WARMING)" in result.out


def _sidecar_like(tmp_path: Path) -> Path:
    """virtualOutbound + a per-IP TCP listener + a 0.0.0.0 HTTP listener on 3306."""
    return _dump(
        tmp_path,
        [
            _listener(
                "virtualOutbound",
                "0.0.0.0",
                15001,
                [{"filter_chain_match": {"destination_port": 15001}, "filters": [_tcp("bh")]}],
                use_original_dst=True,
                default_filter_chain={"name": "Passthrough", "filters": [_tcp("pass")]},
            ),
            _listener(
                "10.96.0.7_3306",
                "10.96.0.7",
                3306,
                [{"filters": [_tcp("outbound|3306||mysql.db.svc.cluster.local")]}],
                bind_to_port=False,
            ),
        ],
        clusters=[
            _cluster("pass", kind="ORIGINAL_DST"),
            _cluster("bh"),
            _cluster("outbound|3306||mysql.db.svc.cluster.local", ("10.1.0.9:3306", "HEALTHY")),
        ],
    )


def test_outbound_capture_hands_off_by_original_destination(pdebug, tmp_path):
    """use_original_dst, checked on a crafted dump (the Envoy test does it through PROXY)."""
    dump = _sidecar_like(tmp_path)
    code, doc = _run(pdebug, dump, "tcp://10.96.0.7:3306")
    assert _matched(doc, "listener") == ["virtualOutbound", "10.96.0.7_3306"]
    assert code == 0 and _clusters(doc) == ["outbound|3306||mysql.db.svc.cluster.local"]
    # a name: the per-IP listener whose cluster is that host
    code, doc = _run(pdebug, dump, "tcp://mysql:3306")
    assert _matched(doc, "listener") == ["virtualOutbound", "10.96.0.7_3306"]
    # another IP: nobody owns it, the default chain passes it through (ORIGINAL_DST)
    code, doc = _run(pdebug, dump, "tcp://10.96.0.8:3306")
    assert _matched(doc, "listener") == ["virtualOutbound", "virtualOutbound"]
    assert doc["verdict"]["kind"] == "upstream" and "passed through" in doc["verdict"]["summary"]
    assert _matched(doc, "filter_chain") == ["Passthrough"]


def test_inbound_needs_a_virtual_inbound(pdebug, tmp_path):
    code, doc = _run(pdebug, _sidecar_like(tmp_path), "http://x/", "--direction", "inbound")
    assert code == 1 and doc["verdict"]["kind"] == "no_listener"


def test_sidecar_fixture_outbound_weighted(pdebug):
    code, doc = _run(pdebug, SIDECAR, "http://reviews:9080/")
    assert code == 0
    assert _matched(doc, "listener") == ["virtualOutbound", "0.0.0.0_9080"]
    assert _matched(doc, "route_config") == ["9080"]
    assert _matched(doc, "virtual_host") == ["reviews.default.svc.cluster.local:9080"]
    routes = [(st["name"], st["matched"]) for st in doc["steps"] if st["kind"] == "route"]
    assert routes == [("reviews-jason", False), ("reviews-split", True)]
    shares = {c["name"]: c["share"] for c in doc["verdict"]["clusters"]}
    assert shares == {REVIEWS_V1: 80.0, REVIEWS_V2: 20.0}
    assert "no live /clusters data" in doc["steps"][-1]["reason"]
    assert any("--clusters-json" in n for n in doc["notes"])


def test_sidecar_fixture_header_route_and_live_health(pdebug):
    args = (SIDECAR, "http://reviews:9080/", "-H", "end-user:jason")
    code, doc = _run(pdebug, *args, "--clusters-json", SIDECAR_CLUSTERS)
    assert code == 0 and _clusters(doc) == [REVIEWS_V2]
    endpoints = doc["steps"][-1]
    assert endpoints["health_source"] == "/clusters" and endpoints["healthy"] == 1
    assert not doc["notes"]


def test_sidecar_fixture_inbound_and_blackhole(pdebug):
    code, doc = _run(pdebug, SIDECAR, "http://productpage:9080/", "--direction", "inbound")
    assert code == 0 and _clusters(doc) == ["inbound|9080||"]
    assert _matched(doc, "filter_chain") == ["0.0.0.0_9080 (#2)"]
    code, doc = _run(pdebug, SIDECAR, "http://127.0.0.1:15001/")
    assert code == 1 and doc["verdict"]["kind"] == "no_endpoints"
    assert "closes the connection" in doc["verdict"]["summary"]


def test_table_wide_yaml_and_markdown(pdebug):
    table = pdebug("trace", SIDECAR, "http://productpage:9080/", "--direction", "inbound")
    wide = pdebug(
        "trace", SIDECAR, "http://productpage:9080/", "--direction", "inbound", "-o", "wide"
    )
    assert table.code == wide.code == 0
    assert table.out.splitlines()[0].split() == ["STEP", "NAME", "MATCH", "REASON"]
    assert "virtualInbound-blackhole" not in table.out  # losing chains only in wide
    assert "virtualInbound-blackhole (#0)" in wide.out and "destination_port 15006" in wide.out
    assert "VERDICT: OK, routed to inbound|9080||" in table.out
    assert pdebug("trace", SIDECAR, "http://x:9080/", "-o", "yaml").out.startswith("request:")
    assert "### Verdict" in pdebug("trace", SIDECAR, "http://x:9080/", "-o", "md").out


# --- filter chains ----------------------------------------------------------------------


def _chains(*matches: dict[str, Any]) -> list[s.FilterChain]:
    return [
        s.FilterChain(name=f"c{i}", filter_chain_match=s.FilterChainMatch(**m))
        for i, m in enumerate(matches)
    ]


def _cidr(text: str) -> s.CidrRange:
    ip, length = text.split("/")
    return s.CidrRange(ip, int(length))


def _conn(**kw: Any) -> t.Connection:
    import ipaddress

    for key in ("dest_ip", "source_ip"):
        if isinstance(kw.get(key), str):
            kw[key] = ipaddress.ip_address(kw[key])
    kw.setdefault("dest_ip", None)
    kw.setdefault("dest_port", 80)
    return t.Connection(**kw)


def test_chain_destination_port_beats_everything_after_it():
    chains = _chains(
        {"source_prefix_ranges": [_cidr("10.0.0.0/8")]},
        {"destination_port": 80},
    )
    assert t.select_filter_chain(chains, _conn(source_ip="10.0.0.1")).index == 1


def test_chain_no_backtracking_after_a_specific_match():
    chains = _chains({"destination_port": 80, "transport_protocol": "tls"}, {})
    choice = t.select_filter_chain(chains, _conn())
    assert choice.index is None
    assert "transport_protocol tls, not raw_buffer" in choice.failed
    assert "less specific" in choice.lost[1]


def test_chain_longest_destination_prefix_wins_and_does_not_fall_back():
    chains = _chains(
        {"prefix_ranges": [_cidr("10.1.0.0/16")]},
        {"prefix_ranges": [_cidr("10.1.2.0/24"), _cidr("192.168.0.0/16")]},
        {},
    )
    assert t.select_filter_chain(chains, _conn(dest_ip="10.1.2.3")).index == 1
    assert t.select_filter_chain(chains, _conn(dest_ip="10.1.9.9")).index == 0
    assert t.select_filter_chain(chains, _conn(dest_ip="172.16.0.1")).index == 2
    unknown = t.select_filter_chain(chains, _conn())
    assert unknown.index == 2 and "destination IP unknown" in unknown.lost[0]


def test_chain_server_names_exact_then_longest_wildcard():
    chains = _chains(
        {"server_names": ["*.com"]},
        {"server_names": ["*.example.com"]},
        {"server_names": ["www.example.com"]},
        {},
    )
    pick = lambda sni: t.select_filter_chain(chains, _conn(server_name=sni)).index  # noqa: E731
    assert pick("www.example.com") == 2
    assert pick("api.example.com") == 1
    assert pick("example.com") == 0
    assert pick("example.org") == 3
    assert pick("") == 3


def test_chain_transport_and_application_protocols():
    chains = _chains(
        {"transport_protocol": "tls", "application_protocols": ["h2"]},
        {"transport_protocol": "tls", "application_protocols": ["http/1.1"]},
        {"transport_protocol": "tls"},
        {"application_protocols": ["http/1.1"]},
        {},
    )
    tls = _conn(transport="tls", alpn=("h2", "http/1.1"))
    assert t.select_filter_chain(chains, tls).index == 0  # the client's first ALPN
    assert t.select_filter_chain(chains, _conn(transport="tls", alpn=("x",))).index == 2
    assert t.select_filter_chain(chains, _conn(alpn=("http/1.1",))).index == 3
    assert t.select_filter_chain(chains, _conn()).index == 4


def test_chain_source_type_ip_and_port():
    chains = _chains(
        {"source_type": "SAME_IP_OR_LOOPBACK"},
        {"source_type": "EXTERNAL", "source_prefix_ranges": [_cidr("10.8.0.0/16")]},
        {"source_type": "EXTERNAL", "source_ports": [5555]},
        {"source_type": "EXTERNAL"},
    )
    assert t.select_filter_chain(chains, _conn(source_ip="127.0.0.1")).index == 0
    assert t.select_filter_chain(chains, _conn(dest_ip="10.0.0.1", source_ip="10.0.0.1")).index == 0
    assert t.select_filter_chain(chains, _conn(source_ip="10.8.1.1")).index == 1
    assert t.select_filter_chain(chains, _conn(source_ip="10.9.1.1", source_port=5555)).index == 2
    assert t.select_filter_chain(chains, _conn(source_ip="10.9.1.1")).index == 3
    unknown = t.select_filter_chain(chains, _conn())
    assert unknown.index is None and "give --source-ip" in unknown.failed


def test_default_filter_chain_and_no_chain(pdebug, tmp_path):
    lst = _listener(
        "l",
        "127.0.0.1",
        7000,
        [{"filter_chain_match": {"server_names": ["a.test"]}, "filters": [_tcp("a")]}],
    )
    dump = _dump(tmp_path, [lst], clusters=[_cluster("a", ("1.1.1.1:1", None))])
    code, doc = _run(pdebug, dump, "tcp://127.0.0.1:7000")
    assert code == 1 and doc["verdict"]["kind"] == "no_filter_chain"
    lst["default_filter_chain"] = {"name": "dflt", "filters": [_tcp("a")]}
    dump = _dump(tmp_path, [lst], clusters=[_cluster("a", ("1.1.1.1:1", None))])
    code, doc = _run(pdebug, dump, "tcp://127.0.0.1:7000")
    assert code == 0 and _matched(doc, "filter_chain") == ["dflt"]


def test_https_needs_a_tls_inspector_for_sni(pdebug, tmp_path):
    chains = [
        {"filter_chain_match": {"server_names": ["secure.test"]}, "filters": [_tcp("a")]},
        {"filters": [_tcp("b")]},
    ]
    clusters = [_cluster("a", ("1.1.1.1:1", None)), _cluster("b", ("1.1.1.1:1", None))]
    tls = {
        "name": "envoy.filters.listener.tls_inspector",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3"
            ".TlsInspector"
        },
    }
    dump = _dump(tmp_path, [_listener("l", "0.0.0.0", 443, chains)], clusters=clusters)
    assert _clusters(_run(pdebug, dump, "https://secure.test/")[1]) == ["b"]
    dump = _dump(
        tmp_path,
        [_listener("l", "0.0.0.0", 443, chains, listener_filters=[tls])],
        clusters=clusters,
    )
    assert _clusters(_run(pdebug, dump, "https://secure.test/")[1]) == ["a"]


# --- virtual hosts ----------------------------------------------------------------------


VHOSTS = [
    s.VirtualHost(name="exact", domains=["www.foo.com", "www.foo.com:8080"]),
    s.VirtualHost(name="suffix", domains=["*.foo.com"]),
    s.VirtualHost(name="suffix-long", domains=["*-bar.foo.com"]),
    s.VirtualHost(name="prefix", domains=["www.*"]),
    s.VirtualHost(name="prefix-long", domains=["www.foo.*"]),
    s.VirtualHost(name="any", domains=["*"]),
]


@pytest.mark.parametrize(
    ("host", "vhost"),
    [
        ("www.foo.com", "exact"),
        ("WWW.Foo.COM", "exact"),
        ("www.foo.com:8080", "exact"),
        ("www.foo.com:9090", "prefix-long"),  # the port stays in the Host
        ("api.foo.com", "suffix"),
        ("baz-bar.foo.com", "suffix-long"),
        ("-bar.foo.com", "suffix"),  # a wildcard never matches an empty string
        ("www.foo.org", "prefix-long"),
        ("www.bar.org", "prefix"),
        ("www.", "any"),
        ("other", "any"),
    ],
)
def test_virtual_host_order(host, vhost):
    found = t.select_virtual_host(VHOSTS, host)
    assert found is not None and VHOSTS[found[0]].name == vhost


def test_suffix_wildcards_beat_longer_prefix_wildcards():
    vhosts = [
        s.VirtualHost(name="prefix", domains=["api.example.*"]),
        s.VirtualHost(name="suffix", domains=["*.com"]),
    ]
    found = t.select_virtual_host(vhosts, "api.example.com")
    assert found is not None and vhosts[found[0]].name == "suffix"
    assert t.select_virtual_host(vhosts[:1], "other") is None


def test_no_virtual_host_is_404_with_a_port_hint(pdebug, tmp_path):
    dump = _http_dump(
        tmp_path, [{"match": {"prefix": "/"}, "route": {"cluster": "a"}}], ["reviews"]
    )
    code, doc = _run(pdebug, dump, "http://reviews:8080/")
    assert code == 1 and doc["verdict"]["status"] == 404
    assert "reviews (without the port) would match vh" in doc["steps"][-1]["reason"]
    code, _ = _run(pdebug, dump, "http://127.0.0.1:8080/", "-H", "Host:reviews")
    assert code == 0


def test_connection_manager_and_route_config_port_handling(pdebug, tmp_path):
    rc = {
        "name": "rc",
        "virtual_hosts": [
            _vh("vh", ["reviews"], [{"match": {"prefix": "/"}, "route": {"cluster": "a"}}])
        ],
    }
    for hcm in (
        _hcm(rc, strip_any_host_port=True),
        _hcm(rc, strip_matching_host_port=True),
        _hcm({**rc, "ignore_port_in_host_matching": True}),
    ):
        lst = _listener("l", "127.0.0.1", 8080, [{"filters": [hcm]}])
        dump = _dump(tmp_path, [lst], clusters=[_cluster("a", ("1.1.1.1:1", None))])
        assert _run(pdebug, dump, "http://reviews:8080/")[0] == 0


# --- routes -----------------------------------------------------------------------------


def _req(path: str = "/", headers: dict[str, list[str]] | None = None, method: str = "GET"):
    h = {":path": [path], ":method": [method], ":authority": ["h"], ":scheme": ["http"]}
    h.update(headers or {})
    return t.HttpRequest("h", path, method, "http", h)


def _match(match: dict[str, Any], path: str = "/", **headers: list[str]) -> bool:
    import msgspec

    route = msgspec.convert({"match": match}, s.Route, strict=False)
    return t.match_route(route, _req(path, {k.replace("_", "-"): v for k, v in headers.items()}))[0]


@pytest.mark.parametrize(
    ("match", "path", "ok"),
    [
        ({"prefix": "/api"}, "/api/v1", True),
        ({"prefix": "/api"}, "/API/v1", False),
        ({"prefix": "/API", "case_sensitive": False}, "/api/v1", True),
        ({"prefix": "/api?x"}, "/api?x=1", False),  # the query is not part of the path
        ({"path": "/exact"}, "/exact?q=1", True),
        ({"path": "/exact"}, "/exact/", False),
        ({"path": "/EXACT", "case_sensitive": False}, "/exact", True),
        ({"safe_regex": {"regex": "/v[0-9]+"}}, "/v12", True),
        ({"safe_regex": {"regex": "/v[0-9]+"}}, "/v12/x", False),  # a full match
        ({"safe_regex": {"regex": "/V1"}, "case_sensitive": False}, "/v1", False),
        ({"path_separated_prefix": "/api"}, "/api", True),
        ({"path_separated_prefix": "/api"}, "/api/x?y", True),
        ({"path_separated_prefix": "/api"}, "/apix", False),
        ({"path_separated_prefix": "/API", "case_sensitive": False}, "/api/x", True),
    ],
)
def test_path_matchers(match, path, ok):
    assert _match(match, path) is ok


@pytest.mark.parametrize(
    ("matcher", "headers", "ok"),
    [
        ({"exact_match": "a"}, ["a"], True),
        ({"exact_match": "a"}, ["b"], False),
        ({"exact_match": "a"}, None, False),
        ({"exact_match": "a"}, ["b", "a"], True),  # one matching value is enough
        ({"exact_match": "a,b"}, ["a", "b"], False),
        ({"exact_match": "a", "invert_match": True}, ["b"], True),
        ({"exact_match": "a", "invert_match": True}, None, False),  # absent never matches
        ({"exact_match": "", "treat_missing_header_as_empty": True}, None, True),
        ({"prefix_match": "pre"}, ["prefix"], True),
        ({"suffix_match": "fix"}, ["prefix"], True),
        ({"contains_match": "efi"}, ["prefix"], True),
        ({"safe_regex_match": {"regex": "v[0-9]"}}, ["v1"], True),
        ({"safe_regex_match": {"regex": "v[0-9]"}}, ["v12"], False),
        ({"present_match": True}, [""], True),
        ({"present_match": True}, None, False),
        ({"present_match": False}, None, True),
        ({"present_match": True, "invert_match": True}, None, True),
        ({}, ["x"], True),  # a name only: presence
        ({"string_match": {"exact": "MiXeD", "ignore_case": True}}, ["mixed"], True),
        ({"string_match": {"prefix": "Ab"}}, ["abc"], False),
        ({"string_match": {"suffix": "c"}}, ["abc"], True),
        ({"string_match": {"contains": "b"}}, ["abc"], True),
        ({"string_match": {"safe_regex": {"regex": "a.c"}}}, ["abc"], True),
        ({"range_match": {"start": "10", "end": "20"}}, ["10"], True),
        ({"range_match": {"start": "10", "end": "20"}}, ["20"], False),
        ({"range_match": {"start": "10", "end": "20"}}, ["x"], False),
    ],
)
def test_header_matchers(matcher, headers, ok):
    match = {"prefix": "/", "headers": [{"name": "X-Test", **matcher}]}
    assert _match(match, "/", **({"x_test": headers} if headers is not None else {})) is ok


def test_pseudo_headers_and_host_alias():
    import msgspec

    def check(name: str, value: str, method: str = "GET") -> bool:
        route = msgspec.convert(
            {"match": {"prefix": "/", "headers": [{"name": name, "exact_match": value}]}}, s.Route
        )
        return t.match_route(route, _req("/p?q", method=method))[0]

    assert check(":method", "POST", "POST") and not check(":method", "POST")
    assert check(":path", "/p?q") and check(":authority", "h") and check("host", "h")


@pytest.mark.parametrize(
    ("query", "params", "ok"),
    [
        ({"name": "q", "string_match": {"exact": "1"}}, "q=1", True),
        ({"name": "q", "string_match": {"exact": "2"}}, "q=1&q=2", False),  # the first value
        ({"name": "q", "string_match": {"exact": "a b"}}, "q=a%20b", False),  # not decoded
        ({"name": "q", "string_match": {"exact": "a%20b"}}, "q=a%20b", True),
        ({"name": "q", "string_match": {"exact": ""}}, "q", True),
        ({"name": "q", "present_match": True}, "q", True),
        ({"name": "q", "present_match": True}, "x=1", False),
        ({"name": "q", "present_match": False}, "x=1", True),
        ({"name": "q", "string_match": {"exact": "1"}}, "", False),
    ],
)
def test_query_parameter_matchers(query, params, ok):
    assert _match({"prefix": "/", "query_parameters": [query]}, "/?" + params) is ok


def test_first_matching_route_wins_and_no_route_is_404(pdebug, tmp_path):
    routes = [
        {"name": "one", "match": {"prefix": "/a"}, "route": {"cluster": "a"}},
        {"name": "two", "match": {"prefix": "/"}, "route": {"cluster": "b"}},
    ]
    dump = _http_dump(tmp_path, routes)
    code, doc = _run(pdebug, dump, "http://127.0.0.1:8080/abc")
    assert code == 0 and _clusters(doc) == ["a"]
    assert [st["name"] for st in doc["steps"] if st["kind"] == "route"] == ["one"]
    dump = _http_dump(tmp_path, routes[:1])
    code, doc = _run(pdebug, dump, "http://127.0.0.1:8080/b")
    assert code == 1 and doc["verdict"]["kind"] == "no_route" and doc["verdict"]["status"] == 404


def test_normalize_path_and_merge_slashes(pdebug, tmp_path):
    assert t.remove_dot_segments("/a/b/../c/./d") == "/a/c/d"
    assert t.remove_dot_segments("/../a/..") == "/"
    rc = {
        "name": "rc",
        "virtual_hosts": [
            _vh("vh", ["*"], [{"match": {"path": "/a/c"}, "route": {"cluster": "a"}}])
        ],
    }
    clusters = [_cluster("a", ("1.1.1.1:1", None))]
    plain = _dump(
        tmp_path, [_listener("l", "127.0.0.1", 80, [{"filters": [_hcm(rc)]}])], clusters=clusters
    )
    assert _run(pdebug, plain, "http://127.0.0.1/a/b/..//c")[0] == 1
    norm = _hcm(rc, normalize_path=True, merge_slashes=True)
    dump = _dump(
        tmp_path, [_listener("l", "127.0.0.1", 80, [{"filters": [norm]}])], clusters=clusters
    )
    assert _run(pdebug, dump, "http://127.0.0.1/a/b/..//c")[0] == 0


# --- actions ----------------------------------------------------------------------------


def test_direct_response_and_redirects(pdebug, tmp_path):
    routes = [
        {"match": {"prefix": "/dr"}, "direct_response": {"status": 418}},
        {
            "match": {"prefix": "/old/"},
            "redirect": {"prefix_rewrite": "/new/", "response_code": "PERMANENT_REDIRECT"},
        },
        {"match": {"prefix": "/host"}, "redirect": {"host_redirect": "h2", "port_redirect": 81}},
        {"match": {"prefix": "/tls"}, "redirect": {"https_redirect": True, "strip_query": True}},
    ]
    dump = _http_dump(tmp_path, routes)
    base = "http://127.0.0.1:8080"
    code, doc = _run(pdebug, dump, base + "/dr")
    assert (code, doc["verdict"]["kind"], doc["verdict"]["status"]) == (0, "direct_response", 418)
    expect = {
        "/old/x?q=1": (308, "http://127.0.0.1:8080/new/x?q=1"),
        "/host/p": (301, "http://h2:81/host/p"),
        "/tls?q=1": (301, "https://127.0.0.1:8080/tls"),
    }
    for path, (status, location) in expect.items():
        code, doc = _run(pdebug, dump, base + path)
        assert (code, doc["verdict"]["status"], doc["verdict"]["location"]) == (0, status, location)
    _, doc = _run(pdebug, dump, "http://127.0.0.1:8080/tls", "-H", "Host:h:80")
    assert doc["verdict"]["location"] == "https://h/tls"


def test_cluster_outcomes(pdebug, tmp_path):
    routes = [
        {"match": {"prefix": "/missing"}, "route": {"cluster": "nope"}},
        {"match": {"prefix": "/warming"}, "route": {"cluster": "warm"}},
        {"match": {"prefix": "/panic"}, "route": {"cluster": "sick"}},
        {"match": {"prefix": "/half"}, "route": {"cluster": "half"}},
        {"match": {"prefix": "/eds"}, "route": {"cluster": "eds"}},
        {
            "match": {"prefix": "/split"},
            "route": {
                "weighted_clusters": {
                    "clusters": [{"name": "half", "weight": 1}, {"name": "nope", "weight": 3}]
                }
            },
        },
        {"match": {"prefix": "/hdr"}, "route": {"cluster_header": "x-c"}},
    ]
    rc = {"name": "rc", "virtual_hosts": [_vh("vh", ["*"], routes)]}
    lst = _listener("l", "127.0.0.1", 80, [{"filters": [_hcm(rds="rc")]}])
    clusters = [
        _cluster("sick", ("1.1.1.1:1", "UNHEALTHY"), ("1.1.1.2:1", "DRAINING")),
        _cluster("half", ("1.1.1.1:1", "HEALTHY"), ("1.1.1.2:1", "UNHEALTHY")),
        _cluster("eds", kind="EDS"),
    ]
    warming = [_cluster("warm", ("1.1.1.1:1", None))]
    dump = _dump(tmp_path, [lst], [rc], clusters, warming=warming)
    expect = {
        "/missing": ("unknown_cluster", 503),
        "/warming": ("cluster_warming", 503),
        "/panic": ("no_healthy_endpoints", None),
        "/half": ("upstream", None),
        "/eds": ("incomplete", None),
        "/split": ("unknown_cluster", 503),
        "/hdr": ("unknown_cluster", 503),
    }
    for path, (kind, status) in expect.items():
        code, doc = _run(pdebug, dump, "http://127.0.0.1" + path)
        assert (doc["verdict"]["kind"], doc["verdict"]["status"]) == (kind, status), path
        assert code == {"upstream": 0, "incomplete": 6}.get(kind, 1)
    _, doc = _run(pdebug, dump, "http://127.0.0.1/split")
    assert "75% of requests" in doc["verdict"]["summary"]
    _, doc = _run(pdebug, dump, "http://127.0.0.1/eds")
    assert "include_eds" in doc["steps"][-1]["reason"]
    eds = [
        {
            "cluster_name": "eds",
            "endpoints": [
                {
                    "lb_endpoints": [
                        {"endpoint": {"address": _sock("10.0.0.1", 80)}, "health_status": "HEALTHY"}
                    ]
                }
            ],
        }
    ]
    dump = _dump(tmp_path, [lst], [rc], clusters, eds=eds)
    code, doc = _run(pdebug, dump, "http://127.0.0.1/eds")
    assert code == 0 and doc["verdict"]["clusters"][0]["addresses"][0]["address"] == "10.0.0.1:80"
    code, doc = _run(pdebug, dump, "http://127.0.0.1/hdr", "-H", "x-c:half")
    assert code == 0 and _clusters(doc) == ["half"]


def test_missing_rds_is_404(pdebug, tmp_path):
    lst = _listener("l", "127.0.0.1", 80, [{"filters": [_hcm(rds="gone")]}])
    code, doc = _run(pdebug, _dump(tmp_path, [lst]), "http://127.0.0.1/")
    assert code == 1 and doc["verdict"]["status"] == 404
    assert "not in the dump" in doc["verdict"]["summary"]


def test_json_steps_have_the_documented_keys(pdebug):
    _, doc = _run(pdebug, SIDECAR, "http://reviews:9080/", "-o", "wide")
    assert set(doc) == {"request", "steps", "verdict", "notes"}
    for st in doc["steps"]:
        assert {"kind", "name", "matched", "reason"} <= set(st)
        assert isinstance(st["matched"], bool)
    assert {"ok", "kind", "summary", "status", "location", "clusters"} <= set(doc["verdict"])


ISTIOCTL_DUMPS = [
    "proxy-config-all/config_dump.json",
    "extra-inputs/describe/http_config.json",
    "proxy-status-diff/current/configdump.json",
    "proxy-status-diff/historical-2020/pilotconfigdump2020.json",
    "proxy-status-diff/historical-2020/envoyconfigdump2020.json",
]


@pytest.mark.parametrize("dump", ISTIOCTL_DUMPS)
def test_istioctl_dumps_trace_without_errors(pdebug, dump):
    for url in ("http://reviews:9080/", "https://example.com/", "tcp://10.0.0.1:3306"):
        result = pdebug("trace", ISTIOCTL / dump, url)
        assert result.code in (0, 1, 6), result.err


# --- issue 11, item 5: unknown is not failure ---------------------------------------------


def _without(path: Path, message: str) -> Path:
    doc = json.loads(path.read_text())
    doc["configs"] = [c for c in doc["configs"] if not c["@type"].endswith(message)]
    path.write_text(json.dumps(doc))
    return path


def test_missing_sections_give_unknown_with_what_to_capture(pdebug, tmp_path):
    """No routes section, no clusters section, no EDS: UNKNOWN (exit 6), never a 404 or FAIL."""
    lst = _listener("l", "127.0.0.1", 80, [{"filters": [_hcm(rds="rc")]}])
    route = {"match": {"prefix": "/"}, "route": {"cluster": "eds"}}
    rc = {"name": "rc", "virtual_hosts": [_vh("vh", ["*"], [route])]}
    clusters = [_cluster("eds", kind="EDS")]
    cases = {
        "RoutesConfigDump": "the dump has no routes section",
        "ClustersConfigDump": "the dump has no clusters section",
    }
    for section, said in cases.items():
        dump = _without(_dump(tmp_path, [lst], [rc], clusters), section)
        code, doc = _run(pdebug, dump, "http://127.0.0.1/")
        verdict = doc["verdict"]
        assert (code, verdict["outcome"], verdict["kind"]) == (6, "UNKNOWN", "incomplete"), said
        assert verdict["status"] is None and not verdict["ok"]
        assert "config_dump" in verdict["summary"], verdict["summary"]
        assert said in json.dumps(doc["steps"]), said
    code, doc = _run(pdebug, _dump(tmp_path, [lst], [rc], clusters), "http://127.0.0.1/")
    assert (code, doc["verdict"]["outcome"]) == (6, "UNKNOWN")
    assert "include_eds" in doc["verdict"]["summary"]
    table = pdebug("trace", _dump(tmp_path, [lst], [rc], clusters), "http://127.0.0.1/")
    assert table.code == ExitCode.UNKNOWN
    assert "VERDICT: UNKNOWN, pdebug cannot tell whether cluster eds can serve" in table.out


def test_a_definite_failure_outranks_an_unknown_share(pdebug, tmp_path):
    routes = [
        {
            "match": {"prefix": "/"},
            "route": {
                "weighted_clusters": {
                    "clusters": [{"name": "eds", "weight": 1}, {"name": "gone", "weight": 1}]
                }
            },
        }
    ]
    rc = {"name": "rc", "virtual_hosts": [_vh("vh", ["*"], routes)]}
    lst = _listener("l", "127.0.0.1", 80, [{"filters": [_hcm(rds="rc")]}])
    dump = _dump(tmp_path, [lst], [rc], [_cluster("eds", kind="EDS")])
    code, doc = _run(pdebug, dump, "http://127.0.0.1/")
    assert (code, doc["verdict"]["outcome"], doc["verdict"]["kind"]) == (
        1,
        "FAIL",
        "unknown_cluster",
    )


def test_trace_is_imported_only_by_what_needs_it():
    import subprocess
    import sys

    code = (
        "import sys; from pdebug.cli import main; "
        f"rc = main(['clusters', {str(SIDECAR)!r}]); "
        "print('TRACE', sorted(m for m in sys.modules if m.startswith('pdebug.trace'))); "
        "from pdebug.trace import parse_request; "
        "print('REQUEST', 'pdebug.trace.tracer' in sys.modules); sys.exit(rc)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "TRACE []" in proc.stdout
    assert "REQUEST False" in proc.stdout
