"""A sidecar in a pod, through a Kubernetes port-forward, as a closable source.

:class:`KubeProxy` wraps :class:`~pdebug.sources.kube.KubeSource` (which finds the pod
and forwards to its admin port) in the :class:`~pdebug.sources.base.Source` shape: a
``with`` block closes the port-forward, and :attr:`KubeProxy.picked` says which pod of a
workload or service was read.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, BinaryIO

from pdebug.sources.base import LiveOptions, SourceBase

if TYPE_CHECKING:
    from pdebug.sources.kube import KubeCluster, KubeSource

__all__ = ["KubeProxy"]


class KubeProxy(SourceBase):
    """A sidecar through a port-forward, as a closable source (wraps ``KubeSource``).

    ``picked`` says which pod a workload or service target was read from, once the first
    GET found it.
    """

    live = True

    def __init__(self, text: str, options: LiveOptions, cluster: KubeCluster | None = None) -> None:
        from pdebug.sources.kube import KubeSource

        self.kube: KubeSource = KubeSource(text, options, cluster)

    @property
    def label(self) -> str:
        """The target, then the pod it reached."""
        return self.kube.label

    @property
    def pod(self) -> str | None:
        """The pod's name once found."""
        return self.kube.pod

    @property
    def namespace(self) -> str | None:
        """The pod's namespace once found."""
        return self.kube.namespace

    @property
    def picked(self) -> str | None:
        """``POD.NS`` when a workload or service target was read from one of its pods."""
        if self.kube.target.kind == "pod" or self.kube.pod is None:
            return None
        return f"{self.kube.pod}.{self.kube.namespace}"

    def get(self, path: str) -> bytes:
        """GET an admin path on the sidecar."""
        return self.kube.get(path)

    def get_to(self, path: str, file: BinaryIO) -> int:
        """GET an admin path straight into ``file``; the body's size."""
        return self.kube.get_to(path, file)

    def close(self) -> None:
        """Close the port-forward (and the cluster session it owns)."""
        self.kube.close()
