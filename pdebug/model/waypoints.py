"""Waypoints (Istio ambient) and what is bound to them, from Kubernetes objects.

A waypoint is a Gateway API ``Gateway`` of class ``istio-waypoint``. What uses it follows
istiod's rules (research note ``ztunnel.md`` §4.2): the label ``istio.io/use-waypoint``
on a Service or Pod, else on its Namespace (the object's own label wins; ``none`` opts
out), ``istio.io/use-waypoint-namespace`` for a waypoint in another namespace; and the
waypoint's ``istio.io/waypoint-for`` (``service`` when unlabelled, ``workload``, ``all``,
``none``) says whether services, workloads or both may bind. A waypoint Service never has
a waypoint itself. Pure functions over the raw objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Json = dict[str, Any]
WAYPOINT_CLASS = "istio-waypoint"
USE = "istio.io/use-waypoint"
USE_NS = "istio.io/use-waypoint-namespace"
FOR = "istio.io/waypoint-for"
GATEWAY_NAME = "gateway.networking.k8s.io/gateway-name"


def _meta(obj: Json) -> Json:
    meta = obj.get("metadata")
    return meta if isinstance(meta, dict) else {}


def _labels(obj: Json) -> dict[str, str]:
    labels = _meta(obj).get("labels")
    return {str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {}


def name_of(obj: Json) -> str:
    """``metadata.name``."""
    return str(_meta(obj).get("name") or "")


def namespace_of(obj: Json) -> str:
    """``metadata.namespace``."""
    return str(_meta(obj).get("namespace") or "")


@dataclass
class Waypoint:
    """One waypoint Gateway, as istioctl lists it, and what binds to it."""

    name: str
    namespace: str
    revision: str
    traffic_type: str  # the istio.io/waypoint-for label as istioctl shows it ("none" if unset)
    programmed: str  # the Programmed condition's status, "False" when absent
    reason: str = ""
    message: str = ""
    #: what istiod binds to it: the label, or ``service`` when unlabelled (istioctl's
    #: TRAFFIC TYPE says ``none`` then)
    serves: str = "service"
    services: list[str] = field(default_factory=list)  # NS/NAME
    workloads: list[str] = field(default_factory=list)  # NS/POD


def is_waypoint(gateway: Json) -> bool:
    """Whether a Gateway is an Istio waypoint (class ``istio-waypoint``)."""
    spec = gateway.get("spec")
    return isinstance(spec, dict) and spec.get("gatewayClassName") == WAYPOINT_CLASS


def waypoint_of(gateway: Json) -> Waypoint:
    """The row istioctl prints for a waypoint Gateway."""
    labels = _labels(gateway)
    status = gateway.get("status") if isinstance(gateway.get("status"), dict) else {}
    conditions = status.get("conditions") if isinstance(status, dict) else None
    programmed, reason, message = "False", "", ""
    for cond in conditions if isinstance(conditions, list) else []:
        if isinstance(cond, dict) and cond.get("type") == "Programmed":
            programmed = str(cond.get("status") or "False")
            reason, message = str(cond.get("reason") or ""), str(cond.get("message") or "")
    wp = Waypoint(
        name_of(gateway),
        namespace_of(gateway),
        labels.get("istio.io/rev", "default"),
        labels.get(FOR, "none"),
        programmed,
        reason,
        message,
        labels.get(FOR, "service"),
    )
    return wp


def _binding(obj: Json, namespace_labels: dict[str, str]) -> tuple[str, str] | None:
    """(waypoint namespace, waypoint name) an object asks for, or None."""
    own = _labels(obj)
    name = own.get(USE) or namespace_labels.get(USE)
    if USE in own:
        name = own[USE]
    if not name or name == "none":
        return None
    ns = own.get(USE_NS) or namespace_labels.get(USE_NS) or namespace_of(obj)
    return ns, name


def bind(
    gateways: list[Json], services: list[Json], pods: list[Json], namespaces: list[Json]
) -> list[Waypoint]:
    """The waypoints among ``gateways``, sorted by (namespace, name), with what uses each."""
    ns_labels = {name_of(n): _labels(n) for n in namespaces}
    waypoints = sorted(
        (waypoint_of(g) for g in gateways if is_waypoint(g)),
        key=lambda w: (w.namespace, w.name),
    )
    index = {(w.namespace, w.name): w for w in waypoints}
    waypoint_services = {(w.namespace, w.name) for w in waypoints}
    for svc in services:
        key = (namespace_of(svc), name_of(svc))
        if key in waypoint_services:
            continue  # a waypoint's own Service never gets a waypoint
        want = _binding(svc, ns_labels.get(key[0], {}))
        wp = index.get(want) if want else None
        if wp is not None and wp.serves in ("service", "all"):
            wp.services.append(f"{key[0]}/{key[1]}")
    for pod in pods:
        if GATEWAY_NAME in _labels(pod):
            continue  # a waypoint's own pods
        key = (namespace_of(pod), name_of(pod))
        want = _binding(pod, ns_labels.get(key[0], {}))
        wp = index.get(want) if want else None
        if wp is not None and wp.serves in ("workload", "all"):
            wp.workloads.append(f"{key[0]}/{key[1]}")
    return waypoints
