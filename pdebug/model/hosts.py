"""Facts: each cluster's endpoints (hosts), from ``/clusters`` or from the dump.

A :class:`Host` carries what the data says of one endpoint (its EDS status, and Envoy's
live flags when ``/clusters`` was read) and asks :func:`pdebug.model.health.endpoint_health`
whether it is usable. :func:`host_sets` is what checks and the report's topology read.
Kept apart from :mod:`pdebug.model.health`, which every command imports: only the
commands that judge endpoints load this.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import groupby
from typing import TYPE_CHECKING, Any

import msgspec

from pdebug.model import schema as s
from pdebug.model.address import address_text
from pdebug.model.health import UNHEALTHY_EDS, endpoint_health, is_usable

if TYPE_CHECKING:
    from pdebug.model import ConfigDump, ProxyData
    from pdebug.model.clusters import ClusterRecord

#: One EDS assignment as :func:`eds_facts` sends it: ``(cluster_name, runs, kept)``.
#: ``runs`` is each host's EDS status run-length coded, ``(status, n, status, n...)``
#: in host order; ``kept`` the first :data:`FIRST` hosts of each status but
#: :data:`UNLISTED_EDS`, ``(index, address, index, address...)``.
Facts = tuple[str, tuple[Any, ...], tuple[Any, ...]]

#: How many hosts of each status :func:`eds_facts` keeps the address of (the checks
#: list the first three of a bad group).
FIRST = 3
#: The EDS statuses whose hosts :func:`eds_facts` keeps no address of (no check lists
#: a usable host: asking for one reads the section, :meth:`HostSet.addresses_at`).
UNLISTED_EDS = frozenset({"HEALTHY", "UNKNOWN"})


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
        "_facts",
        "_hosts",
        "_levels",
        "_source",
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
        self._facts: Facts | None = None
        self._source: _Assignments | None = None

    @classmethod
    def of_assignment(
        cls, cluster: str, cla: s.ClusterLoadAssignment, listed: str | None = None
    ) -> HostSet:
        """The hosts of an EDS assignment (or a static ``load_assignment``), from a dump.

        ``listed``: the name the EDS section lists the assignment under (see
        :attr:`listed`); None for a ``load_assignment`` of the cluster itself.
        """
        out = cls._of_dump(cluster, listed)
        out._cla = cla
        return out

    @classmethod
    def _of_dump(cls, cluster: str, listed: str | None) -> HostSet:
        out = cls.__new__(cls)  # one per cluster of the dump: the slots set directly
        out.cluster = cluster
        out.live = False
        out.listed = listed
        out._hosts = None
        out._cla = None
        out._eds = out._levels = None
        out._eds_set = None
        out._addrs = None
        out._facts = None
        out._source = None
        return out

    @classmethod
    def of_facts(
        cls, cluster: str, facts: Facts, listed: str | None, source: _Assignments
    ) -> HostSet:
        """The hosts of an EDS assignment known by its :data:`Facts` (see :func:`eds_facts`).

        Its statuses, count and the addresses the facts keep are answered from them;
        the hosts themselves (:attr:`hosts`, :attr:`addresses`) are read from ``source``
        (the dump's EDS section, decoded then) on first use.
        """
        out = cls._of_dump(cluster, listed)
        out._facts = facts
        out._source = source
        return out

    def _assignment(self) -> s.ClusterLoadAssignment:
        """The decoded assignment (read from the dump for a set made of facts)."""
        if self._cla is None:
            assert self._facts is not None and self._source is not None
            self._cla = self._source.get(self._facts[0])
        return self._cla

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
            self._hosts = _assignment_hosts(self._assignment())
        return self._hosts

    @property
    def eds(self) -> list[str]:
        """Each host's EDS status (``UNKNOWN`` when unset), in host order."""
        if self._eds is None:
            if self._hosts is None and self._facts is not None:
                runs = self._facts[1]
                self._eds = []
                for i in range(0, len(runs), 2):
                    self._eds += [runs[i]] * runs[i + 1]
            elif self._hosts is None and self._cla is not None:
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
            if self._addrs is None and self._facts is not None and not self._facts[1]:
                self._addrs = []  # no host (the topology asks): nothing to decode
            if self._addrs is None:  # read by the EDS-status checks, then the topology
                self._addrs = _addresses(self._assignment())
            return self._addrs
        return [h.address for h in self._hosts]

    def addresses_at(self, indices: list[int]) -> list[str]:
        """``[addresses[i] for i in indices]``: from the facts when they keep each one."""
        if self._facts is not None and self._hosts is None and self._addrs is None:
            kept = self._facts[2]
            at = {kept[i]: kept[i + 1] for i in range(0, len(kept), 2)}
            if all(i in at for i in indices):
                return [at[i] for i in indices]
        addresses = self.addresses
        return [addresses[i] for i in indices]

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
        if self._hosts is None and self._facts is not None:
            return sum(self._facts[1][1::2])
        return len(self.hosts if self._hosts is not None else self.eds)

    @property
    def eds_statuses(self) -> frozenset[str]:
        """The EDS statuses that occur among the hosts."""
        if self._eds_set is None:
            if self._hosts is None and self._facts is not None:
                self._eds_set = frozenset(self._facts[1][0::2])
            else:
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


def host_sets(
    proxy: ProxyData,
    clusters: dict[str, ClusterRecord],
    facts: list[Facts] | None = None,
) -> dict[str, HostSet]:
    """Each cluster's hosts: live ones from ``/clusters`` when given, else the dump's.

    From the dump: EDS clusters from the endpoints section (``include_eds``), other
    clusters of type STATIC from their ``load_assignment`` (v2: ``hosts``), DNS clusters
    from the hosts they resolved to when the endpoints section lists them (else only ``/clusters``
    knows). A dump without a clusters section: one set per named assignment.

    Args:
        proxy: The proxy's data.
        clusters: Its clusters by name (:func:`pdebug.model.clusters.by_name`).
        facts: What :func:`eds_facts` made of the dump's EDS section (in a forked
            child, #17), to read instead of the section: the same host sets, whose
            hosts are read from the section only when asked for.
    """
    from pdebug.model.clusters import kind as cluster_kind
    from pdebug.model.clusters import own_assignment

    if proxy.health is not None:
        return {
            st.name: HostSet(st.name, [live_host(h) for h in st.host_statuses], True, st.name)
            for st in proxy.health.statuses
        }
    out: dict[str, HostSet] = {}
    #: The EDS section's assignments by cluster name (the first one wins): decoded, or
    #: their facts.
    clas: dict[str, Any] = {}
    dump = proxy.dump
    source: _Assignments | None = None
    if facts is not None and dump is not None:
        source = _Assignments(dump)
        clas = {item[0]: item for item in facts}
    elif dump is not None and dump.has("endpoints"):
        from pdebug.model.eds import attribute  # nameless assignments (Consul, OSM)

        names = attribute(dump)
        for key in ("dynamic_endpoint_configs", "static_endpoint_configs"):
            for entry in dump.endpoint_entries(key).items:
                assignment = entry.endpoint_config
                clas.setdefault(names.cluster_of(assignment), assignment)
    of_assignment = HostSet.of_assignment
    of_facts = HostSet.of_facts

    def hosts_of(name: str, cla: Any, listed: str | None) -> HostSet:
        if source is not None and isinstance(cla, tuple):
            return of_facts(name, cla, listed, source)
        return of_assignment(name, cla, listed)

    for name, cc in clusters.items():
        if cc.state == "WARMING":
            continue
        cluster = cc.entry.cluster
        kind = cluster_kind(cluster)
        cla: Any = None
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
            out[name] = hosts_of(name, cla, listed if cla is clas.get(listed) else None)
    if not clusters and dump is not None and not dump.has("clusters"):
        # An endpoints-only dump: each assignment is its cluster's hosts.
        for name, cla in clas.items():
            if name:
                out[name] = hosts_of(name, cla, name)
    return out


class _Assignments:
    """The dump's EDS assignments by cluster name, decoded on first use (the first wins).

    What a :class:`HostSet` made of :data:`Facts` reads its hosts from. Only used when
    every assignment names its cluster (:func:`eds_facts` answers None otherwise).
    """

    def __init__(self, dump: ConfigDump) -> None:
        self._dump = dump
        self._by_name: dict[str, s.ClusterLoadAssignment] | None = None

    def get(self, name: str) -> s.ClusterLoadAssignment:
        if self._by_name is None:
            by_name: dict[str, s.ClusterLoadAssignment] = {}
            for key in ("dynamic_endpoint_configs", "static_endpoint_configs"):
                for entry in self._dump.endpoint_entries(key).items:
                    cla = entry.endpoint_config
                    by_name.setdefault(cla.cluster_name, cla)
            self._by_name = by_name
        return self._by_name[name]


#: The section fields :func:`eds_facts` reads, in the order :func:`host_sets` reads them.
_EDS_KEYS = ("dynamic_endpoint_configs", "static_endpoint_configs")


def eds_facts(dump: ConfigDump) -> tuple[bool, list[Facts]] | None:
    """The dump's EDS section as :func:`host_sets` reads it, compact (#17).

    What a child forked by ``pdebug check`` sends back (``marshal`` writes it): whether
    the strict section decode read the section (:attr:`Section.members_known`), and
    each cluster name's first assignment as :data:`Facts`, in section order. None when
    the facts cannot stand for the decoded section: no endpoints section, a section the
    one-pass typed decode did not read whole (the field-by-field reading may warn, or
    find sections the layout missed), or an assignment without ``cluster_name`` (its
    cluster is attributed from the clusters section: :func:`pdebug.model.eds.attribute`).
    """
    sec = dump.section("endpoints")
    if sec is None:
        return None
    first: dict[str, s.ClusterLoadAssignment] = {}
    seen = 0
    for key in _EDS_KEYS:
        for entry in dump.endpoint_entries(key).items:
            cla = entry.endpoint_config
            if not cla.cluster_name:
                return None
            first.setdefault(cla.cluster_name, cla)
            seen += 1
    if not sec.planned.issuperset(_EDS_KEYS):
        return None
    items: list[Facts] = [(name, *_facts_of(cla)) for name, cla in first.items()]
    if seen == len(first):  # one assignment per cluster: its runs count all its hosts
        dump.facts[EDS_RUNS] = items
    return sec.members_known, items


#: Where :func:`eds_facts` keeps its facts when each cluster has one assignment: they
#: count every host (``views/clusters.endpoint_counts`` reads them, #17).
EDS_RUNS = "hosts.eds_runs"


#: :func:`eds_facts` as a child sends it: whether the members are known, the names, each
#: one's runs (an int ``n`` for ``("HEALTHY", n)``, 0 for none), and the ``kept`` of those
#: that keep any, by position. 0.87 MB for the 5k-service bench dump's 12,848
#: assignments instead of 1.04 MB: it fits the child's pipe (1 MB), so the child does not
#: wait for the parent to read it before it goes on.
Packed = tuple[bool, list[str], list[Any], dict[int, tuple[Any, ...]]]


def pack(facts: tuple[bool, list[Facts]] | None) -> Packed | None:
    """:func:`eds_facts`'s answer as the child sends it (:func:`unpack` reads it)."""
    if facts is None:
        return None
    members_known, items = facts
    names: list[str] = []
    runs: list[Any] = []
    kept: dict[int, tuple[Any, ...]] = {}
    for i, (name, run, keep) in enumerate(items):
        names.append(name)
        if not run:
            runs.append(0)
        elif len(run) == 2 and run[0] == "HEALTHY":
            runs.append(run[1])
        else:
            runs.append(run)
        if keep:
            kept[i] = keep
    return members_known, names, runs, kept


def unpack(packed: Packed) -> tuple[bool, list[Facts]]:
    """What :func:`pack` made, as :func:`eds_facts` answered."""
    members_known, names, runs, kept = packed
    items: list[Facts] = []
    for i, (name, run) in enumerate(zip(names, runs, strict=True)):
        if isinstance(run, int):
            run = ("HEALTHY", run) if run else ()
        items.append((name, run, kept.get(i, ())))
    return members_known, items


def _facts_of(cla: s.ClusterLoadAssignment) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """An assignment's ``runs`` and ``kept`` (see :data:`Facts`)."""
    eds = [lb.health_status or "UNKNOWN" for group in cla.endpoints for lb in group.lb_endpoints]
    if not eds:
        return (), ()
    distinct = set(eds)
    if len(distinct) == 1:
        runs: tuple[Any, ...] = (eds[0], len(eds))
    else:
        flat: list[Any] = []
        for status, group in groupby(eds):
            flat += (status, sum(1 for _ in group))
        runs = tuple(flat)
    if distinct <= UNLISTED_EDS:
        return runs, ()
    addresses = _addresses(cla)
    kept: list[Any] = []
    seen: dict[str, int] = {}
    for i, status in enumerate(eds):
        if status not in UNLISTED_EDS and seen.get(status, 0) < FIRST:
            seen[status] = seen.get(status, 0) + 1
            kept += (i, addresses[i])
    return runs, tuple(kept)
