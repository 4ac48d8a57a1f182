"""Capture bundles: what ``pdebug dump`` (and later ``pdebug snapshot``) saves.

A bundle is a ``.tar.gz`` holding ``manifest.json`` and one directory per proxy with
``config_dump.json`` (``?include_eds``), ``clusters.json`` (``/clusters?format=json``) and
``server_info.json``. Every view accepts a bundle as SOURCE: ``bundle.tar.gz`` when it
holds one proxy, ``bundle.tar.gz:POD.NS`` to pick one. Writes are atomic: a temp file in
the target directory, renamed over the target only once complete.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
import time
from dataclasses import dataclass, field
from typing import Any

import orjson

from pdebug import __version__
from pdebug.atomic import atomic_open
from pdebug.errors import InvalidInput, SourceUnavailable

FORMAT = "pdebug-bundle/1"
DUMP = "config_dump.json"
CLUSTERS = "clusters.json"
SERVER_INFO = "server_info.json"


@dataclass
class CapturedProxy:
    """One proxy's captured documents (already redacted) and what went wrong."""

    name: str
    source: str
    files: dict[str, bytes] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)


def is_tar(data: bytes | memoryview) -> bool:
    """Whether ``data`` (already gunzipped) is a tar archive."""
    return len(data) > 262 and bytes(data[257:262]) == b"ustar"


def write_bundle(path: str, proxies: list[CapturedProxy], meta: dict[str, Any]) -> None:
    """Write ``proxies`` as a gzipped tar at ``path``, atomically."""
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "tool": f"pdebug {__version__}",
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **meta,
        "proxies": [],
    }
    with atomic_open(path) as raw, tarfile.open(fileobj=raw, mode="w:gz") as tar:
        for proxy in proxies:
            entry: dict[str, Any] = {
                "name": proxy.name,
                "source": proxy.source,
                **proxy.info,
                "files": {},
                "errors": proxy.errors,
            }
            for name, body in proxy.files.items():
                _add(tar, f"{proxy.name}/{name}", body)
                entry["files"][name] = {
                    "sha256": hashlib.sha256(body).hexdigest(),
                    "bytes": len(body),
                }
            manifest["proxies"].append(entry)
        _add(tar, "manifest.json", orjson.dumps(manifest, option=orjson.OPT_INDENT_2))


def _add(tar: tarfile.TarFile, name: str, body: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(body)
    info.mtime = int(time.time())
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(body))


@dataclass
class Bundle:
    """A read bundle: its manifest and member bytes."""

    label: str
    manifest: dict[str, Any]
    members: dict[str, bytes]

    @property
    def proxies(self) -> list[str]:
        """Proxy names, in manifest order."""
        return [str(p["name"]) for p in self.manifest.get("proxies", [])]

    def proxy(self, name: str | None) -> dict[str, bytes]:
        """The files of proxy ``name`` (or of the only proxy when ``name`` is None)."""
        names = self.proxies
        if name is None:
            if len(names) != 1:
                raise InvalidInput(
                    f"{self.label}: the bundle holds {len(names)} proxies; pick one",
                    hint=f"e.g. {self.label}:{names[0] if names else 'POD.NS'} "
                    f"(proxies: {', '.join(names[:10])}{' ...' if len(names) > 10 else ''})",
                )
            name = names[0]
        if name not in names:
            raise SourceUnavailable(
                f"{self.label}: no proxy {name!r} in the bundle",
                hint="proxies: " + ", ".join(names[:20]),
            )
        prefix = name + "/"
        return {k[len(prefix) :]: v for k, v in self.members.items() if k.startswith(prefix)}


def read_bundle(data: bytes, label: str) -> Bundle:
    """Open a (gunzipped) tar bundle."""
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
            members = {}
            for info in tar.getmembers():
                if info.isfile():
                    fh = tar.extractfile(info)
                    if fh is not None:
                        members[info.name] = fh.read()
    except tarfile.TarError as exc:
        raise InvalidInput(f"{label}: damaged bundle ({exc})", hint="capture it again") from None
    raw_manifest = members.pop("manifest.json", None)
    if raw_manifest is None:
        raise InvalidInput(
            f"{label}: a tar archive without manifest.json is not a pdebug bundle",
            hint="create bundles with pdebug dump (or pdebug snapshot)",
        )
    try:
        manifest = orjson.loads(raw_manifest)
    except orjson.JSONDecodeError:
        raise InvalidInput(f"{label}: damaged manifest.json in the bundle") from None
    return Bundle(label, manifest, members)
