"""What the user asked ``pdebug check`` for: :class:`CheckOptions`.

Its own module so that the checks' vocabulary (:mod:`pdebug.checks.base`) and the
:class:`~pdebug.checks.context.Context` that carries the options do not import each
other, and so the ztunnel checks and the report's ambient section take it without
loading the Envoy context.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class CheckOptions:
    """What the user asked for.

    Attributes:
        cert_days: Warn about certificates expiring within this many days.
        ignore: Codes not to run.
        now: The time certificates are judged at (default: the current time).
        rotation: Judge a certificate expiring only once it is past half its lifetime,
            when Istio should have rotated it (``check``, ``report``). A runbook's
            ``certificates: {min_days: N}`` asks for the window alone (False).
    """

    cert_days: float = 7.0
    ignore: frozenset[str] = frozenset()
    now: datetime | None = None
    rotation: bool = True

    def expiring(self, now: datetime, not_before: datetime | None, not_after: datetime) -> bool:
        """Whether a certificate valid at ``now`` counts as expiring (PD502, PD703).

        It ends within ``cert_days`` and, when its start is known, more than half of its
        lifetime has passed. Istio's agents rotate a certificate at half its lifetime, so a
        fresh 24-hour workload certificate (23 hours left, inside the 7-day default) is
        healthy; one past half its life has missed its rotation. Long-lived certificates
        (gateways, CAs) are past half their life long before the window, so for them the
        window alone decides.
        """
        if not now < not_after <= now + timedelta(days=self.cert_days):
            return False
        if not self.rotation or not_before is None or not_before >= not_after:
            return True
        return now - not_before > (not_after - not_before) / 2
