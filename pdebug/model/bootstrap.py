"""Facts: what a proxy's bootstrap says about it (versions, node, Istio's node metadata).

``pdebug bootstrap`` prints these lines (``views/bootstrap.py``) and the report's
summary shows them: both read them here, labelled as istioctl's ``bootstrap`` lines.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pdebug.model import ProxyData
    from pdebug.model.dump import ConfigDump


def _obj(value: Any) -> dict[str, Any]:
    """``value`` when it is a JSON object, else empty.

    A hand-edited bootstrap may hold a string or a list where Envoy writes a message:
    that reads as absent, not a crash.
    """
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str:
    """A Struct string value, as istioctl's ``GetStringValue`` (another kind gives "")."""
    return value if isinstance(value, str) else ""


def envoy_version(node: dict[str, Any]) -> str:
    """``MAJOR.MINOR.PATCH[-label][/status/type/ssl]`` from the node's build version.

    Envoy before 1.13 (v2 ``Node``) wrote no ``user_agent_build_version``, only the
    string ``build_version`` = ``SHA/VERSION/STATUS/TYPE/SSL``: its text after the SHA is
    the same line (istioctl, reading v3 fields only, prints ``0.0.0`` for it).
    """
    legacy = _obj(node).get("build_version")
    if "user_agent_build_version" not in _obj(node) and isinstance(legacy, str) and "/" in legacy:
        return legacy.split("/", 1)[1].rstrip("/") or "0.0.0"
    ubv = _obj(_obj(node).get("user_agent_build_version"))
    v = _obj(ubv.get("version"))
    text = f"{v.get('major_number', 0)}.{v.get('minor_number', 0)}.{v.get('patch', 0)}"
    meta = _obj(ubv.get("metadata"))
    if "build.label" in meta:
        text += f"-{meta['build.label']}"
    for key in ("revision.status", "build.type", "ssl.version"):
        if key in meta:
            text += f"/{meta[key]}"
    return text


def summary_rows(data: ProxyData, wide: bool = False) -> list[tuple[str, str]]:
    """Label/value pairs: Istio Version, Istio Proxy Version, Envoy Version (+ node in wide).

    Raises:
        InvalidInput: ``data`` has no config dump, or it has no bootstrap section.
    """
    boot = data.need_dump("the bootstrap view").bootstrap()
    node = _obj(boot.get("node"))
    meta = _obj(node.get("metadata"))
    rows: list[tuple[str, str]] = []
    if _text(meta.get("ISTIO_VERSION")):
        rows.append(("Istio Version:", _text(meta["ISTIO_VERSION"])))
    sha = _text(meta.get("ISTIO_PROXY_SHA"))
    if sha:
        parts = sha.split(":")
        rows.append(("Istio Proxy Version:", parts[1] if len(parts) > 1 else sha))
    rows.append(("Envoy Version:", envoy_version(node)))
    if wide:
        rows.append(("Node ID:", str(node.get("id", ""))))
        rows.append(("Cluster:", str(node.get("cluster", ""))))
        for key in ("NAMESPACE", "CLUSTER_ID", "MESH_ID", "INTERCEPTION_MODE"):
            if meta.get(key):
                rows.append(
                    (key.replace("_", " ").title().replace("Id", "ID") + ":", str(meta[key]))
                )
    return rows


def envoy_release(dump: ConfigDump) -> tuple[int, int] | None:
    """The (major, minor) release of the Envoy that wrote ``dump``, from its bootstrap.

    None when the dump has no bootstrap, a damaged one, or one naming no release.
    """
    if dump.section("bootstrap") is None:
        return None
    from pdebug.errors import InvalidInput

    try:
        node = _obj(dump.bootstrap().get("node"))
    except InvalidInput:  # a damaged bootstrap says nothing about the version
        return None
    head = envoy_version(node).split("/", 1)[0].split("-", 1)[0].split(".")
    if len(head) < 2 or not (head[0].isdigit() and head[1].isdigit()):
        return None
    release = (int(head[0]), int(head[1]))
    return None if release == (0, 0) else release


def bootstrap_tracer(dump: ConfigDump) -> str | None:
    """The bootstrap's HTTP tracer (``tracing.http``), by its ``@type`` or name.

    ``""`` for none; None when the dump has no readable bootstrap. `` unshared`` follows a zipkin
    tracer's ``shared_span_context: false`` (Istio's, written as a string in v2).

    A connection manager's ``tracing`` without a ``provider`` uses it (old Istio's zipkin).
    """
    if dump.section("bootstrap") is None:
        return None
    from pdebug.errors import InvalidInput

    try:
        boot = dump.bootstrap()
    except InvalidInput:
        return None
    http = _obj(_obj(boot.get("tracing")).get("http"))
    typed = _obj(http.get("typed_config", http.get("typedConfig")))
    name = _text(typed.get("@type")) or _text(http.get("name"))
    config = typed or _obj(http.get("config", http.get("hidden_envoy_deprecated_config")))
    shared = config.get("shared_span_context", config.get("sharedSpanContext"))
    return f"{name} unshared" if name and shared in (False, "false") else name


def admin_v2alpha(dump: ConfigDump) -> bool:
    """Whether ``dump`` has ``envoy.admin.v2alpha`` sections (Envoy 1.14 and older).

    Such an Envoy took no ``mask`` or ``resource`` parameter: a section missing from
    its dump was never written, or was cut from a paste.
    """
    return any(".admin.v2alpha." in sec.type_url for sec in dump.sections)


def predates_include_eds(dump: ConfigDump) -> bool:
    """Whether the Envoy that wrote ``dump`` had no ``config_dump?include_eds`` (before 1.15).

    Its admin types are ``envoy.admin.v2alpha`` (Envoy 1.14 and older), or its bootstrap
    names an older release. Such a proxy's endpoints come only from ``/clusters``.
    """
    if admin_v2alpha(dump):
        return True
    release = envoy_release(dump)
    return release is not None and release < (1, 15)


#: The first Envoy release whose config dump has a secrets section (older ones: never).
SECRETS_SINCE = (1, 10)


def predates_secrets(dump: ConfigDump) -> bool:
    """Whether the bootstrap names an Envoy older than 1.10, which writes no secrets section."""
    release = envoy_release(dump)
    return release is not None and release < SECRETS_SINCE


#: xDS cluster names of control planes other than Istio's, and what to call them.
_XDS_CLUSTERS = {
    "local_agent": "Consul's local agent",
    "osm-controller": "the OSM controller",
}


def _get(obj: Any, key: str) -> Any:
    """Field ``key`` of a bootstrap object in either spelling (snake_case, lowerCamelCase)."""
    o = _obj(obj)
    camel = key.split("_")[0] + "".join(w.title() for w in key.split("_")[1:])
    return o.get(key, o.get(camel))


def _ads_cluster(boot: dict[str, Any]) -> str:
    """The cluster the bootstrap's ADS (or first xDS API config source) talks to."""
    dyn = _get(boot, "dynamic_resources")
    for source in (
        _get(dyn, "ads_config"),
        _get(_get(dyn, "cds_config"), "api_config_source"),
        _get(_get(dyn, "lds_config"), "api_config_source"),
    ):
        for svc in _get(source, "grpc_services") or []:
            name = _get(_get(svc, "envoy_grpc"), "cluster_name")
            if isinstance(name, str) and name:
                return name
        names = _get(source, "cluster_names")
        if isinstance(names, list) and names and isinstance(names[0], str):
            return names[0]
    return ""


def control_plane(dump: ConfigDump) -> str:
    """What serves this proxy's xDS when it is not Istio ("" for Istio or when unknown).

    Istio's marks: node metadata ``ISTIO_*`` (or the 2018-era ``istio`` key), a node id
    ``sidecar~``/``router~``/``waypoint~``, the xDS cluster ``xds-grpc``. A bootstrap
    without them is another control plane's (Consul, OSM, Kuma, Envoy Gateway) or a plain
    Envoy's: the phrase names it by its xDS cluster. No bootstrap (istiod's view, a cut
    dump): "", so hints keep Istio's wording.
    """
    if dump.section("bootstrap") is None:
        return ""
    from pdebug.errors import InvalidInput

    try:
        boot = dump.bootstrap()
    except InvalidInput:
        return ""
    node = _obj(boot.get("node"))
    meta = _obj(node.get("metadata"))
    node_id = node.get("id")
    cluster = _ads_cluster(boot)
    if (
        any(isinstance(k, str) and (k.startswith("ISTIO_") or k == "istio") for k in meta)
        or (
            isinstance(node_id, str)
            and node_id.split("~", 1)[0] in ("sidecar", "router", "waypoint", "ingress")
        )
        or cluster == "xds-grpc"
    ):
        return ""
    if cluster in _XDS_CLUSTERS:
        return f"{_XDS_CLUSTERS[cluster]} (xDS cluster {cluster})"
    if any(isinstance(k, str) and k.startswith("dataplane.") for k in meta):
        return (
            f"Kuma's control plane (xDS cluster {cluster})" if cluster else "Kuma's control plane"
        )
    return f"its control plane (xDS cluster {cluster})" if cluster else "its control plane"
