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
    if kind not in NONE_WHEN_ABSENT or dump.has(kind) or not is_full_dump(dump):
        return False
    return kind != "routes" or not _names_a_connection_manager(dump)


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
    return not any(key in _CLUSTER_LISTS and sec.generic(key) for key in _fields(sec))


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
