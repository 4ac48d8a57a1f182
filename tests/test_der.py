"""pdebug's own X.509 reader (pdebug/model/der.py) against cryptography, the oracle.

The reader answers only inside a subset whose outcome in cryptography is known, and says
"ask cryptography" (None) otherwise. What must hold, on every certificate of the fixtures,
on generated ones and on damaged or hostile DER and PEM: whenever it answers, cryptography
reads the same certificate without error or warning and gives the same fields; and
``parse_pem``/``parse_der`` give what they gave when they used cryptography alone.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import random
import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from pdebug.model import der, secrets
from tests import harness as eh
from tests.harness import pki

_PEM = re.compile(rb"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", re.S)
_UTC = dt.UTC


# --------------------------------------------------------------------------- the oracle


def _oracle(cert: Any) -> der.Fields:
    """The fields as the code before der.py read them from a cryptography certificate."""
    exts = cert.extensions
    try:
        ca = bool(exts.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        ca = False
    try:
        san = exts.get_extension_for_class(x509.SubjectAlternativeName).value
        uris = tuple(san.get_values_for_type(x509.UniformResourceIdentifier))
    except x509.ExtensionNotFound:
        uris = ()
    return der.Fields(
        cert.serial_number, cert.not_valid_before_utc, cert.not_valid_after_utc, ca, uris
    )


def _oracle_der(data: bytes) -> der.Fields | str:
    """cryptography's fields, or the name of what it raised (warnings are errors here)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            return _oracle(x509.load_der_x509_certificate(data))
        except Exception as exc:  # noqa: BLE001 - any outcome is compared
            return type(exc).__name__


def _oracle_pem(block: bytes) -> der.Fields | str:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            return _oracle(x509.load_pem_x509_certificate(block))
        except Exception as exc:  # noqa: BLE001
            return type(exc).__name__


def _agrees_der(data: bytes) -> bool:
    """der.py answers nothing, or what cryptography answers; True when it answered."""
    fast = der.from_der(data)
    if fast is None:
        return False
    assert fast == _oracle_der(data), data.hex()
    return True


def _agrees_pem(block: bytes) -> bool:
    fast = der.from_pem_block(block)
    if fast is None:
        return False
    assert fast == _oracle_pem(block), block
    return True


# --------------------------------------------------------------------------- certificates


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def certificates_in(root: Path) -> tuple[set[bytes], set[bytes]]:
    """Every PEM block (and every base64 DER certificate of a JSON string) under ``root``."""
    pems: set[bytes] = set()
    ders: set[bytes] = set()
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.stat().st_size > 50_000_000:
            continue
        data = path.read_bytes()
        texts = [data, data.replace(b"\\n", b"\n")]
        if path.suffix in (".yaml", ".yml"):  # a block scalar's PEM is indented in the text
            try:
                texts = [s.encode() for s in _strings(yaml.safe_load(data))]
            except yaml.YAMLError:
                pass
        for text in texts:
            pems.update(m.group(0) for m in _PEM.finditer(text))
        if path.suffix != ".json":
            continue
        try:
            doc = json.loads(data)
        except ValueError:
            continue
        for s in _strings(doc):
            if len(s) < 40:
                continue
            pems.update(m.group(0) for m in _PEM.finditer(s.encode("utf-8", "replace")))
            try:
                raw = base64.b64decode(s, validate=True)
            except (binascii.Error, ValueError):
                continue
            pems.update(m.group(0) for m in _PEM.finditer(raw))
            if raw[:1] == b"\x30":
                ders.add(raw)
    return pems, ders


def _der_of(block: bytes) -> bytes:
    return x509.load_pem_x509_certificate(block).public_bytes(serialization.Encoding.DER)


def _key(kind: str) -> Any:
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if kind == "p384":
        return ec.generate_private_key(ec.SECP384R1())
    if kind == "p521":
        return ec.generate_private_key(ec.SECP521R1())
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    return ec.generate_private_key(ec.SECP256R1())


_KEYS: dict[str, Any] = {}


def _cached_key(kind: str) -> Any:
    if kind not in _KEYS:
        _KEYS[kind] = _key(kind)
    return _KEYS[kind]


def _build(
    *,
    key: str = "p256",
    digest: Any = hashes.SHA256,
    serial: int = 0x1234,
    not_before: dt.datetime = dt.datetime(2024, 1, 1, tzinfo=_UTC),
    not_after: dt.datetime = dt.datetime(2034, 1, 1, tzinfo=_UTC),
    exts: list[tuple[Any, bool]] | None = None,
    subject: x509.Name | None = None,
) -> bytes:
    k = _cached_key(key)
    name = subject or x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pdebug test")])
    b = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(k.public_key())
        .serial_number(serial)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
    )
    for ext, critical in exts or []:
        b = b.add_extension(ext, critical)
    cert = b.sign(k, None if key == "ed25519" else digest())
    return cert.public_bytes(serialization.Encoding.DER)


def _ku(**on: bool) -> x509.KeyUsage:
    names = (
        "digital_signature",
        "content_commitment",
        "key_encipherment",
        "data_encipherment",
        "key_agreement",
        "key_cert_sign",
        "crl_sign",
        "encipher_only",
        "decipher_only",
    )
    return x509.KeyUsage(**{n: on.get(n, False) for n in names})


def _generated() -> Iterator[bytes]:
    uri = x509.UniformResourceIdentifier
    san = x509.SubjectAlternativeName
    for key in ("p256", "p384", "p521", "rsa", "ed25519"):
        yield _build(key=key)
    for digest in (hashes.SHA256, hashes.SHA384, hashes.SHA512, hashes.SHA224):
        yield _build(digest=digest)
        yield _build(key="rsa", digest=digest)
    for serial in (1, 0x7F, 0x80, 0xFF, 0x100, 2**63, 2**159 - 1):
        yield _build(serial=serial)
    for nb, na in (
        (dt.datetime(1950, 1, 1, tzinfo=_UTC), dt.datetime(2049, 12, 31, 23, 59, 59, tzinfo=_UTC)),
        (dt.datetime(2000, 2, 29, tzinfo=_UTC), dt.datetime(2050, 1, 1, tzinfo=_UTC)),
        (dt.datetime(1950, 1, 1, tzinfo=_UTC), dt.datetime(9999, 12, 31, tzinfo=_UTC)),
        (dt.datetime(2050, 1, 1, tzinfo=_UTC), dt.datetime(2100, 2, 28, tzinfo=_UTC)),
    ):
        yield _build(not_before=nb, not_after=na)
    for ca, path in ((True, None), (True, 0), (True, 3), (True, 300), (False, None)):
        for critical in (True, False):
            yield _build(exts=[(x509.BasicConstraints(ca=ca, path_length=path), critical)])
    for usage in (
        _ku(digital_signature=True),
        _ku(key_cert_sign=True, crl_sign=True),
        _ku(digital_signature=True, key_encipherment=True, key_agreement=True),
        _ku(key_agreement=True, encipher_only=True),
        _ku(key_agreement=True, decipher_only=True),
        _ku(crl_sign=True),
        _ku(content_commitment=True, data_encipherment=True),
    ):
        yield _build(exts=[(usage, True)])
    yield _build(
        exts=[
            (
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                False,
            )
        ]
    )
    yield _build(exts=[(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), False)])
    yield _build(exts=[(x509.ExtendedKeyUsage([x509.ObjectIdentifier("1.2.3.4")]), False)])
    k = _cached_key("p256").public_key()
    yield _build(exts=[(x509.SubjectKeyIdentifier.from_public_key(k), False)])
    yield _build(exts=[(x509.AuthorityKeyIdentifier.from_issuer_public_key(k), False)])
    yield _build(
        exts=[
            (
                x509.AuthorityKeyIdentifier(
                    b"1234", [x509.DNSName("ca.example")], authority_cert_serial_number=7
                ),
                False,
            )
        ]
    )
    import ipaddress

    for names in (
        [uri("spiffe://cluster.local/ns/default/sa/x")],
        [uri("spiffe://a/ns/x"), uri("spiffe://b/ns/y"), uri("https://example.com/")],
        [x509.DNSName("a.example"), uri("spiffe://td/ns/n/sa/s")],
        [x509.RFC822Name("x@example.com"), x509.DNSName("*.example")],
        [x509.IPAddress(ipaddress.ip_address("10.0.0.1")), uri("spiffe://td")],
        [x509.IPAddress(ipaddress.ip_address("::1"))],
        [uri._init_without_validation("spiffe://tr\u00e4st/ns")],
        [x509.DirectoryName(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "d")]))],
        [x509.RegisteredID(x509.ObjectIdentifier("1.2.3"))],
        [x509.OtherName(x509.ObjectIdentifier("1.2.3"), b"\x04\x00")],
    ):
        for critical in (True, False):
            yield _build(exts=[(san(names), critical)])
    yield _build(exts=[(x509.TLSFeature([x509.TLSFeatureType.status_request]), False)])
    yield _build(
        exts=[(x509.UnrecognizedExtension(x509.ObjectIdentifier("1.2.3.4.5"), b"\x05\x00"), False)]
    )
    yield _build(
        subject=x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Org"),
                x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "Unit"),
                x509.NameAttribute(NameOID.EMAIL_ADDRESS, "a@b.c"),
                x509.NameAttribute(NameOID.DOMAIN_COMPONENT, "example"),
                x509.NameAttribute(NameOID.USER_ID, "uid"),
                x509.NameAttribute(NameOID.POSTAL_CODE, "94105"),
                x509.NameAttribute(NameOID.X500_UNIQUE_IDENTIFIER, "abc"),
                x509.NameAttribute(x509.ObjectIdentifier("1.2.3.4"), "other"),
            ]
        )
    )
    yield _build(
        subject=x509.Name(
            [
                x509.RelativeDistinguishedName(
                    [
                        x509.NameAttribute(NameOID.COMMON_NAME, "a"),
                        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "b"),
                    ]
                )
            ]
        )
    )
    yield _build(subject=x509.Name([]))
    # everything Istio writes, together
    yield _build(
        key="rsa",
        exts=[
            (_ku(digital_signature=True, key_encipherment=True), True),
            (
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                False,
            ),
            (x509.BasicConstraints(ca=False, path_length=None), True),
            (x509.AuthorityKeyIdentifier.from_issuer_public_key(k), False),
            (san([uri("spiffe://cluster.local/ns/default/sa/productpage")]), True),
        ],
    )


@pytest.fixture(scope="module")
def generated() -> list[bytes]:
    return list(_generated())


# --------------------------------------------------------------------------- real certificates


def test_every_fixture_certificate_is_read_alike() -> None:
    pems, ders = certificates_in(eh.FIXTURES)
    assert len(pems) >= 30
    answered = [b for b in sorted(pems) if _agrees_pem(b)]
    for data in sorted(ders):
        _agrees_der(data)
    # every certificate cryptography reads is read without it (no fixture needs it)
    readable = [b for b in sorted(pems) if not isinstance(_oracle_pem(b), str)]
    assert answered == readable


def test_harness_pki_certificates_are_read_alike(tmp_path: Path) -> None:
    now = dt.datetime.now(_UTC)
    t = pki.make_test_pki(tmp_path)
    blocks = [
        m.group(0) for p in sorted(tmp_path.rglob("*.pem")) for m in _PEM.finditer(p.read_bytes())
    ]
    server = pki.make_server_pki()
    blocks += [m.group(0) for m in _PEM.finditer(server.ca_pem + server.cert_pem)]
    blocks += [
        m.group(0)
        for m in _PEM.finditer(
            pki.make_ca("td", now - dt.timedelta(days=1), now + dt.timedelta(days=1))
        )
    ]
    assert t is not None and len(blocks) >= 4
    for block in blocks:
        assert _agrees_pem(block), block


def test_generated_certificates(generated: list[bytes]) -> None:
    answered = sum(_agrees_der(d) for d in generated)
    assert answered >= len(generated) // 2  # the reader is not a no-op
    for data in generated:
        block = x509.load_der_x509_certificate(data).public_bytes(serialization.Encoding.PEM)
        _agrees_pem(block)


def test_known_fields() -> None:
    data = _build(
        serial=0xABC,
        not_before=dt.datetime(2024, 5, 1, 12, 30, 5, tzinfo=_UTC),
        not_after=dt.datetime(2051, 1, 2, 3, 4, 5, tzinfo=_UTC),
        exts=[
            (x509.BasicConstraints(ca=True, path_length=None), True),
            (
                x509.SubjectAlternativeName(
                    [
                        x509.UniformResourceIdentifier("spiffe://a/x"),
                        x509.UniformResourceIdentifier("spiffe://b/y"),
                    ]
                ),
                False,
            ),
        ],
    )
    assert der.from_der(data) == der.Fields(
        0xABC,
        dt.datetime(2024, 5, 1, 12, 30, 5, tzinfo=_UTC),
        dt.datetime(2051, 1, 2, 3, 4, 5, tzinfo=_UTC),
        True,
        ("spiffe://a/x", "spiffe://b/y"),
    )


# --------------------------------------------------------------------------- hostile input


def _spots(data: bytes, what: bytes) -> list[int]:
    out, at = [], data.find(what)
    while at >= 0:
        out.append(at)
        at = data.find(what, at + 1)
    return out


def test_same_length_substitutions(generated: list[bytes]) -> None:
    """Every byte value at the places the reader judges: tags, times, serial, flags."""
    for data in generated[:8] + generated[-3:]:
        spots: set[int] = set()
        for marker in (b"\x17\x0d", b"\x18\x0f", b"\x02\x02", b"\x03\x02", b"\x01\x01\xff"):
            for at in _spots(data, marker):
                spots.update(range(at, min(len(data), at + 17)))
        spots.update(range(min(len(data), 40)))  # outer headers, version, serial, algorithm
        for at in sorted(spots):
            for value in range(256):
                if value == data[at]:
                    continue
                _agrees_der(data[:at] + bytes([value]) + data[at + 1 :])


def test_time_strings(generated: list[bytes]) -> None:
    data = generated[0]
    at = data.find(b"\x17\x0d") + 2
    rng = random.Random(7)
    samples = [
        b"000229000000Z",
        b"010229000000Z",
        b"491231235959Z",
        b"500101000000Z",
        b"991231235960Z",
        b"240101240000Z",
        b"240101236000Z",
        b"241301000000Z",
        b"240001000000Z",
        b"240100000000Z",
        b"240131000000+",
        b"2401010000000",
        b" 40101000000Z",
        b"24010100000 Z",
        b"\xd9\xa04010100000Z"[:13],
    ]
    samples += [bytes(rng.choice(b"0123456789Z+-. ") for _ in range(13)) for _ in range(3000)]
    samples += [
        b"%02d%02d%02d%02d%02d%02dZ"
        % (
            rng.randrange(100),
            rng.randrange(14),
            rng.randrange(33),
            rng.randrange(25),
            rng.randrange(61),
            rng.randrange(61),
        )
        for _ in range(3000)
    ]
    for text in samples:
        _agrees_der(data[:at] + text + data[at + 13 :])
    # GeneralizedTime, also before 2050 (the lengths above it change)
    general = [
        b"19491231235959Z",
        b"00010101000000Z",
        b"00000101000000Z",
        b"20240229000000Z",
        b"20230229000000Z",
        b"99991231235959Z",
        b"20240101000000.5Z",
        b"20240101000000",
        b"202401010000Z",
        b"20240101000000+0000",
    ]
    general += [
        b"%04d%02d%02d%02d%02d%02dZ"
        % (
            rng.randrange(10000),
            rng.randrange(14),
            rng.randrange(33),
            rng.randrange(25),
            rng.randrange(61),
            rng.randrange(61),
        )
        for _ in range(2000)
    ]
    general += [bytes(rng.choice(b"0123456789Z+-. ") for _ in range(15)) for _ in range(1000)]
    for text in general:
        for which in (0, 1):
            _agrees_der(_with_time(data, which, _enc(0x18, text)))
            _agrees_der(_with_time(data, which, _enc(0x17, text[2:])))


def _enc(tag: int, content: bytes) -> bytes:
    n = len(content)
    if n < 0x80:
        head = bytes([n])
    else:
        size = n.to_bytes((n.bit_length() + 7) // 8, "big")
        head = bytes([0x80 | len(size)]) + size
    return bytes([tag]) + head + content


def _children(buf: bytes) -> list[bytes]:
    out, p = [], 0
    while p < len(buf):
        _, a, b = der._tlv(buf, p, len(buf))
        out.append(buf[p:b])
        p = b
    return out


def _content(tlv: bytes) -> bytes:
    _, a, b = der._tlv(tlv, 0, len(tlv))
    return tlv[a:b]


def _with_time(data: bytes, which: int, time_tlv: bytes) -> bytes:
    """``data`` with its notBefore (0) or notAfter (1) replaced, lengths re-encoded."""
    tbs, alg, sig = _children(_content(data))
    parts = _children(_content(tbs))
    at = 4 if parts[0][0] == 0xA0 else 3
    times = _children(_content(parts[at]))
    times[which] = time_tlv
    parts[at] = _enc(0x30, b"".join(times))
    return _enc(0x30, _enc(0x30, b"".join(parts)) + alg + sig)


def test_random_mutations(generated: list[bytes]) -> None:
    """Flipped, inserted, deleted bytes and cut certificates: the same outcome, no traceback."""
    rng = random.Random(1712)
    pems, _ = certificates_in(eh.FIXTURES)
    seeds = generated + [_der_of(b) for b in sorted(pems) if not isinstance(_oracle_pem(b), str)]
    for _ in range(20000):
        data = bytearray(rng.choice(seeds))
        for _ in range(rng.choice((1, 1, 1, 2, 3))):
            op = rng.randrange(4)
            at = rng.randrange(len(data))
            if op == 0:
                data[at] ^= 1 << rng.randrange(8)
            elif op == 1:
                data[at] = rng.randrange(256)
            elif op == 2:
                data.insert(at, rng.randrange(256))
            elif len(data) > 1:
                del data[at]
        if rng.random() < 0.05:
            data = data[: rng.randrange(len(data))]
        _agrees_der(bytes(data))


def test_pem_text_variants(generated: list[bytes]) -> None:
    rng = random.Random(5)
    for data in generated[:8]:
        body = base64.b64encode(data)
        for width in (64, 76, 1, 3, 4, 65, len(body)):
            lines = [body[i : i + width] for i in range(0, len(body), width)]
            for nl in (b"\n", b"\r\n", b"\r", b" \n", b"\n\n"):
                block = (
                    b"-----BEGIN CERTIFICATE-----"
                    + nl
                    + nl.join(lines)
                    + nl
                    + b"-----END CERTIFICATE-----"
                )
                _agrees_pem(block)
                _agrees_pem(block.replace(b"=", b""))
                _agrees_pem(block.replace(nl + b"-----END", b"-----END"))
                cut = rng.randrange(27, len(block) - 25)
                _agrees_pem(block[:cut] + block[cut + 1 :])
                _agrees_pem(block[:cut] + bytes([rng.randrange(256)]) + block[cut + 1 :])
        # non-canonical trailing bits
        if body.endswith(b"=="):
            last = body[-3:-2]
            other = bytes([last[0] + 1]) if last not in (b"/", b"9", b"z", b"Z") else b"A"
            _agrees_pem(
                b"-----BEGIN CERTIFICATE-----\n"
                + body[:-3]
                + other
                + b"==\n-----END CERTIFICATE-----"
            )


# --------------------------------------------------------------------------- the callers


def _old_parse_pem(pem: bytes) -> secrets.CertInfo:
    """``secrets.parse_pem`` as it was before der.py: cryptography for every block."""
    certs: list[der.Fields] = []
    for block in secrets._PEM_BLOCK.finditer(pem):
        try:
            certs.append(_oracle(x509.load_pem_x509_certificate(block.group(0))))
        except ValueError:
            if not certs:
                return secrets.CertInfo()
            break
    return secrets._info(certs)


def test_parse_pem_unchanged(generated: list[bytes]) -> None:
    rng = random.Random(11)
    pems, _ = certificates_in(eh.FIXTURES)
    blocks = sorted(pems) + [
        x509.load_der_x509_certificate(d).public_bytes(serialization.Encoding.PEM)
        for d in generated
    ]
    for _ in range(300):
        bundle = b"\n".join(rng.choice(blocks) for _ in range(rng.randrange(1, 4)))
        if rng.random() < 0.3:
            at = rng.randrange(len(bundle))
            bundle = bundle[:at] + bytes([rng.randrange(256)]) + bundle[at + 1 :]
        assert secrets.parse_pem(bundle) == _old_parse_pem(bundle)


def test_parse_der_unchanged(generated: list[bytes]) -> None:
    rng = random.Random(12)
    for _ in range(300):
        ders = [rng.choice(generated) for _ in range(rng.randrange(0, 3))]
        if ders and rng.random() < 0.4:
            d = bytearray(ders[0])
            d[rng.randrange(len(d))] ^= 0xFF
            ders[0] = bytes(d)
        try:
            old: secrets.CertInfo | None = secrets._info(
                [_oracle(x509.load_der_x509_certificate(d)) for d in ders]
            )
        except ValueError:
            old = secrets.CertInfo()
        assert secrets.parse_der(ders) == old


def test_views_read_real_certificates_without_cryptography() -> None:
    """A real sidecar's certificates are read without importing cryptography (~60 ms)."""
    dump = eh.FIXTURES / "real/sidecar/config_dump.json"
    assert b"LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t" in dump.read_bytes()  # it has certificates
    for command in ("secrets", "all"):
        assert "HEAVY []" in eh.heavy_imports(command, str(dump))
