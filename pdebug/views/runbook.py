"""Render ``pdebug assert`` results: a table, json/yaml, markdown, or JUnit XML."""

from __future__ import annotations

from typing import Any

from pdebug.runbook.evaluate import ERROR, FAIL, Result, summary
from pdebug.views.result import ViewResult
from pdebug.views.table import Column, Lines, Stack, Table

COLUMNS = (
    Column("EXPECTATION"),
    Column("PROXY"),
    Column("RESULT"),
    Column("WHY"),
    Column("WHERE", wide=True),
)


def summary_line(results: list[Result]) -> str:
    """``3 passed, 1 failed, 0 errors (4 results)``."""
    c = summary(results)
    return (
        f"{c['PASS']} passed, {c[FAIL]} failed, {c[ERROR]} could not be judged "
        f"({len(results)} results)"
    )


def plain(path: str, results: list[Result]) -> dict[str, Any]:
    """The results as plain data for ``-o json|yaml`` (a stable contract for runbooks)."""
    c = summary(results)
    return {
        "file": path,
        "passed": c[FAIL] == 0 and c[ERROR] == 0,
        "summary": {"pass": c["PASS"], "fail": c[FAIL], "error": c[ERROR]},
        "results": [
            {
                "expectation": r.expectation,
                "kind": r.kind,
                "proxy": r.proxy,
                "result": r.status,
                "why": r.why,
                "where": r.where,
            }
            for r in results
        ],
    }


def view(path: str, results: list[Result]) -> ViewResult:
    """The results table, then the summary line."""
    table = Table(COLUMNS, padding=2, empty_message="No expectations.")
    for r in results:
        table.rows.append((r.expectation, r.proxy, r.status, r.why, r.where))
    part = Stack([("Results", table), ("Summary", Lines(summary_line(results)))])
    return ViewResult(part, lambda: plain(path, results))


def junit(path: str, results: list[Result]) -> str:
    """JUnit XML (one testsuite per file, one testcase per expectation and proxy).

    GitLab, Jenkins and GitHub's test reporters read it: FAIL is a ``<failure>``, a result
    that could not be judged an ``<error>``.
    """
    import xml.etree.ElementTree as ET

    c = summary(results)
    suites = ET.Element("testsuites", name="pdebug assert")
    suite = ET.SubElement(
        suites,
        "testsuite",
        name=_clean(path),
        tests=str(len(results)),
        failures=str(c[FAIL]),
        errors=str(c[ERROR]),
        skipped="0",
    )
    for r in results:
        case = ET.SubElement(
            suite,
            "testcase",
            name=_clean(r.expectation),
            classname=_clean(r.proxy),
            file=_clean(r.where.rsplit(":", 1)[0]),
        )
        if r.status == FAIL:
            ET.SubElement(case, "failure", message=_clean(r.why), type="expectation").text = _clean(
                r.why
            )
        elif r.status == ERROR:
            ET.SubElement(case, "error", message=_clean(r.why), type="not-judged").text = _clean(
                r.why
            )
        else:
            ET.SubElement(case, "system-out").text = _clean(r.why)
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, "unicode") + "\n"


def _clean(text: str) -> str:
    """XML 1.0 cannot carry most control characters: they are shown escaped."""
    return "".join(
        ch
        if ch in "\t\n" or (ord(ch) >= 0x20 and ch not in "\ufffe\uffff")
        else f"\\x{ord(ch):02x}"
        for ch in text
    )
