"""``pdebug check``: run health checks on one proxy and print findings."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from pdebug.cli import app
from pdebug.cli.views import (
    AdminOpt,
    AdminPortOpt,
    ClustersJsonOpt,
    ContainerOpt,
    ContextOpt,
    KubeconfigOpt,
    NamespaceOpt,
    OutputOpt,
    SourceArg,
    TimeoutOpt,
)
from pdebug.errors import ExitCode

FailOnOpt = Annotated[
    str,
    typer.Option(
        "--fail-on",
        help="Exit 1 when a finding is at or above: error, warning, info or never.",
        metavar="LEVEL",
    ),
]
IgnoreOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--ignore", help="Do not run this check (repeatable, or CODE,CODE).", metavar="CODE"
    ),
]
CertDaysOpt = Annotated[
    float,
    typer.Option(
        "--cert-days", help="Warn about certificates expiring within N days.", min=0, metavar="N"
    ),
]
#: Sections a live proxy may leave out when it has none of them.
_KINDS = ("listeners", "clusters", "routes", "endpoints", "secrets")


@app.command("check")
def check_cmd(
    source: SourceArg = None,
    fail_on: FailOnOpt = "warning",
    ignore: IgnoreOpt = None,
    cert_days: CertDaysOpt = 7.0,
    output: OutputOpt = "table",
    clusters_json: ClustersJsonOpt = None,
    admin: AdminOpt = None,
    namespace: NamespaceOpt = None,
    context: ContextOpt = None,
    kubeconfig: KubeconfigOpt = None,
    admin_port: AdminPortOpt = 15000,
    container: ContainerOpt = "istio-proxy",
    timeout: TimeoutOpt = 30.0,
) -> int:
    """Check a proxy for rejected or warming config, unhealthy endpoints, expiring certs.

    Each finding has a stable code (PD101...), a severity, the resource, what is wrong and
    a hint. Endpoint health and ejections need /clusters?format=json: a live proxy is asked
    for it, a saved dump needs --clusters-json FILE (those checks are skipped otherwise).
    Exit 0 when clean, 1 when a finding reaches --fail-on, >1 on error.

    Example: pdebug check dump.json --clusters-json clusters.json

    Example: pdebug check pod/productpage-v1-abc -n default --ignore PD602 -o json
    """
    from pdebug.checks import CheckOptions, parse_codes, parse_fail_on, run_checks
    from pdebug.cli._run import Fetch, Target, load_proxy
    from pdebug.render import get_format
    from pdebug.sources import LiveOptions
    from pdebug.views import check as v

    fmt = get_format(output)
    threshold = parse_fail_on(fail_on)
    options = CheckOptions(cert_days=cert_days, ignore=parse_codes(ignore or []))
    live = LiveOptions(timeout, namespace, context, kubeconfig, admin_port, container)
    fetch = Fetch(kinds=_KINDS, include_eds=True, health=True)
    proxy = load_proxy(Target.of(source, admin, live), fetch, clusters_json)
    report = run_checks(proxy, options)
    sys.stdout.write(fmt.render(v.view(report, fmt.wide, threshold)))
    if report.inconclusive:
        print("pdebug: error: some checks could not read the input", file=sys.stderr)
        return ExitCode.INVALID_INPUT
    return ExitCode.FINDINGS if report.fails(threshold) else ExitCode.OK
