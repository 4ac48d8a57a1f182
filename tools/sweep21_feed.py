"""Sweep 21 (not shipped): feed other projects' Envoy configs to a real Envoy 1.40.

usage: PYTHONPATH=$PWD python tools/sweep21_feed.py OUTDIR CONFIG...

For each CONFIG (a bootstrap, JSON or YAML): listener addresses moved to 127.0.0.1 and
free ports, the ``admin`` block replaced by the harness's, files it names (certificates)
taken from ``--files DIR`` by base name or replaced by one self-signed pair, nothing else
changed. Envoy's ``/config_dump?include_eds`` and ``/clusters?format=json`` are saved as
OUTDIR/NAME/{dump.json,clusters.json}, the config fed as fed.json, and Envoy's refusal (if
any) as error.txt.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from tests import harness as eh


def _pair(out: Path) -> tuple[str, str]:
    crt, key = out / "self.crt", out / "self.key"
    if not crt.exists():
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650"]
            + ["-subj", "/CN=sweep21.example", "-keyout", str(key), "-out", str(crt)],
            check=True,
            capture_output=True,
        )
    return str(crt), str(key)


# Filters Envoy <= 1.17 took by name alone; Envoy 1.40 wants their (empty) typed config.
BY_NAME = {
    "envoy.filters.listener.tls_inspector": "listener.tls_inspector.v3.TlsInspector",
    "envoy.filters.listener.proxy_protocol": "listener.proxy_protocol.v3.ProxyProtocol",
    "envoy.filters.listener.original_dst": "listener.original_dst.v3.OriginalDst",
    "envoy.filters.listener.http_inspector": "listener.http_inspector.v3.HttpInspector",
    "envoy.filters.http.cors": "http.cors.v3.Cors",
    "envoy.filters.http.router": "http.router.v3.Router",
    "envoy.filters.http.grpc_web": "http.grpc_web.v3.GrpcWeb",
    "envoy.filters.http.grpc_http1_bridge": "http.grpc_http1_bridge.v3.Config",
}


def _walk(node: Any, pair: tuple[str, str], files: Path | None) -> None:
    if isinstance(node, dict):
        name = node.get("name")
        if name in BY_NAME and "typed_config" not in node and "config" not in node:
            node["typed_config"] = {
                "@type": "type.googleapis.com/envoy.extensions.filters." + BY_NAME[name]
            }
        for k, v in list(node.items()):
            if k == "filename" and isinstance(v, str) and not v.startswith("/dev/"):
                base = Path(v).name
                hit = list(files.rglob(base)) if files else []
                if hit:
                    node[k] = str(hit[0])
                else:
                    node[k] = pair[1] if v.endswith(".key") else pair[0]
            elif k == "path" and isinstance(v, str) and v.startswith("/tmp/ambassador"):
                node[k] = "/dev/null"
            else:
                _walk(v, pair, files)
    elif isinstance(node, list):
        for v in node:
            _walk(v, pair, files)


def feed(src: Path, out: Path, files: Path | None = None) -> None:
    """Start Envoy 1.40 on one bootstrap; save its dump and /clusters in OUT/NAME."""
    text = src.read_text()
    boot = json.loads(text) if text.lstrip().startswith("{") else yaml.safe_load(text)
    d = out / src.stem
    d.mkdir(parents=True, exist_ok=True)
    for lst in boot.get("static_resources", {}).get("listeners", []):
        sa = lst.get("address", {}).get("socket_address")
        if sa is not None:
            sa["address"], sa["port_value"] = "127.0.0.1", eh.free_port()
    boot.pop("admin", None)
    _walk(boot, _pair(out), files)
    (d / "fed.json").write_text(json.dumps(boot, indent=1))
    # Contour's bootstrap has no node: its Envoy is started with --service-node/-cluster
    extra = [] if "node" in boot else ["--service-node", "envoy-1", "--service-cluster", "contour"]
    try:
        with eh.Envoy(boot, wait_live=False, fmt="json", extra_args=extra) as envoy:
            (d / "dump.json").write_bytes(envoy.get("/config_dump?include_eds"))
            (d / "clusters.json").write_bytes(envoy.get("/clusters?format=json"))
        (d / "error.txt").unlink(missing_ok=True)
        print("ok  ", src)
    except eh.EnvoyError as exc:
        (d / "error.txt").write_text(str(exc))
        print("FAIL", src, str(exc).splitlines()[-1][:200])


def feed_xds(src: Path, out: Path) -> None:
    """Serve a translator's output ({Listeners, Routes}: kgateway's goldens) by file xDS.

    Listeners by LDS (127.0.0.1, free ports), route configs by RDS.
    """
    doc = yaml.safe_load(src.read_text())
    d = out / src.stem
    d.mkdir(parents=True, exist_ok=True)
    xds = eh.XdsFiles(d / "xds")
    listeners = doc.get("Listeners") or []
    for lst in listeners:
        sa = lst.get("address", {}).get("socketAddress") or lst.get("address", {}).get(
            "socket_address"
        )
        if sa is not None:
            sa["address"] = "127.0.0.1"
            sa.pop("ipv4Compat", None)
            sa["portValue"] = eh.free_port()
            sa.pop("port_value", None)
        for fc in lst.get("filterChains", []):
            for f in fc.get("filters", []):
                tc = f.get("typedConfig", {})
                if "rds" in tc:
                    tc["rds"] = xds.rds_config(tc["rds"]["routeConfigName"])
    for rc in doc.get("Routes") or []:
        xds.write_rds(rc)
    xds.write_lds(listeners)
    boot: dict[str, Any] = {
        "node": {"id": "sweep21", "cluster": "kgateway"},
        "dynamic_resources": {"lds_config": xds.lds_config},
        "static_resources": {"clusters": doc.get("Clusters") or []},
    }
    (d / "fed.json").write_text(json.dumps({"bootstrap": boot, "xds": doc}, indent=1))
    try:
        with eh.Envoy(boot, wait_live=False, fmt="json") as envoy:
            time.sleep(1.0)
            (d / "dump.json").write_bytes(envoy.get("/config_dump?include_eds"))
            (d / "clusters.json").write_bytes(envoy.get("/clusters?format=json"))
        (d / "error.txt").unlink(missing_ok=True)
        print("ok  ", src)
    except eh.EnvoyError as exc:
        (d / "error.txt").write_text(str(exc))
        print("FAIL", src, str(exc).splitlines()[-1][:200])


def main(argv: list[str]) -> None:
    """Feed every CONFIG of the command line."""
    files = None
    if argv[0] == "--files":
        files, argv = Path(argv[1]), argv[2:]
    out = Path(argv[0])
    for src in argv[1:]:
        if "Listeners:" in Path(src).read_text():
            feed_xds(Path(src), out)
        else:
            feed(Path(src), out, files)


if __name__ == "__main__":
    main(sys.argv[1:])
