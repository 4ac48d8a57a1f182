"""trace13: trace reads what other people wrap, and what trace12 and leftovers10 left.

An HTTP filter written in a ``TypedStruct`` (as Istio's own EnvoyFilters write filters)
is the filter its ``type_url`` names: trace evaluates a wrapped RBAC or fault and notes a
wrapped ext_authz, as Envoy 1.40 runs them. Each test failed before its fix.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests import harness
from tests.harness import FIXTURES
from tests.harness import envoy as eh
from tests.test_leftovers10 import authz_variants  # noqa: F401  (a fixture, reused)
from tests.test_sweep29 import ROUTER, _status

needs_envoy = pytest.mark.skipif(not eh.envoy_available(), reason="envoy not installed")


def _ports(dump: Path) -> dict[str, int]:
    """Each static listener's name -> its port, read from the dump."""
    doc = json.loads(dump.read_text())
    out: dict[str, int] = {}
    for config in doc["configs"]:
        for entry in config.get("static_listeners", []):
            lst = entry["listener"]
            out[lst["name"]] = int(lst["address"]["socket_address"]["port_value"])
    return out


def _trace(pdebug: Any, dump: Path, port: int, *more: str) -> dict[str, Any]:
    got = pdebug("trace", dump, f"http://127.0.0.1:{port}/", "-o", "json", *more)
    assert got.code in (0, 1, 6), got.err
    return json.loads(got.out)  # type: ignore[no-any-return]


# ------------------------------------------------------------------ 1. TypedStruct filters


@needs_envoy
def test_wrapped_ext_authz_is_noted_where_envoy_calls_its_service(
    pdebug,
    authz_variants,  # noqa: F811
) -> None:
    """Envoy's ext_authz config, its service's cluster emptied, written ten ways
    (tests/test_leftovers10.py). Where Envoy 1.40 answers 503 (it called the service and
    could not reach it), trace says the filter was not evaluated and that Envoy answers
    by itself; where a route turns it off (Envoy: 200), it says nothing of it. trace
    said nothing of the filter in a udpa or xds TypedStruct."""
    dump, answers = authz_variants
    assert answers["typed_struct_udpa"] == answers["typed_struct_xds"] == 503  # the facts
    ports = _ports(dump)
    for variant, status in answers.items():
        plain = _trace(pdebug, dump, ports[variant])
        notes = [n for n in plain["notes"] if "was not evaluated" in n]
        assert bool(notes) == (status == 503), (variant, status, plain["notes"])
        for note in notes:
            assert note.startswith("envoy.ext_authz was not evaluated: its authorization "
                                   f"service (cluster authz-{variant})"), note  # fmt: skip


def _listener(name: str, wrapped: dict[str, Any], port: int) -> dict[str, Any]:
    """A listener answering 200 from its route, after the HTTP filter ``wrapped``."""
    return {
        "name": name,
        "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
        "filter_chains": [{"filters": [{
            "name": "envoy.filters.network.http_connection_manager",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.network."
                         "http_connection_manager.v3.HttpConnectionManager",
                "stat_prefix": name,
                "route_config": {"virtual_hosts": [{
                    "name": "all", "domains": ["*"],
                    "routes": [{"match": {"prefix": "/"}, "direct_response": {"status": 200}}],
                }]},
                "http_filters": [wrapped, copy.deepcopy(ROUTER)],
            },
        }]}],
    }  # fmt: skip


_RBAC = "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC"
_FAULT = "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault"
#: Each filter as written plain: a DENY of GET, an ALLOW of /admin only, a certain abort.
_FILTERS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "rbac_deny_get": ("envoy.filters.http.rbac", _RBAC, {"rules": {
        "action": "DENY",
        "policies": {"no-get": {
            "permissions": [{"header": {"name": ":method", "string_match": {"exact": "GET"}}}],
            "principals": [{"any": True}],
        }},
    }}),
    "rbac_allow_admin": ("envoy.filters.http.rbac", _RBAC, {"rules": {
        "action": "ALLOW",
        "policies": {"admin": {
            "permissions": [{"url_path": {"path": {"prefix": "/admin"}}}],
            "principals": [{"any": True}],
        }},
    }}),
    "fault_abort": ("envoy.filters.http.fault", _FAULT, {
        "abort": {"http_status": 418, "percentage": {"numerator": 100}},
    }),
}  # fmt: skip
_WRAPS = ("plain", "udpa.type.v1", "xds.type.v3")


@pytest.fixture(scope="module")
def wrapped_filters(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    """Envoy 1.40 running each filter plain and in either TypedStruct: its dump, and
    each listener's answer to ``GET /``."""
    if not eh.envoy_available():
        pytest.skip("envoy not installed")
    listeners = []
    for key, (name, url, config) in _FILTERS.items():
        for wrap in _WRAPS:
            if wrap == "plain":
                typed = {"@type": url, **copy.deepcopy(config)}
            else:
                typed = {
                    "@type": f"type.googleapis.com/{wrap}.TypedStruct",
                    "type_url": url,
                    "value": copy.deepcopy(config),
                }
            lst = _listener(f"{key}-{wrap}", {"name": name, "typed_config": typed}, eh.free_port())
            listeners.append(lst)
    boot = {"static_resources": {"listeners": listeners, "clusters": []}}
    dump = tmp_path_factory.mktemp("wrapped") / "dump.json"
    answers: dict[str, int] = {}
    with eh.Envoy(boot, wait_live=False, fmt="json") as envoy:
        dump.write_bytes(envoy.get("/config_dump?include_eds"))
        for lst in listeners:
            answers[lst["name"]] = _status(lst["address"]["socket_address"]["port_value"], {})
    return dump, answers


@needs_envoy
def test_wrapped_rbac_and_fault_are_evaluated_as_envoy_runs_them(pdebug, wrapped_filters) -> None:
    """An RBAC DENY of GET, an RBAC ALLOW of /admin alone, a fault aborting every
    request with 418: each plain, in a udpa.type.v1 and in an xds.type.v3 TypedStruct.
    Envoy 1.40 answers the same to each of the three; trace did too for the plain one
    only (it passed the wrapped ones by, as filters it does not evaluate, and said 200)."""
    dump, answers = wrapped_filters
    for key in _FILTERS:
        assert {answers[f"{key}-{w}"] for w in _WRAPS} == {418 if "fault" in key else 403}
    ports = _ports(dump)
    for name, status in answers.items():
        got = _trace(pdebug, dump, ports[name])
        verdict = got["verdict"]
        assert verdict["status"] == status, (name, verdict)
        filters = [s for s in got["steps"] if s["kind"] == "http_filter"]
        assert len(filters) == 1, (name, got["steps"])


# ------------------------------------------------------- 2. PD202 of unattributed EDS clusters

CONSUL = FIXTURES / "corpus/consul-k8s/test_config_dump.json"


def _not_checked(out: str) -> list[str]:
    return [ln for ln in out.splitlines() if ln.startswith("Not checked")]


def _consul(tmp_path: Path, unhealthy: int, drop: str = "") -> Path:
    """consul-k8s's dump with the first ``unhealthy`` endpoints of its first nameless
    assignment (three, all HEALTHY as published) marked UNHEALTHY; without the config
    whose ``@type`` ends in ``drop``, if given."""
    doc = json.loads(CONSUL.read_text())
    (eds,) = [c for c in doc["configs"] if c["@type"].endswith("EndpointsConfigDump")]
    first = eds["dynamic_endpoint_configs"][0]["endpoint_config"]
    assert "cluster_name" not in first  # the fact this test is about
    lbs = first["endpoints"][0]["lb_endpoints"]
    assert [lb["health_status"] for lb in lbs] == ["HEALTHY"] * 3
    for lb in lbs[:unhealthy]:
        lb["health_status"] = "UNHEALTHY"
    if drop:
        doc["configs"] = [c for c in doc["configs"] if not c["@type"].endswith(drop)]
    out = tmp_path / f"consul-{unhealthy}{drop}.json"
    out.write_text(json.dumps(doc))
    return out


def test_pd202_joins_pd203s_line_when_a_nameless_assignment_is_unhealthy(pdebug, tmp_path) -> None:
    """consul-k8s's dump: two EDS clusters, two assignments naming no cluster. As
    published, each assignment has a HEALTHY endpoint, so whichever is whose, no
    cluster lacks a healthy one: PD202 is settled and PD203's line stands alone. With
    every endpoint of one assignment UNHEALTHY, some cluster has none Envoy sends to:
    PD202 said nothing (it reads only attributed assignments); now it joins PD203's
    line, which says so. One line for the two codes, never two for one cluster."""
    (alone,) = _not_checked(pdebug("check", CONSUL).out)
    assert alone.startswith("Not checked (PD203): cluster/client.")
    assert "no healthy endpoint" not in alone
    # one endpoint of three down: still a usable one there, PD202 settled
    assert _not_checked(pdebug("check", _consul(tmp_path, 1)).out) == [alone]
    got = pdebug("check", _consul(tmp_path, 3))
    (line,) = _not_checked(got.out)
    assert line.startswith("Not checked (PD202, PD203): cluster/client.")
    assert line.removeprefix("Not checked (PD202, PD203)").startswith(
        alone.removeprefix("Not checked (PD203)").split(": its endpoints are unknown")[0]
    )
    assert (
        "its endpoints are unknown; one of them has no healthy endpoint "
        "(3 endpoints: 3 UNHEALTHY per EDS)"
    ) in line
    assert "PD202" not in [ln.split()[0] for ln in got.out.splitlines() if ln[:2] == "PD"]
    plain = json.loads(pdebug("check", _consul(tmp_path, 3), "-o", "json").out)
    assert sorted(n["code"] for n in plain["not_checked"]) == ["PD202", "PD203"]
    # the proxy's live /clusters tells the assignments apart: nothing left unsaid
    live = CONSUL.parent / "test_clusters.json"
    assert not _not_checked(pdebug("check", _consul(tmp_path, 3), "--clusters-json", live).out)


def test_pd202_says_an_unhealthy_nameless_assignment_of_unused_clusters(pdebug, tmp_path) -> None:
    """The same dump without its listeners: nothing sends traffic to the two EDS
    clusters, so PD203 has no line; an assignment of theirs with no healthy endpoint
    is still some cluster's (PD202 judges every cluster), and PD202 says so alone."""
    dump = _consul(tmp_path, 3, drop="ListenersConfigDump")
    lines = [ln for ln in _not_checked(pdebug("check", dump).out) if "(PD" in ln]
    assert lines == [
        "Not checked (PD202): cluster/client.default.dc1.internal."
        "bc3815c2-1a0f-f3ff-a2e9-20d791f08d00.consul (and 1 more): no assignment of the "
        "dump's endpoints section names this EDS cluster (2 there name no cluster, and the "
        "dump does not tell whose they are); one of them has no healthy endpoint "
        "(3 endpoints: 3 UNHEALTHY per EDS) (--clusters-json FILE (the proxy's GET "
        "/clusters?format=json) tells them apart)."
    ]
    healthy = _consul(tmp_path, 0, drop="ListenersConfigDump")
    assert not [ln for ln in _not_checked(pdebug("check", healthy).out) if "(PD" in ln]


# ------------------------------------------- 3. a gRPC request's timeout (max_grpc_timeout)

_TRY = {"retry_on": "5xx", "num_retries": 1, "per_try_timeout": "1s"}
_SUPPRESS = {**ROUTER["typed_config"], "suppress_envoy_headers": True}
#: listener -> (route action fields, router config)
GRPC: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "none": ({}, {}),
    "cap-0": ({"max_grpc_timeout": "0s"}, {}),
    "cap-2s": ({"max_grpc_timeout": "2s"}, {}),
    "cap-2s-timeout-1s": ({"max_grpc_timeout": "2s", "timeout": "1s"}, {}),
    "cap-10s-per-try": ({"max_grpc_timeout": "10s", "retry_policy": _TRY}, {}),
    "cap-10s-hedge": (
        {"max_grpc_timeout": "10s", "retry_policy": _TRY,
         "hedge_policy": {"hedge_on_per_try_timeout": True}},
        {},
    ),
    "cap-0-offset": ({"max_grpc_timeout": "0s", "grpc_timeout_offset": "0.1s"}, {}),
    "cap-2s-offset": ({"max_grpc_timeout": "2s", "grpc_timeout_offset": "0.5s"}, {}),
    "cap-big": ({"max_grpc_timeout": "200000s"}, {}),
    "cap-2s-suppress": ({"max_grpc_timeout": "2s"}, _SUPPRESS),
    "stream-duration": (
        {"max_grpc_timeout": "2s", "max_stream_duration": {"max_stream_duration": "3s"}}, {}
    ),
}  # fmt: skip
#: grpc-timeout values a client may send (None: none); each spelling Envoy reads or not
GRPC_SENT = [None, "", "1S", "500m", "3000m", "2M", "1H", "+5S", "05S", "99999999m",
             "100000000m", "abc", "5", "5s", "-1S", "0m", "2147483648m"]  # fmt: skip
CONTENT_TYPES = ["application/grpc", "application/grpc+proto", "application/grpc-web",
                 "application/grpc;x", "text/plain"]  # fmt: skip


@dataclass
class GrpcSetup:
    ports: dict[str, int]
    proxy: Any
    #: (listener, content-type, grpc-timeout, other headers) -> the headers the upstream got
    got: dict[tuple[str, str, str | None, tuple[tuple[str, str], ...]], dict[str, str]]


def _cases() -> list[tuple[str, str, str | None, tuple[tuple[str, str], ...]]]:
    out = []
    for name in GRPC:
        for ct in CONTENT_TYPES:
            for value in GRPC_SENT if ct == "application/grpc" else [None, "1S"]:
                out.append((name, ct, value, ()))
        # the client's own timeout headers (loopback: internal, so Envoy keeps them)
        out.append(
            (name, "application/grpc", "3000m", (("x-envoy-upstream-rq-timeout-ms", "700"),))
        )
        out.append(
            (name, "application/grpc", None, (("x-envoy-upstream-rq-per-try-timeout-ms", "400"),))
        )  # noqa: E501
    return out


@pytest.fixture(scope="module")
def grpc_setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GrpcSetup]:
    """Envoy 1.40 running each route before an echo upstream, and what the upstream got
    for each content-type and grpc-timeout a client may send."""
    if not eh.envoy_available():
        pytest.skip("envoy not installed")
    from pdebug.proxy import Fetch, load_proxy
    from pdebug.sources.base import LiveOptions
    from pdebug.sources.spec import SourceWords
    from tests.test_trace_left import _listener as route_listener
    from tests.test_trace_left import _send
    from tests.test_trace_left2 import _Headers

    ports = {name: eh.free_port() for name in GRPC}
    listeners = []
    for name, (action, router) in GRPC.items():
        routes = [{"name": "r", "match": {"prefix": "/"}, "route": {"cluster": "echo", **action}}]
        listener = route_listener(name, ports[name], routes)
        if router:
            hcm = listener["filter_chains"][0]["filters"][0]["typed_config"]
            hcm["http_filters"] = [{"name": "envoy.filters.http.router", "typed_config": router}]
        listeners.append(listener)
    got: dict[Any, dict[str, str]] = {}
    with _Headers("echo") as upstream:
        boot = {
            "node": {"id": "trace13-grpc", "cluster": "trace"},
            "static_resources": {
                "listeners": listeners,
                "clusters": [harness.static_cluster("echo", upstream.port)],
            },
        }
        with eh.Envoy(boot) as envoy:
            dump = tmp_path_factory.mktemp("trace13") / "dump.json"
            dump.write_bytes(envoy.get("/config_dump"))
            for case in _cases():
                name, ct, value, more = case
                sent = [("content-type", ct), *more]
                if value is not None:
                    sent.append(("grpc-timeout", value))
                status, body = _send(ports[name], sent, "/p")
                assert status == 200, (case, body)
                pairs = json.loads(body)["headers"]
                got[case] = {k: v for k, v in pairs}
    proxy = load_proxy(SourceWords(str(dump), None, None, None), LiveOptions(), Fetch())
    yield GrpcSetup(ports, proxy, got)


def test_grpc_timeouts_are_envoys(grpc_setup: GrpcSetup) -> None:
    """x-envoy-expected-rq-timeout-ms and grpc-timeout as the upstream got them, for
    11 routes x 5 content-types x 17 grpc-timeout spellings (and the client's own
    timeout headers). With max_grpc_timeout, a gRPC request's timeout is its
    grpc-timeout (less grpc_timeout_offset), capped by max_grpc_timeout (0: no cap),
    the route's timeout ignored; Envoy writes the result into grpc-timeout too. trace
    said "unknown" of every gRPC request there, and nothing of grpc-timeout."""
    from pdebug import trace as t

    wrong = []
    decided = 0
    for case, received in grpc_setup.got.items():
        name, ct, value, more = case
        sent = [("content-type", ct), *more]
        if value is not None:
            sent.append(("grpc-timeout", value))
        request = t.parse_request(
            f"http://127.0.0.1:{grpc_setup.ports[name]}/p",
            "GET",
            [f"{k}:{v}" for k, v in sent],
            source_ip="127.0.0.1",
        )
        trace = t.trace(grpc_setup.proxy, request)
        steps = [s for s in trace.steps if (s.kind, s.name) == ("action", "envoy headers")]
        shown = steps[0].detail.get("headers", {}) if steps else {}
        unknown = steps[0].detail.get("unknown", {}) if steps else {}
        given = dict(sent)
        for header in ("x-envoy-expected-rq-timeout-ms", "grpc-timeout"):
            changed = received.get(header) != given.get(header)
            if header in unknown:
                # only where pdebug says it does not work it out: max_stream_duration
                if name != "stream-duration":
                    wrong.append((case, header, "unknown", unknown[header]))
                continue
            if changed and shown.get(header) != [received[header]]:
                wrong.append((case, header, received.get(header), shown.get(header)))
            elif not changed and header in shown:
                wrong.append((case, header, received.get(header), shown.get(header)))
            else:
                decided += 1
    assert not wrong, wrong[:10]
    assert decided > 300, decided


def test_grpc_timeout_step_as_printed(grpc_setup: GrpcSetup) -> None:
    """The step says where the value comes from."""
    from pdebug import trace as t

    def reason(name: str, *headers: str) -> str:
        request = t.parse_request(
            f"http://127.0.0.1:{grpc_setup.ports[name]}/p", "GET", list(headers)
        )
        (step,) = [s for s in t.trace(grpc_setup.proxy, request).steps if s.name == "envoy headers"]
        return step.reason

    said = reason("cap-2s-offset", "content-type:application/grpc", "grpc-timeout:1S")
    assert (
        "x-envoy-expected-rq-timeout-ms: '500' (the request's grpc-timeout 1S less "
        "grpc_timeout_offset); grpc-timeout: '500m' (the request's grpc-timeout 1S less "
        "grpc_timeout_offset)"
    ) in said
    said = reason("cap-2s", "content-type:application/grpc", "grpc-timeout:5s")
    assert "'2000' (max_grpc_timeout (grpc-timeout '5s', which Envoy does not read))" in said
    said = reason("cap-big", "content-type:application/grpc")
    assert "grpc-timeout: '200000S' (max_grpc_timeout (no grpc-timeout))" in said


def test_grpc_timeout_spellings_pdebug_does_not_decide_are_unknown() -> None:
    """A space inside the number (HTTP trims only the ends): not guessed."""
    from pdebug.trace.forwarded import grpc_timeout_ms, grpc_timeout_text

    assert grpc_timeout_ms(["5 S"])[0] is None
    assert grpc_timeout_ms(["1500u"]) == (2, "the request's grpc-timeout 1500u")
    assert grpc_timeout_ms(["1000001n"])[0] == 2
    assert grpc_timeout_text(99_999_999) == "99999999m"
    assert grpc_timeout_text(100_000_000) == "100000S"
    assert grpc_timeout_text(10**16) == "99999999H"


def test_hostile_grpc_timeouts_never_crash() -> None:
    """Seeded odd max_grpc_timeout, grpc_timeout_offset and grpc-timeout values: the
    step is built (an unreadable one said so), never a traceback; a digit that is not
    ASCII is no number to Envoy."""
    import random

    import msgspec

    from pdebug.model import schema as s
    from pdebug.trace.forwarded import RouteTimeouts, forwarded, grpc_timeout_ms
    from pdebug.trace.request import HttpRequest
    from tests.test_trace12 import _ODD

    assert grpc_timeout_ms(["９S"])[0] == 0
    rng = random.Random(20261207)
    odd_headers = ["", "1S", "９S", "5 S", "\x1b[31mS", "99999999999999999999S", "+-1S", "S"]
    built = 0
    for _ in range(400):
        act: dict[str, Any] = {"cluster": "c"}
        for key in ("max_grpc_timeout", "grpc_timeout_offset", "timeout", "retry_policy"):
            if rng.random() < 0.6:
                act[key] = rng.choice(_ODD)
        try:
            route = msgspec.json.decode(msgspec.json.encode(act), type=s.RouteAction)
        except msgspec.ValidationError:
            continue
        sent = [("content-type", rng.choice(CONTENT_TYPES))]
        if rng.random() < 0.8:
            sent.append(("grpc-timeout", rng.choice(odd_headers + GRPC_SENT[1:])))  # type: ignore[arg-type]
        view = HttpRequest("h", "/", "GET", "http", {k: [v] for k, v in sent})
        rt = RouteTimeouts(
            route.timeout, route.retry_policy, s.NULL, False, False,
            bool(len(route.max_grpc_timeout)), False,
            route.max_grpc_timeout, route.grpc_timeout_offset,
        )  # fmt: skip
        hcm = s.HttpConnectionManager()
        found = forwarded(
            sent,
            view,
            (),
            hcm,
            80,
            True,
            rt,
            rng.choice([{}, None, {"suppress_envoy_headers": True}]),
        )
        assert all(isinstance(v, str) for v in found.headers.values())
        assert isinstance(found.text(), str)
        built += 1
    assert built > 100, built


# ---------------------------------- 4. the tracer's context headers (x-b3-*, traceparent)

_ZIPKIN = {
    "name": "envoy.tracers.zipkin",
    "typed_config": {
        "@type": "type.googleapis.com/envoy.config.trace.v3.ZipkinConfig",
        "collector_cluster": "echo",
        "collector_endpoint": "/api/v2/spans",
        "collector_endpoint_version": "HTTP_JSON",
    },
}
_ZIPKIN_ISTIO = copy.deepcopy(_ZIPKIN)  # as Istio's bootstraps wrote it
_ZIPKIN_ISTIO["typed_config"].update(trace_id_128bit=True, shared_span_context=False)
_OTEL = {
    "name": "envoy.tracers.opentelemetry",
    "typed_config": {
        "@type": "type.googleapis.com/envoy.config.trace.v3.OpenTelemetryConfig",
        "grpc_service": {"envoy_grpc": {"cluster_name": "echo"}, "timeout": "1s"},
        "service_name": "trace13",
    },
}
#: listener -> the connection manager's tracing (None: none)
TRACING: dict[str, dict[str, Any] | None] = {
    "zipkin": {"provider": _ZIPKIN},
    "zipkin-istio": {"provider": _ZIPKIN_ISTIO},
    "zipkin-unsampled": {"provider": _ZIPKIN, "random_sampling": {"value": 0}},
    "otel": {"provider": _OTEL},
    "otel-unsampled": {"provider": _OTEL, "random_sampling": {"value": 0}},
    "bootstrap": {},  # no provider: the bootstrap's tracer (see the fixture)
    "none": None,
}
TRACE_SENT: list[list[tuple[str, str]]] = [
    [],
    [("x-b3-traceid", "80f198ee56343ba864fe8b2a57d3eff7"), ("x-b3-spanid", "e457b5a2e4d86bd1"),
     ("x-b3-sampled", "1")],
    [("b3", "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1")],
    [("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")],
    [("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
     ("tracestate", "k=v")],
    [("x-request-id", "abc")],
]  # fmt: skip


@dataclass
class TraceSetup:
    ports: dict[str, int]
    proxy: Any
    got: dict[tuple[str, int], dict[str, str]]


@pytest.fixture(scope="module")
def tracing_setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TraceSetup]:
    """Envoy 1.40 with each connection manager's tracing before an echo upstream (the
    bootstrap names a zipkin tracer, as Istio's did), and what the upstream got."""
    if not eh.envoy_available():
        pytest.skip("envoy not installed")
    from pdebug.proxy import Fetch, load_proxy
    from pdebug.sources.base import LiveOptions
    from pdebug.sources.spec import SourceWords
    from tests.test_trace_left import _listener as route_listener
    from tests.test_trace_left import _send
    from tests.test_trace_left2 import _Headers

    ports = {name: eh.free_port() for name in TRACING}
    listeners = []
    for name, tracing in TRACING.items():
        routes = [{"name": "r", "match": {"prefix": "/"}, "route": {"cluster": "echo"}}]
        listener = route_listener(name, ports[name], routes)
        if tracing is not None:
            listener["filter_chains"][0]["filters"][0]["typed_config"]["tracing"] = tracing
        listeners.append(listener)
    got: dict[tuple[str, int], dict[str, str]] = {}
    with _Headers("echo") as upstream:
        boot = {
            "node": {"id": "trace13-tracing", "cluster": "trace"},
            "tracing": {"http": copy.deepcopy(_ZIPKIN)},
            "static_resources": {
                "listeners": listeners,
                "clusters": [harness.static_cluster("echo", upstream.port)],
            },
        }
        with eh.Envoy(boot) as envoy:
            dump = tmp_path_factory.mktemp("trace13-tracing") / "dump.json"
            dump.write_bytes(envoy.get("/config_dump"))
            for name in TRACING:
                for i, sent in enumerate(TRACE_SENT):
                    status, body = _send(ports[name], sent, "/p")
                    assert status == 200, body
                    got[name, i] = {k: v for k, v in json.loads(body)["headers"]}
    proxy = load_proxy(SourceWords(str(dump), None, None, None), LiveOptions(), Fetch())
    yield TraceSetup(ports, proxy, got)


def test_tracer_headers_are_envoys(tracing_setup: TraceSetup) -> None:
    """Every header the upstream got that the client did not send (or got another
    value of) is in the envoy headers step, with its value or said unknown (a
    generated ID, the sampling flag); the step names none the upstream did not get.
    Zipkin (in the connection manager or, with no provider, the bootstrap's) and
    OpenTelemetry, sampled or not, with the client's b3, traceparent or none. trace
    named none of x-b3-*, traceparent or tracestate."""
    from pdebug import trace as t

    wrong = []
    for (name, i), received in tracing_setup.got.items():
        sent = TRACE_SENT[i]
        request = t.parse_request(
            f"http://127.0.0.1:{tracing_setup.ports[name]}/p",
            "GET",
            [f"{k}:{v}" for k, v in sent],
            source_ip="127.0.0.1",
        )
        trace = t.trace(tracing_setup.proxy, request)
        steps = [s for s in trace.steps if (s.kind, s.name) == ("action", "envoy headers")]
        shown = steps[0].detail.get("headers", {}) if steps else {}
        unknown = steps[0].detail.get("unknown", {}) if steps else {}
        given = dict(sent)
        added = {k for k, v in received.items() if k not in ("host", "content-length")
                 and given.get(k) != v}  # fmt: skip
        if added != set(shown) | set(unknown):
            wrong.append((name, sent, sorted(added), sorted(shown), sorted(unknown)))
        for key, values in shown.items():
            if [received.get(key)] != values:
                wrong.append((name, sent, key, received.get(key), values))
    assert not wrong, "\n".join(map(str, wrong))


def test_tracer_headers_as_printed(tracing_setup: TraceSetup) -> None:
    from pdebug import trace as t

    request = t.parse_request(f"http://127.0.0.1:{tracing_setup.ports['otel']}/p", "GET", [])
    (step,) = [s for s in t.trace(tracing_setup.proxy, request).steps if s.name == "envoy headers"]
    assert "tracestate: ''" in step.reason
    assert "traceparent: a trace ID and span ID Envoy generates (00-TRACE-SPAN-FLAGS)" in (
        step.reason
    )


def test_hostile_wrappers_and_tracers_never_crash() -> None:
    """Seeded odd TypedStruct wrappers and tracing configs: the wrapper is kept as it
    is (for its reader to refuse) or unwrapped; a tracer is named, printable, or None;
    never a traceback."""
    import random

    import msgspec

    from pdebug.model import schema as s
    from pdebug.model.listeners import filter_config, unwrapped_config
    from pdebug.trace.filters import filter_kind
    from pdebug.trace.tracecontext import trace_headers, tracer_kind
    from tests.test_trace12 import _ODD

    ts = "type.googleapis.com/udpa.type.v1.TypedStruct"
    odd = [*_ODD, "\x1b[31mZipkin", _RBAC, {"@type": "x\x07"}, "[" * 200 + "]" * 200]
    rng = random.Random(1207)
    for _ in range(400):
        wrapper: dict[str, Any] = {"@type": ts}
        for key in ("type_url", "typeUrl", "value"):
            if rng.random() < 0.6:
                wrapper[key] = rng.choice(odd)
        raw = msgspec.json.encode(wrapper)
        if rng.random() < 0.2:
            raw = raw[: rng.randrange(len(raw))]  # cut
        f = s.TypedExtension(name=rng.choice(["", "x"]), typed_config=msgspec.Raw(raw))
        got = unwrapped_config(f)
        kept = bytes(filter_config(f))
        assert bytes(got) == kept or bytes(got).startswith(b'{"@type":'), (raw, bytes(got))
        assert isinstance(filter_kind(f), str)
        tracing = {"provider": {"name": rng.choice(odd), "typed_config": rng.choice(odd)}}
        if rng.random() < 0.3:
            tracing = rng.choice(odd)
        hcm = s.HttpConnectionManager(tracing=msgspec.Raw(msgspec.json.encode(tracing)))
        kind = tracer_kind(hcm, rng.choice([None, "", "\x1b]0;x\x07zipkin unshared"]))
        assert kind is None or (isinstance(kind, str) and "\x1b" not in kind), kind
        sent = {"b3": ["x"]} if rng.random() < 0.3 else {}
        assert all(isinstance(v, str) for v in trace_headers(kind, sent).values())
