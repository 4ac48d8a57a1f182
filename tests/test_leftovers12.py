"""Small things the twelfth session left (leftovers12).

* ``trace 'http://h/é'``: Envoy 1.40 answers a raw non-ASCII byte in the request line
  400 Bad Request before routing; trace traced the path as if Envoy routed it. It now
  refuses the URL as it refuses a path with a space (exit 2), saying Envoy's answer and
  the percent-encoded URL to send instead. Likewise a ``-H`` value Envoy 1.40 answers 400
  (a control character; a Host with a space or a non-ASCII character).
* A bug report's missing stats were named ``stats.json`` (a bundle's file): the archive's
  file is ``stats/prometheus``.
* A router written in a TypedStruct whose ``type_url`` comes after a long ``value`` was
  not seen as the router (its type was looked for in the first 200 bytes only).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pdebug.errors import ExitCode, UsageError
from tests import harness as eh
from tests.harness import bugreport as br

SIDECAR = eh.FIXTURES / "real" / "sidecar" / "config_dump.json"

# ----------------------------------------------- 1. a raw non-ASCII path: Envoy's 400

#: (the URL's path as given, what Envoy 1.40 gets on the wire, the percent-encoded path)
PATHS = [
    ("/é", "/é".encode(), "/%C3%A9"),
    ("/a?q=é", "/a?q=é".encode(), "/a?q=%C3%A9"),
    ("/caf\udce9", b"/caf\xe9", "/caf%E9"),  # a raw byte on the command line
]


@pytest.mark.parametrize(("path", "wire", "encoded"), PATHS)
def test_a_raw_non_ascii_path_is_refused_with_the_encoded_url(pdebug, path, wire, encoded):
    from pdebug import trace as t

    url = f"http://reviews:9080{path}"
    with pytest.raises(UsageError) as info:
        t.parse_request(url)
    assert "400 Bad Request before routing" in info.value.message
    assert info.value.hint == (
        f"send it percent-encoded, as a browser does: http://reviews:9080{encoded}"
    )
    result = pdebug("trace", SIDECAR, url)
    assert result.code == ExitCode.USAGE, result
    assert result.err.startswith("pdebug: error: URL ") and "non-ASCII" in result.err
    assert all(ch.isprintable() or ch == "\n" for ch in result.err)  # no control characters
    assert pdebug("trace", SIDECAR, f"http://reviews:9080{encoded}").code == ExitCode.OK


#: (a -H option, the header line Envoy 1.40 gets, Envoy answers it 400 before routing)
HEADERS = [
    ("Host: a b", b"Host: a b", True),
    ("Host: caf\u00e9", "Host: caf\u00e9".encode(), True),
    ("Host: a\tb", b"Host: a\tb", True),
    ("x-a: a\x01b", b"x-a: a\x01b", True),
    ("x-a: a\x7fb", b"x-a: a\x7fb", True),
    ("x-a: a\tb", b"x-a: a\tb", False),
    ("x-a: caf\u00e9", "x-a: caf\u00e9".encode(), False),
    ("Host: xn--caf-dma", b"Host: xn--caf-dma", False),
]


@pytest.mark.parametrize(("option", "line", "refused"), HEADERS)
def test_a_header_envoy_refuses_is_refused(pdebug, option, line, refused):
    from pdebug import trace as t

    if not refused:
        t.parse_request("http://reviews:9080/", headers=[option])
        return
    with pytest.raises(UsageError, match="400 Bad Request before routing"):
        t.parse_request("http://reviews:9080/", headers=[option])
    result = pdebug("trace", SIDECAR, "http://reviews:9080/", "-H", option)
    assert result.code == ExitCode.USAGE, result
    assert result.err.startswith("pdebug: error: --header ")
    assert all(ch.isprintable() or ch == "\n" for ch in result.err)  # no control characters


def test_an_ascii_space_still_says_spaces() -> None:
    from pdebug import trace as t

    with pytest.raises(UsageError, match="spaces or control characters: Envoy") as info:
        t.parse_request("http://h/a\u00e9 b")
    assert info.value.hint == "send it percent-encoded, as a browser does: http://h/a%C3%A9%20b"


@pytest.mark.envoy
def test_envoy_answers_400_to_a_raw_non_ascii_path(tmp_path: Path) -> None:
    """Envoy 1.40 answers each raw path 400 before routing, and routes its
    percent-encoded form (the one the hint gives) to the route trace takes; each refused
    header is answered 400 too, the allowed ones (a tab, non-ASCII outside Host) 200."""
    from pdebug import trace as t
    from pdebug.proxy import Fetch, load_proxy
    from pdebug.sources.base import LiveOptions
    from pdebug.sources.spec import SourceWords
    from tests.test_re2bytes import _send
    from tests.test_trace_left import _answer, _listener

    if not eh.envoy_available():
        pytest.skip("envoy not installed")
    port = eh.free_port()
    routes = [{"name": "all", "match": {"prefix": "/"}, "direct_response": _answer("all")}]
    boot = {
        "node": {"id": "leftovers12", "cluster": "trace"},
        "static_resources": {"listeners": [_listener("raw", port, routes)]},
    }
    with eh.Envoy(boot) as envoy:
        dump = tmp_path / "dump.json"
        dump.write_bytes(envoy.get("/config_dump"))
        proxy = load_proxy(SourceWords(str(dump), None, None, None), LiveOptions(), Fetch())
        assert _send(port, b"/a b", b"")[0] == 400  # a raw space: trace refused it already
        for option, line, refused in HEADERS:
            head = b"GET / HTTP/1.1\r\n" + (line if line.startswith(b"Host") else b"Host: x")
            head += b"\r\n" + (b"" if line.startswith(b"Host") else line + b"\r\n")
            assert _raw(port, head)[0] == (400 if refused else 200), option
        for path, wire, encoded in PATHS:
            assert _send(port, wire, b"")[0] == 400, path
            assert _send(port, encoded.encode(), b"") == (200, "all"), encoded
            with pytest.raises(UsageError):
                t.parse_request(f"http://127.0.0.1:{port}{path}")
            trace = t.trace(proxy, t.parse_request(f"http://127.0.0.1:{port}{encoded}"))
            assert trace.verdict.outcome == "OK", trace.verdict
            routed = [s.name for s in trace.steps if s.kind == "route" and s.matched]
            assert routed == ["all"]


def _raw(port: int, head: bytes) -> tuple[int, bytes]:
    """Envoy's status and body for a request whose head (without its end) is ``head``."""
    import socket

    from tests.test_trace_mtls import _complete

    data = b""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(head + b"Content-Length: 0\r\nConnection: close\r\n\r\n")
        while not _complete(data) and (chunk := sock.recv(65536)):
            data += chunk
    status, _, body = data.partition(b"\r\n\r\n")
    return int(status.split()[1]), body


# ------------------------------------ 2. a bug report's missing stats: stats/prometheus


@pytest.mark.parametrize("form", ["archive", "folder"])
def test_a_bug_reports_missing_stats_names_its_file(pdebug, tmp_path: Path, form: str):
    dump = (eh.ISTIOCTL / "proxy-config-all" / "config_dump.json").read_bytes()
    items = br.members({("default", "web-1"): {"config_dump?include_eds": dump}})
    if form == "archive":
        report = br.write(tmp_path / "bug-report.tar.gz", items)
    else:
        report = br.unpack(items, tmp_path / "unpacked")
    stats = pdebug("stats", f"{report}:web-1.default")
    assert stats.code == ExitCode.INVALID_INPUT, stats  # as it was
    message = stats.err.splitlines()[0]
    assert message.endswith(
        ":web-1.default: the bug report has no stats/prometheus for this proxy"
    ), stats.err
    assert "stats.json" not in stats.err


def test_a_bundles_missing_document_keeps_its_wording() -> None:
    from pdebug.sources.bugreport import TOOL
    from pdebug.sources.bundle import missing_document

    assert missing_document({"tool": "pdebug snapshot"}, "stats.json") == (
        "the bundle has no stats.json"
    )
    assert missing_document({}, "clusters.json") == "the bundle has no clusters.json"
    assert missing_document({"tool": TOOL}, "clusters.json") == "the bug report has no clusters"


# -------------------------- 3. a wrapped router whose type_url comes after a long value

_ROUTER_URL = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
#: Router fields long enough to push a type_url written after them past 200 bytes.
_VALUE = {
    "suppress_envoy_headers": True,
    "strict_check_headers": [
        "x-envoy-upstream-rq-timeout-ms",
        "x-envoy-upstream-rq-per-try-timeout-ms",
        "x-envoy-max-retries",
        "x-envoy-retry-grpc-on",
        "x-envoy-retry-on",
    ],
}


def _type_url_last(dump: Path) -> None:
    """``dump`` with each TypedStruct's ``type_url`` written after its ``value``."""

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            node = {k: walk(v) for k, v in node.items()}
            if "TypedStruct" in str(node.get("@type", "")) and "type_url" in node:
                node["type_url"] = node.pop("type_url")  # now last
            return node
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    dump.write_text(json.dumps(walk(json.loads(dump.read_text()))))


@pytest.mark.envoy
def test_a_wrapped_router_with_its_type_url_last_is_the_router(tmp_path: Path) -> None:
    """Envoy 1.40 runs a filter named ``terminal``, a TypedStruct wrapping a router with
    suppress_envoy_headers: the upstream gets no x-envoy-expected-rq-timeout-ms. With
    the wrapper's type_url after its value (300 bytes in), trace still reads it as the
    router; before, it said the header was sent."""
    from pdebug import trace as t
    from pdebug.proxy import Fetch, load_proxy
    from pdebug.sources.base import LiveOptions
    from pdebug.sources.spec import SourceWords
    from tests.harness import envoy as he
    from tests.test_trace_left import _listener, _send
    from tests.test_trace_left2 import _Headers

    if not eh.envoy_available():
        pytest.skip("envoy not installed")
    port = he.free_port()
    routes = [{"match": {"prefix": "/"}, "route": {"cluster": "echo", "timeout": "7s"}}]
    listener = _listener("wrapped", port, routes)
    router = {
        "@type": "type.googleapis.com/xds.type.v3.TypedStruct",
        "type_url": _ROUTER_URL,
        "value": _VALUE,
    }
    hcm = listener["filter_chains"][0]["filters"][0]["typed_config"]
    hcm["http_filters"] = [{"name": "terminal", "typed_config": router}]
    with _Headers("echo") as upstream:
        boot = {
            "node": {"id": "leftovers12", "cluster": "trace"},
            "static_resources": {
                "listeners": [listener],
                "clusters": [eh.static_cluster("echo", upstream.port)],
            },
        }
        with he.Envoy(boot) as envoy:
            dump = tmp_path / "dump.json"
            dump.write_bytes(envoy.get("/config_dump"))
            status, body = _send(port, [], "/p")
    assert status == 200, body
    received = {k: v for k, v in json.loads(body)["headers"] if k.startswith("x-envoy-")}
    assert "x-envoy-expected-rq-timeout-ms" not in received  # Envoy's own answer
    _type_url_last(dump)
    proxy = load_proxy(SourceWords(str(dump), None, None, None), LiveOptions(), Fetch())
    request = t.parse_request(f"http://127.0.0.1:{port}/p", "GET", [], source_ip="127.0.0.1")
    result = t.trace(proxy, request)
    text = json.dumps(_find_terminal(json.loads(dump.read_text()))["typed_config"])
    assert text.index('"type_url"') > 200, text  # as the test means it
    steps = [s for s in result.steps if s.name == "envoy headers"]
    shown = steps[0].detail.get("headers", {}) if steps else {}
    said = {k: v for k, v in shown.items() if k.startswith("x-envoy-")}
    assert said == {k: [v] for k, v in received.items()}, (said, received)


def _find_terminal(node: Any) -> Any:
    """The filter named ``terminal`` in a dump."""
    if isinstance(node, dict):
        if node.get("name") == "terminal":
            return node
        node = list(node.values())
    if isinstance(node, list):
        for item in node:
            if (found := _find_terminal(item)) is not None:
                return found
    return None
