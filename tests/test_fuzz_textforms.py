"""Seeded fuzzing of the text ``/clusters`` and ``/stats`` conversions (#17, #12).

``pdebug dump`` converts what a proxy answers (untrusted) and every reader of a bundle
converts its ``stats.txt`` (untrusted: a bundle may come from anyone). Over mutated real
shapes (lines cut, dropped, doubled, swapped, bytes flipped or inserted, values made
huge, negative, NaN, non-ASCII digits, ``::`` and newlines inside values), each
conversion either gives a JSON document the readers parse, or refuses with
:class:`~pdebug.errors.InvalidInput`; nothing else, in bounded time. Environment:
``PDEBUG_FUZZ_SEED`` (default 17), ``PDEBUG_FUZZ_CASES`` (default 400).
"""

from __future__ import annotations

import os
import random
import time

import orjson

from pdebug.errors import InvalidInput
from pdebug.model import stats as st
from pdebug.model import textforms as tf
from pdebug.model.health import ClustersStatus
from tests.test_dump_textforms import STATS, TEXT

SEED = int(os.environ.get("PDEBUG_FUZZ_SEED", "17"))
CASES = int(os.environ.get("PDEBUG_FUZZ_CASES", "400"))
ODD = [
    b"::",
    b"\n",
    b"\xc2\xb2",
    b"-1",
    b"nan",
    b"1e999",
    b"99999999999999999999999",
    b"/",
    b"[",
    b"]:",
    b'"',
    b" ",
    b"(",
    b",",
    b"",
]


def _mutate(rng: random.Random, text: bytes) -> bytes:
    lines = text.split(b"\n")
    for _ in range(rng.randint(1, 4)):
        i = rng.randrange(len(lines))
        kind = rng.randrange(6)
        if kind == 0:
            del lines[i]
        elif kind == 1:
            lines.insert(i, lines[i])
        elif kind == 2:
            j = rng.randrange(len(lines))
            lines[i], lines[j] = lines[j], lines[i]
        elif kind == 3:
            cut = rng.randrange(len(lines[i]) + 1)
            lines[i] = lines[i][:cut]
        elif kind == 4:
            at = rng.randrange(len(lines[i]) + 1)
            lines[i] = lines[i][:at] + rng.choice(ODD) + lines[i][at:]
        else:
            head, sep, _ = lines[i].rpartition(b"::" if b"::" in lines[i] else b": ")
            lines[i] = head + sep + rng.choice(ODD)
    return b"\n".join(lines)


def test_mutated_text_converts_or_is_refused():
    rng = random.Random(SEED)
    converted = refused = 0
    deadline = time.monotonic() + 30
    for case in range(CASES):
        assert time.monotonic() < deadline, f"case {case}: over the time budget"
        clusters, stats = _mutate(rng, TEXT * rng.randint(1, 3)), _mutate(rng, STATS)
        try:
            doc = tf.clusters_document(clusters, "c")
        except InvalidInput:
            refused += 1
        else:
            converted += 1
            ClustersStatus.parse(doc, "c")  # what the readers do with it
        try:
            body = tf.stats_document(stats, "s")
        except InvalidInput:
            refused += 1
        else:
            converted += 1
            st.parse(body, "s")
            assert isinstance(orjson.loads(body)["stats"], list)
        tf.lossy_clusters(clusters)
    assert converted and refused  # both paths were taken
