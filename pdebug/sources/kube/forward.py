"""A port-forward to one port of one pod, and HTTP GETs over it (:class:`PodForward`).

The port-forward is opened in-process with the ``kubernetes`` client (no ``kubectl``),
on the first GET, and is a context manager (as kr8s' ``portforward``)::

    with cluster.forward(pod, namespace, 15000, label) as admin:
        body = admin.get("/config_dump")

Facts about the ``kubernetes`` client (v37) this module relies on:

* ``kubernetes.stream.ws_client.portforward_call`` (what ``kubernetes.stream.portforward``
  ends up calling, through a generated method) opens its WebSocket without any timeout (it
  ignores ``_request_timeout``), so the port-forward is opened in a helper thread that is
  given up after ``--timeout``;
* it reports every failure of the upgrade as ``ApiException(status=0)`` whose ``reason`` is
  the text of websocket-client's ``Handshake status 403 Forbidden -+-+- headers -+-+- body``:
  the HTTP status and the API server's ``Status`` are parsed back out of it;
* a kubelet error on the port's error channel (``... connection refused``) makes it close
  the local socket; the text is in ``PortForward.error(port)``.
"""

from __future__ import annotations

import re
import threading
import time
from typing import TYPE_CHECKING, Any, Protocol

from pdebug.errors import SourceUnavailable
from pdebug.sources.admin import LIMIT_HINT, AnswerError, status_error
from pdebug.sources.httpget import Body, BodyGetter, Deadline, HTTPFault, Wire, max_body_from_env
from pdebug.sources.kube._text import short_reason, status_message

if TYPE_CHECKING:
    from collections.abc import Sequence

    from pdebug.sources.base import LiveOptions


class ForwardingCluster(Protocol):
    """What a port-forward needs of its Kubernetes session (:class:`~.api.KubeCluster`).

    A protocol, so this module does not import the session that creates its forwards.
    """

    options: LiveOptions
    timeout: float
    config: Any

    @property
    def host(self) -> str:
        """The API server's URL."""
        ...

    def request(self, path: str, params: dict[str, str], query: Sequence[tuple[str, str]]) -> Any:
        """A GET serialized by the client: ``(method, url, headers, body, post_params)``."""
        ...

    def unauthorized(self, label: str) -> SourceUnavailable:
        """The error for credentials the API server rejected."""
        ...


_HANDSHAKE = re.compile(r"Handshake status (\d{3})")
_REFUSED_HINT = {
    "Envoy admin": "is this the Envoy admin port? Istio sidecars use 15000; "
    "pick another with --admin-port",
}
_STATUS_HINT = {
    "Envoy admin": "check the admin path, and that --admin-port is Envoy's admin port",
}


class _Dropped(Exception):
    """The port-forward stream broke without a kubelet error: worth one more try."""


class PodForward(BodyGetter):
    """HTTP GETs on one port of one pod, through the API server's port-forward.

    The connection is kept alive across calls and reopened once if the stream drops.
    ``service`` names what listens on the port in messages (``Envoy admin``, ``istiod``).
    ``--timeout`` bounds each whole GET: opening the port-forward (when it is not open
    yet), the answer, and the one retry; the body is bounded by ``--max-body``.
    """

    def __init__(
        self,
        cluster: ForwardingCluster,
        pod: str,
        namespace: str,
        port: int,
        label: str,
        service: str,
    ) -> None:
        self.cluster = cluster
        self.pod = pod
        self.namespace = namespace
        self.port = port
        self.label = label
        self.service = service
        limit = cluster.options.max_body
        self.max_body: int = limit if limit is not None else max_body_from_env()
        self._forward: Any = None
        self._wire: Wire | None = None

    def _get(self, path: str, body: Body) -> None:
        deadline = Deadline(self.cluster.timeout)
        try:
            self._fetch(path, deadline, body)
            return
        except _Dropped as exc:
            if deadline.left() <= 0.1:
                raise self._broke(path, exc, "once") from None
            time.sleep(0.1)
            body.reset()
        try:
            self._fetch(path, deadline, body)
        except _Dropped as exc:
            raise self._broke(path, exc, "twice") from None

    def _broke(self, path: str, exc: _Dropped, times: str) -> SourceUnavailable:
        return SourceUnavailable(
            f"{self.label}: the port-forward broke {times} while reading {path} ({exc})",
            hint="the API server or kubelet closed the stream; try again, or check the pod "
            f"with: kubectl describe pod {self.pod} -n {self.namespace}",
        )

    def __enter__(self) -> PodForward:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the HTTP connection and the port-forward (idempotent)."""
        self._wire = None
        forward, self._forward = self._forward, None
        if forward is not None:
            forward.close()

    def _open_socket(self, deadline: Deadline) -> Any:
        """Open a fresh port-forward to the port; its local socket."""
        from kubernetes.stream.ws_client import portforward_call

        _quiet_forward_threads()

        forward, self._forward = self._forward, None
        if forward is not None:
            forward.close()
        timeout, cluster = self.cluster.timeout, self.cluster
        path = "/api/v1/namespaces/{namespace}/pods/{name}/portforward"
        params = {"namespace": self.namespace, "name": self.pod}
        box: dict[str, Any] = {}

        def run() -> None:
            try:
                method, url, headers, _, _ = cluster.request(
                    path, params, [("ports", str(self.port))]
                )
                box["forward"] = portforward_call(  # type: ignore[no-untyped-call]
                    cluster.config, method, url, headers=headers
                )
            except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
                box["error"] = exc

        thread = threading.Thread(target=run, name="pdebug-port-forward", daemon=True)
        thread.start()
        thread.join(max(deadline.left(), 0.0))
        if thread.is_alive():
            # The thread is left behind (daemon): the client gives no way to cancel it.
            raise SourceUnavailable(
                f"{self.label}: the port-forward did not open within {timeout:g}s",
                hint="the API server or the kubelet is slow to answer; raise --timeout",
            )
        if "error" in box:
            raise self._forward_error(box["error"]) from None
        self._forward = box["forward"]
        return self._forward.socket(self.port)

    def _forward_error(self, exc: BaseException) -> SourceUnavailable:
        """Explain why the API server refused (or could not take) the port-forward."""
        text = str(getattr(exc, "reason", None) or exc)
        match = _HANDSHAKE.search(text)
        if match is None:
            return SourceUnavailable(
                f"{self.label}: cannot open a port-forward through the API server at "
                f"{self.cluster.host} ({short_reason(text)})",
                hint="is the cluster reachable? check --context / --kubeconfig",
            )
        status = int(match[1])
        message = status_message(text.rsplit(" -+-+- ", 1)[-1]) or text
        ns = self.namespace
        if status == 403:
            return SourceUnavailable(
                f"{self.label}: forbidden to port-forward to pod {self.pod}: needs create "
                f"pods/portforward in namespace {ns} ({message})",
                hint=f"ask for RBAC permission to create pods/portforward in namespace {ns}",
            )
        if status == 401:
            return self.cluster.unauthorized(self.label)
        if status == 404:
            return SourceUnavailable(
                f"{self.label}: pod {self.pod} is gone from namespace {ns}",
                hint="it was probably replaced; run pdebug again",
            )
        return SourceUnavailable(
            f"{self.label}: the API server refused the port-forward: HTTP {status} ({message})",
            hint=f"kubectl describe pod {self.pod} -n {ns}",
        )

    def _kubelet_error(self) -> str | None:
        """What the kubelet said on the port's error channel, if anything."""
        forward = self._forward
        if forward is None:
            return None
        error = forward.error(self.port)
        return str(error).strip() if error else None

    def _fetch(self, path: str, deadline: Deadline, body: Body) -> None:
        """One GET over the (kept-alive) forwarded connection."""
        port = self.port
        if self._wire is None:
            self._wire = Wire(self._open_socket(deadline))
        try:
            response = self._wire.get(f"127.0.0.1:{port}", path, deadline, self.max_body, body)
        except HTTPFault as fault:
            said = self._kubelet_error()
            # The client's proxy thread may have stopped (the stream ended from the far
            # side) or may die now that the local socket closes mid-answer: either way it
            # leaves its WebSocket open, so close that here, or the connection leaks.
            websocket = getattr(self._forward, "websocket", None)
            self.close()
            if websocket is not None:
                websocket.shutdown()
            if said is None and fault.dropped:
                raise _Dropped(fault.message) from None
            if said is None:
                raise self._fault(path, fault) from None
            if "connection refused" in said.lower():
                raise SourceUnavailable(
                    f"{self.label}: nothing listens on port {port} in the pod "
                    "(the kubelet says: connection refused)",
                    hint=_REFUSED_HINT.get(self.service, f"is the {self.service} running?"),
                ) from None
            raise SourceUnavailable(
                f"{self.label}: the port-forward to port {port} failed: {said}",
                hint=f"kubectl describe pod {self.pod} -n {self.namespace}",
            ) from None
        if not response.keep_alive:
            self.close()
        if response.status != 200:
            data = body.head()
            raise status_error(
                f"{self.label}: {self.service} answered",
                response,
                data,
                _STATUS_HINT.get(self.service, "check the path"),
                after=f" to {path}",
            )

    def _fault(self, path: str, fault: HTTPFault) -> AnswerError:
        """The server on the port broke HTTP, was too slow or too large: its words, a hint."""
        where = f"{self.label}: the {self.service} on port {self.port}"
        if fault.message == f"no answer within {self.cluster.timeout:g}s":
            return AnswerError(
                f"{where} did not answer {path} within {self.cluster.timeout:g}s",
                fault,
                hint=f"the {self.service} may be stuck or the answer huge; raise --timeout",
            )
        if fault.timed_out:
            hint = f"the {self.service} may be stuck or the answer huge; raise --timeout"
        elif fault.too_large:
            hint = LIMIT_HINT
        else:
            hint = f"is port {self.port} the {self.service}'s port?"
        return AnswerError(f"{where}, {path}: {fault.message}", fault, hint=hint)


#: The name the ``kubernetes`` client gives its port-forward relay threads.
_FORWARD_THREAD = "Kubernetes port forward proxy"


def _quiet_forward_threads() -> None:
    """Keep the client's port-forward threads from printing tracebacks on stderr.

    When pdebug gives up on an answer (a fault, ``--timeout``, ``--max-body``) it closes
    its end of the forward while the relay thread still has data for it; the thread then
    dies of ``ConnectionResetError`` (or, once the WebSocket is shut, of another error),
    which Python prints as ``Exception in thread ...`` with a traceback. pdebug has already
    reported what happened, in one line; those threads' deaths are expected. Every other
    thread's exception still goes to the previous hook.
    """
    previous = threading.excepthook
    if getattr(previous, "pdebug_forward_quiet", False):
        return

    def hook(args: Any) -> None:
        name = str(getattr(args.thread, "name", "") or "")
        if name.startswith(_FORWARD_THREAD):
            return
        previous(args)

    hook.pdebug_forward_quiet = True  # type: ignore[attr-defined]
    threading.excepthook = hook
