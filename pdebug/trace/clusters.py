"""Where a request ends up, and the verdict.

The dump's clusters, their endpoints and whether Envoy would send to them (live
``/clusters`` health, else EDS's), and the :class:`Verdict` once the request's clusters
are known. The facts come from :mod:`pdebug.model`: clusters by name and their type
(:mod:`~pdebug.model.clusters`), the one endpoint-health rule
(:func:`~pdebug.model.health.lb_health`) and the one address formatter
(:func:`~pdebug.model.address.address_text`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import msgspec

from pdebug.model import ProxyData
from pdebug.model import schema as s
from pdebug.model.address import address_text
from pdebug.model.clusters import (
    by_name,
    extension_type,
    own_assignment,
    socket_for,
    socket_matches,
    transport_text,
)
from pdebug.model.dump import ConfigDump
from pdebug.model.eds import Attribution, attribute
from pdebug.model.health import host_lb_health, lb_health, unusable_reasons
from pdebug.trace.request import Request
from pdebug.trace.result import WITH_EDS, ClusterOutcome, Endpoint, Verdict

#: The cluster types whose v2 ``hosts`` are names Envoy resolves (STATIC's are read apart).
_DNS = ("STRICT_DNS", "LOGICAL_DNS")
#: Envoy's default healthy panic threshold (percent of usable endpoints).
PANIC_THRESHOLD = 50.0
_HEALTH_NOTE = (
    "endpoint health is EDS's as captured: add --clusters-json FILE "
    "(GET /clusters?format=json) or trace a live proxy for Envoy's own view"
)


def _address(address: s.Address | None) -> str:
    """An endpoint's address as trace prints it (``unix://`` pipes, ``[IPv6]:PORT``)."""
    return address_text(address, pipe_scheme=True, bracket_ipv6=True)


class _Sockets:
    """What Envoy speaks to each endpoint of one cluster (:attr:`Endpoint.transport`)."""

    def __init__(self, cluster: s.Cluster, warn: Callable[[str], None]) -> None:
        from pdebug.model.secrets import tls_socket

        #: The cluster's own socket: ``transport_socket``, else a v2 ``tls_context``.
        self.own = tls_socket(cluster.transport_socket, cluster.tls_context)
        self.matches = socket_matches(cluster, warn)
        self._by_address: dict[str, str] = {}
        #: Locality labels by address, from the cluster's own load_assignment: Envoy's
        #: EDS dump leaves a locality's metadata out.
        self._own: dict[str, msgspec.Raw] = {}
        if self.matches and cluster.load_assignment is not None:
            for group in cluster.load_assignment.endpoints:
                for lb in group.lb_endpoints:
                    where = _address(lb.endpoint.address if lb.endpoint else None)
                    self._own.setdefault(where, group.metadata)

    def of(self, endpoint: msgspec.Raw, locality: msgspec.Raw, address: str, own: bool) -> str:
        """An endpoint's transport, from its metadata and its locality's.

        ``own``: they come from the cluster's config, as written (else from Envoy's EDS
        dump, which has no locality metadata).
        """
        if not self.matches:
            return transport_text(self.own)
        known = own or bytes(locality) not in (b"null", b"")
        if not known and address in self._own:
            locality, known = self._own[address], True
        name, socket = socket_for(self.own, self.matches, endpoint, locality)
        if name is not None:
            return f"{transport_text(socket)} (match {name})"
        if known:
            return transport_text(socket)
        return (
            f"{transport_text(socket)}, unless its locality's labels (Envoy's dump leaves them"
            " out) fit a transport socket match"
        )

    def by_address(self, cla: s.ClusterLoadAssignment | None) -> None:
        """Learn each EDS endpoint's transport by address (live /clusters has no metadata)."""
        for group in cla.endpoints if cla is not None else []:
            for lb in group.lb_endpoints:
                where = _address(lb.endpoint.address if lb.endpoint else None)
                text = self.of(lb.metadata, group.metadata, where, False)
                self._by_address.setdefault(where, text)

    def of_address(self, address: str) -> str:
        """A live host's transport: by its EDS endpoint's metadata, when the matches need it."""
        if not self.matches:
            return transport_text(self.own)
        if address in self._by_address:
            return self._by_address[address]
        if address in self._own:
            return self.of(s.NULL, self._own[address], address, True)
        return (
            "unknown (its endpoint metadata, which picks the transport socket, is not in the dump)"
        )


class Upstreams:
    """The dump's clusters and endpoints, indexed once per trace.

    Caveats (e.g. health is EDS's, not Envoy's live view) are added to ``notes``.
    """

    def __init__(self, proxy: ProxyData, dump: ConfigDump, notes: list[str]) -> None:
        self.proxy = proxy
        self.dump = dump
        self.notes = notes
        self._clusters: dict[str, tuple[s.Cluster, str]] | None = None
        self._cla: dict[str, s.ClusterLoadAssignment] | None = None
        self._attribution: Attribution | None = None

    def index(self) -> dict[str, tuple[s.Cluster, str]]:
        """Cluster name -> (cluster, ``ACTIVE``/``STATIC``/``WARMING``); active ones win."""
        if self._clusters is None:
            self._clusters = {n: (r.cluster, r.state) for n, r in by_name(self.dump).items()}
        return self._clusters

    def attribution(self) -> Attribution:
        """Which cluster each EDS assignment belongs to."""
        if self._attribution is None:
            self._attribution = attribute(self.dump, self.proxy.health)
        return self._attribution

    def cla_index(self) -> dict[str, s.ClusterLoadAssignment]:
        """Cluster name -> its EDS assignment."""
        if self._cla is None:
            found: dict[str, s.ClusterLoadAssignment] = {}
            names = self.attribution()
            for key in ("static_endpoint_configs", "dynamic_endpoint_configs"):
                for entry in self.dump.endpoint_entries(key).items:
                    name = names.cluster_of(entry.endpoint_config)
                    if name:
                        found[name] = entry.endpoint_config
            self._cla = found
        return self._cla

    def endpoints(self, cluster: s.Cluster) -> tuple[list[Endpoint] | None, str]:
        """The cluster's endpoints and where their health comes from.

        (None, why): the dump cannot tell (no EDS section, or no cluster names in it).
        """
        sockets = _Sockets(cluster, self.dump.warn)
        if self.proxy.health is not None:
            for live_status in self.proxy.health.statuses:
                if live_status.name == cluster.name:
                    hosts = live_status.host_statuses
                    if sockets.matches:  # /clusters has no metadata: EDS's, by address
                        sockets.by_address(self._assignment(cluster))
                    return [
                        Endpoint(
                            _address(h.address),
                            _host_health(h),
                            host_lb_health(h),
                            h.priority,
                            sockets.of_address(_address(h.address)),
                        )
                        for h in hosts
                    ], "/clusters"
        live = ""
        if self.proxy.health is None:
            live = " (no live /clusters data)"
            if _HEALTH_NOTE not in self.notes:
                self.notes.append(_HEALTH_NOTE)
        cla = self._assignment(cluster)
        source = "EDS"
        if cla is None and cluster.load_assignment is not None:
            cla, source = cluster.load_assignment, "the cluster's load_assignment"
        if cla is None and extension_type(cluster) == "STATIC":
            # a static cluster's own config is what Envoy uses (v2: ``hosts``)
            own = [
                Endpoint(_address(a), "UNKNOWN", "healthy", 0, sockets.of(s.NULL, s.NULL, "", True))
                for a in cluster.hosts
            ]
            return own, ("the cluster's hosts" if own else "the cluster's config") + live
        if cla is None and cluster.hosts and extension_type(cluster) in _DNS:
            # a v2 DNS cluster's ``hosts`` (Envoy <= 1.14) as its load_assignment would be
            cla, source = own_assignment(cluster), "the cluster's hosts"
        if cla is None:
            if not self.dump.has("endpoints"):
                return None, ""
            if cluster.type == "EDS":
                pending = self.attribution().unattributed
                if pending:
                    return None, (
                        "Envoy wrote its endpoints without cluster_name; "
                        + next(iter(pending.values()))
                    )
                return None, f"the dump's EDS has no assignment for it: {WITH_EDS}"
            return [], source + live
        out = []
        configured = source != "EDS"
        for group in cla.endpoints:
            for lb in group.lb_endpoints:
                ep = lb.endpoint
                status = lb.health_status or "UNKNOWN"
                where = _address(ep.address if ep else None)
                out.append(
                    Endpoint(
                        where,
                        status,
                        lb_health(status),
                        group.priority,
                        sockets.of(lb.metadata, group.metadata, where, configured),
                    )
                )
        return out, source + live

    def _assignment(self, cluster: s.Cluster) -> s.ClusterLoadAssignment | None:
        """The cluster's EDS assignment (by its name, else its EDS service name)."""
        if not self.dump.has("endpoints"):
            return None
        cla = self.cla_index().get(cluster.name)
        if cla is None and cluster.eds_cluster_config is not None:
            cla = self.cla_index().get(cluster.eds_cluster_config.service_name)
        return cla

    @staticmethod
    def panic_threshold(cluster: s.Cluster) -> float:
        """The cluster's ``common_lb_config.healthy_panic_threshold`` (percent), else 50."""
        lb = cluster.common_lb_config
        if lb is None or lb.healthy_panic_threshold is None:
            return PANIC_THRESHOLD
        return min(100.0, lb.healthy_panic_threshold.value)

    def overprovisioning(self, cluster: s.Cluster) -> int:
        """The overprovisioning factor (percent) of the cluster's EDS policy, else 140."""
        cla = self.cla_index().get(cluster.name) if self.dump.has("endpoints") else None
        if cla is None and cluster.load_assignment is not None:
            cla = cluster.load_assignment
        factor = cla.policy.overprovisioning_factor if cla and cla.policy else None
        return factor if factor else 140


def upstream_transport(endpoints: list[Endpoint]) -> str:
    """``; upstream mTLS (match tlsMode-istio)``, or by how many endpoints each, when mixed.

    Empty when every endpoint is sent plaintext by the cluster's own socket (nothing to
    say), or there are no endpoints.
    """
    counts = Counter(e.transport for e in endpoints)
    if not counts or set(counts) == {"plaintext"}:
        return ""
    if len(counts) == 1:
        return f"; upstream {next(iter(counts))}"
    return "; upstream " + ", ".join(f"{what} to {n}" for what, n in counts.most_common())


def priority_loads(
    endpoints: list[Endpoint], factor: int, threshold: float = PANIC_THRESHOLD
) -> list[tuple[int, float, bool]]:
    """(priority, percent of the traffic it takes, whether it is in panic), as Envoy splits.

    Each priority is available in proportion to its usable (healthy or degraded) hosts,
    times the overprovisioning factor, capped at 100%; the priorities in order take what
    they can until 100% is given. When the sum falls short of 100%, the loads are scaled
    up to 100% and a priority under the panic threshold is in panic (it sends to all of
    its hosts). When every priority is in panic (nothing usable at all, say), Envoy splits
    the traffic by each priority's share of the hosts, whole percents, the rest to the
    first priority that has hosts (Envoy 1.40 shown in tests/test_sweep22.py).
    """
    levels = sorted({e.priority for e in endpoints})
    avail: list[float] = []
    usable_pct: list[float] = []
    sizes: list[int] = []
    for p in levels:
        mine = [e for e in endpoints if e.priority == p]
        pct = 100.0 * sum(1 for e in mine if e.usable in ("healthy", "degraded")) / len(mine)
        usable_pct.append(pct)
        sizes.append(len(mine))
        avail.append(min(100.0, pct * factor / 100.0))
    total = min(100.0, sum(avail))
    if total < 100.0 and all(pct < threshold for pct in usable_pct):
        loads = [100 * n // sum(sizes) for n in sizes]
        loads[0] += 100 - sum(loads)
        return [(p, float(load), True) for p, load in zip(levels, loads, strict=True)]
    out = []
    left = 100.0
    for i, p in enumerate(levels):
        share = avail[i] * 100.0 / total if total < 100.0 else avail[i]
        take = min(left, share)
        left -= take
        out.append((p, take, total < 100.0 and usable_pct[i] < threshold))
    return out


def final(outcomes: list[ClusterOutcome], tcp: bool, missing_code: int, req: Request) -> Verdict:
    """The verdict once the request's clusters are known."""
    live = [o for o in outcomes if o.share is None or o.share > 0]
    # A definite failure says more than a share pdebug cannot tell about.
    bad = sorted((o for o in live if not o.ok), key=lambda o: o.state in ("unknown", "unsupported"))

    def part(o: ClusterOutcome) -> str:
        share = f" ({o.share:.4g}%)" if o.share is not None else ""
        return o.name + share

    if not bad:
        if any(o.type == "ORIGINAL_DST" for o in live):
            names = ", ".join(part(o) for o in live)
            return Verdict(
                True,
                "upstream",
                f"passed through to {req.destination} via {names}",
                None,
                clusters=outcomes,
            )
        text = ", ".join(f"{part(o)}: {o.healthy} of {len(o.endpoints)} healthy" for o in live)
        return Verdict(True, "upstream", f"routed to {text}", clusters=outcomes)
    worst = bad[0]
    scope = f" ({worst.share:.4g}% of requests)" if worst.share is not None else ""
    closed = "Envoy closes the connection"
    if worst.state == "missing":
        what = f"cluster {worst.name} is not in the dump{scope}"
        if tcp:
            return Verdict(False, "unknown_cluster", f"{closed}: {what}", clusters=outcomes)
        return Verdict(
            False,
            "unknown_cluster",
            f"{missing_code}: {what}",
            missing_code,
            clusters=outcomes,
        )
    if worst.state == "unreachable":
        what = f"cluster {worst.name}{scope}: {worst.why}"
        status = None if tcp else 503
        text = f"{closed}: {what}" if tcp else f"503 upstream connect error: {what}"
        return Verdict(False, "no_endpoints", text, status, clusters=outcomes)
    if worst.state == "warming":
        what = f"cluster {worst.name} is still warming{scope}"
        status = None if tcp else 503
        text = f"{closed}: {what}" if tcp else f"503: {what}"
        return Verdict(False, "cluster_warming", text, status, clusters=outcomes)
    if worst.state == "empty":
        what = f"cluster {worst.name} has no endpoints{scope}"
        status = None if tcp else 503
        text = f"{closed}: {what}" if tcp else f"503 no healthy upstream: {what}"
        return Verdict(False, "no_endpoints", text, status, clusters=outcomes)
    if worst.state == "unhealthy":
        what = (
            f"cluster {worst.name} has no healthy endpoint{scope}, and its "
            "healthy_panic_threshold 0 turns panic mode off"
        )
        status = None if tcp else 503
        text = f"{closed}: {what}" if tcp else f"503 no healthy upstream: {what}"
        return Verdict(False, "no_healthy_endpoints", text, status, clusters=outcomes)
    if worst.state == "panic":
        what = (
            f"cluster {worst.name} has no healthy endpoint{scope}; in panic mode Envoy "
            f"still sends to all {len(worst.endpoints)}"
        )
        return Verdict(False, "no_healthy_endpoints", what, clusters=outcomes)
    what = f"pdebug cannot tell whether cluster {worst.name} can serve{scope}"
    if worst.state == "unknown":
        return Verdict(False, "incomplete", f"{what}: {worst.why}", clusters=outcomes)
    return Verdict(False, "inconclusive", what, clusters=outcomes)


def _host_health(host: s.HostStatus) -> str:
    """A ``/clusters`` host's health as trace shows it.

    EDS's status, or ``UNHEALTHY (why)`` when Envoy's own flags take the host out
    (outlier ejection, failed active health checks), which EDS's status (still
    ``HEALTHY``) does not say.
    """
    flags = host.health_status
    eds = (flags.eds_health_status if flags is not None else "") or "HEALTHY"
    why = unusable_reasons("", flags)
    return f"UNHEALTHY ({', '.join(why)})" if why else eds
