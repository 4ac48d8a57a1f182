"""Seeded fuzzing of the admin's HTTP answers themselves, and of bundles' tar headers (sweep 14).

tests/test_fuzz.py mutates the documents; here the wire is mutated: a raw loopback server
answers pdebug's GETs with the real fixtures' documents, except that one path (or every
path) gets a seeded mutation of its status line, headers, framing or encoding: wrong,
duplicate, negative or junk Content-Length, chunked bodies with bad or huge sizes, cut
mid-way, with extensions and trailers; gzip/deflate/br declared (the body compressed or
not), 1xx answers before the final one, garbled or HTTP/1.0/LF-only status lines,
redirects to elsewhere, 401/403/404/500/503 with HTML, huge and many headers, header bytes
that are not UTF-8 or are terminal controls, obs-folded lines, text for ``?format=json``
and a body that trickles past ``--timeout``; the bodies may be cut, flipped or compressed.

Every live command (``clusters``, ``all -o json``, ``endpoints``, ``stats``, ``check``,
``trace``, ``diff``, ``dump -o``, ``report``) runs in-process against it: a documented
exit code, no traceback, in bounded time (``--timeout`` honoured), and no raw control
character on a text stream. ``make fuzz`` runs it longer (the same environment variables
as tests/test_fuzz.py: ``PDEBUG_FUZZ_CASES``, ``PDEBUG_FUZZ_SEED``, ``PDEBUG_FUZZ_BUDGET``;
this file runs a fifth of the cases, each case being about ten live commands).

The bundle test rewrites one to three ustar header fields (name, mode, size, mtime, type,
link, magic, prefix: ``..`` and absolute names, links, devices, huge or negative sizes,
base-256 numbers, pax and GNU long-name types, bad checksums, a cut archive) of a bundle
``pdebug dump`` wrote, and reads it with ``clusters``, ``check`` and ``endpoints``.
"""

from __future__ import annotations

import gzip
import io
import os
import random
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.harness import FIXTURES
from tests.harness.wire import (
    BODIES,
    CONTROL,
    DOCUMENTED,
    Answer,
    FuzzAdmin,
    chunked_body,
    plain_answer,
    real_body,
    run_captured,
)

CASES = max(1, int(os.environ.get("PDEBUG_FUZZ_CASES", "60")) // 5)
SEED = int(os.environ.get("PDEBUG_FUZZ_SEED", "12"))
BUDGET = float(os.environ.get("PDEBUG_FUZZ_BUDGET", "35"))
TIMEOUT = 1.5
#: A run may take --timeout for each GET it makes, and a little more.
RUN_LIMIT = 12.0
SIDECAR = FIXTURES / "real" / "sidecar"
HTML = b"<html><head><title>\x1b[31mDenied</title></head><body>nope \x9b2J</body></html>"
TRAPS = [b"\x1b[31mred\x1b[0m", b"\xff\xfe\x80", b"a\rb", b"\x1b]52;c;cGRlYnVn\x07", b"\xc2\x9b"]


# --- one mutated answer ----------------------------------------------------------------


def _body(rng: random.Random, body: bytes) -> tuple[str, bytes]:
    kind = rng.choice(["same", "same", "same", "cut", "flip", "gzip", "html", "empty", "text"])
    if kind == "cut":
        return kind, body[: rng.randrange(len(body))]
    if kind == "flip":
        data = bytearray(body)
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        return kind, bytes(data)
    if kind == "gzip":
        return kind, gzip.compress(body, mtime=0)
    if kind == "html":
        return kind, HTML
    if kind == "empty":
        return kind, b""
    if kind == "text":  # what an admin without ?format=json support answers
        return kind, b"cluster_manager.cds.update_rejected: 2\nserver.live: 1\n"
    return kind, body


def mutated_answer(rng: random.Random, body: bytes) -> Answer:
    """One seeded misbehaving answer to a GET whose real answer is ``body``."""
    bkind, body = _body(rng, body)
    status = rng.choice(
        ["200 OK"] * 6
        + ["204 No Content", "206 Partial", "301 Moved", "302 Found", "307 Temporary Redirect"]
        + ["401 Unauthorized", "403 Forbidden", "404 Not Found", "500 Oops", "503 Unavailable"]
        + ["200 \x1b[31mOK", "200"]
        + (["999 What", "2OO OK"] if rng.random() < 0.1 else [])
    )
    version = rng.choice(["HTTP/1.1", "HTTP/1.0"])
    if rng.random() < 0.05:
        version = rng.choice(["HTTP/2", "ICY", "http/1.1", ""])
    headers: list[bytes] = [b"Content-Type: application/json"]
    what = [bkind, status.split()[0], version or "no-version"]
    code = status[:3]
    if code.startswith("3"):
        where = rng.choice(
            [b"http://10.0.0.9:15000/config_dump", b"/login", b"http://127.0.0.1:1/x",
             b"http://evil.example/\x1b[31m", b"", b"\xff\xfe"]
        )  # fmt: skip
        headers.append(b"Location: " + where)
    if code in {"401", "403", "404", "500", "503"} and rng.random() < 0.7:
        body = HTML
        headers[0] = b"Content-Type: text/html"
    extra = rng.choice(
        ["none"] * 4
        + ["gzip", "gzip-plain", "deflate", "br", "gzip-gzip", "identity", "huge-header"]
        + ["many-headers", "trap-header", "fold", "no-colon", "text-type", "lf-only"]
        + ["continue", "many-continue", "cookie"]
    )
    what.append(extra)
    if extra == "gzip":
        body = gzip.compress(body, mtime=0)
        headers.append(b"Content-Encoding: gzip")
    elif extra == "gzip-plain":
        headers.append(b"Content-Encoding: gzip")
    elif extra == "deflate":
        body = zlib.compress(body)
        headers.append(b"Content-Encoding: deflate")
    elif extra == "br":
        headers.append(b"Content-Encoding: br")
    elif extra == "gzip-gzip":
        body = gzip.compress(gzip.compress(body, mtime=0), mtime=0)
        headers.append(b"Content-Encoding: gzip, gzip")
    elif extra == "identity":
        headers.append(b"Content-Encoding: identity")
    elif extra == "huge-header":
        headers.append(b"X-Big: " + b"a" * rng.choice([8000, 70000]))
    elif extra == "many-headers":
        headers += [f"X-H{i}: {i}".encode() for i in range(rng.choice([50, 150]))]
    elif extra == "trap-header":
        headers.append(b"X-Envoy-Upstream: " + rng.choice(TRAPS))
    elif extra == "fold":
        headers.append(b"X-Folded: a\r\n  continued")
    elif extra == "no-colon":
        headers.append(b"this is not a header")
    elif extra == "text-type":
        headers[0] = b"Content-Type: text/plain"
    elif extra == "cookie":
        headers.append(b"Set-Cookie: session=s3cr3t-c00kie; HttpOnly")
    framing = rng.choice(
        ["length"] * 5
        + ["short", "long", "negative", "junk", "dup-length", "huge-length", "none"]
        + ["chunked", "chunked-ext", "chunked-upper", "chunked-trailer", "chunked-cut"]
        + ["chunked-badsize", "chunked-nolast", "chunked+length", "te-gzip"]
    )
    what.append(framing)
    if framing.startswith("chunked"):
        how = framing.partition("-")[2] or "ok"
        if framing == "chunked+length":
            headers.append(f"Content-Length: {len(body)}".encode())
            how = "ok"
        headers.append(b"Transfer-Encoding: chunked")
        payload = chunked_body(rng, body, how)
    elif framing == "te-gzip":
        headers.append(b"Transfer-Encoding: gzip, chunked")
        payload = chunked_body(rng, gzip.compress(body, mtime=0), "ok")
    else:
        length = {
            "length": str(len(body)),
            "short": str(max(len(body) - rng.randint(1, 50), 0)),
            "long": str(len(body) + rng.randint(1, 5000)),
            "negative": "-1",
            "junk": f"{len(body)}abc",
            "huge-length": "99999999999999999999",
        }.get(framing)
        if length is not None:
            headers.append(f"Content-Length: {length}".encode())
        if framing == "dup-length":
            headers += [f"Content-Length: {len(body)}".encode(), b"Content-Length: 3"]
        payload = body
    head = f"{version} {status}".strip().encode("utf-8", "surrogateescape")
    lines = [head, *headers]
    eol = b"\n" if extra == "lf-only" else b"\r\n"
    pre = b""
    if extra == "continue":
        pre = b"HTTP/1.1 100 Continue\r\n\r\n"
    elif extra == "many-continue":
        pre = b"HTTP/1.1 100 Continue\r\n\r\n" * 40
    data = pre + eol.join(lines) + eol + eol + payload
    drip = 0.0
    if rng.random() < 0.04:
        drip = 0.1  # 512 bytes every 0.1 s: a config dump takes far past --timeout
        what.append("drip")
    reset = rng.random() < 0.05
    if reset:
        what.append("reset")
    return Answer("/".join(what), data, drip, reset)


# --- running -----------------------------------------------------------------------------


@dataclass
class Findings:
    runs: int = 0
    bad: list[str] = field(default_factory=list)


def commands(url: str, tmp: Path, case: int) -> list[list[str]]:
    t = ["--timeout", str(TIMEOUT)]
    dump = str(SIDECAR / "config_dump.json")
    return [
        ["clusters", url, *t],
        ["all", url, "-o", "json", *t],
        ["endpoints", url, "-o", "wide", *t],
        ["stats", url, *t],
        ["check", url, *t],
        ["trace", url, "http://reviews:9080/", *t],
        ["diff", dump, url, *t],
        ["dump", url, "-o", str(tmp / f"case{case}.tar.gz"), *t],
        ["report", url, "-o", str(tmp / f"case{case}.html"), *t],
    ]


def fuzz(tmp: Path, cases: int, seed: int, budget: float) -> Findings:
    rng = random.Random(seed)
    found = Findings()
    admin = FuzzAdmin()
    deadline = time.monotonic() + budget
    try:
        for case in range(cases):
            if time.monotonic() > deadline:
                break
            victim = rng.choice([*BODIES, "*"])
            case_seed = rng.randrange(1 << 30)
            answers: dict[str, Answer] = {}

            def answer(
                target: str,
                victim: str = victim,
                case_seed: int = case_seed,
                answers: dict[str, Answer] = answers,
            ) -> Answer:
                body = real_body(target)
                if body is None:
                    return Answer("404", b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                path = target.partition("?")[0].rstrip("/")
                if victim not in {"*", path}:
                    return plain_answer(body)
                # the same path gets the same answer within a case (a retry sees it again)
                key = path
                if key not in answers:
                    answers[key] = mutated_answer(random.Random(f"{case_seed}{key}"), body)
                return answers[key]

            admin.answer = answer
            for argv in commands(admin.url, tmp, case):
                code, out, err, seconds = run_captured(argv)
                found.runs += 1
                what = f"seed={seed} case={case} victim={victim} "
                what += ",".join(f"{k}={a.what}" for k, a in answers.items())
                what += f": pdebug {' '.join(argv[:2])}"
                if code not in DOCUMENTED:
                    found.bad.append(f"{what} -> exit {code}: {err.strip()[:300]}")
                if "Traceback" in err or "Traceback" in out:
                    found.bad.append(f"{what}: traceback")
                if seconds > RUN_LIMIT:
                    found.bad.append(f"{what}: took {seconds:.1f}s")
                streams = [err] if "json" in argv else [out, err]
                for text in streams:
                    hit = CONTROL.search(text)
                    if hit:
                        snippet = text[max(hit.start() - 40, 0) : hit.end() + 20]
                        found.bad.append(f"{what}: raw control {snippet!r}")
                        break
                if code == 0 and "dump" in argv[:1]:
                    saved = tmp / f"case{case}.tar.gz"
                    if saved.exists() and b"s3cr3t-c00kie" in saved.read_bytes():
                        found.bad.append(f"{what}: a Set-Cookie value saved in the bundle")
    finally:
        admin.close()
    return found


@pytest.fixture(scope="module")
def findings(tmp_path_factory: pytest.TempPathFactory) -> Findings:
    return fuzz(tmp_path_factory.mktemp("fuzz-http"), CASES, SEED, BUDGET)


def test_fuzzed_admin_answers_are_one_line_a_documented_code_in_time(findings: Findings) -> None:
    assert findings.runs > 0
    assert not findings.bad, "\n".join(findings.bad[:20])


def test_answers_are_seeded() -> None:
    body = BODIES["/clusters"]
    assert mutated_answer(random.Random(3), body) == mutated_answer(random.Random(3), body)


# --- bundle tar headers ------------------------------------------------------------------

#: The ustar header fields a mutation rewrites: (offset, length).
TAR_FIELDS = {
    "name": (0, 100), "mode": (100, 8), "size": (124, 12), "mtime": (136, 12),
    "type": (156, 1), "link": (157, 100), "magic": (257, 6), "prefix": (345, 155),
}  # fmt: skip
TAR_VALUES = [
    b"../../etc/passwd", b"/abs/manifest.json", b"manifest.json", b"77777777777", b"-1",
    b"\x80\x00\x00\x00\x00\x00\x00\x00\xff\xff\xff\xff", b"1", b"2", b"3", b"5", b"6", b"7",
    b"L", b"K", b"x", b"g", b"\x1b[31m", b"\x00", b"00000000000", b"99999999999", b"ustar\x00",
    b"GNUtar", b"web.ns/config_dump.json",
]  # fmt: skip


def _checksum(header: bytes) -> bytes:
    h = bytearray(header)
    h[148:156] = b" " * 8
    h[148:156] = b"%06o\x00 " % sum(h)
    return bytes(h)


def mutated_bundle(rng: random.Random, tar: bytes, offsets: list[int]) -> bytes:
    """``tar`` (a pdebug bundle, uncompressed) with one to three header fields rewritten
    (the checksum fixed up, mostly), sometimes cut short; gzipped again."""
    data = bytearray(tar)
    for _ in range(rng.randint(1, 3)):
        off = rng.choice(offsets)
        start, length = rng.choice(list(TAR_FIELDS.values()))
        if rng.random() < 0.8:
            value = rng.choice(TAR_VALUES)[:length].ljust(length, b"\x00")
        else:
            value = bytes(rng.randrange(256) for _ in range(length))
        header = bytes(data[off : off + 512])
        header = header[:start] + value + header[start + length :]
        data[off : off + 512] = _checksum(header) if rng.random() < 0.9 else header
    if rng.random() < 0.2:
        data = data[: rng.randrange(len(data))]
    return gzip.compress(bytes(data), mtime=0)


def test_fuzzed_bundle_tar_headers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every reader of a bundle whose tar headers were rewritten: a documented exit code."""
    import tarfile

    monkeypatch.setenv("PDEBUG_MAX_INPUT", str(4 << 20))  # declared-huge members stop early
    admin = FuzzAdmin()
    admin.answer = lambda target: plain_answer(real_body(target) or b"{}")
    try:
        good = tmp_path / "good.tar.gz"
        code, _, err, _ = run_captured(["dump", admin.url, "-o", str(good)])
        assert code == 0, err
    finally:
        admin.close()
    assert run_captured(["clusters", str(good)])[0] == 0
    tar = gzip.decompress(good.read_bytes())
    with tarfile.open(fileobj=io.BytesIO(tar)) as t:
        offsets = [m.offset for m in t.getmembers()]
    rng = random.Random(SEED)
    bad: list[str] = []
    deadline = time.monotonic() + BUDGET / 2
    for case in range(CASES * 3):
        if time.monotonic() > deadline:
            break
        path = tmp_path / f"case{case}.tar.gz"
        path.write_bytes(mutated_bundle(rng, tar, offsets))
        for argv in (["clusters", str(path)], ["check", str(path)], ["endpoints", str(path)]):
            code, out, err, seconds = run_captured(argv)
            what = f"seed={SEED} case={case}: pdebug {' '.join(argv)}"
            if code not in DOCUMENTED or "Traceback" in err or seconds > RUN_LIMIT:
                bad.append(f"{what} -> exit {code} in {seconds:.1f}s: {err.strip()[:300]}")
            elif CONTROL.search(out + err):
                bad.append(f"{what}: raw control character")
        path.unlink()
    assert not bad, "\n".join(bad[:20])
