"""Light decodes: a section read for one table, only as far as its cells need (#17).

The clusters table shows each cluster's name, type and DESTINATION RULE (the ``config``
of its ``filter_metadata.istio``). The full decode (:data:`pdebug.model.dump.KEY_TYPES`)
keeps every ``filter_metadata`` value as raw bytes, which the table then copies and
decodes again, cluster by cluster. The light decode reads ``istio.config`` in the same
pass, without a raw copy and a second decode per cluster.

It never changes an answer, because it is *at least as strict* as the full decode:

* every field the full schema declares is declared here with the same type (so the
  same values are refused: a wrong type anywhere in a cluster, or a key in the other
  spelling, through the same sentinels, :func:`pdebug.model.camel.variant`), except
  the values of ``metadata.filter_metadata``, which the full decode takes whatever
  they are, and which must be objects or null here (only ``istio``'s is read);
* the section's other planned list, ``dynamic_warming_clusters``, is decoded with the
  full type, so the light decode succeeds only where the full one of the whole section
  would.

When it does not succeed (mixed spellings, a wrong type, a resource the full decode
would skip with a warning, bytes that are not JSON...), the caller decodes the section
as before, and says what it says: the light decode is only ever a shortcut to the same
table.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import msgspec

from pdebug.model import schema as s
from pdebug.model.camel import SENTINEL, variant
from pdebug.model.clusters import LIGHT_KEY, destination_rule_name

if TYPE_CHECKING:
    from pdebug.model.dump import ConfigDump

#: ``Section._cache`` key of a section's light clusters (a :class:`LightClusters`).
CLUSTERS_KEY = LIGHT_KEY


class IstioConfig(s._S):
    """``filter_metadata.istio``: only its ``config`` (a DestinationRule's path)."""

    config: Any = None


class LightMetadata(s._S):
    """A cluster's ``metadata``: ``filter_metadata`` maps a filter's name to a Struct.

    Each value is read as :class:`IstioConfig` (only ``istio``'s is used): an object
    (or null) whose other keys are skipped, as the full decode's raw value skips them.
    The map's keys are decoded (checked) as the full decode's ``dict`` keys are.
    """

    filter_metadata: dict[str, IstioConfig | None] = {}


def _like(cls: type[msgspec.Struct], name: str, changed: dict[str, Any]) -> Any:
    """``cls``'s fields with the same types and defaults, but ``changed``."""
    spec: list[Any] = []
    for f in msgspec.structs.fields(cls):
        assert f.encode_name == f.name  # no field renamed: the wire names are the same
        if f.name in changed:
            spec.append((f.name, *changed[f.name]))
        elif f.default is not msgspec.NODEFAULT:
            spec.append((f.name, f.type, f.default))
        elif f.default_factory is not msgspec.NODEFAULT:
            spec.append((f.name, f.type, msgspec.field(default_factory=f.default_factory)))
        else:  # pragma: no cover - every schema field has a default
            spec.append((f.name, f.type))
    return msgspec.defstruct(name, spec, bases=(s._S,), module=__name__)


#: :class:`pdebug.model.schema.Cluster` as the table reads it.
LightCluster = _like(
    s.Cluster,
    "LightCluster",
    {"metadata": (LightMetadata | None, None)},
)
#: :class:`pdebug.model.schema.ClusterEntry` with a :data:`LightCluster`.
LightClusterEntry = _like(
    s.ClusterEntry,
    "LightClusterEntry",
    {"cluster": (LightCluster, msgspec.field(default_factory=LightCluster))},
)


def _section_type(part: str = "whole") -> Any:
    """The light section type; ``part``: ``whole``, or a half of a split (:func:`split_rows`).

    ``head``: the section up to a boundary between two active clusters, closed by a null
    element (its active list may hold it). ``tail``: the rest of the active list under the
    key U+0001 (``pd_rest``), then the section's own fields: each UNSET when absent.
    """
    entry = variant(LightClusterEntry, "snake")
    full = variant(s.ClusterEntry, "snake")
    keys = ("static_clusters", "dynamic_active_clusters", "dynamic_warming_clusters")
    fields: list[Any] = []
    if part == "tail":
        fields.append(
            (
                "type_url",
                str | msgspec.UnsetType,
                msgspec.field(default=msgspec.UNSET, name="@type"),
            )
        )
        fields.append(
            (
                "pd_rest",
                list.__class_getitem__(entry),
                msgspec.field(default_factory=list, name=_REST_KEY),
            )
        )
    else:
        fields.append(("type_url", str, msgspec.field(default="", name="@type")))
    for k in keys:
        item: Any = full if k == "dynamic_warming_clusters" else entry
        if part == "head" and k == "dynamic_active_clusters":
            item = item | None
        if part == "tail":
            fields.append(
                (k, list.__class_getitem__(item) | None | msgspec.UnsetType, msgspec.UNSET)
            )
        else:
            fields.append((k, list.__class_getitem__(item) | None, None))
    # The lowerCamelCase spelling of a list is refused, as the planned decoders do.
    fields += [
        (f"pd_sentinel__{k}", SENTINEL, msgspec.field(default=msgspec.UNSET, name=c))
        for k, c in zip(
            keys,
            ("staticClusters", "dynamicActiveClusters", "dynamicWarmingClusters"),
            strict=True,
        )
    ]
    name = "LightClustersSection" + ("" if part == "whole" else part.title())
    # Any member Envoy does not write refuses the section (or either part of a split
    # one), as the planned decoders' strict sections do (load._strict_section), so the
    # light decode too says the section holds no member pdebug does not know
    # (Section.members_known), split or not.
    from pdebug.model.camel import to_camel
    from pdebug.model.sections import SECTION_MEMBERS

    others = sorted({m for ms in SECTION_MEMBERS.values() for m in ms} - set(keys))
    fields += [
        (f"pd_member__{n}", msgspec.Raw, msgspec.field(default=msgspec.Raw(), name=n))
        for n in sorted({n for m in others for n in (m, to_camel(m))})
    ]
    return msgspec.defstruct(name, fields, gc=False, module=__name__, forbid_unknown_fields=True)


_DECODER: list[msgspec.json.Decoder[Any]] = []
#: The decoders of a split section's two parts (:func:`split_rows`), made on first use.
_PART_DECODERS: dict[str, msgspec.json.Decoder[Any]] = {}


class LightClusters(msgspec.Struct, gc=False):
    """A clusters section's lists as the light decode read them (None: absent or null)."""

    static_clusters: list[Any]
    dynamic_active_clusters: list[Any]
    dynamic_warming_clusters: list[s.ClusterEntry]


def decode_clusters(raw: Any, type_url: str) -> LightClusters | None:
    """The light clusters of one section's JSON text, or None: decode it fully instead.

    None for anything the full decode would not take as it is (see the module
    docstring), and for a section whose ``@type`` is not ``type_url``.
    """
    if not _DECODER:
        _DECODER.append(msgspec.json.Decoder(_section_type(), strict=False))
    try:
        sec = _DECODER[0].decode(raw)
    except (msgspec.DecodeError, RecursionError, MemoryError, UnicodeDecodeError):
        return None
    if sec.type_url != type_url:
        return None
    if _placeholder(sec.static_clusters) or _placeholder(sec.dynamic_active_clusters):
        return None
    return LightClusters(
        sec.static_clusters or [],
        sec.dynamic_active_clusters or [],
        sec.dynamic_warming_clusters or [],
    )


def _placeholder(entries: Any) -> bool:
    """Whether an entry holds neither a named cluster nor an ``error_state``.

    The full decode skips such an entry with a warning (``ConfigDump.cluster_entries``):
    the light decode must not take the section then.
    """
    return any(
        e is not None and not e.cluster.name and e.error_state == s.NULL for e in entries or ()
    )


def destination_rule(cluster: Any) -> str:
    """DESTINATION RULE of a light cluster: :func:`pdebug.views.common.istio_config_ref`."""
    md = cluster.metadata
    if md is None:
        return ""
    istio = md.filter_metadata.get("istio")
    if istio is None:
        return ""
    return destination_rule_name(istio.config)


_LISTS = frozenset({"static_clusters", "dynamic_active_clusters", "dynamic_warming_clusters"})


def clusters_of(dump: ConfigDump) -> LightClusters | None:
    """The light clusters of the section the clusters views read, or None: read it fully.

    From the planned load (:func:`pdebug.model.load.light_tables`), or decoded now from
    the section's own bytes when no full list of it has been decoded yet (``pdebug all``
    reads each section on first use). A section read otherwise (another layout, a live
    answer) is None.
    """
    sec = dump.section("clusters")
    if sec is None:
        return None
    found: LightClusters | None = sec._cache.get(CLUSTERS_KEY)
    if found is not None or sec.text is None or sec.fast is None:
        return found
    if any(isinstance(k, tuple) and k[0] in _LISTS for k in sec._cache):
        return None  # decoded fully already: the table reads those
    found = decode_clusters(sec.text, sec.type_url)
    if found is None:
        return None
    sec._cache[CLUSTERS_KEY] = found
    sec.members_known = True  # the light decode refuses members Envoy does not write
    # The warming list was decoded with its full type: it is the full decode's.
    sec._cache[("dynamic_warming_clusters", list[s.ClusterEntry])] = found.dynamic_warming_clusters
    if sec.release is not None:
        sec.release()
    return found


# --- the clusters table's rows from two halves of the section at once (#17) ------------

#: ``Section._cache`` key of the rows :func:`split_rows` made at load.
ROWS_KEY = ("light", "rows")

#: Below this many bytes of clusters section, :func:`split_rows` does not fork (unless
#: ``PDEBUG_JOBS`` asks for workers): about 0.035 s of light decode and rows on one CPU.
SPLIT_MIN_BYTES = 24 << 20

#: The name the tail's active clusters are decoded under: U+10FFFF. Its UTF-8 is the only
#: spelling without a backslash, and the only one with a byte F4 (a character of plane 16,
#: which Envoy's dumps do not hold): a tail with neither byte has no name it could match.
_REST_KEY = "\U0010ffff"
_REST_OPEN = b'{"' + _REST_KEY.encode() + b'":['
_HEAD_CLOSE = b",null]}"
#: A boundary between two entries of the active list as Envoy writes them (a guess:
#: the head's decode proves it, see :func:`split_rows`). Group 1 is the comma. Compiled
#: on first use (``re`` keeps it): most runs never cut a section.
_BOUNDARY = rb'\}[ \t\n\r]*(,)[ \t\n\r]*\{[ \t\n\r]*"version_info"'

_Rows = Callable[[list[Any]], list[Any]]

#: Where the cut is looked for, as a share of the section: the head (decoded here) gets a
#: little more than half, because the worker also scans its part for backslashes and
#: sends its rows back (5k bench dump, CPU s: at 0.5 the head took 0.063 and the worker
#: 0.083, at 0.55 0.072 and 0.075).
_HEAD_SHARE = 0.56


class SplitRows(msgspec.Struct, gc=False):
    """The rows :func:`split_rows` made, as the load hands them to the section."""

    rows: list[Any]


def rows_of(dump: ConfigDump) -> list[Any] | None:
    """The rows the load made of the clusters section (:func:`split_rows`), or None."""
    sec = dump.section("clusters")
    return None if sec is None else sec._cache.get(ROWS_KEY)


def split_rows(data: Any, start: int, stop: int, type_url: str, rows: _Rows) -> list[Any] | None:
    r"""``rows(active) + rows(static)`` of the light clusters of ``data[start:stop]``, or None.

    The section is cut at a boundary between two active clusters, and its two parts are
    decoded and made into rows at once, one in a forked worker
    (:func:`pdebug.parallel.fork_map`): the same rows as :func:`decode_clusters` then
    ``rows`` of each list, or None (nothing forked, or a part refused: decode it whole, as
    without this). ``rows(a + b)`` must be ``rows(a) + rows(b)``, its results what
    ``marshal`` writes.

    Why the parts mean the section: with ``p`` the comma cut at,

    * the head is ``text[:p] + ",null]}"``. It decodes only if ``p`` is between two
      elements of an array directly in the section object (a comma inside a string, or
      deeper, leaves it unclosed), and the null lands at the end of the active list only
      if that array is the active list (the last one in the head's text: the one open
      at ``p``); a null anywhere else, or none there, refuses the split;
    * the tail is ``{"U+10FFFF":[`` + ``text[p + 1:]``: the rest of that array, then the
      section's fields after it, read as the whole decode reads them (the last of a
      repeated name wins: a field the tail holds is the tail's, else the head's). A
      backslash or a byte F4 in the tail's text refuses the split (a name that could be
      read as the tail's own, replacing it, needs one or the other);
    * every byte of the section is decoded by one part or the other, with the light
      decode's types: the parts both decode only where the whole would.

    A writable buffer (the memory-mapped file, private to this process) is patched in
    place for a part's decode and restored; a read-only one is copied.
    """
    from pdebug import parallel

    # The estimate fork_map weighs against MIN_WORK: this section's size against ours.
    work = (stop - start) / SPLIT_MIN_BYTES * parallel.MIN_WORK
    if parallel.jobs(work) < 2:
        return None
    text = memoryview(data)[start:stop]
    boundary = re.compile(_BOUNDARY)
    cut = boundary.search(text, int(len(text) * _HEAD_SHARE)) or boundary.search(text)
    if cut is None:
        return None
    p = cut.start(1)
    if p < len(_REST_OPEN):  # the tail's opening is written over the bytes before it
        return None

    def head() -> Any:
        return _head_rows(data, start, start + p, type_url, rows)

    def tail() -> Any:
        return _tail_rows(data, start + p + 1, stop, rows)

    # The head here, the tail in a worker (it also sends its rows back).
    share = p / len(text)
    got = parallel.fork_map([head, tail], [work * share, work * (1 - share)], here=(0,))
    first, rest = got
    if first is None or rest is None:
        return None
    active, static, at_type = first
    r_type, r_rest, r_active, r_static = rest
    if (r_type if r_type is not None else at_type) != type_url:
        return None
    if r_active is not None:  # named again after the cut: the last one is the list
        active = r_active[0]
    else:
        active = active + r_rest
    if r_static is not None:
        static = r_static[0]
    made: list[Any] = active + static
    return made


def _decoded(data: Any, lo: int, hi: int, at: int, patch: bytes, part: str) -> Any:
    """``part``'s decoder over ``data[lo:hi]`` with ``patch`` written at ``at``; None: refused."""
    decoder = _PART_DECODERS.get(part)
    if decoder is None:
        decoder = _PART_DECODERS[part] = msgspec.json.Decoder(_section_type(part), strict=False)
    view = memoryview(data)
    try:
        if view.readonly:
            if at == lo:
                text: Any = b"".join((patch, view[lo + len(patch) : hi]))
            else:
                text = b"".join((view[lo:at], patch))
            return decoder.decode(text)
        kept = bytes(view[at : at + len(patch)])
        view[at : at + len(patch)] = patch
        try:
            return decoder.decode(view[lo:hi])
        finally:
            view[at : at + len(patch)] = kept
    except (msgspec.DecodeError, RecursionError, MemoryError, UnicodeDecodeError):
        return None


def _find(data: Any, needle: bytes, lo: int, hi: int) -> int:
    """``data.find(needle, lo, hi)`` over the input's own object (a memory map: no copy)."""
    base: Any = data.obj if isinstance(data, memoryview) else data
    if hasattr(base, "find") and len(base) == len(data):
        return int(base.find(needle, lo, hi))
    at = bytes(memoryview(data)[lo:hi]).find(needle)
    return at if at < 0 else lo + at


def _head_rows(data: Any, start: int, p: int, type_url: str, rows: _Rows) -> Any:
    """(active rows, static rows, @type) of the head ``data[start:p] + ",null]}"``, or None."""
    sec = _decoded(data, start, p + len(_HEAD_CLOSE), p, _HEAD_CLOSE, "head")
    if sec is None:
        return None
    active = sec.dynamic_active_clusters
    if not active or active[-1] is not None or None in active[:-1]:
        return None  # the cut is not between two active clusters (or a null cluster)
    if _placeholder(active) or _placeholder(sec.static_clusters):
        return None
    return rows(active[:-1]), rows(sec.static_clusters or []), sec.type_url


def _tail_rows(data: Any, after: int, stop: int, rows: _Rows) -> Any:
    """(@type, rest rows, (active rows) | None, (static rows) | None) of the tail, or None.

    None where the tail's text holds a backslash or a byte F4 (a name written so could be
    the tail's own, and replace it), as for a part that does not decode.
    """
    if _find(data, b"\\", after, stop) >= 0 or _find(data, b"\xf4", after, stop) >= 0:
        return None
    lo = after - len(_REST_OPEN)
    sec = _decoded(data, lo, stop, lo, _REST_OPEN, "tail")
    if sec is None:
        return None

    for part in (sec.pd_rest, sec.dynamic_active_clusters, sec.static_clusters):
        if part is not msgspec.UNSET and _placeholder(part):
            return None

    def given(value: Any) -> Any:
        # UNSET: not after the cut (the head's holds); null is an empty list, as whole
        return None if value is msgspec.UNSET else (rows(value or []),)

    at_type = None if sec.type_url is msgspec.UNSET else sec.type_url
    return (
        at_type,
        rows(sec.pd_rest),
        given(sec.dynamic_active_clusters),
        given(sec.static_clusters),
    )
