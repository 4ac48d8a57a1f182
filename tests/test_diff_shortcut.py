"""The camelCase diff's shortcut never calls equal what the full comparison calls different (#17).

``pdebug diff`` of istiod's lowerCamelCase dump against Envoy's snake_case one respells
only the camelCase side, but for the names the snake_case side's earlier resources held
(``_respelled_is``), and compares it with the other side's text as it is. These tests hold
it to the full comparison on seeded random respellings of real resources, with names
respelled inside the maps whose keys are data (labels, metadata, typed maps' own names).
"""

from __future__ import annotations

import copy
import json
import random
from typing import Any

import msgspec
import orjson
import pytest

from pdebug import diff as d
from pdebug.model.camel import to_snake
from tests import harness as eh

SIDECAR = eh.FIXTURES / "real" / "sidecar" / "config_dump.json"


def _raw(value: Any, indent: bool = False) -> msgspec.Raw:
    option = orjson.OPT_INDENT_2 if indent else 0
    return msgspec.Raw(orjson.dumps(value, option=option))


def _full(a: Any, b: Any) -> bool:
    """The full comparison's answer: equal after normalising (no digest)."""
    return d._canonical(d.Resource("r", _raw(a))) == d._canonical(d.Resource("r", _raw(b)))


def _resources() -> list[dict[str, Any]]:
    """Every cluster, listener and route config of the real sidecar dump (snake_case)."""
    doc = json.loads(SIDECAR.read_text())
    out: list[dict[str, Any]] = []
    for section in doc["configs"]:
        for key in ("dynamic_active_clusters", "dynamic_route_configs"):
            for entry in section.get(key, []):
                out.append(entry.get("cluster") or entry.get("route_config"))
        for entry in section.get("dynamic_listeners", []):
            if "active_state" in entry:
                out.append(entry["active_state"]["listener"])
    return out


def _respell_one(value: Any, rng: random.Random) -> None:
    """Respell one key anywhere (a field, a label, a metadata or typed map's own name)."""
    nodes = [n for n in eh.every_dict(value) if n]
    node = rng.choice(nodes)
    key = rng.choice(list(node))
    if key.startswith("@"):
        return
    new = rng.choice([eh.json_name(key), to_snake(key), key + "X", key.replace("_", "")])
    if new != key and new not in node:
        node[new] = node.pop(key)


def _change_one(value: Any, rng: random.Random) -> None:
    """Change one scalar value, or add a key in camelCase or snake_case."""
    node = rng.choice(eh.every_dict(value))
    scalars = [k for k, v in node.items() if isinstance(v, (str, int, bool))]
    if scalars and rng.random() < 0.5:
        key = rng.choice(scalars)
        node[key] = "changed" if not isinstance(node[key], str) else node[key] + "x"
    else:
        node[rng.choice(["fooBar", "foo_bar", "tlsMode", "LABELS"])] = {"appName": "a"}


def _pairs(seed: int) -> list[tuple[Any, Any]]:
    """(istiod's camelCase, Envoy's snake_case) pairs, some respelled or changed on one side."""
    rng = random.Random(seed)
    pairs = []
    for snake in _resources():
        camel = eh.camelize(snake)
        pairs.append((camel, snake))  # equal
        for _ in range(3):
            left, right = copy.deepcopy(camel), copy.deepcopy(snake)
            side = rng.choice([left, right])
            for _ in range(rng.randint(1, 2)):
                (_respell_one if rng.random() < 0.7 else _change_one)(side, rng)
            pairs.append((left, right))
    return pairs


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_shortcut_answers_as_the_ordinary_digest_and_never_looser_than_full(seed):
    pairs = _pairs(seed)
    for direction in (0, 1):
        seen = (d._Seen(), d._Seen())
        fast_true = 0
        for pair in pairs:
            a, b = pair if direction == 0 else pair[::-1]
            ra, rb = _raw(a, indent=True), _raw(b)
            fast = d._same_meaning(ra, rb, seen)
            assert fast is d._same_meaning(ra, rb), (a, b)
            if fast:
                fast_true += 1
                assert _full(a, b), (a, b)
        assert fast_true >= len(_resources())  # every unchanged pair at least


def test_a_key_ending_in_an_escaped_opener_name_is_not_the_opener():
    # ``x"metadata`` ends in the text ``"metadata":``: the real ``metadata`` key's map
    # (a node metadata Struct entry holding a name in either spelling) is the one looked at
    camel = {"name": "c", 'x"metadata': {"fooBar": 1}, "metadata": {"LABELS": {"appName": 1}}}
    snake = {"name": "c", 'x"metadata': {"fooBar": 1}, "metadata": {"LABELS": {"app_name": 1}}}
    assert not _full(camel, snake)
    seen = d._Seen()
    assert not d._respelled_is(
        orjson.dumps(camel), orjson.dumps(snake), seen
    )  # the Struct entry's name differs
    assert d._same_meaning(_raw(camel), _raw(snake), (d._Seen(), d._Seen())) is False
    c = orjson.dumps(camel)
    names = d._HUMP_OR_OPENER_KEY.split(c)[1::2]
    [(end, name)] = d._openers(c, names)
    assert name == b"metadata" and c[end:].startswith(b'{"LABELS"')


def test_opener_spellings_are_every_name_the_opener_regex_finds():
    rng = random.Random(5)
    for name in d._IS_OPENER:
        assert d._OPENER.fullmatch(b'"%s":' % name)
    parts = [b"typed", b"_", b"filter", b"Filter", b"metadata", b"Metadata", b"labels", b"key"]
    for _ in range(5000):
        name = b"".join(rng.choice(parts) for _ in range(rng.randint(1, 4)))
        assert (d._OPENER.fullmatch(b'"%s":' % name) is not None) is (name in d._IS_OPENER)


@pytest.mark.parametrize(
    ("camel", "snake", "same"),
    [
        # a metadata map holding filter_metadata only: its names are data
        (
            {"metadata": {"filterMetadata": {"istio": {"aB": 1}}}},
            {"metadata": {"filter_metadata": {"istio": {"a_b": 1}}}},
            False,
        ),
        (
            {"metadata": {"filterMetadata": {"istio": {"a_b": 1}}}, "lbPolicy": "X"},
            {"metadata": {"filter_metadata": {"istio": {"a_b": 1}}}, "lb_policy": "X"},
            True,
        ),
        # beside a Struct entry, and a tracing tag's metadata fields (respelled)
        (
            {"metadata": {"filterMetadata": {}, "LABELS": {"aB": 1}}},
            {"metadata": {"filter_metadata": {}, "LABELS": {"a_b": 1}}},
            False,
        ),
        (
            {"metadata": {"metadataKey": {"key": "k"}, "kind": {"host": {}}}},
            {"metadata": {"metadata_key": {"key": "k"}, "kind": {"host": {}}}},
            True,
        ),
        # typed_filter_metadata: own names kept, the values' names respelled
        (
            {"metadata": {"typedFilterMetadata": {"envoy.x": {"fooBar": 1}}}},
            {"metadata": {"typed_filter_metadata": {"envoy.x": {"foo_bar": 1}}}},
            True,
        ),
        (
            {"metadata": {"typedFilterMetadata": {"envoyX": {"a": 1}}}},
            {"metadata": {"typed_filter_metadata": {"envoy_x": {"a": 1}}}},
            False,
        ),
        # an opener nested in a typed map's value is still looked at
        (
            {"typedPerFilterConfig": {"f": {"metadata": {"LABELS": {"aB": 1}}}}},
            {"typed_per_filter_config": {"f": {"metadata": {"LABELS": {"a_b": 1}}}}},
            False,
        ),
    ],
)
def test_metadata_and_typed_maps(camel, snake, same):
    camel, snake = {"name": "c", **camel}, {"name": "c", **snake}
    assert _full(camel, snake) is same
    for left, right in ((camel, snake), (snake, camel)):
        assert d._same_meaning(_raw(left), _raw(right, indent=True)) is same
        assert d._same_meaning(_raw(left), _raw(right), (d._Seen(), d._Seen())) is same


def test_a_name_kept_alike_on_both_sides_goes_to_the_full_comparison():
    # the digest is not looser than the full comparison, it may be stricter: a camelCase
    # name inside a labels map, spelled alike on both sides, is left to the full one
    camel = {"name": "c", "typedPerFilterConfig": {"f": {"labels": {"appName": "x"}, "fooBar": 1}}}
    snake = {
        "name": "c",
        "typed_per_filter_config": {"f": {"labels": {"appName": "x"}, "foo_bar": 1}},
    }
    assert _full(camel, snake)
    assert not d._same_meaning(_raw(camel), _raw(snake), (d._Seen(), d._Seen()))
    report = d.compare_kind(
        "clusters", {"c": d.Resource("c", _raw(camel))}, {"c": d.Resource("c", _raw(snake))}
    )
    assert report.match
