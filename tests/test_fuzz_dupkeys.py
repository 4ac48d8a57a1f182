"""Seeded: a key written twice in one resource is read the way every view reads it.

JSON readers (and so every pdebug view) keep the LAST of duplicate keys; Envoy never
writes one, but a hand-edited or tool-merged dump can. pdebug's diff has byte-level
shortcuts (a leading-``name`` regex, compact and respelled text compared as bytes) that
must not see the first instead. Each case takes a real dump (Envoy's, istiod's, the
corpus), picks a resource and one of its keys at any depth at random, and writes that
key a second time with a different value, either after the original (the new value
wins: ``diff`` must not say that kind matches) or before it (the original wins: it must
say it matches). Both sides are written by the same serialiser, so only the duplicate
differs.

``PDEBUG_FUZZDUP_CASES`` (default 40) and ``PDEBUG_FUZZDUP_SEED`` (default 11); a
failure names the seed, the case, the dump, the path and where the duplicate went.
"""

from __future__ import annotations

import json
import os
import random
from typing import Any

import pytest

from tests.harness import FIXTURES

CASES = int(os.environ.get("PDEBUG_FUZZDUP_CASES", "40"))
SEED = int(os.environ.get("PDEBUG_FUZZDUP_SEED", "11"))

DUMPS = [
    FIXTURES / "real" / "sidecar" / "config_dump.json",
    FIXTURES / "istioctl" / "proxy-config-all" / "config_dump.json",
    *sorted(FIXTURES.glob("corpus/*/*config_dump*.json"))[:6],
]

#: Where each kind's resources sit in a config section, spelled without ``_`` lowercased.
_PLACES = {
    "clusters": {"dynamicactiveclusters": "cluster", "staticclusters": "cluster",
                 "dynamicwarmingclusters": "cluster"},
    "listeners": {"staticlisteners": "listener", "dynamiclisteners": None},
    "routes": {"dynamicrouteconfigs": "routeconfig", "staticrouteconfigs": "routeconfig"},
}  # fmt: skip


def _flat(key: str) -> str:
    return key.replace("_", "").lower()


def _resources(doc: Any) -> list[tuple[str, dict[str, Any]]]:
    """Every (kind, resource dict) in a config dump."""
    out: list[tuple[str, dict[str, Any]]] = []
    for config in doc.get("configs", []) if isinstance(doc, dict) else []:
        if not isinstance(config, dict):
            continue
        for kind, places in _PLACES.items():
            for key, value in config.items():
                if _flat(key) not in places or not isinstance(value, list):
                    continue
                inner = places[_flat(key)]
                for entry in value:
                    if not isinstance(entry, dict):
                        continue
                    for k, v in entry.items():
                        flat = _flat(k)
                        if inner is None and flat == "activestate" and isinstance(v, dict):
                            for k2, v2 in v.items():
                                if _flat(k2) == "listener" and isinstance(v2, dict):
                                    out.append((kind, v2))
                        elif flat == inner and isinstance(v, dict):
                            out.append((kind, v))
    # A name that comes twice in one kind (Envoy's inline route configs): diff compares
    # the last one only, so a case on the other would prove nothing.
    names = [(kind, res.get("name")) for kind, res in out]
    return [r for r, n in zip(out, names, strict=True) if names.count(n) == 1]


def _dicts(value: Any, path: str = "") -> list[tuple[str, dict[str, Any]]]:
    out: list[tuple[str, dict[str, Any]]] = []
    if isinstance(value, dict):
        out.append((path, value))
        for k, v in value.items():
            out.extend(_dicts(v, f"{path}.{k}"))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out.extend(_dicts(v, f"{path}[{i}]"))
    return out


def _other(value: Any, rng: random.Random) -> Any:
    """A value that means something else than ``value`` once normalised."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + rng.randint(1, 9)
    if isinstance(value, float):
        return value + 1.5
    if isinstance(value, str):
        return rng.choice([value + "-dup", "dup-" + value, "pdebug.dup.example", value[::-1] + "x"])
    if isinstance(value, list):
        return ["pdebug-dup"] if not value else []
    if isinstance(value, dict):
        return {"pdebug_dup": 1} if value else {"pdebug_dup": rng.randint(1, 9)}
    return "pdebug-dup"


def _write(value: Any, target: int, key: str, pair: tuple[Any, ...], sep: str = ", ") -> str:
    """``value`` as JSON text; in the dict whose id is ``target``, ``key`` written once per
    value of ``pair``, in that order, where it stood."""
    if isinstance(value, dict):
        parts = []
        for k, v in value.items():
            if id(value) == target and k == key:
                parts.extend(f"{json.dumps(k)}: {_write(x, 0, '', (), sep)}" for x in pair)
            else:
                parts.append(f"{json.dumps(k)}: {_write(v, target, key, pair, sep)}")
        return "{" + sep.join(parts) + "}"
    if isinstance(value, list):
        return "[" + sep.join(_write(v, target, key, pair, sep) for v in value) + "]"
    return json.dumps(value)


#: How each side writes the key: (left's values, right's values, whether they match).
#: ``o`` is the original value, ``d`` a different one; the last of each side is read.
MODES = {
    "after": ("o", "od", False),  # the duplicate wins on the right
    "before": ("o", "do", True),  # the original still wins on the right
    "swapped": ("od", "do", False),  # both hold both values, in the other order
    "same-last": ("do", "o", True),  # left's first value is shadowed: same meaning
    "shadowed": ("do", "dd", False),  # both shadow, but read different values
}


def _case(rng: random.Random) -> tuple[str, str, str, str, str, str, bool]:
    path = rng.choice([d for d in DUMPS if d.exists()])
    doc = json.loads(path.read_text())
    kind, res = rng.choice(_resources(doc))
    if "name" in res and rng.random() < 0.25:  # the resource's own name: how diff keys it
        where, target, key = "", res, "name"
    else:
        where, target = rng.choice([d for d in _dicts(res) if d[1]])
        key = rng.choice([k for k in target if k != "@type"] or list(target))
    values = {"o": target[key], "d": _other(target[key], rng)}
    mode = rng.choice(list(MODES))
    lw, rw, same = MODES[mode]
    sep = rng.choice([", ", ",", ",\n  "])
    left = _write(doc, id(target), key, tuple(values[c] for c in lw), sep)
    right = _write(doc, id(target), key, tuple(values[c] for c in rw), sep)
    return str(path), kind, f"{where}.{key}", left, right, mode, same


def _compare(left: str, right: str, kind: str) -> Any:
    from pdebug.diff import compare
    from pdebug.model.load import load

    a = load(left.encode(), "left").dump
    b = load(right.encode(), "right").dump
    assert a is not None and b is not None
    return compare(a, b, kinds=(kind,), include_static=True).kinds[0]


def test_cases_reach_every_kind():
    rng = random.Random(SEED)
    assert {_case(rng)[1] for _ in range(30)} == set(_PLACES)


@pytest.mark.parametrize("case", range(CASES))
def test_a_key_written_twice_reads_as_its_last(case):
    rng = random.Random(SEED * 100_003 + case)
    path, kind, where, left, right, mode, same = _case(rng)
    rep = _compare(left, right, kind)
    said = f"seed {SEED} case {case}: {path} {kind} {where} written twice ({mode})"
    assert rep.match is same, said + ": " + rep.verdict
    # and each resource it reports is named as the views name it (json keeps the last)
    both = [r for text in (left, right) for k, r in _resources(json.loads(text)) if k == kind]
    names = {r.get("name") for r in both}
    if all(isinstance(n, str) for n in names):  # (a listener without one: named by address)
        assert {c.name for c in rep.changes} <= names, said
