"""Capture a live proxy into a bundle (``pdebug dump``).

Every document is streamed from the proxy to a file in a hidden stage directory beside
the output (so a 240 MB ``config_dump?include_eds`` is never held whole in memory while
it is read), redacted there, checked to be a config dump, then published atomically: the
bundle is written from the staged files, or the staged dump is renamed to ``NAME.json``.
The stage is removed whatever happens (an error, Ctrl-C).
"""

from __future__ import annotations

import contextlib
import hashlib
import mmap
import os
import re
import shutil
import tempfile
from typing import Any, BinaryIO

from pdebug import bundle
from pdebug.atomic import cannot_write, check_writable
from pdebug.errors import InvalidInput, UsageError
from pdebug.redact import may_hold_private_key, redact_bytes, redact_text
from pdebug.sources import LiveOptions, open_source
from pdebug.sources.admin import AdminHTTPError

PATHS = {
    bundle.DUMP: "/config_dump?include_eds",
    bundle.CLUSTERS: "/clusters?format=json",
    bundle.SERVER_INFO: "/server_info",
    bundle.STATS: "/stats?format=json",
}


def proxy_name(label: str) -> str:
    """A file-system-safe proxy name: ``pod/x.ns`` -> ``x.ns``; URLs -> ``host_port``."""
    name = label.split("://", 1)[-1]
    name = name.removeprefix("pod/")
    name = name.split(" ", 1)[0]
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "proxy"


def capture_one(
    text: str, output: str, options: LiveOptions, redact: bool = True, force: bool = False
) -> str:
    """Fetch SOURCE's documents and write them to ``output``; returns a summary line.

    Raises:
        UsageError: a wrong extension, or ``output`` exists (and ``force`` is not set).
        SourceUnavailable: the proxy cannot be read (within ``--timeout``, ``--max-body``).
        InvalidInput: the proxy's answer is not a config dump.
    """
    if not output.endswith((".tar.gz", ".tgz", ".json")):
        raise UsageError(
            f"{output}: unknown kind of output file",
            hint="use NAME.tar.gz (a bundle every view reads) or NAME.json (the dump only)",
        )
    # As pdebug snapshot: never replace an earlier capture by accident.
    if os.path.isdir(output):
        raise UsageError(f"{output}: is a directory", hint="-o names the file to write")
    if os.path.lexists(output) and not force:
        raise UsageError(
            f"{output}: already exists",
            hint="pass --force to replace it, or name another file",
        )
    check_writable(output)
    source = open_source(text, options)
    if not source.live:
        raise UsageError(
            f"{text}: pdebug dump reads a live proxy (an admin URL or a pod), not a file",
            hint="e.g. pdebug dump http://127.0.0.1:15000 -o proxy.tar.gz",
        )
    # The label is saved (manifest, member names) and printed: no user:password@ in it.
    label = redact_text(source.label)
    as_json = output.endswith(".json")
    try:
        stage = tempfile.mkdtemp(
            prefix=".pdebug-dump-", dir=os.path.dirname(os.path.abspath(output))
        )
    except OSError as exc:
        raise cannot_write(output, exc) from None
    try:
        staged: dict[str, str] = {}
        try:
            # The label names the pod once the first GET found it: stage under a neutral name.
            os.mkdir(os.path.join(stage, "proxy"))
            for name, path in PATHS.items():
                if as_json and name != bundle.DUMP:
                    continue
                staged[name] = os.path.join(stage, "proxy", name)
                with open(staged[name], "w+b") as fh:
                    try:
                        _stream(source, path, fh)
                    except AdminHTTPError:
                        if name != bundle.STATS:
                            raise
                        # /stats is extra (PD603 reads it): a proxy without it still dumps
                        del staged[name]
                        continue
                    # --no-redact keeps tokens and header values, never private keys.
                    _redact_in_place(fh, tokens=redact)
        finally:
            source.close()
        label = redact_text(source.label)  # a pod source knows its pod after the first GET
        _check_dump(staged[bundle.DUMP], label)
        size = sum(os.path.getsize(path) for path in staged.values())
        if as_json:
            _publish(staged[bundle.DUMP], output)
        else:
            proxy = proxy_name(label)
            os.rename(os.path.join(stage, "proxy"), os.path.join(stage, proxy))
            manifest = bundle.new_manifest({"source": label})
            manifest["proxies"] = [
                {
                    "name": proxy,
                    "source": label,
                    "files": {name: _entry(os.path.join(stage, proxy, name)) for name in staged},
                    "errors": [],
                }
            ]
            # Level 1: a capture is written while someone waits for it; level 6 took 2.5x
            # as long for a 1.3x smaller file (#17).
            members = [f"{proxy}/{name}" for name in staged]
            bundle.write_tree(output, stage, manifest, members, compresslevel=1)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return f"saved {label} to {output} ({size / 1e6:.1f} MB of documents)"


def _stream(source: Any, path: str, fh: BinaryIO) -> None:
    """GET ``path`` into ``fh``: streamed when the source can, else through memory."""
    get_to = getattr(source, "get_to", None)
    if get_to is not None:
        get_to(path, fh)
    else:
        fh.write(bytes(source.get(path)))


def _redact_in_place(fh: BinaryIO, tokens: bool = True) -> None:
    """Redact the file's content (read through a map; the result is written back).

    Private keys always; tokens and secret values unless ``tokens`` is False.
    """
    fh.flush()
    if os.fstat(fh.fileno()).st_size == 0:
        return
    with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
        if not tokens and not may_hold_private_key(mapped):
            return  # --no-redact and no private key anywhere: nothing to rewrite
        redacted = redact_bytes(mapped, tokens=tokens)  # type: ignore[arg-type]
        if memoryview(mapped) == redacted:
            return  # nothing hidden: the file stays as it is (#17)
    fh.seek(0)
    fh.truncate()
    fh.write(redacted)
    fh.flush()


def _check_dump(path: str, label: str) -> None:
    """Fail unless the staged file is an Envoy config dump (read through a map)."""
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


def _entry(path: str) -> dict[str, Any]:
    """The manifest ``files`` entry of a staged file (as :func:`bundle.file_entry`)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
        return {"sha256": digest.hexdigest(), "bytes": fh.tell()}


def _publish(staged: str, output: str) -> None:
    """Move the staged file to ``output`` atomically, with normal file rights."""
    umask = os.umask(0)
    os.umask(umask)
    try:
        with open(staged, "rb") as fh:
            os.fsync(fh.fileno())
        os.chmod(staged, 0o666 & ~umask)
        os.replace(staged, output)
    except OSError as exc:
        raise cannot_write(output, exc) from None
