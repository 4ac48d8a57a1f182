"""``pdebug report``: one self-contained HTML file about a proxy, or every proxy of a bundle.

:func:`build_report` is pure: proxies and :class:`ReportMeta` in, HTML text out. The
page is static markup plus two scripts: the data (plain JSON in a
``<script type="application/json">`` block, ``<``, ``>`` and ``&`` escaped so no name
from a dump can end the block) and the renderer from :mod:`pdebug.report.assets`, which
builds everything with DOM APIs and ``textContent``. A Content-Security-Policy allows
that one script (by hash) and no network at all. Before the scripts, an escaped
server-rendered copy of the summary and findings serves viewers that strip scripts; the
renderer removes it. This module builds the document (:func:`report_data`);
:mod:`pdebug.report.static` renders the page around it (:func:`render_page`).

What a proxy gets: a summary (versions, node, counts, endpoint health, sync state), the
``check`` findings, the ``-o wide`` tables of the views (secrets as certificate metadata
only: never key material, never the raw dump) and the topology of
:mod:`pdebug.report.topology`.

The report reads the model and the checks, never the views: the tables come in from
:attr:`ReportMeta.tables` or :attr:`ReportMeta.table_builders` (``cli/report.py`` passes
``views/wide.py`` ``table_builders``, the one place views are joined into the page).
"""

from __future__ import annotations

import dataclasses
import os
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pdebug import __version__
from pdebug.checks import CheckOptions, CheckReport, Severity, facts_tasks, run_checks
from pdebug.checks.context import Context
from pdebug.errors import PdebugError
from pdebug.inputs import ProxyInfo
from pdebug.model import ProxyData
from pdebug.model.bootstrap import summary_rows
from pdebug.model.routes import listed as listed_route_configs
from pdebug.model.secrets import items as secret_items
from pdebug.report.static import (
    EncodedRows,
    check_output,
    embed_json,
    render_page,
    render_page_bytes,
    render_page_parts,
    write_report,
)
from pdebug.report.topology import BAD, OK, WARN, Graph, Layout, build_graph, level_status
from pdebug.report.worker import ENDPOINT_COLUMNS as _ENDPOINT_COLUMNS
from pdebug.report.worker import received, sent

if TYPE_CHECKING:
    from pdebug.report.ambient import AmbientCapture

__all__ = [
    "ProxyInfo",
    "ReportMeta",
    "build_report",
    "check_output",
    "embed_json",
    "render_page",
    "render_page_bytes",
    "render_page_parts",
    "report_data",
    "write_report",
]


@dataclass(frozen=True)
class ReportMeta:
    """Everything about a report that is not a proxy's data.

    Attributes:
        source: What the user named (a file, a bundle, a pod...).
        title: A title for the page (e.g. an incident number); None for a default.
        generated: When the report was made (also the time certificates are judged at).
        capture: What a bundle's manifest says about the capture (``created``, ``tool``,
            ``source``, and ``istiod``: the replicas that did not answer, in words).
        proxies: Per-proxy capture facts, keyed by :attr:`ProxyData.source`.
        options: Options for the checks.
        ambient: The ztunnels of a ``snapshot --ambient`` bundle: the page's ambient
            workloads section (None: no such section).
        tables: Each proxy's ``-o wide`` tables as plain data, judged at a time
            (``views/wide.py`` ``wide_tables``); None: the page has no tables. The
            report never imports the views: its caller joins them in here.
        table_builders: The same tables one builder each, with its estimated CPU
            seconds (``pdebug report`` passes ``views/wide.py`` ``table_builders``):
            used instead of ``tables`` when set. On a big dump they are built in
            forked workers while the report draws the topology (the same page).
        keep: Handed each proxy's working state (the checks' context, report and the
            topology) once its part of the page is made, so that it is not freed object
            by object then (``pdebug report`` passes ``pdebug.cli.linger``: the process
            ends without freeing it; 0.025 s on the 5k-service dump). None: freed.
    """

    source: str
    title: str | None = None
    generated: datetime = field(default_factory=lambda: datetime.now(UTC))
    capture: Mapping[str, str] = field(default_factory=dict)
    proxies: Mapping[str, ProxyInfo] = field(default_factory=dict)
    options: CheckOptions = CheckOptions()
    ambient: AmbientCapture | None = None
    tables: Callable[[ProxyData, datetime], list[dict[str, Any]]] | None = None
    table_builders: (
        Callable[[ProxyData, datetime], list[tuple[float, Callable[[], dict[str, Any]]]]] | None
    ) = None
    keep: Callable[..., None] | None = None


def _stamp(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- findings -------------------------------------------------------------------------


def _findings(report: CheckReport) -> dict[str, Any]:
    return {
        "id": "findings",
        "title": "Findings",
        "columns": ["CODE", "SEVERITY", "RESOURCE", "MESSAGE", "HINT"],
        "rows": [[f.code, f.severity.name, f.resource, f.message, f.hint] for f in report.findings],
        "note": report.findings_note(),
    }


# --- summary --------------------------------------------------------------------------


def _versions(proxy: ProxyData) -> list[list[str]]:
    try:
        pairs = summary_rows(proxy, wide=True)
    except PdebugError:
        pairs = []
    rows = [[label.rstrip(":"), value or "unknown"] for label, value in pairs]
    have = {label for label, _ in rows}
    for label in ("Istio Version", "Envoy Version", "Node ID"):
        if label not in have:
            rows.append([label, "unknown"])
    return rows


def _health_source(proxy: ProxyData) -> str:
    if proxy.health is not None:
        return "/clusters?format=json (Envoy's live view)"
    if proxy.dump is not None and proxy.dump.has("endpoints"):
        return "EDS in the dump (add --clusters-json for outlier ejections and health checks)"
    return "not captured (a dump with include_eds, or --clusters-json)"


def _summary(
    proxy: ProxyData,
    ctx: Context,
    report: CheckReport,
    info: ProxyInfo,
    routes: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """``routes``: :func:`_route_counts`, made by a worker; None: counted here."""

    def count(kind: str, size: Callable[[], int]) -> str:
        """``-`` when the input lacks ``kind``, ``?`` when its section is damaged."""
        if not ctx.has(kind) and not (kind == "endpoints" and ctx.has("health")):
            return "-"
        try:
            return str(size())
        except PdebugError:
            return "?"

    try:
        levels: Counter[str] = Counter()
        for hs in ctx.hosts.values():
            levels.update(hs.levels)
        # how many endpoints of each status (level_status once per distinct level)
        statuses: Counter[str] = Counter()
        for level, n in levels.items():
            statuses[level_status(level)] += n
        warming = sum(1 for c in ctx.clusters.values() if c.state == "WARMING")
    except PdebugError:
        statuses, warming = Counter(), 0
    try:  # listeners received but not serving: still warming, or refused by Envoy
        warming_l = sum(1 for lc in ctx.listeners if lc.first and lc.state == "WARMING")
        rejected_l = len(ctx.listener_facts.rejections) if ctx.has("listeners") else 0
    except PdebugError:
        warming_l, rejected_l = 0, 0
    n_err, n_warn, n_info = (
        report.count(Severity.ERROR),
        report.count(Severity.WARNING),
        report.count(Severity.INFO),
    )
    n_bad, n_degraded = statuses[BAD], statuses[WARN]
    counts = [
        ["Clusters", count("clusters", lambda: len(ctx.clusters)), WARN if warming else ""],
        [
            "Listeners",
            # one per listener (a name-less static one too), whatever its states
            count("listeners", lambda: sum(1 for lc in ctx.listeners if lc.first)),
            WARN if warming_l or rejected_l else "",
        ],
        ["Route configs", count("routes", lambda: (routes or _route_counts(ctx))[0]), ""],
        ["Virtual hosts", count("routes", lambda: (routes or _route_counts(ctx))[1]), ""],
        ["Endpoints", count("endpoints", lambda: statuses.total()), ""],
        ["Healthy", count("endpoints", lambda: statuses[OK]), OK if statuses else ""],
        ["Draining / degraded", count("endpoints", lambda: n_degraded), WARN if n_degraded else ""],
        ["Unhealthy", count("endpoints", lambda: n_bad), BAD if n_bad else ""],
        ["Secrets", count("secrets", lambda: len(secret_items(proxy))), ""],
        ["Errors", str(n_err), BAD if n_err else OK],
        ["Warnings", str(n_warn), WARN if n_warn else OK],
        ["Info", str(n_info), ""],
    ]
    if proxy.dump is None and proxy.health is None:  # nothing was checked: no counts
        counts[-3:] = [["Errors", "-", ""], ["Warnings", "-", ""], ["Info", "-", ""]]
    rows = [["Source", proxy.source], *_versions(proxy)]
    rows.append(["Sync state", info.sync or "unknown"])
    rows.append(["Endpoint health from", _health_source(proxy)])
    if warming:
        rows.append(["Warming clusters", str(warming)])
    if warming_l:
        rows.append(["Warming listeners", str(warming_l)])
    nameless = 0 if ctx.eds_from_child else _unattributed_endpoints(proxy)
    if nameless:
        rows.append(
            [
                "Endpoints without a known cluster",
                f"{nameless} (EDS assignments without cluster_name; not counted above)",
            ]
        )
    if rejected_l:
        rows.append(["Rejected listener updates", str(rejected_l)])
    return {
        "rows": rows,
        "counts": counts,
        "errors": list(info.errors),
        "unreadable": info.unreadable,
    }


def _route_counts(ctx: Context) -> tuple[int, int]:
    """The route configs ``pdebug routes`` lists (each inline one) and their virtual hosts."""
    shown = listed_route_configs(ctx.dump) if ctx.has("routes") else []
    return len(shown), sum(len(rc.config.virtual_hosts) for rc in shown)


def _unattributed_endpoints(proxy: ProxyData) -> int:
    """Endpoints of the dump's EDS assignments no cluster could be given (Consul, OSM)."""
    dump = proxy.dump
    if proxy.health is not None or dump is None or not dump.has("endpoints"):
        return 0
    from pdebug.model.eds import attribute

    try:
        lost = attribute(dump).unattributed
        if not lost:
            return 0
        return sum(
            len(group.lb_endpoints)
            for key in ("dynamic_endpoint_configs", "static_endpoint_configs")
            for entry in dump.endpoint_entries(key).items
            if id(entry.endpoint_config) in lost
            for group in entry.endpoint_config.endpoints
        )
    except PdebugError:
        return 0


def _checks(report: CheckReport) -> dict[str, Any]:
    top = report.findings[0] if report.findings else None
    return {
        "run": report.run,
        "error": report.count(Severity.ERROR),
        "warning": report.count(Severity.WARNING),
        "info": report.count(Severity.INFO),
        "top": f"{top.code} {top.resource}: {top.message}" if top is not None else "",
        "skipped": [[s.code, s.name, s.reason] for s in report.skipped],
        "ignored": list(report.ignored),
        "inconclusive": report.inconclusive,
        "unchecked": None,
    }


# --- the document ---------------------------------------------------------------------


def proxy_data(proxy: ProxyData, meta: ReportMeta) -> dict[str, Any]:
    """Everything the page shows about one proxy, as plain data."""
    options = meta.options
    if options.now is None:
        options = dataclasses.replace(options, now=meta.generated)
    info = meta.proxies.get(proxy.source, ProxyInfo())
    captured = proxy.dump is not None or proxy.health is not None
    # A proxy whose capture failed has nothing to check (checks would say "needs a dump").
    # One context for the checks, the summary and the topology: each index is built once.
    ctx = Context(proxy, options)

    def check() -> CheckReport:
        return run_checks(proxy, options, ctx) if captured else CheckReport(proxy.source)

    layout: Layout | None = None
    if meta.table_builders is not None:
        report, tables, summary, graph, layout = _in_parallel(proxy, meta, ctx, info, check)
    else:
        report = check()
        tables = meta.tables(proxy, meta.generated) if meta.tables is not None else []
        summary = _summary(proxy, ctx, report, info)
        graph = build_graph(ctx, report.findings)
    checks = _checks(report)
    rows = _endpoint_rows(tables)
    index = rows.row_index if isinstance(rows, EncodedRows) else None  # made by the worker
    from pdebug.model.sections import unread_lines

    # neither in the tables nor checked: said in the summary (the page escapes it)
    unread = unread_lines(report.unread, report.unread_members)
    summary["unread"] = unread
    if unread:
        summary["rows"].append(["Not read by pdebug", "; ".join(unread)])
    if not captured:
        # Not 0 errors: unknown. Say why instead (the capture failed, or the saved
        # documents are damaged).
        if info.unreadable is not None:
            why = f"unreadable: {info.unreadable}"
        else:
            why = "not captured: " + ("; ".join(info.errors) or "no documents")
        checks.update(error=None, warning=None, info=None, top=why, unchecked=why)
    out = {
        "name": info.name or proxy.source,
        "source": proxy.source,
        "summary": summary,
        "checks": checks,
        "findings": _findings(report),
        "tables": tables,
        # each endpoint carried once: its node refers to its endpoints table row
        "graph": graph.plain(rows, layout, index),
    }
    if meta.keep is not None:
        meta.keep(ctx, report, graph)
    return out


#: Estimated CPU seconds per byte of the sections drawn (5k-service bench dump,
#: 2026-12): of the checks, which decode every section (each alone in a forked
#: process, median of 5: 0.86 s); of the summary and the topology, once the checks
#: have built their indexes, with the topology's layout for the page (perfreport5:
#: 1.7e-9 before the layout moved here). With ``views/wide._COST`` they put every
#: table in the worker on two CPUs (perfreport4: the parent's checks and topology were
#: the longer side by ~0.5 s of CPU once the worker's second clusters decode was gone;
#: perfreport5: still by ~0.05 s, so the secrets table goes to the worker too).
_CHECKS_COST = 5.3e-9
_TOPOLOGY_COST = 1.8e-9
_DRAWN = ("listeners", "routes", "clusters", "endpoints")


def _in_parallel(
    proxy: ProxyData,
    meta: ReportMeta,
    ctx: Context,
    info: ProxyInfo,
    check: Callable[[], CheckReport],
) -> tuple[CheckReport, list[dict[str, Any]], dict[str, Any], Graph, Layout]:
    """The checks, the tables of :attr:`ReportMeta.table_builders`, summary and topology.

    The tables are independent of the checks and of the topology: on a big dump
    (:func:`pdebug.parallel.fork_map`) some are built in a forked worker, which decodes
    the sections they read and sends their plain data back, while this process runs the
    checks, builds the tables the grouping leaves it, draws the topology (it needs the
    checks' findings and indexes) and lays it out (:meth:`Graph.layout`; then
    :meth:`Graph.plain` once the endpoints table came). The same values, and output in
    the same order, as one after another here. Or one worker (:mod:`pdebug.report.worker`).
    """
    from pdebug.parallel import fork_map, spawn

    assert meta.table_builders is not None
    builders = meta.table_builders(proxy, meta.generated)
    dump = proxy.dump
    drawn = sum(dump.section_bytes(kind) for kind in _DRAWN) if dump is not None else 0
    made: list[CheckReport] = []
    drew: list[tuple[Graph, Layout]] = []  # the topology's, laid out in the last wait

    def checks() -> CheckReport:
        made.append(check())  # for the topology
        return made[0]

    def topology(drawn: Any = None) -> tuple[dict[str, Any], Graph, Layout]:
        report = made[0]  # drawn: topology.drawn_routes's, made by a worker; None: here
        summary = _summary(proxy, ctx, report, info, drawn and drawn[:2])
        graph = build_graph(ctx, report.findings, drawn and drawn[2])
        layout = graph.layout()
        from pdebug.report.static import warm

        warm()  # the page's files, read while the worker works (not after the join)
        drew.append((graph, layout))
        return summary, graph, layout

    here = os.getpid()
    tasks: list[Callable[[], Any]] = [
        checks,
        *(sent(build, here) for _cost, build in builders),
        topology,
    ]
    weights = [
        drawn * _CHECKS_COST,
        *(cost for cost, _build in builders),
        drawn * _TOPOLOGY_COST,
    ]
    facts = facts_tasks(proxy, ctx.options, False)  # not searched: with_facts searches
    if facts is not None:
        from pdebug.report.topology import drawn_routes
        from pdebug.report.worker import kept_here, laid_out, with_facts, worker_order

        own = kept_here(builders, drawn)
        worker = [sent(builders[i][1], here) for i in worker_order(builders, own)]
        child = spawn([*facts, lambda: drawn_routes(ctx.dump), *worker], sum(weights))
        if child is not None:
            return with_facts(child, ctx, checks, topology, builders, own, laid_out(drew))
    _, *got, (summary, graph, layout) = fork_map(tasks, weights, here=(0, len(tasks) - 1))
    return made[0], list(map(received, got)), summary, graph, layout


def _endpoint_rows(tables: list[dict[str, Any]]) -> Sequence[Sequence[Any]] | None:
    """The rows of the page's endpoints table (id ``endpoints``); None: no such table."""
    for t in tables:
        if t["id"] == "endpoints" and t["columns"][:4] == _ENDPOINT_COLUMNS:
            return t["rows"]  # type: ignore[no-any-return]
    return None


def _overview(docs: list[dict[str, Any]]) -> dict[str, Any]:
    rows = []
    for d in docs:
        counts = {label: value for label, value, _ in d["summary"]["counts"]}
        sync = next((v for k, v in d["summary"]["rows"] if k == "Sync state"), "unknown")
        c = d["checks"]
        rows.append(
            [
                d["name"],
                *("-" if c[k] is None else str(c[k]) for k in ("error", "warning", "info")),
                counts["Endpoints"],
                counts["Unhealthy"],
                sync,
                c["top"] or "-",
            ]
        )
    return {
        "id": "overview",
        "title": "Proxies",
        "columns": [
            "PROXY",
            "ERRORS",
            "WARNINGS",
            "INFO",
            "ENDPOINTS",
            "UNHEALTHY",
            "SYNC",
            "TOP FINDING",
        ],
        "rows": rows,
        "note": None,
    }


def report_data(proxies: list[ProxyData], meta: ReportMeta) -> dict[str, Any]:
    """The report as plain data: what the page embeds (and what tests can read)."""
    docs = [proxy_data(p, meta) for p in proxies]
    doc = {
        "format": "pdebug-report/2",  # 2: endpoint nodes refer to the endpoints table
        "title": meta.title,
        "source": meta.source,
        "generated": _stamp(meta.generated),
        "tool": f"pdebug {__version__}",
        "capture": dict(meta.capture),
        "overview": _overview(docs),
        "proxies": docs,
    }
    if meta.ambient is not None:
        doc["ambient"] = _ambient(meta.ambient, meta)
    return doc


def _ambient(capture: AmbientCapture, meta: ReportMeta) -> dict[str, Any]:
    """The ambient workloads section (certificates judged at the report's time)."""
    from pdebug.report.ambient import ambient_table

    options = meta.options
    if options.now is None:
        options = dataclasses.replace(options, now=meta.generated)
    return ambient_table(capture, options)


def build_report(proxies: list[ProxyData], meta: ReportMeta) -> str:
    """The whole HTML page for ``proxies``.

    Args:
        proxies: One or more proxies (a dump, a bundle's proxies...).
        meta: The source, title, time, capture facts and check options.

    Returns:
        One self-contained HTML document: no network, no external resource.
    """
    return render_page(report_data(proxies, meta))
