"""``pdebug status``: istiod's sync status of every proxy (istioctl proxy-status).

Live, it asks ``/debug/syncz`` of every istiod replica (found as istioctl finds them, see
:mod:`pdebug.sources.istiod`) and merges their answers: each replica only knows the
proxies connected to it. ``--file`` reads a saved answer instead.
"""

from __future__ import annotations

import sys
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import typer

from pdebug.cli.options import OutputOpt, istiod_options, live_options
from pdebug.errors import UsageError
from pdebug.sources.base import IstiodChoice, LiveOptions

if TYPE_CHECKING:
    from pdebug.model.syncz import SyncDocument


@live_options(namespace=False, pod=False)
@istiod_options()
def status_cmd(
    file: Annotated[
        str | None,
        typer.Option(
            "--file",
            "-f",
            metavar="FILE",
            help="istiod's saved sync status ('-' = stdin, .gz ok): GET :15014/debug/syncz "
            "(an array, or {istiod: array}) or the istio.io/debug/syncz answer "
            "(istioctl proxy-status -o json or -o yaml), or a pdebug snapshot bundle (.tar.gz or "
            "--dir directory): the answers it recorded.",
        ),
    ] = None,
    namespace: Annotated[
        str | None,
        typer.Option("--namespace", "-n", help="Only proxies in this namespace.", metavar="NS"),
    ] = None,
    layout: Annotated[
        str,
        typer.Option(
            "--layout",
            metavar="LAYOUT",
            help="auto (default: istioctl's table for the answer: types for the xDS sync "
            "status, fixed for the legacy HTTP one), fixed (CDS LDS EDS RDS ECDS columns), "
            "types (istioctl 1.27's SUBSCRIBED TYPES) or per-type (istioctl 1.27's -v 1: one "
            "column per type).",
        ),
    ] = "auto",
    output: OutputOpt = "table",
    now: Annotated[
        str | None,
        typer.Option(
            "--now",
            metavar="TIME",
            help="Compute ages as of this RFC 3339 time (e.g. when the file was saved) "
            "instead of the current time.",
        ),
    ] = None,
    *,
    control: IstiodChoice,
    live: LiveOptions,
) -> int:
    """Show whether istiod's config reached each proxy (istioctl proxy-status).

    Asks every istiod replica (app=istiod pods in --istio-namespace, through port-forwards)
    and merges their answers; --file reads a saved answer (or a snapshot bundle's) instead.
    Per xDS type: SYNCED, NOT SENT, STALE, STALE (Never Acknowledged), ERROR or IGNORED;
    STALE is a push the proxy has not acknowledged (slow, or it rejected it: pdebug diff
    POD says why). Wide adds which types are out of sync, since when, and istiod's last
    error; the SUBSCRIBED TYPES table shows no state, so a line on stderr names the
    proxies out of sync.

    Example: pdebug status -n default -o wide

    Example: pdebug status --file syncz.json --layout types
    """
    from pdebug.render import get_format
    from pdebug.views import status as v

    fmt = get_format(output)
    shape = v.normalize_layout(layout)
    if shape is None:
        raise UsageError(f"unknown layout {layout!r}", hint="use one of: " + ", ".join(v.LAYOUTS))
    when = _parse_now(now)
    missing: list[str] = []  # one line per istiod replica that did not answer
    if file is not None:
        asking = [f for f, x in (("--istiod", control.url), ("--revision", control.revision)) if x]
        asking += ["--istio-namespace"] if control.namespace else []
        if asking:
            verb = "is" if len(asking) == 1 else "are"
            raise UsageError(
                f"--file reads a saved answer; {', '.join(asking)} {verb} for asking istiod live",
                hint="drop --file to ask istiod live, or drop " + ", ".join(asking),
            )
        from pdebug.sources.istiod import saved_syncz

        doc, missing = saved_syncz(file)
    else:
        from pdebug.errors import SourceUnavailable

        try:
            doc, missing = _live(control, live)
        except SourceUnavailable as exc:
            if "kubeconfig" not in exc.message.lower():
                raise
            # No cluster to ask: the other way to use status is a saved answer.
            raise SourceUnavailable(
                exc.message,
                hint=f"{(exc.hint or '').split('; or read a saved dump')[0]}; or read a saved "
                "answer: pdebug status --file syncz.json "
                "(istiod's :15014/debug/syncz) or --file snapshot.tar.gz",
            ) from exc
    result = v.view(doc, v.StatusFilter(namespace), shape, when, fmt.wide or fmt.structured)
    sys.stdout.write(fmt.render(result))
    sys.stdout.flush()
    if result.note:
        print(result.note, file=sys.stderr)
    for line in missing:
        print(line, file=sys.stderr)
    return 0


def _live(control: IstiodChoice, options: LiveOptions) -> tuple[SyncDocument, list[str]]:
    """Every istiod replica's /debug/syncz, merged; and a line per replica that failed.

    A replica that cannot be asked does not fail the command (istioctl's does): the others'
    proxies are shown, and the line says whose are missing. If none answers, its error is
    raised.
    """
    from pdebug.sources.istiod import Istiod

    istiod = Istiod.of(control, options)
    try:
        result = istiod.syncz()
        label = istiod.describe()
    finally:
        istiod.close()
    missing = [
        f"{f.replica}: {f.reason}; proxies connected to it are missing from the table"
        for f in result.failures
    ]
    return result.document(label), missing


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
