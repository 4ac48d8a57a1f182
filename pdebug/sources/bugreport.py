"""An ``istioctl bug-report`` archive (or its unpacked directory) read as a bundle.

The layout, as istioctl 1.8 to 1.29 write it (``tools/bug-report/pkg/archive`` and
``common``; unchanged over those versions but for the ztunnel files of 1.18 on):
the archive holds one folder (``bug-report/``, or the ``--dir`` folder's name) with

- ``proxies/NS/POD/``: each sidecar's Envoy admin answers, one file per URL, named as the
  URL: ``config_dump?include_eds``, ``clusters`` (Envoy's text ``/clusters``),
  ``certs``, ``listeners``, ``memory``, ``server_info``, ``stats/prometheus``,
  ``runtime``; ``istio-proxy.log``; ``cores/N.core``. A ztunnel's folder holds
  ``config_dump`` (no ``?include_eds``). When any URL of a proxy failed, istioctl writes
  none of them (only the log), and it writes no empty answer.
- ``istio/NS/POD/``: each istiod replica's ``debug/syncz``, ``debug/configz``...,
  ``discovery.log``.
- ``cluster/``, ``analyze/``, ``operator/``, ``cni/``, ``versions``, ``bug-report.log``.

Members are named by Go's ``filepath.Walk`` (regular files only, no folder entries).
Nothing else is assumed: the archive is read with the bundle reader's guards
(:mod:`pdebug.sources.bundle`: names, member kinds, sizes, links), and only a proxy's
``config_dump*`` and ``clusters`` and istiod's ``debug/syncz`` are held. The manifest a
pdebug bundle carries is made here from the folders found (:func:`manifest_of`); each
proxy is ``POD.NS``, as in a snapshot. The text ``/clusters`` becomes the JSON form's
document with the converter ``pdebug dump`` uses (:func:`proxy_files`).
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from typing import Any

import orjson

FORMAT = "istioctl-bug-report"
#: Where a proxy's files are: ``[ROOT/]proxies/NS/POD/FILE``; istiod's ``[ROOT/]istio/...``.
PROXIES = "proxies"
ISTIO = "istio"
SIDECAR_DUMP = "config_dump?include_eds"
ZTUNNEL_DUMP = "config_dump"
TEXT_CLUSTERS = "clusters"
PROMETHEUS = "stats/prometheus"
SYNCZ = ("debug", "syncz")
#: The files of a proxy folder pdebug reads (the rest are for people: logs, certs...).
HELD = (SIDECAR_DUMP, ZTUNNEL_DUMP, TEXT_CLUSTERS, PROMETHEUS)
NO_ISTIOD_VIEW = "istioctl bug-report saves no istiod view of each proxy"
#: The manifest's ``tool`` of a bug report read as a bundle.
TOOL = "istioctl bug-report"
#: A bundle proxy's files (pdebug.sources.bundle's DUMP and CLUSTERS; that module imports this).
DUMP = "config_dump.json"
CLUSTERS = "clusters.json"
STATS = "stats.json"  # its readers tell /stats's forms apart (pdebug.model.stats.parse)


@dataclass(frozen=True)
class Place:
    """Where a member of the archive belongs.

    Attributes:
        what: ``proxy`` (a proxy folder's file) or ``syncz`` (an istiod replica's).
        namespace: The folder's namespace.
        pod: The folder's pod.
        file: The file's path in the proxy folder (``config_dump?include_eds``,
            ``stats/prometheus``); ``debug/syncz`` for istiod.
        folder: The proxy folder's path in the archive.
    """

    what: str
    namespace: str
    pod: str
    file: str
    folder: str

    @property
    def root(self) -> str:
        """The archive's folder the member is under (``bug-report``); ``""`` for none."""
        return self.folder.split("/")[0] if self.folder.count("/") == 3 else ""

    @property
    def proxy(self) -> str:
        """The proxy's name in the bundle: ``POD.NS``."""
        return f"{self.pod}.{self.namespace}"


def place(name: str) -> Place | None:
    """Where member ``name`` belongs in a bug-report layout; None: not one of its files.

    ``name`` is a member name the bundle reader has judged (relative, no ``..``).
    """
    parts = name.split("/")
    for start in (0, 1):  # no root folder (re-archived from inside), or one
        if len(parts) < start + 4:
            break
        top, namespace, pod = parts[start : start + 3]
        rest = parts[start + 3 :]
        folder = "/".join(parts[: start + 3])
        if top == PROXIES:
            return Place("proxy", namespace, pod, "/".join(rest), folder)
        if top == ISTIO and tuple(rest) == SYNCZ:
            return Place("syncz", namespace, pod, "/".join(rest), folder)
    return None


@dataclass
class Found:
    """What a walk through the archive's names found: proxy folders and istiod files.

    Attributes:
        folders: ``POD.NS`` -> the first place seen of it (namespace, pod, folder).
        files: ``POD.NS`` -> the names of its files seen (all of them, held or not).
        syncz: Each istiod replica's ``debug/syncz`` path, in the order seen.
        roots: The root folders of the members placed (``""``: none), in the order seen.
    """

    folders: dict[str, Place] = field(default_factory=dict)
    files: dict[str, list[str]] = field(default_factory=dict)
    syncz: list[str] = field(default_factory=list)
    #: The root folders the members were under (``""``: none), in the order seen.
    roots: list[str] = field(default_factory=list)

    def add(self, where: Place, name: str, label: str) -> None:
        """Record member ``name``, placed at ``where``.

        Raises:
            InvalidInput: ``where`` is under another root folder than the members before
                it: the archive holds two bug reports (istioctl writes one folder).
        """
        root = where.root
        if root not in self.roots:
            self.roots.append(root)
            if len(self.roots) > 1:
                from pdebug.errors import InvalidInput

                shown = ", ".join(f"{_shown(r)}/" if r else "no folder" for r in self.roots)
                raise InvalidInput(
                    f"{label}: the archive holds two bug reports ({shown}): refused",
                    hint="istioctl bug-report writes one folder; unpack the archive and "
                    "pass each report's folder",
                )
        if where.what == "syncz":
            self.syncz.append(name)
            return
        self.folders.setdefault(where.proxy, where)
        self.files.setdefault(where.proxy, []).append(where.file)

    def __bool__(self) -> bool:
        return bool(self.folders or self.syncz)


def member_key(where: Place) -> str:
    """The key a held proxy file is kept under among a bundle's members."""
    return f"{where.proxy}/{where.file}"


def manifest_of(found: Found, label: str) -> dict[str, Any]:
    """The manifest a pdebug bundle would carry for what ``found`` holds.

    A proxy whose folder holds no config dump is ``failed``, with the files it does hold
    named; a ztunnel (``config_dump`` alone) is ``kind: ztunnel``. Every proxy says that
    the archive holds no istiod view of it.
    """
    proxies = []
    for name in sorted(found.folders):
        where = found.folders[name]
        files = found.files.get(name, [])
        entry: dict[str, Any] = {
            "name": name,
            "source": f"{label} (istioctl bug-report)",
            "pod": where.pod,
            "namespace": where.namespace,
            "node": None,
            "files": {},
            "errors": [],
            "istiod_error": NO_ISTIOD_VIEW,
        }
        if SIDECAR_DUMP in files or (ZTUNNEL_DUMP in files and _envoy(files)):
            entry["files"][DUMP] = {}  # istioctl before 1.8 asked Envoy for config_dump
        elif ZTUNNEL_DUMP in files:
            entry["files"][DUMP] = {}
            entry["kind"] = "ztunnel"
        else:
            shown = ", ".join(sorted(files)[:6]) or "nothing"
            entry["status"] = "failed"
            entry["errors"] = [
                f"the bug report holds no config_dump of this proxy (its folder holds {shown}; "
                "istioctl saves none of a proxy's admin answers when one of them failed)"
            ]
        if TEXT_CLUSTERS in files and "kind" not in entry:
            entry["files"][CLUSTERS] = {}
        proxies.append(entry)
    istiod: dict[str, Any] = {"replicas": len(found.syncz)}
    if not found.syncz:
        istiod["error"] = "the bug report holds no istiod debug/syncz"
    return {
        "format": FORMAT,
        "tool": TOOL,
        "source": label,
        "proxies": proxies,
        "istiod": istiod,
    }


def _envoy(files: list[str]) -> bool:
    """Whether a folder holds an Envoy's answers (a ztunnel's holds config_dump alone)."""
    return any(name in files for name in (TEXT_CLUSTERS, "server_info", "listeners", PROMETHEUS))


def proxy_files(raw: dict[str, bytes], label: str) -> dict[str, bytes]:
    """A proxy folder's held files as a bundle proxy's (``config_dump.json``...).

    ``clusters.json`` is the text ``/clusters`` converted; ``stats.json`` holds
    ``/stats/prometheus`` as Envoy wrote it (every reader of a bundle's stats reads any of
    Envoy's forms).

    Raises:
        InvalidInput: the text ``/clusters`` holds a line the converter cannot place.
    """
    out: dict[str, bytes] = {}
    dump = raw.get(SIDECAR_DUMP, raw.get(ZTUNNEL_DUMP))
    if dump is not None:
        out[DUMP] = dump
    if PROMETHEUS in raw and dump is not None:
        out[STATS] = raw[PROMETHEUS]
    if TEXT_CLUSTERS in raw and dump is not None:
        from pdebug.model.textforms import clusters_document

        out[CLUSTERS] = clusters_document(raw[TEXT_CLUSTERS], f"{label}/{TEXT_CLUSTERS}")
    return out


def merged_syncz(bodies: list[tuple[str, bytes]]) -> bytes | None:
    """Every istiod replica's ``debug/syncz`` (``(path, body)``) as one sync status document.

    Each answer is a JSON list; together they are the ``{REPLICA: [...]}`` map that names
    each replica (its pod), as istioctl's multi-replica status is keyed. An answer that is
    not a JSON list is handed on alone when it is the only one (its reader then says what
    it is), else left out (the others are still read).

    Two replicas of one pod name in two namespaces (two control planes in one report) are
    both kept, each named ``POD.NAMESPACE`` so the ISTIOD column tells them apart.
    """
    read: list[tuple[str, str, Any]] = []  # (pod, namespace, answer)
    for path, body in bodies:
        try:
            value = orjson.loads(body)
        except orjson.JSONDecodeError:
            continue
        if isinstance(value, list):
            namespace, pod = path.split("/")[-4:-2]
            read.append((pod, namespace, value))
    namespaces: dict[str, set[str]] = {}
    for pod, namespace, _ in read:
        namespaces.setdefault(pod, set()).add(namespace)
    shared = {pod for pod, seen in namespaces.items() if len(seen) > 1}
    replicas: dict[str, Any] = {}
    for pod, namespace, value in read:
        replicas.setdefault(f"{pod}.{namespace}" if pod in shared else pod, value)
    if not replicas:
        return bodies[0][1] if len(bodies) == 1 else None
    return orjson.dumps(replicas)


# --------------------------------------------------------------------------- directories


def dir_root(path: str, label: str | None = None) -> str | None:
    """The folder of an unpacked bug report at or just under ``path`` (relative), or None.

    ``path`` itself (holding ``proxies/`` or ``istio/``), or its one child holding them
    (``bug-report/``). Folders are ``lstat``-ed: a link is not followed.

    Raises:
        UsageError: several children of ``path`` are bug reports (two clusters' reports
            unpacked side by side): which one is meant is not guessed.
    """
    roots = dir_roots(path)
    if len(roots) > 1:
        from pdebug.errors import UsageError

        raise UsageError(
            f"{label or path}: the folder holds {len(roots)} unpacked bug reports "
            f"({', '.join(_shown(r) for r in roots[:5])}{' ...' if len(roots) > 5 else ''}): "
            "pass one of them",
            hint=f"e.g. {_shown(os.path.join(path, roots[0]))}",
        )
    return roots[0] if roots else None


def dir_roots(path: str) -> list[str]:
    """Every folder of an unpacked bug report at or just under ``path`` (see :func:`dir_root`).

    ``[""]`` when ``path`` itself is one; else its children that are, in name order.
    """
    if _is_dir(os.path.join(path, PROXIES)) or _is_dir(os.path.join(path, ISTIO)):
        return [""]
    try:
        children = sorted(os.listdir(path))
    except OSError:
        return []
    return [
        child
        for child in children
        if _is_dir(inner := os.path.join(path, child))
        and (_is_dir(os.path.join(inner, PROXIES)) or _is_dir(os.path.join(inner, ISTIO)))
    ]


def _shown(name: str) -> str:
    """A name for a message: as is when printable, else escaped as Python does."""
    return name if name.isprintable() else repr(name)


def _is_dir(path: str) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def walk_dir(path: str, root: str, label: str) -> Found:
    """The proxy folders and istiod ``debug/syncz`` files of an unpacked bug report.

    Only folders are walked (never through a link); no file is read.
    """
    found = Found()
    base = os.path.join(path, root) if root else path
    prefix = f"{root}/" if root else ""
    for top in (PROXIES, ISTIO):
        for namespace in _subdirs(os.path.join(base, top)):
            for pod in _subdirs(os.path.join(base, top, namespace)):
                folder = os.path.join(base, top, namespace, pod)
                names = _entries(folder)
                rel = f"{prefix}{top}/{namespace}/{pod}"
                if top == ISTIO:
                    if "syncz" in _entries(os.path.join(folder, SYNCZ[0])):
                        found.syncz.append(f"{rel}/{'/'.join(SYNCZ)}")
                    continue
                where = Place("proxy", namespace, pod, "", rel)
                found.folders.setdefault(where.proxy, where)
                found.files.setdefault(where.proxy, []).extend(names)
    return found


def _subdirs(path: str) -> list[str]:
    return [n for n in _entries(path) if _is_dir(os.path.join(path, n))]


def _entries(path: str) -> list[str]:
    if not _is_dir(path):
        return []
    try:
        return sorted(os.listdir(path))
    except OSError:
        return []
