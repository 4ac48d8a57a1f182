"""``pdebug secrets``/``check`` on certificate data as others write it (sweep4).

Hand-made SecretsConfigDumps around certificates from the test PKI: what Envoy would
hold if an SDS server or a bootstrap sent it.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from pdebug.errors import ExitCode
from tests.harness import spiffe_validator
from tests.harness.pki import make_ca, make_self_signed, make_test_pki

NOW = dt.datetime.now(dt.UTC)
SECRET_TYPE = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret"
BAD_BLOCK = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"


def _ca(name: str, days: int = 30) -> bytes:
    return make_ca(name, NOW - dt.timedelta(days=1), NOW + dt.timedelta(days=days))


def _dump(tmp_path: Path, secrets: list[dict[str, Any]]) -> Path:
    path = tmp_path / "dump.json"
    doc = {
        "configs": [
            {
                "@type": "type.googleapis.com/envoy.admin.v3.SecretsConfigDump",
                "dynamic_active_secrets": secrets,
            }
        ]
    }
    path.write_text(json.dumps(doc))
    return path


def _root_secret(name: str, pem: bytes) -> dict[str, Any]:
    data = base64.b64encode(pem).decode()
    return {
        "name": name,
        "version_info": "v1",
        "secret": {
            "@type": SECRET_TYPE,
            "name": name,
            "validation_context": {"trusted_ca": {"inline_bytes": data}},
        },
    }


def _serial(pem: bytes) -> str:
    return format(x509.load_pem_x509_certificate(pem).serial_number, "x").rjust(32, "0")


def test_a_bad_block_after_the_first_certificate_keeps_the_row(pdebug, tmp_path: Path):
    # istioctl decodes the first PEM block only; a truncated root at the end of a bundle
    # used to blank the whole row (VALID CERT false, no serial) and hide it from check.
    first = _ca("first")
    path = _dump(tmp_path, [_root_secret("ROOTCA", first + _ca("second") + BAD_BLOCK)])
    result = pdebug("secrets", "-o", "wide", path)
    assert result.code == 0, result.err
    row = result.out.splitlines()[1].split()
    assert row[:5] == ["ROOTCA", "CA", "ACTIVE", "true", _serial(first)]
    assert row[8] == "2"  # CHAIN: the certificates that parse


def test_check_sees_an_expired_root_before_a_bad_block(pdebug, tmp_path: Path):
    expired = make_ca("old", NOW - dt.timedelta(days=30), NOW - dt.timedelta(days=1))
    path = _dump(tmp_path, [_root_secret("ROOTCA", expired + BAD_BLOCK)])
    result = pdebug("check", "-o", "json", path)
    assert result.code == ExitCode.FINDINGS, result.err
    found = {(f["code"], f["resource"]) for f in json.loads(result.out)["findings"]}
    assert ("PD501", "secret/ROOTCA") in found


def _chain_secret(name: str, pem: bytes) -> dict[str, Any]:
    data = base64.b64encode(pem).decode()
    return {
        "name": name,
        "secret": {
            "@type": SECRET_TYPE,
            "name": name,
            "tls_certificate": {"certificate_chain": {"inline_bytes": data}},
        },
    }


def test_check_judges_every_certificate_of_a_served_chain(pdebug, tmp_path: Path):
    # a valid leaf whose intermediate has expired (or is about to): peers reject the
    # chain, yet check used to judge the first certificate only and say nothing
    leaf = make_test_pki(tmp_path / "pki").cert_pem
    expired = make_ca("inter", NOW - dt.timedelta(days=30), NOW - dt.timedelta(days=1))
    soon = make_ca("inter2", NOW - dt.timedelta(days=30), NOW + dt.timedelta(days=2))  # past half
    path = _dump(
        tmp_path,
        [
            _chain_secret("default", leaf + expired + _ca("root", days=3650)),
            _chain_secret("other", leaf + soon),
            _root_secret("ROOTCA", _ca("root1", days=3650) + expired),  # a trust bundle
        ],
    )
    result = pdebug("check", "-o", "json", path)
    assert result.code == ExitCode.FINDINGS, result.err
    found = [(f["code"], f["resource"], f["message"]) for f in json.loads(result.out)["findings"]]
    pd5 = [(c, r, m.split(" expire")[0]) for c, r, m in found if c.startswith("PD50")]
    # sweep7: a trust bundle's later roots are judged too (they used to be ignored:
    # "judged by their first root only"); peers whose chain ends at that root fail
    assert pd5 == [
        ("PD501", "secret/ROOTCA", "CA certificate 2 of 2 in the trust bundle"),
        ("PD501", "secret/default", "CA certificate 2 of 3 in the chain"),
        ("PD502", "secret/other", "CA certificate 2 of 2 in the chain"),
    ]
    assert all(_serial(expired) in m for c, r, m in found if c == "PD501")
    # the table still shows the bundle's first root, as istioctl does
    row = pdebug("secrets", path).out.splitlines()[-1].split()
    assert row[:5] == ["ROOTCA", "CA", "ACTIVE", "true", row[4]] and row[4] != _serial(expired)


def _with_malformed_san() -> bytes:
    """A self-signed certificate whose SubjectAlternativeName does not parse."""
    from cryptography.x509.oid import ExtensionOID

    bad = x509.UnrecognizedExtension(ExtensionOID.SUBJECT_ALTERNATIVE_NAME, b"\x30\x03\x86\x01")
    day = dt.timedelta(days=1)
    return make_self_signed("bad-san", NOW - day, NOW + 3 * day, bad, serial=5)


def test_a_malformed_extension_makes_the_certificate_unparsable(pdebug, tmp_path: Path):
    # this exited 5 (ValueError from cryptography's lazy extension parsing); Go's x509
    # rejects such a certificate, so istioctl's row is empty and VALID CERT false
    path = _dump(tmp_path, [_chain_secret("default", _with_malformed_san())])
    for args in (("secrets",), ("secrets", "-o", "wide"), ("check",)):
        result = pdebug(*args, path)
        assert result.code == 0, (args, result.err)
    row = pdebug("secrets", path).out.splitlines()[1].split()
    assert row == ["default", "ACTIVE", "false"]


def test_check_judges_every_root_of_a_spiffe_trust_domain(pdebug, tmp_path: Path):
    # sweep7: a SPIFFE validator's trust domain bundle with an expired second root
    root = _ca("td-root", days=3650)
    old = make_ca("td-old", NOW - dt.timedelta(days=30), NOW - dt.timedelta(hours=2))
    secret = {
        "name": "ROOTCA",
        "secret": {
            "@type": SECRET_TYPE,
            "name": "ROOTCA",
            "validation_context": spiffe_validator(
                {
                    "trust_domains": [
                        {
                            "name": "example.org",
                            "trust_bundle": {"inline_bytes": base64.b64encode(root + old).decode()},
                        }
                    ]
                }
            ),
        },
    }
    result = pdebug("check", "-o", "json", _dump(tmp_path, [secret]))
    assert result.code == ExitCode.FINDINGS, result.err
    (f,) = [f for f in json.loads(result.out)["findings"] if f["code"] == "PD501"]
    assert f["resource"] == "secret/ROOTCA (trust domain example.org)"
    assert f["message"].startswith("CA certificate 2 of 2 in the trust bundle expired ")
    assert _serial(old) in f["message"]  # NOW is taken at import: no exact age


def test_one_damaged_secret_leaves_the_others_judged(pdebug, tmp_path: Path):
    # sweep7: a damaged SPIFFE validator in one secret, or static secrets that are all
    # damaged, made PD501/PD502 "could not read the input" for every secret (exit 4),
    # hiding an expired certificate beside them. The others are judged; the damaged one
    # is named on stderr.
    expired = make_ca("old", NOW - dt.timedelta(days=30), NOW - dt.timedelta(days=1))
    spiffe = {
        "name": "spiffe",
        "secret": {
            "@type": SECRET_TYPE,
            "name": "spiffe",
            "validation_context": spiffe_validator(
                {"trust_domains": [{"name": "x", "trust_bundle": {"inline_bytes": 12}}]}
            ),
        },
    }
    path = _dump(tmp_path, [_root_secret("ROOTCA", expired), spiffe])
    doc = json.loads(path.read_text())
    doc["configs"][0]["static_secrets"] = [{"name": 12, "secret": {"name": "s"}}]
    path.write_text(json.dumps(doc))
    result = pdebug("check", "-o", "json", path)
    assert result.code == ExitCode.FINDINGS, result.err
    out = json.loads(result.out)
    assert [(f["code"], f["resource"]) for f in out["findings"]] == [("PD501", "secret/ROOTCA")]
    assert not [s for s in out["skipped"] if s["error"]]
    assert f"{path}: secret 'spiffe': SPIFFE validator: unexpected value" in result.err
    assert f"{path}: static_secrets[0]: unexpected value" in result.err
    assert "static secrets not judged" in result.err and "Traceback" not in result.err
    assert pdebug("secrets", path).code == ExitCode.OK


def _leaf_with_uris(*uris: str) -> bytes:
    san = x509.SubjectAlternativeName([x509.UniformResourceIdentifier(u) for u in uris])
    day = dt.timedelta(days=1)
    return make_self_signed("odd-spiffe", NOW - day, NOW + 300 * day, san, serial=7)


@pytest.mark.parametrize(
    ("uris", "domain"),
    [
        (["spiffe://cluster.local/ns/a/sa/b"], "cluster.local"),
        # userinfo is not part of the trust domain (Go's url.Host; it was "u@td")
        (["spiffe://u@td.example/ns/a/sa/b"], "td.example"),
        (["spiffe://u:pw@td.example:8443/ns/a"], "td.example:8443"),  # Go keeps the port
        (["spiffe://td.example?x=1"], "td.example"),
        (["spiffe://td.example#frag"], "td.example"),
        (["SPIFFE://TD.example/x"], "TD.example"),  # the scheme is case-insensitive
        # the last SPIFFE URI that Go's x509 accepts decides; the others name nothing
        (["spiffe://first/x", "spiffe://td:abc/x"], "first"),
        (["spiffe://first/x", "spiffe://td./x"], "first"),
        (["spiffe://first/x", "spiffe://a..b/x"], "first"),
        (["spiffe://first/x", "https://other/x"], "first"),
    ],
)
def test_the_trust_domain_of_odd_spiffe_ids(pdebug, tmp_path: Path, uris, domain):
    # sweep7: the trust domain was the text between "spiffe://" and the first "/"
    path = _dump(tmp_path, [_chain_secret("default", _leaf_with_uris(*uris))])
    result = pdebug("secrets", path)
    assert result.code == 0, result.err
    head, line = result.out.splitlines()
    assert head.endswith("TRUST DOMAIN")
    row = line.split()
    assert row[-1] == domain and row[:4] == ["default", "Cert", "Chain", "ACTIVE"]
