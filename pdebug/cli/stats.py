"""``pdebug stats``: Envoy's statistics, filtered (istioctl experimental envoy-stats)."""

from __future__ import annotations

from typing import Annotated

import typer

from pdebug.cli.options import (
    OutputOpt,
    ProxyOptions,
    proxy_options,
)


@proxy_options()
def stats_cmd(
    filter: Annotated[  # noqa: A002 - the option's name
        str | None,
        typer.Option(
            "--filter",
            help="Only stats whose name matches this regular expression (searched anywhere).",
            metavar="REGEX",
        ),
    ] = None,
    output: OutputOpt = "table",
    *,
    proxy: ProxyOptions,
) -> int:
    """Show Envoy's statistics, e.g. the update_rejected counters a dump cannot show.

    A live proxy is asked for /stats?format=json; a file may be a saved /stats,
    /stats?format=json or /stats/prometheus; a pdebug dump or snapshot bundle carries
    the stats it captured: by default those written since the proxy started (a stat
    not there is zero; the command says so). Wide adds the TYPE (Prometheus input says it).

    Example: pdebug stats pod/productpage-v1-abc -n default --filter update_rejected

    Example: pdebug stats snapshot.tar.gz:web-1.shop --filter '^cluster_manager' -o json
    """
    import sys

    from pdebug.render import get_format
    from pdebug.views import stats as v
    from pdebug.views.table import Table

    fmt = get_format(output)
    v.select([], filter)  # a bad --filter is a usage error before any I/O
    from pdebug.sources import open_source
    from pdebug.sources.spec import spec_of

    with open_source(spec_of(proxy.words), proxy.live) as source:
        body, label = source.get("/stats?format=json"), source.label
        # a bundle saved with only the stats written (SourceBase.stats_saved: known once read)
        usedonly = getattr(source, "stats_saved", None) == "usedonly"
    stats = v.parse(body, label)
    result = v.view(stats, filter, usedonly)
    text = fmt.render(result)
    if text:
        sys.stdout.write(text)
        sys.stdout.flush()
    note = result.note
    if note is None and isinstance(result.table, Table) and not result.table.rows:
        note = result.table.empty_message  # as every other view says it
    if note and (not fmt.structured or usedonly):  # what the bundle lacks, in any format
        print(note, file=sys.stderr)
    unknown = v.unknown_note(stats, filter, label)
    if unknown:
        print(unknown, file=sys.stderr)
    return 0
