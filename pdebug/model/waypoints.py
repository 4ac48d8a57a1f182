"""Waypoints (Istio ambient) and what is bound to them, from Kubernetes objects.

A waypoint is a Gateway API ``Gateway`` of class ``istio-waypoint``. What uses it follows
istiod's rules (research note ``ztunnel.md`` §4.2): the label ``istio.io/use-waypoint``
on a Service or Pod, else on its Namespace (the object's own label wins; ``none`` opts
out), ``istio.io/use-waypoint-namespace`` for a waypoint in another namespace; and the
waypoint's ``istio.io/waypoint-for`` (``service`` when unlabelled, ``workload``, ``all``,
``none``) says whether services, workloads or both may bind. A waypoint Service never has
a waypoint itself, and nothing binds to a waypoint without ``status.addresses`` (istiod
waits for its address). Pure functions over the raw objects.
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
    #: which namespaces may attach (its HBONE listener's allowedRoutes: Same, All, Selector)
    attach_from: str = "Same"
    #: ``status.addresses`` values: istiod binds nothing to a waypoint without one yet
    addresses: list[str] = field(default_factory=list)
    #: services and pods (NS/NAME) that ask for it but are not bound: it has no address
    waiting: list[str] = field(default_factory=list)


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
        labels.get("istio.io/rev") or "default",  # istioctl: an empty label too
        labels.get(FOR) or "none",
        programmed,
        reason,
        message,
        labels.get(FOR, "service"),
    )
    found = status.get("addresses") if isinstance(status, dict) else None
    for address in found if isinstance(found, list) else []:
        value = address.get("value") if isinstance(address, dict) else None
        if isinstance(value, str) and value:
            wp.addresses.append(value)
    return wp


def _binding(obj: Json, namespace_labels: dict[str, str]) -> tuple[str, str] | None:
    """(waypoint namespace, waypoint name) an object asks for, or None.

    As istiod's ``GetUseWaypoint``: the object's own ``istio.io/use-waypoint`` wins, and
    then only the object's own ``istio.io/use-waypoint-namespace`` may move it to another
    namespace; a binding inherited from the namespace reads both labels there. ``none``
    (own or inherited) opts out.
    """
    own = _labels(obj)
    labels = own if USE in own else namespace_labels
    name = labels.get(USE)
    if not name or name == "none":
        return None
    return labels.get(USE_NS, namespace_of(obj)), name


#: ``gateway.istio.io/managed`` values of Services that never get a waypoint (a waypoint's
#: own, an east-west gateway's), as istiod's ``fetchWaypointForService``.
MANAGED = "gateway.istio.io/managed"
_NO_WAYPOINT = frozenset({"istio.io-mesh-controller", "istio.io-eastwest-controller"})


def _from_namespaces(gateway: Json) -> tuple[str, Json]:
    """(``from``, selector) of the HBONE 15008 listener's ``allowedRoutes.namespaces``.

    istiod's ``makeAllowedRoutes`` (no inbound-binding annotation): ``Same`` when the
    listener says nothing, or when the Gateway has no HBONE listener on 15008.
    """
    spec = gateway.get("spec")
    listeners = spec.get("listeners") if isinstance(spec, dict) else None
    for listener in listeners if isinstance(listeners, list) else []:
        if not isinstance(listener, dict):
            continue
        if listener.get("protocol") != "HBONE" or listener.get("port") != 15008:
            continue
        routes = listener.get("allowedRoutes")
        namespaces = routes.get("namespaces") if isinstance(routes, dict) else None
        if not isinstance(namespaces, dict):
            break
        selector = namespaces.get("selector")
        return str(namespaces.get("from") or "Same"), selector if isinstance(selector, dict) else {}
    return "Same", {}


def _selects(selector: Json, labels: dict[str, str]) -> bool:
    """Whether a Kubernetes LabelSelector matches ``labels`` (an empty one matches all)."""
    match = selector.get("matchLabels")
    if isinstance(match, dict) and any(labels.get(str(k)) != str(v) for k, v in match.items()):
        return False
    exprs = selector.get("matchExpressions")
    for expr in exprs if isinstance(exprs, list) else []:
        if not isinstance(expr, dict):
            return False
        key, op = str(expr.get("key")), expr.get("operator")
        values = [str(v) for v in expr.get("values") or [] if isinstance(v, str | int)]
        ok = {
            "In": key in labels and labels[key] in values,
            "NotIn": key not in labels or labels[key] not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }.get(str(op), False)
        if not ok:
            return False
    return True


def _attaches(gateway: Json, namespace: str, ns_labels: dict[str, dict[str, str]]) -> bool:
    """Whether a waypoint lets an object of ``namespace`` attach (istiod's allowedRoutes)."""
    frm, selector = _from_namespaces(gateway)
    if frm == "All":
        return True
    if frm == "Selector":
        return _selects(selector, ns_labels.get(namespace, {}))
    return namespace_of(gateway) == namespace


def bind(
    gateways: list[Json], services: list[Json], pods: list[Json], namespaces: list[Json]
) -> list[Waypoint]:
    """The waypoints among ``gateways``, sorted by (namespace, name), with what uses each."""
    ns_labels = {name_of(n): _labels(n) for n in namespaces}
    picked = [g for g in gateways if is_waypoint(g)]
    waypoints = sorted(
        ((waypoint_of(g), g) for g in picked), key=lambda wg: (wg[0].namespace, wg[0].name)
    )
    for w, g in waypoints:
        w.attach_from = _from_namespaces(g)[0]
    index = {(w.namespace, w.name): (w, g) for w, g in waypoints}
    waypoint_services = {(w.namespace, w.name) for w, _ in waypoints}

    def find(obj: Json) -> Waypoint | None:
        ns = namespace_of(obj)
        want = _binding(obj, ns_labels.get(ns, {}))
        found = index.get(want) if want else None
        if found is None:
            return None
        wp, gateway = found
        return wp if _attaches(gateway, ns, ns_labels) else None

    def bound(wp: Waypoint, obj: Json, to: list[str]) -> None:
        key = f"{namespace_of(obj)}/{name_of(obj)}"
        # istiod's waypoint index skips a Gateway with no status.addresses yet (not
        # programmed): what asks for it gets no waypoint until it has one
        (to if wp.addresses else wp.waiting).append(key)

    for svc in services:
        key = (namespace_of(svc), name_of(svc))
        if key in waypoint_services or _labels(svc).get(MANAGED) in _NO_WAYPOINT:
            continue  # a waypoint's (or an east-west gateway's) own Service never gets one
        wp = find(svc)
        if wp is not None and wp.serves in ("service", "all"):
            bound(wp, svc, wp.services)
    for pod in pods:
        if GATEWAY_NAME in _labels(pod):
            continue  # a waypoint's own pods
        wp = find(pod)
        if wp is not None and wp.serves in ("workload", "all"):
            bound(wp, pod, wp.workloads)
    return [w for w, _ in waypoints]
