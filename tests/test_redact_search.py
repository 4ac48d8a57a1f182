"""Redaction's pre-check searches every literal in one pass (#17): the same answers.

:func:`pdebug.redact.may_change` finds its markers and its patterns' literals with one
automaton (``ahocorasick_rs``, leftmost and non-overlapping, plus the literals such a
search steps over); :func:`pdebug.redact._may_change_finds` is the former code, one
``bytes.find`` pass per marker. They must agree on every corpus and fixture dump (whole,
compacted, section by section) and on generated text made of the literals' pieces, in
every case, overlapping each other and across the pieces the search is cut into.
"""

from __future__ import annotations

import random

import msgspec
import pytest

from pdebug import redact
from tests import harness as eh
from tests.harness import FIXTURES


def _dumps() -> list[bytes]:
    paths = {*eh.corpus_config_dumps()}
    for path in FIXTURES.rglob("*.json"):
        if b'"configs"' in path.read_bytes()[:4096]:
            paths.add(path)
    return [p.read_bytes() for p in sorted(paths)]


class _Top(msgspec.Struct):
    configs: list[msgspec.Raw] = []


def _texts(body: bytes) -> list[bytes]:
    out = [body]
    try:
        out.append(msgspec.json.format(body, indent=-1))
        sections = msgspec.json.decode(body, type=_Top).configs
    except (msgspec.DecodeError, msgspec.ValidationError):
        return out
    for raw in sections:
        out.append(bytes(raw))
        out.append(msgspec.json.format(bytes(raw), indent=-1))
    return out


def _agree(text: bytes) -> bool:
    fast = redact.may_change(text)
    assert fast == redact._may_change_finds(text), text[:300]
    return fast


def test_the_automaton_is_there() -> None:
    assert redact._searcher() is not None


def test_every_dump_gets_the_same_answer() -> None:
    answers = set()
    for body in _dumps():
        for text in _texts(body):
            answers.add(_agree(text))
    assert answers == {True, False}


_PIECES = [
    *(lit.decode() for lit in redact._LITERALS),
    *(lit.decode()[: len(lit) // 2] for lit in redact._LITERALS),
    *(lit.decode()[len(lit) // 2 :] for lit in redact._LITERALS),
    "password",
    "_key",
    "api-key",
    "secret_key",
    "credentials",
    "private_key_provider",
    "sds_secret_configs",
    "tokens",
    "token_id",
    "https://u:p@h/",
    "://",
    "@",
    '"@type"',
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln",
    "AKIAABCDEFGHIJKLMNOP",
    "AIza" + "A" * 35,
    "Bearer abcdefghijk",
    "basic  Zm9vOmJhcg==",
    "-----BEGIN RSA PRIVATE KEY-----",
    '"inline_bytes": "',
    '"inlineBytes":"',
    '"',
    ":",
    ": ",
    "=",
    " ",
    "\\n",
    "\\",
    "_",
    "-",
    ".",
    "x",
    "Z",
    "9",
    "{",
    "}",
    ",",
    "\n",
]


def _hostile(rng: random.Random) -> bytes:
    parts = []
    for _ in range(rng.randrange(1, 12)):
        piece = rng.choice(_PIECES)
        roll = rng.random()
        if roll < 0.3:
            piece = piece.upper()
        elif roll < 0.5:
            piece = "".join(c.upper() if rng.random() < 0.5 else c for c in piece)
        parts.append(piece)
    return "".join(parts).encode()


@pytest.mark.parametrize("piece", [1 << 20, 64, 7, 1])
def test_generated_text_gets_the_same_answer(piece: int, monkeypatch) -> None:
    """Literals cut, overlapping, in any case; also searched in small pieces."""
    monkeypatch.setattr(redact, "_SCAN_PIECE", piece)
    rng = random.Random(17 + piece)
    answers = set()
    for _ in range(4000):
        text = _hostile(rng)
        answers.add(_agree(text))
        if not answers or not redact.may_change(text):
            for doc in (text, b'{"' + text + b'": "v"}', b'{"k": "' + text + b'"}'):
                if not redact.may_change(doc):
                    assert redact.redact_bytes(doc) == doc, doc
    assert answers == {True, False}


def test_overlapping_literals_are_all_seen() -> None:
    """The search reports ``secret`` in ``secretoken``; ``token`` is found inside it."""
    for text in (
        b'{"secretoken": "v"}',
        b'{"x": "credentialAKIAABCDEFGHIJKLMNOP"}',
        b'{"x": "cookieyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln"}',
        b'{"keyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln": 1}',
    ):
        assert redact.redact_bytes(text) != text, text
        assert redact.may_change(text), text
        assert redact._may_change_finds(text), text
    assert _agree(b'{"x": "basicookie=1"}')  # a name ending in "cookie"
    for text in (b'{"aiziakia": 1}', b'{"x": "asiakia"}', b'{"x": "asiAKIAABCDEFGHIJKLMNOP"}'):
        _agree(text)
    assert _agree(b'{"x": "asiAKIAABCDEFGHIJKLMNOP"}')


def test_every_overlap_is_listed() -> None:
    """_OVERLAPS holds every literal that can start inside another one (brute force)."""
    lits = redact._LITERALS
    for a, lit in enumerate(lits):
        for offset in range(len(lit)):
            for b, other in enumerate(lits):
                text = lit + other
                if (offset, b) == (0, a):
                    continue
                inside = lit + other[len(lit) - offset :] if len(other) > len(lit) - offset else lit
                if inside.startswith(other, offset):
                    assert (offset, b) in redact._OVERLAPS[a], (lit, offset, other, text)


@pytest.mark.parametrize(
    "unit",
    [b"key", b"secretoken", b"keyj", b"passwordakia", b"x-", b"authorizationbasic"],
)
def test_a_name_of_megabytes_is_read_in_linear_time(unit: bytes, monkeypatch) -> None:
    """One name made of markers, longer than many pieces: the same answers, quickly."""
    import time

    monkeypatch.setattr(redact, "_SCAN_PIECE", 1 << 12)
    for tail in (b"", b"password", b"://u:p@h", b'": "v'):
        text = b'{"' + unit * (200_000 // len(unit)) + tail + b'": "v"}'
        start = time.process_time()
        fast = redact.may_change(text)
        took = time.process_time() - start
        assert fast == redact._may_change_finds(text), (unit, tail)
        assert took < 2.0, (unit, tail, took)


_SPLIT_SECRETS = [
    b'"Client_SECRET": "v"',
    b'"db_password":"v"',
    b'"X-Api-Key": "v"',
    b'"authorization": "Bearer abcdefghijk"',
    b'"v": "https://u:pass@host/"',
    b'"v": "AKIAABCDEFGHIJKLMNOP"',
    b'"private_key": {"inline_bytes": "QUJD"}',
    b'"v": "-----BEGIN RSA PRIVATE KEY-----"',
    b'"PRIVATE_KEY": "abcdef"',
    b'"v": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln"',
]
_SPLIT_HARMLESS = [b'"sds_secret_configs": [{"name": "default"}]', b'"token_bucket": {"x": 1}']


@pytest.mark.parametrize("piece", [16, 64, 4096])
def test_a_secret_split_across_the_pieces_is_still_caught(piece: int, monkeypatch) -> None:
    """may_change lowers the text a piece at a time (#17): a marker or a name cut by a
    piece boundary, at every offset, is found as in the whole lower-cased text."""
    monkeypatch.setattr(redact, "_SCAN_PIECE", piece)
    for secret in _SPLIT_SECRETS:
        for shift in range(len(secret) + 30):
            pad = b"x" * (piece * 2 - shift)
            doc = b'{"a": "' + pad + b'", ' + secret + b"}"
            assert redact.may_change(doc), (secret, shift)
            assert redact._may_change_finds(doc), (secret, shift)
            assert redact.redact_bytes(doc) != doc, (secret, shift)
    for harmless in _SPLIT_HARMLESS:
        for shift in range(len(harmless) + 30):
            doc = b'{"a": "' + b"x" * (piece * 2 - shift) + b'", ' + harmless + b"}"
            assert not redact.may_change(doc), (harmless, shift)
            assert not redact._may_change_finds(doc), (harmless, shift)


def test_the_text_is_not_lowered_whole() -> None:
    """No copy of the whole text: a piece at a time (peak well under the text's size)."""
    import tracemalloc

    unit = b'{"name": "outbound|80||svc.ns.svc", "sds_secret_configs": [{"name": "Default"}]},'
    text = b"[" + unit * (8_000_000 // len(unit)) + b"{}]"
    tracemalloc.start()
    try:
        assert not redact.may_change(text)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < len(text) // 2, peak


@pytest.mark.parametrize("tokens", [True, False])
def test_may_change_is_true_wherever_any_redaction_would_change_the_text(tokens: bool) -> None:
    """For any text (a JSON document, a part of one, or not JSON at all: an admin's HTML or
    text answer), with or without ``--no-redact``: whenever the redaction would change
    it, :func:`may_change` says so."""
    rng = random.Random(23 + tokens)
    changed = 0
    texts = [*_SPLIT_SECRETS, *_SPLIT_HARMLESS]
    texts += [_hostile(rng) for _ in range(6000)]
    for text in texts:
        for doc in (text, b'{"' + text + b'": "v"}', b'{"k": "' + text + b'"}', b"{" + text + b"}"):
            if redact.redact_bytes(doc, tokens=tokens) != doc:
                changed += 1
                assert redact.may_change(doc), doc
    assert changed > 100


def _both(doc: bytes, tokens: bool, monkeypatch: pytest.MonkeyPatch) -> bytes:
    """``redact_bytes`` with the one-pass search, checked against the ``find`` passes."""
    fast = redact.redact_bytes(doc, tokens=tokens)
    with monkeypatch.context() as m:
        m.setattr(redact, "_hits", lambda low: None)
        slow = redact.redact_bytes(doc, tokens=tokens)
    assert fast == slow, doc[:300]
    return fast


@pytest.mark.parametrize("piece", [1 << 20, 64, 7, 1])
@pytest.mark.parametrize("tokens", [True, False])
def test_one_pass_redaction_is_the_find_passes_redaction(
    piece: int, tokens: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The redaction's markers found by one automaton pass (#17): byte for byte the
    output of one ``bytes.find`` pass per marker, on generated text (literals cut,
    overlapping, in any case, in and out of JSON strings and keys, searched in pieces
    as small as one byte)."""
    monkeypatch.setattr(redact, "_SCAN_PIECE", piece)
    rng = random.Random(41 + piece + tokens)
    changed = 0
    for _ in range(2500 if piece > 1 else 800):
        text = _hostile(rng)
        other = _hostile(rng)
        for doc in (
            text,
            b'{"' + text + b'": "' + other + b'"}',
            b'{"k": "' + text + b'", "' + other + b'": {"inline_string": "' + text + b'"}}',
            b'[{"key": "' + text + b'", "value": "' + other + b'"}]',
        ):
            if _both(doc, tokens, monkeypatch) != doc:
                changed += 1
    assert changed > 200


def test_one_pass_redaction_on_every_dump_and_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every corpus and fixture dump (whole, compacted, by section) and every secret shape."""
    outputs = set()
    for body in _dumps():
        for text in _texts(body):
            for tokens in (True, False):
                outputs.add(_both(text, tokens, monkeypatch) == text)
    assert outputs == {True, False}
    for secret in [*_SPLIT_SECRETS, *_SPLIT_HARMLESS]:
        for shift in range(0, 40, 3):
            doc = b'{"a": "' + b"x" * shift + b'", ' + secret + b"}"
            for tokens in (True, False):
                _both(doc, tokens, monkeypatch)


@pytest.mark.parametrize("limit", ["_MAX_HITS", "_MAX_PIECE_HITS"])
def test_past_a_million_markers_the_find_passes_run(
    limit: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(redact, limit, 10)
    monkeypatch.setattr(redact, "_SCAN_PIECE", 64)
    doc = b'{"a": "' + b"key " * 50 + b'", "token": "v"}'
    assert redact._hits(doc.lower()) is None
    assert redact.redact_bytes(doc) == doc.replace(b'"v"', b'"[redacted]"')
    monkeypatch.undo()
    assert redact._hits(doc.lower()) is not None
    assert redact.redact_bytes(doc) == doc.replace(b'"v"', b'"[redacted]"')


@pytest.mark.parametrize("piece", [1 << 20, 16, 3, 1])
def test_the_one_pass_finds_every_occurrence_of_every_literal(
    piece: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``_hits`` against brute force: every start of every literal, overlapping ones too
    (``secretoken``, ``keyJ...``), also where the search is cut into pieces."""
    monkeypatch.setattr(redact, "_SCAN_PIECE", piece)
    rng = random.Random(59 + piece)
    texts = [_hostile(rng) for _ in range(1500)]
    texts += [a + b for a in redact._LITERALS for b in redact._LITERALS]
    texts += [a[: len(a) // 2] + b for a in redact._LITERALS for b in redact._LITERALS]
    for text in texts:
        low = text.lower()
        expected = [
            [i for i in range(len(low)) if low.startswith(literal, i)]
            for literal in redact._LITERALS
        ]
        assert redact._hits(low) == expected, text


def test_a_pattern_literal_stepped_over_is_still_searched() -> None:
    """The only ``eyJ`` starts inside ``key`` (the search reports ``key``): the JWT goes."""
    jwt = b"eyJhbGciOiJIUzI1NiJ9.YWJj.ZGVm"
    doc = b'{"v": "k' + jwt + b'"}'
    assert redact.redact_bytes(doc) == b'{"v": "k[redacted]"}'
