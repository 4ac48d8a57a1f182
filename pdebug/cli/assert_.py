"""``pdebug assert FILE SOURCE...``: check a runbook's expectations on proxies."""

from __future__ import annotations

import sys
import time
from typing import Annotated

import typer

from pdebug.cli.options import (
    MAX_SECONDS,
    istiod_options,
    live_options,
    words_of,
)
from pdebug.errors import ExitCode, UsageError
from pdebug.sources.base import IstiodChoice, LiveOptions


@live_options()
@istiod_options()
def assert_cmd(
    file: Annotated[
        str | None,
        typer.Argument(
            metavar="FILE", help="The expectations file (YAML; '-' for stdin).", show_default=False
        ),
    ] = None,
    sources: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="SOURCE...",
            help="Dumps, bundles (each proxy), admin URLs, pods, workloads (each pod).",
            show_default=False,
        ),
    ] = None,
    output: Annotated[
        str,
        typer.Option(
            "--output", "-o", help="table, wide, json, yaml, markdown or junit.", metavar="FORMAT"
        ),
    ] = "table",
    selector: Annotated[
        str | None,
        typer.Option("--selector", "-l", help="Every sidecar pod matching it.", metavar="SELECTOR"),
    ] = None,
    var: Annotated[
        list[str] | None,
        typer.Option(
            "--var", help="Set a variable of the file (repeatable).", metavar="NAME=VALUE"
        ),
    ] = None,
    watch: Annotated[
        float | None,
        typer.Option(
            "--watch",
            help="Judge again every SECONDS until everything passes (or --count runs).",
            metavar="SECONDS",
            min=0.1,
            max=MAX_SECONDS,
        ),
    ] = None,
    count: Annotated[
        int, typer.Option("--count", help="With --watch: at most N runs.", metavar="N", min=1)
    ] = 10,
    parallel: Annotated[
        int, typer.Option("--parallel", help="Pods read at once.", metavar="N", min=1, max=64)
    ] = 8,
    now: Annotated[
        str | None,
        typer.Option(
            "--now", help="Judge certificates as of this time (RFC 3339).", metavar="TIME"
        ),
    ] = None,
    schema: Annotated[
        bool, typer.Option("--schema", help="Print the expectations file's JSON Schema.")
    ] = False,
    *,
    control: IstiodChoice,
    live: LiveOptions,
) -> int:
    """Check what must be true of proxies, written once in an expectations file.

    Expectations: a request and where it must land (cluster, weights, healthy endpoints,
    status, redirect), a resource and conditions on its fields, check codes that must
    not appear, certificate lifetimes, istiod sync state. Each is judged on every proxy
    it applies to; WHY quotes trace, check or the fields found. Exit 0 when everything
    passes, 1 when an expectation fails, 3 when a proxy cannot be reached, 4 when an
    expectation cannot be judged on its input (or the file is invalid).

    Example: pdebug assert runbook.yaml snapshot.tar.gz -o junit > report.xml

    Example: pdebug assert runbook.yaml -n shop -l app=web --watch 10 --count 30

    Example: pdebug assert --schema > pdebug-expectations.schema.json
    """
    if schema:
        import json

        from pdebug.runbook.load import schema as get_schema

        sys.stdout.write(json.dumps(get_schema(), indent=2) + "\n")
        return ExitCode.OK
    if file is None:
        raise UsageError(
            "missing FILE", hint="pdebug assert RUNBOOK.yaml SOURCE... (see --help and --schema)"
        )
    from pdebug.render import get_format
    from pdebug.runbook import evaluate as ev
    from pdebug.runbook import targets
    from pdebug.runbook.load import load
    from pdebug.views import runbook as v

    junit = output.lower() == "junit"
    fmt = None if junit else get_format(output)
    overrides = {}
    for item in var or []:
        name, eq, value = item.partition("=")
        if not eq or not name:
            raise UsageError(f"--var {item!r}: expected NAME=VALUE")
        overrides[name] = value
    when = None
    if now is not None:
        from datetime import datetime

        try:
            when = datetime.fromisoformat(now.replace("Z", "+00:00"))
        except ValueError:
            raise UsageError(f"--now {now!r} is not an RFC 3339 time") from None
    if file == "-" and "-" in (sources or []):
        raise UsageError(
            "stdin ('-') can be read only once: pass it for the expectations file or a SOURCE",
            hint="save one to a file: pdebug assert - saved.json < runbook.yaml",
        )
    book = load(file, overrides)
    label = "stdin" if file == "-" else file
    for exp in book.expectations:  # a request that cannot be sent is the file's mistake
        if exp.kind == "request":
            from pdebug.errors import InvalidInput

            try:
                ev.request_of(exp)
            except UsageError as exc:
                raise InvalidInput(f"{exp.where}: {exp.name}: {exc.message}") from None
    options = live
    specs = words_of(sources)  # parsed at the edge: a malformed admin URL is a usage error
    selection = targets.Selection(specs, live.namespace, selector, parallel)
    runs = count if watch else 1
    wants_sync = any(e.kind == "sync" for e in book.expectations)
    for run in range(1, runs + 1):
        proxies, unreachable = targets.gather(selection, options)
        reached = any(not targets.is_file(t) for t in selection.sources)
        if wants_sync and (reached or not selection.sources or control.url):
            targets.add_sync(proxies, options, control)
        results = ev.evaluate(book, proxies, when)
        counts = ev.summary(results)
        done = counts[ev.FAIL] == 0 and counts[ev.ERROR] == 0
        if watch and not done and run < runs:
            print(f"run {run}/{runs}: {v.summary_line(results)}", file=sys.stderr)
            time.sleep(watch)
            continue
        break
    if junit:
        sys.stdout.write(v.junit(label, results))
    else:
        assert fmt is not None
        sys.stdout.write(fmt.render(v.view(label, results)))
    if unreachable:
        return ExitCode.SOURCE_UNAVAILABLE
    if counts[ev.ERROR]:
        return ExitCode.INVALID_INPUT
    return ExitCode.FINDINGS if counts[ev.FAIL] else ExitCode.OK
