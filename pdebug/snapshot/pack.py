"""Tar members deflated ahead of time, joined into one gzip stream: the bundle of both commands.

:func:`pdebug.snapshot.capture.capture_proxy` deflates each document (its content and
tar padding, a :class:`Piece`) while the next one is fetched; :func:`write_packed` then
writes the bundle from the pieces without compressing anything again: raw deflate
pieces ended by a sync flush follow one another as one stream, and their CRC-32s are
combined for the gzip trailer. ``pdebug dump`` holds its one proxy's pieces in memory;
``pdebug snapshot`` keeps each proxy's in its stage (:meth:`Piece.kept`), so a snapshot
of many proxies holds none of them whole.
"""

from __future__ import annotations

import struct
import tarfile
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pdebug import bundle

#: The gzip level of the bundles ``pdebug dump`` and ``pdebug snapshot`` write (an
#: ``-o FILE.tar.gz``; ``--dir`` and ``-o NAME.json`` are not compressed). Level 1: a
#: capture is written while someone waits for it; level 6 took 2.5x as long for a 1.3x
#: smaller file, and at level 1 ISA-L deflates in a fifth of zlib's CPU
#: (:func:`pdebug.snapshot.capture._deflating`) (#17).
LEVEL = 1


def padding(size: int) -> bytes:
    """The NULs that end a tar member of ``size`` bytes on a block boundary."""
    rest = size % tarfile.BLOCKSIZE
    return tarfile.NUL * (tarfile.BLOCKSIZE - rest) if rest else b""


@dataclass(frozen=True, slots=True)
class Piece:
    """Bytes deflated alone (raw, ending on a byte boundary), with their CRC-32 and size.

    Raw deflate pieces made by separate compressors, each ended by a sync flush, follow
    one another as one deflate stream (a piece never refers back into another), so a
    file deflated while the next document was fetched joins the gzip stream as it is.
    """

    deflated: bytes
    crc: int
    size: int
    #: Where the deflated bytes are instead of ``deflated`` (:meth:`kept`), if anywhere.
    file: str | None = None

    @classmethod
    def of(cls, level: int, *parts: bytes, last: bool = False) -> Piece:
        """``parts`` deflated as one piece (``last``: the stream's end)."""
        z = zlib.compressobj(level, zlib.DEFLATED, -15)
        out = [z.compress(part) for part in parts]
        out.append(z.flush(zlib.Z_FINISH if last else zlib.Z_SYNC_FLUSH))
        crc = 0
        for part in parts:
            crc = zlib.crc32(part, crc)
        return cls(b"".join(out), crc, sum(map(len, parts)))

    def kept(self, path: str) -> Piece:
        """The same piece with its deflated bytes written to a new file at ``path``."""
        with open(path, "xb") as fh:
            fh.write(self.deflated)
        return Piece(b"", self.crc, self.size, path)

    def chunks(self) -> Iterator[bytes]:
        """The deflated bytes, from memory or from the file they were kept in."""
        if self.file is None:
            yield self.deflated
            return
        with open(self.file, "rb") as fh:
            yield from iter(lambda: fh.read(1 << 20), b"")


def _apply(matrix: list[int], vector: int) -> int:
    """A GF(2) matrix (its 32 columns) times a 32-bit vector."""
    out = 0
    for column in matrix:
        if vector & 1:
            out ^= column
        vector >>= 1
        if not vector:
            break
    return out


def _square(matrix: list[int]) -> list[int]:
    return [_apply(matrix, column) for column in matrix]


def _one_zero_byte() -> list[int]:
    """What appending one zero byte does to a CRC-32 register (reflected 0xEDB88320)."""
    # One zero bit: shift right, and fold the polynomial in when bit 0 falls out.
    step = [0xEDB88320] + [1 << (n - 1) for n in range(1, 32)]
    for _ in range(3):  # eight zero bits
        step = _square(step)
    return step


#: ``_ZEROS[k]``: what appending ``2**k`` zero bytes does to a CRC-32 register, built once
#: per process as far as the sizes seen need (each the square of the one before).
_ZEROS: list[list[int]] = []


def _zeros(k: int) -> list[int]:
    while len(_ZEROS) <= k:
        _ZEROS.append(_square(_ZEROS[-1]) if _ZEROS else _one_zero_byte())
    return _ZEROS[k]


def _crc_join(first: int, second: int, second_size: int) -> int:
    """The CRC-32 of ``A + B`` from ``crc(A)``, ``crc(B)`` and ``len(B)``.

    The pre- and post-conditioning of CRC-32 cancel out: ``crc(A + B)`` is ``crc(A)``
    carried through ``len(B)`` zero bytes (a linear map) XOR ``crc(B)``. The register is
    carried through ``2**k`` zero bytes for each bit ``k`` set in ``len(B)`` (the
    operators commute), so a join costs one matrix-vector product per bit, not the
    building of the whole operator.
    """
    crc, k, size = first, 0, second_size
    while size:
        if size & 1:
            crc = _apply(_zeros(k), crc)
        size >>= 1
        k += 1
    return crc ^ second


def _tar_header(name: str, size: int, mtime: int) -> bytes:
    """The tar header ``tarfile`` writes for a regular file (as bundle.write_tree's)."""
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = mtime
    info.mode = 0o644
    return info.tobuf(tarfile.DEFAULT_FORMAT, tarfile.ENCODING, "surrogateescape")


def write_packed(
    path: str, manifest: dict[str, Any], members: list[tuple[str, int, Piece]], level: int
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
        Piece.of(level, _tar_header(bundle.MANIFEST, len(body), mtime), body, padding(len(body)))
    ]
    for name, size, content in members:
        pieces.append(Piece.of(level, _tar_header(name, size, mtime)))
        pieces.append(content)
    offset = sum(p.size for p in pieces)
    end = tarfile.NUL * (2 * tarfile.BLOCKSIZE)
    rest = (offset + len(end)) % tarfile.RECORDSIZE
    if rest:
        end += tarfile.NUL * (tarfile.RECORDSIZE - rest)
    pieces.append(Piece.of(level, end, last=True))
    crc = 0
    for piece in pieces:
        crc = _crc_join(crc, piece.crc, piece.size)
    size = sum(p.size for p in pieces)
    flags = 4 if level == 1 else 2 if level == 9 else 0  # gzip's XFL, as GzipFile writes it
    with atomic_open(path) as out:
        out.write(b"\x1f\x8b\x08\x00" + struct.pack("<I", mtime) + bytes((flags, 255)))
        for piece in pieces:
            for chunk in piece.chunks():
                out.write(chunk)
        out.write(struct.pack("<II", crc, size & 0xFFFFFFFF))


__all__ = ["LEVEL", "Piece", "padding", "write_packed"]
