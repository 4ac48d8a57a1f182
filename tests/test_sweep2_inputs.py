"""Inputs made by others (and their shapes) that showed a wrong answer in sweep 2."""

from __future__ import annotations

import json
from pathlib import Path

_CLUSTERS = "type.googleapis.com/envoy.admin.v3.ClustersConfigDump"


def test_a_cluster_entry_holding_only_error_state_is_no_row(pdebug, tmp_path: Path):
    """A ``dynamic_active_clusters`` entry with only ``error_state`` has no cluster: it
    was a nameless STATIC row in every table."""
    ok = {"name": "outbound|80||a.default.svc.cluster.local", "type": "EDS"}
    failed = {"@type": "type.googleapis.com/envoy.config.cluster.v3.Cluster", "name": "bad"}
    dump = {
        "configs": [
            {
                "@type": _CLUSTERS,
                "dynamic_active_clusters": [
                    {"version_info": "1", "cluster": ok},
                    {"error_state": {"failed_configuration": failed, "details": "rejected"}},
                ],
            }
        ]
    }
    f = tmp_path / "dump.json"
    f.write_text(json.dumps(dump))
    for args in ((), ("-o", "wide"), ("--direction", "outbound", "-o", "wide")):
        out = pdebug("clusters", f, *args).out
        assert "STATIC" not in out, args
        assert len(out.splitlines()) == 2, out
    assert [c["name"] for c in json.loads(pdebug("clusters", f, "-o", "json").out)] == [ok["name"]]


def test_a_deprecated_v1_tcp_proxy_names_the_cluster_of_its_routes(pdebug):
    """Istio 1.0's tcp_proxy (``deprecated_v1``) has no ``cluster``, its one route does:
    DESTINATION was ``Cluster: `` (empty) while trace followed the route."""
    from tests.harness import FIXTURES

    dump = FIXTURES / "corpus" / "istio" / "2020-02-writer" / "configdump.json"
    out = pdebug("listeners", dump, "--port", "443").out
    assert "Cluster: outbound|443||istio-galley.istio-system.svc.cluster.local" in out


def _tls_dump(tmp_path: Path, v2: bool) -> Path:
    """Consul 1.7's public listener (from the hand-made corpus dump): one chain, no
    match, TLS terminated by the chain (v2 ``tls_context`` or v3 ``transport_socket``)."""
    from tests.harness import FIXTURES

    src = FIXTURES / "corpus" / "handmade" / "consul-1.7-envoy-1.14-splitter.json"
    dump = json.loads(src.read_text())
    if not v2:
        listeners = next(c for c in dump["configs"] if c["@type"].endswith("ListenersConfigDump"))
        chain = listeners["dynamic_listeners"][0]["active_state"]["listener"]["filter_chains"][0]
        tls = chain.pop("tls_context")
        tls["@type"] = (
            "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext"
        )
        chain["transport_socket"] = {"name": "envoy.transport_sockets.tls", "typed_config": tls}
    out = tmp_path / "dump.json"
    out.write_text(json.dumps(dump))
    return out


def test_trace_a_plaintext_client_into_a_chain_that_terminates_tls(pdebug, tmp_path: Path):
    """The chain matches any connection but terminates TLS: a plaintext client fails the
    handshake (was: OK, routed to local_app)."""
    for v2 in (True, False):
        dump = _tls_dump(tmp_path, v2)
        for url in ("tcp://10.0.0.5:21000", "http://10.0.0.5:21000/"):
            res = pdebug("trace", dump, url, "-o", "json")
            verdict = json.loads(res.out)["verdict"]
            assert res.code == 1, (v2, url, res.out)
            assert verdict["kind"] == "connection_closed"
            assert "terminates TLS" in verdict["summary"]
        res = pdebug("trace", dump, "https://10.0.0.5:21000/", "-o", "json")
        assert res.code == 0, res.out
        assert json.loads(res.out)["verdict"]["kind"] == "upstream"


def test_trace_a_consul_splitter_route_weights_by_total_weight(pdebug):
    from tests.harness import FIXTURES

    dump = FIXTURES / "corpus" / "handmade" / "consul-1.7-envoy-1.14-splitter.json"
    out = pdebug("trace", dump, "http://127.0.0.1:9191/").out
    assert "secondary.nginx.default.envoy-lab.internal.0000.consul 70%" in out


def test_a_weighted_cluster_taken_from_a_header(pdebug, tmp_path: Path):
    """``weighted_clusters.clusters[].cluster_header`` (no name): the cluster is the
    request header's value. It was ``:1`` in routes -o wide and a 503 for cluster ``''``
    in trace."""
    from tests.harness import FIXTURES

    src = FIXTURES / "corpus" / "handmade" / "consul-1.7-envoy-1.14-splitter.json"
    dump = json.loads(src.read_text())
    routes = next(c for c in dump["configs"] if c["@type"].endswith(".RoutesConfigDump"))
    action = routes["dynamic_route_configs"][0]["route_config"]["virtual_hosts"][0]["routes"][0]
    weighted = action["route"]["weighted_clusters"]
    weighted["clusters"] = [{"cluster_header": "x-pick", "weight": 1}]
    weighted.pop("total_weight")
    f = tmp_path / "dump.json"
    f.write_text(json.dumps(dump))
    assert "header:x-pick:1" in pdebug("routes", f, "-o", "wide").out
    target = "v2.nginx.default.envoy-lab.internal.0000.consul"
    hit = json.loads(
        pdebug("trace", f, "http://127.0.0.1:9191/", "-H", f"x-pick:{target}", "-o", "json").out
    )
    assert [s["name"] for s in hit["steps"] if s["kind"] == "cluster"] == [target]
    miss = pdebug("trace", f, "http://127.0.0.1:9191/")
    assert miss.code == 1 and "header x-pick absent" in miss.out


def _escaped_dump(tmp_path: Path, action: str) -> Path:
    """The Consul dump with its HTTP listener's path_with_escaped_slashes_action set."""
    from tests.harness import FIXTURES

    src = FIXTURES / "corpus" / "handmade" / "consul-1.7-envoy-1.14-splitter.json"
    dump = json.loads(src.read_text())
    listeners = next(c for c in dump["configs"] if c["@type"].endswith("ListenersConfigDump"))
    lst = listeners["dynamic_listeners"][1]["active_state"]["listener"]
    hcm = lst["filter_chains"][0]["filters"][0]["config"]
    hcm["path_with_escaped_slashes_action"] = action
    hcm["normalize_path"] = True
    out = tmp_path / f"{action}.json"
    out.write_text(json.dumps(dump))
    return out


def test_trace_follows_path_with_escaped_slashes_action(pdebug, tmp_path: Path):
    """Istio's DECODE_AND_MERGE_SLASHES sets UNESCAPE_AND_FORWARD: ``%2F`` is a ``/`` to
    the router; REDIRECT answers 307, REJECT 400 (tests/test_trace_envoy.py checks these
    against Envoy)."""
    url = "http://127.0.0.1:9191/a%2F..%2Fb?q=%2F"
    fwd = json.loads(
        pdebug("trace", _escaped_dump(tmp_path, "UNESCAPE_AND_FORWARD"), url, "-o", "json").out
    )
    assert [s for s in fwd["steps"] if s["kind"] == "route"][0]["reason"].startswith(
        "path /b starts"
    )
    red = pdebug("trace", _escaped_dump(tmp_path, "UNESCAPE_AND_REDIRECT"), url, "-o", "json")
    verdict = json.loads(red.out)["verdict"]
    assert (red.code, verdict["status"], verdict["location"]) == (0, 307, "/b?q=%2F")
    rej = pdebug("trace", _escaped_dump(tmp_path, "REJECT_REQUEST"), url, "-o", "json")
    assert (rej.code, json.loads(rej.out)["verdict"]["status"]) == (1, 400)
    keep = pdebug("trace", _escaped_dump(tmp_path, "KEEP_UNCHANGED"), url, "-o", "json")
    assert "a%2F..%2Fb" in keep.out


def test_trace_never_takes_a_udp_quic_listener(pdebug, tmp_path: Path):
    """Envoy Gateway's HTTP/3 listener binds the UDP side of the HTTPS port, listed before
    the TCP one: trace took it and closed the connection (no SNI on that chain)."""
    hcm = {
        "name": "envoy.filters.network.http_connection_manager",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.network"
            ".http_connection_manager.v3.HttpConnectionManager",
            "stat_prefix": "x",
            "route_config": {
                "virtual_hosts": [
                    {
                        "name": "v",
                        "domains": ["*"],
                        "routes": [{"match": {"prefix": "/"}, "direct_response": {"status": 200}}],
                    }
                ]
            },
        },
    }

    def listener(name: str, protocol: str) -> dict[str, object]:
        sock = {"address": "0.0.0.0", "port_value": 10443, "protocol": protocol}
        chain = {"filter_chain_match": {"server_names": ["www.example.com"]}, "filters": [hcm]}
        return {"name": name, "address": {"socket_address": sock}, "filter_chains": [chain]}

    listeners = [listener("https-quic", "UDP"), listener("https", "TCP")]
    tls_inspector = {
        "name": "envoy.filters.listener.tls_inspector",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3"
            ".TlsInspector"
        },
    }
    listeners[1]["listener_filters"] = [tls_inspector]
    dump = {
        "configs": [
            {
                "@type": "type.googleapis.com/envoy.admin.v3.ListenersConfigDump",
                "dynamic_listeners": [
                    {"name": x["name"], "active_state": {"listener": x}} for x in listeners
                ],
            }
        ]
    }
    f = tmp_path / "dump.json"
    f.write_text(json.dumps(dump))
    res = pdebug("trace", f, "https://www.example.com:10443/", "-o", "json")
    got = json.loads(res.out)
    assert [s["name"] for s in got["steps"] if s["kind"] == "listener"][0] == "https"
    assert res.code == 0, res.out
    dump["configs"][0]["dynamic_listeners"].pop()
    f.write_text(json.dumps(dump))
    res = pdebug("trace", f, "https://www.example.com:10443/")
    assert res.code == 1 and "UDP only (QUIC, HTTP/3)" in res.out


def test_trace_says_a_proxy_protocol_listener_needs_the_header(pdebug, tmp_path: Path):
    """Gateways behind a load balancer (Envoy Gateway's enableProxyProtocol, Contour's
    --use-proxy-protocol): a direct client without a PROXY header is closed by Envoy."""
    from tests.harness import FIXTURES

    src = FIXTURES / "corpus" / "handmade" / "consul-1.7-envoy-1.14-splitter.json"
    dump = json.loads(src.read_text())
    listeners = next(c for c in dump["configs"] if c["@type"].endswith("ListenersConfigDump"))
    lst = listeners["dynamic_listeners"][1]["active_state"]["listener"]
    lst["listener_filters"] = [{"name": "envoy.filters.listener.proxy_protocol"}]
    f = tmp_path / "dump.json"
    f.write_text(json.dumps(dump))
    out = pdebug("trace", f, "http://127.0.0.1:9191/").out
    assert "proxy_protocol: unless allow_requests_without_proxy_protocol" in out
