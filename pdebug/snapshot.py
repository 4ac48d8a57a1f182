"""Capture many sidecars at once into one bundle (``pdebug snapshot``).

The flow: list the pods the selection names (one shared :class:`KubeCluster`), sort them
into *planned* (Running, with the sidecar), *skipped* (no sidecar container, or a
finished pod) and *failed* (a pod named on the command line that cannot be read, a
Pending pod, a dead sidecar); capture the planned ones with ``parallel`` worker threads,
each with a :class:`PodForward` of its own; then write the bundle.

Per proxy the bundle holds ``config_dump?include_eds``, ``/clusters?format=json``,
``/server_info`` and ``/certs`` (redacted unless asked otherwise), plus istiod's view of
the proxy when istiod is reachable (see :class:`_Istiod`). A failure of one proxy is
recorded in the manifest and never stops the others; ``--timeout`` bounds every request.

Atomicity: documents are staged in a hidden temp directory beside the output (a worker
writes a proxy's files under a lock, and never after the stage is discarded); the bundle
is made from it and renamed into place at the very end, so an interrupted snapshot (Ctrl-C
or SIGTERM) leaves nothing that looks complete, and no temp files. A stage is named after
its host and process (``.pdebug-snapshot-HOST-PID-*.tmp``): one left by a snapshot that was
killed outright (SIGKILL) is removed by the next snapshot writing to the same directory.
An existing ``-o`` file is never replaced without ``force``.

istiod is optional: :class:`_Istiod` is the one place :mod:`pdebug.sources.istiod`
plugs in, and every failure there becomes the manifest's ``istiod: {error: ...}`` (or a
proxy's ``istiod_error``) while the snapshot goes on.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import queue
import re
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from pdebug import bundle
from pdebug.errors import PdebugError, SourceUnavailable, UsageError
from pdebug.redact import redact_bytes

if TYPE_CHECKING:
    from pdebug.model.syncz import SyncDocument
    from pdebug.sources import LiveOptions
    from pdebug.sources.kube import KubeCluster

__all__ = [
    "PATHS",
    "ProxyRecord",
    "Selection",
    "SnapshotOptions",
    "SnapshotResult",
    "failed_replicas_note",
    "member_name",
    "sync_by_proxy",
    "take_snapshot",
]

Json = dict[str, Any]

#: What is saved per proxy: bundle member -> admin path.
PATHS = {
    bundle.DUMP: "/config_dump?include_eds",
    bundle.CLUSTERS: "/clusters?format=json",
    bundle.SERVER_INFO: "/server_info",
    bundle.CERTS: "/certs",
    bundle.STATS: "/stats?format=json",
}
#: Pods in these phases are done: there is no proxy to read, and nothing is wrong.
_FINISHED = ("Succeeded", "Failed")
#: The longest member directory name kept as is (file systems allow 255 bytes).
MAX_MEMBER = 200


def member_name(proxy_id: str) -> str:
    """A bundle member (directory) name for ``POD.NS``, short enough for a file name.

    ``POD.NS`` itself when it is at most :data:`MAX_MEMBER` bytes, else its start plus
    ``-`` and 16 hex digits of its sha256: Kubernetes allows a 253-character pod name
    and a 63-character namespace, too long for one file name. The manifest's ``pod``
    and ``namespace`` keep the full names.
    """
    raw = proxy_id.encode()
    if len(raw) <= MAX_MEMBER:
        return proxy_id
    digest = hashlib.sha256(raw).hexdigest()[:16]
    head = raw[: MAX_MEMBER - 17].decode("utf-8", "ignore")
    return f"{head}-{digest}"


# --------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class Selection:
    """Which pods to capture: TARGETs, or ``-n``/``-A`` with an optional ``-l``.

    Attributes:
        targets: ``pod/NAME``, ``NAME.NS``, ``deploy/NAME``... (KubeSource syntax); a
            workload means all of its pods.
        namespace: ``-n``: the namespace to list, and of TARGETs without ``.NS``.
        all_namespaces: ``-A``.
        selector: ``-l``: a label selector.
    """

    targets: tuple[str, ...] = ()
    namespace: str | None = None
    all_namespaces: bool = False
    selector: str | None = None

    def check(self) -> None:
        """Reject combinations that cannot work, before any I/O.

        Raises:
            UsageError: nothing selected, ``-A`` with ``-n``, or TARGETs with ``-A``/``-l``.
        """
        from pdebug.sources.kube import parse_target

        if self.all_namespaces and self.namespace:
            raise UsageError("give -n NAMESPACE or -A, not both")
        if self.targets and (self.all_namespaces or self.selector):
            raise UsageError(
                "give TARGETs or -A / -l SELECTOR, not both",
                hint="e.g. pdebug snapshot -n shop -l app=web, or pdebug snapshot pod/a pod/b",
            )
        if not (self.targets or self.namespace or self.all_namespaces or self.selector):
            raise UsageError(
                "say which proxies to capture",
                hint="-n NAMESPACE, -A (every namespace), -l SELECTOR, or pods/workloads "
                "(pod/NAME, NAME.NS, deploy/NAME)",
            )
        for text in self.targets:
            parse_target(text, self.namespace)

    def plain(self) -> Json:
        """The selection for the manifest."""
        return {
            "targets": list(self.targets),
            "namespace": self.namespace,
            "all_namespaces": self.all_namespaces,
            "selector": self.selector,
        }

    def describe(self, namespace: str) -> str:
        """In words, e.g. ``pods matching app=web in namespace shop``."""
        if self.targets:
            n = len(self.targets)
            return ", ".join(self.targets) if n <= 3 else f"{n} targets"
        where = "all namespaces" if self.all_namespaces else f"namespace {namespace}"
        if self.selector:
            return f"pods matching {self.selector} in {where}"
        return where

    def pods(self, namespace: str) -> str:
        """The listed pods in words: ``pods in namespace shop``, ``pods matching X in ...``."""
        where = "any namespace" if self.all_namespaces else f"namespace {namespace}"
        return f"pods matching {self.selector} in {where}" if self.selector else f"pods in {where}"


@dataclass(frozen=True)
class SnapshotOptions:
    """How to take the snapshot.

    Attributes:
        live: Context, kubeconfig, admin port, container, and ``timeout`` per request.
        selection: Which pods.
        parallel: How many proxies are read at once.
        redact: Redact secrets (``--no-redact`` turns it off; recorded in the manifest).
        istiod: Ask istiod too (``--no-istiod`` turns it off).
        istio_namespace: Where istiod runs.
    """

    live: LiveOptions
    selection: Selection
    parallel: int = 8
    redact: bool = True
    istiod: bool = True
    istio_namespace: str = "istio-system"
    #: also capture the ztunnel (Istio ambient) of every node the selected pods run on
    ambient: bool = False


# --------------------------------------------------------------------------- records


@dataclass
class ProxyRecord:
    """One pod's line in the manifest.

    ``status`` is ``captured`` (the config dump is saved; ``errors`` lists any other
    document that failed), ``failed`` (no config dump: ``errors`` says why) or
    ``skipped`` (not a proxy to read: ``reason``).
    """

    pod: str
    namespace: str
    node: str | None = None
    status: str = "failed"
    errors: list[str] = field(default_factory=list)
    files: dict[str, Json] = field(default_factory=dict)
    reason: str = ""
    #: ``sidecar`` (an Envoy: every view reads it) or ``ztunnel`` (``pdebug zc`` reads it)
    kind: str = "sidecar"
    #: the pod is captured by ztunnel (annotation ``ambient.istio.io/redirection: enabled``)
    ambient: bool = False
    sync: dict[str, str] | None = None
    istiod_error: str | None = None

    @property
    def proxy_id(self) -> str:
        """``POD.NS``: how istiod and the user name the proxy."""
        return f"{self.pod}.{self.namespace}"

    @property
    def name(self) -> str:
        """The bundle member name: ``POD.NS``, shortened when too long for a file name."""
        return member_name(self.proxy_id)

    @property
    def label(self) -> str:
        """``pod/POD.NS``, as the user would type it."""
        return f"pod/{self.name}"

    def plain(self) -> Json:
        """The manifest entry (``proxies`` for captured/failed, ``skipped`` otherwise)."""
        if self.status == "skipped":
            return {
                "pod": self.pod,
                "namespace": self.namespace,
                "node": self.node,
                "reason": self.reason,
            }
        entry: Json = {
            "name": self.name,
            "source": self.label,
            "pod": self.pod,
            "namespace": self.namespace,
            "node": self.node,
            "status": self.status,
            "files": self.files,
            "errors": self.errors,
        }
        if self.sync is not None:
            entry["sync"] = self.sync
        if self.istiod_error is not None:
            entry["istiod_error"] = self.istiod_error
        if self.kind != "sidecar":
            entry["kind"] = self.kind
        return entry


@dataclass(frozen=True)
class Progress:
    """One proxy finished (or was skipped): what the command line shows."""

    record: ProxyRecord
    done: int
    total: int


@dataclass
class SnapshotResult:
    """What was written, and how each pod fared."""

    output: str
    records: list[ProxyRecord]
    istiod: Json
    manifest: Json

    def count(self, status: str) -> int:
        """How many pods have ``status``."""
        return sum(1 for r in self.records if r.status == status)

    @property
    def incomplete(self) -> int:
        """Captured proxies with a document missing."""
        return sum(1 for r in self.records if r.status == "captured" and r.errors)

    @property
    def ok(self) -> bool:
        """Every proxy captured with every document (skipped pods are fine)."""
        return self.count("failed") == 0 and self.incomplete == 0

    def summary(self) -> str:
        """``3 proxies captured, 1 failed, 2 skipped`` (plus documents missing, if any)."""
        captured = self.count("captured")
        text = f"{captured} prox{'y' if captured == 1 else 'ies'} captured"
        if self.incomplete:
            text += f" ({self.incomplete} with documents missing)"
        text += f", {self.count('failed')} failed"
        if self.count("skipped"):
            text += f", {self.count('skipped')} skipped"
        return text


# --------------------------------------------------------------------------- istiod


def _why(exc: BaseException) -> str:
    if isinstance(exc, PdebugError):
        return exc.message
    return f"internal error: {type(exc).__name__}: {exc}"


class _Istiod:
    """istiod, guarded: every failure becomes a message, and calls are serialized.

    :class:`pdebug.sources.istiod.Istiod`, asked as snapshot needs. Nothing is
    contacted on creation: istiod is discovered on the first question. It keeps one
    connection, so the workers take turns.
    """

    def __init__(self, cluster: KubeCluster, options: SnapshotOptions) -> None:
        from pdebug.sources.istiod import Istiod

        self.namespace = options.istio_namespace
        self.error: str | None = None
        self.files: dict[str, Json] = {}
        self.failed_replicas: dict[str, str] = {}  # replica -> why it gave no /debug/syncz
        self.replicas: list[str] = []  # every replica asked
        self.connected: dict[str, str] = {}  # POD.NS -> the replica syncz says it is on
        self.document: SyncDocument | None = None  # the sync status, after syncz()
        self._link: Istiod | None = None
        self._lock = threading.Lock()
        try:
            self._link = Istiod(options.live, namespace=options.istio_namespace, cluster=cluster)
        except Exception as exc:  # noqa: BLE001 - istiod is optional: never fail the snapshot
            self.error = _why(exc)

    def syncz(self) -> bytes | None:
        """The sync table; on failure, istiod is given up for this snapshot.

        It is ``{"<replica>": <its answer>, ...}``, the keyed shape pdebug status reads.
        Replicas that failed (hanging, dead) are remembered by the Istiod object, and
        not asked again for config dumps.
        """
        if self._link is None:
            return None
        try:
            with self._lock:
                result = self._link.syncz()  # raises only when no replica answered
                self.failed_replicas = {f.replica: f.error.message for f in result.failures}
                self.replicas = [n for n, _ in result.answers] + list(self.failed_replicas)
                # each answer was parsed (Istiod.syncz checked it is a sync status): write
                # it as JSON again, skipping empty ones (no proxy there; istioctl drops them)
                answers: Json = {
                    name: orjson.loads(body) for name, body in result.answers if body.strip()
                }
                if not answers and self.failed_replicas:
                    raise SourceUnavailable(next(iter(self.failed_replicas.values())))
                self.document = result.document("istiod /debug/syncz")
                return orjson.dumps(answers, option=orjson.OPT_INDENT_2) + b"\n"
        except Exception as exc:  # noqa: BLE001
            self.error = _why(exc)
            self.close()
            return None

    def config_dump(self, proxy_id: str) -> tuple[bytes | None, str | None]:
        """Istiod's config for one proxy (its syncz replica asked first), or why not."""
        link = self._link
        if link is None:
            return None, None
        try:
            with self._lock:
                body, _replica = link.config_dump(proxy_id, prefer=self.connected.get(proxy_id))
                return bytes(body), None
        except Exception as exc:  # noqa: BLE001
            return None, _why(exc)

    def plain(self) -> Json:
        """The manifest's ``istiod`` entry."""
        out: Json = {"namespace": self.namespace}
        if self.error is not None:
            out["error"] = self.error
        else:
            out["files"] = self.files
            if self.replicas:
                out["replicas"] = self.replicas
            if self.failed_replicas:
                out["failed_replicas"] = self.failed_replicas
        return out

    def close(self) -> None:
        """Close istiod's connection."""
        link, self._link = self._link, None
        if link is not None:
            with contextlib.suppress(Exception):
                link.close()


def failed_replicas_note(entry: Any) -> str | None:
    """The line about the istiod replicas that did not answer, from the manifest's ``istiod``.

    ``istiod: 1 of 3 replicas did not answer (istiod-b: REASON); proxies connected to it
    have no istiod view``; None when every replica answered (or nothing was recorded).
    """
    if not isinstance(entry, dict):
        return None
    failed = entry.get("failed_replicas")
    if not isinstance(failed, dict) or not failed:
        return None
    asked = entry.get("replicas")
    total = len(asked) if isinstance(asked, list) and len(asked) >= len(failed) else None
    reasons = "; ".join(f"{name}: {_reason(str(name), str(why))}" for name, why in failed.items())
    n = len(failed)
    verb = "replica did" if (total or n) == 1 else "replicas did"
    counted = f"{n} of {total} {verb}" if total is not None else f"{n} {verb}"
    them = "it" if n == 1 else "them"
    return (
        f"istiod: {counted} not answer ({reasons}); proxies connected to {them} have no istiod view"
    )


def _reason(name: str, why: str) -> str:
    """``why`` without its leading ``pod/NAME.NS: `` (or ``NAME: ``)."""
    if why.startswith(f"pod/{name}.") and ": " in why:
        return why.partition(": ")[2]
    return why.removeprefix(f"{name}: ")


#: istiod's sync states, as istioctl prints them.
_SYNC_TEXT = {"UNKNOWN": "IGNORED", "NOT_SENT": "NOT SENT"}
_SYNC_TEXT["STALE_NEVER_ACKED"] = "STALE (Never Acknowledged)"


def sync_by_proxy(
    document: SyncDocument, connected: dict[str, str] | None = None
) -> dict[str, dict[str, str]]:
    """Per ``POD.NS``: ``{"CDS": "SYNCED", "LDS": "STALE", ...}`` from a sync status.

    ``connected``, when given, is filled with ``POD.NS -> the istiod replica it is on``.
    """
    from pdebug.model import syncz as m

    order = {m.CDS: 0, m.LDS: 1, m.EDS: 2, m.RDS: 3, m.ECDS: 4}
    out: dict[str, dict[str, str]] = {}
    for proxy in document.proxies():
        # xDS answers may carry the whole node ID: sidecar~IP~POD.NS~NS.svc.cluster.local
        parts = proxy.name.split("~")
        key = parts[2] if len(parts) == 4 else proxy.name
        types = sorted(proxy.types.values(), key=lambda t: (order.get(t.type_url, 9), t.type_url))
        out[key] = {m.short_name(t.type_url): _SYNC_TEXT.get(t.status, t.status) for t in types}
        if connected is not None and proxy.istiod:
            connected.setdefault(key, proxy.istiod)
    return out


# --------------------------------------------------------------------------- discovery


def _meta(pod: Json, key: str) -> str:
    return str((pod.get("metadata") or {}).get(key) or "")


#: What istio-cni writes on each pod ztunnel captures (Istio ambient).
AMBIENT_ANNOTATION = "ambient.istio.io/redirection"


def _record(pod: Json, namespace: str) -> ProxyRecord:
    node = (pod.get("spec") or {}).get("nodeName")
    record = ProxyRecord(
        _meta(pod, "name"), _meta(pod, "namespace") or namespace, str(node) if node else None
    )
    annotations = (pod.get("metadata") or {}).get("annotations") or {}
    if isinstance(annotations, dict):
        record.ambient = annotations.get(AMBIENT_ANNOTATION) == "enabled"
    return record


def _has_container(pod: Json, container: str) -> bool:
    spec = pod.get("spec") or {}
    names = {c.get("name") for c in spec.get("containers") or []}
    for init in spec.get("initContainers") or []:
        if init.get("restartPolicy") == "Always":  # Istio's native sidecar
            names.add(init.get("name"))
    return container in names


def _sort(pod: Json, namespace: str, container: str, explicit: bool) -> ProxyRecord:
    """A record: planned (status ``pending``), skipped or failed, with the reason."""
    from pdebug.sources.kube import sidecar_problem

    record = _record(pod, namespace)
    problem = sidecar_problem(pod, container)
    if problem is None:
        record.status = "pending"
        return record
    what = problem[0].replace("{pod}", "the pod")
    phase = (pod.get("status") or {}).get("phase")
    if not explicit and (not _has_container(pod, container) or phase in _FINISHED):
        record.status, record.reason = "skipped", what
    else:
        record.errors.append(what)
    return record


def discover(cluster: KubeCluster, options: SnapshotOptions) -> list[ProxyRecord]:
    """Every pod the selection names, sorted by namespace and name, each with a status.

    A TARGET that cannot be read (not found, forbidden) becomes a failed record; a failed
    listing (``-n``/``-A``/``-l``) is an error: there would be nothing to capture.

    Raises:
        SourceUnavailable: the pods cannot be listed.
    """
    from pdebug.sources.kube import owned_pods, parse_target, selector_text

    sel, container = options.selection, options.live.container
    found: dict[str, ProxyRecord] = {}

    def add(record: ProxyRecord) -> None:
        found.setdefault(record.name, record)

    if not sel.targets:
        ns = None if sel.all_namespaces else cluster.namespace(sel.namespace)
        label = sel.pods(ns or "")
        for pod in cluster.list("pods", ns, sel.selector or "", label):
            add(_sort(pod, ns or "", container, explicit=False))
    for text in sel.targets:
        target = parse_target(text, sel.namespace)
        ns = cluster.namespace(target.namespace or sel.namespace)
        shown = text if target.namespace else f"{text}.{ns}"
        try:
            if target.kind == "pod":
                add(_sort(cluster.read("pods", target.name, ns, shown), ns, container, True))
                continue
            workload = cluster.read(target.resource, target.name, ns, shown)
            selector = selector_text((workload.get("spec") or {}).get("selector") or {})
            pods = cluster.list("pods", ns, selector, shown) if selector else []
            owned = owned_pods(cluster, workload, target.kind, pods, selector, shown, ns)
            if not owned:
                why = f"{shown}: the {target.kind} has no pods"
                add(ProxyRecord(target.name, ns, errors=[why]))
            for pod in owned:
                add(_sort(pod, ns, container, explicit=False))
        except SourceUnavailable as exc:
            add(ProxyRecord(target.name, ns, errors=[exc.message]))
    return sorted(found.values(), key=lambda r: (r.namespace, r.pod))


# --------------------------------------------------------------------------- capture


def _looks_like_dump(body: bytes) -> bool:
    head = body[:4096].lstrip()
    return head.startswith(b"{") and b'"configs"' in body[: 1 << 20]


_STAGE_PREFIX = ".pdebug-snapshot-"
_STAGE = re.compile(r"^\.pdebug-snapshot-(?P<host>.+)-(?P<pid>\d+)-[^-]+\.tmp$")


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "_", socket.gethostname()) or "host"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. EPERM: someone else's live process
        return True
    return True


def remove_stale_stages(parent: str) -> list[str]:
    """Remove stages left in ``parent`` by snapshots of this host that are no longer running.

    Only directories named as :class:`_Stage` names them, for this host, whose process is
    gone: a snapshot running elsewhere (another host on a shared disk, another process
    here) is left alone. Returns the names removed.
    """
    host, removed = _host(), list[str]()
    try:
        names = os.listdir(parent)
    except OSError:
        return removed
    for name in names:
        match = _STAGE.match(name)
        if match is None or match["host"] != host or _alive(int(match["pid"])):
            continue
        path = os.path.join(parent, name)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(name)
    return removed


class _Stage:
    """The hidden temp directory where documents wait for the bundle."""

    def __init__(self, parent: str, target: str) -> None:
        """Create the stage in ``parent`` (the output's directory).

        Raises:
            SourceUnavailable: ``cannot write TARGET: REASON`` (read-only, missing, full).
        """
        from pdebug.atomic import cannot_write

        prefix = f"{_STAGE_PREFIX}{_host()}-{os.getpid()}-"
        try:
            self.root = tempfile.mkdtemp(prefix=prefix, suffix=".tmp", dir=parent)
        except OSError as exc:
            raise cannot_write(target, exc) from None
        self.lock = threading.Lock()
        self.closed = False
        self.members: list[str] = []

    def write(self, name: str, body: bytes) -> None:
        """Write one member (``POD.NS/file`` or a top-level file), unless cancelled."""
        with self.lock:
            if self.closed:
                raise _Cancelled
            directory, _, _ = name.rpartition("/")
            if directory and not os.path.isdir(os.path.join(self.root, directory)):
                os.mkdir(os.path.join(self.root, directory))  # never the root itself
            with open(os.path.join(self.root, name), "wb") as fh:
                fh.write(body)
            self.members.append(name)

    def discard(self) -> None:
        """Remove everything staged (idempotent); later writes are refused."""
        with self.lock:
            self.closed = True
            shutil.rmtree(self.root, ignore_errors=True)


class _Cancelled(Exception):
    """The snapshot was interrupted: stop this proxy quietly."""


def _capture(
    record: ProxyRecord,
    cluster: KubeCluster,
    options: SnapshotOptions,
    istiod: _Istiod | None,
    stage: _Stage,
    cancel: threading.Event,
) -> None:
    """Read one proxy's documents and stage them; every failure lands in ``record``."""
    from pdebug.sources.admin import AdminHTTPError

    files: dict[str, bytes] = {}
    forward = cluster.forward(record.pod, record.namespace, options.live.admin_port, record.label)
    try:
        for name, path in PATHS.items():
            if cancel.is_set():
                raise _Cancelled
            try:
                body = forward.get(path)
            except AdminHTTPError as exc:
                record.errors.append(exc.message)
                continue
            except SourceUnavailable as exc:
                record.errors.append(exc.message)
                break  # unreachable or hanging: the other documents would fail the same way
            files[name] = redact_bytes(body, tokens=options.redact)  # keys always go
    finally:
        forward.close()
    if bundle.DUMP in files and not _looks_like_dump(files[bundle.DUMP]):
        del files[bundle.DUMP]
        record.errors.append(f"{record.label}: the admin did not answer with a config dump")
    if istiod is not None and bundle.DUMP in files and not cancel.is_set():
        expected, error = istiod.config_dump(record.proxy_id)
        if expected is not None:
            files[bundle.ISTIOD_DUMP] = redact_bytes(expected, tokens=options.redact)
        record.istiod_error = error
    for name, body in files.items():
        stage.write(f"{record.name}/{name}", body)
        record.files[name] = bundle.file_entry(body)
    record.status = "captured" if bundle.DUMP in files else "failed"


def ztunnels_of(
    cluster: KubeCluster, options: SnapshotOptions, nodes: list[str]
) -> list[ProxyRecord]:
    """A record per ztunnel pod (the ``ztunnel`` DaemonSet) on ``nodes``, to capture."""
    from pdebug.sources.ztunnel import DAEMONSET, ztunnel_pods

    found: list[ProxyRecord] = []
    try:
        pods = ztunnel_pods(cluster, options.istio_namespace)
    except SourceUnavailable as exc:
        record = ProxyRecord(DAEMONSET, options.istio_namespace, kind="ztunnel")
        record.errors.append(f"daemonset/{DAEMONSET}.{options.istio_namespace}: {exc.message}")
        return [record]
    for pod in pods:
        record = _record(pod, options.istio_namespace)
        if record.node in nodes:
            record.kind, record.status = "ztunnel", "pending"
            found.append(record)
    return sorted(found, key=lambda r: r.pod)


def _capture_ztunnel(
    record: ProxyRecord, cluster: KubeCluster, options: SnapshotOptions, stage: _Stage
) -> None:
    """Read one ztunnel's ``/config_dump`` (its admin port) and stage it."""
    import orjson as json_

    from pdebug.model.ztunnel import looks_like_ztunnel

    forward = cluster.forward(
        record.pod, record.namespace, options.live.admin_port, record.label, service="ztunnel admin"
    )
    try:
        body = forward.get("/config_dump")
    except SourceUnavailable as exc:  # AdminHTTPError too
        record.errors.append(exc.message)
        record.status = "failed"
        return
    finally:
        forward.close()
    try:
        top = json_.loads(body)
    except json_.JSONDecodeError:
        top = None
    if not isinstance(top, dict) or not looks_like_ztunnel(top):
        record.errors.append(f"{record.label}: the admin did not answer with a ztunnel dump")
        record.status = "failed"
        return
    body = redact_bytes(body, tokens=options.redact)
    stage.write(f"{record.name}/{bundle.DUMP}", body)
    record.files[bundle.DUMP] = bundle.file_entry(body)
    record.status = "captured"


def _run_workers(
    records: list[ProxyRecord],
    work: Callable[[ProxyRecord, threading.Event], None],
    parallel: int,
    report: Callable[[ProxyRecord], None],
) -> None:
    """Run ``work`` on each record with ``parallel`` daemon threads; report as each ends.

    Daemon threads, so that Ctrl-C never waits for a hanging proxy: the main thread
    sets the cancel event, and the process exits whatever the workers are doing.
    """
    todo: queue.Queue[ProxyRecord] = queue.Queue()
    done: queue.Queue[ProxyRecord] = queue.Queue()
    cancel = threading.Event()
    for record in records:
        todo.put(record)

    def worker() -> None:
        while not cancel.is_set():
            try:
                record = todo.get_nowait()
            except queue.Empty:
                return
            try:
                work(record, cancel)
            except _Cancelled:
                return
            except Exception as exc:  # noqa: BLE001 - one proxy never stops the others
                record.status = "failed"
                record.errors.append(_why(exc))
            done.put(record)

    threads = [
        threading.Thread(target=worker, name=f"pdebug-snapshot-{i}", daemon=True)
        for i in range(min(parallel, len(records)))
    ]
    for thread in threads:
        thread.start()
    try:
        for _ in records:
            while True:
                try:
                    report(done.get(timeout=0.2))
                    break
                except queue.Empty:
                    continue
    finally:
        cancel.set()


# --------------------------------------------------------------------------- output


def default_output(context: str | None, now: float | None = None) -> str:
    """``snapshot-<context>-<UTC time>.tar.gz`` (the context made file-name safe)."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", context or "in-cluster").strip("_") or "cluster"
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    return f"snapshot-{safe}-{stamp}.tar.gz"


def check_output(output: str | None, directory: str | None, force: bool = False) -> None:
    """Reject an output that cannot be written, before any I/O on the cluster.

    Raises:
        UsageError: both ``-o`` and ``--dir``, a wrong extension, ``--dir`` exists, or
            the ``-o`` file exists and ``force`` is not set.
        SourceUnavailable: ``cannot write ...``: the directory is missing or not writable.
    """
    from pdebug.atomic import check_writable

    if output and directory:
        raise UsageError("give -o FILE or --dir DIR, not both")
    if output and not output.endswith((".tar.gz", ".tgz")):
        raise UsageError(
            f"{output}: a snapshot is a .tar.gz bundle",
            hint="use -o NAME.tar.gz, or --dir DIR for plain files",
        )
    if directory and os.path.lexists(directory):
        raise UsageError(
            f"--dir {directory}: already exists",
            hint="name a new directory; pdebug never writes into an existing one",
        )
    if output:
        refuse_existing(output, force)
    path = output or directory
    if path:
        check_writable(path)


def refuse_existing(output: str, force: bool) -> None:
    """Never replace an earlier capture by accident.

    Raises:
        UsageError: ``output`` exists (a directory always; a file unless ``force``).
    """
    if os.path.isdir(output):
        raise UsageError(f"{output}: is a directory", hint="-o names the bundle file to write")
    if os.path.lexists(output) and not force:
        raise UsageError(
            f"{output}: already exists",
            hint="pass --force to replace it, or name another file (-o NEW.tar.gz)",
        )


# --------------------------------------------------------------------------- the snapshot


def take_snapshot(
    options: SnapshotOptions,
    output: str | None = None,
    directory: str | None = None,
    progress: Callable[[Progress], None] | None = None,
    force: bool = False,
) -> SnapshotResult:
    """Capture the selected proxies into a bundle (``output``) or a directory.

    ``force`` lets the bundle replace an existing ``output`` file.

    Raises:
        UsageError: a bad selection or output (before any I/O), or an existing output.
        SourceUnavailable: the pods cannot be listed, none was found, or none could be
            captured (then nothing is written).
    """
    from pdebug.sources.kube import KubeCluster

    options.selection.check()
    check_output(output, directory, force)
    cluster = KubeCluster(options.live, "pdebug snapshot")
    try:
        return _snapshot(cluster, options, output, directory, progress or (lambda _: None), force)
    finally:
        cluster.close()


def _snapshot(
    cluster: KubeCluster,
    options: SnapshotOptions,
    output: str | None,
    directory: str | None,
    progress: Callable[[Progress], None],
    force: bool = False,
) -> SnapshotResult:
    sel = options.selection
    cluster.connect()
    namespace = "" if sel.all_namespaces else cluster.namespace(sel.namespace)
    records = discover(cluster, options)
    if not records:
        flag = "-A" if sel.all_namespaces else f"-n {namespace}"
        raise SourceUnavailable(
            "no " + sel.pods(namespace).replace("pods matching", "pods match", 1),
            hint=f"kubectl get pods {flag}" + (f" -l {sel.selector}" if sel.selector else ""),
        )
    # istio-cni marks each pod ztunnel captures: such a pod makes the snapshot ambient
    if options.ambient or any(r.ambient for r in records):
        nodes = sorted({r.node for r in records if r.node})
        records += ztunnels_of(cluster, options, nodes)
    planned = [r for r in records if r.status == "pending"]
    if not planned and not any(r.status == "failed" for r in records):
        raise SourceUnavailable(
            f"none of the {len(records)} {sel.pods(namespace)} runs the "
            f"{options.live.container} sidecar",
            hint="is sidecar injection on for the namespace? for another proxy container "
            "use --container; for an ambient namespace, --ambient captures its ztunnels",
        )
    target = output or directory or default_output(cluster.context)
    if not (output or directory):
        refuse_existing(target, force)
    parent = os.path.dirname(os.path.abspath(target))
    remove_stale_stages(parent)
    stage = _Stage(parent, target)
    istiod: _Istiod | None = None
    try:
        total, done = len(records), 0
        for record in records:
            if record.status != "pending":
                done += 1
                progress(Progress(record, done, total))
        if options.istiod and planned:
            istiod = _Istiod(cluster, options)
            syncz = istiod.syncz()
            if syncz is not None and istiod.document is not None:
                stage.write(bundle.ISTIOD_SYNCZ, syncz)
                istiod.files[bundle.ISTIOD_SYNCZ] = bundle.file_entry(syncz)
                sync = sync_by_proxy(istiod.document, istiod.connected)
                for record in planned:
                    record.sync = sync.get(record.proxy_id)

        def report(record: ProxyRecord) -> None:
            nonlocal done
            done += 1
            progress(Progress(record, done, total))

        def work(record: ProxyRecord, cancel: threading.Event) -> None:
            if record.kind == "ztunnel":
                _capture_ztunnel(record, cluster, options, stage)
            else:
                _capture(record, cluster, options, istiod, stage, cancel)

        _run_workers(planned, work, options.parallel, report)
        if not any(r.status == "captured" for r in records):
            failed = [r for r in records if r.status == "failed"]
            first = failed[0].errors[0] if failed and failed[0].errors else "unknown"
            raise SourceUnavailable(
                f"no proxy captured ({len(failed)} failed): {first}",
                hint="nothing was written; fix the first failure and run it again",
            )
        manifest = _manifest(cluster, options, records, istiod, namespace)
        _publish(stage, manifest, output, directory, target)
    except BaseException:
        stage.discard()
        raise
    finally:
        if istiod is not None:
            istiod.close()
    return SnapshotResult(target, records, istiod.plain() if istiod else {}, manifest)


def _manifest(
    cluster: KubeCluster,
    options: SnapshotOptions,
    records: list[ProxyRecord],
    istiod: _Istiod | None,
    namespace: str,
) -> Json:
    sel = options.selection
    where = f" in context {cluster.context}" if cluster.context else ""
    manifest = bundle.new_manifest(
        {
            "kind": "snapshot",
            "source": f"pdebug snapshot of {sel.describe(namespace)}{where}",
            "context": cluster.context,
            "targets": sel.plain(),
            "redacted": options.redact,
            "options": {
                "timeout": options.live.timeout,
                "parallel": options.parallel,
                "admin_port": options.live.admin_port,
                "container": options.live.container,
            },
        }
    )
    counts = {s: sum(1 for r in records if r.status == s) for s in ("captured", "failed")}
    manifest["summary"] = {**counts, "skipped": sum(1 for r in records if r.status == "skipped")}
    if istiod is not None:
        manifest["istiod"] = istiod.plain()
    elif not options.istiod:
        manifest["istiod"] = {"error": "not asked (--no-istiod)"}
    manifest["proxies"] = [r.plain() for r in records if r.status != "skipped"]
    manifest["skipped"] = [r.plain() for r in records if r.status == "skipped"]
    return manifest


def _publish(
    stage: _Stage, manifest: Json, output: str | None, directory: str | None, target: str
) -> None:
    """Turn the staged files into the bundle (or the directory) in one rename."""
    members = sorted(stage.members)
    if directory:
        body = orjson.dumps(manifest, option=orjson.OPT_INDENT_2)
        stage.write(bundle.MANIFEST, body)
        with stage.lock:
            os.chmod(stage.root, 0o777 & ~_umask())
            os.rename(stage.root, directory)
            stage.closed = True
        return
    bundle.write_tree(target, stage.root, manifest, members)
    stage.discard()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
