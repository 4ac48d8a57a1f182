"""Facts: endpoint health. Envoy's ``/clusters?format=json`` and the one health rule.

:func:`endpoint_health` is the only place pdebug decides whether Envoy sends traffic to
an endpoint; views (``clusters -o wide``, ``endpoints``), checks, the report's topology
and ``trace`` all ask it. Envoy's rule (``Host::coarseHealth`` and the excluded host
set, Envoy >= 1.20), from what the data says of a host:

* **unhealthy** (no traffic outside panic mode): it failed active health checking
  (``failed_active_health_check``), outlier detection ejected it
  (``failed_outlier_check``), an immediate health-check failure excluded it
  (``excluded_via_immediate_hc_fail``), or EDS says ``UNHEALTHY`` or ``TIMEOUT``;
* **draining**: EDS says ``DRAINING`` (the pod is going away): no new traffic either,
  but on purpose, so the report shows it as a warning, not an error;
* **degraded**: EDS says ``DEGRADED`` or active health checking found it degraded
  (``failed_active_degraded_check``): used only when too few healthy hosts are left;
* **healthy** otherwise: EDS ``HEALTHY``, ``UNKNOWN`` or unset. A host pending removal
  (``pending_dynamic_removal``: EDS dropped it but it still passes health checks) keeps
  its health: Envoy keeps load-balancing to it until it fails a check.

A config dump (EDS) carries only the EDS status; ``/clusters`` carries the flags too,
and it keeps ``DRAINING`` where ``config_dump?include_eds`` reports ``UNHEALTHY``.
"""

from __future__ import annotations

import sys
from typing import Any, Literal

import msgspec

from pdebug.errors import InvalidInput
from pdebug.model import schema as s


class _Document(msgspec.Struct, gc=False):
    cluster_statuses: msgspec.Raw = msgspec.Raw()
    clusterStatuses: msgspec.Raw = msgspec.Raw()  # noqa: N815 - wire spelling


_DOCUMENT = msgspec.json.Decoder(_Document, strict=False)


class ClustersStatus:
    """A parsed ``/clusters?format=json`` document."""

    def __init__(self, doc: s.ClustersDocument, data: bytes, source: str) -> None:
        self.doc = doc
        self._data = data
        self.source = source
        self._generic: list[Any] | None = None
        #: What the file was, in the messages that name it (text /clusters is read as
        #: its JSON form: :func:`pdebug.model.load.load`).
        self.document = "a /clusters?format=json document"

    @classmethod
    def parse(cls, data: bytes, source: str) -> ClustersStatus:
        """Decode ``data``, each field in either spelling (snake_case or lowerCamelCase).

        A cluster whose status does not decode is skipped with a warning.

        Raises:
            InvalidInput: not JSON, or not a ``/clusters?format=json`` document.
        """
        from pdebug.model.dump import DECODE_FAILURES, decode_failure, decode_items, sanitize

        hint = "capture it with: curl -s 'localhost:15000/clusters?format=json'"
        try:
            top = _DOCUMENT.decode(data)
        except DECODE_FAILURES as exc:
            raise InvalidInput(
                f"{source}: not a valid /clusters?format=json document ({decode_failure(exc)})",
                hint=hint,
            ) from None
        raw = top.cluster_statuses if len(top.cluster_statuses) else top.clusterStatuses
        statuses: list[s.ClusterStatus] = []
        if len(raw) and bytes(raw) != b"null":

            def warn(message: str) -> None:
                print(f"pdebug: warning: {sanitize(message)}", file=sys.stderr)

            statuses = decode_items(raw, s.ClusterStatus, f"{source}: cluster_statuses", warn)
        return cls(s.ClustersDocument(cluster_statuses=statuses), data, source)

    @property
    def statuses(self) -> list[s.ClusterStatus]:
        """``cluster_statuses[]`` in document order."""
        return self.doc.cluster_statuses

    def raw_status(self, index: int) -> Any:
        """``cluster_statuses[index]`` (as :attr:`statuses` numbers it) as in the document."""
        from pdebug.model.dump import plain_json, position

        if self._generic is None:
            top = plain_json(self._data, self.source)
            found = top.get("cluster_statuses", top.get("clusterStatuses", []))
            self._generic = found if isinstance(found, list) else []
        return self._generic[position(self.doc.cluster_statuses, index)]


HEALTHY = "healthy"
DEGRADED = "degraded"
DRAINING = "draining"
UNHEALTHY = "unhealthy"
#: What :func:`lb_health` answers: the load balancer's three sets.
LbHealth = Literal["healthy", "degraded", "unhealthy"]

#: EDS statuses Envoy never sends traffic to (``DRAINING`` is told apart, see above).
UNHEALTHY_EDS = frozenset({"UNHEALTHY", "TIMEOUT"})


#: Envoy's flags on a ``/clusters`` host: field, the ``endpoints`` table's code, and the
#: words the report uses (None: the report does not show it).
HOST_FLAGS: tuple[tuple[str, str, str | None], ...] = (
    ("failed_active_health_check", "FAILED_ACTIVE_HC", "failed active health check"),
    ("failed_outlier_check", "FAILED_OUTLIER", "ejected by outlier detection"),
    ("failed_active_degraded_check", "FAILED_DEGRADED_HC", None),
    ("pending_dynamic_removal", "PENDING_REMOVAL", "pending removal"),
    ("pending_active_hc", "PENDING_ACTIVE_HC", None),
    ("excluded_via_immediate_hc_fail", "EXCLUDED", "excluded"),
    ("active_hc_timeout", "HC_TIMEOUT", None),
)


def set_flags(flags: s.HostHealthStatus | None) -> list[tuple[str, str | None]]:
    """``(code, words)`` of each flag set on a host, in :data:`HOST_FLAGS` order."""
    if flags is None:
        return []
    return [(code, words) for name, code, words in HOST_FLAGS if getattr(flags, name)]


def endpoint_health(eds: str, flags: s.HostHealthStatus | None = None) -> str:
    """:data:`HEALTHY`, :data:`DEGRADED`, :data:`DRAINING` or :data:`UNHEALTHY`.

    Args:
        eds: The EDS health status (``""`` and ``UNKNOWN`` mean unset).
        flags: Envoy's live flags on the host (``/clusters``), None from a dump.
    """
    if flags is not None and (
        flags.failed_active_health_check
        or flags.failed_outlier_check
        or flags.excluded_via_immediate_hc_fail
    ):
        return UNHEALTHY
    if eds in UNHEALTHY_EDS:
        return UNHEALTHY
    if eds == "DRAINING":
        return DRAINING
    if eds == "DEGRADED" or (flags is not None and flags.failed_active_degraded_check):
        return DEGRADED
    return HEALTHY


def unusable_reasons(eds: str, flags: s.HostHealthStatus | None = None) -> list[str]:
    """Why :func:`endpoint_health` finds an endpoint unhealthy or draining (empty if not)."""
    out: list[str] = []
    if flags is not None:
        if flags.failed_active_health_check:
            out.append("fail active health checks")
        if flags.failed_outlier_check:
            out.append("ejected by outlier detection")
        if flags.excluded_via_immediate_hc_fail:
            out.append("excluded (immediate health check fail)")
    if eds in UNHEALTHY_EDS or eds == "DRAINING":
        out.append(f"{eds} per EDS")
    return out


def is_usable(level: str) -> bool:
    """Whether Envoy load-balances to an endpoint of ``level`` (degraded ones count)."""
    return level in (HEALTHY, DEGRADED)


def host_health(host: s.HostStatus) -> str:
    """:func:`endpoint_health` of a ``/clusters`` host."""
    hs = host.health_status
    return endpoint_health(hs.eds_health_status if hs is not None else "", hs)


def lb_health(eds: str, flags: s.HostHealthStatus | None = None) -> LbHealth:
    """:data:`HEALTHY`, :data:`DEGRADED` or :data:`UNHEALTHY`: the load balancer's sets.

    A draining endpoint is one of the unhealthy here (``trace`` speaks of these three).
    """
    level = endpoint_health(eds, flags)
    if level == HEALTHY:
        return "healthy"
    if level == DEGRADED:
        return "degraded"
    return "unhealthy"


def host_lb_health(host: s.HostStatus) -> LbHealth:
    """:func:`lb_health` of a ``/clusters`` host."""
    hs = host.health_status
    return lb_health(hs.eds_health_status if hs is not None else "", hs)
