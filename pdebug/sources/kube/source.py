"""A sidecar in a Kubernetes pod, read through the API server's port-forward (:class:`KubeSource`).

``KubeSource("deploy/reviews-v1", options)`` finds the pod (for a workload: the first
Running and Ready pod its selector matches, by name), checks that it runs the sidecar
container, and opens a port-forward to the Envoy admin port. Every :meth:`KubeSource.get`
is one HTTP/1.1 GET over that forward; the connection is kept alive across calls, and
reopened once if it drops. It is a context manager: leaving the ``with`` closes the
forward (and the cluster session it opened).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, BinaryIO

from pdebug.errors import SourceUnavailable
from pdebug.sources.kube.api import KubeCluster
from pdebug.sources.kube.pod import Pod
from pdebug.sources.kube.target import owned_pods, parse_target, selector_text

if TYPE_CHECKING:
    from pdebug.sources.base import LiveOptions
    from pdebug.sources.kube.forward import PodForward

Json = dict[str, Any]


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
        self.pod_info: Pod | None = None  # the pod read, once resolved
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

    def __enter__(self) -> KubeSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

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
            pod = self.cluster.pod(t.name, ns, self._display())
        else:
            pod = self._pick(self.cluster.read(t.resource, t.name, ns, self._display()))
        self._check(pod)
        self.pod = pod.name
        self.pod_info = pod
        if t.kind == "pod":
            self.label = f"pod/{self.pod}.{ns}"
        else:
            self.label = f"{t.kind}/{t.name}.{ns} (pod {self.pod})"
        self._http = self.cluster.forward(self.pod, ns, self.options.admin_port, self.label)

    def _pick(self, workload: Json) -> Pod:
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
        pods = self.cluster.pods(self.namespace, selector, self._display())
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
        ready = sorted((p for p in owned if p.running_and_ready), key=lambda p: p.name)
        if not ready:
            states = "; ".join(
                f"{p.name}: {p.state}" for p in sorted(owned, key=lambda p: p.name)[:5]
            )
            more = f"; and {len(owned) - 5} more" if len(owned) > 5 else ""
            raise SourceUnavailable(
                f"{self._display()}: no Running and Ready pod ({states}{more})",
                hint=listing,
            )
        return ready[0]

    def _check(self, pod: Pod) -> None:
        """Fail unless the pod is Running and has a running sidecar container."""
        problem = pod.problem(self.options.container)
        if problem is None:
            return
        name, ns = pod.name, self.namespace
        what, hint = problem
        raise SourceUnavailable(
            f"{self._display()}: " + what.replace("{pod}", self._pod_word(name)),
            hint=hint.format(pod=name, ns=ns),
        )
