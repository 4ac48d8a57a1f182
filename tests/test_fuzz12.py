"""Seeded generators over the twelfth session's new readers (short here, long in ``make fuzz``).

* **RE2 grammar** (pdebug/trace/re2.py): patterns drawn from a grammar of what RE2 reads
  (literals, escapes, ``.``, Perl classes, brackets with ranges and POSIX classes, groups,
  alternation, greedy and lazy repeats, anchors, ``\\b``, ``(?i:...)``). Each node is
  written twice: in RE2's syntax, and as a Python pattern that spells RE2's meaning out
  (``\\s`` is ``[\\t\\n\\f\\r ]``, ``$`` is the end of the text, ``(?i)k`` is ``[kK]``).
  Envoy 1.40 matches bytes (checked: tests/test_re2bytes.py), so the oracle is a Python
  *bytes* pattern over the value's UTF-8 bytes: ``.`` is one byte of ``é``, ``\\xe9`` the
  byte 0xE9, ``(?i:é)`` folds nothing. ``compile_re2`` of the first must match exactly
  where the second does, whole and partial, on seeded strings (ASCII, ``\\v``, a trailing
  newline, Arabic digits, letters that fold to ASCII ones, ``é``, ``€``, a raw 0xE9 byte).
  A differential oracle: facts from RE2's syntax page, and Envoy 1.40.
* **curl -i heads**: a seeded head (statuses, redirects, ``100 Continue``, HTTP/2 and 1.0
  lines, header garbage, control characters, bare LF, cut heads) before a real or mutated
  config dump, ``/clusters?format=json`` or ``/stats``, through the views, ``check`` and
  ``stats``. A whole 200 head before an unmutated body prints exactly the plain file's
  answer; every run ends in a documented exit code, one ``pdebug: error:`` line at most,
  no traceback, no raw control character.
* **trace requests**: hostile methods, URLs and headers (``grpc-timeout`` spellings, gRPC
  content types, trace context headers, control characters, huge values) against real and
  mutated dumps; the same rules, and ``-o json`` exits as the table does.

Hostile bug-report archives are tests/test_bugreport.py's seeded generator
(``PDEBUG_FUZZBUNDLE_SEED``/``_SEEDS``, long in ``make fuzz``).

Environment: ``PDEBUG_FUZZ12_CASES`` (default 40 per family), ``PDEBUG_FUZZ12_SEED``
(default 12), ``PDEBUG_FUZZ12_BUDGET`` (seconds per family, default 4).
"""

from __future__ import annotations

import json
import os
import random
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.harness import FIXTURES
from tests.test_fuzz import CONTROL, DOCUMENTED, TRAPS, Run, mutate, run

CASES = int(os.environ.get("PDEBUG_FUZZ12_CASES", "40"))
SEED = int(os.environ.get("PDEBUG_FUZZ12_SEED", "12"))
BUDGET = float(os.environ.get("PDEBUG_FUZZ12_BUDGET", "4"))


def _cases(family: int) -> tuple[random.Random, Callable[[], bool]]:
    """A family's seeded generator and a 'go on' test (cases left and budget left)."""
    rng = random.Random(SEED * 1000 + family)
    start = time.monotonic()
    done = [0]

    def more() -> bool:
        done[0] += 1
        return done[0] <= CASES and time.monotonic() - start < BUDGET

    return rng, more


def _sane(r: Run, why: object) -> list[str]:
    """What is wrong with one run, whatever its input (empty: nothing)."""
    bad = []
    if r.code not in DOCUMENTED:
        bad.append(f"exit {r.code}")
    if "Traceback" in r.err or "Traceback" in r.out:
        bad.append("traceback")
    if CONTROL.search(r.out) or CONTROL.search(r.err):
        bad.append("control character")
    if r.err.count("pdebug: error:") > 1:
        bad.append("two error lines")
    if r.code in (3, 4) and "pdebug: error: " not in r.err:
        bad.append("no error line")
    return [f"{r.argv[:1]} {b}: {why!r} {r.err[-300:]!r}" for b in bad]


# ---------------------------------------------------------------- 1. RE2 from a grammar

#: RE2's Perl classes (ASCII), spelled out for Python.
_PERL = {
    "d": "[0-9]",
    "D": "[^0-9]",
    "w": "[0-9A-Za-z_]",
    "W": "[^0-9A-Za-z_]",
    "s": "[\\t\\n\\f\\r ]",
    "S": "[^\\t\\n\\f\\r ]",
}
_PERL_IN = {"d": "0-9", "w": "0-9A-Za-z_", "s": "\\t\\n\\f\\r "}
_POSIX = {
    "alnum": "0-9A-Za-z",
    "alpha": "A-Za-z",
    "digit": "0-9",
    "lower": "a-z",
    "upper": "A-Z",
    "space": "\\t\\n\\v\\f\\r ",
    "xdigit": "0-9A-Fa-f",
    "punct": "!-/:-@\\[-`{-~",
    "word": "0-9A-Za-z_",
    "blank": "\\t ",
}
_WORD = "[0-9A-Za-z_]"
_BOUNDARY = f"(?:(?<={_WORD})(?!{_WORD})|(?<!{_WORD})(?={_WORD}))"
_LITERALS = "abksxzAKSZ019-_ /:@\u00e9\u00c9\u20ac\u212a"
_ESCAPED = ".*+?()[]{}|^$\\"
_ALPHABET = ["a", "b", "k", "K", "s", "S", "x", "z", "0", "1", "9", "-", "_", " ", "/", ":",
             ".", "\t", "\n", "\v", "\f", "\r", "\u212a", "\u017f", "\u0663", "\u00e9",
             "*", "[", "$", "^", "\\", "\u00c9", "\u20ac", "\udce9"]  # fmt: skip


def _node(rng: random.Random, depth: int, fold: bool = False) -> tuple[str, str]:
    """One seeded RE2 node: (RE2's syntax, a Python pattern with RE2's meaning)."""
    roll = rng.random() if depth < 4 else rng.random() * 0.6
    if fold:  # inside (?i:...): literals only, their orbits spelled out
        c = rng.choice("abkszAKS01\u00e9\u00c9")
        low = c.lower()
        if not low.isascii():  # bytes: (?i) folds ASCII letters only
            return c, c
        return c, "[" + low + low.upper() + "]" if low.isalpha() else c
    if roll < 0.2:
        c = rng.choice(_LITERALS)
        return c, re.escape(c)
    if roll < 0.27:
        c = rng.choice(_ESCAPED)
        return "\\" + c, re.escape(c)
    if roll < 0.3:
        return ".", "[^\\n]"
    if roll < 0.32:
        return "\\xe9", "\\xe9"  # the byte 0xE9 (not \u00e9)
    if roll < 0.42:
        k = rng.choice(list(_PERL))
        return "\\" + k, _PERL[k]
    if roll < 0.55:
        return _bracket(rng)
    if roll < 0.6:
        return "\\b", _BOUNDARY
    if roll < 0.72:
        a, b = _seq(rng, depth + 1)
        if rng.random() < 0.5:
            return f"(?:{a})", f"(?:{b})"
        return f"({a})", f"({b})"
    if roll < 0.8:
        a1, b1 = _seq(rng, depth + 1)
        a2, b2 = _seq(rng, depth + 1)
        return f"(?:{a1}|{a2})", f"(?:{b1}|{b2})"
    if roll < 0.85:
        parts = [_node(rng, depth + 1, fold=True) for _ in range(rng.randint(1, 3))]
        re2 = "".join(p[0] for p in parts)
        return f"(?i:{re2})", "(?:" + "".join(p[1] for p in parts) + ")"
    a, b = _node(rng, 9)  # one atom: nested repeats backtrack for minutes in Python's re
    q = rng.choice(["*", "+", "?", "{2}", "{1,3}", "{0,2}", "{2,}"])
    lazy = "?" if rng.random() < 0.3 else ""
    return f"(?:{a}){q}{lazy}", f"(?:{b}){q}{lazy}"


def _bracket(rng: random.Random) -> tuple[str, str]:
    neg = rng.random() < 0.3
    re2, py = [], []
    for _ in range(rng.randint(1, 3)):
        roll = rng.random()
        if roll < 0.3:
            name = rng.choice(list(_POSIX))
            re2.append(f"[:{name}:]")
            py.append(_POSIX[name])
        elif roll < 0.5:
            k = rng.choice(list(_PERL_IN))
            re2.append("\\" + k)
            py.append(_PERL_IN[k])
        elif roll < 0.7:
            lo, hi = sorted(rng.sample("abkxz0159", 2))
            re2.append(f"{lo}-{hi}")
            py.append(f"{lo}-{hi}")
        else:
            c = rng.choice("akKs_/:.*$\u00e9\u20ac")
            re2.append(c)
            py.append(re.escape(c))
    head = "[^" if neg else "["
    return head + "".join(re2) + "]", head + "".join(py) + "]"


def _seq(rng: random.Random, depth: int) -> tuple[str, str]:
    parts = [_node(rng, depth) for _ in range(rng.randint(1, 4))]
    return "".join(p[0] for p in parts), "".join(p[1] for p in parts)


def re2_pattern(rng: random.Random) -> tuple[str, str]:
    """A whole seeded pattern: maybe anchored (``^`` the start, ``$`` the end of the text)."""
    a, b = _seq(rng, 0)
    if rng.random() < 0.3:
        a, b = "^" + a, "\\A" + b
    if rng.random() < 0.4:
        a, b = a + "$", b + "\\Z"
    return a, b


def _subject(rng: random.Random, oracle: Any) -> str:
    text = "".join(rng.choice(_ALPHABET) for _ in range(rng.randint(0, 8)))
    if rng.random() < 0.3:
        text += "\n"
    return text


class _Bytes:
    """The oracle: a Python bytes pattern matched against the text's UTF-8 bytes."""

    def __init__(self, py: str) -> None:
        self._rx = re.compile(py.encode("utf-8"))
        self.pattern = py  # what the regex budget looks at

    def fullmatch(self, text: str) -> object:
        return self._rx.fullmatch(text.encode("utf-8", "surrogateescape"))

    def search(self, text: str) -> object:
        return self._rx.search(text.encode("utf-8", "surrogateescape"))


def test_re2_grammar_matches_as_re2_reads_it() -> None:
    from pdebug.trace.matchers import fullmatch_bounded, search_bounded
    from pdebug.trace.re2 import compile_re2

    rng, more = _cases(1)
    wrong: list[str] = []
    compared = 0
    while more():
        re2, py = re2_pattern(rng)
        oracle: Any = _Bytes(py)
        rx = compile_re2(re2)
        if rx is None:
            wrong.append(f"refused {re2!r}")
            continue
        for _ in range(40):
            text = _subject(rng, oracle)
            for how in (fullmatch_bounded, search_bounded):
                got = how(rx, text)
                want = how(oracle, text)
                if got is None or want is None:  # backtracked past the budget: no answer
                    continue
                compared += 1
                if got != want:
                    wrong.append(f"{how.__name__} {re2!r} on {text!r}: pdebug {got}, RE2 {want}")
        if len(wrong) > 20:
            break
    assert not wrong, "\n".join(wrong[:20])
    assert compared > 0


def test_re2_oracle_spells_re2_out() -> None:
    """The oracle's facts, each on its own (RE2's syntax page): ``\\s`` has no ``\\v``,
    ``[[:space:]]`` has it, ``$`` is the end of the text, ``(?i)k`` is ``[kK]``."""
    from pdebug.trace.re2 import compile_re2

    cases = [
        ("a\\s", "a\v", "fullmatch", False),
        ("a[[:space:]]", "a\v", "fullmatch", True),
        ("a[\\s]", "a\v", "fullmatch", False),
        ("a\\S", "a\v", "fullmatch", True),
        ("a$", "a\n", "search", False),
        ("(?i:k)", "\u212a", "fullmatch", False),  # Envoy 1.40 (bytes): see below
        ("(?i:s)", "\u017f", "fullmatch", False),
        ("\\d", "\u0663", "fullmatch", False),
    ]
    for pattern, text, how, want in cases:
        rx = compile_re2(pattern)
        assert rx is not None, pattern
        assert (getattr(rx, how)(text) is not None) is want, (pattern, text)


# ---------------------------------------------------------------- 2. curl -i heads

_HEAD_BODIES = [
    FIXTURES / "real/seed-demo/config_dump.json",
    FIXTURES / "istioctl/proxy-config-all/config_dump.json",
    FIXTURES / "real/sidecar/clusters.json",
    FIXTURES / "real/seed-demo/clusters.json",
]
_STATUS = [b"HTTP/1.1 200 OK", b"HTTP/2 200", b"HTTP/1.0 200 OK", b"HTTP/1.1 200 "]
_OTHER = [b"HTTP/1.1 404 Not Found", b"HTTP/1.1 503 Service Unavailable", b"HTTP/2 500",
          b"HTTP/1.1 100 Continue", b"HTTP/1.1 301 Moved Permanently", b"HTTP/", b"HTTP/1.1",
          b"HTTP/1.1 2000 OK", b"HTTP/1.1 OK", b"http/1.1 200 ok",
          b"HTTP/1.1 200 OK\x1b[2J"]  # fmt: skip
_HEADERS = [b"content-type: application/json", b"server: envoy", b"date: Mon, 07 Dec 2026",
            b"transfer-encoding: chunked", b"content-length: 12", b"x-envoy-upstream: 1",
            b"content-type: text/plain; charset=UTF-8", b"cache-control: no-cache"]  # fmt: skip


def _trap_header(rng: random.Random) -> bytes:
    return (
        b"x-"
        + rng.choice(TRAPS).encode("utf-8", "surrogatepass")
        + b": "
        + rng.choice(TRAPS).encode("utf-8", "surrogatepass")
    )


def curl_head(rng: random.Random) -> tuple[bool, bytes]:
    """A seeded head and whether it is a whole one whose last answer is a 200."""
    eol = rng.choice([b"\r\n", b"\n"])
    whole = rng.random() < 0.45
    heads = []
    if whole:
        if rng.random() < 0.3:
            first = rng.choice([b"HTTP/1.1 100 Continue", b"HTTP/1.1 301 Moved Permanently"])
            heads.append([first])
        heads.append([rng.choice(_STATUS), *rng.sample(_HEADERS, rng.randint(0, 3))])
        return True, b"".join(eol.join(h) + eol + eol for h in heads)
    lines = [rng.choice(_STATUS + _OTHER)]
    for _ in range(rng.randint(0, 4)):
        roll = rng.random()
        lines.append(
            _trap_header(rng)
            if roll < 0.3
            else rng.choice([b"bad header", b": no name", b"\xff\xfe", b"a:b:c", b" folded"])
            if roll < 0.5
            else rng.choice(_HEADERS)
        )
    cut = rng.choice([eol + eol, eol, b"", eol + eol + eol])
    return False, eol.join(lines) + cut


def test_curl_heads_before_dumps(tmp_path: Path) -> None:
    rng, more = _cases(2)
    plain: dict[tuple[Path, str], Run] = {}
    bad: list[str] = []
    case = 0
    while more():
        case += 1
        src = rng.choice(_HEAD_BODIES)
        body = src.read_bytes()
        mutated = rng.random() < 0.4
        if mutated:
            kind, body = mutate(rng, body)
        whole, head = curl_head(rng)
        path = tmp_path / f"c{case}.json"
        path.write_bytes(head + body)
        is_clusters = src.name == "clusters.json"
        cmd = rng.choice(
            ["endpoints", "check"] if is_clusters else ["clusters", "listeners", "routes", "check"]
        )
        r = run([cmd, str(path), "-o", "json"] if cmd != "check" else [cmd, str(path)])
        bad += _sane(r, (src.name, head, mutated))
        if whole and not mutated:
            key = (src, cmd)
            if key not in plain:
                plain[key] = run(list(r.argv[:1]) + [str(src)] + list(r.argv[2:]))
            want = plain[key]
            if (r.code, r.out.replace(str(path), "SRC")) != (
                want.code,
                want.out.replace(str(src), "SRC"),
            ):
                bad.append(f"{cmd} after a whole head {head!r}: exit {r.code} vs {want.code}")
        elif r.code == 0 and not mutated and not whole:
            key = (src, cmd)
            if key not in plain:
                plain[key] = run(list(r.argv[:1]) + [str(src)] + list(r.argv[2:]))
            same = r.out.replace(str(path), "SRC") == plain[key].out.replace(str(src), "SRC")
            if not same:  # a head read as a 200 must give the body's answer
                bad.append(f"{cmd} after {head!r}: exit 0 with other output")
    assert not bad, "\n".join(bad[:10])


# ---------------------------------------------------------------- 3. trace requests

_TRACE_DUMPS = [
    FIXTURES / "real/seed-demo/config_dump.json",
    FIXTURES / "real/sidecar/config_dump.json",
    FIXTURES / "istioctl/proxy-config-all/config_dump.json",
]
_GRPC_TIMEOUTS = ["1S", "100m", "0n", "99999999H", "123456789S", "1", "S", "", "-1S", "1.5S",
                  "\u0661S", " 1S", "1S ", "1s", "10u", "1M", "00000001S", "1e3S"]  # fmt: skip
_CONTENT = ["application/grpc", "application/grpc+proto", "application/grpc-web",
            "application/grpc-web-text", "Application/GRPC", "application/json", ""]  # fmt: skip
_URLS = ["http://reviews:9080/", "http://productpage:9080/api/v1/products/1",
         "http://details.default.svc.cluster.local:9080/x?y=1", "https://reviews:9080/",
         "tcp://ratings:9080", "http://[::1]:80/", "http://a:0/", "http://a:99999/",
         "http://reviews:9080/%2e%2e/%00", "http://xn--n3h:80/",
         "http://re\u212aviews:9080/"]  # fmt: skip


def _trace_header(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.3:
        return "grpc-timeout:" + rng.choice(_GRPC_TIMEOUTS)
    if roll < 0.5:
        return "content-type:" + rng.choice(_CONTENT)
    if roll < 0.6:
        return rng.choice(["traceparent:", "x-b3-traceid:", "x-b3-sampled:", "b3:"]) + rng.choice(
            ["00-" + "a" * 32 + "-" + "b" * 16 + "-01", "1", "zz", "", "\x1b[31m"]
        )
    if roll < 0.7:
        name = rng.choice(["upstream-rq-timeout-ms", "expected-rq-timeout-ms", "max-retries"])
        return f"x-envoy-{name}:" + rng.choice(["5", "-1", "9" * 30, "x"])
    if roll < 0.8:
        return rng.choice(["end-user:", "Host:", ":authority:", "te:"]) + rng.choice(
            ["jason", "trailers", "reviews:9080", ""]
        )
    if roll < 0.9:
        return rng.choice(TRAPS) + ":" + rng.choice(TRAPS)
    return rng.choice(["noColon", ":", "a:" + "b" * 20000, "\ud800:x"])


def test_trace_hostile_requests(tmp_path: Path) -> None:
    rng, more = _cases(3)
    bad: list[str] = []
    case = 0
    while more():
        case += 1
        src = rng.choice(_TRACE_DUMPS)
        dump = src
        if rng.random() < 0.4:
            _, data = mutate(rng, src.read_bytes())
            dump = tmp_path / f"t{case}.json"
            dump.write_bytes(data)
        url = rng.choice(_URLS)
        if rng.random() < 0.15:
            url = url.replace("/", "/" + rng.choice(TRAPS), 3)
        args = ["trace", str(dump), url]
        for _ in range(rng.randint(0, 4)):
            args += ["-H", _trace_header(rng)]
        if rng.random() < 0.4:
            args += ["-X", rng.choice(["POST", "GET", "CONNECT", "x y", "PRI", "\x1b"])]
        if rng.random() < 0.3:
            args += ["--direction", rng.choice(["inbound", "outbound"])]
        table = run(args)
        bad += _sane(table, args[2:])
        as_json = run([*args, "-o", "json"])
        bad += _sane(as_json, args[2:])
        if as_json.code != table.code:
            bad.append(f"trace -o json exit {as_json.code}, table {table.code}: {args[2:]!r}")
        elif as_json.code in (0, 1, 6):
            try:
                json.loads(as_json.out)
            except ValueError:
                bad.append(f"trace -o json not JSON: {args[2:]!r}")
    assert not bad, "\n".join(bad[:10])


@pytest.mark.parametrize("family", [1, 2, 3])
def test_families_are_seeded(family: int) -> None:
    """The same seed gives the same cases (a finding's seed replays it)."""
    a, _ = _cases(family)
    b, _ = _cases(family)
    assert [a.random() for _ in range(5)] == [b.random() for _ in range(5)]


# ------------------------------------------- the RE2 findings, checked against Envoy 1.40

#: route name -> (pattern, header it matches)
_FOUND_ROUTES = [("fold", "(?i)k+s", "x-f"), ("backslash", "a\\\\1", "x-b")]
#: (header, value, the route Envoy takes)
_FOUND_SENT = [
    ("x-f", "\u212a\u017f", "none"),  # a header's bytes: no Kelvin sign nor long s folded
    ("x-f", "Ks", "fold"),
    ("x-f", "kS", "fold"),
    ("x-b", "a\\1", "backslash"),
    ("x-b", "a1", "none"),
]


@pytest.mark.envoy
def test_re2_findings_route_as_envoy_routes(tmp_path: Path) -> None:
    """``\\\\1`` is a backslash and a 1 (pdebug said UNKNOWN), and ``(?i)`` does not fold
    the Kelvin sign nor the long s (Envoy matches a header's UTF-8 bytes): the route trace
    takes is the one Envoy 1.40 answered from."""
    from pdebug import trace as t
    from pdebug.proxy import Fetch, load_proxy
    from pdebug.sources.base import LiveOptions
    from pdebug.sources.spec import SourceWords
    from tests import harness as eh
    from tests.test_trace_left import _answer, _listener, _send

    if not eh.envoy_available():
        pytest.skip("envoy not installed")
    routes: list[dict[str, object]] = []
    for name, pattern, header in _FOUND_ROUTES:
        regex = {"safe_regex": {"regex": pattern}}
        match = {"prefix": "/", "headers": [{"name": header, "string_match": regex}]}
        routes.append({"name": name, "match": match, "direct_response": _answer(name)})
    routes.append({"name": "none", "match": {"prefix": "/"}, "direct_response": _answer("none")})
    port = eh.free_port()
    boot = {
        "node": {"id": "fuzz12", "cluster": "trace"},
        "static_resources": {"listeners": [_listener("re2", port, routes)]},
    }
    with eh.Envoy(boot) as envoy:
        dump = tmp_path / "dump.json"
        dump.write_bytes(envoy.get("/config_dump"))
        proxy = load_proxy(SourceWords(str(dump), None, None, None), LiveOptions(), Fetch())
        for header, value, want in _FOUND_SENT:
            status, body = _send(port, [(header, value)])
            assert (status, body) == (200, want), (header, value)
            request = t.parse_request(f"http://127.0.0.1:{port}/", "GET", [f"{header}:{value}"])
            trace = t.trace(proxy, request)
            routed = [s.name for s in trace.steps if s.kind == "route" and s.matched]
            assert routed == [want], (header, value, [(s.name, s.reason) for s in trace.steps])
