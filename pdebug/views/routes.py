"""``pdebug routes``: istioctl's route table (one row per route of each virtual host)."""

from __future__ import annotations

from dataclasses import dataclass

from pdebug.model import ProxyData
from pdebug.model import schema as s
from pdebug.model.dump import Ref
from pdebug.views.common import istio_config_ref, match_description, summarize_domains
from pdebug.views.result import ViewResult
from pdebug.views.table import Column, Table

COLUMNS = (
    Column("NAME"),
    Column("VHOST NAME"),
    Column("DOMAINS"),
    Column("MATCH"),
    Column("VIRTUAL SERVICE"),
    Column("ACTION", wide=True),
    Column("VERSION", wide=True),
    Column("LAST UPDATED", wide=True),
)
SHORT_COLUMNS = (Column("NAME"), Column("VIRTUAL HOSTS"))


@dataclass(frozen=True, slots=True)
class RouteFilter:
    """``--name``: exact route-config name."""

    name: str | None = None

    @property
    def empty(self) -> bool:
        """Whether no filter is set."""
        return self.name is None


@dataclass(slots=True)
class RouteRow:
    """One selected route configuration."""

    ref: Ref
    entry: s.RouteConfigEntry


def _less(a: str, b: str) -> bool:
    """Istioctl's comparator: only two numeric names are ordered."""
    try:
        return int(a) < int(b)
    except ValueError:
        return False


def _istioctl_order(rows: list[RouteRow]) -> list[RouteRow]:
    """Go's insertion sort with istioctl's partial comparator (exact for <= 12 configs)."""
    out = list(rows)
    for i in range(1, len(out)):
        j = i
        while j > 0 and _less(out[j].entry.route_config.name, out[j - 1].entry.route_config.name):
            out[j], out[j - 1] = out[j - 1], out[j]
            j -= 1
    return out


def select(data: ProxyData, flt: RouteFilter) -> list[RouteRow]:
    """Dynamic then static route configs, filtered by exact name, in istioctl's order."""
    dump = data.need_dump("the routes view")
    dump.require("routes")
    rows = []
    for key in ("dynamic_route_configs", "static_route_configs"):
        entries = dump.route_entries(key)
        for i, entry in enumerate(entries.items):
            if flt.name is None or entry.route_config.name == flt.name:
                rows.append(RouteRow(entries.ref(i, "route_config"), entry))
    return _istioctl_order(rows)


def action(route: s.Route) -> str:
    """What the route does: cluster, weighted clusters, redirect or direct response."""
    if route.route is not None:
        act = route.route
        if act.weighted_clusters is not None:
            return ",".join(f"{c.name}:{c.weight or 0}" for c in act.weighted_clusters.clusters)
        if act.cluster:
            return act.cluster
        if act.cluster_header:
            return f"header:{act.cluster_header}"
        return "route"
    if route.direct_response is not None:
        return f"direct:{route.direct_response.status}"
    if len(route.redirect) and bytes(route.redirect) != b"null":
        return "redirect"
    return "-"


def view(
    data: ProxyData, flt: RouteFilter, wide: bool = False, verbose: bool = True, prefix: str = ""
) -> ViewResult:
    """Build the route table; Passthrough routes are hidden, empty vhosts show ``/*`` 404."""
    rows = select(data, flt)
    if not verbose:
        table = Table(SHORT_COLUMNS, empty_message="No routes found.")
        for row in rows:
            rc = row.entry.route_config
            table.rows.append((prefix + rc.name, str(len(rc.virtual_hosts))))
    else:
        table = Table(COLUMNS, empty_message="No routes found.")
        for row in rows:
            rc = row.entry.route_config
            extra = (row.entry.version_info or "-", row.entry.last_updated or "-")
            for vh in rc.virtual_hosts:
                domains = summarize_domains(vh.domains)
                if not vh.routes:
                    table.rows.append(
                        (prefix + rc.name, vh.name, domains, "/*", "404", "404", *extra)
                    )
                    continue
                for r in vh.routes:
                    if r.route is not None and r.route.cluster == "PassthroughCluster":
                        continue
                    table.rows.append(
                        (
                            prefix + rc.name,
                            vh.name,
                            domains,
                            match_description(r.match),
                            istio_config_ref(r.metadata),
                            action(r),
                            *extra,
                        )
                    )
    note = None if rows or flt.empty else f"No route config is named {flt.name!r}."
    return ViewResult(table, lambda: [r.ref.resolve() for r in rows], note)
