"""The report's ambient section: each captured workload, its ztunnel, waypoint and certificate.

A ``snapshot --ambient`` bundle holds the ztunnel of every node its pods run on. Each
ztunnel's dump lists every workload of the mesh, but only the workloads on its own node
(``workload.node == config.localNode``) are that ztunnel's: it captures their traffic and
holds their certificates. So a workload's row is read from its node's ztunnel.

The judgments are ``pdebug check``'s ztunnel rules (:mod:`pdebug.checks.ztunnel`), run
once per dump: a workload's problems are the findings on the workload, on its
certificate's identity (PD701-PD703), on its waypoint service (PD705) and on its
connections (PD711/PD712). One more fact is the report's own, grounded in the research
note ``ztunnel.md`` §5 row 4: an HBONE workload whose ztunnel holds no certificate for its
identity (a warning: ztunnel fetches certificates lazily).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pdebug.checks.base import Finding, Severity
from pdebug.checks.options import CheckOptions

if TYPE_CHECKING:
    from pdebug.inputs import Inputs
    from pdebug.model.ztunnel import CertRow, ZtunnelDump

__all__ = ["AMBIENT_COLUMNS", "AmbientCapture", "ambient_capture", "ambient_table"]

AMBIENT_COLUMNS = [
    "NAMESPACE",
    "NAME",
    "NODE",
    "ZTUNNEL",
    "PROTOCOL",
    "WAYPOINT",
    "CERTIFICATE",
    "CERT EXPIRES",
    "STATUS",
    "PROBLEMS",
]

#: How a row's worst problem reads in the STATUS column (the page colours these words).
_STATUS = {Severity.ERROR: "ERROR", Severity.WARNING: "WARNING", Severity.INFO: "OK"}


@dataclass(frozen=True)
class AmbientCapture:
    """The ztunnels a bundle holds, and what its manifest says about the capture.

    Attributes:
        ztunnels: (member name, its parsed dump or why there is none).
        nodes: The manifest's node of each ztunnel member (used when a dump does not
            name its own node).
        namespaces: The namespaces of the captured pods; the section shows their
            workloads (empty: every namespace).
    """

    ztunnels: list[tuple[str, ZtunnelDump | str]]
    nodes: dict[str, str] = field(default_factory=dict)
    namespaces: frozenset[str] = frozenset()


@dataclass
class _Ztunnel:
    """One captured ztunnel, its check findings and certificates indexed for row lookups."""

    name: str
    node: str
    dump: ZtunnelDump | None
    why: str = ""
    findings: list[Finding] = field(default_factory=list)
    #: findings by resource (``workload/N.NS``, ``certificate/ID``...)
    by_resource: dict[str, list[Finding]] = field(default_factory=dict)
    #: PD705-style findings on services, by service name (a waypoint's resolved name)
    by_service: dict[str, list[Finding]] = field(default_factory=dict)
    #: certificate entries by the identity's ``/ns/NS/sa/SA`` tail
    certs: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    #: leaf certificate rows (istioctl's cells) by identity
    leaves: dict[str, list[CertRow]] = field(default_factory=dict)
    waypoints: dict[str, str] = field(default_factory=dict)

    def index(self, now: datetime) -> None:
        """Build the lookups (once per ztunnel: a row costs dictionary reads)."""
        from pdebug.model.ztunnel import cell, cert_rows, waypoint_index

        if self.dump is None:
            return
        for f in self.findings:
            self.by_resource.setdefault(f.resource, []).append(f)
            if f.resource.startswith("service/"):
                service = f.resource[len("service/") :].split(".", 1)[0]
                self.by_service.setdefault(service, []).append(f)
        for entry in self.dump.certificates:
            identity = cell(entry.get("identity"))
            at = identity.find("/ns/") if identity.startswith("spiffe://") else -1
            if at >= 0:
                self.certs.setdefault(identity[at:], []).append(entry)
        for row in cert_rows(self.dump, now):
            if row.kind == "Leaf":
                self.leaves.setdefault(row.identity, []).append(row)
        self.waypoints = waypoint_index(self.dump.services)


def _identities(w: dict[str, Any], z: _Ztunnel) -> list[dict[str, Any]]:
    """The certificate entries of workload ``w``'s SPIFFE identity in ``z``.

    ``spiffe://<trustDomain>/ns/<ns>/sa/<sa>``; ztunnel leaves out a default trust domain
    and service account, so an absent trust domain matches any, and an absent service
    account is ``default``.
    """
    from pdebug.model.ztunnel import cell

    sa = cell(w.get("serviceAccount")) or "default"
    entries = z.certs.get(f"/ns/{cell(w.get('namespace'))}/sa/{sa}", [])
    domain = cell(w.get("trustDomain"))
    if domain:
        want = f"spiffe://{domain}/ns/"
        entries = [c for c in entries if cell(c.get("identity")).startswith(want)]
    return entries


def _certificate(
    w: dict[str, Any], z: _Ztunnel, now: datetime
) -> tuple[str, str, list[Finding], str | None]:
    """(state, expiry, findings, report's own warning) of ``w``'s certificate in ``z``."""
    from pdebug.model.ztunnel import cell, cert_status

    if z.dump is None:
        return "unknown", "-", [], None
    entries = _identities(w, z)
    if not entries:
        if w.get("protocol") != "HBONE":
            return "-", "-", [], None  # not captured by ztunnel: no mesh certificate
        why = "no certificate for its identity in its ztunnel (fetched lazily; mTLS waits)"
        return "missing", "-", [], why
    identities = list(dict.fromkeys(cell(c.get("identity")) for c in entries))
    states = [cert_status(c.get("state")) for c in entries]
    state = "Available" if "Available" in states else (states[0] or "no state")
    leaves = [r for i in identities for r in z.leaves.get(i, [])]
    expiry = next((r.not_after for r in leaves if r.status == "Available"), "-")
    found = [f for i in identities for f in z.by_resource.get(f"certificate/{i}", [])]
    codes = {f.code for f in found}
    if "PD702" in codes:
        expired = any(r.expires is not None and r.expires <= now for r in leaves)
        state = "expired" if expired else "not valid"
    elif "PD703" in codes:
        state = "expiring"
    return state, expiry, found, None


def _row(w: dict[str, Any], z: _Ztunnel, now: datetime) -> list[str]:
    from pdebug.model.ztunnel import cell, waypoint_name

    ns, name = cell(w.get("namespace")), cell(w.get("name"))
    ztunnel = z.name if z.dump is not None else f"{z.name} (not captured: {z.why})"
    found: list[Finding] = []
    notes: list[str] = []  # the report's own warnings (no PD code)
    if z.dump is None:
        waypoint = "unknown"
        notes.append(f"its node's ztunnel was not captured: {z.why}")
    else:
        resolved = waypoint_name(w.get("waypoint"), z.waypoints)
        waypoint = {"None": "none", "NA": "unresolved"}.get(resolved, resolved)
        for resource in (f"workload/{name}.{ns}", f"connection/{name}.{ns}"):
            found += z.by_resource.get(resource, [])
        if resolved not in ("None", "NA"):
            found += z.by_service.get(resolved, [])  # the waypoint itself is down (PD705)
    cert, expiry, cert_found, cert_note = _certificate(w, z, now)
    found += cert_found
    if cert_note:
        notes.append(cert_note)
    worst = max((f.severity for f in found), default=None)
    if notes and (worst is None or worst < Severity.WARNING):
        worst = Severity.WARNING
    status = "OK" if worst is None else _STATUS[worst]
    problems = [f"{f.code} {f.message}" for f in found] + notes
    return [
        ns,
        name,
        cell(w.get("node")),
        ztunnel,
        cell(w.get("protocol")) or "-",
        waypoint,
        cert,
        expiry,
        status,
        "; ".join(problems) or "-",
    ]


def ambient_table(capture: AmbientCapture, options: CheckOptions) -> dict[str, Any]:
    """The section as a report table: one row per ambient workload, problems flagged.

    A workload is shown when it runs on the node of a ztunnel in the bundle and, when the
    capture names namespaces, in one of them. Rows are sorted by namespace and name.
    """
    from pdebug.checks import ztunnel as zcheck
    from pdebug.model.ztunnel import cell

    now = options.now or datetime.now(UTC)
    options = dataclasses.replace(options, now=now)
    ztunnels: dict[str, _Ztunnel] = {}  # by node
    unknown_node: list[str] = []
    for name, dump in capture.ztunnels:
        if isinstance(dump, str):
            node = capture.nodes.get(name, "")
            z = _Ztunnel(name, node, None, why=dump)
        else:
            node = dump.local_node or capture.nodes.get(name, "")
            z = _Ztunnel(name, node, dump, findings=zcheck.run(dump, options).findings)
            z.index(now)
        if not node:
            unknown_node.append(name)
            continue
        ztunnels.setdefault(node, z)

    def wanted(w: dict[str, Any], node: str) -> bool:
        if cell(w.get("node")) != node:
            return False
        return not capture.namespaces or cell(w.get("namespace")) in capture.namespaces

    readable = [z.dump for z in ztunnels.values() if z.dump is not None]
    rows: list[list[str]] = []
    for node, z in ztunnels.items():
        # a workload's row comes from its own node's ztunnel (its certificates, its view);
        # when that one was not captured, another ztunnel's list names the node's workloads
        listing = (
            z.dump.workloads if z.dump is not None else (readable[0].workloads if readable else [])
        )
        rows += [_row(w, z, now) for w in listing if wanted(w, node)]
    rows.sort(key=lambda r: (r[0], r[1]))
    notes = [f"{n}: the dump does not say its node (config.localNode)" for n in unknown_node]
    note = None
    if not rows:
        note = "No ambient workload of the captured namespaces runs on a captured ztunnel's node."
    if notes:
        note = "; ".join([*notes, *([note] if note else [])])
    return {
        "id": "ambient",
        "title": "Ambient workloads",
        "columns": list(AMBIENT_COLUMNS),
        "rows": rows,
        "note": note,
        "ztunnels": len(capture.ztunnels),
    }


def ambient_capture(inputs: Inputs) -> AmbientCapture | None:
    """What the report's ambient section reads from a bundle; None without ztunnels."""
    if not inputs.ztunnels:
        return None
    return AmbientCapture(inputs.ztunnels, inputs.ztunnel_nodes, frozenset(inputs.namespaces))
