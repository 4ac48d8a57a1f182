"""Where bytes come from. Sources do I/O only; they never parse into the model.

A *source* is what the user named on the command line: a file (or ``-``), an Envoy admin
address (``http://127.0.0.1:15000``, ``localhost:15000``), or a Kubernetes target
(``pod/NAME``, ``NAME.NS``, ``deploy/NAME``...). Every source answers :meth:`Source.get`
for an admin path; a file answers with its whole content whatever the path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from pdebug.sources.file import open_input

if TYPE_CHECKING:
    from pdebug.bundle import Bundle

__all__ = ["FileSource", "LiveOptions", "Source", "classify", "open_source"]


@dataclass(frozen=True)
class LiveOptions:
    """How to reach a live proxy (ignored for files)."""

    timeout: float = 30.0
    namespace: str | None = None
    context: str | None = None
    kubeconfig: str | None = None
    admin_port: int = 15000
    container: str = "istio-proxy"
    max_body: int | None = None  # bytes per answer; None: PDEBUG_MAX_BODY, else 1 GiB


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


_BUNDLE_SUFFIXES = (".tar.gz", ".tgz")


def split_member(text: str) -> tuple[str, str | None]:
    """``bundle.tar.gz:POD.NS`` -> (``bundle.tar.gz``, ``POD.NS``).

    Split when the part before the last ``:`` exists (a bundle file or a snapshot
    directory), or names a ``.tar.gz``/``.tgz`` even if missing: then reading it says
    "no such file" rather than taking the text for a pod name.
    """
    import os

    if text == "-" or os.path.exists(text) or ":" not in text:
        return text, None
    base, member = text.rsplit(":", 1)
    if os.path.exists(base):
        return base, member
    if member and "://" not in base and base.lower().endswith(_BUNDLE_SUFFIXES):
        return base, member
    return text, None


class FileSource:
    """A saved document or bundle: every path answers from the file.

    A plain file answers every path with its content; a bundle (``pdebug dump``,
    ``pdebug snapshot``, or the directory of ``pdebug snapshot --dir``) answers
    ``/clusters...`` with the proxy's ``clusters.json`` and anything else with its
    ``config_dump.json``.
    """

    live = False

    def __init__(self, path: str) -> None:
        self.path, self.member = split_member(path)
        self.label = "stdin" if path == "-" else path
        self._data: bytes | memoryview | None = None
        self._files: dict[str, bytes] | None = None

    def _read(self) -> None:
        if self._data is not None or self._files is not None:
            return
        import os

        if self.path != "-" and os.path.isdir(self.path):
            from pdebug import bundle

            if bundle.is_dir_bundle(self.path):
                self._open(bundle.read_dir_bundle(self.path))
                return
        with open_input(self.path) as opened:
            self.label = opened.label
            if opened.is_tar():  # a plain dump never imports the bundle code
                from pdebug import bundle

                member = self.member
                self._open(bundle.read_tar(opened, opened.label, lambda b: [b.pick(member)]))
                return
            if self.member is not None:
                from pdebug.errors import InvalidInput

                raise InvalidInput(
                    f"{self.path}: not a bundle, so there is no proxy {self.member!r} in it"
                )
            self._data = opened.read_all()

    def _open(self, opened: Bundle) -> None:
        name = opened.pick(self.member)
        self._files = opened.proxy(name)
        self.label = f"{opened.label}:{name}"

    def get(self, path: str) -> bytes | memoryview:
        """The file's bytes (read once; gunzipped; large files memory-mapped)."""
        self._read()
        if self._files is not None:
            from pdebug import bundle
            from pdebug.errors import InvalidInput

            name = bundle.CLUSTERS if path.startswith("/clusters") else bundle.DUMP
            if path.startswith("/stats"):
                name = bundle.STATS
            if name not in self._files:
                raise InvalidInput(
                    f"{self.label}: the bundle has no {name} for this proxy",
                    hint="the capture saved no such document; take another snapshot",
                )
            return self._files[name]
        assert self._data is not None
        return self._data

    def health_document(self) -> bytes | None:
        """A bundle's ``clusters.json`` for this proxy, if it has one."""
        self._read()
        if self._files is None:
            return None
        from pdebug import bundle

        return self._files.get(bundle.CLUSTERS)

    def document(self, name: str) -> bytes | None:
        """A bundle's document ``name`` for this proxy (``None``: absent, or not a bundle)."""
        self._read()
        return None if self._files is None else self._files.get(name)

    def close(self) -> None:
        """Nothing to release."""


_URL = re.compile(r"^https?://", re.I)
_HOST_PORT = re.compile(r"^(localhost|\[[0-9a-fA-F:]+\]|[0-9.]+|[a-zA-Z0-9.-]+):(\d{1,5})(/.*)?$")
#: An IP or localhost with any port text: an admin address, never a pod (its port is checked).
_IP_PORT = re.compile(r"^(localhost|\[[0-9a-fA-F:]+\]|[0-9.]+):[^/]*(/.*)?$")
_KUBE = re.compile(
    r"^(pod|pods|po|deploy|deployment|deployments|sts|statefulset|statefulsets|ds|daemonset|"
    r"daemonsets|rs|replicaset|replicasets|svc|service|services)/",
    re.I,
)


def classify(text: str) -> str:
    """``file``, ``admin`` or ``kube`` for a SOURCE argument.

    An existing path or ``-`` is a file; ``http(s)://...`` and ``HOST:PORT`` are admin
    addresses; ``KIND/NAME`` is a Kubernetes target. Anything else that does not exist as
    a file but looks like ``NAME`` or ``NAME.NS`` is a pod.
    """
    import os

    if text == "-" or os.path.exists(text) or split_member(text)[1] is not None:
        return "file"
    if _URL.match(text) or _HOST_PORT.match(text) or _IP_PORT.match(text):
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

        return AdminSource(text, options.timeout, max_body=options.max_body)
    if kind == "kube":
        from pdebug.sources.kube import KubeSource

        kube: Source = KubeSource(text, options)
        return kube
    return FileSource(text)
