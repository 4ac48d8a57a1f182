"""The ``-o wide`` tables of one proxy as plain data, for a page that embeds them.

``pdebug report`` shows the clusters, listeners, routes, endpoints and secrets tables as
``pdebug VIEW -o wide`` prints them. The report does not import the views: its caller
(``cli/report.py``) hands :func:`table_builders` in as ``ReportMeta.table_builders`` (or
:func:`wide_tables` as ``ReportMeta.tables``), so the views are joined into the page in
that one place and the report stays over the model and the checks.

Each table is ``{"id", "title", "columns", "rows", "note"}``; a view that cannot run on
the input (no such section, a damaged one) leaves its message as the note instead.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from pdebug.errors import PdebugError
from pdebug.model import ProxyData
from pdebug.views.result import ViewResult
from pdebug.views.table import Lines, Table


def plain_table(tid: str, title: str, build: Callable[[], ViewResult]) -> dict[str, Any]:
    """A view's wide table as plain data; a view that cannot run leaves a note instead."""
    out: dict[str, Any] = {"id": tid, "title": title, "columns": [], "rows": [], "note": None}
    try:
        result = build()
    except PdebugError as exc:
        out["note"] = exc.message
        return out
    table = result.table
    if isinstance(table, Table):
        headers, rows = table.visible(True)
        out["columns"] = headers
        out["rows"] = list(map(list, rows))
        out["note"] = result.note or (None if rows else table.empty_message)
    elif isinstance(table, Lines):
        out["note"] = table.text
    return out


def wide_tables(proxy: ProxyData, now: datetime) -> list[dict[str, Any]]:
    """Clusters, listeners, routes, endpoints and secrets (judged at ``now``), wide."""
    return [build() for _cost, build in table_builders(proxy, now)]


#: Estimated CPU seconds per byte of its section that each table takes to build, the
#: section's decoding and its modules' import included, each alone in a forked process
#: (5k-service bench dump, 2026-12, median of 5): how ``pdebug report`` spreads the
#: tables over the CPUs (:func:`table_builders`).
_COST = {
    "clusters": 7.3e-9,
    "listeners": 13.7e-9,
    "routes": 7.4e-9,
    # built after the clusters table, whose decode it reads (0.87 s the two, 0.55 s the
    # clusters alone); alone, with its own decode of the clusters, 11.7e-9
    "endpoints": 5.7e-9,
    "secrets": 2.5e-7,  # a few certificates, each parsed
}
#: The secrets table also reads the TLS sockets of every listener and cluster (for
#: inline certificates and certificate providers: a search of the clusters' bytes, and
#: of each cluster's transport_socket_matches): per byte of those two sections, once a
#: report's tables have decoded them (about 0.09 s on the 5k-service dump).
_SOCKETS_COST = 1.1e-9


def table_builders(
    proxy: ProxyData, now: datetime
) -> list[tuple[float, Callable[[], dict[str, Any]]]]:
    """:func:`wide_tables` one table at a time: ``(estimated CPU seconds, builder)`` each.

    What ``pdebug report`` hands in (``ReportMeta.table_builders``): the report builds
    them, on a big dump in forked workers (:mod:`pdebug.parallel`) while it draws the
    topology. Each builder returns the table as :func:`plain_table` makes it.
    """
    dump = proxy.dump

    def cost(kind: str) -> float:
        return 0.0 if dump is None else dump.section_bytes(kind) * _COST[kind]

    sockets = 0
    if dump is not None:
        sockets = dump.section_bytes("clusters") + dump.section_bytes("listeners")

    # Each builder imports its view: in ``pdebug report`` the worker does, after the fork,
    # not the parent before it (where it would be on the serial start of the run).
    def clusters_table() -> dict[str, Any]:
        from pdebug.views import clusters

        return plain_table(
            "clusters",
            "Clusters",
            # light: report's worker reads no other part of the clusters (#17)
            lambda: clusters.view(proxy, clusters.ClusterFilter(), True, light=True),
        )

    def listeners_table() -> dict[str, Any]:
        from pdebug.views import listeners

        return plain_table(
            "listeners",
            "Listeners",
            lambda: listeners.view(proxy, listeners.ListenerFilter(), True),
        )

    def routes_table() -> dict[str, Any]:
        from pdebug.views import routes

        return plain_table(
            "routes", "Routes", lambda: routes.view(proxy, routes.RouteFilter(), True)
        )

    def endpoints_table() -> dict[str, Any]:
        from pdebug.views import endpoints

        return plain_table(
            "endpoints",
            "Endpoints",
            lambda: endpoints.endpoints_view(proxy, endpoints.EndpointFilter(), True),
        )

    def secrets_table() -> dict[str, Any]:
        from pdebug.views import secrets

        return plain_table("secrets", "Secrets", lambda: secrets.view(proxy, True, now=now))

    return [
        (cost("clusters"), clusters_table),
        (cost("listeners"), listeners_table),
        (cost("routes"), routes_table),
        (cost("endpoints"), endpoints_table),
        (cost("secrets") + sockets * _SOCKETS_COST, secrets_table),
    ]
