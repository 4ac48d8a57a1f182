"""Endpoint checks (PD4xx): failing health checks, outlier ejections, EDS health.

One finding per cluster and cause, listing a few endpoint addresses: a big cluster
with a bad rollout would otherwise drown everything else in the report.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from pdebug.checks.base import Check, Finding, Severity, check
from pdebug.checks.context import Context, Host, HostSet
from pdebug.model.health import UNHEALTHY_EDS

_SHOWN = 3
_DRAINING_EDS = frozenset({"DRAINING", "DEGRADED"})


def _listing(hosts: list[Host]) -> str:
    return _listing_of([h.address for h in hosts[:_SHOWN]], len(hosts))


def _listing_of(addresses: list[str], n: int) -> str:
    """The first addresses of ``n`` hosts, and how many more there are."""
    shown = ", ".join(addresses[:_SHOWN])
    more = n - _SHOWN
    return shown + (f" (+{more} more)" if more > 0 else "")


def _eds_in(hs: HostSet, states: frozenset[str]) -> tuple[list[str], list[str]]:
    """The EDS statuses and addresses of the hosts whose EDS status is in ``states``.

    Read from the host set's status and address lists, in host order: no :class:`Host`
    per endpoint of a dump (the same hosts as ``[h for h in hs.hosts if h.eds in ...]``).
    The addresses are the first :data:`_SHOWN` (a host set made of the EDS facts a
    forked child sent keeps those: :func:`pdebug.model.hosts.eds_facts`).
    """
    eds = hs.eds
    picked = [i for i, e in enumerate(eds) if e in states]
    if not picked:
        return [], []
    return [eds[i] for i in picked], hs.addresses_at(picked[:_SHOWN])


def _per_cluster(
    ctx: Context, this: Check, pick: Callable[[Host], bool], what: str, hint: str
) -> Iterator[Finding]:
    for name, hs in ctx.hosts.items():
        bad = [h for h in hs.hosts if pick(h)]
        if not bad:
            continue
        yield this.finding(
            f"cluster/{name}",
            f"{len(bad)} of {len(hs.hosts)} endpoints {what}: {_listing(bad)}",
            hint.replace("{cluster}", name),
        )


@check(
    "PD401",
    Severity.WARNING,
    "endpoint-failing-health-checks",
    "Endpoints fail the cluster's active health checks (Envoy stops sending to them).",
    ("health",),
)
def check_active_hc(ctx: Context, this: Check) -> Iterator[Finding]:
    """Hosts with ``failed_active_health_check`` in ``/clusters``."""
    return _per_cluster(
        ctx,
        this,
        lambda h: h.status is not None and h.status.failed_active_health_check,
        "fail active health checks",
        "is the app listening on that port, and does the health check's path/port match it? "
        "pdebug endpoints SOURCE --cluster '{cluster}' -o wide",
    )


@check(
    "PD402",
    Severity.WARNING,
    "endpoint-ejected",
    "Outlier detection ejected endpoints (consecutive 5xx, gateway or local failures).",
    ("health",),
)
def check_outlier(ctx: Context, this: Check) -> Iterator[Finding]:
    """Hosts with ``failed_outlier_check`` in ``/clusters``."""
    return _per_cluster(
        ctx,
        this,
        lambda h: h.status is not None and h.status.failed_outlier_check,
        "are ejected by outlier detection",
        "those endpoints answered errors (5xx/connect failures): read their logs; they "
        "return after base_ejection_time"
        + ("" if ctx.control_plane else " (DestinationRule outlierDetection)"),
    )


_EDS_SOURCE_NOTE = " (config_dump reports DRAINING as UNHEALTHY: --clusters-json tells them apart)"


@check(
    "PD403",
    Severity.WARNING,
    "endpoint-eds-unhealthy",
    "The control plane marks endpoints UNHEALTHY or TIMEOUT in EDS (e.g. pods not ready).",
    ("endpoints", "health"),
)
def check_eds_unhealthy(ctx: Context, this: Check) -> Iterator[Finding]:
    """Hosts whose EDS status is UNHEALTHY or TIMEOUT."""
    for name, hs in ctx.hosts.items():
        if hs.eds_statuses.isdisjoint(UNHEALTHY_EDS):
            continue
        bad, shown = _eds_in(hs, UNHEALTHY_EDS)
        if not bad:
            continue
        states = "/".join(sorted(set(bad)))
        note = "" if hs.live else _EDS_SOURCE_NOTE
        yield this.finding(
            f"cluster/{name}",
            f"{len(bad)} of {hs.count} endpoints are {states} per EDS: "
            + _listing_of(shown, len(bad)),
            "the control plane says so (pod not ready, failing readiness probe?): "
            "kubectl get endpointslices; kubectl describe the pods" + note,
        )


@check(
    "PD404",
    Severity.INFO,
    "endpoint-eds-draining",
    "EDS marks endpoints DRAINING or DEGRADED (a rollout, or a degraded backend).",
    ("endpoints", "health"),
)
def check_eds_draining(ctx: Context, this: Check) -> Iterator[Finding]:
    """Hosts whose EDS status is DRAINING (live data only) or DEGRADED."""
    for name, hs in ctx.hosts.items():
        if hs.eds_statuses.isdisjoint(_DRAINING_EDS):
            continue
        bad, shown = _eds_in(hs, _DRAINING_EDS)
        if not bad:
            continue
        kinds = sorted(set(bad))
        hints = {
            "DEGRADED": "DEGRADED endpoints get traffic only when no healthy one is left",
            "DRAINING": "DRAINING endpoints get no new requests (pods terminating, a rollout)",
        }
        yield this.finding(
            f"cluster/{name}",
            f"{len(bad)} of {hs.count} endpoints are {'/'.join(kinds)} per EDS: "
            + _listing_of(shown, len(bad)),
            "; ".join(hints[k] for k in kinds),
        )


CHECKS = (check_active_hc, check_outlier, check_eds_unhealthy, check_eds_draining)
