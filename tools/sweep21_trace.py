"""Sweep 21 (not shipped): does `pdebug trace` pick what Envoy picks?

usage: PYTHONPATH=$PWD python tools/sweep21_trace.py FEED_DIR...

FEED_DIR is one of tools/sweep21_feed.py's (fed.json). Envoy 1.40 is started on fed.json
with one more access log on every HTTP connection manager (request id, cluster, code,
flags, Location); for every route of every plain-text chain a request that should reach
it is sent (Host from the virtual host, path from the match, the exact headers it asks
for), and `pdebug trace` of the same request on that Envoy's dump must name the cluster
Envoy used, or the redirect / local answer Envoy gave.
"""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests import harness as eh

HCM = "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
FMT = "%REQ(X-SWEEP-ID)%|%UPSTREAM_CLUSTER_RAW%|%RESPONSE_CODE%|%RESPONSE_FLAGS%|%RESP(LOCATION)%\n"


def _host(domains: list[str]) -> str:
    for d in domains:
        if d == "*":
            return "sweep21.example"
        if d.startswith("*"):
            return "a" + d[1:]
        if d.endswith("*"):
            return d[:-1] + "a"
        return d
    return "sweep21.example"


def _requests(rc: dict[str, Any]) -> list[tuple[str, str, dict[str, str]]]:
    out = []
    for vh in rc.get("virtual_hosts", []):
        host = _host(vh.get("domains", []))
        for r in vh.get("routes", []):
            m = r.get("match", {})
            if "prefix" in m:
                path = m["prefix"] + ("x" if m["prefix"].endswith("/") else "")
            elif "path" in m:
                path = m["path"]
            else:
                continue
            headers: dict[str, str] = {}
            skip = False
            for h in m.get("headers", []):
                if h.get("invert_match"):
                    skip = True
                elif "exact_match" in h:
                    headers[h["name"]] = h["exact_match"]
                elif "exact" in h.get("string_match", {}):
                    headers[h["name"]] = h["string_match"]["exact"]
                elif h.get("present_match"):
                    headers[h["name"]] = "1"
                else:
                    skip = True
            if m.get("query_parameters") or m.get("grpc"):
                skip = True
            if not skip:
                out.append((host, path, headers))
    return out


def one(d: Path, log: Path) -> list[str]:
    """Compare Envoy with `pdebug trace` on every route of one fed config."""
    boot = json.loads((d / "fed.json").read_text())
    targets = []  # (port, host, path, headers)
    for lst in boot["static_resources"]["listeners"]:
        port = lst["address"]["socket_address"]["port_value"]
        for fc in lst.get("filter_chains", []):
            fcm = fc.get("filter_chain_match", {})
            if fcm.get("transport_protocol") == "tls" or fc.get("transport_socket"):
                continue
            for f in fc.get("filters", []):
                tc = f.get("typed_config", {})
                if not tc.get("@type", "").endswith(HCM):
                    continue
                tc.setdefault("access_log", []).append(
                    {
                        "name": "envoy.access_loggers.file",
                        "typed_config": {
                            "@type": "type.googleapis.com/envoy.extensions.access_loggers"
                            ".file.v3.FileAccessLog",
                            "path": str(log),
                            "log_format": {"text_format_source": {"inline_string": FMT}},
                        },
                    }
                )
                if "route_config" in tc:
                    for host, path, headers in _requests(tc["route_config"]):
                        targets.append((port, host, path, headers))
            if fcm:
                continue
    bad: list[str] = []
    log.unlink(missing_ok=True)
    dump = d / "dump-traced.json"
    with eh.Envoy(boot, wait_live=False, fmt="json") as envoy:
        dump.write_bytes(envoy.get("/config_dump?include_eds"))
        seen = set()
        for i, (port, host, path, headers) in enumerate(targets):
            key = (port, host, path, tuple(sorted(headers.items())))
            if key in seen:
                continue
            seen.add(key)
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            sent = {"Host": host, "x-sweep-id": str(i), **headers}
            if ":authority" in sent:
                sent["Host"] = sent.pop(":authority")
            conn.request("GET", path, headers=sent)
            conn.getresponse().read()
            conn.close()
        time.sleep(1.5)
    got = {}
    for line in log.read_text().splitlines():
        rid, cluster, code, flags, loc = line.split("|")
        got[int(rid)] = (cluster, code, flags, loc)
    seen = set()
    for i, (port, host, path, headers) in enumerate(targets):
        if i not in got:
            continue
        cluster, code, flags, loc = got[i]
        args = [sys.executable, "-m", "pdebug", "trace", str(dump), f"http://{host}:{port}{path}"]
        args += ["-H", f"Host:{headers.get(':authority', host)}"]
        for k, v in headers.items():
            if k != ":authority":
                args += ["-H", f"{k}:{v}"]
        p = subprocess.run(args + ["-o", "json"], capture_output=True, text=True)
        if p.returncode == 5 or "Traceback" in p.stderr or not p.stdout.strip():
            bad.append(f"{host}{path} {headers}: exit {p.returncode} {p.stderr[:200]}")
            continue
        v = json.loads(p.stdout)["verdict"]
        if cluster != "-":
            ok = bool(v.get("clusters")) and v["clusters"][0]["name"] == cluster
        elif code in ("301", "302", "303", "307", "308"):
            ok = str(v.get("status")) == code and (v.get("location") or "") == (
                "" if loc == "-" else loc
            )
        elif flags == "NR":
            ok = v.get("kind") == "no_route"
        else:
            ok = str(v.get("status")) == code
        if not ok:
            bad.append(
                f"{host}:{port}{path} {headers}: envoy {cluster} {code} {flags} {loc}; "
                f"pdebug {v.get('outcome')} {v.get('kind')} {v.get('status')} "
                f"{[c['name'] for c in v.get('clusters') or []]} {v.get('location')} :: "
                f"{v.get('summary', '')[:150]}"
            )
    bad.insert(0, f"{len(got)} requests compared")
    return bad


def main(argv: list[str]) -> None:
    """Compare each feed directory given."""
    for a in argv:
        d = Path(a)
        if not (d / "fed.json").exists() or (d / "error.txt").exists():
            continue
        try:
            bad = one(d, d / "access.log")
        except Exception as exc:  # noqa: BLE001 - a sweep tool: say and go on
            bad = [f"not run: {exc!r}"[:300]]
        print(f"== {a}: {len(bad) - 1}")
        for b in bad:
            print("   ", b)
        sys.stdout.flush()


if __name__ == "__main__":
    main(sys.argv[1:])
