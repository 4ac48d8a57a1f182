"""The shared body of every view command: load the proxy, build the view, render, print.

Reading the proxy (:class:`~pdebug.proxy.Fetch`, :func:`~pdebug.proxy.load_proxy`) is
library code in :mod:`pdebug.proxy`: the command hands it SOURCE's words as typed, and it
parses them once.

Nothing here imports Typer: the view bodies below run both under Typer (the commands of
:mod:`pdebug.cli.views` call them) and without it, for a plain ``pdebug VIEW SOURCE``
(see :func:`pdebug.cli._plain_view`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import msgspec

from pdebug.model import ProxyData
from pdebug.proxy import Fetch, load_proxy
from pdebug.render import Format, get_format
from pdebug.sources.base import LiveOptions
from pdebug.views.result import ViewResult
from pdebug.views.table import Table

if TYPE_CHECKING:
    from pdebug.errors import PdebugError
    from pdebug.sources.spec import SourceWords
    from pdebug.views.endpoints import EndpointFilter


class ProxyOptions(msgspec.Struct, frozen=True):
    """Which proxy a command reads and how to reach it, as one value.

    SOURCE, ``--admin``, ``--bundle`` and the live options
    (:func:`pdebug.cli.options.proxy_options`).
    """

    source: str | None
    admin: str | None
    bundle: str | None
    live: LiveOptions

    @property
    def words(self) -> SourceWords:
        """SOURCE, ``--admin``, ``--bundle`` and ``-n`` as typed, for the library to parse."""
        from pdebug.sources.spec import SourceWords

        return SourceWords(self.source, self.admin, self.bundle, self.live.namespace)


def run_view(
    proxy: ProxyOptions,
    output: str,
    fetch: Fetch,
    build: Callable[[ProxyData, Format], ViewResult],
    clusters_json: str | None = None,
    keys: str | None = None,
    members: tuple[str, ...] | None = None,
    members_read_only: bool = False,
) -> int:
    """Fetch (SOURCE parsed, then ``-o`` checked), build the view, render it and print it.

    ``keys``: ``--keys`` (None: ``$PDEBUG_KEYS``, else the dump's own spelling).
    Text formats name on stderr each section pdebug does not read, and each member of
    the sections of kinds ``members`` (``()``: all; None: none) it does not read
    (:func:`pdebug.model.sections.unread_members`: a scan of those sections' bytes;
    ``members_read_only``: only what their reading already told, no scan).
    """
    if keys is None:
        keys = os.environ.get("PDEBUG_KEYS") or None
    data = load_proxy(  # -o is checked once SOURCE is parsed, before anything is read
        proxy.words,
        proxy.live,
        fetch,
        clusters_json,
        before_read=lambda: get_format(output, keys),
    )
    fmt = get_format(output, keys)
    if data.picked_pod is not None:
        # Say which pod of the workload was read; stdout stays the data alone.
        print(f"reading pod {data.picked_pod} ({proxy.source})", file=sys.stderr)
    result = build(data, fmt)
    fmt.write(result, sys.stdout)
    note = result.note
    if (
        note is None
        and not fmt.structured
        and isinstance(result.table, Table)
        and not result.table.rows
        and not result.table.header_when_empty
    ):
        note = result.table.empty_message
    if note:
        print(note, file=sys.stderr)
    if not fmt.structured and data.dump is not None:
        from pdebug.model.sections import unread_notes

        for line in unread_notes(data.dump):
            print(line, file=sys.stderr)
        if members is not None:
            from pdebug.model.sections import unread_member_notes

            notes = unread_member_notes(data.dump, members, read_only=members_read_only)
            for line in notes:
                print(line, file=sys.stderr)
    return 0


# --- the bodies of the view commands (pdebug.cli.views declares their options) ---------


def clusters(
    proxy: ProxyOptions,
    fqdn: str | None = None,
    port: int | None = None,
    subset: str | None = None,
    direction: str | None = None,
    output: str = "table",
    clusters_json: str | None = None,
    keys: str | None = None,
) -> int:
    """``pdebug clusters``."""
    from pdebug.views import clusters as v

    flt = v.ClusterFilter(fqdn, port, subset, direction)
    fetch = Fetch.clusters(name_contains=fqdn, health=output.lower() == "wide")
    from pdebug.model.load import light_tables

    # The plain table: the clusters section is read for its cells only (#17).
    light = ("clusters",) if flt.empty and output.lower() in ("table", "short") else ()
    # A big section: its two halves decoded and made into rows at once (#17).
    with light_tables(*light, rows=v.light_keyed if light else None):
        return run_view(
            proxy,
            output,
            fetch,
            lambda d, f: v.view(d, flt, f.wide, f.structured),
            clusters_json,
            keys,
            # what the section's reading told (its light decode refuses an unknown
            # member: a clean section is known clean), never another pass over it
            members=("clusters",),
            members_read_only=True,
        )


def listeners(
    proxy: ProxyOptions,
    address: str | None = None,
    port: int | None = None,
    type: str | None = None,  # noqa: A002 - istioctl's flag name
    verbose: bool = True,
    output: str = "table",
    keys: str | None = None,
) -> int:
    """``pdebug listeners``."""
    from pdebug.views import listeners as v

    flt = v.ListenerFilter(address, port, type)
    return run_view(
        proxy,
        output,
        Fetch.listeners(),
        lambda d, f: v.view(d, flt, f.wide, verbose, not f.structured),
        keys=keys,
        members=("listeners",),
    )


def routes(
    proxy: ProxyOptions,
    name: str | None = None,
    verbose: bool = True,
    output: str = "table",
    keys: str | None = None,
) -> int:
    """``pdebug routes``."""
    from pdebug.views import routes as v

    flt = v.RouteFilter(name)
    return run_view(
        proxy,
        output,
        Fetch.routes(name),
        lambda d, f: v.view(d, flt, f.wide, verbose),
        keys=keys,
        members=("routes",),
    )


def endpoints(
    proxy: ProxyOptions,
    address: str | None = None,
    port: int | None = None,
    cluster: str | None = None,
    status: str | None = None,
    output: str = "table",
    clusters_json: str | None = None,
    keys: str | None = None,
) -> int:
    """``pdebug endpoints``."""
    from pdebug.views import endpoints as v

    flt = v.EndpointFilter(address, port, cluster, status)
    fetch = Fetch.endpoints(cluster, eds=output.lower() == "wide")
    return run_view(
        proxy,
        output,
        fetch,
        lambda d, f: explain_empty(d, _endpoints(v, d, flt, f.wide), flt),
        clusters_json,
        keys,
    )


def eds(
    proxy: ProxyOptions,
    address: str | None = None,
    port: int | None = None,
    cluster: str | None = None,
    status: str | None = None,
    output: str = "table",
    keys: str | None = None,
) -> int:
    """``pdebug eds``."""
    from pdebug.views import endpoints as v

    flt = v.EndpointFilter(address, port, cluster, status)
    return run_view(
        proxy,
        output,
        Fetch.eds(cluster),
        lambda d, f: explain_empty(d, v.eds_view(d, _need_eds(d, flt)), flt),
        keys=keys,
        members=("endpoints",),
    )


def _endpoints(v: Any, data: ProxyData, flt: EndpointFilter, wide: bool) -> ViewResult:
    """The endpoints view; a dump without EDS also names the /clusters way."""
    from pdebug.errors import MissingSection

    try:
        result: ViewResult = v.endpoints_view(data, flt, wide)
    except MissingSection as exc:
        if "endpoints section" not in exc.message:
            raise
        raise _no_eds(
            data,
            exc,
            "pass the admin URL (pdebug endpoints localhost:15000) or --clusters-json FILE",
        ) from exc
    return result


def _need_eds(data: ProxyData, flt: EndpointFilter) -> EndpointFilter:
    """``flt``, unless the dump has no EDS: not captured is no answer (exit 4).

    As ``endpoints`` and every view; istioctl's header alone read as "none". A proxy
    without clusters has no endpoints section either: that one is an answer.
    """
    from pdebug.errors import MissingSection
    from pdebug.model.sections import holds_no_clusters

    dump = data.need_dump("the eds view")
    try:
        _ = dump.has("endpoints") or holds_no_clusters(dump) or dump.require("endpoints")
    except MissingSection as exc:
        how = "read them with pdebug endpoints localhost:15000, or pdebug endpoints FILE "
        raise _no_eds(data, exc, how + "--clusters-json CLUSTERS") from exc
    return flt


def _no_eds(data: ProxyData, exc: PdebugError, how_to: str) -> PdebugError:
    """``exc`` (no endpoints section) with a hint naming both ways to the endpoints."""
    from pdebug.errors import MissingSection
    from pdebug.model.bootstrap import predates_include_eds

    how = "capture with EDS (config_dump?include_eds); a static cluster's endpoints come"
    if data.dump is not None and predates_include_eds(data.dump):
        how = "this Envoy (older than 1.15) cannot put EDS in its config dump; they come"
    return MissingSection(
        exc.message,
        hint=f"{how} from /clusters: {how_to} (a saved GET /clusters?format=json)",
    )


def explain_empty(data: ProxyData, result: ViewResult, flt: EndpointFilter) -> ViewResult:
    """An empty endpoint table says why: no EDS in the dump, and where static ones are."""
    table = result.table
    if not flt.empty or not isinstance(table, Table) or table.rows:
        return result
    if data.dump is None or data.health is not None:
        return result
    # A dump without its endpoints section got here only when the proxy has no cluster
    # (else :func:`_need_eds` / the endpoints view refused it: not captured).
    note = "No endpoints found: the proxy has no clusters."
    if data.dump.has("endpoints"):
        note = (
            "No endpoints found: no cluster of this dump gets endpoints from EDS. A static "
            "cluster's endpoints come from /clusters: pass the admin URL (pdebug endpoints "
            "localhost:15000) or --clusters-json FILE (a saved GET /clusters?format=json)."
        )
    return msgspec.structs.replace(result, note=note)


def whole(
    module: str,
    fetch: Callable[[bool], Fetch],
    proxy: ProxyOptions,
    output: str,
    keys: str | None = None,
) -> int:
    """A view with no filter of its own: ``pdebug.views.MODULE.view(dump, wide)``.

    ``fetch(wide)``: what the view reads (one of :class:`~pdebug.proxy.Fetch`'s
    constructors), ``wide`` when ``-o wide``.
    """
    import importlib

    v = importlib.import_module(f"pdebug.views.{module}")

    def build(d: ProxyData, f: Format) -> ViewResult:
        result: ViewResult = v.view(d, f.wide)
        if f.structured and getattr(v, "NOTES_OF_THE_TABLE", False):
            result.note = None  # json/yaml print the whole section: nothing left out
        return result

    # what -o wide reads more (secrets: the listeners' and clusters' inline certificates)
    # is the view's Fetch's to say
    from pdebug.model.sections import SECTION_MEMBERS

    members = (module,) if module in SECTION_MEMBERS else None  # bootstrap, secrets, ecds
    return run_view(
        proxy, output, fetch(output.lower() == "wide"), build, keys=keys, members=members
    )


def all_(
    proxy: ProxyOptions,
    address: str | None = None,
    port: int | None = None,
    fqdn: str | None = None,
    with_headers: bool = False,
    output: str = "table",
    *,
    direction: str | None = None,
    subset: str | None = None,
    type: str | None = None,  # noqa: A002 - istioctl's flag name
    name: str | None = None,
    verbose: bool = True,
    keys: str | None = None,
) -> int:
    """``pdebug all``."""
    from pdebug.views import all as v
    from pdebug.views.clusters import ClusterFilter
    from pdebug.views.endpoints import EndpointFilter
    from pdebug.views.listeners import ListenerFilter
    from pdebug.views.routes import RouteFilter

    cf = ClusterFilter(fqdn=fqdn, port=port, subset=subset, direction=direction)
    lf = ListenerFilter(address=address, port=port, type=type)
    ef = EndpointFilter(address=address, port=port)
    rf = RouteFilter(name=name)
    return run_view(
        proxy,
        output,
        Fetch.everything(),
        lambda d, f: v.view(
            d,
            cf,
            lf,
            ef,
            f.wide,
            with_headers,
            f.structured,
            rf,
            verbose,
            rendered=f.name in ("table", "wide"),
        ),
        keys=keys,
    )


def check(
    proxy: ProxyOptions,
    fail_on: str = "warning",
    ignore: list[str] | None = None,
    cert_days: float = 7.0,
    output: str = "table",
    clusters_json: str | None = None,
) -> int:
    """``pdebug check``: exit 0 when clean, 1 when a finding reaches ``fail_on``."""
    from pdebug.checks import BY_CODE, CheckOptions, parse_codes, parse_fail_on
    from pdebug.checks.base import BundleChecks
    from pdebug.errors import ExitCode
    from pdebug.examine import check_source
    from pdebug.views import check as v

    fmt = get_format(output)
    threshold = parse_fail_on(fail_on)
    known: list[str] = []
    if ignore:  # which kind of dump it is is known only later
        from pdebug.checks import ztunnel as zchecks

        known = [*BY_CODE, *zchecks.BY_CODE]
    options = CheckOptions(cert_days=cert_days, ignore=parse_codes(ignore or [], known))
    result = check_source(proxy.words, proxy.live, options, clusters_json)
    if isinstance(result, BundleChecks):
        view = v.bundle_view(result.checks, result.path, threshold)
    else:
        view = v.view(result, fmt.wide, threshold)
    sys.stdout.write(fmt.render(view))
    error = result.error()  # after the table: one damaged proxy never hides the others
    if error is not None:
        raise error
    return ExitCode.FINDINGS if result.fails(threshold) else ExitCode.OK


def report(
    proxy: ProxyOptions,
    output: str = "",
    title: str | None = None,
    clusters_json: str | None = None,
    ignore: list[str] | None = None,
    cert_days: float = 7.0,
    keep: Callable[..., None] | None = None,
) -> int:
    """``pdebug report``: write the page of the proxy (or bundle) to ``output``.

    ``keep`` (``pdebug.cli.linger``) is handed the decoded dump, the document and the
    page, so that they are not freed one by one on return, only to end the process.
    """
    import dataclasses

    from pdebug.checks import CheckOptions, parse_codes
    from pdebug.errors import ExitCode, InvalidInput, UsageError
    from pdebug.inputs import read_proxies
    from pdebug.report import (
        ReportMeta,
        check_output,
        render_page_parts,
        report_data,
        write_report,
    )
    from pdebug.report.ambient import ambient_capture

    if not output:
        raise UsageError("missing -o FILE", hint="e.g. pdebug report dump.json -o report.html")
    from pdebug.cli.habits import file_output

    file_output("report", output)
    check_output(output)
    options = CheckOptions(cert_days=cert_days, ignore=parse_codes(ignore or []))
    inputs = read_proxies(proxy.words, proxy.live, clusters_json)
    meta = ReportMeta(
        inputs.named,
        title,
        capture=inputs.capture,
        proxies=inputs.info,
        ambient=ambient_capture(inputs),
    )
    from pdebug.views.wide import table_builders  # the one place views join the page

    meta = dataclasses.replace(meta, options=options, table_builders=table_builders, keep=keep)
    doc = report_data(inputs.proxies, meta)
    page = render_page_parts(doc)
    write_report(output, page)
    from pdebug.parallel import reap

    reap()  # the report's worker, left to end while the page was made (#17)
    if keep is not None:
        keep(inputs, doc, page)  # not freed one by one on return, only to end the process
    n = len(inputs.proxies)
    if output != "-":
        print(f"wrote {output} ({n} prox{'y' if n == 1 else 'ies'})", file=sys.stderr)
    from pdebug.model.sections import printable

    for p in doc["proxies"]:  # what the page says it did not read, said here too
        for what in p["summary"]["unread"]:
            who = printable(str(p["name"]))
            print(f"note: {who}: {what} is not read by pdebug", file=sys.stderr)
    unreadable = [(i.name, i.unreadable) for i in inputs.info.values() if i.unreadable]
    if unreadable:
        name, why = unreadable[0]
        more = f" and {len(unreadable) - 1} more" if len(unreadable) > 1 else ""
        raise InvalidInput(
            f"{inputs.named}: cannot read the documents of {name} ({why}){more}; "
            "the report shows the other proxies"
        )
    if any(p["checks"]["inconclusive"] for p in doc["proxies"]):
        raise InvalidInput("some checks could not read the input")
    return ExitCode.OK


__all__ = ["ProxyOptions", "report", "run_view"]
