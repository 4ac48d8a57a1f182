"""``pdebug waypoints`` (istioctl ``waypoint list``): ambient waypoints and what uses them."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from pdebug.cli.options import OutputOpt, live_options
from pdebug.sources.base import LiveOptions


@live_options(pod=False)
def waypoints_cmd(
    action: Annotated[
        str | None,
        typer.Argument(
            metavar="[list]", help="istioctl's 'waypoint list' (the default).", show_default=False
        ),
    ] = None,
    output: OutputOpt = "table",
    all_namespaces: Annotated[
        bool, typer.Option("--all-namespaces", "-A", help="Every namespace.")
    ] = False,
    *,
    live: LiveOptions,
) -> int:
    """List ambient waypoints (Gateways of class istio-waypoint) as istioctl waypoint list.

    NAME REVISION TRAFFIC TYPE PROGRAMMED; wide adds why it is (not) programmed and the
    services and workloads bound to it (istio.io/use-waypoint on them or their namespace,
    as istiod binds them: istio.io/waypoint-for decides services, workloads or both).
    Read-only: lists gateways, services, pods and namespaces.

    Example: pdebug waypoints -n bookinfo -o wide

    Example: pdebug waypoints -A
    """
    from pdebug.errors import UsageError
    from pdebug.model.waypoints import bind
    from pdebug.render import get_format
    from pdebug.sources.waypoints import read
    from pdebug.views import waypoints as v

    if action not in (None, "list"):
        raise UsageError(
            f"pdebug waypoints {action}: pdebug only lists waypoints (read-only)",
            hint="istioctl waypoint status is pdebug waypoints -o wide (the REASON column); "
            "apply, generate and delete change the cluster, which pdebug never does",
        )
    if all_namespaces and live.namespace:
        raise UsageError("give -n NAMESPACE or -A, not both")
    fmt = get_format(output)
    gateways, services, pods, namespaces = read(live, all_namespaces)
    bound = bind(gateways, services, pods, namespaces)
    result = v.view(bound, all_namespaces, bool(gateways))
    if not all_namespaces and (fmt.wide or fmt.structured):
        for w in bound:
            if w.attach_from != "Same":  # bindings from namespaces -n did not read
                print(
                    f"note: waypoint {w.name} lets other namespaces attach (allowedRoutes "
                    f"from: {w.attach_from}); their services and workloads are listed with -A",
                    file=sys.stderr,
                )
    if fmt.wide or fmt.structured:
        for w in bound:
            if w.waiting:
                asks = ", ".join(w.waiting[:3]) + (
                    f" +{len(w.waiting) - 3}" if len(w.waiting) > 3 else ""
                )
                print(
                    f"note: waypoint {w.namespace}/{w.name} has no address yet (status.addresses"
                    f"; PROGRAMMED {w.programmed}): istiod binds nothing to it until it has "
                    f"one; asking for it: {asks}",
                    file=sys.stderr,
                )
    text = fmt.render(result)
    if text:
        sys.stdout.write(text)
    elif not fmt.structured:
        print("No waypoints found.", file=sys.stderr)
    return 0
