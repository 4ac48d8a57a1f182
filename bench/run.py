"""Benchmark pdebug against the cost of simply parsing the dump (``make bench``).

For each dump size (number of services) this script generates a synthetic Istio sidecar
``/config_dump?include_eds`` with ``bench/gendump.py`` (cached in ``bench/out/``), then times
whole processes -- the JSON-parse floor, stdlib json, jq, a bare typer app and the pdebug
commands -- interleaved, ``--runs`` times each, and reports medians, peak RSS and ratios as a
Markdown table (stdout, ``bench/out/results.md``) and JSON (``bench/out/results.json``).

See bench/README.md for how to read the results.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
OUT = BENCH / "out"
GENDUMP = BENCH / "gendump.py"

DEFAULT_SIZES = [200, 1000, 5000]
QUICK_SIZES = [200, 1000]

FLOOR = "orjson floor"
STDLIB = "stdlib json"
TYPER = "typer baseline"
PYSTART = "python start"
FLOOR2 = "orjson floor, both diff files"
FLOOR2_SRC = "import orjson,sys; [orjson.loads(open(f,'rb').read()) for f in sys.argv[1:]]"
#: How many clusters the second diff file changes.
DIFF_CHANGES = 10
FLOOR2_TABS = "orjson floor, diff A vs B re-indented"
FLOOR2_CAMEL = "orjson floor, diff A camelCase vs B re-indented"
DIFF_TABS = "pdebug diff A, B re-indented"
DIFF_CAMEL = "pdebug diff A camelCase, B re-indented"

FLOOR_SRC = "import orjson,sys; orjson.loads(open(sys.argv[1],'rb').read())"
JQ_FILTER = (
    '.configs[] | select(."@type"|endswith("ClustersConfigDump"))'
    " | .dynamic_active_clusters[]?.cluster.name"
)

# The commands measured for every dump size: (label, argv). Placeholders are filled in per
# run: {py} this interpreter, {file} the dump, {jq} / {pdebug} the tools (the row reads
# "missing" when one is not installed), {typer_app} the bare typer app written to bench/out/.
# Add a row here to measure another command; keep FLOOR and STDLIB, the ratios use them.
COMMANDS: list[tuple[str, list[str]]] = [
    (FLOOR, ["{py}", "-c", FLOOR_SRC, "{file}"]),
    # Informational: the same parse with the cyclic GC off. On big dumps most of the floor's
    # time is GC passes triggered by the millions of containers being created.
    ("orjson floor, gc off", ["{py}", "-c", "import gc; gc.disable(); " + FLOOR_SRC, "{file}"]),
    (STDLIB, ["{py}", "-c", "import json,sys; json.load(open(sys.argv[1],'rb'))", "{file}"]),
    ("jq cluster names", ["{jq}", "-r", JQ_FILTER, "{file}"]),
    (TYPER, ["{py}", "{typer_app}", "hello"]),
    # The interpreter alone: what any Python CLI pays before its first import.
    (PYSTART, ["{py}", "-c", "pass"]),
    ("pdebug clusters", ["{pdebug}", "clusters", "{file}"]),
    ("pdebug listeners", ["{pdebug}", "listeners", "{file}"]),
    ("pdebug routes", ["{pdebug}", "routes", "{file}"]),
    ("pdebug endpoints", ["{pdebug}", "endpoints", "{file}"]),
    ("pdebug secrets", ["{pdebug}", "secrets", "{file}"]),
    ("pdebug all", ["{pdebug}", "all", "{file}"]),
    ("pdebug check", ["{pdebug}", "check", "{file}"]),
    # diff: {file2} is {file} with 10 clusters changed (see mutated_copy()).
    (FLOOR2, ["{py}", "-c", FLOOR2_SRC, "{file}", "{file2}"]),
    ("pdebug diff", ["{pdebug}", "diff", "{file}", "{file2}"]),
    # #17 rows (issue 17: structured output, report, diff of differently written dumps).
    # {file2_tabs}: {file2} re-indented with tabs (an editor's re-save); {file_camel}: {file}
    # with lowerCamelCase field names, as istiod writes it (see mutated_copy()).
    (FLOOR2_TABS, ["{py}", "-c", FLOOR2_SRC, "{file}", "{file2_tabs}"]),
    (DIFF_TABS, ["{pdebug}", "diff", "{file}", "{file2_tabs}"]),
    (FLOOR2_CAMEL, ["{py}", "-c", FLOOR2_SRC, "{file_camel}", "{file2_tabs}"]),
    (DIFF_CAMEL, ["{pdebug}", "diff", "{file_camel}", "{file2_tabs}"]),
    ("pdebug clusters -o yaml", ["{pdebug}", "clusters", "{file}", "-o", "yaml"]),
    ("pdebug all -o json", ["{pdebug}", "all", "{file}", "-o", "json"]),
    ("pdebug report", ["{pdebug}", "report", "{file}", "-o", "{report}"]),
]

#: Exit codes that are not failures for a command (diff says 1 when the dumps differ).
OK_CODES = {"pdebug diff": (0, 1), DIFF_TABS: (0, 1), DIFF_CAMEL: (0, 1), "pdebug check": (0, 1)}

#: Rows whose peak-RSS target is not the 1.5x-the-file one (below).
_OWN_RSS_LIMIT = {
    "pdebug diff",
    DIFF_TABS,
    DIFF_CAMEL,
    "pdebug clusters -o yaml",
    "pdebug all -o json",
    "pdebug report",
}

# Targets checked on the same run: (command, size, metric, against, limit).
#   metric "time": median(command) / median(against) <= limit
#   metric "rss":  peak RSS(command) / size of the dump file <= limit   (against = "file")
# A target whose size was not run falls back to the nearest size that was (noted in the row).
TARGETS: list[tuple[str, int, str, str, float]] = [
    # issue #17: clusters <= 0.12x, endpoints <= 0.2x, check <= 0.25x, all <= 0.3x
    ("pdebug clusters", 5000, "time", FLOOR, 0.12),
    ("pdebug listeners", 5000, "time", FLOOR, 0.3),
    ("pdebug routes", 5000, "time", FLOOR, 0.3),
    ("pdebug endpoints", 5000, "time", FLOOR, 0.2),
    ("pdebug check", 5000, "time", FLOOR, 0.25),
    ("pdebug all", 5000, "time", FLOOR, 0.3),
    *[
        (label, 5000, "rss", "file", 1.5)
        for label, _ in COMMANDS
        if label.startswith("pdebug") and label not in _OWN_RSS_LIMIT
    ],
    # diff reads two files: 1.5x each.
    ("pdebug diff", 5000, "rss", "file", 3.0),
    ("pdebug clusters", 200, "time", TYPER, 1.3),
    # issue #17: a 7 MB dump's table in <= 0.1 s where `python -c pass` takes 0.02 s
    ("pdebug clusters", 200, "time", PYSTART, 5.0),
    ("pdebug diff", 5000, "time", FLOOR2, 1.0),
    # #17
    (DIFF_TABS, 5000, "time", FLOOR2_TABS, 0.5),
    (DIFF_CAMEL, 5000, "time", FLOOR2_CAMEL, 0.5),
    (DIFF_TABS, 5000, "rss", "file", 2.5),
    (DIFF_CAMEL, 5000, "rss", "file", 2.5),
    ("pdebug clusters -o yaml", 5000, "time", FLOOR, 1.0),
    ("pdebug all -o json", 5000, "time", FLOOR, 0.5),
    ("pdebug all -o json", 5000, "rss", "file", 2.0),
    ("pdebug report", 5000, "time", FLOOR, 0.5),
]

TYPER_APP = '''\
"""A bare two-command typer app: the start-up cost any typer CLI pays (written by run.py)."""

import typer

app = typer.Typer()


@app.command()
def hello(name: str = "world") -> None:
    """Say hello."""
    print(f"hello {name}")


@app.command()
def bye() -> None:
    """Say bye."""
    print("bye")


if __name__ == "__main__":
    app()
'''


# --------------------------------------------------------------------------------------------
# Measuring one process
# --------------------------------------------------------------------------------------------


@dataclass
class Sample:
    wall: float
    maxrss_kb: int
    rc: int
    stderr: bytes
    #: user+sys CPU seconds of the process and of the children it reaped (wait4's rusage
    #: includes them: pdebug's forked workers, #17).
    cpu: float = 0.0


#: The environment of every measured process. PYTHONDONTWRITEBYTECODE (set on some CI and
#: sandbox machines) is dropped: with it, every pdebug process would compile pdebug's own
#: modules from source (~60 ms), which no install does (pip writes the .pyc files), while the
#: typer baseline's modules come compiled from site-packages. The warm-up pass writes them.
CHILD_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def run_once(argv: list[str], timeout: float) -> Sample:
    """Run ``argv`` (stdout to /dev/null) and return its wall time, CPU and peak RSS.

    ``os.wait4`` reaps exactly this child and returns its rusage, so ``ru_maxrss`` is the
    child's peak resident set (in KiB on Linux), unaffected by other children. Where the
    child forked workers of its own (``pdebug.parallel``), the rusage covers those it
    reaped: CPU is their sum, ``ru_maxrss`` the largest single process (not the sum;
    bench/parprofile.py adds them up).
    """
    with tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        try:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err,
                cwd=ROOT,
                env=CHILD_ENV,
            )
        except OSError as exc:
            return Sample(0.0, 0, 127, f"cannot run {argv[0]}: {exc.strerror}".encode())
        done = threading.Event()

        def kill() -> None:
            if not done.is_set():
                os.kill(proc.pid, signal.SIGKILL)

        timer = threading.Timer(timeout, kill)
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            done.set()
            timer.cancel()
        wall = time.perf_counter() - t0
        rc = os.waitstatus_to_exitcode(status)
        proc.returncode = rc  # already reaped; keep Popen from waiting again
        err.seek(0)
        data = err.read()
    if rc == -signal.SIGKILL and wall >= timeout:
        data = f"timeout after {timeout:.0f}s".encode() + b"\n" + data
    return Sample(wall, usage.ru_maxrss, rc, data, usage.ru_utime + usage.ru_stime)


def first_error_line(stderr: bytes, rc: int) -> str:
    """First line of stderr (the last one for a Python traceback, which is more telling)."""
    lines = [ln.strip() for ln in stderr.decode(errors="replace").splitlines() if ln.strip()]
    if not lines:
        return f"exit status {rc}"
    line = lines[-1] if lines[0].startswith("Traceback") else lines[0]
    return line[:200]


# --------------------------------------------------------------------------------------------
# Dumps
# --------------------------------------------------------------------------------------------


@dataclass
class Dump:
    services: int
    path: Path
    bytes: int
    gen_seconds: float
    counts: dict[str, Any]
    cached: bool


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def get_dump(services: int, seed: int, regen: bool) -> Dump:
    """Return the cached dump for ``services``, generating it if missing or stale."""
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"dump-{services}-s{seed}.json"
    meta_path = path.with_suffix(".meta.json")
    gen_sha = _sha256(GENDUMP)
    if not regen and path.exists() and meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if meta.get("gendump_sha256") == gen_sha and meta.get("bytes") == path.stat().st_size:
            return Dump(services, path, meta["bytes"], meta["gen_seconds"], meta["counts"], True)
    log(f"generating {path.relative_to(ROOT)} ({services} services) ...")
    tmp = path.with_suffix(".json.tmp")
    t0 = time.perf_counter()
    res = subprocess.run(
        [
            sys.executable,
            str(GENDUMP),
            "--services",
            str(services),
            "--seed",
            str(seed),
            "-o",
            str(tmp),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    gen_seconds = time.perf_counter() - t0
    if res.returncode != 0:
        sys.exit(f"gendump failed for {services} services:\n{res.stderr}")
    counts: dict[str, Any] = {}
    for word in res.stderr.split():
        key, sep, value = word.partition("=")
        if sep and value.isdigit():
            counts[key] = int(value)
    tmp.replace(path)
    size = path.stat().st_size
    meta = {
        "services": services,
        "seed": seed,
        "bytes": size,
        "gen_seconds": round(gen_seconds, 3),
        "counts": counts,
        "gendump_sha256": gen_sha,
    }
    meta_path.write_text(json.dumps(meta, indent=2) + "\n")
    log(f"  {size / 1e6:.1f} MB in {gen_seconds:.2f}s")
    return Dump(services, path, size, round(gen_seconds, 3), counts, False)


def mutated_copy(path: Path, variant: str = "") -> Path:
    """``path`` with DIFF_CHANGES clusters' connect_timeout changed (cached beside it).

    ``variant``: "" (2-space indents, as the dump), "tabs" (the same re-indented with one
    tab a level, as an editor re-saves it) or "camel" (``path`` itself, unchanged, with
    lowerCamelCase field names as istiod writes them; map keys such as metadata kept).
    """
    suffix = {"": f"-diff{DIFF_CHANGES}", "tabs": f"-diff{DIFF_CHANGES}-tabs", "camel": "-camel"}
    out = path.with_name(path.stem + suffix[variant] + ".json")
    if out.exists() and out.stat().st_mtime >= path.stat().st_mtime:
        return out
    # In a child process: Linux children inherit the parent's peak RSS as their own
    # ru_maxrss, so this process must never hold a parsed dump.
    argv = [sys.executable, "-m", "bench.run", "--mutate", str(path), str(out), variant]
    subprocess.run(argv, check=True, cwd=ROOT)
    return out


def _to_camel(name: str) -> str:
    """Protobuf's json_name rule (as pdebug.model.camel.to_camel)."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


#: Maps whose keys are data (protojson keeps them), and maps of Any messages by name.
_KEEP_KEYS = {"filter_metadata", "labels", "key_values", "fields", "annotations"}
_ANY_MAPS = {"typed_filter_metadata", "typed_extension_protocol_options", "typed_per_filter_config"}


def _camelize(value: Any, parent: str = "") -> Any:
    if isinstance(value, list):
        return [_camelize(v, parent) for v in value]
    if not isinstance(value, dict) or parent in _KEEP_KEYS:
        return value
    if parent in _ANY_MAPS:
        return {k: _camelize(v) for k, v in value.items()}
    return {_to_camel(k): _camelize(v, k) for k, v in value.items()}


def _mutate(path: Path, out: Path, variant: str = "") -> None:
    import orjson

    doc = orjson.loads(path.read_bytes())
    changed = 0
    if variant != "camel":
        for section in doc["configs"]:
            if section.get("@type", "").endswith(".ClustersConfigDump"):
                entries = section.get("dynamic_active_clusters", [])
                step = max(1, len(entries) // DIFF_CHANGES)
                for entry in entries[::step][:DIFF_CHANGES]:
                    entry["cluster"]["connect_timeout"] = "42s"
                    changed += 1
    else:
        doc = _camelize(doc)
    body = orjson.dumps(doc, option=orjson.OPT_INDENT_2)
    if variant == "tabs":
        import re

        body = re.sub(rb"(?m)^((?:  )+)", lambda m: b"\t" * (len(m.group(1)) // 2), body)
    tmp = out.with_suffix(".tmp")
    tmp.write_bytes(body)
    tmp.replace(out)
    log(f"wrote {out.name}: {changed} clusters changed" + (f", {variant}" if variant else ""))


def warm_page_cache(path: Path) -> None:
    with open(path, "rb", buffering=0) as f:
        while f.read(16 << 20):
            pass


# --------------------------------------------------------------------------------------------
# Benchmark
# --------------------------------------------------------------------------------------------


@dataclass
class Result:
    label: str
    argv: list[str]
    status: str = "ok"  # ok | error | missing | skipped
    note: str = ""
    walls: list[float] = field(default_factory=list)
    rss_kb: list[int] = field(default_factory=list)
    cpus: list[float] = field(default_factory=list)

    @property
    def cpu_median(self) -> float | None:
        return statistics.median(self.cpus) if self.status == "ok" and self.cpus else None

    @property
    def median(self) -> float | None:
        return statistics.median(self.walls) if self.status == "ok" and self.walls else None

    @property
    def min(self) -> float | None:
        return min(self.walls) if self.status == "ok" and self.walls else None

    @property
    def max(self) -> float | None:
        return max(self.walls) if self.status == "ok" and self.walls else None

    @property
    def peak_rss_mb(self) -> float | None:
        return max(self.rss_kb) / 1024 if self.status == "ok" and self.rss_kb else None


def tools(pdebug_override: str | None) -> dict[str, str | None]:
    pdebug: str | None
    if pdebug_override:
        pdebug = pdebug_override
    else:
        cand = Path(sys.executable).parent / "pdebug"
        venv = ROOT / ".venv" / "bin" / "pdebug"
        pdebug = str(venv) if venv.exists() else (str(cand) if cand.exists() else None)
    typer_app = OUT / "typer_baseline.py"
    OUT.mkdir(parents=True, exist_ok=True)
    typer_app.write_text(TYPER_APP)
    return {
        "py": sys.executable,
        "jq": shutil.which("jq"),
        "pdebug": pdebug,
        "typer_app": str(typer_app),
    }


def expand(argv: list[str], subst: dict[str, str | None]) -> list[str] | str:
    """Fill the placeholders; return the name of a missing tool instead if there is one."""
    out = []
    for arg in argv:
        for key, value in subst.items():
            token = "{" + key + "}"
            if token in arg:
                if value is None:
                    return key
                arg = arg.replace(token, value)
        out.append(arg)
    return out


def bench_size(
    dump: Dump,
    commands: list[tuple[str, list[str]]],
    subst: dict[str, str | None],
    runs: int,
    timeout: float,
    warmup: bool,
) -> list[Result]:
    results: list[Result] = []
    used = " ".join(" ".join(a) for _, a in commands)
    files = {"file": str(dump.path), "report": str(OUT / "report.html")}
    for key, variant in (("file2", ""), ("file2_tabs", "tabs"), ("file_camel", "camel")):
        files[key] = str(mutated_copy(dump.path, variant)) if "{" + key + "}" in used else ""
    for label, template in commands:
        argv = expand(template, dict(subst, **files))
        if isinstance(argv, str):
            results.append(Result(label, template, "missing", f"{argv} not found"))
        else:
            results.append(Result(label, argv))
    warm_page_cache(dump.path)
    todo = [r for r in results if r.status == "ok"]
    if warmup:
        # One untimed pass: fills the OS caches (binaries, .pyc files, the dump's pages).
        for res in todo:
            run_once(res.argv, timeout)
    for run in range(runs):
        # Rotate the order each round so no command always runs right after the same one.
        k = run % len(todo) if todo else 0
        for res in todo[k:] + todo[:k]:
            if res.status != "ok":
                continue
            s = run_once(res.argv, timeout)
            if s.rc not in OK_CODES.get(res.label, (0,)):
                res.status = "error"
                res.note = first_error_line(s.stderr, s.rc)
                log(f"[{dump.services} {run + 1}/{runs}] {res.label}: error: {res.note}")
                continue
            res.walls.append(s.wall)
            res.rss_kb.append(s.maxrss_kb)
            res.cpus.append(s.cpu)
            log(
                f"[{dump.services} {run + 1}/{runs}] {res.label}: "
                f"{s.wall:.3f}s (CPU {s.cpu:.3f}s) {s.maxrss_kb / 1024:.0f} MB"
            )
    return results


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


# --------------------------------------------------------------------------------------------
# Reporting
# --------------------------------------------------------------------------------------------


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def machine_info() -> dict[str, Any]:
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    jq = shutil.which("jq")
    jq_version = None
    if jq:
        jq_version = subprocess.run([jq, "--version"], capture_output=True, text=True).stdout
    try:
        import orjson

        orjson_version = orjson.__version__
    except ImportError:  # pragma: no cover - the floor row will report the error
        orjson_version = None
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        affinity = None
    return {
        "nproc": os.cpu_count(),
        "usable_cpus": affinity,
        "cpu_model": cpu,
        "python": sys.version.split()[0],
        "python_executable": sys.executable,
        "platform": platform.platform(),
        "orjson": orjson_version,
        "jq": jq_version.strip() if jq_version else None,
        "loadavg_start": list(os.getloadavg()),
    }


def fmt(x: float | None, spec: str, suffix: str = "") -> str:
    return "–" if x is None else format(x, spec) + suffix


def size_table(dump: Dump, results: list[Result]) -> list[str]:
    by = {r.label: r for r in results}
    floor = by.get(FLOOR)
    stdlib = by.get(STDLIB)
    fmed = floor.median if floor else None
    smed = stdlib.median if stdlib else None
    c = dump.counts
    lines = [
        f"### {dump.services} services — {dump.bytes / 1e6:.1f} MB",
        "",
        f"`{dump.path.relative_to(ROOT)}`: {c.get('clusters', '?')} clusters, "
        f"{c.get('listeners', '?')} listeners, {c.get('virtual_hosts', '?')} virtual hosts, "
        f"{c.get('lb_endpoints', '?')} endpoints; generated in {dump.gen_seconds:.2f}s"
        + (" (cached)" if dump.cached else ""),
        "",
        "| command | median s | min s | max s | CPU s | peak RSS MB | × floor | CPU × floor "
        "| × stdlib | note |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        note = r.note.replace("|", "\\|") if r.status != "ok" else ""
        if r.status != "ok":
            note = f"**{r.status}**: {note}" if note else f"**{r.status}**"
        lines.append(
            f"| {r.label} | {fmt(r.median, '.3f')} | {fmt(r.min, '.3f')} | {fmt(r.max, '.3f')} "
            f"| {fmt(r.cpu_median, '.3f')} | {fmt(r.peak_rss_mb, '.0f')} "
            f"| {fmt(ratio(r.median, fmed), '.2f', '×')} "
            f"| {fmt(ratio(r.cpu_median, floor.cpu_median if floor else None), '.2f', '×')} "
            f"| {fmt(ratio(r.median, smed), '.2f', '×')} | {note} |"
        )
    lines.append("")
    return lines


def evaluate_targets(
    sizes: list[int], dumps: dict[int, Dump], results: dict[int, list[Result]]
) -> list[dict[str, Any]]:
    out = []
    for label, want, metric, against, limit in TARGETS:
        size = min(sizes, key=lambda s: (abs(s - want), -s)) if sizes else want
        by = {r.label: r for r in results.get(size, [])}
        res = by.get(label)
        spread: tuple[float, float] | None = None
        cpu: float | None = None
        if metric == "time":
            desc = f"{label} @{want} ≤ {limit}× {against}"
            base = by.get(against)
            measured = ratio(res.median if res else None, base.median if base else None)
            if res and base and res.status == base.status == "ok" and res.walls and base.walls:
                # The same round's runs are neighbours in time: their ratios show the spread.
                pairs = [a / b for a, b in zip(res.walls, base.walls, strict=False) if b]
                spread = (min(pairs), max(pairs)) if pairs else None
                # user+sys of the process and its forked workers: what the CPUs spent
                cpu = ratio(res.cpu_median, base.cpu_median)
        else:
            desc = f"{label} @{want} peak RSS ≤ {limit}× file size"
            mb = res.peak_rss_mb if res else None
            measured = mb * 1024 * 1024 / dumps[size].bytes if mb is not None else None
        if measured is None:
            if res is None:
                why = "not measured"
            elif res.status != "ok":
                why = res.status
            else:
                why = f"{against} not measured"
            status, detail = "N/A", why
        else:
            status = "MET" if measured <= limit else "MISSED"
            detail = f"{measured:.2f}×"
            if spread is not None:
                detail += f" (per round {spread[0]:.2f}–{spread[1]:.2f}×)"
            if cpu is not None:
                detail += f"; CPU {cpu:.2f}×"
        if size != want:
            detail += f" (at {size}: {want} not run)"
        out.append(
            {
                "target": desc,
                "command": label,
                "size": want,
                "measured_at": size,
                "metric": metric,
                "against": against,
                "limit": limit,
                "measured": measured,
                "status": status,
                "detail": detail,
                "spread": spread,
                "cpu_ratio": cpu,
            }
        )
    return out


def report(
    info: dict[str, Any],
    args: argparse.Namespace,
    dumps: dict[int, Dump],
    results: dict[int, list[Result]],
    targets: list[dict[str, Any]],
    elapsed: float,
) -> str:
    lines = [
        "# pdebug benchmark",
        "",
        f"- date: {info['date']}",
        f"- machine: {info['nproc']} CPUs ({info['usable_cpus']} usable), {info['cpu_model']}, "
        f"load avg {info['loadavg_start'][0]:.2f} before / {info['loadavg_end'][0]:.2f} after",
        f"- python {info['python']} ({info['python_executable']}), orjson {info['orjson']}, "
        f"{info['jq'] or 'jq missing'}",
        f"- pdebug: {info['pdebug'] or 'missing'}",
        f"- {args.runs} runs per command, interleaved; median, min and max wall time of the "
        "whole process, CPU = user+sys of the process and the workers it forked, peak RSS = "
        "max ru_maxrss over the runs (one process: a forked worker's is not added); "
        "× = ratio of medians",
        f"- total bench time {elapsed:.0f}s",
        "",
        "| services | file MB | clusters | listeners | vhosts | endpoints | gen s |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for n, d in sorted(dumps.items()):
        c = d.counts
        lines.append(
            f"| {n} | {d.bytes / 1e6:.1f} | {c.get('clusters', '?')} | {c.get('listeners', '?')} "
            f"| {c.get('virtual_hosts', '?')} | {c.get('lb_endpoints', '?')} "
            f"| {d.gen_seconds:.2f} |"
        )
    lines.append("")
    for n in sorted(results):
        lines += size_table(dumps[n], results[n])
    lines += ["## Targets", ""]
    lines += targets_table(info, args.runs, targets)
    lines.append("")
    return "\n".join(lines)


def targets_table(info: dict[str, Any], runs: int, targets: list[dict[str, Any]]) -> list[str]:
    """The targets as a Markdown table (also what --readme writes into README.md)."""
    start, end = info["loadavg_start"], info["loadavg_end"]
    lines = [
        f"Measured {info['date']}, {info['nproc']} CPUs, load average {start[0]:.2f} before "
        f"and {end[0]:.2f} after; median of {runs} interleaved runs (per round: the spread "
        "of the same round's ratio).",
        "",
        "| target | result | measured |",
        "|---|---|---|",
    ]
    for t in targets:
        if t["status"] == "N/A" and t["detail"].startswith("not measured"):
            continue  # a row --only left out
        lines.append(f"| {t['target']} | {t['status']} | {t['detail']} |")
    return lines


README = ROOT / "README.md"
README_START = "<!-- bench/run.py --readme: start -->"
README_END = "<!-- bench/run.py --readme: end -->"


def write_readme(table: list[str]) -> None:
    """Put ``table`` between the README's markers (the table is never typed by hand)."""
    text = README.read_text()
    if README_START not in text or README_END not in text:
        sys.exit(f"README.md has no {README_START} ... {README_END} markers")
    head, rest = text.split(README_START, 1)
    _, tail = rest.split(README_END, 1)
    README.write_text(head + README_START + "\n" + "\n".join(table) + "\n" + README_END + tail)
    log("wrote the targets table into README.md")


def parse_sizes(text: str) -> list[int]:
    try:
        sizes = sorted({int(x) for x in text.split(",") if x.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of integers: {text}") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError("sizes must be positive integers")
    return sizes


def main(argv: list[str] | None = None) -> int:
    args_in = sys.argv[1:] if argv is None else argv
    if args_in[:1] == ["--readme-from"]:
        # The README's table from a saved run (bench/out/results.json), as --readme writes it.
        saved = json.loads(Path(args_in[1]).read_text())
        write_readme(targets_table(saved["machine"], saved["runs"], saved["targets"]))
        return 0
    if args_in[:1] == ["--mutate"]:
        _mutate(Path(args_in[1]), Path(args_in[2]), *args_in[3:4])
        return 0
    ap = argparse.ArgumentParser(
        description="Benchmark pdebug against the JSON-parse floor on synthetic Istio dumps."
    )
    ap.add_argument(
        "--sizes",
        type=parse_sizes,
        default=None,
        help="comma-separated service counts (default 200,1000,5000)",
    )
    ap.add_argument("--quick", action="store_true", help="only sizes 200,1000")
    ap.add_argument("--runs", type=int, default=5, help="runs per command and size (default 5)")
    ap.add_argument(
        "--readme",
        action="store_true",
        help="write the targets table into README.md (between its bench/run.py markers)",
    )
    ap.add_argument("--seed", type=int, default=1, help="gendump seed (default 1)")
    ap.add_argument("--regen", action="store_true", help="regenerate dumps even if cached")
    ap.add_argument("--pdebug", help="pdebug executable (default .venv/bin/pdebug)")
    ap.add_argument(
        "--only",
        default="",
        help="comma-separated substrings: measure only matching commands (+ the baselines)",
    )
    ap.add_argument(
        "--timeout", type=float, default=600, help="per-process timeout in s (default 600)"
    )
    ap.add_argument(
        "--no-warmup", action="store_true", help="skip the untimed pass on the first size"
    )
    ap.add_argument(
        "--fail-on-miss", action="store_true", help="exit 1 if a target is MISSED or N/A"
    )
    args = ap.parse_args(argv)
    if args.runs < 1:
        ap.error("--runs must be >= 1")
    sizes = args.sizes or (QUICK_SIZES if args.quick else DEFAULT_SIZES)

    commands = COMMANDS
    if args.only:
        wanted = [w.strip() for w in args.only.split(",") if w.strip()]
        commands = [
            (label, a)
            for label, a in COMMANDS
            if label in (FLOOR, STDLIB, TYPER, PYSTART) or any(w in label for w in wanted)
        ]

    t0 = time.perf_counter()
    info = machine_info()
    info["date"] = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    subst = tools(args.pdebug)
    info["pdebug"] = subst["pdebug"]

    dumps = {n: get_dump(n, args.seed, args.regen) for n in sizes}
    results: dict[int, list[Result]] = {}
    for i, n in enumerate(sizes):
        log(f"== {n} services: {dumps[n].bytes / 1e6:.1f} MB ==")
        warmup = i == 0 and not args.no_warmup
        results[n] = bench_size(dumps[n], commands, subst, args.runs, args.timeout, warmup)
    info["loadavg_end"] = list(os.getloadavg())
    elapsed = time.perf_counter() - t0
    targets = evaluate_targets(sizes, dumps, results)
    targets.append(render_target(args.runs))

    md = report(info, args, dumps, results, targets, elapsed)
    print(md)
    if args.readme:
        write_readme(targets_table(info, args.runs, targets))
    (OUT / "results.md").write_text(md)
    payload = {
        "machine": info,
        "runs": args.runs,
        "elapsed_s": round(elapsed, 1),
        "sizes": [
            {
                "services": n,
                "file": str(dumps[n].path.relative_to(ROOT)),
                "bytes": dumps[n].bytes,
                "gen_seconds": dumps[n].gen_seconds,
                "counts": dumps[n].counts,
                "commands": [
                    {
                        "label": r.label,
                        "argv": r.argv,
                        "status": r.status,
                        "note": r.note,
                        "wall_s": [round(w, 4) for w in r.walls],
                        "maxrss_kb": r.rss_kb,
                        "cpu_s": [round(c, 4) for c in r.cpus],
                        "cpu_median_s": r.cpu_median,
                        "median_s": r.median,
                        "min_s": r.min,
                        "peak_rss_mb": r.peak_rss_mb,
                        "x_floor": ratio(r.median, _median(results[n], FLOOR)),
                        "x_stdlib": ratio(r.median, _median(results[n], STDLIB)),
                    }
                    for r in results[n]
                ],
            }
            for n in sizes
        ],
        "targets": targets,
    }
    (OUT / "results.json").write_text(json.dumps(payload, indent=2) + "\n")
    rel = OUT.relative_to(ROOT)
    log(f"wrote {rel / 'results.md'} and {rel / 'results.json'}")
    if args.fail_on_miss and any(t["status"] != "MET" for t in targets):
        return 1
    return 0


RENDER_ROWS = 180_000
RENDER_LIMIT_S = 0.3


def render_target(runs: int) -> dict[str, Any]:
    """Issue #7: render 180k endpoint rows (the endpoints table's shape) in <= 0.3 s.

    In-process, only ``render_table``: the rows are built first, as the view hands them
    over. Median of ``max(runs, 5)`` runs.
    """
    from pdebug.render.text import render_table
    from pdebug.views.endpoints import EP_COLUMNS
    from pdebug.views.table import Table

    ncol = len(EP_COLUMNS)
    rows = [
        (f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}:9080", "HEALTHY", "OK",
         f"outbound|9080||svc-{i // 5}.ns-{i % 7}.svc.cluster.local", *[""] * (ncol - 4))[:ncol]
        for i in range(RENDER_ROWS)
    ]  # fmt: skip
    table = Table(EP_COLUMNS, rows)
    walls = []
    for _ in range(max(runs, 5)):
        t = time.perf_counter()
        render_table(table, False)
        walls.append(time.perf_counter() - t)
    measured = statistics.median(walls)
    return {
        "target": f"render {RENDER_ROWS:,} endpoint rows ≤ {RENDER_LIMIT_S} s (in-process)",
        "command": "render_table",
        "size": RENDER_ROWS,
        "measured_at": RENDER_ROWS,
        "metric": "seconds",
        "against": "absolute",
        "limit": RENDER_LIMIT_S,
        "measured": measured,
        "status": "MET" if measured <= RENDER_LIMIT_S else "MISSED",
        "detail": f"{measured:.3f} s",
    }


def _median(results: list[Result], label: str) -> float | None:
    for r in results:
        if r.label == label:
            return r.median
    return None


if __name__ == "__main__":
    sys.exit(main())
