"""The shortcuts of ``pdebug all -o json`` (#17) say what the longer checks say.

A section is printed from its own text when that prints what decoding and encoding it
would. Two of the checks behind that have a short form: the section's own names are
proven unique from the decoded ``{name: raw}`` members (instead of a search of the laid
out text), and the numbers are looked at in a shortened shape first (instead of every
candidate read by orjson). Each short form is compared here with the long one, on
generated texts built to hit their edges, and the whole output with the slow path on a
generated mesh dump in Envoy's layout (the bench's shape) with odd members put in.
"""

from __future__ import annotations

import io
import json
import random
from typing import Any

import msgspec
import orjson
import pytest

from bench.gendump import generate
from pdebug.model import ProxyData
from pdebug.model.load import load
from pdebug.render import get_format, structured
from pdebug.render.structured import render_json
from pdebug.views import all as all_view
from pdebug.views.clusters import ClusterFilter
from pdebug.views.endpoints import EndpointFilter
from pdebug.views.listeners import ListenerFilter

NUMBERS = ["0", "-0", "1", "-5", "1.5", "1.50", "1e5", "1E+5", "1e-7", "-0.0", "0.1", "2.0"]
NUMBERS += ["12345678901234567890", "-1234567890123456789", "123456789012345678", "100"]
STRINGS = ['"a"', '"2024-05-01T12:00:00.000Z"', '"10.0.0.1,1.5"', '"x:-0"', '"[1.50]"']
STRINGS += ['"a\\":1.5"', '"e,1e5"', '"b,c12.0"', '"pod-0"', '"-0,"', '"\\"q\\""', '"x\\n"']


def _value(rnd: random.Random, depth: int, repeat: bool = False) -> str:
    roll = rnd.random()
    if depth > 3 or roll < 0.4:
        return rnd.choice(NUMBERS)
    if roll < 0.6:
        return rnd.choice(STRINGS)
    if roll < 0.8:
        items = (_value(rnd, depth + 1, repeat) for _ in range(rnd.randint(0, 4)))
        return "[" + ",".join(items) + "]"
    return _object(rnd, depth + 1, repeat)


def _object(rnd: random.Random, depth: int, repeat: bool = False) -> str:
    """An object; ``repeat``: a name may come twice (decoding keeps the last)."""
    names = ['"k0"', '"k1"', '"k2"', '"a\\"b"', '"x\\\\y"']
    picked = [rnd.choice(names) for _ in range(rnd.randint(0, 4))]
    if not repeat:
        picked = list(dict.fromkeys(picked))
    return "{" + ",".join(f"{n}:{_value(rnd, depth + 1, repeat)}" for n in picked) + "}"


def test_short_number_shape_never_misses_a_number_orjson_writes_otherwise() -> None:
    rnd = random.Random(1717)
    passed = 0
    for _ in range(6000):
        text = b'{"v":' + _value(rnd, 0).encode() + b"}"
        if not structured._may_hold_odd_numbers(text):
            passed += 1
            assert structured._numbers_one_by_one(text), text
            assert orjson.dumps(orjson.loads(text)) == text, text
    assert passed > 1000


@pytest.mark.parametrize("number", ["1.5", "1e5", "-0", "12345678901234567890", "2.50"])
def test_an_odd_number_is_found_at_every_piece_boundary(number: str) -> None:
    """The shape is made piece by piece: a number across two pieces is still found."""
    piece = structured._SHORT_PIECE
    for member in (b'"x":' + number.encode(), b'"x":[' + number.encode() + b"]"):
        for near in range(piece - 40, piece + 4):
            text = b'{"p":"' + b"a" * (near - 8) + b'",' + member + b"}"
            assert text.index(member) == near
            assert structured._may_hold_odd_numbers(text), (near, member)
            one_by_one = structured._numbers_one_by_one(text)
            assert structured._canonical_compact_numbers(text) == one_by_one
            assert one_by_one == (orjson.dumps(orjson.loads(text)) == text)


def test_unique_names_agrees_with_the_search_of_the_laid_out_text() -> None:
    rnd = random.Random(1718)
    proven = refused = 0
    for _ in range(4000):
        compact = orjson.dumps(orjson.loads(b'{"@type":"t"}'))[:-1]
        text = _object(rnd, 0, repeat=True)
        if text != "{}":
            compact += b"," + text[1:].encode()
        else:
            compact += b"}"
        try:
            compact = msgspec.json.format(compact, indent=-1)
        except msgspec.DecodeError:
            continue
        wrapped = b'{"k":[' + compact + b"]}"
        searched = structured._laid_out(wrapped)
        if structured._unique_names(compact):
            proven += 1
            assert searched is not None, compact
            assert structured._laid_out(wrapped, names_checked=True) == searched
        else:
            refused += 1
    assert proven > 500
    assert refused > 500


@pytest.mark.parametrize(
    "text",
    [
        b'{"a":1,"a":1}',  # the same member twice
        b'{"a":1,"b":2,"a":3}',
        b'{"a":{"b":1},"a":{"b":1}}',
        b'{"a\\"":1}',  # an escaped name: the slow way
        b"{}",
    ],
)
def test_unique_names_refuses(text: bytes) -> None:
    assert not structured._unique_names(text)


def test_unique_names_proves() -> None:
    assert structured._unique_names(b'{"@type":"t","a":{"a":1,"a":2},"b":[1,{"c":"d"}],"c":""}')


# --- the whole output, fast against slow, on the bench's shape --------------------------


def _mesh() -> bytes:
    out = io.BytesIO()
    generate(out, 12, seed=3, namespaces=2)
    return out.getvalue()


def _result(body: bytes, structured_: bool) -> object:
    data = ProxyData("x", load(body, "x").dump)
    return all_view.view(
        data, ClusterFilter(), ListenerFilter(), EndpointFilter(), structured=structured_
    )


def _fast(body: bytes) -> str:
    out = io.StringIO()
    get_format("json").write(_result(body, True), out)  # type: ignore[arg-type]
    return out.getvalue()


def _slow(body: bytes) -> str:
    return render_json(_result(body, False).objects())  # type: ignore[attr-defined]


@pytest.fixture
def one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("pdebug.model.dump.can_bound", lambda: True)


ODD = [
    b'"connect_timeout": "10s", "x_float": 2.50',
    b'"connect_timeout": "10s", "x_big": 123456789012345678901',
    b'"connect_timeout": "10s", "x_minus_zero": -0',
    b'"connect_timeout": "10s", "x_exp": [1, 1E+5]',
    b'"connect_timeout": "10s", "x_pw": {"password": "hunter2"}',
    b'"connect_timeout": "10s", "x_escaped": "\\u0041"',
]


@pytest.mark.usefixtures("one_thread")
def test_bench_shaped_dump_prints_what_the_slow_path_prints() -> None:
    body = _mesh()
    assert body.count(b'"@type": "type.googleapis.com/envoy.admin.v3.') >= 6
    plans = [structured._plan(i, True) for i in _result(body, True).listing.items()]  # type: ignore[attr-defined]
    assert plans.count("same") >= 5  # the layout the fast path copies
    assert _fast(body) == _slow(body)


@pytest.mark.usefixtures("one_thread")
@pytest.mark.parametrize("odd", ODD, ids=[str(i) for i in range(len(ODD))])
def test_bench_shaped_dump_with_an_odd_member_prints_the_same(odd: bytes) -> None:
    """Each odd member sends its section the slow way, or prints as the slow path does."""
    body = _mesh()
    at = body.index(b'"connect_timeout": "10s"')  # the first cluster's
    body = body[:at] + odd + body[at + len(b'"connect_timeout": "10s"') :]
    json.loads(body)  # still JSON
    assert _fast(body) == _slow(body)


def _pairs(text: str) -> Any:
    """The document with every object as its list of members (a repeated name kept)."""
    return json.loads(text, object_pairs_hook=list)


@pytest.mark.usefixtures("one_thread")
@pytest.mark.parametrize(
    "odd",
    [
        b"",  # printed from the section's own text
        b', "x_float": 2.50',  # the section decoded to print the number as orjson does
        b', "x_pw": {"password": "hunter2"}',  # the section decoded to redact it
    ],
    ids=["own-text", "decoded-number", "decoded-redacted"],
)
def test_bench_shaped_dump_name_repeated_below_the_top_is_printed_as_written(odd: bytes) -> None:
    """A name repeated in a resource (was a strict xfail: printed twice, decoding keeps one).

    Printed as the input holds it, whichever way the section goes: the section's own text
    and its members printed one by one kept both (checking every object's names would
    cost a whole decode of the dump), and a decoded section now keeps both too. Read
    back, every JSON reader takes the last, which is what every view reads.
    """
    body = _mesh()
    at = body.index(b'"connect_timeout": "10s"')  # the first cluster's
    end = at + len(b'"connect_timeout": "10s"')
    body = body[:at] + b'"connect_timeout": "10s", "name": "dup"' + odd + body[end:]
    fast = _fast(body)
    assert json.loads(fast) == json.loads(_slow(body))  # as data: the last one, as decoded
    clusters = next(
        s for s in _pairs(fast)[0][1] if dict(s)["@type"].endswith("ClustersConfigDump")
    )
    names = [
        k
        for entry in dict(clusters)["dynamic_active_clusters"]
        for k, _ in dict(entry)["cluster"]
        if k == "name"
    ]
    assert names.count("name") == len(dict(clusters)["dynamic_active_clusters"]) + 1
    if odd:
        assert '"x_float": 2.5\n' in fast or '"password": "[redacted]"' in fast


@pytest.mark.usefixtures("one_thread")
def test_bench_shaped_dump_own_name_repeated_prints_the_same() -> None:
    body = _mesh()
    at = body.index(b'"version_info"')
    body = body[:at] + b'"version_info": "0",\n      ' + body[at:]
    assert _fast(body) == _slow(body)


# --- a section laid out piece by piece -----------------------------------------------------


def _fixture_sections() -> list[bytes]:
    from tests.harness import FIXTURES

    out = []
    for path in sorted(FIXTURES.rglob("*.json")):
        body = path.read_bytes()
        if b'"configs"' not in body[:4096]:
            continue
        try:
            configs = json.loads(body)["configs"]
        except (ValueError, KeyError, TypeError):
            continue
        if isinstance(configs, list):
            out.extend(json.dumps(c).encode() for c in configs if isinstance(c, dict))
    return out


@pytest.mark.usefixtures("one_thread")
@pytest.mark.parametrize("run", [1, 40, 700, 1 << 20])
def test_pieces_put_together_are_the_whole_layout(
    run: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Runs of list elements of any length, every fixture section: the same bytes."""
    monkeypatch.setattr(structured, "_RUN", run)
    sections = _fixture_sections()
    sections.append(b'{"@type":"t","a":[],"b":{},"c":[[1,[2]],{"d":[{}]}],"e":[1,2,3,4,5]}')
    laid = 0
    for text in sections:
        compact = msgspec.json.format(text, indent=-1)
        spans = structured._member_spans(compact)
        if spans is None:
            continue
        whole = structured._laid_out(b'{"k":[' + compact + b"]}", names_checked=True)
        assert whole is not None
        inner = whole[len(structured._WRAP_HEAD) : len(whole) - len(structured._WRAP_TAIL)]
        assert b"".join(structured._laid_pieces(compact, spans)) == inner
        laid += 1
    assert laid > 50


@pytest.mark.usefixtures("one_thread")
@pytest.mark.parametrize("run", [1, 300])
def test_bench_shaped_dump_in_short_runs_prints_the_same(
    run: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(structured, "_RUN", run)
    body = _mesh()
    assert _fast(body) == _slow(body)
    tabs = json.dumps(json.loads(body), indent="\t").encode()  # not Envoy's layout
    assert _fast(tabs) == _slow(tabs)


# --- clusters -o json|yaml: the warming note only over warming clusters --------------------


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_structured_clusters_say_no_warming_note_when_clusters_are_active(pdebug, fmt, tmp_path):
    """It said "No clusters found: N warming" over every dump's active clusters (#17)."""
    path = tmp_path / "mesh.json"
    path.write_bytes(_mesh())
    result = pdebug("clusters", path, "-o", fmt)
    assert result.code == 0
    assert "outbound|" in result.out
    assert "warming" not in result.err
    assert "No clusters found" not in result.err


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_structured_clusters_keep_the_warming_note_over_warming_clusters(pdebug, fmt):
    from tests.harness import FIXTURES

    warming = FIXTURES / "corpus/handmade/istio-2019-trafficdirector-warming-v2alpha.json"
    result = pdebug("clusters", warming, "-o", fmt)
    assert result.code == 0
    assert result.err.startswith("No clusters found: 4 warming (received, not serving yet)")
