"""Writing bundles whole, from memory or from a directory (tests and the bench make theirs here).

``pdebug dump`` and ``pdebug snapshot`` write theirs from pieces deflated while they
captured (:func:`pdebug.snapshot.pack.write_packed`, the same tar as :func:`write_tree`'s).
The format and its reader are :mod:`pdebug.sources.bundle` (re-exported here, so
``bundle.DUMP``, ``bundle.open_bundle``... keep working for the writers and tests);
this module only writes. Writes are atomic: a temp file in the target directory,
renamed over the target only once complete; the manifest is the tar's first member.
"""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
import time
from dataclasses import dataclass, field
from typing import Any

import orjson

from pdebug import __version__
from pdebug.atomic import atomic_open
from pdebug.sources.bundle import *  # noqa: F403 - the reader's names, where they were
from pdebug.sources.bundle import FORMAT, MANIFEST


@dataclass
class CapturedProxy:
    """One proxy's captured documents (already redacted) and what went wrong."""

    name: str
    source: str
    files: dict[str, bytes] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)


def file_entry(body: bytes) -> dict[str, Any]:
    """A manifest ``files`` entry: the member's sha256 and size."""
    return {"sha256": hashlib.sha256(body).hexdigest(), "bytes": len(body)}


def new_manifest(meta: dict[str, Any]) -> dict[str, Any]:
    """The manifest's head: format, tool, creation time (UTC), then ``meta``."""
    return {
        "format": FORMAT,
        "tool": f"pdebug {__version__}",
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **meta,
    }


def write_bundle(path: str, proxies: list[CapturedProxy], meta: dict[str, Any]) -> None:
    """Write ``proxies`` as a gzipped tar at ``path``, atomically (manifest first)."""
    manifest = new_manifest(meta)
    manifest["proxies"] = [
        {
            "name": proxy.name,
            "source": proxy.source,
            **proxy.info,
            "files": {name: file_entry(body) for name, body in proxy.files.items()},
            "errors": proxy.errors,
        }
        for proxy in proxies
    ]
    with atomic_open(path) as raw, tarfile.open(fileobj=raw, mode="w:gz") as tar:
        _add(tar, MANIFEST, orjson.dumps(manifest, option=orjson.OPT_INDENT_2))
        for proxy in proxies:
            for name, body in proxy.files.items():
                _add(tar, f"{proxy.name}/{name}", body)


def write_tree(
    path: str, root: str, manifest: dict[str, Any], members: list[str], compresslevel: int = 6
) -> None:
    """Write a bundle at ``path`` (atomically) from files staged under ``root``.

    ``members`` are paths relative to ``root``, written in that order after the
    manifest. Level-6 gzip by default: nearly level 9's size at a fraction of its time
    on hundreds of megabytes of JSON (``pdebug dump`` asks for level 1).
    """
    with (
        atomic_open(path) as raw,
        tarfile.open(fileobj=raw, mode="w:gz", compresslevel=compresslevel) as tar,
    ):
        _add(tar, MANIFEST, orjson.dumps(manifest, option=orjson.OPT_INDENT_2))
        for member in members:
            with open(os.path.join(root, member), "rb") as fh:
                info = tarfile.TarInfo(member)
                info.size = os.fstat(fh.fileno()).st_size
                info.mtime = int(time.time())
                info.mode = 0o644
                tar.addfile(info, fh)


def _add(tar: tarfile.TarFile, name: str, body: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(body)
    info.mtime = int(time.time())
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(body))


__all__ = ["CapturedProxy", "file_entry", "new_manifest", "write_bundle", "write_tree"]
