"""Facts: which sections a dump has, and what a missing one means.

A whole ``/config_dump`` always has the bootstrap, clusters and listeners sections; a
dump taken with a ``mask`` may lack any. Whether a missing section means "the proxy has
none" or "not captured" decides whether a view prints an empty table or an error, and
whether a check runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pdebug.model.dump import ConfigDump, Section

#: Sections every full ``/config_dump`` of a running Envoy has.
FULL_DUMP = ("bootstrap", "clusters", "listeners")
#: Sections a full dump leaves out when the proxy has none of them: Envoy writes the ECDS
#: section only once an ECDS filter exists, older Envoys (Istio <= 1.6) no secrets
#: section without secrets, and no Envoy a routes section before its first HTTP
#: connection manager exists (see :func:`none_when_absent`).
NONE_WHEN_ABSENT = ("secrets", "ecds", "routes")


def is_full_dump(dump: ConfigDump) -> bool:
    """Whether ``dump`` is a whole ``/config_dump`` (not one taken with a mask)."""
    return all(dump.has(kind) for kind in FULL_DUMP)


def none_when_absent(dump: ConfigDump, kind: str) -> bool:
    """Whether a missing ``kind`` section means "none" (a full dump) not "not captured".

    Envoy registers its routes section with the first HTTP connection manager it builds
    (Envoy 1.40 running a TCP-, UDP- or Redis-only config writes none), so a full dump
    without one has no routes only when no listener names a connection manager; when
    one does, the routes were cut out of the capture.
    """
    if kind not in NONE_WHEN_ABSENT or dump.has(kind):
        return False
    if kind == "secrets":
        from pdebug.model.bootstrap import predates_secrets

        if predates_secrets(dump):  # its bootstrap names an Envoy before 1.10: never written
            return True
    if not is_full_dump(dump):
        return False
    return kind != "routes" or not _names_a_connection_manager(dump)


def why_absent(dump: ConfigDump, kinds: tuple[str, ...]) -> str:
    """Why a partial ``dump`` may lack ``kinds`` and what to capture, in parentheses.

    Envoy 1.14 and older (``envoy.admin.v2alpha`` types) took no mask: a section is
    missing there because it was cut from a paste, or (secrets) because an Envoy older
    than 1.10 never writes one, which only the bootstrap's release can tell.
    """
    from pdebug.model.bootstrap import admin_v2alpha, envoy_release

    if not admin_v2alpha(dump):
        return "(taken with a mask? capture the whole /config_dump)"
    if "secrets" in kinds and envoy_release(dump) is None:
        return (
            "(and no bootstrap to tell which Envoy wrote it: one older than 1.10 writes "
            "none; from 1.10 on, capture the whole /config_dump)"
        )
    return "(cut from the paste? capture the whole /config_dump)"


_CLUSTER_LISTS = frozenset(
    {
        "static_clusters",
        "staticClusters",
        "dynamic_active_clusters",
        "dynamicActiveClusters",
        "dynamic_warming_clusters",
        "dynamicWarmingClusters",
    }
)


def holds_no_clusters(dump: ConfigDump) -> bool:
    """Whether ``dump`` is a whole dump of a proxy without any cluster.

    Envoy writes no endpoints section then, even for ``config_dump?include_eds``, so
    its absence says nothing about how the dump was taken: there are no endpoints.
    """
    if not is_full_dump(dump):
        return False
    sec = dump.section("clusters")
    assert sec is not None
    planned = _planned_clusters(sec)
    if planned is not None:
        return not planned
    return not any(key in _CLUSTER_LISTS and _truthy(raw) for key, raw in _fields(sec).items())


#: The cluster lists a planned decode reads (it refuses the other spelling's keys).
_CLUSTER_KEYS = ("static_clusters", "dynamic_active_clusters", "dynamic_warming_clusters")


def _planned_clusters(sec: Section) -> bool | None:
    """Whether the clusters section lists a cluster, from its planned decode (#17).

    None unless its lists were read whole and strictly already: each is then its
    field's value (absent or null: empty), so this is the answer of the fields' split
    without the split (a scan of the whole section: 76 MB of the 5k-service dump).
    """
    if not sec.planned.issuperset(_CLUSTER_KEYS):
        return None
    return any(sec.planned_list(key) for key in _CLUSTER_KEYS)


_SPACE = b" \t\r\n"


def _truthy(raw: Any) -> bool:
    """Whether the JSON value ``raw`` is truthy as Python data, judged without decoding it.

    ``[]``, ``{}``, ``""``, ``null``, ``false`` and zero are not. What a list holds is
    not read: damage inside a cluster (an unknown field's ``1e400``) is for the readers
    of that cluster to find, as they read it, not for the question "any cluster?".
    """
    view = memoryview(raw)
    at = 0
    while at < len(view) and view[at] in _SPACE:
        at += 1
    first = bytes(view[at : at + 1])
    if first in (b"[", b"{"):
        at += 1
        while at < len(view) and view[at] in _SPACE:
            at += 1
        return bytes(view[at : at + 1]) not in (b"]", b"}")
    if first == b'"':
        return bytes(view[at : at + 2]) != b'""'
    text = bytes(view[at:]).rstrip(_SPACE)
    if first in (b"t", b"f", b"n"):
        return text == b"true"
    return float(text) != 0  # a number (JSON's are Python's float literals)


def _names_a_connection_manager(dump: ConfigDump) -> bool:
    """Whether the listeners section mentions an HTTP connection manager anywhere.

    Every spelling has ``http_connection_manager`` in it: the v3 and v2 type URLs, the
    filter names (``envoy.filters.network.http_connection_manager``, the legacy
    ``envoy.http_connection_manager``), an ECDS ``config_discovery`` of one.
    """
    known = dump.facts.get("sections.hcm")
    if isinstance(known, bool):
        return known
    sec = dump.section("listeners")
    if sec is None:
        found = False
    elif sec.text is not None:
        found = b"http_connection_manager" in bytes(sec.text)
    else:
        found = any(b"http_connection_manager" in bytes(raw) for raw in _fields(sec).values())
    if found and sec is not None:
        found = _built_a_connection_manager(sec)
    dump.facts["sections.hcm"] = found
    return found


def _built_a_connection_manager(sec: Section) -> bool:
    """Whether a listener Envoy built (not one it rejected) has a connection manager.

    A listener Envoy rejected and never served is listed with its ``error_state`` alone;
    its connection manager was never built, so a proxy whose every HTTP listener was
    rejected has no routes section (Envoy 1.40 fed Kuma's e2e goldens with their
    addresses redacted).
    """
    import orjson

    def mentions(value: Any) -> bool:
        return value is not None and b"http_connection_manager" in orjson.dumps(value)

    for key in _fields(sec):
        if key not in ("dynamic_listeners", "dynamicListeners"):
            if key != "@type" and mentions(sec.generic(key)):
                return True
            continue
        entries = sec.generic(key)
        if not isinstance(entries, list):
            return mentions(entries)
        for entry in entries:
            if not isinstance(entry, dict):
                continue
            if any(mentions(v) for k, v in entry.items() if k not in ("error_state", "errorState")):
                return True
    return False


def _fields(sec: Section) -> dict[str, Any]:
    sec.raw("")  # splits the section's fields when they are read lazily
    return sec.fields
