"""Generate a synthetic ztunnel ``/config_dump`` (Istio ambient) of a large mesh.

The shape is current ztunnel's (lists, lowerCamelCase, ``rootCerts`` apart from the chain,
endpoints keyed by workload UID, pretty-printed as ztunnel's admin serves it), written from
the field list of the research note ``ztunnel.md``; nothing is copied from ztunnel. It is
deterministic: it depends only on ``--workloads`` and ``--seed``.

Usage::

    python bench/genztunnel.py --workloads 10000 -o bench/out/ztunnel-10000.json
"""

from __future__ import annotations

import argparse
import base64
import random
import sys
from collections.abc import Iterable
from typing import Any

import orjson

Obj = dict[str, Any]


def document(workloads: int, seed: int = 1) -> Obj:
    """The whole dump: ``workloads`` pods in services of 5, 40 namespaces, 20 nodes."""
    rng = random.Random(seed)
    namespaces = [f"ns-{i:02d}" for i in range(40)]
    nodes = [f"node-{i:02d}" for i in range(20)]
    pods: list[Obj] = []
    services: list[Obj] = []
    for s in range((workloads + 4) // 5):
        ns = namespaces[s % len(namespaces)]
        app = f"svc-{s:05d}"
        host = f"{app}.{ns}.svc.cluster.local"
        vip = f"10.96.{s // 250}.{s % 250 + 1}"
        endpoints: Obj = {}
        for r in range(min(5, workloads - 5 * s)):
            n = 5 * s + r
            name = f"{app}-{rng.randrange(16**8):08x}-{r}"
            uid = f"Kubernetes//Pod/{ns}/{name}"
            ip = f"10.{200 + n // 65536}.{(n // 256) % 256}.{n % 256}"
            pods.append(
                {
                    "uid": uid,
                    "workloadIps": [ip],
                    "protocol": "HBONE" if n % 7 else "TCP",
                    "networkMode": "Standard",
                    "name": name,
                    "namespace": ns,
                    "serviceAccount": app,
                    "workloadName": app,
                    "workloadType": "deployment",
                    "canonicalName": app,
                    "canonicalRevision": "v1",
                    "clusterId": "Kubernetes",
                    "trustDomain": "cluster.local",
                    "node": nodes[n % len(nodes)],
                    "status": "Healthy" if n % 97 else "Unhealthy",
                    "capacity": 1,
                    "services": [f"{ns}/{host}"],
                    **(
                        {
                            "waypoint": {
                                "destination": f"{ns}/waypoint.{ns}.svc.cluster.local",
                                "hboneMtlsPort": 15008,
                            }
                        }
                        if s % 3 == 0
                        else {}
                    ),
                }
            )
            endpoints[uid] = {"workloadUid": uid, "port": {"80": 8080}, "status": "Healthy"}
        services.append(
            {
                "name": app,
                "namespace": ns,
                "hostname": host,
                "vips": [f"/{vip}"],
                "ports": {"80": 8080},
                "endpoints": endpoints,
                "subjectAltNames": [],
                "ipFamilies": "IPv4",
            }
        )
    pods.sort(key=lambda w: w["uid"])
    pem = base64.b64encode(b"-----BEGIN CERTIFICATE-----\n" + b"A" * 900 + b"\n").decode()

    def cert(serial: int) -> Obj:
        return {
            "pem": pem,
            "serialNumber": str(10**30 + serial),
            "validFrom": "2026-01-01T00:00:00Z",
            "expirationTime": "2036-01-01T00:00:00Z",
        }

    certificates = [
        {
            "identity": f"spiffe://cluster.local/ns/{ns}/sa/svc-{i:05d}",
            "state": "Available",
            "certChain": [cert(i)],
            "rootCerts": [cert(0)],
        }
        for i, ns in zip(range(50), namespaces * 2, strict=False)
    ]
    state: Obj = {}
    for w in pods[:30]:
        state[f"pod-uid-{w['name']}"] = {
            "state": "Up",
            "connections": {
                "inbound": [],
                "outbound": [
                    {
                        "src": f"{w['workloadIps'][0]}:4{k:04d}",
                        "originalDst": "10.96.0.1:80",
                        "actualDst": "10.200.0.1:15008",
                        "protocol": "HBONE",
                    }
                    for k in range(3)
                ],
            },
            "info": {"name": w["name"], "namespace": w["namespace"], "serviceAccount": "sa"},
        }
    return {
        "workloads": pods,
        "services": sorted(services, key=lambda s: s["hostname"]),
        "policies": [
            {
                "name": "allow-all",
                "namespace": ns,
                "scope": "Namespace",
                "action": "Allow",
                "rules": [[[{"namespaces": [{"Exact": ns}]}]]],
            }
            for ns in namespaces
        ],
        "stagedServices": {},
        "staticConfig": {"workloads": [], "services": [], "policies": []},
        "version": {"version": "bench", "istioVersion": "1.28"},
        "config": {"localNode": nodes[0], "clusterId": "Kubernetes", "proxyMode": "Shared"},
        "certificates": certificates,
        "workloadState": state,
    }


def main(argv: Iterable[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workloads", type=int, default=10000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("-o", "--output", default="-")
    args = ap.parse_args(list(argv) if argv is not None else None)
    data = orjson.dumps(document(args.workloads, args.seed), option=orjson.OPT_INDENT_2) + b"\n"
    if args.output == "-":
        sys.stdout.buffer.write(data)
    else:
        with open(args.output, "wb") as f:
            f.write(data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
