"""Capture many sidecars at once into one bundle (``pdebug snapshot``), or one (``pdebug dump``).

One module per step, each importing only those before it:

* :mod:`~pdebug.snapshot.options`: which pods (:class:`Selection`) and how;
* :mod:`~pdebug.snapshot.records`: how each pod fared (:class:`ProxyRecord`, one
  manifest line), progress and the result;
* :mod:`~pdebug.snapshot.select`: the pods the selection names, sorted into planned,
  skipped and failed;
* :mod:`~pdebug.snapshot.stage`: the hidden stage directory beside the output, and the
  output checks (an existing ``-o`` file is never replaced without ``force``);
* :mod:`~pdebug.snapshot.capture`: capture ONE proxy (the one path ``snapshot`` and
  ``dump`` share): documents streamed into the stage, redacted, checked;
* :mod:`~pdebug.snapshot.istiod`: istiod's sync status and its view of each proxy;
* :mod:`~pdebug.snapshot.take`: the snapshot itself (worker threads, then the bundle).

Per proxy the bundle holds ``config_dump?include_eds``, ``/clusters`` (its text
converted to the ``?format=json`` document), ``/server_info``, ``/certs`` and ``/stats``
(Envoy's text, ``stats.txt``), redacted unless asked otherwise
(:data:`~pdebug.snapshot.capture.SNAPSHOT_PATHS`), plus
istiod's view of the proxy when istiod is reachable. The manifest is a typed
:class:`pdebug.manifest.Manifest`, the model the bundle reader parses back.

Atomicity: the bundle is made from the stage and renamed into place at the very end, so
an interrupted snapshot (Ctrl-C or SIGTERM) leaves nothing that looks complete, and no
temp files.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pdebug.manifest import failed_replicas_note
    from pdebug.snapshot.capture import PATHS, capture_proxy
    from pdebug.snapshot.dump import capture_one
    from pdebug.snapshot.istiod import sync_by_proxy
    from pdebug.snapshot.options import Selection, SnapshotOptions
    from pdebug.snapshot.records import Progress, ProxyRecord, SnapshotResult, member_name
    from pdebug.snapshot.select import discover
    from pdebug.snapshot.take import take_snapshot

#: Each name and the module it comes from, imported when first asked for: ``pdebug
#: dump`` imports :mod:`~pdebug.snapshot.dump` alone, and sends its first GET before
#: the capture's modules are loaded (#17).
_FROM = {
    "failed_replicas_note": "pdebug.manifest",
    "PATHS": "pdebug.snapshot.capture",
    "capture_proxy": "pdebug.snapshot.capture",
    "capture_one": "pdebug.snapshot.dump",
    "sync_by_proxy": "pdebug.snapshot.istiod",
    "Selection": "pdebug.snapshot.options",
    "SnapshotOptions": "pdebug.snapshot.options",
    "Progress": "pdebug.snapshot.records",
    "ProxyRecord": "pdebug.snapshot.records",
    "SnapshotResult": "pdebug.snapshot.records",
    "member_name": "pdebug.snapshot.records",
    "discover": "pdebug.snapshot.select",
    "take_snapshot": "pdebug.snapshot.take",
}


def __getattr__(name: str) -> Any:
    """A name of :data:`__all__`, from its module (a submodule is imported as usual)."""
    module = _FROM.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = [
    "PATHS",
    "Progress",
    "ProxyRecord",
    "Selection",
    "SnapshotOptions",
    "SnapshotResult",
    "capture_one",
    "capture_proxy",
    "discover",
    "failed_replicas_note",
    "member_name",
    "sync_by_proxy",
    "take_snapshot",
]
