"""Every live command × a misbehaving admin: one line, the right exit code, in time.

tests/test_live_faults.py drives ``clusters`` and ``dump`` through every HTTP fault; here
each other command that asks an admin (``check``, ``endpoints`` with /clusters, ``stats``,
``trace``, ``zc``, ``diff``, ``report``, ``all``) meets the kinds of answer a broken admin
or a proxy in between gives: an HTML error page with 200, valid JSON of another kind, a
reset or short body, a bad chunk, a redirect, a 404 and a body that drips past --timeout.
"""

from __future__ import annotations

import time

import pytest

from tests.harness import ISTIOCTL
from tests.harness.hostile import HostileServer, chunked

DUMP = (ISTIOCTL / "proxy-config-all/config_dump.json").read_bytes()
STATS = b'{"stats": [{"name": "server.live", "value": 1}]}'


def _head(length: int | None, extra: str = "") -> bytes:
    cl = f"Content-Length: {length}\r\n" if length is not None else ""
    return f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n{cl}{extra}\r\n".encode()


def _answer(body: bytes) -> bytes:
    return _head(len(body)) + body


FAULTS = {
    "html-200": ([("send", _answer(b"<html><body>\x1b[31mBad Gateway</body></html>"))], {4}),
    "json-array": ([("send", _answer(b"[1, 2, 3]"))], {4}),
    "json-null": ([("send", _answer(b"null"))], {4}),
    "reset": ([("send", _head(len(DUMP)) + DUMP[:5000]), ("reset",)], {3}),
    "short-length": ([("send", _head(len(DUMP) - 100) + DUMP), ("close",)], {3}),
    "long-length": ([("send", _head(len(DUMP) + 100) + DUMP), ("close",)], {3}),
    "bad-chunk": (
        [("send", _head(None, "Transfer-Encoding: chunked\r\n") + b"zz\r\nabc\r\n"), ("close",)],
        {3},
    ),
    "cut-chunks": (
        [("send", _head(None, "Transfer-Encoding: chunked\r\n") + chunked(DUMP)[:7000])],
        {3},
    ),
    "redirect": (
        [("send", b"HTTP/1.1 302 Found\r\nLocation: /config_dump\r\nContent-Length: 0\r\n\r\n")],
        {3},
    ),
    "404": (
        [("send", b"HTTP/1.1 404 Not Found\r\nContent-Length: 14\r\n\r\ninvalid path\r\n")],
        {3},
    ),
    "drip": ([("send", _head(len(DUMP))), ("drip", DUMP[:400], 0.05)], {3}),
}

COMMANDS = {
    "all": ["all", "{url}"],
    "check": ["check", "{url}"],
    "endpoints": ["endpoints", "{url}"],
    "stats": ["stats", "{url}"],
    "trace": ["trace", "{url}", "http://httpbin:8000/"],
    "zc": ["zc", "all", "{url}"],
    "diff": ["diff", str(ISTIOCTL / "proxy-config-all/config_dump.json"), "{url}"],
    "report": ["report", "{url}", "-o", "{tmp}/r.html"],
}
TIMEOUT = 0.5


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_every_live_command_meets_every_fault(pdebug, tmp_path, command, fault):
    script, codes = FAULTS[fault]
    server = HostileServer([*script, ("close",)])
    try:
        argv = [a.format(url=server.url, tmp=tmp_path) for a in COMMANDS[command]]
        start = time.monotonic()
        result = pdebug(*argv, "--timeout", str(TIMEOUT))
        seconds = time.monotonic() - start
    finally:
        server.stop()
    assert result.code in codes, result
    lines = result.err.splitlines()
    assert lines and lines[0].startswith("pdebug: error: "), result.err
    assert all(line.startswith(("pdebug: error: ", "hint: ")) for line in lines), result.err
    assert "Traceback" not in result.err and "internal error" not in result.err
    assert all(c == "\n" or " " <= c <= "~" for c in result.err), repr(result.err)
    assert seconds < 2 * TIMEOUT + 2.5, (seconds, result.err)
    assert not (tmp_path / "r.html").exists()
