"""Envoy dumps from other eras and meshes (sweep6): what pdebug says must be what they hold."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests import harness as eh
from tests.harness import FIXTURES

#: an Istio sidecar of 2019 talking to Traffic Director: every cluster and listener warming
TD_WARMING = FIXTURES / "corpus/handmade/istio-2019-trafficdirector-warming-v2alpha.json"


def test_an_empty_table_says_the_warming_clusters_it_leaves_out(pdebug):
    # it said only "No clusters found." over 4 clusters waiting for EDS
    result = pdebug("clusters", TD_WARMING)
    assert result.code == 0
    assert result.out == ""
    assert result.err.startswith("No clusters found: 4 warming (received, not serving yet)")
    assert "-o wide lists them" in result.err
    wide = pdebug("clusters", TD_WARMING, "-o", "wide")
    assert wide.out.count(" WARMING ") == 4


def test_an_empty_table_says_the_warming_listeners_it_leaves_out(pdebug):
    # it said only "No listeners found." over the warming 15001 interception listener
    for args in ((), ("-o", "short")):
        result = pdebug("listeners", TD_WARMING, *args)
        assert result.code == 0
        assert result.out == ""
        assert result.err.startswith("No listeners found: 1 warming (not serving)")
    assert "No listeners match the filter." in pdebug("listeners", TD_WARMING, "--port", "1").err


# --------------------------------------------------------------------------- URI templates
_TEMPLATE_TYPE = (
    "type.googleapis.com/envoy.extensions.path.match.uri_template.v3.UriTemplateMatchConfig"
)


def _template_route(name: str, template: str, camel: bool = False) -> dict[str, Any]:
    config = {"@type": _TEMPLATE_TYPE, ("pathTemplate" if camel else "path_template"): template}
    policy = {"name": "envoy.path.match.uri_template.uri_template_matcher"}
    policy["typedConfig" if camel else "typed_config"] = config
    body = {"status": 200, "body": {"inline_string": name}}
    key = "pathMatchPolicy" if camel else "path_match_policy"
    return {"name": name, "match": {key: policy}, "direct_response": body}


def _routes_dump(tmp_path: Path, routes: list[dict[str, Any]]) -> Path:
    vhost = {"name": "t", "domains": ["*"], "routes": routes}
    hcm = {
        "@type": "type.googleapis.com/envoy.extensions.filters.network"
        ".http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": "x",
        "route_config": {"name": "rc", "virtual_hosts": [vhost]},
    }
    listener = {
        "name": "l",
        "address": {"socket_address": {"address": "127.0.0.1", "port_value": 8000}},
        "filter_chains": [
            {
                "filters": [
                    {"name": "envoy.filters.network.http_connection_manager", "typed_config": hcm}
                ]
            }
        ],
    }
    dump = {
        "configs": [
            {
                "@type": "type.googleapis.com/envoy.admin.v3.ListenersConfigDump",
                "static_listeners": [{"listener": listener}],
            }
        ]
    }
    path = tmp_path / "dump.json"
    path.write_text(json.dumps(dump))
    return path


#: (path, route Envoy 1.40 answered with) for the routes of _TEMPLATES, each checked by
#: sending the request to a real Envoy with this route config (direct responses naming
#: the route); "last" is the catch-all prefix "/" after them.
_TEMPLATES = [("t1", "/t/{id}/x"), ("t2", "/s/*/y/**"), ("t3", "/v/{rest=**}.m3u8")]
_TEMPLATES += [("t4", "/w/{a=x/*}/{b}"), ("t5", "/z/**")]
_ENVOY_ANSWERS = [
    ("/t/42/x", "t1"), ("/t/42/x?q=1", "t1"), ("/t//x", "last"), ("/t/a/b/x", "last"),
    ("/T/42/x", "last"), ("/t/a%20b/x", "t1"), ("/t/a:b@c/x", "t1"), ("/s/a/y/", "t2"),
    ("/s/a/y", "last"), ("/s/a/y/b/c", "t2"), ("/s/a/y/b.c", "t2"), ("/v/a/b.m3u8", "t3"),
    ("/v/.m3u8", "t3"), ("/v/a.mp4", "last"), ("/w/x/1/2", "t4"), ("/w/y/1/2", "last"),
    ("/w/x/1/2/3", "last"), ("/z", "last"), ("/z/", "t5"), ("/z/a/b", "t5"),
]  # fmt: skip


@pytest.mark.parametrize("camel", [False, True])
def test_trace_evaluates_uri_template_routes_as_envoy(pdebug, tmp_path: Path, camel: bool):
    # a path_match_policy route was "not evaluated (taken as not matching)", so the trace
    # went on to a later route and said OK for a route Envoy never takes
    routes = [_template_route(n, t, camel) for n, t in _TEMPLATES]
    routes.append({"name": "last", "match": {"prefix": "/"}, "direct_response": {"status": 200}})
    dump = _routes_dump(tmp_path, routes)
    for path, want in _ENVOY_ANSWERS:
        result = pdebug("trace", dump, f"http://x:8000{path}", "-H", "Host:x", "-o", "json")
        assert result.code == 0, (path, result.err)
        doc = json.loads(result.out)
        taken = [st["name"] for st in doc["steps"] if st["kind"] == "route" and st["matched"]]
        assert taken == [want], path
        assert doc["notes"] == [], path


def _rewrite_route(prefix: str, regex: str, substitution: str) -> dict[str, Any]:
    rewrite = {"pattern": {"regex": regex}, "substitution": substitution}
    return {"match": {"prefix": prefix}, "redirect": {"regex_rewrite": rewrite}}


#: (path, the Location Envoy 1.40 answered with), sent to a real Envoy with these routes
_REWRITES = [
    _rewrite_route("/rx/", r"^/rx/(\d+)/(.*)$", r"/v2/\2/\1"),
    _rewrite_route("/all/", "one", "two"),
    _rewrite_route("/zero/", "[a-c]+", r"<\0>"),
    _rewrite_route("/none/", "qqq", "x"),
]
_ENVOY_LOCATIONS = [
    ("/rx/12/abc?k=v", "http://a.com/v2/abc/12?k=v"),
    ("/all/one/x/one?one=1", "http://a.com/all/two/x/two?one=1"),
    ("/zero/abc/xbz", "http://a.com/zero/<abc>/x<b>z"),
    ("/none/a", "http://a.com/none/a"),
]


def test_trace_applies_a_redirect_regex_rewrite_as_envoy(pdebug, tmp_path: Path):
    # the Location kept the request's path, with a note "regex_rewrite not applied"
    dump = _routes_dump(tmp_path, _REWRITES)
    for path, want in _ENVOY_LOCATIONS:
        result = pdebug("trace", dump, f"http://x:8000{path}", "-H", "Host:a.com", "-o", "json")
        assert result.code == 0, (path, result.err)
        doc = json.loads(result.out)
        assert (doc["verdict"]["status"], doc["verdict"]["location"]) == (301, want), path
        assert doc["notes"] == [], path


def _direct(name: str, match: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "match": match, "direct_response": {"status": 200}}


def _hcm_dump(tmp_path: Path, routes: list[dict[str, Any]], **hcm: Any) -> Path:
    path = _routes_dump(tmp_path, routes)
    doc = json.loads(path.read_text())
    listener = doc["configs"][0]["static_listeners"][0]["listener"]
    listener["filter_chains"][0]["filters"][0]["typed_config"].update(hcm)
    path.write_text(json.dumps(doc))
    return path


#: (path, route Envoy 1.40 took) with normalize_path on, sent to a real Envoy
_NORMALIZED = [
    ("/%61/b", "ab"), ("/a/%62", "ab"), ("/%7e/b", "tl"), ("/%7E/b", "tl"),
    ("/%2e%2e/a/b", "ab"), ("/a/b/.%2e/b", "ab"), ("/a\\b", "ab"), ("/%41/b", "d1"),
    ("/%3a/b", "d1"), ("/%3A/b", "pc"), ("/%20/b", "sp"), ("/a%5Cb", "d1"), ("/a/%zz", "d1"),
]  # fmt: skip


def test_normalize_path_decodes_unreserved_escapes_and_backslashes_as_envoy(pdebug, tmp_path):
    # the trace removed dot segments only: /%61/b and /%2e%2e/a/b missed the route /a/b
    routes = [
        _direct("ab", {"path": "/a/b"}),
        _direct("tl", {"path": "/~/b"}),
        _direct("pc", {"path": "/%3A/b"}),
        _direct("sp", {"path": "/%20/b"}),
        _direct("d1", {"prefix": "/"}),
    ]
    dump = _hcm_dump(tmp_path, routes, normalize_path=True)
    for path, want in _NORMALIZED:
        result = pdebug("trace", dump, f"http://x:8000{path}", "-H", "Host:x", "-o", "json")
        assert result.code == 0, (path, result.err)
        doc = json.loads(result.out)
        taken = [st["name"] for st in doc["steps"] if st["kind"] == "route" and st["matched"]]
        assert taken == [want], path


def test_a_legacy_config_struct_in_camel_case_takes_one_object_for_a_list(pdebug, tmp_path):
    # Istio 1.1's prometheus listener (fixtures/corpus/istio/2019-04-echo) wrote
    # "http_filters": {"name": "envoy.router"} in its v2 config Struct; spelled
    # "httpFilters" (protojson), the row said "unexpected value (Expected `array | null`)"
    # and check could not run PD103/PD104
    hcm = {
        "codecType": "AUTO",
        "httpFilters": {"name": "envoy.router"},
        "statPrefix": "stats",
        "routeConfig": {
            "virtualHosts": [
                {
                    "domains": ["*"],
                    "name": "backend",
                    "routes": [
                        {"route": {"cluster": "prometheus_stats"}, "match": {"prefix": "/stats"}}
                    ],
                }
            ]
        },
    }
    listener = {
        "address": {"socketAddress": {"address": "0.0.0.0", "portValue": 15090}},
        "filterChains": [{"filters": [{"name": "envoy.http_connection_manager", "config": hcm}]}],
    }
    doc = {
        "configs": [
            {
                "@type": "type.googleapis.com/envoy.admin.v2alpha.ListenersConfigDump",
                "staticListeners": [{"listener": listener}],
            }
        ]
    }
    path = tmp_path / "dump.json"
    path.write_text(json.dumps(doc))
    result = pdebug("listeners", path)
    assert result.code == 0, result.err
    assert result.out.splitlines()[1].split() == [
        "0.0.0.0",
        "15090",
        "ALL",
        "Inline",
        "Route:",
        "/stats*",
    ]
    check = pdebug("check", path)
    assert "Could not run" not in check.out + check.err


# --------------------------------------------------------------------------- scoped routes
def _scope_rc(name: str) -> dict[str, Any]:
    route = {
        "match": {"prefix": "/"},
        "direct_response": {"status": 200, "body": {"inline_string": name}},
    }
    return {
        "name": name,
        "virtual_hosts": [{"name": "v-" + name, "domains": ["*"], "routes": [route]}],
    }


_SCOPE_KEYS = {
    "s1": ["one", "v1", "c"],
    "s2": ["two", "", "c"],
    "s3": ["", "v1", "c"],
    "s4": ["one", "v1", ""],
}
_KEY_BUILDER = [
    {"header_value_extractor": {"name": "x-a", "element_separator": ";", "index": 1}},
    {
        "header_value_extractor": {
            "name": "x-b",
            "element_separator": ";",
            "element": {"separator": "=", "key": "k"},
        }
    },
    {"header_value_extractor": {"name": "x-c", "index": 0}},
]
#: (headers, what Envoy 1.40 answered: the scope's route config, or 404) with these
#: scopes and key builder, each sent to a real Envoy
_ENVOY_SCOPES = [
    ({"x-a": "zero;one", "x-b": "k=v1", "x-c": "c"}, "rc-s1"),
    ({"x-a": "zero;two;three", "x-b": "a=1;k", "x-c": "c"}, "rc-s2"),
    ({"x-a": "zero;two;three", "x-b": "a=1;k=", "x-c": "c"}, "rc-s2"),
    ({"x-a": "zero;", "x-b": "k=v1", "x-c": "c"}, "rc-s3"),
    ({"x-a": "zero", "x-b": "k=v1", "x-c": "c"}, 404),
    ({"x-a": "zero;one", "x-b": "k=v1;k=v2", "x-c": "c"}, "rc-s1"),
    ({"x-a": "zero;one", "x-b": "j=1;;k=v1=z", "x-c": "c"}, 404),
    ({"x-a": "zero;one", "x-b": "k=v1", "x-c": ""}, "rc-s4"),
    ({"x-a": "zero;one", "x-b": "k=v1"}, 404),
    ({"x-a": "zero; one", "x-b": "k=v1", "x-c": "c"}, 404),
    ({"x-a": "ZERO;ONE", "x-b": "K=v1", "x-c": "c"}, 404),
]


def _scoped_dump(tmp_path: Path, dynamic: bool) -> Path:
    scope_type = "type.googleapis.com/envoy.config.route.v3.ScopedRouteConfiguration"
    scopes = []
    for name, key in _SCOPE_KEYS.items():
        scope: dict[str, Any] = {
            "name": name,
            "key": {"fragments": [{"string_key": k} for k in key]},
        }
        if dynamic:
            scope.update({"@type": scope_type, "route_configuration_name": "rc-" + name})
        else:
            scope["route_configuration"] = _scope_rc("rc-" + name)
        scopes.append(scope)
    sr: dict[str, Any] = {"name": "sr", "scope_key_builder": {"fragments": _KEY_BUILDER}}
    if dynamic:
        sr["scoped_rds"] = {"scoped_rds_config_source": {"ads": {}}}
        sr["rds_config_source"] = {"ads": {}}
    else:
        sr["scoped_route_configurations_list"] = {"scoped_route_configurations": scopes}
    path = _routes_dump(tmp_path, [])
    doc = json.loads(path.read_text())
    hcm = doc["configs"][0]["static_listeners"][0]["listener"]["filter_chains"][0]["filters"][0]
    del hcm["typed_config"]["route_config"]
    hcm["typed_config"]["scoped_routes"] = sr
    admin = "type.googleapis.com/envoy.admin.v3."
    group = {"name": "sr", "scoped_route_configs": scopes}
    if dynamic:
        doc["configs"].append(
            {"@type": admin + "ScopedRoutesConfigDump", "dynamic_scoped_route_configs": [group]}
        )
        rcs = [{"route_config": {"@type": "x", **_scope_rc("rc-" + n)}} for n in _SCOPE_KEYS]
        doc["configs"].append({"@type": admin + "RoutesConfigDump", "dynamic_route_configs": rcs})
    else:  # what Envoy 1.40 writes for an inline list (the route configs inside)
        doc["configs"].append(
            {"@type": admin + "ScopedRoutesConfigDump", "inline_scoped_route_configs": [group]}
        )
    path.write_text(json.dumps(doc))
    return path


@pytest.mark.parametrize("dynamic", [False, True], ids=["inline", "srds"])
def test_trace_follows_scoped_routes_as_envoy(pdebug, tmp_path: Path, dynamic: bool):
    # every request through scoped routes was "UNKNOWN: scoped routes (SRDS): pdebug does
    # not follow them" (exit 6)
    dump = _scoped_dump(tmp_path, dynamic)
    for headers, want in _ENVOY_SCOPES:
        args = [a for k, v in headers.items() for a in ("-H", f"{k}:{v}")]
        result = pdebug("trace", dump, "http://x:8000/", "-H", "Host:x", *args, "-o", "json")
        verdict = json.loads(result.out)["verdict"]
        if want == 404:
            assert (result.code, verdict["status"]) == (1, 404), headers
        else:
            assert result.code == 0, (headers, result.out)
            assert verdict["summary"] == f"200 from Envoy (direct_response): '{want}'", headers


def test_trace_says_unknown_for_a_scope_key_builder_of_another_envoy_build(pdebug):
    # Higress's Envoy builds scope keys from the local port and the host: not upstream's
    dump = FIXTURES / "corpus/higress/gateway-config_dump.json"
    result = pdebug("trace", dump, "http://foo.com:80/")
    assert result.code == 6
    assert "does not evaluate fragment builder local_port_value_extractor" in result.out


def test_diff_says_a_cluster_only_on_one_side_is_warming_on_the_other(pdebug, tmp_path: Path):
    # "+ NAME: only in after.json" read as if the cluster were new, while before.json held
    # it, still warming (the 2019 Traffic Director dump, then its clusters active)
    doc = json.loads(TD_WARMING.read_text())
    clusters = doc["configs"][1]
    clusters["dynamic_active_clusters"] = clusters.pop("dynamic_warming_clusters")[:3]
    after = tmp_path / "after.json"
    after.write_text(json.dumps(doc))
    result = pdebug("diff", TD_WARMING, after)
    assert result.code == 1
    name = "cloud-internal-istio-staging:cloud_mp_987637929440_2779893103235860842"
    assert f"  + {name}: only in {after}" in result.out
    assert f"  ! {name}: warming in {TD_WARMING} (received, not active yet;" in result.out
    back = json.loads(pdebug("diff", after, TD_WARMING, "-o", "json").out)
    notes = back["kinds"][0]["notes"]
    assert len(notes) == 3 and all(f"warming in {TD_WARMING}" in n for n in notes)


# --------------------------------------------------------------------------- old live Envoy
def test_a_live_envoy_without_json_clusters_is_checked_and_traced_from_its_dump(pdebug):
    # check and trace of a live Envoy 1.7 stopped at exit 4 ("this is the text GET
    # /clusters ... save GET /clusters?format=json instead"), though they need its dump
    with eh.OldEnvoyAdmin() as admin:
        check = pdebug("check", admin.url)
        assert check.code == 0, check.err
        assert "answered in text (an Envoy older than 1.8 has no JSON /clusters)" in check.err
        assert "No findings" in check.out
        trace = pdebug("trace", admin.url, "http://127.0.0.1:19000/")
        assert trace.code == 1 and "VERDICT: FAIL, connection refused" in trace.out
        endpoints = pdebug("endpoints", admin.url)
        assert endpoints.code == 4
        assert "Envoy 1.8 and later" in endpoints.err


# --------------------------------------------------------------------------- no include_eds
ECHO_2019 = FIXTURES / "corpus/istio/2019-04-echo/echo-2019-v2alpha.json"  # Envoy 1.10
CONSUL_114 = FIXTURES / "corpus/handmade/consul-1.7-envoy-1.14-splitter.json"  # v3 admin types
KUMA_119 = FIXTURES / "corpus/kuma/full_config.json"  # Envoy 1.19: include_eds exists


@pytest.mark.parametrize("dump", [ECHO_2019, CONSUL_114], ids=["v2alpha", "envoy-1.14"])
def test_an_envoy_before_1_15_is_not_told_to_capture_include_eds(pdebug, dump: Path):
    # Envoy added ?include_eds (EndpointsConfigDump) in 1.15: "capture with EDS
    # (config_dump?include_eds)" cannot be done on these proxies
    endpoints = pdebug("endpoints", dump)
    assert endpoints.code == 4
    assert "hint: this Envoy (older than 1.15) cannot put EDS in its config dump" in endpoints.err
    assert "include_eds" not in endpoints.err.split("hint:", 1)[1]
    eds = pdebug("eds", dump)
    assert eds.code == 4
    assert "hint: this Envoy (older than 1.15) cannot put EDS in its config dump" in eds.err
    assert "include_eds" not in eds.err.split("hint:", 1)[1]


def test_trace_of_an_envoy_before_1_15_asks_for_clusters_json_only(pdebug):
    result = pdebug("trace", ECHO_2019, "http://b.apps-1-99281:80/")
    assert result.code == 6
    verdict = result.out.split("VERDICT:", 1)[1]
    assert "this Envoy (older than 1.15) cannot put EDS in its config dump" in verdict
    assert "include_eds" not in verdict


def test_an_envoy_since_1_15_is_still_told_to_capture_include_eds(pdebug):
    endpoints = pdebug("endpoints", KUMA_119)
    assert "hint: capture with EDS (config_dump?include_eds)" in endpoints.err


@pytest.mark.parametrize("suffix", ["json", "yaml"])
@pytest.mark.parametrize("key", ["static_resources", "dynamicResources"])
def test_an_envoy_bootstrap_is_named_as_such(pdebug, tmp_path: Path, suffix: str, key: str):
    # an envoy.yaml/bootstrap JSON (Contour's envoy.json, a demo's envoy.yaml) said only
    # "not an Envoy config dump (no 'configs' list)" or "YAML without a 'configs' list"
    import yaml

    boot = {"admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 9001}}}}
    boot[key] = {"clusters": [{"name": "contour", "type": "STRICT_DNS"}]}
    path = tmp_path / f"envoy.{suffix}"
    path.write_text(json.dumps(boot) if suffix == "json" else yaml.safe_dump(boot))
    for view in ("clusters", "listeners", "check"):
        result = pdebug(view, path)
        assert result.code == 4
        assert f"{path}: this is an Envoy bootstrap (the config Envoy starts from)" in result.err
        assert "hint: start Envoy with it, then save GET /config_dump" in result.err


def _fraction_route(
    name: str, prefix: str, default: dict[str, Any], key: str = ""
) -> dict[str, Any]:
    fraction: dict[str, Any] = {"default_value": default}
    if key:
        fraction["runtime_key"] = key
    return _direct(name, {"prefix": prefix, "runtime_fraction": fraction})


def test_trace_takes_runtime_fraction_by_its_default_as_envoy(pdebug, tmp_path: Path):
    # every runtime_fraction route was "taken as matching": a route at 0% (Envoy never
    # takes it while no runtime layer sets its key) was the trace's answer
    routes = [
        _fraction_route("zero", "/z", {"numerator": 0, "denominator": "HUNDRED"}, "routing.z"),
        _fraction_route("full", "/f", {"numerator": 100}, "routing.f"),
        _fraction_route("million", "/m", {"numerator": 1000000, "denominator": "MILLION"}),
        _fraction_route("nokey", "/n", {}),
        _fraction_route("half", "/h", {"numerator": 50}, "routing.h"),
        _direct("last", {"prefix": "/"}),
    ]
    dump = _routes_dump(tmp_path, routes)
    # what Envoy 1.40 answered with these routes and no runtime layer setting the keys
    for path, want in (("/z", "last"), ("/f", "full"), ("/m", "million"), ("/n", "last")):
        result = pdebug("trace", dump, f"http://x:8000{path}", "-H", "Host:x", "-o", "json")
        doc = json.loads(result.out)
        taken = [st["name"] for st in doc["steps"] if st["kind"] == "route" and st["matched"]]
        assert taken == [want], path
    zero = json.loads(pdebug("trace", dump, "http://x:8000/z", "-H", "Host:x", "-o", "json").out)
    assert zero["notes"] == [
        "route zero: runtime_fraction 0% by default (unless runtime key routing.z is set)"
    ]
    half = json.loads(pdebug("trace", dump, "http://x:8000/h", "-H", "Host:x", "-o", "json").out)
    assert half["notes"] == [
        "route half: runtime_fraction 50% by default (unless runtime key routing.h is set)"
        " (taken as matching)"
    ]


def test_hostile_scopes_and_templates_are_not_internal_errors(pdebug, tmp_path: Path):
    # a ScopedRoutes section whose list is a number, a template nested 3000 levels deep
    dump = _scoped_dump(tmp_path, dynamic=True)
    doc = json.loads(dump.read_text())
    doc["configs"][1]["dynamic_scoped_route_configs"] = 5
    dump.write_text(json.dumps(doc))
    headers = ["-H", "x-a:zero;one", "-H", "x-b:k=v1", "-H", "x-c:c"]
    result = pdebug("trace", dump, "http://x:8000/", "-H", "Host:x", *headers)
    assert result.code == 6, result.err
    assert "scoped routes sr: the dump has no scopes for it" in result.out
    deep = _routes_dump(tmp_path, [_template_route("t", "/" + "{a=" * 3000 + "*" + "}" * 3000)])
    result = pdebug("trace", deep, "http://x:8000/x", "-H", "Host:x")
    assert result.code == 1, result.err


@pytest.mark.parametrize(
    ("body", "says"),
    [
        # AWS App Mesh's Envoy, as its how-to shows it (GET /listeners)
        (
            "lds_ingress_0.0.0.0_15000::0.0.0.0:15000\nlds_egress_0.0.0.0_15001::0.0.0.0:15001\n",
            "this is the text GET /listeners (starts with 'lds_ingress_0.0.0.0_15000::",
        ),
        ("virtualOutbound::[::]:15001\n", "this is the text GET /listeners"),
        (
            '{"listener_statuses": [{"name": "l", "local_address": {}}]}',
            "this is Envoy's GET /listeners?format=json (names and addresses only)",
        ),
        ("version_info::abc\nx::1.2.3.4:80::cx_active::0\n", "this is the text GET /clusters"),
        ("x::1.2.3.4:80::cx_active::0\n", "this is the text GET /clusters"),
    ],
)
def test_envoy_listeners_answers_are_named_as_such(pdebug, tmp_path: Path, body: str, says: str):
    # the text /listeners was called "the text GET /clusters"; its JSON "not an Envoy
    # config dump (no 'configs' list)"
    path = tmp_path / "answer.txt"
    path.write_text(body)
    result = pdebug("listeners", path)
    assert result.code == 4
    assert f"{path}: {says}" in result.err


def test_envoy_certs_answer_is_not_taken_for_a_ztunnel_dump(pdebug, tmp_path: Path):
    # Envoy's GET /certs ({"certificates": [{"ca_cert": [...], "cert_chain": [...]}]})
    # was "a ztunnel config dump", and pdebug check ran ztunnel's checks on it:
    # "PD701 ztunnel holds no usable certificate: no state"
    item = {"path": "<inline>", "serial_number": "2", "days_until_expiration": "0"}
    path = tmp_path / "certs.json"
    path.write_text(json.dumps({"certificates": [{"ca_cert": [item], "cert_chain": [item]}]}))
    for view in ("secrets", "check"):
        result = pdebug(view, path)
        assert result.code == 4
        assert (
            "this is Envoy's GET /certs (the certificates it holds, not its config)" in result.err
        )
        assert "PD701" not in result.out
    ztunnel = FIXTURES / "corpus/ztunnel/2023-05/dump.json"  # entries with ca_cert too
    assert "ztunnel" in pdebug("secrets", ztunnel).err


def test_envoy_server_info_is_named_as_such(pdebug):
    # a bundle's server_info.json given as the dump: "not an Envoy config dump (no
    # 'configs' list)"
    path = FIXTURES / "real/sidecar/server_info.json"  # Envoy 1.40's own answer
    result = pdebug("clusters", path)
    assert result.code == 4
    assert f"{path}: this is Envoy's GET /server_info (its version and options)" in result.err


def test_a_redirect_prefix_rewrite_after_an_exact_path_replaces_the_path(pdebug, tmp_path: Path):
    # the Location kept /ex: prefix_rewrite was applied only after prefix matches
    routes = [
        {"match": {"path": "/ex"}, "redirect": {"prefix_rewrite": "/fresh"}},
        {"match": {"path_separated_prefix": "/old"}, "redirect": {"prefix_rewrite": "/new"}},
    ]
    dump = _routes_dump(tmp_path, routes)
    # what Envoy 1.40 answered
    for path, want in (("/ex?z", "http://a/fresh?z"), ("/old/x?q=1", "http://a/new/x?q=1")):
        result = pdebug("trace", dump, f"http://x:8000{path}", "-H", "Host:a", "-o", "json")
        assert json.loads(result.out)["verdict"]["location"] == want, path


def test_a_grpc_route_match_takes_only_what_envoy_calls_grpc(pdebug, tmp_path: Path):
    # any content-type starting "application/grpc" matched, grpc-web included
    dump = _routes_dump(
        tmp_path, [_direct("grpc", {"prefix": "/", "grpc": {}}), _direct("last", {"prefix": "/"})]
    )
    # what Envoy 1.40 took for each content-type (a POST to a real Envoy with these routes)
    envoy = {
        "application/grpc": "grpc",
        "application/grpc+proto": "grpc",
        "application/grpc-web": "last",
        "application/grpc-web+proto": "last",
        "application/grpc;charset=x": "last",
        "application/grpcx": "last",
        "Application/GRPC": "last",
    }
    for ctype, want in envoy.items():
        args = ("-X", "POST", "-H", f"content-type:{ctype}", "-o", "json")
        result = pdebug("trace", dump, "http://x:8000/", "-H", "Host:a", *args)
        doc = json.loads(result.out)
        taken = [st["name"] for st in doc["steps"] if st["kind"] == "route" and st["matched"]]
        assert taken == [want], ctype
