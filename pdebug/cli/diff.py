"""``pdebug diff``: compare a proxy with istiod's view, an expected file, or another dump."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from pdebug.cli import app
from pdebug.cli.views import (
    AdminPortOpt,
    BundleOpt,
    ContainerOpt,
    ContextOpt,
    IstiodOpt,
    IstioNamespaceOpt,
    KubeconfigOpt,
    NamespaceOpt,
    OutputOpt,
    ProxyIdOpt,
    RevisionOpt,
    TimeoutOpt,
)
from pdebug.errors import ExitCode, UsageError, ZtunnelDumpGiven

if TYPE_CHECKING:
    from pdebug.render import Format
    from pdebug.sources import LiveOptions


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
            "--include",
            help="Also compare: secrets, endpoints, static (repeatable or comma list).",
            metavar="KINDS",
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
    istio_namespace: IstioNamespaceOpt = None,
    revision: RevisionOpt = None,
    istiod: IstiodOpt = None,
    proxy_id: ProxyIdOpt = None,
    bundle: BundleOpt = None,
    namespace: NamespaceOpt = None,
    context: ContextOpt = None,
    kubeconfig: KubeconfigOpt = None,
    admin_port: AdminPortOpt = 15000,
    container: ContainerOpt = "istio-proxy",
    timeout: TimeoutOpt = 30.0,
) -> int:
    """Say which resources and fields differ between two views of a proxy's config.

    With SOURCE alone, compares the proxy with istiod's view of it (istioctl proxy-status
    POD): pdebug finds the istiod pods, asks each for /debug/config_dump?proxyID=POD.NS and
    takes the first that knows the proxy. A bundle member (BUNDLE:POD.NS, --bundle) is
    compared with the istiod view the snapshot recorded. Or compare with OTHER, or with
    --expected FILE.

    First istioctl's verdicts (Clusters/Listeners/Routes Match or Don't Match), then each
    resource only on one side, each changed field as old -> new, and why Envoy rejected
    an update when it did. Exit 0 when the same, 1 when different, >1 on error.

    Example: pdebug diff pod/productpage-v1-abc -n default

    Example: pdebug diff before.json after.json

    Example: pdebug diff dump.json --expected istiod-view.json --include secrets
    """
    from pdebug import diff as d
    from pdebug import expected as e
    from pdebug.bundle import is_pair, member_source
    from pdebug.proxy import Fetch
    from pdebug.redact import redact_output
    from pdebug.render import get_format
    from pdebug.sources import LiveOptions
    from pdebug.views import diffreport

    _check_regex("--ignore", ignore)
    # Bundles (pdebug snapshot): --bundle B picks proxies in B; B1 B2 compares every proxy.
    if bundle is not None:
        source = member_source(bundle, source, namespace)
        other = member_source(bundle, other, namespace) if other else None
    elif not expected and is_pair(source, other):
        extra = {"--unified": unified, "--istiod": istiod, "--proxy-id": proxy_id}
        extra |= {"--revision": revision, "--istio-namespace": istio_namespace}
        given = ", ".join(k for k, x in extra.items() if x)
        if given:
            raise UsageError(
                f"{given}: not for comparing two bundles (every proxy in both)",
                hint="to look closer at one proxy: pdebug diff B1:POD.NS B2:POD.NS " + given,
            )
        assert other is not None
        return _bundle_diff(source, other, include, ignore, output)
    fmt = get_format(output)
    if fmt.name == "markdown":
        # The report is verdict lines and field changes, not a table: markdown would
        # only be the plain text again.
        raise UsageError(
            f"-o {output}: not supported by pdebug diff of one proxy",
            hint="use -o table, wide, json or yaml (markdown works for two bundles: "
            "pdebug diff B1.tar.gz B2.tar.gz -o markdown)",
        )
    kinds, include_static = _kinds(include)
    if other and expected:
        raise UsageError("give OTHER or --expected, not both")
    live = {"--istiod": istiod, "--revision": revision, "--istio-namespace": istio_namespace}
    live["--proxy-id"] = proxy_id
    if (other or expected) and any(live.values()):
        given = ", ".join(k for k, x in live.items() if x)
        raise UsageError(
            f"{given}: only for comparing with istiod (SOURCE alone)",
            hint="drop OTHER/--expected to compare with istiod, or drop " + given,
        )
    from pdebug.cli.habits import admin_address

    source, other = admin_address(source) or source, admin_address(other, "OTHER")
    options = LiveOptions(timeout, namespace, context, kubeconfig, admin_port, container)
    fetch = Fetch(include_eds="endpoints" in kinds)
    if expected:
        left, right = e.against_file(expected, source, options, fetch)
        labels = (f"expected ({left.source})", f"Envoy ({right.source})")
    elif other:
        try:
            left, right = e.against_file(source, other, options, fetch)
        except ZtunnelDumpGiven:
            return _ztunnel_diff(source, other, options, ignore, fmt)
        labels = (left.source, right.source)
    else:
        recorded = e.against_recorded(source) if istiod is None else None
        if recorded is not None:
            left, right = recorded
        else:
            from pdebug.sources.istiod import Istiod

            where = Istiod(options, namespace=istio_namespace, revision=revision, url=istiod)
            left, right = e.against_istiod(source, options, fetch, where, proxy_id)
        labels = (left.source, f"Envoy ({right.source})")
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
    out = redact_output(out)  # a diff quotes the config: no secrets in any format
    sys.stdout.write(out if out.endswith("\n") else out + "\n")
    return ExitCode.OK if report.same else ExitCode.FINDINGS


def _check_regex(option: str, pattern: str | None) -> None:
    """A usage error naming ``option`` when ``pattern`` is not a Python regular expression."""
    import re

    if pattern is None:
        return
    try:
        re.compile(pattern)
    except re.error as exc:
        raise UsageError(
            f"{option} {pattern}: not a regular expression ({exc})",
            hint=f"{option} takes a Python regex over field paths, e.g. "
            f"{option} 'connect_timeout|metadata'; escape ( [ * with \\",
        ) from None


def _ztunnel_diff(
    source: str, other: str, options: LiveOptions, ignore: str | None, fmt: Format
) -> int:
    """Two ztunnel dumps: workloads, services, policies and certificates."""
    from pdebug.diff_ztunnel import compare
    from pdebug.model.ztunnel import parse
    from pdebug.sources import open_source
    from pdebug.views import diffreport

    dumps = []
    for text in (source, other):
        src = open_source(text, options)
        try:
            dumps.append(parse(src.get("/config_dump"), src.label))
        finally:
            src.close()
    report = compare(dumps[0], dumps[1], ignore)
    out = fmt.render(diffreport.view(report, None))
    sys.stdout.write(out if out.endswith("\n") else out + "\n")
    return ExitCode.OK if report.same else ExitCode.FINDINGS


def _kinds(include: list[str] | None) -> tuple[list[str], bool]:
    """``--include`` as (the kinds to compare, whether to compare static resources too)."""
    from pdebug.diff import DEFAULT_KINDS

    kinds = list(DEFAULT_KINDS)
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
    return kinds, include_static


def _bundle_diff(
    source: str, other: str, include: list[str] | None, ignore: str | None, output: str
) -> int:
    """Print which proxies changed between two bundles; 0 when none did, else 1."""
    from pdebug.bundle import open_bundle
    from pdebug.redact import redact_output
    from pdebug.render import get_format
    from pdebug.views import bundlediff

    fmt = get_format(output)
    kinds, include_static = _kinds(include)
    left, right = open_bundle(source), open_bundle(other)
    result = bundlediff.compare_bundles(left, right, kinds, include_static, ignore)
    out = fmt.render(bundlediff.view(result))
    out = redact_output(out)
    sys.stdout.write(out if out.endswith("\n") else out + "\n")
    return ExitCode.OK if result.same else ExitCode.FINDINGS
