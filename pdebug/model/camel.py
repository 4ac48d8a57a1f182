"""Key spelling: Envoy writes snake_case, istiod and istioctl re-emit lowerCamelCase.

The typed schema (:mod:`pdebug.model.schema`) is written once in snake_case.
:func:`camel_twin` derives, per Struct class, a subclass that decodes the
lowerCamelCase spelling into the same attribute names, so views never care which
spelling a dump used. :func:`snake_keys` normalises a generic document whose
spellings are *mixed* (istioctl's old ``/clusters`` test data is).
"""

from __future__ import annotations

import functools
import re
import types
import typing
from typing import Any, TypeVar

import msgspec

S = TypeVar("S", bound=msgspec.Struct)

_TWINS: dict[type[Any], type[Any]] = {}


def to_camel(name: str) -> str:
    """``route_config_name`` -> ``routeConfigName``."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


_CAMEL_HUMP = re.compile(r"(?<=[a-z0-9])([A-Z])")


def to_snake(name: str) -> str:
    """``routeConfigName`` -> ``route_config_name``; ``ISTIO_VERSION`` is left alone."""
    return _CAMEL_HUMP.sub(lambda m: "_" + m.group(1).lower(), name)


def _convert_type(tp: Any) -> Any:
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        return camel_twin(tp)
    origin = typing.get_origin(tp)
    if origin is None:
        return tp
    args = tuple(_convert_type(a) for a in typing.get_args(tp))
    if origin in (types.UnionType, typing.Union):
        return functools.reduce(lambda a, b: a | b, args)
    return origin[args]


def camel_twin(cls: type[S]) -> type[S]:
    """Return the subclass of ``cls`` that decodes lowerCamelCase keys.

    Explicit wire names (``@type``) are kept; nested Struct types are twinned too.
    """
    known = _TWINS.get(cls)
    if known is not None:
        return known
    fields = msgspec.structs.fields(cls)
    rename = {
        f.name: (f.encode_name if f.encode_name != f.name else to_camel(f.name)) for f in fields
    }
    spec: list[Any] = []
    for f in fields:
        tp = _convert_type(f.type)
        if f.default is not msgspec.NODEFAULT:
            spec.append((f.name, tp, f.default))
        elif f.default_factory is not msgspec.NODEFAULT:
            spec.append((f.name, tp, msgspec.field(default_factory=f.default_factory)))
        else:
            spec.append((f.name, tp))
    twin: type[Any] = msgspec.defstruct(
        cls.__name__ + "Camel",
        spec,
        bases=(cls,),
        rename=rename,
        module=cls.__module__,
        **_struct_config(cls),
    )
    _TWINS[cls] = twin
    return twin


def _struct_config(cls: type[msgspec.Struct]) -> dict[str, Any]:
    cfg = cls.__struct_config__
    return {"gc": cfg.gc, "frozen": cfg.frozen}


# Keys whose values are free-form maps (protobuf Struct or map<string, ...>): their
# own keys are data, not field names, and must not be respelled.
_OPAQUE = frozenset(
    {
        "filter_metadata",
        "typed_filter_metadata",
        "labels",
        "key_values",
        "fields",
        "annotations",
    }
)


def snake_keys(obj: Any, *, _parent: str = "") -> Any:
    """Respell every field name in a generic JSON tree as snake_case.

    Map-valued fields (metadata, labels, ...) keep their keys. A ``metadata`` that is
    a protobuf Struct (node metadata) keeps its keys too; a ``metadata`` that is
    Envoy's Metadata message only has ``filter_metadata``/``typed_filter_metadata``.
    """
    if isinstance(obj, list):
        return [snake_keys(v, _parent=_parent) for v in obj]
    if not isinstance(obj, dict):
        return obj
    out: dict[str, Any] = {}
    for key, value in obj.items():
        if _parent in _OPAQUE:
            new_key = key
        elif _parent == "metadata" and key not in ("filterMetadata", "typedFilterMetadata"):
            new_key = key
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
