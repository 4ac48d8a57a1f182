"""What checks read: one proxy's data, decoded lazily and indexed once per run.

Several checks need the same derived facts (every cluster name, what routes where,
each cluster's hosts); :class:`Context` computes each on first use and keeps it for the
other checks of the run. Nothing here decides what is wrong: that is the checks' job.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

import msgspec

from pdebug.checks.base import CheckOptions
from pdebug.model import ConfigDump, ProxyData
from pdebug.model import schema as s
from pdebug.model.camel import snake_keys
from pdebug.model.dump import Ref
from pdebug.views.common import eds_address, none_when_absent
from pdebug.views.listeners import HCM, LEGACY_NAMES, TCP_PROXY, chains, decode_filter

_HCM_TYPE = "HttpConnectionManager"
_TCP_TYPE = "tcp_proxy.v3.TcpProxy"

#: EDS statuses Envoy never sends traffic to (outside panic mode).
UNUSABLE_EDS = frozenset({"UNHEALTHY", "DRAINING", "TIMEOUT"})


@dataclass(frozen=True, slots=True)
class ListenerConfig:
    """One listener Envoy holds (not a rejected one): its config and state.

    Attributes:
        name: The listener name.
        state: ``ACTIVE``, ``WARMING``, ``DRAINING`` or ``STATIC``.
        listener: The typed config.
        camel: Whether the dump spells keys lowerCamelCase.
        version: ``version_info`` of that state.
        since: ``last_updated`` of that state.
        serving: Whether another state of the same listener is active (for warming).
    """

    name: str
    state: str
    listener: s.Listener
    camel: bool
    version: str
    since: str
    serving: bool


@dataclass(frozen=True, slots=True)
class ClusterConfig:
    """One cluster Envoy holds: ``ACTIVE``, ``STATIC`` or ``WARMING``, and where it is."""

    name: str
    state: str
    cluster: s.Cluster
    since: str
    ref: Ref


@dataclass(frozen=True, slots=True)
class RouteConfig:
    """One route configuration (RDS, or an HCM's inline one Envoy lists as static)."""

    name: str
    config: s.RouteConfiguration


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
    def usable(self) -> bool:
        """Whether Envoy load-balances to it outside panic mode (degraded hosts count)."""
        hs = self.status
        if hs is not None and (
            hs.failed_active_health_check
            or hs.failed_outlier_check
            or hs.excluded_via_immediate_hc_fail
        ):
            return False
        return self.eds not in UNUSABLE_EDS


@dataclass(frozen=True, slots=True)
class HostSet:
    """A cluster's hosts and whether they come from live health (``/clusters``)."""

    cluster: str
    hosts: list[Host]
    live: bool


class Context:
    """One proxy's data plus the options, with lazily built indexes shared by checks."""

    def __init__(self, proxy: ProxyData, options: CheckOptions) -> None:
        self.proxy = proxy
        self.options = options
        self.now = options.now or datetime.now(UTC)

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

    # -- listeners ---------------------------------------------------------------------

    @cached_property
    def listeners(self) -> list[ListenerConfig]:
        """Every listener config Envoy holds: dynamic (any state but error), then static."""
        if not self.has("listeners"):
            return []
        camel = self.camel("listeners")
        out: list[ListenerConfig] = []
        for dyn in self.dump.dynamic_listeners().items:
            active = dyn.active_state is not None and dyn.active_state.listener is not None
            for label, st in (
                ("ACTIVE", dyn.active_state),
                ("WARMING", dyn.warming_state),
                ("DRAINING", dyn.draining_state),
            ):
                if st is None or st.listener is None:
                    continue
                name = dyn.name or st.listener.name
                serving = active and label != "ACTIVE"
                out.append(
                    ListenerConfig(
                        name, label, st.listener, camel, st.version_info, st.last_updated, serving
                    )
                )
        for stat in self.dump.static_listeners().items:
            if stat.listener is not None:
                lst = stat.listener
                out.append(
                    ListenerConfig(lst.name, "STATIC", lst, camel, "", stat.last_updated, True)
                )
        return out

    def network_filters(
        self, lc: ListenerConfig
    ) -> Iterator[tuple[int, s.FilterChain, s.HttpConnectionManager | s.TcpProxy]]:
        """``(chain index, chain, decoded filter)`` for each HCM and tcp_proxy of ``lc``.

        A filter is recognised by its well-known name or by its ``@type``.
        """
        for index, chain in enumerate(chains(lc.listener)):
            for f in chain.filters:
                kind = _filter_kind(f, lc.camel)
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
    def clusters(self) -> dict[str, ClusterConfig]:
        """Clusters by name: active and static first, then warming ones not yet active."""
        out: dict[str, ClusterConfig] = {}
        if not self.has("clusters"):
            return out
        for key, state in (
            ("dynamic_active_clusters", "ACTIVE"),
            ("static_clusters", "STATIC"),
            ("dynamic_warming_clusters", "WARMING"),
        ):
            entries = self.dump.cluster_entries(key)
            for i, entry in enumerate(entries.items):
                name = entry.cluster.name
                if name not in out:
                    ref = entries.ref(i, "cluster")
                    out[name] = ClusterConfig(name, state, entry.cluster, entry.last_updated, ref)
        return out

    def cluster_plain(self, cc: ClusterConfig) -> dict[str, Any]:
        """A cluster as plain snake_case data (for fields the typed schema leaves out)."""
        value = snake_keys(cc.ref.resolve())
        return value if isinstance(value, dict) else {}

    # -- routes ------------------------------------------------------------------------

    @cached_property
    def route_configs(self) -> list[RouteConfig]:
        """RDS route configs, then the static (inline) ones; a repeated name counts once."""
        out: list[RouteConfig] = []
        if not self.has("routes"):
            return out
        seen: set[tuple[str, str]] = set()
        for key, kind in (("dynamic_route_configs", "rds"), ("static_route_configs", "static")):
            for entry in self.dump.route_entries(key).items:
                rc = entry.route_config
                if (kind, rc.name) in seen:
                    continue
                seen.add((kind, rc.name))
                out.append(RouteConfig(rc.name, rc))
        return out

    @cached_property
    def references(self) -> dict[str, str]:
        """Cluster name -> the first resource that sends traffic to it (route or tcp_proxy)."""
        out: dict[str, str] = {}
        for rc in self.route_configs:
            for _, _, cluster in route_targets(rc.config):
                out.setdefault(cluster, f"route/{rc.name}")
        for lc in self.listeners:
            for _, _, flt in self.network_filters(lc):
                if isinstance(flt, s.TcpProxy):
                    for cluster in tcp_targets(flt):
                        out.setdefault(cluster, f"listener/{lc.name}")
        return out

    # -- hosts -------------------------------------------------------------------------

    @cached_property
    def hosts(self) -> dict[str, HostSet]:
        """Each cluster's hosts: live ones from ``/clusters`` when given, else the dump's.

        From the dump: EDS clusters from the endpoints section (``include_eds``), other
        clusters of type STATIC from their ``load_assignment``. DNS clusters resolve at
        run time, so only ``/clusters`` knows their hosts.
        """
        if self.proxy.health is not None:
            return {
                st.name: HostSet(st.name, [_live_host(h) for h in st.host_statuses], True)
                for st in self.proxy.health.statuses
            }
        out: dict[str, HostSet] = {}
        clas: dict[str, s.ClusterLoadAssignment] = {}
        if self.has("endpoints"):
            from pdebug.model.eds import attribute  # nameless assignments (Consul, OSM)

            names = attribute(self.dump)
            for key in ("dynamic_endpoint_configs", "static_endpoint_configs"):
                for entry in self.dump.endpoint_entries(key).items:
                    assignment = entry.endpoint_config
                    clas.setdefault(names.cluster_of(assignment), assignment)
        for name, cc in self.clusters.items():
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
                out[name] = HostSet(name, list(_config_hosts(cla)), False)
        return out


def cluster_kind(cluster: s.Cluster) -> str:
    """``EDS``, ``STATIC``, ``STRICT_DNS``... or ``CUSTOM`` for a ``cluster_type``."""
    if cluster.cluster_type is not None:
        return "CUSTOM"
    return cluster.type or "STATIC"


def route_targets(rc: s.RouteConfiguration) -> Iterator[tuple[s.VirtualHost, s.Route, str]]:
    """``(virtual host, route, cluster)`` for every named cluster a route sends to."""
    for vh in rc.virtual_hosts:
        for route in vh.routes:
            action = route.route
            if action is None:
                continue
            if action.cluster:
                yield vh, route, action.cluster
            if action.weighted_clusters is not None:
                for wc in action.weighted_clusters.clusters:
                    if wc.name:
                        yield vh, route, wc.name


def tcp_targets(tcp: s.TcpProxy) -> list[str]:
    """The clusters a tcp_proxy sends to."""
    out = [tcp.cluster] if tcp.cluster else []
    if tcp.weighted_clusters is not None:
        out.extend(wc.name for wc in tcp.weighted_clusters.clusters if wc.name)
    return out


_ANY = msgspec.json.Decoder(s.AnyType, strict=False)


def _filter_kind(f: s.TypedExtension, camel: bool) -> str:
    if f.name in (HCM, TCP_PROXY):
        return f.name
    if f.name in LEGACY_NAMES:  # Envoy <= 1.14 names, with a v2 `config` Struct
        return LEGACY_NAMES[f.name]
    raw = bytes(f.typed_config)
    if b"@type" not in raw:
        return ""
    try:
        type_url = _ANY.decode(raw).type_url
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        return ""
    if type_url.endswith(_HCM_TYPE):
        return HCM
    if type_url.endswith(_TCP_TYPE):
        return TCP_PROXY
    return ""


def _live_host(h: s.HostStatus) -> Host:
    hs = h.health_status
    eds = (hs.eds_health_status if hs is not None else "") or "UNKNOWN"
    return Host(eds_address(h.address), eds, hs or s.HostHealthStatus())


def _config_hosts(cla: s.ClusterLoadAssignment) -> Iterator[Host]:
    for group in cla.endpoints:
        for lb in group.lb_endpoints:
            address = eds_address(lb.endpoint.address if lb.endpoint is not None else None)
            yield Host(address, lb.health_status or "UNKNOWN")
