"""A credential header object's other fields lose their tokens too (leftovers7's Left).

The header rule re-encodes the whole ``{"name": ..., "value": ...}`` object, so the
pattern stage's own span for a token inside it lost to it and the token stayed.
"""

from __future__ import annotations

import json

import pytest

from pdebug.redact import REDACTED, redact_bytes

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"


@pytest.mark.parametrize(
    ("name", "kept"),
    [
        ("x-AKIAABCDEFGHIJKLMNOP-token", f"x-{REDACTED}-token"),
        (f"x-{JWT}-token", f"x-{REDACTED}"),  # a JWT's last part may hold '-': it runs on
        ("x-AIzaSyA1234567890abcdefghijklmnopqrstuv-token", f"x-{REDACTED}-token"),
    ],
)
def test_a_token_in_a_credential_headers_name_is_hidden(name: str, kept: str) -> None:
    doc = {"request_headers_to_add": [{"header": {"key": name, "value": "1"}}]}
    raw = json.dumps(doc, indent=1).encode()
    out = redact_bytes(raw)
    text = out.decode()
    assert "AKIAABCDEFGHIJKLMNOP" not in text and JWT not in text and "AIzaSy" not in text
    header = json.loads(out)["request_headers_to_add"][0]["header"]
    # the token goes as the pattern stage writes it anywhere else: the name around it stays
    assert header["key"] == kept and header["value"] == REDACTED


def test_a_plain_credential_header_name_stays() -> None:
    doc = {"header": {"key": "x-api-token", "value": "s3cr3t"}}
    out = json.loads(redact_bytes(json.dumps(doc).encode()))
    assert out["header"] == {"key": "x-api-token", "value": REDACTED}


def test_what_sits_beside_a_credential_header_goes_too() -> None:
    """An object the header rule re-encodes (a credential header's name, its value) with a
    PEM block and a JWT in sibling fields: the re-encoded object's span won over theirs,
    and both stayed."""
    pem = "-----BEGIN PRIVATE KEY-----\nc4n4ryPEMbody0123\n-----END PRIVATE KEY-----\n"
    doc = {"metadata": {"name": "authorization", "value": "v", "KEY": pem, "T": JWT}}
    out = redact_bytes(json.dumps(doc, indent=1).encode())
    assert b"c4n4ryPEMbody0123" not in out and JWT.encode() not in out
    assert json.loads(out)["metadata"]["value"] == REDACTED
