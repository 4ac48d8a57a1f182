"""Sweep 24 (not shipped): a CiliumEnvoyConfig as the xDS a Cilium agent hands its Envoy.

usage: python tools/sweep24_cec.py CEC.yaml OUT.json

Writes tools/xds_goldens.py's scenario shape (``{"xds": {TYPE_URL: {NAME: resource}}}``)
from the ``spec.resources`` of a CiliumEnvoyConfig / CiliumClusterwideEnvoyConfig (an
example of cilium/cilium, or the operator's translation goldens): names qualified as the
agent does (``namespace/cec-name/name`` for a name without a slash; route config and
virtual host names always, unless already in the namespace), a listener without an
address given one (the agent picks a proxy port), EDS clusters given one endpoint each
(the agent serves the backend services' endpoints). The agent's own Cilium filters
(``cilium.bpf_metadata``, ``cilium.l7policy``, ``cilium.network``) are not added: the
upstream Envoy 1.40 has no such extensions.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import yaml

BOOTSTRAP_CLUSTERS = {"envoy-admin", "xds-grpc-cilium", "ingress-cluster", "egress-cluster"}


def g(d: dict[str, Any], snake: str) -> Any:
    """``d[snake]``, or the field under its lowerCamelCase spelling."""
    if snake in d:
        return d[snake]
    parts = snake.split("_")
    return d.get(parts[0] + "".join(p[:1].upper() + p[1:] for p in parts[1:]))


def qual(ns: str, cec: str, name: str, force: bool = False) -> str:
    """``name`` qualified as Cilium qualifies a CiliumEnvoyConfig's resources (NS/CEC/NAME)."""
    if name in BOOTSTRAP_CLUSTERS:
        return name
    idx = name.find("/")
    if name == "" or (idx >= 0 and (not force or (idx == len(ns) and name.startswith(ns)))):
        return name
    return f"{ns}/{cec}/{name}"


def walk_refs(node: Any, ns: str, cec: str) -> None:
    """Qualify every resource reference below ``node`` in place."""
    if isinstance(node, dict):
        # the agent serves the secrets a TLS context names over SDS
        for key in ("tls_certificate_sds_secret_configs", "tlsCertificateSdsSecretConfigs"):
            for sds in node.get(key) or []:
                if "sds_config" not in sds and "sdsConfig" not in sds:
                    sds["sds_config"] = {"ads": {}}
        # a loopback address cannot keep ipv4_compat (the feeder binds 127.0.0.1)
        for key in ("socket_address", "socketAddress"):
            if isinstance(node.get(key), dict):
                node[key].pop("ipv4_compat", None)
                node[key].pop("ipv4Compat", None)
        for key in ("cluster",):
            if isinstance(node.get(key), str):
                node[key] = qual(ns, cec, node[key])
        for key in ("weighted_clusters", "weightedClusters"):
            wc = node.get(key)
            if isinstance(wc, dict):
                for c in wc.get("clusters", []):
                    c["name"] = qual(ns, cec, c["name"])
        for key in ("rds",):
            r = node.get(key)
            if isinstance(r, dict):
                for k in ("route_config_name", "routeConfigName"):
                    if k in r:
                        r[k] = qual(ns, cec, r[k], force=True)
                r.setdefault("config_source", {"ads": {}})
        for key in ("route_config", "routeConfig"):
            if isinstance(node.get(key), dict):
                qual_route(node[key], ns, cec)
        for v in node.values():
            walk_refs(v, ns, cec)
    elif isinstance(node, list):
        for v in node:
            walk_refs(v, ns, cec)


BY_NAME = {
    "envoy.filters.listener.tls_inspector": "listener.tls_inspector.v3.TlsInspector",
    "envoy.filters.http.router": "http.router.v3.Router",
}


def adapt(node: Any) -> None:
    """Filters Envoy <= 1.17 took by name alone get their empty typed config."""
    if isinstance(node, dict):
        if node.get("name") in BY_NAME and "typed_config" not in node and "typedConfig" not in node:
            node["typed_config"] = {
                "@type": "type.googleapis.com/envoy.extensions.filters." + BY_NAME[node["name"]]
            }
        for v in node.values():
            adapt(v)
    elif isinstance(node, list):
        for v in node:
            adapt(v)


def qual_route(rc: dict[str, Any], ns: str, cec: str) -> None:
    """Qualify a route configuration's name and its virtual hosts' names in place."""
    rc["name"] = qual(ns, cec, rc.get("name", ""), force=True)
    for vh in g(rc, "virtual_hosts") or []:
        vh["name"] = qual(ns, cec, vh.get("name", ""), force=True)


def convert(path: str) -> dict[str, Any]:
    """The CiliumEnvoyConfig documents of ``path`` as xDS resources by type."""
    docs = [d for d in yaml.safe_load_all(open(path)) if d]
    out: dict[str, dict[str, Any]] = {}
    port = 10000
    for doc in docs:
        if "spec" not in doc or "resources" not in doc["spec"]:
            continue
        ns = doc.get("metadata", {}).get("namespace", "") or ""
        cec = doc["metadata"]["name"]
        for res in doc["spec"]["resources"]:
            t = res["@type"]
            kind = t.rsplit(".", 1)[-1]
            res = {k: v for k, v in res.items() if k != "@type"}
            if kind == "RouteConfiguration":
                qual_route(res, ns, cec)
                walk_refs(res, ns, cec)
            else:
                res["name"] = qual(ns, cec, res.get("name", ""))
                walk_refs(res, ns, cec)
            if kind == "Listener" and "address" not in res:
                port += 1
                res["address"] = {"socket_address": {"address": "0.0.0.0", "port_value": port}}
            if kind == "Cluster" and g(res, "type") == "EDS":
                ecc = g(res, "eds_cluster_config")
                if ecc is None:
                    ecc = res["eds_cluster_config"] = {}
                if g(ecc, "eds_config") is None:
                    ecc["eds_config"] = {"ads": {}}
                svc = g(ecc, "service_name") or res["name"]
                cla_t = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"
                out.setdefault(cla_t, {})[svc] = {
                    "cluster_name": svc,
                    "endpoints": [
                        {
                            "lb_endpoints": [
                                {
                                    "endpoint": {
                                        "address": {
                                            "socket_address": {
                                                "address": "127.0.0.1",
                                                "port_value": 9,
                                            }
                                        }
                                    }
                                }
                            ]
                        }
                    ],
                }
            adapt(res)
            out.setdefault(t, {})[res["name"]] = res
    return {"xds": out}


if __name__ == "__main__":
    json.dump(convert(sys.argv[1]), open(sys.argv[2], "w"), indent=1)
