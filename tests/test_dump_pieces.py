"""A document held whole is deflated in pieces by two threads (#17, perflive7).

:func:`pdebug.snapshot.capture._seal_held` cuts a document of more than ``_PIECE`` bytes
into pieces, deflates them two at a time, and joins them in order (each but the last
ended by a sync flush, the CRC-32s combined). The bundle made that way must hold the very
members one compressor gives: read by Python's tarfile, by ``tar xzf`` and by pdebug.
Sizes are seeded, on and beside the piece boundary (``_PIECE`` made small here). Each
test runs with zlib and, when it is installed, python-isal's ``isal_zlib``
(:func:`pdebug.snapshot.capture._deflating`): the bytes they make differ, the members not.
"""

from __future__ import annotations

import importlib
import random
import shutil
import subprocess
import tarfile
import threading
import zlib
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from pdebug.snapshot import capture, pack

PIECE = 4096


@pytest.fixture(params=["zlib", "isal.isal_zlib"])
def deflating(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The deflate module the capture uses, each in turn (isal only when installed)."""
    module = pytest.importorskip(request.param)
    monkeypatch.setattr(capture, "_isal", lambda: module)
    return module


def test_the_deflate_module_is_isal_at_level_1_when_installed_else_zlib() -> None:
    for level in (None, 0, 2, 6, 9):
        assert capture._deflating(level) is zlib
    try:
        importlib.import_module("isal.isal_zlib")
    except ImportError:
        assert capture._deflating(1) is zlib
    else:
        assert capture._deflating(1).__name__ == "isal.isal_zlib"
        assert capture._deflating(1).Z_SYNC_FLUSH == zlib.Z_SYNC_FLUSH


def _body(rng: random.Random, size: int) -> bytes:
    # JSON-ish text that compresses, with random runs that do not
    words = [b'{"name": "svc-', b'", "port": ', b"}, ", b"outbound|80||", b"\n"]
    out = bytearray()
    while len(out) < size:
        out += rng.choice(words) if rng.random() < 0.8 else rng.randbytes(rng.randint(1, 300))
    return bytes(out[:size])


def _sizes(seed: int) -> list[int]:
    rng = random.Random(seed)
    edges = [0, 1, PIECE - 1, PIECE, PIECE + 1, 2 * PIECE - 1, 2 * PIECE, 2 * PIECE + 1]
    return edges + [rng.randint(2, 9 * PIECE) for _ in range(12)]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_pieces_inflate_to_what_one_compressor_gives(
    monkeypatch: pytest.MonkeyPatch, seed: int, deflating: Any
) -> None:
    monkeypatch.setattr(capture, "_PIECE", PIECE)
    rng = random.Random(seed)
    for size in _sizes(seed):
        data = _body(rng, size)
        one = capture._seal((data,), 1)
        held = capture._seal_held(data, 1)
        assert held[:2] == one[:2] == (capture.FileEntry.of(data).sha256, size), size
        assert held[4] == one[4] == zlib.crc32(data), size
        z = held[2]
        stream = b"".join(held[3]) + z.compress(b"tail") + z.flush(zlib.Z_SYNC_FLUSH)
        assert zlib.decompressobj(-15).decompress(stream) == data + b"tail", size
        if size > PIECE:  # really cut: every piece but the last ends on a sync flush
            assert len(held[3]) == -(-size // PIECE)
            assert all(part.endswith(b"\x00\x00\xff\xff") for part in held[3][:-1])


def test_a_bundle_of_pieces_holds_the_members_of_one_piece(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, deflating: Any
) -> None:
    monkeypatch.setattr("time.time", lambda: 1_700_000_000.5)
    rng = random.Random(11)
    sizes = _sizes(11)
    files = {f"p/doc{n}.json": _body(rng, size) for n, size in enumerate(sizes)}
    files["p/secret.json"] = _body(rng, 3 * PIECE) + b'"password": "hunter2"}' + _body(rng, PIECE)
    manifest = {"version": 1, "proxies": [{"name": "p"}]}
    made = {}
    for how, piece_size in (("one", 1 << 40), ("pieces", PIECE)):
        monkeypatch.setattr(capture, "_PIECE", piece_size)
        root = tmp_path / how
        members = []
        for name, body in files.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_bytes(body)
            entry, piece = capture._finish(str(root / name), True, 1)
            assert piece is not None
            members.append((name, entry.size or 0, piece))
        out = tmp_path / f"{how}.tar.gz"
        pack.write_packed(str(out), manifest, members, 1)
        made[how] = out
    one, pieces = made["one"], made["pieces"]
    assert one.read_bytes() != pieces.read_bytes()  # really deflated otherwise
    with tarfile.open(one) as a, tarfile.open(pieces) as b:
        assert a.getnames() == b.getnames()
        for name in a.getnames():
            fa, fb = a.extractfile(name), b.extractfile(name)
            assert fa is not None and fb is not None
            assert fa.read() == fb.read(), name
    with tarfile.open(pieces) as b:
        body = b.extractfile("p/secret.json")
        assert body is not None and b"hunter2" not in body.read()
    tar = shutil.which("tar")
    if tar is not None:
        for how, out in made.items():
            subprocess.run([tar, "xzf", str(out), "-C", str(tmp_path / how)], check=True)
        for name in files:
            assert (tmp_path / "one" / name).read_bytes() == (
                tmp_path / "pieces" / name
            ).read_bytes()
    from pdebug.sources.bundle import open_bundle

    read = [open_bundle(str(out)).members for out in (one, pieces)]
    assert read[0] == read[1] and set(files) <= set(read[0])
    for name, body in files.items():
        if name != "p/secret.json":
            assert read[1][name] == body, name


def test_a_piece_that_fails_fails_the_seal_and_leaves_no_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The second thread fails (out of memory); this thread waits for it before it
    # deflates a piece of its own, so the failure is surely the other thread's.
    monkeypatch.setattr(capture, "_PIECE", PIECE)
    real = zlib.compressobj
    failed = threading.Event()

    def failing(*args: object) -> object:
        if threading.current_thread().name == "pdebug-deflate-2":
            failed.set()
            raise MemoryError
        failed.wait(10)
        return real(*args)  # type: ignore[arg-type]

    shim = SimpleNamespace(**{k: getattr(zlib, k) for k in ("DEFLATED", "Z_SYNC_FLUSH", "crc32")})
    shim.compressobj = failing
    monkeypatch.setattr(capture, "_deflating", lambda level: shim)
    before = threading.active_count()
    with pytest.raises(MemoryError):
        capture._seal_held(b"x" * (5 * PIECE), 1)
    assert failed.is_set()
    assert threading.active_count() == before
