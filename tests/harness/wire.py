"""A raw loopback admin for the wire fuzzers, the answers it sends, and an in-process run.

tests/test_fuzz_http.py (misbehaving answers: a documented exit code) and
tests/test_fuzz_wire.py (framings whose meaning HTTP/1.1 fixes: exactly the plain run, or
never half of it) share this: :class:`FuzzAdmin` answers each GET with whatever its
``answer(target)`` gives, from the real sidecar fixtures' documents (:data:`BODIES`,
:func:`real_body`), sent whole, in small pieces, dripped or reset (:class:`Answer`);
:func:`run_captured` runs one pdebug command in this process and times it.
"""

from __future__ import annotations

import contextlib
import io
import json
import random
import re
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from .helpers import FIXTURES

__all__ = [
    "BODIES",
    "CONTROL",
    "DOCUMENTED",
    "Answer",
    "FuzzAdmin",
    "chunked_body",
    "plain_answer",
    "real_body",
    "run_captured",
]

#: The exit codes pdebug documents (pdebug/errors.py) that a live command may end with.
DOCUMENTED = {0, 1, 2, 3, 4, 6}
#: A character that must never reach a text stream raw (C0/C1 controls, bidi, surrogates).
CONTROL = re.compile(
    r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)

SIDECAR = FIXTURES / "real" / "sidecar"
STATS = json.dumps(
    {"stats": [{"name": "server.live", "value": 1}, {"name": "server.version", "value": 7}]}
).encode()
#: What the admin answers, by path (the query aside): the real sidecar's documents.
BODIES = {
    "/config_dump": (SIDECAR / "config_dump.json").read_bytes(),
    "/clusters": (SIDECAR / "clusters.json").read_bytes(),
    "/server_info": (SIDECAR / "server_info.json").read_bytes(),
    "/stats": STATS,
    "/certs": b'{"certificates": []}',
}


def real_body(target: str) -> bytes | None:
    """The fixture document for a GET's target (its query aside), or None (a 404)."""
    path = target.partition("?")[0].rstrip("/")
    return BODIES.get(path)


def chunked_body(rng: random.Random, body: bytes, how: str) -> bytes:
    """``body`` as a chunked body of seeded chunk sizes.

    ``how``: ``ok``; ``ext`` (an extension on the first chunk), ``upper`` (upper-case,
    zero-padded sizes), ``trailer`` (a trailer with a control character); broken:
    ``badsize`` (a size that is no size), ``cut`` (cut anywhere), ``nolast`` (no last chunk).
    """
    size = rng.choice([1, 7, 4096, 65536])
    parts = [body[i : i + size] for i in range(0, len(body), size)] or [b""]
    pieces = []  # joined once: adding to bytes in the loop is quadratic (23 s for 1-byte chunks)
    for i, part in enumerate(parts):
        head = f"{len(part):x}"
        if how == "ext" and i == 0:
            head += ';name="v";x'
        if how == "upper":
            head = head.upper().rjust(6, "0")
        pieces.append(head.encode() + b"\r\n" + part + b"\r\n")
    out = b"".join(pieces)
    if how == "badsize":
        out = rng.choice([b"zz", b"-5", b"ffffffffffffffffffff", b"", b"1 2", b"0x10"]) + b"\r\n"
        return out + body[:100]
    if how == "cut":
        return out[: rng.randrange(len(out))]
    if how == "nolast":
        return out
    trailer = b"X-Trailer: \x1b[31m1\r\n" if how == "trailer" else b""
    return out + b"0\r\n" + trailer + b"\r\n"


@dataclass
class Answer:
    """The raw bytes one GET is answered with, and how to send them.

    ``drip``: seconds per 512 bytes; below 0.01, the bytes go in seeded pieces of 1 to
    700 bytes, without waiting. ``reset``: the connection is reset after them.
    """

    what: str
    data: bytes
    drip: float = 0.0
    reset: bool = False


def plain_answer(body: bytes) -> Answer:
    """``body`` as a plain ``200`` answer with its Content-Length."""
    head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}"
    return Answer("plain", head.encode() + b"\r\n\r\n" + body)


class FuzzAdmin:
    """A raw loopback admin: each GET's target picks its answer through ``answer(target)``.

    ``asked`` lists the path (the query aside) of each GET, in the order they came.
    """

    def __init__(self) -> None:
        self.answer: Callable[[str], Answer] = lambda target: plain_answer(b"{}")
        self.asked: list[str] = []
        self.stop = threading.Event()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(32)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with contextlib.closing(conn):
            try:
                conn.settimeout(5)
                request = b""
                while b"\r\n\r\n" not in request:
                    got = conn.recv(4096)
                    if not got:
                        return
                    request += got
                target = request.split(b" ", 2)[1].decode("latin-1")
                self.asked.append(target.partition("?")[0].rstrip("/"))
                answer = self.answer(target)
                if 0 < answer.drip < 0.01:
                    rng = random.Random(len(answer.data))
                    at = 0
                    while at < len(answer.data):
                        step = rng.randint(1, 700)
                        conn.sendall(answer.data[at : at + step])
                        at += step
                elif answer.drip:
                    for i in range(0, len(answer.data), 512):
                        if self.stop.wait(answer.drip):
                            return
                        conn.sendall(answer.data[i : i + 512])
                else:
                    conn.sendall(answer.data)
                if answer.reset:
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except (OSError, IndexError):
                return

    def close(self) -> None:
        self.stop.set()
        self.sock.close()


def run_captured(argv: list[str]) -> tuple[int, str, str, float]:
    """``pdebug ARGV`` in this process: exit code, stdout, stderr (decoded) and seconds."""
    from pdebug.cli import main

    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", write_through=True)
    err = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", write_through=True)
    start = time.perf_counter()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    seconds = time.perf_counter() - start
    texts = [s.buffer.getvalue().decode("utf-8", "replace") for s in (out, err)]  # type: ignore[attr-defined]
    return code, texts[0], texts[1], seconds
