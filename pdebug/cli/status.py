"""``pdebug status``: istiod's sync status of every proxy (istioctl proxy-status).

For now it reads a saved answer (``--file``); finding and asking the istiod pods live is
a separate piece of work, and until it lands the command says so instead of guessing.
"""

from __future__ import annotations

import sys
from datetime import datetime
from typing import Annotated

import typer

from pdebug.cli import app
from pdebug.errors import UsageError


@app.command("status")
def status_cmd(
    file: Annotated[
        str | None,
        typer.Option(
            "--file",
            "-f",
            metavar="FILE",
            help="istiod's saved sync status ('-' = stdin, .gz ok): GET :15014/debug/syncz "
            "(an array, or {istiod: array}) or the istio.io/debug/syncz answer "
            "(istioctl proxy-status -o json).",
        ),
    ] = None,
    namespace: Annotated[
        str | None, typer.Option("--namespace", "-n", help="Only proxies in this namespace.")
    ] = None,
    layout: Annotated[
        str,
        typer.Option(
            "--layout",
            metavar="LAYOUT",
            help="fixed (CDS LDS EDS RDS ECDS columns), types (istioctl 1.27's SUBSCRIBED "
            "TYPES) or per-type (istioctl 1.27's -v 1: one column per type).",
        ),
    ] = "fixed",
    output: Annotated[
        str,
        typer.Option(
            "--output", "-o", help="table, wide, json, yaml or markdown.", metavar="FORMAT"
        ),
    ] = "table",
    now: Annotated[
        str | None,
        typer.Option(
            "--now",
            metavar="TIME",
            help="Compute ages as of this RFC 3339 time (e.g. when the file was saved) "
            "instead of the current time.",
        ),
    ] = None,
) -> int:
    """Show whether istiod's config reached each proxy (istioctl proxy-status).

    Per xDS type: SYNCED, NOT SENT, STALE, STALE (Never Acknowledged), ERROR or IGNORED.
    Wide adds which types are out of sync, since when, and istiod's last error.

    Example: pdebug status --file syncz.json -n default -o wide
    """
    from pdebug.model.syncz import parse_syncz
    from pdebug.render import get_format
    from pdebug.sources.file import read_file
    from pdebug.views import status as v

    fmt = get_format(output)
    shape = v.normalize_layout(layout)
    if shape is None:
        raise UsageError(f"unknown layout {layout!r}", hint="use one of: " + ", ".join(v.LAYOUTS))
    when = _parse_now(now)
    if file is None:
        raise UsageError(
            "live istiod discovery is not available yet; use --file",
            hint="save istiod's answer: kubectl -n istio-system port-forward deploy/istiod "
            "15014, then curl -s localhost:15014/debug/syncz > syncz.json",
        )
    data, label = read_file(file)
    result = v.view(parse_syncz(data, label), v.StatusFilter(namespace), shape, when)
    sys.stdout.write(fmt.render(result))
    sys.stdout.flush()
    if result.note:
        print(result.note, file=sys.stderr)
    return 0


for _alias in ("proxy-status", "ps"):  # istioctl's names
    app.command(_alias, hidden=True)(status_cmd)


def _parse_now(text: str | None) -> datetime | None:
    """``--now`` as an aware datetime, or None for the current time."""
    if text is None:
        return None
    from pdebug.errors import InvalidInput
    from pdebug.model.syncz import parse_time

    try:
        return parse_time(text)
    except InvalidInput:
        raise UsageError(
            f"--now: {text!r} is not an RFC 3339 time", hint="e.g. --now 2024-03-04T08:37:44Z"
        ) from None
