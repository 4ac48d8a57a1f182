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


def sorted_keys(value: Any) -> Any:
    """``value`` (plain JSON data) with every mapping's keys in istioctl's YAML order."""
    t = type(value)
    if t is list:
        return [sorted_keys(v) if type(v) is dict or type(v) is list else v for v in value]
    if t is not dict:
        return value
    keys = list(value)
    if all(_plain_order(k) for k in keys):
        keys.sort()
    elif all(type(k) is str for k in keys):
        keys.sort(key=_KEY)
    out: dict[Any, Any] = {}
    for key in keys:
        item = value[key]
        ti = type(item)
        out[key] = sorted_keys(item) if ti is dict or ti is list else item
    return out
