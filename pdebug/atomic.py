"""Atomic file writes: a temp file beside the target, renamed over it when complete."""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator
from typing import BinaryIO

from pdebug.errors import SourceUnavailable

_HINT = "check that the directory exists and is writable (and has space), or write elsewhere"


def cannot_write(path: str, exc: OSError) -> SourceUnavailable:
    """``cannot write PATH: REASON``, with a hint (the directory is named when missing)."""
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        return SourceUnavailable(
            f"cannot write {path}: directory {parent} does not exist",
            hint="create it first (mkdir -p), or write elsewhere",
        )
    return SourceUnavailable(f"cannot write {path}: {exc.strerror or exc}", hint=_HINT)


def _temp_beside(directory: str) -> tuple[int, str]:
    """A new empty file ``.pdebug-HEX.tmp`` in ``directory``, open for writing, mode 0600.

    What ``tempfile.mkstemp`` gives, without importing ``tempfile`` (it brings ``shutil``
    with ``bz2`` and ``lzma``, and ``random``: ~2.4 ms before ``report``'s fork, #17).
    ``O_EXCL`` makes the name ours or fails; ``O_NOFOLLOW`` never follows a planted link;
    the descriptor is not inherited (PEP 446).
    """
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    flags |= getattr(os, "O_BINARY", 0)
    for _ in range(100):
        name = os.path.join(directory, f".pdebug-{os.urandom(8).hex()}.tmp")
        try:
            return os.open(name, flags, 0o600), name
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no unused temporary file name", directory)


def check_writable(path: str) -> None:
    """Fail early, before any slow capture, when nothing can be written beside ``path``.

    Creates and removes a temp file in ``path``'s directory: what the atomic write does.

    Raises:
        SourceUnavailable: the directory is missing, read-only, full, or not a real one.
    """
    directory = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = _temp_beside(directory)
    except OSError as exc:
        raise cannot_write(path, exc) from None
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(tmp)


@contextlib.contextmanager
def atomic_open(path: str) -> Iterator[BinaryIO]:
    """Open a temp file in ``path``'s directory; on success fsync and rename it to ``path``.

    On any exception (Ctrl-C included) the temp file is removed, so ``path`` is either the
    old file, or absent, or complete: never a partial write that looks finished.

    Raises:
        SourceUnavailable: the temp file cannot be created (see :func:`cannot_write`).
    """
    directory = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = _temp_beside(directory)
    except OSError as exc:
        raise cannot_write(path, exc) from None
    umask = os.umask(0)
    os.umask(umask)
    os.fchmod(fd, 0o666 & ~umask)  # made 0600; a saved file gets normal rights
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
