"""Envoy 1.40 matches a config regex against bytes, Latin-1: so does ``trace``.

Envoy reads the pattern's UTF-8 bytes one byte a character, and the header value or path
likewise: ``^.$`` does not match ``é`` (two bytes), ``^..$`` does, ``[é]`` is a set of two
bytes, ``\\xe9`` is the byte 0xE9, and ``(?i)`` folds ASCII letters only. Each case below
was sent to a live Envoy (a route per pattern, raw bytes on the wire) and the answer pinned
here; ``trace`` must take the route Envoy took. Before, pdebug matched Python characters:
``^.$`` matched ``é`` and the route was called matched where Envoy did not take it.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

#: (pattern, value's bytes, Envoy 1.40 matches it whole): checked on a live Envoy below.
CASES: list[tuple[str, bytes, bool]] = [
    ("^.$", "é".encode(), False),
    ("^..$", "é".encode(), True),
    ("(?i)é", "É".encode(), False),
    ("(?i)é", "é".encode(), True),
    ("é", "é".encode(), True),
    ("[é]", "é".encode(), False),
    ("[é]{2}", "é".encode(), True),
    ("[^a]", "é".encode(), False),
    ("[^a]{2}", "é".encode(), True),
    ("(?i)k", "\u212a".encode(), False),
    ("\\xe9", "é".encode(), False),
    ("\\xe9", b"\xe9", True),
    ("^.$", b"\xe9", True),
    ("(?i)\\xe9", b"\xc9", False),
    ("(?i)\\xe9", "É".encode(), False),
    ("[à-ü]", "é".encode(), False),
    ("\\W", "é".encode(), False),
    ("\\W\\W", "é".encode(), True),
    ("\\S{2}", "é".encode(), True),
    (".", "€".encode(), False),
    ("...", "€".encode(), True),
    ("^é$", b"\xe9", False),
    ("x\\b.*", "xé".encode(), True),
    ("\\bé", "é".encode(), False),
    ("a.b", "aéb".encode(), False),
    ("a..b", "aéb".encode(), True),
    ("[^/]{3}", "é/".encode(), False),
    ("[^/]{2}/", "é/".encode(), True),
    ("(?i)é+", "éé".encode(), False),  # the + repeats é's last byte
    ("(?:é)+", "éé".encode(), True),
    ("(?i)Kelvin.*", "KELVIN\u212a".encode(), True),
    ("[[:alpha:]]+", "é".encode(), False),
    ("[\\x80-\\xff]{2}", "é".encode(), True),
]
#: A path cannot carry them: Envoy 1.40 answers 400 to a raw non-ASCII byte in the
#: request line (checked below), so a path regex meets percent-encoded ASCII only.
RAW_PATH = "/é".encode()


def test_pdebug_matches_bytes_as_envoy_does() -> None:
    """The pinned answers, without Envoy."""
    from pdebug.trace.matchers import fullmatch_bounded
    from pdebug.trace.re2 import compile_re2

    for pattern, value, want in CASES:
        rx = compile_re2(pattern)
        assert rx is not None, pattern
        text = value.decode("utf-8", "surrogateescape")
        assert fullmatch_bounded(rx, text) is want, (pattern, value)


def test_bytes_round_trip() -> None:
    from pdebug.trace.re2 import as_bytes, from_bytes

    for text in ["", "abc", "é", "\u212a€", "a\udce9b", "\ud800"]:
        view = as_bytes(text)
        assert all(ord(c) < 256 for c in view)
        if text != "\ud800":  # no request carries a lone surrogate: written as UTF-8 would
            assert from_bytes(view) == text


def test_rewrite_substitutes_bytes() -> None:
    """``regex_rewrite`` over a non-ASCII path: groups are whole bytes, the path is text
    again (``(.)`` takes one byte of ``é``, so ``\\1\\1`` keeps it whole)."""
    import msgspec

    from pdebug.trace.routes import _regex_rewrite

    def rewrite(pattern: str, substitution: str, path: str) -> str | None:
        raw = msgspec.Raw(
            msgspec.json.encode({"pattern": {"regex": pattern}, "substitution": substitution})
        )
        return _regex_rewrite(raw, path)

    assert rewrite("^/(..)/x$", "/y/\\1", "/é/x") == "/y/é"
    assert rewrite("^/(.)/x$", "/y/\\1", "/é/x") == "/é/x"  # no match: one byte is not é
    assert rewrite("é", "e", "/café/é") == "/cafe/e"
    assert rewrite("^/(.)(.)$", "/\\2\\1", "/ab") == "/ba"


def test_cel_matches_answers_only_where_bytes_and_utf8_agree() -> None:
    """cel-cpp may compile UTF-8: ``matches`` on a non-ASCII text answers where RE2 over
    bytes and over UTF-8 agree, UNKNOWN otherwise (never a guess)."""
    from pdebug.trace.cel import _matches, _Unknown

    assert _matches("١٢", "^\\d+$") is False  # both readings: no ASCII digit
    assert _matches("/é", "^/") is True
    assert _matches("abc", "^.b") is True
    for text, pattern in [("é", "^.$"), ("é", "(?i)É"), ("É", "(?i)é")]:
        with pytest.raises(_Unknown):
            _matches(text, pattern)


def _routes() -> list[dict[str, Any]]:
    from tests.test_trace_left import _answer

    routes: list[dict[str, Any]] = []
    for i, (pattern, _, _) in enumerate(CASES):
        regex = {"safe_regex": {"regex": pattern}}
        match = {"prefix": "/", "headers": [{"name": f"x-{i}", "string_match": regex}]}
        routes.append({"name": f"r{i}", "match": match, "direct_response": _answer(f"r{i}")})
    routes.append({"name": "none", "match": {"prefix": "/"}, "direct_response": _answer("none")})
    return routes


def _send(port: int, path: bytes, header: bytes) -> tuple[int, str]:
    from tests.test_trace_mtls import _complete

    head = b"GET " + path + b" HTTP/1.1\r\nHost: x\r\n" + header
    head += b"Content-Length: 0\r\nConnection: close\r\n\r\n"
    data = b""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(head)
        while not _complete(data) and (chunk := sock.recv(65536)):
            data += chunk
    status, _, body = data.partition(b"\r\n\r\n")
    return int(status.split()[1]), body.decode()


@pytest.mark.envoy
def test_regex_routes_on_non_ascii_values_as_envoy(tmp_path: Path) -> None:
    """Header matchers on non-ASCII values: Envoy 1.40's answer is the pinned one, and
    the route ``trace`` takes is the one Envoy answered from."""
    from pdebug import trace as t
    from pdebug.proxy import Fetch, load_proxy
    from pdebug.sources.base import LiveOptions
    from pdebug.sources.spec import SourceWords
    from tests import harness as eh
    from tests.test_trace_left import _listener

    if not eh.envoy_available():
        pytest.skip("envoy not installed")
    port = eh.free_port()
    boot = {
        "node": {"id": "re2bytes", "cluster": "trace"},
        "static_resources": {"listeners": [_listener("re2", port, _routes())]},
    }
    with eh.Envoy(boot) as envoy:
        dump = tmp_path / "dump.json"
        dump.write_bytes(envoy.get("/config_dump"))
        proxy = load_proxy(SourceWords(str(dump), None, None, None), LiveOptions(), Fetch())
        assert _send(port, RAW_PATH, b"")[0] == 400
        for i, (pattern, value, matches) in enumerate(CASES):
            want = f"r{i}" if matches else "none"
            name = f"x-{i}"
            status, body = _send(port, b"/", name.encode() + b": " + value + b"\r\n")
            assert (status, body) == (200, want), (pattern, value)
            header = f"{name}:{value.decode('utf-8', 'surrogateescape')}"
            trace = t.trace(proxy, t.parse_request(f"http://127.0.0.1:{port}/", "GET", [header]))
            routed = [s.name for s in trace.steps if s.kind == "route" and s.matched]
            assert routed == [want], (pattern, value, [(s.name, s.reason) for s in trace.steps])


#: (an RBAC ALLOW policy's header regex, the value sent, Envoy 1.40 allows it)
RBAC = [("^.$", "é", False), ("^..$", "é", True), ("(?i)É", "é", False), ("é", "é", True)]


@pytest.mark.envoy
def test_rbac_header_regex_on_non_ascii_values_as_envoy(tmp_path: Path) -> None:
    """An RBAC filter allowing a header by regex: the status ``trace`` gives is the one
    Envoy 1.40 answered (403 where the value's bytes do not match)."""
    from pdebug import trace as t
    from pdebug.proxy import Fetch, load_proxy
    from pdebug.sources.base import LiveOptions
    from pdebug.sources.spec import SourceWords
    from tests import harness as eh
    from tests.test_trace_left import RBAC_TYPE, _answer, _listener

    if not eh.envoy_available():
        pytest.skip("envoy not installed")
    ports = [eh.free_port() for _ in RBAC]
    listeners = []
    for i, (pattern, _, _) in enumerate(RBAC):
        header = {"name": "x-user", "string_match": {"safe_regex": {"regex": pattern}}}
        policy = {"permissions": [{"header": header}], "principals": [{"any": True}]}
        rbac = {
            "name": "envoy.filters.http.rbac",
            "typed_config": {
                "@type": RBAC_TYPE,
                "rules": {"action": "ALLOW", "policies": {"only": policy}},
            },
        }
        routes = [{"match": {"prefix": "/"}, "direct_response": _answer("allowed")}]
        listeners.append(_listener(f"rbac{i}", ports[i], routes, [rbac]))
    boot = {
        "node": {"id": "re2bytes", "cluster": "trace"},
        "static_resources": {"listeners": listeners},
    }
    with eh.Envoy(boot) as envoy:
        dump = tmp_path / "dump.json"
        dump.write_bytes(envoy.get("/config_dump"))
        proxy = load_proxy(SourceWords(str(dump), None, None, None), LiveOptions(), Fetch())
        for port, (pattern, value, allowed) in zip(ports, RBAC, strict=True):
            status, _ = _send(port, b"/", b"x-user: " + value.encode() + b"\r\n")
            assert status == (200 if allowed else 403), (pattern, value)
            request = t.parse_request(f"http://127.0.0.1:{port}/", "GET", [f"x-user:{value}"])
            verdict = t.trace(proxy, request).verdict
            assert verdict.status == status, (pattern, value, verdict)
