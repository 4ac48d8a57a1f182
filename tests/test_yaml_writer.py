"""-o yaml's own writer: libyaml's bytes, and PyYAML reads back what was written (#17).

``render_yaml`` writes JSON-shaped data itself (PyYAML's Python representer was 93% of
``clusters -o yaml``). These tests hold it to libyaml's output byte for byte, on fuzzed
documents full of strings that need quoting, and to ``yaml.safe_load`` round trips.
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path
from typing import Any

import pytest
import yaml

from pdebug.render import structured as st

ROOT = Path(__file__).resolve().parent.parent
SIDECAR = ROOT / "fixtures" / "real" / "sidecar" / "config_dump.json"

#: Pieces of strings: YAML indicators, words the resolver reads as other types, blanks,
#: unicode (also past U+FFFF, which libyaml calls unprintable), control characters.
PIECES = [
    *"abcxyzABCZ0123456789 -_:#,.?!'\"[]{}&*|>%@`~=<+/\\",
    *["\t", "\n", "\r", "é", "\u00a0", "\u2028", "\x01", "\x7f", "\x85", "😀", "\ufeff"],
    *["\u200b", "yes", "no", "Off", "null", "NULL", "~", "1e3", "1.0e+3", "0x1F", "0o17"],
    *["1_000", "1:20", "---", "...", ".5", ".inf", "2001-12-14", "True", "-", "<<", "="],
    *[": ", " #", "- ", "? ", "'", "''"],
]


def _string(rng: random.Random) -> str:
    return "".join(rng.choice(PIECES) for _ in range(rng.choice([0, 1, 1, 2, 3, 5])))


def _value(rng: random.Random, depth: int = 0) -> Any:
    r = rng.random()
    if depth > 4 or r < 0.55:
        return rng.choice(
            [
                lambda: _string(rng),
                lambda: _string(rng),
                lambda: _string(rng),
                lambda: rng.randint(-(10**20), 10**20),
                lambda: rng.random() * 10 ** rng.randint(-30, 30),
                lambda: rng.choice([None, True, False, 0, -0.0, 1.0, math.inf, -math.inf]),
            ]
        )()
    if r < 0.8:
        return {_string(rng): _value(rng, depth + 1) for _ in range(rng.randint(0, 4))}
    return [_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]


def _document(rng: random.Random) -> Any:
    if rng.random() < 0.5:
        return {_string(rng): _value(rng) for _ in range(rng.randint(0, 5))}
    return [_value(rng) for _ in range(rng.randint(0, 5))]


def _libyaml(obj: Any) -> str:
    """What render_yaml wrote before it had its own writer."""
    text: str = yaml.dump(obj, Dumper=st._dumper(True), **st._OPTIONS)
    return text if text.isascii() else st._YAML_RAW.sub(st._yaml_run, text)


@pytest.mark.parametrize("seed", range(4))
def test_fuzzed_documents_are_written_as_libyaml_writes_them(seed):
    rng = random.Random(seed)
    fast = 0
    for _ in range(1500):
        doc = _document(rng)
        assert st.render_yaml(doc, redact=False) == _libyaml(doc), doc
        try:
            st._fast_yaml(doc)
            fast += 1
        except st._Unsupported:
            pass
    assert fast > 500  # most documents take the fast writer


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    if isinstance(a, dict):
        return isinstance(b, dict) and list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(map(_same, a, b))
    return type(a) is type(b) and a == b


STRINGS = [
    "yes", "No", "null", "~", "", "1e3", "1.5", "0x1F", "1:20", ":", "#", "a #b", "a: b",
    "x:", "- x", "-", "?", " lead", "trail ", "  ", "---", "...", "'", "\"", "it's",
    "é", "😀", "\u00a0", "\x00", "\x1b[31m", "\u202e", "a\nb", "\t", "2001-12-14",
    "<<", "=", "!tag", "&a", "*a", "%x", "@x", "`x", "{a}", "[a]", "a,b", ".inf", "-.5",
]  # fmt: skip


@pytest.mark.parametrize("value", STRINGS)
def test_strings_that_need_quoting_read_back_identical(value):
    doc = {"value": value, value: [value, {value: value}], "list": [value]}
    if "\n" in value:
        del doc[value]  # a multi-line key: written by libyaml (a complex key)
    text = st.render_yaml(doc, redact=False)
    assert _same(yaml.safe_load(text), doc), text
    assert text == _libyaml(doc)


@pytest.mark.parametrize("seed", range(2))
def test_fuzzed_documents_read_back_identical(seed):
    rng = random.Random(100 + seed)
    for _ in range(800):
        doc = _document(rng)
        text = st.render_yaml(doc, redact=False)
        assert _same(yaml.safe_load(text), doc), (doc, text)


def test_a_real_dump_takes_the_fast_writer():
    doc = json.loads(SIDECAR.read_text())
    text = st._fast_yaml(doc)
    assert text == _libyaml(doc)
    assert _same(yaml.safe_load(text), doc)
