"""Where a ztunnel's ``/config_dump`` comes from: a file, an admin URL, or the cluster.

The cluster rules are istioctl ``ztunnel-config``'s (research note ``ztunnel.md`` §3.2):

* ``--node N``: the pod of the ``ztunnel`` DaemonSet (in the Istio namespace) on node N;
* a ztunnel pod (label ``app=ztunnel``, or no ``app`` label and a name starting with
  ``ztunnel``): that pod;
* any other pod (a workload): the ztunnel on that pod's node, and the workload's name and
  namespace become filters of the workload and connection tables;
* nothing: a pod of the ``ztunnel`` DaemonSet; the per-instance views (certificates,
  connections) insist that there is exactly one.

A bare ``NAME`` without ``-n`` is looked up in the Istio namespace, as istioctl does.
Everything is read-only: GETs on the API server and on ztunnel's admin port (15000).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pdebug.errors import SourceUnavailable, UsageError
from pdebug.sources.base import LiveOptions
from pdebug.sources.spec import ztunnel_source as source_of  # zc's SOURCE, -f and --node

if TYPE_CHECKING:
    from pdebug.sources.kube import KubeCluster, Pod
    from pdebug.sources.spec import SourceSpec

__all__ = ["DAEMONSET", "Fetched", "fetch", "is_ztunnel_pod", "source_of", "ztunnel_pods"]

Json = dict[str, Any]
DAEMONSET = "ztunnel"
ADMIN_PATH = "/config_dump"


@dataclass(frozen=True)
class Fetched:
    """A ztunnel dump's bytes, who answered, and the workload a pod argument named."""

    data: bytes | memoryview
    label: str
    workload: tuple[str, str] | None = None  # (pod name, namespace)


def is_ztunnel_pod(pod: Pod) -> bool:
    """Istioctl's test: ``app=ztunnel``, or no ``app`` label and a ``ztunnel`` name prefix."""
    app = pod.labels.get("app")
    if app is not None:
        return app == "ztunnel"
    return pod.name.startswith("ztunnel")


def fetch(
    spec: SourceSpec | None,
    node: str | None,
    options: LiveOptions,
    istio_namespace: str,
    need_one: bool = False,
) -> Fetched:
    """The dump the command line names (see the module docstring)."""
    from pdebug.sources.spec import AdminSpec, FileSpec, KubeSpec, MemberSpec

    match spec:
        case KubeSpec():
            return _from_cluster(spec.text, node, options, istio_namespace, need_one)
        case FileSpec() | MemberSpec():
            from pdebug.sources.saved import FileSource

            with FileSource(spec, want="ztunnel") as fs:
                return Fetched(fs.get(ADMIN_PATH), fs.label)
        case AdminSpec():
            from pdebug.sources.admin import AdminSource

            with AdminSource.of(spec, options.timeout) as admin:
                return Fetched(admin.get(ADMIN_PATH), admin.label)
    return _from_cluster(None, node, options, istio_namespace, need_one)


def _from_cluster(
    source: str | None, node: str | None, options: LiveOptions, istio_ns: str, need_one: bool
) -> Fetched:
    from pdebug.sources.kube import KubeCluster, parse_target

    label = source or (f"--node {node}" if node else f"daemonset/{DAEMONSET}.{istio_ns}")
    with KubeCluster(options, label) as cluster:
        workload: tuple[str, str] | None = None
        if node:
            pod = _on_node(cluster, node, istio_ns, label)
        elif source:
            target = parse_target(source, options.namespace)
            ns = target.namespace or options.namespace or istio_ns
            if target.kind == "pod":
                pod = cluster.pod(target.name, ns, f"{target.name}.{ns}")
            else:
                pod = _first(_pods_of(cluster, target.resource, target.name, ns), label)
            if not is_ztunnel_pod(pod):
                name, where = pod.name, pod.node
                if not where:
                    raise SourceUnavailable(
                        f"pod {name}.{ns} is not scheduled to a node, so no ztunnel serves it",
                        hint=f"kubectl get pod {name} -n {ns} -o wide",
                    )
                workload = (name, ns)
                pod = _on_node(cluster, where, istio_ns, f"{name}.{ns}")
        else:
            pods = _pods_of(cluster, "daemonsets", DAEMONSET, istio_ns)
            if need_one and len(pods) != 1:
                raise UsageError(
                    f"this view is per ztunnel and {len(pods)} ztunnel pods run in {istio_ns}",
                    hint="name one: pdebug zc VIEW ztunnel-POD, --node NODE, or a workload pod",
                )
            pod = _first(pods, label)
        name, ns = pod.name, pod.namespace or istio_ns
        where = f"pod/{name}.{ns}"
        with cluster.forward(name, ns, options.admin_port, where, service="ztunnel admin") as fwd:
            return Fetched(fwd.get(ADMIN_PATH), where, workload)


def ztunnel_pods(cluster: KubeCluster, istio_namespace: str) -> list[Pod]:
    """The pods of the ``ztunnel`` DaemonSet (``pdebug snapshot --ambient`` captures them)."""
    return _pods_of(cluster, "daemonsets", DAEMONSET, istio_namespace)


def _pods_of(cluster: KubeCluster, resource: str, name: str, namespace: str) -> list[Pod]:
    """The pods of a workload (for the DaemonSet: by its selector's ``matchLabels``)."""
    from pdebug.sources.kube import selector_text

    obj = cluster.read(resource, name, namespace, f"{resource}/{name}.{namespace}")
    selector = selector_text(((obj.get("spec") or {}).get("selector")) or {})
    if not selector:
        raise SourceUnavailable(
            f"{resource}/{name}.{namespace} has no selector, so no pods",
            hint=f"kubectl get {resource} {name} -n {namespace} -o yaml",
        )
    return cluster.pods(namespace, selector, f"{resource}/{name}")


def _on_node(cluster: KubeCluster, node: str, istio_ns: str, label: str) -> Pod:
    pods = [p for p in _pods_of(cluster, "daemonsets", DAEMONSET, istio_ns) if p.node == node]
    if not pods:
        raise SourceUnavailable(
            f"{label}: no ztunnel pod on node {node} (daemonset/{DAEMONSET} in {istio_ns})",
            hint=f"kubectl get pods -n {istio_ns} -l app=ztunnel -o wide; "
            "is the namespace ambient (istio.io/dataplane-mode=ambient)?",
        )
    return _first(pods, label)


def _first(pods: list[Pod], label: str) -> Pod:
    """The first Running and Ready pod by name (else the first by name)."""
    if not pods:
        raise SourceUnavailable(
            f"{label}: no ztunnel pods found",
            hint="is Istio installed in ambient mode? kubectl get ds -A -l app=ztunnel "
            "(-i names the Istio namespace)",
        )
    ordered = sorted(pods, key=lambda p: p.name)
    ready = [p for p in ordered if p.running_and_ready]
    return (ready or ordered)[0]
