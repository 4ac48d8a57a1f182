"""``pdebug trace --source-principal``: a mesh peer's mTLS into an Istio sidecar's inbound.

An inbound ``http://``/``tcp://`` request with ``--source-principal`` arrives the way an
Istio sidecar sends it: TLS with Istio's ALPN and a client certificate, so the mTLS
filter chain takes it and RBAC rules on principals apply. Without the principal a
plaintext request keeps today's path (PERMISSIVE: the plaintext chain; STRICT: no chain).
The last test checks it against a real Envoy 1.40 with an Istio-shaped ``virtualInbound``
(a TLS chain requiring a client certificate, matched on Istio's ALPN; a plaintext chain
on the PERMISSIVE port only): Envoy's answers and RBAC counters agree with trace's.
"""

from __future__ import annotations

import json
import socket
import ssl
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from pdebug import trace as t
from pdebug.errors import ExitCode
from tests import harness as eh
from tests.harness import FIXTURES

SIDECAR = FIXTURES / "real" / "sidecar" / "config_dump.json"
HCM_TYPE = (
    "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3"
    ".HttpConnectionManager"
)
TCP_TYPE = "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy"
RBAC_TYPE = "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC"
TLS_TYPE = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext"
ROUTER = {
    "name": "envoy.filters.http.router",
    "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"},
}
LISTENER_FILTERS = [
    {
        "name": "envoy.filters.listener.tls_inspector",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3"
            ".TlsInspector"
        },
    },
    {
        "name": "envoy.filters.listener.http_inspector",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.listener.http_inspector.v3"
            ".HttpInspector"
        },
    },
]
#: The ALPN istiod matches on an inbound HTTP port's mTLS chain (as in the sidecar fixture).
ISTIO_HTTP = ["istio-http/1.0", "istio-http/1.1", "istio-h2"]
OTHER_ID = "spiffe://cluster.local/ns/other/sa/intruder"


def _run(pdebug: Any, *args: Any) -> tuple[int, dict[str, Any]]:
    res = pdebug("trace", *args, "-o", "json")
    return res.code, json.loads(res.out)


def _chosen(doc: dict[str, Any]) -> list[str]:
    return [st["name"] for st in doc["steps"] if st["kind"] == "filter_chain" and st["matched"]]


def _connection(doc: dict[str, Any]) -> dict[str, Any]:
    return next(st for st in doc["steps"] if st["kind"] == "connection")


# --- the real sidecar fixture ------------------------------------------------------------


def test_the_sidecar_fixture_inbound_mesh_client_takes_the_mtls_chain(pdebug):
    url = "http://10.244.0.10:9080/"
    code, doc = _run(pdebug, SIDECAR, url, "--direction", "inbound")
    assert code == 0 and _chosen(doc) == ["0.0.0.0_9080 (#2)"]  # plaintext, as before
    assert _connection(doc)["transport_protocol"] == "raw_buffer"
    code, doc = _run(
        pdebug, SIDECAR, url, "--direction", "inbound", "--source-principal", eh.SPIFFE_ID
    )
    assert code == 0 and _chosen(doc) == ["0.0.0.0_9080 (#1)"]  # tls + istio-http/1.1
    conn = _connection(doc)
    assert conn["transport_protocol"] == "tls"
    assert conn["application_protocols"] == list(t.MESH_HTTP_ALPN)
    assert "mesh client (--source-principal)" in conn["reason"]
    assert eh.SPIFFE_ID in conn["reason"]


def test_the_sidecar_fixture_mesh_tcp_and_https_and_outbound(pdebug):
    who = ("--source-principal", eh.SPIFFE_ID)
    code, doc = _run(pdebug, SIDECAR, "tcp://10.244.0.10:9999", "--direction", "inbound", *who)
    assert code == 0 and _chosen(doc) == ["virtualInbound (#3)"]  # the tls passthrough
    assert _connection(doc)["application_protocols"] == list(t.MESH_TCP_ALPN)
    # https:// is the client's own TLS, as before
    code, doc = _run(pdebug, SIDECAR, "https://10.244.0.10:9080/", "--direction", "inbound", *who)
    assert _connection(doc)["application_protocols"] == list(t.HTTPS_ALPN)
    # outbound: the principal is this proxy's own; the connection is unchanged, a note says so
    code, doc = _run(pdebug, SIDECAR, "http://reviews:9080/", *who)
    assert code == 0 and _connection(doc)["transport_protocol"] == "raw_buffer"
    assert any("this proxy's own" in n for n in doc["notes"])


# --- crafted inbounds: STRICT, PERMISSIVE, DISABLE ---------------------------------------


def _hcm(prefix: str, rbac: dict[str, Any] | None = None) -> dict[str, Any]:
    filters = [rbac] if rbac is not None else []
    route = {"match": {"prefix": "/"}, "route": {"cluster": "backend"}}
    typed = {
        "@type": HCM_TYPE,
        "stat_prefix": prefix,
        "http_filters": [*filters, ROUTER],
        "route_config": {
            "name": prefix,
            "virtual_hosts": [{"name": "all", "domains": ["*"], "routes": [route]}],
        },
    }
    return {"name": "envoy.filters.network.http_connection_manager", "typed_config": typed}


def _tls(pki: eh.TestPki | None) -> dict[str, Any]:
    files: dict[str, Any] = {}
    if pki is not None:
        files = {
            "tls_certificates": [
                {
                    "certificate_chain": {"filename": str(pki.cert_path)},
                    "private_key": {"filename": str(pki.key_path)},
                }
            ],
            "validation_context": {"trusted_ca": {"filename": str(pki.ca_path)}},
        }
    return {
        "name": "envoy.transport_sockets.tls",
        "typed_config": {
            "@type": TLS_TYPE,
            "require_client_certificate": True,
            "common_tls_context": {"alpn_protocols": ["h2", "http/1.1"], **files},
        },
    }


def _chain(
    name: str,
    port: int,
    mtls: bool,
    pki: eh.TestPki | None = None,
    rbac: dict[str, Any] | None = None,
) -> dict[str, Any]:
    match: dict[str, Any] = {"destination_port": port}
    if mtls:
        match |= {"transport_protocol": "tls", "application_protocols": ISTIO_HTTP}
    else:
        match |= {"transport_protocol": "raw_buffer", "application_protocols": ["http/1.1", "h2c"]}
    chain: dict[str, Any] = {
        "name": name,
        "filter_chain_match": match,
        "filters": [_hcm(name, rbac)],
    }
    if mtls:
        chain["transport_socket"] = _tls(pki)
    return chain


def _inbound(port: int, chains: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "name": "virtualInbound",
        "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
        "traffic_direction": "INBOUND",
        "listener_filters": LISTENER_FILTERS,
        "filter_chains": chains,
        **extra,
    }


def _dump(tmp_path: Path, listener: dict[str, Any]) -> Path:
    cluster = {
        "name": "backend",
        "type": "STATIC",
        "load_assignment": {
            "cluster_name": "backend",
            "endpoints": [
                {
                    "lb_endpoints": [
                        {
                            "endpoint": {
                                "address": {
                                    "socket_address": {"address": "10.0.0.9", "port_value": 80}
                                }
                            }
                        }
                    ]
                }
            ],
        },
    }
    admin = "type.googleapis.com/envoy.admin.v3."
    dump = {
        "configs": [
            {
                "@type": admin + "ClustersConfigDump",
                "static_clusters": [{"cluster": cluster}],
            },
            {
                "@type": admin + "ListenersConfigDump",
                "static_listeners": [{"listener": listener}],
            },
        ]
    }
    path = tmp_path / "dump.json"
    path.write_text(json.dumps(dump))
    return path


def test_strict_inbound_plaintext_still_fails_and_the_mesh_client_gets_in(pdebug, tmp_path):
    dump = _dump(tmp_path, _inbound(15006, [_chain("strict", 8080, mtls=True)]))
    url = "http://10.0.0.5:8080/"
    code, doc = _run(pdebug, dump, url, "--direction", "inbound")
    assert code == ExitCode.FINDINGS and doc["verdict"]["kind"] == "no_filter_chain"
    code, doc = _run(pdebug, dump, url, "--direction", "inbound", "--source-principal", OTHER_ID)
    assert code == ExitCode.OK and _chosen(doc) == ["strict (#0)"], doc


def test_a_mesh_client_into_a_plaintext_only_chain_fails(pdebug, tmp_path):
    url = "http://10.0.0.5:8080/"
    who = ("--direction", "inbound", "--source-principal", OTHER_ID)
    # a chain on raw_buffer only: the mesh client's TLS matches no chain
    dump = _dump(tmp_path, _inbound(15006, [_chain("off", 8080, mtls=False)]))
    code, doc = _run(pdebug, dump, url, "--direction", "inbound")
    assert code == ExitCode.OK
    code, doc = _run(pdebug, dump, url, *who)
    assert code == ExitCode.FINDINGS and doc["verdict"]["kind"] == "no_filter_chain"
    # a chain on any transport that reads plaintext HTTP: the handshake is not HTTP
    chain = _chain("any", 8080, mtls=False)
    chain["filter_chain_match"] = {"destination_port": 8080}
    dump = _dump(tmp_path, _inbound(15006, [chain]))
    code, doc = _run(pdebug, dump, url, *who)
    assert code == ExitCode.FINDINGS and doc["verdict"]["kind"] == "connection_closed"
    assert "reads plaintext" in doc["verdict"]["summary"]


def test_a_mesh_tcp_client_into_istio_tcp_chains(pdebug, tmp_path):
    tcp = {
        "name": "envoy.filters.network.tcp_proxy",
        "typed_config": {"@type": TCP_TYPE, "stat_prefix": "t", "cluster": "backend"},
    }
    chains = [
        {
            "name": "tcp-mtls",
            "filter_chain_match": {
                "destination_port": 3306,
                "transport_protocol": "tls",
                "application_protocols": ["istio-peer-exchange", "istio"],
            },
            "transport_socket": _tls(None),
            "filters": [tcp],
        },
        {
            "name": "tcp-plain",
            "filter_chain_match": {"destination_port": 3306, "transport_protocol": "raw_buffer"},
            "filters": [tcp],
        },
    ]
    dump = _dump(tmp_path, _inbound(15006, chains))
    url = "tcp://10.0.0.5:3306"
    code, doc = _run(pdebug, dump, url, "--direction", "inbound")
    assert _chosen(doc) == ["tcp-plain (#1)"]
    code, doc = _run(pdebug, dump, url, "--direction", "inbound", "--source-principal", OTHER_ID)
    assert code == ExitCode.OK and _chosen(doc) == ["tcp-mtls (#0)"]
    # an HTTP mesh client into a TCP port: its ALPN still carries "istio"
    code, doc = _run(
        pdebug,
        dump,
        "http://10.0.0.5:3306/",
        "--direction",
        "inbound",
        "--source-principal",
        OTHER_ID,
    )
    assert _chosen(doc) == ["tcp-mtls (#0)"]


# --- against a real Envoy ----------------------------------------------------------------


def _rbac_allow(principal: str) -> dict[str, Any]:
    ids = [{"authenticated": {"principal_name": {"exact": principal}}}]
    policy = {
        "permissions": [{"and_rules": {"rules": [{"any": True}]}}],
        "principals": [{"and_ids": {"ids": [{"or_ids": {"ids": ids}}]}}],
    }
    rules = {"action": "ALLOW", "policies": {"ns[default]-policy[pp]-rule[0]": policy}}
    return {"name": "envoy.filters.http.rbac", "typed_config": {"@type": RBAC_TYPE, "rules": rules}}


def _complete(data: bytes) -> bool:
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value)
    return False


def _get(port: int, pki: eh.TestPki | None) -> tuple[int | None, str]:
    """GET / as a mesh client (mTLS, Istio's ALPN, ``pki``'s certificate) or in plaintext.

    Returns (status, body), (None, "") when Envoy closes the connection.
    """
    request = f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    data = b""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            sock: socket.socket = raw
            if pki is not None:
                ctx = ssl.create_default_context()
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
                ctx.load_cert_chain(pki.cert_path, pki.key_path)
                ctx.set_alpn_protocols(list(t.MESH_HTTP_ALPN))
                sock = ctx.wrap_socket(raw)
            sock.sendall(request.encode())
            while not _complete(data) and (chunk := sock.recv(65536)):
                data += chunk
    except (ssl.SSLError, ConnectionError):
        return None, ""
    if not data:
        return None, ""
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body.decode(errors="replace")


def _counters(envoy: eh.Envoy) -> Counter[str]:
    out: Counter[str] = Counter()
    for line in envoy.get("/stats?filter=rbac").decode().splitlines():
        name, _, value = line.partition(": ")
        if value.strip().isdigit() and int(value):
            out[name.strip()] = int(value)
    return out


@pytest.mark.skipif(not eh.envoy_available(), reason="no envoy binary")
def test_istio_inbound_mtls_against_envoy(tmp_path):
    """PERMISSIVE and STRICT ports, a principal rule: Envoy and trace agree, counters too."""
    from pdebug.proxy import Fetch, load_proxy
    from pdebug.sources.base import LiveOptions
    from pdebug.sources.spec import SourceWords

    pki = eh.make_test_pki(tmp_path / "pki")
    other = eh.make_test_pki(tmp_path / "other", spiffe_id=OTHER_ID)
    both = tmp_path / "cas.pem"
    both.write_bytes(pki.ca_pem + other.ca_pem)
    permissive, strict = eh.free_port(), eh.free_port()
    rbac = _rbac_allow(eh.SPIFFE_ID)
    chains = [
        _chain("permissive-mtls", permissive, True, pki, rbac),
        _chain("permissive-plain", permissive, False, None, rbac),
        _chain("strict-mtls", strict, True, pki, rbac),
    ]
    for chain in chains:
        if "transport_socket" in chain:
            ctx = chain["transport_socket"]["typed_config"]["common_tls_context"]
            ctx["validation_context"] = {"trusted_ca": {"filename": str(both)}}
    extra = {"socket_address": {"address": "127.0.0.1", "port_value": strict}}
    listener = _inbound(permissive, chains, additional_addresses=[{"address": extra}])
    backend = eh.LoopbackUpstream("backend").start()
    cluster = eh.static_cluster("backend", backend.port)
    boot = {
        "node": {"id": "trace-mesh-mtls", "cluster": "trace"},
        "static_resources": {"clusters": [cluster], "listeners": [listener]},
    }
    # (port, client certificate (None: plaintext), --source-principal)
    cases = [
        (permissive, pki, eh.SPIFFE_ID),
        (permissive, other, OTHER_ID),
        (permissive, None, None),
        (strict, pki, eh.SPIFFE_ID),
        (strict, other, OTHER_ID),
        (strict, None, None),
    ]
    try:
        with eh.Envoy(boot) as envoy:
            dump = tmp_path / "dump.json"
            dump.write_bytes(envoy.get("/config_dump?include_eds"))
            proxy = load_proxy(
                SourceWords(str(dump), None, None, None), LiveOptions(), Fetch(include_eds=True)
            )
            predicted: Counter[str] = Counter()
            for port, cert, principal in cases:
                url = f"http://127.0.0.1:{port}/"
                req = t.parse_request(url, direction="inbound", source_principal=principal)
                result = t.trace(proxy, req)
                verdict = result.verdict
                status, body = _get(port, cert)
                what = (port == strict, principal, verdict, status, body)
                if verdict.kind == "upstream":
                    assert status == 200 and json.loads(body)["upstream"] == "backend", what
                elif verdict.kind == "denied":
                    assert (status, body) == (403, "RBAC: access denied"), what
                else:
                    assert verdict.kind == "no_filter_chain" and status is None, what
                chain = [s.name for s in result.steps if s.kind == "filter_chain" and s.matched]
                if chain:
                    prefix = chain[0].split(" ")[0]
                    effect = "allowed" if verdict.kind == "upstream" else "denied"
                    predicted[f"http.{prefix}.rbac.{effect}"] += 1
            assert _counters(envoy) == predicted
            # the answers this test pins: the mesh client's principal decides; plaintext
            # into PERMISSIVE is denied (no certificate), into STRICT never connects
            kinds = [predicted[k] for k in sorted(predicted)]
            assert sum(kinds) == 5 and predicted["http.permissive-plain.rbac.denied"] == 1
            assert predicted["http.permissive-mtls.rbac.allowed"] == 1
            assert predicted["http.strict-mtls.rbac.denied"] == 1
    finally:
        backend.stop()


# --- pdebug assert: a request's source_principal ------------------------------------------


def test_assert_requests_take_source_principal(pdebug, tmp_path):
    rbac = _rbac_allow(eh.SPIFFE_ID)
    chains = [_chain("mtls", 9080, True, None, rbac), _chain("plain", 9080, False, None, rbac)]
    dump = _dump(tmp_path, _inbound(15006, chains))
    book = tmp_path / "book.yaml"
    book.write_text(
        f"""
expectations:
  - name: productpage may call
    request:
      url: "http://10.0.0.5:9080/"
      direction: inbound
      source_principal: "{eh.SPIFFE_ID}"
    expect: {{verdict: ok, cluster: backend}}
  - name: others may not
    request: {{url: "http://10.0.0.5:9080/", direction: inbound, source_principal: "{OTHER_ID}"}}
    expect: {{verdict: fail, status: 403}}
  - name: plaintext may not
    request: {{url: "http://10.0.0.5:9080/", direction: inbound}}
    expect: {{verdict: fail}}
  - name: a wrong expectation
    request: {{url: "http://10.0.0.5:9080/", direction: inbound, source_principal: "{OTHER_ID}"}}
    expect: {{verdict: ok}}
"""
    )
    r = pdebug("assert", book, dump, "-o", "json")
    got = {x["expectation"]: x["result"] for x in json.loads(r.out)["results"]}
    assert got == {
        "productpage may call": "PASS",
        "others may not": "PASS",
        "plaintext may not": "PASS",
        "a wrong expectation": "FAIL",
    }, r.out
    assert r.code == ExitCode.FINDINGS
    book.write_text(
        "expectations:\n  - name: a\n    request: {url: 'http://x/', source_principal: 'a b'}\n"
        "    expect: {verdict: ok}\n"
    )
    r = pdebug("assert", book, dump)
    assert r.code == ExitCode.INVALID_INPUT and "book.yaml:2" in r.err, r
    assert "is not an identity" in r.err
    schema = json.loads(pdebug("assert", "--schema").out)
    assert "source_principal" in json.dumps(schema)
