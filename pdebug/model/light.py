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

from typing import TYPE_CHECKING, Any

import msgspec

from pdebug.model import schema as s
from pdebug.model.camel import SENTINEL, variant
from pdebug.model.clusters import destination_rule_name

if TYPE_CHECKING:
    from pdebug.model.dump import ConfigDump

#: ``Section._cache`` key of a section's light clusters (a :class:`LightClusters`).
CLUSTERS_KEY = ("light", "clusters")


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


def _section_type() -> Any:
    entry = variant(LightClusterEntry, "snake")
    full = variant(s.ClusterEntry, "snake")
    keys = ("static_clusters", "dynamic_active_clusters", "dynamic_warming_clusters")
    fields: list[Any] = [("type_url", str, msgspec.field(default="", name="@type"))]
    for k in keys:
        item = full if k == "dynamic_warming_clusters" else entry
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
    return msgspec.defstruct("LightClustersSection", fields, gc=False, module=__name__)


_DECODER: list[msgspec.json.Decoder[Any]] = []


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
    return LightClusters(
        sec.static_clusters or [],
        sec.dynamic_active_clusters or [],
        sec.dynamic_warming_clusters or [],
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
    # The warming list was decoded with its full type: it is the full decode's.
    sec._cache[("dynamic_warming_clusters", list[s.ClusterEntry])] = found.dynamic_warming_clusters
    if sec.release is not None:
        sec.release()
    return found
