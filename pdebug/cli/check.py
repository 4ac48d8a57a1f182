"""``pdebug check``: run health checks on one proxy and print findings."""

from __future__ import annotations

from pdebug.cli.options import (
    CertDaysOpt,
    ClustersJsonOpt,
    FailOnOpt,
    IgnoreOpt,
    OutputOpt,
    ProxyOptions,
    proxy_options,
)


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
    from pdebug.cli import _run

    return _run.check(proxy, fail_on, ignore, cert_days, output, clusters_json)
