"""The proxies ``pdebug assert`` judges: every SOURCE, each proxy of a bundle, each pod.

* a file: a dump, or every proxy of a snapshot/dump bundle (offline, with the istiod sync
  state the bundle recorded);
* an Envoy admin URL: that proxy;
* ``pod/NAME``, ``NAME.NS``, ``deploy/NAME``...: the pod, or every pod of the workload;
* no SOURCE with ``-n NS`` / ``-l SELECTOR``: every sidecar those select, as ``pdebug
  snapshot`` finds them, read in parallel.

A proxy that cannot be read is kept, with why: its expectations say ERROR, and the others
are still judged.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pdebug.errors import PdebugError, SourceUnavailable, UsageError
from pdebug.runbook.evaluate import Proxy
from pdebug.sources.base import IstiodChoice, LiveOptions
from pdebug.sources.spec import AdminSpec, FileSpec, KubeSpec, MemberSpec

if TYPE_CHECKING:
    from pdebug.sources.spec import SourceSpec


@dataclass(frozen=True)
class Selection:
    """What the command line names (its SOURCE words parsed once, at the edge)."""

    sources: tuple[SourceSpec, ...] = ()
    namespace: str | None = None
    selector: str | None = None
    parallel: int = 8


def add_sync(proxies: list[Proxy], options: LiveOptions, choice: IstiodChoice) -> None:
    """Ask istiod's ``/debug/syncz`` once; each proxy without a recorded state gets its own.

    A proxy istiod does not list (connected elsewhere, or not at all), or an istiod that
    cannot be asked, is said in the proxy's ``sync_error`` (its sync expectations then say
    ERROR with that reason).
    """
    wanting = [p for p in proxies if p.data is not None and p.sync is None]
    if not wanting:
        return
    from pdebug.snapshot import sync_by_proxy
    from pdebug.sources.istiod import Istiod

    istiod = Istiod.of(choice, options)
    try:
        states = sync_by_proxy(istiod.syncz().document("istiod /debug/syncz"))
    except PdebugError as exc:
        for p in wanting:
            p.sync_error = f"istiod's sync status could not be read: {exc.message}"
        return
    finally:
        istiod.close()
    for p in wanting:
        state = states.get(f"{p.name}.{p.namespace}")
        if state is None:
            p.sync_error = (
                f"istiod ({istiod.label}) does not list {p.name}.{p.namespace}: not connected "
                "to this control plane (-i, -r)"
            )
        else:
            p.sync = state


def gather(sel: Selection, options: LiveOptions) -> tuple[list[Proxy], bool]:
    """The proxies, and whether one could not be reached (an exit-3 condition)."""
    if not sel.sources and not (sel.namespace or sel.selector):
        raise UsageError(
            "say which proxies to judge",
            hint="SOURCE... (dumps, bundles, admin URLs, pods, workloads), or -n NS / -l SELECTOR",
        )
    proxies: list[Proxy] = []
    kube: list[str] = []
    for spec in sel.sources:
        match spec:
            case FileSpec() | MemberSpec():
                proxies += _files(spec)
            case AdminSpec():
                proxies.append(_live(spec, options))
            case KubeSpec():
                kube.append(spec.text)
    if kube or (not sel.sources and (sel.namespace or sel.selector)):
        if kube and sel.selector:
            raise UsageError("give pods/workloads or -l SELECTOR, not both")
        proxies += _pods(tuple(kube), sel, options)
    unreachable = any(p.data is None and p.error_code == 3 for p in proxies)
    return proxies, unreachable


def is_file(spec: SourceSpec) -> bool:
    """Whether a SOURCE is a file (a dump or a bundle), not a live proxy."""
    return spec.kind == "file"


def _files(spec: FileSpec | MemberSpec) -> list[Proxy]:
    from pdebug.inputs import read_inputs

    inputs = read_inputs(spec)
    out = []
    for data in inputs.proxies:
        info = inputs.info.get(data.source)
        if info is not None and (info.unreadable or (data.dump is None and data.health is None)):
            why = info.unreadable or "; ".join(info.errors) or "not captured"
            out.append(Proxy(data.source, None, why, name=info.name or data.source))
            continue
        sync = info.sync_states if info is not None else None
        out.append(Proxy.of(data.source, data, sync))
    return out


def _load(spec: AdminSpec | KubeSpec, options: LiveOptions) -> Proxy:
    from pdebug.proxy import Fetch, load_proxy

    fetch = Fetch.checks()
    data = load_proxy(spec, options, fetch)
    return Proxy.of(data.source, data)


def _live(spec: AdminSpec | KubeSpec, options: LiveOptions) -> Proxy:
    try:
        return _load(spec, options)
    except PdebugError as exc:
        proxy = Proxy(spec.text, None, exc.message)
        proxy.error_code = int(exc.exit_code)
        return proxy


def _pods(targets: tuple[str, ...], sel: Selection, options: LiveOptions) -> list[Proxy]:
    from pdebug import snapshot
    from pdebug.sources.kube import KubeCluster

    choice = snapshot.Selection(targets, sel.namespace, False, sel.selector)
    choice.check()
    with KubeCluster(options, choice.describe(sel.namespace or "default")) as cluster:
        records = snapshot.discover(
            cluster, snapshot.SnapshotOptions(options, choice, parallel=sel.parallel)
        )
    if not records:
        raise SourceUnavailable(
            f"no pods in {choice.describe(sel.namespace or 'the namespace')}",
            hint="check -n/-l: kubectl get pods -n NS -l SELECTOR",
        )
    wanted = [r for r in records if r.status != "skipped"]
    with ThreadPoolExecutor(max_workers=max(1, sel.parallel)) as pool:
        loaded = list(
            pool.map(
                lambda r: (
                    _live(KubeSpec(f"pod/{r.pod}.{r.namespace}"), options)
                    if not r.errors
                    else _failed(r.label, "; ".join(r.errors))
                ),
                wanted,
            )
        )
    return loaded


def _failed(label: str, why: str) -> Proxy:
    proxy = Proxy(label, None, why)
    proxy.error_code = 3
    return proxy
