"""A sidecar in a Kubernetes pod, read through the API server's port-forward.

``KubeSource("deploy/reviews-v1", options)`` finds the pod (for a workload: the first
Running and Ready pod its selector matches, by name), checks that it runs the sidecar
container, and opens a port-forward to the Envoy admin port with the ``kubernetes`` client,
in-process (no ``kubectl``). Every :meth:`KubeSource.get` is one HTTP/1.1 GET over that
forward; the connection is kept alive across calls, and reopened once if it drops.

The ``kubernetes`` package is imported lazily, inside methods, so that reading a file never
pays for it. pdebug only reads the cluster: it calls ``get``/``list`` on pods and workloads
and ``create`` on ``pods/portforward`` (the RBAC verb a port-forward is authorized with).

Facts about the ``kubernetes`` client (v37) this module relies on:

* the generated API classes (``CoreV1Api``, ``AppsV1Api``) import about 280 pydantic model
  modules when first used (about 0.6 s), even with ``_preload_content=False``; pdebug never
  touches them: it builds each request with ``ApiClient.param_serialize`` (URL, query,
  the ``Authorization`` header from the configuration, token refresh included) and sends it
  with ``ApiClient.call_api``, which returns the raw response whatever its status (the
  generated methods raise ``ApiException.from_response`` for a non-2xx one; so does pdebug);
* importing any part of the package runs ``kubernetes/__init__``, which imports
  ``config``, ``stream``, ``watch``, ``dynamic``... (about 0.25 s): that much is paid by every
  command that talks to a cluster;
* ``kubernetes.stream.ws_client.portforward_call`` (what ``kubernetes.stream.portforward``
  ends up calling, through a generated method) opens its WebSocket without any timeout (it
  ignores ``_request_timeout``), so the port-forward is opened in a helper thread that is
  given up after ``--timeout``;
* it reports every failure of the upgrade as ``ApiException(status=0)`` whose ``reason`` is
  the text of websocket-client's ``Handshake status 403 Forbidden -+-+- headers -+-+- body``:
  the HTTP status and the API server's ``Status`` are parsed back out of it;
* a kubelet error on the port's error channel (``... connection refused``) makes it close
  the local socket; the text is in ``PortForward.error(port)``;
* ``KUBECONFIG`` is read when ``kubernetes.config`` is imported, so pdebug resolves the
  kubeconfig path itself and always passes it explicitly.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO

from pdebug.errors import SourceUnavailable, UsageError
from pdebug.sources.admin import LIMIT_HINT, AnswerError, status_error
from pdebug.sources.httpget import Body, Deadline, HTTPFault, Wire, max_body_from_env

if TYPE_CHECKING:
    from pdebug.sources import LiveOptions

__all__ = [
    "SERVICE_ACCOUNT_DIR",
    "KubeCluster",
    "KubeSource",
    "KubeTarget",
    "name_of",
    "PodForward",
    "owned_pods",
    "parse_target",
    "pod_state",
    "running_and_ready",
    "selector_text",
    "sidecar_problem",
]

Json = dict[str, Any]

#: Where the kubelet mounts a pod's service account (token, ca.crt, namespace).
SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"

#: Spellings of a kind on the command line -> (canonical kind, API resource).
_KINDS: dict[str, tuple[str, str]] = {
    **dict.fromkeys(("pod", "pods", "po"), ("pod", "pods")),
    **dict.fromkeys(("deploy", "deployment", "deployments"), ("deployment", "deployments")),
    **dict.fromkeys(("sts", "statefulset", "statefulsets"), ("statefulset", "statefulsets")),
    **dict.fromkeys(("ds", "daemonset", "daemonsets"), ("daemonset", "daemonsets")),
    **dict.fromkeys(("rs", "replicaset", "replicasets"), ("replicaset", "replicasets")),
    **dict.fromkeys(("svc", "service", "services"), ("service", "services")),
}
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")  # DNS-1123 subdomain
_NAMESPACE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")  # DNS-1123 label
_TARGET_HINT = (
    "e.g. pod/NAME, NAME.NAMESPACE, deploy/NAME -n NAMESPACE, sts/NAME, ds/NAME, svc/NAME"
)
_SELECTOR_HINT = "label selector syntax: key=value,key!=value,key in (a,b)"
_HANDSHAKE = re.compile(r"Handshake status (\d{3})")
_ERRNO = re.compile(r"\[Errno -?\d+\] ([^'\")\]]+)")


#: The API path of each resource pdebug reads (apps/v1 for the workloads).
_API_GROUPS = {
    "pods": "/api/v1",
    "services": "/api/v1",
    "namespaces": "/api/v1",
    "gateways": "/apis/gateway.networking.k8s.io/v1",
}


@dataclass(frozen=True)
class KubeTarget:
    """A SOURCE argument that names a pod or a workload.

    Attributes:
        text: The argument as typed.
        kind: ``pod``, ``deployment``, ``statefulset``, ``daemonset`` or ``replicaset``.
        resource: The API resource (``pods``, ``deployments``...).
        name: The object's name.
        namespace: The namespace given as ``NAME.NAMESPACE``, else ``None``.
    """

    text: str
    kind: str
    resource: str
    name: str
    namespace: str | None


def parse_target(text: str, namespace: str | None = None) -> KubeTarget:
    """Parse ``[KIND/]NAME[.NAMESPACE]``, splitting the namespace at the last dot (istioctl's rule).

    istioctl always splits, so a pod whose name has a dot cannot be named. pdebug departs
    from that when ``-n`` is given (``namespace``): ``api.v2-0 -n shop`` is the pod
    ``api.v2-0`` in ``shop``, as the text after the last dot is not the ``-n`` namespace;
    ``api.shop -n shop`` is still the pod ``api`` in ``shop``.

    Raises:
        UsageError: The kind is unknown or a name is not a valid Kubernetes name.
    """
    kind_text, slash, rest = text.partition("/")
    if not slash:
        kind_text, rest = "pod", text
    known = _KINDS.get(kind_text.lower())
    if known is None:
        raise UsageError(
            f"{text}: unknown kind {kind_text!r} (pdebug reads pods, deployments, "
            "statefulsets, daemonsets, replicasets and services)",
            hint=_TARGET_HINT,
        )
    name, dot, suffix = rest.rpartition(".")
    if not dot or (namespace and suffix != namespace and _NAME.match(rest)):
        name, dot, suffix = rest, "", ""
    if not _NAME.match(name) or len(name) > 253:
        raise UsageError(
            f"{text}: {name!r} is not a valid {known[0]} name "
            "(lowercase letters, digits, '-' and '.')",
            hint=_TARGET_HINT,
        )
    if dot and (not _NAMESPACE.match(suffix) or len(suffix) > 63):
        raise UsageError(
            f"{text}: {suffix!r} is not a valid namespace (after the last '.')",
            hint=_TARGET_HINT,
        )
    return KubeTarget(text, known[0], known[1], name, suffix or None)


class _Dropped(Exception):
    """The port-forward stream broke without a kubelet error: worth one more try."""


class KubeCluster:
    """A read-only session with one Kubernetes cluster.

    Loads the kubeconfig (``--kubeconfig``, ``KUBECONFIG``, ``~/.kube/config``) with its
    ``--context``, or the pod's service account when running in a cluster, on first use.
    Every error is a :class:`SourceUnavailable` whose message starts with the ``label`` the
    caller passes (the target the user typed), so the user sees what failed for which target;
    but a label selector the API server cannot parse is a :class:`UsageError` naming it.

    Args:
        options: Context, kubeconfig and timeout (the rest is ignored here).
        label: Names the work in errors raised while loading the configuration.
    """

    def __init__(self, options: LiveOptions, label: str) -> None:
        self.options = options
        self.label = label
        self.timeout = max(options.timeout, 0.001)
        self.config: Any = None
        self.context: str | None = None
        self.default_namespace: str | None = None
        self._client: Any = None

    @property
    def host(self) -> str:
        """The API server's URL (after :meth:`connect`)."""
        return str(self.config.host) if self.config is not None else "?"

    def connect(self) -> KubeCluster:
        """Load the configuration (once); :attr:`default_namespace` is then known."""
        if self.config is None:
            from kubernetes.client import ApiClient

            self.default_namespace = self._load_config()
            self._client = ApiClient(self.config)
        return self

    def namespace(self, explicit: str | None = None) -> str:
        """``explicit``, else ``-n``, else the context's namespace, else ``default``."""
        self.connect()
        return explicit or self.options.namespace or self.default_namespace or "default"

    def close(self) -> None:
        """Release the API client's connection pool (idempotent)."""
        api, self._client = self._client, None
        if api is not None:
            api.close()

    # ------------------------------------------------------------------ config

    def _kubeconfig_path(self) -> str | None:
        """The kubeconfig to load, or ``None`` for in-cluster configuration."""
        explicit = self.options.kubeconfig
        if explicit:
            if not os.path.isfile(os.path.expanduser(explicit)):
                raise SourceUnavailable(
                    f"{self.label}: kubeconfig {explicit}: no such file",
                    hint="check the --kubeconfig path",
                )
            return explicit
        env = os.environ.get("KUBECONFIG", "")
        if env:
            paths = [p for p in env.split(os.pathsep) if p]
            if not any(os.path.isfile(os.path.expanduser(p)) for p in paths):
                raise SourceUnavailable(
                    f"{self.label}: KUBECONFIG={env}: no such file",
                    hint="fix or unset KUBECONFIG, or pass --kubeconfig FILE",
                )
            return env
        default = os.path.expanduser(os.path.join("~", ".kube", "config"))
        if os.path.isfile(default):
            return default
        if os.environ.get("KUBERNETES_SERVICE_HOST"):
            return None
        raise SourceUnavailable(
            f"{self.label}: no kubeconfig ({default} does not exist, KUBECONFIG is not "
            "set, and pdebug is not running in a pod)",
            hint="pass --kubeconfig FILE or set KUBECONFIG; or read a saved dump instead",
        )

    def _load_config(self) -> str | None:
        """Set up the client configuration; return the namespace the config defaults to."""
        from kubernetes.client import Configuration
        from urllib3.util.retry import Retry

        path = self._kubeconfig_path()
        config = Configuration()
        namespace = self._load_in_cluster(config) if path is None else self._load_file(path, config)
        # One retry for a failed connect; none for a read (that would double --timeout).
        config.retries = Retry(total=1, connect=1, read=0, status=0, redirect=0, other=0)
        self.config = config
        return namespace

    def _load_file(self, path: str, config: Any) -> str | None:
        from kubernetes.config import ConfigException, load_kube_config

        contexts, current = _read_contexts(path, self.label)
        name = self.options.context or current
        known = ", ".join(sorted(contexts)) or "none"
        if not name:
            raise SourceUnavailable(
                f"{self.label}: kubeconfig {path} has no current context",
                hint=f"pick one with --context (known: {known})",
            )
        if name not in contexts:
            raise UsageError(
                f"{self.label}: unknown kubeconfig context {name!r} in {path} (known: {known})",
                hint="check --context, or run: kubectl config get-contexts",
            )
        self.context = name
        try:
            load_kube_config(  # type: ignore[no-untyped-call]
                config_file=path, context=name, client_configuration=config, persist_config=False
            )
        except (ConfigException, KeyError, TypeError, ValueError, AttributeError, OSError) as exc:
            raise SourceUnavailable(
                f"{self.label}: kubeconfig {path}, context {name!r}: {_first_line(exc)}",
                hint="check the context's cluster and user entries (kubectl config view)",
            ) from None
        return contexts[name]

    def _load_in_cluster(self, config: Any) -> str | None:
        from kubernetes.config import ConfigException
        from kubernetes.config.incluster_config import InClusterConfigLoader

        if self.options.context:
            raise UsageError(
                f"{self.label}: unknown context {self.options.context!r}: there is no "
                "kubeconfig, only the pod's service account",
                hint="drop --context, or pass --kubeconfig FILE",
            )
        loader = InClusterConfigLoader(  # type: ignore[no-untyped-call]
            token_filename=os.path.join(SERVICE_ACCOUNT_DIR, "token"),
            cert_filename=os.path.join(SERVICE_ACCOUNT_DIR, "ca.crt"),
        )
        try:
            loader.load_and_set(config)  # type: ignore[no-untyped-call]
        except (ConfigException, OSError) as exc:
            raise SourceUnavailable(
                f"{self.label}: in-cluster configuration failed ({_first_line(exc)})",
                hint="is the service account token mounted? or pass --kubeconfig FILE",
            ) from None
        try:
            with open(os.path.join(SERVICE_ACCOUNT_DIR, "namespace")) as fh:
                return fh.read().strip() or None
        except OSError:
            return None

    # ------------------------------------------------------------------ API calls

    def read(self, resource: str, name: str, namespace: str | None, label: str) -> Json:
        """GET one pod or workload as raw JSON.

        Raises:
            SourceUnavailable: Not found, forbidden, or the API server is unreachable; the
                message starts with ``label``.
        """
        return self._api(label, "get", resource, namespace, name=name)

    def list(self, resource: str, namespace: str | None, selector: str, label: str) -> list[Json]:
        """LIST pods or replicasets matching ``selector`` in ``namespace`` (``None``: all).

        Raises:
            SourceUnavailable: Forbidden, or the API server is unreachable.
            UsageError: The API server cannot parse ``selector`` (HTTP 400).
        """
        obj = self._api(label, "list", resource, namespace, selector=selector)
        return [item for item in obj.get("items") or [] if isinstance(item, dict)]

    def request(self, path: str, params: dict[str, str], query: Sequence[tuple[str, str]]) -> Any:
        """A GET serialized by the client: ``(method, url, headers, body, post_params)``.

        ``path`` has ``{name}`` placeholders that ``params`` fill (URL-quoted); the headers
        carry the configuration's credentials (refreshed if they expire).
        """
        return self._api_client().param_serialize(
            "GET",
            path,
            path_params=params,
            query_params=query,
            header_params={"Accept": "application/json"},
            auth_settings=["BearerToken"],
        )

    def _api_client(self) -> Any:
        self.connect()
        if self._client is None:  # closed: a new pool
            from kubernetes.client import ApiClient

            self._client = ApiClient(self.config)
        return self._client

    def _api(
        self,
        label: str,
        verb: str,
        resource: str,
        namespace: str | None,
        *,
        name: str | None = None,
        selector: str | None = None,
    ) -> Json:
        """One API read, raw JSON (no model validation), with the timeout and error mapping."""
        import urllib3
        from kubernetes.client.exceptions import ApiException

        group = _API_GROUPS.get(resource, "/apis/apps/v1")
        path, params = f"{group}/{resource}", {}
        if namespace is not None:
            path, params = f"{group}/namespaces/{{namespace}}/{resource}", {"namespace": namespace}
        if name is not None:
            path, params = path + "/{name}", {**params, "name": name}
        query = [("labelSelector", selector)] if selector is not None else []
        try:
            request = self.request(path, params, query)
            resp = self._api_client().call_api(*request, _request_timeout=self.timeout)
            try:
                data = resp.read()
            finally:
                resp.response.release_conn()
            if not 200 <= resp.status <= 299:
                raise ApiException.from_response(http_resp=resp, body=None, data=None)
        except ApiException as exc:
            raise self._api_error(exc, label, verb, resource, namespace, name, selector) from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise self.unreachable(exc, label) from None
        try:
            obj = json.loads(data)
        except ValueError:
            obj = None
        if not isinstance(obj, dict):
            raise SourceUnavailable(
                f"{label}: the API server at {self.host} answered "
                f"{verb} {resource} with something else than JSON",
                hint="is the kubeconfig's server a Kubernetes API server?",
            )
        return obj

    def _api_error(
        self,
        exc: Any,
        label: str,
        verb: str,
        resource: str,
        namespace: str | None,
        name: str | None,
        selector: str | None,
    ) -> SourceUnavailable | UsageError:
        status, message = int(exc.status or 0), _status_message(exc.body) or str(exc.reason)
        where = f"in namespace {namespace}" if namespace else "in all namespaces"
        flag = f"-n {namespace}" if namespace else "-A"
        if status == 404 and name is not None:
            kind = resource.rstrip("s")
            return SourceUnavailable(
                f"{label}: {kind} {name!r} not found {where}",
                hint=f"list them with: kubectl get {resource} {flag}",
            )
        if status == 404 and resource == "gateways":
            return SourceUnavailable(
                f"{label}: the Gateway API (gateway.networking.k8s.io/v1) is not installed, "
                "so there are no waypoints",
                hint="ambient waypoints are Gateways: install the Gateway API CRDs "
                "(kubectl get crd gateways.gateway.networking.k8s.io)",
            )
        if status == 400 and verb == "list" and selector:
            # The only parameter of a list: the API server cannot parse the selector.
            return UsageError(
                f"invalid label selector {selector!r} ({_first_line(message)})",
                hint=_SELECTOR_HINT,
            )
        if status == 403:
            return SourceUnavailable(
                f"{label}: forbidden to {verb} {resource} {where} ({message})",
                hint=f"pdebug needs RBAC permission to {verb} {resource} {where}",
            )
        if status == 401:
            return self.unauthorized(label)
        if status == 0:
            return SourceUnavailable(
                f"{label}: cannot talk to the API server at {self.host} ({_first_line(message)})",
                hint="check the cluster's certificate-authority in the kubeconfig",
            )
        return SourceUnavailable(
            f"{label}: the API server answered HTTP {status} to {verb} {resource} ({message})",
            hint="check the cluster's health (kubectl get --raw /readyz)",
        )

    def unauthorized(self, label: str) -> SourceUnavailable:
        """The credentials were rejected (HTTP 401)."""
        context = f" (context {self.context})" if self.context else ""
        return SourceUnavailable(
            f"{label}: the API server at {self.host} rejected the credentials{context}: "
            "401 Unauthorized",
            hint="log in again or refresh the token (kubectl auth whoami shows who you are)",
        )

    def unreachable(self, exc: BaseException, label: str) -> SourceUnavailable:
        """The API server could not be reached, or did not answer in time."""
        import urllib3

        reason = getattr(exc, "reason", None) or exc
        # NewConnectionError subclasses ConnectTimeoutError (urllib3 compatibility): test first.
        if not isinstance(reason, urllib3.exceptions.NewConnectionError) and isinstance(
            reason, (urllib3.exceptions.TimeoutError, TimeoutError)
        ):
            return SourceUnavailable(
                f"{label}: the API server at {self.host} did not answer within {self.timeout:g}s",
                hint="check the network (VPN?) to the cluster, or raise --timeout",
            )
        return SourceUnavailable(
            f"{label}: cannot reach the Kubernetes API server at {self.host} "
            f"({_short_reason(reason)})",
            hint="is the cluster up, and are --context / --kubeconfig the right ones?",
        )

    def forward(
        self, pod: str, namespace: str, port: int, label: str, *, service: str = "Envoy admin"
    ) -> PodForward:
        """An HTTP client for ``port`` in ``pod``, over a port-forward opened on first GET."""
        self.connect()
        return PodForward(self, pod, namespace, port, label, service)


class PodForward:
    """HTTP GETs on one port of one pod, through the API server's port-forward.

    The connection is kept alive across calls and reopened once if the stream drops.
    ``service`` names what listens on the port in messages (``Envoy admin``, ``istiod``).
    ``--timeout`` bounds each whole GET: opening the port-forward (when it is not open
    yet), the answer, and the one retry; the body is bounded by ``--max-body``.
    """

    def __init__(
        self, cluster: KubeCluster, pod: str, namespace: str, port: int, label: str, service: str
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

    def get(self, path: str) -> bytes:
        """GET ``path``; the body on HTTP 200.

        Raises:
            SourceUnavailable: The port-forward cannot be opened, the port does not answer
                in time, or answers something that is not HTTP or is too large.
            AdminHTTPError: The server answered another status than 200.
        """
        body = Body()
        self._get(path, body)
        return body.value()

    def get_to(self, path: str, file: BinaryIO) -> int:
        """GET ``path`` straight into ``file`` (from its start); the body's size."""
        body = Body(file)
        self._get(path, body)
        return body.size

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
                f"{self.cluster.host} ({_short_reason(text)})",
                hint="is the cluster reachable? check --context / --kubeconfig",
            )
        status = int(match[1])
        message = _status_message(text.rsplit(" -+-+- ", 1)[-1]) or text
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


_REFUSED_HINT = {
    "Envoy admin": "is this the Envoy admin port? Istio sidecars use 15000; "
    "pick another with --admin-port",
}
_STATUS_HINT = {
    "Envoy admin": "check the admin path, and that --admin-port is Envoy's admin port",
}


class KubeSource:
    """Envoy admin GETs on a sidecar in a pod, through a Kubernetes port-forward.

    Args:
        text: ``pod/NAME``, ``NAME``, ``NAME.NS``, ``deploy/NAME``, ``sts/NAME``, ``ds/NAME``
            or ``rs/NAME`` (each with an optional ``.NS``).
        options: Namespace, context, kubeconfig, admin port, container and timeout.
        cluster: A session to share (``pdebug snapshot`` reads many pods through one).

    Raises:
        UsageError: ``text`` is not a valid target (raised here, before any I/O).

    The cluster is contacted on the first :meth:`get`; :attr:`label` then names the pod
    (and, for a workload, which pod was picked).
    """

    live = True

    def __init__(self, text: str, options: LiveOptions, cluster: KubeCluster | None = None) -> None:
        self.target = parse_target(text, options.namespace)
        self.options = options
        self.label = text
        self.namespace: str | None = None
        self.pod: str | None = None
        self.pod_object: Json | None = None
        self.cluster = cluster or KubeCluster(options, text)
        self._owns_cluster = cluster is None
        self._http: PodForward | None = None

    # ------------------------------------------------------------------ public

    def get(self, path: str) -> bytes:
        """GET an admin path on the sidecar; the body on HTTP 200.

        Raises:
            SourceUnavailable: The pod cannot be found or reached (the message names the
                target and the hint says what to check).
            AdminHTTPError: Envoy answered another status than 200.
        """
        return self._forward().get(path)

    def get_to(self, path: str, file: BinaryIO) -> int:
        """GET an admin path straight into ``file`` (``pdebug dump``); the body's size."""
        return self._forward().get_to(path, file)

    def _forward(self) -> PodForward:
        if self._http is None:
            self._resolve()
            assert self._http is not None
        return self._http

    def close(self) -> None:
        """Close the HTTP connection and the port-forward (idempotent)."""
        if self._http is not None:
            self._http.close()
        if self._owns_cluster:
            self.cluster.close()

    # ------------------------------------------------------------------ naming

    def _display(self) -> str:
        """The target as typed, with the namespace appended when it was not in it."""
        t = self.target
        if t.namespace is None and self.namespace is not None:
            return f"{t.text}.{self.namespace}"
        return t.text

    def _pod_word(self, name: str) -> str:
        return "the pod" if self.target.kind == "pod" else f"pod {name}"

    # ------------------------------------------------------------------ finding the pod

    def _resolve(self) -> None:
        """Load the config, find the pod and check it can be port-forwarded to."""
        t = self.target
        self.namespace = self.cluster.namespace(t.namespace)
        ns = self.namespace
        if t.kind == "pod":
            pod = self.cluster.read("pods", t.name, ns, self._display())
        else:
            pod = self._pick(self.cluster.read(t.resource, t.name, ns, self._display()))
        self._check(pod)
        self.pod = name_of(pod)
        self.pod_object = pod
        if t.kind == "pod":
            self.label = f"pod/{self.pod}.{ns}"
        else:
            self.label = f"{t.kind}/{t.name}.{ns} (pod {self.pod})"
        self._http = self.cluster.forward(self.pod, ns, self.options.admin_port, self.label)

    def _pick(self, workload: Json) -> Json:
        """The first (by name) Running and Ready pod of a workload."""
        spec = workload.get("spec") or {}
        selector = selector_text(spec.get("selector") or {})
        kind = self.target.kind
        if not selector and kind == "service":
            raise SourceUnavailable(
                f"{self._display()}: the service has no selector, so no pods behind it "
                "(ExternalName, or endpoints managed by hand)",
                hint=f"name a pod instead: kubectl get endpointslices -n {self.namespace} "
                f"-l kubernetes.io/service-name={self.target.name}",
            )
        if not selector:
            raise SourceUnavailable(
                f"{self._display()}: the {kind} has an empty selector, so no pods",
                hint=f"kubectl get {self.target.resource} {self.target.name} "
                f"-n {self.namespace} -o yaml",
            )
        listing = f"kubectl get pods -n {self.namespace} -l {selector}"
        pods = self.cluster.list("pods", self.namespace, selector, self._display())
        if not pods:
            raise SourceUnavailable(
                f"{self._display()}: no pods match the {kind}'s selector {selector}",
                hint=f"is it scaled to zero? {listing}",
            )
        owned = owned_pods(
            self.cluster, workload, kind, pods, selector, self._display(), self.namespace
        )
        if not owned:
            raise SourceUnavailable(
                f"{self._display()}: {len(pods)} pods match {selector}, but none belongs to "
                f"the {kind}",
                hint=listing,
            )
        ready = sorted((p for p in owned if running_and_ready(p)), key=name_of)
        if not ready:
            states = "; ".join(
                f"{name_of(p)}: {pod_state(p)}" for p in sorted(owned, key=name_of)[:5]
            )
            more = f"; and {len(owned) - 5} more" if len(owned) > 5 else ""
            raise SourceUnavailable(
                f"{self._display()}: no Running and Ready pod ({states}{more})",
                hint=listing,
            )
        return ready[0]

    def _check(self, pod: Json) -> None:
        """Fail unless the pod is Running and has a running sidecar container."""
        problem = sidecar_problem(pod, self.options.container)
        if problem is None:
            return
        name, ns = name_of(pod), self.namespace
        what, hint = problem
        raise SourceUnavailable(
            f"{self._display()}: " + what.replace("{pod}", self._pod_word(name)),
            hint=hint.format(pod=name, ns=ns),
        )


def owned_pods(
    cluster: KubeCluster,
    workload: Json,
    kind: str,
    pods: list[Json],
    selector: str,
    label: str,
    namespace: str | None,
) -> list[Json]:
    """The pods a workload controls (a Deployment through its ReplicaSets)."""
    uid = (workload.get("metadata") or {}).get("uid")
    if not uid or kind == "service":
        return pods  # a service owns no pods: its selector is all there is
    owners = {uid}
    if kind == "deployment":
        try:
            replicasets = cluster.list("replicasets", namespace, selector, label)
        except SourceUnavailable:
            return pods  # cannot list ReplicaSets: trust the selector, as kubectl does
        owners = {
            rs_uid
            for rs in replicasets
            if _controller_uid(rs) == uid and (rs_uid := (rs.get("metadata") or {}).get("uid"))
        }
    return [p for p in pods if _controller_uid(p) in owners]


def sidecar_problem(pod: Json, container: str) -> tuple[str, str] | None:
    """Why ``pod`` cannot be read (not Running, no or a dead sidecar), or ``None``.

    Returns ``(what, hint)``: ``what`` contains ``{pod}`` where the pod is named, ``hint``
    contains ``{pod}`` and ``{ns}`` placeholders.
    """
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    phase = status.get("phase") or "Unknown"
    describe = "kubectl describe pod {pod} -n {ns}"
    if phase != "Running":
        why = _not_running_reason(status)
        return f"{{pod}} is {phase}, not Running" + (f" ({why})" if why else ""), describe
    containers = [c.get("name", "") for c in spec.get("containers") or []]
    # Istio's native-sidecar mode runs istio-proxy as an init container that keeps running.
    sidecars = [
        c.get("name", "")
        for c in spec.get("initContainers") or []
        if c.get("restartPolicy") == "Always"
    ]
    if container not in containers and container not in sidecars:
        listed = ", ".join(containers + sidecars) or "none"
        return (
            f"{{pod}} has no container {container!r} (containers: {listed})",
            "is the Istio sidecar injected? for another proxy container use --container",
        )
    for cs in (status.get("containerStatuses") or []) + (status.get("initContainerStatuses") or []):
        if cs.get("name") != container:
            continue
        state = cs.get("state") or {}
        for key in ("waiting", "terminated"):
            if key in state:
                reason = (state[key] or {}).get("reason") or key
                return (
                    f"container {container} of {{pod}} is {key} ({reason}), not running",
                    f"kubectl logs {{pod}} -c {container} -n {{ns}} --previous",
                )
    return None


# ---------------------------------------------------------------------- helpers


def _read_contexts(path: str, label: str) -> tuple[dict[str, str | None], str | None]:
    """Context names (with their namespace) and the current context, merged as kubectl does.

    The first file that names a context, or sets ``current-context``, wins.
    """
    import yaml

    contexts: dict[str, str | None] = {}
    current: str | None = None
    for file in [p for p in path.split(os.pathsep) if p]:
        file = os.path.expanduser(file)
        if not os.path.isfile(file):
            continue
        try:
            with open(file, encoding="utf-8") as fh:
                doc = yaml.safe_load(fh)
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise SourceUnavailable(
                f"{label}: kubeconfig {file} cannot be read ({_first_line(exc)})",
                hint="fix the file (kubectl config view shows what kubectl makes of it)",
            ) from None
        if doc is None:
            continue
        if not isinstance(doc, dict) or not isinstance(doc.get("contexts") or [], list):
            raise SourceUnavailable(
                f"{label}: kubeconfig {file} is not a kubeconfig (no contexts list)",
                hint="fix the file, or pass another with --kubeconfig",
            )
        for entry in doc.get("contexts") or []:
            if isinstance(entry, dict) and isinstance(entry.get("name"), str):
                body = entry.get("context") if isinstance(entry.get("context"), dict) else {}
                ns = body.get("namespace") if body else None
                contexts.setdefault(entry["name"], ns if isinstance(ns, str) and ns else None)
        if current is None and isinstance(doc.get("current-context"), str):
            current = doc["current-context"] or None
    return contexts, current


def name_of(obj: Json) -> str:
    """A Kubernetes object's ``metadata.name`` ('' when missing)."""
    return str((obj.get("metadata") or {}).get("name") or "")


def _controller_uid(obj: Json) -> str | None:
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if isinstance(ref, dict) and ref.get("controller"):
            uid = ref.get("uid")
            return str(uid) if uid else None
    return None


def _is_ready(status: Json) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in status.get("conditions") or []
        if isinstance(c, dict)
    )


def running_and_ready(pod: Json) -> bool:
    """Running, Ready, and not being deleted."""
    status = pod.get("status") or {}
    deleting = (pod.get("metadata") or {}).get("deletionTimestamp")
    return status.get("phase") == "Running" and _is_ready(status) and not deleting


def pod_state(pod: Json) -> str:
    """A pod's state in a few words, for listing why none was picked."""
    status = pod.get("status") or {}
    phase = status.get("phase") or "Unknown"
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return f"{phase}, terminating"
    if phase == "Running":
        return "Running, not Ready"
    return phase


def _not_running_reason(status: Json) -> str:
    """A short why for a pod that is not Running (unschedulable, image pull...)."""
    for cond in status.get("conditions") or []:
        if cond.get("type") == "PodScheduled" and cond.get("status") == "False":
            return str(cond.get("reason") or "not scheduled")
    for cs in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
        state = cs.get("state") or {}
        for key in ("waiting", "terminated"):
            reason = (state.get(key) or {}).get("reason")
            if reason:
                return f"container {cs.get('name')}: {reason}"
    return str(status.get("reason") or "")


def selector_text(selector: Json) -> str:
    """A LabelSelector object (or a Service's plain map) as a ``labelSelector`` query string."""
    if "matchLabels" not in selector and "matchExpressions" not in selector:
        # A Service's spec.selector is a plain map of labels.
        return ",".join(f"{k}={v}" for k, v in sorted(selector.items()) if isinstance(v, str))
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op == "In":
            parts.append(f"{key} in ({','.join(values)})")
        elif op == "NotIn":
            parts.append(f"{key} notin ({','.join(values)})")
        elif op == "Exists":
            parts.append(str(key))
        elif op == "DoesNotExist":
            parts.append(f"!{key}")
    return ",".join(parts)


def _status_message(body: Any) -> str | None:
    """The ``message`` of a Kubernetes ``Status`` body, if it is one."""
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if not isinstance(body, str):
        return None
    try:
        obj = json.loads(body)
    except ValueError:
        return None
    if isinstance(obj, dict) and obj.get("kind") == "Status" and obj.get("message"):
        return str(obj["message"])
    return None


def _short_reason(reason: Any) -> str:
    text = str(reason)
    match = _ERRNO.search(text)
    if match:
        return match[1].strip().lower()
    return _first_line(reason) or type(reason).__name__


def _first_line(exc: Any) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0][:200] if lines else ""
