"""``pdebug ztunnel-config`` (``zc``): istioctl's ambient-mode views of a ztunnel."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

import typer

from pdebug.cli.options import (
    FIRST,
    ContextOpt,
    KubeconfigOpt,
    TimeoutOpt,
    option_group,
    option_in,
)
from pdebug.sources.base import LiveOptions

zc_app = typer.Typer(
    name="ztunnel-config",
    help="Show an ambient ztunnel's workloads, services, policies, certificates, connections.\n\n"
    "istioctl ztunnel-config (alias zc), cell for cell.\n\n"
    "SOURCE is a saved ztunnel GET /config_dump (or -f FILE; '-' = stdin, .gz ok), a "
    "ztunnel admin URL (http://127.0.0.1:15000), a ztunnel pod, or a workload pod "
    "(its node's ztunnel, filtered to that workload). Without SOURCE: --node NODE, else "
    "a pod of the ztunnel DaemonSet.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

_LIVE = "Live ztunnel"
ZSourceArg = Annotated[
    str | None,
    typer.Argument(
        metavar="SOURCE",
        help="A saved ztunnel dump, an admin URL, a ztunnel pod or a workload pod "
        "([pod/]NAME[.NS]).",
        show_default=False,
    ),
]
FileOpt = Annotated[
    str | None,
    typer.Option(
        "--file", "-f", help="A saved ztunnel /config_dump ('-' = stdin).", metavar="FILE"
    ),
]
NodeOpt = Annotated[
    str | None,
    option_in(_LIVE, "--node", help="Ask the ztunnel on this Kubernetes node.", metavar="NODE"),
]
ZOutputOpt = Annotated[
    str,
    typer.Option(
        "--output", "-o", help="short (table), wide, json, yaml or markdown.", metavar="FORMAT"
    ),
]
ZNamespaceOpt = Annotated[
    str | None,
    option_in(_LIVE, "--namespace", "-n", help="Namespace of the pod SOURCE.", metavar="NS"),
]
ZIstioNamespaceOpt = Annotated[
    str,
    option_in(
        _LIVE,
        "--istio-namespace",
        "-i",
        help="Where the ztunnel DaemonSet runs.",
        metavar="NS",
        envvar="ISTIOCTL_ISTIONAMESPACE",
    ),
]
AdminPortOpt = Annotated[
    int,
    option_in(
        _LIVE,
        "--proxy-admin-port",
        "--admin-port",
        help="ztunnel's admin port.",
        metavar="PORT",
        min=1,
        max=65535,
    ),
]
WorkloadNamespaceOpt = Annotated[
    str | None,
    typer.Option(help="Only workloads of this namespace.", metavar="NS"),
]
NowOpt = Annotated[
    str | None,
    typer.Option(
        "--now",
        help="Judge certificate validity as of this RFC 3339 time (default: now).",
        metavar="TIME",
    ),
]


@dataclass(frozen=True)
class DumpChoice:
    """Which ztunnel dump to read: SOURCE or ``-f FILE`` (else ``--node`` or any ztunnel)."""

    source: str | None
    file: str | None


#: SOURCE and ``-f``: every view's, first, as one :class:`DumpChoice`.
zc_dump = option_group(
    [("source", ZSourceArg, None), ("file", FileOpt, None)], "chosen", DumpChoice, FIRST
)


@dataclass(frozen=True)
class Reach:
    """How to find and reach the ztunnel: ``--node``, ``-i`` and the live options."""

    node: str | None
    istio_namespace: str
    live: LiveOptions


def _reach(
    node: str | None,
    namespace: str | None,
    istio_namespace: str,
    context: str | None,
    kubeconfig: str | None,
    admin_port: int,
    timeout: float,
) -> Reach:
    return Reach(
        node, istio_namespace, LiveOptions(timeout, namespace, context, kubeconfig, admin_port)
    )


#: ``--node``, ``-n``, ``-i``, ``--context``, ``-c``, ``--admin-port``, ``--timeout``: every
#: view's, as one :class:`Reach`.
zc_options = option_group(
    [
        ("node", NodeOpt, None),
        ("namespace", ZNamespaceOpt, None),
        ("istio_namespace", ZIstioNamespaceOpt, "istio-system"),
        ("context", ContextOpt, None),
        ("kubeconfig", KubeconfigOpt, None),
        ("admin_port", AdminPortOpt, 15000),
        ("timeout", TimeoutOpt, 30.0),
    ],
    "reach",
    _reach,
)


def _run(
    chosen: DumpChoice,
    reach: Reach,
    output: str,
    build: Callable[..., object],
    need_one: bool = False,
    lead: str = "",
) -> int:
    """Fetch, parse, build the view, render and print (the zc twin of ``run_view``)."""
    from pdebug.model.sniff import prepare
    from pdebug.model.ztunnel import read, reader
    from pdebug.render import get_format
    from pdebug.sources import ztunnel as zsource
    from pdebug.views.result import ViewResult
    from pdebug.views.table import Table

    fmt = get_format(output)
    got = zsource.fetch(
        zsource.source_of(chosen.source, chosen.file, reach.node),
        reach.node,
        reach.live,
        reach.istio_namespace,
        need_one=need_one,
    )
    look = prepare(got.data, got.label, reader())  # the sniffer's one look, then the reader
    parsed = read(look)
    for warning in parsed.warnings:
        print(f"pdebug: warning: {got.label}: {warning}", file=sys.stderr)
    result = build(parsed, got.workload, fmt.wide)
    assert isinstance(result, ViewResult)
    text = fmt.render(result)
    if text:
        sys.stdout.write(text if fmt.structured else lead + text)
        sys.stdout.flush()
    if result.note and not fmt.structured and isinstance(result.table, Table):
        print(result.note, file=sys.stderr)
    return 0


def _now(text: str | None) -> datetime | None:
    if text is None:
        return None
    from pdebug.errors import UsageError
    from pdebug.model.ztunnel import parse_time

    when = parse_time(text)
    if when is None:
        raise UsageError(
            f"--now {text!r} is not an RFC 3339 time", hint="e.g. 2026-01-31T12:00:00Z"
        )
    return when


@zc_options
@zc_dump
def workload_cmd(
    output: ZOutputOpt = "table",
    workload_namespace: WorkloadNamespaceOpt = None,
    workload_name: Annotated[
        str | None, typer.Option(help="Only the workload (pod) of this name.", metavar="NAME")
    ] = None,
    address: Annotated[
        str | None, typer.Option(help="Only workloads with this IP.", metavar="IP")
    ] = None,
    workload_node: Annotated[
        str | None, typer.Option(help="Only workloads on this node.", metavar="NODE")
    ] = None,
    *,
    chosen: DumpChoice,
    reach: Reach,
) -> int:
    """Workloads ztunnel knows: namespace, pod, address, node, waypoint, protocol.

    Wide adds status, service account, trust domain, canonical name and revision, network
    and cluster.

    Example: pdebug zc workload -f ztunnel-dump.json --workload-namespace bookinfo
    """
    from pdebug.views import ztunnel as v

    def build(dump: object, workload: tuple[str, str] | None, wide: bool) -> object:
        name, ns = workload or (workload_name, workload_namespace)
        flt = v.WorkloadFilter(ns, address, workload_node, name)
        return v.workloads(dump, flt, wide)  # type: ignore[arg-type]

    return _run(chosen, reach, output, build)


@zc_options
@zc_dump
def service_cmd(
    output: ZOutputOpt = "table",
    service_namespace: Annotated[
        str | None, typer.Option(help="Only services of this namespace.", metavar="NS")
    ] = None,
    *,
    chosen: DumpChoice,
    reach: Reach,
) -> int:
    """Services: namespace, name, VIPs, waypoint and healthy/total endpoints.

    Wide adds the hostname and the ports (service port->target port).

    Example: pdebug zc svc -f ztunnel-dump.json --service-namespace bookinfo
    """
    from pdebug.views import ztunnel as v

    return _run(chosen, reach, output, lambda d, _w, _wide: v.services(d, service_namespace))


@zc_options
@zc_dump
def policy_cmd(
    output: ZOutputOpt = "table",
    policy_namespace: Annotated[
        str | None, typer.Option(help="Only policies of this namespace.", metavar="NS")
    ] = None,
    *,
    chosen: DumpChoice,
    reach: Reach,
) -> int:
    """Authorization policies ztunnel enforces: namespace, name, action, scope.

    Wide adds the number of rules and whether the policy is dry-run (istioctl hides it).

    Example: pdebug zc policy -f ztunnel-dump.json
    """
    from pdebug.views import ztunnel as v

    return _run(chosen, reach, output, lambda d, _w, _wide: v.policies(d, policy_namespace))


@zc_options
@zc_dump
def certificate_cmd(
    output: ZOutputOpt = "table",
    now: NowOpt = None,
    *,
    chosen: DumpChoice,
    reach: Reach,
) -> int:
    """Certificates of one ztunnel: identity, type, status, validity, serial and dates.

    Wide adds the days left. Live, this view needs one ztunnel: SOURCE, --node, or a
    cluster with a single ztunnel pod.

    Example: pdebug zc certificate --node ambient-worker
    """
    from pdebug.views import ztunnel as v

    when = _now(now)

    def build(dump: object, _w: object, _wide: bool) -> object:
        for note in v.bad_time_notes(dump, when):  # type: ignore[arg-type]
            print(f"pdebug: warning: {note}", file=sys.stderr)
        return v.certificates(dump, when)  # type: ignore[arg-type]

    return _run(chosen, reach, output, build, need_one=True)


@zc_options
@zc_dump
def connections_cmd(
    output: ZOutputOpt = "table",
    direction: Annotated[
        str | None, typer.Option(help="inbound or outbound (default both).", metavar="DIR")
    ] = None,
    raw: Annotated[bool, typer.Option("--raw", help="Do not resolve addresses to names.")] = False,
    workload_namespace: WorkloadNamespaceOpt = None,
    workload_name: Annotated[
        str | None, typer.Option(help="Only the pod of this name.", metavar="NAME")
    ] = None,
    *,
    chosen: DumpChoice,
    reach: Reach,
) -> int:
    """Live connections of the pods one ztunnel captures, names resolved.

    Example: pdebug zc connections pod/productpage-v1-abc -n bookinfo --direction outbound
    """
    from pdebug.views import ztunnel as v

    def build(dump: object, workload: tuple[str, str] | None, _wide: bool) -> object:
        name, ns = workload or (workload_name, workload_namespace)
        flt = v.ConnectionFilter(ns, name, direction, raw)
        return v.connections(dump, flt)  # type: ignore[arg-type]

    return _run(chosen, reach, output, build, need_one=True)


@zc_options
@zc_dump
def all_cmd(
    output: ZOutputOpt = "table",
    with_headers: Annotated[bool, typer.Option(help="Title each table.")] = False,
    now: NowOpt = None,
    *,
    chosen: DumpChoice,
    reach: Reach,
) -> int:
    """Every table: workloads, services, policies, certificates, connections.

    -o json|yaml print the whole dump as ztunnel wrote it.

    Example: pdebug zc all -f ztunnel-dump.json --with-headers
    """
    from pdebug.views import ztunnel as v

    when = _now(now)
    return _run(
        chosen,
        reach,
        output,
        lambda d, _w, _wide: v.everything(d, with_headers, when),
        lead="\n",
    )


__all__ = ["DumpChoice", "Reach", "zc_app"]
