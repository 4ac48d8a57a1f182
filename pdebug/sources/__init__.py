"""Where bytes come from. Sources do I/O only; they never parse into the model.

A *source* is what the user named on the command line: a file (or ``-``), an Envoy admin
address (``http://127.0.0.1:15000``, ``localhost:15000``), or a Kubernetes target
(``pod/NAME``, ``NAME.NS``, ``deploy/NAME``...). Every source answers :meth:`Source.get`
for an admin path; a file answers with its whole content whatever the path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

from pdebug.sources.file import read_file

__all__ = ["LiveOptions", "Source", "classify", "open_source", "read_source"]


@dataclass(frozen=True)
class LiveOptions:
    """How to reach a live proxy (ignored for files)."""

    timeout: float = 30.0
    namespace: str | None = None
    context: str | None = None
    kubeconfig: str | None = None
    admin_port: int = 15000
    container: str = "istio-proxy"


class Source(Protocol):
    """Something that can answer Envoy admin GETs."""

    label: str
    live: bool

    def get(self, path: str) -> bytes | memoryview:
        """GET an admin path such as ``/config_dump?include_eds``; the body on 200."""
        ...

    def close(self) -> None:
        """Release connections (port-forwards)."""
        ...


class FileSource:
    """A saved document: every path answers with the file's content."""

    live = False

    def __init__(self, path: str) -> None:
        self.path = path
        self.label = "stdin" if path == "-" else path
        self._data: bytes | memoryview | None = None

    def get(self, path: str) -> bytes | memoryview:
        """The file's bytes (read once; gunzipped; large files memory-mapped)."""
        if self._data is None:
            self._data, self.label = read_file(self.path)
        return self._data

    def close(self) -> None:
        """Nothing to release."""


_URL = re.compile(r"^https?://", re.I)
_HOST_PORT = re.compile(r"^(localhost|\[[0-9a-fA-F:]+\]|[0-9.]+|[a-zA-Z0-9.-]+):(\d{1,5})(/.*)?$")
_KUBE = re.compile(
    r"^(pod|pods|po|deploy|deployment|deployments|sts|statefulset|statefulsets|ds|daemonset|"
    r"daemonsets|rs|replicaset|replicasets)/",
    re.I,
)


def classify(text: str) -> str:
    """``file``, ``admin`` or ``kube`` for a SOURCE argument.

    An existing path or ``-`` is a file; ``http(s)://...`` and ``HOST:PORT`` are admin
    addresses; ``KIND/NAME`` is a Kubernetes target. Anything else that does not exist as
    a file but looks like ``NAME`` or ``NAME.NS`` is a pod.
    """
    import os

    if text == "-" or os.path.exists(text):
        return "file"
    if _URL.match(text) or _HOST_PORT.match(text):
        return "admin"
    if _KUBE.match(text):
        return "kube"
    if "/" in text or text.endswith((".json", ".gz", ".tgz", ".tar.gz")):
        return "file"
    return "kube"


def open_source(text: str, options: LiveOptions | None = None) -> Source:
    """The source a SOURCE argument names."""
    options = options or LiveOptions()
    kind = classify(text)
    if kind == "admin":
        from pdebug.sources.admin import AdminSource

        return AdminSource(text, options.timeout)
    if kind == "kube":
        from pdebug.sources.kube import KubeSource

        kube: Source = KubeSource(text, options)
        return kube
    return FileSource(text)


def read_source(source: str) -> tuple[bytes | memoryview, str]:
    """Read a file source (``-`` is stdin); kept for callers that only take files."""
    return read_file(source)
