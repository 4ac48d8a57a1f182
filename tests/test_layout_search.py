"""The layout search's ``D`` search (``load._type_ends``, loadfast, #17) finds what the
needle search finds.

Every command that reads a dump in Envoy's layout finds its sections by where their
types end (``ConfigDump"``, see ``load._section_starts``). ``_type_ends`` finds those
places with a one-byte search for ``D`` and a comparison of the bytes around each, and
hands dense stretches (an access log format full of ``%DURATION%``) to the needle
search a chunk at a time. It must give the same list of places as the plain needle
search (``load._needle_ends``) on every input: real dumps, other people's dumps, a
generated mesh in both spellings, seeded byte soups of needle pieces with tiny batches
and chunks (so every chunk boundary falls at every offset of a needle), and a memory
map. tests/test_check_perf.py and tests/test_fuzz_fastpaths.py turn it off (``SLOW``)
and compare ``check``'s output.
"""

from __future__ import annotations

import io
import json
import mmap
import random
import re
import time
from pathlib import Path
from typing import Any

import pytest

from bench.gendump import generate
from pdebug.model import load as loader
from tests import harness as eh

NEEDLE = loader._SECTION_TYPE_END


def _shared_corpus() -> list[Path]:
    root = eh.FIXTURES.parents[1] / "shared" / "corpus"
    return sorted(root.rglob("*.json")) if root.is_dir() else []


def _inputs() -> dict[str, bytes]:
    found = {
        p.relative_to(eh.FIXTURES).as_posix(): p.read_bytes() for p in eh.corpus_config_dumps()
    }
    for name in ("seed-demo", "sidecar"):
        found[f"real/{name}"] = (eh.FIXTURES / "real" / name / "config_dump.json").read_bytes()
    for p in _shared_corpus():
        data = p.read_bytes()
        if b'"configs"' in data[:4096]:
            found["shared/" + p.name] = data
    buf = io.BytesIO()
    generate(buf, 40, seed=5, namespaces=3)
    found["gendump-40"] = buf.getvalue()
    doc = json.loads(found["gendump-40"])
    found["gendump-40-camel"] = json.dumps(eh.camelize(doc)).encode()
    found["gendump-40-compact"] = json.dumps(doc, separators=(",", ":")).encode()
    return found


INPUTS = _inputs()


def _reference(data: bytes) -> list[int]:
    """Every place the needle is written, by another means than either search."""
    return [m.start() for m in re.finditer(re.escape(NEEDLE), data)]


def test_the_inputs_hold_sections_and_dense_stretches() -> None:
    """The differentials below compare something: most inputs have sections found by
    their type's end, and some have stretches where the ``D`` search hands over."""
    assert sum(bool(_reference(d)) for d in INPUTS.values()) > 20
    dense = [n for n, d in INPUTS.items() if _chunks_taken(d)]
    assert "gendump-40" in dense and "real/sidecar" not in dense, dense


def _chunks_taken(data: bytes) -> int:
    taken = 0
    find = data.find

    def counting(sub: bytes, *where: int) -> int:
        nonlocal taken
        taken += sub == NEEDLE and len(where) == 2
        return find(sub, *where)

    loader._type_ends(data, counting)
    return taken


@pytest.mark.parametrize("name", sorted(INPUTS))
def test_the_d_search_finds_what_the_needle_search_finds(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = INPUTS[name]
    want = loader._needle_ends(data.find, 0)
    assert want == _reference(data)
    assert loader._type_ends(data, data.find) == want
    for batch, sparse, chunk in ((1, 10**9, 11), (3, 10**9, 4096), (2, 0, 64)):
        with monkeypatch.context() as m:  # hand over at every D / every third / never
            m.setattr(loader, "_BATCH", batch)
            m.setattr(loader, "_SPARSE", sparse)
            m.setattr(loader, "_CHUNK", chunk)
            assert loader._type_ends(data, data.find) == want, (batch, sparse, chunk)
    fast = loader._section_starts(data, data.find)
    with monkeypatch.context() as m:
        m.setattr(loader, "_type_ends", lambda *a: None)
        assert loader._section_starts(data, data.find) == fast


def test_the_d_search_answers_on_a_memory_map(tmp_path: Path) -> None:
    """As the CLI reads a file: a view of a whole memory map."""
    path = tmp_path / "d.json"
    path.write_bytes(INPUTS["gendump-40"])
    with path.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
        view = memoryview(m)
        try:
            got = loader._type_ends(view, m.find)
            layout = loader._layout(view)
        finally:
            view.release()
    assert got == _reference(INPUTS["gendump-40"]) and len(got) >= 6
    assert layout is not None
    assert [t.rsplit(".", 1)[-1] for t in layout[0]][:2] == [
        "BootstrapConfigDump",
        "ClustersConfigDump",
    ]


@pytest.mark.parametrize("chunk", [11, 12, 13, 16, 17, 23])
def test_a_needle_across_a_chunk_boundary_is_found_once(
    chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each batch hands over (one ``D`` a batch, always dense): the needle at every
    offset from a chunk's start, ``D`` before and after it, is found once."""
    monkeypatch.setattr(loader, "_BATCH", 1)
    monkeypatch.setattr(loader, "_SPARSE", 10**9)
    monkeypatch.setattr(loader, "_CHUNK", chunk)
    for lead in range(0, 3 * chunk):
        for fill in (b"D", b"x", b"Dump"):
            data = fill * lead + NEEDLE + fill * 20 + NEEDLE
            want = _reference(data)
            assert loader._type_ends(data, data.find) == want, (lead, fill)


_PIECES = [
    b"D",
    b"DD",
    NEEDLE,
    NEEDLE[:-1],
    NEEDLE[1:],
    b'Dump"',
    b"Config",
    b'"@type": "type.googleapis.com/envoy.admin.v3.Clusters',
    b"%DURATION% %BYTES_SENT% ",
    b" ",
    b"\n      ",
    b"x",
    b"\\u0044",
]


def test_seeded_byte_soups_find_what_the_needle_search_finds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Seeded documents of needle pieces, ``D`` runs and whitespace, with tiny batches,
    thresholds and chunks (bounded in time)."""
    rng = random.Random(1717)
    deadline = time.monotonic() + 5
    done = 0
    while done < 3000 and time.monotonic() < deadline:
        data = b"".join(rng.choice(_PIECES) for _ in range(rng.randrange(0, 60)))
        batch = rng.choice([1, 2, 3, 7, 256])
        sparse = rng.choice([0, 1, 4, 30, 10**9])
        chunk = rng.choice([11, 12, 15, 31, 64, 1 << 20])
        with monkeypatch.context() as m:
            m.setattr(loader, "_BATCH", batch)
            m.setattr(loader, "_SPARSE", sparse)
            m.setattr(loader, "_CHUNK", chunk)
            got = loader._type_ends(data, data.find)
        assert got == _reference(data), (data, batch, sparse, chunk)
        done += 1
    assert done >= 200


def test_an_unread_section_after_a_dense_stretch_is_found(tmp_path: Path, pdebug: Any) -> None:
    """An extension's section after a listener whose access log format is all ``D``
    (the needle search takes that stretch) is found and named, as without the ``D``
    search."""
    doc = json.loads(INPUTS["real/sidecar"])
    fmt = "%DURATION% %BYTES_RECEIVED% %DOWNSTREAM_REMOTE_ADDRESS% " * 4000
    for sec in doc["configs"]:
        if "BootstrapConfigDump" in sec["@type"]:
            sec["bootstrap"]["node"]["metadata"]["DENSE"] = fmt
    doc["configs"].insert(
        2, {"@type": "type.googleapis.com/acme.mesh.PolicyConfigDump", "policies": [{"a": 1}]}
    )
    data = json.dumps(doc, indent=2).encode()
    assert _chunks_taken(data)
    layout = loader._layout(data)
    assert layout is not None and layout[0][2] == "type.googleapis.com/acme.mesh.PolicyConfigDump"
    path = tmp_path / "dense.json"
    path.write_bytes(data)
    got = pdebug("clusters", path)
    assert got.code == 0, got.err
    assert "section acme.mesh.PolicyConfigDump (1 entry) is not read by pdebug" in got.err
