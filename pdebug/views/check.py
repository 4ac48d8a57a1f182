"""Render a :class:`~pdebug.checks.CheckReport`: findings, then a summary of what ran.

``-o table`` prints each finding on one line (CODE SEVERITY RESOURCE MESSAGE) with its
hint on the next line under MESSAGE, errors first: during an outage the first lines
are the ones to read. ``-o wide`` (and markdown) put the hint in a HINT column instead,
one finding per line for grep. json/yaml print :func:`report_plain`.

``pdebug check BUNDLE`` (:func:`bundle_view`): the checks of every proxy in a bundle, one
summary row each. The table reads worst first: proxies with errors, then with warnings,
then clean ones, then those that could not be checked: a damaged member
(``unreadable: ...``) or a proxy the capture missed. ``-o wide`` adds INFO; json/yaml
carry each proxy's full check report (:func:`report_plain`, the keys of
``pdebug check -o json``) under ``report``, and null counts for a proxy that was not
checked (with ``capture_errors`` or ``unreadable`` saying why).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from pdebug.checks.base import CheckReport, ProxyCheck, Severity, not_checked_lines
from pdebug.model.sections import printable
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
    lines += not_checked_lines(report)
    return "\n".join(lines)


def report_plain(report: CheckReport, fail_on: Severity | None) -> dict[str, Any]:
    """The report as plain data for ``-o json|yaml`` (stable keys: a runbook contract)."""
    plain: dict[str, Any] = {
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
    if report.not_checked:  # only then, as the two below
        plain["not_checked"] = [
            {"code": f.code, "resource": f.resource, "message": f.message, "hint": f.hint}
            for f in report.not_checked
        ]
    if report.unread:  # only then: the report of any other dump is unchanged, key for key
        plain["unread_sections"] = [{"type": t, "entries": n} for t, n in report.unread]
    if report.unread_members:
        plain["unread_members"] = list(report.unread_members)
    return plain


def view(report: CheckReport, wide: bool = False, fail_on: Severity | None = None) -> ViewResult:
    """Findings table (when any) then the summary; json/yaml get :func:`report_plain`."""
    summary = Lines(summary_text(report))
    part: Table | Lines | Stack = summary
    if report.findings:
        part = Stack([("Findings", findings_table(report, wide)), ("Summary", summary)])
    return ViewResult(part, lambda: report_plain(report, fail_on))


# --------------------------------------------------------------------------- a bundle

BUNDLE_COLUMNS = (
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


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def bundle_summary_text(checks: list[ProxyCheck], source: str) -> str:
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
    text = f"Checked {_count(len(done), 'proxy', 'proxies')}: {', '.join(parts)}"
    if unchecked:
        text += "; " + ", ".join(unchecked)
    # what each proxy's check could not judge or did not read (as `check` of one says it)
    said = [not_checked_lines(c.report, printable(c.name)) for c in checks if c.report is not None]
    partly = sum(1 for lines in said if lines)
    if partly:
        n = sum(len(lines) for lines in said)
        text += (
            f"; {_count(n, 'thing', 'things')} not checked in "
            f"{_count(partly, 'proxy', 'proxies')} (below)"
        )
    name = next((c.name for c in sorted(checks, key=_order) if c.report is not None), "POD.NS")
    text += f".\nOne proxy's findings: pdebug check {source}:{name}"
    return text + "".join(f"\n{line}" for lines in said for line in lines)


def not_checked_count(report: CheckReport) -> int:
    """How many ``Not checked`` lines :func:`not_checked_lines` says of ``report``."""
    return len(not_checked_lines(report))


def bundle_plain(checks: list[ProxyCheck], source: str, fail_on: Severity | None) -> dict[str, Any]:
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
                # what its check could not judge or did not read: the Not checked lines
                "not_checked": not_checked_count(r) if r else None,
                "top_finding": top_finding(r) if r and r.findings else None,
                "failed": c.fails(fail_on) if r else None,
                "report": report_plain(r, fail_on) if r else None,
            }
        )
    return {
        "source": source,
        "proxies": proxies,
        "not_checked": sum(not_checked_count(c.report) for c in checks if c.report is not None),
        "fail_on": fail_on.label if fail_on is not None else "never",
        "failed": any(c.fails(fail_on) for c in checks),
    }


def bundle_view(checks: list[ProxyCheck], source: str, fail_on: Severity | None) -> ViewResult:
    """The summary table (worst first) and a line of totals."""
    table = Table(BUNDLE_COLUMNS, padding=2, empty_message="The bundle holds no proxy.")
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
    summary = Lines(bundle_summary_text(checks, source))
    return ViewResult(
        Stack([("Proxies", table), ("Summary", summary)]),
        lambda: bundle_plain(checks, source, fail_on),
    )
