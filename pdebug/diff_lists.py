"""diff's lists whose items have an identity: paired by it, not by position.

A virtual host's routes, a listener's filter chains, an HTTP connection manager's
filters, a cluster's endpoints: each item has a name (or a match, an address), and two
sides that list the same items in another order, or with one more in the middle, differ
in order or by that one item, not in every field of every item after it. :func:`align`
pairs the items of such lists on both sides of one resource (by ``name`` when every item
of both sides has a distinct one, else by the field that identifies it, equal ones in
their order; what is left pairs by position, a renamed route with itself), says which
items moved (the fewest: those outside a longest run kept in order) and which are on
one side only, and returns both resources with those lists cut down to the pairs, in the
left side's order, for the field by field comparison.

A list whose items pair by position already (the usual case: same items, same order,
maybe more at the end) is left as it is: its comparison is the positional one. What is
equal on both sides (as JSON: ``1`` is not ``1.0``) is cut out of both, for DeepDiff to
walk only what differs.

Pure functions over normalised plain data (:meth:`pdebug.diff.Resource.plain`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

#: Order matters to Envoy: say why a move is a real difference.
_FIRST_MATCH = "order matters: the first route that matches wins"
_RUN_ORDER = "order matters: filters run in list order"
#: Order does not change what Envoy picks: the move is in the config only.
ORDER_ONLY = "order only: Envoy does not choose by position"


def _json(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def _field_of(name: str) -> Callable[[Any], str | None]:
    def key(item: Any) -> str | None:
        return _json(item.get(name, {})) if isinstance(item, dict) else None

    return key


#: A route match's fields that say which paths it takes: first in its identity, so the
#: label a move prints (cut at 100 characters) starts with them.
_PATH_FIRST = (
    "prefix",
    "path",
    "safe_regex",
    "path_separated_prefix",
    "path_match_policy",
    "connect_matcher",
)


def _route_match(item: Any) -> str | None:
    if not isinstance(item, dict):
        return None
    match = item.get("match", {})
    if not isinstance(match, dict):
        return _json(match)
    first = {k: match[k] for k in _PATH_FIRST if k in match}
    rest = {k: v for k, v in sorted(match.items()) if k not in first}
    return orjson.dumps({**first, **rest}).decode()


def _address(item: Any) -> str | None:
    if not isinstance(item, dict):
        return None
    endpoint = item.get("endpoint")
    if not isinstance(endpoint, dict) or "address" not in endpoint:
        return None
    address = endpoint["address"]
    sock = address.get("socket_address") if isinstance(address, dict) else None
    if isinstance(sock, dict) and set(sock) <= {"address", "port_value"}:
        return f"{sock.get('address', '')}:{sock.get('port_value', 0)}"
    return _json(address)


def _locality(item: Any) -> str | None:
    if not isinstance(item, dict):
        return None
    priority = item.get("priority", 0)
    return _json(item.get("locality", {})) + (f" priority {priority}" if priority else "")


def _scalar(item: Any) -> str | None:
    return item if isinstance(item, str) else None


@dataclass(frozen=True)
class _Spec:
    """How the items of one list field are identified, and whether their order matters."""

    item: str  # what one item is called: "route"
    why: str  # what a move means to Envoy
    key: Callable[[Any], str | None] | None = None  # when names do not identify items
    by: str = ""  # what ``key`` reads ("match"); "" for the item itself
    named: bool = True  # try ``name`` first


#: List fields (by their field name) whose items are identified, wherever they are.
SPECS: dict[str, _Spec] = {
    "routes": _Spec("route", _FIRST_MATCH, _route_match, "match"),
    "virtual_hosts": _Spec("virtual host", ORDER_ONLY),
    "domains": _Spec("domain", ORDER_ONLY, _scalar, named=False),
    "filter_chains": _Spec(
        "filter chain", ORDER_ONLY, _field_of("filter_chain_match"), "filter_chain_match"
    ),
    "filters": _Spec("filter", _RUN_ORDER),
    "http_filters": _Spec("HTTP filter", _RUN_ORDER),
    "listener_filters": _Spec("listener filter", _RUN_ORDER),
    "lb_endpoints": _Spec("endpoint", ORDER_ONLY, _address, "address", named=False),
    "endpoints": _Spec("endpoint group", ORDER_ONLY, _locality, "locality", named=False),
    "clusters": _Spec("weighted cluster", ORDER_ONLY),
}

#: Fields whose keys below are data, not fields (a Struct, a metadata map): not looked in.
_OPAQUE = frozenset(
    {"json_format", "typed_json_format", "static_layer", "default_subset"}
    | {"metadata", "filter_metadata", "typed_filter_metadata", "labels"}
)


@dataclass
class Move:
    """An item that moved: the list's path (aligned parts), what it is, from and to."""

    parts: tuple[Any, ...]
    item: str
    what: str
    by: str  # what ``what`` is: "name", a field ("match"), or "" (the item itself)
    left: int
    right: int
    why: str


@dataclass
class OneSide:
    """An item of one side's list that pairs with none of the other's."""

    parts: tuple[Any, ...]  # the list's path (aligned parts)
    index: int  # in its own side's list
    value: Any
    side: int  # 0: only left, 1: only right


@dataclass
class Aligned:
    """What :func:`align` found, and how its paths map back to each side's lists."""

    moves: list[Move] = field(default_factory=list)
    one_side: list[OneSide] = field(default_factory=list)
    #: aligned path of a cut-down list -> (left index, right index) of each position.
    pairs: dict[tuple[Any, ...], list[tuple[int, int]]] = field(default_factory=dict)

    def coords(self, parts: list[Any] | tuple[Any, ...], side: int) -> list[Any]:
        """``parts`` (a path in the aligned resources) with one side's own list indices."""
        if not self.pairs:
            return list(parts)
        out: list[Any] = []
        for i, part in enumerate(parts):
            pairs = self.pairs.get(tuple(parts[:i])) if isinstance(part, int) else None
            out.append(pairs[part][side] if pairs is not None and part < len(pairs) else part)
        return out


def _keys(items: list[Any], spec: _Spec, by_name: bool) -> list[str] | None:
    """Each item's identity (equal ones numbered in order), or None: not identified."""
    raw: list[str] = []
    for item in items:
        if by_name:
            raw.append(str(item["name"]))
            continue
        key = spec.key(item) if spec.key is not None else None
        if key is None:
            return None
        raw.append(key)
    if by_name:
        return raw
    seen: dict[str, int] = {}
    out = []
    for key in raw:
        n = seen.get(key, 0)
        seen[key] = n + 1
        out.append(key if n == 0 else f"{key} (#{n + 1})")
    return out


def _named(items: list[Any]) -> bool:
    names = [i.get("name") if isinstance(i, dict) else None for i in items]
    return all(isinstance(n, str) and n for n in names) and len(set(names)) == len(names)


def _pair(
    left: list[Any], right: list[Any], spec: _Spec
) -> tuple[list[tuple[int, int]], list[str], str] | None:
    """Pairs (left index, right index) in left order, each left item's identity, and by what."""
    by_name = spec.named and _named(left) and _named(right)
    lk, rk = _keys(left, spec, by_name), _keys(right, spec, by_name)
    if lk is None or rk is None:
        return None
    where = {key: j for j, key in enumerate(rk)}
    pairs = [(i, where[key]) for i, key in enumerate(lk) if key in where]
    taken_l = {i for i, _ in pairs}
    taken_r = {j for _, j in pairs}
    # What identity does not pair pairs by position: a renamed route with itself.
    for i in range(min(len(left), len(right))):
        if i not in taken_l and i not in taken_r:
            pairs.append((i, i))
    pairs.sort()
    return pairs, lk, "name" if by_name else spec.by


def _kept(pairs: list[tuple[int, int]]) -> set[int]:
    """Positions of ``pairs`` in a longest run whose right indices increase.

    ``pairs`` are in left order, their right indices distinct.
    Of the longest runs, one that keeps the most items at their own index (``i == j``):
    an item that did not move is not reported moved when another run explains it.
    A Fenwick tree of the best run ending at each value: O(n log n).
    """
    size = max((j for _, j in pairs), default=-1) + 2
    tree: list[tuple[int, int, int]] = [(0, 0, -1)] * (size + 1)
    before = [-1] * len(pairs)
    best: tuple[int, int, int] = (0, 0, -1)
    for pos, (i, j) in enumerate(pairs):
        k, got = j, (0, 0, -1)  # the best run ending below j
        while k > 0:
            got = max(got, tree[k])
            k -= k & -k
        here = (got[0] + 1, got[1] + (i == j), pos)
        before[pos] = got[2]
        best = max(best, here)
        k = j + 1
        while k <= size:
            if here > tree[k]:
                tree[k] = here
            k += k & -k
    kept: set[int] = set()
    pos = best[2]
    while pos >= 0:
        kept.add(pos)
        pos = before[pos]
    return kept


def align(left: Any, right: Any) -> tuple[Any, Any, Aligned]:
    """Both resources with identified lists cut down to their pairs, and what was cut."""
    found = Aligned()
    a, b = _walk(left, right, (), found)
    return a, b, found


def _same(left: Any, right: Any) -> bool:
    """Whether two equal containers are equal as JSON too (``1``, ``1.0`` and ``true`` are not)."""
    try:
        return orjson.dumps(left, option=orjson.OPT_SORT_KEYS) == orjson.dumps(
            right, option=orjson.OPT_SORT_KEYS
        )
    except (orjson.JSONEncodeError, TypeError):  # an integer past 64 bits: compare in full
        return False


def _walk(left: Any, right: Any, parts: tuple[Any, ...], found: Aligned) -> tuple[Any, Any]:
    if type(left) in (dict, list) and left == right and _same(left, right):
        # equal: nothing to compare field by field (a route config's thousand unchanged
        # virtual hosts are not walked again by DeepDiff). Cut to an empty map, not None:
        # DeepDiff compares a list of hashable items by hash (1 and 1.0 alike), and a
        # list must stay what it was, unhashable items and all.
        return {}, {}
    if type(left) is dict and type(right) is dict:
        da, db = dict(left), dict(right)
        for key, value in left.items():
            if key in right and key not in _OPAQUE:
                da[key], db[key] = _walk(value, right[key], (*parts, key), found)
        return da, db
    if type(left) is not list or type(right) is not list:
        return left, right
    name = parts[-1] if parts and isinstance(parts[-1], str) else None
    spec = SPECS.get(name) if name is not None else None
    paired = _pair(left, right, spec) if spec is not None else None
    if paired is None or all(i == j for i, j in paired[0]):
        # by position: what DeepDiff compares (items past the shorter end: one side only)
        n = min(len(left), len(right))
        a, b = list(left), list(right)
        for k in range(n):
            a[k], b[k] = _walk(left[k], right[k], (*parts, k), found)
        return a, b
    assert spec is not None
    pairs, keys, by = paired
    found.pairs[parts] = pairs
    kept = _kept(pairs)
    for pos, (i, j) in enumerate(pairs):
        if pos not in kept:
            found.moves.append(Move(parts, spec.item, keys[i], by, i, j, spec.why))
    taken_l = {i for i, _ in pairs}
    taken_r = {j for _, j in pairs}
    found.one_side.extend(
        OneSide(parts, i, item, 0) for i, item in enumerate(left) if i not in taken_l
    )
    found.one_side.extend(
        OneSide(parts, j, item, 1) for j, item in enumerate(right) if j not in taken_r
    )
    la: list[Any] = []
    lb: list[Any] = []
    for pos, (i, j) in enumerate(pairs):
        x, y = _walk(left[i], right[j], (*parts, pos), found)
        la.append(x)
        lb.append(y)
    return la, lb
