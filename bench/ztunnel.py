"""Benchmark ``pdebug ztunnel-config`` on a generated 10,000-workload ztunnel dump.

Whole processes, interleaved, median of ``--runs``: ``pdebug zc workload -f FILE`` (and
``service``, ``all``) against an ``orjson.loads`` process of the same file (the floor), in
the same run. Target (issue #15): the workload table in <= 0.3x the floor. Prints one row
per command with its ratio, and MET/MISSED for the target, plus the load average before
and after (the machine is shared: compare ratios, not seconds).

Usage::

    python -m bench.ztunnel [--workloads 10000] [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import sys

from bench import genztunnel
from bench.interleave import interleaved_walls, print_ratio_table
from bench.run import FLOOR_SRC, OUT, ROOT, tools

TARGET = 0.3


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workloads", type=int, default=10000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--pdebug", help="pdebug executable (default .venv/bin/pdebug)")
    args = ap.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"ztunnel-{args.workloads}.json"
    if not path.exists():
        genztunnel.main(["--workloads", str(args.workloads), "-o", str(path)])
    pdebug = tools(args.pdebug)["pdebug"] or "pdebug"
    commands = {
        "orjson floor": [sys.executable, "-c", FLOOR_SRC, str(path)],
        "pdebug zc workload": [pdebug, "zc", "workload", "-f", str(path)],
        "pdebug zc service": [pdebug, "zc", "service", "-f", str(path)],
        "pdebug zc all": [pdebug, "zc", "all", "-f", str(path)],
    }
    load_before = os.getloadavg()[0]
    times = interleaved_walls(commands, args.runs)
    if times is None:
        return 1
    size = path.stat().st_size / 1e6
    print(f"ztunnel dump: {args.workloads} workloads, {size:.1f} MB, {args.runs} runs")
    print(f"load average: {load_before:.2f} before, {os.getloadavg()[0]:.2f} after\n")
    print_ratio_table(
        times, "orjson floor", "floor", TARGET, lambda label: label == "pdebug zc workload"
    )
    print(f"\n(file: {path.relative_to(ROOT)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
