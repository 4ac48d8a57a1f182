"""The model: sections by @type, v2 types, camelCase, unknown types, error-only listeners."""

from __future__ import annotations

import json

from pdebug.model import ProxyData
from pdebug.model.camel import snake_keys, to_camel, to_snake
from pdebug.model.load import load
from pdebug.views import clusters, listeners, routes
from pdebug.views.common import summarize_domains
from tests.harness import ISTIOCTL

V3 = "type.googleapis.com/envoy.admin.v3."
DR = "/apis/networking.istio.io/v1/namespaces/b/destination-rule/a"


def _dump(*sections: dict) -> bytes:
    return json.dumps({"configs": list(sections)}).encode()


def _clusters_section(type_url: str, key: str, names: list[str]) -> dict:
    return {"@type": type_url, key: [{"cluster": {"name": n, "type": "EDS"}} for n in names]}


def test_sections_are_found_by_type_not_position():
    data = _dump(
        {"@type": "type.googleapis.com/some.future.Thing", "x": 1},
        {"@type": V3 + "ListenersConfigDump"},
        _clusters_section(V3 + "ClustersConfigDump", "dynamic_active_clusters", ["outbound|80||a"]),
    )
    dump = load(data, "t").dump
    assert [s.kind for s in dump.sections] == ["", "listeners", "clusters"]
    rows = clusters.select(ProxyData("t", dump), clusters.ClusterFilter(), False)
    assert [r.entry.cluster.name for r in rows] == ["outbound|80||a"]


def test_unknown_sections_and_fields_are_kept_in_json_output(pdebug, tmp_path):
    data = _dump(
        {"@type": "type.googleapis.com/some.future.Thing", "x": 1},
        {
            "@type": V3 + "ClustersConfigDump",
            "static_clusters": [{"cluster": {"name": "a", "brand_new_field": {"deep": [1, 2]}}}],
        },
    )
    path = tmp_path / "d.json"
    path.write_bytes(data)
    out = json.loads(pdebug("clusters", path, "-o", "json").out)
    assert out == [{"name": "a", "brand_new_field": {"deep": [1, 2]}}]
    everything = json.loads(pdebug("all", path, "-o", "json").out)
    assert everything["configs"][0] == {"@type": "type.googleapis.com/some.future.Thing", "x": 1}


def test_v2_admin_types_are_read():
    data = _dump(
        _clusters_section(
            "type.googleapis.com/envoy.admin.v2alpha.ClustersConfigDump",
            "dynamic_active_clusters",
            ["outbound|9080||reviews.default.svc.cluster.local"],
        )
    )
    dump = load(data, "t").dump
    assert dump.section("clusters") is not None
    rows = clusters.select(ProxyData("t", dump), clusters.ClusterFilter(), False)
    assert rows[0].key.fqdn == "reviews.default.svc.cluster.local"


def test_camel_case_dump_reads_like_snake_case():
    snake = _clusters_section(V3 + "ClustersConfigDump", "dynamic_active_clusters", [])
    snake["dynamic_active_clusters"] = [
        {
            "version_info": "7",
            "cluster": {
                "name": "outbound|80|v1|a.b.svc.cluster.local",
                "type": "EDS",
                "lb_policy": "LEAST_REQUEST",
                "metadata": {"filter_metadata": {"istio": {"config": DR}}},
            },
        }
    ]
    camel = {
        "@type": snake["@type"],
        "dynamicActiveClusters": [
            {
                "versionInfo": "7",
                "cluster": {
                    "name": "outbound|80|v1|a.b.svc.cluster.local",
                    "type": "EDS",
                    "lbPolicy": "LEAST_REQUEST",
                    "metadata": {"filterMetadata": {"istio": {"config": DR}}},
                },
            }
        ],
    }
    tables = []
    for sec in (snake, camel):
        data = ProxyData("t", load(_dump(sec), "t").dump)
        tables.append(clusters.view(data, clusters.ClusterFilter(), wide=True).table.rows)
    assert tables[0] == tables[1]
    assert tables[0][0][5] == "a.b"  # DESTINATION RULE
    assert tables[0][0][7] == "LEAST_REQUEST"


def test_istiod_2020_camel_dump_parses_listeners_and_routes():
    path = ISTIOCTL / "proxy-status-diff/historical-2020/pilotconfigdump2020.json"
    dump = load(path.read_bytes(), "p").dump
    data = ProxyData("p", dump)
    assert listeners.select(data, listeners.ListenerFilter(), False)
    assert routes.select(data, routes.RouteFilter())


def test_error_only_listener_entry_is_shown_in_wide():
    failed = {
        "name": "0.0.0.0_9080",
        "address": {"socket_address": {"address": "0.0.0.0", "port_value": 9080}},
        "filter_chains": [
            {
                "filters": [
                    {
                        "name": "envoy.filters.network.tcp_proxy",
                        "typed_config": {"@type": "x", "cluster": "c"},
                    }
                ]
            }
        ],
    }
    data = _dump(
        {
            "@type": V3 + "ListenersConfigDump",
            "dynamic_listeners": [
                {
                    "error_state": {
                        "failed_configuration": failed,
                        "last_update_attempt": "2026-01-01T00:00:00Z",
                        "details": "cannot bind '0.0.0.0:9080': Address already in use",
                    }
                },
            ],
        }
    )
    proxy = ProxyData("t", load(data, "t").dump)
    assert listeners.view(proxy, listeners.ListenerFilter()).table.rows == []
    wide = listeners.view(proxy, listeners.ListenerFilter(), wide=True).table.rows
    assert wide == [
        (
            "0.0.0.0_9080",
            "0.0.0.0",
            "9080",
            "ALL",
            "Cluster: c",
            "ERROR",
            "-",
            "2026-01-01T00:00:00Z",
        )
    ]


def test_domain_summary_rules():
    assert summarize_domains(["example.com", "example.com:8080"]) == "example.com"
    assert (
        summarize_domains(
            [
                "example.com",
                "example.com:8080",
                "www.example.com",
                "www.example.com:8080",
                "[fd00:10:96::7fc7]",
                "[fd00:10:96::7fc7]:8080",
            ]
        )
        == "example.com, www.example.com + 1 more..."
    )
    assert (
        summarize_domains(
            [
                "reviews.default.svc.cluster.local",
                "reviews",
                "reviews.default.svc",
                "reviews.default",
            ]
        )
        == "reviews, reviews.default"
    )


def test_key_respelling_leaves_map_keys_alone():
    assert to_camel("route_config_name") == "routeConfigName"
    assert to_snake("routeConfigName") == "route_config_name"
    assert to_snake("ISTIO_VERSION") == "ISTIO_VERSION"
    doc = {
        "node": {"metadata": {"ISTIO_VERSION": "1", "appName": "x"}},
        "metadata": {"filterMetadata": {"istio": {"someKey": 1}}},
        "lbPolicy": "x",
    }
    assert snake_keys(doc) == {
        "node": {"metadata": {"ISTIO_VERSION": "1", "appName": "x"}},
        "metadata": {"filter_metadata": {"istio": {"someKey": 1}}},
        "lb_policy": "x",
    }


def test_resource_query_shape_is_regrouped_into_sections(pdebug, tmp_path):
    """GET /config_dump?resource=... answers one config per entry, typed by the entry."""
    doc = {
        "configs": [
            {
                "@type": "type.googleapis.com/envoy.admin.v3.ClustersConfigDump.DynamicCluster",
                "version_info": "1",
                "cluster": {"name": "outbound|80||a.b.svc.cluster.local", "type": "EDS"},
            },
            {
                "@type": "type.googleapis.com/envoy.admin.v3.ClustersConfigDump.DynamicCluster",
                "version_info": "1",
                "cluster": {"name": "outbound|80|v1|a.b.svc.cluster.local", "type": "EDS"},
            },
            {
                "@type": "type.googleapis.com/envoy.admin.v3.RoutesConfigDump.DynamicRouteConfig",
                "route_config": {"name": "80", "virtual_hosts": [{"name": "vh", "domains": ["*"]}]},
            },
        ]
    }
    path = tmp_path / "resource.json"
    path.write_text(json.dumps(doc))
    out = pdebug("clusters", path).out.splitlines()
    assert [line.split()[2] for line in out[1:]] == ["-", "v1"]
    assert "vh" in pdebug("routes", path).out
