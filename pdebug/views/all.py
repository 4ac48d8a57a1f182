"""``pdebug all``: every summary table, each name prefixed with its kind (istioctl ``pc all``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

from pdebug.errors import MissingSection
from pdebug.model import ProxyData
from pdebug.model.dump import ConfigDump, Section
from pdebug.model.sections import (
    SECTION_MEMBERS,
    holds_no_clusters,
    none_when_absent,
    unread_member_notes,
)
from pdebug.views import bootstrap, clusters, endpoints, listeners, routes, secrets
from pdebug.views.result import Listing, RawObject, ViewResult
from pdebug.views.table import Column, Lines, Rendered, Stack, Table


def _clusters(data: ProxyData, flt: clusters.ClusterFilter, wide: bool) -> Table:
    if flt.empty and not wide:
        return _plain_clusters(data)
    return _general_clusters(data, flt, wide)


def _general_clusters(data: ProxyData, flt: clusters.ClusterFilter, wide: bool) -> Table:
    base = clusters.view(data, flt, wide)
    assert isinstance(base.table, Table)
    table = Table((Column("NAME"), *base.table.columns))
    rows = clusters.select(data, flt, include_warming=wide)
    for row, cells in zip(rows, base.table.rows, strict=True):
        name = row.entry.cluster.name
        if not row.key.istio:
            cells = (f"cluster/{name}", *cells[1:])
        # istioctl drops the NAME cell of a cluster without a name
        table.rows.append((f"cluster/{name}", *cells) if name else cells)
    return table


def _plain_clusters(data: ProxyData) -> Table:
    """:func:`_clusters` without filters or ``-o wide``, from the clusters table's fast path."""
    table = Table((Column("NAME"), *clusters.COLUMNS))
    rows = table.rows
    for name, cells in clusters.plain_named_rows(data):
        named = f"cluster/{name}"
        if cells[1] == "-":  # not an Istio name (an Istio one has a port): NAME twice
            cells = (named, *cells[1:])
        # istioctl drops the NAME cell of a cluster without a name
        rows.append((named, *cells) if name else cells)
    return table


def _listeners(
    data: ProxyData, flt: listeners.ListenerFilter, wide: bool, verbose: bool = True
) -> Table:
    if not verbose:  # istioctl pc all --verbose=false: one row per listener, named
        table = Table((Column("NAME"), *listeners.SHORT_COLUMNS), padding=1)
        for row in listeners.select(data, flt, include_inactive=wide):
            table.rows.append(
                (
                    f"listener/{row.listener.name}",
                    ",".join(row.addresses),
                    listeners.port_cell(row, wide),
                    row.type,
                )
            )
        return table
    base = listeners.view(data, flt, wide)
    assert isinstance(base.table, Table)
    cols = [c for c in base.table.columns if c.name != "NAME"]
    table = Table((Column("NAME"), *cols), padding=1)
    for cells in base.table.rows:
        table.rows.append((f"listener/{cells[0]}", *cells[1:]))
    return table


def view(
    data: ProxyData,
    cluster_filter: clusters.ClusterFilter,
    listener_filter: listeners.ListenerFilter,
    endpoint_filter: endpoints.EndpointFilter,
    wide: bool = False,
    with_titles: bool = False,
    structured: bool = False,
    route_filter: routes.RouteFilter | None = None,
    verbose: bool = True,
    rendered: bool = False,
) -> ViewResult:
    """Bootstrap, clusters, listeners, routes, secrets and EDS endpoints, in that order.

    A missing section is skipped and named in the note (istioctl stops instead).
    ``verbose`` False (istioctl's ``--verbose=false``): listeners one row each with their
    TYPE, routes one row each with their virtual-host count.
    ``structured`` (json/yaml, which print the whole dump): no table is built, and the
    sections are handed over one by one, undecoded (:class:`Listing`).
    ``rendered`` (``-o table|wide``): each part is rendered as text where it is built,
    in parallel when that pays (:func:`_rendered`); the text printed is the same.
    """
    dump = data.need_dump("pdebug all")
    rf = route_filter or routes.RouteFilter()
    if structured:
        result = _structured(data, dump)
        filtered = cluster_filter.empty and listener_filter.empty and endpoint_filter.empty
        if not (filtered and rf.empty):
            # istioctl's pc all -o json|yaml is the dump as read: the filters select rows
            told = (
                "-o json/yaml print the whole dump, as istioctl does: --address, --port, "
                "--fqdn, --direction, --subset, --type and --name filter the tables only"
            )
            result.note = "\n".join(n for n in (told, result.note) if n)
        return result
    parts: list[tuple[str, Table | Lines]] = []
    missing: list[str] = []
    builders: list[tuple[str, str, Any]] = [
        ("BOOTSTRAP INFO", "bootstrap", lambda: bootstrap.view(data, wide).table),
        ("CLUSTER INFO", "clusters", lambda: _clusters(data, cluster_filter, wide)),
        ("LISTENER INFO", "listeners", lambda: _listeners(data, listener_filter, wide, verbose)),
        (
            "ROUTE INFO",
            "routes",
            lambda: routes.view(data, rf, wide, verbose, prefix="route/").table,
        ),
        ("SECRET INFO", "secrets", lambda: secrets.view(data, wide, prefix="secret/").table),
        (
            "ENDPOINTS INFO",
            "endpoints",
            lambda: endpoints.eds_view(data, endpoint_filter, prefix="endpoint/").table,
        ),
    ]
    if rendered:
        return _rendered(data, dump, builders, wide, with_titles)
    for title, kind, build in builders:
        if not dump.has(kind) and not none_when_absent(dump, kind):
            missing.append(kind)
            continue
        try:
            part = build()
        except MissingSection:
            missing.append(kind)
            continue
        if isinstance(part, Table) and kind in ("clusters", "listeners", "routes"):
            # istioctl prints the header of a table its filters emptied
            part.header_when_empty = True
        parts.append((title, part))
    note = _missing_note(dump, missing)
    if "endpoints" not in missing:  # EDS assignments without cluster_name: say whose
        said = endpoints.attribution_note(data)
        note = "\n".join(n for n in (note, said) if n) or None
    note = _with_members(note, unread_member_notes(dump))

    def objects() -> Any:
        return {"configs": [sec.plain() for sec in dump.sections]}

    return ViewResult(Stack(parts, with_titles), objects, note)


#: Estimated CPU seconds per byte of each section, building and rendering its table:
#: how :func:`_rendered` groups the parts over the CPUs. Relative costs measured on the
#: 5k bench dump (2026-12-07, PDEBUG_JOBS=1: clusters 0.14 s, endpoints 0.21, routes
#: 0.08, listeners 0.05, secrets 0.05), scaled so that they add up to what the earlier
#: figures did (0.86 s): :data:`pdebug.parallel.MIN_WORK` still forks from ~50 MB on.
_COST = {"clusters": 3.0e-9, "endpoints": 6.0e-9, "routes": 5.8e-9, "listeners": 11.3e-9}
_COST_OTHER = 10e-9
#: The secrets table also searches the listeners' and clusters' bytes for certificates
#: they take from a provider instance (:mod:`pdebug.model.certproviders`): per byte.
_SEARCH_COST = 0.9e-9


def _weight(dump: ConfigDump, kind: str) -> float:
    """:func:`_rendered`'s estimate of the CPU seconds ``kind``'s part takes."""
    own = dump.section_bytes(kind) * _COST.get(kind, _COST_OTHER)
    if kind == "secrets":
        searched = dump.section_bytes("clusters") + dump.section_bytes("listeners")
        own += searched * _SEARCH_COST
    return own


def _rendered(
    data: ProxyData,
    dump: ConfigDump,
    builders: list[tuple[str, str, Any]],
    wide: bool,
    with_titles: bool,
) -> ViewResult:
    """:func:`view`'s stack with each part rendered where it was built (in a child).

    Each part is one task of :func:`pdebug.parallel.fork_map`: build, render, and (the
    endpoints part) word the note about nameless EDS assignments, which needs the EDS
    section the part decoded. The text, the note and the missing kinds are the ones the
    parts give when built here.
    """
    from pdebug.parallel import fork_map
    from pdebug.render.text import render_text

    missing: list[str] = []
    present = []
    for title, kind, build in builders:
        if not dump.has(kind) and not none_when_absent(dump, kind):
            missing.append(kind)
        else:
            present.append((title, kind, build))

    def task(kind: str, build: Any) -> Any:
        def run() -> tuple[str, str | None, list[str]] | None:
            try:
                part = build()
            except MissingSection:
                return None
            if isinstance(part, Table) and kind in ("clusters", "listeners", "routes"):
                # istioctl prints the header of a table its filters emptied
                part.header_when_empty = True
            text = render_text(part, wide)
            del part
            # what its section holds that pdebug does not read: said where it was read
            # (a section decoded strictly is not read again to know it has nothing)
            members = unread_member_notes(dump, (kind,))
            if kind == "endpoints":  # EDS assignments without cluster_name: say whose
                return text, endpoints.attribution_note(data), members
            return text, None, members

        return run

    tasks = [task(kind, build) for _title, kind, build in present]
    weights = [_weight(dump, kind) for _t, kind, _b in present]
    parts: list[tuple[str, Table | Lines | Rendered]] = []
    said = None
    members: list[str] = []
    for (title, kind, _build), got in zip(present, fork_map(tasks, weights), strict=True):
        if got is None:
            missing.append(kind)
            continue
        parts.append((title, Rendered(got[0])))
        said = got[1] if kind == "endpoints" else said
        members += got[2]
    order = [kind for _title, kind, _build in builders]
    missing.sort(key=order.index)
    note = _missing_note(dump, missing)
    note = "\n".join(n for n in (note, said) if n) or None
    shown = tuple(kind for _title, kind, _build in present)
    others = tuple(k for k in SECTION_MEMBERS if k not in shown)  # ecds, scoped routes...
    note = _with_members(note, members + unread_member_notes(dump, others))

    def objects() -> Any:
        return {"configs": [sec.plain() for sec in dump.sections]}

    return ViewResult(Stack(parts, with_titles), objects, note)


def _with_members(note: str | None, members: list[str]) -> str | None:
    """``note`` and then the lines naming members pdebug does not read (each once)."""
    return "\n".join(n for n in (note, *dict.fromkeys(members)) if n) or None


def _missing_note(dump: ConfigDump, missing: list[str]) -> str | None:
    """What stderr says of the sections ``all`` skipped, or None."""
    if not missing:
        return None
    note = f"The dump has no {', '.join(missing)} section(s); skipped."
    if dump.pasted:
        note = (
            f"O{dump.only_pasted()[1:]} (no 'configs' wrapper): no "
            f"{', '.join(missing)} section(s); skipped."
        )
    if "endpoints" in missing and holds_no_clusters(dump):
        note += " The proxy has no clusters, so no endpoints."
    return note


def _note(data: ProxyData, dump: ConfigDump, missing: list[str]) -> str | None:
    note = _missing_note(dump, missing)
    if "endpoints" not in missing:  # EDS assignments without cluster_name: say whose
        said = endpoints.attribution_note(data)
        note = "\n".join(n for n in (note, said) if n) or None
    return note


def _raw_section(sec: Section) -> RawObject:
    def members() -> list[tuple[str, Any]]:
        sec._ensure()
        out: list[tuple[str, Any]] = [("@type", orjson.dumps(sec.type_url))]
        out.extend(sec.fields.items())
        return out

    lead = b'"@type":' + orjson.dumps(sec.type_url)
    return RawObject(members, sec.plain, sec.release, sec.text, lead, sec._ensure)


def _structured(data: ProxyData, dump: ConfigDump) -> ViewResult:
    """What json/yaml print: the whole dump, section by section; the same note."""
    missing = [kind for kind in _KINDS if not dump.has(kind) and not none_when_absent(dump, kind)]

    def objects() -> Any:
        return {"configs": [sec.plain() for sec in dump.sections]}

    def items() -> Iterator[Any]:
        # The renderers read every section's layout first (``RawObject.check``: a damaged
        # one is an error before anything is printed, as when the whole document was
        # decoded at once), or check its own text (``RawObject.text``); then each in turn.
        for sec in dump.sections:
            yield _raw_section(sec)

    return ViewResult(Stack([]), objects, _note(data, dump, missing), Listing("configs", items))


_KINDS = ("bootstrap", "clusters", "listeners", "routes", "secrets", "endpoints")
