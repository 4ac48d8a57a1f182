"""``pdebug diff``: compare a proxy with istiod's view, an expected file, or another dump."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from pdebug.cli import app
from pdebug.cli.views import (
    AdminPortOpt,
    BundleOpt,
    ContainerOpt,
    ContextOpt,
    IstiodOpt,
    IstioNamespaceOpt,
    KubeconfigOpt,
    NamespaceOpt,
    OutputOpt,
    ProxyIdOpt,
    RevisionOpt,
    TimeoutOpt,
)
from pdebug.errors import ExitCode, UsageError

if TYPE_CHECKING:
    from pdebug.cli._run import Fetch
    from pdebug.model import ProxyData
    from pdebug.sources import LiveOptions
    from pdebug.sources.istiod import Istiod


@app.command("diff")
def diff_cmd(
    source: Annotated[
        str,
        typer.Argument(
            metavar="SOURCE", help="The proxy: a dump file, admin URL or pod.", show_default=False
        ),
    ],
    other: Annotated[
        str | None,
        typer.Argument(
            metavar="[OTHER]",
            help="A second dump/URL/pod: compare SOURCE (before) with OTHER (after).",
            show_default=False,
        ),
    ] = None,
    expected: Annotated[
        str | None,
        typer.Option(
            "--expected",
            help="A saved istiod /debug/config_dump answer to compare to.",
            metavar="FILE",
        ),
    ] = None,
    include: Annotated[
        list[str] | None,
        typer.Option(
            "--include",
            help="Also compare: secrets, endpoints, static (repeatable or comma list).",
            metavar="KINDS",
        ),
    ] = None,
    ignore: Annotated[
        str | None,
        typer.Option(
            "--ignore", help="Drop differing field paths matching this regex.", metavar="REGEX"
        ),
    ] = None,
    unified: Annotated[
        bool, typer.Option("--unified", help="Print unified JSON diffs like istioctl.")
    ] = False,
    output: OutputOpt = "table",
    istio_namespace: IstioNamespaceOpt = None,
    revision: RevisionOpt = None,
    istiod: IstiodOpt = None,
    proxy_id: ProxyIdOpt = None,
    bundle: BundleOpt = None,
    namespace: NamespaceOpt = None,
    context: ContextOpt = None,
    kubeconfig: KubeconfigOpt = None,
    admin_port: AdminPortOpt = 15000,
    container: ContainerOpt = "istio-proxy",
    timeout: TimeoutOpt = 30.0,
) -> int:
    """Say which resources and fields differ between two views of a proxy's config.

    With SOURCE alone, compares the proxy with istiod's view of it (istioctl proxy-status
    POD): pdebug finds the istiod pods, asks each for /debug/config_dump?proxyID=POD.NS and
    takes the first that knows the proxy. A bundle member (BUNDLE:POD.NS, --bundle) is
    compared with the istiod view the snapshot recorded. Or compare with OTHER, or with
    --expected FILE.

    First istioctl's verdicts (Clusters/Listeners/Routes Match or Don't Match), then each
    resource only on one side, each changed field as old -> new, and why Envoy rejected
    an update when it did. Exit 0 when the same, 1 when different, >1 on error.

    Example: pdebug diff pod/productpage-v1-abc -n default

    Example: pdebug diff before.json after.json

    Example: pdebug diff dump.json --expected istiod-view.json --include secrets
    """
    from pdebug import diff as d
    from pdebug.cli._run import Fetch, Target, bundle_diff, bundle_pair, bundle_source, load_proxy
    from pdebug.render import get_format
    from pdebug.sources import LiveOptions
    from pdebug.views import diffreport

    # Bundles (pdebug snapshot): --bundle B picks proxies in B; B1 B2 compares every proxy.
    if bundle is not None:
        source = bundle_source(bundle, source, namespace)
        other = bundle_source(bundle, other, namespace) if other else None
    elif not expected and bundle_pair(source, other):
        extra = {"--unified": unified, "--istiod": istiod, "--proxy-id": proxy_id}
        extra |= {"--revision": revision, "--istio-namespace": istio_namespace}
        given = ", ".join(k for k, x in extra.items() if x)
        if given:
            raise UsageError(
                f"{given}: not for comparing two bundles (every proxy in both)",
                hint="to look closer at one proxy: pdebug diff B1:POD.NS B2:POD.NS " + given,
            )
        return bundle_diff(source, other, include, ignore, output)
    fmt = get_format(output)
    kinds = list(d.DEFAULT_KINDS)
    include_static = False
    for item in ",".join(include or []).split(","):
        item = item.strip().lower()
        if not item:
            continue
        if item == "static":
            include_static = True
        elif item in ("secrets", "endpoints"):
            kinds.append(item)
        else:
            raise UsageError(f"--include {item}: unknown", hint="use secrets, endpoints or static")
    if other and expected:
        raise UsageError("give OTHER or --expected, not both")
    live = {"--istiod": istiod, "--revision": revision, "--istio-namespace": istio_namespace}
    live["--proxy-id"] = proxy_id
    if (other or expected) and any(live.values()):
        given = ", ".join(k for k, x in live.items() if x)
        raise UsageError(
            f"{given}: only for comparing with istiod (SOURCE alone)",
            hint="drop OTHER/--expected to compare with istiod, or drop " + given,
        )
    options = LiveOptions(timeout, namespace, context, kubeconfig, admin_port, container)
    fetch = Fetch(include_eds="endpoints" in kinds)
    if expected:
        left = load_proxy(Target.of(expected, None, options), fetch)
        right = load_proxy(Target.of(source, None, options), fetch)
        labels = (f"expected ({left.source})", f"Envoy ({right.source})")
    elif other:
        left = load_proxy(Target.of(source, None, options), fetch)
        right = load_proxy(Target.of(other, None, options), fetch)
        labels = (left.source, right.source)
    else:
        recorded = against_recorded(source) if istiod is None else None
        if recorded is not None:
            left, right = recorded
        else:
            from pdebug.sources.istiod import Istiod

            where = Istiod(options, namespace=istio_namespace, revision=revision, url=istiod)
            left, right = against_istiod(source, options, fetch, where, proxy_id)
        labels = (left.source, f"Envoy ({right.source})")
    left_dump = left.need_dump("diff")
    right_dump = right.need_dump("diff")
    report = d.compare(left_dump, right_dump, kinds, include_static, ignore, *labels)
    text = None
    if unified:
        sides = {
            k: (d.collect(left_dump, k, include_static), d.collect(right_dump, k, include_static))
            for k in kinds
        }
        text = diffreport.unified(report, sides)
    out = fmt.render(diffreport.view(report, text))
    sys.stdout.write(out if out.endswith("\n") else out + "\n")
    return ExitCode.OK if report.same else ExitCode.FINDINGS


def against_istiod(
    source: str, options: LiveOptions, fetch: Fetch, istiod: Istiod, proxy_id: str | None
) -> tuple[ProxyData, ProxyData]:
    """(istiod's view, the proxy's dump): the proxy first, then istiod for its ID.

    A pod target gives its ``POD.NS`` and shares its cluster session with istiod's
    discovery; a file or admin URL needs ``--istiod`` and gives the proxy ID from
    ``--proxy-id`` or the dump's bootstrap node ID.
    """
    from pdebug.cli._run import Target, fetch_live, load_proxy
    from pdebug.sources import classify
    from pdebug.sources.kube import KubeCluster, KubeSource

    kind = classify(source)
    if kind != "kube" and istiod.url is None:
        what = "a saved dump" if kind == "file" else "an admin URL"
        raise UsageError(
            f"{source}: comparing {what} with istiod needs --istiod URL "
            "(pdebug finds istiod itself only for a pod)",
            hint="pass the pod (pdebug diff pod/NAME -n NS), or forward istiod (kubectl -n "
            "istio-system port-forward deploy/istiod 15014) and add --istiod "
            "http://127.0.0.1:15014 --proxy-id POD.NS, or pass a saved answer: --expected FILE",
        )
    cluster = KubeCluster(options, source) if kind == "kube" and istiod.url is None else None
    try:
        if kind == "kube":
            kube = KubeSource(source, options, cluster)
            try:
                envoy = fetch_live(kube, fetch)
            finally:
                kube.close()
            proxy_id = proxy_id or f"{kube.pod}.{kube.namespace}"
        else:
            envoy = load_proxy(Target.of(source, None, options), fetch)
            proxy_id = proxy_id or _node_proxy_id(envoy)
            if not proxy_id:
                raise UsageError(
                    f"{source}: which proxy is this? its dump has no Istio node ID",
                    hint="name it for istiod: --proxy-id POD.NAMESPACE",
                )
        if cluster is not None:
            istiod.use_cluster(cluster)
        try:
            body, name = istiod.config_dump(proxy_id, include_eds=fetch.include_eds)
        finally:
            istiod.close()
    finally:
        if cluster is not None:
            cluster.close()
    return load_expected(body, f"istiod ({name})"), envoy


def against_recorded(source: str) -> tuple[ProxyData, ProxyData] | None:
    """(istiod's view recorded in the bundle, the proxy's dump) when SOURCE is a bundle.

    None when SOURCE is not a bundle (or a member of one): then istiod is asked live.

    Raises:
        SourceUnavailable: the bundle recorded no istiod view of the proxy (the manifest's
            reason is given when it has one), or the proxy was not captured.
    """
    from pdebug import bundle
    from pdebug.errors import SourceUnavailable
    from pdebug.model import ProxyData
    from pdebug.model.load import load
    from pdebug.sources import split_member

    path, member = split_member(source)
    if bundle.peek_manifest(path) is None:
        return None
    opened = bundle.open_bundle(path)
    name = opened.pick(member)
    files = opened.proxy(name)
    expected = files.get(bundle.ISTIOD_DUMP)
    if expected is None:
        entry = next((e for e in bundle.proxy_entries(opened.manifest) if e["name"] == name), {})
        why = entry.get("istiod_error") or (opened.manifest.get("istiod") or {}).get("error")
        pod, _, ns = name.rpartition(".")
        raise SourceUnavailable(
            f"{path}:{name}: the bundle has no istiod view for this proxy"
            + (f" ({why})" if why else ""),
            hint=f"compare with istiod live (pdebug diff pod/{pod or name}"
            + (f" -n {ns}" if pod else "")
            + "), or with a saved istiod answer (--expected FILE)",
        )
    label = f"{opened.label}:{name}"
    body = files.get(bundle.DUMP)
    if body is None:  # a capture that recorded istiod but no dump: not a proxy to compare
        raise SourceUnavailable(f"{label}: the bundle has no {bundle.DUMP} for this proxy")
    envoy = load(body, label)
    return (
        load_expected(expected, f"istiod (recorded in {path})"),
        ProxyData(label, envoy.dump, envoy.clusters),
    )


def load_expected(body: bytes, label: str) -> ProxyData:
    """Read istiod's answer as the expected side of a diff."""
    from pdebug.model import ProxyData
    from pdebug.model.load import load

    return ProxyData(label, load(body, label).dump)


def _node_proxy_id(proxy: ProxyData) -> str | None:
    """``POD.NS`` from the dump's bootstrap node ID, if it is an Istio proxy's."""
    from pdebug.errors import MissingSection
    from pdebug.sources.istiod import proxy_id_of_node

    if proxy.dump is None:
        return None
    try:
        node = proxy.dump.bootstrap().get("node") or {}
    except MissingSection:
        return None
    node_id = node.get("id") if isinstance(node, dict) else None
    return proxy_id_of_node(node_id) if isinstance(node_id, str) else None
