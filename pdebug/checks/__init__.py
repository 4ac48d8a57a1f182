"""``pdebug check``: health checks over one proxy's config dump and live health.

:data:`ALL_CHECKS` is the registry, in code order. Codes are a contract for runbooks
(documented in the README): a code is never renumbered or reused, and a retired check
keeps its number. ``PD1xx`` listeners, ``PD2xx`` clusters, ``PD3xx`` routes, ``PD4xx``
endpoints, ``PD5xx`` secrets, ``PD6xx`` the server as a whole (``PD603`` from Envoy's
stats); ``PD7xx`` are the ztunnel checks of :mod:`pdebug.checks.ztunnel`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from pdebug.checks import clusters, endpoints, listeners, routes, secrets, server, stats
from pdebug.checks.base import (
    Check,
    CheckReport,
    Finding,
    Severity,
    SkipCheck,
    Skipped,
)
from pdebug.checks.context import Context
from pdebug.checks.options import CheckOptions
from pdebug.errors import PdebugError, UsageError
from pdebug.model import ProxyData
from pdebug.model.sections import holds_no_clusters, is_full_dump, why_absent

if TYPE_CHECKING:
    from pdebug.parallel import Ran, Spawned

__all__ = [
    "ALL_CHECKS",
    "BY_CODE",
    "Check",
    "CheckOptions",
    "CheckReport",
    "Finding",
    "Severity",
    "Skipped",
    "facts_tasks",
    "parse_codes",
    "parse_fail_on",
    "run_checks",
]

ALL_CHECKS: tuple[Check, ...] = tuple(
    sorted(
        (
            *listeners.CHECKS,
            *clusters.CHECKS,
            *routes.CHECKS,
            *endpoints.CHECKS,
            *secrets.CHECKS,
            *server.CHECKS,
            *stats.CHECKS,
        ),
        key=lambda c: c.code,
    )
)
BY_CODE: dict[str, Check] = {c.code: c for c in ALL_CHECKS}

_HEALTH = (
    "needs live endpoint health (GET /clusters?format=json): add --clusters-json FILE, "
    "or check the live proxy"
)
_EDS_OR_HEALTH = (
    "needs endpoints: a dump taken with config_dump?include_eds, or --clusters-json FILE"
)

_NO_CLUSTERS = (
    "the proxy has no clusters, so no endpoints to check (Envoy then writes no endpoints "
    "section, even with config_dump?include_eds)"
)


def _missing(ctx: Context, chk: Check) -> str | None:
    """Why ``chk`` cannot run on this data, or None when it can."""
    for group in chk.needs:
        if any(ctx.has(need) for need in group):
            continue
        if set(group) <= {"endpoints", "health"}:
            if ctx.proxy.dump is not None and holds_no_clusters(ctx.proxy.dump):
                return _NO_CLUSTERS
            return _HEALTH if set(group) == {"health"} else _EDS_OR_HEALTH
        if set(group) == {"stats"}:
            return "needs Envoy's /stats: check the live proxy, or a pdebug dump/snapshot bundle"
        if ctx.proxy.dump is None:
            health = ctx.proxy.health
            what = health.document if health is not None else "a /clusters?format=json document"
            return f"needs a config dump; {ctx.proxy.source} is {what}"
        kinds = " or ".join(n for n in group if n != "health")
        ctx.proxy.dump.check_intact()  # a damaged dump is said damaged, once
        if is_full_dump(ctx.proxy.dump):
            return f"the dump has no {kinds} section"
        return f"the dump has no {kinds} section {why_absent(ctx.proxy.dump, group)}"
    return None


#: The checks that read each cluster's hosts (:attr:`Context.hosts`), and the
#: routes section (:attr:`Context.route_facts`; PD102 only when a listener warms).
_HOST_CHECKS = frozenset({"PD202", "PD203", "PD403", "PD404"})
_ROUTE_CHECKS = frozenset({"PD102", "PD203", "PD301", "PD302"})
#: CPU seconds of ``check`` per byte of the sections it reads, to weigh a fork against
#: :data:`pdebug.parallel.MIN_WORK`: 0.6 s for the 161.6 MB of the 5k-service bench
#: dump (perfcheck4), so a dump forks from about 80 MB of those sections on.
_CPU_PER_BYTE = 0.6 / 161.6e6
_READ_KINDS = ("listeners", "routes", "clusters", "endpoints")


def _facts_child(proxy: ProxyData, options: CheckOptions, members: bool) -> Spawned | None:
    """A child reading the sections' facts while the checks start (#17).

    :func:`facts_tasks` run by :func:`pdebug.parallel.spawn`; None when there are none,
    or it does not fork (``PDEBUG_JOBS``, the CPUs, the work).
    """
    tasks = facts_tasks(proxy, options, members=members)
    if tasks is None:
        return None
    from pdebug import parallel

    dump = proxy.dump
    assert dump is not None
    work = sum(dump.section_bytes(kind) for kind in _READ_KINDS) * _CPU_PER_BYTE
    return parallel.spawn(tasks, work)


#: How many tasks :func:`facts_tasks` gives (:attr:`Context.child`'s first results).
FACTS_TASKS = 4


def facts_tasks(
    proxy: ProxyData, options: CheckOptions, search: bool = True, members: bool = True
) -> list[Callable[[], Any]] | None:
    """What a child forked before the checks makes for :attr:`Context.child` (#17).

    The EDS and routes sections' facts, which marks the clusters section's bytes lack
    (``inline``: PD501's certificates in ``transport_socket_matches``; ``filename``:
    its certificate files; one pass, :func:`pdebug.model.dump.marks_held`), and the unread
    members of the listener and route config entries (the report's end): the
    :data:`FACTS_TASKS` tasks, in the order the checks ask for them. Each section only
    when load found it in Envoy's layout and nothing has decoded it yet, and a check
    that reads it runs (hosts: a dump without live health); None when none is.
    ``pdebug check``'s child runs just these; ``pdebug report``'s worker runs them
    before the tables it builds (which then read the sections it decoded for them).
    Not ``search``: the clusters' ``inline`` is not searched (None): ``pdebug report``
    searches in its parent, whose secrets table reads the answer too (#17). Not
    ``members``: the entries' members are not read (None): ``pdebug check``'s parent
    reads them while it waits for the EDS facts (:data:`_MEMBERS_AT`).
    """
    dump = proxy.dump
    if dump is None:
        return None

    def unread(kind: str, checks: frozenset[str]) -> bool:
        sec = dump.section(kind)
        return (
            sec is not None
            and sec.fast is not None
            and sec.text is not None
            and not options.ignore >= checks
        )

    eds = proxy.health is None and unread("endpoints", _HOST_CHECKS)
    routes = unread("routes", _ROUTE_CHECKS)
    matches = unread("clusters", frozenset({"PD501", "PD502"}))
    inline = search and matches
    if not eds and not routes and not matches:
        return None
    from pdebug.model.dump import own_bytes_lacking
    from pdebug.model.hosts import eds_facts, pack
    from pdebug.model.routes import route_facts
    from pdebug.model.sections import entry_members_of

    # In the order the checks ask (PD202, PD203, PD501, the report's end): each is
    # sent as soon as it is made.
    tasks: list[Callable[[], Any]] = [
        lambda: pack(eds_facts(dump)) if eds else None,
        lambda: route_facts(dump) if routes else None,
        lambda: own_bytes_lacking(dump, "clusters") if inline else None,
        lambda: entry_members_of(dump, _MEMBER_KINDS) if members else None,
    ]
    assert len(tasks) == FACTS_TASKS
    return tasks


def run_checks(
    proxy: ProxyData,
    options: CheckOptions | None = None,
    context: Context | None = None,
    fork: bool = False,
) -> CheckReport:
    """Run every check not ignored; skip (and say why) those whose data is missing.

    Findings are sorted by severity (errors first), then code, then resource; exact
    repeats (the same inline route config under two filter chains) are dropped.

    Args:
        proxy: The proxy's data.
        options: The run's options (defaults when None).
        context: A :class:`Context` over ``proxy`` with these ``options`` to reuse (the
            report's topology reads the same indexes); a new one when None.
        fork: Read the EDS and routes sections in a forked child while the first checks
            run, when it pays (:func:`_facts_child`; never with a ``context``): the
            same report.
    """
    options = options or CheckOptions()
    if context is not None or not fork:
        return _run(proxy, options, context if context is not None else Context(proxy, options))
    ctx = Context(proxy, options)
    from pdebug.model.sections import entry_members_quiet

    # The entries' members read here, not in the child, where that says nothing.
    here = proxy.dump is not None and entry_members_quiet(proxy.dump, _MEMBER_KINDS)
    child = ctx.child = _facts_child(proxy, options, members=not here)
    if child is None:
        return _run(proxy, options, ctx)
    ctx.ahead = True
    ctx.members_here = here
    try:
        return _run(proxy, options, ctx)
    finally:  # an error or Ctrl-C before its facts were read: no child is left
        child.close()
        ctx.child = None


#: The checks run ahead of :data:`_AHEAD_OF` while a forked child still reads the
#: routes section (#17): they read only the hosts, which PD202 built (from the child's
#: EDS facts or the section), and what they say is said in their turn (:func:`_ahead`).
_AHEAD_OF = "PD203"
_AHEAD = ("PD403", "PD404")
#: Where a forked ``check``'s parent reads the unread members of the listener and route
#: config entries (said at the report's end), when that says nothing (#17): before the
#: first check that may wait for the child's EDS facts.
_MEMBERS_AT = "PD202"
_MEMBER_KINDS = ("listeners", "routes")


def _run(proxy: ProxyData, options: CheckOptions, ctx: Context) -> CheckReport:
    found: list[Finding] = []
    skipped: list[Skipped] = []
    run = 0
    ahead: dict[str, Ran] = {}
    members_ahead = ctx.members_here
    for chk in ALL_CHECKS:
        if members_ahead and chk.code >= _MEMBERS_AT:
            members_ahead = False
            ctx.early("members", functools.partial(_entry_members, proxy))
        if chk.code in options.ignore:
            continue
        if chk.code == _AHEAD_OF:
            ahead = _ahead(ctx)
        ran = ahead.pop(chk.code, None)
        if ran is not None:
            ran.replay()  # what it said, in its turn; what it raised, raised now
            outcome = ran.value
        else:
            outcome = _one(ctx, chk)
        if isinstance(outcome, Skipped):
            skipped.append(outcome)
        else:
            run += 1
            found.extend(outcome)
    unique = list(dict.fromkeys(found))
    unique.sort(key=lambda f: (-f.severity, f.code, f.resource))
    ignored = sorted(options.ignore & set(BY_CODE))
    unread, members = [], []
    if proxy.dump is not None:
        from pdebug.model.sections import unread as unread_sections
        from pdebug.model.sections import unread_members

        unread = unread_sections(proxy.dump)
        members = unread_members(proxy.dump, given=ctx.entry_members())
    return CheckReport(proxy.source, unique, skipped, ignored, run, unread, members)


def _entry_members(proxy: ProxyData) -> Any:
    from pdebug.model.sections import entry_members_of

    assert proxy.dump is not None
    return entry_members_of(proxy.dump, _MEMBER_KINDS)


def _one(ctx: Context, chk: Check) -> list[Finding] | Skipped:
    """``chk``'s findings, or why it was skipped."""
    reason = _missing(ctx, chk)
    if reason is not None:
        return Skipped(chk.code, chk.name, reason)
    try:
        return chk.run(ctx)
    except SkipCheck as exc:
        return Skipped(chk.code, chk.name, exc.reason)
    except PdebugError as exc:
        return Skipped(chk.code, chk.name, f"could not read the input: {exc.message}", True)


def _ahead(ctx: Context) -> dict[str, Ran]:
    """The checks of :data:`_AHEAD` run now, each kept for its turn (:class:`Ran`).

    Only in a forked ``check`` (:attr:`Context.ahead`; the child may still be reading
    the routes, and whether it is does not change the order), where the hosts were
    built and the checks' data is there (so that asking for it says nothing and raises
    nothing): then what they read was built by the checks before, and what they say,
    kept with :class:`Ran`, is said in their turn.
    """
    if not ctx.ahead or "hosts" not in vars(ctx):
        return {}
    from pdebug.parallel import Ran

    out = {}
    quiet = [ctx.proxy.dump] if ctx.proxy.dump is not None else []
    for code in _AHEAD:
        chk = BY_CODE[code]
        if code in ctx.options.ignore or not all(
            any(ctx.has(need) for need in group) for group in chk.needs
        ):
            continue
        out[code] = Ran().run(functools.partial(_one, ctx, chk), quiet)
    return out


def parse_codes(values: Iterable[str], known: Iterable[str] | None = None) -> frozenset[str]:
    """``--ignore`` values (repeatable, comma lists, any case) as codes of ``known``.

    ``known`` defaults to the Envoy checks' codes (the ztunnel checks pass theirs).

    Raises:
        UsageError: a value names no check.
    """
    allowed = list(BY_CODE if known is None else known)
    codes: set[str] = set()
    for value in values:
        for part in value.split(","):
            code = part.strip().upper()
            if not code:
                continue
            if code not in allowed:
                raise UsageError(
                    f"--ignore {part.strip()}: no check has this code",
                    hint="codes: " + ", ".join(allowed),
                )
            codes.add(code)
    return frozenset(codes)


def parse_fail_on(text: str) -> Severity | None:
    """``--fail-on`` as the lowest failing severity; ``never`` is None.

    Raises:
        UsageError: not one of error, warning, info, never.
    """
    if text.strip().lower() == "never":
        return None
    try:
        return Severity.parse(text)
    except ValueError:
        raise UsageError(
            f"--fail-on {text}: unknown", hint="use error, warning, info or never"
        ) from None
