"""``pdebug diff``: compare a proxy with istiod's view, an expected file, or another dump."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from pdebug.cli.options import (
    BundleOpt,
    OutputOpt,
    ProxyIdOpt,
    istiod_options,
    live_options,
    word_of,
)
from pdebug.errors import ExitCode, UsageError, ZtunnelDumpGiven
from pdebug.sources.base import IstiodChoice, LiveOptions

if TYPE_CHECKING:
    from pdebug.render import Format
    from pdebug.sources.spec import SourceSpec


@live_options()
@istiod_options(before="proxy_id")
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
    proxy_id: ProxyIdOpt = None,
    bundle: BundleOpt = None,
    *,
    control: IstiodChoice,
    live: LiveOptions,
) -> int:
    """Say which resources and fields differ between two views of a proxy's config.

    With SOURCE alone, compares the proxy with istiod's view of it (istioctl proxy-status
    POD): pdebug finds the istiod pods, asks each for /debug/config_dump?proxyID=POD.NS and
    takes the first that knows the proxy. A bundle member (BUNDLE:POD.NS, --bundle) is
    compared with the istiod view the snapshot recorded. Or compare with OTHER, or with
    --expected FILE.

    First istioctl's verdicts (Clusters/Listeners/Routes Match or Don't Match), then each
    resource only on one side, each changed field as old -> new, and why Envoy rejected
    an update when it did. A kind one side has no section for is "Not Compared" (a
    masked capture), not a list of resources only on the other side. Exit 0 when the
    same, 1 when different or a kind was not compared, >1 on error.

    Example: pdebug diff pod/productpage-v1-abc -n default

    Example: pdebug diff before.json after.json

    Example: pdebug diff dump.json --expected istiod-view.json --include secrets
    """
    from pdebug import diff as d
    from pdebug import expected as e
    from pdebug.proxy import Fetch
    from pdebug.redact import redact_output
    from pdebug.render import get_format
    from pdebug.views import diffreport

    e.check_ignore(ignore)
    req = e.DiffRequest(
        *_specs(source, other, expected, bundle, live),
        unified=unified,
        istiod=control.url,
        revision=control.revision,
        istio_namespace=control.namespace,
        proxy_id=proxy_id,
    )
    pair = req.bundles()  # B1 B2: every proxy in both
    if pair is not None:
        return _bundle_diff(*pair, include, ignore, output)
    fmt = get_format(output)
    if fmt.name == "markdown":
        # The report is verdict lines and field changes, not a table: markdown would
        # only be the plain text again.
        raise UsageError(
            f"-o {output}: not supported by pdebug diff of one proxy",
            hint="use -o table, wide, json or yaml (markdown works for two bundles: "
            "pdebug diff B1.tar.gz B2.tar.gz -o markdown)",
        )
    kinds, include_static = e.parse_include(include)
    req.check_one_proxy()
    fetch = Fetch(include_eds="endpoints" in kinds)
    if req.expected is not None:
        left, right = e.against_file(req.expected, req.source, live, fetch)
        labels = (f"expected ({left.source})", f"Envoy ({right.source})")
    elif req.other is not None:
        try:
            left, right = e.against_file(req.source, req.other, live, fetch)
        except ZtunnelDumpGiven:
            return _ztunnel_diff(req.source, req.other, live, ignore, fmt)
        labels = (left.source, right.source)
    else:
        recorded = e.against_recorded(req.source) if control.url is None else None
        if recorded is not None:
            left, right = recorded
        else:
            from pdebug.sources.istiod import Istiod

            where = Istiod.of(control, live)
            left, right = e.against_istiod(req.source, live, fetch, where, proxy_id)
        labels = (left.source, f"Envoy ({right.source})")
    left_dump = left.need_dump("diff")
    right_dump = right.need_dump("diff")
    # Two proxies' dumps: the sections pdebug does not read are compared too (istiod's
    # answer, or a file standing for it, never holds an extension's section).
    two_dumps = req.other is not None
    report = d.compare(
        left_dump, right_dump, kinds, include_static, ignore, *labels, unread=two_dumps
    )
    text = None
    if unified:
        exact = {r.kind: r.exact_names for r in report.kinds}
        sides = {
            k: (
                d.collect(left_dump, k, include_static, exact.get(k, False)),
                d.collect(right_dump, k, include_static, exact.get(k, False)),
            )
            for k in kinds
        }
        for r in report.kinds:
            if r.kind not in sides:  # an unread section's type
                sides[r.kind] = (
                    d.collect_unread(left_dump, r.kind),
                    d.collect_unread(right_dump, r.kind),
                )
        text = diffreport.unified(report, sides)
    out = fmt.render(diffreport.view(report, text))
    out = redact_output(out)  # a diff quotes the config: no secrets in any format
    sys.stdout.write(out if out.endswith("\n") else out + "\n")
    return ExitCode.OK if report.same else ExitCode.FINDINGS


def _specs(
    source: str, other: str | None, expected: str | None, bundle: str | None, live: LiveOptions
) -> tuple[SourceSpec, SourceSpec | None, SourceSpec | None]:
    """SOURCE, OTHER and ``--expected`` parsed (with ``--bundle B``: proxies of B)."""
    if [source, other, expected].count("-") > 1:
        raise UsageError(
            "stdin ('-') can be read only once: pass it for one side",
            hint="save one dump to a file: pdebug diff - saved.json < other.json",
        )
    first = word_of(source, "SOURCE", bundle, live)
    second = word_of(other, "OTHER", bundle, live) if other else None
    return first, second, word_of(expected, "--expected") if expected else None


def _ztunnel_diff(
    source: SourceSpec, other: SourceSpec, options: LiveOptions, ignore: str | None, fmt: Format
) -> int:
    """Two ztunnel dumps: workloads, services, policies and certificates."""
    from pdebug.diff_ztunnel import compare
    from pdebug.model.ztunnel import parse
    from pdebug.sources import open_source
    from pdebug.views import diffreport

    dumps = []
    for spec in (source, other):
        with open_source(spec, options) as src:
            dumps.append(parse(src.get("/config_dump"), src.label))
    report = compare(dumps[0], dumps[1], ignore)
    out = fmt.render(diffreport.view(report, None))
    sys.stdout.write(out if out.endswith("\n") else out + "\n")
    return ExitCode.OK if report.same else ExitCode.FINDINGS


def _bundle_diff(
    source: str, other: str, include: list[str] | None, ignore: str | None, output: str
) -> int:
    """Print which proxies changed between two bundles; 0 when none did, else 1."""
    from pdebug.expected import parse_include
    from pdebug.redact import redact_output
    from pdebug.render import get_format
    from pdebug.sources.bundle import open_bundle
    from pdebug.views import bundlediff

    fmt = get_format(output)
    kinds, include_static = parse_include(include)
    left, right = open_bundle(source), open_bundle(other)
    result = bundlediff.compare_bundles(left, right, kinds, include_static, ignore)
    out = fmt.render(bundlediff.view(result))
    out = redact_output(out)
    sys.stdout.write(out if out.endswith("\n") else out + "\n")
    return ExitCode.OK if result.same else ExitCode.FINDINGS
