"""istioctl ``ztunnel-config`` tables over a ztunnel dump, cell for cell.

The rules are istioctl's, as the research note ``ztunnel.md`` (§2) describes them:
tabwriter padding 1 (5 for certificates), workloads sorted by the string
``namespace.name`` then node, services by (namespace, name, hostname), policies by
(namespace, name), certificates and connections as ztunnel lists them. ``-o wide`` adds
what istioctl leaves out (status, identity, canonical labels, dry-run...).

One module over 500 lines because it is one command's tables: the five views of
``ztunnel-config`` share the dump's lookups (waypoints, workloads by UID, addresses)
and istioctl's padding and sort rules; the dump itself is :mod:`pdebug.model.ztunnel`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pdebug.model.ztunnel import (
    Obj,
    ZtunnelDump,
    as_list,
    as_obj,
    cell,
    cert_rows,
    endpoint_counts,
    split_host_port,
    vip_address,
    waypoint_index,
    waypoint_name,
    workloads_by_address,
    workloads_by_uid,
)
from pdebug.views.result import ViewResult
from pdebug.views.table import Column, Stack, Table


def _eq_fold(a: Any, b: str) -> bool:
    return isinstance(a, str) and a.casefold() == b.casefold()


def _in_namespace(objs: Iterable[Obj], namespace: str | None) -> list[Obj]:
    """The objects of ``namespace`` (compared case-insensitively; every one when None)."""
    return [o for o in objs if not namespace or _eq_fold(o.get("namespace"), namespace)]


# --- shared rules -----------------------------------------------------------------------


def _workload_address(w: Obj) -> str:
    ips = [cell(ip) for ip in as_list(w.get("workloadIps"))]
    return ",".join(ips) if ips else cell(w.get("hostname"))


# --- workloads --------------------------------------------------------------------------


@dataclass(frozen=True)
class WorkloadFilter:
    """istioctl's workload filters (all compared case-insensitively)."""

    namespace: str | None = None
    address: str | None = None
    node: str | None = None
    name: str | None = None

    def keep(self, w: Obj) -> bool:
        """Whether workload ``w`` passes every filter that is set."""
        if self.namespace and not _eq_fold(w.get("namespace"), self.namespace):
            return False
        if self.name and not _eq_fold(w.get("name"), self.name):
            return False
        if self.node and not _eq_fold(w.get("node"), self.node):
            return False
        if self.address:
            return any(_eq_fold(ip, self.address) for ip in as_list(w.get("workloadIps")))
        return True


WORKLOAD_COLUMNS = (
    Column("NAMESPACE"),
    Column("POD NAME"),
    Column("ADDRESS"),
    Column("NODE"),
    Column("WAYPOINT"),
    Column("PROTOCOL"),
    Column("STATUS", wide=True),
    Column("SERVICE ACCOUNT", wide=True),
    Column("TRUST DOMAIN", wide=True),
    Column("CANONICAL NAME", wide=True),
    Column("CANONICAL REVISION", wide=True),
    Column("NETWORK", wide=True),
    Column("CLUSTER", wide=True),
)


def _workload_key(w: Obj) -> tuple[str, str]:
    return f"{cell(w.get('namespace'))}.{cell(w.get('name'))}", cell(w.get("node"))


def select_workloads(dump: ZtunnelDump, flt: WorkloadFilter) -> list[Obj]:
    """The workloads that pass ``flt``, in dump order."""
    return [w for w in dump.workloads if flt.keep(w)]


_WIDE_WORKLOAD = (
    "status",
    "serviceAccount",
    "trustDomain",
    "canonicalName",
    "canonicalRevision",
    "network",
    "clusterId",
)


def workload_table(
    dump: ZtunnelDump, flt: WorkloadFilter = WorkloadFilter(), wide: bool = True
) -> Table:
    """``ztunnel-config workload`` (the wide columns only when ``wide``)."""
    rows: list[tuple[str, ...]] = []
    waypoints = waypoint_index(dump.services)
    for w in sorted(select_workloads(dump, flt), key=_workload_key):
        row: tuple[str, ...] = (
            cell(w.get("namespace")),
            cell(w.get("name")),
            _workload_address(w),
            cell(w.get("node")),
            waypoint_name(w.get("waypoint"), waypoints),
            cell(w.get("protocol")),
        )
        if wide:
            row += tuple(cell(w.get(k)) for k in _WIDE_WORKLOAD)
        rows.append(row)
    columns = WORKLOAD_COLUMNS if wide else WORKLOAD_COLUMNS[:6]
    return Table(columns, rows, padding=1, header_when_empty=True)


# --- services ---------------------------------------------------------------------------

SERVICE_COLUMNS = (
    Column("NAMESPACE"),
    Column("SERVICE NAME"),
    Column("SERVICE VIP"),
    Column("WAYPOINT"),
    Column("ENDPOINTS"),
    Column("HOSTNAME", wide=True),
    Column("PORTS", wide=True),
)


def _service_key(svc: Obj) -> tuple[str, str, str]:
    return cell(svc.get("namespace")), cell(svc.get("name")), cell(svc.get("hostname"))


def select_services(dump: ZtunnelDump, namespace: str | None) -> list[Obj]:
    """Services of ``namespace`` (any when None), sorted as istioctl sorts them."""
    return sorted(_in_namespace(dump.services, namespace), key=_service_key)


def service_table(dump: ZtunnelDump, namespace: str | None = None) -> Table:
    """``ztunnel-config service``."""
    by_uid, by_address = workloads_by_uid(dump), workloads_by_address(dump)
    waypoints = waypoint_index(dump.services)
    rows: list[tuple[str, ...]] = []
    for svc in select_services(dump, namespace):
        healthy, total = endpoint_counts(svc, by_uid, by_address)
        ports = ",".join(f"{k}->{cell(v)}" for k, v in as_obj(svc.get("ports")).items())
        rows.append(
            (
                cell(svc.get("namespace")),
                cell(svc.get("name")),
                ",".join(vip_address(v) for v in as_list(svc.get("vips"))),
                waypoint_name(svc.get("waypoint"), waypoints),
                f"{healthy}/{total}",
                cell(svc.get("hostname")),
                ports,
            )
        )
    return Table(SERVICE_COLUMNS, rows, padding=1, header_when_empty=True)


# --- policies ---------------------------------------------------------------------------

POLICY_COLUMNS = (
    Column("NAMESPACE"),
    Column("POLICY NAME"),
    Column("ACTION"),
    Column("SCOPE"),
    Column("RULES", wide=True),
    Column("DRY RUN", wide=True),
)


def select_policies(dump: ZtunnelDump, namespace: str | None) -> list[Obj]:
    """Policies of ``namespace`` (any when None), sorted by (namespace, name)."""
    picked = _in_namespace(dump.policies, namespace)
    return sorted(picked, key=lambda p: (cell(p.get("namespace")), cell(p.get("name"))))


def policy_table(dump: ZtunnelDump, namespace: str | None = None) -> Table:
    """``ztunnel-config policy``; wide shows the rule count and the dry-run flag."""
    rows: list[tuple[str, ...]] = [
        (
            cell(p.get("namespace")),
            cell(p.get("name")),
            cell(p.get("action")),
            cell(p.get("scope")),
            str(len(as_list(p.get("rules")))),
            "true" if p.get("dryRun") is True else "false",
        )
        for p in select_policies(dump, namespace)
    ]
    return Table(POLICY_COLUMNS, rows, padding=1, header_when_empty=True)


# --- certificates -----------------------------------------------------------------------

CERT_COLUMNS = (
    Column("CERTIFICATE NAME"),
    Column("TYPE"),
    Column("STATUS"),
    Column("VALID CERT"),
    Column("SERIAL NUMBER"),
    Column("NOT AFTER"),
    Column("NOT BEFORE"),
    Column("DAYS LEFT", wide=True),
)


def certificate_table(dump: ZtunnelDump, now: datetime | None = None) -> Table:
    """``ztunnel-config certificate`` (padding 5, as istioctl)."""
    now = now or datetime.now(UTC)
    rows: list[tuple[str, ...]] = []
    for r in cert_rows(dump, now):
        days = f"{(r.expires - now).total_seconds() / 86400:.1f}" if r.expires else "-"
        rows.append(
            (
                r.identity,
                r.kind,
                r.status,
                "true" if r.valid else "false",
                r.serial,
                r.not_after,
                r.not_before,
                days,
            )
        )
    return Table(CERT_COLUMNS, rows, padding=5, header_when_empty=True)


def bad_time_notes(dump: ZtunnelDump, now: datetime | None = None) -> list[str]:
    """The certificates whose times do not parse as RFC 3339 (VALID CERT false)."""
    now = now or datetime.now(UTC)
    return [
        f"{r.identity}: certificate time {r.not_before!r}/{r.not_after!r} is not RFC 3339"
        for r in cert_rows(dump, now)
        if r.bad_time
    ]


# --- connections ------------------------------------------------------------------------

CONNECTION_COLUMNS = (
    Column("WORKLOAD"),
    Column("DIRECTION"),
    Column("LOCAL"),
    Column("REMOTE"),
    Column("REMOTE TARGET"),
    Column("PROTOCOL"),
)


def address_names(dump: ZtunnelDump) -> Callable[[Any], str]:
    """Istioctl's lookup: a service VIP or workload IP ``ip:port`` as ``name:port``."""
    services: dict[str, str] = {}
    for svc in dump.services:
        vips = as_list(svc.get("vips"))
        key = vip_address(vips[0]) if vips else ""
        if key:
            services[key] = cell(svc.get("hostname"))
    workloads: dict[str, str] = {}
    for w in dump.workloads:
        ips = as_list(w.get("workloadIps"))
        if ips and cell(ips[0]):
            workloads[cell(ips[0])] = f"{cell(w.get('name'))}.{cell(w.get('namespace'))}"

    def lookup(addr: Any) -> str:
        text = cell(addr)
        parts = split_host_port(text)
        if parts is None or not parts[0]:
            return text
        host, port = parts
        name = services.get(host) or workloads.get(host)
        if name is None:
            return text
        return f"[{name}]:{port}" if ":" in name else f"{name}:{port}"

    return lookup


@dataclass(frozen=True)
class ConnectionFilter:
    """istioctl's connection filters: pod namespace (exact), pod name (any case)."""

    namespace: str | None = None
    name: str | None = None
    direction: str | None = None
    raw: bool = False

    def keep(self, info: Obj) -> bool:
        """Whether the captured pod ``info`` passes the filters."""
        if self.namespace and info.get("namespace") != self.namespace:
            return False
        return not self.name or _eq_fold(info.get("name"), self.name)


def select_states(dump: ZtunnelDump, flt: ConnectionFilter) -> list[Obj]:
    """The ``workloadState`` entries that pass ``flt``, sorted by (namespace, name)."""
    states = [s for s in dump.workload_state.values() if flt.keep(as_obj(s.get("info")))]

    def key(s: Obj) -> tuple[str, str]:
        info = as_obj(s.get("info"))
        return cell(info.get("namespace")), cell(info.get("name"))

    return sorted(states, key=key)


def connection_table(dump: ZtunnelDump, flt: ConnectionFilter = ConnectionFilter()) -> Table:
    """``ztunnel-config connections``."""
    lookup: Callable[[Any], str] = cell if flt.raw else address_names(dump)
    rows: list[tuple[str, ...]] = []
    for state in select_states(dump, flt):
        info = as_obj(state.get("info"))
        workload = f"{cell(info.get('name'))}.{cell(info.get('namespace'))}"
        conns = as_obj(state.get("connections"))
        if flt.direction != "outbound":
            for c in map(as_obj, as_list(conns.get("inbound"))):
                rows.append(
                    (
                        workload,
                        "Inbound",
                        lookup(c.get("actualDst")),
                        lookup(c.get("src")),
                        cell(c.get("originalDst")),
                        cell(c.get("protocol")),
                    )
                )
        if flt.direction != "inbound":
            for c in map(as_obj, as_list(conns.get("outbound"))):
                rows.append(
                    (
                        workload,
                        "Outbound",
                        lookup(c.get("src")),
                        lookup(c.get("actualDst")),
                        lookup(c.get("originalDst")),
                        cell(c.get("protocol")),
                    )
                )
    return Table(CONNECTION_COLUMNS, rows, padding=1, header_when_empty=True)


def _connection_items(items: Any) -> list[Obj] | None:
    if items is None:
        return None
    return [
        {
            "src": cell(c.get("src")),
            "originalDst": cell(c.get("originalDst")),
            "actualDst": cell(c.get("actualDst")),
            "protocol": cell(c.get("protocol")),
        }
        for c in map(as_obj, as_list(items))
    ]


def connection_objects(dump: ZtunnelDump, flt: ConnectionFilter) -> list[Obj]:
    """``connections -o json``: istioctl's shape, sorted like the table."""
    out = []
    for state in select_states(dump, flt):
        info = as_obj(state.get("info"))
        conns = as_obj(state.get("connections"))
        entry: Obj = {}
        if state.get("state"):
            entry["state"] = state["state"]
        entry["connections"] = {
            "inbound": _connection_items(conns.get("inbound")),
            "outbound": _connection_items(conns.get("outbound")),
        }
        entry["info"] = {
            "name": cell(info.get("name")),
            "namespace": cell(info.get("namespace")),
            "trustDomain": cell(info.get("trustDomain")),
            "serviceAccount": cell(info.get("serviceAccount")),
        }
        out.append(entry)
    return out


# --- view results -----------------------------------------------------------------------


def _result(table: Table, objects: Callable[[], Any], empty: str) -> ViewResult:
    note = empty if not table.rows else None
    return ViewResult(table, objects, note)


def workloads(dump: ZtunnelDump, flt: WorkloadFilter, wide: bool = True) -> ViewResult:
    """Workload table; json keeps the dump's objects (unknown fields too), in dump order."""
    return _result(
        workload_table(dump, flt, wide),
        lambda: select_workloads(dump, flt),
        "No workloads found." if flt == WorkloadFilter() else "No workload matches the filters.",
    )


def services(dump: ZtunnelDump, namespace: str | None) -> ViewResult:
    """Service table; json keeps the dump's objects, sorted like the table."""
    return _result(
        service_table(dump, namespace),
        lambda: select_services(dump, namespace),
        "No services found.",
    )


def policies(dump: ZtunnelDump, namespace: str | None) -> ViewResult:
    """Policy table; json keeps the dump's objects (``dryRun`` included)."""
    return _result(
        policy_table(dump, namespace),
        lambda: select_policies(dump, namespace),
        "No policies found.",
    )


def certificates(dump: ZtunnelDump, now: datetime | None = None) -> ViewResult:
    """Certificate table; json keeps the dump's objects in dump order."""
    return _result(
        certificate_table(dump, now),
        lambda: None if "certificates" not in dump.present else dump.certificates,
        "No certificates found.",
    )


def connections(dump: ZtunnelDump, flt: ConnectionFilter) -> ViewResult:
    """Connection table; json in istioctl's shape."""
    return _result(
        connection_table(dump, flt),
        lambda: connection_objects(dump, ConnectionFilter(flt.namespace, flt.name)),
        "No connections found.",
    )


ALL_TITLES = ("WORKLOAD INFO", "SERVICE INFO", "POLICY INFO", "SECRET INFO", "CONNECTIONS INFO")


def everything(dump: ZtunnelDump, with_headers: bool, now: datetime | None = None) -> ViewResult:
    """``all``: the five tables, unfiltered; json/yaml are the whole dump as it is."""
    tables: Iterable[Table] = (
        workload_table(dump),
        service_table(dump),
        policy_table(dump),
        certificate_table(dump, now),
        connection_table(dump),
    )
    stack = Stack(list(zip(ALL_TITLES, tables, strict=True)), with_titles=with_headers)

    def whole() -> Any:
        import orjson

        return orjson.loads(dump.raw)

    return ViewResult(stack, whole)
