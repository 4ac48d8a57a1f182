"""Which pods a snapshot captures: each pod the selection names, sorted into a status.

*Planned* (status ``pending``: Running, with the sidecar), *skipped* (no sidecar
container, or a finished pod; nothing is wrong) and *failed* (a pod named on the command
line that cannot be read, a Pending pod, a dead sidecar). With ``--ambient``, or when a
selected pod carries istio-cni's ambient mark, the ztunnels of the pods' nodes are added.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pdebug.errors import SourceUnavailable
from pdebug.snapshot.records import ProxyRecord

if TYPE_CHECKING:
    from pdebug.snapshot.options import SnapshotOptions
    from pdebug.sources.kube import KubeCluster, Pod

#: Pods in these phases are done: there is no proxy to read, and nothing is wrong.
_FINISHED = ("Succeeded", "Failed")
#: What istio-cni writes on each pod ztunnel captures (Istio ambient).
AMBIENT_ANNOTATION = "ambient.istio.io/redirection"


def record_of(pod: Pod, namespace: str) -> ProxyRecord:
    """A record for ``pod`` (``namespace`` when the object does not say its own)."""
    record = ProxyRecord(pod.name, pod.namespace or namespace, pod.node)
    record.ambient = pod.annotations.get(AMBIENT_ANNOTATION) == "enabled"
    return record


def _sort(pod: Pod, namespace: str, container: str, explicit: bool) -> ProxyRecord:
    """A record: planned (status ``pending``), skipped or failed, with the reason."""
    record = record_of(pod, namespace)
    problem = pod.problem(container)
    if problem is None:
        record.status = "pending"
        return record
    what = problem[0].replace("{pod}", "the pod")
    if not explicit and (not pod.has_container(container) or pod.phase in _FINISHED):
        record.status, record.reason = "skipped", what
    else:
        record.errors.append(what)
    return record


def discover(cluster: KubeCluster, options: SnapshotOptions) -> list[ProxyRecord]:
    """Every pod the selection names, sorted by namespace and name, each with a status.

    A TARGET that cannot be read (not found, forbidden) becomes a failed record; a failed
    listing (``-n``/``-A``/``-l``) is an error: there would be nothing to capture.

    Raises:
        SourceUnavailable: the pods cannot be listed.
    """
    from pdebug.sources.kube import owned_pods, parse_target, selector_text

    sel, container = options.selection, options.live.container
    found: dict[str, ProxyRecord] = {}

    def add(record: ProxyRecord) -> None:
        found.setdefault(record.name, record)

    if not sel.targets:
        ns = None if sel.all_namespaces else cluster.namespace(sel.namespace)
        label = sel.pods(ns or "")
        for pod in cluster.pods(ns, sel.selector or "", label):
            add(_sort(pod, ns or "", container, explicit=False))
    for text in sel.targets:
        target = parse_target(text, sel.namespace)
        ns = cluster.namespace(target.namespace or sel.namespace)
        shown = text if target.namespace else f"{text}.{ns}"
        try:
            if target.kind == "pod":
                add(_sort(cluster.pod(target.name, ns, shown), ns, container, True))
                continue
            workload = cluster.read(target.resource, target.name, ns, shown)
            selector = selector_text((workload.get("spec") or {}).get("selector") or {})
            pods = cluster.pods(ns, selector, shown) if selector else []
            owned = owned_pods(cluster, workload, target.kind, pods, selector, shown, ns)
            if not owned:
                why = f"{shown}: the {target.kind} has no pods"
                add(ProxyRecord(target.name, ns, errors=[why]))
            for pod in owned:
                add(_sort(pod, ns, container, explicit=False))
        except SourceUnavailable as exc:
            add(ProxyRecord(target.name, ns, errors=[exc.message]))
    return sorted(found.values(), key=lambda r: (r.namespace, r.pod))


def ztunnels_of(
    cluster: KubeCluster, options: SnapshotOptions, nodes: list[str]
) -> list[ProxyRecord]:
    """A record per ztunnel pod (the ``ztunnel`` DaemonSet) on ``nodes``, to capture."""
    from pdebug.sources.ztunnel import DAEMONSET, ztunnel_pods

    found: list[ProxyRecord] = []
    try:
        pods = ztunnel_pods(cluster, options.istio_namespace)
    except SourceUnavailable as exc:
        record = ProxyRecord(DAEMONSET, options.istio_namespace, kind="ztunnel")
        record.errors.append(f"daemonset/{DAEMONSET}.{options.istio_namespace}: {exc.message}")
        return [record]
    for pod in pods:
        record = record_of(pod, options.istio_namespace)
        if record.node in nodes:
            record.kind, record.status = "ztunnel", "pending"
            found.append(record)
    return sorted(found, key=lambda r: r.pod)
