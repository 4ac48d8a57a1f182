"""``pdebug trace``: follow one request through a proxy's listeners, routes and clusters."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from pdebug.cli.options import (
    BundleOpt,
    ClustersJsonOpt,
    OutputOpt,
    live_options,
)
from pdebug.errors import ExitCode
from pdebug.sources.base import LiveOptions


@live_options()
def trace_cmd(
    source: Annotated[
        str,
        typer.Argument(
            metavar="SOURCE",
            help="The proxy: a saved dump (with include_eds for endpoints), an admin URL or a pod.",
            show_default=False,
        ),
    ],
    url: Annotated[
        str,
        typer.Argument(
            metavar="URL",
            help="The request: http://HOST[:PORT]/PATH?QUERY, https://..., or tcp://HOST:PORT.",
            show_default=False,
        ),
    ],
    method: Annotated[
        str, typer.Option("--method", "-X", help="The HTTP method.", metavar="M")
    ] = "GET",
    header: Annotated[
        list[str] | None,
        typer.Option(
            "--header",
            "-H",
            help="A request header NAME:VALUE (repeatable); Host:NAME replaces the URL's.",
            metavar="K:V",
        ),
    ] = None,
    direction: Annotated[
        str | None,
        typer.Option(
            "--direction",
            metavar="outbound|inbound",
            help="outbound (captured by virtualOutbound) or inbound (via virtualInbound); "
            "default: the listener on the port, else virtualOutbound.",
        ),
    ] = None,
    source_ip: Annotated[
        str | None,
        typer.Option(
            "--source-ip", help="The client's IP (for source filter chain matches).", metavar="IP"
        ),
    ] = None,
    source_principal: Annotated[
        str | None,
        typer.Option(
            "--source-principal",
            help="The client's mTLS identity, e.g. spiffe://cluster.local/ns/NS/sa/SA "
            "(for RBAC / AuthorizationPolicy rules on principals). With --direction inbound "
            "the client is a mesh peer: an http:// or tcp:// request arrives as Istio's "
            "sidecars send it, over mTLS with Istio's ALPN, so the mTLS filter chain takes it "
            "(an https:// URL stays the client's own TLS).",
            metavar="ID",
        ),
    ] = None,
    output: OutputOpt = "table",
    clusters_json: ClustersJsonOpt = None,
    bundle: BundleOpt = None,
    *,
    live: LiveOptions,
) -> int:
    """Follow one request through the proxy's config the way Envoy matches it.

    Prints each step (listener, filter chain, route config, virtual host, routes tried,
    action, cluster, endpoints) with why it matched, then the verdict. -o wide adds the
    filter chains that lost; -o json is for machines. Exit 0 when the request reaches a
    cluster with a healthy endpoint (or Envoy answers a redirect / direct response
    itself), 1 when it does not (no listener, no route, an RBAC filter denies it, a
    fault aborts it, unknown cluster, no healthy endpoint), 6 when the dump cannot tell
    (VERDICT: UNKNOWN, e.g. no EDS captured: it says what to capture; an RBAC rule on
    the client's identity without --source-principal), other codes on error.

    Example: pdebug trace dump.json http://reviews:9080/ -H end-user:jason

    Example: pdebug trace pod/productpage-v1-abc -n default http://ratings:9080/ -o json

    Example: pdebug trace --bundle snapshot.tar.gz pod/productpage-v1-abc http://ratings:9080/
    """
    from pdebug import trace as t
    from pdebug.proxy import Fetch, load_proxy
    from pdebug.render import get_format
    from pdebug.sources.spec import SourceWords
    from pdebug.views import trace as v

    fmt = get_format(output)
    request = t.parse_request(url, method, header or [], direction, source_ip, source_principal)
    words = SourceWords(source, None, bundle, live.namespace)
    proxy = load_proxy(words, live, Fetch(include_eds=True, health=True), clusters_json)
    result = t.trace(proxy, request)
    out = fmt.render(v.view(result, fmt.wide))
    sys.stdout.write(out if out.endswith("\n") else out + "\n")
    if not fmt.structured and proxy.dump is not None:
        # an extension's section (Cilium's network policies) may decide the request too
        from pdebug.model.sections import unread_notes

        for line in unread_notes(proxy.dump):
            print(line, file=sys.stderr)
    outcome = result.verdict.outcome
    if outcome == "UNKNOWN":
        return ExitCode.UNKNOWN
    return ExitCode.OK if outcome == "OK" else ExitCode.FINDINGS
