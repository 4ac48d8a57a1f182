"""Facts: which sections a dump has, and what a missing one means.

A whole ``/config_dump`` always has the bootstrap, clusters and listeners sections; a
dump taken with a ``mask`` may lack any. Whether a missing section means "the proxy has
none" or "not captured" decides whether a view prints an empty table or an error, and
whether a check runs.

One module over 500 lines because it is one rule, said in one place: what of a dump
pdebug reads and what it leaves unread (sections, their members, their entries'
members), and how a missing section is told apart from an empty one.
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

    if dump.pasted:
        return f"({dump.only_pasted()}, without the 'configs' wrapper)"
    if not admin_v2alpha(dump):
        return "(taken with a mask? capture the whole /config_dump)"
    if "secrets" in kinds and envoy_release(dump) is None:
        return (
            "(and no bootstrap to tell which Envoy wrote it: one older than 1.10 writes "
            "none; from 1.10 on, capture the whole /config_dump)"
        )
    return "(cut from the paste? capture the whole /config_dump)"


def no_section(dump: ConfigDump, kind: str) -> str:
    """What a step says of the ``kind`` section ``dump`` lacks (a paste of others: so)."""
    if dump.pasted:
        return f"{dump.only_pasted()}: no {kind} section"
    return f"the dump has no {kind} section"


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


#: How an unread section is named when it has no ``@type`` (a hand-edited entry).
NO_TYPE = "(no @type)"


def unread(dump: ConfigDump) -> list[tuple[str, int]]:
    """The types of the ``configs[]`` entries pdebug does not read, each with its count.

    The one rule: every entry of a dump is a section of a kind pdebug reads (its
    ``SECTION_KINDS``) or an unread one, kept as it is (``all -o json|yaml`` print it
    where it was) and named here, in dump order, so that no command drops one silently.
    """
    for sec in list(dump.sections):
        if not sec.kind and sec.complete is not None:
            # Its members, split now (it is read by no view: small, as a rule): its bytes
            # may hold a section of a type the layout search does not find (not named
            # ``...ConfigDump``) after it, which then joins the sections (load._adopt).
            sec.raw("")
    _search_unread(dump)
    counts: dict[str, int] = {}
    for sec in dump.sections:
        if not sec.kind:
            key = sec.type_url or NO_TYPE
            counts[key] = counts.get(key, 0) + 1
    return list(counts.items())


#: The most bytes of sections a command did not read that :func:`_search_unread` searches
#: (about 0.2 ns a byte: 6 ms). A larger dump's are not searched (#17: +7-22% CPU of a
#: single view of the 161 MB bench dump); ``all`` and ``check`` read every section.
SEARCH_LIMIT = 32 << 20


def _search_unread(dump: ConfigDump) -> None:
    """Find the entries hidden in the sections the command did not read, when few bytes.

    Such a section's bytes may hold a ``configs[]`` entry of a type the layout search
    does not find (not named ``...ConfigDump``) after it; a byte search says "maybe"
    (:attr:`Section.hides`) and the section's members then tell (the entry joins the
    sections). A document damaged there is let be, as before (the command read none of it).
    """
    left = [
        sec
        for sec in dump.sections
        if sec.kind and sec.complete is not None and not sec.members_known and sec.hides
    ]
    if not left or sum(len(sec.text) for sec in left) > SEARCH_LIMIT:
        return
    dump.read_hiding(left)


def short_type(type_url: str) -> str:
    """``type.googleapis.com/acme.mesh.PolicyConfigDump`` -> ``acme.mesh.PolicyConfigDump``."""
    return type_url.rsplit("/", 1)[-1] if "/" in type_url else type_url


def printable(text: str) -> str:
    r"""``text`` with every character :meth:`str.isprintable` rejects as ``repr`` writes it.

    (``\x1b``, ``\u202e``): a type read from the input is named on a terminal as it is,
    never obeyed (as :mod:`pdebug.render.escape` does for what the views print).
    """
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


def unread_notes(dump: ConfigDump, what: str = "`pdebug all -o json` keeps it") -> list[str]:
    """One line per unread section type, for stderr (see :func:`unread`)."""
    lines = []
    for type_url, count in unread(dump):
        entries = "1 entry" if count == 1 else f"{count} entries"
        name = printable(short_type(type_url))
        lines.append(f"note: section {name} ({entries}) is not read by pdebug; {what}")
    return lines


#: The members Envoy writes in each section pdebug reads (envoy.admin.v3 and v2alpha).
SECTION_MEMBERS: dict[str, tuple[str, ...]] = {
    "bootstrap": ("bootstrap", "last_updated"),
    "clusters": (
        "version_info",
        "static_clusters",
        "dynamic_active_clusters",
        "dynamic_warming_clusters",
    ),
    "listeners": (
        "version_info",
        "static_listeners",
        "dynamic_listeners",
        "dynamic_active_listeners",
        "dynamic_warming_listeners",
        "dynamic_draining_listeners",
    ),
    "scoped_routes": ("inline_scoped_route_configs", "dynamic_scoped_route_configs"),
    "routes": ("static_route_configs", "dynamic_route_configs"),
    "secrets": ("static_secrets", "dynamic_active_secrets", "dynamic_warming_secrets"),
    "endpoints": ("static_endpoint_configs", "dynamic_endpoint_configs"),
    "ecds": ("ecds_filters",),
}
_ENTRY = ("version_info", "last_updated", "client_status", "error_state")
#: The members of the entries of the lists whose entries a view names (a listener entry
#: holds its states; a route entry its route config): an entry with another member may
#: hold a resource in a wrapper pdebug does not know, and would be read as empty.
ENTRY_MEMBERS: dict[str, tuple[str, ...]] = {
    "dynamic_listeners": (
        "name",
        "active_state",
        "warming_state",
        "draining_state",
        "error_state",
        "client_status",
    ),
    "static_listeners": ("listener", "last_updated"),
    "dynamic_active_listeners": ("version_info", "listener", "last_updated"),
    "dynamic_warming_listeners": ("version_info", "listener", "last_updated"),
    "dynamic_draining_listeners": ("version_info", "listener", "last_updated"),
    "static_route_configs": ("route_config", "last_updated"),
    "dynamic_route_configs": ("route_config", *_ENTRY),
}


def _spellings(keys: tuple[str, ...]) -> frozenset[str]:
    from pdebug.model.camel import to_camel

    return frozenset(keys) | frozenset(to_camel(k) for k in keys)


#: What :func:`entry_members` finds in one section: ``(what, the entry's name)`` per
#: unread member of an entry, in the order :func:`unread_members` meets them.
EntryMembers = list[tuple[str, str]]


def entry_members(sec: Section) -> EntryMembers:
    """The members of ``sec``'s listener or route config entries pdebug does not read."""
    out: EntryMembers = []
    for key, items in _entry_lists(sec):
        allowed = _spellings(ENTRY_MEMBERS[key])
        for item in items:
            for member in item if isinstance(item, dict) else ():
                if member not in allowed and not _cut_here(sec, member):
                    out.append((f"member {member} of {key} entries", _entry_name(item)))
    return out


def entry_members_of(dump: ConfigDump, kinds: tuple[str, ...]) -> dict[int, EntryMembers]:
    """:func:`entry_members` of each section of ``kinds``, by position in the dump.

    What a ``pdebug check`` child sends back (#17). Only sections whose entries
    :func:`unread_members` would read from their own bytes too: the text kept, the
    fields not split.
    """
    return {
        i: entry_members(sec)
        for i, sec in enumerate(dump.sections)
        if sec.kind in kinds and _from_text(sec)
    }


def entry_members_quiet(dump: ConfigDump, kinds: tuple[str, ...]) -> bool:
    """Whether :func:`entry_members_of` the sections of ``kinds`` says nothing.

    It says (once per section) that a pasted dump was cut by hand where an entry has a
    ``"..."`` member: not where no such section may hold one
    (:meth:`~pdebug.model.dump.Section.may_say_placeholders`).
    """
    return not any(
        sec.may_say_placeholders() for sec in dump.sections if sec.kind in kinds and _from_text(sec)
    )


def _from_text(sec: Section) -> bool:
    """Whether :func:`_entry_lists` reads ``sec``'s entries from its own bytes."""
    return sec.text is not None and sec.complete is not None


def unread_members(
    dump: ConfigDump,
    kinds: tuple[str, ...] = (),
    *,
    read_only: bool = False,
    given: dict[int, EntryMembers] | None = None,
) -> list[str]:
    """What the sections of ``kinds`` (all when empty) hold that pdebug does not read.

    A member of a section Envoy does not write (a future ``dynamic_xxx_clusters``), or
    a member of a listener or route config entry (a state or wrapper pdebug does not
    know): each said once, as ``<what> (<where>)``. ``all -o json|yaml`` print them as
    written. A section a strict decode read (``Section.members_known``) is not split
    again; the listener and route entries are read for their members' names (one scan
    of those sections' bytes). ``read_only``: say only what is known without reading
    a section's bytes again (a section neither read strictly nor split into its members
    already is passed over: the ``clusters`` table's light decode, #17). ``given``:
    :func:`entry_members_of` the same bytes (a forked child's), used for a section
    whose entries would be read from its own bytes here.
    """
    found: dict[str, list[str]] = {}
    for index, sec in enumerate(dump.sections):
        if not sec.kind or sec.kind not in SECTION_MEMBERS or (kinds and sec.kind not in kinds):
            continue
        known = _spellings(SECTION_MEMBERS[sec.kind])
        if read_only and not sec.members_known and sec.complete is not None:
            continue  # neither read strictly nor split: knowing would cost a pass
        if not sec.members_known:
            for key in _fields(sec):
                if key != "@type" and key not in known and not _cut_here(sec, key):
                    found.setdefault(f"member {key} of the {sec.kind} section", [])
        members = given.get(index) if given is not None and _from_text(sec) else None
        for where, name in entry_members(sec) if members is None else members:
            found.setdefault(where, []).append(name)
    lines = []
    for what, names in found.items():
        named = [n for n in names if n]
        if names:
            count = f"{len(names)} entr{'y' if len(names) == 1 else 'ies'}"
            what += f" ({count}" + (f", first {named[0]}" if named else "") + ")"
        lines.append(what)
    return lines


#: The member names a person writes where they cut a pasted dump (``{"...": "..."}``).
_PLACEHOLDERS = frozenset({"...", "\u2026"})


def _cut_here(sec: Section, member: str) -> bool:
    """Whether ``member`` is a paste's ``"..."`` that the section's warning names.

    :meth:`Section.say_placeholders` says the section was cut by hand: the placeholder is
    not also an unread member. One no warning names (a section too large to search)
    stays one.
    """
    return member in _PLACEHOLDERS and sec.say_placeholders()


_ENTRY_DECODERS: dict[str, Any] = {}


def _entry_lists(sec: Section) -> list[tuple[str, list[Any]]]:
    """Each list of ``sec`` whose entries :data:`ENTRY_MEMBERS` knows, as raw entries.

    ``(list name, its entries as member name -> undecoded value)``, either spelling;
    read from the section's own bytes when load kept them (one scan), else from its
    split members.
    """
    import msgspec

    wanted = [k for k in ENTRY_MEMBERS if k in SECTION_MEMBERS.get(sec.kind, ())]
    if not wanted:
        return []
    failures = (msgspec.DecodeError, RecursionError, UnicodeDecodeError)
    out: list[tuple[str, list[Any]]] = []
    if sec.text is not None and sec.complete is not None:
        dec = _ENTRY_DECODERS.get(sec.kind)
        if dec is None:
            from pdebug.model.camel import to_camel

            names = sorted({n for k in wanted for n in (k, to_camel(k))})
            entries = list[dict[str, msgspec.Raw]] | None
            tp = msgspec.defstruct(
                f"EntryLists_{sec.kind}",
                [(f"f_{n}", entries, msgspec.field(default=None, name=n)) for n in names],
                gc=False,
            )
            dec = _ENTRY_DECODERS[sec.kind] = msgspec.json.Decoder(tp, strict=False)
        try:
            lists = dec.decode(sec.text)
        except failures:
            lists = None  # any other shape: read from the split members below
        if lists is not None:
            for name, value in msgspec.structs.asdict(lists).items():
                if value:
                    out.append((_snake(name[2:]), value))
            return out
    list_of = msgspec.json.Decoder(list[dict[str, msgspec.Raw]], strict=False)
    for key in wanted:
        raw = sec.raw(key)
        if raw is None:
            continue
        try:
            out.append((key, list_of.decode(raw)))
        except failures:
            continue  # not a list of objects: its readers say so
    return out


def _snake(key: str) -> str:
    from pdebug.model.camel import to_snake

    return to_snake(key)


def _entry_name(item: dict[str, Any]) -> str:
    """An entry's ``name`` (a dynamic listener's), if it is a plain string."""
    import msgspec

    raw = item.get("name")
    if raw is None:
        return ""
    try:
        name = msgspec.json.decode(raw)
    except (msgspec.DecodeError, RecursionError, UnicodeDecodeError):
        return ""
    return printable(name) if isinstance(name, str) else ""


def unread_lines(types: list[tuple[str, int]], members: list[str]) -> list[str]:
    """What :func:`unread` and :func:`unread_members` found, one printable line each.

    ``section acme.mesh.PolicyConfigDump (1 entry)``; a member as it was said. For
    ``check``'s "Not checked" lines and the report's summary.
    """
    lines = []
    for type_url, count in types:
        entries = "1 entry" if count == 1 else f"{count} entries"
        lines.append(f"section {printable(short_type(type_url))} ({entries})")
    return lines + [printable(what) for what in members]


def unread_member_notes(
    dump: ConfigDump, kinds: tuple[str, ...] = (), *, read_only: bool = False
) -> list[str]:
    """:func:`unread_members` as stderr lines."""
    return [
        f"note: {printable(what)} is not read by pdebug; `pdebug all -o json` keeps it"
        for what in unread_members(dump, kinds, read_only=read_only)
    ]
