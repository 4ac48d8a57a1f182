"""Capture ONE proxy: its admin documents streamed into a stage, redacted, checked.

:func:`capture_proxy` is the one capture path: ``pdebug snapshot`` runs it per pod (in
worker threads, through a shared cluster session) and ``pdebug dump`` runs it once
(:func:`capture_one`). Every document is streamed from the proxy into a file of the
:class:`~pdebug.snapshot.stage.Stage` (so a 240 MB ``config_dump?include_eds`` is never held
whole in memory while it is read), redacted there (private keys always; tokens and secret
values unless ``--no-redact``), and the config dump is checked to be one. Per document, a
failure is either recorded (a snapshot goes on with the other documents and proxies) or,
``strict``, raised (``pdebug dump`` fails as a whole).
"""

from __future__ import annotations

import contextlib
import mmap
import os
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, BinaryIO

from pdebug import bundle
from pdebug.errors import InvalidInput, SourceUnavailable, UsageError
from pdebug.manifest import FileEntry, Manifest, ProxyEntry
from pdebug.redact import may_hold_private_key, redact_bytes, redact_text
from pdebug.snapshot.stage import Cancelled, Stage, refuse_existing, umask

if TYPE_CHECKING:
    from pdebug.sources import LiveOptions
    from pdebug.sources.spec import SourceSpec

#: What is saved per proxy: bundle member -> admin path (``pdebug dump`` leaves out /certs).
PATHS = {
    bundle.DUMP: "/config_dump?include_eds",
    bundle.CLUSTERS: "/clusters?format=json",
    bundle.SERVER_INFO: "/server_info",
    bundle.CERTS: "/certs",
    bundle.STATS: "/stats?format=json",
}
#: What ``pdebug dump`` saves (``/stats`` may be missing: PD603 is the only reader).
DUMP_PATHS = {name: path for name, path in PATHS.items() if name != bundle.CERTS}
#: A ztunnel's one document.
ZTUNNEL_PATHS = {bundle.DUMP: "/config_dump"}


@dataclass
class Captured:
    """What one capture staged: each document's manifest entry, and what failed."""

    files: dict[str, FileEntry] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    @property
    def has_dump(self) -> bool:
        """Whether the config dump was saved."""
        return bundle.DUMP in self.files


def capture_proxy(
    source: Any,
    stage: Stage,
    member: str,
    paths: Mapping[str, str],
    *,
    redact: bool = True,
    label: str | None = None,
    strict: bool = False,
    optional: frozenset[str] = frozenset(),
    ztunnel: bool = False,
    cancel: threading.Event | None = None,
) -> Captured:
    """GET each of ``paths`` from ``source`` into ``stage`` under ``member/``.

    Args:
        source: What answers GETs: ``get(path)``, and ``get_to(path, file)`` when it can
            stream (a :class:`~pdebug.sources.kube.PodForward`, an admin or kube source).
        stage: Where the documents are written.
        member: The proxy's directory in the stage.
        paths: Bundle file -> admin path.
        redact: Redact tokens and secret values too (private keys always go).
        label: Names the proxy in errors (default: the source's label, once it answered).
        strict: Raise the first failure instead of recording it.
        optional: Files whose HTTP error is ignored (neither raised nor recorded).
        ztunnel: The config dump is a ztunnel's, not an Envoy's.
        cancel: Set when the capture is interrupted: stop before the next document.

    Raises:
        Cancelled: ``cancel`` was set, or the stage discarded.
        SourceUnavailable, AdminHTTPError: with ``strict``, the proxy cannot be read.
        InvalidInput: with ``strict``, the answer is not a config dump.
    """
    from pdebug.sources.admin import AdminHTTPError

    out = Captured()
    staged: list[str] = []
    try:
        for name, path in paths.items():
            if cancel is not None and cancel.is_set():
                raise Cancelled
            target = f"{member}/{name}"
            try:
                with stage.open(target) as fh:
                    _stream(source, path, fh)
                    _redact_in_place(fh, tokens=redact)
            except AdminHTTPError as exc:
                stage.remove(target)
                if strict and name not in optional:
                    raise
                if name not in optional:
                    out.errors.append(exc.message)
                continue
            except SourceUnavailable as exc:
                stage.remove(target)
                if strict:
                    raise
                out.errors.append(exc.message)
                break  # unreachable or hanging: the other documents would fail the same way
            staged.append(name)
        shown = label if label is not None else redact_text(source.label)
        if bundle.DUMP in staged:
            dump = f"{member}/{bundle.DUMP}"
            what = "a ztunnel dump" if ztunnel else "a config dump"
            if strict and not ztunnel:
                _check_dump(stage.path(dump), shown)  # raises
            elif not _looks_right(stage.path(dump), ztunnel):
                if strict:
                    raise InvalidInput(f"{shown}: the admin did not answer with {what}")
                stage.remove(dump)
                staged.remove(bundle.DUMP)
                out.errors.append(f"{shown}: the admin did not answer with {what}")
    except BaseException:
        for name in staged:
            stage.remove(f"{member}/{name}")  # nothing of a proxy that failed half-way
        raise
    for name in staged:
        out.files[name] = FileEntry.of_file(stage.path(f"{member}/{name}"))
    return out


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


def _looks_right(path: str, ztunnel: bool) -> bool:
    """A quick look: an Envoy config dump (``"configs"`` early), or a ztunnel's dump."""
    if ztunnel:
        import orjson

        from pdebug.model.ztunnel import looks_like_ztunnel

        with open(path, "rb") as fh:
            try:
                top = orjson.loads(fh.read())
            except orjson.JSONDecodeError:
                return False
        return isinstance(top, dict) and looks_like_ztunnel(top)
    with open(path, "rb") as fh:
        start = fh.read(1 << 20)
    return start[:4096].lstrip().startswith(b"{") and b'"configs"' in start


def _check_dump(path: str, label: str) -> None:
    """Fail unless the staged file is an Envoy config dump (parsed through a map)."""
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


# --------------------------------------------------------------------------- pdebug dump


def proxy_name(label: str) -> str:
    """A file-system-safe proxy name: ``pod/x.ns`` -> ``x.ns``; URLs -> ``host_port``."""
    name = label.split("://", 1)[-1]
    name = name.removeprefix("pod/")
    name = name.split(" ", 1)[0]
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "proxy"


def capture_one(
    spec: SourceSpec, output: str, options: LiveOptions, redact: bool = True, force: bool = False
) -> str:
    """``pdebug dump``: fetch SOURCE's documents and write them to ``output``; a summary line.

    ``spec`` is SOURCE as parsed at the command line.

    ``NAME.tar.gz`` is a one-proxy bundle; ``NAME.json`` the config dump alone.

    Raises:
        UsageError: a wrong extension, or ``output`` exists (and ``force`` is not set).
        SourceUnavailable: the proxy cannot be read (within ``--timeout``, ``--max-body``).
        InvalidInput: the proxy's answer is not a config dump.
    """
    from pdebug.atomic import check_writable
    from pdebug.sources import open_source

    if not output.endswith((".tar.gz", ".tgz", ".json")):
        raise UsageError(
            f"{output}: unknown kind of output file",
            hint="use NAME.tar.gz (a bundle every view reads) or NAME.json (the dump only)",
        )
    refuse_existing(output, force, what="the file", another="")
    check_writable(output)
    source = open_source(spec, options)
    if not source.live:
        raise UsageError(
            f"{spec.text}: pdebug dump reads a live proxy (an admin URL or a pod), not a file",
            hint="e.g. pdebug dump http://127.0.0.1:15000 -o proxy.tar.gz",
        )
    as_json = output.endswith(".json")
    paths = {bundle.DUMP: PATHS[bundle.DUMP]} if as_json else DUMP_PATHS
    stage = Stage(os.path.dirname(os.path.abspath(output)), output, ".pdebug-dump-", "")
    try:
        # The label names the pod once the first GET found it: stage under a neutral name.
        with contextlib.closing(source):
            captured = capture_proxy(
                source, stage, "proxy", paths, redact=redact, strict=True,
                optional=frozenset({bundle.STATS}),
            )  # fmt: skip
        # The label is saved (manifest, member names) and printed: no user:password@ in it.
        label = redact_text(source.label)
        size = sum(entry.size or 0 for entry in captured.files.values())
        if as_json:
            _publish(stage.path(f"proxy/{bundle.DUMP}"), output)
        else:
            proxy = proxy_name(label)
            os.rename(stage.path("proxy"), stage.path(proxy))
            manifest = Manifest.new(source=label)
            manifest.proxies = [ProxyEntry(proxy, label, files=captured.files)]
            members = [f"{proxy}/{name}" for name in captured.files]
            # Level 1: a capture is written while someone waits for it; level 6 took 2.5x
            # as long for a 1.3x smaller file (#17). snapshot keeps level 6.
            bundle.write_tree(output, stage.root, manifest.plain(), members, compresslevel=1)
    finally:
        stage.discard()
    return f"saved {label} to {output} ({size / 1e6:.1f} MB of documents)"


def _publish(staged: str, output: str) -> None:
    """Move the staged file to ``output`` atomically, with normal file rights."""
    from pdebug.atomic import cannot_write

    try:
        with open(staged, "rb") as fh:
            os.fsync(fh.fileno())
        os.chmod(staged, 0o666 & ~umask())
        os.replace(staged, output)
    except OSError as exc:
        raise cannot_write(output, exc) from None
