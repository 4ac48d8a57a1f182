"""Bounded reading: no input is read whole before it is judged, none past the limit.

``head -c 2G /dev/zero | pdebug clusters -`` and ``pdebug clusters /dev/zero`` stop after
the first bytes; a stream that starts like JSON stops at ``PDEBUG_MAX_INPUT``; a FIFO given
as SOURCE is still read (``<(...)``).
"""

from __future__ import annotations

import io
import os
import threading
from pathlib import Path

import pytest

from pdebug.errors import ExitCode
from pdebug.sources.file import Limits, limits, parse_size
from tests.harness import FIXTURES, run_bounded

DUMP = FIXTURES / "real" / "seed-demo" / "config_dump.json"


class Endless(io.RawIOBase):
    """An endless stream (``prefix`` then ``fill`` forever) that counts what was read."""

    def __init__(self, fill: bytes, prefix: bytes = b"") -> None:
        self.pending = prefix
        self.fill = fill
        self.served = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        n = len(buffer)
        data = (self.pending + self.fill * (n // len(self.fill) + 1))[:n]
        self.pending = b""
        buffer[:n] = data
        self.served += n
        return n


def _stdin(monkeypatch: pytest.MonkeyPatch, raw: Endless) -> None:
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BufferedReader(raw)))


def _bounded(pdebug, *args: str):
    return run_bounded(pdebug, list(args), budget_mb=64)


def _one_error(result, needle: str) -> None:
    assert result.code == ExitCode.INVALID_INPUT, result
    lines = result.err.splitlines()
    assert lines[0].startswith("pdebug: error: ") and needle in lines[0], result.err
    assert all(line.startswith("hint: ") for line in lines[1:])
    assert "Traceback" not in result.err and result.out == ""


def test_zeros_on_stdin_stop_after_the_first_bytes(pdebug, monkeypatch):
    raw = Endless(b"\0")
    _stdin(monkeypatch, raw)
    _one_error(_bounded(pdebug, "clusters", "-"), "stdin: binary data")
    assert raw.served < 1 << 20


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero")
def test_dev_zero_as_source(pdebug):
    _one_error(_bounded(pdebug, "clusters", "/dev/zero"), "/dev/zero: binary data")
    _one_error(_bounded(pdebug, "status", "--file", "/dev/zero"), "/dev/zero: binary data")


def test_json_looking_endless_stdin_stops_at_the_limit(pdebug, monkeypatch):
    monkeypatch.setenv("PDEBUG_MAX_INPUT", "4M")
    raw = Endless(b"x", prefix=b'{"configs": [], "x": "')
    _stdin(monkeypatch, raw)
    result = _bounded(pdebug, "clusters", "-")
    _one_error(result, "stdin: the data is larger than 4 MiB (PDEBUG_MAX_INPUT): refused")
    assert raw.served < 6 << 20
    assert "hint: if it is a genuine capture, raise the limit: PDEBUG_MAX_INPUT=" in result.err


def test_whitespace_forever_is_not_json(pdebug, monkeypatch):
    raw = Endless(b" \n")
    _stdin(monkeypatch, raw)
    _one_error(_bounded(pdebug, "clusters", "-"), "only whitespace in the first 64 KiB")
    assert raw.served < 1 << 20


def test_gzip_on_stdin_is_judged_after_gunzip(pdebug, monkeypatch):
    import gzip

    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(gzip.compress(b"\0" * 4096))))
    _one_error(_bounded(pdebug, "clusters", "-"), "binary data")


def test_a_file_over_the_limit_is_refused_before_it_is_read(pdebug, monkeypatch):
    monkeypatch.setenv("PDEBUG_MAX_INPUT", "64K")
    _one_error(pdebug("clusters", DUMP), "the file (132.3 KiB) is larger than 64 KiB")
    monkeypatch.setenv("PDEBUG_MAX_INPUT", "1M")
    assert pdebug("clusters", DUMP).code == 0


def test_a_fifo_source_is_still_read(pdebug, tmp_path: Path):
    fifo = tmp_path / "in"
    os.mkfifo(fifo)
    body = DUMP.read_bytes()

    def feed() -> None:
        with open(fifo, "wb") as fh:
            fh.write(body)

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    result = pdebug("clusters", fifo)
    writer.join(10)
    assert result.code == 0 and result.out == pdebug("clusters", DUMP).out.replace(
        str(DUMP), str(fifo)
    )


def test_sizes_and_defaults(monkeypatch):
    assert parse_size("2G") == 2 << 30
    assert parse_size("512m") == 512 << 20
    assert parse_size("1.5KiB") == 1536
    assert parse_size("100") == 100
    for bad in ("", "x", "0", "-1", "nan", "inf", "1Q"):
        assert parse_size(bad) is None, bad
    monkeypatch.delenv("PDEBUG_MAX_INPUT", raising=False)
    monkeypatch.delenv("PDEBUG_MAX_RATIO", raising=False)
    assert limits() == Limits(1 << 30, 200.0)


def test_gzip_members_padding_and_garbage(tmp_path: Path):
    import gzip

    from pdebug.errors import InvalidInput
    from pdebug.sources.file import read_file

    body = DUMP.read_bytes()
    half = len(body) // 2
    path = tmp_path / "d.json.gz"
    path.write_bytes(gzip.compress(body[:half]) + gzip.compress(body[half:]) + b"\0" * 700)
    assert bytes(read_file(str(path))[0]) == body  # concatenated members, zero padding
    path.write_bytes(gzip.compress(body) + b"garbage")
    with pytest.raises(InvalidInput, match="damaged gzip data"):
        read_file(str(path))
    path.write_bytes(gzip.compress(body)[:-9])
    with pytest.raises(InvalidInput, match="damaged gzip data"):
        read_file(str(path))


@pytest.mark.parametrize("raw_chunk", [1, 7, 64, 4096, 65536])
@pytest.mark.parametrize("out", [1, 13, 4096, -1])
def test_concatenated_gzip_members_read_once_at_every_alignment(monkeypatch, raw_chunk, out):
    """`cat a.gz b.gz` (and bgzip's blocks) inflate to a + b, whatever the read sizes.

    zlib can leave a member's leftover bytes in both ``unused_data`` and
    ``unconsumed_tail``; they were once taken twice, so the next member came out twice.
    """
    import gzip
    import random

    from pdebug.sources import file as source_file

    monkeypatch.setattr(source_file, "_RAW_CHUNK", raw_chunk)
    rng = random.Random(raw_chunk * 31 + out)
    for sizes in ([5000, 1], [0, 70000, 5], [100, 100, 100, 100], [65536, 3]):
        parts = [rng.randbytes(n) for n in sizes]
        data = b"".join(gzip.compress(p, compresslevel=rng.choice([1, 6, 9])) for p in parts)
        inflater = source_file.Inflater(io.BytesIO(data), "t", None, 0)
        if out < 0:
            got = inflater.read()
        else:
            chunks = []
            while piece := inflater.read(out):
                chunks.append(piece)
            got = b"".join(chunks)
        assert got == b"".join(parts), (sizes, len(got))
