"""Capture bundles: what ``pdebug dump`` and ``pdebug snapshot`` save.

A bundle is a ``.tar.gz`` holding ``manifest.json`` and one directory per proxy with
``config_dump.json`` (``?include_eds``), ``clusters.json`` (``/clusters?format=json``),
``server_info.json`` and (snapshots) ``certs.json`` and ``istiod_config_dump.json``; the
directory ``pdebug snapshot --dir`` writes (the same files, unpacked) is a bundle too.
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
from pdebug.errors import InvalidInput, SourceUnavailable, UsageError
from pdebug.sources.file import is_tar

FORMAT = "pdebug-bundle/1"
DUMP = "config_dump.json"
CLUSTERS = "clusters.json"
SERVER_INFO = "server_info.json"
CERTS = "certs.json"
STATS = "stats.json"  # /stats?format=json (pdebug stats; update_rejected counters)
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
    """A read bundle: its manifest and member bytes.

    A snapshot directory (``root`` set) keeps ``members`` empty: files are read from
    ``root`` when asked for, so picking one proxy reads only that proxy's files.
    """

    label: str
    manifest: dict[str, Any]
    members: dict[str, bytes]
    root: str | None = None

    @property
    def proxies(self) -> list[str]:
        """Proxy names, in manifest order."""
        return [str(p["name"]) for p in self.manifest.get("proxies", [])]

    def member(self, name: str) -> bytes | None:
        """A top-level member (e.g. ``istiod_syncz.json``), or None when absent."""
        if self.root is None:
            return self.members.get(name)
        return _read_member(os.path.join(self.root, name), f"{self.label}/{name}")

    def _resolve(self, name: str | None) -> str:
        names = self.proxies
        if name is None:
            if len(names) != 1:
                # Several proxies: the command line must say which (a usage error, 2);
                # none at all: the bundle itself is unusable (invalid input, 4).
                error = UsageError if names else InvalidInput
                raise error(
                    f"{self.label}: the bundle holds {len(names)} proxies; pick one",
                    hint=f"e.g. {self.label}:{names[0] if names else 'POD.NS'} "
                    f"(proxies: {', '.join(names[:10])}{' ...' if len(names) > 10 else ''})",
                )
            name = names[0]
        if name not in names:
            name = by_pod_and_namespace(self.manifest, name) or name
        if name not in names:
            raise SourceUnavailable(
                f"{self.label}: no proxy {name!r} in the bundle",
                hint="proxies: " + ", ".join(names[:20]),
            )
        return name

    def pick(self, name: str | None) -> str:
        """The proxy ``name`` names (the only one when None), checked to be captured.

        Raises:
            UsageError: ``name`` is None and the bundle holds several proxies.
            InvalidInput: ``name`` is None and the bundle holds no proxy.
            SourceUnavailable: no such proxy, or its capture failed (the reason is given).
        """
        name = self._resolve(name)
        error = not_captured(self.manifest, name, self.label)
        if error is not None:
            raise error
        return name

    def proxy(self, name: str | None) -> dict[str, bytes]:
        """The files of proxy ``name`` (or of the only proxy when ``name`` is None)."""
        name = self._resolve(name)
        if self.root is not None:
            return _read_proxy_dir(self.root, name, self.label)
        prefix = name + "/"
        return {k[len(prefix) :]: v for k, v in self.members.items() if k.startswith(prefix)}


def _read_member(path: str, label: str) -> bytes | None:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None
    except OSError as exc:
        raise SourceUnavailable(f"{label}: cannot read ({exc.strerror or exc})") from None


def _read_proxy_dir(root: str, name: str, label: str) -> dict[str, bytes]:
    """The files of proxy ``name`` in a snapshot directory (none when it has no folder)."""
    if name in ("", ".", "..") or "/" in name or os.sep in name:
        return {}  # a manifest naming something outside the bundle: ignore it
    folder = os.path.join(root, name)
    try:
        entries = sorted(os.listdir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return {}
    except OSError as exc:
        raise SourceUnavailable(f"{label}/{name}: cannot read ({exc.strerror or exc})") from None
    out: dict[str, bytes] = {}
    for entry in entries:
        body = _read_member(os.path.join(folder, entry), f"{label}/{name}/{entry}")
        if body is not None:
            out[entry] = body
    return out


def is_dir_bundle(path: str) -> bool:
    """Whether ``path`` is a directory holding a bundle (``pdebug snapshot --dir``)."""
    return path != "-" and os.path.isfile(os.path.join(path, MANIFEST))


def _parse_manifest(raw: bytes, label: str) -> dict[str, Any]:
    try:
        manifest = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InvalidInput(f"{label}: damaged manifest.json in the bundle") from None
    if not isinstance(manifest, dict):
        raise InvalidInput(f"{label}: damaged manifest.json in the bundle")
    return manifest


def read_dir_bundle(path: str, label: str | None = None) -> Bundle:
    """Open a snapshot directory (``pdebug snapshot --dir``): its manifest, files on demand.

    Raises:
        InvalidInput: the directory has no manifest.json, or a damaged one.
        SourceUnavailable: the manifest cannot be read.
    """
    label = label or path
    raw = _read_member(os.path.join(path, MANIFEST), f"{label}/{MANIFEST}")
    if raw is None:
        raise InvalidInput(
            f"{label}: a directory without manifest.json is not a pdebug bundle",
            hint="pass a config_dump JSON file inside it, or a pdebug snapshot --dir directory",
        )
    return Bundle(label, _parse_manifest(raw, label), {}, root=path)


def open_bundle(path: str) -> Bundle:
    """The bundle at ``path``: a ``.tar.gz`` or a snapshot directory.

    Raises:
        SourceUnavailable: ``path`` cannot be read.
        InvalidInput: it is not a bundle, or a damaged one.
    """
    opened = read_any(path)
    if isinstance(opened, Bundle):
        return opened
    raise InvalidInput(
        f"{opened[1]}: not a pdebug bundle",
        hint="a bundle is the .tar.gz (or --dir directory) of pdebug snapshot or pdebug dump",
    )


def read_any(path: str) -> Bundle | tuple[bytes | memoryview, str]:
    """The bundle at ``path`` (a ``.tar.gz`` or a snapshot directory), else its bytes and label.

    Raises:
        SourceUnavailable: ``path`` cannot be read.
        InvalidInput: a damaged bundle, or a directory that is not one.
    """
    from pdebug.sources.file import read_file

    if path != "-" and os.path.isdir(path):
        return read_dir_bundle(path)
    data, label = read_file(path)
    if is_tar(data):
        return read_bundle(bytes(data), label)
    return data, label


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
    return Bundle(label, _parse_manifest(raw_manifest, label), members)


def peek_manifest(path: str) -> dict[str, Any] | None:
    """The manifest of the bundle at ``path``, or None when it is not a (readable) bundle.

    Streams the archive up to ``manifest.json`` (the first member of bundles written by
    this version), so asking costs next to nothing; plain and gzipped JSON files are told
    apart from their first block. A snapshot directory answers with its manifest.json.
    """
    if path == "-":
        return None
    if os.path.isdir(path):
        try:
            raw = _read_member(os.path.join(path, MANIFEST), path)
            manifest = orjson.loads(raw) if raw is not None else None
        except (SourceUnavailable, orjson.JSONDecodeError):
            return None
        return manifest if isinstance(manifest, dict) else None
    if not os.path.isfile(path):
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


def by_pod_and_namespace(manifest: dict[str, Any], text: str) -> str | None:
    """The member whose ``pod`` and ``namespace`` make ``text`` (``POD.NS``), if any.

    A snapshot shortens a member name too long for a file name (a 253-character pod
    name), so the full ``POD.NS`` is found through these fields.
    """
    for entry in proxy_entries(manifest):
        pod, namespace = entry.get("pod"), entry.get("namespace")
        if isinstance(pod, str) and isinstance(namespace, str) and f"{pod}.{namespace}" == text:
            return str(entry["name"])
    return None


def _listing(names: list[str], what: str = "proxies") -> str:
    more = f" ... and {len(names) - 20} more" if len(names) > 20 else ""
    return f"{what}: " + (", ".join(names[:20]) or "none") + more


def _failed(entry: dict[str, Any]) -> bool:
    """Whether the capture of this proxy entry failed (no config dump saved)."""
    return entry.get("status") == "failed" or (not entry.get("files") and bool(entry.get("errors")))


def captured_names(manifest: dict[str, Any]) -> list[str]:
    """The proxies whose capture succeeded, in manifest order."""
    return [str(e["name"]) for e in proxy_entries(manifest) if not _failed(e)]


def not_captured(manifest: dict[str, Any], name: str, label: str) -> SourceUnavailable | None:
    """The error for proxy ``name`` when its capture failed (the manifest's reason), else None.

    The message is ``LABEL:NAME: this proxy was not captured (REASON)``; the hint lists the
    proxies that were captured.
    """
    entry = next((e for e in proxy_entries(manifest) if e["name"] == name), None)
    if entry is None or not _failed(entry):
        return None
    errors = entry.get("errors") or ["no documents"]
    captured = captured_names(manifest)
    hint = (
        f"pick a captured proxy ({_listing(captured, 'captured')}), or take another snapshot"
        if captured
        else "no proxy of this bundle was captured; take another snapshot"
    )
    return SourceUnavailable(
        f"{label}:{name}: this proxy was not captured ({errors[0]})", hint=hint
    )


_POD_PREFIXES = ("pod/", "pods/", "po/")


def find_proxy(manifest: dict[str, Any], text: str, namespace: str | None, label: str) -> str:
    """The bundle member ``text`` names: ``pod/NAME``, ``NAME``, ``NAME.NS`` or a member name.

    Without a namespace (``.NS`` or ``namespace``), a pod name found in one namespace
    only is enough.

    Raises:
        UsageError: ``text`` names a workload, or a pod in several namespaces.
        SourceUnavailable: no such proxy, or it was not captured (the reason is given).
    """
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
    full = by_pod_and_namespace(manifest, f"{rest}.{namespace}" if namespace else rest)
    if namespace and f"{rest}.{namespace}" in by_name:
        wanted = [f"{rest}.{namespace}"]
    elif rest in by_name:
        wanted = [rest]
    elif full is not None:
        wanted = [full]
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
    error = not_captured(manifest, wanted[0], label)
    if error is not None:
        raise error
    return wanted[0]


def member_source(path: str, text: str | None, namespace: str | None) -> str:
    """``--bundle PATH TEXT`` as a SOURCE: ``PATH:NAME.NS`` (just ``PATH`` without TEXT).

    Raises:
        SourceUnavailable: PATH is missing, or holds no such proxy (the message lists
            those it holds), or that proxy was not captured (the message says why).
        InvalidInput: PATH is not a bundle.
        UsageError: TEXT names a workload, or a pod in several namespaces.
    """
    manifest = peek_manifest(path)
    if manifest is None:
        if not os.path.exists(path):
            raise SourceUnavailable(f"--bundle {path}: no such file")
        raise InvalidInput(
            f"--bundle {path}: not a pdebug bundle",
            hint="--bundle reads the .tar.gz of pdebug snapshot or pdebug dump, or the "
            "directory of pdebug snapshot --dir",
        )
    if not text:
        return path
    return f"{path}:{find_proxy(manifest, text, namespace, path)}"


def multi_manifest(text: str | None) -> dict[str, Any] | None:
    """The manifest of ``text`` when it names a whole bundle of several proxies, else None.

    ``B:NAME`` (one member), single-proxy bundles, dumps, URLs and pods give None.
    """
    from pdebug.sources import split_member

    if not text or text == "-" or split_member(text)[1] is not None:
        return None
    manifest = peek_manifest(text)
    if manifest is None or len(proxy_entries(manifest)) == 1:
        return None
    return manifest


def is_pair(source: str, other: str | None) -> bool:
    """Whether ``pdebug diff SOURCE OTHER`` compares two bundles proxy by proxy.

    True when both are whole bundles (no ``:NAME``) and one holds several proxies.
    """
    from pdebug.sources import split_member

    if not other or any(split_member(t)[1] is not None for t in (source, other)):
        return False
    left, right = peek_manifest(source), peek_manifest(other)
    if left is None or right is None:
        return False
    return len(proxy_entries(left)) != 1 or len(proxy_entries(right)) != 1
