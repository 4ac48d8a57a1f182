"""The view commands: clusters, listeners, routes, endpoints, eds, secrets, bootstrap, ecds, all."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

import typer

from pdebug.cli._run import run_view
from pdebug.cli.completion import complete_view
from pdebug.cli.options import (
    ClustersJsonOpt,
    OutputOpt,
    PortOpt,
    ProxyOptions,
    file_of,
    proxy_options,
)
from pdebug.proxy import Fetch

if TYPE_CHECKING:
    from pdebug.model import ProxyData
    from pdebug.views.endpoints import EndpointFilter
    from pdebug.views.result import ViewResult


@proxy_options()
def clusters_cmd(
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
    *,
    proxy: ProxyOptions,
) -> int:
    """Show the clusters of a proxy (istioctl proxy-config cluster).

    Wide adds state (warming clusters too), LB policy, endpoint and healthy counts.

    Example: pdebug clusters dump.json --fqdn reviews --port 9080 -o wide

    Example: pdebug clusters pod/productpage-v1-abc -n default --fqdn reviews
    """
    from pdebug.views import clusters as v

    flt = v.ClusterFilter(fqdn, port, subset, direction)
    fetch = Fetch.clusters(name_contains=fqdn, health=output.lower() == "wide")
    return run_view(
        proxy, output, fetch, lambda d, f: v.view(d, flt, f.wide), file_of(clusters_json)
    )


@proxy_options()
def listeners_cmd(
    address: Annotated[
        str | None, typer.Option(help="Listener address (any of its addresses).", metavar="IP")
    ] = None,
    port: PortOpt = None,
    type: Annotated[  # noqa: A002 - istioctl's flag name
        str | None, typer.Option("--type", help="HTTP, TCP, HTTP+TCP or UNKNOWN.", metavar="TYPE")
    ] = None,
    verbose: Annotated[bool, typer.Option(help="One row per filter chain.")] = True,
    output: OutputOpt = "table",
    *,
    proxy: ProxyOptions,
) -> int:
    """Show the listeners of a proxy and where each filter chain sends traffic.

    Wide adds the listener name, its state (warming, draining, rejected listeners too),
    version and last update.

    Example: pdebug listeners dump.json --port 15006 -o wide
    """
    from pdebug.views import listeners as v

    flt = v.ListenerFilter(address, port, type)
    return run_view(proxy, output, Fetch.listeners(), lambda d, f: v.view(d, flt, f.wide, verbose))


@proxy_options()
def routes_cmd(
    name: Annotated[
        str | None, typer.Option(help="Only the route config with this name.", metavar="NAME")
    ] = None,
    verbose: Annotated[bool, typer.Option(help="One row per route.")] = True,
    output: OutputOpt = "table",
    *,
    proxy: ProxyOptions,
) -> int:
    """Show route configs: virtual hosts, domains, matches and VirtualServices.

    Wide adds each route's action (cluster, weights, redirect, direct response).

    Example: pdebug routes dump.json --name 9080 -o wide
    """
    from pdebug.views import routes as v

    flt = v.RouteFilter(name)
    return run_view(proxy, output, Fetch.routes(name), lambda d, f: v.view(d, flt, f.wide, verbose))


AddressOpt = Annotated[str | None, typer.Option(help="Endpoint IP address.", metavar="IP")]
ClusterOpt = Annotated[
    str | None, typer.Option("--cluster", help="Full cluster name.", metavar="NAME")
]
StatusOpt = Annotated[
    str | None, typer.Option(help="HEALTHY, UNHEALTHY, DRAINING, UNKNOWN...", metavar="STATUS")
]


@proxy_options()
def endpoints_cmd(
    address: AddressOpt = None,
    port: PortOpt = None,
    cluster: ClusterOpt = None,
    status: StatusOpt = None,
    output: OutputOpt = "table",
    clusters_json: ClustersJsonOpt = None,
    *,
    proxy: ProxyOptions,
) -> int:
    """Show endpoints with their health and outlier status (istioctl proxy-config endpoint).

    SOURCE may be a /clusters?format=json document (live health), a dump with EDS
    (config_dump?include_eds), or a dump plus --clusters-json to merge both. A live proxy
    is asked for /clusters?format=json (and its EDS too with -o wide).

    Example: pdebug endpoints dump.json --clusters-json clusters.json --status UNHEALTHY
    """
    from pdebug.views import endpoints as v

    flt = v.EndpointFilter(address, port, cluster, status)
    fetch = Fetch.endpoints(cluster, eds=output.lower() == "wide")
    return run_view(
        proxy,
        output,
        fetch,
        lambda d, f: explain_empty(d, _endpoints(v, d, flt, f.wide), flt),
        file_of(clusters_json),
    )


@proxy_options()
def eds_cmd(
    address: Annotated[
        str | None, typer.Option(help="Endpoint address as IP:PORT.", metavar="IP:PORT")
    ] = None,
    port: PortOpt = None,
    cluster: ClusterOpt = None,
    status: StatusOpt = None,
    output: OutputOpt = "table",
    *,
    proxy: ProxyOptions,
) -> int:
    """Show the EDS endpoints in a dump taken with include_eds (istioctl proxy-config eds).

    Example: pdebug eds dump.json --cluster 'outbound|9080||reviews.default.svc.cluster.local'
    """
    from pdebug.views import endpoints as v

    flt = v.EndpointFilter(address, port, cluster, status)
    return run_view(
        proxy,
        output,
        Fetch.eds(cluster),
        lambda d, f: explain_empty(d, v.eds_view(d, flt), flt),
    )


def _endpoints(v: Any, data: ProxyData, flt: EndpointFilter, wide: bool) -> ViewResult:
    """The endpoints view; a dump without EDS also names the /clusters way."""
    from pdebug.errors import MissingSection

    try:
        result: ViewResult = v.endpoints_view(data, flt, wide)
    except MissingSection as exc:
        if "endpoints section" not in exc.message:
            raise
        from pdebug.model.bootstrap import predates_include_eds

        how = "capture with EDS (config_dump?include_eds); a static cluster's endpoints come"
        if data.dump is not None and predates_include_eds(data.dump):
            how = "this Envoy (older than 1.15) cannot put EDS in its config dump; they come"
        raise MissingSection(
            exc.message,
            hint=f"{how} from /clusters: pass the admin URL (pdebug endpoints localhost:15000) "
            "or --clusters-json FILE (a saved GET /clusters?format=json)",
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
    from pdebug.model.bootstrap import predates_include_eds

    why = (
        "this dump has no EDS (taken without ?include_eds)"
        if not data.dump.has("endpoints")
        else "no cluster of this dump gets endpoints from EDS"
    )
    whose = "A static cluster's endpoints come"
    if not data.dump.has("endpoints") and predates_include_eds(data.dump):
        why = "this dump has no EDS (an Envoy older than 1.15 cannot write it)"
        whose = "Its endpoints come"
    note = (
        f"No endpoints found: {why}. {whose} from /clusters: "
        "pass the admin URL (pdebug endpoints localhost:15000) or --clusters-json FILE "
        "(a saved GET /clusters?format=json)."
    )
    return dataclasses.replace(result, note=note)


def _whole_view(module: str, fetch: Callable[[], Fetch], doc: str) -> Callable[..., int]:
    """A view command with no filter of its own: ``pdebug.views.MODULE.view(dump, wide)``."""

    def command(
        output: OutputOpt = "table",
        *,
        proxy: ProxyOptions,
    ) -> int:
        import importlib

        v = importlib.import_module(f"pdebug.views.{module}")
        return run_view(proxy, output, fetch(), lambda d, f: v.view(d, f.wide))

    command.__name__ = command.__qualname__ = f"{module}_cmd"
    command.__doc__ = doc
    return proxy_options()(command)


secrets_cmd = _whole_view(
    "secrets",
    Fetch.secrets,
    """Show certificates: type, validity, serial, expiry and trust domain.

    Wide adds days until expiry and the chain length. Keys are never printed.

    Example: pdebug secrets dump.json -o wide
    """,
)
bootstrap_cmd = _whole_view(
    "bootstrap",
    Fetch.bootstrap,
    """Show Istio and Envoy versions (table) or the bootstrap config (json/yaml).

    Example: pdebug bootstrap dump.json -o wide
    """,
)
ecds_cmd = _whole_view(
    "ecds",
    Fetch.ecds,
    """Show extension configs delivered by ECDS (e.g. Wasm filters).

    Example: pdebug ecds dump.json -o yaml
    """,
)


@proxy_options()
def all_cmd(
    address: Annotated[
        str | None, typer.Option(help="Listener/endpoint address.", metavar="IP")
    ] = None,
    port: PortOpt = None,
    fqdn: Annotated[
        str | None, typer.Option(help="Cluster name contains this.", metavar="FQDN")
    ] = None,
    with_headers: Annotated[bool, typer.Option(help="Title each part.")] = False,
    output: OutputOpt = "table",
    *,
    proxy: ProxyOptions,
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
    return run_view(
        proxy,
        output,
        Fetch.everything(),
        lambda d, f: v.view(d, cf, lf, ef, f.wide, with_headers, f.structured),
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
