"""Ambient capture bundles for report tests, shaped as ``pdebug snapshot --ambient`` writes them.

A ztunnel member per node (``kind: ztunnel`` in the manifest, its node), a bookinfo sidecar,
and the captured pods' namespaces, from istioctl's recorded ztunnel dump
(fixtures/istioctl/ztunnel-config) given each node's own ``config.localNode`` and
certificates:

* ambient-worker2 (:func:`worker2`): productpage's certificate is fine; details' leaf
  expires in 2 days and its waypoint resolves to nothing; ratings' leaf expired yesterday;
* ambient-worker (:func:`worker`): its ztunnel holds no certificate for reviews.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from pdebug import bundle

from .helpers import FIXTURES, ISTIOCTL

__all__ = [
    "NOW",
    "Z1",
    "Z2",
    "certificate",
    "make_bundle",
    "node_dump",
    "stamp",
    "worker",
    "worker2",
]

ZTUNNEL_DUMP = ISTIOCTL / "ztunnel-config" / "dump.json"
SIDECAR_DUMP = FIXTURES / "real" / "sidecar" / "config_dump.json"
#: The certificates' reference time (validity is relative to it).
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
#: The ztunnel members of ambient-worker and ambient-worker2.
Z1, Z2 = "ztunnel-xljhg.istio-system", "ztunnel-qk2pp.istio-system"
Json = dict[str, Any]


def stamp(t: dt.datetime) -> str:
    """RFC 3339 with seconds and ``Z``, as ztunnel writes times."""
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def certificate(sa: str, *, days: float, state: str = "Available") -> Json:
    """ztunnel's certificate entry for ``bookinfo/sa``: a leaf ending in ``days`` and a root.

    The leaf lasts 90 days, so one ending within a few weeks is past half its lifetime
    (when it should have been rotated): PD703 judges it expiring.
    """
    ends = NOW + dt.timedelta(days=days)
    leaf = {
        "pem": "",
        "serialNumber": "1234",
        "validFrom": stamp(min(NOW - dt.timedelta(days=1), ends - dt.timedelta(days=90))),
        "expirationTime": stamp(ends),
    }
    root = {
        "pem": "",
        "serialNumber": "1",
        "validFrom": stamp(NOW - dt.timedelta(days=365)),
        "expirationTime": stamp(NOW + dt.timedelta(days=3650)),
    }
    return {
        "identity": f"spiffe://cluster.local/ns/bookinfo/sa/{sa}",
        "state": state,
        "certChain": [leaf] if state == "Available" else [],
        "rootCerts": [root] if state == "Available" else [],
    }


def node_dump(node: str, certificates: list[Json]) -> Json:
    """istioctl's dump as ``node``'s ztunnel has it (lists, its node, its certificates)."""
    d = json.loads(ZTUNNEL_DUMP.read_bytes())
    d["workloads"] = sorted(d["workloads"].values(), key=lambda w: w["uid"])
    d["services"] = list(d["services"].values())
    d["config"] = {"localNode": node}
    d["certificates"] = certificates
    d["workloadState"] = {}
    return d


def worker2() -> Json:
    """ambient-worker2: productpage fine, details' leaf expiring and its waypoint gone,
    ratings' leaf expired."""
    d = node_dump(
        "ambient-worker2",
        [
            certificate("bookinfo-productpage", days=30),
            certificate("bookinfo-details", days=2),
            certificate("bookinfo-ratings", days=-1),
        ],
    )
    details = next(w for w in d["workloads"] if w["name"] == "details-v1-698d88b-dqrbr")
    details["waypoint"] = {"destination": "/10.96.9.9", "hboneMtlsPort": 15008}
    return d


def worker() -> Json:
    """ambient-worker: its ztunnel holds no certificate for reviews."""
    return node_dump("ambient-worker", [])


def make_bundle(path: Path, z1: Json | None, z2: Json | None, *, sidecar: bool = True) -> Path:
    """A snapshot-shaped bundle: optionally a bookinfo sidecar, and the two nodes' ztunnels
    (``None``: that ztunnel's capture failed)."""
    proxies = []
    if sidecar:
        proxies.append(
            bundle.CapturedProxy(
                "sleep-1.bookinfo",
                "pod/sleep-1.bookinfo",
                {bundle.DUMP: SIDECAR_DUMP.read_bytes()},
                info={"pod": "sleep-1", "namespace": "bookinfo", "node": "ambient-worker2"},
            )
        )
    for name, node, dump in ((Z1, "ambient-worker", z1), (Z2, "ambient-worker2", z2)):
        pod = name.split(".")[0]
        info = {"pod": pod, "namespace": "istio-system", "node": node, "kind": "ztunnel"}
        files = {} if dump is None else {bundle.DUMP: json.dumps(dump).encode()}
        errors = [] if dump is not None else [f"pod/{name}: connection refused"]
        proxies.append(bundle.CapturedProxy(name, f"pod/{name}", files, errors, info))
    skipped = [
        {"pod": "productpage-v1-675fc69cf-jscn2", "namespace": "bookinfo", "reason": "ambient"}
    ]
    bundle.write_bundle(str(path), proxies, {"source": "snapshot of bookinfo", "skipped": skipped})
    return path
