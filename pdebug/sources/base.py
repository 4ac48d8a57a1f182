"""What every source is: :class:`LiveOptions` to reach a live proxy, and :class:`Source`.

A source is opened from a :mod:`~pdebug.sources.spec` value by
:func:`pdebug.sources.open_source` and used in a ``with`` block, which closes it (a
port-forward, a connection) however the block ends, as kr8s opens its port-forwards.
No imports beyond the standard library and msgspec (its values are frozen Structs, not
dataclasses, whose import is ~5 ms of every run): every source module builds on this one.
"""

from __future__ import annotations

from typing import Protocol, Self

import msgspec

__all__ = ["LiveOptions", "Source", "SourceBase"]


class LiveOptions(msgspec.Struct, frozen=True):
    """How to reach a live proxy (ignored for files): kubectl's ConfigFlags, as one value."""

    timeout: float = 30.0
    namespace: str | None = None
    context: str | None = None
    kubeconfig: str | None = None
    admin_port: int = 15000
    container: str = "istio-proxy"
    max_body: int | None = None  # bytes per answer; None: PDEBUG_MAX_BODY, else 1 GiB


class IstiodChoice(msgspec.Struct, frozen=True):
    """Which istiod to ask: ``--istio-namespace``, ``--revision``, ``--istiod URL``.

    A plain value; :meth:`pdebug.sources.istiod.Istiod.of` opens it.
    """

    namespace: str | None = None
    revision: str | None = None
    url: str | None = None


class Source(Protocol):
    """Something that can answer Envoy admin GETs, opened and closed in a ``with``."""

    live: bool

    @property
    def label(self) -> str:
        """What the source is, for messages (a pod source names its pod once found)."""
        ...

    def get(self, path: str) -> bytes | memoryview:
        """GET an admin path such as ``/config_dump?include_eds``; the body on 200."""
        ...

    def saved(self, path: str) -> bytes | None:
        """A bundle's saved answer to the admin ``path`` (``/clusters``...), else None.

        Only a bundle tells its documents apart; a live proxy is asked with :meth:`get`.
        """
        ...

    @property
    def picked(self) -> str | None:
        """``POD.NS`` of the pod a workload or service target was read from (else None)."""
        ...

    def close(self) -> None:
        """Release connections (port-forwards); idempotent."""
        ...

    def __enter__(self) -> Self:
        """The source itself."""
        ...

    def __exit__(self, *exc: object) -> None:
        """Close it."""
        ...


class SourceBase:
    """The parts every source shares: the ``with`` protocol and "no such document"."""

    #: What the source's saved ``/stats`` holds, as its bundle's manifest says
    #: (:func:`pdebug.manifest.stats_saved`): ``usedonly`` (only the stats written since
    #: the proxy started: one not there is zero), ``all``, or None (not said: a live
    #: proxy, a file, an older bundle).
    stats_saved: str | None = None

    def close(self) -> None:
        """Nothing to release."""

    def saved(self, path: str) -> bytes | None:
        """No saved answers apart from what :meth:`get` reads: None."""
        return None

    @property
    def picked(self) -> str | None:
        """No pod was picked for a workload: None."""
        return None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
