"""How each pod fared: :class:`ProxyRecord` (one manifest line), progress and the result."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from pdebug.manifest import FileEntry, IstiodEntry, Manifest, ProxyEntry, SkippedEntry

#: The longest member directory name kept as is (file systems allow 255 bytes).
MAX_MEMBER = 200


def member_name(proxy_id: str) -> str:
    """A bundle member (directory) name for ``POD.NS``, short enough for a file name.

    ``POD.NS`` itself when it is at most :data:`MAX_MEMBER` bytes, else its start plus
    ``-`` and 16 hex digits of its sha256: Kubernetes allows a 253-character pod name
    and a 63-character namespace, too long for one file name. The manifest's ``pod``
    and ``namespace`` keep the full names.
    """
    raw = proxy_id.encode()
    if len(raw) <= MAX_MEMBER:
        return proxy_id
    digest = hashlib.sha256(raw).hexdigest()[:16]
    head = raw[: MAX_MEMBER - 17].decode("utf-8", "ignore")
    return f"{head}-{digest}"


@dataclass
class ProxyRecord:
    """One pod's line in the manifest.

    ``status`` is ``captured`` (the config dump is saved; ``errors`` lists any other
    document that failed), ``failed`` (no config dump: ``errors`` says why) or
    ``skipped`` (not a proxy to read: ``reason``); ``pending`` while planned.
    """

    pod: str
    namespace: str
    node: str | None = None
    status: str = "failed"
    errors: list[str] = field(default_factory=list)
    files: dict[str, FileEntry] = field(default_factory=dict)
    reason: str = ""
    #: ``sidecar`` (an Envoy: every view reads it) or ``ztunnel`` (``pdebug zc`` reads it)
    kind: str = "sidecar"
    #: the pod is captured by ztunnel (annotation ``ambient.istio.io/redirection: enabled``)
    ambient: bool = False
    sync: dict[str, str] | None = None
    istiod_error: str | None = None
    #: the manifest's ``stats``: which stats ``stats.txt`` holds (``usedonly``, ``all``)
    stats: str | None = None

    @property
    def proxy_id(self) -> str:
        """``POD.NS``: how istiod and the user name the proxy."""
        return f"{self.pod}.{self.namespace}"

    @property
    def name(self) -> str:
        """The bundle member name: ``POD.NS``, shortened when too long for a file name."""
        return member_name(self.proxy_id)

    @property
    def label(self) -> str:
        """``pod/POD.NS``, as the user would type it."""
        return f"pod/{self.name}"

    def entry(self) -> ProxyEntry:
        """The manifest's ``proxies`` entry (captured or failed)."""
        return ProxyEntry(
            name=self.name,
            source=self.label,
            pod=self.pod,
            namespace=self.namespace,
            node=self.node,
            status=self.status,
            files=dict(self.files),
            errors=list(self.errors),
            sync=self.sync,
            istiod_error=self.istiod_error,
            kind=self.kind,
            stats=self.stats,
        )

    def skipped(self) -> SkippedEntry:
        """The manifest's ``skipped`` entry."""
        return SkippedEntry(self.pod, self.namespace, self.node, self.reason)


@dataclass(frozen=True)
class Progress:
    """One proxy finished (or was skipped): what the command line shows."""

    record: ProxyRecord
    done: int
    total: int


@dataclass
class SnapshotResult:
    """What was written, and how each pod fared."""

    output: str
    records: list[ProxyRecord]
    istiod: IstiodEntry | None
    manifest: Manifest

    def count(self, status: str) -> int:
        """How many pods have ``status``."""
        return sum(1 for r in self.records if r.status == status)

    @property
    def incomplete(self) -> int:
        """Captured proxies with a document missing."""
        return sum(1 for r in self.records if r.status == "captured" and r.errors)

    @property
    def ok(self) -> bool:
        """Every proxy captured with every document (skipped pods are fine)."""
        return self.count("failed") == 0 and self.incomplete == 0

    def summary(self) -> str:
        """``3 proxies captured, 1 failed, 2 skipped`` (plus documents missing, if any)."""
        captured = self.count("captured")
        text = f"{captured} prox{'y' if captured == 1 else 'ies'} captured"
        if self.incomplete:
            text += f" ({self.incomplete} with documents missing)"
        text += f", {self.count('failed')} failed"
        if self.count("skipped"):
            text += f", {self.count('skipped')} skipped"
        return text
