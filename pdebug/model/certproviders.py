"""Facts: TLS contexts whose certificates come from a certificate provider instance.

Envoy's ``CommonTlsContext`` may name a provider plugin instance instead of holding a
certificate or naming an SDS secret (``tls_certificate_provider_instance``, a validation
context's ``ca_certificate_provider_instance``; Istio writes them for proxyless gRPC). The
certificate is not in the dump: ``views/secrets.py`` names where it comes from.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import msgspec

from pdebug.model import ProxyData
from pdebug.model import schema as s
from pdebug.model.dump import ConfigDump
from pdebug.model.secrets import (
    CertInfo,
    SecretItem,
    _warner,
    section_texts,
    tls_contexts,
    tls_places,
)

#: What marks a TLS context that may name a certificate provider instance (either spelling).
PROVIDER = b"rovider"


class ProviderRef(msgspec.Struct, frozen=True):
    """A TLS context's certificate from a certificate provider instance (not in the dump)."""

    ca: bool  # the validation context's CA, else the context's own certificate
    instance: str
    certificate: str

    @property
    def name(self) -> str:
        """``instance/certificate`` (``default/ROOTCA``), or the instance alone."""
        return f"{self.instance}/{self.certificate}" if self.certificate else self.instance


def _provider(p: s.CertificateProviderPluginInstance | None, ca: bool) -> list[ProviderRef]:
    return [] if p is None else [ProviderRef(ca, p.instance_name, p.certificate_name)]


def provider_refs(
    places: list[tuple[str, s.TypedExtension | None]], warn: Callable[[str], None]
) -> list[tuple[ProviderRef, list[str]]]:
    """The certificate provider instances the TLS sockets of ``places`` take from.

    Each once, with every resource (listener/NAME, cluster/NAME) that does, in the order
    first met. A socket that does not name one is not decoded.
    """
    held: dict[ProviderRef, list[str]] = {}
    for resource, common in tls_contexts(places, PROVIDER, warn, "certificate providers not shown"):
        refs = _provider(common.tls_certificate_provider_instance, False)
        refs += _provider(common.tls_certificate_certificate_provider_instance, False)
        vc = common.validation_context
        combined = common.combined_validation_context
        if combined is not None:
            vc = combined.default_validation_context or vc
            refs += _provider(combined.validation_context_certificate_provider_instance, True)
        if vc is not None:
            refs += _provider(vc.ca_certificate_provider_instance, True)
        for ref in refs:
            where = held.setdefault(ref, [])
            if resource not in where:
                where.append(resource)
    return list(held.items())


#: What a certificate provider instance looks like in a section's bytes (either spelling).
_PROVIDER_MARKS = (b"provider_instance", b"ProviderInstance")
#: Where one of :data:`_PROVIDER_MARKS` may start: their common middle, found by the
#: regex engine's literal scan straight in the section's buffer (no copy), each hit then
#: checked for a whole mark (2.5x faster than ``in`` on 8 MB copies: 0.04 s for the
#: 76 MB clusters section of the 5k-service bench dump, was 0.10 s).
_PROVIDER_NEAR = re.compile(rb"rovider(?:_i|I)nstance")


def _mentions(dump: ConfigDump, kind: str) -> bool:
    """Whether section ``kind``'s bytes hold one of :data:`_PROVIDER_MARKS` (no decode)."""
    sec = dump.section(kind)
    if sec is None:
        return False
    for text in section_texts(sec):
        view = memoryview(text)
        for hit in _PROVIDER_NEAR.finditer(view):
            at = hit.start()
            if at and bytes(view[at - 1 : hit.end()]) in _PROVIDER_MARKS:
                return True
    return False


def provider_items(data: ProxyData) -> list[SecretItem]:
    """Certificates listeners and clusters take from a certificate provider instance.

    One row per (instance, certificate name, CA or not), STATUS ``PROVIDER``, named
    ``INSTANCE/CERTIFICATE`` and by the first listener or cluster that uses it
    (``(+N more)``). The certificate itself is not in the dump: its cells stay empty,
    and ``pdebug check`` has nothing to judge. Only sections whose bytes name a provider
    instance are decoded.
    """
    dump = data.need_dump("the secrets view")
    places = tls_places(
        dump,
        _mentions(dump, "listeners"),
        _mentions(dump, "clusters"),
        PROVIDER,
    )
    out: list[SecretItem] = []
    for ref, where in provider_refs(places, _warner(dump)):
        held = where[0] + (f" +{len(where) - 1} more" if len(where) > 1 else "")
        cert = CertInfo(type="CA" if ref.ca else "Cert Chain")
        out.append(SecretItem(f"{ref.name} ({held})", "PROVIDER", cert, "", "", ""))
    return out
