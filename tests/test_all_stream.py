"""``pdebug all -o json|yaml`` streams section by section: the same bytes as before (#17).

The old text is what the renderers write for the whole document at once
(``render_json(result.objects())``); the new one is what ``Format.write`` streams from the
view's listing (sections undecoded where that prints the same). Every fixture dump and
every corpus dump is compared, and the hard cases on purpose.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from pdebug.errors import ExitCode, PdebugError
from pdebug.model import ProxyData
from pdebug.model.load import load
from pdebug.render import get_format
from pdebug.render.structured import render_json, render_yaml
from pdebug.views import all as all_view
from pdebug.views.clusters import ClusterFilter
from pdebug.views.endpoints import EndpointFilter
from pdebug.views.listeners import ListenerFilter
from tests.harness import FIXTURES


def _dumps() -> list[Path]:
    out = []
    for path in sorted(FIXTURES.rglob("*.json")):
        head = path.read_bytes()[:4096]
        if b'"configs"' in head:
            out.append(path)
    return out


def _result(body: bytes, structured: bool) -> object:
    data = ProxyData("x", load(body, "x").dump)
    return all_view.view(
        data, ClusterFilter(), ListenerFilter(), EndpointFilter(), structured=structured
    )


def _streamed(body: bytes, fmt: str) -> str:
    out = io.StringIO()
    get_format(fmt).write(_result(body, True), out)  # type: ignore[arg-type]
    return out.getvalue()


def _old(body: bytes, fmt: str) -> str:
    objects = _result(body, False).objects()  # type: ignore[attr-defined]
    return render_json(objects) if fmt == "json" else render_yaml(objects)


def _same(body: bytes, fmt: str) -> None:
    try:
        old = _old(body, fmt)
    except PdebugError as exc:
        with pytest.raises(type(exc)):
            _streamed(body, fmt)
        return
    assert _streamed(body, fmt) == old


DUMPS = _dumps()


def test_fixtures_found() -> None:
    assert len(DUMPS) > 10
    assert any("corpus" in str(p) for p in DUMPS)


@pytest.mark.parametrize("path", DUMPS, ids=lambda p: str(p.relative_to(FIXTURES)))
@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_every_fixture_dump_prints_the_same(path: Path, fmt: str) -> None:
    _same(path.read_bytes(), fmt)


def _dump(*sections: object) -> bytes:
    return json.dumps({"configs": list(sections)}, indent=1).encode()


CLUSTER = {
    "@type": "type.googleapis.com/envoy.admin.v3.ClustersConfigDump",
    "version_info": "1",
    "dynamic_active_clusters": [
        {"cluster": {"name": "outbound|80||a.default.svc.cluster.local", "type": "EDS"}}
    ],
}


@pytest.mark.parametrize(
    "text",
    [
        # numbers orjson writes otherwise: as values, as list items, in mixed lists
        '{"a": 1.50, "b": 1e5, "c": -0, "d": 12345678901234567890123, "e": 1E-7}',
        '{"a": [1.0, 2.50, 3], "b": [[0.1, 1e2]], "c": 0.1, "d": 100000000000000000000.0}',
        '{"a": -0.0, "b": 5e-324, "c": 1.7976931348623157e308}',
        # escapes orjson spells otherwise
        '{"a": "\\u0041\\/\\u00e9", "b": "\\ud83d\\ude00", "c": "tab\\there"}',
        # not ASCII, unprintable
        '{"a": "caf\u00e9 \u202e x \u0085", "b": "\x7f"}',
        # secrets: names, tokens, PEM, inline bytes
        '{"password": "hunter2", "h": [{"key": "authorization", "value": "Bearer abcdefgh"}]}',
        '{"inline_string": "-----BEGIN PRIVATE KEY-----\\nMIIE\\n-----END PRIVATE KEY-----\\n"}',
        '{"private_key": {"inline_bytes": "W3JlZGFjdGVkXQ=="}, "x": "eyJhbGciOi.eyJzdWIiOi.sig"}',
        # empty containers, nesting
        '{"a": {}, "b": [], "c": [{}], "d": [[]], "e": {"f": {"g": [1, {"h": null}]}}}',
    ],
)
@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_hard_members(text: str, fmt: str) -> None:
    extra = json.loads(text, parse_float=str, parse_int=str)  # only to know it is JSON
    assert extra
    body = _dump(CLUSTER).replace(b'"version_info": "1"', b'"extra": ' + text.encode())
    _same(body, fmt)


def test_damaged_section_is_the_same_error() -> None:
    body = _dump(CLUSTER).replace(b'"version_info": "1"', b'"x": "\xff\xfe"')
    _same(body, "json")


def test_deep_nesting_is_the_same_error() -> None:
    deep = b"[" * 300 + b"]" * 300
    body = _dump(CLUSTER).replace(b'"version_info": "1"', b'"x": ' + deep)
    _same(body, "json")
    _same(body, "yaml")


def test_no_sections() -> None:
    _same(b'{"configs": []}', "json")


def test_redaction_applies_to_every_section() -> None:
    secret = {
        "@type": "type.googleapis.com/envoy.admin.v3.SecretsConfigDump",
        "dynamic_active_secrets": [
            {
                "name": "s",
                "secret": {
                    "name": "s",
                    "generic_secret": {"secret": {"inline_string": "sup3rs3cr3t"}},
                },
            }
        ],
    }
    body = _dump(CLUSTER, secret)
    for fmt in ("json", "yaml"):
        text = _streamed(body, fmt)
        assert "sup3rs3cr3t" not in text
        assert "[redacted]" in text
        _same(body, fmt)


def test_streams_pieces_not_one_text() -> None:
    body = _dump(CLUSTER, CLUSTER | {"version_info": "2"})
    pieces = list(get_format("json").stream(_result(body, True)))  # type: ignore[misc,arg-type]
    assert len(pieces) > 3
    assert all(type(p) in (bytes, str) for p in pieces)


def test_damage_in_a_later_section_prints_nothing(pdebug, tmp_path):
    """A section that is not JSON is an error before the first section is written."""
    body = _dump(CLUSTER, CLUSTER | {"version_info": "2"})
    cut = body.rindex(b'"version_info"')
    damaged = tmp_path / "damaged.json"
    damaged.write_bytes(body[:cut] + b'"version_info": tru, ' + body[cut + 30 :])
    result = pdebug("all", damaged, "-o", "json")
    assert result.code == ExitCode.INVALID_INPUT, result.out
    assert result.out == ""


@pytest.mark.parametrize(
    "value",
    [
        "https://user:hunter2@example.com/x",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln",
        "Bearer abcdefghijk",
        "AKIAABCDEFGHIJKLMNOP",
        "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----",
        "x",
    ],
)
def test_may_change_is_never_false_when_redaction_changes_something(value: str) -> None:
    from pdebug.redact import may_change, redact_bytes

    for doc in ({"@type": "t", "v": value}, {"a": [{"b": value}]}, {"secret_token": value}):
        for text in (json.dumps(doc).encode(), json.dumps(doc, indent=3).encode()):
            if redact_bytes(text) != text:
                assert may_change(text), text
    assert not may_change(b'{"@type": "t", "v": "x"}')


# --- a section printed from its own text (#17): any formatting, the same bytes ----------


def _shared_root() -> Path:
    """``shared/`` beside the checkout (its corpus and istioctl's testdata), if there."""
    for parent in Path(__file__).resolve().parents:
        if (parent / "shared" / "corpus").is_dir():
            return parent / "shared"
    return Path(__file__).resolve().parent / "no-shared-directory"


SHARED = _shared_root()


def _shared_dumps() -> list[Path]:
    out = []
    for sub in ("corpus", "peers/istioctl"):
        if not (SHARED / sub).is_dir():
            continue
        for path in sorted((SHARED / sub).rglob("*.json")):
            if b'"configs"' in path.read_bytes()[:4096]:
                out.append(path)
    return out


def _reindent(body: bytes, how: str) -> bytes:
    value = json.loads(body)
    if how == "tabs":
        return json.dumps(value, indent="\t").encode()
    if how == "minified":
        return json.dumps(value, separators=(",", ":")).encode()
    if how == "crlf":
        return json.dumps(value, indent=2).replace("\n", "\r\n").encode()
    if how == "envoy":  # Envoy's own layout: what the fast path copies as it is
        import orjson

        return orjson.dumps(value, option=orjson.OPT_INDENT_2)
    assert how == "camel"
    from pdebug.model.camel import to_camel

    def camel(v: object) -> object:
        if isinstance(v, dict):
            return {to_camel(k) if k != "@type" else k: camel(x) for k, x in v.items()}
        if isinstance(v, list):
            return [camel(x) for x in v]
        return v

    return json.dumps(camel(value), indent=2).encode()


@pytest.fixture
def one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fast path bounds nesting with the recursion limit: only with one thread running
    (``can_bound``); threads other tests left idle would turn it off here."""
    monkeypatch.setattr("pdebug.model.dump.can_bound", lambda: True)


def _plans(body: bytes) -> list[str | None]:
    from pdebug.render import structured

    listing = _result(body, True).listing  # type: ignore[attr-defined]
    plans = [structured._plan(item, True) for item in listing.items()]
    return ["format" if isinstance(p, bytes) else p for p in plans]  # laid out again


@pytest.mark.parametrize("how", ["tabs", "minified", "crlf", "envoy", "camel"])
@pytest.mark.parametrize("path", DUMPS, ids=lambda p: str(p.relative_to(FIXTURES)))
def test_every_fixture_dump_reformatted_prints_the_same(path: Path, how: str) -> None:
    try:
        body = _reindent(path.read_bytes(), how)
    except ValueError:
        pytest.skip("not JSON the standard library reads")
    _same(body, "json")


@pytest.mark.parametrize("path", _shared_dumps(), ids=lambda p: str(p.relative_to(SHARED)))
@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_shared_corpus_prints_the_same(path: Path, fmt: str) -> None:
    _same(path.read_bytes(), fmt)
    if fmt == "json":
        for how in ("tabs", "crlf", "envoy"):
            _same(_reindent(path.read_bytes(), how), "json")


@pytest.mark.usefixtures("one_thread")
def test_envoy_layout_is_copied_and_other_layouts_reformatted() -> None:
    body = _reindent(_dump(CLUSTER, CLUSTER | {"version_info": "2"}), "envoy")
    assert _plans(body) == ["same", "same"]
    for how in ("tabs", "minified", "crlf"):
        assert _plans(_reindent(body, how)) == ["format", "format"], how
    # lowerCamelCase (istiod's spelling) is printed as it is written, in either layout
    assert _plans(_reindent(body, "camel")) == ["same", "same"]
    assert _plans(_reindent(_reindent(body, "camel"), "tabs")) == ["format", "format"]


@pytest.mark.parametrize(
    "extra",
    [
        '"x": 1.50',  # a number orjson writes otherwise
        '"x": ["a", 1.0E5]',  # ... after a string in a list
        '"x": "\\u0041"',  # an escape orjson writes otherwise
        '"x": "caf\u00e9"',  # not ASCII
        '"x": "Bearer abcdefghijk"',  # redacted
        '"version_info": "2"',  # a name repeated
    ],
)
@pytest.mark.usefixtures("one_thread")
def test_what_the_text_would_not_say_is_printed_the_slow_way(extra: str) -> None:
    body = _reindent(_dump(CLUSTER), "envoy").replace(
        b'"version_info": "1"', b'"version_info": "1", ' + extra.encode()
    )
    assert _plans(body) == [None]
    _same(body, "json")


@pytest.mark.usefixtures("one_thread")
def test_timestamps_and_addresses_are_not_numbers() -> None:
    cluster = CLUSTER | {"last_updated": "2024-05-01T12:00:00.000Z", "x": ["10.0.0.1,1.5"]}
    assert _plans(_reindent(_dump(cluster), "envoy")) == ["same"]


def test_compact_number_check_never_passes_a_number_orjson_writes_otherwise() -> None:
    """Generated compact documents: True means orjson writes every number the same (#17)."""
    import random

    import orjson

    from pdebug.render.structured import _canonical_compact_numbers

    numbers = ["0", "-0", "1", "-5", "1.5", "1.50", "1e5", "1E5", "-0.0", "0.1", "2.0"]
    numbers += ["12345678901234567890", "-1234567890123456789", "1e-7", "5e-324", "100"]
    strings = ['"a"', '"2024-05-01T12:00:00.000Z"', '"10.0.0.1,1.5"', '"x:-0"', '"[1.50]"']
    rnd = random.Random(17)

    def value(depth: int) -> str:
        roll = rnd.random()
        if depth > 3 or roll < 0.4:
            return rnd.choice(numbers)
        if roll < 0.6:
            return rnd.choice(strings)
        if roll < 0.8:
            return "[" + ",".join(value(depth + 1) for _ in range(rnd.randint(0, 4))) + "]"
        items = (f'"k{i}":{value(depth + 1)}' for i in range(rnd.randint(0, 4)))
        return "{" + ",".join(items) + "}"

    passed = 0
    for _ in range(5000):
        text = b'{"v":' + value(0).encode() + b"}"  # an item is an object
        try:
            same = orjson.dumps(orjson.loads(text)) == text
        except orjson.JSONDecodeError:
            same = False
        if _canonical_compact_numbers(text):
            passed += 1
            assert same, text
    assert passed > 500
