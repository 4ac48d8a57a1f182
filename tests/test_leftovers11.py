"""Small things the twelfth session left (leftovers11).

* A bug report whose two istiod replicas share a pod name in two namespaces (two control
  planes captured in one report) kept the first replica's sync status and dropped the
  other's without a word: both are now read, named ``POD.NAMESPACE``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pdebug.errors import ExitCode
from tests import harness as eh
from tests.harness import bugreport as br
from tests.test_leftovers10 import authz_variants  # noqa: F401  (a fixture, reused)

SYNCZ = (
    eh.ISTIOCTL / "proxy-status" / "legacy-http-syncz" / "http_syncz_multi_pilot.reconstructed.json"
)
DUMP = (eh.ISTIOCTL / "proxy-config-all" / "config_dump.json").read_bytes()


def _same_pod_in_two_namespaces() -> list[tuple[str, bytes]]:
    """istioctl's multi-replica sync status, its first two replicas both called ``istiod-0``."""
    replicas = list(json.loads(SYNCZ.read_bytes()).values())
    istiod = {
        ("istio-system", "istiod-0"): {"debug/syncz": json.dumps(replicas[0]).encode()},
        ("istio-canary", "istiod-0"): {"debug/syncz": json.dumps(replicas[1]).encode()},
        ("istio-system", "istiod-1"): {"debug/syncz": json.dumps(replicas[2]).encode()},
    }
    proxies = {("default", "web-1"): {"config_dump?include_eds": DUMP, "istio-proxy.log": b"x\n"}}
    return br.members(proxies, istiod)


@pytest.mark.parametrize("form", ["archive", "folder"])
def test_two_istiods_of_one_pod_name_are_both_read(pdebug, tmp_path: Path, form: str):
    items = _same_pod_in_two_namespaces()
    if form == "archive":
        source = br.write(tmp_path / "bug-report.tar.gz", items)
    else:
        source = br.unpack(items, tmp_path / "unpacked")
    result = pdebug("status", "--file", source, "-o", "json")
    assert result.code == 0, result
    replicas = json.loads(result.out)
    assert set(replicas) == {"istiod-0.istio-system", "istiod-0.istio-canary", "istiod-1"}
    table = pdebug("status", "--file", source)
    assert table.code == 0, table
    lines = {line.split()[0]: line for line in table.out.splitlines()[1:]}
    assert "istiod-0.istio-system" in lines["proxy1"]
    assert "istiod-0.istio-canary" in lines["proxy2"]  # was dropped without a word
    assert "istiod-1" in lines["proxy3"]


# ------------------------------------ 2. a router filter written in a TypedStruct (trace)

_ROUTER_URL = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"


def _wrapped(wrapper: str, value: dict[str, Any]) -> dict[str, Any]:
    return {"@type": f"type.googleapis.com/{wrapper}", "type_url": _ROUTER_URL, "value": value}


#: listener -> the router filter's typed_config
ROUTERS: dict[str, dict[str, Any]] = {
    "plain": {"@type": _ROUTER_URL},
    "suppress": {"@type": _ROUTER_URL, "suppress_envoy_headers": True},
    "udpa-suppress": _wrapped("udpa.type.v1.TypedStruct", {"suppress_envoy_headers": True}),
    "xds-suppress": _wrapped("xds.type.v3.TypedStruct", {"suppressEnvoyHeaders": True}),
    "xds-keep": _wrapped("xds.type.v3.TypedStruct", {}),
}


@pytest.fixture(scope="module")
def routers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, dict[str, Any]]]:
    """Envoy 1.40 running each router before an echo upstream: the proxy read from its
    dump, and per listener (port, the x-envoy-* headers the upstream got)."""
    if not eh.envoy_available():
        pytest.skip("envoy not installed")
    from pdebug.proxy import Fetch, load_proxy
    from pdebug.sources.base import LiveOptions
    from pdebug.sources.spec import SourceWords
    from tests.harness import envoy as he
    from tests.test_trace_left import _listener, _send
    from tests.test_trace_left2 import _Headers

    ports = {name: he.free_port() for name in ROUTERS}
    listeners = []
    for name, router in ROUTERS.items():
        routes = [{"match": {"prefix": "/"}, "route": {"cluster": "echo", "timeout": "7s"}}]
        listener = _listener(name, ports[name], routes)
        hcm = listener["filter_chains"][0]["filters"][0]["typed_config"]
        hcm["http_filters"] = [{"name": "envoy.filters.http.router", "typed_config": router}]
        listeners.append(listener)
    got: dict[str, Any] = {}
    with _Headers("echo") as upstream:
        boot = {
            "node": {"id": "leftovers11", "cluster": "trace"},
            "static_resources": {
                "listeners": listeners,
                "clusters": [eh.static_cluster("echo", upstream.port)],
            },
        }
        with he.Envoy(boot) as envoy:
            dump = tmp_path_factory.mktemp("leftovers11") / "dump.json"
            dump.write_bytes(envoy.get("/config_dump"))
            for name, port in ports.items():
                status, body = _send(port, [], "/p")
                assert status == 200, (name, body)
                pairs = json.loads(body)["headers"]
                got[name] = (port, {k: v for k, v in pairs if k.startswith("x-envoy-")})
    proxy = load_proxy(SourceWords(str(dump), None, None, None), LiveOptions(), Fetch())
    yield proxy, got


def test_a_wrapped_router_suppresses_envoy_headers_as_envoy_runs_it(routers) -> None:
    """Envoy 1.40 runs a router written in a (udpa or xds) TypedStruct as the router its
    type_url names: with suppress_envoy_headers the upstream gets no
    x-envoy-expected-rq-timeout-ms. trace read the wrapper's own fields and said the
    header was sent."""
    from pdebug import trace as t

    proxy, got = routers
    assert "x-envoy-expected-rq-timeout-ms" in got["plain"][1]  # Envoy's own answer
    assert "x-envoy-expected-rq-timeout-ms" not in got["udpa-suppress"][1]
    for name, (port, received) in got.items():
        request = t.parse_request(f"http://127.0.0.1:{port}/p", "GET", [], source_ip="127.0.0.1")
        steps = [s for s in t.trace(proxy, request).steps if s.name == "envoy headers"]
        shown = steps[0].detail.get("headers", {}) if steps else {}
        said = {k: v for k, v in shown.items() if k.startswith("x-envoy-")}
        assert said == {k: [v] for k, v in received.items()}, (name, said, received)


# ------------------------------- 3. PD203: a filter off on every host of a vhds config

_RC = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"


def _over_rds(dump: Path, out: Path, listener: str, vhds: bool) -> Path:
    """``dump`` (Envoy 1.40's) with ``listener``'s route configuration served over RDS as
    a dynamic one, with ``vhds`` (on-demand virtual hosts) when asked."""
    doc = json.loads(dump.read_text())
    sections = {c["@type"].rsplit(".", 1)[-1]: c for c in doc["configs"]}
    for entry in sections["ListenersConfigDump"].get("static_listeners", []):
        if entry["listener"]["name"] != listener:
            continue
        hcm = entry["listener"]["filter_chains"][0]["filters"][0]["typed_config"]
        rc = hcm.pop("route_config")
        hcm["rds"] = {"route_config_name": rc["name"], "config_source": {"ads": {}}}
        if vhds:
            rc["vhds"] = {"config_source": {"api_config_source": {"api_type": "DELTA_GRPC"}}}
        routes = sections["RoutesConfigDump"]
        routes["static_route_configs"] = [
            r for r in routes.get("static_route_configs", [])
            if r["route_config"]["name"] != rc["name"]
        ]  # fmt: skip
        routes.setdefault("dynamic_route_configs", []).append(
            {"version_info": "1", "route_config": {"@type": _RC, **rc}}
        )
    out.write_text(json.dumps(doc))
    return out


def test_pd203_names_a_filter_a_vhds_host_may_turn_back_on(pdebug, request, tmp_path):
    """Envoy's ext_authz config (Envoy 1.40's dump), its service's cluster empty, the one
    virtual host turning the filter off: Envoy answers 200 and PD203 is silent. Served
    over RDS with vhds, Envoy merges the virtual hosts VHDS sends on demand into that
    route configuration, and a host that leaves the filter on calls the empty service:
    PD203 now names the cluster, saying why (it was silent)."""
    dump, answers = request.getfixturevalue("authz_variants")
    variant = "vhost_filter_config_off"
    assert answers[variant] == 200  # Envoy: the filter is off on the host it holds

    def pd203(path: Path) -> list[dict[str, Any]]:
        report = json.loads(pdebug("check", path, "-o", "json").out)
        return [
            f for f in report["findings"]
            if f["code"] == "PD203" and f["resource"] == f"cluster/authz-{variant}"
        ]  # fmt: skip

    assert pd203(_over_rds(dump, tmp_path / "rds.json", variant, vhds=False)) == []
    (finding,) = pd203(_over_rds(dump, tmp_path / "vhds.json", variant, vhds=True))
    assert finding["message"].endswith(
        f"; the HTTP filter envoy.ext_authz of listener/{variant} (off on every virtual host "
        "the dump holds, but route configuration local_route gets more on demand (vhds); "
        "one may leave it on) sends traffic to it"
    ), finding
    assert "the filter cannot reach its service" in finding["hint"]


# ----------------------------------- 4. what to run for a proxy a bug report did not capture

_FAILED = {"istio-proxy.log": b"2026-12-07T08:00:00Z info envoy\n"}  # its admin URL failed


@pytest.mark.parametrize("form", ["archive", "folder"])
def test_a_bug_reports_missing_proxy_says_what_to_run(pdebug, tmp_path: Path, form: str):
    """A proxy a bug report holds no config_dump of: the hint said "take another
    snapshot" (a bug report is no snapshot); it now names istioctl bug-report and
    pdebug snapshot of that proxy. A snapshot's hint is unchanged."""
    proxies = {
        ("default", "web-1"): {"config_dump?include_eds": DUMP, "istio-proxy.log": b"x\n"},
        ("shop", "ratings-1"): dict(_FAILED),
    }
    items = br.members(proxies)
    if form == "archive":
        report = br.write(tmp_path / "bug-report.tar.gz", items)
    else:
        report = br.unpack(items, tmp_path / "unpacked")
    got = pdebug("clusters", f"{report}:ratings-1.shop")
    assert got.code == ExitCode.SOURCE_UNAVAILABLE, got
    hint = got.err.splitlines()[-1]
    assert hint == (
        "hint: pick a captured proxy (captured: web-1.default), or run istioctl bug-report "
        "again, or capture it with pdebug snapshot ratings-1.shop"
    ), got.err
    assert "snapshot;" not in got.err and "another snapshot" not in got.err
    stats = pdebug("stats", f"{report}:web-1.default")  # its folder holds no stats/prometheus
    assert stats.code == ExitCode.INVALID_INPUT, stats  # as it was
    assert stats.err.splitlines()[-1] == (
        "hint: the capture saved no such document; run istioctl bug-report again, or "
        "capture it with pdebug snapshot web-1.default"
    ), stats.err

    none = br.members({("shop", "ratings-1"): dict(_FAILED), ("shop", "ratings-2"): dict(_FAILED)})
    if form == "archive":
        empty = br.write(tmp_path / "empty.tar.gz", none)
    else:
        empty = br.unpack(none, tmp_path / "empty")
    checked = pdebug("check", empty)
    assert checked.code == ExitCode.SOURCE_UNAVAILABLE, checked
    assert checked.err.splitlines()[-1] == (
        "hint: run istioctl bug-report again, or capture the proxies with pdebug snapshot; "
        "each proxy's capture error is in the table"
    ), checked.err


def test_a_snapshots_missing_proxy_still_says_take_another(pdebug, tmp_path: Path):
    from pdebug.sources.bundle import capture_again

    assert capture_again({"tool": "pdebug 0.1.0"}, "a.b") == "take another snapshot"
    assert capture_again({}, "a.b") == "take another snapshot"
