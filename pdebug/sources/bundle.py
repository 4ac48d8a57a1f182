"""Reading capture bundles: what ``pdebug dump`` and ``pdebug snapshot`` saved.

A bundle is a ``.tar.gz`` holding ``manifest.json`` and one directory per proxy with
``config_dump.json`` (``?include_eds``), ``clusters.json`` (``/clusters?format=json``),
``server_info.json`` and (snapshots) ``certs.json`` and ``istiod_config_dump.json``; the
directory ``pdebug snapshot --dir`` writes (the same files, unpacked) is a bundle too.
Every view accepts a bundle as SOURCE: ``bundle.tar.gz`` when it holds one proxy,
``bundle.tar.gz:POD.NS`` to pick one (:class:`~pdebug.sources.saved.FileSource` opens it
through this module). Writing bundles is :mod:`pdebug.bundle`'s, which builds on this one;
nothing here imports it.

The manifest is the tar's first member (bundles written before 0.1.0 have it last), so
:func:`peek_manifest` can tell what a bundle holds without decompressing the rest.
Format ``pdebug-bundle/1``: later additions (``pod``, ``namespace``, ``node``, ``status``,
``sync``, ``skipped``, ``istiod``...) are optional keys that readers may ignore.

Reading treats a bundle as an untrusted archive: a ``.tar.gz`` is streamed (never
unpacked), each member judged before it is read (regular files with plain relative names,
each once, within ``PDEBUG_MAX_INPUT``), only the proxies asked for are held, the manifest's
shape is checked and each file read is verified against its sha256 and size. A ``--dir``
bundle never follows a link nor opens a FIFO or device (``lstat``, then ``O_NOFOLLOW``).

One module over 500 lines because it is one reader of one untrusted format: the tar
reader, the directory reader and the manifest's checks share the untrusted-archive rules
above and the errors they raise.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import stat
import tarfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import orjson

from pdebug.errors import InvalidInput, PdebugError, SourceUnavailable, UsageError
from pdebug.manifest import (
    capture_facts,
    pod_namespaces,
    proxy_entries,  # a fact of the manifest's JSON; re-exported here
)
from pdebug.sources.file import human, limits, open_input, too_large

if TYPE_CHECKING:
    from pdebug.sources.bugreport import Found
    from pdebug.sources.file import Input
    from pdebug.sources.spec import FileSpec, MemberSpec

__all__ = [
    "Bundle",
    "CERTS",
    "CLUSTERS",
    "DUMP",
    "FORMAT",
    "ISTIOD_DUMP",
    "ISTIOD_SYNCZ",
    "MANIFEST",
    "MANIFEST_LIMIT",
    "SERVER_INFO",
    "STATS",
    "STATS_TEXT",
    "Recorded",
    "SavedProxies",
    "SavedProxy",
    "UNREAD_FILES",
    "by_pod_and_namespace",
    "captured_names",
    "check_manifest",
    "find_proxy",
    "is_dir_bundle",
    "is_pair",
    "member_name",
    "multi_manifest",
    "not_captured",
    "open_bundle",
    "peek_manifest",
    "proxy_entries",
    "read_any",
    "read_bundle",
    "read_dir_bundle",
    "read_recorded",
    "read_saved",
    "read_tar",
    "resolve",
    "stats_of",
]

FORMAT = "pdebug-bundle/1"
DUMP = "config_dump.json"
CLUSTERS = "clusters.json"
SERVER_INFO = "server_info.json"
CERTS = "certs.json"
STATS = "stats.json"  # /stats?format=json (pdebug stats; update_rejected counters)
#: Envoy's text /stats, as ``pdebug dump`` saves it (#17): readers are handed the JSON
#: form's document (:func:`stats_of`), PD603 reads the text as it is.
STATS_TEXT = "stats.txt"
ISTIOD_DUMP = "istiod_config_dump.json"
ISTIOD_SYNCZ = "istiod_syncz.json"
MANIFEST = "manifest.json"


#: The members of a proxy no command reads back (kept for people): never held in memory.
UNREAD_FILES = frozenset({SERVER_INFO, CERTS})
#: The most a manifest may take (a 10,000-proxy snapshot's is about 6 MB).
MANIFEST_LIMIT = 64 << 20
#: The most a tar extended header (pax, GNU long name) may take.
_META_LIMIT = 64 << 10

_REFUSED_HINT = (
    "pdebug reads only the archives pdebug dump, pdebug snapshot and istioctl bug-report "
    "write (regular files with plain names); this one was altered or made by something "
    "else, so nothing of it is used"
)
_MISMATCH_HINT = "the file changed or was damaged after the capture; pdebug does not use it"


@dataclass
class Bundle:
    """A read bundle: its manifest and member bytes.

    A snapshot directory (``root`` set) keeps ``members`` empty: files are read from
    ``root`` when asked for, so picking one proxy reads only that proxy's files.
    ``damaged`` maps a member whose bytes do not match the manifest's sha256 or size to
    why; asking for it (or its proxy) raises :class:`InvalidInput`.
    """

    label: str
    manifest: dict[str, Any]
    members: dict[str, bytes]
    root: str | None = None
    damaged: dict[str, str] = field(default_factory=dict)
    report: Found | None = None  # an istioctl bug-report: its folders (pdebug.sources.bugreport)

    @property
    def proxies(self) -> list[str]:
        """Proxy names, in manifest order."""
        return [str(p["name"]) for p in proxy_entries(self.manifest)]

    def member(self, name: str) -> bytes | None:
        """A top-level member (e.g. ``istiod_syncz.json``), or None when absent.

        Raises:
            InvalidInput: it does not match the manifest, or (directory) is not a file.
        """
        if self.root is None:
            self._check_damage(name)
            return self.members.get(name)
        if self.report is not None:
            return self._report_member(name)
        with _Dir(self.root, self.label) as top:
            body = top.read(name)
        if body is not None:
            _raise_mismatch(self.label, name, _differs(_istiod_files(self.manifest), name, body))
        return body

    def recorded(self, name: str) -> Recorded:
        """The top-level member ``name`` with the bundle's label and manifest.

        Raises:
            InvalidInput: as :meth:`member`.
        """
        return Recorded(self.label, self.member(name), self.manifest)

    def _report_member(self, name: str) -> bytes | None:
        """A top-level member of an unpacked bug report: istiod's sync status, else None."""
        from pdebug.sources import bugreport

        if name != ISTIOD_SYNCZ or self.report is None or self.root is None:
            return None
        bodies = []
        for path in self.report.syncz:
            folder, _, file = path.rpartition("/")
            with open_dir_path(self.root, folder, self.label) as opened:
                body = opened.read(file)
            if body is not None:
                bodies.append((path, body))
        return bugreport.merged_syncz(bodies)

    def _check_damage(self, name: str) -> None:
        why = self.damaged.get(name)
        if why is not None:
            _raise_mismatch(self.label, name, why)

    def resolve(self, name: str | None) -> str:
        """The proxy name ``name`` means (the only proxy when None).

        Raises:
            UsageError: ``name`` is None and the bundle holds several proxies.
            InvalidInput: ``name`` is None and the bundle holds no proxy.
            SourceUnavailable: no such proxy.
        """
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
        name = self.resolve(name)
        error = not_captured(self.manifest, name, self.label)
        if error is not None:
            raise error
        return name

    def proxy(self, name: str | None) -> dict[str, bytes]:
        """The files of proxy ``name`` (or of the only proxy when ``name`` is None).

        The files commands read (not :data:`UNREAD_FILES`) are returned.

        Raises:
            InvalidInput: a file does not match the manifest's sha256 or size, or (in a
                directory) is not a regular file: a link, FIFO, device or directory.
        """
        name = self.resolve(name)
        if self.report is not None:
            return self._report_proxy(name)
        if self.root is not None:
            files = _read_proxy_dir(self.root, name, self.label)
            listed = _proxy_files(self.manifest, name)
            for file, body in files.items():
                _raise_mismatch(self.label, f"{name}/{file}", _differs(listed, file, body))
            return files
        prefix = name + "/"
        out = {}
        for key, value in self.members.items():
            if key.startswith(prefix):
                self._check_damage(key)
                out[key[len(prefix) :]] = value
        return out

    def _report_proxy(self, name: str) -> dict[str, bytes]:
        """The files of proxy ``name`` of a bug report, as a bundle proxy's."""
        from pdebug.sources import bugreport

        assert self.report is not None
        where = self.report.folders.get(name)
        if where is None:
            return {}
        if self.root is not None:
            raw = {}
            for file in bugreport.HELD:  # stats/prometheus: the stats folder, not followed
                folder, _, leaf = f"{where.folder}/{file}".rpartition("/")
                if folder != where.folder and not os.path.lexists(os.path.join(self.root, folder)):
                    continue  # no stats folder (a link or a file there is refused below)
                with open_dir_path(self.root, folder, self.label) as opened:
                    body = opened.read(leaf)
                if body is not None:
                    raw[file] = body
        else:
            prefix = name + "/"
            raw = {k[len(prefix) :]: v for k, v in self.members.items() if k.startswith(prefix)}
        return bugreport.proxy_files(raw, f"{self.label}:{name}")


def stats_of(files: dict[str, bytes], label: str) -> bytes | None:
    """A proxy's ``/stats?format=json`` document: ``stats.json``, or ``stats.txt`` converted.

    Raises:
        InvalidInput: ``stats.txt`` holds a line the conversion cannot place.
    """
    if STATS in files or STATS_TEXT not in files:
        return files.get(STATS)
    from pdebug.model.textforms import stats_document

    return stats_document(files[STATS_TEXT], f"{label}/{STATS_TEXT}")


def _raise_mismatch(label: str, name: str, why: str | None) -> None:
    if why is not None:
        raise InvalidInput(f"{label}:{name}: {why}", hint=_MISMATCH_HINT)


def _listed(manifest: dict[str, Any], name: str) -> tuple[Any, str]:
    """The manifest's ``files`` mapping that should list member ``name``, and its key there."""
    top, _, rest = name.partition("/")
    if not rest:
        return _istiod_files(manifest), name
    return _proxy_files(manifest, top), rest


def _istiod_files(manifest: dict[str, Any]) -> Any:
    """The ``files`` the manifest lists for the top-level members (istiod's), as read."""
    istiod = manifest.get("istiod")
    return istiod.get("files") if isinstance(istiod, dict) else None


def _proxy_files(manifest: dict[str, Any], proxy: str) -> Any:
    """The ``files`` the manifest lists for ``proxy``, as read (None: no such entry)."""
    for entry in proxy_entries(manifest):
        if entry["name"] == proxy:
            return entry.get("files")
    return None


def _mismatch(manifest: dict[str, Any], name: str, body: bytes) -> str | None:
    """Why member ``name`` does not match its manifest entry; None when it does or is unlisted."""
    return _differs(*_listed(manifest, name), body)


def _differs(files: Any, key: str, body: bytes) -> str | None:
    """Why a member does not match ``files[key]``; None when it does or is unlisted."""
    entry = files.get(key) if isinstance(files, dict) else None
    if not isinstance(entry, dict):
        return None  # not listed (bundles may carry files added later): nothing to verify
    size, digest = entry.get("bytes"), entry.get("sha256")
    if isinstance(size, int) and size != len(body):
        return f"{len(body)} bytes where the manifest says {size}: refused"
    if isinstance(digest, str) and hashlib.sha256(body).hexdigest() != digest.lower():
        return "its sha256 does not match the manifest: refused"
    return None


# --------------------------------------------------------------------------- directories

_KINDS = (
    (stat.S_ISLNK, "a symbolic link"),
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _kind(mode: int) -> str:
    return next((what for test, what in _KINDS if test(mode)), "not a regular file")


class _Dir:
    """A directory of a ``--dir`` bundle, opened without following links.

    Every file is ``lstat``-ed before it is opened (``O_NOFOLLOW | O_NONBLOCK``), so a
    symbolic link out of the bundle, a FIFO or a device is refused, never opened.
    """

    def __init__(self, path: str, label: str, parent: _Dir | None = None) -> None:
        self.label = label
        flags = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
        try:
            if parent is None:  # the directory the user named: links are theirs to make
                self.fd = os.open(path, flags)
            else:
                info = os.stat(path, dir_fd=parent.fd, follow_symlinks=False)
                if not stat.S_ISDIR(info.st_mode):
                    raise _refused(label, _kind(info.st_mode), "a folder")
                self.fd = os.open(path, flags | os.O_NOFOLLOW, dir_fd=parent.fd)
        except OSError as exc:
            raise SourceUnavailable(f"{label}: cannot read ({exc.strerror or exc})") from None

    def __enter__(self) -> _Dir:
        return self

    def __exit__(self, *exc: object) -> None:
        os.close(self.fd)

    def names(self) -> list[str]:
        """The entries, sorted."""
        return sorted(os.listdir(self.fd))

    def check(self, name: str) -> os.stat_result | None:
        """The entry's ``lstat``; None when absent.

        Raises:
            InvalidInput: it is not a regular file.
        """
        try:
            info = os.stat(name, dir_fd=self.fd, follow_symlinks=False)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            raise SourceUnavailable(
                f"{self.label}/{_shown(name)}: cannot read ({exc.strerror or exc})"
            ) from None
        if not stat.S_ISREG(info.st_mode):
            raise _refused(f"{self.label}/{_shown(name)}", _kind(info.st_mode))
        return info

    def read(self, name: str) -> bytes | None:
        """A regular file's bytes (bounded by ``PDEBUG_MAX_INPUT``); None when absent."""
        label = f"{self.label}/{_shown(name)}"
        limit = MANIFEST_LIMIT if name == MANIFEST else limits().max_input
        info = self.check(name)
        if info is None:
            return None
        if info.st_size > limit:
            raise too_large(label, limit, f"the file ({human(info.st_size)})")
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
        try:
            fd = os.open(name, flags, dir_fd=self.fd)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise SourceUnavailable(f"{label}: cannot read ({exc.strerror or exc})") from None
        with os.fdopen(fd, "rb") as fh:
            info = os.fstat(fh.fileno())
            if not stat.S_ISREG(info.st_mode):  # swapped since the lstat
                raise _refused(label, _kind(info.st_mode))
            try:
                body = fh.read(limit + 1)
            except OSError as exc:
                raise SourceUnavailable(f"{label}: cannot read ({exc.strerror or exc})") from None
        if len(body) > limit:
            raise too_large(label, limit, "the file")
        return body


@contextlib.contextmanager
def open_dir_path(root: str, folder: str, label: str) -> Iterator[_Dir]:
    """The folder ``folder`` (``a/b/c``) under ``root``, each step opened without following a link.

    Raises:
        InvalidInput: a step is a link, FIFO, device or file, not a folder.
        SourceUnavailable: a step cannot be read.
    """
    with contextlib.ExitStack() as stack:
        current = stack.enter_context(_Dir(root, label))
        shown = label
        for part in folder.split("/"):
            if _name_problem(part) is not None:
                raise InvalidInput(f"{label}: the folder {folder!r} is not a plain path: refused")
            shown = f"{shown}/{_shown(part)}"
            current = stack.enter_context(_Dir(part, shown, current))
        yield current


def _shown(name: str) -> str:
    """A file name for a message: as is when printable, else escaped as Python does."""
    return name if name.isprintable() else repr(name)


def _refused(label: str, kind: str, want: str = "a regular file") -> InvalidInput:
    return InvalidInput(
        f"{label}: is {kind}, not {want}: refused (pdebug never follows a link out of a "
        "bundle, nor opens a FIFO or device in one)",
        hint="a pdebug snapshot --dir directory holds manifest.json and POD.NS/ folders of "
        "regular files",
    )


def _read_proxy_dir(root: str, name: str, label: str) -> dict[str, bytes]:
    """The files of proxy ``name`` in a snapshot directory (none when it has no folder).

    Every entry of the folder must be a regular file; :data:`UNREAD_FILES` are not read.
    """
    if _name_problem(name) is not None or "/" in name:
        return {}  # a manifest naming something outside the bundle: ignore it
    with _Dir(root, label) as top:
        try:
            info = os.stat(name, dir_fd=top.fd, follow_symlinks=False)
        except (FileNotFoundError, NotADirectoryError):
            return {}
        except OSError as exc:
            why = exc.strerror or exc
            raise SourceUnavailable(f"{label}/{name}: cannot read ({why})") from None
        if not stat.S_ISDIR(info.st_mode):
            raise _refused(f"{label}/{name}", _kind(info.st_mode), "a folder")
        with _Dir(name, f"{label}/{name}", top) as folder:
            out: dict[str, bytes] = {}
            for entry in folder.names():
                folder.check(entry)
                if entry not in UNREAD_FILES:
                    body = folder.read(entry)
                    if body is not None:
                        out[entry] = body
            return out


def is_dir_bundle(path: str) -> bool:
    """Whether ``path`` is a directory holding a bundle (``pdebug snapshot --dir``).

    Any ``manifest.json`` entry counts (a link or FIFO there is then refused on reading).
    """
    if path == "-" or not os.path.isdir(path):
        return False
    if os.path.lexists(os.path.join(path, MANIFEST)):
        return True
    from pdebug.sources.bugreport import dir_roots

    return bool(dir_roots(path))


def _parse_manifest(raw: bytes, label: str) -> dict[str, Any]:
    try:
        manifest = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InvalidInput(f"{label}: damaged manifest.json in the bundle") from None
    check_manifest(manifest, label)
    assert isinstance(manifest, dict)
    return manifest


def read_dir_bundle(path: str, label: str | None = None) -> Bundle:
    """Open a snapshot directory (``pdebug snapshot --dir``): its manifest, files on demand.

    Raises:
        InvalidInput: the directory has no manifest.json, or a damaged one, or one that is
            not a regular file.
        SourceUnavailable: the manifest cannot be read.
        UsageError: no manifest, and the directory holds several unpacked bug reports.
    """
    label = label or path
    with _Dir(path, label) as top:
        raw = top.read(MANIFEST)
    if raw is None:
        from pdebug.sources import bugreport

        root = bugreport.dir_root(path, label)
        if root is not None:
            found = bugreport.walk_dir(path, root, label)
            manifest = bugreport.manifest_of(found, label)
            check_manifest(manifest, label)
            return Bundle(label, manifest, {}, root=path, report=found)
        raise InvalidInput(
            f"{label}: a directory without manifest.json is not a pdebug bundle",
            hint="pass a config_dump JSON file inside it, a pdebug snapshot --dir directory, "
            "or an unpacked istioctl bug-report",
        )
    return Bundle(label, _parse_manifest(raw, label), {}, root=path)


# --------------------------------------------------------------------------- manifest shape


def _shape_error(label: str, where: str, want: str, value: Any) -> InvalidInput:
    got = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), "a number" if isinstance(value, int | float) else "null"
    )
    return InvalidInput(
        f"{label}: damaged manifest.json in the bundle: {where} is {got}, not {want}",
        hint="the manifest was altered or not written by pdebug; capture the bundle again",
    )


def _check_files(label: str, where: str, files: Any) -> None:
    if not isinstance(files, dict):
        raise _shape_error(label, where, "an object", files)
    for key, entry in files.items():
        at = f"{where}[{key!r}]"
        if _name_problem(key) is not None or "/" in key:
            raise InvalidInput(
                f"{label}: damaged manifest.json in the bundle: {where} names {key!r}",
                hint="the manifest was altered or not written by pdebug; capture the bundle again",
            )
        if not isinstance(entry, dict):
            raise _shape_error(label, at, "an object", entry)
        if "sha256" in entry and not isinstance(entry["sha256"], str):
            raise _shape_error(label, f"{at}.sha256", "a string", entry["sha256"])
        size = entry.get("bytes")
        if "bytes" in entry and (not isinstance(size, int) or isinstance(size, bool)):
            raise _shape_error(label, f"{at}.bytes", "a number of bytes", size)


_ENTRY_STRINGS = ("status", "source", "istiod_error")
_ENTRY_OPTIONAL = ("pod", "namespace", "node")


def check_manifest(manifest: Any, label: str) -> None:
    """Refuse a manifest of the wrong shape, naming the first wrong field.

    What readers use must have its type: ``proxies`` a list of objects with a unique,
    file-name-safe ``name``, their ``files`` (``{NAME: {sha256, bytes}}``), ``errors`` (a
    list of strings), ``status``...; ``istiod`` and ``skipped``. Other keys are free.

    Raises:
        InvalidInput: ``manifest.json: proxies[2] is a string, not an object``.
    """
    if not isinstance(manifest, dict):
        raise _shape_error(label, "the manifest", "an object", manifest)
    proxies = manifest.get("proxies") or []  # null: as if absent
    if not isinstance(proxies, list):
        raise _shape_error(label, "proxies", "a list", proxies)
    seen: set[str] = set()
    for index, entry in enumerate(proxies):
        where = f"proxies[{index}]"
        if not isinstance(entry, dict):
            raise _shape_error(label, where, "an object", entry)
        name = entry.get("name")
        if not isinstance(name, str):
            raise _shape_error(label, f"{where}.name", "a string", name)
        problem = _name_problem(name) or ("has '/' in it" if "/" in name else None)
        if problem is not None:
            raise InvalidInput(
                f"{label}: damaged manifest.json in the bundle: {where}.name {name!r} {problem}",
                hint="the manifest was altered or not written by pdebug; capture the bundle again",
            )
        if name in seen:
            raise InvalidInput(
                f"{label}: damaged manifest.json in the bundle: proxy {name!r} is listed twice",
                hint="the manifest was altered or not written by pdebug; capture the bundle again",
            )
        seen.add(name)
        for key in _ENTRY_STRINGS:
            if key in entry and not isinstance(entry[key], str):
                raise _shape_error(label, f"{where}.{key}", "a string", entry[key])
        for key in _ENTRY_OPTIONAL:
            if entry.get(key) is not None and not isinstance(entry[key], str):
                raise _shape_error(label, f"{where}.{key}", "a string", entry[key])
        errors = entry.get("errors") or []
        if not isinstance(errors, list):
            raise _shape_error(label, f"{where}.errors", "a list", errors)
        for i, error in enumerate(errors):
            if not isinstance(error, str):
                raise _shape_error(label, f"{where}.errors[{i}]", "a string", error)
        if entry.get("files") is not None:
            _check_files(label, f"{where}.files", entry["files"])
    istiod = manifest.get("istiod") or {}
    if not isinstance(istiod, dict):
        raise _shape_error(label, "istiod", "an object", istiod)
    if "error" in istiod and not isinstance(istiod["error"], str):
        raise _shape_error(label, "istiod.error", "a string", istiod["error"])
    if istiod.get("files") is not None:
        _check_files(label, "istiod.files", istiod["files"])
    skipped = manifest.get("skipped") or []
    if not isinstance(skipped, list):
        raise _shape_error(label, "skipped", "a list", skipped)


# --------------------------------------------------------------------------- tar archives


def _name_problem(name: str) -> str | None:
    """What is wrong with a member (or proxy) name, or None."""
    if not name:
        return "is empty"
    if name.startswith("/"):
        return "is an absolute path"
    if "\\" in name:
        return "has a backslash in it"
    parts = name.split("/")
    if ".." in parts:
        return "has '..' in it"
    if any(part in ("", ".") for part in parts):
        return "has an empty or '.' part"
    if any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in name):
        return "has a control character in it"
    if any(0xD800 <= ord(c) < 0xE000 for c in name):
        return "is not UTF-8"
    return None


_TAR_KINDS = {
    tarfile.SYMTYPE: "a symbolic link",
    tarfile.LNKTYPE: "a hard link",
    tarfile.DIRTYPE: "a directory",
    tarfile.FIFOTYPE: "a FIFO",
    tarfile.CHRTYPE: "a character device",
    tarfile.BLKTYPE: "a block device",
    tarfile.CONTTYPE: "a contiguous file",
    tarfile.GNUTYPE_SPARSE: "a sparse file",
}


class _Refused(Exception):
    """A tar header pdebug will not read (raised inside tarfile; the reader adds the label)."""


class _Info(tarfile.TarInfo):
    """TarInfo that refuses oversized extended headers and sparse files before reading them."""

    def _proc_member(self, tarfile_: tarfile.TarFile) -> tarfile.TarInfo:
        meta = (tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE)
        if self.type in (*meta, tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK):
            if self.size > _META_LIMIT:
                raise _Refused(f"has an extended header of {human(self.size)}")
        elif self.type == tarfile.GNUTYPE_SPARSE:
            raise _Refused(f"{self.name!r} is a sparse file")
        return super()._proc_member(tarfile_)  # type: ignore[misc,no-any-return]


class _NoManifest(InvalidInput):
    """A tar archive without a manifest: not a bundle."""


def _member_problem(info: tarfile.TarInfo, limit: int) -> str | None:
    problem = _name_problem(info.name)
    if problem is not None:
        return problem
    if info.type not in (tarfile.REGTYPE, tarfile.AREGTYPE) or info.sparse is not None:
        kind = _TAR_KINDS.get(info.type, f"of tar type {info.type!r}")
        return f"is {kind}, not a regular file"
    return None


def read_tar(
    reader: Any,
    label: str,
    keep: Callable[[Bundle], Iterable[str] | None] | None = None,
    manifest_only: bool = False,
) -> Bundle:
    """Read a (gunzipped) tar bundle from ``reader`` (``read(n)``), streaming its members.

    Every member is judged before it is read: only regular files with plain relative
    names (no ``..``, no absolute path, no control character), each named once, each
    within ``PDEBUG_MAX_INPUT``; anything else refuses the whole archive. ``keep`` says
    which proxies' files to hold (None: all the manifest lists), once the manifest is
    known; their files (not :data:`UNREAD_FILES`) and ``istiod_syncz.json`` are held,
    together within ``PDEBUG_MAX_INPUT``. A held member that does not match the manifest's
    sha256 or size is recorded in :attr:`Bundle.damaged`. ``manifest_only`` stops at the
    manifest.

    Raises:
        InvalidInput: a refused member, a damaged archive or manifest, no manifest.
    """
    from pdebug.sources import bugreport

    limit = limits().max_input
    members: dict[str, bytes] = {}
    report = bugreport.Found()  # an istioctl bug-report's folders, when it is one
    syncz: list[tuple[str, bytes]] = []
    folders: list[str] = []  # folder entries before any manifest (see _folder_entry)
    seen: set[str] = set()
    opened: Bundle | None = None
    wanted: set[str] | None = None
    held = 0
    try:
        with tarfile.open(fileobj=reader, mode="r|", tarinfo=_Info) as tar:
            for info in tar:
                name = info.name
                problem = _member_problem(info, limit)
                if problem is None and name in seen:
                    problem = "appears twice"
                if problem is not None and _folder_entry(info, opened, seen):
                    folders.append(name)  # tar czf of an unpacked bug report: never used
                    seen.add(name)
                    continue
                if problem is not None:
                    raise InvalidInput(
                        f"{label}: the member {name!r} {problem}: refused", hint=_REFUSED_HINT
                    )
                if info.size > limit:
                    raise too_large(label, limit, f"the member {name!r} ({human(info.size)})")
                seen.add(name)
                if name == MANIFEST:
                    if folders:  # a pdebug bundle holds no folder entry
                        raise InvalidInput(
                            f"{label}: the member {folders[0]!r} is a directory, not a regular "
                            "file: refused",
                            hint=_REFUSED_HINT,
                        )
                    if info.size > MANIFEST_LIMIT:
                        raise too_large(f"{label}:{MANIFEST}", MANIFEST_LIMIT, "the manifest")
                    opened = Bundle(label, _parse_manifest(_extract(tar, info), label), {})
                    if manifest_only:
                        return opened
                    found = keep(opened) if keep is not None else None
                    wanted = set(found if found is not None else opened.proxies)
                    continue
                where = bugreport.place(name) if opened is None else None
                if where is not None:
                    report.add(where, name, label)
                    key = bugreport.member_key(where)
                    if key in members:
                        raise InvalidInput(
                            f"{label}: two folders of the bug report are proxy "
                            f"{where.proxy!r}: refused",
                            hint=_REFUSED_HINT,
                        )
                    if manifest_only or (
                        where.what == "proxy" and where.file not in bugreport.HELD
                    ):
                        continue
                    held += info.size
                    if held > limit:
                        raise too_large(label, limit, "what the bug report holds for its proxies")
                    body = _extract(tar, info)
                    if where.what == "syncz":
                        syncz.append((name, body))
                    else:
                        members[key] = body
                    continue
                if manifest_only or not _holds(name, wanted):
                    continue
                held += info.size
                if held > limit:
                    raise too_large(label, limit, "what the bundle holds for these proxies")
                members[name] = _extract(tar, info)
    except tarfile.TarError as exc:
        raise InvalidInput(f"{label}: damaged bundle ({exc})", hint="capture it again") from None
    except _Refused as exc:
        raise InvalidInput(f"{label}: a member {exc}: refused", hint=_REFUSED_HINT) from None
    if opened is None and report:
        return _bug_report(label, report, members, syncz, keep, manifest_only)
    if opened is None:
        raise _NoManifest(
            f"{label}: a tar archive without manifest.json is not a pdebug bundle",
            hint="create bundles with pdebug dump (or pdebug snapshot)",
        )
    if wanted is not None:  # members held before a manifest that came last (before 0.1.0)
        members = {k: v for k, v in members.items() if _holds(k, wanted)}
    opened.members = members
    for name, body in members.items():
        why = _mismatch(opened.manifest, name, body)
        if why is not None:
            opened.damaged[name] = why
    return opened


def _folder_entry(info: tarfile.TarInfo, opened: Bundle | None, seen: set[str]) -> bool:
    """Whether ``info`` is a folder entry to pass over: before any manifest, a plain name.

    istioctl writes no folder entries, but ``tar czf`` of an unpacked bug report does; a
    pdebug bundle holds none, so one seen before a manifest still refuses the bundle.
    """
    return (
        opened is None
        and info.type == tarfile.DIRTYPE
        and _name_problem(info.name) is None
        and info.name not in seen
    )


def _holds(name: str, wanted: set[str] | None) -> bool:
    """Whether member ``name`` is one to hold in memory."""
    proxy, _, file = name.partition("/")
    if not file:
        return name == ISTIOD_SYNCZ
    if "/" in file:
        return False  # deeper than a bundle's POD.NS/FILE: no bundle member
    return file not in UNREAD_FILES and (wanted is None or proxy in wanted)


def _bug_report(
    label: str,
    found: Found,
    members: dict[str, bytes],
    syncz: list[tuple[str, bytes]],
    keep: Callable[[Bundle], Iterable[str] | None] | None,
    manifest_only: bool,
) -> Bundle:
    """The bundle an ``istioctl bug-report`` archive makes (see :mod:`pdebug.sources.bugreport`)."""
    from pdebug.sources import bugreport

    manifest = bugreport.manifest_of(found, label)
    check_manifest(manifest, label)
    opened = Bundle(label, manifest, {}, report=found)
    if manifest_only:
        return opened
    picked = keep(opened) if keep is not None else None
    wanted = set(picked if picked is not None else opened.proxies)
    opened.members = {k: v for k, v in members.items() if k.partition("/")[0] in wanted}
    merged = bugreport.merged_syncz(syncz)
    if merged is not None:
        opened.members[ISTIOD_SYNCZ] = merged
    return opened


def _extract(tar: tarfile.TarFile, info: tarfile.TarInfo) -> bytes:
    fh = tar.extractfile(info)
    return fh.read() if fh is not None else b""


def read_bundle(data: bytes, label: str) -> Bundle:
    """Open a (gunzipped) tar bundle held in memory."""
    return read_tar(io.BytesIO(data), label)


def open_bundle(path: str, keep: Callable[[Bundle], Iterable[str] | None] | None = None) -> Bundle:
    """The bundle at ``path``: a ``.tar.gz`` or a snapshot directory.

    ``keep`` picks the proxies whose files are held (see :func:`read_tar`; None: all).

    Raises:
        SourceUnavailable: ``path`` cannot be read.
        InvalidInput: it is not a bundle, or a damaged one.
    """
    opened = read_any(path, keep)
    if isinstance(opened, Bundle):
        return opened
    raise InvalidInput(
        f"{opened[1]}: not a pdebug bundle",
        hint="a bundle is the .tar.gz (or --dir directory) of pdebug snapshot or pdebug dump",
    )


def read_any(
    path: str, keep: Callable[[Bundle], Iterable[str] | None] | None = None
) -> Bundle | tuple[bytes | memoryview, str]:
    """The bundle at ``path`` (a ``.tar.gz`` or a snapshot directory), else its bytes and label.

    ``keep`` picks the proxies whose files a ``.tar.gz`` holds in memory (see
    :func:`read_tar`); a directory reads files when asked.

    Raises:
        SourceUnavailable: ``path`` cannot be read.
        InvalidInput: a damaged or refused bundle, a directory that is not one, input over
            the limits.
    """
    if path != "-" and os.path.isdir(path):
        return read_dir_bundle(path)
    with open_input(path) as opened:
        if opened.is_tar():
            return read_tar(opened, opened.label, keep)
        return opened.read_all(), opened.label


@dataclass(frozen=True)
class SavedProxy:
    """One proxy of a read bundle: its saved documents (or why not) and its manifest entry.

    Attributes:
        name: The proxy's name as SOURCE or the manifest gave it.
        label: ``BUNDLE:NAME``, for messages.
        kind: The manifest's ``kind`` (``ztunnel``), None for a sidecar.
        files: Its saved documents (``config_dump.json``...); empty when unreadable.
        unreadable: Why its documents cannot be read (a damaged member), else None.
        entry: Its manifest entry (``sync``, ``errors``, ``node``), as read.
    """

    name: str
    label: str
    kind: Any
    files: dict[str, bytes]
    unreadable: PdebugError | None
    entry: dict[str, Any]


@dataclass(frozen=True)
class SavedProxies:
    """A bundle's proxies, read, and what its manifest says of the capture.

    Attributes:
        label: The bundle, for messages.
        proxies: The proxies asked for, in manifest order (or the one ``B:NAME`` named).
        capture: The manifest's ``created``, ``tool``, ``source`` and the istiod
            replicas' note (:func:`pdebug.manifest.capture_facts`).
        namespaces: The namespaces of the captured (and skipped) pods, ztunnels aside.
    """

    label: str
    proxies: list[SavedProxy]
    capture: dict[str, str]
    namespaces: set[str]


def read_saved(
    path: str,
    reader: Input | None,
    member: str | None = None,
    *,
    several: bool = False,
    before_members: Callable[[Bundle], object] | None = None,
) -> SavedProxies | Bundle | None:
    """Every proxy of the bundle at ``path``, in one read, with what its manifest says.

    ``reader`` is the archive, opened (:func:`pdebug.sources.held.hold` opened it and saw
    a tar); None for a snapshot directory. Each proxy's files (``member``: that proxy's),
    or why they cannot be read, with what the manifest says of them and of the capture.

    With ``several``, only a bundle of several proxies is read so (``member`` is then
    None): a bundle of one proxy comes back as the :class:`Bundle` that holds it, read as
    :class:`~pdebug.sources.saved.FileSource` reads it, for the caller to open as one
    source without reading it again; a directory or a tar without a manifest gives None,
    read no further than the manifest. ``before_members`` then runs between the manifest
    and the first member (the refusal of ``--clusters-json``).

    Raises:
        InvalidInput: a bundle that holds no proxy, a damaged or refused bundle (a damaged
            member is not raised: its :attr:`SavedProxy.unreadable` says why).
        SourceUnavailable: the archive cannot be read, or the bundle has no such proxy.
    """
    opened = _opened(path, reader, member, several, before_members)
    if opened is None:
        return None
    if several and len(opened.proxies) == 1:
        return opened  # one proxy, read as its source reads it: the caller opens it as one
    names = [member] if member is not None else opened.proxies
    if not names:
        raise InvalidInput(f"{opened.label}: the bundle holds no proxy", hint="capture it again")
    manifest = opened.manifest
    entries = {str(p["name"]): p for p in proxy_entries(manifest)}
    proxies = []
    for name in names:
        files: dict[str, bytes] = {}
        unreadable = None
        try:  # a member that fails its sha256 or is not a file is this proxy's problem
            files = opened.proxy(name)
        except PdebugError as exc:
            unreadable = exc
        entry = entries.get(name, {})
        label = f"{opened.label}:{name}"
        proxies.append(SavedProxy(name, label, entry.get("kind"), files, unreadable, entry))
    return SavedProxies(opened.label, proxies, capture_facts(manifest), pod_namespaces(manifest))


def _opened(
    path: str,
    reader: Input | None,
    member: str | None,
    several: bool,
    before_members: Callable[[Bundle], object] | None,
) -> Bundle | None:
    """The bundle :func:`read_saved` reads (``several``: None unless it is a bundle).

    Errors up to the manifest are :func:`peek_manifest`'s when ``several`` (None), after
    it :func:`read_tar`'s. ``several`` with one proxy: that proxy's files are held as
    :class:`~pdebug.sources.saved.FileSource` holds them (its ``keep``).
    """
    if reader is None:  # a snapshot directory: the manifest; files are read when asked
        if several and not is_dir_bundle(path):
            return None
        opened = read_dir_bundle(path)
        if several and len(opened.proxies) == 1:
            return opened
        if several and before_members is not None:
            before_members(opened)
        return opened
    if not several:
        return read_tar(
            reader, reader.label, None if member is None else lambda b: [b.resolve(member)]
        )
    found = False

    def keep(bundle: Bundle) -> list[str] | None:  # asked once the manifest is read
        nonlocal found
        found = True
        if len(bundle.proxies) == 1:
            return [bundle.pick(None)]  # the one proxy, as its source would hold it
        if before_members is not None:
            before_members(bundle)
        return None

    try:
        opened = read_tar(reader, reader.label, keep)
    except (SourceUnavailable, _NoManifest):
        if found:
            raise
        return None
    return opened if found else None


@dataclass(frozen=True)
class Recorded:
    """A top-level member of a bundle, as :func:`read_recorded` read it.

    Attributes:
        label: The bundle, for messages.
        body: The member's bytes; None when the bundle has none.
        manifest: The bundle's manifest (what it says of the member's absence).
    """

    label: str
    body: bytes | None
    manifest: dict[str, Any]


def read_recorded(path: str, name: str) -> Recorded | tuple[bytes | memoryview, str]:
    """The top-level member ``name`` (``istiod_syncz.json``) of the bundle at ``path``.

    No proxy's files are read. A file that is no bundle gives its bytes and label.

    Raises:
        SourceUnavailable: ``path`` cannot be read.
        InvalidInput: a damaged or refused bundle, or the member does not match the manifest.
    """
    if path != "-" and os.path.isdir(path):
        return read_dir_bundle(path).recorded(name)
    with open_input(path) as opened:
        if opened.is_tar():
            return read_tar(opened, opened.label, lambda _: ()).recorded(name)
        return opened.read_all(), opened.label


def peek_manifest(path: str) -> dict[str, Any] | None:
    """The manifest of the bundle at ``path``, or None when it is not a bundle.

    Streams the archive up to ``manifest.json`` (the first member of bundles written by
    this version), so asking costs next to nothing; plain and gzipped JSON files are told
    apart from their first block. A snapshot directory answers with its manifest.json.
    Stdin, FIFOs and devices are never opened here (None).

    Raises:
        InvalidInput: a bundle whose members before the manifest, or the manifest itself,
            are refused or damaged.
    """
    if path == "-":
        return None
    if os.path.isdir(path):
        return read_dir_bundle(path).manifest if is_dir_bundle(path) else None
    if not os.path.isfile(path):
        return None
    try:
        with open_input(path) as opened:
            if not opened.is_tar():
                return None
            return read_tar(opened, opened.label, manifest_only=True).manifest
    except (SourceUnavailable, _NoManifest):
        return None


def by_pod_and_namespace(manifest: dict[str, Any], text: str) -> str | None:
    """The member whose ``pod`` and ``namespace`` make ``text`` (``POD.NS``), if any.

    A snapshot shortens a member name too long for a file name (a 253-character pod
    name), so the full ``POD.NS`` is found through these fields.
    """
    from pdebug.manifest import Manifest

    entries = Manifest.from_plain(manifest).proxies
    return next((e.name for e in entries if e.proxy_id == text), None)


def _listing(names: list[str], what: str = "proxies") -> str:
    more = f" ... and {len(names) - 20} more" if len(names) > 20 else ""
    return f"{what}: " + (", ".join(names[:20]) or "none") + more


def captured_names(manifest: dict[str, Any]) -> list[str]:
    """The proxies whose capture succeeded, in manifest order."""
    from pdebug.manifest import Manifest

    return Manifest.from_plain(manifest).captured


def capture_again(manifest: dict[str, Any], name: str = "POD.NS") -> str:
    """What to run to capture proxy ``name`` again, as a hint says it.

    Another snapshot; for an ``istioctl bug-report`` archive, istioctl bug-report again
    or a snapshot of that proxy (a bug report is not taken by ``pdebug snapshot``).
    """
    from pdebug.sources.bugreport import TOOL

    if manifest.get("tool") != TOOL:
        return "take another snapshot"
    return f"run istioctl bug-report again, or capture it with pdebug snapshot {name}"


def missing_document(manifest: dict[str, Any], name: str) -> str:
    """How a message names bundle document ``name`` that a proxy lacks.

    ``the bundle has no NAME``; for an ``istioctl bug-report`` archive, the file it
    would have read (``the bug report has no stats/prometheus``: the archive holds no
    ``stats.json``).
    """
    from pdebug.sources import bugreport as br

    if manifest.get("tool") != br.TOOL:
        return f"the bundle has no {name}"
    files = {br.STATS: br.PROMETHEUS, br.CLUSTERS: br.TEXT_CLUSTERS, br.DUMP: br.SIDECAR_DUMP}
    return f"the bug report has no {files.get(name, name)}"


def not_captured(manifest: dict[str, Any], name: str, label: str) -> SourceUnavailable | None:
    """The error for proxy ``name`` when its capture failed (the manifest's reason), else None.

    The message is ``LABEL:NAME: this proxy was not captured (REASON)``; the hint lists the
    proxies that were captured.
    """
    from pdebug.manifest import Manifest

    parsed = Manifest.from_plain(manifest)
    entry = parsed.proxy(name)
    if entry is None or not entry.failed:
        return None
    errors = entry.errors or ["no documents"]
    captured = parsed.captured
    again = capture_again(manifest, name)
    hint = (
        f"pick a captured proxy ({_listing(captured, 'captured')}), or {again}"
        if captured
        else f"no proxy of this bundle was captured; {again}"
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
    from pdebug.manifest import Manifest

    parsed = Manifest.from_plain(manifest)
    names = [e.name for e in parsed.proxies]
    by_name = {e.name: e for e in parsed.proxies}
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
        wanted = [n for n in names if by_name[n].pod_and_namespace[0] == rest]
    shown = f"{rest}.{namespace}" if namespace else rest
    if not wanted:
        skipped = [
            s
            for s in parsed.skipped or []
            if f"{s.pod}.{s.namespace}" == shown or (not namespace and s.pod == rest)
        ]
        if skipped:
            first = skipped[0]
            why = first.reason if first.reason is not None else "skipped"
            raise SourceUnavailable(
                f"{label}: {first.pod}.{first.namespace} was not captured: {why}",
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


def member_name(path: str, text: str | None, namespace: str | None) -> str | None:
    """``--bundle PATH TEXT``: the name of the proxy TEXT names in PATH (None without TEXT).

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
        return None
    return find_proxy(manifest, text, namespace, path)


def resolve(
    spec: FileSpec | MemberSpec, want: Literal["ztunnel"] | None = None
) -> FileSpec | MemberSpec:
    """The saved source ``spec`` names, with its proxy found in the bundle's manifest.

    ``--bundle B TEXT`` (``spec.flag``) becomes ``B:MEMBER`` (:func:`member_name`; B alone:
    B, checked to be a bundle); with ``want="ztunnel"``, a whole bundle of several proxies
    becomes its only ztunnel (``pdebug snapshot --ambient``). Anything else is returned as
    it is. This is where parsing's promise is kept: the command line was parsed without
    reading a file, and the errors are the ones parsing used to raise.

    Raises:
        SourceUnavailable: ``--bundle`` B is missing, or holds no such proxy, or that proxy
            was not captured.
        InvalidInput: ``--bundle`` B is not a bundle.
        UsageError: TEXT names a workload, or a pod in several namespaces; the bundle holds
            no ztunnel or several.
    """
    from pdebug.sources.spec import FileSpec, MemberSpec

    if spec.flag:
        text = spec.member if isinstance(spec, MemberSpec) else None
        namespace = spec.namespace if isinstance(spec, MemberSpec) else None
        name = member_name(spec.path, text, namespace)
        return FileSpec(spec.path) if name is None else MemberSpec(spec.path, name)
    if want == "ztunnel" and isinstance(spec, FileSpec):
        name = _only_ztunnel(spec.path)
        return spec if name is None else MemberSpec(spec.path, name)
    return spec


def _only_ztunnel(path: str) -> str | None:
    """The one ztunnel of a bundle of several proxies (None: not such a bundle).

    Raises:
        UsageError: the bundle holds no ztunnel, or several.
    """
    from pdebug.manifest import Manifest

    manifest = multi_manifest(path)
    if manifest is None:
        return None
    names = [e.name for e in Manifest.from_plain(manifest).proxies if e.kind == "ztunnel"]
    if len(names) == 1:
        return names[0]
    raise UsageError(
        f"{path}: the bundle holds {len(names)} ztunnels; pick one as {path}:NAME"
        if names
        else f"{path}: the bundle holds no ztunnel (take the snapshot with --ambient)",
        hint="ztunnels: " + (", ".join(names[:10]) or "none"),
    )


def multi_manifest(path: str) -> dict[str, Any] | None:
    """The manifest of the file at ``path`` when it is a bundle of several proxies, else None.

    Single-proxy bundles, dumps and stdin give None. (A ``B:NAME`` member is one proxy:
    callers pass whole files only.)
    """
    if path == "-":
        return None
    manifest = peek_manifest(path)
    if manifest is None or len(proxy_entries(manifest)) == 1:
        return None
    return manifest


def is_pair(source: str, other: str) -> bool:
    """Whether ``pdebug diff SOURCE OTHER`` (two whole files) compares bundles proxy by proxy.

    True when both are bundles and one holds several proxies.
    """
    left, right = peek_manifest(source), peek_manifest(other)
    if left is None or right is None:
        return False
    return len(proxy_entries(left)) != 1 or len(proxy_entries(right)) != 1
