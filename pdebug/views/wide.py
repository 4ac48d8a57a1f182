"""The ``-o wide`` tables of one proxy as plain data, for a page that embeds them.

``pdebug report`` shows the clusters, listeners, routes, endpoints and secrets tables as
``pdebug VIEW -o wide`` prints them. The report does not import the views: its caller
(``cli/report.py``) hands :func:`wide_tables` in as ``ReportMeta.tables``, so the views
are joined into the page in that one place and the report stays over the model and the
checks.

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
    from pdebug.views import clusters, endpoints, listeners, routes, secrets

    return [
        plain_table(
            "clusters", "Clusters", lambda: clusters.view(proxy, clusters.ClusterFilter(), True)
        ),
        plain_table(
            "listeners",
            "Listeners",
            lambda: listeners.view(proxy, listeners.ListenerFilter(), True),
        ),
        plain_table("routes", "Routes", lambda: routes.view(proxy, routes.RouteFilter(), True)),
        plain_table(
            "endpoints",
            "Endpoints",
            lambda: endpoints.endpoints_view(proxy, endpoints.EndpointFilter(), True),
        ),
        plain_table("secrets", "Secrets", lambda: secrets.view(proxy, True, now=now)),
    ]
