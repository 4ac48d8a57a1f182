"""What a target names: ``[KIND/]NAME[.NAMESPACE]`` parsed, and a workload's pods found.

A target is parsed before any I/O (:func:`parse_target`); a workload is resolved to its
pods through its selector (:func:`selector_text`) and, so that a selector shared by two
workloads does not mix their pods, through the pods' controller (:func:`owned_pods`: a
Deployment owns its pods through its ReplicaSets).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pdebug.errors import SourceUnavailable, UsageError
from pdebug.sources.kube.pod import Pod, controller_uid

if TYPE_CHECKING:
    from pdebug.sources.kube.api import KubeCluster

Json = dict[str, Any]

#: Spellings of a kind on the command line -> (canonical kind, API resource).
_KINDS: dict[str, tuple[str, str]] = {
    **dict.fromkeys(("pod", "pods", "po"), ("pod", "pods")),
    **dict.fromkeys(("deploy", "deployment", "deployments"), ("deployment", "deployments")),
    **dict.fromkeys(("sts", "statefulset", "statefulsets"), ("statefulset", "statefulsets")),
    **dict.fromkeys(("ds", "daemonset", "daemonsets"), ("daemonset", "daemonsets")),
    **dict.fromkeys(("rs", "replicaset", "replicasets"), ("replicaset", "replicasets")),
    **dict.fromkeys(("svc", "service", "services"), ("service", "services")),
}
#: Kinds that may be written with their API group (``deployment.apps/x``).
_APPS = frozenset(
    k
    for k, v in _KINDS.items()
    if v[1] in ("deployments", "statefulsets", "daemonsets", "replicasets")
)
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")  # DNS-1123 subdomain
_NAMESPACE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")  # DNS-1123 label
_TARGET_HINT = (
    "e.g. pod/NAME, NAME.NAMESPACE, deploy/NAME -n NAMESPACE, sts/NAME, ds/NAME, svc/NAME"
)


@dataclass(frozen=True)
class KubeTarget:
    """A SOURCE argument that names a pod or a workload.

    Attributes:
        text: The argument as typed.
        kind: ``pod``, ``deployment``, ``statefulset``, ``daemonset`` or ``replicaset``.
        resource: The API resource (``pods``, ``deployments``...).
        name: The object's name.
        namespace: The namespace given as ``NAME.NAMESPACE``, else ``None``.
    """

    text: str
    kind: str
    resource: str
    name: str
    namespace: str | None


def parse_target(text: str, namespace: str | None = None) -> KubeTarget:
    """Parse ``[KIND/]NAME[.NAMESPACE]``, splitting the namespace at the last dot (istioctl's rule).

    istioctl always splits, so a pod whose name has a dot cannot be named. pdebug departs
    from that when ``-n`` is given (``namespace``): ``api.v2-0 -n shop`` is the pod
    ``api.v2-0`` in ``shop``, as the text after the last dot is not the ``-n`` namespace;
    ``api.shop -n shop`` is still the pod ``api`` in ``shop``.

    Raises:
        UsageError: The kind is unknown or a name is not a valid Kubernetes name.
    """
    kind_text, slash, rest = text.partition("/")
    if not slash:
        kind_text, rest = "pod", text
    group_less = kind_text.lower().removesuffix(".apps")  # deployment.apps/x, as kubectl
    known = (
        _KINDS.get(group_less) if group_less in _APPS or group_less == kind_text.lower() else None
    )
    if known is None and kind_text.lower().partition(".")[0] in ("gateway", "gateways"):
        # istioctl finds a Gateway API gateway's pods by its gateway-name label; Istio
        # deploys them as the Deployment NAME-CLASS (NAME-istio for class istio).
        name, dot, suffix = rest.rpartition(".") if "." in rest else (rest, "", "")
        raise UsageError(
            f"{text}: pdebug does not resolve Gateway API gateways (istioctl does)",
            hint=f"name its Deployment, NAME-CLASS: e.g. deploy/{name}-istio{dot}{suffix}",
        )
    if known is None:
        raise UsageError(
            f"{text}: unknown kind {kind_text!r} (pdebug reads pods, deployments, "
            "statefulsets, daemonsets, replicasets and services)",
            hint=_TARGET_HINT,
        )
    name, dot, suffix = rest.rpartition(".")
    if not dot or (namespace and suffix != namespace and _NAME.match(rest)):
        name, dot, suffix = rest, "", ""
    if not _NAME.match(name) or len(name) > 253:
        raise UsageError(
            f"{text}: {name!r} is not a valid {known[0]} name "
            "(lowercase letters, digits, '-' and '.')",
            hint=_TARGET_HINT,
        )
    if dot and (not _NAMESPACE.match(suffix) or len(suffix) > 63):
        raise UsageError(
            f"{text}: {suffix!r} is not a valid namespace (after the last '.')",
            hint=_TARGET_HINT,
        )
    return KubeTarget(text, known[0], known[1], name, suffix or None)


def selector_text(selector: Json) -> str:
    """A LabelSelector object (or a Service's plain map) as a ``labelSelector`` query string."""
    if "matchLabels" not in selector and "matchExpressions" not in selector:
        # A Service's spec.selector is a plain map of labels.
        return ",".join(f"{k}={v}" for k, v in sorted(selector.items()) if isinstance(v, str))
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op == "In":
            parts.append(f"{key} in ({','.join(values)})")
        elif op == "NotIn":
            parts.append(f"{key} notin ({','.join(values)})")
        elif op == "Exists":
            parts.append(str(key))
        elif op == "DoesNotExist":
            parts.append(f"!{key}")
    return ",".join(parts)


def owned_pods(
    cluster: KubeCluster,
    workload: Json,
    kind: str,
    pods: list[Pod],
    selector: str,
    label: str,
    namespace: str | None,
) -> list[Pod]:
    """The pods a workload controls (a Deployment through its ReplicaSets)."""
    uid = (workload.get("metadata") or {}).get("uid")
    if not uid or kind == "service":
        return pods  # a service owns no pods: its selector is all there is
    owners = {uid}
    if kind == "deployment":
        try:
            replicasets = cluster.list("replicasets", namespace, selector, label)
        except SourceUnavailable:
            return pods  # cannot list ReplicaSets: trust the selector, as kubectl does
        owners = {
            rs_uid
            for rs in replicasets
            if controller_uid(rs) == uid and (rs_uid := (rs.get("metadata") or {}).get("uid"))
        }
    return [p for p in pods if p.owner in owners]
