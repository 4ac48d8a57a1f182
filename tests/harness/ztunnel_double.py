"""A ztunnel admin double: ztunnel's admin port (15000) on 127.0.0.1, serving a recorded dump.

ztunnel (Rust) cannot run here, so its admin API is served from recorded answers, the way
ztunnel's ``src/admin.rs`` answers (research note ``ztunnel.md`` §3.1):

* ``GET /config_dump``: ``200``, ``application/json``, the recorded dump;
* ``GET /``: an HTML index of the admin endpoints;
* anything else: ``404``; ztunnel has no Envoy ``/stats`` or ``/clusters``.

:func:`register` adds a ``ztunnel`` DaemonSet in ``istio-system`` to a
:class:`kube_double.KubeDouble` with one pod per node whose port 15000 relays to a double,
as the Istio chart deploys it (labels ``app=ztunnel``, container ``istio-proxy``).
"""

from __future__ import annotations

from typing import Any

from .istiod_double import Answer, ConfigDumpDouble, RecordedHTTP


class ZtunnelAdminDouble(ConfigDumpDouble):
    """ztunnel's admin port serving one recorded ``/config_dump``."""

    def other(self, path: str) -> Answer:
        if path == "/":
            index = b"<html><body><a href='/config_dump'>config_dump</a></body></html>\n"
            return 200, index, "text/html"
        return 404, b"", "text/plain"


def register(
    kube: Any, nodes: dict[str, RecordedHTTP], namespace: str = "istio-system"
) -> dict[str, str]:
    """A ``ztunnel`` DaemonSet with a pod on each node of ``nodes``; returns node -> pod name."""
    ds = kube.add_daemonset("ztunnel", namespace, labels={"app": "ztunnel"})
    pods = {}
    for node, double in nodes.items():
        pod = kube.add_pod(
            owner=ds,
            labels={"app.kubernetes.io/name": "ztunnel", "istio.io/dataplane-mode": "none"},
            containers=("istio-proxy",),
            node_name=node,
            forwards={15000: double.address},
        )
        pods[node] = pod["metadata"]["name"]
    return pods
