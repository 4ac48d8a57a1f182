"""Facts: each cluster's endpoints (hosts), from ``/clusters`` or from the dump.

A :class:`Host` carries what the data says of one endpoint (its EDS status, and Envoy's
live flags when ``/clusters`` was read) and asks :func:`pdebug.model.health.endpoint_health`
whether it is usable. :func:`host_sets` is what checks and the report's topology read.
Kept apart from :mod:`pdebug.model.health`, which every command imports: only the
commands that judge endpoints load this.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import msgspec

from pdebug.model import schema as s
from pdebug.model.address import address_text
from pdebug.model.health import UNHEALTHY_EDS, endpoint_health, is_usable

if TYPE_CHECKING:
    from pdebug.model import ProxyData
    from pdebug.model.clusters import ClusterRecord


class Host(msgspec.Struct, frozen=True):
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


#: EDS statuses whose hosts Envoy does not load-balance to (from a dump, no live flags).
_NOT_USABLE_EDS = UNHEALTHY_EDS | {"DRAINING"}


class HostSet:
    """A cluster's hosts and whether they come from live health (``/clusters``).

    From a dump, the :class:`Host` objects are built on first use of :attr:`hosts`: a
    check that only asks whether any host is usable (:meth:`any_usable`), how many
    there are (:attr:`count`) or which EDS statuses occur (:attr:`eds_statuses`) reads
    the assignment's statuses without a host object per endpoint.
    """

    __slots__ = (
        "_addrs",
        "_cla",
        "_eds",
        "_eds_set",
        "_hosts",
        "_levels",
        "cluster",
        "listed",
        "live",
    )

    def __init__(
        self, cluster: str, hosts: list[Host], live: bool, listed: str | None = None
    ) -> None:
        self.cluster = cluster
        self.live = live
        #: The cluster name the source lists these hosts under: the dump's EDS section
        #: (the assignment's ``cluster_name``, or the cluster a nameless one is attributed
        #: to: :func:`pdebug.model.eds.attribute`), or ``/clusters``; None when neither
        #: lists them (a static cluster's own ``load_assignment``, hosts made by hand).
        self.listed = listed
        self._hosts: list[Host] | None = hosts
        self._cla: s.ClusterLoadAssignment | None = None
        self._eds: list[str] | None = None
        self._levels: list[str] | None = None
        self._eds_set: frozenset[str] | None = None
        self._addrs: list[str] | None = None

    @classmethod
    def of_assignment(
        cls, cluster: str, cla: s.ClusterLoadAssignment, listed: str | None = None
    ) -> HostSet:
        """The hosts of an EDS assignment (or a static ``load_assignment``), from a dump.

        ``listed``: the name the EDS section lists the assignment under (see
        :attr:`listed`); None for a ``load_assignment`` of the cluster itself.
        """
        out = cls.__new__(cls)  # one per cluster of the dump: the slots set directly
        out.cluster = cluster
        out.live = False
        out.listed = listed
        out._hosts = None
        out._cla = cla
        out._eds = out._levels = None
        out._eds_set = None
        out._addrs = None
        return out

    def __repr__(self) -> str:
        return f"HostSet(cluster={self.cluster!r}, hosts={self.hosts!r}, live={self.live!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, HostSet):
            return NotImplemented
        return (self.cluster, self.hosts, self.live) == (other.cluster, other.hosts, other.live)

    __hash__ = None  # type: ignore[assignment]

    @property
    def hosts(self) -> list[Host]:
        """The hosts, in the order the data lists them."""
        if self._hosts is None:
            assert self._cla is not None
            self._hosts = _assignment_hosts(self._cla)
        return self._hosts

    @property
    def eds(self) -> list[str]:
        """Each host's EDS status (``UNKNOWN`` when unset), in host order."""
        if self._eds is None:
            if self._hosts is None and self._cla is not None:
                self._eds = [
                    lb.health_status or "UNKNOWN"
                    for group in self._cla.endpoints
                    for lb in group.lb_endpoints
                ]
            else:
                self._eds = [h.eds for h in self.hosts]
        return self._eds

    @property
    def addresses(self) -> list[str]:
        """Each host's :attr:`Host.address`, in host order."""
        if self._hosts is None:
            assert self._cla is not None
            if self._addrs is None:  # read by the EDS-status checks, then the topology
                self._addrs = _addresses(self._cla)
            return self._addrs
        return [h.address for h in self._hosts]

    @property
    def levels(self) -> list[str]:
        """Each host's :attr:`Host.health` (:func:`endpoint_health`), in host order."""
        if self._levels is None:
            if self._hosts is None:
                # From a dump the EDS status alone decides: one call per distinct status.
                eds = self.eds
                distinct = set(eds)
                if len(distinct) == 1:  # the common case: every host alike
                    self._levels = [endpoint_health(eds[0])] * len(eds)
                else:
                    memo = {e: endpoint_health(e) for e in distinct}
                    self._levels = list(map(memo.__getitem__, eds))
            else:
                self._levels = [h.health for h in self._hosts]
        return self._levels

    @property
    def count(self) -> int:
        """How many hosts."""
        return len(self.hosts if self._hosts is not None else self.eds)

    @property
    def eds_statuses(self) -> frozenset[str]:
        """The EDS statuses that occur among the hosts."""
        if self._eds_set is None:
            self._eds_set = frozenset(self.eds)
        return self._eds_set

    def any_usable(self) -> bool:
        """Whether any host is :attr:`Host.usable`."""
        if self._hosts is None:
            # Hosts from a dump carry no live flags: only the EDS status counts
            # (endpoint_health without flags).
            return not self.eds_statuses <= _NOT_USABLE_EDS
        return any(h.usable for h in self.hosts)


def live_host(h: s.HostStatus) -> Host:
    """A ``/clusters`` host as a :class:`Host` (EDS status ``UNKNOWN`` when unset)."""
    hs = h.health_status
    eds = (hs.eds_health_status if hs is not None else "") or "UNKNOWN"
    return Host(address_text(h.address), eds, hs or s.HostHealthStatus())


def assignment_hosts(cla: s.ClusterLoadAssignment) -> Iterator[Host]:
    """The hosts of an EDS assignment (or a static ``load_assignment``)."""
    return iter(_assignment_hosts(cla))


def _assignment_hosts(cla: s.ClusterLoadAssignment) -> list[Host]:
    eds = [lb.health_status or "UNKNOWN" for group in cla.endpoints for lb in group.lb_endpoints]
    return [Host(a, e) for a, e in zip(_addresses(cla), eds, strict=True)]


def _addresses(cla: s.ClusterLoadAssignment) -> list[str]:
    # One pass, the common socket address written inline: the report and the checks
    # read every endpoint of the dump (50k on a 5k-service mesh).
    out: list[str] = []
    add = out.append
    for group in cla.endpoints:
        for lb in group.lb_endpoints:
            ep = lb.endpoint
            address = ep.address if ep is not None else None
            sa = address.socket_address if address is not None else None
            if sa is not None:
                add(f"{sa.address}:{sa.port_value}")
            else:
                add(address_text(address))
    return out


def host_sets(proxy: ProxyData, clusters: dict[str, ClusterRecord]) -> dict[str, HostSet]:
    """Each cluster's hosts: live ones from ``/clusters`` when given, else the dump's.

    From the dump: EDS clusters from the endpoints section (``include_eds``), other
    clusters of type STATIC from their ``load_assignment`` (v2: ``hosts``), DNS clusters
    from the hosts they resolved to when the endpoints section lists them (else only ``/clusters``
    knows). A dump without a clusters section: one set per named assignment.

    Args:
        proxy: The proxy's data.
        clusters: Its clusters by name (:func:`pdebug.model.clusters.by_name`).
    """
    from pdebug.model.clusters import kind as cluster_kind
    from pdebug.model.clusters import own_assignment

    if proxy.health is not None:
        return {
            st.name: HostSet(st.name, [live_host(h) for h in st.host_statuses], True, st.name)
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
    of_assignment = HostSet.of_assignment
    for name, cc in clusters.items():
        if cc.state == "WARMING":
            continue
        cluster = cc.entry.cluster
        kind = cluster_kind(cluster)
        cla: s.ClusterLoadAssignment | None = None
        listed = name  # the EDS section's name of the assignment (see HostSet.listed)
        if kind == "EDS":
            eds = cluster.eds_cluster_config
            service = eds.service_name if eds is not None and eds.service_name else name
            cla = clas.get(service) or clas.get(name)
            if cla is not None and cla is clas.get(service):
                listed = service
        elif kind == "STATIC":
            cla = clas.get(name) or own_assignment(cluster) or s.ClusterLoadAssignment()
        else:  # DNS clusters: Envoy's EDS section carries the hosts they resolved to
            cla = clas.get(name)
        if cla is not None:
            out[name] = of_assignment(name, cla, listed if cla is clas.get(listed) else None)
    if not clusters and dump is not None and not dump.has("clusters"):
        # An endpoints-only dump: each assignment is its cluster's hosts.
        for name, cla in clas.items():
            if name:
                out[name] = of_assignment(name, cla, name)
    return out
