"""istiod's part of a snapshot: its sync status, and its view of each captured proxy.

istiod is optional: :class:`IstiodLink` is the one place :mod:`pdebug.sources.istiod`
plugs into a snapshot, and every failure there becomes the manifest's
``istiod: {error: ...}`` (or a proxy's ``istiod_error``) while the snapshot goes on.
"""

from __future__ import annotations

import contextlib
import threading
from typing import TYPE_CHECKING, Any

import orjson

from pdebug.errors import PdebugError, SourceUnavailable
from pdebug.manifest import FileEntry, IstiodEntry

if TYPE_CHECKING:
    from pdebug.model.syncz import SyncDocument
    from pdebug.snapshot.options import SnapshotOptions
    from pdebug.sources.kube import KubeCluster

Json = dict[str, Any]


def why(exc: BaseException) -> str:
    """A failure in words: a pdebug error's message, else ``internal error: ...``."""
    if isinstance(exc, PdebugError):
        return exc.message
    return f"internal error: {type(exc).__name__}: {exc}"


class IstiodLink:
    """istiod, guarded: every failure becomes a message, and calls are serialized.

    :class:`pdebug.sources.istiod.Istiod`, asked as snapshot needs. Nothing is
    contacted on creation: istiod is discovered on the first question. It keeps one
    connection, so the workers take turns.
    """

    def __init__(self, cluster: KubeCluster, options: SnapshotOptions) -> None:
        from pdebug.sources.istiod import Istiod

        self.namespace = options.istio_namespace
        self.error: str | None = None
        self.files: dict[str, FileEntry] = {}
        self.failed_replicas: dict[str, str] = {}  # replica -> why it gave no /debug/syncz
        self.replicas: list[str] = []  # every replica asked
        self.connected: dict[str, str] = {}  # POD.NS -> the replica syncz says it is on
        self.document: SyncDocument | None = None  # the sync status, after syncz()
        self._link: Istiod | None = None
        self._lock = threading.Lock()
        try:
            self._link = Istiod(options.live, namespace=options.istio_namespace, cluster=cluster)
        except Exception as exc:  # noqa: BLE001 - istiod is optional: never fail the snapshot
            self.error = why(exc)

    def syncz(self) -> bytes | None:
        """The sync table; on failure, istiod is given up for this snapshot.

        It is ``{"<replica>": <its answer>, ...}``, the keyed shape pdebug status reads.
        Replicas that failed (hanging, dead) are remembered by the Istiod object, and
        not asked again for config dumps.
        """
        if self._link is None:
            return None
        try:
            with self._lock:
                result = self._link.syncz()  # raises only when no replica answered
                self.failed_replicas = {f.replica: f.error.message for f in result.failures}
                self.replicas = [n for n, _ in result.answers] + list(self.failed_replicas)
                # each answer was parsed (Istiod.syncz checked it is a sync status): write
                # it as JSON again, skipping empty ones (no proxy there; istioctl drops them)
                answers: Json = {
                    name: orjson.loads(body) for name, body in result.answers if body.strip()
                }
                if not answers and self.failed_replicas:
                    raise SourceUnavailable(next(iter(self.failed_replicas.values())))
                self.document = result.document("istiod /debug/syncz")
                return orjson.dumps(answers, option=orjson.OPT_INDENT_2) + b"\n"
        except Exception as exc:  # noqa: BLE001
            self.error = why(exc)
            self.close()
            return None

    def config_dump(self, proxy_id: str) -> tuple[bytes | None, str | None]:
        """Istiod's config for one proxy (its syncz replica asked first), or why not."""
        link = self._link
        if link is None:
            return None, None
        try:
            with self._lock:
                body, _replica = link.config_dump(proxy_id, prefer=self.connected.get(proxy_id))
                return bytes(body), None
        except Exception as exc:  # noqa: BLE001
            return None, why(exc)

    def entry(self) -> IstiodEntry:
        """The manifest's ``istiod`` entry."""
        if self.error is not None:
            return IstiodEntry(self.namespace, self.error)
        return IstiodEntry(
            self.namespace, None, dict(self.files), list(self.replicas), dict(self.failed_replicas)
        )

    def close(self) -> None:
        """Close istiod's connection."""
        link, self._link = self._link, None
        if link is not None:
            with contextlib.suppress(Exception):
                link.close()


def sync_by_proxy(
    document: SyncDocument, connected: dict[str, str] | None = None
) -> dict[str, dict[str, str]]:
    """Per ``POD.NS``: ``{"CDS": "SYNCED", "LDS": "STALE", ...}`` from a sync status.

    ``connected``, when given, is filled with ``POD.NS -> the istiod replica it is on``.
    """
    from pdebug.model import syncz as m

    order = {m.CDS: 0, m.LDS: 1, m.EDS: 2, m.RDS: 3, m.ECDS: 4}
    out: dict[str, dict[str, str]] = {}
    for proxy in document.proxies():
        # xDS answers may carry the whole node ID: sidecar~IP~POD.NS~NS.svc.cluster.local
        parts = proxy.name.split("~")
        key = parts[2] if len(parts) == 4 else proxy.name
        types = sorted(proxy.types.values(), key=lambda t: (order.get(t.type_url, 9), t.type_url))
        out[key] = {m.short_name(t.type_url): m.state_text(t.status) for t in types}
        if connected is not None and proxy.istiod:
            connected.setdefault(key, proxy.istiod)
    return out
