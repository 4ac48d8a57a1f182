"""Envoy ``/clusters?format=json``: live endpoint health and outlier flags."""

from __future__ import annotations

import sys
from typing import Any

import msgspec

from pdebug.errors import InvalidInput
from pdebug.model import schema as s


class _Document(msgspec.Struct, gc=False):
    cluster_statuses: msgspec.Raw = msgspec.Raw()
    clusterStatuses: msgspec.Raw = msgspec.Raw()  # noqa: N815 - wire spelling


_DOCUMENT = msgspec.json.Decoder(_Document, strict=False)


class ClustersStatus:
    """A parsed ``/clusters?format=json`` document."""

    def __init__(self, doc: s.ClustersDocument, data: bytes, source: str) -> None:
        self.doc = doc
        self._data = data
        self.source = source
        self._generic: list[Any] | None = None

    @classmethod
    def parse(cls, data: bytes, source: str) -> ClustersStatus:
        """Decode ``data``, each field in either spelling (snake_case or lowerCamelCase).

        A cluster whose status does not decode is skipped with a warning.

        Raises:
            InvalidInput: not JSON, or not a ``/clusters?format=json`` document.
        """
        from pdebug.model.dump import DECODE_FAILURES, decode_failure, decode_items, sanitize

        hint = "capture it with: curl -s 'localhost:15000/clusters?format=json'"
        try:
            top = _DOCUMENT.decode(data)
        except DECODE_FAILURES as exc:
            raise InvalidInput(
                f"{source}: not a valid /clusters?format=json document ({decode_failure(exc)})",
                hint=hint,
            ) from None
        raw = top.cluster_statuses if len(top.cluster_statuses) else top.clusterStatuses
        statuses: list[s.ClusterStatus] = []
        if len(raw) and bytes(raw) != b"null":

            def warn(message: str) -> None:
                print(f"pdebug: warning: {sanitize(message)}", file=sys.stderr)

            statuses = decode_items(raw, s.ClusterStatus, f"{source}: cluster_statuses", warn)
        return cls(s.ClustersDocument(cluster_statuses=statuses), data, source)

    @property
    def statuses(self) -> list[s.ClusterStatus]:
        """``cluster_statuses[]`` in document order."""
        return self.doc.cluster_statuses

    def raw_status(self, index: int) -> Any:
        """``cluster_statuses[index]`` (as :attr:`statuses` numbers it) as in the document."""
        from pdebug.model.dump import plain_json, position

        if self._generic is None:
            top = plain_json(self._data, self.source)
            found = top.get("cluster_statuses", top.get("clusterStatuses", []))
            self._generic = found if isinstance(found, list) else []
        return self._generic[position(self.doc.cluster_statuses, index)]


def host_is_healthy(host: s.HostStatus) -> bool:
    """Whether Envoy would send traffic to ``host`` (no failure flag, EDS status usable)."""
    hs = host.health_status
    if hs is None:
        return True
    if hs.failed_active_health_check or hs.failed_outlier_check or hs.pending_dynamic_removal:
        return False
    return hs.eds_health_status in ("", "UNKNOWN", "HEALTHY")
