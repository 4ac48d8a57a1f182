"""Sweep 19: ambient leftovers of the eleventh sweep, checked on the inputs that show them.

Each test names the input (fixtures/istioctl/, fixtures/corpus/: provenance in their
MANIFESTs) or the ztunnel release whose shape it follows.
"""

from __future__ import annotations

import copy
import json

from tests.harness import FIXTURES

ZT_ISTIOCTL = FIXTURES / "istioctl/ztunnel-config/dump.json"


def _findings(pdebug, *args: str) -> list[tuple[str, str, str]]:
    result = pdebug("check", *args, "-o", "json", "--fail-on", "never")
    assert result.code == 0, result.err
    return [(f["code"], f["resource"], f["message"]) for f in json.loads(result.out)["findings"]]


def _gateway(dest: str, port: int = 15008) -> dict[str, object]:
    return {"destination": dest, "hboneMtlsPort": port}


def test_pd704_pd705_judge_every_weighted_waypoint(pdebug, tmp_path):
    # ztunnel 1.31 (istio/ztunnel src/state/service.rs): a service's `weightedWaypoints`,
    # [{destination: GatewayAddress, weight}], is sampled per connection by weight during a
    # canary; `waypoint` still holds the primary. PD704/PD705 looked at the primary only, so
    # a canary waypoint that is down or unknown took its share of traffic unreported.
    dump = json.loads(ZT_ISTIOCTL.read_text())
    primary = dump["services"]["/10.96.65.117"]
    canary = dict(
        copy.deepcopy(primary),
        name="waypoint-canary",
        hostname="waypoint-canary.bookinfo.svc.cluster.local",
        vips=["/10.96.65.201"],
        endpoints={},
    )
    dump["services"]["/10.96.65.201"] = canary
    ratings = next(
        s
        for s in dump["services"].values()
        if s["name"] == "ratings" and s["namespace"] == "bookinfo"
    )
    ratings["waypoint"] = _gateway("/10.96.65.117")
    ratings["weightedWaypoints"] = [
        {"destination": _gateway("/10.96.65.117"), "weight": 80},
        {
            "destination": _gateway("bookinfo/waypoint-canary.bookinfo.svc.cluster.local"),
            "weight": 15,
        },
        {"destination": _gateway("/192.0.2.9"), "weight": 5},
        {"destination": _gateway("/192.0.2.10"), "weight": 0},  # never picked
    ]
    path = tmp_path / "canary.json"
    path.write_text(json.dumps(dump))
    found = _findings(pdebug, str(path))
    assert [f for f in found if f[0] == "PD705"] == [
        (
            "PD705",
            "service/waypoint-canary.bookinfo",
            "waypoint has 0/0 healthy endpoints; traffic to ratings through it has nowhere to go",
        )
    ]
    assert [f[1:] for f in found if f[0] == "PD704"] == [
        (
            "service/ratings.bookinfo",
            "weighted waypoint (weight 5) '/192.0.2.9' matches no service ztunnel knows",
        )
    ]


def test_pd711_reads_the_declared_hbone_port(pdebug, tmp_path):
    # a GatewayAddress (waypoint, network gateway) carries its `hboneMtlsPort` (ztunnel's own
    # outbound tests use 15009); PD711 expected 15008 everywhere, so HBONE to a waypoint or
    # network gateway on the port it declares was called a mismatch
    dump = json.loads(ZT_ISTIOCTL.read_text())
    workloads = dump["workloads"]
    ratings = workloads["network1/10.244.2.54"]
    ratings["waypoint"] = _gateway("/10.96.65.117", 15009)  # namespace-istio-waypoint
    workloads["network2/10.244.1.34"]["networkGateway"] = _gateway("network2/172.18.0.10", 15009)
    state = next(iter(dump["workloadState"].values()))
    outbound = state["connections"]["outbound"]

    def hbone(dst: str) -> dict[str, object]:
        return {
            "src": "10.244.2.54:40000",
            "originalDst": None,
            "actualDst": dst,
            "protocol": "HBONE",
        }

    outbound[:] = [
        hbone("10.244.2.52:15009"),  # the waypoint's pod, on its declared port
        hbone("172.18.0.10:15009"),  # the network gateway, on its declared port
        hbone("10.244.2.58:15009"),  # a pod that declares nothing: still a mismatch
        hbone("10.244.2.52:15010"),  # the waypoint, on neither port
    ]
    path = tmp_path / "hbone-15009.json"
    path.write_text(json.dumps(dump))
    found = [f[2] for f in _findings(pdebug, str(path)) if f[0] == "PD711"]
    assert found == [
        "HBONE connection to 10.244.2.58:15009, not port 15008",
        "HBONE connection to 10.244.2.52:15010, not port 15008 or 15009",
    ]
