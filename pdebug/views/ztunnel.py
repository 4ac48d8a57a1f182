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

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pdebug.model.ztunnel import ZtunnelDump
from pdebug.views.result import ViewResult
from pdebug.views.table import Column, Stack, Table

Obj = dict[str, Any]


def _s(value: Any) -> str:
    """A cell from a JSON value, as Go's ``%v`` prints the common cases."""
    if value.__class__ is str:
        return value
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    import orjson

    return orjson.dumps(value).decode()


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _obj(value: Any) -> Obj:
    return value if isinstance(value, dict) else {}


def _eq_fold(a: Any, b: str) -> bool:
    return isinstance(a, str) and a.casefold() == b.casefold()


# --- shared rules -----------------------------------------------------------------------


def waypoint_index(services: list[Obj]) -> dict[str, str]:
    """What a waypoint ``destination`` may name -> the service's name (first one wins).

    istioctl walks the services in dump order and takes the first whose
    ``namespace/hostname``, or one of whose ``vips`` (``network/ip``), equals the
    destination; this index answers the same in one lookup.
    """
    index: dict[str, str] = {}
    for svc in services:
        name = _s(svc.get("name"))
        index.setdefault(f"{_s(svc.get('namespace'))}/{_s(svc.get('hostname'))}", name)
        for vip in _list(svc.get("vips")):
            if isinstance(vip, str):
                index.setdefault(vip, name)
    return index


def waypoint_name(waypoint: Any, services: list[Obj] | dict[str, str]) -> str:
    """WAYPOINT: ``None`` without one, the first service it names, else ``NA``."""
    if waypoint is None:
        return "None"
    index = services if isinstance(services, dict) else waypoint_index(services)
    dest = _obj(waypoint).get("destination")
    return index.get(dest, "NA") if isinstance(dest, str) else "NA"


def _vip(entry: Any) -> str:
    text = _s(entry)
    return text.split("/", 1)[1] if "/" in text else ""


def _workload_address(w: Obj) -> str:
    ips = [_s(ip) for ip in _list(w.get("workloadIps"))]
    return ",".join(ips) if ips else _s(w.get("hostname"))


def endpoint_counts(svc: Obj, by_uid: dict[str, Obj]) -> tuple[int, int]:
    """(healthy, total): healthy when the endpoint's workload is ``Healthy`` (istioctl)."""
    endpoints = _obj(svc.get("endpoints"))
    healthy = 0
    for ep in endpoints.values():
        uid = _obj(ep).get("workloadUid")
        w = by_uid.get(uid) if isinstance(uid, str) else None
        if w is not None and w.get("status") == "Healthy":
            healthy += 1
    return healthy, len(endpoints)


def workloads_by_uid(dump: ZtunnelDump) -> dict[str, Obj]:
    """Workloads by ``uid``; on a duplicate the last one wins (as istioctl)."""
    return {w["uid"]: w for w in dump.workloads if isinstance(w.get("uid"), str)}


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
            return any(_eq_fold(ip, self.address) for ip in _list(w.get("workloadIps")))
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
    return f"{_s(w.get('namespace'))}.{_s(w.get('name'))}", _s(w.get("node"))


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
            _s(w.get("namespace")),
            _s(w.get("name")),
            _workload_address(w),
            _s(w.get("node")),
            waypoint_name(w.get("waypoint"), waypoints),
            _s(w.get("protocol")),
        )
        if wide:
            row += tuple(_s(w.get(k)) for k in _WIDE_WORKLOAD)
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
    return _s(svc.get("namespace")), _s(svc.get("name")), _s(svc.get("hostname"))


def select_services(dump: ZtunnelDump, namespace: str | None) -> list[Obj]:
    """Services of ``namespace`` (any when None), sorted as istioctl sorts them."""
    picked = [s for s in dump.services if not namespace or _eq_fold(s.get("namespace"), namespace)]
    return sorted(picked, key=_service_key)


def service_table(dump: ZtunnelDump, namespace: str | None = None) -> Table:
    """``ztunnel-config service``."""
    by_uid = workloads_by_uid(dump)
    waypoints = waypoint_index(dump.services)
    rows: list[tuple[str, ...]] = []
    for svc in select_services(dump, namespace):
        healthy, total = endpoint_counts(svc, by_uid)
        ports = ",".join(f"{k}->{_s(v)}" for k, v in _obj(svc.get("ports")).items())
        rows.append(
            (
                _s(svc.get("namespace")),
                _s(svc.get("name")),
                ",".join(_vip(v) for v in _list(svc.get("vips"))),
                waypoint_name(svc.get("waypoint"), waypoints),
                f"{healthy}/{total}",
                _s(svc.get("hostname")),
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
    picked = [p for p in dump.policies if not namespace or _eq_fold(p.get("namespace"), namespace)]
    return sorted(picked, key=lambda p: (_s(p.get("namespace")), _s(p.get("name"))))


def policy_table(dump: ZtunnelDump, namespace: str | None = None) -> Table:
    """``ztunnel-config policy``; wide shows the rule count and the dry-run flag."""
    rows: list[tuple[str, ...]] = [
        (
            _s(p.get("namespace")),
            _s(p.get("name")),
            _s(p.get("action")),
            _s(p.get("scope")),
            str(len(_list(p.get("rules")))),
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

_RFC3339 = re.compile(
    r"(\d{4}-\d{2}-\d{2})[Tt](\d{2}:\d{2}:\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})\Z", re.ASCII
)


def parse_time(text: Any) -> datetime | None:
    """An RFC 3339 time (Go's ``time.RFC3339`` parser: offset required), else None."""
    if not isinstance(text, str):
        return None
    m = _RFC3339.match(text)
    if m is None:
        return None
    date, clock, frac, zone = m.groups()
    frac = (frac or "")[:7]  # Python keeps microseconds
    zone = "+00:00" if zone in ("Z", "z") else zone
    try:
        return datetime.fromisoformat(f"{date}T{clock}{frac}{zone}")
    except ValueError:
        return None


_DECIMAL = re.compile(r"[+-]?[0-9]+\Z", re.ASCII)


def serial_hex(serial: Any) -> str:
    """A decimal serial as lowercase hex (Go ``%x`` of a big.Int); ``<nil>`` if unparsable."""
    if isinstance(serial, int) and not isinstance(serial, bool):
        serial = str(serial)
    if not isinstance(serial, str) or not _DECIMAL.match(serial):
        return "<nil>"
    value = int(serial)
    return f"-{-value:x}" if value < 0 else f"{value:x}"


def cert_status(state: Any) -> str:
    """STATUS: the state, with every ``Unavailable: reason`` shortened to ``Unavailable``."""
    text = _s(state)
    return "Unavailable" if "Unavailable" in text else text


@dataclass(frozen=True)
class CertRow:
    """One certificate of an identity's chain or roots, with istioctl's cells."""

    identity: str
    kind: str  # Leaf, Intermediate, Root or NA
    status: str
    valid: bool
    serial: str
    not_after: str
    not_before: str
    expires: datetime | None
    bad_time: bool  # a time that does not parse (istioctl logs it)


def cert_rows(dump: ZtunnelDump, now: datetime) -> list[CertRow]:
    """Every certificate row, in dump order (istioctl does not sort them)."""
    rows: list[CertRow] = []
    for entry in dump.certificates:
        identity = _s(entry.get("identity"))
        status = cert_status(entry.get("state"))
        chain = [_obj(c) for c in _list(entry.get("certChain"))]
        roots = [_obj(c) for c in _list(entry.get("rootCerts"))]
        if not chain:
            rows.append(CertRow(identity, "NA", status, False, "NA", "NA", "NA", None, False))
            continue
        legacy = not roots
        kinds = []
        for i in range(len(chain)):
            if i == 0:
                kinds.append("Leaf")
            elif legacy and i == len(chain) - 1:
                kinds.append("Root")
            else:
                kinds.append("Intermediate")
        kinds += ["Root"] * len(roots)
        for kind, cert in zip(kinds, chain + roots, strict=True):
            rows.append(_cert_row(identity, kind, status, cert, now))
    return rows


def _cert_row(identity: str, kind: str, status: str, cert: Obj, now: datetime) -> CertRow:
    after_text, before_text = _s(cert.get("expirationTime")), _s(cert.get("validFrom"))
    after, before = parse_time(after_text), parse_time(before_text)
    bad = bool(after_text or before_text) and (after is None or before is None)
    valid = after is not None and before is not None and before < now < after
    return CertRow(
        identity,
        kind,
        status,
        valid,
        serial_hex(cert.get("serialNumber")),
        after_text or "NA",
        before_text or "NA",
        after,
        bad,
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


def split_host_port(addr: str) -> tuple[str, str] | None:
    """Go's ``net.SplitHostPort``: ``host:port`` or ``[v6]:port``; None when it fails."""
    if addr.startswith("["):
        end = addr.find("]")
        if end < 0 or addr[end + 1 : end + 2] != ":":
            return None
        host, port = addr[1:end], addr[end + 2 :]
        return (host, port) if ":" not in port else None
    i = addr.rfind(":")
    if i < 0 or ":" in addr[:i]:
        return None
    return addr[:i], addr[i + 1 :]


def address_names(dump: ZtunnelDump) -> Callable[[Any], str]:
    """Istioctl's lookup: a service VIP or workload IP ``ip:port`` as ``name:port``."""
    services: dict[str, str] = {}
    for svc in dump.services:
        vips = _list(svc.get("vips"))
        key = _vip(vips[0]) if vips else ""
        if key:
            services[key] = _s(svc.get("hostname"))
    workloads: dict[str, str] = {}
    for w in dump.workloads:
        ips = _list(w.get("workloadIps"))
        if ips and _s(ips[0]):
            workloads[_s(ips[0])] = f"{_s(w.get('name'))}.{_s(w.get('namespace'))}"

    def lookup(addr: Any) -> str:
        text = _s(addr)
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
    states = [s for s in dump.workload_state.values() if flt.keep(_obj(s.get("info")))]

    def key(s: Obj) -> tuple[str, str]:
        info = _obj(s.get("info"))
        return _s(info.get("namespace")), _s(info.get("name"))

    return sorted(states, key=key)


def connection_table(dump: ZtunnelDump, flt: ConnectionFilter = ConnectionFilter()) -> Table:
    """``ztunnel-config connections``."""
    lookup: Callable[[Any], str] = _s if flt.raw else address_names(dump)
    rows: list[tuple[str, ...]] = []
    for state in select_states(dump, flt):
        info = _obj(state.get("info"))
        workload = f"{_s(info.get('name'))}.{_s(info.get('namespace'))}"
        conns = _obj(state.get("connections"))
        if flt.direction != "outbound":
            for c in map(_obj, _list(conns.get("inbound"))):
                rows.append(
                    (
                        workload,
                        "Inbound",
                        lookup(c.get("actualDst")),
                        lookup(c.get("src")),
                        _s(c.get("originalDst")),
                        _s(c.get("protocol")),
                    )
                )
        if flt.direction != "inbound":
            for c in map(_obj, _list(conns.get("outbound"))):
                rows.append(
                    (
                        workload,
                        "Outbound",
                        lookup(c.get("src")),
                        lookup(c.get("actualDst")),
                        lookup(c.get("originalDst")),
                        _s(c.get("protocol")),
                    )
                )
    return Table(CONNECTION_COLUMNS, rows, padding=1, header_when_empty=True)


def _connection_items(items: Any) -> list[Obj] | None:
    if items is None:
        return None
    return [
        {
            "src": _s(c.get("src")),
            "originalDst": _s(c.get("originalDst")),
            "actualDst": _s(c.get("actualDst")),
            "protocol": _s(c.get("protocol")),
        }
        for c in map(_obj, _list(items))
    ]


def connection_objects(dump: ZtunnelDump, flt: ConnectionFilter) -> list[Obj]:
    """``connections -o json``: istioctl's shape, sorted like the table."""
    out = []
    for state in select_states(dump, flt):
        info = _obj(state.get("info"))
        conns = _obj(state.get("connections"))
        entry: Obj = {}
        if state.get("state"):
            entry["state"] = state["state"]
        entry["connections"] = {
            "inbound": _connection_items(conns.get("inbound")),
            "outbound": _connection_items(conns.get("outbound")),
        }
        entry["info"] = {
            "name": _s(info.get("name")),
            "namespace": _s(info.get("namespace")),
            "trustDomain": _s(info.get("trustDomain")),
            "serviceAccount": _s(info.get("serviceAccount")),
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
