"""The view commands: clusters, listeners, routes, endpoints, eds, secrets, bootstrap, ecds, all."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import typer

from pdebug.cli import app
from pdebug.cli._run import run_view

SourceArg = Annotated[
    str,
    typer.Argument(
        metavar="SOURCE",
        help="Saved GET /config_dump (or /clusters?format=json); '-' reads stdin; .gz is fine.",
        show_default=False,
    ),
]
OutputOpt = Annotated[
    str,
    typer.Option("--output", "-o", help="table, wide, json, yaml or markdown.", metavar="FORMAT"),
]
ClustersJsonOpt = Annotated[
    str | None,
    typer.Option(
        "--clusters-json",
        help="A saved GET /clusters?format=json of the same proxy, for live endpoint health.",
        metavar="FILE",
    ),
]
PortOpt = Annotated[int | None, typer.Option("--port", help="Only this port.", min=0, max=65535)]


def _aliases(func: Callable[..., int], *names: str) -> None:
    """Register ``func`` again under each hidden alias name (istioctl's short names)."""
    for name in names:
        app.command(name, hidden=True)(func)


@app.command("clusters")
def clusters_cmd(
    source: SourceArg,
    fqdn: Annotated[
        str | None, typer.Option(help="Cluster name contains this (service FQDN).")
    ] = None,
    port: PortOpt = None,
    subset: Annotated[str | None, typer.Option(help="Cluster name contains this subset.")] = None,
    direction: Annotated[str | None, typer.Option(help="inbound or outbound (substring).")] = None,
    output: OutputOpt = "table",
    clusters_json: ClustersJsonOpt = None,
) -> int:
    """Show the clusters of a proxy (istioctl proxy-config cluster).

    Wide adds state (warming clusters too), LB policy, endpoint and healthy counts.

    Example: pdebug clusters dump.json --fqdn reviews --port 9080 -o wide
    """
    from pdebug.views import clusters as v

    flt = v.ClusterFilter(fqdn, port, subset, direction)
    return run_view(source, output, lambda d, f: v.view(d, flt, f.wide), clusters_json)


_aliases(clusters_cmd, "cluster", "c")


@app.command("listeners")
def listeners_cmd(
    source: SourceArg,
    address: Annotated[
        str | None, typer.Option(help="Listener address (any of its addresses).")
    ] = None,
    port: PortOpt = None,
    type: Annotated[
        str | None, typer.Option("--type", help="HTTP, TCP, HTTP+TCP or UNKNOWN.")
    ] = None,  # noqa: A002
    verbose: Annotated[bool, typer.Option(help="One row per filter chain.")] = True,
    output: OutputOpt = "table",
) -> int:
    """Show the listeners of a proxy and where each filter chain sends traffic.

    Wide adds the listener name, its state (warming, draining, rejected listeners too),
    version and last update.

    Example: pdebug listeners dump.json --port 15006 -o wide
    """
    from pdebug.views import listeners as v

    flt = v.ListenerFilter(address, port, type)
    return run_view(source, output, lambda d, f: v.view(d, flt, f.wide, verbose))


_aliases(listeners_cmd, "listener", "l")


@app.command("routes")
def routes_cmd(
    source: SourceArg,
    name: Annotated[str | None, typer.Option(help="Only the route config with this name.")] = None,
    verbose: Annotated[bool, typer.Option(help="One row per route.")] = True,
    output: OutputOpt = "table",
) -> int:
    """Show route configs: virtual hosts, domains, matches and VirtualServices.

    Wide adds each route's action (cluster, weights, redirect, direct response).

    Example: pdebug routes dump.json --name 9080 -o wide
    """
    from pdebug.views import routes as v

    flt = v.RouteFilter(name)
    return run_view(source, output, lambda d, f: v.view(d, flt, f.wide, verbose))


_aliases(routes_cmd, "route", "r")

AddressOpt = Annotated[str | None, typer.Option(help="Endpoint IP address.")]
ClusterOpt = Annotated[str | None, typer.Option("--cluster", help="Full cluster name.")]
StatusOpt = Annotated[str | None, typer.Option(help="HEALTHY, UNHEALTHY, DRAINING, UNKNOWN...")]


@app.command("endpoints")
def endpoints_cmd(
    source: SourceArg,
    address: AddressOpt = None,
    port: PortOpt = None,
    cluster: ClusterOpt = None,
    status: StatusOpt = None,
    output: OutputOpt = "table",
    clusters_json: ClustersJsonOpt = None,
) -> int:
    """Show endpoints with their health and outlier status (istioctl proxy-config endpoint).

    SOURCE may be a /clusters?format=json document (live health), a dump with EDS
    (config_dump?include_eds), or a dump plus --clusters-json to merge both.

    Example: pdebug endpoints dump.json --clusters-json clusters.json --status UNHEALTHY
    """
    from pdebug.views import endpoints as v

    flt = v.EndpointFilter(address, port, cluster, status)
    return run_view(source, output, lambda d, f: v.endpoints_view(d, flt, f.wide), clusters_json)


_aliases(endpoints_cmd, "endpoint", "ep")


@app.command("eds")
def eds_cmd(
    source: SourceArg,
    address: Annotated[str | None, typer.Option(help="Endpoint address as IP:PORT.")] = None,
    port: PortOpt = None,
    cluster: ClusterOpt = None,
    status: StatusOpt = None,
    output: OutputOpt = "table",
) -> int:
    """Show the EDS endpoints in a dump taken with include_eds (istioctl proxy-config eds).

    Example: pdebug eds dump.json --cluster 'outbound|9080||reviews.default.svc.cluster.local'
    """
    from pdebug.views import endpoints as v

    flt = v.EndpointFilter(address, port, cluster, status)
    return run_view(source, output, lambda d, f: v.eds_view(d, flt))


@app.command("secrets")
def secrets_cmd(source: SourceArg, output: OutputOpt = "table") -> int:
    """Show certificates: type, validity, serial, expiry and trust domain.

    Wide adds days until expiry and the chain length. Keys are never printed.

    Example: pdebug secrets dump.json -o wide
    """
    from pdebug.views import secrets as v

    return run_view(source, output, lambda d, f: v.view(d, f.wide))


_aliases(secrets_cmd, "secret", "s")


@app.command("bootstrap")
def bootstrap_cmd(source: SourceArg, output: OutputOpt = "table") -> int:
    """Show Istio and Envoy versions (table) or the bootstrap config (json/yaml).

    Example: pdebug bootstrap dump.json -o wide
    """
    from pdebug.views import bootstrap as v

    return run_view(source, output, lambda d, f: v.view(d, f.wide))


_aliases(bootstrap_cmd, "b")


@app.command("ecds")
def ecds_cmd(source: SourceArg, output: OutputOpt = "table") -> int:
    """Show extension configs delivered by ECDS (e.g. Wasm filters).

    Example: pdebug ecds dump.json -o yaml
    """
    from pdebug.views import ecds as v

    return run_view(source, output, lambda d, f: v.view(d, f.wide))


_aliases(ecds_cmd, "ec")


@app.command("all")
def all_cmd(
    source: SourceArg,
    address: Annotated[str | None, typer.Option(help="Listener/endpoint address.")] = None,
    port: PortOpt = None,
    fqdn: Annotated[str | None, typer.Option(help="Cluster name contains this.")] = None,
    with_headers: Annotated[bool, typer.Option(help="Title each part.")] = False,
    output: OutputOpt = "table",
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
    return run_view(source, output, lambda d, f: v.view(d, cf, lf, ef, f.wide, with_headers))


_aliases(all_cmd, "a")
