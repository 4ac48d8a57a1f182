"""Read what ``pdebug waypoints`` needs from the API server (GET and LIST only).

Gateways (``gateway.networking.k8s.io/v1``) in one namespace or all, and the Services,
Pods and Namespaces whose ``istio.io/use-waypoint`` labels bind them to a waypoint.
"""

from __future__ import annotations

from typing import Any

from pdebug.sources.base import LiveOptions

Json = dict[str, Any]


def read(options: LiveOptions, all_namespaces: bool) -> tuple[list[Json], ...]:
    """(gateways, services, pods, namespaces) of ``-n`` (or the context's) or every namespace."""
    from pdebug.sources.kube import KubeCluster

    with KubeCluster(options, "waypoints") as cluster:
        ns = None if all_namespaces else cluster.namespace()
        where = "all namespaces" if ns is None else f"namespace {ns}"
        gateways = cluster.list("gateways", ns, "", f"gateways in {where}")
        services = cluster.list("services", ns, "", f"services in {where}")
        pods = cluster.list("pods", ns, "", f"pods in {where}")
        if ns is None:
            namespaces = cluster.list("namespaces", None, "", "namespaces")
        else:
            namespaces = [cluster.read("namespaces", ns, None, f"namespace {ns}")]
        return gateways, services, pods, namespaces
