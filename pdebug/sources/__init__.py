"""Where bytes come from. Sources do I/O only; they never parse into the model.

The path of a SOURCE argument: :mod:`pdebug.sources.spec` parses the command line's words
once into a :data:`~pdebug.sources.spec.SourceSpec`; :func:`open_source` opens that spec
as a :class:`Source`, used in a ``with`` block that closes it:

* a file, stdin, a bundle or one of its proxies: :class:`~pdebug.sources.file.FileSource`
  (bundles are read by :mod:`pdebug.sources.bundle`);
* an Envoy admin address: :class:`~pdebug.sources.admin.AdminSource`;
* a pod, workload or service: :class:`KubeProxy` over
  :class:`~pdebug.sources.kube.KubeSource` (a port-forward).

Every source answers :meth:`Source.get` for an admin path; a file answers with its whole
content whatever the path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, BinaryIO

from pdebug.sources.base import LiveOptions, Source, SourceBase
from pdebug.sources.spec import (
    AdminSpec,
    KubeSpec,
    SourceSpec,
    classify,
    parse_source,
    split_member,
)

if TYPE_CHECKING:
    from pdebug.sources.file import FileSource
    from pdebug.sources.kube import KubeCluster, KubeSource

__all__ = [
    "FileSource",
    "KubeProxy",
    "LiveOptions",
    "Source",
    "SourceBase",
    "classify",
    "open_source",
    "split_member",
]


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


def open_source(
    spec: SourceSpec | str, options: LiveOptions | None = None, cluster: KubeCluster | None = None
) -> Source:
    """The source a spec names (a string is parsed first: library callers and tests).

    ``cluster`` shares a Kubernetes session (``pdebug diff POD`` asks istiod through it).
    Nothing is read until the first ``get``.
    """
    if isinstance(spec, str):
        spec = parse_source(spec)
    options = options or LiveOptions()
    match spec:
        case AdminSpec():
            from pdebug.sources.admin import AdminSource

            return AdminSource(spec.url, options.timeout, max_body=options.max_body, what=spec.what)
        case KubeSpec():
            return KubeProxy(spec.text, options, cluster)
        case _:
            from pdebug.sources.file import FileSource as _FileSource

            return _FileSource(spec)


def __getattr__(name: str) -> object:
    """``pdebug.sources.FileSource`` without importing the file code up front."""
    if name == "FileSource":
        from pdebug.sources.file import FileSource as _FileSource

        return _FileSource
    raise AttributeError(name)
