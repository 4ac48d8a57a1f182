"""istiod's HTTP debug endpoints: what istiod would send a proxy, and who is in sync.

``Istiod(options)`` finds the control plane as istioctl does: the pods labelled
``app=istiod`` (plus ``istio.io/rev=REV`` with ``--revision``) in ``--istio-namespace``
(default ``istio-system``) whose phase is Running, sorted by name. Each is reached through
a Kubernetes port-forward (:class:`~pdebug.sources.kube.PodForward`) to its monitoring
port: the pod's ``prometheus.io/port`` annotation, else 15014. ``--istiod URL`` skips
discovery and asks one address the user forwarded themselves.

Facts about istiod (``pilot/pkg/xds/debug.go``) this module relies on:

* ``GET /debug/config_dump?proxyID=POD.NS`` answers, for a proxy connected to *this*
  replica, an Envoy admin ``ConfigDump`` of what istiod would send it (dynamic clusters,
  listeners, routes and redacted secrets; EDS with ``include_eds=true``);
* a proxy connected to another replica (or to none) gets ``404`` with the body
  ``Proxy not connected to this Pilot instance. It may be connected to another instance.``,
  so every replica is asked in turn and the first answer with resources wins;
* ``GET /debug/syncz`` answers a JSON array of SyncStatus objects for the proxies
  connected to that replica only: the status table merges every replica's answer, and a
  replica that cannot be asked, or whose answer is not a sync status (an HTML page, an
  unrelated JSON value), is reported beside the answers of the others (its proxies are
  missing from them) rather than failing the whole question;
* debug handlers answer only localhost (a port-forward is) or authenticated callers
  (``401`` otherwise), and are not registered at all when ``ENABLE_DEBUG_ON_HTTP=false``
  (Go's plain ``404 page not found``).

One module over 500 lines because it is one client of one service: finding the
replicas, reaching each, asking them in turn and telling their answers (and failures)
apart follow the facts above together; the parsing of what istiod says lives in
:mod:`pdebug.model.syncz`.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from pdebug.errors import InvalidInput, PdebugError, SourceUnavailable, UsageError
from pdebug.sources.admin import AdminHTTPError, AdminSource, AnswerError, normalise_admin_url

if TYPE_CHECKING:
    from pdebug.model.syncz import IstiodAnswer, SyncDocument
    from pdebug.sources.base import IstiodChoice, LiveOptions
    from pdebug.sources.kube import KubeCluster, Pod

__all__ = [
    "DEFAULT_NAMESPACE",
    "DEFAULT_PORT",
    "NOT_CONNECTED",
    "Istiod",
    "ReplicaFailure",
    "SynczAnswers",
    "has_resources",
    "proxy_id_of_node",
    "saved_syncz",
]

Json = dict[str, Any]

DEFAULT_NAMESPACE = "istio-system"
#: istiod's monitoring port, where the HTTP debug endpoints live.
DEFAULT_PORT = 15014
PORT_ANNOTATION = "prometheus.io/port"
#: The start of istiod's 404 body for a proxy that is not connected to that replica.
NOT_CONNECTED = "Proxy not connected to this Pilot instance"
SYNCZ = "/debug/syncz"
_STATUS_HINT = "pdebug status lists the proxies istiod knows, and which replica each is on"
#: The section fields whose entries count as "resources" in an istiod config dump.
_RESOURCE_FIELDS = (
    ("clusters", "dynamic_active_clusters"),
    ("listeners", "dynamic_listeners"),
    ("routes", "dynamic_route_configs"),
    ("secrets", "dynamic_active_secrets"),
    ("endpoints", "dynamic_endpoint_configs"),
)


class _Client(Protocol):
    def get(self, path: str) -> bytes: ...

    def close(self) -> None: ...


@dataclass
class _Replica:
    """One istiod to ask: a pod (through a port-forward) or the ``--istiod`` URL."""

    name: str  # the pod name, or the URL: what the ISTIOD column and labels show
    label: str  # how errors name it: pod/NAME.NS, or the URL
    port: int
    client: _Client


@dataclass(frozen=True)
class ReplicaFailure:
    """A replica that could not be asked, or refused.

    Attributes:
        replica: The pod name (or the URL), as the ISTIOD column shows it.
        label: How the error names it (``pod/NAME.NS``).
        error: What went wrong; its message starts with ``label``.
    """

    replica: str
    label: str
    error: PdebugError

    @property
    def reason(self) -> str:
        """The error's message without the leading ``label: ``."""
        return self.error.message.removeprefix(f"{self.label}: ")


@dataclass
class SynczAnswers:
    """``/debug/syncz`` of every replica: the answers, and why the other replicas gave none.

    Attributes:
        answers: ``(replica, body)`` of each replica that answered, in replica order.
        failures: The replicas that did not answer; the proxies connected to them are
            missing from ``answers``.
        parsed: The non-empty answers, parsed (in replica order).
    """

    answers: list[tuple[str, bytes]] = field(default_factory=list)
    failures: list[ReplicaFailure] = field(default_factory=list)
    parsed: list[IstiodAnswer] = field(default_factory=list)

    def document(self, label: str) -> SyncDocument:
        """The answers merged, as :func:`pdebug.model.syncz.parse_answers` would."""
        from pdebug.model.syncz import SyncDocument

        return SyncDocument(label, list(self.parsed), keyed=True)


class Istiod:
    """The istiod replicas of one control plane, asked over HTTP (``:15014/debug/...``).

    Args:
        options: Context, kubeconfig and timeout (the proxy's namespace is not used).
        namespace: Where istiod runs (``--istio-namespace``).
        revision: Only the control plane of this revision (``istio.io/rev``).
        url: ``--istiod``: one address to ask instead of discovering pods.
        cluster: A Kubernetes session to share with the proxy's source.

    Raises:
        UsageError: ``url`` is not an HTTP(S) URL (raised here, before any I/O).

    Nothing is contacted until :meth:`config_dump` or :meth:`syncz`.
    """

    def __init__(
        self,
        options: LiveOptions,
        *,
        namespace: str | None = None,
        revision: str | None = None,
        url: str | None = None,
        cluster: KubeCluster | None = None,
    ) -> None:
        self.options = options
        self.namespace = namespace or DEFAULT_NAMESPACE
        self.revision = revision
        self.url = _check_url(url) if url is not None else None
        self.label = self.url or f"istiod in namespace {self.namespace}"
        self._cluster = cluster
        self._owns_cluster = cluster is None
        self._replicas: list[_Replica] | None = None
        #: Replicas given up on (unreachable, hanging, no sync status): never asked again.
        self.failed: dict[str, ReplicaFailure] = {}

    @classmethod
    def of(
        cls, choice: IstiodChoice, options: LiveOptions, cluster: KubeCluster | None = None
    ) -> Istiod:
        """The control plane ``choice`` names (nothing is asked yet)."""
        return cls(
            options,
            namespace=choice.namespace,
            revision=choice.revision,
            url=choice.url,
            cluster=cluster,
        )

    def use_cluster(self, cluster: KubeCluster) -> None:
        """Discover through this (shared) session; :meth:`close` leaves it open."""
        self._cluster = cluster
        self._owns_cluster = False

    @property
    def selector(self) -> str:
        """The label selector of the istiod pods."""
        return "app=istiod" + (f",istio.io/rev={self.revision}" if self.revision else "")

    def describe(self) -> str:
        """Who was asked, for notes: the URL, or the namespace and pod names."""
        if self.url is not None:
            return f"istiod at {self.url}"
        names = ", ".join(r.name for r in self._replicas or [])
        return f"istiod in {self.namespace}" + (f" ({names})" if names else "")

    # ------------------------------------------------------------------ questions

    def config_dump(
        self, proxy_id: str, include_eds: bool = False, *, prefer: str | None = None
    ) -> tuple[bytes, str]:
        """Ask for istiod's view of one proxy: the first replica's answer that has resources.

        ``prefer`` (the replica the sync status says the proxy is connected to) is asked
        first; replicas in :attr:`failed` (unreachable, hanging) are not asked again.

        Returns:
            The body (an Envoy admin config dump) and the replica that answered it.

        Raises:
            SourceUnavailable: No istiod, none reachable, or none knows ``proxy_id``.
            InvalidInput: A replica answered something that is not a config dump (and no
                other replica had the proxy).
        """
        path = "/debug/config_dump?proxyID=" + urllib.parse.quote(proxy_id, safe="~.-_")
        if include_eds:
            path += "&include_eds=true"
        failures: list[PdebugError] = []
        empty: list[_Replica] = []
        unknown: list[_Replica] = []
        replicas = sorted(self.replicas(), key=lambda r: r.name != prefer)  # stable
        for replica in replicas:
            if replica.name in self.failed:
                continue
            try:
                body = replica.client.get(path)
            except AdminHTTPError as exc:
                if exc.status == 404 and NOT_CONNECTED in exc.message:
                    unknown.append(replica)
                else:
                    failures.append(self._http_error(replica, exc, path))
                continue
            except SourceUnavailable as exc:
                error = self._unreachable(replica, exc)
                self.failed[replica.name] = ReplicaFailure(replica.name, replica.label, error)
                failures.append(error)
                continue
            where = f"{replica.label} {path}"
            if not body.strip():
                failures.append(
                    InvalidInput(
                        f"{where}: istiod answered with an empty body",
                        hint="istiod may be restarting or overloaded; try again, or read its "
                        f"log: {self._logs_command(replica)}",
                    )
                )
                continue
            try:
                found = has_resources(body, where)
            except InvalidInput as exc:
                failures.append(
                    InvalidInput(
                        exc.message.replace(": this is ", ": istiod answered ", 1),
                        hint=f"is port {replica.port} istiod's monitoring port? (the pod's "
                        f"{PORT_ANNOTATION} annotation, else {DEFAULT_PORT})",
                    )
                )
                continue
            if found:
                return body, replica.name
            empty.append(replica)
        if failures:
            raise failures[0]
        if not empty and not unknown and self.failed:
            raise next(iter(self.failed.values())).error
        if empty:
            raise SourceUnavailable(
                f"{empty[0].label}: istiod knows proxy {proxy_id} but has no clusters, "
                "listeners or routes for it",
                hint="it may have connected just now; try again. " + _STATUS_HINT,
            )
        asked = ", ".join(r.name for r in unknown)
        if self.url is not None:
            raise SourceUnavailable(
                f"proxy {proxy_id} is not connected to istiod at {self.url}",
                hint="with several replicas, forward the one it is on, or drop --istiod to "
                "ask them all; " + _STATUS_HINT,
            )
        raise SourceUnavailable(
            f"proxy {proxy_id} is not connected to any istiod in namespace {self.namespace} "
            f"(asked {asked})",
            hint="is it in the mesh and on this control plane (--revision)? " + _STATUS_HINT,
        )

    def syncz(self) -> SynczAnswers:
        """``/debug/syncz`` of every replica that answers, and why the others did not.

        Every answer kept is a sync status (or empty, as istioctl drops); a replica that
        answers something else (an HTML page, ``{"foo": 1}``) is a failure like an HTTP
        error. Failed replicas are remembered in :attr:`failed`.

        Raises:
            SourceUnavailable: No istiod, or none of them answered (the first replica's
                error).
            InvalidInput: None answered, and the first answered something else.
        """
        result = SynczAnswers()
        for replica in self.replicas():
            error: PdebugError
            try:
                body = replica.client.get(SYNCZ)
            except AdminHTTPError as exc:
                error = self._http_error(replica, exc, SYNCZ)
            except SourceUnavailable as exc:
                error = self._unreachable(replica, exc)
            else:
                try:
                    parsed = _parse_syncz(replica, body)
                except InvalidInput as exc:
                    error = exc
                else:
                    result.answers.append((replica.name, body))
                    if parsed is not None:
                        result.parsed.append(parsed)
                    continue
            failure = ReplicaFailure(replica.name, replica.label, error)
            result.failures.append(failure)
            self.failed[replica.name] = failure
        if result.failures and not result.answers:
            raise result.failures[0].error
        return result

    def close(self) -> None:
        """Close every port-forward (and the cluster session, if this object made it)."""
        for replica in self._replicas or []:
            replica.client.close()
        self._replicas = None
        if self._owns_cluster and self._cluster is not None:
            self._cluster.close()

    # ------------------------------------------------------------------ discovery

    def replicas(self) -> list[_Replica]:
        """The replicas to ask, discovered once."""
        if self._replicas is None:
            self._replicas = [self._url_replica()] if self.url else self._discover()
        return self._replicas

    def _url_replica(self) -> _Replica:
        assert self.url is not None
        port = urllib.parse.urlsplit(self.url).port or DEFAULT_PORT
        client = AdminSource(
            self.url, self.options.timeout, label=self.url, max_body=self.options.max_body
        )
        return _Replica(self.url, self.url, port, client)

    def _discover(self) -> list[_Replica]:
        from pdebug.sources.kube import KubeCluster

        if self._cluster is None:
            self._cluster = KubeCluster(self.options, self.label)
        cluster, ns, selector = self._cluster, self.namespace, self.selector
        pods = sorted(cluster.pods(ns, selector, self.label), key=lambda p: p.name)
        running = [p for p in pods if p.phase == "Running"]
        if not pods:
            raise self._not_found()
        if not running:
            states = "; ".join(f"{p.name}: {p.state}" for p in pods[:5])
            raise SourceUnavailable(
                f"no Running istiod pod in namespace {ns} (selector {selector}; {states})",
                hint=f"kubectl get pods -n {ns} -l {selector}",
            )
        replicas = []
        for pod in running:
            name, port = pod.name, _monitoring_port(pod)
            label = f"pod/{name}.{ns}"
            forward = cluster.forward(name, ns, port, label, service="istiod")
            replicas.append(_Replica(name, label, port, forward))
        return replicas

    def _not_found(self) -> SourceUnavailable:
        assert self._cluster is not None
        ns, selector = self.namespace, self.selector
        message = f"no istiod pods in namespace {ns} (selector {selector})"
        if self.revision is None:
            return SourceUnavailable(
                message,
                hint="is the control plane in another namespace? pass --istio-namespace NS "
                "(find it: kubectl get pods -A -l app=istiod)",
            )
        others = self._cluster.pods(ns, "app=istiod", self.label)
        revisions = sorted({p.labels.get("istio.io/rev") or "default" for p in others})
        there = f"revisions there: {', '.join(revisions)}" if revisions else "no istiod at all"
        return SourceUnavailable(
            f"{message}; {there}",
            hint="check --revision (kubectl get pods -A -l app=istiod -L istio.io/rev), "
            "or --istio-namespace",
        )

    # ------------------------------------------------------------------ errors

    def _logs_command(self, replica: _Replica) -> str:
        if self.url is not None:
            return f"kubectl logs -n {self.namespace} deploy/istiod"
        return f"kubectl logs -n {self.namespace} {replica.name}"

    def _http_error(self, replica: _Replica, exc: AdminHTTPError, path: str) -> PdebugError:
        """An istiod answer other than 200 (and other than "not connected")."""
        snippet = _snippet(exc)
        said = f" ({snippet})" if snippet else ""
        endpoint = path.split("?", 1)[0]
        if exc.status in (401, 403):
            return SourceUnavailable(
                f"{replica.label}: istiod refused {endpoint}: HTTP {exc.status}{said}",
                hint="istiod answers /debug only to localhost or an authenticated caller: "
                "reach it through a port-forward (drop --istiod and pdebug does that)",
            )
        if exc.status == 404:
            return SourceUnavailable(
                f"{replica.label}: istiod has no {endpoint} (HTTP 404{said})",
                hint=f"is port {replica.port} istiod's monitoring port? Its debug endpoints "
                "may be off (ENABLE_DEBUG_ON_HTTP=false)",
            )
        return SourceUnavailable(
            f"{replica.label}: istiod answered HTTP {exc.status} to {path}{said}",
            hint=f"read istiod's log: {self._logs_command(replica)}",
        )

    def _unreachable(self, replica: _Replica, exc: SourceUnavailable) -> SourceUnavailable:
        """The port-forward or the connection failed: keep the message, fit the hint."""
        text = exc.message.lower()
        if isinstance(exc, AnswerError):
            if exc.fault.too_large:
                return exc  # the hint says how to raise the limit
            if not exc.fault.timed_out:
                return SourceUnavailable(
                    exc.message,
                    hint=f"is port {replica.port} istiod's monitoring port? (the pod's "
                    f"{PORT_ANNOTATION} annotation, else {DEFAULT_PORT})",
                )
        if "connection refused" in text:
            if self.url is not None:
                hint = (
                    f"forward istiod first (kubectl -n {self.namespace} port-forward "
                    f"deploy/istiod {DEFAULT_PORT}), or drop --istiod to let pdebug find it"
                )
            else:
                hint = (
                    f"is istiod up, and is {replica.port} its monitoring port (the pod's "
                    f"{PORT_ANNOTATION} annotation)? {self._logs_command(replica)}"
                )
            return SourceUnavailable(exc.message, hint=hint)
        if "within" in text:
            return SourceUnavailable(
                exc.message, hint="istiod may be busy or the answer large; raise --timeout"
            )
        if self.url is not None:
            return SourceUnavailable(exc.message, hint=f"is istiod reachable at {self.url}?")
        return exc


# ---------------------------------------------------------------------- helpers


def saved_syncz(path: str) -> tuple[SyncDocument, list[str]]:
    """A saved ``/debug/syncz`` answer, or the one a bundle (``pdebug snapshot``) recorded.

    With it, the line about the istiod replicas the bundle says did not answer.

    Raises:
        SourceUnavailable: the bundle recorded no sync status.
    """
    from pdebug.manifest import failed_replicas_note
    from pdebug.model.sniff import prepare
    from pdebug.model.syncz import read_syncz, reader
    from pdebug.sources.bundle import ISTIOD_SYNCZ, read_recorded

    recorded = read_recorded(path, ISTIOD_SYNCZ)  # only the recorded syncz is read
    if isinstance(recorded, tuple):  # a file that is no bundle: a saved answer
        data, label = recorded
        istiod = None
    else:
        istiod = recorded.manifest.get("istiod")
        if recorded.body is None:
            why = (istiod or {}).get("error")
            raise SourceUnavailable(
                f"{recorded.label}: the bundle has no recorded istiod sync status"
                + (f" ({why})" if why else ""),
                hint="ask istiod live: pdebug status (without --file); pdebug snapshot "
                "records it when istiod answers",
            )
        data, label = recorded.body, f"{recorded.label}:{ISTIOD_SYNCZ}"
    look = prepare(data, label, reader())  # the sniffer's one look, then the reader
    doc = read_syncz(look)
    if isinstance(recorded, tuple):
        return doc, []
    note = failed_replicas_note(istiod)  # said after the table
    return doc, [note] if note else []


def has_resources(body: bytes | memoryview, label: str) -> bool:
    """Whether a config dump lists at least one dynamic resource.

    Raises:
        InvalidInput: ``body`` is not a config dump (HTML, not JSON, another document).
    """
    from pdebug.model.load import load

    dump = load(body, label).dump
    if dump is None and bytes(body[:64]).strip() == b"{}":
        raise InvalidInput(  # no evidence of a /clusters document: say what it is
            f"{label}: this is an empty JSON object ({{}}), not a config dump",
            hint="istiod's /debug/config_dump answers a config dump",
        )
    if dump is None:
        raise InvalidInput(
            f"{label}: this is an Envoy /clusters document, not a config dump",
            hint="istiod's /debug/config_dump answers a config dump",
        )
    for kind, key in _RESOURCE_FIELDS:
        for section in dump.sections_of(kind):
            raw = section.raw(key)
            if raw is not None and bytes(raw).translate(None, b" \t\r\n") not in (b"[]", b"null"):
                return True
    return False


def _parse_syncz(replica: _Replica, body: bytes) -> IstiodAnswer | None:
    """``body`` parsed as a ``/debug/syncz`` answer (None when empty).

    Raises:
        InvalidInput: it is not one (the message says what it is instead).
    """
    import json

    from pdebug.model.syncz import parse_answer

    try:
        return parse_answer(replica.name, body)
    except InvalidInput:
        pass
    head = bytes(body[:512]).lstrip().lower()
    if head.startswith(b"<"):
        what = "an HTML page"
    else:
        try:
            value = json.loads(body)
        except ValueError:
            what = "something that is not JSON"
        else:
            kinds: dict[type, str] = {dict: "an object", list: "an array"}
            what = "a JSON " + kinds.get(type(value), "a value").split()[-1]
    raise InvalidInput(
        f"{replica.label}: answered {SYNCZ} with {what}, not a sync status",
        hint=f"is port {replica.port} istiod's monitoring port? (the pod's "
        f"{PORT_ANNOTATION} annotation, else {DEFAULT_PORT})",
    )


def proxy_id_of_node(node_id: str) -> str | None:
    """``POD.NS`` from an Istio node ID (``sidecar~IP~POD.NS~NS.svc.cluster.local``)."""
    parts = node_id.split("~")
    if len(parts) == 4 and parts[2]:
        return parts[2]
    return None


def _check_url(url: str) -> str:
    normal = normalise_admin_url(url)
    parsed = urllib.parse.urlsplit(normal)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise UsageError(
            f"--istiod {url}: not an HTTP URL",
            hint=f"e.g. --istiod http://127.0.0.1:{DEFAULT_PORT} after "
            f"kubectl -n istio-system port-forward deploy/istiod {DEFAULT_PORT}",
        )
    try:
        parsed.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise UsageError(
            f"--istiod {url}: bad port", hint=f"e.g. --istiod http://127.0.0.1:{DEFAULT_PORT}"
        ) from None
    return normal


def _monitoring_port(pod: Pod) -> int:
    """The pod's ``prometheus.io/port`` annotation, else 15014."""
    value = pod.annotations.get(PORT_ANNOTATION, "").strip()
    if value.isdigit() and 0 < int(value) < 65536:
        return int(value)
    return DEFAULT_PORT


def _snippet(exc: AdminHTTPError) -> str:
    """The start of the body an HTTP error message quotes in parentheses, if any."""
    rest = exc.message.partition(f"HTTP {exc.status}")[2]
    start = rest.find(" (")
    return rest[start + 2 : -1] if start >= 0 and rest.endswith(")") else ""
