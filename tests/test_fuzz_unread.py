"""Seeded: sections and members pdebug does not read, at random places in every fixture dump.

Each real dump of fixtures/corpus, fixtures/istioctl and fixtures/real gets one section of
a type pdebug does not read (named ``...ConfigDump`` or not), or one member it does not
read in a known section or in a listener or route config entry, at a seeded random place,
and is written in a seeded layout (2-, 1- or 4-space indents, compact). Then: the exit
codes of ``all`` and ``all -o json`` are those of the dump without it, ``all``'s tables
are the same, ``all -o json`` holds it where it was, and ``all``'s stderr names it.

``make test`` runs a small budget; ``make fuzz`` a long one. Environment:
``PDEBUG_FUZZUNREAD_SEED`` (default 23), ``PDEBUG_FUZZUNREAD_ROUNDS`` (passes over the
dumps, default 2), ``PDEBUG_FUZZUNREAD_BUDGET`` (seconds, default 10).
"""

from __future__ import annotations

import json
import os
import random
import time
from pathlib import Path
from typing import Any

from pdebug.model.dump import SECTION_KINDS
from tests.harness import FIXTURES

SEED = int(os.environ.get("PDEBUG_FUZZUNREAD_SEED", "23"))
BUDGET = float(os.environ.get("PDEBUG_FUZZUNREAD_BUDGET", "10"))
ROUNDS = int(os.environ.get("PDEBUG_FUZZUNREAD_ROUNDS", "2"))
MAX_BYTES = 400_000


def _fixture_dumps() -> list[Path]:
    paths = sorted((FIXTURES / "corpus").rglob("*.json"))
    paths += sorted((FIXTURES / "istioctl").rglob("*.json"))
    paths += sorted((FIXTURES / "real").rglob("*.json"))
    found = []
    for p in paths:
        data = p.read_bytes()
        if len(data) > MAX_BYTES or b'"configs"' not in data[:4096]:
            continue
        try:
            doc = json.loads(data.decode("utf-8-sig"))
        except ValueError:
            continue
        if isinstance(doc, dict) and isinstance(doc.get("configs"), list) and doc["configs"]:
            found.append(p)
    return found


DUMPS = _fixture_dumps()
_SECTION_LISTS = ("dynamic_listeners", "dynamicListeners", "dynamic_route_configs")


def _kind(type_url: Any) -> str:
    return SECTION_KINDS.get(str(type_url).rsplit(".", 1)[-1], "")


def _mutate(doc: dict[str, Any], rng: random.Random, marker: str) -> str:
    """Add ``marker`` somewhere pdebug does not read; what the text note names."""
    configs = doc["configs"]
    known = [c for c in configs if isinstance(c, dict) and _kind(c.get("@type"))]
    how = rng.choice(["section", "section", "member", "entry"])
    if how == "member" and known:
        sec = rng.choice(known)
        sec[marker] = rng.choice([[{"name": "x"}], {"a": 1}, "text", 7])
        return marker
    lists = [c[k] for c in known for k in _SECTION_LISTS if isinstance(c.get(k), list) and c[k]]
    if how == "entry" and lists:
        entry = rng.choice(rng.choice(lists))
        if isinstance(entry, dict):
            entry[marker] = {"listener": {"name": marker}}
            return marker
    name = rng.choice(["PolicyConfigDump", "ConfigDump", "Widgets", "Struct"])
    type_url = f"type.googleapis.com/{marker}.{name}"
    configs.insert(rng.randrange(len(configs) + 1), {"@type": type_url, "items": [{}]})
    return f"{marker}.{name}"


def _write(doc: Any, rng: random.Random) -> str:
    indent = rng.choice([2, 2, 1, None, 4])
    separators = rng.choice([None, (",", ":")]) if indent is None else None
    return json.dumps(doc, indent=indent, separators=separators)


def test_seeded_unread_sections_and_members_in_every_fixture(pdebug, tmp_path):
    """For each fixture dump, a section or member pdebug does not read, added at a seeded
    random place and written in a seeded layout: the exit codes are those of the dump
    without it, `all -o json` holds it, and `all`'s stderr names it. Bounded in time
    (PDEBUG_FUZZUNREAD_BUDGET seconds); the seed (PDEBUG_FUZZUNREAD_SEED) says which."""
    assert len(DUMPS) >= 20
    rng = random.Random(SEED)
    start, done = time.monotonic(), 0
    for i, path in enumerate(DUMPS * ROUNDS):
        if time.monotonic() - start > BUDGET:
            break
        doc = json.loads(path.read_text(encoding="utf-8-sig"))
        original = tmp_path / "original.json"
        original.write_text(_write(doc, rng))
        marker = f"pdfuzz{SEED}x{i}"
        named = _mutate(doc, rng, marker)
        mutated = tmp_path / "mutated.json"
        mutated.write_text(_write(doc, rng))
        case = (str(path), named)
        before_text, before_json = pdebug("all", original), pdebug("all", original, "-o", "json")
        text, as_json = pdebug("all", mutated), pdebug("all", mutated, "-o", "json")
        assert (text.code, as_json.code) == (before_text.code, before_json.code), (case, text.err)
        assert text.out == before_text.out, case  # the tables are what they were
        if as_json.code == 0:  # (tokens in it are redacted: not compared whole)
            got = json.loads(as_json.out)["configs"]
            assert [c.get("@type") for c in got] == [c.get("@type") for c in doc["configs"]]
            assert marker in as_json.out, case
        if text.code in (0, 1):
            notes = [line for line in text.err.splitlines() if line.startswith("note: ")]
            assert any(named in line for line in notes), (case, text.err)
        if named != marker:  # a section: a single view names it too, wherever it is
            # (one of a type not named ...ConfigDump was missed by a view that did not
            # read the section before it, until leftovers8)
            view = rng.choice(["clusters", "listeners", "routes", "secrets", "bootstrap"])
            single = pdebug(view, mutated)
            if single.code == 0:
                notes = [line for line in single.err.splitlines() if line.startswith("note: ")]
                assert any(named in line for line in notes), (case, view, single.err)
        done += 1
    assert done >= min(len(DUMPS), 10)
