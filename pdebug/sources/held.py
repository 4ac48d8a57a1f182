"""Every proxy a SOURCE holds, read: one opened source, a plain file, or a bundle's proxies.

``check``, ``report`` and ``assert`` read what SOURCE holds in one call,
:func:`hold`, which reads bytes and the bundle's manifest and parses nothing into the
model (:mod:`pdebug.inputs` and :mod:`pdebug.proxy` do, above it):

* a live proxy (or, for ``check``, stdin, a FIFO, ``B:NAME`` or a bundle of one proxy,
  that one over the bundle as read) is opened as one
  :class:`~pdebug.sources.base.Source` (:attr:`Held.source`);
* a bundle (``check``: of several proxies) is read whole, in one call to the bundle
  reader (:func:`pdebug.sources.bundle.read_saved`, which reads the manifest first and
  decides there): each proxy's saved documents, or why they cannot be read, and what its
  manifest says (:class:`~pdebug.sources.bundle.SavedProxy`), and the capture's own
  facts (:attr:`Held.capture`);
* a plain file's bytes (:attr:`Held.data`), without the bundle code.
"""

from __future__ import annotations

import os
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from pdebug.errors import InvalidInput, SourceUnavailable, UsageError
from pdebug.sources.file import open_input
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
    """A file read whole (a plain file's bytes, or a bundle's proxies); None: one source.

    A bundle gives every proxy it holds (``B:NAME``: that one); for ``check``, a bundle
    of one proxy is that proxy's source over the bundle as read (not read again).

    What the file is (a snapshot directory, a plain file, a tar) is decided here, on one
    open: only a tar or a directory goes on to the bundle reader, with the opened archive,
    so a plain dump never loads the bundle code.
    """
    member = spec.member if isinstance(spec, MemberSpec) else None
    several = bundles == "several"
    path = spec.path
    directory = path != "-" and os.path.isdir(path)
    if several and (member is not None or not (directory or os.path.isfile(path))):
        return None  # one member, stdin, a FIFO...: read as one source
    try:  # one open: a tar goes on to the bundle reader, opened
        opened = nullcontext() if directory else open_input(path)
    except SourceUnavailable:
        if several:
            return None  # the source says why when it is read
        raise
    with opened as reader:
        if reader is not None and not reader.is_tar():  # a plain file: read here, once
            if several and isinstance(spec, FileSpec) and spec.flag:
                return None  # --bundle PATH: its source says that PATH is no bundle
            if member is not None:
                raise InvalidInput(f"{path}: not a bundle, so there is no proxy {member!r} in it")
            return Held(spec.text, data=reader.read_all(), label=reader.label)
        from pdebug.sources.bundle import SavedProxies, read_saved

        def refuse(_: object) -> None:
            raise UsageError(
                f"{one_only} is one proxy's; {spec.text} holds several",
                hint=f"pick one: {spec.text}:NAME (a bundle carries each proxy's /clusters)",
            )

        read = read_saved(
            path,
            reader,
            member,
            several=several,
            before_members=None if one_only is None else refuse,
        )
    if read is None:
        return None
    if not isinstance(read, SavedProxies):  # a bundle of one proxy: its source, read once
        from pdebug.sources.saved import FileSource

        return Held(spec.text, source=FileSource(spec, read=read))
    return Held(
        spec.text,
        label=read.label,
        proxies=read.proxies,
        capture=read.capture,
        namespaces=read.namespaces,
    )
