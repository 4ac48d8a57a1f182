"""``pdebug waypoints``: istioctl's ``waypoint list`` table, and what each waypoint serves."""

from __future__ import annotations

from dataclasses import asdict

from pdebug.model.waypoints import Waypoint
from pdebug.views.result import ViewResult
from pdebug.views.table import Column, Table


def _count(items: list[str]) -> str:
    if not items:
        return "-"
    shown = ",".join(items[:3])
    return shown + (f",+{len(items) - 3}" if len(items) > 3 else "")


def view(waypoints: list[Waypoint], all_namespaces: bool, any_gateway: bool) -> ViewResult:
    """NAME REVISION TRAFFIC TYPE PROGRAMMED (NAMESPACE first with -A), padding 5.

    Wide adds the Programmed reason and the services and workloads bound to each waypoint
    by their ``istio.io/use-waypoint`` labels (or their namespace's).
    """
    columns = [
        Column("NAME"),
        Column("REVISION"),
        Column("TRAFFIC TYPE"),
        Column("PROGRAMMED"),
        Column("REASON", wide=True),
        Column("SERVICES", wide=True),
        Column("WORKLOADS", wide=True),
    ]
    if all_namespaces:
        columns.insert(0, Column("NAMESPACE"))
    rows = []
    for w in waypoints:
        row = [
            w.name,
            w.revision,
            w.traffic_type,
            w.programmed,
            w.reason or "-",
            _count(w.services),
            _count(w.workloads),
        ]
        rows.append(tuple([w.namespace, *row] if all_namespaces else row))
    # istioctl: "No waypoints found." only when there is no Gateway at all; a namespace with
    # Gateways but no waypoint gets the header alone.
    table = Table(
        tuple(columns),
        rows,
        padding=5,
        empty_message="No waypoints found.",
        header_when_empty=any_gateway,
    )
    return ViewResult(table, lambda: [asdict(w) for w in waypoints])
