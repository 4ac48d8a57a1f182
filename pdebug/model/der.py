"""The few X.509 fields pdebug reads, from the certificates Istio and Envoy really carry.

Importing ``cryptography`` costs about 60 ms, a tenth of ``pdebug check`` on a large
dump, to read five fields of one or two certificates. This reader takes a PEM block or a
DER certificate and returns those fields (:class:`Fields`) when, and only when, the
certificate lies inside a narrow subset whose outcome in ``cryptography`` is known: strict
DER, version 1 or 3, a positive serial, one of the usual signature and key algorithms,
names of single string attributes of the usual kinds, UTCTime/GeneralizedTime validity,
and only the extensions Istio writes (basic constraints, key usage, extended key usage,
subject and authority key identifiers, subject alternative names of DNS, URI, e-mail
and IP entries), each encoded as DER wants it.

Anything else (a damaged or hostile certificate, an unusual but valid one) returns
``None``: the caller then asks ``cryptography``, so every such certificate keeps its
outcome, error or not. ``tests/test_der.py`` compares both on every certificate of the
fixtures and the corpus, on generated ones and on mutated DER.
"""

from __future__ import annotations

import binascii
import re
from datetime import UTC, datetime

__all__ = ["Fields", "from_der", "from_pem_block"]


class Fields:
    """What pdebug reads of a certificate.

    A plain class, not a dataclass: building a dataclass costs about a millisecond of
    every run's start-up, and this one is built on every run that reads a dump.
    """

    __slots__ = ("ca", "not_after", "not_before", "serial", "uris")

    def __init__(
        self,
        serial: int,
        not_before: datetime,
        not_after: datetime,
        ca: bool,
        uris: tuple[str, ...],
    ) -> None:
        self.serial = serial
        self.not_before = not_before
        self.not_after = not_after
        #: basicConstraints is present and says cA.
        self.ca = ca
        #: The subject alternative name's URIs, in order.
        self.uris = uris

    def _key(self) -> tuple[int, datetime, datetime, bool, tuple[str, ...]]:
        return (self.serial, self.not_before, self.not_after, self.ca, self.uris)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Fields):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return (
            f"Fields(serial={self.serial!r}, not_before={self.not_before!r}, "
            f"not_after={self.not_after!r}, ca={self.ca!r}, uris={self.uris!r})"
        )


class _Out(Exception):
    """Outside the known subset: let ``cryptography`` decide."""


# One PEM block as Istio, Envoy and openssl write it: base64 lines, all ending alike.
_PEM = re.compile(
    rb"-----BEGIN CERTIFICATE-----(\r?\n)((?:[A-Za-z0-9+/]+={0,2}\1)+)-----END CERTIFICATE-----"
)

# Whole AlgorithmIdentifier encodings (tag and length included).
_SIG_ALGS = frozenset(
    bytes.fromhex(h)
    for h in (
        # sha1/sha256/sha384/sha512 WithRSAEncryption, with NULL parameters
        "300d06092a864886f70d0101050500",
        "300d06092a864886f70d01010b0500",
        "300d06092a864886f70d01010c0500",
        "300d06092a864886f70d01010d0500",
        # ecdsa-with-SHA256/384/512, no parameters
        "300a06082a8648ce3d040302",
        "300a06082a8648ce3d040303",
        "300a06082a8648ce3d040304",
        # Ed25519
        "300506032b6570",
    )
)
_KEY_ALGS = frozenset(
    bytes.fromhex(h)
    for h in (
        "300d06092a864886f70d0101010500",  # rsaEncryption, NULL
        "301306072a8648ce3d020106082a8648ce3d030107",  # id-ecPublicKey, P-256
        "301006072a8648ce3d020106052b81040022",  # P-384
        "301006072a8648ce3d020106052b81040023",  # P-521
        "300506032b6570",  # Ed25519
    )
)
# Name attribute types besides 2.5.4.N (N < 128): emailAddress, domainComponent, userId.
_NAME_TYPES = frozenset(
    bytes.fromhex(h) for h in ("2a864886f70d010901", "0992268993f22c640119", "0992268993f22c640101")
)
# A name's string values, each checked as cryptography checks it when it reads the
# certificate: UTF8String (UTF-8), NumericString, PrintableString, IA5String (ASCII).
_PRINTABLE = frozenset(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 '()+,-./:=?"
)
_NUMERIC = frozenset(b"0123456789 ")
# Extended key usages: serverAuth, clientAuth, codeSigning, emailProtection,
# timeStamping, OCSPSigning.
_EKUS = frozenset(bytes.fromhex("2b0601050507030" + d) for d in "123489")

_BASIC_CONSTRAINTS = bytes.fromhex("551d13")
_KEY_USAGE = bytes.fromhex("551d0f")
_EXT_KEY_USAGE = bytes.fromhex("551d25")
_SUBJECT_KEY_ID = bytes.fromhex("551d0e")
_AUTHORITY_KEY_ID = bytes.fromhex("551d23")
_SUBJECT_ALT_NAME = bytes.fromhex("551d11")


def from_pem_block(block: bytes) -> Fields | None:
    """The fields of one ``-----BEGIN CERTIFICATE-----`` block; None: ask cryptography."""
    m = _PEM.fullmatch(block)
    if m is None:
        return None
    text = m.group(2).replace(m.group(1), b"")
    try:
        der = binascii.a2b_base64(text, strict_mode=True)
    except binascii.Error:
        return None
    if binascii.b2a_base64(der, newline=False) != text:  # not canonical base64
        return None
    return from_der(der)


def from_der(der: bytes) -> Fields | None:
    """The fields of a DER certificate; None: ask cryptography."""
    try:
        return _certificate(bytes(der))
    except _Out:
        return None


def _tlv(buf: bytes, pos: int, end: int) -> tuple[int, int, int]:
    """``(tag, start, stop)`` of the DER element at ``pos``, which must end by ``end``."""
    if pos + 2 > end:
        raise _Out
    tag = buf[pos]
    if tag & 0x1F == 0x1F:  # a high tag number
        raise _Out
    n = buf[pos + 1]
    pos += 2
    if n < 0x80:
        length = n
    elif n == 0x81:
        if pos + 1 > end:
            raise _Out
        length = buf[pos]
        if length < 0x80:
            raise _Out
        pos += 1
    elif n == 0x82:
        if pos + 2 > end:
            raise _Out
        length = buf[pos] << 8 | buf[pos + 1]
        if length < 0x100:
            raise _Out
        pos += 2
    elif n == 0x83:
        if pos + 3 > end:
            raise _Out
        length = buf[pos] << 16 | buf[pos + 1] << 8 | buf[pos + 2]
        if length < 0x10000:
            raise _Out
        pos += 3
    else:
        raise _Out
    stop = pos + length
    if stop > end:
        raise _Out
    return tag, pos, stop


def _expect(buf: bytes, pos: int, end: int, tag: int) -> tuple[int, int]:
    got, start, stop = _tlv(buf, pos, end)
    if got != tag:
        raise _Out
    return start, stop


def _certificate(buf: bytes) -> Fields:
    cs, ce = _expect(buf, 0, len(buf), 0x30)
    if ce != len(buf):
        raise _Out
    ts, te = _expect(buf, cs, ce, 0x30)
    # the outer signature algorithm and signature
    p = _alg(buf, te, ce, _SIG_ALGS)
    p = _bits(buf, p, ce)
    if p != ce:
        raise _Out
    # the TBSCertificate
    tag, a, b = _tlv(buf, ts, te)
    if tag == 0xA0:
        if buf[a:b] != b"\x02\x01\x02":  # only v3 is written explicitly; v2 is refused
            raise _Out
        tag, a, b = _tlv(buf, b, te)
    if tag != 0x02:
        raise _Out
    serial = _positive(buf[a:b])
    p = _alg(buf, b, te, _SIG_ALGS)
    p = _name(buf, p, te)
    vs, ve = _expect(buf, p, te, 0x30)
    p = ve
    not_before, q = _time(buf, vs, ve)
    not_after, q = _time(buf, q, ve)
    if q != ve:
        raise _Out
    p = _name(buf, p, te)
    ks, ke = _expect(buf, p, te, 0x30)
    p = ke
    q = _alg(buf, ks, ke, _KEY_ALGS)
    if _bits(buf, q, ke) != ke:
        raise _Out
    ca = False
    uris: tuple[str, ...] = ()
    if p < te:
        es, ee = _expect(buf, p, te, 0xA3)
        p = ee
        ca, uris = _extensions(buf, es, ee)
    if p != te:
        raise _Out
    return Fields(serial, not_before, not_after, ca, uris)


def _alg(buf: bytes, pos: int, end: int, known: frozenset[bytes]) -> int:
    _, _, stop = _tlv(buf, pos, end)
    if buf[pos:stop] not in known:
        raise _Out
    return stop


def _bits(buf: bytes, pos: int, end: int) -> int:
    """A BIT STRING without unused bits; returns its end."""
    start, stop = _expect(buf, pos, end, 0x03)
    if stop == start or buf[start] != 0:
        raise _Out
    return stop


def _positive(value: bytes) -> int:
    """A minimally encoded INTEGER above zero."""
    if not value or value[0] & 0x80:
        raise _Out
    if len(value) > 1 and value[0] == 0 and not value[1] & 0x80:
        raise _Out
    n = int.from_bytes(value, "big")
    if n == 0:
        raise _Out
    return n


def _name(buf: bytes, pos: int, end: int) -> int:
    """A Name of single-attribute RDNs of the usual types and values; returns its end."""
    start, stop = _expect(buf, pos, end, 0x30)
    p = start
    while p < stop:
        ss, se = _expect(buf, p, stop, 0x31)
        p = se
        avs, ave = _expect(buf, ss, se, 0x30)
        if ave != se:  # more than one attribute in the RDN
            raise _Out
        os_, oe = _expect(buf, avs, ave, 0x06)
        kind = buf[os_:oe]
        if not (len(kind) == 3 and kind[:2] == b"\x55\x04" and kind[2] < 0x80) and (
            kind not in _NAME_TYPES
        ):
            raise _Out
        tag, vs, ve = _tlv(buf, oe, ave)
        if ve != ave:
            raise _Out
        _string(tag, buf[vs:ve])
    return stop


def _string(tag: int, value: bytes) -> None:
    if tag == 0x0C:
        try:
            value.decode("utf-8")
        except UnicodeDecodeError:
            raise _Out from None
    elif tag == 0x13:
        if not _PRINTABLE.issuperset(value):
            raise _Out
    elif tag == 0x16:
        if not value.isascii():
            raise _Out
    elif tag != 0x12 or not _NUMERIC.issuperset(value):
        raise _Out


def _time(buf: bytes, pos: int, end: int) -> tuple[datetime, int]:
    tag, start, stop = _tlv(buf, pos, end)
    text = buf[start:stop]
    if tag == 0x17 and len(text) == 13:
        digits = text[:12]
        year = int(digits[:2]) if digits.isdigit() else -1
        year += 1900 if year >= 50 else 2000
    elif tag == 0x18 and len(text) == 15:
        digits = text[2:14]
        year = int(text[:4]) if text[:14].isdigit() else -1
    else:
        raise _Out
    if text[-1:] != b"Z" or not digits.isdigit() or year < 1:
        raise _Out
    try:
        when = datetime(
            year,
            int(digits[2:4]),
            int(digits[4:6]),
            int(digits[6:8]),
            int(digits[8:10]),
            int(digits[10:12]),
            tzinfo=UTC,
        )
    except ValueError:
        raise _Out from None
    return when, stop


def _extensions(buf: bytes, pos: int, end: int) -> tuple[bool, tuple[str, ...]]:
    start, stop = _expect(buf, pos, end, 0x30)
    if stop != end or start == stop:
        raise _Out
    seen: set[bytes] = set()
    ca = False
    uris: tuple[str, ...] = ()
    p = start
    while p < stop:
        xs, xe = _expect(buf, p, stop, 0x30)
        p = xe
        os_, oe = _expect(buf, xs, xe, 0x06)
        oid = buf[os_:oe]
        if oid in seen:
            raise _Out
        seen.add(oid)
        tag, a, b = _tlv(buf, oe, xe)
        if tag == 0x01:  # critical: only TRUE is written (FALSE is the default)
            if buf[a:b] != b"\xff":
                raise _Out
            tag, a, b = _tlv(buf, b, xe)
        if tag != 0x04 or b != xe:
            raise _Out
        if oid == _BASIC_CONSTRAINTS:
            ca = _basic_constraints(buf, a, b)
        elif oid == _SUBJECT_ALT_NAME:
            uris = _alt_names(buf, a, b)
        elif oid == _KEY_USAGE:
            _key_usage(buf, a, b)
        elif oid == _EXT_KEY_USAGE:
            _ext_key_usage(buf, a, b)
        elif oid == _SUBJECT_KEY_ID:
            if _expect(buf, a, b, 0x04)[1] != b:
                raise _Out
        elif oid == _AUTHORITY_KEY_ID:
            s, e = _expect(buf, a, b, 0x30)
            if e != b or _expect(buf, s, e, 0x80)[1] != e:  # a key identifier alone
                raise _Out
        else:
            raise _Out
    return ca, uris


def _basic_constraints(buf: bytes, pos: int, end: int) -> bool:
    start, stop = _expect(buf, pos, end, 0x30)
    if stop != end:
        raise _Out
    if start == stop:
        return False
    a, b = _expect(buf, start, stop, 0x01)
    if buf[a:b] != b"\xff":
        raise _Out
    if b < stop:  # pathLenConstraint: a small non-negative INTEGER
        s, e = _expect(buf, b, stop, 0x02)
        value = buf[s:e]
        if e != stop or not 1 <= len(value) <= 8 or value[0] & 0x80:
            raise _Out
        if len(value) > 1 and value[0] == 0 and not value[1] & 0x80:
            raise _Out
    return True


def _key_usage(buf: bytes, pos: int, end: int) -> None:
    start, stop = _expect(buf, pos, end, 0x03)
    if stop != end or stop - start != 2:
        raise _Out
    unused, bits = buf[start], buf[start + 1]
    # encipherOnly (bit 7) needs keyAgreement: cryptography refuses it alone; leave it to it
    if unused > 7 or bits & ((1 << unused) - 1) or bits & 0x01 or not bits:
        raise _Out


def _ext_key_usage(buf: bytes, pos: int, end: int) -> None:
    start, stop = _expect(buf, pos, end, 0x30)
    if stop != end or start == stop:
        raise _Out
    p = start
    while p < stop:
        s, e = _expect(buf, p, stop, 0x06)
        if buf[s:e] not in _EKUS:
            raise _Out
        p = e


def _alt_names(buf: bytes, pos: int, end: int) -> tuple[str, ...]:
    start, stop = _expect(buf, pos, end, 0x30)
    if stop != end or start == stop:
        raise _Out
    uris: list[str] = []
    p = start
    while p < stop:
        tag, s, e = _tlv(buf, p, stop)
        p = e
        if tag in (0x81, 0x82, 0x86):  # rfc822Name, dNSName, URI: UTF-8 text
            try:
                text = buf[s:e].decode("utf-8")
            except UnicodeDecodeError:
                raise _Out from None
            if tag == 0x86:
                uris.append(text)
        elif tag != 0x87 or e - s not in (4, 16):  # iPAddress
            raise _Out
    return tuple(uris)
