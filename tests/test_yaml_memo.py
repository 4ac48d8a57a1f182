"""-o yaml copies a repeated subtree's text (#17): the same bytes as writing it again.

The writer keeps the text of each nested mapping or sequence by its indent and its JSON
encoding. These documents repeat subtrees that differ only where a copy would go wrong:
``1``/``1.0``/``true``, None/NaN/infinity, ``0.0``/``-0.0``, ``"1"``/``1``, a subclass of
a JSON type, the same subtree at another indent; and every corpus dump's sections.
"""

from __future__ import annotations

import json
import math
import random
from typing import Any

import pytest
import yaml

from pdebug.render import structured as st
from tests import harness as eh


class _Str(str):
    pass


class _Dict(dict):  # type: ignore[type-arg]
    pass


def _libyaml(obj: Any) -> str:
    text: str = yaml.dump(obj, Dumper=st._dumper(True), **st._OPTIONS)
    return text if text.isascii() else st._YAML_RAW.sub(st._yaml_run, text)


TWINS = [1, 1.0, True, 0, 0.0, -0.0, False, None, math.nan, math.inf, -math.inf, "1", "true"]
TWINS += ["null", "", 10**20, [], {}]


def _fresh(leaf: Any) -> Any:
    """A new copy (libyaml writes an anchor for one object met twice; decoded JSON has none)."""
    if isinstance(leaf, dict):
        return {k: _fresh(v) for k, v in leaf.items()}
    if isinstance(leaf, list):
        return [_fresh(v) for v in leaf]
    return leaf


def _documents(rng: random.Random) -> list[Any]:
    docs = []
    for _ in range(300):
        leaf = rng.choice(TWINS)
        other = rng.choice(TWINS)
        depth = rng.randint(0, 3)

        def sub(value: Any, depth: int = depth) -> Any:
            out: Any = {"a": {"b": [_fresh(value), {"c": _fresh(value)}]}, "k": "v"}
            for _ in range(depth):
                out = {"x": [out]}
            return out

        docs.append([sub(leaf), sub(other), sub(leaf), {"deeper": [sub(other), sub(leaf)]}])
        docs.append({"one": sub(leaf), "two": sub(other), "l": [sub(leaf), sub(other)]})
    return docs


@pytest.mark.parametrize("seed", range(3))
def test_repeated_subtrees_are_written_as_libyaml_writes_them(seed: int) -> None:
    rng = random.Random(seed)
    for doc in _documents(rng):
        assert st.render_yaml(doc, redact=False) == _libyaml(doc), doc


def test_a_subclass_is_not_copied_from_its_plain_twin() -> None:
    plain = {"a": {"b": "x"}}
    for odd in ({"a": {"b": _Str("x")}}, {"a": _Dict(b="x")}):
        doc = [plain, odd]
        try:
            expected = _libyaml(doc)
        except yaml.YAMLError as exc:
            with pytest.raises(type(exc)):
                st.render_yaml(doc, redact=False)
        else:
            assert st.render_yaml(doc, redact=False) == expected


def test_many_repeats_and_a_full_memo(monkeypatch: pytest.MonkeyPatch) -> None:
    """A key whose subtrees keep differing stops being looked up; a full memo stops growing."""
    monkeypatch.setattr(st, "_MEMO_LIMIT", 200)
    doc = [
        {"name": f"c{i}", "meta": {"id": i}, "fixed": {"x": [1, 2], "y": {"z": True}}}
        for i in range(200)
    ]
    assert st.render_yaml(doc, redact=False) == _libyaml(doc)


def test_every_corpus_dump_is_written_as_libyaml_writes_it() -> None:
    for path in eh.corpus_config_dumps():
        doc = json.loads(path.read_bytes())
        assert st.render_yaml(doc, redact=False) == _libyaml(doc), path


def test_deep_nesting_is_encoded_within_a_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each level's encoding holds the levels below: a budget bounds the work."""
    import time

    monkeypatch.setattr(st, "_MEMO_BUDGET", 1 << 20)
    doc: Any = {"leaf": ["x" * 50] * 2000}
    for i in range(400):
        doc = {f"k{i}": doc, "side": [i, "s"]}
    start = time.process_time()
    text = st._fast_yaml(doc)
    assert time.process_time() - start < 5.0
    assert st._MEMO_SIZE == [0, 0]  # cleared after the call
    monkeypatch.setattr(st, "_MEMO_BUDGET", -1)  # no memo at all
    assert st._fast_yaml(doc) == text
