"""``pdebug bootstrap``: versions summary (``-o table``) or the bootstrap config."""

from __future__ import annotations

from typing import Any

from pdebug.model import ProxyData
from pdebug.redact import redact_keys
from pdebug.views.common import bare
from pdebug.views.result import ViewResult
from pdebug.views.table import Column, Table


def _version(node: dict[str, Any]) -> str:
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
    """Label/value pairs: Istio Version, Istio Proxy Version, Envoy Version (+ node in wide)."""
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
    rows.append(("Envoy Version:", _version(node)))
    if wide:
        rows.append(("Node ID:", str(node.get("id", ""))))
        rows.append(("Cluster:", str(node.get("cluster", ""))))
        for key in ("NAMESPACE", "CLUSTER_ID", "MESH_ID", "INTERCEPTION_MODE"):
            if meta.get(key):
                rows.append(
                    (key.replace("_", " ").title().replace("Id", "ID") + ":", str(meta[key]))
                )
    return rows


def view(data: ProxyData, wide: bool = False) -> ViewResult:
    """Version lines (tabwriter padding 1, no header); json/yaml give BootstrapConfigDump.

    The message itself, as istioctl prints it (no ``@type``).
    """
    table = Table((Column("KEY"), Column("VALUE")), padding=1, header=False)
    table.rows.extend(summary_rows(data, wide))
    sec = data.need_dump("the bootstrap view").require("bootstrap")
    return ViewResult(table, lambda: bare(redact_keys(sec.plain())))
