"""Seeded differential fuzzing of the admin's framing: never a silently partial table or bundle.

tests/test_fuzz_http.py checks that any misbehaving answer ends in a documented exit code;
it does not check *what* a run that succeeds printed or saved. Here each GET's answer is
framed in a seeded way whose meaning HTTP/1.1 fixes, so the oracle is exact:

* **whole**: a correct client reads exactly the body the admin meant (Content-Length,
  chunked with odd sizes, extensions, upper-case hex, trailers, chunked beside a
  Content-Length (chunked wins), read until close (no length, HTTP/1.0), 1xx answers first,
  LF-only lines, many or odd headers, ``Content-Encoding: identity``, sent a byte at a time
  in pieces). Every command must then print, exit and save exactly what it does against
  an admin that answers plainly (the same stdout, stderr and exit code; ``dump -o`` the same
  members and manifest file entries).
* **broken**: a correct client cannot have the body (a Content-Length past the end, a
  chunked body cut inside a chunk or without its last chunk, a bad chunk size, two
  different Content-Lengths, a compressed body pdebug did not ask for, a body that trickles
  past ``--timeout``, the connection reset). A command that reads it must not exit 0 with
  output other than the plain run's (a table from half a dump is the failure); ``dump -o``
  must write nothing unless it exits 0; each run says one ``pdebug: error:`` line at most.

Every run: a documented exit code, no traceback, no raw control character on a text
stream, nothing but ``-o``'s file left in the run's directory (no temp file), in bounded
time. Commands: ``clusters``, ``all -o json``, ``endpoints -o wide``, ``check -o json``,
``stats``, ``dump -o``.

``pdebug snapshot`` is fuzzed the same way through the Kubernetes API server double's
port-forward (tests/harness/kube_double.py): two pods, each forwarded to an admin of its
own, one or both framing one or two paths in a seeded way, captured at once. With whole
answers the bundle must hold what the plain run's holds (the same members, the same
manifest file entries, exit code, stdout, and progress lines); with a broken one it may
exit 0 only with exactly that bundle, exit 1 only with a bundle whose every member is the
plain run's and whose every missing file is explained in the manifest (the proxy failed,
or its errors say which GET broke), and exit 3 only with no file written.

``make test`` runs a small budget; ``make fuzz`` a long one. Environment:
``PDEBUG_FUZZWIRE_CASES`` (default 12), ``PDEBUG_FUZZWIRE_SEED`` (default 11),
``PDEBUG_FUZZWIRE_BUDGET`` (seconds, default 12); the snapshot runs take as many cases
and a third of the budget more.
"""

from __future__ import annotations

import gzip
import os
import random
import re
import shutil
import tarfile
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.harness.wire import (
    BODIES,
    CONTROL,
    DOCUMENTED,
    Answer,
    FuzzAdmin,
    chunked_body,
    plain_answer,
    real_body,
    run_captured,
)

CASES = int(os.environ.get("PDEBUG_FUZZWIRE_CASES", "12"))
SEED = int(os.environ.get("PDEBUG_FUZZWIRE_SEED", "11"))
BUDGET = float(os.environ.get("PDEBUG_FUZZWIRE_BUDGET", "12"))
TIMEOUT = 2.0
RUN_LIMIT = 15.0

WHOLE = [
    "length", "chunked", "chunked-ext", "chunked-upper", "chunked-trailer", "chunked-1",
    "chunked+length", "close", "http10", "continue", "lf-only", "many-headers",
    "identity", "pieces", "trap-header", "empty-reason",
]  # fmt: skip
BROKEN = [
    "long", "cut", "chunked-cut", "chunked-nolast", "chunked-badsize", "dup-length", "gzip",
    "gzip-undeclared", "deflate", "te-gzip", "drip", "reset", "huge-length",
]  # fmt: skip


@dataclass
class Framed:
    """One answer and whether a correct client gets its whole body."""

    kind: str
    whole: bool
    answer: Answer


def _head(lines: list[bytes], eol: bytes = b"\r\n") -> bytes:
    return eol.join(lines) + eol + eol


def framed(rng: random.Random, body: bytes) -> Framed:
    """``body`` as a ``200`` answer framed in one seeded way (see the module docstring)."""
    kind = rng.choice(WHOLE + BROKEN)
    ok = b"HTTP/1.1 200 OK"
    ctype = b"Content-Type: application/json"
    length = f"Content-Length: {len(body)}".encode()
    te = b"Transfer-Encoding: chunked"
    data: bytes
    drip = 0.0
    reset = False
    if kind in ("length", "pieces"):
        data = _head([ok, ctype, length]) + body
        drip = 0.001 if kind == "pieces" else 0.0
    elif kind.startswith("chunked") and kind not in ("chunked+length", "chunked-1"):
        how = {"chunked": "ok", "chunked-ext": "ext", "chunked-upper": "upper"}.get(kind)
        how = how or kind.partition("-")[2]
        data = _head([ok, ctype, te]) + chunked_body(rng, body, how)
    elif kind == "chunked-1":  # one chunk per byte of the first 300, then the rest
        parts = [body[i : i + 1] for i in range(min(300, len(body)))] + [body[300:]]
        chunks = b"".join(f"{len(p):x}\r\n".encode() + p + b"\r\n" for p in parts if p)
        data = _head([ok, ctype, te]) + chunks + b"0\r\n\r\n"
    elif kind == "chunked+length":  # RFC 9112 6.3: Transfer-Encoding overrides the length
        data = _head([ok, ctype, length, te]) + chunked_body(rng, body, "ok")
    elif kind in ("close", "http10"):
        status = b"HTTP/1.0 200 OK" if kind == "http10" else ok
        data = _head([status, ctype, b"Connection: close"]) + body
    elif kind == "continue":
        data = b"HTTP/1.1 100 Continue\r\n\r\n" * rng.randint(1, 5)
        data += _head([ok, ctype, length]) + body
    elif kind == "lf-only":
        data = _head([ok, ctype, length], b"\n") + body
    elif kind == "many-headers":
        extra = [f"X-H{i}: {i}".encode() for i in range(rng.randint(1, 90))]
        data = _head([ok, ctype, *extra, length]) + body
    elif kind == "identity":
        data = _head([ok, ctype, b"Content-Encoding: identity", length]) + body
    elif kind == "trap-header":
        trap = rng.choice([b"\x1b[31mred", b"\xff\xfe", b"a\x9bb", b"\x1b]52;c;x\x07"])
        data = _head([ok, ctype, b"Server: " + trap, length]) + body
    elif kind == "empty-reason":
        data = _head([b"HTTP/1.1 200 ", ctype, length]) + body
    elif kind == "long":
        more = f"Content-Length: {len(body) + rng.randint(1, 4000)}".encode()
        data = _head([ok, ctype, more]) + body
    elif kind == "cut":  # the body cut short, then the connection closed (a FIN, no reset)
        data = _head([ok, ctype, length]) + body[: rng.randrange(len(body))]
    elif kind == "dup-length":
        data = _head([ok, ctype, length, f"Content-Length: {max(len(body) - 7, 0)}".encode()])
        data += body
    elif kind == "gzip":
        packed = gzip.compress(body, mtime=0)
        more = f"Content-Length: {len(packed)}".encode()
        data = _head([ok, ctype, b"Content-Encoding: gzip", more]) + packed
    elif kind == "gzip-undeclared":
        packed = gzip.compress(body, mtime=0)
        data = _head([ok, ctype, f"Content-Length: {len(packed)}".encode()]) + packed
    elif kind == "deflate":
        packed = zlib.compress(body)
        more = f"Content-Length: {len(packed)}".encode()
        data = _head([ok, ctype, b"Content-Encoding: deflate", more]) + packed
    elif kind == "te-gzip":
        data = _head([ok, ctype, b"Transfer-Encoding: gzip, chunked"])
        data += chunked_body(rng, gzip.compress(body, mtime=0), "ok")
    elif kind == "drip":  # 512 bytes every 0.1 s: far past --timeout for a config dump
        data = _head([ok, ctype, length]) + body
        drip = 0.1
    elif kind == "reset":  # the body cut, then the connection reset
        data = _head([ok, ctype, length]) + body[: rng.randrange(len(body))]
        reset = True
    else:  # huge-length
        data = _head([ok, ctype, b"Content-Length: 99999999999999999999"]) + body
    if kind == "drip" and len(body) < 512 * 40:
        kind, drip = "drip-short", 0.0  # too short to pass the deadline: whole, slowly
        data = _head([ok, ctype, length]) + body
    whole = kind in WHOLE or kind == "drip-short"
    if kind == "chunked-badsize" or kind == "chunked-cut" and len(body) == 0:
        whole = False
    return Framed(kind, whole, Answer(kind, data, drip, reset))


def commands(url: str, out: Path) -> list[list[str]]:
    t = ["--timeout", str(TIMEOUT)]
    return [
        ["clusters", url, *t],
        ["all", url, "-o", "json", *t],
        ["endpoints", url, "-o", "wide", *t],
        ["check", url, "-o", "json", *t],
        ["stats", url, *t],
        ["dump", url, "-o", str(out), *t],
    ]


def bundle_files(path: Path) -> dict[str, bytes] | None:
    """A saved bundle's members (the manifest's per-proxy file entries for it)."""
    import json

    if not path.exists():
        return None
    out: dict[str, bytes] = {}
    with tarfile.open(path) as tar:
        for info in tar.getmembers():
            fh = tar.extractfile(info)
            assert fh is not None
            body = fh.read()
            if info.name == "manifest.json":
                proxies = json.loads(body).get("proxies") or []
                body = json.dumps([p.get("files") for p in proxies], sort_keys=True).encode()
            out[info.name] = body
    return out


@dataclass
class Outcome:
    code: int
    out: str
    err: str
    saved: dict[str, bytes] | None


@dataclass
class Findings:
    runs: int = 0
    compared: int = 0
    broken_read: int = 0
    bad: list[str] = field(default_factory=list)


def _run(argv: list[str], out: Path) -> tuple[Outcome, float]:
    if out.exists():
        out.unlink()
    code, stdout, stderr, seconds = run_captured(argv)
    saved = bundle_files(out) if "dump" in argv[:1] else None
    return Outcome(code, stdout, stderr, saved), seconds


def fuzz(tmp: Path, cases: int, seed: int, budget: float) -> Findings:
    rng = random.Random(seed)
    found = Findings()
    admin = FuzzAdmin()
    out = tmp / "out.tar.gz"
    baseline: dict[str, Outcome] = {}
    deadline = time.monotonic() + budget
    try:
        admin.answer = lambda target: plain_answer(real_body(target) or b"{}")
        for argv in commands(admin.url, out):
            baseline[argv[0]], _ = _run(argv, out)
            assert baseline[argv[0]].code in (0, 1), (argv, baseline[argv[0]].err)
        for case in range(cases):
            if time.monotonic() > deadline:
                break
            victims = rng.sample(sorted(BODIES), rng.randint(1, 2))
            case_seed = rng.randrange(1 << 30)
            answers: dict[str, Framed] = {}

            def answer(
                target: str,
                victims: list[str] = victims,
                case_seed: int = case_seed,
                answers: dict[str, Framed] = answers,
            ) -> Answer:
                body = real_body(target)
                if body is None:
                    return Answer("404", b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                path = target.partition("?")[0].rstrip("/")
                if path not in victims:
                    return plain_answer(body)
                if path not in answers:  # the same answer to a retry within the case
                    answers[path] = framed(random.Random(f"{case_seed}{path}"), body)
                return answers[path].answer

            admin.answer = answer
            for argv in commands(admin.url, out):
                admin.asked.clear()
                got, seconds = _run(argv, out)
                found.runs += 1
                read = {p: answers[p] for p in admin.asked if p in answers}
                what = f"seed={seed} case={case} "
                what += ",".join(f"{p}={f.kind}" for p, f in answers.items())
                what += f" (read: {','.join(sorted(read)) or 'none'}): pdebug {argv[0]}"
                _judge(found, what, argv, got, seconds, baseline[argv[0]], read)
                left = [p.name for p in tmp.iterdir() if p != out]
                if left:
                    found.bad.append(f"{what}: left {left} beside the output")
                    for p in tmp.iterdir():
                        if p != out and p.is_file():
                            p.unlink()
    finally:
        admin.close()
    return found


def _judge(
    found: Findings,
    what: str,
    argv: list[str],
    got: Outcome,
    seconds: float,
    base: Outcome,
    read: dict[str, Framed],
) -> None:
    bad = found.bad
    if got.code not in DOCUMENTED:
        bad.append(f"{what} -> exit {got.code}: {got.err.strip()[:300]}")
    if "Traceback" in got.err or "Traceback" in got.out:
        bad.append(f"{what}: traceback")
    if got.err.count("pdebug: error:") > 1:
        bad.append(f"{what}: more than one error line: {got.err[:300]!r}")
    if seconds > RUN_LIMIT:
        bad.append(f"{what}: took {seconds:.1f}s")
    for text in [got.err] if "json" in argv else [got.out, got.err]:
        hit = CONTROL.search(text)
        if hit:
            bad.append(f"{what}: raw control {text[max(hit.start() - 40, 0) : hit.end() + 20]!r}")
            break
    if argv[0] == "dump" and got.code != 0 and got.saved is not None:
        bad.append(f"{what}: exit {got.code} and a bundle was written")
    same = (got.code, got.out, got.saved) == (base.code, base.out, base.saved)
    if all(f.whole for f in read.values()):
        found.compared += 1
        if not same or got.err != base.err:
            bad.append(f"{what}: a whole answer printed otherwise: {_diff(got, base)}")
        return
    found.broken_read += 1
    if got.code == 0 and not same:
        bad.append(
            f"{what}: exit 0 from a broken answer, and not the plain run's: {_diff(got, base)}"
        )


def _diff(got: Outcome, base: Outcome) -> str:
    if got.code != base.code:
        return f"exit {got.code} vs {base.code}: {got.err.strip()[:300]!r}"
    if got.out != base.out:
        import difflib

        lines = difflib.unified_diff(base.out.splitlines(), got.out.splitlines(), lineterm="", n=0)
        return " | ".join(list(lines)[2:8])[:400]
    if got.saved != base.saved:
        names = sorted(set(got.saved or {}) | set(base.saved or {}))
        return "members differ: " + ", ".join(
            n for n in names if (got.saved or {}).get(n) != (base.saved or {}).get(n)
        )
    return f"stderr {got.err.strip()[:200]!r} vs {base.err.strip()[:200]!r}"


@pytest.fixture(scope="module")
def findings(tmp_path_factory: pytest.TempPathFactory) -> Findings:
    return fuzz(tmp_path_factory.mktemp("fuzz-wire"), CASES, SEED, BUDGET)


def test_whole_answers_read_as_plain_ones_and_broken_ones_never_half(findings: Findings) -> None:
    assert findings.runs > 0
    assert not findings.bad, "\n".join(findings.bad[:20])


def test_the_run_compared_and_refused_something(findings: Findings) -> None:
    """The oracle did work: some runs read only whole answers, some a broken one."""
    assert findings.compared > 0
    assert findings.broken_read > 0 or findings.runs < 12


def test_framings_are_seeded_and_each_kind_is_made() -> None:
    body = BODIES["/clusters"]
    assert framed(random.Random(3), body) == framed(random.Random(3), body)
    kinds = {framed(random.Random(i), body).kind for i in range(600)}
    assert set(WHOLE) <= kinds
    assert set(BROKEN) - {"drip"} <= kinds


# --- pdebug snapshot through the Kubernetes port-forward -----------------------------------

#: The snapshot's budget beside the commands' (a run captures two proxies at once).
SNAPSHOT_BUDGET = BUDGET / 3
#: Envoy's text /stats of the fixtures' stats: the snapshot asks for the text form.
STATS_TEXT = b"server.live: 1\nserver.version: 7\n"
#: The exit codes of ``pdebug snapshot``: all captured, some failed, none captured.
SNAPSHOT_CODES = {0, 1, 3}
_COUNTER = re.compile(r" \(\d+/\d+\)")


def snapshot_body(target: str) -> bytes | None:
    """The fixtures' answer to one of the snapshot's GETs (``/stats`` as Envoy's text)."""
    path, _, query = target.partition("?")
    if path.rstrip("/") == "/stats" and "format=json" not in query:
        return STATS_TEXT
    return real_body(target)


@dataclass
class Snap:
    """What one snapshot run gave: exit code, streams, and the bundle it wrote (or None)."""

    code: int
    out: str
    err: str
    files: dict[str, bytes] | None
    manifest: dict[str, Any] | None

    @property
    def progress(self) -> list[str]:
        """Stderr's lines without the (N/M) counters, sorted: the proxies end in any order."""
        return sorted(_COUNTER.sub("", line) for line in self.err.splitlines())

    @property
    def entries(self) -> dict[str, dict[str, Any]]:
        return {p["name"]: p for p in (self.manifest or {}).get("proxies", [])}


def _snapshot(argv: list[str], out: Path) -> tuple[Snap, float]:
    import json

    if out.exists():
        out.unlink()
    code, stdout, stderr, seconds = run_captured(argv)
    files = manifest = None
    if out.exists():
        with tarfile.open(out) as tar:
            files = {}
            for info in tar.getmembers():
                fh = tar.extractfile(info)
                assert fh is not None
                files[info.name] = fh.read()
        manifest = json.loads(files.pop("manifest.json"))
    return Snap(code, stdout, stderr, files, manifest), seconds


def _answers(
    rng: random.Random, victims: list[str], answers: dict[str, Framed]
) -> Callable[[str], Answer]:
    """An admin's answers for one case: ``victims``' framed, each once (a retry sees it again)."""
    case_seed = rng.randrange(1 << 30)

    def answer(target: str) -> Answer:
        body = snapshot_body(target)
        if body is None:
            return Answer("404", b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
        path = target.partition("?")[0].rstrip("/")
        if path not in victims:
            return plain_answer(body)
        if path not in answers:
            answers[path] = framed(random.Random(f"{case_seed}{path}"), body)
        return answers[path].answer

    return answer


def fuzz_snapshot(tmp: Path, cases: int, seed: int, budget: float) -> Findings:
    """Seeded framings of two pods' port-forwarded admins, each case one ``pdebug snapshot``."""
    from tests.harness import kube_double as kd

    rng = random.Random(seed)
    found = Findings()
    admins = {pod: FuzzAdmin() for pod in ("web-1", "web-2")}
    work = tmp / "work"
    work.mkdir()
    out = work / "snap.tar.gz"
    deadline = time.monotonic() + budget
    try:
        with kd.KubeDouble() as kube, pytest.MonkeyPatch.context() as env:
            env.delenv("KUBECONFIG", raising=False)
            env.delenv("KUBERNETES_SERVICE_HOST", raising=False)
            env.setenv("HOME", str(tmp))
            for pod, admin in admins.items():
                kube.add_pod(pod, "default", forwards={15000: admin.sock.getsockname()})
            config = str(kube.write_kubeconfig(tmp / "kubeconfig"))
            argv = ["snapshot", "-n", "default", "-o", str(out), "--kubeconfig", config,
                    "--timeout", str(TIMEOUT), "--no-istiod"]  # fmt: skip
            for admin in admins.values():
                admin.answer = lambda target: plain_answer(snapshot_body(target) or b"{}")
            base, _ = _snapshot(argv, out)
            assert base.code == 0 and base.files, base.err
            for case in range(cases):
                if time.monotonic() > deadline:
                    break
                answers: dict[str, dict[str, Framed]] = {}
                for pod, admin in admins.items():
                    answers[pod] = {}
                    victims = rng.sample(sorted(BODIES), rng.randint(0, 2))
                    admin.answer = _answers(rng, victims, answers[pod])
                    admin.asked.clear()
                got, seconds = _snapshot(argv, out)
                found.runs += 1
                read = {
                    pod: {p: answers[pod][p] for p in admins[pod].asked if p in answers[pod]}
                    for pod in admins
                }
                what = f"seed={seed} case={case} " + " ".join(
                    f"{pod}:" + (",".join(f"{p}={f.kind}" for p, f in a.items()) or "plain")
                    for pod, a in answers.items()
                )
                _judge_snapshot(found, what, got, seconds, base, read)
                left = sorted(p.name for p in work.iterdir() if p != out)
                if left:
                    found.bad.append(f"{what}: left {left} beside the output")
                    for p in work.iterdir():
                        if p != out:
                            shutil.rmtree(p) if p.is_dir() else p.unlink()
            asked = {(r.method, r.verb, r.resource) for r in kube.requests}
            allowed = {("GET", "list", "pods"), ("GET", "get", "pods")}
            allowed.add(("GET", "create", "pods/portforward"))
            if not asked <= allowed:
                found.bad.append(f"the snapshot did more than read the API: {asked - allowed}")
    finally:
        for admin in admins.values():
            admin.close()
    return found


def _judge_snapshot(
    found: Findings,
    what: str,
    got: Snap,
    seconds: float,
    base: Snap,
    read: dict[str, dict[str, Framed]],
) -> None:
    bad = found.bad
    if got.code not in SNAPSHOT_CODES:
        bad.append(f"{what} -> exit {got.code}: {got.err.strip()[:300]}")
    if "Traceback" in got.err or "Traceback" in got.out:
        bad.append(f"{what}: traceback")
    if got.err.count("pdebug: error:") > 1:
        bad.append(f"{what}: more than one error line: {got.err[:300]!r}")
    if seconds > RUN_LIMIT:
        bad.append(f"{what}: took {seconds:.1f}s")
    for text in (got.out, got.err):
        hit = CONTROL.search(text)
        if hit:
            bad.append(f"{what}: raw control {text[max(hit.start() - 40, 0) : hit.end() + 20]!r}")
            break
    if (got.files is None) != (got.code == 3):
        bad.append(f"{what}: exit {got.code} and {'no' if got.files is None else 'a'} bundle")
        return
    whole = all(f.whole for framed in read.values() for f in framed.values())
    if whole:
        found.compared += 1
        same = (got.code, got.out, got.files, got.progress) == (
            base.code, base.out, base.files, base.progress
        )  # fmt: skip
        if not same or _file_entries(got) != _file_entries(base):
            bad.append(f"{what}: whole answers saved otherwise: {_snap_diff(got, base)}")
        return
    found.broken_read += 1
    if got.code == 3:
        if got.err.count("pdebug: error:") != 1:
            bad.append(f"{what}: exit 3 without its error line: {got.err[-300:]!r}")
        return
    if got.code == 0 and (got.files != base.files or _file_entries(got) != _file_entries(base)):
        bad.append(f"{what}: exit 0 from a broken answer, and not the plain bundle")
        return
    # exit 1: what was saved is the plain run's; what is missing is said
    assert got.files is not None and base.files is not None
    for member, body in got.files.items():
        if base.files.get(member) != body:
            bad.append(f"{what}: member {member} is not the plain run's (a partial document)")
    if set(got.entries) != set(base.entries):
        bad.append(f"{what}: proxies {sorted(got.entries)}, not {sorted(base.entries)}")
    for name, entry in got.entries.items():
        missing = set(base.entries.get(name, {}).get("files", {})) - set(entry["files"])
        if missing and entry["status"] != "failed" and not entry["errors"]:
            bad.append(f"{what}: {name} lacks {sorted(missing)} and says nothing")
        for file, meta in entry["files"].items():
            body = got.files.get(f"{name}/{file}")
            if body is None or meta != base.entries[name]["files"].get(file):
                bad.append(f"{what}: {name}/{file}'s manifest entry is not the plain run's")


def _file_entries(snap: Snap) -> dict[str, Any]:
    return {name: (e["status"], e["files"], e["errors"]) for name, e in snap.entries.items()}


def _snap_diff(got: Snap, base: Snap) -> str:
    if got.code != base.code:
        return f"exit {got.code} vs {base.code}: {got.err.strip()[-300:]!r}"
    if got.files != base.files:
        names = sorted(set(got.files or {}) | set(base.files or {}))
        return "members differ: " + ", ".join(
            n for n in names if (got.files or {}).get(n) != (base.files or {}).get(n)
        )
    if _file_entries(got) != _file_entries(base):
        return f"manifest {_file_entries(got)} vs {_file_entries(base)}"[:400]
    return f"stderr {got.progress} vs {base.progress}"[:400]


@pytest.fixture(scope="module")
def snapshot_findings(tmp_path_factory: pytest.TempPathFactory) -> Findings:
    return fuzz_snapshot(tmp_path_factory.mktemp("fuzz-snap"), CASES, SEED, SNAPSHOT_BUDGET)


def test_snapshot_through_the_port_forward_saves_whole_answers_and_never_half(
    snapshot_findings: Findings,
) -> None:
    assert snapshot_findings.runs > 0
    assert not snapshot_findings.bad, "\n".join(snapshot_findings.bad[:20])
    assert snapshot_findings.compared > 0 or snapshot_findings.runs < 4
