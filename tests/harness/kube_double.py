"""An in-process Kubernetes API server double, for testing pdebug's kube source for real.

There is no cluster in the test environment, so this module serves, on ``127.0.0.1``, the
part of the Kubernetes API that ``kubectl port-forward``-like clients use, in the shapes a
real API server sends (``kind``/``apiVersion``/``metadata``/``spec``/``status`` objects,
``*List`` collections whose items carry no ``kind``, and ``Status`` objects for errors). The
real ``kubernetes`` Python client talks to it over real HTTP and real WebSockets; nothing is
patched in the client.

Served (everything else: a ``404`` ``Status``; any method but GET: ``405``):

* ``GET /api/v1/namespaces/{ns}/pods/{name}``, ``GET /api/v1/namespaces/{ns}/pods`` and
  ``GET /api/v1/pods`` (``labelSelector`` with ``=``, ``==``, ``!=``, ``in``, ``notin``,
  ``key`` and ``!key``); the same for ``services`` (:meth:`KubeDouble.add_service`);
* ``GET /apis/apps/v1/namespaces/{ns}/{deployments,statefulsets,daemonsets,replicasets}``
  (one by name, or a list by ``labelSelector``), and the cluster-wide lists;
* ``GET /api/v1/namespaces/{ns}/pods/{name}/portforward?ports=N[,M]``: a WebSocket upgrade
  with subprotocol ``v4.channel.k8s.io``, as the API server and kubelet speak it. For the
  i-th port, channel ``2*i`` carries data and ``2*i+1`` errors; every message is one binary
  frame whose first byte is the channel; the first message on each data and error channel is
  the port as two little-endian bytes; then bytes are relayed both ways to the TCP address
  configured for that pod and port. When the target cannot be reached, the error channel
  gets the kubelet's kind of text (``... connect: connection refused``) and the WebSocket is
  closed, as a kubelet does.

Why the WebSocket server side is written here (about 150 lines of RFC 6455) instead of
using the ``websockets`` library: the same listening socket must answer plain REST calls
(with HTTP/1.1 keep-alive, as urllib3 uses them) and WebSocket upgrades, exactly like an
API server; the faults need byte-level control (drop the stream after N relayed bytes,
accept an upgrade and never answer); and the part of the protocol the kubelet uses is
small (server frames are unmasked binary frames, client frames are masked, plus close and
ping). ``websockets``' sync server owns its accept loop and HTTP parsing, and would need a
second port or a proxy in front, and it would be one more test dependency.

Configuring state (the double is a context manager; ``start()``/``stop()`` work too)::

    with KubeDouble() as kube:
        kube.write_kubeconfig(tmp_path / "config", context="test", namespace="default")
        kube.add_pod("web-1", forwards={15000: ("127.0.0.1", envoy_admin_port)})
        dep = kube.add_deployment("reviews-v1", labels={"app": "reviews", "version": "v1"})
        kube.add_pod(owner=dep, phase="Pending")           # reviews-v1-<hash>-<suffix>
        kube.add_pod("reviews-v1-x", owner=dep, ready=False)
        kube.default_forwards[15000] = ("127.0.0.1", envoy_admin_port)  # for every pod

Faults (each switchable per test; :meth:`KubeDouble.reset` clears state and faults):

=============================  ===============================================================
404 pod                        don't add it (or :meth:`KubeDouble.remove_pod`)
403 on get/list pods           ``kube.faults.forbid_get_pods = True``
403 on create pods/portforward ``kube.faults.forbid_portforward = True``
pod phase Pending              ``add_pod(..., phase="Pending")``
no ``istio-proxy`` container   ``add_pod(..., containers=("app",))``
port-forward target refused    no forward for that port, or ``forwards={15000: ("127.0.0.1",
                               free_port())}``: the kubelet's "connection refused" error text
target accepts, never answers  ``forwards={15000: kube.hanging_target()}``
stream cut mid-response        ``kube.faults.drop_after = 1000`` (bytes relayed from the target
                               before the double closes the WebSocket; ``drop_count`` limits
                               how many port-forwards are cut, ``None`` = all)
upgrade never answered         ``kube.faults.stall_portforward = True``
401                            ``kube.faults.unauthorized = True`` or a kubeconfig written with
                               ``token="wrong"``
=============================  ===============================================================

Every request is recorded in :attr:`KubeDouble.requests` as a :class:`RecordedRequest`
with the HTTP method and the RBAC verb/resource an API server would authorize, so tests can
assert that a client only read (``get``/``list``) and port-forwarded (``create
pods/portforward``).

With ``tls=True`` the double serves HTTPS/WSS with a throwaway CA (as every real API server
does), which also allows in-cluster configuration (:meth:`KubeDouble.write_service_account`).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import itertools
import json
import re
import select
import socket
import ssl
import tempfile
import threading
import time
import urllib.parse
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self

import yaml

from . import envoy as eh
from . import pki

__all__ = [
    "PORTFORWARD_PROTOCOL",
    "Faults",
    "FrameReader",
    "KubeDouble",
    "RecordedRequest",
    "Workload",
    "encode_frame",
    "selector_matches",
]

Json = dict[str, Any]
Address = tuple[str, int]

#: The WebSocket subprotocol of the kubelet's port-forward (binary channel frames).
PORTFORWARD_PROTOCOL = "v4.channel.k8s.io"
_WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA

#: resource plural -> (API group, apiVersion, kind)
_RESOURCES: dict[str, tuple[str, str, str]] = {
    "pods": ("", "v1", "Pod"),
    "services": ("", "v1", "Service"),
    "deployments": ("apps", "apps/v1", "Deployment"),
    "statefulsets": ("apps", "apps/v1", "StatefulSet"),
    "daemonsets": ("apps", "apps/v1", "DaemonSet"),
    "replicasets": ("apps", "apps/v1", "ReplicaSet"),
    "namespaces": ("", "v1", "Namespace"),
    "gateways": ("gateway.networking.k8s.io", "gateway.networking.k8s.io/v1", "Gateway"),
}
_APPS = "deployments|statefulsets|daemonsets|replicasets"
_GATEWAY_API = r"/apis/gateway\.networking\.k8s\.io/v1"


def _resource_routes(prefix: str, resources: str) -> list[tuple[re.Pattern[str], str]]:
    """Routes for ``resources`` under the API ``prefix``: get one in a namespace, list in a
    namespace, list across namespaces."""
    namespaced = rf"^{prefix}/namespaces/(?P<ns>[^/]+)/(?P<res>{resources})"
    return [
        (re.compile(namespaced + r"/(?P<name>[^/]+)$"), "get"),
        (re.compile(namespaced + "$"), "list"),
        (re.compile(rf"^{prefix}/(?P<res>{resources})$"), "list"),
    ]


_ROUTES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^/api/v1/namespaces/(?P<ns>[^/]+)/pods/(?P<name>[^/]+)/portforward$"), "pf"),
    *_resource_routes("/api/v1", "pods|services"),
    *_resource_routes("/apis/apps/v1", _APPS),
    (re.compile(r"^/api/v1/(?P<res>namespaces)/(?P<name>[^/]+)$"), "get"),
    (re.compile(r"^/api/v1/(?P<res>namespaces)$"), "list"),
    *_resource_routes(_GATEWAY_API, "gateways"),
]

#: A healthy one-replica status per workload resource (the required fields included).
_WORKLOAD_STATUS: dict[str, Json] = {
    "deployments": {
        "observedGeneration": 1,
        "replicas": 1,
        "updatedReplicas": 1,
        "readyReplicas": 1,
        "availableReplicas": 1,
    },
    "replicasets": {
        "observedGeneration": 1,
        "replicas": 1,
        "fullyLabeledReplicas": 1,
        "readyReplicas": 1,
        "availableReplicas": 1,
    },
    "statefulsets": {
        "observedGeneration": 1,
        "replicas": 1,
        "readyReplicas": 1,
        "currentReplicas": 1,
        "updatedReplicas": 1,
        "availableReplicas": 1,
        "collisionCount": 0,
    },
    "daemonsets": {
        "observedGeneration": 1,
        "currentNumberScheduled": 1,
        "desiredNumberScheduled": 1,
        "numberMisscheduled": 0,
        "numberReady": 1,
        "numberAvailable": 1,
        "updatedNumberScheduled": 1,
    },
}
_METHOD_VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}
_CREATED = "2025-01-06T09:00:00Z"


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class RecordedRequest:
    """One request the double answered.

    Attributes:
        method: The HTTP method.
        path: The URL path, without the query.
        query: The parsed query string.
        verb: The RBAC verb an API server would authorize (``get``, ``list``, ``create``
            for a port-forward upgrade, ``update``...).
        resource: ``pods``, ``pods/portforward``, ``deployments``... (``""`` if unknown).
        namespace: The namespace in the path, if any.
        name: The object name in the path, if any.
        status: The HTTP status answered (101 for an accepted upgrade).
    """

    method: str
    path: str
    query: dict[str, list[str]]
    verb: str
    resource: str
    namespace: str | None
    name: str | None
    status: int


@dataclass
class Faults:
    """Switchable failures (see the module docstring for the ones set through state)."""

    unauthorized: bool = False
    forbid_get_pods: bool = False
    forbid_portforward: bool = False
    stall_portforward: bool = False
    drop_after: int | None = None
    drop_count: int | None = None


@dataclass(frozen=True)
class Workload:
    """A workload added to the double, and what its pods look like.

    Attributes:
        kind: ``Deployment``, ``StatefulSet``, ``DaemonSet`` or ``ReplicaSet``.
        name: Its name.
        namespace: Its namespace.
        uid: Its ``metadata.uid``.
        selector: Its ``spec.selector.matchLabels``.
        pod_labels: The labels its pods carry.
        pod_owner: The ``ownerReference`` its pods carry (a Deployment's pods are owned by
            its ReplicaSet).
        pod_prefix: Generated pod names start with this.
    """

    kind: str
    name: str
    namespace: str
    uid: str
    selector: dict[str, str]
    pod_labels: dict[str, str]
    pod_owner: Json
    pod_prefix: str


# --------------------------------------------------------------------------- RFC 6455


def _mask(data: bytes, key: bytes) -> bytes:
    """XOR ``data`` with the 4-byte masking ``key`` (RFC 6455 section 5.3)."""
    n = len(data)
    if not n:
        return b""
    stream = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(stream, "big")).to_bytes(n, "big")


def encode_frame(opcode: int, payload: bytes, *, mask_key: bytes | None = None) -> bytes:
    """One final WebSocket frame; servers send unmasked frames, clients masked ones."""
    head = bytearray([0x80 | opcode])
    bit = 0x80 if mask_key else 0
    n = len(payload)
    if n < 126:
        head.append(bit | n)
    elif n < 1 << 16:
        head.append(bit | 126)
        head += n.to_bytes(2, "big")
    else:
        head.append(bit | 127)
        head += n.to_bytes(8, "big")
    if mask_key:
        return bytes(head) + mask_key + _mask(payload, mask_key)
    return bytes(head) + payload


class ProtocolError(Exception):
    """The peer broke RFC 6455."""


class FrameReader:
    """Incremental WebSocket frame parser: feed bytes, get whole messages back.

    Args:
        expect_masked: True on the server side (client frames must be masked), False on
            the client side (server frames must not be).
    """

    def __init__(self, *, expect_masked: bool = True) -> None:
        self.expect_masked = expect_masked
        self._buf = bytearray()
        self._parts: list[bytes] = []
        self._part_op = 0

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        """Add received bytes; return the complete ``(opcode, payload)`` messages."""
        self._buf += data
        out: list[tuple[int, bytes]] = []
        while True:
            frame = self._next_frame()
            if frame is None:
                return out
            fin, opcode, payload = frame
            if opcode >= 0x8:  # control frames are never fragmented
                out.append((opcode, payload))
            elif opcode == OP_CONT:
                if not self._parts:
                    raise ProtocolError("continuation frame without a first fragment")
                self._parts.append(payload)
                if fin:
                    out.append((self._part_op, b"".join(self._parts)))
                    self._parts = []
            elif fin:
                out.append((opcode, payload))
            else:
                self._part_op, self._parts = opcode, [payload]

    def _next_frame(self) -> tuple[bool, int, bytes] | None:
        buf = self._buf
        if len(buf) < 2:
            return None
        fin, rsv, opcode = bool(buf[0] & 0x80), buf[0] & 0x70, buf[0] & 0x0F
        masked, n, pos = bool(buf[1] & 0x80), buf[1] & 0x7F, 2
        if n == 126:
            if len(buf) < 4:
                return None
            n, pos = int.from_bytes(buf[2:4], "big"), 4
        elif n == 127:
            if len(buf) < 10:
                return None
            n, pos = int.from_bytes(buf[2:10], "big"), 10
        key = b""
        if masked:
            if len(buf) < pos + 4:
                return None
            key, pos = bytes(buf[pos : pos + 4]), pos + 4
        if len(buf) < pos + n:
            return None
        payload = bytes(buf[pos : pos + n])
        del buf[: pos + n]
        if rsv:
            raise ProtocolError("reserved bits set (no extension was negotiated)")
        if masked != self.expect_masked:
            raise ProtocolError("client frames must be masked, server frames must not")
        return fin, opcode, _mask(payload, key) if masked else payload


def _accept_key(key: str) -> str:
    return base64.b64encode(hashlib.sha1((key + _WS_GUID).encode()).digest()).decode()


class _WebSocket:
    """The server end of one upgraded connection (plain or TLS socket)."""

    def __init__(self, sock: socket.socket, stop: threading.Event) -> None:
        self.sock = sock
        self.stop = stop
        self.reader = FrameReader(expect_masked=True)
        self.closed = False

    def send(self, opcode: int, payload: bytes) -> None:
        self.sock.sendall(encode_frame(opcode, payload))

    def send_channel(self, channel: int, payload: bytes) -> None:
        # One binary frame, header and channel byte joined to the payload in a single copy.
        n = len(payload) + 1
        if n < 126:
            head = bytes((0x80 | OP_BINARY, n, channel))
        elif n < 1 << 16:
            head = bytes((0x80 | OP_BINARY, 126)) + n.to_bytes(2, "big") + bytes((channel,))
        else:
            head = bytes((0x80 | OP_BINARY, 127)) + n.to_bytes(8, "big") + bytes((channel,))
        self.sock.sendall(head + payload)

    def buffered(self) -> bool:
        """Whether decrypted bytes wait in the TLS layer (``select`` cannot see those)."""
        return isinstance(self.sock, ssl.SSLSocket) and self.sock.pending() > 0

    def readable(self, timeout: float) -> bool:
        if self.buffered():
            return True
        ready, _, _ = select.select([self.sock], [], [], timeout)
        return bool(ready)

    def receive(self) -> list[tuple[int, bytes]] | None:
        """Read what is there; ``None`` when the peer went away. Answers pings itself."""
        try:
            data = self.sock.recv(1 << 16)
        except (OSError, ssl.SSLError):
            return None
        if not data:
            return None
        messages = []
        for opcode, payload in self.reader.feed(data):
            if opcode == OP_PING:
                self.send(OP_PONG, payload)
            elif opcode != OP_PONG:
                messages.append((opcode, payload))
        return messages

    def close(self, code: int = 1000, wait: float = 1.0) -> None:
        """Send a close frame and wait (a little) for the client's, as RFC 6455 asks."""
        if self.closed:
            return
        self.closed = True
        with contextlib.suppress(OSError):
            self.send(OP_CLOSE, code.to_bytes(2, "big"))
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline and not self.stop.is_set():
                if not self.readable(0.05):
                    continue
                messages = self.receive()
                if messages is None or any(op == OP_CLOSE for op, _ in messages):
                    return


# --------------------------------------------------------------------------- selectors


def _split_requirements(selector: str) -> list[str]:
    parts, depth, cur = [], 0, ""
    for ch in selector:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return [p.strip() for p in parts if p.strip()]


_SET_REQ = re.compile(r"^([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)$")
_EQ_REQ = re.compile(r"^([\w./-]+)\s*(==|=|!=)\s*([\w.-]*)$")
_EXISTS_REQ = re.compile(r"^(!?)([\w./-]+)$")


def selector_matches(selector: str, labels: Mapping[str, str]) -> bool:
    """Whether ``labels`` satisfy a Kubernetes label selector string.

    The whole selector is parsed before any label is matched, as the API server does: a
    malformed requirement is an error even after one that does not match.

    Raises:
        ValueError: The selector cannot be parsed (the double answers 400 then).
    """
    checks: list[bool] = []
    for req in _split_requirements(selector):
        if m := _SET_REQ.match(req):
            key, op, values = m[1], m[2], {v.strip() for v in m[3].split(",") if v.strip()}
            ok = labels.get(key) in values if op == "in" else labels.get(key) not in values
        elif m := _EQ_REQ.match(req):
            key, op, value = m[1], m[2], m[3]
            ok = labels.get(key) == value if op in ("=", "==") else labels.get(key) != value
        elif m := _EXISTS_REQ.match(req):
            ok = (m[2] in labels) != (m[1] == "!")
        else:
            raise ValueError(f"unable to parse requirement: {req!r}")
        checks.append(ok)
    return all(checks)


# --------------------------------------------------------------------------- TLS


# --------------------------------------------------------------------------- the server


class _Server(ThreadingHTTPServer):
    """Threaded HTTP server that knows its double, its open connections and TLS."""

    daemon_threads = False  # server_close() joins handler threads: clean shutdown
    block_on_close = True

    def __init__(self, double: KubeDouble, ssl_context: ssl.SSLContext | None) -> None:
        self.double = double
        self.ssl_context = ssl_context
        self.conns: set[socket.socket] = set()
        self.conns_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, addr = self.socket.accept()
        if self.ssl_context is not None:
            # The TLS handshake runs in the handler thread, not in the accept loop.
            sock = self.ssl_context.wrap_socket(
                sock, server_side=True, do_handshake_on_connect=False
            )
        return sock, addr


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as urllib3 uses it
    server: _Server
    server_version = "kube-double"

    # -- plumbing

    def setup(self) -> None:
        with self.server.conns_lock:
            self.server.conns.add(self.request)
        if isinstance(self.request, ssl.SSLSocket):
            self.request.settimeout(5)
            try:
                self.request.do_handshake()
            except (OSError, ssl.SSLError):
                self.close_connection = True
            self.request.settimeout(None)
        super().setup()

    def finish(self) -> None:
        with contextlib.suppress(OSError):
            super().finish()
        with self.server.conns_lock:
            self.server.conns.discard(self.request)

    def handle(self) -> None:
        with contextlib.suppress(OSError, ssl.SSLError):
            super().handle()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
        return

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        self._dispatch()

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch()

    def do_PUT(self) -> None:  # noqa: N802
        self._dispatch()

    def do_PATCH(self) -> None:  # noqa: N802
        self._dispatch()

    def do_DELETE(self) -> None:  # noqa: N802
        self._dispatch()

    def _send_json(self, status: int, obj: Json) -> None:
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Cache-Control", "no-cache, private")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    # -- routing

    def _dispatch(self) -> None:
        double = self.server.double
        split = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(split.query, keep_blank_values=True)
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        kind, match = "", None
        for pattern, route in _ROUTES:
            if m := pattern.match(split.path):
                kind, match = route, m
                break
        groups = match.groupdict() if match else {}
        ns, name = groups.get("ns"), groups.get("name")
        resource = "pods/portforward" if kind == "pf" else groups.get("res", "")
        verb = _METHOD_VERBS.get(self.command, "get")
        if self.command == "GET":
            verb = {"pf": "create", "list": "list"}.get(kind, "get")
        elif self.command == "DELETE" and kind == "list":
            verb = "deletecollection"

        def record(status: int) -> None:
            double._record(
                RecordedRequest(self.command, split.path, query, verb, resource, ns, name, status)
            )

        status, obj = double._authorize(self.headers.get("Authorization"), verb, resource, ns, name)
        if status == 200 and (match is None or (self.command != "GET" and kind != "pf")):
            status, obj = (
                (404, _status(404, "NotFound", "the server could not find the requested resource"))
                if match is None
                else (405, _status(405, "MethodNotAllowed", "the double only serves reads"))
            )
        if status == 200 and kind == "pf":
            if self.command != "GET":
                # POST is the SPDY upgrade, which this double does not speak.
                status, obj = 400, _status(400, "BadRequest", "Upgrade request required")
            else:
                self._portforward(ns or "", name or "", query, record)
                return
        if status == 200:
            selector = (query.get("labelSelector") or [""])[0]
            try:
                if kind == "get":
                    status, obj = double._get(resource, ns or "", name or "")
                else:
                    status, obj = double._list(resource, ns, selector)
            except ValueError as exc:
                status, obj = 400, _status(400, "BadRequest", str(exc))
        record(status)
        self._send_json(status, obj)

    # -- port-forward

    def _portforward(
        self,
        ns: str,
        name: str,
        query: dict[str, list[str]],
        record: Any,
    ) -> None:
        double = self.server.double
        status, obj = 200, None
        ports: list[int] = []
        try:
            for value in query.get("ports", []):
                for text in value.split(","):
                    port = int(text)
                    if not 0 < port < 65536:
                        raise ValueError(text)
                    ports.append(port)
        except ValueError as exc:
            status, obj = 400, _status(400, "BadRequest", f"invalid port {exc}")
        upgrade = self.headers.get("Upgrade", "").lower() == "websocket"
        offered = [p.strip() for p in self.headers.get("Sec-WebSocket-Protocol", "").split(",")]
        pod = double._objects.get(("pods", ns, name))
        if status != 200:
            pass
        elif not ports:
            status, obj = 400, _status(400, "BadRequest", 'query parameter "ports" is required')
        elif not upgrade:
            status, obj = 400, _status(400, "BadRequest", "Upgrade request required")
        elif pod is None:
            status, obj = 404, _not_found("pods", name)
        elif double.faults.forbid_portforward:
            status, obj = 403, double._forbidden("create", "pods/portforward", ns, name)
        elif not pod["spec"].get("nodeName"):
            status, obj = (
                400,
                _status(400, "BadRequest", f"pod {name} does not have a host assigned"),
            )
        elif PORTFORWARD_PROTOCOL not in offered:
            status, obj = (
                400,
                _status(
                    400, "BadRequest", f"unable to upgrade: no supported subprotocol in {offered}"
                ),
            )
        if status != 200:
            record(status)
            self._send_json(status, obj or {})
            return
        self.close_connection = True
        if double.faults.stall_portforward:
            record(0)
            double._stop.wait()
            return
        # recorded before the answer: a client that has its 101 may read the log at once
        record(101)
        self.send_response(101, "Switching Protocols")
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", _accept_key(self.headers["Sec-WebSocket-Key"]))
        self.send_header("Sec-WebSocket-Protocol", PORTFORWARD_PROTOCOL)
        self.end_headers()
        self.wfile.flush()
        double._relay(_WebSocket(self.request, double._stop), pod, ports)


def _status(code: int, reason: str, message: str, details: Json | None = None) -> Json:
    obj: Json = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
    }
    if details is not None:
        obj["details"] = details
    obj["code"] = code
    return obj


def _qualified(resource: str) -> str:
    group = _RESOURCES.get(resource.split("/")[0], ("", "", ""))[0]
    return f"{resource}.{group}" if group else resource


def _not_found(resource: str, name: str) -> Json:
    group = _RESOURCES[resource][0]
    details: Json = {"name": name, "kind": resource}
    if group:
        details["group"] = group
    return _status(404, "NotFound", f'{_qualified(resource)} "{name}" not found', details)


class KubeDouble(eh.ServerContext):
    """A Kubernetes API server double on ``127.0.0.1`` (see the module docstring).

    Args:
        token: The bearer token every request must carry.
        tls: Serve HTTPS/WSS with a throwaway CA instead of plain HTTP.
        user: The user name Forbidden messages name.
    """

    def __init__(
        self, *, token: str = "kube-double-token", tls: bool = False, user: str = "test-user"
    ) -> None:
        self.token = token
        self.tls = tls
        self.user = user
        self.faults = Faults()
        self.default_forwards: dict[int, Address] = {}
        self._objects: dict[tuple[str, str, str], Json] = {}
        self._forwards: dict[tuple[str, str, int], Address] = {}
        self._requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._drops = 0
        self._uids = itertools.count(1)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._hangers: list[_HangingTarget] = []
        self._pki: pki.ServerPki | None = pki.make_server_pki() if tls else None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None

    # -- lifecycle

    def start(self) -> Self:
        """Bind an ephemeral port on 127.0.0.1 and serve in a thread."""
        ctx = None
        if self._pki is not None:
            self._tmp = tempfile.TemporaryDirectory(prefix="kube-double-")
            cert, key = Path(self._tmp.name) / "tls.crt", Path(self._tmp.name) / "tls.key"
            cert.write_bytes(self._pki.cert_pem)
            key.write_bytes(self._pki.key_pem)
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(cert, key)
        self._stop.clear()
        self._server = _Server(self, ctx)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="kube-double",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, cut every open connection and join the handler threads."""
        self._stop.set()
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            with server.conns_lock:
                conns = list(server.conns)
            for conn in conns:
                with contextlib.suppress(OSError):
                    socket.socket.shutdown(conn, socket.SHUT_RDWR)
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        for hanger in self._hangers:
            hanger.close()
        self._hangers.clear()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    @property
    def port(self) -> int:
        """The port the double listens on."""
        if self._server is None:
            raise RuntimeError("the double is not started")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """``http(s)://127.0.0.1:PORT``."""
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    @property
    def ca_pem(self) -> bytes:
        """The CA certificate that signed the serving certificate (``tls=True`` only)."""
        if self._pki is None:
            raise RuntimeError("the double serves plain HTTP")
        return self._pki.ca_pem

    def reset(self) -> None:
        """Forget every object, forward, fault and recorded request."""
        with self._lock:
            self._objects.clear()
            self._forwards.clear()
            self.default_forwards.clear()
            self._requests.clear()
            self.faults = Faults()
            self._drops = 0

    # -- client configuration

    def write_kubeconfig(
        self,
        path: str | Path,
        context: str = "test",
        namespace: str | None = "default",
        *,
        token: str | None = None,
        extra_contexts: Sequence[str] = (),
        current_context: str | None = None,
    ) -> Path:
        """Write a kubeconfig that points at this double.

        Args:
            path: Where to write it (parents are created).
            context: The context's name (and the current context).
            namespace: The context's namespace; ``None`` leaves it out.
            token: The bearer token to put in it (default: the right one).
            extra_contexts: More context names on the same cluster and user.
            current_context: Override ``current-context`` (``""`` leaves it out).

        Returns:
            The path.
        """
        cluster: Json = {"server": self.url}
        if self._pki is not None:
            cluster["certificate-authority-data"] = base64.b64encode(self._pki.ca_pem).decode()
        contexts = []
        for name in (context, *extra_contexts):
            ctx: Json = {"cluster": "kube-double", "user": "kube-double-user"}
            if namespace is not None:
                ctx["namespace"] = namespace
            contexts.append({"name": name, "context": ctx})
        config: Json = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "kube-double", "cluster": cluster}],
            "users": [{"name": "kube-double-user", "user": {"token": token or self.token}}],
            "contexts": contexts,
            "preferences": {},
        }
        current = context if current_context is None else current_context
        if current:
            config["current-context"] = current
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        return path

    def write_service_account(
        self, directory: str | Path, namespace: str = "default"
    ) -> dict[str, str]:
        """Write ``token``, ``ca.crt`` and ``namespace`` as a pod's service account mount.

        Returns:
            The environment variables the kubelet sets for in-cluster clients.
        """
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "token").write_text(self.token)
        (directory / "ca.crt").write_bytes(self.ca_pem)
        (directory / "namespace").write_text(namespace)
        return {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": str(self.port)}

    # -- state

    @property
    def requests(self) -> list[RecordedRequest]:
        """A copy of the requests answered so far, oldest first."""
        with self._lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        """Forget the recorded requests."""
        with self._lock:
            self._requests.clear()

    def _meta(self, name: str, namespace: str, labels: Mapping[str, str] | None) -> Json:
        return {
            "name": name,
            "namespace": namespace,
            "uid": str(uuid.UUID(int=next(self._uids))),
            "resourceVersion": str(1000 + next(self._uids)),
            "generation": 1,
            "creationTimestamp": _CREATED,
            "labels": dict(labels or {}),
        }

    def _store(
        self, resource: str, namespace: str, kind: str, api_version: str, meta: Json, **rest: Json
    ) -> Json:
        """Keep (or replace) one object: ``kind``, ``apiVersion``, ``metadata``, then ``rest``."""
        obj: Json = {"kind": kind, "apiVersion": api_version, "metadata": meta, **rest}
        with self._lock:
            self._objects[(resource, namespace, meta["name"])] = obj
        return obj

    def add_pod(
        self,
        name: str | None = None,
        namespace: str | None = None,
        *,
        owner: Workload | None = None,
        labels: Mapping[str, str] | None = None,
        phase: str = "Running",
        ready: bool = True,
        containers: Sequence[str] = ("app", "istio-proxy"),
        native_sidecar: bool = False,
        sidecar_waiting: str | None = None,
        node_name: str | None = "kind-worker",
        deleting: bool = False,
        forwards: Mapping[int, Address] | None = None,
    ) -> Json:
        """Add (or replace) a pod and return its object.

        Args:
            name: The pod name; default generated from ``owner`` (required without it).
            namespace: Default the owner's, else ``default``.
            owner: The workload the pod belongs to (labels and ownerReference follow).
            labels: More labels.
            phase: ``status.phase``: ``Running``, ``Pending``, ``Succeeded``, ``Failed``.
            ready: The ``Ready`` condition (and the containers' ``ready``).
            containers: ``spec.containers`` names.
            native_sidecar: Put ``istio-proxy`` in ``initContainers`` with
                ``restartPolicy: Always`` (Istio's native-sidecar mode) instead.
            sidecar_waiting: Make ``istio-proxy`` waiting with this reason
                (e.g. ``CrashLoopBackOff``).
            node_name: ``spec.nodeName``; ``None`` for an unscheduled pod.
            deleting: Set ``metadata.deletionTimestamp``.
            forwards: Where a port-forward to each pod port relays (``{15000: addr}``).
        """
        ns = namespace or (owner.namespace if owner else "default")
        if name is None:
            if owner is None:
                raise ValueError("a pod without an owner needs a name")
            if owner.kind == "StatefulSet":
                ordinal = sum(
                    1
                    for (r, n, pod_name) in self._objects
                    if r == "pods" and n == ns and pod_name.startswith(owner.pod_prefix)
                )
                name = f"{owner.pod_prefix}{ordinal}"
            else:
                name = f"{owner.pod_prefix}{_suffix(next(self._uids))}"
        all_labels = dict(owner.pod_labels if owner else {})
        if owner is not None and owner.kind == "StatefulSet":
            all_labels["statefulset.kubernetes.io/pod-name"] = name
        all_labels.update(labels or {})
        meta = self._meta(name, ns, all_labels)
        meta.pop("generation")
        if owner is not None:
            meta["generateName"] = owner.pod_prefix
            meta["ownerReferences"] = [dict(owner.pod_owner)]
        meta["annotations"] = {"sidecar.istio.io/status": '{"containers":["istio-proxy"]}'}
        if deleting:
            meta["deletionTimestamp"] = "2025-01-06T10:00:00Z"
            meta["deletionGracePeriodSeconds"] = 30
        spec_containers = [
            _container(c) for c in containers if not (native_sidecar and c == "istio-proxy")
        ]
        init = []
        if native_sidecar:
            init.append({**_container("istio-proxy"), "restartPolicy": "Always"})
        spec: Json = {
            "containers": spec_containers,
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 30,
            "dnsPolicy": "ClusterFirst",
            "serviceAccountName": "default",
            "schedulerName": "default-scheduler",
            "enableServiceLinks": True,
            "preemptionPolicy": "PreemptLowerPriority",
            "priority": 0,
        }
        if init:
            spec["initContainers"] = init
        if node_name:
            spec["nodeName"] = node_name
        pod: Json = {
            "kind": "Pod",
            "apiVersion": "v1",
            "metadata": meta,
            "spec": spec,
            "status": _pod_status(
                phase, ready, containers, native_sidecar, sidecar_waiting, node_name
            ),
        }
        with self._lock:
            self._objects[("pods", ns, name)] = pod
            for port, address in (forwards or {}).items():
                self._forwards[(ns, name, port)] = address
        return pod

    def remove_pod(self, name: str, namespace: str = "default") -> None:
        """Delete a pod from the double's state (the client sees 404 afterwards)."""
        with self._lock:
            self._objects.pop(("pods", namespace, name), None)

    def forward(self, name: str, namespace: str, port: int, address: Address) -> None:
        """Make port-forwards to ``port`` of pod ``namespace/name`` relay to ``address``."""
        with self._lock:
            self._forwards[(namespace, name, port)] = address

    def hanging_target(self) -> Address:
        """An address that accepts TCP connections and never answers (closed on stop)."""
        hanger = _HangingTarget()
        self._hangers.append(hanger)
        return hanger.address

    def _add_workload(self, resource: str, name: str, namespace: str, spec: Json) -> Json:
        group, api_version, kind = _RESOURCES[resource]
        selector = spec["selector"]["matchLabels"]
        meta = self._meta(name, namespace, selector)
        return self._store(
            resource,
            namespace,
            kind,
            api_version,
            meta,
            spec=spec,
            status=_WORKLOAD_STATUS[resource],
        )

    def _workload(
        self,
        resource: str,
        name: str,
        namespace: str,
        labels: Mapping[str, str] | None,
        extra_spec: Json,
        pod_label_extra: Mapping[str, str],
    ) -> tuple[Json, dict[str, str], dict[str, str]]:
        selector = dict(labels or {"app": name})
        pod_labels = {**selector, **pod_label_extra}
        spec: Json = {
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": {"labels": pod_labels},
                "spec": {"containers": [_container("app")]},
            },
            **extra_spec,
        }
        return self._add_workload(resource, name, namespace, spec), selector, pod_labels

    def add_service(
        self,
        name: str,
        namespace: str = "default",
        *,
        selector: Mapping[str, str] | None = None,
        ports: Sequence[int] = (80,),
        labels: Mapping[str, str] | None = None,
    ) -> Json:
        """Add a ClusterIP Service; ``selector={}`` gives one without a selector.

        Its labels are ``app=NAME`` plus ``labels`` (``istio.io/use-waypoint``...).
        """
        spec: Json = {
            "type": "ClusterIP",
            "clusterIP": f"10.96.0.{len(self._objects) % 250 + 2}",
            "ports": [{"port": p, "protocol": "TCP", "targetPort": p} for p in ports],
        }
        chosen = {"app": name} if selector is None else dict(selector)
        if chosen:
            spec["selector"] = chosen
        meta = self._meta(name, namespace, {"app": name, **(labels or {})})
        return self._store(
            "services", namespace, "Service", "v1", meta, spec=spec, status={"loadBalancer": {}}
        )

    def add_deployment(
        self, name: str, namespace: str = "default", *, labels: Mapping[str, str] | None = None
    ) -> Workload:
        """Add a Deployment and its current ReplicaSet (``pod-template-hash`` labelled)."""
        template_hash = hashlib.sha1(f"{namespace}/{name}".encode()).hexdigest()[:10]
        dep, selector, pod_labels = self._workload(
            "deployments",
            name,
            namespace,
            labels,
            {"replicas": 1, "strategy": {"type": "RollingUpdate"}},
            {"pod-template-hash": template_hash},
        )
        rs_name = f"{name}-{template_hash}"
        rs = self._add_workload(
            "replicasets",
            rs_name,
            namespace,
            {
                "replicas": 1,
                "selector": {"matchLabels": {**selector, "pod-template-hash": template_hash}},
                "template": dep["spec"]["template"],
            },
        )
        rs["metadata"]["labels"] = dict(pod_labels)
        rs["metadata"]["ownerReferences"] = [_owner_ref(dep)]
        return Workload(
            "Deployment",
            name,
            namespace,
            dep["metadata"]["uid"],
            selector,
            pod_labels,
            _owner_ref(rs),
            f"{rs_name}-",
        )

    def add_replicaset(
        self, name: str, namespace: str = "default", *, labels: Mapping[str, str] | None = None
    ) -> Workload:
        """Add a bare ReplicaSet."""
        return _owning_pods(
            *self._workload("replicasets", name, namespace, labels, {"replicas": 1}, {})
        )

    def add_statefulset(
        self, name: str, namespace: str = "default", *, labels: Mapping[str, str] | None = None
    ) -> Workload:
        """Add a StatefulSet (its generated pods are ``NAME-0``, ``NAME-1``...)."""
        revision = f"{name}-{hashlib.sha1(name.encode()).hexdigest()[:10]}"
        return _owning_pods(
            *self._workload(
                "statefulsets",
                name,
                namespace,
                labels,
                {"replicas": 1, "serviceName": name, "podManagementPolicy": "OrderedReady"},
                {"controller-revision-hash": revision, "apps.kubernetes.io/pod-index": "0"},
            )
        )

    def add_namespace(self, name: str, labels: Mapping[str, str] | None = None) -> Json:
        """Add (or replace) a Namespace (cluster-scoped) with ``labels``."""
        meta = self._meta(name, "", labels)
        meta.pop("namespace", None)
        spec = {"finalizers": ["kubernetes"]}
        return self._store(
            "namespaces", "", "Namespace", "v1", meta, spec=spec, status={"phase": "Active"}
        )

    def add_gateway(
        self,
        name: str,
        namespace: str = "default",
        *,
        gateway_class: str = "istio-waypoint",
        labels: Mapping[str, str] | None = None,
        programmed: bool | None = True,
        addresses: Sequence[str] | None = None,
    ) -> Json:
        """Add a Gateway API Gateway (a waypoint by default: class istio-waypoint, HBONE 15008).

        ``programmed`` sets the ``Programmed`` condition (``None``: no conditions yet).
        ``addresses``: its ``status.addresses`` (default: its Service's name when
        programmed, as istio's gateway controller reports it; none otherwise).
        """
        conditions = []
        if programmed is not None:
            conditions.append(
                {
                    "type": "Programmed",
                    "status": "True" if programmed else "False",
                    "reason": "Programmed" if programmed else "Invalid",
                    "message": "Resource programmed" if programmed else "Deployment not ready",
                    "lastTransitionTime": _CREATED,
                }
            )
        spec = {
            "gatewayClassName": gateway_class,
            "listeners": [{"name": "mesh", "port": 15008, "protocol": "HBONE"}],
        }
        return self._store(
            "gateways",
            namespace,
            "Gateway",
            "gateway.networking.k8s.io/v1",
            self._meta(name, namespace, labels),
            spec=spec,
            status={"conditions": conditions, **_addresses(name, namespace, programmed, addresses)},
        )

    def add_daemonset(
        self, name: str, namespace: str = "default", *, labels: Mapping[str, str] | None = None
    ) -> Workload:
        """Add a DaemonSet."""
        revision = hashlib.sha1(name.encode()).hexdigest()[:10]
        return _owning_pods(
            *self._workload(
                "daemonsets",
                name,
                namespace,
                labels,
                {"updateStrategy": {"type": "RollingUpdate"}},
                {"controller-revision-hash": revision, "pod-template-generation": "1"},
            )
        )

    # -- request handling (called from handler threads)

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _forbidden(self, verb: str, resource: str, ns: str | None, name: str | None) -> Json:
        base, _, sub = resource.partition("/")
        group = _RESOURCES.get(base, ("", "", ""))[0]
        what = f'{_qualified(base)} "{name}"' if name else _qualified(base)
        scope = f'in the namespace "{ns}"' if ns else "at the cluster scope"
        message = (
            f'{what} is forbidden: User "{self.user}" cannot {verb} resource "{resource}" '
            f'in API group "{group}" {scope}'
        )
        details: Json = {"kind": base}
        if name:
            details["name"] = name
        if group:
            details["group"] = group
        return _status(403, "Forbidden", message, details)

    def _authorize(
        self, header: str | None, verb: str, resource: str, ns: str | None, name: str | None
    ) -> tuple[int, Json]:
        scheme, _, token = (header or "").partition(" ")
        # The client's in-cluster loader sends "bearer TOKEN": the scheme is case-insensitive.
        if self.faults.unauthorized or scheme.lower() != "bearer" or token.strip() != self.token:
            return 401, _status(401, "Unauthorized", "Unauthorized")
        if self.faults.forbid_get_pods and resource == "pods" and verb in ("get", "list"):
            return 403, self._forbidden(verb, resource, ns, name)
        return 200, {}

    def _get(self, resource: str, ns: str, name: str) -> tuple[int, Json]:
        with self._lock:
            obj = self._objects.get((resource, ns, name))
        if obj is None:
            return 404, _not_found(resource, name)
        return 200, obj

    def _list(self, resource: str, ns: str | None, selector: str) -> tuple[int, Json]:
        _, api_version, kind = _RESOURCES[resource]
        selector_matches(selector, {})  # a malformed selector is a 400 even with no objects
        with self._lock:
            objects = sorted(
                (key, obj)
                for key, obj in self._objects.items()
                if key[0] == resource and (ns is None or key[1] == ns)
            )
        items = []
        for _, obj in objects:
            if selector_matches(selector, obj["metadata"].get("labels") or {}):
                # List items carry no kind/apiVersion on the wire.
                items.append({k: v for k, v in obj.items() if k not in ("kind", "apiVersion")})
        return 200, {
            "kind": f"{kind}List",
            "apiVersion": api_version,
            "metadata": {"resourceVersion": str(5000 + len(self._requests))},
            "items": items,
        }

    def _target(self, ns: str, name: str, port: int) -> Address | None:
        with self._lock:
            return self._forwards.get((ns, name, port)) or self.default_forwards.get(port)

    def _take_drop(self) -> int | None:
        with self._lock:
            after, count = self.faults.drop_after, self.faults.drop_count
            if after is None or (count is not None and self._drops >= count):
                return None
            self._drops += 1
            return after

    def _relay(self, ws: _WebSocket, pod: Json, ports: list[int]) -> None:
        """Speak the kubelet's side of a v4.channel.k8s.io port-forward."""
        meta = pod["metadata"]
        ns, name, uid = meta["namespace"], meta["name"], meta["uid"]
        targets: list[socket.socket | None] = []
        try:
            for i, port in enumerate(ports):
                prefix = port.to_bytes(2, "little")
                ws.send_channel(2 * i, prefix)
                ws.send_channel(2 * i + 1, prefix)
            for i, port in enumerate(ports):
                targets.append(self._dial(ws, i, port, ns, name, uid))
            budget = self._take_drop()
            while any(t is not None for t in targets) and not self._stop.is_set():
                live = [t for t in targets if t is not None]
                if ws.buffered():
                    ready: Iterable[socket.socket] = [ws.sock]
                else:
                    # One select per relayed chunk (no extra zero-timeout poll of the WebSocket).
                    ready, _, _ = select.select([ws.sock, *live], [], [], 0.1)
                for sock in ready:
                    if sock is ws.sock:
                        messages = ws.receive()
                        if messages is None:
                            return
                        for opcode, payload in messages:
                            if opcode == OP_CLOSE:
                                ws.closed = True
                                with contextlib.suppress(OSError):
                                    ws.send(OP_CLOSE, payload[:2])
                                return
                            channel, data = (payload[0], payload[1:]) if payload else (-1, b"")
                            index = channel // 2
                            if channel % 2 == 0 and index < len(targets) and data:
                                target = targets[index]
                                if target is not None:
                                    target.sendall(data)
                        continue
                    index = targets.index(sock)
                    try:
                        data = sock.recv(1 << 15)
                    except OSError:
                        data = b""
                    if not data:
                        # The pod closed its side: the kubelet ends that port's streams.
                        sock.close()
                        targets[index] = None
                        continue
                    if budget is not None:
                        data = data[:budget]
                        budget -= len(data)
                    if data:
                        ws.send_channel(2 * index, data)
                    if budget == 0:
                        return  # the fault: close the WebSocket in the middle of the stream
            ws.close()
        except (OSError, ssl.SSLError, ProtocolError):
            return
        finally:
            for t in targets:
                if t is not None:
                    t.close()
            ws.close(wait=0.5)

    def _dial(
        self, ws: _WebSocket, index: int, port: int, ns: str, name: str, uid: str
    ) -> socket.socket | None:
        address = self._target(ns, name, port)
        try:
            if address is None:
                raise ConnectionRefusedError("connection refused")
            return socket.create_connection(address, timeout=2)
        except OSError as exc:
            reason = (
                "connect: connection refused"
                if isinstance(exc, ConnectionRefusedError)
                else f"connect: {exc.strerror or exc}"
            )
            message = (
                f"error forwarding port {port} to pod {uid}, uid : failed to connect to "
                f'localhost:{port} inside namespace "{ns}/{name}", IPv4: dial tcp4 '
                f"127.0.0.1:{port}: {reason}"
            )
            ws.send_channel(2 * index + 1, message.encode())
            return None


class _HangingTarget:
    """Accepts connections, reads what it is sent, never answers."""

    def __init__(self) -> None:
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.1)
        self.address: Address = ("127.0.0.1", int(self._sock.getsockname()[1]))
        self._conns: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hanging-target", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError, OSError):
                conn, _ = self._sock.accept()
                self._conns.append(conn)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        for conn in self._conns:
            conn.close()
        self._sock.close()


# --------------------------------------------------------------------------- object shapes


def _suffix(n: int) -> str:
    alphabet = "bcdfghjklmnpqrstvwxz2456789"  # the API server's generateName alphabet
    out = ""
    n = n * 7919 + 104729
    for _ in range(5):
        n, r = divmod(n, len(alphabet))
        out += alphabet[r]
    return out


def _owning_pods(obj: Json, selector: dict[str, str], pod_labels: dict[str, str]) -> Workload:
    """The workload ``obj`` as the direct owner of its pods (named ``NAME-...``)."""
    meta = obj["metadata"]
    name = meta["name"]
    return Workload(
        obj["kind"],
        name,
        meta["namespace"],
        meta["uid"],
        selector,
        pod_labels,
        _owner_ref(obj),
        f"{name}-",
    )


def _owner_ref(obj: Json) -> Json:
    return {
        "apiVersion": obj["apiVersion"],
        "kind": obj["kind"],
        "name": obj["metadata"]["name"],
        "uid": obj["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _container(name: str) -> Json:
    if name == "istio-proxy":
        return {
            "name": name,
            "image": "docker.io/istio/proxyv2:1.28.0",
            "args": ["proxy", "sidecar", "--domain", "$(POD_NAMESPACE).svc.cluster.local"],
            "ports": [{"name": "http-envoy-prom", "containerPort": 15090, "protocol": "TCP"}],
            "imagePullPolicy": "IfNotPresent",
            "terminationMessagePath": "/dev/termination-log",
            "terminationMessagePolicy": "File",
        }
    return {
        "name": name,
        "image": f"docker.io/example/{name}:1.0",
        "ports": [{"containerPort": 9080, "protocol": "TCP"}],
        "imagePullPolicy": "IfNotPresent",
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
    }


def _pod_status(
    phase: str,
    ready: bool,
    containers: Sequence[str],
    native_sidecar: bool,
    sidecar_waiting: str | None,
    node_name: str | None,
) -> Json:
    running = phase == "Running"
    scheduled = bool(node_name)

    def cond(kind: str, ok: bool, reason: str | None = None) -> Json:
        c: Json = {
            "type": kind,
            "status": "True" if ok else "False",
            "lastProbeTime": None,
            "lastTransitionTime": _CREATED,
        }
        if reason and not ok:
            c["reason"] = reason
        return c

    def container_status(name: str) -> Json:
        image = _container(name)["image"]
        cs: Json = {
            "name": name,
            "image": image,
            "imageID": f"{image}@sha256:{hashlib.sha256(image.encode()).hexdigest()}",
            "ready": running and ready,
            "restartCount": 0,
            "started": running,
        }
        if name == "istio-proxy" and sidecar_waiting:
            cs["ready"] = False
            cs["started"] = False
            cs["restartCount"] = 5
            cs["state"] = {"waiting": {"reason": sidecar_waiting, "message": "back-off 5m0s"}}
        elif running:
            cs["containerID"] = f"containerd://{hashlib.sha256(name.encode()).hexdigest()}"
            cs["state"] = {"running": {"startedAt": _CREATED}}
        elif phase in ("Succeeded", "Failed"):
            cs["state"] = {
                "terminated": {
                    "exitCode": 0 if phase == "Succeeded" else 1,
                    "reason": "Completed" if phase == "Succeeded" else "Error",
                    "startedAt": _CREATED,
                    "finishedAt": _CREATED,
                }
            }
        else:
            cs["state"] = {"waiting": {"reason": "ContainerCreating"}}
        return cs

    status: Json = {
        "phase": phase,
        "conditions": [
            cond("PodReadyToStartContainers", running),
            cond("Initialized", running or scheduled),
            cond("Ready", running and ready, "ContainersNotReady"),
            cond("ContainersReady", running and ready, "ContainersNotReady"),
            cond("PodScheduled", scheduled, "Unschedulable"),
        ],
        "qosClass": "BestEffort",
    }
    if not scheduled:
        status["conditions"] = [status["conditions"][-1]]
        status["conditions"][0]["message"] = "0/3 nodes are available: 3 Insufficient cpu."
        return status
    status.update(
        {
            "hostIP": "172.18.0.2",
            "hostIPs": [{"ip": "172.18.0.2"}],
            "podIP": "10.244.1.7",
            "podIPs": [{"ip": "10.244.1.7"}],
            "startTime": _CREATED,
            "containerStatuses": [
                container_status(c)
                for c in containers
                if not (native_sidecar and c == "istio-proxy")
            ],
        }
    )
    if native_sidecar:
        status["initContainerStatuses"] = [container_status("istio-proxy")]
    return status


def _addresses(
    name: str, namespace: str, programmed: bool | None, addresses: Sequence[str] | None
) -> Json:
    if addresses is None:
        addresses = [f"{name}.{namespace}.svc.cluster.local"] if programmed else []
    if not addresses:
        return {}
    return {"addresses": [{"type": "Hostname", "value": a} for a in addresses]}
