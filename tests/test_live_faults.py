"""A hostile admin port: every way an HTTP answer can break ends within --timeout in one line.

The server here is raw sockets on 127.0.0.1, so each test controls every byte (and when it
comes): headers or a body one byte at a time, ``100 Continue`` and silence, a wrong
``Content-Length``, a cut or reset body, HTTP/0.9 or garbage, an endless stream. Each
fault must be exit 3, one ``pdebug: error:`` line naming the cause (and a hint line), no
traceback, and a wall time within ``--timeout`` plus a little: the timeout is a deadline
for the whole request, retry included, not a bound on each read. The same faults are
then served through the Kubernetes port-forward (the API server double relays to this
server) and to istiod's ``--istiod`` URL, and a seeded generator mixes faults and
positions.
"""

from __future__ import annotations

import json
import os
import random
import time
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pdebug.errors import ExitCode
from tests.harness import ISTIOCTL, Result
from tests.harness import kube_double as kd
from tests.harness.hostile import HostileServer, Step, chunked

#: A thread that dies of an exception (the client's port-forward relay) is a failure here.
pytestmark = pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning")

DUMP = (ISTIOCTL / "proxy-config-all/config_dump.json").read_bytes()
TIMEOUT = 1.0
SLACK = 0.6  # start-up of the command, the retry pause, thread scheduling
#: Through a cluster the command also loads the kubeconfig and asks the API server (and
#: imports the client, warmed up by ``kube_warm``) before the request's deadline starts.
KUBE_SLACK = 1.0


# --------------------------------------------------------------------------- the server


def ok_head(length: int | None, extra: str = "") -> bytes:
    """A 200 status line and headers (``Content-Length`` unless ``length`` is None)."""
    cl = f"Content-Length: {length}\r\n" if length is not None else ""
    return f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n{cl}{extra}\r\n".encode()


def answer(body: bytes = DUMP) -> bytes:
    return ok_head(len(body)) + body


@pytest.fixture
def hostile() -> Iterator[Any]:
    servers: list[HostileServer] = []

    def make(*script: Step, wait_request: bool = True) -> HostileServer:
        server = HostileServer(script, wait_request)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture(scope="module", autouse=True)
def _warm() -> None:
    """Import the CLI and the loader once before anything is timed."""
    from pdebug.cli import main

    main(["clusters", str(ISTIOCTL / "proxy-config-all/config_dump.json")])


@dataclass
class Timed:
    result: Result
    seconds: float


def run(pdebug: Any, *args: str) -> Timed:
    start = time.monotonic()
    result = pdebug(*args)
    return Timed(result, time.monotonic() - start)


def one_line(
    timed: Timed, needle: str, *, code: int = ExitCode.SOURCE_UNAVAILABLE, slack: float = SLACK
) -> str:
    """Exit ``code``, one error line containing ``needle`` (+ a hint), no traceback, in time."""
    result = timed.result
    assert result.code == code, result
    lines = result.err.splitlines()
    errors = [line for line in lines if line.startswith("pdebug: error: ")]
    assert len(errors) == 1 and lines[0] == errors[0], result.err
    assert all(line.startswith(("pdebug: error: ", "hint: ")) for line in lines), result.err
    assert needle in errors[0], result.err
    assert "Traceback" not in result.err and "Error:" not in errors[0].split(":", 2)[2]
    assert all(c == "\n" or " " <= c <= "~" for c in result.err), repr(result.err)
    assert timed.seconds <= TIMEOUT + slack, f"{timed.seconds:.2f}s: {result.err}"
    return errors[0]


def view(pdebug: Any, server: HostileServer, *extra: str) -> Timed:
    return run(pdebug, "clusters", server.url, "--timeout", str(TIMEOUT), *extra)


# --------------------------------------------------------------------------- fault classes


def test_headers_one_byte_at_a_time(pdebug, hostile):
    # each byte comes well within any per-read timeout: only a deadline ends this
    server = hostile(("drip", ok_head(len(DUMP)), 0.05), ("send", DUMP))
    line = one_line(view(pdebug, server), f"no complete answer within {TIMEOUT:g}s")
    assert "status line and headers were not finished" in line


def test_body_one_byte_at_a_time(pdebug, hostile):
    server = hostile(("send", ok_head(len(DUMP))), ("drip", DUMP, 0.01))
    line = one_line(view(pdebug, server), f"no complete answer within {TIMEOUT:g}s")
    assert f"of {len(DUMP)} bytes of the body" in line


def test_100_continue_then_silence(pdebug, hostile):
    server = hostile(("send", b"HTTP/1.1 100 Continue\r\n\r\n"), ("stall",))
    one_line(
        view(pdebug, server), f"answered 100 Continue, then no final answer within {TIMEOUT:g}s"
    )


def test_100_continue_then_an_answer_is_fine(pdebug, hostile):
    server = hostile(("send", b"HTTP/1.1 100 Continue\r\n\r\n" + answer()), ("close",))
    result = view(pdebug, server).result
    assert result.code == 0, result.err
    assert "httpbin.default.svc.cluster.local" in result.out


def test_silence(pdebug, hostile):
    server = hostile(("stall",))
    one_line(view(pdebug, server), f"no answer within {TIMEOUT:g}s")


def test_content_length_too_long_then_close(pdebug, hostile):
    body = DUMP[:1234]
    server = hostile(("send", ok_head(5678) + body), ("close",))
    one_line(view(pdebug, server), "closed the connection after 1234 of 5678 bytes")
    assert server.accepted == 2  # a dropped connection is tried once more


def test_content_length_too_long_then_silence(pdebug, hostile):
    server = hostile(("send", ok_head(5678) + DUMP[:1234]), ("stall",))
    one_line(view(pdebug, server), "(got 1234 of 5678 bytes of the body)")


def test_content_length_too_short(pdebug, hostile):
    server = hostile(("send", ok_head(1000) + DUMP), ("stall",))
    one_line(view(pdebug, server), "sent more bytes than its Content-Length (1000) announced")


def test_invalid_content_length(pdebug, hostile):
    server = hostile(("send", ok_head(None, "Content-Length: 12abc\r\n") + DUMP), ("close",))
    one_line(view(pdebug, server), "sent an invalid Content-Length ('12abc')")


def test_truncated_chunked_body(pdebug, hostile):
    server = hostile(
        ("send", ok_head(None, "Transfer-Encoding: chunked\r\n") + chunked(DUMP)[:3000]),
        ("close",),
    )
    one_line(view(pdebug, server), "bytes of a chunked body")


def test_bad_chunk_size(pdebug, hostile):
    server = hostile(
        ("send", ok_head(None, "Transfer-Encoding: chunked\r\n") + b"zz\r\nabc\r\n0\r\n\r\n"),
        ("close",),
    )
    one_line(view(pdebug, server), "sent an invalid chunk size line ('zz\\r\\n')")


def test_reset_mid_body(pdebug, hostile):
    server = hostile(("send", ok_head(len(DUMP)) + DUMP[:2000]), ("sleep", 0.1), ("reset",))
    line = one_line(view(pdebug, server), "the connection after 2000 of")
    assert "reset the connection" in line or "closed the connection" in line


def test_closed_without_answering(pdebug, hostile):
    server = hostile(("close",))
    one_line(view(pdebug, server), "closed the connection without answering")
    assert server.accepted == 2


@pytest.mark.parametrize(
    ("sent", "needle"),
    [
        (b"HTTP/1.1 20", "closed the connection in the middle of the status line"),
        (b"HTTP/1.1 200 OK\r\nContent-Le", "closed the connection in the middle of the headers"),
    ],
)
def test_closed_inside_the_head(pdebug, hostile, sent, needle):
    server = hostile(("send", sent), ("close",))
    one_line(view(pdebug, server), needle)
    assert server.accepted == 2


def test_http_0_9(pdebug, hostile):
    server = hostile(("send", DUMP), ("close",))
    one_line(view(pdebug, server), "sent no valid HTTP status line (it began '{\\n")


def test_garbage(pdebug, hostile):
    server = hostile(("send", b"\x1b]52;c;aGk=\x07\x00\xff garbage\r\n\r\n"), ("close",))
    line = one_line(view(pdebug, server), "sent no valid HTTP status line")
    assert "\\x1b]52" in line  # escaped, never written raw to the terminal


def test_header_flood(pdebug, hostile):
    flood = b"".join(b"X-Pad-%d: %s\r\n" % (i, b"a" * 1000) for i in range(80))
    server = hostile(("send", b"HTTP/1.1 200 OK\r\n" + flood), ("stream", 10**7, b"a"))
    one_line(view(pdebug, server), "sent more than 64 KiB of status line and headers")


@pytest.mark.parametrize("command", ["clusters", "dump"])
@pytest.mark.parametrize("coding", ["gzip", "br"])
def test_a_compressed_body_nobody_asked_for(pdebug, hostile, tmp_path, command, coding):
    """A proxy in between compressed the answer: said so (was "binary data ... reads .gz")."""
    import gzip

    body = gzip.compress(DUMP)
    server = hostile(("send", ok_head(len(body), f"Content-Encoding: {coding}\r\n") + body))
    extra = ("-o", str(tmp_path / "d.tar.gz")) if command == "dump" else ()
    timed = run(pdebug, command, server.url, "--timeout", str(TIMEOUT), *extra)
    one_line(timed, f"sent a compressed body (Content-Encoding: {coding})")
    assert not (tmp_path / "d.tar.gz").exists()


def test_a_compressed_error_answer_is_said_by_its_status(pdebug, hostile):
    """A gzip 503 of a proxy in between: its status, not its bytes (were quoted raw)."""
    import gzip

    body = gzip.compress(b"upstream connect error or disconnect/reset before headers")
    head = b"HTTP/1.1 503 Service Unavailable\r\nContent-Encoding: gzip\r\n"
    server = hostile(("send", head + b"Content-Length: %d\r\n\r\n" % len(body) + body))
    one_line(view(pdebug, server), "answered HTTP 503 (a gzip-compressed body)")


@pytest.mark.parametrize(
    ("status", "extra", "body", "code", "needle"),
    [
        (
            "302 Found",
            "Location: http://127.0.0.1:1/login\r\n",
            b"<a href=...>Found</a>",
            3,
            "answered HTTP 302 (redirects to http://127.0.0.1:1/login)",
        ),
        ("503 Service Unavailable", "", b'{"error":"not ready"}', 3, 'HTTP 503 ({"error"'),
        ("200 OK", "", b"<html><body>Bad Gateway</body></html>", 4, "this is an HTML page"),
        ("200 OK", "", b"x" * (8 << 20), 4, "not JSON (starts with 'xxxx"),
        ("200 OK", "", b"", 4, "the input is empty"),
    ],
)
@pytest.mark.parametrize("command", ["clusters", "dump"])
def test_error_answers_real_admins_give(
    pdebug, hostile, tmp_path, command, status, extra, body, code, needle
):
    head = f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\n{extra}\r\n".encode()
    server = hostile(("send", head + body), ("close",))
    out = ("-o", str(tmp_path / "d.tar.gz")) if command == "dump" else ()
    one_line(run(pdebug, command, server.url, "--timeout", str(TIMEOUT), *out), needle, code=code)
    if command == "clusters":  # (dump asks for /clusters and /server_info too)
        assert server.accepted == 1  # no retry, no redirect followed
    assert not (tmp_path / "d.tar.gz").exists()


def test_announced_2gb_body(pdebug, hostile):
    server = hostile(("send", ok_head(2 * 1024**3)), ("stream", 2 * 1024**3, b" "))
    line = one_line(view(pdebug, server), "answer exceeds the 1 GiB limit (--max-body)")
    assert "announced 2147483648 bytes" in line
    assert server.sent < 1 << 24  # refused before reading it


@pytest.mark.parametrize("framing", ["until-close", "chunked"])
def test_endless_stream_is_cut_at_the_limit(pdebug, hostile, monkeypatch, framing):
    # 2 GB offered; the limit (here 1 MiB through the environment) ends it in bounded memory
    monkeypatch.setenv("PDEBUG_MAX_BODY", "1MiB")
    if framing == "chunked":
        head = ok_head(None, "Transfer-Encoding: chunked\r\n") + b"80000000\r\n"
    else:
        head = ok_head(None, "Connection: close\r\n")
    server = hostile(("send", head), ("stream", 2 * 1024**3, b" "))
    tracemalloc.start()
    try:
        timed = view(pdebug, server)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    one_line(timed, "answer exceeds the 1 MiB limit (--max-body)")
    assert "PDEBUG_MAX_BODY" in timed.result.err  # the hint says how to raise it
    assert peak < 16 << 20, peak


def test_bad_max_body_setting_is_a_usage_error(pdebug, hostile, monkeypatch, tmp_path):
    server = hostile(("send", answer()), ("close",))
    monkeypatch.setenv("PDEBUG_MAX_BODY", "lots")
    one_line(view(pdebug, server), "PDEBUG_MAX_BODY: 'lots' is not a size", code=ExitCode.USAGE)
    monkeypatch.delenv("PDEBUG_MAX_BODY")
    result = pdebug("dump", server.url, "-o", tmp_path / "x.json", "--max-body", "12")
    assert result.code == ExitCode.USAGE and "--max-body" in result.err


@pytest.mark.parametrize(
    ("script", "needle"),
    [
        ([("drip", b"\x16\x03\x03\x00\x40" + b"\x00" * 64, 0.05)], "no TLS handshake within 1s"),
        ([("send", answer()), ("close",)], "TLS failed ("),
    ],
    ids=["drip", "plain-http"],
)
def test_https_handshake_is_bounded_too(pdebug, hostile, script, needle):
    # Envoy's admin is plain HTTP (an https:// admin address is a usage error), but an
    # istiod given as --istiod https://... is read by the same reader, TLS first
    server = hostile(*script, wait_request=False)
    https = server.url.replace("http://", "https://")
    one_line(run(pdebug, "status", "--istiod", https, "--timeout", str(TIMEOUT)), needle)
    refused = run(pdebug, "clusters", https, "--timeout", str(TIMEOUT))
    assert refused.result.code == ExitCode.USAGE and "plain HTTP" in refused.result.err


def test_a_slow_but_steady_answer_within_the_timeout_is_fine(pdebug, hostile):
    body = answer()
    server = hostile(("drip", body[:40], 0.005), ("send", body[40:]), ("close",))
    result = view(pdebug, server).result
    assert result.code == 0, result.err


# --------------------------------------------------------------------------- pdebug dump


def test_dump_streams_to_disk_and_enforces_the_limit(pdebug, hostile, tmp_path):
    # a valid dump padded to 24 MB: the capture must not hold it in memory (--no-redact:
    # nothing to rewrite), and --max-body below its size refuses it with no file left
    padded = DUMP.rstrip()[:-1] + b', "pad": "' + b" " * (24 << 20) + b'"}'
    server = hostile(("send", answer(padded)), ("close",))
    out = tmp_path / "proxy.json"
    tracemalloc.start()
    try:
        timed = run(pdebug, "dump", server.url, "-o", out, "--no-redact", "--timeout", "20")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert timed.result.code == 0, timed.result.err
    assert out.read_bytes() == padded
    assert peak < 8 << 20, peak

    small = tmp_path / "small.tar.gz"
    timed = run(pdebug, "dump", server.url, "-o", small, "--max-body", "1M", "--timeout", "1")
    one_line(timed, "answer exceeds the 1 MiB limit (--max-body)")
    assert sorted(os.listdir(tmp_path)) == ["proxy.json"]  # no output, no stage left


def test_dump_of_a_stalled_admin_leaves_nothing(pdebug, hostile, tmp_path):
    server = hostile(("send", ok_head(len(DUMP)) + DUMP[:500]), ("stall",))
    timed = run(pdebug, "dump", server.url, "-o", tmp_path / "p.tar.gz", "--timeout", "1")
    one_line(timed, "no complete answer within 1s (got 500 of")
    assert os.listdir(tmp_path) == []


def test_dump_bundle_from_a_chunked_admin(pdebug, hostile, tmp_path):
    server = hostile(
        ("send", ok_head(None, "Transfer-Encoding: chunked\r\n") + chunked(DUMP, 777)), ("close",)
    )
    out = tmp_path / "p.tar.gz"
    result = pdebug("dump", server.url, "-o", out, "--timeout", "5")
    assert result.code == 0, result.err
    listed = pdebug("clusters", out)
    assert listed.code == 0 and "httpbin.default.svc.cluster.local" in listed.out


# --------------------------------------------------------------------------- port-forward


KUBE_FAULTS = {
    "drip-body": ([("send", ok_head(len(DUMP))), ("drip", DUMP, 0.01)], "no complete answer"),
    "continue": ([("send", b"HTTP/1.1 100 Continue\r\n\r\n"), ("stall",)], "100 Continue"),
    "short-then-silence": ([("send", ok_head(5678) + DUMP[:1234]), ("stall",)], "1234 of 5678"),
    "cut": ([("send", ok_head(5678) + DUMP[:1234]), ("close",)], "1234 of 5678 bytes"),
    "garbage": ([("send", b"SSH-2.0-OpenSSH_9.6\r\n"), ("stall",)], "no valid HTTP status line"),
    "2gb": ([("send", ok_head(2 * 1024**3)), ("stall",)], "exceeds the 1 GiB limit"),
    "too-short": ([("send", ok_head(100) + DUMP), ("stall",)], "more bytes than its Content"),
}


@pytest.fixture
def kube_warm() -> None:
    """Import the Kubernetes client before timing (a cold import is most of a second)."""
    import kubernetes.client
    import kubernetes.stream.ws_client  # noqa: F401


@pytest.mark.usefixtures("no_ambient_config", "kube_warm")
@pytest.mark.parametrize("fault", sorted(KUBE_FAULTS))
def test_faults_through_the_port_forward(
    pdebug, hostile, kube: kd.KubeDouble, kubeconfig, capsys, fault
):
    script, needle = KUBE_FAULTS[fault]
    server = hostile(*script)
    kube.add_pod("web-1", forwards={15000: server.address})
    timed = run(
        pdebug, "clusters", "pod/web-1", "--kubeconfig", kubeconfig, "--timeout", str(TIMEOUT)
    )
    line = one_line(timed, needle, slack=KUBE_SLACK)
    assert line.startswith("pdebug: error: pod/web-1.default: ")
    server.stop()
    time.sleep(0.2)  # the client's relay thread ends after pdebug closed its side
    assert "Traceback" not in capsys.readouterr().err


@pytest.mark.usefixtures("no_ambient_config", "kube_warm")
def test_dump_through_the_port_forward_streams_to_disk(
    pdebug, hostile, kube: kd.KubeDouble, kubeconfig, tmp_path
):
    padded = DUMP.rstrip()[:-1] + b', "pad": "' + b" " * (16 << 20) + b'"}'
    server = hostile(
        ("send", ok_head(None, "Transfer-Encoding: chunked\r\n") + chunked(padded, 1 << 20)),
        ("stall",),
    )
    kube.add_pod("web-1", forwards={15000: server.address})
    out = tmp_path / "web.json"
    tracemalloc.start()
    try:
        result = pdebug("dump", "pod/web-1", "--kubeconfig", kubeconfig, "-o", out, "--no-redact")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result.code == 0, result.err
    assert out.read_bytes() == padded
    assert peak < 10 << 20, peak  # the same for 8 or 32 MB: about 5 MB of relay buffers

    cut = tmp_path / "cut.tar.gz"
    timed = run(
        pdebug, "dump", "pod/web-1", "--kubeconfig", kubeconfig, "-o", cut, "--max-body", "1M"
    )
    one_line(timed, "answer exceeds the 1 MiB limit (--max-body)", slack=KUBE_SLACK)
    assert sorted(os.listdir(tmp_path)) == ["kubeconfig", "web.json"]  # no output, no stage


# --------------------------------------------------------------------------- istiod


@pytest.mark.parametrize(
    ("script", "needle"),
    [
        ([("send", ok_head(100) + b"[]"), ("stall",)], "(got 2 of 100 bytes of the body)"),
        ([("send", b"HTTP/1.1 100 Continue\r\n\r\n"), ("stall",)], "100 Continue"),
        ([("send", b"<html>hello</html>"), ("close",)], "no valid HTTP status line"),
    ],
)
def test_faults_of_istiod(pdebug, hostile, script, needle):
    server = hostile(*script)
    timed = run(pdebug, "status", "--istiod", server.url, "--timeout", str(TIMEOUT))
    line = one_line(timed, needle)
    assert server.url in line
    if "status line" in needle:
        assert "monitoring port" in timed.result.err  # the hint fits what went wrong


@pytest.mark.parametrize(
    ("body", "extra", "code", "needle"),
    [
        # was "istiod answered an Envoy /clusters document"
        (b"{}", "", 4, "istiod answered an empty JSON object ({}), not a config dump"),
        (b"[]", "", 4, "istiod answered a JSON array, not an Envoy config dump"),
        (b"<html>x</html>", "", 4, "istiod answered an HTML page"),
        (DUMP, "Content-Encoding: gzip\r\n", 3, "sent a compressed body"),
    ],
)
def test_odd_config_dump_answers_of_istiod(pdebug, hostile, body, extra, code, needle):
    server = hostile(("send", ok_head(len(body), extra) + body), ("close",))
    timed = run(
        pdebug,
        "diff",
        str(ISTIOCTL / "proxy-config-all/config_dump.json"),
        "--istiod",
        server.url,
        "--timeout",
        str(TIMEOUT),
    )
    one_line(timed, needle, code=code)


@pytest.mark.usefixtures("no_ambient_config", "kube_warm")
def test_a_dripping_istiod_replica_found_through_the_cluster(
    pdebug, hostile, kube: kd.KubeDouble, kubeconfig
):
    server = hostile(("send", ok_head(5000) + b"["), ("drip", b" " * 4999, 0.01))
    kube.add_pod(
        "istiod-1",
        "istio-system",
        labels={"app": "istiod"},
        containers=("discovery",),
        forwards={15014: server.address},
    )
    timed = run(pdebug, "status", "--kubeconfig", kubeconfig, "--timeout", str(TIMEOUT))
    line = one_line(timed, "no complete answer within 1s (got ", slack=KUBE_SLACK)
    assert line.startswith("pdebug: error: pod/istiod-1.istio-system: the istiod on port 15014")


# --------------------------------------------------------------------------- generated


def _mutations(rng: random.Random, n: int) -> Iterator[tuple[str, list[Step], set[int]]]:
    """``n`` seeded faults at random positions: (description, script, allowed exit codes)."""
    body = DUMP
    for _ in range(n):
        framing = rng.choice(["length", "chunked", "close"])
        if framing == "length":
            wire = answer(body)
        elif framing == "chunked":
            wire = ok_head(None, "Transfer-Encoding: chunked\r\n") + chunked(
                body, rng.randint(1, 9000)
            )
        else:
            wire = ok_head(None, "Connection: close\r\n") + body
        head = wire.index(b"\r\n\r\n") + 4
        kind = rng.choice(["cut", "reset", "stall", "drip", "flip", "length", "continue"])
        at = rng.randrange(0, len(wire))
        if kind == "cut":
            # cutting a close-delimited body is indistinguishable from its end: 4 (truncated)
            allowed = {3, 4} if framing == "close" and at >= head else {3}
            yield f"{framing} cut at {at}", [("send", wire[:at]), ("close",)], allowed
        elif kind == "reset":
            allowed = {3, 4} if framing == "close" and at >= head else {3}
            yield f"{framing} reset at {at}", [("send", wire[:at]), ("reset",)], allowed
        elif kind == "stall":
            yield f"{framing} stall at {at}", [("send", wire[:at]), ("stall",)], {3}
        elif kind == "drip":
            start = rng.randrange(0, min(len(wire), head + 200))
            script: list[Step] = [("send", wire[:start]), ("drip", wire[start:], 0.02)]
            yield f"{framing} drip from {start}", script, {3}
        elif kind == "flip":
            where = rng.randrange(0, head)
            flipped = bytearray(wire)
            flipped[where] = rng.randrange(256)
            # a flipped header byte may still be valid HTTP (a reason phrase, a header name)
            yield (
                f"{framing} byte {where} flipped",
                [("send", bytes(flipped)), ("close",)],
                {0, 3, 4},
            )
        elif kind == "length":
            wrong = max(0, len(body) + rng.choice([-1, 1]) * rng.randint(1, len(body)))
            script = [("send", ok_head(wrong) + body), ("stall",)]
            yield f"Content-Length {wrong} for {len(body)}", script, {3}
        else:
            script = [("send", b"HTTP/1.1 100 Continue\r\n\r\n" + wire[:at]), ("stall",)]
            allowed = {0, 3} if at == len(wire) else {3}
            yield f"100 Continue then {framing} stall at {at}", script, allowed


def _handled(description: str, timed: Timed, allowed: set[int], budget: float) -> Result:
    """The run's result, once it ended in an ``allowed`` exit code, without a traceback,
    within ``budget`` seconds (``description`` names the fault in a failure)."""
    result = timed.result
    assert result.code in allowed, (description, result)
    assert "Traceback" not in result.err, (description, result.err)
    assert timed.seconds <= budget, (description, timed.seconds, result.err)
    return result


@pytest.mark.parametrize("seed", [12, 2024])
def test_generated_faults(pdebug, seed):
    rng = random.Random(seed)
    for description, script, allowed in _mutations(rng, 10):
        server = HostileServer(script)
        try:
            timed = run(pdebug, "clusters", server.url, "--timeout", "0.6")
        finally:
            server.stop()
        result = _handled(description, timed, allowed, 0.6 + SLACK)
        if result.code:
            lines = result.err.splitlines()
            assert lines[0].startswith("pdebug: error: "), (description, result.err)
            assert all(line.startswith(("pdebug: error: ", "hint: ")) for line in lines)
        else:
            assert json.dumps("httpbin") and "httpbin" in result.out, description


@pytest.mark.usefixtures("no_ambient_config", "kube_warm")
def test_generated_faults_through_the_port_forward(pdebug, kube: kd.KubeDouble, kubeconfig, capsys):
    rng = random.Random(7)
    for i, (description, script, allowed) in enumerate(_mutations(rng, 6)):
        server = HostileServer(script)
        kube.add_pod(f"web-{i}", forwards={15000: server.address})
        try:
            timed = run(
                pdebug, "clusters", f"pod/web-{i}", "--kubeconfig", kubeconfig, "--timeout", "1"
            )
        finally:
            server.stop()
        result = _handled(description, timed, allowed, 1 + KUBE_SLACK)
        if result.code:
            assert result.err.startswith(f"pdebug: error: pod/web-{i}.default: "), description
    time.sleep(0.2)  # a relay thread that dies late must not print either
    assert "Traceback" not in capsys.readouterr().err


def test_readme_documents_the_deadline_and_the_limit():
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    assert "--max-body" in readme and "PDEBUG_MAX_BODY" in readme and "1 GiB" in readme
    assert "whole request" in readme


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("1GiB", 1 << 30),
        ("2G", 2 << 30),
        ("500M", 500 << 20),
        ("512k", 512 << 10),
        ("1048576", 1 << 20),
        ("1.5 GiB", 3 << 29),
        ("4tb", 4 << 40),
    ],
)
def test_parse_size(text, size):
    from pdebug.sources.httpget import format_size, parse_size

    assert parse_size(text) == size
    assert parse_size(format_size(size).replace(" ", "")) == size


@pytest.mark.parametrize("text", ["", "lots", "-1G", "1 GB extra", "100", "0"])
def test_parse_size_refuses(text):
    from pdebug.sources.httpget import parse_size

    with pytest.raises(ValueError):
        parse_size(text)
