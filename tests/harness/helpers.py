"""Paths and small helpers shared by the tests (no pytest fixtures: those live in conftest.py)."""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "FIXTURES",
    "GOLDEN",
    "ISTIOCTL",
    "PORT_FORWARD_READS",
    "ROOT",
    "Result",
    "run_bounded",
]

#: The repository root.
ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures"
ISTIOCTL = FIXTURES / "istioctl"
GOLDEN = ROOT / "tests" / "golden"

#: What pdebug may ask of the API server double by default: (RBAC verb, resource).
PORT_FORWARD_READS = frozenset({("get", "pods"), ("list", "pods"), ("create", "pods/portforward")})


@dataclass
class Result:
    """What one in-process ``pdebug`` run gave: exit code, stdout and stderr."""

    code: int
    out: str
    err: str


def run_bounded(
    pdebug: Callable[..., Result], args: list[str], budget_s: float = 20.0, budget_mb: int = 96
) -> Result:
    """Run ``pdebug ARGS`` in-process; the Python heap's peak and the wall time must stay small."""
    tracemalloc.start()
    start = time.monotonic()
    try:
        result = pdebug(*args)
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    took = time.monotonic() - start
    assert took < budget_s, f"{args}: {took:.1f}s"
    assert peak < budget_mb << 20, f"{args}: peak {peak >> 20} MiB"
    return result
