"""The SOURCE words of a command line, parsed once into one typed value.

A command hands the library its SOURCE words as typed (SOURCE, ``--admin URL``,
``--bundle FILE``, ``-n``: one :class:`SourceWords`); the library's entry
(:func:`pdebug.proxy.load_proxy`; :func:`pdebug.proxy.read_every` under ``check``,
``report`` and ``assert``; ``dump``'s one word
:func:`pdebug.snapshot.dump.capture_one`) turns them into a :data:`SourceSpec` here
(:func:`spec_of`, :func:`word_spec`), first, and passes that value down:
:func:`pdebug.sources.open_source` opens it, nothing downstream reads the string again.

======================================  =================================================
typed                                   spec
======================================  =================================================
``dump.json``, ``d.json.gz``, ``-``     :class:`FileSpec` (``-`` is stdin; a bundle or a
``b.tar.gz``, a ``--dir`` directory     snapshot directory is a file until it is read)
``b.tar.gz:POD.NS``, ``--bundle B X``   :class:`MemberSpec` (one proxy of a bundle)
``http://h:15000``, ``localhost:15000``  :class:`AdminSpec` (a path after the address is
``10.0.0.1:15000/config_dump``          dropped: pdebug asks for the paths it needs)
``pod/x``, ``x``, ``x.ns``, ``deploy/x``  :class:`KubeSpec` (``svc/``, ``sts/``, ``ds/``,
                                        ``rs/`` too; the kube source parses KIND/NAME.NS)
======================================  =================================================

Each malformed form has one error (:class:`~pdebug.errors.UsageError`, exit 2). Parsing
reads no file (``os.path.exists`` alone decides whether a word is a file): ``--bundle B
TEXT`` keeps TEXT as typed, and the bundle's manifest names the proxy when the source is
opened (:func:`pdebug.sources.bundle.resolve`, with the same errors).
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, ClassVar, Literal

import msgspec

from pdebug.errors import UsageError

if TYPE_CHECKING:
    from urllib.parse import SplitResult

__all__ = [
    "AdminSpec",
    "FileSpec",
    "KubeSpec",
    "MemberSpec",
    "SourceSpec",
    "SourceWords",
    "admin_spec",
    "check_admin_url",
    "classify",
    "file_spec",
    "in_bundle",
    "normalise_admin_url",
    "parse_source",
    "source_spec",
    "spec_of",
    "split_member",
    "word_spec",
    "ztunnel_source",
]

Kind = Literal["file", "admin", "kube"]


class FileSpec(msgspec.Struct, frozen=True):
    """A saved document (``-``: stdin; gzip ok), a whole bundle or a snapshot directory.

    ``flag``: typed as ``--bundle PATH`` (no proxy named): opening checks that PATH is a
    bundle, with errors that name ``--bundle``.
    """

    path: str
    flag: bool = False
    kind: ClassVar[Kind] = "file"

    @property
    def text(self) -> str:
        """The word as the user typed it."""
        return self.path


class MemberSpec(msgspec.Struct, frozen=True):
    """One proxy of a bundle: ``B.tar.gz:NAME``, or ``--bundle B TEXT`` (``flag``).

    ``member`` is the text as typed. ``B:NAME`` names a member (or its ``POD.NS``);
    ``--bundle B TEXT`` takes ``pod/NAME``, ``NAME`` or ``NAME.NS`` (``namespace`` from
    ``-n``), found in B's manifest when the source is opened
    (:func:`pdebug.sources.bundle.resolve`).
    """

    path: str
    member: str
    namespace: str | None = None
    flag: bool = False
    kind: ClassVar[Kind] = "file"

    @property
    def text(self) -> str:
        """``PATH:MEMBER``."""
        return f"{self.path}:{self.member}"


class AdminSpec(msgspec.Struct, frozen=True):
    """An Envoy admin address: ``http://HOST:PORT`` or ``HOST:PORT``, checked.

    Attributes:
        url: The address as typed, without the path typed after it (if any).
        what: How the command line named it (``SOURCE``, ``--admin``, ``OTHER``), for errors.
        dropped: The path typed after the address (``/config_dump``), which is not used.
    """

    url: str
    what: str = "SOURCE"
    dropped: str | None = None
    kind: ClassVar[Kind] = "admin"

    @property
    def text(self) -> str:
        """The address."""
        return self.url

    @property
    def address(self) -> str:
        """The URL to connect to: ``http://`` added, no trailing slash."""
        return normalise_admin_url(self.url)

    @property
    def parts(self) -> SplitResult:
        """:attr:`address` split (checked when the spec was parsed)."""
        import urllib.parse

        return urllib.parse.urlsplit(self.address)

    @property
    def note(self) -> str | None:
        """What to tell the user about a dropped path (None: nothing was dropped)."""
        if self.dropped is None:
            return None
        return (
            f"note: reading the Envoy admin at {self.url} (pdebug asks it for the paths it "
            f"needs; {self.dropped} is not used)"
        )


class KubeSpec(msgspec.Struct, frozen=True):
    """A pod, workload or service: ``pod/NAME``, ``NAME``, ``NAME.NS``, ``deploy/NAME``..."""

    text: str
    kind: ClassVar[Kind] = "kube"


#: One SOURCE, parsed: match on the class (or read ``kind``: file, admin, kube).
SourceSpec = FileSpec | MemberSpec | AdminSpec | KubeSpec

_BUNDLE_SUFFIXES = (".tar.gz", ".tgz")
#: The admin-address and Kubernetes-target patterns, compiled on first use (re's cache): a
#: SOURCE that exists as a file never needs them, and every command starts here (#17).
_URL = r"(?i)^https?://"
_HOST_PORT = r"^(localhost|\[[0-9a-fA-F:]+\]|[0-9.]+|[a-zA-Z0-9.-]+):(\d{1,5})(/.*)?$"
#: An IP or localhost with any port text: an admin address, never a pod (its port is checked).
_IP_PORT = r"^(localhost|\[[0-9a-fA-F:]+\]|[0-9.]+):[^/]*(/.*)?$"
_KUBE = (
    r"(?i)^(pod|pods|po|svc|service|services|(deploy|deployment|deployments|sts|statefulset|"
    r"statefulsets|ds|daemonset|daemonsets|rs|replicaset|replicasets)(\.apps)?|"
    r"gateways?(\.gateway\.networking\.k8s\.io)?)/"
)


def split_member(text: str) -> tuple[str, str | None]:
    """``bundle.tar.gz:POD.NS`` -> (``bundle.tar.gz``, ``POD.NS``); else (``text``, None).

    Split when the part before the last ``:`` exists (a bundle file or a snapshot
    directory), or names a ``.tar.gz``/``.tgz`` even if missing: then reading it says
    "no such file" rather than taking the text for a pod name.
    """
    if text == "-" or os.path.exists(text) or ":" not in text:
        return text, None
    base, member = text.rsplit(":", 1)
    if os.path.exists(base):
        return base, member
    if member and "://" not in base and base.lower().endswith(_BUNDLE_SUFFIXES):
        return base, member
    return text, None


def file_spec(text: str) -> FileSpec | MemberSpec:
    """A word that names a file whatever it looks like (``-f FILE``, ``--clusters-json``)."""
    path, member = split_member(text)
    return FileSpec(path) if member is None else MemberSpec(path, member)


def classify(text: str) -> Kind:
    """``file``, ``admin`` or ``kube`` for a SOURCE word (its form only; nothing checked).

    An existing path or ``-`` is a file; ``http(s)://...`` and ``HOST:PORT`` are admin
    addresses; ``KIND/NAME`` is a Kubernetes target. Anything else that does not exist as
    a file but looks like ``NAME`` or ``NAME.NS`` is a pod.
    """
    return _kind(text, split_member(text)[1] is not None)


def _kind(text: str, member: bool) -> Kind:
    """:func:`classify`, told whether ``text`` splits into a bundle and a member."""
    if text == "-" or os.path.exists(text) or member:
        return "file"
    if re.match(_URL, text) or re.match(_HOST_PORT, text) or re.match(_IP_PORT, text):
        return "admin"
    if re.match(_KUBE, text):
        return "kube"
    if "/" in text or text.endswith((".json", ".gz", ".tgz", ".tar.gz")):
        return "file"
    return "kube"


def parse_source(text: str, what: str = "SOURCE") -> SourceSpec:
    """One SOURCE word as a spec; ``what`` names it in errors (``SOURCE``, ``OTHER``...).

    Raises:
        UsageError: an admin address whose port is no port (or out of range), that is not
            a URL, or that says ``https://`` (Envoy's admin speaks plain HTTP).
    """
    path, member = split_member(text)  # once: it decides the kind and makes the spec
    kind = _kind(text, member is not None)
    if kind == "file":
        return FileSpec(path) if member is None else MemberSpec(path, member)
    if kind == "kube":
        return KubeSpec(text)
    return admin_spec(text, what)


def normalise_admin_url(text: str) -> str:
    """``localhost:15000`` -> ``http://localhost:15000`` (no trailing slash)."""
    if "://" not in text:
        text = "http://" + text
    return text.rstrip("/")


def check_admin_url(text: str, what: str = "SOURCE") -> SplitResult:
    """``text`` as an admin URL, or a usage error naming ``what`` (``SOURCE``, ``--admin``).

    Raises:
        UsageError: not an http(s) URL with a host, or a port that is not a number
            in 1-65535.
    """
    import urllib.parse

    example = "e.g. http://127.0.0.1:15000 (the Envoy admin port; 15000 in Istio sidecars)"
    try:
        parsed = urllib.parse.urlsplit(normalise_admin_url(text))
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError("not an Envoy admin URL")
    except ValueError as exc:
        raise UsageError(f"{what} {text}: {exc}", hint=example) from None
    host_port = parsed.netloc.rpartition("@")[2].rpartition("]")[2]  # after user@ and [v6]
    colon, port = host_port.partition(":")[1:]
    if colon and not (port.isascii() and port.isdigit()):
        why = f"port {port!r} is not a number" if port else "no port after ':'"
        raise UsageError(f"{what} {text}: {why}", hint=example)
    if port and not 0 < int(port) < 65536:
        raise UsageError(f"{what} {text}: port {port} is out of range (1-65535)", hint=example)
    return parsed


def admin_spec(text: str, what: str = "SOURCE") -> AdminSpec:
    """``text`` as an Envoy admin address, checked (see :func:`parse_source`)."""
    parts = check_admin_url(text, what)  # a port that is no port is named first
    if parts.scheme.lower() == "https":
        raise UsageError(
            f"{text}: Envoy's admin interface speaks plain HTTP, not HTTPS",
            hint=f"use http://{parts.netloc}; for a pod: pdebug clusters pod/NAME -n NS "
            "(a port-forward, no TLS needed)",
        )
    if parts.path in ("", "/") and not parts.query:
        return AdminSpec(text, what)
    typed = parts.path + (f"?{parts.query}" if parts.query else "")
    return AdminSpec(f"{parts.scheme}://{parts.netloc}", what, typed)


def in_bundle(bundle: str, text: str | None, namespace: str | None) -> FileSpec | MemberSpec:
    """``--bundle BUNDLE [TEXT]``: the proxy TEXT names in BUNDLE, as typed (nothing read).

    TEXT is ``pod/NAME``, ``NAME`` or ``NAME.NS`` (``namespace`` from ``-n``); without it
    the whole bundle. Opening the spec reads BUNDLE's manifest and finds the proxy
    (:func:`pdebug.sources.bundle.resolve` says what is wrong then: a missing file, not a
    bundle, no such proxy, a workload, a pod in several namespaces).
    """
    if not text:
        return FileSpec(bundle, flag=True)
    return MemberSpec(bundle, text, namespace, flag=True)


def source_spec(
    source: str | None,
    admin: str | None = None,
    bundle: str | None = None,
    namespace: str | None = None,
) -> SourceSpec:
    """The proxy a command reads, from its SOURCE, ``--admin URL`` and ``--bundle FILE``.

    Exactly one of SOURCE and ``--admin`` (``--bundle`` takes SOURCE as a proxy's name).

    Raises:
        UsageError: both or neither of SOURCE and ``--admin``, ``--bundle`` with
            ``--admin``, or a malformed admin address (see :func:`parse_source`).
    """
    if bundle is not None:  # SOURCE names a proxy of the bundle
        if admin:
            raise UsageError("give --bundle or --admin, not both")
        return in_bundle(bundle, source, namespace)
    parsed = parse_source(source) if source else None
    address = admin_spec(admin, "--admin") if admin else None  # an address, whatever it looks like
    if parsed is not None and address is not None:
        raise UsageError(
            "give SOURCE or --admin, not both",
            hint="e.g. pdebug clusters --admin http://127.0.0.1:15000",
        )
    if parsed is None and address is None:
        raise UsageError(
            "missing SOURCE",
            hint="pass a saved dump, '-' for stdin, an admin URL, or a pod (pod/NAME -n NS)",
        )
    spec = address or parsed
    assert spec is not None
    return spec


class SourceWords(msgspec.Struct, frozen=True):
    """The words of a command line that name one proxy, as typed: what a command hands down.

    ``source`` (SOURCE), ``admin`` (``--admin URL``), ``bundle`` (``--bundle FILE``) and
    ``namespace`` (``-n``: which namespace ``--bundle``'s proxy is in). The library
    parses them once, before it reads anything (:func:`spec_of`).
    """

    source: str | None
    admin: str | None = None
    bundle: str | None = None
    namespace: str | None = None


def spec_of(given: SourceSpec | SourceWords) -> SourceSpec:
    """``given`` parsed (see :func:`source_spec`); a spec is returned as it is.

    A path typed after an admin address is not used: a note on stderr says so, once, when
    the words are parsed.

    Raises:
        UsageError: the words name no proxy, or two, or a malformed admin address.
    """
    if not isinstance(given, SourceWords):
        return given
    return _noted(source_spec(given.source, given.admin, given.bundle, given.namespace))


def word_spec(text: str, what: str = "SOURCE") -> SourceSpec:
    """One word (``pdebug dump SOURCE``, ``OTHER``...) parsed as :func:`parse_source` does.

    ``what`` names it in errors; a dropped path is noted on stderr, as by :func:`spec_of`.
    """
    return _noted(parse_source(text, what))


def _noted(spec: SourceSpec) -> SourceSpec:
    """``spec``, after saying on stderr that the path typed after its address is not used."""
    note = getattr(spec, "note", None)
    if note:
        import sys

        print(note, file=sys.stderr)
    return spec


def ztunnel_source(source: str | None, file: str | None, node: str | None) -> SourceSpec | None:
    """The ztunnel a ``zc`` command line names: SOURCE, ``-f FILE`` (always a file) or neither.

    None: the cluster finds the ztunnel (``--node`` or the DaemonSet's pods).

    Raises:
        UsageError: more than one of SOURCE, ``-f`` and ``--node``; a malformed address.
    """
    given = [x for x in (source, file, node) if x]
    if len(given) > 1:
        raise UsageError(
            "give at most one of SOURCE, -f/--file and --node",
            hint="e.g. pdebug zc workload -f dump.json, or pdebug zc workload --node NODE",
        )
    if file:
        return file_spec(file)
    return parse_source(source) if source else None
