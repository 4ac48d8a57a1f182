"""The expected side of a diff: what istiod meant the proxy to have.

:mod:`pdebug.diff` compares two loaded dumps and does no I/O; this module obtains the
pair to compare for ``pdebug diff SOURCE``: the expected config and the proxy's own dump.
The expected config comes from one of three places:

* a saved file (``--expected FILE``): :func:`against_file`;
* the istiod view a snapshot bundle recorded for the proxy: :func:`against_recorded`;
* istiod itself, live (``/debug/config_dump?proxyID=POD.NS``): :func:`against_istiod`.

Each returns ``(expected, envoy)`` as :class:`~pdebug.model.ProxyData`. Heavy modules
(the Kubernetes client) are imported only when a live path needs them. Every side is a
parsed SOURCE (:mod:`pdebug.sources.spec`); nothing here reads the command line's words.

:class:`DiffRequest` holds what ``pdebug diff`` was asked, and checks the combinations
that make no sense (the CLI only parses).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from pdebug.errors import UsageError

if TYPE_CHECKING:
    from pdebug.model import ProxyData
    from pdebug.proxy import Fetch
    from pdebug.sources.base import LiveOptions
    from pdebug.sources.istiod import Istiod
    from pdebug.sources.spec import SourceSpec

__all__ = [
    "DiffRequest",
    "against_file",
    "against_istiod",
    "against_recorded",
    "check_ignore",
    "load_expected",
    "parse_include",
]


def check_ignore(pattern: str | None) -> None:
    """A usage error naming ``--ignore`` when ``pattern`` is not a Python regular expression."""
    import re

    if pattern is None:
        return
    option = "--ignore"
    try:
        re.compile(pattern)
    except re.error as exc:
        raise UsageError(
            f"{option} {pattern}: not a regular expression ({exc})",
            hint=f"{option} takes a Python regex over field paths, e.g. "
            f"{option} 'connect_timeout|metadata'; escape ( [ * with \\",
        ) from None


def parse_include(include: list[str] | None) -> tuple[list[str], bool]:
    """``--include`` as (the kinds to compare, whether to compare static resources too)."""
    from pdebug.diff import DEFAULT_KINDS

    kinds = list(DEFAULT_KINDS)
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
    return kinds, include_static


@dataclass(frozen=True)
class DiffRequest:
    """What ``pdebug diff`` compares: SOURCE with OTHER, ``--expected``, or istiod.

    ``istiod``, ``revision``, ``istio_namespace`` and ``proxy_id`` say how to ask istiod;
    ``unified`` asks for istioctl's JSON diffs.
    """

    source: SourceSpec
    other: SourceSpec | None = None
    expected: SourceSpec | None = None
    unified: bool = False
    istiod: str | None = None
    revision: str | None = None
    istio_namespace: str | None = None
    proxy_id: str | None = None

    def __post_init__(self) -> None:
        """``--bundle B TEXT``: B's manifest names SOURCE's and OTHER's proxies first.

        Parsing read no file; the bundle's errors (no such proxy, not a bundle...) still
        come before the checks of the other options, as they always have.
        """
        from pdebug.sources.spec import FileSpec, MemberSpec

        for name in ("source", "other"):
            spec = getattr(self, name)
            if isinstance(spec, FileSpec | MemberSpec) and spec.flag:
                from pdebug.sources.bundle import resolve

                object.__setattr__(self, name, resolve(spec))

    def bundles(self) -> tuple[str, str] | None:
        """The two bundle paths when SOURCE and OTHER are whole bundles compared proxy by proxy.

        Raises:
            UsageError: istiod options given for two bundles (every proxy in both).
        """
        from pdebug.sources.spec import FileSpec

        a, b = self.source, self.other
        if self.expected or not isinstance(a, FileSpec) or not isinstance(b, FileSpec):
            return None
        from pdebug.sources.bundle import is_pair

        if not is_pair(a.path, b.path):
            return None
        extra = {"--unified": self.unified, "--istiod": self.istiod, "--proxy-id": self.proxy_id}
        extra |= {"--revision": self.revision, "--istio-namespace": self.istio_namespace}
        given = ", ".join(k for k, x in extra.items() if x)
        if given:
            raise UsageError(
                f"{given}: not for comparing two bundles (every proxy in both)",
                hint="to look closer at one proxy: pdebug diff B1:POD.NS B2:POD.NS " + given,
            )
        return a.path, b.path

    def check_one_proxy(self) -> None:
        """Refuse OTHER with ``--expected``, and istiod options when istiod is not asked."""
        if self.other and self.expected:
            raise UsageError("give OTHER or --expected, not both")
        live = {
            "--istiod": self.istiod,
            "--revision": self.revision,
            "--istio-namespace": self.istio_namespace,
            "--proxy-id": self.proxy_id,
        }
        if (self.other or self.expected) and any(live.values()):
            given = ", ".join(k for k, x in live.items() if x)
            raise UsageError(
                f"{given}: only for comparing with istiod (SOURCE alone)",
                hint="drop OTHER/--expected to compare with istiod, or drop " + given,
            )


def against_file(
    expected: SourceSpec, source: SourceSpec, options: LiveOptions, fetch: Fetch
) -> tuple[ProxyData, ProxyData]:
    """(the saved expected config, the proxy's dump): ``expected`` is read first.

    Both are any SOURCE a view accepts: ``expected`` usually a saved istiod answer,
    ``source`` the proxy (a dump, an admin URL or a pod). ``pdebug diff SOURCE OTHER``
    reads its before/after pair the same way.
    """
    from pdebug.proxy import load_proxy

    left = load_proxy(expected, options, fetch)
    right = load_proxy(source, options, fetch)
    return left, right


def against_istiod(
    source: SourceSpec, options: LiveOptions, fetch: Fetch, istiod: Istiod, proxy_id: str | None
) -> tuple[ProxyData, ProxyData]:
    """(istiod's view, the proxy's dump): the proxy first, then istiod for its ID.

    A pod target gives its ``POD.NS`` and shares its cluster session with istiod's
    discovery; a file or admin URL needs ``--istiod`` and gives the proxy ID from
    ``--proxy-id`` or the dump's bootstrap node ID.

    Raises:
        UsageError: SOURCE is a file or an admin URL and ``istiod`` has no URL, or its
            dump carries no Istio node ID and no ``proxy_id`` was given.
    """
    from pdebug.proxy import fetch_live, load_proxy
    from pdebug.sources.kube import KubeCluster
    from pdebug.sources.pod import KubeProxy

    kind = source.kind
    if kind != "kube" and istiod.url is None:
        what = "a saved dump" if kind == "file" else "an admin URL"
        raise UsageError(
            f"{source.text}: comparing {what} with istiod needs --istiod URL "
            "(pdebug finds istiod itself only for a pod)",
            hint="pass the pod (pdebug diff pod/NAME -n NS), or forward istiod (kubectl -n "
            "istio-system port-forward deploy/istiod 15014) and add --istiod "
            "http://127.0.0.1:15014 --proxy-id POD.NS, or pass a saved answer: --expected FILE",
        )
    cluster = KubeCluster(options, source.text) if kind == "kube" and istiod.url is None else None
    try:
        if kind == "kube":
            with KubeProxy(source.text, options, cluster) as kube:
                envoy = fetch_live(kube, fetch)
            proxy_id = proxy_id or f"{kube.pod}.{kube.namespace}"
        else:
            envoy = load_proxy(source, options, fetch)
            proxy_id = proxy_id or _node_proxy_id(envoy)
            if not proxy_id:
                raise UsageError(
                    f"{source.text}: which proxy is this? its dump has no Istio node ID",
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


def against_recorded(source: SourceSpec) -> tuple[ProxyData, ProxyData] | None:
    """(istiod's view recorded in the bundle, the proxy's dump) when SOURCE is a bundle.

    None when SOURCE is not a bundle (or a member of one): then istiod is asked live.

    Raises:
        SourceUnavailable: the bundle recorded no istiod view of the proxy (the manifest's
            reason is given when it has one), or the proxy was not captured.
    """
    from pdebug.errors import SourceUnavailable
    from pdebug.model import ProxyData
    from pdebug.model.load import load
    from pdebug.sources import bundle
    from pdebug.sources.spec import FileSpec, MemberSpec

    if not isinstance(source, FileSpec | MemberSpec):
        return None
    source = bundle.resolve(source)  # --bundle B TEXT: the proxy TEXT names
    path = source.path
    member = source.member if isinstance(source, MemberSpec) else None
    if bundle.peek_manifest(path) is None:
        return None
    opened = bundle.open_bundle(path, lambda b: [b.pick(member)])  # only this proxy is held
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
