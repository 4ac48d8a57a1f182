"""Sweep 19: ambient leftovers of the eleventh sweep, checked on the inputs that show them.

Each test names the input (fixtures/istioctl/, fixtures/corpus/: provenance in their
MANIFESTs) or the ztunnel release whose shape it follows.
"""

from __future__ import annotations

import copy
import json
from typing import Any

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


def _dual_stack_122() -> dict[str, Any]:
    """istioctl's ztunnel 1.22 dump (sections keyed by address, endpoints by
    ``uid:network/ip``) with ratings-v1 and the ratings service made dual-stack: each is
    listed once per address, as ztunnel 1.22 did."""
    dump = json.loads(ZT_ISTIOCTL.read_text())
    pod = dump["workloads"]["network1/10.244.2.54"]
    pod["workloadIps"].append("fd00::54")
    dump["workloads"]["network1/fd00::54"] = pod
    svc = next(s for s in dump["services"].values() if s["name"] == "reviews")
    vip = svc["vips"][0]
    svc["vips"].append("/fd00::96:1")
    for ep in list(svc["endpoints"].values()):
        if ep["workloadUid"] == "Kubernetes//Pod/bookinfo/reviews-v1-5b5d6494f4-qwjv4":
            v6 = dict(ep, address="/fd00::37")
            svc["endpoints"][f"{ep['workloadUid']}:/fd00::37"] = v6
    dump["services"]["/fd00::96:1"] = svc
    assert dump["services"][vip] is svc
    return dump


def _as_124(dump: dict[str, Any]) -> dict[str, Any]:
    """The same content as ztunnel 1.24 dumps it: lists, each object once, endpoints keyed
    by uid with their health (``status``) and without ``service``/``address``."""
    out = copy.deepcopy(dump)
    out["workloads"] = list({w["uid"]: w for w in out["workloads"].values()}.values())
    services = {(s["namespace"], s["hostname"]): s for s in out["services"].values()}
    out["services"] = list(services.values())
    for svc in out["services"]:
        svc["endpoints"] = {
            ep["workloadUid"]: {
                "workloadUid": ep["workloadUid"],
                "port": ep["port"],
                "status": "Healthy",
            }
            for ep in svc["endpoints"].values()
        }
    return out


def test_diff_of_ztunnel_1_22_and_1_24_compares_like_for_like(pdebug, tmp_path):
    # an upgrade's before/after: ztunnel 1.22 listed a dual-stack pod or service once per
    # address (diff said "UID#2 only in ..."), and its endpoint keys (uid:network/ip) and
    # fields (service, address) differ from 1.24's (uid; status) for every service
    old = _dual_stack_122()
    new = _as_124(old)
    left, right = tmp_path / "zt-1.22.json", tmp_path / "zt-1.24.json"
    left.write_text(json.dumps(old))
    right.write_text(json.dumps(new))
    r = pdebug("diff", str(left), str(right))
    assert r.code == 0, r.out + r.err
    assert r.out.splitlines()[:2] == ["Workloads Match", "Services Match"]
    # real changes still show: a port, a dropped endpoint, the second address of a pod
    reviews = next(s for s in new["services"] if s["name"] == "reviews")
    uid = "Kubernetes//Pod/bookinfo/reviews-v1-5b5d6494f4-qwjv4"
    reviews["endpoints"][uid]["port"] = {"9080": 9081}
    del reviews["endpoints"]["Kubernetes//Pod/bookinfo/reviews-v2-5b667bcbf8-q5pn2"]
    ratings = next(w for w in new["workloads"] if w["name"] == "ratings-v1-6484c4d9bb-mdxm5")
    ratings["workloadIps"] = ratings["workloadIps"][:1]
    right.write_text(json.dumps(new))
    r = pdebug("diff", str(left), str(right), "-o", "json")
    assert r.code == 1, r.err
    kinds = {k["kind"]: k for k in json.loads(r.out)["kinds"]}
    changes = {c["name"]: c for k in ("workloads", "services") for c in kinds[k]["changes"]}
    assert sorted(changes) == [
        "Kubernetes//Pod/bookinfo/ratings-v1-6484c4d9bb-mdxm5",
        "bookinfo/reviews.bookinfo.svc.cluster.local",
    ]
    paths = {f["path"] for f in changes["bookinfo/reviews.bookinfo.svc.cluster.local"]["fields"]}
    assert paths == {
        f"endpoints.{uid}.port.9080",
        "endpoints.Kubernetes//Pod/bookinfo/reviews-v2-5b667bcbf8-q5pn2",
    }
