"""Redaction under seeded hostile plantings: every secret goes, the JSON stays (#12.5).

A seeded generator plants secrets of every kind at random places of the real dumps, in
random spellings (header names in any case, fields in any order, snake or camel case),
serialised with random layouts; :func:`pdebug.redact.redact_bytes` must remove each one,
keep the document valid JSON of the same shape, and never fail on garbage.
"""

from __future__ import annotations

import base64
import json
import random
import string
import time
from typing import Any

import pytest

from pdebug.redact import redact_bytes
from tests.harness import FIXTURES

DUMPS = [
    FIXTURES / "real" / "sidecar" / "config_dump.json",
    FIXTURES / "real" / "seed-demo" / "config_dump.json",
]


def canary(rng: random.Random) -> str:
    return "c4n4ry" + "".join(rng.choices(string.ascii_lowercase + string.digits, k=10))


def case(rng: random.Random, word: str) -> str:
    return rng.choice([word, word.upper(), word.title(), "".join(
        c.upper() if rng.random() < 0.5 else c for c in word)])  # fmt: skip


def text_secret(rng: random.Random) -> tuple[str, str]:
    """A string holding a secret, and the part of it that must go."""
    c = canary(rng)
    name = case(rng, rng.choice(["password", "db_password", "api_key", "secret", "AUTH_TOKEN"]))
    sep = rng.choice(["=", ": ", " = ", ":"])
    quote = rng.choice(["", '"', "'"])
    key_id = "AKIA" + "".join(rng.choices(string.ascii_uppercase + string.digits, k=16))
    body = base64.b64encode(c.encode() * 4).decode()
    options = [
        (f"{case(rng, 'bearer')} {c}", c),
        (f"Basic {base64.b64encode(c.encode()).decode()}", base64.b64encode(c.encode()).decode()),
        (f"{name}{sep}{quote}{c}{quote}", c),
        (f"https://user:{c}@db.example:5432/x", c),
        (f"aws {key_id}", key_id),
        (f"-----BEGIN RSA PRIVATE KEY-----\n{body}\n-----END RSA PRIVATE KEY-----\n", body),
        (f"-----BEGIN PGP PRIVATE KEY BLOCK-----\n\n{body}\n", body),
        (f'request_handle:headers():add("{case(rng, "x-api-key")}", "{c}")', c),
        (json.dumps({case(rng, "client_secret"): c}), c),
    ]
    text, needle = rng.choice(options)
    filler = "".join(rng.choices(string.ascii_letters + " \n\t;,", k=rng.randrange(0, 20)))
    return rng.choice([text, filler + "\n" + text, text + "\n" + filler]), needle


def header_object(rng: random.Random) -> tuple[dict[str, Any], str]:
    c = canary(rng)
    name = case(rng, rng.choice(["authorization", "cookie", "set-cookie", "x-api-key",
                                 "proxy-authorization", "x-auth-token"]))  # fmt: skip
    kind = rng.randrange(4)
    if kind == 0:  # HeaderValue, either order
        fields = [("key", name), ("value", c)]
    elif kind == 1:  # a matcher, name anywhere
        match = rng.choice([
            {"exact": c},
            {"prefix": c, "ignore_case": True},
            {"safe_regex": {"google_re2": {}, "regex": c}},
        ])  # fmt: skip
        fields = [("name", name), ("string_match", match), ("invert_match", False)]
    elif kind == 2:
        fields = [("name", name), ("safe_regex_match", {"google_re2": {}, "regex": c})]
    else:
        fields = [("name", name), ("exact_match", c)]
    rng.shuffle(fields)
    return dict(fields), c


def keyed_secret(rng: random.Random) -> tuple[str, Any, str]:
    c = canary(rng)
    key = rng.choice(
        [
            ("private_key", {"inline_string": f"-----BEGIN PRIVATE KEY-----\n{c}\n"}),
            ("privateKey", {"inlineBytes": base64.b64encode(c.encode()).decode()}),
            ("pkcs12", {"inline_bytes": base64.b64encode(c.encode()).decode()}),
            (case(rng, "db_password"), c),
            ("access_token", c),
            (
                "sessionTicketKeys",
                {"keys": [{"inlineBytes": base64.b64encode(c.encode()).decode()}]},
            ),
            ("generic_secret", {"secret": {"inline_string": c}}),
        ]
    )
    needle = c
    return key[0], key[1], needle


def plant(doc: Any, rng: random.Random, n: int) -> list[str]:
    """Plant ``n`` secrets in ``doc`` in place; return what must go."""
    strings: list[tuple[Any, Any]] = []
    dicts: list[dict[str, Any]] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            dicts.append(value)
            for k, v in value.items():
                if isinstance(v, str):
                    strings.append((value, k))
                walk(v)
        elif isinstance(value, list):
            for i, v in enumerate(value):
                if isinstance(v, str):
                    strings.append((value, i))
                walk(v)

    walk(doc)
    needles = []
    for _ in range(n):
        kind = rng.randrange(3)
        if kind == 0 and strings:
            holder, key = rng.choice(strings)
            text, needle = text_secret(rng)
            holder[key] = holder[key] + rng.choice([" ", "\n", ";", ", "]) + text
        elif kind == 1:
            obj, needle = header_object(rng)
            rng.choice(dicts)[rng.choice(["request_headers_to_add", "headers", "x"])] = [obj]
        else:
            key, value, needle = keyed_secret(rng)
            rng.choice(dicts)[key] = value
        needles.append(needle)
    return needles


def serialise(doc: Any, rng: random.Random) -> bytes:
    indent = rng.choice([None, 1, 2, 4])
    separators = rng.choice([(",", ":"), (", ", ": ")]) if indent is None else None
    return json.dumps(doc, indent=indent, separators=separators, ensure_ascii=rng.random() < 0.3
                      ).encode()  # fmt: skip


def shape(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(v) for v in value]
    return type(value).__name__


@pytest.mark.parametrize("seed", range(24))
def test_seeded_plantings_are_all_redacted_and_the_json_kept(seed):
    rng = random.Random(seed)
    doc = json.loads(DUMPS[seed % len(DUMPS)].read_text())
    needles = plant(doc, rng, 25)
    body = serialise(doc, rng)
    out = redact_bytes(body)
    text = out.decode()
    decoded = json.dumps(json.loads(out), ensure_ascii=False)
    for needle in needles:
        assert needle not in text and needle not in decoded, (seed, needle)
        b64 = base64.b64encode(needle.encode()).decode()[:16]
        assert b64 not in text, (seed, needle)
    assert shape(json.loads(out)) == shape(json.loads(body))  # same keys, same types
    assert redact_bytes(out) == out


@pytest.mark.parametrize("seed", range(12))
def test_garbage_never_fails_and_is_bounded(seed):
    rng = random.Random(1000 + seed)
    base = DUMPS[0].read_bytes()[:200_000]
    pieces = [
        bytes(rng.randrange(256) for _ in range(rng.randrange(1, 4000))),
        base[: rng.randrange(len(base))],  # truncated mid-token
        b'{"private_key": {' * rng.randrange(1, 3000),  # deep, unterminated
        b'"authorization"' * rng.randrange(1, 3000),
        b'{"key": "authorization", "value": "' + b"\\" * rng.randrange(1, 50),
        b"-----BEGIN PRIVATE KEY-----" * rng.randrange(1, 500),
        b'"inline_bytes": "' + bytes(rng.choices(b"A=/\\n+", k=rng.randrange(1, 5000))),
        b"password=" * 2000 + b"eyJ" * 1000 + b"://a:b@" * 1000,
    ]
    data = b"".join(rng.sample(pieces, k=rng.randrange(1, len(pieces) + 1)))
    started = time.perf_counter()
    out = redact_bytes(data)
    assert isinstance(out, bytes)
    assert time.perf_counter() - started < 5
