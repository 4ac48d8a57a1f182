"""Facts: each cluster's endpoints (hosts), from ``/clusters`` or from the dump.

A :class:`Host` carries what the data says of one endpoint (its EDS status, and Envoy's
live flags when ``/clusters`` was read) and asks :func:`pdebug.model.health.endpoint_health`
whether it is usable. :func:`host_sets` is what checks and the report's topology read.
Kept apart from :mod:`pdebug.model.health`, which every command imports: only the
commands that judge endpoints load this.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pdebug.model import schema as s
from pdebug.model.address import address_text
from pdebug.model.health import endpoint_health, is_usable

if TYPE_CHECKING:
    from pdebug.model import ProxyData
    from pdebug.model.clusters import ClusterRecord


@dataclass(frozen=True, slots=True)
class Host:
    """One endpoint of a cluster as far as the data says.

    ``status`` is Envoy's live view (``/clusters?format=json``); ``None`` when the host
    comes from the dump (EDS or a static ``load_assignment``), where only ``eds`` is known.
    """

    address: str
    eds: str
    status: s.HostHealthStatus | None = None

    @property
    def health(self) -> str:
        """:func:`endpoint_health` of this host."""
        return endpoint_health(self.eds, self.status)

    @property
    def usable(self) -> bool:
        """Whether Envoy load-balances to it outside panic mode (degraded hosts count)."""
        return is_usable(self.health)


@dataclass(frozen=True, slots=True)
class HostSet:
    """A cluster's hosts and whether they come from live health (``/clusters``)."""

    cluster: str
    hosts: list[Host]
    live: bool


def live_host(h: s.HostStatus) -> Host:
    """A ``/clusters`` host as a :class:`Host` (EDS status ``UNKNOWN`` when unset)."""
    hs = h.health_status
    eds = (hs.eds_health_status if hs is not None else "") or "UNKNOWN"
    return Host(address_text(h.address), eds, hs or s.HostHealthStatus())


def assignment_hosts(cla: s.ClusterLoadAssignment) -> Iterator[Host]:
    """The hosts of an EDS assignment (or a static ``load_assignment``)."""
    for group in cla.endpoints:
        for lb in group.lb_endpoints:
            address = address_text(lb.endpoint.address if lb.endpoint is not None else None)
            yield Host(address, lb.health_status or "UNKNOWN")


def host_sets(proxy: ProxyData, clusters: dict[str, ClusterRecord]) -> dict[str, HostSet]:
    """Each cluster's hosts: live ones from ``/clusters`` when given, else the dump's.

    From the dump: EDS clusters from the endpoints section (``include_eds``), other
    clusters of type STATIC from their ``load_assignment``. DNS clusters resolve at
    run time, so only ``/clusters`` knows their hosts.

    Args:
        proxy: The proxy's data.
        clusters: Its clusters by name (:func:`pdebug.model.clusters.by_name`).
    """
    from pdebug.model.clusters import kind as cluster_kind

    if proxy.health is not None:
        return {
            st.name: HostSet(st.name, [live_host(h) for h in st.host_statuses], True)
            for st in proxy.health.statuses
        }
    out: dict[str, HostSet] = {}
    clas: dict[str, s.ClusterLoadAssignment] = {}
    dump = proxy.dump
    if dump is not None and dump.has("endpoints"):
        from pdebug.model.eds import attribute  # nameless assignments (Consul, OSM)

        names = attribute(dump)
        for key in ("dynamic_endpoint_configs", "static_endpoint_configs"):
            for entry in dump.endpoint_entries(key).items:
                assignment = entry.endpoint_config
                clas.setdefault(names.cluster_of(assignment), assignment)
    for name, cc in clusters.items():
        if cc.state == "WARMING":
            continue
        cluster = cc.cluster
        kind = cluster_kind(cluster)
        cla: s.ClusterLoadAssignment | None = None
        if kind == "EDS":
            eds = cluster.eds_cluster_config
            service = eds.service_name if eds is not None and eds.service_name else name
            cla = clas.get(service) or clas.get(name)
        elif kind == "STATIC":
            cla = clas.get(name) or cluster.load_assignment or s.ClusterLoadAssignment()
        if cla is not None:
            out[name] = HostSet(name, list(assignment_hosts(cla)), False)
    return out
