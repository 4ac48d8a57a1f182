"""The parsed model of one proxy: its config dump and/or its live ``/clusters`` health.

Parsing: :mod:`.load`, :mod:`.dump`, :mod:`.schema`, :mod:`.camel`. The facts every
reader shares, one module per resource: :mod:`.clusters`, :mod:`.listeners`,
:mod:`.routes`, :mod:`.health` (the endpoint-health rule), :mod:`.hosts`,
:mod:`.address`, :mod:`.secrets`, :mod:`.stats`, :mod:`.sections`, :mod:`.sniff`.
"""

from __future__ import annotations

import msgspec

from pdebug.errors import InvalidInput
from pdebug.model.dump import ConfigDump
from pdebug.model.health import ClustersStatus

__all__ = ["ClustersStatus", "ConfigDump", "ProxyData"]


class ProxyData(msgspec.Struct):
    """Everything known about one proxy; either part may be missing."""

    source: str
    dump: ConfigDump | None = None
    health: ClustersStatus | None = None
    #: ``NAME.NS`` of the pod read, when a workload target (``deploy/x``) resolved to one.
    picked_pod: str | None = None
    #: Envoy's ``/stats?format=json`` body, when asked for and available (``pdebug check``).
    stats: bytes | None = None

    def _document(self) -> str:
        """What SOURCE is when it holds no dump: its /clusters document's wording."""
        return (
            self.health.document if self.health is not None else "a /clusters?format=json document"
        )

    def need_dump(self, what: str) -> ConfigDump:
        """The config dump, or an error saying ``what`` needs one."""
        if self.dump is None:
            from pdebug.model.sniff import as_argument

            # Only the clusters view and trace take a /clusters document beside a dump.
            beside = what in ("the clusters view", "trace")
            raise InvalidInput(
                f"{self.source}: this is {self._document()}; {what} needs a config dump",
                hint=f"pdebug endpoints {as_argument(self.source)} shows what it holds "
                "(endpoint health, outlier ejections); "
                + (
                    "save GET /config_dump and pass this file beside it as --clusters-json"
                    if beside
                    else f"save GET /config_dump for {what}"
                ),
            )
        return self.dump
