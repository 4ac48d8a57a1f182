"""``pdebug check BUNDLE``: the checks of every proxy in a bundle, one summary row each.

The table reads worst first: proxies with errors, then with warnings, then clean ones,
then those that could not be checked: a damaged member (``unreadable: ...``) or a proxy
the capture missed. ``-o wide`` adds INFO; json/yaml carry each proxy's full check report
(the keys of ``pdebug check -o json``) under ``report``, and null counts for a proxy that
was not checked (with ``capture_errors`` or ``unreadable`` saying why).
"""

from __future__ import annotations

from typing import Any

from pdebug.checks.base import CheckReport, ProxyCheck, Severity
from pdebug.views.check import report_plain
from pdebug.views.result import ViewResult
from pdebug.views.table import Column, Lines, Stack, Table

COLUMNS = (
    Column("PROXY"),
    Column("ERRORS"),
    Column("WARNINGS"),
    Column("INFO", wide=True),
    Column("TOP FINDING"),
)


def top_finding(report: CheckReport) -> str:
    """``CODE resource: message`` of the worst finding, or ``-``."""
    if not report.findings:
        return "-"
    top = report.findings[0]
    return f"{top.code} {top.resource}: {top.message}"


def _order(item: ProxyCheck) -> tuple[int, int, int, str]:
    r = item.report
    if r is None:
        return (1, 0, 0, item.name)
    return (0, -r.counts[Severity.ERROR], -r.counts[Severity.WARNING], item.name)


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def summary_text(checks: list[ProxyCheck], source: str) -> str:
    """``Checked 3 proxies: 1 with errors, 1 with warnings, 1 clean; 1 not captured.``."""
    done = [c.report for c in checks if c.report is not None]
    unreadable = sum(1 for c in checks if c.report is None and c.unreadable is not None)
    missed = len(checks) - len(done) - unreadable
    unchecked = [f"{unreadable} unreadable"] if unreadable else []
    unchecked += [f"{missed} not captured"] if missed else []
    if not done:
        return f"Nothing checked: {', '.join(unchecked) or 'no proxy'}."
    errors = sum(1 for r in done if r.counts[Severity.ERROR])
    warnings = sum(1 for r in done if not r.counts[Severity.ERROR] and r.counts[Severity.WARNING])
    clean = len(done) - errors - warnings
    parts = [f"{errors} with errors", f"{warnings} with warnings", f"{clean} clean"]
    text = f"Checked {_plural(len(done), 'proxy', 'proxies')}: {', '.join(parts)}"
    if unchecked:
        text += "; " + ", ".join(unchecked)
    name = next((c.name for c in sorted(checks, key=_order) if c.report is not None), "POD.NS")
    return text + f".\nOne proxy's findings: pdebug check {source}:{name}"


def plain(checks: list[ProxyCheck], source: str, fail_on: Severity | None) -> dict[str, Any]:
    """The whole result for ``-o json|yaml`` (stable keys)."""
    proxies = []
    for c in checks:
        r = c.report
        proxies.append(
            {
                "name": c.name,
                "captured": r is not None or c.unreadable is not None,
                "capture_errors": list(c.capture_errors),
                "unreadable": c.unreadable,
                # not checked: the counts are unknown, not 0
                "error": r.counts[Severity.ERROR] if r else None,
                "warning": r.counts[Severity.WARNING] if r else None,
                "info": r.counts[Severity.INFO] if r else None,
                "top_finding": top_finding(r) if r and r.findings else None,
                "failed": c.fails(fail_on) if r else None,
                "report": report_plain(r, fail_on) if r else None,
            }
        )
    return {
        "source": source,
        "proxies": proxies,
        "fail_on": fail_on.label if fail_on is not None else "never",
        "failed": any(c.fails(fail_on) for c in checks),
    }


def view(checks: list[ProxyCheck], source: str, fail_on: Severity | None) -> ViewResult:
    """The summary table (worst first) and a line of totals."""
    table = Table(COLUMNS, padding=2, empty_message="The bundle holds no proxy.")
    for c in sorted(checks, key=_order):
        r = c.report
        if r is None:
            if c.unreadable is not None:
                top = f"unreadable: {c.unreadable}"
            else:
                why = c.capture_errors[0] if c.capture_errors else "no documents in the bundle"
                top = f"capture failed: {why}"
            table.rows.append((c.name, "-", "-", "-", top))
            continue
        table.rows.append(
            (
                c.name,
                str(r.counts[Severity.ERROR]),
                str(r.counts[Severity.WARNING]),
                str(r.counts[Severity.INFO]),
                top_finding(r),
            )
        )
    summary = Lines(summary_text(checks, source))
    return ViewResult(
        Stack([("Proxies", table), ("Summary", summary)]),
        lambda: plain(checks, source, fail_on),
    )
