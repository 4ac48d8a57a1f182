"""Capture bundles: what ``pdebug dump`` and ``pdebug snapshot`` save.

A bundle is a ``.tar.gz`` holding ``manifest.json`` and one directory per proxy with
``config_dump.json`` (``?include_eds``), ``clusters.json`` (``/clusters?format=json``),
``server_info.json`` and (snapshots) ``certs.json`` and ``istiod_config_dump.json``.
Every view accepts a bundle as SOURCE: ``bundle.tar.gz`` when it holds one proxy,
``bundle.tar.gz:POD.NS`` to pick one. Writes are atomic: a temp file in the target
directory, renamed over the target only once complete.

The manifest is the tar's first member (bundles written before 0.1.0 have it last), so
:func:`peek_manifest` can tell what a bundle holds without decompressing the rest.
Format ``pdebug-bundle/1``: later additions (``pod``, ``namespace``, ``node``, ``status``,
``sync``, ``skipped``, ``istiod``...) are optional keys that readers may ignore.
"""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
import time
import zlib
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
CERTS = "certs.json"
ISTIOD_DUMP = "istiod_config_dump.json"
ISTIOD_SYNCZ = "istiod_syncz.json"
MANIFEST = "manifest.json"


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


def write_tree(path: str, root: str, manifest: dict[str, Any], members: list[str]) -> None:
    """Write a bundle at ``path`` (atomically) from files staged under ``root``.

    ``members`` are paths relative to ``root``, written in that order after the
    manifest. Level-6 gzip: nearly level 9's size at a fraction of its time on
    hundreds of megabytes of JSON.
    """
    with (
        atomic_open(path) as raw,
        tarfile.open(fileobj=raw, mode="w:gz", compresslevel=6) as tar,
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
    raw_manifest = members.pop(MANIFEST, None)
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


def peek_manifest(path: str) -> dict[str, Any] | None:
    """The manifest of the bundle at ``path``, or None when it is not a (readable) bundle.

    Streams the archive up to ``manifest.json`` (the first member of bundles written by
    this version), so asking costs next to nothing; plain and gzipped JSON files are told
    apart from their first block.
    """
    if path == "-" or not os.path.isfile(path):
        return None
    try:
        with tarfile.open(path, mode="r|*") as tar:
            for info in tar:
                if info.name == MANIFEST and info.isfile():
                    fh = tar.extractfile(info)
                    manifest = orjson.loads(fh.read()) if fh is not None else None
                    return manifest if isinstance(manifest, dict) else None
    except (tarfile.TarError, OSError, EOFError, zlib.error, orjson.JSONDecodeError):
        return None
    return None


def proxy_entries(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """The manifest's proxy entries (those that are mappings with a name)."""
    return [
        p
        for p in manifest.get("proxies") or []
        if isinstance(p, dict) and isinstance(p.get("name"), str)
    ]


def _pod_of(entry: dict[str, Any]) -> tuple[str, str | None]:
    """(pod, namespace) of a proxy entry: its fields, else its ``POD.NS`` name."""
    pod, ns = entry.get("pod"), entry.get("namespace")
    if isinstance(pod, str) and isinstance(ns, str):
        return pod, ns
    name = str(entry["name"])
    base, dot, rest = name.rpartition(".")
    return (base, rest) if dot else (name, None)


def _listing(names: list[str]) -> str:
    more = f" ... and {len(names) - 20} more" if len(names) > 20 else ""
    return "proxies: " + (", ".join(names[:20]) or "none") + more


_POD_PREFIXES = ("pod/", "pods/", "po/")


def find_proxy(manifest: dict[str, Any], text: str, namespace: str | None, label: str) -> str:
    """The bundle member ``text`` names: ``pod/NAME``, ``NAME``, ``NAME.NS`` or a member name.

    Without a namespace (``.NS`` or ``namespace``), a pod name found in one namespace
    only is enough.

    Raises:
        UsageError: ``text`` names a workload, or a pod in several namespaces.
        SourceUnavailable: no such proxy, or it was not captured (the reason is given).
    """
    from pdebug.errors import UsageError

    entries = proxy_entries(manifest)
    names = [str(e["name"]) for e in entries]
    by_name = {str(e["name"]): e for e in entries}
    rest = text
    for prefix in _POD_PREFIXES:
        if rest.lower().startswith(prefix):
            rest = rest[len(prefix) :]
            break
    else:
        if "/" in rest:
            kind, _, workload = rest.partition("/")
            workload = workload.rsplit(".", 1)[0] if "." in workload else workload
            pods = [n for n in names if n.startswith(workload + "-")]
            raise UsageError(
                f"{label}: a bundle holds pods, not {kind}s; name the pod",
                hint=(_listing(pods) if pods else _listing(names)),
            )
    wanted: list[str] = []
    if namespace and f"{rest}.{namespace}" in by_name:
        wanted = [f"{rest}.{namespace}"]
    elif rest in by_name:
        wanted = [rest]
    elif not namespace:
        wanted = [n for n in names if _pod_of(by_name[n])[0] == rest]
    shown = f"{rest}.{namespace}" if namespace else rest
    if not wanted:
        skipped = [
            s
            for s in manifest.get("skipped") or []
            if isinstance(s, dict)
            and (
                f"{s.get('pod')}.{s.get('namespace')}" == shown
                or (not namespace and s.get("pod") == rest)
            )
        ]
        if skipped:
            pod = f"{skipped[0].get('pod')}.{skipped[0].get('namespace')}"
            raise SourceUnavailable(
                f"{label}: {pod} was not captured: {skipped[0].get('reason', 'skipped')}",
                hint=_listing(names),
            )
        raise SourceUnavailable(f"{label}: no proxy {shown!r} in the bundle", hint=_listing(names))
    if len(wanted) > 1:
        raise UsageError(
            f"{label}: pod {rest} is in several namespaces of the bundle: {', '.join(wanted)}",
            hint=f"add -n NAMESPACE, or write {rest}.NAMESPACE",
        )
    entry = by_name[wanted[0]]
    if entry.get("status") == "failed" or (not entry.get("files") and entry.get("errors")):
        errors = entry.get("errors") or ["no documents"]
        raise SourceUnavailable(
            f"{label}: {wanted[0]} was not captured: {errors[0]}",
            hint="take another snapshot, or pick a captured proxy (" + _listing(names) + ")",
        )
    return wanted[0]
