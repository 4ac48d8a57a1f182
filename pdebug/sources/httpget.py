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
"""

from __future__ import annotations

import os
import re
import select
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
        self._buf = bytearray()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Append ``data``."""
        if self.file is not None:
            self.file.write(data)
        else:
            self._buf += data
        self.size += len(data)

    def reset(self) -> None:
        """Forget what was written (before a retry)."""
        self.size = 0
        if self.file is not None:
            self.file.seek(0)
            self.file.truncate()
        else:
            self._buf = bytearray()

    def head(self, size: int = 120) -> bytes:
        """The first ``size`` bytes written (for an error message)."""
        if self.file is None:
            return bytes(self._buf[:size])
        self.file.seek(0)
        return self.file.read(size)

    def value(self) -> bytes:
        """The bytes kept in memory (empty for a file body)."""
        data, self._buf = bytes(self._buf), bytearray()
        return data


@dataclass
class Response:
    """A complete answer: status, headers (lower-case names), body size, reusability."""

    status: int
    reason: str
    headers: dict[str, str] = field(default_factory=dict)
    size: int = 0
    keep_alive: bool = False


def _printable(data: bytes, limit: int = 40) -> str:
    """A short, quoted, escaped rendering of raw bytes (never a control character)."""
    text = data[:limit].decode("latin-1")
    out = "".join(
        c if " " <= c <= "~" else {"\r": "\\r", "\n": "\\n", "\t": "\\t"}.get(c, f"\\x{ord(c):02x}")
        for c in text
    )
    return f"'{out}'" + ("..." if len(data) > limit else "")


class Wire:
    """One HTTP/1.1 connection on ``sock`` (anything with ``recv``/``sendall``/``settimeout``).

    Bytes read past one answer stay buffered for the next (keep-alive).
    """

    def __init__(self, sock: Any) -> None:
        self.sock = sock
        self._buf = bytearray()
        self._received = 0  # bytes of the current answer received, for messages

    # ------------------------------------------------------------------ requests

    def get(self, host: str, path: str, deadline: Deadline, max_body: int, body: Body) -> Response:
        """Send ``GET path`` and read the whole answer into ``body``.

        Raises:
            HTTPFault: the server did not answer a well-formed HTTP response in time, or
                the body exceeds ``max_body``.
        """
        request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: application/json\r\n"
            "User-Agent: pdebug\r\n\r\n"
        ).encode("latin-1", "replace")
        self._received = 0
        state = _State()
        try:
            self.sock.settimeout(deadline.remaining())
            self.sock.sendall(request)
            return self._read(deadline, max_body, body, state)
        except TimeoutError:
            raise HTTPFault(_timeout(deadline, state, self._received), timed_out=True) from None
        except ConnectionResetError:
            raise HTTPFault(_where(state, "reset the connection"), dropped=True) from None
        except BrokenPipeError:
            raise HTTPFault(
                "closed the connection before the request was sent", dropped=True
            ) from None
        except OSError as exc:
            raise HTTPFault(f"the connection failed ({exc.strerror or exc})") from None

    # ------------------------------------------------------------------ reading

    def _fill(self, deadline: Deadline, want: int = _CHUNK) -> bool:
        """Receive more bytes; ``False`` at the end of the stream."""
        self.sock.settimeout(deadline.remaining())
        data = self.sock.recv(want)
        if not data:
            return False
        self._received += len(data)
        self._buf += data
        return True

    def _line(self, deadline: Deadline, state: _State) -> bytes | None:
        """One header-block line (CRLF or LF kept), ``None`` at the end of the stream."""
        while True:
            end = self._buf.find(b"\n")
            if end >= 0:
                line = bytes(self._buf[: end + 1])
                del self._buf[: end + 1]
                state.head += len(line)
                if state.head > MAX_HEAD:
                    raise HTTPFault(f"sent more than {format_size(MAX_HEAD)} of status and headers")
                return line
            if state.head + len(self._buf) > MAX_HEAD:
                raise HTTPFault(f"sent more than {format_size(MAX_HEAD)} of status and headers")
            if not self._fill(deadline, 65536):
                if self._buf:
                    line = bytes(self._buf)
                    self._buf.clear()
                    return line
                return None

    def _read(self, deadline: Deadline, max_body: int, body: Body, state: _State) -> Response:
        for _ in range(MAX_INFORMATIONAL + 1):
            response = self._head(deadline, state)
            if response.status >= 200:
                break
            state.informational = f"{response.status} {response.reason}".strip()
        else:
            raise HTTPFault(
                f"sent {MAX_INFORMATIONAL} informational (1xx) answers and no final one"
            )
        state.phase = "body"
        headers = response.headers
        encoding = headers.get("transfer-encoding", "").strip().lower()
        length = headers.get("content-length")
        if response.status in (204, 304):
            return response
        if encoding:
            if encoding.replace(" ", "").split(",")[-1] != "chunked" or "," in encoding:
                raise HTTPFault(f"sent an unsupported Transfer-Encoding ({encoding[:40]})")
            self._chunked(deadline, max_body, body, state)
        elif length is not None:
            total = _content_length(length)
            if total > max_body:
                raise HTTPFault(
                    f"answer exceeds the {format_size(max_body)} limit (--max-body): it "
                    f"announced {total} bytes",
                    too_large=True,
                )
            state.total = total
            self._exactly(total, deadline, body, state)
            extra = bytes(self._buf[:20])
            if not extra and self._readable_now():
                try:
                    self.sock.settimeout(0.001)
                    extra = self.sock.recv(20)
                except OSError:  # a timeout or a reset: nothing more was sent
                    extra = b""
            if extra:
                raise HTTPFault(
                    f"sent more bytes than its Content-Length ({total}) announced "
                    f"(then {_printable(extra, 20)})"
                )
        else:
            self._until_close(deadline, max_body, body, state)
            response.keep_alive = False
        response.size = body.size
        return response

    def _readable_now(self) -> bool:
        fileno = getattr(self.sock, "fileno", None)
        if fileno is None:
            return False
        try:
            ready, _, _ = select.select([self.sock], [], [], 0)
        except (OSError, ValueError):
            return False
        return bool(ready)

    def _head(self, deadline: Deadline, state: _State) -> Response:
        """The status line and headers of one answer."""
        state.phase = "status"
        first = self._line(deadline, state)
        if first is None:
            if state.informational:
                raise HTTPFault(
                    f"answered {state.informational}, then closed the connection", dropped=True
                )
            raise HTTPFault("closed the connection without answering", dropped=True)
        match = _STATUS.fullmatch(first)
        if match is None or match[1] != b"1":
            said = first + bytes(self._buf[:40])
            if not said.strip():
                raise HTTPFault("sent an empty line instead of an HTTP status line")
            raise HTTPFault(f"sent no valid HTTP status line (it began {_printable(said)})")
        minor, status = int(match[2]), int(match[3])
        reason = first[len(b"HTTP/1.1 000") :].strip().decode("latin-1")
        state.phase = "headers"
        headers: dict[str, str] = {}
        count = 0
        while True:
            line = self._line(deadline, state)
            if line is None:
                raise HTTPFault("closed the connection in the middle of the headers", dropped=True)
            if line in (b"\r\n", b"\n"):
                break
            count += 1
            if count > MAX_HEADERS:
                raise HTTPFault(f"sent more than {MAX_HEADERS} header fields")
            name, colon, value = line.partition(b":")
            if not colon or not name or name != name.strip() or b" " in name:
                raise HTTPFault(f"sent a malformed header line ({_printable(line)})")
            key = name.decode("latin-1").lower()
            text = value.strip().decode("latin-1")
            if key == "content-length" and key in headers and headers[key] != text:
                raise HTTPFault("sent two different Content-Length headers")
            headers[key] = (
                f"{headers[key]}, {text}" if key in headers and key != "content-length" else text
            )
        connection = headers.get("connection", "").lower()
        keep = "close" not in connection and (minor >= 1 or "keep-alive" in connection)
        return Response(status, reason, headers, keep_alive=keep)

    def _exactly(self, total: int, deadline: Deadline, body: Body, state: _State) -> None:
        """Read a body of ``total`` bytes."""
        while state.got < total:
            if not self._buf and not self._fill(deadline, min(_CHUNK, total - state.got)):
                raise HTTPFault(
                    f"closed the connection after {state.got} of {total} bytes", dropped=True
                )
            take = min(len(self._buf), total - state.got)
            body.write(memoryview(self._buf)[:take])
            del self._buf[:take]
            state.got += take

    def _until_close(self, deadline: Deadline, max_body: int, body: Body, state: _State) -> None:
        """Read a body delimited by the end of the connection."""
        while True:
            if self._buf:
                if state.got + len(self._buf) > max_body:
                    raise HTTPFault(
                        f"answer exceeds the {format_size(max_body)} limit (--max-body)",
                        too_large=True,
                    )
                body.write(self._buf)
                state.got += len(self._buf)
                self._buf.clear()
            if not self._fill(deadline):
                return

    def _chunked(self, deadline: Deadline, max_body: int, body: Body, state: _State) -> None:
        """Read a ``Transfer-Encoding: chunked`` body (and its trailers)."""
        state.chunked = True
        while True:
            state.head = 0  # each chunk-size line is bounded on its own
            line = self._line(deadline, state)
            if line is None:
                raise HTTPFault(
                    f"closed the connection after {state.got} bytes of a chunked body",
                    dropped=True,
                )
            digits = line.split(b";", 1)[0].strip()
            if (
                not digits
                or len(digits) > 16
                or not all(c in b"0123456789abcdefABCDEF" for c in digits)
            ):
                raise HTTPFault(f"sent an invalid chunk size line ({_printable(line)})")
            size = int(digits, 16)
            if size == 0:
                break
            if state.got + size > max_body:
                raise HTTPFault(
                    f"answer exceeds the {format_size(max_body)} limit (--max-body)",
                    too_large=True,
                )
            end = state.got + size
            while state.got < end:
                if not self._buf and not self._fill(deadline, min(_CHUNK, end - state.got)):
                    raise HTTPFault(
                        f"closed the connection after {state.got} bytes of a chunked body",
                        dropped=True,
                    )
                take = min(len(self._buf), end - state.got)
                body.write(memoryview(self._buf)[:take])
                del self._buf[:take]
                state.got += take
            crlf = self._line(deadline, state)
            if crlf not in (b"\r\n", b"\n"):
                if crlf is None:
                    raise HTTPFault(
                        f"closed the connection after {state.got} bytes of a chunked body",
                        dropped=True,
                    )
                raise HTTPFault("sent a chunk longer than its size line announced")
        state.head = 0
        while True:  # trailers, up to the empty line
            line = self._line(deadline, state)
            if line is None or line in (b"\r\n", b"\n"):
                return


@dataclass
class _State:
    """Progress through one answer, for limits and messages."""

    phase: str = "status"
    head: int = 0
    got: int = 0
    total: int | None = None
    chunked: bool = False
    informational: str = ""


def _content_length(text: str) -> int:
    value = text.strip()
    if not value.isdigit() or len(value) > 19:
        raise HTTPFault(
            f"sent an invalid Content-Length ({_printable(value.encode('latin-1', 'replace'))})"
        )
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


def _timeout(deadline: Deadline, state: _State, received: int) -> str:
    """Why the deadline passed, in words."""
    within = f"within {deadline.seconds:g}s"
    if state.phase == "body":
        total = f" of {state.total}" if state.total is not None else ""
        return f"no complete answer {within} (got {state.got}{total} bytes of the body)"
    if state.informational:
        return f"answered {state.informational}, then no final answer {within}"
    if state.phase == "headers" or received:
        return f"no complete answer {within} (the status line and headers were not finished)"
    return f"no answer {within}"
