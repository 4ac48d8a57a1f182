"""Every proxy a SOURCE holds, read: one opened source, a plain file, or a bundle's proxies.

``check``, ``report`` and ``assert`` read what SOURCE holds in one call,
:func:`hold`, which reads bytes and the bundle's manifest and parses nothing into the
model (:mod:`pdebug.inputs` and :mod:`pdebug.proxy` do, above it):

* a live proxy (or, for ``check``, a file that is not a bundle of several proxies) is
  opened as one :class:`~pdebug.sources.base.Source` (:attr:`Held.source`);
* a bundle (``check``: of several proxies) is read whole: each proxy's saved documents,
  or why they cannot be read, and what its manifest says (:class:`HeldProxy`), and the
  capture's own facts (:attr:`Held.capture`);
* for ``report`` and ``assert``, a plain file's bytes (:attr:`Held.data`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from pdebug.errors import InvalidInput, PdebugError, SourceUnavailable, UsageError
from pdebug.sources.spec import FileSpec, MemberSpec

if TYPE_CHECKING:
    from pdebug.sources.base import LiveOptions, Source
    from pdebug.sources.bundle import Bundle
    from pdebug.sources.spec import SourceSpec

__all__ = ["Bundles", "Held", "HeldProxy", "hold"]

#: Which files are read as every proxy they hold: ``several`` (``check``: a whole bundle
#: of several proxies; anything else is one source) or ``any`` (``report``: every file).
Bundles = Literal["several", "any"]


@dataclass(frozen=True)
class HeldProxy:
    """One proxy of a bundle: its saved documents (or why not) and its manifest entry.

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


@dataclass
class Held:
    """What SOURCE holds, read; used in a ``with`` block, which closes :attr:`source`.

    Exactly one of :attr:`source` (one proxy, opened), :attr:`data` (a plain file's
    bytes) or a bundle (:attr:`label` with its :attr:`proxies`) is what was read.
    """

    named: str
    source: Source | None = None
    data: bytes | memoryview | None = None
    label: str = ""
    proxies: list[HeldProxy] = field(default_factory=list)
    #: the manifest's ``created``, ``tool``, ``source`` and the istiod replicas' note
    capture: dict[str, str] = field(default_factory=dict)
    #: the namespaces of the captured (and skipped) pods, ztunnels aside
    namespaces: set[str] = field(default_factory=set)

    def __enter__(self) -> Held:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.source is not None:
            self.source.close()


def hold(
    spec: SourceSpec, live: LiveOptions, bundles: Bundles, one_only: str | None = None
) -> Held:
    """What ``spec`` holds, read as ``bundles`` says; a ``with`` block closes it.

    ``one_only`` (an option's name, ``--clusters-json``) refuses a bundle of several
    proxies, before it is read.

    Raises:
        UsageError: ``one_only`` with a bundle of several proxies.
        InvalidInput: a bundle that holds no proxy, or is damaged (a damaged member is
            not raised: its :attr:`HeldProxy.unreadable` says why).
        SourceUnavailable: the file cannot be read, or the bundle has no such proxy.
    """
    held = _read_whole(spec, bundles, one_only)
    if held is None:  # one proxy, opened (nothing is read before its first GET)
        from pdebug.sources import open_source

        held = Held(spec.text, source=open_source(spec, live))
    return held


def _read_whole(spec: SourceSpec, bundles: Bundles, one_only: str | None) -> Held | None:
    """A file read whole, or None when SOURCE is read as one source.

    A plain file's bytes, or every proxy of a bundle (``B:NAME``: that one).
    """
    if not isinstance(spec, FileSpec | MemberSpec):
        return None
    path = spec.path
    member = spec.member if isinstance(spec, MemberSpec) else None
    if bundles == "several" and member is None and not _maybe_tar(path):
        return None  # a plain dump: read as one source, without the bundle code
    from pdebug.sources import bundle

    if bundles == "several":
        if member is not None or bundle.multi_manifest(path) is None:
            return None
        if one_only is not None:
            raise UsageError(
                f"{one_only} is one proxy's; {spec.text} holds several",
                hint=f"pick one: {spec.text}:NAME (a bundle carries each proxy's /clusters)",
            )
    opened = bundle.read_any(path, None if member is None else lambda b: [b.resolve(member)])
    if not isinstance(opened, bundle.Bundle):
        data, label = opened
        if member is not None:
            raise InvalidInput(f"{path}: not a bundle, so there is no proxy {member!r} in it")
        return Held(spec.text, data=data, label=label)
    names = [member] if member is not None else opened.proxies
    if not names:
        raise InvalidInput(f"{opened.label}: the bundle holds no proxy", hint="capture it again")
    return _bundle(spec.text, opened, names)


def _maybe_tar(path: str) -> bool:
    """False for a regular file that is no tar archive (once gunzipped): no bundle.

    The same first step as :func:`pdebug.sources.bundle.peek_manifest`, without importing
    the bundle code (tarfile, hashlib, the manifest) for a plain dump; anything else
    (stdin, a file that cannot be opened) goes on to the bundle reader and its errors.
    """
    import os

    if path == "-" or not os.path.isfile(path):
        return True
    from pdebug.sources.file import open_input

    try:
        with open_input(path) as opened:
            return bool(opened.is_tar())
    except SourceUnavailable:
        return True


def _bundle(named: str, opened: Bundle, names: list[str]) -> Held:
    """The proxies ``names`` of a read bundle, then what its manifest says of them."""
    from pdebug.manifest import failed_replicas_note, proxy_entries

    read: dict[str, tuple[dict[str, bytes], PdebugError | None]] = {}
    for name in names:
        try:  # a member that fails its sha256 or is not a file is this proxy's problem
            read[name] = (opened.proxy(name), None)
        except PdebugError as exc:
            read[name] = ({}, exc)
    manifest = opened.manifest
    held = Held(named, label=opened.label)
    for key in ("created", "tool", "source"):
        if isinstance(manifest.get(key), str):
            held.capture[key] = manifest[key]
    note = failed_replicas_note(manifest.get("istiod"))
    if note:  # istiod replicas that did not answer the snapshot: their proxies lack a view
        held.capture["istiod"] = note
    listed = proxy_entries(manifest)
    entries = {str(p["name"]): p for p in listed}
    for name in names:
        entry = entries.get(name, {})
        files, unreadable = read[name]
        label = f"{opened.label}:{name}"
        held.proxies.append(HeldProxy(name, label, entry.get("kind"), files, unreadable, entry))
    held.namespaces = {
        e["namespace"]
        for e in [*listed, *(manifest.get("skipped") or [])]
        if isinstance(e, dict)
        and e.get("kind") != "ztunnel"
        and isinstance(e.get("namespace"), str)
    }
    return held
