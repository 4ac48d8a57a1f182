"""Read one proxy: what to ask for (:class:`Fetch`), and how (:func:`load_proxy`).

:func:`load_proxy` parses a command's SOURCE words (:mod:`pdebug.sources.spec`), opens
them with :func:`~pdebug.sources.open_source`, fetches and parses the proxy into
:class:`~pdebug.model.ProxyData`; it never looks at which kind of source it holds beyond
``live``.
Live proxies get only what the view needs (a ``/config_dump`` mask and ``name_regex``,
``/clusters?format=json`` for health); files and bundles are read whole. No rendering,
no printing: the CLI's ``run_view`` does that.
"""

from __future__ import annotations

import urllib.parse
from typing import TYPE_CHECKING

import msgspec

from pdebug.errors import InvalidInput, ZtunnelDumpGiven
from pdebug.model import ConfigDump, ProxyData
from pdebug.sources.base import LiveOptions, Source

if TYPE_CHECKING:
    from collections.abc import Callable

    from pdebug.model.ztunnel import ZtunnelDump
    from pdebug.sources.held import Bundles, Held
    from pdebug.sources.spec import FileSpec, MemberSpec, SourceSpec, SourceWords

    #: ``--clusters-json FILE``: the word as typed, or parsed.
    ClustersJson = FileSpec | MemberSpec | str | None

CLUSTERS_JSON = "/clusters?format=json"
STATS_JSON = "/stats?format=json"


def _regex(value: str, *, contains: bool = False, ignore_case: bool = False) -> str:
    """An Envoy ``name_regex`` (RE2, full match) for a literal name or a substring."""
    import re

    body = re.escape(value)
    if contains:
        body = f".*{body}.*"
    return ("(?i)" if ignore_case else "") + body


class Fetch(msgspec.Struct, frozen=True):
    """What a view needs from a live proxy, pushed down to Envoy's admin API.

    ``dump`` is the ``/config_dump`` query; ``mask`` lists its top-level fields (Envoy
    answers with just those sections) and ``kinds`` the sections they belong to, which
    count as present-but-empty when Envoy has nothing of them. ``health`` also asks for
    ``/clusters?format=json``. Files ignore all of this: they are what they are.
    """

    dump: bool = True
    kinds: tuple[str, ...] = ()
    mask: tuple[str, ...] = ()
    include_eds: bool = False
    name_regex: str | None = None
    health: bool = False
    dump_optional: bool = False
    #: Also ``/stats?format=json`` (a bundle's ``stats.json``): ``pdebug check``'s
    #: update_rejected counters. A live proxy that cannot answer it leaves it out.
    stats: bool = False

    def dump_path(self) -> str:
        """The admin path for the dump, e.g. ``/config_dump?mask=...&name_regex=...``."""
        query: list[str] = []
        if self.include_eds:
            query.append("include_eds")
        if self.mask:
            query.append("mask=" + ",".join(self.mask))
        if self.name_regex is not None:
            query.append("name_regex=" + urllib.parse.quote(self.name_regex, safe=""))
        return "/config_dump" + ("?" + "&".join(query) if query else "")

    @classmethod
    def clusters(cls, name_contains: str | None = None, health: bool = False) -> Fetch:
        """Cluster sections; ``--fqdn`` becomes ``name_regex`` (same substring test)."""
        return cls(
            kinds=("clusters",),
            mask=("dynamic_active_clusters", "static_clusters", "dynamic_warming_clusters"),
            name_regex=_regex(name_contains, contains=True) if name_contains else None,
            health=health,
        )

    @classmethod
    def listeners(cls) -> Fetch:
        """Listener sections."""
        return cls(kinds=("listeners",), mask=("dynamic_listeners", "static_listeners"))

    @classmethod
    def routes(cls, name: str | None = None) -> Fetch:
        """Route sections; ``--name`` becomes an exact ``name_regex``."""
        return cls(
            kinds=("routes",),
            mask=("dynamic_route_configs", "static_route_configs"),
            name_regex=_regex(name) if name else None,
        )

    @classmethod
    def eds(cls, cluster: str | None = None) -> Fetch:
        """EDS sections; ``--cluster`` (case-insensitive) becomes ``name_regex``."""
        return cls(
            kinds=("endpoints",),
            mask=("dynamic_endpoint_configs", "static_endpoint_configs"),
            include_eds=True,
            name_regex=_regex(cluster, ignore_case=True) if cluster else None,
        )

    @classmethod
    def endpoints(cls, cluster: str | None = None, eds: bool = False) -> Fetch:
        """``/clusters?format=json``, plus EDS (for locality and weight) when ``eds``."""
        base = cls.eds(cluster)
        return cls(
            dump=eds,
            kinds=base.kinds,
            mask=base.mask,
            include_eds=True,
            name_regex=base.name_regex,
            health=True,
            dump_optional=True,
        )

    @classmethod
    def secrets(cls, wide: bool = False) -> Fetch:
        """Secret sections.

        ``wide`` (``-o wide``): the listeners and clusters too, whose TLS contexts may
        hold certificates inline (Consul's).
        """
        mask = ("dynamic_active_secrets", "dynamic_warming_secrets", "static_secrets")
        if not wide:
            return cls(kinds=("secrets",), mask=mask)
        # no mask: Envoy refuses a mask naming fields of several sections (HTTP 400)
        return cls(kinds=("secrets", "listeners", "clusters"))

    @classmethod
    def bootstrap(cls, wide: bool = False) -> Fetch:
        """The bootstrap section (``wide``, ``-o wide``, reads nothing more)."""
        return cls(kinds=("bootstrap",), mask=("bootstrap",))

    @classmethod
    def ecds(cls, wide: bool = False) -> Fetch:
        """ECDS sections (``wide``, ``-o wide``, reads nothing more)."""
        return cls(kinds=("ecds",), mask=("ecds_filters",))

    @classmethod
    def everything(cls) -> Fetch:
        """The whole dump with EDS."""
        return cls(include_eds=True)

    @classmethod
    def checks(cls, stats: bool = False) -> Fetch:
        """What the checks read (``check``, ``report``, ``assert``).

        The whole dump with EDS, and ``/clusters``; a section the proxy has none of is
        present but empty.
        """
        return cls(kinds=_CHECKED, include_eds=True, health=True, stats=stats)


#: The sections a live proxy may leave out when it has none of them (for the checks).
_CHECKED = ("listeners", "clusters", "routes", "endpoints", "secrets")


def _load(
    body: bytes | memoryview, label: str, plan: tuple[str, ...] = (), *, health: bool = False
) -> ProxyData:
    """Parse a file's bytes (a dump or a /clusters document) into ProxyData.

    ``health``: the bytes are known to be a ``/clusters?format=json`` answer (a
    ``--clusters-json`` file, a bundle's clusters.json), where ``{}`` is what Envoy writes
    for a proxy without clusters; a SOURCE that is ``{}`` is refused.
    """
    from pdebug.model.load import load
    from pdebug.model.yamldump import from_yaml

    loaded = load(from_yaml(body, label), label, plan)
    if not health and loaded.clusters is not None and not loaded.clusters.doc.cluster_statuses:
        from pdebug.model.sniff import without_bom

        if bytes(without_bom(body[:64])).strip() == b"{}":  # also after a 200 line, a BOM
            # An empty object is no evidence of a /clusters document: say what it is.
            raise InvalidInput(
                f"{label}: an empty JSON object ({{}}), not an Envoy config dump",
                hint="expected the JSON of GET /config_dump; Envoy also answers {} to "
                "/clusters?format=json when it has no cluster: give that with --clusters-json",
            )
    return ProxyData(label, loaded.dump, loaded.clusters)


def _fetch_dump(source: Source, fetch: Fetch) -> ConfigDump:
    """GET the dump the view needs; a mask Envoy cannot apply means "none of it"."""
    from pdebug.model.dump import ConfigDump
    from pdebug.model.load import load
    from pdebug.sources.admin import AdminHTTPError

    try:
        body = source.get(fetch.dump_path())
    except AdminHTTPError as exc:
        # Envoy answers 400 when no section has the masked fields: there is none of it.
        if exc.status != 400 or not fetch.mask:
            raise
        dump = ConfigDump([], source.label)
    else:
        loaded = load(body, source.label, fetch.mask)
        if loaded.dump is None:
            raise InvalidInput(
                f"{source.label}: the admin answered with something other than a config dump",
                hint="is this the Envoy admin port (15000 in Istio sidecars)?",
            )
        dump = loaded.dump
    dump.assume_empty(fetch.kinds)
    return dump


def _text_clusters(body: bytes | memoryview) -> bool:
    """Whether ``body`` is Envoy's text ``/clusters`` (``name::host:port::stat::value``)."""
    from pdebug.model.sniff import sniff_bytes

    found = sniff_bytes(body)
    return found.kind == "text" and "::" in found.first_line


def fetch_live(source: Source, fetch: Fetch) -> ProxyData:
    """Ask a live proxy for exactly what the view needs."""
    from pdebug.model.load import load

    proxy = ProxyData(source.label)
    if fetch.dump:
        proxy.dump = _fetch_dump(source, fetch)
    if fetch.health:
        label = f"{source.label}{CLUSTERS_JSON}"
        body = source.get(CLUSTERS_JSON)
        old = "answered in text (an Envoy older than 1.8 has no JSON /clusters)"
        if proxy.dump is not None and _text_clusters(body):
            # Envoy 1.7 and older ignore format=json: the view goes on with the dump alone
            proxy.dump.warn(f"{label}: {old}: live endpoint health not read")
        elif _text_clusters(body):
            raise InvalidInput(
                f"{label}: {old}",
                hint="pdebug reads the JSON /clusters of Envoy 1.8 and later; the clusters "
                "and listeners views read this proxy's config dump",
            )
        else:
            health = load(body, label).clusters
            if health is None:
                raise InvalidInput(f"{label}: not a /clusters?format=json document")
            proxy.health = health
    if fetch.stats:
        from pdebug.sources.admin import AdminHTTPError

        try:
            proxy.stats = bytes(source.get(STATS_JSON))
        except AdminHTTPError:
            proxy.stats = None  # the check that needs it says it was skipped
    # A Kubernetes source knows which pod (and namespace) it reached only after the fetch.
    proxy.source = source.label
    if proxy.dump is not None:
        proxy.dump.source = source.label
    return proxy


def load_proxy(
    given: SourceSpec | SourceWords,
    live: LiveOptions,
    fetch: Fetch,
    clusters_json: ClustersJson = None,
    before_read: Callable[[], object] | None = None,
) -> ProxyData:
    """Open the source ``given`` names, read and parse it (plus a /clusters?format=json file).

    SOURCE words are parsed first (:func:`~pdebug.sources.spec.spec_of`), then
    ``before_read`` runs (a command's checks that come after SOURCE's and before any I/O,
    as a view's ``-o``). A live proxy is asked for what ``fetch`` needs; a file is read
    whole, and a bundle's saved ``/clusters`` and ``/stats`` answers come along.
    """
    from pdebug.sources import open_source
    from pdebug.sources.spec import spec_of

    spec = spec_of(given)
    if before_read is not None:
        before_read()
    with open_source(spec, live) as source:
        proxy = _read(source, fetch)
    return _with_health(proxy, clusters_json)


def load_any(
    spec: SourceSpec,
    live: LiveOptions,
    fetch: Fetch,
    clusters_json: ClustersJson = None,
) -> ProxyData | ZtunnelDump:
    """:func:`load_proxy`, or the ztunnel's dump when the source is a ztunnel (ambient).

    The ztunnel's ``/config_dump`` is read from the same opened source.
    """
    from pdebug.sources import open_source

    with open_source(spec, live) as source:
        got = _read_any(source, fetch)
    return _with_health(got, clusters_json) if isinstance(got, ProxyData) else got


def read_every(
    given: SourceSpec | SourceWords,
    live: LiveOptions,
    fetch: Fetch,
    clusters_json: ClustersJson = None,
    *,
    bundles: Bundles,
) -> tuple[str, ProxyData | ZtunnelDump | Held]:
    """Every proxy SOURCE holds (``check``, ``report``, ``assert``): SOURCE's text, and them.

    SOURCE's words are parsed first; :func:`~pdebug.sources.held.hold` reads what they
    name, as ``bundles`` says. One proxy, opened or a plain file's bytes, is parsed here
    as :func:`load_any` parses it (``bundles="several"``: a ztunnel too) or
    :func:`load_proxy` (``"any"``), with ``--clusters-json FILE``: a plain file is
    accepted or refused as the views and ``check`` do. A bundle's proxies come back read,
    for :mod:`pdebug.inputs` to parse.

    Raises:
        UsageError: ``--clusters-json`` with a bundle of several proxies
            (``bundles="several"``).
    """
    from pdebug.sources.held import hold
    from pdebug.sources.spec import spec_of

    spec = spec_of(given)
    one_only = "--clusters-json" if clusters_json is not None else None
    with hold(spec, live, bundles, one_only) as held:
        if held.source is not None:
            source = held.source
            got = _read_any(source, fetch) if bundles == "several" else _read(source, fetch)
        elif held.data is not None:  # a plain file, read once, parsed as its source would be
            data, label = held.data, held.label
            got = (
                _parse_any(data, label, fetch)
                if bundles == "several"
                else _load(data, label, fetch.mask)
            )
        else:  # a bundle's proxies
            return spec.text, held
    return spec.text, _with_health(got, clusters_json) if isinstance(got, ProxyData) else got


def _read_any(source: Source, fetch: Fetch) -> ProxyData | ZtunnelDump:
    """:func:`_read`, or the ztunnel's dump when the source is a ztunnel."""
    try:
        return _read(source, fetch)
    except ZtunnelDumpGiven:
        from pdebug.model.ztunnel import parse

        return parse(source.get("/config_dump"), source.label)


def _parse_any(data: bytes | memoryview, label: str, fetch: Fetch) -> ProxyData | ZtunnelDump:
    """A plain file's bytes as :func:`_read_any` reads them from its source: a proxy or a ztunnel.

    A plain file has no saved ``/clusters`` or ``/stats`` answers beside it.
    """
    try:
        return _load(data, label, fetch.mask)
    except ZtunnelDumpGiven:
        from pdebug.model.ztunnel import parse

        return parse(data, label)


def _read(source: Source, fetch: Fetch) -> ProxyData:
    """An opened source's proxy: what ``fetch`` needs of a live one, a file whole."""
    if source.live:
        proxy = fetch_live(source, fetch)
        proxy.picked_pod = source.picked
        return proxy
    proxy = _load(source.get(""), source.label, fetch.mask)
    if proxy.health is None:
        doc = source.saved(CLUSTERS_JSON)
        if doc is not None:
            proxy.health = _load(doc, f"{source.label}/clusters.json", health=True).health
    if fetch.stats:
        proxy.stats = source.saved(STATS_JSON)
    return proxy


def _with_health(proxy: ProxyData, clusters_json: ClustersJson) -> ProxyData:
    """``proxy`` with the endpoint health of a ``--clusters-json FILE``, when given."""
    if clusters_json is None:
        return proxy
    from pdebug.sources import open_source
    from pdebug.sources.spec import file_spec

    if isinstance(clusters_json, str):  # a word that names a file, whatever it looks like
        clusters_json = file_spec(clusters_json)

    with open_source(clusters_json) as extra:
        more = _load(extra.get(""), extra.label, health=True)
    if more.health is None:
        raise InvalidInput(
            f"{extra.label}: --clusters-json needs a /clusters?format=json document, "
            "not a config dump",
            hint="capture it with: curl -s 'localhost:15000/clusters?format=json'",
        )
    proxy.health = more.health
    warn_if_another_proxy(proxy, extra.label)
    return proxy


def warn_if_another_proxy(proxy: ProxyData, label: str) -> None:
    """Say on stderr when no cluster of ``--clusters-json`` is one of the dump's.

    Then the file is another proxy's (or another mesh's): the health shown and checked
    is that proxy's, not this one's.
    """
    dump, health = proxy.dump, proxy.health
    if dump is None or health is None or not health.statuses or not dump.has("clusters"):
        return
    from pdebug.model.clusters import by_name

    names = by_name(dump)
    if not names or any(st.name in names for st in health.statuses):
        return
    import sys

    from pdebug.model.dump import sanitize

    print(
        f"pdebug: warning: {sanitize(label)}: none of its clusters ({len(health.statuses)}) "
        f"is in the config dump ({len(names)}): is it the same proxy's /clusters?",
        file=sys.stderr,
    )


__all__ = [
    "CLUSTERS_JSON",
    "STATS_JSON",
    "Fetch",
    "fetch_live",
    "load_any",
    "load_proxy",
    "read_every",
    "warn_if_another_proxy",
]
