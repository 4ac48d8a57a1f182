"""Capture ONE proxy: its admin documents streamed into a stage, redacted, checked.

:func:`capture_proxy` is the one capture path: ``pdebug snapshot`` runs it per pod (in
worker threads, through a shared cluster session) and ``pdebug dump`` runs it once
(:func:`capture_one`). Every document is streamed from the proxy into a file of the
:class:`~pdebug.snapshot.stage.Stage` (so a 240 MB ``config_dump?include_eds`` is never held
whole in memory while it is read), redacted there (private keys always; tokens and secret
values unless ``--no-redact``), and the config dump is checked to be one. Per document, a
failure is either recorded (a snapshot goes on with the other documents and proxies) or,
``strict``, raised (``pdebug dump`` fails as a whole).
"""

from __future__ import annotations

import contextlib
import hashlib
import mmap
import os
import re
import struct
import tarfile
import threading
import time
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, BinaryIO

from pdebug import bundle
from pdebug.errors import InvalidInput, SourceUnavailable, UsageError
from pdebug.manifest import FileEntry, Manifest, ProxyEntry
from pdebug.redact import may_hold_private_key, redact_bytes, redact_text
from pdebug.snapshot.stage import Cancelled, Stage, refuse_existing, umask

if TYPE_CHECKING:
    from pdebug.sources import LiveOptions
    from pdebug.sources.spec import SourceSpec

#: What is saved per proxy: bundle member -> admin path (``pdebug dump`` leaves out /certs).
PATHS = {
    bundle.DUMP: "/config_dump?include_eds",
    bundle.CLUSTERS: "/clusters?format=json",
    bundle.SERVER_INFO: "/server_info",
    bundle.CERTS: "/certs",
    bundle.STATS: "/stats?format=json",
}
#: What ``pdebug dump`` saves (``/stats`` may be missing: PD603 is the only reader).
DUMP_PATHS = {name: path for name, path in PATHS.items() if name != bundle.CERTS}
#: A ztunnel's one document.
ZTUNNEL_PATHS = {bundle.DUMP: "/config_dump"}


@dataclass
class Captured:
    """What one capture staged: each document's manifest entry, and what failed."""

    files: dict[str, FileEntry] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    #: With ``pack``: each file's content and tar padding deflated (see
    #: :func:`_write_packed`), compressed while the next document was fetched.
    packed: dict[str, _Piece] = field(default_factory=dict)

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
            (:attr:`Captured.packed`, for :func:`_write_packed`).
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
    done: dict[str, Future[tuple[FileEntry, _Piece | None]]] = {}
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
                    done[name] = worker.submit(_finish, stage.path(target), redact, pack)
            except BaseException:
                for future in done.values():
                    future.cancel()  # the one running ends before the files are removed
                raise
        try:
            finished = {name: future.result() for name, future in done.items()}
        except OSError:
            if stage.closed:  # discarded (interrupted) while a document was redacted
                raise Cancelled from None
            raise
        shown = label if label is not None else redact_text(source.label)
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
    except BaseException:
        for name in staged:
            stage.remove(f"{member}/{name}")  # nothing of a proxy that failed half-way
        raise
    for name in (n for n in paths if n in staged):  # the order of ``paths``
        entry, packed = finished[name]
        out.files[name] = entry
        if packed is not None:
            out.packed[name] = packed
    return out


def _finish(path: str, tokens: bool, pack: int | None) -> tuple[FileEntry, _Piece | None]:
    """Redact a staged document in place; its entry, and its tar content deflated.

    Private keys always; tokens and secret values unless ``tokens`` is False. A document
    to redact is read once, and the redaction, the sha256 and the deflate all work on
    that copy (the last two release the GIL). With ``--no-redact`` and no private key
    (a search through a map), nothing is held whole: it is read in blocks.
    """
    with open(path, "r+b") as fh:
        size = os.fstat(fh.fileno()).st_size
        if size and (tokens or _mapped_may_hold_private_key(fh)):
            data = fh.read()
            redacted = redact_bytes(data, tokens=tokens)
            # ``redact_bytes`` gives back its very input when it hid nothing.
            if redacted is not data and redacted != data:
                fh.seek(0)
                fh.truncate()
                fh.write(redacted)
                data = redacted
            blocks: Iterable[bytes] = (data,)
        else:
            fh.seek(0)
            blocks = iter(lambda: fh.read(_BLOCK), b"")
        digest = hashlib.sha256()
        z = zlib.compressobj(pack, zlib.DEFLATED, -15) if pack is not None else None
        deflated: list[bytes] = []
        crc = total = 0
        for block in blocks:
            digest.update(block)
            total += len(block)
            if z is not None:
                deflated.append(z.compress(block))
                crc = zlib.crc32(block, crc)
    entry = FileEntry(digest.hexdigest(), total)
    if z is None:
        return entry, None
    pad = _padding(total)
    deflated += [z.compress(pad), z.flush(zlib.Z_SYNC_FLUSH)]
    return entry, _Piece(b"".join(deflated), zlib.crc32(pad, crc), total + len(pad))


#: Read size for a document that is not redacted (hashed and deflated block by block).
_BLOCK = 1 << 20


def _mapped_may_hold_private_key(fh: BinaryIO) -> bool:
    """:func:`may_hold_private_key` over a map of the file (nothing copied)."""
    with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
        return may_hold_private_key(mapped)


def _padding(size: int) -> bytes:
    """The NULs that end a tar member of ``size`` bytes on a block boundary."""
    rest = size % tarfile.BLOCKSIZE
    return tarfile.NUL * (tarfile.BLOCKSIZE - rest) if rest else b""


@dataclass(frozen=True, slots=True)
class _Piece:
    """Bytes deflated alone (raw, ending on a byte boundary), with their CRC-32 and size.

    Raw deflate pieces made by separate compressors, each ended by a sync flush, follow
    one another as one deflate stream (a piece never refers back into another), so a
    file deflated while the next document was fetched joins the gzip stream as it is.
    """

    deflated: bytes
    crc: int
    size: int

    @classmethod
    def of(cls, level: int, *parts: bytes, last: bool = False) -> _Piece:
        z = zlib.compressobj(level, zlib.DEFLATED, -15)
        out = [z.compress(part) for part in parts]
        out.append(z.flush(zlib.Z_FINISH if last else zlib.Z_SYNC_FLUSH))
        crc = 0
        for part in parts:
            crc = zlib.crc32(part, crc)
        return cls(b"".join(out), crc, sum(map(len, parts)))


def _zeros_operator(nbytes: int) -> list[int]:
    """What appending ``nbytes`` zero bytes does to a CRC-32 register.

    A GF(2) matrix given by its 32 columns (reflected polynomial 0xEDB88320), built by
    repeated squaring.
    """

    def apply(matrix: list[int], vector: int) -> int:
        out = 0
        for column in matrix:
            if vector & 1:
                out ^= column
            vector >>= 1
            if not vector:
                break
        return out

    # One zero bit: shift right, and fold the polynomial in when bit 0 falls out.
    step = [0xEDB88320] + [1 << (n - 1) for n in range(1, 32)]
    for _ in range(3):  # one zero byte: eight zero bits
        step = [apply(step, column) for column in step]
    result = [1 << n for n in range(32)]  # the identity
    while nbytes:
        if nbytes & 1:
            result = [apply(step, column) for column in result]
        step = [apply(step, column) for column in step]
        nbytes >>= 1
    return result


def _crc_join(first: int, second: int, second_size: int) -> int:
    """The CRC-32 of ``A + B`` from ``crc(A)``, ``crc(B)`` and ``len(B)``.

    The pre- and post-conditioning of CRC-32 cancel out: ``crc(A + B)`` is ``crc(A)``
    carried through ``len(B)`` zero bytes (a linear map) XOR ``crc(B)``.
    """
    if second_size == 0:
        return first
    out = 0
    for n, column in enumerate(_zeros_operator(second_size)):
        if first >> n & 1:
            out ^= column
    return out ^ second


def _tar_header(name: str, size: int, mtime: int) -> bytes:
    """The tar header ``tarfile`` writes for a regular file (as bundle.write_tree's)."""
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = mtime
    info.mode = 0o644
    return info.tobuf(tarfile.DEFAULT_FORMAT, tarfile.ENCODING, "surrogateescape")


def _write_packed(
    path: str, manifest: dict[str, Any], members: list[tuple[str, int, _Piece]], level: int
) -> None:
    """Write a bundle at ``path`` (atomically) from files deflated ahead of time.

    The same tar as :func:`pdebug.bundle.write_tree` writes (the manifest, then
    ``members`` in order: name, size, the file's content and padding deflated), in one
    gzip stream: the pieces are joined, and their CRC-32s combined for the trailer.
    """
    import orjson

    from pdebug.atomic import atomic_open

    mtime = int(time.time())
    body = orjson.dumps(manifest, option=orjson.OPT_INDENT_2)
    pieces = [
        _Piece.of(level, _tar_header(bundle.MANIFEST, len(body), mtime), body, _padding(len(body)))
    ]
    for name, size, content in members:
        pieces.append(_Piece.of(level, _tar_header(name, size, mtime)))
        pieces.append(content)
    offset = sum(p.size for p in pieces)
    end = tarfile.NUL * (2 * tarfile.BLOCKSIZE)
    rest = (offset + len(end)) % tarfile.RECORDSIZE
    if rest:
        end += tarfile.NUL * (tarfile.RECORDSIZE - rest)
    pieces.append(_Piece.of(level, end, last=True))
    crc = 0
    for piece in pieces:
        crc = _crc_join(crc, piece.crc, piece.size)
    size = sum(p.size for p in pieces)
    flags = 4 if level == 1 else 2 if level == 9 else 0  # gzip's XFL, as GzipFile writes it
    with atomic_open(path) as out:
        out.write(b"\x1f\x8b\x08\x00" + struct.pack("<I", mtime) + bytes((flags, 255)))
        for piece in pieces:
            out.write(piece.deflated)
        out.write(struct.pack("<II", crc, size & 0xFFFFFFFF))


def _stream(source: Any, path: str, fh: BinaryIO) -> None:
    """GET ``path`` into ``fh``: streamed when the source can, else through memory."""
    get_to = getattr(source, "get_to", None)
    if get_to is not None:
        get_to(path, fh)
    else:
        fh.write(bytes(source.get(path)))


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


def proxy_name(label: str) -> str:
    """A file-system-safe proxy name: ``pod/x.ns`` -> ``x.ns``; URLs -> ``host_port``."""
    name = label.split("://", 1)[-1]
    name = name.removeprefix("pod/")
    name = name.split(" ", 1)[0]
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "proxy"


#: ``pdebug dump``'s gzip level. Level 1: a capture is written while someone waits for
#: it; level 6 took 2.5x as long for a 1.3x smaller file (#17). snapshot keeps level 6.
_LEVEL = 1


def capture_one(
    spec: SourceSpec, output: str, options: LiveOptions, redact: bool = True, force: bool = False
) -> str:
    """``pdebug dump``: fetch SOURCE's documents and write them to ``output``; a summary line.

    ``spec`` is SOURCE as parsed at the command line.

    ``NAME.tar.gz`` is a one-proxy bundle; ``NAME.json`` the config dump alone.

    Raises:
        UsageError: a wrong extension, or ``output`` exists (and ``force`` is not set).
        SourceUnavailable: the proxy cannot be read (within ``--timeout``, ``--max-body``).
        InvalidInput: the proxy's answer is not a config dump.
    """
    from pdebug.atomic import check_writable
    from pdebug.sources import open_source

    if not output.endswith((".tar.gz", ".tgz", ".json")):
        raise UsageError(
            f"{output}: unknown kind of output file",
            hint="use NAME.tar.gz (a bundle every view reads) or NAME.json (the dump only)",
        )
    refuse_existing(output, force, what="the file", another="")
    check_writable(output)
    source = open_source(spec, options)
    if not source.live:
        raise UsageError(
            f"{spec.text}: pdebug dump reads a live proxy (an admin URL or a pod), not a file",
            hint="e.g. pdebug dump http://127.0.0.1:15000 -o proxy.tar.gz",
        )
    as_json = output.endswith(".json")
    paths = {bundle.DUMP: PATHS[bundle.DUMP]} if as_json else DUMP_PATHS
    stage = Stage(os.path.dirname(os.path.abspath(output)), output, ".pdebug-dump-", "")
    try:
        # The label names the pod once the first GET found it: stage under a neutral name.
        with contextlib.closing(source):
            captured = capture_proxy(
                source, stage, "proxy", paths, redact=redact, strict=True,
                optional=frozenset({bundle.STATS}), pack=None if as_json else _LEVEL,
                first=(bundle.DUMP, bundle.STATS),
            )  # fmt: skip
        # The label is saved (manifest, member names) and printed: no user:password@ in it.
        label = redact_text(source.label)
        size = sum(entry.size or 0 for entry in captured.files.values())
        if as_json:
            _publish(stage.path(f"proxy/{bundle.DUMP}"), output)
        else:
            proxy = proxy_name(label)
            os.rename(stage.path("proxy"), stage.path(proxy))
            manifest = Manifest.new(source=label)
            manifest.proxies = [ProxyEntry(proxy, label, files=captured.files)]
            members = [
                (f"{proxy}/{name}", entry.size or 0, captured.packed[name])
                for name, entry in captured.files.items()
            ]
            _write_packed(output, manifest.plain(), members, _LEVEL)
    finally:
        stage.discard()
    return f"saved {label} to {output} ({size / 1e6:.1f} MB of documents)"


def _publish(staged: str, output: str) -> None:
    """Move the staged file to ``output`` atomically, with normal file rights."""
    from pdebug.atomic import cannot_write

    try:
        with open(staged, "rb") as fh:
            os.fsync(fh.fileno())
        os.chmod(staged, 0o666 & ~umask())
        os.replace(staged, output)
    except OSError as exc:
        raise cannot_write(output, exc) from None
