"""What checks read: one proxy's data, decoded lazily and indexed once per run.

Several checks need the same derived facts (every cluster name, what routes where,
each cluster's hosts); :class:`Context` asks the model's facts layer for each on first
use (:mod:`pdebug.model.clusters`, :mod:`~pdebug.model.listeners`,
:mod:`~pdebug.model.routes`, :mod:`~pdebug.model.health`) and keeps it for the other
checks of the run (and the report's topology). Nothing here decides what is wrong:
that is the checks' job.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

from pdebug.checks.options import CheckOptions
from pdebug.model import ConfigDump, ProxyData
from pdebug.model import schema as s
from pdebug.model.camel import snake_keys
from pdebug.model.clusters import ClusterRecord
from pdebug.model.clusters import by_name as clusters_by_name
from pdebug.model.clusters import kind as cluster_kind
from pdebug.model.dump import SCANNED_MARKS, lacks, note_lacking
from pdebug.model.hosts import Facts, Host, HostSet, host_sets, unpack
from pdebug.model.listeners import (
    HCM,
    TCP_PROXY,
    ListenerFacts,
    ListenerRecord,
    chains,
    decode_filter,
    network_kind,
    service_clusters,
)
from pdebug.model.routes import RouteConfigRecord, RouteFacts, route_targets, tcp_targets
from pdebug.model.routes import configs as route_configs
from pdebug.model.sections import EntryMembers, none_when_absent

if TYPE_CHECKING:
    from pdebug.parallel import Ran, Spawned

T = TypeVar("T")


#: ``(chain index, chain, decoded filter)``: what :meth:`Context.network_filters` yields.
NetworkFilter = tuple[int, s.FilterChain, s.HttpConnectionManager | s.TcpProxy]

#: Old names, kept for the checks and tests that use them.
ListenerConfig = ListenerRecord
ClusterConfig = ClusterRecord
RouteConfig = RouteConfigRecord

__all__ = [
    "ClusterConfig",
    "Context",
    "Host",
    "HostSet",
    "ListenerConfig",
    "RouteConfig",
    "cluster_kind",
    "route_targets",
    "tcp_targets",
]


class Context:
    """One proxy's data plus the options, with lazily built indexes shared by checks."""

    def __init__(self, proxy: ProxyData, options: CheckOptions) -> None:
        self.proxy = proxy
        self.options = options
        self.now = options.now or datetime.now(UTC)
        #: id(listener record) -> (the record, its decoded filters): see network_filters.
        self._filters: dict[int, tuple[ListenerRecord, list[NetworkFilter]]] = {}
        #: What :meth:`shared` built, by key.
        self._shared: dict[str, Any] = {}
        #: What :meth:`early` built ahead of its turn, by key, until :meth:`shared` asks.
        self._early: dict[str, Ran] = {}
        #: Whether work may run ahead of its turn while :attr:`child` works (``pdebug
        #: check``'s fork): :meth:`early`, and the checks :func:`pdebug.checks.run_checks`
        #: runs ahead (#17).
        self.ahead = False
        #: Whether this process reads the entries' unread members (:meth:`entry_members`)
        #: ahead of their turn, not :attr:`child` (#17).
        self.members_here = False
        #: A child forked by :func:`pdebug.checks.run_checks` that reads the EDS and
        #: routes sections meanwhile (:func:`pdebug.model.hosts.eds_facts`,
        #: :func:`pdebug.model.routes.route_facts`): :attr:`hosts`,
        #: :attr:`references`, :attr:`route_facts` read its answer instead of the
        #: sections, when it gives one (#17).
        self.child: Spawned | None = None
        #: Whether :attr:`hosts` was built from the EDS facts :attr:`child` sent: then
        #: every assignment names its cluster (:func:`pdebug.model.hosts.eds_facts`).
        self.eds_from_child = False

    def shared(self, key: str, build: Callable[[], T]) -> T:
        """``build()``, once per run: a fact several checks read (kept under ``key``).

        A ``build`` that raises is not kept: the next check to ask builds it again (and
        meets the same error). One :meth:`early` built is taken instead: what it said is
        said now, what it raised is raised now.
        """
        if key not in self._shared:
            ran = self._early.pop(key, None)
            if ran is None:
                self._shared[key] = build()
            else:
                ran.replay()
                self._shared[key] = ran.value
        return self._shared[key]  # type: ignore[no-any-return]

    def early(self, key: str, build: Callable[[], object]) -> None:
        """``build()`` now, ahead of :meth:`shared`'s ``key``, its output kept till then.

        Only with :attr:`ahead` (the parent waits for :attr:`child` otherwise), and once.
        What it writes and the dump's warnings it says are kept (:class:`pdebug.parallel.Ran`)
        and said when :meth:`shared` first asks for ``key``, so stderr reads as in one
        process; never said if none does. ``build`` must read only what the checks
        before that ask have built already, or what no check builds with a word said.
        """
        if not self.ahead or key in self._shared or key in self._early:
            return
        from pdebug.parallel import Ran

        quiet = [self.proxy.dump] if self.proxy.dump is not None else []
        self._early[key] = Ran().run(build, quiet)

    @property
    def dump(self) -> ConfigDump:
        """The config dump (checks that run have declared that they need one)."""
        assert self.proxy.dump is not None
        return self.proxy.dump

    def has(self, need: str) -> bool:
        """Whether the data has ``need``: a dump section kind, or ``health``.

        A full dump without a secrets section has it: the proxy has no secrets (older
        Envoys write no empty section), so the secret checks run and find nothing.
        """
        if need == "health":
            return self.proxy.health is not None
        if need == "stats":
            return self.proxy.stats is not None
        dump = self.proxy.dump
        return dump is not None and (dump.has(need) or none_when_absent(dump, need))

    def camel(self, kind: str) -> bool:
        """Whether section ``kind`` is spelled lowerCamelCase."""
        sec = self.dump.section(kind) if self.proxy.dump is not None else None
        return sec is not None and sec.camel

    # -- who serves the config -----------------------------------------------------------

    @cached_property
    def control_plane(self) -> str:
        """The non-Istio control plane serving this proxy ("" for Istio or unknown)."""
        if self.proxy.dump is None:
            return ""
        from pdebug.model.bootstrap import control_plane

        return control_plane(self.proxy.dump)

    def xds_hint(self) -> str:
        """Where to look when the proxy's xDS source is not answering."""
        other = self.control_plane
        return f"is {other} reachable? its logs" if other else "istiod reachable? pilot-agent logs"

    # -- listeners ---------------------------------------------------------------------

    @cached_property
    def listener_facts(self) -> ListenerFacts:
        """The listeners section walked once (states, rejections)."""
        assert self.proxy.dump is not None
        return ListenerFacts(self.proxy.dump)

    @property
    def listeners(self) -> list[ListenerRecord]:
        """Every listener config Envoy holds: dynamic (any state but error), then static."""
        if not self.has("listeners"):
            return []
        return self.listener_facts.configs

    def network_filters(self, lc: ListenerRecord) -> Iterator[NetworkFilter]:
        """``(chain index, chain, decoded filter)`` for each HCM and tcp_proxy of ``lc``.

        A filter is recognised by its well-known name or by its ``@type``. Each
        listener's filters are decoded once per run (three checks and the topology read
        them); a filter that cannot be decoded raises its error on every call.
        """
        held = self._filters.get(id(lc))
        if held is None or held[0] is not lc:
            held = (lc, list(self._decode_filters(lc)))
            self._filters[id(lc)] = held
        return iter(held[1])

    @staticmethod
    def _decode_filters(lc: ListenerRecord) -> Iterator[NetworkFilter]:
        for index, chain in enumerate(chains(lc.listener)):
            for f in chain.filters:
                kind = network_kind(f)
                if kind == HCM:
                    yield (
                        index,
                        chain,
                        decode_filter(f, s.HttpConnectionManager, lc.camel, f"listener {lc.name}"),
                    )
                elif kind == TCP_PROXY:
                    yield (
                        index,
                        chain,
                        decode_filter(f, s.TcpProxy, lc.camel, f"listener {lc.name}"),
                    )

    # -- clusters ----------------------------------------------------------------------

    @cached_property
    def clusters(self) -> dict[str, ClusterRecord]:
        """Clusters by name: active and static first, then warming ones not yet active."""
        if not self.has("clusters"):
            return {}
        return clusters_by_name(self.dump)

    def matches_lack(self, mark: bytes) -> bool:
        """Whether no cluster's ``transport_socket_matches`` holds ``mark`` (known so).

        Known without searching each cluster's (44 MB of them on a 5k-service mesh):
        :attr:`child` (``pdebug check``), or ``pdebug report`` here, searched the clusters
        section's own bytes for the marks of :data:`pdebug.model.dump.SCANNED_MARKS`
        (``inline``, ``filename``...) in one pass; that answers for the clusters only
        when they were decoded from those bytes (:func:`pdebug.model.dump.lacks`).
        """
        if mark not in SCANNED_MARKS:
            return False
        said = self._child_facts(2)
        if said is not None:  # kept for the secrets table (pdebug report)
            note_lacking(self.dump, "clusters", said)
        return lacks(self.dump, "clusters", mark)

    def entry_members(self) -> dict[int, EntryMembers] | None:
        """The unread members :attr:`child` found in listener and route config entries.

        :func:`pdebug.model.sections.entry_members_of`; None without an answer. Or
        those read here ahead of their turn (:meth:`early`, ``members``).
        """
        ran = self._early.pop("members", None)
        if ran is not None:
            ran.replay()
            return ran.value  # type: ignore[no-any-return]
        return self._child_facts(3)  # type: ignore[no-any-return]

    def cluster_plain(self, cc: ClusterRecord) -> dict[str, Any]:
        """A cluster as plain snake_case data (for fields the typed schema leaves out)."""
        value = snake_keys(cc.ref.resolve())
        return value if isinstance(value, dict) else {}

    # -- routes ------------------------------------------------------------------------

    @cached_property
    def route_configs(self) -> list[RouteConfigRecord]:
        """RDS route configs, then the static (inline) ones; a repeated name counts once."""
        if not self.has("routes"):
            return []
        return route_configs(self.dump)

    @cached_property
    def route_facts(self) -> list[RouteFacts] | None:
        """The routes section's facts :attr:`child` sent, or None (it is read here)."""
        got = self._child_facts(1)
        if got is None:
            return None
        members_known, facts = got
        sec = self.dump.section("routes")
        if members_known and sec is not None:
            sec.members_known = True  # the child's strict decode read it whole
        return facts  # type: ignore[no-any-return]

    @cached_property
    def route_names(self) -> frozenset[str]:
        """The names of the route configurations the proxy holds."""
        facts = self.route_facts
        if facts is not None:
            return frozenset(name for name, _, _, _ in facts)
        return frozenset(rc.name for rc in self.route_configs)

    @cached_property
    def references(self) -> dict[str, str]:
        """Cluster name -> the first resource that sends traffic to it.

        A route, a tcp_proxy, or an HTTP filter's own service (ext_authz, ext_proc,
        jwt_authn's remote JWKS: Envoy's ``configs/envoy_ext_authz.yaml``).
        """
        out: dict[str, str] = {}
        facts = self.route_facts
        if facts is not None:
            for _, resource, clusters, _ in facts:
                for cluster in clusters:
                    out.setdefault(cluster, resource)
        else:
            for rc in self.route_configs:
                resource = rc.resource
                for _, _, cluster in route_targets(rc.config):
                    out.setdefault(cluster, resource)
        for lc in self.listeners:
            for _, _, flt in self.network_filters(lc):
                if isinstance(flt, s.TcpProxy):
                    for cluster in tcp_targets(flt):
                        out.setdefault(cluster, f"listener/{lc.name}")
                elif isinstance(flt, s.HttpConnectionManager):
                    for hf in flt.http_filters:
                        for cluster in service_clusters(hf):
                            owner = lc.name or "(unnamed)"
                            where = f"the HTTP filter {hf.name} of listener/{owner}"
                            out.setdefault(cluster, where)
        return out

    # -- hosts -------------------------------------------------------------------------

    @cached_property
    def hosts(self) -> dict[str, HostSet]:
        """Each cluster's hosts (:func:`pdebug.model.health.host_sets`)."""
        clusters = self.clusters
        return host_sets(self.proxy, clusters, self._eds_facts())

    def _child_facts(self, part: int) -> Any:
        """Part ``part`` of what :attr:`child` sent, or None (no child, or no answer).

        0: the EDS section's facts, 1: the routes section's, 2: which marks the clusters
        section's bytes lack (:func:`pdebug.model.dump.own_bytes_lacking`; each None
        when the child could not tell), 3: :meth:`entry_members`.
        """
        if self.child is None:
            return None
        from pdebug.parallel import MISSING

        got = self.child.result(part)
        return None if got is MISSING else got

    def _eds_facts(self) -> list[Facts] | None:
        """The EDS facts :attr:`child` sent, or None (the section is read here)."""
        got = self._child_facts(0)
        if got is None:
            return None
        members_known, facts = unpack(got)
        sec = self.dump.section("endpoints")
        if members_known and sec is not None:
            sec.members_known = True  # the child's strict decode read it whole
        self.eds_from_child = True
        return facts
