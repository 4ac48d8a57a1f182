"""``pdebug rootca-compare A B``: do two proxies trust the same root CAs?

istioctl's ``proxy-config rootca-compare``: each proxy's active ``ROOTCA`` secret holds the
root certificates it trusts (its ``trusted_ca``, or the trust bundles of a SPIFFE
validator). The two proxies can theoretically talk mTLS when the bundles share a
certificate (istioctl's rule: any one equal certificate is enough). Certificates are
compared by their DER bytes (SHA-256), so PEM whitespace or order never matters.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from pdebug.errors import InvalidInput
from pdebug.model import ProxyData
from pdebug.views.result import ViewResult
from pdebug.views.table import Column, Lines, Stack, Table

ROOTCA = "ROOTCA"


@dataclass(frozen=True, slots=True)
class Root:
    """One trusted root certificate."""

    sha256: str
    subject: str
    not_after: str


@dataclass
class RootCompare:
    """Both proxies' roots and what they share."""

    a: str
    b: str
    roots_a: dict[str, Root] = field(default_factory=dict)
    roots_b: dict[str, Root] = field(default_factory=dict)

    @property
    def shared(self) -> list[str]:
        """Fingerprints trusted by both."""
        return [k for k in self.roots_a if k in self.roots_b]

    @property
    def identical(self) -> bool:
        """Istioctl's verdict: at least one root certificate in common."""
        return bool(self.shared)


def _pems(data: ProxyData, label: str) -> list[bytes]:
    from pdebug.model.secrets import _data, spiffe_validator, trusted_ca

    dump = data.need_dump("rootca-compare")
    sec = dump.require("secrets")
    for entry in dump.secret_entries("dynamic_active_secrets").items:
        secret = entry.secret
        name = entry.name or (secret.name if secret is not None else "")
        if name != ROOTCA or secret is None or secret.validation_context is None:
            continue
        vc = secret.validation_context
        if trusted_ca(vc):
            return [trusted_ca(vc)]
        spiffe = spiffe_validator(vc, sec.camel)
        if spiffe is not None:
            return [_data(td.trust_bundle) for td in spiffe.trust_domains]
    raise InvalidInput(
        f"{label}: no active {ROOTCA} secret with root certificates",
        hint="pdebug secrets SOURCE lists the proxy's secrets (is it an Istio sidecar?)",
    )


def roots(data: ProxyData, label: str) -> dict[str, Root]:
    """The proxy's trusted roots by SHA-256 of their DER bytes, in bundle order."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    out: dict[str, Root] = {}
    for pem in _pems(data, label):
        try:
            certs = x509.load_pem_x509_certificates(pem) if pem.strip() else []
        except ValueError:
            certs = []
        for cert in certs:
            digest = hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest()
            out.setdefault(
                digest,
                Root(
                    digest,
                    cert.subject.rfc4514_string(),
                    cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
                ),
            )
    if not out:
        raise InvalidInput(
            f"{label}: the {ROOTCA} secret holds no readable certificate",
            hint="pdebug secrets SOURCE -o yaml shows it",
        )
    return out


def compare(a: ProxyData, b: ProxyData, label_a: str, label_b: str) -> RootCompare:
    """Compare the ROOTCA bundles of two proxies."""
    return RootCompare(label_a, label_b, roots(a, label_a), roots(b, label_b))


def sentence(result: RootCompare) -> str:
    """Istioctl's verdict sentence."""
    if result.identical:
        return (
            f"Both [{result.a}] and [{result.b}] have the identical ROOTCA, theoretically the "
            "connectivity between them is available"
        )
    return (
        f"Both [{result.a}] and [{result.b}] have non identical ROOTCA, theoretically the "
        "connectivity between them is unavailable"
    )


_COLUMNS = (Column("ROOT CA"), Column("TRUSTED BY"), Column("NOT AFTER"), Column("SHA-256"))


def view(result: RootCompare, wide: bool) -> ViewResult:
    """The sentence; wide adds one row per root certificate (who trusts it)."""
    text = sentence(result)
    if not wide:
        return ViewResult(Lines(text), lambda: _objects(result))
    table = Table(_COLUMNS)
    for digest, root in {**result.roots_a, **result.roots_b}.items():
        if digest in result.roots_a and digest in result.roots_b:
            who = "both"
        else:
            who = "A only" if digest in result.roots_a else "B only"
        table.rows.append((root.subject, who, root.not_after, digest[:16]))
    return ViewResult(Stack([("", Lines(text)), ("", table)]), lambda: _objects(result))


def _objects(result: RootCompare) -> dict[str, Any]:
    def listing(found: dict[str, Root]) -> list[dict[str, str]]:
        return [
            {"subject": r.subject, "not_after": r.not_after, "sha256": r.sha256}
            for r in found.values()
        ]

    return {
        "a": result.a,
        "b": result.b,
        "identical": result.identical,
        "shared": result.shared,
        "roots_a": listing(result.roots_a),
        "roots_b": listing(result.roots_b),
    }


__all__ = ["RootCompare", "compare", "roots", "sentence", "view"]
