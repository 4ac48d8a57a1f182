"""Every proxy a SOURCE holds, read: one opened source, a plain file, or a bundle's proxies.

``check``, ``report`` and ``assert`` read what SOURCE holds in one call,
:func:`hold`, which reads bytes and the bundle's manifest and parses nothing into the
model (:mod:`pdebug.inputs` and :mod:`pdebug.proxy` do, above it):

* a live proxy (or, for ``check``, a file that is not a bundle of several proxies) is
  opened as one :class:`~pdebug.sources.base.Source` (:attr:`Held.source`);
* a bundle (``check``: of several proxies) is read whole, in one call to the bundle
  reader (:func:`pdebug.sources.bundle.read_saved`, which reads the manifest first and
  decides there): each proxy's saved documents, or why they cannot be read, and what its
  manifest says (:class:`~pdebug.sources.bundle.SavedProxy`), and the capture's own
  facts (:attr:`Held.capture`);
* for ``report`` and ``assert``, a plain file's bytes (:attr:`Held.data`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from pdebug.errors import SourceUnavailable, UsageError
from pdebug.sources.spec import FileSpec, MemberSpec

if TYPE_CHECKING:
    from pdebug.sources.base import LiveOptions, Source
    from pdebug.sources.bundle import SavedProxy
    from pdebug.sources.spec import SourceSpec

__all__ = ["Bundles", "Held", "hold"]

#: Which files are read as every proxy they hold: ``several`` (``check``: a whole bundle
#: of several proxies; anything else is one source) or ``any`` (``report``: every file).
Bundles = Literal["several", "any"]


@dataclass
class Held:
    """What SOURCE holds, read; used in a ``with`` block, which closes :attr:`source`.

    Exactly one of :attr:`source` (one proxy, opened), :attr:`data` (a plain file's
    bytes) or a bundle (:attr:`label` with its :attr:`proxies`) is what was read.
    """

    named: str
    source: Source | None = None
    data: bytes | memoryview | None = None
    label: str = ""
    proxies: list[SavedProxy] = field(default_factory=list)
    #: the manifest's ``created``, ``tool``, ``source`` and the istiod replicas' note
    capture: dict[str, str] = field(default_factory=dict)
    #: the namespaces of the captured (and skipped) pods, ztunnels aside
    namespaces: set[str] = field(default_factory=set)

    def __enter__(self) -> Held:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.source is not None:
            self.source.close()


def hold(
    spec: SourceSpec, live: LiveOptions, bundles: Bundles, one_only: str | None = None
) -> Held:
    """What ``spec`` holds, read as ``bundles`` says; a ``with`` block closes it.

    ``one_only`` (an option's name, ``--clusters-json``) refuses a bundle of several
    proxies, before its members are read.

    Raises:
        UsageError: ``one_only`` with a bundle of several proxies.
        InvalidInput: a bundle that holds no proxy, or is damaged (a damaged member is
            not raised: its :attr:`~pdebug.sources.bundle.SavedProxy.unreadable` says why).
        SourceUnavailable: the file cannot be read, or the bundle has no such proxy.
    """
    if isinstance(spec, FileSpec | MemberSpec):
        held = _read_whole(spec, bundles, one_only)
        if held is not None:
            return held
    from pdebug.sources import open_source  # one proxy (nothing is read before its first GET)

    return Held(spec.text, source=open_source(spec, live))


def _read_whole(spec: FileSpec | MemberSpec, bundles: Bundles, one_only: str | None) -> Held | None:
    """A file read whole in one call to the bundle reader; None when it is one source.

    A plain file's bytes, or every proxy of a bundle (``B:NAME``: that one).
    """
    member = spec.member if isinstance(spec, MemberSpec) else None
    several = bundles == "several"
    if several and (member is not None or not _maybe_tar(spec.path)):
        return None  # a plain dump or one member: read as one source, without the bundle code
    from pdebug.sources.bundle import read_saved

    def refuse(_: object) -> None:
        raise UsageError(
            f"{one_only} is one proxy's; {spec.text} holds several",
            hint=f"pick one: {spec.text}:NAME (a bundle carries each proxy's /clusters)",
        )

    read = read_saved(
        spec.path, member, several=several, before_members=None if one_only is None else refuse
    )
    if read is None:
        return None
    if isinstance(read, tuple):
        data, label = read
        return Held(spec.text, data=data, label=label)
    return Held(
        spec.text,
        label=read.label,
        proxies=read.proxies,
        capture=read.capture,
        namespaces=read.namespaces,
    )


def _maybe_tar(path: str) -> bool:
    """False for a regular file that is no tar archive (once gunzipped): no bundle.

    The same first step as :func:`pdebug.sources.bundle.peek_manifest`, without importing
    the bundle code (tarfile, hashlib, the manifest) for a plain dump; anything else
    (stdin, a file that cannot be opened) goes on to the bundle reader and its errors.
    """
    import os

    if path == "-" or not os.path.isfile(path):
        return True
    from pdebug.sources.file import open_input

    try:
        with open_input(path) as opened:
            return bool(opened.is_tar())
    except SourceUnavailable:
        return True
