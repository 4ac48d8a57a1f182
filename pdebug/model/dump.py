"""Parse an Envoy admin ``/config_dump`` once, lazily, by section.

Loading scans the document a single time to split it into sections (found by their
``@type``, never by position) whose fields stay undecoded (:class:`msgspec.Raw`).
A view then decodes just the section fields it reads, with the typed partial schema
of :mod:`pdebug.model.schema`: everything else is skipped at C speed. ``-o json``
decodes the selected resources generically, as they are in the dump.

One module over 500 lines because it is one lazy document: the single scan, the
sections it finds and the bounded decoding of their fields share the undecoded
(:class:`msgspec.Raw`) representation and its decoders; the facts read from it live in
the per-resource modules beside it.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import msgspec

from pdebug.errors import InvalidInput, MissingSection
from pdebug.model import schema as s
from pdebug.model.camel import MODES, Mode, convert, snake_keys, to_camel

T = TypeVar("T")
E = TypeVar("E")

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

_DECODERS: dict[tuple[Any, str], msgspec.json.Decoder[Any]] = {}


def decoder(tp: Any, mode: Mode | bool = "snake") -> msgspec.json.Decoder[Any]:
    """A cached, lenient decoder for ``tp`` in key spelling ``mode`` (see :mod:`.camel`).

    ``True``/``False`` (the old per-section flag) mean ``camel``/``snake``.
    """
    if isinstance(mode, bool):
        mode = "camel" if mode else "snake"
    key = (tp, mode)
    dec = _DECODERS.get(key)
    if dec is None:
        dec = msgspec.json.Decoder(convert(tp, mode), strict=False)
        _DECODERS[key] = dec
    return dec


#: What a decode of damaged bytes can raise, besides :class:`msgspec.DecodeError`.
DECODE_FAILURES = (msgspec.DecodeError, RecursionError, MemoryError, UnicodeDecodeError)


def decode_failure(exc: BaseException) -> str:
    """One line saying why bytes did not decode (``exc`` from :data:`DECODE_FAILURES`)."""
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    if isinstance(exc, MemoryError):
        return "too large to decode in the memory available"
    if isinstance(exc, UnicodeDecodeError):
        return "invalid UTF-8 in a string"
    text = str(exc)
    if "truncated" in text:
        return "the JSON is truncated (the capture was cut off)"
    if isinstance(exc, msgspec.ValidationError):
        return f"unexpected value ({sanitize(text)})"
    return f"invalid JSON ({sanitize(text)})"


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def sanitize(text: str) -> str:
    """``text`` with each control character escaped as a hex code (safe on a terminal)."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def _decode(raw: msgspec.Raw | bytes, tp: Any) -> Any:
    """Decode ``raw`` as ``tp`` in whichever spellings it uses, field by field.

    Tried in order: snake_case (Envoy), lowerCamelCase (istiod, istioctl), then both
    (a document mixing them). The first two refuse, at C speed, a key of the other
    spelling; so each field is read in either spelling wherever it occurs.
    """
    for mode in MODES[:-1]:
        try:
            return decoder(tp, mode).decode(raw)
        except msgspec.ValidationError:
            pass
    # The last error says where the bytes really disagree with the schema.
    try:
        return decoder(tp, MODES[-1]).decode(raw)
    except msgspec.ValidationError as exc:
        # protojson: a field set to null is the field left out; only on this failure
        # path. Not at the top: {"route_config": null} is an entry without its resource,
        # which decode_items skips with a warning, as before.
        if "got `null`" not in str(exc):
            raise
        cleaned = _without_nulls(raw)
        if cleaned is None:
            raise
        return decoder(tp, MODES[-1]).decode(cleaned)


def _without_nulls(raw: msgspec.Raw | bytes) -> bytes | None:
    """``raw`` with every member below its own whose value is null left out; None if unchanged."""
    import orjson

    def drop(value: Any) -> Any:
        if type(value) is dict:
            return {k: drop(v) for k, v in value.items() if v is not None}
        if type(value) is list:
            return [drop(v) for v in value]
        return value

    try:
        value = orjson.loads(bytes(raw))
    except orjson.JSONDecodeError:
        return None
    if type(value) is dict:  # its own members stay: a null there is said by the caller
        cleaned: Any = {k: drop(v) for k, v in value.items()}
    else:
        cleaned = drop(value)
    return None if cleaned == value else orjson.dumps(cleaned)


def decode_raw(raw: msgspec.Raw, tp: type[T], camel: Any = None, what: str = "") -> T:
    """Decode one Raw subtree as ``tp``, reading either key spelling of every field.

    ``camel`` is ignored (spellings are read per field); it is kept for old callers.

    Raises:
        InvalidInput: the subtree is damaged or of the wrong shape; names ``what``.
    """
    if isinstance(camel, str) and not what:
        what = camel
    try:
        result: T = _decode(raw, tp)
    except DECODE_FAILURES as exc:
        raise InvalidInput(
            sanitize(f"{what}: {decode_failure(exc)}"),
            hint="the dump may be damaged or from an unsupported Envoy version",
        ) from None
    return result


_RAW_LIST = msgspec.json.Decoder(list[msgspec.Raw], strict=False)
#: A resource list entry whose own member is null (protojson: left out): nothing in it.
#: (Compiled on first use, by re's cache: a plain dump never needs it; every command
#: imports this module at start, #17.)
_NULL_MEMBER = r"got `null` - at `\$\.([A-Za-z_][A-Za-z0-9_]*)`$"


def decode_items(raw: msgspec.Raw, tp: type[T], what: str, warn: Callable[[str], None]) -> list[T]:
    """Decode a JSON list of ``tp``; an item that does not decode is skipped with a warning.

    A wrong type inside one resource (one cluster, one listener...) leaves the rest of
    the dump usable, as istioctl's lenient parsing does. A list that is not a list, or
    not JSON, is an error for the whole field.

    Raises:
        InvalidInput: ``raw`` is not a JSON list.
    """
    # The whole list in one spelling, at C speed; else resource by resource, so only a
    # resource that really mixes the spellings pays for the "both" decoder.
    for mode in MODES[:-1]:
        try:
            whole: list[T] = decoder(list[tp], mode).decode(raw)  # type: ignore[valid-type]
            return whole
        except DECODE_FAILURES:
            pass
    if bytes(raw).strip() == b"null":  # protojson: null is the empty list
        return []
    try:
        parts = _RAW_LIST.decode(raw)
    except DECODE_FAILURES as exc:
        if isinstance(exc, msgspec.ValidationError) and bytes(raw)[:1] != b"[":
            exc = msgspec.ValidationError(f"Expected `array`, got `{_json_kind(raw)}`")
        raise InvalidInput(
            sanitize(f"{what}: {decode_failure(exc)}"),
            hint="the dump may be damaged or from an unsupported Envoy version",
        ) from None
    items: Kept[T] = Kept()
    skipped: list[str] = []
    empty = 0  # entries skipped for holding no resource (`"cluster": null`)
    redacted = False  # a failing entry holds a hand-redacted value ("<redacted>")
    for index, part in enumerate(parts):
        try:
            items.append(_decode(part, tp))
        except DECODE_FAILURES as exc:
            field = re.search(_NULL_MEMBER, str(exc))
            if field is not None:
                empty += 1
                skipped.append(f"{what}[{index}] skipped: its {field.group(1)} is null")
                continue
            redacted = redacted or re.search(_REDACTED, part) is not None
            reason = decode_failure(exc).replace("`$", f"`$[{index}]", 1)
            skipped.append(f"{what}[{index}] skipped: {reason}")
            continue
        items.positions.append(index)
    if skipped and not items and empty < len(skipped):
        # Nothing of it is usable: that is the dump's problem, not one resource's.
        first = skipped[0].replace(" skipped:", ":", 1)
        more = f" (and {len(skipped) - 1} more)" if len(skipped) > 1 else ""
        hint = "the dump may be damaged or from an unsupported Envoy version"
        if redacted:
            hint = (
                "the paste was redacted by hand: a value Envoy writes as a number or an "
                'object holds text such as "<redacted>"; put a value of its kind back'
            )
        raise InvalidInput(sanitize(first + more), hint=hint)
    for line in skipped:
        warn(line)
    return items


class Kept(list[T]):
    """The items of a list that decoded, and where each sits in the dump's list."""

    def __init__(self) -> None:
        super().__init__()
        self.positions: list[int] = []


def position(items: list[Any], index: int) -> int:
    """Where ``items[index]`` sits in the dump (items may have been skipped)."""
    positions = getattr(items, "positions", None)
    return positions[index] if positions is not None else index


def _json_kind(raw: msgspec.Raw) -> str:
    first = bytes(raw)[:1]
    return {b"{": "object", b'"': "str", b"t": "bool", b"f": "bool", b"n": "null"}.get(
        first, "number"
    )


#: The deepest nesting handed to views as plain data. Envoy and istiod documents nest
#: about 25 levels; deeper input would overflow the recursive walkers downstream
#: (respelling, diff, JSON and YAML output), so it is refused where it is decoded.
MAX_DEPTH = 100

_SKIP = msgspec.json.Decoder(msgspec.Raw)


def _stack_depth() -> int:
    depth, frame = 0, sys._getframe()
    while frame is not None:
        depth += 1
        frame = frame.f_back  # type: ignore[assignment]
    return depth


def bounded(decode: Callable[[], T], depth: int = MAX_DEPTH) -> T:
    """Run a msgspec ``decode`` that must not nest deeper than ``depth`` levels.

    msgspec counts nesting against the interpreter's recursion limit (CPython 3.11), so
    with the limit set ``depth`` frames above the caller's, deeper input raises
    :class:`RecursionError` at C speed, before any Python object is built.
    """
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(_stack_depth() + depth)
    try:
        return decode()
    finally:
        sys.setrecursionlimit(limit)


def _probe_works() -> bool:
    deep = b"[" * 40 + b"]" * 40
    try:
        bounded(lambda: _SKIP.decode(deep), 20)
    except RecursionError:
        return True
    return False


#: Whether :func:`bounded` bounds msgspec (else plain data is measured after decoding).
_BOUNDED = _probe_works()


def can_bound() -> bool:
    """Whether :func:`bounded` may be used now.

    The recursion limit is the interpreter's, shared by every thread: lowering it while
    another thread runs (``snapshot --parallel``) could fail that thread. Then plain data
    is measured after decoding instead (:func:`check_depth`).
    """
    threading = sys.modules.get("threading")  # not imported: no other thread was started
    return _BOUNDED and (threading is None or threading.active_count() == 1)


def check_depth(value: Any) -> None:
    """Raise :class:`RecursionError` if plain ``value`` nests deeper than :data:`MAX_DEPTH`."""
    if _depth_of(value) > MAX_DEPTH:
        raise RecursionError(f"nested deeper than {MAX_DEPTH} levels")


def _depth_of(value: Any) -> int:
    """Nesting depth of plain data, without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, dict):
            node = node.values()
        elif not isinstance(node, list):
            continue
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in node if isinstance(child, (dict, list)))
    return deepest


def plain_json(raw: msgspec.Raw | bytes, what: str) -> Any:
    """``raw`` as plain JSON data; damage is :class:`InvalidInput` naming ``what``.

    Refused: invalid JSON or UTF-8, integers beyond 64 bits, infinite numbers, and
    nesting deeper than :data:`MAX_DEPTH`.
    """
    import orjson  # here: a table never needs it (its import brings json and dataclasses)

    try:
        fast = can_bound()
        if fast:
            bounded(lambda: _SKIP.decode(raw))
        value = orjson.loads(bytes(raw))
        if not fast:
            check_depth(value)
        return value
    except (*DECODE_FAILURES, orjson.JSONDecodeError, RecursionError, MemoryError) as exc:
        reason = f"invalid JSON ({exc})"
        if isinstance(exc, RecursionError) or "ecursion" in str(exc):
            reason = f"nested deeper than {MAX_DEPTH} levels"
        elif isinstance(exc, (msgspec.DecodeError, MemoryError, UnicodeDecodeError)):
            reason = decode_failure(exc)
        raise InvalidInput(
            f"{what}: {sanitize(reason)}",
            hint="the dump may be damaged; capture it again",
        ) from None


#: A string value a person put in place of one they hid: "<redacted>", "[REDACTED]"...
#: (Compiled on first use, by re's cache: a plain dump never needs it; every command
#: imports this module at start, #17.)
_REDACTED = rb'"[<\[(*]*(?i:redacted|hidden|removed|masked)[>\])*]*"'
#: A member named "..." (or "…"), or a list item "...": a placeholder a person wrote
#: into a pasted dump.
_PLACEHOLDER = rb'"(?:\.\.\.|\xe2\x80\xa6)"\s*:|[\[,]\s*"(?:\.\.\.|\xe2\x80\xa6)"\s*[,\]]'
_QUOTED_DOTS = rb'"(?:\.\.\.|\xe2\x80\xa6)"'
#: Sections larger than this were not pasted by hand (a GitHub comment holds 65,536
#: characters): not searched for placeholders, which costs about 1 ms per MB.
_PASTED_BYTES = 1 << 20


class Section:
    """One ``configs[]`` entry: its type URL and its undecoded top-level fields.

    A plain class, not a dataclass: ``dataclasses`` (with ``inspect``, ``ast``, ``dis``)
    is ~5 ms of every plain table's start-up. Constructed, compared and shown as the
    dataclass was (``type_url``, ``kind``, ``fields``, ``index``, ``camel`` in its repr).
    """

    type_url: str
    kind: str  # "" when the type is unknown to pdebug (kept, never fatal)
    fields: dict[str, msgspec.Raw]
    index: int
    #: Unused: kept for callers that still pass it to :func:`decode_raw`.
    camel: bool
    #: Called with one line when a resource is skipped (set by :class:`ConfigDump`).
    warn: Callable[[str], None] | None
    #: The input's name, for error messages (set by :class:`ConfigDump`).
    where: str
    _cache: dict[Any, Any]
    #: Set when the section came from a planned one-pass decode: call it to read the
    #: rest of the section's fields (see :func:`pdebug.model.load.load`).
    complete: Callable[[], None] | None
    #: Called after a field is decoded: lets go of the input's memory-mapped pages (they
    #: are read again from the page cache if a Raw slice is used later). Set by load.
    release: Callable[[], None] | None
    #: Set by load for a section read from its own bytes: ``fast(key, tp)`` decodes the
    #: section's resource lists typed, in one pass, and says whether ``key`` is cached.
    fast: Callable[[str, Any], bool] | None
    #: The section's own JSON text (any layout), when load found it in the document as
    #: one ``configs[]`` entry (a bytes-like object; a memory-mapped slice is not copied).
    text: Any
    #: The resource-list fields (snake_case keys) a one-pass typed decode read whole and
    #: strictly (no resource skipped): each one's cached list is exactly the field's
    #: value in the section, an absent or null field an empty list. Set by load.
    planned: frozenset[str]
    #: Whether a decode that refuses members Envoy does not write read the section whole
    #: (so it has none pdebug does not know). Set by load.
    members_known: bool
    #: Set by load for a section found in the document by the layout search: whether its
    #: bytes may end with another ``configs[]`` entry that search does not find (a type
    #: not named ``...ConfigDump``). A byte search, not compared; reading the section's
    #: members then tells exactly (:func:`pdebug.model.sections.unread`).
    hides: Callable[[], bool] | None
    #: Whether the section was searched for a pasted dump's placeholders (not compared).
    _looked: bool
    #: Whether that search found one and said so (not compared).
    _cut: bool

    #: Every attribute, in the constructor's order (``==`` compares them all).
    _ATTRS = (
        "type_url",
        "kind",
        "fields",
        "index",
        "camel",
        "warn",
        "where",
        "_cache",
        "complete",
        "release",
        "fast",
        "text",
        "planned",
        "members_known",
    )

    def __init__(
        self,
        type_url: str,
        kind: str,
        fields: dict[str, msgspec.Raw],
        index: int,
        camel: bool = False,
        warn: Callable[[str], None] | None = None,
        where: str = "",
        _cache: dict[Any, Any] | None = None,
        complete: Callable[[], None] | None = None,
        release: Callable[[], None] | None = None,
        fast: Callable[[str, Any], bool] | None = None,
        text: Any = None,
        planned: frozenset[str] = frozenset(),
        members_known: bool = False,
    ) -> None:
        self.type_url = type_url
        self.kind = kind
        self.fields = fields
        self.index = index
        self.camel = camel
        self.warn = warn
        self.where = where
        self._cache = {} if _cache is None else _cache
        self.complete = complete
        self.release = release
        self.fast = fast
        self.text = text
        self.planned = planned
        self.members_known = members_known
        self.hides = None
        self._looked = False
        self._cut = False

    def __repr__(self) -> str:
        return (
            f"Section(type_url={self.type_url!r}, kind={self.kind!r}, fields={self.fields!r}, "
            f"index={self.index!r}, camel={self.camel!r})"
        )

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return all(getattr(self, a) == getattr(other, a) for a in self._ATTRS)

    __hash__ = None  # type: ignore[assignment]  # mutable, compared by value

    def _ensure(self) -> None:
        if self.complete is not None:
            self.complete()

    @property
    def message(self) -> str:
        """The admin message name, e.g. ``ClustersConfigDump``."""
        return self.type_url.rsplit(".", 1)[-1]

    def raw(self, key: str) -> msgspec.Raw | None:
        """The Raw value of field ``key`` (snake_case) in either spelling.

        Both spellings in one section (a hand-merged file) is read as protojson would
        refuse it; the snake_case one wins.
        """
        self._ensure()
        raw = self.fields.get(key)
        if raw is None:
            raw = self.fields.get(to_camel(key))
        return raw

    def planned_list(self, key: str) -> list[Any]:
        """The list a planned decode read for ``key`` (one of :attr:`planned`)."""
        return self._cache[(key, list.__class_getitem__(KEY_TYPES[key]))]  # type: ignore[no-any-return]

    def decoded(self, key: str) -> bool:
        """Whether field ``key`` was decoded typed already (:meth:`typed` has it cached)."""
        return any(isinstance(ck, tuple) and ck[0] == key for ck in self._cache)

    def whole(self, key: str, tp: type[T]) -> T | None:
        """Field ``key`` as :meth:`typed` decoded it as ``tp`` already, every item kept.

        None: not decoded as ``tp`` yet, or a list that left an item out (it did not
        decode; its ``Kept`` says where the others sit). A reader that needs less of
        each resource can then read it here instead of decoding the bytes again.
        """
        value = self._cache.get((key, tp))
        return None if value is None or isinstance(value, Kept) else value

    def typed(self, key: str, tp: type[T], default: Callable[[], T], what: str) -> T:
        """Decode field ``key`` as ``tp`` (cached); ``default()`` when absent.

        A list of resources (``list[ClusterEntry]``...) skips a resource that does not
        decode, with a warning; any other field that does not decode is an error.
        """
        ck = (key, tp)
        if ck in self._cache:
            return self._cache[ck]  # type: ignore[no-any-return]
        self.say_placeholders()
        if self.fast is not None and self.fast(key, tp):
            return self._cache[ck]  # type: ignore[no-any-return]
        raw = self.raw(key)
        value: Any
        if raw is None:
            value = default()
        elif getattr(tp, "__origin__", None) is list:
            value = decode_items(raw, tp.__args__[0], what, self._warn)  # type: ignore[attr-defined]
        else:
            value = decode_raw(raw, tp, what=what)
        self._cache[ck] = value
        if raw is not None and self.release is not None:
            self.release()
        return value  # type: ignore[no-any-return]

    def say_placeholders(self) -> bool:
        """Warn, once, when the section holds a ``"...": ...`` member (no Envoy writes one).

        A dump pasted into an issue and cut by hand keeps its shape with such
        placeholders; what was cut is not in any table, and that is said. Only a section
        small enough to have been pasted is searched (about 1 ms per MB). Returns
        whether the section was said to hold one (now or before).
        """
        if self._looked:
            return self._cut
        self._looked = True
        parts = [self.text] if self.text is not None else list(self.fields.values())
        if sum(len(p) for p in parts) > _PASTED_BYTES:
            return False
        for part in parts:
            # The quoted dots first (a literal: ~1 ms per MB), the member or item around
            # them only then (the pattern's other branch tries every comma: ~10 ms per MB).
            if re.search(_QUOTED_DOTS, part) and re.search(_PLACEHOLDER, part):
                self._cut = True
                self._warn(
                    f'{self.where}: the {self.message} section holds a "..." placeholder '
                    "(a hand-edited paste): what was cut there is not shown"
                )
                return True
        return False

    def may_say_placeholders(self) -> bool:
        """Whether :meth:`say_placeholders` may yet warn: not asked, searched, dots in it."""
        if self._looked:
            return False
        parts = [self.text] if self.text is not None else list(self.fields.values())
        if sum(len(p) for p in parts) > _PASTED_BYTES:
            return False
        return any(re.search(_QUOTED_DOTS, part) for part in parts)

    def _what(self, key: str) -> str:
        return f"{self.where}: {self.message}.{key}" if self.where else key

    def _warn(self, message: str) -> None:
        if self.warn is not None:
            self.warn(message)

    def generic(self, key: str) -> Any:
        """Field ``key`` decoded as plain JSON data (as in the dump), cached.

        Raises:
            InvalidInput: the field is not JSON that can be decoded (nested too deeply,
                invalid UTF-8, a number beyond 64 bits...).
        """
        ck = ("generic", key)
        if ck not in self._cache:
            raw = self.raw(key)
            self._cache[ck] = None if raw is None else plain_json(raw, self._what(key))
            if raw is not None and self.release is not None:
                self.release()
        return self._cache[ck]

    def plain(self) -> dict[str, Any]:
        """The whole section as plain JSON data, ``@type`` first, as in the dump."""
        self._ensure()
        out: dict[str, Any] = {"@type": self.type_url}
        for key in self.fields:
            out[key] = self.generic(key)
        return out


class Ref(msgspec.Struct, frozen=True):
    """Where a typed resource sits in the dump, to print it as it is."""

    section: Section
    key: str
    index: int
    path: tuple[str, ...] = ()

    def resolve(self) -> Any:
        """The resource as plain JSON data, exactly as in the dump."""
        items = self.section.generic(self.key)
        if not isinstance(items, list) or not 0 <= self.index < len(items):
            return None
        value = items[self.index]
        for step in self.path:
            if not isinstance(value, dict):
                return None
            value = value[step] if step in value else value.get(to_camel(step))
        return value


class Entries(msgspec.Struct, Generic[T]):
    """The typed items of one section field, and how to point back at each of them."""

    section: Section | None
    key: str
    items: list[T]

    def ref(self, index: int, *path: str) -> Ref:
        """Where ``items[index]`` (or a field ``path`` inside it) sits in the dump."""
        assert self.section is not None
        return Ref(self.section, self.key, position(self.items, index), path)


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
        #: One line per resource skipped because it did not decode (printed once each).
        self.warnings: list[str] = []
        #: Where :meth:`warn` puts its messages instead while set: a task run ahead of
        #: its turn keeps them, to say them in its turn (:class:`pdebug.parallel.Ran`).
        self.hold: Callable[[str], None] | None = None
        #: Facts derived from the sections, kept for the next caller who asks (each
        #: module that keeps one names its key: ``"eds.attribute"``).
        self.facts: dict[str, Any] = {}
        #: Reads the whole document once (raising InvalidInput if it is not JSON) before
        #: a section is said to be missing: the loader reads only the sections a command
        #: needs, and a pasted dump cut with ``...`` lacks no section, it is damaged.
        self.intact: Callable[[], object] | None = None
        #: The message name of the first section (``ClustersConfigDump``) when the input
        #: was one section, or a list of them, pasted without the ``configs`` wrapper.
        self.pasted = ""
        #: Whether the sections were searched for one hidden in another's bytes (_reveal).
        self._revealed = False
        for sec in sections:
            sec.warn = self.warn
            sec.where = source

    def warn(self, message: str) -> None:
        """Say on stderr, once, that a part of the dump was skipped."""
        if self.hold is not None:  # said (or not, once said) when its turn comes
            self.hold(message)
            return
        if message in self.warnings:
            return
        self.warnings.append(message)
        print(f"pdebug: warning: {sanitize(message)}", file=sys.stderr)

    # -- sections ----------------------------------------------------------------------

    def section(self, kind: str) -> Section | None:
        """The section of ``kind``; the last one wins when repeated (as in istioctl)."""
        found = None
        for sec in self.sections:
            if sec.kind == kind:
                found = sec
        if found is None and not self._revealed and self._reveal():
            return self.section(kind)
        return found

    def sections_of(self, kind: str) -> list[Section]:
        """Every section of ``kind``, in dump order."""
        found = [sec for sec in self.sections if sec.kind == kind]
        if not found and not self._revealed and self._reveal():
            return self.sections_of(kind)
        return found

    def _reveal(self) -> bool:
        r"""Whether a section hidden in another's bytes joined the sections (asked once).

        The layout search finds a section by its type written plainly (``...ConfigDump"``);
        one whose type is written otherwise (JSON escapes: ``Secr\u0065tsConfigDump``,
        ``\/``) is read as part of the section before it. Before a command is told a
        section is absent ("No active or warming secrets"), the sections it did not read
        are searched for another entry (:attr:`Section.hides`: a byte search, about 0.1 ns
        a byte) and, where one may be, read: the entry then joins the sections
        (``load._adopt``). A document damaged there is let be: the command reads none of it.
        """
        self._revealed = True
        before = [sec.type_url for sec in self.sections]
        self.read_hiding(list(self.sections))
        return [sec.type_url for sec in self.sections] != before

    def read_hiding(self, sections: list[Section]) -> None:
        """Read the members of each of ``sections`` whose bytes may end with another entry.

        :attr:`Section.hides` says "maybe" by a byte search; reading the section's members
        then tells, and a hidden entry joins the sections (``load._adopt``). A document
        damaged there is let be: the command reads none of it, as before.
        """
        from pdebug.errors import InvalidInput

        for sec in sections:
            if sec.complete is not None and sec.hides is not None and sec.hides():
                try:
                    sec.raw("")
                except InvalidInput:
                    pass

    def check_intact(self) -> None:
        """Raise InvalidInput if the document is not whole JSON (checked once)."""
        check, self.intact = self.intact, None
        if check is not None:
            check()

    def require(self, kind: str) -> Section:
        """The section of ``kind``, or :class:`MissingSection` saying how to get it."""
        sec = self.section(kind)
        if sec is not None:
            sec.say_placeholders()
        if sec is None:
            self.check_intact()
            hint = "capture the full dump: curl -s localhost:15000/config_dump > dump.json"
            if kind == "endpoints":
                hint = "capture with EDS: curl -s 'localhost:15000/config_dump?include_eds'"
            if self.pasted:
                raise MissingSection(
                    f"{self.source}: {self.only_pasted()} (no 'configs' "
                    f"wrapper): no {kind} section ({KIND_TYPE_URL[kind]}) is present",
                    hint=f"paste the whole dump, or its {kind} section too; {hint}",
                )
            raise MissingSection(
                f"{self.source}: the dump has no {kind} section ({KIND_TYPE_URL[kind]})",
                hint=hint,
            )
        return sec

    def only_pasted(self) -> str:
        """What a paste held: ``only the ClustersConfigDump section was pasted``."""
        names = sorted({sec.type_url.rsplit(".", 1)[-1] for sec in self.sections})
        if not names:
            return "only an empty list of sections was pasted"
        if len(names) == 1:
            return f"only the {names[0]} section was pasted"
        return f"only the {', '.join(names)} sections were pasted"

    def assume_empty(self, kinds: tuple[str, ...]) -> None:
        """Add an empty section for each of ``kinds`` the dump lacks.

        A live fetch with a mask only returns the sections that have the masked fields,
        so a missing section there means "none", not "not captured".
        """
        for kind in kinds:
            if self.section(kind) is None:
                sec = Section(KIND_TYPE_URL[kind], kind, {}, len(self.sections))
                sec.warn, sec.where = self.warn, self.source
                self.sections.append(sec)

    def section_bytes(self, kind: str) -> int:
        """How many bytes of the input the section of ``kind`` spans (0 when absent).

        An estimate of the work it takes to read (parallel maps weigh tasks by it).
        """
        sec = self.section(kind)
        if sec is None:
            return 0
        if sec.text is not None:
            return len(sec.text)
        return sum(len(raw) for raw in sec.fields.values())

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
        """``static_clusters``, ``dynamic_active_clusters`` or ``dynamic_warming_clusters``.

        An entry with neither a named cluster nor an ``error_state`` (a hand-edited
        paste's ``{"...": "..."}``) is said skipped, once: it is no row (:attr:`absent`).
        """
        found = self._entries("clusters", key, s.ClusterEntry)
        said = self.facts.setdefault("dump.placeholders", set())
        if key not in said:
            said.add(key)
            for i, entry in enumerate(found.items):
                if not entry.cluster.name and entry.error_state == s.NULL:
                    at = position(found.items, i)
                    self.warn(
                        f"{self.source}: {key}[{at}] skipped: it holds no named cluster "
                        "(a placeholder in an edited paste?)"
                    )
        return found

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
            out.extend(
                (Ref(sec, "ecds_filters", position(items, i)), e) for i, e in enumerate(items)
            )
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


class FoldedEntries(Entries[s.DynamicListener]):
    """v2alpha listeners as v3 ``dynamic_listeners`` entries; refs point at the v2 ones."""

    origins: list[tuple[str, int]] = msgspec.field(default_factory=list)

    def ref(self, index: int, *path: str) -> Ref:
        """Where ``items[index]`` sits: ``active_state.listener`` -> ``[i].listener``."""
        assert self.section is not None
        key, at = self.origins[index]
        if path and path[0].endswith("_state"):
            path = path[1:]
        return Ref(self.section, key, at, path)


def fold_v2alpha(
    sec: Section, source: str, tp: type[T], entry: Callable[[T], E]
) -> tuple[list[E], list[tuple[str, int]]]:
    """The one fold of v2alpha listeners into v3 ``dynamic_listeners`` entries.

    Each item of each per-state list (:data:`V2ALPHA_LISTENER_KEYS`, in that order) is
    decoded as ``tp`` and becomes one entry, ``entry(item)``, holding the item as that
    state; with it, where it came from (``(v2 key, index)``). The model folds typed
    states (:meth:`ConfigDump.dynamic_listeners`), ``diff`` undecoded ones (it compares
    bytes); both then go through the one walk, :func:`pdebug.model.listeners.walk`.
    """
    items: list[E] = []
    origins: list[tuple[str, int]] = []
    for key, state in V2ALPHA_LISTENER_KEYS:
        entries = sec.typed(key, list[tp], list, f"{source}: {key}")  # type: ignore[valid-type]
        for i, st in enumerate(entries):
            folded = entry(st)
            setattr(folded, state, st)
            items.append(folded)
            origins.append((key, i))
    return items, origins


def _v2alpha_listeners(sec: Section, source: str) -> FoldedEntries | None:
    items, origins = fold_v2alpha(sec, source, s.ListenerState, _typed_entry)
    if not items:
        return None
    return FoldedEntries(sec, "dynamic_listeners", items, origins)


def _typed_entry(st: s.ListenerState) -> s.DynamicListener:
    return s.DynamicListener(name=st.listener.name if st.listener is not None else "")


def own_bytes_lacking(dump: ConfigDump, kind: str) -> list[bytes] | None:
    """Which of :data:`SCANNED_MARKS` the bytes of section ``kind`` lack (one pass).

    None when load did not find the section's own bytes. Each answer is kept for
    :func:`lacks` (:func:`marks_held`); a ``pdebug check`` child sends it, and the parent
    keeps it with :func:`note_lacking` (#17).
    """
    sec = dump.section(kind)
    if sec is None or sec.text is None:
        return None
    held = marks_held(dump, kind)
    return [mark for mark in SCANNED_MARKS if mark not in held]


def note_lacking(dump: ConfigDump, kind: str, lacking: list[bytes]) -> None:
    """Keep what :func:`own_bytes_lacking` answered (in a child that sent it)."""
    for mark in SCANNED_MARKS:
        note_lack(dump, kind, mark, mark in lacking)


#: The marks :func:`marks_held` looks for: ``inline`` (PD501 and the secrets table,
#: :func:`lacks`), a certificate provider instance in either spelling
#: (:mod:`pdebug.model.certproviders`) and ``filename`` (certificates kept in files, the
#: checks' "Not checked" lines).
SCANNED_MARKS = (b"inline", b"provider_instance", b"ProviderInstance", b"filename")


def marks_held(dump: ConfigDump, kind: str) -> frozenset[bytes]:
    """Which of :data:`SCANNED_MARKS` the bytes of section ``kind`` hold (kept in facts).

    One Aho-Corasick pass over the section for all of them (ahocorasick_rs): ``pdebug
    report`` asked the 76 MB clusters section of the 5k-service bench dump twice, once
    for ``inline`` and once for a provider instance, 40 ms each; one pass is ~25 ms (#17).
    A section split into its fields when read lazily is searched field by field.
    """
    held: frozenset[bytes] | None = dump.facts.get(f"dump.marks.{kind}")
    if held is not None:
        return held
    sec = dump.section(kind)
    found: set[int] = set()
    if sec is not None:
        import ahocorasick_rs

        finder = ahocorasick_rs.BytesAhoCorasick(list(SCANNED_MARKS))
        for text in section_texts(sec):
            found.update(i for i, _, _ in finder.find_matches_as_indexes(text, overlapping=True))
            if len(found) == len(SCANNED_MARKS):
                break
    held = frozenset(SCANNED_MARKS[i] for i in found)
    dump.facts[f"dump.marks.{kind}"] = held
    if sec is not None and sec.text is not None:  # its own bytes: for lacks()
        note_lacking(dump, kind, [mark for mark in SCANNED_MARKS if mark not in held])
    return held


def section_texts(sec: Section) -> list[bytes | memoryview]:
    """A section's bytes to search: its text, or each of its fields' when split lazily."""
    if sec.text is not None:
        return [sec.text]
    sec.raw("")  # splits the section's fields when they are read lazily
    return [raw for key, raw in sec.fields.items() if key != "@type"]


def _lack_key(kind: str, mark: bytes) -> str:
    return f"dump.lack.{kind}.{mark.hex()}"


def note_lack(dump: ConfigDump, kind: str, mark: bytes, lack: bool) -> None:
    """Keep whether section ``kind``'s own bytes lack ``mark`` (for :func:`lacks`)."""
    dump.facts[_lack_key(kind, mark)] = lack


def lacks(dump: ConfigDump, kind: str, mark: bytes) -> bool:
    """Whether no resource of section ``kind`` holds ``mark`` in its undecoded bytes.

    Known without a search when :func:`marks_held` found no ``mark`` in the section's
    own bytes (:func:`note_lack`) and its resources were decoded from those bytes
    (:func:`read_from_own_bytes`): each ``msgspec.Raw`` is then a slice of them. ``pdebug
    report`` searches the clusters section for ``inline`` once: PD501 and the secrets
    table then decode and search no cluster's ``transport_socket_matches`` (#17).
    """
    return dump.facts.get(_lack_key(kind, mark)) is True and read_from_own_bytes(dump, kind)


def read_from_own_bytes(dump: ConfigDump, kind: str) -> bool:
    """Whether every resource list of section ``kind`` was decoded from its own bytes.

    That is: the one-pass typed decode of :attr:`Section.text` read each list whole
    (:attr:`Section.planned`), so each resource's undecoded parts (``msgspec.Raw``)
    are slices of those bytes.
    """
    sec = dump.section(kind)
    return (
        sec is not None
        and sec.text is not None
        and sec.planned.issuperset(k for k, of in KEY_KINDS.items() if of == kind)
    )
