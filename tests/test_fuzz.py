"""Seeded fuzzing of every command over mutated real dumps (issue #12.8).

Each case mutates one real fixture (truncate, flip bytes, retype a value, nest deeply,
huge numbers, invalid UTF-8, control characters in names, re-encode camelCase or
re-indented) and runs every view, check, trace, diff, report, ``status --file`` and
``--clusters-json`` in-process through :func:`pdebug.cli.main`. Every run must end with
a documented exit code (never 5), no traceback, in bounded time; text output must not
carry raw control bytes.

``make test`` runs a small budget; ``make fuzz`` a long one. Environment:
``PDEBUG_FUZZ_CASES`` (mutated inputs, default 60), ``PDEBUG_FUZZ_SEED`` (default 12),
``PDEBUG_FUZZ_BUDGET`` (seconds for the whole run, default 35).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import re
import resource
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from pdebug.cli import main
from tests.harness import FIXTURES, camelize

CASES = int(os.environ.get("PDEBUG_FUZZ_CASES", "60"))
SEED = int(os.environ.get("PDEBUG_FUZZ_SEED", "12"))
BUDGET = float(os.environ.get("PDEBUG_FUZZ_BUDGET", "35"))
#: Longest any one in-process run may take (the inputs are at most ~200 KB).
RUN_LIMIT = 10.0
#: Peak RSS growth the whole run may cause.
RSS_LIMIT_MB = 1024

DUMPS = [
    FIXTURES / "real/sidecar/config_dump.json",
    FIXTURES / "real/seed-demo/config_dump.json",
    FIXTURES / "istioctl/proxy-config-all/config_dump.json",
    FIXTURES / "istioctl/proxy-config-eds/configdump.json",
    FIXTURES / "istioctl/proxy-config-secret/istio/config_dump.json",
    FIXTURES / "istioctl/proxy-config-ecds/configdump.json",
    FIXTURES / "istioctl/proxy-status-diff/current/configdump.json",
    FIXTURES / "istioctl/proxy-status-diff/historical-2020/pilotconfigdump2020.json",
    FIXTURES / "istioctl/proxy-status-diff/historical-2020/envoyconfigdump2020.json",
]
CLUSTERS_DOCS = [
    FIXTURES / "real/sidecar/clusters.json",
    FIXTURES / "real/seed-demo/clusters.json",
    FIXTURES / "istioctl/proxy-config-endpoints/clusters.json",
]
SYNCZ = sorted((FIXTURES / "istioctl/proxy-status").rglob("*.json"))

DOCUMENTED = {0, 1, 2, 3, 4, 6}  # 6: trace's UNKNOWN
#: Raw terminal control bytes: C0 but TAB and LF, DEL, C1 (as characters).
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
TRAPS = ["\x1b[31mRED\x1b[0m", "\x1b]52;c;cGRlYnVn\x07", "a\rb", "\x9b2J", "bell\x07"]


# --- mutations -------------------------------------------------------------------------


def _nodes(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    yield path, value
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _nodes(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _nodes(v, (*path, i))


def _replace(doc: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    parent = doc
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = new
    return doc


def _pick(rng: random.Random, doc: Any, want: Callable[[Any], bool]) -> tuple[Any, ...] | None:
    found = [p for p, v in _nodes(doc) if p and want(v)]
    return rng.choice(found) if found else None


class _Big:
    """A placeholder encoded as raw JSON text (numbers no JSON library writes)."""

    def __init__(self, text: str) -> None:
        self.text = text


def _dumps(doc: Any, indent: int | None = None) -> bytes:
    bigs: list[str] = []

    def default(obj: Any) -> Any:
        if isinstance(obj, _Big):
            bigs.append(obj.text)
            return f"@@BIG{len(bigs) - 1}@@"
        raise TypeError(obj)

    text = json.dumps(doc, indent=indent, default=default, ensure_ascii=False)
    for i, big in enumerate(bigs):
        text = text.replace(f'"@@BIG{i}@@"', big)
    return text.encode("utf-8", "surrogatepass")


def _retype(rng: random.Random, doc: Any) -> bytes:
    for _ in range(rng.randint(1, 3)):
        path = _pick(rng, doc, lambda v: True)
        if path is None:
            break
        new = rng.choice(["x", 7, -1, 3.5, True, None, [], {}, [1, "a"], {"k": 1}, "", {"name": 5}])
        doc = _replace(doc, path, new)
    return _dumps(doc)


def _nest(rng: random.Random, doc: Any) -> bytes:
    depth = rng.choice([150, 600, 3000, 100_000])
    path = _pick(rng, doc, lambda v: True)
    opener, closer = rng.choice([("[", "]"), ('{"a":', "}")])
    doc = _replace(doc, path or (), _Big(opener * depth + "1" + closer * depth))
    return _dumps(doc)


def _huge(rng: random.Random, doc: Any) -> bytes:
    path = _pick(rng, doc, lambda v: isinstance(v, (int, float, str)) and not isinstance(v, bool))
    big = rng.choice(["123456789012345678901234567890", "-99999999999999999999", "1e999", "-1e999"])
    return _dumps(_replace(doc, path or (), _Big(big)))


def _control(rng: random.Random, doc: Any) -> bytes:
    for _ in range(rng.randint(1, 4)):
        path = _pick(rng, doc, lambda v: isinstance(v, str))
        if path is None:
            break
        trap = rng.choice(TRAPS)
        _replace(doc, path, trap + str(_get(doc, path)))
    # also in a key
    path = _pick(rng, doc, lambda v: isinstance(v, dict) and v)
    if path is not None:
        node = _get(doc, path)
        key = rng.choice(list(node))
        node[key + rng.choice(TRAPS)] = node.pop(key)
    return _dumps(doc)


def _get(doc: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        doc = doc[step]
    return doc


def _bad_utf8(rng: random.Random, data: bytes) -> bytes:
    quotes = [m.start() for m in re.finditer(rb'"[a-z/]', data)]
    for _ in range(rng.randint(1, 6)):
        pos = rng.choice(quotes) + 1 if quotes and rng.random() < 0.9 else 0
        bad = rng.choice([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\x80"])
        data = data[:pos] + bad + data[pos:]
    return data


def _flip(rng: random.Random, data: bytes) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        buf[rng.randrange(len(buf))] = rng.randrange(256)
    return bytes(buf)


def mutate(rng: random.Random, data: bytes) -> tuple[str, bytes]:
    """One seeded mutation of ``data`` (a real admin document) and its name."""
    kind = rng.choice(
        ["truncate", "flip", "retype", "nest", "huge", "utf8", "control", "camel", "indent"]
    )
    if kind == "truncate":
        return kind, data[: rng.randrange(len(data))]
    if kind == "flip":
        return kind, _flip(rng, data)
    if kind == "utf8":
        return kind, _bad_utf8(rng, data)
    doc = json.loads(data)
    if kind == "retype":
        return kind, _retype(rng, doc)
    if kind == "nest":
        return kind, _nest(rng, doc)
    if kind == "huge":
        return kind, _huge(rng, doc)
    if kind == "control":
        return kind, _control(rng, doc)
    if kind == "camel":
        return kind, _dumps(camelize(doc, keep=rng.choice([0.0, 0.5]), rng=rng))
    return kind, _dumps(doc, indent=rng.choice([None, 1, 4]))


# --- running ---------------------------------------------------------------------------


@dataclass
class Run:
    argv: list[str]
    code: int
    out: str
    err: str
    seconds: float


@dataclass
class Findings:
    runs: int = 0
    bad_exit: list[str] = field(default_factory=list)
    traceback: list[str] = field(default_factory=list)
    slow: list[str] = field(default_factory=list)
    control: list[str] = field(default_factory=list)
    rss_mb: float = 0.0


def run(argv: list[str]) -> Run:
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", write_through=True)
    err = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", write_through=True)
    start = time.perf_counter()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:  # pragma: no cover - main returns, never exits
            code = int(exc.code or 0)
    seconds = time.perf_counter() - start
    texts = []
    for stream in (out, err):
        stream.flush()
        texts.append(stream.buffer.getvalue().decode("utf-8", "replace"))  # type: ignore[attr-defined]
    return Run(argv, code, texts[0], texts[1], seconds)


def _commands(dump: Path, clusters: Path, original: Path, tmp: Path) -> list[list[str]]:
    d = str(dump)
    cmds: list[list[str]] = []
    for view in ("clusters", "listeners", "routes", "endpoints", "eds", "secrets", "bootstrap"):
        cmds.append([view, d, "-o", "wide"])
    cmds += [
        ["ecds", d],
        ["all", d, "-o", "json"],
        ["listeners", d, "-o", "yaml"],
        ["clusters", d, "-o", "markdown"],
        ["check", d],
        ["trace", d, "http://reviews:9080/"],
        ["trace", d, "http://productpage.default.svc.cluster.local:9080/x", "-o", "wide"],
        ["diff", str(original), d, "--include", "static,secrets,endpoints"],
        ["report", d, "-o", str(tmp / "r.html")],
        ["endpoints", str(original), "--clusters-json", str(clusters), "-o", "wide"],
        ["endpoints", str(clusters)],
        ["check", str(original), "--clusters-json", str(clusters)],
    ]
    return cmds


def fuzz(tmp: Path, cases: int, seed: int, budget: float) -> Findings:
    rng = random.Random(seed)
    found = Findings()
    start_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    deadline = time.monotonic() + budget
    limit = sys.getrecursionlimit()
    for case in range(cases):
        if time.monotonic() > deadline:
            break
        original = rng.choice(DUMPS)
        kind, data = mutate(rng, original.read_bytes())
        dump = tmp / f"case{case}.json"
        dump.write_bytes(data)
        cdoc = rng.choice(CLUSTERS_DOCS)
        ckind, cdata = mutate(rng, cdoc.read_bytes())
        clusters = tmp / f"case{case}-clusters.json"
        clusters.write_bytes(cdata)
        syncz = rng.choice(SYNCZ)
        skind, sdata = mutate(rng, syncz.read_bytes())
        status = tmp / f"case{case}-syncz.json"
        status.write_bytes(sdata)
        cmds = _commands(dump, clusters, original, tmp)
        cmds.append(["status", "--file", str(status), "-o", "wide"])
        for argv in cmds:
            res = run(argv)
            assert sys.getrecursionlimit() == limit
            found.runs += 1
            what = f"seed={seed} case={case} {kind}/{ckind}/{skind} of {original.name}"
            what += f": pdebug {' '.join(argv)}"
            if res.code not in DOCUMENTED:
                found.bad_exit.append(f"{what} -> exit {res.code}: {res.err.strip()[:300]}")
            if "Traceback" in res.err or "Traceback" in res.out:
                found.traceback.append(what)
            if res.seconds > RUN_LIMIT:
                found.slow.append(f"{what} took {res.seconds:.1f}s")
            structured = "json" in argv or "yaml" in argv
            streams = [res.err] if structured else [res.out, res.err]
            for text in streams:
                hit = CONTROL.search(text)
                if hit:
                    found.control.append(
                        f"{what}: {text[max(hit.start() - 40, 0) : hit.end() + 20]!r}"
                    )
                    break
    found.rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - start_rss
    return found


@pytest.fixture(scope="module")
def findings(tmp_path_factory: pytest.TempPathFactory) -> Findings:
    return fuzz(tmp_path_factory.mktemp("fuzz"), CASES, SEED, BUDGET)


def test_fuzz_exit_codes_are_documented(findings: Findings) -> None:
    assert findings.runs > 0
    assert not findings.bad_exit, "\n".join(findings.bad_exit[:20])


def test_fuzz_no_traceback_bounded_time_and_memory(findings: Findings) -> None:
    assert not findings.traceback, "\n".join(findings.traceback[:20])
    assert not findings.slow, "\n".join(findings.slow[:20])
    assert findings.rss_mb < RSS_LIMIT_MB


def test_fuzz_no_raw_control_bytes_on_text_output(findings: Findings) -> None:
    assert not findings.control, "\n".join(findings.control[:20])


def test_mutations_are_seeded() -> None:
    data = DUMPS[0].read_bytes()
    assert mutate(random.Random(5), data) == mutate(random.Random(5), data)
