"""Parse an Envoy admin ``/config_dump`` once, lazily, by section.

Loading scans the document a single time to split it into sections (found by their
``@type``, never by position) whose fields stay undecoded (:class:`msgspec.Raw`).
A view then decodes just the section fields it reads, with the typed partial schema
of :mod:`pdebug.model.schema`: everything else is skipped at C speed. ``-o json``
decodes the selected resources generically, as they are in the dump.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import msgspec
import orjson

from pdebug.errors import InvalidInput, MissingSection
from pdebug.model import schema as s
from pdebug.model.camel import camel_twin, snake_keys

T = TypeVar("T")

#: ``...ConfigDump`` message name -> pdebug's section kind. v2 admin types
#: (``envoy.admin.v2alpha.ClustersConfigDump``) share the message names.
SECTION_KINDS: dict[str, str] = {
    "BootstrapConfigDump": "bootstrap",
    "ClustersConfigDump": "clusters",
    "EcdsConfigDump": "ecds",
    "ListenersConfigDump": "listeners",
    "ScopedRoutesConfigDump": "scoped_routes",
    "RoutesConfigDump": "routes",
    "SecretsConfigDump": "secrets",
    "EndpointsConfigDump": "endpoints",
}
KIND_TYPE_URL = {
    kind: f"type.googleapis.com/envoy.admin.v3.{msg}" for msg, kind in SECTION_KINDS.items()
}

_DECODERS: dict[tuple[Any, bool], msgspec.json.Decoder[Any]] = {}


def decoder(tp: Any, camel: bool) -> msgspec.json.Decoder[Any]:
    """A cached, lenient decoder for ``tp`` in the given key spelling."""
    key = (tp, camel)
    dec = _DECODERS.get(key)
    if dec is None:
        target = tp
        if camel:
            target = _camelize(tp)
        dec = msgspec.json.Decoder(target, strict=False)
        _DECODERS[key] = dec
    return dec


def _camelize(tp: Any) -> Any:
    origin = getattr(tp, "__origin__", None)
    if origin is list:
        return list[_camelize(tp.__args__[0])]  # type: ignore[misc]
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        return camel_twin(tp)
    return tp


def decode_raw(raw: msgspec.Raw, tp: type[T], camel: bool, what: str) -> T:
    """Decode one Raw subtree; a type clash becomes :class:`InvalidInput` naming ``what``."""
    try:
        result: T = decoder(tp, camel).decode(raw)
    except msgspec.ValidationError as exc:
        raise InvalidInput(
            f"{what}: unexpected value ({exc})",
            hint="the dump may be damaged or from an unsupported Envoy version",
        ) from None
    return result


def _to_camel_key(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


@dataclass
class Section:
    """One ``configs[]`` entry: its type URL and its undecoded top-level fields."""

    type_url: str
    kind: str  # "" when the type is unknown to pdebug (kept, never fatal)
    fields: dict[str, msgspec.Raw]
    index: int
    camel: bool = False
    _cache: dict[Any, Any] = field(default_factory=dict, repr=False)
    #: Set when the section came from a planned one-pass decode: call it to read the
    #: rest of the section's fields (see :func:`pdebug.model.load.load`).
    complete: Callable[[], None] | None = field(default=None, repr=False)

    def _ensure(self) -> None:
        if self.complete is not None:
            self.complete()

    @property
    def message(self) -> str:
        """The admin message name, e.g. ``ClustersConfigDump``."""
        return self.type_url.rsplit(".", 1)[-1]

    def raw(self, key: str) -> msgspec.Raw | None:
        """The Raw value of snake_case field ``key`` in whichever spelling the dump used."""
        self._ensure()
        raw = self.fields.get(key)
        if raw is None and self.camel:
            raw = self.fields.get(_to_camel_key(key))
        return raw

    def typed(self, key: str, tp: type[T], default: Callable[[], T], what: str) -> T:
        """Decode field ``key`` as ``tp`` (cached); ``default()`` when absent."""
        ck = (key, tp)
        if ck in self._cache:
            return self._cache[ck]  # type: ignore[no-any-return]
        raw = self.raw(key)
        value = default() if raw is None else decode_raw(raw, tp, self.camel, what)
        self._cache[ck] = value
        return value

    def generic(self, key: str) -> Any:
        """Field ``key`` decoded as plain JSON data (as in the dump), cached."""
        ck = ("generic", key)
        if ck not in self._cache:
            raw = self.raw(key)
            self._cache[ck] = None if raw is None else orjson.loads(bytes(raw))
        return self._cache[ck]

    def plain(self) -> dict[str, Any]:
        """The whole section as plain JSON data, ``@type`` first, as in the dump."""
        self._ensure()
        out: dict[str, Any] = {"@type": self.type_url}
        for key in self.fields:
            out[key] = self.generic(key)
        return out


@dataclass(frozen=True)
class Ref:
    """Where a typed resource sits in the dump, to print it as it is."""

    section: Section
    key: str
    index: int
    path: tuple[str, ...] = ()

    def resolve(self) -> Any:
        """The resource as plain JSON data, exactly as in the dump."""
        value = self.section.generic(self.key)[self.index]
        for step in self.path:
            if not isinstance(value, dict):
                return None
            value = value.get(step, value.get(_to_camel_key(step)))
        return value


@dataclass
class Entries(Generic[T]):
    """The typed items of one section field, and how to point back at each of them."""

    section: Section | None
    key: str
    items: list[T]

    def ref(self, index: int, *path: str) -> Ref:
        """Where ``items[index]`` (or a field ``path`` inside it) sits in the dump."""
        assert self.section is not None
        return Ref(self.section, self.key, index, path)


#: The entry type of each list-valued section field, as the typed accessors decode it.
#: ``load(..., plan=keys)`` decodes these straight from the document in one pass.
KEY_TYPES: dict[str, type[msgspec.Struct]] = {
    "static_clusters": s.ClusterEntry,
    "dynamic_active_clusters": s.ClusterEntry,
    "dynamic_warming_clusters": s.ClusterEntry,
    "static_listeners": s.StaticListener,
    "dynamic_listeners": s.DynamicListener,
    "static_route_configs": s.RouteConfigEntry,
    "dynamic_route_configs": s.RouteConfigEntry,
    "static_endpoint_configs": s.EndpointConfigEntry,
    "dynamic_endpoint_configs": s.EndpointConfigEntry,
    "static_secrets": s.SecretEntry,
    "dynamic_active_secrets": s.SecretEntry,
    "dynamic_warming_secrets": s.SecretEntry,
    "ecds_filters": s.EcdsEntry,
}

#: The section kind whose field each planned key is.
KEY_KINDS = {
    "static_clusters": "clusters",
    "dynamic_active_clusters": "clusters",
    "dynamic_warming_clusters": "clusters",
    "static_listeners": "listeners",
    "dynamic_listeners": "listeners",
    "static_route_configs": "routes",
    "dynamic_route_configs": "routes",
    "static_endpoint_configs": "endpoints",
    "dynamic_endpoint_configs": "endpoints",
    "static_secrets": "secrets",
    "dynamic_active_secrets": "secrets",
    "dynamic_warming_secrets": "secrets",
    "ecds_filters": "ecds",
}


class ConfigDump:
    """A parsed ``/config_dump``: sections by kind, typed accessors that decode lazily."""

    def __init__(self, sections: list[Section], source: str) -> None:
        self.sections = sections
        self.source = source

    # -- sections ----------------------------------------------------------------------

    def section(self, kind: str) -> Section | None:
        """The section of ``kind``; the last one wins when repeated (as in istioctl)."""
        found = None
        for sec in self.sections:
            if sec.kind == kind:
                found = sec
        return found

    def sections_of(self, kind: str) -> list[Section]:
        """Every section of ``kind``, in dump order."""
        return [sec for sec in self.sections if sec.kind == kind]

    def require(self, kind: str) -> Section:
        """The section of ``kind``, or :class:`MissingSection` saying how to get it."""
        sec = self.section(kind)
        if sec is None:
            hint = "capture the full dump: curl -s localhost:15000/config_dump > dump.json"
            if kind == "endpoints":
                hint = "capture with EDS: curl -s 'localhost:15000/config_dump?include_eds'"
            raise MissingSection(
                f"{self.source}: the dump has no {kind} section ({KIND_TYPE_URL[kind]})",
                hint=hint,
            )
        return sec

    def assume_empty(self, kinds: tuple[str, ...]) -> None:
        """Add an empty section for each of ``kinds`` the dump lacks.

        A live fetch with a mask only returns the sections that have the masked fields,
        so a missing section there means "none", not "not captured".
        """
        for kind in kinds:
            if self.section(kind) is None:
                self.sections.append(Section(KIND_TYPE_URL[kind], kind, {}, len(self.sections)))

    def has(self, kind: str) -> bool:
        """Whether the dump carries a section of ``kind``."""
        return self.section(kind) is not None

    def _entries(self, kind: str, key: str, tp: type[T]) -> Entries[T]:
        assert KEY_TYPES.get(key, tp) is tp
        sec = self.section(kind)
        if sec is None:
            return Entries(None, key, [])
        items = sec.typed(key, list[tp], list, f"{self.source}: {key}")  # type: ignore[valid-type]
        return Entries(sec, key, items)

    # -- typed accessors ---------------------------------------------------------------

    def cluster_entries(self, key: str) -> Entries[s.ClusterEntry]:
        """``static_clusters``, ``dynamic_active_clusters`` or ``dynamic_warming_clusters``."""
        return self._entries("clusters", key, s.ClusterEntry)

    def dynamic_listeners(self) -> Entries[s.DynamicListener]:
        """``dynamic_listeners[]``, including name-less error-only entries.

        A v2alpha dump (Envoy <= 1.14) lists its dynamic listeners per state instead
        (``dynamic_active_listeners`` ...): those are folded in (see :func:`_v2alpha_listeners`).
        """
        found = self._entries("listeners", "dynamic_listeners", s.DynamicListener)
        if found.items or found.section is None:
            return found
        return _v2alpha_listeners(found.section, self.source) or found

    def static_listeners(self) -> Entries[s.StaticListener]:
        """``static_listeners[]``."""
        return self._entries("listeners", "static_listeners", s.StaticListener)

    def route_entries(self, key: str) -> Entries[s.RouteConfigEntry]:
        """``dynamic_route_configs`` or ``static_route_configs``."""
        return self._entries("routes", key, s.RouteConfigEntry)

    def endpoint_entries(self, key: str) -> Entries[s.EndpointConfigEntry]:
        """``dynamic_endpoint_configs`` or ``static_endpoint_configs``."""
        return self._entries("endpoints", key, s.EndpointConfigEntry)

    def secret_entries(self, key: str) -> Entries[s.SecretEntry]:
        """``static_secrets``, ``dynamic_active_secrets`` or ``dynamic_warming_secrets``."""
        return self._entries("secrets", key, s.SecretEntry)

    def ecds_entries(self) -> list[tuple[Ref, s.EcdsEntry]]:
        """``ecds_filters[]`` of every ECDS section, concatenated in dump order."""
        out: list[tuple[Ref, s.EcdsEntry]] = []
        for sec in self.sections_of("ecds"):
            items = sec.typed("ecds_filters", list[s.EcdsEntry], list, f"{self.source}: ecds")
            out.extend((Ref(sec, "ecds_filters", i), e) for i, e in enumerate(items))
        return out

    def bootstrap(self) -> dict[str, Any]:
        """The bootstrap section's ``bootstrap`` message as snake_case plain data."""
        sec = self.require("bootstrap")
        value = snake_keys(sec.generic("bootstrap"))
        return value if isinstance(value, dict) else {}


# --- v2alpha listeners (Envoy <= 1.14; kept apart from the decoding machinery above) ----

#: v2alpha ``ListenersConfigDump`` fields, one per state, each a list of
#: ``{version_info, listener, last_updated}``, and the v3 state each becomes.
V2ALPHA_LISTENER_KEYS = (
    ("dynamic_active_listeners", "active_state"),
    ("dynamic_warming_listeners", "warming_state"),
    ("dynamic_draining_listeners", "draining_state"),
)


@dataclass
class FoldedEntries(Entries[s.DynamicListener]):
    """v2alpha listeners as v3 ``dynamic_listeners`` entries; refs point at the v2 ones."""

    origins: list[tuple[str, int]] = field(default_factory=list)

    def ref(self, index: int, *path: str) -> Ref:
        """Where ``items[index]`` sits: ``active_state.listener`` -> ``[i].listener``."""
        assert self.section is not None
        key, at = self.origins[index]
        if path and path[0].endswith("_state"):
            path = path[1:]
        return Ref(self.section, key, at, path)


def _v2alpha_listeners(sec: Section, source: str) -> FoldedEntries | None:
    items: list[s.DynamicListener] = []
    origins: list[tuple[str, int]] = []
    for key, state in V2ALPHA_LISTENER_KEYS:
        entries = sec.typed(key, list[s.ListenerState], list, f"{source}: {key}")
        for i, st in enumerate(entries):
            name = st.listener.name if st.listener is not None else ""
            entry = s.DynamicListener(name=name)
            setattr(entry, state, st)
            items.append(entry)
            origins.append((key, i))
    if not items:
        return None
    return FoldedEntries(sec, "dynamic_listeners", items, origins)


_CAMEL_KEY = re.compile(rb'"[a-z][a-z0-9]*[A-Z][A-Za-z0-9]*"\s*:')
_SNAKE_KEY = re.compile(rb'"[a-z][a-z0-9]*_[a-z0-9_]+"\s*:')
_SAMPLE = 16384


def camel_section(fields: dict[str, msgspec.Raw]) -> bool:
    """Whether a section is spelled lowerCamelCase (istiod / istioctl output).

    Section keys and a sample of the content vote (istioctl's test dumps mix snake
    section keys with camel content).
    """
    camel = snake = 0
    for key in fields:
        if "_" in key:
            snake += 1
        elif not key.islower():
            camel += 1
    for raw in fields.values():
        sample = memoryview(raw)[:_SAMPLE].tobytes()
        camel += len(_CAMEL_KEY.findall(sample))
        snake += len(_SNAKE_KEY.findall(sample))
    return camel > snake
