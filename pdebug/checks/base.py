"""The vocabulary of ``pdebug check``: severities, findings, checks and the report.

A *check* is a pure function from a :class:`~pdebug.checks.context.Context` (one proxy's
data plus the options) to findings. It is wrapped in a :class:`Check` that carries its
stable code (``PD101``: never renumbered, never reused), its fixed severity, a short
name, and what data it needs; :func:`pdebug.checks.run_checks` skips a check whose data
is missing and says why.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import TYPE_CHECKING

import msgspec

if TYPE_CHECKING:
    from pdebug.checks.context import Context
    from pdebug.errors import PdebugError


class Severity(IntEnum):
    """How bad a finding is; ordered so that ``ERROR > WARNING > INFO``."""

    INFO = 1
    WARNING = 2
    ERROR = 3

    @property
    def label(self) -> str:
        """``error``, ``warning`` or ``info`` (the JSON spelling)."""
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Severity:
        """The severity called ``text`` (case-insensitive).

        Raises:
            ValueError: ``text`` names no severity.
        """
        try:
            return cls[text.strip().upper()]
        except KeyError:
            raise ValueError(text) from None


class Finding(msgspec.Struct, frozen=True):
    """One thing wrong with one resource.

    Attributes:
        code: The check's stable code, e.g. ``PD101``.
        severity: The check's severity.
        resource: ``kind/name``, e.g. ``listener/virtualOutbound``.
        message: One line saying what is wrong.
        hint: One line saying what to look at next.
    """

    code: str
    severity: Severity
    resource: str
    message: str
    hint: str


class NotChecked(Finding, frozen=True):
    """What a check could not judge in this dump: said in the summary, never a finding.

    A certificate kept in a file on the proxy has no expiry in the dump. The check yields
    it among its findings (:meth:`Check.not_checked`); :class:`CheckReport` sets it
    apart, so it counts for no severity and never fails the run.
    """


#: Names a check can need: a dump section, or ``health`` (``/clusters?format=json``).
Need = str


class Check(msgspec.Struct, frozen=True):
    """A registered check.

    Attributes:
        code: Stable code (``PD`` + resource digit + number).
        severity: Severity of every finding it makes.
        name: Short kebab-case name, e.g. ``listener-rejected``.
        summary: One line for the documentation.
        needs: Groups of alternatives; every group needs one of its members, e.g.
            ``(("clusters",), ("endpoints", "health"))``.
        func: The check itself: ``func(ctx, this)`` yields findings made with
            ``this.finding(...)``.
    """

    code: str
    severity: Severity
    name: str
    summary: str
    needs: tuple[tuple[Need, ...], ...]
    func: Callable[[Context, Check], Iterable[Finding]]

    def run(self, ctx: Context) -> list[Finding]:
        """Run the check on ``ctx``."""
        return list(self.func(ctx, self))

    def finding(self, resource: str, message: str, hint: str) -> Finding:
        """A finding of this check."""
        return Finding(self.code, self.severity, resource, message, hint)

    def not_checked(self, resource: str, message: str, hint: str) -> NotChecked:
        """What this check could not judge in ``resource`` (the summary says it)."""
        return NotChecked(self.code, self.severity, resource, message, hint)


def check(
    code: str,
    severity: Severity,
    name: str,
    summary: str,
    *needs: tuple[Need, ...],
) -> Callable[[Callable[[Context, Check], Iterable[Finding]]], Check]:
    """Decorate ``func(ctx, this)`` into a :class:`Check`."""

    def wrap(func: Callable[[Context, Check], Iterable[Finding]]) -> Check:
        return Check(code, severity, name, summary, tuple(needs), func)

    return wrap


class SkipCheck(Exception):
    """Raised by a check that does not apply to this proxy (said in the report)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Skipped(msgspec.Struct, frozen=True):
    """A check that did not run, and why.

    ``error`` is True when the check started but could not read its input (a damaged
    dump); that makes the whole run inconclusive.
    """

    code: str
    name: str
    reason: str
    error: bool = False


@dataclass(frozen=True)
class CheckReport:
    """Everything one run found, in report order (severity, then code, then resource).

    Built whole, when the run is over: ``counts`` and ``worst`` are counted then, so the
    views read them as data. (A dataclass, not a frozen msgspec Struct as the records
    above: a frozen Struct cannot set its derived fields in ``__post_init__``.)
    """

    source: str
    findings: list[Finding] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    run: int = 0
    #: The dump's sections no check reads (their type, how many entries): said in the
    #: summary, never a finding (:func:`pdebug.model.sections.unread`).
    unread: list[tuple[str, int]] = field(default_factory=list)
    #: The members of its sections no check reads (:func:`~pdebug.model.sections.unread_members`).
    unread_members: list[str] = field(default_factory=list)
    #: What the checks could not judge (:class:`NotChecked`), taken out of ``findings``.
    not_checked: list[NotChecked] = field(init=False, repr=False, compare=False)
    #: How many findings each severity has (every severity is a key).
    counts: dict[Severity, int] = field(init=False, repr=False, compare=False)
    #: The highest severity found, None when nothing was found.
    worst: Severity | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        unknown = [f for f in self.findings if isinstance(f, NotChecked)]
        if unknown:
            found = [f for f in self.findings if not isinstance(f, NotChecked)]
            object.__setattr__(self, "findings", found)
        object.__setattr__(self, "not_checked", unknown)
        counts = dict.fromkeys(Severity, 0)
        for f in self.findings:
            counts[f.severity] += 1
        object.__setattr__(self, "counts", counts)
        object.__setattr__(self, "worst", max((s for s, n in counts.items() if n), default=None))

    def findings_note(self) -> str | None:
        """What the report page says under its findings table, or None.

        ``No findings.`` when there is none, then ``check``'s ``Not checked`` lines
        (:func:`not_checked_lines`), one sentence each: with nothing not checked, the
        note the page always had.
        """
        said = ([] if self.findings else ["No findings."]) + not_checked_lines(self)
        return " ".join(said) or None

    def count(self, severity: Severity) -> int:
        """How many findings have ``severity``."""
        return self.counts[severity]

    def fails(self, fail_on: Severity | None) -> bool:
        """Whether a finding is at or above ``fail_on`` (``None``: never fails)."""
        return fail_on is not None and self.worst is not None and self.worst >= fail_on

    @property
    def inconclusive(self) -> bool:
        """Whether a check could not read its input."""
        return any(s.error for s in self.skipped)

    def error(self) -> PdebugError | None:
        """What the command raises after printing the report, or None."""
        if not self.inconclusive:
            return None
        from pdebug.errors import InvalidInput

        return InvalidInput("some checks could not read the input")


def not_checked_lines(report: CheckReport, who: str = "") -> list[str]:
    """The ``Not checked ...`` lines of ``pdebug check``'s summary (and the report's).

    What the checks could not judge, then what pdebug does not read.

    ``who``: the proxy of a bundle, said after ``Not checked in`` (already printable).
    """
    head = f"Not checked in {who}" if who else "Not checked"
    lines = [f"{head} {line}" for line in _not_checked(report)]
    return lines + [f"{head}: {what}." for what in _unread(report)]


def _not_checked(report: CheckReport) -> list[str]:
    """One line per thing the checks could not judge, naming every check it escaped.

    Each is ``(CODES): resource: message (hint).``, said after ``Not checked``.
    """
    codes: dict[tuple[str, str, str], list[str]] = {}
    for f in report.not_checked:
        codes.setdefault((f.resource, f.message, f.hint), []).append(f.code)
    return [
        f"({', '.join(dict.fromkeys(c))}): {resource}: {message} ({hint})."
        for (resource, message, hint), c in codes.items()
    ]


def _unread(report: CheckReport) -> list[str]:
    """What ``report`` did not check: each section and member pdebug does not read."""
    from pdebug.model.sections import unread_lines

    lines = unread_lines(report.unread, report.unread_members)
    return [f"{line}, which pdebug does not read" for line in lines]


class ProxyCheck(msgspec.Struct):
    """One proxy of a bundle: its check report, or why it has none.

    Attributes:
        name: The bundle member name (``POD.NS``).
        report: The checks' report; None when there was no readable document to check.
        capture_errors: What the capture recorded as failed for this proxy.
        unreadable: Why its saved documents cannot be read (a damaged member), or None.
    """

    name: str
    report: CheckReport | None
    capture_errors: tuple[str, ...] = ()
    unreadable: str | None = None

    def fails(self, fail_on: Severity | None) -> bool:
        """Whether a finding reaches ``fail_on``."""
        return self.report is not None and self.report.fails(fail_on)


class BundleChecks(msgspec.Struct):
    """``pdebug check BUNDLE``: every proxy of a bundle of several, checked one by one.

    Attributes:
        path: The bundle as typed.
        checks: One per proxy (and per ztunnel a ``snapshot --ambient`` captured).
    """

    path: str
    checks: list[ProxyCheck]
    #: What to run to capture the proxies again (another snapshot, or a bug report).
    again: str = "take another snapshot"

    def fails(self, fail_on: Severity | None) -> bool:
        """Whether a finding of any proxy reaches ``fail_on``."""
        return any(c.fails(fail_on) for c in self.checks)

    @property
    def inconclusive(self) -> bool:
        """Whether a check of some proxy could not read its input."""
        return any(c.report is not None and c.report.inconclusive for c in self.checks)

    def error(self) -> PdebugError | None:
        """What the command raises after the table, or None for a clean run.

        One damaged or missing proxy never hides the others, but it is no clean run.
        """
        from pdebug.errors import InvalidInput, SourceUnavailable

        path, checks = self.path, self.checks
        unreadable = [c for c in checks if c.unreadable is not None]
        if unreadable:
            first = unreadable[0]
            more = f" and {len(unreadable) - 1} more" if len(unreadable) > 1 else ""
            return InvalidInput(
                f"{path}: cannot read the documents of {first.name} ({first.unreadable}){more}; "
                "the other proxies were checked",
                hint=f"its saved documents are damaged; capture it again if you can "
                f"(pdebug snapshot {first.name})",
            )
        if not any(c.report is not None for c in checks):
            return SourceUnavailable(
                f"{path}: nothing to check: none of its {len(checks)} proxies was captured",
                hint=f"{self.again}; each proxy's capture error is in the table",
            )
        if self.inconclusive:
            return InvalidInput("some checks could not read the input")
        return None
