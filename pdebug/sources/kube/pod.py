"""A typed view of a Pod as the API server returns it (kr8s-style: typed fields over ``raw``).

pdebug reads a handful of a pod's fields (name, namespace, node, phase, containers,
annotations, labels, its controller, readiness); :class:`Pod` parses them once, leniently
(a missing or odd-typed field is empty, never an exception), and keeps the object in
``raw``. Facts it relies on:

* Istio's native-sidecar mode runs ``istio-proxy`` as an *init* container with
  ``restartPolicy: Always`` that keeps running: such containers count as containers;
* a pod's controller is the ``ownerReferences`` entry with ``controller: true``;
* a pod being deleted has ``metadata.deletionTimestamp`` and is never picked.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

Json = dict[str, Any]


def _dict(value: Any) -> Json:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Json]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _strings(value: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in _dict(value).items() if isinstance(v, str)}


def name_of(obj: Json) -> str:
    """A Kubernetes object's ``metadata.name`` ('' when missing)."""
    return str((obj.get("metadata") or {}).get("name") or "")


def controller_uid(obj: Json) -> str | None:
    """The uid of the object's controller (its ``controller: true`` owner), if any."""
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if isinstance(ref, dict) and ref.get("controller"):
            uid = ref.get("uid")
            return str(uid) if uid else None
    return None


@dataclass(frozen=True, eq=False)
class Pod:
    """The fields of a pod pdebug reads, with the API object in :attr:`raw`.

    Attributes:
        name: ``metadata.name``.
        namespace: ``metadata.namespace`` ('' when the object does not say).
        node: ``spec.nodeName`` (None before scheduling).
        phase: ``status.phase`` (``Unknown`` when missing).
        containers: Names of the containers, then of the native sidecars (init
            containers with ``restartPolicy: Always``).
        annotations: ``metadata.annotations`` (string values).
        labels: ``metadata.labels`` (string values).
        owner: The uid of the pod's controller (a ReplicaSet, a DaemonSet...).
        ready: The ``Ready`` condition is ``True``.
        deleting: ``metadata.deletionTimestamp`` is set.
    """

    name: str
    namespace: str = ""
    node: str | None = None
    phase: str = "Unknown"
    containers: tuple[str, ...] = ()
    annotations: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    owner: str | None = None
    ready: bool = False
    deleting: bool = False
    raw: Json = field(default_factory=dict, repr=False)

    @classmethod
    def from_raw(cls, obj: Json) -> Pod:
        """The view of a pod object (lenient: odd fields read as empty)."""
        meta, spec, status = (_dict(obj.get(k)) for k in ("metadata", "spec", "status"))
        names = [str(c.get("name") or "") for c in _list(spec.get("containers"))]
        names += [
            str(c.get("name") or "")
            for c in _list(spec.get("initContainers"))
            if c.get("restartPolicy") == "Always"
        ]
        node = spec.get("nodeName")
        return cls(
            name=str(meta.get("name") or ""),
            namespace=str(meta.get("namespace") or ""),
            node=str(node) if node else None,
            phase=str(status.get("phase") or "Unknown"),
            containers=tuple(names),
            annotations=_strings(meta.get("annotations")),
            labels=_strings(meta.get("labels")),
            owner=controller_uid(obj),
            ready=any(
                c.get("type") == "Ready" and c.get("status") == "True"
                for c in _list(status.get("conditions"))
            ),
            deleting=bool(meta.get("deletionTimestamp")),
            raw=obj,
        )

    @classmethod
    def of(cls, pod: Pod | Json) -> Pod:
        """``pod`` itself, or the view of a raw pod object."""
        return pod if isinstance(pod, Pod) else cls.from_raw(pod)

    @property
    def running_and_ready(self) -> bool:
        """Running, Ready, and not being deleted."""
        return self.phase == "Running" and self.ready and not self.deleting

    @property
    def state(self) -> str:
        """The pod's state in a few words, for listing why none was picked."""
        if self.deleting:
            return f"{self.phase}, terminating"
        if self.phase == "Running":
            return "Running, not Ready"
        return self.phase

    def has_container(self, name: str) -> bool:
        """Whether the pod has a container (or native sidecar) called ``name``."""
        return name in self.containers

    def problem(self, container: str) -> tuple[str, str] | None:
        """Why ``container`` cannot be read (pod not Running, no or a dead container), or None.

        Returns ``(what, hint)``: ``what`` contains ``{pod}`` where the pod is named,
        ``hint`` contains ``{pod}`` and ``{ns}`` placeholders.
        """
        status = _dict(self.raw.get("status"))
        describe = "kubectl describe pod {pod} -n {ns}"
        if self.phase != "Running":
            why = _not_running_reason(status)
            return f"{{pod}} is {self.phase}, not Running" + (f" ({why})" if why else ""), describe
        if container not in self.containers:
            listed = ", ".join(self.containers) or "none"
            return (
                f"{{pod}} has no container {container!r} (containers: {listed})",
                "is the Istio sidecar injected? for another proxy container use --container",
            )
        statuses = _list(status.get("containerStatuses")) + _list(
            status.get("initContainerStatuses")
        )
        for cs in statuses:
            if cs.get("name") != container:
                continue
            state = _dict(cs.get("state"))
            for key in ("waiting", "terminated"):
                if key in state:
                    reason = _dict(state[key]).get("reason") or key
                    return (
                        f"container {container} of {{pod}} is {key} ({reason}), not running",
                        f"kubectl logs {{pod}} -c {container} -n {{ns}} --previous",
                    )
        return None


def _not_running_reason(status: Json) -> str:
    """A short why for a pod that is not Running (unschedulable, image pull...)."""
    for cond in _list(status.get("conditions")):
        if cond.get("type") == "PodScheduled" and cond.get("status") == "False":
            return str(cond.get("reason") or "not scheduled")
    statuses = _list(status.get("initContainerStatuses")) + _list(status.get("containerStatuses"))
    for cs in statuses:
        state = _dict(cs.get("state"))
        for key in ("waiting", "terminated"):
            reason = _dict(state.get(key)).get("reason")
            if reason:
                return f"container {cs.get('name')}: {reason}"
    return str(status.get("reason") or "")


def running_and_ready(pod: Pod | Json) -> bool:
    """Running, Ready, and not being deleted."""
    return Pod.of(pod).running_and_ready


def pod_state(pod: Pod | Json) -> str:
    """A pod's state in a few words, for listing why none was picked."""
    return Pod.of(pod).state


def sidecar_problem(pod: Pod | Json, container: str) -> tuple[str, str] | None:
    """Why ``pod`` cannot be read (not Running, no or a dead sidecar), or ``None``.

    See :meth:`Pod.problem`.
    """
    return Pod.of(pod).problem(container)
