"""The snapshot itself: select, capture with worker threads, write the bundle.

List the pods the selection names (one shared :class:`KubeCluster`), capture the planned
ones with ``parallel`` worker threads (each with a port-forward of its own, see
:func:`~pdebug.snapshot.capture.capture_proxy`), then publish the stage as the bundle (or
the ``--dir`` directory) in one rename. A failure of one proxy is recorded in the manifest
and never stops the others; ``--timeout`` bounds every request.

A bundle is written as ``pdebug dump`` writes its own (#17): each document is deflated
while the next is fetched (``capture_proxy``'s ``pack``), its piece kept in the stage
(:meth:`~pdebug.snapshot.stage.Stage.keep`), and the pieces are joined into the bundle at
the end (:func:`~pdebug.snapshot.pack.write_packed`), nothing compressed again.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

import orjson

from pdebug import bundle
from pdebug.errors import SourceUnavailable
from pdebug.manifest import FileEntry, IstiodEntry, Manifest
from pdebug.redact import redact_bytes
from pdebug.snapshot.capture import (
    SNAPSHOT_PATHS,
    TEXT_FIRST,
    ZTUNNEL_PATHS,
    capture_proxy,
    every_stat,
    sealed,
    sealed_file,
)
from pdebug.snapshot.istiod import IstiodLink, sync_by_proxy, why
from pdebug.snapshot.pack import LEVEL, write_packed
from pdebug.snapshot.records import Progress, ProxyRecord, SnapshotResult
from pdebug.snapshot.select import discover, ztunnels_of
from pdebug.snapshot.stage import (
    Cancelled,
    Stage,
    check_output,
    default_output,
    refuse_existing,
    remove_stale_stages,
    umask,
)

if TYPE_CHECKING:
    from pdebug.snapshot.options import SnapshotOptions
    from pdebug.sources.kube import KubeCluster


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
    with KubeCluster(options.live, "pdebug snapshot") as cluster:
        return _snapshot(cluster, options, output, directory, progress or (lambda _: None), force)


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
    stage = Stage(parent, target)
    pack = None if directory else LEVEL  # --dir: plain files
    istiod: IstiodLink | None = None
    try:
        total, done = len(records), 0
        for record in records:
            if record.status != "pending":
                done += 1
                progress(Progress(record, done, total))
        if options.istiod and planned:
            istiod = IstiodLink(cluster, options)
            syncz = istiod.syncz()
            if syncz is not None and istiod.document is not None:
                istiod.files[bundle.ISTIOD_SYNCZ] = _stage(stage, bundle.ISTIOD_SYNCZ, syncz, pack)
                sync = sync_by_proxy(istiod.document, istiod.connected)
                for record in planned:
                    record.sync = sync.get(record.proxy_id)

        def report(record: ProxyRecord) -> None:
            nonlocal done
            done += 1
            progress(Progress(record, done, total))

        def work(record: ProxyRecord, cancel: threading.Event) -> None:
            _capture(record, cluster, options, istiod, stage, cancel, pack)

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
    return SnapshotResult(target, records, istiod.entry() if istiod else None, manifest)


def _capture(
    record: ProxyRecord,
    cluster: KubeCluster,
    options: SnapshotOptions,
    istiod: IstiodLink | None,
    stage: Stage,
    cancel: threading.Event,
    pack: int | None,
) -> None:
    """Capture one pod's proxy (and istiod's view of it); every failure lands in ``record``.

    With ``pack`` (a gzip level), each file's tar content is deflated as it is staged.
    """
    ztunnel = record.kind == "ztunnel"
    service = "ztunnel admin" if ztunnel else "Envoy admin"
    port = options.live.admin_port
    paths = every_stat(SNAPSHOT_PATHS) if options.all_stats else SNAPSHOT_PATHS
    with cluster.forward(record.pod, record.namespace, port, record.label, service=service) as fwd:
        captured = capture_proxy(
            fwd, stage, record.name, ZTUNNEL_PATHS if ztunnel else paths,
            redact=options.redact, label=record.label, ztunnel=ztunnel, cancel=cancel,
            first=() if ztunnel else TEXT_FIRST, pack=pack,
        )  # fmt: skip
    for name, piece in captured.packed.items():
        stage.keep(f"{record.name}/{name}", piece)
    record.errors += captured.errors
    record.files.update(captured.files)
    record.stats = captured.stats
    if istiod is not None and not ztunnel and captured.has_dump and not cancel.is_set():
        expected, error = istiod.config_dump(record.proxy_id)
        if expected is not None:
            body = redact_bytes(expected, tokens=options.redact)
            name = f"{record.name}/{bundle.ISTIOD_DUMP}"
            record.files[bundle.ISTIOD_DUMP] = _stage(stage, name, body, pack)
        record.istiod_error = error
    record.status = "captured" if captured.has_dump else "failed"


def _stage(stage: Stage, name: str, body: bytes, pack: int | None) -> FileEntry:
    """Stage member ``name`` (and, with ``pack``, keep its content deflated); its entry."""
    stage.write(name, body)
    entry, piece = sealed(body, pack)
    if piece is not None:
        stage.keep(name, piece)
    return entry


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
    # The main thread waits on a SimpleQueue: its get() is C code that a KeyboardInterrupt
    # from a signal handler (Ctrl-C, SIGTERM) leaves consistent; Queue.get's Condition did
    # not ("release unlocked lock", see pdebug.errors.interrupted).
    done: queue.SimpleQueue[ProxyRecord] = queue.SimpleQueue()
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
            except Cancelled:
                return
            except Exception as exc:  # noqa: BLE001 - one proxy never stops the others
                record.status = "failed"
                record.errors.append(why(exc))
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


def _manifest(
    cluster: KubeCluster,
    options: SnapshotOptions,
    records: list[ProxyRecord],
    istiod: IstiodLink | None,
    namespace: str,
) -> Manifest:
    sel = options.selection
    where = f" in context {cluster.context}" if cluster.context else ""
    counts = {s: sum(1 for r in records if r.status == s) for s in ("captured", "failed")}
    if istiod is not None:
        istiod_entry: IstiodEntry | None = istiod.entry()
    elif not options.istiod:
        istiod_entry = IstiodEntry(error="not asked (--no-istiod)")
    else:
        istiod_entry = None
    return Manifest.new(
        kind="snapshot",
        source=f"pdebug snapshot of {sel.describe(namespace)}{where}",
        context=cluster.context,
        targets=sel.plain(),
        redacted=options.redact,
        options={
            "timeout": options.live.timeout,
            "parallel": options.parallel,
            "admin_port": options.live.admin_port,
            "container": options.live.container,
        },
        summary={**counts, "skipped": sum(1 for r in records if r.status == "skipped")},
        istiod=istiod_entry,
        proxies=[r.entry() for r in records if r.status != "skipped"],
        skipped=[r.skipped() for r in records if r.status == "skipped"],
    )


def _publish(
    stage: Stage, manifest: Manifest, output: str | None, directory: str | None, target: str
) -> None:
    """Turn the staged files into the bundle (or the directory) in one rename."""
    members = sorted(stage.members)
    if directory:
        body = orjson.dumps(manifest.plain(), option=orjson.OPT_INDENT_2)
        stage.write(bundle.MANIFEST, body)
        with stage.lock:
            os.chmod(stage.root, 0o777 & ~umask())
            os.rename(stage.root, directory)
            stage.closed = True
        return
    packed = []
    for member in members:
        path = stage.path(member)
        piece = stage.pieces.get(member)
        if piece is None:  # none expected: every member is kept deflated as it is staged
            _, piece = sealed_file(path, LEVEL)
        assert piece is not None
        packed.append((member, os.path.getsize(path), piece))
    write_packed(target, manifest.plain(), packed, LEVEL)
    stage.discard()
