"""Every proxy a file SOURCE holds: a dump, a ``/clusters`` document, or each proxy of a bundle.

Beside :func:`pdebug.proxy.load_proxy` (one proxy, any source): ``check``, ``report`` and
``assert`` read files through :func:`read_inputs`.

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
from pdebug.manifest import failed_replicas_note
from pdebug.model import ProxyData
from pdebug.model.load import load
from pdebug.sources import bundle
from pdebug.sources.file import read_file
from pdebug.sources.spec import MemberSpec

if TYPE_CHECKING:
    from pdebug.model.ztunnel import ZtunnelDump
    from pdebug.sources.base import LiveOptions
    from pdebug.sources.spec import FileSpec, SourceSpec, SourceWords


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
    #: what SOURCE named, parsed (:func:`read_proxies`): a file, ``B:NAME``, an address
    named: str = ""


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
    path, member = spec.path, spec.member if isinstance(spec, MemberSpec) else None
    opened = bundle.read_any(path, None if member is None else lambda b: [b.resolve(member)])
    if not isinstance(opened, bundle.Bundle):
        data, label = opened
        if member is not None:
            raise InvalidInput(f"{path}: not a bundle, so there is no proxy {member!r} in it")
        return Inputs([_proxy(data, label)])
    label = opened.label
    names = [member] if member is not None else opened.proxies
    if not names:
        raise InvalidInput(f"{label}: the bundle holds no proxy", hint="capture it again")
    entries = {str(p["name"]): p for p in bundle.proxy_entries(opened.manifest)}
    out = Inputs([])
    for key in ("created", "tool", "source"):
        if isinstance(opened.manifest.get(key), str):
            out.capture[key] = opened.manifest[key]
    note = failed_replicas_note(opened.manifest.get("istiod"))
    if note:  # istiod replicas that did not answer the snapshot: their proxies lack a view
        out.capture["istiod"] = note
    kinds = {name: entries.get(name, {}).get("kind") for name in names}
    for name in [n for n in names if kinds[n] == "ztunnel"]:
        out.ztunnels.append((name, _ztunnel(opened, name, f"{label}:{name}", entries[name])))
        if isinstance(entries[name].get("node"), str):
            out.ztunnel_nodes[name] = entries[name]["node"]
    if out.ztunnels:
        out.capture["ambient"] = ambient_line(out.ztunnels)
        out.namespaces = _pod_namespaces(opened.manifest)
    names = [n for n in names if kinds[n] != "ztunnel"]
    if not names and out.ztunnels:
        # an ambient namespace: no sidecar, only its nodes' ztunnels
        out.capture.setdefault("source", label)
    for name in names:
        plabel = f"{label}:{name}"
        unreadable = None
        try:  # a member that fails its sha256 or is not a file is this proxy's problem
            proxy = _bundle_proxy(opened.proxy(name), plabel)
        except PdebugError as exc:
            proxy, unreadable = ProxyData(plabel), _without(exc.message, plabel)
        entry = entries.get(name, {})
        errors = entry.get("errors") or []
        if proxy.dump is None and proxy.health is None and not errors and unreadable is None:
            errors = [f"the bundle has no {bundle.DUMP} or {bundle.CLUSTERS} for this proxy"]
        out.proxies.append(proxy)
        out.info[plabel] = ProxyInfo(
            name=name,
            sync=sync_text(entry.get("sync")),
            sync_states=sync_states(entry.get("sync")),
            errors=tuple(str(e) for e in errors),
            unreadable=unreadable,
        )
    return out


def _ztunnel(
    opened: bundle.Bundle, name: str, plabel: str, entry: dict[str, Any]
) -> ZtunnelDump | str:
    """A captured ztunnel's dump, or why there is none."""
    from pdebug.model.ztunnel import parse

    try:
        body = opened.proxy(name).get(bundle.DUMP)
        if body is None:
            errors = entry.get("errors") or ["not captured"]
            return "; ".join(str(e) for e in errors)
        return parse(body, plabel)
    except PdebugError as exc:
        return _without(exc.message, plabel)


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


def _pod_namespaces(manifest: dict[str, Any]) -> set[str]:
    """The namespaces of a snapshot's pods (captured, failed or skipped), ztunnels aside."""
    entries = [*bundle.proxy_entries(manifest), *(manifest.get("skipped") or [])]
    return {
        e["namespace"]
        for e in entries
        if isinstance(e, dict)
        and e.get("kind") != "ztunnel"
        and isinstance(e.get("namespace"), str)
    }


def _bundle_proxy(files: dict[str, bytes], plabel: str) -> ProxyData:
    """One bundle member's dump and ``/clusters`` document, parsed."""
    proxy = ProxyData(plabel)
    if bundle.DUMP in files:
        proxy = _proxy(files[bundle.DUMP], plabel)
    if bundle.CLUSTERS in files:
        health = load(files[bundle.CLUSTERS], f"{plabel}/{bundle.CLUSTERS}").clusters
        if health is None:
            raise InvalidInput(f"{plabel}/{bundle.CLUSTERS}: not a /clusters?format=json document")
        proxy.health = health
    proxy.stats = files.get(bundle.STATS)  # pdebug check's PD603 (update_rejected)
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

    SOURCE's words are parsed first; :attr:`Inputs.named` is the parsed SOURCE's text.

    A live proxy is read as ``check`` reads it, a file by :func:`read_inputs`;
    ``--clusters-json FILE`` joins a lone proxy.

    Raises:
        UsageError: ``--clusters-json`` with a file of several proxies.
    """
    from pdebug.sources.spec import FileSpec, spec_of

    spec = spec_of(given)
    if isinstance(spec, FileSpec | MemberSpec):
        inputs = read_inputs(spec)
        if clusters_json is not None:
            if len(inputs.proxies) > 1:
                from pdebug.errors import UsageError

                raise UsageError(
                    f"--clusters-json is one proxy's; {spec.text} holds {len(inputs.proxies)}",
                    hint=f"pick one: {spec.text}:NAME (a bundle carries each proxy's /clusters)",
                )
            inputs.proxies[0].health = read_health(clusters_json).health
            from pdebug.proxy import warn_if_another_proxy

            warn_if_another_proxy(inputs.proxies[0], clusters_json)
        inputs.named = spec.text
        return inputs
    from pdebug.proxy import Fetch, load_proxy

    return Inputs([load_proxy(spec, live, Fetch.checks(), clusters_json)], named=spec.text)


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
