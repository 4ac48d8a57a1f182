"""``pdebug diff``: compare a proxy with istiod's view, an expected file, or another dump."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from pdebug.cli import app
from pdebug.cli.views import (
    AdminPortOpt,
    ContainerOpt,
    ContextOpt,
    KubeconfigOpt,
    NamespaceOpt,
    OutputOpt,
    TimeoutOpt,
)
from pdebug.errors import ExitCode, UsageError


@app.command("diff")
def diff_cmd(
    source: Annotated[
        str,
        typer.Argument(
            metavar="SOURCE", help="The proxy: a dump file, admin URL or pod.", show_default=False
        ),
    ],
    other: Annotated[
        str | None,
        typer.Argument(
            metavar="[OTHER]",
            help="A second dump/URL/pod: compare SOURCE (before) with OTHER (after).",
            show_default=False,
        ),
    ] = None,
    expected: Annotated[
        str | None,
        typer.Option(
            "--expected",
            help="A saved istiod /debug/config_dump answer to compare to.",
            metavar="FILE",
        ),
    ] = None,
    include: Annotated[
        list[str] | None,
        typer.Option(
            "--include", help="Also compare: secrets, endpoints, static (repeatable or comma list)."
        ),
    ] = None,
    ignore: Annotated[
        str | None,
        typer.Option(
            "--ignore", help="Drop differing field paths matching this regex.", metavar="REGEX"
        ),
    ] = None,
    unified: Annotated[
        bool, typer.Option("--unified", help="Print unified JSON diffs like istioctl.")
    ] = False,
    output: OutputOpt = "table",
    namespace: NamespaceOpt = None,
    context: ContextOpt = None,
    kubeconfig: KubeconfigOpt = None,
    admin_port: AdminPortOpt = 15000,
    container: ContainerOpt = "istio-proxy",
    timeout: TimeoutOpt = 30.0,
) -> int:
    """Say which resources and fields differ between two views of a proxy's config.

    First istioctl's verdicts (Clusters/Listeners/Routes Match or Don't Match), then each
    resource only on one side, each changed field as old -> new, and why Envoy rejected
    an update when it did. Exit 0 when the same, 1 when different, >1 on error.

    Example: pdebug diff before.json after.json

    Example: pdebug diff dump.json --expected istiod-view.json --include secrets
    """
    from pdebug import diff as d
    from pdebug.cli._run import Fetch, Target, load_proxy
    from pdebug.render import get_format
    from pdebug.sources import LiveOptions
    from pdebug.views import diffreport

    fmt = get_format(output)
    kinds = list(d.DEFAULT_KINDS)
    include_static = False
    for item in ",".join(include or []).split(","):
        item = item.strip().lower()
        if not item:
            continue
        if item == "static":
            include_static = True
        elif item in ("secrets", "endpoints"):
            kinds.append(item)
        else:
            raise UsageError(f"--include {item}: unknown", hint="use secrets, endpoints or static")
    if other and expected:
        raise UsageError("give OTHER or --expected, not both")
    if not other and not expected:
        raise UsageError(
            "comparing with istiod live is not available yet",
            hint="save istiod's view (/debug/config_dump?proxyID=POD.NS on istiod:15014) and "
            "pass it with --expected FILE, or compare two dumps: pdebug diff A B",
        )
    options = LiveOptions(timeout, namespace, context, kubeconfig, admin_port, container)
    fetch = Fetch(include_eds="endpoints" in kinds)
    if expected:
        left = load_proxy(Target.of(expected, None, options), fetch)
        right = load_proxy(Target.of(source, None, options), fetch)
        labels = (f"expected ({left.source})", f"Envoy ({right.source})")
    else:
        left = load_proxy(Target.of(source, None, options), fetch)
        right = load_proxy(Target.of(other, None, options), fetch)
        labels = (left.source, right.source)
    left_dump = left.need_dump("diff")
    right_dump = right.need_dump("diff")
    report = d.compare(left_dump, right_dump, kinds, include_static, ignore, *labels)
    text = None
    if unified:
        sides = {
            k: (d.collect(left_dump, k, include_static), d.collect(right_dump, k, include_static))
            for k in kinds
        }
        text = diffreport.unified(report, sides)
    out = fmt.render(diffreport.view(report, text))
    sys.stdout.write(out if out.endswith("\n") else out + "\n")
    return ExitCode.OK if report.same else ExitCode.FINDINGS
