"""review13: a second read of the twelfth session's merges (trace12, leftovers10, snapshot8).

1. A host name on a transparent proxy's listener that picks chains by destination IP:
   the lead's fix (a chain names a host only when it has every label of it) left
   Consul's chains (``frontend.default.dc1.internal.ID.consul``) naming none of the
   Kubernetes names users trace (``frontend.default.svc.cluster.local``) nor Consul's
   own DNS names, so trace took the catch-all (original-destination) and said OK for a
   connection Envoy gives frontend's chain. The labels of a DNS domain are left out.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests import harness as eh

CONSUL = eh.FIXTURES / "corpus" / "consul-k8s" / "test_config_dump.json"
FRONTEND = "frontend.default.dc1.internal.bc3815c2-1a0f-f3ff-a2e9-20d791f08d00.consul"
CLIENT = "client.default.dc1.internal.bc3815c2-1a0f-f3ff-a2e9-20d791f08d00.consul"


@pytest.mark.parametrize(
    ("host", "cluster"),
    [
        ("frontend", FRONTEND),
        ("frontend.default", FRONTEND),
        ("frontend.default.svc", FRONTEND),
        ("frontend.default.svc.cluster.local", FRONTEND),
        ("frontend.default.svc.cluster.local.", FRONTEND),
        ("client.default.svc.cluster.local", CLIENT),
        ("frontend.service.consul", FRONTEND),
        ("v1.frontend.service.dc1.consul", FRONTEND),
        ("frontend.virtual.consul", FRONTEND),
        ("frontend.virtual.default.ns.consul", FRONTEND),
        # another namespace's frontend resolves elsewhere: the catch-all, said so
        ("frontend.other.svc.cluster.local", "original-destination"),
        ("frontend.virtual.other.ns.consul", "original-destination"),
        ("frontend.other", "original-destination"),
    ],
)
def test_consul_chain_named_by_kubernetes_and_consul_names(pdebug, host: str, cluster: str) -> None:
    """consul-k8s' outbound listener (a chain per upstream by its ClusterIP and virtual
    IP, beside original-destination's catch-all): the chain of the service the name
    resolves to, as Envoy picks it by the IP. Failed before: the svc.cluster.local and
    .consul names were taken as naming no chain."""
    r = pdebug("trace", CONSUL, f"tcp://{host}:8080", "--direction", "outbound", "-o", "json")
    doc = json.loads(r.out)
    clusters = [s["name"] for s in doc["steps"] if s["kind"] == "cluster" and s["matched"]]
    chains = [s for s in doc["steps"] if s["kind"] == "filter_chain" and s["matched"]]
    if cluster == "original-destination":
        assert doc["verdict"]["outcome"] == "OK", doc["verdict"]
        assert "is a name: taken as none of the IPs other chains match" in chains[0]["reason"]
        assert clusters == [] or clusters[-1] == cluster, clusters
    else:
        assert clusters and clusters[-1] == cluster, (clusters, doc["verdict"])
        assert "taken as" in " ".join(doc.get("notes", [])) + " ".join(
            s["reason"] for s in doc["steps"]
        )


@pytest.mark.parametrize(
    ("host", "labels"),
    [
        ("mongo", {"mongo"}),
        ("mongo.other", {"mongo", "other"}),
        ("Mongo.Default.SVC.cluster.local.", {"mongo", "default"}),
        ("mongo.default.svc.corp.example", {"mongo", "default"}),
        ("svc.default.svc.cluster.local", {"svc", "default"}),
        ("web.service.consul", {"web"}),
        ("canary.web.service.east.consul", {"web"}),
        ("web.virtual.team.ns.part.ap.consul", {"web", "team"}),
        ("web.service.example.com", {"web", "service", "example", "com"}),
        ("consul", {"consul"}),
    ],
)
def test_the_labels_a_chain_must_name(host: str, labels: set[str]) -> None:
    """A DNS domain's labels (Kubernetes' svc.CLUSTER-DOMAIN, Consul's kinds) are left
    out; any other name keeps every label (mongo.other is not mongo.default's)."""
    from pdebug.trace.listeners import _naming_labels

    assert _naming_labels(host) == labels


def test_istio_chain_of_another_namespace_is_not_taken() -> None:
    """Istio's shape (a chain per TCP service VIP named by its outbound cluster, beside
    a catch-all): mongo.default.svc.cluster.local is mongo's chain, mongo.other's not."""
    from pdebug.model import schema as s
    from pdebug.trace.listeners import guess_destination

    def chain(ip: str, cluster: str) -> dict[str, object]:
        return {
            "filter_chain_match": {"prefix_ranges": [{"address_prefix": ip, "prefix_len": 32}]},
            "filters": [
                {
                    "name": "envoy.filters.network.tcp_proxy",
                    "typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.filters.network."
                        "tcp_proxy.v3.TcpProxy",
                        "stat_prefix": cluster,
                        "cluster": cluster,
                    },
                }
            ],
        }

    doc = {
        "name": "0.0.0.0_27017",
        "filter_chains": [
            chain("10.0.0.5", "outbound|27017||mongo.default.svc.cluster.local"),
            chain("10.0.0.7", "outbound|27017||ratings.default.svc.cluster.local"),
            {"filters": []},
        ],
    }
    import msgspec

    lst = msgspec.json.decode(json.dumps(doc).encode(), type=s.Listener)
    assert str(guess_destination(lst, "mongo.default.svc.cluster.local")[0]) == "10.0.0.5"
    assert str(guess_destination(lst, "ratings")[0]) == "10.0.0.7"
    for other in ("mongo.other.svc.cluster.local", "mongo.other", "mongo.default.svc.other"):
        if other == "mongo.default.svc.other":  # a cluster domain of its own: still mongo's
            assert str(guess_destination(lst, other)[0]) == "10.0.0.5"
        else:
            assert guess_destination(lst, other)[0] is None, other


# -- 2. a UDP listener's protocol, however it is spelled -----------------------------------

HTTP3 = eh.FIXTURES / "corpus" / "envoy-gateway" / "xds-ir" / "http3.config_dump.json"
_UDP = '"protocol": "UDP"'


@pytest.mark.parametrize("seed", range(6))
def test_udp_listener_however_its_protocol_is_spelled(pdebug, tmp_path, seed: int) -> None:
    """Envoy Gateway's http3 dump (a QUIC listener beside the TCP one on 10443), its
    UDP protocol written by name in any case or by the enum's number (protojson reads
    each; a config written by hand may hold any): listeners -o wide, its note and trace
    say what they say of the dump as Envoy wrote it. The number made the QUIC listener
    skipped with a warning (its field was read as text only)."""
    import random

    rng = random.Random(seed)
    text = HTTP3.read_text()
    assert _UDP in text
    spelled = rng.choice(['"protocol": 1', '"protocol": "udp"', '"protocol": "Udp"'])
    if seed == 0:
        spelled = '"protocol": 1'
    mutant = tmp_path / "http3.json"
    mutant.write_text(text.replace(_UDP, spelled))
    for args in (["listeners", "-o", "wide"], ["listeners"], ["listeners", "-o", "json"]):
        want, got = pdebug(*args[:1], HTTP3, *args[1:]), pdebug(*args[:1], mutant, *args[1:])
        assert (got.code, got.out, got.err.replace(str(mutant), str(HTTP3))) == (
            want.code,
            want.out if args[-1] != "json" else got.out,
            want.err,
        ), (spelled, args)
    url = "https://foo.example.com:10443/"
    want, got = pdebug("trace", HTTP3, url), pdebug("trace", mutant, url)
    assert (got.code, got.out) == (want.code, want.out), spelled
    assert "on UDP port 10443 too" in got.out


# -- 3. the envoy headers step on hostile connection managers and routes (seeded) --------

SIDECAR = eh.FIXTURES / "real" / "sidecar" / "config_dump.json"
HCM_TYPE = "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
_ODD: list[object] = [
    None, True, False, 0, 1, -1, -(2**31), 2**70, "", "15s", "x\x1b[31m", "\x07", [], {}, [1],
    {"seconds": "x"}, {"per_try_timeout": "\x1b]0;t\x07"}, {"uri": True, "dns": "yes"},
    "APPEND_FORWARD", "SANITIZE_SET", 2, 3, 99, {"hedge_on_per_try_timeout": True},
    {"perTryTimeout": [1]}, "1.5s", {"seconds": 2**80}, "1" * 300, {"cidr_ranges": 5},
]  # fmt: skip
_HCM_KEYS = (
    "via", "append_x_forwarded_port", "set_current_client_cert_details",
    "forward_client_cert_details", "use_remote_address", "xff_num_trusted_hops",
    "generate_request_id", "preserve_external_request_id", "internal_address_config",
    "skip_xff_append",
)  # fmt: skip
_ROUTE_KEYS = ("timeout", "retry_policy", "hedge_policy", "max_stream_duration", "max_grpc_timeout")
_VHOST_KEYS = ("retry_policy", "hedge_policy", "include_request_attempt_count")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def _every_dict(value: object) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            found.append(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


@pytest.mark.parametrize("seed", range(40))
def test_envoy_headers_step_on_hostile_fields_seeded(pdebug, tmp_path, seed: int) -> None:
    """The Istio sidecar's dump (fixtures/real/sidecar) with odd values in the fields the
    envoy headers step reads (the connection managers', the routes' and virtual hosts'),
    traced outbound and inbound: exit 0, 1 or 6 with the step, or 4 with one line, never
    a traceback nor a control character. xff_num_trusted_hops -1 (a uint32 Envoy
    refuses) was an internal error (IndexError)."""
    import random

    rng = random.Random(seed)
    doc = json.loads(SIDECAR.read_text())
    dicts = _every_dict(doc)
    hcms = [d for d in dicts if str(d.get("@type", "")).endswith(HCM_TYPE)]
    vhosts = [d for d in dicts if "domains" in d and "routes" in d]
    actions = [d["route"] for d in dicts if isinstance(d.get("route"), dict) and "match" in d]
    assert hcms and vhosts and actions
    for _ in range(rng.randint(1, 5)):
        pick = rng.random()
        if pick < 0.45:
            rng.choice(hcms)[rng.choice(_HCM_KEYS)] = rng.choice(_ODD)
        elif pick < 0.8:
            rng.choice(actions)[rng.choice(_ROUTE_KEYS)] = rng.choice(_ODD)
        else:
            rng.choice(vhosts)[rng.choice(_VHOST_KEYS)] = rng.choice(_ODD)
    if seed % 8 == 0:  # a uint32 Envoy refuses, where the client's x-forwarded-for is read
        for hcm in hcms:
            hcm.update(xff_num_trusted_hops=-1, use_remote_address=True)
    dump = tmp_path / "dump.json"
    dump.write_text(json.dumps(doc))
    headers: list[str] = []
    for name in ("x-forwarded-for", "x-envoy-upstream-rq-timeout-ms", "via", "x-request-id"):
        if rng.random() < 0.4 or (seed % 8 == 0 and name == "x-forwarded-for"):
            headers += ["-H", f"{name}:{rng.choice(['8.8.8.8', '500', 'a', '10.0.0.1,1.2.3.4'])}"]
    for args in (
        ["http://reviews.default:9080/", *headers],
        ["http://10.0.0.9:9080/", "--direction", "inbound", "--source-principal",
         "spiffe://cluster.local/ns/default/sa/x", "--source-ip", "10.0.0.1", *headers],
    ):  # fmt: skip
        if rng.random() < 0.3:
            args += ["-o", "json"]
        r = pdebug("trace", dump, *args)
        said = r.out + r.err
        assert r.code in (0, 1, 4, 6), (seed, args, r.err[-500:])
        assert "Traceback" not in said and not _CONTROL.search(said), (seed, said[-500:])
        if r.code == 4:
            assert len(r.err.strip().splitlines()) <= 2, r.err  # the error and its hint


# -- 4. RE2 patterns as Envoy reads them (routes, header matchers, CEL's matches) ---------

#: route name -> (how it matches, the header or None for the path)
_RE2_ROUTES: list[tuple[str, str, str | None]] = [
    ("digit", "/v[[:digit:]]+", None),
    ("alpha", "/n/[[:alpha:]]+", None),
    ("alnum-dash", "/k/[[:alnum:]-]+", None),
    ("bracket", "/b/[]a]+", None),
    ("hex", "[[:xdigit:]]+", "x-n"),
    ("upper", "[^[:upper:]]+", "x-u"),
    ("digits", "\\d+", "x-d"),
    ("word", "\\w+", "x-w"),
    ("space", "a\\sb", "x-s"),
]
#: requests: (path, headers)
_RE2_SENT: list[tuple[str, list[tuple[str, str]]]] = [
    ("/v12", []), ("/vab", []), ("/v:", []), ("/n/abc", []), ("/n/a1", []), ("/n/:", []),
    ("/k/a-1", []), ("/k/a_1", []), ("/b/a]", []), ("/b/b", []),
    ("/", [("x-n", "beef")]), ("/", [("x-n", "xyz")]), ("/", [("x-n", "dig")]),
    ("/", [("x-u", "abc")]), ("/", [("x-u", "aBc")]), ("/", [("x-u", ":")]),
    ("/", [("x-d", "123")]), ("/", [("x-d", "١٢٣")]), ("/", [("x-w", "abc")]),
    ("/", [("x-w", "é")]), ("/", [("x-s", "a b")]),
]  # fmt: skip


@pytest.fixture(scope="module")
def re2_routes(tmp_path_factory: pytest.TempPathFactory) -> Any:
    if not eh.envoy_available():
        pytest.skip("envoy not installed")
    from pdebug.proxy import Fetch, load_proxy
    from pdebug.sources.base import LiveOptions
    from pdebug.sources.spec import SourceWords
    from tests.test_trace_left import _answer, _listener

    routes: list[dict[str, Any]] = []
    for name, pattern, header in _RE2_ROUTES:
        regex = {"safe_regex": {"regex": pattern}}
        if header is None:
            match: dict[str, Any] = {"safe_regex": {"regex": pattern}}
        else:
            match = {"prefix": "/", "headers": [{"name": header, "string_match": regex}]}
        routes.append({"name": name, "match": match, "direct_response": _answer(name)})
    routes.append({"name": "none", "match": {"prefix": "/"}, "direct_response": _answer("none")})
    port = eh.free_port()
    boot = {
        "node": {"id": "review13", "cluster": "trace"},
        "static_resources": {"listeners": [_listener("re2", port, routes)]},
    }
    with eh.Envoy(boot) as envoy:
        dump = tmp_path_factory.mktemp("re2") / "dump.json"
        dump.write_bytes(envoy.get("/config_dump"))
        proxy = load_proxy(SourceWords(str(dump), None, None, None), LiveOptions(), Fetch())
        yield port, proxy


@pytest.mark.envoy
def test_re2_patterns_route_as_envoy_routes(re2_routes) -> None:
    """Routes matching the path and headers by RE2 patterns Python's re reads
    otherwise: POSIX classes inside brackets, ASCII \\d, \\w and \\s. The route trace
    takes is the one Envoy 1.40 answered from. Failed before: [[:digit:]] never matched,
    and \\d matched Arabic digits Envoy's RE2 does not."""
    from pdebug import trace as t
    from tests.test_trace_left import _send

    port, proxy = re2_routes
    answered = set()
    for path, headers in _RE2_SENT:
        status, body = _send(port, headers, path)
        assert status == 200, body
        request = t.parse_request(
            f"http://127.0.0.1:{port}{path}", "GET", [f"{k}:{v}" for k, v in headers]
        )
        trace = t.trace(proxy, request)
        routed = [s.name for s in trace.steps if s.kind == "route" and s.matched]
        assert routed == [body], (path, headers, [(s.name, s.reason) for s in trace.steps])
        answered.add(body)
    assert answered == {name for name, _, _ in _RE2_ROUTES} | {"none"}  # each way taken


@pytest.mark.parametrize(
    ("pattern", "python"),
    [
        ("[[:digit:]]+", "[0-9]+"),
        ("[^[:space:][:punct:]]", "[^\\t\\n\\v\\f\\r !-/:-@\\[-`{-~]"),
        ("[]a[:alpha:]]", "[]aA-Za-z]"),
        ("\\[[:alpha:]]", "\\[[:alpha:]]"),  # \[ is a literal: no class
        ("/api/v[0-9]+", "/api/v[0-9]+"),
        ("[[:^alpha:]]", None),  # negated: not expressible inside a Python class
        ("[[:nosuch:]]", None),
        ("a{,2}", None),  # a literal to RE2
        ("a\\{,2}", "a\\{,2}"),
        ("(?x)a b", None),
        ("(?i)abc", "(?i)abc"),
        ("(a)\\1", None),
        ("a(?=b)", None),
        ("a++", None),
    ],
)
def test_re2_patterns_as_python_reads_them(pattern: str, python: str | None) -> None:
    """What is translated, what is kept and what pdebug refuses to guess."""
    from pdebug.trace.re2 import compile_re2, python_pattern

    assert python_pattern(pattern) == python
    if python is None:
        assert compile_re2(pattern) is None


def test_cel_matches_reads_posix_classes() -> None:
    """CEL's matches with a POSIX class (RE2): true where RE2 matches, not Python's
    nested-set reading (which never matched digits, and warned on stderr)."""
    import warnings

    from pdebug.trace.cel import _matches

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _matches("/v12", "^/v[[:digit:]]+$") is True
        assert _matches("/vab", "^/v[[:digit:]]+$") is False
        assert _matches("١٢", "^\\d+$") is False


def test_re2_reading_of_hostile_patterns_seeded() -> None:
    """5,000 seeded patterns of brackets, colons, braces and escapes (POSIX classes
    spliced in): a compiled pattern or None, never an exception nor a warning."""
    import random
    import warnings

    from pdebug.trace.re2 import compile_re2

    rng = random.Random(13)
    alphabet = "[]:^\\{},az09()?*+|.-"
    compiled = 0
    for _ in range(5000):
        p = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 16)))
        if rng.random() < 0.3:
            name = rng.choice(["digit", "alpha", "^word", "x"])
            p = p[:3] + f"[[:{name}:]" + p[3:]
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            compiled += compile_re2(p) is not None
    assert 500 < compiled < 5000, compiled
