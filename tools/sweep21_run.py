"""Sweep 21 (not shipped): run every pdebug command over each dump and flag what is off.

usage: PYTHONPATH=$PWD python tools/sweep21_run.py DUMP_OR_DIR...

A DIR is one of tools/sweep21_feed.py's (dump.json, clusters.json). For each dump:
every view in table/wide/json/yaml, all, check, report, diff with itself, bootstrap and
secrets; a traceback, exit 5, or an exit code other than the command's documented ones is
printed. Then the tables are held against the dump itself: every cluster, listener (name,
port) and route config name of the dump must be in the JSON views, and no other.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

PD = [sys.executable, "-m", "pdebug"]
OK = {
    "clusters": {0},
    "listeners": {0},
    "routes": {0},
    "endpoints": {0},
    "secrets": {0},
    "bootstrap": {0},
    "all": {0},
    "eds": {0},
    "check": {0, 1},
    "report": {0, 1},
    "diff": {0},
}


def run(*args: str) -> tuple[int, str, str]:
    """Run pdebug with ``args``: (exit code, stdout, stderr)."""
    p = subprocess.run(PD + list(args), capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout, p.stderr


def names(doc: Any) -> dict[str, set[str]]:
    """Names per kind straight from the dump (v3 shape)."""
    out: dict[str, set[str]] = {"clusters": set(), "listeners": set(), "routes": set()}
    for sec in doc.get("configs", []):
        t = sec.get("@type", "")
        if "ClustersConfigDump" in t:
            for k in ("static_clusters", "dynamic_active_clusters", "dynamic_warming_clusters"):
                for e in sec.get(k, []):
                    out["clusters"].add(e["cluster"]["name"])
        if "ListenersConfigDump" in t:
            for e in sec.get("static_listeners", []):
                out["listeners"].add(e["listener"].get("name", ""))
            for e in sec.get("dynamic_listeners", []):
                out["listeners"].add(e["name"])
        if "RoutesConfigDump" in t:
            for k in ("static_route_configs", "dynamic_route_configs"):
                for e in sec.get(k, []):
                    out["routes"].add(e["route_config"].get("name", ""))
    return out


def one(dump: Path, health: Path | None) -> list[str]:
    """What is off in every command over one dump."""
    bad: list[str] = []
    d = str(dump)
    extra = ["--clusters-json", str(health)] if health else []
    for cmd in ("clusters", "listeners", "routes", "endpoints", "secrets", "bootstrap", "all"):
        for fmt in ("table", "wide", "json", "yaml"):
            if cmd in ("secrets", "bootstrap") and fmt == "wide":
                continue
            args = [cmd, d, "-o", fmt] + (extra if cmd in ("endpoints", "clusters") else [])
            code, out, err = run(*args)
            if code not in OK[cmd] or "Traceback" in err:
                bad.append(f"{' '.join(args[:1] + args[2:])}: exit {code}: {err.strip()[:300]}")
    code, out, err = run("check", d, "-o", "json", *extra)
    if code not in OK["check"] or "Traceback" in err:
        bad.append(f"check: exit {code}: {err.strip()[:300]}")
    else:
        for f in json.loads(out).get("findings", []):
            bad.append(f"  finding {f['code']} {f['resource']}: {f['message'][:200]}")
    with tempfile.TemporaryDirectory() as tmp:
        code, out, err = run("report", d, "-o", os.path.join(tmp, "r.html"))
        if code not in OK["report"] or "Traceback" in err:
            bad.append(f"report: exit {code}: {err.strip()[:300]}")
    code, out, err = run("diff", d, d)
    if code not in OK["diff"] or "Traceback" in err:
        bad.append(f"diff self: exit {code}: {err.strip()[:300]}")
    # the names in the JSON views against the dump's own
    try:
        doc = json.loads(dump.read_text())
    except ValueError:
        return bad
    want = names(doc)
    for kind in ("clusters", "listeners", "routes"):
        code, out, err = run(kind, d, "-o", "json")
        if code != 0:
            continue
        got = {str(r.get("name", "")) for r in json.loads(out)} if out.strip() else set()
        if kind == "routes":
            got = {str(r.get("name", "")) for r in json.loads(out)}
        if want[kind] and got != want[kind]:
            bad.append(
                f"{kind} names: only in dump {sorted(want[kind] - got)[:5]}, "
                f"only in view {sorted(got - want[kind])[:5]}"
            )
    return bad


def main(argv: list[str]) -> None:
    """Run every command over each dump or feed directory given."""
    for a in argv:
        p = Path(a)
        dump, health = (p / "dump.json", p / "clusters.json") if p.is_dir() else (p, None)
        if not dump.exists():
            continue
        bad = one(dump, health if health and health.exists() else None)
        print(f"== {a}: {len(bad)}")
        for b in bad:
            print("   ", b)
        sys.stdout.flush()


if __name__ == "__main__":
    main(sys.argv[1:])
