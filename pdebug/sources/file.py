"""Files and stdin (optionally gzip-compressed)."""

from __future__ import annotations

import gzip
import mmap
import os
import sys
import zlib

from pdebug.errors import InvalidInput, SourceUnavailable

GZIP_MAGIC = b"\x1f\x8b"
#: Files above this size are memory-mapped instead of copied into the process.
MMAP_THRESHOLD = 4 << 20

Buffer = bytes | memoryview


def is_tar(data: Buffer) -> bool:
    """Whether ``data`` (already gunzipped) is a tar archive (a bundle)."""
    return len(data) > 262 and bytes(data[257:262]) == b"ustar"


def read_file(path: str) -> tuple[Buffer, str]:
    """Read ``path`` (``-`` = stdin) and gunzip it when compressed.

    Large plain files come back as a read-only memoryview of an mmap: the decoder scans
    the page cache directly and never copies the file (the map lives as long as the
    process, since decoded ``Raw`` values point into it).
    """
    label = "stdin" if path == "-" else path
    try:
        if path == "-":
            if sys.stdin.isatty():
                raise SourceUnavailable(
                    "stdin is a terminal, not a dump",
                    hint="pipe a dump in: kubectl exec POD -c istio-proxy -- "
                    "curl -s localhost:15000/config_dump | pdebug clusters -",
                )
            data = sys.stdin.buffer.read()
        else:
            with open(path, "rb") as fh:
                size = os.fstat(fh.fileno()).st_size
                if size >= MMAP_THRESHOLD:
                    mapped = memoryview(mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ))
                    if mapped[:2] != GZIP_MAGIC:
                        return mapped, label
                    data = mapped.tobytes()
                else:
                    data = fh.read()
    except FileNotFoundError:
        raise SourceUnavailable(
            f"{label}: no such file",
            hint="check the path; to read a live proxy, pass an admin URL (http://127.0.0.1:15000)",
        ) from None
    except IsADirectoryError:
        raise InvalidInput(
            f"{label}: is a directory, not a dump file",
            hint="pass the config_dump JSON file inside it",
        ) from None
    except PermissionError:
        raise SourceUnavailable(
            f"{label}: permission denied", hint="check the file's permissions"
        ) from None
    except OSError as exc:
        raise SourceUnavailable(f"{label}: cannot read ({exc.strerror or exc})") from None
    if data[:2] == GZIP_MAGIC:
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise InvalidInput(
                f"{label}: damaged gzip data ({exc})",
                hint="the compressed capture is truncated; capture it again",
            ) from None
    return data, label
