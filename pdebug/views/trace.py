"""``pdebug trace``: the steps of one request as a table, then the verdict.

``-o table`` shows the steps Envoy takes; ``-o wide`` adds the filter chains that lost;
``-o json|yaml`` give the request, every step (``kind``, ``name``, ``matched``,
``reason`` and details) and the verdict, for machines.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from pdebug.trace import Step, Trace, Verdict
from pdebug.views.result import ViewResult
from pdebug.views.table import Column, Lines, Stack, Table

COLUMNS = (Column("STEP"), Column("NAME"), Column("MATCH"), Column("REASON"))


def verdict_line(verdict: Verdict) -> str:
    """``VERDICT: OK, routed to ...``, ``VERDICT: FAIL, 404: ...`` or ``VERDICT: UNKNOWN, ...``."""
    return f"VERDICT: {verdict.outcome}, {verdict.summary}"


def to_plain(trace: Trace) -> dict[str, Any]:
    """The trace as plain data: request, steps, verdict (with its clusters) and notes."""
    req = trace.request
    return {
        "request": {
            "url": req.url,
            "method": req.method,
            "scheme": req.scheme,
            "authority": req.authority,
            "path": req.path,
            "destination": req.destination,
            "headers": [{"name": k, "value": v} for k, v in req.headers],
            "direction": req.direction,
            "source_ip": str(req.source_ip) if req.source_ip is not None else None,
        },
        "steps": _steps_plain(trace.steps),
        "verdict": _verdict_plain(trace.verdict),
        "notes": list(trace.notes),
    }


def _steps_plain(steps: list[Step]) -> list[dict[str, Any]]:
    out = []
    for st in steps:
        item: dict[str, Any] = {
            "kind": st.kind,
            "name": st.name,
            "matched": st.matched,
            "reason": st.reason,
        }
        if st.candidate:
            item["candidate"] = True
        item.update({k: v for k, v in st.detail.items() if k not in item})
        out.append(item)
    return out


def _verdict_plain(verdict: Verdict) -> dict[str, Any]:
    """The verdict; ``branches`` only when a route's match was unknown (each way it goes)."""
    clusters = []
    for c in verdict.clusters:
        clusters.append(
            {
                "name": c.name,
                "state": c.state,
                "weight": c.weight,
                "share": c.share,
                "type": c.type,
                "endpoints": len(c.endpoints),
                "healthy": c.healthy,
                "addresses": [dataclasses.asdict(e) for e in c.endpoints],
            }
        )
    out: dict[str, Any] = {
        "ok": verdict.ok,
        "outcome": verdict.outcome,
        "kind": verdict.kind,
        "summary": verdict.summary,
        "status": verdict.status,
        "location": verdict.location,
        "clusters": clusters,
    }
    if verdict.branches:
        out["branches"] = [
            {
                "conditions": list(b.conditions),
                "steps": _steps_plain(b.steps),
                "verdict": _verdict_plain(b.verdict),
            }
            for b in verdict.branches
        ]
    return out


def view(trace: Trace, wide: bool = False) -> ViewResult:
    """The steps table (losing candidates only when ``wide``), the verdict and notes."""
    parts: list[tuple[str, Table | Lines]] = [("Steps", _table(trace.steps, wide))]
    for i, branch in enumerate(trace.verdict.branches, 1):
        head = f"BRANCH {i}: if {' and '.join(branch.conditions)}:"
        parts.append((f"Branch {i}", Lines(head)))
        if branch.steps:
            parts.append((f"Branch {i} steps", _table(branch.steps, wide)))
        parts.append((f"Branch {i} verdict", Lines(f"  -> {verdict_line(branch.verdict)}")))
    lines = [verdict_line(trace.verdict)]
    lines.extend(f"note: {n}" for n in dict.fromkeys(trace.notes))
    parts.append(("Verdict", Lines("\n".join(lines))))
    return ViewResult(Stack(parts), lambda: to_plain(trace))


def _table(steps: list[Step], wide: bool) -> Table:
    """The steps (losing candidates only when ``wide``)."""
    table = Table(COLUMNS, padding=2, empty_message="No steps.")
    for st in steps:
        if st.candidate and not wide:
            continue
        name = st.name
        if st.kind == "listener" and st.detail.get("address"):
            name += f" {st.detail['address']}"
        kind = st.kind.replace("_", " ")
        table.rows.append((kind, name, "yes" if st.matched else "no", st.reason))
    return table
