"""``--keys camel`` / ``$PDEBUG_KEYS``: json and yaml spelled as istioctl prints them.

istioctl marshals every resource with protojson (lowerCamelCase field names); runbooks
from istio.io pipe that into jq (``jq '.bootstrap.statsConfig'``). The opt-in makes
pdebug's structured output read the same; the default keeps the dump's spelling.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from tests import harness as eh

SIDECAR = eh.FIXTURES / "real/sidecar/config_dump.json"
HIGRESS = eh.FIXTURES / "corpus/higress/gateway-config_dump.json"  # Istio-based, stats_config

#: (view, istioctl's input, istioctl's golden output): the JSON/YAML goldens of istioctl pc.
GOLDENS = [
    (
        "bootstrap",
        "proxy-config-bootstrap/configdump.json",
        "proxy-config-bootstrap/bootstrapdump.json",
    ),
    ("ecds", "proxy-config-ecds/configdump.json", "proxy-config-ecds/output.json"),
    ("ecds", "proxy-config-ecds/configdump.json", "proxy-config-ecds/output.yaml"),
    ("eds", "proxy-config-eds/configdump.json", "proxy-config-eds/emptyfilter_output.json"),
    ("eds", "proxy-config-eds/configdump.json", "proxy-config-eds/emptyfilter_output.yaml"),
]


def _load(text: str, yaml_: bool) -> Any:
    return yaml.safe_load(text) if yaml_ else json.loads(text)


@pytest.mark.parametrize(("view", "given", "expected"), GOLDENS, ids=lambda x: str(x))
def test_istioctl_goldens_equal_as_data(pdebug, view: str, given: str, expected: str) -> None:
    """istioctl's own -o json|yaml goldens, equal as data: no respelling in the test."""
    yaml_ = expected.endswith(".yaml")
    out = pdebug(
        "pc", view, "-f", eh.ISTIOCTL / given, "-o", "yaml" if yaml_ else "json", "--keys", "camel"
    )
    assert out.code == 0, out.err
    want = _load((eh.ISTIOCTL / expected).read_text(), expected.endswith(".yaml"))
    assert _load(out.out, yaml_) == want


def _key_order(value: Any) -> Any:
    """Every mapping's keys in the order they were written, with its values' orders."""
    if isinstance(value, dict):
        return [(k, _key_order(v)) for k, v in value.items()]
    if isinstance(value, list):
        return [_key_order(v) for v in value]
    return None


@pytest.mark.parametrize(("view", "given", "expected"), GOLDENS, ids=lambda x: str(x))
def test_istioctl_yaml_keys_sorted_json_keys_as_dumped(
    pdebug, view: str, given: str, expected: str
) -> None:
    """istioctl's YAML writer sorts every mapping's keys (its goldens show it: ``@type``
    first, ``clusterName`` before ``endpoints``); its JSON keeps protojson's field order,
    which pdebug does not reproduce, so JSON keeps the dump's order."""
    out = pdebug("pc", view, "-f", eh.ISTIOCTL / given, "-o", "yaml", "--keys", "camel")
    assert out.code == 0, out.err
    got = _key_order(yaml.safe_load(out.out))
    if expected.endswith(".yaml"):
        assert got == _key_order(yaml.safe_load((eh.ISTIOCTL / expected).read_text()))
    # the dump's own order where not asked for istioctl's YAML
    as_json = pdebug("pc", view, "-f", eh.ISTIOCTL / given, "-o", "json", "--keys", "camel")
    assert _key_order(json.loads(as_json.out)) != got
    dump_yaml = pdebug("pc", view, "-f", eh.ISTIOCTL / given, "-o", "yaml")
    assert _key_order(yaml.safe_load(dump_yaml.out)) != got


def test_all_yaml_camel_streamed_equals_the_whole_document_sorted(pdebug) -> None:
    """Streamed ``all -o yaml --keys camel`` is, byte for byte, the decoded document
    respelled, key-sorted and printed whole."""
    from pdebug.model.camel import camel_keys
    from pdebug.render.gokeys import sorted_keys
    from pdebug.render.structured import render_yaml

    path = eh.ISTIOCTL / "proxy-config-all/config_dump.json"
    got = pdebug("all", path, "-o", "yaml", "--keys", "camel")
    assert got.code == 0, got.err
    assert got.out == render_yaml(sorted_keys(camel_keys(orjson.loads(path.read_bytes()))))
    assert got.out.startswith("configs:\n- '@type': ")


@pytest.mark.parametrize(
    ("keys", "want"),
    [
        (["name", "@type", "typedConfig"], ["@type", "name", "typedConfig"]),
        (["b", "B", "a"], ["B", "a", "b"]),
        (["a10", "a2", "a1"], ["a1", "a2", "a10"]),  # numbers as numbers
        (["a01", "a1"], ["a1", "a01"]),  # equal numbers: the shorter run first
        (["x.y", "x_y", "xy", "x"], ["x", "x.y", "x_y", "xy"]),  # a letter after the rest
        (["a_1", "a_"], ["a_", "a_1"]),  # a prefix first
        (["v10", "v9.x", "v0"], ["v0", "v9.x", "v10"]),
        (["inbound|80||", "outbound|8080||b", "outbound|443||a"], None),
    ],
)
def test_go_yaml_key_order(keys: list[str], want: list[str] | None) -> None:
    """sigs.k8s.io/yaml's key order (go-yaml v2): letters by code point, after any other
    character; digit runs as numbers."""
    from pdebug.render.gokeys import sorted_keys

    got = list(sorted_keys(dict.fromkeys(keys, 1)))
    if want is None:
        want = ["inbound|80||", "outbound|443||a", "outbound|8080||b"]
    assert got == want


def test_env_var_is_the_flag_for_runbooks(pdebug, monkeypatch: pytest.MonkeyPatch) -> None:
    """``PDEBUG_KEYS=camel``: jq '.bootstrap.statsConfig' and '.[].edsClusterConfig' read."""
    flag = pdebug("pc", "bootstrap", "-f", HIGRESS, "--keys", "camel")
    monkeypatch.setenv("PDEBUG_KEYS", "camel")
    env = pdebug("pc", "bootstrap", "-f", HIGRESS)
    assert env.out == flag.out
    boot = json.loads(env.out)["bootstrap"]
    assert "statsConfig" in boot and "stats_config" not in boot
    assert boot["node"]["metadata"]["ISTIO_VERSION"]  # a Struct's keys are data
    clusters = json.loads(pdebug("clusters", SIDECAR, "-o", "json").out)
    eds = [c for c in clusters if c.get("type") == "EDS"]
    assert eds and all("edsClusterConfig" in c for c in eds)
    # --keys beats the environment
    assert (
        "stats_config"
        in json.loads(pdebug("bootstrap", HIGRESS, "-o", "json", "--keys", "dump").out)["bootstrap"]
    )


def test_bad_spelling_is_a_usage_error(pdebug, monkeypatch: pytest.MonkeyPatch) -> None:
    out = pdebug("clusters", SIDECAR, "-o", "json", "--keys", "kebab")
    assert out.code == 2 and out.out == ""
    assert "unknown key spelling 'kebab'" in out.err and "Traceback" not in out.err
    monkeypatch.setenv("PDEBUG_KEYS", "Camel-Case")
    out = pdebug("clusters", SIDECAR)
    assert out.code == 2 and "PDEBUG_KEYS" in out.err


def test_tables_do_not_change(pdebug) -> None:
    assert pdebug("clusters", SIDECAR, "--keys", "camel").out == pdebug("clusters", SIDECAR).out


# --- what is a field name and what is data -------------------------------------------------

TYPED_STRUCT = "type.googleapis.com/udpa.type.v1.TypedStruct"
T = "type.googleapis.com/envoy."
CANARY = "outbound|9080|v1_canary|reviews.default.svc.cluster.local"


def _dump() -> dict[str, Any]:
    cluster = {
        "@type": T + "config.cluster.v3.Cluster",
        "name": "outbound|9080|v1_canary|reviews.default.svc.cluster.local",
        "type": "EDS",
        "eds_cluster_config": {"eds_config": {"ads": {}, "resource_api_version": "V3"}},
        "outlier_detection": {"consecutive_5xx": 5, "enforcing_consecutive_5xx": 100},
        "metadata": {
            "filter_metadata": {
                "istio": {"config": "/apis/x", "default_original_port": 9080},
                "envoy.lb": {"canary_version": "v1_canary"},
            },
            "typed_filter_metadata": {
                "my_ns": {"@type": "type.googleapis.com/x.Meta", "some_field": 1}
            },
        },
        "transport_socket_matches": [
            {
                "name": "tlsMode-istio",
                "match": {"tls_mode": "istio"},
                "transport_socket": {"name": "tls"},
            }
        ],
        "typed_extension_protocol_options": {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": T + "extensions.upstreams.http.v3.HttpProtocolOptions",
                "explicit_http_config": {"http2_protocol_options": {"max_concurrent_streams": 7}},
            }
        },
        "lb_subset_config": {
            "default_subset": {"app_version": "v1"},
            "subset_selectors": [{"keys": ["app_version"]}],
        },
    }
    hcm = {
        "@type": T + "extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": "inbound_0.0.0.0_9080",
        "rds": {"route_config_name": "9080", "config_source": {"ads": {}}},
        "access_log": [
            {
                "name": "envoy.access_loggers.file",
                "typed_config": {
                    "@type": T + "extensions.access_loggers.file.v3.FileAccessLog",
                    "log_format": {
                        "json_format": {
                            "upstream_host": "%UPSTREAM_HOST%",
                            "response_code": "%RESPONSE_CODE%",
                        }
                    },
                },
            }
        ],
        "http_filters": [
            {
                "name": "istio.stats",
                "typed_config": {
                    "@type": TYPED_STRUCT,
                    "type_url": "type.googleapis.com/stats.PluginConfig",
                    "value": {
                        "disable_host_header_fallback": True,
                        "metrics": [{"tags_to_remove": ["x"]}],
                    },
                },
            },
            {
                "name": "envoy.filters.http.rbac",
                "typed_config": {
                    "@type": T + "extensions.filters.http.rbac.v3.RBAC",
                    "rules": {
                        "policies": {
                            "ns[default]-policy[allow_get]-rule[0]": {
                                "permissions": [{"any": True}],
                                "principals": [{"any": True}],
                            }
                        }
                    },
                },
            },
        ],
    }
    listener = {
        "@type": T + "config.listener.v3.Listener",
        "name": "0.0.0.0_9080",
        "address": {"socket_address": {"address": "0.0.0.0", "port_value": 9080}},
        "filter_chains": [
            {
                "filters": [
                    {"name": "envoy.filters.network.http_connection_manager", "typed_config": hcm}
                ]
            }
        ],
    }
    route = {
        "@type": T + "config.route.v3.RouteConfiguration",
        "name": "9080",
        "virtual_hosts": [
            {
                "name": "reviews:9080",
                "domains": ["*"],
                "routes": [
                    {
                        "match": {"prefix": "/", "case_sensitive": True},
                        "route": {
                            "weighted_clusters": {
                                "clusters": [
                                    {
                                        "name": CANARY,
                                        "weight": 90,
                                        "request_headers_to_add": [
                                            {"header": {"key": "x_canary", "value": "1"}}
                                        ],
                                    }
                                ]
                            },
                            "metadata_match": {
                                "filter_metadata": {"envoy.lb": {"app_version": "v1"}}
                            },
                        },
                        "typed_per_filter_config": {
                            "envoy.filters.http.fault": {
                                "@type": T + "extensions.filters.http.fault.v3.HTTPFault",
                                "abort": {"http_status": 503, "percentage": {"numerator": 1}},
                            }
                        },
                    }
                ],
            }
        ],
    }
    return {
        "configs": [
            {
                "@type": T + "admin.v3.BootstrapConfigDump",
                "bootstrap": {
                    "node": {
                        "id": "sidecar~10.0.0.1~reviews-v1.default~default.svc.cluster.local",
                        "metadata": {"ISTIO_VERSION": "1.28.0", "custom_key": {"inner_key": 1}},
                        "user_agent_build_version": {"metadata": {"build.type": "RELEASE"}},
                    },
                    "stats_config": {"use_all_default_tags": False},
                    "layered_runtime": {
                        "layers": [
                            {
                                "name": "global",
                                "static_layer": {
                                    "re2.max_program_size.error_level": 1024,
                                    "some_key": 1,
                                },
                            }
                        ]
                    },
                },
            },
            {
                "@type": T + "admin.v3.ClustersConfigDump",
                "dynamic_active_clusters": [{"version_info": "1", "cluster": cluster}],
            },
            {
                "@type": T + "admin.v3.ListenersConfigDump",
                "dynamic_listeners": [
                    {"name": "0.0.0.0_9080", "active_state": {"listener": listener}}
                ],
            },
            {
                "@type": T + "admin.v3.RoutesConfigDump",
                "dynamic_route_configs": [{"version_info": "1", "route_config": route}],
            },
        ]
    }


@pytest.fixture
def handmade(tmp_path: Path) -> Path:
    path = tmp_path / "dump.json"
    path.write_text(json.dumps(_dump(), indent=1))
    return path


def test_field_names_respelled_data_kept(pdebug, handmade: Path) -> None:
    cl = json.loads(pdebug("clusters", handmade, "-o", "json", "--keys", "camel").out)[0]
    assert "@type" not in cl and cl["edsClusterConfig"]["edsConfig"]["resourceApiVersion"] == "V3"
    # protobuf's json_name: the character after "_" is upper-cased only when a letter
    assert cl["outlierDetection"] == {"consecutive5xx": 5, "enforcingConsecutive5xx": 100}
    meta = cl["metadata"]
    # map keys are data; a Struct (filter_metadata values) is kept whole
    assert meta["filterMetadata"] == {
        "istio": {"config": "/apis/x", "default_original_port": 9080},
        "envoy.lb": {"canary_version": "v1_canary"},
    }
    # typed_filter_metadata: map<string, Any>: keys kept, the Any's fields respelled
    assert meta["typedFilterMetadata"] == {
        "my_ns": {"@type": "type.googleapis.com/x.Meta", "someField": 1}
    }
    assert cl["transportSocketMatches"][0]["match"] == {"tls_mode": "istio"}  # a Struct
    opts = cl["typedExtensionProtocolOptions"][
        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
    ]
    assert opts["explicitHttpConfig"] == {"http2ProtocolOptions": {"maxConcurrentStreams": 7}}
    assert cl["lbSubsetConfig"] == {
        "defaultSubset": {"app_version": "v1"},
        "subsetSelectors": [{"keys": ["app_version"]}],
    }

    lis = json.loads(pdebug("listeners", handmade, "-o", "json", "--keys", "camel").out)[0]
    assert lis["address"] == {"socketAddress": {"address": "0.0.0.0", "portValue": 9080}}
    hcm = lis["filterChains"][0]["filters"][0]["typedConfig"]  # an Any's body is a message
    assert hcm["statPrefix"] == "inbound_0.0.0.0_9080" and hcm["rds"]["routeConfigName"] == "9080"
    log = hcm["accessLog"][0]["typedConfig"]["logFormat"]
    assert log == {
        "jsonFormat": {"upstream_host": "%UPSTREAM_HOST%", "response_code": "%RESPONSE_CODE%"}
    }
    stats, rbac = (f["typedConfig"] for f in hcm["httpFilters"])
    assert stats["typeUrl"] == "type.googleapis.com/stats.PluginConfig"
    assert stats["value"] == {
        "disable_host_header_fallback": True,
        "metrics": [{"tags_to_remove": ["x"]}],
    }
    assert list(rbac["rules"]["policies"]) == ["ns[default]-policy[allow_get]-rule[0]"]

    rc = json.loads(pdebug("routes", handmade, "-o", "json", "--keys", "camel").out)[0]
    r = rc["virtualHosts"][0]["routes"][0]
    assert r["match"] == {"prefix": "/", "caseSensitive": True}
    wc = r["route"]["weightedClusters"]["clusters"][0]
    assert wc["name"] == "outbound|9080|v1_canary|reviews.default.svc.cluster.local"
    assert wc["requestHeadersToAdd"] == [{"header": {"key": "x_canary", "value": "1"}}]
    assert r["route"]["metadataMatch"] == {"filterMetadata": {"envoy.lb": {"app_version": "v1"}}}
    fault = r["typedPerFilterConfig"]["envoy.filters.http.fault"]
    assert fault["abort"] == {"httpStatus": 503, "percentage": {"numerator": 1}}

    boot = json.loads(pdebug("bootstrap", handmade, "-o", "json", "--keys", "camel").out)[
        "bootstrap"
    ]
    assert boot["node"]["metadata"] == {"ISTIO_VERSION": "1.28.0", "custom_key": {"inner_key": 1}}
    assert boot["node"]["userAgentBuildVersion"] == {"metadata": {"build.type": "RELEASE"}}
    assert boot["statsConfig"] == {"useAllDefaultTags": False}
    assert boot["layeredRuntime"]["layers"][0]["staticLayer"] == {
        "re2.max_program_size.error_level": 1024,
        "some_key": 1,
    }


def test_all_streams_what_the_views_print(pdebug, handmade: Path) -> None:
    """``all -o json|yaml --keys camel``: each resource as its own view prints it."""
    doc = json.loads(pdebug("all", handmade, "-o", "json", "--keys", "camel").out)
    sections = {c["@type"].rsplit(".", 1)[1]: c for c in doc["configs"]}
    cl = json.loads(pdebug("clusters", handmade, "-o", "json", "--keys", "camel").out)[0]
    assert sections["ClustersConfigDump"]["dynamicActiveClusters"][0]["cluster"] == {
        "@type": T + "config.cluster.v3.Cluster",
        **cl,
    }
    assert sections["ClustersConfigDump"]["dynamicActiveClusters"][0]["versionInfo"] == "1"
    lis = json.loads(pdebug("listeners", handmade, "-o", "json", "--keys", "camel").out)[0]
    got = sections["ListenersConfigDump"]["dynamicListeners"][0]["activeState"]["listener"]
    assert got == {"@type": T + "config.listener.v3.Listener", **lis}
    boot = json.loads(pdebug("bootstrap", handmade, "-o", "json", "--keys", "camel").out)
    assert sections["BootstrapConfigDump"]["bootstrap"] == boot["bootstrap"]
    as_yaml = yaml.safe_load(pdebug("all", handmade, "-o", "yaml", "--keys", "camel").out)
    assert as_yaml == doc


CORPUS = [
    SIDECAR,
    eh.FIXTURES / "corpus/osm/sample-envoy-config-dump-bookstore.json",  # private keys
    eh.ISTIOCTL / "proxy-config-all/config_dump.json",
    eh.ISTIOCTL / "proxy-config-secret/istio/config_dump.json",
    eh.FIXTURES / "corpus/istio/2020-02-writer/configdump.json",  # camel and snake mixed
    eh.ISTIOCTL / "proxy-status-diff/historical-2020/pilotconfigdump2020.json",  # istiod's
]


@pytest.mark.parametrize("path", [p for p in CORPUS if p.exists()], ids=lambda p: p.name)
def test_all_streamed_equals_the_whole_document_respelled(pdebug, path: Path) -> None:
    """The streamed ``all -o json --keys camel`` is, byte for byte, the decoded document
    respelled and printed whole (redaction included)."""
    from pdebug.model.camel import camel_keys
    from pdebug.render.structured import render_json

    got = pdebug("all", path, "-o", "json", "--keys", "camel")
    assert got.code == 0, got.err
    assert got.out == render_json(camel_keys(orjson.loads(path.read_bytes())))
    # no proto field name is left in snake_case (these are in every one of these dumps;
    # a v2 filter's `config` Struct keeps its keys, as protojson keeps a Struct's)
    for name in ("version_info", "last_updated", "filter_chains", "private_key"):
        assert f'"{name}":' not in got.out


@pytest.mark.parametrize("path", [p for p in CORPUS if p.exists()], ids=lambda p: p.name)
def test_one_pass_respell_and_sort_is_the_two_passes(path: Path) -> None:
    """``-o yaml --keys camel`` respells and sorts in one pass: the same data, same order."""
    from pdebug.model.camel import camel_keys
    from pdebug.render.gokeys import camel_sorted, sorted_keys

    doc = orjson.loads(path.read_bytes())
    doc["extra"] = {"x_y": {"b_c": 1, "a": 2}, "xY": [{"z_1": 1, "z1": 2}]}  # colliding
    assert orjson.dumps(camel_sorted(doc)) == orjson.dumps(sorted_keys(camel_keys(doc)))
