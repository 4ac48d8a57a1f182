"""Files and stdin (optionally gzip-compressed), read within limits.

Inputs are untrusted: a pasted file, a pipe, a device, a bundle from another team. Nothing
is read whole before it is judged:

- a pipe, FIFO or device (``-``, ``/dev/zero``, ``<(...)``) has its first bytes judged
  (they must start JSON, gzip or a tar archive) before the rest is buffered;
- no input yields more than ``PDEBUG_MAX_INPUT`` bytes (decompressed; default 1 GiB);
- gzip data that expands more than ``PDEBUG_MAX_RATIO`` times (default 200) once past
  32 MiB is refused as a decompression bomb, in bounded memory.

Both are environment variables (``2G``, ``512M``, ``4096K`` or bytes; a ratio of 0 turns
the ratio check off), read when an input is opened.
"""

from __future__ import annotations

import mmap
import os
import stat
import sys
import zlib
from types import TracebackType
from typing import BinaryIO, Protocol

import msgspec

from pdebug.errors import InvalidInput, SourceUnavailable, UsageError

GZIP_MAGIC = b"\x1f\x8b"
#: Files above this size are memory-mapped instead of copied into the process.
MMAP_THRESHOLD = 4 << 20

ENV_MAX_INPUT = "PDEBUG_MAX_INPUT"
ENV_MAX_RATIO = "PDEBUG_MAX_RATIO"
DEFAULT_MAX_INPUT = 1 << 30
DEFAULT_MAX_RATIO = 200.0
#: The expansion ratio is judged once this much has been decompressed (small documents
#: may compress better than any real dump).
RATIO_FLOOR = 32 << 20
#: Bytes judged before anything else is read (a tar header is 512).
HEAD = 512
#: A stream that is only whitespace for this long is not JSON.
WHITESPACE_LIMIT = 64 << 10
_RAW_CHUNK = 64 << 10
_OUT_CHUNK = 1 << 20

Buffer = bytes | memoryview


class Readable(Protocol):
    """What :class:`Inflater` and tarfile's stream mode read from."""

    def read(self, size: int = -1, /) -> bytes:
        """Up to ``size`` bytes (all when negative); b"" at the end."""
        ...


class Limits(msgspec.Struct, frozen=True):
    """How much pdebug reads of one input (``PDEBUG_MAX_INPUT``, ``PDEBUG_MAX_RATIO``)."""

    max_input: int = DEFAULT_MAX_INPUT
    max_ratio: float = DEFAULT_MAX_RATIO


_UNITS = {"": 1, "B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_size(text: str) -> int | None:
    """``2G`` -> 2147483648 (K, M, G, T are powers of 1024; ``KB``/``KiB`` too); None if bad."""
    value = text.strip().upper().removesuffix("IB").removesuffix("B")
    unit = value[-1:] if value[-1:] in _UNITS else ""
    number = value[: len(value) - len(unit)].strip()
    try:
        size = float(number)
    except ValueError:
        return None
    if not (size >= 1) or size != size or size == float("inf"):
        return None
    return int(size * _UNITS[unit])


def limits() -> Limits:
    """The limits in force (from the environment).

    Raises:
        UsageError: ``PDEBUG_MAX_INPUT`` or ``PDEBUG_MAX_RATIO`` is not a size / a number.
    """
    size_text = os.environ.get(ENV_MAX_INPUT, "").strip()
    ratio_text = os.environ.get(ENV_MAX_RATIO, "").strip()
    size = DEFAULT_MAX_INPUT
    if size_text:
        parsed = parse_size(size_text)
        if parsed is None:
            raise UsageError(
                f"{ENV_MAX_INPUT}={size_text!r}: not a size",
                hint="a number of bytes, or with K, M or G (e.g. 2G)",
            )
        size = parsed
    ratio = DEFAULT_MAX_RATIO
    if ratio_text:
        try:
            ratio = float(ratio_text)
        except ValueError:
            ratio = -1.0
        if not (ratio >= 0) or ratio == float("inf"):
            raise UsageError(
                f"{ENV_MAX_RATIO}={ratio_text!r}: not a ratio",
                hint="a number such as 200 (0 turns the check off)",
            )
    return Limits(size, ratio)


def human(size: float) -> str:
    """``1073741824`` -> ``1 GiB``."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024:
            whole = unit == "B" or size == int(size)
            return f"{size:.0f} {unit}" if whole else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"


def too_large(label: str, limit: int, what: str = "the data") -> InvalidInput:
    """The error for input over ``PDEBUG_MAX_INPUT``."""
    return InvalidInput(
        f"{label}: {what} is larger than {human(limit)} ({ENV_MAX_INPUT}): refused",
        hint=f"if it is a genuine capture, raise the limit: {ENV_MAX_INPUT}=4G pdebug ...",
    )


def is_tar(data: Buffer) -> bool:
    """Whether ``data`` (already gunzipped) is a tar archive (a bundle)."""
    return len(data) > 262 and bytes(data[257:262]) == b"ustar"


class Inflater:
    """The decompressed bytes of a gzip stream, read in bounded steps.

    Concatenated gzip members are read as one stream (as ``gzip`` does) and zero padding
    after the last is ignored. Reading past ``limit`` decompressed bytes, or past
    ``ratio`` times the compressed bytes read (once past :data:`RATIO_FLOOR`), raises
    :class:`InvalidInput`; so does damaged or truncated data.
    """

    def __init__(self, raw: Readable, label: str, limit: int | None, ratio: float) -> None:
        self._raw = raw
        self._label = label
        self._limit = limit
        self._ratio = ratio
        self._z = zlib.decompressobj(31)
        self._buf = b""
        self._done = False
        self.consumed = 0
        self.inflated = 0

    def _feed(self) -> bool:
        chunk = self._raw.read(_RAW_CHUNK)
        self.consumed += len(chunk)
        self._buf += chunk
        return bool(chunk)

    def _damaged(self, why: str) -> InvalidInput:
        return InvalidInput(
            f"{self._label}: damaged gzip data ({why})",
            hint="the compressed capture is truncated; capture it again",
        )

    def _next_member(self) -> None:
        """After a member's end: start the next one, or finish (EOF or zero padding)."""
        # At a member's end zlib may leave the same leftover bytes in both unused_data and
        # unconsumed_tail (which _buf holds): take them once, from unused_data.
        rest, self._buf = self._z.unused_data, b""
        while True:
            if not rest and not self._feed():
                self._done = True
                return
            rest, self._buf = rest + self._buf, b""
            stripped = rest.lstrip(b"\0")
            if stripped:
                break
            rest = b""
        if not stripped.startswith(GZIP_MAGIC[: len(stripped)]) or stripped is not rest:
            raise self._damaged("trailing garbage after the compressed data")
        self._z = zlib.decompressobj(31)
        self._buf = rest

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` decompressed bytes (all that is left when ``size`` < 0)."""
        if size < 0:
            parts = []
            while piece := self.read(_OUT_CHUNK):
                parts.append(piece)
            return b"".join(parts)
        out = b""
        while size > len(out) and not self._done:
            if not self._buf and not self._feed():
                if not self._z.eof:
                    raise self._damaged("Compressed file ended before the end-of-stream marker")
                self._done = True
                break
            try:
                piece = self._z.decompress(self._buf, size - len(out))
            except zlib.error as exc:
                raise self._damaged(str(exc)) from None
            self._buf = self._z.unconsumed_tail
            out += piece
            self._count(len(piece))
            if self._z.eof:
                self._next_member()
        return out

    def _count(self, n: int) -> None:
        self.inflated += n
        if self._limit is not None and self.inflated > self._limit:
            raise too_large(self._label, self._limit, "the decompressed data")
        ratio = self._ratio
        if ratio and self.inflated > RATIO_FLOOR and self.inflated > ratio * max(self.consumed, 1):
            raise InvalidInput(
                f"{self._label}: the gzip data expands more than {ratio:g} times "
                f"({human(self.inflated)} from {human(self.consumed)}): refused as a "
                "decompression bomb",
                hint=f"if it is a genuine capture, raise the limit: {ENV_MAX_RATIO}=1000 "
                "pdebug ...",
            )


class Input:
    """An opened input whose first bytes are known: a dump, a gzip, or a tar (a bundle).

    Use as a context manager. :attr:`head` holds the first (decompressed) bytes;
    :meth:`read` continues after whatever was already returned (starting with the head).
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.label = "stdin" if path == "-" else path
        self.limits = limits()
        self._fh: BinaryIO | None = None
        self._source: Readable | None = None
        self.regular = False
        self.compressed = False
        self.size = 0
        self.head = b""
        self._pending = b""
        self._open()

    def __enter__(self) -> Input:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the file (not stdin)."""
        if self._fh is not None and self.path != "-":
            self._fh.close()
        self._fh = None

    def _open(self) -> None:
        label = self.label
        try:
            if self.path == "-":
                if sys.stdin.isatty():
                    raise SourceUnavailable(
                        "stdin is a terminal, not a dump",
                        hint="pipe a dump in: kubectl exec POD -c istio-proxy -- "
                        "curl -s localhost:15000/config_dump | pdebug clusters -",
                    )
                self._fh = sys.stdin.buffer
            else:
                self._fh = open(self.path, "rb")  # noqa: SIM115 - closed by close()
                info = os.fstat(self._fh.fileno())
                self.regular = stat.S_ISREG(info.st_mode)
                self.size = info.st_size if self.regular else 0
            raw = _read_exactly(self._fh, HEAD)
        except FileNotFoundError:
            raise SourceUnavailable(
                f"{label}: no such file",
                hint="check the path; to read a live proxy, pass an admin URL "
                "(http://127.0.0.1:15000)",
            ) from None
        except IsADirectoryError:
            raise InvalidInput(
                f"{label}: is a directory, not a dump file",
                hint="pass the config_dump JSON file inside it" + _json_inside(self.path),
            ) from None
        except PermissionError:
            raise SourceUnavailable(
                f"{label}: permission denied", hint="check the file's permissions"
            ) from None
        except OSError as exc:
            raise SourceUnavailable(f"{label}: cannot read ({exc.strerror or exc})") from None
        if raw[:2] == GZIP_MAGIC:
            self.compressed = True
            inflater = Inflater(_Prefixed(raw, self._fh), label, None, self.limits.max_ratio)
            self._source = inflater
            self.head = _read_exactly(inflater, HEAD)
        else:
            self._source = self._fh
            self.head = raw
        self._pending = self.head

    def is_tar(self) -> bool:
        """Whether the (decompressed) input is a tar archive."""
        return is_tar(self.head)

    def read(self, size: int = -1) -> bytes:
        """The next (decompressed) bytes, the head first; for tarfile's stream mode."""
        assert self._source is not None
        if self._pending:
            if size < 0:
                out, self._pending = self._pending, b""
                return out + self._read_source(-1)
            out, self._pending = self._pending[:size], self._pending[size:]
            return out
        return self._read_source(size)

    def _read_source(self, size: int) -> bytes:
        assert self._source is not None
        try:
            return self._source.read(size)
        except OSError as exc:
            raise SourceUnavailable(f"{self.label}: cannot read ({exc.strerror or exc})") from None

    def read_all(self) -> Buffer:
        """The whole (decompressed) input, judged and bounded by ``PDEBUG_MAX_INPUT``.

        A large plain regular file comes back as a memoryview of an mmap: the decoder
        scans the page cache directly and never copies the file (the map lives as long
        as the process, since decoded ``Raw`` values point into it). The map is private
        (copy-on-write, never written back to the file): the clusters table patches a
        few bytes of it, restored at once, to decode a section in two parts at once
        without copying them (:func:`pdebug.model.light.split_rows`).
        """
        limit = self.limits.max_input
        if self.regular and not self.compressed:
            if self.size > limit:
                raise too_large(self.label, limit, f"the file ({human(self.size)})")
            if self.size >= MMAP_THRESHOLD and self._fh is not None:
                # Private first; read-only where private maps are refused (a strict
                # overcommit policy counts a private map's size): then parts are copied.
                for access in (mmap.ACCESS_COPY, mmap.ACCESS_READ):
                    try:
                        mapped = mmap.mmap(self._fh.fileno(), 0, access=access)
                    except (OSError, ValueError):
                        continue
                    return memoryview(mapped)
        if not self.regular:
            self._judge()
        buf = bytearray()
        while True:
            piece = self.read(min(_OUT_CHUNK, limit + 1 - len(buf)))
            if not piece:
                break
            buf += piece
            if len(buf) > limit:
                what = "the decompressed data" if self.compressed else "the data"
                raise too_large(self.label, limit, what)
        return bytes(buf) if len(buf) < MMAP_THRESHOLD else memoryview(buf)

    def _judge(self) -> None:
        """Refuse a stream whose first bytes cannot start JSON, before buffering the rest."""
        text = self.head.lstrip()
        while not text and len(self._pending) < WHITESPACE_LIMIT:
            more = self._read_source(HEAD)
            if not more:
                return  # only whitespace, then the end: the reader says "empty"
            self._pending += more
            text = more.lstrip()
        if not text:
            raise InvalidInput(
                f"{self.label}: only whitespace in the first {human(WHITESPACE_LIMIT)}: "
                "not an Envoy config dump",
                hint="expected the JSON of GET /config_dump or /clusters?format=json",
            )
        if text[:1] in (b"{", b"[") or _text_document(text):
            return
        from pdebug.model.sniff import sniff, status_line

        if status_line(text)[0] == "200":
            return  # `pilot-agent request`'s status line before the JSON: the reader skips it
        if text.startswith(b"HTTP/"):
            from pdebug.model.sniff import RESPONSE_HEAD, response_head

            while len(text) < RESPONSE_HEAD and b"\n\n" not in text and b"\r\n\r\n" not in text:
                more = self._read_source(HEAD)
                if not more:
                    break
                self._pending += more
                text += more
            if response_head(text)[0] == "200":
                return  # curl -i's head before the body: the reader skips it

        sniff(text, self.label)  # raises: says what it looks like instead
        raise InvalidInput(f"{self.label}: not JSON")  # pragma: no cover - sniff raised


def _text_document(head: bytes) -> bool:
    """Whether ``head`` may start a text document a reader takes (not JSON).

    YAML (a dump, istioctl proxy-status -o yaml), text ``/stats`` (``name: value``) or
    Prometheus (``# TYPE``). Such a stream is read whole (within the limits), as a file
    is, and its reader says what it is; other text (``yes |``) is refused from its head.
    """
    from pdebug.model.sniff import sniff_bytes

    if sniff_bytes(head).kind != "text":
        return False
    first = head.split(b"\n", 1)[0]
    return b":" in first or first.startswith((b"#", b"---"))


class _Prefixed:
    """``head`` then the rest of ``fh``: the bytes already read to recognise gzip."""

    def __init__(self, head: bytes, fh: BinaryIO) -> None:
        self._head = head
        self._fh = fh

    def read(self, size: int = -1) -> bytes:
        if self._head:
            out, self._head = self._head, b""
            return out
        return self._fh.read(size)


def _read_exactly(fh: Readable, size: int) -> bytes:
    """``size`` bytes, or fewer at the end (a pipe returns short reads)."""
    out = fh.read(size)
    while len(out) < size:
        more = fh.read(size - len(out))
        if not more:
            break
        out += more
    return out


def open_input(path: str) -> Input:
    """Open ``path`` (``-`` = stdin) and read its first bytes (gunzipped when compressed).

    Raises:
        SourceUnavailable: missing, unreadable, or stdin is a terminal.
        InvalidInput: a directory, damaged gzip data.
        UsageError: a limit in the environment is not a number.
    """
    return Input(path)


def read_file(path: str) -> tuple[Buffer, str]:
    """Read ``path`` (``-`` = stdin) whole, gunzipped, within the limits (see the module).

    Raises:
        SourceUnavailable: missing or unreadable.
        InvalidInput: over ``PDEBUG_MAX_INPUT``, a gzip bomb or damaged gzip, or a stream
            that does not start like JSON.
    """
    with open_input(path) as opened:
        return opened.read_all(), opened.label


def _json_inside(path: str) -> str:
    """``: DIR/a.json, DIR/b.json`` for the error on a directory (its first 1000 entries)."""
    import itertools

    try:
        with os.scandir(path) as entries:
            names = sorted(
                e.name
                for e in itertools.islice(entries, 1000)
                if e.name.endswith((".json", ".json.gz", ".yaml", ".yml")) and e.is_file()
            )
    except OSError:
        return ""
    if not names:
        return ""
    more = f" ({len(names)} in all)" if len(names) > 3 else ""
    return ": " + ", ".join(os.path.join(path, n) for n in names[:3]) + more
