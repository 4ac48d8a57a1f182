"""Envoy ``/clusters?format=json``: live endpoint health and outlier flags."""

from __future__ import annotations

from typing import Any

import msgspec
import orjson

from pdebug.errors import InvalidInput
from pdebug.model import schema as s
from pdebug.model.camel import snake_keys

# Any of these means the document is (at least partly) lowerCamelCase.
_CAMEL_MARKERS = (b'"clusterStatuses"', b'"hostStatuses"', b'"healthStatus"', b'"socketAddress"')


class ClustersStatus:
    """A parsed ``/clusters?format=json`` document."""

    def __init__(self, doc: s.ClustersDocument, data: bytes, source: str) -> None:
        self.doc = doc
        self._data = data
        self.source = source
        self._generic: list[Any] | None = None

    @classmethod
    def parse(cls, data: bytes, source: str) -> ClustersStatus:
        """Decode ``data``; mixed snake/camel spellings are normalised first."""
        try:
            if any(marker in data for marker in _CAMEL_MARKERS):
                plain = snake_keys(orjson.loads(data))
                doc = msgspec.convert(plain, s.ClustersDocument, strict=False)
            else:
                doc = msgspec.json.decode(data, type=s.ClustersDocument, strict=False)
        except (msgspec.ValidationError, orjson.JSONDecodeError) as exc:
            raise InvalidInput(
                f"{source}: not a valid /clusters?format=json document ({exc})",
                hint="capture it with: curl -s 'localhost:15000/clusters?format=json'",
            ) from None
        return cls(doc, data, source)

    @property
    def statuses(self) -> list[s.ClusterStatus]:
        """``cluster_statuses[]`` in document order."""
        return self.doc.cluster_statuses

    def raw_status(self, index: int) -> Any:
        """``cluster_statuses[index]`` as plain data, as in the document."""
        if self._generic is None:
            top = orjson.loads(self._data)
            self._generic = top.get("cluster_statuses", top.get("clusterStatuses", []))
        return self._generic[index]


def host_is_healthy(host: s.HostStatus) -> bool:
    """Whether Envoy would send traffic to ``host`` (no failure flag, EDS status usable)."""
    hs = host.health_status
    if hs is None:
        return True
    if hs.failed_active_health_check or hs.failed_outlier_check or hs.pending_dynamic_removal:
        return False
    return hs.eds_health_status in ("", "UNKNOWN", "HEALTHY")
