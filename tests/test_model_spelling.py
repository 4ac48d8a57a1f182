"""Key spelling per field: snake_case, lowerCamelCase and mixes, and protobuf json_name digits.

protojson reads either spelling of every field wherever it occurs; so does pdebug. The
camelCase renderings here are made by :func:`tests.harness.json_name`, the tests' own
implementation of protobuf's rule (not pdebug's code under test).
"""

from __future__ import annotations

import copy
import json
import random
import re
from pathlib import Path
from typing import Any

import pytest

from pdebug.errors import ExitCode
from pdebug.model import ProxyData
from pdebug.model.camel import DIGIT_FIELDS, to_camel, to_snake
from pdebug.model.load import load
from pdebug.views import listeners, routes
from tests import harness as eh
from tests.harness import FIXTURES, ISTIOCTL, camelize, json_name

SIDECAR = FIXTURES / "real" / "sidecar" / "config_dump.json"
WRITER_2020 = FIXTURES / "corpus" / "istio" / "2020-02-writer" / "configdump.json"


def test_json_name_rule_with_digits() -> None:
    for name in DIGIT_FIELDS:
        assert "_" in name and re.search(r"_\d", name)
        assert to_camel(name) == json_name(name)
        assert to_snake(json_name(name)) == name
    assert to_camel("http2_protocol_options") == "http2ProtocolOptions"
    assert to_snake("http2ProtocolOptions") == "http2_protocol_options"
    assert to_snake("enforcingConsecutive5xx") == "enforcing_consecutive_5xx"
    assert to_snake("traceId128bit") == "trace_id_128bit"


VIEWS = ("clusters", "listeners", "routes", "endpoints", "secrets", "bootstrap", "all")


@pytest.mark.parametrize("seed", range(3))
def test_any_mix_of_spellings_reads_like_snake_case(pdebug, tmp_path: Path, seed: int) -> None:
    """Each key camelCased or not at random: every view prints the snake_case tables."""
    mixed = camelize(json.loads(SIDECAR.read_bytes()), keep=0.5, rng=random.Random(seed))
    path = tmp_path / "mixed.json"
    path.write_text(json.dumps(mixed))
    for view in VIEWS:
        for fmt in ("table", "wide"):
            want = pdebug(view, SIDECAR, "-o", fmt)
            got = pdebug(view, path, "-o", fmt)
            assert (got.code, got.out) == (want.code, want.out), (view, fmt, got.err)
    check = pdebug("check", path, "-o", "json")
    want = pdebug("check", SIDECAR, "-o", "json")
    assert check.code == want.code
    diff = pdebug("diff", SIDECAR, path, "--include", "static,secrets,endpoints")
    assert diff.code == ExitCode.OK, diff.out


def test_planned_and_lazy_reads_agree_on_a_mixed_dump() -> None:
    doc = camelize(json.loads(SIDECAR.read_bytes()), keep=0.3, rng=random.Random(9))
    data = json.dumps(doc).encode()
    planned = load(data, "t", ("dynamic_active_clusters",)).dump
    lazy = load(data, "t").dump
    a = planned.cluster_entries("dynamic_active_clusters").items
    b = lazy.cluster_entries("dynamic_active_clusters").items
    assert [c.cluster.name for c in a] == [c.cluster.name for c in b]
    assert all(c.cluster.name for c in a)


def test_istioctl_2020_writer_dump_lists_its_listeners(pdebug) -> None:
    result = pdebug("listeners", WRITER_2020, "--no-verbose")
    assert result.code == 0, result.err
    ports = [line.split()[1] for line in result.out.splitlines()[1:]]
    assert ports == ["443", "8080", "8081", "8082"]
    dump = load(WRITER_2020.read_bytes(), "t").dump
    static = dump.route_entries("static_route_configs").items
    assert [e.route_config.name for e in static] == [
        "inbound|9080||productpage.default.svc.cluster.local"
    ]
    assert [v.name for v in static[0].route_config.virtual_hosts] == ["inbound|http|9080"]


def test_istioctl_2020_camel_pilot_dump_reads() -> None:
    path = ISTIOCTL / "proxy-status-diff/historical-2020/pilotconfigdump2020.json"
    proxy = ProxyData("p", load(path.read_bytes(), "p").dump)
    assert listeners.select(proxy, listeners.ListenerFilter(), False)
    assert routes.select(proxy, routes.RouteFilter())


# --- a real Envoy 1.40 dump vs its camelCase rendering ---------------------------------

_HCM = (
    "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3."
    "HttpConnectionManager"
)
_ROUTER = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
_HTTP_OPTS = "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
_ZIPKIN = "type.googleapis.com/envoy.config.trace.v3.ZipkinConfig"


def _digit_bootstrap(listener_port: int, upstream_port: int) -> dict[str, Any]:
    """Static resources using every Envoy API field with ``_<digit>`` in its name."""
    endpoint = {
        "lb_endpoints": [
            {
                "endpoint": {
                    "address": {
                        "socket_address": {"address": "127.0.0.1", "port_value": upstream_port}
                    }
                }
            }
        ]
    }
    cluster = {
        "name": "up",
        "type": "STATIC",
        "connect_timeout": "1s",
        "load_assignment": {"cluster_name": "up", "endpoints": [endpoint]},
        "outlier_detection": {
            "consecutive_5xx": 3,
            "enforcing_consecutive_5xx": 90,
            "consecutive_gateway_failure": 2,
            "interval": "5s",
        },
        "typed_extension_protocol_options": {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": _HTTP_OPTS,
                "explicit_http_config": {"http2_protocol_options": {"max_concurrent_streams": 64}},
            }
        },
    }
    hcm = {
        "@type": _HCM,
        "stat_prefix": "ingress",
        "proxy_100_continue": True,
        "http_protocol_options": {
            "accept_http_10": True,
            "default_host_for_http_10": "example.com",
            "ignore_http_11_upgrade": [{"exact": "h2c"}],
        },
        "path_normalization_options": {
            "forwarding_transformation": {"operations": [{"normalize_path_rfc_3986": {}}]}
        },
        "tracing": {
            "provider": {
                "name": "envoy.tracers.zipkin",
                "typed_config": {
                    "@type": _ZIPKIN,
                    "collector_cluster": "up",
                    "collector_endpoint": "/api/v2/spans",
                    "collector_endpoint_version": "HTTP_JSON",
                    "trace_id_128bit": True,
                },
            }
        },
        "route_config": {
            "name": "local",
            "virtual_hosts": [
                {
                    "name": "all",
                    "domains": ["*"],
                    "routes": [{"match": {"prefix": "/"}, "route": {"cluster": "up"}}],
                }
            ],
        },
        "http_filters": [{"name": "envoy.filters.http.router", "typed_config": {"@type": _ROUTER}}],
    }
    listener = {
        "name": "digits",
        "address": {"socket_address": {"address": "127.0.0.1", "port_value": listener_port}},
        "filter_chains": [
            {
                "filters": [
                    {"name": "envoy.filters.network.http_connection_manager", "typed_config": hcm}
                ]
            }
        ],
    }
    return {"static_resources": {"clusters": [cluster], "listeners": [listener]}}


@pytest.fixture(scope="module")
def digit_dump(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not eh.envoy_available():
        pytest.skip("no envoy binary")
    boot = _digit_bootstrap(eh.free_port(), eh.free_port())
    with eh.Envoy(boot) as envoy:
        dump = envoy.config_dump()
    path = tmp_path_factory.mktemp("digits") / "envoy.json"
    path.write_text(json.dumps(dump))
    return path


def test_envoy_writes_every_digit_field(digit_dump: Path) -> None:
    text = digit_dump.read_text()
    for name in DIGIT_FIELDS:
        assert f'"{name}"' in text, name
    assert '"http2_protocol_options"' in text


def test_real_envoy_dump_matches_its_camel_case_rendering(
    pdebug, digit_dump: Path, tmp_path: Path
) -> None:
    camel = camelize(json.loads(digit_dump.read_text()))
    text = json.dumps(camel)
    for name in DIGIT_FIELDS:
        assert f'"{json_name(name)}"' in text and f'"{name}"' not in text
    assert '"http2ProtocolOptions"' in text and '"consecutive5xx"' in text
    expected = tmp_path / "istiod.json"
    expected.write_text(text)
    result = pdebug("diff", digit_dump, "--expected", expected, "--include", "static")
    assert result.code == ExitCode.OK, result.out
    assert [line.split()[-1] for line in result.out.splitlines()[:3]] == ["Match"] * 3
    # and the other way round
    result = pdebug("diff", expected, "--expected", digit_dump, "--include", "static")
    assert result.code == ExitCode.OK, result.out


def test_a_real_change_in_a_digit_field_is_one_field(
    pdebug, digit_dump: Path, tmp_path: Path
) -> None:
    doc = camelize(json.loads(digit_dump.read_text()))
    changed = copy.deepcopy(doc)
    text = json.dumps(changed).replace('"consecutive5xx": 3', '"consecutive5xx": 4')
    expected = tmp_path / "istiod.json"
    expected.write_text(text)
    result = pdebug("diff", digit_dump, "--expected", expected, "--include", "static")
    assert result.code == ExitCode.FINDINGS, result.out
    fields = [line.strip() for line in result.out.splitlines() if ":" in line and "->" in line]
    assert fields == ["outlier_detection.consecutive_5xx: 4 -> 3"], result.out


@pytest.mark.parametrize("value", ["null", '"null"', "0", '"x"', "{}", "[]"])
def test_a_camel_key_with_any_value_is_read_not_dropped(value: str) -> None:
    """The snake_case decoder refuses a camelCase key whatever its value (even ``"null"``)."""
    doc = json.loads(SIDECAR.read_text())
    sec = next(c for c in doc["configs"] if c["@type"].endswith("ClustersConfigDump"))
    cluster = sec["dynamic_active_clusters"][3]["cluster"]
    name = cluster["name"]
    cluster.pop("lb_policy", None)
    cluster["lbPolicy"] = "@V@"
    data = json.dumps(doc).replace('"@V@"', value).encode()
    expected = {'"x"': "x", '"null"': "null", "null": ""}.get(value)
    for plan in ((), ("dynamic_active_clusters",)):
        dump = load(data, "t", plan).dump
        items = dump.cluster_entries("dynamic_active_clusters").items
        got = [e.cluster.lb_policy for e in items if e.cluster.name == name]
        # a value of the wrong type skips that one cluster (with a warning)
        assert got == ([] if expected is None else [expected]), (value, plan)
        assert len(items) == len(sec["dynamic_active_clusters"]) - (expected is None)


@pytest.mark.parametrize("keep", [0.0, 0.5])
def test_clusters_json_in_any_spelling(pdebug, tmp_path: Path, keep: float) -> None:
    clusters_json = FIXTURES / "real" / "sidecar" / "clusters.json"
    doc = camelize(json.loads(clusters_json.read_bytes()), keep=keep, rng=random.Random(3))
    path = tmp_path / "clusters.json"
    path.write_text(json.dumps(doc))
    for args in (
        ["endpoints", path],
        ["endpoints", SIDECAR, "--clusters-json", path, "-o", "wide"],
    ):
        want = pdebug(*[clusters_json if a == path else a for a in args])
        got = pdebug(*args)
        assert (got.code, got.out) == (want.code, want.out), got.err
