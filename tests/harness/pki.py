"""The test PKI: every certificate and key the tests make comes from here.

* :func:`make_test_pki`: a throwaway CA and a SPIFFE workload certificate, written as Istio
  mounts them (``root-cert.pem``, ``cert-chain.pem``, ``key.pem``); the sidecar's SDS secrets;
* :func:`make_server_pki`: a CA and a server certificate for ``127.0.0.1``/``localhost``
  (the Kubernetes API server double's HTTPS);
* :func:`make_ca`: one self-signed CA certificate with a chosen validity (trust bundles);
* :func:`make_self_signed`: a self-signed certificate with one extension no CA would
  issue (a SubjectAlternativeName that does not parse, odd SPIFFE URIs).

All keys are ECDSA P-256 and all signatures SHA-256; validity starts in the past so that
clock skew never makes a fresh certificate "not yet valid".
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePrivateKey

__all__ = [
    "SPIFFE_ID",
    "ServerPki",
    "TestPki",
    "make_ca",
    "make_self_signed",
    "make_server_pki",
    "make_test_pki",
]

SPIFFE_ID = "spiffe://cluster.local/ns/default/sa/productpage"


# --------------------------------------------------------------------------- building blocks


def _new_key() -> EllipticCurvePrivateKey:
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1())


def _name(common_name: str, organization: str | None = None) -> x509.Name:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization)] if organization else []
    return x509.Name([*attrs, x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _key_usage(*, cert_sign: bool, key_encipherment: bool) -> x509.KeyUsage:
    from cryptography import x509

    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=key_encipherment,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _issue_ca(
    name: x509.Name, not_before: dt.datetime, not_after: dt.datetime, *, usages: bool = True
) -> tuple[EllipticCurvePrivateKey, x509.Certificate]:
    """A self-signed CA; ``usages`` adds KeyUsage (cert and CRL signing) and a key identifier."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    key = _new_key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    )
    if usages:
        builder = builder.add_extension(
            _key_usage(cert_sign=True, key_encipherment=False), critical=True
        ).add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
    return key, builder.sign(key, hashes.SHA256())


def _issue_leaf(
    ca: tuple[EllipticCurvePrivateKey, x509.Certificate],
    subject: x509.Name,
    not_before: dt.datetime,
    not_after: dt.datetime,
    *,
    sans: list[x509.GeneralName],
    san_critical: bool,
    client_auth: bool,
) -> tuple[EllipticCurvePrivateKey, x509.Certificate]:
    """A leaf signed by ``ca``: SANs, server (and with ``client_auth`` client) auth."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import ExtendedKeyUsageOID

    ca_key, ca_cert = ca
    key = _new_key()
    eku = [ExtendedKeyUsageOID.SERVER_AUTH]
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    )
    if client_auth:  # a workload certificate: mTLS both ways
        eku.append(ExtendedKeyUsageOID.CLIENT_AUTH)
        builder = builder.add_extension(
            _key_usage(cert_sign=False, key_encipherment=True), critical=True
        )
    builder = (
        builder.add_extension(x509.ExtendedKeyUsage(eku), critical=False)
        .add_extension(x509.SubjectAlternativeName(sans), critical=san_critical)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
    )
    return key, builder.sign(ca_key, hashes.SHA256())


def _cert_pem(cert: x509.Certificate) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: EllipticCurvePrivateKey) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


# --------------------------------------------------------------------------- what tests use


@dataclass(frozen=True)
class TestPki:
    """A throwaway CA and one SPIFFE workload certificate, as PEM.

    Attributes:
        ca_pem: The self-signed root CA certificate.
        cert_pem: The workload (leaf) certificate, signed by the CA.
        key_pem: The leaf's private key (PKCS#8, unencrypted).
        directory: Where ``root-cert.pem``, ``cert-chain.pem`` and ``key.pem`` were written.
    """

    __test__ = False  # not a pytest test class

    ca_pem: bytes
    cert_pem: bytes
    key_pem: bytes
    directory: Path

    @property
    def ca_path(self) -> Path:
        """The CA certificate file."""
        return self.directory / "root-cert.pem"

    @property
    def cert_path(self) -> Path:
        """The leaf certificate file."""
        return self.directory / "cert-chain.pem"

    @property
    def key_path(self) -> Path:
        """The leaf private key file."""
        return self.directory / "key.pem"


def make_test_pki(
    directory: str | os.PathLike[str],
    *,
    spiffe_id: str = SPIFFE_ID,
    valid_days: int = 3650,
    leaf_not_after: dt.datetime | None = None,
    leaf_not_before: dt.datetime | None = None,
    dns_names: tuple[str, ...] = (),
) -> TestPki:
    """Generate a throwaway ECDSA P-256 CA and a leaf certificate with a SPIFFE URI SAN.

    Args:
        directory: Where to write ``root-cert.pem``, ``cert-chain.pem`` and ``key.pem``.
        spiffe_id: The leaf's URI SAN.
        valid_days: Validity of both certificates, starting one hour ago.
        leaf_not_after: End the leaf's validity then instead (in the past for an
            expired certificate, soon for one about to expire); the leaf then starts
            one day before it (or one hour ago, whichever is earlier). The CA keeps
            ``valid_days``.
        leaf_not_before: Start the leaf's validity then instead (with
            ``leaf_not_after``: a certificate past half its lifetime, whose rotation
            was missed, starts long before it ends).
        dns_names: DNS SANs the leaf holds besides its URI SAN.

    Returns:
        The PEM bytes and their directory.
    """
    from cryptography import x509

    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    not_before = now - dt.timedelta(hours=1)
    not_after = now + dt.timedelta(days=valid_days)
    leaf_start, leaf_until = not_before, not_after
    if leaf_not_after is not None:
        leaf_until = leaf_not_after.astimezone(dt.UTC).replace(microsecond=0)
        leaf_start = min(not_before, leaf_until - dt.timedelta(days=1))
    if leaf_not_before is not None:
        leaf_start = leaf_not_before.astimezone(dt.UTC).replace(microsecond=0)

    ca = _issue_ca(_name("pdebug test root CA", "cluster.local"), not_before, not_after)
    leaf_key, leaf_cert = _issue_leaf(
        ca,
        x509.Name([]),
        leaf_start,
        leaf_until,
        sans=[x509.UniformResourceIdentifier(spiffe_id), *map(x509.DNSName, dns_names)],
        san_critical=True,  # an empty subject: the SAN carries the identity
        client_auth=True,
    )
    pki = TestPki(
        ca_pem=_cert_pem(ca[1]),
        cert_pem=_cert_pem(leaf_cert),
        key_pem=_key_pem(leaf_key),
        directory=Path(directory),
    )
    pki.directory.mkdir(parents=True, exist_ok=True)
    pki.ca_path.write_bytes(pki.ca_pem)
    pki.cert_path.write_bytes(pki.cert_pem)
    pki.key_path.write_bytes(pki.key_pem)
    pki.key_path.chmod(0o600)
    return pki


@dataclass(frozen=True)
class ServerPki:
    """A CA and one server certificate with its key, as PEM (kept in memory)."""

    ca_pem: bytes
    cert_pem: bytes
    key_pem: bytes


def make_server_pki(
    common_name: str = "kube-apiserver", ca_name: str = "kube-double-ca"
) -> ServerPki:
    """A throwaway CA and a server certificate for 127.0.0.1 / localhost, valid for a day."""
    from cryptography import x509

    now = dt.datetime.now(dt.UTC)
    not_before, not_after = now - dt.timedelta(hours=1), now + dt.timedelta(days=1)
    ca = _issue_ca(_name(ca_name), not_before, not_after)
    key, cert = _issue_leaf(
        ca,
        _name(common_name),
        not_before,
        not_after,
        sans=[x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")],
        san_critical=False,
        client_auth=False,
    )
    return ServerPki(_cert_pem(ca[1]), _cert_pem(cert), _key_pem(key))


def make_ca(common_name: str, not_before: dt.datetime, not_after: dt.datetime) -> bytes:
    """A self-signed CA certificate (PEM) valid from ``not_before`` to ``not_after``.

    Only BasicConstraints (a bare trust anchor, as a trust bundle may hold).
    """
    return _cert_pem(_issue_ca(_name(common_name), not_before, not_after, usages=False)[1])


def make_self_signed(
    common_name: str,
    not_before: dt.datetime,
    not_after: dt.datetime,
    extension: x509.ExtensionType,
    serial: int,
) -> bytes:
    """A self-signed certificate (PEM) with one non-critical ``extension`` and no other."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    key = _new_key()
    name = _name(common_name)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(extension, critical=False)
        .sign(key, hashes.SHA256())
    )
    return _cert_pem(cert)
