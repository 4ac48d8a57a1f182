"""Where bytes come from. Sources do I/O only; they never parse into the model.

The path of a SOURCE argument: :mod:`pdebug.sources.spec` parses the command line's words
once into a :data:`~pdebug.sources.spec.SourceSpec`; :func:`open_source` opens that spec
as a :class:`Source`, used in a ``with`` block that closes it:

* a file, stdin, a bundle or one of its proxies: :class:`~pdebug.sources.saved.FileSource`
  (bundles are read by :mod:`pdebug.sources.bundle`);
* an Envoy admin address: :class:`~pdebug.sources.admin.AdminSource`;
* a pod, workload or service: :class:`~pdebug.sources.pod.KubeProxy` over
  :class:`~pdebug.sources.kube.KubeSource` (a port-forward).

Every source answers :meth:`Source.get` for an admin path; a file answers with its whole
content whatever the path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

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
    from pdebug.sources.kube import KubeCluster
    from pdebug.sources.pod import KubeProxy
    from pdebug.sources.saved import FileSource
    from pdebug.sources.spec import SourceWords

__all__ = [
    "FileSource",
    "KubeProxy",
    "LiveOptions",
    "Source",
    "SourceBase",
    "classify",
    "open_source",
    "open_text",
    "read_answer",
    "split_member",
]


def open_source(
    spec: SourceSpec, options: LiveOptions | None = None, cluster: KubeCluster | None = None
) -> Source:
    """The source a spec names, to use in a ``with`` block (which closes it).

    ``cluster`` shares a Kubernetes session (``pdebug diff POD`` asks istiod through it).
    Nothing is read until the first ``get``.
    """
    options = options or LiveOptions()
    match spec:
        case AdminSpec():
            from pdebug.sources.admin import AdminSource

            return AdminSource.of(spec, options.timeout, options.max_body)
        case KubeSpec():
            from pdebug.sources.pod import KubeProxy

            return KubeProxy(spec.text, options, cluster)
        case _:
            from pdebug.sources.saved import FileSource as _FileSource

            return _FileSource(spec)


def read_answer(
    given: SourceSpec | SourceWords, options: LiveOptions, path: str
) -> tuple[bytes | memoryview, str]:
    """One answer of what SOURCE names (a file: what it holds), and the source's label.

    SOURCE's words are parsed first (:func:`~pdebug.sources.spec.spec_of`); the source
    is opened and closed here (``pdebug stats``: ``/stats?format=json``).
    """
    from pdebug.sources.spec import spec_of

    with open_source(spec_of(given), options) as source:
        return source.get(path), source.label


def open_text(text: str, options: LiveOptions | None = None) -> Source:
    """The source a SOURCE word names, for library callers that hold the word itself."""
    return open_source(parse_source(text), options)


def __getattr__(name: str) -> object:
    """``FileSource`` and ``KubeProxy`` without importing their code up front."""
    if name == "FileSource":
        from pdebug.sources.saved import FileSource as _FileSource

        return _FileSource
    if name == "KubeProxy":
        from pdebug.sources.pod import KubeProxy as _KubeProxy

        return _KubeProxy
    raise AttributeError(name)
