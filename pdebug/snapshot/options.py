"""What to snapshot: which pods (:class:`Selection`) and how (:class:`SnapshotOptions`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pdebug.errors import UsageError

if TYPE_CHECKING:
    from pdebug.sources import LiveOptions

Json = dict[str, Any]


@dataclass(frozen=True)
class Selection:
    """Which pods to capture: TARGETs, or ``-n``/``-A`` with an optional ``-l``.

    Attributes:
        targets: ``pod/NAME``, ``NAME.NS``, ``deploy/NAME``... (KubeSource syntax); a
            workload means all of its pods.
        namespace: ``-n``: the namespace to list, and of TARGETs without ``.NS``.
        all_namespaces: ``-A``.
        selector: ``-l``: a label selector.
    """

    targets: tuple[str, ...] = ()
    namespace: str | None = None
    all_namespaces: bool = False
    selector: str | None = None

    def check(self) -> None:
        """Reject combinations that cannot work, before any I/O.

        Raises:
            UsageError: nothing selected, ``-A`` with ``-n``, or TARGETs with ``-A``/``-l``.
        """
        from pdebug.sources.kube import parse_target

        if self.all_namespaces and self.namespace:
            raise UsageError("give -n NAMESPACE or -A, not both")
        if self.targets and (self.all_namespaces or self.selector):
            raise UsageError(
                "give TARGETs or -A / -l SELECTOR, not both",
                hint="e.g. pdebug snapshot -n shop -l app=web, or pdebug snapshot pod/a pod/b",
            )
        if not (self.targets or self.namespace or self.all_namespaces or self.selector):
            raise UsageError(
                "say which proxies to capture",
                hint="-n NAMESPACE, -A (every namespace), -l SELECTOR, or pods/workloads "
                "(pod/NAME, NAME.NS, deploy/NAME)",
            )
        for text in self.targets:
            parse_target(text, self.namespace)

    def plain(self) -> Json:
        """The selection for the manifest."""
        return {
            "targets": list(self.targets),
            "namespace": self.namespace,
            "all_namespaces": self.all_namespaces,
            "selector": self.selector,
        }

    def describe(self, namespace: str) -> str:
        """In words, e.g. ``pods matching app=web in namespace shop``."""
        if self.targets:
            n = len(self.targets)
            return ", ".join(self.targets) if n <= 3 else f"{n} targets"
        where = "all namespaces" if self.all_namespaces else f"namespace {namespace}"
        if self.selector:
            return f"pods matching {self.selector} in {where}"
        return where

    def pods(self, namespace: str) -> str:
        """The listed pods in words: ``pods in namespace shop``, ``pods matching X in ...``."""
        where = "any namespace" if self.all_namespaces else f"namespace {namespace}"
        return f"pods matching {self.selector} in {where}" if self.selector else f"pods in {where}"


@dataclass(frozen=True)
class SnapshotOptions:
    """How to take the snapshot.

    Attributes:
        live: Context, kubeconfig, admin port, container, and ``timeout`` per request.
        selection: Which pods.
        parallel: How many proxies are read at once.
        redact: Redact secrets (``--no-redact`` turns it off; recorded in the manifest).
        istiod: Ask istiod too (``--no-istiod`` turns it off).
        istio_namespace: Where istiod runs.
    """

    live: LiveOptions
    selection: Selection
    parallel: int = 8
    redact: bool = True
    istiod: bool = True
    istio_namespace: str = "istio-system"
    #: also capture the ztunnel (Istio ambient) of every node the selected pods run on
    ambient: bool = False
    #: ``--all-stats``: save every stat, not only those written since the proxy started
    all_stats: bool = False
