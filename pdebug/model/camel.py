"""Key spelling: Envoy writes snake_case, istiod and istioctl re-emit lowerCamelCase.

protojson reads either spelling of every field, wherever it occurs, and some producers
mix them in one document (istioctl's own test dumps spell the admin fields
lowerCamelCase and the filter configs snake_case). pdebug does the same, per field.

The typed schema (:mod:`pdebug.model.schema`) is written once, in snake_case. Each
schema Struct gets three derived decoders (:func:`variant`):

``snake``
    the schema's own wire names, plus a *sentinel* field for the lowerCamelCase
    spelling of every field whose two spellings differ. A sentinel accepts no JSON
    value at all (its type is :data:`SENTINEL`): any camel key in the bytes makes the
    decode fail, at C speed, with no Python call per object. Envoy's own
    (all snake_case) dumps decode this way at the speed of the plain schema.
``camel``
    the lowerCamelCase wire names, with sentinels for the snake_case spellings.
``both``
    both spellings as separate fields, merged after decoding (a Python call per object):
    the decoder for a document that mixes the spellings, used only when the other two
    refused it.

:func:`pdebug.model.dump.decode_raw` tries them in that order, so every field is read
in either spelling wherever it occurs, and no file or section is guessed from a sample.

Field names with digits follow protobuf's json_name rule (an underscore is dropped and
the next *letter* capitalised): ``consecutive_5xx`` is ``consecutive5xx``. The reverse
is ambiguous, so :data:`DIGIT_FIELDS` lists Envoy's API fields that have ``_<digit>``.
"""

from __future__ import annotations

import functools
import re
import types
import typing
from typing import Annotated, Any, Literal, TypeVar

import msgspec

S = TypeVar("S", bound=msgspec.Struct)

Mode = Literal["snake", "camel", "both"]
MODES: tuple[Mode, ...] = ("snake", "camel", "both")

#: Every field of Envoy's API (envoyproxy/data-plane-api, ``envoy/**/*.proto``, v2 and
#: v3) whose name has an underscore before a digit: the only fields whose snake_case
#: spelling cannot be derived from protobuf's lowerCamelCase JSON name.
DIGIT_FIELDS: frozenset[str] = frozenset(
    {
        "accept_http_10",
        "consecutive_5xx",
        "default_host_for_http_10",
        "enforcing_consecutive_5xx",
        "ignore_http_11_upgrade",
        "normalize_path_rfc_3986",
        "proxy_100_continue",
        "trace_id_128bit",
    }
)


def to_camel(name: str) -> str:
    """Protobuf's json_name: ``route_config_name`` -> ``routeConfigName``.

    The character after an underscore is upper-cased when it is a letter; a digit stays
    (``consecutive_5xx`` -> ``consecutive5xx``, ``http2_protocol_options`` ->
    ``http2ProtocolOptions``).
    """
    if "_" not in name:
        return name
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


_CAMEL_HUMP = re.compile(r"(?<=[a-z0-9])([A-Z])")

#: lowerCamelCase JSON name -> proto field name, for the names the hump rule gets wrong.
_DIGIT_SNAKE = {to_camel(n): n for n in DIGIT_FIELDS}


def to_snake(name: str) -> str:
    """``routeConfigName`` -> ``route_config_name``; ``ISTIO_VERSION`` is left alone.

    ``consecutive5xx`` -> ``consecutive_5xx`` (from :data:`DIGIT_FIELDS`).
    """
    known = _DIGIT_SNAKE.get(name)
    if known is not None:
        return known
    return _CAMEL_HUMP.sub(lambda m: "_" + m.group(1).lower(), name)


def spellings(name: str) -> tuple[str, str]:
    """``(snake, camel)`` of a proto field name given in either spelling."""
    snake = to_snake(name)
    return snake, to_camel(snake)


_VARIANTS: dict[tuple[type[Any], str], type[Any]] = {}

#: The type of a sentinel field: no JSON value is one (an integer above 0 and below 1),
#: and msgspec refuses a value at its first token. ``msgspec.UnsetType`` refused it too,
#: but only after decoding the whole value into Python objects: a camelCase dump's
#: route configs (7 MB each) were built once for nothing before the camel decoder ran.
SENTINEL = Annotated[int, msgspec.Meta(gt=0, lt=1)]

#: Attribute-name prefixes of the derived fields (never read by views).
_SENTINEL = "pd_sentinel__"
_OTHER = "pd_camel__"


def _convert_type(tp: Any, mode: Mode) -> Any:
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        return variant(tp, mode)
    origin = typing.get_origin(tp)
    if origin is None:
        return tp
    args = tuple(_convert_type(a, mode) for a in typing.get_args(tp))
    if origin in (types.UnionType, typing.Union):
        return functools.reduce(lambda a, b: a | b, args)
    return origin[args]


def convert(tp: Any, mode: Mode) -> Any:
    """``tp`` (a schema Struct, or a list/union of them) with every Struct as ``mode``."""
    return _convert_type(tp, mode)


def _spec_of(f: Any, tp: Any) -> Any:
    if f.default is not msgspec.NODEFAULT:
        return (f.name, tp, f.default)
    if f.default_factory is not msgspec.NODEFAULT:
        return (f.name, tp, msgspec.field(default_factory=f.default_factory))
    return (f.name, tp)


def variant(cls: type[S], mode: Mode) -> type[S]:
    """The subclass of schema Struct ``cls`` that decodes key spelling ``mode``.

    Explicit wire names (``@type``) are kept as they are; nested Structs are converted
    too. Instances are instances of ``cls``: views read the snake_case attributes.
    """
    key = (cls, mode)
    known = _VARIANTS.get(key)
    if known is not None:
        return known
    fields = msgspec.structs.fields(cls)
    spec: list[Any] = []
    rename: dict[str, str] = {}
    pairs: list[tuple[str, str, Any]] = []
    for f in fields:
        tp = _convert_type(f.type, mode)
        spec.append(_spec_of(f, tp))
        snake = f.encode_name
        camel = to_camel(snake) if snake == f.name else snake
        if camel == snake:
            rename[f.name] = snake
            continue
        if mode == "snake":
            rename[f.name] = snake
            spec.append((_SENTINEL + f.name, SENTINEL, msgspec.UNSET))
            rename[_SENTINEL + f.name] = camel
        elif mode == "camel":
            rename[f.name] = camel
            spec.append((_SENTINEL + f.name, SENTINEL, msgspec.UNSET))
            rename[_SENTINEL + f.name] = snake
        else:
            rename[f.name] = snake
            other = _OTHER + f.name
            # null is the field's default (protojson); Raw keeps it as Raw(b"null")
            nullable = tp if tp is msgspec.Raw else tp | None
            spec.append((other, nullable | msgspec.UnsetType, msgspec.UNSET))
            rename[other] = camel
            pairs.append((f.name, other, f.default))
    namespace: dict[str, Any] = {}
    if mode == "both" and pairs:
        namespace["__post_init__"] = _merger(tuple(pairs))
    made: type[Any] = msgspec.defstruct(
        f"{cls.__name__}_{mode}",
        spec,
        bases=(cls,),
        rename=rename,
        module=cls.__module__,
        namespace=namespace,
        **_struct_config(cls),
    )
    _VARIANTS[key] = made
    return made


def _merger(pairs: tuple[tuple[str, str, Any], ...]) -> Any:
    """``__post_init__`` of a ``both`` variant: a camel value fills an unset snake field."""
    unset = msgspec.UNSET

    def merge(self: Any) -> None:
        for name, other, default in pairs:
            value = getattr(self, other)
            if value is unset:
                continue
            setattr(self, other, unset)
            if value is None:  # protojson: null is the field's default
                continue
            current = getattr(self, name)
            if default is msgspec.NODEFAULT or current == default or current is None:
                setattr(self, name, value)

    return merge


def camel_twin(cls: type[S]) -> type[S]:
    """The lowerCamelCase decoder of ``cls`` (kept for callers of the old API)."""
    return variant(cls, "camel")


def _struct_config(cls: type[msgspec.Struct]) -> dict[str, Any]:
    cfg = cls.__struct_config__
    return {"gc": cfg.gc, "frozen": cfg.frozen}


# Keys whose values are free-form maps (protobuf Struct or map<string, ...>): their
# own keys are data, not field names, and must not be respelled.
_OPAQUE = frozenset(
    {
        "filter_metadata",
        "typed_filter_metadata",
        "typed_extension_protocol_options",
        "typed_per_filter_config",
        "labels",
        "key_values",
        "fields",
        "annotations",
    }
)


#: The field names respelled directly inside a ``metadata`` object: Envoy's Metadata
#: message, and the tracing CustomTag.Metadata (``custom_tags[].metadata``: ``kind``,
#: ``metadata_key``; ``metadataKind`` as the bench's generator and some tools spell it).
#: Any other name there is a protobuf Struct key (node metadata): data, kept.
METADATA_FIELDS = frozenset(
    {"filterMetadata", "typedFilterMetadata", "metadataKey", "metadataKind"}
)
#: Every field of a message Envoy names ``metadata``: Metadata, CustomTag.Metadata and the
#: MetadataMatcher (RBAC principals: ``filter``, ``path``, ``value``, ``invert``), in
#: lowerCamelCase. Any other name there is a protobuf Struct key (node metadata).
_METADATA_MESSAGE = METADATA_FIELDS | {"kind", "filter", "path", "value", "invert"}


#: name -> :func:`metadata_field` (asked for every key of every ``metadata`` object).
_METADATA_NAMES: dict[str, bool] = {}


def metadata_field(name: str) -> bool:
    """Whether ``name`` inside a ``metadata`` object is a message field, not a Struct key.

    Either spelling. A message field's value is respelled; a Struct entry is kept whole.
    """
    known = _METADATA_NAMES.get(name)
    if known is None:
        known = to_camel(name) in _METADATA_MESSAGE
        if len(_METADATA_NAMES) < 50_000:
            _METADATA_NAMES[name] = known
    return known


def snake_keys(obj: Any, *, _parent: str = "") -> Any:
    """Respell every field name in a generic JSON tree as snake_case.

    Map-valued fields (metadata, labels, ...) keep their keys. A ``metadata`` that is
    a protobuf Struct (node metadata) keeps its keys and its values whole; a ``metadata`` that is
    Envoy's Metadata message only has ``filter_metadata``/``typed_filter_metadata``,
    a tracing custom tag's ``kind``/``metadata_key`` (:data:`METADATA_FIELDS`).
    """
    if isinstance(obj, list):
        return [snake_keys(v, _parent=_parent) for v in obj]
    if not isinstance(obj, dict):
        return obj
    out: dict[str, Any] = {}
    for key, value in obj.items():
        if _parent in _OPAQUE:
            new_key = key
        elif _parent == "metadata" and not metadata_field(key):
            # A protobuf Struct's entry (node metadata: LABELS, PROXY_CONFIG...): its
            # keys all the way down are data, kept as written.
            out[key] = value
            continue
        else:
            new_key = to_snake(key)
        if new_key in _OPAQUE or _parent in _OPAQUE:
            out[new_key] = value if _parent in _OPAQUE else _keep_keys(value, new_key)
        else:
            out[new_key] = snake_keys(value, _parent=new_key)
    return out


def _keep_keys(value: Any, parent: str) -> Any:
    """Children of an opaque map: keep their keys, respell the values' fields."""
    if not isinstance(value, dict):
        return value
    if parent in ("filter_metadata", "labels", "key_values", "fields", "annotations"):
        return value
    # typed_filter_metadata: values are Any messages -> respell their fields
    return {k: snake_keys(v) for k, v in value.items()}


# --- output: every proto field name as protojson writes it (``--keys camel``) -----------
#
# istioctl prints resources through Go's protobuf JSON printer: each field under its
# json_name (lowerCamelCase), while keys that are data stay as written: the keys of a map
# field (metadata namespaces, RBAC policy names, a matcher's values), and everything inside
# a google.protobuf.Struct (node metadata, filter metadata values, an access log's JSON
# format, a TypedStruct's value). ``@type`` is not a field name and is kept.

#: Map fields (``map<string, Message>``): their keys are data, their values messages.
_NAMED_MAPS = frozenset(
    {
        "typed_filter_metadata",
        "typed_extension_protocol_options",
        "typed_per_filter_config",
        "policies",
        "providers",
        "requirement_map",
        "named_endpoints",
        "dynamic_parameters",
        "source_codes",
        "map",
    }
)
#: Fields whose value is data all the way down: a google.protobuf.Struct, a map of Structs
#: or of strings. Kept whole.
_WHOLE = frozenset(
    {
        "filter_metadata",
        "per_filter_config",
        "json_format",
        "typed_json_format",
        "static_layer",
        "default_subset",
        "labels",
        "annotations",
        "key_values",
        "params",
        "fields",
        "dimensions",
    }
)
#: The Any types whose ``value`` is a Struct (or any JSON value): kept whole.
_STRUCT_ANY = ("TypedStruct", "google.protobuf.Struct", "google.protobuf.Value")
#: A proto field name in snake_case: the only keys whose spelling changes.
_SNAKE_FIELD = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)+")
#: Fields whose value is a Struct only in some places (see :func:`camel_keys`).
_SOMETIMES_WHOLE = frozenset({"metadata", "value", "config", "match"})
#: key -> (its field name in snake_case, its protojson spelling, 1 if its value is kept
#: whole, 2 if it may be, else 0)
_NAMES: dict[str, tuple[str, str, int]] = {}


def _names(key: str) -> tuple[str, str, int]:
    known = _NAMES.get(key)
    if known is None:
        snake = to_snake(key) if "_" not in key else key
        kind = 1 if snake in _WHOLE else 2 if snake in _SOMETIMES_WHOLE else 0
        known = (snake, to_camel(key) if _SNAKE_FIELD.fullmatch(key) else key, kind)
        if len(_NAMES) < 50_000:
            _NAMES[key] = known
    return known


def field_names(key: str) -> tuple[str, str]:
    """``(snake_case field name, protojson spelling)`` of a key; a data key is kept."""
    snake, spelled, _ = _NAMES.get(key) or _names(key)
    return snake, spelled


def keeps_whole(field: str) -> bool:
    """Whether the value of ``field`` (snake_case) is data all the way down (a Struct)."""
    return field in _WHOLE


def camel_keys(value: Any, field: str = "") -> Any:
    """``value`` (plain JSON data) with every proto field name in its protojson spelling.

    ``route_config_name`` -> ``routeConfigName``, ``consecutive_5xx`` -> ``consecutive5xx``;
    names already in lowerCamelCase are kept, as are ``@type``, the keys of map fields
    (:data:`_NAMED_MAPS`) and everything inside a Struct (:data:`_WHOLE`, node
    ``metadata``, a TypedStruct's ``value``, a v2 filter's ``config``). ``field`` is the
    snake_case name of the field ``value`` is the value of.
    """
    if type(value) is list:
        return [camel_keys(v, field) if type(v) is dict or type(v) is list else v for v in value]
    if type(value) is not dict:
        return value
    if field in _NAMED_MAPS:
        return {k: camel_keys(v) for k, v in value.items()}
    out: dict[str, Any] = {}
    names = _NAMES
    for key, item in value.items():
        name, spelled, kind = names.get(key) or _names(key)
        if spelled in out:  # ``x_y`` and ``xY`` both: neither may overwrite the other
            return _camel_colliding(value, field)
        t = type(item)
        if t is not dict and t is not list:
            out[spelled] = item
        elif kind == 1 or (kind == 2 and t is dict and _struct_here(name, item, value, field)):
            out[spelled] = item
        else:
            out[spelled] = camel_keys(item, name)
    return out


def _camel_colliding(value: dict[str, Any], field: str) -> dict[str, Any]:
    """:func:`camel_keys` of an object with two keys of one protojson spelling.

    Such keys (a field in both spellings, which protojson refuses; or two unknown keys)
    stay as the input spells them, so that no value is lost from the output; the others
    are respelled.
    """
    count: dict[str, int] = {}
    for key in value:
        spelled = (_NAMES.get(key) or _names(key))[1]
        count[spelled] = count.get(spelled, 0) + 1
    out: dict[str, Any] = {}
    for key, item in value.items():
        name, spelled, kind = _NAMES.get(key) or _names(key)
        t = type(item)
        if t is not dict and t is not list:
            pass
        elif kind == 1 or (kind == 2 and t is dict and _struct_here(name, item, value, field)):
            pass
        else:
            item = camel_keys(item, name)
        out[key if count[spelled] > 1 else spelled] = item
    return out


def _struct_here(name: str, item: dict[str, Any], parent: dict[str, Any], field: str) -> bool:
    """Whether ``parent[name]`` (an object) is a Struct here, kept whole.

    Node ``metadata`` (a Metadata message holds only its own fields), a TypedStruct's or a
    Struct Any's ``value``, a v2 filter's ``config`` (no ``@type`` beside it), a transport
    socket match's ``match``.
    """
    if name == "metadata":
        return not all(metadata_field(k) for k in item)
    typed = parent.get("@type")
    if name == "value":
        return isinstance(typed, str) and typed.endswith(_STRUCT_ANY)
    if name == "config":
        return typed is None
    return name == "match" and field == "transport_socket_matches"
