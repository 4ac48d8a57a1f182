"""``pdebug report``: one self-contained HTML file for an incident ticket."""

from __future__ import annotations

from typing import Annotated

import typer

from pdebug.cli.options import (
    CertDaysOpt,
    ClustersJsonOpt,
    IgnoreOpt,
    ProxyOptions,
    output_file_option,
    proxy_options,
)


@proxy_options(bundle=False)
def report_cmd(
    output: Annotated[
        str,
        output_file_option(
            "The HTML file to write (required; written atomically); '-' for stdout.",
        ),
    ] = "",
    title: Annotated[
        str | None,
        typer.Option("--title", metavar="TEXT", help="Page title, e.g. the incident number."),
    ] = None,
    clusters_json: ClustersJsonOpt = None,
    ignore: IgnoreOpt = None,
    cert_days: CertDaysOpt = 7.0,
    *,
    proxy: ProxyOptions,
) -> int:
    """Write one self-contained HTML report of a proxy, or of every proxy in a bundle.

    The page has a summary (versions, node, counts, endpoint health, sync state), the
    check findings, sortable and filterable wide tables (clusters, listeners, routes,
    endpoints, certificates) and a topology of listeners -> routes -> virtual hosts ->
    clusters -> endpoints coloured by health. No network, no secrets, no raw dump.

    Example: pdebug report dump.json --clusters-json clusters.json -o report.html

    Example: pdebug report bundle.tar.gz --title 'INC-1234' -o incident.html
    """
    from pdebug.cli import _run, linger

    return _run.report(
        proxy,
        output=output,
        title=title,
        clusters_json=clusters_json,
        ignore=ignore,
        cert_days=cert_days,
        keep=linger,
    )
