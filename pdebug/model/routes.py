"""Facts: route configurations, their virtual hosts, and where routes send traffic.

A ``RoutesConfigDump`` holds ``dynamic_route_configs`` (received by RDS) and
``static_route_configs`` (the bootstrap's, and the HCMs' inline ``route_config`` that
Envoy also lists there). A listener's HTTP connection manager names an RDS config
(``rds.route_config_name``) or carries one inline. A route sends to one ``cluster`` or
to ``weighted_clusters``; a tcp_proxy likewise (:func:`tcp_targets`).

``views/routes.py`` prints :func:`records` in istioctl's order, checks and the report
read :func:`configs` (each config once) and :func:`route_targets`, ``trace`` finds a
config by name with :func:`find`.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import TYPE_CHECKING

import msgspec

from pdebug.model import schema as s

if TYPE_CHECKING:
    from pdebug.model.dump import ConfigDump, Entries, Ref

#: Route config list of the routes section -> its kind.
KINDS = (("dynamic_route_configs", "rds"), ("static_route_configs", "static"))


class RouteConfigRecord:
    """One route configuration as the dump holds it.

    Attributes:
        kind: ``rds`` (``dynamic_route_configs``) or ``static``.
        entries: The list it is in.
        index: Its position there.
        entry: The entry (``version_info``, ``last_updated``, ``route_config``).
    """

    __slots__ = ("entries", "entry", "index", "kind")

    def __init__(
        self, kind: str, entries: Entries[s.RouteConfigEntry], index: int, entry: s.RouteConfigEntry
    ) -> None:
        # a plain class, not a dataclass: the views import this module at start
        self.kind = kind
        self.entries = entries
        self.index = index
        self.entry = entry

    @property
    def name(self) -> str:
        """The route configuration's name."""
        return self.entry.route_config.name

    @property
    def config(self) -> s.RouteConfiguration:
        """The typed route configuration."""
        return self.entry.route_config

    @property
    def resource(self) -> str:
        """``route/NAME``, as findings name the route configuration.

        An inline config Envoy holds without a name (Emissary's, one per filter chain) is
        named by its first virtual host instead.
        """
        if self.name:
            return f"route/{self.name}"
        hosts = self.config.virtual_hosts
        first = f"virtual host {hosts[0].name}" if hosts else "no virtual host"
        return f"route/(inline, {first})"

    @property
    def ref(self) -> Ref:
        """Where the route configuration sits in the dump."""
        return self.entries.ref(self.index, "route_config")


def records(dump: ConfigDump) -> Iterator[RouteConfigRecord]:
    """Dynamic then static route configurations, in dump order (repeats included)."""
    for key, kind in KINDS:
        entries = dump.route_entries(key)
        for i, entry in enumerate(entries.items):
            yield RouteConfigRecord(kind, entries, i, entry)


def configs(dump: ConfigDump) -> list[RouteConfigRecord]:
    """:func:`records`, each route configuration once.

    An RDS name repeated counts once (the first). Static entries are the inline route
    configs of connection managers, one per manager: two listeners' configs may share a
    name (Envoy's sandboxes all call theirs ``local_route``) and still differ, so a
    static one is left out only when it repeats an earlier one of its name exactly.
    """
    seen: set[str] = set()
    static: dict[str, list[s.RouteConfiguration]] = {}
    out: list[RouteConfigRecord] = []
    for rec in records(dump):
        if rec.kind == "static":
            earlier = static.setdefault(rec.name, [])
            if any(rc == rec.config for rc in earlier):
                continue
            earlier.append(rec.config)
        elif rec.name in seen:
            continue
        else:
            seen.add(rec.name)
        out.append(rec)
    return out


def listed(dump: ConfigDump) -> list[RouteConfigRecord]:
    """The route configurations ``pdebug routes`` lists: each RDS name once, every static one.

    Each connection manager holds its own inline config, even when two are identical
    and share a name (Envoy's sandboxes' ``local_route``).
    """
    seen: set[str] = set()
    out: list[RouteConfigRecord] = []
    for rec in records(dump):
        if rec.kind != "static":
            if rec.name in seen:
                continue
            seen.add(rec.name)
        out.append(rec)
    return out


def rds_by_name(dump: ConfigDump) -> dict[str, s.RouteConfiguration]:
    """RDS route configurations by name (the first of a repeated name)."""
    out: dict[str, s.RouteConfiguration] = {}
    for rec in records(dump):
        if rec.kind == "rds":
            out.setdefault(rec.name, rec.config)
    return out


#: Per-route messages whose ``disabled: true`` turns their filter off for the route.
OFF_PER_ROUTE = (".ExtProcPerRoute", ".ExtAuthzPerRoute", ".jwt_authn.v3.PerRouteConfig")


def filter_runs(rc: s.RouteConfiguration, name: str, off_by_default: bool) -> bool:
    """Whether the HTTP filter ``name`` runs on some route of ``rc``.

    Each route's most specific ``typed_per_filter_config[name]`` decides (the route's,
    else its virtual host's, else ``rc``'s): none leaves the filter as the connection
    manager has it (``off_by_default``: its ``disabled``); a ``FilterConfig`` with
    ``disabled`` turns it off, any other entry on, unless it is (or its ``config`` is)
    the filter's own per-route message with ``disabled`` (:data:`OFF_PER_ROUTE`), a
    ``TypedStruct`` of one too (Envoy 1.40: tests/test_leftovers10.py). A request no
    route matches is answered 404 (Envoy 1.40's ext_authz does not call its service
    then, whether a route turns it off or not).
    """
    top = rc.typed_per_filter_config.get(name)
    for vh in rc.virtual_hosts:
        host = vh.typed_per_filter_config.get(name)
        for route in vh.routes:
            raw = next(
                (r for r in (route.typed_per_filter_config.get(name), host, top) if _set(r)),
                None,
            )
            if raw is None:
                if not off_by_default:
                    return True
            elif not _turns_off(raw):
                return True
    return False


def _set(raw: msgspec.Raw | None) -> bool:
    return raw is not None and len(raw) > 0 and bytes(raw) != b"null"


def _turns_off(raw: msgspec.Raw) -> bool:
    """Whether a ``typed_per_filter_config`` entry turns its filter off (unreadable: no)."""
    from pdebug.model.listeners import unwrap_typed_struct

    try:
        cfg = unwrap_typed_struct(msgspec.json.decode(bytes(raw)))
    except (msgspec.DecodeError, RecursionError, UnicodeDecodeError):
        return False
    if not isinstance(cfg, dict):
        return False
    if str(cfg.get("@type", "")).endswith(".FilterConfig"):
        if cfg.get("disabled") is True:
            return True
        cfg = unwrap_typed_struct(cfg.get("config"))
        if not isinstance(cfg, dict):
            return False
    return str(cfg.get("@type", "")).endswith(OFF_PER_ROUTE) and cfg.get("disabled") is True


def find(dump: ConfigDump, name: str) -> RouteConfigRecord | None:
    """The route configuration an HCM's ``rds.route_config_name`` names, or None."""
    for rec in records(dump):
        if rec.name == name:
            return rec
    return None


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


def duplicate_domains(rc: s.RouteConfiguration) -> list[tuple[str, str]]:
    """``(domain, how it is claimed twice)`` for each domain two virtual hosts claim.

    Compared case-insensitively, as Envoy does (it rejects the whole config); in order,
    each repeat after the first claim.
    """
    lowered = [d.lower() for vh in rc.virtual_hosts for d in vh.domains]
    if len(set(lowered)) == len(lowered):
        return []  # no domain twice: nothing to say (the common case, in one pass)
    out: list[tuple[str, str]] = []
    owner: dict[str, str] = {}
    for vh in rc.virtual_hosts:
        for domain in vh.domains:
            key = domain.lower()
            first = owner.get(key)
            if first is None:
                owner[key] = vh.name
                continue
            claim = (
                f"listed twice in virtual host {first!r}"
                if first == vh.name
                else f"claimed by virtual hosts {first!r} and {vh.name!r}"
            )
            out.append((domain, claim))
    return out


#: One route configuration as :func:`route_facts` sends it: its name, its finding
#: resource, the clusters its routes send to (each once, in the order they are first
#: named) and :func:`duplicate_domains`.
RouteFacts = tuple[str, str, tuple[str, ...], tuple[tuple[str, str], ...]]


def route_facts(dump: ConfigDump) -> tuple[bool, list[RouteFacts]] | None:
    """What ``pdebug check`` reads of the routes section, compact (#17).

    Whether the strict section decode read the section
    (:attr:`~pdebug.model.dump.Section.members_known`), and each of :func:`configs` as
    :data:`RouteFacts`.

    What a child forked by ``check`` sends back (``marshal`` writes it). None when the
    dump has no routes section, or the one-pass typed decode did not read it whole (the
    field-by-field reading may warn, or find sections the layout missed).
    """
    from pdebug.model.dump import KEY_KINDS

    sec = dump.section("routes")
    if sec is None:
        return None
    out: list[RouteFacts] = []
    for rc in configs(dump):
        clusters = tuple(dict.fromkeys(cluster for _, _, cluster in route_targets(rc.config)))
        out.append((rc.name, rc.resource, clusters, tuple(duplicate_domains(rc.config))))
    if not sec.planned.issuperset(k for k, kind in KEY_KINDS.items() if kind == "routes"):
        return None
    return sec.members_known, out


def tcp_targets(tcp: s.TcpProxy) -> list[str]:
    """The clusters a tcp_proxy sends to."""
    out = [tcp.cluster] if tcp.cluster else []
    if tcp.weighted_clusters is not None:
        out.extend(wc.name for wc in tcp.weighted_clusters.clusters if wc.name)
    if tcp.value is not None and tcp.value.route_config is not None:
        # Envoy <= 1.8's v1 form: each route names its cluster.
        for route in tcp.value.route_config.routes:
            if route.cluster and route.cluster not in out:
                out.append(route.cluster)
    return out


class Plugin:
    """The cluster specifier plugin that picks a route's cluster at run time."""

    __slots__ = ("default_cluster", "found", "kind", "name")

    def __init__(self, name: str, kind: str, default_cluster: str, found: bool) -> None:
        self.name = name
        #: the extension's kind (``lua``), or its config's type name
        self.kind = kind
        #: the cluster it falls back to, when its config says (Lua's ``default_cluster``)
        self.default_cluster = default_cluster
        #: False: a named plugin the route config does not hold
        self.found = found


def plugin_of(act: s.RouteAction, rc: s.RouteConfiguration | None) -> Plugin | None:
    """The cluster specifier plugin of a route action (named, or inline), or None."""
    from pdebug.model.dump import plain_json

    ext: s.TypedExtension | None = None
    found = True
    if act.cluster_specifier_plugin:
        name = act.cluster_specifier_plugin
        plugins = rc.cluster_specifier_plugins if rc is not None else []
        ext = next(
            (p.extension for p in plugins if p.extension is not None and p.extension.name == name),
            None,
        )
        found = ext is not None
    elif act.inline_cluster_specifier_plugin is not None:
        ext = act.inline_cluster_specifier_plugin.extension
        name = (ext.name if ext is not None else "") or "(inline)"
    else:
        return None
    kind, default = "", ""
    if ext is not None and ext.typed_config != s.NULL:
        try:
            config = plain_json(ext.typed_config, f"cluster specifier plugin {name}")
        except Exception:  # noqa: BLE001 - a config pdebug cannot read names nothing more
            config = None
        if isinstance(config, dict):
            url = str(config.get("@type") or "")
            kind = (
                url.split("cluster_specifiers.", 1)[1].split(".", 1)[0]
                if ("cluster_specifiers." in url)
                else url.rsplit(".", 1)[-1]
            )
            value = config.get("default_cluster", config.get("defaultCluster"))
            default = value if isinstance(value, str) else ""
    return Plugin(name, kind, default, found)


def summarize_domains(domains: list[str]) -> str:
    """Istioctl's DOMAINS cell: drop ``:port`` and ``.svc[.cluster.local]`` variants."""
    if not domains:
        return ""
    if len(domains) == 1:
        return domains[0]
    # The routes table and the report's topology both summarize every virtual host.
    return _summarize(tuple(domains))


@functools.lru_cache(maxsize=1 << 15)
def _summarize(domains: tuple[str, ...]) -> str:
    kept = [d for d in domains if ":" not in d or (d.count(":") > 2 and d.endswith("]"))]
    present = set(kept)
    result = []
    for d in kept:
        if d.endswith(".svc.cluster.local") and d[: -len(".svc.cluster.local")] in present:
            continue
        if d.endswith(".svc") and d[: -len(".svc")] in present:
            continue
        result.append(d)
    if len(result) > 2:
        return f"{result[0]}, {result[1]} + {len(result) - 2} more..."
    return ", ".join(result)
