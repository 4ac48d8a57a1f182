"""Scoped routes (SRDS): which route configuration a request's scope key selects.

Envoy builds a key from the request, one fragment per ``scope_key_builder`` fragment
builder, and takes the scope whose ``key.fragments`` equal it, in order; a fragment it
cannot build (header absent, index past the end, key not found) matches no scope, and no
scope is a 404. Facts checked against Envoy 1.40 (tests/test_sweep6_inputs.py):

* a header that appears more than once: only its first value is used;
* ``element_separator`` empty: the whole value; else the value is split on it, with no
  trimming, and ``index`` picks one element (``a;`` has an empty element 1);
* ``element``: the first element whose text before the first ``separator`` is ``key``
  gives the text after it (``k`` alone gives ``""``; ``k=v=z`` gives ``v=z``);
* comparisons are case-sensitive.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pdebug.model.camel import spellings
from pdebug.trace.request import HttpRequest


def get(obj: Any, name: str, default: Any = None) -> Any:
    """Field ``name`` (snake_case) of a JSON object in either spelling."""
    if not isinstance(obj, dict):
        return default
    for key in spellings(name):
        if key in obj:
            return obj[key]
    return default


@dataclass(frozen=True)
class Scope:
    """One ScopedRouteConfiguration: its name, key, and route configuration."""

    name: str
    key: tuple[str, ...]
    route_configuration_name: str
    route_configuration: Any  # the inline RouteConfiguration (plain JSON), or None


def scopes_of(configs: Any) -> list[Scope]:
    """The scopes of a ``scoped_route_configs`` / ``scoped_route_configurations`` list."""
    out = []
    for c in configs if isinstance(configs, list) else []:
        frags = get(get(c, "key"), "fragments", [])
        key = tuple(str(get(f, "string_key", "")) for f in frags if isinstance(f, dict))
        out.append(
            Scope(
                str(get(c, "name", "")),
                key,
                str(get(c, "route_configuration_name", "") or ""),
                get(c, "route_configuration"),
            )
        )
    return out


def _header(http: HttpRequest, name: str) -> str | None:
    values = http.values(name)
    return values[0] if values else None


def fragment(builder: Any, http: HttpRequest) -> tuple[str | None, str]:
    """One key fragment: (value, why); value None when Envoy cannot build it.

    Raises:
        ValueError: a fragment builder pdebug does not know (a build of Envoy with its
            own extractors, such as Higress's port and host extractors).
    """
    hve = get(builder, "header_value_extractor")
    if not isinstance(hve, dict):
        kinds = ",".join(builder) if isinstance(builder, dict) else type(builder).__name__
        raise ValueError(f"fragment builder {kinds or '(empty)'}")
    name = str(get(hve, "name", ""))
    value = _header(http, name)
    if value is None:
        return None, f"header {name} absent"
    sep = str(get(hve, "element_separator", "") or "")
    element = get(hve, "element")
    if isinstance(element, dict):
        kv_sep = str(get(element, "separator", "") or "")
        want = str(get(element, "key", ""))
        for item in value.split(sep) if sep else [value]:
            if not item:
                continue
            k, found, v = item.partition(kv_sep) if kv_sep else (item, "", "")
            if k == want:
                return (v if found else ""), f"{name} element {want}"
        return None, f"header {name} has no element {want}"
    index = get(hve, "index", 0) or 0
    if not sep:
        return (value if index == 0 else None), f"header {name}"
    items = value.split(sep)
    if not isinstance(index, int) or index >= len(items):
        return None, f"header {name} has no element {index}"
    return items[index], f"header {name} element {index}"


def build_key(fragments: Any, http: HttpRequest) -> tuple[tuple[str, ...] | None, str]:
    """The request's scope key, or None with why it cannot be built (a 404 in Envoy).

    Raises:
        ValueError: a fragment builder pdebug does not know.
    """
    key: list[str] = []
    for builder in fragments if isinstance(fragments, list) else []:
        value, why = fragment(builder, http)
        if value is None:
            return None, why
        key.append(value)
    return tuple(key), ""
