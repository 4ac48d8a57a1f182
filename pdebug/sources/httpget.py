"""One HTTP/1.1 GET with a deadline and a body limit, over any connected socket.

Both live paths read Envoy's admin (and istiod) with it: :class:`~pdebug.sources.admin.
AdminSource` over TCP, :class:`~pdebug.sources.kube.PodForward` over the local end of a
Kubernetes port-forward. ``http.client`` is not used because its timeout bounds each
``recv`` (a server that sends one byte a second never times out), it holds the whole body
in memory, and its failures (``IncompleteRead``, ``BadStatusLine``, ``LineTooLong``) do
not say what the server did. Here:

* ``--timeout`` is a :class:`Deadline` for the whole GET (connect, request, status line,
  headers, ``1xx`` answers, body, and the retry of a dropped connection): every ``recv``
  waits at most for what is left of it;
* the body is bounded by ``max_body`` (``--max-body``, default :data:`DEFAULT_MAX_BODY`),
  checked against ``Content-Length`` before reading and against the bytes as they come;
* the body goes to a :class:`Body`: memory, or a file (``pdebug dump`` streams to disk);
* every failure is an :class:`HTTPFault` whose message says what the server did, in
  words (``closed the connection after 1234 of 5678 bytes``, ``sent no valid HTTP
  status line``); callers prefix it with what they asked.

One module over 500 lines because it is one protocol reader: the deadline, the body
limit, the body's destination and the wording of each fault act on the same socket
state in the same loop; cut apart, each part would need to know the others' state.
"""

from __future__ import annotations

import io
import os
import re
import time
from dataclasses import dataclass, field
from typing import Any, BinaryIO

__all__ = [
    "DEFAULT_MAX_BODY",
    "MAX_BODY_ENV",
    "Body",
    "Deadline",
    "HTTPFault",
    "Response",
    "Wire",
    "format_size",
    "max_body_from_env",
    "parse_size",
]

#: The default body limit: 1 GiB. A 20k-cluster mesh's ``config_dump?include_eds`` is
#: about 241 MB, so this leaves four times that before a user has to raise it.
DEFAULT_MAX_BODY = 1 << 30
#: The environment variable that sets the limit for every command.
MAX_BODY_ENV = "PDEBUG_MAX_BODY"
#: Status line plus headers, as Go's net/http and Envoy bound them (64 KiB, 100 fields).
MAX_HEAD = 64 * 1024
MAX_HEADERS = 100
#: Informational (1xx) answers tolerated before the final one.
MAX_INFORMATIONAL = 16
_CHUNK = 1 << 20
_STATUS = re.compile(rb"HTTP/(\d)\.(\d) (\d{3})(?: [^\r\n]*)?\r?\n")
_SIZE = re.compile(r"(?i)^\s*(\d+(?:\.\d+)?)\s*(b|k|kb|kib|m|mb|mib|g|gb|gib|t|tb|tib)?\s*$")
_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_size(text: str) -> int:
    """``1GiB``, ``2G``, ``500M``, ``512k``, ``1048576`` -> bytes (binary units).

    Raises:
        ValueError: not a size, or below 1 KiB.
    """
    match = _SIZE.match(str(text))
    if match is None:
        raise ValueError(f"{text!r} is not a size (e.g. 2GiB, 500M, 1048576)")
    number, unit = float(match[1]), (match[2] or "").lower()[:1]
    size = int(number * _UNITS[unit])
    if size < 1024:
        raise ValueError(f"{text!r} is below the smallest limit, 1 KiB")
    return size


def format_size(size: int) -> str:
    """``1073741824`` -> ``1 GiB``; ``1536`` -> ``1.5 KiB``; ``100`` -> ``100 bytes``."""
    for unit, factor in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= factor:
            return f"{size / factor:.4g} {unit}"
    return f"{size} bytes"


def max_body_from_env() -> int:
    """The limit ``PDEBUG_MAX_BODY`` sets, else :data:`DEFAULT_MAX_BODY`.

    Raises:
        UsageError: the variable is set but is not a size.
    """
    text = os.environ.get(MAX_BODY_ENV, "").strip()
    if not text:
        return DEFAULT_MAX_BODY
    try:
        return parse_size(text)
    except ValueError as exc:
        from pdebug.errors import UsageError

        raise UsageError(f"{MAX_BODY_ENV}: {exc}", hint="e.g. PDEBUG_MAX_BODY=2GiB") from None


class Deadline:
    """The end of a whole request: ``remaining()`` is what every wait may use."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def remaining(self) -> float:
        """Seconds left (at least a millisecond, for ``settimeout``); raises when none."""
        left = self.end - time.monotonic()
        if left <= 0:
            raise TimeoutError
        return max(left, 0.001)

    def left(self) -> float:
        """Seconds left, possibly zero or less (never raises)."""
        return self.end - time.monotonic()


class HTTPFault(Exception):
    """The server broke HTTP, or did not finish in time. ``message`` says what it did.

    Attributes:
        message: What happened, in words, without naming the server.
        dropped: The connection ended (closed or reset) before the answer was complete:
            the one kind of fault worth one more try.
        timed_out: The deadline passed.
        too_large: The body exceeds the limit.
    """

    def __init__(
        self,
        message: str,
        *,
        dropped: bool = False,
        timed_out: bool = False,
        too_large: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.dropped = dropped
        self.timed_out = timed_out
        self.too_large = too_large


class Body:
    """Where a body goes: memory (``file`` None) or an open binary file, from its start."""

    def __init__(self, file: BinaryIO | None = None) -> None:
        self.file = file
        self.size = 0
        self._parts: list[bytes] = []
        #: the first two bytes (gzip's magic says a body was compressed unasked)
        self.start = b""

    def write(self, data: bytes) -> None:
        """Append ``data``."""
        if len(self.start) < 2:
            self.start += data[: 2 - len(self.start)]
        if self.file is not None:
            self.file.write(data)
        else:
            self._parts.append(data)
        self.size += len(data)

    def reset(self) -> None:
        """Forget what was written (before a retry)."""
        self.size = 0
        self.start = b""
        self._parts = []
        if self.file is not None:
            self.file.seek(0)
            self.file.truncate()

    def head(self, size: int = 120) -> bytes:
        """The first ``size`` bytes written (for an error message)."""
        if self.file is None:
            return b"".join(self._parts)[:size] if len(self._parts) != 1 else self._parts[0][:size]
        self.file.seek(0)
        return self.file.read(size)

    def value(self) -> bytes:
        """The bytes kept in memory (empty for a file body); a single read is not copied."""
        parts, self._parts = self._parts, []
        return parts[0] if len(parts) == 1 else b"".join(parts)


class BodyGetter:
    """``get`` and ``get_to`` over one ``_get(path, body)``: the body in memory or a file.

    The admin source and the port-forward share it; each defines ``_get``, which sends
    the GET and puts the body of an HTTP 200 into ``body`` (or raises).
    """

    def _get(self, path: str, body: Body) -> None:
        raise NotImplementedError

    def get(self, path: str) -> bytes:
        """GET ``path``; the body on HTTP 200 (errors name the address and a hint).

        Raises:
            SourceUnavailable: unreachable (or the port-forward cannot be opened), too
                slow, too large, or not HTTP.
            AdminHTTPError: the server answered another status than 200.
        """
        body = Body()
        self._get(path, body)
        return body.value()

    def get_to(self, path: str, file: BinaryIO) -> int:
        """GET ``path`` straight into ``file`` (from its start); the body's size."""
        body = Body(file)
        self._get(path, body)
        return body.size


@dataclass
class Response:
    """A complete answer: status, headers (lower-case names), body size, reusability."""

    status: int
    reason: str
    headers: dict[str, str] = field(default_factory=dict)
    size: int = 0
    keep_alive: bool = False


def printable(text: str | bytes, limit: int = 40, quote: bool = True) -> str:
    """A short rendering of server-sent text with every control character escaped."""
    raw = text.encode("latin-1", "replace") if isinstance(text, str) else text
    shown = raw[:limit].decode("latin-1")
    out = "".join(
        c if " " <= c <= "~" else {"\r": "\\r", "\n": "\\n", "\t": "\\t"}.get(c, f"\\x{ord(c):02x}")
        for c in shown
    )
    more = "..." if len(raw) > limit else ""
    return f"'{out}'{more}" if quote else out + more


class _DeadlineIO(io.RawIOBase):
    """The socket as a raw stream whose every ``recv`` waits only for what is left.

    ``deadline`` is the current request's; ``probe`` makes reads non-blocking (``None``
    when nothing has arrived), to look at what is buffered without waiting.
    """

    def __init__(self, sock: Any) -> None:
        super().__init__()
        self.sock = sock
        self.deadline = Deadline(0)
        self.received = 0
        self.probe = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int | None:
        if self.probe:
            self.sock.settimeout(0.0)
            try:
                n = int(self.sock.recv_into(buffer))
            except OSError:  # nothing there yet (or the peer is gone): nothing more sent
                return None
        else:
            self.sock.settimeout(self.deadline.remaining())
            n = int(self.sock.recv_into(buffer))
        self.received += n
        return n


class Wire:
    """One HTTP/1.1 connection, for one GET after another (keep-alive).

    ``sock`` is anything with ``recv_into``, ``sendall`` and ``settimeout``: a TCP socket,
    or the local end of a Kubernetes port-forward.
    """

    def __init__(self, sock: Any) -> None:
        self.sock = sock
        self._raw = _DeadlineIO(sock)
        self._reader = io.BufferedReader(self._raw, 65536)

    # ------------------------------------------------------------------ requests

    @staticmethod
    def request(host: str, path: str) -> bytes:
        """The bytes of ``GET path`` (what :meth:`get` sends)."""
        return (
            f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: application/json\r\n"
            "User-Agent: pdebug\r\n\r\n"
        ).encode("latin-1", "replace")

    def get(
        self,
        host: str,
        path: str,
        deadline: Deadline,
        max_body: int,
        body: Body,
        sent: bool = False,
    ) -> Response:
        """Send ``GET path`` and read the whole answer into ``body``.

        ``sent``: :meth:`request` was sent on this connection already (ahead of time):
        only the answer is read.

        Raises:
            HTTPFault: the server did not answer a well-formed HTTP response in time, or
                the body exceeds ``max_body``.
        """
        self._raw.deadline = deadline
        state = _State(mark=self._raw.received)
        try:
            self.sock.settimeout(deadline.remaining())
            if not sent:
                self.sock.sendall(self.request(host, path))
            return self._read(max_body, body, state)
        except TimeoutError:
            self._progress(state)
            raise HTTPFault(_timeout(deadline, state), timed_out=True) from None
        except ConnectionResetError:
            self._progress(state)
            raise HTTPFault(_where(state, "reset the connection"), dropped=True) from None
        except BrokenPipeError:
            raise HTTPFault(
                "closed the connection before the request was sent", dropped=True
            ) from None
        except OSError as exc:
            raise HTTPFault(f"the connection failed ({exc.strerror or exc})") from None

    def _progress(self, state: _State) -> None:
        """After a failed read: how much of the answer had come (body bytes, or any)."""
        state.received = self._raw.received - state.mark
        if state.phase == "body":
            state.got = max(state.got, self._raw.received - state.body_mark)

    def _buffered(self) -> int:
        """Bytes received but not consumed yet (never waits)."""
        self._raw.probe = True
        try:
            return len(self._reader.peek(1))
        finally:
            self._raw.probe = False

    # ------------------------------------------------------------------ reading

    def _line(self, state: _State, what: str) -> bytes | None:
        """One line of the head (CRLF or LF kept); ``None`` at the end of the stream."""
        left = MAX_HEAD - state.head
        line = self._reader.readline(left + 1)
        if not line:
            return None
        state.head += len(line)
        if state.head > MAX_HEAD or not line.endswith(b"\n") and len(line) > left:
            raise HTTPFault(f"sent more than {format_size(MAX_HEAD)} of {what}")
        if not line.endswith(b"\n"):  # the stream ended inside the line
            if state.phase == "body":
                raise HTTPFault(
                    f"closed the connection after {state.got} bytes of a chunked body",
                    dropped=True,
                )
            where = "the status line" if state.phase == "status" else "the headers"
            raise HTTPFault(f"closed the connection in the middle of {where}", dropped=True)
        return line

    def _read(self, max_body: int, body: Body, state: _State) -> Response:
        for _ in range(MAX_INFORMATIONAL + 1):
            response = self._head(state)
            if response.status >= 200:
                break
            state.informational = printable(
                f"{response.status} {response.reason}".strip(), 60, False
            )
        else:
            raise HTTPFault(
                f"sent {MAX_INFORMATIONAL} informational (1xx) answers and no final one"
            )
        headers = response.headers
        encoding = headers.get("transfer-encoding", "").strip().lower()
        length = headers.get("content-length")
        state.phase = "body"
        state.body_mark = self._raw.received - self._buffered()
        if response.status in (204, 304):
            return response
        coding = headers.get("content-encoding", "").strip().lower()
        if coding not in ("", "identity") and 200 <= response.status < 300:
            # Never asked for (no Accept-Encoding): a proxy in between compressed it. (An
            # error answer is still said by its status; its body is only quoted.)
            raise HTTPFault(
                f"sent a compressed body (Content-Encoding: {printable(coding, quote=False)}) "
                "that pdebug did not ask for"
            )
        if encoding:
            if encoding != "chunked":
                raise HTTPFault(f"sent an unsupported Transfer-Encoding ({printable(encoding)})")
            self._chunked(max_body, body, state)
        elif length is not None:
            total = _content_length(length)
            if total > max_body:
                raise HTTPFault(
                    f"answer exceeds the {format_size(max_body)} limit (--max-body): it "
                    f"announced {total} bytes",
                    too_large=True,
                )
            state.total = total
            self._exactly(total, body, state)
            if self._buffered():
                self._raw.probe = True
                try:
                    extra = self._reader.peek(20)[:20]
                finally:
                    self._raw.probe = False
                raise HTTPFault(
                    f"sent more bytes than its Content-Length ({total}) announced "
                    f"(then {printable(extra, 20)})"
                )
        else:
            self._until_close(max_body, body, state)
            response.keep_alive = False
        if body.start == b"\x1f\x8b" and 200 <= response.status < 300:
            # gzip's magic: no admin answer starts so; a proxy in between compressed it
            # without saying so (with Content-Encoding it is refused above)
            raise HTTPFault(
                "sent gzip-compressed bytes without a Content-Encoding header "
                "(pdebug did not ask for compression)"
            )
        response.size = body.size
        return response

    def _head(self, state: _State) -> Response:
        """The status line and headers of one answer."""
        state.phase = "status"
        start = self._reader.peek(5)[:5]  # waits for a first byte only
        if start and not (start.startswith(b"HTTP/") or b"HTTP/".startswith(start)):
            said = self._reader.peek(40)
            raise HTTPFault(f"sent no valid HTTP status line (it began {printable(said)})")
        first = self._line(state, "status line and headers")
        if first is None:
            raise HTTPFault(_where(state, "closed the connection"), dropped=True)
        match = _STATUS.fullmatch(first)
        if match is None or match[1] != b"1":
            said = first
            if not said.strip():
                raise HTTPFault("sent an empty line instead of an HTTP status line")
            raise HTTPFault(f"sent no valid HTTP status line (it began {printable(said)})")
        minor, status = int(match[2]), int(match[3])
        reason = first[len(b"HTTP/1.1 000") :].strip().decode("latin-1")
        state.phase = "headers"
        headers: dict[str, str] = {}
        count = 0
        while True:
            line = self._line(state, "status line and headers")
            if line is None:
                raise HTTPFault(_where(state, "closed the connection"), dropped=True)
            if line in (b"\r\n", b"\n"):
                break
            count += 1
            if count > MAX_HEADERS:
                raise HTTPFault(f"sent more than {MAX_HEADERS} header fields")
            name, colon, value = line.partition(b":")
            if not colon or not name or name != name.strip() or b" " in name:
                raise HTTPFault(f"sent a malformed header line ({printable(line)})")
            key = name.decode("latin-1").lower()
            text = value.strip().decode("latin-1")
            if key in headers:
                if key == "content-length" and headers[key] != text:
                    raise HTTPFault("sent two different Content-Length headers")
                if key != "content-length":
                    text = f"{headers[key]}, {text}"
            headers[key] = text
        connection = headers.get("connection", "").lower()
        keep = "close" not in connection and (minor >= 1 or "keep-alive" in connection)
        return Response(status, reason, headers, keep_alive=keep)

    def _exactly(self, total: int, body: Body, state: _State) -> None:
        """Read a body of ``total`` bytes."""
        self._read_to(total, body, state, "closed the connection after {} of " + f"{total} bytes")

    def _read_to(self, end: int, body: Body, state: _State, cut: str) -> None:
        """Read body bytes until ``state.got`` is ``end`` (a Content-Length, a chunk's end).

        In one piece into memory, in 1 MiB pieces to a file. An answer that ends before is
        dropped: ``cut`` says so, its ``{}`` filled with the bytes read.
        """
        while state.got < end:
            want = end - state.got if body.file is None else min(_CHUNK, end - state.got)
            data = self._reader.read(want)
            body.write(data)
            state.got += len(data)
            if len(data) < want:
                raise HTTPFault(cut.format(state.got), dropped=True)

    def _until_close(self, max_body: int, body: Body, state: _State) -> None:
        """Read a body delimited by the end of the connection."""
        while True:
            data = self._reader.read1(_CHUNK)
            if not data:
                return
            state.got += len(data)
            if state.got > max_body:
                raise HTTPFault(
                    f"answer exceeds the {format_size(max_body)} limit (--max-body)",
                    too_large=True,
                )
            body.write(data)

    def _chunked(self, max_body: int, body: Body, state: _State) -> None:
        """Read a ``Transfer-Encoding: chunked`` body (and its trailers)."""
        state.chunked = True
        cut = "closed the connection after {} bytes of a chunked body"
        while True:
            state.head = 0  # each size line is bounded on its own
            line = self._line(state, "chunk size line")
            if line is None:
                raise HTTPFault(cut.format(state.got), dropped=True)
            digits = line.split(b";", 1)[0].strip()
            if not _HEX.fullmatch(digits):
                raise HTTPFault(f"sent an invalid chunk size line ({printable(line)})")
            size = int(digits, 16)
            if size == 0:
                break
            if state.got + size > max_body:
                raise HTTPFault(
                    f"answer exceeds the {format_size(max_body)} limit (--max-body)",
                    too_large=True,
                )
            self._read_to(state.got + size, body, state, cut)
            crlf = self._line(state, "chunk size line")
            if crlf is None:
                raise HTTPFault(cut.format(state.got), dropped=True)
            if crlf not in (b"\r\n", b"\n"):
                raise HTTPFault("sent a chunk longer than its size line announced")
        state.head = 0
        while True:  # trailers, up to the empty line
            line = self._line(state, "trailers")
            if line is None or line in (b"\r\n", b"\n"):
                return


@dataclass
class _State:
    """Progress through one answer, for limits and messages."""

    mark: int = 0  # bytes received on the connection before this answer
    phase: str = "status"
    head: int = 0
    received: int = 0
    body_mark: int = 0  # bytes received on the connection before the body
    got: int = 0
    total: int | None = None
    chunked: bool = False
    informational: str = ""


_HEX = re.compile(rb"[0-9a-fA-F]{1,16}")


def _content_length(text: str) -> int:
    value = text.strip()
    if not value.isdigit() or len(value) > 19:
        raise HTTPFault(f"sent an invalid Content-Length ({printable(value)})")
    return int(value)


def _where(state: _State, what: str) -> str:
    """``what`` (``reset the connection``) with how far the answer had come."""
    if state.phase == "body":
        if state.total is not None:
            return f"{what} after {state.got} of {state.total} bytes"
        return f"{what} after {state.got} bytes" + (" of a chunked body" if state.chunked else "")
    if state.phase == "headers":
        return f"{what} in the middle of the headers"
    if state.informational:
        return f"answered {state.informational}, then {what.replace('the ', 'its ', 1)}"
    return f"{what} without answering"


def _timeout(deadline: Deadline, state: _State) -> str:
    """Why the deadline passed, in words."""
    within = f"within {deadline.seconds:g}s"
    if state.phase == "body":
        total = f" of {state.total}" if state.total is not None else ""
        return f"no complete answer {within} (got {state.got}{total} bytes of the body)"
    if state.informational:
        return f"answered {state.informational}, then no final answer {within}"
    if state.phase == "headers" or state.received:
        return f"no complete answer {within} (the status line and headers were not finished)"
    return f"no answer {within}"
