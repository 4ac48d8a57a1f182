"""Feed other control planes' xDS goldens to a real Envoy 1.40 and hold pdebug to them.

Not shipped, not a test: a sweep tool (sweep20). Each SCENARIO is one proxy's resources,
read from one of:

* a Kuma e2e golden (``{"xds": {TYPE_URL: {NAME: resource}}}``, kumahq/kuma
  ``test/e2e_env/universal/envoyconfig/testdata/**.golden.json``);
* a directory of Consul goldens of one test case (``clusters.golden``,
  ``listeners.golden``, ``routes.golden``, ``endpoints.golden``, ``secrets.golden``: each a
  DiscoveryResponse with ``resources``, as hashicorp/consul ``agent/xds/testdata/KIND/CASE``);
* a saved config dump (``configs`` list) whose dynamic resources are re-fed.

The resources are rewritten only as far as a loopback Envoy needs (ADS config sources to
files, bound listener addresses to 127.0.0.1 with free ports, privileged socket options
dropped), served by file xDS (tests.harness.XdsFiles), and Envoy's
``/config_dump?include_eds`` and ``/clusters?format=json`` are saved. Then every pdebug
view runs over them and is compared with what was fed; ``check`` findings and ``trace``
answers are printed for judging by hand, and each trace is also sent to the real Envoy,
whose upstream stats say which cluster it picked.

Usage: PYTHONPATH=$PWD python tools/xds_goldens.py OUT_DIR SCENARIO...
"""

from __future__ import annotations

import copy
import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests import harness as eh

Json = dict[str, Any]
PY = sys.executable
ROOT = Path(__file__).resolve().parent.parent

KINDS = {
    "Cluster": "cluster",
    "Listener": "listener",
    "RouteConfiguration": "route",
    "ClusterLoadAssignment": "cla",
    "Secret": "secret",
}


def kind_of(type_url: str) -> str | None:
    """The resource kind (cluster, listener...) of an xDS type URL, or None."""
    return KINDS.get(type_url.rsplit(".", 1)[-1])


def load(path: Path) -> dict[str, list[Json]]:
    """The scenario's resources by kind (cluster, listener, route, cla, secret)."""
    out: dict[str, list[Json]] = {k: [] for k in KINDS.values()}
    if path.is_dir():  # Consul goldens of one case
        for f in sorted(path.glob("*.golden")):
            doc = json.loads(f.read_text())
            for res in doc.get("resources") or []:
                k = kind_of(res.get("@type", doc.get("typeUrl", "")))
                if k:
                    out[k].append({x: y for x, y in res.items() if x != "@type"})
        return out
    text = path.read_text()
    # Kuma's e2e goldens redact addresses; any one address of the right family will do
    parts = text.split('"IP_REDACTED"')
    text = parts[0] + "".join(f'"10.42.0.{i + 2}"' + rest for i, rest in enumerate(parts[1:]))
    text = text.replace("IP_REDACTED", "10.42.1.2").replace("ADMIN_REDACTED", "127.0.0.1")
    doc = json.loads(text)
    if "xds" in doc:  # Kuma e2e golden
        for type_url, by_name in doc["xds"].items():
            k = kind_of(type_url)
            if k:
                out[k].extend(by_name.values())
        return out
    for section in doc.get("configs", []):
        for _key, val in section.items():
            if not isinstance(val, list):
                continue
            for item in val:
                if not isinstance(item, dict):
                    continue
                for inner_key in ("cluster", "listener", "route_config", "endpoint_config"):
                    if inner_key in item:
                        res = {x: y for x, y in item[inner_key].items() if x != "@type"}
                        k = kind_of(item[inner_key].get("@type", ""))
                        if k:
                            out[k].append(res)
                if "active_state" in item:
                    res = item["active_state"]["listener"]
                    out["listener"].append({x: y for x, y in res.items() if x != "@type"})
                if "secret" in item:
                    out["secret"].append({"name": item["name"], **item["secret"]})
    return out


def g(d: Json, snake: str) -> Any:
    """A field in either spelling."""
    if snake in d:
        return d[snake]
    parts = snake.split("_")
    return d.get(parts[0] + "".join(p[:1].upper() + p[1:] for p in parts[1:]))


def referenced_clusters(node: Any, found: set[str]) -> set[str]:
    """Cluster names a route or network filter sends to."""
    if isinstance(node, dict):
        for key in ("cluster",):
            if isinstance(node.get(key), str):
                found.add(node[key])
        for key in ("weightedClusters", "weighted_clusters"):
            wc = node.get(key)
            if isinstance(wc, dict):
                for c in wc.get("clusters", []):
                    found.add(c["name"])
        for val in node.values():
            referenced_clusters(val, found)
    elif isinstance(node, list):
        for item in node:
            referenced_clusters(item, found)
    return found


def complete(res: dict[str, list[Json]]) -> list[str]:
    """Add what a golden of one kind needs to load: an RDS listener, the clusters named."""
    added = []
    rds_named: set[str] = set()

    def rds_names(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("rds"), dict):
                rds_named.add(str(g(node["rds"], "route_config_name")))
            for val in node.values():
                rds_names(val)
        elif isinstance(node, list):
            for item in node:
                rds_names(item)

    rds_names(res["listener"])
    for r in res["route"]:
        if r["name"] in rds_named:
            continue
        added.append(f"listener for RDS {r['name']}")
        res["listener"].append(
            {
                "name": f"synth_rds_{r['name']}",
                "address": {"socket_address": {"address": "127.0.0.1", "port_value": 1}},
                "filter_chains": [
                    {
                        "filters": [
                            {
                                "name": "envoy.filters.network.http_connection_manager",
                                "typed_config": {
                                    "@type": "type.googleapis.com/envoy.extensions.filters"
                                    ".network.http_connection_manager.v3.HttpConnectionManager",
                                    "stat_prefix": "synth",
                                    "rds": {
                                        "route_config_name": r["name"],
                                        "config_source": {"ads": {}},
                                    },
                                    "http_filters": [
                                        {
                                            "name": "envoy.filters.http.router",
                                            "typed_config": {
                                                "@type": "type.googleapis.com/envoy"
                                                ".extensions.filters.http.router.v3.Router"
                                            },
                                        }
                                    ],
                                },
                            }
                        ]
                    }
                ],
            }
        )
    have = {c["name"] for c in res["cluster"]}
    for name in sorted(referenced_clusters(res["listener"] + res["route"], set()) - have - {""}):
        added.append(f"cluster {name}")
        if name == "original-destination":
            res["cluster"].append(
                {
                    "name": name,
                    "type": "ORIGINAL_DST",
                    "lb_policy": "CLUSTER_PROVIDED",
                    "connect_timeout": "5s",
                }
            )
            continue
        res["cluster"].append(
            {
                "name": name,
                "type": "STATIC",
                "connect_timeout": "1s",
                "load_assignment": {
                    "cluster_name": name,
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
                },
            }
        )
    return added


def rewrite(res: dict[str, list[Json]], xds: eh.XdsFiles, pki: Any) -> tuple[Json, set[str]]:
    """Point every ADS config source at a file; bound listeners to 127.0.0.1:free."""
    ports: Json = {}
    wanted_secrets: set[str] = set()

    def walk(node: Any, parent: str, holder: Json | None) -> None:
        if isinstance(node, dict):
            for key, pem in (
                ("certificateChain", pki.cert_pem),
                ("privateKey", pki.key_pem),
                ("trustedCa", pki.ca_pem),
            ):
                if isinstance(node.get(key), dict) and node[key].get("inlineBytes") in (
                    "",
                    "CERT_REDACTED",
                ):
                    node[key]["inlineBytes"] = _b64(pem)
                if isinstance(node.get(key), dict) and node[key].get("inlineString") == "":
                    node[key]["inlineString"] = pem.decode()
            if node.get("inlineBytes") == "CERT_REDACTED":
                node["inlineBytes"] = _b64(pki.ca_pem)
            # Kuma's goldens also write placeholders such as base64 "CA" for a certificate
            for key, pem in (("trustedCa", pki.ca_pem), ("certificateChain", pki.cert_pem)):
                ib = (
                    node.get(key, {}).get("inlineBytes")
                    if isinstance(node.get(key), dict)
                    else None
                )
                if isinstance(ib, str) and b"-----BEGIN" not in _unb64(ib):
                    node[key]["inlineBytes"] = _b64(pem)
            for key, val in list(node.items()):
                if (
                    isinstance(val, dict)
                    and ("ads" in val or "apiConfigSource" in val or "api_config_source" in val)
                    and key
                    in (
                        "edsConfig",
                        "eds_config",
                        "sdsConfig",
                        "sds_config",
                        "configSource",
                        "config_source",
                    )
                ):
                    if key in ("edsConfig", "eds_config"):
                        name = g(node, "service_name") or (holder or {}).get("name")
                        node[key] = xds.eds_config(str(name))
                    elif key in ("sdsConfig", "sds_config"):
                        wanted_secrets.add(str(node.get("name")))
                        node[key] = xds.config_source(xds.sds_path(str(node.get("name"))))
                    else:
                        name = g(node, "route_config_name")
                        if name:
                            node[key] = xds.config_source(xds.rds_path(str(name)))
                else:
                    walk(val, key, holder)
        elif isinstance(node, list):
            for item in node:
                walk(item, parent, holder)

    for c in res["cluster"]:
        walk(c, "", c)
    for lst in res["listener"]:
        walk(lst, "", lst)
        for k in ("socket_options", "socketOptions", "transparent"):
            lst.pop(k, None)
        # every listener is bound here, so that Envoy itself can be asked which route wins
        for k in ("bind_to_port", "bindToPort"):
            lst.pop(k, None)
        sa = (lst.get("address") or {}).get("socket_address") or (lst.get("address") or {}).get(
            "socketAddress"
        )
        if sa is not None:
            new = eh.free_port()
            ports[lst["name"]] = (sa.get("address"), g(sa, "port_value"), new)
            sa["address"] = "127.0.0.1"
            sa.pop("portValue", None)
            sa["port_value"] = new
            for extra in g(lst, "additional_addresses") or []:
                esa = extra.get("address", {}).get("socket_address") or extra.get(
                    "address", {}
                ).get("socketAddress")
                if esa:
                    esa["address"] = "127.0.0.1"
                    esa.pop("portValue", None)
                    esa["port_value"] = eh.free_port()
    for r in res["route"]:
        walk(r, "", r)
    for sec in res["secret"]:
        walk(sec, "", sec)
    have = {s["name"] for s in res["secret"]}
    for name in sorted(wanted_secrets - have):
        res["secret"].append(
            {
                "name": name,
                "tls_certificate": {
                    "certificate_chain": {"inline_bytes": _b64(pki.cert_pem)},
                    "private_key": {"inline_bytes": _b64(pki.key_pem)},
                },
            }
            if not re.search(r"(?i)ca|trust|root|validation", name)
            else {
                "name": name,
                "validation_context": {"trusted_ca": {"inline_bytes": _b64(pki.ca_pem)}},
            }
        )
    return ports, wanted_secrets - have


def _unb64(text: str) -> bytes:
    import base64
    import binascii

    try:
        return base64.b64decode(text)
    except (binascii.Error, ValueError):
        return b""


def _b64(data: bytes) -> str:
    import base64

    return base64.b64encode(data).decode()


def pdebug(*args: str, cwd: Path = ROOT) -> tuple[int, str, str]:
    """Run this checkout's pdebug: (exit code, stdout, stderr)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), COLUMNS="400")
    proc = subprocess.run(  # noqa: S603
        [PY, "-m", "pdebug", *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=300
    )
    return proc.returncode, proc.stdout, proc.stderr


PROBLEMS: list[str] = []


def problem(scenario: str, text: str) -> None:
    """Record (and print) a problem found in ``scenario``."""
    PROBLEMS.append(f"{scenario}: {text}")
    print(f"  !! {text}")


def run_scenario(path: Path, out: Path) -> None:
    """Feed one scenario to a real Envoy and compare what pdebug says with it."""
    name = path.stem if path.is_file() else path.name
    name = name.replace(".golden", "")
    print(f"== {name} ({path})")
    res = load(path)
    added = complete(res)
    if added:
        print(f"  (added: {added})")
    fed = copy.deepcopy(res)
    work = out / name
    work.mkdir(parents=True, exist_ok=True)
    pki = eh.make_test_pki(work / "pki")
    with eh.XdsFiles() as xds:
        ports, generated = rewrite(res, xds, pki)
        if generated:
            print(f"  (generated secrets: {sorted(generated)})")
        for r in res["route"]:
            xds.write_rds(r)
        eds_names = set()
        for c in res["cluster"]:
            ecc = g(c, "eds_cluster_config")
            if ecc is not None:
                eds_names.add(str(g(ecc, "service_name") or c["name"]))
        for cla in res["cla"]:
            xds.write_eds(str(g(cla, "cluster_name")), cla)
            eds_names.discard(str(g(cla, "cluster_name")))
        for missing in eds_names:
            xds.write_eds(missing, {"cluster_name": missing})
        for s in res["secret"]:
            xds.write_sds(s)
        xds.write_cds(res["cluster"])
        xds.write_lds(res["listener"])
        boot = {
            "node": {"id": f"sweep20~{name}", "cluster": name},
            "dynamic_resources": {"cds_config": xds.cds_config, "lds_config": xds.lds_config},
            "layered_runtime": {"layers": [{"name": "static", "static_layer": {}}]},
        }
        (work / "fed.json").write_text(json.dumps(res, indent=1))
        (work / "ports.json").write_text(json.dumps(ports, indent=1))
        try:
            envoy = eh.Envoy(boot, wait_live=False, startup_timeout=30)
            envoy.start()
        except eh.EnvoyError as err:
            problem(name, f"envoy did not start: {str(err)[-2000:]}")
            return
        try:
            time.sleep(2.0)
            dump = envoy.get("/config_dump?include_eds")
            (work / "config_dump.json").write_bytes(dump)
            (work / "clusters.json").write_bytes(envoy.get("/clusters?format=json"))
            (work / "envoy.log").write_text(envoy.log_tail(200))
            judge(name, fed, res, ports, work, envoy)
        finally:
            envoy.stop()


def rejected(log: str) -> list[str]:
    """Envoy's log lines that say something was rejected or failed."""
    return [line for line in log.splitlines() if "rejected" in line or "error" in line.lower()]


def judge(
    name: str,
    fed: dict[str, list[Json]],
    res: dict[str, list[Json]],
    ports: Json,
    work: Path,
    envoy: eh.Envoy,
) -> None:
    """Run pdebug's commands on Envoy's dump of the fed resources; say what looks wrong."""
    dump = str(work / "config_dump.json")
    cj = str(work / "clusters.json")
    for line in rejected(envoy.log_tail(200))[:10]:
        print(f"  envoy: {line[:300]}")
    outputs: dict[str, str] = {}
    for cmd in (
        ["clusters", dump],
        ["clusters", dump, "-o", "wide"],
        ["clusters", dump, "-o", "json"],
        ["listeners", dump],
        ["listeners", dump, "-o", "wide"],
        ["listeners", dump, "-o", "json"],
        ["routes", dump],
        ["routes", dump, "-o", "wide"],
        ["routes", dump, "-o", "json"],
        ["endpoints", dump],
        ["endpoints", cj],
        ["endpoints", dump, "--clusters-json", cj, "-o", "wide"],
        ["eds", dump],
        ["secrets", dump],
        ["secrets", dump, "-o", "wide"],
        ["all", dump],
        ["all", dump, "-o", "wide"],
        ["check", dump, "--clusters-json", cj, "-o", "json", "--fail-on", "never"],
        ["check", dump, "--clusters-json", cj],
        ["diff", dump, dump],
        ["bootstrap", dump],
        ["report", dump, "-o", str(work / "report.html")],
    ):
        code, so, se = pdebug(*cmd)
        key = " ".join(c if c not in (dump, cj) else Path(c).name for c in cmd)
        outputs[key] = so
        (work / (re.sub(r"[^A-Za-z0-9]+", "_", key) + ".out")).write_text(
            so + "\n--- stderr\n" + se
        )
        if code == 5 or "Traceback" in se or code not in (0, 1):
            problem(name, f"pdebug {key}: exit {code}: {se.strip()[-600:]}")
    # names
    table = outputs["clusters config_dump.json"]
    for c in fed["cluster"]:
        if c["name"] not in table and c["name"].split("|")[0] not in table:
            problem(name, f"cluster {c['name']} not in clusters table")
    ltable = outputs["listeners config_dump.json -o wide"]
    for lst in fed["listener"]:
        if lst["name"] not in ltable:
            problem(name, f"listener {lst['name']} not in listeners -o wide")
    rtable = outputs["routes config_dump.json"]
    for r in fed["route"]:
        if r["name"] not in rtable:
            problem(name, f"route config {r['name']} not in routes table")
        for vh in g(r, "virtual_hosts") or []:
            for dom in vh.get("domains", []):
                if dom not in outputs["routes config_dump.json -o wide"]:
                    problem(name, f"domain {dom} of {r['name']} not in routes -o wide")
    etable = outputs["endpoints config_dump.json"]
    for cla in fed["cla"]:
        for loc in cla.get("endpoints") or []:
            for lb in g(loc, "lb_endpoints") or []:
                ep = lb.get("endpoint") or {}
                sa = (ep.get("address") or {}).get("socket_address") or (
                    ep.get("address") or {}
                ).get("socketAddress")
                if sa:
                    text = f"{sa.get('address')}:{g(sa, 'port_value')}"
                    if text not in etable:
                        problem(
                            name,
                            f"endpoint {text} of {g(cla, 'cluster_name')} not in endpoints table",
                        )
    stable = outputs["secrets config_dump.json"]
    users = json.dumps(res["listener"] + res["cluster"])
    for s in res["secret"]:
        if f'"{s["name"]}"' not in users:
            continue  # nothing asks Envoy for it: Envoy holds only the secrets it subscribed to
        if s["name"] not in stable:
            problem(name, f"secret {s['name']} not in secrets table")
    findings = json.loads(
        outputs["check config_dump.json --clusters-json clusters.json -o json --fail-on never"]
        or "{}"
    )
    for f in findings.get("findings", []):
        print(
            f"  finding {f['code']} {f['severity'] if 'severity' in f else ''} "
            f"{f['resource']}: {f['message'][:300]}"
        )
    traces(name, res, ports, work, envoy)


def http_routes(lst: Json) -> list[tuple[int, str, str, Json]]:
    """(chain index, route config name, hcm) of the listener's HTTP connection managers."""
    out = []
    for i, fc in enumerate(g(lst, "filter_chains") or []):
        for f in fc.get("filters", []):
            tc = g(f, "typed_config") or {}
            if tc.get("@type", "").endswith("HttpConnectionManager"):
                rc = g(tc, "route_config")
                rds = tc.get("rds")
                out.append(
                    (
                        i,
                        (rc or {}).get("name") or (g(rds, "route_config_name") if rds else ""),
                        "hcm",
                        fc,
                    )
                )
            elif tc.get("@type", "").endswith("TcpProxy"):
                out.append((i, "", "tcp", fc))
    return out


def stats_counts(envoy: eh.Envoy) -> dict[str, int]:
    """Envoy's per-cluster connection and request counters."""
    body = envoy.get(
        "/stats?filter=cluster\\..*\\.(upstream_cx_total|upstream_cx_none_healthy|upstream_rq_total)$"
    ).decode()
    out = {}
    for line in body.splitlines():
        k, _, v = line.partition(": ")
        try:
            out[k] = int(v)
        except ValueError:
            pass
    return out


def picked(before: dict[str, int], after: dict[str, int]) -> list[str]:
    """The counters that changed between two ``stats_counts``."""
    names = set()
    for k, v in after.items():
        if v != before.get(k, 0):
            names.add(k.split(".", 1)[1].rsplit(".", 1)[0])
    return sorted(names)


def stat_name(cluster: str) -> str:
    """Envoy writes a ':' of a cluster name as '_' in its stat names."""
    return cluster.replace(":", "_")


def traces(name: str, res: dict[str, list[Json]], ports: Json, work: Path, envoy: eh.Envoy) -> None:
    """Compare pdebug trace's verdicts with where Envoy sends each request."""
    dump = str(work / "config_dump.json")
    cj = str(work / "clusters.json")
    routes = {r["name"]: r for r in res["route"]}
    for lst in res["listener"]:
        if lst["name"] not in ports:
            continue
        port = ports[lst["name"]][2]
        for _idx, rcname, kind, fc in http_routes(lst):
            fcm = g(fc, "filter_chain_match") or {}
            names = g(fcm, "server_names") or []
            if names and not g(fc, "transport_socket") and kind == "tcp":
                for sn in names[:2]:
                    sni = sn.replace("*", "db.default")
                    sni_trace(name, dump_path(work), cj_path(work), port, sni, envoy)
                continue
            if (
                fcm.get("transport_protocol") == "tls"
                or fcm.get("transportProtocol") == "tls"
                or names
            ):
                continue
            if any("sni_cluster" in f.get("name", "") for f in fc.get("filters", [])):
                taken = {
                    n
                    for c in g(lst, "filter_chains") or []
                    for n in g(g(c, "filter_chain_match") or {}, "server_names") or []
                }
                for c in res["cluster"][-2:]:
                    if c["name"] not in taken:
                        sni_trace(name, dump_path(work), cj_path(work), port, c["name"], envoy)
                continue
            if g(fc, "transport_socket"):
                continue
            if g(fcm, "destination_port") or g(fcm, "prefix_ranges"):
                continue
            reqs: list[tuple[str, list[str]]] = []
            if kind == "tcp":
                reqs.append((f"tcp://127.0.0.1:{port}", []))
            else:
                rc = (
                    routes.get(rcname)
                    or g(g(fc["filters"][0], "typed_config"), "route_config")
                    or {}
                )
                for vh in (g(rc, "virtual_hosts") or [])[:6]:
                    for dom in vh.get("domains", [])[:4] or ["any.example"]:
                        dom = dom.replace("*", "consul" if dom.endswith("*") else "x")
                        if dom == "consul":
                            dom = "any.example"
                        if re.search(r":\d+$", dom):
                            dom = dom.rsplit(":", 1)[0]  # the listener port is rewritten
                        for rt in (vh.get("routes") or [])[:40]:
                            m = rt.get("match", {})
                            rx = (g(m, "safe_regex") or {}).get("regex")
                            path = (
                                m.get("path")
                                or m.get("prefix")
                                or g(m, "path_separated_prefix")
                                or (rx if rx and re.fullmatch(r"[/A-Za-z0-9_-]+", rx) else None)
                                or "/"
                            )
                            if not path.startswith("/"):
                                path = "/" + path
                            hdrs = []
                            for h in m.get("headers", [])[:2]:
                                if (
                                    h["name"].startswith(":")
                                    or h.get("invertMatch")
                                    or h.get("invert_match")
                                ):
                                    continue
                                sm = g(h, "string_match") or {}
                                srx = (g(sm, "safe_regex") or g(h, "safe_regex_match") or {}).get(
                                    "regex"
                                )
                                val = (
                                    g(h, "exact_match")
                                    or sm.get("exact")
                                    or sm.get("prefix")
                                    or g(h, "prefix_match")
                                    or (("x" + sm["suffix"]) if sm.get("suffix") else None)
                                    or (
                                        srx
                                        if srx and re.fullmatch(r"[A-Za-z0-9_-]+", srx)
                                        else None
                                    )
                                    or ("1" if g(h, "present_match") else None)
                                )
                                if val is None:
                                    continue
                                hdrs.append(f"{h['name']}:{val}")
                            query = []
                            for q in g(m, "query_parameters") or []:
                                sm = g(q, "string_match") or {}
                                qrx = (g(sm, "safe_regex") or {}).get("regex")
                                val = (
                                    sm.get("exact")
                                    or sm.get("prefix")
                                    or (
                                        qrx
                                        if qrx and re.fullmatch(r"[A-Za-z0-9_-]+", qrx)
                                        else None
                                    )
                                    or ("1" if g(q, "present_match") else None)
                                )
                                if val is not None:
                                    query.append(f"{q['name']}={val}")
                            if query:
                                path += "?" + "&".join(query)
                            reqs.append((f"http://{dom}:{port}{path}", hdrs))
            for url, hdrs in reqs:
                args = [
                    "trace",
                    dump,
                    url.replace(f":{port}", f":{port}"),
                    "--clusters-json",
                    cj,
                    "-o",
                    "json",
                ]
                for h in hdrs:
                    args += ["-H", h]
                code, so, se = pdebug(*args)
                if code == 5 or "Traceback" in se:
                    problem(name, f"trace {url} {hdrs}: exit {code} {se[-400:]}")
                    continue
                try:
                    tr = json.loads(so)
                except ValueError:
                    problem(name, f"trace {url}: not JSON: {so[:200]} {se[:200]}")
                    continue
                cl = [
                    stat_name(s["name"]) for s in tr.get("steps", []) if s.get("kind") == "cluster"
                ]
                verdict = tr.get("verdict", {})
                before = stats_counts(envoy)
                send(url, port, hdrs)
                time.sleep(0.3)
                real = picked(before, stats_counts(envoy))
                if len(cl) > 1:  # weighted: Envoy picks one of them
                    ok = bool(real) and set(real) <= set(cl)
                else:
                    ok = set(cl) <= set(real) and bool(cl or not real)
                mark = "" if ok else "  <-- DIFFERS"
                print(
                    f"  trace {url} {hdrs}: pdebug {cl} "
                    f"{verdict.get('outcome') or verdict}; envoy {real}{mark}"
                )
                if mark:
                    problem(name, f"trace {url} {hdrs}: pdebug {cl}, envoy {real}")


def dump_path(work: Path) -> str:
    """The config dump's path in ``work``."""
    return str(work / "config_dump.json")


def cj_path(work: Path) -> str:
    """The saved /clusters JSON path in ``work``."""
    return str(work / "clusters.json")


def sni_trace(name: str, dump: str, cj: str, port: int, sni: str, envoy: eh.Envoy) -> None:
    """Trace https://SNI:port/ and open a TLS connection with that SNI to the real Envoy."""
    import ssl

    code, so, se = pdebug(
        "trace", dump, f"https://{sni}:{port}/", "--clusters-json", cj, "-o", "json"
    )
    if code == 5 or "Traceback" in se:
        problem(name, f"trace sni {sni}: exit {code} {se[-300:]}")
        return
    tr = json.loads(so)
    cl = [stat_name(s["name"]) for s in tr.get("steps", []) if s.get("kind") == "cluster"]
    before = stats_counts(envoy)
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=3) as raw:
            try:
                with ctx.wrap_socket(raw, server_hostname=sni) as tls:
                    tls.recv(1)
            except (OSError, ssl.SSLError):
                pass
    except OSError:
        pass
    time.sleep(0.3)
    real = picked(before, stats_counts(envoy))
    ok = set(cl) <= set(real) and bool(cl or not real)
    mark = "" if ok else "  <-- DIFFERS"
    print(
        f"  trace sni {sni}: pdebug {cl} {tr.get('verdict', {}).get('outcome')}; envoy {real}{mark}"
    )
    if mark:
        problem(name, f"trace sni {sni}: pdebug {cl}, envoy {real}")


def send(url: str, port: int, hdrs: list[str]) -> None:
    """Send one request (HTTP, or a TCP connection for ``tcp://``) to the port."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
            if url.startswith("tcp://"):
                sock.sendall(b"hello\r\n")
            else:
                rest = url.split("://", 1)[1]
                host, _, path = rest.partition("/")
                lines = [f"GET /{path} HTTP/1.1", f"Host: {host}", "Connection: close"] + [
                    f"{h.split(':', 1)[0]}: {h.split(':', 1)[1]}" for h in hdrs
                ]
                sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
            sock.settimeout(3)
            try:
                sock.recv(4096)
            except OSError:
                pass
    except OSError:
        pass


def main(argv: list[str]) -> int:
    """Run every scenario given, writing the results under ``argv[0]``."""
    out = Path(argv[0])
    out.mkdir(parents=True, exist_ok=True)
    for arg in argv[1:]:
        try:
            run_scenario(Path(arg), out)
        except Exception as exc:  # noqa: BLE001 - a tool: report and go on
            problem(arg, f"script error {exc!r}")
    print("\n".join(["", "PROBLEMS:", *PROBLEMS]))
    return 1 if PROBLEMS else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
