"""Answers earlier sessions saw and left (each test fails without its fix)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests import harness as eh

WAYPOINT = eh.ISTIOCTL / "proxy-status-diff/current/configdump.json"  # one dynamic route config
SIDECAR = eh.FIXTURES / "real/sidecar/config_dump.json"


def _edited(src: Path, tmp_path: Path, edit: Any) -> Path:
    doc = json.loads(src.read_text())
    for sec in doc["configs"]:
        edit(sec["@type"].rsplit(".", 1)[1], sec)
    path = tmp_path / "dump.json"
    path.write_text(json.dumps(doc, indent=2))
    return path


# --- a field set to null is the field left out (protojson), in the tables too ------------


def test_null_route_config_reads_as_absent_everywhere(pdebug, tmp_path: Path) -> None:
    """`all -o json` printed `"route_config": null` with exit 0 while the tables said the
    dump was damaged (exit 4): protojson (istioctl's reader) takes null as the field's
    default, so the dump is valid: an entry without its route config, skipped with a
    warning (exit 0) even when it is the only one."""

    def edit(kind: str, sec: dict[str, Any]) -> None:
        if kind == "RoutesConfigDump":
            sec["dynamic_route_configs"][0]["route_config"] = None

    path = _edited(WAYPOINT, tmp_path, edit)
    as_json = pdebug("all", path, "-o", "json")
    assert as_json.code == 0 and '"route_config": null' in as_json.out
    for args in (("routes",), ("all",), ("routes", "-o", "wide"), ("check",)):
        out = pdebug(*args, path)
        assert out.code in (0, 1), (args, out.err)  # check: 1 is its findings
        assert "damaged" not in out.err
        # an entry without its resource is skipped with a warning, as a null cluster was
        assert "dynamic_route_configs[0] skipped: its route_config is null" in out.err
    assert "No routes found." in pdebug("routes", path).err
    # the same as the field left out
    absent = _edited(
        WAYPOINT,
        tmp_path,
        lambda k, s: (
            s["dynamic_route_configs"][0].pop("route_config") if k == "RoutesConfigDump" else None
        ),
    )
    assert pdebug("routes", absent, "-o", "wide").out == pdebug("routes", path, "-o", "wide").out


def test_null_fields_inside_resources_are_left_out_not_the_resource(pdebug, tmp_path: Path) -> None:
    def edit(kind: str, sec: dict[str, Any]) -> None:
        if kind == "RoutesConfigDump":
            sec["static_route_configs"][0]["route_config"]["virtual_hosts"] = None

    path = _edited(SIDECAR, tmp_path, edit)
    out = pdebug("routes", path, "-o", "wide")
    assert out.code == 0 and "skipped" not in out.err
    name = json.loads(SIDECAR.read_text())
    first = next(s for s in name["configs"] if s["@type"].endswith("v3.RoutesConfigDump"))[
        "static_route_configs"
    ][0]["route_config"]["name"]
    # the route config is still listed (by --name), with no virtual hosts
    assert (
        pdebug("routes", path, "--name", first, "--no-verbose").out.split("\n")[1].split()[0]
        == first
    )


# --- pdebug status: a type whose last push was NACKed is ERROR, as istioctl says ----------

HTTP_SYNCZ_128 = eh.FIXTURES / "corpus/istiod/handmade-1.28-http-syncz/syncz.json"


def _syncz(tmp_path: Path, resources: dict[str, Any]) -> Path:
    cds = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
    doc = [
        {
            "proxy": "web-1.shop",
            "cluster_id": "Kubernetes",
            "istio_version": "1.28.0",
            "resources": {cds: resources},
        }
    ]
    path = tmp_path / "syncz.json"
    path.write_text(json.dumps(doc))
    return path


def test_status_nacked_type_is_error(pdebug, tmp_path: Path) -> None:
    """istiod >= 1.24's HTTP syncz records a NACK in `resources[type].lastError`; its xDS
    answer for the same state says ERROR, and istioctl prints ERROR: pdebug said STALE."""
    err = "Proto constraint validation failed"
    nacked = _syncz(tmp_path, {"sent": "c2", "acked": "c1", "lastError": err})
    out = pdebug("status", "-f", nacked, "--layout", "fixed")
    assert out.code == 0, out.err
    assert out.out.splitlines()[1].split()[2] == "ERROR"
    wide = pdebug("status", "-f", nacked, "-o", "wide").out
    assert f"CDS: {err}" in wide and "CDS" in wide.splitlines()[1]
    # never acked, and NACKed: ERROR too (it was STALE (Never Acknowledged))
    first = _syncz(tmp_path, {"sent": "c1", "lastError": err})
    out = pdebug("status", "-f", first, "--layout", "fixed")
    assert out.out.splitlines()[1].split()[2] == "ERROR"
    # NACKed once, a later push acked: in sync; the old error stays in -o wide only
    healed = _syncz(tmp_path, {"sent": "c3", "acked": "c3", "lastError": err})
    out = pdebug("status", "-f", healed, "--layout", "fixed")
    assert out.out.splitlines()[1].split()[2] == "SYNCED"
    # the corpus answer: the waypoint's CDS
    fixed = pdebug("status", "-f", HTTP_SYNCZ_128, "--layout", "fixed").out
    row = next(ln for ln in fixed.splitlines() if ln.startswith("waypoint-"))
    assert row.split()[2] == "ERROR"


# --- trace names the cluster specifier plugin that picks the cluster ----------------------

LUA = "type.googleapis.com/envoy.extensions.router.cluster_specifiers.lua.v3.LuaConfig"
REVIEWS = "outbound|9080||reviews.default.svc.cluster.local"


def _plugin_dump(tmp_path: Path, inline: bool) -> Path:
    """The sidecar's route config 9080 with every route's cluster picked by a Lua plugin."""
    ext = {
        "name": "envoy.router.cluster_specifier_plugin.lua" if inline else "picker",
        "typed_config": {
            "@type": LUA,
            "source_code": {"inline_string": "function envoy_on_route_cluster() end"},
            "default_cluster": REVIEWS,
        },
    }

    def edit(kind: str, sec: dict[str, Any]) -> None:
        if kind != "RoutesConfigDump":
            return
        for entries in sec.values():
            for entry in entries if isinstance(entries, list) else []:
                rc = entry["route_config"]
                if rc["name"] != "9080":
                    continue
                if not inline:
                    rc["cluster_specifier_plugins"] = [{"extension": ext}]
                for vh in rc["virtual_hosts"]:
                    for route in vh["routes"]:
                        if "route" in route:
                            route["route"] = (
                                {"inline_cluster_specifier_plugin": {"extension": ext}}
                                if inline
                                else {"cluster_specifier_plugin": "picker"}
                            )

    return _edited(SIDECAR, tmp_path, edit)


def test_trace_names_the_cluster_specifier_plugin(pdebug, tmp_path: Path) -> None:
    """Envoy's lua-cluster-specifier sandbox shape: trace said "cluster_specifier_plugin
    or an unknown action" / "a cluster specifier pdebug does not know"; it now names the
    plugin, its kind and its default_cluster (still UNKNOWN: the Lua code picks)."""
    for inline, name in ((True, "envoy.router.cluster_specifier_plugin.lua"), (False, "picker")):
        path = _plugin_dump(tmp_path, inline)
        out = pdebug("trace", path, "http://reviews:9080/")
        assert out.code == 6, out.err
        verdict = out.out.strip().splitlines()[-1]
        assert verdict == (
            f"VERDICT: UNKNOWN, cluster specifier lua plugin {name} picks the cluster at run "
            f"time; pdebug does not run it (its default_cluster: {REVIEWS})"
        )
        assert f"cluster_specifier_plugin {name}" in out.out
        doc = json.loads(pdebug("trace", path, "http://reviews:9080/", "-o", "json").out)
        assert name in json.dumps(doc)


# --- endpoints -o wide WEIGHT: the locality's weight where the cluster splits by it -------


def _weighted_dump(tmp_path: Path, camel: bool = False) -> tuple[Path, Path]:
    """Envoy Gateway's weighted backendRefs (translator output http-route-weighted-backend):
    one locality per backend, weighted 20/40/20/20, with locality_weighted_lb_config; and
    an Istio-shaped cluster whose locality weight is its endpoints' sum."""
    eg = "httproute/default/backend/rule/0"
    istio = "outbound|9080||reviews.default.svc.cluster.local"
    localities = [
        {
            "locality": {"region": f"{eg}/backend/{i}"},
            "load_balancing_weight": w,
            "lb_endpoints": [
                {
                    "endpoint": {
                        "address": {
                            "socket_address": {"address": f"10.0.0.{i}", "port_value": 8080}
                        }
                    },
                    "load_balancing_weight": 1,
                }
            ],
        }
        for i, w in enumerate((20, 40, 20, 20), start=1)
    ]
    istio_cla = {
        "cluster_name": istio,
        "endpoints": [
            {
                "locality": {"region": "us", "zone": "a"},
                "load_balancing_weight": 3,
                "lb_endpoints": [
                    {
                        "endpoint": {
                            "address": {
                                "socket_address": {"address": "10.1.0.1", "port_value": 9080}
                            }
                        },
                        "load_balancing_weight": 3,
                    }
                ],
            }
        ],
    }
    eds = {"ads": {}, "resource_api_version": "V3"}
    doc = {
        "configs": [
            {
                "@type": "type.googleapis.com/envoy.admin.v3.ClustersConfigDump",
                "dynamic_active_clusters": [
                    {
                        "cluster": {
                            "@type": "type.googleapis.com/envoy.config.cluster.v3.Cluster",
                            "name": eg,
                            "type": "EDS",
                            "eds_cluster_config": {"eds_config": eds, "service_name": eg},
                            "common_lb_config": {"locality_weighted_lb_config": {}},
                        }
                    },
                    {
                        "cluster": {
                            "@type": "type.googleapis.com/envoy.config.cluster.v3.Cluster",
                            "name": istio,
                            "type": "EDS",
                            "eds_cluster_config": {"eds_config": eds, "service_name": istio},
                            # istiod sets it too, with each locality weighing its endpoints'
                            # sum: the split is the endpoint weights', nothing is added
                            "common_lb_config": {"locality_weighted_lb_config": {}},
                        }
                    },
                ],
            },
            {
                "@type": "type.googleapis.com/envoy.admin.v3.EndpointsConfigDump",
                "dynamic_endpoint_configs": [
                    {"endpoint_config": {"cluster_name": eg, "endpoints": localities}},
                    {"endpoint_config": istio_cla},
                ],
            },
        ]
    }
    hosts = [
        {
            "name": eg,
            "host_statuses": [
                {
                    "address": {"socket_address": {"address": f"10.0.0.{i}", "port_value": 8080}},
                    "health_status": {"eds_health_status": "HEALTHY"},
                    "weight": 1,
                }
                for i in range(1, 5)
            ],
        }
    ]
    if camel:
        doc = eh.camelize(doc)
    dump = tmp_path / "dump.json"
    dump.write_text(json.dumps(doc))
    clusters = tmp_path / "clusters.json"
    clusters.write_text(json.dumps({"cluster_statuses": hosts}))
    return dump, clusters


def _weights(out: str) -> dict[str, str]:
    rows = [line.split(None, 6) for line in out.splitlines()[1:]]
    return {r[0]: r[6].strip() for r in rows}


def test_endpoints_wide_weight_shows_the_locality_split(pdebug, tmp_path: Path) -> None:
    """Every row read WEIGHT 1 where Envoy Gateway's 20/40/20/20 split lives in the locality
    weights; a cluster that does not split by locality (istiod's) keeps its own weight."""
    for camel in (False, True):
        dump, clusters = _weighted_dump(tmp_path, camel)
        out = pdebug("endpoints", dump, "-o", "wide")
        assert out.code == 0, out.err
        weights = _weights(out.out)
        assert [weights[f"10.0.0.{i}:8080"] for i in range(1, 5)] == [
            "1 (locality 20)",
            "1 (locality 40)",
            "1 (locality 20)",
            "1 (locality 20)",
        ]
        assert weights["10.1.0.1:9080"] == "3"  # its locality weighs 3 = its endpoints' sum
        live = pdebug("endpoints", dump, "--clusters-json", clusters, "-o", "wide")
        assert live.code == 0, live.err
        assert _weights(live.out)["10.0.0.2:8080"] == "1 (locality 40)"
        # the table istioctl prints has no WEIGHT: unchanged
        assert "locality" not in pdebug("endpoints", dump).out
