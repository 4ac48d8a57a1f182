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

from pdebug.checks.base import CheckOptions, Finding, Severity

if TYPE_CHECKING:
    from pdebug.model.ztunnel import ZtunnelDump

__all__ = ["AMBIENT_COLUMNS", "AmbientCapture", "ambient_table"]

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
    name: str
    node: str
    dump: ZtunnelDump | None
    why: str = ""
    findings: list[Finding] = field(default_factory=list)


def _identity_matches(identity: str, w: dict[str, Any]) -> bool:
    """Whether a certificate ``identity`` is workload ``w``'s SPIFFE identity.

    ``spiffe://<trustDomain>/ns/<ns>/sa/<sa>``; ztunnel leaves out a default trust domain
    and service account, so an absent trust domain matches any, and an absent service
    account is ``default``.
    """
    from pdebug.views.ztunnel import _s

    sa = _s(w.get("serviceAccount")) or "default"
    tail = f"/ns/{_s(w.get('namespace'))}/sa/{sa}"
    domain = _s(w.get("trustDomain"))
    if domain:
        return identity == f"spiffe://{domain}{tail}"
    return identity.startswith("spiffe://") and identity.endswith(tail)


def _certificate(
    w: dict[str, Any], z: _Ztunnel, now: datetime
) -> tuple[str, str, list[str], Severity | None]:
    """(state, expiry, problems, worst severity) of ``w``'s certificate in its ztunnel."""
    from pdebug.views.ztunnel import _s, cert_rows, cert_status

    if z.dump is None:
        return "unknown", "-", [], None
    entries = [c for c in z.dump.certificates if _identity_matches(_s(c.get("identity")), w)]
    if not entries:
        if w.get("protocol") != "HBONE":
            return "-", "-", [], None  # not captured by ztunnel: no mesh certificate
        why = "no certificate for its identity in its ztunnel (fetched lazily; mTLS waits)"
        return "missing", "-", [why], Severity.WARNING
    identities = {_s(c.get("identity")) for c in entries}
    states = [cert_status(c.get("state")) for c in entries]
    state = "Available" if "Available" in states else (states[0] or "no state")
    leaves = [r for r in cert_rows(z.dump, now) if r.identity in identities and r.kind == "Leaf"]
    expiry = next((r.not_after for r in leaves if r.status == "Available"), "-")
    found = [f for f in z.findings if f.resource in {f"certificate/{i}" for i in identities}]
    codes = {f.code for f in found}
    if "PD702" in codes:
        expired = any(r.expires is not None and r.expires <= now for r in leaves)
        state = "expired" if expired else "not valid"
    elif "PD703" in codes:
        state = "expiring"
    problems = [f"{f.code} {f.message}" for f in found]
    worst = max((f.severity for f in found), default=None)
    return state, expiry, problems, worst


def _row(w: dict[str, Any], z: _Ztunnel, now: datetime) -> list[str]:
    from pdebug.views.ztunnel import _s, waypoint_index, waypoint_name

    ns, name = _s(w.get("namespace")), _s(w.get("name"))
    ztunnel = z.name if z.dump is not None else f"{z.name} (not captured: {z.why})"
    worst: Severity | None = None
    problems: list[str] = []
    if z.dump is None:
        waypoint = "unknown"
        worst = Severity.WARNING
        problems.append(f"its node's ztunnel was not captured: {z.why}")
    else:
        resolved = waypoint_name(w.get("waypoint"), waypoint_index(z.dump.services))
        waypoint = {"None": "none", "NA": "unresolved"}.get(resolved, resolved)
        mine = {f"workload/{name}.{ns}", f"connection/{name}.{ns}"}
        if resolved not in ("None", "NA"):
            prefix = f"service/{resolved}."
            mine |= {f.resource for f in z.findings if f.resource.startswith(prefix)}
        for f in z.findings:
            if f.resource in mine:
                problems.append(f"{f.code} {f.message}")
                worst = f.severity if worst is None else max(worst, f.severity)
    cert, expiry, cert_problems, cert_worst = _certificate(w, z, now)
    problems += cert_problems
    if cert_worst is not None:
        worst = cert_worst if worst is None else max(worst, cert_worst)
    status = "OK" if worst is None else _STATUS[worst]
    return [
        ns,
        name,
        _s(w.get("node")),
        ztunnel,
        _s(w.get("protocol")) or "-",
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
    from pdebug.views.ztunnel import _s

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
        if not node:
            unknown_node.append(name)
            continue
        ztunnels.setdefault(node, z)

    def wanted(w: dict[str, Any], node: str) -> bool:
        if _s(w.get("node")) != node:
            return False
        return not capture.namespaces or _s(w.get("namespace")) in capture.namespaces

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
