"""Reads from the Kubernetes API server: one :class:`KubeCluster` session per command.

pdebug only reads the cluster: it calls ``get``/``list`` on pods, workloads, services,
namespaces and Gateways, and ``create`` on ``pods/portforward`` (the RBAC verb a
port-forward is authorized with, see :mod:`pdebug.sources.kube.forward`).

The generated API classes (``CoreV1Api``...) import about 280 pydantic model modules when
first used (about 0.6 s), even with ``_preload_content=False``; pdebug never touches them:
it builds each request with ``ApiClient.param_serialize`` (URL, query, the
``Authorization`` header from the configuration, token refresh included) and sends it with
``ApiClient.call_api``, which returns the raw response whatever its status (the generated
methods raise ``ApiException.from_response`` for a non-2xx one; so does pdebug).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pdebug.errors import SourceUnavailable, UsageError
from pdebug.sources.kube._text import first_line, short_reason, status_message
from pdebug.sources.kube.pod import Pod

if TYPE_CHECKING:
    from pdebug.sources.base import LiveOptions
    from pdebug.sources.kube.forward import PodForward

Json = dict[str, Any]

_SELECTOR_HINT = "label selector syntax: key=value,key!=value,key in (a,b)"

#: The API path of each resource pdebug reads (apps/v1 for the workloads).
_API_GROUPS = {
    "pods": "/api/v1",
    "services": "/api/v1",
    "namespaces": "/api/v1",
    "gateways": "/apis/gateway.networking.k8s.io/v1",
}


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

    def __enter__(self) -> KubeCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _load_config(self) -> str | None:
        """Set up the client configuration; return the namespace the config defaults to."""
        from pdebug.sources.kube.config import load_config

        loaded = load_config(self.options, self.label)
        self.context = loaded.context
        self.config = loaded.config
        return loaded.namespace

    # ------------------------------------------------------------------ API calls

    def read(self, resource: str, name: str, namespace: str | None, label: str) -> Json:
        """GET one pod or workload as raw JSON.

        Raises:
            SourceUnavailable: Not found, forbidden, or the API server is unreachable; the
                message starts with ``label``.
        """
        return self._api(label, "get", resource, namespace, name=name)

    def pod(self, name: str, namespace: str | None, label: str) -> Pod:
        """GET one pod (see :meth:`read`)."""
        return Pod.from_raw(self.read("pods", name, namespace, label))

    def pods(self, namespace: str | None, selector: str, label: str) -> list[Pod]:
        """LIST the pods matching ``selector`` in ``namespace`` (see :meth:`list`)."""
        return [Pod.from_raw(p) for p in self.list("pods", namespace, selector, label)]

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
        status, message = int(exc.status or 0), status_message(exc.body) or str(exc.reason)
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
                f"invalid label selector {selector!r} ({first_line(message)})",
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
                f"{label}: cannot talk to the API server at {self.host} ({first_line(message)})",
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
            f"({short_reason(reason)})",
            hint="is the cluster up, and are --context / --kubeconfig the right ones?",
        )

    def forward(
        self, pod: str, namespace: str, port: int, label: str, *, service: str = "Envoy admin"
    ) -> PodForward:
        """An HTTP client for ``port`` in ``pod``, over a port-forward opened on first GET."""
        from pdebug.sources.kube.forward import PodForward

        self.connect()
        return PodForward(self, pod, namespace, port, label, service)
