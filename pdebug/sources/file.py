"""Files and stdin (optionally gzip-compressed)."""

from __future__ import annotations

import gzip
import sys
import zlib

from pdebug.errors import InvalidInput, SourceUnavailable

GZIP_MAGIC = b"\x1f\x8b"


def read_file(path: str) -> tuple[bytes, str]:
    """Read ``path`` (``-`` = stdin) and gunzip it when compressed."""
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
