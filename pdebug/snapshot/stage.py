"""Where captured documents wait: a hidden stage directory beside the output.

A capture streams each document into a stage (never whole in memory), and the bundle is
made from it at the very end, so an interrupted capture (Ctrl-C, SIGTERM) leaves nothing
that looks complete, and no temp files. Workers write under the stage's lock and never
after it is discarded. A snapshot's stage is named after its host and process
(``.pdebug-snapshot-HOST-PID-*.tmp``): one left by a snapshot killed outright (SIGKILL) is
removed by the next snapshot writing to the same directory. This module also checks the
output before any I/O on the cluster: an existing ``-o`` file is never replaced without
``force``.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import tempfile
import threading
import time
from typing import TYPE_CHECKING, BinaryIO

from pdebug.errors import UsageError

if TYPE_CHECKING:
    from pdebug.snapshot.pack import Piece

STAGE_PREFIX = ".pdebug-snapshot-"
_STAGE = re.compile(r"^\.pdebug-snapshot-(?P<host>.+)-(?P<pid>\d+)-[^-]+\.tmp$")


class Cancelled(Exception):
    """The capture was interrupted: stop this proxy quietly."""


def host() -> str:
    """This host's name, file-name safe (it names the stages of its snapshots)."""
    return re.sub(r"[^A-Za-z0-9.]+", "_", socket.gethostname()) or "host"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. EPERM: someone else's live process
        return True
    return True


def remove_stale_stages(parent: str) -> list[str]:
    """Remove stages left in ``parent`` by snapshots of this host that are no longer running.

    Only directories named as :class:`Stage` names them, for this host, whose process is
    gone: a snapshot running elsewhere (another host on a shared disk, another process
    here) is left alone. Returns the names removed.
    """
    here, removed = host(), list[str]()
    try:
        names = os.listdir(parent)
    except OSError:
        return removed
    for name in names:
        match = _STAGE.match(name)
        if match is None or match["host"] != here or _alive(int(match["pid"])):
            continue
        path = os.path.join(parent, name)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(name)
    return removed


class Stage:
    """The hidden temp directory where documents wait for the bundle.

    Args:
        parent: The output's directory.
        target: The output (named in errors).
        prefix: The stage's name prefix; the default is a snapshot's
            (``.pdebug-snapshot-HOST-PID-``, so a stale one can be recognized).
        suffix: The stage's name suffix.

    Raises:
        SourceUnavailable: ``cannot write TARGET: REASON`` (read-only, missing, full).
    """

    def __init__(
        self, parent: str, target: str, prefix: str | None = None, suffix: str = ".tmp"
    ) -> None:
        from pdebug.atomic import cannot_write

        if prefix is None:
            prefix = f"{STAGE_PREFIX}{host()}-{os.getpid()}-"
        try:
            self.root = tempfile.mkdtemp(prefix=prefix, suffix=suffix, dir=parent)
        except OSError as exc:
            raise cannot_write(target, exc) from None
        self.lock = threading.Lock()
        self.closed = False
        self.members: list[str] = []
        #: Each member's tar content deflated (:meth:`keep`), for the bundle.
        self.pieces: dict[str, Piece] = {}

    def path(self, name: str) -> str:
        """The file system path of member ``name``."""
        return os.path.join(self.root, name)

    def open(self, name: str) -> BinaryIO:
        """Create member ``name`` (``POD.NS/file`` or a top-level file) for writing.

        Raises:
            Cancelled: the stage was discarded.
        """
        with self.lock:
            if self.closed:
                raise Cancelled
            directory, _, _ = name.rpartition("/")
            if directory and not os.path.isdir(self.path(directory)):
                os.mkdir(self.path(directory))  # never the root itself
            fh = open(self.path(name), "w+b")  # noqa: SIM115 - the caller closes it
            if name not in self.members:  # written again (text /clusters, then its JSON)
                self.members.append(name)
            return fh

    def write(self, name: str, body: bytes) -> None:
        """Write one member, unless cancelled."""
        with self.open(name) as fh:
            fh.write(body)

    def replace(self, new: str, name: str) -> None:
        """Member ``new``'s file becomes member ``name`` (listed once, where it was).

        Raises:
            Cancelled: the stage was discarded.
        """
        with self.lock:
            if self.closed:
                raise Cancelled
            os.replace(self.path(new), self.path(name))
            if new in self.members:
                self.members.remove(new)
            if name not in self.members:
                self.members.append(name)

    def remove(self, name: str) -> None:
        """Forget member ``name`` (a document that failed): it is not published."""
        with self.lock:
            piece = self.pieces.pop(name, None)
            if piece is not None and piece.file is not None and not self.closed:
                os.remove(piece.file)
            if name in self.members:
                self.members.remove(name)
                if not self.closed:
                    os.remove(self.path(name))

    def keep(self, name: str, piece: Piece) -> None:
        """Keep member ``name``'s deflated content for the bundle, in a file beside it.

        The stage, not memory, holds a snapshot's pieces until the bundle is written;
        the file (``NAME.deflated``) is never a member.

        Raises:
            Cancelled: the stage was discarded.
        """
        with self.lock:
            if self.closed:
                raise Cancelled
            old = self.pieces.pop(name, None)
            if old is not None and old.file is not None:
                os.remove(old.file)
            self.pieces[name] = piece.kept(self.path(name) + ".deflated")

    def discard(self) -> None:
        """Remove everything staged (idempotent); later writes are refused."""
        with self.lock:
            self.closed = True
            shutil.rmtree(self.root, ignore_errors=True)


def default_output(context: str | None, now: float | None = None) -> str:
    """``snapshot-<context>-<UTC time>.tar.gz`` (the context made file-name safe)."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", context or "in-cluster").strip("_") or "cluster"
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    return f"snapshot-{safe}-{stamp}.tar.gz"


def check_output(output: str | None, directory: str | None, force: bool = False) -> None:
    """Reject an output that cannot be written, before any I/O on the cluster.

    Raises:
        UsageError: both ``-o`` and ``--dir``, a wrong extension, ``--dir`` exists, or
            the ``-o`` file exists and ``force`` is not set.
        SourceUnavailable: ``cannot write ...``: the directory is missing or not writable.
    """
    from pdebug.atomic import check_writable

    if output and directory:
        raise UsageError("give -o FILE or --dir DIR, not both")
    if output and not output.endswith((".tar.gz", ".tgz")):
        raise UsageError(
            f"{output}: a snapshot is a .tar.gz bundle",
            hint="use -o NAME.tar.gz, or --dir DIR for plain files",
        )
    if directory and os.path.lexists(directory):
        raise UsageError(
            f"--dir {directory}: already exists",
            hint="name a new directory; pdebug never writes into an existing one",
        )
    if output:
        refuse_existing(output, force)
    path = output or directory
    if path:
        check_writable(path)


def refuse_existing(
    output: str, force: bool, what: str = "the bundle file", another: str = " (-o NEW.tar.gz)"
) -> None:
    """Never replace an earlier capture by accident (``pdebug snapshot`` and ``pdebug dump``).

    ``what`` is what ``-o`` names, ``another`` how to name another file, in hints.

    Raises:
        UsageError: ``output`` exists (a directory always; a file unless ``force``).
    """
    if os.path.isdir(output):
        raise UsageError(f"{output}: is a directory", hint=f"-o names {what} to write")
    if os.path.lexists(output) and not force:
        raise UsageError(
            f"{output}: already exists",
            hint=f"pass --force to replace it, or name another file{another}",
        )


def umask() -> int:
    """The process's umask (read without changing it for long)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask
