"""Every proxy a SOURCE holds, parsed: one proxy, a ztunnel, or each proxy of a bundle.

``check`` (:mod:`pdebug.examine`), ``report`` (:func:`read_proxies`) and ``assert``
(:func:`read_inputs`) read through :func:`read_source`, which hands SOURCE's words down
to :func:`pdebug.proxy.read_every` (it parses them and reads them with
:func:`pdebug.sources.held.hold`, and parses a lone proxy or a plain file as ``check``
and the views do); what comes back read (a bundle's proxies) is parsed here.

A bundle (a ``.tar.gz`` or a ``pdebug snapshot --dir`` directory) is read once and every
proxy in it becomes one :class:`ProxyData` (or only ``bundle.tar.gz:NAME``); a proxy whose
documents cannot be read becomes an empty one whose :class:`ProxyInfo` says why
(``unreadable``), so that one damaged member never hides the others. Its manifest says
when the capture was made and, per proxy, what went wrong and, when the capturing tool
recorded it, istiod's sync state (a ``sync`` entry: a string such as ``SYNCED``, or a
mapping ``{"CDS": "SYNCED", ...}``), and which istiod replicas did not answer (the
``istiod`` capture fact, shown under the report's title).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pdebug.errors import InvalidInput, PdebugError
from pdebug.model import ProxyData
from pdebug.model.load import load
from pdebug.proxy import warn_if_another_proxy
from pdebug.sources.file import read_file
from pdebug.sources.held import Held

if TYPE_CHECKING:
    from pdebug.model.ztunnel import ZtunnelDump
    from pdebug.proxy import Fetch
    from pdebug.sources.base import LiveOptions
    from pdebug.sources.bundle import SavedProxy
    from pdebug.sources.held import Bundles
    from pdebug.sources.spec import FileSpec, MemberSpec, SourceSpec, SourceWords


@dataclass(frozen=True)
class ProxyInfo:
    """What a capture says about a proxy beyond its documents (a bundle's manifest).

    Attributes:
        name: A short name for the proxy picker (default: the source label).
        sync: istiod's sync state when the capture recorded it, e.g. ``SYNCED`` or
            ``CDS SYNCED, LDS STALE``; None when unknown.
        errors: What went wrong while capturing it.
        unreadable: Why its saved documents cannot be read (a damaged bundle member);
            None when they could be.
        sync_states: The same sync state per xDS type, for code that judges it.
    """

    name: str | None = None
    sync: str | None = None
    errors: tuple[str, ...] = ()
    unreadable: str | None = None
    #: ``sync`` per xDS type as recorded (``{"CDS": "SYNCED", ...}``; one recorded word is
    #: ``{"ALL": word}``), None when unknown
    sync_states: dict[str, str] | None = None


@dataclass
class Inputs:
    """Proxies to check, judge or report on, and what their capture says about them."""

    proxies: list[ProxyData]
    info: dict[str, ProxyInfo] = field(default_factory=dict)
    capture: dict[str, str] = field(default_factory=dict)
    #: the ztunnels a ``snapshot --ambient`` captured: (member name, dump or why not)
    ztunnels: list[tuple[str, ZtunnelDump | str]] = field(default_factory=list)
    #: the manifest's node of each ztunnel member
    ztunnel_nodes: dict[str, str] = field(default_factory=dict)
    #: the namespaces of the captured (and skipped) pods, from the manifest
    namespaces: set[str] = field(default_factory=set)
    #: what SOURCE named, parsed (:func:`read_source`): a file, ``B:NAME``, an address
    named: str = ""
    #: read as a bundle's proxies (``check``: a bundle of several proxies)
    bundle: bool = False


def sync_text(value: Any) -> str | None:
    """A manifest's ``sync`` entry as one line, or None when absent or unreadable."""
    if isinstance(value, str) and value.strip():
        return value.strip()
    if isinstance(value, dict) and value:
        return ", ".join(f"{k} {v}" for k, v in value.items())
    return None


def sync_states(value: Any) -> dict[str, str] | None:
    """A manifest's ``sync`` entry per xDS type (one word: ``{"ALL": word}``), else None."""
    if isinstance(value, str) and value.strip():
        return {"ALL": value.strip()}
    if isinstance(value, dict) and value:
        return {str(k): str(v) for k, v in value.items()}
    return None


def _proxy(data: bytes | memoryview, label: str) -> ProxyData:
    loaded = load(data, label)
    return ProxyData(label, loaded.dump, loaded.clusters)


def read_inputs(spec: FileSpec | MemberSpec) -> Inputs:
    """Read a file SOURCE (``-`` is stdin): one proxy, or each proxy of a bundle.

    ``spec`` is the SOURCE as parsed at the command line (``B.tar.gz:NAME``: that proxy).

    Raises:
        InvalidInput: the file is not a dump, a ``/clusters`` document or a bundle (a
            damaged bundle member is not raised: its ``ProxyInfo.unreadable`` says why).
        SourceUnavailable: the file cannot be read, or the bundle has no such proxy.
    """
    from pdebug.proxy import Fetch
    from pdebug.sources.base import LiveOptions

    return read_source(spec, LiveOptions(), Fetch.checks(), bundles="any")


def read_source(
    given: SourceSpec | SourceWords,
    live: LiveOptions,
    fetch: Fetch,
    clusters_json: str | None = None,
    *,
    bundles: Bundles,
) -> Inputs:
    """Every proxy SOURCE holds, parsed: the one entry of ``check``, ``report`` and ``assert``.

    SOURCE's words are parsed and read below (:func:`pdebug.proxy.read_every`, which
    parses one proxy, a plain file too); a bundle's proxies are parsed here, with
    ``--clusters-json FILE`` when they are one proxy.

    Raises:
        UsageError: ``--clusters-json`` with a file of several proxies.
    """
    from pdebug.proxy import read_every

    named, got = read_every(given, live, fetch, clusters_json, bundles=bundles)
    if isinstance(got, ProxyData):
        return Inputs([got], named=named)
    if not isinstance(got, Held):  # a ztunnel
        return Inputs([], ztunnels=[(named, got)], named=named)
    inputs = _bundle(got)
    if clusters_json is not None:
        if len(inputs.proxies) > 1:
            from pdebug.errors import UsageError

            raise UsageError(
                f"--clusters-json is one proxy's; {named} holds {len(inputs.proxies)}",
                hint=f"pick one: {named}:NAME (a bundle carries each proxy's /clusters)",
            )
        inputs.proxies[0].health = read_health(clusters_json).health
        warn_if_another_proxy(inputs.proxies[0], clusters_json)
    return inputs


def _bundle(held: Held) -> Inputs:
    """A bundle's proxies, parsed; a damaged one is empty and says why."""
    from pdebug.sources.bundle import CLUSTERS, DUMP  # only a bundle pays for its reader

    out = Inputs([], capture=dict(held.capture), named=held.named, bundle=True)
    for member in held.proxies:
        if member.kind != "ztunnel":
            continue
        out.ztunnels.append((member.name, _ztunnel(member)))
        if isinstance(member.entry.get("node"), str):
            out.ztunnel_nodes[member.name] = member.entry["node"]
    if out.ztunnels:
        out.capture["ambient"] = ambient_line(out.ztunnels)
        out.namespaces = held.namespaces
    sidecars = [m for m in held.proxies if m.kind != "ztunnel"]
    if not sidecars and out.ztunnels:
        # an ambient namespace: no sidecar, only its nodes' ztunnels
        out.capture.setdefault("source", held.label)
    for member in sidecars:
        plabel = member.label
        unreadable = None
        try:  # a member that fails its sha256 or is not a file is this proxy's problem
            if member.unreadable is not None:
                raise member.unreadable
            proxy = _bundle_proxy(member.files, plabel)
        except PdebugError as exc:
            proxy, unreadable = ProxyData(plabel), _without(exc.message, plabel)
        errors = member.entry.get("errors") or []
        if proxy.dump is None and proxy.health is None and not errors and unreadable is None:
            errors = [f"the bundle has no {DUMP} or {CLUSTERS} for this proxy"]
        out.proxies.append(proxy)
        out.info[plabel] = ProxyInfo(
            name=member.name,
            sync=sync_text(member.entry.get("sync")),
            sync_states=sync_states(member.entry.get("sync")),
            errors=tuple(str(e) for e in errors),
            unreadable=unreadable,
        )
    return out


def _ztunnel(member: SavedProxy) -> ZtunnelDump | str:
    """A captured ztunnel's dump, or why there is none."""
    from pdebug.model.ztunnel import parse
    from pdebug.sources.bundle import DUMP

    try:
        if member.unreadable is not None:
            raise member.unreadable
        body = member.files.get(DUMP)
        if body is None:
            errors = member.entry.get("errors") or ["not captured"]
            return "; ".join(str(e) for e in errors)
        return parse(body, member.label)
    except PdebugError as exc:
        return _without(exc.message, member.label)


def ambient_line(ztunnels: list[tuple[str, ZtunnelDump | str]]) -> str:
    """One line per capture: each ztunnel, its node, what it knows and its certificates."""
    parts = []
    for name, dump in ztunnels:
        if isinstance(dump, str):
            parts.append(f"{name}: {dump}")
            continue
        node = dump.local_node or "?"
        certs = [str(c.get("state", "")) for c in dump.certificates]
        ok = sum(1 for c in certs if c == "Available")
        parts.append(
            f"{name} (node {node}): {len(dump.workloads)} workloads, {len(dump.services)} "
            f"services, {len(dump.policies)} policies, certificates {ok}/{len(certs)} available"
        )
    return "ambient ztunnels: " + "; ".join(parts)


def _bundle_proxy(files: dict[str, bytes], plabel: str) -> ProxyData:
    """One bundle member's dump and ``/clusters`` document, parsed."""
    from pdebug.sources.bundle import CLUSTERS, DUMP, STATS, STATS_TEXT

    proxy = ProxyData(plabel)
    if DUMP in files:
        proxy = _proxy(files[DUMP], plabel)
    if CLUSTERS in files:
        health = load(files[CLUSTERS], f"{plabel}/{CLUSTERS}").clusters
        if health is None:
            raise InvalidInput(f"{plabel}/{CLUSTERS}: not a /clusters?format=json document")
        proxy.health = health
    # pdebug check's PD603 (update_rejected counters): the JSON form, or the text that
    # pdebug dump saves (its counters read alike: tests/test_textforms_envoy.py)
    proxy.stats = files.get(STATS, files.get(STATS_TEXT))
    return proxy


def _without(message: str, plabel: str) -> str:
    """``B:NAME: the JSON is truncated`` -> ``the JSON is truncated`` (the row names it)."""
    if message.startswith(plabel + ": "):
        return message[len(plabel) + 2 :]
    if message.startswith(plabel + "/"):
        return message[len(plabel) + 1 :]
    return message


def read_proxies(
    given: SourceSpec | SourceWords, live: LiveOptions, clusters_json: str | None = None
) -> Inputs:
    """What ``pdebug report`` reads: one live proxy, or every proxy of a file.

    :func:`read_source`, with what the checks read of a live proxy; :attr:`Inputs.named`
    is the parsed SOURCE's text. ``--clusters-json FILE`` joins a lone proxy.

    Raises:
        UsageError: ``--clusters-json`` with a file of several proxies.
    """
    from pdebug.proxy import Fetch

    return read_source(given, live, Fetch.checks(), clusters_json, bundles="any")


def read_health(path: str) -> ProxyData:
    """A ``--clusters-json`` file, which must be a ``/clusters?format=json`` document.

    Raises:
        InvalidInput: it is something else (a config dump, say).
    """
    data, label = read_file(path)
    proxy = _proxy(data, label)
    if proxy.health is None:
        raise InvalidInput(
            f"{label}: --clusters-json needs a /clusters?format=json document, not a config dump",
            hint="capture it with: curl -s 'localhost:15000/clusters?format=json'",
        )
    return proxy
