"""``pdebug check``: run health checks on one proxy and print findings."""

from __future__ import annotations

import sys

from pdebug.checks.base import BundleChecks
from pdebug.cli.options import (
    CertDaysOpt,
    ClustersJsonOpt,
    FailOnOpt,
    IgnoreOpt,
    OutputOpt,
    ProxyOptions,
    proxy_options,
)
from pdebug.errors import ExitCode


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
    from pdebug.checks import BY_CODE, CheckOptions, parse_codes, parse_fail_on
    from pdebug.examine import check_source
    from pdebug.render import get_format
    from pdebug.views import check as v

    fmt = get_format(output)
    threshold = parse_fail_on(fail_on)
    known: list[str] = []
    if ignore:  # which kind of dump it is is known only later
        from pdebug.checks import ztunnel as zchecks

        known = [*BY_CODE, *zchecks.BY_CODE]
    options = CheckOptions(cert_days=cert_days, ignore=parse_codes(ignore or [], known))
    result = check_source(proxy.words, proxy.live, options, clusters_json)
    if isinstance(result, BundleChecks):
        view = v.bundle_view(result.checks, result.path, threshold)
    else:
        view = v.view(result, fmt.wide, threshold)
    sys.stdout.write(fmt.render(view))
    error = result.error()  # after the table: one damaged proxy never hides the others
    if error is not None:
        raise error
    return ExitCode.FINDINGS if result.fails(threshold) else ExitCode.OK
