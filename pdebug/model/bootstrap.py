"""Facts: what a proxy's bootstrap says about it (versions, node, Istio's node metadata).

``pdebug bootstrap`` prints these lines (``views/bootstrap.py``) and the report's
summary shows them: both read them here, labelled as istioctl's ``bootstrap`` lines.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pdebug.model import ProxyData


def envoy_version(node: dict[str, Any]) -> str:
    """``MAJOR.MINOR.PATCH[-label][/status/type/ssl]`` from the node's build version."""
    ubv = node.get("user_agent_build_version") or {}
    v = ubv.get("version") or {}
    text = f"{v.get('major_number', 0)}.{v.get('minor_number', 0)}.{v.get('patch', 0)}"
    meta = ubv.get("metadata") or {}
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
    node = boot.get("node") or {}
    meta = node.get("metadata") or {}
    rows: list[tuple[str, str]] = []
    if meta.get("ISTIO_VERSION"):
        rows.append(("Istio Version:", str(meta["ISTIO_VERSION"])))
    sha = str(meta.get("ISTIO_PROXY_SHA") or "")
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
