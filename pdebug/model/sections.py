"""Facts: which sections a dump has, and what a missing one means.

A whole ``/config_dump`` always has the bootstrap, clusters and listeners sections; a
dump taken with a ``mask`` may lack any. Whether a missing section means "the proxy has
none" or "not captured" decides whether a view prints an empty table or an error, and
whether a check runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pdebug.model.dump import ConfigDump

#: Sections every full ``/config_dump`` of a running Envoy has.
FULL_DUMP = ("bootstrap", "clusters", "listeners")
#: Sections a full dump leaves out when the proxy has none of them: Envoy writes the ECDS
#: section only once an ECDS filter exists, and older Envoys (Istio <= 1.6) no secrets
#: section without secrets.
NONE_WHEN_ABSENT = ("secrets", "ecds")


def is_full_dump(dump: ConfigDump) -> bool:
    """Whether ``dump`` is a whole ``/config_dump`` (not one taken with a mask)."""
    return all(dump.has(kind) for kind in FULL_DUMP)


def none_when_absent(dump: ConfigDump, kind: str) -> bool:
    """Whether a missing ``kind`` section means "none" (a full dump) not "not captured"."""
    return kind in NONE_WHEN_ABSENT and not dump.has(kind) and is_full_dump(dump)
