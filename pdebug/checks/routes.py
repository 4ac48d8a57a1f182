"""Route checks (PD3xx): routes to clusters that do not exist, domains claimed twice."""

from __future__ import annotations

from collections.abc import Iterator

from pdebug.checks.base import Check, Finding, Severity, check
from pdebug.checks.context import Context, route_targets
from pdebug.model import schema as s
from pdebug.model.listeners import on_demand_filter, route_on_demand
from pdebug.model.routes import duplicate_domains

# RouteAction.cluster_not_found_response_code (Envoy's default: 503); Istio sets 500 on
# Kubernetes Gateway API routes
_NOT_FOUND_STATUS = {"SERVICE_UNAVAILABLE": 503, "NOT_FOUND": 404, "INTERNAL_SERVER_ERROR": 500}


@check(
    "PD301",
    Severity.ERROR,
    "route-unknown-cluster",
    "A route (or a weighted cluster) sends to a cluster the proxy does not have: 503 NC.",
    ("routes",),
    ("clusters",),
)
def check_unknown_cluster(ctx: Context, this: Check) -> Iterator[Finding]:
    """Route targets missing from every cluster section (RDS accepts them by default).

    One finding per route config and missing cluster, naming the first route.
    """
    known = ctx.clusters
    on_demand, with_filter = _on_demand_route_configs(ctx)
    facts = ctx.route_facts
    if facts is not None and all(
        cluster in known
        for name, _, clusters, _ in facts
        if name not in on_demand
        for cluster in clusters
    ):
        return  # every route sends to a known cluster (else: which routes, read here)
    for rc in ctx.route_configs:
        if rc.config.name in on_demand:
            continue  # ODCDS: Envoy asks its xDS server for a cluster it lacks
        seen: set[str] = set()
        for vh, route, cluster in route_targets(rc.config):
            if cluster in known or cluster in seen:
                continue
            if rc.config.name in with_filter and route_on_demand(
                route.typed_per_filter_config, vh.typed_per_filter_config
            ):
                continue  # the route turns ODCDS on
            seen.add(cluster)
            where = f"virtual host {vh.name!r}" + (f" route {route.name!r}" if route.name else "")
            action = route.route
            status = _NOT_FOUND_STATUS.get(
                action.cluster_not_found_response_code if action is not None else "", 503
            )
            yield this.finding(
                rc.resource,
                f"{where} sends to unknown cluster {cluster!r}: Envoy answers {status} NC",
                "the destination's cluster never reached the proxy: check the route's "
                f"cluster name and whether {ctx.control_plane} sends that cluster"
                if ctx.control_plane
                else "the destination's cluster never reached the proxy: check the host/subset in "
                "the VirtualService and its DestinationRule, and Sidecar egress hosts",
            )


def _on_demand_route_configs(ctx: Context) -> tuple[set[str], set[str]]:
    """The route configs of connection managers that discover clusters on demand.

    First those whose on_demand filter discovers clusters, then those with the
    on_demand filter at all (one walk for both).
    """
    discovering: set[str] = set()
    with_filter: set[str] = set()
    for lc in ctx.listeners:
        for _, _, flt in ctx.network_filters(lc):
            if not isinstance(flt, s.HttpConnectionManager):
                continue
            has, discovers = on_demand_filter(flt)
            for out, yes in ((with_filter, has), (discovering, discovers)):
                if yes:
                    if flt.rds is not None:
                        out.add(flt.rds.route_config_name)
                    if flt.route_config is not None:
                        out.add(flt.route_config.name)
    return discovering, with_filter


@check(
    "PD302",
    Severity.ERROR,
    "route-duplicate-domain",
    "Two virtual hosts of one route config claim the same domain (Envoy rejects it).",
    ("routes",),
)
def check_duplicate_domain(ctx: Context, this: Check) -> Iterator[Finding]:
    """Domains (case-insensitive, as Envoy compares them) claimed by two virtual hosts."""
    facts = ctx.route_facts
    claims = (
        ((resource, duplicates) for _, resource, _, duplicates in facts)
        if facts is not None
        else ((rc.resource, duplicate_domains(rc.config)) for rc in ctx.route_configs)
    )
    for resource, duplicates in claims:
        for domain, claim in duplicates:
            yield this.finding(
                resource,
                f"domain {domain!r} is {claim}",
                "Envoy rejects the whole route config and keeps the previous one "
                "(stat rds.<name>.update_rejected): fix the "
                + (
                    f"config of {ctx.control_plane} that makes two hosts claim it"
                    if ctx.control_plane
                    else "VirtualServices or ServiceEntries that both claim this host"
                ),
            )


CHECKS = (check_unknown_cluster, check_duplicate_domain)
