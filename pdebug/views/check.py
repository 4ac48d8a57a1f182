"""Render a :class:`~pdebug.checks.CheckReport`: findings, then a summary of what ran.

``-o table`` prints each finding on one line (CODE SEVERITY RESOURCE MESSAGE) with its
hint on the next line under MESSAGE, errors first: during an outage the first lines
are the ones to read. ``-o wide`` (and markdown) put the hint in a HINT column instead,
one finding per line for grep. json/yaml print :func:`report_plain`.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from pdebug.checks.base import CheckReport, Severity
from pdebug.views.result import ViewResult
from pdebug.views.table import Column, Lines, Stack, Table

COLUMNS = (Column("CODE"), Column("SEVERITY"), Column("RESOURCE"), Column("MESSAGE"))
WIDE_COLUMNS = (*COLUMNS, Column("HINT"))
#: Above this many findings the summary also counts them per code.
_BY_CODE_OVER = 10


def findings_table(report: CheckReport, wide: bool) -> Table:
    """The findings in report order; hints under each row, or in a HINT column if ``wide``."""
    table = Table(WIDE_COLUMNS if wide else COLUMNS, padding=2, empty_message="No findings.")
    for f in report.findings:
        row = (f.code, f.severity.name, f.resource, f.message)
        if wide:
            table.rows.append((*row, f.hint))
        else:
            table.rows.append(row)
            table.rows.append(("", "", "", f"hint: {f.hint}"))
    return table


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 or word == "info" else "s")


def summary_text(report: CheckReport) -> str:
    """What was found (per code too when there is a lot), what was skipped or ignored, why."""
    counts = [
        _plural(report.counts[sev], sev.label)
        for sev in (Severity.ERROR, Severity.WARNING, Severity.INFO)
        if report.counts[sev]
    ]
    ran = _plural(report.run, "check")
    lines = [f"Found {', '.join(counts)} ({ran} run)." if counts else f"No findings ({ran} run)."]
    if len(report.findings) > _BY_CODE_OVER:
        per_code = Counter(f.code for f in report.findings)
        lines.append("By code: " + ", ".join(f"{c} {n}" for c, n in sorted(per_code.items())) + ".")
    by_reason: dict[tuple[bool, str], list[str]] = defaultdict(list)
    for skipped in report.skipped:
        by_reason[(skipped.error, skipped.reason)].append(skipped.code)
    for (error, reason), codes in by_reason.items():
        verb = "Could not run" if error else "Skipped"
        lines.append(f"{verb} {', '.join(codes)}: {reason}.")
    if report.ignored:
        lines.append(f"Ignored {', '.join(report.ignored)} (--ignore).")
    return "\n".join(lines)


def report_plain(report: CheckReport, fail_on: Severity | None) -> dict[str, Any]:
    """The report as plain data for ``-o json|yaml`` (stable keys: a runbook contract)."""
    return {
        "source": report.source,
        "findings": [
            {
                "code": f.code,
                "severity": f.severity.label,
                "resource": f.resource,
                "message": f.message,
                "hint": f.hint,
            }
            for f in report.findings
        ],
        "skipped": [
            {"code": s.code, "name": s.name, "reason": s.reason, "error": s.error}
            for s in report.skipped
        ],
        "ignored": list(report.ignored),
        "summary": {
            "checks_run": report.run,
            "error": report.counts[Severity.ERROR],
            "warning": report.counts[Severity.WARNING],
            "info": report.counts[Severity.INFO],
        },
        "fail_on": fail_on.label if fail_on is not None else "never",
        "failed": fail_on is not None and report.worst is not None and report.worst >= fail_on,
    }


def view(report: CheckReport, wide: bool = False, fail_on: Severity | None = None) -> ViewResult:
    """Findings table (when any) then the summary; json/yaml get :func:`report_plain`."""
    summary = Lines(summary_text(report))
    part: Table | Lines | Stack = summary
    if report.findings:
        part = Stack([("Findings", findings_table(report, wide)), ("Summary", summary)])
    return ViewResult(part, lambda: report_plain(report, fail_on))
