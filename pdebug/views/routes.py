"""``pdebug routes``: istioctl's route table (one row per route of each virtual host)."""

from __future__ import annotations

import re

import msgspec

from pdebug.errors import InvalidInput
from pdebug.gosort import go_sort_slice
from pdebug.model import ProxyData
from pdebug.model import schema as s
from pdebug.model.dump import Ref, decode_raw, plain_json
from pdebug.model.routes import records as route_records
from pdebug.model.routes import summarize_domains
from pdebug.views.common import bare, istio_config_ref, match_description, none_when_absent
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


class RouteFilter(msgspec.Struct, frozen=True):
    """``--name``: exact route-config name."""

    name: str | None = None

    @property
    def empty(self) -> bool:
        """Whether no filter is set."""
        return self.name is None


class RouteRow(msgspec.Struct):
    """One selected route configuration."""

    ref: Ref
    entry: s.RouteConfigEntry


_GO_INT = re.compile(r"[+-]?[0-9]+")
_INT64 = range(-(1 << 63), 1 << 63)


def _go_atoi(text: str) -> int | None:
    """Go's ``strconv.Atoi``: ASCII digits with an optional sign, within int64, else None.

    Stricter than ``int()``, which also takes spaces, ``_`` and non-ASCII digits.
    """
    if _GO_INT.fullmatch(text) is None:
        return None
    value = int(text)
    return value if value in _INT64 else None


def _less(a: str, b: str) -> bool:
    """Istioctl's comparator: only two numeric names are ordered."""
    x, y = _go_atoi(a), _go_atoi(b)
    return x is not None and y is not None and x < y


def _less_parsed(p: tuple[int | None, RouteRow], q: tuple[int | None, RouteRow]) -> bool:
    """``_less`` on names parsed once up front."""
    x, y = p[0], q[0]
    return x is not None and y is not None and x < y


def _istioctl_order(rows: list[RouteRow]) -> list[RouteRow]:
    """Go's ``sort.Slice`` with istioctl's partial comparator (``_less``).

    The comparator is no strict weak order, so above 12 configs the order is whatever
    Go's pdqsort makes of it; ``go_sort_slice`` replays exactly that.
    """
    keyed = [(_go_atoi(r.entry.route_config.name), r) for r in rows]
    go_sort_slice(keyed, _less_parsed)
    return [r for _, r in keyed]


def select(data: ProxyData, flt: RouteFilter) -> list[RouteRow]:
    """Dynamic then static route configs in istioctl's order, filtered by exact name.

    istioctl sorts every config and filters afterwards; with an unstable sort that is
    not the same as filtering first (two configs of the same name could swap).
    """
    dump = data.need_dump("the routes view")
    if none_when_absent(dump, "routes"):
        return []
    dump.require("routes")
    rows = [RouteRow(rec.ref, rec.entry) for rec in route_records(dump)]
    rows = _istioctl_order(rows)
    if flt.name is not None:
        rows = [r for r in rows if r.entry.route_config.name == flt.name]
    return rows


def plugin_name(act: s.RouteAction) -> str:
    """The cluster specifier plugin that picks the route's cluster ("" when none).

    The route config's plugin it names, or its inline plugin's extension name.
    """
    if act.cluster_specifier_plugin:
        return act.cluster_specifier_plugin
    inline = act.inline_cluster_specifier_plugin
    if inline is not None:
        return (inline.extension.name if inline.extension is not None else "") or "(inline)"
    return ""


def action(route: s.Route) -> str:
    """What the route does: cluster, weighted clusters, redirect or direct response."""
    if route.route is not None:
        act = route.route
        if act.weighted_clusters is not None:
            return ",".join(
                f"{c.name or _header(c.cluster_header)}:{c.weight or 0}"
                for c in act.weighted_clusters.clusters
            )
        if act.cluster:
            return act.cluster
        if act.cluster_header:
            return _header(act.cluster_header)
        plugin = plugin_name(act)
        if plugin:
            return f"plugin:{plugin}"
        return "route"
    if route.direct_response is not None:
        return f"direct:{route.direct_response.status}"
    if len(route.redirect) and bytes(route.redirect) != b"null":
        return "redirect"
    if len(route.non_forwarding_action) and bytes(route.non_forwarding_action) != b"null":
        return "non-forwarding"
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
        add = table.rows.append
        for row in rows:
            rc = row.entry.route_config
            name = prefix + rc.name
            # Without -o wide the rows stop before the wide columns (ACTION, VERSION,
            # LAST UPDATED), which come last: the renderer shows the same cells.
            extra = (row.entry.version_info or "-", row.entry.last_updated or "-")
            for vh in rc.virtual_hosts:
                domains = summarize_domains(vh.domains)
                if (
                    not vh.routes and len(vh.matcher) and bytes(vh.matcher) != b"null"
                ):  # routes in a matcher tree
                    for match, found in matcher_routes(vh):
                        vs = istio_config_ref(found.metadata) if found is not None else ""
                        act = action(found) if found is not None else "-"
                        table.rows.append(
                            (prefix + rc.name, vh.name, domains, match, vs, act, *extra)
                        )
                    continue
                if not vh.routes:
                    add((name, vh.name, domains, "/*", "404", "404", *extra) if wide else
                        (name, vh.name, domains, "/*", "404"))  # fmt: skip
                    continue
                for r in vh.routes:
                    if r.route is not None and r.route.cluster == "PassthroughCluster":
                        continue
                    cells = (
                        name,
                        vh.name,
                        domains,
                        match_description(r.match),
                        istio_config_ref(r.metadata),
                    )
                    add((*cells, action(r), *extra) if wide else cells)
    note = None if rows or flt.empty else f"No route config is named {flt.name!r}."
    return ViewResult(table, lambda: [bare(r.ref.resolve()) for r in rows], note)


def matcher_routes(vh: s.VirtualHost) -> list[tuple[str, s.Route | None]]:
    """(MATCH, route) for each route a virtual host's ``matcher`` tree can pick.

    A virtual host routes with ``matcher`` instead of ``routes`` (Envoy's "route matching
    with a match tree"): a ``matcher_tree`` reads one input and maps its value (exact or
    prefix) to a ``Route`` or ``RouteList`` action, whose routes then match as usual.
    MATCH is the route's own match and the tree's condition, e.g. ``/foo* (:path=/a)``;
    a part pdebug does not read (``matcher_list``, custom matchers) is one row
    ``matcher (not shown)`` with no route. istioctl prints ``/*`` 404 for such a host.
    """
    rows: list[tuple[str, s.Route | None]] = []
    try:
        tree = plain_json(vh.matcher, f"virtual host {vh.name}: matcher")
        if not _walk_matcher(tree, "", rows, 0):
            rows.append(("matcher (not shown)", None))
    except InvalidInput:
        rows = [("matcher (not shown)", None)]
    return rows


def _get(obj: object, key: str) -> object:
    """Field ``key`` (snake_case) of decoded JSON in either spelling, else None."""
    if not isinstance(obj, dict):
        return None
    camel = key.split("_")[0] + "".join(w.title() for w in key.split("_")[1:])
    return obj.get(key, obj.get(camel))


def _walk_matcher(m: object, cond: str, rows: list[tuple[str, s.Route | None]], depth: int) -> bool:
    """Add the routes of matcher ``m`` under condition ``cond``; False if not understood."""
    tree = _get(m, "matcher_tree")
    if depth > 16 or not isinstance(tree, dict) or _get(m, "matcher_list") is not None:
        return False
    inp = _get(tree, "input")
    header = _get(_get(inp, "typed_config"), "header_name")
    label = header if isinstance(header, str) else str(_get(inp, "name") or "input")
    found = False
    for kind, op in (("exact_match_map", "="), ("prefix_match_map", "^")):
        entries = _get(_get(tree, kind), "map")
        if not isinstance(entries, dict):
            continue
        found = True
        for key, on_match in sorted(entries.items()):
            here = f"{cond}, {label}{op}{key}" if cond else f"{label}{op}{key}"
            if not _on_match(on_match, here, rows, depth):
                rows.append((f"matcher (not shown) ({here})", None))
    no_match = _get(m, "on_no_match")
    if no_match is not None:
        here = f"{cond}, no {label} key" if cond else f"no {label} key"
        if not _on_match(no_match, here, rows, depth):
            rows.append((f"matcher (not shown) ({here})", None))
    return found or no_match is not None


def _on_match(
    on_match: object, cond: str, rows: list[tuple[str, s.Route | None]], depth: int
) -> bool:
    nested = _get(on_match, "matcher")
    if nested is not None:
        return _walk_matcher(nested, cond, rows, depth + 1)
    config = _get(_get(on_match, "action"), "typed_config")
    kind = str(_get(config, "@type") or "")
    if kind.endswith(".RouteList"):
        routes = _get(config, "routes")
        listed = routes if isinstance(routes, list) else []
    elif kind.endswith(".Route"):
        listed = [config]
    else:
        return False
    import orjson  # here: the routes table needs it only for these (its import: ~6 ms)

    for item in listed:
        route = decode_raw(msgspec.Raw(orjson.dumps(item)), s.Route, what="matcher route")
        desc = match_description(route.match)
        rows.append((f"{desc} ({cond})" if desc else cond, route))
    return True


def _header(name: str) -> str:
    """A cluster taken from a request header (``cluster_header``), as the ACTION says it."""
    return f"header:{name}" if name else ""
