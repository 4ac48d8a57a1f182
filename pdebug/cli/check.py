"""``pdebug check``: run health checks on one proxy and print findings."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from pdebug.cli.options import (
    CertDaysOpt,
    ClustersJsonOpt,
    FailOnOpt,
    IgnoreOpt,
    OutputOpt,
    ProxyOptions,
    file_of,
    proxy_options,
)
from pdebug.errors import ExitCode, InvalidInput, SourceUnavailable, ZtunnelDumpGiven
from pdebug.sources.base import LiveOptions

if TYPE_CHECKING:
    from pdebug.checks import CheckOptions, CheckReport, Severity
    from pdebug.render import Format
    from pdebug.sources.spec import FileSpec, SourceSpec


@proxy_options()
def check_cmd(
    fail_on: FailOnOpt = "warning",
    ignore: IgnoreOpt = None,
    cert_days: CertDaysOpt = 7.0,
    output: OutputOpt = "table",
    clusters_json: ClustersJsonOpt = None,
    *,
    proxy: ProxyOptions,
) -> int:
    """Check a proxy for rejected or warming config, unhealthy endpoints, expiring certs.

    Each finding has a stable code (PD101...), a severity, the resource, what is wrong and
    a hint. Endpoint health and ejections need /clusters?format=json: a live proxy is asked
    for it, a saved dump needs --clusters-json FILE (those checks are skipped otherwise).
    A bundle of several proxies (pdebug snapshot) is checked proxy by proxy, with one
    summary row each (PROXY ERRORS WARNINGS TOP FINDING), worst first.
    Exit 0 when clean, 1 when a finding reaches --fail-on, >1 on error.

    Example: pdebug check dump.json --clusters-json clusters.json

    Example: pdebug check pod/productpage-v1-abc -n default --ignore PD602 -o json

    Example: pdebug check snapshot.tar.gz --fail-on error

    A ztunnel dump (Istio ambient) gets the PD7xx checks: certificates, waypoints,
    services without endpoints, policies that deny everything, HBONE/TCP mismatches.
    """
    from pdebug.checks import CheckOptions, parse_codes, parse_fail_on, run_checks
    from pdebug.proxy import Fetch, load_proxy
    from pdebug.render import get_format
    from pdebug.views import check as v

    fmt = get_format(output)
    threshold = parse_fail_on(fail_on)
    from pdebug.checks import BY_CODE
    from pdebug.checks import ztunnel as zchecks

    known = [*BY_CODE, *zchecks.BY_CODE]  # which kind of dump it is is known only later
    options = CheckOptions(cert_days=cert_days, ignore=parse_codes(ignore or [], known))
    spec, live = proxy.spec(), proxy.live
    whole = _several(spec)
    if whole is not None:
        return _check_bundle(whole, fmt, threshold, options, clusters_json)
    fetch = Fetch.checks(stats=True)
    try:
        data = load_proxy(spec, live, fetch, file_of(clusters_json))
    except ZtunnelDumpGiven:
        report = _ztunnel_report(spec, live, options)
    else:
        report = run_checks(data, options)
    sys.stdout.write(fmt.render(v.view(report, fmt.wide, threshold)))
    if report.inconclusive:
        raise InvalidInput("some checks could not read the input")
    return ExitCode.FINDINGS if report.fails(threshold) else ExitCode.OK


def _several(spec: SourceSpec) -> FileSpec | None:
    """A whole bundle of several proxies (checked proxy by proxy), else None."""
    from pdebug.sources.spec import FileSpec

    if not isinstance(spec, FileSpec):
        return None
    from pdebug.sources.bundle import multi_manifest

    return spec if multi_manifest(spec.path) is not None else None


def _ztunnel_report(spec: SourceSpec, live: LiveOptions, options: CheckOptions) -> CheckReport:
    """The ``PD7xx`` checks of a ztunnel (ambient) dump, read again as one."""
    from pdebug.checks import ztunnel as zchecks
    from pdebug.model.ztunnel import parse
    from pdebug.sources import open_source

    with open_source(spec, live) as source:
        dump = parse(source.get("/config_dump"), source.label)
    return zchecks.run(dump, options)


def _check_bundle(
    whole: FileSpec,
    fmt: Format,
    threshold: Severity | None,
    options: CheckOptions,
    clusters_json: str | None,
) -> int:
    """Every proxy of a bundle: the summary table, exit as for one proxy."""
    from pdebug.checks import run_checks
    from pdebug.errors import UsageError
    from pdebug.report.inputs import read_inputs
    from pdebug.views import bundlecheck as v

    path = whole.path
    if clusters_json is not None:
        raise UsageError(
            f"--clusters-json is one proxy's; {path} holds several",
            hint=f"pick one: {path}:NAME (a bundle carries each proxy's /clusters)",
        )
    inputs = read_inputs(whole)
    checks = []
    for proxy in inputs.proxies:
        info = inputs.info[proxy.source]
        name = info.name or proxy.source
        if proxy.dump is None and proxy.health is None:
            checks.append(v.ProxyCheck(name, None, info.errors, info.unreadable))
        else:
            checks.append(v.ProxyCheck(name, run_checks(proxy, options), info.errors))
    for name, dump in inputs.ztunnels:  # a snapshot --ambient: the ztunnels' PD7xx checks
        from pdebug.checks import ztunnel as zchecks

        if isinstance(dump, str):
            checks.append(v.ProxyCheck(name, None, (), dump))
        else:
            checks.append(v.ProxyCheck(name, zchecks.run(dump, options)))
    sys.stdout.write(fmt.render(v.view(checks, path, threshold)))
    # Errors come after the table: one damaged or missing proxy never hides the others.
    unreadable = [c for c in checks if c.unreadable is not None]
    if unreadable:
        first = unreadable[0]
        more = f" and {len(unreadable) - 1} more" if len(unreadable) > 1 else ""
        raise InvalidInput(
            f"{path}: cannot read the documents of {first.name} ({first.unreadable}){more}; "
            "the other proxies were checked",
            hint=f"its saved documents are damaged; capture it again if you can "
            f"(pdebug snapshot {first.name})",
        )
    if not any(c.report is not None for c in checks):
        raise SourceUnavailable(
            f"{path}: nothing to check: none of its {len(checks)} proxies was captured",
            hint="take another snapshot; each proxy's capture error is in the table",
        )
    if any(c.report is not None and c.report.inconclusive for c in checks):
        raise InvalidInput("some checks could not read the input")
    return ExitCode.FINDINGS if any(c.fails(threshold) for c in checks) else ExitCode.OK
