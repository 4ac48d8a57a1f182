"""Where bytes come from. Sources do I/O only; they never parse into the model."""

from __future__ import annotations

from pdebug.sources.file import read_file

__all__ = ["read_source"]


def read_source(source: str) -> tuple[bytes, str]:
    """Fetch the bytes ``source`` names, and a label for messages.

    ``-`` is stdin; anything else is a path (gzip is recognised by its magic bytes).
    """
    return read_file(source)
