"""Sweep 16: `pdebug check` and `pdebug diff` findings checked by hand on inputs others made.

Each test names the public input (fixtures/corpus/, fixtures/istioctl/: provenance in their
MANIFESTs) whose finding was wrong or missing.
"""

from __future__ import annotations

import json

from tests.harness import FIXTURES

ISTIO_2018 = FIXTURES / "corpus/istio/2018-11-istioctl/configdump.json"


def _findings(pdebug, *args: str) -> list[tuple[str, str, str]]:
    result = pdebug("check", *args, "-o", "json", "--fail-on", "never")
    assert result.code == 0, result.err
    return [(f["code"], f["resource"], f["message"]) for f in json.loads(result.out)["findings"]]


def test_v1_tcp_proxy_stat_prefix_and_clusters(pdebug):
    # istioctl's 2018 test dump (Envoy <= 1.8): listener 172.21.134.116_443 holds a
    # tcp_proxy in deprecated_v1 form, its stat_prefix ("outbound|tcp|443") and routes in
    # `value`. check said PD103 "tcp_proxy has no stat_prefix" (false) and did not see that
    # its route sends to outbound|443||istio-galley..., a cluster the dump lacks (PD104).
    found = _findings(pdebug, ISTIO_2018)
    on_443 = [f for f in found if f[1] == "listener/172.21.134.116_443"]
    assert on_443 == [
        (
            "PD104",
            "listener/172.21.134.116_443",
            "filter chain #0: tcp_proxy sends to unknown cluster "
            "'outbound|443||istio-galley.istio-system.svc.cluster.local'",
        )
    ]


ZT_ISTIOCTL = FIXTURES / "istioctl/ztunnel-config/dump.json"


def test_pd712_hbone_connection_is_not_passed_through(pdebug):
    # istioctl's ztunnel test dump: productpage's outbound to 10.233.25.246:9080 went over
    # HBONE to 10.233.97.136:15008, yet PD712 said it was "passed through, unmanaged" (what
    # ztunnel does only with a destination it does not know: plain TCP to it)
    found = [f for f in _findings(pdebug, ZT_ISTIOCTL) if f[0] == "PD712"]
    assert len(found) == 3
    productpage = next(f for f in found if "productpage" in f[1])
    assert "passed through" not in productpage[2]
    assert "sent over HBONE to 10.233.97.136:15008" in productpage[2]


K8S_GATEWAY = FIXTURES / "corpus/istio/2024-08-k8s-gateway/configdump.json"


def test_pd301_names_the_routes_not_found_status(pdebug, tmp_path):
    # istioctl's 2024 test dump of a Kubernetes Gateway API gateway (routes only): its route
    # sets cluster_not_found_response_code INTERNAL_SERVER_ERROR, as Istio does for
    # HTTPRoutes; with a clusters section lacking the route's cluster, PD301 said "Envoy
    # answers 503 NC" where Envoy answers 500
    dump = json.loads(K8S_GATEWAY.read_text())
    dump["configs"].append(
        {"@type": "type.googleapis.com/envoy.admin.v3.ClustersConfigDump", "static_clusters": []}
    )
    path = tmp_path / "gateway.json"
    path.write_text(json.dumps(dump))
    found = {f[2] for f in _findings(pdebug, str(path)) if f[0] == "PD301"}
    httpbin = "outbound|8000||httpbin.default.svc.cluster.local"
    assert {m for m in found if httpbin in m} == {
        f"virtual host 'httpbin.example.com:80' route 'default.http.0' sends to unknown "
        f"cluster '{httpbin}': "
        "Envoy answers 500 NC"
    }
    # the static route config's route (no such field) keeps Envoy's default
    assert "virtual host 'backend' sends to unknown cluster 'agent': Envoy answers 503 NC" in found


def test_pd705_tells_waypoints_of_one_name_apart(pdebug, tmp_path):
    # istioctl's ztunnel test dump, plus a second waypoint of the same name in namespace
    # default, scaled to zero and used by nobody (every namespace's waypoint is usually
    # called "waypoint"): PD705 matched waypoints by name, so it said default's had
    # "nowhere to go" for bookinfo's workloads, which use bookinfo's healthy one
    dump = json.loads(ZT_ISTIOCTL.read_text())
    used = dump["services"]["/10.96.65.117"]
    assert used["namespace"] == "bookinfo" and used["endpoints"]
    idle = dict(
        used,
        namespace="default",
        hostname="namespace-istio-waypoint.default.svc.cluster.local",
        vips=["/10.96.65.200"],
        endpoints={},
    )
    dump["services"]["/10.96.65.200"] = idle
    path = tmp_path / "two-waypoints.json"
    path.write_text(json.dumps(dump))
    found = _findings(pdebug, str(path))
    assert [f for f in found if f[0] == "PD705"] == []
    assert ("PD706", "service/namespace-istio-waypoint.default") in {f[:2] for f in found}
    # the same waypoint down where it is used is still an error
    used["endpoints"] = {}
    path.write_text(json.dumps(dump))
    down = [f[1] for f in _findings(pdebug, str(path)) if f[0] == "PD705"]
    assert down == ["service/namespace-istio-waypoint.bookinfo"]


DSB_REJECTED = FIXTURES / "sweep16/deathstarbench-virtualinbound-rejected.json"


def test_pd101_reason_of_an_envoy_1_26_validation_failure(pdebug):
    # a real Istio 1.18 sidecar (DeathStarBench's config_dump.json, Envoy 1.26): Envoy
    # refused virtualInbound ("Proto constraint validation failed (<reason>): <proto>",
    # the proto over the next lines); PD101 ended its message with the proto's first line
    # "...is required): default_source_code {"
    found = _findings(pdebug, DSB_REJECTED)
    assert found == [
        (
            "PD101",
            "listener/virtualInbound",
            "Envoy rejected an update at 2025-02-17T15:17:48.372Z: Proto constraint "
            "validation failed (LuaValidationError.DefaultSourceCode: embedded message "
            'failed validation | caused by field: "specifier", reason: is required)',
        )
    ]


HIGRESS = FIXTURES / "corpus/higress/gateway-config_dump.json"


def test_gateway_credential_hints_name_the_kubernetes_secret(pdebug):
    # Higress's gateway dump: SDS secret kubernetes-ingress://Kubernetes/default/default
    # warming (PD503). A gateway credential is served from a Kubernetes Secret (a missing
    # one keeps it warming forever), yet the hint sent users to istio-agent / pilot-agent
    result = pdebug("check", HIGRESS, "-o", "json", "--fail-on", "never")
    hints = {
        f["resource"]: f["hint"] for f in json.loads(result.out)["findings"] if f["code"] == "PD503"
    }
    hint = hints["secret/kubernetes-ingress://Kubernetes/default/default"]
    assert "Kubernetes Secret default/default" in hint
    assert "pilot-agent" not in hint


def test_kube_secret_names():
    from pdebug.checks.secrets import _kube_secret

    assert _kube_secret("kubernetes://tls-cert") == "tls-cert (in the gateway's namespace)"
    assert (
        _kube_secret("kubernetes://istio-system/tls-cert-cacert") == "istio-system/tls-cert-cacert"
    )
    assert _kube_secret("kubernetes-gateway://default/gw-cert") == "default/gw-cert"
    assert _kube_secret("kubernetes-ingress://Kubernetes/default/default") == "default/default"
    assert _kube_secret("default") is None and _kube_secret("ROOTCA") is None
    assert _kube_secret("file-cert:/etc/certs/cert.pem~/etc/certs/key.pem") is None


def test_pd712_double_hbone_is_not_passed_through_either(pdebug, tmp_path):
    # the same connection as a DOUBLEHBONE one (ztunnel's multi-network tunnel)
    dump = json.loads(ZT_ISTIOCTL.read_text())
    for state in dump["workloadState"].values():
        for c in state["connections"]["outbound"]:
            c["protocol"] = "DOUBLEHBONE"
    path = tmp_path / "double.json"
    path.write_text(json.dumps(dump))
    found = [f[2] for f in _findings(pdebug, str(path)) if f[0] == "PD712"]
    assert found and all("sent over DOUBLEHBONE to" in m for m in found), found


def test_diff_quotes_the_rejection_reason_as_check_does(pdebug, tmp_path):
    # the DeathStarBench piece against an istiod view without the listener: diff's note
    # printed Envoy's details raw, the refused proto included ("...): default_source_code
    # {\n}\n")
    view = tmp_path / "istiod.json"
    view.write_text(
        json.dumps(
            {"configs": [{"@type": "type.googleapis.com/envoy.admin.v3.ListenersConfigDump"}]}
        )
    )
    result = pdebug("diff", DSB_REJECTED, view)
    assert result.code == 1, result.err
    note = next(line for line in result.out.splitlines() if line.startswith("  ! virtualInbound"))
    assert note.endswith('caused by field: "specifier", reason: is required)'), note


TD_WARMING = FIXTURES / "corpus/handmade/istio-2019-trafficdirector-warming-v2alpha.json"


def test_pd201_sees_an_update_warming_beside_the_active_cluster(pdebug, tmp_path):
    # the Traffic Director dump's first warming cluster, given an earlier active version
    # (Envoy keeps serving the old one while the update waits for EDS: envoyproxy/envoy
    # issue #9416, a circuit_breakers change stuck in dynamic_warming_clusters). PD201 read
    # clusters by name, active first, so the stuck update was never reported
    dump = json.loads(TD_WARMING.read_text())
    section = next(c for c in dump["configs"] if "Clusters" in c["@type"])
    first = section["dynamic_warming_clusters"][0]
    old = json.loads(json.dumps(first))
    old["version_info"] = "1564686000000000000"
    old["cluster"]["circuit_breakers"]["thresholds"][0]["max_connections"] = 1024
    section["dynamic_active_clusters"] = [old]
    path = tmp_path / "update-warming.json"
    path.write_text(json.dumps(dump))
    found = {f[1]: f[2] for f in _findings(pdebug, str(path)) if f[0] == "PD201"}
    assert len(found) == 4
    message = found[f"cluster/{first['cluster']['name']}"]
    assert message.startswith("an update is warming since 2019-08-01T19:08:11.377Z")
    assert message.endswith("; the previous version still serves")
