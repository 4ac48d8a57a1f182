"""The view commands: clusters, listeners, routes, endpoints, eds, secrets, bootstrap, ecds, all."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

import typer

from pdebug.cli import _run
from pdebug.cli.completion import complete_view
from pdebug.cli.options import (
    ClustersJsonOpt,
    KeysOpt,
    OutputOpt,
    PortOpt,
    ProxyOptions,
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
    keys: KeysOpt = None,
    *,
    proxy: ProxyOptions,
) -> int:
    """Show the clusters of a proxy (istioctl proxy-config cluster).

    Wide adds state (warming clusters too), LB policy, endpoint and healthy counts.

    Example: pdebug clusters dump.json --fqdn reviews --port 9080 -o wide

    Example: pdebug clusters pod/productpage-v1-abc -n default --fqdn reviews
    """
    return _run.clusters(proxy, fqdn, port, subset, direction, output, clusters_json, keys)


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
    keys: KeysOpt = None,
    *,
    proxy: ProxyOptions,
) -> int:
    """Show the listeners of a proxy and where each filter chain sends traffic.

    Wide adds the listener name, its state (warming, draining, rejected listeners too),
    version and last update.

    Example: pdebug listeners dump.json --port 15006 -o wide
    """
    return _run.listeners(proxy, address, port, type, verbose, output, keys)


@proxy_options()
def routes_cmd(
    name: Annotated[
        str | None, typer.Option(help="Only the route config with this name.", metavar="NAME")
    ] = None,
    verbose: Annotated[bool, typer.Option(help="One row per route.")] = True,
    output: OutputOpt = "table",
    keys: KeysOpt = None,
    *,
    proxy: ProxyOptions,
) -> int:
    """Show route configs: virtual hosts, domains, matches and VirtualServices.

    Wide adds each route's action (cluster, weights, redirect, direct response).

    Example: pdebug routes dump.json --name 9080 -o wide
    """
    return _run.routes(proxy, name, verbose, output, keys)


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
    keys: KeysOpt = None,
    *,
    proxy: ProxyOptions,
) -> int:
    """Show endpoints with their health and outlier status (istioctl proxy-config endpoint).

    SOURCE may be a /clusters?format=json document (live health), a dump with EDS
    (config_dump?include_eds), or a dump plus --clusters-json to merge both. A live proxy
    is asked for /clusters?format=json (and its EDS too with -o wide).

    Example: pdebug endpoints dump.json --clusters-json clusters.json --status UNHEALTHY
    """
    return _run.endpoints(proxy, address, port, cluster, status, output, clusters_json, keys)


@proxy_options()
def eds_cmd(
    address: Annotated[
        str | None, typer.Option(help="Endpoint address as IP:PORT.", metavar="IP:PORT")
    ] = None,
    port: PortOpt = None,
    cluster: ClusterOpt = None,
    status: StatusOpt = None,
    output: OutputOpt = "table",
    keys: KeysOpt = None,
    *,
    proxy: ProxyOptions,
) -> int:
    """Show the EDS endpoints in a dump taken with include_eds (istioctl proxy-config eds).

    Example: pdebug eds dump.json --cluster 'outbound|9080||reviews.default.svc.cluster.local'
    """
    return _run.eds(proxy, address, port, cluster, status, output, keys)


def _endpoints(v: Any, data: ProxyData, flt: EndpointFilter, wide: bool) -> ViewResult:
    """The endpoints view; a dump without EDS also names the /clusters way."""
    return _run._endpoints(v, data, flt, wide)


def explain_empty(data: ProxyData, result: ViewResult, flt: EndpointFilter) -> ViewResult:
    """An empty endpoint table says why: no EDS in the dump, and where static ones are."""
    return _run.explain_empty(data, result, flt)


def _whole_view(module: str, fetch: Callable[[bool], Fetch], doc: str) -> Callable[..., int]:
    """A view command with no filter of its own: ``pdebug.views.MODULE.view(dump, wide)``."""

    def command(
        output: OutputOpt = "table",
        keys: KeysOpt = None,
        *,
        proxy: ProxyOptions,
    ) -> int:
        return _run.whole(module, fetch, proxy, output, keys)

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
    direction: Annotated[
        str | None, typer.Option(help="Cluster name contains this (inbound, outbound).")
    ] = None,
    subset: Annotated[str | None, typer.Option(help="Cluster name contains this.")] = None,
    type: Annotated[  # noqa: A002 - istioctl's flag name
        str | None, typer.Option("--type", help="Listener type: HTTP, TCP, HTTP+TCP.")
    ] = None,
    name: Annotated[str | None, typer.Option(help="Only this route configuration.")] = None,
    verbose: Annotated[
        bool, typer.Option(help="Listeners one row per filter chain, routes one per route.")
    ] = True,
    with_headers: Annotated[bool, typer.Option(help="Title each part.")] = False,
    output: OutputOpt = "table",
    keys: KeysOpt = None,
    *,
    proxy: ProxyOptions,
) -> int:
    """Show every table: bootstrap, clusters, listeners, routes, secrets, endpoints.

    json/yaml print the whole dump.

    Example: pdebug all dump.json --with-headers
    """
    return _run.all_(
        proxy,
        address,
        port,
        fqdn,
        with_headers,
        output,
        direction=direction,
        subset=subset,
        type=type,
        name=name,
        verbose=verbose,
        keys=keys,
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
    eds, rootca-compare|rc; workload (istioctl before 1.22: a ztunnel's workloads) is
    pdebug zc workload. Everything after VIEW goes to that command, so a line from
    istioctl's docs works with istioctl replaced by pdebug. log is not supported: pdebug
    never changes Envoy's log levels (it only reads). -o json|yaml keep the dump's key
    spelling (Envoy's snake_case); istioctl's is lowerCamelCase: a jq recipe from istio.io
    (.dynamicActiveSecrets, .[].edsClusterConfig) needs --keys camel (or PDEBUG_KEYS=camel).

    Example: pdebug proxy-config cluster productpage-v1-abc.default --fqdn reviews

    Example: pdebug pc ep -f dump.json --status UNHEALTHY

    Example: pdebug pc secret POD -o json --keys camel | jq '.dynamicActiveSecrets[0].name'
    """
    # pdebug.cli.habits.normalize turns `proxy-config VIEW` into `VIEW`: never here.
    raise AssertionError(f"proxy-config {view} was not rewritten")
