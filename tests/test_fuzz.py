"""Seeded fuzzing of every command over mutated real dumps (issue #12.8).

Each case mutates one real fixture (truncate, flip bytes, retype a value, nest deeply,
huge numbers, NaN/Infinity, duplicate keys, invalid UTF-8, lone surrogates, control,
bidi and NUL characters in names, gzip (whole or truncated), UTF-16/32, re-encode
camelCase or re-indented) and runs every view, check, trace, diff (also against a
camelCase side), report, ``stats`` (JSON, text and Prometheus), ``ztunnel-config``,
``assert`` (the example runbooks, also mutated), ``status --file`` and
``--clusters-json`` in-process through :func:`pdebug.cli.main`. Also (fuzz8) the paths
added later: a ``200`` status line before the JSON (alone, and before a truncated
paste), a paste cut short with the terminal's next prompt after it (the whole-document
check a missing section triggers), ``{}`` and other empty answers as ``--clusters-json``,
``-o json|yaml --keys camel`` (and ``PDEBUG_KEYS=camel``), whose JSON must parse and
differ from the default output only in key spelling, and ``all`` forked
(``PDEBUG_JOBS=2``), whose output must be what ``PDEBUG_JOBS=1`` prints. Every run must end with
a documented exit code (never 5), no traceback, in bounded time; text output must not
carry raw control bytes (nor bidi controls, line separators or lone surrogates).

``make test`` runs a small budget; ``make fuzz`` a long one. Environment:
``PDEBUG_FUZZ_CASES`` (mutated inputs, default 60), ``PDEBUG_FUZZ_SEED`` (default 12),
``PDEBUG_FUZZ_BUDGET`` (seconds for the whole run, default 35).
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import os
import random
import re
import resource
import sys
import time
import xml.dom.minidom
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from pdebug.cli import main
from tests.harness import FIXTURES, camel_key_diff, camelize

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
ZTUNNEL = sorted((FIXTURES / "corpus/ztunnel").rglob("dump.json")) + [
    FIXTURES / "istioctl/ztunnel-config/dump.json"
]
RUNBOOKS = sorted((FIXTURES.parent / "examples/runbooks").glob("*.yaml"))
STATS = [
    json.dumps(
        {
            "stats": [
                {"name": "cluster_manager.cds.update_rejected", "value": 2},
                {"name": "cluster.outbound|9080||reviews.default.svc.cluster.local.x", "value": 1},
                {"name": "server.version_label", "value": "1.40.0"},
                {"histograms": {"supported_quantiles": [0, 50], "computed_quantiles": []}},
            ]
        }
    ).encode(),
    b"cluster_manager.cds.update_rejected: 2\nserver.live: 1\n"
    b"cluster.outbound|9080||a.upstream_rq_time: P0(nan,1) P25(nan,2)\n",
    b"# TYPE envoy_server_live gauge\nenvoy_server_live{} 1\n"
    b'envoy_cluster_upstream_cx_total{envoy_cluster_name="x"} 4\n',
]

DOCUMENTED = {0, 1, 2, 3, 4, 6}  # 6: trace's UNKNOWN
#: Raw terminal control bytes: C0 but TAB and LF, DEL, C1 (as characters).
#: Also bidi controls (text that reads other than it is), line separators, lone surrogates.
CONTROL = re.compile(
    r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)
TRAPS = ["\x1b[31mRED\x1b[0m", "\x1b]52;c;cGRlYnVn\x07", "a\rb", "\x9b2J", "bell\x07"]
TRAPS += ["evil\u202egnp.exe", "nul\x00x", "\u2028ls", "\x85nel", "\u2066iso\u2069", "\ud800"]


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


def _dupkey(rng: random.Random, data: bytes) -> bytes:
    """A duplicate ``name`` key (JSON readers keep the last one) at an object's start."""
    starts = [m.start() for m in re.finditer(rb'\{"', data)] or [0]
    pos = rng.choice(starts) + 1
    return data[:pos] + b'"name": "dup\\u001b[2J\\u202e", ' + data[pos:]


def _twins(rng: random.Random, doc: Any) -> bytes:
    """A key's other spelling beside it (``version_info`` and ``versionInfo``), another value."""
    for _ in range(rng.randint(1, 4)):
        path = _pick(rng, doc, lambda v: isinstance(v, dict) and any("_" in k for k in v))
        if path is None:
            break
        node = _get(doc, path)
        key = rng.choice([k for k in node if "_" in k])
        twin = re.sub(r"_([a-z0-9])", lambda m: m.group(1).upper(), key)
        node[twin] = rng.choice(["twin", 7, None, {}, [], node[key]])
    return _dumps(doc)


def _nan(rng: random.Random, doc: Any) -> bytes:
    path = _pick(rng, doc, lambda v: isinstance(v, (int, float, str)) and not isinstance(v, bool))
    big = rng.choice(["NaN", "Infinity", "-Infinity", "-0", "1E+2", "1e-999", "0.1e1"])
    return _dumps(_replace(doc, path or (), _Big(big)))


BYTE_KINDS = ["truncate", "flip", "utf8", "gzip", "gztrunc", "utf16", "status", "paste"]
#: What a terminal shows after a paste cut short, or a status line (``curl -w``, ``-i``).
PASTE_TAILS = [b"", b"\n$ ", b"\n...\n", b"\r\nroot@pod:/# ", b"\n\x1b[0m$ ", b"\n}\n"]
STATUS_LINES = [b"200\n", b"200\r\n", b" 200 \n", b"404\n", b"503\n\n", b"200\n200\n"]
#: Answers a /clusters fetch may give that name no cluster (#18: ``{}`` is one).
EMPTY_CLUSTERS = [b"{}", b"{}\n", b"[]", b'{"cluster_statuses": []}', b'{"cluster_statuses": null}',
                  b"200\n{}", b'{"cluster_statuses": {}}', b"{ }", b"null"]  # fmt: skip
DOC_KINDS = ["retype", "nest", "huge", "control", "escaped", "camel", "indent", "dupkey", "nan"]
DOC_KINDS += ["twins"]


def mutate(rng: random.Random, data: bytes) -> tuple[str, bytes]:
    """One seeded mutation of ``data`` (a real admin document) and its name."""
    try:
        doc = json.loads(data)
    except ValueError:  # text /stats or Prometheus: only the byte-level mutations
        doc = None
    kind = rng.choice(BYTE_KINDS + (DOC_KINDS if doc is not None else []))
    if kind == "truncate":
        return kind, data[: rng.randrange(len(data))]
    if kind == "flip":
        return kind, _flip(rng, data)
    if kind == "utf8":
        return kind, _bad_utf8(rng, data)
    if kind == "gzip":
        return kind, gzip.compress(data, mtime=0)
    if kind == "gztrunc":
        packed = gzip.compress(data, mtime=0)
        return kind, packed[: rng.randrange(2, len(packed))]
    if kind == "utf16":
        return kind, data.decode("utf-8").encode(rng.choice(["utf-16", "utf-16-le", "utf-32"]))
    if kind == "status":
        return kind, rng.choice(STATUS_LINES) + data
    if kind == "paste":  # cut short where a section would start, the next prompt after it
        cuts = [m.start() for m in re.finditer(rb'"(@type|configs|dynamic_|static_)', data)]
        cut = rng.choice(cuts) + rng.randrange(0, 40) if cuts else rng.randrange(len(data))
        head = rng.choice([b"", b"", *STATUS_LINES[:2]])
        return kind, head + data[:cut] + rng.choice(PASTE_TAILS)
    if kind == "dupkey":
        return kind, _dupkey(rng, data)
    if kind == "twins":
        return kind, _twins(rng, doc)
    if kind == "retype":
        return kind, _retype(rng, doc)
    if kind == "nest":
        return kind, _nest(rng, doc)
    if kind == "huge":
        return kind, _huge(rng, doc)
    if kind == "nan":
        return kind, _nan(rng, doc)
    if kind == "control":
        return kind, _control(rng, doc)
    if kind == "escaped":  # the same, written as JSON escapes (\\u202e, a lone \\ud800)
        _control(rng, doc)
        return kind, json.dumps(doc).encode()
    if kind == "camel":
        return kind, _dumps(camelize(doc, keep=rng.choice([0.0, 0.5]), rng=rng))
    return kind, _dumps(doc, indent=rng.choice([None, 1, 4]))


def mutate_runbook(rng: random.Random, text: str) -> str:
    """A runbook (YAML) with one to three values retyped, or cut short."""
    import yaml

    doc = yaml.safe_load(text)
    for _ in range(rng.randint(1, 3)):
        path = _pick(rng, doc, lambda v: True)
        if path is None:
            break
        new = rng.choice(
            ["x", 7, -1, 3.5, True, None, [], {}, [1, "a"], {"k": 1}, "", "${nope}", "${ns",
             1e308, float("nan"), 10**30, "[", "(?P<", "a" * 5000, *TRAPS[:-1]]
        )  # fmt: skip
        doc = _replace(doc, path, new)
    out = yaml.safe_dump(doc, allow_unicode=True)
    return out[: rng.randrange(len(out))] if rng.random() < 0.15 else out


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
    #: ``--keys camel`` JSON that does not parse or differs from the default but in spelling.
    camel: list[str] = field(default_factory=list)
    #: ``all`` forked (``PDEBUG_JOBS=2``) printing other than ``PDEBUG_JOBS=1``.
    jobs: list[str] = field(default_factory=list)
    rss_mb: float = 0.0


def run(argv: list[str], env: dict[str, str] | None = None) -> Run:
    saved = {k: os.environ.get(k) for k in env or {}}
    os.environ.update(env or {})
    try:
        return _run(argv)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _run(argv: list[str]) -> Run:
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


def _more_commands(
    rng: random.Random, case: int, dump: Path, original: Path, tmp: Path
) -> tuple[str, list[list[str]]]:
    """The commands the first fuzzer left out: stats, zc, assert, diff against camelCase,
    trace -o yaml, ztunnel check (their inputs mutated too); and the mutations' names."""
    d = str(dump)
    camel = tmp / f"case{case}-camel.json"
    camel.write_bytes(_dumps(camelize(json.loads(original.read_bytes()), keep=0.3, rng=rng)))
    zkind, zdata = mutate(rng, rng.choice(ZTUNNEL).read_bytes())
    zt = tmp / f"case{case}-ztunnel.json"
    zt.write_bytes(zdata)
    tkind, tdata = mutate(rng, rng.choice(STATS))
    stats = tmp / f"case{case}-stats.txt"
    stats.write_bytes(tdata)
    book = rng.choice(RUNBOOKS)
    mutated = tmp / f"case{case}-runbook.yaml"
    mutated.write_text(mutate_runbook(rng, book.read_text()), errors="surrogatepass")
    z = str(zt)
    cmds = [
        ["diff", str(camel), d],
        ["trace", d, "http://reviews:9080/", "-o", "yaml"],
        ["stats", str(stats), "-o", "wide"],
        ["stats", str(stats), "--filter", "update_rejected|live", "-o", "yaml"],
        ["zc", "all", z],
        ["zc", "workload", z, "-o", "wide"],
        ["zc", "connections", z],
        ["zc", "all", z, "-o", "yaml"],
        ["check", z],
        ["assert", str(book), d],
        ["assert", str(mutated), str(original), "-o", "junit"],
        ["assert", str(mutated), d, "-o", "wide"],
    ]
    return f"{zkind}/{tkind}", cmds


Env = dict[str, str]


def _new_paths(
    rng: random.Random, case: int, dump: Path, original: Path, tmp: Path
) -> list[tuple[list[str], Env]]:
    """Runs through the paths added with fuzz8's brief: ``--keys camel`` (option and
    ``PDEBUG_KEYS``), ``all`` forked and not, an empty ``/clusters`` answer."""
    d = str(dump)
    empty = tmp / f"case{case}-empty-clusters.json"
    empty.write_bytes(rng.choice(EMPTY_CLUSTERS))
    view = rng.choice(["clusters", "listeners", "routes", "endpoints", "secrets", "bootstrap"])
    camel = {"PDEBUG_KEYS": "camel"}
    return [
        ([view, d, "-o", "json"], {}),
        ([view, d, "-o", "json", "--keys", "camel"], {}),
        ([view, d, "-o", "yaml"], camel),
        (["all", d, "-o", "json"], {"PDEBUG_JOBS": "1"}),
        (["all", d, "-o", "json", "--keys", "camel"], {"PDEBUG_JOBS": "2"}),
        (["all", d, "-o", "json"], {"PDEBUG_JOBS": "2"}),
        (["all", d], {"PDEBUG_JOBS": "1"}),
        (["all", d], {"PDEBUG_JOBS": "2"}),
        (["all", d, "-o", "wide"], {"PDEBUG_JOBS": "1"}),
        (["all", d, "-o", "wide"], {"PDEBUG_JOBS": "2"}),
        (["endpoints", str(original), "--clusters-json", str(empty), "-o", "wide"], {}),
        (["endpoints", str(empty)], {}),
        (["clusters", d, "--clusters-json", str(empty), "-o", "wide"], {}),
        (["check", d, "--clusters-json", str(empty)], {}),
    ]


def _compare(
    found: Findings, what: str, argv: list[str], env: Env, res: Run, seen: dict[Any, Run]
) -> None:
    """The camel and jobs findings of one run against the runs before it."""
    jobs = env.get("PDEBUG_JOBS")
    plain = [a for a in argv if a not in ("--keys", "camel")]
    key = (tuple(argv), jobs)
    if jobs == "2" and (tuple(argv), "1") in seen:
        one = seen[(tuple(argv), "1")]
        if (one.code, one.out, one.err) != (res.code, res.out, res.err):
            found.jobs.append(
                f"{what}: exit {one.code} vs {res.code}, {one.err[:200]!r} vs {res.err[:200]!r}"
            )
    seen[key] = res
    if "camel" not in argv or "json" not in argv or res.code != 0:
        return
    try:
        doc = json.loads(res.out)
    except ValueError as exc:
        found.camel.append(f"{what}: not JSON ({exc})")
        return
    default = seen.get((tuple(plain), jobs and "1"))
    if default is not None and default.code == 0:
        diff = camel_key_diff(json.loads(default.out), doc)
        if diff:
            found.camel.append(f"{what}: {diff}")


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
        more, extra = _more_commands(rng, case, dump, original, tmp)
        plan = [(argv, {}) for argv in cmds + extra] + _new_paths(rng, case, dump, original, tmp)
        seen: dict[Any, Run] = {}
        for argv, env in plan:
            res = run(argv, env)
            assert sys.getrecursionlimit() == limit
            found.runs += 1
            what = f"seed={seed} case={case} {kind}/{ckind}/{skind}/{more} of {original.name}"
            what += f": {' '.join(f'{k}={v} ' for k, v in env.items())}pdebug {' '.join(argv)}"
            _compare(found, what, argv, env, res, seen)
            if res.code not in DOCUMENTED:
                found.bad_exit.append(f"{what} -> exit {res.code}: {res.err.strip()[:300]}")
            if "Traceback" in res.err or "Traceback" in res.out:
                found.traceback.append(what)
            if res.seconds > RUN_LIMIT:
                found.slow.append(f"{what} took {res.seconds:.1f}s")
            if "junit" in argv and res.code in (0, 1):
                try:
                    xml.dom.minidom.parseString(res.out.encode())
                except Exception as exc:  # noqa: BLE001 - any parse failure is the finding
                    found.control.append(f"{what}: not XML ({exc})")
            structured = "json" in argv or "yaml" in argv or "junit" in argv
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


def test_fuzz_camel_keys_are_json_spelled_otherwise_alike(findings: Findings) -> None:
    assert not findings.camel, "\n".join(findings.camel[:20])


def test_fuzz_forked_all_prints_what_one_process_prints(findings: Findings) -> None:
    assert not findings.jobs, "\n".join(findings.jobs[:20])


def test_mutations_are_seeded() -> None:
    data = DUMPS[0].read_bytes()
    assert mutate(random.Random(5), data) == mutate(random.Random(5), data)
