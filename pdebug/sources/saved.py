"""A saved SOURCE as a source: a dump file, stdin, a bundle, or one proxy of a bundle.

:class:`FileSource` reads the bytes with :mod:`pdebug.sources.file` (within the input
limits) and, when they are a bundle, picks the proxy with :mod:`pdebug.sources.bundle`
(which also finds the proxy ``--bundle B TEXT`` names, when the source is first read);
a plain dump never imports the bundle code.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Literal

from pdebug.errors import InvalidInput
from pdebug.sources.base import SourceBase
from pdebug.sources.file import open_input
from pdebug.sources.spec import FileSpec, MemberSpec

if TYPE_CHECKING:
    from pdebug.sources.bundle import Bundle

__all__ = ["FileSource"]


class FileSource(SourceBase):
    """A saved document or bundle: every path answers from the file.

    A plain file answers every path with its content; a bundle (``pdebug dump``,
    ``pdebug snapshot``, or the directory of ``pdebug snapshot --dir``) answers
    ``/clusters...`` with the proxy's ``clusters.json``, ``/stats...`` with its
    ``stats.json`` and anything else with its ``config_dump.json``. Nothing is read
    before the first :meth:`get`; a plain dump never imports the bundle code.

    ``want="ztunnel"``: a whole bundle of several proxies means its only ztunnel.
    ``read``: the bundle of one proxy at ``spec.path``, already read (not read again).
    """

    live = False

    def __init__(
        self,
        spec: FileSpec | MemberSpec,
        want: Literal["ztunnel"] | None = None,
        read: Bundle | None = None,
    ) -> None:
        self.spec = spec
        self.want = want
        self.path = spec.path
        self.member = spec.member if isinstance(spec, MemberSpec) else None
        self.label = "stdin" if spec.text == "-" else spec.text
        self._data: bytes | memoryview | None = None
        self._files: dict[str, bytes] | None = None
        #: the bundle at ``spec.path``, already read (:func:`pdebug.sources.held.hold`)
        self._read_bundle = read
        #: what the hint says to run for a document the capture did not save
        self._again = "take another snapshot"
        #: the bundle's manifest (how a missing document is named)
        self._manifest: dict[str, object] = {}

    def _resolve(self) -> None:
        """The proxy a ``--bundle`` spec (or ``want``) names, from the bundle's manifest."""
        if not self.spec.flag and (self.want is None or self.member is not None):
            return
        from pdebug.sources.bundle import resolve

        spec = self.spec = resolve(self.spec, self.want)
        self.path = spec.path
        self.member = spec.member if isinstance(spec, MemberSpec) else None
        self.label = spec.text

    def _read(self) -> None:
        if self._data is not None or self._files is not None:
            return
        self._resolve()
        if self._read_bundle is not None and self.member is None:
            self._open(self._read_bundle)  # its only proxy, read once
            return
        if self.path != "-" and os.path.isdir(self.path):
            from pdebug.sources import bundle

            if bundle.is_dir_bundle(self.path):
                self._open(bundle.read_dir_bundle(self.path))
                return
        with open_input(self.path) as opened:
            self.label = opened.label
            if opened.is_tar():
                from pdebug.sources import bundle

                member = self.member
                self._open(bundle.read_tar(opened, opened.label, lambda b: [b.pick(member)]))
                return
            if self.member is not None:
                raise InvalidInput(
                    f"{self.path}: not a bundle, so there is no proxy {self.member!r} in it"
                )
            self._data = opened.read_all()

    def _open(self, opened: Bundle) -> None:
        from pdebug.manifest import stats_saved
        from pdebug.sources.bundle import capture_again  # a bundle: already imported

        name = opened.pick(self.member)
        self._files = opened.proxy(name)
        self.label = f"{opened.label}:{name}"
        self.stats_saved = stats_saved(opened.manifest, name)
        self._again = capture_again(opened.manifest, name)
        self._manifest = opened.manifest

    def get(self, path: str) -> bytes | memoryview:
        """The file's bytes (read once; gunzipped; large files memory-mapped)."""
        self._read()
        if self._files is not None:
            from pdebug.sources.bundle import (  # a bundle: already imported
                STATS,
                missing_document,
                stats_of,
            )

            name = _member_of(path)
            if name == STATS:
                found = stats_of(self._files, self.label)
                if found is not None:
                    return found
            if name not in self._files:
                raise InvalidInput(
                    f"{self.label}: {missing_document(self._manifest, name)} for this proxy",
                    hint=f"the capture saved no such document; {self._again}",
                )
            return self._files[name]
        assert self._data is not None
        return self._data

    def saved(self, path: str) -> bytes | None:
        """A bundle's saved answer to ``path`` for this proxy (None: absent, or no bundle).

        ``/stats``: ``stats.json``, or the text ``pdebug dump`` saves (``stats.txt``) as it
        is; :meth:`get` gives the JSON form's document of either.
        """
        self._read()
        if self._files is None:
            return None
        from pdebug.sources.bundle import STATS, STATS_TEXT

        name = _member_of(path)
        if name == STATS:  # PD603 reads its counters from either form, as saved
            return self._files.get(STATS, self._files.get(STATS_TEXT))
        return self._files.get(name)


def _member_of(path: str) -> str:
    """The bundle document that saved the answer to an admin ``path``."""
    from pdebug.sources import bundle

    if path.startswith("/clusters"):
        return bundle.CLUSTERS
    return bundle.STATS if path.startswith("/stats") else bundle.DUMP
