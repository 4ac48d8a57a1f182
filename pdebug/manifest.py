"""The bundle manifest (``manifest.json``, format ``pdebug-bundle/1``), typed.

One model for both sides: ``pdebug snapshot`` and ``pdebug dump`` build a
:class:`Manifest` and write :meth:`Manifest.plain`; the bundle reader turns the JSON it
read back into one with :meth:`Manifest.from_plain`. This module imports nothing of
pdebug's but :mod:`pdebug.__init__`, so writers and readers both import it without cycles.

The JSON keeps the key order earlier versions wrote; later additions (``pod``,
``namespace``, ``node``, ``status``, ``sync``, ``skipped``, ``istiod``...) are optional keys.
Reading is lenient: the reader has already refused a manifest whose fields that matter
have the wrong type (:func:`pdebug.bundle.check_manifest`); here a missing or odd field
reads as empty and unknown keys are ignored, never an exception.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from typing import Any

FORMAT = "pdebug-bundle/1"

Json = dict[str, Any]


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _dict(value: Any) -> Json:
    return value if isinstance(value, dict) else {}


@dataclass(frozen=True)
class FileEntry:
    """A member's sha256 (hex) and size in bytes, as listed in ``files`` (``bytes``)."""

    sha256: str | None
    size: int | None

    @classmethod
    def of(cls, body: bytes) -> FileEntry:
        """The entry of ``body``."""
        return cls(hashlib.sha256(body).hexdigest(), len(body))

    @classmethod
    def of_file(cls, path: str) -> FileEntry:
        """The entry of the file at ``path`` (read in blocks, never whole)."""
        digest = hashlib.sha256()
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
            return cls(digest.hexdigest(), fh.tell())

    @classmethod
    def from_plain(cls, value: Any) -> FileEntry:
        """The entry of a ``files`` value (fields of the wrong type read as None)."""
        entry = _dict(value)
        size = entry.get("bytes")
        ok = isinstance(size, int) and not isinstance(size, bool)
        return cls(_str(entry.get("sha256")), size if ok else None)

    def plain(self) -> Json:
        """``{"sha256": ..., "bytes": SIZE}`` (a field that is None is left out)."""
        out: Json = {}
        if self.sha256 is not None:
            out["sha256"] = self.sha256
        if self.size is not None:
            out["bytes"] = self.size
        return out


def _files(value: Any) -> dict[str, FileEntry]:
    return {str(k): FileEntry.from_plain(v) for k, v in _dict(value).items()}


@dataclass
class ProxyEntry:
    """One captured (or failed) proxy: a member directory ``name`` and its files.

    ``pod``/``namespace``/``node``/``status`` are written by snapshots (and written
    together: ``pod`` set means a snapshot entry); ``dump`` writes ``name``, ``source``,
    ``files``, ``errors`` and ``stats``. ``kind`` is ``sidecar`` (not written) or
    ``ztunnel``. ``stats`` (when ``stats.txt`` is saved, #17): ``usedonly`` (only the stats
    written since the proxy started; one not saved is zero) or ``all``; absent in older
    bundles, which hold every stat.
    """

    name: str
    source: str = ""
    pod: str | None = None
    namespace: str | None = None
    node: str | None = None
    status: str | None = None
    files: dict[str, FileEntry] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    sync: Any = None  # {TYPE: STATE} as written; old bundles may hold a string
    istiod_error: str | None = None
    kind: str = "sidecar"
    stats: str | None = None

    @property
    def failed(self) -> bool:
        """Whether the capture failed (no config dump saved)."""
        return self.status == "failed" or (not self.files and bool(self.errors))

    @property
    def pod_and_namespace(self) -> tuple[str, str | None]:
        """(pod, namespace): the entry's fields, else split from its ``POD.NS`` name."""
        if self.pod is not None and self.namespace is not None:
            return self.pod, self.namespace
        base, dot, rest = self.name.rpartition(".")
        return (base, rest) if dot else (self.name, None)

    @property
    def proxy_id(self) -> str | None:
        """``POD.NS`` from the ``pod`` and ``namespace`` fields (None without them)."""
        if self.pod is None or self.namespace is None:
            return None
        return f"{self.pod}.{self.namespace}"

    @classmethod
    def from_plain(cls, value: Any) -> ProxyEntry | None:
        """The entry of a ``proxies`` item; None unless it is an object with a string name."""
        entry = _dict(value)
        name = entry.get("name")
        if not isinstance(name, str):
            return None
        errors = entry.get("errors")
        return cls(
            name=name,
            source=_str(entry.get("source")) or "",
            pod=_str(entry.get("pod")),
            namespace=_str(entry.get("namespace")),
            node=_str(entry.get("node")),
            status=_str(entry.get("status")),
            files=_files(entry.get("files")),
            errors=[e for e in errors if isinstance(e, str)] if isinstance(errors, list) else [],
            sync=entry.get("sync"),
            istiod_error=_str(entry.get("istiod_error")),
            kind=_str(entry.get("kind")) or "sidecar",
            stats=_str(entry.get("stats")),
        )

    def plain(self) -> Json:
        """The ``proxies`` item, keys in the order pdebug has always written them."""
        out: Json = {"name": self.name, "source": self.source}
        if self.pod is not None:
            out |= {"pod": self.pod, "namespace": self.namespace, "node": self.node}
        if self.status is not None:
            out["status"] = self.status
        out["files"] = {k: v.plain() for k, v in self.files.items()}
        out["errors"] = list(self.errors)
        if self.sync is not None:
            out["sync"] = self.sync
        if self.istiod_error is not None:
            out["istiod_error"] = self.istiod_error
        if self.kind != "sidecar":
            out["kind"] = self.kind
        if self.stats is not None:
            out["stats"] = self.stats
        return out


@dataclass(frozen=True)
class SkippedEntry:
    """A pod a snapshot did not capture, and why (no sidecar, a finished pod)."""

    pod: str | None
    namespace: str | None
    node: str | None = None
    reason: str | None = None

    @classmethod
    def from_plain(cls, value: Any) -> SkippedEntry | None:
        """The entry of a ``skipped`` item; None unless it is an object."""
        if not isinstance(value, dict):
            return None
        ns, node, reason = value.get("namespace"), value.get("node"), value.get("reason")
        return cls(_str(value.get("pod")), _str(ns), _str(node), _str(reason))

    def plain(self) -> Json:
        """The ``skipped`` item."""
        return {
            "pod": self.pod,
            "namespace": self.namespace,
            "node": self.node,
            "reason": self.reason,
        }


@dataclass
class IstiodEntry:
    """What a snapshot got from istiod: its files, the replicas asked, or why none.

    Attributes:
        namespace: Where istiod was looked for (None when it was not asked).
        error: Why istiod gave nothing (then the other fields are not written).
        files: ``istiod_syncz.json``'s entry, when saved.
        replicas: Every replica asked.
        failed_replicas: Replica -> why it gave no sync status.
    """

    namespace: str | None = None
    error: str | None = None
    files: dict[str, FileEntry] = field(default_factory=dict)
    replicas: list[str] = field(default_factory=list)
    failed_replicas: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_plain(cls, value: Any) -> IstiodEntry:
        """The ``istiod`` entry (empty when absent or not an object)."""
        entry = _dict(value)
        replicas = entry.get("replicas")
        failed = _dict(entry.get("failed_replicas"))
        return cls(
            namespace=_str(entry.get("namespace")),
            error=_str(entry.get("error")),
            files=_files(entry.get("files")),
            replicas=[str(r) for r in replicas] if isinstance(replicas, list) else [],
            failed_replicas={str(k): str(v) for k, v in failed.items()},
        )

    def plain(self) -> Json:
        """The ``istiod`` entry."""
        out: Json = {} if self.namespace is None else {"namespace": self.namespace}
        if self.error is not None:
            out["error"] = self.error
            return out
        out["files"] = {k: v.plain() for k, v in self.files.items()}
        if self.replicas:
            out["replicas"] = list(self.replicas)
        if self.failed_replicas:
            out["failed_replicas"] = dict(self.failed_replicas)
        return out


def proxy_entries(manifest: Json) -> list[Json]:
    """The manifest's proxy entries (those that are mappings with a name), as read.

    Readers count and pick proxies with it before (or without) typing the manifest.
    """
    return [
        p
        for p in manifest.get("proxies") or []
        if isinstance(p, dict) and isinstance(p.get("name"), str)
    ]


def stats_saved(manifest: Json, proxy: str) -> str | None:
    """The ``stats`` of proxy ``proxy``'s entry: ``usedonly``, ``all``, or None (not said).

    ``usedonly``: its ``stats.txt`` holds only the stats written since the proxy started
    (``pdebug dump``/``snapshot`` without ``--all-stats``, #17); a stat not in it is zero.
    """
    for entry in proxy_entries(manifest):
        if entry["name"] == proxy:
            return _str(entry.get("stats"))
    return None


def capture_facts(manifest: Json) -> dict[str, str]:
    """What a bundle's manifest says of its capture, as the reports show it.

    ``created``, ``tool`` and ``source`` (those that are strings), and ``istiod``: the
    line about the istiod replicas that did not answer (:func:`failed_replicas_note`),
    when some did not.
    """
    facts = {
        k: manifest[k] for k in ("created", "tool", "source") if isinstance(manifest.get(k), str)
    }
    note = failed_replicas_note(manifest.get("istiod"))
    if note:  # istiod replicas that did not answer the snapshot: their proxies lack a view
        facts["istiod"] = note
    return facts


def pod_namespaces(manifest: Json) -> set[str]:
    """The namespaces of the pods a snapshot captured and skipped, ztunnels aside."""
    return {
        e["namespace"]
        for e in [*proxy_entries(manifest), *(manifest.get("skipped") or [])]
        if isinstance(e, dict)
        and e.get("kind") != "ztunnel"
        and isinstance(e.get("namespace"), str)
    }


def failed_replicas_note(entry: IstiodEntry | Any) -> str | None:
    """The line about the istiod replicas that did not answer, from the manifest's ``istiod``.

    ``istiod: 1 of 3 replicas did not answer (istiod-b: REASON); proxies connected to it
    have no istiod view``; None when every replica answered (or nothing was recorded).
    ``entry`` is the typed entry, or the manifest's JSON value.
    """
    if not isinstance(entry, IstiodEntry):
        if not isinstance(entry, dict):
            return None
        entry = IstiodEntry.from_plain(entry)
    failed = entry.failed_replicas
    if not failed:
        return None
    asked = entry.replicas
    total = len(asked) if len(asked) >= len(failed) else None
    reasons = "; ".join(f"{name}: {_reason(name, text)}" for name, text in failed.items())
    n = len(failed)
    verb = "replica did" if (total or n) == 1 else "replicas did"
    counted = f"{n} of {total} {verb}" if total is not None else f"{n} {verb}"
    them = "it" if n == 1 else "them"
    return (
        f"istiod: {counted} not answer ({reasons}); proxies connected to {them} have no istiod view"
    )


def _reason(name: str, why: str) -> str:
    """``why`` without its leading ``pod/NAME.NS: `` (or ``NAME: ``)."""
    if why.startswith(f"pod/{name}.") and ": " in why:
        return why.partition(": ")[2]
    return why.removeprefix(f"{name}: ")


@dataclass
class Manifest:
    """A bundle's manifest.

    ``kind`` is ``snapshot`` for ``pdebug snapshot`` (which also writes ``context``,
    ``targets``, ``redacted``, ``options``, ``summary``, ``istiod`` and ``skipped``),
    None for ``pdebug dump``.
    """

    format: str = FORMAT
    tool: str = ""
    created: str = ""
    kind: str | None = None
    source: str = ""
    context: str | None = None
    targets: Json = field(default_factory=dict)
    redacted: bool = True
    options: Json = field(default_factory=dict)
    summary: dict[str, int] | None = None
    istiod: IstiodEntry | None = None
    proxies: list[ProxyEntry] = field(default_factory=list)
    skipped: list[SkippedEntry] | None = None

    @classmethod
    def new(cls, **fields: Any) -> Manifest:
        """A manifest stamped now: this pdebug as ``tool``, the UTC time as ``created``."""
        from pdebug import __version__

        created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        return cls(tool=f"pdebug {__version__}", created=created, **fields)

    def proxy(self, name: str) -> ProxyEntry | None:
        """The entry of member ``name``, if listed."""
        return next((p for p in self.proxies if p.name == name), None)

    @property
    def captured(self) -> list[str]:
        """The members whose capture succeeded, in manifest order."""
        return [p.name for p in self.proxies if not p.failed]

    @classmethod
    def from_plain(cls, value: Any) -> Manifest:
        """The manifest of a parsed ``manifest.json`` (lenient; see the module docstring)."""
        top = _dict(value)
        proxies = top.get("proxies")
        entries = [ProxyEntry.from_plain(p) for p in proxies] if isinstance(proxies, list) else []
        skipped = top.get("skipped")
        summary = top.get("summary")
        redacted = top.get("redacted")
        return cls(
            format=_str(top.get("format")) or "",
            tool=_str(top.get("tool")) or "",
            created=_str(top.get("created")) or "",
            kind=_str(top.get("kind")),
            source=_str(top.get("source")) or "",
            context=_str(top.get("context")),
            targets=_dict(top.get("targets")),
            redacted=redacted if isinstance(redacted, bool) else True,
            options=_dict(top.get("options")),
            summary=(
                {str(k): v for k, v in summary.items() if isinstance(v, int)}
                if isinstance(summary, dict)
                else None
            ),
            istiod=IstiodEntry.from_plain(top["istiod"]) if "istiod" in top else None,
            proxies=[e for e in entries if e is not None],
            skipped=(
                [s for s in map(SkippedEntry.from_plain, skipped) if s is not None]
                if isinstance(skipped, list)
                else None
            ),
        )

    def plain(self) -> Json:
        """The JSON object to write, keys in the order pdebug has always written them."""
        out: Json = {"format": self.format, "tool": self.tool, "created": self.created}
        if self.kind is not None:
            out["kind"] = self.kind
        out["source"] = self.source
        if self.kind is not None:
            out["context"] = self.context
            out["targets"] = self.targets
            out["redacted"] = self.redacted
            out["options"] = self.options
        if self.summary is not None:
            out["summary"] = self.summary
        if self.istiod is not None:
            out["istiod"] = self.istiod.plain()
        out["proxies"] = [p.plain() for p in self.proxies]
        if self.skipped is not None:
            out["skipped"] = [s.plain() for s in self.skipped]
        return out
