"""``istioctl bug-report`` archives, laid out as istioctl 1.8 to 1.29 write them.

The facts (istio/istio ``tools/bug-report/pkg``): the archive is a gzipped tar of one
folder (``bug-report/``, or the ``--dir`` folder's name); each sidecar's Envoy admin
answers are files named as the admin URL under ``proxies/NS/POD/``
(``config_dump?include_eds``, ``clusters`` as Envoy's text, ``certs``, ``listeners``,
``memory``, ``server_info``, ``stats/prometheus``, ``runtime``) with ``istio-proxy.log``;
a ztunnel's folder has ``config_dump``; each istiod replica's ``pilot-discovery request
GET debug/...`` answers are under ``istio/NS/POD/debug/`` with ``discovery.log``; then
``cluster/``, ``analyze/``, ``versions``, ``bug-report.log``. Go's ``filepath.Walk`` adds
regular files only (no folder entries), and an empty answer is not written.
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

#: The Envoy admin paths istioctl asks each sidecar for, and the file each is saved as.
PROXY_URLS = {
    "/config_dump?include_eds": "config_dump?include_eds",
    "/clusters": "clusters",
    "/certs": "certs",
    "/listeners": "listeners",
    "/memory": "memory",
    "/server_info": "server_info",
    "/stats/prometheus": "stats/prometheus",
    "/runtime": "runtime",
}
#: What the rest of an archive holds (never read by pdebug; here so the reader passes them).
OTHER_FILES = {
    "versions": b"client version: 1.28.0\ncontrol plane version: 1.28.0\n",
    "bug-report.log": b"2026-12-07T08:00:00Z info Running with the following config\n",
    "cluster/cluster-context": b"kind-kind\nhttps://127.0.0.1:6443\n",
    "cluster/k8s-resources": b"apiVersion: v1\nitems: []\nkind: List\n",
    "analyze/allNamespaces": b"No validation issues found when analyzing all namespaces.\n",
}

Folder = dict[str, bytes]


def members(
    proxies: dict[tuple[str, str], Folder],
    istiod: dict[tuple[str, str], Folder] | None = None,
    root: str = "bug-report",
) -> list[tuple[str, bytes]]:
    """The archive's members, ``(name, body)``: ``{(NS, POD): {FILE: BODY}}`` per proxy/replica."""
    prefix = f"{root}/" if root else ""
    out = [(prefix + name, body) for name, body in OTHER_FILES.items()]
    for (namespace, pod), files in proxies.items():
        for file, body in files.items():
            if body.strip():  # istioctl writes no empty answer
                out.append((f"{prefix}proxies/{namespace}/{pod}/{file}", body))
    for (namespace, pod), files in (istiod or {}).items():
        for file, body in files.items():
            out.append((f"{prefix}istio/{namespace}/{pod}/{file}", body))
    return out


def write(path: Path, items: list[tuple[str, bytes]], folders: bool = False) -> Path:
    """A gzipped tar of ``items`` at ``path``; ``folders`` adds folder entries (``tar czf``)."""
    with tarfile.open(path, "w:gz") as tar:
        made: set[str] = set()
        for name, body in items:
            if folders:
                parts = name.split("/")[:-1]
                for i in range(1, len(parts) + 1):
                    folder = "/".join(parts[:i])
                    if folder not in made:
                        made.add(folder)
                        info = tarfile.TarInfo(folder)
                        info.type = tarfile.DIRTYPE
                        info.mode = 0o755
                        tar.addfile(info)
            info = tarfile.TarInfo(name)
            info.size = len(body)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(body))
    return path


def unpack(items: list[tuple[str, bytes]], into: Path) -> Path:
    """The archive's files written under ``into`` (as ``tar xzf`` would); ``into`` returned."""
    for name, body in items:
        target = into / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(body)
    return into
