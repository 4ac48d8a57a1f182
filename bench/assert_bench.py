"""Benchmark ``pdebug assert``: 50 expectations over a 20-proxy bundle vs ``pdebug check``.

Target (issue #16): ``pdebug assert RUNBOOK BUNDLE`` takes <= 2x ``pdebug check BUNDLE``
(whole processes, interleaved, median of ``--runs``, same run). The bundle holds 20 copies
of the real Envoy 1.40 sidecar capture (fixtures/real/sidecar) renamed per pod; the runbook
mixes requests (20), resources with predicates (15), check codes (10) and certificate
lifetimes (5), as a team's runbook would.

Usage::

    python -m bench.assert_bench [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

from bench.interleave import interleaved_walls, print_ratio_table
from bench.run import OUT, ROOT, tools

TARGET = 2.0
PROXIES = 20


def make_bundle(path: Path) -> None:
    from pdebug import bundle

    dump = (ROOT / "fixtures/real/sidecar/config_dump.json").read_bytes()
    health = (ROOT / "fixtures/real/sidecar/clusters.json").read_bytes()
    proxies = []
    for i in range(PROXIES):
        name = f"productpage-v1-{i:03d}"
        body = dump.replace(b"productpage-v1-abc", name.encode())
        files = {bundle.DUMP: body, bundle.CLUSTERS: health}
        proxies.append(bundle.CapturedProxy(f"{name}.default", f"pod/{name}.default", files))
    bundle.write_bundle(str(path), proxies, {"tool": "bench"})


def runbook() -> str:
    hosts = ["reviews", "ratings", "details"]
    lines = ["version: 1", "expectations:"]
    for i in range(20):
        host = hosts[i % 3]
        lines += [
            f"  - name: request {i}",
            f"    request: {{url: 'http://{host}:9080/p{i}', headers: {{x-n: '{i}'}}}}",
            "    expect: {verdict: ok}",
        ]
    for i in range(15):
        host = hosts[i % 3]
        lines += [
            f"  - name: resource {i}",
            "    resource:",
            "      kind: cluster",
            f"      name: 'outbound|9080||{host}.default.svc.cluster.local'",
            f"      where: ['connect_timeout <= {10 + i}s', 'name matches {host}']",
        ]
    codes = [
        "PD101",
        "PD102",
        "PD103",
        "PD104",
        "PD201",
        "PD202",
        "PD203",
        "PD301",
        "PD501",
        "PD502",
    ]
    for i, code in enumerate(codes):
        lines += [f"  - name: check {i}", f"    check: {{absent: [{code}]}}"]
    for i in range(5):
        lines += [f"  - name: certificates {i}", f"    certificates: {{min_days: {i + 1}}}"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--pdebug", help="pdebug executable (default .venv/bin/pdebug)")
    args = ap.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    bundle_path = OUT / "assert-bundle.tar.gz"
    book = OUT / "assert-runbook.yaml"
    make_bundle(bundle_path)
    book.write_text(runbook())
    pdebug = tools(args.pdebug)["pdebug"] or "pdebug"
    commands = {
        "pdebug check BUNDLE": [pdebug, "check", str(bundle_path), "--fail-on", "never"],
        "pdebug assert RUNBOOK BUNDLE": [pdebug, "assert", str(book), str(bundle_path)],
    }
    load = os.getloadavg()[0]
    times = interleaved_walls(commands, args.runs, ok=(0, 1, 4))
    if times is None:
        return 1
    print(f"{PROXIES} proxies, 50 expectations, {args.runs} runs")
    print(f"load average: {load:.2f} before, {os.getloadavg()[0]:.2f} after\n")
    print_ratio_table(
        times, "pdebug check BUNDLE", "check", TARGET, lambda label: "assert" in label
    )
    print(json.dumps({k: statistics.median(v) for k, v in times.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
