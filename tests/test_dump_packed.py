"""``pdebug dump``'s bundle writer: files deflated ahead of time, joined as one gzip stream.

The bundle must be the very tar :func:`pdebug.bundle.write_tree` writes, in one gzip
member (older pdebug versions and every gzip reader read it), whatever the read sizes.
"""

from __future__ import annotations

import gzip
import io
import os
import random
import tarfile
import zlib
from pathlib import Path

import pytest

from pdebug import bundle
from pdebug.snapshot import capture, pack
from pdebug.sources.file import Inflater


def test_crc_join_is_the_crc_of_the_concatenation() -> None:
    rng = random.Random(7)
    for _ in range(300):
        a = rng.randbytes(rng.randint(0, 2000))
        b = rng.randbytes(rng.randint(0, 2000))
        assert pack._crc_join(zlib.crc32(a), zlib.crc32(b), len(b)) == zlib.crc32(a + b)
    big = b"\0" * 5_000_000 + b"x"
    assert pack._crc_join(zlib.crc32(b"head"), zlib.crc32(big), len(big)) == zlib.crc32(
        b"head" + big
    )


def test_crc_join_at_every_size_bit() -> None:
    # Each bit of len(B) carries the register through its own cached operator: sizes on
    # and beside every power of two up to 16 MiB, in a shuffled order (the cache is
    # built by whichever size comes first), against zlib over the concatenation.
    rng = random.Random(17)
    sizes = [n for k in range(25) for n in (2**k - 1, 2**k, 2**k + 1)] + [0, 3 * 2**23 + 5]
    rng.shuffle(sizes)
    for size in sizes:
        a = rng.randbytes(rng.randint(0, 64))
        b = rng.randbytes(min(size, 64)) + bytes(size - min(size, 64))
        assert pack._crc_join(zlib.crc32(a), zlib.crc32(b), size) == zlib.crc32(a + b), size


def _members(root: Path) -> dict[str, bytes]:
    rng = random.Random(3)
    files = {
        "p/config_dump.json": b'{"configs": []}' * 40_000 + rng.randbytes(70_000),
        "p/clusters.json": b"",
        "p/server_info.json": b"x" * 512,
        "p/stats.json": rng.randbytes(1025),
    }
    for name, body in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(body)
    return files


@pytest.mark.parametrize("level", [1, 6])
def test_packed_bundle_is_write_trees_tar_in_one_gzip_member(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, level: int
) -> None:
    monkeypatch.setattr("time.time", lambda: 1_700_000_000.5)
    files = _members(tmp_path)
    manifest = {"version": 1, "proxies": [{"name": "p"}]}
    expected = tmp_path / "expected.tar.gz"
    bundle.write_tree(str(expected), str(tmp_path), manifest, list(files), compresslevel=level)
    packed = []
    for name, body in files.items():
        entry, piece = capture._finish(str(tmp_path / name), True, level)
        assert entry.size == len(body)
        assert piece is not None
        packed.append((name, len(body), piece))
    out = tmp_path / "x.tar.gz"
    pack.write_packed(str(out), manifest, packed, level)
    raw = out.read_bytes()
    tar = gzip.decompress(raw)
    assert tar == gzip.decompress(expected.read_bytes())
    # One member: nothing follows the first gzip stream.
    z = zlib.decompressobj(31)
    assert z.decompress(raw) == tar and z.eof and z.unused_data == b""
    assert raw[:4] == b"\x1f\x8b\x08\x00" and raw[8] == (4 if level == 1 else 0)
    for size in (1, 512, 10240, 1 << 16, 1 << 20):
        reader = Inflater(io.BytesIO(raw), "x", None, 1e9)
        parts = []
        while piece_ := reader.read(size):
            parts.append(piece_)
        assert b"".join(parts) == tar
    with tarfile.open(out) as opened:
        for name, body in files.items():
            member = opened.extractfile(name)
            assert member is not None and member.read() == body


def test_finish_redacts_in_place_and_hashes_what_it_keeps(tmp_path: Path) -> None:
    path = tmp_path / "d.json"
    path.write_bytes(b'{"password": "hunter2", "a": "b"}')
    entry, piece = capture._finish(str(path), True, 1)
    body = path.read_bytes()
    assert b"hunter2" not in body and b"[redacted]" in body
    assert entry.size == len(body)
    assert piece is not None
    assert zlib.decompressobj(-15).decompress(piece.deflated)[: len(body)] == body
    before = os.stat(path).st_mtime_ns
    entry2, none = capture._finish(str(path), True, None)
    assert none is None and entry2 == entry
    assert os.stat(path).st_mtime_ns == before  # nothing hidden: not rewritten


def test_finish_without_redaction_reads_in_blocks_and_gives_the_same_piece(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = random.Random(5).randbytes(3 * 1000 + 17) + b'"token": "abc"'
    path = tmp_path / "d.json"
    path.write_bytes(body)
    monkeypatch.setattr(capture, "_BLOCK", 1000)
    entry, piece = capture._finish(str(path), False, 1)  # --no-redact: no private key
    assert path.read_bytes() == body  # the token stays
    assert entry == capture.FileEntry.of(body)
    assert piece is not None
    whole = body + pack.padding(len(body))
    assert zlib.decompressobj(-15).decompress(piece.deflated) == whole
    assert (piece.crc, piece.size) == (zlib.crc32(whole), len(whole))


def test_finish_with_nothing_to_hide_deflates_while_redacting_and_gives_the_same_piece(
    tmp_path: Path,
) -> None:
    # The sha256 and the deflate run in a helper thread beside the redaction: when it hides
    # nothing, their result is the one kept, the same as the block-by-block path gives.
    body = b'{"a": "' + bytes(random.Random(7).choices(b"abcdef", k=5000)) + b'"}'
    path = tmp_path / "d.json"
    path.write_bytes(body)
    before = os.stat(path).st_mtime_ns
    entry, piece = capture._finish(str(path), True, 1)
    assert path.read_bytes() == body and os.stat(path).st_mtime_ns == before
    assert entry == capture.FileEntry.of(body)
    whole = body + pack.padding(len(body))
    assert piece is not None and (piece.crc, piece.size) == (zlib.crc32(whole), len(whole))
    assert zlib.decompressobj(-15).decompress(piece.deflated) == whole
    assert capture._finish(str(path), False, 1) == (entry, piece)  # the block path
