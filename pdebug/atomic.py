"""Atomic file writes: a temp file beside the target, renamed over it when complete."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from typing import BinaryIO


@contextlib.contextmanager
def atomic_open(path: str) -> Iterator[BinaryIO]:
    """Open a temp file in ``path``'s directory; on success fsync and rename it to ``path``.

    On any exception (Ctrl-C included) the temp file is removed, so ``path`` is either the
    old file, or absent, or complete: never a partial write that looks finished.
    """
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".pdebug-", suffix=".tmp", dir=directory)
    umask = os.umask(0)
    os.umask(umask)
    os.fchmod(fd, 0o666 & ~umask)  # mkstemp makes 0600; a saved file gets normal rights
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_atomic(path: str, body: bytes) -> None:
    """Write ``body`` to ``path`` atomically."""
    with atomic_open(path) as fh:
        fh.write(body)
