"""review15: a redirect's ``regex_rewrite`` as Envoy 1.40 writes the Location.

RE2's ``GlobalReplace`` (what Envoy's ``regex_rewrite`` runs) skips an empty match where
the last match ended; Python's ``re.sub`` replaces it (``x*`` over ``xa``: RE2 ``-a-``,
``re`` ``--a-``). And Envoy writes a rewritten path that lost its leading ``/`` with one
(``^/q/`` to nothing: ``http://a.com/abc``, where pdebug printed ``http://a.comabc``).
Each Location below was answered by a live Envoy 1.40 (the test marked envoy sends them).

And a StringMatcher's ``ignore_case`` folds ASCII letters only in Envoy 1.40 (``É`` is not
``é``, the Kelvin sign not ``k``); ``str.lower`` folded Unicode.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest

from tests.test_sweep6_inputs import _rewrite_route, _routes_dump

ROUTES: list[dict[str, Any]] = [
    _rewrite_route("/e1/", "x*", "-"),
    _rewrite_route("/e2/", "(/)?", "[\\1]"),
    _rewrite_route("/e3/", "b*", "<\\0>"),
    _rewrite_route("/q/", "^/q/", ""),
    {"match": {"prefix": "/p/"}, "redirect": {"prefix_rewrite": "x"}},
]
#: (path, the Location Envoy 1.40 answered with)
LOCATIONS = [
    ("/e1/axb", "http://a.com/-/-e-1-/-a-b-"),
    ("/e1/xa", "http://a.com/-/-e-1-/-a-"),
    ("/e2/ab", "http://a.com/[/]e[]2[/]a[]b[]"),
    ("/e3/abbc", "http://a.com/<>/<>e<>3<>/<>a<bb>c<>"),
    ("/q/abc", "http://a.com/abc"),
    ("/p/abc", "http://a.com/xabc"),
]


def test_sub_skips_an_empty_match_where_the_last_one_ended() -> None:
    from pdebug.trace.re2 import compile_re2

    def sub(pattern: str, text: str) -> str:
        rx = compile_re2(pattern)
        assert rx is not None
        return rx.sub(lambda m: f"<{m.group(0)}>", text)

    assert sub("x*", "xa") == "<x>a<>"
    assert sub("x*", "ax") == "<>a<x>"
    assert sub("b*", "abbc") == "<>a<bb>c<>"
    assert sub("q", "abc") == "abc"
    assert sub("", "é") == "<>\udcc3<>\udca9<>"  # one byte at a time, as RE2 in Latin-1
    assert sub("é", "café!") == "caf<é>!"


def test_trace_writes_the_location_envoy_wrote(pdebug, tmp_path: Path) -> None:
    dump = _routes_dump(tmp_path, ROUTES)
    for path, want in LOCATIONS:
        result = pdebug("trace", dump, f"http://x:8000{path}", "-H", "Host:a.com", "-o", "json")
        assert result.code == 0, (path, result.err)
        doc = json.loads(result.out)
        assert (doc["verdict"]["status"], doc["verdict"]["location"]) == (301, want), path


def _location(port: int, path: str) -> str:
    head = f"GET {path} HTTP/1.1\r\nHost: a.com\r\nConnection: close\r\n\r\n".encode()
    data = b""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(head)
        while chunk := sock.recv(65536):
            data += chunk
    for line in data.split(b"\r\n"):
        if line.lower().startswith(b"location:"):
            return line.split(b":", 1)[1].strip().decode()
    raise AssertionError(data[:200])


@pytest.mark.envoy
def test_envoy_writes_these_locations() -> None:
    from tests import harness as eh
    from tests.test_trace_left import _listener

    if not eh.envoy_available():
        pytest.skip("envoy not installed")
    port = eh.free_port()
    boot = {
        "node": {"id": "review15", "cluster": "trace"},
        "static_resources": {"listeners": [_listener("rw", port, ROUTES)]},
    }
    with eh.Envoy(boot):
        for path, want in LOCATIONS:
            assert _location(port, path) == want, path


#: (StringMatcher key, wanted, value sent): with ignore_case, Envoy 1.40 took none of
#: these routes (it folds ASCII letters only); the envoy test below sends them
FOLDS = [("exact", "é", "É"), ("exact", "k", "\u212a"), ("prefix", "é", "Éx"), ("exact", "É", "é")]


def _fold_routes() -> list[dict[str, Any]]:
    from tests.test_trace_left import _answer

    routes: list[dict[str, Any]] = []
    for i, (key, want, _) in enumerate(FOLDS + [("exact", "Ab", "aB")]):
        header = {"name": f"x-{i}", "string_match": {key: want, "ignore_case": True}}
        match = {"prefix": "/", "headers": [header]}
        routes.append({"name": f"r{i}", "match": match, "direct_response": _answer(f"r{i}")})
    routes.append({"name": "none", "match": {"prefix": "/"}, "direct_response": _answer("none")})
    return routes


def test_ignore_case_folds_ascii_letters_only(pdebug, tmp_path: Path) -> None:
    # str.lower folded É to é and the Kelvin sign to k: trace took routes Envoy did not
    from pdebug.trace.filters import string_match
    from pdebug.trace.matchers import _string_match

    dump = _routes_dump(tmp_path, _fold_routes())
    cases = [(i, value, "none") for i, (_, _, value) in enumerate(FOLDS)]
    cases.append((len(FOLDS), "aB", f"r{len(FOLDS)}"))  # ASCII still folds
    for i, value, want in cases:
        result = pdebug("trace", dump, "http://x:8000/", "-H", f"x-{i}:{value}", "-o", "json")
        assert result.code == 0, result.err
        doc = json.loads(result.out)
        taken = [st["name"] for st in doc["steps"] if st["kind"] == "route" and st["matched"]]
        assert taken == [want], (i, value)
    for key, want, value in FOLDS:
        vm = {key: want, "ignore_case": True}
        assert string_match(vm, value)[0] is False, (key, want, value)
        assert _string_match(vm, value) is False, (key, want, value)
    assert string_match({"exact": "Ab", "ignore_case": True}, "aB")[0] is True
    assert _string_match({"exact": "Ab", "ignore_case": True}, "aB") is True


@pytest.mark.envoy
def test_envoy_ignore_case_folds_ascii_only() -> None:
    from tests import harness as eh
    from tests.test_re2bytes import _send
    from tests.test_trace_left import _listener

    if not eh.envoy_available():
        pytest.skip("envoy not installed")
    port = eh.free_port()
    boot = {
        "node": {"id": "review15", "cluster": "trace"},
        "static_resources": {"listeners": [_listener("fold", port, _fold_routes())]},
    }
    with eh.Envoy(boot):
        for i, (_, _, value) in enumerate(FOLDS):
            header = f"x-{i}: ".encode() + value.encode() + b"\r\n"
            assert _send(port, b"/", header) == (200, "none"), value
        assert _send(port, b"/", f"x-{len(FOLDS)}: aB\r\n".encode()) == (200, f"r{len(FOLDS)}")
