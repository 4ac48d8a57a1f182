"""Mapping keys in the order istioctl's YAML prints them (``-o yaml --keys camel``).

istioctl turns its JSON into YAML through sigs.k8s.io/yaml, whose YAML writer (a fork of
go-yaml v2) sorts every mapping's keys, with its own order for strings: compared a
character at a time, where they first differ

* two letters compare by code point;
* a letter comes after anything that is not a letter (``@type`` first);
* otherwise the runs of decimal digits starting there compare as numbers (``a2`` before
  ``a10``), then the shorter run first, then the two characters by code point.

A string that is a prefix of another comes first. Sequences keep their order.
"""

from __future__ import annotations

import functools
from typing import Any

from pdebug.model.camel import _NAMED_MAPS, _NAMES, _camel_colliding, _names, _struct_here

_INT64 = 1 << 64


def _wrap(n: int) -> int:
    """``n`` as Go's int64 arithmetic leaves it (it wraps around)."""
    n %= _INT64
    return n - _INT64 if n >= 1 << 63 else n


def _digits(s: str, i: int, start: int) -> tuple[int, int]:
    """The number made by ``s``'s decimal digits from ``i`` on, and the index after them."""
    n, j = start, i
    while j < len(s) and s[j].isdecimal():
        n = _wrap(n * 10 + ord(s[j]) - 48)
        j += 1
    return n, j


def key_less(a: str, b: str) -> bool:
    """Whether key ``a`` comes before key ``b`` in istioctl's YAML."""
    for i, (ca, cb) in enumerate(zip(a, b, strict=False)):
        if ca == cb:
            continue
        la, lb = ca.isalpha(), cb.isalpha()
        if la and lb:
            return ca < cb
        if la or lb:
            return lb
        # A zero inside a number (digits before it, not all zeros) is not a leading zero.
        start = 0
        if ca == "0" or cb == "0":
            j = i - 1
            while j >= 0 and a[j].isdecimal():
                if a[j] != "0":
                    start = 1
                    break
                j -= 1
        an, ai = _digits(a, i, start)
        bn, bi = _digits(b, i, start)
        if an != bn:
            return an < bn
        if ai != bi:
            return ai < bi
        return ca < cb
    return len(a) < len(b)


def _cmp(a: str, b: str) -> int:
    return -1 if key_less(a, b) else 1 if key_less(b, a) else 0


_KEY = functools.cmp_to_key(_cmp)


def _plain_order(key: Any) -> bool:
    """Whether ``key`` sorts among such keys as Python sorts strings (letters and ``@``)."""
    return type(key) is str and (key.isalpha() or key == "@type")


#: keys of a mapping, as written -> the same keys in istioctl's order
_ORDERS: dict[tuple[Any, ...], tuple[Any, ...]] = {}


def _order(keys: tuple[Any, ...]) -> tuple[Any, ...]:
    known = _ORDERS.get(keys)
    if known is not None:
        return known
    order = list(keys)
    if all(_plain_order(k) for k in order):
        order.sort()
    elif all(type(k) is str for k in order):
        order.sort(key=_KEY)
    known = tuple(order)
    if len(_ORDERS) < 20_000:
        _ORDERS[keys] = known
    return known


def sorted_keys(value: Any) -> Any:
    """``value`` (plain JSON data) with every mapping's keys in istioctl's YAML order."""
    t = type(value)
    if t is list:
        return [sorted_keys(v) if type(v) is dict or type(v) is list else v for v in value]
    if t is not dict:
        return value
    keys = tuple(value)
    order = _ORDERS.get(keys) or _order(keys)
    out: dict[Any, Any] = {}
    for key in order:
        item = value[key]
        ti = type(item)
        out[key] = sorted_keys(item) if ti is dict or ti is list else item
    return out


# --- respelled and sorted in one pass (``-o yaml --keys camel``) -------------------------

#: keys of an object, as written -> (key, field name, protojson spelling, kind) in
#: istioctl's order of the spellings; None when two keys have one spelling
_PLANS: dict[tuple[str, ...], tuple[tuple[str, str, str, int], ...] | None] = {}


_UNPLANNED: tuple[tuple[str, str, str, int], ...] = (("", "", "", -1),)


def _plan(keys: tuple[str, ...]) -> tuple[tuple[str, str, str, int], ...] | None:
    named = {}
    for key in keys:
        name, spelled, kind = _NAMES.get(key) or _names(key)
        named[spelled] = (key, name, spelled, kind)
    plan = None if len(named) < len(keys) else tuple(named[k] for k in _order(tuple(named)))
    if len(_PLANS) < 20_000:
        _PLANS[keys] = plan
    return plan


def camel_sorted(value: Any, field: str = "") -> Any:
    """``sorted_keys(camel_keys(value, field))``, in one pass over ``value``."""
    t = type(value)
    if t is list:
        return [camel_sorted(v, field) if type(v) is dict or type(v) is list else v for v in value]
    if t is not dict:
        return value
    keys = tuple(value)
    if field in _NAMED_MAPS:
        return {k: camel_sorted(value[k]) for k in (_ORDERS.get(keys) or _order(keys))}
    plan = _PLANS.get(keys, _UNPLANNED)
    if plan is _UNPLANNED:
        plan = _plan(keys)
    if plan is None:
        return sorted_keys(_camel_colliding(value, field))
    out: dict[str, Any] = {}
    for key, name, spelled, kind in plan:
        item = value[key]
        ti = type(item)
        if ti is not dict and ti is not list:
            out[spelled] = item
        elif kind == 1 or (kind == 2 and ti is dict and _struct_here(name, item, value, field)):
            out[spelled] = sorted_keys(item)
        else:
            out[spelled] = camel_sorted(item, name)
    return out
