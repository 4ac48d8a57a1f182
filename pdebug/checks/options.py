"""What the user asked ``pdebug check`` for: :class:`CheckOptions`.

Its own module so that the checks' vocabulary (:mod:`pdebug.checks.base`) and the
:class:`~pdebug.checks.context.Context` that carries the options do not import each
other, and so the ztunnel checks and the report's ambient section take it without
loading the Envoy context.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class CheckOptions:
    """What the user asked for.

    Attributes:
        cert_days: Warn about certificates expiring within this many days.
        ignore: Codes not to run.
        now: The time certificates are judged at (default: the current time).
    """

    cert_days: float = 7.0
    ignore: frozenset[str] = frozenset()
    now: datetime | None = None
