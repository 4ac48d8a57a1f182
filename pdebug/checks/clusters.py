"""Cluster checks (PD2xx): stuck warming, no healthy endpoints, no endpoints at all."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any, NamedTuple

from pdebug.checks.base import Check, Finding, Severity, check
from pdebug.checks.context import Context, HostSet, cluster_kind
from pdebug.model.clusters import aggregate_clusters
from pdebug.model.clusters import records as cluster_records
from pdebug.model.health import unusable_reasons

#: Istio's sink for blocked traffic: empty on purpose.
BLACKHOLE = "BlackHoleCluster"


def config_source(source: Any) -> str:
    """Describe an xDS ``ConfigSource`` (plain snake_case data) in a few words."""
    if not isinstance(source, dict):
        return "an unknown source"
    if "ads" in source:
        return "ADS"
    if "path_config_source" in source or "path" in source:
        path = source.get("path_config_source", {}).get("path") or source.get("path", "")
        return f"file {path}"
    api = source.get("api_config_source")
    if isinstance(api, dict):
        names = list(api.get("cluster_names", []))
        for grpc in api.get("grpc_services", []):
            envoy_grpc = grpc.get("envoy_grpc", {}) if isinstance(grpc, dict) else {}
            if envoy_grpc.get("cluster_name"):
                names.append(envoy_grpc["cluster_name"])
        kind = api.get("api_type", "GRPC")
        return f"{kind} via cluster {', '.join(names)}" if names else f"{kind} API"
    return "an unknown source"


@check(
    "PD201",
    Severity.WARNING,
    "cluster-warming",
    "A cluster is warming: its EDS (or first DNS answer, or secret) has not arrived.",
    ("clusters",),
)
def check_warming(ctx: Context, this: Check) -> Iterator[Finding]:
    """Warming clusters and the config source their endpoints should come from."""
    if not ctx.has("clusters"):
        return
    # every warming entry: an update of a cluster Envoy already has warms beside it
    for cc in cluster_records(ctx.dump, ("WARMING",)):
        serving = ctx.clusters.get(cc.name)
        update = serving is not None and serving.state != "WARMING"
        since = f" since {cc.since}" if cc.since else ""
        if cluster_kind(cc.cluster) == "EDS":
            eds = ctx.cluster_plain(cc).get("eds_cluster_config", {}).get("eds_config", {})
            what = f"waiting for EDS from {config_source(eds)}"
            if isinstance(eds, dict) and eds.get("initial_fetch_timeout") in ("0s", "0"):
                what += " (initial_fetch_timeout 0s: it waits forever)"
        else:
            what = "waiting for its first DNS answer or its TLS secrets"
        yield this.finding(
            f"cluster/{cc.name}",
            f"{'an update is warming' if update else 'warming'}{since}: {what}"
            + ("; the previous version still serves" if update else ""),
            (
                "the change does not take effect until it is active: check the xDS "
                f"connection to that source ({ctx.xds_hint()})"
            )
            if update
            else "routes to it answer 503 NC until it is active: check the xDS connection to "
            f"that source ({ctx.xds_hint()})",
        )


def _reasons(hs: HostSet) -> str:
    """Why the hosts are not usable, most common first.

    Hosts from a dump carry no live flags: their EDS statuses alone say it (read
    without a :class:`Host` per endpoint).
    """
    counts: Counter[str] = Counter()
    if hs.live:
        for h in hs.hosts:
            counts.update(unusable_reasons(h.eds, h.status))
    else:
        for eds in hs.eds:
            counts.update(unusable_reasons(eds))
    return ", ".join(f"{n} {why}" for why, n in counts.most_common())


@check(
    "PD202",
    Severity.ERROR,
    "cluster-no-healthy-endpoints",
    "A cluster has endpoints but none Envoy would send traffic to.",
    ("endpoints", "health"),
)
def check_no_healthy(ctx: Context, this: Check) -> Iterator[Finding]:
    """Clusters whose every host is unhealthy, ejected, draining or failing checks."""
    members: dict[str, list[tuple[str, list[str]]]] | None = None
    for name, hs in ctx.hosts.items():
        n = hs.count
        if not n or hs.any_usable():
            continue
        endpoints = "its endpoint" if n == 1 else f"its {n} endpoints"
        source = "" if hs.live else "; active health checks and ejections need --clusters-json"
        if members is None:
            members = _aggregate_members(ctx)
        fails = (
            "requests fail (503 UH, or the endpoints' own errors once Envoy's panic mode "
            "spreads traffic over them)"
        )
        for parent, children in members.get(name, []):
            spare = [
                c for c in children if c != name and c in ctx.hosts and ctx.hosts[c].any_usable()
            ]
            if spare:
                fails = (
                    f"requests through the aggregate cluster {parent} fail over to "
                    f"{', '.join(spare)}, which has healthy endpoints"
                )
                break
        yield this.finding(
            f"cluster/{name}",
            f"no healthy endpoint: {endpoints}: {_reasons(hs)}",
            f"{fails}: pdebug endpoints SOURCE --cluster '{name}' -o wide" + source,
        )
    yield from _unassigned_health(ctx, this)


def _aggregate_members(ctx: Context) -> dict[str, list[tuple[str, list[str]]]]:
    """Cluster name -> the aggregate clusters (Consul's failover) it is one of."""
    out: dict[str, list[tuple[str, list[str]]]] = {}
    for parent, cc in ctx.clusters.items():
        if cc.cluster.cluster_type is None:
            continue
        children = aggregate_clusters(cc.cluster)
        for child in children or []:
            out.setdefault(child, []).append((parent, children or []))
    return out


@check(
    "PD203",
    Severity.WARNING,
    "cluster-no-endpoints",
    "A cluster that routes, tcp_proxies or an HTTP filter's own service use has no endpoints.",
    ("clusters",),
    ("endpoints", "health"),
)
def check_no_endpoints(ctx: Context, this: Check) -> Iterator[Finding]:
    """Empty clusters that something sends traffic to (503 UH no healthy upstream).

    An HTTP filter's own service counts only where the filter runs: not when every
    route turns it off (:func:`_running_filters`). An EDS cluster the dump holds no
    assignment for is said not checked (:func:`_unassigned`).
    """
    refs = ctx.references
    for name, hs in ctx.hosts.items():
        if hs.count or name == BLACKHOLE or name not in refs:
            continue
        cc = ctx.clusters.get(name)
        if cc is None or cluster_kind(cc.cluster) in ("ORIGINAL_DST", "CUSTOM"):
            continue
        user = refs[name]
        if user.startswith("the HTTP filter "):  # its own service, not a route's upstream
            running = _running_filters(ctx, name)
            if not running:
                continue  # every route turns the filter off: it calls no one
            user = running[0]
        kind = cluster_kind(cc.cluster)
        why = {
            "EDS": "EDS sent no endpoints",
            "STRICT_DNS": "its DNS name resolved to no address",
            "LOGICAL_DNS": "its DNS name resolved to no address",
        }.get(kind, "its load_assignment is empty")
        if kind in ("STRICT_DNS", "LOGICAL_DNS"):
            hint = _dns_hint(ctx.cluster_plain(cc))
        else:
            hint = (
                "requests get 503 UH (no healthy upstream): does the service have ready pods "
                + (
                    f"(kubectl get endpointslices), and does {ctx.control_plane} know them?"
                    if ctx.control_plane
                    else "(kubectl get endpointslices) or a ServiceEntry with endpoints?"
                )
            )
        if user.startswith("the HTTP filter "):
            hint = hint.replace("requests get 503 UH (no healthy upstream)", _FILTER_DOWN, 1)
        yield this.finding(
            f"cluster/{name}", f"no endpoints ({why}); {user} sends traffic to it", hint
        )
    yield from _unassigned(ctx, this, refs)


def _running_filters(ctx: Context, cluster: str) -> list[str]:
    """The HTTP filters calling ``cluster`` that run on some route, as PD203 names them.

    A filter whose connection manager's routes all turn it off (``FilterConfig``
    ``disabled``, the filter's own per-route ``disabled``, or off in the manager and on
    in no route: :func:`pdebug.model.routes.filter_runs`) calls no service. Routes the
    dump does not hold (scoped routes, an RDS config not in it) count as running it, and
    so does a configuration with ``vhds``: Envoy merges the virtual hosts VHDS sends on
    demand into it, and one of those may leave the filter on; such filters come last,
    their name saying so.
    """
    from pdebug.model import schema as s
    from pdebug.model.listeners import service_clusters
    from pdebug.model.routes import filter_runs, rds_by_name

    out: list[str] = []
    later: list[str] = []
    for lc in ctx.listeners:
        for _, _, flt in ctx.network_filters(lc):
            if not isinstance(flt, s.HttpConnectionManager):
                continue
            for hf in flt.http_filters:
                if cluster not in service_clusters(hf):
                    continue
                rc = flt.route_config
                if rc is None and flt.rds is not None and ctx.has("routes"):
                    rds = ctx.shared("rds_by_name", lambda: rds_by_name(ctx.dump))
                    rc = rds.get(flt.rds.route_config_name)
                named = f"the HTTP filter {hf.name} of listener/{lc.name or '(unnamed)'}"
                if rc is None or filter_runs(rc, hf.name, hf.disabled):
                    out.append(named)
                elif bytes(rc.vhds) not in (b"", b"null"):
                    later.append(
                        f"{named} (off on every virtual host the dump holds, but route "
                        f"configuration {rc.name or '(unnamed)'} gets more on demand (vhds); "
                        "one may leave it on)"
                    )
    return list(dict.fromkeys(out + later))


class _Unassigned(NamedTuple):
    """Used EDS clusters without an assignment, and what the dump says of their hosts."""

    #: The used EDS clusters no assignment names (nor attributes), in cluster order.
    missing: list[str]
    #: How many of the dump's assignments name no cluster and stay unattributed.
    nameless: int
    #: Whether PD202 is judged all the same: every cluster that could own one of the
    #: nameless assignments gets one, and each has an endpoint Envoy sends traffic to.
    healthy: bool
    #: Of the nameless assignments, those with endpoints but none usable: their reasons.
    unhealthy: list[str]
    #: The EDS clusters without an assignment that one of them could belong to.
    candidates: list[str]


def _unassigned_facts(ctx: Context) -> _Unassigned | None:
    """:class:`_Unassigned`, once per run (PD202 and PD203 say one line of it).

    None with live endpoints (``--clusters-json`` lists every active cluster's hosts)
    or without a clusters section.
    """
    if ctx.proxy.health is not None or not ctx.has("clusters"):
        return None
    return ctx.shared("unassigned_eds", lambda: _build_unassigned(ctx))


def _build_unassigned(ctx: Context) -> _Unassigned:
    from pdebug.model.eds import attribute
    from pdebug.model.health import endpoint_health, is_usable

    hosts = ctx.hosts
    unowned = [
        name
        for name, cc in ctx.clusters.items()
        if name not in hosts and cc.state != "WARMING" and cluster_kind(cc.cluster) == "EDS"
    ]
    if not unowned:
        return _Unassigned([], 0, True, [], [])
    refs = ctx.references
    missing = [name for name in unowned if name in refs]
    lost = attribute(ctx.dump).unattributed
    unhealthy: list[str] = []
    usable = 0
    if lost:
        for key in ("dynamic_endpoint_configs", "static_endpoint_configs"):
            for entry in ctx.dump.endpoint_entries(key).items:
                cla = entry.endpoint_config
                if id(cla) not in lost:
                    continue
                statuses = [lb.health_status for g in cla.endpoints for lb in g.lb_endpoints]
                if any(is_usable(endpoint_health(st)) for st in statuses):
                    usable += 1
                elif statuses:
                    counts = Counter(r for st in statuses for r in unusable_reasons(st))
                    n = len(statuses)
                    why = ", ".join(f"{k} {r}" for r, k in counts.most_common())
                    unhealthy.append(f"{'1 endpoint' if n == 1 else f'{n} endpoints'}: {why}")
    # Envoy writes one assignment per active EDS cluster: when the nameless ones are as
    # many as the clusters they could belong to, and each has a usable endpoint, every
    # such cluster has one (PD202's question), whichever is whose
    healthy = bool(lost) and usable == len(lost) and len(lost) >= len(unowned)
    return _Unassigned(missing, len(lost), healthy, unhealthy, unowned)


def _unassigned_line(facts: _Unassigned) -> tuple[str, str, str]:
    """PD203's (and PD202's) Not checked line: resource, message, hint."""
    missing = facts.missing
    more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
    resource = f"cluster/{missing[0]}{more}"
    nameless = facts.nameless
    if nameless:  # Consul's and OSM's Envoys leave cluster_name empty (pdebug.model.eds)
        message = (
            "no assignment of the dump's endpoints section names this EDS cluster, which "
            f"something sends traffic to ({nameless} there name no cluster, and the dump "
            "does not tell whose they are): its endpoints are unknown"
        )
        if facts.unhealthy:
            message += "; " + _unhealthy_text(facts.unhealthy)
        hint = "--clusters-json FILE (the proxy's GET /clusters?format=json) tells them apart"
        return resource, message, hint
    return (
        resource,
        "an EDS cluster something sends traffic to has no assignment in the dump's "
        "endpoints section (Envoy writes one, empty or not, for every active EDS "
        "cluster): its endpoints are unknown",
        "a dump cut or filtered? take it again with config_dump?include_eds, or give "
        "the proxy's GET /clusters?format=json (--clusters-json FILE)",
    )


def _unhealthy_text(unhealthy: list[str]) -> str:
    """Of nameless assignments without a usable endpoint, in a few words."""
    n = len(unhealthy)
    which = "one of them has" if n == 1 else f"{n} of them have"
    return f"{which} no healthy endpoint ({'; '.join(unhealthy[:3])}{' ...' if n > 3 else ''})"


def _unassigned(ctx: Context, this: Check, refs: dict[str, str]) -> Iterator[Finding]:
    """Used EDS clusters the dump's endpoints section holds no assignment for.

    Envoy 1.40 writes one for every active EDS cluster, an empty one when EDS sent none
    (tests/test_leftovers10.py): without one the dump does not say the endpoints (a cut
    or filtered dump), so it is no finding but a line of what was not checked. A warming
    cluster is PD201's; live endpoints (``--clusters-json``) list every active cluster.
    """
    facts = _unassigned_facts(ctx)
    if facts is None or not facts.missing:
        return
    yield this.not_checked(*_unassigned_line(facts))


def _unassigned_health(ctx: Context, this: Check) -> Iterator[Finding]:
    """PD202 of EDS clusters the dump's endpoints section holds no assignment for.

    Their hosts are unknown, so whether one is healthy is too: PD202 joins PD203's Not
    checked line (one line, both codes). It stays out when the dump settles it all the
    same (:attr:`_Unassigned.healthy`: consul-k8s's dump). A nameless assignment without
    a usable endpoint is some cluster's: said even when nothing sends traffic to the
    clusters it could belong to (PD203 names only those).
    """
    facts = _unassigned_facts(ctx)
    if facts is None or facts.healthy:
        return
    if facts.missing:
        yield this.not_checked(*_unassigned_line(facts))
    elif facts.unhealthy:
        cands = facts.candidates
        more = f" (and {len(cands) - 1} more)" if len(cands) > 1 else ""
        yield this.not_checked(
            f"cluster/{cands[0]}{more}",
            "no assignment of the dump's endpoints section names this EDS cluster "
            f"({facts.nameless} there name no cluster, and the dump does not tell whose "
            f"they are); {_unhealthy_text(facts.unhealthy)}",
            "--clusters-json FILE (the proxy's GET /clusters?format=json) tells them apart",
        )


#: What a filter does when the cluster of its own service has no endpoints (Envoy 1.40).
_FILTER_DOWN = (
    "the filter cannot reach its service (ext_authz answers 403 or its status_on_error, "
    "ext_proc 500, unless failure_mode_allow; jwt_authn cannot fetch its JWKS, so tokens "
    "fail: 401)"
)


def _dns_names(plain: dict[str, Any]) -> list[str]:
    """The ``host:port`` names a DNS cluster resolves (its load_assignment, or v2 ``hosts``)."""
    addresses: list[Any] = []
    assignment = plain.get("load_assignment")
    if isinstance(assignment, dict):
        for group in assignment.get("endpoints") or []:
            for lb in (group.get("lb_endpoints") or []) if isinstance(group, dict) else []:
                endpoint = lb.get("endpoint") if isinstance(lb, dict) else None
                if isinstance(endpoint, dict):
                    addresses.append(endpoint.get("address"))
    addresses.extend(plain.get("hosts") or [])
    out: list[str] = []
    for address in addresses:
        sa = address.get("socket_address") if isinstance(address, dict) else None
        if isinstance(sa, dict) and isinstance(sa.get("address"), str):
            port = sa.get("port_value", sa.get("named_port", ""))
            name = f"{sa['address']}:{port}" if port != "" else sa["address"]
            if name not in out:
                out.append(name)
    return out


def _dns_resolver(plain: dict[str, Any]) -> str:
    """Which resolver a DNS cluster asks, in a few words."""
    config = plain.get("typed_dns_resolver_config")
    if isinstance(config, dict):
        typed = config.get("typed_config")
        kind = config.get("name") or (typed.get("@type", "") if isinstance(typed, dict) else "")
        servers: list[str] = []
        for r in (typed.get("resolvers") or []) if isinstance(typed, dict) else []:
            sa = r.get("socket_address") if isinstance(r, dict) else None
            if isinstance(sa, dict):
                servers.append(f"{sa.get('address', '')}:{sa.get('port_value', 53)}")
        kind = str(kind).rsplit(".", 1)[-1] or "a typed resolver"
        return f"{kind} asking {', '.join(servers)}" if servers else f"{kind} (the system's)"
    resolvers = plain.get("dns_resolvers") or (plain.get("dns_resolution_config") or {}).get(
        "resolvers"
    )
    if isinstance(resolvers, list) and resolvers:
        names = [
            f"{r['socket_address'].get('address', '')}:{r['socket_address'].get('port_value', 53)}"
            for r in resolvers
            if isinstance(r, dict) and isinstance(r.get("socket_address"), dict)
        ]
        if names:
            return "the cluster's dns_resolvers " + ", ".join(names)
    return "the proxy's own (its /etc/resolv.conf, or the bootstrap's DNS resolver config)"


def _dns_hint(plain: dict[str, Any]) -> str:
    """PD203's hint for a STRICT_DNS / LOGICAL_DNS cluster.

    Such a cluster has no EndpointSlices: DNS answered nothing for its hostname.
    """
    names = _dns_names(plain)
    shown = ", ".join(names[:3]) + (f" (+{len(names) - 3} more)" if len(names) > 3 else "")
    family = plain.get("dns_lookup_family") or "AUTO (the default)"
    hint = (
        "requests get 503 UH (no healthy upstream): "
        + (f"does {shown} resolve from the proxy" if names else "does its hostname resolve")
        + f" (dns_lookup_family {family}; resolver: {_dns_resolver(plain)})? "
        "a mistyped host, or a name only another network resolves"
        + (
            f", or a name with only {'IPv6' if family == 'V4_ONLY' else 'IPv4'} addresses"
            if family in ("V4_ONLY", "V6_ONLY")
            else ""
        )
    )
    istio = ((plain.get("metadata") or {}).get("filter_metadata") or {}).get("istio")
    services = istio.get("services") if isinstance(istio, dict) else None
    if isinstance(services, list) and services and isinstance(services[0], dict):
        host = str(services[0].get("host", ""))
        namespace = str(services[0].get("namespace", ""))
        if ".svc." in host:  # Istio makes a DNS cluster of an ExternalName Service
            return hint + (
                f"; it comes from the Kubernetes Service {host.split('.')[0]}"
                + (f" -n {namespace}" if namespace else "")
                + " of type ExternalName: is its externalName right?"
            )
        hint += (
            f"; it comes from a ServiceEntry with resolution DNS (host {host}"
            + (f", namespace {namespace}" if namespace else "")
            + "): check its hosts, endpoints and ports"
            + (f" (kubectl get serviceentries -n {namespace})" if namespace else "")
        )
    return hint


CHECKS = (check_warming, check_no_healthy, check_no_endpoints)
