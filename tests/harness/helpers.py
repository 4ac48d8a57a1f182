"""Paths and small helpers shared by the tests (no pytest fixtures: those live in conftest.py)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "FIXTURES",
    "GOLDEN",
    "ISTIOCTL",
    "PORT_FORWARD_READS",
    "ROOT",
    "Result",
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
