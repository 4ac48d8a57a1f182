"""The refusals the Envoy and ztunnel readers share, worded once.

Documents people pass by mistake that both readers can be handed, and name only once
they have decoded them: agentgateway's ``/config_dump``, Envoy's ``GET /certs``,
istiod's ``/debug/config_dump?proxyID=`` answer for a ztunnel and its ``/debug/registryz``
and ``/debug/configz`` (the syncz reader names those two as well). ``model/load.py`` and
``model/ztunnel.py`` raise them; what the head of the bytes plainly is (before any
decode) is ``model/sniff.py``'s.
"""

from __future__ import annotations

from pdebug.errors import InvalidInput


def agentgateway_given(source: str) -> InvalidInput:
    """The error for agentgateway's ``/config_dump`` (an ambient waypoint or gateway).

    It holds ztunnel-like workloads and services beside its own ``binds``, ``routes``
    and ``backends``, but its service endpoints are its load balancer's state (a list of
    ``active``/``rejected`` maps): read as ztunnel's, every service would be ``0/0``.
    """
    return InvalidInput(
        f"{source}: this is an agentgateway config dump (binds, routes, backends), "
        "not a ztunnel or Envoy one",
        hint="pdebug reads ztunnel's and Envoy's dumps; for the ztunnel on that node, pass "
        "its dump (istioctl zc all -o json, or GET /config_dump on port 15000)",
    )


#: The type URLs istiod answers ``/debug/config_dump?proxyID=`` with for a ztunnel: its
#: WDS resources (``istio.workload.Address``; ``Workload`` before 1.18, and what
#: ``?types=WDS,WADS`` adds), not Envoy's admin sections (``pilot/pkg/xds/debug.go``).
ISTIOD_ZTUNNEL_TYPES = frozenset(
    "type.googleapis.com/" + t
    for t in ("istio.workload.Address", "istio.workload.Workload", "istio.security.Authorization")
)


def istiod_ztunnel_view(type_urls: list[str]) -> bool:
    """Whether a ``configs`` list's type URLs are istiod's view of a ztunnel (WDS)."""
    return bool(type_urls) and ISTIOD_ZTUNNEL_TYPES.issuperset(type_urls)


def istiod_ztunnel_given(source: str) -> InvalidInput:
    """The error for istiod's ``/debug/config_dump?proxyID=<ztunnel>`` answer."""
    return InvalidInput(
        f"{source}: this is istiod's view of a ztunnel (its WDS resources: "
        "istio.workload.Address, as /debug/config_dump?proxyID=<ztunnel pod> answers), "
        "not an Envoy or ztunnel config dump",
        hint="read the ztunnel's own dump: pdebug zc all ZTUNNEL_POD (or save GET "
        "/config_dump on its admin port 15000); istiod's sync state of it: pdebug status",
    )


def envoy_certs_given(source: str, ztunnel: bool = False) -> InvalidInput:
    """The error for Envoy's ``GET /certs`` given as a config dump (or a ztunnel's)."""
    hint = (
        "save GET /config_dump instead: pdebug secrets reads its SDS secrets "
        "and pdebug check their expiry"
    )
    if ztunnel:
        hint = (
            "a ztunnel's certificates are in its GET /config_dump (admin port 15000); "
            "for this Envoy's, save its GET /config_dump and run pdebug secrets"
        )
    wanted = "a ztunnel config dump" if ztunnel else "a config dump"
    return InvalidInput(
        f"{source}: this is Envoy's GET /certs (the certificates it holds, not its "
        f"config), not {wanted}",
        hint=hint,
    )


def fragment_given(label: str, doc: object) -> InvalidInput | None:
    """The error for a piece cut from a dump: an object of section fields only.

    A paste of ``"dynamic_active_clusters": [...]`` reads as a YAML mapping of that one
    key, and with its braces as a JSON object of it (section fields in either spelling);
    both are named so (sweep26, envoy#19262). None: ``doc`` is not such a piece.
    """
    from pdebug.model.camel import to_camel
    from pdebug.model.dump import KEY_KINDS

    if not isinstance(doc, dict) or not doc:
        return None
    v2alpha = (
        "dynamic_active_listeners",
        "dynamic_warming_listeners",
        "dynamic_draining_listeners",
    )
    known = {k for key in (*KEY_KINDS, *v2alpha) for k in (key, to_camel(key))}
    keys = [k for k in doc if isinstance(k, str)]
    if len(keys) != len(doc) or not all(k in known for k in keys):
        return None
    return InvalidInput(
        f"{label}: a piece of a config dump ({', '.join(keys)} alone, as pasted), not a whole one",
        hint="save the whole dump: curl -s localhost:15000/config_dump > dump.json",
    )


#: Fields of istiod's legacy ``/debug/syncz`` SyncStatus items (beside ``proxy``).
_SYNC_FIELDS = frozenset(
    ("cluster_sent", "cluster_acked", "listener_sent", "listener_acked", "proxy_version")
)


def _sync_statuses(value: object) -> bool:
    """A legacy ``/debug/syncz`` answer: a list of SyncStatus objects."""
    return (
        isinstance(value, list)
        and bool(value)
        and all(
            isinstance(item, dict) and "proxy" in item and not _SYNC_FIELDS.isdisjoint(item)
            for item in value[:5]
        )
    )


def _client_configs(value: object) -> bool:
    """An ``istio.io/debug/syncz`` DiscoveryResponse (istioctl proxy-status -o json)."""
    if not isinstance(value, dict):
        return False
    url = value.get("typeUrl", value.get("type_url"))
    if isinstance(url, str) and (url.endswith(".ClientConfig") or url.endswith("/syncz")):
        return True
    resources = value.get("resources")
    return (
        isinstance(resources, list)
        and bool(resources)
        and all(
            isinstance(r, dict) and str(r.get("@type", "")).endswith(".ClientConfig")
            for r in resources[:5]
        )
    )


def syncz_given(label: str, doc: object) -> InvalidInput | None:
    """The error for istiod's sync status given where a proxy's dump is read.

    Its four shapes (the legacy list, the xDS answer, either keyed by istiod replica) were
    "not an Envoy config dump (no 'configs' list)" or "a JSON array of N resources".
    None: ``doc`` is not one.
    """
    one = _sync_statuses(doc) or _client_configs(doc)
    if not one and isinstance(doc, list) and doc:
        one = all(_client_configs(v) for v in doc[:5])
    if not one and isinstance(doc, dict) and doc:
        one = all(_sync_statuses(v) or _client_configs(v) for v in list(doc.values())[:5])
    if not one:
        return None
    return InvalidInput(
        f"{label}: this is istiod's sync status (GET :15014/debug/syncz, or istioctl "
        "proxy-status -o json|yaml), not a proxy's config dump",
        hint=f"read it with: pdebug status --file {'-' if label == 'stdin' else label}",
    )


def _one_dump(value: object) -> str | None:
    """``"dump"`` (a whole config dump), ``"section"`` (one section of it), or None."""
    if not isinstance(value, dict):
        return None
    if isinstance(value.get("configs"), list):
        return "dump"
    kind = value.get("@type")
    return "section" if isinstance(kind, str) and kind.endswith("ConfigDump") else None


def egctl_given(label: str, doc: object) -> InvalidInput | None:
    """The error for Envoy Gateway's egctl output: dumps keyed by namespace and pod.

    ``egctl config envoy-proxy all|cluster|...`` prints ``{NS: {POD: dump or section}}``,
    ``egctl x translate --to xds`` ``{"xds": {"NS/NAME": dump}}``; both were "not an Envoy
    config dump (no 'configs' list)". The hint is the jq that takes one proxy's out.
    None: ``doc`` is not such output.
    """
    import json
    import shlex

    if not isinstance(doc, dict) or not doc:
        return None
    found: list[tuple[str, str, str]] = []
    for outer, inner in list(doc.items())[:5]:
        if not isinstance(inner, dict) or not inner:
            return None
        for name, value in list(inner.items())[:5]:
            kind = _one_dump(value)
            if kind is None:
                return None
            found.append((str(outer), str(name), kind))
    outer, name, kind = found[0]
    path = f".[{json.dumps(outer)}][{json.dumps(name)}]"
    program = path if kind == "dump" else f"{{configs: [{path}]}}"
    source = "" if label == "stdin" else " " + shlex.quote(label)
    where = "translated xDS" if outer == "xds" else "config dumps by namespace and pod"
    return InvalidInput(
        f"{label}: this is egctl's output (Envoy Gateway: {where}), not one proxy's config dump",
        hint=f"take one proxy out: jq {shlex.quote(program)}{source} | pdebug all -",
    )


def _registry_service(value: object) -> bool:
    """An item of istiod's ``/debug/registryz``: a service of its registry."""
    if not isinstance(value, dict) or not isinstance(value.get("hostname"), str):
        return False
    attributes = value.get("Attributes")
    return isinstance(attributes, dict) and "ServiceRegistry" in attributes


def _config_object(value: object) -> bool:
    """An item of istiod's ``/debug/configz``: a config object (kind, metadata, spec)."""
    return (
        isinstance(value, dict)
        and isinstance(value.get("kind"), str)
        and isinstance(value.get("apiVersion"), str)
        and isinstance(value.get("metadata"), dict)
        and "spec" in value
    )


def _endpoint_shards(value: object) -> bool:
    """A value of istiod's ``/debug/endpointz``: ``{namespace: {"Shards": ...}}``."""
    if not isinstance(value, dict) or not value:
        return False
    return all(isinstance(v, dict) and "Shards" in v for v in list(value.values())[:3])


def istiod_debug_given(
    label: str, doc: object, expected: str = "a proxy's config dump"
) -> InvalidInput | None:
    """The error for istiod's ``/debug/registryz``, ``configz`` or ``endpointz`` given.

    Given as a dump, a ztunnel dump or a syncz (kiali's test data has them, istiod 1.11).

    The first two are JSON arrays: they were "a JSON array of N resources (one view's -o
    json?)", "one table's rows (istioctl ztunnel-config …)" or "item 0 is not a sync
    status"; endpointz, an object, was "not an Envoy config dump (no 'configs' list)".
    None: ``doc`` is none of them.
    """
    if isinstance(doc, dict) and doc and all(_endpoint_shards(v) for v in list(doc.values())[:5]):
        what = "istiod's /debug/endpointz (its endpoints by service and namespace)"
        return InvalidInput(
            f"{label}: this is {what}, not {expected}",
            hint="istiod's debug endpoints show its inputs, not what a proxy runs: save the "
            "proxy's GET /config_dump, or istiod's /debug/config_dump?proxyID=POD.NS (what "
            "istiod sends that proxy)",
        )
    if not isinstance(doc, list) or not doc:
        return None
    head = doc[:5]
    if all(_registry_service(v) for v in head):
        what = "istiod's /debug/registryz (the services of its registry)"
    elif all(_config_object(v) for v in head):
        what = "a list of Istio/Kubernetes config objects (istiod's /debug/configz)"
    else:
        return None
    return InvalidInput(
        f"{label}: this is {what}, not {expected}",
        hint="istiod's debug endpoints show its inputs, not what a proxy runs: save the "
        "proxy's GET /config_dump, or istiod's /debug/config_dump?proxyID=POD.NS (what "
        "istiod sends that proxy)",
    )
