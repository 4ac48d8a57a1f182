"""Interleaved timing runs and their ratio table, shared by the standalone bench scripts.

``bench/assert_bench.py`` and ``bench/ztunnel.py`` each time a few commands against one
baseline command and print one markdown row per command: median, spread, ratio to the
baseline's median and, for the commands with a target, whether the ratio meets it.
"""

from __future__ import annotations

import statistics
import sys
from collections.abc import Callable, Collection

from bench.run import run_once


def interleaved_walls(
    commands: dict[str, list[str]], runs: int, ok: Collection[int] = (0,)
) -> dict[str, list[float]] | None:
    """Each command's wall times over ``runs`` rounds, one run of every command a round.

    Interleaved, so that load changes hit every command alike. ``None`` (after one line on
    stderr) when a command exits with a code not in ``ok``.
    """
    times: dict[str, list[float]] = {k: [] for k in commands}
    for _ in range(runs):
        for label, argv in commands.items():
            sample = run_once(argv, 600)
            if sample.rc not in ok:
                print(f"{label}: exit {sample.rc}: {sample.stderr[:300]!r}", file=sys.stderr)
                return None
            times[label].append(sample.wall)
    return times


def print_ratio_table(
    times: dict[str, list[float]],
    base: str,
    vs: str,
    target: float,
    targeted: Callable[[str], bool],
) -> None:
    """One markdown row per command: median, min-max, ratio to ``base``'s median (column
    ``vs VS``) and, where ``targeted(label)``, ``<= TARGETx: MET`` or ``MISSED``."""
    base_median = statistics.median(times[base])
    print(f"| command | median | min-max | vs {vs} | target |")
    print("| --- | --- | --- | --- | --- |")
    for label, values in times.items():
        med = statistics.median(values)
        ratio = med / base_median
        mark = ""
        if targeted(label):
            mark = f"<= {target}x: {'MET' if ratio <= target else 'MISSED'}"
        print(
            f"| {label} | {med:.3f} s | {min(values):.3f}-{max(values):.3f} | "
            f"{ratio:.2f}x | {mark} |"
        )
