"""Capture ONE proxy: its admin documents streamed into a stage, redacted, checked.

:func:`capture_proxy` is the one capture path: ``pdebug snapshot`` runs it per pod (in
worker threads, through a shared cluster session) and ``pdebug dump`` runs it once
(:func:`pdebug.snapshot.dump.capture_one`). Every document is streamed from the proxy
into a file of the :class:`~pdebug.snapshot.stage.Stage` (so a 240 MB
``config_dump?include_eds`` is never held whole in memory while it is read), redacted
there (private keys always; tokens and secret values unless ``--no-redact``), and the
config dump is checked to be one. Per document, a
failure is either recorded (a snapshot goes on with the other documents and proxies) or,
``strict``, raised (``pdebug dump`` fails as a whole).

One module over 500 lines because one proxy's capture is one sequence read together:
the order of its GETs, the fallbacks asked for after them, and the checks (a config
dump, a restart between GETs, an error page) that depend on that order.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib
import json
import mmap
import os
import re
import threading
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from pdebug import bundle
from pdebug.errors import InvalidInput, SourceUnavailable
from pdebug.manifest import FileEntry
from pdebug.redact import may_hold_private_key, redact_bytes, redact_stat_lines, redact_text
from pdebug.snapshot.pack import Piece, padding
from pdebug.snapshot.stage import Cancelled, Stage

#: Each member's JSON form: bundle member -> admin path. ``clusters.json`` is asked for
#: here when its text cannot be converted exactly; ``stats.json`` is what snapshots and
#: dumps saved before #17 (the readers still read it).
PATHS = {
    bundle.DUMP: "/config_dump?include_eds",
    bundle.CLUSTERS: "/clusters?format=json",
    bundle.SERVER_INFO: "/server_info",
    bundle.CERTS: "/certs",
    bundle.STATS: "/stats?format=json",
}
#: Envoy's text ``/clusters``: asked for, and saved as its JSON form's document.
TEXT_CLUSTERS = "/clusters"
#: Envoy's text ``/stats`` of the stats written since it started (#17): what both
#: capture by default. Envoy skips the rest (a stat never written is zero); on the
#: 5,000-cluster bench this costs its admin thread 0.06 s of CPU, all of ``/stats``
#: 0.36 s. The manifest says which was saved (:func:`stats_saved`).
USED_STATS = "/stats?usedonly"
#: Every stat (``--all-stats``), as both saved before.
ALL_STATS = "/stats"
#: What ``pdebug snapshot`` saves per Envoy: bundle member -> admin path (#17).
#: ``/clusters`` is asked for as text (Envoy's admin thread builds it in about a third
#: of the CPU the JSON takes) and saved as the JSON form's document, converted
#: (:func:`pdebug.model.textforms.clusters_document`) while the config dump is fetched
#: (:data:`TEXT_FIRST`); when the text cannot be converted exactly, the JSON form is
#: asked for after all. ``/stats`` is saved as Envoy's text (``stats.txt``): its JSON
#: form costs the admin thread about a third more, and the readers convert it when they
#: need it (:func:`pdebug.sources.bundle.stats_of`); only the stats written
#: (:data:`USED_STATS`) unless :func:`every_stat` asks for every one.
SNAPSHOT_PATHS = {
    bundle.DUMP: PATHS[bundle.DUMP],
    bundle.CLUSTERS: TEXT_CLUSTERS,
    bundle.SERVER_INFO: PATHS[bundle.SERVER_INFO],
    bundle.CERTS: PATHS[bundle.CERTS],
    bundle.STATS_TEXT: USED_STATS,
}
#: What ``pdebug dump`` saves: the snapshot's documents but /certs.
DUMP_PATHS = {name: path for name, path in SNAPSHOT_PATHS.items() if name != bundle.CERTS}


def every_stat(paths: Mapping[str, str]) -> dict[str, str]:
    """``paths`` asking for every stat (``--all-stats``) where they ask for ``stats.txt``."""
    return {name: ALL_STATS if name == bundle.STATS_TEXT else path for name, path in paths.items()}


def stats_saved(path: str) -> str:
    """The manifest's ``stats`` of a ``stats.txt`` fetched from ``path``.

    ``usedonly``: only the stats written since the proxy started (a stat not in the
    member is zero); ``all``: every stat. Bundles from before #17's usedonly have no key.
    """
    return "usedonly" if "usedonly" in path.partition("?")[2].split("&") else "all"


#: The order both fetch in (``first`` of :func:`capture_proxy`): text ``/clusters`` is
#: converted while the config dump is fetched, the dump redacted while ``/stats`` is.
TEXT_FIRST = (bundle.CLUSTERS, bundle.DUMP, bundle.STATS_TEXT)
#: A ztunnel's one document.
ZTUNNEL_PATHS = {bundle.DUMP: "/config_dump"}


@dataclass
class Captured:
    """What one capture staged: each document's manifest entry, and what failed."""

    files: dict[str, FileEntry] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    #: the proxy as errors and summaries name it (the source's label once it answered,
    #: redacted: no user:password@)
    label: str = ""
    #: With ``pack``: each file's content and tar padding deflated (see
    #: :func:`write_packed`), compressed while the next document was fetched.
    packed: dict[str, Piece] = field(default_factory=dict)
    #: The manifest's ``stats`` when ``stats.txt`` was saved (:func:`stats_saved`).
    stats: str | None = None

    @property
    def has_dump(self) -> bool:
        """Whether the config dump was saved."""
        return bundle.DUMP in self.files


def capture_proxy(
    source: Any,
    stage: Stage,
    member: str,
    paths: Mapping[str, str],
    *,
    redact: bool = True,
    label: str | None = None,
    strict: bool = False,
    optional: frozenset[str] = frozenset(),
    ztunnel: bool = False,
    cancel: threading.Event | None = None,
    pack: int | None = None,
    first: tuple[str, ...] = (),
) -> Captured:
    """GET each of ``paths`` from ``source`` into ``stage`` under ``member/``.

    Each document is redacted and hashed (and, with ``pack``, gzipped) in a worker thread
    while the next one is fetched: the proxy takes seconds to answer a large dump, and
    the GIL is free while this thread waits for it.

    Args:
        source: What answers GETs: ``get(path)``, and ``get_to(path, file)`` when it can
            stream (a :class:`~pdebug.sources.kube.PodForward`, an admin or kube source).
        stage: Where the documents are written.
        member: The proxy's directory in the stage.
        paths: Bundle file -> admin path.
        redact: Redact tokens and secret values too (private keys always go).
        label: Names the proxy in errors (default: the source's label, once it answered).
        strict: Raise the first failure instead of recording it.
        optional: Files whose HTTP error is ignored (neither raised nor recorded).
        ztunnel: The config dump is a ztunnel's, not an Envoy's.
        cancel: Set when the capture is interrupted: stop before the next document.
        pack: A gzip level: also keep each file deflated as a tar member's content
            (:attr:`Captured.packed`, for :func:`write_packed`).
        first: Files fetched before the others (the largest: each is then redacted
            while the next is fetched, and the last one to finish is small). The
            files keep the order of ``paths``.

    Raises:
        Cancelled: ``cancel`` was set, or the stage discarded.
        SourceUnavailable, AdminHTTPError: with ``strict``, the proxy cannot be read.
        InvalidInput: with ``strict``, the answer is not a config dump.
    """
    from concurrent.futures import Future, ThreadPoolExecutor

    from pdebug.sources.admin import AdminHTTPError

    out = Captured()
    staged: list[str] = []
    done: dict[str, Future[tuple[FileEntry, Piece | None] | None]] = {}
    try:
        # One worker: the documents are finished in order, one at a time (one dump's
        # copies in memory at once), while this thread waits for the proxy's next answer.
        # It is gone before the dump is checked (model.dump.can_bound counts threads).
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="pdebug-redact") as worker:
            try:
                order = [n for n in first if n in paths] + [n for n in paths if n not in first]
                for name in order:
                    path = paths[name]
                    if cancel is not None and cancel.is_set():
                        raise Cancelled
                    target = f"{member}/{name}"
                    try:
                        with stage.open(target) as fh:
                            _stream(source, path, fh)
                    except AdminHTTPError as exc:
                        stage.remove(target)
                        if strict and name not in optional:
                            raise
                        if name not in optional:
                            out.errors.append(exc.message)
                        continue
                    except SourceUnavailable as exc:
                        stage.remove(target)
                        if strict:
                            raise
                        out.errors.append(exc.message)
                        break  # unreachable or hanging: the others would fail the same way
                    staged.append(name)
                    convert = name == bundle.CLUSTERS and path == TEXT_CLUSTERS
                    done[name] = worker.submit(
                        _finish, stage.path(target), redact, pack, convert, shown_label(source),
                        name == bundle.STATS_TEXT,
                    )  # fmt: skip
            except BaseException:
                for future in done.values():
                    future.cancel()  # the one running ends before the files are removed
                raise
        try:
            finished = {name: future.result() for name, future in done.items()}
            if bundle.CLUSTERS in finished and finished[bundle.CLUSTERS] is None:
                # the text could not be converted exactly: the JSON form, as before
                again = (source, stage, member, staged, finished, out, strict, redact, pack)
                if _again(bundle.CLUSTERS, *again):
                    paths = {**paths, bundle.CLUSTERS: PATHS[bundle.CLUSTERS]}
                    if bundle.SERVER_INFO in finished:
                        # asked for last again, so the restart check covers the GET above
                        _again(bundle.SERVER_INFO, *again)
        except OSError:
            if stage.closed:  # discarded (interrupted) while a document was redacted
                raise Cancelled from None
            raise
        shown = label if label is not None else redact_text(source.label)
        out.label = shown
        if bundle.DUMP in staged:
            dump = f"{member}/{bundle.DUMP}"
            what = "a ztunnel dump" if ztunnel else "a config dump"
            if strict and not ztunnel:
                _check_dump(stage.path(dump), shown)  # raises
            elif not _looks_right(stage.path(dump), ztunnel):
                if strict:
                    raise InvalidInput(f"{shown}: the admin did not answer with {what}")
                stage.remove(dump)
                staged.remove(bundle.DUMP)
                out.errors.append(f"{shown}: the admin did not answer with {what}")
        if bundle.DUMP in staged and bundle.SERVER_INFO in staged and not ztunnel:
            changed = _version_changed(
                stage.path(f"{member}/{bundle.DUMP}"), stage.path(f"{member}/{bundle.SERVER_INFO}")
            )
            if changed:
                out.errors.append(
                    f"{shown}: the proxy changed during the capture: its config dump is of "
                    f"Envoy {changed[0]}, its /server_info of Envoy {changed[1]} (it restarted "
                    "between the requests): the saved documents are of two processes; "
                    "capture it again"
                )
        if bundle.STATS_TEXT in staged and not _text_stats(
            stage.path(f"{member}/{bundle.STATS_TEXT}")
        ):
            # an error page with 200 (a login page in between): no member a reader can read
            stage.remove(f"{member}/{bundle.STATS_TEXT}")
            staged.remove(bundle.STATS_TEXT)
            if bundle.STATS_TEXT not in optional:
                message = f"{shown}: the admin answered /stats with something else than stats"
                if strict:
                    raise InvalidInput(message, hint="is this an Envoy admin port?")
                out.errors.append(message)
        for name in [n for n in _JSON_OBJECTS if n in staged]:
            found = _not_json_object(stage.path(f"{member}/{name}"))
            if found is None:
                continue
            message = f"{shown}: the admin answered {paths[name]} with {found}, not JSON"
            old_envoy = (
                name == bundle.CLUSTERS and bundle.DUMP in staged and not ztunnel
            ) and _text_clusters(stage.path(f"{member}/{name}"))
            if old_envoy:
                # Envoy 1.7 and older ignore format=json; its dump (checked) is saved
                message = (
                    f"{shown}: {paths[name]} answered in text (an Envoy older than 1.8 "
                    f"has no JSON /clusters): {name} not saved, endpoint health not captured"
                )
            if strict and name not in optional and not old_envoy:
                raise InvalidInput(message, hint="is this an Envoy admin port?")
            stage.remove(f"{member}/{name}")  # no member no reader can read
            staged.remove(name)
            if name not in optional:
                out.errors.append(message)
    except BaseException:
        for name in staged:
            stage.remove(f"{member}/{name}")  # nothing of a proxy that failed half-way
        raise
    for name in (n for n in paths if n in staged):  # the order of ``paths``
        done_one = finished[name]
        assert done_one is not None
        entry, packed = done_one
        out.files[name] = entry
        if packed is not None:
            out.packed[name] = packed
    if bundle.STATS_TEXT in out.files:
        out.stats = stats_saved(paths[bundle.STATS_TEXT])
    return out


def shown_label(source: Any) -> str:
    """The source's label as messages show it (no user:password@)."""
    return redact_text(str(getattr(source, "label", "")))


def _finish(
    path: str,
    tokens: bool,
    pack: int | None,
    convert: bool = False,
    label: str = "",
    stat_lines: bool = False,
) -> tuple[FileEntry, Piece | None] | None:
    """Redact a staged document in place; its entry, and its tar content deflated.

    With ``convert``, the staged text ``/clusters`` is first replaced by its JSON form's
    document (:func:`pdebug.model.textforms.clusters_document`); None when that cannot
    be done exactly (the caller then asks for the JSON form). With ``stat_lines``, it is
    Envoy's text ``/stats`` (:func:`pdebug.redact.redact_stat_lines`).

    Private keys always; tokens and secret values unless ``tokens`` is False. A document
    to redact is read once, and the redaction, the sha256 and the deflate all work on
    that copy. The sha256 and the deflate (which release the GIL) run in a thread of
    their own while the redaction searches the same bytes: when it hides nothing (most
    documents), they are done when it is; when it hides something, they run again on
    what it gave. With ``--no-redact`` and no private key (a search through a map),
    nothing is held whole: it is read in blocks.
    """
    if convert and not _converted(path, label):
        return None
    with open(path, "r+b") as fh:
        size = os.fstat(fh.fileno()).st_size
        if size and (tokens or _mapped_may_hold_private_key(fh)):
            data = fh.read()
            side: list[_Sealed] = []
            helper = threading.Thread(
                target=lambda: side.append(_seal_held(data, pack)), name="pdebug-deflate"
            )
            helper.start()
            try:
                redact = redact_stat_lines if stat_lines else redact_bytes
                redacted = redact(data, tokens=tokens)
            finally:
                helper.join()
            # ``redact_bytes`` gives back its very input when it hid nothing.
            if redacted is not data and redacted != data:
                fh.seek(0)
                fh.truncate()
                fh.write(redacted)
                sealed = _seal_held(redacted, pack)
            else:  # the helper's, unless it failed (out of memory): then here again
                sealed = side[0] if side else _seal((data,), pack)
        else:
            fh.seek(0)
            sealed = _seal(iter(lambda: fh.read(_BLOCK), b""), pack)
    return _entry_and_piece(sealed)


def sealed(data: bytes, pack: int | None) -> tuple[FileEntry, Piece | None]:
    """A member held whole (istiod's answers): its manifest entry, and its piece.

    With ``pack``, its tar content deflated, as :func:`capture_proxy` seals the documents
    it fetches.
    """
    return _entry_and_piece(_seal_held(data, pack))


def sealed_file(path: str, pack: int | None) -> tuple[FileEntry, Piece | None]:
    """:func:`sealed` of a staged file, read in blocks."""
    with open(path, "rb") as fh:
        return _entry_and_piece(_seal(iter(lambda: fh.read(_BLOCK), b""), pack))


def _entry_and_piece(sealed: _Sealed) -> tuple[FileEntry, Piece | None]:
    """The manifest entry of what :func:`_seal` sealed, and its tar content's piece."""
    digest, total, z, deflated, crc = sealed
    entry = FileEntry(digest, total)
    if z is None:
        return entry, None
    pad = padding(total)
    deflated += [z.compress(pad), z.flush(zlib.Z_SYNC_FLUSH)]  # isal's has the same value
    return entry, Piece(b"".join(deflated), zlib.crc32(pad, crc), total + len(pad))


#: The largest text ``/clusters`` converted (about 25,000 Istio clusters of 3 hosts; the
#: 5,000-cluster bench's is 27 MB and takes 90 MB more memory while converted).
_CONVERT_MAX = 128 << 20


def _converted(path: str, label: str) -> bool:
    """Replace a staged text ``/clusters`` by its JSON form; False when not exact."""
    from pdebug.model.textforms import clusters_document, lossy_clusters

    with open(path, "r+b") as fh:
        if os.fstat(fh.fileno()).st_size > _CONVERT_MAX:
            return False  # the conversion's objects take ~3.5x the text: the JSON form
        text = fh.read()
        if lossy_clusters(text):
            return False
        try:
            document = clusters_document(text, f"{label}/clusters")
        except InvalidInput:
            return False
        del text
        fh.seek(0)
        fh.truncate()
        fh.write(document)
    return True


#: A document's sha256 (hex), size, compressor (with ``pack``), what it gave, and CRC-32.
_Sealed = tuple[str, int, Any, list[bytes], int]


def _seal(blocks: Iterable[bytes], pack: int | None) -> _Sealed:
    """Hash and (with ``pack``, a gzip level) deflate ``blocks``; the compressor is left open."""
    digest = hashlib.sha256()
    deflating = _deflating(pack)
    z = deflating.compressobj(pack, deflating.DEFLATED, -15) if pack is not None else None
    deflated: list[bytes] = []
    crc = total = 0
    for block in blocks:
        digest.update(block)
        total += len(block)
        if z is not None:
            deflated.append(z.compress(block))
            crc = deflating.crc32(block, crc)
    return digest.hexdigest(), total, z, deflated, crc


#: Read size for a document that is not redacted (hashed and deflated block by block).
_BLOCK = 1 << 20


def _deflating(level: int | None) -> Any:
    """What deflates at ``level``: python-isal's ``isal_zlib`` for level 1 when installed.

    Bundles are packed at level 1 (:data:`pdebug.snapshot.pack.LEVEL`). There ISA-L
    deflates the 60 MB dump of the 5,000-cluster bench in a fifth of the CPU zlib's
    level 1 takes (0.024 s against 0.119 s; 3.8 MB against 4.4 MB), and its CRC-32 in a
    fifth too (#17). Its raw deflate, ended by a sync flush, is the same format: pieces
    of either join one stream that every gzip reader inflates. Both let go of the GIL.
    ISA-L's levels are 0-3 and not zlib's: any other level is zlib's.
    """
    return _isal() if level == 1 else zlib


@functools.cache
def _isal() -> Any:
    try:
        return importlib.import_module("isal.isal_zlib")
    except ImportError:
        return zlib


#: The size of the pieces a document held whole is deflated in, by two threads (#17).
_PIECE = 8 << 20


def _seal_held(data: bytes, pack: int | None) -> _Sealed:
    """:func:`_seal` of a document held whole, its deflate shared by two threads.

    Each piece of :data:`_PIECE` bytes is deflated alone, all but the last ended by a
    sync flush, so the pieces follow one another as one deflate stream (as
    :class:`~pdebug.snapshot.pack.Piece` says); the last one's compressor is left open.
    This thread hashes the whole, then deflates pieces too: the deflate (:func:`_deflating`)
    and hashlib let go of the GIL on such buffers, so with two CPUs free the 60 MB dump of
    the 5,000-cluster bench is sealed in about half the time (zlib: 0.10 s, not 0.20 s).
    The deflated bytes differ from one compressor's; what they inflate to does not.
    """
    if pack is None or len(data) <= _PIECE:
        return _seal((data,), pack)
    from pdebug.snapshot.pack import _crc_join

    level, deflating = pack, _deflating(pack)
    view = memoryview(data)
    starts = range(0, len(data), _PIECE)
    done: list[tuple[Any, bytes, int] | None] = [None] * len(starts)
    failed: list[BaseException] = []
    taken = iter(range(len(starts)))  # next() is atomic: each piece is taken once

    def deflate() -> None:
        try:
            for n in taken:
                part = view[starts[n] : starts[n] + _PIECE]
                z = deflating.compressobj(level, deflating.DEFLATED, -15)
                out = z.compress(part)
                if n < len(starts) - 1:
                    out += z.flush(deflating.Z_SYNC_FLUSH)
                done[n] = (z, out, deflating.crc32(part))
        except BaseException as exc:  # noqa: BLE001 - raised again in the caller
            failed.append(exc)

    other = threading.Thread(target=deflate, name="pdebug-deflate-2")
    other.start()
    try:
        digest = hashlib.sha256(view).hexdigest()
        deflate()
    finally:
        other.join()
    if failed:
        raise failed[0]
    crc = 0
    deflated: list[bytes] = []
    for n, one in enumerate(done):
        assert one is not None
        deflated.append(one[1])
        crc = _crc_join(crc, one[2], min(_PIECE, len(data) - starts[n]))
    last = done[-1]
    assert last is not None
    return digest, len(data), last[0], deflated, crc


def _mapped_may_hold_private_key(fh: BinaryIO) -> bool:
    """:func:`may_hold_private_key` over a map of the file (nothing copied)."""
    with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
        return may_hold_private_key(mapped)


def _stream(source: Any, path: str, fh: BinaryIO) -> None:
    """GET ``path`` into ``fh``: streamed when the source can, else through memory."""
    get_to = getattr(source, "get_to", None)
    if get_to is not None:
        get_to(path, fh)
    else:
        fh.write(bytes(source.get(path)))


#: Members that are JSON objects whatever the Envoy (``/server_info`` and ``/certs`` are
#: also JSON, but nothing reads them back beyond a glance).
_JSON_OBJECTS = (bundle.CLUSTERS, bundle.STATS)


#: The build version in a bootstrap's node (``user_agent_build_version.version``).
_BUILD_VERSION = re.compile(rb'"user_agent_build_version"\s*:\s*\{\s*"version"\s*:\s*(\{[^{}]*\})')


def _again(
    name: str,
    source: Any,
    stage: Stage,
    member: str,
    staged: list[str],
    finished: dict[str, tuple[FileEntry, Piece | None] | None],
    out: Captured,
    strict: bool,
    redact: bool,
    pack: int | None,
) -> bool:
    """GET ``name``'s JSON form (:data:`PATHS`) after the others; False if it failed.

    The answer is written beside the member first: when the GET fails, a good document
    staged before (the first ``/server_info``) is kept; one that could not be used (text
    ``/clusters`` that was not converted) is removed.
    """
    from pdebug.sources.admin import AdminHTTPError

    target = f"{member}/{name}"
    fresh = f"{target}.again"
    try:
        with stage.open(fresh) as fh:
            _stream(source, PATHS[name], fh)
    except (AdminHTTPError, SourceUnavailable) as exc:
        stage.remove(fresh)
        if finished.get(name) is None:
            stage.remove(target)
            staged.remove(name)
            del finished[name]
        if strict:
            raise
        out.errors.append(exc.message)
        return False
    except BaseException:
        stage.remove(fresh)  # never published beside the member
        raise
    stage.replace(fresh, target)
    finished[name] = _finish(stage.path(target), redact, pack)
    return True


def _version_changed(dump: str, server_info: str) -> tuple[str, str] | None:
    """The Envoy versions of the dump's bootstrap and of /server_info, when they differ.

    An Envoy upgraded (restarted) between the GETs answers them from two processes. Only
    the head of the dump is read: Envoy writes its bootstrap first.
    """
    with open(dump, "rb") as fh:
        head = fh.read(1 << 16)
    with open(server_info, "rb") as fh:
        info = fh.read(1 << 20)
    versions = []
    for text in (head, info):
        match = _BUILD_VERSION.search(text)
        if match is None:
            return None
        try:
            v = json.loads(match.group(1))
        except ValueError:
            return None
        parts = [v.get(k, 0) if isinstance(v, dict) else None for k in _VERSION_KEYS]
        if not all(isinstance(p, int) and not isinstance(p, bool) for p in parts):
            return None
        versions.append(".".join(map(str, parts)))
    return (versions[0], versions[1]) if versions[0] != versions[1] else None


_VERSION_KEYS = ("major_number", "minor_number", "patch")


def _not_json_object(path: str) -> str | None:
    """What a staged answer is when it is not a JSON object (an HTML page...), else None."""
    from pdebug.model.sniff import sniff_bytes, without_bom

    with open(path, "rb") as fh:
        found = sniff_bytes(without_bom(fh.read(4096)))
    if found.kind == "object":
        return None
    return {"empty": "nothing", "text": "text", "array": "a JSON array"}.get(
        found.kind, found.what or found.kind
    )


def _text_stats(path: str) -> bool:
    """Whether a staged answer is Envoy's text ``/stats`` (``name: value`` lines), or empty."""
    with open(path, "rb") as fh:
        head = fh.read(4096)
    if not head:
        return True  # an Envoy without stats (none is the answer)
    line = head.split(b"\n", 1)[0]
    name, sep, _ = line.partition(b": ")
    return bool(sep) and bool(name) and not any(c in name for c in b" <{")


def _text_clusters(path: str) -> bool:
    """Whether a staged answer is Envoy's text ``/clusters`` (``name::host:port::...``)."""
    from pdebug.model.sniff import sniff_bytes, without_bom

    with open(path, "rb") as fh:
        found = sniff_bytes(without_bom(fh.read(4096)))
    return found.kind == "text" and "::" in found.first_line


def _looks_right(path: str, ztunnel: bool) -> bool:
    """A quick look: an Envoy config dump (``"configs"`` early), or a ztunnel's dump."""
    if ztunnel:
        import orjson

        from pdebug.model.ztunnel import looks_like_ztunnel

        with open(path, "rb") as fh:
            try:
                top = orjson.loads(fh.read())
            except orjson.JSONDecodeError:
                return False
        return isinstance(top, dict) and looks_like_ztunnel(top)
    with open(path, "rb") as fh:
        start = fh.read(1 << 20)
    return start[:4096].lstrip().startswith(b"{") and b'"configs"' in start


def _check_dump(path: str, label: str) -> None:
    """Fail unless the staged file is an Envoy config dump (parsed through a map)."""
    from pdebug.model.load import load

    with open(path, "rb") as fh:
        if os.fstat(fh.fileno()).st_size == 0:
            is_dump = load(b"", label).dump is not None  # raises: the answer was empty
        else:
            mapped = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
            try:
                is_dump = load(memoryview(mapped), label).dump is not None
            finally:
                with contextlib.suppress(BufferError):  # a slice still referenced: GC frees it
                    mapped.close()
    if not is_dump:
        raise InvalidInput(f"{label}: the admin did not answer with a config dump")


# --------------------------------------------------------------------------- pdebug dump
