"""The view commands: clusters, listeners, routes, endpoints, eds, secrets, bootstrap, ecds, all."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

import typer

from pdebug.cli import app
from pdebug.cli._run import run_view
from pdebug.cli.completion import complete_format, complete_source, complete_view
from pdebug.proxy import Fetch, Target

if TYPE_CHECKING:
    from pdebug.model import ProxyData
    from pdebug.views.endpoints import EndpointFilter
    from pdebug.views.result import ViewResult

SourceArg = Annotated[
    str | None,
    typer.Argument(
        metavar="SOURCE",
        help="A saved dump ('-' = stdin, .gz ok), an Envoy admin URL (http://127.0.0.1:15000, "
        "localhost:15000), or a pod: pod/NAME, NAME.NS, deploy/NAME, sts/NAME, ds/NAME, "
        "svc/NAME. -f/--file FILE is the same (istioctl's flag).",
        show_default=False,
        autocompletion=complete_source,
    ),
]
_LIVE = "Live proxy"
BundleOpt = Annotated[
    str | None,
    typer.Option(
        "--bundle",
        metavar="FILE",
        help="Read SOURCE (pod/NAME, NAME, NAME.NS; -n for the namespace) from this "
        "snapshot or dump bundle: the same as FILE:NAME.NS.",
        show_default=False,
    ),
]
AdminOpt = Annotated[
    str | None,
    typer.Option(
        "--admin", help="Envoy admin URL (instead of SOURCE).", metavar="URL", rich_help_panel=_LIVE
    ),
]
NamespaceOpt = Annotated[
    str | None,
    typer.Option(
        "--namespace",
        "-n",
        help="Namespace of the pod or workload.",
        metavar="NS",
        rich_help_panel=_LIVE,
    ),
]
ContextOpt = Annotated[
    str | None,
    typer.Option("--context", help="Kubeconfig context.", metavar="NAME", rich_help_panel=_LIVE),
]
KubeconfigOpt = Annotated[
    str | None,
    typer.Option(
        "--kubeconfig",
        "-c",
        help="Kubeconfig file (default $KUBECONFIG, ~/.kube/config).",
        metavar="FILE",
        rich_help_panel=_LIVE,
    ),
]
AdminPortOpt = Annotated[
    int,
    typer.Option(
        "--admin-port",
        help="Envoy admin port inside the pod.",
        metavar="PORT",
        min=1,
        max=65535,
        rich_help_panel=_LIVE,
    ),
]
ContainerOpt = Annotated[
    str,
    typer.Option(
        "--container", help="Sidecar container name.", metavar="NAME", rich_help_panel=_LIVE
    ),
]
TimeoutOpt = Annotated[
    float,
    typer.Option(
        "--timeout",
        help="Seconds a whole request to the proxy (or the API server) may take.",
        metavar="SECONDS",
        min=0.1,
        rich_help_panel=_LIVE,
    ),
]


def _size(text: str) -> int:
    """``--max-body`` SIZE -> bytes (a usage error otherwise)."""
    from pdebug.sources.httpget import parse_size

    try:
        return parse_size(text)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


MaxBodyOpt = Annotated[
    int | None,
    typer.Option(
        "--max-body",
        help="The largest answer to accept from a live proxy (default 1GiB, or "
        "$PDEBUG_MAX_BODY), e.g. 2GiB, 500M.",
        metavar="SIZE",
        parser=_size,
        show_default=False,
        rich_help_panel=_LIVE,
    ),
]

OutputOpt = Annotated[
    str,
    typer.Option(
        "--output",
        "-o",
        help="table (also: short), wide, json, yaml or markdown.",
        metavar="FORMAT",
        autocompletion=complete_format,
    ),
]
ClustersJsonOpt = Annotated[
    str | None,
    typer.Option(
        "--clusters-json",
        help="A saved GET /clusters?format=json of the same proxy, for live endpoint health.",
        metavar="FILE",
    ),
]
PortOpt = Annotated[
    int | None, typer.Option("--port", help="Only this port.", metavar="PORT", min=0, max=65535)
]
NoRedactOpt = Annotated[
    bool,
    typer.Option("--no-redact", help="Keep tokens and header values (private keys stay hidden)."),
]

_ISTIOD = "istiod"  # the help panel of the options that find and reach istiod
IstioNamespaceOpt = Annotated[
    str | None,
    typer.Option(
        "--istio-namespace",
        "-i",
        help="Where istiod runs (default istio-system).",
        show_default=False,
        metavar="NS",
        rich_help_panel=_ISTIOD,
    ),
]
RevisionOpt = Annotated[
    str | None,
    typer.Option(
        "--revision",
        "-r",
        help="The control plane revision (istiod pods labelled istio.io/rev=REV).",
        metavar="REV",
        rich_help_panel=_ISTIOD,
    ),
]
IstiodOpt = Annotated[
    str | None,
    typer.Option(
        "--istiod",
        help="Ask istiod at this URL (e.g. http://127.0.0.1:15014 after your own "
        "port-forward) instead of finding its pods.",
        metavar="URL",
        rich_help_panel=_ISTIOD,
    ),
]
ProxyIdOpt = Annotated[
    str | None,
    typer.Option(
        "--proxy-id",
        help="The proxy's ID for istiod (default: the pod's POD.NS, or the dump's node ID).",
        metavar="POD.NS",
        rich_help_panel=_ISTIOD,
    ),
]


def _aliases(func: Callable[..., int], *names: str) -> None:
    """Register ``func`` again under each hidden alias name (istioctl's short names)."""
    for name in names:
        app.command(name, hidden=True)(func)


def target_of(
    source: str | None,
    admin: str | None,
    namespace: str | None,
    context: str | None,
    kubeconfig: str | None,
    admin_port: int,
    container: str,
    timeout: float,
    bundle: str | None = None,
) -> Target:
    """The proxy a command reads, from its SOURCE, ``--admin``, live and ``--bundle`` options."""
    from pdebug.cli.habits import admin_address
    from pdebug.sources import LiveOptions

    return Target.of(
        admin_address(source),
        admin_address(admin, "--admin"),
        LiveOptions(timeout, namespace, context, kubeconfig, admin_port, container),
        bundle,
    )


@app.command("clusters")
def clusters_cmd(
    source: SourceArg = None,
    fqdn: Annotated[
        str | None, typer.Option(help="Cluster name contains this (service FQDN).", metavar="FQDN")
    ] = None,
    port: PortOpt = None,
    subset: Annotated[
        str | None, typer.Option(help="Cluster name contains this subset.", metavar="SUBSET")
    ] = None,
    direction: Annotated[
        str | None, typer.Option(help="inbound or outbound (substring).", metavar="DIR")
    ] = None,
    output: OutputOpt = "table",
    clusters_json: ClustersJsonOpt = None,
    admin: AdminOpt = None,
    bundle: BundleOpt = None,
    namespace: NamespaceOpt = None,
    context: ContextOpt = None,
    kubeconfig: KubeconfigOpt = None,
    admin_port: AdminPortOpt = 15000,
    container: ContainerOpt = "istio-proxy",
    timeout: TimeoutOpt = 30.0,
) -> int:
    """Show the clusters of a proxy (istioctl proxy-config cluster).

    Wide adds state (warming clusters too), LB policy, endpoint and healthy counts.

    Example: pdebug clusters dump.json --fqdn reviews --port 9080 -o wide

    Example: pdebug clusters pod/productpage-v1-abc -n default --fqdn reviews
    """
    from pdebug.views import clusters as v

    flt = v.ClusterFilter(fqdn, port, subset, direction)
    target = target_of(
        source, admin, namespace, context, kubeconfig, admin_port, container, timeout, bundle
    )
    fetch = Fetch.clusters(name_contains=fqdn, health=output.lower() == "wide")
    return run_view(target, output, fetch, lambda d, f: v.view(d, flt, f.wide), clusters_json)


_aliases(clusters_cmd, "cluster", "c")


@app.command("listeners")
def listeners_cmd(
    source: SourceArg = None,
    address: Annotated[
        str | None, typer.Option(help="Listener address (any of its addresses).", metavar="IP")
    ] = None,
    port: PortOpt = None,
    type: Annotated[  # noqa: A002 - istioctl's flag name
        str | None, typer.Option("--type", help="HTTP, TCP, HTTP+TCP or UNKNOWN.", metavar="TYPE")
    ] = None,
    verbose: Annotated[bool, typer.Option(help="One row per filter chain.")] = True,
    output: OutputOpt = "table",
    admin: AdminOpt = None,
    bundle: BundleOpt = None,
    namespace: NamespaceOpt = None,
    context: ContextOpt = None,
    kubeconfig: KubeconfigOpt = None,
    admin_port: AdminPortOpt = 15000,
    container: ContainerOpt = "istio-proxy",
    timeout: TimeoutOpt = 30.0,
) -> int:
    """Show the listeners of a proxy and where each filter chain sends traffic.

    Wide adds the listener name, its state (warming, draining, rejected listeners too),
    version and last update.

    Example: pdebug listeners dump.json --port 15006 -o wide
    """
    from pdebug.views import listeners as v

    flt = v.ListenerFilter(address, port, type)
    target = target_of(
        source, admin, namespace, context, kubeconfig, admin_port, container, timeout, bundle
    )
    return run_view(target, output, Fetch.listeners(), lambda d, f: v.view(d, flt, f.wide, verbose))


_aliases(listeners_cmd, "listener", "l")


@app.command("routes")
def routes_cmd(
    source: SourceArg = None,
    name: Annotated[
        str | None, typer.Option(help="Only the route config with this name.", metavar="NAME")
    ] = None,
    verbose: Annotated[bool, typer.Option(help="One row per route.")] = True,
    output: OutputOpt = "table",
    admin: AdminOpt = None,
    bundle: BundleOpt = None,
    namespace: NamespaceOpt = None,
    context: ContextOpt = None,
    kubeconfig: KubeconfigOpt = None,
    admin_port: AdminPortOpt = 15000,
    container: ContainerOpt = "istio-proxy",
    timeout: TimeoutOpt = 30.0,
) -> int:
    """Show route configs: virtual hosts, domains, matches and VirtualServices.

    Wide adds each route's action (cluster, weights, redirect, direct response).

    Example: pdebug routes dump.json --name 9080 -o wide
    """
    from pdebug.views import routes as v

    flt = v.RouteFilter(name)
    target = target_of(
        source, admin, namespace, context, kubeconfig, admin_port, container, timeout, bundle
    )
    return run_view(
        target, output, Fetch.routes(name), lambda d, f: v.view(d, flt, f.wide, verbose)
    )


_aliases(routes_cmd, "route", "r")

AddressOpt = Annotated[str | None, typer.Option(help="Endpoint IP address.", metavar="IP")]
ClusterOpt = Annotated[
    str | None, typer.Option("--cluster", help="Full cluster name.", metavar="NAME")
]
StatusOpt = Annotated[
    str | None, typer.Option(help="HEALTHY, UNHEALTHY, DRAINING, UNKNOWN...", metavar="STATUS")
]


@app.command("endpoints")
def endpoints_cmd(
    source: SourceArg = None,
    address: AddressOpt = None,
    port: PortOpt = None,
    cluster: ClusterOpt = None,
    status: StatusOpt = None,
    output: OutputOpt = "table",
    clusters_json: ClustersJsonOpt = None,
    admin: AdminOpt = None,
    bundle: BundleOpt = None,
    namespace: NamespaceOpt = None,
    context: ContextOpt = None,
    kubeconfig: KubeconfigOpt = None,
    admin_port: AdminPortOpt = 15000,
    container: ContainerOpt = "istio-proxy",
    timeout: TimeoutOpt = 30.0,
) -> int:
    """Show endpoints with their health and outlier status (istioctl proxy-config endpoint).

    SOURCE may be a /clusters?format=json document (live health), a dump with EDS
    (config_dump?include_eds), or a dump plus --clusters-json to merge both. A live proxy
    is asked for /clusters?format=json (and its EDS too with -o wide).

    Example: pdebug endpoints dump.json --clusters-json clusters.json --status UNHEALTHY
    """
    from pdebug.views import endpoints as v

    flt = v.EndpointFilter(address, port, cluster, status)
    target = target_of(
        source, admin, namespace, context, kubeconfig, admin_port, container, timeout, bundle
    )
    fetch = Fetch.endpoints(cluster, eds=output.lower() == "wide")
    return run_view(
        target,
        output,
        fetch,
        lambda d, f: explain_empty(d, _endpoints(v, d, flt, f.wide), flt),
        clusters_json,
    )


_aliases(endpoints_cmd, "endpoint", "ep")


@app.command("eds")
def eds_cmd(
    source: SourceArg = None,
    address: Annotated[
        str | None, typer.Option(help="Endpoint address as IP:PORT.", metavar="IP:PORT")
    ] = None,
    port: PortOpt = None,
    cluster: ClusterOpt = None,
    status: StatusOpt = None,
    output: OutputOpt = "table",
    admin: AdminOpt = None,
    bundle: BundleOpt = None,
    namespace: NamespaceOpt = None,
    context: ContextOpt = None,
    kubeconfig: KubeconfigOpt = None,
    admin_port: AdminPortOpt = 15000,
    container: ContainerOpt = "istio-proxy",
    timeout: TimeoutOpt = 30.0,
) -> int:
    """Show the EDS endpoints in a dump taken with include_eds (istioctl proxy-config eds).

    Example: pdebug eds dump.json --cluster 'outbound|9080||reviews.default.svc.cluster.local'
    """
    from pdebug.views import endpoints as v

    flt = v.EndpointFilter(address, port, cluster, status)
    target = target_of(
        source, admin, namespace, context, kubeconfig, admin_port, container, timeout, bundle
    )
    return run_view(
        target, output, Fetch.eds(cluster), lambda d, f: explain_empty(d, v.eds_view(d, flt), flt)
    )


def _endpoints(v: Any, data: ProxyData, flt: EndpointFilter, wide: bool) -> ViewResult:
    """The endpoints view; a dump without EDS also names the /clusters way."""
    from pdebug.errors import MissingSection

    try:
        result: ViewResult = v.endpoints_view(data, flt, wide)
    except MissingSection as exc:
        if "endpoints section" not in exc.message:
            raise
        raise MissingSection(
            exc.message,
            hint="capture with EDS (config_dump?include_eds); a static cluster's endpoints "
            "come from /clusters: pass the admin URL (pdebug endpoints localhost:15000) or "
            "--clusters-json FILE (a saved GET /clusters?format=json)",
        ) from exc
    return result


def explain_empty(data: ProxyData, result: ViewResult, flt: EndpointFilter) -> ViewResult:
    """An empty endpoint table says why: no EDS in the dump, and where static ones are."""
    import dataclasses

    from pdebug.views.table import Table

    table = result.table
    if not flt.empty or not isinstance(table, Table) or table.rows:
        return result
    if data.dump is None or data.health is not None:
        return result
    why = (
        "this dump has no EDS (taken without ?include_eds)"
        if not data.dump.has("endpoints")
        else "no cluster of this dump gets endpoints from EDS"
    )
    note = (
        f"No endpoints found: {why}. A static cluster's endpoints come from /clusters: "
        "pass the admin URL (pdebug endpoints localhost:15000) or --clusters-json FILE "
        "(a saved GET /clusters?format=json)."
    )
    return dataclasses.replace(result, note=note)


@app.command("secrets")
def secrets_cmd(
    source: SourceArg = None,
    output: OutputOpt = "table",
    admin: AdminOpt = None,
    bundle: BundleOpt = None,
    namespace: NamespaceOpt = None,
    context: ContextOpt = None,
    kubeconfig: KubeconfigOpt = None,
    admin_port: AdminPortOpt = 15000,
    container: ContainerOpt = "istio-proxy",
    timeout: TimeoutOpt = 30.0,
) -> int:
    """Show certificates: type, validity, serial, expiry and trust domain.

    Wide adds days until expiry and the chain length. Keys are never printed.

    Example: pdebug secrets dump.json -o wide
    """
    from pdebug.views import secrets as v

    target = target_of(
        source, admin, namespace, context, kubeconfig, admin_port, container, timeout, bundle
    )
    return run_view(target, output, Fetch.secrets(), lambda d, f: v.view(d, f.wide))


_aliases(secrets_cmd, "secret", "s")


@app.command("bootstrap")
def bootstrap_cmd(
    source: SourceArg = None,
    output: OutputOpt = "table",
    admin: AdminOpt = None,
    bundle: BundleOpt = None,
    namespace: NamespaceOpt = None,
    context: ContextOpt = None,
    kubeconfig: KubeconfigOpt = None,
    admin_port: AdminPortOpt = 15000,
    container: ContainerOpt = "istio-proxy",
    timeout: TimeoutOpt = 30.0,
) -> int:
    """Show Istio and Envoy versions (table) or the bootstrap config (json/yaml).

    Example: pdebug bootstrap dump.json -o wide
    """
    from pdebug.views import bootstrap as v

    target = target_of(
        source, admin, namespace, context, kubeconfig, admin_port, container, timeout, bundle
    )
    return run_view(target, output, Fetch.bootstrap(), lambda d, f: v.view(d, f.wide))


_aliases(bootstrap_cmd, "b")


@app.command("ecds")
def ecds_cmd(
    source: SourceArg = None,
    output: OutputOpt = "table",
    admin: AdminOpt = None,
    bundle: BundleOpt = None,
    namespace: NamespaceOpt = None,
    context: ContextOpt = None,
    kubeconfig: KubeconfigOpt = None,
    admin_port: AdminPortOpt = 15000,
    container: ContainerOpt = "istio-proxy",
    timeout: TimeoutOpt = 30.0,
) -> int:
    """Show extension configs delivered by ECDS (e.g. Wasm filters).

    Example: pdebug ecds dump.json -o yaml
    """
    from pdebug.views import ecds as v

    target = target_of(
        source, admin, namespace, context, kubeconfig, admin_port, container, timeout, bundle
    )
    return run_view(target, output, Fetch.ecds(), lambda d, f: v.view(d, f.wide))


_aliases(ecds_cmd, "ec")


@app.command("all")
def all_cmd(
    source: SourceArg = None,
    address: Annotated[
        str | None, typer.Option(help="Listener/endpoint address.", metavar="IP")
    ] = None,
    port: PortOpt = None,
    fqdn: Annotated[
        str | None, typer.Option(help="Cluster name contains this.", metavar="FQDN")
    ] = None,
    with_headers: Annotated[bool, typer.Option(help="Title each part.")] = False,
    output: OutputOpt = "table",
    admin: AdminOpt = None,
    bundle: BundleOpt = None,
    namespace: NamespaceOpt = None,
    context: ContextOpt = None,
    kubeconfig: KubeconfigOpt = None,
    admin_port: AdminPortOpt = 15000,
    container: ContainerOpt = "istio-proxy",
    timeout: TimeoutOpt = 30.0,
) -> int:
    """Show every table: bootstrap, clusters, listeners, routes, secrets, endpoints.

    json/yaml print the whole dump.

    Example: pdebug all dump.json --with-headers
    """
    from pdebug.views import all as v
    from pdebug.views.clusters import ClusterFilter
    from pdebug.views.endpoints import EndpointFilter
    from pdebug.views.listeners import ListenerFilter

    cf = ClusterFilter(fqdn=fqdn, port=port)
    lf = ListenerFilter(address=address, port=port)
    ef = EndpointFilter(address=address, port=port)
    target = target_of(
        source, admin, namespace, context, kubeconfig, admin_port, container, timeout, bundle
    )
    return run_view(
        target, output, Fetch.everything(), lambda d, f: v.view(d, cf, lf, ef, f.wide, with_headers)
    )


_aliases(all_cmd, "a")


@app.command(
    "proxy-config",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
def proxy_config_cmd(
    view: Annotated[
        str,
        typer.Argument(
            metavar="VIEW", help="A view, as istioctl names it.", autocompletion=complete_view
        ),
    ],
) -> int:
    """Run a view by its istioctl name (pdebug pc cluster POD is pdebug clusters POD).

    VIEW is one of istioctl's names: cluster|clusters|c, listener|listeners|l,
    route|routes|r, endpoint|endpoints|ep, secret|secrets|s, bootstrap|b, ecds, all|a,
    eds, rootca-compare|rc. Everything after VIEW goes to that command, so a line from
    istioctl's docs works with istioctl replaced by pdebug. log is not supported: pdebug
    never changes Envoy's log levels (it only reads).

    Example: pdebug proxy-config cluster productpage-v1-abc.default --fqdn reviews

    Example: pdebug pc ep -f dump.json --status UNHEALTHY
    """
    # pdebug.cli.habits.normalize turns `proxy-config VIEW` into `VIEW`: never here.
    raise AssertionError(f"proxy-config {view} was not rewritten")


_aliases(proxy_config_cmd, "pc")
