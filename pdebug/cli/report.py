"""``pdebug report``: one self-contained HTML file for an incident ticket."""

from __future__ import annotations

import dataclasses
import sys
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
from pdebug.errors import ExitCode, InvalidInput


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
    from pdebug.checks import CheckOptions, parse_codes
    from pdebug.errors import UsageError
    from pdebug.inputs import read_proxies
    from pdebug.report import (
        ReportMeta,
        check_output,
        render_page_bytes,
        report_data,
        write_report,
    )
    from pdebug.report.ambient import ambient_capture

    if not output:
        raise UsageError("missing -o FILE", hint="e.g. pdebug report dump.json -o report.html")
    from pdebug.cli.habits import file_output

    file_output("report", output)
    check_output(output)
    options = CheckOptions(cert_days=cert_days, ignore=parse_codes(ignore or []))
    inputs = read_proxies(proxy.words, proxy.live, clusters_json)
    meta = ReportMeta(
        inputs.named,
        title,
        capture=inputs.capture,
        proxies=inputs.info,
        ambient=ambient_capture(inputs),
    )
    from pdebug.views.wide import table_builders  # the one place views join the page

    doc = report_data(
        inputs.proxies, dataclasses.replace(meta, options=options, table_builders=table_builders)
    )
    page = render_page_bytes(doc)
    write_report(output, page)
    from pdebug.cli import linger

    linger(inputs, doc, page)  # not freed one by one on return, only to end the process
    n = len(inputs.proxies)
    if output != "-":
        print(f"wrote {output} ({n} prox{'y' if n == 1 else 'ies'})", file=sys.stderr)
    unreadable = [(i.name, i.unreadable) for i in inputs.info.values() if i.unreadable]
    if unreadable:
        name, why = unreadable[0]
        more = f" and {len(unreadable) - 1} more" if len(unreadable) > 1 else ""
        raise InvalidInput(
            f"{inputs.named}: cannot read the documents of {name} ({why}){more}; "
            "the report shows the other proxies"
        )
    if any(p["checks"]["inconclusive"] for p in doc["proxies"]):
        raise InvalidInput("some checks could not read the input")
    return ExitCode.OK
