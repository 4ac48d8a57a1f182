"""Smoke run of every command over every real input (fuzz8; not shipped, not a test).

Runs clusters, listeners, routes, endpoints, eds, secrets, bootstrap, ecds, all, check,
trace, diff, report, assert, zc and status --file, in-process through
:func:`pdebug.cli.main`, with -o table/wide/json/yaml, --keys camel and PDEBUG_JOBS=2,
over every JSON/YAML/gz file under fixtures/ and /work/shared/corpus/. Flags exit 5,
tracebacks, control characters in stdout/stderr (text output) or stderr (structured),
output that differs between PDEBUG_JOBS=1 and 2, and ``-o json --keys camel`` that is
not JSON or whose keys differ from the default output's other than by spelling.

    PYTHONPATH=$PWD python tools/smoke8.py [--limit N] [--only SUBSTRING]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from pdebug.cli import main
from tests import harness as eh

ROOT = Path(__file__).resolve().parent.parent
CORPORA = [ROOT / "fixtures", Path("/work/shared/corpus")]
CONTROL = re.compile(
    r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)
VIEWS = ["clusters", "listeners", "routes", "endpoints", "eds", "secrets", "bootstrap", "ecds"]
URLS = ["http://reviews:9080/", "https://productpage.default.svc.cluster.local:9080/x?y=1",
        "tcp://10.0.0.1:443"]  # fmt: skip
RUNBOOKS = sorted((ROOT / "examples/runbooks").glob("*.yaml"))


def run(argv: list[str], env: dict[str, str] | None = None) -> tuple[int, str, str, float]:
    """Exit code, stdout, stderr and seconds of ``pdebug ARGV`` with ``env`` set."""
    saved = {k: os.environ.get(k) for k in (env or {})}
    os.environ.update(env or {})
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", write_through=True)
    err = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", write_through=True)
    start = time.perf_counter()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(argv)
            except SystemExit as exc:
                code = int(exc.code or 0)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    texts = [s.buffer.getvalue().decode("utf-8", "replace") for s in (out, err)]  # type: ignore[attr-defined]
    return code, texts[0], texts[1], time.perf_counter() - start


def inputs() -> Iterator[Path]:
    """JSON, YAML and gzip files, and any other file that starts as JSON (kuma's goldens)."""
    for base in CORPORA:
        for p in sorted(base.rglob("*")):
            if not p.is_file():
                continue
            if re.search(r"\.(json|ya?ml|gz)$", p.name) or p.read_bytes()[:512].lstrip()[:1] in (
                b"{",
                b"[",
            ):
                yield p


def commands(f: Path, other: Path, tmp: Path) -> list[tuple[list[str], dict[str, str]]]:
    """Every command over ``f`` (``other``: the other side of the diffs)."""
    s = str(f)
    cmds: list[tuple[list[str], dict[str, str]]] = []
    for view in [*VIEWS, "all"]:
        for o in ("table", "wide", "json", "yaml"):
            argv = [view, s] if o == "table" else [view, s, "-o", o]
            cmds.append((argv, {}))
            if o in ("json", "yaml"):
                cmds.append(([*argv, "--keys", "camel"], {}))
    for o in ("table", "wide", "json"):
        argv = ["all", s] if o == "table" else ["all", s, "-o", o]
        cmds.append((argv, {"PDEBUG_JOBS": "2"}))
        cmds.append((argv, {"PDEBUG_JOBS": "1"}))
    cmds.append((["clusters", s, "-o", "yaml"], {"PDEBUG_KEYS": "camel"}))
    cmds += [(["check", s], {}), (["check", s, "-o", "json"], {})]
    cmds += [(["trace", s, u], {}) for u in URLS]
    cmds.append((["trace", s, URLS[0], "-o", "json"], {}))
    cmds += [(["diff", s, str(other)], {}), (["diff", str(other), s, "-o", "json"], {})]
    cmds.append((["report", s, "-o", str(tmp / "r.html")], {}))
    cmds += [(["assert", str(b), s], {}) for b in RUNBOOKS[:2]]
    for z in ("all", "workload", "service", "policy", "certificate", "connections"):
        cmds.append((["zc", z, s], {}))
    cmds.append((["zc", "all", s, "-o", "json"], {}))
    cmds.append((["status", "--file", s], {}))
    cmds.append((["endpoints", s, "--clusters-json", s], {}))
    return cmds


def main_() -> int:
    """Run everything; print the findings; 1 when there are any."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--only", default="")
    args = ap.parse_args()
    files = [p for p in inputs() if args.only in str(p)]
    if args.limit:
        files = files[: args.limit]
    bad: list[str] = []
    runs = 0
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory() as tmpd:
        tmp = Path(tmpd)
        for i, f in enumerate(files):
            other = files[(i + 1) % len(files)]
            outs: dict[tuple[str, ...], tuple[int, str]] = {}
            for argv, env in commands(f, other, tmp):
                code, out, err, secs = run(argv, env)
                runs += 1
                what = f"{' '.join(f'{k}={v}' for k, v in env.items())} pdebug {' '.join(argv)}"
                if code == 5 or code not in (0, 1, 2, 3, 4, 6):
                    bad.append(f"EXIT {code}: {what}: {err.strip()[:300]}")
                if "Traceback" in out or "Traceback" in err:
                    bad.append(f"TRACEBACK: {what}")
                if secs > 10:
                    bad.append(f"SLOW {secs:.1f}s: {what}")
                structured = "json" in argv or "yaml" in argv
                for text in [err] if structured else [out, err]:
                    hit = CONTROL.search(text)
                    if hit:
                        bad.append(
                            f"CONTROL: {what}: {text[max(hit.start() - 30, 0) : hit.end() + 10]!r}"
                        )
                        break
                if env.get("PDEBUG_JOBS"):
                    key = tuple(argv)
                    if key in outs and outs[key] != (code, out):
                        bad.append(f"JOBS DIFFER: {what}")
                    outs[key] = (code, out)
                if argv[-2:] == ["--keys", "camel"] and argv[-3] == "json" and code == 0:
                    default = outs.get(tuple(argv[:-2]))
                    try:
                        cdoc = json.loads(out)
                    except ValueError as exc:
                        bad.append(f"CAMEL NOT JSON: {what}: {exc}")
                        continue
                    if default is not None and default[0] == 0:
                        d = eh.camel_key_diff(json.loads(default[1]), cdoc)
                        if d:
                            bad.append(f"CAMEL KEYS: {what}: {d}")
                if argv[-2:] == ["-o", "json"] and not env:
                    outs[tuple(argv)] = (code, out)
            print(f"[{i + 1}/{len(files)}] {f} runs={runs} bad={len(bad)} "
                  f"{time.monotonic() - t0:.0f}s", file=sys.__stderr__, flush=True)  # fmt: skip
    for line in bad:
        print(line)
    print(f"{runs} runs, {len(bad)} findings")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main_())
