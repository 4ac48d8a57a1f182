"""A loopback TCP server that misbehaves on a script: the faults a live admin port can have.

:class:`HostileServer` speaks raw bytes (no HTTP library), so it can send what no real
server would: a half status line, a dripped body, a reset. :func:`http_answer` builds a
plain answer for a ``("send", ...)`` step; :func:`chunked` a chunked body.
"""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Sequence
from typing import Any

__all__ = ["HostileServer", "Step", "chunked", "http_answer"]

#: One step of a script (see :class:`HostileServer`).
Step = tuple[Any, ...]


def http_answer(status: str, body: bytes) -> bytes:
    """A whole HTTP/1.1 answer: ``status`` (``"200 OK"``), ``Content-Length``, close."""
    head = f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    return head.encode() + body


def chunked(body: bytes, size: int = 4096) -> bytes:
    out = b"".join(
        f"{len(body[i : i + size]):x}\r\n".encode() + body[i : i + size] + b"\r\n"
        for i in range(0, len(body), size)
    )
    return out + b"0\r\n\r\n"


class HostileServer:
    """Serves the same script to every connection: a list of steps.

    ``first``, when given, is the script of the first connection only (a transient fault).

    Steps: ``("send", bytes)``, ``("drip", bytes, seconds_per_byte)``, ``("sleep", s)``,
    ``("stall",)`` (until the server stops), ``("close",)``, ``("reset",)`` (an RST),
    ``("stream", total, byte)`` (``total`` bytes of ``byte``, in 64 KiB writes, until the
    client goes away).
    """

    def __init__(
        self, script: Sequence[Step], wait_request: bool = True, first: Sequence[Step] | None = None
    ) -> None:
        self.script = list(script)
        self.first = None if first is None else list(first)
        self.wait_request = wait_request
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.address = ("127.0.0.1", self.port)
        self.url = f"http://127.0.0.1:{self.port}"
        self.accepted = 0
        self.sent = 0
        self.stop_event = threading.Event()
        self.conns: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while not self.stop_event.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            self.conns.append(conn)
            script = self.first if self.first is not None and self.accepted == 1 else self.script
            threading.Thread(target=self._serve, args=(conn, script), daemon=True).start()

    def _serve(self, conn: socket.socket, script: Sequence[Step]) -> None:
        try:
            conn.settimeout(5)
            request = b""
            while self.wait_request and b"\r\n\r\n" not in request:
                data = conn.recv(4096)
                if not data:
                    return
                request += data
            conn.settimeout(None)
            for step in script:
                if self._step(conn, step):
                    return
        except OSError:
            return
        finally:
            if not self.stop_event.is_set():
                try:
                    conn.close()
                except OSError:
                    pass

    def _step(self, conn: socket.socket, step: Step) -> bool:
        """Run one step; True when the connection is finished."""
        kind = step[0]
        if kind == "send":
            conn.sendall(step[1])
            self.sent += len(step[1])
        elif kind == "drip":
            for i in range(len(step[1])):
                if self.stop_event.wait(step[2]):
                    return True
                conn.sendall(step[1][i : i + 1])
        elif kind == "sleep":
            self.stop_event.wait(step[1])
        elif kind == "stall":
            self.stop_event.wait(30)
            return True
        elif kind == "close":
            conn.close()
            return True
        elif kind == "reset":
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()
            return True
        elif kind == "stream":
            block = step[2] * 65536
            left = step[1]
            while left > 0 and not self.stop_event.is_set():
                n = min(left, len(block))
                conn.sendall(block[:n])
                self.sent += n
                left -= n
        return False

    def stop(self) -> None:
        self.stop_event.set()
        self.sock.close()
        for conn in self.conns:
            try:
                conn.close()
            except OSError:
                pass
