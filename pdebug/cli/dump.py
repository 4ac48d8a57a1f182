"""``pdebug dump``: save what offline analysis needs from a live proxy, redacted."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from pdebug.cli.options import (
    AllStatsOpt,
    NoRedactOpt,
    live_options,
    output_file_option,
)
from pdebug.errors import ExitCode
from pdebug.sources.base import LiveOptions


@live_options(timeout=60.0, max_body=True)
def dump_cmd(
    source: Annotated[
        str,
        typer.Argument(
            metavar="SOURCE",
            help="An Envoy admin URL or a pod (pod/NAME, NAME.NS).",
            show_default=False,
        ),
    ],
    output: Annotated[
        str,
        output_file_option(
            "Where to write: NAME.tar.gz (a bundle: dump, /clusters, /server_info, "
            "/stats) or NAME.json (the config dump only); '-' for stdout (a bundle).",
        ),
    ],
    force: Annotated[
        bool,
        typer.Option("--force", help="Replace the -o file if it exists (refused otherwise)."),
    ] = False,
    no_redact: NoRedactOpt = False,
    all_stats: AllStatsOpt = False,
    *,
    live: LiveOptions,
) -> int:
    """Save a proxy's config_dump?include_eds, /clusters, /server_info, /stats?usedonly for later.

    The stats are those written since the proxy started (a stat not saved is zero;
    --all-stats saves every one). Every view, diff, check and stats accepts the result
    as SOURCE (stats shows the update_rejected counters a dump cannot). Secrets are
    redacted: Envoy already hides private keys; pdebug also hides JWTs, bearer tokens
    and authorization / cookie header values. The write is atomic; an existing -o file
    is kept unless --force.

    Example: pdebug dump pod/productpage-v1-abc -n default -o productpage.tar.gz
    """
    import contextlib

    from pdebug.cli.habits import file_output, refuse_terminal, stdout_file
    from pdebug.snapshot.dump import capture_one

    file_output("dump", output)
    # -o -: the bundle on stdout, as report -o - writes the page there; a terminal is
    # refused once SOURCE is parsed, as it always was
    to_stdout = output == "-"
    target = (
        stdout_file("dump", ".tar.gz", checked=True)
        if to_stdout
        else contextlib.nullcontext(output)
    )
    with target as path:
        summary = capture_one(
            source,
            path,
            live,
            redact=not no_redact,
            force=force,
            all_stats=all_stats,
            before_read=(lambda: refuse_terminal("dump", ".tar.gz")) if to_stdout else None,
        )
    print(summary.replace(path, "stdout") if path != output else summary, file=sys.stderr)
    return ExitCode.OK
